"""Scores of predictions against labels."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

Labels = NDArray[np.integer[Any]]


def accuracy(y_true: Labels, y_pred: Labels) -> float:
    if y_true.shape != y_pred.shape:
        raise ValueError(f"labels have shape {y_true.shape}, predictions {y_pred.shape}")
    if y_true.size == 0:
        raise ValueError("accuracy of no examples")
    return float(np.mean(y_true == y_pred))


def confusion(y_true: Labels, y_pred: Labels, n_classes: int = 10) -> NDArray[np.int64]:
    """counts[i, j] = how many examples of class i were predicted as j."""
    counts = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(counts, (y_true, y_pred), 1)
    return counts


def log_loss(probs: NDArray[np.floating[Any]], y_true: Labels) -> float:
    """Mean cross-entropy of probabilities (m, classes) against labels, log clipped at eps."""
    if probs.ndim != 2 or probs.shape[0] != y_true.shape[0]:
        raise ValueError(f"probabilities have shape {probs.shape}, labels {y_true.shape}")
    picked = probs[np.arange(len(y_true)), y_true].astype(np.float64)
    return float(-np.mean(np.log(np.maximum(picked, np.finfo(probs.dtype).eps))))
