"""Learning curves: the true return on the original env against timesteps, and learned vs true returns."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")  # runs write PNG files; no display is needed or assumed
import matplotlib.pyplot as plt  # noqa: E402

from prefrl.runs import RunFolder, read_metrics  # noqa: E402


def _finite(xs: Sequence[float], ys: Sequence[float]) -> tuple[list[float], list[float]]:
    pairs = [(x, y) for x, y in zip(xs, ys) if not math.isnan(y)]
    return [x for x, _ in pairs], [y for _, y in pairs]


def plot_runs(run_dirs: Sequence[str | Path], out: str | Path, title: str | None = None) -> Path:
    """One figure comparing runs: true return (left), and each preference run's learned return (right)."""
    figure, (curve_axis, reward_axis) = plt.subplots(1, 2, figsize=(11, 4))
    for run_dir in run_dirs:
        columns = read_metrics(Path(run_dir) / RunFolder.METRICS)
        steps = columns.get("timesteps", [])
        label = Path(run_dir).name
        curve_axis.plot(*_finite(steps, columns.get("true_return", [])), marker="o", markersize=3, label=label)
        learned = columns.get("learned_return", [])
        if any(not math.isnan(v) for v in learned):
            reward_axis.plot(*_finite(steps, columns.get("train_true_return", [])), label=f"{label}: true")
            reward_axis.plot(*_finite(steps, learned), linestyle="--", label=f"{label}: learned r̂")
    curve_axis.set(xlabel="timesteps", ylabel="true return (original env, deterministic)", title=title or "learning curve")
    reward_axis.set(xlabel="timesteps", ylabel="training episode return", title="true vs learned reward")
    for axis in (curve_axis, reward_axis):
        axis.grid(alpha=0.3)
        if axis.get_legend_handles_labels()[0]:
            axis.legend(fontsize=7)
    figure.tight_layout()
    out = Path(out)
    figure.savefig(out, dpi=100)
    plt.close(figure)
    return out


def plot_run(run_dir: str | Path) -> Path:
    """``learning_curve.png`` inside a run folder."""
    return plot_runs([run_dir], Path(run_dir) / RunFolder.PLOT, title=Path(run_dir).name)
