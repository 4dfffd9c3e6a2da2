"""How many threads a process's math libraries use: one each, for torch and for NumPy's BLAS.

A run's work is many small operations (a policy step on a handful of envs, a reward prediction on one frame
per env), where a team of threads spends more time waking and joining than computing, and the parallelism
that pays is across processes: PPO with its envs in one, the background fitter in another, sweep cells side by
side. Left alone, torch and OpenBLAS each start one thread per core in every process, and the teams of
different processes fight over the cores: on a 16-core GPU machine, four Atari runs at once (torch already on one
thread, BLAS not) kept the load average at 28, and Pong preference learning ran below 200 steps/s. Within one
process on 2 idle cores a second BLAS thread changes little (``experiments/inference_paths.py``).

:func:`use_one_thread` is called where prefrl owns the process: the CLI, the background fitter, sweep workers.
A library user's own process is left as it is. :func:`all_cores` lends torch every core for a stretch where the
process has the machine to itself: the first reward fit, which PPO waits for while the background fitter idles.
"""

from __future__ import annotations

import contextlib
import os
from typing import Iterator

import torch
from threadpoolctl import threadpool_limits


def use_one_thread() -> None:
    """One intra-op thread for torch and one for the BLAS that NumPy loaded, for the rest of this process."""
    torch.set_num_threads(1)
    threadpool_limits(1, user_api="blas")


@contextlib.contextmanager
def all_cores() -> Iterator[None]:
    """Torch on every core this process may use while the block runs, then back to the threads it had."""
    before = torch.get_num_threads()
    torch.set_num_threads(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
