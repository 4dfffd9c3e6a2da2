"""Aggregating a sweep: per env and method, mean ± standard error over seeds of the final true return and of
the normalized score, written as ``results.csv`` and ``results.md``.

The normalized score puts tasks with different return scales on one axis (0 = a random policy, 1 = PPO on
the true reward with the same preset and timesteps):

    score = (R − R_random) / (R_baseline − R_random)

with R a run's ``final_true_return``, R_baseline the mean over seeds of the baseline cells' returns, and
R_random the mean return of uniformly random actions on the original env, measured once per env and cached
in the sweep folder (``random_returns.json``).
"""

from __future__ import annotations

import csv
import json
import math
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from prefrl.executor import CELL_FILE, CELLS_DIR
from prefrl.runs import RunFolder
from prefrl.sweep import Cell

RANDOM_RETURNS_FILE = "random_returns.json"
RANDOM_EPISODES = 20  # random-policy episodes per env; CartPole's mean over 20 is within ~2 of its 22
TABLE_COLUMNS = (
    "env_id", "method", "labels", "mistake_rate", "beta", "selector", "sync", "seeds",
    "return_mean", "return_se", "score_mean", "score_se",
)  # fmt: skip


@dataclass(frozen=True)
class CellResult:
    """A complete cell: its parameters and its ``summary.json``."""

    cell: Cell
    summary: Mapping[str, Any]
    path: Path

    @property
    def final_return(self) -> float:
        return float(self.summary["final_true_return"])


def mean_se(values: Sequence[float]) -> tuple[float, float]:
    """Mean and standard error s/√n with the sample std (ddof=1); the s.e. of fewer than 2 values is NaN."""
    array = np.asarray(values, dtype=np.float64)
    if array.size == 0:
        return math.nan, math.nan
    se = float(array.std(ddof=1) / math.sqrt(array.size)) if array.size > 1 else math.nan
    return float(array.mean()), se


def normalized_score(value: float, random_return: float, baseline_return: float) -> float:
    """(R − R_random) / (R_baseline − R_random); NaN when the baseline did no better than random."""
    span = baseline_return - random_return
    if not math.isfinite(span) or span <= 0:
        return math.nan
    return (value - random_return) / span


def random_policy_return(env_id: str, episodes: int = RANDOM_EPISODES, seed: int = 0) -> float:
    """Mean true return of uniformly random actions on the original env (its own termination and time limit)."""
    import gymnasium as gym

    from prefrl.envs import check_env_id

    check_env_id(env_id)  # registers the variants and optional games (MinAtar), or names what is missing
    env = gym.make(env_id)
    env.action_space.seed(seed)
    total = 0.0
    for episode in range(episodes):
        env.reset(seed=seed + episode)
        done = False
        while not done:
            _, reward, terminated, truncated, _ = env.step(env.action_space.sample())
            total += float(reward)
            done = terminated or truncated
    env.close()
    return total / episodes


def random_returns(root: str | Path, env_ids: Iterable[str]) -> dict[str, float]:
    """R_random per env, measured once and cached in ``<root>/random_returns.json``."""
    path = Path(root) / RANDOM_RETURNS_FILE
    cache: dict[str, float] = json.loads(path.read_text()) if path.exists() else {}
    missing = sorted(set(env_ids) - set(cache))
    for env_id in missing:
        cache[env_id] = random_policy_return(env_id)
    if missing:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(cache, indent=2, sort_keys=True) + "\n")
    return cache


def load_results(root: str | Path) -> list[CellResult]:
    """Every complete cell under ``<root>/cells``, sorted by folder name (incomplete ones are left out)."""
    results = []
    for folder in sorted((Path(root) / CELLS_DIR).glob("*")):
        if (folder / RunFolder.SUMMARY).exists() and (folder / CELL_FILE).exists():
            cell = Cell.from_dict(json.loads((folder / CELL_FILE).read_text())["cell"])
            summary = json.loads((folder / RunFolder.SUMMARY).read_text())
            results.append(CellResult(cell, summary, folder))
    return results


def group_by_method(results: Iterable[CellResult]) -> dict[tuple[str, str], list[CellResult]]:
    """``(env_id, method) -> results over seeds``, in first-seen order."""
    groups: dict[tuple[str, str], list[CellResult]] = defaultdict(list)
    for result in results:
        groups[(result.cell.env_id, result.cell.method)].append(result)
    return dict(groups)


