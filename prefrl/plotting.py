"""Figures: a run's learning curve, and a sweep's learning curves, scores, learned-vs-true reward and ablations.

Sweep figures follow Christiano et al. (2017, figures 1-3 and 5): the true return of the original env
against timesteps, mean ± standard error over seeds, one line per label budget beside PPO on the true
reward; the normalized score against the number of labels; and ablations of one setting at a time (oracle
noise ε and β, query selection, synchronous vs asynchronous fitting) with every other setting at the paper's
choice. Colours are fixed per method (baseline black, random grey, preference runs blue, shades by budget),
so a method looks the same in every figure. Each sweep figure is written as PNG and SVG.
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import matplotlib

matplotlib.use("Agg")  # runs write image files; no display is needed or assumed
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import FuncFormatter, MaxNLocator  # noqa: E402

from prefrl.results import CellResult, baseline_returns, load_results, mean_se, random_returns, scores  # noqa: E402
from prefrl.reward_samples import POLICY, RANDOM, reward_samples  # noqa: E402
from prefrl.runs import RunFolder, read_metrics  # noqa: E402
from prefrl.sweep import Cell  # noqa: E402

BASELINE_COLOUR = "black"
RANDOM_COLOUR = "grey"
PREFERENCE_COLOUR = "tab:blue"
# Colours of the non-reference values of an ablated setting, in order (the reference value is blue).
_ALTERNATIVE_COLOURS = ("tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink")
FORMATS = ("png", "svg")
_SAMPLE_SOURCES = {POLICY: ("policy's states", PREFERENCE_COLOUR), RANDOM: ("random actions", RANDOM_COLOUR)}
# Settings an ablation varies, with the axis wording; every other setting is held at its Cell default.
ABLATIONS: dict[str, str] = {
    "mistake_rate": "oracle mistake rate ε",
    "beta": "oracle rationality β",
    "selector": "query selection",
    "sync": "reward fitting",
}


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
        _timestep_axis(axis)
    _finish_axes([curve_axis, reward_axis])
    figure.tight_layout()
    out = Path(out)
    figure.savefig(out, dpi=100)
    plt.close(figure)
    return out


def plot_run(run_dir: str | Path) -> Path:
    """``learning_curve.png`` inside a run folder."""
    return plot_runs([run_dir], Path(run_dir) / RunFolder.PLOT, title=Path(run_dir).name)


# --- helpers shared by the sweep figures -------------------------------------------------------------


def format_timesteps(steps: float) -> str:
    """A timestep count as an axis reads it: ``0``, ``950``, ``50k``, ``102k``, ``1.5M``."""
    if abs(steps) >= 1_000_000:
        return f"{steps / 1_000_000:.3g}M"
    if abs(steps) >= 1_000:
        return f"{steps / 1_000:.3g}k"
    return f"{steps:.0f}"


def _timestep_axis(axis: Any) -> None:
    """At most 5 ticks in k/M: full counts (``100000125000150000``) run into each other on a narrow panel."""
    axis.xaxis.set_major_locator(MaxNLocator(5))
    axis.xaxis.set_major_formatter(FuncFormatter(lambda steps, _: format_timesteps(steps)))


def _finish_axes(axes: Sequence[Any]) -> None:
    for axis in axes:
        axis.grid(alpha=0.3)
        if axis.get_legend_handles_labels()[0]:
            axis.legend(fontsize=7)


def save_figure(figure: Any, stem: str | Path) -> list[Path]:
    """Write ``stem.png`` and ``stem.svg``, close the figure; returns the paths."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    paths = [stem.with_name(f"{stem.name}.{fmt}") for fmt in FORMATS]
    for path in paths:
        figure.savefig(path, dpi=110)
    plt.close(figure)
    return paths


def _env_axes(env_ids: Sequence[str], title: str) -> tuple[Any, dict[str, Any]]:
    """One subplot per env, side by side."""
    figure, axes = plt.subplots(1, len(env_ids), figsize=(max(6.4, 4.6 * len(env_ids)), 4.0), squeeze=False)
    figure.suptitle(title, fontsize=10)
    return figure, dict(zip(env_ids, axes[0]))


