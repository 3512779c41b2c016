"""A model is a sequence of layers, described by short specs; its parameters are one flat dict.

Layers with parameters are numbered from 1 in the parameter names, so the seed network's
parameters are exactly W1, b1, W2, b2 of its equations. Specs, one string per layer:

    dense N            N units (He initialisation, or U[-0.5, 0.5) for the seed's "uniform")
    relu
    conv F K [valid] [stride S]
                       F filters of K x K moved S pixels at a time (1 unless given), "same"
                       padding unless "valid"
    maxpool S          S x S windows, stride S
    batchnorm
    dropout R          drop with probability R while training
    flatten

A model whose first layer is a convolution sees each 784-pixel row as a 28 x 28 x 1 image.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from core.conv import Conv2D, MaxPool2D
from core.data import N_CLASSES, N_PIXELS
from core.layers import (
    INFERENCE,
    Array,
    BatchNorm,
    Dense,
    Dropout,
    Flatten,
    Layer,
    Mode,
    Params,
    ReLU,
    Shape,
    check_init,
)
from core.losses import softmax

IMAGE: Shape = (28, 28, 1)
MAX_PARAMETERS = 50_000_000  # 200 MB of float32, a few times that with gradients and Adam's state
ARCHITECTURE = "architecture"  # the key under which weights files keep the specs


@dataclass(frozen=True)
class Sequential:
    layers: tuple[Layer, ...]
    spec: tuple[str, ...]  # the specs it was built from
    in_shape: Shape
    parts: tuple[str, ...]  # each layer's spec; a fused layer's specs joined by ", "

    def names(self) -> list[str]:
        """The number each layer's parameter keys carry ("1" for W1, b1), "" for no parameters."""
        names, count = [], 0
        for layer in self.layers:
            if isinstance(layer, Dense | Conv2D | BatchNorm):
                count += 1
                names.append(str(count))
            else:
                names.append("")
        return names


def parse(spec: str, init: str = "he") -> Layer:
    """One layer from its spec string; ValueError naming the spec if it is not one."""
    words = spec.split()
    kind, args = (words[0].lower(), words[1:]) if words else ("", [])
    try:
        if kind == "dense" and len(args) == 1:
            return Dense(int(args[0]), init)
        if kind == "relu" and not args:
            return ReLU()
        if kind == "conv" and 2 <= len(args) <= 5:
            return _conv(args)
        if kind == "maxpool" and len(args) == 1:
            return MaxPool2D(int(args[0]))
        if kind == "batchnorm" and not args:
            return BatchNorm()
        if kind == "dropout" and len(args) == 1:
            return Dropout(float(args[0]))
        if kind == "flatten" and not args:
            return Flatten()
    except ValueError as error:
        raise ValueError(f"layer {spec!r}: {error}") from None
    raise ValueError(
        f"layer {spec!r} is not one of: dense N, relu, conv F K [valid] [stride S], maxpool S, "
        "batchnorm, dropout R, flatten"
    )


def _conv(args: list[str]) -> Conv2D:
    """A convolution from the words after "conv": F K, then a padding and "stride S" if given."""
    rest, stride = args[2:], 1
    if len(rest) >= 2 and rest[-2].lower() == "stride":
        rest, stride = rest[:-2], int(rest[-1])
    if len(rest) > 1:
        raise ValueError(f"expected conv F K [valid] [stride S], got {len(args)} words after conv")
    return Conv2D(int(args[0]), int(args[1]), rest[0] if rest else "same", stride=stride)


