"""The course id is written in one place, nbgrader_config.py; the kit's code,
the Makefile, the deployment and the workflows read it from there, and the
student helper's copy (students get it without the kit) is equal to it."""

import re
import subprocess
from pathlib import Path

import pytest

from course.course_id import COURSE_ID, read_course_id

ROOT = Path(__file__).resolve().parents[1]


def test_nbgrader_config_sets_it_once():
    assert read_course_id(ROOT / "nbgrader_config.py") == COURSE_ID == "cnn1d"


def test_the_student_helper_carries_the_same_id():
    text = (ROOT / "course" / "cnn1d_helpers.py").read_text()
    assert re.findall(r'^COURSE_ID = "([^"]+)"$', text, re.M) == [COURSE_ID]


def test_the_hub_reads_it_from_nbgrader_config(tmp_path):
    config = tmp_path / "nbgrader_config.py"
    config.write_text('c.CourseDirectory.course_id = "other101"\n')
    namespace = {"get_config": lambda: type("C", (), {})(),
                 "__file__": str(ROOT / "deploy" / "jupyterhub" / "jupyterhub_config.py")}
    source = (ROOT / "deploy" / "jupyterhub" / "jupyterhub_config.py").read_text()
    head = source.split("COURSE = course_id()")[0]  # the imports and course_id() only
    exec(compile(head, "jupyterhub_config.py", "exec"), namespace)  # noqa: S102
    assert namespace["course_id"](tmp_path) == "other101"
    assert namespace["course_id"](ROOT) == COURSE_ID


def test_make_reads_it_from_nbgrader_config():
    out = subprocess.run(["make", "-s", "-C", str(ROOT), "print-course-id"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == COURSE_ID


@pytest.mark.parametrize("pattern", [rf"--course={COURSE_ID}\b", rf'course_id = "{COURSE_ID}"',
                                     rf"COURSE_ID = \"{COURSE_ID}\""])
def test_no_other_copy_in_the_kit(pattern):
    allowed = {"nbgrader_config.py", "course/cnn1d_helpers.py"}
    files = [p for folder in ("course", "autograder", "deploy", "docs/workflows")
             for p in (ROOT / folder).rglob("*") if p.suffix in {".py", ".sh", ".yml", ".json"}]
    files += [ROOT / "Makefile", ROOT / "nbgrader_config.py"]
    found = [str(p.relative_to(ROOT)) for p in files
             if re.search(pattern, p.read_text()) and str(p.relative_to(ROOT)) not in allowed]
    assert not found, f"the course id is written again in {found}: read it from nbgrader_config.py"
