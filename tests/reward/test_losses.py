"""The Bradley–Terry loss against values computed by hand."""

import math

import pytest
import torch

from prefrl.reward.losses import bradley_terry_loss, preference_log_probs


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def test_probability_is_sigmoid_of_return_difference():
    # P̂[σ¹ ≻ σ²] = e^{R¹} / (e^{R¹} + e^{R²}); R¹ = 2, R² = 0.5 -> sigmoid(1.5) = 0.8175744762
    log_left, log_right = preference_log_probs(torch.tensor([2.0]), torch.tensor([0.5]))
    assert log_left.exp().item() == pytest.approx(0.8175744762, abs=1e-7)
    assert log_right.exp().item() == pytest.approx(1 - 0.8175744762, abs=1e-7)
    assert math.exp(2.0) / (math.exp(2.0) + math.exp(0.5)) == pytest.approx(0.8175744762, abs=1e-9)


def test_loss_hand_computed_hard_equal_and_mixed_labels():
    left = torch.tensor([1.0, 0.0, 3.0])
    right = torch.tensor([0.0, 1.0, 3.0])
    mu = torch.tensor([1.0, 1.0, 0.5])
    loss, metrics = bradley_terry_loss(left, right, mu)
    # pair 1: -log σ(1) = 0.3132616875; pair 2: -log σ(-1) = 1.3132616875; pair 3 (equal, Δ=0): log 2
    expected = (0.3132616875 + 1.3132616875 + math.log(2)) / 3
    assert loss.item() == pytest.approx(expected, abs=1e-6)
    # accuracy counts strict preferences only: pair 1 right, pair 2 wrong
    assert metrics["accuracy"] == pytest.approx(0.5)


def test_random_answer_mixing_matches_paper_formula():
    # P̂' = 0.9·σ(1) + 0.05 = 0.9·0.7310585786 + 0.05 = 0.7079527207
    loss, _ = bradley_terry_loss(torch.tensor([1.0]), torch.tensor([0.0]), torch.tensor([1.0]), random_answer_prob=0.1)
    assert loss.item() == pytest.approx(-math.log(0.7079527207), abs=1e-6)


def test_mixing_keeps_probability_in_bounds_and_gradient_alive():
    # With mixing the probability of the wrong side never drops below 0.05 and the gradient never vanishes
    # for a badly wrong pair (no clipping of the return difference).
    left = torch.tensor([-60.0], requires_grad=True)
    loss, _ = bradley_terry_loss(left, torch.tensor([0.0]), torch.tensor([1.0]), random_answer_prob=0.1)
    assert loss.item() == pytest.approx(-math.log(0.05), rel=1e-4)
    loss_plain, _ = bradley_terry_loss(left, torch.tensor([0.0]), torch.tensor([1.0]))
    loss_plain.backward()
    assert torch.isfinite(loss_plain) and loss_plain.item() == pytest.approx(60.0, rel=1e-6)
    assert left.grad.item() == pytest.approx(-1.0, abs=1e-6)


def test_weights_give_weighted_mean_per_member():
    left = torch.tensor([[1.0, 0.0], [1.0, 0.0]])  # (N=2, P=2)
    right = torch.zeros(2, 2)
    mu = torch.tensor([1.0, 0.0])
    weights = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    loss, _ = bradley_terry_loss(left, right, mu, weights=weights)
    # member 1 only sees pair 1: -log σ(1); member 2 only pair 2: -log σ(0) = log 2
    assert loss.item() == pytest.approx((0.3132616875 + math.log(2)) / 2, abs=1e-6)
