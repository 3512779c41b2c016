"""Each stage through the `digits` command, on small generated CSVs."""

import json
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from core import metrics as metrics_module
from core import model as M
from core.data import scale_pixels
from core.serialization import load_npz
from stages import evaluate
from stages import submit as submit_stage
from stages.adapters import common, imageio
from stages.adapters.config import Train, load
from stages.cli import app
from tests.conftest import write_competition_csvs, write_params

runner = CliRunner()


def digits(*args):
    return runner.invoke(app, list(args))


def run_all():
    for stage in ("download", "preprocess", "train", "score", "evaluate", "submit"):
        result = digits(stage)
        assert result.exit_code == 0, (stage, result.output)


def test_every_stage_has_help():
    for stage in ("download", "preprocess", "train", "score", "evaluate", "submit", "members"):
        result = digits(stage, "--help")
        assert result.exit_code == 0
        assert "--params" in result.output or "--source-file" in result.output


def test_download_copies_and_checks_a_folder(project):
    result = digits("download")
    assert result.exit_code == 0, result.output
    raw = project / "data/raw"
    assert sorted(p.name for p in raw.iterdir()) == [
        "sample_submission.csv",
        "source.json",
        "test.csv",
        "train.csv",
    ]
    assert json.loads((raw / "source.json").read_text())["data"] == "custom"
    assert (raw / "sample_submission.csv").read_text().splitlines()[:2] == ["ImageId,Label", "1,0"]


def test_preprocess_holds_out_the_dev_rows(project):
    digits("download")
    result = digits("preprocess")
    assert result.exit_code == 0, result.output
    train, dev, test = (load_npz(project / f"data/processed/{n}.npz") for n in ("train", "dev", "test"))
    assert train["X"].shape == (100, 784) and dev["X"].shape == (20, 784) and test["X"].shape == (30, 784)
    assert train["X"].dtype == np.uint8 and "y" not in test
    rows = {row.tobytes() for row in train["X"]}
    assert not any(row.tobytes() in rows for row in dev["X"])  # the dev set never trains


def test_train_writes_float32_weights_and_history(project):
    digits("download")
    digits("preprocess")
    result = digits("train")
    assert result.exit_code == 0, result.output
    assert "epoch   30/30" in result.output
    weights = load_npz(project / "data/model/member-0.npz")
    assert weights.pop("architecture").tolist() == ["dense 10", "relu", "dense 10"]
    assert {k: (v.shape, v.dtype) for k, v in weights.items()} == {
        "W1": ((10, 784), np.float32),
        "b1": ((10, 1), np.float32),
        "W2": ((10, 10), np.float32),
        "b2": ((10, 1), np.float32),
    }
    loss = (project / "data/plots/loss/member-0.csv").read_text().splitlines()
    accuracy = (project / "data/plots/accuracy/member-0.csv").read_text().splitlines()
    assert loss[0] == "epoch,train_loss,dev_loss" and len(loss) == 31
    assert accuracy[0] == "epoch,train_accuracy,dev_accuracy" and len(accuracy) == 31


def test_evaluate_writes_metrics_and_confusion(project):
    for stage in ("download", "preprocess", "train", "score"):
        digits(stage)
    result = digits("evaluate")
    assert result.exit_code == 0, result.output
    metrics = json.loads((project / "data/metrics.json").read_text())
    assert set(metrics) == {
        f"{split}_{name}" for split in ("train", "dev") for name in ("accuracy", "loss", "macro_f1")
    } | {"data", "member_dev_accuracy"}
    per_digit = json.loads((project / "data/per_digit.json").read_text())
    assert set(per_digit) == {
        f"{split}_{name}" for split in ("train", "dev") for name in ("precision", "recall")
    }
    assert set(per_digit["dev_precision"]) == {str(d) for d in range(10)}
    assert metrics["member_dev_accuracy"] == {"0": metrics["dev_accuracy"]}  # an ensemble of one
    assert metrics["data"] == "custom"
    assert metrics["dev_accuracy"] > 0.5  # the bars are easy to learn; chance is 0.1
    confusion = (project / "data/plots/confusion.csv").read_text().splitlines()
    assert confusion[0] == "actual,predicted" and len(confusion) == 21
    pairs = np.array([line.split(",") for line in confusion[1:]], int)
    counts = metrics_module.confusion(pairs[:, 0], pairs[:, 1])
    assert metrics["dev_macro_f1"] == pytest.approx(metrics_module.macro_f1(counts), abs=1e-6)
    with Image.open(project / "data/plots/mistakes.png") as picture:
        assert picture.format == "PNG" and picture.width > 500


