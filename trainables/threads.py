"""Every native thread pool of a trial at the trial's CPUs, whatever its process imported first.

Ray's workers import scikit-learn (its OpenMP runtime), numpy and scipy (OpenBLAS) before they
take a trial (datavsmath.sweeps.ray_session.WORKER_PRELOAD, and whatever an earlier trial of a
reused actor imported); an OpenMP or BLAS runtime reads OMP_NUM_THREADS and the like once,
when it is loaded, so Ray's per-trial value came too late: a 1-CPU trial's
HistGradientBoosting ran 2 OpenMP threads on a 2-core machine, and fits took 55-117 s
instead of 2-11 s. ``native_threads`` sets them all for the trial's duration and
puts them back after it, for the next trial of the same process:

- the runtimes already loaded through threadpoolctl (which comes with scikit-learn);
- torch's intra-op threads when torch is loaded;
- the environment variables, which the runtimes loaded during the trial read.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

# Read by OpenMP, OpenBLAS, MKL, BLIS, Accelerate and numexpr when they are loaded.
THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS",
              "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")


@contextmanager
def _environ_threads(count: int) -> Iterator[None]:
    before = {key: os.environ.get(key) for key in THREAD_ENV}
    os.environ.update({key: str(count) for key in THREAD_ENV})
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextmanager
def _torch_threads(count: int) -> Iterator[None]:
    """torch's intra-op threads at `count` when torch is loaded; a torch loaded inside the
    block reads OMP_NUM_THREADS (_environ_threads) and is left as it is."""
    torch = sys.modules.get("torch")
    before = torch.get_num_threads() if torch is not None else None
    if torch is not None:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        if torch is not None and before is not None:
            torch.set_num_threads(before)


@contextmanager
def native_threads(count: int) -> Iterator[None]:
    """Inside the block every native thread pool of this process (OpenMP, BLAS, torch) runs
    `count` threads (>= 1); after it, each has its earlier count again. For the calling
    thread: OpenMP's count is per thread, so the work runs in the thread that enters it."""
    from threadpoolctl import threadpool_limits

    with _environ_threads(count), threadpool_limits(limits=count), _torch_threads(count):
        yield
