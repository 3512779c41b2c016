"""Every command the README shows in a ```sh block, run as written on a fresh copy of the
repository, offline, in the README's order: `make repro` makes the copy's own .venv, and the rest
run with it activated, as the README says to. What a command needs that the README tells the
reader to make is made first (pictures to read, a DVC remote); `kaggle competitions submit` runs
the kaggle package's own command line with its Kaggle address pointed at a local stand-in
(tests/kaggle_server.py) on 127.0.0.1, never at Kaggle. Takes about twenty minutes."""

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.drawn import draw, phone_frame, typed
from tests.kaggle_server import KaggleServer

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
NOT_RUN = {"make test": "this test suite is part of it"}
pytestmark = pytest.mark.slow


KAGGLE_CLI = """
import sys
from kagglesdk.kaggle_env import KaggleEnv, _env_to_endpoint
_env_to_endpoint[KaggleEnv.PROD] = "{endpoint}"
from kaggle.cli import main
sys.argv[0] = "kaggle"
main()
"""


def readme_commands() -> list[str]:
    """The lines of the README's ```sh blocks, comments dropped, in order."""
    lines = [line for block in re.findall(r"```sh\n(.*?)```", README, re.S) for line in block.splitlines()]
    return [re.split(r"\s{2,}# ", line)[0].strip() for line in lines if line.strip()]


def fresh_copy(folder: Path) -> Path:
    """The working tree's files as a fresh clone has them (tracked or new, not ignored), in a
    new git repository whose branch is main."""
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            target = folder / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(source.read_bytes())
            target.chmod(source.stat().st_mode)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=folder, check=True)
    subprocess.run([*git, "add", "-A"], cwd=folder, check=True)
    subprocess.run([*git, "commit", "-qm", "fresh"], cwd=folder, check=True)
    return folder


def test_the_readme_lists_the_commands_this_test_runs():
    commands = readme_commands()
    assert commands[:2] == ["make repro", "make test"]
    assert "dvc exp run -S preset=ensemble" in commands and any(c.startswith("kaggle ") for c in commands)


def test_every_readme_command_runs_on_a_fresh_clone(tmp_path):
    clone = fresh_copy(tmp_path / "digits")
    venv = clone / ".venv"
    home = tmp_path / "home"
    home.mkdir()
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("VIRTUAL_ENV", "KAGGLE_USERNAME", "KAGGLE_KEY", "KAGGLE_CONFIG_DIR")
    }
    system_path = os.pathsep.join(
        p for p in env["PATH"].split(os.pathsep) if Path(sys.executable).parent != Path(p)
    )
    env |= {
        "HOME": str(home),
        "PATH": f"{venv / 'bin'}{os.pathsep}{system_path}",  # as `source .venv/bin/activate` sets it
        "VIRTUAL_ENV": str(venv),
        "KAGGLE_API_TOKEN": "KGAT_0123456789abcdef",
        "COLUMNS": "200",  # the comparing command must fit 200 columns
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
    }

    def run(command: str) -> str:
        result = subprocess.run(
            ["bash", "-c", command], cwd=clone, env=env, capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, f"{command}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        return result.stdout + result.stderr

    # Before anything runs, dvc.lock matches the code and params the clone holds (outputs aside).
    dvc_status = [sys.executable, "-m", "dvc", "status", "--json"]
    status = subprocess.run(dvc_status, cwd=clone, capture_output=True, text=True, check=True)
    stale = [
        f"{stage}: {path} {what}"
        for stage, changes in json.loads(status.stdout or "{}").items()
        for change in changes
        if isinstance(change, dict)
        for kind in ("changed deps", "changed params")
        for path, what in change.get(kind, {}).items()
        if kind == "changed params" or (clone / path).is_file()  # outputs are not in a fresh clone
    ]
    assert not stale, "dvc.lock is stale (run dvc repro and commit it): " + "; ".join(stale)
    ran: dict[str, str] = {}
    with KaggleServer(b"") as kaggle:
        for command in readme_commands():
            if command in NOT_RUN:
                continue
            if command == "digits predict my-seven.jpg drawing.png":  # the reader's own pictures
                typed(7).save(clone / "my-seven.jpg")
                draw(2).save(clone / "drawing.png")
                (clone / "scans").mkdir()
                for digit in (3, 8):
                    phone_frame(digit, seed=digit).save(clone / f"scans/{digit}.png")
            if command.startswith("dvc plots diff main <name>"):
                name = run("dvc exp ls --name-only").split()[0]  # experiments on main, the HEAD
                command = command.replace("<name>", name)
            if command.startswith("kaggle "):  # its command line, with Kaggle's address made the stand-in's
                command = " ".join(
                    ["python", "-c", shlex.quote(KAGGLE_CLI.format(endpoint=kaggle.endpoint)), command[7:]]
                )
            if command == "dvc push --run-cache":  # the README's team section adds this remote first
                run(f"dvc remote add -d shared {tmp_path / 'team-dvc'}")
            ran[command] = run(command)
            if command == "make repro":  # what git sees changed is outputs only
                changed = run("git status --porcelain").splitlines()
                assert all(line[3:].startswith(("dvc.lock", "data/")) for line in changed), changed
        assert "CreateSubmission" in [r.method for r in kaggle.state.received]
    assert "my-seven.jpg: " in ran["digits predict my-seven.jpg drawing.png"]
    assert "is cached - skipping run" in ran["dvc exp run --pull -S preset=ensemble"]
    shown = ran["dvc exp show --only-changed --drop 'Created|.*(f1|loss|train_|test_|member|data/).*'"]
    assert "dev_accuracy" in shown and "train.alpha" in shown
