"""Preference records, K-wise rankings expanded to all pairs, JSONL, and whole-prompt batches."""

from __future__ import annotations

import json

import numpy as np
import pytest

from prefrl.lm.data import (
    PreferenceDataset,
    PreferenceRecord,
    expand_ranking,
    read_jsonl,
    records_from_rows,
    write_jsonl,
)


def test_ranking_of_k_becomes_all_k_choose_2_pairs_best_first() -> None:
    records = expand_ranking("praise the day", ["great fun", "good", "dull", "awful sad"], group=7)
    assert [(r.chosen, r.rejected) for r in records] == [
        ("great fun", "good"), ("great fun", "dull"), ("great fun", "awful sad"),
        ("good", "dull"), ("good", "awful sad"), ("dull", "awful sad"),
    ]
    assert {r.group for r in records} == {7} and {r.prompt for r in records} == {"praise the day"}


def test_batches_keep_each_prompts_pairs_together() -> None:
    records = [r for g in range(5) for r in expand_ranking(f"praise the movie {g}", ["a", "b", "c"], group=g)]
    data = PreferenceDataset(records)
    batches = list(data.batches(2, np.random.default_rng(0)))
    assert sorted(i for batch in batches for i in batch) == list(range(15))
    for batch in batches:
        groups = [records[i].group for i in batch]
        assert all(groups.count(g) == 3 for g in set(groups))  # a group is never split
    train, held = data.split(0.4, np.random.default_rng(0))
    assert len(held.groups) == 2 and len(train.groups) == 3
    assert not {r.prompt for r in train.records} & {r.prompt for r in held.records}


def test_jsonl_round_trip_and_rows_without_group(tmp_path) -> None:
    records = expand_ranking("praise the day", ["great", "good", "bad"], group=0)
    records += expand_ranking("complain about the food", ["awful", "fine"], group=1)
    path = write_jsonl(records, tmp_path / "prefs.jsonl")
    assert read_jsonl(path) == records
    rows = [{k: v for k, v in json.loads(line).items() if k != "group"} for line in path.read_text().splitlines()]
    assert [r.group for r in records_from_rows(rows)] == [0, 0, 0, 1]  # consecutive rows of one prompt


def test_jsonl_loads_with_the_datasets_library(tmp_path) -> None:
    datasets = pytest.importorskip("datasets")
    records = expand_ranking("praise the day", ["great", "good", "bad"])
    path = write_jsonl(records, tmp_path / "prefs.jsonl")
    loaded = datasets.load_dataset("json", data_files=str(path), split="train")
    assert loaded.column_names[:3] == ["prompt", "chosen", "rejected"]
    assert records_from_rows(loaded) == records


@pytest.mark.parametrize(
    ("build", "error", "match"),
    [
        (lambda: PreferenceRecord("praise the day", "", "bad"), ValueError, "chosen='' is empty"),
        (lambda: PreferenceRecord("praise the day", "good", "good"), ValueError, "same text"),
        (lambda: PreferenceRecord("praise the day", "good", None), TypeError, "rejected=None"),
        (lambda: expand_ranking("praise the day", ["good", "bad", "good"]), ValueError, "more than once"),
        (lambda: expand_ranking("praise the day", ["good"]), ValueError, "2 or more items"),
        (lambda: records_from_rows([{"prompt": "p", "chosen": "a"}]), ValueError, "row 0 has no rejected"),
        (lambda: PreferenceDataset([]), ValueError, "at least one comparison"),
    ],
)
def test_bad_records_give_clear_errors(build, error, match) -> None:
    with pytest.raises(error, match=match):
        build()


def test_bad_jsonl_line_names_file_and_line(tmp_path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"prompt": "p", "chosen": "a", "rejected": "b"}\nnot json\n')
    with pytest.raises(ValueError, match="bad.jsonl:2"):
        read_jsonl(path)
