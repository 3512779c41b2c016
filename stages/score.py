"""score: one member's class probabilities for the train, dev and test rows, which evaluate and
submit average over the members (dvc.yaml runs each member's as its own stage, score@<seed>).

The dev and test rows are scored over predict.tta's and predict.rotate's views (each member
averaged over the digit moved that many pixels four ways and turned that many degrees each way);
the train rows as they are: their scores only say how closely the members fit what they learned
from, and test-time augmentation would cost several times as much there. A member is scored
once, in its own process (side by side with others under `digits members`), and growing an
ensemble scores only its new members.
"""

from __future__ import annotations

from pathlib import Path

from core.data import scale_pixels
from core.inference import Views
from stages.adapters import weights as weights_file
from stages.adapters.artifacts import (
    SPLITS,
    WORKSPACE,
    Workspace,
    member_scores,
    member_weights,
    read_split,
    scores_bytes,
)
from stages.adapters.common import Failure, check_writable, say, write_bytes
from stages.adapters.config import PARAMS, Predict, Train


def run(
    config: Train,
    predict: Predict,
    *,
    where: Workspace = WORKSPACE,
    params_file: Path = PARAMS,
    seed: int | None = None,
) -> None:
    """Score the member of the given seed, which train.seeds must list; with none, every member."""
    if seed is not None and seed not in config.seeds:
        raise Failure(f"{params_file}: 'train.seeds' is {config.seeds}: it has no member {seed} to score")
    processed, models, scores = where.processed, where.models, where.scores
    views = Views(predict.tta, predict.rotate)
    splits = {split: read_split(processed, split) for split in SPLITS}
    check_writable(scores)
    for member in config.seeds if seed is None else [seed]:
        path = member_weights(models, member)
        weights = {path: weights_file.read(path, config.layers, params_file)}
        probabilities = {
            split: weights_file.probabilities(
                weights, scale_pixels(loaded.pixels), Views() if split == "train" else views
            )[0]
            for split, loaded in splits.items()
        }
        out = member_scores(scores, member)
        write_bytes(out, scores_bytes(probabilities))
        seen = f", dev and test each over {views}" if str(views) else ""
        say(f"wrote {out}: member {member}'s probabilities for the train, dev and test rows{seen}")
