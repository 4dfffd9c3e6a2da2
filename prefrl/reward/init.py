"""Initial weights of the reward nets, drawn from the run's generator so that a seed fixes the whole run."""

from __future__ import annotations

import math

import torch


def fan_in_uniform(shape: tuple[int, ...] | torch.Size, fan_in: int, generator: torch.Generator | None) -> torch.Tensor:
    """torch's default init of ``nn.Linear`` and ``nn.Conv2d`` (uniform within ±1/sqrt(fan_in)) for a tensor of
    ``shape``; each member's slice of a stacked ensemble is drawn on its own, so members start apart."""
    bound = 1.0 / math.sqrt(fan_in)
    return torch.empty(shape).uniform_(-bound, bound, generator=generator)
