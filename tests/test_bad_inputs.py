"""The catalogue of bad inputs and faults (issues 5 and 14), one test per case.

Each case breaks one input of a project that has run every stage, or makes the disk, the memory or
a file misbehave, then runs the `digits` command that meets it. It must exit 1 with one line on
stderr, `error: <file>: ...`, naming the row, column or key, with no traceback, no hang and no
temp file left, and leave every file under data/ as it was. The second round (issue 14) goes by
class: 1 no non-finite model, 2 exceptions nothing caught, 3 only regular files read, 4 what valid
tools write is read, 5 params.yaml as DVC reads it, 6 messages that keep the place, 7 no debris
and the umask, 8 what holds under `dvc repro`, 9 what the bytes depend on. (Bad submissions are
also test_cli.py's `submit --check` cases, bad images test_predict.py's; photos under uneven light,
class 10, are test_images.py's and test_predict.py's.)
"""

from __future__ import annotations

import errno
import gzip
import io
import json
import os
import re
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from core.serialization import load_npz, npz_bytes
from stages.adapters import csvio
from stages.cli import app
from tests.conftest import write_competition_csvs, write_params
from tests.test_pipeline import repo  # noqa: F401  (a fixture, for the dvc repro case)
from tests.test_pipeline import run as run_in

STAGES = ("download", "preprocess", "train", "score", "evaluate", "submit")
HEADER = ",".join(csvio.TRAIN_HEADER)
WEIGHTS = Path("data/model/member-0.npz")


def _row(label: object = 3, fill: object = 0, columns: int = 784) -> str:
    return ",".join([str(label)] + [str(fill)] * columns)


def _set_cell(text: str, line: int, column: int, value: str) -> str:
    """text with the cell at line (1-based, the header is 1) and column (0-based) replaced."""
    lines = text.splitlines()
    cells = lines[line - 1].split(",")
    cells[column] = value
    lines[line - 1] = ",".join(cells)
    return "\n".join(lines) + "\n"


@pytest.fixture
def ran(project: Path) -> Path:
    for stage in STAGES:
        result = CliRunner().invoke(app, [stage])
        assert result.exit_code == 0, (stage, result.output)
    return project


def _snapshot(project: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(project)): p.read_bytes()
        for p in sorted((project / "data").rglob("*"))
        if p.is_file()
    }


def _fails(project: Path, stage: str, file: Path | str, message: str) -> None:
    """`digits stage` fails in one line naming file and containing message, and writes nothing."""
    before = _snapshot(project)
    result = CliRunner().invoke(app, [stage])
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: {file}: "), lines[0]
    assert message in lines[0], lines[0]
    assert "Traceback" not in result.output
    assert _snapshot(project) == before
    assert not list(project.rglob("*.tmp")), "a temp file was left behind"


# ---- CSVs, read by download from a folder or a zip --------------------------------------------

TRAIN_CASES = {
    "empty file": ("", "empty file, expected the header line label,pixel0,..."),
    "header only": (f"{HEADER}\n", "no data rows after the header"),
    "wrong header": (
        HEADER.replace("pixel7,", "pixelX,") + "\n" + _row() + "\n",
        "line 1, column 9: header says 'pixelX', expected 'pixel7'",
    ),
    "missing header": (f"{_row()}\n{_row()}\n", "line 1, column 1: header says '3', expected 'label'"),
    "missing column": (
        ",".join(csvio.TRAIN_HEADER[:-1]) + "\n" + _row(columns=783) + "\n",
        "line 1: header has 784 columns, expected 785 (label,pixel0,...,pixel783)",
    ),
    "extra column": (
        f"{HEADER},pixel784\n{_row(columns=785)}\n",
        "line 1: header has 786 columns, expected 785 (label,pixel0,...,pixel783)",
    ),
    "ragged row": (f"{HEADER}\n{_row()}\n{_row(columns=783)}\n", "line 3: 784 fields, expected 785"),
    "non-integer": (
        _set_cell(f"{HEADER}\n{_row()}\n", 2, 5, "0.5"),
        "line 2, column pixel4: found '0.5', expected an integer",
    ),
    "NaN": (
        _set_cell(f"{HEADER}\n{_row()}\n", 2, 5, "NaN"),
        "line 2, column pixel4: found 'NaN', expected an integer",
    ),
    "empty cell": (
        _set_cell(f"{HEADER}\n{_row()}\n", 2, 5, ""),
        "line 2, column pixel4: found an empty cell",
    ),
    "pixel above 255": (
        _set_cell(f"{HEADER}\n{_row()}\n{_row()}\n", 3, 784, "256"),
        "line 3, column pixel783: found 256, expected 0..255",
    ),
    "negative pixel": (
        _set_cell(f"{HEADER}\n{_row()}\n", 2, 1, "-1"),
        "line 2, column pixel0: found -1, expected 0..255",
    ),
    "label 10": (f"{HEADER}\n{_row(label=10)}\n", "line 2, column label: found 10, expected 0..9"),
    "not CSV at all": ("\x89PNG\r\n\x1a\n\x00\x00", "line 1: header has 1 column, expected 785"),
}


@pytest.mark.parametrize("case", sorted(TRAIN_CASES))
def test_a_bad_train_csv(ran, tmp_path, case):
    text, message = TRAIN_CASES[case]
    source = write_competition_csvs(tmp_path / "bad")
    (source / "train.csv").write_text(text)
    write_params(ran, str(source))
    _fails(ran, "download", source / "train.csv", message)


def test_a_test_csv_with_labels(ran, tmp_path):
    source = write_competition_csvs(tmp_path / "bad")
    (source / "test.csv").write_text(f"{HEADER}\n{_row()}\n")
    write_params(ran, str(source))
    _fails(
        ran,
        "download",
        source / "test.csv",
        "line 1: header has 785 columns, expected 784 (pixel0,pixel1,...,pixel783)",
    )


def test_a_truncated_gzip(ran, tmp_path):
    source = write_competition_csvs(tmp_path / "bad")
    train = source / "train.csv"
    (source / "train.csv.gz").write_bytes(gzip.compress(train.read_bytes())[:-100])
    train.unlink()
    write_params(ran, str(source))
    _fails(ran, "download", source / "train.csv.gz", "cannot read")


