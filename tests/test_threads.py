"""One math thread per process where prefrl owns the process (CLI, fitter, sweep workers)."""

from __future__ import annotations

import os

import torch
from threadpoolctl import threadpool_info

from prefrl.threads import all_cores, use_one_thread


def test_use_one_thread_limits_torch_and_numpys_blas() -> None:
    use_one_thread()
    assert torch.get_num_threads() == 1
    blas = [pool for pool in threadpool_info() if pool["user_api"] == "blas"]
    assert blas, "NumPy's BLAS was not found by threadpoolctl"
    assert all(pool["num_threads"] == 1 for pool in blas)


def test_all_cores_lends_torch_every_core_and_gives_them_back() -> None:
    use_one_thread()
    with all_cores():
        assert torch.get_num_threads() == len(os.sched_getaffinity(0))
    assert torch.get_num_threads() == 1
    try:
        with all_cores():
            raise RuntimeError("a fit failed")
    except RuntimeError:
        pass
    assert torch.get_num_threads() == 1  # given back on an error too