def test_the_mistakes_picture_captions_the_most_confident_ones_first(monkeypatch):
    shown = {}
    monkeypatch.setattr(imageio, "mistakes_png", lambda pictures, captions, title: shown.update(locals()))
    labels = np.array([3, 1, 4, 1, 5], np.uint8)
    probs = np.full((5, 10), 0.01, np.float32)
    for row, (label, p) in enumerate([(3, 0.9), (7, 0.6), (4, 0.5), (2, 0.95), (9, 0.3)]):
        probs[row, label] = p  # rows 1, 3 and 4 are wrong, with confidence 0.6, 0.95 and 0.3
    pixels = np.arange(5, dtype=np.uint8).repeat(784).reshape(5, 784)
    evaluate._mistakes_picture(pixels, labels, probs)
    assert shown["captions"] == ["true 1\nsaid 2 (0.95)", "true 1\nsaid 7 (0.60)", "true 5\nsaid 9 (0.30)"]
    assert [int(picture[0, 0]) for picture in shown["pictures"]] == [3, 1, 4]
    assert "(3 mistakes in 5)" in shown["title"]


def test_submit_writes_the_competition_format(project):
    run_all()
    lines = (project / "data/submission.csv").read_text().splitlines()
    assert lines[0] == "ImageId,Label" and len(lines) == 31
    assert [line.split(",")[0] for line in lines[1:]] == [str(i) for i in range(1, 31)]
    assert all(line.split(",")[1] in set("0123456789") for line in lines[1:])


def test_an_ensemble_averages_its_members_probabilities(project):
    """Two seeds: two members, each what it would be alone; the submission is the argmax of their
    mean probabilities, and the metrics hold each member's dev accuracy and the ensemble's."""
    params = project / "params.yaml"
    params.write_text(params.read_text().replace("seeds: [0]", "seeds: [0, 1]"))
    run_all()
    members = [project / f"data/model/member-{seed}.npz" for seed in (0, 1)]
    first = members[0].read_bytes()
    assert first != members[1].read_bytes()
    test = load_npz(project / "data/processed/test.npz")["X"]
    probs = [M.predict_proba(*M.from_arrays(load_npz(path)), scale_pixels(test)) for path in members]
    lines = (project / "data/submission.csv").read_text().splitlines()[1:]
    assert [int(line.split(",")[1]) for line in lines] == ((probs[0] + probs[1]) / 2).argmax(axis=1).tolist()
    metrics = json.loads((project / "data/metrics.json").read_text())
    assert set(metrics["member_dev_accuracy"]) == {"0", "1"} and 0 <= metrics["dev_accuracy"] <= 1
    params.write_text(params.read_text().replace("seeds: [0, 1]", "seeds: [0]"))
    assert digits("train").exit_code == 0
    assert members[0].read_bytes() == first  # a member does not depend on the others


