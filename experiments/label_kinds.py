"""What a MinAtar run's labels compared: clips with a lost game against clips with points.

In a preset's charged variant (``[train_env] lost_game_charge``) a lost game is the only step whose true reward
is negative, and points are the positive ones. A label can tell r̂ what a lost game is worth
in points only when it compares a clip that lost a game against one that lost none *and* scored fewer points: the
other kinds say "a loss is bad" or "more points are good", but not how many points a loss outweighs. This script
sorts each answered comparison of a run's store into one kind and prints the counts (and the ties among them):

    python experiments/label_kinds.py RUN [RUN ...]
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

import numpy as np

from prefrl.runs import RunFolder
from prefrl.store import ComparisonStore
from prefrl.types import Label

KINDS = (
    "both clips lose a game",
    "one loses a game and scores more (a trade)",
    "one loses a game, scores no more",
    "no loss, points differ",
    "no loss, as many points",
)


def kind(left: np.ndarray, right: np.ndarray) -> str:
    """The kind of a pair of clips, from their true rewards."""
    lost = (left < 0).any(), (right < 0).any()
    points = int((left > 0).sum()), int((right > 0).sum())
    if all(lost):
        return KINDS[0]
    if any(lost):
        loser, other = points if lost[0] else points[::-1]
        return KINDS[1] if loser > other else KINDS[2]
    return KINDS[3] if points[0] != points[1] else KINDS[4]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    args = parser.parse_args()
    for run in args.runs:
        store = ComparisonStore(run / RunFolder.STORE, create=False)
        counts: Counter[str] = Counter()
        ties: Counter[str] = Counter()
        comparisons = store.comparisons(answered=True)
        for comparison in comparisons:
            pair_kind = kind(comparison.left.true_rewards, comparison.right.true_rewards)
            counts[pair_kind] += 1
            ties[pair_kind] += comparison.label == Label.EQUAL
        store.close()
        print(f"{run}: {len(comparisons)} labels")
        for name in KINDS:
            print(f"  {name:45s} {counts[name]:5d}  (ties {ties[name]})")


if __name__ == "__main__":
    main()