def baseline_returns(results: Iterable[CellResult]) -> dict[str, float]:
    """R_baseline per env: the mean final return of its baseline cells over seeds."""
    by_env: dict[str, list[float]] = defaultdict(list)
    for result in results:
        if result.cell.is_baseline:
            by_env[result.cell.env_id].append(result.final_return)
    return {env_id: float(np.mean(values)) for env_id, values in by_env.items()}


def scores(results: Sequence[CellResult], random: Mapping[str, float], baseline: Mapping[str, float]) -> list[float]:
    """Each result's normalized score (NaN where its env has no baseline)."""
    return [
        normalized_score(r.final_return, random[r.cell.env_id], baseline.get(r.cell.env_id, math.nan)) for r in results
    ]


def results_table(results: Sequence[CellResult], random: Mapping[str, float]) -> list[dict[str, Any]]:
    """One row per env and method: its settings, the number of seeds, mean ± s.e. of return and of score."""
    baseline = baseline_returns(results)
    rows = []
    for (env_id, method), group in sorted(group_by_method(results).items(), key=lambda item: _sort_key(item[1][0].cell)):
        cell = group[0].cell
        return_mean, return_se = mean_se([r.final_return for r in group])
        score_mean, score_se = mean_se(scores(group, random, baseline))
        preference = not cell.is_baseline
        rows.append({
            "env_id": env_id,
            "method": method,
            "labels": cell.labels if preference else "",
            "mistake_rate": cell.mistake_rate if preference else "",
            "beta": cell.beta if preference else "",
            "selector": cell.selector if preference else "",
            "sync": cell.sync if preference else "",
            "seeds": len(group),
            "return_mean": return_mean,
            "return_se": return_se,
            "score_mean": score_mean,
            "score_se": score_se,
        })  # fmt: skip
    return rows


def _sort_key(cell: Cell) -> tuple[Any, ...]:
    """Env, then the baseline, then budgets upwards, then the other settings."""
    labels = -1 if cell.labels is None else cell.labels
    return (cell.env_id, labels, cell.mistake_rate, cell.beta, cell.selector, not cell.sync)


def write_csv(rows: Sequence[Mapping[str, Any]], path: str | Path) -> Path:
    path = Path(path)
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=TABLE_COLUMNS)
        writer.writeheader()
        writer.writerows({key: _csv_cell(row[key]) for key in TABLE_COLUMNS} for row in rows)
    return path


def _csv_cell(value: Any) -> Any:
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.6g}"
    return value


def format_mean_se(mean: float, se: float, digits: int) -> str:
    """``"412.3 ± 20.1"``; the mean alone when there is no s.e. (one seed), ``"—"`` when there is no mean."""
    if math.isnan(mean):
        return "—"
    return f"{mean:.{digits}f}" if math.isnan(se) else f"{mean:.{digits}f} ± {se:.{digits}f}"


def markdown_table(rows: Sequence[Mapping[str, Any]], random: Mapping[str, float]) -> str:
    """A Markdown table of the rows; R_random per env is listed under it."""
    header = "| env | method | labels | seeds | final true return | normalized score |"
    lines = [header, "|---|---|---:|---:|---:|---:|"]
    for row in rows:
        lines.append(
            f"| {row['env_id']} | {row['method']} | {row['labels']} | {row['seeds']} | "
            f"{format_mean_se(row['return_mean'], row['return_se'], 1)} | "
            f"{format_mean_se(row['score_mean'], row['score_se'], 2)} |"
        )
    envs = sorted({row["env_id"] for row in rows})
    lines.append("")
    lines.append("Mean ± standard error over seeds. Score = (R − R_random) / (R_baseline − R_random); R_random: "
                 + ", ".join(f"{env} {random[env]:.1f}" for env in envs) + ".")
    return "\n".join(lines) + "\n"


def aggregate(root: str | Path) -> list[dict[str, Any]]:
    """Read every complete cell under ``root``, write ``results.csv`` and ``results.md`` there; returns the rows."""
    root = Path(root)
    results = load_results(root)
    if not results:
        raise ValueError(f"{root} holds no complete cells (folders under {root / CELLS_DIR} with summary.json).")
    random = random_returns(root, {r.cell.env_id for r in results})
    rows = results_table(results, random)
    write_csv(rows, root / "results.csv")
    (root / "results.md").write_text(markdown_table(rows, random))
    return rows
