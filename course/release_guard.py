"""Refuse to release a stage whose files give away answers of stages still open.

Stage 5 ships ``cnn1d_reference.py``, the reference layers it trains with:
the answers of stages 2-4 (``output_size``, ``Conv1d`` with padding and
stride). Released while one of those stages is still open, it hands every
student the answers. ``nbgrader_config.py`` makes nbgrader's own
``release_assignment`` (the command line and formgrader's Release button) use
``GuardedReleaseAssignment``: it refuses a stage while any stage it reveals
(``Stage.reveals`` in ``course/stages.py``) has a due date in the future, or
no due date in the gradebook (the guard cannot know it has closed). Set the
due dates with ``nbgrader db assignment add NAME --duedate=...``. An
instructor who means it (self-study, a demo) forces the release with
``--GuardedReleaseAssignment.allow_open_answers=True``.
"""

from datetime import UTC, datetime
from pathlib import Path

from nbgrader.api import Gradebook, MissingEntry
from nbgrader.exchange.default.release_assignment import ExchangeReleaseAssignment
from traitlets import Bool

from course.stages import STAGE_NAMES, get_stage

FORCE = "--GuardedReleaseAssignment.allow_open_answers=True"


def open_revealed_stages(stage_name, db_url, now=None):
    """Reasons why ``stage_name`` must not be released yet: one string per stage
    whose answers it reveals and that has not closed (no due date, or a due
    date after ``now``, UTC). An empty list means the release is safe."""
    if stage_name not in STAGE_NAMES:
        return []  # not a stage of this course: nothing to guard
    revealed = get_stage(stage_name).reveals
    if not revealed:
        return []
    now = now or datetime.now(UTC).replace(tzinfo=None)  # the gradebook stores naive UTC
    if db_url.startswith("sqlite:///") and not Path(db_url[len("sqlite:///"):]).exists():
        return [f"{name} has no due date (there is no gradebook yet)" for name in revealed]
    problems = []
    with Gradebook(db_url) as gradebook:
        for name in revealed:
            try:
                due = gradebook.find_assignment(name).duedate
            except MissingEntry:
                due = None
            if due is None:
                problems.append(f"{name} has no due date in the gradebook")
            elif due > now:
                problems.append(f"{name} is due {due:%Y-%m-%d %H:%M} UTC, still in the future")
    return problems


class GuardedReleaseAssignment(ExchangeReleaseAssignment):
    """nbgrader's release_assignment, refusing a stage that would give away the
    answers of a stage still open (see the module docstring)."""

    allow_open_answers = Bool(
        False, help="Release even when a stage whose answers this one reveals is still open."
    ).tag(config=True)

    def start(self):
        _refuse_open(self, self.allow_open_answers)
        return super().start()


def _refuse_open(exchange, allow):
    """Fail ``exchange`` (a release_assignment) when its stage reveals one still
    open, unless ``allow``."""
    name = exchange.coursedir.assignment_id
    problems = open_revealed_stages(name, exchange.coursedir.db_url)
    if problems and not allow:
        stage = get_stage(name)
        exchange.fail(
            f"refusing to release {name}: its files hold the answers of "
            f"{', '.join(stage.reveals)}, and " + "; ".join(problems) + ". Release it "
            "after those stages close (set due dates with `nbgrader db assignment add "
            f"NAME --duedate=...`), or force it with {FORCE}.")
    if problems:
        exchange.log.warning("releasing %s although %s (forced)", name, "; ".join(problems))


def guarded(release_class):
    """Another exchange's release_assignment (ngshare-exchange's, on several
    hosts: deploy/README.md) refusing as GuardedReleaseAssignment does, and
    forced by the same option."""

    class Guarded(release_class):
        def start(self):
            allow = self.config.GuardedReleaseAssignment.get("allow_open_answers", False)
            if isinstance(allow, str):  # as given on the command line
                allow = Bool().from_string(allow)
            _refuse_open(self, allow)
            return super().start()

    Guarded.__name__ = Guarded.__qualname__ = f"Guarded{release_class.__name__}"
    return Guarded
