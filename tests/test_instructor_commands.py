"""The README's "Running a course" commands work as written on a fresh clone,
with a PATH that lacks .venv/bin (no activated virtual environment).

The three blocks marked `<!-- run by tests/test_instructor_commands.py -->`
run in order as one bash script in a `git clone` of this repository (its
.venv is this one's, linked), with a student fetching and submitting between
release and collect. The exchange is a temporary folder, set where the README
says (`~/.jupyter/nbgrader_config.py`, HOME being temporary too). Afterwards
the grades exist and survive `make clean`; `make clean-grades` without
CONFIRM=yes deletes nothing.
"""

import csv
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(shutil.which("git") is None or shutil.which("make") is None,
                                 reason="needs git and make")]

ROOT = Path(__file__).resolve().parents[1]
MARK = "<!-- run by tests/test_instructor_commands.py -->"
STAGE = "single_channel"


def readme_blocks():
    """The bash blocks of the README marked as run by this test, in order."""
    text = (ROOT / "README.md").read_text()
    return re.findall(re.escape(MARK) + r"\n```bash\n(.*?)```", text, re.S)


def test_the_readme_marks_three_blocks_covering_the_instructors_job():
    blocks = readme_blocks()
    assert len(blocks) == 3
    commands = "".join(blocks)
    for step in ("CNN1D_GRADER_SECRET", "db student import", "make build",
                 "db assignment add", "--duedate", "release_assignment", "collect", "autograde",
                 "generate_feedback", "release_feedback", "export", "make clean"):
        assert step in commands, step


def link_venv(venv, target):
    """A .venv at ``target`` that is ``venv`` without a copy of its 1 GB: its
    files linked one by one. The console scripts (`.venv/bin/nbgrader`) keep
    their interpreter, ``venv``'s own, whose real path the grader's sandbox
    can mount (a symlink to the whole folder would leave the sandbox a dangling
    link)."""
    target.mkdir()
    for entry in venv.iterdir():
        if entry.name == "bin":
            (target / "bin").mkdir()
            for script in entry.iterdir():
                (target / "bin" / script.name).symlink_to(script)
        elif entry.is_file() and not entry.is_symlink():
            shutil.copy2(entry, target / entry.name)
        else:
            (target / entry.name).symlink_to(entry)
    (target / ".installed").touch()


@pytest.fixture(scope="module")
def clone(tmp_path_factory):
    """A fresh clone, its environment (PATH without .venv/bin, HOME with the
    exchange's setting), and the output of the README's blocks run there."""
    tmp = tmp_path_factory.mktemp("instructor")
    kit, home, exchange = tmp / "kit", tmp / "home", tmp / "exchange"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(kit)], check=True)
    link_venv(ROOT / ".venv", kit / ".venv")
    os.utime(kit / "pyproject.toml", (0, 0))  # the linked .venv is up to date: no reinstall
    (home / ".jupyter").mkdir(parents=True)
    exchange.mkdir()
    (home / ".jupyter" / "nbgrader_config.py").write_text(
        f"c = get_config()\nc.Exchange.root = {str(exchange)!r}\n")
    (kit / "roster.csv").write_text("id,first_name,last_name,email\n"
                                    "alice,Alice,Liddell,alice@example.org\n")
    env = {k: v for k, v in os.environ.items()
           if k not in ("VIRTUAL_ENV", "CNN1D_GRADER_SECRET", "JUPYTER_CONFIG_DIR",
                        "PYTHONPATH", "MAKEFLAGS", "MAKELEVEL")}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "/usr/bin:/bin").split(os.pathsep)
                                  if ".venv" not in p)
    env["HOME"] = str(home)
    setup, build, grade = readme_blocks()
    student = (f'mkdir -p "$HOME/alice" && (cd "$HOME/alice" '
               f'&& "{kit}/.venv/bin/nbgrader" fetch_assignment {STAGE} --course=cnn1d '
               f'&& "{kit}/.venv/bin/nbgrader" submit {STAGE} --course=cnn1d --student=alice)\n')
    script = "set -euo pipefail\n" + setup + build + student + grade
    proc = subprocess.run(["bash", "-c", script], cwd=kit, env=env, capture_output=True,
                          text=True, timeout=1200)
    assert proc.returncode == 0, f"{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    return kit, env, exchange, proc


def test_the_commands_grade_the_student_and_export(clone):
    kit, _, exchange, proc = clone
    assert "alice" in proc.stdout  # db student list
    with open(kit / "grades.csv", newline="") as f:
        rows = {(r["student_id"], r["assignment"]): r for r in csv.DictReader(f)}
    row = rows["alice", STAGE]
    assert row["timestamp"] and float(row["score"]) == 0.0 and float(row["max_score"]) > 0
    assert (kit / "feedback" / "alice" / STAGE / f"{STAGE}.html").exists()
    assert list((exchange / "cnn1d" / "feedback").glob("*.html")), "feedback not released"


def test_make_clean_keeps_the_grades_and_clean_grades_asks(clone):
    kit, env, _, _ = clone
    state = ["gradebook.db", "grades.csv", f"submitted/alice/{STAGE}",
             f"autograded/alice/{STAGE}", f"feedback/alice/{STAGE}"]
    assert all((kit / p).exists() for p in state)  # after the README's `make clean`
    proc = subprocess.run(["make", "clean-grades"], cwd=kit, env=env, capture_output=True,
                          text=True)
    assert proc.returncode != 0
    assert "CONFIRM=yes" in proc.stdout + proc.stderr
    assert "gradebook.db" in proc.stdout
    assert all((kit / p).exists() for p in state)
    subprocess.run(["make", "clean-grades", "CONFIRM=yes"], cwd=kit, env=env, check=True,
                   capture_output=True)
    assert not any((kit / p).exists() for p in state)
