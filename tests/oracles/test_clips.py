"""Clips for people: simulator states recorded in step with the observations and re-rendered, or a game's own
frames used as they are, into real WebM files."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import gymnasium as gym
import numpy as np
import pytest
from stable_baselines3.common.env_util import make_vec_env

import prefrl.envs  # noqa: F401  (registers the fixed-horizon variants)
from prefrl.oracles.human.clips import ClipLibrary, RenderStateRecorder, encode_webm, enlarge, render_frames
from prefrl.segments import SegmentCutter
from prefrl.store import ComparisonStore
from prefrl.types import Segment
from prefrl.wrappers import LearnedRewardVecEnv
from tests.oracles.test_snapshots import breakout, pong

av = pytest.importorskip("av")


class ZeroReward:
    def predict(self, obs: np.ndarray, actions: np.ndarray) -> np.ndarray:
        return np.zeros(len(obs))


def decode(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        return np.stack([frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)])


def recorded_segments(env_id: str | Callable[[], gym.Env], count: int, length: int = 10) -> list[Segment]:
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


@pytest.mark.parametrize("make, size", [(pong, (420, 320)), (breakout, (320, 320))])
def test_clips_of_pixel_games_are_their_own_recorded_frames(tmp_path: Path, make: Any, size: tuple[int, int]) -> None:
    left, right = recorded_segments(make, count=2, length=8)
    frames = left.render_states
    assert frames is not None and frames.dtype == np.uint8 and frames.ndim == 4
    # An env id that names no env: a clip of recorded frames must never make an env to render it again.
    with ComparisonStore(tmp_path / "comparisons.sqlite") as store, ClipLibrary(tmp_path / "clips", "NoSuchEnv-v0") as clips:
        (query_id,) = store.add_queries([(left, right)], oracle="human", timestep=0)
        comparison = store.get(query_id)
        np.testing.assert_array_equal(comparison.left.render_states, frames)  # stored losslessly...
        assert store.bytes_per_segment() < (frames.nbytes + left.obs.nbytes) / 5  # ...and compressed
        assert clips.wait(comparison, timeout=120) is True, clips.failures
        video = decode(clips.file(query_id, "left"))
    assert video.shape == (8, *size, 3)  # every step, each pixel enlarged to a square
    # Lossy VP8: close to the recorded frames, and far from the other side's.
    assert np.abs(video.astype(float) - enlarge(frames)).mean() < 8
    assert np.abs(video.astype(float) - enlarge(right.render_states)).mean() > 1


def test_enlarge_makes_each_pixel_a_square_until_the_short_side_is_big_enough() -> None:
    frames = np.arange(2 * 3 * 2 * 3, dtype=np.uint8).reshape(2, 3, 2, 3)
    big = enlarge(frames, min_side=5)  # 2 -> 6 needs a factor of 3
    assert big.shape == (2, 9, 6, 3)
    np.testing.assert_array_equal(big[:, ::3, ::3], frames)
    np.testing.assert_array_equal(big[:, 2::3, 2::3], frames)
    assert enlarge(frames, min_side=2) is frames
