"""Reward fitting: it learns a known reward, holds data out stably, adapts L2 and ignores "can't tell"."""

import math
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from gymnasium import spaces

from prefrl.config import RewardConfig
from prefrl.reward.nets import RewardEnsemble
from prefrl.reward.trainer import RewardTrainer, is_held_out, member_returns, newest, to_batch
from prefrl.types import Label, Segment


@dataclass
class Pair:
    id: int
    left: Segment
    right: Segment
    label: Label | None


def comparisons_of_linear_reward(n: int, seed: int = 0, length: int = 10):
    """Pairs labelled by the true reward r(o, a) = o[0] (the first observation coordinate)."""
    rng = np.random.default_rng(seed)
    pairs = []
    for i in range(n):
        segs = []
        for _ in range(2):
            obs = rng.normal(size=(length, 3)).astype(np.float32) + rng.normal()  # a per-clip offset
            segs.append(Segment(obs, rng.integers(0, 2, size=length), obs[:, 0].astype(np.float64)))
        label = Label.LEFT if segs[0].true_return > segs[1].true_return else Label.RIGHT
        pairs.append(Pair(i + 1, segs[0], segs[1], label))
    return pairs


def net_at_chance(config: RewardConfig) -> RewardEnsemble:
    """An ensemble over 3 numbers whose output layer is zero: P̂ = ½ on every pair, held-out loss exactly ln 2."""
    model = RewardEnsemble.from_config(
        spaces.Box(-np.inf, np.inf, (3,)), spaces.Discrete(2), config, generator=torch.Generator().manual_seed(0)
    )
    with torch.no_grad():
        model.weights[-1].zero_()
        model.biases[-1].zero_()
    return model


SLOW_FROM_CHANCE = RewardConfig(ensemble_size=2, hidden_sizes=(16,), patience=2, learning_rate=1e-6, min_improvement=0.02)
"""Every epoch's gain from chance is below min_improvement: patience alone would stop after 1 + 2 epochs, untrained."""


def test_fit_learns_known_reward_with_high_held_out_accuracy():
    model = RewardEnsemble(spaces.Box(-np.inf, np.inf, (3,)), spaces.Discrete(2), ensemble_size=3, hidden_sizes=(32,))
    trainer = RewardTrainer(model, RewardConfig(), rng=0)
    metrics = trainer.fit(comparisons_of_linear_reward(200))
    assert metrics is not None
    assert metrics.n_val > 20 and metrics.n_train > 120
    assert metrics.val_accuracy >= 0.9
    # Fresh pairs: the ensemble mean ranks them like the true reward.
    fresh = comparisons_of_linear_reward(100, seed=1)
    obs = np.stack([np.stack([p.left.obs, p.right.obs]) for p in fresh])
    actions = np.stack([np.stack([p.left.actions, p.right.actions]) for p in fresh])
    returns = model.predict(obs, actions).sum(-1)  # (P, 2)
    agree = [(r[0] > r[1]) == (p.label is Label.LEFT) for r, p in zip(returns, fresh)]
    assert np.mean(agree) >= 0.9


def test_cant_tell_and_pending_are_not_trained_on():
    model = RewardEnsemble(spaces.Box(-np.inf, np.inf, (3,)), spaces.Discrete(2), ensemble_size=2, hidden_sizes=(8,))
    trainer = RewardTrainer(model, RewardConfig(max_epochs=5), rng=0)
    pairs = comparisons_of_linear_reward(10)
    for p in pairs[:4]:
        p.label = Label.CANT_TELL
    pairs[4].label = None
    metrics = trainer.fit(pairs)
    assert metrics.n_train + metrics.n_val == 5
    assert trainer.fit(pairs[:5]) is None


def test_patience_counts_only_gains_of_min_improvement_but_the_best_weights_are_kept():
    def fit(**options):
        model = RewardEnsemble(
            spaces.Box(-np.inf, np.inf, (3,)), spaces.Discrete(2), ensemble_size=2, hidden_sizes=(16,),
            generator=torch.Generator().manual_seed(0),
        )
        return RewardTrainer(model, RewardConfig(patience=3, **options), rng=0).fit(comparisons_of_linear_reward(60))

    after_one_epoch = fit(max_epochs=1)
    # No gain is ever large enough: the first epoch counts (from an infinite loss), then 3 stale ones end the fit...
    strict = fit(min_improvement=10.0)
    assert strict.epochs == 1 + 3
    # ...which still keeps the weights of its best epoch, better than the first one's.
    assert strict.val_loss < after_one_epoch.val_loss
    # Every gain counts: held-out loss on fresh pairs falls for many epochs.
    assert fit(min_improvement=0.0).epochs > 10


def test_a_fit_from_fresh_weights_waits_for_held_out_loss_to_leave_chance_before_patience_counts():
    """A net that starts at chance (a zero output layer) and learns slowly: every epoch's gain is below
    min_improvement, so patience alone would end the fit after 1 + 2 epochs at ln 2, untrained."""

    def fit(trained: bool, label: Label | None = None):
        trainer = RewardTrainer(net_at_chance(SLOW_FROM_CHANCE), SLOW_FROM_CHANCE, rng=0)
        trainer.trained = trained
        pairs = comparisons_of_linear_reward(60)
        for pair in pairs:
            pair.label = label or pair.label
        return trainer.fit(pairs), trainer

    fresh, trainer = fit(trained=False)
    assert fresh.epochs > 1 + 2
    assert fresh.val_loss < math.log(2) - 1e-3
    assert trainer.trained  # the next fit continues from fitted weights and is not held back
    # A net fit before: held-out loss at (or above) chance is overfitting there, and patience counts at once.
    assert fit(trained=True)[0].epochs == 1 + 2
    # Held-out ties alone can never score below chance: patience counts at once too.
    assert fit(trained=False, label=Label.EQUAL)[0].epochs == 1 + 2


