"""submit: predict the test set, write data/submission.csv in the competition's format, and (with
submit.upload) upload it to Kaggle and record its score.

data/kaggle.json, a DVC metrics file, holds `kaggle_status` ("not uploaded", "complete", "pending"
or "error"), and after an upload `kaggle_ref`, `kaggle_message` and, once Kaggle has scored it,
`kaggle_public_score`: `dvc exp show` puts the leaderboard score beside the dev accuracy.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import numpy as np

from core.ensemble import average
from stages.adapters import csvio, kaggle_client
from stages.adapters.artifacts import (
    OFFLINE_SAMPLE,
    PROCESSED,
    SAMPLE_WARNING,
    WORKSPACE,
    Workspace,
    member_scores,
    read_scores,
    read_split,
)
from stages.adapters.common import Failure, say, warn, write_bytes, write_text
from stages.adapters.config import PARAMS, Submit, Train


def run(config: Submit, train: Train, *, where: Workspace = WORKSPACE, params_file: Path = PARAMS) -> None:
    """Write the submission of train's ensemble (its members' mean probabilities, which score
    wrote), then upload it if config says so, with a message naming train's values."""
    if config.wait < 0:
        raise Failure(
            f"{params_file}: 'submit.wait' must be 0 (do not wait) or more seconds, found {config.wait}"
        )
    processed, scores, out, record = where.processed, where.scores, where.submission, where.kaggle
    test = read_split(processed, "test")
    pixels, data = test.pixels, test.data
    if config.upload and data == OFFLINE_SAMPLE:
        raise Failure(
            "submit.upload: this run is on the offline sample, whose predictions are not for Kaggle"
        )
    rows = {"test": len(pixels)}
    each = [read_scores(member_scores(scores, seed), rows)["test"] for seed in train.seeds]
    labels = average(each).argmax(axis=1)
    content = csvio.submission_bytes(labels)
    write_bytes(out, content, check=lambda written: csvio.read_labels(written, len(pixels), str(out)))
    say(f"wrote {out}: {len(labels)} rows; label counts {np.bincount(labels, minlength=10).tolist()}")
    if data == OFFLINE_SAMPLE:
        warn(SAMPLE_WARNING)
    if not config.upload:
        write_text(record, json.dumps({"kaggle_status": "not uploaded"}, indent=2) + "\n")
        if data != OFFLINE_SAMPLE:
            say("to upload: set submit.upload: true in params.yaml, or run")
            say(f'  kaggle competitions submit -c digit-recognizer -f {out} -m "<message>"')
        return
    message = describe(train, params_file)
    say(f"uploading {out} to Kaggle: {message}")
    ref = kaggle_client.submit(out, message)
    say(f"uploaded: submission {ref}; waiting up to {config.wait}s for its score")
    score = kaggle_client.score(ref, config.wait)
    result: dict[str, object] = {"kaggle_status": score.status, "kaggle_ref": ref, "kaggle_message": message}
    if score.public_score is not None:
        result["kaggle_public_score"] = score.public_score
    write_text(record, json.dumps(result, indent=2) + "\n")
    if score.status == "error":
        raise Failure(f"Kaggle could not score submission {ref}: {score.detail or 'no reason given'}")
    if score.status == "pending":
        say(f"not scored yet; see: kaggle competitions submissions -c {kaggle_client.COMPETITION}")
    else:
        say(f"Kaggle's public score: {score.public_score}")


def describe(train: Train, params_file: Path = PARAMS) -> str:
    """The upload's message: the git revision (+ if the work tree differs) and the params behind it."""
    try:
        revision = _git("rev-parse", "--short", "HEAD")
        if _git("status", "--porcelain", "--untracked-files=no"):
            revision += "+"  # e.g. a `dvc exp run`, whose params differ from the commit's
    except (OSError, subprocess.CalledProcessError):
        revision = "no git revision"
    text = params_file.read_bytes() if params_file.is_file() else b""
    shown = "".join(f"{key}={getattr(train, key)} " for key in ("preset", "alpha", "epochs", "batch_size"))
    return f"digits {revision} {shown}params.yaml sha256:{hashlib.sha256(text).hexdigest()[:12]}"


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], capture_output=True, text=True, check=True).stdout.strip()


def check(path: Path, processed: Path = PROCESSED) -> None:
    """Check a submission file against the competition's format and the test set's size."""
    labels = csvio.read_labels(path, len(read_split(processed, "test").pixels))
    say(f"{path}: a valid submission: {len(labels)} rows, ImageIds 1..{len(labels)}, labels 0..9")
