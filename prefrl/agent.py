"""What a preference run and a baseline run share: building PPO from a preset, and finishing a run
(final evaluation on the original env, saved policy, summary.json, learning-curve plot)."""

from __future__ import annotations

import importlib.util
import os
import time
from pathlib import Path
from typing import Any, Mapping

from stable_baselines3 import PPO
from stable_baselines3.common.logger import configure
from stable_baselines3.common.vec_env import VecEnv

from prefrl.evaluation import evaluate, make_eval_env
from prefrl.policies import policy_for
from prefrl.runs import RunFolder

_EVAL_SEED_OFFSET = 20_000  # evaluation envs never share seeds with training envs


def attach_logger(model: PPO, run: RunFolder) -> PPO:
    """SB3's metrics (``train/approx_kl``, ``reward/val_accuracy``, ...) to ``sb3/progress.csv``, and to
    TensorBoard event files beside it when the ``tensorboard`` package is installed (``pip install prefrl[tb]``)."""
    formats = ["csv"]
    if importlib.util.find_spec("tensorboard") is not None:
        formats.append("tensorboard")
    model.set_logger(configure(str(run / "sb3"), formats))
    return model


def make_ppo(env: VecEnv, ppo_kwargs: Mapping[str, Any], seed: int, run: RunFolder) -> PPO:
    """SB3 PPO with the policy network its observations need (``prefrl.policies``), logging into the run folder."""
    kwargs = dict(ppo_kwargs)
    policy, defaults = policy_for(env.observation_space)
    policy = kwargs.pop("policy", policy)
    if defaults:
        kwargs["policy_kwargs"] = {**defaults, **kwargs.get("policy_kwargs", {})}
    try:
        model = PPO(policy, env, seed=seed, verbose=0, **kwargs)
    except TypeError as error:
        raise ValueError(f"the preset's [ppo] table has an argument PPO does not take: {error}") from None
    return attach_logger(model, run)


def load_ppo(path: Path, env: VecEnv, run: RunFolder) -> PPO:
    """A checkpointed PPO (hyperparameters, optimizer and timestep count included), logging into ``run``."""
    return attach_logger(PPO.load(path, env=env), run)


def save_atomically(model: PPO, path: Path) -> None:
    """Save the policy to a temporary zip and rename it into place: a kill never leaves half a checkpoint."""
    temporary = path.with_name(path.stem + ".tmp.zip")
    model.save(temporary)
    os.replace(temporary, path)


def final_evaluation(model: PPO, env_id: str, episodes: int, seed: int) -> tuple[float, float]:
    """Mean and std of the true return of ``episodes`` deterministic episodes of the original env."""
    env = make_eval_env(env_id, episodes, seed + _EVAL_SEED_OFFSET)
    try:
        return evaluate(model, env, episodes)
    finally:
        env.close()


def finish_run(
    model: PPO,
    run: RunFolder,
    env_id: str,
    final_eval_episodes: int,
    seed: int,
    started: float,
    extra: Mapping[str, Any],
) -> dict[str, Any]:
    """Save the policy, evaluate it on the original env, write ``summary.json`` and the plot."""
    from prefrl.plotting import plot_run  # matplotlib is imported only when a run ends

    save_atomically(model, run / RunFolder.POLICY)
    mean, std = final_evaluation(model, env_id, final_eval_episodes, seed)
    summary = {
        "env_id": env_id,
        "seed": seed,
        "final_true_return": mean,
        "final_true_return_std": std,
        "final_eval_episodes": final_eval_episodes,
        "timesteps": int(model.num_timesteps),
        "wall_time_s": time.perf_counter() - started,
        **extra,
    }
    run.write_json(RunFolder.SUMMARY, summary)
    plot_run(run.path)
    return summary
