"""The feedback service's record of every submission it saw and graded.

One SQLite file in the service's own state folder (readable by the service's
user only), plus a copy of each submitted notebook beside it, so that a
regrade runs on exactly what was graded. The instructor reads it through
the service's page (who submitted what, when, its provisional score) and the
final grades come from it by the rule of ``nbgrader collect
--before-duedate``: the last submission before the due date, else the last
one, late, with the course's late penalty.

The time that counts is the time the service saw the submission in the
exchange (``received``), not the timestamp in the submission's folder name:
the student's own server writes that one, so a student could date a late
submission back. Both are kept, and the instructor's page shows a folder
timestamp that disagrees with the time seen by more than the polling delay.
"""

import hashlib
import json
import sqlite3
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS submissions (
    id INTEGER PRIMARY KEY,
    student TEXT NOT NULL,
    assignment TEXT NOT NULL,
    folder TEXT NOT NULL UNIQUE,     -- the exchange's inbound folder name
    stamp TEXT NOT NULL,             -- the timestamp in the folder (the student's server's)
    received REAL NOT NULL,          -- when the service saw it (seconds since the epoch)
    sha256 TEXT NOT NULL,            -- of the notebook as saved in notebooks/<id>.ipynb
    feedback TEXT NOT NULL,          -- its feedback's file name in the exchange
    status TEXT NOT NULL,            -- queued, deferred, replaced, grading, graded, cut_off,
                                     -- refused
    note TEXT NOT NULL DEFAULT '',
    score REAL,
    max_score REAL,
    checks TEXT,                     -- JSON: [{id, points, max_points, passed, message}]
    graded REAL,                     -- when its feedback was written
    seconds REAL,                    -- grading time on the worker (wall)
    cpu REAL                         -- its CPU time, sandbox included (local workers)
);
CREATE INDEX IF NOT EXISTS by_student ON submissions (student, assignment, received);
"""

FINAL_STATUSES = ("graded", "cut_off")


def utc(seconds):
    """'2026-12-07 01:02:03 UTC' for seconds since the epoch."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


class Ledger:
    """The service's records, in ``folder/ledger.sqlite`` and ``folder/notebooks/``."""

    def __init__(self, folder):
        self.folder = Path(folder)
        (self.folder / "notebooks").mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.folder / "ledger.sqlite", check_same_thread=False,
                                  isolation_level=None)
        self.db.row_factory = sqlite3.Row
        self.db.executescript(SCHEMA)
        self.lock = threading.Lock()     # the service's threads share the connection

    def _q(self, sql, args=()):
        with self.lock:
            cur = self.db.execute(sql, args)
            return cur.lastrowid, cur.fetchall()

    def close(self):
        self.db.close()

    # ------------------------------------------------------------ writing
    def known(self, folder):
        return bool(self._q("SELECT 1 FROM submissions WHERE folder = ?", (folder,))[1])

    def add(self, student, assignment, folder, stamp, nb_bytes, feedback, status="queued",
            note="", received=None):
        """Record a submission and keep its notebook; returns its id."""
        digest = hashlib.sha256(nb_bytes).hexdigest()
        rowid, _ = self._q(
            "INSERT INTO submissions (student, assignment, folder, stamp, received, sha256, "
            "feedback, status, note) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (student, assignment, folder, stamp, received or time.time(), digest, feedback,
             status, note))
        self.notebook_path(rowid).write_bytes(nb_bytes)
        return rowid

    def notebook_path(self, submission_id):
        return self.folder / "notebooks" / f"{submission_id}.ipynb"

    def set_status(self, submission_id, status, note=None):
        if note is None:
            self._q("UPDATE submissions SET status = ? WHERE id = ?", (status, submission_id))
        else:
            self._q("UPDATE submissions SET status = ?, note = ? WHERE id = ?",
                    (status, note, submission_id))

    def record_result(self, submission_id, result, seconds, status="graded", note=""):
        """Store a grader result (a dict as SubmissionResult.as_dict gives)."""
        self._q(
            "UPDATE submissions SET status = ?, note = ?, score = ?, max_score = ?, "
            "checks = ?, graded = ?, seconds = ?, cpu = ? WHERE id = ?",
            (status, note, result["score"], result["max_score"], json.dumps(result["checks"]),
             time.time(), seconds, result.get("cpu_s"), submission_id))

    # ------------------------------------------------------------ reading
    def get(self, submission_id):
        rows = self._q("SELECT * FROM submissions WHERE id = ?", (submission_id,))[1]
        return _as_dict(rows[0]) if rows else None

    def rows(self, assignment=None, student=None):
        """Every submission, oldest first, optionally of one assignment or student."""
        sql, args = "SELECT * FROM submissions WHERE 1", []
        if assignment:
            sql, args = sql + " AND assignment = ?", [*args, assignment]
        if student:
            sql, args = sql + " AND student = ?", [*args, student]
        return [_as_dict(r) for r in self._q(sql + " ORDER BY received, id", args)[1]]

    def final(self, assignment, due=None):
        """{student: row} chosen as ``nbgrader collect --before-duedate`` chooses:
        the last submission received by ``due`` (seconds since the epoch), else
        the last one; ``row["late_seconds"]`` says by how much it was late."""
        chosen = {}
        for row in self.rows(assignment):
            if row["status"] == "refused":
                continue
            chosen.setdefault(row["student"], []).append(row)
        out = {}
        for student, rows in chosen.items():
            on_time = [r for r in rows if due is None or r["received"] <= due]
            row = dict((on_time or rows)[-1])
            row["late_seconds"] = 0.0 if due is None else max(0.0, row["received"] - due)
            out[student] = row
        return out


def _as_dict(row):
    data = dict(row)
    data["checks"] = json.loads(data["checks"]) if data.get("checks") else []
    return data
