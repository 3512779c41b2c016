"""`dvc repro` end to end in a temporary git repo, on generated data."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from tests.conftest import write_competition_csvs, write_params

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def run(cwd, *args, stdout_only=False):
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 0, f"{args}:\n{result.stdout}\n{result.stderr}"
    return result.stdout if stdout_only else result.stdout + result.stderr


def ran(output):
    return re.findall(r"Running stage '([\w@]+)'", output)


@pytest.fixture
def repo(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    for name in ("dvc.yaml", "pyproject.toml", ".gitignore"):
        shutil.copy(ROOT / name, repo / name)
    for folder in ("core", "stages", "conf"):
        shutil.copytree(ROOT / folder, repo / folder, ignore=shutil.ignore_patterns("__pycache__"))
    write_params(repo, str(write_competition_csvs(tmp_path / "csvs")), iterations=20)
    run(repo, "git", "init", "-q")
    run(repo, "dvc", "init", "-q")
    run(repo, "dvc", "config", "core.analytics", "false")
    return repo


def test_repro_runs_once_then_only_what_changed(repo, tmp_path):
    everything = ["download", "preprocess", "train@0", "score@0", "evaluate", "submit"]
    assert ran(run(repo, "dvc", "repro")) == everything
    weights = (repo / "data/model/member-0.npz").read_bytes()
    metrics = json.loads((repo / "data/metrics.json").read_text())
    assert metrics["data"] == "custom" and 0 <= metrics["dev_accuracy"] <= 1
    assert len((repo / "data/submission.csv").read_text().splitlines()) == 31

    second = run(repo, "dvc", "repro")
    assert ran(second) == [] and "up to date" in second

    params = repo / "params.yaml"
    params.write_text(params.read_text().replace("alpha: 0.5", "alpha: 0.2"))
    assert ran(run(repo, "dvc", "repro")) == ["train@0", "score@0", "evaluate", "submit"]
    assert (repo / "data/model/member-0.npz").read_bytes() != weights

    params.write_text(params.read_text().replace("tta: 0.0", "tta: 0.5"))  # re-scores, re-trains nothing
    assert ran(run(repo, "dvc", "repro")) == ["score@0", "evaluate", "submit"]
    params.write_text(params.read_text().replace("rotate: 0.0\nsubmit", "rotate: 8.0\nsubmit"))  # likewise
    assert ran(run(repo, "dvc", "repro")) == ["score@0", "evaluate", "submit"]
    params.write_text(params.read_text().replace("tta: 0.5\n  rotate: 8.0", "tta: 0.0\n  rotate: 0.0"))

    params.write_text(params.read_text().replace("alpha: 0.2", "alpha: 0.5"))
    run(repo, "dvc", "repro", "--force")
    assert (repo / "data/model/member-0.npz").read_bytes() == weights  # same params, same bytes

    other = write_competition_csvs(tmp_path / "other", n_train=150)
    write_params(repo, str(other), iterations=20)
    assert ran(run(repo, "dvc", "repro")) == everything
    assert len((repo / "data/raw/train.csv").read_text().splitlines()) == 151


def test_plots_show_reads_only_the_plots_and_leaves_git_clean(repo):
    run(repo, "dvc", "repro")
    output = run(repo, "dvc", "plots", "show")
    assert "failed to load" not in output and "WARNING" not in output, output
    assert not list((repo / "data/plots").rglob("*/.gitignore"))  # no file DVC would read as a plot
    assert "dvc_plots" not in run(repo, "git", "status", "--porcelain")


def test_a_code_change_re_runs_the_stages_that_run_it_and_dvc_commit_records_a_harmless_one(repo):
    """What dvc.yaml's header promises: code is a dependency module by module."""
    run(repo, "dvc", "repro")
    weights = (repo / "data/model/member-0.npz").read_bytes()
    with open(repo / "core/optimizers.py", "a") as module:  # used by train alone
        module.write("\n# a comment changes no output\n")
    # train re-runs; its weights come out the same, so nothing after it runs again
    assert ran(run(repo, "dvc", "repro")) == ["train@0"]
    assert (repo / "data/model/member-0.npz").read_bytes() == weights
    with open(repo / "core/images.py", "a") as module:  # used by no stage: digits predict only
        module.write("\n# a comment\n")
    assert ran(run(repo, "dvc", "repro")) == []
    with open(repo / "core/metrics.py", "a") as module:  # used by train and evaluate
        module.write("\n# a comment\n")
    assert "changed deps" in run(repo, "dvc", "status")
    run(repo, "dvc", "commit", "--force")  # recorded without re-running
    assert ran(run(repo, "dvc", "repro")) == []


