"""An ensemble: its members' class probabilities, averaged."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.floating[Any]]


def average(probs: Sequence[Array]) -> Array:
    """The members' class probabilities (each (m, classes)) averaged: an ensemble's; one member's
    come back unchanged."""
    if not probs:
        raise ValueError("an ensemble needs at least one member")
    if len(probs) == 1:
        return probs[0]
    total = probs[0] + probs[1]
    for more in probs[2:]:
        total += more
    total /= total.dtype.type(len(probs))
    return total
