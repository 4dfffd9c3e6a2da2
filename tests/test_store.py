"""The comparison store keeps every label: round trips, first-writer-wins, threads, a killed writer, bad files."""

from __future__ import annotations

import io
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest
from gymnasium import spaces

from prefrl.store import (
    SCHEMA_VERSION,
    AlreadyAnsweredError,
    Comparison,
    ComparisonStore,
    StoreError,
    UnknownQueryError,
)
from prefrl.reward.transitions import TransitionLayout
from prefrl.types import Label, Segment


def make_segment(rng: np.random.Generator, length: int = 5, env_index: int = 0, timestep: int = 0) -> Segment:
    return Segment(
        obs=rng.normal(size=(length, 4)).astype(np.float32),
        actions=rng.integers(0, 2, size=length).astype(np.int64),
        true_rewards=rng.normal(size=length),
        env_index=env_index,
        timestep=timestep,
    )


def make_pairs(count: int, seed: int = 0, length: int = 5) -> list[tuple[Segment, Segment]]:
    rng = np.random.default_rng(seed)
    return [
        (make_segment(rng, length, env_index=i % 3, timestep=10 * i), make_segment(rng, length, timestep=10 * i + 1))
        for i in range(count)
    ]


def assert_same_segment(got: Segment, want: Segment) -> None:
    for name in ("obs", "actions", "true_rewards"):
        got_array, want_array = getattr(got, name), getattr(want, name)
        assert got_array.dtype == want_array.dtype, name
        assert got_array.shape == want_array.shape, name
        np.testing.assert_array_equal(got_array, want_array)
    assert (got.env_index, got.timestep) == (want.env_index, want.timestep)
    if want.render_states is None:
        assert got.render_states is None
    else:
        np.testing.assert_array_equal(got.render_states, want.render_states)


@pytest.fixture
def store(tmp_path: Path):
    with ComparisonStore(tmp_path / "comparisons.sqlite") as opened:
        yield opened


def test_round_trip_survives_reopen(tmp_path: Path) -> None:
    path = tmp_path / "comparisons.sqlite"
    pairs = make_pairs(3)
    with ComparisonStore(path) as store:
        ids = store.add_queries(pairs, oracle="synthetic", timestep=1234)
        assert ids == sorted(ids) and len(set(ids)) == 3
        assert store.answer(ids[0], Label.LEFT, annotator="alice") is True
        assert store.answer(ids[1], "cant_tell") is True
        store.set_meta("env_id", "CartPole-v1")

    with ComparisonStore(path, create=False) as store:
        assert store.get_meta("schema_version") == str(SCHEMA_VERSION)
        assert float(store.get_meta("created_at") or 0) > 0
        assert store.get_meta("env_id") == "CartPole-v1"
        assert store.get_meta("missing", "fallback") == "fallback"
        everything = store.comparisons()
        assert [c.id for c in everything] == ids
        for comparison, (left, right) in zip(everything, pairs):
            assert isinstance(comparison, Comparison)
            assert_same_segment(comparison.left, left)
            assert_same_segment(comparison.right, right)
            assert comparison.oracle == "synthetic"
            assert comparison.timestep == 1234
            assert comparison.asked_at > 0
        first, second, third = everything
        assert (first.label, first.annotator) == (Label.LEFT, "alice")
        assert first.answered_at is not None and first.answered_at >= first.asked_at
        assert (second.label, second.annotator) == (Label.CANT_TELL, None)
        assert (third.label, third.answered_at, third.annotator) == (None, None, None)
        again = store.get(ids[0])
        assert (again.id, again.label, again.answered_at) == (first.id, first.label, first.answered_at)
        assert_same_segment(again.left, pairs[0][0])
        assert store.counts() == {
            "asked": 3, "answered": 2, "pending": 1, "left": 1, "right": 0, "equal": 0, "cant_tell": 1
        }


def test_shared_segment_and_other_shapes_round_trip(store: ComparisonStore) -> None:
    rng = np.random.default_rng(1)
    shared = make_segment(rng)
    images = Segment(
        obs=rng.integers(0, 255, size=(3, 8, 8, 3), dtype=np.uint8),
        actions=rng.normal(size=(3, 2)).astype(np.float64),
        true_rewards=np.zeros(3, dtype=np.float32),
    )
    ids = store.add_queries([(shared, images), (shared, shared)], oracle="human", timestep=0)
    first, second = (store.get(i) for i in ids)
    assert_same_segment(first.left, shared)
    assert_same_segment(first.right, images)
    assert_same_segment(second.left, shared)
    assert_same_segment(second.right, shared)


