"""Per-step (true, learned) reward pairs of a finished preference run, computed after the fact from its folder.

The run's saved policy and reward net are replayed in its training env (the fixed-horizon variant, whose
reward is what the synthetic oracle compared: the original CartPole pays a constant 1 per step, which no
reward net could correlate with). Half of the episodes follow the policy (sampling its actions, so states
near its behaviour are covered), half take uniformly random actions (states it avoids), because a reward net
is only useful if it ranks both correctly. Nothing is recorded during training, so training pays nothing.
The samples are cached in the run folder (``reward_samples.npz``). :func:`policy_rewards` replays another run's
policy against the same r̂ instead, to see whether r̂ ranks play it never saw as the true reward does.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from prefrl.runs import RunFolder, read_train_config

if TYPE_CHECKING:
    import gymnasium as gym

    from prefrl.config import TrainConfig
    from prefrl.reward.nets import RewardEnsemble

SAMPLES_FILE = "reward_samples.npz"
POLICY, RANDOM = 0, 1  # values of the "source" array


def reward_samples(run_dir: str | Path, episodes: int = 4, seed: int = 0) -> dict[str, np.ndarray]:
    """``{"true": (S,), "learned": (S,), "source": (S,)}`` over ``episodes`` policy and ``episodes`` random episodes.

    Read from ``reward_samples.npz`` when present; otherwise computed and saved there.
    """
    folder = Path(run_dir)
    cached = folder / SAMPLES_FILE
    if cached.exists():
        with np.load(cached) as data:
            return {key: data[key] for key in data.files}
    samples = _replay(folder, episodes, seed)
    np.savez(cached, **samples)
    return samples


def training_env(config: TrainConfig) -> gym.Env:
    """One copy of the env a run trained in, built as the run built it: MinAtar and ALE ids register on first
    use, ALE games get the same frame pipeline and score mask the reward net was trained on, and the preset's
    ``[train_env]`` arguments apply (a MinAtar variant's ``lost_game_charge`` is part of its true reward)."""
    from prefrl.atari import make_env

    score_boxes = {"score_boxes": config.run.score_boxes} if config.run.score_boxes else {}
    return make_env(config.run.training_env_id, **score_boxes, **config.run.train_env_kwargs)


def _replay(folder: Path, episodes: int, seed: int) -> dict[str, np.ndarray]:
    env, reward_net, config = _reward_of_run(folder)
    policy_action = _saved_policy(folder, config.run.algo)
    env.action_space.seed(seed)
    true, learned, source = [], [], []
    for episode in range(2 * episodes):
        use_policy = episode < episodes
        act = policy_action if use_policy else (lambda _obs: env.action_space.sample())
        episode_true, episode_learned = _episode(env, reward_net, act, seed + episode)
        true += episode_true
        learned += episode_learned
        source += [POLICY if use_policy else RANDOM] * len(episode_true)
    env.close()
    return {"true": np.asarray(true), "learned": np.asarray(learned), "source": np.asarray(source)}


def policy_rewards(
    reward_run: str | Path, policy_run: str | Path, episodes: int = 3, seed: int = 0
) -> dict[str, np.ndarray]:
    """``{"true": (S,), "learned": (S,), "episode": (S,)}``: the policy saved in ``policy_run`` (any run, a
    baseline's too) played for ``episodes`` episodes, sampling its actions, in ``reward_run``'s training env,
    scored by that env's true reward and by ``reward_run``'s final r̂.

    Why: a run's r̂ is fit on clips of the run's own policies, and PPO climbs whatever r̂ pays. Whether r̂ also
    ranks policies it never saw as the true reward does (a better one above the run's own) is what tells a
    reward that generalizes from one that only orders the clips it was shown.
    """
    env, reward_net, config = _reward_of_run(Path(reward_run))
    policy_action = _saved_policy(Path(policy_run), _algo_of(Path(policy_run)))
    true, learned, index = [], [], []
    for episode in range(episodes):
        episode_true, episode_learned = _episode(env, reward_net, policy_action, seed + episode)
        true += episode_true
        learned += episode_learned
        index += [episode] * len(episode_true)
    env.close()
    return {"true": np.asarray(true), "learned": np.asarray(learned), "episode": np.asarray(index)}


def _reward_of_run(folder: Path) -> tuple[gym.Env, RewardEnsemble, TrainConfig]:
    """A finished run's training env and final reward net."""
    from prefrl.config import TrainConfig, from_dict
    from prefrl.reward.nets import RewardEnsemble

    config = from_dict(TrainConfig, read_train_config(folder))
    for name in (RunFolder.POLICY, RunFolder.REWARD_NET):
        if not (folder / name).exists():
            raise FileNotFoundError(f"{folder / name} is missing: reward samples need a finished run.")
    env = training_env(config)
    return env, RewardEnsemble.load(folder, env.observation_space, env.action_space), config


def _algo_of(folder: Path) -> str:
    """The algorithm a run folder's policy was trained with, a `prefrl train` or a `prefrl baseline` run's."""
    path = folder / RunFolder.CONFIG
    saved = json.loads(path.read_text()) if path.is_file() else None
    if saved is None or saved.get("kind") not in ("train", "baseline"):
        raise ValueError(f"{folder} is not a `prefrl train` or `prefrl baseline` run folder (no config.json of either).")
    return str((saved["config"] if saved["kind"] == "train" else saved)["run"]["algo"])


def _saved_policy(folder: Path, algo: str) -> Callable[[Any], Any]:
    """The action a run's saved policy samples for a raw observation."""
    from prefrl.agent import algo_class
    from prefrl.normalization import observation_transform

    if not (folder / RunFolder.POLICY).exists():
        raise FileNotFoundError(f"{folder / RunFolder.POLICY} is missing: give a finished run's folder.")
    policy = algo_class(algo).load(folder / RunFolder.POLICY, device="cpu")
    policy_input = observation_transform(folder / RunFolder.POLICY)
    return lambda obs: policy.predict(policy_input(obs), deterministic=False)[0]


def _episode(
    env: gym.Env, reward_net: RewardEnsemble, act: Callable[[Any], Any], seed: int
) -> tuple[list[float], list[float]]:
    """One episode's per-step true rewards and r̂."""
    from prefrl.wrappers import reward_inputs

    true, learned = [], []
    obs, _ = env.reset(seed=seed)
    done = False
    while not done:
        action = act(obs)
        next_obs, reward, terminated, truncated, _ = env.step(action)
        inputs = reward_inputs(reward_net, np.asarray(obs)[None], np.asarray(next_obs)[None])
        learned.append(float(reward_net.predict(inputs, np.asarray(action)[None])[0]))
        true.append(float(reward))
        obs = next_obs
        done = terminated or truncated
    return true, learned
