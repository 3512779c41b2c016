"""train: the seed network, full-batch gradient descent, reproducible from params.yaml."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from core import model as M
from core.data import scale_pixels
from core.layers import Params
from core.serialization import load_npz, npz_bytes
from core.train import Step, full_batch_descent
from stages.common import Failure, say, warn, write_bytes, write_text
from stages.config import Train
from stages.download import SAMPLE_WARNING
from stages.preprocess import PROCESSED, load_split

WEIGHTS = Path("data/model/weights.npz")
HISTORY = Path("data/plots/train_history.csv")
LOG_EVERY = 10


def run(config: Train, processed: Path = PROCESSED, weights: Path = WEIGHTS, history: Path = HISTORY) -> None:
    X_u8, y, data = load_split(processed, "train")
    Xd_u8, yd, _ = load_split(processed, "dev")
    assert y is not None and yd is not None
    if data == "offline-sample":
        warn(SAMPLE_WARNING)
    X, X_dev = scale_pixels(X_u8), scale_pixels(Xd_u8)
    net = M.seed_network(config.hidden)
    params = M.init(net, np.random.default_rng(config.seed))
    rows = ["iteration,train_loss,train_accuracy,dev_accuracy"]
    shape = f"784-{config.hidden}-10"
    say(f"training {shape} on {len(y)} rows: {config.iterations} full-batch steps, alpha {config.alpha}")
    started = time.perf_counter()

    def on_step(step: Step, params: Params) -> None:
        dev = float(np.mean(M.predict_proba(net, params, X_dev).argmax(axis=1) == yd))
        rows.append(f"{step.iteration},{step.loss:.6f},{step.accuracy:.6f},{dev:.6f}")
        if step.iteration % LOG_EVERY == 0 or step.iteration in (1, config.iterations):
            say(
                f"iteration {step.iteration:>5}/{config.iterations}  loss {step.loss:.4f}  "
                f"train accuracy {step.accuracy:.4f}  dev accuracy {dev:.4f}  "
                f"({time.perf_counter() - started:.1f}s)"
            )

    try:
        full_batch_descent(net, params, X, y.astype(np.intp), config.alpha, config.iterations, on_step)
    except FloatingPointError as error:
        raise Failure(
            f"training diverged: {error}; lower train.alpha (now {config.alpha}) in params.yaml"
        ) from None
    write_bytes(weights, npz_bytes(M.to_arrays(net, params)))
    write_text(history, "\n".join(rows) + "\n")
    say(f"wrote {weights} and {history} after {time.perf_counter() - started:.1f}s")


def load_weights(path: Path = WEIGHTS) -> tuple[M.Sequential, Params]:
    if not path.is_file():
        raise Failure(f"{path}: no such file: run 'digits train' (or 'dvc repro') first")
    try:
        return M.from_arrays(load_npz(path))
    except ValueError as error:
        raise Failure(f"{path}: {error}") from None
