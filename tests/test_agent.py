"""The RL algorithm is a choice: `--algo a2c` trains and baselines as `--algo ppo` does, on the chosen device."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from stable_baselines3 import A2C

from prefrl.cli import main

TINY = ["--env", "CartPole-v1", "--timesteps", "160", "--n-envs", "2", "--no-progress", "--eval-episodes", "1",
        "--final-eval-episodes", "1", "--algo", "a2c", "--device", "cpu"]


@pytest.mark.parametrize("command", ["train", "baseline"])
def test_a2c_runs_a_tiny_train_and_baseline(tmp_path: Path, command: str) -> None:
    extra = ["--labels", "4", "--sync", "--reward-max-epochs", "1"] if command == "train" else []
    assert main([command, *TINY, *extra, "--out", str(tmp_path / "run")]) == 0
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["algo"] == "a2c" and summary["timesteps"] >= 160
    model = A2C.load(tmp_path / "run" / "policy.zip")  # an A2C policy, not a PPO one
    assert str(model.device) == "cpu" and model.n_steps == 5  # SB3's A2C default: CartPole's preset has no [a2c]


def test_unknown_algorithm_and_device_are_named(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["baseline", "--env", "CartPole-v1", "--algo", "dqn"]) == 2
    assert "algo='dqn' is not an algorithm prefrl runs; use one of ppo, a2c" in capsys.readouterr().err
    assert main(["baseline", "--env", "CartPole-v1", "--device", "tpu"]) == 2
    assert "device='tpu'" in capsys.readouterr().err
