"""The run folder: where every run leaves its config, metrics, models, store, plot and summary.

Files are written atomically (a temporary file renamed into place), so a killed run never leaves a
half-written ``config.json`` or ``summary.json``; ``metrics.csv`` is appended one flushed row at a time.
"""

from __future__ import annotations

import csv
import json
import math
import os
import time
from pathlib import Path
from typing import Any, Mapping

METRIC_COLUMNS = (
    "timesteps",
    "labels",
    "true_return",
    "train_true_return",
    "learned_return",
    "reward_accuracy",
    "reward_loss",
    "tie_share",
    "wall_time_s",
)
"""Columns of ``metrics.csv``: ``true_return`` is measured on the original env with deterministic actions;
``train_true_return`` and ``learned_return`` are the true and learned returns of recent training episodes."""


def default_run_dir(env_id: str, kind: str, seed: int, root: str | Path = "runs") -> Path:
    """``runs/<env>-<kind>-s<seed>-<time>``: sortable, and unique per second."""
    name = env_id.replace("/", "_")
    return Path(root) / f"{name}-{kind}-s{seed}-{time.strftime('%Y%m%d-%H%M%S')}"


class RunFolder:
    """Paths and writers of one run folder.

    :param path: the folder; created if missing.
    """

    CONFIG = "config.json"
    SUMMARY = "summary.json"
    METRICS = "metrics.csv"
    STATE = "trainer_state.json"
    STORE = "comparisons.sqlite"
    REWARD_NET = "reward_net.pt"
    POLICY = "policy.zip"
    PLOT = "learning_curve.png"
    CHECKPOINT = "checkpoint"

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if self.path.exists() and not self.path.is_dir():
            raise ValueError(f"out={str(self.path)!r} exists and is not a folder; give a folder path for the run.")
        self.path.mkdir(parents=True, exist_ok=True)
        (self.path / self.CHECKPOINT).mkdir(exist_ok=True)

    def __truediv__(self, name: str) -> Path:
        return self.path / name

    @property
    def checkpoint(self) -> Path:
        return self.path / self.CHECKPOINT

    def write_json(self, name: str, data: Mapping[str, Any]) -> Path:
        target = self.path / name
        temporary = target.with_suffix(target.suffix + ".tmp")
        temporary.write_text(json.dumps(_json_ready(data), indent=2, sort_keys=True) + "\n")
        os.replace(temporary, target)
        return target

    def read_json(self, name: str) -> dict[str, Any]:
        target = self.path / name
        if not target.exists():
            raise FileNotFoundError(f"{target} is missing: {self.path} is not a complete prefrl run folder.")
        return json.loads(target.read_text())


def read_train_config(run_dir: str | Path) -> dict[str, Any]:
    """The saved config (``TrainConfig`` as a dict) of an existing ``prefrl train`` run folder.

    Resuming, labelling offline and reading reward samples all start here. Unlike :class:`RunFolder` it never
    creates the folder, so a mistyped path is an error instead of a new empty folder.
    """
    path = Path(run_dir) / RunFolder.CONFIG
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: {run_dir} is not a `prefrl train` run folder.")
    saved = json.loads(path.read_text())
    if saved.get("kind") != "train":
        raise ValueError(
            f"{run_dir} holds a kind={saved.get('kind')!r} run; resuming, `prefrl label` and reward samples need a "
            "`prefrl train` run folder."
        )
    return saved["config"]


def _json_ready(value: Any) -> Any:
    """NaN/inf are not JSON: write them as null/"inf"."""
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return value
    if isinstance(value, Mapping):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    return value


class MetricsWriter:
    """Appends rows of :data:`METRIC_COLUMNS` to ``metrics.csv`` (a resumed run keeps appending)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        new = not self.path.exists() or self.path.stat().st_size == 0
        self._file = self.path.open("a", newline="")
        self._writer = csv.DictWriter(self._file, fieldnames=METRIC_COLUMNS, extrasaction="ignore")
        if new:
            self._writer.writeheader()
            self._file.flush()

    def write(self, row: Mapping[str, Any]) -> None:
        self._writer.writerow({key: _csv_value(row.get(key)) for key in METRIC_COLUMNS})
        self._file.flush()

    def close(self) -> None:
        self._file.close()


def _csv_value(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return value


def read_metrics(path: str | Path) -> dict[str, list[float]]:
    """``metrics.csv`` as columns of floats (empty cells become NaN)."""
    columns: dict[str, list[float]] = {}
    with Path(path).open(newline="") as handle:
        for row in csv.DictReader(handle):
            for key, value in row.items():
                columns.setdefault(key, []).append(float(value) if value not in ("", None) else math.nan)
    return columns
