"""Image layers over (batch, height, width, channels) arrays.

A convolution runs one of two ways. By im2col, it is one matrix product: every k x k x C window of
the input becomes a row of a "columns" matrix, read through a strided view so that the only copy
is the one BLAS needs, and the filters are the other operand; channels last makes that product
land in the output's layout. By Winograd's algorithm (core/winograd.py), it takes a sixth of the
multiplications for 5x5 filters; Conv2D picks it where it fits and pays (_winograd).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from numpy.lib.stride_tricks import as_strided
from numpy.typing import NDArray

from core import winograd
from core.layers import Array, Mode, Params, Shape, column_sums, he_normal

DEAD = 0x80  # marks, in a fused convolution's places, an output its ReLU zeroed
Places = Sequence[Array] | Array  # one array per place in the pooling window, or them stacked
MAX_POOL = 11  # places in a window are kept as uint8 below DEAD: up to 11 x 11 windows


@dataclass(frozen=True)
class ConvCache:
    """What a convolution's forward keeps for its backward."""

    inputs: Array  # im2col's columns, or Winograd's transformed input tiles V
    filters: Array | None  # Winograd's transformed filters U; None for im2col
    transposed: bool  # im2col's columns copied as (k·k·C, outputs)
    where: NDArray[np.uint8] | None  # each output's place in its pooling window, DEAD if the ReLU zeroed it
    padded_shape: Shape  # the input's shape, padded

    @property
    def algorithm(self) -> str:
        return "im2col" if self.filters is None else "winograd"


