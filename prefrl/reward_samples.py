"""Per-step (true, learned) reward pairs of a finished preference run, computed after the fact from its folder.

The run's saved policy and reward net are replayed in its training env (the fixed-horizon variant, whose
reward is what the synthetic oracle compared: the original CartPole pays a constant 1 per step, which no
reward net could correlate with). Half of the episodes follow the policy (sampling its actions, so states
near its behaviour are covered), half take uniformly random actions (states it avoids), because a reward net
is only useful if it ranks both correctly. Nothing is recorded during training, so training pays nothing.
The samples are cached in the run folder (``reward_samples.npz``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from prefrl.runs import RunFolder, read_train_config

if TYPE_CHECKING:
    import gymnasium as gym

    from prefrl.config import TrainConfig

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
    from prefrl.agent import algo_class
    from prefrl.config import TrainConfig, from_dict
    from prefrl.normalization import observation_transform
    from prefrl.reward.nets import RewardEnsemble
    from prefrl.wrappers import reward_inputs

    config = from_dict(TrainConfig, read_train_config(folder))
    for name in (RunFolder.POLICY, RunFolder.REWARD_NET):
        if not (folder / name).exists():
            raise FileNotFoundError(f"{folder / name} is missing: reward samples need a finished run.")
    env = training_env(config)
    reward_net = RewardEnsemble.load(folder, env.observation_space, env.action_space)
    policy = algo_class(config.run.algo).load(folder / RunFolder.POLICY, device="cpu")
    policy_input = observation_transform(folder / RunFolder.POLICY)
    env.action_space.seed(seed)
    true, learned, source = [], [], []
    for episode in range(2 * episodes):
        use_policy = episode < episodes
        obs, _ = env.reset(seed=seed + episode)
        done = False
        while not done:
            action = policy.predict(policy_input(obs), deterministic=False)[0] if use_policy else env.action_space.sample()
            next_obs, reward, terminated, truncated, _ = env.step(action)
            inputs = reward_inputs(reward_net, np.asarray(obs)[None], np.asarray(next_obs)[None])
            learned.append(float(reward_net.predict(inputs, np.asarray(action)[None])[0]))
            obs = next_obs
            true.append(float(reward))
            source.append(POLICY if use_policy else RANDOM)
            done = terminated or truncated
    env.close()
    return {"true": np.asarray(true), "learned": np.asarray(learned), "source": np.asarray(source)}
