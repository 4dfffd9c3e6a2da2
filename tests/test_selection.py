"""Pair selection: uniform pairs are distinct; disagreement picks the pairs the members disagree on most."""

import numpy as np
import pytest
import torch
from gymnasium import spaces

from prefrl.reward.nets import RewardEnsemble
from prefrl.selection import SELECTORS, DisagreementSelector, make_selector, random_pairs
from prefrl.types import Segment


def test_random_pairs_never_pair_a_segment_with_itself(rng):
    pairs = random_pairs(3, 1000, rng)
    assert pairs.shape == (1000, 2)
    assert np.all(pairs[:, 0] != pairs[:, 1])
    assert set(np.unique(pairs)) == {0, 1, 2}
    with pytest.raises(ValueError, match="at least 2 segments"):
        random_pairs(1, 1, rng)


def test_disagreement_picks_highest_variance_pairs(rng):
    # Two members that agree about observation x[0] but disagree about x[1]: member 1 pays +x1, member 2 -x1.
    model = RewardEnsemble(spaces.Box(-10, 10, (2,)), spaces.Discrete(2), ensemble_size=2, hidden_sizes=(1,))
    with torch.no_grad():
        model.weights[0][:] = torch.tensor([[[1.0], [1.0], [0.0], [0.0]], [[1.0], [-1.0], [0.0], [0.0]]])
        model.biases[0][:] = 10.0  # keep the leaky ReLU in its linear part
        model.weights[1][:] = 1.0
        model.biases[1][:] = 0.0
    # Segments 0..3 differ only in x[0] (members agree); segment 4 has a large x[1] (members disagree).
    segments = []
    for i in range(5):
        obs = np.zeros((4, 2), dtype=np.float32)
        obs[:, 0] = 0.1 * i
        if i == 4:
            obs[:, 1] = 1.0
        segments.append(Segment(obs, np.zeros(4, dtype=np.int64), np.zeros(4)))
    selector = DisagreementSelector(oversample=10)
    chosen = selector.select(segments, 3, model, rng)
    assert chosen.shape == (3, 2)
    assert all(4 in pair for pair in chosen.tolist())
    # Explicitly: the chosen pairs' variance is the maximum over all candidate pairs.
    returns = model(torch.as_tensor(np.stack([s.obs for s in segments])), torch.zeros(5, 4, dtype=torch.long)).sum(-1)
    prob = torch.sigmoid(returns[:, :, None] - returns[:, None, :]).var(0, unbiased=False)
    best = prob.max().item()
    for i, j in chosen.tolist():
        assert prob[i, j].item() == pytest.approx(best, rel=1e-5)


def test_selector_registry_names_and_errors():
    assert {"uniform", "disagreement"} <= set(SELECTORS)
    with pytest.raises(ValueError, match="selector='nope' is unknown"):
        make_selector("nope")
