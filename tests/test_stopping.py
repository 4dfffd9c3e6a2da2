"""A first Ctrl-C or `kill` asks a run to stop at its next step; a second one interrupts at once."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from prefrl.baseline import run_baseline
from prefrl.stopping import RunStopped, stop_on_signals
from prefrl.trainer import train_config


def _deliver(signum: int) -> None:
    os.kill(os.getpid(), signum)
    time.sleep(0.05)  # Python runs the handler between bytecodes of the main thread


def test_the_first_signal_asks_for_a_stop_and_the_second_interrupts() -> None:
    before = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}
    stop = threading.Event()
    with pytest.raises(KeyboardInterrupt) as interrupted:
        with stop_on_signals(stop):
            _deliver(signal.SIGTERM)
            assert stop.is_set()
            _deliver(signal.SIGINT)
    assert type(interrupted.value) is KeyboardInterrupt  # not a RunStopped: nothing was carried out
    assert all(signal.getsignal(number) is handler for number, handler in before.items())  # restored


def test_a_requested_stop_ends_a_baseline_at_its_next_step(tmp_path) -> None:
    config = train_config("CartPole-v1", timesteps=5000, eval_episodes=1, out=str(tmp_path / "baseline")).run
    stop = threading.Event()
    stop.set()
    with pytest.raises(RunStopped) as stopped:
        run_baseline(config, progress=False, stop=stop)
    assert stopped.value.timesteps == config.n_envs  # one step of every env
    assert not stopped.value.resumable and stopped.value.run_path == str(tmp_path / "baseline")
    assert not (tmp_path / "baseline" / "summary.json").exists()
