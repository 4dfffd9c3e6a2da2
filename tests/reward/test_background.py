"""The background reward fitter yields the CPU to PPO when the two compete."""

from __future__ import annotations

import multiprocessing as mp
import os
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
