"""params.yaml, one typed and frozen section per stage.

Each stage loads only its own section; unknown keys, missing keys and wrong types are errors that
name the key.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml

from stages.common import Failure

PARAMS = Path("params.yaml")
SECTIONS = ("download", "preprocess", "train")


@dataclass(frozen=True)
class Download:
    source: str  # "sample", "kaggle", a path to digit-recognizer.zip, or a folder of CSVs


@dataclass(frozen=True)
class Preprocess:
    dev_rows: int  # rows held out of train.csv to score the model on
    seed: int  # which rows those are


@dataclass(frozen=True)
class Train:
    alpha: float  # learning rate α
    iterations: int  # full-batch gradient-descent steps
    hidden: int  # ReLU units in the hidden layer
    seed: int  # initial weights


S = TypeVar("S", Download, Preprocess, Train)


def load(section: type[S], path: Path = PARAMS) -> S:
    name = section.__name__.lower()
    document = _read(path)
    unknown = sorted(set(document) - set(SECTIONS))
    if unknown:
        raise Failure(f"{path}: unknown section '{unknown[0]}' (expected {', '.join(SECTIONS)})")
    values = document.get(name)
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
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise Failure(f"{path}: no such file (run from the project's top folder)") from None
    except (OSError, UnicodeDecodeError) as error:
        raise Failure(f"{path}: cannot read ({error})") from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        raise Failure(f"{path}: {where}not valid YAML ({getattr(error, 'problem', error)})") from None
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
    }[kind]
    if not ok:
        expected = {"str": "a string", "int": "an integer", "float": "a number"}[kind]
        raise Failure(f"{path}: '{key}' must be {expected}, found {value!r} ({_kind(value)})")


def _check_values(path: Path, config: Any) -> None:
    def bad(key: str, message: str) -> Failure:
        return Failure(f"{path}: '{type(config).__name__.lower()}.{key}' {message}")

    if isinstance(config, Download) and not config.source.strip():
        raise bad("source", "is empty (use 'sample', 'kaggle' or a path)")
    if isinstance(config, Preprocess) and config.dev_rows < 1:
        raise bad("dev_rows", f"must be at least 1, found {config.dev_rows}")
    if isinstance(config, Train):
        if not (math.isfinite(config.alpha) and config.alpha > 0):
            raise bad("alpha", f"must be a finite number above 0, found {config.alpha}")
        if config.iterations < 1:
            raise bad("iterations", f"must be at least 1, found {config.iterations}")
        if config.hidden < 1:
            raise bad("hidden", f"must be at least 1, found {config.hidden}")
    for field in dataclasses.fields(config):
        if field.name == "seed" and config.seed < 0:
            raise bad("seed", f"must be 0 or more, found {config.seed}")
