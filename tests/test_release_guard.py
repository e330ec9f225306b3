"""Stage 5 ships the answers of stages 2-4 (cnn1d_reference.py): nbgrader's release_assignment,
configured by nbgrader_config.py, refuses it while one of them is open, unless forced."""

import shutil
import subprocess
import sys
from datetime import datetime

import pytest
from nbgrader.api import Gradebook

from course.build import ROOT, tool_env
from course.release_guard import FORCE, open_revealed_stages
from course.stages import STAGES, get_stage


@pytest.fixture(autouse=True)
def _alembic_on_path(monkeypatch):
    """A new gradebook runs the `alembic` command that nbgrader installs beside python."""
    monkeypatch.setenv("PATH", tool_env()["PATH"])


def _db(tmp_path, duedates):
    url = f"sqlite:///{tmp_path / 'gradebook.db'}"
    with Gradebook(url) as gb:
        for name, due in duedates.items():
            gb.update_or_create_assignment(name, duedate=due)
    return url


def test_stage_5_reveals_the_stages_its_reference_module_answers():
    assert get_stage("training").reveals == ("output_size", "multi_channel", "mini_batch")
    reference = (ROOT / "course" / "cnn1d_reference.py").read_text()
    assert "def output_size(" in reference and "class Conv1d(" in reference
    assert all(not s.reveals for s in STAGES if s.name != "training")


def test_no_gradebook_means_no_due_dates_and_creates_none(tmp_path):
    url = f"sqlite:///{tmp_path / 'gradebook.db'}"
    problems = open_revealed_stages("training", url)
    assert problems == [f"{n} has no due date (there is no gradebook yet)"
                        for n in ("output_size", "multi_channel", "mini_batch")]
    assert not (tmp_path / "gradebook.db").exists()


def test_a_due_date_in_the_future_or_missing_blocks_and_past_ones_do_not(tmp_path):
    now = datetime(2030, 6, 1, 12, 0)
    url = _db(tmp_path, {"output_size": datetime(2030, 5, 1), "multi_channel": None,
                         "mini_batch": datetime(2030, 6, 1, 12, 30)})
    assert open_revealed_stages("training", url, now=now) == [
        "multi_channel has no due date in the gradebook",
        "mini_batch is due 2030-06-01 12:30 UTC, still in the future"]
    url = _db(tmp_path, {"multi_channel": datetime(2030, 5, 2),
                         "mini_batch": datetime(2030, 6, 1, 11, 59)})
    assert open_revealed_stages("training", url, now=now) == []
    # stages that reveal nothing, and names that are not stages, are never held back
    assert open_revealed_stages("mini_batch", url, now=now) == []
    assert open_revealed_stages("homework", url, now=now) == []


def _release(course, exchange, *extra):
    cmd = [sys.executable, "-m", "nbgrader", "release_assignment", "training", "--course=cnn1d",
           f"--Exchange.root={exchange}", "--force", *extra]
    return subprocess.run(cmd, cwd=course, capture_output=True, text=True, env=tool_env())


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """A course folder with the kit's nbgrader_config.py and stage 5 generated."""
    course = tmp_path_factory.mktemp("guard") / "course"
    shutil.copytree(ROOT / "source" / "training", course / "source" / "training")
    shutil.copyfile(ROOT / "nbgrader_config.py", course / "nbgrader_config.py")
    subprocess.run([sys.executable, "-m", "nbgrader", "generate_assignment", "training",
                    "--force", "--log-level=ERROR"], cwd=course, check=True, env=tool_env(),
                   capture_output=True)
    return course


def test_nbgrader_release_assignment_refuses_stage_5_while_stage_4_is_open(course, tmp_path):
    url = f"sqlite:///{course / 'gradebook.db'}"
    with Gradebook(url) as gb:
        for name in ("output_size", "multi_channel"):
            gb.update_or_create_assignment(name, duedate=datetime(2020, 1, 1))
        gb.update_or_create_assignment("mini_batch", duedate=datetime(2999, 1, 1))
    proc = _release(course, tmp_path / "exchange")
    assert proc.returncode == 1
    assert ("refusing to release training: its files hold the answers of output_size, "
            "multi_channel, mini_batch, and mini_batch is due 2999-01-01 00:00 UTC, still in "
            "the future") in proc.stderr
    assert FORCE in proc.stderr
    assert not (tmp_path / "exchange" / "cnn1d" / "outbound" / "training").exists()

    forced = _release(course, tmp_path / "exchange", FORCE)
    assert forced.returncode == 0, forced.stderr
    assert (tmp_path / "exchange" / "cnn1d" / "outbound" / "training" /
            "cnn1d_reference.py").exists()

    with Gradebook(url) as gb:
        gb.update_or_create_assignment("mini_batch", duedate=datetime(2020, 1, 2))
    closed = _release(course, tmp_path / "exchange2")
    assert closed.returncode == 0, closed.stderr


def test_the_gradebook_counts_the_written_answers_in_stage_5s_total(course):
    """What formgrader shows: the autograded checks plus three manually graded answers."""
    stage = get_stage("training")
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        assignment = gb.find_assignment("training")
        assert assignment.max_score == stage.total_points == stage.max_score + 6
        [notebook] = assignment.notebooks
        manual = sorted((c.name, c.max_score) for c in notebook.grade_cells
                        if c.cell_type == "markdown")
    assert manual == sorted((q.grade_id, q.points) for q in stage.written)
