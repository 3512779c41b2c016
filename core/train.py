"""Training: mini-batches, or full-batch gradient descent as the seed network trains.

With threads > 1, each mini-batch is split into that many parts that run forward and backward on
their own threads (core/parts.py), their losses and gradients added in the parts' order, batch
norm's statistics taken over the whole batch: the maths of one batch, rounded otherwise. Each
batch draws its augmentation and dropout from a generator spawned from the member's, each part
from its own spawned from that one, so the shuffles are the same for any number of parts. How
many parts compute at once is `cores`, the process's share of the machine, asked before each
batch: it changes the speed, never the bytes.

For full batches, the gradient of the mean loss over m examples is a sum over the examples, so the
products with the pixels run chunk by chunk over the rows, each chunk keeping only the pixel
columns with ink in one of its rows: the same sums, in another order, without the products by the
zeros of MNIST's blank regions. The chunks' products run on `cores` threads and are added in the
chunks' order. The rest of a step runs on the whole batch at once.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from core import model as M
from core.augment import Augment
from core.checks import require
from core.data import N_PIXELS
from core.layers import Array, Dense, Mode, Params
from core.losses import cross_entropy_of_shifted, label_places, softmax_cross_entropy
from core.metrics import accuracy, log_loss
from core.optimizers import Optimizer, learning_rate
from core.parts import Meeting, Workers

# Training has diverged when the mean loss is not finite or above ten times that of guessing
# every digit with probability 1/10 (ln 10): no sane model, even untrained, comes near it.
DIVERGED = 10 * float(np.log(10))
CHUNK_ROWS = 1024  # with rows ordered as pack orders them, 768-1536 are fastest here
Cores = Callable[[], int]  # how many cores the process may use now


def one_core() -> int:
    return 1


@dataclass(frozen=True)
class Chunk:
    """Rows start:stop of the packed training set, keeping only the input columns with ink in any.

    A column that is zero in every row of a chunk adds nothing to Z1 = W1·X nor to dW1 = dZ1·Xᵀ
    for that chunk, so dropping it changes no sum; it only spares the multiplications by zero.
    """

    X: Array  # (rows, k), C-contiguous
    columns: NDArray[np.intp]  # (k,) the input columns kept, ascending
    start: int
    stop: int


@dataclass(frozen=True)
class Packed:
    """The training rows reordered for full-batch steps, in chunks, and the step's work arrays."""

    chunks: list[Chunk]
    y: NDArray[np.intp]  # (m,) the labels, in the packed order
    picks: NDArray[np.intp]  # (m,) y·m + row: where each row's label is in a (classes, m) array
    work: dict[str, NDArray[Any]] = field(default_factory=dict)

    def buffer(self, name: str, shape: tuple[int, ...], dtype: Any) -> NDArray[Any]:
        """An array kept from step to step: the 500 steps of the seed network then reuse the same
        memory instead of allocating it afresh (about 1.5 ms of a 23 ms step, measured)."""
        array = self.work.get(name)
        if array is None or array.shape != shape or array.dtype != dtype:
            array = self.work[name] = np.empty(shape, dtype)
        return array


def pack(X: Array, y: NDArray[Any], chunk_rows: int = CHUNK_ROWS) -> Packed:
    """Split rows (m, features) into chunks of chunk_rows, ordered by the box around their ink.

    Digits whose ink spans the same rows and columns of the image leave the same regions blank, so
    neighbours in that order drop more columns per chunk: 49% of MNIST's pixels in chunks of 1,024
    rows, against 26% in chunks of 4,096 grouped by label. The full-batch gradient is a sum over
    rows, so their order changes nothing but rounding.
    """
    order = _by_ink_box(X)
    chunks = []
    for start in range(0, len(order), chunk_rows):
        block = X[order[start : start + chunk_rows]]
        columns = np.flatnonzero(block.any(axis=0))
        chunks.append(Chunk(np.ascontiguousarray(block[:, columns]), columns, start, start + len(block)))
    labels = y[order].astype(np.intp)
    return Packed(chunks, labels, label_places(labels))


