"""Points the kaggle client of every Python process started with this folder on PYTHONPATH at
the test server in DIGITS_TEST_KAGGLE_ENDPOINT (tests/kaggle_server.py), never at Kaggle: for
tests that run `digits` in a subprocess, e.g. under `dvc repro`. DIGITS_TEST_KNOWN_SHA256 gives
download the hashes of the server's zip to check, as the fixture in tests/test_kaggle_client.py
does in-process."""

import os

_endpoint = os.environ.get("DIGITS_TEST_KAGGLE_ENDPOINT")
if _endpoint:
    from kagglesdk.kaggle_env import KaggleEnv, _env_to_endpoint

    _env_to_endpoint[KaggleEnv.PROD] = _endpoint

_known = os.environ.get("DIGITS_TEST_KNOWN_SHA256")
if _known:  # the test server's zip holds small generated files: download checks theirs
    import json

    from stages import download

    download.KNOWN = json.loads(_known)
