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
