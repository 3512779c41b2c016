"""Layers as plain functions over plain data.

Activations are laid out batch first: (batch, features) for dense layers, (batch, height, width,
channels) for image layers. For the seed network that is its equations transposed, since BLAS runs
Z1ᵀ = Xᵀ·W1ᵀ about 40% faster than Z1 = W1·X for a 10-unit layer (bench/seed_speed.py).
Parameters keep the equations' shapes: W (n_out, n_in) and b (n_out, 1).

A layer is a small frozen object with three methods:

    init(rng, in_shape)                  -> (params, out_shape)
    forward(params, X, mode)             -> (Y, cache)
    backward(params, cache, dY, need_dX) -> (dX or None, grads)

`params` and `grads` are the layer's own dict[str, ndarray] (W, b, gamma, ...); grads has a key
for every trainable parameter. Each layer names two kinds of its arrays: DECAYED, the weights that
weight decay shrinks, and STATE, arrays without a gradient (batch norm's running statistics) that
forward updates in place while training. Shapes exclude the batch axis. Gradients are of whatever
loss produced dY: the loss decides the 1/m, the layers never do.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

import numpy as np
from numpy.typing import NDArray

from core.checks import require
from core.packed import Chunk, Packed

Array = NDArray[np.floating[Any]]
Params = dict[str, Array]
Shape = tuple[int, ...]

INITS = ("uniform", "he")


@dataclass
class Mode:
    """How forward runs: training (dropout drops, batch norm uses and updates batch statistics)
    or inference. rng draws dropout masks; it is needed only while training.

    A batch trained in parts (core/parts.py) passes each part its own Mode: `whole` sums an array
    over all the parts, so that batch norm sees the whole batch's statistics, and only one part
    keeps the running statistics."""

    train: bool = False
    rng: np.random.Generator | None = field(default=None, repr=False)
    whole: Callable[[Array], Array] | None = field(default=None, repr=False)
    keeps_state: bool = True

    def summed(self, x: Array) -> Array:
        """x summed over every part of the batch: x itself when the batch is one part."""
        return x if self.whole is None else self.whole(x)


INFERENCE = Mode()


class Layer(Protocol):
    DECAYED: ClassVar[tuple[str, ...]]
    STATE: ClassVar[tuple[str, ...]]

    def init(self, rng: np.random.Generator, in_shape: Shape) -> tuple[Params, Shape]: ...

    def forward(self, params: Params, X: Array, mode: Mode) -> tuple[Array, Any]: ...

    def backward(
        self, params: Params, cache: Any, dY: Array, need_dX: bool
    ) -> tuple[Array | None, Params]: ...


def check_init(init: str) -> None:
    require(init in INITS, "init", "one of " + ", ".join(INITS), init)


def he_normal(rng: np.random.Generator, shape: Shape, fan_in: int) -> Array:
    """N(0, 2/fan_in), the initialisation that keeps ReLU activations' variance (He et al. 2015)."""
    weights: Array = (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)
    return weights


