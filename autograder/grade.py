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

import hashlib
import json
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nbformat

from course.stages import STAGES, get_stage

from .checks import CheckFailed, run_check
from .discovery import stage_of
from .isolation import IsolationError, choose_barrier
from .sandbox import Sandbox, SandboxError, SetupError, clean_text

ROOT = Path(__file__).resolve().parents[1]


class GraderError(Exception):
    """The grader itself failed (not the submission): exit code 1."""


NO_SECRET = ("no course secret: set CNN1D_GRADER_SECRET or pass --secret-file FILE (a long "
             "random string, kept out of the repository and away from students: the hidden "
             "inputs are drawn from it)")

__all__ = ["GraderError", "IsolationError", "grade_notebook", "grade_path", "find_submissions",
           "read_secret"]


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

def code_digest(stage, answers):
    """A digest of what the grader will run: the stage and its answer cells.

    It seeds the hidden inputs with the secret and the student id. Any change
    to the code gives new hidden inputs, so whatever a submission learned
    about its inputs (from its feedback) is of no use to the next one; the
    same submission always sees the same inputs and gets the same grade.
    """
    text = json.dumps([stage.name, [[gid, code] for gid, code in answers]])
    return hashlib.sha256(text.encode()).hexdigest()


def _hidden_paths(path):
    """What the user nobody must not read when it is the only barrier: the kit's
    solutions, checks and sources, the gradebook, and every submission (the
    ``submitted/`` folder above the notebook, or the folder of its student's
    folder), with the course root's gradebook beside it."""
    hidden = [ROOT / "solutions", ROOT / "autograder", ROOT / "course", ROOT / "source",
              ROOT / "gradebook.db"]
    if path:
        nb = Path(path).resolve()
        tree = next((p for p in nb.parents if p.name == "submitted"), nb.parent.parent)
        hidden += [tree, tree.parent / "gradebook.db"]
    return hidden


def open_sandbox(stages, sandbox=None, path=""):
    """A Sandbox for one student's notebooks of ``stages`` behind the strongest
    barrier that holds (``sandbox``: "auto", "bwrap", "nobody", "none"; default
    $CNN1D_SANDBOX, else "auto"); IsolationError when none holds."""
    barrier = choose_barrier(sandbox or os.environ.get("CNN1D_SANDBOX", "auto"),
                             _hidden_paths(path))
    return Sandbox({s.name: stage_assets(s) for s in stages}, barrier)


#: A notebook's wall-clock budget: this many times the reference's measured
#: grading time for its stage, plus BUDGET_EXTRA seconds (a loaded machine).
BUDGET_FACTOR, BUDGET_EXTRA = 5.0, 30.0
REFERENCE_COST = ROOT / "autograder" / "reference_cost.json"


def reference_seconds(stage):
    """Wall time of grading the reference notebook of ``stage`` (a fresh sandbox
    included), as ``python -m course bench --grading`` measured and recorded it
    in autograder/reference_cost.json."""
    try:
        return float(json.loads(REFERENCE_COST.read_text())["seconds"][stage.name])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise GraderError(f"no measured grading time of the reference for {stage.name} in "
                          f"{REFERENCE_COST} ({type(exc).__name__}: {exc}); measure it with "
                          "`python -m course bench --grading`") from None


def notebook_budget(stage):
    """Wall-clock seconds a notebook of ``stage`` may take to grade, with the why."""
    ref = reference_seconds(stage)
    budget = BUDGET_FACTOR * ref + BUDGET_EXTRA
    return budget, (f"{budget:.0f} s: {BUDGET_FACTOR:g}x the reference's {ref:.1f} s + "
                    f"{BUDGET_EXTRA:g} s")


