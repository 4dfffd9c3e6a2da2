"""Figures render from fixture run folders (hand-written metrics and summaries, no training)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from prefrl import plotting
from prefrl.cli import main as cli_main
from prefrl.results import load_results
from prefrl.reward_samples import SAMPLES_FILE, policy_rewards, reward_samples
from prefrl.sweep import Cell
from tests.sweep_fixtures import write_cell, write_sweep


def is_image(path, fmt):
    head = path.read_bytes()[:200]
    return head.startswith(b"\x89PNG") if fmt == "png" else b"<svg" in path.read_bytes()[:2000]


def test_every_sweep_figure_renders_as_png_and_svg(tmp_path):
    write_sweep(tmp_path / "sweep")
    paths = plotting.plot_sweep(tmp_path / "sweep", tmp_path / "figures")
    stems = {p.stem for p in paths}
    assert stems == {"learning_curves", "score_vs_labels", "reward_scatter",
                     "ablation_mistake_rate", "ablation_beta", "ablation_selector", "ablation_sync"}  # fmt: skip
    for path in paths:
        assert is_image(path, path.suffix[1:]), path


def test_reference_settings_are_the_papers_and_ablations_hold_the_others_fixed(tmp_path):
    results = load_results(write_sweep(tmp_path))
    reference = plotting.reference_cell(results)
    assert (reference.mistake_rate, reference.beta, reference.selector, reference.sync) == (0.0, math.inf,
                                                                                             "disagreement", False)
    uniform = next(r.cell for r in results if r.cell.selector == "uniform")
    assert plotting._matches(uniform, reference, free="selector")
    assert not plotting._matches(uniform, reference, free="sync")


def test_learning_curve_shows_mean_and_standard_error_over_seeds(tmp_path, monkeypatch):
    for seed, curve in enumerate(([0.0, 10.0, 20.0], [0.0, 30.0, 40.0])):
        write_cell(tmp_path, Cell(env_id="A-v0", seed=seed), curve[-1], curve=curve)
    drawn = {}
    band = plotting._mean_band
    monkeypatch.setattr(plotting, "_mean_band", lambda axis, x, runs, colour, label: drawn.update({label: runs})
                        or band(axis, x, runs, colour, label))
    plotting.learning_curves(load_results(tmp_path), tmp_path / "curves")
    np.testing.assert_allclose(drawn["PPO, true reward"], [[0, 10, 20], [0, 30, 40]])  # (seeds, points)
    assert (tmp_path / "curves.png").is_file() and (tmp_path / "curves.svg").is_file()


def test_timestep_counts_read_in_k_and_m():
    assert [plotting.format_timesteps(s) for s in (0, 950, 50_000, 102_400, 151_552, 1_000_000, 1_500_000)] == [
        "0", "950", "50k", "102k", "152k", "1M", "1.5M"]  # fmt: skip


def test_correlation_by_hand():
    assert plotting.correlation(np.array([1.0, 2.0, 3.0]), np.array([2.0, 4.0, 6.0])) == pytest.approx(1.0)
    assert plotting.correlation(np.array([1.0, 2.0, 3.0]), np.array([3.0, 2.0, 1.0])) == pytest.approx(-1.0)
    assert math.isnan(plotting.correlation(np.ones(3), np.array([1.0, 2.0, 3.0])))


def _finished_cartpole_run(folder, kind="train", seed=0):
    """A run folder holding what a finished CartPole run leaves: config, an (untrained) policy and reward net."""
    import gymnasium as gym
    import torch
    from stable_baselines3 import PPO

    import prefrl
    from prefrl.config import to_dict

    config = prefrl.train_config("CartPole-v1", out=str(folder))
    env = gym.make("prefrl/FixedCartPole-v1")
    folder.mkdir(parents=True, exist_ok=True)
    PPO("MlpPolicy", env, n_steps=64, seed=seed).save(folder / "policy.zip")
    if kind == "train":
        net = prefrl.RewardEnsemble.from_config(env.observation_space, env.action_space, config.reward)
        torch.save(net.state_dict(), folder / "reward_net.pt")
        saved = {"kind": "train", "config": to_dict(config)}
    else:
        saved = {"kind": "baseline", "run": to_dict(config)["run"]}
    (folder / "config.json").write_text(__import__("json").dumps(saved))
    return folder


def test_reward_samples_replay_the_saved_policy_and_reward_net(tmp_path):
    _finished_cartpole_run(tmp_path)
    samples = reward_samples(tmp_path, episodes=1)
    assert len(samples["true"]) == len(samples["learned"]) == 400  # 2 episodes of the 200-step variant
    true = samples["true"]  # the variant's reward: 0 while the pole is down, 0.5-1 while it is up
    assert ((true == 0.0) | ((true >= 0.5) & (true <= 1.0))).all()
    assert (samples["source"] == 0).sum() == 200  # one policy episode, one random one
    assert (tmp_path / SAMPLES_FILE).is_file()
    np.testing.assert_array_equal(reward_samples(tmp_path)["learned"], samples["learned"])  # read from the cache


def test_policy_rewards_score_another_runs_policy_with_this_runs_reward(tmp_path):
    reward_run = _finished_cartpole_run(tmp_path / "train")
    baseline = _finished_cartpole_run(tmp_path / "baseline", kind="baseline", seed=1)
    samples = policy_rewards(reward_run, baseline, episodes=2)
    assert len(samples["true"]) == len(samples["learned"]) == 400
    np.testing.assert_array_equal(samples["episode"], np.repeat([0, 1], 200))
    assert ((samples["true"] == 0.0) | ((samples["true"] >= 0.5) & (samples["true"] <= 1.0))).all()
    assert np.isfinite(samples["learned"]).all() and samples["learned"].std() > 0  # r̂ of the states visited
    assert not (baseline / SAMPLES_FILE).exists() and not (reward_run / SAMPLES_FILE).exists()  # nothing cached
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="not a `prefrl train` or `prefrl baseline` run folder"):
        policy_rewards(reward_run, tmp_path / "empty")


@pytest.mark.filterwarnings("ignore:.*Overriding environment MinAtar")  # re-registering what the test unregistered
def test_reward_samples_of_a_minatar_run_register_its_env_and_read_frames(tmp_path):
    pytest.importorskip("minatar", reason="MinAtar is in the `atari` extra (pip install 'prefrl[atari]')")
    import gymnasium as gym
    import torch
    from stable_baselines3 import PPO

    import prefrl
    from prefrl.atari import make_env
    from prefrl.config import to_dict
    from prefrl.policies import policy_for

    config = prefrl.train_config("MinAtar/Breakout-v1", out=str(tmp_path))
    env = make_env(config.run.train_env_id)  # the variant's id is registered on first use, as in a fresh process
    name, kwargs = policy_for(env.observation_space)
    PPO(name, env, n_steps=64, policy_kwargs=kwargs, seed=0).save(tmp_path / "policy.zip")
    reward_net = prefrl.RewardEnsemble.from_config(env.observation_space, env.action_space, config.reward)
    assert reward_net.transitions is not None  # the preset's r̂ reads what each step changed on the grid
    torch.save(reward_net.state_dict(), tmp_path / "reward_net.pt")
    (tmp_path / "config.json").write_text(__import__("json").dumps({"kind": "train", "config": to_dict(config)}))
    horizon = env.spec.max_episode_steps
    for env_id in (config.run.train_env_id, config.run.env_id):  # as in a fresh process: nothing registered yet
        gym.envs.registry.pop(env_id)
    samples = reward_samples(tmp_path, episodes=1)
    assert len(samples["true"]) == len(samples["learned"]) == 2 * horizon
    assert np.isfinite(samples["learned"]).all() and samples["learned"].std() > 0


def test_reward_samples_replay_the_env_with_the_runs_train_env_arguments():
    """A preset's [train_env] table is part of the env a run trained in (SpaceInvaders' lost_game_charge changes
    its true reward), so the replay builds the env with it."""
    import prefrl
    from prefrl.reward_samples import training_env

    config = prefrl.train_config("CartPole-v1", train_env_kwargs={"sutton_barto_reward": True})
    env = training_env(config)
    assert env.spec.id == config.run.training_env_id == "prefrl/FixedCartPole-v1"
    assert env.unwrapped._sutton_barto_reward  # CartPole's own constructor argument, passed through the variant


def test_reward_samples_of_a_baseline_run_is_a_clear_error(tmp_path):
    (tmp_path / "config.json").write_text('{"kind": "baseline", "run": {}}')
    with pytest.raises(ValueError, match="need a `prefrl train` run folder"):
        reward_samples(tmp_path)


def test_plot_cli_keeps_runs_mode_and_adds_sweep_and_scatter(tmp_path, capsys):
    write_sweep(tmp_path / "sweep")
    runs = sorted((tmp_path / "sweep" / "cells").glob("A-v0-L20-eps0-betainf-disagreement-async-s*"))
    assert cli_main(["plot", *map(str, runs), "--out", str(tmp_path / "runs.png")]) == 0
    assert is_image(tmp_path / "runs.png", "png")
    assert cli_main(["plot", str(runs[0]), "--scatter", "--out", str(tmp_path / "scatter.png")]) == 0
    assert is_image(tmp_path / "scatter.svg", "svg")
    assert cli_main(["plot", "--sweep", str(tmp_path / "sweep")]) == 0
    assert (tmp_path / "sweep" / "figures" / "score_vs_labels.png").is_file()
    assert cli_main(["plot", "--out", str(tmp_path / "x.png")]) == 2
    assert "give run folders" in capsys.readouterr().err
