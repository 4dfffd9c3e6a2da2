"""The embedded task: a tiny generated language with a programmatic reward, so nothing is downloaded.

A prompt asks to ``praise`` or ``complain about`` a subject (``praise the old movie``). A response is a short
string of words (``was very good and warm``) ended by ``<eos>``. The true reward counts sentiment words with
the sign the instruction asks for:

    r(x, y) = s(x) · (#positive words − #negative words) / max_response_words ∈ [−1, 1],

with s = +1 for ``praise`` and −1 for ``complain``. The SFT demonstrations pick sentiment words at random,
whatever the instruction, so π_SFT writes fluent responses whose expected reward is 0: preference learning has
to discover that the instruction matters — a contextual bandit (DESIGN.md, "Language models") that a two-layer
model learns in minutes on two cores.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from prefrl.lm.config import TaskConfig

PAD, EOS, UNK = "<pad>", "<eos>", "<unk>"
SPECIAL_TOKENS = (PAD, EOS, UNK)

INSTRUCTIONS = {"praise": 1.0, "complain about": -1.0}
"""Instruction -> sign s(x) of the reward."""
SUBJECTS = ("movie", "food", "day", "book", "song", "room", "trip", "game", "show", "city")
MODIFIERS = ("old", "new", "last", "local", "long", "short")
POSITIVE = ("good", "great", "happy", "lovely", "nice", "bright", "warm", "fun")
NEGATIVE = ("bad", "awful", "sad", "poor", "dull", "cold", "grim", "boring")
NEUTRAL = ("was", "is", "the", "a", "very", "and", "it", "quite", "so", "really", "but", "too")

_SENTIMENT = POSITIVE + NEGATIVE
_POLARITY = {**{word: 1.0 for word in POSITIVE}, **{word: -1.0 for word in NEGATIVE}}

# Share of sentiment words in a demonstration: enough that sampled responses differ in reward.
_SENTIMENT_SHARE = 0.4


def vocabulary() -> list[str]:
    """Every token of the language, special tokens first (so ``<pad>`` is id 0)."""
    words = [word for instruction in INSTRUCTIONS for word in instruction.split()]
    words += ["the", *SUBJECTS, *MODIFIERS, *POSITIVE, *NEGATIVE, *NEUTRAL]
    return list(SPECIAL_TOKENS) + list(dict.fromkeys(words))


@dataclass(frozen=True)
class SentimentTask:
    """Prompts, demonstrations and the programmatic reward of the embedded language.

    :param config: sizes and seed of the generated prompt sets.
    """

    config: TaskConfig = TaskConfig()

    def prompts(self, split: str) -> list[str]:
        """The ``"train"`` or ``"eval"`` prompts: fixed by the config's seed, the two splits disjoint in draws."""
        if split not in ("train", "eval"):
            raise ValueError(f"split={split!r} is not a split; use 'train' or 'eval'.")
        count = self.config.train_prompts if split == "train" else self.config.eval_prompts
        rng = np.random.default_rng([self.config.seed, 0 if split == "train" else 1])
        return [self._prompt(rng) for _ in range(count)]

    def demonstrations(self, count: int, rng: np.random.Generator) -> tuple[list[str], list[str]]:
        """``count`` (prompt, response) pairs for SFT: fluent responses with sentiment words drawn at random."""
        prompts = self.prompts("train")
        chosen = rng.integers(len(prompts), size=count)
        responses = [self._response(rng) for _ in range(count)]
        return [prompts[i] for i in chosen], responses

    def word_rewards(self, prompt: str, response: str) -> np.ndarray:
        """Each word's share of r(x, y), ``(L,)``: ±s(x)/max_response_words on sentiment words, else 0."""
        scale = self.sign(prompt) / self.config.max_response_words
        return np.array([scale * _POLARITY.get(word, 0.0) for word in response.split()], dtype=np.float64)

    def rewards(self, prompts: Sequence[str], responses: Sequence[str]) -> np.ndarray:
        """r(x, y) for each pair, ``(N,)``; words outside the language count as neutral."""
        if len(prompts) != len(responses):
            raise ValueError(
                f"got {len(prompts)} prompts and {len(responses)} responses; pass one response per prompt."
            )
        return np.array([self.word_rewards(p, r).sum() for p, r in zip(prompts, responses)], dtype=np.float64)

    @staticmethod
    def sign(prompt: str) -> float:
        """s(x): +1 for a prompt that asks for praise, −1 for one that asks for complaints."""
        for instruction, sign in INSTRUCTIONS.items():
            if prompt.startswith(instruction + " "):
                return sign
        allowed = ", ".join(repr(instruction) for instruction in INSTRUCTIONS)
        raise ValueError(f"prompt={prompt!r} does not start with an instruction of the task; use one of {allowed}.")

    def _prompt(self, rng: np.random.Generator) -> str:
        instruction = list(INSTRUCTIONS)[rng.integers(len(INSTRUCTIONS))]
        words = [instruction, "the"]
        if rng.random() < 0.5:
            words.append(MODIFIERS[rng.integers(len(MODIFIERS))])
        words.append(SUBJECTS[rng.integers(len(SUBJECTS))])
        return " ".join(words)

    def _response(self, rng: np.random.Generator) -> str:
        length = int(rng.integers(2, self.config.max_response_words + 1))
        words = [
            _SENTIMENT[rng.integers(len(_SENTIMENT))]
            if rng.random() < _SENTIMENT_SHARE
            else NEUTRAL[rng.integers(len(NEUTRAL))]
            for _ in range(length)
        ]
        return " ".join(words)
