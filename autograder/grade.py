"""Grade submitted notebooks out of kernel: the one grading path shared by the
command line (``python -m autograder grade``) and nbgrader's ``autograde``
(through ``autograder.nbgrader_plugin``).

For each check of a stage, the submission's answer cells (and nothing else
of the notebook: test cells, extra cells and outputs are ignored) run in a
sandboxed worker; the check, running here, compares what comes back with the
reference. Points are all-or-nothing per check; stages and checks are graded
independently; a crash, a timeout or a memory bomb costs only the check it
happened in.
"""

import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nbformat

from course.stages import STAGES, get_stage

from .checks import CheckFailed, run_check
from .sandbox import RemoteNamespace, SandboxError, Worker

ROOT = Path(__file__).resolve().parents[1]


class GraderError(Exception):
    """The grader itself failed (not the submission): exit code 1."""


@dataclass
class CheckResult:
    id: str
    points: float
    max_points: float
    passed: bool
    message: str


@dataclass
class SubmissionResult:
    student: str
    assignment: str
    path: str
    score: float = 0.0
    max_score: float = 0.0
    checks: list = field(default_factory=list)

    def as_dict(self):
        return asdict(self)


# --------------------------------------------------------------------------
# Reading a submission
# --------------------------------------------------------------------------

def _nbgrader(cell):
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def detect_stage(path, nb):
    """The stage of a notebook: by file name, else by its answer cells' ids."""
    stem = Path(path).stem
    for stage in STAGES:
        if stem == stage.name:
            return stage
    ids = {_nbgrader(c).get("grade_id") for c in nb.cells}
    for stage in STAGES:
        if {a.grade_id for a in stage.answers} <= ids:
            return stage
    raise ValueError(f"{path}: cannot tell which stage this notebook belongs to (expected a "
                     f"file named one of {[s.notebook for s in STAGES]})")


def answer_cells(nb, stage):
    """[(grade_id, code)] of the stage's answer cells, in the stage's order.

    Only cells whose grade_id names an answer of the stage count, the first of
    each; a deleted answer cell is simply absent.
    """
    found = {}
    for cell in nb.cells:
        grade_id = _nbgrader(cell).get("grade_id")
        if cell.get("cell_type") == "code" and grade_id in {a.grade_id for a in stage.answers}:
            found.setdefault(grade_id, cell.get("source", ""))
    return [(a.grade_id, found[a.grade_id]) for a in stage.answers if a.grade_id in found]


def setup_code(stage):
    """The locked setup cell of the stage's source notebook (imports)."""
    nb = nbformat.read(ROOT / "source" / stage.name / stage.notebook, as_version=4)
    for cell in nb.cells:
        if _nbgrader(cell).get("grade_id") == "setup":
            return cell.source
    raise GraderError(f"source notebook of {stage.name} has no cell with grade_id 'setup'")


def stage_assets(stage):
    return [ROOT / "course" / asset for asset in stage.assets]


# --------------------------------------------------------------------------
# Grading
# --------------------------------------------------------------------------

def _start(stage, answers, setup):
    """A worker with the setup cell and the answers executed; returns (worker, notes)."""
    worker = Worker(stage_assets(stage))
    notes = []
    try:
        worker.request({"op": "exec", "code": setup, "label": "setup"}, timeout=60)
    except SandboxError as exc:
        worker.close()
        raise GraderError(f"the setup of {stage.name} failed in the sandbox: {exc}") from exc
    except Exception as exc:  # noqa: BLE001
        worker.close()
        raise GraderError(f"the setup cell of {stage.name} raised {exc!r}") from exc
    for grade_id, code in answers:
        if worker.dead:
            break
        try:
            worker.request({"op": "exec", "code": code, "label": grade_id}, timeout=30)
        except Exception as exc:  # noqa: BLE001 - the student's cell failed: note it
            first = str(exc).splitlines()[0] if str(exc) else ""
            notes.append(f"answer cell {grade_id!r} raised {type(exc).__name__}: {first}")
    return worker, notes


