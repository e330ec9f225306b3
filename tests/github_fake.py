"""A stand-in for GitHub on 127.0.0.1 and the students' repositories as local git
repositories, for the GitHub Classroom tests (test_classroom.py, test_workflows.py).

``FakeGitHub`` answers the REST calls ``course.classroom`` makes: a repository's
activity (one item a page, so that every caller must follow the ``Link``
header), ``/user``, and listing, opening and editing issues. Every call must
carry the token it was started with. ``student_repo`` makes a clone as
``gh classroom clone student-repos`` leaves it: real commits with the dates a
test chooses, and an ``origin`` on github.com.
"""

import json
import os
import re
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

ORG = "cnn1d-class"


class FakeGitHub:
    def __init__(self, token="test-token", user="instructor"):
        self.token, self.user = token, user
        self.activity = {}   # "owner/repo" -> [activity item]
        self.issues = {}     # "owner/repo" -> [issue]
        self.calls = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _answer(self, code, payload, link=None):
                body = json.dumps(payload).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                if link:
                    self.send_header("Link", link)
                self.end_headers()
                self.wfile.write(body)

            def _handle(self, method):
                url = urlsplit(self.path)
                fake.calls.append((method, url.path))
                if self.headers.get("Authorization") != f"Bearer {fake.token}":
                    return self._answer(401, {"message": "Bad credentials"})
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                code, payload, link = fake.route(method, url.path, query, body)
                self._answer(code, payload, link)

            def do_GET(self):
                self._handle("GET")

            def do_POST(self):
                self._handle("POST")

            def do_PATCH(self):
                self._handle("PATCH")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)

    def env(self):
        return {"GITHUB_API_URL": self.url, "GH_TOKEN": self.token}

    def push(self, repo, after, timestamp, before="0" * 40, kind="push"):
        self.activity.setdefault(f"{ORG}/{repo}", []).append(
            {"id": len(self.calls), "before": before, "after": after, "ref": "refs/heads/main",
             "timestamp": timestamp, "activity_type": kind, "actor": {"login": "student"}})

    def route(self, method, path, query, body):
        if path == "/user":
            return 200, {"login": self.user}, None
        m = re.fullmatch(r"/repos/([^/]+/[^/]+)/(activity|issues)(?:/(\d+))?", path)
        if not m:
            return 404, {"message": "Not Found"}, None
        repo, what, number = m.groups()
        if what == "activity":
            items = sorted(self.activity.get(repo, []), key=lambda a: a["timestamp"],
                           reverse=True)  # GitHub lists the newest first
            page = int(query.get("page", 1))
            link = None
            if page < len(items):
                link = f'<{self.url}{path}?per_page=1&page={page + 1}>; rel="next"'
            return 200, items[page - 1:page], link
        issues = self.issues.setdefault(repo, [])
        if method == "GET":
            return 200, [i for i in issues if i["user"]["login"] == query.get("creator")], None
        if method == "POST":
            issue = {"number": len(issues) + 1, "title": body["title"], "body": body["body"],
                     "state": "open", "user": {"login": self.user}}
            issues.append(issue)
            return 201, issue, None
        issue = issues[int(number) - 1]
        issue.update(body)
        return 200, issue, None


def git(repo, *args, date=None):
    env = dict(os.environ, GIT_CONFIG_GLOBAL=os.devnull, GIT_CONFIG_NOSYSTEM="1")
    if date:
        env.update(GIT_AUTHOR_DATE=date, GIT_COMMITTER_DATE=date)
    done = subprocess.run(["git", "-C", str(repo), "-c", "user.name=Student",
                           "-c", "user.email=student@example.org", *args], env=env,
                          capture_output=True, text=True, check=True)
    return done.stdout.strip()


def student_repo(clones, slug, login):
    """An empty clone ``clones/<slug>-<login>`` whose origin is the student's repository."""
    repo = clones / f"{slug}-{login}"
    repo.mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "remote", "add", "origin", f"https://github.com/{ORG}/{slug}-{login}.git")
    return repo


def commit(repo, files, date, message="work"):
    """Write ``files`` ({path: bytes}) and commit them with ``date``; the commit's sha."""
    for name, data in files.items():
        path = repo / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message, date=date)
    return git(repo, "rev-parse", "HEAD")
