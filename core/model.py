"""A model is a sequence of layers, described by short specs; each layer holds its own parameters.

A model's parameters are a list with one dict per layer ({} for a layer without any). Weights
files name them by layer, numbering the layers with parameters from 1, so that the seed network's
are exactly W1, b1, W2, b2 of its equations. Specs, one string per layer:

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
from numpy.typing import NDArray

from core.conv import Conv2D, MaxPool2D
from core.data import N_CLASSES, N_PIXELS, SIDE
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
from core.packed import Packed

IMAGE: Shape = (SIDE, SIDE, 1)
MAX_PARAMETERS = 50_000_000  # 200 MB of float32, a few times that with gradients and Adam's state
ARCHITECTURE = "architecture"  # the key under which weights files keep the specs


@dataclass(frozen=True)
class Sequential:
    layers: tuple[Layer, ...]
    spec: tuple[str, ...]  # the specs it was built from
    in_shape: Shape
    parts: tuple[str, ...]  # each layer's spec; a fused layer's specs joined by ", "


ModelParams = list[Params]  # each layer's parameters, in the layers' order


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


def build(spec: Sequence[str], init: str = "he") -> Sequential:
    """The model the specs describe, checked for fitting shapes and 10 outputs."""
    check_init(init)
    if not spec:
        raise ValueError("a model needs at least one layer")
    layers = [parse(s, init) for s in spec]
    in_shape = IMAGE if isinstance(layers[0], Conv2D) else (N_PIXELS,)
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
    the ReLU after it (Dense's relu, which keeps one array fewer). Returns the layers and their
    specs, a fused layer's joined by ", "."""
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


def init(model: Sequential, rng: np.random.Generator) -> ModelParams:
    params: ModelParams = []
    shape = model.in_shape
    for layer in model.layers:
        p, shape = layer.init(rng, shape)
        params.append(p)
    return params


def forward(
    model: Sequential, params: ModelParams, X: Array | Packed, mode: Mode = INFERENCE
) -> tuple[Array, list[Any]]:
    """Logits (m, classes) for inputs X (m, 784) (or packed, for a first dense layer), and the
    caches backward needs."""
    caches = []
    if isinstance(X, Packed):  # the full batch's rows, which only a first dense layer takes
        first = model.layers[0]
        if not isinstance(first, Dense):
            raise TypeError(f"packed rows go to a dense first layer, not {type(first).__name__}")
        Y, cache = first.forward(params[0], X, mode)
        caches.append(cache)
    elif len(model.in_shape) == 3:
        Y = X.reshape(len(X), *model.in_shape)  # a view: (m, 784) -> (m, 28, 28, 1)
    else:
        Y = X
    for layer, p in zip(model.layers[len(caches) :], params[len(caches) :], strict=True):
        Y, cache = layer.forward(p, Y, mode)
        caches.append(cache)
    return Y, caches


def backward(model: Sequential, params: ModelParams, caches: list[Any], dZ: Array) -> ModelParams:
    """Each layer's gradients ({} for a layer without parameters), from the loss gradient dZ of
    the logits."""
    grads: ModelParams = [{} for _ in model.layers]
    for i in reversed(range(len(model.layers))):
        # The first layer's input gradient is never used: skip its (m, 784) product.
        dZ_in, grads[i] = model.layers[i].backward(params[i], caches[i], dZ, need_dX=i > 0)
        if dZ_in is not None:
            dZ = dZ_in
    return grads


def copy(params: ModelParams) -> ModelParams:
    return [{key: value.copy() for key, value in p.items()} for p in params]


def finite(params: ModelParams) -> bool:
    return all(np.isfinite(value).all() for p in params for value in p.values())


def predict_proba(
    model: Sequential,
    params: ModelParams,
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


Member = tuple[Sequential, ModelParams]  # one model of an ensemble and its parameters


def to_arrays(model: Sequential, params: ModelParams) -> dict[str, Any]:
    """What a weights file holds: each parameter under its file name (W1, b1, ...) and the specs
    that rebuild the model."""
    return {name: params[i][key] for i, key, name in _file_names(params)} | {
        ARCHITECTURE: np.array(model.spec)
    }


def from_arrays(arrays: dict[str, Any]) -> Member:
    """The model and parameters of a weights file, checking names, shapes and dtype. A file
    without specs, as the first seed networks were saved, is a stack of dense layers with a ReLU
    between, read from its weights' shapes."""
    arrays = dict(arrays)
    spec = arrays.pop(ARCHITECTURE, None)
    if spec is None:
        spec = _dense_stack(arrays)
    elif spec.dtype.kind != "U" or spec.ndim != 1:
        raise ValueError(f"'{ARCHITECTURE}' must be a list of layer specs, got {spec.dtype} {spec.shape}")
    model = build([str(s) for s in spec])
    expected = init(model, np.random.default_rng(0))
    names = _file_names(expected)
    if set(arrays) != {name for _, _, name in names}:
        raise ValueError(f"expected arrays {sorted(name for _, _, name in names)}, got {sorted(arrays)}")
    params: ModelParams = [{} for _ in model.layers]
    for i, key, name in names:
        if arrays[name].shape != expected[i][key].shape:
            raise ValueError(f"{name} has shape {arrays[name].shape}, expected {expected[i][key].shape}")
        if arrays[name].dtype != np.float32:
            raise ValueError(f"{name} has dtype {arrays[name].dtype}, expected float32")
        params[i][key] = arrays[name]
    return model, params


def _file_names(params: ModelParams) -> list[tuple[int, str, str]]:
    """(layer, key, name in the file) of every parameter: the key and the layer's number among
    the layers with parameters, from 1 ("W1" is the first such layer's W)."""
    with_params = [i for i, p in enumerate(params) if p]
    return [(i, key, f"{key}{n}") for n, i in enumerate(with_params, 1) for key in params[i]]


def _dense_stack(arrays: dict[str, Any]) -> NDArray[np.str_]:
    """The specs of dense layers W1, W2, ... with a ReLU between, from the weights' shapes."""
    spec: list[str] = []
    n = 1
    while (W := arrays.get(f"W{n}")) is not None and W.ndim == 2:
        spec += ["relu", f"dense {W.shape[0]}"] if spec else [f"dense {W.shape[0]}"]
        n += 1
    if not spec:
        raise ValueError(f"no '{ARCHITECTURE}' and no W1 to read a model from: got {sorted(arrays)}")
    return np.array(spec)
