"""Helper processes that end with the process that started them.

The reward fitter and the clip renderer are spawned children. When their parent exits normally it stops them,
but a parent killed outright (SIGKILL, the OOM killer, a CI timeout) cannot: the child would wait on its queue
forever, holding memory and sometimes a core. Each child therefore watches its parent and exits when it is gone.
"""

from __future__ import annotations

import multiprocessing
import os
import threading

_CHECK_SECONDS = 2.0


def exit_with_parent() -> None:
    """In a spawned child: exit (at once, without cleanup) within ~2 s of the parent's death."""
    parent = multiprocessing.parent_process()
    if parent is None:  # not a multiprocessing child: nothing to watch
        return

    def watch() -> None:
        # join(timeout) waits on the parent's sentinel, which becomes ready when the parent is gone.
        while True:
            parent.join(_CHECK_SECONDS)
            if not parent.is_alive():
                os._exit(0)

    threading.Thread(target=watch, name="prefrl-parent-watch", daemon=True).start()
