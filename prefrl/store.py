"""The comparison store: every query and every label of a run, in one SQLite file in the run folder.

Labels are the one thing a run cannot recompute (a person's time was spent on them), so the store is
built to never lose one:

- every write is committed (WAL journal, ``synchronous=FULL``) before the call returns, so a label is on
  disk before anything uses it, and a killed process leaves the file intact;
- the segments a comparison refers to are stored with it (observations, actions and the true reward),
  so the reward net can be refit and a run resumed from the store alone, and, when a person is asked, the
  simulator states that let a clip be rendered later, even by another process once the run has stopped;
  image observations (``uint8``/``bool`` frames, and their changes) are zlib-compressed, and stacks of frames (Atari's
  ``(T, 4, 84, 84)``) keep each distinct frame once (``prefrl.frames``), so a run on pixels keeps its every
  clip in a file of bounded, modest size (:meth:`ComparisonStore.bytes_per_segment` reports it);
- :meth:`ComparisonStore.answer` is atomic and first-writer-wins, because a web server answers queries
  from several threads (and a person may double-click): exactly one label per query;
- the file carries a schema version and is checked on open, so a foreign, corrupt or newer file fails
  with a :class:`StoreError` that says what to do, not with a raw ``sqlite3`` error from deep inside.
"""

from __future__ import annotations

import io
import operator
import os
import sqlite3
import threading
import time
import zlib
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Iterator, Sequence

import numpy as np

from prefrl.frames import is_frame_stack, join_stacks, split_stacks
from prefrl.ranking import ranking_pairs
from prefrl.types import Label, Segment, SegmentPair

__all__ = [
    "SCHEMA_VERSION",
    "AlreadyAnsweredError",
    "Comparison",
    "ComparisonStore",
    "StoreError",
    "UnknownQueryError",
]

SCHEMA_VERSION = 4
"""Bumped whenever the tables or their encoding change; a store written by a newer prefrl is refused rather than
misread, and an older one is upgraded in place when opened (version 2 added ``segments.render_states``; version 3
may hold zlib-compressed ``segments.obs`` blobs, which older versions cannot read; version 4 may hold frame
stacks as distinct frames plus an index)."""

# How long a writer waits for another process or connection holding the write lock (a web server and a
# trainer may share the file). Long, because giving up would drop a label; writes themselves take ms.
_BUSY_TIMEOUT_MS = 30_000

# Marks a zlib-compressed .npy blob. A plain one starts with numpy's magic b"\x93NUMPY", so blobs written before
# compression existed still load. Frames compress well (MinAtar's sparse object grids, Atari's flat backgrounds).
_COMPRESSED = b"prefrl-zlib:"
# Marks frame stacks stored as their distinct frames and an index (prefrl.frames): zlib of an .npz of the two.
_STACKS = b"prefrl-stacks:"
# Pixels, and the small integers of their changes (o' - o: prefrl.reward.transitions), mostly zeros.
_COMPRESSED_DTYPES = (np.uint8, np.bool_, np.int8, np.int16)

# Keys the store manages itself; ``set_meta`` refuses them so the version check cannot be defeated.
_RESERVED_META = frozenset({"schema_version", "created_at"})

_SCHEMA = """
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE segments (
    id           INTEGER PRIMARY KEY,
    obs          BLOB    NOT NULL,   -- .npy bytes, (T, *obs_shape), frames as _COMPRESSED + zlib(.npy bytes),
                                     -- frame stacks as _STACKS + zlib(.npz of frames (F, H, W), index (T, K))
    actions      BLOB    NOT NULL,   -- .npy bytes, (T, *act_shape)
    true_rewards BLOB    NOT NULL,   -- .npy bytes, (T,)
    env_index    INTEGER NOT NULL,
    timestep     INTEGER NOT NULL,
    render_states BLOB               -- .npy bytes, (T, *state_shape), or NULL when no clip will be shown
);
CREATE TABLE comparisons (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,  -- AUTOINCREMENT: ids are never reused, so after_id is safe
    left_id     INTEGER NOT NULL REFERENCES segments(id),
    right_id    INTEGER NOT NULL REFERENCES segments(id),
    label       TEXT CHECK (label IS NULL OR label IN ('left', 'right', 'equal', 'cant_tell')),
    oracle      TEXT    NOT NULL,
    timestep    INTEGER NOT NULL,
    asked_at    REAL    NOT NULL,
    answered_at REAL,
    annotator   TEXT
);
CREATE INDEX comparisons_pending ON comparisons(id) WHERE label IS NULL;
"""

