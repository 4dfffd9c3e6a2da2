"""The synthetic oracle for responses: the control oracle's noise model on a programmatic reward.

Labels come from :meth:`prefrl.oracles.synthetic.SyntheticOracle.label_returns`, so ``beta`` (scaled by the
running std of rewards), ``mistake_rate``, ``equal_margin`` and ``skip_below`` mean exactly what they mean for
trajectory clips. ``myopic_gamma`` weighs a response's words as it weighs a clip's steps: word t of L gets
γ^(L−1−t), so a myopic rater remembers the end of a response best.
"""

from __future__ import annotations

from typing import Protocol, Sequence

import numpy as np

from prefrl.config import OracleConfig
from prefrl.oracles.synthetic import SyntheticOracle
from prefrl.types import Label


class WordRewards(Protocol):
    """A programmatic reward that credits each word of a response (the task's ``word_rewards``)."""

    def __call__(self, prompt: str, response: str) -> np.ndarray: ...


class ResponseOracle:
    """Compares two responses to the same prompt by their (discounted) programmatic rewards.

    :param word_rewards: per-word reward of a response, e.g. :meth:`prefrl.lm.task.SentimentTask.word_rewards`.
    :param config: the noise model shared with the control oracle.
    :param rng: a generator, a seed, or None for fresh entropy.
    """

    name = "lm-synthetic"

    def __init__(
        self,
        word_rewards: WordRewards,
        config: OracleConfig = OracleConfig(),
        rng: np.random.Generator | int | None = None,
    ) -> None:
        self.word_rewards = word_rewards
        self._oracle = SyntheticOracle(config, rng)

    @property
    def config(self) -> OracleConfig:
        return self._oracle.config

    def returns(self, prompts: Sequence[str], responses: Sequence[str]) -> np.ndarray:
        """Σₜ γ^(L−1−t) rₜ of each response, ``(N,)``; the plain reward sum when ``myopic_gamma`` = 1."""
        gamma = self.config.myopic_gamma
        totals = np.empty(len(responses), dtype=np.float64)
        for index, (prompt, response) in enumerate(zip(prompts, responses)):
            rewards = self.word_rewards(prompt, response)  # (L,)
            totals[index] = rewards @ gamma ** np.arange(len(rewards) - 1, -1, -1, dtype=np.float64)
        return totals

    def label(self, prompts: Sequence[str], left: Sequence[str], right: Sequence[str]) -> list[Label]:
        """One label per (prompt, left response, right response)."""
        if not len(prompts) == len(left) == len(right):
            raise ValueError(
                f"got {len(prompts)} prompts, {len(left)} left and {len(right)} right responses; pass one of each "
                "per comparison."
            )
        returns = np.stack([self.returns(prompts, left), self.returns(prompts, right)], axis=1)  # (N, 2)
        return self._oracle.label_returns(returns)
