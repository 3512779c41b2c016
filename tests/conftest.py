"""Small competition-shaped CSVs made in tmp_path: no network, no ../shared."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from stages.adapters import csvio

SOURCE = """\
download:
  source: {source}
"""
PARAMS = """\
preprocess:
  dev_rows: {dev_rows}
  seed: 0
train:
  preset: seed
  layers: [dense 10, relu, dense 10]
  init: uniform
  optimizer: gd
  alpha: 0.5
  momentum: 0.0
  weight_decay: 0.0
  label_smoothing: 0.0
  schedule: constant
  decay: 1.0
  epochs: {iterations}
  batch_size: 0
  threads: 1
  patience: 0
  keep_best: false
  shift: 0.0
  rotate: 0.0
  zoom: 0.0
  full_data: false
  seeds: [0]
predict:
  tta: 0.0
  rotate: 0.0
submit:
  upload: false
  wait: 0
"""


def digits(m: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """m learnable fake digits: noise plus a bright bar whose place encodes the label."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, m)
    pixels = rng.integers(0, 40, (m, 784))
    for row, label in enumerate(labels):
        pixels[row, 70 * label : 70 * label + 28] = 255
    return pixels, labels


def write_competition_csvs(folder: Path, n_train: int = 120, n_test: int = 30) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    pixels, labels = digits(n_train, seed=1)
    (folder / "train.csv").write_bytes(csvio.csv_bytes(csvio.TRAIN_HEADER, np.column_stack([labels, pixels])))
    test, _ = digits(n_test, seed=2)
    (folder / "test.csv").write_bytes(csvio.csv_bytes(csvio.TEST_HEADER, test))
    return folder


def write_params(project: Path, source: str, dev_rows: int = 20, iterations: int = 30) -> Path:
    """params.yaml, and data/source.yaml saying where the data is."""
    (project / "data").mkdir(exist_ok=True)
    (project / "data/source.yaml").write_text(SOURCE.format(source=source))
    path = project / "params.yaml"
    path.write_text(PARAMS.format(dev_rows=dev_rows, iterations=iterations))
    return path


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working folder with params.yaml pointing at a folder of generated CSVs; cwd is set to it."""
    source = write_competition_csvs(tmp_path / "kaggle-files")
    root = tmp_path / "project"
    root.mkdir()
    write_params(root, str(source))
    monkeypatch.chdir(root)
    return root


@pytest.fixture(autouse=True)
def no_kaggle(monkeypatch: pytest.MonkeyPatch) -> None:
    """Points the kaggle client at a closed local port in every test, so that none can reach
    Kaggle; tests/test_kaggle_client.py points it at its local server instead."""
    from kagglesdk.kaggle_env import KaggleEnv, _env_to_endpoint

    monkeypatch.setitem(_env_to_endpoint, KaggleEnv.PROD, "http://127.0.0.1:9")
