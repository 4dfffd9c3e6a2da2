"""`prefrl experiment NAME`: run a sweep's missing cells, aggregate the table, draw the figures."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prefrl.config import _require, option
from prefrl.executor import run_sweep
from prefrl.results import aggregate
from prefrl.sweep import load_sweep, select_cells

logger = logging.getLogger(__name__)

RESULTS_ROOT = Path("experiments") / "results"


@dataclass(frozen=True)
class ExperimentConfig:
    """How a sweep is run: where its cells run and where its folder is."""

    workers: int = option(0, "Local worker processes (one cell each, one torch thread); 0 = one per CPU core.")
    ray: str | None = option(
        None, "Run cells as Ray tasks: 'local' starts Ray on this machine, 'auto' joins the running cluster, "
        "or give a cluster address (ray://host:10001). Needs pip install prefrl[ray]."
    )
    out: str | None = option(None, "Sweep folder; None = experiments/results/<name>. Rerun to resume it.")
    plots: bool = option(True, "Draw the figures (PNG and SVG) into <out>/figures after aggregating.")
    cells: str | None = option(
        None, "Run only the cells whose names match one of these comma-separated globs, e.g. "
        "'CartPole-v1-*' or '*baseline*,*-eps0-betainf-disagreement-async-*' (the main grid); the table and "
        "figures still cover every complete cell in the folder."
    )

    def __post_init__(self) -> None:
        _require(self.workers >= 0, "workers", self.workers, "use 1 or more, or 0 for one per CPU core")


def run_experiment(name: str, config: ExperimentConfig = ExperimentConfig()) -> dict[str, Any]:
    """Run every missing cell of the sweep ``name`` (or a ``.toml`` path), then write the table and figures.

    Returns ``{"root", "rows", "figures", "ran", "skipped", "wall_time_s"}``.
    """
    sweep = load_sweep(name)
    if config.cells:
        sweep = select_cells(sweep, config.cells.split(","))
    root = Path(config.out) if config.out else RESULTS_ROOT / sweep.name
    workers = config.workers or os.cpu_count() or 1
    counts = run_sweep(sweep, root, workers=workers, ray_address=config.ray)
    rows = aggregate(root)
    figures = []
    if config.plots:
        from prefrl.plotting import plot_sweep

        figures = plot_sweep(root)
    logger.info("%s: table in %s, %d figure files", sweep.name, root / "results.md", len(figures))
    return {"root": root, "rows": rows, "figures": figures, **counts}
