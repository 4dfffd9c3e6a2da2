"""Wrappers pay r̂ and keep the true reward; bad rewards are clear errors."""

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces
from stable_baselines3.common.env_util import make_vec_env

from prefrl.reward.nets import RewardEnsemble
from prefrl.wrappers import LearnedReward, LearnedRewardVecEnv


class ObsSumReward:
    """r̂(o, a) = sum(o) + 10·a: easy to check by hand."""

    def __init__(self):
        self.calls = 0

    def predict(self, obs, actions):
        self.calls += 1
        return obs.reshape(len(obs), -1).sum(1) + 10.0 * np.asarray(actions).reshape(len(obs))


def test_vec_wrapper_swaps_reward_keeps_true_one_and_batches_inference():
    reward = ObsSumReward()
    env = LearnedRewardVecEnv(make_vec_env("CartPole-v1", n_envs=4, seed=0), reward)
    obs = env.reset()
    actions = np.array([0, 1, 1, 0])
    new_obs, rewards, dones, infos = env.step(actions)
    assert rewards == pytest.approx(obs.sum(1) + 10.0 * actions, abs=1e-5)
    assert [info["true_reward"] for info in infos] == [1.0] * 4
    assert reward.calls == 1  # one batched call for all 4 envs
    batch = env.drain_steps()
    assert batch.obs.shape == (1, 4, 4) and batch.true_rewards.tolist() == [[1.0] * 4]
    assert np.array_equal(batch.obs[0], obs) and np.array_equal(batch.actions[0], actions)


def test_vec_wrapper_tracks_true_and_learned_episode_returns():
    env = LearnedRewardVecEnv(make_vec_env("CartPole-v1", n_envs=2, seed=0), ObsSumReward())
    env.reset()
    learned_total = np.zeros(2)
    finished = []
    for _ in range(200):
        _, rewards, dones, _ = env.step(np.array([0, 0]))
        learned_total += rewards
        for e in np.flatnonzero(dones):
            finished.append(learned_total[e])
            learned_total[e] = 0
    episodes = env.returns.pop()
    assert len(episodes) == len(finished) > 0
    assert [l for _, l in episodes] == pytest.approx(finished, rel=1e-5)
    assert all(t >= 8 for t, _ in episodes)  # CartPole pays 1 per step: true return = length


class NaNRewardEnv(gym.Env):
    observation_space = gym.spaces.Box(-1, 1, (2,))
    action_space = gym.spaces.Discrete(2)

    def reset(self, seed=None, options=None):
        return np.zeros(2, dtype=np.float32), {}

    def step(self, action):
        return np.zeros(2, dtype=np.float32), float("nan"), False, False, {}


def test_nan_true_reward_is_a_clear_error():
    env = LearnedRewardVecEnv(make_vec_env(NaNRewardEnv, n_envs=2), ObsSumReward())
    env.reset()
    with pytest.raises(ValueError, match="environment returned a non-finite reward"):
        env.step(np.array([0, 1]))


def test_nan_learned_reward_is_a_clear_error():
    class NaNReward:
        def predict(self, obs, actions):
            return np.full(len(obs), np.nan)

    env = LearnedRewardVecEnv(make_vec_env("CartPole-v1", n_envs=2, seed=0), NaNReward())
    env.reset()
    with pytest.raises(ValueError, match="reward function returned a non-finite reward"):
        env.step(np.array([0, 1]))


def test_gym_wrapper_swaps_reward_and_reports_episode_returns():
    env = LearnedReward(gym.make("CartPole-v1"), ObsSumReward())
    obs, _ = env.reset(seed=0)
    _, reward, _, _, info = env.step(1)
    assert reward == pytest.approx(float(obs.sum() + 10.0), abs=1e-5)
    assert info["true_reward"] == 1.0
    done, steps = False, 1
    while not done:
        _, _, terminated, truncated, info = env.step(0)
        done = terminated or truncated
        steps += 1
    assert info["episode_returns"]["true"] == steps


def test_vec_wrapper_keeps_each_members_reward_with_the_weights_version():
    model = RewardEnsemble(spaces.Box(-5, 5, (4,)), spaces.Discrete(2), ensemble_size=3, hidden_sizes=(8,))
    env = LearnedRewardVecEnv(make_vec_env("CartPole-v1", n_envs=2, seed=0), model)
    first_obs = obs = env.reset()
    for step in range(3):
        obs, rewards, _, _ = env.step(np.array([step % 2, 1]))
    batch = env.drain_steps()
    assert batch.member_rewards.shape == (3, 2, 3) and batch.scored_by == model.weights_version()
    np.testing.assert_allclose(batch.member_rewards[0].T, model.member_predict(first_obs, np.array([0, 1])), atol=1e-5)
    np.testing.assert_allclose(rewards, model.predict(batch.obs[-1], batch.actions[-1]), atol=1e-6)
    # Steps scored by two versions of the weights keep no member rewards.
    env.step(np.array([0, 0]))
    with torch.no_grad():
        model.biases[0].add_(0.1)
    env.step(np.array([0, 0]))
    mixed = env.drain_steps()
    assert mixed.member_rewards is None and mixed.scored_by is None


class CountingEnv(gym.Env):
    """Observation = the step count; ends after 3 steps, so a vector env resets it underneath."""

    observation_space = gym.spaces.Box(0, 10, (1,), dtype=np.float32)
    action_space = gym.spaces.Discrete(2)

    def reset(self, seed=None, options=None):
        self.t = 0
        return np.array([0.0], dtype=np.float32), {}

    def step(self, action):
        self.t += 1
        return np.array([float(self.t)], dtype=np.float32), 1.0, self.t == 3, False, {}


class TransitionReward(ObsSumReward):
    """Reads (o, o') joined end to end: r̂ = o + 10·o' with the action ignored (CountingEnv's o is one number)."""

    def __init__(self):
        super().__init__()
        from prefrl.reward.transitions import TransitionLayout

        self.transitions = TransitionLayout.for_space(CountingEnv.observation_space, "joined")

    def predict(self, obs, actions):
        self.calls += 1
        return obs[..., 0] + 10.0 * obs[..., 1]


def test_vec_wrapper_pays_transitions_with_the_terminal_observation_at_an_episode_end():
    reward = TransitionReward()
    env = LearnedRewardVecEnv(make_vec_env(CountingEnv, n_envs=2, seed=0), reward)
    env.reset()
    paid = [env.step(np.array([0, 1]))[1].tolist() for _ in range(4)]
    # o -> o': 0->1, 1->2, 2->3 (the end: o' is the terminal 3, not the reset 0), then 0->1 in the new episode.
    assert paid == [[10.0, 10.0], [21.0, 21.0], [32.0, 32.0], [10.0, 10.0]]
    batch = env.drain_steps()
    assert batch.obs.shape == (4, 2, 2)  # segments keep what r̂ read, o and o' joined
    assert batch.obs[:, 0].tolist() == [[0.0, 1.0], [1.0, 2.0], [2.0, 3.0], [0.0, 1.0]]


def test_single_env_wrapper_pays_transitions():
    env = LearnedReward(CountingEnv(), TransitionReward())
    env.reset()
    assert [env.step(0)[1] for _ in range(3)] == [10.0, 21.0, 32.0]
