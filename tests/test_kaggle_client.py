"""The kaggle package's boundary, with a stand-in module: no network, no credentials needed."""

import sys
import types
import zipfile

import pytest

from stages import kaggle_client
from stages.common import Failure


class HTTPError(Exception):
    def __init__(self, status):
        super().__init__(f"{status} Client Error")
        self.response = types.SimpleNamespace(status_code=status)


def install_fake(monkeypatch, authenticate=None, download=None, submit=None, get_submission=None):
    """Put a fake `kaggle.api.kaggle_api_extended.KaggleApi` where the import will find it; its
    methods have the real client's signatures (kaggle 2.2) and call the functions given."""

    class KaggleApi:
        def authenticate(self):
            if authenticate:
                authenticate()

        def competition_download_files(self, competition, path, quiet):
            download(competition, path)

        def competition_submit(self, file_name, message, competition, quiet=False, sandbox=False):
            return submit(file_name, message, competition)

        def get_submission(self, submission_ref):
            return get_submission(submission_ref)

    module = types.ModuleType("kaggle.api.kaggle_api_extended")
    module.KaggleApi = KaggleApi
    monkeypatch.setitem(sys.modules, "kaggle", types.ModuleType("kaggle"))
    monkeypatch.setitem(sys.modules, "kaggle.api", types.ModuleType("kaggle.api"))
    monkeypatch.setitem(sys.modules, "kaggle.api.kaggle_api_extended", module)


def test_missing_credentials_exit_becomes_one_line(monkeypatch, tmp_path, capsys):
    def exits():
        print("Please sign in")  # the real client prints help, then calls exit(1)
        raise SystemExit(1)

    install_fake(monkeypatch, authenticate=exits)
    with pytest.raises(Failure, match=r"no Kaggle credentials.*kaggle\.json"):
        kaggle_client.download_competition(tmp_path)
    assert capsys.readouterr().out == ""  # its help text is swallowed, our line says what to do


def test_not_installed(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "kaggle", None)  # makes `import kaggle...` raise ImportError
    with pytest.raises(Failure, match="'kaggle' package is not installed"):
        kaggle_client.download_competition(tmp_path)


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (
            HTTPError(403),
            "accept the competition's rules at https://www.kaggle.com/competitions/digit-recognizer/rules",
        ),
        (HTTPError(401), "rejected the credentials"),
        (HTTPError(429), "too many requests"),
        (ConnectionError("Max retries exceeded"), "cannot reach Kaggle"),
        (OSError("Network is unreachable"), "cannot reach Kaggle"),
        (RuntimeError("odd"), "the Kaggle call failed: RuntimeError: odd"),
    ],
)
def test_download_failures_say_what_to_do(monkeypatch, tmp_path, error, message):
    def fails(competition, path):
        raise error

    install_fake(monkeypatch, download=fails)
    with pytest.raises(Failure, match=message):
        kaggle_client.download_competition(tmp_path)


def test_a_download_returns_the_zip(monkeypatch, tmp_path):
    def writes(competition, path):
        assert competition == "digit-recognizer"
        with zipfile.ZipFile(f"{path}/{competition}.zip", "w") as archive:
            archive.writestr("train.csv", "x")

    install_fake(monkeypatch, download=writes)
    assert kaggle_client.download_competition(tmp_path) == tmp_path / "digit-recognizer.zip"


def test_a_download_that_leaves_nothing_is_reported(monkeypatch, tmp_path):
    install_fake(monkeypatch, download=lambda competition, path: None)
    with pytest.raises(Failure, match=r"left no digit-recognizer\.zip"):
        kaggle_client.download_competition(tmp_path)


def submitted(ref=0, message=""):
    """What competition_submit returns: ApiCreateSubmissionResponse's ref and message."""
    return types.SimpleNamespace(ref=ref, message=message)


def submission(status, public_score=None, error_description=None):
    """What get_submission returns: an ApiSubmission with a SubmissionStatus."""
    return types.SimpleNamespace(
        status=types.SimpleNamespace(name=status),
        public_score=public_score,
        error_description=error_description,
    )


def test_submit_uploads_the_file_with_the_message(monkeypatch, tmp_path):
    calls = []
    install_fake(monkeypatch, submit=lambda *args: calls.append(args) or submitted(ref=4242))
    assert kaggle_client.submit(tmp_path / "submission.csv", "digits abc123 alpha=0.1") == 4242
    assert calls == [(str(tmp_path / "submission.csv"), "digits abc123 alpha=0.1", "digit-recognizer")]


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (HTTPError(403), "accept the competition's rules"),
        (HTTPError(401), "rejected the credentials"),
        (
            Exception(
                "400 Client Error: Submission not allowed: "
                "Your team has used its daily Submission allowance (5) today"
            ),
            "daily submission limit is used up: try again after midnight UTC",
        ),
        (ConnectionError("Max retries exceeded"), "cannot reach Kaggle"),
    ],
)
def test_submit_failures_say_what_to_do(monkeypatch, tmp_path, error, message):
    def fails(*args):
        raise error

    install_fake(monkeypatch, submit=fails)
    with pytest.raises(Failure, match=message):
        kaggle_client.submit(tmp_path / "submission.csv", "m")


def test_submit_without_credentials(monkeypatch, tmp_path):
    install_fake(monkeypatch, authenticate=lambda: sys.exit(1))
    with pytest.raises(Failure, match="no Kaggle credentials"):
        kaggle_client.submit(tmp_path / "submission.csv", "m")


def test_an_upload_the_client_reports_failed_is_a_failure(monkeypatch, tmp_path):
    install_fake(
        monkeypatch, submit=lambda *args: submitted(ref=0, message="Could not submit to competition")
    )
    with pytest.raises(
        Failure, match="Kaggle did not accept the submission: Could not submit to competition"
    ):
        kaggle_client.submit(tmp_path / "submission.csv", "m")


def test_score_waits_until_kaggle_has_scored(monkeypatch):
    answers = iter([HTTPError(404), submission("PENDING"), submission("COMPLETE", "0.99171")])

    def get(ref):
        assert ref == 4242
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer  # just made: not found for a moment
        return answer

    install_fake(monkeypatch, get_submission=get)
    slept = []
    score = kaggle_client.score(4242, wait=60, poll=10, sleep=slept.append)
    assert score == kaggle_client.Score("complete", 0.99171, "")
    assert slept == [10, 10]


def test_score_gives_up_waiting_without_failing(monkeypatch):
    install_fake(monkeypatch, get_submission=lambda ref: submission("PENDING"))
    slept = []
    assert kaggle_client.score(1, wait=25, poll=10, sleep=slept.append).status == "pending"
    assert slept == [10, 10, 5]
    assert kaggle_client.score(1, wait=0, sleep=slept.append).status == "pending"
    assert slept == [10, 10, 5]  # wait 0: asked once, never slept


def test_score_reports_kaggles_error(monkeypatch):
    install_fake(monkeypatch, get_submission=lambda ref: submission("ERROR", error_description="bad header"))
    assert kaggle_client.score(1, wait=0) == kaggle_client.Score("error", None, "bad header")


def test_reading_the_score_can_fail_after_the_upload(monkeypatch):
    def fails(ref):
        raise HTTPError(500)

    install_fake(monkeypatch, get_submission=fails)
    with pytest.raises(
        Failure, match="submission 7 was uploaded, but reading its score failed: Kaggle answered HTTP 500"
    ):
        kaggle_client.score(7, wait=0)
