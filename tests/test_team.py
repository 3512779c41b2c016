"""The README's "Working as a team", end to end: one git remote, one DVC remote (a folder), and
experiments run on two machines, each a clone with its own home folder.

The competition data sits at the same `~/...` path in every member's data/source.yaml, so params
agree everywhere; a member without the files pulls data/raw from the DVC remote instead.
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from dvc.utils.hydra import compose_and_dump

from tests.conftest import write_competition_csvs

ROOT = Path(__file__).resolve().parents[1]
SOURCE = "~/kaggle/digit-recognizer"  # the same text in everyone's data/source.yaml; each home has its own
pytestmark = pytest.mark.slow
GIT_USER = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.com",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.com",
}


def machine(home: Path):
    """A shell on one member's machine: their home folder, this project's commands on PATH."""
    home.mkdir(parents=True, exist_ok=True)
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    env = {**os.environ, **GIT_USER, "HOME": str(home), "PATH": path}

    def run(cwd: Path, *args: str) -> str:
        """args' output, stdout then stderr; they must succeed."""
        result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, check=False)
        assert result.returncode == 0, f"{args}:\n{result.stdout}\n{result.stderr}"
        return result.stdout + result.stderr

    return run


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def start(tmp_path: Path, n_train: int = 120) -> tuple[Path, Path]:
    """Alice sets the project up: her copy of the data, a bare git remote (origin.git) and a folder
    DVC remote, the baseline run, pushed to both. Returns her clone and origin."""
    origin, storage = tmp_path / "origin.git", tmp_path / "dvc-storage"
    alice = machine(tmp_path / "alice-home")
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(origin)], check=True)
    write_competition_csvs(tmp_path / "alice-home/kaggle/digit-recognizer", n_train=n_train)
    a = tmp_path / "alice"
    a.mkdir()
    for name in ("dvc.yaml", "pyproject.toml", ".dvcignore"):
        shutil.copy(ROOT / name, a / name)
    for folder in ("core", "stages", "conf"):
        shutil.copytree(ROOT / folder, a / folder, ignore=shutil.ignore_patterns("__pycache__"))
    seed = a / "conf/preset/seed.yaml"
    (a / "data").mkdir()
    (a / "data/source.yaml").write_text(f"download:\n  source: {SOURCE}\n")
    seed.write_text(
        seed.read_text().replace("dev_rows: 1000", "dev_rows: 20").replace("epochs: 500", "epochs: 20")
    )
    compose_and_dump(a / "params.yaml", str(a / "conf"), None, "config", str(a), [])  # as dvc exp run does
    alice(a, "git", "init", "-q", "-b", "main")
    alice(a, "dvc", "init", "-q")
    alice(a, "dvc", "config", "core.analytics", "false")
    alice(a, "dvc", "config", "hydra.enabled", "true")
    alice(a, "dvc", "remote", "add", "-d", "shared", str(storage))
    alice(a, "dvc", "repro")
    alice(a, "git", "add", "-A")
    alice(a, "git", "commit", "-qm", "baseline")
    alice(a, "git", "remote", "add", "origin", str(origin))
    alice(a, "git", "push", "-q", "origin", "main")
    alice(a, "dvc", "push")
    return a, origin


def test_two_machines_share_data_and_experiments_through_the_remotes(tmp_path):
    a, origin = start(tmp_path)
    alice, bob = machine(tmp_path / "alice-home"), machine(tmp_path / "bob-home")

    # Bob has no copy of the data: he pulls the outputs, and download is up to date without it.
    b = tmp_path / "bob"
    bob(tmp_path, "git", "clone", "-q", str(origin), str(b))
    assert not (tmp_path / "bob-home/kaggle").exists()
    bob(b, "dvc", "pull")
    assert "up to date" in bob(b, "dvc", "status")
    ran = bob(b, "dvc", "exp", "run", "-n", "bob-alpha", "-S", "train.alpha=0.2")
    assert "Running stage 'train@0'" in ran and "Running stage 'download'" not in ran, ran
    bob_weights = sha256(b / "data/model/member-0.npz")
    bob(b, "dvc", "exp", "push", "origin", "bob-alpha")

    # Alice runs her own, then collects Bob's, compares, applies his and pulls his weights.
    alice(a, "dvc", "exp", "run", "-n", "alice-alpha", "-S", "train.alpha=0.3")
    alice(a, "dvc", "exp", "pull", "origin", "bob-alpha")
    shown = alice(
        a, "dvc", "exp", "show", "--csv", "--no-fetch", "--keep", "Experiment|train.alpha", "--drop", ".*"
    )
    rows = {tuple(line.split(",")) for line in shown.splitlines()}
    assert {("alice-alpha", "0.3"), ("bob-alpha", "0.2")} <= rows, shown
    alice(a, "dvc", "exp", "apply", "bob-alpha")
    alice(a, "dvc", "pull")
    assert sha256(a / "data/model/member-0.npz") == bob_weights
    assert "alpha: 0.2" in (a / "params.yaml").read_text()


def test_members_trained_on_two_machines_are_assembled_on_a_third_with_nothing_trained(tmp_path):
    """README, "Working as a team": Bob and Carol each train their share of an ensemble's members
    with `digits members` and push them with `dvc push --run-cache`; Alice's
    `dvc exp run --pull` finds every member in the run cache, trains nothing, and her weights are
    the trainers' bytes."""
    a, origin = start(tmp_path, n_train=200)
    alice = machine(tmp_path / "alice-home")

    recipe = ["-S", "preset=mlp", "-S", "preprocess.dev_rows=40", "-S", "train.epochs=2"]
    weights = {}
    for name, seeds in (("bob", "[0,1]"), ("carol", "[2,3]")):
        trainer, clone = machine(tmp_path / f"{name}-home"), tmp_path / name
        trainer(tmp_path, "git", "clone", "-q", str(origin), str(clone))
        trainer(clone, "dvc", "pull")
        trainer(clone, "digits", "members", "-j", "2", *recipe, "-S", f"train.seeds={seeds}")
        trainer(clone, "dvc", "push", "--run-cache")
        for seed in json.loads(seeds):  # the same member trained again by hand, outside DVC's queue
            alone = tmp_path / f"{name}-alone"
            trainer(
                clone, "digits", "train", "--seed", str(seed), "--models", str(alone), "--plots", str(alone)
            )
            weights[seed] = sha256(alone / f"member-{seed}.npz")

    assembled = alice(a, "dvc", "exp", "run", "--pull", *recipe, "-S", "train.seeds=[0,1,2,3]")
    assert "Running stage 'train@" not in assembled and "Running stage 'score@" not in assembled, assembled
    for seed in range(4):
        assert f"Stage 'train@{seed}' is cached - skipping run" in assembled
        assert sha256(a / f"data/model/member-{seed}.npz") == weights[seed]
    metrics = json.loads((a / "data/metrics.json").read_text())
    assert set(metrics["member_dev_accuracy"]) == {"0", "1", "2", "3"}
