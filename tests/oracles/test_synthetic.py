"""SyntheticOracle: each noise model checked against a hand-computed expectation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from prefrl.config import OracleConfig
from prefrl.oracles import ORACLES, Oracle, SyntheticOracle, make_oracle
from prefrl.types import Label, Segment, SegmentPair


def segment(rewards: np.ndarray | list[float]) -> Segment:
    rewards = np.asarray(rewards, dtype=np.float64)
    return Segment(obs=np.zeros((len(rewards), 1)), actions=np.zeros((len(rewards), 1)), true_rewards=rewards)


def pairs_from_returns(left: np.ndarray, right: np.ndarray) -> list[SegmentPair]:
    """One-step segments whose returns are exactly the given values."""
    return [(segment([a]), segment([b])) for a, b in zip(left, right)]


def test_deterministic_oracle_picks_the_higher_return_and_equal_on_ties() -> None:
    oracle = SyntheticOracle(rng=0)
    pairs = [
        (segment([1.0, 0.0, 0.0]), segment([0.0, 0.0, 0.5])),  # 1.0 vs 0.5
        (segment([0.0, 0.0, 0.0]), segment([0.0, 0.1, 0.0])),  # 0.0 vs 0.1
        (segment([0.2, 0.3, 0.0]), segment([0.0, 0.3, 0.2])),  # 0.5 vs 0.5, a tie
    ]
    assert oracle.label(pairs) == [Label.LEFT, Label.RIGHT, Label.EQUAL]


def test_equal_margin_turns_near_ties_into_equal() -> None:
    oracle = SyntheticOracle(OracleConfig(equal_margin=0.25), rng=0)
    pairs = [(segment([1.0]), segment([0.8])), (segment([1.0]), segment([0.7]))]
    assert oracle.label(pairs) == [Label.EQUAL, Label.LEFT]


def test_mistake_rate_flips_that_share_of_answers() -> None:
    n = 20_000
    rng = np.random.default_rng(1)
    left = rng.normal(size=n)
    right = left + rng.choice([-1.0, 1.0], size=n) * rng.uniform(0.5, 2.0, size=n)  # never a tie
    correct = [Label.LEFT if a > b else Label.RIGHT for a, b in zip(left, right)]
    labels = SyntheticOracle(OracleConfig(mistake_rate=0.2), rng=2).label(pairs_from_returns(left, right))
    flip_rate = sum(got != want for got, want in zip(labels, correct)) / n
    assert abs(flip_rate - 0.2) <= 0.015
    assert set(labels) <= {Label.LEFT, Label.RIGHT}


def test_beta_one_at_one_scale_of_difference_prefers_with_sigmoid_one() -> None:
    # Pairs (c + 1/2, c - 1/2) with c = +-sqrt(3)/2 in equal numbers: every return difference is 1, and the
    # returns' mean is 0 with variance 1/4 + 3/4 = 1, so the oracle's learned scale is exactly 1.
    n = 20_000
    centres = np.where(np.arange(n) % 2 == 0, math.sqrt(3) / 2, -math.sqrt(3) / 2)
    oracle = SyntheticOracle(OracleConfig(beta=1.0), rng=3)
    labels = oracle.label(pairs_from_returns(centres + 0.5, centres - 0.5))
    assert oracle.return_scale == pytest.approx(1.0)
    expected = 1.0 / (1.0 + math.exp(-1.0))  # sigmoid(beta * 1 / 1) = 0.7311
    assert abs(labels.count(Label.LEFT) / n - expected) <= 0.02
    assert labels.count(Label.LEFT) + labels.count(Label.RIGHT) == n


def test_beta_is_relative_to_the_scale_of_returns() -> None:
    # The same pairs in units 100x larger give the same preference rate: beta means the same on every env.
    n = 4_000
    centres = np.where(np.arange(n) % 2 == 0, math.sqrt(3) / 2, -math.sqrt(3) / 2)
    rates = []
    for unit in (1.0, 100.0):
        oracle = SyntheticOracle(OracleConfig(beta=1.0), rng=4)
        labels = oracle.label(pairs_from_returns(unit * (centres + 0.5), unit * (centres - 0.5)))
        rates.append(labels.count(Label.LEFT) / n)
    assert rates[0] == rates[1]


def test_myopic_gamma_prefers_a_late_reward_over_an_early_bigger_one() -> None:
    late = segment([0.0, 0.0, 1.0])  # discounted by gamma=0.5: 1.0
    early = segment([1.5, 0.0, 0.0])  # discounted by gamma=0.5: 1.5 * 0.25 = 0.375
    assert SyntheticOracle(rng=0).label([(late, early)]) == [Label.RIGHT]
    assert SyntheticOracle(OracleConfig(myopic_gamma=0.5), rng=0).label([(late, early)]) == [Label.LEFT]


def test_skip_below_answers_cant_tell_when_both_are_bad() -> None:
    oracle = SyntheticOracle(OracleConfig(skip_below=1.0, mistake_rate=0.5), rng=0)
    pairs = [
        (segment([0.0, 0.5]), segment([0.0, 0.0])),  # both below 1: can't tell
        (segment([0.0, 0.0]), segment([0.0, 0.0])),  # a tie, but still below: can't tell, not equal
        (segment([1.0, 0.5]), segment([0.0, 0.0])),  # one above: answered
    ]
    labels = oracle.label(pairs)
    assert labels[:2] == [Label.CANT_TELL, Label.CANT_TELL]
    assert labels[2] in (Label.LEFT, Label.RIGHT)


def test_same_seed_gives_same_labels() -> None:
    rng = np.random.default_rng(5)
    pairs = pairs_from_returns(rng.normal(size=500), rng.normal(size=500))
    config = OracleConfig(beta=2.0, mistake_rate=0.1)
    first = SyntheticOracle(config, rng=7).label(pairs)
    assert SyntheticOracle(config, rng=7).label(pairs) == first
    assert SyntheticOracle(config, rng=np.random.default_rng(7)).label(pairs) == first
    assert SyntheticOracle(config, rng=8).label(pairs) != first


def test_segments_of_different_lengths_are_rejected() -> None:
    with pytest.raises(ValueError, match="lengths"):
        SyntheticOracle(rng=0).label([(segment([1.0, 0.0]), segment([1.0, 0.0, 0.0]))])
    with pytest.raises(ValueError, match="lengths"):
        SyntheticOracle(rng=0).label([(segment([1.0]), segment([0.0])), (segment([1.0, 0.0]), segment([0.0, 0.0]))])


def test_non_finite_returns_are_rejected() -> None:
    with pytest.raises(ValueError, match="pair 1 has a non-finite"):
        SyntheticOracle(rng=0).label([(segment([1.0]), segment([0.0])), (segment([np.nan]), segment([0.0]))])


def test_empty_batch_gives_no_labels() -> None:
    assert SyntheticOracle(rng=0).label([]) == []


def test_registry_builds_the_synthetic_oracle() -> None:
    assert ORACLES["synthetic"] is SyntheticOracle
    oracle = make_oracle("synthetic", config=OracleConfig(beta=1.0), rng=0)
    assert isinstance(oracle, SyntheticOracle) and isinstance(oracle, Oracle)
    assert oracle.name == "synthetic"
    with pytest.raises(ValueError, match="'synthetic'"):
        make_oracle("synthetc")
