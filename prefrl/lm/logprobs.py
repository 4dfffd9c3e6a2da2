"""Sequence log-probabilities: the one place log π(y | x) is computed (DESIGN.md, "Language models").

    log π(y | x) = Σₜ log π(yₜ | x, y<ₜ)          (a sum over response tokens, not a mean)

Prompt and padding tokens are masked out, and the LM head is applied only to the hidden states that predict
a response token (columns ``P − 1 … P + R − 2`` of a :class:`~prefrl.lm.batching.SequenceBatch`), so a long
prompt costs attention but no vocabulary-sized logits. This assumes logits = output embeddings applied to the
backbone's last hidden state, which holds for GPT-2, Llama, Mistral and most causal LMs of ``transformers``.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from prefrl.lm.batching import SequenceBatch


def backbone_hidden(model: torch.nn.Module, batch: SequenceBatch) -> torch.Tensor:
    """Last hidden states of the transformer without its LM head, ``(B, P + R, H)``."""
    output = model.base_model(
        input_ids=batch.input_ids, attention_mask=batch.attention_mask, position_ids=batch.position_ids
    )
    return output.last_hidden_state


def response_states(model: torch.nn.Module, batch: SequenceBatch) -> torch.Tensor:
    """Hidden states that predict each response token, ``(B, R, H)``: state t sees x and y<ₜ."""
    hidden = backbone_hidden(model, batch)  # (B, P + R, H)
    start = batch.prompt_width - 1
    return hidden[:, start : start + batch.response_ids.shape[1]]


def response_log_distributions(
    model: torch.nn.Module, batch: SequenceBatch, temperature: float = 1.0, states: torch.Tensor | None = None
) -> torch.Tensor:
    """log π(· | x, y<ₜ) over the vocabulary at every response position, ``(B, R, V)``.

    :param temperature: logits are divided by it, here and wherever these log-probs are compared with samples,
        so sampling and scoring see the same distribution (DESIGN.md, RLHF pitfalls).
    :param states: the output of :func:`response_states`, when the caller already has it (PPO's value head).
    """
    if states is None:
        states = response_states(model, batch)
    logits = model.get_output_embeddings()(states).float()  # (B, R, V)
    return F.log_softmax(logits / temperature, dim=-1)


def token_logprobs(
    model: torch.nn.Module, batch: SequenceBatch, temperature: float = 1.0, states: torch.Tensor | None = None
) -> torch.Tensor:
    """log π(yₜ | x, y<ₜ) at each response token, 0 on padding, ``(B, R)``."""
    log_dist = response_log_distributions(model, batch, temperature, states)  # (B, R, V)
    picked = log_dist.gather(-1, batch.response_ids.unsqueeze(-1)).squeeze(-1)  # (B, R)
    return picked * batch.response_mask


def sequence_logprobs(model: torch.nn.Module, batch: SequenceBatch, temperature: float = 1.0) -> torch.Tensor:
    """log π(y | x) = Σₜ log π(yₜ | x, y<ₜ) over response tokens, ``(B,)``."""
    return token_logprobs(model, batch, temperature).sum(-1)


@torch.no_grad()
def sequence_logprobs_batched(
    model: torch.nn.Module, batch: SequenceBatch, batch_size: int = 256, temperature: float = 1.0
) -> torch.Tensor:
    """:func:`sequence_logprobs` without gradients, ``batch_size`` rows at a time: reference log-probs of a
    whole data set, computed once (DESIGN.md, "DPO details")."""
    chunks = [
        sequence_logprobs(model, batch.select(torch.arange(start, min(start + batch_size, len(batch)))), temperature)
        for start in range(0, len(batch), batch_size)
    ]
    return torch.cat(chunks)
