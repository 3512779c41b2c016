"""A model is a sequence of layers; its parameters are one flat dict.

Dense layers are numbered from 1 in the parameter names, so the seed network's parameters are
exactly W1, b1, W2, b2 of its equations.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from core.layers import Array, Dense, Layer, Params, ReLU
from core.losses import softmax

N_PIXELS = 784
N_CLASSES = 10


@dataclass(frozen=True)
class Sequential:
    layers: tuple[Layer, ...]
    n_in: int = N_PIXELS

    def names(self) -> list[str]:
        """The suffix each layer's parameter keys carry ("1" for W1, b1), "" for no parameters."""
        names, dense = [], 0
        for layer in self.layers:
            if isinstance(layer, Dense):
                dense += 1
                names.append(str(dense))
            else:
                names.append("")
        return names


def mlp(sizes: tuple[int, ...], init: str = "uniform") -> Sequential:
    """Dense layers of the given sizes (inputs first, classes last) with ReLU between them.

    mlp((784, 10, 10)) is the seed network: 784 inputs, 10 ReLU units, 10 softmax units
    (the softmax belongs to the loss).
    """
    if len(sizes) < 2:
        raise ValueError(f"an MLP needs at least input and output sizes, got {sizes}")
    layers: list[Layer] = []
    for i, n_out in enumerate(sizes[1:]):
        if i:
            layers.append(ReLU())
        layers.append(Dense(n_out, init))
    return Sequential(tuple(layers), n_in=sizes[0])


def seed_network(hidden: int = 10) -> Sequential:
    return mlp((N_PIXELS, hidden, N_CLASSES))


def _split(model: Sequential, params: Params) -> list[Params]:
    return [{key: params[key + name] for key in ("W", "b")} if name else {} for name in model.names()]


def init(model: Sequential, rng: np.random.Generator) -> Params:
    params: Params = {}
    n = model.n_in
    for layer, name in zip(model.layers, model.names(), strict=True):
        p, n = layer.init(rng, n)
        params.update({key + name: value for key, value in p.items()})
    return params


def forward(model: Sequential, params: Params, X: Array) -> tuple[Array, list[Any]]:
    """Logits (m, classes) for inputs X (m, features), and the caches backward needs."""
    caches = []
    for layer, p in zip(model.layers, _split(model, params), strict=True):
        X, cache = layer.forward(p, X)
        caches.append(cache)
    return X, caches


def backward(model: Sequential, params: Params, caches: list[Any], dZ: Array) -> Params:
    """Gradients of every parameter, from the loss gradient dZ of the logits."""
    grads: Params = {}
    per_layer = _split(model, params)
    for i in reversed(range(len(model.layers))):
        # The first layer's input gradient is never used: skip its (784, m) matmul.
        dZ_in, g = model.layers[i].backward(per_layer[i], caches[i], dZ, need_dX=i > 0)
        name = model.names()[i]
        grads.update({key + name: value for key, value in g.items()})
        if dZ_in is not None:
            dZ = dZ_in
    return grads


def predict_proba(model: Sequential, params: Params, X: Array, chunk_rows: int = 8192) -> Array:
    """Class probabilities (m, classes) for rows X (m, features)."""
    parts = [
        softmax(forward(model, params, X[start : start + chunk_rows])[0])
        for start in range(0, X.shape[0], chunk_rows)
    ]
    return np.concatenate(parts) if parts else np.zeros((0, N_CLASSES), np.float32)


def from_params(params: Params) -> Sequential:
    """The MLP whose parameters these are, checking names, shapes and dtype."""
    n_dense = sum(1 for key in params if key.startswith("W"))
    expected = {f"{k}{i}" for i in range(1, n_dense + 1) for k in ("W", "b")}
    if n_dense == 0 or set(params) != expected:
        raise ValueError(f"expected arrays {sorted(expected or {'W1', 'b1'})}, got {sorted(params)}")
    sizes = [N_PIXELS]
    for i in range(1, n_dense + 1):
        W, b = params[f"W{i}"], params[f"b{i}"]
        if W.ndim != 2 or W.shape[1] != sizes[-1]:
            raise ValueError(f"W{i} has shape {W.shape}, expected (units, {sizes[-1]})")
        if b.shape != (W.shape[0], 1):
            raise ValueError(f"b{i} has shape {b.shape}, expected ({W.shape[0]}, 1)")
        for key in (f"W{i}", f"b{i}"):
            if params[key].dtype != np.float32:
                raise ValueError(f"{key} has dtype {params[key].dtype}, expected float32")
        sizes.append(W.shape[0])
    if sizes[-1] != N_CLASSES:
        raise ValueError(f"W{n_dense} has {sizes[-1]} outputs, expected {N_CLASSES}")
    return mlp(tuple(sizes))
