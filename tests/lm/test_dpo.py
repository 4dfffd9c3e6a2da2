"""DPO, cDPO and IPO checked against hand-computed values on fixed log-probs; the registry and its config."""

from __future__ import annotations

import math

import pytest
import torch

from prefrl.lm.config import DPOConfig
from prefrl.lm.dpo import DPO_LOSSES, SMOOTHED_LOSSES, dpo_loss, ipo_loss

# Two pairs. Log-ratio margins h = (pc - rc) - (pr - rr) = [1 - (-1), 0 - 1] = [2, -1].
POLICY_CHOSEN = torch.tensor([-1.0, -2.0])
POLICY_REJECTED = torch.tensor([-3.0, -1.0])
REFERENCE = torch.tensor([-2.0, -2.0])
BETA = 0.5


def softplus(x: float) -> float:
    return math.log1p(math.exp(x))  # -log sigmoid(-x)


def losses(name: str, label_smoothing: float = 0.0) -> tuple[torch.Tensor, dict[str, float]]:
    return DPO_LOSSES[name](POLICY_CHOSEN, POLICY_REJECTED, REFERENCE, REFERENCE, BETA, label_smoothing)


def test_dpo_loss_by_hand() -> None:
    loss, _ = losses("dpo")
    # -log σ(β h) with β h = [1, -0.5]
    assert loss.item() == pytest.approx((softplus(-1.0) + softplus(0.5)) / 2, rel=1e-6)


def test_conservative_dpo_loss_by_hand() -> None:
    loss, _ = losses("cdpo", label_smoothing=0.1)
    first = 0.9 * softplus(-1.0) + 0.1 * softplus(1.0)
    second = 0.9 * softplus(0.5) + 0.1 * softplus(-0.5)
    assert loss.item() == pytest.approx((first + second) / 2, rel=1e-6)


def test_ipo_loss_by_hand() -> None:
    loss, _ = losses("ipo")
    # (h - 1/(2τ))² with τ = β = 0.5: (2 - 1)² and (-1 - 1)²
    assert loss.item() == pytest.approx((1.0 + 4.0) / 2, rel=1e-6)


def test_metrics_use_trls_names_and_the_implicit_reward() -> None:
    _, metrics = losses("dpo")
    # implicit rewards β(π - π_ref): chosen [0.5, 0], rejected [-0.5, 0.5]
    assert metrics["rewards/chosen"] == pytest.approx(0.25)
    assert metrics["rewards/rejected"] == pytest.approx(0.0)
    assert metrics["rewards/margins"] == pytest.approx(0.25)
    assert metrics["rewards/accuracies"] == pytest.approx(0.5)
    assert metrics["logps/chosen"] == pytest.approx(-1.5)
    assert metrics["logps/rejected"] == pytest.approx(-2.0)


@pytest.mark.parametrize("name", sorted(DPO_LOSSES))
def test_every_loss_pushes_chosen_up_and_rejected_down(name: str) -> None:
    chosen = POLICY_CHOSEN.clone().requires_grad_()
    rejected = POLICY_REJECTED.clone().requires_grad_()
    smoothing = 0.1 if name in SMOOTHED_LOSSES else 0.0
    loss, _ = DPO_LOSSES[name](chosen, rejected, REFERENCE, REFERENCE, BETA, smoothing)
    loss.backward()
    assert (chosen.grad[1] < 0) and (rejected.grad[1] > 0)  # the pair ranked wrong is pulled the right way


def test_shape_mismatch_and_misused_smoothing_are_errors() -> None:
    with pytest.raises(ValueError, match="four \\(B,\\) tensors"):
        dpo_loss(POLICY_CHOSEN, POLICY_REJECTED[:1], REFERENCE, REFERENCE, BETA)
    with pytest.raises(ValueError, match="does not apply to IPO"):
        ipo_loss(POLICY_CHOSEN, POLICY_REJECTED, REFERENCE, REFERENCE, BETA, 0.1)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"loss": "kto"}, "use one of cdpo, dpo, ipo"),
        ({"loss": "cdpo"}, "needs label_smoothing > 0"),
        ({"loss": "dpo", "label_smoothing": 0.1}, "use 'cdpo'"),
        ({"beta": 0.0}, "beta=0.0"),
    ],
)
def test_config_rejects_bad_values(kwargs, match) -> None:
    with pytest.raises(ValueError, match=match):
        DPOConfig(**kwargs)
