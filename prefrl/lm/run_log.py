"""Metrics of a language-model run as ``metrics.csv`` in the run folder, and their training-curve plot.

The stages log rows with different keys (a DPO step, a held-out evaluation after an epoch), so the columns
are the union of the keys seen so far: a row with a new key rewrites the file with the wider header, any
other row is appended and flushed, so the file can be watched while the run goes on.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")  # runs write PNG files; no display is needed or assumed
import matplotlib.pyplot as plt  # noqa: E402


class MetricsCSV:
    """A callable that appends one metrics row (a :data:`prefrl.lm.loop.MetricsLog`).

    :param path: the CSV file; replaced if it exists.
    """

    COUNTERS = ("step", "epoch", "iteration")
    """Keys written as integers."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.columns: list[str] = []
        self.rows: list[dict[str, float | int]] = []
        self.path.write_text("")

    def __call__(self, row: Mapping[str, float]) -> None:
        row = {key: int(value) if key in self.COUNTERS else float(value) for key, value in row.items()}
        self.rows.append(row)
        new = [key for key in row if key not in self.columns]
        if new:
            self.columns += new
            with self.path.open("w", newline="") as handle:
                writer = csv.DictWriter(handle, fieldnames=self.columns)
                writer.writeheader()
                writer.writerows(self.rows)
        else:
            with self.path.open("a", newline="") as handle:
                csv.DictWriter(handle, fieldnames=self.columns).writerow(row)

    def column(self, key: str) -> tuple[list[float], list[float]]:
        """(x, y) of every row that has ``key``; x is the row's step or iteration."""
        points = [
            (row.get("step", row.get("iteration", math.nan)), row[key]) for row in self.rows if key in row
        ]
        return [x for x, _ in points], [y for _, y in points]


def plot_metrics(log: MetricsCSV, keys: Sequence[str], path: str | Path, title: str) -> Path:
    """One small panel per metric key against steps (keys never logged are left out)."""
    keys = [key for key in keys if any(key in row for row in log.rows)]
    figure, axes = plt.subplots(1, max(len(keys), 1), figsize=(3.2 * max(len(keys), 1), 3), squeeze=False)
    for axis, key in zip(axes[0], keys):
        axis.plot(*log.column(key), marker=".", markersize=3)
        axis.set_title(key, fontsize=9)
        axis.set_xlabel("step")
        axis.grid(alpha=0.3)
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return Path(path)
