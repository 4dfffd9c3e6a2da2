"""ALE games through prefrl: the observation pipeline, the score mask, no terminal signal, presets, and runs of
`prefrl train` / `prefrl baseline` on Pong that write a complete run folder."""

from __future__ import annotations

import json
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

pytest.importorskip("ale_py", reason="the ALE is in the `atari` extra (pip install 'prefrl[atari]')")

from prefrl.agent import ALGOS  # noqa: E402
from prefrl.atari import ALE_GAMES, ALE_HORIZON, ALE_V5_TWINS, ATARI_VARIANTS, ScoreMask, make_atari  # noqa: E402
from prefrl.cli import main  # noqa: E402
from prefrl.envs import check_env_id, make_vec  # noqa: E402
from prefrl.presets import _ALGO_TABLES, load_preset  # noqa: E402
from prefrl.trainer import train_config  # noqa: E402

PONG_SCORE = ((0, 9, 0, 84),)


def play(env: gym.Env, steps: int, seed: int = 0) -> list[np.ndarray]:
    obs, _ = env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    seen = [obs]
    for _ in range(steps):
        obs, *_ = env.step(int(rng.integers(env.action_space.n)))
        seen.append(obs)
    return seen


def test_pipeline_gives_stacks_of_84x84_grayscale_frames() -> None:
    env = make_atari("PongNoFrameskip-v4")
    assert env.observation_space == gym.spaces.Box(0, 255, (4, 84, 84), np.uint8)
    frames = np.stack(play(env, 10))  # (11, 4, 84, 84)
    assert np.array_equal(frames[1:, :-1], frames[:-1, 1:])  # oldest frame first, one new frame per step
    v5 = make_atari("ALE/Pong-v5")  # the ALE's own frame skip is off: the pipeline skips 4
    assert v5.observation_space == env.observation_space and v5.unwrapped._frameskip == 1


def test_score_mask_blacks_out_exactly_the_score() -> None:
    plain = np.stack(play(make_atari("PongNoFrameskip-v4"), 60))[:, -1]  # (61, 84, 84), newest frames
    masked = np.stack(play(make_atari("PongNoFrameskip-v4", score_boxes=PONG_SCORE), 60))[:, -1]
    inside = np.zeros((84, 84), bool)
    inside[0:9, :] = True
    assert plain[:, inside].any()  # the score was there to hide
    assert not masked[:, inside].any()
    assert np.array_equal(masked[:, ~inside], plain[:, ~inside])  # and nothing else changed
    assert load_preset("PongNoFrameskip-v4").score_boxes == PONG_SCORE


def test_score_boxes_are_checked() -> None:
    env = gym.make("PongNoFrameskip-v4")
    with pytest.raises(ValueError, match="2-D frames"):
        ScoreMask(env, PONG_SCORE)
    with pytest.raises(ValueError, match=r"not a non-empty box inside the 84x84 frame"):
        make_atari("PongNoFrameskip-v4", score_boxes=((0, 90, 0, 84),))
    with pytest.raises(ValueError, match="not an ALE game"):
        make_vec("CartPole-v1", 1, 0, PONG_SCORE)


def test_no_terminal_signal_while_the_game_resets_underneath() -> None:
    """Breakout: 5 lives lost one by one, then game over, several times in one 2000-step episode; the agent is told
    of none of it, and each new game starts from a fresh stack."""
    env = gym.make(ATARI_VARIANTS["BreakoutNoFrameskip-v4"])
    assert env.spec.max_episode_steps == ALE_HORIZON
    env.reset(seed=0)
    env.action_space.seed(0)
    lives, resets = set(), 0
    for step in range(1, ALE_HORIZON + 1):
        obs, _, terminated, truncated, info = env.step(env.action_space.sample())
        assert terminated is False
        assert truncated == (step == ALE_HORIZON)
        lives.add(info["lives"])
        if info.get("reset_underneath"):
            resets += 1
            assert all(np.array_equal(obs[k], obs[0]) for k in range(4))  # the new game's first frame, stacked
    assert resets >= 2 and lives == {0, 1, 2, 3, 4, 5}


def test_presets_of_the_papers_games_and_their_v5_twins() -> None:
    assert set(_ALGO_TABLES) == set(ALGOS)
    for game in ALE_GAMES:
        for env_id in (f"{game}NoFrameskip-v4", f"ALE/{game}-v5"):
            preset = load_preset(env_id)
            assert preset.env_id == env_id and preset.train_env_id == ATARI_VARIANTS[env_id]
            check_env_id(preset.train_env_id)
            assert preset.score_boxes and preset.query == {"initial_labels": 500, "decay_timesteps": 5_000_000}
            assert preset.reward["max_train_comparisons"] == 3000
    assert ALE_V5_TWINS["ALE/Pong-v5"] == "PongNoFrameskip-v4"
    config = train_config("ALE/Pong-v5", algo="a2c")
    assert config.run.algo_kwargs == {"ent_coef": 0.01, "vf_coef": 0.25} and config.run.score_boxes == PONG_SCORE
    with pytest.raises(ValueError, match="algo='dqn'.*ppo, a2c"):
        train_config("PongNoFrameskip-v4", algo="dqn")


def test_pong_smoke_run_writes_a_complete_run_folder(tmp_path: Path) -> None:
    """`prefrl train --env PongNoFrameskip-v4` end to end, shrunk to seconds: 2 envs, 256 steps, 4 labels (2 before
    RL), a one-member reward net fit on single pairs; the original game is played to its end in evaluation. Then
`prefrl train --resume` on its folder."""
    out = tmp_path / "run"
    code = main([
        "train", "--env", "PongNoFrameskip-v4", "--timesteps", "256", "--labels", "4", "--initial-labels", "2",
        "--n-envs", "2", "--sync", "--no-progress", "--eval-every", "1000000", "--eval-episodes", "1",
        "--final-eval-episodes", "1", "--reward-ensemble-size", "1", "--reward-batch-size", "1",
        "--reward-max-epochs", "1", "--reward-patience", "1", "--out", str(out),
    ])
    assert code == 0
    names = {"config.json", "summary.json", "metrics.csv", "policy.zip", "reward_net.pt", "comparisons.sqlite",
             "learning_curve.png", "checkpoint"}
    assert names <= {path.name for path in out.iterdir()}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["labels_used"] == 4 and summary["train_env_id"] == "prefrl/FixedPongNoFrameskip-v4"
    assert -21 <= summary["final_true_return"] <= 21  # a whole game of Pong, scored by the game
    # 28 frames of 84x84 per clip, compressed: far below the 705,600 bytes of its raw (25, 4, 84, 84) stacks.
    assert summary["bytes_per_segment"] < 20_000
    saved = json.loads((out / "config.json").read_text())["config"]
    assert saved["run"]["score_boxes"] == [list(PONG_SCORE[0])] and saved["query"]["initial_labels"] == 2
    # Resumed from its folder (score boxes and algorithm read back from config.json): the same ending, no new labels.
    assert main(["train", "--resume", str(out), "--no-progress"]) == 0
    assert json.loads((out / "summary.json").read_text())["labels_used"] == 4
