"""Token batches of (prompt, response) pairs in the one layout every stage uses.

Each row is ``[left-padded prompt | right-padded response]``: the prompt block has width ``P`` and ends at
column ``P − 1`` in every row, the response block starts at column ``P``. Generation produces exactly this
layout (prompts are left-padded so that all rows continue from the same column), and scoring, the reward
model, DPO and PPO read it unchanged, so a sampled response is scored on the very tokens it was sampled from.
Position ids count only attended tokens, so padding on either side changes nothing (DESIGN.md, "DPO details").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
from transformers import PreTrainedTokenizerBase


@dataclass(frozen=True)
class SequenceBatch:
    """Prompt + response token ids of ``B`` rows.

    :param input_ids: ``(B, P + R)`` token ids; padding holds the pad id.
    :param attention_mask: ``(B, P + R)``, 1 on prompt and response tokens, 0 on padding.
    :param prompt_width: ``P``, the width of the (left-padded) prompt block.
    """

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    prompt_width: int

    @property
    def response_mask(self) -> torch.Tensor:
        """``(B, R)``: 1 on response tokens (``<eos>`` included), 0 on padding."""
        return self.attention_mask[:, self.prompt_width :]

    @property
    def response_ids(self) -> torch.Tensor:
        """``(B, R)`` response token ids."""
        return self.input_ids[:, self.prompt_width :]

    @property
    def response_lengths(self) -> torch.Tensor:
        """``(B,)`` response tokens per row."""
        return self.response_mask.sum(-1)

    @property
    def position_ids(self) -> torch.Tensor:
        """``(B, P + R)``: 0 at each row's first real token, whatever the padding before it."""
        return (self.attention_mask.cumsum(-1) - 1).clamp_min(0)

    def __len__(self) -> int:
        return self.input_ids.shape[0]

    def select(self, rows: torch.Tensor | Sequence[int]) -> "SequenceBatch":
        """The given rows, with the padding columns no selected row needs trimmed from both ends."""
        rows = torch.as_tensor(rows, dtype=torch.long)
        ids, mask = self.input_ids[rows], self.attention_mask[rows]
        width = self.prompt_width
        start = int(mask[:, :width].any(0).int().argmax())  # first prompt column a row uses (prompts are non-empty)
        response_used = mask[:, width:].any(0).nonzero()
        stop = width + (int(response_used.max()) + 1 if len(response_used) else 0)
        return SequenceBatch(ids[:, start:stop], mask[:, start:stop], width - start)


def encode_prompts(
    tokenizer: PreTrainedTokenizerBase, prompts: Sequence[str], context_length: int, max_new_tokens: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Left-padded prompt ids and mask ``(B, P)``, checked to leave ``max_new_tokens`` of context."""
    encoded = _encode(tokenizer, prompts, "prompt")
    limit = context_length - max_new_tokens
    for index, ids in enumerate(encoded):
        if len(ids) > limit:
            raise ValueError(
                f"prompt {index} ({prompts[index][:60]!r}) has {len(ids)} tokens, but the context holds "
                f"{context_length} and {max_new_tokens} are kept for the response; shorten the prompt (at most "
                f"{limit} tokens) or use a model with a longer context."
            )
    return _pad(encoded, tokenizer.pad_token_id, left=True)


def encode_responses(
    tokenizer: PreTrainedTokenizerBase, responses: Sequence[str]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded response ids and mask ``(B, R)``, each response ended by the tokenizer's eos token."""
    encoded = [ids + [tokenizer.eos_token_id] for ids in _encode(tokenizer, responses, "response")]
    return _pad(encoded, tokenizer.pad_token_id, left=False)


def join(
    prompt_ids: torch.Tensor, prompt_mask: torch.Tensor, response_ids: torch.Tensor, response_mask: torch.Tensor
) -> SequenceBatch:
    """Prompt block ``(B, P)`` and response block ``(B, R)`` side by side."""
    if prompt_ids.shape[0] != response_ids.shape[0]:
        raise ValueError(
            f"{prompt_ids.shape[0]} prompts and {response_ids.shape[0]} responses; pass one response per prompt."
        )
    ids = torch.cat([prompt_ids, response_ids], dim=1)
    mask = torch.cat([prompt_mask, response_mask], dim=1)
    return SequenceBatch(ids, mask, prompt_ids.shape[1])


def encode(
    tokenizer: PreTrainedTokenizerBase, prompts: Sequence[str], responses: Sequence[str], context_length: int
) -> SequenceBatch:
    """Tokenize (prompt, response) pairs into a :class:`SequenceBatch`; each row must fit the context."""
    prompt_ids, prompt_mask = encode_prompts(tokenizer, prompts, context_length, 0)
    response_ids, response_mask = encode_responses(tokenizer, responses)
    batch = join(prompt_ids, prompt_mask, response_ids, response_mask)
    lengths = batch.attention_mask.sum(-1)  # (B,)
    too_long = (lengths > context_length).nonzero()
    if len(too_long):
        row = int(too_long[0])
        raise ValueError(
            f"row {row}: prompt {prompts[row][:60]!r} and its response take {int(lengths[row])} tokens, more than "
            f"the model's context of {context_length}; shorten them or use a model with a longer context."
        )
    return batch


def _encode(tokenizer: PreTrainedTokenizerBase, texts: Sequence[str], what: str) -> list[list[int]]:
    if isinstance(texts, str):
        raise TypeError(f"{what}s={texts[:60]!r} is one string; pass a list of {what}s.")
    for index, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"{what} {index} is a {type(text).__name__} ({text!r}); each {what} must be a str.")
        if not text.strip():
            raise ValueError(f"{what} {index} is empty ({text!r}); every {what} needs at least one token.")
    return tokenizer(list(texts), add_special_tokens=False)["input_ids"]


def _pad(sequences: list[list[int]], pad_id: int, left: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """``(B, max_len)`` ids and mask, padded on the left or the right."""
    width = max(len(seq) for seq in sequences)
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, seq in enumerate(sequences):
        span = slice(width - len(seq), width) if left else slice(0, len(seq))
        ids[row, span] = torch.tensor(seq, dtype=torch.long)
        mask[row, span] = 1
    return ids, mask