def test_answer_is_first_writer_wins(store: ComparisonStore) -> None:
    (query,) = store.add_queries(make_pairs(1), oracle="human", timestep=5)
    assert store.answer(query, "right", annotator="first") is True
    assert store.answer(query, Label.LEFT, annotator="second") is False
    kept = store.get(query)
    assert (kept.label, kept.annotator) == (Label.RIGHT, "first")
    assert store.counts()["answered"] == 1


def test_unknown_id_and_malformed_label(store: ComparisonStore) -> None:
    (query,) = store.add_queries(make_pairs(1), oracle="human", timestep=5)
    with pytest.raises(UnknownQueryError, match=str(query + 1000)):
        store.answer(query + 1000, Label.LEFT)
    with pytest.raises(UnknownQueryError, match="999"):
        store.get(999)
    with pytest.raises(ValueError, match="maybe"):
        store.answer(query, "maybe")
    assert store.get(query).label is None
    assert store.counts()["pending"] == 1


def test_answer_many_is_one_all_or_nothing_batch(store: ComparisonStore) -> None:
    ids = store.add_queries(make_pairs(4), oracle="synthetic", timestep=0)
    assert store.answer(ids[0], Label.EQUAL) is True
    written = store.answer_many(ids, [Label.LEFT, None, Label.RIGHT, "equal"], annotator="bot")  # type: ignore[list-item]
    assert written == 2
    assert [c.label for c in store.comparisons()] == [Label.EQUAL, None, Label.RIGHT, Label.EQUAL]
    with pytest.raises(UnknownQueryError):
        store.answer_many([ids[1], 12345], [Label.LEFT, Label.LEFT])
    assert store.get(ids[1]).label is None, "a failed batch must write nothing"
    with pytest.raises(ValueError, match="labels"):
        store.answer_many(ids, [Label.LEFT])


def test_pending_and_comparisons_filters(store: ComparisonStore) -> None:
    ids = store.add_queries(make_pairs(5), oracle="synthetic", timestep=0)
    store.answer(ids[1], Label.LEFT)
    store.answer(ids[3], Label.CANT_TELL)
    pending = [ids[0], ids[2], ids[4]]
    assert [c.id for c in store.pending()] == pending
    assert [c.id for c in store.pending(limit=2)] == pending[:2]
    assert store.pending(limit=0) == []
    assert [c.id for c in store.comparisons(answered=True)] == [ids[1], ids[3]]
    assert [c.id for c in store.comparisons(answered=False)] == pending
    assert [c.id for c in store.comparisons()] == ids
    assert [c.id for c in store.comparisons(after_id=ids[1])] == ids[2:]
    assert [c.id for c in store.comparisons(answered=True, after_id=ids[1])] == [ids[3]]
    assert [c.id for c in store.comparisons(answered=False, after_id=ids[4])] == []


def test_bad_query_input_writes_nothing(store: ComparisonStore) -> None:
    pairs = make_pairs(2)
    with pytest.raises(ValueError, match="oracle"):
        store.add_queries(pairs, oracle="", timestep=0)
    with pytest.raises(ValueError, match="timestep"):
        store.add_queries(pairs, oracle="x", timestep=-1)
    with pytest.raises(TypeError, match=r"pairs\[1\]"):
        store.add_queries([pairs[0], (pairs[1][0], "not a segment")], oracle="x", timestep=0)  # type: ignore[list-item]
    with pytest.raises(ValueError, match="schema_version"):
        store.set_meta("schema_version", "2")
    assert store.counts()["asked"] == 0
    assert store.add_queries([], oracle="x", timestep=0) == []


