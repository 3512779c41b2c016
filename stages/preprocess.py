"""preprocess: check the raw CSVs, hold out a dev set, store everything as compact arrays."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from core.checks import SettingError
from core.data import split_dev
from stages.adapters import csvio
from stages.adapters.artifacts import PROCESSED_INFO, RAW_INFO, WORKSPACE, Workspace, data_kind, split_bytes
from stages.adapters.common import new_folder, say
from stages.adapters.config import PARAMS, Preprocess, setting_failure


def run(config: Preprocess, *, where: Workspace = WORKSPACE, params_file: Path = PARAMS) -> None:
    raw, out = where.raw, where.processed
    pixels, labels = csvio.read_digits(raw / "train.csv", labelled=True)
    assert labels is not None  # read_digits gives labels when labelled
    test, _ = csvio.read_digits(raw / "test.csv", labelled=False)
    test_labels_file = raw / "test_labels.csv"
    test_labels = csvio.read_labels(test_labels_file, len(test)) if test_labels_file.exists() else None
    try:
        train_rows, dev_rows = split_dev(len(labels), config.dev_rows, np.random.default_rng(config.seed))
    except SettingError as error:
        raise setting_failure(params_file, "preprocess", error) from None
    with new_folder(out) as folder:
        (folder / "train.npz").write_bytes(split_bytes(pixels[train_rows], labels[train_rows]))
        (folder / "dev.npz").write_bytes(split_bytes(pixels[dev_rows], labels[dev_rows]))
        (folder / "test.npz").write_bytes(split_bytes(test, test_labels))
        (folder / PROCESSED_INFO).write_text(json.dumps({"data": data_kind(raw / RAW_INFO)}) + "\n")
    held = " (labels held back for scoring)" if test_labels is not None else ""
    say(f"train {len(train_rows)} rows, dev {len(dev_rows)} rows, test {len(test)} rows{held} -> {out}/")