def _by_ink_box(X: Array) -> NDArray[np.intp]:
    """Rows of 28×28 pixels sorted by the top, bottom, left and right edges of their ink (rows of
    other widths, as tests use, keep their order)."""
    if X.shape[1] != N_PIXELS:
        return np.arange(len(X))
    ink = X.reshape(len(X), 28, 28) != 0
    edges = []
    for inked in (ink.any(axis=2), ink.any(axis=1)):  # (m, 28): image rows with ink, then columns
        edges += [inked.argmax(axis=1), -inked[:, ::-1].argmax(axis=1)]  # first; last, negated
    top, bottom, left, right = edges
    order: NDArray[np.intp] = np.lexsort((right, left, bottom, top))
    return order


def loss_and_gradient(
    net: M.Sequential, params: Params, packed: Packed, workers: Workers | None = None
) -> tuple[float, Params, int]:
    """Mean loss over all packed rows, its gradient, and how many rows are predicted right, for a
    stack of dense layers (the model fuses each relu into the dense layer before it).

    The equations run as the seed network's are written, in the (units, m) layout, X being 784 × m:

        Z1 = W1·X + b1, A1 = ReLU(Z1), Z2 = W2·A1 + b2, A2 = softmax(Z2)
        dZ2 = A2 − Y, dW2 = dZ2·A1ᵀ/m, db2 = ΣdZ2/m, dZ1 = W2ᵀ·dZ2 ⊙ ReLU′(Z1),
        dW1 = dZ1·Xᵀ/m, db1 = ΣdZ1/m

    (the 1/m is applied to the last dZ once), and so on for more layers. Only the two products
    with X run chunk by chunk, on the workers' threads if given; in this layout the sums over the
    m examples run along contiguous rows, which NumPy does fastest."""
    map_chunks = (lambda work, chunks: [work(c) for c in chunks]) if workers is None else workers.map
    layers = [layer for layer in net.layers if isinstance(layer, Dense)]
    if len(layers) != len(net.layers):
        raise ValueError("the full-batch step takes dense layers only, each with at most one relu after it")
    W = [params[f"W{i}"] for i in range(1, len(layers) + 1)]
    b = [params[f"b{i}"] for i in range(1, len(layers) + 1)]
    m, dtype = len(packed.y), W[0].dtype
    Z1_rows = packed.buffer("Z1 rows", (m, len(W[0])), dtype)  # X·W1ᵀ, one chunk of rows at a time

    def first_product(chunk: Chunk) -> Array:
        return np.matmul(chunk.X, W[0][:, chunk.columns].T, out=Z1_rows[chunk.start : chunk.stop])

    map_chunks(first_product, packed.chunks)
    Z = [np.add(Z1_rows.T, b[0], out=packed.buffer("Z1", (len(W[0]), m), dtype))]
    A: list[Array] = []  # each layer's output: ReLU(Z) where it has a relu, else Z itself
    for i, layer in enumerate(layers):
        A.append(
            np.maximum(Z[i], 0, out=packed.buffer(f"A{i + 1}", Z[i].shape, dtype)) if layer.relu else Z[i]
        )
        if i + 1 < len(layers):
            Z.append(np.matmul(W[i + 1], A[i], out=packed.buffer(f"Z{i + 2}", (len(W[i + 1]), m), dtype)))
            Z[-1] += b[i + 1]
    E = A[-1]  # the logits, shifted, exponentiated and normalised in place
    E -= E.max(axis=0)  # each column's largest logit is now exactly 0: exp cannot overflow
    correct = _right(E, packed, packed.buffer("at max", E.shape, np.bool_))
    loss = cross_entropy_of_shifted(E, packed.picks, m)  # E is now dZ of the last layer, with its 1/m
    grads: Params = {}
    dA = E
    for i in reversed(range(len(layers))):
        dZ = dA
        if layers[i].relu:  # ⊙ ReLU′(Z)
            dZ *= np.greater(Z[i], 0, out=packed.buffer(f"Z{i + 1} > 0", Z[i].shape, np.bool_))
        if i == 0:
            dW1 = np.zeros_like(W[0])
            products = map_chunks(functools.partial(_times_pixels, dZ), packed.chunks)
            for chunk, product in zip(packed.chunks, products, strict=True):  # added in order
                dW1[:, chunk.columns] += product
            grads["W1"] = dW1
        else:
            grads[f"W{i + 1}"] = dZ @ A[i - 1].T
            dA = np.matmul(W[i].T, dZ, out=packed.buffer(f"dZ{i}", (len(W[i - 1]), m), dtype))
        grads[f"b{i + 1}"] = dZ.sum(axis=1, keepdims=True)
    return loss, grads, correct


