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
  writes the CSV Canvas's gradebook import reads, for every roster student
  with a login, onto the assignments' own columns, and the lateness to a
  file beside it.
"""

import csv
import glob
import math
import os
import re
from datetime import datetime, timedelta
from pathlib import Path

from nbgrader.api import MissingEntry
from nbgrader.exchange.default.release_feedback import (
    ExchangeReleaseFeedback as DefaultReleaseFeedback,
)
from nbgrader.plugins import ExportPlugin, LateSubmissionPlugin
from nbgrader.plugins.zipcollect import FileNameCollectorPlugin
from traitlets import Dict, Enum, Float, Unicode

# Canvas: "<sortable name>_[LATE_]<user id>_<attachment id>_<file>", a resubmitted file
# name gets "-1", "-2", ... before its extension; older Canvas writes "late" in lower case.
# The sortable name is lower case with the non-word characters removed: Unicode letters
# stay ("müllerjörg").
CANVAS_RE = re.compile(r"^(?P<name>[^\W_]+)_(?:(?P<late>late|LATE)_)?(?P<lms_id>\d+)_\d+_"
                       r"(?P<file_id>.+?)(?:-\d+)?(?P<ext>\.ipynb)$")
# Moodle: "<Full Name>_<participant id>_assignsubmission_file_<file>", or the same
# prefix as a folder ("Download submissions in folders").
MOODLE_RE = re.compile(r"^(?P<name>[^/]+?)_(?P<lms_id>\d+)_assignsubmission_file_"
                       r"[/\\]?(?P<file_id>[^/\\]+?)(?P<ext>\.ipynb)$")

# The identity columns of Canvas's gradebook export and import, in the export's order
# (Integration ID and Root Account only when the account shows them).
CANVAS_IDENTITY = ["Student", "ID", "SIS User ID", "SIS Login ID", "Integration ID",
                   "Root Account", "Section"]
EXCUSED = "EX"  # Canvas's mark for an excused assignment, in the export and the import


class RosterError(ValueError):
    """The roster cannot map a download to a student."""


def read_roster(path, lms, log=None):
    """[{"login", "lms_id", "name", "row"}] from the LMS's own export.

    Canvas: the gradebook export (Grades > Export): columns Student, ID, SIS
    User ID, SIS Login ID, Section, then one "<name> (<id>)" column per
    assignment; the login is "SIS Login ID". Moodle: the grading worksheet
    (Download grading worksheet): columns Identifier ("Participant 123"), Full
    name, Email address, and "Username" when the site shows it; the login is
    the Username, else the part of the email address before "@". A row
    without a login (Canvas's "Student, Test") has login None, with a
    warning through ``log``.
    """
    with open(path, newline="", encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    if lms == "canvas" and rows and "SIS Login ID" not in rows[0]:
        raise RosterError(f"{path}: no \"SIS Login ID\" column: export the gradebook from "
                          "Canvas (Grades > Export) with the SIS Login ID shown")
    students = []
    for row in rows:
        if lms == "canvas":
            if not (row.get("ID") or "").strip().isdigit():  # the "Points Possible" row
                continue
            login, lms_id, name = row.get("SIS Login ID"), row["ID"], row["Student"]
        else:
            lms_id = re.sub(r"\D", "", row["Identifier"])
            login = row.get("Username") or (row.get("Email address") or "").split("@", 1)[0]
            name = row["Full name"]
        login = (login or "").strip() or None
        if login is None and log is not None:
            log(f"{path}: {name!r} (LMS id {lms_id}) has no login: left out (Canvas's test "
                "student has none)")
        students.append({"login": login, "lms_id": lms_id.strip(), "name": name, "row": row})
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
            self._by_id = {s["lms_id"]: s for s in read_roster(self.roster, self.lms,
                                                               self.log.warning)}
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
        if student["login"] is None:
            self.log.warning("%s: %s has no login in the roster %s: not collected",
                             submitted_file, student["name"], self.roster)
            return None
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
    """Grades as Canvas's gradebook import reads them, for the roster's students.

    The roster is Canvas's own gradebook export (Grades > Export). The CSV
    has its identity columns (Student, ID, SIS User ID, SIS Login ID,
    Section), one column per assignment named as in the export,
    "<name> (<Canvas id>)", so that the grades land on the existing
    assignment, and the "Points Possible" row. A cell holds the points after
    the late penalty, 0 for a student who submitted nothing, and "EX" where
    the roster has the student excused. Only the assignments of
    ``--assignment``; without it, those with a submission in the gradebook.
    A roster row without a login (Canvas's test student) keeps its cells as
    the roster has them, which Canvas reads as no change. Lateness goes to a
    second file, ``<name>_late.csv``: a column in the import would become an
    assignment of its own.
    """

    roster = Unicode("", help="Canvas's gradebook export, relative to the course root"
                     ).tag(config=True)
    columns = Dict(value_trait=Unicode(), default_value={},
                   help="{nbgrader assignment: Canvas column} where the Canvas assignment is "
                        "named otherwise, e.g. {'single_channel': 'Stage 1 (4242)'}"
                   ).tag(config=True)

    def export(self, gradebook):
        if not self.roster:
            raise RosterError("CanvasExport.roster is not set: the Canvas export needs the "
                              "gradebook export of the course (Grades > Export)")
        dest = self.to or "canvas_grades.csv"
        students = read_roster(self.roster, "canvas", self.log.warning)
        with open(self.roster, newline="", encoding="utf-8-sig") as f:
            header = next(csv.reader(f))
        assignments = self._assignments(gradebook)
        columns = [self._column(a.name, header) for a in assignments]
        identity = [col for col in header if col in CANVAS_IDENTITY]
        penalty = _late_penalty(self)
        rows = [[*identity, *columns],
                ["Points Possible", *[""] * (len(identity) - 1),
                 *[f"{a.max_score:g}" for a in assignments]]]
        late = []
        for s in students:
            row = [s["row"].get(col, "") for col in identity]
            if s["login"] is None:  # Canvas's test student: its cells as Canvas has them
                rows.append([*row, *(s["row"].get(column, "") for column in columns)])
                continue
            for a, column in zip(assignments, columns, strict=True):
                cell, status = self._cell(gradebook, a, s, column, penalty)
                row.append(cell)
                late.append([s["name"], s["login"], a.name, *status])
            rows.append(row)
        with open(dest, "w", newline="", encoding="utf-8") as f:
            csv.writer(f).writerows(rows)
        self.log.info("wrote %s (%d students, %s) and the lateness in %s", dest, len(rows) - 2,
                      ", ".join(columns), _write_late(dest, late))

    def _assignments(self, gradebook):
        known = {a.name: a for a in gradebook.assignments}
        if self.assignment:
            unknown = [name for name in self.assignment if name not in known]
            if unknown:
                raise RosterError(f"--assignment {', '.join(unknown)}: not in the gradebook "
                                  f"(it has {', '.join(known) or 'none'})")
            return [known[name] for name in self.assignment]
        chosen = [a for a in known.values() if a.submissions]
        for name in sorted(set(known) - {a.name for a in chosen}):
            self.log.warning("%s has no submission in the gradebook: not exported (name it "
                             "with --assignment to export 0 for everyone)", name)
        if not chosen:
            raise RosterError("no assignment has a submission in the gradebook: nothing to "
                              "export")
        return chosen

    def _column(self, name, header):
        if name in self.columns:
            if self.columns[name] not in header:
                raise RosterError(f"CanvasExport.columns maps {name} to "
                                  f"{self.columns[name]!r}, which is not a column of "
                                  f"{self.roster}")
            return self.columns[name]
        found = [col for col in header if re.fullmatch(rf"{re.escape(name)} \(\d+\)", col)]
        if len(found) != 1:
            raise RosterError(
                f"{self.roster} has {'no' if not found else 'more than one'} column "
                f"\"{name} (<Canvas id>)\" ({', '.join(found) or 'none'}): create the "
                f"assignment {name} in Canvas and export the gradebook again, or map it with "
                f"--CanvasExport.columns=\"{{'{name}': '<Canvas column>'}}\"")
        return found[0]

    @staticmethod
    def _cell(gradebook, assignment, student, column, penalty):
        """(cell, [status, seconds late, penalty]) of one student and assignment."""
        if (student["row"].get(column) or "").strip().upper() == EXCUSED:
            return EXCUSED, ["excused", "", ""]
        return _points(gradebook, assignment, student["login"], penalty)


def _points(gradebook, assignment, login, penalty):
    """(points after the late penalty, [status, seconds late, penalty]); "0" and
    "missing" when nothing was submitted."""
    try:
        sub = gradebook.find_submission(assignment.name, login)
    except MissingEntry:
        return "0", ["missing", "", ""]
    taken = sum(penalty(login, nb.score, sub.total_seconds_late)
                for nb in sub.notebooks) if sub.total_seconds_late > 0 else 0.0
    status = "late" if sub.total_seconds_late > 0 else "on time"
    return (f"{max(0.0, sub.score - taken):g}",
            [status, f"{sub.total_seconds_late:g}", f"{taken:g}"])


def _write_late(dest, rows):
    """The lateness beside the export: ``<name>_late.csv``."""
    late_dest = str(Path(dest).with_name(f"{Path(dest).stem}_late.csv"))
    with open(late_dest, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([["Student", "login", "assignment", "status", "seconds late",
                                  "penalty"], *rows])
    return late_dest


class MoodleExport(ExportPlugin):
    """One assignment's grades as Moodle's "Upload grading worksheet" reads them.

    The worksheet is Moodle's own (the assignment's *Download grading
    worksheet*), written back with its rows and columns as they are and the
    "Grade" column filled: the points after the late penalty, 0 for a student
    who submitted nothing. Moodle matches rows by "Identifier". The lateness
    goes to ``<name>_late.csv``.
    """

    roster = Unicode("", help="the assignment's grading worksheet from Moodle, relative to "
                              "the course root").tag(config=True)

    def export(self, gradebook):
        if not self.roster:
            raise RosterError("MoodleExport.roster is not set: the Moodle export needs the "
                              "assignment's grading worksheet (Download grading worksheet)")
        if len(self.assignment) != 1:
            raise RosterError("a Moodle grading worksheet is one assignment's: name it with "
                              "--assignment=NAME")
        (name,) = self.assignment
        try:
            assignment = gradebook.find_assignment(name)
        except MissingEntry:
            raise RosterError(f"--assignment {name}: not in the gradebook") from None
        dest = self.to or "moodle_grades.csv"
        with open(self.roster, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            header, rows = reader.fieldnames, list(reader)
        if "Grade" not in header or "Identifier" not in header:
            raise RosterError(f"{self.roster} is not a Moodle grading worksheet (no Identifier "
                              "or Grade column)")
        tops = {r.get("Maximum Grade", "") for r in rows} - {""}
        if tops and {float(t) for t in tops} != {assignment.max_score}:
            raise RosterError(f"Moodle's Maximum Grade is {', '.join(sorted(tops))}, the "
                              f"gradebook's {assignment.max_score:g}: set the assignment's "
                              "maximum grade in Moodle to match, download the worksheet again")
        penalty = _late_penalty(self)
        late, grades = [], {}
        for student in read_roster(self.roster, "moodle", self.log.warning):
            if student["login"] is None:
                continue
            cell, status = _points(gradebook, assignment, student["login"], penalty)
            grades[student["row"]["Identifier"]] = cell
            late.append([student["name"], student["login"], name, *status])
        for row in rows:
            row["Grade"] = grades.get(row["Identifier"], row["Grade"])
        with open(dest, "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=header)
            writer.writeheader()
            writer.writerows(rows)
        self.log.info("wrote %s (%d students) and the lateness in %s", dest, len(late),
                      _write_late(dest, late))


def _late_penalty(parent):
    """penalty(student, score, seconds late) of the course's late policy
    (nbgrader's AssignLatePenalties.plugin_class), computed from the score as
    it is now, manual grades included, as generate_feedback does."""
    from nbgrader.preprocessors import AssignLatePenalties

    plugin = AssignLatePenalties(parent=parent).plugin_class(parent=parent)

    def penalty(student, score, seconds):
        if not score or seconds <= 0:
            return 0.0
        value = plugin.late_submission_penalty(student, score, seconds)
        return min(max(value or 0.0, 0.0), score)

    return penalty


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
