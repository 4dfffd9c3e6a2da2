"""The background reward fitter yields the CPU to PPO when the two compete, and never keeps a run from exiting."""

from __future__ import annotations

import multiprocessing as mp
import os
import subprocess
import sys
import time

import numpy as np
from gymnasium import spaces

from prefrl.config import RewardConfig
from prefrl.reward.background import ProcessFitter
from prefrl.reward.nets import RewardEnsemble
from prefrl.store import ComparisonStore


def test_the_worker_runs_at_a_lower_cpu_priority_than_the_run(tmp_path):
    store = ComparisonStore(tmp_path / "store.sqlite")
    model = RewardEnsemble(spaces.Box(-np.inf, np.inf, (3,)), spaces.Discrete(2), ensemble_size=2, hidden_sizes=(8,))
    ours = os.getpriority(os.PRIO_PROCESS, 0)
    fitter = ProcessFitter(model, RewardConfig(), store.path, seed=0)
    try:
        (worker,) = [child for child in mp.active_children() if child.name == "prefrl-reward-fitter"]
        deadline = time.monotonic() + 60.0  # the worker lowers its priority once its interpreter has started
        while os.getpriority(os.PRIO_PROCESS, worker.pid) == ours and time.monotonic() < deadline:
            time.sleep(0.05)
        assert os.getpriority(os.PRIO_PROCESS, worker.pid) == min(ours + 10, 19)
    finally:
        fitter.close()
        store.close()


def test_closing_before_the_worker_reads_its_weights_lets_the_run_exit(tmp_path):
    """A run shorter than the worker's start-up handed over conv weights larger than a pipe holds, then exited."""
    script = f"""
import numpy as np
from gymnasium import spaces
from prefrl.config import RewardConfig
from prefrl.reward.background import ProcessFitter
from prefrl.reward.nets import RewardEnsemble
from prefrl.store import ComparisonStore

if __name__ == "__main__":
    store = ComparisonStore({str(tmp_path / "store.sqlite")!r})
    model = RewardEnsemble(spaces.Box(0, 1, (10, 10, 4), bool), spaces.Discrete(3))
    fitter = ProcessFitter(model, RewardConfig(), store.path, seed=0)
    fitter.hand_over(model, l2=1e-4)
    fitter.close()
    store.close()
"""
    (tmp_path / "run.py").write_text(script)
    done = subprocess.run([sys.executable, str(tmp_path / "run.py")], cwd=os.getcwd(), timeout=120,
                          env={**os.environ, "PYTHONPATH": os.getcwd()})
    assert done.returncode == 0
