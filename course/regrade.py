"""What a build changes for assignments that already have grades.

``make build`` writes the points of ``course/stages.py`` into the source
notebooks and runs ``nbgrader generate_assignment``, which updates the
gradebook's maximum scores; the grades already stored keep the old points
until autograde runs again. nbgrader also refuses to add or remove a graded
cell of an assignment that has submissions. The build calls
``graded_changes`` first and prints what it finds: which assignment, which
checks, and what to run.
"""

from pathlib import Path

from course.stages import STAGES

ROOT = Path(__file__).resolve().parents[1]


def _declared_points(stage):
    """{grade_id: points} of every graded cell the stage declares."""
    points = {c.name: float(c.points) for c in stage.checks}
    points.update({q.grade_id: float(q.points) for q in getattr(stage, "written", ())})
    return points


def graded_changes(stages=STAGES, db=None):
    """One message per assignment with graded submissions whose points or
    checks in course/stages.py differ from the gradebook's; [] when none
    (or when there is no gradebook)."""
    db = Path(db or ROOT / "gradebook.db")
    if not db.exists():
        return []
    from nbgrader.api import Gradebook, MissingEntry

    messages = []
    with Gradebook(f"sqlite:///{db}") as gb:
        for stage in stages:
            try:
                assignment = gb.find_assignment(stage.name)
                notebook = gb.find_notebook(stage.name, stage.name)
            except MissingEntry:
                continue
            graded = len(assignment.submissions)
            if not graded:
                continue
            old = {cell.name: float(cell.max_score) for cell in notebook.grade_cells}
            new = _declared_points(stage)
            changes = [f"  {name}: {old[name]:g} -> {new[name]:g} points"
                       for name in sorted(old.keys() & new.keys()) if old[name] != new[name]]
            added = [f"  new check {name} ({new[name]:g} points)" for name in sorted(new.keys()
                                                                                 - old.keys())]
            removed = [f"  check {name} removed ({old[name]:g} points)"
                       for name in sorted(old.keys() - new.keys())]
            if not (changes or added or removed):
                continue
            lines = [f"warning: {stage.name} has {graded} graded submission"
                     f"{'s' if graded != 1 else ''} in {db.name}, and this build changes:",
                     *changes, *added, *removed]
            if added or removed:
                lines += [
                    "nbgrader cannot add or remove a graded cell of an assignment with "
                    "submissions (generate_assignment fails). Leave the checks as they are "
                    "until the next term, or export the grades first and regrade from scratch:",
                    "  .venv/bin/nbgrader export",
                    f"  .venv/bin/nbgrader db assignment remove {stage.name} --force",
                    "  make build",
                    f"  .venv/bin/nbgrader autograde {stage.name}",
                    f"  .venv/bin/nbgrader generate_feedback {stage.name} --force",
                    "  .venv/bin/nbgrader export",
                ]
            else:
                lines += [
                    "The stored grades keep the old points until you regrade:",
                    f"  .venv/bin/nbgrader autograde {stage.name} --force",
                    f"  .venv/bin/nbgrader generate_feedback {stage.name} --force",
                    "  .venv/bin/nbgrader export",
                    "(and release_feedback again if the students already have feedback)",
                ]
            messages.append("\n".join(lines))
    return messages
