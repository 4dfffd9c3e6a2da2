"""How many labels to ask for, and when (Christiano et al. 2017, appendix A).

A share of the budget (or a fixed count: the paper's Atari runs asked 500) is asked before PPO's first update
(the paper pre-trains r̂ on clips of the initial random policy); the rest arrives at a rate proportional to T₀ / (T + T₀), so the cumulative count
after T timesteps is proportional to log(1 + T/T₀), reaching the whole budget at the end of the run, or earlier
where the config sets a deadline (``QueryConfig.label_deadline``): PPO then spends the rest of the run on a reward
that no longer moves.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from prefrl.config import QueryConfig


@dataclass(frozen=True)
class LabelSchedule:
    """Cumulative label targets over a run.

    :param budget: total labels for the run.
    :param total_timesteps: policy timesteps by which the whole budget is due (the run's length, or its
        ``label_deadline`` share of it); the target equals ``budget`` from there on.
    :param initial_fraction: share of ``budget`` due at timestep 0.
    :param decay_timesteps: T₀ of the rate T₀ / (T + T₀); small = front-loaded, large = nearly uniform
        (the paper's Atari runs: 5·10⁶, a rate proportional to 5·10⁶ / (T + 5·10⁶)).
    :param initial_count: labels due at timestep 0 as a count, in place of ``initial_fraction``; 0 = use the fraction.
    """

    budget: int
    total_timesteps: int
    initial_fraction: float = 0.25
    decay_timesteps: float = 25_000.0
    initial_count: int = 0

    def __post_init__(self) -> None:
        if self.budget < 1:
            raise ValueError(f"budget={self.budget!r}: a label schedule needs a budget of at least 1 label.")
        if self.total_timesteps < 1:
            raise ValueError(f"total_timesteps={self.total_timesteps!r} must be >= 1.")
        if self.decay_timesteps <= 0:
            raise ValueError(f"decay_timesteps={self.decay_timesteps!r} must be > 0.")
        if self.initial_count < 0:
            raise ValueError(f"initial_count={self.initial_count!r} must be >= 0 (0 = use initial_fraction).")

    @property
    def initial(self) -> int:
        """Labels asked before PPO's first update (at least one, so r̂ is never untrained)."""
        count = self.initial_count or round(self.initial_fraction * self.budget)
        return min(self.budget, max(1, count))

    def target(self, timesteps: int) -> int:
        """Labels that should have been asked in total after ``timesteps`` policy steps."""
        rest = self.budget - self.initial
        progress = math.log1p(max(0, timesteps) / self.decay_timesteps) / math.log1p(
            self.total_timesteps / self.decay_timesteps
        )
        return self.initial + min(rest, math.floor(rest * min(1.0, progress)))

    def due(self, timesteps: int, asked: int) -> int:
        """Labels to ask now, given ``asked`` so far (never negative, never beyond the budget)."""
        return max(0, self.target(timesteps) - asked)


def label_schedule(query: QueryConfig, timesteps: int) -> LabelSchedule:
    """The schedule a run of ``timesteps`` policy steps asks its labels by, as ``query`` configures it.

    Labels are spread over the first ``label_deadline`` share of the run; a T₀ given as ``decay_fraction`` is a
    share of that span, so a deadline compresses the schedule's shape rather than cutting off its tail.
    """
    labeling_timesteps = max(1, round(query.label_deadline * timesteps))
    return LabelSchedule(
        budget=query.labels,
        total_timesteps=labeling_timesteps,
        initial_fraction=query.initial_fraction,
        decay_timesteps=query.decay_timesteps or query.decay_fraction * labeling_timesteps,
        initial_count=query.initial_labels,
    )