def _zip(path: Path, files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return path


def _competition_like_zip(tmp_path: Path) -> dict[str, bytes]:
    source = write_competition_csvs(tmp_path / "files")
    return {
        "train.csv": (source / "train.csv").read_bytes(),
        "test.csv": (source / "test.csv").read_bytes(),
        "sample_submission.csv": b"ImageId,Label\n1,0\n",
    }


def test_a_truncated_zip(ran, tmp_path):
    path = _zip(tmp_path / "digit-recognizer.zip", _competition_like_zip(tmp_path))
    path.write_bytes(path.read_bytes()[:-200])
    write_params(ran, str(path))
    _fails(ran, "download", path, "damaged zip archive")


def test_a_zip_without_train_csv(ran, tmp_path):
    files = _competition_like_zip(tmp_path)
    del files["train.csv"]
    path = _zip(tmp_path / "digit-recognizer.zip", files)
    write_params(ran, str(path))
    _fails(ran, "download", path, "has no train.csv (it holds sample_submission.csv, test.csv)")


def test_a_competition_file_whose_sha256_does_not_match(ran, tmp_path):
    path = _zip(tmp_path / "digit-recognizer.zip", _competition_like_zip(tmp_path))
    write_params(ran, str(path))
    _fails(ran, "download", path, "train.csv has SHA-256")


# ---- params.yaml: every params case lives here -------------------------------------------------
# The loader (stages/adapters/config.py) checks sections, keys and types for every stage; values are checked
# where they are used, mostly by core, and the stage names the key.


def _edit(project: Path, old: str | None, new: str) -> None:
    """Replace old, which must be in params.yaml once, by new; old None: the whole file is new."""
    path = project / "params.yaml"
    text = path.read_text()
    assert old is None or text.count(old) == 1, old
    path.write_text(new if old is None else text.replace(old, new))


TRAIN_SEEDS = "full_data: false\n  seeds: [0]"
FULL_DATA = "keep_best: false\n  shift: 0.0\n  rotate: 0.0\n  zoom: 0.0\n  full_data: false"
PARAMS_CASES = {
    # (old text, new text, the stage that reads it, what its one line says)
    "not YAML": (
        "alpha: 0.5",
        "alpha: [0.5",
        "train",
        "line 9: not valid YAML",
    ),
    "not a mapping": (None, "- 1\n", "preprocess", "expected a mapping of sections, found list"),
    "unknown section": ("submit:", "model: {}\nsubmit:", "preprocess", "unknown section 'model'"),
    "missing section": ("submit:\n  upload: false\n  wait: 0\n", "", "submit", "missing section 'submit'"),
    "section not a mapping": (
        None,
        "train: [1, 2]\n",
        "train",
        "'train' must be a mapping of its keys, found list",
    ),
    "unknown key": (TRAIN_SEEDS, TRAIN_SEEDS + "\n  nesterov: true", "train", "unknown key 'train.nesterov'"),
    "missing key": ("  zoom: 0.0\n", "", "train", "missing key 'train.zoom'"),
    "missing submit key": ("  wait: 0\n", "", "submit", "missing key 'submit.wait'"),
    "a string for a number": (
        "epochs: 30",
        "epochs: '30'",
        "train",
        "'train.epochs' must be an integer, found '30' (str)",
    ),
    "a fraction for an integer": (
        "epochs: 30",
        "epochs: 5.5",
        "train",
        "'train.epochs' must be an integer, found 5.5",
    ),
    "true for an integer": (
        "epochs: 30",
        "epochs: true",
        "train",
        "'train.epochs' must be an integer, found True (bool)",
    ),
    "a word for a number": (
        "alpha: 0.5",
        "alpha: fast",
        "train",
        "'train.alpha' must be a number, found 'fast' (str)",
    ),
    "1 for true or false": (
        "keep_best: false",
        "keep_best: 1",
        "train",
        "'train.keep_best' must be true or false, found 1",
    ),
    "a string for true": (
        "upload: false",
        "upload: 'true'",
        "submit",
        "'submit.upload' must be true or false, found 'true'",
    ),
    "a string for the layers": (
        "[dense 10, relu, dense 10]",
        "dense 10",
        "train",
        "'train.layers' must be a list of strings",
    ),
    "alpha 0": (
        "alpha: 0.5",
        "alpha: 0",
        "train",
        "'train.alpha' must be a finite number above 0, found 0.0",
    ),
    "alpha below 0": (
        "alpha: 0.5",
        "alpha: -0.1",
        "train",
        "'train.alpha' must be a finite number above 0, found -0.1",
    ),
    "alpha infinite": (
        "alpha: 0.5",
        "alpha: .inf",
        "train",
        "'train.alpha' must be a finite number above 0, found inf",
    ),
    "alpha NaN": (
        "alpha: 0.5",
        "alpha: .nan",
        "train",
        "'train.alpha' must be a finite number above 0, found nan",
    ),
    "no epochs": ("epochs: 30", "epochs: 0", "train", "'train.epochs' must be at least 1, found 0"),
    "negative batch size": (
        "batch_size: 0",
        "batch_size: -1",
        "train",
        "'train.batch_size' must be 0 (full batch) or more, found -1",
    ),
    "no threads": (
        "threads: 1",
        "threads: 0",
        "train",
        "'train.threads' must be 1 or more, and no more than batch_size (a part needs a row), found 0",
    ),
    "threads on the full batch": (
        "threads: 1",
        "threads: 2",
        "train",
        "'train.threads' must be 1 for the full batch, whose products use every core already, found 2",
    ),
    "negative patience": (
        "patience: 0",
        "patience: -1",
        "train",
        "'train.patience' must be 0 (never stop early) or more, found -1",
    ),
    "momentum 1": ("momentum: 0.0", "momentum: 1", "train", "'train.momentum' must be in [0, 1), found 1.0"),
    "negative weight decay": (
        "weight_decay: 0.0",
        "weight_decay: -0.1",
        "train",
        "'train.weight_decay' must be 0 or more, found -0.1",
    ),
    "decay 0": ("decay: 1.0", "decay: 0", "train", "'train.decay' must be in (0, 1], found 0.0"),
    "negative shift": ("shift: 0.0", "shift: -1", "train", "'train.shift' must be 0 or more, found -1.0"),
    "rotate past 180": (
        "rotate: 0.0\n  zoom",
        "rotate: 190\n  zoom",
        "train",
        "'train.rotate' must be in [0, 180], found 190.0",
    ),
    "zoom 1": ("zoom: 0.0", "zoom: 1.0", "train", "'train.zoom' must be in [0, 1), found 1.0"),
    "label smoothing 1": (
        "label_smoothing: 0.0",
        "label_smoothing: 1",
        "train",
        "'train.label_smoothing' must be in [0, 1), found 1.0",
    ),
    "tta too far": ("tta: 0.0", "tta: 3", "score", "'predict.tta' must be in [0, 2] pixels"),
    "tta not a number": (
        "tta: 0.0",
        "tta: half",
        "score",
        "'predict.tta' must be a number, found 'half'",
    ),
    "tta NaN": ("tta: 0.0", "tta: .nan", "score", "'predict.tta' must be in [0, 2] pixels"),
    "turns too far": (
        "tta: 0.0\n  rotate: 0.0",
        "tta: 0.0\n  rotate: 90",
        "score",
        "'predict.rotate' must be in [0, 45] degrees (0: no turns), found 90.0",
    ),
    "turns negative": (
        "tta: 0.0\n  rotate: 0.0",
        "tta: 0.0\n  rotate: -8",
        "score",
        "'predict.rotate' must be in [0, 45] degrees",
    ),
    "unknown optimizer": (
        "optimizer: gd",
        "optimizer: rmsprop",
        "train",
        "'train.optimizer' must be one of gd, momentum, adam, found 'rmsprop'",
    ),
    "unknown schedule": (
        "schedule: constant",
        "schedule: linear",
        "train",
        "'train.schedule' must be one of constant, cosine, exponential, found 'linear'",
    ),
    "unknown init": (
        "init: uniform",
        "init: xavier",
        "train",
        "'train.init' must be one of uniform, he, found 'xavier'",
    ),
    "layer of size 0": (
        "[dense 10, relu, dense 10]",
        "[dense 0, relu, dense 10]",
        "train",
        "'train.layers' does not describe a model: layer 'dense 0'",
    ),
    "unknown layer": (
        "[dense 10, relu, dense 10]",
        "[dense 10, tanh, dense 10]",
        "train",
        "'train.layers' does not describe a model: layer 'tanh' is not one of",
    ),
    "not 10 outputs": (
        "[dense 10, relu, dense 10]",
        "[dense 12, relu]",
        "train",
        "the last layer must give 10 outputs",
    ),
    "negative seed": (
        "seeds: [0]",
        "seeds: [0, -3]",
        "train",
        "'train.seeds' must be one or more different integers 0 or more, found [0, -3]",
    ),
    "no seeds": ("seeds: [0]", "seeds: []", "evaluate", "'train.seeds' must be one or more different"),
    "a seed twice": ("seeds: [0]", "seeds: [1, 1]", "submit", "found [1, 1]"),
    "a seed that is not a number": (
        "seeds: [0]",
        "seeds: [0, one]",
        "train",
        "'train.seeds' must be a list of integers, found [0, 'one'] (list)",
    ),
    "negative preprocess seed": (
        "dev_rows: 20\n  seed: 0",
        "dev_rows: 20\n  seed: -1",
        "preprocess",
        "'preprocess.seed' must be 0 or more, found -1",
    ),
    "full data with keep_best": (
        FULL_DATA,
        FULL_DATA.replace("false", "true"),
        "train",
        "'train.full_data' trains on the dev rows too, so 'train.keep_best' and 'train.patience'",
    ),
    "no dev rows": (
        "dev_rows: 20",
        "dev_rows: 0",
        "preprocess",
        "'preprocess.dev_rows' must be from 1 to 119, as the data has 120 rows, found 0",
    ),
    "dev set larger than the data": (
        "dev_rows: 20",
        "dev_rows: 5000",
        "preprocess",
        "'preprocess.dev_rows' must be from 1 to 119, as the data has 120 rows, found 5000",
    ),
    "negative wait": (
        "wait: 0",
        "wait: -1",
        "submit",
        "'submit.wait' must be 0 (do not wait) or more seconds, found -1",
    ),
    # Read as DVC reads it (issue 14): a key written twice is refused with the line of the second...
    "a key written twice": (
        "  zoom: 0.0\n",
        "  zoom: 0.0\n  zoom: 0.1\n",
        "train",
        'line 23: found duplicate key "zoom" with value "0.1" (original value: "0.0"): DVC refuses a key '
        "written twice; keep one",
    ),
    "a section written twice": (
        "submit:",
        "preprocess:\n  dev_rows: 30\nsubmit:",
        "preprocess",
        'line 28: found duplicate key "preprocess"',
    ),
    "a submit key written twice": (
        "  wait: 0\n",
        "  wait: 0\n  wait: 5\n",
        "submit",
        'line 31: found duplicate key "wait"',
    ),
    "alpha written twice": (
        "alpha: 0.5\n",
        "alpha: 0.5\n  alpha: 0.05\n",
        "train",
        'line 10: found duplicate key "alpha"',
    ),
    # ...and YAML 1.2's words: YAML 1.1 (PyYAML) read these as booleans or base-60 numbers
    "upload: on": (
        "upload: false",
        "upload: on",
        "submit",
        "'submit.upload' must be true or false, found 'on'",
    ),
    "keep_best: yes": ("keep_best: false", "keep_best: yes", "train", "found 'yes' (str)"),
    "wait: 1:30": ("wait: 0", "wait: 1:30", "submit", "'submit.wait' must be an integer, found '1:30'"),
    "a top-level key that is a number": ("submit:", "1: one\nsubmit:", "train", "unknown section '1'"),
    "a top-level key that is null": ("submit:", "null: nothing\nsubmit:", "train", "unknown section 'None'"),
    "a top-level key that is true": ("submit:", "true: yes\nsubmit:", "train", "unknown section 'True'"),
}


@pytest.mark.parametrize("case", sorted(PARAMS_CASES))
def test_bad_params(ran, case):
    old, new, stage, message = PARAMS_CASES[case]
    _edit(ran, old, new)
    _fails(ran, stage, "params.yaml", message)


def test_a_member_that_was_not_trained_or_scored(ran):
    _edit(ran, "seeds: [0]", "seeds: [0, 1]")
    _fails(ran, "score", "data/model/member-1.npz", "no such file: run 'digits train' (or 'dvc repro') first")
    for stage in ("evaluate", "submit"):
        _fails(ran, stage, "data/scores/member-1.npz", "no such file: run 'digits score'")


def test_training_a_member_train_seeds_does_not_list(ran):
    before = _snapshot(ran)
    result = CliRunner().invoke(app, ["train", "--seed", "3"])
    assert result.exit_code == 1 and result.stderr.strip() == (
        "error: params.yaml: 'train.seeds' is [0]: it has no member 3 to train"
    )
    assert _snapshot(ran) == before


def test_an_empty_source(ran):
    (ran / "data/source.yaml").write_text("download:\n  source: '  '\n")
    _fails(ran, "download", "data/source.yaml", "'download.source' is empty (use 'sample', 'kaggle'")


def test_an_unknown_preset(ran):
    presets = ran / "conf/preset"
    presets.mkdir(parents=True)
    for name in ("seed", "mlp", "cnn"):
        (presets / f"{name}.yaml").write_text("# train: ...\n")
    _edit(ran, "preset: seed", "preset: resnet")
    _fails(
        ran,
        "train",
        "params.yaml",
        "'train.preset' must name a preset in conf/preset/ (cnn, mlp, seed), found 'resnet'",
    )


def test_a_learning_rate_that_diverges(ran):
    """alpha 50 blows up: train stops, naming the iteration and the loss, and writes no weights, so
    the previous weights, metrics and submission stay and none of them holds a NaN."""
    _edit(ran, "alpha: 0.5", "alpha: 50")
    _fails(ran, "train", "params.yaml", "'train.alpha' 50.0 makes training diverge (loss ")
    result = CliRunner().invoke(app, ["train"])
    assert re.search(r"\(loss [0-9.e+]+ at iteration \d+\): lower it, e\.g\. to 5$", result.stderr.strip())
    assert all(
        np.isfinite(array).all() for array in load_npz(ran / WEIGHTS).values() if array.dtype.kind == "f"
    )


# ---- weights, read by evaluate and submit -----------------------------------------------------


def _pickled() -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, W1=np.array([{"not": "an array"}], dtype=object))
    return buffer.getvalue()


