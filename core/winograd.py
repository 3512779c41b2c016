"""Winograd's minimal filtering: a convolution with a sixth of the multiplications.

A k x k filter over a tile of a x a inputs (a = 4 + k - 1) gives 4 x 4 outputs. Seen as products
of polynomials (Toom-Cook), those 16·k² multiplications become a² in a transformed space: each
input tile d becomes Bᵀ·d·B, each filter g becomes G·g·Gᵀ, their elementwise product summed over
the input channels is one small matrix product per point of the a x a tile, and Aᵀ·m·A brings the
result back to 4 x 4 outputs (Lavin & Gray 2016). For 5x5 filters that is 64 products per tile
against 400. The three transforms are Kronecker products (Bᵀ⊗Bᵀ and so on) applied to all tiles
and channels at once by one matrix product each.

The matrices come from interpolating at the points 0, ±1, ±2, ±1/2 and infinity, as far as a
needs (k ≤ 5). Their coefficients reach 5.25 (Bᵀ) and 16 (G), and rounding grows with them: in
float32 the outputs of the cnn preset's second convolution are off by about 6e-6 of their largest
(im2col's by 2e-7); tests/test_layers.py holds them within 1e-4.

Training backpropagates through the three transforms, each the transpose of its forward product,
so the gradients are those of what forward computed; the weight gradient reuses the transformed
input tiles kept from forward.

Tiles here are laid out point first: (a·a, T, C) for T tiles of C channels, so that each point's
product with its (C, F) filter block is one matrix product of contiguous operands.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import as_strided

from core.layers import Array

TILE = 4  # outputs per tile side
POINTS = (0.0, 1.0, -1.0, 2.0, -2.0, 0.5, -0.5)  # and infinity: tiles of up to 8 inputs a side


def fits(size: int, pool: int, out_height: int, out_width: int) -> bool:
    """Whether a size x size convolution giving out_height x out_width outputs, max-pooled in
    pool x pool windows, can run here: its outputs split into whole tiles, each holding whole
    pooling windows, and there are enough points for its tiles."""
    return (
        2 <= size <= len(POINTS) + 2 - TILE
        and out_height % TILE == 0
        and out_width % TILE == 0
        and TILE % pool == 0
    )


@dataclass(frozen=True)
class Transforms:
    """The three Kronecker products, in the data's dtype. A's rows are ordered by place in the
    pooling window: (row in window, column in window, window row, window column), so the output
    comes as one contiguous block of tiles per place."""

    A: Array  # (TILE², a²): transformed products -> outputs of a tile
    G: Array  # (a², k²): filter -> transformed filter
    B: Array  # (a², a²): input tile -> transformed tile


@functools.lru_cache(maxsize=16)
def transforms(size: int, pool: int, dtype: np.dtype[Any]) -> Transforms:
    At, G, Bt = _matrices(TILE, size)
    windows = TILE // pool
    order = [
        (pool * i + di) * TILE + pool * j + dj
        for di in range(pool)
        for dj in range(pool)
        for i in range(windows)
        for j in range(windows)
    ]
    kron = (np.kron(At, At)[order], np.kron(G, G), np.kron(Bt, Bt))
    return Transforms(*(m.astype(dtype) for m in kron))


def _matrices(m: int, r: int) -> tuple[Array, Array, Array]:
    """Aᵀ (m, a), G (a, r), Bᵀ (a, a) of the 1-D F(m, r): y = Aᵀ·((G·g) ⊙ (Bᵀ·d)) is the
    correlation y_i = Σ_k g_k·d_(i+k) of an r-tap filter g over a = m + r - 1 inputs d.

    The product s = g·h of polynomials of r and m coefficients has a coefficients; evaluated at
    a points (infinity stands for the leading coefficient), s = V⁻¹·((Vg·g) ⊙ (Vh·h)). The
    correlation is that bilinear map transposed in h: y = Vhᵀ·((Vg·g) ⊙ (V⁻ᵀ·d))."""
    a = m + r - 1

    def vandermonde(columns: int) -> Array:
        V = np.zeros((a, columns))
        for row, point in enumerate(POINTS[: a - 1]):
            V[row] = point ** np.arange(columns)
        V[a - 1, columns - 1] = 1.0  # infinity: the leading coefficient
        return V

    return vandermonde(m).T, vandermonde(r), np.linalg.inv(vandermonde(a)).T


def forward(X: Array, W: Array, pool: int) -> tuple[Array, Array, Array]:
    """The valid convolution of X (N, H, W, C) with filters W (F, k, k, C), without bias.

    Returns Y (TILE², T, F), its rows ordered as Transforms.A's, and the transformed input tiles
    V (a², T, C) and filters U (a², C, F) that backward needs; T = N·(H-k+1)/4·(W-k+1)/4 tiles."""
    F, k, _, C = W.shape
    t = transforms(k, pool, X.dtype)
    a = TILE + k - 1
    N, H, Wd, _ = X.shape
    rows, cols = (H - k + 1) // TILE, (Wd - k + 1) // TILE
    sN, sH, sW, sC = X.strides
    D = np.empty((a, a, N, rows, cols, C), X.dtype)  # input tiles overlap: copied, point first
    np.copyto(D, as_strided(X, D.shape, (sH, sW, sN, TILE * sH, TILE * sW, sC), writeable=False))
    V = (t.B @ D.reshape(a * a, -1)).reshape(a * a, -1, C)
    U = (t.G @ W.transpose(1, 2, 3, 0).reshape(k * k, C * F)).reshape(a * a, C, F)
    M = np.matmul(V, U)  # (a², T, C) @ (a², C, F): one product per point
    Y = t.A @ M.reshape(a * a, -1)
    return Y.reshape(TILE * TILE, -1, F), V, U


def backward(
    dY: Array, V: Array, U: Array, in_shape: tuple[int, ...], pool: int, need_dX: bool
) -> tuple[Array, Array | None]:
    """Gradients of the filters (F, k, k, C) and, if need_dX, of the input (N, H, W, C), from
    dY (TILE², T, F) laid out as forward's Y."""
    points, C, F = U.shape
    a = round(points**0.5)
    k = a - TILE + 1
    t = transforms(k, pool, dY.dtype)
    S = (t.A.T @ dY.reshape(TILE * TILE, -1)).reshape(points, -1, F)  # (a², T, F)
    dU = np.matmul(V.transpose(0, 2, 1), S)  # (a², C, F)
    dW = (t.G.T @ dU.reshape(points, C * F)).reshape(k, k, C, F).transpose(3, 0, 1, 2)
    if not need_dX:
        return np.ascontiguousarray(dW), None
    dV = np.matmul(S, U.transpose(0, 2, 1))  # (a², T, C)
    dD = (t.B.T @ dV.reshape(points, -1)).reshape(a, a, -1, C)  # each tile's input gradient
    N, H, Wd, _ = in_shape
    rows, cols = (H - k + 1) // TILE, (Wd - k + 1) // TILE
    dD = dD.reshape(a, a, N, rows, cols, C)
    dX = np.zeros(in_shape, dY.dtype)
    sN, sH, sW, sC = dX.strides
    # Tiles overlap by a - TILE inputs: add them back TILE rows and columns of a tile at a time,
    # within which no two tiles touch the same input.
    for i in range(0, a, TILE):
        for j in range(0, a, TILE):
            shape = (min(TILE, a - i), min(TILE, a - j), N, rows, cols, C)
            target = as_strided(dX[:, i:, j:, :], shape, (sH, sW, sN, TILE * sH, TILE * sW, sC))
            target += dD[i : i + TILE, j : j + TILE]
    return np.ascontiguousarray(dW), dX
