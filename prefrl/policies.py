"""The policy network PPO gets for an observation space: an MLP, SB3's Atari CNN, or a small CNN for grids.

SB3's ``NatureCNN`` (Mnih et al. 2015: 8×8 stride 4, 4×4 stride 2, 3×3) needs at least 36×36 pixels and
``uint8`` frames; MinAtar's 10×10 boolean grids get the network of the MinAtar paper instead (Young & Tian
2019: one 3×3 convolution with 16 filters, then 128 units). Like the reward net, the choice is read from the
observation space (``prefrl.images``); a preset's ``[ppo.policy_kwargs]`` overrides any of it.
"""

from __future__ import annotations

from typing import Any

import torch
from gymnasium import spaces
from stable_baselines3.common.preprocessing import is_image_space
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import nn

from prefrl.images import image_layout

NATURE_CNN_MIN_SIDE = 36  # the smallest input NatureCNN's three convolutions leave at least 1×1 of


class SmallImageCNN(BaseFeaturesExtractor):
    """Young & Tian (2019)'s MinAtar network: conv 3×3×16, ReLU, then a ``features_dim``-unit ReLU layer.

    Reads raw frames of either layout and scales them itself, so the policy sets ``normalize_images=False``.

    :param observation_space: an image space (``prefrl.images.image_layout`` must recognize it).
    :param features_dim: width of the layer the policy and value heads read.
    """

    def __init__(self, observation_space: spaces.Box, features_dim: int = 128) -> None:
        super().__init__(observation_space, features_dim)
        layout = image_layout(observation_space)
        if layout is None:
            raise TypeError(
                f"observation_space={observation_space!r} is not an image space (a 3-D uint8 or bool Box); "
                "use the MlpPolicy for it."
            )
        self.layout = layout
        conv_side = (layout.height - 2) * (layout.width - 2)
        self.net = nn.Sequential(
            nn.Conv2d(layout.channels, 16, 3),
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(16 * conv_side, features_dim),
            nn.ReLU(),
        )

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        return self.net(self.layout.to_chw(observations))  # (B, C, H, W) -> (B, features_dim)


def policy_for(observation_space: spaces.Space) -> tuple[str, dict[str, Any]]:
    """SB3 policy name and ``policy_kwargs`` for an observation space."""
    layout = image_layout(observation_space)
    if layout is None:
        return "MlpPolicy", {}
    if min(layout.height, layout.width) >= NATURE_CNN_MIN_SIDE and is_image_space(observation_space):
        return "CnnPolicy", {}
    return "CnnPolicy", {"features_extractor_class": SmallImageCNN, "normalize_images": False}