WEIGHTS_CASES = {
    "missing": (None, "no such file: run 'digits train' (or 'dvc repro') first"),
    "truncated": ("truncated", "not a readable .npz archive"),
    "pickled object": (_pickled(), "W1 holds pickled Python objects, which are never loaded"),
    "not npz": (b"W1,b1\n1,2\n", "not a readable .npz archive"),
    "wrong shape": (
        npz_bytes(
            {
                "W1": np.zeros((10, 783), np.float32),
                "b1": np.zeros((10, 1), np.float32),
                "W2": np.zeros((10, 10), np.float32),
                "b2": np.zeros((10, 1), np.float32),
            }
        ),
        "W1 has shape (10, 783), expected (10, 784)",
    ),
    "wrong dtype": (
        npz_bytes(
            {
                "W1": np.zeros((10, 784)),
                "b1": np.zeros((10, 1)),
                "W2": np.zeros((10, 10)),
                "b2": np.zeros((10, 1)),
            }
        ),
        "W1 has dtype float64, expected float32",
    ),
}


@pytest.mark.parametrize("stage", ["score"])
@pytest.mark.parametrize("case", sorted(WEIGHTS_CASES))
def test_bad_weights(ran, case, stage):
    content, message = WEIGHTS_CASES[case]
    weights = ran / WEIGHTS
    if content is None:
        weights.unlink()
    elif content == "truncated":
        weights.write_bytes(weights.read_bytes()[:300])
    else:
        weights.write_bytes(content)
    _fails(ran, stage, WEIGHTS, message)


