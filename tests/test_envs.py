"""Fixed-horizon variants: exact horizon, no termination, dense reward that matches the state."""

from __future__ import annotations

import math
import os
import warnings

import gymnasium as gym
import numpy as np
import pytest

from prefrl.envs import (
    FIXED_HORIZON_TASKS,
    FIXED_HORIZON_VARIANTS,
    check_env_id,
    register_envs,
)

VARIANTS = [task.variant_id for task in FIXED_HORIZON_TASKS.values()]


@pytest.mark.parametrize("variant_id", VARIANTS)
def test_variant_runs_exactly_its_horizon(variant_id: str) -> None:
    env = gym.make(variant_id)
    horizon = env.spec.max_episode_steps
    env.reset(seed=0)
    env.action_space.seed(0)
    for step in range(1, horizon + 1):
        _, reward, terminated, truncated, info = env.step(env.action_space.sample())
        assert terminated is False
        assert truncated == (step == horizon)
        assert isinstance(reward, float)
        assert "original_reward" in info
    env.close()


@pytest.mark.parametrize("original_id", list(FIXED_HORIZON_TASKS))
def test_variant_keeps_the_original_spaces(original_id: str) -> None:
    original = gym.make(original_id)
    variant = gym.make(FIXED_HORIZON_VARIANTS[original_id])
    assert variant.observation_space == original.observation_space
    assert variant.action_space == original.action_space


def test_cartpole_keeps_stepping_after_a_fall_then_respawns() -> None:
    env = gym.make("prefrl/FixedCartPole-v1")
    env.reset(seed=0)
    unwrapped = env.unwrapped
    rewards, up, respawned, angles = [], [], [], []
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # gymnasium's "step() after terminated" warning would fail the test
        for _ in range(60):  # always push right: the pole falls left within ~10 steps
            _, reward, terminated, truncated, info = env.step(1)
            assert not terminated and not truncated
            x, _, theta, _ = unwrapped.state
            angles.append(abs(theta))
            up.append(abs(theta) <= unwrapped.theta_threshold_radians and abs(x) <= unwrapped.x_threshold)
            rewards.append(reward)
            respawned.append(info.get("respawned", False))
    first_fall = up.index(False)
    assert 0 < first_fall < 20, "the constant action should have made the pole fall"
    # Reward 0.5-1 exactly while up (a respawn step reports the fallen step's reward, 0).
    assert all((0.5 <= r <= 1.0) == u and (r == 0.0) == (not u) for r, u, re in zip(rewards, up, respawned) if not re)
    # The physics kept going while the pole lay down: past the original's termination bound, for 10 steps.
    assert rewards[first_fall : first_fall + 10] == [0.0] * 10
    assert max(angles[first_fall : first_fall + 10]) > 2 * unwrapped.theta_threshold_radians
    # Then it respawned upright, within the same episode, and fell again under the same constant push.
    assert respawned[first_fall + 9] and sum(respawned) >= 2
    assert up[first_fall + 10]
    # The original's reward stops counting once it would have ended the episode.
    assert info["original_terminated"] is True and info["original_reward"] == 0.0


@pytest.mark.parametrize(
    ("x", "theta_fraction", "expected"),
    [
        (0.0, 0.0, 1.0),  # centred, upright
        (1.2, 0.0, 0.9375),  # halfway to the edge: 1 - 0.5² / 4
        (0.0, -0.5, 0.9375),  # the pole halfway to its bound, either side
        (-1.92, 0.6, 0.75),  # 1 - (0.8² + 0.6²) / 4
        (2.4, 1.0, 0.5),  # on both bounds: still up
        (2.41, 0.0, 0.0),  # off the track
        (0.0, 1.01, 0.0),  # the pole down
    ],
)
def test_cartpole_reward_grades_upright_steps_by_position_and_angle(x, theta_fraction, expected) -> None:
    env = gym.make("prefrl/FixedCartPole-v1").unwrapped
    env.state = np.array([x, 0.0, theta_fraction * env.theta_threshold_radians, 0.0])
    assert FIXED_HORIZON_TASKS["CartPole-v1"].reward(env) == pytest.approx(expected)


def test_acrobot_reward_is_tip_height() -> None:
    env = gym.make("prefrl/FixedAcrobot-v1")
    env.reset(seed=1)
    env.action_space.seed(1)
    for _ in range(50):
        _, reward, *_ = env.step(env.action_space.sample())
        th1, th2 = env.unwrapped.state[:2]
        assert reward == pytest.approx(-math.cos(th1) - math.cos(th1 + th2))
        assert -2.0 <= reward <= 2.0
    # Hand-checked states: hanging straight down is -2, straight up would be +2, horizontal links 0.
    unwrapped = env.unwrapped
    for state, height in [((0.0, 0.0), -2.0), ((math.pi, 0.0), 2.0), ((math.pi / 2, 0.0), 0.0)]:
        unwrapped.state = np.array([*state, 0.0, 0.0])
        assert FIXED_HORIZON_TASKS["Acrobot-v1"].reward(unwrapped) == pytest.approx(height, abs=1e-12)


