"""Does a run's final r̂ rank policies as the true reward does, those it never saw included?

A preference run's r̂ is fit on clips of the run's own policies. PPO climbs whatever r̂ pays, so an r̂ that orders
those clips well but pays a better policy less than the run's own holds the run back; a fresh PPO on the final r̂
(`policy_on_final_reward.py`) says *that* r̂ fails, this says *where*. Each policy (its own run's saved one, sampling
its actions) plays the reward run's training env, and per episode of play it prints the true return and r̂'s, r̂ in
points (its sum over the pay of one true point, so the columns compare), and r̂ on the steps whose true reward is
positive, negative and zero: on a game, what r̂ pays for a point, charges for a lost game, and pays for play that
scores nothing. A dense reward (CartPole's variant, MuJoCo's) has no step without reward: there a point's pay is the
slope of r̂ on the true reward, and the columns read against a step without reward are nan.

    python experiments/reward_on_policies.py REWARD_RUN POLICY_RUN... [--episodes 3]

REWARD_RUN is a finished `prefrl train` run; each POLICY_RUN a `prefrl train` or `prefrl baseline` run of the same
env (REWARD_RUN itself too, for its own policy).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from prefrl.reward_samples import policy_rewards
from prefrl.threads import use_one_thread


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reward_run", type=Path)
    parser.add_argument("policy_runs", type=Path, nargs="+")
    parser.add_argument("--episodes", type=int, default=3)
    args = parser.parse_args()
    use_one_thread()
    played = {run: policy_rewards(args.reward_run, run, episodes=args.episodes) for run in args.policy_runs}
    true = np.concatenate([samples["true"] for samples in played.values()])
    learned = np.concatenate([samples["learned"] for samples in played.values()])
    point, how = point_pay(true, learned)
    print(f"r̂ of {args.reward_run}, {args.episodes} episodes of each policy:")
    print(f"a true point is worth {point:.3f} of r̂ ({how})")
    print("policy | true return | r̂ return | r̂ return in points | a scoring step, points | a charged step, points "
          "| r̂ on a step without reward | scoring / charged steps")
    for run, samples in played.items():
        true, learned = samples["true"], samples["learned"]
        idle = float(learned[true == 0].mean()) if (true == 0).any() else float("nan")  # none on a dense reward
        in_points = {sign: (learned[mask].mean() - idle) / point if mask.any() else float("nan")
                     for sign, mask in (("+", true > 0), ("-", true < 0))}
        per_episode = 1 / args.episodes
        print(
            f"{run.name} | {true.sum() * per_episode:.1f} | {learned.sum() * per_episode:.1f} | "
            f"{learned.sum() * per_episode / point:.1f} | {in_points['+']:+.2f} | {in_points['-']:+.2f} | "
            f"{idle:+.3f} | "
            f"{(true > 0).sum() * per_episode:.0f} / {(true < 0).sum() * per_episode:.0f}"
        )


def point_pay(true: np.ndarray, learned: np.ndarray) -> tuple[float, str]:
    """What r̂ pays for one true point, and how that was read. A game's reward is zero on most steps: there it is
    what a scoring step gets over one without reward. A dense reward (MuJoCo's) is never exactly zero: there it is
    the slope of r̂ on the true reward over all steps."""
    scoring, idle = true > 0, true == 0
    if scoring.any() and idle.any():
        pay = (learned[scoring].mean() - learned[idle].mean()) / true[scoring].mean()
        return float(pay), "a scoring step over one without reward"
    if true.std() == 0:
        raise SystemExit("the true reward is the same on every step played: r̂ has nothing to be compared with.")
    return float(np.cov(true, learned)[0, 1] / true.var(ddof=1)), "slope of r̂ on the true reward"


if __name__ == "__main__":
    main()