@dataclass(frozen=True)
class Dense:
    """Z = X·Wᵀ + bᵀ with W (n_out, n_in) and b (n_out, 1); X is (m, n_in); with relu, the
    layer gives ReLU(Z) (the model fuses a "dense" and the "relu" after it into one).

    init "uniform" draws W and b from U[-0.5, 0.5), as the seed network does; "he" draws W from
    N(0, 2/n_in) with b = 0.
    """

    n_out: int
    init_scheme: str = "he"
    relu: bool = False
    DECAYED: ClassVar[tuple[str, ...]] = ("W",)
    STATE: ClassVar[tuple[str, ...]] = ()

    def __post_init__(self) -> None:
        if self.n_out < 1:
            raise ValueError(f"Dense: n_out must be at least 1, got {self.n_out}")
        check_init(self.init_scheme)

    def init(self, rng: np.random.Generator, in_shape: Shape) -> tuple[Params, Shape]:
        if len(in_shape) != 1:
            raise ValueError(f"Dense needs flat inputs, got shape {in_shape}: add a flatten layer")
        n_in = in_shape[0]
        if self.init_scheme == "uniform":
            W = (rng.random((self.n_out, n_in)) - 0.5).astype(np.float32)
            b = (rng.random((self.n_out, 1)) - 0.5).astype(np.float32)
        else:
            W = he_normal(rng, (self.n_out, n_in), n_in)
            b = np.zeros((self.n_out, 1), np.float32)
        return {"W": W, "b": b}, (self.n_out,)

    def forward(self, params: Params, X: Array | Packed, mode: Mode) -> tuple[Array, Any]:
        if isinstance(X, Packed):  # the full batch, as the first layer sees it
            return self._forward_packed(params, X)
        Z = X @ params["W"].T  # (m, n_in) @ (n_in, n_out)
        Z += params["b"].T
        if self.relu:
            return np.maximum(Z, 0), (X, Z)
        return Z, (X, None)

    def backward(self, params: Params, cache: Any, dZ: Array, need_dX: bool) -> tuple[Array | None, Params]:
        X, Z = cache
        if isinstance(X, Packed):  # the model's input: no gradient goes further
            return None, self._backward_packed(X, Z, dZ)
        if Z is not None:  # through the ReLU: outputs ≤ 0 pass no gradient
            dZ = dZ * (Z > 0)
        dW = dZ.T @ X  # (n_out, m) @ (m, n_in)
        db = dZ.sum(axis=0)[:, np.newaxis]  # (n_out, 1)
        dX = dZ @ params["W"] if need_dX else None  # (m, n_out) @ (n_out, n_in)
        return dX, {"W": dW, "b": db}

    def _forward_packed(self, params: Params, X: Packed) -> tuple[Array, Any]:
        """Z = X·Wᵀ + bᵀ and its ReLU, chunk by chunk on X's threads (core/packed.py), each
        chunk's product without its blank columns, into arrays the next step reuses."""
        W, b = params["W"], params["b"].T
        Z = X.buffer("Z", (len(X), self.n_out), W.dtype)
        A = X.buffer("ReLU(Z)", Z.shape, Z.dtype) if self.relu else Z

        def chunk(c: Chunk) -> None:
            z = np.matmul(c.X, W[:, c.columns].T, out=Z[c.start : c.stop])
            z += b
            if self.relu:
                np.maximum(z, 0, out=A[c.start : c.stop])

        X.map(chunk)
        return A, (X, Z if self.relu else None)

    def _backward_packed(self, X: Packed, Z: Array | None, dZ: Array) -> Params:
        """dW = dZᵀ·X and db = ΣdZ, chunk by chunk on X's threads; the chunks' shares added in
        their order, so the bytes do not depend on how many threads ran."""

        def chunk(c: Chunk) -> tuple[Array, Array]:
            d = dZ[c.start : c.stop]
            if Z is not None:  # through the ReLU
                d = d * (Z[c.start : c.stop] > 0)
            return d.T @ c.X, column_sums(d)

        dW = np.zeros((self.n_out, X.features), dZ.dtype)
        db = np.zeros(self.n_out, dZ.dtype)
        for c, (dW_share, db_share) in zip(X.chunks, X.map(chunk), strict=True):
            dW[:, c.columns] += dW_share
            db += db_share
        return {"W": dW, "b": db[:, np.newaxis]}


@dataclass(frozen=True)
class ReLU:
    DECAYED: ClassVar[tuple[str, ...]] = ()
    STATE: ClassVar[tuple[str, ...]] = ()

    def init(self, rng: np.random.Generator, in_shape: Shape) -> tuple[Params, Shape]:
        return {}, in_shape

    def forward(self, params: Params, Z: Array, mode: Mode) -> tuple[Array, Array]:
        return np.maximum(Z, 0), Z

    def backward(self, params: Params, cache: Array, dA: Array, need_dX: bool) -> tuple[Array | None, Params]:
        Z = cache
        return dA * (Z > 0), {}


@dataclass(frozen=True)
class Flatten:
    """(m, ...) -> (m, product of the rest)."""

    DECAYED: ClassVar[tuple[str, ...]] = ()
    STATE: ClassVar[tuple[str, ...]] = ()

    def init(self, rng: np.random.Generator, in_shape: Shape) -> tuple[Params, Shape]:
        return {}, (int(np.prod(in_shape)),)

    def forward(self, params: Params, X: Array, mode: Mode) -> tuple[Array, Shape]:
        return X.reshape(len(X), -1), X.shape

    def backward(self, params: Params, cache: Shape, dY: Array, need_dX: bool) -> tuple[Array | None, Params]:
        return dY.reshape(cache), {}


