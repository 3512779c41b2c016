"""The weights files: each member's parameters and the specs that rebuild its model (.npz of arrays,
no pickle), written by train and read by score and predict."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core import inference
from core import model as M
from core.layers import Array
from core.parts import Workers
from core.serialization import load_npz, npz_bytes
from stages.adapters import cores
from stages.adapters.artifacts import member_weights
from stages.adapters.common import Failure, regular_file
from stages.adapters.config import PARAMS


def as_bytes(net: M.Sequential, params: M.ModelParams) -> bytes:
    return npz_bytes(M.to_arrays(net, params))


def read(path: Path, layers: list[str] | None = None, params_file: Path = PARAMS) -> M.Member:
    """The model and parameters a weights file holds; with layers (train.layers from params_file),
    the model must be that one, so that no stage scores or submits weights it did not make."""
    regular_file(path, "no such file: run 'digits train' (or 'dvc repro') first")
    try:
        arrays = load_npz(path)
        net, weights = M.from_arrays(arrays)
    except ValueError as error:
        raise Failure(f"{path}: {error}") from None
    for key, array in arrays.items():
        if array.dtype.kind == "f" and not np.isfinite(array).all():
            raise Failure(
                f"{path}: {key} holds a non-finite number (NaN or infinity), so it is no model: "
                "train it again ('digits train' or 'dvc repro')"
            )
    if layers is not None and list(net.spec) != list(layers):
        raise Failure(
            f"{path}: holds the model [{', '.join(net.spec)}], but 'train.layers' in {params_file} is "
            f"[{', '.join(layers)}]: run 'digits train' (or 'dvc repro') to train it"
        )
    return net, weights


def member_paths(models: Path, seeds: list[int]) -> list[Path]:
    """The weights files of the ensemble train.seeds names, one per seed."""
    return [member_weights(models, seed) for seed in seeds]


def read_members(
    paths: list[Path], layers: list[str] | None = None, params_file: Path = PARAMS
) -> dict[Path, M.Member]:
    """The members in paths, by path, each of train.layers' model (with layers)."""
    return {path: read(path, layers, params_file) for path in paths}


def probabilities(members: dict[Path, M.Member], X: Array, views: inference.Views) -> list[Array]:
    """Each member's class probabilities (core/inference.py) on the process's share of the cores
    (stages/adapters/cores.py); a member whose outputs overflow is a Failure naming its file."""
    with Workers(cores.share) as workers:
        try:
            return inference.probabilities(list(members.values()), X, views, workers.map)
        except inference.Overflow as error:
            path = list(members)[error.member]
            raise Failure(f"{path}: {error}: train it again ('digits train' or 'dvc repro')") from None
