"""Evaluation of a policy on the original env with its true reward.

Training may happen in a fixed-horizon variant, on a learned reward; the score that counts is always
the original task's return under deterministic actions, the same for `prefrl train` and `prefrl baseline`.
"""

from __future__ import annotations

from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.vec_env import VecEnv

from prefrl.envs import ScoreBoxes, make_vec
from prefrl.normalization import as_seen_by

# Parallel envs used to run evaluation episodes: batched policy calls, without more envs than episodes.
_MAX_EVAL_ENVS = 10


def make_eval_env(env_id: str, n_episodes: int, seed: int, score_boxes: ScoreBoxes = ()) -> VecEnv:
    """A Monitor-wrapped vectorized copy of the original env for ``n_episodes`` evaluation episodes.

    Through the same observation pipeline as training (an ALE game's preprocessing, score mask and frame stack):
    only termination and reward differ from the env the policy learned in.
    """
    return make_vec(env_id, min(n_episodes, _MAX_EVAL_ENVS), seed, score_boxes)


def evaluate(model: BaseAlgorithm, env: VecEnv, n_episodes: int) -> tuple[float, float]:
    """Mean and std of the true return over ``n_episodes`` deterministic episodes (the policy reads the
    observations through its own, frozen, normalization where it has one)."""
    mean, std = evaluate_policy(model, as_seen_by(model, env), n_eval_episodes=n_episodes, deterministic=True, warn=False)
    return float(mean), float(std)
