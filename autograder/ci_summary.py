"""Per-student feedback files and a short class summary from the grader's JSON.

``python -m autograder.ci_summary GRADES.json --feedback DIR [--summary FILE]``

Used by ``docs/workflows/instructor-grade.yml``: every student gets
``DIR/<student>.md`` (each stage's score and every check's student-facing
message), and the run's step summary stays a few lines long whatever the
class size (GitHub caps a step summary at 1 MiB): the counts, the mean, the
score distribution per assignment, and where the full results are.
"""

import argparse
import hashlib
import json
import re
import sys
from collections import defaultdict
from pathlib import Path

from .reports import _cell

_SAFE = re.compile(r"[^A-Za-z0-9_.@-]")


def feedback_markdown(student, submissions):
    lines = [f"# Feedback for {_cell(student)}", ""]
    for sub in sorted(submissions, key=lambda s: s["assignment"]):
        lines += [f"## {sub['assignment']}: {sub['score']:g} / {sub['max_score']:g}", ""]
        for check in sub["checks"]:
            mark = "passed" if check["passed"] else "failed"
            lines.append(f"- **{check['id']}** ({check['points']:g} / "
                         f"{check['max_points']:g}, {mark})")
            if not check["passed"]:  # a fence no run of backticks in the message can close
                fence = "`" * max(3, 1 + max(map(len, re.findall("`+", check["message"])),
                                             default=0))
                lines += ["", f"  {fence}", *[f"  {line}" for line in
                                              check["message"].splitlines()], f"  {fence}"]
        lines.append("")
    return "\n".join(lines)


def feedback_file(student):
    """The feedback file's name: the student id where it is a safe file name, else
    its safe form plus a digest of the id (distinct ids never share a file)."""
    safe = _SAFE.sub("_", student)
    if safe != student or not safe.strip("."):
        safe += "-" + hashlib.sha256(student.encode("utf-8", "surrogateescape")).hexdigest()[:8]
    return safe + ".md"


def summary_markdown(submissions, bins=5):
    """A summary whose length depends on the number of assignments, not of students."""
    by_assignment = defaultdict(list)
    for sub in submissions:
        by_assignment[sub["assignment"]].append(sub)
    students = {sub["student"] for sub in submissions}
    lines = [f"**{len(submissions)} submissions** from {len(students)} students graded. "
             "Per-student feedback and the full grades (CSV, JSON, JUnit, Markdown) are in "
             "the run's `grades` artifact.", "",
             "| assignment | submissions | mean | full marks | zero | "
             + " | ".join(f"≤{100 * (i + 1) // bins}%" for i in range(bins)) + " |",
             "|---|---|---|---|---|" + "---|" * bins]
    for name in sorted(by_assignment):
        subs = by_assignment[name]
        fractions = [s["score"] / s["max_score"] if s["max_score"] else 0.0 for s in subs]
        counts = [0] * bins
        for f in fractions:
            counts[min(bins - 1, int(f * bins - 1e-9) if f > 0 else 0)] += 1
        mean = sum(s["score"] for s in subs) / len(subs)
        lines.append(f"| {name} | {len(subs)} | {mean:.1f} / {subs[0]['max_score']:g} | "
                     f"{sum(f >= 1 for f in fractions)} | {sum(f == 0 for f in fractions)} | "
                     + " | ".join(map(str, counts)) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m autograder.ci_summary",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("grades", help="the JSON of `python -m autograder grade --json`")
    parser.add_argument("--feedback", required=True, metavar="DIR",
                        help="write DIR/<student>.md for every student")
    parser.add_argument("--summary", metavar="FILE",
                        help="append the class summary here (e.g. $GITHUB_STEP_SUMMARY)")
    args = parser.parse_args(argv)
    submissions = json.loads(Path(args.grades).read_text())["submissions"]
    by_student = defaultdict(list)
    for sub in submissions:
        by_student[sub["student"]].append(sub)
    out = Path(args.feedback)
    out.mkdir(parents=True, exist_ok=True)
    for student, subs in by_student.items():
        (out / feedback_file(student)).write_text(feedback_markdown(student, subs))
    text = summary_markdown(submissions)
    if args.summary:
        with open(args.summary, "a") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
