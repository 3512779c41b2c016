"""The real `kaggle` package against a local server (tests/kaggle_server.py): authentication,
download, upload and scoring, and every failure on the way as one line with nothing under data/
changed. The client is pointed at the server through kagglesdk's endpoint table; a conftest
fixture points it at a closed port in every other test, so no test can reach Kaggle."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stages import download
from stages.adapters import kaggle_client
from stages.cli import app
from tests.conftest import write_competition_csvs, write_params
from tests.kaggle_server import Fault, KaggleServer

TOKEN = "KGAT_0123456789abcdef"
runner = CliRunner()


def digits(*args: str):
    return runner.invoke(app, list(args))


def competition_zip(folder: Path) -> bytes:
    """A zip shaped like Kaggle's of small generated CSVs."""
    source = write_competition_csvs(folder, n_test=30)
    rows = "".join(f"{i},0\n" for i in range(1, 31))
    (source / "sample_submission.csv").write_text("ImageId,Label\n" + rows)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zipped:
        for name in download.FILES:
            zipped.write(source / name, name)
    return buffer.getvalue()


@pytest.fixture
def server(tmp_path, monkeypatch):
    """The local server with a competition zip, the client pointed at it, an empty HOME, a
    token in KAGGLE_API_TOKEN, a 1 s request timeout, and cwd a project folder whose params
    say download.source: kaggle. download's checked hashes are the generated files'."""
    from kagglesdk.kaggle_env import KaggleEnv, _env_to_endpoint

    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for name in ("KAGGLE_USERNAME", "KAGGLE_KEY", "KAGGLE_CONFIG_DIR", "KAGGLE_API_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KAGGLE_API_TOKEN", TOKEN)
    monkeypatch.setattr(kaggle_client, "TIMEOUT", 1.0)
    data = competition_zip(tmp_path / "files")
    with zipfile.ZipFile(io.BytesIO(data)) as zipped:
        known = {name: hashlib.sha256(zipped.read(name)).hexdigest() for name in download.FILES}
    monkeypatch.setattr(download, "KNOWN", known)
    project = tmp_path / "project"
    project.mkdir()
    write_params(project, "kaggle")
    monkeypatch.chdir(project)
    with KaggleServer(data) as running:
        monkeypatch.setitem(_env_to_endpoint, KaggleEnv.PROD, running.endpoint)
        yield running


def methods(server) -> list[str]:
    return [r.method for r in server.state.received]


def one_line_failure(result, expected: str) -> None:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert lines[-1].startswith("error: ") and expected in lines[-1], result.output


def data_files(project: Path) -> dict[str, bytes]:
    """Every file under data/ but source.yaml, an input (an empty data/ folder may be left, as
    new_folder makes it)."""
    data = project / "data"
    files = (p for p in sorted(data.rglob("*")) if p.is_file() and p.name != "source.yaml")
    return {str(p.relative_to(data)): p.read_bytes() for p in files}


# authentication


def test_the_token_in_the_environment_is_checked_with_kaggle_then_used(server):
    result = digits("download")
    assert result.exit_code == 0, result.output
    assert methods(server)[-2:] == ["IntrospectToken", "DownloadDataFiles"]
    assert server.state.received[-1].authorization == f"Bearer {TOKEN}"
    assert json.loads(Path("data/raw/source.json").read_text())["source"] == "kaggle"


def test_the_token_in_its_file(server, monkeypatch):
    monkeypatch.delenv("KAGGLE_API_TOKEN")
    (Path.home() / ".kaggle").mkdir()
    (Path.home() / ".kaggle/access_token").write_text("KGAT_fromfile\n")
    assert digits("download").exit_code == 0
    assert server.state.received[-1].authorization == "Bearer KGAT_fromfile"


def test_the_legacy_username_and_key(server, monkeypatch):
    monkeypatch.delenv("KAGGLE_API_TOKEN")
    monkeypatch.setenv("KAGGLE_USERNAME", "alice")
    monkeypatch.setenv("KAGGLE_KEY", "0123")
    assert digits("download").exit_code == 0
    assert server.state.received[-1].authorization.startswith("Basic ")
    assert "IntrospectToken" not in methods(server)


def test_no_credentials_names_the_token_first(server, monkeypatch):
    monkeypatch.delenv("KAGGLE_API_TOKEN")
    result = digits("download")
    one_line_failure(result, "no Kaggle credentials: create an API token")
    assert result.output.index("KAGGLE_API_TOKEN") < result.output.index("kaggle.json")
    assert server.state.received == [] and data_files(Path.cwd()) == {}