@dataclass(frozen=True)
class Conv2D:
    """`filters` filters of size x size x C, moved `stride` pixels at a time; padding "same"
    keeps height and width (divided by the stride), "valid" shrinks them by size - 1 first.
    W is (filters, size, size, C), b is (filters, 1).

    pool > 1 max-pools the output over pool x pool windows and relu applies a ReLU after it, in
    the same layer: the model fuses a "conv" followed by "maxpool" and "relu" into one. Both
    algorithms then give their outputs ordered by place in the pooling window (im2col by the
    order of its rows, Winograd by the order of its output transform's), as pool² contiguous
    blocks, and pooling compares whole blocks. The bias is added after pooling, to 1/pool² of
    the values: max(z + b) = max(z) + b, as rounding z + b is monotonic in z. The gradient goes
    to the first of equal maxima, as MaxPool2D's does.
    """

    filters: int
    size: int
    padding: str = "same"
    pool: int = 1
    relu: bool = False
    stride: int = 1
    DECAYED: ClassVar[tuple[str, ...]] = ("W",)
    STATE: ClassVar[tuple[str, ...]] = ()

    def __post_init__(self) -> None:
        if min(self.filters, self.size, self.pool) < 1 or self.pool > MAX_POOL:
            raise ValueError(
                f"Conv2D: filters and size must be at least 1 and pool 1 to {MAX_POOL}, "
                f"got {self.filters}, {self.size}, {self.pool}"
            )
        if not 1 <= self.stride <= self.size:
            raise ValueError(f"Conv2D: stride must be 1 to the filter size {self.size}, got {self.stride}")
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
        shrink = 2 * self.pad - self.size
        if H + shrink < 0 or W + shrink < 0:
            raise ValueError(f"Conv2D: a {self.size}x{self.size} filter does not fit a {H}x{W} input")
        fan_in = self.size * self.size * C
        params = {
            "W": he_normal(rng, (self.filters, self.size, self.size, C), fan_in),
            "b": np.zeros((self.filters, 1), np.float32),
        }
        shape = (self._outputs(H + 2 * self.pad), self._outputs(W + 2 * self.pad), self.filters)
        return params, shape if self.pool == 1 else MaxPool2D(self.pool).init(rng, shape)[1]

    def _outputs(self, padded: int) -> int:
        """How many places a filter takes along a padded side of `padded` pixels, before pooling."""
        return (padded - self.size) // self.stride + 1

    def _columns(self, padded: Array) -> tuple[Array, bool]:
        """im2col: (outputs, k·k·C), a row per output of its window's inputs, rows ordered by
        (place in the pooling window, image, row, column); or the transpose, (k·k·C, outputs).

        The copy reads the windows through a strided view, its innermost loop along the last
        axis. A window's row is k·C contiguous inputs; when that is shorter than a row of
        outputs (a first layer's 5 pixels against 12 outputs), copying transposed is faster
        (2x for 5x5 filters over digits, measured)."""
        k, s, t = self.size, self.pool, self.stride
        N, H, W, C = padded.shape
        Hp, Wp = self._outputs(H) // s, self._outputs(W) // s
        sN, sH, sW, sC = padded.strides
        outputs = [(s, t * sH), (s, t * sW), (N, sN), (Hp, s * t * sH), (Wp, s * t * sW)]
        window = [(k, sH), (k, sW), (C, sC)]
        transposed = k * C < Wp
        axes = window + outputs if transposed else outputs + window
        view = as_strided(padded, [n for n, _ in axes], [d for _, d in axes], writeable=False)
        cols = np.empty(view.shape, padded.dtype)  # the one copy
        np.copyto(cols, view)
        return cols.reshape(k * k * C, -1) if transposed else cols.reshape(-1, k * k * C), transposed

    def _winograd(self, padded_shape: Shape) -> bool:
        """Whether to convolve by Winograd's algorithm (core/winograd.py) rather than im2col: when
        it fits the shapes (at stride 1: its tiles are of neighbouring outputs), and the filters
        see enough channels that the products outweigh the tile transforms (a first layer's
        single channel does not: im2col measured faster)."""
        _, H, W, C = padded_shape
        k = self.size
        a = winograd.TILE + k - 1
        return self.stride == 1 and k * k * C > a * a and winograd.fits(k, self.pool, H - k + 1, W - k + 1)

    def forward(self, params: Params, X: Array, mode: Mode) -> tuple[Array, ConvCache]:
        p, s, F = self.pad, self.pool, self.filters
        padded = np.pad(X, ((0, 0), (p, p), (p, p), (0, 0))) if p else X
        N, H, W, _ = padded.shape
        Hp, Wp = self._outputs(H) // s, self._outputs(W) // s
        if self._winograd(padded.shape):
            Z, V, U = winograd.forward(padded, params["W"], s)
            Y, where = _pool_relu(Z.reshape(s * s, -1, F), params["b"], self.relu)
            # rows in (row in tile, column in tile, image, tile row, tile column) order
            r = winograd.TILE // s
            Y = Y.reshape(r, r, N, Hp // r, Wp // r, F).transpose(2, 3, 0, 4, 1, 5)
            return Y.reshape(N, Hp, Wp, F), ConvCache(V, U, False, where, padded.shape)
        cols, transposed = self._columns(padded)
        Z = (cols.T if transposed else cols) @ params["W"].reshape(F, -1).T  # (s·s·N·Hp·Wp, F)
        Y, where = _pool_relu(Z.reshape(s * s, -1, F), params["b"], self.relu)
        return Y.reshape(N, Hp, Wp, F), ConvCache(cols, None, transposed, where, padded.shape)

    def backward(
        self, params: Params, cache: ConvCache, dY: Array, need_dX: bool
    ) -> tuple[Array | None, Params]:
        F, s, p = self.filters, self.pool, self.pad
        N, Hp, Wp, _ = dY.shape
        where, shape = cache.where, cache.padded_shape
        if cache.filters is not None:  # Winograd
            V, U = cache.inputs, cache.filters
            r = winograd.TILE // s
            dY = np.ascontiguousarray(dY.reshape(N, Hp // r, r, Wp // r, r, F).transpose(2, 4, 0, 1, 3, 5))
            dZ = _to_places(dY.reshape(-1, F), where, s * s)
            dW, dX = winograd.backward(dZ.reshape(winograd.TILE**2, -1, F), V, U, shape, s, need_dX)
        else:
            cols, transposed = cache.inputs, cache.transposed
            dZ = _to_places(dY.reshape(-1, F), where, s * s)
            dZ2 = dZ.reshape(-1, F)  # rows as cols's
            dW = np.ascontiguousarray((cols @ dZ2).T) if transposed else dZ2.T @ cols  # (F, k·k·C)
            dX = None
            if need_dX:
                # the places' blocks back to (image, row, column) order, for col2im's adds
                dZ2 = dZ.reshape(s, s, N, Hp, Wp, F).transpose(2, 3, 0, 4, 1, 5).reshape(-1, F)
                dX = np.zeros(shape, dY.dtype)
                self._col2im(params, dZ2, dX)
        db = column_sums(dZ.reshape(-1, F))
        grads = {"W": dW.reshape(params["W"].shape), "b": db[:, np.newaxis]}
        if dX is None:
            return None, grads
        H, W = shape[1] - 2 * p, shape[2] - 2 * p
        return dX[:, p : p + H, p : p + W, :], grads

    def _col2im(self, params: Params, dZ: Array, dX: Array) -> None:
        """Adds to dX (n, H, W, C), padded, the gradient of the convolution's input from dZ
        (n·Ho·Wo, F), rows in (image, row, column) order; one filter offset (i, j) at a time: the
        inputs that offset read get dZ·W[:, i, j, :] back. k·k small products into one reused
        block beat one big product whose (n·Ho·Wo, k·k·C) result is then read back k·k times
        with strides (2x here)."""
        n, H, W, C = dX.shape
        k, t = self.size, self.stride
        Ho, Wo = self._outputs(H), self._outputs(W)
        filters = params["W"].transpose(1, 2, 0, 3)  # (k, k, F, C)
        block = np.empty((len(dZ), C), dZ.dtype)
        for i in range(k):
            for j in range(k):
                np.matmul(dZ, filters[i, j], out=block)  # (n·Ho·Wo, F) @ (F, C)
                read = dX[:, i : i + t * (Ho - 1) + 1 : t, j : j + t * (Wo - 1) + 1 : t, :]
                read += block.reshape(n, Ho, Wo, C)  # the inputs offset (i, j) read


def _pool_relu(
    blocks: Places, b: Array | None = None, relu: bool = False
) -> tuple[Array, NDArray[np.uint8] | None]:
    """Max over the places of each pooling window, blocks[q] holding every window's values at
    place q, plus the bias b (F, 1) if given, then the ReLU if relu. Returns the outputs and, if
    there was pooling or a ReLU, where each came from: its maximum's place, or DEAD added if the
    ReLU zeroed it."""
    Y, where = blocks[0], None
    if len(blocks) > 1:
        Y = Y.copy()
        where = np.zeros(Y.shape, np.uint8)
        above, place = np.empty(Y.shape, bool), np.empty(Y.shape, np.uint8)
        for q in range(1, len(blocks)):
            # only a strictly larger value moves the place, so the first of equal maxima keeps
            # it; places only grow, so the last move is the largest q (faster than copyto where=)
            np.greater(blocks[q], Y, out=above)
            np.maximum(where, np.multiply(above, np.uint8(q), out=place), out=where)
            np.maximum(Y, blocks[q], out=Y)
    if b is not None:
        Y += b.T
    if relu:  # outputs ≤ 0 get no gradient
        where = np.zeros(Y.shape, np.uint8) if where is None else where
        np.bitwise_or(where, np.multiply(Y <= 0, np.uint8(DEAD), dtype=np.uint8), out=where)
        np.maximum(Y, 0, out=Y)
    return Y, where


def _route(dY: Array, where: NDArray[np.uint8], out: Places) -> None:
    """_pool_relu backwards: out[q] gets the gradients dY of the outputs whose maximum was at
    place q, and 0 elsewhere (and where the ReLU zeroed the output)."""
    here = np.empty(where.shape, dY.dtype)
    for q, target in enumerate(out):
        np.equal(where, q, out=here)  # 0 or 1, as floats: float products are fastest
        np.multiply(dY, here, out=target)


def _to_places(dY: Array, where: NDArray[np.uint8] | None, places: int) -> Array:
    """The gradients dY (rows, F) routed to their places, as (places, rows, F) blocks."""
    if where is None:
        return dY[np.newaxis]
    dZ = np.empty((places, *dY.shape), dY.dtype)
    _route(dY, where, dZ)
    return dZ


@dataclass(frozen=True)
class MaxPool2D:
    """Largest value of each non-overlapping size x size window; the gradient goes to that value
    (the first one, if several are equal)."""

    size: int = 2
    DECAYED: ClassVar[tuple[str, ...]] = ()
    STATE: ClassVar[tuple[str, ...]] = ()

    def __post_init__(self) -> None:
        if not 1 <= self.size <= MAX_POOL:
            raise ValueError(f"MaxPool2D: size must be 1 to {MAX_POOL}, got {self.size}")

    def init(self, rng: np.random.Generator, in_shape: Shape) -> tuple[Params, Shape]:
        if len(in_shape) != 3:
            raise ValueError(f"MaxPool2D needs (height, width, channels) inputs, got shape {in_shape}")
        H, W, C = in_shape
        if H % self.size or W % self.size:
            raise ValueError(f"MaxPool2D: {H}x{W} does not divide into {self.size}x{self.size} windows")
        return {}, (H // self.size, W // self.size, C)

    def forward(self, params: Params, X: Array, mode: Mode) -> tuple[Array, Any]:
        # the s·s strided views X[:, i::s, j::s, :] hold each window's values at one place: the
        # max is s·s - 1 elementwise maximums, no copies of the windows
        return _pool_relu(self._places(X))

    def backward(self, params: Params, cache: Any, dY: Array, need_dX: bool) -> tuple[Array | None, Params]:
        where = cache
        if where is None:  # 1x1 windows
            return dY, {}
        N, Ho, Wo, C = dY.shape
        dX = np.empty((N, Ho * self.size, Wo * self.size, C), dY.dtype)  # the views cover all of it
        _route(dY, where, self._places(dX))
        return dX, {}

    def _places(self, X: Array) -> list[Array]:
        s = self.size
        return [X[:, q // s :: s, q % s :: s, :] for q in range(s * s)]
