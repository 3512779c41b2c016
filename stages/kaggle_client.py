"""The official `kaggle` package, imported only when used.

`import kaggle` authenticates at import time, and some versions exit the process when there are no
credentials; so the import happens here, under guard, and every failure becomes one line that says
what to do.
"""

from __future__ import annotations

import contextlib
import io
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