@pytest.mark.parametrize("status", [400, 403, 404])
def test_a_token_kaggle_does_not_know_is_named(server, status):
    server.faults["IntrospectToken"] = Fault(status=status, message="token not found")
    one_line_failure(digits("download"), "Kaggle did not accept the access token in KAGGLE_API_TOKEN")


def test_a_token_kaggle_says_is_inactive(server):
    server.state.inactive_token = True
    one_line_failure(digits("download"), "did not accept the access token in KAGGLE_API_TOKEN")


def test_a_rejected_token(server):
    server.faults["IntrospectToken"] = Fault(status=401, message="Unauthenticated")
    one_line_failure(digits("download"), "Kaggle rejected the credentials (401)")


# the network


def test_connection_refused(server, monkeypatch):
    from kagglesdk.kaggle_env import KaggleEnv, _env_to_endpoint

    monkeypatch.setitem(_env_to_endpoint, KaggleEnv.PROD, "http://127.0.0.1:9")  # nothing listens
    one_line_failure(digits("download"), "cannot connect to Kaggle (connection refused)")
    assert data_files(Path.cwd()) == {}


def test_a_name_that_does_not_resolve(server, monkeypatch):
    from kagglesdk.kaggle_env import KaggleEnv, _env_to_endpoint

    monkeypatch.setitem(_env_to_endpoint, KaggleEnv.PROD, "http://kaggle.invalid")  # RFC 2606: never resolves
    one_line_failure(digits("download"), "cannot find Kaggle's address")


@pytest.mark.parametrize("method", ["IntrospectToken", "DownloadDataFiles", "file"])
def test_a_server_that_does_not_answer_times_out(server, method):
    server.faults[method] = Fault(kind="hang")
    one_line_failure(digits("download"), "Kaggle did not answer within 1 s")
    assert data_files(Path.cwd()) == {}


def test_the_timeout_is_the_kaggle_clients_own(server):
    """Kaggle's client gets sessions with a timeout; requests itself, for everyone else, stays as
    it was, even while the client runs."""
    import requests
    from kagglesdk import kaggle_http_client

    send, session = requests.adapters.HTTPAdapter.send, requests.Session
    with kaggle_client._guarded():
        assert requests.adapters.HTTPAdapter.send is send and requests.Session is session
        assert issubclass(kaggle_http_client.requests.Session, session)
        assert kaggle_http_client.requests.Session is not session
    assert kaggle_client.download_competition(Path.cwd()).is_file()  # through those sessions
    assert requests.adapters.HTTPAdapter.send is send and requests.Session is session


# download


@pytest.mark.parametrize(
    ("status", "message", "expected"),
    [
        (
            403,
            "You must accept this competition's rules",
            "accept the competition's rules at https://www.kaggle.com/competitions/digit-recognizer/rules",
        ),
        (404, "Competition not found", "no competition 'digit-recognizer'"),
        (429, "Too many requests", "too many requests (429)"),
        (500, "Internal error", "Kaggle's servers failed (HTTP 500)"),
        (503, "Unavailable", "Kaggle's servers failed (HTTP 503)"),
    ],
)
def test_download_refusals(server, status, message, expected):
    digits("download")
    before = data_files(Path.cwd())
    server.faults["DownloadDataFiles"] = Fault(status=status, message=message)
    one_line_failure(digits("download"), expected)
    assert data_files(Path.cwd()) == before


def test_a_download_cut_short(server):
    server.state.truncate_download = len(server.state.zip_bytes) // 2
    one_line_failure(digits("download"), "Kaggle's digit-recognizer.zip: damaged zip archive")
    assert data_files(Path.cwd()) == {}


def test_a_corrupt_download(server):
    data = bytearray(server.state.zip_bytes)
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as zipped:
        info = zipped.getinfo("train.csv")
    data[info.header_offset + 30 + len("train.csv") + 10] ^= 0xFF  # a byte of train.csv's compressed data
    server.state.zip_bytes = bytes(data)
    one_line_failure(digits("download"), "Kaggle's digit-recognizer.zip: ")
    assert data_files(Path.cwd()) == {}


