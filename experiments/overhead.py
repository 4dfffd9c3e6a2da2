"""Overhead of learning from preferences: wall time of `prefrl train` over `prefrl baseline`.

Both runs use the same preset, timesteps, seed, evaluation schedule and one thread for torch and BLAS, back to back in
this process, so the ratio is meaningful on a noisy shared machine. The preference run fits its reward net
in a background process (the default), which is what should hide the fitting cost.

    python experiments/overhead.py --env CartPole-v1 --timesteps 50000 --repeats 2
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import replace
from pathlib import Path

from prefrl.baseline import run_baseline
from prefrl.threads import use_one_thread
from prefrl.trainer import PreferenceRL, train_config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="CartPole-v1")
    parser.add_argument("--timesteps", type=int, default=None, help="default: the preset's")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--sync", action="store_true", help="fit inline instead of in a background process")
    parser.add_argument("--out", default="experiments/results/overhead")
    args = parser.parse_args()
    use_one_thread()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    ratios, base_times, train_times = [], [], []
    for repeat in range(args.repeats):
        overrides = {"seed": repeat, "sync": args.sync}
        if args.timesteps:
            overrides["timesteps"] = args.timesteps
        config = train_config(args.env, **overrides)
        out = Path(args.out) / stamp
        base = run_baseline(replace(config.run, out=str(out / f"baseline-{repeat}")), progress=False)
        pref_config = replace(config, run=replace(config.run, out=str(out / f"train-{repeat}")))
        pref = PreferenceRL(pref_config, progress=False).learn()
        base_times.append(base["wall_time_s"])
        train_times.append(pref["wall_time_s"])
        ratios.append(pref["wall_time_s"] / base["wall_time_s"])
        print(
            f"repeat {repeat}: baseline {base['wall_time_s']:.1f} s (return {base['final_true_return']:.1f}), "
            f"train {pref['wall_time_s']:.1f} s (return {pref['final_true_return']:.1f}, "
            f"{pref['labels_used']} labels), ratio {ratios[-1]:.3f}",
            flush=True,
        )
    print(
        f"{args.env} timesteps={config.run.timesteps} sync={args.sync}: "
        f"baseline median {statistics.median(base_times):.1f} s, train median {statistics.median(train_times):.1f} s, "
        f"ratio median {statistics.median(ratios):.3f} (all: {', '.join(f'{r:.3f}' for r in ratios)})"
    )


if __name__ == "__main__":
    main()