def _times_pixels(dZ: Array, chunk: Chunk) -> Array:
    """dZ's columns of the chunk's rows times the chunk's pixels: its share of dW1 = dZ1·Xᵀ."""
    product: Array = dZ[:, chunk.start : chunk.stop] @ chunk.X
    return product


def _right(shifted: Array, packed: Packed, at_max: NDArray[np.bool_]) -> int:
    """How many columns of shifted logits (classes, m), each column's maximum subtracted, have
    their label first among the maxima: argmax's count, without argmax's slow pass across rows."""
    np.equal(shifted, 0, out=at_max)
    right = at_max.reshape(-1)[packed.picks]
    if np.count_nonzero(at_max) > len(right):  # some column has several maxima: argmax takes the first
        tied = np.flatnonzero(np.count_nonzero(at_max, axis=0) > 1)
        right[tied] = shifted[:, tied].argmax(axis=0) == packed.y[tied]
    return int(np.count_nonzero(right))


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
    net: M.Sequential, params: Params, X: Array, y: NDArray[Any], workers: Workers | None = None
) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) of the model in inference mode, as evaluate reports them;
    with workers, predict_proba's chunks run on their threads (the same values)."""
    probs = M.predict_proba(net, params, X, map_chunks=map if workers is None else workers.map)
    return log_loss(probs, y), accuracy(y, probs.argmax(axis=1))


@np.errstate(over="ignore", invalid="ignore", divide="ignore")  # divergence is found from the
def fit(  # losses and the weights, and reported once, not as numpy's warnings
    net: M.Sequential,
    params: Params,
    data: tuple[Array, NDArray[Any], Array, NDArray[Any]],
    schedule: Schedule,
    optimizer: Optimizer,
    augment: Augment,
    rng: np.random.Generator,
    on_epoch: Callable[[Epoch], None] | None = None,
    on_batch: Callable[[int, int], None] | None = None,
    cores: Cores = one_core,
) -> tuple[Params, list[Epoch]]:
    """Train params in place; returns the weights to keep (the last, or the best dev epoch's)
    and one Epoch per epoch. data is (X, y, X_dev, y_dev) with X rows of 784 float32 pixels.
    cores() says how many threads may compute at once (the same bytes for any answer).
    FloatingPointError if the loss diverges."""
    X, y = data[0], data[1]
    if X.dtype != np.float32:
        raise TypeError(f"X must be float32, got {X.dtype}")
    if X.shape[0] != y.shape[0]:
        raise ValueError(f"X has {X.shape[0]} rows but y has {y.shape[0]}")
    full_batch = schedule.batch_size == 0 or schedule.batch_size >= len(X)
    if schedule.batch_size == 0:
        remedy = "set a batch size"
    else:  # a batch as large as the data is the full batch too
        remedy = f"batch size {schedule.batch_size} takes all {len(X)} rows at once: set it below {len(X)}"
    if full_batch and not all(isinstance(layer, Dense) for layer in net.layers):
        raise ValueError(
            f"full-batch training takes dense and relu layers only, each relu after a dense one: {remedy}"
        )
    if full_batch and augment.active:
        raise ValueError(f"augmentation needs mini-batches: {remedy}")
    if full_batch and schedule.threads > 1:
        raise ValueError(f"{schedule.threads} threads need mini-batches to split: {remedy}, or 1 thread")
    packed = pack(X, y) if full_batch else None
    X_dev, y_dev = data[2], data[3]
    with Workers(cores, schedule.threads) as workers:
        state = optimizer.init(params)
        history: list[Epoch] = []
        best, best_accuracy, best_epoch = params, -1.0, 0
        started = time.perf_counter()
        for epoch in range(schedule.epochs):
            alpha = learning_rate(schedule.alpha, schedule.schedule, epoch, schedule.epochs, schedule.decay)
            where = f"iteration {epoch + 1}" if packed is not None else f"epoch {epoch + 1}"
            if packed is not None:
                loss, grads, correct = loss_and_gradient(net, params, packed, workers)
                _check(loss, where, "loss")
                optimizer.update(params, grads, state, alpha)
            else:
                loss, correct = _epoch(
                    net, params, X, y, schedule, optimizer, state, alpha, augment, rng, on_batch, workers
                )
                _check(loss, where, "loss")
            if not all(np.isfinite(value).all() for value in params.values()):
                raise FloatingPointError(f"weights that are not finite numbers after {where}")
            dev_loss, dev_accuracy = np.nan, np.nan
            if len(y_dev):
                dev_loss, dev_accuracy = evaluate(net, params, X_dev, y_dev, workers)
                _check(dev_loss, where, "dev loss")
            seconds = time.perf_counter() - started
            record = Epoch(epoch + 1, alpha, loss, correct / len(X), dev_loss, dev_accuracy, seconds)
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