_SELECT = """
SELECT c.id, c.label, c.oracle, c.timestep, c.asked_at, c.answered_at, c.annotator, c.left_id, c.right_id,
       l.obs, l.actions, l.true_rewards, l.env_index, l.timestep, l.render_states,
       r.obs, r.actions, r.true_rewards, r.env_index, r.timestep, r.render_states
FROM comparisons AS c
JOIN segments AS l ON l.id = c.left_id
JOIN segments AS r ON r.id = c.right_id
"""


class StoreError(ValueError):
    """The file is not a usable prefrl comparison store (corrupt, foreign, newer schema)."""


class UnknownQueryError(LookupError):
    """No comparison with this id exists in the store."""


class AlreadyAnsweredError(LookupError):
    """A comparison given to :meth:`ComparisonStore.answer_ranking` already has a label; nothing was written."""

    def __init__(self, comparison_id: int, label: str) -> None:
        super().__init__(f"Query {comparison_id} was already answered with {label!r}; the ranking was not written.")
        self.comparison_id = comparison_id


@dataclass(frozen=True, eq=False)
class Comparison:
    """One query and, once answered, its label.

    Compared by identity (``eq=False``): its segments hold arrays, whose ``==`` is elementwise, so a
    field-wise ``==`` would raise rather than answer. Compare ``id`` (or the fields) instead.

    :param id: the store's id for it; increasing in the order queries were asked.
    :param left: the first segment σ¹ shown.
    :param right: the second segment σ².
    :param label: the answer, or ``None`` while it is pending (asked, not answered yet).
    :param oracle: the name of the oracle that was asked (``"synthetic"``, ``"human"``, ...).
    :param timestep: the policy timestep when it was asked, for labels-vs-timestep plots and the schedule.
    :param asked_at: unix time it was asked.
    :param answered_at: unix time it was answered, ``None`` while pending.
    :param annotator: who answered (a person's name or session), if known.
    :param segment_ids: the store's ids of the left and right segment; a segment shown in several
        comparisons has one id, which is how a ranking of clips is turned into pairs among them.
    """

    id: int
    left: Segment
    right: Segment
    label: Label | None
    oracle: str
    timestep: int
    asked_at: float
    answered_at: float | None
    annotator: str | None
    segment_ids: tuple[int, int] = (0, 0)


