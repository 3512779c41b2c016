"""Training: mini-batches, or full-batch gradient descent as the seed network trains.

For full batches, the gradient of the mean loss over m examples is a sum over the examples, so it
is accumulated over chunks of rows: the same gradient, summed in another order, with each chunk's
X still in the CPU cache for its backward pass, and with the pixels blank in a whole chunk left out.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from core import model as M
from core.augment import Augment
from core.layers import Array, Dense, Mode, Params, ReLU
from core.losses import softmax_cross_entropy
from core.metrics import accuracy, log_loss
from core.optimizers import Optimizer, learning_rate

# Training has diverged when the mean loss is not finite or above ten times that of guessing
# every digit with probability 1/10 (ln 10): no sane model, even untrained, comes near it.
DIVERGED = 10 * float(np.log(10))
CHUNK_ROWS = 4096  # 2k-4k rows are fastest here; 1k and 16k+ are slower (bench/seed_speed.py)


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


@dataclass(frozen=True)
class Schedule:
    epochs: int  # passes over the training rows; with full batches, one step each
    batch_size: int = 0  # 0: the full batch (the seed network's gradient descent)
    alpha: float = 0.1  # learning rate
    schedule: str = "constant"  # how α changes by epoch: constant, cosine or exponential
    decay: float = 1.0  # exponential's factor per epoch
    patience: int = 0  # stop after this many epochs without a better dev accuracy; 0: never
    keep_best: bool = False  # end with the weights of the best dev epoch, not the last

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 0 or self.patience < 0:
            raise ValueError(f"epochs must be ≥ 1, batch_size and patience ≥ 0, got {self}")
        learning_rate(self.alpha, self.schedule, 0, self.epochs, self.decay)  # checks the name


@dataclass(frozen=True)
class Epoch:
    epoch: int  # 1-based
    alpha: float  # learning rate used
    train_loss: float  # mean over the epoch's batches (with dropout and augmentation, if any)
    train_accuracy: float
    dev_loss: float
    dev_accuracy: float
    seconds: float  # since training started


def evaluate(net: M.Sequential, params: Params, X: Array, y: NDArray[Any]) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) of the model in inference mode, as evaluate reports them."""
    probs = M.predict_proba(net, params, X)
    return log_loss(probs, y), accuracy(y, probs.argmax(axis=1))


def fit(
    net: M.Sequential,
    params: Params,
    data: tuple[Array, NDArray[Any], Array, NDArray[Any]],
    schedule: Schedule,
    optimizer: Optimizer,
    augment: Augment,
    rng: np.random.Generator,
    on_epoch: Callable[[Epoch], None] | None = None,
    on_batch: Callable[[int, int], None] | None = None,
) -> tuple[Params, list[Epoch]]:
    """Train params in place; returns the weights to keep (the last, or the best dev epoch's)
    and one Epoch per epoch. data is (X, y, X_dev, y_dev) with X rows of 784 float32 pixels.
    FloatingPointError if the loss diverges."""
    X, y, X_dev, y_dev = data
    if X.dtype != np.float32:
        raise TypeError(f"X must be float32, got {X.dtype}")
    if X.shape[0] != y.shape[0]:
        raise ValueError(f"X has {X.shape[0]} rows but y has {y.shape[0]}")
    full_batch = schedule.batch_size == 0 or schedule.batch_size >= len(X)
    if full_batch and not all(isinstance(layer, Dense | ReLU) for layer in net.layers):
        raise ValueError("full-batch training takes dense and relu layers only: set a batch size")
    if full_batch and augment.active:
        raise ValueError("augmentation needs mini-batches: set a batch size")
    chunks = pack(X, y) if full_batch else []
    state = optimizer.init(params)
    history: list[Epoch] = []
    best, best_accuracy, best_epoch = params, -1.0, 0
    started = time.perf_counter()
    for epoch in range(schedule.epochs):
        alpha = learning_rate(schedule.alpha, schedule.schedule, epoch, schedule.epochs, schedule.decay)
        if full_batch:
            loss, grads, correct = loss_and_gradient(net, params, chunks)
            _check(loss, f"iteration {epoch + 1}")
            optimizer.update(params, grads, state, alpha)
        else:
            loss, correct = _epoch(
                net, params, X, y, schedule.batch_size, optimizer, state, alpha, augment, rng, on_batch
            )
            _check(loss, f"epoch {epoch + 1}")
        dev_loss, dev_accuracy = evaluate(net, params, X_dev, y_dev) if len(y_dev) else (np.nan, np.nan)
        record = Epoch(
            epoch + 1, alpha, loss, correct / len(X), dev_loss, dev_accuracy, time.perf_counter() - started
        )
        history.append(record)
        if on_epoch is not None:
            on_epoch(record)
        if dev_accuracy > best_accuracy:
            best_accuracy, best_epoch = dev_accuracy, epoch + 1
            if schedule.keep_best:
                best = {key: value.copy() for key, value in params.items()}
        if schedule.patience and epoch + 1 - best_epoch >= schedule.patience:
            break
    return (best if schedule.keep_best else params), history


def _check(loss: float, where: str) -> None:
    if not loss < DIVERGED:  # also catches NaN
        raise FloatingPointError(f"loss {loss:.4g} at {where}")


def _epoch(
    net: M.Sequential,
    params: Params,
    X: Array,
    y: NDArray[Any],
    batch_size: int,
    optimizer: Optimizer,
    state: dict[str, Any],
    alpha: float,
    augment: Augment,
    rng: np.random.Generator,
    on_batch: Callable[[int, int], None] | None,
) -> tuple[float, int]:
    """One pass over shuffled mini-batches; (mean loss, rows predicted right)."""
    order = rng.permutation(len(X))
    mode = Mode(train=True, rng=rng)
    total, correct = 0.0, 0
    for start in range(0, len(X), batch_size):
        rows = order[start : start + batch_size]
        Xb, yb = X[rows], y[rows]
        if augment.active:
            Xb = augment(Xb, rng)
        Z, caches = M.forward(net, params, Xb, mode)
        correct += int(np.count_nonzero(Z.argmax(axis=1) == yb))
        loss, dZ = softmax_cross_entropy(Z, yb)
        if not np.isfinite(loss):
            raise FloatingPointError(f"loss {loss} in the batch at row {start} of an epoch")
        optimizer.update(params, M.backward(net, params, caches, dZ), state, alpha)
        total += loss * len(rows)
        if on_batch is not None:
            on_batch(start + len(rows), len(X))
    return total / len(X), correct
