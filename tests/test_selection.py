"""Pair selection: uniform pairs are distinct; disagreement picks the pairs the members disagree on most; a round shows
each segment once where it can."""

import numpy as np
import pytest
import torch
from gymnasium import spaces

from prefrl.reward.nets import RewardEnsemble
from prefrl.selection import (
    SELECTORS,
    DisagreementSelector,
    UniformSelector,
    distinct_first,
    make_selector,
    member_returns,
    random_pairs,
)
from prefrl.types import MemberReturns, Segment


def test_random_pairs_never_pair_a_segment_with_itself(rng):
    pairs = random_pairs(3, 1000, rng)
    assert pairs.shape == (1000, 2)
    assert np.all(pairs[:, 0] != pairs[:, 1])
    assert set(np.unique(pairs)) == {0, 1, 2}
    with pytest.raises(ValueError, match="at least 2 segments"):
        random_pairs(1, 1, rng)


def _disagreeing_model_and_segments() -> tuple[RewardEnsemble, list[Segment]]:
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
    return model, segments


def _pair_variance(model: RewardEnsemble, segments: list[Segment]) -> torch.Tensor:
    """Var over members of P̂[σi ≻ σj], ``(S, S)``, computed here from the members' segment returns."""
    obs = torch.as_tensor(np.stack([s.obs for s in segments]))
    returns = model(obs, torch.zeros(obs.shape[:2], dtype=torch.long)).sum(-1)  # (N, S)
    return torch.sigmoid(returns[:, :, None] - returns[:, None, :]).var(0, unbiased=False)


def test_disagreement_picks_the_highest_variance_pair_first(rng):
    model, segments = _disagreeing_model_and_segments()
    chosen = DisagreementSelector(oversample=10).select(segments, 1, model, rng)
    assert chosen.shape == (1, 2)
    prob = _pair_variance(model, segments)
    i, j = chosen[0].tolist()
    assert prob[i, j].item() == pytest.approx(prob.max().item(), rel=1e-5)


def test_disagreement_shows_each_segment_once_per_round_when_it_can(rng):
    # Segment 4 is in every top-variance pair; a round of 2 pairs from 5 segments must still show 4 clips.
    model, segments = _disagreeing_model_and_segments()
    chosen = DisagreementSelector(oversample=50).select(segments, 2, model, rng)
    assert chosen.shape == (2, 2)
    assert len(set(chosen.ravel().tolist())) == 4
    prob = _pair_variance(model, segments)
    first = chosen[0].tolist()
    assert 4 in first and prob[first[0], first[1]].item() == pytest.approx(prob.max().item(), rel=1e-5)
    # 3 pairs need 6 clips; there are 5, so one repeats and the round is still full.
    assert DisagreementSelector(oversample=50).select(segments, 3, model, rng).shape == (3, 2)


def test_distinct_first_takes_rows_in_order_skipping_shown_segments_then_tops_up():
    candidates = np.array([[0, 1], [1, 2], [3, 4], [0, 2], [5, 6]])
    order = np.arange(5)
    np.testing.assert_array_equal(distinct_first(candidates, order, 3), [[0, 1], [3, 4], [5, 6]])
    # Only 3 disjoint rows exist among these; the fourth is the best-ranked of the rest.
    np.testing.assert_array_equal(distinct_first(candidates, order, 4), [[0, 1], [3, 4], [5, 6], [1, 2]])
    np.testing.assert_array_equal(distinct_first(candidates, order[::-1].copy(), 2), [[5, 6], [0, 2]])


def test_uniform_pairs_are_distinct_segments_when_there_are_enough(rng):
    segments = [Segment(np.zeros((2, 1), np.float32), np.zeros(2, np.int64), np.zeros(2)) for _ in range(10)]
    model = RewardEnsemble(spaces.Box(-1, 1, (1,)), spaces.Discrete(2), ensemble_size=2)
    chosen = UniformSelector().select(segments, 5, model, rng)
    assert sorted(chosen.ravel().tolist()) == list(range(10))
    chosen = UniformSelector().select(segments, 8, model, rng)  # 16 clips from 10: repeats, never a self-pair
    assert chosen.shape == (8, 2) and np.all(chosen[:, 0] != chosen[:, 1])


def test_selector_registry_names_and_errors():
    assert {"uniform", "disagreement"} <= set(SELECTORS)
    with pytest.raises(ValueError, match="selector='nope' is unknown"):
        make_selector("nope")


def test_member_returns_reuse_what_the_current_weights_recorded_and_rescore_the_rest():
    model, segments = _disagreeing_model_and_segments()
    computed = member_returns(model, segments)  # (N, S), all scored by the net
    obs = torch.as_tensor(np.stack([s.obs for s in segments]))
    expected = model(obs, torch.zeros(obs.shape[:2], dtype=torch.long)).sum(-1).detach().numpy()
    np.testing.assert_allclose(computed, expected, rtol=1e-6)
    # A recorded (here: made-up) return is used while the weights that recorded it are current, and only then.
    made_up = np.array([-7.0, 7.0])
    current = Segment(segments[0].obs, segments[0].actions, segments[0].true_rewards,
                      member_returns=MemberReturns(model.weights_version(), made_up))
    stale = Segment(segments[1].obs, segments[1].actions, segments[1].true_rewards,
                    member_returns=MemberReturns((-1,), made_up))
    mixed = member_returns(model, [current, stale, segments[2]])
    np.testing.assert_array_equal(mixed[:, 0], made_up)
    np.testing.assert_allclose(mixed[:, 1:], expected[:, 1:3], rtol=1e-6)
    # What was scored is recorded in turn, for the next draw under the same weights.
    assert stale.member_returns.weights_version == model.weights_version()
    np.testing.assert_allclose(stale.member_returns.returns, expected[:, 1], rtol=1e-6)
    with torch.no_grad():
        model.biases[1].add_(1.0)  # new weights: the recorded return is stale now
    assert not np.array_equal(member_returns(model, [current])[:, 0], made_up)


def test_disagreement_ranks_by_recorded_returns_when_they_are_current(rng):
    # Recorded returns that make segments 0 and 1 the pair the members disagree on most steer the choice.
    model, segments = _disagreeing_model_and_segments()
    version = model.weights_version()
    recorded = [np.array([10.0, -10.0]), np.array([-10.0, 10.0])] + [np.zeros(2)] * 3
    scored = [
        Segment(s.obs, s.actions, s.true_rewards, member_returns=MemberReturns(version, r))
        for s, r in zip(segments, recorded)
    ]
    chosen = DisagreementSelector(oversample=50).select(scored, 1, model, rng)
    assert sorted(chosen[0].tolist()) == [0, 1]
