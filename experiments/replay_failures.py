"""Why does a trained CartPole policy fall? Replay run folders' final policies on CartPole-v1 and print, per
deterministic episode, the return, what ended it (pole angle, cart position, or the time limit) and the mean
cart position.

Usage: .venv/bin/python experiments/replay_failures.py RUN_DIR [RUN_DIR ...] [--episodes 10]
"""

from __future__ import annotations

import argparse

import gymnasium as gym
import numpy as np
from stable_baselines3 import PPO


def replay(run_dir: str, episodes: int) -> list[tuple[int, str, float]]:
    model = PPO.load(f"{run_dir}/policy.zip", device="cpu")
    env = gym.make("CartPole-v1")
    base = env.unwrapped
    outcomes = []
    for episode in range(episodes):
        obs, _ = env.reset(seed=episode)
        total, positions = 0, []
        while True:
            action, _ = model.predict(obs, deterministic=True)
            obs, reward, terminated, truncated, _ = env.step(action)
            total += int(reward)
            positions.append(float(obs[0]))
            if terminated or truncated:
                break
        if abs(obs[0]) > base.x_threshold:
            cause = "cart position"
        elif abs(obs[2]) > base.theta_threshold_radians:
            cause = "pole angle"
        else:
            cause = "time limit"
        outcomes.append((total, cause, round(float(np.mean(positions)), 2)))
    return outcomes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+")
    parser.add_argument("--episodes", type=int, default=10)
    args = parser.parse_args()
    for run_dir in args.runs:
        print(run_dir, replay(run_dir, args.episodes))


if __name__ == "__main__":
    main()
