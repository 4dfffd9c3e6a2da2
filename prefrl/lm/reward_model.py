"""The reward model r_θ(x, y): the SFT transformer with a scalar head on the last response token.

Trained with the core's :func:`prefrl.reward.losses.bradley_terry_loss` — the same function that fits the
control reward net — with the InstructGPT choices (Ouyang et al. 2022, eq. 1): μ(chosen) = 1, no random-answer
term, and all C(K,2) pairs of a prompt in one batch (:meth:`prefrl.lm.data.PreferenceDataset.batches`).
The score is read at the last response token (the ``<eos>``), the only position that has seen the whole
response (DESIGN.md, RLHF pitfalls).
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

from prefrl.lm.batching import SequenceBatch, encode
from prefrl.lm.config import RewardModelConfig
from prefrl.lm.data import PreferenceDataset
from prefrl.lm.logprobs import backbone_hidden
from prefrl.lm.models import LanguageModel
from prefrl.lm.loop import MetricsLog, fit_pairs
from prefrl.reward.losses import bradley_terry_loss


class RewardModel(nn.Module):
    """Backbone of a causal LM (its LM head dropped) and a linear scalar head.

    :param lm: the model to start from, usually π_SFT; its weights are copied, not shared.
    :param seed: seed of the head's initialization.
    """

    def __init__(self, lm: LanguageModel, seed: int = 0) -> None:
        super().__init__()
        self.backbone = copy.deepcopy(lm.model.base_model)
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            self.head = nn.Linear(lm.model.config.hidden_size, 1)
        self.tokenizer = lm.tokenizer
        self.context_length = lm.context_length
        # Affine output normalization (see `normalize`); identity until then, saved with the weights.
        self.register_buffer("offset", torch.zeros(()))
        self.register_buffer("scale", torch.ones(()))
        self.eval()  # no dropout, as for the policy

    def forward(self, batch: SequenceBatch) -> torch.Tensor:
        """r_θ(x, y) per row, ``(B,)``: the head applied to the hidden state of the last response token."""
        hidden = backbone_hidden(self.backbone, batch)  # (B, P + R, H)
        last = batch.prompt_width + batch.response_lengths - 1  # (B,)
        states = hidden[torch.arange(len(batch)), last]  # (B, H)
        return (self.head(states).squeeze(-1) - self.offset) / self.scale

    @torch.no_grad()
    def normalize(self, batch: SequenceBatch) -> None:
        """Make the scores of ``batch`` mean 0 and std 1 (Ouyang et al. 2022, §C.2, centre the reward model).

        A Bradley–Terry model is only defined up to a shift, and its scale grows with training; PPO's value head
        starts at 0 and shares the policy's backbone, so a reward of arbitrary offset and size would spend the
        first updates (and the backbone) fitting the value instead of improving the policy.
        """
        self.offset.zero_()
        self.scale.fill_(1.0)
        scores = self.score(batch)  # (B,)
        self.offset.copy_(scores.mean())
        self.scale.copy_(scores.std().clamp_min(1e-6))

    @torch.no_grad()
    def score(self, batch: SequenceBatch, batch_size: int = 256) -> torch.Tensor:
        """:meth:`forward` without gradients, ``batch_size`` rows at a time, ``(B,)``."""
        return torch.cat(
            [self(batch.select(torch.arange(start, min(start + batch_size, len(batch)))))
             for start in range(0, len(batch), batch_size)]
        )


def preference_batch(rm: RewardModel, data: PreferenceDataset) -> SequenceBatch:
    """Rows 0..N−1 the chosen responses, rows N..2N−1 the rejected ones."""
    prompts = data.column("prompt")
    return encode(rm.tokenizer, prompts + prompts, data.column("chosen") + data.column("rejected"), rm.context_length)


def pair_loss(rm: RewardModel, batch: SequenceBatch, indices: np.ndarray) -> tuple[torch.Tensor, dict[str, float]]:
    """The Bradley–Terry loss of pairs ``indices`` of a :func:`preference_batch`: μ(chosen) = 1, no random-answer
    term (Ouyang et al. 2022, eq. 1); all responses go through the model in one pass."""
    n = len(batch) // 2
    scores = rm(batch.select(np.concatenate([indices, indices + n])))  # (2B,): chosen rows, then rejected
    chosen, rejected = scores.chunk(2)
    loss, metrics = bradley_terry_loss(chosen, rejected, torch.ones_like(chosen))
    return loss, {f"rm/{key}": value for key, value in metrics.items()}


def train_reward_model(
    rm: RewardModel,
    train: PreferenceDataset,
    held_out: PreferenceDataset | None = None,
    config: RewardModelConfig = RewardModelConfig(),
    *,
    progress: bool = False,
    log: MetricsLog | None = None,
) -> dict[str, float]:
    """Fit ``rm`` in place, then normalize its scores on the training responses (:meth:`RewardModel.normalize`);
    returns the last step's metrics and, with ``held_out``, ``eval/pref_accuracy``."""
    batch = preference_batch(rm, train)  # (2N, P + R)
    metrics = fit_pairs(
        rm.parameters(),
        lambda indices: pair_loss(rm, batch, indices),
        train,
        epochs=config.epochs,
        batch_size=config.batch_size,
        learning_rate=config.learning_rate,
        seed=config.seed,
        evaluate=None if held_out is None else lambda: pairwise_accuracy(rm, held_out),
        desc="reward model",
        progress=progress,
        log=log,
    )
    rm.normalize(batch)
    return metrics


def pairwise_accuracy(rm: RewardModel, data: PreferenceDataset) -> float:
    """Share of pairs whose chosen response scores higher."""
    chosen, rejected = rm.score(preference_batch(rm, data)).chunk(2)
    return (chosen > rejected).float().mean().item()
