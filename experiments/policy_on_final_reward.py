"""Train a fresh policy on a finished run's final reward net, held fixed, and score it on the original env.

When a preference run ends with a poor policy, this says which half failed. If a fresh policy trained on the final
r̂ scores well, r̂ was sound and the run's policy had settled on an earlier r̂ (PPO's learning rate and clip range
decay to 0 over the run, so late fits move it little); if it scores poorly too, r̂ itself is wrong. The policy is
the env's preset algorithm with the preset's settings and timesteps, in the env the run trained in; nothing in the
run folder is written.

    python experiments/policy_on_final_reward.py runs/CartPole-v1-train-s4-... [--seed 0] [--timesteps N]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from prefrl.agent import final_evaluation, make_agent
from prefrl.config import TrainConfig, from_dict
from prefrl.envs import make_vec
from prefrl.reward.nets import RewardEnsemble
from prefrl.runs import RunFolder, read_train_config
from prefrl.threads import use_one_thread
from prefrl.trainer import train_config
from prefrl.wrappers import LearnedRewardVecEnv


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a finished run folder of `prefrl train`")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timesteps", type=int, default=None, help="default: the run's")
    args = parser.parse_args()
    use_one_thread()
    run_cfg = from_dict(TrainConfig, read_train_config(args.run)).run
    env = make_vec(
        run_cfg.training_env_id, run_cfg.n_envs, args.seed, run_cfg.score_boxes,
        env_kwargs=run_cfg.train_env_kwargs,
    )
    reward_net = RewardEnsemble.load(args.run, env.observation_space, env.action_space)
    # The run's config.json records schedules by name only; the preset rebuilds them.
    algo_kwargs = train_config(run_cfg.env_id, algo=run_cfg.algo).run.algo_kwargs
    with tempfile.TemporaryDirectory() as scratch:
        model = make_agent(
            run_cfg.algo, LearnedRewardVecEnv(env, reward_net), algo_kwargs, args.seed, RunFolder(scratch), "cpu",
            run_cfg.normalize_observations,
        )
        model.learn(total_timesteps=args.timesteps or run_cfg.timesteps)
        mean, std = final_evaluation(model, run_cfg.env_id, run_cfg.final_eval_episodes, args.seed, run_cfg.score_boxes)
    print(f"{args.run}: a fresh {run_cfg.algo} on the final r̂ scored {mean:.1f} ± {std:.1f} on {run_cfg.env_id}")


if __name__ == "__main__":
    main()