def test_each_member_is_a_stage_of_its_own(repo):
    """Raising the ensemble from 1 to 3 members trains and scores the 2 new ones, 3 to 5 the 2 after
    them; lowering it trains none: evaluate and submit average only the members train.seeds lists."""
    params = repo / "params.yaml"

    def seeds(*values):
        text = params.read_text()
        old = text.split("  seeds: ", 1)[1].split("\n", 1)[0]
        params.write_text(text.replace(f"  seeds: {old}", f"  seeds: {list(values)}"))
        stages = ran(run(repo, "dvc", "repro"))
        assert stages[-2:] == ["evaluate", "submit"], stages
        return set(stages[:-2])

    assert seeds(0) == {"download", "preprocess", "train@0", "score@0"}
    first = (repo / "data/model/member-0.npz").read_bytes()
    assert seeds(0, 1, 2) == {"train@1", "train@2", "score@1", "score@2"}
    assert seeds(0, 1, 2, 3, 4) == {"train@3", "train@4", "score@3", "score@4"}
    assert seeds(0, 1, 2) == set()
    metrics = json.loads((repo / "data/metrics.json").read_text())
    assert set(metrics["member_dev_accuracy"]) == {"0", "1", "2"}
    assert (repo / "data/model/member-0.npz").read_bytes() == first


def _commit_with_hydra(repo, source):
    """Turn on DVC's Hydra composition with download.source set to source, and commit: the
    baseline that dvc exp run starts from."""
    run(repo, "dvc", "config", "hydra.enabled", "true")
    (repo / "data/source.yaml").write_text(f"download:\n  source: {source}\n")
    env = ("-c", "user.name=test", "-c", "user.email=test@example.com")
    run(repo, "git", *env, "add", "-A")
    run(repo, "git", *env, "commit", "-qm", "start")


def test_exp_run_composes_a_preset_and_overrides(repo, tmp_path):
    source = write_competition_csvs(tmp_path / "csvs", n_train=200)
    _commit_with_hydra(repo, source)
    overrides = [
        "-S",
        "preset=mlp",
        "-S",
        "preprocess.dev_rows=40",
        "-S",
        "train.epochs=2",
        "-S",
        "train.alpha=0.002",
        "-S",
        "train.seeds=[0,1]",  # an ensemble of two, as the README writes it
    ]
    output = run(repo, "dvc", "exp", "run", *overrides)
    assert {"train@0", "train@1"} <= set(ran(output))
    params = yaml.safe_load((repo / "params.yaml").read_text())
    assert params["train"]["preset"] == "mlp" and params["train"]["alpha"] == 0.002
    assert params["train"]["seeds"] == [0, 1]
    assert params["train"]["optimizer"] == "adam" and "download" not in params
    metrics = json.loads((repo / "data/metrics.json").read_text())
    assert metrics["data"] == "custom"  # data/source.yaml's, which composing params.yaml left alone
    assert 0 <= metrics["dev_accuracy"] <= 1 and set(metrics["member_dev_accuracy"]) == {"0", "1"}
    shown = json.loads(run(repo, "dvc", "exp", "show", "--json", stdout_only=True))
    assert "mlp" in json.dumps(shown)


