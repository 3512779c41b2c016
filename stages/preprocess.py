"""preprocess: check the raw CSVs, hold out a dev set, store everything as compact arrays."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from core.data import split_dev
from core.serialization import load_npz, npz_bytes
from stages import csvio
from stages.common import Failure, new_folder, say
from stages.config import Preprocess
from stages.download import RAW

PROCESSED = Path("data/processed")


def run(config: Preprocess, raw: Path = RAW, out: Path = PROCESSED) -> None:
    pixels, labels = csvio.read_digits(raw / "train.csv", labelled=True)
    assert labels is not None
    test, _ = csvio.read_digits(raw / "test.csv", labelled=False)
    test_labels_file = raw / "test_labels.csv"
    test_labels = csvio.read_labels(test_labels_file, len(test)) if test_labels_file.exists() else None
    if config.dev_rows >= len(labels):
        raise Failure(
            f"params.yaml: 'preprocess.dev_rows' is {config.dev_rows}, but {raw / 'train.csv'} has only "
            f"{len(labels)} rows: hold out fewer"
        )
    train_rows, dev_rows = split_dev(len(labels), config.dev_rows, np.random.default_rng(config.seed))
    data = data_kind(raw / "source.json")
    with new_folder(out) as folder:
        (folder / "train.npz").write_bytes(npz_bytes({"X": pixels[train_rows], "y": labels[train_rows]}))
        (folder / "dev.npz").write_bytes(npz_bytes({"X": pixels[dev_rows], "y": labels[dev_rows]}))
        test_arrays = {"X": test} if test_labels is None else {"X": test, "y": test_labels}
        (folder / "test.npz").write_bytes(npz_bytes(test_arrays))
        (folder / "data.json").write_text(json.dumps({"data": data}) + "\n")
    held = " (labels held back for scoring)" if test_labels is not None else ""
    say(f"train {len(train_rows)} rows, dev {len(dev_rows)} rows, test {len(test)} rows{held} -> {out}/")


def data_kind(path: Path) -> str:
    """What data a run is on ("competition", "custom", "offline-sample"), from a stage's JSON."""
    try:
        return str(json.loads(path.read_text())["data"])
    except (OSError, ValueError, KeyError, TypeError):
        return "custom"


def load_split(processed: Path, name: str) -> tuple[NDArray[np.uint8], NDArray[np.uint8] | None, str]:
    """(pixels, labels or None, data kind) of train, dev or test, as preprocess wrote them."""
    path = processed / f"{name}.npz"
    if not path.is_file():
        raise Failure(f"{path}: no such file: run 'digits preprocess' (or 'dvc repro') first")
    try:
        arrays: dict[str, Any] = load_npz(path)
    except ValueError as error:
        raise Failure(f"{path}: {error}") from None
    X, y = arrays.get("X"), arrays.get("y")
    if X is None or X.dtype != np.uint8 or X.ndim != 2 or X.shape[1] != 784:
        raise Failure(f"{path}: expected X of uint8 (rows, 784): run 'digits preprocess' again")
    if y is not None and (y.dtype != np.uint8 or y.shape != (len(X),)):
        raise Failure(f"{path}: expected y of uint8 ({len(X)},): run 'digits preprocess' again")
    return X, y, data_kind(processed / "data.json")
