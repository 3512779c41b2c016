"""digits members: an ensemble's members trained side by side, each its own DVC experiment, then
the ensemble assembled with nothing left to train.

    digits members --jobs 2 -S preset=ensemble

1. params.yaml is composed from conf/ with the overrides, as `dvc exp run -S` composes it, and
   `dvc repro preprocess` brings the data up to date, so that no member has to.
2. Each member of train.seeds is queued as an experiment that runs only its own stages,
   `dvc exp run --queue -S 'train.seeds=[<seed>]' score@<seed>` (train@<seed>, then its
   scores), and DVC's queue runs them `jobs` at a time, each in a temporary copy of the
   workspace (`dvc exp run --run-all`). Each member's processes take their share of the cores
   (stages/adapters/cores.py), which never changes their bytes: they are those of the member trained
   alone. Each lands in DVC's run cache.
3. `dvc exp run -S ...` in the workspace finds every train@<seed> and score@<seed> in the run
   cache ("is cached - skipping run"), trains nothing, and averages the members. The members'
   own experiments, which hold no ensemble's metrics, are removed; their outputs stay in the cache.

On a team, each machine runs this for its share of the seeds, then `dvc push --run-cache`; one
machine assembles them all with `dvc exp run --pull` (README, "Working as a team").
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

from stages.adapters import config as C
from stages.adapters.common import Failure, one_line, regular_file, say

STATUS_DONE = "Success"  # what `dvc queue status` says of an experiment that ran through


def run(overrides: list[str], jobs: int, *, params_file: Path = C.PARAMS) -> None:
    root = params_file.resolve().parent
    _compose(root, params_file, overrides)
    seeds = C.load(C.Train, params_file).seeds
    say(f"members {seeds}: {jobs} at a time; first the data, in the workspace")
    _dvc(root, "repro", "preprocess")
    tag = secrets.token_hex(3)
    names = [f"member-{seed}-{tag}" for seed in seeds]
    for seed, name in zip(seeds, names, strict=True):
        # params.yaml is composed already: the member changes only its seeds (no Hydra again)
        only = ["-S", f"train.seeds=[{seed}]", f"score@{seed}"]
        _dvc(root, "exp", "run", "--queue", "--no-hydra", "-n", name, *only)
    _dvc(root, "exp", "run", "--run-all", "--jobs", str(jobs))
    failed = [name for name in names if _status(root, name) != STATUS_DONE]
    if failed:
        raise Failure(
            f"{len(failed)} of {len(names)} members failed: {', '.join(failed)}; see why with "
            f"'dvc queue logs {failed[0]}'"
        )
    say("every member is in the run cache: assembling the ensemble, which trains nothing")
    _dvc(root, "exp", "run", *(arg for override in overrides for arg in ("-S", override)))
    _dvc(root, "exp", "remove", *names)  # from the queue's list too


def _compose(root: Path, params_file: Path, overrides: list[str]) -> None:
    """params.yaml from conf/ and the overrides, as `dvc exp run -S` makes it (DVC's own call), and
    the overrides of other files (`-S data/source.yaml:download.source=...`) applied to them; each
    file written only once every section checks out."""
    from dvc.repo import Repo
    from dvc.utils.hydra import apply_overrides, compose_and_dump

    by_file: dict[Path, list[str]] = {}
    for override in overrides:  # DVC's own split: a file named before the key's first ':'
        file, _, rest = override.rpartition(":") if ":" in override.split("=", 1)[0] else ("", "", override)
        by_file.setdefault(root / file if file else params_file, []).append(rest)
    by_file.setdefault(params_file, [])
    written: list[tuple[Path, Path]] = []
    try:
        with Repo(str(root)) as repo:
            hydra = repo.config.get("hydra", {})
        for target, changes in by_file.items():
            composed = target.with_name(f".{target.name}.{os.getpid()}.tmp")  # beside it: conf/ is found
            written.append((composed, target))
            if target == params_file and hydra.get("enabled", False):
                config_dir = str(root / hydra.get("config_dir", "conf"))
                plugins = str(root / hydra.get("plugins_path", ""))
                name = hydra.get("config_name", "config")
                compose_and_dump(composed, config_dir, None, name, plugins, changes)
            else:
                shutil.copyfile(regular_file(target), composed)
                apply_overrides(composed, changes)
        source = next((tmp for tmp, target in written if target == root / C.SOURCE), root / C.SOURCE)
        C.load(C.Download, source)  # every section checked, as the stages will
        composed = written[[target for _, target in written].index(params_file)][0]
        C.load(C.Preprocess, composed)
        C.load(C.Train, composed)
        C.load(C.Predict, composed)
        C.load(C.Submit, composed)
    except Failure as error:
        message = str(error)
        for tmp, target in written:
            tmp.unlink(missing_ok=True)
            message = message.replace(str(tmp), f"{target} with {' '.join(overrides)}")
        raise Failure(message) from None
    except Exception as error:  # Hydra's and DVC's errors share no base class
        for tmp, _ in written:
            tmp.unlink(missing_ok=True)
        applied = " ".join(overrides) or "no overrides"
        raise Failure(f"{params_file}: cannot apply {applied}: {one_line(error)}") from None
    for tmp, target in written:
        os.replace(tmp, target)


def _dvc(root: Path, *args: str) -> None:
    """Run DVC (this environment's), its output shown as it comes; a Failure if it fails."""
    command = [sys.executable, "-m", "dvc", *args]
    result = subprocess.run(command, cwd=root, env=os.environ, check=False)
    if result.returncode != 0:
        raise Failure(f"'dvc {' '.join(args)}' failed (exit code {result.returncode}); see its output above")


def _status(root: Path, name: str) -> str:
    """What `dvc queue status` says of the experiment name ('' if it does not list it)."""
    command = [sys.executable, "-m", "dvc", "queue", "status"]
    table = subprocess.run(command, cwd=root, capture_output=True, text=True, check=False).stdout
    for line in table.splitlines():
        words = line.split()
        if len(words) >= 2 and words[1] == name:
            return words[-1]
    return ""
