"""Wrappers that pay the agent r̂(o, a) instead of the env's reward, keeping the true reward in ``info``.

``LearnedRewardVecEnv`` is the one PPO trains through: it scores all parallel envs in one batched call of
the reward function (no per-env loop), records the steps for segment cutting, and tracks true and learned
episode returns. ``LearnedReward`` does the same for a single Gymnasium env, for users who want r̂ outside
SB3. The reward function can be swapped between rollouts with ``set_reward_fn``.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.vec_env import VecEnv, VecEnvWrapper

from prefrl.reward.transitions import TransitionLayout
from prefrl.segments import StepBatch
from prefrl.types import EnsembleRewardFunction, RewardFunction


def reads_transitions(reward_fn: RewardFunction) -> TransitionLayout | None:
    """How ``reward_fn`` reads o and o' when it reads the step's outcome too (a ``transitions`` attribute, as
    :class:`~prefrl.reward.nets.RewardEnsemble` with ``next_obs`` set has); ``None`` when it reads o alone."""
    return getattr(reward_fn, "transitions", None)


def reward_inputs(reward_fn: RewardFunction, obs: np.ndarray, next_obs: np.ndarray) -> np.ndarray:
    """What ``reward_fn`` reads of steps ``(*lead, *obs_shape)``: ``obs``, or what it reads of ``obs`` and ``next_obs``."""
    transitions = reads_transitions(reward_fn)
    return obs if transitions is None else transitions.inputs(obs, next_obs)


def check_finite(rewards: np.ndarray, source: str) -> None:
    """Stop at the first NaN or infinite reward, saying where it came from (a NaN would silently poison r̂ or PPO)."""
    if not np.all(np.isfinite(rewards)):
        bad = np.flatnonzero(~np.isfinite(np.asarray(rewards).reshape(-1)))
        raise ValueError(
            f"{source} returned a non-finite reward {np.asarray(rewards).reshape(-1)[bad[0]]!r} (env index {int(bad[0])}); "
            "check the env's reward computation (or the reward net's inputs) before training on it."
        )


class EpisodeReturns:
    """Running true and learned returns of each parallel env; finished episodes are popped by the logger."""

    def __init__(self, n_envs: int) -> None:
        self.true = np.zeros(n_envs)
        self.learned = np.zeros(n_envs)
        self.finished: list[tuple[float, float]] = []

    def add(self, true_rewards: np.ndarray, learned_rewards: np.ndarray, dones: np.ndarray) -> None:
        self.true += true_rewards
        self.learned += learned_rewards
        for env in np.flatnonzero(dones):
            self.finished.append((float(self.true[env]), float(self.learned[env])))
        self.true[dones] = 0.0
        self.learned[dones] = 0.0

    def pop(self) -> list[tuple[float, float]]:
        """``(true_return, learned_return)`` of every episode finished since the last call."""
        finished, self.finished = self.finished, []
        return finished


class LearnedRewardVecEnv(VecEnvWrapper):
    """Replaces the reward of every env with ``reward_fn.predict(obs, actions)``, batched over envs; a reward
    function that reads the step's outcome too (:func:`reads_transitions`) gets what it reads of ``(o, o')`` as its ``obs``.

    :param venv: the vectorized env (its reward is the true one).
    :param reward_fn: scores ``(obs, actions)`` batches; swap it with :meth:`set_reward_fn`.
    :param record: keep every step for :meth:`drain_steps` (what segments are cut from): what the reward function
        read, the action, the true reward, the done flag. For an ensemble
        (:class:`~prefrl.types.EnsembleRewardFunction`) each member's reward of each step is kept too, with the
        version of the weights that gave it: query selection reuses them instead of scoring the clips again.
    """

    def __init__(self, venv: VecEnv, reward_fn: RewardFunction, record: bool = True) -> None:
        super().__init__(venv)
        self.set_reward_fn(reward_fn)
        self.record = record
        self.returns = EpisodeReturns(venv.num_envs)
        self._last_obs: np.ndarray | None = None
        self._actions: np.ndarray | None = None
        self._steps: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]] = []
        self._member_steps: list[tuple[tuple[int, ...], np.ndarray]] = []  # (weights version, (E, N)) per step

    def set_reward_fn(self, reward_fn: RewardFunction) -> None:
        """Swap the reward function; call it between rollouts so one rollout is scored by one net."""
        self.reward_fn = reward_fn
        # Checked once here, not at every step: an isinstance against a protocol inspects the object's attributes.
        self._ensemble = reward_fn if isinstance(reward_fn, EnsembleRewardFunction) else None
        self._transitions = reads_transitions(reward_fn)

    def reset(self) -> np.ndarray:
        obs = self.venv.reset()
        self._last_obs = obs
        return obs

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = actions
        self.venv.step_async(actions)

    def step_wait(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[dict[str, Any]]]:
        obs, true_rewards, dones, infos = self.venv.step_wait()
        assert self._last_obs is not None and self._actions is not None, "step_wait before reset/step_async"
        check_finite(true_rewards, "the environment")
        inputs = self._last_obs
        if self._transitions is not None:
            # An env that finished was reset at once: its o' is the terminal observation SB3 keeps in the info.
            next_obs = obs.copy() if dones.any() else obs
            for env in np.flatnonzero(dones):
                next_obs[env] = infos[env]["terminal_observation"]
            inputs = self._transitions.inputs(self._last_obs, next_obs)
        members = None
        if self._ensemble is not None:
            learned, members = self._ensemble.predict_members(inputs, self._actions)
        else:
            learned = self.reward_fn.predict(inputs, self._actions)
        learned = np.asarray(learned, dtype=np.float32).reshape(-1)
        check_finite(learned, "the reward function")
        if self.record:
            if self._ensemble is not None and members is not None:
                self._member_steps.append((self._ensemble.weights_version(), members.reshape(len(members), -1).T))
            # Present only when the envs carry a RenderStateRecorder (a person will watch clips).
            states = np.stack([info.pop("render_state") for info in infos]) if "render_state" in infos[0] else None
            self._steps.append((inputs, self._actions, true_rewards, dones, states))
        for info, true_reward in zip(infos, true_rewards.tolist()):
            info["true_reward"] = true_reward
        self.returns.add(true_rewards, learned, dones)
        self._last_obs = obs
        return obs, learned, dones, infos

    def drain_steps(self, first_timestep: int = 0) -> StepBatch | None:
        """The steps recorded since the last call, stacked ``(T, E, ...)``; ``None`` if there are none."""
        if not self._steps:
            return None
        obs, actions, rewards, dones, states = zip(*self._steps)
        render_states = None if states[0] is None else np.stack(states)
        # Member rewards are kept only where one version of the weights scored every step (it does: the reward
        # net is swapped between rollouts) and for every step (the reward function may have been swapped).
        member_rewards, scored_by = None, None
        versions = {version for version, _ in self._member_steps}
        if len(self._member_steps) == len(self._steps) and len(versions) == 1:
            member_rewards = np.stack([members for _, members in self._member_steps])  # (T, E, N)
            scored_by = versions.pop()
        self._steps, self._member_steps = [], []
        return StepBatch(
            np.stack(obs),
            np.stack(actions),
            np.stack(rewards),
            np.stack(dones).astype(bool),
            first_timestep,
            render_states,
            member_rewards,
            scored_by,
        )


class LearnedReward(gym.Wrapper):
    """Single-env version: ``reward = reward_fn(o_t, a_t)`` (or of what it reads of ``(o_t, o_t+1)``, as in the
    vectorized one); the env's reward goes to ``info["true_reward"]``.

    At an episode's end ``info["episode_returns"]`` holds ``{"true": ..., "learned": ...}``.
    """

    def __init__(self, env: gym.Env, reward_fn: RewardFunction) -> None:
        super().__init__(env)
        self.reward_fn = reward_fn
        self.returns = EpisodeReturns(1)
        self._last_obs: Any = None

    def set_reward_fn(self, reward_fn: RewardFunction) -> None:
        self.reward_fn = reward_fn

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(**kwargs)
        self._last_obs = obs
        self.returns = EpisodeReturns(1)
        return obs, info

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        obs, true_reward, terminated, truncated, info = self.env.step(action)
        check_finite(np.asarray([true_reward], dtype=np.float64), "the environment")
        inputs = reward_inputs(self.reward_fn, np.asarray(self._last_obs)[None], np.asarray(obs)[None])
        learned = np.asarray(self.reward_fn.predict(inputs, np.asarray(action)[None]))
        learned = learned.reshape(-1)
        check_finite(learned, "the reward function")
        info["true_reward"] = float(true_reward)
        done = terminated or truncated
        self.returns.add(np.array([float(true_reward)]), learned, np.array([done]))
        if done:
            true_return, learned_return = self.returns.pop()[-1]
            info["episode_returns"] = {"true": true_return, "learned": learned_return}
        self._last_obs = obs
        return obs, float(learned[0]), terminated, truncated, info
