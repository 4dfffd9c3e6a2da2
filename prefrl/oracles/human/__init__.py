"""A person as the oracle: a labelling page served over HTTP, and a terminal prompt for those without a browser.

Christiano et al. (2017) train on comparisons a person makes while the agent keeps learning; this package is the
person's side of that loop. Both front ends write into the same :class:`~prefrl.store.ComparisonStore`, so labels
given in a browser, in a terminal or by several people at once end up in one place, exactly once each.

The web server needs the ``human`` extra (``pip install 'prefrl[human]'``: FastAPI, uvicorn). It is imported
lazily, so the terminal oracle works without those packages, and registering ``"human"`` and ``"terminal"`` costs
nothing; clips need PyAV (also in the extra).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from prefrl.oracles.human.oracle import HumanOracle
from prefrl.oracles.human.terminal import TerminalOracle, TextPair

if TYPE_CHECKING:  # pragma: no cover - for type checkers only; at runtime see __getattr__
    from prefrl.oracles.human.server import RunningServer, create_app, generate_token, serve

__all__ = ["HumanOracle", "RunningServer", "TerminalOracle", "TextPair", "create_app", "generate_token", "serve"]

_SERVER_NAMES = frozenset({"RunningServer", "create_app", "generate_token", "serve"})


def __getattr__(name: str) -> Any:
    # Lazy, so that `import prefrl.oracles.human` (the terminal oracle) does not need FastAPI installed.
    if name in _SERVER_NAMES:
        try:
            from prefrl.oracles.human import server
        except ImportError as error:
            raise ImportError(
                f"prefrl.oracles.human.{name} needs the web server packages ({error}); install them with "
                "`pip install 'prefrl[human]'` (fastapi, uvicorn)."
            ) from error
        return getattr(server, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
