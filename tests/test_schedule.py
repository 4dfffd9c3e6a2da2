"""The label schedule: an initial share, then a decaying rate; exactly the budget by the end."""

import math

import pytest

from prefrl.config import QueryConfig
from prefrl.schedule import LabelSchedule, label_schedule


def test_spends_exactly_the_budget_whatever_the_rollout_size():
    for budget, total, rollout in [(100, 100_000, 256), (7, 1000, 999), (300, 150_000, 2048), (1, 10, 3)]:
        schedule = LabelSchedule(budget, total, initial_fraction=0.25, decay_timesteps=0.25 * total)
        asked = schedule.due(0, 0)
        t = 0
        while t < total:
            t += rollout
            asked += schedule.due(t, asked)
        assert asked == budget


def test_initial_share_and_decaying_rate():
    schedule = LabelSchedule(100, 100_000, initial_fraction=0.25, decay_timesteps=25_000)
    assert schedule.target(0) == 25
    # cumulative ∝ log(1 + T/T0): after T0 steps, 75 * ln 2 / ln 5 = 32.3 of the remaining 75
    assert schedule.target(25_000) == 25 + math.floor(75 * math.log(2) / math.log(5))
    first_half = schedule.target(50_000) - schedule.target(0)
    second_half = schedule.target(100_000) - schedule.target(50_000)
    assert first_half > 1.5 * second_half  # the rate decays
    assert schedule.target(10**9) == 100


def test_zero_budget_is_a_clear_error():
    with pytest.raises(ValueError, match="budget"):
        LabelSchedule(0, 1000)


def test_initial_labels_as_a_count_and_an_absolute_decay():
    """The paper's Atari schedule: 500 labels first, then a rate proportional to 5e6 / (T + 5e6)."""
    schedule = LabelSchedule(3300, 10_000_000, initial_fraction=0.25, decay_timesteps=5e6, initial_count=500)
    assert schedule.initial == schedule.target(0) == 500
    assert schedule.target(5_000_000) == 500 + math.floor(2800 * math.log(2) / math.log(3))
    assert schedule.target(10_000_000) == 3300
    assert LabelSchedule(10, 100, initial_count=50).initial == 10  # never beyond the budget


def test_a_label_deadline_compresses_the_schedule_into_its_share_of_the_run():
    """CartPole's preset: 100 labels, every one asked by 60% of 200k steps, T0 a quarter of those 120k steps."""
    schedule = label_schedule(QueryConfig(labels=100, label_deadline=0.6), 200_000)
    assert schedule.total_timesteps == 120_000 and schedule.decay_timesteps == 30_000
    assert schedule.target(0) == 25
    assert schedule.target(30_000) == 25 + math.floor(75 * math.log(2) / math.log(5))  # 57
    assert schedule.target(60_000) == 25 + math.floor(75 * math.log(3) / math.log(5))  # 76
    assert schedule.target(119_000) < 100 == schedule.target(120_000) == schedule.target(200_000)
    # Without a deadline the labels run to the end of the run, as in the paper.
    assert label_schedule(QueryConfig(labels=100), 200_000) == LabelSchedule(100, 200_000, 0.25, 50_000.0, 0)
    # An absolute T0 stays absolute.
    assert label_schedule(QueryConfig(labels=100, decay_timesteps=5000, label_deadline=0.5), 10_000).decay_timesteps == 5000


@pytest.mark.parametrize("deadline", [0.0, -0.5, 1.5])
def test_a_label_deadline_outside_the_run_is_a_clear_error(deadline):
    with pytest.raises(ValueError, match="label_deadline"):
        QueryConfig(label_deadline=deadline)