def build(spec: Sequence[str], init: str = "he", n_in: int = N_PIXELS) -> Sequential:
    """The model the specs describe, checked for fitting shapes and 10 outputs.

    n_in, the number of inputs of a model without convolutions, is 784 but for tests."""
    check_init(init)
    if not spec:
        raise ValueError("a model needs at least one layer")
    layers = [parse(s, init) for s in spec]
    in_shape = IMAGE if isinstance(layers[0], Conv2D) else (n_in,)
    shape = in_shape
    rng = np.random.default_rng(0)
    total = 0
    for layer, text in zip(layers, spec, strict=True):
        total += _weights_of(layer, shape)
        if total > MAX_PARAMETERS:  # checked before init asks for the memory
            raise ValueError(
                f"layer {text!r} takes the model to {total:,} parameters, more than the "
                f"{MAX_PARAMETERS:,} trained here (the cnn preset has 317,450)"
            )
        try:
            shape = layer.init(rng, shape)[1]
        except ValueError as error:
            raise ValueError(f"layer {text!r}: {error}") from None
    if shape != (N_CLASSES,):
        raise ValueError(f"the last layer must give {N_CLASSES} outputs, the specs give shape {shape}")
    fused, parts = _fuse(layers, spec)
    return Sequential(fused, tuple(spec), in_shape, parts)


def _weights_of(layer: Layer, in_shape: tuple[int, ...]) -> int:
    """How many parameters layer takes on inputs of in_shape (filters or units times inputs)."""
    if isinstance(layer, Dense):
        return layer.n_out * (math.prod(in_shape) + 1)
    if isinstance(layer, Conv2D):
        return layer.filters * (layer.size * layer.size * in_shape[-1] + 1)
    if isinstance(layer, BatchNorm):
        return 4 * in_shape[-1]
    return 0


def _fuse(layers: Sequence[Layer], spec: Sequence[str]) -> tuple[tuple[Layer, ...], tuple[str, ...]]:
    """Layers that absorb the ones after them, where one layer computes the same values faster:
    a convolution absorbs the max-pooling and the ReLU that follow it, in either order
    (relu(max(z)) = max(relu(z)), gradients included; Conv2D's pool and relu), and a dense layer
    the ReLU after it (Dense's relu: then a model of dense layers alone is a stack that the
    full-batch step of core/train.py runs in its own layout, the seed network's among them).
    Returns the layers and their specs, a fused layer's joined by ", "."""
    fused: list[Layer] = []
    parts: list[str] = []
    for layer, text in zip(layers, spec, strict=True):
        merged = _absorb(fused[-1], layer) if fused else None
        if merged is not None:
            fused[-1] = merged
            parts[-1] += f", {text}"
        else:
            fused.append(layer)
            parts.append(text)
    return tuple(fused), tuple(parts)


def _absorb(last: Layer, layer: Layer) -> Layer | None:
    """last with layer fused into it, or None where they stay two layers."""
    if isinstance(last, Conv2D) and isinstance(layer, MaxPool2D) and last.pool == 1:
        return dataclasses.replace(last, pool=layer.size)
    if isinstance(last, Conv2D | Dense) and isinstance(layer, ReLU) and not last.relu:
        return dataclasses.replace(last, relu=True)
    return None


def mlp(sizes: tuple[int, ...], init: str = "uniform") -> Sequential:
    """Dense layers of the given sizes (784 inputs first, 10 classes last) with ReLU between.

    mlp((784, 10, 10)) is the seed network (the softmax belongs to the loss).
    """
    if len(sizes) < 2:
        raise ValueError(f"an MLP needs input and output sizes, got {sizes}")
    spec: list[str] = []
    for n_out in sizes[1:]:
        spec += ["relu", f"dense {n_out}"] if spec else [f"dense {n_out}"]
    return build(spec, init, n_in=sizes[0])


def seed_network(hidden: int = 10) -> Sequential:
    return mlp((N_PIXELS, hidden, N_CLASSES))


def _split(model: Sequential, params: Params) -> list[Params]:
    """Each layer's own parameters under their short names (W, b, gamma, ...)."""
    out: list[Params] = []
    for name in model.names():
        out.append(
            {key[: -len(name)]: value for key, value in params.items() if name and _number(key) == name}
        )
    return out


def _number(key: str) -> str:
    return key[len(key.rstrip("0123456789")) :]


def state_keys(model: Sequential) -> list[str]:
    """The parameters that forward updates in place while training and no gradient trains: batch
    norm's running statistics."""
    return [
        key + name
        for layer, name in zip(model.layers, model.names(), strict=True)
        if isinstance(layer, BatchNorm)
        for key in layer.STATE
    ]


