"""core/parts.py: parts of a batch on their own threads, meeting to add their sums."""

import threading
import time

import numpy as np
import pytest

from core.parts import Meeting, Workers


def test_every_part_gets_the_total_in_the_parts_order():
    values = [np.array([1e8], np.float32), np.array([1.0], np.float32), np.array([-1e8], np.float32)]
    with Workers(lambda: 3, parts=3) as workers:
        totals = workers.run_parts(3, lambda part, meeting: meeting.total(part, values[part]))
    # (1e8 + 1) rounds to 1e8 in float32, then - 1e8 gives 0: added in order, whoever came first
    assert [t.tolist() for t in totals] == [[0.0], [0.0], [0.0]]


def test_at_most_running_parts_compute_at_once_and_waiting_gives_the_turn_up():
    busy, most = [0], [0]
    lock = threading.Lock()

    def work(part, meeting):
        for _ in range(3):
            with lock:
                busy[0] += 1
                most[0] = max(most[0], busy[0])
            time.sleep(0.01)
            with lock:
                busy[0] -= 1
            meeting.total(part, np.ones(1))  # would deadlock if a waiting part kept its turn
        return part

    with Workers(lambda: 1, parts=4) as workers:
        assert workers.run_parts(4, work) == [0, 1, 2, 3]
    assert most[0] == 1
    with Workers(lambda: 2, parts=4) as workers:
        most[0] = 0
        workers.run_parts(4, work)
    assert most[0] == 2


def test_a_failing_part_raises_its_own_error_and_the_others_do_not_wait_for_it():
    def work(part, meeting):
        if part == 1:
            raise MemoryError("part 1 ran out")
        return meeting.total(part, np.ones(1))

    started = time.perf_counter()
    with Workers(lambda: 2, parts=3) as workers, pytest.raises(MemoryError, match="part 1 ran out"):
        workers.run_parts(3, work)
    assert time.perf_counter() - started < 5


def test_map_keeps_the_items_order_on_any_number_of_threads():
    items = list(range(17))
    for cores in (1, 2, 5, 40):
        with Workers(lambda cores=cores: cores) as workers:
            assert workers.map(lambda x: x * x, items) == [x * x for x in items]
    with Workers(lambda: 4) as workers:
        assert workers.map(lambda x: x, []) == []


def test_a_meeting_of_one_part_is_that_part_alone():
    meeting = Meeting(1, 1)
    assert meeting.total(0, np.array([2.5])).tolist() == [2.5]
