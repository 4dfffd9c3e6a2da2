"""Rankings become all C(K,2) pairs, best first."""

from __future__ import annotations

import pytest

from prefrl.ranking import ranking_pairs


def test_a_ranking_of_four_is_six_pairs_better_first() -> None:
    assert ranking_pairs(["a", "b", "c", "d"]) == [
        ("a", "b"), ("a", "c"), ("a", "d"), ("b", "c"), ("b", "d"), ("c", "d"),
    ]
    assert ranking_pairs((7, 3)) == [(7, 3)]


@pytest.mark.parametrize("ranked, message", [([1], "2 or more"), ("abc", "not a ranking"), ([1, 2, 1], "more than once")])
def test_what_is_not_a_ranking_is_refused(ranked, message) -> None:
    with pytest.raises(ValueError, match=message):
        ranking_pairs(ranked)
