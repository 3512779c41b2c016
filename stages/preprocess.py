"""preprocess: check the raw CSVs, hold out a dev set, store everything as compact arrays."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from core.checks import SettingError
from core.data import split_dev
from stages.adapters import csvio
from stages.adapters.artifacts import (
    OFFLINE_SAMPLE,
    PROCESSED_INFO,
    RAW_INFO,
    WORKSPACE,
    Workspace,
    data_kind,
    split_bytes,
)
from stages.adapters.common import new_folder, say, warn
from stages.adapters.config import PARAMS, Preprocess, setting_failure

SAMPLE_DEV_ROWS = 1000  # the offline sample's own dev set: a quarter of its 4,000 labelled rows


def run(config: Preprocess, *, where: Workspace = WORKSPACE, params_file: Path = PARAMS) -> None:
    """Hold out preprocess.dev_rows rows as the dev set (the offline sample: its own 1,000, so
    that every preset runs on it, for a try before the competition's data)."""
    raw, out = where.raw, where.processed
    pixels, labels = csvio.read_digits(raw / "train.csv", labelled=True)
    assert labels is not None  # read_digits gives labels when labelled
    test, _ = csvio.read_digits(raw / "test.csv", labelled=False)
    test_labels_file = raw / "test_labels.csv"
    test_labels = csvio.read_labels(test_labels_file, len(test)) if test_labels_file.exists() else None
    kind = data_kind(raw / RAW_INFO)
    dev_size = config.dev_rows
    if kind == OFFLINE_SAMPLE and dev_size != SAMPLE_DEV_ROWS:
        warn(
            f"offline sample: {SAMPLE_DEV_ROWS:,} dev rows held out, its own number; "
            f"preprocess.dev_rows ({dev_size:,}) applies to the competition's data"
        )
        dev_size = SAMPLE_DEV_ROWS
    try:
        train_rows, dev_rows = split_dev(len(labels), dev_size, np.random.default_rng(config.seed))
    except SettingError as error:
        raise setting_failure(params_file, "preprocess", error) from None
    with new_folder(out) as folder:
        (folder / "train.npz").write_bytes(split_bytes(pixels[train_rows], labels[train_rows]))
        (folder / "dev.npz").write_bytes(split_bytes(pixels[dev_rows], labels[dev_rows]))
        (folder / "test.npz").write_bytes(split_bytes(test, test_labels))
        (folder / PROCESSED_INFO).write_text(json.dumps({"data": kind}) + "\n")
    held = " (labels held back for scoring)" if test_labels is not None else ""
    say(f"train {len(train_rows)} rows, dev {len(dev_rows)} rows, test {len(test)} rows{held} -> {out}/")
