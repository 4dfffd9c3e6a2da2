"""The human oracle in real runs: a scripted person answers over HTTP while PPO trains; nobody answering never
blocks training; `prefrl label --run DIR` serves a stopped run's queries, and the run resumes with those labels."""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("av")
httpx = pytest.importorskip("httpx")

from prefrl.config import HumanConfig  # noqa: E402
from prefrl.oracles import OracleSession, oracle_from_config  # noqa: E402
from prefrl.oracles.human import HumanOracle  # noqa: E402
from prefrl.store import ComparisonStore  # noqa: E402
from prefrl.trainer import PreferenceRL, train_config  # noqa: E402
from prefrl.types import Segment  # noqa: E402

WEBM_MAGIC = b"\x1a\x45\xdf\xa3"  # EBML header: the first bytes of every WebM file


def tiny_human_run(out: Path, **overrides: Any):
    settings: dict[str, Any] = dict(
        oracle="human", port=0, labels=6, timesteps=768, n_envs=2, segment_length=10, sync=True,
        eval_episodes=1, final_eval_episodes=1, out=str(out),
    )
    settings.update(overrides)
    return train_config("CartPole-v1", **settings)


class ScriptedPerson(threading.Thread):
    """Labels like a person on the page: next pair, both videos, an answer (the longer-upright clip)."""

    def __init__(self, oracle: HumanOracle, store_path: Path) -> None:
        super().__init__(daemon=True)
        self.oracle, self.store_path = oracle, store_path
        self.stop = threading.Event()
        self.answered: list[int] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            while self.oracle.url is None and not self.stop.is_set():
                time.sleep(0.05)
            with httpx.Client(base_url=self.oracle.url, timeout=30) as client, \
                    ComparisonStore(self.store_path, create=False) as store:
                while not self.stop.is_set():
                    query = client.get("/api/next", params={"annotator": "robot"}).json()
                    if query["id"] is None or not query["clips_ready"]:
                        time.sleep(0.1)
                        continue
                    for side in ("left", "right"):
                        video = client.get(query[side])
                        assert video.status_code == 200 and video.content[:4] == WEBM_MAGIC
                    comparison = store.get(query["id"])  # what the person saw; the robot reads the truth
                    label = "left" if comparison.left.true_return >= comparison.right.true_return else "right"
                    response = client.post("/api/answer", json={"id": query["id"], "label": label, "annotator": "robot"})
                    assert response.status_code == 200, response.text
                    self.answered.append(query["id"])
        except httpx.TransportError as error:
            if self.oracle.url is not None:  # refused while the page was up: a real failure
                self.error = error
        except BaseException as error:  # surfaced by the test
            self.error = error


@pytest.mark.slow
def test_a_person_labels_on_the_page_while_ppo_trains(tmp_path: Path) -> None:
    config = tiny_human_run(tmp_path / "run")
    oracle = oracle_from_config("human", config)
    assert isinstance(oracle, HumanOracle)
    person = ScriptedPerson(oracle, tmp_path / "run" / "comparisons.sqlite")
    person.start()
    try:
        summary = PreferenceRL(config, oracle=oracle, progress=False).learn()
    finally:
        person.stop.set()
        person.join(30)
    assert person.error is None, person.error
    assert oracle.url is None  # the page stopped with the run
    # The run waited for the initial labels (2 of 6), then went on; everything answered was the robot's.
    assert summary["oracle"] == "human" and summary["labels_used"] >= 2 and summary["reward_fits"] >= 1
    with ComparisonStore(tmp_path / "run" / "comparisons.sqlite", create=False) as store:
        answered = store.comparisons(answered=True)
        assert sorted(c.id for c in answered) == sorted(person.answered)
        assert {c.annotator for c in answered} == {"robot"}
        assert all(c.left.render_states is not None for c in store.comparisons())
    assert len(list((tmp_path / "run" / "clips").glob("*.webm"))) >= 2 * len(person.answered)


