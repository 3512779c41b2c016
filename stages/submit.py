"""submit: predict the test set and write data/submission.csv in the competition's format."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core import model as M
from core.data import scale_pixels
from stages import csvio
from stages.common import say, warn, write_bytes
from stages.download import SAMPLE_WARNING
from stages.preprocess import PROCESSED, load_split
from stages.train import WEIGHTS, load_weights

SUBMISSION = Path("data/submission.csv")


def run(processed: Path = PROCESSED, weights: Path = WEIGHTS, out: Path = SUBMISSION) -> None:
    net, params = load_weights(weights)
    pixels, _, data = load_split(processed, "test")
    labels = M.predict_proba(net, params, scale_pixels(pixels)).argmax(axis=1)
    content = csvio.submission_bytes(labels)
    write_bytes(out, content, check=lambda written: csvio.read_labels(written, len(pixels), str(out)))
    say(f"wrote {out}: {len(labels)} rows; label counts {np.bincount(labels, minlength=10).tolist()}")
    if data == "offline-sample":
        warn(SAMPLE_WARNING)
    else:
        say(f'submit with: kaggle competitions submit -c digit-recognizer -f {out} -m "<message>"')


def check(path: Path, processed: Path = PROCESSED) -> None:
    """Check a submission file against the competition's format and the test set's size."""
    pixels, _, _ = load_split(processed, "test")
    labels = csvio.read_labels(path, len(pixels))
    say(f"{path}: a valid submission: {len(labels)} rows, ImageIds 1..{len(labels)}, labels 0..9")
