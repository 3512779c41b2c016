"""The official `kaggle` package (2.x), imported only when used.

The client authenticates as it is imported and again when asked, trying, in order, an access
token (KAGGLE_API_TOKEN, or ~/.kaggle/access_token), then the legacy username and key
(~/.kaggle/kaggle.json, or KAGGLE_USERNAME and KAGGLE_KEY). A token is checked with Kaggle over
the network, and the client prints help and calls exit() when nothing works. So every use of it
happens inside `_guarded`: its output swallowed, each of its requests given a timeout (the
client's modules see a requests whose sessions have one), and every failure turned into one line
that says what to do.
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stages.adapters.common import Failure, one_line

COMPETITION = "digit-recognizer"
RULES = f"https://www.kaggle.com/competitions/{COMPETITION}/rules"
SETTINGS = "https://www.kaggle.com/settings"
TIMEOUT = 60.0  # seconds a request may wait to connect, or for the next bytes of an answer
TOKEN_FILE = "~/.kaggle/access_token"
NO_CREDENTIALS = (
    f"no Kaggle credentials: create an API token at {SETTINGS} and set KAGGLE_API_TOKEN to it or "
    f"save it as {TOKEN_FILE} (or use a legacy ~/.kaggle/kaggle.json, or KAGGLE_USERNAME and "
    "KAGGLE_KEY), or set download.source in data/source.yaml to a local digit-recognizer.zip"
)


class _NotFound(Exception):
    """A 404 where one can be transient (a submission just made)."""


@contextlib.contextmanager
def _guarded(not_found_ok: bool = False, token: str | None = None) -> Iterator[None]:
    """Runs the client with its output swallowed and a timeout on each of its requests; token
    names where an access token was found before the client ran (it may remove it)."""
    quiet = io.StringIO()
    try:
        with contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):
            from kagglesdk import kaggle_http_client  # before kaggle: its import authenticates

            kaggle_http_client.requests = _bounded_requests()
            yield
    except ImportError:
        raise Failure("the 'kaggle' package is not installed: pip install 'kaggle>=2.2.5'") from None
    except SystemExit:  # the client's exit(1) when no credentials work
        raise Failure(_no_credentials(token)) from None
    except Failure:
        raise
    except Exception as error:  # the client raises requests', urllib3's and its own errors
        if not_found_ok and _status(error) == 404:
            raise _NotFound from None
        raise Failure(explain(error)) from None


@functools.cache
def _bounded_requests() -> Any:
    """The requests module as Kaggle's client modules see it: the same, but every session they
    make waits at most TIMEOUT for a connection or the next bytes, unless a call sets its own (the
    client sets none, and a silent server would hang it). Other users of requests are untouched."""
    import requests

    class BoundedSession(requests.Session):
        def send(self, request: Any, **kwargs: Any) -> Any:
            if kwargs.get("timeout") is None:
                kwargs["timeout"] = TIMEOUT
            return super().send(request, **kwargs)

    class KaggleRequests:
        Session = BoundedSession

        def __getattr__(self, name: str) -> Any:
            return getattr(requests, name)

    return KaggleRequests()


def _token_source() -> str | None:
    """Where the client would find an access token, if anywhere (it looks in this order)."""
    if os.environ.get("KAGGLE_API_TOKEN"):
        return "KAGGLE_API_TOKEN"
    for name in (TOKEN_FILE, TOKEN_FILE + ".txt"):
        path = Path(name).expanduser()
        if path.is_file() and path.read_text(errors="replace").strip():
            return name
    return None


def _no_credentials(source: str | None) -> str:
    if source is None:
        return NO_CREDENTIALS
    return (
        f"Kaggle did not accept the access token in {source} (expired or revoked?): "
        f"create a new one at {SETTINGS}"
    )


def api() -> Any:
    """An authenticated KaggleApi, or Failure."""
    with _guarded(token=_token_source()):
        from kaggle.api import kaggle_api_extended

        kaggle_api_extended.requests = _bounded_requests()  # its uploads' own sessions
        client = kaggle_api_extended.KaggleApi()
        client.authenticate()
    return client


def explain(error: BaseException) -> str:
    """One line for a failed Kaggle call: HTTP status, network, or whatever it said."""
    response = getattr(error, "response", None)
    status = _status(error)
    said = _said(response)
    if status == 401:
        return f"Kaggle rejected the credentials (401): create a new API token at {SETTINGS}"
    if status == 403:
        return f"Kaggle refused access (403): accept the competition's rules at {RULES}, then run again"
    if status == 404:
        return f"Kaggle has no competition '{COMPETITION}' reachable with these credentials (404)"
    text = f"{error} {said}".lower()
    if "daily" in text or "allowance" in text or "submission limit" in text:
        return "Kaggle's daily submission limit is used up: try again after midnight UTC"
    if status == 429:
        return "Kaggle says too many requests (429): wait a few minutes and try again"
    if status is not None and status >= 500:
        return f"Kaggle's servers failed (HTTP {status}): try again later"
    if status is not None:
        return f"Kaggle answered HTTP {status}: {said or error}"
    chain = _causes(error)
    names = " ".join(type(e).__name__ for e in chain).lower()
    if "timeout" in names:
        return f"Kaggle did not answer within {TIMEOUT:.0f} s: try again later"
    if "nameresolution" in names or "gaierror" in names:
        return "cannot find Kaggle's address (no network, or DNS fails): check the connection"
    if "connectionrefused" in names or "refused" in text:
        return "cannot connect to Kaggle (connection refused): check the network or the proxy settings"
    if "connection" in names or isinstance(error, OSError):
        return f"cannot reach Kaggle (no network?): {type(error).__name__}"
    return f"the Kaggle call failed: {type(error).__name__}: {' '.join(str(error).split())[:200]}"


def _status(error: BaseException) -> int | None:
    status = getattr(getattr(error, "response", None), "status_code", None) or getattr(error, "status", None)
    return status if isinstance(status, int) else None


def _said(response: Any) -> str:
    """Kaggle's own message in an error answer ({"code": ..., "message": ...}), if it gave one."""
    try:
        message = response.json().get("message", "") if response is not None else ""
    except Exception:
        message = ""
    return one_line(message)[:200]