def test_concurrent_answers_write_exactly_one_label_each(store: ComparisonStore) -> None:
    ids = store.add_queries(make_pairs(200, length=2), oracle="human", timestep=0)
    labels = [Label.LEFT, Label.RIGHT, Label.EQUAL, Label.CANT_TELL]
    wins: list[list[tuple[int, Label]]] = [[] for _ in range(8)]
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def worker(index: int) -> None:
        order = list(ids)
        random.Random(index).shuffle(order)
        try:
            start.wait()
            for query in order:
                label = labels[(query + index) % 4]
                if store.answer(query, label, annotator=f"thread-{index}"):
                    wins[index].append((query, label))
        except BaseException as error:  # surfaced below; a thread's exception would otherwise vanish
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    won = [query for per_thread in wins for query, _ in per_thread]
    assert sorted(won) == sorted(ids), "each query must be won exactly once"
    assert store.counts()["answered"] == 200
    for index, per_thread in enumerate(wins):
        for query, label in per_thread:
            stored = store.get(query)
            assert (stored.label, stored.annotator) == (label, f"thread-{index}")


WRITER = textwrap.dedent(
    """
    import sys
    import numpy as np
    from prefrl.store import ComparisonStore
    from prefrl.types import Segment

    rng = np.random.default_rng(0)
    store = ComparisonStore(sys.argv[1])
    while True:
        pair = tuple(
            Segment(obs=rng.normal(size=(20, 4)).astype(np.float32), actions=np.zeros(20, dtype=np.int64),
                    true_rewards=rng.normal(size=20))
            for _ in range(2)
        )
        ids = store.add_queries([pair] * 3, oracle="synthetic", timestep=0)
        store.answer(ids[0], "left")
        print(ids[0], flush=True)
    """
)


def test_killed_writer_loses_no_answered_label(tmp_path: Path) -> None:
    path = tmp_path / "comparisons.sqlite"
    process = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        printed = []
        for _ in range(20):
            line = process.stdout.readline()
            assert line, f"writer died early: {process.stderr.read() if process.stderr else ''}"
            printed.append(int(line))
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    assert process.returncode == -signal.SIGKILL
    # Anything the writer printed before dying is on disk too; read the rest of its pipe.
    assert process.stdout is not None
    printed += [int(line) for line in process.stdout.read().split()]

    with ComparisonStore(path, create=False) as store:
        for query in printed:
            assert store.get(query).label is Label.LEFT
    check = sqlite3.connect(path)
    try:
        assert check.execute("PRAGMA quick_check").fetchall() == [("ok",)]
    finally:
        check.close()


def test_random_bytes_are_not_a_store(tmp_path: Path) -> None:
    path = tmp_path / "noise.sqlite"
    path.write_bytes(np.random.default_rng(0).bytes(8192))
    with pytest.raises(StoreError, match="noise.sqlite"):
        ComparisonStore(path)


