"""What a member's bytes depend on besides the params: the BLAS that NumPy multiplies matrices with.

OpenBLAS picks its kernels by CPU at run time (SkylakeX, Haswell, Zen, ...) and splits products
among its threads; both change the order in which sums are rounded, so the same params give the
same bytes only with the same NumPy and OpenBLAS, the same kernels and the same thread count.
OPENBLAS_CORETYPE and OPENBLAS_NUM_THREADS fix the last two on any machine (README,
"Reproducibility"). This is read from the loaded library itself, through ctypes.
"""

from __future__ import annotations

import contextlib
import ctypes
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np


def _loaded_openblas() -> ctypes.CDLL | None:
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/maps").read_text().splitlines():
            path = line.split()[-1] if len(line.split()) >= 6 else ""
            if "openblas" in Path(path).name.lower():
                return ctypes.CDLL(path)
    return None


def _call(library: ctypes.CDLL, names: tuple[str, ...], restype: Any) -> Any:
    for name in names:
        function = getattr(library, name, None)
        if function is not None:
            function.restype = restype
            value = function()
            return value.decode() if isinstance(value, bytes) else value
    return None


def fingerprint() -> dict[str, object]:
    """NumPy's version and its BLAS: name and version, kernels and threads where it says them."""
    blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
    record: dict[str, object] = {"numpy": np.__version__, "blas": f"{blas['name']} {blas['version']}"}
    library = _loaded_openblas()
    if library is not None:
        # numpy's wheels rename OpenBLAS's symbols (scipy_openblas_*64_); a system OpenBLAS does not
        for key, suffix, restype in (
            ("blas_kernels", "get_corename", ctypes.c_char_p),
            ("blas_threads", "get_num_threads", ctypes.c_int),
        ):
            value = _call(library, (f"scipy_openblas_{suffix}64_", f"openblas_{suffix}"), restype)
            if value is not None:
                record[key] = value
    return record


class CannotPin(RuntimeError):
    """NumPy's BLAS is not an OpenBLAS whose thread count can be set."""


@contextlib.contextmanager
def one_thread_per_product() -> Iterator[None]:
    """OpenBLAS runs each product on one thread meanwhile, as train.threads > 1 needs: its parts
    then multiply at once, each on its own core, and how a product's sums round no longer depends
    on the machine's cores. CannotPin if NumPy's BLAS is not an OpenBLAS that can be told."""
    library = _loaded_openblas()
    setter = None
    for name in ("scipy_openblas_set_num_threads64_", "openblas_set_num_threads"):
        setter = getattr(library, name, None) if library is not None else None
        if setter is not None:
            break
    before = fingerprint().get("blas_threads")
    if setter is None or not isinstance(before, int):
        raise CannotPin(f"NumPy's BLAS ({fingerprint()['blas']}) cannot be set to one thread per product")
    setter.argtypes = [ctypes.c_int]
    setter(1)
    try:
        yield
    finally:
        setter(before)
