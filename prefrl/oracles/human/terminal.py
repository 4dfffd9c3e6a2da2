"""The terminal oracle: a person answers each pair at a prompt, one key per pair.

For someone without a browser, and above all for text pairs (two responses to one prompt), which the
language-model side asks about and which read well in a terminal. It answers synchronously, so it suits small
runs and debugging; the web page (:mod:`prefrl.oracles.human.server`) is the asynchronous front end.

The true reward is never shown: the person must judge the behaviour, not read the answer off the screen.
"""

from __future__ import annotations

import sys
from typing import Callable, Mapping, Sequence, TextIO, TypedDict

from prefrl.config import TrainConfig
from prefrl.oracles.base import register_oracle
from prefrl.types import Label, Segment, SegmentPair

__all__ = ["KEYS", "TerminalOracle", "TextPair", "as_text_pair"]


class TextPair(TypedDict):
    """A text comparison: two responses to one prompt (InstructGPT's ``(x, y_1, y_2)``)."""

    prompt: str
    left: str
    right: str


KEYS: dict[str, Label | None] = {
    "1": Label.LEFT,
    "l": Label.LEFT,
    "2": Label.RIGHT,
    "r": Label.RIGHT,
    "e": Label.EQUAL,
    "s": Label.CANT_TELL,
    "?": Label.CANT_TELL,
    "q": None,
}
"""Key -> answer. ``q`` stops asking: this pair and the rest of the batch stay pending in the store."""

_HELP = "[1/l] left better  [2/r] right better  [e] equal  [s/?] can't tell  [q] stop"


def as_text_pair(value: object, where: str) -> TextPair | None:
    """Check what a user's ``text_of`` callable returned: ``None`` (not a text pair) or a :class:`TextPair`.

    :param where: names the callable in the error, so a bad return value points at the user's own function.
    """
    if value is None:
        return None
    if not isinstance(value, Mapping) or set(value) != {"prompt", "left", "right"}:
        raise TypeError(
            f"{where} returned {value!r}; it must return None (not a text pair) or a dict with exactly the keys "
            "'prompt', 'left' and 'right'."
        )
    for key in ("prompt", "left", "right"):
        if not isinstance(value[key], str):
            raise TypeError(f"{where} returned {key}={value[key]!r}; all three entries must be str.")
    return TextPair(prompt=value["prompt"], left=value["left"], right=value["right"])


@register_oracle("terminal")
class TerminalOracle:
    """Prints each pair and reads one key per pair; invalid input asks again.

    :param input_fn: reads one answer given a prompt string (``input`` by default; a scripted function in tests).
        ``EOFError`` from it (Ctrl-D, a closed pipe) stops asking, like ``q``.
    :param output: where the pairs and the prompt are written (``sys.stdout`` by default).
    :param text_of: for text pairs, returns a :class:`TextPair` for a ``(left, right)`` segment pair, or ``None``
        for a pair of clips. Without it every pair is shown as clips (their length and env index).
    """

    name = "terminal"

    def __init__(
        self,
        input_fn: Callable[[str], str] = input,
        output: TextIO | None = None,
        text_of: Callable[[SegmentPair], Mapping[str, str] | None] | None = None,
    ) -> None:
        if not callable(input_fn):
            raise TypeError(f"input_fn={input_fn!r} must be callable like input(prompt) -> str.")
        if text_of is not None and not callable(text_of):
            raise TypeError(f"text_of={text_of!r} must be None or a callable (left, right) pair -> dict or None.")
        self.input_fn = input_fn
        # Resolved at call time when None, so pytest's capsys (which swaps sys.stdout) sees the output.
        self.output = output
        self.text_of = text_of

    @classmethod
    def from_train_config(cls, config: TrainConfig) -> TerminalOracle:
        """The terminal oracle of a run: stdin and stdout (``prefrl train --oracle terminal``)."""
        return cls()

    def label(self, pairs: Sequence[SegmentPair]) -> list[Label | None]:
        """Ask about each pair in turn; after ``q`` (or end of input) the rest are ``None``, i.e. left pending."""
        labels: list[Label | None] = []
        for index, pair in enumerate(pairs):
            self._show(index, len(pairs), pair)
            answer = self._ask()
            if answer is None:
                self._write(f"Stopped; {len(pairs) - index} pair(s) left unanswered.\n")
                return labels + [None] * (len(pairs) - index)
            labels.append(answer)
        return labels

    def _show(self, index: int, total: int, pair: SegmentPair) -> None:
        left, right = pair
        text = as_text_pair(self.text_of(pair), "text_of") if self.text_of is not None else None
        lines = [f"\n=== Pair {index + 1} of {total} ==="]
        if text is not None:
            lines += ["Prompt:", _indent(text["prompt"]), "Left response:", _indent(text["left"]),
                      "Right response:", _indent(text["right"])]
        else:
            # Deliberately no true reward here: the person must judge the clips, not read the answer.
            lines += [f"Left clip:  {_describe(left)}", f"Right clip: {_describe(right)}"]
        lines.append(_HELP)
        self._write("\n".join(lines) + "\n")

    def _ask(self) -> Label | None:
        while True:
            try:
                raw = self.input_fn("Which is better? ")
            except EOFError:
                return None
            key = str(raw).strip().lower()
            if key in KEYS:
                return KEYS[key]
            self._write(f"{raw!r} is not an answer; type one of the keys: {_HELP}\n")

    def _write(self, text: str) -> None:
        stream = self.output if self.output is not None else sys.stdout
        stream.write(text)
        stream.flush()


def _describe(segment: Segment) -> str:
    return f"{segment.length} steps from env {segment.env_index} (policy timestep {segment.timestep})"


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in (text.splitlines() or [""]))
