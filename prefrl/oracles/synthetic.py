"""A synthetic oracle that reads the true reward, with the noise models of simulated human teachers.

Christiano et al. (2017, §3.1) answer queries with whichever segment has the higher true return; Lee et al.
(2021, "B-Pref") add the ways a person departs from that: a Bradley-Terry choice that is noisy when two
clips are close (``beta``), random mistakes (``mistake_rate``), a memory that favours the end of a clip
(``myopic_gamma``), "equal" for near-ties (``equal_margin``) and "can't tell" when neither clip shows
anything good (``skip_below``). All of them are fields of :class:`~prefrl.config.OracleConfig`.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from prefrl.config import OracleConfig, TrainConfig
from prefrl.oracles.base import register_oracle
from prefrl.types import Label, SegmentPair

# Code -> label, so that the labels of a whole batch are one fancy-index.
_LEFT, _RIGHT, _EQUAL, _CANT_TELL = 0, 1, 2, 3
_LABELS = np.array([Label.LEFT, Label.RIGHT, Label.EQUAL, Label.CANT_TELL], dtype=object)

# Floor of the return scale, so that beta * (R1 - R2) / scale stays finite when all returns seen are equal.
_MIN_SCALE = 1e-8


@register_oracle("synthetic")
class SyntheticOracle:
    """Labels pairs from their true rewards; seeded, so a run's labels are reproducible.

    For each pair, with discounted returns ``R_i = sum_t gamma^(T-1-t) r_t`` (``gamma`` = ``myopic_gamma``):

    1. both ``R_i < skip_below`` -> ``CANT_TELL``;
    2. ``|R_1 - R_2| <= equal_margin`` -> ``EQUAL``;
    3. otherwise ``LEFT`` with probability ``sigmoid(beta * (R_1 - R_2) / scale)`` (``beta = inf``: the higher
       return wins), where ``scale`` is the running standard deviation of every segment return this oracle
       has seen, so that one ``beta`` is equally noisy on every env whatever its reward units;
    4. a LEFT/RIGHT answer is flipped with probability ``mistake_rate``.

    :param config: the noise model.
    :param rng: a generator, a seed, or None for fresh entropy.
    """

    name = "synthetic"

    def __init__(self, config: OracleConfig = OracleConfig(), rng: np.random.Generator | int | None = None) -> None:
        if not isinstance(config, OracleConfig):
            raise TypeError(
                f"config={config!r} is a {type(config).__name__}; pass a prefrl.config.OracleConfig, "
                "e.g. OracleConfig(beta=1.0)."
            )
        self.config = config
        self.rng = np.random.default_rng(rng)
        # Running mean and sum of squared deviations of the returns seen (Welford / Chan et al.).
        self._count = 0
        self._mean = 0.0
        self._m2 = 0.0

    @classmethod
    def from_train_config(cls, config: TrainConfig) -> SyntheticOracle:
        """The oracle of a run: its noise model, seeded with the run's seed."""
        return cls(config.oracle, rng=config.run.seed)

    @property
    def return_scale(self) -> float:
        """Standard deviation of all segment returns seen so far; 1.0 until two have been seen."""
        if self._count < 2:
            return 1.0
        return max(math.sqrt(self._m2 / self._count), _MIN_SCALE)

    def label(self, pairs: Sequence[SegmentPair]) -> list[Label | None]:
        """One label per pair, computed for the whole batch at once."""
        if len(pairs) == 0:
            return []
        lengths = {segment.length for pair in pairs for segment in pair}
        if len(lengths) != 1:
            raise ValueError(
                f"pairs hold segments of lengths {sorted(lengths)}; the synthetic oracle compares returns, "
                "which only mean the same thing for equally long clips. Cut all segments to one length."
            )
        rewards = np.asarray([[left.true_rewards, right.true_rewards] for left, right in pairs], dtype=np.float64)
        t = rewards.shape[2]  # (N, 2, T)
        weights = self.config.myopic_gamma ** np.arange(t - 1, -1, -1, dtype=np.float64)  # (T,): gamma^(T-1-t)
        returns = rewards @ weights  # (N, 2)
        if not np.isfinite(returns).all():
            bad = int(np.flatnonzero(~np.isfinite(returns).all(axis=1))[0])
            raise ValueError(
                f"pair {bad} has a non-finite true return ({returns[bad].tolist()}); the synthetic oracle cannot "
                "rank it. Check the env's reward (or the reward function of its fixed-horizon variant)."
            )
        return self.label_returns(returns)

    def label_returns(self, returns: np.ndarray) -> list[Label]:
        """One label per row of ``returns`` ``(N, 2)``: steps 1-4 above on returns computed elsewhere.

        The language-model oracle (:mod:`prefrl.lm.oracle`) calls this with the programmatic rewards of two
        responses, so both sides share one noise model.
        """
        returns = np.asarray(returns, dtype=np.float64)
        if returns.ndim != 2 or returns.shape[1] != 2:
            raise ValueError(f"returns has shape {returns.shape}; pass one (left, right) row per pair, shape (N, 2).")
        if len(returns) == 0:
            return []
        cfg = self.config
        n = len(returns)
        self._update_scale(returns.ravel())
        diff = returns[:, 0] - returns[:, 1]  # (N,)

        # Draw both uniforms for every pair, whatever the branch, so one seed gives one random stream.
        choice_u = self.rng.random(n)  # (N,)
        mistake_u = self.rng.random(n)  # (N,)
        if math.isinf(cfg.beta):
            left = diff > 0
        else:
            z = cfg.beta * diff / self.return_scale
            prob_left = np.exp(-np.logaddexp(0.0, -z))  # sigmoid(z), without overflow for large |z|
            left = choice_u < prob_left
        left ^= mistake_u < cfg.mistake_rate

        codes = np.where(left, _LEFT, _RIGHT)
        codes = np.where(np.abs(diff) <= cfg.equal_margin, _EQUAL, codes)
        if cfg.skip_below is not None:
            codes = np.where((returns < cfg.skip_below).all(axis=1), _CANT_TELL, codes)
        return list(_LABELS[codes])

    def _update_scale(self, values: np.ndarray) -> None:
        """Merge a batch of returns into the running mean and variance (Chan et al.'s parallel update)."""
        count_b = values.size
        mean_b = float(values.mean())
        m2_b = float(((values - mean_b) ** 2).sum())
        total = self._count + count_b
        delta = mean_b - self._mean
        self._mean += delta * count_b / total
        self._m2 += m2_b + delta**2 * self._count * count_b / total
        self._count = total
