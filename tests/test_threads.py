"""One math thread per process where prefrl owns the process (CLI, fitter, sweep workers)."""

from __future__ import annotations

import torch
from threadpoolctl import threadpool_info

from prefrl.threads import use_one_thread


def test_use_one_thread_limits_torch_and_numpys_blas() -> None:
    use_one_thread()
    assert torch.get_num_threads() == 1
    blas = [pool for pool in threadpool_info() if pool["user_api"] == "blas"]
    assert blas, "NumPy's BLAS was not found by threadpoolctl"
    assert all(pool["num_threads"] == 1 for pool in blas)