def _timesteps_note(results: Sequence[CellResult]) -> str:
    """``"100k timesteps"``: the budget every figure states next to the env name."""
    steps = sorted({int(r.summary.get("timesteps", 0)) for r in results})
    return "/".join(format_timesteps(s) for s in steps) + " timesteps"


def _mean_band(axis: Any, x: np.ndarray, runs: np.ndarray, colour: Any, label: str) -> None:
    """Mean over rows of ``runs`` (S, X) with a ± standard error band (no band for one seed)."""
    mean = runs.mean(0)  # (X,)
    axis.plot(x, mean, color=colour, label=label)
    if runs.shape[0] > 1:
        se = runs.std(0, ddof=1) / math.sqrt(runs.shape[0])  # (X,)
        axis.fill_between(x, mean - se, mean + se, color=colour, alpha=0.2, linewidth=0)


def reference_cell(results: Sequence[CellResult]) -> Cell:
    """The paper's settings (the Cell defaults) for every ablated setting that the sweep ran with them;
    otherwise the value most of its preference cells used."""
    preference = [r.cell for r in results if not r.cell.is_baseline]
    defaults = Cell()
    values: dict[str, Any] = {}
    for name in ABLATIONS:
        used = [getattr(cell, name) for cell in preference]
        default = getattr(defaults, name)
        values[name] = default if default in used or not used else max(set(used), key=used.count)
    return Cell(**values)


def _matches(cell: Cell, reference: Cell, free: str | None = None) -> bool:
    """A preference cell whose ablated settings equal the reference's, except ``free``."""
    return not cell.is_baseline and all(
        getattr(cell, name) == getattr(reference, name) for name in ABLATIONS if name != free
    )


def _budget_colours(budgets: Sequence[int]) -> dict[int, Any]:
    """Shades of blue from light (fewest labels) to dark (most), fixed per sweep."""
    ordered = sorted(set(budgets))
    shades = np.linspace(0.45, 0.95, len(ordered)) if len(ordered) > 1 else [0.8]
    return {budget: plt.get_cmap("Blues")(shade) for budget, shade in zip(ordered, shades)}


# --- sweep figures ------------------------------------------------------------------------------------


def learning_curves(results: Sequence[CellResult], stem: str | Path) -> list[Path]:
    """True return against timesteps per env: PPO on the true reward and each label budget, mean ± s.e."""
    reference = reference_cell(results)
    envs = sorted({r.cell.env_id for r in results})
    figure, axes = _env_axes(envs, f"Learning curves ({_timesteps_note(results)}, mean ± s.e. over seeds)")
    colours = _budget_colours([r.cell.labels for r in results if _matches(r.cell, reference)])
    groups: dict[tuple[str, int | None], list[CellResult]] = defaultdict(list)
    for result in results:
        if result.cell.is_baseline or _matches(result.cell, reference):
            groups[(result.cell.env_id, result.cell.labels)].append(result)
    for (env_id, labels), group in sorted(groups.items(), key=lambda item: (item[0][0], item[0][1] or 0)):
        x, runs = _aligned_curves(group)
        if labels is None:
            _mean_band(axes[env_id], x, runs, BASELINE_COLOUR, "PPO, true reward")
        else:
            _mean_band(axes[env_id], x, runs, colours[labels], f"{labels} labels")
    for env_id, axis in axes.items():
        axis.set(title=env_id, xlabel="timesteps (env steps)", ylabel="true return (original env)")
        _timestep_axis(axis)
    _finish_axes(list(axes.values()))
    return save_figure(figure, stem)


