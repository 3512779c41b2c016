"""Peak memory (maximum resident set size) of every stage on the competition's data.

Runs download -> preprocess -> train -> score -> evaluate -> submit as `digits <stage>` in a scratch
folder, each in its own process, with params.yaml composed from conf/ and a preset, and reads each
process's peak RSS from the kernel (wait4's rusage, what `/usr/bin/time -v` reports).

    python bench/stage_memory.py [--preset NAME] [--epochs N] [--seeds 0,1,2] [--data PATH.zip]

--epochs shortens training (the peak is reached in the first epoch; later epochs reuse the same
buffers), so the cnn's figures do not take its full training. --seeds makes an ensemble: train then
trains its members one after another in one process, score scores them one after another. --data
defaults to ../shared/data/digit-recognizer/digit-recognizer.zip.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
STAGES = ("download", "preprocess", "train", "score", "evaluate", "submit")
LIMIT_MB = 1536  # issue 5: every stage within 1.5 GB


def compose(preset: str, epochs: int | None, seeds: list[int] | None) -> dict[str, object]:
    """params.yaml as `dvc exp run -S preset=...` composes it from conf/ (DVC's own Hydra call, so
    a preset built on another, as ensemble is on cnn, comes out whole)."""
    from dvc.utils.hydra import compose_and_dump

    overrides = [f"preset={preset}"]
    if epochs is not None:
        overrides.append(f"train.epochs={epochs}")
    if seeds is not None:
        overrides.append(f"train.seeds=[{','.join(map(str, seeds))}]")
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "params.yaml"
        compose_and_dump(path, str(ROOT / "conf"), None, "config", str(ROOT), overrides)
        params: dict[str, object] = yaml.safe_load(path.read_text())
    return params


def peak_mb(command: list[str], cwd: Path) -> tuple[float, float]:
    """(peak RSS in MB, seconds) of one command, which must succeed."""
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    error = process.stderr.read().decode() if process.stderr else ""
    if process.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{error}")
    return usage.ru_maxrss / 1024, time.perf_counter() - started  # ru_maxrss is in KB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    presets = sorted(path.stem for path in (ROOT / "conf/preset").glob("*.yaml"))
    parser.add_argument("--preset", default="seed", choices=presets)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--seeds", type=lambda text: [int(s) for s in text.split(",")], default=None)
    parser.add_argument(
        "--data", default=str(ROOT.parent / "shared/data/digit-recognizer/digit-recognizer.zip")
    )
    args = parser.parse_args()
    digits = str(Path(sys.executable).with_name("digits"))
    with tempfile.TemporaryDirectory(prefix="digits-memory-") as scratch:
        folder = Path(scratch)
        params = compose(args.preset, args.epochs, args.seeds)
        (folder / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        (folder / "data").mkdir(exist_ok=True)
        source = {"download": {"source": str(Path(args.data).resolve())}}
        (folder / "data/source.yaml").write_text(yaml.safe_dump(source))
        epochs = params["train"]["epochs"]  # type: ignore[index]
        seeds = params["train"]["seeds"]  # type: ignore[index]
        print(f"preset {args.preset}, {epochs} epochs, seeds {seeds}, data {args.data}")
        print(f"{'stage':<12}{'peak RSS (MB)':>14}{'seconds':>10}")
        worst = 0.0
        for stage in STAGES:
            peak, seconds = peak_mb([digits, stage], folder)
            worst = max(worst, peak)
            print(f"{stage:<12}{peak:>14,.0f}{seconds:>10.1f}")
        verdict = "within" if worst <= LIMIT_MB else "OVER"
        print(f"largest {worst:,.0f} MB: {verdict} the {LIMIT_MB:,} MB limit")


if __name__ == "__main__":
    main()
