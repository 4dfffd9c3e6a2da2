"""Helper processes that end with the process that started them.

The reward fitter and the clip renderer are spawned children. When their parent exits normally it stops them,
but a parent killed outright (SIGKILL, the OOM killer, a CI timeout) cannot: the child would wait on its queue
forever, holding memory and sometimes a core. Each child therefore watches its parent and exits when it is gone.
The reward fitter also runs below its parent's scheduling priority (:func:`run_below_parent`).
"""

from __future__ import annotations

import multiprocessing
import os
import threading

_CHECK_SECONDS = 2.0
BACKGROUND_NICENESS = 10
"""How much lower than its parent a helper runs (``nice`` increment; POSIX caps niceness at 19)."""


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


def run_below_parent() -> None:
    """In a helper process: lower its scheduling priority by :data:`BACKGROUND_NICENESS`.

    A background reward fit exists to serve the policy's rollouts, and where the two share cores (2 cores,
    other jobs on the machine) it should take what the rollouts leave rather than slow them. Measured on
    CartPole-v1 (``experiments/overhead_parts.py``): the rollouts' env steps and policy passes ran 19-25% slower
    beside an unniced fitter than in PPO on the true reward. Windows has no ``nice``; there it runs as is.
    """
    if hasattr(os, "nice"):
        os.nice(BACKGROUND_NICENESS)