class ComparisonStore:
    """Queries, labels and their segments in one SQLite file; safe to share between threads.

    One connection, guarded by a lock, serves all threads (a web server answering in several threads is
    the expected case); other processes may open the same file, SQLite's locking and the busy timeout
    serialize the writers.

    :param path: the store file, usually ``<run folder>/comparisons.sqlite``.
    :param create: make a new store when the file does not exist; ``False`` to require an existing one
        (resuming a run), which raises :class:`FileNotFoundError` when it is missing.
    :raises StoreError: when the file is not SQLite, is corrupt, is some other program's database, or was
        written by a newer prefrl.
    """

    def __init__(self, path: str | os.PathLike[str], *, create: bool = True) -> None:
        self.path = Path(path)
        if self.path.is_dir():
            raise ValueError(f"path={str(self.path)!r} is a folder; pass the store file inside it, e.g. "
                             f"{str(self.path / 'comparisons.sqlite')!r}.")
        if not self.path.exists():
            if not create:
                raise FileNotFoundError(
                    f"No comparison store at {str(self.path)!r}; check the run folder, or pass create=True "
                    f"to start a new store."
                )
            if not self.path.parent.is_dir():
                raise FileNotFoundError(
                    f"Cannot create a comparison store at {str(self.path)!r}: the folder "
                    f"{str(self.path.parent)!r} does not exist; create the run folder first."
                )
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        try:
            # isolation_level=None: transactions are opened explicitly (BEGIN IMMEDIATE for writes) so
            # that no statement is ever left uncommitted by the sqlite3 module's implicit transactions.
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                                   timeout=_BUSY_TIMEOUT_MS / 1000)
        except sqlite3.Error as error:
            raise StoreError(f"Cannot open the comparison store {str(self.path)!r}: {error}.") from error
        try:
            self._configure_and_check(conn, create)
        except BaseException:
            conn.close()
            raise
        self._conn = conn

    # -- opening ---------------------------------------------------------------------------------------

    def _configure_and_check(self, conn: sqlite3.Connection, create: bool) -> None:
        where = f"The file {str(self.path)!r}"
        try:
            conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
            # WAL: readers never block the writer, and a commit is an append, so a killed process cannot
            # tear the main file. FULL: the commit is fsynced before `answer` returns (power loss too).
            conn.execute("PRAGMA journal_mode = WAL").fetchone()
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA foreign_keys = ON")
            problems = [row[0] for row in conn.execute("PRAGMA quick_check").fetchall()]
        except sqlite3.DatabaseError as error:
            raise StoreError(
                f"{where} is not a readable SQLite database ({error}). It may be corrupt or not a comparison "
                f"store at all; restore it from a backup, or pass a new path to start a fresh store."
            ) from error
        if problems != ["ok"]:
            raise StoreError(
                f"{where} is corrupt: SQLite's integrity check reports {'; '.join(problems[:3])}. Restore it "
                f"from a backup (try `sqlite3 {self.path} .recover`), or pass a new path to start a fresh store."
            )
        try:
            if not self._table_names(conn):
                if not create:
                    raise StoreError(
                        f"{where} is an empty database, not a comparison store; pass create=True to start a "
                        f"new store in it, or the path of the run's existing store."
                    )
                self._create_schema(conn)
            self._check_schema(conn)
        except sqlite3.DatabaseError as error:
            raise StoreError(
                f"{where} could not be read as a comparison store ({error}); restore it from a backup, or pass "
                f"a new path to start a fresh store."
            ) from error

    @staticmethod
    def _table_names(conn: sqlite3.Connection) -> set[str]:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
        return {row[0] for row in rows}

    def _create_schema(self, conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Re-check under the write lock: another process may have created the store meanwhile.
            if not self._table_names(conn):
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.executemany(
                    "INSERT INTO meta(key, value) VALUES (?, ?)",
                    [("schema_version", str(SCHEMA_VERSION)), ("created_at", repr(time.time()))],
                )
            conn.execute("COMMIT")
        except BaseException:
            _rollback(conn)
            raise

    def _check_schema(self, conn: sqlite3.Connection) -> None:
        where = f"The file {str(self.path)!r}"
        tables = self._table_names(conn)
        missing = {"meta", "segments", "comparisons"} - tables
        if missing:
            raise StoreError(
                f"{where} is an SQLite database but not a prefrl comparison store (no table "
                f"{', '.join(sorted(missing))}; it has {', '.join(sorted(tables)) or 'no tables'}). Pass the run "
                f"folder's store file, or a new path to start a fresh store."
            )
        row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        try:
            version = int(row[0]) if row is not None else None
        except (TypeError, ValueError):
            version = None
        if version is None:
            raise StoreError(
                f"{where} has no valid schema_version in its meta table (found {row!r}); it was not written by "
                f"prefrl or is damaged. Restore it from a backup, or pass a new path to start a fresh store."
            )
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{where} has schema_version {version}, newer than this prefrl understands ({SCHEMA_VERSION}); "
                f"upgrade prefrl to read it."
            )
        if version < 1:
            raise StoreError(f"{where} has an invalid schema_version {version}; restore it from a backup.")
        if version < SCHEMA_VERSION:
            self._upgrade(conn)

    @staticmethod
    def _upgrade(conn: sqlite3.Connection) -> None:
        """Bring an older store up to :data:`SCHEMA_VERSION` in one transaction; its labels are untouched."""
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Re-read under the write lock: another process may have upgraded the file meanwhile.
            current = int(conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0])
            if current < SCHEMA_VERSION:
                if current < 2:
                    conn.execute("ALTER TABLE segments ADD COLUMN render_states BLOB")
                # 2 -> 3 and 3 -> 4 change no table: only new obs blobs are encoded anew, so only the version moves on.
                conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION),))
            conn.execute("COMMIT")
        except BaseException:
            _rollback(conn)
            raise

    # -- plumbing --------------------------------------------------------------------------------------

    @contextmanager
    def _locked(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._conn is None:
                raise ValueError(f"The comparison store {str(self.path)!r} is closed; open a new ComparisonStore.")
            yield self._conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, committed before the block's caller returns, rolled back on any error."""
        with self._locked() as conn:
            # IMMEDIATE takes the write lock up front, so a read-then-write cannot fail half way with
            # SQLITE_BUSY when another process writes in between.
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                _rollback(conn)  # a failed COMMIT (I/O error) must not leave the connection mid-transaction
                raise

    # -- writing ---------------------------------------------------------------------------------------

    def add_queries(self, pairs: Sequence[SegmentPair], *, oracle: str, timestep: int) -> list[int]:
        """Store pairs as pending comparisons, segments included, in one transaction.

        A segment object that appears in several pairs of the same call is stored once.

        :param pairs: the ``(left, right)`` segment pairs chosen for querying.
        :param oracle: the name of the oracle being asked.
        :param timestep: the policy timestep now.
        :return: the new comparison ids, in the order of ``pairs``.
        """
        if not isinstance(oracle, str) or not oracle:
            raise ValueError(f"oracle={oracle!r} must be a non-empty string naming the oracle asked, e.g. 'human'.")
        try:
            timestep = operator.index(timestep)
        except TypeError:
            raise TypeError(f"timestep={timestep!r} must be an int (the policy timestep when asked).") from None
        if timestep < 0:
            raise ValueError(f"timestep={timestep} must be >= 0 (the policy timestep when asked).")
        # Encode everything before taking the lock: bad input fails without touching the file.
        encoded: dict[int, tuple[bytes, bytes, bytes, int, int, bytes | None]] = {}
        for index, pair in enumerate(pairs):
            if not (isinstance(pair, tuple) and len(pair) == 2):
                raise TypeError(f"pairs[{index}]={pair!r} must be a (left, right) tuple of Segments.")
            for side, segment in zip(("left", "right"), pair):
                if not isinstance(segment, Segment):
                    raise TypeError(f"pairs[{index}] {side} is a {type(segment).__name__}; it must be a Segment.")
                if id(segment) not in encoded:
                    encoded[id(segment)] = _encode_segment(segment, f"pairs[{index}] {side}")
        now = time.time()
        with self._write() as conn:
            row_ids: dict[int, int] = {}
            for key, values in encoded.items():
                cursor = conn.execute(
                    "INSERT INTO segments(obs, actions, true_rewards, env_index, timestep, render_states) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    values,
                )
                assert cursor.lastrowid is not None
                row_ids[key] = cursor.lastrowid
            ids = []
            for left, right in pairs:
                cursor = conn.execute(
                    "INSERT INTO comparisons(left_id, right_id, oracle, timestep, asked_at) VALUES (?, ?, ?, ?, ?)",
                    (row_ids[id(left)], row_ids[id(right)], oracle, timestep, now),
                )
                assert cursor.lastrowid is not None
                ids.append(cursor.lastrowid)
        return ids

    def answer(self, comparison_id: int, label: Label | str, *, annotator: str | None = None) -> bool:
        """Record the label of a pending comparison; the first answer wins and later ones are ignored.

        :param comparison_id: an id returned by :meth:`add_queries`.
        :param label: a :class:`Label` or its value (``"left"``, ``"right"``, ``"equal"``, ``"cant_tell"``).
        :param annotator: who answered, kept for auditing.
        :return: ``True`` if this call wrote the label, ``False`` if the comparison was already answered.
        :raises UnknownQueryError: when no comparison has this id.
        """
        parsed = Label.parse(label)
        _check_annotator(annotator)
        with self._write() as conn:
            written = self._answer_one(conn, _check_id(comparison_id), parsed, annotator, time.time())
        return written

    def answer_many(
        self, ids: Sequence[int], labels: Sequence[Label | None], *, annotator: str | None = None
    ) -> int:
        """Record several labels in one transaction (an oracle's batch); ``None`` entries are skipped.

        All or nothing: an unknown id raises :class:`UnknownQueryError` and writes none of the batch.

        :return: how many labels this call wrote (already-answered comparisons are not counted).
        """
        if len(ids) != len(labels):
            raise ValueError(
                f"ids has {len(ids)} entries but labels has {len(labels)}; pass one label (or None) per id."
            )
        _check_annotator(annotator)
        todo = [(_check_id(i), Label.parse(label)) for i, label in zip(ids, labels) if label is not None]
        now = time.time()
        with self._write() as conn:
            return sum(self._answer_one(conn, i, label, annotator, now) for i, label in todo)

    def answer_ranking(
        self, query_ids: Sequence[int], ranked_segments: Sequence[int], *, annotator: str | None = None
    ) -> list[int]:
        """Answer pending queries from one ranking of their segments, and store the ranking's other pairs.

        A person ordered the clips of ``query_ids`` (segments identified by :attr:`Comparison.segment_ids`),
        best first. Each query gets the label the order implies, and every other pair of the ranking becomes a
        new comparison, answered at once (``left`` = the better segment): C(K,2) labels from K clips. All in
        one transaction, all or nothing.

        :return: the ids of every comparison answered, the queries' first.
        :raises UnknownQueryError: an id that is not in the store.
        :raises AlreadyAnsweredError: a query that has a label already (someone else was faster).
        :raises ValueError: ``ranked_segments`` is not exactly the queries' segments, each once.
        """
        _check_annotator(annotator)
        ids = [_check_id(i) for i in query_ids]
        if not ids or len(set(ids)) != len(ids):
            raise ValueError(f"query_ids={list(query_ids)!r} must name one or more distinct queries.")
        order = [_check_id(i) for i in ranked_segments]
        better_worse = ranking_pairs(order)
        now = time.time()
        with self._write() as conn:
            rows = []
            for comparison_id in ids:
                row = conn.execute(
                    "SELECT left_id, right_id, label, oracle, timestep FROM comparisons WHERE id = ?", (comparison_id,)
                ).fetchone()
                if row is None:
                    raise UnknownQueryError(f"No comparison with id {comparison_id} in the store.")
                if row[2] is not None:
                    raise AlreadyAnsweredError(comparison_id, row[2])
                rows.append(row)
            shown = {segment for row in rows for segment in row[:2]}
            if set(order) != shown:
                raise ValueError(
                    f"ranked_segments={order!r} must order exactly the segments of the queries, {sorted(shown)}, "
                    "each once."
                )
            position = {segment: index for index, segment in enumerate(order)}
            asked_pairs = set()
            for comparison_id, (left, right, _, _, _) in zip(ids, rows):
                label = Label.LEFT if position[left] < position[right] else Label.RIGHT
                self._answer_one(conn, comparison_id, label, annotator, now)
                asked_pairs.add(frozenset((left, right)))
            written = list(ids)
            oracle, timestep = rows[0][3], rows[0][4]
            for better, worse in better_worse:
                if frozenset((better, worse)) in asked_pairs:
                    continue
                cursor = conn.execute(
                    "INSERT INTO comparisons(left_id, right_id, label, oracle, timestep, asked_at, answered_at, "
                    "annotator) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (better, worse, Label.LEFT.value, oracle, timestep, now, now, annotator),
                )
                assert cursor.lastrowid is not None
                written.append(cursor.lastrowid)
        return written

    @staticmethod
    def _answer_one(
        conn: sqlite3.Connection, comparison_id: int, label: Label, annotator: str | None, now: float
    ) -> bool:
        # The WHERE label IS NULL makes first-writer-wins a property of the single UPDATE statement, so it
        # holds across processes too, not only across this object's threads.
        cursor = conn.execute(
            "UPDATE comparisons SET label = ?, answered_at = ?, annotator = ? WHERE id = ? AND label IS NULL",
            (label.value, now, annotator, comparison_id),
        )
        if cursor.rowcount == 1:
            return True
        if conn.execute("SELECT 1 FROM comparisons WHERE id = ?", (comparison_id,)).fetchone() is None:
            raise UnknownQueryError(f"No comparison with id {comparison_id} in the store; use an id from add_queries.")
        return False

    def set_meta(self, key: str, value: str) -> None:
        """Keep a small string with the store (the run's config hash, the env id, ...); committed at once."""
        if not isinstance(key, str) or not key:
            raise ValueError(f"key={key!r} must be a non-empty string.")
        if key in _RESERVED_META:
            raise ValueError(f"key={key!r} is managed by the store itself; choose another key.")
        if not isinstance(value, str):
            raise TypeError(f"value={value!r} for key {key!r} must be a str; serialize it first (e.g. json.dumps).")
        with self._write() as conn:
            conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

    # -- reading ---------------------------------------------------------------------------------------

    def get_meta(self, key: str, default: str | None = None) -> str | None:
        """The value stored under ``key`` (``schema_version`` and ``created_at`` included), else ``default``."""
        with self._locked() as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return default if row is None else str(row[0])

    def pending(self, limit: int | None = None) -> list[Comparison]:
        """Comparisons still waiting for a label, oldest first (what a labelling page shows next)."""
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
            raise ValueError(f"limit={limit!r} must be None (all) or an int >= 0.")
        sql = _SELECT + " WHERE c.label IS NULL ORDER BY c.id"
        params: tuple[int, ...] = ()
        if limit is not None:
            sql += " LIMIT ?"
            params = (limit,)
        return self._fetch(sql, params)

    def comparisons(self, *, answered: bool | None = None, after_id: int = 0) -> list[Comparison]:
        """Comparisons with id > ``after_id``, ordered by id.

        :param answered: ``True`` for labelled ones (``CANT_TELL`` included), ``False`` for pending ones,
            ``None`` for all.
        :param after_id: the largest id already read; lets a trainer fetch only what is new.
        """
        if answered not in (None, True, False):
            raise ValueError(f"answered={answered!r} must be True, False or None.")
        condition = {None: "", True: " AND c.label IS NOT NULL", False: " AND c.label IS NULL"}[answered]
        return self._fetch(_SELECT + " WHERE c.id > ?" + condition + " ORDER BY c.id", (_check_id(after_id),))

    def get(self, comparison_id: int) -> Comparison:
        """The comparison with this id; :class:`UnknownQueryError` if there is none."""
        found = self._fetch(_SELECT + " WHERE c.id = ?", (_check_id(comparison_id),))
        if not found:
            raise UnknownQueryError(f"No comparison with id {comparison_id} in the store; use an id from add_queries.")
        return found[0]

    def counts(self) -> dict[str, int]:
        """How many were asked, answered and pending, and how many of each label (for metrics and progress)."""
        with self._locked() as conn:
            rows = conn.execute("SELECT label, COUNT(*) FROM comparisons GROUP BY label").fetchall()
        by_label = {label: count for label, count in rows}
        result = {"asked": sum(by_label.values()), "pending": by_label.get(None, 0)}
        result["answered"] = result["asked"] - result["pending"]
        result.update({label.value: by_label.get(label.value, 0) for label in Label})
        return result

    def bytes_per_segment(self) -> float:
        """Mean size of a stored segment (observations, actions, rewards, render states) in bytes; NaN when empty.

        What a run's store grows by per clip asked about: the figure to watch on pixels.
        """
        with self._locked() as conn:
            count, total = conn.execute(
                "SELECT COUNT(*), SUM(LENGTH(obs) + LENGTH(actions) + LENGTH(true_rewards) "
                "+ IFNULL(LENGTH(render_states), 0)) FROM segments"
            ).fetchone()
        return total / count if count else float("nan")

    def _fetch(self, sql: str, params: tuple[int, ...]) -> list[Comparison]:
        with self._locked() as conn:
            rows = conn.execute(sql, params).fetchall()
        return [_row_to_comparison(row) for row in rows]

    # -- lifetime --------------------------------------------------------------------------------------

    def close(self) -> None:
        """Close the file (idempotent); SQLite folds the WAL back into the main file."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> ComparisonStore:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._conn is None else "open"
        return f"ComparisonStore({str(self.path)!r}, {state})"


def _rollback(conn: sqlite3.Connection) -> None:
    # SQLite may already have rolled back on its own (e.g. disk full); a second ROLLBACK would raise and
    # hide the original error.
    if conn.in_transaction:
        conn.execute("ROLLBACK")


def _check_id(value: int) -> int:
    if isinstance(value, bool):
        raise TypeError(f"comparison id {value!r} must be an int, not a bool.")
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"comparison id {value!r} must be an int (an id returned by add_queries).") from None


def _check_annotator(annotator: str | None) -> None:
    if annotator is not None and not isinstance(annotator, str):
        raise TypeError(f"annotator={annotator!r} must be a str or None.")


def _to_npy(array: np.ndarray, what: str, compress: bool = False) -> bytes:
    buffer = io.BytesIO()
    try:
        # allow_pickle=False: the store must never hold pickles, which would run code when loaded.
        np.save(buffer, np.asarray(array), allow_pickle=False)
    except ValueError as error:
        raise ValueError(f"{what} cannot be stored ({error}); use a numeric array.") from None
    return _COMPRESSED + zlib.compress(buffer.getvalue()) if compress else buffer.getvalue()


def _stacks_to_blob(obs: np.ndarray) -> bytes:
    frames, index = split_stacks(obs)
    buffer = io.BytesIO()
    np.savez(buffer, frames=frames, index=index, allow_pickle=False)
    return _STACKS + zlib.compress(buffer.getvalue())


def _from_npy(blob: bytes) -> np.ndarray:
    if blob.startswith(_STACKS):
        with np.load(io.BytesIO(zlib.decompress(blob[len(_STACKS) :])), allow_pickle=False) as parts:
            return join_stacks(parts["frames"], parts["index"])
    if blob.startswith(_COMPRESSED):
        blob = zlib.decompress(blob[len(_COMPRESSED) :])
    return np.load(io.BytesIO(blob), allow_pickle=False)


def _encode_segment(segment: Segment, what: str) -> tuple[bytes, bytes, bytes, int, int, bytes | None]:
    states = segment.render_states
    obs = np.asarray(segment.obs)
    return (
        _stacks_to_blob(obs) if is_frame_stack(obs) else _to_npy(obs, f"{what}.obs", compress=obs.dtype in _COMPRESSED_DTYPES),
        _to_npy(segment.actions, f"{what}.actions"),
        _to_npy(segment.true_rewards, f"{what}.true_rewards"),
        int(segment.env_index),
        int(segment.timestep),
        # Recorded frames of pixel games (prefrl.oracles.human.snapshots) compress like image observations.
        None if states is None
        else _to_npy(states, f"{what}.render_states", compress=np.asarray(states).dtype in _COMPRESSED_DTYPES),
    )


def _decode_segment(
    obs: bytes, actions: bytes, true_rewards: bytes, env_index: int, timestep: int, render_states: bytes | None
) -> Segment:
    return Segment(
        obs=_from_npy(obs),
        actions=_from_npy(actions),
        true_rewards=_from_npy(true_rewards),
        env_index=env_index,
        timestep=timestep,
        render_states=None if render_states is None else _from_npy(render_states),
    )


def _row_to_comparison(row: tuple[Any, ...]) -> Comparison:
    comparison_id, label, oracle, timestep, asked_at, answered_at, annotator, left_id, right_id = row[:9]
    return Comparison(
        id=comparison_id,
        left=_decode_segment(*row[9:15]),
        right=_decode_segment(*row[15:21]),
        label=None if label is None else Label(label),
        oracle=oracle,
        timestep=timestep,
        asked_at=asked_at,
        answered_at=answered_at,
        annotator=annotator,
        segment_ids=(left_id, right_id),
    )
