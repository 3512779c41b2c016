"""Softmax and cross-entropy as one step, whose gradient is probs - onehot."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.floating[Any]]
Labels = NDArray[np.integer[Any]]


def softmax(Z: Array) -> Array:
    """Row-wise softmax of logits Z (m, classes), stable for any finite logits."""
    E = _columns(Z)
    E -= E.max(axis=0)
    np.exp(E, out=E)
    E /= E.sum(axis=0)
    return E.T


def softmax_cross_entropy(
    Z: Array, y: Labels, n: int | None = None, smoothing: float = 0.0
) -> tuple[float, Array, int]:
    """Cross-entropy of softmax(Z) against labels y, averaged over n examples, its gradient, and
    how many rows have their label first among their largest logits (as argmax counts them).

    Z is (m, classes), y is (m,). n defaults to m; a caller that splits one batch into parts passes
    the whole batch's size so that the parts' losses and gradients add up to the batch's.
    Returns (loss, dZ, right) with dZ = (A - Y) / n, A = softmax(Z) and Y the one-hot labels, or
    with label smoothing ε the targets (1 - ε)·one-hot + ε/classes (cross_entropy_of_shifted).
    """
    m = Z.shape[0]
    if y.shape != (m,):
        raise ValueError(f"labels must have shape ({m},), got {y.shape}")
    E = _columns(Z)  # (classes, m)
    E -= E.max(axis=0)
    places = label_places(y)
    right = _right(E, places, y)
    loss = cross_entropy_of_shifted(E, places, m if n is None else n, smoothing)
    return loss, E.T, right


def label_places(y: Labels) -> NDArray[np.intp]:
    """Where each example's label sits in a flat (classes, m) array: y·m + column."""
    m = len(y)
    places: NDArray[np.intp] = y.astype(np.intp) * m + np.arange(m)
    return places


def _right(shifted: Array, places: NDArray[np.intp], y: Labels) -> int:
    """How many columns of shifted logits (classes, m), each column's maximum subtracted, have
    their label first among the maxima: argmax's count, without argmax's slow pass."""
    at_max = shifted == 0
    right = at_max.reshape(-1)[places]
    if np.count_nonzero(at_max) > len(right):  # some column has several maxima: argmax takes the first
        tied = np.flatnonzero(np.count_nonzero(at_max, axis=0) > 1)
        right[tied] = shifted[:, tied].argmax(axis=0) == y[tied]
    return int(np.count_nonzero(right))


def cross_entropy_of_shifted(E: Array, places: NDArray[np.intp], n: int, smoothing: float = 0.0) -> float:
    """The step itself, in place on logits E (classes, m), C-contiguous, each column already shifted
    by its maximum (so exp cannot overflow): returns the cross-entropy summed over the columns / n,
    and leaves dZ = (A - Y) / n in E. places are label_places(y).

    With label smoothing ε (Szegedy et al. 2016) the targets Y are (1 - ε)·one-hot + ε/classes: no
    target asks for a probability of exactly 1, so the logits stop growing once the label leads."""
    flat = E.reshape(-1)  # a view: E is contiguous
    picked = flat[places]  # the label's shifted logit
    spread = E.sum(axis=0) if smoothing else None  # each column's Σ_k shifted logit, before exp
    np.exp(E, out=E)
    total = E.sum(axis=0)
    # -log softmax(Z)[y] = log Σexp(shifted) - shifted[y]: exact, never log(0)
    log_total = np.log(total)
    losses = log_total - picked
    E /= total  # A
    if spread is None:
        flat[places] -= 1  # A - Y without building Y
    else:  # loss (1 - ε)·(-log A_y) + ε/K·Σ_k (-log A_k); gradient A - (1 - ε)·one-hot - ε/K
        classes = len(E)
        losses = (1 - smoothing) * losses + smoothing / classes * (classes * log_total - spread)
        flat[places] -= E.dtype.type(1 - smoothing)
        E -= E.dtype.type(smoothing / classes)
    loss = float(np.sum(losses, dtype=np.float64)) / n
    E /= n
    return loss


def _columns(Z: Array) -> Array:
    """A contiguous copy of Zᵀ (classes, m), safe to change in place: NumPy reduces along the long
    axis of that layout about 50x faster than along rows of ten (bench/seed_speed.py).
    (Not np.ascontiguousarray: for one row, Zᵀ is contiguous already and it would return a view.)"""
    if Z.ndim != 2:
        raise ValueError(f"logits must have shape (m, classes), got {Z.shape}")
    return Z.T.copy(order="C")
