"""Rows packed for the full batch: the same pixels every step, so they are arranged once for the
two products a dense first layer takes with them, Z = X·Wᵀ and dW = dZᵀ·X (core/layers.py).

The rows are ordered by the box around their ink and split into chunks, and each chunk keeps only
the pixel columns with ink in one of its rows: a column that is zero throughout a chunk adds
nothing to either product for that chunk, so dropping it changes no sum and spares the
multiplications by MNIST's blank borders (49% of its pixels in chunks of 1,024 rows in that
order). The chunks' work can run on several threads; the layer adds their shares in the chunks'
order, so the bytes do not depend on how many ran at once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
from numpy.typing import NDArray

from core.data import SIDE

Array = NDArray[np.floating[Any]]
A = TypeVar("A")
T = TypeVar("T")
MapChunks = Callable[[Callable[[Any], Any], Sequence[Any]], list[Any]]  # a thread pool's map, or in_order
CHUNK_ROWS = 1024  # with rows in ink-box order, 768-1536 were fastest (bench/seed_speed.py)


def in_order(work: Callable[[A], T], items: Sequence[A]) -> list[T]:
    return [work(item) for item in items]


@dataclass(frozen=True)
class Chunk:
    X: Array  # (rows, k), C-contiguous: the chunk's rows, only the columns kept
    columns: NDArray[np.intp]  # (k,) the input columns kept, ascending
    start: int
    stop: int


@dataclass(frozen=True)
class Packed:
    """Rows X (m, features) in ink-box order (`order`: which row of X each is), in chunks, with
    arrays kept from step to step so that the full batch's steps reuse their memory."""

    chunks: list[Chunk]
    order: NDArray[np.intp]
    features: int
    map_chunks: MapChunks = in_order  # runs the chunks' work, maybe on threads
    work: dict[str, NDArray[Any]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.order)

    def buffer(self, name: str, shape: tuple[int, ...], dtype: Any) -> NDArray[Any]:
        """An array kept under name between steps (a new one if shape or dtype changed)."""
        array = self.work.get(name)
        if array is None or array.shape != shape or array.dtype != dtype:
            array = self.work[name] = np.empty(shape, dtype)
        return array

    def map(self, work: Callable[[Chunk], T]) -> list[T]:
        """work(chunk) for every chunk, through map_chunks; the results in the chunks' order."""
        results: list[T] = self.map_chunks(work, self.chunks)
        return results


def pack(X: Array, map_chunks: MapChunks = in_order, chunk_rows: int = CHUNK_ROWS) -> Packed:
    """X's rows in ink-box order, in chunks of chunk_rows, each without its blank columns; the
    chunks' work runs through map_chunks (a thread pool's map: the same values)."""
    order = _by_ink_box(X)
    chunks = []
    for start in range(0, len(order), chunk_rows):
        block = X[order[start : start + chunk_rows]]
        columns = np.flatnonzero(block.any(axis=0))
        chunks.append(Chunk(np.ascontiguousarray(block[:, columns]), columns, start, start + len(block)))
    return Packed(chunks, order, X.shape[1], map_chunks)


def _by_ink_box(X: Array) -> NDArray[np.intp]:
    """Rows of 28×28 pixels sorted by the top, bottom, left and right edges of their ink: digits
    whose ink spans the same rows and columns leave the same regions blank."""
    ink = X.reshape(len(X), SIDE, SIDE) != 0
    edges = []
    for inked in (ink.any(axis=2), ink.any(axis=1)):  # (m, 28): image rows with ink, then columns
        edges += [inked.argmax(axis=1), -inked[:, ::-1].argmax(axis=1)]  # first; last, negated
    top, bottom, left, right = edges
    order: NDArray[np.intp] = np.lexsort((right, left, bottom, top))
    return order
