"""The LMS round trip: submissions downloaded from Canvas or Moodle go into
nbgrader with ``nbgrader zip_collect``; grades go back as a CSV that
Canvas's gradebook imports.

Configured in ``nbgrader_config.py`` (see ``deploy/README.md``):

- ``LmsCollector``: zip_collect's file-name plugin for the names Canvas's and
  Moodle's "Download submissions" use. The LMS names a student by its own id;
  a roster exported from the LMS maps that id to the nbgrader student id
  (the JupyterHub login).
- ``ReleaseFeedback``: nbgrader's release_feedback, skipping (with a message)
  the submissions that did not come through the exchange: they have no
  ``submission_secret.txt`` (and often no ``timestamp.txt``), their students
  cannot fetch feedback from the exchange, and their feedback HTML goes back
  through the LMS (``feedback/<student>/<assignment>/``).
- ``CanvasExport``: ``nbgrader export --exporter=course.lms.CanvasExport``
  writes Canvas's gradebook CSV layout for every roster student, submitted or
  not, with a late flag per assignment.
"""

import csv
import glob
import math
import os
import re
from datetime import datetime, timedelta
from pathlib import Path

from nbgrader.exchange.default.release_feedback import (
    ExchangeReleaseFeedback as DefaultReleaseFeedback,
)
from nbgrader.plugins import ExportPlugin, LateSubmissionPlugin
from nbgrader.plugins.zipcollect import FileNameCollectorPlugin
from traitlets import Enum, Float, Unicode

# Canvas: "<sortable name>_[LATE_]<user id>_<attachment id>_<file>", a resubmitted file
# name gets "-1", "-2", ... before its extension; older Canvas writes "late" in lower case.
CANVAS_RE = re.compile(r"^(?P<name>[a-z0-9]+)_(?:(?P<late>late|LATE)_)?(?P<lms_id>\d+)_\d+_"
                       r"(?P<file_id>.+?)(?:-\d+)?(?P<ext>\.ipynb)$")
# Moodle: "<Full Name>_<participant id>_assignsubmission_file_<file>", or the same
# prefix as a folder ("Download submissions in folders").
MOODLE_RE = re.compile(r"^(?P<name>[^/]+?)_(?P<lms_id>\d+)_assignsubmission_file_"
                       r"[/\\]?(?P<file_id>[^/\\]+?)(?P<ext>\.ipynb)$")

CANVAS_HEADER = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]


class RosterError(ValueError):
    """The roster cannot map a download to a student."""


