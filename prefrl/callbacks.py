"""SB3 callbacks: the preference stages run between PPO's rollouts, and the run is monitored.

``PreferenceCallback`` runs at the end of every rollout: it cuts the rollout's steps into segments, asks
for the labels the schedule says are due, tells the fitter when new labels are in the store, and swaps in
the newest reward net (so one rollout is always scored by one net). ``RunMonitor`` evaluates on the
original env, writes ``metrics.csv``, draws the progress bar and checkpoints. Neither reads the training
loop's ``locals()``: everything comes from the model and from objects passed in.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from typing import Any, Callable

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.vec_env import VecEnv
from tqdm.auto import tqdm

from prefrl.evaluation import evaluate
from prefrl.labeling import Labeler
from prefrl.reward.background import FitResult, Fitter, load_weights
from prefrl.reward.nets import RewardEnsemble
from prefrl.reward.normalize import renormalize_output
from prefrl.runs import MetricsWriter
from prefrl.segments import SegmentBuffer, SegmentCutter
from prefrl.wrappers import LearnedRewardVecEnv

_RECENT_EPISODES = 20  # episodes averaged into the logged training returns, as SB3's ep_info_buffer does
# r̂ is normalized over the newest segments, i.e. the policy's current behaviour (Christiano et al. 2017
# §2.2.1). Measured on CartPole-v1, 100 labels, 3 seeds: normalizing over every labelled clip instead
# (mostly early, clumsy behaviour) shrank the differences among the good states that decide the last
# failures, and final returns fell from 500/500/500 to 305/500/189.
_NORMALIZATION_SEGMENTS = 200


class PreferenceCallback(BaseCallback):
    """Segments -> queries -> labels -> fits -> reward swap, once per rollout.

    :param reward_env: the wrapper PPO steps through (records steps, holds the reward function).
    :param cutter: cuts recorded steps into segments.
    :param buffer: recent segments, the candidates for queries.
    :param reward_model: the reward net PPO is paid by; fits are copied into it.
    :param labeler: asks the oracle what is due and commits the answers.
    :param fitter: refits the reward net (inline or in a background process).
    """

    def __init__(
        self,
        reward_env: LearnedRewardVecEnv,
        cutter: SegmentCutter,
        buffer: SegmentBuffer,
        reward_model: RewardEnsemble,
        labeler: Labeler,
        fitter: Fitter,
    ) -> None:
        super().__init__()
        self.reward_env = reward_env
        self.cutter = cutter
        self.buffer = buffer
        self.reward_model = reward_model
        self.labeler = labeler
        self.fitter = fitter
        self.episodes: deque[tuple[float, float]] = deque(maxlen=_RECENT_EPISODES)
        self.fit_metrics: dict[str, float] = {}
        self.fits = 0
        self._answered_at_last_request = 0
        self._rollout_start = 0

    # --- stages that also run outside PPO's loop (pre-training, the end of a run) -------------------

    def collect(self, first_timestep: int) -> None:
        """Cut the steps the wrapper recorded since the last call into segments."""
        steps = self.reward_env.drain_steps(first_timestep)
        if steps is not None:
            self.buffer.extend(self.cutter.add(steps))

    def ask_and_fit(self, timesteps: int, *, wait: bool) -> None:
        """Ask what is due; refit if labels arrived (waiting for the fit when ``wait``); swap it in."""
        self.labeler.ask_due(timesteps, self.buffer.snapshot(), self.reward_model)
        answered = self.labeler.store.counts()["answered"]
        new_labels = answered > self._answered_at_last_request
        if new_labels:
            self._answered_at_last_request = answered
        if new_labels:
            self.fitter.request()
        self.swap_in(self.fitter.wait() if wait else self.fitter.poll())

    def swap_in(self, result: FitResult | None) -> None:
        """Install a finished fit and renormalize r̂ over the newest segments; the next rollout is paid by it."""
        if result is None:
            return
        if result.state is not None:
            load_weights(self.reward_model, result.state)
        recent = self.buffer.snapshot()[-_NORMALIZATION_SEGMENTS:]
        if recent:
            obs = np.stack([segment.obs for segment in recent])  # (S, T, *obs)
            actions = np.stack([segment.actions for segment in recent])  # (S, T, *act)
            renormalize_output(self.reward_model, obs, actions)
        self.fit_metrics = result.metrics
        self.fits += 1

    # --- SB3 hooks ---------------------------------------------------------------------------------

    def _on_rollout_start(self) -> None:
        self._rollout_start = self.num_timesteps

    def _on_step(self) -> bool:
        return True

    def _on_rollout_end(self) -> None:
        self.collect(self._rollout_start)
        self.ask_and_fit(self.num_timesteps, wait=False)
        self.episodes.extend(self.reward_env.returns.pop())
        for key, value in self.stats().items():
            self.logger.record(f"prefrl/{key}", value)
        for key, value in self.fit_metrics.items():
            self.logger.record(key, value)

    def stats(self) -> dict[str, float]:
        """The preference run's side of a metrics row."""
        counts = self.labeler.store.counts()
        true_returns = [true for true, _ in self.episodes]
        learned_returns = [learned for _, learned in self.episodes]
        trainable = counts["left"] + counts["right"] + counts["equal"]
        stats = {
            "labels": counts["answered"],
            "pending": counts["pending"],
            "train_true_return": float(np.mean(true_returns)) if true_returns else math.nan,
            "learned_return": float(np.mean(learned_returns)) if learned_returns else math.nan,
            "reward_accuracy": self.fit_metrics.get("reward/val_accuracy", math.nan),
            "reward_loss": self.fit_metrics.get("reward/train_loss", math.nan),
            "tie_share": counts["equal"] / trainable if trainable else math.nan,
            "fits": self.fits,
        }
        if getattr(self.labeler.oracle, "answers_later", False):
            # People have nothing to label until the schedule asks again: the progress line says so.
            stats["queue_dry"] = float(counts["pending"] == 0 and counts["asked"] < self.labeler.schedule.budget)
        return stats


