"""Standardized observations belong to the policy: saved and restored with it, frozen and applied in evaluation,
never seen by the reward net; images and discrete observations are refused by name."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import VecNormalize

from prefrl.agent import load_agent, make_agent, save_atomically
from prefrl.cli import main
from prefrl.evaluation import evaluate
from prefrl.normalization import as_seen_by, observation_transform, standardized, stats_path
from prefrl.runs import RunFolder
from prefrl.trainer import train_config
from tests.test_presets import VALID, write

TINY = ["--env", "Pendulum-v1", "--timesteps", "512", "--n-envs", "2", "--no-progress", "--eval-episodes", "1",
        "--final-eval-episodes", "1", "--normalize-observations"]


def pendulum_agent(tmp_path: Path, steps: int = 256):
    env = make_vec_env("Pendulum-v1", n_envs=2, seed=0)
    model = make_agent("ppo", env, {"n_steps": 64, "batch_size": 64}, 0, RunFolder(tmp_path / "run"), "cpu", True)
    model.learn(steps)
    return model


def test_statistics_follow_the_observations_and_the_transform_standardizes(tmp_path: Path) -> None:
    model = pendulum_agent(tmp_path)
    normalizer = model.get_vec_normalize_env()
    assert normalizer is not None and normalizer.training and not normalizer.norm_reward
    # Pendulum's (cos θ, sin θ, θ̇): the running mean and variance are those of what the envs produced.
    assert normalizer.obs_rms.count > 256
    raw = np.array([[1.0, 0.0, 2.0]], dtype=np.float32)
    want = np.clip((raw - normalizer.obs_rms.mean) / np.sqrt(normalizer.obs_rms.var + normalizer.epsilon), -10, 10)
    frozen = as_seen_by(model, make_vec_env("Pendulum-v1", n_envs=1, seed=1))
    np.testing.assert_allclose(frozen.normalize_obs(raw), want, rtol=1e-6)


def test_evaluation_reads_frozen_statistics_and_leaves_them_alone(tmp_path: Path) -> None:
    model = pendulum_agent(tmp_path)
    normalizer = model.get_vec_normalize_env()
    mean, var = normalizer.obs_rms.mean.copy(), normalizer.obs_rms.var.copy()
    seen: list[np.ndarray] = []
    predict = model.predict

    def recording(obs, *args, **kwargs):
        seen.append(np.array(obs))
        return predict(obs, *args, **kwargs)

    model.predict = recording  # type: ignore[method-assign]
    evaluate(model, make_vec_env("Pendulum-v1", n_envs=1, seed=3), 1)
    np.testing.assert_array_equal(normalizer.obs_rms.mean, mean)
    np.testing.assert_array_equal(normalizer.obs_rms.var, var)
    # The policy was fed standardized observations: θ̇ of a raw Pendulum lies in [-8, 8] and cos²+sin² = 1;
    # standardized, the first two columns are no longer on the unit circle.
    first = seen[0][0]
    assert not np.isclose(first[0] ** 2 + first[1] ** 2, 1.0, atol=1e-3)
    np.testing.assert_allclose(first, as_seen_by(model, make_vec_env("Pendulum-v1", n_envs=1, seed=3)).reset()[0], rtol=1e-6)


def test_statistics_are_saved_beside_the_policy_and_restored_with_it(tmp_path: Path) -> None:
    model = pendulum_agent(tmp_path)
    path = tmp_path / "policy.zip"
    save_atomically(model, path)
    assert stats_path(path) == tmp_path / "policy.obs_stats.pkl" and stats_path(path).exists()
    loaded = load_agent("ppo", path, make_vec_env("Pendulum-v1", n_envs=2, seed=5), RunFolder(tmp_path / "again"), "cpu")
    restored = loaded.get_vec_normalize_env()
    assert restored is not None and restored.training  # a resumed run goes on updating them
    np.testing.assert_array_equal(restored.obs_rms.mean, model.get_vec_normalize_env().obs_rms.mean)
    transform = observation_transform(path)
    raw = np.array([0.0, 1.0, -3.0], dtype=np.float32)
    np.testing.assert_allclose(transform(raw), restored.normalize_obs(raw), rtol=1e-6)


def test_a_policy_without_statistics_is_left_as_it_is(tmp_path: Path) -> None:
    env = make_vec_env("Pendulum-v1", n_envs=1, seed=0)
    model = make_agent("ppo", env, {"n_steps": 64, "batch_size": 64}, 0, RunFolder(tmp_path / "run"), "cpu")
    path = tmp_path / "policy.zip"
    save_atomically(model, path)
    assert model.get_vec_normalize_env() is None and not stats_path(path).exists()
    assert as_seen_by(model, env) is env
    raw = np.array([0.5, 0.5, 1.0], dtype=np.float32)
    assert observation_transform(path)(raw) is raw


def test_train_and_baseline_keep_the_statistics_and_the_reward_net_reads_raw_observations(tmp_path: Path) -> None:
    assert main(["baseline", *TINY, "--out", str(tmp_path / "base")]) == 0
    assert (tmp_path / "base" / "policy.obs_stats.pkl").exists()
    assert main(["train", *TINY, "--labels", "6", "--sync", "--reward-max-epochs", "1", "--out", str(tmp_path / "pref")]) == 0
    run = tmp_path / "pref"
    assert json.loads((run / "config.json").read_text())["config"]["run"]["normalize_observations"] is True
    for folder in (run, run / "checkpoint"):
        with (folder / "policy.obs_stats.pkl").open("rb") as handle:
            assert isinstance(pickle.load(handle), VecNormalize)
    # The stored clips hold Pendulum's raw observations: (cos θ, sin θ) on the unit circle.
    from prefrl.store import ComparisonStore

    with ComparisonStore(run / "comparisons.sqlite", create=False) as store:
        obs = np.concatenate([c.left.obs for c in store.comparisons()])
    np.testing.assert_allclose(obs[:, 0] ** 2 + obs[:, 1] ** 2, 1.0, atol=1e-5)


@pytest.mark.parametrize("space", [gym.spaces.Discrete(3), gym.spaces.Box(0, 255, (10, 10, 4), np.uint8)])
def test_images_and_discrete_observations_are_refused_by_name(space: gym.Space) -> None:
    env = make_vec_env("Pendulum-v1", n_envs=1)
    env.observation_space = space
    with pytest.raises(ValueError, match=r"normalize_observations=True needs observations that are a Box of floats"):
        standardized(env)


def test_preset_turns_it_on_and_a_wrong_value_is_named(tmp_path: Path) -> None:
    assert train_config("CartPole-v1", preset=write(tmp_path, VALID)).run.normalize_observations is False
    on = write(tmp_path, VALID.replace("linear_schedule = true", "linear_schedule = true\nnormalize_observations = true"))
    assert train_config("CartPole-v1", preset=on).run.normalize_observations is True
    wrong = write(tmp_path, VALID.replace("linear_schedule = true", "linear_schedule = true\nnormalize_observations = 1"))
    with pytest.raises(ValueError, match=r"normalize_observations=1 is not allowed; it must be true or false"):
        train_config("CartPole-v1", preset=wrong)
