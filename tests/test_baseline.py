"""`prefrl baseline`, plain and in the training variant: where it trains, what it records."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from prefrl.cli import main


def _episode_lengths(run: Path) -> list[float]:
    with (run / "sb3" / "progress.csv").open() as handle:
        return [float(row["rollout/ep_len_mean"]) for row in csv.DictReader(handle) if row["rollout/ep_len_mean"]]


@pytest.mark.parametrize(
    ("flags", "trained_in"), [([], "CartPole-v1"), (["--in-training-env"], "prefrl/FixedCartPole-v1")]
)
def test_baseline_trains_in_the_env_asked_and_is_scored_in_the_original(
    tmp_path: Path, flags: list[str], trained_in: str
) -> None:
    run = tmp_path / "run"
    args = ["--timesteps", "1024", "--n-envs", "2", "--eval-episodes", "1", "--final-eval-episodes", "2"]
    assert main(["baseline", "--env", "CartPole-v1", *flags, *args, "--no-progress", "--out", str(run)]) == 0
    config = json.loads((run / "config.json").read_text())
    summary = json.loads((run / "summary.json").read_text())
    assert config["trained_in"] == summary["trained_in"] == trained_in
    assert summary["env_id"] == "CartPole-v1" and summary["labels_used"] == 0
    lengths = _episode_lengths(run)
    assert lengths, "no training episode finished in 512 steps per env"
    if flags:
        # The variant never ends an episode before its fixed horizon of 200 steps.
        assert set(lengths) == {200.0}
    else:
        # An untrained policy drops CartPole-v1's pole within a few dozen steps, which ends the episode.
        assert max(lengths) < 100


def test_the_training_env_gets_the_presets_train_env_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    preset = tmp_path / "CartPole-v1.toml"
    preset.write_text((Path(__file__).resolve().parents[1] / "envs" / "CartPole-v1.toml").read_text() + "\n[train_env]\nno_such_option = 1\n")
    args = ["baseline", "--env", "CartPole-v1", "--preset", str(preset), "--timesteps", "64", "--no-progress"]
    assert main([*args, "--in-training-env", "--out", str(tmp_path / "variant")]) == 2
    assert "no_such_option" in capsys.readouterr().err
