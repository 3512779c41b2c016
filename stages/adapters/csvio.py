"""Reading and writing the competition's CSV files, checked cell by cell.

Errors name the file, the line (the header is line 1) and the column. What valid tools write is
read: a UTF-8 byte-order mark (Excel's "CSV UTF-8"), quoted cells (R's write.csv), CRLF line ends.
"""

from __future__ import annotations

import csv
import gzip
import io
import itertools
import re
import warnings
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from stages.adapters.common import Failure, regular_file

PIXELS = [f"pixel{i}" for i in range(784)]
TRAIN_HEADER = ["label", *PIXELS]
TEST_HEADER = PIXELS
SUBMISSION_HEADER = ["ImageId", "Label"]
_INTEGER = re.compile(r"\s*-?[0-9]+\s*")
MAX_BYTES = 1 << 30  # the competition's train.csv is 73 MB; a CSV beyond this is not one of its files
Range = tuple[int, int]


def _open_text(path: Path) -> IO[str]:
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path), encoding="utf-8-sig", newline="")
    return open(path, encoding="utf-8-sig", newline="")


def _header(path: Path, shown: str) -> list[str] | None:
    """The header line's cells, unquoted; None for an empty file."""
    try:
        with _open_text(path) as file:
            first = file.readline()
    except UnicodeDecodeError:
        raise not_utf8(path, shown) from None
    except (OSError, EOFError) as error:
        raise Failure(f"{shown}: cannot read it as text CSV ({error})") from None
    if not first.strip():
        return None
    return next(csv.reader([first]))


def not_utf8(path: Path, shown: str) -> Failure:
    """The first line of path that is not UTF-8 text, as a Failure naming it."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as file:
        for number, line in enumerate(file, 1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as error:
                return Failure(
                    f"{shown}: line {number}: byte {error.start + 1} (0x{line[error.start]:02x}) is not "
                    "UTF-8 text: save the file as UTF-8 (or plain ASCII)"
                )
    return Failure(f"{shown}: not UTF-8 text: save the file as UTF-8")


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


def read_table(
    path: Path, header: list[str], ranges: dict[str, Range], shown: str | None = None
) -> NDArray[np.int64]:
    """All cells of a CSV whose header must be `header`, as integers (rows, columns); those of
    the columns in ranges must lie in their (low, high)."""
    shown = shown or str(path)
    size = regular_file(path, "no such file").stat().st_size
    if size > MAX_BYTES:
        raise Failure(f"{shown}: {size / 2**30:.1f} GB, larger than any of the competition's CSVs (73 MB)")
    found = _header(path, shown)
    if found is None:
        brief = ",".join(header) if len(header) <= 3 else ",".join(header[:2]) + ",..."
        raise Failure(f"{shown}: empty file, expected the header line {brief}")
    check_header(found, header, shown)
    try:
        with warnings.catch_warnings():  # mixed types in a column are found and named below
            warnings.simplefilter("ignore", pd.errors.DtypeWarning)
            frame = pd.read_csv(path, header=0, dtype=None, skip_blank_lines=False, encoding="utf-8")
    except pd.errors.ParserError as error:
        match = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(error))
        if match:
            expected, line, saw = match.groups()
            raise Failure(f"{shown}: line {line}: {saw} fields, expected {expected}") from None
        raise Failure(f"{shown}: not a valid CSV ({error})") from None
    except UnicodeDecodeError:
        raise not_utf8(path, shown) from None
    except (OSError, EOFError, ValueError) as error:
        raise Failure(f"{shown}: cannot read ({error})") from None
    if frame.empty:
        raise Failure(f"{shown}: no data rows after the header")
    if not isinstance(frame.index, pd.RangeIndex):  # pandas takes a first row's extra field for an index
        raise Failure(f"{shown}: line 2: {_fields_on_line(path, 2)} fields, expected {len(header)}")
    frame.columns = header  # pandas reads the same names; these are the checked ones
    for column in header:
        if frame[column].dtype != np.int64:  # not integers, or integers beyond 64 bits
            _raise_first_bad_cell(path, frame, column, ranges.get(column), shown)
    values = frame.to_numpy(dtype=np.int64)
    checked = [i for i, column in enumerate(header) if column in ranges]
    low = np.array([ranges[header[i]][0] for i in checked])
    high = np.array([ranges[header[i]][1] for i in checked])
    bad = np.argwhere((values[:, checked] < low) | (values[:, checked] > high))
    if bad.size:
        row, i = bad[0]
        raise Failure(
            f"{shown}: line {row + 2}, column {header[checked[i]]}: found {values[row, checked[i]]}, "
            f"expected {low[i]}..{high[i]}"
        )
    return values


def _raise_first_bad_cell(
    path: Path, frame: pd.DataFrame, column: str, bounds: Range | None, shown: str
) -> None:
    text = pd.read_csv(
        path,
        usecols=[frame.columns.get_loc(column)],
        dtype=str,
        keep_default_na=False,
        skip_blank_lines=False,
    ).iloc[:, 0]
    for row, value in enumerate(text):
        line = row + 2
        where = f"{shown}: line {line}, column {column}"
        if not _INTEGER.fullmatch(value):
            if value.strip() == "":  # pandas pads a short row with empty cells: say it is short
                fields = _fields_on_line(path, line)
                if fields != len(frame.columns):
                    raise Failure(f"{shown}: line {line}: {fields} fields, expected {len(frame.columns)}")
            found = "an empty cell" if value.strip() == "" else repr(value)
            raise Failure(f"{where}: found {found}, expected an integer")
        number = int(value)
        if not -(2**63) <= number < 2**63 or (bounds and not bounds[0] <= number <= bounds[1]):
            expected = f"expected {bounds[0]}..{bounds[1]}" if bounds else f"far outside any {column}"
            raise Failure(f"{where}: found {number}, {expected}")
    raise Failure(f"{shown}: column {column}: expected integers")  # pragma: no cover


def _fields_on_line(path: Path, line: int) -> int:
    with _open_text(path) as file:
        text = next(itertools.islice(file, line - 1, None), "")
    return len(text.rstrip("\r\n").split(","))


def read_digits(
    path: Path, labelled: bool, shown: str | None = None
) -> tuple[NDArray[np.uint8], NDArray[np.uint8] | None]:
    """(pixels (m, 784) uint8, labels (m,) uint8 or None) from train.csv or test.csv."""
    header = TRAIN_HEADER if labelled else TEST_HEADER
    ranges = {"label": (0, 9)} | dict.fromkeys(PIXELS, (0, 255))
    values = read_table(path, header, ranges, shown)
    if labelled:
        return values[:, 1:].astype(np.uint8), values[:, 0].astype(np.uint8)
    return values.astype(np.uint8), None


def read_labels(path: Path, rows: int, shown: str | None = None) -> NDArray[np.uint8]:
    """Labels of an ImageId,Label file (a submission, or the offline sample's held-back test
    labels): the ImageIds 1..rows, each once and in order, and labels 0..9."""
    shown = shown or str(path)
    values = read_table(path, SUBMISSION_HEADER, {"Label": (0, 9)}, shown)
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
