"""Clips for people: simulator states recorded in step with the observations, re-rendered into real WebM files."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from stable_baselines3.common.env_util import make_vec_env

import prefrl.envs  # noqa: F401  (registers the fixed-horizon variants)
from prefrl.oracles.human.clips import (
    ClipLibrary,
    RenderStateRecorder,
    encode_webm,
    render_frames,
    restore_state,
    snapshot_state,
)
from prefrl.segments import SegmentCutter
from prefrl.store import ComparisonStore
from prefrl.types import Segment
from prefrl.wrappers import LearnedRewardVecEnv

av = pytest.importorskip("av")

CLASSIC = ["CartPole-v1", "Pendulum-v1", "Acrobot-v1", "MountainCarContinuous-v0"]


class ZeroReward:
    def predict(self, obs: np.ndarray, actions: np.ndarray) -> np.ndarray:
        return np.zeros(len(obs))


def decode(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        return np.stack([frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)])


def recorded_segments(env_id: str, count: int, length: int = 10) -> list[Segment]:
    venv = LearnedRewardVecEnv(make_vec_env(env_id, n_envs=2, seed=0, wrapper_class=RenderStateRecorder), ZeroReward())
    venv.reset()
    cutter = SegmentCutter(2, length)
    segments: list[Segment] = []
    venv.action_space.seed(0)
    while len(segments) < count:
        venv.step(np.stack([venv.action_space.sample() for _ in range(2)]))
        batch = venv.drain_steps()
        assert batch is not None
        segments += cutter.add(batch)
    venv.close()
    return segments[:count]


@pytest.mark.parametrize("env_id", CLASSIC)
def test_restoring_a_snapshot_renders_the_same_frame(env_id: str) -> None:
    source = gym.make(env_id, render_mode="rgb_array")
    source.reset(seed=1)
    for _ in range(5):
        source.step(source.action_space.sample())
    state = snapshot_state(source)
    target = gym.make(env_id, render_mode="rgb_array")
    target.reset(seed=99)  # somewhere else entirely
    restore_state(target, state)
    np.testing.assert_array_equal(snapshot_state(target), state)
    np.testing.assert_array_equal(target.render(), source.render())


def test_mujoco_states_restore_to_the_same_picture() -> None:
    pytest.importorskip("mujoco")
    source = gym.make("Hopper-v5", render_mode="rgb_array")
    source.reset(seed=1)
    for _ in range(5):
        source.step(source.action_space.sample())
    state = snapshot_state(source)
    assert state.shape == (source.unwrapped.model.nq + source.unwrapped.model.nv,)
    target = gym.make("Hopper-v5", render_mode="rgb_array")
    target.reset(seed=99)
    restore_state(target, state)
    np.testing.assert_array_equal(snapshot_state(target), state)
    # The same scene. The software OpenGL renderer is not bit-exact: a few pixels (seen: under 0.001%) may
    # differ, by up to 5 shades in one CI run, so the check bounds how many pixels differ, not by how much.
    difference = np.abs(target.render().astype(int) - source.render().astype(int))
    assert (difference > 2).mean() < 1e-4 and difference.mean() < 0.01


def test_an_env_without_a_simulator_state_is_refused_by_name() -> None:
    class Opaque(gym.Env):
        observation_space = gym.spaces.Box(-1, 1, (2,))
        action_space = gym.spaces.Discrete(2)

    with pytest.raises(TypeError, match="Opaque keeps its simulator state in neither"):
        snapshot_state(Opaque())


def test_render_states_line_up_with_observations_and_cross_rollouts() -> None:
    # CartPole's observation is its state, so each recorded state must equal the observation of its step.
    segments = recorded_segments("CartPole-v1", count=6, length=7)  # 7 does not divide the 1-step rollouts
    for segment in segments:
        assert segment.render_states is not None and segment.render_states.shape == (7, 4)
        np.testing.assert_allclose(segment.render_states, segment.obs, rtol=1e-6, atol=1e-6)


def test_without_the_recorder_nothing_is_recorded() -> None:
    venv = LearnedRewardVecEnv(make_vec_env("CartPole-v1", n_envs=2, seed=0), ZeroReward())
    venv.reset()
    venv.step(np.array([0, 1]))
    batch = venv.drain_steps()
    assert batch is not None and batch.render_states is None


def test_encode_webm_writes_a_playable_vp8_file(tmp_path: Path) -> None:
    frames = np.zeros((6, 33, 40, 3), dtype=np.uint8)  # odd height: cropped to even for yuv420p
    frames[:, :, :20] = 255
    encode_webm(frames, tmp_path / "clip.webm", fps=10)
    with av.open(str(tmp_path / "clip.webm")) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name in ("vp8", "libvpx")
    decoded = decode(tmp_path / "clip.webm")
    assert decoded.shape == (6, 32, 40, 3)
    assert decoded[:, :, :18].mean() > 240 and decoded[:, :, 22:].mean() < 15  # white left half, black right
    assert not list(tmp_path.glob("*.part"))  # written atomically


@pytest.mark.parametrize("env_id", ["CartPole-v1", "prefrl/FixedAcrobot-v1", "Hopper-v5"])
def test_clip_library_renders_queried_segments(tmp_path: Path, env_id: str) -> None:
    if env_id.startswith("Hopper"):
        pytest.importorskip("mujoco")
    left, right = recorded_segments(env_id, count=2, length=8)
    with ComparisonStore(tmp_path / "comparisons.sqlite") as store, ClipLibrary(tmp_path / "clips", env_id) as clips:
        (query_id,) = store.add_queries([(left, right)], oracle="human", timestep=0)
        comparison = store.get(query_id)
        assert clips.file(query_id, "left") is None
        assert clips.wait(comparison, timeout=120) is True
        videos = {side: decode(clips.file(query_id, side)) for side in ("left", "right")}
        assert clips.file(query_id, "top") is None

    renderer = gym.make(env_id, render_mode="rgb_array")
    renderer.reset(seed=0)
    expected = render_frames(renderer, comparison.left.render_states)
    assert videos["left"].shape[0] == 8 == videos["right"].shape[0]
    # Lossy VP8: the video matches the frames rendered here closely, not bit for bit.
    assert np.abs(videos["left"].astype(float) - expected[:, : videos["left"].shape[1], : videos["left"].shape[2]]).mean() < 8
    assert not np.array_equal(videos["left"], videos["right"])


def test_segments_without_render_states_never_get_clips(tmp_path: Path) -> None:
    plain = Segment(np.zeros((3, 4)), np.zeros(3), np.zeros(3))
    with ComparisonStore(tmp_path / "comparisons.sqlite") as store, ClipLibrary(tmp_path / "clips", "CartPole-v1") as clips:
        (query_id,) = store.add_queries([(plain, plain)], oracle="human", timestep=0)
        assert clips.prepare(store.get(query_id)) is False
        assert "without render states" in clips.failures[query_id]