def grade_notebook(nb, stage, student="", secret=None, path="", sandbox=None, box=None,
                   deadline=None):
    """Grade one notebook of ``stage``; returns a SubmissionResult.

    ``secret`` is the course secret (required: GraderError without one);
    ``sandbox`` the barrier (see open_sandbox); ``box`` a Sandbox to grade
    in, shared by one student's notebooks (default: one of its own).
    The notebook is graded within its wall-clock budget (notebook_budget) and
    by ``deadline`` (``time.monotonic()``, the student's budget) if sooner:
    past it, the grader stops the notebook's code and every check not yet
    passed fails, saying so. Waiting never buys time.
    """
    if isinstance(stage, str):
        stage = get_stage(stage)
    if not secret:
        raise GraderError(NO_SECRET)
    budget, why = notebook_budget(stage)
    reason = (f"grading this notebook took longer than its time budget ({why}); the grader "
              "stopped your code, and the checks not yet run fail. Hint: nothing in your code "
              "should wait or sleep")
    if deadline is not None and deadline < time.monotonic() + budget:
        reason = ("your notebooks together took longer than the time budget of one student's "
                  f"submission (each stage's budget once; this stage's is {why}); the grader "
                  "stopped your code, and the checks not yet run fail. Hint: nothing in your "
                  "code should wait or sleep")
    deadline = min(time.monotonic() + budget, deadline or float("inf"))
    own = box is None
    if own:
        box = open_sandbox([stage], sandbox, path)
    answers = answer_cells(nb, stage)
    setup = setup_code(stage)
    digest = code_digest(stage, answers)
    result = SubmissionResult(student=student, assignment=stage.name, path=str(path),
                              max_score=stage.max_score)
    notes = []
    box.deadline, box.deadline_reason = deadline, reason
    try:
        for check in stage.checks:
            check_id = f"{stage.name}.{check.name}"
            try:
                if time.monotonic() >= deadline:
                    raise SandboxError(reason)
                if box.dead or box.stage != stage.name:
                    try:
                        notes = box.start(stage.name, setup, answers)
                    except SetupError:
                        # maybe the work of another notebook graded in this sandbox
                        # (a file of the scratch removed): once more, in a fresh one
                        box.kill()
                        box.dead = "restarted after a failed setup"
                        try:
                            notes = box.start(stage.name, setup, answers)
                        except SetupError as exc:
                            raise GraderError(str(exc)) from None
                ns = box.begin_check(check.timeout)
                run_check(check_id, ns, student=student, secret=secret, digest=digest)
                passed, message = True, "passed"
            except GraderError:
                raise
            except CheckFailed as exc:
                passed, message = False, str(exc)
            except SandboxError as exc:
                passed, message = False, str(exc)
            except Exception as exc:  # noqa: BLE001 - a student object broke the check
                print(f"grader: {check_id} for {student or 'a student'} raised "
                      f"{type(exc).__name__}: {exc}", file=sys.stderr)
                passed, message = False, (
                    f"the check could not use what your code returned "
                    f"({type(exc).__name__}); make sure your methods return numpy arrays of "
                    "the documented shapes")
            finally:
                box.end_check()
            if not passed and notes:
                message += "\nNote: " + "; ".join(notes)
            if not passed and not answers:
                message += "\nNote: no answer cell of this stage was found in the notebook"
            points = check.points if passed else 0.0
            result.checks.append(CheckResult(check_id, points, check.points, passed,
                                             clean_text(message, 4000)))
            result.score += points
    finally:
        box.deadline = None
        if own:
            box.close()
        else:
            box.end_stage()
    return result


# --------------------------------------------------------------------------
# Finding submissions
# --------------------------------------------------------------------------

def find_submissions(paths, student=None):
    """[(student, notebook path)] for notebooks, assignment folders or submitted/ trees.

    A notebook given by its path is graded as it is (ValueError when its stage
    cannot be told). In a folder, each student's notebook of each stage is
    chosen as nbgrader's flow chooses it (``autograder.discovery``): a renamed
    copy (``single_channel (1).ipynb``) is graded under its stage, and a
    student with no notebook to grade (none, several that differ, a file that
    is not a notebook) gets an ``Unresolved`` entry, graded as a failed result
    that says what was found; stray notebooks (``scratch.ipynb``, a notebook
    nested deeper than ``<student>/<stage>/``) are named on stderr and left.
    The student id is ``student`` when given, else the folder at the top of
    the tree (nbgrader's ``submitted/<student>/<assignment>/``).
    """
    from .discovery import tree_submissions

    def say(line):
        print(f"python -m autograder grade: {line}", file=sys.stderr)

    found = []
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise FileNotFoundError(f"no such file or folder: {raw}")
        if path.is_dir():
            found += tree_submissions(path, student, say)
            continue
        if path.suffix != ".ipynb":
            raise ValueError(f"{raw} is not a notebook (.ipynb)")
        if _stage_of_file(path) is None:
            raise ValueError("cannot tell which stage this notebook belongs to (neither the "
                             f"file name nor the answer cells name one): {raw}")
        found.append((student or _student_of(path), path))
    return found


def _stage_of_file(nb_path):
    from .discovery import Unresolved

    if isinstance(nb_path, Unresolved):
        return nb_path.stage
    try:
        nb = nbformat.read(nb_path, as_version=4)
        return stage_of(nb_path, nb) or detect_stage(nb_path, nb)
    except ValueError:
        return None
    except Exception:  # noqa: BLE001 - unreadable JSON: graded as 0 with the reason
        stem = Path(nb_path).stem
        return next((s for s in STAGES if stem.startswith(s.name)), None)


def _student_of(nb_path):
    parts = nb_path.resolve().parts
    stage_names = {s.name for s in STAGES}
    # .../<student>/<assignment>/<notebook>.ipynb
    if len(parts) >= 3 and parts[-2] in stage_names:
        return parts[-3]
    return parts[-2] if len(parts) >= 2 else "student"


