"""Full-batch gradient descent, as the seed network trains.

The gradient of the mean loss over m examples is a sum over the examples, so it is accumulated
over chunks of rows: the same gradient, summed in another order, with each chunk's X still in the
CPU cache for its backward pass, and with the pixels that are blank in a whole chunk left out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from core import model as M
from core.layers import Array, Params
from core.losses import softmax_cross_entropy
from core.optimizers import gradient_descent

DIVERGED = 10.0  # stop when the loss exceeds this many times its lowest so far (floor: ln 10)
CHUNK_ROWS = 4096  # 2k-4k rows are fastest here; 1k and 16k+ are slower (bench/seed_speed.py)


@dataclass(frozen=True)
class Step:
    iteration: int  # 1-based
    loss: float  # mean cross-entropy on the training rows before this step's update
    accuracy: float  # training accuracy before this step's update


@dataclass(frozen=True)
class Chunk:
    """Some rows of the training set, keeping only the input columns with ink in any of them.

    A column that is zero in every row of a chunk adds nothing to Z1 = W1·X nor to dW1 = dZ1·Xᵀ
    for that chunk, so dropping it changes no sum; it only spares the multiplications by zero.
    """

    X: Array  # (rows, k) float32, C-contiguous
    columns: NDArray[np.intp]  # (k,) the input columns kept, ascending
    y: NDArray[np.intp]  # (rows,)


def pack(X: Array, y: NDArray[Any], chunk_rows: int = CHUNK_ROWS) -> list[Chunk]:
    """Split rows (m, features) into chunks of chunk_rows, grouped by label.

    Digits of one class leave the same border regions empty, so grouping them drops more columns
    per chunk (about 30% of the pixels of MNIST). The full-batch gradient is a sum over rows, so
    their order changes nothing but rounding.
    """
    order = np.argsort(y, kind="stable")
    chunks = []
    for start in range(0, len(order), chunk_rows):
        rows = order[start : start + chunk_rows]
        block = X[rows]
        columns = np.flatnonzero(block.any(axis=0))
        chunks.append(Chunk(np.ascontiguousarray(block[:, columns]), columns, y[rows].astype(np.intp)))
    return chunks


def loss_and_gradient(net: M.Sequential, params: Params, chunks: list[Chunk]) -> tuple[float, Params, int]:
    """Mean loss over all rows of the chunks, its gradient, and how many rows are predicted right."""
    first = "W" + net.names()[0]  # the weights that meet the inputs: W1
    assert first == "W1", "packing needs a first layer with weights"
    m = sum(len(chunk.y) for chunk in chunks)
    loss, correct = 0.0, 0
    grads: Params = {key: np.zeros_like(value) for key, value in params.items()}
    for chunk in chunks:
        narrow = {**params, first: params[first][:, chunk.columns]}  # (hidden, k)
        Z, caches = M.forward(net, narrow, chunk.X)  # (rows, k) -> (rows, classes)
        correct += int(np.count_nonzero(Z.argmax(axis=1) == chunk.y))
        chunk_loss, dZ = softmax_cross_entropy(Z, chunk.y, n=m)
        for key, value in M.backward(net, narrow, caches, dZ).items():
            if key == first:
                grads[key][:, chunk.columns] += value
            else:
                grads[key] += value
        loss += chunk_loss
    return loss, grads, correct


def full_batch_descent(
    net: M.Sequential,
    params: Params,
    X: Array,
    y: NDArray[Any],
    alpha: float,
    iterations: int,
    on_step: Callable[[Step, Params], None] | None = None,
) -> Params:
    """Train params in place with `iterations` full-batch steps W := W - α·dW; returns them."""
    if X.dtype != np.float32:
        raise TypeError(f"X must be float32, got {X.dtype}")
    if X.shape[0] != y.shape[0]:
        raise ValueError(f"X has {X.shape[0]} rows but y has {y.shape[0]}")
    chunks = pack(X, y)
    ceiling = np.inf
    for iteration in range(1, iterations + 1):
        loss, grads, correct = loss_and_gradient(net, params, chunks)
        if not loss < ceiling:  # also catches NaN
            raise FloatingPointError(f"loss {loss:.4g} at iteration {iteration}")
        ceiling = min(ceiling, DIVERGED * max(loss, np.log(10)))
        gradient_descent(params, grads, alpha)
        if on_step is not None:
            on_step(Step(iteration, loss, correct / X.shape[0]), params)
    return params
