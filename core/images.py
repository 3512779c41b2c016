"""Any picture of one digit -> a 28×28 MNIST-style image, in NumPy.

MNIST's own preprocessing (LeCun et al.): light ink on black, the digit's bounding box fitted into
20×20 with its aspect ratio kept and anti-aliased, then placed in 28×28 so that its centre of mass
sits at the centre. A photo or drawing is usually dark ink on light paper, off-centre and of any
size; `to_mnist` brings it to that form so that a network trained on the competition can read it.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

BOX = 20  # the digit's longer side, in pixels
SIDE = 28  # the image's side
INK = 0.2  # after levelling, pixels below this fraction of the darkest-to-lightest range are paper


def to_mnist(gray: NDArray[np.floating] | NDArray[np.integer]) -> NDArray[np.uint8]:
    """A (height, width) greyscale image, 0 = black, 255 = white -> (28, 28) uint8, ink bright.

    Dark-on-light images (the border brighter than the middle of the range) are inverted. Raises
    ValueError for an image with no ink.
    """
    if gray.ndim != 2 or gray.size == 0:
        raise ValueError(f"expected a non-empty greyscale image (height, width), got shape {gray.shape}")
    g = np.asarray(gray, np.float32) / 255  # (h, w) in [0, 1]
    border = np.concatenate([g[0], g[-1], g[:, 0], g[:, -1]])
    background = float(np.median(border))
    if background > 0.5:  # dark ink on light paper
        g, background = 1 - g, 1 - background
    span = float(g.max()) - background
    if span < 0.1:
        raise ValueError("no digit found: the image is blank (no ink darker or lighter than its paper)")
    ink = np.clip((g - background) / span, 0, 1)
    ink[ink < INK] = 0
    rows, cols = np.nonzero(ink)
    ink = ink[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]  # crop to the ink
    h, w = ink.shape
    scale = BOX / max(h, w)
    new_h, new_w = max(1, round(h * scale)), max(1, round(w * scale))
    small = _area(new_h, h) @ ink @ _area(new_w, w).T  # (new_h, h) @ (h, w) @ (w, new_w)
    total = small.sum()
    centre_y = (np.arange(new_h) @ small.sum(axis=1)) / total
    centre_x = (np.arange(new_w) @ small.sum(axis=0)) / total
    # offsets to 3 decimals first: a centre midway between two pixels (a symmetric digit) must go
    # the same way whatever the float rounding, which differs between BLAS kernels and CPUs
    top = int(np.clip(round(round(SIDE / 2 - 0.5 - centre_y, 3)), 0, SIDE - new_h))
    left = int(np.clip(round(round(SIDE / 2 - 0.5 - centre_x, 3)), 0, SIDE - new_w))
    out = np.zeros((SIDE, SIDE), np.float32)
    out[top : top + new_h, left : left + new_w] = small
    return np.round(np.clip(out, 0, 1) * 255).astype(np.uint8)


def _area(n: int, size: int) -> NDArray[np.float32]:
    """(n, size) weights that resample `size` pixels to n by area: output pixel i averages the
    input over [i·size/n, (i+1)·size/n), each input pixel weighted by how much of it falls inside."""
    edges = np.arange(n + 1) * (size / n)
    start, stop = edges[:-1, None], edges[1:, None]  # (n, 1)
    pixel = np.arange(size)[None, :]  # (1, size)
    overlap = np.clip(np.minimum(stop, pixel + 1) - np.maximum(start, pixel), 0, None)  # (n, size)
    weights: NDArray[np.float32] = (overlap / (size / n)).astype(np.float32)
    return weights