def test_min_improvement_must_not_be_negative():
    with pytest.raises(ValueError, match="min_improvement"):
        RewardConfig(min_improvement=-0.1)


def test_held_out_split_is_stable_and_close_to_fraction():
    held = [is_held_out(i, 0.2) for i in range(1, 1001)]
    assert 0.18 <= np.mean(held) <= 0.22
    assert held[:100] == [is_held_out(i, 0.2) for i in range(1, 101)]  # growing data never moves a pair


def test_l2_strengthens_when_overfitting_and_weakens_when_not():
    model = RewardEnsemble(spaces.Box(-np.inf, np.inf, (3,)), spaces.Discrete(2), ensemble_size=2, hidden_sizes=(8,))
    trainer = RewardTrainer(model, RewardConfig(l2_init=0.01), rng=0)
    trainer._adapt_l2({"train_loss": 0.2, "val_loss": 0.5})  # ratio 2.5 > 1.5
    assert trainer.l2 == pytest.approx(0.02)
    trainer._adapt_l2({"train_loss": 0.5, "val_loss": 0.5})  # ratio 1.0 < 1.1
    assert trainer.l2 == pytest.approx(0.01)
    trainer._adapt_l2({"train_loss": 0.5, "val_loss": 0.6})  # ratio 1.2: inside the band
    assert trainer.l2 == pytest.approx(0.01)


def test_fifo_fits_on_the_newest_comparisons_only():
    """``max_train_comparisons``: the paper's Atari runs train on the newest 3000 labels; here the newest 6 of 20."""
    pairs = comparisons_of_linear_reward(20)
    assert [p.id for p in newest(list(reversed(pairs)), 6)] == list(range(15, 21))
    assert len(newest(pairs, 0)) == 20  # 0 keeps them all
    pairs[-1].label = Label.CANT_TELL  # untrainable ones do not take a place in the FIFO
    model = RewardEnsemble(spaces.Box(-np.inf, np.inf, (3,)), spaces.Discrete(2), ensemble_size=2, hidden_sizes=(8,))
    trainer = RewardTrainer(model, RewardConfig(max_epochs=2, max_train_comparisons=6), rng=0)
    metrics = trainer.fit(pairs)
    assert metrics.n_train + metrics.n_val == 6
    # The fit saw only pairs 14..19: their training share alone set the input standardization.
    kept = [p for p in pairs if 14 <= p.id <= 19]
    held_in = [p for p in kept if not is_held_out(p.id, 0.2)]
    obs = np.concatenate([np.concatenate([p.left.obs, p.right.obs]) for p in held_in])
    assert np.allclose(model.input_mean[:3].numpy(), obs.mean(0), atol=1e-5)
    with pytest.raises(ValueError, match="max_train_comparisons=-1"):
        RewardConfig(max_train_comparisons=-1)


def test_returns_without_gradients_are_computed_in_chunks_with_the_same_result():
    model = RewardEnsemble(spaces.Box(-np.inf, np.inf, (3,)), spaces.Discrete(2), ensemble_size=2, hidden_sizes=(8,))
    batch = to_batch(comparisons_of_linear_reward(10))
    with torch.no_grad():
        whole = member_returns(model, batch)
        chunked = member_returns(model, batch, chunk=3)  # chunks of 3, 3, 3 and 1 pairs
    assert chunked.shape == whole.shape == (2, 10, 2)
    assert torch.allclose(chunked, whole, atol=1e-6)
    with pytest.raises(AssertionError, match="evaluation"):
        member_returns(model, batch, chunk=3)  # with gradients on, a chunked graph is refused


def test_frame_stacks_are_batched_with_each_frame_once_and_fit():
    """Clips of 4-frame stacks: the batch holds each clip's distinct frames and rebuilds the stacks exactly."""
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (6, 2, 10 + 3, 48, 48), dtype=np.uint8)  # (P, 2, T + K - 1, H, W)
    pairs = []
    for i, pair in enumerate(frames):
        left, right = (Segment(np.stack([clip[t : t + 4] for t in range(10)]), rng.integers(0, 3, 10), rng.normal(size=10))
                       for clip in pair)
        pairs.append(Pair(i + 1, left, right, Label.LEFT if left.true_return > right.true_return else Label.RIGHT))
    batch = to_batch(pairs)
    assert batch.stored_obs.shape == (6, 2, 13, 48, 48) and batch.frame_index.shape == (6, 2, 10, 4)
    expected = np.stack([np.stack([p.left.obs, p.right.obs]) for p in pairs])  # (P, 2, T, 4, 48, 48)
    assert np.array_equal(batch.obs.numpy(), expected)
    assert np.array_equal(batch.subset(torch.tensor([4, 1])).obs.numpy(), expected[[4, 1]])
    model = RewardEnsemble(spaces.Box(0, 255, (4, 48, 48), np.uint8), spaces.Discrete(3), ensemble_size=1, hidden_sizes=(8,))
    metrics = RewardTrainer(model, RewardConfig(max_epochs=1, batch_size=2), rng=0).fit(pairs)
    assert metrics.n_train + metrics.n_val == 6 and np.isfinite(metrics.train_loss)
