"""Which observation spaces are images, and how to turn a batch of them into ``(B, C, H, W)`` floats.

One place decides this for both networks that read pixels: the reward CNN (``prefrl.reward.cnn``) and the
policy's features extractor (``prefrl.policies``), so the two never disagree about a layout. An image is a
3-D ``Box`` of ``uint8`` (Atari frames, 0–255) or ``bool`` (MinAtar's 10×10 grids of object channels);
channels may come first (SB3's ``VecTransposeImage``, gymnasium's frame stack) or last (the raw env).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from gymnasium import spaces

_PIXEL_DTYPES = (np.uint8, np.bool_)


@dataclass(frozen=True)
class ImageLayout:
    """Where the channels of an image observation are, its size, and the factor that maps pixels to [0, 1].

    :param channels_first: ``(C, H, W)`` when true, ``(H, W, C)`` otherwise.
    :param channels: ``C`` (stacked frames times colour channels, or MinAtar's object channels).
    :param height: ``H``.
    :param width: ``W``.
    :param scale: ``1 / high``: 1/255 for ``uint8`` frames, 1 for ``bool`` grids.
    """

    channels_first: bool
    channels: int
    height: int
    width: int
    scale: float

    def to_chw(self, images: torch.Tensor) -> torch.Tensor:
        """A batch ``(B, *obs_shape)`` of raw pixels as floats in [0, 1], channels first: ``(B, C, H, W)``."""
        scaled = images.float() * self.scale
        return scaled if self.channels_first else scaled.permute(0, 3, 1, 2)


def image_layout(space: spaces.Space) -> ImageLayout | None:
    """The layout of an image observation space, or ``None`` for anything else (read as flat features).

    The channel axis is the smallest of the first and last axes, as SB3's ``is_image_space_channels_first``
    decides it; a tie (e.g. ``(4, 10, 4)``) counts as channels last, the layout envs produce themselves.
    """
    if not (isinstance(space, spaces.Box) and len(space.shape) == 3 and space.dtype in _PIXEL_DTYPES):
        return None
    first, height, last = space.shape
    high = float(np.max(space.high))
    scale = 1.0 / high if high > 0 else 1.0
    if first < last:
        return ImageLayout(True, int(first), int(height), int(last), scale)
    return ImageLayout(False, int(last), int(first), int(height), scale)
