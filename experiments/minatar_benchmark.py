"""MinAtar benchmark (issue 7): preference learning from pixel clips against PPO on the true reward.

(Not named minatar.py: run as a script, that name would shadow the minatar package it needs.)

For each game and seed, at the preset's timesteps: PPO on the original env's true reward (`prefrl baseline`),
then a preference run with the noise-free synthetic oracle and the preset's label budget (`prefrl train`).
Both score `final_true_return` (20 deterministic episodes of the original env). Reported per game:

- normalized score (R - R_random) / (R_PPO - R_random), the issue's target being >= 0.8 with <= 1000 labels;
- wall time of the preference run over the baseline's (the overhead target is <= 1.2x);
- bytes per stored segment of the comparison store (frames are zlib-compressed);
- how many reward fits landed and the share of "equal" labels: a run whose fits do not land, or whose labels are
  mostly ties (two clips with as many bricks), learns from few comparisons however many it was given;
- the normalized score in the fixed-horizon variant (1000 steps of play, a lost game reset at once: without the
  hold and charge of a preset's ``[train_env]``), from both final policies' and a random policy's true return
  there. The normalized score counts a game's points until it is lost; the variant counts points per step of play,
  and losing costs only the moment a new game takes to start. Where the variant's score is near 1 and the
  original's is not, the preference run learned what its labels asked for, and the gap lies between the two
  objectives;
- with ``--variant-baseline``, also the normalized score against PPO trained in the preset's variant (hold and
  charge included) on that variant's own reward and scored in the original (`prefrl baseline
  --in-training-env`): what learning the reward from labels costs, apart from what the variant costs RL itself.

The issue's setting (1M steps, 1000 labels, 3 seeds; on 2 shared cores expect hours, so run it niced):

    nice -n 10 python experiments/minatar_benchmark.py --games Breakout SpaceInvaders --seeds 0 1 2

and a shorter budget with ``--timesteps N --labels N`` (keep labels/timesteps at the preset's 1 per 1000 steps).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from dataclasses import replace
from pathlib import Path

from prefrl.agent import algo_class, final_evaluation
from prefrl.baseline import run_baseline
from prefrl.results import normalized_score, random_policy_return
from prefrl.threads import use_one_thread
from prefrl.trainer import PreferenceRL, train_config


def tie_share(counts: dict[str, int]) -> float:
    """Share of "equal" among the trainable labels of a run."""
    trainable = counts["left"] + counts["right"] + counts["equal"]
    return counts["equal"] / trainable if trainable else float("nan")


def variant_return(run_dir: Path, algo: str, variant_id: str, seed: int, episodes: int = 5) -> float:
    """Mean true return of a run's final policy over deterministic episodes of the fixed-horizon variant."""
    model = algo_class(algo).load(run_dir / "policy.zip", device="cpu")
    return final_evaluation(model, variant_id, episodes, seed)[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--games", nargs="+", default=["Breakout", "SpaceInvaders"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--labels", type=int, default=None, help="default: the preset's budget")
    parser.add_argument("--timesteps", type=int, default=None, help="default: the preset's")
    parser.add_argument("--out", default="experiments/results/minatar")
    parser.add_argument("--variant-baseline", action="store_true", help="also PPO in the training variant")
    args = parser.parse_args()
    use_one_thread()
    root = Path(args.out) / time.strftime("%Y%m%d-%H%M%S")
    overrides = {key: value for key, value in (("labels", args.labels), ("timesteps", args.timesteps)) if value}
    table = {}
    for game in args.games:
        env_id = f"MinAtar/{game}-v1"
        rows = []
        for seed in args.seeds:
            config = train_config(env_id, seed=seed, out=str(root / f"{game}-preference-s{seed}"), **overrides)
            base = run_baseline(replace(config.run, out=str(root / f"{game}-baseline-s{seed}")), progress=False)
            pref = PreferenceRL(config, progress=False).learn()
            variant = {kind: variant_return(root / f"{game}-{kind}-s{seed}", config.run.algo, config.run.train_env_id, seed)
                       for kind in ("baseline", "preference")}
            rows.append({"seed": seed, "baseline": base, "preference": pref, "variant_return": variant})
            if args.variant_baseline:
                rows[-1]["baseline_in_training_env"] = run_baseline(
                    replace(config.run, out=str(root / f"{game}-baseline-in-training-env-s{seed}")),
                    progress=False,
                    in_training_env=True,
                )
            print(f"{env_id} seed {seed}: preference {pref['final_true_return']:.2f} with {pref['labels_used']} labels "
                  f"in {pref['wall_time_s']:.0f} s, PPO {base['final_true_return']:.2f} in {base['wall_time_s']:.0f} s; "
                  f"in the variant {variant['preference']:.1f} against {variant['baseline']:.1f}"
                  + (f"; PPO trained in the variant {rows[-1]['baseline_in_training_env']['final_true_return']:.2f}"
                     if args.variant_baseline else ""), flush=True)
        # MinAtar games last ~10 steps, so 200 random games cost under a second and pin R_random down.
        table[env_id] = {"random": random_policy_return(env_id, episodes=200), "runs": rows,
                         "variant_random": random_policy_return(config.run.train_env_id, episodes=20)}
    (root / "results.json").write_text(json.dumps(table, indent=2, default=str))
    print(f"\n{'env':<26} {'random':>7} {'PPO':>7} {'pref':>7} {'normalized':>10} {'time ratio':>10} {'B/segment':>9} "
          f"{'fits':>5} {'ties':>5} {'variant':>7} {'vs PPO in variant':>17}")
    for env_id, result in table.items():
        runs, low = result["runs"], result["random"]
        ppo = statistics.mean(run["baseline"]["final_true_return"] for run in runs)
        pref = statistics.mean(run["preference"]["final_true_return"] for run in runs)
        ratio = statistics.mean(run["preference"]["wall_time_s"] / run["baseline"]["wall_time_s"] for run in runs)
        size = statistics.mean(run["preference"]["bytes_per_segment"] for run in runs)
        fits = statistics.mean(run["preference"]["reward_fits"] for run in runs)
        ties = statistics.mean(tie_share(run["preference"]["label_counts"]) for run in runs)
        in_variant = normalized_score(statistics.mean(run["variant_return"]["preference"] for run in runs),
                                      result["variant_random"],
                                      statistics.mean(run["variant_return"]["baseline"] for run in runs))
        against_variant_ppo = (
            normalized_score(pref, low, statistics.mean(run["baseline_in_training_env"]["final_true_return"] for run in runs))
            if args.variant_baseline
            else float("nan")
        )
        print(f"{env_id:<26} {low:>7.2f} {ppo:>7.2f} {pref:>7.2f} {normalized_score(pref, low, ppo):>10.2f} "
              f"{ratio:>10.2f} {size:>9.0f} {fits:>5.1f} {ties:>5.2f} {in_variant:>7.2f} {against_variant_ppo:>17.2f}")
    print(f"\nruns in {root}")


if __name__ == "__main__":
    main()