@pytest.mark.parametrize("preset", ["seed", "mlp", "cnn", "ensemble"])
def test_every_preset_runs_on_the_offline_sample(repo, preset):
    """A fresh clone's first try: each preset, one epoch, on the 4,000 labelled rows of the
    offline sample, which holds out its own 1,000 dev rows whatever the preset asks for."""
    _commit_with_hydra(repo, "sample")
    output = run(repo, "dvc", "exp", "run", "-S", f"preset={preset}", "-S", "train.epochs=1")
    metrics = json.loads((repo / "data/metrics.json").read_text())
    assert metrics["data"] == "offline-sample" and 0 <= metrics["dev_accuracy"] <= 1
    seeds = yaml.safe_load((repo / "params.yaml").read_text())["train"]["seeds"]
    assert set(metrics["member_dev_accuracy"]) == {str(seed) for seed in seeds}
    dev = np.load(repo / "data/processed/dev.npz")["y"]
    assert len(dev) == 1000
    assert ("1,000 dev rows held out" in output) == (preset != "seed")  # the seed preset asks for 1,000


def test_after_a_failed_exp_run_checking_out_params_and_repro_restore_the_workspace(repo):
    """The README's recovery: a failed `dvc exp run` leaves its params and no outputs; `git
    checkout params.yaml && dvc repro` restores the committed run from DVC's cache."""
    _commit_with_hydra(repo, "sample")
    run(repo, "dvc", "exp", "run")
    env = ("-c", "user.name=test", "-c", "user.email=test@example.com")
    run(repo, "git", *env, "add", "-A")
    run(repo, "git", *env, "commit", "-qm", "first run")
    weights = (repo / "data/model/member-0.npz").read_bytes()
    failed = subprocess.run(
        ["dvc", "exp", "run", "-S", "train.alpha=abc"], cwd=repo, capture_output=True, text=True
    )
    assert failed.returncode != 0 and "'train.alpha' must be a number" in failed.stderr + failed.stdout
    assert not (repo / "data/model/member-0.npz").exists()
    run(repo, "git", "checkout", "params.yaml")
    assert "is cached - skipping run" in run(repo, "dvc", "repro")
    assert (repo / "data/model/member-0.npz").read_bytes() == weights
    assert run(repo, "git", "status", "--porcelain", stdout_only=True) == ""


def test_a_queued_alpha_sweep_runs_on_two_workers_and_every_experiment_has_its_metrics(repo, tmp_path):
    source = write_competition_csvs(tmp_path / "csvs")
    _commit_with_hydra(repo, source)
    alphas = [0.05, 0.1, 0.2, 0.5]
    sweep = "train.alpha=" + ",".join(map(str, alphas))
    queued = run(
        repo,
        "dvc",
        "exp",
        "run",
        "--queue",
        "-S",
        sweep,
        "-S",
        "preprocess.dev_rows=20",
        "-S",
        "train.epochs=20",
    )
    assert queued.count("Queued experiment") == 4
    try:
        # its workers outlive it and would hold a captured pipe open (then run() waits for them,
        # seen once with a worker that stayed after the queue was done): they write to a file
        with open(tmp_path / "queue.log", "w") as log:
            env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
            started = subprocess.run(
                ["dvc", "queue", "start", "-j", "2"], cwd=repo, env=env, stdout=log, stderr=log
            )
        assert started.returncode == 0, (tmp_path / "queue.log").read_text()
        deadline = time.monotonic() + 600
        while re.search(r"\b(Queued|Running)\b", status := run(repo, "dvc", "queue", "status")):
            assert time.monotonic() < deadline, status
            time.sleep(2)
    finally:
        run(repo, "dvc", "queue", "stop", "--kill")
    assert status.count("Success") == 4, status
    shown = json.loads(run(repo, "dvc", "exp", "show", "--json", stdout_only=True))
    experiments = [exp["revs"][0]["data"] for baseline in shown for exp in baseline.get("experiments") or []]
    swept = sorted(data["params"]["params.yaml"]["data"]["train"]["alpha"] for data in experiments)
    assert swept == alphas
    for data in experiments:
        metrics = data["metrics"]["data/metrics.json"]["data"]
        assert 0 <= metrics["dev_accuracy"] <= 1 and "dev_macro_f1" in metrics


