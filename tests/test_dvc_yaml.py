"""dvc.yaml tells the truth: each stage's deps list exactly the project's code its command runs.

The code a stage runs is found by following imports from its `digits <stage>` command: the
module-level imports of stages/cli.py and those inside the command's function, then every import
of every project module reached, wherever in the module it stands (a lazy import still runs).
"""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("core", "stages")
CLI = ROOT / "stages/cli.py"


def _module_file(name: str) -> Path | None:
    """The project file of a dotted module name, or None for anything outside the project."""
    if name.split(".")[0] not in PACKAGES:
        return None
    path = ROOT.joinpath(*name.split("."))
    if path.with_suffix(".py").is_file():
        return path.with_suffix(".py")
    return path / "__init__.py" if (path / "__init__.py").is_file() else None


def _imported(nodes: list[ast.stmt] | ast.AST) -> set[Path]:
    """The project files that the import statements among nodes (and inside them) load."""
    found: set[Path] = set()
    roots = nodes if isinstance(nodes, list) else [nodes]
    for node in (n for root in roots for n in ast.walk(root)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            # `from stages import csvio` loads the module stages.csvio; `from core.data import X` core.data
            names = [f"{node.module}.{alias.name}" for alias in node.names] + [node.module]
        for name in names:
            path = _module_file(name)
            if path is not None:
                found.add(path)
    return found


def _closure(start: set[Path], seen: set[Path]) -> set[Path]:
    """seen and every project file that start and what they import load, but for seen's imports."""
    seen = set(seen)
    todo = list(start)
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        todo += _imported(ast.parse(path.read_text()))
    return seen


def code_of(command: str) -> set[str]:
    """The project files `digits <command>` runs, relative to the repository, without the
    packages' __init__.py files (which hold only a docstring: test below)."""
    tree = ast.parse(CLI.read_text())
    top = [node for node in tree.body if isinstance(node, ast.Import | ast.ImportFrom)]
    (function,) = [node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == command]
    files = _closure(_imported(top) | _imported(function), seen={CLI})
    return {str(path.relative_to(ROOT)) for path in files if path.name != "__init__.py"}


def listed_code(deps: list[str]) -> set[str]:
    """The Python files of the project among a stage's deps, folders expanded."""
    files: set[str] = set()
    for dep in deps:
        path = ROOT / dep
        if path.is_dir() and dep.split("/")[0] in PACKAGES:
            files |= {str(p.relative_to(ROOT)) for p in path.rglob("*.py") if p.name != "__init__.py"}
        elif path.suffix == ".py":
            files.add(dep)
    return files


STAGES = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]


def body(stage: dict[str, Any]) -> dict[str, Any]:
    """A stage's definition; a foreach stage's is what each of its stages does."""
    return stage.get("do", stage)


def drift(stage: dict[str, Any]) -> tuple[set[str], set[str]]:
    """(code the stage runs that its deps miss, code its deps list that it does not run)."""
    command = str(body(stage)["cmd"]).split()
    assert command[0] == "digits", command  # digits <stage> [options]
    runs, listed = code_of(command[1]), listed_code(list(body(stage)["deps"]))
    return runs - listed, listed - runs


@pytest.mark.parametrize("name", sorted(STAGES))
def test_each_stage_depends_on_exactly_the_code_it_runs(name):
    missing, extra = drift(STAGES[name])
    assert not missing, f"dvc.yaml: stage {name} runs {sorted(missing)} but does not list it in deps"
    assert not extra, f"dvc.yaml: stage {name} lists {sorted(extra)} in deps but does not run it"


def test_the_drift_check_sees_a_missing_and_an_extra_dependency():
    """Negative control: the same check on a train stage with one import dropped from its deps,
    and one module it does not run added."""
    train = dict(body(STAGES["train"]))
    deps = [dep for dep in train["deps"] if dep != "stages/adapters/artifacts.py"] + ["core/images.py"]
    missing, extra = drift({**train, "deps": deps})
    assert missing == {"stages/adapters/artifacts.py"} and extra == {"core/images.py"}


def test_each_member_depends_on_every_train_key_but_the_seeds():
    """So that adding seeds trains only the new members, and any other train key retrains all."""
    from stages.adapters.config import Train

    keys = {f"train.{field.name}" for field in dataclasses.fields(Train)} - {"train.seeds"}
    assert set(body(STAGES["train"])["params"]) == keys
    assert STAGES["train"]["foreach"] == "${train.seeds}"


def test_download_does_not_load_the_network():
    assert not {"core/model.py", "core/conv.py", "core/train.py"} & code_of("download")


def test_the_package_init_files_hold_only_a_docstring():
    for package in PACKAGES:
        body = ast.parse((ROOT / package / "__init__.py").read_text()).body
        assert len(body) == 1 and isinstance(body[0], ast.Expr), package


def test_evaluate_and_submit_average_scores_without_loading_the_network():
    """The members' forward passes run once each, in score@<seed>; the ensemble is a mean."""
    for command in ("evaluate", "submit"):
        assert not {"core/model.py", "core/conv.py", "core/layers.py"} & code_of(command), command