def _aligned_curves(group: Sequence[CellResult]) -> tuple[np.ndarray, np.ndarray]:
    """Each run's ``true_return`` curve interpolated onto the first run's timesteps: ``(X,)``, ``(S, X)``."""
    curves = []
    for result in group:
        columns = read_metrics(result.path / RunFolder.METRICS)
        steps, returns = _finite(columns["timesteps"], columns["true_return"])
        curves.append((np.asarray(steps), np.asarray(returns)))
    x = curves[0][0]  # (X,)
    return x, np.stack([np.interp(x, steps, returns) for steps, returns in curves])  # (S, X)


def _score_lines(
    axis: Any,
    results: Sequence[CellResult],
    random: Mapping[str, float],
    baseline: Mapping[str, float],
    key: Callable[[Cell], Any],
    colour_of: Callable[[Any], Any],
    label_of: Callable[[Any], str],
) -> None:
    """Normalized score (mean ± s.e. over seeds) of preference ``results`` against labels, one line per
    value of ``key``; R_baseline per env comes from ``baseline``."""
    lines: dict[Any, dict[int, list[CellResult]]] = defaultdict(lambda: defaultdict(list))
    finite = False
    for result in results:
        lines[key(result.cell)][int(result.cell.labels or 0)].append(result)
    for value, by_budget in sorted(lines.items(), key=lambda item: str(item[0])):
        budgets = sorted(by_budget)
        stats = [mean_se(scores(by_budget[b], random, baseline)) for b in budgets]
        mean = np.array([m for m, _ in stats])  # (B,)
        se = np.nan_to_num(np.array([s for _, s in stats]))  # (B,): no bar for a single seed
        axis.errorbar(budgets, mean, yerr=se, color=colour_of(value), label=label_of(value), marker="o", capsize=3)
        finite = finite or bool(np.isfinite(mean).any())
    axis.axhline(1.0, color=BASELINE_COLOUR, linestyle="--", linewidth=1, label="PPO, true reward (= 1)")
    axis.axhline(0.0, color=RANDOM_COLOUR, linestyle=":", linewidth=1, label="random policy (= 0)")
    # Budgets grow geometrically (25, 50, 100, ...); a log axis spaces them evenly. Without a finite score
    # (no baseline, or a baseline no better than random) there is nothing to scale.
    axis.set(xscale="log" if finite else "linear", xlabel="labels (synthetic comparisons)", ylabel="normalized score")
    ticks = sorted({int(r.cell.labels or 0) for r in results})
    axis.set_xticks(ticks, [str(t) for t in ticks])
    axis.minorticks_off()


def score_vs_labels(results: Sequence[CellResult], random: Mapping[str, float], stem: str | Path) -> list[Path]:
    """Final normalized score against the label budget, per env, at the reference settings."""
    reference = reference_cell(results)
    baseline = baseline_returns(results)
    envs = sorted({r.cell.env_id for r in results})
    figure, axes = _env_axes(envs, f"Final score vs labels ({_timesteps_note(results)}, mean ± s.e. over seeds)")
    for env_id, axis in axes.items():
        chosen = [r for r in results if r.cell.env_id == env_id and _matches(r.cell, reference)]
        _score_lines(axis, chosen, random, baseline, key=lambda cell: "preference",
                     colour_of=lambda _: PREFERENCE_COLOUR, label_of=lambda _: "PPO, learned reward")
        axis.set(title=env_id)
    _finish_axes(list(axes.values()))
    return save_figure(figure, stem)


def ablation(results: Sequence[CellResult], random: Mapping[str, float], setting: str, stem: str | Path) -> list[Path]:
    """Normalized score against labels per value of one ``setting``, all other settings at the reference."""
    if setting not in ABLATIONS:
        raise ValueError(f"setting={setting!r} is not an ablation; choose one of {', '.join(ABLATIONS)}.")
    reference = reference_cell(results)
    baseline = baseline_returns(results)
    values = sorted({getattr(r.cell, setting) for r in results if _matches(r.cell, reference, free=setting)}, key=str)
    alternatives = iter(_ALTERNATIVE_COLOURS)
    colours = {v: PREFERENCE_COLOUR if v == getattr(reference, setting) else next(alternatives) for v in values}
    envs = sorted({r.cell.env_id for r in results})
    figure, axes = _env_axes(envs, f"Ablation: {ABLATIONS[setting]} ({_timesteps_note(results)})")
    for env_id, axis in axes.items():
        chosen = [r for r in results if r.cell.env_id == env_id and _matches(r.cell, reference, free=setting)]
        _score_lines(axis, chosen, random, baseline, key=lambda cell: getattr(cell, setting),
                     colour_of=colours.get, label_of=lambda v: _setting_label(setting, v))
        axis.set(title=env_id)
    _finish_axes(list(axes.values()))
    return save_figure(figure, stem)