def test_test_time_augmentation_averages_each_member_over_its_views(project, tmp_path):
    """predict.tta, predict.rotate: score (for evaluate and submit) and predict average each member
    over the four copies moved tta pixels and the two turned rotate degrees, then the members; 0
    and 0 leave the images alone."""
    from core.augment import shifted_copies, turned_copies
    from tests.drawn import draw

    params = project / "params.yaml"
    params.write_text(params.read_text().replace("seeds: [0]", "seeds: [0, 1]"))
    run_all()
    plain = (project / "data/submission.csv").read_bytes()
    params.write_text(params.read_text().replace("tta: 0.0\n  rotate: 0.0", "tta: 0.5\n  rotate: 8.0"))
    for stage in ("score", "evaluate", "submit"):
        assert digits(stage).exit_code == 0
    members = [M.from_arrays(load_npz(project / f"data/model/member-{seed}.npz")) for seed in (0, 1)]

    def by_hand(pixels):  # each member's mean over the six views of the rows
        views = shifted_copies(scale_pixels(pixels), 0.5) + turned_copies(scale_pixels(pixels), 8.0)
        return [sum(M.predict_proba(net, weights, view) for view in views) / 6 for net, weights in members]

    split = load_npz(project / "data/processed/dev.npz")
    each = by_hand(split["X"])
    metrics = json.loads((project / "data/metrics.json").read_text())
    expected = float(np.mean(((each[0] + each[1]) / 2).argmax(axis=1) == split["y"]))
    assert metrics["dev_accuracy"] == pytest.approx(expected, abs=1e-6)
    assert metrics["member_dev_accuracy"]["1"] == pytest.approx(np.mean(each[1].argmax(axis=1) == split["y"]))
    each = by_hand(load_npz(project / "data/processed/test.npz")["X"])
    lines = (project / "data/submission.csv").read_text().splitlines()[1:]
    assert [int(line.split(",")[1]) for line in lines] == ((each[0] + each[1]) / 2).argmax(axis=1).tolist()
    picture = tmp_path / "three.png"
    draw(3).save(picture)
    shown = {
        (tta, turn): digits("predict", str(picture), "--tta", tta, "--rotate", turn).output
        for tta, turn in (("0", "0"), ("0.5", "8"), ("1", "0"), ("0", "8"))
    }
    assert digits("predict", str(picture)).output == shown["0.5", "8"]  # params' predict.tta and .rotate
    assert len(set(shown.values())) == 4  # the probabilities printed differ
    result = digits("predict", str(picture), "--tta", "5")
    assert result.exit_code == 1 and "--tta must be in [0, 2] pixels" in result.output
    result = digits("predict", str(picture), "--rotate", "60")
    assert result.exit_code == 1 and "--rotate must be in [0, 45] degrees" in result.output
    params.write_text(params.read_text().replace("tta: 0.5\n  rotate: 8.0", "tta: 0.0\n  rotate: 0.0"))
    assert digits("score").exit_code == 0 and digits("submit").exit_code == 0
    assert (project / "data/submission.csv").read_bytes() == plain


def test_predict_reads_with_the_members_params_names(project, tmp_path):
    from tests.drawn import draw

    run_all()
    picture = tmp_path / "three.png"
    draw(3).save(picture)
    result = digits("predict", str(picture))
    assert result.exit_code == 0 and result.output.startswith(f"{picture}: "), result.output
    (project / "data/model/member-0.npz").unlink()
    result = digits("predict", str(picture))
    assert result.exit_code == 1
    assert "data/model/member-0.npz: no such file: run 'digits train'" in result.output


