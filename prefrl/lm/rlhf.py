"""RLHF math as pure tensor functions: per-token KL-penalized rewards, GAE, whitening, the PPO loss, KL control.

The objective (Ouyang et al. 2022, eq. 2, without the pretraining term) is

    max_π E_{x, y∼π} [ r_θ(x, y) − β log π(y|x)/π_ref(y|x) ],

optimized as a token-level MDP (Ziegler et al. 2019; Stiennon et al. 2020): the state is the prompt and the
response so far, the action is the next token, the reward at token t is −β (log π(yₜ|·) − log π_ref(yₜ|·)),
and the reward model's score is added at the last response token. All tensors are ``(B, R)`` over the
response block of a :class:`~prefrl.lm.batching.SequenceBatch`, with ``mask`` 1 on response tokens.
"""

from __future__ import annotations

import torch


def kl_penalized_rewards(
    logprobs: torch.Tensor, reference_logprobs: torch.Tensor, scores: torch.Tensor, mask: torch.Tensor, beta: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token rewards ``(B, R)``: −β·(log π − log π_ref) on each token, plus ``scores`` ``(B,)`` on the last.

    :return: the rewards and the per-token log-ratio log π/π_ref ``(B, R)`` (0 on padding), whose sum over a
        response is the sample estimate of KL(π‖π_ref) for it.
    """
    log_ratio = (logprobs - reference_logprobs) * mask  # (B, R)
    rewards = -beta * log_ratio
    last = mask.sum(-1).long() - 1  # (B,) index of each response's last token
    rewards[torch.arange(len(last)), last] += scores
    return rewards, log_ratio


def generalized_advantages(
    rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, gamma: float, lam: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """GAE (Schulman et al. 2016, eq. 16) along response tokens; the state after the last token is terminal.

    :return: advantages Â_t and returns Â_t + V(s_t), both ``(B, R)`` and 0 on padding.
    """
    advantages = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[:, 0])  # (B,)
    next_value = torch.zeros_like(rewards[:, 0])
    # A loop over token positions (at most max_new_tokens), batched over responses: GAE is a backward recursion.
    for t in reversed(range(rewards.shape[1])):
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        running = (delta + gamma * lam * running) * mask[:, t]
        advantages[:, t] = running
        next_value = values[:, t] * mask[:, t]
    return advantages, (advantages + values) * mask


def whiten(values: torch.Tensor, mask: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Zero mean and unit variance over the masked entries; 0 on padding."""
    count = mask.sum()
    mean = (values * mask).sum() / count
    variance = (((values - mean) * mask) ** 2).sum() / count
    return (values - mean) * torch.rsqrt(variance + eps) * mask


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``values`` over entries where ``mask`` is 1."""
    return (values * mask).sum() / mask.sum()


def ppo_loss(
    logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    advantages: torch.Tensor,
    values: torch.Tensor,
    old_values: torch.Tensor,
    returns: torch.Tensor,
    mask: torch.Tensor,
    *,
    clip_range: float,
    value_clip_range: float,
    value_coef: float,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Clipped surrogate plus clipped value loss (Schulman et al. 2017, eq. 7 and 9), token-averaged.

    :return: the loss and ``ppo/policy_loss``, ``ppo/value_loss``, ``ppo/clipfrac`` (share of tokens whose ratio
        left [1−ε, 1+ε]) and ``ppo/approx_kl`` (½·E[(log ratio)²], Schulman's low-variance estimator).
    """
    log_ratio = logprobs - old_logprobs  # (B, R)
    ratio = torch.exp(log_ratio)
    surrogate = torch.minimum(ratio * advantages, ratio.clamp(1 - clip_range, 1 + clip_range) * advantages)
    policy_loss = -masked_mean(surrogate, mask)
    clipped_values = old_values + (values - old_values).clamp(-value_clip_range, value_clip_range)
    value_error = torch.maximum((values - returns) ** 2, (clipped_values - returns) ** 2)
    value_loss = 0.5 * masked_mean(value_error, mask)
    loss = policy_loss + value_coef * value_loss
    with torch.no_grad():
        metrics = {
            "ppo/policy_loss": policy_loss.item(),
            "ppo/value_loss": value_loss.item(),
            "ppo/clipfrac": masked_mean(((ratio - 1).abs() > clip_range).float(), mask).item(),
            "ppo/approx_kl": masked_mean(0.5 * log_ratio**2, mask).item(),
        }
    return loss, metrics


class FixedKLController:
    """A constant β."""

    def __init__(self, beta: float) -> None:
        self.value = beta

    def update(self, kl: float, responses: int) -> None:
        """Nothing to adapt."""


class AdaptiveKLController:
    """β adapted toward a target KL per response (Ziegler et al. 2019, eq. 2):

        e = clip((KL − target)/target, −0.2, 0.2),   β ← β·(1 + e·n/horizon)

    after each batch of n responses, so β grows while the policy drifts too far and shrinks when it stays close.
    """

    def __init__(self, beta: float, target: float, horizon: int) -> None:
        self.value, self.target, self.horizon = beta, target, horizon

    def update(self, kl: float, responses: int) -> None:
        """Move β after a batch of ``responses`` whose mean KL was ``kl``."""
        error = min(max((kl - self.target) / self.target, -0.2), 0.2)
        self.value *= 1.0 + error * responses / self.horizon