def init(model: Sequential, rng: np.random.Generator) -> Params:
    params: Params = {}
    shape = model.in_shape
    for layer, name in zip(model.layers, model.names(), strict=True):
        p, shape = layer.init(rng, shape)
        params.update({key + name: value for key, value in p.items()})
    return params


def forward(model: Sequential, params: Params, X: Array, mode: Mode = INFERENCE) -> tuple[Array, list[Any]]:
    """Logits (m, classes) for inputs X (m, 784), and the caches backward needs."""
    if len(model.in_shape) == 3:
        X = X.reshape(len(X), *model.in_shape)  # a view: (m, 784) -> (m, 28, 28, 1)
    caches = []
    for layer, p in zip(model.layers, _split(model, params), strict=True):
        X, cache = layer.forward(p, X, mode)
        caches.append(cache)
    return X, caches


def backward(model: Sequential, params: Params, caches: list[Any], dZ: Array) -> Params:
    """Gradients of every trainable parameter, from the loss gradient dZ of the logits."""
    grads: Params = {}
    names = model.names()
    per_layer = _split(model, params)
    for i in reversed(range(len(model.layers))):
        # The first layer's input gradient is never used: skip its (m, 784) product.
        dZ_in, g = model.layers[i].backward(per_layer[i], caches[i], dZ, need_dX=i > 0)
        grads.update({key + names[i]: value for key, value in g.items()})
        if dZ_in is not None:
            dZ = dZ_in
    return grads


def predict_proba(
    model: Sequential,
    params: Params,
    X: Array,
    chunk_rows: int = 1024,
    map_chunks: Callable[[Callable[[int], Array], range], Iterable[Array]] = map,
) -> Array:
    """Class probabilities (m, classes) for rows X (m, 784), in inference mode; FloatingPointError
    if they are not finite (weights so large that the outputs overflow). map_chunks runs the
    chunks of rows: a thread pool's map runs several at once, with the same results."""

    def chunk(start: int) -> Array:
        with np.errstate(over="ignore", invalid="ignore"):  # an overflow is checked for below, once
            return softmax(forward(model, params, X[start : start + chunk_rows])[0])

    parts = list(map_chunks(chunk, range(0, len(X), chunk_rows)))
    probs = np.concatenate(parts) if parts else np.zeros((0, N_CLASSES), np.float32)
    if not np.isfinite(probs).all():
        raise FloatingPointError("the model's outputs overflow: its probabilities are not finite numbers")
    return probs


Member = tuple[Sequential, Params]  # one model of an ensemble and its parameters


def to_arrays(model: Sequential, params: Params) -> dict[str, Any]:
    """What a weights file holds: the parameters and the specs that rebuild the model."""
    return {**params, ARCHITECTURE: np.array(model.spec)}


def from_arrays(arrays: dict[str, Any]) -> tuple[Sequential, Params]:
    """The model and parameters of a weights file, checking names, shapes and dtype."""
    arrays = dict(arrays)
    spec = arrays.pop(ARCHITECTURE, None)
    if spec is None:  # a bare MLP: read its sizes from the weights
        sizes, i = [N_PIXELS], 1
        while f"W{i}" in arrays and arrays[f"W{i}"].ndim == 2:
            sizes.append(arrays[f"W{i}"].shape[0])
            i += 1
        model = mlp(tuple(sizes)) if len(sizes) > 1 else None
    else:
        if spec.dtype.kind != "U" or spec.ndim != 1:
            raise ValueError(f"'{ARCHITECTURE}' must be a list of layer specs, got {spec.dtype} {spec.shape}")
        model = build([str(s) for s in spec])
    expected = init(model, np.random.default_rng(0)) if model else {"W1": np.zeros(0), "b1": np.zeros(0)}
    if set(arrays) != set(expected):
        raise ValueError(f"expected arrays {sorted(expected)}, got {sorted(arrays)}")
    assert model is not None
    for key, value in expected.items():
        if arrays[key].shape != value.shape:
            raise ValueError(f"{key} has shape {arrays[key].shape}, expected {value.shape}")
        if arrays[key].dtype != np.float32:
            raise ValueError(f"{key} has dtype {arrays[key].dtype}, expected float32")
    return model, arrays
