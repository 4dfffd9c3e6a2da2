"""The background reward fitter never keeps a run from exiting."""

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
    fitter.hand_over(model, l2=1e-4)
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
