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


def install_fake(monkeypatch, authenticate=None, download=None):
    """Put a fake `kaggle.api.kaggle_api_extended.KaggleApi` where the import will find it."""

    class KaggleApi:
        def authenticate(self):
            if authenticate:
                authenticate()

        def competition_download_files(self, competition, path, quiet):
            download(competition, path)

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
