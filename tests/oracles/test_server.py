"""The labelling server over real HTTP: a uvicorn server on an ephemeral port, httpx clients, a real SQLite store.

What issue 3 requires of it: exactly one stored label per query under concurrent clients, every acknowledged answer
still in the store after the server stops or is killed, clear 4xx for bad input with nothing written, and an
access token for any non-loopback address.
"""

from __future__ import annotations

import math
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pytest

pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")

from prefrl.oracles.human import RunningServer, generate_token, serve  # noqa: E402
from prefrl.store import ComparisonStore  # noqa: E402
from prefrl.types import Label, Segment  # noqa: E402

LABELS = [label.value for label in Label]


def tiny_segment(value: float = 0.0) -> Segment:
    return Segment(obs=np.full((3, 2), value, dtype=np.float32), actions=np.zeros(3), true_rewards=np.full(3, value))


def add_queries(store: ComparisonStore, n: int) -> list[int]:
    pairs = [(tiny_segment(i), tiny_segment(-i)) for i in range(n)]
    return store.add_queries(pairs, oracle="human", timestep=0)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ComparisonStore]:
    with ComparisonStore(tmp_path / "comparisons.sqlite") as opened:
        yield opened


@contextmanager
def running(store: ComparisonStore, **kwargs: Any) -> Iterator[tuple[RunningServer, httpx.Client]]:
    server = serve(store, **kwargs)
    try:
        with httpx.Client(base_url=server.url, timeout=10) as client:
            yield server, client
    finally:
        server.stop()


# -- round trip and input validation -----------------------------------------------------------------


def test_next_then_answer_commits_the_label(store: ComparisonStore) -> None:
    ids = add_queries(store, 2)
    with running(store) as (_, client):
        query = client.get("/api/next", params={"annotator": "alice"}).json()
        assert query["id"] == ids[0]  # oldest first
        assert query["kind"] == "clip" and query["left"] is None and query["clips_ready"] is False
        assert "true_return" not in query and "rewards" not in str(query)  # the person must not see the answer

        response = client.post("/api/answer", json={"id": ids[0], "label": "left", "annotator": "alice"})
        assert response.status_code == 200 and response.json()["written"] is True
        # Committed before the response: a second connection to the file sees it at once.
        with ComparisonStore(store.path, create=False) as other:
            stored = other.get(ids[0])
        assert stored.label is Label.LEFT and stored.annotator == "alice"

        second = client.post("/api/answer", json={"id": ids[0], "label": "right"})
        assert second.status_code == 409 and "already answered" in second.json()["detail"]
        assert store.get(ids[0]).label is Label.LEFT

        unknown = client.post("/api/answer", json={"id": 9999, "label": "left"})
        assert unknown.status_code == 404 and "9999" in unknown.json()["detail"]


@pytest.mark.parametrize(
    "body",
    [
        {"id": 1, "label": "up"},  # not a label
        {"id": 1, "label": "LEFT!"},
        {"id": "1", "label": "left"},  # ids are ints, not strings
        {"id": True, "label": "left"},
        {"id": 1},  # label missing
        {"label": "left"},  # id missing
        {"id": 1, "label": "left", "lable": "left"},  # a typo'd extra field is refused, not ignored
        {"id": 1, "label": "left", "annotator": ""},
        {"id": 2**70, "label": "left"},
        [1, "left"],
    ],
)
def test_malformed_answers_get_422_and_write_nothing(store: ComparisonStore, body: object) -> None:
    add_queries(store, 1)
    with running(store) as (_, client):
        response = client.post("/api/answer", json=body)
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert detail.startswith("Invalid request:") and "expects JSON like" in detail
    assert store.counts()["answered"] == 0


def test_a_body_that_is_not_json_gets_a_4xx(store: ComparisonStore) -> None:
    add_queries(store, 1)
    with running(store) as (_, client):
        response = client.post("/api/answer", content=b"{not json", headers={"Content-Type": "application/json"})
    assert 400 <= response.status_code < 500
    assert store.counts()["answered"] == 0


