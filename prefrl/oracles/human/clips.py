"""Clips for the labelling page: what each step looked like, recorded while PPO plays; videos made only when queried.

Almost every segment is never shown to anyone, so recording must cost little and the video is made only for
the segments a person is asked about:

1. while a person is the oracle, :class:`RenderStateRecorder` puts a snapshot of the step *before* its action in
   ``info["render_state"]`` (:mod:`prefrl.oracles.human.snapshots` decides what: the full-colour frame of a pixel
   env such as an Atari game, or a few floats of simulator state of a physics env); without a person the
   wrapper is not installed and nothing is recorded;
2. segments carry those snapshots into the comparison store with the query (so a stopped run's queries can
   still be shown by ``prefrl label``);
3. when a query is first handed to a person, :class:`ClipLibrary` makes the clip in a separate process: recorded
   frames are used as they are (nothing is rendered twice), recorded states are restored one by one into a
   render env and its frame grabbed; the frames are enlarged to a watchable size and encoded as VP8 WebM, and
   the file is cached in the run folder. Debian's chromium reports H.264 MP4, VP8 and VP9 WebM all playable
   (``canPlayType`` says "probably"); VP8 is royalty-free, and every Chromium build and Firefox play it (H.264
   depends on how a browser was built).

Restoring states rather than replaying actions makes the clip exact even for envs whose dynamics are noisy.
"""

from __future__ import annotations

import logging
import math
import os
import threading
from concurrent.futures import Future, ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Protocol

import gymnasium as gym
import numpy as np

from prefrl.oracles.human.snapshots import is_frames, restore_state, snapshot_for
from prefrl.processes import exit_with_parent
from prefrl.store import Comparison

__all__ = [
    "ClipLibrary",
    "ClipSource",
    "RenderStateRecorder",
    "clip_frames",
    "encode_webm",
    "enlarge",
    "render_frames",
]

logger = logging.getLogger(__name__)

MEDIA_TYPE = "video/webm"
SIDES = ("left", "right")
MIN_CLIP_SECONDS = 1.5
"""A clip plays at the env's own frame rate, slowed down so that it lasts at least this long: 25 CartPole
steps at its 50 fps would flash by in half a second, too short to judge (the 2017 paper showed 1-2 s clips)."""

RECORDED_FRAMES_FPS = 15.0
"""The speed of clips made of recorded frames, whose env is never made again to ask: an ALE game's 60 Hz screen
at the usual frame skip of 4 (Mnih et al. 2015), so 25 steps last 1.7 s, as the paper's Atari clips did
(Christiano et al. 2017, A.2). MinAtar has no speed of its own; its viewer shows 20 steps a second."""

MIN_CLIP_SIDE = 320
"""Frames are enlarged by a whole factor (each pixel a sharp square) until their shorter side has at least this
many pixels: a 10x10 MinAtar grid, or Atari's 210x160 screen, stretched to the page's ~540 px wide video by the
browser would be a blur. Rendered physics frames (CartPole 600x400, MuJoCo 480x480) are already large enough."""


class RenderStateRecorder(gym.Wrapper):
    """Adds ``info["render_state"]``: a snapshot (frame or state) of the env before the step's action, so it lines
    up with the observation the action was chosen from (the segment's ``obs[t]``).

    :raises TypeError: for an env whose steps cannot be kept for clips
        (:func:`~prefrl.oracles.human.snapshots.snapshot_for` says which can).
    """

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self._take = snapshot_for(env).take  # decided once, when the env is made: a bad env fails before training
        self._before: np.ndarray | None = None

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(**kwargs)
        self._before = self._take(self.env.unwrapped)
        return obs, info

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        info["render_state"] = self._before
        self._before = self._take(self.env.unwrapped)
        return obs, reward, terminated, truncated, info


def enlarge(frames: np.ndarray, min_side: int = MIN_CLIP_SIDE) -> np.ndarray:
    """``(T, H, W, 3)`` -> ``(T, kH, kW, 3)``, each pixel a k x k square, with the smallest whole ``k >= 1`` that
    gives the shorter side at least ``min_side`` pixels."""
    factor = max(1, math.ceil(min_side / min(frames.shape[1:3])))
    return frames if factor == 1 else frames.repeat(factor, axis=1).repeat(factor, axis=2)


def render_frames(env: gym.Env, states: np.ndarray) -> np.ndarray:
    """One ``rgb_array`` frame per state: ``(T, H, W, 3)`` uint8. ``env`` must be made with that render mode."""
    frames = []
    for state in states:
        restore_state(env, np.asarray(state))
        frames.append(np.asarray(env.render(), dtype=np.uint8))
    return np.stack(frames)


