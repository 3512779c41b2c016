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


def per_class(counts: NDArray[np.int64]) -> dict[str, NDArray[np.float64]]:
    """Precision, recall and F1 of each class from a confusion matrix (rows actual, columns
    predicted). A class never predicted has precision 0; never present, recall 0; F1 is 0 where
    precision and recall are both 0."""
    hits = np.diag(counts).astype(np.float64)
    predicted, actual = counts.sum(axis=0), counts.sum(axis=1)
    precision = np.divide(hits, predicted, out=np.zeros_like(hits), where=predicted > 0)
    recall = np.divide(hits, actual, out=np.zeros_like(hits), where=actual > 0)
    both = precision + recall
    f1 = np.divide(2 * precision * recall, both, out=np.zeros_like(hits), where=both > 0)
    return {"precision": precision, "recall": recall, "f1": f1}


def macro_f1(counts: NDArray[np.int64]) -> float:
    """The unweighted mean of the classes' F1 scores: every digit counts the same."""
    return float(per_class(counts)["f1"].mean())


def confident_mistakes(probs: NDArray[np.floating[Any]], y_true: Labels, n: int) -> NDArray[np.intp]:
    """Indices of up to n wrongly predicted examples, the most confident first (ties by index)."""
    predicted = probs.argmax(axis=1)
    wrong = np.flatnonzero(predicted != y_true)
    confidence = probs[wrong, predicted[wrong]]
    return wrong[np.argsort(-confidence, kind="stable")[:n]]
