"""predict: read the user's own pictures of digits with the trained weights (by default, the
ensemble of train.seeds' members that train wrote).

Each image (PNG, JPEG or anything Pillow opens; photo or drawing, ink dark or light) goes through
MNIST's preprocessing (core/images.py), then the network; one line per image gives the label and
the three most probable digits, and says so beside them when the picture holds no clear digit.
An image that cannot be read gets an error line of its own, the others their results, and the
command then exits 1.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from core.data import scale_pixels
from core.ensemble import average
from core.images import read_digit
from core.inference import Views
from stages.adapters import imageio
from stages.adapters import weights as weights_file
from stages.adapters.artifacts import MODELS
from stages.adapters.common import Failure, say, write_bytes
from stages.adapters.config import PARAMS, Predict, Train, check_views, load


def run(
    images: list[Path],
    *,
    weights: list[Path] | None = None,
    show: Path | None = None,
    params_file: Path = PARAMS,
    tta: float | None = None,
    rotate: float | None = None,
) -> None:
    """weights: the members' files, averaged; None: those train.seeds in params_file names. tta,
    rotate: None for predict.tta, predict.rotate in it (0, no test-time augmentation, with weights
    given and no params file)."""
    paths = weights or weights_file.member_paths(MODELS, load(Train, params_file).seeds)
    members = weights_file.read_members(paths)
    configured = Predict(tta=0.0, rotate=0.0)  # with weights given and no params file
    if (tta is None or rotate is None) and not (weights and not params_file.exists()):
        configured = load(Predict, params_file)
    views = Views(configured.tta if tta is None else tta, configured.rotate if rotate is None else rotate)
    check_views(views.shift, views.turn, "--tta", "--rotate")
    read, failures = [], []
    for path in images:
        try:
            read.append((path, _digit(path)))
        except Failure as failure:
            failures.append(str(failure))
    if read:
        digits = np.stack([digit for _, (digit, _) in read])  # (n, 28, 28) uint8
        pixels = scale_pixels(digits.reshape(len(read), -1))
        probs = average(weights_file.probabilities(members, pixels, views))
        for (path, (_, doubt)), p in zip(read, probs, strict=True):
            top = np.argsort(-p, kind="stable")[:3]
            guess = f"{path}: {top[0]}  (" + ", ".join(f"{d} {p[d]:.3f}" for d in top) + ")"
            say(f"{guess}  {doubt}" if doubt else guess)
    if failures:  # each its own line; no picture of a partial batch
        raise Failure("\n".join(failures))
    if show is not None:
        write_bytes(show, imageio.png_bytes(np.concatenate(list(digits), axis=1)))
        say(f"wrote {show}: the images as the network saw them, left to right")


def _digit(path: Path) -> tuple[NDArray[np.uint8], str | None]:
    """The picture at path in MNIST's form, and why its digit is not clear (or None)."""
    try:
        return read_digit(imageio.read_gray(path))
    except ValueError as error:
        raise Failure(f"{path}: {error}") from None
