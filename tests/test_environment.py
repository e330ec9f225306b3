"""The kit's configuration agrees with itself: pyproject.toml and
environment.yml pin the same packages, every top-level folder says what it
holds, and the two README commands exist in the Makefile."""

import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _pyproject_pins():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = {}
    for req in project["dependencies"] + project["optional-dependencies"]["dev"]:
        name, _, version = req.partition("==")
        assert version, f"pyproject.toml: {req!r} is not pinned with =="
        pins[name.lower()] = version
    return pins


def _environment_pins():
    """Parse environment.yml's conda and pip pins (flat YAML, no PyYAML needed)."""
    pins = {}
    for line in (ROOT / "environment.yml").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        m = re.fullmatch(r"-\s*([A-Za-z0-9_.\-]+)\s*(==|=)\s*([^\s=]+)", line)
        if m:
            pins[m.group(1).lower()] = m.group(3)
    return pins


def test_environment_yml_pins_the_same_packages_as_pyproject():
    env = _environment_pins()
    assert env.pop("python") == "3.11"
    assert env == _pyproject_pins()


def test_python_version_agrees():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["requires-python"] == ">=3.11,<3.12"


@pytest.mark.parametrize("folder", ["course", "source", "release", "autograder", "solutions",
                                    "tests"])
def test_every_top_level_folder_has_a_readme(folder):
    text = (ROOT / folder / "README.md").read_text()
    assert text.startswith(f"# {folder}/"), "README must open by naming its folder"


def test_readme_commands_are_make_targets():
    readme = (ROOT / "README.md").read_text()
    makefile = (ROOT / "Makefile").read_text()
    for target in ("demo", "test"):
        assert f"make {target}" in readme
        assert re.search(rf"^{target}:", makefile, re.M), f"no '{target}' target"


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^make test\b", ci, re.M)
