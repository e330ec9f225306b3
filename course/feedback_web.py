"""The feedback service's pages for the instructor, behind the hub:
``/services/cnn1d-feedback/`` (who submitted what, when, the provisional
score and the grading's status), ``.../api/submissions`` and
``.../api/grades/<assignment>`` (the final automatic grade of each student
by the rule of ``final_grades``) as JSON, ``.../api/status``.

Only members of the course's instructors' Linux group (``formgrade-<course>``)
are let in, whatever scopes their hub token has: a student gets 403.
"""

import grp
import json
import os
from html import escape

from tornado import web

from course.feedback_ledger import utc


def instructors(course):
    try:
        return set(grp.getgrnam(f"formgrade-{course}").gr_mem)
    except KeyError:
        return set()


def _handler_base():
    from jupyterhub.services.auth import HubOAuthenticated

    class Base(HubOAuthenticated, web.RequestHandler):
        def initialize(self, service, course):
            self.service, self.course = service, course

        def get_current_user(self):
            model = super().get_current_user()
            if model and model.get("kind", "user") == "user" \
                    and model["name"] in instructors(self.course):
                return model
            if model:
                raise web.HTTPError(403, "only the course's instructors see the gradebook")
            return None

        def write_error(self, status_code, **kwargs):
            # the reason a refusal gives (HTTPError's message), not only "Forbidden"
            error = kwargs.get("exc_info", (None, None, None))[1]
            why = getattr(error, "log_message", None) or ""
            self.finish(f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>"
                        f"{status_code}: {escape(self._reason)}</title></head><body><h1>"
                        f"{status_code}: {escape(self._reason)}</h1><p>{escape(why)}</p>"
                        "</body></html>")

        def write_json(self, data):
            self.set_header("Content-Type", "application/json")
            self.finish(json.dumps(data, indent=1, sort_keys=True))

    return Base


def make_app(service, course, prefix):
    """The tornado application under ``prefix`` (JUPYTERHUB_SERVICE_PREFIX)."""
    from jupyterhub.services.auth import HubOAuthCallbackHandler

    from course.feedback_service import final_grades

    Base = _handler_base()

    class Submissions(Base):
        @web.authenticated
        def get(self):
            rows = service.ledger.rows(self.get_argument("assignment", None))
            for row in rows:
                row.pop("feedback", None)   # the student's feedback file name stays private
            self.write_json(rows)

    class Grades(Base):
        @web.authenticated
        def get(self, assignment):
            self.write_json(final_grades(service.ledger, assignment,
                                         service.due.get(assignment)))

    class Status(Base):
        @web.authenticated
        def get(self):
            self.write_json(service.status())

    class Page(Base):
        @web.authenticated
        def get(self):
            rows = service.ledger.rows()
            lines = ["<tr><th>id</th><th>student</th><th>assignment</th><th>received</th>"
                     "<th>status</th><th>score</th><th>note</th></tr>"]
            for r in reversed(rows):
                score = "" if r["score"] is None else f"{r['score']:g} / {r['max_score']:g}"
                lines.append(
                    f"<tr><td>{r['id']}</td><td>{escape(r['student'])}</td>"
                    f"<td>{escape(r['assignment'])}</td><td>{utc(r['received'])}</td>"
                    f"<td>{escape(r['status'])}</td><td>{score}</td>"
                    f"<td>{escape(r['note'])}</td></tr>")
            status = escape(json.dumps(service.status()))
            self.finish("<!DOCTYPE html><html><head><meta charset='utf-8'><title>Submissions"
                        "</title></head><body><h1>Submissions graded on arrival</h1>"
                        f"<p>{status}</p><table border='1'>{''.join(lines)}</table>"
                        "</body></html>")

    args = {"service": service, "course": course}
    return web.Application([
        (prefix, Page, args),
        (prefix + "api/submissions", Submissions, args),
        (prefix + r"api/grades/([a-z_]+)", Grades, args),
        (prefix + "api/status", Status, args),
        (prefix + "oauth_callback", HubOAuthCallbackHandler),
    ], cookie_secret=os.urandom(32))
