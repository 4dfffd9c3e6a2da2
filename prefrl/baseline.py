"""`prefrl baseline`: PPO on the original env's true reward, with the same preset, budget and run folder
as a preference run, so their learning curves and wall times compare one to one."""

from __future__ import annotations

import threading
import time
from typing import Any

from stable_baselines3.common.callbacks import CallbackList

from prefrl.agent import finish_run, make_agent, save_atomically
from prefrl.callbacks import RunMonitor, episode_buffer_stats
from prefrl.config import RunConfig, to_dict
from prefrl.envs import check_env_id, make_vec
from prefrl.evaluation import make_eval_env
from prefrl.runs import MetricsWriter, RunFolder, default_run_dir
from prefrl.stopping import RunStopped


def run_baseline(
    config: RunConfig, progress: bool = True, stop: threading.Event | None = None, in_training_env: bool = False
) -> dict[str, Any]:
    """Train ``config.algo`` on ``config.env_id`` with its true reward for ``config.timesteps`` steps; returns the summary.

    The env is the original one (it terminates), through the same observation pipeline as a preference run's.
    Once ``stop`` is set, PPO ends at its next step and :class:`~prefrl.stopping.RunStopped` is raised; a
    baseline has no resume, so the curve so far in ``metrics.csv`` is what it leaves.

    :param in_training_env: train in the env a preference run trains in instead (``config.training_env_id``
        with the preset's ``[train_env]`` table: the fixed horizon, no game end, a hold or charge), on that env's
        own reward, the one the synthetic oracle reads; the policy is still scored in the original env. Set
        beside the plain baseline, it splits a preference run's shortfall into what the variant costs RL itself
        and what learning the reward from labels costs.
    """
    check_env_id(config.env_id)
    started = time.perf_counter()
    trained_in = config.training_env_id if in_training_env else config.env_id
    kind = "baseline-in-training-env" if in_training_env else "baseline"
    run = RunFolder(config.out or default_run_dir(config.env_id, kind, config.seed))
    run.write_json(RunFolder.CONFIG, {"kind": "baseline", "trained_in": trained_in, "run": to_dict(config)})
    env_kwargs = config.train_env_kwargs if in_training_env else None
    env = make_vec(trained_in, config.n_envs, config.seed, config.score_boxes, env_kwargs=env_kwargs)
    model = make_agent(config.algo, env, config.algo_kwargs, config.seed, run, config.device, config.normalize_observations)
    metrics = MetricsWriter(run / RunFolder.METRICS)
    monitor = RunMonitor(
        eval_env=make_eval_env(config.env_id, config.eval_episodes, config.seed + 1, config.score_boxes),
        eval_episodes=config.eval_episodes,
        eval_interval=config.eval_interval,
        metrics=metrics,
        stats=episode_buffer_stats(lambda: model),
        checkpoint=lambda: save_atomically(model, run.checkpoint / RunFolder.POLICY),
        checkpoint_interval=config.checkpoint_interval,
        total_timesteps=config.timesteps,
        progress=progress,
        stop=stop,
    )
    try:
        model.learn(total_timesteps=config.timesteps, callback=CallbackList([monitor]))
        if monitor.stop.is_set():
            raise RunStopped(int(model.num_timesteps), str(run.path), resumable=False)
        monitor.record_point()
    finally:
        metrics.close()
    return finish_run(model, run, config, started, {"kind": "baseline", "trained_in": trained_in, "labels_used": 0})
