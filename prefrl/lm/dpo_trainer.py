"""The DPO training loop: reference log-probs once, chosen and rejected in one forward pass, a loss from the registry.

The reference model is used only at the start: its log-probs of every training and held-out response are
computed once (they never change) and then indexed per batch, which halves the forward passes of every step
(DESIGN.md, "DPO details"). Each step stacks the batch's chosen and rejected responses into one
:class:`~prefrl.lm.batching.SequenceBatch` of 2B rows, so the model runs once per step.
"""

from __future__ import annotations

import numpy as np
import torch

from prefrl.lm.batching import SequenceBatch, encode
from prefrl.lm.config import DPOConfig
from prefrl.lm.data import PreferenceDataset
from prefrl.lm.dpo import DPO_LOSSES, implicit_rewards
from prefrl.lm.logprobs import sequence_logprobs, sequence_logprobs_batched
from prefrl.lm.loop import MetricsLog, fit_pairs
from prefrl.lm.models import LanguageModel


class PairedResponses:
    """A data set's chosen and rejected responses tokenized once: row i is chosen, row N + i is rejected.

    :param reference: the frozen π_ref whose log-probs of every row are computed here, once.
    """

    def __init__(self, lm: LanguageModel, data: PreferenceDataset, reference: LanguageModel) -> None:
        prompts = data.column("prompt")
        self.data = data
        responses = data.column("chosen") + data.column("rejected")
        self.batch = encode(lm.tokenizer, prompts + prompts, responses, lm.context_length)  # (2N, P + R)
        self.reference_logps = sequence_logprobs_batched(reference.model, self.batch)  # (2N,)

    def pairs(self, indices: np.ndarray) -> tuple[SequenceBatch, torch.Tensor, torch.Tensor]:
        """Chosen rows then rejected rows of the given pairs ``(2B, ...)``, and their reference log-probs ``(B,)``."""
        n = len(self.data)
        rows = torch.as_tensor(np.concatenate([indices, indices + n]))
        return self.batch.select(rows), self.reference_logps[indices], self.reference_logps[indices + n]


class DPOTrainer:
    """Fits ``policy`` to preferences with a loss of :data:`~prefrl.lm.dpo.DPO_LOSSES`.

    :param policy: π_θ, trained in place (start it as a copy of π_SFT).
    :param reference: π_ref, frozen (π_SFT).
    :param config: loss, β and the optimizer's settings.
    """

    def __init__(self, policy: LanguageModel, reference: LanguageModel, config: DPOConfig = DPOConfig()) -> None:
        self.policy, self.reference, self.config = policy, reference, config
        self.loss_fn = DPO_LOSSES[config.loss]

    def step_loss(self, paired: PairedResponses, indices: np.ndarray) -> tuple[torch.Tensor, dict[str, float]]:
        """The loss of the pairs ``indices``: one forward pass over their chosen and rejected responses."""
        batch, reference_chosen, reference_rejected = paired.pairs(indices)
        logps = sequence_logprobs(self.policy.model, batch)  # (2B,)
        policy_chosen, policy_rejected = logps.chunk(2)  # (B,), (B,)
        cfg = self.config
        return self.loss_fn(
            policy_chosen, policy_rejected, reference_chosen, reference_rejected, cfg.beta, cfg.label_smoothing
        )

    def fit(
        self,
        train: PreferenceDataset,
        held_out: PreferenceDataset | None = None,
        *,
        progress: bool = False,
        log: MetricsLog | None = None,
    ) -> dict[str, float]:
        """``epochs`` passes over ``train``; returns the last step's metrics and, with ``held_out``, its
        implicit-reward accuracy ``eval/pref_accuracy`` (measured after each epoch)."""
        cfg = self.config
        paired = PairedResponses(self.policy, train, self.reference)
        held = PairedResponses(self.policy, held_out, self.reference) if held_out is not None else None
        return fit_pairs(
            self.policy.model.parameters(),
            lambda indices: self.step_loss(paired, indices),
            train,
            epochs=cfg.epochs,
            batch_size=cfg.batch_size,
            learning_rate=cfg.learning_rate,
            seed=cfg.seed,
            evaluate=None if held is None else lambda: self.preference_accuracy(held),
            desc=f"{cfg.loss} β={cfg.beta:g}",
            progress=progress,
            log=log,
        )

    @torch.no_grad()
    def preference_accuracy(self, paired: PairedResponses) -> float:
        """Share of pairs whose chosen response has the higher implicit reward β log π_θ/π_ref."""
        logps = sequence_logprobs_batched(self.policy.model, paired.batch)  # (2N,)
        rewards = implicit_rewards(logps, paired.reference_logps, self.config.beta)  # (2N,)
        chosen, rejected = rewards.chunk(2)
        return (chosen > rejected).float().mean().item()
