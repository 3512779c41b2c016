"""Training: passes over mini-batches of the rows, or over one batch of all of them (the seed
network's full-batch gradient descent): one loop for both, so every setting means the same.

The full batch is the same rows at every step: for a model whose first layer is dense, its rows are
packed once (core/packed.py), so that layer's products with the pixels skip the blank columns
and run on `cores` threads.

With threads > 1, each mini-batch is split into that many parts that run forward and backward on
their own threads (core/parts.py), their losses and gradients added in the parts' order, batch
norm's statistics taken over the whole batch: the maths of one batch, rounded otherwise. Each
batch draws its augmentation and dropout from a generator spawned from the member's, each part
from its own spawned from that one, so the shuffles are the same for any number of parts. How
many parts compute at once is `cores`, the process's share of the machine, asked before each
batch: it changes the speed, never the bytes.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from core import model as M
from core.augment import Augment
from core.checks import require
from core.conv import Conv2D, MaxPool2D
from core.layers import Array, Dense, Mode
from core.losses import softmax_cross_entropy
from core.metrics import accuracy, log_loss
from core.optimizers import Optimizer, learning_rate
from core.packed import Packed, pack
from core.parts import Meeting, Workers

# Training has diverged when the mean loss is not finite or above ten times that of guessing
# every digit with probability 1/10 (ln 10): no sane model, even untrained, comes near it.
DIVERGED = 10 * float(np.log(10))
Cores = Callable[[], int]  # how many cores the process may use now
Rows = Array | Packed  # a batch's inputs: its rows, or the full batch's, packed


def one_core() -> int:
    return 1


@dataclass(frozen=True)
class Schedule:
    epochs: int  # passes over the training rows; with full batches, one step each
    batch_size: int = 0  # 0: the full batch (the seed network's gradient descent)
    alpha: float = 0.1  # learning rate
    schedule: str = "constant"  # how α changes by epoch: constant, cosine or exponential
    decay: float = 1.0  # exponential's factor per epoch
    patience: int = 0  # stop after this many epochs without a better dev accuracy; 0: never
    keep_best: bool = False  # end with the weights of the best dev epoch, not the last
    label_smoothing: float = 0.0  # ε: train towards (1 - ε)·one-hot + ε/10 (core/losses.py)
    threads: int = 1  # parts of each mini-batch trained at once (above)

    def __post_init__(self) -> None:
        require(self.epochs >= 1, "epochs", "at least 1", self.epochs)
        require(self.batch_size >= 0, "batch_size", "0 (full batch) or more", self.batch_size)
        require(math.isfinite(self.alpha) and self.alpha > 0, "alpha", "a finite number above 0", self.alpha)
        require(0 < self.decay <= 1, "decay", "in (0, 1]", self.decay)
        require(self.patience >= 0, "patience", "0 (never stop early) or more", self.patience)
        require(0 <= self.label_smoothing < 1, "label_smoothing", "in [0, 1)", self.label_smoothing)
        require(
            self.threads >= 1 and (self.batch_size == 0 or self.threads <= self.batch_size),
            "threads",
            "1 or more, and no more than batch_size (a part needs a row)",
            self.threads,
        )
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


def evaluate(
    net: M.Sequential, params: M.ModelParams, X: Array, y: NDArray[Any], workers: Workers | None = None
) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) of the model in inference mode, as evaluate reports them;
    with workers, predict_proba's chunks run on their threads (the same values)."""
    probs = M.predict_proba(net, params, X, map_chunks=map if workers is None else workers.map)
    return log_loss(probs, y), accuracy(y, probs.argmax(axis=1))


