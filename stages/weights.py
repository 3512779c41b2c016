"""The weights files: each member's parameters and the specs that rebuild its model (.npz of arrays,
no pickle), written by train and read by evaluate, submit and predict."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core import model as M
from core.augment import shifted_copies
from core.data import N_CLASSES
from core.ensemble import average
from core.layers import Array, Params
from core.parts import Workers
from core.serialization import load_npz, npz_bytes
from stages import cores
from stages.artifacts import member_weights
from stages.common import Failure, regular_file
from stages.config import PARAMS


def as_bytes(net: M.Sequential, params: Params) -> bytes:
    return npz_bytes(M.to_arrays(net, params))


def read(path: Path, layers: list[str] | None = None, params: Path = PARAMS) -> M.Member:
    """The model and parameters a weights file holds; with layers (train.layers from params), the
    model must be that one, so that no stage scores or submits weights params did not make."""
    regular_file(path, "no such file: run 'digits train' (or 'dvc repro') first")
    try:
        net, arrays = M.from_arrays(load_npz(path))
    except ValueError as error:
        raise Failure(f"{path}: {error}") from None
    for key, array in arrays.items():
        if not np.isfinite(array).all():
            raise Failure(
                f"{path}: {key} holds a non-finite number (NaN or infinity), so it is no model: "
                "train it again ('digits train' or 'dvc repro')"
            )
    if layers is not None and list(net.spec) != list(layers):
        raise Failure(
            f"{path}: holds the model [{', '.join(net.spec)}], but 'train.layers' in {params} is "
            f"[{', '.join(layers)}]: run 'digits train' (or 'dvc repro') to train it"
        )
    return net, arrays


def member_paths(models: Path, seeds: list[int]) -> list[Path]:
    """The weights files of the ensemble train.seeds names, one per seed."""
    return [member_weights(models, seed) for seed in seeds]


def read_members(paths: list[Path], layers: list[str] | None = None, params: Path = PARAMS) -> list[M.Member]:
    """The members in paths, each of train.layers' model (with layers)."""
    return [read(path, layers, params) for path in paths]


VIEW_ROWS = 4096  # rows moved at a time for test-time augmentation: its views of 28,000 rows at
# once would take a gigabyte


def probabilities(members: list[M.Member], paths: list[Path], X: Array, tta: float = 0.0) -> list[Array]:
    """Each member's class probabilities (m, 10) for rows X; with tta (predict.tta), averaged over
    X's four copies moved tta pixels. A member whose outputs overflow is a Failure naming its file.
    Chunks of rows run on the process's share of the cores (stages/cores.py), with the same values."""
    with Workers(cores.share) as workers:
        if not tta:
            return [_proba(member, path, X, workers) for member, path in zip(members, paths, strict=True)]
        parts: list[list[Array]] = [[] for _ in members]
        for start in range(0, len(X), VIEW_ROWS):
            views = shifted_copies(X[start : start + VIEW_ROWS], tta)  # made once for all members
            for member, path, part in zip(members, paths, parts, strict=True):
                part.append(average([_proba(member, path, view, workers) for view in views]))
    return [np.concatenate(part) if part else np.zeros((0, N_CLASSES), np.float32) for part in parts]


def _proba(member: M.Member, path: Path, X: Array, workers: Workers) -> Array:
    net, params = member
    try:
        return M.predict_proba(net, params, X, map_chunks=workers.map)
    except FloatingPointError as error:
        raise Failure(f"{path}: {error}: train it again ('digits train' or 'dvc repro')") from None