def test_the_offline_sample_is_the_competitions_shape_and_says_so(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_params(tmp_path, "sample", dev_rows=1000, iterations=2)
    result = digits("download")
    assert result.exit_code == 0, result.output
    assert "OFFLINE SAMPLE" in result.output
    raw = tmp_path / "data/raw"
    train = np.loadtxt(raw / "train.csv", delimiter=",", skiprows=1, dtype=int)
    labels = np.loadtxt(raw / "test_labels.csv", delimiter=",", skiprows=1, dtype=int)
    assert train.shape == (4000, 785) and labels.shape == (1000, 2)
    assert np.bincount(train[:, 0]).tolist() == [400] * 10  # the file is sorted by label: split by class
    assert np.bincount(labels[:, 1]).tolist() == [100] * 10
    for stage in ("preprocess", "train", "score", "evaluate"):
        assert digits(stage).exit_code == 0
    metrics = json.loads((tmp_path / "data/metrics.json").read_text())
    assert metrics["data"] == "offline-sample" and "test_accuracy" in metrics


def _zip(path, files):
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return path


def test_a_zip_must_hold_the_competitions_files(project, tmp_path):
    source = write_competition_csvs(tmp_path / "other")
    files = {name: (source / name).read_bytes() for name in ("train.csv", "test.csv")}
    files["sample_submission.csv"] = b"ImageId,Label\n"
    write_params(project, str(_zip(tmp_path / "digit-recognizer.zip", files)))
    result = digits("download")
    assert result.exit_code == 1
    assert "train.csv has SHA-256" in result.output and "expected the competition's" in result.output
    assert not (project / "data/raw").exists()  # nothing half-written


def test_a_zip_without_train_csv_is_refused(project, tmp_path):
    write_params(project, str(_zip(tmp_path / "d.zip", {"test.csv": b"x"})))
    result = digits("download")
    assert result.exit_code == 1
    assert "has no train.csv (it holds test.csv)" in result.output


def test_a_source_that_is_nothing_is_explained(project):
    write_params(project, "no/such/place")
    result = digits("download")
    assert result.exit_code == 1
    assert "'no/such/place' is not 'sample', 'kaggle', or an existing path" in result.output


def test_a_bad_csv_in_a_folder_names_file_line_and_column(project, tmp_path):
    source = write_competition_csvs(tmp_path / "bad")
    lines = (source / "train.csv").read_text().splitlines()
    cells = lines[3].split(",")
    cells[5] = "256"
    lines[3] = ",".join(cells)
    (source / "train.csv").write_text("\n".join(lines) + "\n")
    write_params(project, str(source))
    result = digits("download")
    assert result.exit_code == 1
    assert f"{source / 'train.csv'}: line 4, column pixel4: found 256, expected 0..255" in result.output
    assert "Traceback" not in result.output


def test_a_failed_download_keeps_the_previous_data(project, tmp_path):
    assert digits("download").exit_code == 0
    before = (project / "data/raw/train.csv").read_bytes()
    write_params(project, "no/such/place")
    assert digits("download").exit_code == 1
    assert (project / "data/raw/train.csv").read_bytes() == before


def test_missing_weights_and_scores_say_what_to_run(project):
    for stage in ("download", "preprocess"):
        assert digits(stage).exit_code == 0
    result = digits("score")
    assert result.exit_code == 1
    assert "data/model/member-0.npz: no such file: run 'digits train'" in result.output
    for stage in ("evaluate", "submit"):
        result = digits(stage)
        assert result.exit_code == 1
        assert "data/scores/member-0.npz: no such file: run 'digits score'" in result.output


def test_full_data_trains_on_the_dev_rows_too_and_claims_no_dev_score(project):
    text = (project / "params.yaml").read_text().replace("full_data: false", "full_data: true")
    (project / "params.yaml").write_text(text)
    for stage in ("download", "preprocess", "train", "score", "evaluate"):
        result = digits(stage)
        assert result.exit_code == 0, (stage, result.output)
        if stage == "train":
            assert "on 120 rows" in result.output and "not a holdout" in result.output
    metrics = json.loads((project / "data/metrics.json").read_text())
    assert "train_accuracy" in metrics and not any(key.startswith("dev_") for key in metrics)


def _malformed(lines: list[str]) -> dict[str, bytes]:
    """A valid submission (header + 30 rows) broken in each way the competition rejects."""
    header, rows = lines[0], lines[1:]
    label = rows[4].split(",")[1]
    cases = {
        "empty file": [],
        "no header": rows,
        "wrong header": ["Id,Label", *rows],
        "extra column": ["ImageId,Label,Confidence", *[f"{row},1" for row in rows]],
        "ragged row": [header, *rows[:4], f"5,{label},7", *rows[5:]],
        "duplicate ImageId": [header, *rows[:4], f"4,{label}", *rows[5:]],
        "missing ImageId": [header, *rows[:4], *rows[5:]],
        "out of order": [header, *rows[:4], rows[5], rows[4], *rows[6:]],
        "ImageId 0": [header, "0,1", *rows[1:]],
        "label 10": [header, *rows[:4], "5,10", *rows[5:]],
        "label not a number": [header, *rows[:4], "5,seven", *rows[5:]],
        "too few rows": [header, *rows[:-1]],
        "too many rows": [header, *rows, "31,1"],
    }
    files = {name: ("\n".join(case) + "\n" if case else "").encode() for name, case in cases.items()}
    files["not text"] = b"\xff\xfe\x00\x01 not a CSV"
    return files


CHECK_MESSAGES = {
    "empty file": "empty file, expected the header line ImageId,Label",
    "no header": "line 1, column 1: header says '1', expected 'ImageId'",
    "wrong header": "line 1, column 1: header says 'Id', expected 'ImageId'",
    "extra column": "line 1: header has 3 columns, expected 2 (ImageId,Label)",
    "ragged row": "line 6: 3 fields, expected 2",
    "duplicate ImageId": "line 6, column ImageId: ImageId 4 again (first on line 5)",
    "missing ImageId": "line 6, column ImageId: ImageId 5 is missing (found 6 where it belongs)",
    "out of order": "line 6, column ImageId: found 6, expected 5 (ImageIds 1..30 in order)",
    "ImageId 0": "line 2, column ImageId: ImageId 0 is outside 1..30 (the test set's rows)",
    "label 10": "line 6, column Label: found 10, expected 0..9",
    "label not a number": "line 6, column Label: found 'seven', expected an integer",
    "too few rows": "29 rows, expected 30: ImageIds 30..30 are missing",
    "too many rows": "31 rows, expected 30 (one per test image)",
    "not text": "line 1: byte 1 (0xff) is not UTF-8 text",
}


@pytest.mark.parametrize("case", sorted(CHECK_MESSAGES))
def test_submit_check_rejects_each_malformed_submission_in_one_line(project, case):
    run_all()
    written = (project / "data/submission.csv").read_bytes()
    bad = project / "mine.csv"
    bad.write_bytes(_malformed(written.decode().splitlines())[case])
    result = digits("submit", "--check", str(bad))
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {bad}: {CHECK_MESSAGES[case]}"), result.output
    assert (project / "data/submission.csv").read_bytes() == written  # checking writes nothing


def test_submit_check_accepts_the_submission_submit_wrote(project):
    run_all()
    result = digits("submit", "--check", "data/submission.csv")
    assert result.exit_code == 0, result.output
    assert "data/submission.csv: a valid submission: 30 rows" in result.output


def test_write_bytes_leaves_the_old_file_when_its_check_fails(tmp_path):
    out = tmp_path / "submission.csv"
    out.write_bytes(b"old")

    def reject(written):
        assert written.read_bytes() == b"new"  # the check reads what would be written
        raise common.Failure("rejected")

    with pytest.raises(common.Failure, match="rejected"):
        common.write_bytes(out, b"new", check=reject)
    assert out.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["submission.csv"]


def uploading(project, wait=0):
    params = project / "params.yaml"
    params.write_text(
        params.read_text().replace("upload: false", "upload: true").replace("wait: 0", f"wait: {wait}")
    )
    for stage in ("download", "preprocess", "train", "score", "evaluate"):
        assert digits(stage).exit_code == 0


def test_the_offline_sample_is_never_uploaded(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_params(tmp_path, "sample", dev_rows=1000, iterations=2)
    uploading(tmp_path)
    result = digits("submit")
    assert result.exit_code == 1
    assert "submit.upload: this run is on the offline sample" in result.output
    assert not (tmp_path / "data/submission.csv").exists() and not (tmp_path / "data/kaggle.json").exists()


def test_the_upload_message_names_the_revision_and_marks_a_changed_tree(project):
    git = ("git", "-c", "user.name=t", "-c", "user.email=t@example.com")
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "params.yaml"], check=True)
    subprocess.run([*git, "commit", "-qm", "params"], check=True)
    head = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    assert submit_stage.describe(load(Train)).startswith(f"digits {head} preset=seed alpha=0.5 ")
    params = project / "params.yaml"
    params.write_text(params.read_text().replace("alpha: 0.5", "alpha: 0.25"))
    changed = submit_stage.describe(load(Train))
    assert changed.startswith(f"digits {head}+ preset=seed alpha=0.25 ")
    nothing = submit_stage.describe(load(Train), Path("/nonexistent"))
    assert changed.split("sha256:")[1] != nothing.split("sha256:")[1]


def test_every_commands_help_is_paragraphs_the_terminal_wraps():
    """The docstrings' line breaks are the source's, not the reader's: each help paragraph is one
    line, so `digits --help` wraps none mid-sentence."""
    from stages.cli import app as the_app

    helps = [registered.help or "" for registered in the_app.registered_commands]
    assert len(helps) >= 8 and all(helps)
    for text in helps:
        assert all(paragraph and "\n" not in paragraph for paragraph in text.split("\n\n")), text


@pytest.mark.parametrize("command", ["", "download", "train", "predict", "members"])
def test_help_names_values_not_python_types(command):
    """Flags take no value and lists are repeated options: help shows neither as a Python type."""
    result = digits(*command.split(), "--help")
    assert result.exit_code == 0, result.output
    for placeholder in ("<bool>", "list[", "<int range>", "{images}"):
        assert placeholder not in result.output, (command, placeholder)
    assert "  --help " in result.output
