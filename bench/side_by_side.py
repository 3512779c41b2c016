"""Members side by side: a member's training throughput alone and with others training beside it.

Each run is a fresh process that trains as `digits train` does (the preset's layers, batch size,
augmentation, label smoothing and train.threads, OpenBLAS on one thread per product, its share of
the cores from stages/adapters/cores.py) for a fixed number of batches of real digits, and prints its
samples/s. Per preset, in one run of this script, alternated and repeated:

    alone      one member, with every core the machine gives it (its threads' parts at once)
    one core   one member held to one core
    side by side   --jobs members at once (each process then takes its share: one core each on a
               2-core machine), started together

Then the ensemble's wall time side by side against one after another, scaled from those rates
(members × samples a member trains ÷ throughput: what the measured rates imply, not a timed
ensemble).

    python bench/side_by_side.py [--presets cnn ensemble] [--jobs 2] [--batches 40] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SHARED = ROOT.parent / "shared/data/digit-recognizer/train.csv.gz"
SETTLE = 1.0  # seconds of quiet before each run
WARM_UP = 3  # batches before the clock starts


def preset(name: str) -> dict:
    from dvc.utils.hydra import compose_and_dump

    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "params.yaml"
        compose_and_dump(path, str(ROOT / "conf"), None, "config", str(ROOT), [f"preset={name}"])
        return yaml.safe_load(path.read_text())["train"]


def worker(name: str, pixels: Path, batches: int, one_core: bool) -> None:
    """One member's training in this process, as `digits train` runs it; prints its samples/s."""
    from core import model as M
    from core.augment import Augment
    from core.optimizers import Optimizer
    from core.train import Schedule, fit
    from stages.adapters import cores

    config = preset(name)
    arrays = np.load(pixels)
    rows = config["batch_size"] * (batches + WARM_UP)
    X, y = arrays["X"][:rows], arrays["y"][:rows]
    net = M.build(config["layers"], config["init"])
    rng = np.random.default_rng(0)
    params = M.init(net, rng)
    schedule = Schedule(
        1,
        config["batch_size"],
        config["alpha"],
        label_smoothing=config["label_smoothing"],
        threads=config["threads"],
    )
    optimizer = Optimizer(config["optimizer"], config["momentum"])
    augment = Augment(config["shift"], config["rotate"], config["zoom"])
    with cores.claimed():
        if one_core:
            cores.share.join(cores=1)
        print("ready", flush=True)
        sys.stdin.readline()  # the go: every worker of a run starts together
        clock: list[float] = []

        def on_batch(done: int, total: int) -> None:
            if done == config["batch_size"] * WARM_UP:
                clock.append(time.perf_counter())

        data = (X, y, X[:0], y[:0])
        fit(net, params, data, schedule, optimizer, augment, rng, None, on_batch, cores.share)
        seconds = time.perf_counter() - clock[0]
        print(json.dumps({"samples_per_second": config["batch_size"] * batches / seconds}), flush=True)


def run(name: str, pixels: Path, batches: int, members: int, one_core: bool = False) -> list[float]:
    """Each member's samples/s, `members` processes started together."""
    command = [sys.executable, __file__, "--worker", name, "--pixels", str(pixels), "--batches", str(batches)]
    command += ["--one-core"] if one_core else []
    time.sleep(SETTLE)
    processes = [
        subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for _ in range(members)
    ]
    for process in processes:
        assert process.stdout is not None and process.stdout.readline().strip() == "ready"
    for process in processes:
        assert process.stdin is not None
        process.stdin.write("go\n")
        process.stdin.flush()
    rates = []
    for process in processes:
        out, _ = process.communicate()
        if process.returncode != 0:
            sys.exit(f"a worker failed: {process.returncode}")
        rates.append(json.loads(out.strip().splitlines()[-1])["samples_per_second"])
    return rates


def digits(rows: int) -> Path:
    """The first rows of the competition's train.csv as a temporary .npz, C-ordered pixels / 255."""
    import pandas as pd

    table = pd.read_csv(SHARED, dtype=np.uint8, nrows=rows).to_numpy()
    path = Path(tempfile.mkstemp(suffix=".npz", prefix="digits-bench-")[1])
    X = np.ascontiguousarray(table[:, 1:], dtype=np.float32) * np.float32(1 / 255)
    np.savez(path, X=X, y=table[:, 0].astype(np.intp))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--presets", nargs="+", default=["cnn", "ensemble"])
    parser.add_argument("--jobs", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--batches", type=int, default=40, help="timed batches per run")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--pixels", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--one-core", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.pixels, args.batches, args.one_core)
        return
    if not SHARED.exists():
        sys.exit(f"{SHARED} is missing: this benchmark trains on the competition's digits")
    from stages.adapters import blas

    blas.one_thread_per_product()
    record = blas.fingerprint()
    with Path("/proc/cpuinfo").open() as info:
        cpu = next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), "?")
    print(
        f"{cpu}, {len(os.sched_getaffinity(0))} cores; numpy {record['numpy']}, {record['blas']} "
        f"({record.get('blas_kernels')}); {args.repeats} repeats of {args.batches} batches, medians"
    )
    configs = {name: preset(name) for name in args.presets}
    pixels = digits(max(c["batch_size"] for c in configs.values()) * (args.batches + WARM_UP))
    try:
        for name in args.presets:
            alone, one, beside = [], [], []
            for _ in range(args.repeats):
                alone += run(name, pixels, args.batches, 1)
                one += run(name, pixels, args.batches, 1, one_core=True)
                beside.append(run(name, pixels, args.batches, args.jobs))
            lone, single = statistics.median(alone), statistics.median(one)
            each = statistics.median([rate for rates in beside for rate in rates])
            total = statistics.median([sum(rates) for rates in beside])
            config = configs[name]
            print(
                f"{name} (threads {config['threads']}): alone {lone:,.0f} samples/s, "
                f"on one core {single:,.0f}; "
                f"{args.jobs} side by side {each:,.0f} each, {total:,.0f} together: "
                f"{total / lone:.2f}x a lone member's work, each {each / lone:.2f}x of it"
            )
            members = len(config["seeds"])
            samples = members * config["epochs"] * 37_000
            after = samples / lone
            side = samples / total
            print(
                f"  {members} members of {config['epochs']} epochs on 37,000 rows, scaled from these "
                f"rates: one after another {after / 60:.1f} min, side by side {side / 60:.1f} min "
                f"({side / after:.2f}x)"
            )
    finally:
        pixels.unlink()


if __name__ == "__main__":
    main()
