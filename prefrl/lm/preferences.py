"""Preference data from a policy: K sampled responses per prompt, every pair labelled by an oracle.

This is how the embedded task gets its data set (InstructGPT's collection, §3.5 of Ouyang et al. 2022, with
the synthetic oracle in place of labelers). Ties ("equal") and "can't tell" answers are counted and dropped:
DPO and the InstructGPT reward model train on strict preferences only.
"""

from __future__ import annotations

import itertools
from typing import Sequence

import torch

from prefrl.lm.data import PreferenceDataset, PreferenceRecord
from prefrl.lm.generation import respond
from prefrl.lm.models import LanguageModel
from prefrl.lm.oracle import ResponseOracle
from prefrl.types import Label


def collect_preferences(
    lm: LanguageModel,
    prompts: Sequence[str],
    oracle: ResponseOracle,
    *,
    responses_per_prompt: int,
    max_new_tokens: int,
    temperature: float = 1.0,
    generator: torch.Generator | None = None,
) -> tuple[PreferenceDataset, dict[str, float]]:
    """Sample K responses per prompt from ``lm`` and label all C(K,2) pairs in one oracle call.

    :return: the records (one group per prompt) and metrics ``pairs``, ``tie_share`` (equal or can't tell,
        identical responses included) and ``empty_share`` (pairs dropped for an empty response).
    """
    k = responses_per_prompt
    repeated = [prompt for prompt in prompts for _ in range(k)]
    texts = respond(lm, repeated, max_new_tokens, temperature=temperature, generator=generator)
    index_pairs = list(itertools.combinations(range(k), 2))
    rows = [(group, i, j) for group in range(len(prompts)) for i, j in index_pairs]
    left = [texts[group * k + i] for group, i, _ in rows]
    right = [texts[group * k + j] for group, _, j in rows]
    labels = oracle.label([prompts[group] for group, _, _ in rows], left, right)

    records, ties, empty = [], 0, 0
    for (group, _, _), a, b, label in zip(rows, left, right, labels):
        if label not in (Label.LEFT, Label.RIGHT) or a == b:
            ties += 1
        elif not a.strip() or not b.strip():
            empty += 1
        else:
            chosen, rejected = (a, b) if label is Label.LEFT else (b, a)
            records.append(PreferenceRecord(prompts[group], chosen, rejected, group))
    metrics = {"pairs": float(len(records)), "tie_share": ties / len(rows), "empty_share": empty / len(rows)}
    return PreferenceDataset(records), metrics
