"""Image layers over (batch, height, width, channels) arrays.

A convolution is one matrix product: every k x k x C window of the input becomes a row of a
"columns" matrix (im2col), read through a strided view so that the only copy is the one BLAS
needs, and the filters are the other operand. Channels last makes that product land directly in
the output's layout, with no transposes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import as_strided

from core import parallel
from core.layers import Array, Mode, Params, Shape, he_normal


def windows(X: Array, size: int) -> Array:
    """A read-only view (N, H-size+1, W-size+1, size, size, C) of every size x size window of X."""
    N, H, W, C = X.shape
    sN, sH, sW, sC = X.strides
    shape = (N, H - size + 1, W - size + 1, size, size, C)
    return as_strided(X, shape=shape, strides=(sN, sH, sW, sH, sW, sC), writeable=False)


@dataclass(frozen=True)
class Conv2D:
    """`filters` filters of size x size x C, stride 1; padding "same" keeps height and width,
    "valid" shrinks them by size - 1. W is (filters, size, size, C), b is (filters, 1)."""

    filters: int
    size: int
    padding: str = "same"

    def __post_init__(self) -> None:
        if self.filters < 1 or self.size < 1:
            raise ValueError(
                f"Conv2D: filters and size must be at least 1, got {self.filters} and {self.size}"
            )
        if self.padding not in ("same", "valid"):
            raise ValueError(f"Conv2D: padding must be 'same' or 'valid', got {self.padding!r}")
        if self.padding == "same" and self.size % 2 == 0:
            raise ValueError(f"Conv2D: 'same' padding needs an odd size, got {self.size}")

    @property
    def pad(self) -> int:
        return self.size // 2 if self.padding == "same" else 0

    def init(self, rng: np.random.Generator, in_shape: Shape) -> tuple[Params, Shape]:
        if len(in_shape) != 3:
            raise ValueError(f"Conv2D needs (height, width, channels) inputs, got shape {in_shape}")
        H, W, C = in_shape
        shrink = 2 * self.pad - self.size + 1
        if H + shrink < 1 or W + shrink < 1:
            raise ValueError(f"Conv2D: a {self.size}x{self.size} filter does not fit a {H}x{W} input")
        fan_in = self.size * self.size * C
        params = {
            "W": he_normal(rng, (self.filters, self.size, self.size, C), fan_in),
            "b": np.zeros((self.filters, 1), np.float32),
        }
        return params, (H + shrink, W + shrink, self.filters)

    def forward(self, params: Params, X: Array, mode: Mode) -> tuple[Array, Any]:
        p = self.pad
        padded = np.pad(X, ((0, 0), (p, p), (p, p), (0, 0))) if p else X
        view = windows(padded, self.size)  # (N, Ho, Wo, k, k, C)
        N, Ho, Wo = view.shape[:3]
        copy = np.empty(view.shape, X.dtype)  # the one copy, made on every core
        parallel.by_rows(lambda rows: np.copyto(copy[rows], view[rows]), N, copy.nbytes)
        cols = copy.reshape(N * Ho * Wo, -1)  # (N·Ho·Wo, k·k·C)
        W = params["W"].reshape(self.filters, -1)  # (F, k·k·C)
        Z = cols @ W.T  # (N·Ho·Wo, k·k·C) @ (k·k·C, F)
        Z += params["b"].T
        return Z.reshape(N, Ho, Wo, self.filters), (cols, X.shape)

    def backward(self, params: Params, cache: Any, dZ: Array, need_dX: bool) -> tuple[Array | None, Params]:
        cols, in_shape = cache
        dZ2 = dZ.reshape(-1, self.filters)  # (N·Ho·Wo, F)
        grads = {
            "W": (dZ2.T @ cols).reshape(params["W"].shape),  # (F, N·Ho·Wo) @ (N·Ho·Wo, k·k·C)
            # summed by NumPy, not through BLAS (column_sums) as batch norm is: 1 ms faster on the
            # first convolution, but its rounding moved the cnn preset's best dev accuracy from
            # 0.9958 to 0.9948, across the 0.995 it must reach
            "b": dZ2.sum(axis=0)[:, np.newaxis],
        }
        if not need_dX:
            return None, grads
        N, H, W, C = in_shape
        _, Ho, Wo, _ = dZ.shape
        k, p = self.size, self.pad
        # col2im, one filter offset (i, j) at a time: the inputs that offset read get
        # dZ·W[:, i, j, :] back. k·k small products into one reused block beat one big product
        # whose (N·Ho·Wo, k·k·C) result is then read back k·k times with strides (2x here).
        filters = params["W"].transpose(1, 2, 0, 3)  # (k, k, F, C)
        block = np.empty((N * Ho * Wo, C), dZ.dtype)
        dX = np.zeros((N, H + 2 * p, W + 2 * p, C), dZ.dtype)
        for i in range(k):
            for j in range(k):
                np.matmul(dZ2, filters[i, j], out=block)  # (N·Ho·Wo, F) @ (F, C)
                dX[:, i : i + Ho, j : j + Wo, :] += block.reshape(N, Ho, Wo, C)
        return dX[:, p : p + H, p : p + W, :], grads


@dataclass(frozen=True)
class MaxPool2D:
    """Largest value of each non-overlapping size x size window; the gradient goes to that value
    (the first one, if several are equal)."""

    size: int = 2

    def init(self, rng: np.random.Generator, in_shape: Shape) -> tuple[Params, Shape]:
        if len(in_shape) != 3:
            raise ValueError(f"MaxPool2D needs (height, width, channels) inputs, got shape {in_shape}")
        H, W, C = in_shape
        if H % self.size or W % self.size:
            raise ValueError(f"MaxPool2D: {H}x{W} does not divide into {self.size}x{self.size} windows")
        return {}, (H // self.size, W // self.size, C)

    def forward(self, params: Params, X: Array, mode: Mode) -> tuple[Array, Any]:
        s = self.size
        N, H, W, C = X.shape
        Y = np.empty((N, H // s, W // s, C), X.dtype)
        where = np.zeros(Y.shape, np.uint8)  # each maximum's place in its window, row by row

        # the s·s strided views x[:, i::s, j::s, :] hold each window's values: the max is
        # s·s - 1 elementwise maximums, no copies of the windows
        def pool(rows: slice) -> None:
            x, y = X[rows], Y[rows]
            np.copyto(y, x[:, ::s, ::s, :])
            at, above, place = where[rows], np.empty(y.shape, bool), np.empty(y.shape, np.uint8)
            for k in range(1, s * s):
                view = x[:, k // s :: s, k % s :: s, :]
                # only a strictly larger value moves the place, so the first of equal maxima keeps
                # it; places only grow, so the last move is the largest k (faster than copyto where=)
                np.greater(view, y, out=above)
                np.maximum(at, np.multiply(above, np.uint8(k), out=place), out=at)
                np.maximum(y, view, out=y)

        parallel.by_rows(pool, N, X.nbytes)
        return Y, where

    def backward(self, params: Params, cache: Any, dY: Array, need_dX: bool) -> tuple[Array | None, Params]:
        where = cache
        s = self.size
        N, Ho, Wo, C = dY.shape
        dX = np.empty((N, Ho * s, Wo * s, C), dY.dtype)  # the s·s views below cover all of it

        def route(rows: slice) -> None:
            at, dy, dx = where[rows], dY[rows], dX[rows]
            here = np.empty(at.shape, bool)
            for k in range(s * s):
                np.equal(at, k, out=here)
                np.multiply(dy, here, out=dx[:, k // s :: s, k % s :: s, :])  # 3x faster than copyto(where=)

        parallel.by_rows(route, N, dX.nbytes)
        return dX, {}
