"""Experiment definitions: a TOML file in ``experiments/sweeps/`` expanded into cells, one run folder each.

A definition names envs, seeds, options shared by every cell, and one or more ``[[grid]]`` tables; each
grid is the Cartesian product of its lists (label budgets, oracle noise, selector, sync), and the cells of
all grids are pooled (a cell listed by two grids runs once). ``baseline = true`` adds PPO on the true reward
for every env and seed, the reference of the normalized score. A cell's folder name is made from its
parameters alone, so a rerun finds the cells already done and a stopped sweep resumes where it was.
"""

from __future__ import annotations

import fnmatch
import itertools
import math
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Mapping, Sequence

from prefrl.config import option

SWEEP_DIR: Path = Path(__file__).resolve().parent.parent / "experiments" / "sweeps"
"""The repository's ``experiments/sweeps/`` folder: one ``<name>.toml`` per experiment."""


@dataclass(frozen=True)
class Cell:
    """One run of a sweep: an env, a seed and, for a preference run, its label budget and oracle/query settings.

    ``labels=None`` is the PPO-on-true-reward baseline; its other preference settings are unused.
    """

    env_id: str = option("CartPole-v1", "Gymnasium id of the task.")
    seed: int = option(0, "Seed of the run.")
    labels: int | None = option(None, "Label budget; None = PPO on the true reward (the baseline).")
    mistake_rate: float = option(0.0, "Oracle's probability epsilon of flipping an answer.")
    beta: float = option(math.inf, "Oracle's Bradley-Terry rationality; inf = always the higher return.")
    selector: str = option("disagreement", "How query pairs are chosen (prefrl.selection.SELECTORS).")
    sync: bool = option(False, "Fit the reward net inline, PPO waiting for every fit: deterministic under the "
                               "seed, so results do not depend on how cells are scheduled, but slower. False = "
                               "in a background process while PPO runs, as the paper did.")

    @property
    def is_baseline(self) -> bool:
        return self.labels is None

    @property
    def method(self) -> str:
        """The cell's settings without env and seed: cells that differ only by seed share it."""
        if self.is_baseline:
            return "baseline"
        beta = "inf" if math.isinf(self.beta) else f"{self.beta:g}"
        timing = "sync" if self.sync else "async"
        return f"L{self.labels}-eps{self.mistake_rate:g}-beta{beta}-{self.selector}-{timing}"

    @property
    def name(self) -> str:
        """Folder name, e.g. ``CartPole-v1-L100-eps0-betainf-disagreement-async-s0``."""
        return f"{self.env_id.replace('/', '_')}-{self.method}-s{self.seed}"

    def overrides(self) -> dict[str, Any]:
        """This cell's ``train_config`` options (the sweep's shared options are added by the runner)."""
        if self.is_baseline:
            return {"seed": self.seed}
        return {
            "seed": self.seed,
            "labels": self.labels,
            "mistake_rate": self.mistake_rate,
            "beta": self.beta,
            "selector": self.selector,
            "sync": self.sync,
        }

    def to_dict(self) -> dict[str, Any]:
        return {f.name: ("inf" if f.name == "beta" and math.isinf(self.beta) else getattr(self, f.name))
                for f in fields(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Cell":
        values = dict(data)
        values["beta"] = math.inf if values.get("beta") == "inf" else float(values.get("beta", math.inf))
        return cls(**values)


# Grid keys: the Cell field each list varies.
_GRID_KEYS = ("labels", "mistake_rate", "beta", "selector", "sync")
_TOP_KEYS = ("description", "envs", "seeds", "baseline", "options", "grid")


@dataclass(frozen=True)
class Sweep:
    """A parsed experiment definition.

    :param name: the definition's file stem; the default output folder is ``experiments/results/<name>``.
    :param cells: every cell, baselines first, in a fixed order.
    :param options: ``train_config`` options shared by every cell (e.g. ``timesteps``), preset values otherwise.
    """

    name: str
    description: str
    cells: tuple[Cell, ...]
    options: Mapping[str, Any] = field(default_factory=dict)


def select_cells(sweep: Sweep, patterns: Sequence[str]) -> Sweep:
    """The sweep restricted to cells whose name matches one of the glob ``patterns`` (a slice of a large sweep
    run now, the rest later into the same folder: names, and so finished cells, are shared)."""
    chosen = tuple(c for c in sweep.cells if any(fnmatch.fnmatchcase(c.name, p.strip()) for p in patterns))
    if not chosen:
        raise ValueError(
            f"cells={','.join(patterns)!r} matches none of the {len(sweep.cells)} cells of {sweep.name!r} "
            f"(names look like {sweep.cells[0].name!r}); use globs such as 'CartPole-v1-*'."
        )
    return replace(sweep, cells=chosen)


def available_sweeps(folder: Path = SWEEP_DIR) -> list[str]:
    """Names of the definitions in ``folder``, sorted."""
    return sorted(path.stem for path in folder.glob("*.toml"))


def load_sweep(name_or_path: str | Path, folder: Path = SWEEP_DIR) -> Sweep:
    """Read a definition by name (``experiments/sweeps/<name>.toml``) or from a ``.toml`` path, and expand it."""
    path = Path(name_or_path)
    if path.suffix != ".toml":
        path = folder / f"{name_or_path}.toml"
        if not path.is_file():
            raise ValueError(
                f"experiment {str(name_or_path)!r} is unknown; available: {', '.join(available_sweeps(folder)) or '(none)'}"
                f" (definitions in {folder}), or pass the path of a .toml definition."
            )
    elif not path.is_file():
        raise ValueError(f"experiment definition {str(path)!r} is not a file; pass an existing .toml path.")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"experiment definition {path} is not valid TOML: {error}. Fix the syntax there.") from None
    return parse_sweep(data, path.stem, str(path))


def parse_sweep(data: Mapping[str, Any], name: str, source: str = "<definition>") -> Sweep:
    """Check a definition's keys and types, then expand its grids into cells (each cell is validated)."""
    unknown = sorted(set(data) - set(_TOP_KEYS))
    if unknown:
        raise ValueError(f"{source}: unknown key(s) {', '.join(map(repr, unknown))}; allowed: {', '.join(_TOP_KEYS)}.")
    envs = _string_list(data, "envs", source)
    seeds = data.get("seeds")
    if not isinstance(seeds, list) or not seeds or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds):
        raise ValueError(f"{source}: seeds={seeds!r} must be a non-empty list of integers, e.g. seeds = [0, 1, 2].")
    options = data.get("options", {})
    if not isinstance(options, dict):
        raise ValueError(f"{source}: [options] must be a table of train_config options, got {options!r}.")
    grids = data.get("grid", [])
    if not isinstance(grids, list) or not all(isinstance(g, dict) for g in grids):
        raise ValueError(f"{source}: grids are [[grid]] tables; got grid={grids!r}.")
    baseline = data.get("baseline", False)
    if not isinstance(baseline, bool):
        raise ValueError(f"{source}: baseline={baseline!r} must be true or false.")
    if not grids and not baseline:
        raise ValueError(f"{source}: no cells: add a [[grid]] table with a labels list, or baseline = true.")
    cells: dict[str, Cell] = {}
    for env_id, seed in itertools.product(envs, seeds):
        if baseline:
            _add(cells, Cell(env_id=env_id, seed=seed))
    for number, grid in enumerate(grids):
        axes = _grid_axes(grid, f"{source} [[grid]] #{number + 1}")
        for env_id, seed, *values in itertools.product(envs, seeds, *axes.values()):
            _add(cells, Cell(env_id=env_id, seed=seed, **dict(zip(axes, values))))
    return Sweep(name=name, description=str(data.get("description", "")), cells=tuple(cells.values()), options=options)


