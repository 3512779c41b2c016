"""Elementwise work over a batch, split by rows across the machine's cores.

BLAS multiplies matrices on every core, but a NumPy ufunc runs on one. It releases the GIL while
it runs, though, so threads each given some rows of a batch run side by side. Pooling, batch norm
and the im2col copies are about half of a CNN's step; on 2 cores this nearly halves them.

Only work whose result does not depend on how the rows are split goes through here (copies and
elementwise arithmetic, never a sum over the batch), so results are the same bytes on any machine.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor


def _cores() -> int:
    if hasattr(os, "sched_getaffinity"):  # the cores this process may use (taskset, containers)
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


WORKERS = min(8, _cores())
MIN_BYTES = 1 << 18  # smaller work runs in the calling thread: hand-off would cost more

_pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="core") if WORKERS > 1 else None


def by_rows(work: Callable[[slice], object], rows: int, nbytes: int) -> None:
    """Call work(slice) on one piece of range(rows) per core, concurrently when nbytes (the size
    of the largest array involved) makes it worth it. Pieces never overlap, so work may write to
    its rows of a shared output. (Smaller pieces, to stay in cache, measured slower.)"""
    pieces = min(rows, WORKERS)
    if _pool is None or nbytes < MIN_BYTES or pieces < 2:
        work(slice(0, rows))
        return
    bounds = [rows * k // pieces for k in range(pieces + 1)]  # pieces <= rows: none is empty
    # list() waits for every piece and re-raises the first error
    list(_pool.map(work, [slice(a, b) for a, b in itertools.pairwise(bounds)]))