def _causes(error: BaseException) -> list[BaseException]:
    """error and every exception behind it (requests wraps urllib3's, which wrap socket's)."""
    chain, seen = [], set()
    todo: list[BaseException | None] = [error]
    while todo:
        item = todo.pop()
        if item is None or id(item) in seen:
            continue
        seen.add(id(item))
        chain.append(item)
        reason = getattr(item, "reason", None)  # urllib3's errors keep their cause here
        todo += [item.__cause__, item.__context__, reason if isinstance(reason, BaseException) else None]
        todo += [arg for arg in item.args if isinstance(arg, BaseException)]
    return chain


def download_competition(folder: Path) -> Path:
    """Download the competition's zip into folder; its path, or Failure."""
    client = api()
    with _guarded():
        client.competition_download_files(COMPETITION, path=str(folder), quiet=True)
    archive = folder / f"{COMPETITION}.zip"
    if not archive.is_file():
        raise Failure(f"the Kaggle download finished but left no {archive.name} in {folder}")
    return archive


def submit(path: Path, message: str) -> int:
    """Upload a submission file with a message; Kaggle's reference for it, or Failure."""
    client = api()
    with _guarded():
        response = client.competition_submit(str(path), message, COMPETITION, quiet=True)
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
            with _guarded(not_found_ok=True):
                submission = client.get_submission(ref)
        except _NotFound:  # a just-made submission can 404 for a moment
            submission = None
        except Failure as failure:
            raise Failure(f"submission {ref} was uploaded, but reading its score failed: {failure}") from None
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
