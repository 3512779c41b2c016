"""Inference for an ensemble: each member's class probabilities for rows of pixels, averaged over
the test-time views of each row (predict.tta), chunk by chunk."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from core import model as M
from core.augment import shifted_copies
from core.data import N_CLASSES
from core.ensemble import average
from core.layers import Array
from core.packed import MapChunks, in_order

CHUNK_ROWS = 1024  # rows scored at a time, each row's views made with them


class Overflow(FloatingPointError):
    """A member whose outputs overflow (weights so large that its probabilities are not finite)."""

    def __init__(self, member: int, error: FloatingPointError) -> None:
        super().__init__(str(error))
        self.member = member


def probabilities(
    members: Sequence[M.Member],
    X: Array,
    tta: float = 0.0,
    map_chunks: MapChunks = in_order,
) -> list[Array]:
    """Each member's class probabilities (m, 10) for rows X; with tta (predict.tta), averaged over
    X's four copies moved tta pixels (core/augment.py). Chunks of rows run through map_chunks (a
    thread pool's map: the same values). Overflow names a member whose outputs overflow."""

    def chunk(start: int) -> list[Array]:
        rows = X[start : start + CHUNK_ROWS]
        views = shifted_copies(rows, tta) if tta else [rows]  # made once for all members
        scored = []
        for i, (net, params) in enumerate(members):
            try:
                scored.append(average([M.predict_proba(net, params, view, CHUNK_ROWS) for view in views]))
            except FloatingPointError as error:
                raise Overflow(i, error) from None
        return scored

    chunks = map_chunks(chunk, range(0, len(X), CHUNK_ROWS))
    empty = np.zeros((0, N_CLASSES), np.float32)
    return [np.concatenate([c[i] for c in chunks]) if chunks else empty for i in range(len(members))]
