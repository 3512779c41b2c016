"""submit: predict the test set and write data/submission.csv in the competition's format."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core import model as M
from core.data import scale_pixels
from stages import csvio
from stages.common import Failure, say, warn, write_bytes
from stages.download import SAMPLE_WARNING
from stages.preprocess import PROCESSED, load_split
from stages.train import WEIGHTS, load_weights

SUBMISSION = Path("data/submission.csv")
LABELS = set("0123456789")


def run(processed: Path = PROCESSED, weights: Path = WEIGHTS, out: Path = SUBMISSION) -> None:
    net, params = load_weights(weights)
    pixels, _, data = load_split(processed, "test")
    labels = M.predict_proba(net, params, scale_pixels(pixels)).argmax(axis=1)
    content = csvio.submission_bytes(labels)
    check(content, len(pixels), str(out))
    write_bytes(out, content)
    say(f"wrote {out}: {len(labels)} rows; label counts {np.bincount(labels, minlength=10).tolist()}")
    if data == "offline-sample":
        warn(SAMPLE_WARNING)
    else:
        say(f'submit with: kaggle competitions submit -c digit-recognizer -f {out} -m "<message>"')


def check(content: bytes, rows: int, shown: str) -> None:
    """The competition's format: header ImageId,Label; ImageIds 1..rows in order; labels 0..9."""
    lines = content.decode().splitlines()
    if not lines or lines[0].split(",") != csvio.SUBMISSION_HEADER:
        raise Failure(f"{shown}: line 1: expected the header ImageId,Label")
    if len(lines) - 1 != rows:
        raise Failure(f"{shown}: {len(lines) - 1} rows, expected {rows} (one per test image)")
    for number, line in enumerate(lines[1:], start=2):
        if line != f"{number - 1},{line[-1:]}" or line[-1:] not in LABELS:
            raise Failure(f"{shown}: line {number}: expected '{number - 1},<label 0..9>', found {line!r}")
