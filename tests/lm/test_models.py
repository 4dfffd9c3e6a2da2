"""Models load from a local folder and round-trip, with no download."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoTokenizer

from prefrl.lm.models import build_default, load_pretrained


def test_model_and_tokenizer_round_trip_through_a_local_folder(tiny_lm, tmp_path) -> None:
    folder = tiny_lm.save(tmp_path / "model")
    loaded = load_pretrained(folder)
    text = "praise the old movie"
    assert loaded.tokenizer(text)["input_ids"] == tiny_lm.tokenizer(text)["input_ids"]
    assert AutoTokenizer.from_pretrained(folder)(text)["input_ids"] == tiny_lm.tokenizer(text)["input_ids"]
    assert loaded.tokenizer.decode(tiny_lm.tokenizer(text)["input_ids"]) == text
    ids = torch.tensor([tiny_lm.tokenizer(text)["input_ids"]])
    torch.testing.assert_close(loaded.model(ids).logits, tiny_lm.model(ids).logits)
    assert not loaded.model.training  # dropout off


def test_default_model_is_deterministic_under_a_seed() -> None:
    first, second = build_default(seed=3), build_default(seed=3)
    for a, b in zip(first.model.parameters(), second.model.parameters()):
        assert torch.equal(a, b)
    assert first.context_length == 32


def test_copy_is_independent(tiny_lm) -> None:
    clone = tiny_lm.copy()
    with torch.no_grad():
        next(clone.model.parameters()).add_(1.0)
    assert not torch.equal(next(clone.model.parameters()), next(tiny_lm.model.parameters()))


def test_missing_folder_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="save_pretrained"):
        load_pretrained(tmp_path / "nothing-here")


def test_another_architecture_from_a_local_folder_works_end_to_end(tiny_lm, tmp_path) -> None:
    """Nothing is GPT-2 specific: a tiny Llama saved locally generates and scores like the embedded model."""
    from transformers import LlamaConfig, LlamaForCausalLM

    from prefrl.lm.batching import encode
    from prefrl.lm.generation import generate
    from prefrl.lm.logprobs import sequence_logprobs
    from prefrl.lm.models import LanguageModel

    tok = tiny_lm.tokenizer
    config = LlamaConfig(vocab_size=len(tok), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=24,
                         pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id, bos_token_id=tok.eos_token_id)
    torch.manual_seed(0)
    folder = LanguageModel(LlamaForCausalLM(config), tok).save(tmp_path / "llama")
    llama = load_pretrained(folder)
    assert llama.context_length == 24
    generation = generate(llama, ["praise the movie", "complain about the old food"], 4, greedy=True)
    assert generation.batch.response_mask.sum() >= 2
    batch = encode(tok, ["praise the movie"], ["good and nice"], 24)
    ids = batch.input_ids  # no padding in a single row
    log_probs = torch.log_softmax(llama.model(ids).logits[0], -1)
    expected = sum(log_probs[t - 1, ids[0, t]] for t in range(batch.prompt_width, ids.shape[1]))
    torch.testing.assert_close(sequence_logprobs(llama.model, batch)[0], expected, rtol=1e-5, atol=1e-5)
