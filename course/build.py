"""Build the course: solution cells from ``solutions/``, helper copies, and the
student release through ``nbgrader generate_assignment``.

Generation goes one way only::

    solutions/*.py ──> source/<stage>/<stage>.ipynb answer cells
    solutions/*.py ──> course/cnn1d_reference.py (stage 5's reference layers)
    course/stages.py ──> test-cell points and hidden-test calls
    course/<asset> ──> source/<stage>/<asset>   (identical copies)
    source/<stage>/<stage>.ipynb rubrics ──> docs/rubrics/<stage>.md (graders only)
    source/ ──nbgrader──> release/

``python -m course build`` writes all of it; ``python -m course build --check``
writes nothing and exits 1 listing what differs (the tests run it).
"""

import ast
import filecmp
import importlib
import inspect
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import nbformat

from course import release_digest
from course.regrade import graded_changes
from course.stages import STAGES, get_stage

ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
HIDDEN_BEGIN, HIDDEN_END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"


class BuildError(Exception):
    """The source notebooks and course/stages.py disagree."""


# --------------------------------------------------------------------------
# Solution cells
# --------------------------------------------------------------------------

def _is_docstring(node):
    return (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str))


def mark_solution_regions(src, implement=None):
    """Wrap function bodies (after their docstrings) in solution delimiters.

    Parameters
    ----------
    src : str
        Source of one top-level function or class.
    implement : iterable of str, optional
        For a class, the methods the student writes; None means all.

    Returns
    -------
    str
        The same code with ``### BEGIN SOLUTION`` / ``### END SOLUTION``
        around each selected body, so nbgrader keeps signatures and
        docstrings and replaces only the bodies with a stub.
    """
    node = ast.parse(src).body[0]
    if isinstance(node, ast.ClassDef):
        targets = [n for n in node.body if isinstance(n, ast.FunctionDef)
                   and (implement is None or n.name in implement)]
        missing = set(implement or ()) - {t.name for t in targets}
        if missing:
            raise BuildError(f"class {node.name} has no methods {sorted(missing)}")
    elif isinstance(node, ast.FunctionDef):
        targets = [node]
    else:
        raise BuildError(f"expected a function or class, got {type(node).__name__}")
    lines = src.splitlines()
    for fn in sorted(targets, key=lambda f: f.lineno, reverse=True):
        body = fn.body
        has_doc = _is_docstring(body[0])
        if has_doc and len(body) == 1:
            continue  # nothing to write
        first = body[1] if has_doc else body[0]
        start = body[0].end_lineno if has_doc else first.lineno - 1  # 0-based insert index
        indent = lines[first.lineno - 1][: first.col_offset]
        lines.insert(fn.end_lineno, indent + END)
        lines.insert(start, indent + BEGIN)
    return "\n".join(lines)


def object_source(spec):
    """Dedented source of ``"module:qualname"``."""
    module_name, _, qualname = spec.partition(":")
    obj = importlib.import_module(module_name)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return textwrap.dedent(inspect.getsource(obj)).rstrip()


def answer_source(answer):
    """The full solution-cell source for an ``Answer`` of course/stages.py."""
    parts = [answer.prelude.strip()] if answer.prelude.strip() else []
    for spec in answer.objects:
        parts.append(mark_solution_regions(object_source(spec), answer.implement))
    return "\n\n\n".join(parts) + "\n"


def hidden_block(check_id):
    """The hidden-test block of a test cell: a call into autograder/checks."""
    return (f"{HIDDEN_BEGIN}\nfrom autograder.checks import run_check\n\n"
            f"run_check({check_id!r}, globals())\n{HIDDEN_END}\n")


# --------------------------------------------------------------------------
# Rubrics of the written questions
# --------------------------------------------------------------------------

RUBRICS = ROOT / "docs" / "rubrics"
RUBRIC_PARTS = ("*Model answer.*", "*Points.*", "*Accept also.*")
_POINT_LINE = re.compile(r"^- (half a point|1 point|\d+(?:\.\d+)? points?)\b", re.M)


def _point_value(text):
    return 0.5 if text == "half a point" else float(text.split()[0])