@pytest.mark.parametrize("stage", ["score"])
def test_weights_of_another_model_than_params_describe(ran, stage):
    _edit(ran, "[dense 10, relu, dense 10]", "[dense 32, relu, dense 10]")
    _fails(
        ran,
        stage,
        WEIGHTS,
        "holds the model [dense 10, relu, dense 10], but 'train.layers' in params.yaml is "
        "[dense 32, relu, dense 10]: run 'digits train' (or 'dvc repro') to train it",
    )


SCORES = Path("data/scores/member-0.npz")


def _scores_with(ran: Path, change) -> bytes:
    arrays = load_npz(ran / SCORES)
    change(arrays)
    return npz_bytes(arrays)


SCORES_CASES = {
    "missing": (None, "no such file: run 'digits score' (or 'dvc repro') first"),
    "not npz": (lambda ran: b"train,dev\n1,2\n", "not a readable .npz archive"),
    "a row short": (
        lambda ran: _scores_with(ran, lambda a: a.update(test=a["test"][:-1])),
        "expected 'test' of float32 (30, 10), found float32 (29, 10): run 'digits score'",
    ),
    "float64": (
        lambda ran: _scores_with(ran, lambda a: a.update(test=a["test"].astype(np.float64))),
        "expected 'test' of float32 (30, 10), found float64 (30, 10)",
    ),
    "a NaN": (
        lambda ran: _scores_with(ran, lambda a: a["test"].__setitem__((4, 2), np.nan)),
        "'test' holds a non-finite number",
    ),
}


@pytest.mark.parametrize("stage", ["evaluate", "submit"])
@pytest.mark.parametrize("case", sorted(SCORES_CASES))
def test_bad_scores(ran, case, stage):
    make, message = SCORES_CASES[case]
    if make is None:
        (ran / SCORES).unlink()
    else:
        (ran / SCORES).write_bytes(make(ran))
    _fails(ran, stage, SCORES, message)


# ==== Second round (issue 14): whatever the input or the fault, one line, no hang, no debris ====


def _fails_with(project: Path, args: list[str], file: Path | str, message: str) -> None:
    """`digits *args` fails as _fails demands, for any command line."""
    before = _snapshot(project)
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: {file}: "), lines[0]
    assert message in lines[0], lines[0]
    assert "Traceback" not in result.output
    assert _snapshot(project) == before
    assert not list(project.rglob("*.tmp")), "a temp file was left behind"


def _finite_npz(path: Path) -> bool:
    return all(np.isfinite(a).all() for a in load_npz(path).values() if a.dtype.kind == "f")


# ---- 1. a model that is not a model is never written, scored or submitted --------------------

DIVERGING = {
    # (old text, new text): each makes the last step (or every step) blow the weights up
    "alpha 1e30, one iteration": ("alpha: 0.5\n", "alpha: 1.0e+30\n"),
    "alpha 1e30, thirty iterations": ("alpha: 0.5\n", "alpha: 1e30\n"),
    "alpha 1e30 in mini-batches": ("alpha: 0.5\n  momentum: 0.0", "alpha: 1.0e+30\n  momentum: 0.0"),
    "alpha 1e6 with adam": ("optimizer: gd\n  alpha: 0.5", "optimizer: adam\n  alpha: 1.0e+6"),
}


@pytest.mark.parametrize("case", sorted(DIVERGING))
def test_training_that_diverges_writes_no_weights(ran, case):
    old, new = DIVERGING[case]
    _edit(ran, old, new)
    if "one iteration" in case:
        _edit(ran, "epochs: 30", "epochs: 1")
    if "mini-batches" in case:
        _edit(ran, "batch_size: 0", "batch_size: 32")
    _fails(ran, "train", "params.yaml", "makes training diverge (")
    assert _finite_npz(ran / WEIGHTS)


def _weights_with(ran: Path, change) -> None:
    arrays = load_npz(ran / WEIGHTS)
    change(arrays)
    (ran / WEIGHTS).write_bytes(npz_bytes(arrays))


NON_FINITE_WEIGHTS = {
    "a NaN": (lambda a: a["W1"].__setitem__((3, 100), np.nan), "W1 holds a non-finite number"),
    "an infinity": (lambda a: a["b2"].__setitem__((0, 0), np.inf), "b2 holds a non-finite number"),
    "weights that overflow": (lambda a: a["W1"].fill(3e38), "the model's outputs overflow"),
}


@pytest.mark.parametrize("command", [["score"], ["predict", "digit.png"]])
@pytest.mark.parametrize("case", sorted(NON_FINITE_WEIGHTS))
def test_weights_that_are_not_finite_are_refused(ran, case, command):
    from PIL import Image, ImageDraw

    picture = Image.new("L", (40, 40), 255)
    ImageDraw.Draw(picture).line([(20, 5), (20, 35)], fill=0, width=5)  # a 1
    picture.save(ran / "digit.png")
    change, message = NON_FINITE_WEIGHTS[case]
    _weights_with(ran, change)
    _fails_with(ran, command, WEIGHTS, message)
    assert np.isfinite(
        [v for v in json.loads((ran / "data/metrics.json").read_text()).values() if isinstance(v, float)]
    ).all()


# ---- 2. exceptions nothing caught: corrupt streams, bombs, huge claims, full disks -----------


def _corrupt_middle(data: bytes) -> bytes:
    """data with a stretch in the middle of its compressed stream overwritten."""
    middle = len(data) // 2
    return data[:middle] + bytes(b ^ 0x5A for b in data[middle : middle + 64]) + data[middle + 64 :]


def _patch_zip(data: bytes, method: int | None = None, flags: int | None = None) -> bytes:
    """A zip's every entry relabelled, in its local and central headers: compression method
    (9 is Deflate64) or general-purpose flags (bit 0: encrypted)."""
    out = bytearray(data)
    for signature, flag_at, method_at in ((b"PK\x03\x04", 6, 8), (b"PK\x01\x02", 8, 10)):
        start = 0
        while (at := out.find(signature, start)) >= 0:
            if flags is not None:
                out[at + flag_at : at + flag_at + 2] = flags.to_bytes(2, "little")
            if method is not None:
                out[at + method_at : at + method_at + 2] = method.to_bytes(2, "little")
            start = at + 4
    return bytes(out)