@dataclass(frozen=True)
class Dropout:
    """While training, zero each activation with probability `rate` and scale the rest by
    1/(1 - rate) (inverted dropout), so inference is the identity."""

    DECAYED: ClassVar[tuple[str, ...]] = ()
    STATE: ClassVar[tuple[str, ...]] = ()

    rate: float

    def __post_init__(self) -> None:
        if not 0 <= self.rate < 1:
            raise ValueError(f"Dropout: rate must be in [0, 1), got {self.rate}")

    def init(self, rng: np.random.Generator, in_shape: Shape) -> tuple[Params, Shape]:
        return {}, in_shape

    def forward(self, params: Params, X: Array, mode: Mode) -> tuple[Array, Array | None]:
        if not mode.train or self.rate == 0:
            return X, None
        if mode.rng is None:
            raise ValueError("Dropout: training needs a random generator in Mode.rng")
        keep = mode.rng.random(X.shape, dtype=np.float32) >= self.rate
        scale = keep * np.float32(1 / (1 - self.rate))  # (m, ...) of 0 and 1/(1-rate)
        return X * scale, scale

    def backward(
        self, params: Params, cache: Array | None, dY: Array, need_dX: bool
    ) -> tuple[Array | None, Params]:
        return (dY if cache is None else dY * cache), {}


@dataclass(frozen=True)
class BatchNormCache:
    X_hat: Array  # (rows, features) normalised inputs
    inv_std: Array  # (features,) 1/σ
    rows: np.floating[Any]  # rows over which the statistics were taken: the whole batch's
    summed: Callable[[Array], Array] | None  # the batch's Mode.summed while training; None: constants


@dataclass(frozen=True)
class BatchNorm:
    """Normalise each feature (each channel, for images) over the batch, then scale by gamma and
    shift by beta (Ioffe & Szegedy 2015). Training uses the batch's mean and variance and updates
    running averages ("mean", "var": state, no gradient) that inference uses instead. A batch
    trained in parts takes its statistics over all of them (Mode.summed): the same maths as one."""

    momentum: float = 0.9  # running = momentum·running + (1 - momentum)·batch
    eps: float = 1e-5
    DECAYED: ClassVar[tuple[str, ...]] = ()
    STATE: ClassVar[tuple[str, ...]] = ("mean", "var")

    def init(self, rng: np.random.Generator, in_shape: Shape) -> tuple[Params, Shape]:
        n = in_shape[-1]
        ones, zeros = np.ones(n, np.float32), np.zeros(n, np.float32)
        return {"gamma": ones, "beta": zeros.copy(), "mean": zeros.copy(), "var": ones.copy()}, in_shape

    def forward(self, params: Params, X: Array, mode: Mode) -> tuple[Array, BatchNormCache]:
        X2 = X.reshape(-1, X.shape[-1])  # (rows, features): every axis but the features' is a row
        if mode.train:
            sums = mode.summed(np.append(column_sums(X2), X2.dtype.type(len(X2))))  # and the rows
            n = sums[-1]
            mean = sums[:-1] / n
            X_hat: Array = X2 - mean
            var: Array = mode.summed(column_sums(np.square(X_hat))) / n
            if mode.keeps_state:
                m = params["mean"].dtype.type(self.momentum)
                params["mean"] *= m
                params["mean"] += (1 - m) * mean
                params["var"] *= m
                params["var"] += (1 - m) * var
        else:
            X_hat, var, n = X2 - params["mean"], params["var"], X2.dtype.type(len(X2))
        inv_std = 1 / np.sqrt(var + X.dtype.type(self.eps))
        X_hat *= inv_std
        Y = X_hat * params["gamma"]
        Y += params["beta"]
        return Y.reshape(X.shape), BatchNormCache(X_hat, inv_std, n, mode.summed if mode.train else None)

    def backward(
        self, params: Params, cache: BatchNormCache, dY: Array, need_dX: bool
    ) -> tuple[Array | None, Params]:
        X_hat = cache.X_hat
        dY2 = dY.reshape(X_hat.shape)
        dgamma = column_sums(dY2 * X_hat)
        dbeta = column_sums(dY2)
        grads = {"gamma": dgamma, "beta": dbeta}  # this part's share; the parts' shares add up
        if not need_dX:
            return None, grads
        scale = params["gamma"] * cache.inv_std
        if cache.summed is None:  # the statistics were constants
            return (dY2 * scale).reshape(dY.shape), grads
        # The batch's mean and variance depend on every X. With n rows per feature,
        # dX = γ/σ · (dY - Σdβ/n - X̂·Σdγ/n): the usual three-term formula, its means written as
        # the parameter gradients just computed, summed over the whole batch.
        features = len(dgamma)
        sums = cache.summed(np.concatenate([dgamma, dbeta]))
        dX = dY2 - sums[features:] / cache.rows
        dX -= X_hat * (sums[:features] / cache.rows)
        dX *= scale
        return dX.reshape(dY.shape), grads


def column_sums(X: Array) -> Array:
    """Sum of each column of a 2-D array, as a BLAS product: several times faster than
    X.sum(axis=0), which NumPy walks row by row on one core."""
    sums: Array = np.ones(len(X), X.dtype) @ X
    return sums
