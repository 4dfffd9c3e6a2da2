"""The reward net over many recent steps, a slice at a time, so a conv ensemble's memory stays bounded.

Query selection scores every candidate clip and output normalization every recent clip, each in one call. On
MinAtar or classic control that is cheap; on Atari it is not: a conv ensemble of 3 members keeps ~0.4 MB of
activations per 84×84×4 frame (48 maps of 26×26 after the first layer, then batch norm and the activation),
so the 1000 clips of a full segment buffer (25,000 frames) would need ~10 GB at once. Frames are also passed
as they are (``uint8``), not as float32 copies four times their size: the net scales them itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

if TYPE_CHECKING:
    from prefrl.reward.nets import RewardEnsemble

SLICE_ROWS = 800
"""Steps scored at once: 32 Atari clips of 25 steps, ~300 MB of conv activations for a 3-member ensemble."""


@torch.no_grad()
def member_rewards(model: "RewardEnsemble", obs: np.ndarray, actions: np.ndarray, rows: int = SLICE_ROWS) -> torch.Tensor:
    """``model(obs, actions)``, raw per-member rewards ``(N, *lead)`` on the CPU for arrays of leading shape
    ``lead``, computed on the model's inference device on slices of the first axis holding about ``rows`` steps
    each (at least one entry of that axis)."""
    obs_dims = len(model.input_space.shape or ())
    lead = obs.shape[: obs.ndim - obs_dims]
    per_slice = max(1, rows // max(1, int(np.prod(lead[1:]))))
    parts = [
        model.inference_rewards(obs[lo : lo + per_slice], actions[lo : lo + per_slice])
        for lo in range(0, len(obs), per_slice)
    ]
    return torch.cat(parts, dim=1)  # (N, *lead)
