"""The RLHF loop: sample with π, score with the reward model, penalize KL to π_ref per token, update with PPO.

Written in-project (the usual library no longer ships a PPO trainer), following the details that decide
whether it works (DESIGN.md, RLHF pitfalls; Huang et al. 2024, "The N+ implementation details of RLHF"):
the same temperature for sampling and scoring, left-padded prompts, the score on the last token, whitened
advantages, a value head that starts at exactly zero, dropout off so the first ratio is exactly 1, a fixed
score for a response that never emits ``<eos>``, and KL, clip fraction and length logged every iteration.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from prefrl.lm.config import RLHFConfig
from prefrl.lm.generation import Generation, generate
from prefrl.lm.logprobs import response_states, token_logprobs
from prefrl.lm.loop import MetricsLog
from prefrl.lm.models import LanguageModel
from prefrl.lm.reward_model import RewardModel
from prefrl.lm.rlhf import (
    AdaptiveKLController,
    FixedKLController,
    generalized_advantages,
    kl_penalized_rewards,
    ppo_loss,
    whiten,
)
from prefrl.lm.task import SentimentTask


class ValueHead(nn.Module):
    """V(x, y<ₜ) from the policy's hidden state; zero-initialized so early values do not distort advantages."""

    def __init__(self, hidden_size: int) -> None:
        super().__init__()
        self.linear = nn.Linear(hidden_size, 1)
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)

    def forward(self, states: torch.Tensor) -> torch.Tensor:
        """``(B, R, H)`` -> ``(B, R)``."""
        return self.linear(states).squeeze(-1)


@dataclass(frozen=True)
class Experience:
    """One rollout and what PPO keeps fixed while it updates on it; per-token tensors are ``(B, R)``.

    :param logprobs: log π_old of the sampled tokens (at the sampling temperature).
    :param values: V_old of the states before each token.
    :param advantages: GAE advantages, whitened over the batch's response tokens.
    :param returns: advantages + values, the value head's regression target.
    :param scores: ``(B,)`` reward-model score, or the fixed penalty of a response that never ended.
    :param log_ratio: log π_old/π_ref per token; its sum over a response estimates KL(π‖π_ref) there.
    """

    rollout: Generation
    mask: torch.Tensor
    logprobs: torch.Tensor
    values: torch.Tensor
    advantages: torch.Tensor
    returns: torch.Tensor
    scores: torch.Tensor
    log_ratio: torch.Tensor

    @property
    def kl(self) -> float:
        """Mean KL(π‖π_ref) estimate per response."""
        return self.log_ratio.sum(-1).mean().item()


