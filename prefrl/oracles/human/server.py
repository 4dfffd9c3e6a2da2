"""The labelling server: a FastAPI app that hands pending queries to people and commits their answers.

Labels are the one thing a run cannot recompute, so the rules are strict (issue 3):

- an answer is committed to SQLite (:meth:`ComparisonStore.answer`, fsynced) *before* the response is sent, so
  every ``200`` survives a crash of the server right after it;
- first writer wins: a second answer to a query gets ``409`` and writes nothing; an unknown id gets ``404``; a
  malformed body gets ``422`` with a message that says what to send;
- several people can label at once: ``/api/next`` leases a query to one client for a short while, so two people
  get different pairs (leases live in memory only: a restarted server simply hands out pending queries afresh);
- the server binds loopback by default; any other address needs an access token, which every ``/api`` request
  must then carry (``Authorization: Bearer TOKEN`` or ``?token=TOKEN``).

Endpoints: ``GET /`` (the page), ``GET /api/next``, ``POST /api/answer``, ``GET /api/status``,
``GET /api/clip/{id}/{side}`` (a clip's video, ``side`` = ``left`` or ``right``), and for the ranking mode
``GET /api/next_ranking?k=K`` (pending queries showing K clips) and ``POST /api/rank`` (their order, stored as
all C(K,2) pairwise labels by :meth:`ComparisonStore.answer_ranking`).
"""

from __future__ import annotations

import logging
import math
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field
from importlib import resources
from typing import Annotated, Any, Callable, Mapping

import uvicorn
from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi import Path as FastApiPath
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from prefrl.oracles.human.clips import SIDES, ClipSource
from prefrl.oracles.human.oracle import is_loopback
from prefrl.oracles.human.terminal import as_text_pair
from prefrl.store import AlreadyAnsweredError, Comparison, ComparisonStore, UnknownQueryError
from prefrl.types import Label

__all__ = ["DEFAULT_LEASE_SECONDS", "RunningServer", "create_app", "generate_token", "serve"]

logger = logging.getLogger(__name__)

DEFAULT_LEASE_SECONDS = 60.0
"""How long a query handed out by ``/api/next`` is kept from other clients: long enough to watch two short
clips a few times and decide, short enough that a closed tab does not hold a query for long."""

_MAX_ID = 2**63 - 1  # SQLite's INTEGER range; a larger id would fail inside sqlite3 instead of with a 422
_MAX_ANNOTATOR = 100
_PREFETCH_QUERIES = 4  # queries beyond those on screen whose clips are rendered ahead (~0.5 s a pair)
_MAX_RANKED = 8  # clips in one ranking: more than a person can compare at a glance

TextOf = Callable[[Comparison], Mapping[str, str] | None]
Status = Callable[[], Mapping[str, Any]]

_HINTS = {
    "/api/answer": 'POST /api/answer expects JSON like {"id": 3, "label": "left", "annotator": "alice"}, '
    f"with label one of {', '.join(repr(label.value) for label in Label)}.",
    "/api/next": "GET /api/next takes an optional ?annotator=NAME (at most 100 characters).",
    "/api/rank": 'POST /api/rank expects JSON like {"ids": [3, 4], "order": [12, 9, 10, 11], "annotator": "alice"}: '
    "the query ids from /api/next_ranking and the segments of its items, best first.",
    "/api/next_ranking": f"GET /api/next_ranking needs ?annotator=NAME and takes ?k=K clips (3 to {_MAX_RANKED}).",
}


class AnswerIn(BaseModel):
    """The body of ``POST /api/answer``; unknown fields are refused so a typo (``"lable"``) cannot pass silently."""

    model_config = ConfigDict(extra="forbid")

    id: Annotated[int, Field(strict=True, ge=1, le=_MAX_ID, description="the query id from /api/next")]
    label: Label
    annotator: Annotated[str | None, Field(min_length=1, max_length=_MAX_ANNOTATOR)] = None


