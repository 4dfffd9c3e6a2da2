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


def run_baseline(config: RunConfig, progress: bool = True, stop: threading.Event | None = None) -> dict[str, Any]:
    """Train ``config.algo`` on ``config.env_id`` with its true reward for ``config.timesteps`` steps; returns the summary.

    The env is the original one (it terminates), through the same observation pipeline as a preference run's.
    Once ``stop`` is set, PPO ends at its next step and :class:`~prefrl.stopping.RunStopped` is raised; a
    baseline has no resume, so the curve so far in ``metrics.csv`` is what it leaves.
    """
    check_env_id(config.env_id)
    started = time.perf_counter()
    run = RunFolder(config.out or default_run_dir(config.env_id, "baseline", config.seed))
    run.write_json(RunFolder.CONFIG, {"kind": "baseline", "run": to_dict(config)})
    env = make_vec(config.env_id, config.n_envs, config.seed, config.score_boxes)
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
    return finish_run(model, run, config, started, {"kind": "baseline", "labels_used": 0})
