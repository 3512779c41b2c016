"""train: build the model params.yaml describes and train it, reproducibly from train.seed."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from core import model as M
from core.augment import Augment
from core.checks import SettingError
from core.data import scale_pixels
from core.optimizers import Optimizer
from core.train import Epoch, Schedule, fit
from stages import weights as weights_file
from stages.artifacts import HISTORY, OFFLINE_SAMPLE, PROCESSED, SAMPLE_WARNING, WEIGHTS, read_split
from stages.common import Failure, say, warn, write_bytes, write_text
from stages.config import PARAMS, Train, setting_failure

LINES = 50  # at most this many progress lines when the output is not a terminal


def run(
    config: Train,
    processed: Path = PROCESSED,
    weights: Path = WEIGHTS,
    history: Path = HISTORY,
    params_file: Path = PARAMS,
) -> None:
    try:
        net = M.build(config.layers, config.init)
        schedule = Schedule(
            config.epochs,
            config.batch_size,
            config.alpha,
            config.schedule,
            config.decay,
            config.patience,
            config.keep_best,
        )
        optimizer = Optimizer(config.optimizer, config.momentum, weight_decay=config.weight_decay)
        augment = Augment(config.shift, config.rotate, config.zoom)
    except SettingError as error:
        raise setting_failure(params_file, "train", error) from None
    except ValueError as error:  # only build raises others
        raise Failure(f"{params_file}: 'train.layers' does not describe a model: {error}") from None
    if config.full_data and (config.keep_best or config.patience):
        raise Failure(
            f"{params_file}: 'train.full_data' trains on the dev rows too, so 'train.keep_best' and "
            "'train.patience', which choose epochs by dev accuracy, must be false and 0"
        )
    train, dev = read_split(processed, "train"), read_split(processed, "dev")
    X_u8, y, Xd_u8, yd = train.pixels, train.labelled(), dev.pixels, dev.labelled()
    if train.data == OFFLINE_SAMPLE:
        warn(SAMPLE_WARNING)
    if config.full_data:
        warn("train.full_data: training on the dev rows too; dev scores below are not a holdout")
        X_u8, y = np.concatenate([X_u8, Xd_u8]), np.concatenate([y, yd])
    rng = np.random.default_rng(config.seed)
    params = M.init(net, rng)
    batches = "full batch" if config.batch_size == 0 else f"batches of {config.batch_size}"
    size = sum(value.size for value in params.values())
    say(
        f"training preset '{config.preset}' ({size:,} parameters) on {len(y)} rows: "
        f"{config.epochs} epochs, {batches}, {config.optimizer}, alpha {config.alpha}"
    )
    progress = Progress(config.epochs, len(y), sys.stdout.isatty())
    data_arrays = (scale_pixels(X_u8), y.astype(np.intp), scale_pixels(Xd_u8), yd.astype(np.intp))
    try:
        kept, epochs = fit(
            net, params, data_arrays, schedule, optimizer, augment, rng, progress.epoch, progress.batch
        )
    except FloatingPointError as error:
        raise Failure(
            f"{params_file}: 'train.alpha' {config.alpha} makes training diverge ({error}): "
            f"lower it, e.g. to {config.alpha / 10:g}"
        ) from None
    except ValueError as error:
        raise Failure(f"{params_file}: train: {error}") from None
    write_bytes(weights, weights_file.as_bytes(net, kept))
    rows = ["epoch,train_loss,train_accuracy,dev_loss,dev_accuracy"] + [
        f"{e.epoch},{e.train_loss:.6f},{e.train_accuracy:.6f},{e.dev_loss:.6f},{e.dev_accuracy:.6f}"
        for e in epochs
    ]
    write_text(history, "\n".join(rows) + "\n")
    best = max(epochs, key=lambda e: e.dev_accuracy)
    which = f"best dev epoch {best.epoch}" if config.keep_best else f"last epoch {epochs[-1].epoch}"
    say(f"wrote {weights} ({which}) and {history} after {epochs[-1].seconds:.1f}s")


class Progress:
    """Per-epoch lines; on a terminal, also a bar that moves with the batches."""

    def __init__(self, epochs: int, rows: int, terminal: bool) -> None:
        self.epochs, self.rows, self.terminal = epochs, rows, terminal
        self.every = max(1, epochs // LINES)
        self.started = self.epoch_started = time.perf_counter()
        self.current = 1

    def batch(self, done: int, total: int) -> None:
        if not self.terminal:
            return
        rate = done / max(time.perf_counter() - self.epoch_started, 1e-9)
        filled = int(30 * done / total)
        bar = "#" * filled + "." * (30 - filled)
        sys.stdout.write(
            f"\repoch {self.current}/{self.epochs} [{bar}] {done}/{total}  {rate:,.0f} samples/s "
        )
        sys.stdout.flush()

    def epoch(self, e: Epoch) -> None:
        now = time.perf_counter()
        rate = self.rows / max(now - self.epoch_started, 1e-9)
        self.epoch_started, self.current = now, e.epoch + 1
        if e.epoch % self.every and e.epoch not in (1, self.epochs):
            return
        if self.terminal:
            sys.stdout.write("\r\033[K")
        say(
            f"epoch {e.epoch:>4}/{self.epochs}  loss {e.train_loss:.4f}  "
            f"train accuracy {e.train_accuracy:.4f}  dev loss {e.dev_loss:.4f}  "
            f"dev accuracy {e.dev_accuracy:.4f}  alpha {e.alpha:.3g}  "
            f"{rate:,.0f} samples/s  ({e.seconds:.1f}s)"
        )