def grade_notebook(nb, stage, student="", secret=None, path=""):
    """Grade one notebook of ``stage``; returns a SubmissionResult."""
    if isinstance(stage, str):
        stage = get_stage(stage)
    answers = answer_cells(nb, stage)
    setup = setup_code(stage)
    result = SubmissionResult(student=student, assignment=stage.name, path=str(path),
                              max_score=stage.max_score)
    worker = None
    try:
        for check in stage.checks:
            check_id = f"{stage.name}.{check.name}"
            if worker is None or worker.dead:
                if worker is not None:
                    worker.close()
                worker, notes = _start(stage, answers, setup)
            worker.timeout = check.timeout
            try:
                run_check(check_id, RemoteNamespace(worker), student=student, secret=secret)
                passed, message = True, "passed"
            except CheckFailed as exc:
                passed, message = False, str(exc)
            except SandboxError as exc:
                passed, message = False, str(exc)
            if not passed and notes:
                message += "\nNote: " + "; ".join(notes)
            if not passed and not answers:
                message += "\nNote: no answer cell of this stage was found in the notebook"
            points = check.points if passed else 0.0
            result.checks.append(CheckResult(check_id, points, check.points, passed, message))
            result.score += points
    finally:
        if worker is not None:
            worker.close()
    return result


# --------------------------------------------------------------------------
# Finding submissions
# --------------------------------------------------------------------------

_STUDENT_RE = re.compile(r"^[A-Za-z0-9_.@-]+$")


def find_submissions(paths, student=None):
    """[(student, notebook path)] for notebooks, assignment folders or submitted/ trees.

    The student id is ``student`` when given, else the folder above the
    assignment folder (nbgrader's ``submitted/<student>/<assignment>/``), else
    the notebook's parent folder name.
    """
    stage_files = {s.notebook for s in STAGES}
    found = []
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise FileNotFoundError(f"no such file or folder: {raw}")
        if path.is_file():
            if path.suffix != ".ipynb":
                raise ValueError(f"{raw} is not a notebook (.ipynb)")
            notebooks = [path]
        else:
            notebooks = sorted(p for p in path.rglob("*.ipynb")
                               if p.name in stage_files and ".ipynb_checkpoints" not in p.parts)
            if not notebooks:
                raise ValueError(f"{raw} holds no stage notebook (one of {sorted(stage_files)})")
        for nb_path in notebooks:
            who = student or _student_of(nb_path)
            found.append((who, nb_path))
    return found


def _student_of(nb_path):
    parts = nb_path.resolve().parts
    # .../<student>/<assignment>/<assignment>.ipynb
    if len(parts) >= 3 and parts[-2] == nb_path.stem and _STUDENT_RE.match(parts[-3]):
        return parts[-3]
    return parts[-2] if len(parts) >= 2 else "student"


def grade_path(student, nb_path, secret=None):
    """Read and grade one notebook file (used by the CLI, possibly in a pool)."""
    try:
        nb = nbformat.read(nb_path, as_version=4)
    except Exception as exc:  # noqa: BLE001 - unreadable JSON is the submission's fault
        result = SubmissionResult(student=student, assignment=Path(nb_path).stem,
                                  path=str(nb_path))
        try:
            stage = get_stage(Path(nb_path).stem)
            result.max_score = stage.max_score
            result.checks = [CheckResult(f"{stage.name}.{c.name}", 0.0, c.points, False,
                                         f"the notebook could not be read: {exc}")
                             for c in stage.checks]
        except ValueError:
            pass
        return result
    stage = detect_stage(nb_path, nb)
    return grade_notebook(nb, stage, student=student, secret=secret, path=nb_path)


def read_secret(secret_file=None):
    """The course secret: --secret-file, else $CNN1D_GRADER_SECRET, else the default."""
    if secret_file:
        return Path(secret_file).read_text().strip()
    return os.environ.get("CNN1D_GRADER_SECRET")
