"""Label efficiency: preference runs against PPO on the true reward (Christiano et al. 2017, figure 1 style).

For each env and seed: one baseline run, then one preference run per oracle setting (noise-free, and
with a 10% mistake rate). Scores are `final_true_return` (20 deterministic episodes of the original env).
The table reports, per env and setting, the mean score and the share of the baseline's improvement over
a random policy that the preference runs recover: (pref - random) / (baseline - random).

    python experiments/label_efficiency.py --envs CartPole-v1 Pendulum-v1 Acrobot-v1 --seeds 0 1 2
    python experiments/label_efficiency.py --envs CartPole-v1 --sync   # every fit lands before PPO goes on
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from dataclasses import replace
from pathlib import Path

import gymnasium as gym
import numpy as np

import prefrl  # noqa: F401  (registers env variants)
from prefrl.baseline import run_baseline
from prefrl.plotting import plot_runs
from prefrl.threads import use_one_thread
from prefrl.trainer import PreferenceRL, train_config

SETTINGS = {"noise-free": {}, "eps0.1": {"mistake_rate": 0.1}}


def random_policy_return(env_id: str, episodes: int = 20, seed: int = 0) -> float:
    env = gym.make(env_id)
    rng = np.random.default_rng(seed)
    env.action_space.seed(seed)
    total = 0.0
    for episode in range(episodes):
        env.reset(seed=int(rng.integers(1 << 30)))
        done = False
        while not done:
            _, reward, terminated, truncated, _ = env.step(env.action_space.sample())
            total += float(reward)
            done = terminated or truncated
    return total / episodes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envs", nargs="+", default=["CartPole-v1", "Pendulum-v1", "Acrobot-v1"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--labels", type=int, default=None, help="default: the preset's budget")
    parser.add_argument("--timesteps", type=int, default=None, help="default: the preset's")
    parser.add_argument(
        "--sync", action="store_true", help="fit r̂ inline, PPO waiting for every fit (deterministic under a seed, slower)"
    )
    parser.add_argument("--out", default="experiments/results/label_efficiency")
    args = parser.parse_args()
    use_one_thread()
    root = Path(args.out) / time.strftime("%Y%m%d-%H%M%S")
    results: dict[str, dict[str, list[float]]] = {}
    labels_used: dict[str, list[int]] = {}
    for env_id in args.envs:
        random_return = random_policy_return(env_id)
        results[env_id] = {"baseline": [], **{s: [] for s in args.settings}, "random": [random_return]}
        for seed in args.seeds:
            overrides = {"seed": seed, "sync": args.sync}
            if args.labels:
                overrides["labels"] = args.labels
            if args.timesteps:
                overrides["timesteps"] = args.timesteps
            config = train_config(env_id, **overrides)
            base_dir = root / f"{env_id}-baseline-s{seed}"
            base = run_baseline(replace(config.run, out=str(base_dir)), progress=False)
            results[env_id]["baseline"].append(base["final_true_return"])
            run_dirs = [base_dir]
            for setting in args.settings:
                run_dir = root / f"{env_id}-{setting}-s{seed}"
                noisy = train_config(env_id, **overrides, **SETTINGS[setting], out=str(run_dir))
                summary = PreferenceRL(noisy, progress=False).learn()
                results[env_id][setting].append(summary["final_true_return"])
                labels_used.setdefault(f"{env_id}/{setting}", []).append(summary["labels_used"])
                run_dirs.append(run_dir)
                print(
                    f"{env_id} seed {seed} {setting}: {summary['final_true_return']:.1f} "
                    f"(baseline {base['final_true_return']:.1f}, labels {summary['labels_used']})",
                    flush=True,
                )
            plot_runs(run_dirs, root / f"{env_id}-s{seed}.png", title=f"{env_id} seed {seed}")
    (root / "results.json").write_text(json.dumps({"scores": results, "labels": labels_used}, indent=2))
    print(f"\n{'env':<16} {'setting':<11} {'labels':>6} {'mean':>9} {'baseline':>9} {'random':>9} {'% of base':>9} {'% above rnd':>11}")
    for env_id, scores in results.items():
        base_mean = statistics.mean(scores["baseline"])
        random_return = scores["random"][0]
        for setting in args.settings:
            mean = statistics.mean(scores[setting])
            labels = max(labels_used[f"{env_id}/{setting}"])
            of_base = 100 * mean / base_mean if base_mean > 0 else float("nan")
            above = 100 * (mean - random_return) / (base_mean - random_return)
            print(
                f"{env_id:<16} {setting:<11} {labels:>6} {mean:>9.1f} {base_mean:>9.1f} {random_return:>9.1f} "
                f"{of_base:>9.1f} {above:>11.1f}"
            )
    print(f"\nruns and plots in {root}")


if __name__ == "__main__":
    main()
