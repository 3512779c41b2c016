"""glibc's malloc, set for NumPy's large, short-lived work arrays.

A convolution's work arrays run to tens of MB per batch. By default glibc gives blocks that large
fresh pages from the kernel and returns them when they are freed, so every batch pays a page fault
for each 4 kB it touches again; kept for the next batch, they do not (bench/README.md measures
it). Only the commands that run the network set it (stages/cli.py). Elsewhere than glibc, nothing
changes.
"""

from __future__ import annotations

import contextlib
import ctypes

M_TRIM_THRESHOLD = -1  # mallopt's parameter numbers, from glibc's malloc.h
M_MMAP_THRESHOLD = -3
MMAP_CEILING = 32 << 20  # the largest threshold glibc accepts on 64-bit machines
NEVER_TRIM = (1 << 31) - 1


def keep_freed_blocks() -> None:
    """Serve blocks up to 32 MB from the heap, and keep freed memory there for reuse."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(M_MMAP_THRESHOLD, MMAP_CEILING)
        libc.mallopt(M_TRIM_THRESHOLD, NEVER_TRIM)
