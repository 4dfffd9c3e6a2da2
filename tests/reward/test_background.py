"""The background reward fitter never keeps a run from exiting, and continues from what it is handed."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
from gymnasium import spaces

from prefrl.config import RewardConfig
from prefrl.reward.background import ProcessFitter
from prefrl.reward.nets import RewardEnsemble
from prefrl.store import ComparisonStore


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
    fitter.hand_over(model, l2=1e-4, trained=False)
    fitter.close()
    store.close()
"""
    (tmp_path / "run.py").write_text(script)
    path = os.pathsep.join(filter(None, [os.getcwd(), os.environ.get("PYTHONPATH")]))  # keep any installed elsewhere
    done = subprocess.run([sys.executable, str(tmp_path / "run.py")], cwd=os.getcwd(), timeout=120,
                          env={**os.environ, "PYTHONPATH": path})
    assert done.returncode == 0


def test_reward_device_puts_only_conv_nets_on_a_gpu_and_refuses_a_missing_one():
    import pytest
    import torch

    from prefrl.reward.background import reward_device

    mlp = RewardEnsemble(spaces.Box(-1, 1, (4,)), spaces.Discrete(2))
    conv = RewardEnsemble(spaces.Box(0, 1, (10, 10, 4), bool), spaces.Discrete(3))
    gpu = torch.cuda.is_available()
    assert reward_device("cpu", conv) == "cpu"
    assert reward_device("auto", mlp) == "cpu"  # small minibatches: one CPU core is faster
    assert reward_device("auto", conv) == ("cuda" if gpu else "cpu")
    if gpu:
        assert reward_device("cuda", mlp) == "cuda"
    else:
        with pytest.raises(ValueError, match="torch sees no GPU"):
            reward_device("cuda", conv)


def test_the_worker_learns_from_the_hand_over_whether_its_weights_were_fit(tmp_path):
    """The setting of the trainer's test of fits from fresh weights: one that starts at chance and learns slowly
    runs past its patience only when the hand-over says the weights are fresh."""
    from tests.reward.test_trainer import SLOW_FROM_CHANCE as config
    from tests.reward.test_trainer import comparisons_of_linear_reward, net_at_chance

    with ComparisonStore(tmp_path / "store.sqlite") as store:
        pairs = comparisons_of_linear_reward(60)
        ids = store.add_queries([(p.left, p.right) for p in pairs], oracle="synthetic", timestep=0)
        store.answer_many(ids, [p.label for p in pairs])
        epochs = {}
        for trained in (False, True):
            model = net_at_chance(config)
            fitter = ProcessFitter(model, config, store.path, seed=0)
            try:
                fitter.hand_over(model, l2=config.l2_init, trained=trained)
                fitter.request()
                epochs[trained] = fitter.wait().metrics["reward/epochs"]
            finally:
                fitter.close()
    assert epochs[True] == 1 + 2
    assert epochs[False] > 1 + 2


def test_the_worker_runs_at_the_runs_own_priority(tmp_path):
    """A fitter niced below its run gave way to every other job on the machine: beside a second CartPole run it
    landed 2-3 fits a run instead of 28-35 (prefrl/reward/background.py)."""
    config = RewardConfig(ensemble_size=2, hidden_sizes=(8,))
    with ComparisonStore(tmp_path / "store.sqlite") as store:
        model = RewardEnsemble.from_config(spaces.Box(-1, 1, (3,)), spaces.Discrete(2), config)
        fitter = ProcessFitter(model, config, store.path, seed=0)
        try:
            fitter.hand_over(model, l2=config.l2_init, trained=False)
            fitter.request()
            assert fitter.wait() is None  # nothing to fit in an empty store; the answer says the worker is set up
            assert os.getpriority(os.PRIO_PROCESS, fitter._process.pid) == os.getpriority(os.PRIO_PROCESS, 0)
        finally:
            fitter.close()
