"""RLHF math by hand (KL-penalized rewards, GAE, whitening, PPO, KL control) and the trainer's first step."""

from __future__ import annotations

import pytest
import torch

from prefrl.lm.batching import encode
from prefrl.lm.config import RLHFConfig
from prefrl.lm.generation import Generation
from prefrl.lm.reward_model import RewardModel
from prefrl.lm.rlhf import (
    AdaptiveKLController,
    generalized_advantages,
    kl_penalized_rewards,
    ppo_loss,
    whiten,
)
from prefrl.lm.rlhf_trainer import RLHFTrainer

MASK = torch.tensor([[1.0, 1.0, 1.0], [1.0, 0.0, 0.0]])


def test_kl_penalty_is_zero_when_policy_equals_reference_and_the_score_lands_on_the_last_token() -> None:
    logprobs = torch.tensor([[-1.0, -2.0, -0.5], [-0.3, 0.0, 0.0]])
    rewards, log_ratio = kl_penalized_rewards(logprobs, logprobs.clone(), torch.tensor([2.0, -1.0]), MASK, 0.1)
    assert torch.equal(log_ratio, torch.zeros_like(log_ratio))
    assert rewards.tolist() == [[0.0, 0.0, 2.0], [-1.0, 0.0, 0.0]]


def test_kl_penalty_by_hand() -> None:
    logprobs = torch.tensor([[-1.0, -2.0, -0.5], [-0.3, 0.0, 0.0]])
    reference = torch.tensor([[-1.5, -1.0, -0.5], [-0.1, -9.0, -9.0]])
    rewards, _ = kl_penalized_rewards(logprobs, reference, torch.tensor([2.0, -1.0]), MASK, 0.5)
    # -β (log π - log π_ref) per token, padding 0, score added on the last real token
    torch.testing.assert_close(rewards, torch.tensor([[-0.25, 0.5, 2.0], [-1.0 + 0.1, 0.0, 0.0]]))


def test_gae_by_hand_and_padding_is_terminal() -> None:
    rewards = torch.tensor([[0.0, 1.0], [2.0, 0.0]])
    values = torch.tensor([[0.5, 0.2], [0.1, 0.7]])  # 0.7 sits on padding and must be ignored
    mask = torch.tensor([[1.0, 1.0], [1.0, 0.0]])
    advantages, returns = generalized_advantages(rewards, values, mask, gamma=1.0, lam=0.5)
    # row 0: δ1 = 1 - 0.2 = 0.8; δ0 = 0 + 0.2 - 0.5 = -0.3, A0 = -0.3 + 0.5 * 0.8 = 0.1
    # row 1: one token, terminal next state: A0 = 2 - 0.1
    torch.testing.assert_close(advantages, torch.tensor([[0.1, 0.8], [1.9, 0.0]]))
    torch.testing.assert_close(returns, torch.tensor([[0.6, 1.0], [2.0, 0.0]]))


def test_whiten_over_response_tokens_only() -> None:
    values = torch.tensor([[1.0, 2.0, 3.0], [4.0, 100.0, 100.0]])
    white = whiten(values, MASK)
    real = white[MASK.bool()]
    assert real.mean().abs() < 1e-6 and (real.pow(2).mean() - 1).abs() < 1e-5
    assert white[1, 1:].tolist() == [0.0, 0.0]


def test_ppo_clips_ratios_outside_the_trust_region() -> None:
    old = torch.zeros(1, 3)
    new = torch.log(torch.tensor([[1.0, 1.5, 0.5]]))  # ratios 1, 1.5, 0.5
    advantages = torch.tensor([[1.0, 1.0, -1.0]])
    values = torch.zeros(1, 3)
    _, metrics = ppo_loss(new, old, advantages, values, values, values, torch.ones(1, 3),
                          clip_range=0.2, value_clip_range=0.2, value_coef=0.5)
    # surrogate min(r A, clip(r) A): 1, min(1.5, 1.2) = 1.2, min(-0.5, -0.8) = -0.8 -> loss -(1 + 1.2 - 0.8)/3
    assert metrics["ppo/policy_loss"] == pytest.approx(-1.4 / 3)
    assert metrics["ppo/clipfrac"] == pytest.approx(2 / 3)


def test_adaptive_kl_controller_moves_beta_toward_the_target() -> None:
    controller = AdaptiveKLController(beta=0.1, target=1.0, horizon=100)
    controller.update(kl=3.0, responses=10)  # error clipped to +0.2
    assert controller.value == pytest.approx(0.1 * (1 + 0.2 * 10 / 100))
    controller = AdaptiveKLController(beta=0.1, target=1.0, horizon=100)
    controller.update(kl=0.9, responses=10)
    assert controller.value == pytest.approx(0.1 * (1 - 0.1 * 10 / 100))


def test_first_update_starts_at_ratio_one_and_zero_kl(tiny_lm) -> None:
    """Dropout off and π = π_ref: the first minibatch's ratios are exactly 1 and the KL penalty exactly 0."""
    config = RLHFConfig(iterations=1, rollout_prompts=8, minibatch_size=8, ppo_epochs=1)
    trainer = RLHFTrainer(tiny_lm.copy(), tiny_lm, RewardModel(tiny_lm), config, max_new_tokens=5)
    metrics = trainer.iteration(["praise the movie", "complain about the old food"] * 4)
    assert metrics["objective/kl"] == 0.0
    assert metrics["ppo/clipfrac"] == 0.0 and metrics["ppo/approx_kl"] < 1e-12
    for key in ("objective/kl_coef", "objective/scores", "response/length", "response/ended", "ppo/value_loss"):
        assert key in metrics


def test_a_response_that_never_ends_gets_the_fixed_penalty(tiny_lm) -> None:
    config = RLHFConfig(rollout_prompts=4, minibatch_size=4, no_eos_penalty=-3.0)
    reward_model = RewardModel(tiny_lm)
    trainer = RLHFTrainer(tiny_lm.copy(), tiny_lm, reward_model, config, max_new_tokens=2)
    batch = encode(tiny_lm.tokenizer, ["praise the movie", "praise the day"], ["good", "nice"], 24)
    scores = trainer.score_rollout(Generation(batch, torch.tensor([True, False]), ["good", "nice"]))
    assert scores[0].item() == pytest.approx(reward_model.score(batch)[0].item())
    assert scores[1].item() == -3.0
