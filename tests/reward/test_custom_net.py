"""A reward model of the user's own: a RewardEnsemble subclass with another head, fit inline and in the background."""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest
import torch
from gymnasium import spaces
from torch import nn

from prefrl.config import RewardConfig
from prefrl.reward.background import ProcessFitter, load_weights
from prefrl.reward.nets import RewardEnsemble
from prefrl.reward.trainer import RewardTrainer
from prefrl.store import ComparisonStore
from prefrl.trainer import check_reward_net_class
from tests.reward.test_trainer import comparisons_of_linear_reward

OBS_SPACE = spaces.Box(-np.inf, np.inf, (3,))
ACTION_SPACE = spaces.Discrete(2)


class TanhHeadReward(RewardEnsemble):
    """Each member: one layer of 16 tanh units over the standardized features, then a linear read-out."""

    def __init__(self, observation_space, action_space, ensemble_size=3, hidden_sizes=(64, 64), generator=None,
                 use_actions=True):
        super().__init__(observation_space, action_space, ensemble_size, hidden_sizes, generator, use_actions)
        scale = 1.0 / math.sqrt(self.in_features)
        self.tanh_in = nn.Parameter(torch.randn(ensemble_size, self.in_features, 16, generator=generator) * scale)
        self.tanh_out = nn.Parameter(torch.randn(ensemble_size, 16, 1, generator=generator) * 0.25)

    def member_rewards(self, features, conv_features=None):
        hidden = torch.tanh(features.unsqueeze(0) @ self.tanh_in)  # (N, B, 16)
        return (hidden @ self.tanh_out).squeeze(-1)  # (N, B)

    def regularized_weights(self):
        return (self.tanh_in, self.tanh_out)


def test_subclass_head_is_fit_and_predicts_through_torch():
    model = TanhHeadReward(OBS_SPACE, ACTION_SPACE)
    metrics = RewardTrainer(model, RewardConfig(), rng=0).fit(comparisons_of_linear_reward(200))
    assert metrics is not None and metrics.val_accuracy >= 0.9
    obs = np.random.default_rng(1).normal(size=(5, 7, 3)).astype(np.float32)
    actions = np.random.default_rng(2).integers(0, 2, size=(5, 7))
    paid = model.predict(obs, actions)  # (5, 7)
    np.testing.assert_allclose(paid, model.torch_predict(obs, actions), rtol=1e-6)
    # It is the subclass's head that pays: the base class's head on the same features gives other rewards.
    with torch.no_grad():
        base_head = RewardEnsemble.member_rewards(model, model.features(torch.as_tensor(obs.reshape(35, 3)), torch.as_tensor(actions.reshape(35, 1))))
    assert not np.allclose(model.normalized(base_head).numpy().reshape(5, 7), paid, atol=1e-3)


def test_trainer_regularizes_the_subclass_weights():
    model = TanhHeadReward(OBS_SPACE, ACTION_SPACE, ensemble_size=2)
    with torch.no_grad():
        model.tanh_in.fill_(0.5)  # 2 members x (3 obs + 2 one-hot action features) x 16 = 160 entries of 0.25
        model.tanh_out.fill_(-1.0)  # 2 x 16 x 1 = 32 entries of 1
    penalty = RewardTrainer(model, RewardConfig(), rng=0)._l2_penalty()
    assert float(penalty.detach()) == pytest.approx((160 * 0.25 + 32 * 1.0) / 2)


def test_background_fitter_builds_the_subclass(tmp_path):
    store = ComparisonStore(tmp_path / "store.sqlite")
    pairs = comparisons_of_linear_reward(40)
    ids = store.add_queries([(p.left, p.right) for p in pairs], oracle="synthetic", timestep=0)
    store.answer_many(ids, [p.label for p in pairs], annotator="synthetic")
    model = TanhHeadReward(OBS_SPACE, ACTION_SPACE, generator=torch.Generator().manual_seed(0))
    fitter = ProcessFitter(model, RewardConfig(), store.path, seed=0).hand_over(model, l2=1e-4, trained=False)
    try:
        fitter.request()
        result = fitter.wait()
    finally:
        fitter.close()
        store.close()
    assert result is not None and {"tanh_in", "tanh_out"} <= set(result.state)
    before = model.tanh_in.detach().clone()
    load_weights(model, result.state)  # strict: the worker's copy has exactly the subclass's tensors
    assert not torch.equal(model.tanh_in, before)


def test_reward_net_class_must_be_an_importable_ensemble(monkeypatch):
    with pytest.raises(TypeError, match="not a subclass of prefrl.RewardEnsemble"):
        check_reward_net_class(nn.Linear, sync=True)
    typed_in = type("TypedIn", (TanhHeadReward,), {"__module__": "__main__"})
    monkeypatch.delattr(sys.modules["__main__"], "__file__", raising=False)  # as in a notebook
    with pytest.raises(ValueError, match="defined interactively.*sync=True"):
        check_reward_net_class(typed_in, sync=False)
    check_reward_net_class(typed_in, sync=True)  # fit inline, nothing to import
    check_reward_net_class(TanhHeadReward, sync=False)


def test_preference_run_trains_and_saves_the_subclass(tmp_path):
    from prefrl.trainer import PreferenceRL, train_config

    config = train_config("CartPole-v1", timesteps=512, labels=6, sync=True, out=str(tmp_path / "run"),
                          final_eval_episodes=1, eval_episodes=1)
    summary = PreferenceRL(config, progress=False, reward_net_class=TanhHeadReward).learn()
    assert summary["reward_fits"] >= 1
    saved = torch.load(tmp_path / "run" / "reward_net.pt")
    assert {"tanh_in", "tanh_out"} <= set(saved)
