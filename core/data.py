"""From stored digits to what the network eats."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from core.checks import require

SIDE = 28  # images are SIDE x SIDE pixels
N_PIXELS = SIDE * SIDE
N_CLASSES = 10  # the digits 0..9


def scale_pixels(pixels: NDArray[np.uint8]) -> NDArray[np.float32]:
    """(m, 784) integers 0..255 to float32 in [0, 1], rows still examples."""
    if pixels.ndim != 2 or pixels.shape[1] != N_PIXELS:
        raise ValueError(f"pixels must have shape (m, {N_PIXELS}), got {pixels.shape}")
    X = pixels.astype(np.float32)
    X *= np.float32(1 / 255)
    return X


def split_dev(n: int, dev_rows: int, rng: np.random.Generator) -> tuple[NDArray[Any], NDArray[Any]]:
    """Row indices (train, dev): dev_rows drawn at random, both kept in file order."""
    require(0 < dev_rows < n, "dev_rows", f"from 1 to {n - 1}, as the data has {n} rows", dev_rows)
    order = rng.permutation(n)
    return np.sort(order[dev_rows:]), np.sort(order[:dev_rows])