def test_a_killed_training_leaves_the_previous_weights_and_repro_recovers(repo):
    run(repo, "dvc", "repro")
    model = repo / "data/model"
    before = (model / "member-0.npz").read_bytes()
    params = repo / "params.yaml"
    params.write_text(params.read_text().replace("epochs: 20", "epochs: 1000000"))  # hours
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    train = subprocess.Popen(
        ["digits", "train"], cwd=repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    for line in train.stdout:  # killed midway: once it has started its epochs
        if line.startswith("epoch "):
            break
    train.kill()  # SIGKILL: no handler, no cleanup runs
    train.wait()
    train.stdout.close()
    assert train.returncode == -signal.SIGKILL
    assert (model / "member-0.npz").read_bytes() == before
    assert not list(model.glob("*.tmp")) and not list(model.glob(".*.tmp"))  # no half-written file
    params.write_text(params.read_text().replace("epochs: 1000000", "epochs: 25"))
    assert ran(run(repo, "dvc", "repro")) == ["train@0", "score@0", "evaluate", "submit"]
    assert (model / "member-0.npz").read_bytes() != before


def test_members_train_side_by_side_and_the_assembling_run_trains_nothing(repo, tmp_path):
    """`digits members`: one queued experiment per member, two at a time; then `dvc exp run`
    restores every member from the run cache, and the members' own experiments are gone. A
    member's bytes are those it has when trained alone."""
    _commit_with_hydra(repo, write_competition_csvs(tmp_path / "csvs", n_train=200))
    overrides = [
        "preset=mlp",
        "preprocess.dev_rows=40",
        "train.epochs=3",
        "train.threads=2",
        "train.seeds=[0,1,2]",
    ]
    output = run(repo, "digits", "members", "-j", "2", *(a for o in overrides for a in ("-S", o)))
    queued, assembling = output.split("assembling the ensemble, which trains nothing")
    assert {f"train@{seed}" for seed in (0, 1, 2)} <= set(ran(queued))
    assert ran(assembling) == ["evaluate", "submit"], assembling
    for seed in (0, 1, 2):
        assert f"Stage 'train@{seed}' is cached - skipping run" in assembling
        assert f"Stage 'score@{seed}' is cached - skipping run" in assembling
    metrics = json.loads((repo / "data/metrics.json").read_text())
    assert set(metrics["member_dev_accuracy"]) == {"0", "1", "2"}
    assert "member-" not in run(repo, "dvc", "exp", "list", stdout_only=True)
    alone = tmp_path / "alone"
    run(repo, "digits", "train", "--seed", "1", "--models", str(alone), "--plots", str(tmp_path / "plots"))
    assert (alone / "member-1.npz").read_bytes() == (repo / "data/model/member-1.npz").read_bytes()


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("train.alpha=abc", "params.yaml with train.alpha=abc: 'train.alpha' must be a number, found 'abc'"),
        ("preset=nothing", "params.yaml: cannot apply preset=nothing: "),
        ("train.nesterov=true", "params.yaml: cannot apply train.nesterov=true: "),
    ],
)
def test_members_refuse_a_bad_override_in_one_line_and_leave_params_alone(repo, tmp_path, override, message):
    _commit_with_hydra(repo, write_competition_csvs(tmp_path / "csvs"))
    before = (repo / "params.yaml").read_bytes()
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run(
        ["digits", "members", "-S", override], cwd=repo, env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 1
    assert result.stderr.startswith(f"error: {message}") and result.stderr.count("\n") == 1, result.stderr
    assert (repo / "params.yaml").read_bytes() == before
    assert not list(repo.glob(".params.yaml.*"))
