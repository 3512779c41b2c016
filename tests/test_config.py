import re
from pathlib import Path

import pytest

from stages import config
from stages.common import Failure
from tests.conftest import PARAMS

GOOD = PARAMS.format(source="sample", dev_rows=1000, iterations=500)


def load(tmp_path, text, section=config.Train):
    path = tmp_path / "params.yaml"
    path.write_text(text)
    return config.load(section, path)


def test_the_defaults_load_typed(tmp_path):
    train = load(tmp_path, GOOD)
    assert train.layers == ["dense 10", "relu", "dense 10"] and train.epochs == 500 and train.alpha == 0.5
    assert train.keep_best is False and train.batch_size == 0
    assert load(tmp_path, GOOD.replace("alpha: 0.5", "alpha: 1"), config.Train).alpha == 1.0
    assert load(tmp_path, GOOD, config.Preprocess) == config.Preprocess(dev_rows=1000, seed=0)
    assert load(tmp_path, GOOD, config.Download).source == "sample"


def test_the_repository_params_are_the_seed_network():
    path = Path(__file__).resolve().parents[1] / "params.yaml"
    assert config.load(config.Download, path).source == "sample"
    assert config.load(config.Preprocess, path).dev_rows == 1000
    train = config.load(config.Train, path)
    assert (train.preset, train.layers, train.init, train.optimizer) == (
        "seed",
        ["dense 10", "relu", "dense 10"],
        "uniform",
        "gd",
    )
    assert (train.alpha, train.epochs, train.batch_size, train.seed) == (0.1, 500, 0, 0)
    assert config.load(config.Submit, path).upload is False  # nothing leaves the machine by default


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (GOOD.replace("  zoom: 0.0\n", ""), "missing key 'train.zoom'"),
        (
            GOOD.replace("  seed: 0\nsubmit", "  seed: 0\n  nesterov: true\nsubmit"),
            "unknown key 'train.nesterov' (expected preset, layers, init,",
        ),
        (GOOD + "model: {}\n", "unknown section 'model'"),
        (GOOD.replace("epochs: 500", "epochs: 5.5"), "'train.epochs' must be an integer, found 5.5"),
        (GOOD.replace("epochs: 500", "epochs: true"), "'train.epochs' must be an integer, found True (bool)"),
        (
            GOOD.replace("alpha: 0.5", "alpha: -1"),
            "'train.alpha' must be a finite number above 0, found -1.0",
        ),
        (
            GOOD.replace("alpha: 0.5", "alpha: .inf"),
            "'train.alpha' must be a finite number above 0, found inf",
        ),
        (
            GOOD.replace("alpha: 0.5", "alpha: .nan"),
            "'train.alpha' must be a finite number above 0, found nan",
        ),
        (
            GOOD.replace("keep_best: false", "keep_best: 1"),
            "'train.keep_best' must be true or false, found 1",
        ),
        (
            GOOD.replace("optimizer: gd", "optimizer: rmsprop"),
            "'train.optimizer' must be one of gd, momentum, adam",
        ),
        (GOOD.replace("schedule: constant", "schedule: linear"), "'train.schedule' must be one of constant,"),
        (GOOD.replace("zoom: 0.0", "zoom: 1.0"), "'train.zoom' must be in [0, 1), found 1.0"),
        (GOOD.replace("[dense 10, relu, dense 10]", "dense 10"), "'train.layers' must be a list of strings"),
        (
            GOOD.replace("[dense 10, relu, dense 10]", "[dense 0, relu, dense 10]"),
            "'train.layers' does not describe",
        ),
        (
            GOOD.replace("[dense 10, relu, dense 10]", "[dense 12, relu]"),
            "the last layer must give 10 outputs",
        ),
        (
            GOOD.replace("full_data: false\n  seed: 0", "full_data: false\n  seed: -3"),
            "'train.seed' must be 0 or more, found -3",
        ),
        (
            GOOD.replace("full_data: false", "full_data: true").replace(
                "keep_best: false", "keep_best: true"
            ),
            "'train.full_data' trains on the dev rows too, so 'train.keep_best' and 'train.patience'",
        ),
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


def test_params_yaml_is_the_default_composition_of_conf(tmp_path):
    """dvc exp run composes params.yaml from conf/; the committed one must be what it composes."""
    import yaml
    from dvc.utils.hydra import compose_and_dump

    root = Path(__file__).resolve().parents[1]
    compose_and_dump(tmp_path / "params.yaml", str(root / "conf"), None, "config", str(root), [])
    composed = yaml.safe_load((tmp_path / "params.yaml").read_text())
    assert composed == yaml.safe_load((root / "params.yaml").read_text())


@pytest.mark.parametrize("preset", ["seed", "mlp", "cnn"])
def test_every_preset_loads(tmp_path, preset):
    from dvc.utils.hydra import compose_and_dump

    root = Path(__file__).resolve().parents[1]
    path = tmp_path / "params.yaml"
    compose_and_dump(path, str(root / "conf"), None, "config", str(root), [f"preset={preset}"])
    assert config.load(config.Train, path).preset == preset
    assert config.load(config.Preprocess, path).dev_rows >= (1000 if preset == "seed" else 4000)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            GOOD.replace("upload: false", "upload: 'true'"),
            "'submit.upload' must be true or false, found 'true'",
        ),
        (
            GOOD.replace("wait: 0", "wait: -1"),
            "'submit.wait' must be 0 (do not wait) or more seconds, found -1",
        ),
        (GOOD.replace("  wait: 0\n", ""), "missing key 'submit.wait'"),
    ],
)
def test_bad_submit_params_name_the_key(tmp_path, text, message):
    with pytest.raises(Failure, match=re.escape(message)):
        load(tmp_path, text, config.Submit)
