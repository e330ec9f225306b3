"""The provisional feedback page the service writes for a submission.

It is the file nbgrader's ``fetch_feedback`` copies into the student's
``<assignment>/feedback/<timestamp>/<notebook>.html`` (the Assignment List's
"Fetch Feedback"): the same name the instructor's ``release_feedback`` uses
later, so the final feedback replaces it. Every text on it (check messages,
the student id) is escaped: nothing a submission prints becomes markup.
"""

from html import escape

from course.feedback_ledger import utc
from course.stages import get_stage

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 60em; margin: 2em auto; }
.provisional { background: #fff4ce; border: 1px solid #d9b100; padding: .6em 1em; }
table { border-collapse: collapse; width: 100%; margin-top: 1em; }
td, th { border: 1px solid #ccc; padding: .4em .6em; vertical-align: top; text-align: left; }
tr.failed td.result { color: #a00; font-weight: bold; }
tr.passed td.result { color: #070; }
pre { white-space: pre-wrap; margin: 0; }
"""


def _page(title, body):
    return ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
            f"<title>{escape(title)}</title><style>{STYLE}</style></head>"
            f"<body>{body}</body></html>\n")


def provisional_notice(due):
    when = f"the deadline ({utc(due)})" if due else "the deadline"
    return ("<p class=\"provisional\"><b>Provisional until " + escape(when) + ".</b> "
            "This is the automatic grading of the submission named above, for you to fix "
            "and resubmit. Your final grade is your last submission before the deadline "
            "(a later one only if there is none before it, with the late penalty), with the "
            "written answers graded by your instructor.</p>")


def graded_page(row, due=None):
    """The page for a graded submission: one row per check, what failed and why."""
    stage = get_stage(row["assignment"])
    checks = []
    for check in row["checks"]:
        name = check["id"].split(".", 1)[-1]
        summary = next((c.summary for c in stage.checks if c.name == name), "")
        state = "passed" if check["passed"] else "failed"
        message = "" if check["passed"] else check["message"]
        checks.append(
            f"<tr class=\"{state}\"><td>{escape(name)}<br><small>{escape(summary)}</small></td>"
            f"<td class=\"result\">{state}</td>"
            f"<td>{check['points']:g} / {check['max_points']:g}</td>"
            f"<td><pre>{escape(message)}</pre></td></tr>")
    cut = ""
    if row["status"] == "cut_off":
        cut = f"<p><b>{escape(row['note'])}</b></p>"
    written = (f"<p>Written answers ({stage.written_points:g} points) are graded by hand "
               "and are not in this score.</p>" if stage.written_points else "")
    body = (f"<h1>{escape(stage.name)}: {row['score']:g} / {row['max_score']:g} points "
            "(automatic checks)</h1>"
            f"<p>Submitted by {escape(row['student'])}, received {utc(row['received'])}, "
            f"graded {utc(row['graded'])}.</p>"
            + provisional_notice(due) + cut + written
            + "<table><tr><th>check</th><th>result</th><th>points</th><th>what went wrong"
              "</th></tr>" + "".join(checks) + "</table>")
    return _page(f"{stage.name}: provisional feedback", body)


def waiting_page(row, start_at, per_hour, due=None):
    """The page for a submission held back by the rate limit."""
    body = (f"<h1>{escape(row['assignment'])}: waiting to be graded</h1>"
            f"<p>Submitted by {escape(row['student'])}, received {utc(row['received'])}.</p>"
            f"<p>You have had {per_hour} submissions graded in the last hour, the course's "
            f"limit. This one will be graded at {utc(start_at)}, unless you submit again "
            "before then: the newer submission then takes its place.</p>"
            + provisional_notice(due))
    return _page(f"{row['assignment']}: waiting to be graded", body)
