"""The official `kaggle` package, imported only when used.

`import kaggle` authenticates at import time, and some versions exit the process when there are no
credentials; so the import happens here, under guard, and every failure becomes one line that says
what to do.
"""

from __future__ import annotations

import contextlib
import io
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stages.common import Failure

COMPETITION = "digit-recognizer"
RULES = f"https://www.kaggle.com/competitions/{COMPETITION}/rules"
NO_CREDENTIALS = (
    "no Kaggle credentials: create an API token at https://www.kaggle.com/settings and save it as "
    "~/.kaggle/kaggle.json (or set KAGGLE_USERNAME and KAGGLE_KEY), or set download.source to a "
    "local digit-recognizer.zip"
)


def api() -> Any:
    """An authenticated KaggleApi, or Failure."""
    quiet = io.StringIO()
    try:
        with contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):
            from kaggle.api.kaggle_api_extended import KaggleApi

            client = KaggleApi()
            client.authenticate()
    except ImportError:
        raise Failure("the 'kaggle' package is not installed: pip install kaggle") from None
    except SystemExit:
        raise Failure(NO_CREDENTIALS) from None
    return client


def explain(error: BaseException) -> str:
    """One line for a failed Kaggle call: HTTP status, network, or whatever it said."""
    response = getattr(error, "response", None)
    status = getattr(response, "status_code", None) or getattr(error, "status", None)
    if status == 401:
        return (
            "Kaggle rejected the credentials (401): create a new API token at https://www.kaggle.com/settings"
        )
    if status == 403:
        return f"Kaggle refused access (403): accept the competition's rules at {RULES}, then run again"
    if status == 404:
        return f"Kaggle has no competition '{COMPETITION}' reachable with these credentials (404)"
    text = str(error).lower()
    if "daily" in text or "allowance" in text:
        return "Kaggle's daily submission limit is used up: try again after midnight UTC"
    if status == 429:
        return "Kaggle says too many requests (429): wait and try again (submissions are limited per day)"
    if status is not None:
        return f"Kaggle answered HTTP {status}: {error}"
    if isinstance(error, OSError) or "connection" in type(error).__name__.lower():
        return f"cannot reach Kaggle (no network?): {type(error).__name__}"
    return f"the Kaggle call failed: {type(error).__name__}: {error}"


def download_competition(folder: Path) -> Path:
    """Download the competition's zip into folder; its path, or Failure."""
    client = api()
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            client.competition_download_files(COMPETITION, path=str(folder), quiet=True)
    except SystemExit:
        raise Failure(NO_CREDENTIALS) from None
    except Exception as error:  # the client raises requests', urllib3's and its own errors
        raise Failure(explain(error)) from None
    archive = folder / f"{COMPETITION}.zip"
    if not archive.is_file():
        raise Failure(f"the Kaggle download finished but left no {archive.name} in {folder}")
    return archive


def submit(path: Path, message: str) -> int:
    """Upload a submission file with a message; Kaggle's reference for it, or Failure."""
    client = api()
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            response = client.competition_submit(str(path), message, COMPETITION, quiet=True)
    except SystemExit:
        raise Failure(NO_CREDENTIALS) from None
    except Exception as error:  # the client raises requests', urllib3's and its own errors
        raise Failure(explain(error)) from None
    ref = getattr(response, "ref", 0)
    if not ref:
        said = getattr(response, "message", "") or "no reason given"
        raise Failure(f"Kaggle did not accept the submission: {said}")
    return int(ref)


@dataclass(frozen=True)
class Score:
    status: str  # "complete", "pending" (not scored within the wait) or "error"
    public_score: float | None
    detail: str  # Kaggle's error description, if any


def score(ref: int, wait: float, poll: float = 10.0, sleep: Callable[[float], None] = time.sleep) -> Score:
    """Kaggle's verdict on submission ref, asking every poll seconds for up to wait seconds."""
    client = api()
    waited = 0.0
    while True:
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                submission = client.get_submission(ref)
        except Exception as error:  # a just-made submission can 404 for a moment
            if getattr(getattr(error, "response", None), "status_code", None) != 404:
                raise Failure(
                    f"submission {ref} was uploaded, but reading its score failed: {explain(error)}"
                ) from None
            submission = None
        status = str(getattr(getattr(submission, "status", None), "name", "PENDING")).lower()
        if status == "complete":
            public = getattr(submission, "public_score", None)
            return Score("complete", float(public) if public not in (None, "") else None, "")
        if status == "error":
            return Score("error", None, str(getattr(submission, "error_description", "") or ""))
        if waited >= wait:
            return Score("pending", None, "")
        sleep(min(poll, wait - waited))
        waited += min(poll, wait - waited)
