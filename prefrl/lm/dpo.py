"""Direct preference optimization losses: pure functions of four sequence log-prob tensors, in a registry.

All take summed response log-probs (:func:`prefrl.lm.logprobs.sequence_logprobs`), each of shape ``(B,)``:
``policy_chosen`` = log π_θ(y_w | x), ``policy_rejected`` = log π_θ(y_l | x), and the same under the frozen
reference. With the log-ratio margin

    h = [log π_θ(y_w|x) − log π_ref(y_w|x)] − [log π_θ(y_l|x) − log π_ref(y_l|x)],

- ``dpo``  (Rafailov et al. 2023, eq. 7):  L = −log σ(β h);
- ``cdpo`` (conservative DPO, Mitchell 2023): labels flipped with probability ε,
  L = −(1 − ε) log σ(β h) − ε log σ(−β h);
- ``ipo``  (Azar et al. 2023, eq. 17, τ = β):  L = (h − 1/(2τ))², a squared loss that keeps the margin at a
  finite target instead of pushing it to infinity on deterministic preferences. Normalization: IPO here uses
  the same **summed** log-probs as DPO (the paper's definition of π(y|x)), not the per-token average some
  implementations substitute; the target margin 1/(2β) is therefore in nats per response.

Every loss also returns TRL's metric names: ``rewards/chosen`` and ``rewards/rejected`` (the implicit reward
β·log π_θ/π_ref, Rafailov et al. §5), ``rewards/margins``, ``rewards/accuracies``, ``logps/chosen``,
``logps/rejected``, and ``loss``.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch.nn import functional as F

DPOLoss = Callable[
    [torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, float, float], tuple[torch.Tensor, dict[str, float]]
]
"""``(policy_chosen, policy_rejected, reference_chosen, reference_rejected, beta, label_smoothing)`` -> ``(loss,
metrics)``."""


def dpo_loss(
    policy_chosen: torch.Tensor,
    policy_rejected: torch.Tensor,
    reference_chosen: torch.Tensor,
    reference_rejected: torch.Tensor,
    beta: float,
    label_smoothing: float = 0.0,
) -> tuple[torch.Tensor, dict[str, float]]:
    """DPO, and conservative DPO when ``label_smoothing`` ε > 0 (the ``cdpo`` entry of :data:`DPO_LOSSES`)."""
    margin = beta * _log_ratio_margin(policy_chosen, policy_rejected, reference_chosen, reference_rejected)  # (B,)
    losses = -(1.0 - label_smoothing) * F.logsigmoid(margin) - label_smoothing * F.logsigmoid(-margin)  # (B,)
    loss = losses.mean()
    return loss, _metrics(loss, policy_chosen, policy_rejected, reference_chosen, reference_rejected, beta)


def ipo_loss(
    policy_chosen: torch.Tensor,
    policy_rejected: torch.Tensor,
    reference_chosen: torch.Tensor,
    reference_rejected: torch.Tensor,
    beta: float,
    label_smoothing: float = 0.0,
) -> tuple[torch.Tensor, dict[str, float]]:
    """IPO with τ = ``beta`` on summed log-probs; ``label_smoothing`` must be 0 (IPO has no label-noise term)."""
    if label_smoothing != 0.0:
        raise ValueError(
            f"label_smoothing={label_smoothing} does not apply to IPO; set it to 0, or use loss='cdpo'."
        )
    margin = _log_ratio_margin(policy_chosen, policy_rejected, reference_chosen, reference_rejected)  # (B,)
    loss = ((margin - 1.0 / (2.0 * beta)) ** 2).mean()
    return loss, _metrics(loss, policy_chosen, policy_rejected, reference_chosen, reference_rejected, beta)


DPO_LOSSES: dict[str, DPOLoss] = {"dpo": dpo_loss, "cdpo": dpo_loss, "ipo": ipo_loss}
"""Loss name -> function; ``DPOConfig.loss``, the CLI's help and the tests read this."""

SMOOTHED_LOSSES = frozenset({"cdpo"})
"""Losses that need ``label_smoothing`` > 0; the others need it to be 0."""


def implicit_rewards(policy: torch.Tensor, reference: torch.Tensor, beta: float) -> torch.Tensor:
    """r̂(x, y) = β log π_θ(y|x)/π_ref(y|x) (Rafailov et al. 2023, §5), same shape as the inputs."""
    return beta * (policy - reference)


def _log_ratio_margin(
    policy_chosen: torch.Tensor,
    policy_rejected: torch.Tensor,
    reference_chosen: torch.Tensor,
    reference_rejected: torch.Tensor,
) -> torch.Tensor:
    shapes = {tuple(t.shape) for t in (policy_chosen, policy_rejected, reference_chosen, reference_rejected)}
    if len(shapes) != 1:
        raise ValueError(
            f"log-prob tensors have shapes {sorted(shapes)}; pass four (B,) tensors, one entry per pair."
        )
    return (policy_chosen - reference_chosen) - (policy_rejected - reference_rejected)


def _metrics(
    loss: torch.Tensor,
    policy_chosen: torch.Tensor,
    policy_rejected: torch.Tensor,
    reference_chosen: torch.Tensor,
    reference_rejected: torch.Tensor,
    beta: float,
) -> dict[str, float]:
    with torch.no_grad():
        chosen = implicit_rewards(policy_chosen, reference_chosen, beta)  # (B,)
        rejected = implicit_rewards(policy_rejected, reference_rejected, beta)  # (B,)
        return {
            "loss": loss.item(),
            "rewards/chosen": chosen.mean().item(),
            "rewards/rejected": rejected.mean().item(),
            "rewards/margins": (chosen - rejected).mean().item(),
            "rewards/accuracies": (chosen > rejected).float().mean().item(),
            "logps/chosen": policy_chosen.mean().item(),
            "logps/rejected": policy_rejected.mean().item(),
        }
