"""Presets: every file in envs/ loads, keys are checked, schedules decay as the rl-zoo's ``lin_`` ones do."""

from __future__ import annotations

import logging
import pickle
import tomllib
from pathlib import Path

import gymnasium as gym
import pytest

from prefrl.envs import FIXED_HORIZON_VARIANTS, check_env_id
from prefrl.presets import DEFAULT_PRESET_FILE, PRESET_DIR, Preset, available_presets, load_preset

PRESETS = available_presets()

VALID = """
env_id = "CartPole-v1"
train_env_id = "prefrl/FixedCartPole-v1"
n_envs = 2
segment_length = 25
labels = 10
timesteps = 1000
linear_schedule = true

[ppo]
learning_rate = 3e-4
clip_range = 0.2
n_steps = 64

[ppo.policy_kwargs]
net_arch = [32, 32]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "custom.toml"
    path.write_text(text)
    return path


def test_the_four_presets_exist() -> None:
    assert {"CartPole-v1", "Pendulum-v1", "Acrobot-v1", "MountainCarContinuous-v0"} <= set(PRESETS)


@pytest.mark.parametrize("env_id", PRESETS)
def test_every_preset_loads_and_trains_in_a_registered_variant(env_id: str) -> None:
    preset = load_preset(env_id)
    assert isinstance(preset, Preset)
    assert preset.env_id == env_id
    check_env_id(preset.env_id)
    check_env_id(preset.train_env_id)
    assert preset.train_env_id == FIXED_HORIZON_VARIANTS[env_id]
    kwargs = preset.ppo_kwargs()
    assert kwargs["n_steps"] * preset.n_envs >= 2  # PPO needs a rollout to split into minibatches


def test_custom_file_loads_and_schedules_decay_linearly(tmp_path: Path) -> None:
    preset = load_preset("CartPole-v1", write(tmp_path, VALID))
    kwargs = preset.ppo_kwargs()
    for key, start in [("learning_rate", 3e-4), ("clip_range", 0.2)]:
        schedule = kwargs[key]
        assert callable(schedule)
        assert schedule(1.0) == pytest.approx(start)
        assert schedule(0.5) == pytest.approx(start / 2)
        assert schedule(0.0) == 0.0
    assert kwargs["n_steps"] == 64  # everything else as given
    assert kwargs["policy_kwargs"] == {"net_arch": [32, 32]}
    assert pickle.loads(pickle.dumps(kwargs))["learning_rate"](1.0) == pytest.approx(3e-4)  # saved with the model


def test_without_linear_schedule_numbers_stay_numbers(tmp_path: Path) -> None:
    preset = load_preset("CartPole-v1", write(tmp_path, VALID.replace("linear_schedule = true", "")))
    assert preset.linear_schedule is False
    assert preset.ppo_kwargs()["learning_rate"] == 3e-4


def test_ppo_kwargs_is_a_fresh_copy(tmp_path: Path) -> None:
    preset = load_preset("CartPole-v1", write(tmp_path, VALID))
    assert pickle.loads(pickle.dumps(preset)) == preset  # travels to a reward-fitting process
    preset.ppo_kwargs()["policy_kwargs"]["net_arch"].append(7)
    assert preset.ppo_kwargs()["policy_kwargs"]["net_arch"] == [32, 32]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (("n_envs = 2", "n_envs = 2\nn_env = 3"), r"unknown key\(s\) 'n_env'"),
        (("n_steps = 64", "n_steps = 64\nnsteps = 3"), r"'ppo\.nsteps'"),
        (("n_envs = 2", 'n_envs = "2"'), r"n_envs='2' is not allowed"),
        (("n_envs = 2", "n_envs = true"), r"n_envs=True is not allowed"),
        (("segment_length = 25", "segment_length = 1"), r"segment_length=1 is not allowed"),
        (("labels = 10\n", ""), r"missing key 'labels'"),
        (("linear_schedule = true", "linear_schedule = 1"), r"linear_schedule=1 is not allowed"),
        (("n_envs = 2", "n_envs = 2\ntrain_env = 3"), r"train_env=3 is not allowed.*\[train_env\] table"),
    ],
)
def test_malformed_files_name_the_file_and_key(tmp_path: Path, edit: tuple[str, str], message: str) -> None:
    path = write(tmp_path, VALID.replace(*edit))
    with pytest.raises(ValueError, match=message) as info:
        load_preset("CartPole-v1", path)
    assert str(path) in str(info.value)


def test_invalid_toml_is_a_value_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not valid TOML"):
        load_preset("CartPole-v1", write(tmp_path, "env_id = "))


def test_env_without_a_preset_gets_the_default_in_its_variant(caplog: pytest.LogCaptureFixture) -> None:
    defaults = tomllib.loads(DEFAULT_PRESET_FILE.read_text())
    with caplog.at_level(logging.WARNING, logger="prefrl.presets"):
        preset = load_preset("MountainCar-v0")
    assert (preset.env_id, preset.train_env_id) == ("MountainCar-v0", "prefrl/FixedMountainCar-v0")
    assert (preset.n_envs, preset.timesteps, preset.segment_length, preset.labels) == (
        defaults["n_envs"], defaults["timesteps"], defaults["segment_length"], defaults["labels"]
    )
    assert preset.ppo_kwargs() == defaults["ppo"]
    assert "MountainCar-v0 has no preset" in caplog.text and "--preset FILE" in caplog.text
    assert "ends episodes early" not in caplog.text  # it has a fixed-horizon variant


def test_default_preset_warns_of_termination_and_fits_clips_in_short_episodes(caplog: pytest.LogCaptureFixture) -> None:
    gym.register("PresetTest/ShortEpisodes-v0", entry_point="gymnasium.envs.classic_control:CartPoleEnv", max_episode_steps=30)
    try:
        with caplog.at_level(logging.WARNING, logger="prefrl.presets"):
            preset = load_preset("PresetTest/ShortEpisodes-v0")
    finally:
        del gym.envs.registry["PresetTest/ShortEpisodes-v0"]
    assert preset.train_env_id == "PresetTest/ShortEpisodes-v0"
    assert preset.segment_length == 15  # two clips fit in its 30-step episodes
    assert "ends episodes early" in caplog.text and "FIXED_HORIZON_TASKS" in caplog.text


def test_the_default_preset_is_not_listed_as_an_env() -> None:
    assert all(not env_id.startswith("_") for env_id in PRESETS)


def test_file_for_another_env_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="env_id='CartPole-v1'.*env_id='Acrobot-v1'"):
        load_preset("Acrobot-v1", write(tmp_path, VALID))


def test_preset_dir_is_the_repository_envs_folder() -> None:
    assert PRESET_DIR == Path(__file__).resolve().parent.parent / "envs"


def test_reward_table_reaches_the_reward_config(tmp_path: Path) -> None:
    from prefrl.trainer import train_config

    preset = load_preset("CartPole-v1", write(tmp_path, VALID + "\n[reward]\nbatch_size = 16\nhidden_sizes = [32]\n"))
    assert preset.reward == {"batch_size": 16, "hidden_sizes": (32,)}
    config = train_config("CartPole-v1", preset=tmp_path / "custom.toml", patience=2)
    assert (config.reward.batch_size, config.reward.hidden_sizes, config.reward.patience) == (16, (32,), 2)
    assert train_config("CartPole-v1", preset=tmp_path / "custom.toml", batch_size=8).reward.batch_size == 8


@pytest.mark.parametrize(
    "table, message", [("batch_sise = 16", "unknown key.*'reward.batch_sise'"), ("batch_size = 0", "batch_size=0")]
)
def test_bad_reward_table_names_the_key(tmp_path: Path, table: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_preset("CartPole-v1", write(tmp_path, VALID + f"\n[reward]\n{table}\n"))