def test_empty_queue_says_no_clips_yet(store: ComparisonStore) -> None:
    with running(store) as (_, client):
        body = client.get("/api/next").json()
        assert body["id"] is None and body["no_clips_yet"] is True and body["reason"] == "queue_empty"
        add_queries(store, 1)  # queries added while the server runs show up on the next poll
        assert client.get("/api/next").json()["id"] is not None


def test_page_is_served_with_buttons_and_shortcuts(store: ComparisonStore) -> None:
    with running(store) as (_, client):
        page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for text in ("Left better", "Right better", "Equal", "Can't tell", "ArrowLeft", "ArrowDown", "/api/next"):
        assert text in page.text


# -- clips, text pairs, status -----------------------------------------------------------------------


class FolderClips:
    """A ClipSource over files already on disk: the server's side of clips, without rendering."""

    media_type = "video/webm"

    def __init__(self, folder: Path, ready_ids: set[int]) -> None:
        self.folder, self.ready_ids = folder, ready_ids

    def prepare(self, comparison: Any) -> bool:
        return comparison.id in self.ready_ids

    def file(self, comparison_id: int, side: str) -> Path | None:
        path = self.folder / f"{comparison_id}-{side}.webm"
        return path if path.is_file() else None


def test_clip_queries_text_pairs_and_clip_files(store: ComparisonStore, tmp_path: Path) -> None:
    clip_id, text_id, unready_id = add_queries(store, 3)
    for side in ("left", "right"):
        (tmp_path / f"{clip_id}-{side}.webm").write_bytes(side.encode() * 10)
    clips = FolderClips(tmp_path, {clip_id})

    def text_of(comparison: Any) -> dict[str, str] | None:
        if comparison.id != text_id:
            return None
        return {"prompt": "Say hi.", "left": "Hi!", "right": "Go away."}

    token = generate_token()
    with running(store, clips=clips, text_of=text_of, token=token) as (_, client):
        auth = {"Authorization": f"Bearer {token}"}
        clip = client.get("/api/next", params={"annotator": "a"}, headers=auth).json()
        text = client.get("/api/next", params={"annotator": "b"}, headers=auth).json()
        unready = client.get("/api/next", params={"annotator": "c"}, headers=auth).json()
        video = client.get(clip["right"], params={"token": token})  # how <video src> sends the token
        missing = client.get(f"/api/clip/{unready_id}/left", params={"token": token})
        bad_side = client.get(f"/api/clip/{clip_id}/middle", params={"token": token})
        no_token = client.get(clip["left"])
    assert clip == {**clip, "id": clip_id, "kind": "clip", "clips_ready": True,
                    "left": f"/api/clip/{clip_id}/left", "right": f"/api/clip/{clip_id}/right"}
    assert text == {**text, "id": text_id, "kind": "text", "prompt": "Say hi.", "left": "Hi!", "right": "Go away."}
    assert unready == {**unready, "id": unready_id, "clips_ready": False, "left": None}
    assert video.status_code == 200 and video.content == b"right" * 10
    assert video.headers["content-type"] == "video/webm"
    assert missing.status_code == 404 and "yet" in missing.json()["detail"]
    assert bad_side.status_code == 404 and "left, right" in bad_side.json()["detail"]
    assert no_token.status_code == 401


def test_status_merges_store_counts_and_run_progress(store: ComparisonStore) -> None:
    ids = add_queries(store, 3)
    store.answer(ids[0], Label.EQUAL)

    def status() -> dict[str, Any]:
        return {"label_budget": 100, "true_return": 12.5, "learned_return": math.nan}

    with running(store, status=status) as (_, client):
        body = client.get("/api/status").json()
    assert body["counts"] == {**body["counts"], "asked": 3, "answered": 1, "pending": 2, "equal": 1}
    assert body["run"] == {"label_budget": 100, "true_return": 12.5, "learned_return": None}  # NaN -> null