def _deflated_zip(tmp_path: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in _competition_like_zip(tmp_path).items():
            archive.writestr(name, data)
    return buffer.getvalue()


ZIP_FAULTS = {
    "corrupt deflate data": (_corrupt_middle, "damaged zip archive"),
    "an encrypted entry": (lambda d: _patch_zip(d, flags=1), "cannot unpack"),
    "a Deflate64 entry": (lambda d: _patch_zip(d, method=9), "cannot unpack"),
    "an unknown method": (lambda d: _patch_zip(d, method=99), "cannot unpack"),
}


@pytest.mark.parametrize("case", sorted(ZIP_FAULTS))
def test_a_zip_that_cannot_be_unpacked(ran, tmp_path, case):
    fault, message = ZIP_FAULTS[case]
    path = tmp_path / "digit-recognizer.zip"
    path.write_bytes(fault(_deflated_zip(tmp_path)))
    write_params(ran, str(path))
    _fails(ran, "download", path, message)


@pytest.mark.parametrize("name", ["train.csv.gz", "test.csv.gz"])
def test_a_gzip_with_corrupt_deflate_data(ran, tmp_path, name):
    source = write_competition_csvs(tmp_path / "bad")
    plain = source / name.removesuffix(".gz")
    (source / name).write_bytes(_corrupt_middle(gzip.compress(plain.read_bytes())))
    plain.unlink()
    write_params(ran, str(source))
    _fails(ran, "download", source / name, "cannot read")


def _npy_claiming(shape: tuple[int, ...], dtype: str = "<f4") -> bytes:
    """A .npy whose header claims shape, followed by 16 bytes of data."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": dtype, "fortran_order": False, "shape": shape})
    return buffer.getvalue() + bytes(16)


def _npz_of(entries: dict[str, bytes], compression: int = zipfile.ZIP_STORED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, data in entries.items():
            archive.writestr(name + ".npy", data)
    return buffer.getvalue()


def _weights_entries(ran: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(ran / WEIGHTS) as archive:
        return {name.removesuffix(".npy"): archive.read(name) for name in archive.namelist()}


def _architecture(spec: list[str]) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.array(spec))
    return buffer.getvalue()


WEIGHTS_FAULTS = {
    "a header claiming terabytes": (
        lambda e: e | {"W1": _npy_claiming((10**12, 784))},
        "W1 declares (1000000000000, 784) of float32",
    ),
    "a header claiming more than its entry": (
        lambda e: e | {"W1": _npy_claiming((10, 784))},
        "but its entry holds",
    ),
    "not a .npy entry": (lambda e: e | {"W1": b"\x93NUMPY garbage"}, "W1 is not a .npy array"),
    "a billion-unit layer in its architecture": (
        lambda e: e | {"architecture": _architecture(["dense 1000000000", "relu", "dense 10"])},
        "layer 'dense 1000000000' takes the model to 785,000,000,000 parameters",
    ),
    "corrupt deflate data": ("deflate", "not a readable .npz archive"),
    "an encrypted entry": ("encrypted", "is encrypted"),
    "a Deflate64 entry": ("deflate64", "is compressed by zip method 9"),
}


@pytest.mark.parametrize("command", ["score"])
@pytest.mark.parametrize("case", sorted(WEIGHTS_FAULTS))
def test_a_weights_file_that_lies_or_breaks(ran, case, command):
    fault, message = WEIGHTS_FAULTS[case]
    entries = _weights_entries(ran)
    if fault == "deflate":
        data = _corrupt_middle(_npz_of(entries, zipfile.ZIP_DEFLATED))
    elif fault == "encrypted":
        data = _patch_zip(_npz_of(entries), flags=1)
    elif fault == "deflate64":
        data = _patch_zip(_npz_of(entries), method=9)
    else:
        data = _npz_of(fault(entries))
    (ran / WEIGHTS).write_bytes(data)
    _fails_with(ran, [command], WEIGHTS, message)


@pytest.mark.parametrize(
    "layers",
    [
        "[dense 1000000000, relu, dense 10]",
        "[dense 100000, relu, dense 100000, relu, dense 10]",
        "[conv 100000 5, flatten, dense 10]",
    ],
)
def test_a_model_too_large_to_train_is_refused_before_asking_for_memory(ran, layers):
    _edit(ran, "[dense 10, relu, dense 10]", layers)
    _fails(ran, "train", "params.yaml", "parameters, more than the 50,000,000 trained here")


def _png_claiming(width: int, height: int) -> bytes:
    """A valid 1x1 PNG whose header then claims width x height pixels (its CRC fixed up)."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("L", (1, 1), 255).save(buffer, format="PNG")
    data = bytearray(buffer.getvalue())
    at = data.find(b"IHDR")
    data[at + 4 : at + 12] = width.to_bytes(4, "big") + height.to_bytes(4, "big")
    data[at + 17 : at + 21] = zlib.crc32(bytes(data[at : at + 17])).to_bytes(4, "big")
    return bytes(data)


@pytest.mark.parametrize(
    ("size", "message"),
    [
        ((30000, 30000), "too many pixels to read"),  # Pillow's own bomb limit, twice ours
        ((15000, 15000), "15000x15000 pixels, more than the 200 million read here"),
        ((400000, 600), "400000x600 pixels, more than the 200 million"),
    ],
)
def test_an_image_header_claiming_a_huge_picture(ran, size, message):
    (ran / "bomb.png").write_bytes(_png_claiming(*size))
    _fails_with(ran, ["predict", "bomb.png"], "bomb.png", message)


@pytest.mark.parametrize(("split", "stage"), [("train", "train"), ("dev", "evaluate"), ("dev", "train")])
@pytest.mark.parametrize("label", [10, 255])
def test_labels_outside_0_to_9_in_a_processed_split(ran, split, stage, label):
    path = ran / "data/processed" / f"{split}.npz"
    arrays = load_npz(path)
    arrays["y"][3] = label
    path.write_bytes(npz_bytes(arrays))
    _fails(ran, stage, f"data/processed/{split}.npz", f"y[3] is {label}, not a digit 0..9")


def _no_room(error_number: int):
    def fsync(fd: int) -> None:
        raise OSError(error_number, os.strerror(error_number))

    return fsync


@pytest.mark.parametrize(
    ("stage", "file"),
    [
        ("train", WEIGHTS),
        ("evaluate", Path("data/metrics.json")),
        ("submit", Path("data/submission.csv")),
    ],
)
@pytest.mark.parametrize(
    ("error_number", "advice"),
    [(errno.ENOSPC, "the disk is full: free some space"), (errno.EDQUOT, "the disk quota is used up")],
)
def test_a_full_disk_when_writing_outputs(ran, monkeypatch, stage, file, error_number, advice):
    """The disk fills up at the end, as the output is written: after the whole training run."""
    monkeypatch.setattr("stages.adapters.common.os.fsync", _no_room(error_number))
    _fails(ran, stage, file, f"cannot write it ({os.strerror(error_number)}): {advice}")


@pytest.mark.parametrize("stage", ["download", "preprocess"])
def test_a_full_disk_when_writing_a_folder(ran, monkeypatch, stage):
    real_open = open

    def full(file, mode="r", *args, **kwargs):
        if "w" in str(mode) and ".tmp" in str(file):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(file))
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr("builtins.open", full)
    monkeypatch.setattr("pathlib.Path.write_bytes", lambda self, data: full(self, "wb"))
    monkeypatch.setattr("pathlib.Path.write_text", lambda self, data: full(self, "w"))
    name = "raw" if stage == "download" else "processed"
    before = _snapshot(ran)
    result = CliRunner().invoke(app, [stage])
    assert result.exit_code == 1 and "Traceback" not in result.output
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: data/") and "No space left on device" in line, line
    assert f".{name}." in line or f"data/{name}" in line, line
    assert _snapshot(ran) == before
    assert not list(ran.rglob("*.tmp"))


def test_a_blas_whose_threads_cannot_be_set_trains_on_one_thread_of_ours(ran, monkeypatch):
    """Under a BLAS that threadpoolctl cannot see, its own threads are unknown: training adds
    none, so the process never runs more threads than that BLAS does alone."""
    _edit(ran, "batch_size: 0", "batch_size: 32")
    _edit(ran, "threads: 1", "threads: 2")
    monkeypatch.setattr("stages.adapters.blas.threadpool_info", lambda: [])  # as under another BLAS
    result = CliRunner().invoke(app, ["train"])
    assert result.exit_code == 0, result.output
    record = json.loads((ran / "data/model/member-0.json").read_text())
    assert "blas_threads" not in record and "  on 1 of this machine's cores" in result.output


