"""Inference for an ensemble: each member's class probabilities for rows of pixels, averaged over
the test-time views of each row (predict.tta, predict.rotate), chunk by chunk."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from core import model as M
from core.augment import shifted_copies, turned_copies
from core.data import N_CLASSES
from core.ensemble import average
from core.layers import Array
from core.packed import MapChunks, in_order

CHUNK_ROWS = 1024  # rows scored at a time, each row's views made with them


@dataclass(frozen=True)
class Views:
    """Test-time augmentation: what each row is seen as, a member's probabilities averaged over
    them. Both off: the row alone."""

    shift: float = 0.0  # predict.tta: four copies moved this many pixels up, down, left, right
    turn: float = 0.0  # predict.rotate: two more copies turned this many degrees, each way

    def of(self, rows: Array) -> list[Array]:
        views = shifted_copies(rows, self.shift) if self.shift else [rows]
        return views + (turned_copies(rows, self.turn) if self.turn else [])

    def __str__(self) -> str:
        """What the views are, for a stage's message: "" for the row alone."""
        parts = [f"four moved {self.shift:g} pixels"] if self.shift else []
        parts += [f"two turned {self.turn:g} degrees"] if self.turn else []
        return " and ".join(parts)


class Overflow(FloatingPointError):
    """A member whose outputs overflow (weights so large that its probabilities are not finite)."""

    def __init__(self, member: int, error: FloatingPointError) -> None:
        super().__init__(str(error))
        self.member = member


def probabilities(
    members: Sequence[M.Member],
    X: Array,
    views: Views = Views(),
    map_chunks: MapChunks = in_order,
) -> list[Array]:
    """Each member's class probabilities (m, 10) for rows X, averaged over each row's views.
    Chunks of rows run through map_chunks (a thread pool's map: the same values). Overflow names
    a member whose outputs overflow."""

    def chunk(start: int) -> list[Array]:
        rows = X[start : start + CHUNK_ROWS]
        seen = views.of(rows)  # made once for all members
        scored = []
        for i, (net, params) in enumerate(members):
            try:
                scored.append(average([M.predict_proba(net, params, view, CHUNK_ROWS) for view in seen]))
            except FloatingPointError as error:
                raise Overflow(i, error) from None
        return scored

    chunks = map_chunks(chunk, range(0, len(X), CHUNK_ROWS))
    empty = np.zeros((0, N_CLASSES), np.float32)
    return [np.concatenate([c[i] for c in chunks]) if chunks else empty for i in range(len(members))]