@pytest.mark.parametrize("original_id, flag", [("MountainCarContinuous-v0", 0.45), ("MountainCar-v0", 0.5)])
def test_mountain_car_reward_is_height_plus_goal_bonus(original_id: str, flag: float) -> None:
    env = gym.make(FIXED_HORIZON_VARIANTS[original_id])
    env.reset(seed=0)
    unwrapped = env.unwrapped
    reward_fn = FIXED_HORIZON_TASKS[original_id].reward
    unwrapped.state = np.array([-math.pi / 6, 0.0])  # valley floor
    assert reward_fn(unwrapped) == pytest.approx(-1.0)
    unwrapped.state = np.array([flag - 0.01, 0.0])  # just short of the flag: height only
    assert reward_fn(unwrapped) == pytest.approx(math.sin(3 * (flag - 0.01)))
    unwrapped.state = np.array([flag, 0.0])  # at the flag
    assert reward_fn(unwrapped) == pytest.approx(math.sin(3 * flag) + 1.0)


def test_unknown_env_id_suggests_the_closest() -> None:
    with pytest.raises(ValueError, match=r"env_id='CartPol-v1'.*did you mean 'CartPole-v1'\?"):
        check_env_id("CartPol-v1")
    check_env_id("CartPole-v1")
    for variant in FIXED_HORIZON_VARIANTS.values():
        check_env_id(variant)


def test_register_envs_is_idempotent() -> None:
    before = dict(gym.envs.registry)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # re-registering would warn "Overriding environment"
        register_envs()
        register_envs()
    assert dict(gym.envs.registry) == before


@pytest.mark.parametrize("variant_id", VARIANTS)
def test_rgb_array_render(variant_id: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SDL_VIDEODRIVER", os.environ.get("SDL_VIDEODRIVER", "dummy"))
    env = gym.make(variant_id, render_mode="rgb_array")
    env.reset(seed=0)
    env.step(env.action_space.sample())
    frame = env.render()
    assert frame.ndim == 3 and frame.shape[2] == 3
    assert frame.dtype == np.uint8
    env.close()


@pytest.mark.parametrize("env_id", ["HalfCheetah-v5", "Swimmer-v5", "Reacher-v5"])
def test_mujoco_tasks_without_termination_train_as_they_are(env_id: str) -> None:
    assert FIXED_HORIZON_VARIANTS[env_id] == env_id
    env = gym.make(env_id)
    env.reset(seed=0)
    env.action_space.seed(0)
    horizon = env.spec.max_episode_steps
    for step in range(1, horizon + 1):
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        assert terminated is False and truncated == (step == horizon)


def _step_until_respawn(env: gym.Env, fallen, max_steps: int):
    """Random actions until the first respawn: (rewards, infos, fallen flags) of each step before it."""
    env.action_space.seed(0)
    rewards, infos, flags = [], [], []
    for _ in range(max_steps):
        _, reward, terminated, _, info = env.step(env.action_space.sample())
        assert not terminated
        if info.get("respawned"):
            return rewards, infos, flags
        rewards.append(reward)
        infos.append(info)
        flags.append(fallen(env.unwrapped))
    raise AssertionError("no respawn: random actions should have toppled it")


@pytest.mark.parametrize("variant_id", ["prefrl/FixedHopper-v5", "prefrl/FixedWalker2d-v5"])
def test_walker_keeps_stepping_after_a_fall_without_its_upright_bonus_then_respawns(variant_id: str) -> None:
    env = gym.make(variant_id)
    env.reset(seed=0)
    rewards, infos, fallen = _step_until_respawn(env, lambda u: not u.is_healthy, 500)
    # The 24 steps before the respawn step were all fallen: the original would have ended at the first.
    assert fallen[-24:] == [True] * 24
    assert infos[-1]["original_terminated"] is True and infos[-1]["original_reward"] == 0.0
    for reward, info, down in zip(rewards, infos, fallen):
        # The variant pays the original's reward; its upright bonus (1.0) only while upright.
        assert reward == pytest.approx(info["reward_forward"] + info["reward_survive"] + info["reward_ctrl"])
        assert info["reward_survive"] == (0.0 if down else 1.0)
    assert env.unwrapped.is_healthy  # respawned upright


def test_double_pendulum_loses_its_bonus_while_fallen_then_respawns() -> None:
    env = gym.make("prefrl/FixedInvertedDoublePendulum-v5")
    env.reset(seed=0)
    rewards, _, fallen = _step_until_respawn(env, lambda u: u.data.site_xpos[0][2] <= 1, 500)
    assert fallen[-9:] == [True] * 9
    assert all(r < 0 for r, down in zip(rewards, fallen) if down)  # distance and velocity penalties, no +10
    assert all(r > 8 for r, down in zip(rewards, fallen) if not down)
    assert env.unwrapped.data.site_xpos[0][2] > 1


def test_inverted_pendulum_pays_nothing_while_fallen_then_respawns() -> None:
    env = gym.make("prefrl/FixedInvertedPendulum-v5")
    env.reset(seed=0)
    rewards, infos, fallen = _step_until_respawn(env, lambda u: abs(u.data.qpos[1]) > 0.2, 500)
    assert fallen[-9:] == [True] * 9  # the 10th fallen step is the respawn step
    assert infos[-1]["original_terminated"] is True
    assert rewards == [0.0 if down else 1.0 for down in fallen]
    assert abs(env.unwrapped.data.qpos[1]) <= 0.2
