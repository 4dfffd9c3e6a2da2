"""Where the reward trainer runs: inline (deterministic, for tests) or in a background process.

PPO and reward fitting share this process's GIL; measured on 2 cores (DESIGN.md), a fitting *thread*
slowed PPO to 1.58× its wall time and a fitting *process* to 1.21×. So the asynchronous fitter is a spawned
process that reads labels from the SQLite store, refits when told that new labels arrived, and sends back
weights; the trainer swaps them in between rollouts. PPO never waits for it: the initial fit, before
PPO's first update, runs inline on every core, and the process starts after it (on a GPU it takes that fit too).

The worker keeps the run's CPU priority. Tried on the 2 shared cores (load ~6; MinAtar Breakout, 100k steps, 100
labels): at +10 niceness the run took 1.7× the PPO baseline's wall time instead of 3.9× (with torch reward
inference), but only 1 background fit landed instead of 6, and the slow MinAtar learning test
(``tests/test_atari.py -k learns``) scored a random 0.46: a fitter that yields never catches up on a busy machine.
Tried again on CartPole-v1 (100 labels, 100k steps), two runs side by side on 2 cores: with the fitter at +10, 2-3
fits landed per run and seeds 0-5 scored a mean of 288.3; at the run's priority, 28-35 fits and 380.8. Alone on the
machine the niced fitter had made the run's wall time 1.165x the baseline's instead of 1.258x (medians of six).
"""

from __future__ import annotations

import multiprocessing as mp
import queue
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from gymnasium import spaces as gym_spaces

import numpy as np
import torch

from prefrl.config import RewardConfig
from prefrl.processes import exit_with_parent
from prefrl.reward.nets import RewardEnsemble
from prefrl.reward.trainer import RewardTrainer
from prefrl.store import ComparisonStore
from prefrl.threads import use_one_thread

_FIT_TIMEOUT_S = 600.0  # one fit takes seconds; a worker silent this long is stuck
# An idle worker stops at once; one in the middle of a fit is terminated after this, since it only reads the store
# (waiting half a second added 2% to a 25-second CartPole run).
_STOP_GRACE_S = 0.05


@dataclass
class FitResult:
    """A finished fit: the ensemble's weights (``None`` when fit in place) and its metrics."""

    state: dict[str, Any] | None
    metrics: dict[str, float]
    request: int


class Fitter(Protocol):
    """Refits the reward net when asked; results are collected without blocking (``poll``), or after every
    requested fit has finished (``wait``: before PPO's first update, and when a run resumes)."""

    def request(self) -> None: ...

    def poll(self) -> FitResult | None: ...

    def wait(self) -> FitResult | None: ...

    def close(self) -> None: ...


def _fit_from_store(trainer: RewardTrainer, store: ComparisonStore, request: int) -> FitResult | None:
    metrics = trainer.fit(store.comparisons(answered=True))
    if metrics is None:
        return None
    return FitResult(None, metrics.as_dict(), request)


class InlineFitter:
    """Fits in the caller's thread, on the caller's model: deterministic under a seed."""

    def __init__(self, trainer: RewardTrainer, store: ComparisonStore) -> None:
        self.trainer = trainer
        self.store = store
        self._requests = 0
        self._pending = False

    def request(self) -> None:
        self._requests += 1
        self._pending = True

    def poll(self) -> FitResult | None:
        if not self._pending:
            return None
        self._pending = False
        return _fit_from_store(self.trainer, self.store, self._requests)

    def wait(self) -> FitResult | None:
        return self.poll()

    def close(self) -> None:
        pass


def reward_device(requested: str, model: RewardEnsemble) -> str:
    """Where ``model`` is fit in the background and scores steps, for a run's ``device`` (auto, cpu or cuda).

    ``auto`` picks a GPU only for a conv reward net: an MLP's minibatches (64 pairs of 25 small vectors) are
    too small for a GPU to beat one CPU core once every batch is copied over. ``cuda`` without a GPU is an error
    here, before any process starts, rather than a traceback from the fitter later.
    """
    if requested == "cpu":
        return "cpu"
    available = torch.cuda.is_available()
    if requested == "cuda":
        if not available:
            raise ValueError("device='cuda' was asked for, but torch sees no GPU (torch.cuda.is_available() is False); use 'auto' or 'cpu'.")
        return "cuda"
    return "cuda" if available and model.trunk is not None else "cpu"


