"""`PreferenceRL`: wires env → segments → selection → oracle → store → reward fitting → wrapper → PPO.

It owns no math: each stage is an object from its own module. The order of one run:

1. pre-training: the initial policy plays a separate copy of the training env (PPO's own envs and their
   episode state are left alone), the schedule's initial share of labels is asked (a person answers them on
   the labelling page meanwhile, and the run waits for those first answers), and r̂ is fit once, so PPO's
   first update is already paid by a trained reward (the paper pre-trains on random-policy clips);
2. PPO learns; after every rollout :class:`~prefrl.callbacks.PreferenceCallback` cuts segments, asks what is
   due and swaps in the newest fit — which, unless ``sync``, runs in a background process;
3. the last due labels are asked (a fit still in flight is abandoned: it could not change the policy any
   more), the policy is evaluated on the original env, and the run folder is completed (summary, plot).
   Checkpoints along the way make ``PreferenceRL.resume`` possible.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import sys
import threading
import time
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from stable_baselines3.common.callbacks import CallbackList
from stable_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.vec_env import VecEnv

from prefrl.agent import algo_class, finish_run, load_agent, make_agent, save_atomically
from prefrl.callbacks import PreferenceCallback, RunMonitor
from prefrl.config import (
    HumanConfig,
    OracleConfig,
    QueryConfig,
    RewardConfig,
    RunConfig,
    TrainConfig,
    from_dict,
    to_dict,
)
from prefrl.envs import check_env_id, make_vec
from prefrl.evaluation import make_eval_env
from prefrl.labeling import Labeler
from prefrl.oracles.human.clips import RenderStateRecorder
from prefrl.oracles import OracleSession, oracle_from_config
from prefrl.presets import load_preset
from prefrl.reward.background import InlineFitter, ProcessFitter, reward_device
from prefrl.reward.nets import RewardEnsemble
from prefrl.reward.trainer import RewardTrainer
from prefrl.runs import MetricsWriter, RunFolder, default_run_dir, read_train_config
from prefrl.schedule import LabelSchedule, label_schedule
from prefrl.segments import SegmentBuffer, SegmentCutter
from prefrl.selection import make_selector
from prefrl.stopping import RunStopped
from prefrl.store import ComparisonStore
from prefrl.threads import all_cores
from prefrl.types import Oracle, Segment
from prefrl.wrappers import LearnedRewardVecEnv

# Seeds of the auxiliary streams, offset from the run's seed so no two streams coincide.
_WARMUP_SEED_OFFSET = 10_000
_CURVE_EVAL_SEED_OFFSET = 1
_WAIT_LOG_SECONDS = 30.0

logger = logging.getLogger(__name__)


def train_config(env_id: str, preset: str | Path | None = None, **overrides: Any) -> TrainConfig:
    """A :class:`TrainConfig` from an env's preset, with any field of any stage overridden by name.

    ``train_config("CartPole-v1", labels=60, mistake_rate=0.1, seed=3)`` routes ``labels`` to the query
    config, ``mistake_rate`` to the oracle config and ``seed`` to the run config. The algorithm's keyword
    arguments are the preset's table of the chosen ``algo`` (``[ppo]`` or ``[a2c]``).
    """
    check_env_id(env_id)  # before the preset, so a typo gets "did you mean", not "no preset"
    loaded = load_preset(env_id, preset)
    run_values: dict[str, Any] = {
        "env_id": loaded.env_id,
        "train_env_id": loaded.train_env_id,
        "timesteps": loaded.timesteps,
        "n_envs": loaded.n_envs,
        "segment_length": loaded.segment_length,
        "score_boxes": loaded.score_boxes,
        "train_env_kwargs": dict(loaded.train_env),
        "normalize_observations": loaded.normalize_observations,
    }
    query_values: dict[str, Any] = {"labels": loaded.labels, **loaded.query}
    stages: dict[type, dict[str, Any]] = {
        RunConfig: run_values,
        QueryConfig: query_values,
        OracleConfig: {},
        RewardConfig: dict(loaded.reward),
        HumanConfig: {},
    }
    for name, value in overrides.items():
        owner = next((cls for cls in stages if name in {f.name for f in fields(cls)}), None)
        if owner is None:
            known = sorted(f.name for cls in stages for f in fields(cls))
            raise TypeError(f"train_config() got an unknown option {name!r}; options are: {', '.join(known)}.")
        stages[owner][name] = value
    algo = run_values.get("algo", "ppo")
    algo_class(algo)  # an unknown algorithm fails here, before any env or folder is made
    run_values.setdefault("algo_kwargs", loaded.algo_kwargs(algo))
    return TrainConfig(
        run=RunConfig(**run_values),
        oracle=OracleConfig(**stages[OracleConfig]),
        reward=RewardConfig(**stages[RewardConfig]),
        query=QueryConfig(**query_values),
        human=HumanConfig(**stages[HumanConfig]),
    )


def collect_segments(policy: BasePolicy, env: LearnedRewardVecEnv, cutter: SegmentCutter, count: int) -> list[Segment]:
    """Play ``policy`` (stochastically) in ``env`` until ``count`` segments are cut; used before PPO starts."""
    segments: list[Segment] = []
    obs = env.reset()
    max_steps = 1000 * count * cutter.length  # a guard against an env whose episodes never fill a segment
    steps = 0
    while len(segments) < count:
        actions, _ = policy.predict(obs, deterministic=False)
        obs, _, _, _ = env.step(actions)
        steps += 1
        if steps % cutter.length == 0:
            batch = env.drain_steps()
            assert batch is not None
            segments.extend(cutter.add(batch))
        if steps * env.num_envs > max_steps:
            raise RuntimeError(f"no {cutter.length}-step segments after {steps} steps: are episodes shorter than that?")
    return segments


def wait_for_labels(store: ComparisonStore, wanted: int, poll_seconds: float = 0.5) -> None:
    """Block until ``wanted`` labels are answered, or no query is left pending (some were never asked).

    Used once, before PPO starts, when a person is the oracle: the paper pre-trains r̂ on the initial labels,
    and PPO on an untrained r̂ would only learn behaviour to unlearn. During training nothing waits for people.
    """
    last_log = -math.inf
    while True:
        counts = store.counts()
        if counts["answered"] >= wanted or counts["pending"] == 0:
            return
        if time.monotonic() - last_log >= _WAIT_LOG_SECONDS:
            logger.warning(
                "PPO waits for the first labels: %d of %d answered (%d pending).",
                counts["answered"], wanted, counts["pending"],
            )
            last_log = time.monotonic()
        time.sleep(poll_seconds)


def check_reward_net_class(reward_net_class: type, sync: bool) -> None:
    """A reward model must be a :class:`RewardEnsemble`; a background fitter (no ``sync``) must be able to import it.

    A class typed into a notebook or an interactive session lives in a ``__main__`` that the fitter's fresh
    interpreter cannot import; it would fail there, later, with a pickling error.
    """
    if not (isinstance(reward_net_class, type) and issubclass(reward_net_class, RewardEnsemble)):
        raise TypeError(
            f"reward_net_class={reward_net_class!r} is not a subclass of prefrl.RewardEnsemble; subclass it and "
            "override member_rewards (see RewardEnsemble's docstring)."
        )
    main = sys.modules.get("__main__")
    interactive = reward_net_class.__module__ == "__main__" and not getattr(main, "__file__", None)
    if interactive and not sync:
        raise ValueError(
            f"reward_net_class={reward_net_class.__qualname__} is defined interactively (a notebook or the REPL), "
            "where the background reward fitter cannot import it; move it into a .py module and import it from "
            "there, or fit inline with sync=True."
        )


class PreferenceRL:
    """PPO on a reward learned from preferences (Christiano et al. 2017).

    :param config: the run and each stage's options (see :func:`train_config` for a preset-based one).
    :param oracle: who answers queries; default: the one named by ``config.run.oracle``, built from the config
        (the synthetic oracle with ``config.oracle`` and the run's seed, the human one with ``config.human``).
    :param progress: draw a progress bar.
    :param reward_net_class: the reward model: :class:`~prefrl.reward.nets.RewardEnsemble` or a subclass of it
        with a head of your own (see its docstring). Without ``sync``, the background fitter imports it by name.

    ``stop``, a ``threading.Event``, ends a running :meth:`learn` at PPO's next step once set (from another
    thread, or a signal handler as in :func:`prefrl.stopping.stop_on_signals`): it writes a checkpoint there and
    raises :class:`~prefrl.stopping.RunStopped`; :meth:`resume` goes on from that step.
    """

    def __init__(
        self,
        config: TrainConfig,
        oracle: Oracle | None = None,
        progress: bool = True,
        reward_net_class: type[RewardEnsemble] = RewardEnsemble,
    ) -> None:
        check_env_id(config.run.env_id)
        check_reward_net_class(reward_net_class, config.run.sync)
        self.config = config
        self.progress = progress
        self.reward_net_class = reward_net_class
        # Built now, so that a bad oracle setting fails before anything is written to the run folder.
        self.oracle = oracle if oracle is not None else oracle_from_config(config.run.oracle, config)
        out = config.run.out or str(default_run_dir(config.run.env_id, "train", config.run.seed))
        self.run = RunFolder(out)
        self._resuming = False
        self.stop = threading.Event()

    @classmethod
    def from_preset(
        cls,
        env_id: str,
        oracle: Oracle | None = None,
        progress: bool = True,
        reward_net_class: type[RewardEnsemble] = RewardEnsemble,
        **overrides: Any,
    ) -> "PreferenceRL":
        """``PreferenceRL.from_preset("CartPole-v1", labels=100, seed=0)``."""
        return cls(train_config(env_id, **overrides), oracle=oracle, progress=progress, reward_net_class=reward_net_class)

    @classmethod
    def resume(
        cls,
        run_dir: str | Path,
        oracle: Oracle | None = None,
        progress: bool = True,
        reward_net_class: type[RewardEnsemble] = RewardEnsemble,
    ) -> "PreferenceRL":
        """Continue a run from its folder: its config, its last checkpoint and every label in its store.

        A run trained with a reward model of your own resumes with the same ``reward_net_class``.
        """
        saved = read_train_config(run_dir)
        saved["run"]["algo_kwargs"] = {}  # the checkpointed agent carries its own hyperparameters
        config = from_dict(TrainConfig, saved)
        config = replace(config, run=replace(config.run, out=str(Path(run_dir))))
        trainer = cls(config, oracle=oracle, progress=progress, reward_net_class=reward_net_class)
        trainer._resuming = True  # a run killed before its first checkpoint restarts PPO but keeps its labels
        return trainer

    # --- building the stages ----------------------------------------------------------------------

    def _make_env(self, seed: int, oracle: Oracle) -> VecEnv:
        # Only an oracle that shows clips pays for recording the simulator state of every step.
        wrapper = RenderStateRecorder if getattr(oracle, "records_render_states", False) else None
        run_cfg = self.config.run
        return make_vec(
            run_cfg.training_env_id, run_cfg.n_envs, seed, run_cfg.score_boxes, wrapper_class=wrapper,
            env_kwargs=run_cfg.train_env_kwargs,
        )

    def _write_config(self) -> None:
        config_path = self.run / RunFolder.CONFIG
        if config_path.exists() and not self._resuming:
            raise ValueError(
                f"out={str(self.run.path)!r} already holds a run (its labels are kept); continue it with "
                f"`prefrl train --resume {self.run.path}` or choose another --out."
            )
        if not config_path.exists():
            self.run.write_json(RunFolder.CONFIG, {"kind": "train", "config": to_dict(self.config)})

    # --- the run ----------------------------------------------------------------------------------

    def learn(self) -> dict[str, Any]:
        """Train; returns (and writes) the summary, whose ``final_true_return`` is on the original env."""
        started = time.perf_counter()
        run_cfg, query_cfg = self.config.run, self.config.query
        self._write_config()
        seed = run_cfg.seed
        generator = torch.Generator().manual_seed(seed)
        store = ComparisonStore(self.run / RunFolder.STORE)
        oracle = self.oracle
        venv = self._make_env(seed, oracle)
        reward_model = self.reward_net_class.from_config(
            venv.observation_space, venv.action_space, self.config.reward, generator=generator
        )
        device = reward_device(run_cfg.device, reward_model)
        reward_model.place_inference(device)
        reward_env = LearnedRewardVecEnv(venv, reward_model)
        state: dict[str, Any] = {}
        if self._resuming and (self.run.checkpoint / RunFolder.STATE).exists():
            model = load_agent(run_cfg.algo, self.run.checkpoint / RunFolder.POLICY, reward_env, self.run, run_cfg.device)
            reward_model.load_state_dict(torch.load(self.run.checkpoint / RunFolder.REWARD_NET))
            state = json.loads((self.run.checkpoint / RunFolder.STATE).read_text())
        else:
            model = make_agent(
                run_cfg.algo, reward_env, run_cfg.algo_kwargs, seed, self.run, run_cfg.device, run_cfg.normalize_observations
            )
        schedule = label_schedule(query_cfg, run_cfg.timesteps)
        rng = np.random.default_rng(seed)
        labeler = Labeler(oracle, make_selector(query_cfg.selector, query_cfg.oversample), schedule, store, rng)
        trainer = RewardTrainer(reward_model, self.config.reward, rng=seed)
        trainer.trained = bool(state)  # a checkpoint's reward net has been fit
        # PPO must not start on an untrained r̂, so it waits for the first fit; later fits run in the background
        # unless ``sync``. A fitter on a GPU takes the first fit too (the paper's 500 initial Atari labels are
        # its largest), so it starts now and is ready by then. On the CPU the first fit runs here on every core,
        # and the fitter starts after it: its start-up (a fresh interpreter importing torch, about two seconds of
        # a core) would take a core from the first fit, which PPO waits for, rather than from PPO's one thread.
        first_fit_in_background = not run_cfg.sync and device != "cpu"

        def start_fitter() -> ProcessFitter:
            return ProcessFitter(reward_model, self.config.reward, store.path, seed, device)

        background = start_fitter() if first_fit_in_background else None
        cutter = SegmentCutter(run_cfg.n_envs, run_cfg.segment_length)
        buffer = SegmentBuffer(run_cfg.segment_capacity)
        preference = PreferenceCallback(reward_env, cutter, buffer, reward_model, labeler, InlineFitter(trainer, store))
        metrics = MetricsWriter(self.run / RunFolder.METRICS)

        def checkpoint() -> None:
            save_atomically(model, self.run.checkpoint / RunFolder.POLICY)
            temporary = self.run.checkpoint / (RunFolder.REWARD_NET + ".tmp")
            torch.save(reward_model.state_dict(), temporary)
            os.replace(temporary, self.run.checkpoint / RunFolder.REWARD_NET)
            self.run.write_json(
                f"{RunFolder.CHECKPOINT}/{RunFolder.STATE}",
                {"timesteps": int(model.num_timesteps), "wall_time_s": time.perf_counter() - started + offset},
            )

        offset = float(state.get("wall_time_s", 0.0))
        monitor = RunMonitor(
            eval_env=make_eval_env(
                run_cfg.env_id, run_cfg.eval_episodes, seed + _CURVE_EVAL_SEED_OFFSET, run_cfg.score_boxes
            ),
            eval_episodes=run_cfg.eval_episodes,
            eval_interval=run_cfg.eval_interval,
            metrics=metrics,
            stats=preference.stats,
            checkpoint=checkpoint,
            checkpoint_interval=run_cfg.checkpoint_interval,
            total_timesteps=run_cfg.timesteps,
            progress=self.progress,
            wall_time_offset=offset,
            stop=self.stop,
        )
        warmup_steps = 0
        opened = getattr(oracle, "open", None)
        try:
            if callable(opened):

                def status() -> dict[str, Any]:
                    return {
                        "label_budget": query_cfg.labels,
                        "timesteps": int(model.num_timesteps),
                        "true_return": monitor.last_row.get("true_return", math.nan),
                        "learned_return": preference.stats()["learned_return"],
                    }

                opened(OracleSession(store, self.run.path, self.config.run.training_env_id, status))
            if labeler.asked < schedule.initial:
                warmup_steps = self._pretrain(model, reward_model, preference, schedule, oracle)
            if getattr(oracle, "answers_later", False) and self.config.human.wait_for_initial:
                wait_for_labels(store, schedule.initial)
            if background is not None:
                preference.fitter = background.hand_over(reward_model, trainer.l2, trained=trainer.trained)
            # Fit on every stored label (a resumed run's, or those that arrived while waiting) before PPO goes on.
            with contextlib.nullcontext() if first_fit_in_background else all_cores():
                preference.ask_and_fit(int(model.num_timesteps), wait=True)
            if not run_cfg.sync and background is None:
                background = start_fitter()
                preference.fitter = background.hand_over(reward_model, trainer.l2, trained=trainer.trained)
            remaining = max(0, run_cfg.timesteps - int(model.num_timesteps))
            if remaining:
                model.learn(
                    total_timesteps=remaining,
                    callback=CallbackList([preference, monitor]),
                    reset_num_timesteps=not self._resuming,
                )
                if self.stop.is_set():  # PPO ended early on a requested stop: keep the run resumable
                    checkpoint()
                    raise RunStopped(int(model.num_timesteps), str(self.run.path), resumable=True)
            else:  # a finished run resumed to take in labels given since: no PPO, the same ending
                monitor.init_callback(model)
            # Ask what is still due; take the newest finished fit without waiting for one in flight: it could
            # no longer change the policy, and its labels are in the store for a resumed run or a refit.
            preference.ask_and_fit(int(model.num_timesteps), wait=False)
            monitor.record_point()
            checkpoint()
            torch.save(reward_model.state_dict(), self.run / RunFolder.REWARD_NET)
            counts = store.counts()
            return finish_run(
                model,
                self.run,
                run_cfg,
                started - offset,
                {
                    "kind": "train",
                    "train_env_id": run_cfg.training_env_id,
                    "oracle": labeler.oracle.name,
                    "labels_used": counts["answered"],
                    "labels_asked": counts["asked"],
                    "label_counts": {k: counts[k] for k in ("left", "right", "equal", "cant_tell")},
                    "reward_accuracy": preference.fit_metrics.get("reward/val_accuracy", math.nan),
                    "reward_fits": preference.fits,
                    "bytes_per_segment": store.bytes_per_segment(),
                    "warmup_steps": warmup_steps,
                    "sync": run_cfg.sync,
                },
            )
        finally:
            closed = getattr(oracle, "close", None)
            if callable(closed):
                closed()
            if background is not None:
                background.close()
            metrics.close()
            store.close()

    def _pretrain(
        self,
        model: OnPolicyAlgorithm,
        reward_model: RewardEnsemble,
        preference: PreferenceCallback,
        schedule: LabelSchedule,
        oracle: Oracle,
    ) -> int:
        """Clips of the initial policy from a separate env copy, the initial labels, the first fit."""
        run_cfg = self.config.run
        # Twice as many segments as initial pairs, so most segments appear in one pair only.
        # The policy reads raw observations here: where it standardizes them, its statistics start as the identity.
        wanted = max(2 * schedule.initial, 2)
        warmup_env = LearnedRewardVecEnv(self._make_env(run_cfg.seed + _WARMUP_SEED_OFFSET, oracle), reward_model)
        try:
            segments = collect_segments(model.policy, warmup_env, SegmentCutter(run_cfg.n_envs, run_cfg.segment_length), wanted)
        finally:
            warmup_env.close()
        preference.buffer.extend(segments)
        preference.labeler.ask_due(0, preference.buffer.snapshot(), reward_model)
        return len(segments) * run_cfg.segment_length
