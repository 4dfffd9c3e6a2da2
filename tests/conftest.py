"""Shared fixtures: tiny spaces and hand-made segments, so unit tests run in milliseconds."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")  # classic-control rendering without a display
os.environ.setdefault("MUJOCO_GL", "egl")  # MuJoCo rendering without a display (headless OpenGL)
torch.set_num_threads(1)


def make_segment(rewards, obs_dim: int = 3, env_index: int = 0, seed: int = 0, discrete_actions: int | None = 2):
    """A segment with the given true rewards, random observations and actions."""
    rng = np.random.default_rng(seed)
    rewards = np.asarray(rewards, dtype=np.float64)
    length = len(rewards)
    obs = rng.normal(size=(length, obs_dim)).astype(np.float32)
    if discrete_actions is None:
        actions = rng.uniform(-1, 1, size=(length, 1)).astype(np.float32)
    else:
        actions = rng.integers(0, discrete_actions, size=length)
    from prefrl.types import Segment

    return Segment(obs, actions, rewards, env_index=env_index)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)