def episode_buffer_stats(model_getter: Callable[[], Any]) -> Callable[[], dict[str, float]]:
    """Stats of a plain PPO run: the mean true return of its recent training episodes (SB3's Monitor)."""

    def stats() -> dict[str, float]:
        buffer = model_getter().ep_info_buffer or []
        returns = [info["r"] for info in buffer]
        return {"labels": 0, "train_true_return": float(np.mean(returns)) if returns else math.nan}

    return stats


class RunMonitor(BaseCallback):
    """Learning-curve points on the original env, ``metrics.csv`` rows, a progress bar, checkpoints.

    :param eval_env: the original env (true reward), vectorized.
    :param eval_episodes: deterministic episodes per curve point.
    :param eval_interval: timesteps between curve points.
    :param metrics: where rows go.
    :param stats: the run's own figures for a row (labels, learned return, ...).
    :param checkpoint: saves a resumable checkpoint; called every ``checkpoint_interval`` timesteps.
    :param checkpoint_interval: timesteps between checkpoints.
    :param total_timesteps: the run's length, for the progress bar.
    :param progress: draw a progress bar.
    :param stop: once set, PPO stops at its next step (:mod:`prefrl.stopping`); the run decides what follows.
    """

    def __init__(
        self,
        eval_env: VecEnv,
        eval_episodes: int,
        eval_interval: int,
        metrics: MetricsWriter,
        stats: Callable[[], dict[str, float]],
        checkpoint: Callable[[], None],
        checkpoint_interval: int,
        total_timesteps: int,
        progress: bool = True,
        wall_time_offset: float = 0.0,
        stop: threading.Event | None = None,
    ) -> None:
        super().__init__()
        self.stop = stop if stop is not None else threading.Event()
        self.eval_env = eval_env
        self.eval_episodes = eval_episodes
        self.eval_interval = eval_interval
        self.metrics = metrics
        self.stats = stats
        self.checkpoint = checkpoint
        self.checkpoint_interval = checkpoint_interval
        self.total_timesteps = total_timesteps
        self.show_progress = progress
        self.wall_time_offset = wall_time_offset
        self.last_row: dict[str, Any] = {}
        self._bar: tqdm | None = None
        self._started = time.perf_counter()
        self._next_eval = 0
        self._next_checkpoint = 0

    def _on_training_start(self) -> None:
        self._started = time.perf_counter()
        done = self.num_timesteps
        self._next_eval = done + self.eval_interval if done else 0
        self._next_checkpoint = done + self.checkpoint_interval
        if self.show_progress:
            self._bar = tqdm(total=self.total_timesteps, initial=done, unit="step", dynamic_ncols=True)

    def _on_step(self) -> bool:
        return not self.stop.is_set()

    def _on_rollout_end(self) -> None:
        if self.num_timesteps >= self._next_eval:
            self.record_point()
            self._next_eval = self.num_timesteps + self.eval_interval
        if self.num_timesteps >= self._next_checkpoint:
            self.checkpoint()
            self._next_checkpoint = self.num_timesteps + self.checkpoint_interval
        if self._bar is not None:
            # PPO overshoots the budget by up to one rollout; keep the bar's count within its total.
            self._bar.update(min(self.num_timesteps, self.total_timesteps) - self._bar.n)
            self._bar.set_postfix(self._postfix(), refresh=False)

    def record_point(self) -> dict[str, Any]:
        """Evaluate now and append a row to ``metrics.csv``."""
        true_return, _ = evaluate(self.model, self.eval_env, self.eval_episodes)
        row = {
            "timesteps": self.num_timesteps,
            "true_return": true_return,
            "wall_time_s": self.wall_time_offset + time.perf_counter() - self._started,
            **self.stats(),
        }
        self.metrics.write(row)
        self.logger.record("eval/true_return", true_return)
        self.last_row = row
        return row

    def _postfix(self) -> dict[str, str]:
        stats = {**self.last_row, **self.stats()}
        postfix = {"labels": f"{int(stats.get('labels', 0))}"}
        for key, short in (("true_return", "eval"), ("train_true_return", "true"), ("learned_return", "learned")):
            value = stats.get(key)
            if value is not None and not math.isnan(value):
                postfix[short] = f"{value:.1f}"
        if stats.get("pending"):
            postfix["pending"] = f"{int(stats['pending'])}"
        if stats.get("queue_dry"):
            postfix["queue"] = "dry"
        return postfix

    def _on_training_end(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
