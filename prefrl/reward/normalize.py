"""Normalization of the reward net's inputs and outputs.

Christiano et al. 2017 (§2.2.1) normalize r̂ to zero mean and a fixed standard deviation, so that PPO sees
rewards of one scale however the Bradley–Terry fit happened to stretch them (the loss only fixes differences
of returns, not their offset or a common scale of all rewards).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from prefrl.reward.slices import member_rewards

if TYPE_CHECKING:
    from prefrl.reward.nets import RewardEnsemble

MIN_STD = 1e-6  # a constant feature or a constant reward must not divide by zero


def standardization(values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-column ``(mean, std)`` of ``values`` ``(B, D)``; a constant column keeps std 1 (it carries no scale)."""
    if values.shape[-1] == 0:  # nothing to standardize (a conv trunk reads the frames and r̂ reads no action)
        return values.new_zeros(0), values.new_ones(0)
    mean = values.mean(0)
    std = values.std(0, unbiased=False)
    std = torch.where(std < MIN_STD, torch.ones_like(std), std)
    return mean, std


def zero_mean_unit_std(rewards: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(shift, scale)`` so that ``(rewards - shift) / scale`` has mean 0 and std 1 over the given rewards."""
    shift = rewards.mean()
    scale = rewards.std(unbiased=False).clamp_min(MIN_STD)
    return shift, scale


def renormalize_output(model: "RewardEnsemble", obs: np.ndarray, actions: np.ndarray) -> None:
    """Set the ensemble's output shift and scale from the rewards it gives recent steps ``(*lead, ...)``."""
    with torch.no_grad():
        model.reward_shift.zero_()
        model.reward_scale.fill_(1.0)
        rewards = model.normalized(member_rewards(model, obs, actions))
        shift, scale = zero_mean_unit_std(rewards)
        model.reward_shift.copy_(shift)
        model.reward_scale.copy_(scale)