@np.errstate(over="ignore", invalid="ignore", divide="ignore")  # divergence is found from the
def fit(  # losses and the weights, and reported once, not as numpy's warnings
    net: M.Sequential,
    params: M.ModelParams,
    data: tuple[Array, NDArray[Any], Array, NDArray[Any]],
    schedule: Schedule,
    optimizer: Optimizer,
    augment: Augment,
    rng: np.random.Generator,
    on_epoch: Callable[[Epoch], None] | None = None,
    on_batch: Callable[[int, int], None] | None = None,
    cores: Cores = one_core,
) -> tuple[M.ModelParams, list[Epoch]]:
    """Train params in place; returns the weights to keep (the last, or the best dev epoch's)
    and one Epoch per epoch. data is (X, y, X_dev, y_dev) with X rows of 784 float32 pixels.
    cores() says how many threads may compute at once (the same bytes for any answer).
    FloatingPointError if the loss diverges; SettingError naming a setting that cannot apply."""
    X, y, X_dev, y_dev = data
    if X.dtype != np.float32:
        raise TypeError(f"X must be float32, got {X.dtype}")
    if X.shape[0] != y.shape[0]:
        raise ValueError(f"X has {X.shape[0]} rows but y has {y.shape[0]}")
    size = schedule.batch_size if 0 < schedule.batch_size < len(X) else len(X)
    if size == len(X):
        images = any(isinstance(layer, Conv2D | MaxPool2D) for layer in net.layers)
        require(
            not images,
            "batch_size",
            f"from 1 to {len(X) - 1} for convolutions, not all {len(X)} rows at once",
            schedule.batch_size,
        )
        require(
            schedule.threads == 1,
            "threads",
            "1 for the full batch, whose products use every core already",
            schedule.threads,
        )
    with Workers(cores, schedule.threads) as workers:
        rows: Rows = X
        if size == len(X) and isinstance(net.layers[0], Dense) and not augment.active:
            rows = pack(X, workers.map)
            y = y[rows.order]  # the same rows, in the packed order
        state = optimizer.init(params, net.layers)
        history: list[Epoch] = []
        best, best_accuracy, best_epoch = params, -1.0, 0
        started = time.perf_counter()
        for epoch in range(schedule.epochs):
            alpha = learning_rate(schedule.alpha, schedule.schedule, epoch, schedule.epochs, schedule.decay)
            where = f"iteration {epoch + 1}" if size == len(y) else f"epoch {epoch + 1}"
            total, correct = 0.0, 0
            for start, Xb, yb, draws in _batches(rows, y, size, rng):
                batch_loss, right, grads = _gradients(net, params, Xb, yb, schedule, augment, draws, workers)
                if not batch_loss < DIVERGED:  # also catches NaN
                    batch = f", in the batch at row {start}" if size < len(y) else ""
                    raise FloatingPointError(f"loss {batch_loss:.4g} at {where}{batch}")
                optimizer.update(params, grads, state, alpha)
                total += batch_loss * len(yb)
                correct += right
                if on_batch is not None:
                    on_batch(start + len(yb), len(y))
            loss = total / len(y)
            if not M.finite(params):
                raise FloatingPointError(f"weights that are not finite numbers after {where}")
            dev_loss, dev_accuracy = np.nan, np.nan
            if len(y_dev):
                dev_loss, dev_accuracy = evaluate(net, params, X_dev, y_dev, workers)
                if not dev_loss < DIVERGED:
                    raise FloatingPointError(f"dev loss {dev_loss:.4g} at {where}")
            seconds = time.perf_counter() - started
            record = Epoch(epoch + 1, alpha, loss, correct / len(y), dev_loss, dev_accuracy, seconds)
            history.append(record)
            if on_epoch is not None:
                on_epoch(record)
            if dev_accuracy > best_accuracy:
                best_accuracy, best_epoch = dev_accuracy, epoch + 1
                if schedule.keep_best:
                    best = M.copy(params)
            if schedule.patience and epoch + 1 - best_epoch >= schedule.patience:
                break
        return (best if schedule.keep_best else params), history


def _batches(
    X: Rows, y: NDArray[Any], size: int, rng: np.random.Generator
) -> Iterator[tuple[int, Rows, NDArray[Any], np.random.Generator]]:
    """(first row, inputs, labels, generator of its draws) of each batch of one pass: the rows
    shuffled into batches of size, or the full batch as it is (its order changes no sum)."""
    order = rng.permutation(len(y)) if size < len(y) else None
    for start in range(0, len(y), size):
        # the batch's draws come from a generator of its own, spawned without drawing from rng:
        # every number of parts shuffles alike
        draws = rng.spawn(1)[0]
        if order is None:
            yield start, X, y, draws
        else:
            rows = order[start : start + size]
            assert not isinstance(X, Packed)  # packed rows are one batch
            yield start, X[rows], y[rows], draws


def _gradients(
    net: M.Sequential,
    params: M.ModelParams,
    X: Rows,
    y: NDArray[Any],
    schedule: Schedule,
    augment: Augment,
    draws: np.random.Generator,
    workers: Workers,
) -> tuple[float, int, M.ModelParams]:
    """The batch's mean loss, rows predicted right and gradients: in one piece, or in
    schedule.threads parts that meet (core/parts.py), each with its own generator spawned from
    draws, what they give added up in the parts' order. The first part keeps batch norm's running
    statistics, which every part computes alike."""
    if schedule.threads == 1:
        return _step(net, params, X, y, len(y), schedule, augment, Mode(train=True, rng=draws))
    assert not isinstance(X, Packed)  # the full batch is one part
    count = min(schedule.threads, len(y))  # an epoch's last batch may be short
    Xs, ys = np.array_split(X, count), np.array_split(y, count)  # views; the first parts a row more
    generators = draws.spawn(count)

    def part(i: int, meeting: Meeting) -> tuple[float, int, M.ModelParams]:
        mode = Mode(True, generators[i], lambda x: meeting.total(i, x), keeps_state=i == 0)
        return _step(net, params, Xs[i], ys[i], len(y), schedule, augment, mode)

    results = workers.run_parts(count, part)
    loss, right, grads = results[0]
    for more_loss, more_right, more_grads in results[1:]:
        loss, right = loss + more_loss, right + more_right
        grads = [{key: g[key] + more[key] for key in g} for g, more in zip(grads, more_grads, strict=True)]
    return loss, right, grads


def _step(
    net: M.Sequential,
    params: M.ModelParams,
    X: Rows,
    y: NDArray[Any],
    n: int,
    schedule: Schedule,
    augment: Augment,
    mode: Mode,
) -> tuple[float, int, M.ModelParams]:
    """Loss, rows predicted right and gradients of rows X of a batch of n rows (its loss and
    gradients are those of the batch's mean, so the parts of a batch add up to it); mode.rng
    draws the augmentation and dropout."""
    assert mode.rng is not None  # training draws from it
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # as fit's: a thread's own
        if augment.active:
            assert not isinstance(X, Packed)  # rows are packed only when they stay as they are
            X = augment(X, mode.rng)
        Z, caches = M.forward(net, params, X, mode)
        loss, dZ, right = softmax_cross_entropy(Z, y, n=n, smoothing=schedule.label_smoothing)
        return loss, right, M.backward(net, params, caches, dZ)