def read_roster(path, lms):
    """[{"login", "lms_id", "name", "row"}] from the LMS's own export.

    Canvas: the gradebook export (Grades > Export): columns Student, ID, SIS
    User ID, SIS Login ID, Section; the login is "SIS Login ID". Moodle: the
    grading worksheet (Download grading worksheet): columns Identifier
    ("Participant 123"), Full name, Email address, and "Username" when the site
    shows it; the login is the Username, else the part of the email address
    before "@".
    """
    with open(path, newline="", encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    students = []
    for row in rows:
        if lms == "canvas":
            if not row.get("ID", "").strip().isdigit():  # the "Points Possible" row
                continue
            login, lms_id, name = row["SIS Login ID"], row["ID"], row["Student"]
        else:
            lms_id = re.sub(r"\D", "", row["Identifier"])
            login = row.get("Username") or row["Email address"].split("@", 1)[0]
            name = row["Full name"]
        if not login:
            raise RosterError(f"{path}: no login for {name!r} (LMS id {lms_id})")
        students.append({"login": login.strip(), "lms_id": lms_id.strip(), "name": name,
                         "row": row})
    return students


class LmsCollector(FileNameCollectorPlugin):
    """zip_collect's collector for Canvas and Moodle download file names."""

    lms = Enum(["canvas", "moodle"], default_value="canvas",
               help="which LMS the downloads come from").tag(config=True)
    roster = Unicode("", help="the LMS's roster export (Canvas: gradebook CSV; Moodle: "
                              "grading worksheet), relative to the course root").tag(config=True)

    def _mapping(self):
        if not hasattr(self, "_by_id"):
            if not self.roster:
                raise RosterError("LmsCollector.roster is not set: zip_collect needs the "
                                  "LMS's roster export to know who each download belongs to")
            self._by_id = {s["lms_id"]: s for s in read_roster(self.roster, self.lms)}
        return self._by_id

    def collect(self, submitted_file):
        if os.path.splitext(submitted_file)[1] not in self.valid_ext:
            return None
        # the path inside the extracted download: Moodle's folders name the student
        parts = Path(submitted_file).parts
        name = "/".join(parts[-2:]) if self.lms == "moodle" else parts[-1]
        match = (CANVAS_RE if self.lms == "canvas" else MOODLE_RE).search(name)
        if match is None and self.lms == "moodle":
            match = MOODLE_RE.search(parts[-1])
        if match is None:
            self.log.warning("not a %s submission file name, skipped: %s", self.lms,
                             submitted_file)
            return None
        student = self._mapping().get(match["lms_id"])
        if student is None:
            raise RosterError(f"{submitted_file}: LMS id {match['lms_id']} is not in the "
                              f"roster {self.roster}")
        info = {"student_id": student["login"], "file_id": match["file_id"] + match["ext"]}
        submitted = student["row"].get("Last modified (submission)", "")
        if submitted and submitted != "-":  # Moodle writes the time of the submission
            info["timestamp"] = _moodle_time(submitted)
        elif self.lms == "canvas" and self._duedate() is not None:
            # Canvas's file names carry no time, only a LATE mark: on time is
            # the due date, late is a second past it (the LatePenalty's first day)
            late = timedelta(seconds=1 if match["late"] else 0)
            info["timestamp"] = (self._duedate() + late).isoformat(" ")
        return info

    def _duedate(self):
        if not hasattr(self, "_due"):
            from nbgrader.api import Gradebook, MissingEntry

            coursedir = self.parent.coursedir
            with Gradebook(coursedir.db_url) as gb:
                try:
                    self._due = gb.find_assignment(coursedir.assignment_id).duedate
                except MissingEntry:
                    self._due = None
        return self._due


def _moodle_time(text):
    """Moodle's "Thursday, 27 November 2026, 3:04 PM" (site time) as a timestamp string."""
    for fmt in ("%A, %d %B %Y, %I:%M %p", "%A, %d %B %Y, %H:%M"):
        try:
            return datetime.strptime(text.strip(), fmt).isoformat(" ")
        except ValueError:
            pass
    return ""  # nbgrader warns about an empty timestamp and keeps none


class ReleaseFeedback(DefaultReleaseFeedback):
    """release_feedback that skips submissions collected from an LMS."""

    def copy_files(self):
        lms = sorted(Path(d).parent.name for d in glob.glob(self.src_path)
                     if not (Path(d) / "submission_secret.txt").exists()
                     or not (Path(d) / "timestamp.txt").exists())
        if lms:
            self.log.warning("not released through the exchange (collected from an LMS: "
                             "return their feedback there): %s", ", ".join(lms))
            exclude = {s for s in self.coursedir.student_id_exclude.split(",") if s}
            self.coursedir.student_id_exclude = ",".join(sorted(exclude | set(lms)))
        super().copy_files()


class CanvasExport(ExportPlugin):
    """Grades in Canvas's gradebook import layout, every roster student included.

    One row per roster student: Canvas's identity columns as the roster has
    them, then per assignment its points after the late penalty (0 for a
    student who submitted nothing) and a "<assignment> late" column: "late", "on time" or
    "missing" (Canvas reads it as a text column; drop it in the import preview
    if not wanted).
    """

    roster = Unicode("", help="Canvas's gradebook export, relative to the course root"
                     ).tag(config=True)

    def export(self, gradebook):
        if not self.roster:
            raise RosterError("CanvasExport.roster is not set: the Canvas export needs the "
                              "gradebook export of the course (Grades > Export)")
        dest = self.to or "canvas_grades.csv"
        students = read_roster(self.roster, "canvas")
        assignments = [a for a in gradebook.assignments
                       if not self.assignment or a.name in self.assignment]
        header = [*CANVAS_HEADER]
        for a in assignments:
            header += [a.name, f"{a.name} late"]
        rows = [header, ["Points Possible", "", "", "", "",
                         *[v for a in assignments for v in (f"{a.max_score:g}", "")]]]
        for s in students:
            row = [s["row"].get(col, "") for col in CANVAS_HEADER]
            for a in assignments:
                try:
                    sub = gradebook.find_submission(a.name, s["login"])
                except Exception:  # noqa: BLE001 - nbgrader's MissingEntry: nothing submitted
                    row += ["0", "missing"]
                    continue
                points = max(0.0, sub.score - (sub.late_submission_penalty or 0.0))
                row += [f"{points:g}", "late" if sub.total_seconds_late > 0 else "on time"]
            rows.append(row)
        with open(dest, "w", newline="", encoding="utf-8") as f:
            csv.writer(f).writerows(rows)
        self.log.info("wrote %s (%d students, %d assignments)", dest, len(students),
                      len(assignments))


class LatePenalty(LateSubmissionPlugin):
    """The course's late policy: ``per_day`` of the points off for each started day late.

    nbgrader's AssignLatePenalties calls it for a submission whose timestamp is
    past the assignment's due date (set in formgrader, or
    ``nbgrader db assignment add NAME --duedate=...``). One second late costs a
    day's share; the score never goes below 0.
    """

    per_day = Float(0.1, help="fraction of the points taken off per started day late"
                    ).tag(config=True)

    def late_submission_penalty(self, student_id, score, total_seconds_late):
        days = math.ceil(total_seconds_late / 86400)
        penalty = min(score, score * self.per_day * days)
        self.log.warning("%s is %d day(s) late: %g of %g points taken off", student_id, days,
                         penalty, score)
        return penalty
