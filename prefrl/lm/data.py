"""Preference data: ``prompt`` / ``chosen`` / ``rejected`` records, and K-wise rankings expanded to pairs.

The record format is the one the Hugging Face ecosystem uses, so a file written by :func:`write_jsonl` loads
with ``datasets.load_dataset("json", data_files=path)`` and a dataset of such rows loads with
:func:`records_from_rows`. InstructGPT (Ouyang et al. 2022, §3.5) ranks K responses per prompt and trains on
all C(K,2) pairs of one prompt *in the same batch*: one forward pass per response instead of one per pair, and
no overfitting from the correlated pairs of a prompt spread over an epoch. Each record therefore carries a
``group`` (the prompt's index) and :meth:`PreferenceDataset.batches` never splits a group.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

import numpy as np

from prefrl.ranking import ranking_pairs

FIELDS = ("prompt", "chosen", "rejected")


@dataclass(frozen=True)
class PreferenceRecord:
    """One comparison: ``chosen`` was preferred to ``rejected`` as a response to ``prompt``.

    :param group: the ranking (prompt) this pair came from; pairs of one group are batched together.
    """

    prompt: str
    chosen: str
    rejected: str
    group: int = 0

    def __post_init__(self) -> None:
        for name in FIELDS:
            value = getattr(self, name)
            if not isinstance(value, str):
                raise TypeError(f"{name}={value!r} is a {type(value).__name__}; preference records hold text (str).")
            if not value.strip():
                raise ValueError(f"{name}={value!r} is empty; every prompt and response needs at least one token.")
        if self.chosen == self.rejected:
            raise ValueError(
                f"chosen and rejected are the same text ({self.chosen[:60]!r}); a preference needs two different "
                "responses. Drop ties before building records."
            )


def expand_ranking(prompt: str, ranked: Sequence[str], group: int = 0) -> list[PreferenceRecord]:
    """All C(K,2) pairs of a ranking, best first: ``ranked[i]`` is chosen over ``ranked[j]`` for i < j.

    The same expansion (:func:`prefrl.ranking.ranking_pairs`) turns a ranking of clips on the labelling page
    into pairwise labels, so control and language models read a ranking alike.
    """
    if isinstance(ranked, str):
        raise ValueError(f"ranked={ranked!r} is not a ranking; pass a list of 2 or more responses, best first.")
    return [PreferenceRecord(prompt, better, worse, group) for better, worse in ranking_pairs(list(ranked))]


def records_from_rows(rows: Iterable[Mapping[str, Any]]) -> list[PreferenceRecord]:
    """Records from mappings with ``prompt``/``chosen``/``rejected`` keys (JSON lines, a ``datasets.Dataset``).

    A row without a ``group`` gets its own, unless it repeats the previous row's prompt (a ranking written out
    pair by pair).
    """
    records: list[PreferenceRecord] = []
    for index, row in enumerate(rows):
        missing = [name for name in FIELDS if name not in row]
        if missing:
            raise ValueError(
                f"row {index} has no {', '.join(missing)} (keys: {sorted(row)}); each preference row needs "
                f"{', '.join(FIELDS)}."
            )
        group = row.get("group")
        if group is None:
            same_prompt = records and records[-1].prompt == row["prompt"]
            group = records[-1].group if same_prompt else (records[-1].group + 1 if records else 0)
        records.append(PreferenceRecord(row["prompt"], row["chosen"], row["rejected"], int(group)))
    return records


def write_jsonl(records: Iterable[PreferenceRecord], path: str | Path) -> Path:
    """One JSON object per line: ``{"prompt", "chosen", "rejected", "group"}``."""
    path = Path(path)
    path.write_text("".join(json.dumps(asdict(record)) + "\n" for record in records))
    return path


def read_jsonl(path: str | Path) -> list[PreferenceRecord]:
    """Records from a JSON-lines file written by :func:`write_jsonl` (or any file with the three keys)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"preferences={str(path)!r} does not exist; pass a JSON-lines file of records.")
    rows = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as error:
                raise ValueError(f"{path}:{number} is not JSON ({error.msg}); write one record per line.") from None
    return records_from_rows(rows)


class PreferenceDataset:
    """Records grouped by ranking, and batches of whole groups.

    :param records: the comparisons; records of one group must be contiguous or not, either works.
    """

    def __init__(self, records: Sequence[PreferenceRecord]) -> None:
        if len(records) == 0:
            raise ValueError("records is empty; a preference data set needs at least one comparison.")
        self.records = list(records)
        groups: dict[int, list[int]] = {}
        for index, record in enumerate(self.records):
            groups.setdefault(record.group, []).append(index)
        self.groups = list(groups.values())

    def __len__(self) -> int:
        return len(self.records)

    def column(self, name: str) -> list[str]:
        """One field of every record, in order."""
        return [getattr(record, name) for record in self.records]

    def batches(self, groups_per_batch: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
        """Record indices of one epoch, ``groups_per_batch`` whole groups at a time, groups shuffled."""
        order = rng.permutation(len(self.groups))
        for start in range(0, len(order), groups_per_batch):
            yield np.concatenate([self.groups[g] for g in order[start : start + groups_per_batch]])

    def split(self, eval_fraction: float, rng: np.random.Generator) -> tuple["PreferenceDataset", "PreferenceDataset"]:
        """(train, held-out) by group, so no prompt's pairs land on both sides."""
        if len(self.groups) < 2:
            raise ValueError(f"the data hold {len(self.groups)} group(s); a split needs 2 or more prompts.")
        order = rng.permutation(len(self.groups))
        held = min(max(1, round(eval_fraction * len(order))), len(order) - 1)
        pick = [[self.records[i] for g in part for i in self.groups[g]] for part in (order[held:], order[:held])]
        return PreferenceDataset(pick[0]), PreferenceDataset(pick[1])
