"""Clips for the labelling page: simulator states recorded while PPO plays, videos rendered only when queried.

Rendering every step of every env would cost far more than the step itself (CartPole's ``rgb_array`` frame
takes about 1 ms, its physics step a few µs), and almost every segment is never shown to anyone. So:

1. while a person is the oracle, :class:`RenderStateRecorder` puts the simulator state *before* each step in
   ``info["render_state"]`` (a copy of a few floats: classic control's ``state``, MuJoCo's ``qpos``/``qvel``);
   without a person the wrapper is not installed and nothing is recorded;
2. segments carry those states into the comparison store with the query (so a stopped run's queries can
   still be shown by ``prefrl label``);
3. when a query is first handed to a person, :class:`ClipLibrary` restores each state into a render env in a
   separate process, grabs the frame and encodes the clip as VP8 WebM; the file is cached in the run folder.
   Debian's chromium reports H.264 MP4, VP8 and VP9 WebM all playable (``canPlayType`` says "probably"); VP8
   is royalty-free, and every Chromium build and Firefox play it (H.264 depends on how a browser was built).

Restoring states rather than replaying actions makes the clip exact even for envs whose dynamics are noisy.
"""

from __future__ import annotations

import logging
import os
import threading
from concurrent.futures import Future, ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Protocol

import gymnasium as gym
import numpy as np

from prefrl.processes import exit_with_parent
from prefrl.store import Comparison

__all__ = [
    "ClipLibrary",
    "ClipSource",
    "RenderStateRecorder",
    "encode_webm",
    "render_frames",
    "restore_state",
    "snapshot_state",
]

logger = logging.getLogger(__name__)

MEDIA_TYPE = "video/webm"
SIDES = ("left", "right")
MIN_CLIP_SECONDS = 1.5
"""A clip plays at the env's own frame rate, slowed down so that it lasts at least this long: 25 CartPole
steps at its 50 fps would flash by in half a second, too short to judge (the 2017 paper showed 1-2 s clips)."""


def snapshot_state(env: gym.Env) -> np.ndarray:
    """The state that determines what ``env`` renders, as a flat float64 array (a copy).

    MuJoCo envs: ``qpos`` then ``qvel``; classic-control envs: their ``state`` (and Pendulum's last torque,
    which its picture shows as an arrow).

    :raises TypeError: for an env that has neither; its clips cannot be re-rendered from states.
    """
    base = env.unwrapped
    data = getattr(base, "data", None)
    if hasattr(base, "set_state") and data is not None and hasattr(data, "qpos"):
        return np.concatenate([np.asarray(data.qpos, dtype=np.float64), np.asarray(data.qvel, dtype=np.float64)])
    state = getattr(base, "state", None)
    if state is not None:
        flat = np.array(state, dtype=np.float64).reshape(-1)
        if hasattr(base, "last_u"):  # Pendulum draws its last torque as an arrow: part of what a person sees
            flat = np.append(flat, np.nan if base.last_u is None else float(np.asarray(base.last_u).reshape(-1)[0]))
        return flat
    raise TypeError(
        f"{type(base).__name__} keeps its simulator state in neither `state` (classic control) nor "
        "`data.qpos`/`data.qvel` with `set_state` (MuJoCo), so its clips cannot be rendered for the labelling "
        "page; use a classic-control or MuJoCo env, or a synthetic oracle."
    )


def restore_state(env: gym.Env, state: np.ndarray) -> None:
    """Put ``env`` back into a state taken by :func:`snapshot_state` (only rendering is done afterwards)."""
    base = env.unwrapped
    if hasattr(base, "set_state") and getattr(base, "data", None) is not None:
        n_qpos = base.model.nq
        base.set_state(state[:n_qpos], state[n_qpos:])
        return
    old = np.asarray(base.state)
    if hasattr(base, "last_u"):
        base.last_u = None if np.isnan(state[-1]) else float(state[-1])
        state = state[:-1]
    base.state = state.reshape(old.shape).copy()  # float64, as the dynamics themselves produce


class RenderStateRecorder(gym.Wrapper):
    """Adds ``info["render_state"]``: the state before the step's action, so it lines up with the observation
    the action was chosen from (the segment's ``obs[t]``)."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self._before: np.ndarray | None = None

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(**kwargs)
        self._before = snapshot_state(self.env)
        return obs, info

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        info["render_state"] = self._before
        self._before = snapshot_state(self.env)
        return obs, reward, terminated, truncated, info


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


def _clip_fps(env: gym.Env, length: int) -> float:
    native = float(env.metadata.get("render_fps") or 30)
    return min(native, length / MIN_CLIP_SECONDS)


def _render_clip(env_id: str, states: np.ndarray, path: str) -> str:
    """Worker job: render and encode one clip; returns its path."""
    env = _render_env(env_id)
    encode_webm(render_frames(env, states), path, _clip_fps(env, len(states)))
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
    """Renders the clips of queried comparisons in a background process and keeps them in ``folder``.

    :param folder: where the ``<id>-left.webm`` / ``<id>-right.webm`` files go (the run folder's ``clips/``).
    :param env_id: the env whose ``rgb_array`` renderer draws the states (the run's training env).
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
                        logger.error("Cannot render clip %s: %s", path.name, job.exception())
                    self.failures[comparison.id] = f"rendering failed: {job.exception()}"
                    continue
                if job is not None and job.done():
                    del self._jobs[path]  # finished: its file is on disk, the future is no longer needed
                elif job is None and not path.is_file():
                    self._jobs[path] = self._executor().submit(_render_clip, self.env_id, segment.render_states, str(path))
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