def _worker(
    store_path: str,
    net_class: type[RewardEnsemble],
    spaces: tuple[gym_spaces.Space, gym_spaces.Space],
    config: RewardConfig,
    seed: int,
    device: str,
    requests: Any,
    results: Any,
) -> None:
    """The background process: apply weight hand-overs in order, coalesce fit requests, fit, send weights."""
    use_one_thread()  # leave the other cores to PPO
    exit_with_parent()
    try:
        # Moved once, before any use: the trainer sends each minibatch to where the model's tensors are.
        model = net_class.from_config(*spaces, config).to(device)
        trainer = RewardTrainer(model, config, seed)
        store = ComparisonStore(store_path, create=False)
        while True:
            messages = [requests.get()]
            while True:
                try:
                    messages.append(requests.get_nowait())
                except queue.Empty:
                    break
            fit_request = None
            for kind, payload in messages:
                if kind == "stop":
                    return
                if kind == "weights":
                    state, trainer.l2, trainer.trained = payload
                    model.load_state_dict({key: torch.as_tensor(value) for key, value in state.items()})
                else:
                    fit_request = payload  # only the newest of a backlog of requests is worth fitting
            if fit_request is None:
                continue
            result = _fit_from_store(trainer, store, fit_request)
            if result is None:  # nothing trainable yet (e.g. only "can't tell"): say so, the trainer may wait
                results.put(("empty", fit_request))
                continue
            weights = {key: value.detach().cpu().numpy().copy() for key, value in model.state_dict().items()}
            results.put(("ok", FitResult(weights, result.metrics, fit_request)))
    except BaseException:  # report to the trainer rather than dying silently in the background
        results.put(("error", traceback.format_exc()))


class ProcessFitter:
    """Runs a :class:`RewardTrainer` on a copy of the model in a spawned process.

    The process starts at construction, and its start-up (a fresh interpreter importing torch, about two seconds
    of a core) overlaps whatever the caller does next; :meth:`hand_over` gives it the weights to continue from
    (queued until the worker reads them).

    :param model: the trainer-side model; the worker builds its copy with the model's class (a subclass of
        :class:`RewardEnsemble` included: it is sent by reference, so it must be importable), spaces and ``config``.
    :param config: fitting settings.
    :param store_path: the comparison store the worker reads labels from.
    :param seed: seed of the worker's bootstraps and minibatch order.
    :param device: where the worker fits (:func:`reward_device`); its weights come back as NumPy arrays either way.
    """

    def __init__(
        self, model: RewardEnsemble, config: RewardConfig, store_path: str | Path, seed: int, device: str = "cpu"
    ) -> None:
        self.device = device
        context = mp.get_context("spawn")  # fork after torch threads start can deadlock
        self._requests = context.Queue()
        self._results = context.Queue()
        self._sent = 0
        self._answered = 0
        spaces = (model.observation_space, model.action_space)  # with the config, they define the worker's copy
        self._process = context.Process(
            target=_worker,
            args=(str(store_path), type(model), spaces, config, seed, device, self._requests, self._results),
            daemon=True,
            name="prefrl-reward-fitter",
        )
        self._process.start()

    def hand_over(self, model: RewardEnsemble, l2: float, *, trained: bool) -> "ProcessFitter":
        """Give the worker the current weights and L2 strength to continue from; returns this fitter, which
        takes the run's fits from now on.

        :param trained: whether the weights have been fit already (:attr:`RewardTrainer.trained`: a fit from fresh
            weights waits for held-out loss to leave chance before its patience counts).
        """
        state = {key: value.detach().numpy().copy() for key, value in model.state_dict().items()}
        self._requests.put(("weights", (state, l2, trained)))
        return self

    def request(self) -> None:
        self._sent += 1
        self._requests.put(("fit", self._sent))

    def _unpack(self, message: tuple[str, Any]) -> FitResult | None:
        kind, payload = message
        if kind == "error":
            raise RuntimeError(f"the background reward fitter failed:\n{payload}")
        if kind == "empty":
            self._answered = max(self._answered, payload)
            return None
        self._answered = max(self._answered, payload.request)
        return payload

    def poll(self) -> FitResult | None:
        newest = None
        while True:
            try:
                result = self._unpack(self._results.get_nowait())
            except queue.Empty:
                if not self._process.is_alive():  # never train on for long on a reward nobody refits
                    raise RuntimeError(
                        f"the background reward fitter exited (exit code {self._process.exitcode}); "
                        "rerun with --sync to fit in this process and see the error directly"
                    ) from None
                return newest
            newest = result or newest

    def wait(self) -> FitResult | None:
        """Block until the newest request is answered, so the returned fit has seen every label asked so far."""
        newest = self.poll()
        deadline = time.monotonic() + _FIT_TIMEOUT_S
        while self._answered < self._sent:
            try:
                newest = self._unpack(self._results.get(timeout=1.0)) or newest
            except queue.Empty:
                if not self._process.is_alive():
                    raise RuntimeError("the background reward fitter exited before finishing its fits") from None
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the background reward fitter gave no result in {_FIT_TIMEOUT_S:.0f} s") from None
        return newest

    def close(self) -> None:
        """Stop the worker; a fit in flight is abandoned (the worker only reads the store, so this is safe)."""
        if self._process.is_alive():
            self._requests.put(("stop", None))
            self._process.join(timeout=_STOP_GRACE_S)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join()
        # Messages the worker never read (weights handed over while it was still starting, a few hundred kB for
        # a conv net: more than a pipe holds) would block this process's exit on the queue's feeder thread.
        self._requests.cancel_join_thread()


def load_weights(model: RewardEnsemble, state: dict[str, np.ndarray]) -> None:
    """Copy a worker's weights into the trainer-side model in place (its output normalization is redone after)."""
    model.load_state_dict({key: torch.as_tensor(value) for key, value in state.items()})
