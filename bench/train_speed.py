"""Training throughput of the mlp and cnn presets: this project against PyTorch CPU.

Both train the preset's layers on the same mini-batches of real digits (random pixels if
../shared is absent) with Adam, float32, the same batch size, label smoothing and number of threads, for
a fixed number of steps: forward, loss, backward, update. Augmentation is left out of both (it is
input preparation, not the model). This project trains as the preset does, OpenBLAS on one thread per
product: with `threads: 2` (the cnn), each batch in two parts at once on the two cores; PyTorch on
as many threads as there are cores. Repeats alternate between the two; medians are printed.

    python bench/train_speed.py [--presets mlp cnn] [--steps N] [--repeats 3] [--layers]

--layers also prints, for this project, each layer's forward and backward milliseconds per batch
(medians over the steps): where the time goes.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core import model as M  # noqa: E402
from core.augment import Augment  # noqa: E402
from core.conv import Conv2D  # noqa: E402
from core.layers import Mode  # noqa: E402
from core.losses import softmax_cross_entropy  # noqa: E402
from core.optimizers import Optimizer  # noqa: E402
from core.parts import Workers  # noqa: E402
from core.train import Schedule, _gradients  # noqa: E402
from stages.adapters import blas  # noqa: E402

SHARED = ROOT.parent / "shared/data/digit-recognizer/train.csv.gz"
# Steps per run: a few seconds each. After its last call, each library's idle threads (NumPy's
# OpenBLAS, PyTorch's OpenMP) keep spinning on the cores for a while (~0.1-0.2 s); a run of a
# fraction of a second that starts right after the other library's would share the cores with
# them. So runs are long enough, and each starts after a pause.
STEPS = {"mlp": 600, "cnn": 60}
SETTLE = 1.0  # seconds of pause before each timed run


def preset(name: str) -> dict:
    return yaml.safe_load((ROOT / f"conf/preset/{name}.yaml").read_text())["train"]


def data(rows: int) -> tuple[np.ndarray, np.ndarray]:
    if SHARED.exists():
        import pandas as pd

        table = pd.read_csv(SHARED, dtype=np.uint8, nrows=rows).to_numpy()
        # C order, as training's batches are (pandas hands columns over in Fortran order, and a
        # convolution reading its windows across that layout ran 5 ms slower per batch of 256)
        pixels = np.ascontiguousarray(table[:, 1:] / np.float32(255), dtype=np.float32)
        return pixels, table[:, 0].astype(np.intp)
    rng = np.random.default_rng(0)
    return rng.random((rows, 784), dtype=np.float32), rng.integers(0, 10, rows)


def ours(config: dict, X: np.ndarray, y: np.ndarray, steps: int) -> float:
    rng = np.random.default_rng(0)
    net = M.build(config["layers"], config["init"])
    params = M.init(net, rng)
    optimizer = Optimizer("adam")
    state = optimizer.init(params, net.layers)
    batch, threads = config["batch_size"], config["threads"]
    schedule = Schedule(1, batch, config["alpha"], label_smoothing=config["label_smoothing"], threads=threads)
    with Workers(lambda: len(os.sched_getaffinity(0)), threads) as workers:
        started = time.perf_counter()
        for step in range(steps):
            rows = np.arange(batch) + step * batch % len(X)
            _, _, grads = _gradients(net, params, X[rows], y[rows], schedule, Augment(), rng, workers)
            optimizer.update(params, grads, state, config["alpha"])
        return steps * batch / (time.perf_counter() - started)


def layer_times(config: dict, X: np.ndarray, y: np.ndarray, steps: int) -> None:
    rng = np.random.default_rng(0)
    net = M.build(config["layers"], config["init"])
    params = M.init(net, rng)
    per_layer = params
    mode = Mode(train=True, rng=rng)
    batch = config["batch_size"]
    times = np.zeros((steps, len(net.layers), 2))
    for step in range(steps):
        rows = slice(step * batch % len(X), step * batch % len(X) + batch)
        A = X[rows].reshape(-1, *net.in_shape)
        caches = []
        for k, (layer, p) in enumerate(zip(net.layers, per_layer, strict=True)):
            started = time.perf_counter()
            A, cache = layer.forward(p, A, mode)
            times[step, k, 0] = time.perf_counter() - started
            caches.append(cache)
        _, dA, _ = softmax_cross_entropy(A, y[rows], smoothing=config["label_smoothing"])
        for k in reversed(range(len(net.layers))):
            started = time.perf_counter()
            dX, _ = net.layers[k].backward(per_layer[k], caches[k], dA, k > 0)
            times[step, k, 1] = time.perf_counter() - started
            dA = dX if dX is not None else dA
    medians = np.median(times[min(3, steps - 1) :], axis=0) * 1000
    for spec, (forward, backward) in zip(net.parts, medians, strict=True):
        print(f"  {spec:28s} forward {forward:6.2f} ms  backward {backward:6.2f} ms")
    print(f"  {'all layers':28s} {medians.sum():.1f} ms per batch of {batch}")


def torch_model(spec: list[str]):  # type: ignore[no-untyped-def]
    import torch.nn as nn

    layers, channels, image = [], 1, spec[0].startswith("conv")
    features = 784
    for text in spec:
        kind, *args = text.split()
        if kind == "conv":
            conv = M.parse(text)  # this project's reading of the spec: padding and stride
            assert isinstance(conv, Conv2D)
            layers.append(nn.Conv2d(channels, conv.filters, conv.size, stride=conv.stride, padding=conv.pad))
            channels = conv.filters
        elif kind == "maxpool":
            layers.append(nn.MaxPool2d(int(args[0])))
        elif kind == "relu":
            layers.append(nn.ReLU())
        elif kind == "batchnorm":
            layers.append(nn.BatchNorm2d(channels) if image else nn.BatchNorm1d(features))
        elif kind == "dropout":
            layers.append(nn.Dropout(float(args[0])))
        elif kind == "flatten":
            layers.append(nn.Flatten())
            image = False
        elif kind == "dense":
            layers.append(nn.LazyLinear(int(args[0])))
            features = int(args[0])
    return nn.Sequential(*layers)


def pytorch(config: dict, X: np.ndarray, y: np.ndarray, steps: int) -> float:
    import torch

    torch.manual_seed(0)
    image = config["layers"][0].startswith("conv")
    inputs = torch.from_numpy(X.reshape(-1, 1, 28, 28) if image else X)
    targets = torch.from_numpy(y.astype(np.int64))
    net = torch_model(config["layers"])
    net(inputs[:2])  # materialise the lazy layers
    optimizer = torch.optim.Adam(net.parameters(), lr=config["alpha"])
    batch = config["batch_size"]
    net.train()
    started = time.perf_counter()
    for step in range(steps):
        rows = slice(step * batch % len(X), step * batch % len(X) + batch)
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(
            net(inputs[rows]), targets[rows], label_smoothing=config["label_smoothing"]
        )
        loss.backward()
        optimizer.step()
    return steps * batch / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--presets", nargs="+", default=["mlp", "cnn"])
    parser.add_argument("--steps", type=int, default=None, help="per run (default: mlp 600, cnn 60)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--layers", action="store_true", help="time each layer of this project")
    args = parser.parse_args()
    try:
        import torch
    except ImportError:
        sys.exit("PyTorch is not installed: pip install -e '.[bench]' (torch==2.13.0, CPU)")
    threads = len(os.sched_getaffinity(0))
    torch.set_num_threads(threads)
    blas.one_thread_per_product()  # as every digits command that trains
    source = "competition" if SHARED.exists() else "random"
    print(
        f"numpy {np.__version__}, torch {torch.__version__}, {threads} threads, "
        f"{args.repeats} repeats, data: {source}"
    )
    for name in args.presets:
        config = preset(name)
        steps = args.steps or STEPS.get(name, 60)
        X, y = data(config["batch_size"] * min(steps, 50))
        ours(config, X, y, 3)  # warm up both
        pytorch(config, X, y, 3)
        rates: dict[str, list[float]] = {"project": [], "pytorch": []}
        for _ in range(args.repeats):
            for contender, run in (("project", ours), ("pytorch", pytorch)):
                time.sleep(SETTLE)
                rates[contender].append(run(config, X, y, steps))
        project, torch_rate = (statistics.median(rates[k]) for k in ("project", "pytorch"))
        print(
            f"{name} ({steps} steps): project {project:,.0f} samples/s, PyTorch {torch_rate:,.0f} samples/s, "
            f"ratio {project / torch_rate:.2f}  (runs: {[round(r) for r in rates['project']]} vs "
            f"{[round(r) for r in rates['pytorch']]})"
        )
        if args.layers:
            layer_times(config, X, y, steps)


if __name__ == "__main__":
    main()
