"""Frame stacks held once per frame: the memory of a segment of Atari observations.

An Atari observation is a stack of the last K = 4 frames, ``(K, 84, 84)`` ``uint8``, oldest first, so a 25-step
segment of them, ``(25, 4, 84, 84)``, shows each frame up to four times: 100 frames' worth of bytes for 28 distinct
frames. Both places that hold many segments keep each frame once and rebuild the stacks bit-exactly:

- the segment buffer, through :func:`share_frames`: the stacks become a read-only view into the distinct frames;
- the comparison store, through :func:`split_stacks` / :func:`join_stacks`: distinct frames plus, for every step and
  stack position, the index of its frame, which also covers a game reset inside a segment (the new game's first
  stack repeats its first frame; ``prefrl.atari.ResetOnTermination``).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def is_frame_stack(obs: np.ndarray) -> bool:
    """Whether a segment's observations ``(T, K, H, W)`` are stacks of ``uint8`` frames (Atari's layout).

    Checked by shape and dtype only; :func:`share_frames` and :func:`split_stacks` stay exact for any such array.
    """
    return obs.ndim == 4 and obs.dtype == np.uint8


def share_frames(obs: np.ndarray) -> np.ndarray:
    """``obs`` ``(T, K, H, W)`` as a read-only view into its ``T + K - 1`` distinct frames, when every stack is the
    previous one moved on by a frame; otherwise (a game reset inside the segment, or not a frame stack) a copy.

    The result equals ``obs`` element for element either way, so a caller cannot tell the two apart.
    """
    if not is_frame_stack(obs) or not np.array_equal(obs[1:, :-1], obs[:-1, 1:]):
        return obs.copy()
    frames = np.concatenate([obs[0], obs[1:, -1]])  # (T + K - 1, H, W): the first stack, then each new frame
    windows = sliding_window_view(frames, obs.shape[1], axis=0)  # (T, H, W, K), a view
    return np.moveaxis(windows, -1, 1)  # (T, K, H, W), still a view


def split_stacks(obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The frames of ``obs`` ``(T, K, H, W)`` each held once, ``(F, H, W)`` in order of first appearance, and the
    index ``(T, K)`` of every stack position's frame among them: ``frames[index]`` equals ``obs``.

    One sliding window (the usual case) is read off directly: its ``T + K - 1`` frames. Otherwise (a game reset
    inside the clip) frames are matched by content, which also merges a repeated frame.
    """
    steps, depth = obs.shape[:2]
    if np.array_equal(obs[1:, :-1], obs[:-1, 1:]):  # one sliding window (no reset inside): no hashing needed
        return np.concatenate([obs[0], obs[1:, -1]]), np.arange(steps)[:, None] + np.arange(depth)
    flat = obs.reshape(-1, *obs.shape[2:])  # (T*K, H, W)
    first_seen: dict[bytes, int] = {}
    index = np.empty(len(flat), dtype=np.int32)
    for position, frame in enumerate(flat):
        index[position] = first_seen.setdefault(frame.tobytes(), len(first_seen))
    distinct = np.unique(index, return_index=True)[1]  # position of each frame's first appearance, in frame order
    return flat[distinct], index.reshape(obs.shape[:2])


def join_stacks(frames: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Inverse of :func:`split_stacks`: the stacks ``(T, K, H, W)``, sharing frames (a view) where they overlap."""
    steps, depth = index.shape
    if np.array_equal(index, np.arange(steps)[:, None] + np.arange(depth)) and len(frames) == steps + depth - 1:
        return np.moveaxis(sliding_window_view(frames, depth, axis=0), -1, 1)  # (T, K, H, W), a view
    return frames[index]  # (T, K, H, W)
