"""Stopping a run cleanly on Ctrl-C or ``kill``: end at the next step, write a checkpoint, say how to go on.

A run stopped mid-step by a plain ``KeyboardInterrupt`` keeps its labels (the store commits each answer) but
loses every step since its last periodic checkpoint, which on Atari can be many minutes of PPO. So the first
SIGINT or SIGTERM only asks the run to stop: PPO's callback reads the request at its next step, the run writes
a checkpoint there and raises :class:`RunStopped`, and ``--resume`` continues from that step. Job schedulers
send SIGTERM before they kill a preempted job, so such a job resumes where it was stopped. A second signal
interrupts at once, for a run stuck where no step comes (a long first fit, a wait for human labels).
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any


class RunStopped(KeyboardInterrupt):
    """Raised by a run's ``learn()`` once a requested stop has been carried out.

    A ``KeyboardInterrupt``, so that code which does not expect it stops as Ctrl-C always stopped it.

    :param timesteps: the policy's step count at the stop.
    :param run_path: the run folder.
    :param resumable: whether a checkpoint to resume from was written (preference runs; baselines start over).
    """

    def __init__(self, timesteps: int, run_path: str, resumable: bool) -> None:
        super().__init__(timesteps, run_path, resumable)
        self.timesteps = timesteps
        self.run_path = run_path
        self.resumable = resumable


@contextlib.contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """While inside, SIGINT and SIGTERM set ``stop`` the first time and raise ``KeyboardInterrupt`` after.

    Call from the main thread; the previous handlers come back on exit (:func:`handling_stop_signals`).
    """

    def handle(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        print(
            f"prefrl: {signal.Signals(signum).name} received: stopping after this step with a checkpoint "
            "(send it again to stop at once)",
            file=sys.stderr,
            flush=True,
        )

    with handling_stop_signals(handle):
        yield


@contextlib.contextmanager
def handling_stop_signals(handler: Callable[[int, FrameType | None], Any]) -> Iterator[None]:
    """While inside, ``handler`` answers SIGINT and SIGTERM; the previous handlers come back on exit.

    Set explicitly, not inherited: a process started with SIGINT ignored (``nohup``, a background job of a
    script) would otherwise never stop on Ctrl-C. Call from the main thread (Python's rule for signal handlers).
    """
    previous = {number: signal.signal(number, handler) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for number, earlier in previous.items():
            signal.signal(number, earlier)
