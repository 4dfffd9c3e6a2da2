"""Running a sweep's cells: in a local process pool, or as Ray tasks; cells already complete are skipped.

Each cell is an ordinary run folder (``<root>/cells/<cell name>``) written by `prefrl train` or `prefrl
baseline` code, plus ``cell.json`` (its parameters and the sweep's shared options). A cell counts as
complete when ``summary.json`` exists, the last file a run writes, so a sweep killed at any moment resumes
by rerunning the same command; an incomplete folder is cleared and its cell rerun from the start (its
labels come from a synthetic oracle and are regenerated exactly under the seed).

Cells run in ``sync`` mode by default, so each result depends on its seed only, not on which worker
ran it or what ran beside it: a process pool and a Ray cluster give the same table.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import shutil
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from prefrl.config import TrainConfig
from prefrl.runs import RunFolder
from prefrl.sweep import Cell, Sweep

logger = logging.getLogger(__name__)

CELL_FILE = "cell.json"
CELLS_DIR = "cells"


def cell_dir(root: str | Path, cell: Cell) -> Path:
    return Path(root) / CELLS_DIR / cell.name


def cell_config(cell: Cell, options: Mapping[str, Any], out: str | Path | None = None) -> TrainConfig:
    """The cell's full config: its preset, the sweep's shared options, then its own settings. Names that
    are only looked up when a run starts (the selector) are checked here too."""
    from prefrl.selection import make_selector
    from prefrl.trainer import train_config

    overrides = {**options, **cell.overrides()}
    if out is not None:
        overrides["out"] = str(out)
    try:
        config = train_config(cell.env_id, **overrides)
        make_selector(config.query.selector)
        return config
    except (TypeError, ValueError) as error:
        raise ValueError(f"cell {cell.name}: {error}") from None


def is_complete(root: str | Path, cell: Cell, options: Mapping[str, Any]) -> bool:
    """``summary.json`` exists; raises if the folder was made by a different definition of the same cell."""
    folder = cell_dir(root, cell)
    if not (folder / RunFolder.SUMMARY).exists():
        return False
    recorded = json.loads((folder / CELL_FILE).read_text()) if (folder / CELL_FILE).exists() else None
    if recorded != _cell_record(cell, options):
        raise ValueError(
            f"{folder} was run with other settings ({recorded}) than the definition now gives "
            f"({_cell_record(cell, options)}); pass a fresh --out for the changed definition."
        )
    return True


def _cell_record(cell: Cell, options: Mapping[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps({"cell": cell.to_dict(), "options": dict(options)}))


def run_cell(cell: Cell, options: Mapping[str, Any], root: str) -> str:
    """Run one cell into its folder (clearing an incomplete one first); returns the folder. Picklable for workers."""
    from prefrl.baseline import run_baseline
    from prefrl.trainer import PreferenceRL

    folder = cell_dir(root, cell)
    if folder.exists():
        logger.info("restarting incomplete cell %s", cell.name)
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    (folder / CELL_FILE).write_text(json.dumps(_cell_record(cell, options), indent=2) + "\n")
    config = cell_config(cell, options, folder)
    try:
        if cell.is_baseline:
            run_baseline(config.run, progress=False)
        else:
            PreferenceRL(config, progress=False).learn()
    except Exception as error:  # name the cell: a worker's traceback alone does not say which one failed
        raise RuntimeError(f"cell {cell.name} failed in {folder}: {error!r}") from error
    logger.info("cell %s done", cell.name)
    return str(folder)


def _init_worker() -> None:
    """One math thread per worker: cells are the parallelism, and small nets gain nothing from more."""
    from prefrl.threads import use_one_thread

    use_one_thread()
    logging.basicConfig(level=logging.INFO, format="%(message)s")


def _run_local(pending: Sequence[Cell], options: Mapping[str, Any], root: str, workers: int) -> list[str]:
    if workers == 1:
        _init_worker()
        return [run_cell(cell, options, root) for cell in pending]
    # spawn, not fork: a forked copy of a process that already runs torch threads can deadlock. Pool
    # workers of concurrent.futures are not daemonic, so an async cell may still start its fitter process.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_init_worker) as pool:
        return list(pool.map(run_cell, pending, [options] * len(pending), [root] * len(pending)))


def require_ray() -> Any:
    """The ``ray`` module, or an ImportError that says how to install it."""
    try:
        import ray
    except ImportError:
        raise ImportError("running cells on Ray needs the ray package: pip install prefrl[ray]") from None
    return ray


def _run_ray(pending: Sequence[Cell], options: Mapping[str, Any], root: str, address: str) -> list[str]:
    """Cells as Ray tasks, one CPU each. Uses a Ray instance already initialized; else starts or joins one:
    ``address="local"`` starts Ray on this machine, ``"auto"`` or ``"ray://host:port"`` joins a cluster."""
    ray = require_ray()
    if not ray.is_initialized():
        ray.init(address=None if address == "local" else address, log_to_driver=False)

    def ray_cell(cell: Cell, options: Mapping[str, Any], root: str) -> str:
        _init_worker()
        return run_cell(cell, options, root)

    task = ray.remote(num_cpus=1)(ray_cell)
    return ray.get([task.remote(cell, dict(options), root) for cell in pending])


def run_sweep(
    sweep: Sweep,
    root: str | Path,
    workers: int = 1,
    ray_address: str | None = None,
    on_start: Callable[[list[Cell]], None] | None = None,
) -> dict[str, Any]:
    """Run every cell of ``sweep`` not yet complete under ``root``; returns counts and the wall time.

    :param workers: local worker processes (ignored with Ray, whose cluster decides).
    :param ray_address: None = local pool; ``"local"``, ``"auto"`` or a cluster address = Ray tasks.
    :param on_start: called with the cells about to run (for a progress line, or a test).
    """
    if workers < 1:
        raise ValueError(f"workers={workers} is not allowed: use 1 or more worker processes.")
    root = Path(root).resolve()  # absolute: a Ray worker need not share this process's working directory
    for cell in sweep.cells:  # every config is checked before the first run starts
        cell_config(cell, sweep.options)
    pending = [cell for cell in sweep.cells if not is_complete(root, cell, sweep.options)]
    # Longest first (cells with more labels fit more often): a long cell started last would leave the
    # other workers idle at the end of the sweep.
    pending.sort(key=lambda cell: -(cell.labels or 0))
    logger.info("%s: %d cells, %d complete, %d to run", sweep.name, len(sweep.cells), len(sweep.cells) - len(pending),
                len(pending))
    if on_start is not None:
        on_start(pending)
    started = time.perf_counter()
    if pending:
        root.mkdir(parents=True, exist_ok=True)
        if ray_address is None:
            _run_local(pending, sweep.options, str(root), workers)
        else:
            _run_ray(pending, sweep.options, str(root), ray_address)
    return {"cells": len(sweep.cells), "ran": len(pending), "skipped": len(sweep.cells) - len(pending),
            "wall_time_s": time.perf_counter() - started}

