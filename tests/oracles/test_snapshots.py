"""What is kept of each step for a person's clip: an Atari or MinAtar game's own colour frame (before any
preprocessing), a physics env's simulator state; decided in one place, refused by name for anything else."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import pytest

from prefrl.oracles.human.clips import RenderStateRecorder
from prefrl.oracles.human.snapshots import restore_state, snapshot, snapshot_for

CLASSIC = ["CartPole-v1", "Pendulum-v1", "Acrobot-v1", "MountainCarContinuous-v0"]


def pong(render_mode: str | None = None) -> gym.Env:
    """Pong as DQN-style agents see it (gymnasium's own preprocessing: 84x84 grayscale, frame skip 4, 4 stacked)."""
    ale_py = pytest.importorskip("ale_py")
    from gymnasium.wrappers import AtariPreprocessing, FrameStackObservation

    gym.register_envs(ale_py)
    return FrameStackObservation(AtariPreprocessing(gym.make("ALE/Pong-v5", frameskip=1, render_mode=render_mode)), 4)


def breakout(render_mode: str | None = None) -> gym.Env:
    """MinAtar Breakout as prefrl trains on it: the game resets underneath when the ball is lost."""
    pytest.importorskip("minatar")
    from prefrl.atari import register_optional_envs

    register_optional_envs("prefrl/FixedMinAtarBreakout-v1")
    # No env checker: MinAtar's own renderer draws floats in 0..1, which it would warn about.
    return gym.make("prefrl/FixedMinAtarBreakout-v1", render_mode=render_mode, disable_env_checker=True)


def hopper(render_mode: str | None = None) -> gym.Env:
    pytest.importorskip("mujoco")
    return gym.make("Hopper-v5", render_mode=render_mode)


def shown(env: gym.Env) -> np.ndarray:
    """The env's own ``rgb_array`` picture as uint8 (MinAtar draws floats in 0..1)."""
    picture = np.asarray(env.render())
    return picture if picture.dtype == np.uint8 else np.round(picture * 255).astype(np.uint8)


@pytest.mark.parametrize(
    "make, kind",
    [(pong, "ALE screen"), (breakout, "MinAtar picture"), (hopper, "MuJoCo state"),
     (lambda: gym.make("CartPole-v1"), "classic-control state")],
)
def test_pixel_envs_keep_frames_and_physics_envs_keep_states(make: Any, kind: str) -> None:
    assert snapshot_for(make()).name == kind


@pytest.mark.parametrize("make", [pong, breakout])
def test_recorded_frames_are_what_the_game_showed_before_each_step(make: Any) -> None:
    # A twin env, seeded alike and given the same actions, draws its own picture before each step: the recorder
    # must have kept exactly that, in full colour, whatever the agent's preprocessed observation looks like.
    recorder, twin = RenderStateRecorder(make()), make(render_mode="rgb_array")
    recorder.reset(seed=3)
    twin.reset(seed=3)
    rng = np.random.default_rng(0)
    for _ in range(30):  # random Breakout loses the ball every ~10 steps: the game restarts underneath
        action = int(rng.integers(recorder.action_space.n))
        expected = shown(twin)
        twin.step(action)
        info = recorder.step(action)[-1]
        np.testing.assert_array_equal(info["render_state"], expected)
    assert info["render_state"].dtype == np.uint8 and info["render_state"].shape[-1] == 3


@pytest.mark.parametrize("env_id", CLASSIC)
def test_restoring_a_snapshot_renders_the_same_frame(env_id: str) -> None:
    source = gym.make(env_id, render_mode="rgb_array")
    source.reset(seed=1)
    for _ in range(5):
        source.step(source.action_space.sample())
    state = snapshot(source)
    target = gym.make(env_id, render_mode="rgb_array")
    target.reset(seed=99)  # somewhere else entirely
    restore_state(target, state)
    np.testing.assert_array_equal(snapshot(target), state)
    np.testing.assert_array_equal(target.render(), source.render())


def test_mujoco_states_restore_to_the_same_picture() -> None:
    source = hopper(render_mode="rgb_array")
    source.reset(seed=1)
    for _ in range(5):
        source.step(source.action_space.sample())
    state = snapshot(source)
    assert state.shape == (source.unwrapped.model.nq + source.unwrapped.model.nv,)
    target = hopper(render_mode="rgb_array")
    target.reset(seed=99)
    restore_state(target, state)
    np.testing.assert_array_equal(snapshot(target), state)
    # The same scene. The software OpenGL renderer is not bit-exact: a few pixels (seen: under 0.001%) may
    # differ, by up to 5 shades in one CI run, so the check bounds how many pixels differ, not by how much.
    difference = np.abs(target.render().astype(int) - source.render().astype(int))
    assert (difference > 2).mean() < 1e-4 and difference.mean() < 0.01


def test_an_env_with_neither_a_picture_nor_a_state_is_refused_by_name() -> None:
    class Opaque(gym.Env):
        observation_space = gym.spaces.Box(-1, 1, (2,))
        action_space = gym.spaces.Discrete(2)

    with pytest.raises(TypeError, match=r"Opaque has neither a picture .* Supported: ALE Atari games .*MinAtar"):
        RenderStateRecorder(Opaque())  # refused when the env is made, before any training
