"""The course id, written once: ``c.CourseDirectory.course_id`` in the kit's
``nbgrader_config.py``. The flow script, the Makefile, the JupyterHub
configuration (deploy/jupyterhub) and the tests read it from there; the
student helper ``cnn1d_helpers.py``, which students get without the kit,
carries a copy that tests/test_course_id.py holds equal to it.
"""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_LINE = re.compile(r'^c\.CourseDirectory\.course_id\s*=\s*"([^"]+)"\s*$', re.M)


def read_course_id(config=ROOT / "nbgrader_config.py"):
    """The course id set in ``config`` (one ``c.CourseDirectory.course_id = "..."`` line)."""
    found = _LINE.findall(Path(config).read_text())
    if len(found) != 1:
        raise ValueError(f"{config}: expected one line c.CourseDirectory.course_id = \"...\", "
                         f"found {len(found)}")
    return found[0]


COURSE_ID = read_course_id()
