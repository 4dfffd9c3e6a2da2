"""The nouns every stage shares: segments, labels, and the small protocols that are the swap points.

Kept at the bottom of the import graph: this module imports nothing from ``prefrl``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol, Sequence, runtime_checkable

import numpy as np


class Label(str, Enum):
    """An answer to "which of these two clips is better?".

    ``CANT_TELL`` is kept in the store (a person's time was spent on it, and its share is worth
    watching) but never trained on (Christiano et al. 2017, section 2.2.2).
    """

    LEFT = "left"
    RIGHT = "right"
    EQUAL = "equal"
    CANT_TELL = "cant_tell"

    @property
    def prefer_left_prob(self) -> float | None:
        """μ(1), the probability mass the label puts on the left (first) segment; ``None`` when untrainable."""
        return _PREFER_LEFT_PROB[self]

    @classmethod
    def parse(cls, value: object) -> "Label":
        """Turn user input (``"left"``, ``"first"``, ``Label.LEFT``) into a label, with an error that lists
        what is allowed. ``first``/``second``/``skip`` are accepted as the names the paper's setting uses."""
        if isinstance(value, Label):
            return value
        text = str(value).strip().lower()
        text = _ALIASES.get(text, text)
        try:
            return cls(text)
        except ValueError:
            allowed = ", ".join(repr(label.value) for label in cls)
            raise ValueError(f"label={value!r} is not a label; use one of {allowed}.") from None


_ALIASES = {"first": "left", "second": "right", "skip": "cant_tell"}

_PREFER_LEFT_PROB: dict[Label, float | None] = {
    Label.LEFT: 1.0,
    Label.RIGHT: 0.0,
    Label.EQUAL: 0.5,
    Label.CANT_TELL: None,
}


@dataclass(frozen=True)
class MemberReturns:
    """What each reward-ensemble member predicted for a whole segment, and which weights predicted it.

    Recorded while PPO steps (the wrapper's reward call computes every member anyway), so query selection can
    rank pairs without running the net over clips again, as long as the weights have not changed since.

    :param weights_version: the ensemble's ``weights_version()`` when the steps were scored.
    :param returns: each member's raw predicted return over the segment, ``(N,)``.
    """

    weights_version: tuple[int, ...]
    returns: np.ndarray


@dataclass(frozen=True)
class Segment:
    """A fixed-length piece of one episode, as the policy lived it.

    The true reward travels with the segment so that the synthetic oracle, plots and evaluation can read
    it; the agent never sees it.

    :param obs: observations ``o_t`` before each action, shape ``(T, *obs_shape)``; where the reward net reads the
        step's outcome too (``RewardConfig.next_obs``), what it reads of ``o_t`` and ``o_t+1``
        (``prefrl.reward.transitions``), so that the clip is scored and fit on exactly what PPO was paid for.
    :param actions: the actions ``a_t`` sent to the env (already clipped to a Box's bounds), ``(T, *act_shape)``.
    :param true_rewards: the env's hidden reward for each step, ``(T,)``.
    :param env_index: which of the parallel envs it came from.
    :param timestep: the global policy timestep at which its last step was taken.
    :param render_states: what each step looked like before its action, recorded only when a person will watch
        clips: a pixel game's own colour frame ``(T, H, W, 3)`` uint8, the clip itself, or a physics env's
        simulator state ``(T, n)``, restored one by one to re-render the clip without replaying the env.
    :param member_returns: the reward ensemble's per-member returns, when the steps were scored by one version of
        its weights (:class:`MemberReturns`); a cache for query selection, never stored.
    """

    obs: np.ndarray
    actions: np.ndarray
    true_rewards: np.ndarray
    env_index: int = 0
    timestep: int = 0
    render_states: np.ndarray | None = field(default=None, compare=False, repr=False)
    member_returns: MemberReturns | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        length = len(self.true_rewards)
        lengths = [len(self.obs), len(self.actions)]
        if self.render_states is not None:
            lengths.append(len(self.render_states))
        if any(n != length for n in lengths):
            raise ValueError(
                f"Segment parts differ in length: obs {len(self.obs)}, actions {len(self.actions)}, "
                f"true_rewards {length}"
                + ("" if self.render_states is None else f", render_states {len(self.render_states)}")
                + "; each must have one entry per step."
            )

    @property
    def length(self) -> int:
        return len(self.true_rewards)

    @property
    def true_return(self) -> float:
        return float(np.sum(self.true_rewards))


SegmentPair = tuple[Segment, Segment]


@runtime_checkable
class Oracle(Protocol):
    """Compares pairs of segments.

    ``label`` returns one entry per pair: a :class:`Label`, or ``None`` when the answer will arrive later
    (a person labelling in a browser writes it into the comparison store directly).
    """

    name: str

    def label(self, pairs: Sequence[SegmentPair]) -> list[Label | None]: ...


@runtime_checkable
class RewardFunction(Protocol):
    """Anything that scores (observation, action) pairs: the learned ensemble, or a user's own function."""

    def predict(self, obs: np.ndarray, actions: np.ndarray) -> np.ndarray:
        """Rewards for a batch: ``obs`` ``(B, *obs_shape)``, ``actions`` ``(B, *act_shape)`` -> ``(B,)``."""
        ...


@runtime_checkable
class EnsembleRewardFunction(RewardFunction, Protocol):
    """A reward function that is an ensemble: one call also gives each member's raw reward, and its weights carry
    a version, so what the members said about a step can be reused until the weights change."""

    def predict_members(self, obs: np.ndarray, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(predict(obs, actions), raw per-member rewards (N, B))`` from one pass."""
        ...

    def weights_version(self) -> tuple[int, ...]:
        """Changes whenever the weights do."""
        ...
