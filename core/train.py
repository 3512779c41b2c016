"""Full-batch gradient descent, as the seed network trains.

The gradient of the mean loss over m examples is a sum over the examples, so it is accumulated
over chunks of rows: the same gradient, summed in another order, while each chunk's X stays in the
CPU cache between its forward and its backward pass instead of being read from memory twice.
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
CHUNK_ROWS = 8192  # ~25 MB of float32 pixels: fastest of 1k..41k rows here (bench/seed_speed.py)


@dataclass(frozen=True)
class Step:
    iteration: int  # 1-based
    loss: float  # mean cross-entropy on the training rows before this step's update
    accuracy: float  # training accuracy before this step's update


def loss_and_gradient(
    net: M.Sequential, params: Params, X: Array, y: NDArray[Any], chunk_rows: int = CHUNK_ROWS
) -> tuple[float, Params, int]:
    """Mean loss over all rows of X (m, features), its gradient, and how many rows are right."""
    m = X.shape[0]
    loss, correct = 0.0, 0
    grads: Params = {key: np.zeros_like(value) for key, value in params.items()}
    for start in range(0, m, chunk_rows):
        Xc = X[start : start + chunk_rows].T  # (features, chunk): a view, no copy
        yc = y[start : start + chunk_rows]
        Z, caches = M.forward(net, params, Xc)
        chunk_loss, dZ, A = softmax_cross_entropy(Z, yc, n=m)
        for key, value in M.backward(net, params, caches, dZ).items():
            grads[key] += value
        loss += chunk_loss
        correct += int(np.count_nonzero(A.argmax(axis=0) == yc))
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
    ceiling = np.inf
    for iteration in range(1, iterations + 1):
        loss, grads, correct = loss_and_gradient(net, params, X, y)
        if not loss < ceiling:  # also catches NaN
            raise FloatingPointError(f"loss {loss:.4g} at iteration {iteration}")
        ceiling = min(ceiling, DIVERGED * max(loss, np.log(10)))
        gradient_descent(params, grads, alpha)
        if on_step is not None:
            on_step(Step(iteration, loss, correct / X.shape[0]), params)
    return params