def test_a_failing_status_callback_does_not_break_status(store: ComparisonStore) -> None:
    def status() -> dict[str, Any]:
        raise RuntimeError("trainer not ready")

    with running(store, status=status) as (_, client):
        response = client.get("/api/status")
    assert response.status_code == 200 and response.json()["run"] == {}


# -- leases ------------------------------------------------------------------------------------------


def test_two_clients_asking_at_once_get_different_queries(store: ComparisonStore) -> None:
    ids = add_queries(store, 2)
    barrier = threading.Barrier(2)
    got: dict[str, int] = {}

    with running(store) as (server, _):
        def ask(name: str) -> None:
            with httpx.Client(base_url=server.url, timeout=10) as client:
                barrier.wait()
                got[name] = client.get("/api/next", params={"annotator": name}).json()["id"]

        threads = [threading.Thread(target=ask, args=(name,)) for name in ("alice", "bob")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        assert sorted(got.values()) == ids
        with httpx.Client(base_url=server.url, timeout=10) as client:
            # A third person finds both leased; alice asking again (a reload) gets her own pair back.
            third = client.get("/api/next", params={"annotator": "carol"}).json()
            assert third["id"] is None and third["reason"] == "all_leased"
            assert client.get("/api/next", params={"annotator": "alice"}).json()["id"] == got["alice"]
            # Once alice answers, her lease is gone and the query is no longer pending.
            client.post("/api/answer", json={"id": got["alice"], "label": "left", "annotator": "alice"})
            assert client.get("/api/next", params={"annotator": "carol"}).json()["id"] is None


def test_an_expired_lease_frees_the_query(store: ComparisonStore) -> None:
    (only,) = add_queries(store, 1)
    with running(store, lease_seconds=0.2) as (_, client):
        assert client.get("/api/next", params={"annotator": "alice"}).json()["id"] == only
        assert client.get("/api/next", params={"annotator": "bob"}).json()["id"] is None
        time.sleep(0.3)
        assert client.get("/api/next", params={"annotator": "bob"}).json()["id"] == only


# -- concurrency -------------------------------------------------------------------------------------


def test_20_concurrent_clients_store_exactly_one_label_per_query(store: ComparisonStore) -> None:
    n_queries, n_clients, answers_per_query = 500, 20, 3
    ids = add_queries(store, n_queries)
    # Query k goes to clients k, k+1, k+2 (mod 20): every query is raced by three clients, 1500 requests in all.
    plans: list[list[int]] = [[] for _ in range(n_clients)]
    for k, query_id in enumerate(ids):
        for j in range(answers_per_query):
            plans[(k + j) % n_clients].append(query_id)
    barrier = threading.Barrier(n_clients)
    results: list[tuple[int, int, str, str]] = []  # (query id, status, label, annotator)
    results_lock = threading.Lock()
    errors: list[BaseException] = []

    with running(store) as (server, _):
        def client_thread(index: int) -> None:
            rng = random.Random(index)
            plan = plans[index][:]
            rng.shuffle(plan)
            name = f"client-{index}"
            try:
                with httpx.Client(base_url=server.url, timeout=30) as client:
                    barrier.wait()
                    for query_id in plan:
                        label = rng.choice(LABELS)
                        response = client.post("/api/answer", json={"id": query_id, "label": label, "annotator": name})
                        with results_lock:
                            results.append((query_id, response.status_code, label, name))
            except BaseException as error:  # surfaced below; a thread's exception would otherwise vanish
                errors.append(error)

        threads = [threading.Thread(target=client_thread, args=(i,)) for i in range(n_clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    assert not errors
    statuses = Counter(status for _, status, _, _ in results)
    assert statuses == {200: n_queries, 409: n_queries * (answers_per_query - 1)}
    winners = {query_id: (label, name) for query_id, status, label, name in results if status == 200}
    assert sorted(winners) == ids  # one acknowledged answer per query, none lost
    assert store.counts()["answered"] == n_queries and store.counts()["pending"] == 0
    stored = {c.id: (c.label.value if c.label else None, c.annotator) for c in store.comparisons()}
    assert stored == winners  # the stored label is exactly the acknowledged one


# -- restarts ----------------------------------------------------------------------------------------


class Labeller(threading.Thread):
    """Labels queries through /api/next -> /api/answer until none are pending, riding out server outages."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.acknowledged: dict[int, str] = {}  # query id -> label, for every 200 received
        self.enough = threading.Event()
        self.stopped = threading.Event()
        self.threshold = 20
        self.rng = random.Random(0)

    def run(self) -> None:
        while not self.stopped.is_set():
            try:
                with httpx.Client(base_url=self.url, timeout=5) as client:
                    query = client.get("/api/next", params={"annotator": "labeller"}).json()
                    if query["id"] is None:
                        return
                    label = self.rng.choice(LABELS)
                    response = client.post("/api/answer", json={"id": query["id"], "label": label,
                                                                "annotator": "labeller"})
                if response.status_code == 200:
                    self.acknowledged[query["id"]] = label
                    if len(self.acknowledged) >= self.threshold:
                        self.enough.set()
            except httpx.TransportError:  # the server is down: wait for the new one (self.url is updated)
                time.sleep(0.05)


def assert_acknowledged_answers_kept(path: Path, acknowledged: dict[int, str]) -> None:
    with ComparisonStore(path, create=False) as reopened:
        stored = {c.id: c.label.value for c in reopened.comparisons(answered=True) if c.label is not None}
    assert {i: stored.get(i) for i in acknowledged} == acknowledged


def test_answers_survive_a_server_restart_and_labelling_continues(tmp_path: Path) -> None:
    path = tmp_path / "comparisons.sqlite"
    first_store = ComparisonStore(path)
    ids = add_queries(first_store, 60)
    first = serve(first_store)
    labeller = Labeller(first.url)
    labeller.start()
    assert labeller.enough.wait(20), "the labeller did not get going"

    first.stop()  # mid-labelling: the labeller keeps trying and gets connection errors
    first_store.close()
    acknowledged_before_stop = dict(labeller.acknowledged)
    assert len(acknowledged_before_stop) >= 20
    assert_acknowledged_answers_kept(path, acknowledged_before_stop)

    with ComparisonStore(path, create=False) as second_store:
        second = serve(second_store)
        labeller.url = second.url
        labeller.join(30)
        second.stop()
        assert not labeller.is_alive()
        assert second_store.counts()["pending"] == 0 and second_store.counts()["answered"] == len(ids)
    assert_acknowledged_answers_kept(path, labeller.acknowledged)


_KILLABLE_SERVER = """
import sys, time
from prefrl.store import ComparisonStore
from prefrl.oracles.human import serve
server = serve(ComparisonStore(sys.argv[1], create=False))
print(server.port, flush=True)
time.sleep(600)
"""


def test_answers_acknowledged_before_a_kill_are_in_the_store(tmp_path: Path) -> None:
    # SIGKILL gives the server no chance to flush anything: only what was committed before each 200 survives.
    path = tmp_path / "comparisons.sqlite"
    with ComparisonStore(path) as setup:
        add_queries(setup, 200)
    process = subprocess.Popen(
        [sys.executable, "-c", _KILLABLE_SERVER, str(path)], stdout=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline())
        labeller = Labeller(f"http://127.0.0.1:{port}")
        labeller.threshold = 30
        labeller.start()
        assert labeller.enough.wait(30), "the labeller did not get going"
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(10)
    labeller.stopped.set()
    labeller.join(10)  # its last request fails against the dead server
    acknowledged = dict(labeller.acknowledged)
    assert len(acknowledged) >= 30
    assert_acknowledged_answers_kept(path, acknowledged)
    with ComparisonStore(path, create=False) as reopened:  # and the killed run's store can be served again
        with running(reopened) as (_, client):
            assert client.get("/api/next").json()["id"] is not None


# -- access token ------------------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "labelling.example.org"])
def test_non_loopback_bind_without_token_is_refused(store: ComparisonStore, host: str) -> None:
    with pytest.raises(ValueError, match="token"):
        serve(store, host=host)


@pytest.mark.parametrize("token", ["", "   ", "has space", "ünïcode"])
def test_unusable_tokens_are_refused(store: ComparisonStore, token: str) -> None:
    with pytest.raises(ValueError, match="token="):
        serve(store, token=token)


def test_token_is_required_on_every_api_request(store: ComparisonStore) -> None:
    (query_id,) = add_queries(store, 1)
    token = generate_token()
    with running(store, host="0.0.0.0", token=token) as (server, client):
        assert server.page_url.endswith(f"/?token={token}")
        answer = {"id": query_id, "label": "left"}
        assert client.get("/api/next").status_code == 401
        assert client.get("/api/status").status_code == 401
        assert client.post("/api/answer", json=answer).status_code == 401
        wrong = {"Authorization": "Bearer not-the-token"}
        assert client.get("/api/next", headers=wrong).status_code == 403
        assert client.get("/api/next", params={"token": "not-the-token"}).status_code == 403
        assert client.post("/api/answer", json=answer, headers=wrong).status_code == 403
        assert store.counts()["answered"] == 0  # refused requests wrote nothing

        assert client.get("/").status_code == 200  # the page holds no data; it sends the token from its URL
        assert client.get("/api/next", params={"token": token}).json()["id"] == query_id
        right = {"Authorization": f"Bearer {token}"}
        assert client.post("/api/answer", json=answer, headers=right).status_code == 200
        assert client.get("/api/status", headers=right).json()["counts"]["answered"] == 1


def test_loopback_binds_need_no_token(store: ComparisonStore) -> None:
    with running(store, host="localhost") as (_, client):
        assert client.get("/api/status").status_code == 200


# -- ranking mode ----------------------------------------------------------------------------------------


def test_ranking_leases_queries_and_stores_every_pair(store: ComparisonStore, tmp_path: Path) -> None:
    ids = add_queries(store, 3)
    clips = FolderClips(tmp_path, set(ids))
    with running(store, clips=clips) as (_, client):
        group = client.get("/api/next_ranking", params={"annotator": "ann", "k": 4}).json()
        # Another person gets what is left: one query, two clips, too few to rank.
        other = client.get("/api/next_ranking", params={"annotator": "bob", "k": 4}).json()
        assert group["ids"] == ids[:2] and group["clips_ready"] is True and len(group["items"]) == 4
        assert other["ids"] is None and other["reason"] == "too_few"
        assert group["items"][0]["url"] == f"/api/clip/{ids[0]}/left"
        order = [item["segment"] for item in reversed(group["items"])]
        bad = client.post("/api/rank", json={"ids": group["ids"], "order": order[:3], "annotator": "ann"})
        assert bad.status_code == 422 and "exactly the segments" in bad.json()["detail"]
        malformed = client.post("/api/rank", json={"ids": "1,2", "order": order})
        assert malformed.status_code == 422 and "POST /api/rank expects" in malformed.json()["detail"]
        response = client.post("/api/rank", json={"ids": group["ids"], "order": order, "annotator": "ann"})
        assert response.status_code == 200 and response.json()["written"] == 6
        again = client.post("/api/rank", json={"ids": group["ids"], "order": order, "annotator": "ann"})
        assert again.status_code == 409
        missing_k = client.get("/api/next_ranking", params={"annotator": "ann", "k": 2})
        assert missing_k.status_code == 422
    assert store.get(ids[0]).label is Label.RIGHT  # its right clip was ranked above its left one
    assert store.counts()["answered"] == 6 and store.counts()["pending"] == 1