class RankingIn(BaseModel):
    """The body of ``POST /api/rank``: the queries shown, and their clips' segments ordered best first."""

    model_config = ConfigDict(extra="forbid")

    ids: Annotated[list[Annotated[int, Field(strict=True, ge=1, le=_MAX_ID)]], Field(min_length=1, max_length=_MAX_RANKED)]
    order: Annotated[list[Annotated[int, Field(strict=True, ge=1, le=_MAX_ID)]], Field(min_length=2, max_length=_MAX_RANKED)]
    annotator: Annotated[str | None, Field(min_length=1, max_length=_MAX_ANNOTATOR)] = None


class _Leases:
    """Which query is handed to whom, until when; in memory, guarded by a lock (endpoints run in a threadpool)."""

    def __init__(self, store: ComparisonStore, seconds: float) -> None:
        self.store = store
        self.seconds = seconds
        self._lock = threading.Lock()
        self._held: dict[int, tuple[str | None, float]] = {}  # query id -> (annotator, expires at)

    def next_for(self, annotator: str | None) -> Comparison | None:
        """The oldest pending query not leased to someone else; leases it to ``annotator``.

        A named annotator asking again gets the query they already hold (a reloaded page shows the same pair);
        an anonymous client always gets a fresh one.
        """
        with self._lock:
            now = time.monotonic()
            self._held = {i: held for i, held in self._held.items() if held[1] > now}
            # At most len(self._held) pending queries are leased, so one more than that holds a free one if any.
            for comparison in self.store.pending(limit=len(self._held) + 1):
                holder = self._held.get(comparison.id)
                if holder is None or (annotator is not None and holder[0] == annotator):
                    if annotator is not None:  # one lease per person: moving on frees the one they skipped
                        self._held = {i: h for i, h in self._held.items() if h[0] != annotator}
                    self._held[comparison.id] = (annotator, now + self.seconds)
                    return comparison
            return None

    def next_group(self, annotator: str, clips: int) -> list[Comparison]:
        """Pending queries not leased to others, oldest first, until they show ``clips`` distinct segments (the
        ranking mode); all leased to ``annotator``, whose earlier leases are given up."""
        with self._lock:
            now = time.monotonic()
            self._held = {i: h for i, h in self._held.items() if h[1] > now and h[0] != annotator}
            group: list[Comparison] = []
            segments: set[int] = set()
            for comparison in self.store.pending(limit=len(self._held) + clips):
                if comparison.id in self._held:
                    continue
                group.append(comparison)
                segments.update(comparison.segment_ids)
                if len(segments) >= clips:
                    break
            for comparison in group:
                self._held[comparison.id] = (annotator, now + self.seconds)
            return group

    @property
    def held(self) -> int:
        """How many queries are leased right now (expired leases included until the next purge)."""
        return len(self._held)

    def release(self, comparison_id: int) -> None:
        with self._lock:
            self._held.pop(comparison_id, None)


def generate_token() -> str:
    """A fresh random access token (URL-safe, 128 bits) for :func:`serve` on a non-loopback address."""
    return secrets.token_urlsafe(16)


