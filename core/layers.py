"""Layers as plain functions over plain data.

Activations are laid out (batch, features): the seed network's equations transposed, since BLAS
runs Z1ᵀ = Xᵀ·W1ᵀ about 40% faster than Z1 = W1·X for a 10-unit layer (bench/seed_speed.py), and
image layers will want (batch, channels, height, width). Parameters keep the equations' shapes:
W (n_out, n_in) and b (n_out, 1). A layer is a small stateless object with three methods:

    init(rng, n_in)            -> (params, n_out)
    forward(params, X)         -> (Y, cache)
    backward(params, cache, dY, need_dX) -> (dX or None, grads)

`params` and `grads` are dict[str, ndarray] with the same keys, so saving, gradient checks and
optimizers treat every layer alike. Gradients are of whatever loss produced dY: the loss decides
the 1/m, the layers never do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.floating[Any]]
Params = dict[str, Array]

INITS = ("uniform", "he")


class Layer(Protocol):
    def init(self, rng: np.random.Generator, n_in: int) -> tuple[Params, int]: ...

    def forward(self, params: Params, X: Array) -> tuple[Array, Any]: ...

    def backward(
        self, params: Params, cache: Any, dY: Array, need_dX: bool
    ) -> tuple[Array | None, Params]: ...


@dataclass(frozen=True)
class Dense:
    """Z = W·X + b with W (n_out, n_in) and b (n_out, 1).

    init "uniform" draws W and b from U[-0.5, 0.5), as the seed network does; "he" draws W from
    N(0, 2/n_in) with b = 0.
    """

    n_out: int
    init_scheme: str = "uniform"

    def __post_init__(self) -> None:
        if self.n_out < 1:
            raise ValueError(f"Dense: n_out must be at least 1, got {self.n_out}")
        if self.init_scheme not in INITS:
            raise ValueError(f"Dense: init must be one of {INITS}, got {self.init_scheme!r}")

    def init(self, rng: np.random.Generator, n_in: int) -> tuple[Params, int]:
        if self.init_scheme == "uniform":
            W = rng.random((self.n_out, n_in)) - 0.5
            b = rng.random((self.n_out, 1)) - 0.5
        else:
            W = rng.standard_normal((self.n_out, n_in)) * np.sqrt(2.0 / n_in)
            b = np.zeros((self.n_out, 1))
        return {"W": W.astype(np.float32), "b": b.astype(np.float32)}, self.n_out

    def forward(self, params: Params, X: Array) -> tuple[Array, Array]:
        Z = X @ params["W"].T  # (m, n_in) @ (n_in, n_out)
        Z += params["b"].T
        return Z, X

    def backward(self, params: Params, cache: Array, dZ: Array, need_dX: bool) -> tuple[Array | None, Params]:
        X = cache
        dW = dZ.T @ X  # (n_out, m) @ (m, n_in)
        db = dZ.sum(axis=0)[:, np.newaxis]  # (n_out, 1)
        dX = dZ @ params["W"] if need_dX else None  # (m, n_out) @ (n_out, n_in)
        return dX, {"W": dW, "b": db}


@dataclass(frozen=True)
class ReLU:
    def init(self, rng: np.random.Generator, n_in: int) -> tuple[Params, int]:
        return {}, n_in

    def forward(self, params: Params, Z: Array) -> tuple[Array, Array]:
        return np.maximum(Z, 0), Z

    def backward(self, params: Params, cache: Array, dA: Array, need_dX: bool) -> tuple[Array | None, Params]:
        Z = cache
        return dA * (Z > 0), {}
