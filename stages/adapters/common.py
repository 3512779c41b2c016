"""What every stage shares: one-line failures, the files it may read, and atomic outputs."""

from __future__ import annotations

import contextlib
import ctypes
import errno
import functools
import os
import secrets
import shutil
import stat
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import typer

F = TypeVar("F", bound=Callable[..., Any])


class Failure(Exception):
    """A problem the user can fix: reported as one line on stderr, exit code 1, no traceback."""


DEBUG = "DIGITS_DEBUG"  # set (to anything but 0) by `digits --debug`, or by hand for `dvc repro`
_warnings: list[str] = []  # said when the command succeeds: a failure's one line stays alone


def debugging() -> bool:
    return os.environ.get(DEBUG, "") not in ("", "0")


def fail_cleanly(command: F) -> F:
    """Turn Failure into one line on stderr and exit code 1; with debugging() on, into its traceback.

    Ctrl-C is one line too, on a line of its own, and exit code 130 (as a shell reports SIGINT).
    Warnings (warn) wait for the command to succeed. Anything else is a bug in this project and
    keeps its traceback, but for running out of memory, which no input check can foresee entirely.
    """

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        _warnings.clear()
        try:
            result = command(*args, **kwargs)
        except (Failure, MemoryError) as error:
            _warnings.clear()
            if debugging():
                raise
            said = str(error) if isinstance(error, Failure) else "not enough memory for this step"
            for line in said.splitlines():  # one per failure: several inputs may each have one
                typer.echo(f"error: {line}", err=True)
            raise typer.Exit(code=1) from None
        except KeyboardInterrupt:
            _warnings.clear()
            if sys.stdout.isatty():
                sys.stdout.write("\r\033[K")  # the progress bar's unfinished line, under dvc repro too
                sys.stdout.flush()
            typer.echo("error: interrupted (Ctrl-C): no output was left half-written", err=True)
            raise typer.Exit(code=130) from None
        for message in _warnings:
            typer.secho(message, err=True, fg=typer.colors.YELLOW, bold=True)
        _warnings.clear()
        return result

    return wrapper  # type: ignore[return-value]


def one_line(text: object) -> str:
    """text with its line breaks and runs of spaces made single spaces: a message's one line."""
    return " ".join(str(text).split())


def say(message: str) -> None:
    typer.echo(message)
    sys.stdout.flush()


def warn(message: str) -> None:
    """A warning, said on stderr once the command has succeeded."""
    if message not in _warnings:
        _warnings.append(message)


def regular_file(path: Path, missing: str = "no such file") -> Path:
    """path, if it is a regular file (or a link to one): a FIFO or a device given for a file would
    block the reader or never end, and a folder cannot be read as one."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise Failure(f"{path}: {missing}") from None
    except OSError as error:
        raise Failure(f"{path}: cannot read it ({error.strerror or error})") from None
    if stat.S_ISDIR(mode):
        raise Failure(f"{path}: a folder, expected a file")
    if not stat.S_ISREG(mode):
        raise Failure(f"{path}: not a regular file (a FIFO, socket or device), so it is not read")
    return path


# ---- atomic outputs -----------------------------------------------------------------------------
# An output is written under a temp name beside it, `.<name>.<pid>.<random>.tmp`, then renamed over
# it. A run killed before the rename leaves its temp behind; the next write of the same output
# removes every such temp whose process is gone.

_NO_ROOM = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is used up"}
_WRITE_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EFBIG, errno.EIO}
_WRITE_ERRORS |= {errno.EISDIR, errno.ENOTDIR, errno.EEXIST, errno.ENOTEMPTY}


def cannot_write(path: Path, error: OSError, folder: bool = False) -> Failure:
    """A write that failed on path (a file, or with folder a folder to write in), as one line
    saying what to do."""
    reason = error.strerror or str(error)
    if error.errno in (errno.EISDIR, errno.ENOTEMPTY, errno.EEXIST) and path.is_dir() and not folder:
        return Failure(f"{path}: a folder, expected a file to write")
    if error.errno == errno.ENOTDIR:
        return Failure(f"{path}: cannot write it: a file stands where its folder should be")
    if error.errno in _NO_ROOM:
        advice = f"{_NO_ROOM[error.errno]}: free some space, then run again"
    elif error.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        advice = f"make {path if folder else path.parent} writable, then run again"
    else:
        advice = "check the disk, then run again"
    return Failure(f"{path}: cannot write {'in it' if folder else 'it'} ({reason}): {advice}")


@contextlib.contextmanager
def _writing(path: Path) -> Iterator[None]:
    try:
        yield
    except OSError as error:
        if error.errno not in _WRITE_ERRORS:
            raise
        raise cannot_write(path, error) from None


def _temp_for(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return False  # this process makes one temp per write and removes it: an old one is stale
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _clean_stale(path: Path) -> None:
    """Remove the temps of path that killed runs left behind (earlier versions named them
    `.<name>.<pid>.tmp` or `.<name>.<random>.tmp`)."""
    prefix = f".{path.name}."
    with contextlib.suppress(FileNotFoundError):
        for entry in path.parent.iterdir():
            name = entry.name
            if not (name.startswith(prefix) and name.endswith(".tmp")):
                continue
            owner = name[len(prefix) : -len(".tmp")].split(".")[0]
            if not (owner.isdigit() and _alive(int(owner))):
                _remove(entry)


def check_writable(folder: Path) -> None:
    """Fail now, before a long computation, if folder cannot take an output."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = _temp_for(folder / "probe")
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        probe.unlink()
    except OSError as error:
        raise cannot_write(folder, error, folder=True) from None


def write_bytes(path: Path, data: bytes, check: Callable[[Path], object] | None = None) -> None:
    """Write path whole or not at all, with the umask's permissions: a temp file in the same
    folder, then a rename. check, if given, reads the temp file first; whatever it raises leaves
    path as it was."""
    with _writing(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        _clean_stale(path)
        tmp = _temp_for(path)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # not mkstemp: it makes 0600
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            if check is not None:
                check(tmp)
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

    On any failure the temp folder is removed and path is left as it was. The old and the new
    folder swap in one step where the system can (Linux's renameat2), so that readers never find
    path missing; elsewhere a kill between the two renames leaves the old folder as `.<name>.old`,
    which the next run puts back.
    """
    with _writing(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        old = path.with_name(f".{path.name}.old")
        if old.exists() and not path.exists():
            os.replace(old, path)
        _remove(old)
        _clean_stale(path)
        tmp = _temp_for(path)
        tmp.mkdir()  # not mkdtemp: its folders are private (0700), outputs should not be
    try:
        with _writing(path):
            yield tmp
            if not path.exists():
                os.replace(tmp, path)
            elif not _exchange(tmp, path):
                os.replace(path, old)
                os.replace(tmp, path)
    finally:
        if old.exists() and not path.exists():  # the second rename failed: the old folder stays
            os.replace(old, path)
        _remove(tmp)  # after an exchange it holds the old folder
        _remove(old)


_RENAME_EXCHANGE = 2  # linux/fs.h
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Swap a and b atomically; False where the system or the filesystem cannot."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):  # not Linux, or a libc older than glibc 2.28
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    done = renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if done == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):
        return False
    raise OSError(code, os.strerror(code), str(b))
