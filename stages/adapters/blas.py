"""What NumPy multiplies matrices with, and on how many threads (through threadpoolctl).

A member's bytes depend on its params and on how its matrix products round their sums: on NumPy
and its BLAS, on the kernels the BLAS picks for the CPU (OpenBLAS: SkylakeX, Haswell, Zen, ...)
and on how many threads split each product. Every command that runs the network sets its BLAS to
one thread per product, whatever OPENBLAS_NUM_THREADS or OMP_NUM_THREADS say, and takes its speed
from threads of its own (stages/adapters/cores.py): so the bytes never depend on the machine's cores or on
what runs beside it, and N processes on N cores never run more than N threads.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits


def _blas() -> list[dict[str, Any]]:
    return [info for info in threadpool_info() if info.get("user_api") == "blas"]


def one_thread_per_product() -> bool:
    """Set every BLAS this process has loaded to one thread, from now on; False if there is none
    that threadpoolctl can set (another BLAS, whose threads are then unknown)."""
    threadpool_limits(1, user_api="blas")
    found = _blas()
    return bool(found) and all(info.get("num_threads") == 1 for info in found)


def fingerprint() -> dict[str, object]:
    """NumPy's version and its BLAS: name and version, kernels and threads where it says them."""
    built = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
    record: dict[str, object] = {"numpy": np.__version__, "blas": f"{built['name']} {built['version']}"}
    found = _blas()
    if found:
        record["blas_kernels"] = found[0].get("architecture")
        record["blas_threads"] = found[0].get("num_threads")
    return record
