"""Scoring many steps a slice at a time gives what one call gives, for flat and image observations."""

import numpy as np
import pytest
import torch
from gymnasium import spaces

from prefrl.reward.nets import RewardEnsemble
from prefrl.reward.slices import member_rewards


@pytest.mark.parametrize(
    "space, dtype", [(spaces.Box(-1, 1, (3,)), np.float32), (spaces.Box(0, 255, (4, 12, 12), np.uint8), np.uint8)]
)
def test_slices_give_the_same_rewards_as_one_call(space: spaces.Box, dtype: type) -> None:
    model = RewardEnsemble(space, spaces.Discrete(3), ensemble_size=2, hidden_sizes=(8,),
                           generator=torch.Generator().manual_seed(0))
    rng = np.random.default_rng(0)
    obs = (rng.random((7, 5, *space.shape)) * (255 if dtype == np.uint8 else 1)).astype(dtype)  # (U, T, *obs)
    actions = rng.integers(0, 3, (7, 5))
    with torch.no_grad():
        whole = model(torch.as_tensor(obs), torch.as_tensor(actions))  # (N, U, T)
    sliced = member_rewards(model, obs, actions, rows=10)  # 2 clips of 5 steps per slice: 4 slices
    assert sliced.shape == whole.shape == (2, 7, 5)
    assert torch.allclose(sliced, whole, atol=1e-5)
