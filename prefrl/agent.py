"""What a preference run and a baseline run share: building the RL algorithm (PPO, or A2C as the paper used for
Atari) from a preset, and finishing a run (final evaluation on the original env, saved policy, summary.json,
learning-curve plot)."""

from __future__ import annotations

import importlib.util
import os
import time
from pathlib import Path
from typing import Any, Mapping

from stable_baselines3 import A2C, PPO
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm
from stable_baselines3.common.logger import configure
from stable_baselines3.common.vec_env import VecEnv

from prefrl.config import RunConfig
from prefrl.envs import ScoreBoxes
from prefrl.evaluation import evaluate, make_eval_env
from prefrl.normalization import restored, save_stats, standardized
from prefrl.policies import policy_for
from prefrl.runs import RunFolder

_EVAL_SEED_OFFSET = 20_000  # evaluation envs never share seeds with training envs

ALGOS: dict[str, type[OnPolicyAlgorithm]] = {"ppo": PPO, "a2c": A2C}
"""``RunConfig.algo`` -> SB3 class. On-policy only: the preference callback cuts segments out of each rollout."""


def algo_class(name: str) -> type[OnPolicyAlgorithm]:
    """The SB3 class for ``algo=name``; a ValueError that lists :data:`ALGOS` otherwise."""
    if name not in ALGOS:
        raise ValueError(f"algo={name!r} is not an algorithm prefrl runs; use one of {', '.join(ALGOS)}.")
    return ALGOS[name]


def attach_logger(model: BaseAlgorithm, run: RunFolder) -> BaseAlgorithm:
    """SB3's metrics (``train/approx_kl``, ``reward/val_accuracy``, ...) to ``sb3/progress.csv``, and to
    TensorBoard event files beside it when the ``tensorboard`` package is installed (``pip install prefrl[tb]``)."""
    formats = ["csv"]
    if importlib.util.find_spec("tensorboard") is not None:
        formats.append("tensorboard")
    model.set_logger(configure(str(run / "sb3"), formats))
    return model


def make_agent(
    algo: str,
    env: VecEnv,
    kwargs: Mapping[str, Any],
    seed: int,
    run: RunFolder,
    device: str = "auto",
    normalize_observations: bool = False,
) -> OnPolicyAlgorithm:
    """SB3 ``algo`` with the policy network its observations need (``prefrl.policies``), logging into the run folder.

    :param device: ``auto`` puts the policy on a GPU when torch sees one (SB3's rule), else ``cpu`` or ``cuda``.
    :param normalize_observations: the policy reads ``env``'s observations standardized (``prefrl.normalization``).
    """
    cls = algo_class(algo)
    if normalize_observations:
        env = standardized(env)
    kwargs = dict(kwargs)
    policy, defaults = policy_for(env.observation_space)
    policy = kwargs.pop("policy", policy)
    if defaults:
        kwargs["policy_kwargs"] = {**defaults, **kwargs.get("policy_kwargs", {})}
    try:
        model = cls(policy, env, seed=seed, verbose=0, device=device, **kwargs)
    except TypeError as error:
        raise ValueError(f"the preset's [{algo}] table has an argument {cls.__name__} does not take: {error}") from None
    return attach_logger(model, run)


def load_agent(algo: str, path: Path, env: VecEnv, run: RunFolder, device: str = "auto") -> OnPolicyAlgorithm:
    """A checkpointed agent (hyperparameters, optimizer, timestep count and observation statistics included),
    logging into ``run``."""
    return attach_logger(algo_class(algo).load(path, env=restored(env, path), device=device), run)


def save_atomically(model: BaseAlgorithm, path: Path) -> None:
    """Save the policy to a temporary zip and rename it into place: a kill never leaves half a checkpoint.

    Observation statistics, where the policy has them, are written first: a policy file is never newer than them.
    """
    save_stats(model, path)
    temporary = path.with_name(path.stem + ".tmp.zip")
    model.save(temporary)
    os.replace(temporary, path)


def final_evaluation(
    model: BaseAlgorithm, env_id: str, episodes: int, seed: int, score_boxes: ScoreBoxes = ()
) -> tuple[float, float]:
    """Mean and std of the true return of ``episodes`` deterministic episodes of the original env."""
    env = make_eval_env(env_id, episodes, seed + _EVAL_SEED_OFFSET, score_boxes)
    try:
        return evaluate(model, env, episodes)
    finally:
        env.close()


def finish_run(
    model: BaseAlgorithm, run: RunFolder, config: RunConfig, started: float, extra: Mapping[str, Any]
) -> dict[str, Any]:
    """Save the policy, evaluate it on the original env, write ``summary.json`` and the plot."""
    from prefrl.plotting import plot_run  # matplotlib is imported only when a run ends

    save_atomically(model, run / RunFolder.POLICY)
    mean, std = final_evaluation(model, config.env_id, config.final_eval_episodes, config.seed, config.score_boxes)
    summary = {
        "env_id": config.env_id,
        "seed": config.seed,
        "algo": config.algo,
        "final_true_return": mean,
        "final_true_return_std": std,
        "final_eval_episodes": config.final_eval_episodes,
        "timesteps": int(model.num_timesteps),
        "wall_time_s": time.perf_counter() - started,
        **extra,
    }
    run.write_json(RunFolder.SUMMARY, summary)
    plot_run(run.path)
    return summary
