"""Reading and writing the competition's CSV files, checked cell by cell.

Errors name the file, the line (the header is line 1) and the column.
"""

from __future__ import annotations

import gzip
import io
import itertools
import re
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from stages.common import Failure

PIXELS = [f"pixel{i}" for i in range(784)]
TRAIN_HEADER = ["label", *PIXELS]
TEST_HEADER = PIXELS
SUBMISSION_HEADER = ["ImageId", "Label"]
_INTEGER = re.compile(r"\s*[0-9]+\s*")


def _open_text(path: Path) -> IO[str]:
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path), newline="")
    return open(path, newline="")


def _header_line(path: Path, shown: str) -> str:
    try:
        with _open_text(path) as file:
            return file.readline()
    except (OSError, EOFError, UnicodeDecodeError) as error:
        raise Failure(f"{shown}: cannot read it as text CSV ({error})") from None


def check_header(found: list[str], expected: list[str], shown: str) -> None:
    brief = ",".join(expected) if len(expected) <= 3 else f"{expected[0]},{expected[1]},...,{expected[-1]}"
    if found == expected:
        return
    if len(found) != len(expected):
        columns = f"{len(found)} column" + ("s" if len(found) != 1 else "")
        raise Failure(f"{shown}: line 1: header has {columns}, expected {len(expected)} ({brief})")
    column = next(i for i, (a, b) in enumerate(zip(found, expected, strict=True)) if a != b)
    raise Failure(
        f"{shown}: line 1, column {column + 1}: header says {found[column]!r}, expected {expected[column]!r}"
    )


def read_table(path: Path, header: list[str], shown: str | None = None) -> NDArray[np.int64]:
    """All cells of a CSV whose header must be `header`, as integers (rows, columns)."""
    shown = shown or str(path)
    first = _header_line(path, shown)
    if not first.strip():
        brief = ",".join(header) if len(header) <= 3 else ",".join(header[:2]) + ",..."
        raise Failure(f"{shown}: empty file, expected the header line {brief}")
    check_header(first.strip("\r\n").split(","), header, shown)
    try:
        frame = pd.read_csv(path, header=0, dtype=None, skip_blank_lines=False)
    except pd.errors.ParserError as error:
        match = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(error))
        if match:
            expected, line, saw = match.groups()
            raise Failure(f"{shown}: line {line}: {saw} fields, expected {expected}") from None
        raise Failure(f"{shown}: not a valid CSV ({error})") from None
    except (OSError, EOFError, UnicodeDecodeError, ValueError) as error:
        raise Failure(f"{shown}: cannot read ({error})") from None
    if frame.empty:
        raise Failure(f"{shown}: no data rows after the header")
    for column in frame.columns:
        if not pd.api.types.is_integer_dtype(frame[column].dtype):
            _raise_first_non_integer(path, frame, column, shown)
    return frame.to_numpy(dtype=np.int64)


def _raise_first_non_integer(path: Path, frame: pd.DataFrame, column: str, shown: str) -> None:
    text = pd.read_csv(path, usecols=[column], dtype=str, keep_default_na=False, skip_blank_lines=False)
    for row, value in enumerate(text[column]):
        if not _INTEGER.fullmatch(value):
            line = row + 2
            if value.strip() == "":  # pandas pads a short row with empty cells: say it is short
                fields = _fields_on_line(path, line)
                if fields != len(frame.columns):
                    raise Failure(f"{shown}: line {line}: {fields} fields, expected {len(frame.columns)}")
            found = "an empty cell" if value.strip() == "" else repr(value)
            raise Failure(f"{shown}: line {line}, column {column}: found {found}, expected an integer")
    raise Failure(f"{shown}: column {column}: expected integers")  # pragma: no cover


def _fields_on_line(path: Path, line: int) -> int:
    with _open_text(path) as file:
        text = next(itertools.islice(file, line - 1, None), "")
    return len(text.rstrip("\r\n").split(","))


def _check_range(values: NDArray[np.int64], low: int, high: int, names: list[str], shown: str) -> None:
    bad = np.argwhere((values < low) | (values > high))
    if bad.size:
        row, column = bad[0]
        raise Failure(
            f"{shown}: line {row + 2}, column {names[column]}: found {values[row, column]}, "
            f"expected {low}..{high}"
        )


def read_digits(
    path: Path, labelled: bool, shown: str | None = None
) -> tuple[NDArray[np.uint8], NDArray[np.uint8] | None]:
    """(pixels (m, 784) uint8, labels (m,) uint8 or None) from train.csv or test.csv."""
    shown = shown or str(path)
    header = TRAIN_HEADER if labelled else TEST_HEADER
    values = read_table(path, header, shown)
    _check_range(values[:, -784:], 0, 255, PIXELS, shown)
    if labelled:
        _check_range(values[:, :1], 0, 9, ["label"], shown)
        return values[:, 1:].astype(np.uint8), values[:, 0].astype(np.uint8)
    return values.astype(np.uint8), None


def read_labels(path: Path, rows: int, shown: str | None = None) -> NDArray[np.uint8]:
    """Labels of an ImageId,Label file (a submission, or the offline sample's held-back test
    labels): the ImageIds 1..rows, each once and in order, and labels 0..9."""
    shown = shown or str(path)
    values = read_table(path, SUBMISSION_HEADER, shown)
    ids = values[:, 0].tolist()
    present = set(ids)
    seen: dict[int, int] = {}
    for row, image_id in enumerate(ids):
        line, expected = row + 2, row + 1
        if image_id == expected:
            seen[image_id] = line
            continue
        where = f"{shown}: line {line}, column ImageId"
        if image_id in seen:
            raise Failure(f"{where}: ImageId {image_id} again (first on line {seen[image_id]})")
        if not 1 <= image_id <= rows:
            raise Failure(f"{where}: ImageId {image_id} is outside 1..{rows} (the test set's rows)")
        if expected not in present:
            raise Failure(f"{where}: ImageId {expected} is missing (found {image_id} where it belongs)")
        raise Failure(f"{where}: found {image_id}, expected {expected} (ImageIds 1..{rows} in order)")
    if len(values) < rows:
        raise Failure(
            f"{shown}: {len(values)} rows, expected {rows}: ImageIds {len(values) + 1}..{rows} are missing"
        )
    if len(values) > rows:
        raise Failure(f"{shown}: {len(values)} rows, expected {rows} (one per test image)")
    _check_range(values[:, 1:], 0, 9, ["Label"], shown)
    return values[:, 1].astype(np.uint8)


def csv_bytes(header: list[str], rows: NDArray[Any]) -> bytes:
    """Integer rows as CSV bytes with a header line."""
    buffer = io.StringIO()
    buffer.write(",".join(header) + "\n")
    np.savetxt(buffer, rows, fmt="%d", delimiter=",")
    return buffer.getvalue().encode()


def submission_bytes(labels: NDArray[Any]) -> bytes:
    ids = np.arange(1, len(labels) + 1)
    return csv_bytes(SUBMISSION_HEADER, np.column_stack([ids, labels]))
