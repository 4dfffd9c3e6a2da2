"""Aggregation: mean ± s.e., the normalized score and the table, against hand-computed values."""

from __future__ import annotations

import csv
import json
import math

import pytest

from prefrl import results as results_module
from prefrl.results import aggregate, load_results, mean_se, normalized_score, random_returns, results_table
from tests.sweep_fixtures import write_sweep


def test_mean_and_standard_error_by_hand():
    # [1, 2, 3, 4]: mean 2.5; sample variance (2.25 + 0.25 + 0.25 + 2.25) / 3 = 5/3; s.e. = sqrt(5/3) / 2
    mean, se = mean_se([1.0, 2.0, 3.0, 4.0])
    assert mean == 2.5
    assert se == pytest.approx(math.sqrt(5 / 3) / 2)
    mean, se = mean_se([7.0])
    assert mean == 7.0 and math.isnan(se)  # one seed: no standard error
    assert all(math.isnan(v) for v in mean_se([]))


def test_normalized_score_by_hand():
    assert normalized_score(65.0, random_return=20.0, baseline_return=110.0) == pytest.approx(0.5)
    assert normalized_score(20.0, 20.0, 110.0) == 0.0
    assert normalized_score(110.0, 20.0, 110.0) == 1.0
    # Negative returns (Pendulum-like): random -1200, baseline -200, run -450 -> 750 / 1000
    assert normalized_score(-450.0, -1200.0, -200.0) == pytest.approx(0.75)
    assert math.isnan(normalized_score(50.0, 20.0, 15.0))  # a baseline worse than random defines no scale


def test_table_rows_match_hand_computed_scores(tmp_path):
    write_sweep(tmp_path)
    results = load_results(tmp_path)
    rows = {(r["env_id"], r["method"]): r for r in results_table(results, {"A-v0": 20.0, "B-v0": -30.0})}
    # Env A: random 20, baseline mean (100 + 120) / 2 = 110, so one unit of score is 90 return.
    l10 = rows[("A-v0", "L10-eps0-betainf-disagreement-async")]
    assert (l10["return_mean"], l10["return_se"]) == pytest.approx((60.0, 10.0))  # (50, 70): s = 14.14, s.e. = 10
    assert (l10["score_mean"], l10["score_se"]) == pytest.approx((40 / 90, 10 / 90))  # scores 30/90 and 50/90
    assert rows[("A-v0", "baseline")]["score_mean"] == pytest.approx(1.0)
    assert rows[("A-v0", "L20-eps0-betainf-disagreement-async")]["score_mean"] == pytest.approx(80 / 90)
    # Env B: random -30, baseline -10 (span 20); (-15, -5) -> scores 0.75 and 1.25.
    b10 = rows[("B-v0", "L10-eps0-betainf-disagreement-async")]
    assert (b10["score_mean"], b10["score_se"]) == pytest.approx((1.0, 0.25))
    assert all(row["seeds"] == 2 for row in rows.values())
    ordered = [(r["env_id"], r["labels"]) for r in results_table(results, {"A-v0": 20.0, "B-v0": -30.0})][:3]
    assert ordered == [("A-v0", ""), ("A-v0", 10), ("A-v0", 20)]  # baseline first, then budgets upwards


def test_aggregate_writes_csv_and_markdown(tmp_path):
    write_sweep(tmp_path)
    rows = aggregate(tmp_path)
    with (tmp_path / "results.csv").open() as handle:
        written = list(csv.DictReader(handle))
    assert len(written) == len(rows) == 10  # A: baseline, 2 budgets, 4 ablations; B: baseline, 2 budgets
    assert float(written[1]["score_mean"]) == pytest.approx(40 / 90, rel=1e-5)
    markdown = (tmp_path / "results.md").read_text()
    assert "| A-v0 | L10-eps0-betainf-disagreement-async | 10 | 2 | 60.0 ± 10.0 | 0.44 ± 0.11 |" in markdown
    assert "R_random: A-v0 20.0, B-v0 -30.0" in markdown


def test_random_returns_are_measured_once_per_env_and_cached(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(results_module, "random_policy_return", lambda env_id: calls.append(env_id) or 1.5)
    assert random_returns(tmp_path, ["X-v0", "Y-v0"]) == {"X-v0": 1.5, "Y-v0": 1.5}
    assert random_returns(tmp_path, ["X-v0"]) == {"X-v0": 1.5, "Y-v0": 1.5}
    assert sorted(calls) == ["X-v0", "Y-v0"]
    assert json.loads((tmp_path / "random_returns.json").read_text()) == {"X-v0": 1.5, "Y-v0": 1.5}


def test_random_policy_return_on_cartpole():
    # Uniformly random CartPole-v1 lasts about 22 steps (tests/test_trainer.py measured 21-23).
    assert 15 < results_module.random_policy_return("CartPole-v1", episodes=20) < 30


def test_aggregate_of_an_empty_folder_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="no complete cells"):
        aggregate(tmp_path)
