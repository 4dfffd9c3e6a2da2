"""Generation: left-padded prompts, masks up to <eos>, and log-probs that match what was sampled."""

from __future__ import annotations

import pytest
import torch

from prefrl.lm.generation import generate
from prefrl.lm.logprobs import response_log_distributions


def test_greedy_is_deterministic_and_masks_end_at_eos(tiny_lm) -> None:
    prompts = ["praise the movie", "complain about the old food", "praise the day"]
    first = generate(tiny_lm, prompts, 6, greedy=True)
    second = generate(tiny_lm, prompts, 6, greedy=True)
    assert torch.equal(first.batch.input_ids, second.batch.input_ids)
    eos = tiny_lm.tokenizer.eos_token_id
    for row in range(len(prompts)):
        ids, mask = first.batch.response_ids[row], first.batch.response_mask[row]
        length = int(mask.sum())
        assert mask[:length].all() and not mask[length:].any()
        assert bool(first.ended[row]) == bool((ids[:length] == eos).any())


def test_samples_follow_the_distribution_the_scorer_computes_at_that_temperature(tiny_lm) -> None:
    """The empirical first-token distribution matches softmax(logits / T) at the sampling T, not at T = 1."""
    with torch.no_grad():  # an untrained model's logits are nearly equal; spread them so T matters
        tiny_lm.model.get_output_embeddings().weight.mul_(8.0)
    samples = generate(tiny_lm, ["praise the movie"] * 4000, 1, temperature=0.5,
                       generator=torch.Generator().manual_seed(0))
    counts = torch.bincount(samples.batch.response_ids[:, 0], minlength=len(tiny_lm.tokenizer)).float()
    empirical = counts / counts.sum()

    def scorer(temperature: float) -> torch.Tensor:
        return response_log_distributions(tiny_lm.model, samples.batch.select([0]), temperature)[0, 0].exp()

    assert (empirical - scorer(0.5)).abs().sum() / 2 < 0.04  # total variation: sampling noise only
    assert (empirical - scorer(1.0)).abs().sum() / 2 > 0.1


def test_bad_generation_settings_are_rejected(tiny_lm) -> None:
    with pytest.raises(ValueError, match="temperature"):
        generate(tiny_lm, ["praise the movie"], 4, temperature=0.0)
    with pytest.raises(ValueError, match="max_new_tokens"):
        generate(tiny_lm, ["praise the movie"], 0)
