"""Sweep throughput: a 12-cell CartPole sweep on 2 worker processes against the same cells run one after another.

The sweep is `experiments/sweeps/throughput.toml` (6 seeds x {PPO on the true reward, 20 labels}, 10k
timesteps each, synchronous fitting). It runs twice into fresh folders, first sequentially in this process,
then on a spawn-context pool of 2 workers (one torch thread each; their start-up is included). Both wall
times and their ratio are printed; the target is a ratio of at most 0.6 (2 workers, 2 cores). The two
result tables must be identical, since each cell depends on its seed only.

    python experiments/sweep_throughput.py --workers 2
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from prefrl.executor import run_sweep
from prefrl.results import aggregate
from prefrl.sweep import load_sweep


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", default="experiments/results/sweep_throughput")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    sweep = load_sweep("throughput")
    root = Path(args.out) / time.strftime("%Y%m%d-%H%M%S")
    sequential = run_sweep(sweep, root / "sequential", workers=1)
    parallel = run_sweep(sweep, root / "parallel", workers=args.workers)
    aggregate(root / "sequential")
    aggregate(root / "parallel")
    same = (root / "sequential" / "results.csv").read_text() == (root / "parallel" / "results.csv").read_text()
    ratio = parallel["wall_time_s"] / sequential["wall_time_s"]
    print(
        f"{len(sweep.cells)} cells: sequential {sequential['wall_time_s']:.1f} s, {args.workers} workers "
        f"{parallel['wall_time_s']:.1f} s, ratio {ratio:.2f} (target <= 0.6); identical tables: {same}"
    )


if __name__ == "__main__":
    main()