def test_a_zip_that_is_not_the_competitions(server, monkeypatch):
    monkeypatch.setattr(download, "KNOWN", dict.fromkeys(download.FILES, "0" * 64))
    one_line_failure(digits("download"), "Kaggle's digit-recognizer.zip: train.csv has SHA-256")


# submit


def allow_upload(project: Path, wait: int) -> None:
    """params.yaml with submit.upload: true and submit.wait: wait."""
    params = project / "params.yaml"
    params.write_text(
        params.read_text().replace("upload: false", "upload: true").replace("wait: 0", f"wait: {wait}")
    )


def ready_to_upload(wait: int = 5) -> None:
    allow_upload(Path.cwd(), wait)
    for stage in ("download", "preprocess", "train", "score", "evaluate"):
        result = digits(stage)
        assert result.exit_code == 0, (stage, result.output)


@pytest.fixture
def fast_polls(monkeypatch):
    """score's waits between polls pass at once (the server's own waits are not time.sleep)."""
    score = kaggle_client.score
    monkeypatch.setattr(
        kaggle_client, "score", lambda ref, wait: score(ref, wait, sleep=lambda seconds: None)
    )


def test_submit_uploads_and_records_the_score(server, fast_polls):
    ready_to_upload()
    result = digits("submit")
    assert result.exit_code == 0, result.output
    (uploaded,) = server.state.uploads.values()
    assert uploaded == Path("data/submission.csv").read_bytes()
    ((ref, created),) = server.state.submissions.items()
    message = created["submissionDescription"]
    assert message.startswith("digits ") and "params.yaml sha256:" in message
    assert created["blobFileTokens"] == "blob-1" and created["competitionName"] == "digit-recognizer"
    assert methods(server).count("GetSubmission") == 2  # pending once, then scored
    assert json.loads(Path("data/kaggle.json").read_text()) == {
        "kaggle_status": "complete",
        "kaggle_ref": ref,
        "kaggle_message": message,
        "kaggle_public_score": 0.98123,
    }
    assert "Kaggle's public score: 0.98123" in result.output


def test_a_score_not_ready_within_the_wait_is_pending(server, fast_polls):
    ready_to_upload(wait=20)
    server.state.pending_polls = 1000
    result = digits("submit")
    assert result.exit_code == 0, result.output
    assert json.loads(Path("data/kaggle.json").read_text())["kaggle_status"] == "pending"
    assert methods(server).count("GetSubmission") == 3  # at 0, 10 and 20 s
    assert "kaggle competitions submissions -c digit-recognizer" in result.output


def test_a_submission_kaggle_scores_as_an_error(server, fast_polls):
    ready_to_upload()
    server.state.score = {"status": "ERROR", "errorDescription": "Submission must have 28000 rows"}
    result = digits("submit")
    one_line_failure(result, "Kaggle could not score submission 30000001: Submission must have 28000 rows")
    assert json.loads(Path("data/kaggle.json").read_text())["kaggle_status"] == "error"


@pytest.mark.parametrize(
    ("method", "fault", "expected"),
    [
        ("StartSubmissionUpload", Fault(403, "Rules not accepted"), "accept the competition's rules"),
        ("StartSubmissionUpload", Fault(503, "Unavailable"), "Kaggle's servers failed (HTTP 503)"),
        (
            "CreateSubmission",
            Fault(
                400,
                "Your team has used its daily Submission allowance (5) today, please try again tomorrow UTC",
            ),
            "daily submission limit is used up",
        ),
        ("CreateSubmission", Fault(429, "Too many requests"), "too many requests (429)"),
        ("CreateSubmission", Fault(404, "Competition not found"), "no competition 'digit-recognizer'"),
        ("upload", Fault(500, "upload failed"), "Kaggle did not accept the submission: "),
        ("IntrospectToken", Fault(kind="hang"), "Kaggle did not answer within 1 s"),
    ],
)
def test_a_failed_upload_leaves_the_record_as_it_was(server, fast_polls, method, fault, expected):
    ready_to_upload()
    record = Path("data/kaggle.json")
    record.write_text('{"kaggle_status": "complete", "kaggle_public_score": 0.9}\n')  # an older run's
    before = data_files(Path.cwd())
    server.faults[method] = fault
    one_line_failure(digits("submit"), expected)
    after = data_files(Path.cwd())
    # the submission is written before the upload, and stays: it is what failed to upload
    assert after.pop("submission.csv").startswith(b"ImageId,Label\n")
    assert after == before


