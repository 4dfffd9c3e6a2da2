"""Sweep throughput: a 12-cell CartPole sweep on 2 worker processes against the same cells run one after another.

The sweep is `experiments/sweeps/throughput.toml` (6 seeds x {PPO on the true reward, 20 labels}, 10k
timesteps each, synchronous fitting). It runs twice into fresh folders, first sequentially in this process,
then on a spawn-context pool of 2 workers (one torch thread each; their start-up is included). Both wall
times and their ratio are printed; the target is a ratio of at most 0.6 (2 workers, 2 cores). The two
result tables must be identical, since each cell depends on its seed only.

On a shared machine other jobs slow every cell, so two more figures are printed for each mode: the load
average before it, and the concurrency (the cells' own wall times summed, over the sweep's wall time; 2.0
with 2 workers means the pool never idled, whatever the cells' speed).

    python experiments/sweep_throughput.py --workers 2
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from pathlib import Path

from prefrl.executor import run_sweep
from prefrl.results import aggregate, load_results
from prefrl.sweep import load_sweep


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", default="experiments/results/sweep_throughput")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    sweep = load_sweep("throughput")
    root = Path(args.out) / time.strftime("%Y%m%d-%H%M%S")
    folders = {"sequential": root / "sequential", f"{args.workers} workers": root / "parallel"}
    timings = {}
    for (mode, folder), workers in zip(folders.items(), (1, args.workers)):
        load = os.getloadavg()[0]
        timings[mode] = run_sweep(sweep, folder, workers=workers)["wall_time_s"]
        cell_seconds = sum(result.summary["wall_time_s"] for result in load_results(folder))
        print(f"{mode}: {timings[mode]:.1f} s, concurrency {cell_seconds / timings[mode]:.2f}, "
              f"load average before {load:.1f}")
        aggregate(folder)
    tables = [(folder / "results.csv").read_text() for folder in folders.values()]
    sequential, parallel = timings.values()
    print(
        f"{len(sweep.cells)} cells: sequential {sequential:.1f} s, {args.workers} workers {parallel:.1f} s, "
        f"ratio {parallel / sequential:.2f} (target <= 0.6); identical tables: {tables[0] == tables[1]}"
    )

if __name__ == "__main__":
    main()
