"""This process's share of the machine's cores, among the digits processes running on it.

Every command that runs the network joins while it runs: it holds a lock on a file of its own in
a folder that the user's digits processes share (flock: the kernel lets go of it when the process
ends, however it ends). share() counts the files still locked, its own included, and gives each
process an equal share of the cores it may run on: a member trained alone gets both cores of a
2-core machine, two trained side by side (dvc queue start -j 2, two terminals, two clones) one
each. Training asks before every batch, so a running member gives a core up as soon as another
starts, and takes it back when the other ends. A file that nobody holds a lock on was left by a
killed process and is removed. The share decides speed only: what the threads compute does not
depend on how many there are (core/parts.py).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from stages.adapters import blas

FOLDER = Path(tempfile.gettempdir()) / f"digits-cores-{os.getuid()}"
SUFFIX = ".lock"
STALE = 60.0  # seconds after which a file not yet renamed to SUFFIX is a killed join's


def machine_cores() -> int:
    """The cores this process may run on (its affinity: taskset and cgroups' cpusets count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class Share:
    """share() is how many threads this process may run now; join() first."""

    def __init__(self, folder: Path = FOLDER) -> None:
        self.folder = folder
        self.cores = machine_cores()
        self._mine: Path | None = None
        self._lock: int | None = None  # the descriptor whose flock says this process runs

    def join(self, cores: int | None = None) -> None:
        """Register this process, until leave() or its end, to share `cores` (default: all it may
        run on). Without a folder to register in, the process counts as the only one."""
        self.cores = cores or machine_cores()
        if self._lock is not None:
            return
        with contextlib.suppress(OSError):
            self.folder.mkdir(mode=0o700, exist_ok=True)
            descriptor, name = tempfile.mkstemp(dir=self.folder, prefix=f"{os.getpid()}-", suffix=".tmp")
            fcntl.flock(descriptor, fcntl.LOCK_EX)  # locked before others can see it under SUFFIX
            mine = Path(name).with_suffix(SUFFIX)
            os.rename(name, mine)
            self._lock, self._mine = descriptor, mine

    def __call__(self) -> int:
        return max(1, self.cores // self.running())

    def running(self) -> int:
        """How many registered digits processes are alive, this one included."""
        alive = 1
        with contextlib.suppress(OSError):
            for path in self.folder.iterdir():
                if path == self._mine:
                    continue
                if path.suffix != SUFFIX:  # another's join under way, or a killed one's
                    if time.time() - path.stat().st_mtime > STALE:
                        path.unlink(missing_ok=True)
                elif _held(path):
                    alive += 1
                else:  # left by a process that ended before it could let go of it
                    path.unlink(missing_ok=True)
        return alive

    def leave(self) -> None:
        if self._lock is not None and self._mine is not None:
            self._mine.unlink(missing_ok=True)
            os.close(self._lock)
            self._lock = self._mine = None


def _held(path: Path) -> bool:
    """Whether another process holds path's lock (a file gone meanwhile counts as held: it is
    nobody's to remove)."""
    try:
        descriptor = os.open(path, os.O_RDONLY)
    except OSError:
        return True
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(descriptor)
    return False


share = Share()


@contextlib.contextmanager
def claimed() -> Iterator[None]:
    """For a command that runs the network, while it runs: its BLAS on one thread per product and
    its share of the cores for threads of its own. A BLAS whose threads are not ours to set keeps
    its own, and the process adds none."""
    share.join(None if blas.one_thread_per_product() else 1)
    try:
        yield
    finally:
        share.leave()
