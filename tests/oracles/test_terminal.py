"""TerminalOracle with scripted keys: the key map, re-asking on bad input, text pairs, stopping early."""

from __future__ import annotations

import io
from typing import Callable, Iterable

import numpy as np
import pytest

from prefrl.oracles import ORACLES, Oracle, make_oracle
from prefrl.oracles.human import TerminalOracle
from prefrl.oracles.human.terminal import KEYS
from prefrl.types import Label, Segment, SegmentPair


def segment(reward: float, env_index: int = 0) -> Segment:
    return Segment(obs=np.zeros((4, 2)), actions=np.zeros(4), true_rewards=np.full(4, reward), env_index=env_index)


def scripted(keys: Iterable[str]) -> tuple[Callable[[str], str], list[str]]:
    """An input function that replays ``keys`` and records the prompts it was shown; EOF when they run out."""
    remaining = list(keys)
    prompts: list[str] = []

    def input_fn(prompt: str) -> str:
        prompts.append(prompt)
        if not remaining:
            raise EOFError
        return remaining.pop(0)

    return input_fn, prompts


def pairs(n: int) -> list[SegmentPair]:
    return [(segment(1.25 + i, env_index=i), segment(-3.5, env_index=7)) for i in range(n)]


@pytest.mark.parametrize("key", sorted(KEYS))
def test_every_key_maps_to_its_label(key: str) -> None:
    input_fn, _ = scripted([key])
    labels = TerminalOracle(input_fn=input_fn, output=io.StringIO()).label(pairs(1))
    assert labels == [KEYS[key]]


def test_keys_cover_every_label() -> None:
    assert {label for label in KEYS.values() if label is not None} == set(Label)


def test_invalid_input_asks_again_and_case_and_spaces_are_forgiven() -> None:
    input_fn, prompts = scripted(["x", "", "left", " L ", "2", "E", "?"])
    output = io.StringIO()
    labels = TerminalOracle(input_fn=input_fn, output=output).label(pairs(4))
    assert labels == [Label.LEFT, Label.RIGHT, Label.EQUAL, Label.CANT_TELL]
    assert len(prompts) == 7  # three bad answers for the first pair, each asked again
    text = output.getvalue()
    assert text.count("is not an answer") == 3 and "'x' is not an answer" in text


def test_clip_pairs_show_length_and_env_but_never_the_true_reward() -> None:
    input_fn, _ = scripted(["1", "r"])
    output = io.StringIO()
    TerminalOracle(input_fn=input_fn, output=output).label(pairs(2))
    text = output.getvalue()
    assert "Pair 1 of 2" in text and "Pair 2 of 2" in text
    assert "4 steps from env 0" in text and "4 steps from env 7" in text
    for hidden in ("1.25", "5.0", "-3.5", "-14.0", "reward", "return"):  # per-step rewards and returns
        assert hidden not in text.lower()


def test_text_pairs_show_prompt_and_both_responses() -> None:
    input_fn, _ = scripted(["r"])
    output = io.StringIO()

    def text_of(pair: SegmentPair) -> dict[str, str]:
        return {"prompt": "Write a haiku.", "left": "Leaves fall\nquietly", "right": "No."}

    labels = TerminalOracle(input_fn=input_fn, output=output, text_of=text_of).label(pairs(1))
    assert labels == [Label.RIGHT]
    text = output.getvalue()
    assert "Write a haiku." in text and "    Leaves fall\n    quietly" in text and "No." in text
    assert "steps from env" not in text


def test_a_bad_text_of_says_what_to_return() -> None:
    input_fn, _ = scripted(["1"])
    oracle = TerminalOracle(input_fn=input_fn, output=io.StringIO(), text_of=lambda pair: {"prompt": "x"})
    with pytest.raises(TypeError, match="'prompt', 'left' and 'right'"):
        oracle.label(pairs(1))


def test_q_or_end_of_input_leaves_the_rest_pending() -> None:
    input_fn, _ = scripted(["1", "q"])
    output = io.StringIO()
    assert TerminalOracle(input_fn=input_fn, output=output).label(pairs(4)) == [Label.LEFT, None, None, None]
    assert "3 pair(s) left unanswered" in output.getvalue()

    input_fn, _ = scripted(["2"])  # EOF after one answer, e.g. a closed pipe
    assert TerminalOracle(input_fn=input_fn, output=io.StringIO()).label(pairs(3)) == [Label.RIGHT, None, None]


def test_no_pairs_asks_nothing() -> None:
    input_fn, prompts = scripted([])
    assert TerminalOracle(input_fn=input_fn, output=io.StringIO()).label([]) == []
    assert prompts == []


def test_registered_as_terminal_and_is_an_oracle() -> None:
    assert ORACLES["terminal"] is TerminalOracle
    input_fn, _ = scripted(["e"])
    oracle = make_oracle("terminal", input_fn=input_fn, output=io.StringIO())
    assert isinstance(oracle, Oracle) and oracle.name == "terminal"
    assert oracle.label(pairs(1)) == [Label.EQUAL]


def test_writes_to_stdout_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    input_fn, _ = scripted(["l"])
    TerminalOracle(input_fn=input_fn).label(pairs(1))
    assert "Pair 1 of 1" in capsys.readouterr().out


@pytest.mark.parametrize("kwargs", [{"input_fn": "1"}, {"text_of": "not callable"}])
def test_bad_arguments_are_type_errors(kwargs: dict[str, object]) -> None:
    with pytest.raises(TypeError):
        TerminalOracle(**kwargs)  # type: ignore[arg-type]
