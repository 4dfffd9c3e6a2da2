"""Fixture sweep folders written by hand (cell.json, summary.json, metrics.csv): aggregation and plots are
tested on known numbers, without training anything."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np

from prefrl.executor import CELL_FILE, cell_dir
from prefrl.results import RANDOM_RETURNS_FILE
from prefrl.reward_samples import SAMPLES_FILE
from prefrl.runs import METRIC_COLUMNS, RunFolder
from prefrl.sweep import Cell

RANDOM_RETURN = 20.0


def write_cell(root: Path, cell: Cell, final_return: float, curve: Sequence[float] = (), samples: bool = False) -> Path:
    """A complete cell folder whose summary says ``final_return`` and whose learning curve is ``curve``."""
    folder = cell_dir(root, cell)
    folder.mkdir(parents=True)
    (folder / CELL_FILE).write_text(json.dumps({"cell": cell.to_dict(), "options": {}}))
    (folder / RunFolder.SUMMARY).write_text(json.dumps({"final_true_return": final_return, "timesteps": 1000}))
    curve = list(curve) or [RANDOM_RETURN, final_return]
    rows = [",".join(METRIC_COLUMNS)]
    for point, value in enumerate(curve):
        row = {name: "" for name in METRIC_COLUMNS}
        row.update(timesteps=str(point * 500), true_return=str(value), labels=str(cell.labels or 0))
        rows.append(",".join(row[name] for name in METRIC_COLUMNS))
    (folder / RunFolder.METRICS).write_text("\n".join(rows) + "\n")
    if samples:
        rng = np.random.default_rng(cell.seed)
        true = rng.integers(0, 2, size=200).astype(float)
        np.savez(folder / SAMPLES_FILE, true=true, learned=true + rng.normal(0, 0.3, 200), source=np.arange(200) % 2)
    return folder


def write_sweep(root: Path) -> Path:
    """Two envs, two seeds; baseline, budgets 10/20, and one ablation value per setting at budget 20."""
    returns = {("A", None): (100.0, 120.0), ("A", 10): (50.0, 70.0), ("A", 20): (90.0, 110.0),
               ("B", None): (-10.0, -10.0), ("B", 10): (-15.0, -5.0), ("B", 20): (-10.0, -12.0)}  # fmt: skip
    for (env, labels), values in returns.items():
        for seed, value in enumerate(values):
            cell = Cell(env_id=f"{env}-v0", seed=seed, labels=labels)
            write_cell(root, cell, value, curve=[RANDOM_RETURN, value / 2, value], samples=labels == 20)
    for change in ({"mistake_rate": 0.1}, {"beta": 1.0}, {"selector": "uniform"}, {"sync": True}):
        for seed in (0, 1):
            write_cell(root, Cell(env_id="A-v0", seed=seed, labels=20, **change), 60.0 + seed)
    (root / RANDOM_RETURNS_FILE).write_text(json.dumps({"A-v0": RANDOM_RETURN, "B-v0": -30.0}))
    return root

