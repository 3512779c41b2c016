"""Seed-network training speed: this project against plain float64 NumPy (and PyTorch, if installed).

Trains the seed network (784 -> 10 ReLU -> 10 softmax, full batch, alpha 0.10) on the competition's
41,000 training rows (1,000 held out, as preprocess does), alternating the contenders, and prints
the median wall time of each and the ratios.

    python bench/seed_speed.py [--repeats 3] [--iterations 500] [--train PATH/train.csv.gz]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import plain_seed

from core import model as M
from core.augment import Augment
from core.data import scale_pixels, split_dev
from core.optimizers import Optimizer
from core.train import Schedule, fit

SHARED = Path(__file__).resolve().parents[2] / "shared/data/digit-recognizer/train.csv.gz"


def project(X_rows, y, iterations):
    """As `digits train` runs it: OpenBLAS on one thread per product, the chunks' products on
    threads of its own, one per core."""
    net = M.build(["dense 10", "relu", "dense 10"], "uniform")
    params = M.init(net, np.random.default_rng(0))
    no_dev = (X_rows[:0], y[:0])
    schedule = Schedule(epochs=iterations, batch_size=0, alpha=0.10)
    cores = len(os.sched_getaffinity(0))
    with threadpool_limits(1, user_api="blas"):
        data, optimizer, rng = (X_rows, y, *no_dev), Optimizer("gd"), np.random.default_rng(0)
        fit(net, params, data, schedule, optimizer, Augment(), rng, cores=lambda: cores)
    return lambda X: M.predict_proba(net, params, X).argmax(axis=1)


def plain(X_rows, y, iterations):
    X = (X_rows.astype(np.float64)).T.copy()  # 784 x m, float64, as the plain version keeps it
    params = plain_seed.train(X, y, 0.10, iterations)
    return lambda X_eval: plain_seed.predict(params, X_eval.T.astype(np.float64))


def torch_cpu(X_rows, y, iterations):
    import torch

    torch.manual_seed(0)
    X = torch.from_numpy(X_rows)
    target = torch.from_numpy(y.astype(np.int64))
    net = torch.nn.Sequential(torch.nn.Linear(784, 10), torch.nn.ReLU(), torch.nn.Linear(10, 10))
    optimizer = torch.optim.SGD(net.parameters(), lr=0.10)
    for _ in range(iterations):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(net(X), target).backward()
        optimizer.step()
    return lambda X_eval: net(torch.from_numpy(X_eval)).argmax(dim=1).numpy()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--iterations", type=int, default=500)
    parser.add_argument("--train", type=Path, default=SHARED)
    args = parser.parse_args()
    table = pd.read_csv(args.train, dtype=np.uint8).to_numpy()
    train_rows, dev_rows = split_dev(len(table), 1000, np.random.default_rng(0))
    X, y = scale_pixels(table[train_rows, 1:]), table[train_rows, 0].astype(np.intp)
    X_dev, y_dev = scale_pixels(table[dev_rows, 1:]), table[dev_rows, 0]
    contenders = {"project (float32)": project, "plain NumPy (float64)": plain}
    try:
        import torch

        contenders["PyTorch CPU (float32)"] = torch_cpu
        torch_note = f"torch {torch.__version__}, {torch.get_num_threads()} threads"
    except ImportError:
        torch_note = "PyTorch not installed: pip install torch==2.13.0 (optional extra 'bench')"
    print(
        f"{len(y)} rows, {args.iterations} iterations, {args.repeats} repeats, "
        f"{os.cpu_count()} CPUs, numpy {np.__version__}; {torch_note}"
    )
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for repeat in range(args.repeats):
        for name, train in contenders.items():
            time.sleep(1.0)  # the previous contender's idle threads stop spinning (see train_speed.py)
            started = time.perf_counter()
            predict = train(X, y, args.iterations)
            times[name].append(time.perf_counter() - started)
            accuracy = float(np.mean(predict(X_dev) == y_dev))
            print(f"  repeat {repeat + 1}: {name:24s} {times[name][-1]:6.2f} s  dev accuracy {accuracy:.4f}")
    medians = {name: statistics.median(values) for name, values in times.items()}
    ours = medians["project (float32)"]
    print("\nmedian wall time, and how many times faster the project is:")
    for name, median in medians.items():
        print(f"  {name:24s} {median:6.2f} s   {median / ours:5.2f}x")


if __name__ == "__main__":
    main()