def test_a_read_only_model_folder_fails_before_training(ran, monkeypatch):
    real_open = os.open

    def read_only(path, flags, *args, **kwargs):
        if "data/model" in str(path) and flags & os.O_CREAT:
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr("stages.adapters.common.os.open", read_only)
    before = _snapshot(ran)
    result = CliRunner().invoke(app, ["train"])
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "error: data/model: cannot write in it (Read-only file system): make data/model writable, "
        "then run again"
    )
    assert "training preset" not in result.stdout  # it said so before training, not after
    assert _snapshot(ran) == before


def test_ctrl_c_while_training_is_one_line_of_its_own(ran):
    """SIGINT, as Ctrl-C sends it under dvc repro: one error line, exit code 130, the earlier
    weights untouched and no temp file left."""
    import signal

    _edit(ran, "epochs: 30", "epochs: 1000000")
    before = _snapshot(ran)
    child = subprocess.Popen(
        [sys.executable, "-c", "from stages.cli import main; main()", "train"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONFAULTHANDLER": "1"},  # SIGABRT then prints every thread's stack
        # as in a terminal: a shell that starts a job in the background (nohup, `&`) has it ignore
        # SIGINT, the tests and this child with it, and Python then keeps ignoring it
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().startswith("training"), "training never started"
        child.send_signal(signal.SIGINT)
        try:
            stdout, stderr = child.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            child.send_signal(signal.SIGABRT)
            stdout, stderr = child.communicate(timeout=30)
            pytest.fail(f"still running 60 s after Ctrl-C; where its threads were:\n{stderr[-6000:]}")
    finally:
        if child.poll() is None:  # no process outlives the test, whatever failed
            child.kill()
            child.communicate()
    assert child.returncode == 130, (stdout, stderr)
    assert stderr.splitlines() == ["error: interrupted (Ctrl-C): no output was left half-written"]
    assert _snapshot(ran) == before
    assert not list(ran.rglob("*.tmp"))


def test_a_file_too_large_for_the_limit_is_one_line(ran):
    """A real write failure, not a simulated one: a file-size limit (RLIMIT_FSIZE) below the
    outputs' size, in a separate process."""
    import resource
    import signal

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # so that write() fails with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (200, 200))

    before = _snapshot(ran)
    result = subprocess.run(
        [sys.executable, "-c", "from stages.cli import main; main()", "evaluate"],
        capture_output=True,
        text=True,
        preexec_fn=limit,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: data/") and "cannot write it (File too large)" in line, line
    assert _snapshot(ran) == before
    assert not list(ran.rglob("*.tmp"))


# ---- 3. only regular files are read: a FIFO or a device never blocks a command ---------------


def _run_digits(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """digits in its own process, so that a hang is a timeout, not a test run that never ends."""
    return subprocess.run(
        [sys.executable, "-c", "from stages.cli import main; main()", *args],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


SPECIAL_FILES = {
    # what is given, and the command line reading it as a file
    "a FIFO as an image": ("fifo", ["predict", "{}"]),
    "a FIFO as a submission": ("fifo", ["submit", "--check", "{}"]),
    "a FIFO as weights": ("fifo", ["predict", "--weights", "{}", "digit.png"]),
    "a FIFO as params.yaml": ("fifo", ["train", "--params", "{}"]),
    "a device as an image": ("/dev/zero", ["predict", "{}"]),
    "a device as a submission": ("/dev/zero", ["submit", "--check", "{}"]),
    "a device as params.yaml": ("/dev/zero", ["evaluate", "--params", "{}"]),
}


@pytest.mark.parametrize("case", sorted(SPECIAL_FILES))
def test_a_special_file_is_never_read(ran, case):
    kind, args = SPECIAL_FILES[case]
    path = kind
    if kind == "fifo":
        path = str(ran / "pipe")
        os.mkfifo(path)
    before = _snapshot(ran)
    result = _run_digits(ran, *[arg.format(path) for arg in args])
    assert result.returncode == 1, result.stderr
    assert result.stderr.strip() == (
        f"error: {path}: not a regular file (a FIFO, socket or device), so it is not read"
    )
    assert _snapshot(ran) == before


def test_a_fifo_named_train_csv_in_a_source_folder(ran, tmp_path):
    source = write_competition_csvs(tmp_path / "bad")
    (source / "train.csv").unlink()
    os.mkfifo(source / "train.csv")
    write_params(ran, str(source))
    result = _run_digits(ran, "download")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"error: {source / 'train.csv'}: not a regular file (a FIFO, socket or device), so it is not read"
    )


# ---- 4. what valid tools write is read: a byte-order mark, quoted headers, CRLF, 1e-3 --------


def _bom(text: str) -> str:
    return "\ufeff" + text


def _quoted_header(text: str) -> str:
    header, rest = text.split("\n", 1)
    return ",".join(f'"{cell}"' for cell in header.split(",")) + "\n" + rest


def _r_write_csv(text: str) -> str:
    """As R's write.csv(quote = TRUE) would: every cell quoted, CRLF."""
    return "\r\n".join(",".join(f'"{c}"' for c in line.split(",")) for line in text.splitlines()) + "\r\n"


VALID_VARIANTS = {
    "a byte-order mark (Excel's CSV UTF-8)": _bom,
    "a quoted header": _quoted_header,
    "every cell quoted, CRLF (R)": _r_write_csv,
    "a byte-order mark and CRLF": lambda text: _bom(text.replace("\n", "\r\n")),
}


@pytest.mark.parametrize("name", ["train.csv", "test.csv"])
@pytest.mark.parametrize("case", sorted(VALID_VARIANTS))
def test_competition_csvs_as_valid_tools_write_them_are_read(ran, tmp_path, name, case):
    source = write_competition_csvs(tmp_path / "variant")
    plain = (ran / "data/raw" / name).read_text()
    (source / name).write_text(VALID_VARIANTS[case](plain), newline="")
    write_params(ran, str(source))
    for stage in ("download", "preprocess"):
        result = CliRunner().invoke(app, [stage])
        assert result.exit_code == 0, result.output
    kind = "train" if name == "train.csv" else "test"
    before = load_npz(ran / "data/processed" / f"{kind}.npz")
    for stage in ("train", "score", "evaluate", "submit"):
        assert CliRunner().invoke(app, [stage]).exit_code == 0
    assert before["X"].shape[1] == 784


@pytest.mark.parametrize("case", sorted(VALID_VARIANTS))
def test_a_submission_as_valid_tools_write_it_passes_the_check(ran, case):
    written = (ran / "data/submission.csv").read_text()
    mine = ran / "mine.csv"
    mine.write_text(VALID_VARIANTS[case](written), newline="")
    result = CliRunner().invoke(app, ["submit", "--check", str(mine)])
    assert result.exit_code == 0, result.output
    assert "a valid submission: 30 rows" in result.stdout


NUMBERS_AS_DVC_READS_THEM = {
    # params.yaml text, and the value train runs with (YAML 1.2, as DVC reads it)
    "alpha: 1e-1": ("alpha: 1e-1", "alpha 0.1"),
    "alpha: 5E-1": ("alpha: 5E-1", "alpha 0.5"),
    "alpha: +0.5": ("alpha: +0.5", "alpha 0.5"),
    "alpha: 2.5e-1": ("alpha: 2.5e-1", "alpha 0.25"),
}


@pytest.mark.parametrize("case", sorted(NUMBERS_AS_DVC_READS_THEM))
def test_numbers_in_params_are_read_as_dvc_reads_them(ran, case):
    text, said = NUMBERS_AS_DVC_READS_THEM[case]
    _edit(ran, "alpha: 0.5", text)
    result = CliRunner().invoke(app, ["train"])
    assert result.exit_code == 0, result.output
    assert f"{said}\n" in result.stdout
    from dvc.utils.serialize import load_yaml

    assert f"alpha {load_yaml(ran / 'params.yaml')['train']['alpha']}" == said  # DVC agrees


def test_weight_decay_written_1e_3(ran):
    _edit(ran, "weight_decay: 0.0", "weight_decay: 1e-3")
    assert CliRunner().invoke(app, ["train"]).exit_code == 0


def test_a_byte_order_mark_in_params_yaml(ran):
    path = ran / "params.yaml"
    path.write_text("\ufeff" + path.read_text())
    assert CliRunner().invoke(app, ["train"]).exit_code == 0


# ---- 5. params.yaml read as DVC reads it: PARAMS_CASES, from "a key written twice" on ------------


# ---- 6. messages keep the place and the value ----------------------------------------------

BIG = "99999999999999999999999"  # beyond 64 bits
PLACE_CASES = {
    "a pixel beyond 64 bits": (2, 5, BIG, f"line 2, column pixel4: found {BIG}, expected 0..255"),
    "a label beyond 64 bits": (3, 0, BIG, f"line 3, column label: found {BIG}, expected 0..9"),
    "2**64 - 1": (2, 1, str(2**64 - 1), f"line 2, column pixel0: found {2**64 - 1}, expected 0..255"),
    "a negative beyond 64 bits": (3, 9, "-" + BIG, f"line 3, column pixel8: found -{BIG}, expected 0..255"),
    "a big number after a small bad one": (3, 2, BIG, f"line 3, column pixel1: found {BIG}"),
}


@pytest.mark.parametrize("case", sorted(PLACE_CASES))
def test_a_number_beyond_64_bits_keeps_its_line(ran, tmp_path, case):
    line, column, value, message = PLACE_CASES[case]
    source = write_competition_csvs(tmp_path / "bad")
    text = (source / "train.csv").read_text()
    if case == "a big number after a small bad one":
        text = _set_cell(text, 4, 2, "300")  # a later line: the first bad cell is reported
    (source / "train.csv").write_text(_set_cell(text, line, column, value))
    write_params(ran, str(source))
    _fails(ran, "download", source / "train.csv", message)


@pytest.mark.parametrize(
    ("image_id", "message"),
    [
        (str(2**64 - 1), f"line 3, column ImageId: found {2**64 - 1}, far outside any ImageId"),
        (BIG, f"line 3, column ImageId: found {BIG}, far outside any ImageId"),
        ("-" + BIG, f"line 3, column ImageId: found -{BIG}, far outside any ImageId"),
    ],
)
def test_an_image_id_beyond_64_bits_is_reported_as_written(ran, image_id, message):
    lines = (ran / "data/submission.csv").read_text().splitlines()
    lines[2] = f"{image_id},{lines[2].split(',')[1]}"
    (ran / "mine.csv").write_text("\n".join(lines) + "\n")
    _fails_with(ran, ["submit", "--check", "mine.csv"], "mine.csv", message)


@pytest.mark.parametrize(("line", "byte"), [(2, b"\xff"), (5, b"\xe9"), (31, b"\xc3\x28")])
def test_a_byte_that_is_not_utf8_is_reported_on_its_line(ran, tmp_path, line, byte):
    source = write_competition_csvs(tmp_path / "bad")
    lines = (source / "test.csv").read_bytes().split(b"\n")
    lines[line - 1] = lines[line - 1][:10] + byte + lines[line - 1][10:]
    (source / "test.csv").write_bytes(b"\n".join(lines))
    write_params(ran, str(source))
    _fails(ran, "download", source / "test.csv", f"line {line}: byte 11 (0x{byte[0]:02x}) is not UTF-8 text")


FOLDER_FOR_A_FILE = {
    "params": (["train", "--params", "afolder"], "afolder", "a folder, expected a file"),
    "an image": (["predict", "afolder"], "afolder", "a folder, expected a file"),
    "weights": (["predict", "--weights", "afolder", "afolder"], "afolder", "a folder, expected a file"),
    "a submission to check": (["submit", "--check", "afolder"], "afolder", "a folder, expected a file"),
    "the submission to write": (
        ["submit", "--out", "afolder"],
        "afolder",
        "a folder, expected a file to write",
    ),
    "the metrics to write": (
        ["evaluate", "--metrics", "afolder"],
        "afolder",
        "a folder, expected a file to write",
    ),
    "a file for the models folder": (
        ["score", "--models", "params.yaml"],
        "params.yaml/member-0.npz",
        "cannot read it (Not a directory)",
    ),
}


@pytest.mark.parametrize("case", sorted(FOLDER_FOR_A_FILE))
def test_a_folder_where_a_file_is_expected_is_one_line_and_exit_1(ran, case):
    (ran / "afolder").mkdir()
    args, file, message = FOLDER_FOR_A_FILE[case]
    _fails_with(ran, args, file, message)


@pytest.fixture
def on_the_sample(project: Path) -> Path:
    """A project on the offline sample, downloaded and preprocessed."""
    (project / "data/source.yaml").write_text("download:\n  source: sample\n")
    for stage in ("download", "preprocess"):
        assert CliRunner().invoke(app, [stage]).exit_code == 0
    return project


@pytest.mark.parametrize(
    ("old", "new", "stage", "file", "message"),
    [
        ("alpha: 0.5", "alpha: 1.0e+30", "train", "params.yaml", "makes training diverge"),
        ("seeds: [0]", "seeds: [0, 1]", "score", WEIGHTS.with_name("member-1.npz"), "no such file"),
        ("upload: false", "upload: true", "submit", "submit.upload", "this run is on the offline sample"),
    ],
)
def test_on_the_offline_sample_an_error_is_the_only_line(on_the_sample, old, new, stage, file, message):
    assert CliRunner().invoke(app, ["train"]).exit_code == 0
    _edit(on_the_sample, old, new)
    result = CliRunner().invoke(app, [stage])
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert result.stderr.startswith(f"error: {file}: ") and message in result.stderr, result.stderr


def test_on_the_offline_sample_success_still_warns_where_it_matters(on_the_sample):
    """Download says where the data came from, submit that its file is not for Kaggle; the stages
    between say it once in the metrics ("data": "offline-sample"), not on every run."""
    said = {stage: CliRunner().invoke(app, [stage]) for stage in ("train", "score", "evaluate", "submit")}
    assert all(result.exit_code == 0 for result in said.values())
    assert [stage for stage, result in said.items() if "OFFLINE SAMPLE" in result.stderr] == ["submit"]


@pytest.mark.parametrize(
    ("batch_size", "message"),
    [
        (0, "'train.batch_size' must be from 1 to 99 for convolutions, not all 100 rows at once, found 0"),
        (
            100,
            "'train.batch_size' must be from 1 to 99 for convolutions, not all 100 rows at once, found 100",
        ),
        (
            5000,
            "'train.batch_size' must be from 1 to 99 for convolutions, not all 100 rows at once, found 5000",
        ),
    ],
)
def test_the_batch_size_message_fits_the_batch_size_set(ran, batch_size, message):
    _edit(ran, "[dense 10, relu, dense 10]", "[conv 4 3, flatten, dense 10]")
    _edit(ran, "batch_size: 0", f"batch_size: {batch_size}")
    _fails(ran, "train", "params.yaml", message)


def test_augmentation_applies_to_the_full_batch_too(ran):
    before = (ran / "data/model/member-0.npz").read_bytes()
    _edit(ran, "batch_size: 0", "batch_size: 1000")
    _edit(ran, "shift: 0.0", "shift: 2.0")
    result = CliRunner().invoke(app, ["train"])
    assert result.exit_code == 0, result.output
    assert (ran / "data/model/member-0.npz").read_bytes() != before


# ---- 7. interrupted writes leave no debris and no gap; outputs follow the umask -----------------


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


@pytest.mark.parametrize(
    ("stage", "debris"),
    [
        ("preprocess", ["data/.processed.{dead}.tmp/", "data/.processed.{dead}.1a2b3c4d.tmp/"]),
        ("download", ["data/.raw.{dead}.tmp/", "data/.raw.{dead}.99aa88bb.tmp/"]),
        ("submit", ["data/.submission.csv.k2j4h5_x.tmp", "data/.submission.csv.{dead}.00ff00ff.tmp"]),
        ("train", ["data/model/.member-0.npz.{dead}.deadbeef.tmp", "data/model/.member-0.npz.q1w2e3r4.tmp"]),
        ("evaluate", ["data/.metrics.json.{dead}.abcdef01.tmp"]),
    ],
)
def test_temp_files_a_killed_run_left_are_cleaned_by_the_next(ran, stage, debris):
    dead, alive = _dead_pid(), os.getppid()
    for name in debris:
        path = ran / name.format(dead=dead)
        if name.endswith("/"):
            path.mkdir(parents=True)
            (path / "train.npz").write_bytes(b"half written")
        else:
            path.write_bytes(b"half written")
    live = ran / "data" / f".submission.csv.{alive}.12345678.tmp"  # another run, still going
    live.write_bytes(b"being written")
    assert CliRunner().invoke(app, [stage]).exit_code == 0
    leftovers = {p.name for p in ran.rglob("*.tmp")}
    assert leftovers == {live.name}, leftovers


def test_a_folder_output_is_never_missing_while_it_is_replaced(ran, monkeypatch):
    """preprocess replaces data/processed in one step: at no rename is the folder absent."""
    from stages.adapters import common

    processed = ran / "data/processed"
    seen: list[bool] = []
    real_replace, real_exchange = os.replace, common._exchange

    def watch_replace(a, b):
        seen.append(processed.is_dir())
        real_replace(a, b)
        seen.append(processed.is_dir())

    def watch_exchange(a, b):
        seen.append(processed.is_dir())
        done = real_exchange(a, b)
        seen.append(processed.is_dir())
        return done

    monkeypatch.setattr("stages.adapters.common.os.replace", watch_replace)
    monkeypatch.setattr("stages.adapters.common._exchange", watch_exchange)
    assert CliRunner().invoke(app, ["preprocess"]).exit_code == 0
    assert seen and all(seen), seen


def test_where_the_system_cannot_swap_a_kill_between_the_renames_is_repaired(ran):
    """Without an atomic swap, new_folder renames twice; a run killed between them (here it ends
    itself with os._exit, as SIGKILL would, running no cleanup) leaves the old folder aside, and
    the next run puts it back before anything else."""
    processed = ran / "data/processed"
    before = {p.name: p.read_bytes() for p in processed.iterdir()}
    killed = """
import os
from stages.adapters import common
from stages.cli import main
real = os.replace
def replace(a, b):
    real(a, b)
    if str(b).endswith(".processed.old"):
        os._exit(9)
common._exchange = lambda a, b: False
common.os.replace = replace
main()
"""
    result = subprocess.run(
        [sys.executable, "-c", killed, "preprocess"], cwd=ran, capture_output=True, timeout=120, check=False
    )
    assert result.returncode == 9, result.stderr
    assert not processed.exists() and (ran / "data/.processed.old").is_dir()
    assert CliRunner().invoke(app, ["preprocess"]).exit_code == 0
    assert {p.name: p.read_bytes() for p in processed.iterdir()} == before
    assert not list((ran / "data").glob(".processed*"))


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_outputs_follow_the_umask(ran, umask):
    old = os.umask(umask)
    try:
        for stage in STAGES:
            assert CliRunner().invoke(app, [stage]).exit_code == 0
    finally:
        os.umask(old)
    files = [p for p in (ran / "data").rglob("*") if p.is_file() and p.name != "source.yaml"]  # an input
    assert len(files) >= 12
    for path in files:
        assert path.stat().st_mode & 0o777 == 0o666 & ~umask, path
    for path in (ran / "data/raw", ran / "data/processed"):  # folders made anew
        assert path.stat().st_mode & 0o777 == 0o777 & ~umask, path


# ---- 8. what holds under `dvc repro`: DVC deletes a stage's outputs; `dvc checkout` restores them


@pytest.mark.slow
def test_a_failed_stage_under_dvc_repro_loses_its_outputs_and_dvc_checkout_brings_them_back(repo):  # noqa: F811
    """DVC removes a stage's outputs before running it; when the stage then fails, dvc.lock still
    names the last good ones, which the cache holds: `dvc checkout` restores them, byte for byte."""
    run_in(repo, "dvc", "repro")
    model = repo / "data/model"
    before = {name: (model / name).read_bytes() for name in ("member-0.npz", "member-0.json")}
    lock = (repo / "dvc.lock").read_text()
    params = repo / "params.yaml"
    params.write_text(params.read_text().replace("alpha: 0.5", "alpha: 1.0e+30"))  # diverges
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    failed = subprocess.run(["dvc", "repro"], cwd=repo, env=env, capture_output=True, text=True, check=False)
    assert failed.returncode != 0
    assert "makes training diverge" in failed.stdout + failed.stderr
    assert "Traceback" not in failed.stdout + failed.stderr
    assert not (model / "member-0.npz").exists()  # what DVC does, and the README says
    assert (repo / "dvc.lock").read_text() == lock
    run_in(repo, "dvc", "checkout")
    assert {name: (model / name).read_bytes() for name in before} == before


# ---- 9. same params, same bytes: what the bytes depend on is recorded beside each member ------


def test_each_member_records_the_numpy_and_blas_that_made_it_and_says_its_cores(ran):
    """The record holds what decides the bytes; the cores, which decide only the speed, are said
    (a record that changed with the machine's load would make dvc.lock differ run to run)."""
    from stages.adapters import blas

    record = json.loads((ran / "data/model/member-0.json").read_text())
    assert record == blas.fingerprint()
    assert record["numpy"] == np.__version__ and record["blas"]
    result = CliRunner().invoke(app, ["train"])
    assert re.search(r"^  on [12]( or 2)? of this machine's cores$", result.output, re.M), result.output


def test_blas_runs_on_one_thread_whatever_the_environment_says(ran):
    """OPENBLAS_NUM_THREADS and OMP_NUM_THREADS do not reach the products: every run multiplies on
    one BLAS thread and writes the same bytes."""
    if "openblas" not in json.dumps(np.show_config(mode="dicts")).lower():
        pytest.skip("NumPy is not on OpenBLAS here")
    written = set()
    for threads in ("1", "2", "8"):
        env = {**os.environ, "OPENBLAS_NUM_THREADS": threads, "OMP_NUM_THREADS": threads}
        command = [sys.executable, "-c", "from stages.cli import main; main()", "train"]
        result = subprocess.run(command, cwd=ran, env=env, capture_output=True, text=True, check=False)
        assert result.returncode == 0, result.stderr
        assert json.loads((ran / "data/model/member-0.json").read_text())["blas_threads"] == 1
        assert "blas_threads 1" in result.stdout
        written.add((ran / "data/model/member-0.npz").read_bytes())
    assert len(written) == 1