def test_reading_the_score_can_fail_after_the_upload(server, fast_polls):
    ready_to_upload()
    server.faults["GetSubmission"] = Fault(500, "Internal error")
    one_line_failure(digits("submit"), "submission 30000001 was uploaded, but reading its score failed")


def test_a_just_made_submission_that_404s_is_asked_again(server, fast_polls):
    ready_to_upload(wait=60)
    server.faults["GetSubmission"] = Fault(404, "Submission not found", times=2)
    result = digits("submit")
    assert result.exit_code == 0, result.output
    assert json.loads(Path("data/kaggle.json").read_text())["kaggle_status"] == "complete"


def test_without_upload_the_client_is_never_used(server):
    for stage in ("download", "preprocess", "train", "score", "evaluate"):
        digits(stage)
    server.state.received.clear()
    result = digits("submit")
    assert result.exit_code == 0, result.output
    assert server.state.received == []
    assert json.loads(Path("data/kaggle.json").read_text()) == {"kaggle_status": "not uploaded"}


def test_not_installed(monkeypatch, tmp_path):
    import sys

    monkeypatch.setitem(sys.modules, "kaggle", None)  # makes `import kaggle...` raise ImportError
    monkeypatch.setitem(sys.modules, "kaggle.api", None)
    monkeypatch.setitem(sys.modules, "kaggle.api.kaggle_api_extended", None)
    with pytest.raises(kaggle_client.Failure, match="'kaggle' package is not installed"):
        kaggle_client.download_competition(tmp_path)


# whole processes: `digits` as a user runs it, and `dvc repro`

REPO = Path(__file__).resolve().parents[1]


def process_env(server, **extra: str) -> dict[str, str]:
    """The environment of a process whose kaggle client talks to server (tests/kaggle_site)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KAGGLE_")}
    env.update(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        PYTHONPATH=str(REPO / "tests/kaggle_site"),
        DIGITS_TEST_KAGGLE_ENDPOINT=server.endpoint,
        DIGITS_TEST_KNOWN_SHA256=json.dumps(download.KNOWN),
        HOME=os.environ["HOME"],
        KAGGLE_API_TOKEN=TOKEN,
    )
    env.update(extra)
    return env


@pytest.mark.parametrize(
    ("endpoint", "expected"),
    [
        ("http://127.0.0.1:9", "error: cannot connect to Kaggle (connection refused)"),
        ("http://kaggle.invalid", "error: cannot find Kaggle's address"),
    ],
)
def test_a_token_and_no_network_is_one_line(server, endpoint, expected):
    env = process_env(server, DIGITS_TEST_KAGGLE_ENDPOINT=endpoint)
    result = subprocess.run(["digits", "download"], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]  # one line
    assert result.stderr.startswith(expected), result.stderr
    assert data_files(Path.cwd()) == {}


def test_dvc_repro_downloads_uploads_and_records_the_score(server, tmp_path):
    repo = Path.cwd()
    for name in ("dvc.yaml", "pyproject.toml"):
        shutil.copy(REPO / name, repo / name)
    for folder in ("core", "stages", "conf"):
        shutil.copytree(REPO / folder, repo / folder, ignore=shutil.ignore_patterns("__pycache__"))
    allow_upload(repo, wait=60)
    server.state.pending_polls = 0
    env = process_env(server)
    for command in (
        ["git", "init", "-q"],
        ["dvc", "init", "-q"],
        ["dvc", "config", "core.analytics", "false"],
    ):
        subprocess.run(command, cwd=repo, env=env, check=True, capture_output=True)
    result = subprocess.run(["dvc", "repro"], cwd=repo, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    stages = re.findall(r"Running stage '([\w@]+)'", result.stdout)
    assert stages == ["download", "preprocess", "train@0", "score@0", "evaluate", "submit"]
    assert "DownloadDataFiles" in methods(server)
    (uploaded,) = server.state.uploads.values()
    assert uploaded == (repo / "data/submission.csv").read_bytes()
    ((ref, created),) = server.state.submissions.items()
    assert json.loads((repo / "data/kaggle.json").read_text()) == {
        "kaggle_status": "complete",
        "kaggle_ref": ref,
        "kaggle_message": created["submissionDescription"],
        "kaggle_public_score": 0.98123,
    }
    assert "Kaggle's public score: 0.98123" in result.stdout + result.stderr
