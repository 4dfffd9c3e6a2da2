"""The query stage: from recent segments to labels committed in the store.

Each call asks for what the schedule says is due: the selector picks pairs, the pairs are written to the
store as pending queries *before* anyone answers, then the oracle's answers are committed. An oracle that
answers later (a person) returns ``None`` and writes into the store itself; nothing is lost either way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from prefrl.reward.nets import RewardEnsemble
from prefrl.schedule import LabelSchedule
from prefrl.selection import Selector
from prefrl.store import ComparisonStore
from prefrl.types import Oracle, Segment


@dataclass
class QueryRound:
    """What one round asked and got back."""

    asked: int
    answered: int


class Labeler:
    """Asks the oracle about the pairs the selector picks, as many as the schedule allows.

    :param oracle: answers pairs (now, or later through the store).
    :param selector: picks the pairs.
    :param schedule: how many labels are due after a number of timesteps.
    :param store: where queries and labels are committed.
    :param rng: randomness of the selector.
    """

    def __init__(
        self,
        oracle: Oracle,
        selector: Selector,
        schedule: LabelSchedule,
        store: ComparisonStore,
        rng: np.random.Generator,
    ) -> None:
        self.oracle = oracle
        self.selector = selector
        self.schedule = schedule
        self.store = store
        self.rng = rng

    @property
    def asked(self) -> int:
        """Queries asked so far in this run (read from the store, so a resumed run continues the count)."""
        return self.store.counts()["asked"]

    def ask_due(self, timesteps: int, segments: list[Segment], model: RewardEnsemble) -> QueryRound:
        """Ask what is due after ``timesteps``; needs at least two segments."""
        due = self.schedule.due(timesteps, self.asked)
        if due == 0 or len(segments) < 2:
            return QueryRound(0, 0)
        return self.ask(due, timesteps, segments, model)

    def ask(self, n_pairs: int, timesteps: int, segments: list[Segment], model: RewardEnsemble) -> QueryRound:
        """Select ``n_pairs`` pairs, commit them as pending queries, then commit the oracle's answers."""
        index = self.selector.select(segments, n_pairs, model, self.rng)  # (n_pairs, 2)
        pairs = [(segments[i], segments[j]) for i, j in index.tolist()]
        ids = self.store.add_queries(pairs, oracle=self.oracle.name, timestep=timesteps)
        labels = self.oracle.label(pairs)
        answered = self.store.answer_many(ids, labels, annotator=self.oracle.name)
        return QueryRound(len(ids), answered)
