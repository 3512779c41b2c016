"""evaluate: score the trained weights on train, dev and (offline sample only) the held-back test.

data/metrics.json holds, for each split, `<split>_accuracy`, `<split>_loss` (log loss),
`<split>_macro_f1`, and `<split>_precision` and `<split>_recall` by digit ("0".."9"), which
`dvc metrics show` prints as `dev_precision.3` and so on.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from core import model as M
from core.data import scale_pixels
from core.metrics import accuracy, log_loss, macro_f1, per_class
from core.metrics import confusion as confusion_counts
from stages.common import say, warn, write_text
from stages.download import SAMPLE_WARNING
from stages.preprocess import PROCESSED, load_split
from stages.train import WEIGHTS, load_weights

METRICS = Path("data/metrics.json")
CONFUSION = Path("data/plots/confusion.csv")


def run(
    full_data: bool = False,
    processed: Path = PROCESSED,
    weights: Path = WEIGHTS,
    metrics: Path = METRICS,
    confusion: Path = CONFUSION,
) -> None:
    """Score the weights; with full_data (the dev rows were trained on) there is no dev score."""
    net, params = load_weights(weights)
    scores: dict[str, float | str | dict[str, float]] = {}
    dev_predictions = np.zeros(0, np.int64)
    dev_labels = np.zeros(0, np.uint8)
    data = "custom"
    for split in ("train", "test") if full_data else ("train", "dev", "test"):
        pixels, labels, data = load_split(processed, split)
        if labels is None:
            continue
        probs = M.predict_proba(net, params, scale_pixels(pixels))  # (m, 10)
        predictions = probs.argmax(axis=1)
        scores[f"{split}_accuracy"] = round(accuracy(labels, predictions), 6)
        scores[f"{split}_loss"] = round(log_loss(probs, labels), 6)
        counts = confusion_counts(labels, predictions)
        scores[f"{split}_macro_f1"] = round(macro_f1(counts), 6)
        classes = per_class(counts)
        for name in ("precision", "recall"):
            scores[f"{split}_{name}"] = {str(d): round(float(v), 6) for d, v in enumerate(classes[name])}
        if split == "dev":
            dev_predictions, dev_labels = predictions, labels
    scores["data"] = data
    write_text(metrics, json.dumps(scores, indent=2) + "\n")
    rows = [f"{actual},{predicted}" for actual, predicted in zip(dev_labels, dev_predictions, strict=True)]
    write_text(confusion, "actual,predicted\n" + "\n".join(rows) + "\n")
    say("  ".join(f"{key} {value}" for key, value in scores.items() if not isinstance(value, dict)))
    if full_data:
        warn("train.full_data: the dev rows were trained on, so there is no dev score")
    if data == "offline-sample":
        warn(SAMPLE_WARNING)
