"""What is kept of each step so that a person can later watch it: the picture itself, or a state to redraw it from.

Two kinds of env, two ways (issue 7):

- **pixel envs** (ALE Atari games, MinAtar) produce a picture every step anyway and have no small state that
  could be restored cheaply, so the full-colour frame the game drew is kept, *before* any preprocessing
  (grayscale, 84x84, frame stacks): a person sees what a player sees, and the clip is those frames, drawn once;
- **physics envs** (classic control, MuJoCo) draw a frame in ~1 ms but step in µs, and almost no segment is ever
  shown, so a few floats of simulator state are kept and only queried clips are redrawn from them
  (:func:`restore_state`, in the clip renderer's process).

:data:`SNAPSHOTS` is the one place that decides which an env gets (the first entry that fits); an env that fits
none is refused with an error naming them all. The two kinds tell themselves apart by their arrays: a frame
is ``(H, W, 3)`` uint8 (:func:`is_frames`), a state a flat float64 vector.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Callable

import gymnasium as gym
import numpy as np

__all__ = ["SNAPSHOTS", "Snapshot", "is_frames", "restore_state", "snapshot", "snapshot_for"]


@dataclass(frozen=True)
class Snapshot:
    """One way to keep a step for its clip, and the envs it serves.

    :param name: what is kept, for errors and docs (``"ALE screen"``).
    :param envs: which envs it serves, in words, for the error that lists what is supported.
    :param fits: whether an (unwrapped) env is one of them.
    :param take: the (unwrapped) env's current picture ``(H, W, 3)`` uint8 or state ``(n,)`` float64, as a copy.
    """

    name: str
    envs: str
    fits: Callable[[Any], bool]
    take: Callable[[Any], np.ndarray]


def _ale_screen(base: Any) -> np.ndarray:
    # The emulator's own 210x160 colour screen (a fresh array each call): what AtariPreprocessing later turns
    # into an 84x84 grayscale frame. The grab costs ~20 µs, against ~400 µs for a step at frame skip 4.
    return np.asarray(base.ale.getScreenRGB(), dtype=np.uint8)


@functools.lru_cache(maxsize=None)
def _minatar_palette(channels: int) -> np.ndarray:
    """Black for an empty cell, then seaborn's cubehelix colour per channel: the colours of MinAtar's own
    viewer (``Environment.display_state``) and of its gym ``rgb_array`` render, as uint8 ``(channels + 1, 3)``."""
    import seaborn  # a dependency of minatar itself, already imported by minatar.gym

    colours = [(0.0, 0.0, 0.0), *seaborn.color_palette("cubehelix", channels)]
    return np.round(np.asarray(colours) * 255).astype(np.uint8)


def _minatar_picture(base: Any) -> np.ndarray:
    grid = base.game.state()  # (10, 10, C) bool: one channel per kind of object
    channels = grid.shape[-1]
    # As MinAtar draws it: a cell shows its highest-numbered object channel (0 = empty).
    index = np.amax(grid * np.arange(1, channels + 1, dtype=np.int64), axis=2)  # (10, 10)
    return _minatar_palette(channels)[index]  # (10, 10, 3); the clip maker enlarges it


def _mujoco_fits(base: Any) -> bool:
    return hasattr(base, "set_state") and hasattr(getattr(base, "data", None), "qpos")


def _mujoco_state(base: Any) -> np.ndarray:
    return np.concatenate([np.asarray(base.data.qpos, dtype=np.float64), np.asarray(base.data.qvel, dtype=np.float64)])


def _classic_state(base: Any) -> np.ndarray:
    flat = np.array(base.state, dtype=np.float64).reshape(-1)
    if hasattr(base, "last_u"):  # Pendulum draws its last torque as an arrow: part of what a person sees
        flat = np.append(flat, np.nan if base.last_u is None else float(np.asarray(base.last_u).reshape(-1)[0]))
    return flat


SNAPSHOTS: tuple[Snapshot, ...] = (
    Snapshot("ALE screen", "ALE Atari games (ale-py)", lambda base: hasattr(base, "ale"), _ale_screen),
    Snapshot("MinAtar picture", "MinAtar games", lambda base: hasattr(getattr(base, "game", None), "n_channels"),
             _minatar_picture),
    Snapshot("MuJoCo state", "MuJoCo envs (qpos, qvel and set_state)", _mujoco_fits, _mujoco_state),
    Snapshot("classic-control state", "classic-control envs (a `state` attribute)", lambda base: hasattr(base, "state"),
             _classic_state),
)
"""Checked in order; pictures first, so a pixel env that also has a ``state`` attribute still keeps its frames."""


def snapshot_for(env: gym.Env) -> Snapshot:
    """How ``env``'s steps are kept for clips: the first of :data:`SNAPSHOTS` that fits it.

    :raises TypeError: for an env none fits; its clips cannot be shown on the labelling page.
    """
    base = env.unwrapped
    for way in SNAPSHOTS:
        if way.fits(base):
            return way
    supported = "; ".join(way.envs for way in SNAPSHOTS)
    raise TypeError(
        f"{type(base).__name__} has neither a picture prefrl can grab nor a simulator state it can restore, so "
        f"its clips cannot be shown on the labelling page. Supported: {supported}. Use one of those, or a "
        "synthetic oracle (--oracle synthetic)."
    )


def snapshot(env: gym.Env) -> np.ndarray:
    """``env``'s current frame or simulator state (a copy), whichever :func:`snapshot_for` picks."""
    return snapshot_for(env).take(env.unwrapped)


def is_frames(recorded: np.ndarray) -> bool:
    """Whether a segment's recorded steps ``(T, ...)`` are pictures ``(T, H, W, 3)`` uint8 rather than states."""
    return recorded.dtype == np.uint8 and recorded.ndim == 4 and recorded.shape[-1] == 3


def restore_state(env: gym.Env, state: np.ndarray) -> None:
    """Put ``env`` back into a state taken by :func:`snapshot` of a physics env (only rendering follows)."""
    base = env.unwrapped
    if _mujoco_fits(base):
        n_qpos = base.model.nq
        base.set_state(state[:n_qpos], state[n_qpos:])
        return
    old = np.asarray(base.state)
    if hasattr(base, "last_u"):
        base.last_u = None if np.isnan(state[-1]) else float(state[-1])
        state = state[:-1]
    base.state = state.reshape(old.shape).copy()  # float64, as the dynamics themselves produce
