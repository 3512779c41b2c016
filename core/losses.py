"""Softmax and cross-entropy as one step, whose gradient is probs - onehot."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.floating[Any]]
Labels = NDArray[np.integer[Any]]


def softmax(Z: Array) -> Array:
    """Column-wise softmax of logits Z (classes, m), stable for any finite logits."""
    E: Array = np.exp(Z - Z.max(axis=0, keepdims=True))
    E /= E.sum(axis=0, keepdims=True)
    return E


def log_softmax(Z: Array) -> Array:
    shifted: Array = Z - Z.max(axis=0, keepdims=True)
    shifted -= np.log(np.exp(shifted).sum(axis=0, keepdims=True))
    return shifted


def softmax_cross_entropy(Z: Array, y: Labels, n: int | None = None) -> tuple[float, Array, Array]:
    """Cross-entropy of softmax(Z) against labels y, averaged over n examples.

    Z is (classes, m), y is (m,). n defaults to m; a caller that splits one batch into chunks passes
    the whole batch's size so that the chunks' losses and gradients add up to the batch's.
    Returns (loss, dZ, A) with dZ = (A - Y) / n, Y the one-hot labels, and A = softmax(Z).
    """
    m = Z.shape[1]
    if y.shape != (m,):
        raise ValueError(f"labels must have shape ({m},), got {y.shape}")
    n = m if n is None else n
    columns = np.arange(m)
    logp = log_softmax(Z)
    loss = -float(logp[y, columns].sum(dtype=np.float64)) / n
    A = np.exp(logp)
    dZ = A.copy()
    dZ[y, columns] -= 1  # A - Y without building Y
    dZ /= n
    return loss, dZ, A
