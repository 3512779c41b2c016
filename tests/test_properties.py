"""Property tests for what users hand us: CSVs, params.yaml and submissions.

Whatever the input, it either loads, and then correctly, or fails with the documented error (a
Failure naming the file), never with any other exception.
"""

import csv
import dataclasses
import string
import tempfile
from pathlib import Path

import numpy as np
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from stages.adapters import config, csvio
from stages.adapters.common import Failure
from tests.conftest import PARAMS

EXAMPLES = settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FOLDER = Path(tempfile.mkdtemp(prefix="digits-properties-"))

# Cells: mostly valid, sometimes what people's files hold instead.
cells = st.one_of(
    st.integers(0, 255).map(str),
    st.integers(-(2**70), 2**70).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.sampled_from(["", " ", "NaN", "nan", "N/A", "x", '"3"', "1e3", "0x1F", "٣", "\t7", "+5", "-0"]),
    st.text(string.printable, max_size=4),
)


def written(name, data):
    path = FOLDER / name
    path.write_bytes(data)
    return path


def fails_cleanly(call, path):
    """call() either returns, or raises a Failure that names path; anything else fails the test."""
    try:
        return call()
    except Failure as error:
        assert str(error).startswith(f"{path}: "), error
        assert "\n" not in str(error)
        return None


def row_text(rows):
    return "".join(",".join(row) + "\n" for row in rows)


@st.composite
def digit_csvs(draw):
    """A small train.csv: valid rows with a few cells, columns or lines changed."""
    m = draw(st.integers(0, 4))
    grid = [[str(draw(st.integers(0, 9)))] + ["0"] * 784 for _ in range(m)]
    for _ in range(draw(st.integers(0, 3))):
        if m:
            row, column = draw(st.integers(0, m - 1)), draw(st.integers(0, 784))
            grid[row][column] = draw(cells)
    header = ",".join(csvio.TRAIN_HEADER)
    header = draw(
        st.sampled_from([header, header, header.replace("label", "Label"), header.rsplit(",", 1)[0], ""])
    )
    if m and draw(st.booleans()):
        row = draw(st.integers(0, m - 1))
        grid[row] = grid[row][: draw(st.integers(0, 786))] or [""]  # a ragged or short row
    text = header + "\n" + row_text(grid)
    return text.encode() if draw(st.integers(0, 9)) else draw(st.binary(max_size=64))


@EXAMPLES
@given(digit_csvs())
@example(b"label\n")
@example(
    (
        "label," + ",".join(csvio.PIXELS) + "\n" + "1," + ",".join(["99999999999999999999"] * 784) + "\n"
    ).encode()
)
def test_the_digit_reader_loads_right_or_fails_cleanly(data):
    path = written("train.csv", data)
    loaded = fails_cleanly(lambda: csvio.read_digits(path, labelled=True), path)
    if loaded is not None:
        pixels, labels = loaded
        with open(path, newline="") as file:  # the oracle: Python's own CSV reader and int()
            expected = np.array([[int(cell) for cell in row] for row in list(csv.reader(file))[1:]])
        assert pixels.dtype == np.uint8 and pixels.shape == (len(expected), 784)
        assert np.array_equal(labels, expected[:, 0]) and np.array_equal(pixels, expected[:, 1:])


GOOD = yaml.safe_load(PARAMS.format(source="sample", dev_rows=20, iterations=5))
values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 2000),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.lists(
        st.sampled_from(["dense 10", "relu", "dense 0", "conv 4 3", "maxpool 2", "flatten", "x"]), max_size=4
    ),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


@st.composite
def params_documents(draw):
    """params.yaml: the good one with keys dropped, added or given other values, or plain text."""
    if not draw(st.integers(0, 9)):
        return draw(st.text(max_size=40))
    document = {section: dict(keys) for section, keys in GOOD.items()}
    for _ in range(draw(st.integers(1, 4))):
        section = draw(st.sampled_from([*document, "model"]))
        keys = document.setdefault(section, {})
        if not isinstance(keys, dict):
            continue
        key = draw(st.sampled_from([*keys, "extra"])) if keys else "extra"
        action = draw(st.sampled_from(["drop", "change", "change", "section"]))
        if action == "drop":
            keys.pop(key, None)
        elif action == "change":
            keys[key] = draw(values)
        else:
            document[section] = draw(values)
    return yaml.safe_dump(document)


@EXAMPLES
@given(params_documents(), st.sampled_from([config.Download, config.Preprocess, config.Train, config.Submit]))
def test_the_params_loader_loads_typed_or_fails_cleanly(text, section):
    path = written("params.yaml", text.encode())
    loaded = fails_cleanly(lambda: config.load(section, path), path)
    if loaded is not None:
        name = section.__name__.lower()
        raw = yaml.safe_load(text)[name]
        assert set(raw) == {field.name for field in dataclasses.fields(loaded)}
        kinds = {"str": str, "int": int, "float": float, "bool": bool, "list[str]": list, "list[int]": list}
        for field in dataclasses.fields(loaded):
            value = getattr(loaded, field.name)
            assert value == raw[field.name] and isinstance(value, kinds[field.type])


@st.composite
def submissions(draw):
    """A submission for a 6-row test set: the right one with ids or labels changed, rows moved."""
    rows = [[str(i), str(draw(st.integers(0, 9)))] for i in range(1, 7)]
    for _ in range(draw(st.integers(0, 3))):
        action = draw(st.sampled_from(["cell", "drop", "duplicate", "swap", "append"]))
        i = draw(st.integers(0, len(rows) - 1)) if rows else 0
        if action == "cell" and rows:
            rows[i][draw(st.integers(0, 1))] = draw(st.one_of(cells, st.integers(-2, 12).map(str)))
        elif action == "drop" and rows:
            rows.pop(i)
        elif action == "duplicate" and rows:
            rows.insert(i, list(rows[i]))
        elif action == "swap" and len(rows) > 1:
            j = draw(st.integers(0, len(rows) - 1))
            rows[i], rows[j] = rows[j], rows[i]
        elif action == "append":
            rows.append([str(len(rows) + 1), "3"])
    header = draw(st.sampled_from(["ImageId,Label", "ImageId,Label", "imageid,label", "ImageId", "Id,Label"]))
    return (header + "\n" + row_text(rows)).encode()


@EXAMPLES
@given(submissions())
@example(b"ImageId,Label\n1,1\n2,2\n3,3\n4,4\n5,5\n6,6\n")
def test_the_submission_check_accepts_only_the_right_format(data):
    path = written("submission.csv", data)
    labels = fails_cleanly(lambda: csvio.read_labels(path, 6), path)
    if labels is not None:
        lines = list(csv.reader(data.decode().splitlines()))  # a quoted "3" is the cell 3
        assert lines[0] == ["ImageId", "Label"] and len(lines) == 7
        pairs = lines[1:]
        assert [int(i) for i, _ in pairs] == [1, 2, 3, 4, 5, 6]
        assert labels.tolist() == [int(label) for _, label in pairs]
        assert all(0 <= label <= 9 for label in labels)


def test_the_property_tests_run_500_examples_each():
    assert EXAMPLES.max_examples >= 500  # issue 5: at least 500 examples per property