def create_app(
    store: ComparisonStore,
    *,
    token: str | None = None,
    clips: ClipSource | None = None,
    text_of: TextOf | None = None,
    status: Status | None = None,
    lease_seconds: float = DEFAULT_LEASE_SECONDS,
) -> FastAPI:
    """Build the labelling app for ``store``; run it with :func:`serve` (or any ASGI server).

    :param store: where pending queries are read and answers committed.
    :param token: when set, every ``/api`` request must carry it (``Authorization: Bearer TOKEN`` or
        ``?token=TOKEN``): missing -> 401, wrong -> 403. The page reads it from its own URL's ``?token=``.
    :param clips: makes and keeps the videos of clip queries (a :class:`~prefrl.oracles.human.clips.ClipLibrary`);
        while a query's clips are not ready the page waits and asks again. Served under ``/api/clip/``.
    :param text_of: for text pairs, ``{"prompt", "left", "right"}`` strings of a query, or ``None`` when the
        query is a pair of clips. Queries for which it returns a dict are shown as text.
    :param status: extra progress for the page, merged into ``GET /api/status`` under ``"run"``. The page shows
        ``label_budget``, ``timesteps``, ``true_return`` and ``learned_return`` when present. Non-finite floats are
        sent as ``null``; an exception in it is logged and the rest of the status still returned.
    :param lease_seconds: how long a query handed out by ``/api/next`` is kept from other clients.
    """
    if not isinstance(store, ComparisonStore):
        raise TypeError(f"store={store!r} is a {type(store).__name__}; pass a prefrl.store.ComparisonStore.")
    _check_token(token)
    for name, value in (("text_of", text_of), ("status", status)):
        if value is not None and not callable(value):
            raise TypeError(f"{name}={value!r} must be None or a callable.")
    if clips is not None and not (callable(getattr(clips, "prepare", None)) and callable(getattr(clips, "file", None))):
        raise TypeError(f"clips={clips!r} must be None or a ClipSource (with prepare() and file()).")
    if isinstance(lease_seconds, bool) or not isinstance(lease_seconds, (int, float)) or not lease_seconds > 0:
        raise ValueError(f"lease_seconds={lease_seconds!r} must be a number > 0, e.g. {DEFAULT_LEASE_SECONDS}.")

    page = resources.files(__package__).joinpath("page.html").read_text(encoding="utf-8")
    leases = _Leases(store, float(lease_seconds))
    app = FastAPI(title="prefrl labelling", docs_url=None, redoc_url=None, openapi_url=None)

    def check_token(request: Request) -> None:
        if token is None:
            return
        header = request.headers.get("authorization", "")
        given = header[7:] if header.lower().startswith("bearer ") else request.query_params.get("token")
        if not given:
            raise HTTPException(
                401,
                "This server needs an access token: open the page with ?token=TOKEN in its URL, or send the "
                "header 'Authorization: Bearer TOKEN'.",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if not secrets.compare_digest(given.encode(), token.encode()):
            raise HTTPException(403, "Wrong access token; use the URL (with ?token=...) that the server printed.")

    guarded = [Depends(check_token)]

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        problems = "; ".join(_describe_error(item) for item in error.errors())
        hint = _HINTS.get(request.url.path, "")
        return JSONResponse(
            status_code=422,
            content={"detail": f"Invalid request: {problems}. {hint}".strip(),
                     "errors": jsonable_encoder(error.errors(), custom_encoder={Exception: str})},
        )

    # Plain `def` endpoints: FastAPI runs them in its threadpool, so the fsync in store.answer never blocks
    # the event loop, and the answer is on disk before the response is sent.

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index() -> HTMLResponse:
        # The page holds no data; it needs the token (from its own URL) for every /api call it makes.
        return HTMLResponse(page, headers={"Cache-Control": "no-store"})

    def prefetch(clips: ClipSource) -> None:
        # Start rendering the queries next in line, so the person's next pair is ready when they answer.
        for upcoming in store.pending(limit=leases.held + _PREFETCH_QUERIES):
            clips.prepare(upcoming)

    @app.get("/api/next", dependencies=guarded)
    def next_query(
        annotator: Annotated[str | None, Query(min_length=1, max_length=_MAX_ANNOTATOR)] = None,
    ) -> dict[str, Any]:
        comparison = leases.next_for(annotator)
        if clips is not None:
            prefetch(clips)
        if comparison is None:
            pending = store.counts()["pending"]
            reason = "all_leased" if pending else "queue_empty"
            return {"id": None, "no_clips_yet": True, "reason": reason, "pending": pending}
        body: dict[str, Any] = {"id": comparison.id, "length": comparison.left.length,
                                "lease_seconds": leases.seconds}
        text = as_text_pair(text_of(comparison), "text_of") if text_of is not None else None
        if text is not None:
            body.update(kind="text", prompt=text["prompt"], left=text["left"], right=text["right"])
            return body
        ready = clips is not None and clips.prepare(comparison)
        body.update(kind="clip", clips_ready=ready,
                    left=f"/api/clip/{comparison.id}/left" if ready else None,
                    right=f"/api/clip/{comparison.id}/right" if ready else None)
        return body

    @app.get("/api/next_ranking", dependencies=guarded)
    def next_ranking(
        annotator: Annotated[str, Query(min_length=1, max_length=_MAX_ANNOTATOR)],
        k: Annotated[int, Query(ge=3, le=_MAX_RANKED)] = 4,
    ) -> dict[str, Any]:
        group = leases.next_group(annotator, k)
        segments = {segment for comparison in group for segment in comparison.segment_ids}
        if len(segments) < 3:  # two clips are a plain pair: the pair view shows them
            for comparison in group:
                leases.release(comparison.id)
            pending = store.counts()["pending"]
            return {"ids": None, "no_clips_yet": True, "pending": pending,
                    "reason": "too_few" if pending else "queue_empty"}
        ready = clips is not None and all([clips.prepare(comparison) for comparison in group])
        items: dict[int, str] = {}
        for comparison in group:
            for side, segment in zip(SIDES, comparison.segment_ids):
                items.setdefault(segment, f"/api/clip/{comparison.id}/{side}")
        return {"ids": [comparison.id for comparison in group], "kind": "ranking", "clips_ready": ready,
                "items": [{"segment": segment, "url": url if ready else None} for segment, url in items.items()],
                "lease_seconds": leases.seconds}

    @app.post("/api/rank", dependencies=guarded)
    def rank(body: RankingIn) -> JSONResponse:
        try:
            written = store.answer_ranking(body.ids, body.order, annotator=body.annotator)
        except UnknownQueryError as error:
            raise HTTPException(404, f"{error} Use the ids from /api/next_ranking.") from None
        except AlreadyAnsweredError as error:
            raise HTTPException(409, f"{error} Fetch a new set from /api/next_ranking.") from None
        except ValueError as error:
            raise HTTPException(422, str(error)) from None
        finally:
            for comparison_id in body.ids:
                leases.release(comparison_id)
        return JSONResponse({"written": len(written), "ids": written})

    @app.get("/api/clip/{comparison_id}/{side}", dependencies=guarded)
    def clip(comparison_id: Annotated[int, FastApiPath(ge=1, le=_MAX_ID)], side: str) -> FileResponse:
        if side not in SIDES:
            raise HTTPException(404, f"side={side!r} is not a clip side; use one of {', '.join(SIDES)}.")
        path = clips.file(comparison_id, side) if clips is not None else None
        if path is None:
            raise HTTPException(404, f"No {side} clip for query {comparison_id} (yet); ask /api/next for one that is ready.")
        assert clips is not None
        # Rendered once and never changed: the browser may keep it while the page loops it.
        return FileResponse(path, media_type=clips.media_type, headers={"Cache-Control": "private, max-age=3600"})

    @app.post("/api/answer", dependencies=guarded)
    def answer(body: AnswerIn) -> JSONResponse:
        try:
            written = store.answer(body.id, body.label, annotator=body.annotator)
        except UnknownQueryError:
            raise HTTPException(404, f"No query with id {body.id}; use an id from /api/next.") from None
        leases.release(body.id)
        if not written:
            previous = store.get(body.id)
            who = f" by {previous.annotator!r}" if previous.annotator else ""
            raise HTTPException(
                409,
                f"Query {body.id} was already answered with {previous.label.value if previous.label else '?'!r}{who}; "
                "your answer was not written. Fetch the next query from /api/next.",
            )
        return JSONResponse({"written": True, "id": body.id, "label": body.label.value})

    @app.get("/api/status", dependencies=guarded)
    def get_status() -> dict[str, Any]:
        run: dict[str, Any] = {}
        if status is not None:
            try:
                extra = status()
                if not isinstance(extra, Mapping):
                    raise TypeError(f"status() returned a {type(extra).__name__}; it must return a dict")
                run = {str(key): _finite(value) for key, value in extra.items()}
            except Exception:  # the page's progress line must not take the labelling down with it
                logger.exception("status() failed; /api/status returns the store counts only")
        return {"counts": store.counts(), "run": run}

    return app


@dataclass
class RunningServer:
    """A labelling server running in a background thread; :meth:`stop` it (or use it as a context manager).

    :param url: where to reach it from this machine, e.g. ``http://127.0.0.1:8765``.
    :param page_url: the page's URL to give people, with ``?token=`` when a token is set.
    """

    url: str
    page_url: str
    host: str
    port: int
    _server: uvicorn.Server = field(repr=False)
    _thread: threading.Thread = field(repr=False)
    _socket: socket.socket = field(repr=False)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop accepting, let requests in flight finish (so their answers are committed), then return."""
        self._server.should_exit = True
        self._thread.join(timeout)
        self._socket.close()
        if self._thread.is_alive():
            logger.warning("The labelling server at %s did not stop within %.0f s.", self.url, timeout)

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def serve(
    store: ComparisonStore,
    host: str = "127.0.0.1",
    port: int = 0,
    token: str | None = None,
    *,
    clips: ClipSource | None = None,
    text_of: TextOf | None = None,
    status: Status | None = None,
    lease_seconds: float = DEFAULT_LEASE_SECONDS,
    startup_timeout: float = 10.0,
) -> RunningServer:
    """Serve the labelling app on a real socket in a background thread, and return once it accepts requests.

    :param host: the address to bind. Loopback (``127.0.0.1``, ``::1``, ``localhost``) is reachable from this
        machine only; any other address (``0.0.0.0``, a LAN address) exposes the store, so it needs ``token``.
    :param port: the TCP port; ``0`` picks a free one (read it from the result's ``port``).
    :param token: the access token every ``/api`` request must carry; :func:`generate_token` makes one.
    :raises ValueError: a non-loopback ``host`` without ``token``, or a bad ``port``.
    :raises OSError: the address cannot be bound (port in use, unknown host).

    Other parameters are those of :func:`create_app`.
    """
    if not isinstance(host, str) or not host:
        raise ValueError(f"host={host!r} must be an address such as '127.0.0.1'.")
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise ValueError(f"port={port!r} must be an int in 0..65535 (0 picks a free port).")
    if token is None and not is_loopback(host):
        raise ValueError(
            f"host={host!r} is reachable from other machines, so the labelling server needs an access token; "
            "pass token=prefrl.oracles.human.generate_token() (and share the printed URL), or bind "
            "host='127.0.0.1'."
        )
    app = create_app(store, token=token, clips=clips, text_of=text_of, status=status,
                     lease_seconds=lease_seconds)

    # Bind the socket here rather than in uvicorn: a busy port raises OSError in the caller's thread instead of
    # uvicorn's sys.exit in the background one, and port=0 is resolved before the server starts.
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP, not the default 0: asyncio turns Nagle off (TCP_NODELAY) only on accepted sockets whose
    # proto says TCP; with 0, each response's body waits ~40 ms for the client's delayed ACK of its headers.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError as error:
        sock.close()
        raise OSError(error.errno, f"Cannot serve on {host}:{port}: {error.strerror}; pick another port "
                                   f"(port=0 picks a free one).") from error
    bound_port = sock.getsockname()[1]

    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,  # access lines would write ?token= into logs
        lifespan="off",
        loop="asyncio",  # "auto" may install uvloop's global event-loop policy behind the caller's back
        ws="none",
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="prefrl-labelling", daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            thread.join(5)
            sock.close()
            raise RuntimeError(f"The labelling server on {host}:{bound_port} did not start; see the log above.")
        time.sleep(0.01)

    url_host = _client_host(host)
    url = f"http://{url_host}:{bound_port}"
    page_url = f"{url}/" + (f"?token={token}" if token is not None else "")
    logger.info("Labelling page at %s", url if token is None else f"{url}/?token=...")
    return RunningServer(url=url, page_url=page_url, host=host, port=bound_port,
                         _server=server, _thread=thread, _socket=sock)


def _check_token(token: str | None) -> None:
    if token is None:
        return
    if not isinstance(token, str) or not token.strip() or not token.isascii() or any(c.isspace() for c in token):
        raise ValueError(
            f"token={token!r} must be a non-empty ASCII string without spaces; use generate_token() for one."
        )


def _client_host(host: str) -> str:
    """The address a client on this machine uses for a server bound to ``host``."""
    if host in ("0.0.0.0", "") or host.lower() == "localhost":  # localhost may resolve to ::1 first
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


def _finite(value: Any) -> Any:
    # Starlette's JSON refuses NaN/inf (not valid JSON); a return that is not known yet is sent as null.
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _describe_error(item: Mapping[str, Any]) -> str:
    location = ".".join(str(part) for part in item.get("loc", ()) if part not in ("body", "query"))
    got = ""
    if "input" in item and item.get("type") != "missing":
        shown = repr(item["input"])
        got = f" (got {shown if len(shown) <= 80 else shown[:77] + '...'})"
    return f"{location or 'body'}: {item.get('msg', 'invalid')}{got}"
