"""The reward net's trunk for what a step changed on a grid, o' − o: local events, summed over positions.

``RewardConfig.next_obs = "events"`` (``prefrl.reward.transitions``).

A game pays for events (a brick breaks, an alien is hit), and an event pays the same wherever on the screen it
happens. This trunk reads the change image through two convolutions without biases (a full 3×3, then 1×1 per
member) and sums their maps over all positions, so that

- a pixel that did not change adds exactly nothing (no bias, leaky ReLU of 0 is 0): the trunk cannot pay for
  where the player stands or the ball flies, only for what happened;
- an event is recognized by its neighbourhood alone, the same at every position, and two events add up.

A flat readout of the same change (an MLP over all pixels) learns a weight per position instead, and pays for the
positions the labelled clips happened to visit: fit on the same 1000 noise-free labels, its per-step correlation
with the true reward was 0.32 on MinAtar SpaceInvaders and 0.71 on Breakout, this trunk's 0.88 and 0.85; on
Breakout, a run's flat readout paid PPO's better policies 60-110 less than the run's own over 3000 steps, an
events run's r̂ within 17 of it either way (README, "Rewards at transitions").

All members run as one op as in ``prefrl.reward.cnn``: the first convolution has ``N × filters`` outputs, the
second is one batched product per member. There is no batch norm, whose shift would make unchanged pixels count,
and no dropout. Per-step inference runs in NumPy (:meth:`EventTrunk.numpy_copy`), as the conv trunk's does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from prefrl.images import ImageLayout
from prefrl.reward.cnn import LEAKY_SLOPE, ConvLayer, numpy_chw, window_indices
from prefrl.reward.init import fan_in_uniform

EVENT_FILTERS = 16
EVENT_KERNEL = 3


class EventTrunk(nn.Module):
    """Summed local features of every member for a batch of change images: ``(B, *shape)`` -> ``(N, B, filters)``.

    Computed on the windows that hold a change only: the others add exactly nothing, and on MinAtar a step changes
    a handful of pixels, so most of the grid's windows are empty (same result as the dense convolutions; forward
    and backward over 800 frames of 10×10×4 with 6 changed pixels each, one thread: 39 ms against 79).

    :param layout: the change image's layout (the observation's: channels where they were, its pixel scale).
    :param ensemble_size: number of members ``N``.
    :param generator: source of the initial weights, drawn independently for each member.
    """

    def __init__(
        self,
        layout: ImageLayout,
        ensemble_size: int,
        generator: torch.Generator | None = None,
        filters: int = EVENT_FILTERS,
        kernel: int = EVENT_KERNEL,
    ) -> None:
        super().__init__()
        self.layout = layout
        self.ensemble_size = int(ensemble_size)
        self.kernel = int(kernel)
        # A full convolution: every window that holds a pixel is there, at the border too, so an event is read
        # by the same kernel × kernel windows wherever it happens (a 'same' padding would read one in a corner
        # through 4 windows and one in the middle through 9).
        self.padding = self.kernel - 1
        window = layout.channels * self.kernel**2
        self.local_weight = nn.Parameter(fan_in_uniform((window, self.ensemble_size * filters), window, generator))
        self.mix_weight = nn.Parameter(fan_in_uniform((self.ensemble_size, filters, filters), filters, generator))
        self.out_features = int(filters)
        windows = (layout.height + self.padding) * (layout.width + self.padding)
        self.multiply_adds = self.ensemble_size * filters * windows * (window + filters)  # per frame, all dense

    def forward(self, changes: torch.Tensor) -> torch.Tensor:
        batch = changes.shape[0]
        maps = self.layout.to_chw(changes)  # (B, C, H, W)
        windows = nn.functional.unfold(maps, self.kernel, padding=self.padding).transpose(1, 2)  # (B, L, C*k*k)
        frame, position = torch.nonzero(windows.abs().sum(-1), as_tuple=True)  # the K windows that hold a change
        local = nn.functional.leaky_relu(windows[frame, position] @ self.local_weight, LEAKY_SLOPE)  # (K, N*F)
        per_member = local.reshape(len(frame), self.ensemble_size, self.out_features).transpose(0, 1)  # (N, K, F)
        mixed = nn.functional.leaky_relu(torch.bmm(per_member, self.mix_weight), LEAKY_SLOPE)  # (N, K, F)
        summed = torch.zeros((self.ensemble_size, batch, self.out_features), dtype=mixed.dtype, device=mixed.device)
        return summed.index_add(1, frame, mixed)  # (N, B, F)

    @torch.no_grad()
    def numpy_copy(self) -> "NumpyEventTrunk":
        """The trunk as NumPy arrays (a snapshot: take a new one after the weights change)."""
        layout, pad = self.layout, self.padding
        windows = window_indices(layout.channels, layout.height + 2 * pad, layout.width + 2 * pad, 1, ConvLayer(self.kernel, 1))
        return NumpyEventTrunk(
            layout, pad, windows[0], self.local_weight.detach().numpy().copy(), self.mix_weight.detach().numpy().copy()
        )


@dataclass(frozen=True)
class NumpyEventTrunk:
    """:class:`EventTrunk` in NumPy, for per-step inference: ``(B, *shape)`` -> ``(N, B, filters)``.

    :param windows: where each window of the padded ``(C, H + 2p, W + 2p)`` map reads it, ``(L, C*k*k)``.
    :param local_weight: ``(C*k*k, N*F)``.
    :param mix_weight: ``(N, F, F)``.
    """

    layout: ImageLayout
    padding: int
    windows: np.ndarray
    local_weight: np.ndarray
    mix_weight: np.ndarray

    def __call__(self, changes: np.ndarray) -> np.ndarray:
        pad, batch = self.padding, changes.shape[0]
        maps = np.pad(numpy_chw(self.layout, changes), ((0, 0), (0, 0), (pad, pad), (pad, pad)))
        windows = maps.reshape(batch, -1).take(self.windows, axis=1)  # (B, L, C*k*k)
        frame, position = np.nonzero(np.abs(windows).sum(-1))
        local = windows[frame, position] @ self.local_weight  # (K, N*F)
        local = np.maximum(local, LEAKY_SLOPE * local)
        members, filters = self.mix_weight.shape[:2]
        mixed = local.reshape(len(frame), members, filters).transpose(1, 0, 2) @ self.mix_weight  # (N, K, F)
        mixed = np.maximum(mixed, LEAKY_SLOPE * mixed)
        in_frame = (frame == np.arange(batch)[:, None]).astype(np.float32)  # (B, K): which frame a window is of
        return in_frame @ mixed  # (N, B, F)
