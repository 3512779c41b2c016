"""The weights a preset trains in a few epochs, by the code of a given checkout: run it with two
checkouts (say main and a change) to see whether a change to the code changed what it computes.

Trains member 0 of the preset on the competition's split (as preprocess and `digits train` make
it: OpenBLAS on one thread per product, two cores for the parts) and prints the sha256 of its
weights file and the dev accuracy of each epoch; with --test, it saves the labels it gives
Kaggle's test rows, for comparing row by row.

    python bench/preset_bytes.py ROOT PRESET [--epochs 2] [--test labels.npy]
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from threadpoolctl import threadpool_limits

SHARED = Path(__file__).resolve().parents[2] / "shared/data/digit-recognizer"


def preset(root: Path, name: str) -> dict:
    """The preset's sections, its defaults (another preset) applied first."""
    document = yaml.safe_load((root / "conf/preset" / f"{name}.yaml").read_text())
    merged: dict = {}
    for parent in document.get("defaults", []):
        if parent != "_self_":
            merged = preset(root, parent)
    for section, values in document.items():
        if section != "defaults":
            merged[section] = {**merged.get(section, {}), **values}
    return merged


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("root", type=Path, help="a checkout of this project")
    parser.add_argument("preset")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--test", type=Path, help="save the test rows' labels here")
    args = parser.parse_args()
    sys.path.insert(0, str(args.root.resolve()))
    from core import model as M
    from core.augment import Augment
    from core.data import scale_pixels, split_dev
    from core.optimizers import Optimizer
    from core.serialization import npz_bytes
    from core.train import Schedule, fit

    params = preset(args.root, args.preset)
    t, split = params["train"], params["preprocess"]
    table = pd.read_csv(SHARED / "train.csv.gz", dtype=np.uint8).to_numpy()
    train, dev = split_dev(len(table), split["dev_rows"], np.random.default_rng(split["seed"]))
    data = (
        scale_pixels(table[train, 1:]),
        table[train, 0].astype(np.intp),
        scale_pixels(table[dev, 1:]),
        table[dev, 0].astype(np.intp),
    )
    net = M.build(t["layers"], t["init"])
    rng = np.random.default_rng(0)
    weights = M.init(net, rng)
    schedule = Schedule(
        args.epochs,
        t["batch_size"],
        t["alpha"],
        t["schedule"],
        t["decay"],
        t["patience"],
        t["keep_best"],
        label_smoothing=t["label_smoothing"],
        threads=t["threads"],
    )
    optimizer = Optimizer(t["optimizer"], t["momentum"], weight_decay=t["weight_decay"])
    augment = Augment(t["shift"], t["rotate"], t["zoom"])
    with threadpool_limits(1, user_api="blas"):
        kept, history = fit(net, weights, data, schedule, optimizer, augment, rng, cores=lambda: 2)
    digest = hashlib.sha256(npz_bytes(M.to_arrays(net, kept))).hexdigest()
    print(f"{args.preset}, {args.epochs} epochs, {args.root}: weights sha256 {digest[:16]}")
    print("dev accuracy by epoch:", [round(e.dev_accuracy, 4) for e in history])
    if args.test:
        test = pd.read_csv(SHARED / "test.csv.gz", dtype=np.uint8).to_numpy()
        labels = M.predict_proba(net, kept, scale_pixels(test)).argmax(axis=1)
        np.save(args.test, labels)
        print(f"test labels saved to {args.test}")


if __name__ == "__main__":
    main()
