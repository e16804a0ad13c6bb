"""How many threads the numerical libraries use: ``--threads N`` and the default.

Every thread pool nnspec's computations run on goes through ``limit_threads(n)``:
NumPy's BLAS and any OpenMP runtime already loaded (threadpoolctl), PyTorch's intra-op and
inter-op pools, TensorFlow's intra-op and inter-op pools, and — for libraries loaded later and
for child processes — the environment variables they read at start-up (``OMP_NUM_THREADS``,
``OPENBLAS_NUM_THREADS``, ``MKL_NUM_THREADS``, ``TF_NUM_INTRAOP_THREADS``, ...).

Why the default is one thread, not one per core: OpenMP and BLAS thread pools meet at a barrier
after every operation, so one of their threads that another process keeps off a core stalls all of
them. On this project's busy 2-core machine a small digits CNN took 210 s on PyTorch and 51 s on
NumPy with the libraries' defaults (a thread per core), against 4 s and 9 s with one thread;
``benchmarks/bench_threads.py`` measures it. A default that backs off when the machine is busy (the
load average, say) would not do either: the thread count changes the order of floating-point sums,
so the same spec and seed would give other bits under another load — and the load changes while a
run goes on. One thread never collapses, gives the same bits on every machine, and is what nnspec's
small models train fastest with on a shared machine; ``--threads N`` asks for more, and the count
is recorded in ``run.json`` and in checkpoints (a resumed run keeps it). ``OMP_NUM_THREADS``, when
the user has set it, is the default instead.
"""

from __future__ import annotations

import os
import sys

# Read by BLAS/OpenMP builds and by TensorFlow when they load; inherited by child processes.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS",
                    "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS", "TF_NUM_INTRAOP_THREADS",
                    "TF_NUM_INTEROP_THREADS")

# The most threads a command may ask for: far above any machine's cores, and far below what the
# process limits allow (OpenBLAS asked for 100,000 threads fails to start them and the process crashes).
MAX_THREADS = 1024

_USER_OMP_NUM_THREADS = os.environ.get("OMP_NUM_THREADS")  # as the user set it, before limit_threads changes it
_limit: int | None = None  # what limit_threads() was last asked for, applied to frameworks loaded later
_pools_limit: int | None = None  # the count threadpoolctl last set the loaded BLAS/OpenMP pools to


def available_cores() -> int:
    """The number of cores this process may run on (its CPU affinity, else the machine's count)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def default_threads() -> int:
    """The thread count when ``--threads`` is not given: ``OMP_NUM_THREADS`` if the user set it to an
    integer from 1 to ``MAX_THREADS`` before nnspec started, else 1 (see the module's docstring)."""
    given = (_USER_OMP_NUM_THREADS or "").strip()
    return int(given) if given.isdigit() and 0 < int(given) <= MAX_THREADS else 1


def use_threads(given: int | None) -> int:
    """``limit_threads`` with ``given`` (``--threads``) or else ``default_threads()``; returns the count."""
    return limit_threads(given if given is not None else default_threads())


def limit_threads(n: int) -> int:
    """Make every thread pool of NumPy, PyTorch and TensorFlow in this process (and the environment
    of its children) use ``n`` threads; returns ``n``.

    Libraries already loaded are set now; PyTorch and TensorFlow loaded later are set by
    ``apply_to_frameworks()``, which ``backends.require`` calls after importing a framework. Asked again
    for the count already set (each trial of a search), the BLAS/OpenMP libraries are not scanned again
    (threadpoolctl's scan takes about 80 ms): those loaded since then read the variables at their start.
    """
    global _limit, _pools_limit
    if not 1 <= n <= MAX_THREADS:
        raise ValueError(f"a thread count must be from 1 to {MAX_THREADS}, received {n}")
    _limit = n
    for name in THREAD_VARIABLES:
        os.environ[name] = str(n)
    if _pools_limit != n:
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:  # a BLAS loaded later reads the variables above
            pass
        else:
            threadpool_limits(n)
            _pools_limit = n
    apply_to_frameworks()
    return n


def apply_to_frameworks() -> None:
    """Apply the last ``limit_threads`` count to PyTorch and TensorFlow if they are loaded (no-op otherwise)."""
    if _limit is None:
        return
    if "torch" in sys.modules:
        _limit_torch(_limit)
    if "tensorflow" in sys.modules:
        _limit_tensorflow(_limit)


def _limit_torch(n: int) -> None:
    import torch

    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    if torch.get_num_interop_threads() != n:
        try:
            torch.set_num_interop_threads(n)
        except RuntimeError:  # fixed once inter-op work has started; the intra-op pool is what trains
            pass


def _limit_tensorflow(n: int) -> None:
    import tensorflow as tf

    threading = tf.config.threading
    for get, set_ in ((threading.get_intra_op_parallelism_threads, threading.set_intra_op_parallelism_threads),
                      (threading.get_inter_op_parallelism_threads, threading.set_inter_op_parallelism_threads)):
        if get() != n:
            try:
                set_(n)
            except RuntimeError:  # fixed once TensorFlow's runtime has started in this process
                pass
