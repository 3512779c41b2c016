"""evaluate: score the ensemble of train.seeds' members (the mean of their probabilities, which
score wrote) on train, dev and (offline sample only) the held-back test.

data/metrics.json holds what compares runs: for each split, `<split>_accuracy`, `<split>_loss`
(log loss) and `<split>_macro_f1`, and `member_dev_accuracy` by seed, each member's own dev
accuracy. data/per_digit.json, not a DVC metric (twenty columns a split would crowd `dvc exp
show`), holds `<split>_precision` and `<split>_recall` by digit. data/plots/confusion.csv holds
the dev set's actual and predicted labels (DVC's confusion template), data/plots/mistakes.png the
dev digits the model gets most confidently wrong.
"""

from __future__ import annotations

import json

import numpy as np
from numpy.typing import NDArray

from core.ensemble import average
from core.metrics import accuracy, confident_mistakes, log_loss, macro_f1, per_class
from core.metrics import confusion as confusion_counts
from stages.adapters import imageio
from stages.adapters.artifacts import (
    SPLITS,
    WORKSPACE,
    Workspace,
    member_scores,
    read_scores,
    read_split,
)
from stages.adapters.common import say, warn, write_bytes, write_text
from stages.adapters.config import Train

SHOWN = 32  # mistakes in the picture


def run(config: Train, *, where: Workspace = WORKSPACE) -> None:
    """Score the members' mean probabilities; with config.full_data (the dev rows were trained on)
    there is no dev score."""
    processed, scores = where.processed, where.scores
    metrics, per_digit, confusion, mistakes = where.metrics, where.per_digit, where.confusion, where.mistakes
    splits = {split: read_split(processed, split) for split in SPLITS}
    rows = {split: len(loaded.pixels) for split, loaded in splits.items()}
    each = [read_scores(member_scores(scores, seed), rows) for seed in config.seeds]
    results: dict[str, float | str | dict[str, float]] = {}
    digits: dict[str, dict[str, float]] = {}
    dev_predictions = np.zeros(0, np.int64)
    dev_labels = np.zeros(0, np.uint8)
    picture = imageio.mistakes_png(np.zeros((0, 28, 28), np.uint8), [], "No dev set (train.full_data)")
    data = splits["train"].data
    for split in ("train", "test") if config.full_data else SPLITS:
        pixels, labels = splits[split].pixels, splits[split].labels
        if labels is None:  # the competition's test set
            continue
        probs = average([member[split] for member in each])
        predictions = probs.argmax(axis=1)
        results[f"{split}_accuracy"] = round(accuracy(labels, predictions), 6)
        results[f"{split}_loss"] = round(log_loss(probs, labels), 6)
        counts = confusion_counts(labels, predictions)
        results[f"{split}_macro_f1"] = round(macro_f1(counts), 6)
        classes = per_class(counts)
        for name in ("precision", "recall"):
            digits[f"{split}_{name}"] = {str(d): round(float(v), 6) for d, v in enumerate(classes[name])}
        if split == "dev":
            results["member_dev_accuracy"] = {
                str(seed): round(accuracy(labels, member["dev"].argmax(axis=1)), 6)
                for seed, member in zip(config.seeds, each, strict=True)
            }
            dev_predictions, dev_labels = predictions, labels
            picture = _mistakes_picture(pixels, labels, probs)
    results["data"] = data
    write_text(metrics, json.dumps(results, indent=2) + "\n")
    write_text(per_digit, json.dumps(digits, indent=2) + "\n")
    pairs = [f"{actual},{predicted}" for actual, predicted in zip(dev_labels, dev_predictions, strict=True)]
    write_text(confusion, "actual,predicted\n" + "\n".join(pairs) + "\n")
    write_bytes(mistakes, picture)
    say("  ".join(f"{key} {value}" for key, value in results.items() if not isinstance(value, dict)))
    if config.full_data:
        warn("train.full_data: the dev rows were trained on, so there is no dev score")


def _mistakes_picture(
    pixels: NDArray[np.uint8], labels: NDArray[np.uint8], probs: NDArray[np.float32]
) -> bytes:
    shown = confident_mistakes(probs, labels, SHOWN)
    wrong = int((probs.argmax(axis=1) != labels).sum())
    if wrong == 0:
        title = f"No mistakes on the {len(labels):,} dev digits"
    else:
        title = (
            f"The {len(shown)} dev digits the model gets most confidently wrong "
            f"({wrong:,} mistakes in {len(labels):,}): true label, predicted (probability)"
        )
    captions = [f"true {labels[i]}\nsaid {probs[i].argmax()} ({probs[i].max():.2f})" for i in shown]
    return imageio.mistakes_png(pixels[shown].reshape(-1, 28, 28), captions, title)