def test_foreign_sqlite_database_is_not_a_store(tmp_path: Path) -> None:
    path = tmp_path / "other.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE people (name TEXT)")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="not a prefrl comparison store"):
        ComparisonStore(path)
    with pytest.raises(StoreError):
        ComparisonStore(path, create=False)


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "comparisons.sqlite"
    ComparisonStore(path).close()
    conn = sqlite3.connect(path)
    conn.execute("UPDATE meta SET value = '999' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="999"):
        ComparisonStore(path)


def test_truncated_store_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "comparisons.sqlite"
    with ComparisonStore(path) as store:
        ids = store.add_queries(make_pairs(60, length=50), oracle="synthetic", timestep=0)
        store.answer_many(ids, [Label.LEFT] * len(ids))
    # close() checkpointed the WAL into the main file; cut that file in half.
    assert not Path(f"{path}-wal").exists()
    broken = tmp_path / "broken.sqlite"
    shutil.copy(path, broken)
    with open(broken, "r+b") as handle:
        handle.truncate(os.path.getsize(broken) // 2)
    with pytest.raises(StoreError, match="broken.sqlite"):
        ComparisonStore(broken, create=False)


def test_scribbled_page_is_found_on_open(tmp_path: Path) -> None:
    """A damaged page in the middle (meta still readable) is caught by the integrity check on open."""
    path = tmp_path / "comparisons.sqlite"
    with ComparisonStore(path) as store:
        store.add_queries(make_pairs(60, length=50), oracle="synthetic", timestep=0)
    page = 4096  # SQLite's default page size
    pages = os.path.getsize(path) // page
    assert pages > 10
    with open(path, "r+b") as handle:
        handle.seek(pages // 2 * page)
        handle.write(b"\xff" * page)
    with pytest.raises(StoreError, match="comparisons.sqlite"):
        ComparisonStore(path)


def test_missing_file_without_create(tmp_path: Path) -> None:
    path = tmp_path / "absent.sqlite"
    with pytest.raises(FileNotFoundError, match="absent.sqlite"):
        ComparisonStore(path, create=False)
    assert not path.exists()
    with pytest.raises(FileNotFoundError, match="does not exist"):
        ComparisonStore(tmp_path / "no-such-run" / "comparisons.sqlite")


def test_closed_store_says_so(tmp_path: Path) -> None:
    store = ComparisonStore(tmp_path / "comparisons.sqlite")
    store.close()
    store.close()
    with pytest.raises(ValueError, match="closed"):
        store.counts()


def test_render_states_round_trip_and_segment_ids(store: ComparisonStore) -> None:
    rng = np.random.default_rng(3)
    left = make_segment(rng)
    left = Segment(left.obs, left.actions, left.true_rewards, render_states=rng.normal(size=(5, 4)))
    right = make_segment(rng)  # no render states: a synthetic oracle never records them
    other = make_segment(rng)
    first, second = store.add_queries([(left, right), (left, other)], oracle="human", timestep=0)
    got = store.get(first)
    assert_same_segment(got.left, left)
    assert_same_segment(got.right, right)
    # One segment in two comparisons is stored once: both comparisons name the same segment id.
    assert store.get(second).segment_ids[0] == got.segment_ids[0] != got.segment_ids[1]


def test_a_version_1_store_is_upgraded_in_place_with_its_labels(tmp_path: Path) -> None:
    path = tmp_path / "comparisons.sqlite"
    with ComparisonStore(path) as store:
        ids = store.add_queries(make_pairs(2), oracle="synthetic", timestep=0)
        store.answer(ids[0], Label.RIGHT)
    # Turn the file into what prefrl 0.1's schema 1 wrote: no render_states column.
    conn = sqlite3.connect(path)
    conn.execute("ALTER TABLE segments DROP COLUMN render_states")
    conn.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    with ComparisonStore(path, create=False) as store:
        assert store.get_meta("schema_version") == str(SCHEMA_VERSION) == "4"
        assert store.get(ids[0]).label is Label.RIGHT
        assert store.get(ids[1]).left.render_states is None


def frame_segment(rng: np.random.Generator, dtype: type, shape: tuple[int, ...], length: int = 25) -> Segment:
    """A clip of sparse frames, like MinAtar's object grids (bool) or Atari's mostly flat screens (uint8)."""
    obs = (rng.random((length, *shape)) < 0.05) * (1 if dtype is bool else rng.integers(1, 256, (length, *shape)))
    return Segment(obs.astype(dtype), rng.integers(0, 3, length), rng.normal(size=length))


@pytest.mark.parametrize("dtype, shape", [(bool, (10, 10, 4)), (np.uint8, (84, 84, 4)), (np.uint8, (4, 84, 84))])
def test_frames_round_trip_bit_exactly_and_compressed(store: ComparisonStore, dtype: type, shape: tuple) -> None:
    rng = np.random.default_rng(0)
    pairs = [(frame_segment(rng, dtype, shape), frame_segment(rng, dtype, shape)) for _ in range(3)]
    ids = store.add_queries(pairs, oracle="synthetic", timestep=0)
    for comparison_id, (left, right) in zip(ids, pairs):
        got = store.get(comparison_id)
        assert_same_segment(got.left, left)
        assert_same_segment(got.right, right)
    raw_bytes = pairs[0][0].obs.nbytes
    assert store.bytes_per_segment() < raw_bytes / 3  # 5% of pixels lit: zlib keeps far less than the raw frames


@pytest.mark.parametrize("dtype, shape", [(bool, (10, 10, 4)), (np.uint8, (84, 84))])
def test_changes_of_frames_round_trip_bit_exactly_and_compressed(store: ComparisonStore, dtype: type, shape: tuple) -> None:
    """What r̂ reads with next_obs = 'change': o' - o of pixels, small signed integers, mostly zeros."""
    rng = np.random.default_rng(0)
    layout = TransitionLayout.for_space(spaces.Box(0, 1 if dtype is bool else 255, shape, dtype=dtype), "change")

    def change_segment() -> Segment:
        frames = frame_segment(rng, dtype, shape, length=26).obs
        return Segment(layout.inputs(frames[:-1], frames[1:]), rng.integers(0, 3, 25), rng.normal(size=25))

    pairs = [(change_segment(), change_segment()) for _ in range(3)]
    assert pairs[0][0].obs.dtype == (np.int8 if dtype is bool else np.int16)
    ids = store.add_queries(pairs, oracle="synthetic", timestep=0)
    for comparison_id, (left, right) in zip(ids, pairs):
        got = store.get(comparison_id)
        assert_same_segment(got.left, left)
        assert_same_segment(got.right, right)
    assert store.bytes_per_segment() < pairs[0][0].obs.nbytes / 3


def test_a_version_2_store_keeps_its_plain_blobs_and_gains_compressed_ones(tmp_path: Path) -> None:
    path = tmp_path / "comparisons.sqlite"
    rng = np.random.default_rng(1)
    old_pair = (frame_segment(rng, np.uint8, (10, 10, 3)), frame_segment(rng, np.uint8, (10, 10, 3)))
    with ComparisonStore(path) as store:
        old_id = store.add_queries([old_pair], oracle="synthetic", timestep=0)[0]
    # What schema 2 wrote: plain .npy blobs for frames too.
    conn = sqlite3.connect(path)
    for index, segment in enumerate(old_pair, start=1):
        conn.execute("UPDATE segments SET obs = ? WHERE id = ?", (npy_bytes(segment.obs), index))
    conn.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    new_pair = (frame_segment(rng, np.uint8, (10, 10, 3)), frame_segment(rng, np.uint8, (10, 10, 3)))
    with ComparisonStore(path, create=False) as store:
        assert store.get_meta("schema_version") == "4"
        new_id = store.add_queries([new_pair], oracle="synthetic", timestep=1)[0]
        for comparison_id, (left, right) in ((old_id, old_pair), (new_id, new_pair)):
            assert_same_segment(store.get(comparison_id).left, left)
            assert_same_segment(store.get(comparison_id).right, right)


def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def test_render_states_must_match_the_segment_length() -> None:
    with pytest.raises(ValueError, match="render_states 3"):
        Segment(np.zeros((5, 4)), np.zeros(5), np.zeros(5), render_states=np.zeros((3, 4)))


def test_a_ranking_answers_its_queries_and_adds_the_other_pairs(store: ComparisonStore) -> None:
    rng = np.random.default_rng(5)
    a, b, c, d = (make_segment(rng) for _ in range(4))
    first, second = store.add_queries([(a, b), (c, d)], oracle="human", timestep=40)
    seg = {name: sid for (name, sid) in zip("ab", store.get(first).segment_ids)}
    seg.update(zip("cd", store.get(second).segment_ids))
    # Best first: c, a, d, b.
    written = store.answer_ranking([first, second], [seg["c"], seg["a"], seg["d"], seg["b"]], annotator="ann")
    assert written[:2] == [first, second] and len(written) == 6  # C(4,2)
    assert store.get(first).label is Label.LEFT  # a over b
    assert store.get(second).label is Label.LEFT  # c over d
    extra = [store.get(i) for i in written[2:]]
    assert {c.segment_ids for c in extra} == {
        (seg["c"], seg["a"]), (seg["c"], seg["b"]), (seg["a"], seg["d"]), (seg["d"], seg["b"])
    }
    assert all(c.label is Label.LEFT and c.annotator == "ann" and c.timestep == 40 for c in extra)
    assert store.counts()["answered"] == 6 and store.counts()["pending"] == 0


def test_a_ranking_is_all_or_nothing(store: ComparisonStore) -> None:
    rng = np.random.default_rng(6)
    a, b, c, d = (make_segment(rng) for _ in range(4))
    first, second = store.add_queries([(a, b), (c, d)], oracle="human", timestep=0)
    ids = [*store.get(first).segment_ids, *store.get(second).segment_ids]
    with pytest.raises(ValueError, match="exactly the segments"):
        store.answer_ranking([first, second], ids[:3])
    with pytest.raises(UnknownQueryError):
        store.answer_ranking([first, 999], ids)
    store.answer(second, Label.RIGHT)
    with pytest.raises(AlreadyAnsweredError, match=f"Query {second} was already answered"):
        store.answer_ranking([first, second], ids)
    assert store.get(first).label is None and store.counts()["asked"] == 2  # nothing written
