"""Sequence log-probs: a sum over response tokens only; prompt position and padding change nothing."""

from __future__ import annotations

import torch
from torch.nn import functional as F

from prefrl.lm.batching import SequenceBatch, encode
from prefrl.lm.logprobs import sequence_logprobs, sequence_logprobs_batched, token_logprobs

PROMPTS = ["praise the movie", "complain about the old food"]
RESPONSES = ["good and nice", "bad"]


def test_sum_over_response_tokens_matches_a_plain_forward_pass(tiny_lm) -> None:
    tok = tiny_lm.tokenizer
    batch = encode(tok, PROMPTS, RESPONSES, 24)
    got = sequence_logprobs(tiny_lm.model, batch)
    for row, (prompt, response) in enumerate(zip(PROMPTS, RESPONSES)):
        prompt_ids = tok(prompt)["input_ids"]
        ids = prompt_ids + tok(response)["input_ids"] + [tok.eos_token_id]
        log_probs = F.log_softmax(tiny_lm.model(torch.tensor([ids])).logits[0], -1)  # (T, V)
        expected = sum(log_probs[t - 1, ids[t]] for t in range(len(prompt_ids), len(ids)))
        torch.testing.assert_close(got[row], expected, rtol=1e-5, atol=1e-5)


def test_padding_tokens_and_extra_padding_leave_log_probs_unchanged(tiny_lm) -> None:
    batch = encode(tiny_lm.tokenizer, PROMPTS, RESPONSES, 24)
    reference = sequence_logprobs(tiny_lm.model, batch)
    garbage = torch.where(batch.attention_mask.bool(), batch.input_ids, torch.full_like(batch.input_ids, 7))
    widened = SequenceBatch(  # two more padding columns on each side
        torch.nn.functional.pad(garbage, (2, 2), value=9),
        torch.nn.functional.pad(batch.attention_mask, (2, 2), value=0),
        batch.prompt_width + 2,
    )
    torch.testing.assert_close(sequence_logprobs(tiny_lm.model, widened), reference, rtol=1e-5, atol=1e-5)


def test_prompt_tokens_are_not_counted(tiny_lm) -> None:
    """Moving the prompt/response boundary moves tokens out of the sum: only response tokens count."""
    batch = encode(tiny_lm.tokenizer, ["praise the movie"], ["good and nice"], 24)
    per_token = token_logprobs(tiny_lm.model, batch)  # (1, R)
    shifted = SequenceBatch(batch.input_ids, batch.attention_mask, batch.prompt_width + 1)  # "good" now prompt
    torch.testing.assert_close(sequence_logprobs(tiny_lm.model, shifted), per_token[:, 1:].sum(-1))


def test_batched_reference_log_probs_equal_one_pass(tiny_lm) -> None:
    batch = encode(tiny_lm.tokenizer, PROMPTS * 3, RESPONSES * 3, 24)
    torch.testing.assert_close(
        sequence_logprobs_batched(tiny_lm.model, batch, batch_size=4),
        sequence_logprobs(tiny_lm.model, batch).detach(),
        rtol=1e-5,
        atol=1e-5,
    )