@pytest.mark.slow
def test_nobody_answering_never_blocks_then_prefrl_label_serves_the_stopped_run(tmp_path: Path) -> None:
    run = tmp_path / "run"
    summary = PreferenceRL(tiny_human_run(run, wait_for_initial=False), progress=False).learn()
    assert summary["labels_used"] == 0 and summary["labels_asked"] == 6  # every query still pending

    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    server = subprocess.Popen(
        [sys.executable, "-m", "prefrl.cli", "label", "--run", str(run), "--label-port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
        # Started with SIGINT ignored, as some job runners (and some earlier tests' libraries) leave it: Ctrl-C
        # must stop `prefrl label` all the same.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    try:
        url = None
        for line in server.stdout:  # type: ignore[union-attr]
            found = re.search(r"Labelling page: (http://\S+)", line)
            if found:
                url = found.group(1).rstrip("/")
                break
        assert url is not None, "prefrl label printed no URL"
        answered = []
        with httpx.Client(base_url=url, timeout=30) as client:
            status = client.get("/api/status").json()
            assert status["run"]["label_budget"] == 6 and status["counts"]["pending"] == 6
            deadline = time.monotonic() + 120
            while len(answered) < 3 and time.monotonic() < deadline:
                query = client.get("/api/next", params={"annotator": "offline"}).json()
                if not query["clips_ready"]:
                    time.sleep(0.1)
                    continue
                assert client.get(query["left"]).content[:4] == WEBM_MAGIC
                assert client.post("/api/answer", json={"id": query["id"], "label": "equal"}).status_code == 200
                answered.append(query["id"])
        server.send_signal(signal.SIGINT)
        output = server.communicate(timeout=60)[0]  # ~1 s on an idle machine
        assert server.returncode == 0 and "3 answered, 3 pending" in output
    finally:
        if server.poll() is None:
            server.kill()

    # The stopped run picks the offline labels up when resumed, and is refit on them.
    resumed = PreferenceRL.resume(run, progress=False).learn()
    assert resumed["labels_used"] == 3 and resumed["label_counts"]["equal"] == 3 and resumed["reward_fits"] >= 1


def test_prefrl_label_refuses_a_folder_that_is_not_a_run_and_leaves_the_signal_handlers_alone(tmp_path: Path) -> None:
    from prefrl.cli import main

    before = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}
    assert main(["label", "--run", str(tmp_path)]) == 2
    assert all(signal.getsignal(number) is handler for number, handler in before.items())


def test_non_loopback_page_needs_a_token(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from prefrl.cli import main

    with pytest.raises(ValueError, match="needs an access token: pass --label-token auto"):
        HumanOracle(HumanConfig(host="0.0.0.0", port=0))
    out = tmp_path / "refused"
    assert main(["train", "--oracle", "human", "--label-host", "0.0.0.0", "--out", str(out)]) == 2
    assert "needs an access token" in capsys.readouterr().err
    assert not (out / "config.json").exists()  # refused before the run folder was written

    auto = HumanOracle(HumanConfig(host="0.0.0.0", port=0, token="auto"))
    with ComparisonStore(tmp_path / "comparisons.sqlite") as store:
        auto.open(OracleSession(store, tmp_path, "CartPole-v1", dict))
        try:
            assert auto.url is not None and re.search(r"\?token=[\w-]{16,}$", auto.url)
            assert httpx.get(auto.url.split("?")[0] + "api/status").status_code == 401
            assert httpx.get(auto.url.replace("?token=", "api/status?token=")).status_code == 200
        finally:
            auto.close()


def test_label_leaves_every_pair_pending() -> None:
    segment = Segment(np.zeros((2, 1)), np.zeros(2), np.zeros(2))
    assert HumanOracle().label([(segment, segment)] * 3) == [None, None, None]


@pytest.mark.slow
def test_a_minatar_runs_queries_are_served_as_webm_of_the_games_own_frames(tmp_path: Path) -> None:
    pytest.importorskip("minatar")
    import av

    from prefrl.oracles.human.clips import enlarge
    from prefrl.oracles.human.oracle import session_for_run

    run = tmp_path / "run"
    config = train_config("MinAtar/Breakout-v1", oracle="human", port=0, labels=4, timesteps=256, n_envs=2,
                          segment_length=10, sync=True, wait_for_initial=False, eval_episodes=1,
                          final_eval_episodes=1, out=str(run))
    assert PreferenceRL(config, progress=False).learn()["labels_asked"] == 4  # all pending: nobody answered

    oracle = HumanOracle(HumanConfig(port=0))
    with ComparisonStore(run / "comparisons.sqlite", create=False) as store:
        oracle.open(session_for_run(run))
        try:
            with httpx.Client(base_url=oracle.url, timeout=30) as client:
                deadline = time.monotonic() + 120
                query = client.get("/api/next", params={"annotator": "viewer"}).json()
                while not query["clips_ready"] and time.monotonic() < deadline:
                    time.sleep(0.1)
                    query = client.get("/api/next", params={"annotator": "viewer"}).json()
                assert query["clips_ready"], "the clips of a pending query were never made"
                responses = {side: client.get(query[side]) for side in ("left", "right")}
        finally:
            oracle.close()
        comparison = store.get(query["id"])
    for side, segment in zip(("left", "right"), (comparison.left, comparison.right)):
        response = responses[side]
        assert response.status_code == 200 and response.headers["content-type"] == "video/webm"
        with av.open(io.BytesIO(response.content)) as container:
            video = np.stack([frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)])
        assert video.shape == (10, 320, 320, 3)  # every step of the segment; the 10x10 grid in 32x32 squares
        assert np.abs(video.astype(float) - enlarge(segment.render_states)).mean() < 8  # the recorded frames
