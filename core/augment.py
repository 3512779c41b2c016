"""Data augmentation: each digit moved, turned and resized a little at random.

One affine map per image, sampled bilinearly, the whole batch at once. Digits stay digits under
shifts of a few pixels, rotations of some degrees and small zooms, and the network learns not to
care about them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.checks import require
from core.data import SIDE
from core.layers import Array


@dataclass(frozen=True)
class Augment:
    shift: float = 0.0  # up to this many pixels, each axis
    rotate: float = 0.0  # up to this many degrees, either way
    zoom: float = 0.0  # scale by a factor within 1 ± zoom

    def __post_init__(self) -> None:
        require(0 <= self.shift < np.inf, "shift", "0 or more", self.shift)
        require(0 <= self.rotate <= 180, "rotate", "in [0, 180]", self.rotate)
        require(0 <= self.zoom < 1, "zoom", "in [0, 1)", self.zoom)

    @property
    def active(self) -> bool:
        return bool(self.shift or self.rotate or self.zoom)

    def __call__(self, X: Array, rng: np.random.Generator) -> Array:
        """Rows X (m, 784) of 28 x 28 images, transformed; float32 in, float32 out."""
        m = len(X)
        angle = np.deg2rad(rng.uniform(-self.rotate, self.rotate, m))
        scale = rng.uniform(1 - self.zoom, 1 + self.zoom, m)
        shift = rng.uniform(-self.shift, self.shift, (m, 2))
        return warp(X.reshape(m, SIDE, SIDE), angle, scale, shift).reshape(m, SIDE * SIDE)


def shifted_copies(X: Array, distance: float) -> list[Array]:
    """Rows X (m, 784) moved by distance pixels up, down, left and right (bilinear): the views that
    test-time augmentation averages a model over. Half a pixel blends each pixel with a neighbour,
    as the training augmentation's sub-pixel shifts blend every image the network learned from."""
    m = len(X)
    images, still, same = X.reshape(m, SIDE, SIDE), np.zeros(m), np.ones(m)
    moves = ((distance, 0.0), (-distance, 0.0), (0.0, distance), (0.0, -distance))
    return [warp(images, still, same, np.tile(move, (m, 1))).reshape(m, SIDE * SIDE) for move in moves]


def turned_copies(X: Array, degrees: float) -> list[Array]:
    """Rows X (m, 784) turned degrees about the centre, each way (bilinear): test-time views that
    match the training augmentation's turns, as shifted_copies match its shifts."""
    m = len(X)
    images, same, still = X.reshape(m, SIDE, SIDE), np.ones(m), np.zeros((m, 2))
    turns = (np.deg2rad(degrees), -np.deg2rad(degrees))
    return [warp(images, np.full(m, turn), same, still).reshape(m, SIDE * SIDE) for turn in turns]


def warp(images: Array, angle: Array, scale: Array, shift: Array) -> Array:
    """Rotate by angle and scale about the centre, then shift by (rows, cols); zero outside."""
    m = len(images)
    centre = (SIDE - 1) / 2
    rows, cols = np.mgrid[0:SIDE, 0:SIDE].reshape(2, 1, -1) - centre  # (2, 1, 784): output grid
    # inverse map: where in the source image each output pixel comes from
    cos, sin = (np.cos(angle) / scale)[:, None], (np.sin(angle) / scale)[:, None]
    r = rows - shift[:, :1]
    c = cols - shift[:, 1:]
    # (m, 784) each; clipped into the zero border, so far-away points read zeros only
    source_r = np.clip(cos * r + sin * c + centre, -1, SIDE)
    source_c = np.clip(-sin * r + cos * c + centre, -1, SIDE)
    r0, c0 = np.floor(source_r), np.floor(source_c)
    fr, fc = (source_r - r0).astype(np.float32), (source_c - c0).astype(np.float32)
    width = SIDE + 3
    padded = np.pad(images, ((0, 0), (1, 2), (1, 2))).reshape(-1)  # rows -1..29, columns likewise
    # indices into the flat padded batch: one gather per corner reads a flat array, which NumPy
    # does in half the time of take_along_axis's per-row gathers (the same values)
    base = (r0.astype(np.intp) + 1) * width + (c0.astype(np.intp) + 1)
    base += np.arange(m)[:, np.newaxis] * (width * width)

    def at(offset: int) -> Array:
        corner: Array = padded[base + offset] if offset else padded[base]
        return corner

    top = at(0) * (1 - fc) + at(1) * fc
    bottom = at(width) * (1 - fc) + at(width + 1) * fc
    out: Array = (top * (1 - fr) + bottom * fr).astype(np.float32, copy=False)
    return out.reshape(m, SIDE, SIDE)