def _add(cells: dict[str, Cell], cell: Cell) -> None:
    cells.setdefault(cell.name, cell)


def _string_list(data: Mapping[str, Any], key: str, source: str) -> list[str]:
    value = data.get(key)
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{source}: {key}={value!r} must be a non-empty list of strings, e.g. {key} = [\"CartPole-v1\"].")
    return value


def _grid_axes(grid: Mapping[str, Any], source: str) -> dict[str, list[Any]]:
    """Each key of a grid as a list of Cell values (a scalar is a one-value list); ``labels`` is required."""
    unknown = sorted(set(grid) - set(_GRID_KEYS))
    if unknown:
        raise ValueError(f"{source}: unknown key(s) {', '.join(map(repr, unknown))}; allowed: {', '.join(_GRID_KEYS)}.")
    if "labels" not in grid:
        raise ValueError(f"{source}: a grid needs a labels list (label budgets), e.g. labels = [25, 50, 100].")
    axes: dict[str, list[Any]] = {}
    for key, value in grid.items():
        values = value if isinstance(value, list) else [value]
        if not values:
            raise ValueError(f"{source}: {key} = [] gives no cells; list at least one value.")
        axes[key] = [_grid_value(key, v, source) for v in values]
    return axes


def _grid_value(key: str, value: Any, source: str) -> Any:
    if key == "labels":
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{source}: labels value {value!r} must be an integer >= 1.")
        return value
    if key in ("mistake_rate", "beta"):
        if value == "inf":
            return math.inf
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{source}: {key} value {value!r} must be a number (beta may be \"inf\").")
        return float(value)
    if key == "sync":
        if not isinstance(value, bool):
            raise ValueError(f"{source}: sync value {value!r} must be true or false.")
        return value
    if not isinstance(value, str):
        raise ValueError(f"{source}: {key} value {value!r} must be a string.")
    return value
