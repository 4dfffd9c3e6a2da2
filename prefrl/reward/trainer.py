"""Fits the reward ensemble to the labelled comparisons (Christiano et al. 2017 §2.2.3).

What the paper prescribes and this module does:
- each member trains on its own bootstrap of the comparisons (Poisson(1) counts per pair, redrawn per fit);
- a share of comparisons is held out, chosen by id so a pair stays on its side as the data grows;
- L2 strength adapts so that held-out loss stays within 1.1–1.5× training loss;
- the rater's random answers are built into P̂ (``random_answer_prob``).
- on Atari, only the newest comparisons are trained on, a FIFO of ``max_train_comparisons`` (3000 in
  appendix A.2): old clips show a policy long gone, and every one held costs memory (all stay in the store).
What it adds: early stopping on held-out loss with the best weights kept, so the first handful of labels is
not overfit by a fixed number of epochs (DESIGN.md, pitfalls); patience counts only a fall of ``min_improvement``,
so a fit ends when the loss creeps towards its floor instead of running every epoch for crumbs; and patience
starts only once held-out loss has left chance (ln 2, what P̂ = ½ scores on every label, ties included), so a
net that needs a few epochs to find the first signal (a conv net on pixels, from scratch) is not stopped untrained.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Iterator, Protocol, Sequence

import numpy as np
import torch

from prefrl.config import RewardConfig
from prefrl.frames import is_frame_stack, split_stacks
from prefrl.reward.losses import bradley_terry_loss
from prefrl.reward.nets import RewardEnsemble
from prefrl.reward.normalize import standardization
from prefrl.types import Label, Segment

# Held-out membership by the fractional part of id·φ: a low-discrepancy sequence, so any prefix of ids
# is split close to the requested share, and a comparison never changes side between fits.
_GOLDEN = (math.sqrt(5.0) - 1.0) / 2.0
_MIN_STEPS_PER_EPOCH = 10
_CHANCE_LOSS = math.log(2.0)
"""Held-out loss of P̂ = ½ on every pair, whatever the labels (a tie's soft label ½ included)."""
_CHANCE_MARGIN = 1e-3
"""How far below chance held-out loss must fall before patience counts (nats a comparison)."""


class LabelledPair(Protocol):
    """What the trainer reads from a stored comparison."""

    id: int
    left: Segment
    right: Segment
    label: Label | None


@dataclass(frozen=True)
class PairBatch:
    """Comparisons as tensors: observations ``(P, 2, T, *obs)`` (:attr:`obs`), actions ``(P, 2, T, *act)``,
    μ(left) ``(P,)``.

    Frame stacks (Atari's ``(T, 4, 84, 84)`` per clip) are held as each clip's distinct frames, ``stored_obs``
    ``(P, 2, F, H, W)``, and ``frame_index`` ``(P, 2, T, K)`` (``prefrl.frames``): 3000 pairs take 1.2 GB instead of
    4.2 GB. :attr:`obs` rebuilds the stacks, which the trainer asks for one minibatch at a time.
    """

    stored_obs: torch.Tensor
    actions: torch.Tensor
    prefer_left: torch.Tensor
    frame_index: torch.Tensor | None = None

    @property
    def obs(self) -> torch.Tensor:
        if self.frame_index is None:
            return self.stored_obs
        pairs = torch.arange(len(self))[:, None, None, None]
        sides = torch.arange(2)[None, :, None, None]
        return self.stored_obs[pairs, sides, self.frame_index]  # (P, 2, T, K, H, W)

    def __len__(self) -> int:
        return int(self.prefer_left.shape[0])

    def subset(self, index: torch.Tensor) -> "PairBatch":
        frame_index = None if self.frame_index is None else self.frame_index[index]
        return PairBatch(self.stored_obs[index], self.actions[index], self.prefer_left[index], frame_index)

    def chunks(self, size: int) -> Iterator["PairBatch"]:
        """Consecutive batches of at most ``size`` pairs, in order."""
        for start in range(0, len(self), size):
            yield self.subset(torch.arange(start, min(start + size, len(self))))


def is_held_out(comparison_id: int, validation_fraction: float) -> bool:
    """Whether a comparison belongs to the validation split (stable as data grows)."""
    return (comparison_id * _GOLDEN) % 1.0 < validation_fraction


def newest(comparisons: Sequence[LabelledPair], limit: int) -> list[LabelledPair]:
    """The ``limit`` comparisons with the highest ids (the most recently asked), in id order; all when ``limit`` is 0."""
    ordered = sorted(comparisons, key=lambda comparison: comparison.id)
    return ordered[-limit:] if limit else ordered


def to_batch(comparisons: Sequence[LabelledPair]) -> PairBatch:
    """Stack trainable comparisons (``CANT_TELL`` and pending ones are the caller's to drop) into tensors.

    Frames (``uint8``/``bool``) keep their dtype, a quarter of float32's memory; the net scales each minibatch.
    Frame stacks keep each distinct frame once (see :class:`PairBatch`).
    """
    actions = np.stack([np.stack([c.left.actions, c.right.actions]) for c in comparisons])  # (P, 2, T, *act)
    mu = torch.as_tensor(np.array([c.label.prefer_left_prob for c in comparisons], dtype=np.float32))  # (P,)
    if all(is_frame_stack(np.asarray(s.obs)) for c in comparisons for s in (c.left, c.right)):
        frames, frame_index = _distinct_frames(comparisons)
        return PairBatch(frames, torch.as_tensor(actions), mu, frame_index)
    obs = np.stack([np.stack([c.left.obs, c.right.obs]) for c in comparisons])  # (P, 2, T, *obs)
    obs_tensor = torch.as_tensor(obs) if obs.dtype in (np.uint8, np.bool_) else torch.as_tensor(obs, dtype=torch.float32)
    return PairBatch(obs_tensor, torch.as_tensor(actions), mu)


def _distinct_frames(comparisons: Sequence[LabelledPair]) -> tuple[torch.Tensor, torch.Tensor]:
    """Each clip's distinct frames, padded to the most any clip has, ``(P, 2, F, H, W)``, and their index ``(P, 2, T, K)``."""
    split = [[split_stacks(np.asarray(s.obs)) for s in (c.left, c.right)] for c in comparisons]
    most = max(len(frames) for pair in split for frames, _ in pair)
    first_frames = split[0][0][0]
    frames = np.zeros((len(split), 2, most, *first_frames.shape[1:]), dtype=first_frames.dtype)  # (P, 2, F, H, W)
    for p, pair in enumerate(split):
        for side, (distinct, _) in enumerate(pair):
            frames[p, side, : len(distinct)] = distinct
    frame_index = np.stack([np.stack([index for _, index in pair]) for pair in split])  # (P, 2, T, K)
    return torch.as_tensor(frames), torch.as_tensor(frame_index.astype(np.int64))


def member_returns(model: RewardEnsemble, batch: PairBatch, chunk: int | None = None) -> torch.Tensor:
    """Each member's predicted return of both segments of every pair: ``(N, P, 2)``.

    :param chunk: run the net on this many pairs at a time (only without gradients: the results are concatenated).
        A conv trunk's activations on every frame at once would not fit in memory: the paper's 500 initial Atari
        labels are 25,000 frames, whose first conv layer's output alone is 3.2 GB of floats for a 3-member
        ensemble (48 maps of 26×26), and batch norm and the activation each add as much again.
    """
    if chunk is None or len(batch) <= chunk:
        device = model.input_mean.device  # batches live on the CPU; a model fit on a GPU gets each one sent over
        return model(batch.obs.to(device), batch.actions.to(device)).sum(-1)  # (N, P, 2, T) -> (N, P, 2)
    assert not torch.is_grad_enabled(), "chunked returns are for evaluation: no graph spans the chunks"
    return torch.cat([member_returns(model, part) for part in batch.chunks(chunk)], dim=1)  # (N, P, 2)


@dataclass
class FitMetrics:
    """What one fit measured; logged under ``reward/`` by the caller."""

    train_loss: float
    val_loss: float
    val_accuracy: float
    train_accuracy: float
    l2: float
    epochs: int
    n_train: int
    n_val: int
    tie_share: float

    def as_dict(self) -> dict[str, float]:
        return {f"reward/{key}": float(value) for key, value in self.__dict__.items()}


class RewardTrainer:
    """Owns the optimizer and the adaptive L2 strength across fits of one :class:`RewardEnsemble`.

    :param model: the ensemble to fit in place.
    :param config: loss and optimization settings.
    :param rng: seed or generator for bootstraps and minibatch order.
    """

    def __init__(self, model: RewardEnsemble, config: RewardConfig, rng: np.random.Generator | int | None = None):
        self.model = model
        self.config = config
        self.rng = np.random.default_rng(rng)
        self.l2 = config.l2_init
        # Whether the model has been fit before (by this trainer, or before a hand-over or a resume): only a fit
        # from fresh weights waits for held-out loss to leave chance before patience counts.
        self.trained = False
        self.optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)

    def fit(self, comparisons: Sequence[LabelledPair]) -> FitMetrics | None:
        """Fit on the trainable comparisons given (the newest ``max_train_comparisons`` of them when that is set);
        ``None`` when there is nothing to train on yet."""
        trainable = [c for c in comparisons if c.label is not None and c.label.prefer_left_prob is not None]
        trainable = newest(trainable, self.config.max_train_comparisons)
        if not trainable:
            return None
        ties = sum(c.label is Label.EQUAL for c in trainable) / len(trainable)
        held_out = [is_held_out(c.id, self.config.validation_fraction) for c in trainable]
        train = [c for c, h in zip(trainable, held_out) if not h]
        val = [c for c, h in zip(trainable, held_out) if h]
        if not train:  # with one or two labels, train on what there is rather than not at all
            train, val = trainable, []
        train_batch = to_batch(train)
        val_batch = to_batch(val) if val else None
        self._fit_input_normalization(train_batch)
        epochs = self._train(train_batch, val_batch)
        self.trained = True
        metrics = self._evaluate(train_batch, val_batch)
        self._adapt_l2(metrics)
        return FitMetrics(
            train_loss=metrics["train_loss"],
            val_loss=metrics["val_loss"],
            val_accuracy=metrics["val_accuracy"],
            train_accuracy=metrics["train_accuracy"],
            l2=self.l2,
            epochs=epochs,
            n_train=len(train),
            n_val=len(val),
            tie_share=ties,
        )

    def _fit_input_normalization(self, batch: PairBatch) -> None:
        obs_shape = self.model.input_space.shape or ()
        with torch.no_grad():
            self.model.input_mean.zero_()
            self.model.input_std.fill_(1.0)
            parts = []
            device = self.model.input_mean.device
            for chunk in batch.chunks(self.config.batch_size):  # frame stacks are rebuilt a minibatch at a time
                flat_obs = chunk.obs.to(device).reshape(-1, *obs_shape)  # (B*2*T, *obs)
                parts.append(self.model.features(flat_obs, chunk.actions.to(device).reshape(flat_obs.shape[0], -1)))
            raw = torch.cat(parts)  # (P*2*T, in)
            mean, std = standardization(raw)
            self.model.input_mean.copy_(mean)
            self.model.input_std.copy_(std)

    def _loss(self, batch: PairBatch, weights: torch.Tensor | None) -> tuple[torch.Tensor, dict[str, float]]:
        # Without gradients (held-out loss, metrics) the whole set is scored a training minibatch at a time.
        chunk = None if torch.is_grad_enabled() else self.config.batch_size
        returns = member_returns(self.model, batch, chunk)  # (N, P, 2)
        return bradley_terry_loss(
            returns[..., 0],
            returns[..., 1],
            batch.prefer_left.to(returns.device),
            random_answer_prob=self.config.random_answer_prob,
            weights=weights,
        )

    def _l2_penalty(self) -> torch.Tensor:
        return sum(weight.pow(2).sum() for weight in self.model.regularized_weights()) / self.model.ensemble_size

    def _train(self, train: PairBatch, val: PairBatch | None) -> int:
        """Minibatch Adam with per-member bootstrap weights; stops when held-out loss stops improving.

        Gradient steps run in training mode (batch norm on batch statistics, dropout on: the paper's Atari
        predictor) and held-out loss in eval mode, the mode the model is left in and predicts in.
        """
        try:
            return self._train_epochs(train, val)
        finally:
            self.model.eval()

    def _train_epochs(self, train: PairBatch, val: PairBatch | None) -> int:
        n_members, n_pairs = self.model.ensemble_size, len(train)
        counts = self.rng.poisson(1.0, size=(n_members, n_pairs)).astype(np.float32)  # (N, P) bootstrap
        counts[counts.sum(1) == 0] = 1.0  # a member that drew nothing trains on everything
        bootstrap = torch.as_tensor(counts, device=self.model.input_mean.device)
        best_loss, counted_loss, best_state, stale = math.inf, math.inf, None, 0
        # From fresh weights, patience waits until held-out loss leaves chance: stopping before that keeps a net
        # that has learnt nothing (Pong's first fit on 500 labels sat at 0.692 for 5 epochs, then fell). A held-out
        # set of ties alone can never score below chance, so there patience counts from the start; so it does for
        # a net fit before, whose held-out loss above chance means overfitting, which more epochs do not mend.
        left_chance = self.trained or val is None or bool((val.prefer_left == 0.5).all())
        max_epochs = self.config.max_epochs if val is not None else self.config.patience
        # An epoch is at least _MIN_STEPS_PER_EPOCH minibatches: with a dozen labels a single pass is one
        # gradient step, and early stopping would end the fit before the net moved at all.
        steps_per_epoch = max(math.ceil(n_pairs / self.config.batch_size), _MIN_STEPS_PER_EPOCH)
        order = np.empty(0, dtype=np.int64)
        epoch = 0
        for epoch in range(1, max_epochs + 1):
            self.model.train()
            for _ in range(steps_per_epoch):
                if len(order) < min(self.config.batch_size, n_pairs):
                    order = np.concatenate([order, self.rng.permutation(n_pairs)])
                index = torch.as_tensor(order[: self.config.batch_size])
                order = order[self.config.batch_size :]
                loss, _ = self._loss(train.subset(index), bootstrap[:, index.to(bootstrap.device)])
                loss = loss + self.l2 * self._l2_penalty()
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                self.optimizer.step()
            if val is None:
                continue
            self.model.eval()
            with torch.no_grad():
                val_loss, _ = self._loss(val, None)
            # The best weights are kept at any gain; only a gain of min_improvement over the last counted
            # one resets patience.
            if float(val_loss) < best_loss:
                best_loss, best_state = float(val_loss), copy.deepcopy(self.model.state_dict())
            left_chance = left_chance or float(val_loss) < _CHANCE_LOSS - _CHANCE_MARGIN
            if float(val_loss) < counted_loss - self.config.min_improvement:
                counted_loss, stale = float(val_loss), 0
            elif left_chance:
                stale += 1
                if stale >= self.config.patience:
                    break
        if best_state is not None:
            self.model.load_state_dict(best_state)
        return epoch

    @torch.no_grad()
    def _evaluate(self, train: PairBatch, val: PairBatch | None) -> dict[str, float]:
        train_loss, train_metrics = self._loss(train, None)
        result = {
            "train_loss": float(train_loss),
            "train_accuracy": train_metrics["accuracy"],
            "val_loss": math.nan,
            "val_accuracy": math.nan,
        }
        if val is not None:
            val_loss, _ = self._loss(val, None)
            # Held-out accuracy of the ensemble mean, the reward the policy is actually paid.
            mean_returns = member_returns(self.model, val, self.config.batch_size).mean(0)  # (P, 2)
            _, mean_metrics = bradley_terry_loss(mean_returns[:, 0], mean_returns[:, 1], val.prefer_left.to(mean_returns.device))
            result["val_loss"] = float(val_loss)
            result["val_accuracy"] = mean_metrics["accuracy"]
        return result

    def _adapt_l2(self, metrics: dict[str, float]) -> None:
        """Keep held-out loss within [low, high] × training loss (Christiano et al. 2017 §2.2.3)."""
        if math.isnan(metrics["val_loss"]) or metrics["train_loss"] <= 0:
            return
        ratio = metrics["val_loss"] / metrics["train_loss"]
        if ratio > self.config.l2_ratio_high:
            self.l2 = max(self.l2, 1e-6) * 2.0
        elif ratio < self.config.l2_ratio_low:
            self.l2 = self.l2 / 2.0
