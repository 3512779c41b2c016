"""What every stage shares: one-line failures and atomic outputs."""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import typer

F = TypeVar("F", bound=Callable[..., Any])


class Failure(Exception):
    """A problem the user can fix: reported as one line on stderr, exit code 1, no traceback."""


DEBUG = "DIGITS_DEBUG"  # set (to anything but 0) by `digits --debug`, or by hand for `dvc repro`


def debugging() -> bool:
    return os.environ.get(DEBUG, "") not in ("", "0")


def fail_cleanly(command: F) -> F:
    """Turn Failure into one line on stderr and exit code 1; with debugging() on, into its traceback.

    Anything else is a bug in this project and keeps its traceback.
    """

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except Failure as error:
            if debugging():
                raise
            typer.echo(f"error: {error}", err=True)
            raise typer.Exit(code=1) from None

    return wrapper  # type: ignore[return-value]


def say(message: str) -> None:
    typer.echo(message)
    sys.stdout.flush()


def warn(message: str) -> None:
    typer.secho(message, err=True, fg=typer.colors.YELLOW, bold=True)


def write_bytes(path: Path, data: bytes, check: Callable[[Path], object] | None = None) -> None:
    """Write path whole or not at all: a temp file in the same folder, then a rename. check, if
    given, reads the temp file first; whatever it raises leaves path as it was."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        if check is not None:
            check(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_text(path: Path, text: str) -> None:
    write_bytes(path, text.encode())


@contextlib.contextmanager
def new_folder(path: Path) -> Iterator[Path]:
    """Yield an empty temp folder beside path; on success it replaces path whole.

    On any failure the temp folder is removed and path is left as it was.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()  # not mkdtemp: its folders are private (0700), outputs should not be
    try:
        yield tmp
        old = path.with_name(f".{path.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        if path.exists():
            os.replace(path, old)
        os.replace(tmp, path)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
