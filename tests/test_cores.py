"""stages/adapters/cores.py: the digits processes on a machine share its cores."""

import os
import subprocess
import sys
import time

from stages.adapters.cores import Share

HOLDER = """
import sys, time
from pathlib import Path
from stages.adapters.cores import Share
share = Share(Path(sys.argv[1]))
share.join()
print("joined", flush=True)
time.sleep(60)
"""


def _holder(folder):
    process = subprocess.Popen([sys.executable, "-c", HOLDER, str(folder)], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "joined"
    return process


def _end(process):
    process.kill()
    process.wait()
    process.stdout.close()


def test_processes_share_the_cores_and_a_killed_ones_share_comes_back(tmp_path):
    share = Share(tmp_path / "cores")
    share.join(cores=4)
    assert share.running() == 1 and share() == 4
    others = [_holder(tmp_path / "cores"), _holder(tmp_path / "cores")]
    try:
        assert share.running() == 3 and share() == 1  # 4 cores among 3: one each, none idle twice over
        _end(others[0])  # SIGKILL: no chance to let go of its file
        assert share.running() == 2 and share() == 2
        assert len(list((tmp_path / "cores").iterdir())) == 2  # the killed one's file is gone
    finally:
        for other in others:
            _end(other)
    assert share() == 4
    share.leave()
    assert not list((tmp_path / "cores").iterdir())


def test_more_processes_than_cores_still_get_one_each(tmp_path):
    share = Share(tmp_path / "cores")
    share.join(cores=1)
    other = _holder(tmp_path / "cores")
    try:
        assert share.running() == 2 and share() == 1
    finally:
        _end(other)
        share.leave()


def test_a_killed_join_is_cleaned_up_and_a_fresh_one_is_left_alone(tmp_path):
    folder = tmp_path / "cores"
    folder.mkdir()
    old, fresh = folder / "123-abc.tmp", folder / "456-def.tmp"
    old.write_text("")
    fresh.write_text("")
    os.utime(old, (time.time() - 3600, time.time() - 3600))
    share = Share(folder)
    share.join(cores=2)
    assert share.running() == 1
    assert not old.exists() and fresh.exists()
    share.leave()


def test_without_a_folder_to_register_in_a_process_counts_as_alone(tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("")
    share = Share(blocked / "cores")  # a folder under a file cannot exist
    share.join(cores=2)
    assert share.running() == 1 and share() == 2