def failed_result(student, nb_path, reason):
    """A result whose every check failed with ``reason`` (the notebook's stage by
    its name or answer cells, when it has one)."""
    result = SubmissionResult(student=student, assignment=Path(nb_path).stem, path=str(nb_path))
    stage = _stage_of_file(nb_path)
    if stage is not None:
        result.assignment, result.max_score = stage.name, stage.max_score
        result.checks = [CheckResult(f"{stage.name}.{c.name}", 0.0, c.points, False,
                                     clean_text(reason)) for c in stage.checks]
    return result


def grade_path(student, nb_path, secret=None, sandbox=None, box=None, deadline=None):
    """Read and grade one notebook file (used by the CLI, possibly in a pool)."""
    from .discovery import Unresolved

    if isinstance(nb_path, Unresolved):  # no notebook to grade: say why
        return failed_result(student, nb_path, nb_path.reason)
    try:
        nb = nbformat.read(nb_path, as_version=4)
    except Exception as exc:  # noqa: BLE001 - unreadable JSON is the submission's fault
        return failed_result(student, nb_path, f"the notebook could not be read: {exc}")
    stage = stage_of(nb_path, nb) or detect_stage(nb_path, nb)  # a renamed copy too
    return grade_notebook(nb, stage, student=student, secret=secret, path=nb_path,
                          sandbox=sandbox, box=box, deadline=deadline)


def asset_groups(paths, stage_of=None):
    """``paths`` in groups that may share a sandbox (their stages release the same
    files), the longest to grade first: the group of stage 5, which trains a
    network. ``stage_of``: {str(path): stage or None}, read when not given."""
    if stage_of is None:
        stage_of = {str(path): _stage_of_file(path) for path in paths}
    by_assets = {}
    for path in paths:
        stage = stage_of[str(path)] or STAGES[0]
        by_assets.setdefault(tuple(sorted(stage.assets)), []).append(path)
    return sorted(by_assets.values(), key=lambda g: not any(
        getattr(stage_of[str(p)], "name", "") == "training" for p in g))


def grade_student(student, paths, secret, sandbox=None, split=1):
    """Grade one student's notebooks; results in the order of ``paths``.

    Notebooks whose stages release the same files (stages 1-4: the helper
    module) share one sandbox (numpy and matplotlib imported once); a stage
    with other files (stage 5, whose ``cnn1d_reference.py`` holds the
    answers of stages 2-4) gets a sandbox of its own, so that no notebook is
    ever graded beside another stage's files, whatever lies in the student's
    folders. With ``split`` > 1 the sandboxes are graded in parallel threads.
    A notebook that cannot be read, or whose grading fails for a reason of
    its own, gets a result whose checks say why: every notebook has a result.
    """
    stage_of = {str(path): _stage_of_file(path) for path in paths}
    groups = asset_groups(paths, stage_of)
    # the student's budget: each stage's once, however many notebooks of it
    deadline = time.monotonic() + sum(
        notebook_budget(stage)[0] for stage in {s for s in stage_of.values() if s})

    def grade_group(group, box):
        try:
            return {str(path): grade_path(student, path, secret, box=box, deadline=deadline)
                    for path in group}
        finally:
            box.close()

    results, boxes = {}, []
    try:
        for group in groups:
            stages = []
            for path in group:
                stage = stage_of[str(path)]
                if stage is not None and stage not in stages:
                    stages.append(stage)
            boxes.append(open_sandbox(stages or list(STAGES[:1]), sandbox, group[0]))
            # every sandbox starts now: the later ones import numpy and matplotlib
            # while the first group is graded
            boxes[-1].launch()
        if len(groups) == 1 or split == 1:
            for group, box in zip(groups, boxes, strict=True):
                results.update(grade_group(group, box))
        else:
            from concurrent.futures import ThreadPoolExecutor

            from .checks import stage_checks

            # every stage's checks imported here, before two threads could import
            # them at once (the solutions' modules import each other: a thread then
            # got a partly imported module, and a check of the reference failed
            # with an ImportError one run in a few)
            for stage in STAGES:
                try:
                    stage_checks(stage.name)
                except Exception:  # noqa: BLE001, S110 - that stage's checks say it when run
                    pass
            with ThreadPoolExecutor(min(len(groups), split)) as pool:
                for done in pool.map(grade_group, groups, boxes):
                    results.update(done)
    finally:
        for box in boxes:
            box.close()
    return [results[str(path)] for path in paths]


def read_secret(secret_file=None):
    """The course secret: --secret-file, else $CNN1D_GRADER_SECRET; None when neither
    is set (grading then refuses: there is no silent default)."""
    if secret_file:
        secret = Path(secret_file).read_text().strip()
        if not secret:
            raise ValueError(f"the secret file {secret_file} is empty")
        return secret
    return os.environ.get("CNN1D_GRADER_SECRET") or None
