"""The params loader's typed sections and the presets; every bad params case is in the catalogue,
tests/test_bad_inputs.py, through the stage that reads the key."""

from pathlib import Path

import pytest

from stages.adapters import config
from stages.adapters.common import Failure
from tests.conftest import PARAMS, SOURCE

GOOD = PARAMS.format(dev_rows=1000, iterations=500)


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
    assert load(tmp_path, SOURCE.format(source="~/zip"), config.Download).source == "~/zip"


def test_where_the_data_is_lives_in_its_own_file_only(tmp_path):
    """dvc exp run rewrites params.yaml from conf/: a download section there would be a second place."""
    with pytest.raises(Failure, match=r"section 'download': download.source belongs in data/source.yaml"):
        load(tmp_path, SOURCE.format(source="sample") + GOOD)
    with pytest.raises(Failure, match=r"unknown section 'predict' \(expected download\)"):
        load(tmp_path, SOURCE.format(source="sample") + GOOD, config.Download)


def test_the_repository_params_are_the_seed_network():
    path = Path(__file__).resolve().parents[1] / "params.yaml"
    assert config.load(config.Download, path.parent / config.SOURCE).source == "sample"
    assert config.load(config.Preprocess, path).dev_rows == 1000
    train = config.load(config.Train, path)
    assert (train.preset, train.layers, train.init, train.optimizer) == (
        "seed",
        ["dense 10", "relu", "dense 10"],
        "uniform",
        "gd",
    )
    assert (train.alpha, train.epochs, train.batch_size, train.seeds) == (0.1, 500, 0, [0])
    assert config.load(config.Submit, path).upload is False  # nothing leaves the machine by default


def test_a_missing_params_file_says_where_to_run(tmp_path):
    with pytest.raises(Failure, match="no such file"):
        config.load(config.Train, tmp_path / "params.yaml")


def test_params_yaml_is_the_default_composition_of_conf(tmp_path):
    """dvc exp run composes params.yaml from conf/; the committed one must be what it composes."""
    import yaml
    from dvc.utils.hydra import compose_and_dump

    root = Path(__file__).resolve().parents[1]
    compose_and_dump(tmp_path / "params.yaml", str(root / "conf"), None, "config", str(root), [])
    composed = yaml.safe_load((tmp_path / "params.yaml").read_text())
    assert composed == yaml.safe_load((root / "params.yaml").read_text())


@pytest.mark.parametrize("preset", ["seed", "mlp", "cnn", "ensemble"])
def test_every_preset_loads(tmp_path, preset):
    from dvc.utils.hydra import compose_and_dump

    root = Path(__file__).resolve().parents[1]
    path = tmp_path / "params.yaml"
    compose_and_dump(path, str(root / "conf"), None, "config", str(root), [f"preset={preset}"])
    assert config.load(config.Train, path).preset == preset
    assert config.load(config.Preprocess, path).dev_rows >= (1000 if preset == "seed" else 4000)
