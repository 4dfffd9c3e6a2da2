"""The reward model r̂(o, a): an ensemble of MLPs evaluated as one batched op, with a CNN trunk for images.

Christiano et al. 2017 (§2.2.1) fit an ensemble of predictors and reward the policy with their mean,
normalized. Here all members' weights are stacked into ``(N, in, out)`` tensors, so the whole ensemble is
three batched matmuls instead of a Python loop over members (a loop cost PPO 11% of its wall time, DESIGN.md).
Image observations (``prefrl.images``) first pass through a convolutional trunk, one per member, run as one
grouped op (``prefrl.reward.cnn``; an image's change read as events, ``prefrl.reward.events``); the action is
appended to the conv features and the same stacked MLP head follows, as in the paper's Atari predictor
(appendix A.2). The input space decides which.

This module builds the net (from a config, or as a finished run saved it), does forward on tensors and predict
on arrays, nothing else: fitting lives in ``trainer.py``.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from gymnasium import spaces
from torch import nn

from prefrl.config import RewardConfig, TrainConfig, from_dict
from prefrl.images import image_layout
from prefrl.reward.cnn import NUMPY_TRUNK_MAX_MULTIPLY_ADDS, ConvEnsembleTrunk, NumpyTrunk
from prefrl.reward.events import EventTrunk, NumpyEventTrunk
from prefrl.reward.init import fan_in_uniform
from prefrl.reward.transitions import TransitionLayout
from prefrl.runs import RunFolder, read_train_config


def space_width(space: spaces.Space, role: str) -> int:
    """Width of a space once encoded as features; any space we cannot encode is a clear error."""
    if isinstance(space, spaces.Box):
        return int(np.prod(space.shape))
    if isinstance(space, spaces.Discrete):
        return int(space.n)
    raise TypeError(
        f"{role} space {space!r} is not supported by the reward net: it encodes Box (used as is) and "
        f"Discrete (one-hot) spaces. Wrap the env (e.g. gymnasium.wrappers.FlattenObservation) to give it one of those."
    )


def _encode(values: torch.Tensor, space: spaces.Space, batch: int) -> torch.Tensor:
    """Features for one space: Box flattened (actions clipped to their bounds), Discrete one-hot."""
    if isinstance(space, spaces.Discrete):
        index = values.reshape(batch).long() - int(space.start)
        return nn.functional.one_hot(index, int(space.n)).float()  # (B, n)
    flat = values.reshape(batch, -1).float()  # (B, prod(shape))
    return flat


class RewardEnsemble(nn.Module):
    """N reward MLPs over (observation, action) features, run in one batched op.

    For image observations each member is a CNN: :attr:`trunk` turns the frames into per-member features, and
    the MLP (``hidden_sizes``, the paper's 64 units) reads those plus the action. The trunk has batch norm and
    dropout, so the model stays in eval mode (set here) except while :class:`~prefrl.reward.trainer.RewardTrainer`
    takes gradient steps.

    :param observation_space: the env's observation space (Box, Discrete, or an image Box: ``prefrl.images``).
    :param action_space: the env's action space (Box or Discrete).
    :param ensemble_size: number of members (the paper's ensemble; disagreement selection needs >= 2).
    :param hidden_sizes: hidden widths of every member.
    :param generator: source of the initial weights (seeded by the trainer, so a seed fixes the whole run).
    :param use_actions: whether r̂ reads the action (r̂(o, a)) or the observation alone (r̂(o)).
    :param next_obs: whether r̂ also reads the observation after the step, r̂(o, a, o'), and how (``"joined"``,
        ``"change"`` or ``"events"``; ``"none"``: not). Its inputs are then ``transitions.inputs(o, o')``
        (``prefrl.reward.transitions``), of shape ``input_space.shape``.

    **Your own reward model.** Subclass this and override :meth:`member_rewards`, the members' head: it gets the
    standardized (observation, action) features and, for images, the conv trunk's features, and returns one raw
    reward per member. Override :meth:`regularized_weights` too if the trainer's adaptive L2 should act on your
    head's weights. Everything else (bootstrapped members, the Bradley–Terry fit, disagreement, normalization,
    the background fitter, which builds its copy with your class's ``from_config``) works unchanged. Pass the
    class as ``PreferenceRL(config, reward_net_class=MyReward)``; for the background fitter it must be importable
    (defined in a module, or in a script's ``__main__``). The fast NumPy inference path serves only this class's
    own head; a subclass that overrides the head is paid through torch (:meth:`torch_predict`).
    """

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        ensemble_size: int = 3,
        hidden_sizes: Sequence[int] = (64, 64),
        generator: torch.Generator | None = None,
        use_actions: bool = True,
        next_obs: str = "none",
    ) -> None:
        super().__init__()
        self.observation_space = observation_space
        self.action_space = action_space
        self.ensemble_size = int(ensemble_size)
        self.use_actions = bool(use_actions)
        # How the wrapper turns o and o' into this net's input (prefrl.reward.transitions); its shape is `input_space`'s.
        self.transitions = None if next_obs == "none" else TransitionLayout.for_space(observation_space, next_obs)
        self.input_space = observation_space if self.transitions is None else self.transitions.space
        layout = image_layout(observation_space) if self.transitions is None else self.transitions.image_layout()
        self.trunk: ConvEnsembleTrunk | EventTrunk | None = None
        if layout is not None and self.transitions is not None and self.transitions.on_grid:
            self.trunk = EventTrunk(layout, self.ensemble_size, generator)  # what changed, summed over positions
        elif layout is not None:
            self.trunk = ConvEnsembleTrunk(layout, self.ensemble_size, generator)
        # What `features` returns: the flat observation and the action, or only the action when a trunk reads
        # the frames (standardizing pixels one by one would break the convolutions' translation invariance).
        obs_width = space_width(self.input_space, "observation") if self.trunk is None else 0
        action_width = space_width(action_space, "action")  # checked even when unused: the policy acts in it
        self.in_features = obs_width + (action_width if self.use_actions else 0)
        head_width = self.in_features + (0 if self.trunk is None else self.trunk.out_features)
        widths = [head_width, *[int(h) for h in hidden_sizes], 1]
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for fan_in, fan_out in zip(widths[:-1], widths[1:]):
            self.weights.append(nn.Parameter(fan_in_uniform((self.ensemble_size, fan_in, fan_out), fan_in, generator)))
            self.biases.append(nn.Parameter(fan_in_uniform((self.ensemble_size, 1, fan_out), fan_in, generator)))
        # Plain references to the same parameters: iterating a ParameterList costs ~13 µs a call, and
        # predict runs once per env step.
        self._layers = tuple(zip(self.weights, self.biases))
        if isinstance(action_space, spaces.Box):
            self.register_buffer("action_low", torch.as_tensor(np.nan_to_num(action_space.low.reshape(-1)), dtype=torch.float32))
            self.register_buffer("action_high", torch.as_tensor(np.nan_to_num(action_space.high.reshape(-1)), dtype=torch.float32))
            self._action_low_np = self.action_low.numpy().copy()
            self._action_high_np = self.action_high.numpy().copy()
        # Feature standardization, fit on the labelled data by the reward trainer, so that CartPole's
        # velocities and MountainCar's tiny positions train at one learning rate.
        self.register_buffer("input_mean", torch.zeros(self.in_features))
        self.register_buffer("input_std", torch.ones(self.in_features))
        # Output normalization of the ensemble mean (Christiano et al. 2017 §2.2.1: zero mean, fixed std).
        self.register_buffer("reward_shift", torch.zeros(()))
        self.register_buffer("reward_scale", torch.ones(()))
        # Every tensor the NumPy inference copy depends on; in-place updates bump their version counters.
        self._versioned = (*self.parameters(), *self.buffers())
        # The NumPy copy mirrors this class's own head; a subclass with another one predicts through torch, and
        # so does a trunk too large for NumPy's convolutions (see NUMPY_TRUNK_MAX_MULTIPLY_ADDS).
        own_head = all(
            getattr(type(self), name) is getattr(RewardEnsemble, name) for name in ("forward", "features", "member_rewards")
        )
        self._numpy_inference = own_head and (
            self.trunk is None or self.trunk.multiply_adds <= NUMPY_TRUNK_MAX_MULTIPLY_ADDS
        )
        self.inference_device = torch.device("cpu")
        self._device_copy: tuple[tuple[int, ...], RewardEnsemble] | tuple[()] = ()  # a tuple: not a submodule
        self.eval()

    @classmethod
    def from_config(
        cls,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        config: RewardConfig,
        generator: torch.Generator | None = None,
    ) -> "RewardEnsemble":
        """The ensemble a run's :class:`~prefrl.config.RewardConfig` describes (its size, widths and inputs)."""
        # Passed only when on, so a subclass whose constructor predates the option (no ``**inputs`` to pass it
        # on) keeps working wherever it is not used.
        next_obs = {} if config.next_obs == "none" else {"next_obs": config.next_obs}
        return cls(
            observation_space,
            action_space,
            config.ensemble_size,
            config.hidden_sizes,
            generator=generator,
            use_actions=config.use_actions,
            **next_obs,
        )

    @classmethod
    def load(cls, run_dir: str | Path, observation_space: spaces.Space, action_space: spaces.Space) -> "RewardEnsemble":
        """The reward net a ``prefrl train`` run saved, built as that run's config describes.

        A saved state dict alone does not say whether the net reads actions or how wide it is; the run's
        ``config.json`` does, so loading goes through it rather than through the constructor's defaults.
        """
        folder = Path(run_dir)
        weights = folder / RunFolder.REWARD_NET
        if not weights.is_file():
            raise FileNotFoundError(f"{weights} is missing: {folder} has no saved reward net (an unfinished or baseline run?).")
        config = from_dict(TrainConfig, read_train_config(folder))
        reward_net = cls.from_config(observation_space, action_space, config.reward)
        reward_net.load_state_dict(torch.load(weights))
        return reward_net

    def features(self, obs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """Standardized features of a flat batch: obs ``(B, *obs_shape)``, actions ``(B, *act_shape)`` -> ``(B, in)``.

        With a conv trunk these are the action's features only; the trunk reads the frames.
        """
        batch = obs.shape[0]
        columns = [] if self.trunk is not None else [_encode(obs, self.input_space, batch)]
        if self.use_actions:
            act_features = _encode(actions, self.action_space, batch)
            if isinstance(self.action_space, spaces.Box):
                act_features = torch.clamp(act_features, self.action_low, self.action_high)
            columns.append(act_features)
        joined = torch.cat(columns, dim=-1) if columns else torch.zeros((batch, 0), device=obs.device)  # (B, in)
        return (joined - self.input_mean) / self.input_std

    def member_rewards(self, features: torch.Tensor, conv_features: torch.Tensor | None = None) -> torch.Tensor:
        """Raw reward of every member for standardized features ``(B, in)`` -> ``(N, B)``.

        :param conv_features: the trunk's output ``(N, B, conv)`` for image observations, read before ``features``.
        """
        hidden = features.unsqueeze(0).expand(self.ensemble_size, -1, -1)  # (N, B, in)
        if conv_features is not None:
            hidden = torch.cat([conv_features, hidden], dim=-1)  # (N, B, conv + in)
        last = len(self._layers) - 1
        for layer, (weight, bias) in enumerate(self._layers):
            hidden = torch.baddbmm(bias, hidden, weight)  # (N, B, out)
            if layer < last:
                hidden = nn.functional.leaky_relu(hidden, 0.01)
        return hidden.squeeze(-1)  # (N, B)

    def regularized_weights(self) -> Sequence[torch.Tensor]:
        """The weights the trainer's adaptive L2 acts on: the head's weight matrices (not biases, not the conv
        trunk, which batch norm and dropout hold back as in the paper)."""
        return tuple(self.weights)

    def forward(self, obs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """Raw per-member rewards for observations and actions of any leading shape ``(*lead, ...)`` -> ``(N, *lead)``."""
        obs_shape = self.input_space.shape or ()
        lead = obs.shape[: obs.dim() - len(obs_shape)]
        flat_obs = obs.reshape(-1, *obs_shape)  # (B, *obs_shape)
        flat_actions = actions.reshape(flat_obs.shape[0], -1)  # (B, act) or (B, 1) for Discrete
        conv_features = None if self.trunk is None else self.trunk(flat_obs)  # (N, B, conv)
        rewards = self.member_rewards(self.features(flat_obs, flat_actions), conv_features)  # (N, B)
        return rewards.reshape(self.ensemble_size, *lead)

    def normalized(self, member_rewards: torch.Tensor) -> torch.Tensor:
        """The policy's reward: the members' mean, shifted and scaled to zero mean and unit std."""
        return (member_rewards.mean(0) - self.reward_shift) / self.reward_scale

    def place_inference(self, device: str | torch.device) -> None:
        """Score steps on ``device`` from now on: the per-step reward where it goes through torch, and clips.

        The model itself stays on the CPU, where fits land and checkpoints are written; a copy on ``device``
        follows its weights (:meth:`inference_model`). On a GPU machine a conv net's per-step reward then costs
        the CPU almost nothing, and query selection scores thousands of frames at once there.
        """
        self.inference_device = torch.device(device)
        self._device_copy = ()

    def weights_version(self) -> tuple[int, ...]:
        """Changes whenever a weight or buffer is updated in place: the key of the NumPy and device copies, and of
        the member returns recorded on segments (:class:`~prefrl.types.MemberReturns`)."""
        return tuple(t._version for t in self._versioned)

    def inference_model(self) -> "RewardEnsemble":
        """This model as it is now, on its inference device: itself on the CPU, else an eval-mode copy that is
        refreshed whenever a weight or buffer changed (:meth:`weights_version`)."""
        if self.inference_device.type == "cpu":
            return self
        key = self.weights_version()
        if not self._device_copy:
            self._device_copy = (key, copy.deepcopy(self).to(self.inference_device).eval())
        elif self._device_copy[0] != key:
            self._device_copy[1].load_state_dict(self.state_dict())
            self._device_copy = (key, self._device_copy[1])
        return self._device_copy[1]

    @torch.no_grad()
    def inference_rewards(self, obs: np.ndarray, actions: np.ndarray) -> torch.Tensor:
        """Raw per-member rewards ``(N, *lead)`` for arrays of any leading shape, computed through torch on the
        inference device and returned on the CPU."""
        model = self.inference_model()
        device = model.input_mean.device
        return model(torch.as_tensor(obs).to(device), torch.as_tensor(actions).to(device)).cpu()

    def member_predict(self, obs: np.ndarray, actions: np.ndarray) -> np.ndarray:
        """Raw per-member rewards for arrays of any leading shape, ``(N, *lead)``."""
        return self.inference_rewards(obs, actions).numpy()

    @torch.no_grad()
    def torch_predict(self, obs: np.ndarray, actions: np.ndarray) -> np.ndarray:
        """:meth:`predict` through the torch graph (the reference the fast NumPy path is tested against)."""
        return self._torch_predict_members(obs, actions)[0]

    def _torch_predict_members(self, obs: np.ndarray, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        members = self.inference_rewards(obs, actions)  # (N, *lead)
        return self.normalized(members).numpy(), members.numpy()

    def predict(self, obs: np.ndarray, actions: np.ndarray) -> np.ndarray:
        """Normalized ensemble-mean reward for arrays of any leading shape ``(*lead,)``: what PPO is paid (see
        :meth:`predict_members`)."""
        return self.predict_members(obs, actions)[0]

    def predict_members(self, obs: np.ndarray, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """What PPO is paid, ``(*lead,)``, and the raw per-member rewards it averages, ``(N, *lead)``.

        The members' rewards come free with the mean; the wrapper keeps them so that query selection need not
        score the same steps again.

        Runs in NumPy on a cached copy of the weights: called once per env step on a handful of rows,
        where torch's per-op dispatch cost (~100 µs a call) exceeds the arithmetic several times over. A large
        conv trunk (Atari's 84×84 frames) and a subclass's own head go through torch instead, on the
        inference device (:meth:`place_inference`).
        The cache is keyed on the tensors' version counters, so any in-place update (an optimizer step,
        ``load_state_dict``) invalidates it. With a trunk, its eval-mode NumPy copy (batch norm folded in, no
        dropout: ``ConvEnsembleTrunk.numpy_copy``) reads the frames, once for all envs of a step.
        """
        if not self._numpy_inference:
            return self._torch_predict_members(obs, actions)
        layers, mean, std, shift, scale, trunk = self._numpy_weights()
        obs_shape = self.input_space.shape or ()
        obs = np.asarray(obs)
        lead = obs.shape[: obs.ndim - len(obs_shape)]
        batch = int(np.prod(lead))
        # Only the inputs the net reads are encoded: this runs once per env step.
        columns = [] if trunk is not None else [_encode_numpy(obs, self.input_space, batch)]
        if self.use_actions:
            act_features = _encode_numpy(np.asarray(actions), self.action_space, batch)  # (B, act)
            if isinstance(self.action_space, spaces.Box):
                act_features = np.clip(act_features, self._action_low_np, self._action_high_np)
            columns.append(act_features)
        joined = np.concatenate(columns, axis=1) if columns else np.zeros((batch, 0), np.float32)  # (B, in)
        hidden = ((joined - mean) / std)[None]  # (1, B, in)
        if trunk is not None:
            conv_features = trunk(obs.reshape(batch, *obs_shape))  # (N, B, conv)
            hidden = np.concatenate([conv_features, np.broadcast_to(hidden, (self.ensemble_size, *hidden.shape[1:]))], axis=-1)
        last = len(layers) - 1
        for layer, (weight, bias) in enumerate(layers):
            hidden = hidden @ weight + bias  # (N, B, out)
            if layer < last:
                hidden = np.maximum(hidden, 0.01 * hidden)  # leaky ReLU, slope 0.01 as in member_rewards
        members = hidden[..., 0]  # (N, B)
        rewards = (members.mean(0) - shift) / scale  # (B,)
        # float32 already where the inputs were: no copy per step then.
        return (
            rewards.reshape(lead).astype(np.float32, copy=False),
            members.reshape(self.ensemble_size, *lead).astype(np.float32, copy=False),
        )

    def _numpy_weights(
        self,
    ) -> tuple[list[tuple[np.ndarray, np.ndarray]], np.ndarray, np.ndarray, float, float, NumpyTrunk | NumpyEventTrunk | None]:
        key = self.weights_version()
        if getattr(self, "_numpy_key", None) != key:
            layers = [(w.detach().numpy().copy(), b.detach().numpy().copy()) for w, b in self._layers]
            self._numpy_cache = (
                layers,
                self.input_mean.numpy().copy(),
                self.input_std.numpy().copy(),
                float(self.reward_shift),
                float(self.reward_scale),
                None if self.trunk is None else self.trunk.numpy_copy(),
            )
            self._numpy_key = key
        return self._numpy_cache


def _encode_numpy(values: np.ndarray, space: spaces.Space, batch: int) -> np.ndarray:
    """NumPy twin of ``_encode``: Box flattened, Discrete one-hot (Box actions are clipped by the caller)."""
    if isinstance(space, spaces.Discrete):
        index = values.reshape(batch).astype(np.int64) - int(space.start)
        return np.eye(int(space.n), dtype=np.float32)[index]
    return values.reshape(batch, -1).astype(np.float32)
