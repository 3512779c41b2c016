"""params.yaml, one typed and frozen section per stage; and data/source.yaml, where the data is.

The data's place is a file of its own, read by `dvc repro` and `dvc exp run` alike: `dvc exp run`
rewrites params.yaml from conf/ (Hydra), so a value kept there would live in two files.

Each stage loads only its own section; unknown keys, missing keys and wrong types are errors that
name the key. Values are checked where they are used, mostly by core (SettingError), and
setting_failure names their key. The file is read as DVC reads it (ruamel.yaml, YAML 1.2): `1e-3`
is a number, `on` a string, and a key written twice is an error.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from ruamel.yaml import YAML
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import YAMLError

from core.checks import SettingError
from stages.adapters.common import Failure, one_line, regular_file

PARAMS = Path("params.yaml")
SOURCE = Path("data/source.yaml")  # the download section alone
SECTIONS = ("preprocess", "train", "predict", "submit")  # params.yaml's
MAX_TTA = 2.0  # pixels: moved further, a digit's views stop being the digit the model should read
MAX_TURN = 45.0  # degrees: turned further, likewise (a 6 upside down is a 9)
PRESETS = "conf/preset"  # beside params.yaml: the presets dvc exp run composes it from


@dataclass(frozen=True)
class Download:
    source: str  # "sample", "kaggle", a path to digit-recognizer.zip, or a folder of CSVs


@dataclass(frozen=True)
class Preprocess:
    dev_rows: int  # rows held out of train.csv to score the model on
    seed: int  # which rows those are


@dataclass(frozen=True)
class Train:
    preset: str  # the preset these values came from (conf/preset/*.yaml), for the record
    layers: list[str]  # the model, one spec per layer (see core/model.py)
    init: str  # uniform (the seed's U[-0.5, 0.5)) or he
    optimizer: str  # gd, momentum or adam
    alpha: float  # learning rate α
    momentum: float  # momentum's μ, Adam's β1
    weight_decay: float  # L2 penalty λ on weights
    label_smoothing: float  # ε: train towards (1 - ε)·one-hot + ε/10
    schedule: str  # constant, cosine or exponential
    decay: float  # exponential schedule's factor per epoch
    epochs: int  # passes over the data; with full batches, one gradient step each
    batch_size: int  # rows per step; 0 = the full batch
    threads: int  # parts of each batch trained at once on their own threads (core/train.py)
    patience: int  # stop after this many epochs without a better dev accuracy; 0 = never
    keep_best: bool  # keep the best dev epoch's weights rather than the last
    shift: float  # augmentation: random shifts of up to this many pixels
    rotate: float  # augmentation: random rotations of up to this many degrees
    zoom: float  # augmentation: random scaling within 1 ± zoom
    full_data: bool  # also train on the dev rows, for a final submission: no honest dev score
    seeds: list[
        int
    ]  # one model per seed (its initial weights, shuffling, dropout, augmentation); several: an ensemble


@dataclass(frozen=True)
class Predict:
    # test-time augmentation, read by score and predict: each member's probabilities averaged over
    # the image moved tta pixels up, down, left and right, and turned rotate degrees each way;
    # both 0 = the image alone
    tta: float
    rotate: float


@dataclass(frozen=True)
class Submit:
    upload: bool  # upload data/submission.csv to Kaggle after writing it
    wait: int  # seconds to wait for Kaggle's score; 0 = do not wait


S = TypeVar("S", Download, Preprocess, Train, Predict, Submit)


def load(section: type[S], path: Path | None = None) -> S:
    """section from path (by default params.yaml, or data/source.yaml for Download), checked."""
    name = section.__name__.lower()
    expected, home = (("download",), SOURCE) if section is Download else (SECTIONS, Path("conf/config.yaml"))
    path = path or (SOURCE if section is Download else PARAMS)
    document = _read(path)
    if "download" in document and section is not Download:
        raise Failure(f"{path}: unknown section 'download': download.source belongs in {SOURCE}")
    unknown = sorted(set(document) - set(expected), key=str)  # keys may be numbers too
    if unknown:
        raise Failure(f"{path}: unknown section '{unknown[0]}' (expected {', '.join(expected)})")
    if name not in document:
        raise Failure(f"{path}: missing section '{name}' (see {home} for its keys)")
    values = document[name]
    if not isinstance(values, dict):
        raise Failure(f"{path}: '{name}' must be a mapping of its keys, found {_kind(values)}")
    fields = {field.name: field.type for field in dataclasses.fields(section)}
    for key in values:
        if key not in fields:
            raise Failure(f"{path}: unknown key '{name}.{key}' (expected {', '.join(fields)})")
    for key in fields:
        if key not in values:
            raise Failure(f"{path}: missing key '{name}.{key}'")
    for key, kind in fields.items():
        _check_type(path, f"{name}.{key}", values[key], kind)
    typed: dict[str, Any] = {key: float(v) if fields[key] == "float" else v for key, v in values.items()}
    config = section(**typed)
    _check_values(path, config)
    return config


def _read(path: Path) -> dict[str, Any]:
    regular_file(path, "no such file (run from the project's top folder)")
    try:
        text = path.read_text(encoding="utf-8-sig")  # an editor's byte-order mark is no key
    except (OSError, UnicodeDecodeError) as error:
        raise Failure(f"{path}: cannot read ({error})") from None
    try:
        document = YAML(typ="safe").load(text)  # DVC's own parser and settings (dvc.utils.serialize)
    except DuplicateKeyError as error:
        line = error.problem_mark.line + 1 if error.problem_mark else "?"
        raise Failure(
            f"{path}: line {line}: {one_line(error.problem)}: DVC refuses a key written twice; keep one"
        ) from None
    except YAMLError as error:
        mark = getattr(error, "context_mark", None) or getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        problem = one_line(getattr(error, "problem", None) or error)
        raise Failure(f"{path}: {where}not valid YAML ({problem})") from None
    if not isinstance(document, dict):
        raise Failure(f"{path}: expected a mapping of sections, found {_kind(document)}")
    return document


def _kind(value: Any) -> str:
    return "nothing" if value is None else type(value).__name__


def _check_type(path: Path, key: str, value: Any, kind: Any) -> None:
    # bool is an int to Python; in a config it is a mistake for a number.
    ok = {
        "str": isinstance(value, str),
        "int": isinstance(value, int) and not isinstance(value, bool),
        "float": isinstance(value, int | float) and not isinstance(value, bool),
        "bool": isinstance(value, bool),
        "list[str]": isinstance(value, list) and all(isinstance(item, str) for item in value),
        "list[int]": isinstance(value, list)
        and all(isinstance(item, int) and not isinstance(item, bool) for item in value),
    }[kind]
    if not ok:
        expected = {
            "str": "a string",
            "int": "an integer",
            "float": "a number",
            "bool": "true or false",
            "list[str]": "a list of strings",
            "list[int]": "a list of integers",
        }[kind]
        raise Failure(f"{path}: '{key}' must be {expected}, found {value!r} ({_kind(value)})")


def check_views(shift: float, turn: float, shift_name: str, turn_name: str) -> None:
    """A Failure naming the key (or option) of a shift or turn that test-time augmentation does not take."""
    if not 0 <= shift <= MAX_TTA:
        raise Failure(f"{shift_name} must be in [0, {MAX_TTA:g}] pixels (0: no shifts), found {shift!r}")
    if not 0 <= turn <= MAX_TURN:
        raise Failure(f"{turn_name} must be in [0, {MAX_TURN:g}] degrees (0: no turns), found {turn!r}")


def setting_failure(path: Path, section: str, error: SettingError) -> Failure:
    """core's SettingError for a value of section, as one line naming its key in path."""
    return Failure(f"{path}: '{section}.{error.name}' must be {error.expected}, found {error.found!r}")


def _check_values(path: Path, config: Any) -> None:
    """The checks that belong to no single use: a preset the record can name, seeds numpy takes."""

    def bad(key: str, message: str) -> Failure:
        return Failure(f"{path}: '{type(config).__name__.lower()}.{key}' {message}")

    if isinstance(config, Train):
        presets = sorted(file.stem for file in (path.parent / PRESETS).glob("*.yaml"))
        if presets and config.preset not in presets:
            raise bad(
                "preset",
                f"must name a preset in {PRESETS}/ ({', '.join(presets)}), found {config.preset!r}: "
                "switch presets with 'dvc exp run -S preset=NAME'",
            )
    if isinstance(config, Predict):
        check_views(config.tta, config.rotate, f"{path}: 'predict.tta'", f"{path}: 'predict.rotate'")
    if isinstance(config, Preprocess) and config.seed < 0:
        raise bad("seed", f"must be 0 or more, found {config.seed}")
    if isinstance(config, Train) and (
        not config.seeds or min(config.seeds) < 0 or len(set(config.seeds)) < len(config.seeds)
    ):
        raise bad("seeds", f"must be one or more different integers 0 or more, found {config.seeds}")
