"""Per-step reward inference: NumPy against torch, one BLAS thread against all, per env's observation space.

The reward net pays PPO once per env step, on one frame per env. Which path is faster depends on the frame's
size (``prefrl.reward.cnn.NUMPY_TRUNK_MAX_MULTIPLY_ADDS`` draws the line), and how many threads NumPy's BLAS
runs decides how much a small product costs (``prefrl.threads``). Prints µs per frame for each combination, on
one batch of the preset's ``n_envs`` random observations, with torch on one thread as the CLI runs it:

    python experiments/inference_paths.py MinAtar/Breakout-v1 PongNoFrameskip-v4 CartPole-v1

``--batch-sizes`` times other batch sizes as well: what paying PPO a rollout at a time, in chunks, would cost
per frame instead of one step of every env at a time.

    python experiments/inference_paths.py MinAtar/Breakout-v1 --batch-sizes 8 32 64 128 1024
"""

from __future__ import annotations

import argparse
import os
import time

import gymnasium as gym
import numpy as np
import torch
from threadpoolctl import threadpool_limits

from prefrl.atari import register_optional_envs
from prefrl.reward.nets import RewardEnsemble
from prefrl.trainer import train_config


def per_frame_us(predict, obs: np.ndarray, actions: np.ndarray, seconds: float = 2.0) -> float:
    """Mean µs per frame of ``predict(obs, actions)`` over about ``seconds`` of calls, after a warm-up."""
    for _ in range(5):
        predict(obs, actions)
    calls, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        predict(obs, actions)
        calls += 1
    return (time.perf_counter() - started) / calls / len(obs) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("envs", nargs="+")
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=None, help="frames a call (default: the preset's n_envs)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    cores = len(os.sched_getaffinity(0))
    for env_id in args.envs:
        config = train_config(env_id)
        train_id = config.run.training_env_id
        register_optional_envs(train_id)
        env = gym.make(train_id)
        model = RewardEnsemble.from_config(env.observation_space, env.action_space, config.reward)
        chosen = "NumPy" if model._numpy_inference else "torch"
        model._numpy_inference = True  # both paths, whatever predict would choose
        for batch_size in args.batch_sizes or [config.run.n_envs]:
            obs = np.stack([env.observation_space.sample() for _ in range(batch_size)])
            actions = np.stack([env.action_space.sample() for _ in range(batch_size)])
            figures = []
            for threads in sorted({1, cores}):
                with threadpool_limits(threads, user_api="blas"):
                    figures.append(f"NumPy, {threads} BLAS thread(s): {per_frame_us(model.predict, obs, actions):.1f}")
            figures.append(f"torch: {per_frame_us(model.torch_predict, obs, actions):.1f}")
            print(f"{env_id} ({batch_size} frames a call; predict uses {chosen}), µs a frame: " + "; ".join(figures), flush=True)
        env.close()


if __name__ == "__main__":
    main()
