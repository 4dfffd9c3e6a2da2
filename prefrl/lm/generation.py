"""Sampling responses: left-padded prompts, a key/value cache, and the temperature the scorer uses too.

Logits come from the same backbone-plus-head path as :mod:`prefrl.lm.logprobs`, divided by the same
temperature, so the log-probs PPO computes for a sampled token are those of the distribution it was drawn
from (DESIGN.md, RLHF pitfalls). Rows that have emitted ``<eos>`` keep stepping (the batch moves together)
but their later tokens are replaced by padding and masked.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Sequence

import torch

from prefrl.lm.batching import SequenceBatch, encode_prompts, join
from prefrl.lm.models import LanguageModel


@dataclass(frozen=True)
class Generation:
    """Sampled (or greedy) responses to a batch of prompts.

    :param batch: prompts and responses in the shared layout; ``<eos>`` is part of a response that ended.
    :param ended: ``(B,)`` whether each response emitted ``<eos>`` within the token budget.
    :param texts: the decoded responses, special tokens removed.
    """

    batch: SequenceBatch
    ended: torch.Tensor
    texts: list[str]


@torch.no_grad()
def generate(
    lm: LanguageModel,
    prompts: Sequence[str],
    max_new_tokens: int,
    *,
    temperature: float = 1.0,
    greedy: bool = False,
    generator: torch.Generator | None = None,
) -> Generation:
    """Respond to each prompt with at most ``max_new_tokens`` tokens.

    :param temperature: sampling distribution softmax(logits / temperature); ignored when ``greedy``.
    :param greedy: take the most likely token at each step (deterministic evaluation).
    :param generator: the source of sampling randomness, for reproducible rollouts.
    """
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens={max_new_tokens} is not allowed: generate at least 1 token.")
    if temperature <= 0:
        raise ValueError(f"temperature={temperature} is not allowed: it must be > 0 (use greedy=True for argmax).")
    tokenizer, backbone = lm.tokenizer, lm.model.base_model
    head = lm.model.get_output_embeddings()
    prompt_ids, prompt_mask = encode_prompts(tokenizer, prompts, lm.context_length, max_new_tokens)
    rows = prompt_ids.shape[0]
    eos, pad = tokenizer.eos_token_id, tokenizer.pad_token_id

    cache_key = _cache_keyword(backbone)
    mask = prompt_mask  # (B, P + t)
    positions = (prompt_mask.cumsum(-1) - 1).clamp_min(0)  # (B, P)
    step_input, cache = prompt_ids, None
    tokens, alive = [], torch.ones(rows, dtype=torch.bool)
    for _ in range(max_new_tokens):
        output = backbone(
            input_ids=step_input, attention_mask=mask, position_ids=positions, use_cache=True, **{cache_key: cache}
        )
        cache = output[cache_key]
        logits = head(output.last_hidden_state[:, -1]).float()  # (B, V)
        if greedy:
            token = logits.argmax(-1)  # (B,)
        else:
            probs = torch.softmax(logits / temperature, dim=-1)
            token = torch.multinomial(probs, 1, generator=generator).squeeze(-1)  # (B,)
        tokens.append(torch.where(alive, token, torch.full_like(token, pad)))
        alive = alive & (token != eos)
        if not alive.any():
            break
        step_input = token.unsqueeze(-1)  # (B, 1)
        positions = positions[:, -1:] + 1
        mask = torch.cat([mask, torch.ones(rows, 1, dtype=mask.dtype)], dim=1)

    response_ids = torch.stack(tokens, dim=1)  # (B, R)
    response_mask = _until_eos(response_ids, eos).long()
    texts = tokenizer.batch_decode(response_ids, skip_special_tokens=True)
    return Generation(join(prompt_ids, prompt_mask, response_ids, response_mask), ~alive, texts)


def _until_eos(response_ids: torch.Tensor, eos: int) -> torch.Tensor:
    """``(B, R)`` mask up to and including the first ``<eos>`` (correct also when the pad token is ``<eos>``)."""
    is_eos = (response_ids == eos).long()
    before = is_eos.cumsum(-1) - is_eos  # eos tokens strictly before each position
    return before == 0


def _cache_keyword(backbone: torch.nn.Module) -> str:
    """``cache`` in recent ``transformers``, ``past_key_values`` before; both name the output field too."""
    parameters: dict[str, Any] = inspect.signature(backbone.forward).parameters
    return "cache" if "cache" in parameters else "past_key_values"


def respond(
    lm: LanguageModel, prompts: Sequence[str], max_new_tokens: int, batch_size: int = 256, **kwargs: Any
) -> list[str]:
    """Decoded responses to any number of prompts, ``batch_size`` at a time; ``kwargs`` go to :func:`generate`."""
    texts: list[str] = []
    for start in range(0, len(prompts), batch_size):
        texts += generate(lm, prompts[start : start + batch_size], max_new_tokens, **kwargs).texts
    return texts