def _check(loss: float, where: str, what: str) -> None:
    if not loss < DIVERGED:  # also catches NaN
        raise FloatingPointError(f"{what} {loss:.4g} at {where}")


def _epoch(
    net: M.Sequential,
    params: Params,
    X: Array,
    y: NDArray[Any],
    schedule: Schedule,
    optimizer: Optimizer,
    state: dict[str, Any],
    alpha: float,
    augment: Augment,
    rng: np.random.Generator,
    on_batch: Callable[[int, int], None] | None,
    workers: Workers,
) -> tuple[float, int]:
    """One pass over shuffled mini-batches; (mean loss, rows predicted right)."""
    order = rng.permutation(len(X))
    total, correct = 0.0, 0
    for start in range(0, len(X), schedule.batch_size):
        rows = order[start : start + schedule.batch_size]
        # the batch's draws come from a generator of its own, spawned without drawing from rng:
        # every number of parts shuffles alike
        draws = rng.spawn(1)[0]
        if schedule.threads == 1:
            mode = Mode(train=True, rng=draws)
            loss, right, grads = _step(net, params, X[rows], y[rows], len(rows), schedule, augment, mode)
        else:
            loss, right, grads = _parts(net, params, X, y, rows, schedule, augment, draws, workers)
        if not np.isfinite(loss):
            raise FloatingPointError(f"loss {loss} in the batch at row {start} of an epoch")
        optimizer.update(params, grads, state, alpha)
        total += loss * len(rows)
        correct += right
        if on_batch is not None:
            on_batch(start + len(rows), len(X))
    return total / len(X), correct


def _step(
    net: M.Sequential,
    params: Params,
    Xb: Array,
    yb: NDArray[Any],
    n: int,
    schedule: Schedule,
    augment: Augment,
    mode: Mode,
) -> tuple[float, int, Params]:
    """Loss, rows predicted right and gradients of rows Xb of a batch of n rows (its loss and
    gradients are those of the batch's mean, so the parts of a batch add up to it); mode.rng
    draws the augmentation and dropout."""
    assert mode.rng is not None  # training draws from it
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # as fit's: a thread's own
        if augment.active:
            Xb = augment(Xb, mode.rng)
        Z, caches = M.forward(net, params, Xb, mode)
        right = int(np.count_nonzero(Z.argmax(axis=1) == yb))
        loss, dZ = softmax_cross_entropy(Z, yb, n=n, smoothing=schedule.label_smoothing)
        return loss, right, M.backward(net, params, caches, dZ)


def _parts(
    net: M.Sequential,
    params: Params,
    X: Array,
    y: NDArray[Any],
    rows: NDArray[np.intp],
    schedule: Schedule,
    augment: Augment,
    rng: np.random.Generator,
    workers: Workers,
) -> tuple[float, int, Params]:
    """_step on the batch's rows split into schedule.threads parts that meet (core/parts.py),
    each with its own generator spawned from rng; what they give is added up in the parts' order,
    and the first part keeps batch norm's running statistics, which every part computes alike."""
    parts = np.array_split(rows, min(schedule.threads, len(rows)))  # an epoch's last batch may be short
    generators = rng.spawn(len(parts))

    def part(i: int, meeting: Meeting) -> tuple[float, int, Params]:
        mode = Mode(True, generators[i], lambda x: meeting.total(i, x), keeps_state=i == 0)
        return _step(net, params, X[parts[i]], y[parts[i]], len(rows), schedule, augment, mode)

    results = workers.run_parts(len(parts), part)
    loss, right, grads = results[0]
    for more_loss, more_right, more_grads in results[1:]:
        loss, right = loss + more_loss, right + more_right
        grads = {key: grads[key] + more_grads[key] for key in grads}
    return loss, right, grads
