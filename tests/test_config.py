from pathlib import Path

import pytest

from stages import config
from stages.common import Failure

GOOD = """\
download:
  source: sample
preprocess:
  dev_rows: 1000
  seed: 0
train:
  alpha: 0.1
  iterations: 500
  hidden: 10
  seed: 0
"""


def load(tmp_path, text, section=config.Train):
    path = tmp_path / "params.yaml"
    path.write_text(text)
    return config.load(section, path)


def test_the_defaults_load_typed(tmp_path):
    train = load(tmp_path, GOOD)
    assert train == config.Train(alpha=0.1, iterations=500, hidden=10, seed=0)
    assert load(tmp_path, GOOD.replace("alpha: 0.1", "alpha: 1"), config.Train).alpha == 1.0
    assert load(tmp_path, GOOD, config.Preprocess) == config.Preprocess(dev_rows=1000, seed=0)
    assert load(tmp_path, GOOD, config.Download).source == "sample"


def test_the_repository_params_are_the_seed_network():
    path = Path(__file__).resolve().parents[1] / "params.yaml"
    assert config.load(config.Download, path).source == "sample"
    assert config.load(config.Preprocess, path).dev_rows == 1000
    assert config.load(config.Train, path) == config.Train(alpha=0.1, iterations=500, hidden=10, seed=0)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (GOOD.replace("  hidden: 10\n", ""), "missing key 'train.hidden'"),
        (
            GOOD + "  momentum: 0.9\n",
            "unknown key 'train.momentum' (expected alpha, iterations, hidden, seed)",
        ),
        (GOOD + "model: {}\n", "unknown section 'model'"),
        (
            GOOD.replace("iterations: 500", "iterations: 5.5"),
            "'train.iterations' must be an integer, found 5.5",
        ),
        (
            GOOD.replace("alpha: 0.1", "alpha: -1"),
            "'train.alpha' must be a finite number above 0, found -1.0",
        ),
        (
            GOOD.replace("alpha: 0.1", "alpha: .inf"),
            "'train.alpha' must be a finite number above 0, found inf",
        ),
        (GOOD.replace("  seed: 0\n", "  seed: -3\n"), "'train.seed' must be 0 or more, found -3"),
        ("train: [1, 2]\n", "'train' must be a mapping of its keys, found list"),
        ("train:\n  alpha: [\n", "line 3: not valid YAML"),
        ("- 1\n", "expected a mapping of sections, found list"),
    ],
)
def test_bad_params_name_the_key(tmp_path, text, message):
    with pytest.raises(Failure) as caught:
        load(tmp_path, text)
    assert str(caught.value).startswith(f"{tmp_path / 'params.yaml'}: ")
    assert message in str(caught.value)


def test_a_missing_params_file_says_where_to_run(tmp_path):
    with pytest.raises(Failure, match="no such file"):
        config.load(config.Train, tmp_path / "params.yaml")


def test_dev_rows_must_be_positive(tmp_path):
    with pytest.raises(Failure, match=r"'preprocess\.dev_rows' must be at least 1, found 0"):
        load(tmp_path, GOOD.replace("dev_rows: 1000", "dev_rows: 0"), config.Preprocess)