def parse_rubric(source, question, stage):
    """The rubric of a written answer cell, checked: a heading with the question's
    points, a model answer, the points split into lines ``- 1 point: ...`` (``half a
    point``, ``2 points``) that add up to them, and the wordings to accept. Returns the
    rubric's text; BuildError says what is missing."""
    where = f"{stage.notebook}: written answer {question.grade_id!r}"
    if BEGIN not in source or END not in source:
        raise BuildError(f"{where} must be a markdown cell holding its rubric between "
                         f"{BEGIN!r} and {END!r}")
    rubric = source.split(BEGIN, 1)[1].split(END, 1)[0].strip()
    heading = f"**Rubric ({question.points:g} point"
    if not rubric.startswith(heading):
        raise BuildError(f"{where}: the rubric must start with {heading}s).**")
    missing = [part for part in RUBRIC_PARTS if part not in rubric]
    if missing:
        raise BuildError(f"{where}: the rubric lacks {', '.join(missing)} (docs/authoring.md)")
    split = rubric.split("*Points.*", 1)[1].split("*Accept also.*", 1)[0]
    total = sum(_point_value(m) for m in _POINT_LINE.findall(split))
    if abs(total - question.points) > 1e-9:
        raise BuildError(f"{where}: the lines of *Points.* add up to {total:g}, the question "
                         f"is worth {question.points:g} (course/stages.py)")
    return rubric


def rubric_page(nb, stage):
    """The graders' page of a stage: each written question, then its rubric (Markdown)."""
    written = {q.grade_id: q for q in stage.written}
    parts = [f"# Rubrics of stage {stage.number}: {stage.title}",
             "",
             f"GENERATED by `python -m course build` from `source/{stage.name}/{stage.notebook}`"
             "; do not edit. For graders only: the release never carries it. Open it beside "
             "formgrader's grading page (README, \"Running a course\").", ""]
    for i, cell in enumerate(nb.cells):
        grade_id = _nbgrader(cell).get("grade_id")
        if grade_id not in written or not _nbgrader(cell).get("solution"):
            continue
        question = nb.cells[i - 1].source.strip() if i else ""
        parts += [f"## `{grade_id}` ({written[grade_id].points:g} points)", "", question, "",
                  parse_rubric(cell.source, written[grade_id], stage), ""]
    return "\n".join(parts).rstrip() + "\n"


# --------------------------------------------------------------------------
# Notebooks
# --------------------------------------------------------------------------

def _nbgrader(cell):
    return cell.get("metadata", {}).get("nbgrader", {})


def fill_notebook(nb, stage):
    """Write solution cells, test points and hidden blocks; strip outputs.

    Returns the notebook (modified in place). Raises BuildError when a cell
    that course/stages.py declares is missing or appears twice.
    """
    answers = {a.grade_id: a for a in stage.answers}
    checks = {c.name: c for c in stage.checks}  # test cells: grade_id == check name
    written = {q.grade_id: q for q in stage.written}
    seen = []
    for cell in nb.cells:
        meta = _nbgrader(cell)
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        grade_id = meta.get("grade_id")
        if grade_id in written and meta.get("solution") and meta.get("grade"):
            # a manually graded answer: the question above it, the rubric in it
            if cell.cell_type != "markdown" or BEGIN not in cell.source:
                raise BuildError(f"{stage.notebook}: written answer {grade_id!r} must be a "
                                 f"markdown cell holding its rubric between {BEGIN!r} and "
                                 f"{END!r}")
            parse_rubric(cell.source, written[grade_id], stage)
            meta["points"] = written[grade_id].points
            seen.append(grade_id)
        elif meta.get("solution") and grade_id in answers:
            cell.source = answer_source(answers[grade_id]).rstrip("\n")
            seen.append(grade_id)
        elif meta.get("grade") and grade_id in checks:
            visible = cell.source.split(HIDDEN_BEGIN)[0].rstrip()
            block = hidden_block(f"{stage.name}.{grade_id}")
            cell.source = (visible + "\n\n" + block).rstrip("\n")
            meta["points"] = checks[grade_id].points
            seen.append(grade_id)
        elif meta.get("solution") or meta.get("grade"):
            raise BuildError(f"{stage.notebook}: cell {grade_id!r} is graded or an answer "
                             "but course/stages.py does not declare it")
    expected = sorted(list(answers) + list(checks) + list(written))
    if sorted(seen) != expected:
        missing = sorted(set(expected) - set(seen))
        twice = sorted({g for g in seen if seen.count(g) > 1})
        raise BuildError(f"{stage.notebook}: missing cells {missing}, duplicated {twice}")
    return nb


