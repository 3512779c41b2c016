"""train: build the model params.yaml describes and train one member of it per train.seeds,
reproducibly from its seed (dvc.yaml runs each member as its own stage, train@<seed>)."""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from core import model as M
from core.augment import Augment
from core.checks import SettingError
from core.data import scale_pixels
from core.layers import Array
from core.optimizers import Optimizer
from core.train import Epoch, Schedule, fit
from stages.adapters import blas, cores
from stages.adapters import weights as weights_file
from stages.adapters.artifacts import (
    WORKSPACE,
    Workspace,
    member_history,
    member_record,
    member_weights,
    read_split,
)
from stages.adapters.common import Failure, check_writable, say, warn, write_bytes, write_text
from stages.adapters.config import PARAMS, Train, setting_failure

LINES = 10  # about this many progress lines when the output is not a terminal (first and last too)


Data = tuple[Array, NDArray[np.intp], Array, NDArray[np.intp]]  # X, y, X_dev, y_dev


@dataclass(frozen=True)
class Recipe:
    """What train's keys describe: the model and how to train it."""

    net: M.Sequential
    schedule: Schedule
    optimizer: Optimizer
    augment: Augment


def run(
    config: Train, *, where: Workspace = WORKSPACE, params_file: Path = PARAMS, seed: int | None = None
) -> None:
    """Train the member of the given seed, which train.seeds must list; with none, every member."""
    if seed is not None and seed not in config.seeds:
        raise Failure(f"{params_file}: 'train.seeds' is {config.seeds}: it has no member {seed} to train")
    recipe = _recipe(config, params_file)
    data = _data(config, where.processed)
    for folder in {where.models, *(path.parent for path in member_history(where.plots, 0))}:
        check_writable(folder)  # now, not after the training
    for member in config.seeds if seed is None else [seed]:
        shares = Shares()
        kept, epochs = _train_member(config, recipe, data, member, shares, params_file)
        _write(config, recipe.net, kept, epochs, member, blas.fingerprint(), where)
        # said, not recorded: the cores change the speed, never the bytes, so the record stays the
        # same however busy the machine was
        say(f"  on {' or '.join(map(str, sorted(shares.seen)))} of this machine's cores")


def _recipe(config: Train, params_file: Path) -> Recipe:
    """The model and its training, each setting checked; a Failure names the key that is wrong."""
    if config.full_data and (config.keep_best or config.patience):
        raise Failure(
            f"{params_file}: 'train.full_data' trains on the dev rows too, so 'train.keep_best' and "
            "'train.patience', which choose epochs by dev accuracy, must be false and 0"
        )
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
            label_smoothing=config.label_smoothing,
            threads=config.threads,
        )
        optimizer = Optimizer(config.optimizer, config.momentum, weight_decay=config.weight_decay)
        return Recipe(net, schedule, optimizer, Augment(config.shift, config.rotate, config.zoom))
    except SettingError as error:
        raise setting_failure(params_file, "train", error) from None
    except ValueError as error:  # only build raises others
        raise Failure(f"{params_file}: 'train.layers' does not describe a model: {error}") from None


def _data(config: Train, processed: Path) -> Data:
    """The training rows (with train.full_data, the dev rows too) and the dev rows, scaled."""
    train, dev = read_split(processed, "train"), read_split(processed, "dev")
    X_u8, y, Xd_u8, yd = train.pixels, train.labelled(), dev.pixels, dev.labelled()
    if config.full_data:
        warn("train.full_data: training on the dev rows too; dev scores below are not a holdout")
        X_u8, y = np.concatenate([X_u8, Xd_u8]), np.concatenate([y, yd])
    return scale_pixels(X_u8), y.astype(np.intp), scale_pixels(Xd_u8), yd.astype(np.intp)


def _write(
    config: Train,
    net: M.Sequential,
    kept: M.ModelParams,
    epochs: list[Epoch],
    member: int,
    made_with: dict[str, object],
    where: Workspace,
) -> None:
    """A member's weights, what they were made with, and its epochs' losses and accuracies."""
    weights = member_weights(where.models, member)
    write_bytes(weights, weights_file.as_bytes(net, kept))
    write_text(member_record(where.models, member), json.dumps(made_with, indent=2) + "\n")
    loss, accuracy = member_history(where.plots, member)
    write_text(loss, _csv(["train_loss", "dev_loss"], epochs))
    write_text(accuracy, _csv(["train_accuracy", "dev_accuracy"], epochs))
    best = max(epochs, key=lambda e: e.dev_accuracy)
    which = f"best dev epoch {best.epoch}" if config.keep_best else f"last epoch {epochs[-1].epoch}"
    say(f"wrote {weights} ({which}), {loss} and {accuracy} after {epochs[-1].seconds:.1f}s")
    say(f"  made with {', '.join(f'{key} {value}' for key, value in made_with.items())}")


class Shares:
    """The process's share of the cores (stages/adapters/cores.py), asked before each batch; what it was
    goes into the member's record."""

    def __init__(self) -> None:
        self.seen: set[int] = set()

    def __call__(self) -> int:
        now = cores.share()
        self.seen.add(now)
        return now


def _train_member(
    config: Train, recipe: Recipe, data: Data, seed: int, shares: Shares, params_file: Path
) -> tuple[M.ModelParams, list[Epoch]]:
    """One member: its initial weights, shuffling, dropout and augmentation all from seed; a
    Failure says which key to change when training cannot go on."""
    rng = np.random.default_rng(seed)
    params = M.init(recipe.net, rng)
    rows = len(data[1])
    batches = "full batch" if config.batch_size == 0 else f"batches of {config.batch_size}"
    size = sum(value.size for p in params for value in p.values())
    say(
        f"training preset '{config.preset}', member {seed} ({size:,} parameters) on {rows} rows: "
        f"{config.epochs} epochs, {batches}, {config.optimizer}, alpha {config.alpha}"
        + (f", {config.threads} threads" if config.threads > 1 else "")
    )
    progress = Progress(config.epochs, rows, sys.stdout.isatty())
    try:
        return fit(
            recipe.net,
            params,
            data,
            recipe.schedule,
            recipe.optimizer,
            recipe.augment,
            rng,
            progress.epoch,
            progress.batch,
            shares,
        )
    except MemoryError:
        batch = f"in batches of {config.batch_size}" if config.batch_size else "on the full batch"
        raise Failure(
            f"{params_file}: not enough memory to train 'train.layers' {batch}: lower "
            "'train.batch_size' or make the model smaller"
        ) from None
    except FloatingPointError as error:
        raise Failure(
            f"{params_file}: 'train.alpha' {config.alpha} makes training diverge ({error}): "
            f"lower it, e.g. to {config.alpha / 10:g}"
        ) from None
    except SettingError as error:  # a setting that cannot apply to these rows
        raise setting_failure(params_file, "train", error) from None
    except ValueError as error:
        raise Failure(f"{params_file}: train: {error}") from None


def _csv(columns: list[str], epochs: list[Epoch]) -> str:
    rows = [",".join(["epoch", *columns])]
    rows += [",".join([str(e.epoch)] + [f"{getattr(e, c):.6f}" for c in columns]) for e in epochs]
    return "\n".join(rows) + "\n"


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