def encode_webm(frames: np.ndarray, path: str | os.PathLike[str], fps: float) -> None:
    """Write ``frames`` ``(T, H, W, 3)`` as a VP8 WebM file, atomically (a reader never sees half a file)."""
    import av  # the `human` extra; imported here so that training without a person never needs it

    path = Path(path)
    height, width = frames.shape[1] // 2 * 2, frames.shape[2] // 2 * 2  # yuv420p needs even sizes
    temporary = path.with_name(path.name + ".part")
    with av.open(str(temporary), "w", format="webm") as container:
        # realtime + cpu-used 8: libvpx's fastest setting, ~10 ms a frame here; the clips are tiny anyway.
        stream = container.add_stream("libvpx", rate=max(1, round(fps)), options={"deadline": "realtime", "cpu-used": "8"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.bit_rate = 1_000_000
        for frame in frames:
            image = np.ascontiguousarray(frame[:height, :width])
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    os.replace(temporary, path)


# --- the rendering process ---------------------------------------------------------------------------------

_RENDER_ENVS: dict[str, gym.Env] = {}  # per worker process: one render env per env id, made once


def _render_env(env_id: str) -> gym.Env:
    env = _RENDER_ENVS.get(env_id)
    if env is None:
        import prefrl.envs  # noqa: F401  (registers the fixed-horizon variants in this process)

        env = gym.make(env_id, render_mode="rgb_array")
        env.reset(seed=0)
        _RENDER_ENVS[env_id] = env
    return env


def clip_frames(env_id: str, recorded: np.ndarray) -> tuple[np.ndarray, float]:
    """The frames of one clip, enlarged (``(T, H, W, 3)`` uint8), and the rate they play at.

    :param env_id: the env that draws recorded states (made once per process, only when states need drawing).
    :param recorded: a segment's ``render_states``: frames, used as they are, or states, restored and drawn.
    """
    if is_frames(recorded):
        frames, native = recorded, RECORDED_FRAMES_FPS
    else:
        env = _render_env(env_id)
        frames, native = render_frames(env, recorded), float(env.metadata.get("render_fps") or 30)
    return enlarge(frames), min(native, len(recorded) / MIN_CLIP_SECONDS)


def _make_clip(env_id: str, recorded: np.ndarray, path: str) -> str:
    """Worker job: make and encode one clip; returns its path."""
    frames, fps = clip_frames(env_id, recorded)
    encode_webm(frames, path, fps)
    return path


def _init_worker() -> None:
    exit_with_parent()
    # No window and no sound device exist on a server; SDL (pygame) must not look for them.
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
    os.environ.setdefault("MUJOCO_GL", "egl")


class ClipSource(Protocol):
    """What the labelling server needs to show clip queries: readiness, and the file of each side."""

    media_type: str

    def prepare(self, comparison: Comparison) -> bool:
        """``True`` when both clips of ``comparison`` can be served; otherwise start making them."""
        ...

    def file(self, comparison_id: int, side: str) -> Path | None:
        """The finished clip file of one side, or ``None`` when there is none (yet)."""
        ...


class ClipLibrary:
    """Makes the clips of queried comparisons in a background process and keeps them in ``folder``.

    :param folder: where the ``<id>-left.webm`` / ``<id>-right.webm`` files go (the run folder's ``clips/``).
    :param env_id: the env whose ``rgb_array`` renderer draws recorded states (the run's training env); clips of
        recorded frames never make it.
    :param workers: rendering processes; one keeps a person supplied (a pair takes ~0.5 s to make).
    """

    media_type = MEDIA_TYPE

    def __init__(self, folder: str | os.PathLike[str], env_id: str, workers: int = 1) -> None:
        if workers < 1:
            raise ValueError(f"workers={workers!r} must be >= 1.")
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.env_id = env_id
        self.workers = workers
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None
        self._jobs: dict[Path, Future[str]] = {}
        self.failures: dict[int, str] = {}  # comparison id -> why its clips could not be made

    def file(self, comparison_id: int, side: str) -> Path | None:
        if side not in SIDES:
            return None
        path = self._path(comparison_id, side)
        return path if path.is_file() else None

    def prepare(self, comparison: Comparison) -> bool:
        paths = [self._path(comparison.id, side) for side in SIDES]
        if all(path.is_file() for path in paths):
            return True
        segments = (comparison.left, comparison.right)
        if any(segment.render_states is None for segment in segments):
            self.failures[comparison.id] = "its segments were stored without render states"
            return False
        with self._lock:
            for path, segment in zip(paths, segments):
                job = self._jobs.get(path)
                if job is not None and job.done() and job.exception() is not None:
                    if comparison.id not in self.failures:  # once, not at every poll of the page
                        logger.error("Cannot make clip %s: %s", path.name, job.exception())
                    self.failures[comparison.id] = f"making its clip failed: {job.exception()}"
                    continue
                if job is not None and job.done():
                    del self._jobs[path]  # finished: its file is on disk, the future is no longer needed
                elif job is None and not path.is_file():
                    self._jobs[path] = self._executor().submit(_make_clip, self.env_id, segment.render_states, str(path))
        return False

    def wait(self, comparison: Comparison, timeout: float = 30.0) -> bool:
        """Prepare and block until both clips exist (or ``timeout`` seconds pass); for scripts and tests."""
        if self.prepare(comparison):
            return True
        for side in SIDES:
            job = self._jobs.get(self._path(comparison.id, side))
            if job is not None:
                job.result(timeout=timeout)
        return self.prepare(comparison)

    def close(self) -> None:
        """Stop the rendering process now (clips in progress are abandoned; finished files stay)."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is None:
            return
        # shutdown(wait=False) alone still lets the interpreter's exit wait for the clip being rendered, which
        # on a busy machine kept `prefrl label` alive long after Ctrl-C; a half-written clip is only a `.part`.
        workers = list(getattr(pool, "_processes", {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.join(timeout=5)

    def _path(self, comparison_id: int, side: str) -> Path:
        return self.folder / f"{int(comparison_id)}-{side}.webm"

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            # spawn: a fork of a process running PPO's threads (and maybe a server) is not safe.
            self._pool = ProcessPoolExecutor(self.workers, mp_context=get_context("spawn"), initializer=_init_worker)
        return self._pool

    def __enter__(self) -> ClipLibrary:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

