"""Where a preference run's extra wall time goes: PPO's own parts against the baseline's, and ours beside them.

`experiments/overhead.py` gives the ratio of wall times; this script splits it. It times, without a profiler
(cProfile inflates the many small torch calls several times over), a preference run and a PPO baseline of the
same preset and length, one after the other in this process, by wrapping the methods below with a timer:

- PPO's rollout collection and its gradient updates (both runs);
- the env's own steps, and our reward wrapper's step with the env's inside it (so the wrapper's share is the
  difference), of which the reward net's per-step inference;
- the preference callback at each rollout's end, of which query selection, the store's writes, segment cutting and
  installing a finished fit;
- the rest of the preference run's wall time, outside PPO's `learn`: the initial clips, labels and first fit.

    python experiments/overhead_parts.py --env MinAtar/Breakout-v1 --timesteps 200000 [--preset FILE]
"""

from __future__ import annotations

import argparse
import functools
import time
from collections import defaultdict
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

from stable_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm
from stable_baselines3.common.vec_env import DummyVecEnv

from prefrl.agent import algo_class
from prefrl.baseline import run_baseline
from prefrl.callbacks import PreferenceCallback
from prefrl.labeling import Labeler
from prefrl.reward.nets import RewardEnsemble
from prefrl.segments import SegmentCutter
from prefrl.selection import DisagreementSelector
from prefrl.store import ComparisonStore
from prefrl.threads import use_one_thread
from prefrl.trainer import PreferenceRL, train_config
from prefrl.wrappers import LearnedRewardVecEnv

# Part -> the method whose wall time it is. The algorithm's own update (``PPO.train``) is added for the preset's algo.
PARTS: dict[str, tuple[type, str]] = {
    "algorithm: collect rollouts": (OnPolicyAlgorithm, "collect_rollouts"),
    "  env steps": (DummyVecEnv, "step_wait"),
    "  reward wrapper step (env inside)": (LearnedRewardVecEnv, "step_wait"),
    "    of which r̂ per step": (RewardEnsemble, "predict_members"),
    "  preference callback at rollout end": (PreferenceCallback, "_on_rollout_end"),
    "    labels asked (selection, oracle, store)": (Labeler, "ask_due"),
    "      of which selection": (DisagreementSelector, "select"),
    "      of which store writes": (ComparisonStore, "add_queries"),
    "    segment cutting": (SegmentCutter, "add"),
    "    installing a fit": (PreferenceCallback, "swap_in"),
}
UPDATE = "algorithm: gradient updates"
OUTSIDE = "outside the algorithm's learn (set-up, initial labels, first fit, evaluation)"


def time_methods(totals: dict[str, float], parts: dict[str, tuple[type, str]]) -> None:
    """Wrap every method of ``parts`` so that its wall time adds up in ``totals`` under the part's name."""

    def timer(method: Callable[..., Any], part: str) -> Callable[..., Any]:
        @functools.wraps(method)
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                totals[part] += time.perf_counter() - started

        return timed

    for part, (owner, name) in parts.items():
        setattr(owner, name, timer(getattr(owner, name), part))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="MinAtar/Breakout-v1")
    parser.add_argument("--timesteps", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--preset", default=None, help="a preset file instead of the env's own (both runs use it)")
    parser.add_argument("--out", default="experiments/results/overhead_parts")
    args = parser.parse_args()
    use_one_thread()
    config = train_config(args.env, args.preset, seed=args.seed, timesteps=args.timesteps, final_eval_episodes=2)
    parts = {**PARTS, UPDATE: (algo_class(config.run.algo), "train")}
    totals: dict[str, float] = defaultdict(float)
    time_methods(totals, parts)
    out = Path(args.out) / time.strftime("%Y%m%d-%H%M%S")
    columns = {}
    for kind in ("baseline", "train"):
        totals.clear()
        run = replace(config.run, out=str(out / kind))
        started = time.perf_counter()
        if kind == "baseline":
            run_baseline(run, progress=False)
        else:
            PreferenceRL(replace(config, run=run), progress=False).learn()
        wall = time.perf_counter() - started
        outside = wall - totals["algorithm: collect rollouts"] - totals[UPDATE]
        columns[kind] = {**totals, OUTSIDE: outside, "wall time": wall}
    print(f"{args.env}, {args.timesteps} steps, seed {args.seed}, {config.run.algo}: seconds")
    print(f"{'part':<80} {'baseline':>9} {'train':>9}")
    for part in [*parts, OUTSIDE, "wall time"]:
        cells = [f"{columns[kind][part]:9.1f}" if part in columns[kind] else "" for kind in ("baseline", "train")]
        print(f"{part:<80} {cells[0]:>9} {cells[1]:>9}")
    print(f"ratio of wall times: {columns['train']['wall time'] / columns['baseline']['wall time']:.3f}")


if __name__ == "__main__":
    main()
