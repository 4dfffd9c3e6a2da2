"""The human oracle: queries wait in the store, a person answers them on the labelling page, training goes on.

Christiano et al. (2017) had people label while the agent learned, never pausing it: the trainer asks,
then fits on whatever answers have arrived. :meth:`HumanOracle.label` therefore answers nothing itself (every
entry ``None``: the pairs are already pending in the store); the page's server, started in :meth:`open`,
commits each answer into the store the moment a person gives it, and the next reward fit picks it up.
"""

from __future__ import annotations

import ipaddress
import logging
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from prefrl.config import HumanConfig, TrainConfig
from prefrl.oracles.base import OracleSession, register_oracle
from prefrl.runs import RunFolder, read_metrics, read_train_config
from prefrl.store import ComparisonStore
from prefrl.types import Label, SegmentPair

if TYPE_CHECKING:  # pragma: no cover
    from prefrl.oracles.human.clips import ClipLibrary
    from prefrl.oracles.human.server import RunningServer

__all__ = ["HumanOracle", "is_loopback", "resolve_token", "session_for_run"]

logger = logging.getLogger(__name__)

CLIPS_FOLDER = "clips"


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable from this machine only (any other address needs an access token)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name other than localhost: may resolve to anything
        return False


def resolve_token(token: str | None) -> str | None:
    """``"auto"`` -> a fresh random token; anything else as given (the server checks it)."""
    if token == "auto":
        from prefrl.oracles.human.server import generate_token

        return generate_token()
    return token


@register_oracle("human")
class HumanOracle:
    """Serves the run's pending queries on a web page; people's answers go straight into the store.

    :param config: where the page is served and how queries are leased.
    """

    name = "human"
    records_render_states = True  # the page shows clips: each step's own frame (pixel envs) or its simulator state
    answers_later = True  # labels arrive through the store, not from label(): the trainer must not wait on it

    def __init__(self, config: HumanConfig = HumanConfig()) -> None:
        if not isinstance(config, HumanConfig):
            raise TypeError(f"config={config!r} is a {type(config).__name__}; pass a prefrl.config.HumanConfig.")
        if config.token is None and not is_loopback(config.host):
            # Checked here, before a run folder is written, not only when the server starts.
            raise ValueError(
                f"host={config.host!r} is reachable from other machines, so the labelling page needs an access "
                "token: pass --label-token auto (or a token of your own), or bind --label-host 127.0.0.1."
            )
        self.config = config
        self.server: RunningServer | None = None
        self.clips: ClipLibrary | None = None

    @classmethod
    def from_train_config(cls, config: TrainConfig) -> HumanOracle:
        return cls(config.human)

    @property
    def url(self) -> str | None:
        """The page's URL to give people (with ``?token=`` when there is one), once :meth:`open` has run."""
        return None if self.server is None else self.server.page_url

    def open(self, session: OracleSession) -> None:
        """Start rendering clips and serving the page for the run described by ``session``."""
        from prefrl.oracles.human.clips import ClipLibrary
        from prefrl.oracles.human.server import serve

        self.close()
        cfg = self.config
        self.clips = ClipLibrary(session.run_dir / CLIPS_FOLDER, session.env_id)
        try:
            self.server = serve(
                session.store,
                cfg.host,
                cfg.port,
                resolve_token(cfg.token),
                clips=self.clips,
                status=session.status,
                lease_seconds=cfg.lease_seconds,
            )
        except BaseException:
            self.close()
            raise
        # WARNING, not INFO: without this line nobody can label, so it must show under any logging set-up.
        logger.warning("Label the clips at %s", self.server.page_url)

    def label(self, pairs: Sequence[SegmentPair]) -> list[Label | None]:
        """Nothing now: the pairs are pending in the store, and people answer them on the page."""
        return [None] * len(pairs)

    def close(self) -> None:
        """Stop the page (answers in flight are committed first) and the clip renderer."""
        server, self.server = self.server, None  # `url` is None from here on: the page is going away
        if server is not None:
            server.stop()
        clips, self.clips = self.clips, None
        if clips is not None:
            clips.close()


def session_for_run(run_dir: str | Path) -> OracleSession:
    """A session over an existing run folder, running or stopped, for ``prefrl label --run DIR``.

    The store is shared safely with a trainer that may still be running (SQLite serializes the writers);
    the page's progress comes from the folder's ``config.json`` and the newest row of ``metrics.csv``.
    """
    folder = Path(run_dir)
    saved = read_train_config(folder)
    run, query = saved["run"], saved["query"]
    store = ComparisonStore(folder / RunFolder.STORE, create=False)

    def status() -> dict[str, Any]:
        progress: dict[str, Any] = {"label_budget": query["labels"]}
        metrics_path = folder / RunFolder.METRICS
        if metrics_path.is_file():
            columns = read_metrics(metrics_path)
            for key in ("timesteps", "true_return", "learned_return"):
                values = columns.get(key) or [math.nan]
                progress[key] = int(values[-1]) if key == "timesteps" and math.isfinite(values[-1]) else values[-1]
        return progress

    return OracleSession(store, folder, run.get("train_env_id") or run["env_id"], status)
