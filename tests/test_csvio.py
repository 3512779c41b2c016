import gzip

import numpy as np
import pytest

from stages.adapters import csvio
from stages.adapters.common import Failure

HEADER = ",".join(csvio.TRAIN_HEADER)


def row(label=3, fill=0):
    return ",".join([str(label)] + [str(fill)] * 784)


def read(tmp_path, text, name="train.csv"):
    path = tmp_path / name
    if name.endswith(".gz"):
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return csvio.read_digits(path, labelled=True)


def test_reads_pixels_and_labels_as_uint8(tmp_path):
    pixels, labels = read(tmp_path, f"{HEADER}\n{row(3, 255)}\r\n{row(9, 0)}\n")
    assert pixels.shape == (2, 784) and pixels.dtype == np.uint8 and pixels[0, 0] == 255
    assert labels is not None and labels.tolist() == [3, 9] and labels.dtype == np.uint8


def test_reads_gzip(tmp_path):
    pixels, _ = read(tmp_path, f"{HEADER}\n{row()}\n", name="train.csv.gz")
    assert pixels.shape == (1, 784)


def test_the_writer_round_trips(tmp_path):
    pixels = np.random.default_rng(0).integers(0, 256, (3, 784))
    path = tmp_path / "test.csv"
    path.write_bytes(csvio.csv_bytes(csvio.TEST_HEADER, pixels))
    got, labels = csvio.read_digits(path, labelled=False)
    assert labels is None and np.array_equal(got, pixels)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty file, expected the header line label,pixel0,..."),
        (f"{HEADER}\n", "no data rows after the header"),
        ("label,pixel0\n1,2\n", "line 1: header has 2 columns, expected 785 (label,pixel0,...,pixel783)"),
        (
            HEADER.replace("pixel7,", "pixelX,") + "\n",
            "line 1, column 9: header says 'pixelX', expected 'pixel7'",
        ),
        (f"{HEADER}\n{row()}\n{row()},0\n", "line 3: 786 fields, expected 785"),
        (f"{HEADER}\n{row()},0\n{row()}\n", "line 2: 786 fields, expected 785"),  # not an index column
        (f"{HEADER}\n,{row()}\n", "line 2: 786 fields, expected 785"),
        (
            f"{HEADER}\n{row()}\n{row()[:-2]}\n",
            "line 3: 784 fields, expected 785",
        ),
        (
            f"{HEADER}\n{row().replace(',0', ',0.5', 1)}\n",
            "line 2, column pixel0: found '0.5', expected an integer",
        ),
        (
            f"{HEADER}\n{row().replace(',0', ',NaN', 1)}\n",
            "line 2, column pixel0: found 'NaN', expected an integer",
        ),
        (f"{HEADER}\n{row(fill=-1)}\n", "line 2, column pixel0: found -1, expected 0..255"),
        (f"{HEADER}\n{row(label=10)}\n", "line 2, column label: found 10, expected 0..9"),
        ("\x89PNG\r\n\x1a\n", "line 1: header has 1 column, expected 785 (label,pixel0,...,pixel783)"),
    ],
)
def test_bad_csv_names_line_and_column(tmp_path, text, message):
    with pytest.raises(Failure) as caught:
        read(tmp_path, text)
    assert str(caught.value) == f"{tmp_path / 'train.csv'}: {message}"


def test_truncated_gzip_is_one_line(tmp_path):
    path = tmp_path / "train.csv.gz"
    path.write_bytes(gzip.compress(f"{HEADER}\n{row()}\n".encode())[:-10])
    with pytest.raises(Failure, match=r"train.csv.gz: cannot read"):
        csvio.read_digits(path, labelled=True)


def test_a_huge_number_far_down_is_one_line_and_no_pandas_warning(tmp_path):
    """pandas reads a long file in chunks and warns of a column whose chunks differ in type; the
    reader names the cell instead (and pytest turns any warning into an error here)."""
    text = f"{HEADER}\n" + f"{row()}\n" * 4999 + row().replace(",0", f",{10**23}", 1) + "\n"
    with pytest.raises(Failure, match=r"line 5001, column pixel0: found 10{23}, expected 0\.\.255"):
        read(tmp_path, text)
