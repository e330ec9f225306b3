"""Every folder README describes every file in its folder: each file that git
tracks there (and in its subfolders without a README of their own) is named
in the nearest README. A stage folder's notebook, `<stage>/<stage>.ipynb`,
is described once for all stages."""

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ["autograder", "course", "docs", "solutions", "source", "release", "tests"]


def _tracked(folder):
    proc = subprocess.run(["git", "ls-files", "--", folder], cwd=ROOT, capture_output=True,
                          text=True)
    if proc.returncode != 0:
        pytest.skip("not a git checkout")
    return [Path(p) for p in proc.stdout.splitlines()]


def _nearest_readme(path):
    for parent in path.parents:
        if (ROOT / parent / "README.md").exists():
            return parent / "README.md"
    raise AssertionError(f"no README above {path}")


@pytest.mark.parametrize("folder", FOLDERS)
def test_the_readme_names_every_file(folder):
    missing = []
    for path in _tracked(folder):
        if path.name == "README.md":
            continue
        readme = _nearest_readme(path)
        if readme.parent != Path(folder):
            continue  # a subfolder with a README of its own (checked by its own rule)
        text = (ROOT / readme).read_text()
        if path.name == f"{path.parent.name}.ipynb" and "<stage>.ipynb" in text:
            continue
        if path.name not in text:
            missing.append(str(path))
    assert not missing, f"{folder}/README.md does not describe: {missing}"
