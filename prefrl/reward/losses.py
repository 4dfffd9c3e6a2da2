"""The Bradley–Terry preference loss: the one loss shared by control (segments) and language models (responses).

Christiano et al. 2017, eq. (1):

    P̂[σ¹ ≻ σ²] = exp Σ r̂(σ¹) / (exp Σ r̂(σ¹) + exp Σ r̂(σ²)) = sigmoid(R¹ − R²)
    loss       = − μ(1) log P̂[σ¹ ≻ σ²] − μ(2) log P̂[σ² ≻ σ¹]

with the paper's assumption that the rater answers uniformly at random a fraction p of the time
(§2.2.3: P̂' = (1 − p) P̂ + p/2, p = 0.1). The InstructGPT reward-model loss is the special case μ(1) = 1, p = 0.
"""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F


def preference_log_probs(
    return_left: torch.Tensor, return_right: torch.Tensor, random_answer_prob: float = 0.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(log P̂'[left ≻ right], log P̂'[right ≻ left])`` for predicted returns of any (equal) shape.

    Computed from ``logsigmoid`` of the return difference and mixed in log space with ``logaddexp``, never by
    clipping the difference: a clip would zero the gradient of exactly the pairs the net gets most wrong.
    """
    margin = return_left - return_right
    log_left, log_right = F.logsigmoid(margin), F.logsigmoid(-margin)
    if random_answer_prob > 0.0:
        keep = math.log1p(-random_answer_prob)
        guess = math.log(random_answer_prob / 2.0)
        guess_tensor = torch.full_like(margin, guess)
        log_left = torch.logaddexp(log_left + keep, guess_tensor)
        log_right = torch.logaddexp(log_right + keep, guess_tensor)
    return log_left, log_right


def bradley_terry_loss(
    return_left: torch.Tensor,
    return_right: torch.Tensor,
    prefer_left_prob: torch.Tensor,
    *,
    random_answer_prob: float = 0.0,
    weights: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Mean Bradley–Terry cross-entropy over pairs, and its metrics.

    :param return_left: predicted return R¹ of the left item of each pair, shape ``(..., P)`` — for an ensemble
        ``(N, P)``, one row per member.
    :param return_right: predicted return R², same shape.
    :param prefer_left_prob: μ(1): 1 = left preferred, 0 = right, 0.5 = equal; broadcasts to ``(..., P)``.
    :param random_answer_prob: p of the rater's random answers built into P̂ (0 for language-model reward models).
    :param weights: optional per-pair weights (bootstrap counts), broadcastable to ``(..., P)``; the loss is their
        weighted mean along the last axis, then averaged over the leading axes (members).
    :return: ``(loss, metrics)`` with ``loss`` a scalar tensor and metrics ``loss``, ``accuracy`` (share of pairs
        with a strict preference whose side the model ranks higher) and ``mean_margin``.
    """
    log_left, log_right = preference_log_probs(return_left, return_right, random_answer_prob)
    mu = torch.as_tensor(prefer_left_prob, dtype=log_left.dtype, device=log_left.device).expand_as(log_left)
    cross_entropy = -(mu * log_left + (1.0 - mu) * log_right)  # (..., P)
    if weights is None:
        per_row = cross_entropy.mean(-1)
    else:
        weights = torch.as_tensor(weights, dtype=cross_entropy.dtype).expand_as(cross_entropy)
        per_row = (weights * cross_entropy).sum(-1) / weights.sum(-1).clamp_min(1e-12)
    loss = per_row.mean()
    with torch.no_grad():
        margin = return_left - return_right
        strict = mu != 0.5
        correct = ((margin > 0) == (mu > 0.5)) & strict
        accuracy = correct.sum() / strict.sum().clamp_min(1)
        metrics = {
            "loss": float(loss),
            "accuracy": float(accuracy),
            "mean_margin": float(margin.abs().mean()),
        }
    return loss, metrics