def _setting_label(setting: str, value: Any) -> str:
    if setting == "sync":
        return "synchronous fitting" if value else "asynchronous fitting"
    if setting == "mistake_rate":
        return f"ε = {value:g}"
    if setting == "beta":
        return "β = ∞" if math.isinf(value) else f"β = {value:g}"
    return str(value)


def reward_scatter(run_dirs: Sequence[str | Path], stem: str | Path, episodes: int = 4) -> list[Path]:
    """Learned r̂ against the true reward per step, one subplot per run, with Pearson's correlation."""
    figure, axes = plt.subplots(1, len(run_dirs), figsize=(max(6.4, 4.6 * len(run_dirs)), 4.2), squeeze=False)
    figure.suptitle("Learned vs true reward per step\n(training env: the reward the oracle compared)", fontsize=10)
    for axis, run_dir in zip(axes[0], run_dirs):
        samples = reward_samples(run_dir, episodes=episodes)
        for source, (label, colour) in _SAMPLE_SOURCES.items():
            mask = samples["source"] == source  # (S,)
            axis.scatter(samples["true"][mask], samples["learned"][mask], s=6, alpha=0.4, color=colour, label=label)
        r = correlation(samples["true"], samples["learned"])
        axis.set_title(f"{Path(run_dir).name}\nPearson r = {r:.2f}", fontsize=8)
        axis.set(xlabel="true reward per step", ylabel="learned reward r̂ (normalized)")
    _finish_axes(list(axes[0]))
    return save_figure(figure, stem)


def correlation(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson's r; NaN when either side is constant (e.g. a run that only ever saw one reward value)."""
    if np.std(x) == 0 or np.std(y) == 0:
        return math.nan
    return float(np.corrcoef(x, y)[0, 1])


def plot_sweep(root: str | Path, out: str | Path | None = None) -> list[Path]:
    """Every figure of a sweep folder into ``out`` (default ``<root>/figures``): learning curves, score vs
    labels, learned vs true reward (largest budget, first seed, per env), and one figure per ablated setting
    that the sweep varied. Returns the written paths."""
    root = Path(root)
    out = Path(out) if out is not None else root / "figures"
    results = load_results(root)
    if not results:
        raise ValueError(f"{root} holds no complete cells to plot; run the experiment first.")
    random = random_returns(root, {r.cell.env_id for r in results})
    paths = learning_curves(results, out / "learning_curves")
    if any(not r.cell.is_baseline for r in results):
        paths += score_vs_labels(results, random, out / "score_vs_labels")
        paths += reward_scatter(_scatter_runs(results), out / "reward_scatter")
    reference = reference_cell(results)
    for setting in ABLATIONS:
        if len({getattr(r.cell, setting) for r in results if _matches(r.cell, reference, free=setting)}) > 1:
            paths += ablation(results, random, setting, out / f"ablation_{setting}")
    return paths


def _scatter_runs(results: Sequence[CellResult]) -> list[Path]:
    """Per env, the reference-setting run with the most labels and the lowest seed."""
    reference = reference_cell(results)
    best: dict[str, CellResult] = {}
    for result in results:
        cell = result.cell
        if _matches(cell, reference):
            current = best.get(cell.env_id)
            if current is None or (cell.labels, -cell.seed) > (current.cell.labels, -current.cell.seed):
                best[cell.env_id] = result
    return [best[env_id].path for env_id in sorted(best)]

