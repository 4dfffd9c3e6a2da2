"""Cutting fixed-length segments out of the steps PPO already collects.

Segments come from PPO's own rollouts (never from resetting envs behind its back, DESIGN.md), across all
parallel envs, and never cross an episode end: a clip that jumps from one episode into the next would show
the oracle a teleport and mix two unrelated returns. Steps are carried over between rollouts, so a segment
may span two rollouts of one episode. Frame stacks (Atari) are kept with each frame once (``prefrl.frames``):
a buffer of 1000 Pong segments holds 28 rather than 100 frames of 84×84 bytes each.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Iterable, Iterator

import numpy as np

from prefrl.frames import share_frames
from prefrl.types import MemberReturns, Segment


@dataclass(frozen=True)
class StepBatch:
    """Steps of all envs over a stretch of time: ``obs (T, E, *obs)`` (what the reward net read: o, or what it
    reads of o and o'), ``actions (T, E, *act)``,
    ``true_rewards (T, E)``, ``dones (T, E)``; ``first_timestep`` is the global timestep before the first row.
    ``render_states (T, E, *state)`` is present only when clips will be shown to a person. ``member_rewards
    (T, E, N)`` are the reward ensemble's raw per-member rewards of the steps, all from the weights of version
    ``scored_by``, when the reward function is an ensemble."""

    obs: np.ndarray
    actions: np.ndarray
    true_rewards: np.ndarray
    dones: np.ndarray
    first_timestep: int = 0
    render_states: np.ndarray | None = None
    member_rewards: np.ndarray | None = None
    scored_by: tuple[int, ...] | None = None

    def __len__(self) -> int:
        return int(self.true_rewards.shape[0])


class SegmentCutter:
    """Turns per-env step streams into consecutive, non-overlapping segments of ``length`` steps.

    :param n_envs: number of parallel envs in each :class:`StepBatch`.
    :param length: steps per segment.
    """

    def __init__(self, n_envs: int, length: int) -> None:
        if length < 2:
            raise ValueError(f"length={length!r}: a segment needs at least 2 steps.")
        self.n_envs = n_envs
        self.length = length
        # Steps of each env's current episode that do not yet fill a segment: (obs, actions, rewards[, states]).
        self._carry: list[tuple[np.ndarray, ...] | None] = [None] * n_envs
        # The carried steps' member rewards (rows, N) and the weights version that gave them, where known.
        self._carry_scores: list[tuple[tuple[int, ...], np.ndarray] | None] = [None] * n_envs

    def add(self, steps: StepBatch) -> list[Segment]:
        """Cut every complete segment out of the carried steps plus ``steps``; keep the incomplete tail."""
        if steps.true_rewards.shape[1:] != (self.n_envs,):
            raise ValueError(f"steps have {steps.true_rewards.shape[1:]} envs, the cutter was built for {self.n_envs}.")
        segments: list[Segment] = []
        n_envs = self.n_envs
        streams = [steps.obs, steps.actions, steps.true_rewards]
        if steps.render_states is not None:
            streams.append(steps.render_states)
        for env in range(n_envs):  # one pass per env and rollout, not per step
            parts = [stream[:, env] for stream in streams]
            carry = self._carry[env]
            offset = 0
            if carry is not None:
                offset = len(carry[0])
                parts = [np.concatenate([old, new]) for old, new in zip(carry, parts)]
            total = len(parts[0])
            scored = self._member_scores(steps, env, offset)  # (version, (total, N) with NaN where unknown), or None
            ends = np.flatnonzero(steps.dones[:, env]) + offset + 1  # exclusive end of each finished episode
            start = 0
            for end in [*ends.tolist(), None]:
                stop = total if end is None else end
                n_full = (stop - start) // self.length
                for k in range(n_full):
                    lo, hi = start + k * self.length, start + (k + 1) * self.length
                    timestep = steps.first_timestep + (hi - offset) * n_envs
                    actions, rewards, *states = (part[lo:hi].copy() for part in parts[1:])
                    obs = share_frames(parts[0][lo:hi])  # a copy, or a view of its distinct frames
                    member_returns = None
                    if scored is not None and not np.isnan(scored[1][lo:hi]).any():
                        member_returns = MemberReturns(scored[0], scored[1][lo:hi].sum(0))
                    segments.append(
                        Segment(obs, actions, rewards, env, timestep, states[0] if states else None, member_returns)
                    )
                if end is None:
                    tail = start + n_full * self.length
                    self._carry[env] = tuple(part[tail:] for part in parts) if tail < stop else None
                    self._carry_scores[env] = (scored[0], scored[1][tail:]) if scored is not None and tail < stop else None
                start = stop
        return segments

    def _member_scores(self, steps: StepBatch, env: int, offset: int) -> tuple[tuple[int, ...], np.ndarray] | None:
        """The weights version of the new steps and the member rewards of env ``env``'s carried plus new steps,
        ``(offset + T, N)``, NaN for carried steps that another version scored (or nobody); None when the new steps
        have none."""
        if steps.member_rewards is None or steps.scored_by is None:
            return None
        new = steps.member_rewards[:, env].astype(np.float64)  # (T, N); summed in float64
        carried = self._carry_scores[env]
        if offset and carried is not None and carried[0] == steps.scored_by:
            new = np.concatenate([carried[1], new])
        elif offset:
            new = np.concatenate([np.full((offset, new.shape[1]), np.nan), new])
        return steps.scored_by, new


class SegmentBuffer:
    """The most recent segments, bounded: older behaviour is not worth asking about (the policy moved on)."""

    def __init__(self, capacity: int) -> None:
        if capacity < 2:
            raise ValueError(f"capacity={capacity!r}: keep at least 2 segments so a pair can be formed.")
        self._segments: deque[Segment] = deque(maxlen=capacity)

    def extend(self, segments: Iterable[Segment]) -> None:
        self._segments.extend(segments)

    def __len__(self) -> int:
        return len(self._segments)

    def __iter__(self) -> Iterator[Segment]:
        return iter(self._segments)

    def snapshot(self) -> list[Segment]:
        """A stable list of the segments now held (selection indexes into it)."""
        return list(self._segments)
