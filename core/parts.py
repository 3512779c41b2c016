"""One mini-batch trained as several parts at once, with the maths of one batch.

Each part runs forward and backward on its own Python thread (NumPy and a one-thread BLAS release
the GIL). Where the maths needs a sum over the whole batch (batch norm's statistics and their
gradients), the parts meet: each hands in its own sum and every part takes the total, added in
the parts' order, so no value depends on which thread comes first. At most `running` parts
compute at once (the cores the process may use): a part waiting for the others gives up its turn,
so the bytes are the same on one core as on many.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

from core.layers import Array

T = TypeVar("T")
A = TypeVar("A")
POOL = 16  # threads kept at least: more than the cores of the machines this trains on


class Meeting:
    """Where the parts of one batch add up their sums; `running` of them compute at a time."""

    def __init__(self, parts: int, running: int) -> None:
        self.parts = parts
        self._barrier = threading.Barrier(parts)
        self._handed: list[Array | None] = [None] * parts
        self._turns = threading.Semaphore(max(1, running))

    def run(self, work: Callable[[int], T], pool: Executor) -> list[T]:
        """work(part) for every part, on pool's threads (at least `parts` of them); the results in
        the parts' order. If a part fails, the others stop at their next meeting, and its error is
        the one raised."""

        def part(i: int) -> T:
            with self._turn():
                try:
                    return work(i)
                except BaseException:
                    self._barrier.abort()  # the others would wait for this part forever
                    raise

        futures = [pool.submit(part, i) for i in range(self.parts)]
        errors = [e for e in (future.exception() for future in futures) if e is not None]
        if errors:
            raise next((e for e in errors if not isinstance(e, threading.BrokenBarrierError)), errors[0])
        return [future.result() for future in futures]

    def total(self, part: int, x: Array) -> Array:
        """The sum of x over all parts, in the parts' order; every part must call it in turn."""
        self._handed[part] = x
        self._turns.release()  # waiting for the others is not computing
        try:
            self._barrier.wait()
            handed = [h for h in self._handed if h is not None]  # all of them, past the barrier
            total = handed[0].copy()
            for more in handed[1:]:
                total += more
            self._barrier.wait()  # every part has read the sums before any hands in its next
        finally:
            self._turns.acquire()
        return total

    @contextmanager
    def _turn(self) -> Iterator[None]:
        self._turns.acquire()
        try:
            yield
        finally:
            self._turns.release()


class Workers:
    """Threads for the work of one process, as many computing at once as `cores()` says when the
    work starts: a pool large enough for every part of a batch, since the parts meet."""

    def __init__(self, cores: Callable[[], int], parts: int = 1) -> None:
        self.cores = cores
        self._pool = ThreadPoolExecutor(max(parts, POOL))

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, *_: object) -> None:
        self._pool.shutdown()

    def map(self, work: Callable[[A], T], items: Sequence[A]) -> list[T]:
        """work(item) for every item, the results in the items' order, on cores() threads that
        each take a contiguous share of the items."""
        running = min(max(1, self.cores()), len(items))
        if running <= 1:
            return [work(item) for item in items]
        bounds = [len(items) * k // running for k in range(running + 1)]
        shares = [items[start:stop] for start, stop in itertools.pairwise(bounds)]
        futures = [self._pool.submit(lambda share: [work(item) for item in share], s) for s in shares]
        return [result for future in futures for result in future.result()]

    def run_parts(self, parts: int, work: Callable[[int, Meeting], T]) -> list[T]:
        """work(part, meeting) for each of `parts` parts that meet (Meeting), on their own threads."""
        meeting = Meeting(parts, self.cores())
        return meeting.run(lambda part: work(part, meeting), self._pool)
