"""The catalogue of bad inputs (issue 5), one test per case.

Each case breaks one input of a project that has run every stage, then runs the `digits` command
that reads it. It must exit 1 with one line on stderr, `error: <file>: ...`, naming the row, column
or key, with no traceback, and leave every file under data/ as it was. (Bad submissions are
test_cli.py's `submit --check` cases, bad images test_predict.py's.)
"""

from __future__ import annotations

import gzip
import io
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from core.serialization import load_npz, npz_bytes
from stages import csvio
from stages.cli import app
from tests.conftest import write_competition_csvs, write_params

STAGES = ("download", "preprocess", "train", "evaluate", "submit")
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
# The loader (stages/config.py) checks sections, keys and types for every stage; values are checked
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
        "line 12: not valid YAML",
    ),
    "not a mapping": (None, "- 1\n", "download", "expected a mapping of sections, found list"),
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
        "rotate: 0.0",
        "rotate: 190",
        "train",
        "'train.rotate' must be in [0, 180], found 190.0",
    ),
    "zoom 1": ("zoom: 0.0", "zoom: 1.0", "train", "'train.zoom' must be in [0, 1), found 1.0"),
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
}


@pytest.mark.parametrize("case", sorted(PARAMS_CASES))
def test_bad_params(ran, case):
    old, new, stage, message = PARAMS_CASES[case]
    _edit(ran, old, new)
    _fails(ran, stage, "params.yaml", message)


@pytest.mark.parametrize("stage", ["evaluate", "submit"])
def test_a_member_that_was_not_trained(ran, stage):
    _edit(ran, "seeds: [0]", "seeds: [0, 1]")
    _fails(ran, stage, "data/model/member-1.npz", "no such file: run 'digits train' (or 'dvc repro') first")


def test_training_a_member_train_seeds_does_not_list(ran):
    before = _snapshot(ran)
    result = CliRunner().invoke(app, ["train", "--seed", "3"])
    assert result.exit_code == 1 and result.stderr.strip() == (
        "error: params.yaml: 'train.seeds' is [0]: it has no member 3 to train"
    )
    assert _snapshot(ran) == before


def test_an_empty_source(ran):
    text = (ran / "params.yaml").read_text()
    source = text.split("source: ", 1)[1].split("\n", 1)[0]
    _edit(ran, f"source: {source}", "source: '  '")
    _fails(ran, "download", "params.yaml", "'download.source' is empty (use 'sample', 'kaggle' or a path)")


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


@pytest.mark.parametrize("stage", ["evaluate", "submit"])
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


@pytest.mark.parametrize("stage", ["evaluate", "submit"])
def test_weights_of_another_model_than_params_describe(ran, stage):
    _edit(ran, "[dense 10, relu, dense 10]", "[dense 32, relu, dense 10]")
    _fails(
        ran,
        stage,
        WEIGHTS,
        "holds the model [dense 10, relu, dense 10], but 'train.layers' in params.yaml is "
        "[dense 32, relu, dense 10]: run 'digits train' (or 'dvc repro') to train it",
    )