class RLHFTrainer:
    """PPO on ``policy`` against ``reward_model`` with a KL penalty to ``reference``.

    :param policy: π, trained in place (start it as a copy of π_SFT); shares its backbone with the value head.
    :param reference: π_ref, frozen.
    :param reward_model: r_θ, frozen.
    :param max_new_tokens: response budget; a response that fills it without ``<eos>`` gets ``no_eos_penalty``.
    :param task: when given, the true reward of each rollout is logged as ``env/true_reward`` (never trained on).
    """

    def __init__(
        self,
        policy: LanguageModel,
        reference: LanguageModel,
        reward_model: RewardModel,
        config: RLHFConfig = RLHFConfig(),
        *,
        max_new_tokens: int,
        task: SentimentTask | None = None,
    ) -> None:
        self.policy, self.reference, self.reward_model = policy, reference, reward_model
        self.config, self.max_new_tokens, self.task = config, max_new_tokens, task
        self.value_head = ValueHead(policy.model.config.hidden_size)
        self.kl_controller = (
            FixedKLController(config.beta)
            if config.target_kl is None
            else AdaptiveKLController(config.beta, config.target_kl, config.kl_horizon)
        )
        self.parameters = list(policy.model.parameters()) + list(self.value_head.parameters())
        self.optimizer = torch.optim.AdamW(self.parameters, lr=config.learning_rate)
        self.generator = torch.Generator().manual_seed(config.seed)
        self.rng = np.random.default_rng(config.seed)

    def train(
        self, prompts: Sequence[str], *, progress: bool = False, log: MetricsLog | None = None
    ) -> dict[str, float]:
        """``iterations`` rounds of rollouts from random ``prompts`` and PPO updates; returns the last metrics."""
        metrics: dict[str, float] = {}
        bar = tqdm(range(1, self.config.iterations + 1), desc="rlhf", disable=not progress)
        for iteration in bar:
            chosen = self.rng.choice(len(prompts), size=self.config.rollout_prompts, replace=True)
            metrics = self.iteration([prompts[i] for i in chosen])
            bar.set_postfix(score=f"{metrics['objective/scores']:.2f}", kl=f"{metrics['objective/kl']:.2f}")
            if log is not None:
                log({"iteration": iteration, **metrics})
        return metrics

    def iteration(self, prompts: Sequence[str]) -> dict[str, float]:
        """One rollout of ``prompts`` and ``ppo_epochs`` passes of minibatch updates on it; returns its metrics."""
        experience = self.collect(prompts)
        minibatches = -(-len(prompts) // self.config.minibatch_size)
        ppo_metrics = [
            self.update(experience, torch.as_tensor(rows))
            for _ in range(self.config.ppo_epochs)
            for rows in np.array_split(self.rng.permutation(len(prompts)), minibatches)
        ]
        beta = self.kl_controller.value
        self.kl_controller.update(experience.kl, len(prompts))
        metrics = {key: float(np.mean([m[key] for m in ppo_metrics])) for key in ppo_metrics[0]}
        metrics.update(
            {
                "objective/kl": experience.kl,
                "objective/kl_coef": beta,
                "objective/scores": experience.scores.mean().item(),
                "objective/rlhf_reward": (experience.scores - beta * experience.log_ratio.sum(-1)).mean().item(),
                "response/length": experience.mask.sum(-1).mean().item(),
                "response/ended": experience.rollout.ended.float().mean().item(),
            }
        )
        if self.task is not None:
            metrics["env/true_reward"] = float(self.task.rewards(prompts, experience.rollout.texts).mean())
        return metrics

    @torch.no_grad()
    def collect(self, prompts: Sequence[str]) -> Experience:
        """Sample responses and compute everything PPO holds fixed during the updates."""
        cfg = self.config
        rollout = generate(
            self.policy, prompts, self.max_new_tokens, temperature=cfg.temperature, generator=self.generator
        )
        batch, mask = rollout.batch, rollout.batch.response_mask.float()  # mask (B, R)
        states = response_states(self.policy.model, batch)  # (B, R, H)
        logprobs = token_logprobs(self.policy.model, batch, cfg.temperature, states)  # (B, R)
        values = self.value_head(states) * mask  # (B, R)
        reference_logprobs = token_logprobs(self.reference.model, batch, cfg.temperature)  # (B, R)
        scores = self.score_rollout(rollout)  # (B,)
        rewards, log_ratio = kl_penalized_rewards(logprobs, reference_logprobs, scores, mask, self.kl_controller.value)
        advantages, returns = generalized_advantages(rewards, values, mask, cfg.gamma, cfg.gae_lambda)
        return Experience(rollout, mask, logprobs, values, whiten(advantages, mask), returns, scores, log_ratio)

    def update(self, experience: Experience, rows: torch.Tensor) -> dict[str, float]:
        """One PPO gradient step on the responses ``rows`` of ``experience``; returns its metrics."""
        cfg = self.config
        sub = experience.rollout.batch.select(rows)
        width = sub.response_ids.shape[1]  # select trims response columns no row of the minibatch uses

        def take(tensor: torch.Tensor) -> torch.Tensor:
            return tensor[rows, :width]

        states = response_states(self.policy.model, sub)  # (b, width, H)
        loss, metrics = ppo_loss(
            token_logprobs(self.policy.model, sub, cfg.temperature, states),
            take(experience.logprobs),
            take(experience.advantages),
            self.value_head(states),
            take(experience.values),
            take(experience.returns),
            take(experience.mask),
            clip_range=cfg.clip_range,
            value_clip_range=cfg.value_clip_range,
            value_coef=cfg.value_coef,
        )
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(self.parameters, cfg.max_grad_norm)
        self.optimizer.step()
        return metrics

    def score_rollout(self, rollout: Generation) -> torch.Tensor:
        """r_θ of each response, or the fixed penalty where the response never ended."""
        scores = self.reward_model.score(rollout.batch)  # (B,)
        return torch.where(rollout.ended, scores, torch.full_like(scores, self.config.no_eos_penalty))
