"""The shared [left-padded prompt | right-padded response] layout and its input checks."""

from __future__ import annotations

import pytest
import torch

from prefrl.lm.batching import encode, encode_prompts


def test_layout_left_pads_prompts_and_right_pads_responses(tiny_lm) -> None:
    tok = tiny_lm.tokenizer
    batch = encode(tok, ["praise the movie", "complain about the old food"], ["good", "bad sad"], 24)
    pad, eos = tok.pad_token_id, tok.eos_token_id
    assert batch.prompt_width == 5
    assert batch.input_ids[0, :2].tolist() == [pad, pad]
    assert batch.response_ids.tolist() == [[tok.convert_tokens_to_ids("good"), eos, pad],
                                           [*tok.convert_tokens_to_ids(["bad", "sad"]), eos]]
    assert batch.response_mask.tolist() == [[1, 1, 0], [1, 1, 1]]
    assert batch.position_ids[0, 2:6].tolist() == [0, 1, 2, 3]  # counting starts at the first real token


def test_select_trims_columns_no_selected_row_uses(tiny_lm) -> None:
    batch = encode(tiny_lm.tokenizer, ["praise the movie", "complain about the old food"], ["good", "bad sad"], 24)
    first = batch.select([0])
    assert first.prompt_width == 3 and first.input_ids.shape == (1, 5)
    assert torch.equal(first.response_ids, batch.response_ids[:1, :2])


@pytest.mark.parametrize(
    ("prompts", "responses", "error", "match"),
    [
        (["praise the movie"], [""], ValueError, "response 0 is empty"),
        (["praise the movie"], ["   "], ValueError, "response 0 is empty"),
        ([""], ["good"], ValueError, "prompt 0 is empty"),
        (["praise the movie", "praise the day"], ["good"], ValueError, "one response per prompt"),
        (["praise the movie"], [3], TypeError, "must be a str"),
        ("praise the movie", ["good"], TypeError, "list of prompts"),
        (["praise the movie " * 8], ["good"], ValueError, "more than the model's context of 24"),
    ],
)
def test_bad_input_gives_a_clear_error(tiny_lm, prompts, responses, error, match) -> None:
    with pytest.raises(error, match=match):
        encode(tiny_lm.tokenizer, prompts, responses, 24)


def test_prompt_must_leave_room_for_the_response(tiny_lm) -> None:
    with pytest.raises(ValueError, match="shorten the prompt"):
        encode_prompts(tiny_lm.tokenizer, ["praise the old movie"], context_length=24, max_new_tokens=21)