def build_source(root=ROOT, check=False, stages=None):
    """Fill the source notebooks and copy the assets; returns the changed paths.

    The generated asset course/cnn1d_reference.py (stage 5's reference layers,
    from solutions/) is brought up to date first.
    """
    from course.reference_module import (
        REFERENCE_PATH,
        reference_differences,
        write_reference_module,
    )

    changed = []
    if check:
        changed += [REFERENCE_PATH] if reference_differences() else []
    elif write_reference_module():
        changed.append(REFERENCE_PATH)
    for stage in stages or STAGES:
        folder = Path(root) / "source" / stage.name
        path = folder / stage.notebook
        if not path.exists():
            raise BuildError(f"missing source notebook {path}")
        before = path.read_text()
        nb = fill_notebook(nbformat.reads(before, as_version=4), stage)
        after = nbformat.writes(nb) + "\n"
        if after != before:
            changed.append(path)
            if not check:
                path.write_text(after)
        if stage.written and (Path(root) / "docs").is_dir():  # not in a scratch course
            page = Path(root) / RUBRICS.relative_to(ROOT) / f"{stage.name}.md"
            text = rubric_page(nb, stage)
            if not page.exists() or page.read_text() != text:
                changed.append(page)
                if not check:
                    page.parent.mkdir(parents=True, exist_ok=True)
                    page.write_text(text)
        for asset in stage.assets:
            src, dst = ROOT / "course" / asset, folder / Path(asset).name
            if not dst.exists() or not filecmp.cmp(src, dst, shallow=False):
                changed.append(dst)
                if not check:
                    shutil.copyfile(src, dst)
    return changed


def tool_env():
    """The environment for nbgrader subprocesses: this interpreter's bin first
    on PATH (nbgrader runs the ``alembic`` command it installs), and the kit's
    location for course folders outside the repository."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["CNN1D_KIT"] = str(ROOT)  # a course folder's copy of nbgrader_config.py finds the kit
    return env


def generate_release(root=ROOT, stages=None):
    """Run ``nbgrader generate_assignment`` for each stage in course ``root``."""
    for stage in stages or STAGES:
        cmd = [sys.executable, "-m", "nbgrader", "generate_assignment", stage.name, "--force",
               "--log-level=WARN"]
        proc = subprocess.run(cmd, cwd=root, capture_output=True, text=True, env=tool_env())
        if proc.returncode != 0:
            raise BuildError(f"nbgrader generate_assignment {stage.name} failed:\n"
                             f"{proc.stdout}\n{proc.stderr}")


def _tree(folder):
    return {p.relative_to(folder) for p in Path(folder).rglob("*") if p.is_file()
            and ".ipynb_checkpoints" not in p.parts and "__pycache__" not in p.parts}


def release_differences(root=ROOT, stages=None):
    """Regenerate release/ in a scratch course and list files that differ."""
    stages = list(stages or STAGES)
    with tempfile.TemporaryDirectory() as tmp:
        for stage in stages:
            shutil.copytree(Path(root) / "source" / stage.name, Path(tmp) / "source" / stage.name)
        shutil.copyfile(Path(root) / "nbgrader_config.py", Path(tmp) / "nbgrader_config.py")
        generate_release(tmp, stages)
        names = set()
        for stage in stages:
            fresh = Path(tmp) / "release" / stage.name
            committed = Path(root) / "release" / stage.name
            names |= {Path(stage.name) / n for n in _tree(fresh) | _tree(committed)}
        fresh, committed = Path(tmp) / "release", Path(root) / "release"
        return sorted(str(n) for n in names
                      if not (fresh / n).exists() or not (committed / n).exists()
                      or (fresh / n).read_bytes() != (committed / n).read_bytes())


def build(check=False, stage_names=None):
    """Build everything (or check that it is up to date). Returns a list of problems."""
    stages = [get_stage(name) for name in stage_names] if stage_names else list(STAGES)
    changed = build_source(check=check, stages=stages)
    if check:
        problems = [f"out of date: {p.relative_to(ROOT)}" for p in changed]
        problems += [f"release differs from a regeneration: release/{p}"
                     for p in release_differences(stages=stages)]
        return problems
    # an assignment already graded: say what the new points or checks mean for it
    for message in graded_changes(stages):
        print(message, file=sys.stderr)
    # nbgrader only where the inputs changed since release/ was generated
    # (course/release_digest.py; --check regenerates everything regardless)
    stale = release_digest.out_of_date(ROOT, stages)
    if stale:
        generate_release(stages=stale)
        release_digest.record(ROOT, stale)
    return []
