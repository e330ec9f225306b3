"""Tests of `python -m autograder grade` and `check`: inputs, reports, exit codes,
reproducibility. Stage 1 keeps them fast."""

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import nbformat
import pytest

from autograder.checks import derive_seed
from course.flow import fill_answers, reference_answers
from course.stages import get_stage

ROOT = Path(__file__).resolve().parents[1]
STAGE = get_stage("single_channel")


def _submission(tree, student, answers):
    nb = nbformat.read(ROOT / "release" / STAGE.name / STAGE.notebook, as_version=4)
    fill_answers(nb, answers)
    folder = tree / student / STAGE.name
    folder.mkdir(parents=True)
    nbformat.write(nb, folder / STAGE.notebook)
    return folder / STAGE.notebook


def _run(*args, cwd=ROOT, secret="test-secret"):
    env = dict(os.environ, PYTHONPATH="", CNN1D_GRADER_SECRET=secret)
    return subprocess.run([sys.executable, "-m", "autograder", *args], cwd=cwd,
                          capture_output=True, text=True, env=env)


@pytest.fixture(scope="module")
def graded_tree(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("grade")
    tree = tmp / "submitted"
    _submission(tree, "ada", reference_answers(STAGE))
    _submission(tree, "bob", None)
    proc = _run("grade", str(tree), "--json", str(tmp / "r.json"), "--junit",
                str(tmp / "r.xml"), "--markdown", str(tmp / "r.md"), "--quiet")
    return proc, tmp


def test_grades_a_submitted_tree_with_exit_code_0(graded_tree):
    proc, tmp = graded_tree
    assert proc.returncode == 0, proc.stderr
    data = json.loads((tmp / "r.json").read_text())
    subs = {s["student"]: s for s in data["submissions"]}
    assert set(subs) == {"ada", "bob"}
    assert subs["ada"]["score"] == subs["ada"]["max_score"] == STAGE.max_score
    assert subs["bob"]["score"] == 0.0 and subs["bob"]["assignment"] == STAGE.name
    for check in subs["bob"]["checks"]:
        assert set(check) >= {"id", "points", "max_points", "passed", "message"}
        assert not check["passed"] and "not implemented yet" in check["message"]


def test_junit_and_markdown_reports(graded_tree):
    _, tmp = graded_tree
    suites = ET.parse(tmp / "r.xml").getroot()
    cases = suites.findall(".//testcase")
    assert len(cases) == 2 * len(STAGE.checks)
    failures = suites.findall(".//failure")
    assert len(failures) == len(STAGE.checks)  # bob's
    md = (tmp / "r.md").read_text()
    assert "| ada | single\\_channel | 10 / 10 |" in md and "## Failed checks" in md


def test_regrade_is_identical_and_seeds_depend_on_student_and_secret(tmp_path):
    path = _submission(tmp_path, "cy", reference_answers(STAGE))
    first = _run("grade", str(path), "--json", str(tmp_path / "a.json"), "--quiet")
    second = _run("grade", str(path), "--json", str(tmp_path / "b.json"), "--quiet")
    assert first.returncode == second.returncode == 0
    assert (tmp_path / "a.json").read_text() == (tmp_path / "b.json").read_text()
    seed = derive_seed("single_channel.forward", "cy", "s1")
    assert seed == derive_seed("single_channel.forward", "cy", "s1")
    assert seed != derive_seed("single_channel.forward", "dee", "s1")
    assert seed != derive_seed("single_channel.forward", "cy", "s2")
    assert seed != derive_seed("single_channel.backward_dx", "cy", "s1")
    # and on the submission's code: another submission sees other inputs
    assert seed != derive_seed("single_channel.forward", "cy", "s1", digest="abc")


def test_no_secret_is_a_configuration_error(tmp_path):
    path = _submission(tmp_path, "cy", reference_answers(STAGE))
    proc = _run("grade", str(path), secret="")
    assert proc.returncode == 2 and "CNN1D_GRADER_SECRET" in proc.stderr


@pytest.mark.parametrize("args", [["grade", "/no/such/path"], ["grade"], ["fly"],
                                  ["grade", "pyproject.toml"], ["grade", "x", "--workers", "0"]])
def test_usage_errors_exit_2(args):
    proc = _run(*args)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert "error" in proc.stderr


def test_self_check_exit_codes(tmp_path):
    good = _submission(tmp_path, "ok", reference_answers(STAGE))
    bad = _submission(tmp_path, "stub", None)
    for name in (a for a in STAGE.assets if a.endswith(".py")):   # the stage's helper modules
        for folder in (good.parent, bad.parent):
            (folder / name).write_bytes((ROOT / "course" / name).read_bytes())
    ok = _run("check", str(good))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert f"{len(STAGE.checks)} passed, 0 failed" in ok.stdout
    fail = _run("check", str(bad))
    assert fail.returncode == 1
    assert f"0 passed, {len(STAGE.checks)} failed" in fail.stdout
    assert "not written yet" in fail.stdout


def test_a_class_tree_with_renamed_broken_and_nested_notebooks(tmp_path):
    """Each student gets one row per stage: a renamed notebook is graded under
    its stage, a broken or missing one fails with what was found, stray and
    nested notebooks are named and left; the class is graded (exit 0)."""
    tree = tmp_path / "submitted"
    ref = reference_answers(STAGE)
    _submission(tree, "ada", ref)
    _submission(tree, "alice", None)
    gina = _submission(tree, "gina", ref)
    gina.rename(gina.with_name("single_channel_gina.ipynb"))
    bob = _submission(tree, "bob", ref)
    bob.rename(bob.with_name("single_channel (1).ipynb"))
    _submission(tree, "carl", ref)
    (tree / "carl" / STAGE.name / "scratch.ipynb").write_text("")  # empty scratch file
    eve = tree / "eve" / STAGE.name
    eve.mkdir(parents=True)
    (eve / STAGE.notebook).write_bytes(b"\xff\xfe not a notebook")
    two = _submission(tree, "dora", ref)
    two.rename(two.with_name("single_channel (1).ipynb"))
    _submission(tree / "dora", "x", None).rename(two.with_name("single_channel (2).ipynb"))
    # mallory hides a copy of her own notebook as alice's, one folder down
    _submission(tree, "mallory", None)
    _submission(tree / "mallory", "alice", ref)
    proc = _run("grade", str(tree), "--json", str(tmp_path / "r.json"), "--quiet")
    assert proc.returncode == 0, proc.stderr
    rows = json.loads((tmp_path / "r.json").read_text())["submissions"]
    assert sorted(r["student"] for r in rows) == ["ada", "alice", "bob", "carl", "dora", "eve",
                                                   "gina", "mallory"]
    score = {r["student"]: r["score"] for r in rows}
    assert {r["assignment"] for r in rows} == {STAGE.name}
    full = STAGE.max_score
    assert score == {"ada": full, "alice": 0, "bob": full, "carl": full, "dora": 0, "eve": 0,
                     "gina": full, "mallory": 0}
    message = {r["student"]: r["checks"][0]["message"] for r in rows}
    assert "not UTF-8" in message["eve"]
    assert "single_channel (1).ipynb, single_channel (2).ipynb" in message["dora"]
    assert "graded" in proc.stderr and "single_channel_gina.ipynb" in proc.stderr
    assert "scratch.ipynb" in proc.stderr and "mallory/alice" in proc.stderr
