"""MinAtar (and the ALE) through prefrl: registration, no termination leak, clear errors, a policy that fits the
frames, and a preference run that learns Breakout from comparisons of pixel clips."""

from __future__ import annotations

import sys

import gymnasium as gym
import numpy as np
import pytest

from prefrl.atari import ATARI_VARIANTS, MINATAR_HORIZON, ResetOnTermination, register_optional_envs
from prefrl.envs import check_env_id
from prefrl.images import image_layout
from prefrl.policies import SmallImageCNN, policy_for

pytest.importorskip("minatar", reason="MinAtar is in the `atari` extra (pip install 'prefrl[atari]')")

RANDOM_BREAKOUT_RETURN = 0.37  # mean return of uniformly random actions on MinAtar/Breakout-v1 (2043 episodes)


@pytest.mark.parametrize("original_id, variant_id", sorted(ATARI_VARIANTS.items()))
def test_variant_never_terminates_while_the_game_resets_underneath(original_id: str, variant_id: str) -> None:
    check_env_id(variant_id)
    env = gym.make(variant_id)
    original = gym.make(original_id)
    assert env.observation_space == original.observation_space and env.action_space == original.action_space
    assert env.spec.max_episode_steps == MINATAR_HORIZON
    env.reset(seed=0)
    env.action_space.seed(0)
    resets = 0
    for step in range(1, MINATAR_HORIZON + 1):
        _, _, terminated, truncated, info = env.step(env.action_space.sample())
        assert terminated is False
        assert truncated == (step == MINATAR_HORIZON)
        resets += info.get("reset_underneath", False)
    if original_id == "MinAtar/Breakout-v1":
        assert resets > 10  # a random paddle loses the ball every ~10 steps: the game did end, underneath


def test_reset_underneath_returns_the_new_games_first_frame() -> None:
    class OneStepGame(gym.Env):
        observation_space = gym.spaces.Discrete(3)
        action_space = gym.spaces.Discrete(1)

        def reset(self, *, seed=None, options=None):
            self.state = 0
            return self.state, {}

        def step(self, action):
            self.state += 1
            return self.state, 1.0, self.state == 2, False, {}

    env = ResetOnTermination(OneStepGame())
    env.reset()
    assert env.step(0) == (1, 1.0, False, False, {})
    assert env.step(0) == (0, 1.0, False, False, {"reset_underneath": True})


@pytest.mark.parametrize("env_id, package", [("MinAtar/Breakout-v1", "minatar"), ("ALE/Pong-v5", "ale-py")])
def test_a_missing_package_is_named_with_the_extra(env_id: str, package: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for module in ("minatar", "minatar.gym", "ale_py"):
        monkeypatch.setitem(sys.modules, module, None)  # makes `import module` fail as if not installed
    monkeypatch.setattr(gym.envs, "registry", {k: v for k, v in gym.envs.registry.items() if k != env_id})
    with pytest.raises(ValueError, match=rf"needs the package '{package}'.*pip install 'prefrl\[atari\]'"):
        check_env_id(env_id)


def test_ids_of_no_optional_package_are_left_alone() -> None:
    register_optional_envs("CartPole-v1")  # no import, no error


def test_policy_is_chosen_from_the_observation_space() -> None:
    minatar = gym.spaces.Box(0, 1, (10, 10, 4), bool)
    assert policy_for(gym.spaces.Box(-1, 1, (4,))) == ("MlpPolicy", {})
    assert policy_for(gym.spaces.Box(0, 255, (84, 84, 4), np.uint8)) == ("CnnPolicy", {})  # SB3's NatureCNN
    name, kwargs = policy_for(minatar)
    assert name == "CnnPolicy" and kwargs["features_extractor_class"] is SmallImageCNN
    extractor = SmallImageCNN(minatar)
    import torch

    assert extractor(torch.zeros(5, 10, 10, 4)).shape == (5, 128)
    with pytest.raises(TypeError, match="not an image space"):
        SmallImageCNN(gym.spaces.Box(-1, 1, (4, 4, 4)))


def test_image_layouts() -> None:
    last = image_layout(gym.spaces.Box(0, 255, (84, 84, 4), np.uint8))
    first = image_layout(gym.spaces.Box(0, 255, (4, 84, 84), np.uint8))
    grid = image_layout(gym.spaces.Box(0, 1, (10, 10, 6), bool))
    assert (last.channels_first, last.channels, last.height, last.scale) == (False, 4, 84, 1 / 255)
    assert (first.channels_first, first.channels, first.width) == (True, 4, 84)
    assert (grid.channels, grid.scale) == (6, 1.0)
    assert image_layout(gym.spaces.Box(-1, 1, (10, 10, 4))) is None  # float: not pixels
    assert image_layout(gym.spaces.Box(0, 255, (84, 84), np.uint8)) is None  # 2-D: read flat
