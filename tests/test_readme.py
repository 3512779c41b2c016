"""The README cites only files that exist: every project path it names in backticks or in its map
of the code is in the repository (outputs under data/, made by the pipeline, aside)."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
PROJECT = ("core/", "stages/", "tests/", "bench/", "conf/", ".ci/")


def cited() -> set[str]:
    parts = README.split("```")  # prose, a fenced block, prose, ...
    spans = [span for prose in parts[::2] for span in re.findall(r"`([^`]+)`", prose)] + parts[1::2]
    quoted = [word.strip("'\",()") for span in spans for word in span.split()]
    in_map = README.split("## How it is built", 1)[1].split("```")[1]
    folders: list[tuple[int, str]] = []  # (indent, path) of the folders the current line is in
    mapped = set()
    for line in in_map.splitlines():
        word = line.split()[0] if line.strip() else ""
        indent = len(line) - len(line.lstrip())
        while folders and folders[-1][0] >= indent:
            folders.pop()
        folder = folders[-1][1] if folders else ""
        if word.endswith("/"):
            folders.append((indent, folder + word))
        elif folder and re.fullmatch(r"[\w.]+\.py,?", word):
            mapped.add(folder + word.rstrip(","))
    named = {
        path for path in quoted if path.startswith(PROJECT) or re.fullmatch(r"[\w.]+\.(py|yaml|md)", path)
    }
    return named | mapped | {word for word in re.findall(r"[\w.]+\.py", in_map) if "/" not in word}


def test_every_file_the_readme_names_exists():
    names = cited()
    assert "stages/adapters/artifacts.py" in names and "bench/README.md" in names  # the check sees them
    missing = []
    for name in names:
        if "/" in name:
            found = (ROOT / name).exists()
        else:  # a bare file name: somewhere in the project
            found = any(p for p in ROOT.rglob(name) if ".venv" not in p.parts)
        if not found:
            missing.append(name)
    assert not missing, f"README.md cites {sorted(missing)}, which the repository does not hold"


def test_no_file_cites_a_document_the_repository_lacks():
    tracked = [p for p in ROOT.rglob("*") if p.is_file() and not {".git", ".venv"} & set(p.parts)]
    for path in tracked:
        if path.suffix in (".py", ".md", ".yaml", ".toml") and path != Path(__file__):
            assert "DEVELOPERS.md" not in path.read_text(errors="replace"), path
