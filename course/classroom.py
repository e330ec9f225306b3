"""GitHub Classroom: the students' repositories into the kit's layout, the late
policy from push times, and each student's feedback back in their repository.

``python -m course classroom collect CLONES --assignment STAGE --due DATE``
    CLONES is the folder ``gh classroom clone student-repos`` leaves
    (``<slug>-submissions/<slug>-<login>/``, one clone per student). Each
    student's notebook of the stage is copied to
    ``submissions/<login>/<stage>/<stage>.ipynb`` with nbgrader's
    ``timestamp.txt`` beside it; ``submissions/classroom-<stage>.json`` records
    for every student the repository, the commit, its push time and what was
    found (an empty repository, no notebook of the stage, a renamed one).
``python -m course classroom report GRADES.json MANIFEST --out DIR``
    The late policy (``course.lms.LatePenalty``, as in ``nbgrader_config.py``)
    applied to the grader's JSON; one feedback file per student and a CSV.
``python -m course classroom deliver DIR``
    Each student's feedback as an issue in their own repository (updated in
    place on a rerun).

Lateness is measured from the time GitHub received the commit (the
repository's activity, ``GET /repos/{owner}/{repo}/activity``), never from the
commit's own date: ``git commit --date`` and ``GIT_COMMITTER_DATE`` let a
student write any date into a commit. The commit date is kept in the record
and shown in the feedback, as information only. Details: docs/classroom.md.
"""

import csv
import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S.%f %Z"  # nbgrader's timestamp.txt
# activity types that put a commit at the tip of a branch on GitHub
PUSHES = {"push", "force_push", "branch_creation", "pr_merge", "merge_queue_merge"}
ISSUE_TITLE = "Feedback: {stage}"
ISSUE_BODY_LIMIT = 60000  # GitHub refuses issue bodies over 65,536 characters
CUT = "\n\n(Cut here: an issue holds no more. Ask your instructor for the rest.)\n"
_REMOTE = re.compile(r"^(?:https://[^/]+/|git@[^:]+:|ssh://git@[^/]+/)"
                     r"(?P<owner>[\w.-]+)/(?P<repo>[\w.-]+?)(?:\.git)?/?$")


class ClassroomError(Exception):
    """Bad input or configuration: the message says what is wrong and what to do."""


# --------------------------------------------------------------------------
# Times
# --------------------------------------------------------------------------

def parse_time(text):
    """An aware datetime from ISO 8601 or nbgrader's ``2026-12-07 17:00:00 UTC``."""
    raw = text.strip()
    cleaned = re.sub(r"\s*(UTC|GMT|Z)$", "+00:00", raw)
    try:
        when = dt.datetime.fromisoformat(cleaned)
    except ValueError:
        raise ClassroomError(f"cannot read the time {text!r}: write it as "
                             "'2026-12-07 17:00 UTC' or ISO 8601 with an offset") from None
    if when.tzinfo is None:
        raise ClassroomError(f"the time {text!r} has no time zone: add 'UTC' or an offset "
                             "such as +01:00")
    return when.astimezone(dt.UTC)


def _iso(when):
    return when.astimezone(dt.UTC).isoformat().replace("+00:00", "Z") if when else None


# --------------------------------------------------------------------------
# GitHub's REST API (stdlib only: the deliver job installs nothing)
# --------------------------------------------------------------------------

class GitHub:
    """The few REST calls the kit makes, with a token from GH_TOKEN or GITHUB_TOKEN."""

    def __init__(self, api_url=None, token=None):
        self.api_url = (api_url or os.environ.get("GITHUB_API_URL")
                        or "https://api.github.com").rstrip("/")
        self.token = token or os.environ.get("GH_TOKEN") or os.environ.get("GITHUB_TOKEN")
        if not self.token:
            raise ClassroomError("no GitHub token: set GH_TOKEN (on your machine: "
                                 "GH_TOKEN=\"$(gh auth token)\"; in a workflow: a secret)")

    def request(self, method, path, body=None):
        """(JSON, next page URL or None) of one call; ClassroomError on an HTTP error."""
        url = path if path.startswith("http") else self.api_url + path
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(url, data=data, method=method, headers={
            "Accept": "application/vnd.github+json", "Authorization": f"Bearer {self.token}",
            "X-GitHub-Api-Version": "2022-11-28", "User-Agent": "cnn1d-course-kit",
            **({"Content-Type": "application/json"} if data else {})})
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                payload = json.loads(resp.read() or b"null")
                link = resp.headers.get("Link", "")
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")[:300]
            raise ClassroomError(f"GitHub answered {exc.code} to {method} {url}: {detail}"
                                 ) from None
        except urllib.error.URLError as exc:
            raise ClassroomError(f"cannot reach {url}: {exc.reason}") from None
        nxt = re.search(r'<([^>]+)>;\s*rel="next"', link)
        return payload, nxt.group(1) if nxt else None

    def pages(self, path):
        url = path
        while url:
            items, url = self.request("GET", url)
            yield from items

    def activity(self, owner, repo):
        return list(self.pages(f"/repos/{owner}/{repo}/activity?per_page=100"))


def push_time(activity, contains):
    """The earliest time GitHub put a commit holding the graded one at a branch tip.

    ``contains(sha)`` says whether the commit ``sha`` is the graded commit or a
    descendant of it. None when no push of it is listed.
    """
    times = [parse_time(a["timestamp"]) for a in activity
             if a.get("activity_type") in PUSHES and a.get("after") and contains(a["after"])]
    return min(times, default=None)


# --------------------------------------------------------------------------
# Collect
# --------------------------------------------------------------------------

def _git(repo, *args):
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True)
    return done.returncode, done.stdout.strip()


def _origin(repo):
    code, url = _git(repo, "remote", "get-url", "origin")
    m = _REMOTE.match(url) if code == 0 else None
    if not m:
        raise ClassroomError(f"{repo}: its origin ({url or 'none'}) is not a GitHub "
                             "repository: clone the students' repositories with "
                             "`gh classroom clone student-repos`")
    return m.group("owner"), m.group("repo")


def _untouched(path, stage):
    """True when the notebook's answer cells are the release's: the starter copy."""
    import nbformat

    from autograder.grade import ROOT, answer_cells

    try:
        nb = nbformat.read(path, as_version=4)
    except Exception:  # noqa: BLE001 - an unreadable notebook is the student's own
        return False
    release = nbformat.read(ROOT / "release" / stage.name / stage.notebook, as_version=4)
    return answer_cells(nb, stage) == answer_cells(release, stage)


def _notebooks(repo, sha, scratch):
    """{path in the repository: a copy of its blob in ``scratch``} of the commit's
    notebooks. Only regular files count: a symbolic link is never followed (it
    could point anywhere on the instructor's machine), a submodule never read."""
    listing = _git(repo, "ls-tree", "-r", "-z", sha)[1]
    found = {}
    for entry in filter(None, listing.split("\0")):
        meta, name = entry.split("\t", 1)
        mode, kind, blob = meta.split()
        if (kind != "blob" or mode not in ("100644", "100755") or not name.endswith(".ipynb")
                or ".ipynb_checkpoints" in name.split("/")):
            continue
        copy = Path(scratch) / str(len(found)) / Path(name).name
        copy.parent.mkdir()
        copy.write_bytes(subprocess.run(["git", "-C", str(repo), "cat-file", "blob", blob],
                                        capture_output=True, check=True).stdout)
        found[name] = copy
    return found


def _student_notebook(notebooks, stage):
    """(path of the stage's notebook in the repository or None, what was found, status).

    Of the notebooks of the stage (by name or answer cells), those the student
    worked on count, else the untouched ones; of these the one, else the one
    named ``<stage>.ipynb``; several and none so named: ambiguous, None.
    """
    from autograder.grade import _stage_of_file

    names = list(notebooks)
    ours = [n for n in names if getattr(_stage_of_file(notebooks[n]), "name", None) == stage.name]
    if not ours:
        found = ", ".join(names) or "no notebook at all"
        return None, f"no notebook of {stage.name} in the repository (found: {found})", \
            "missing"
    pool = [n for n in ours if not _untouched(notebooks[n], stage)] or ours
    canonical = [n for n in pool if Path(n).name == stage.notebook]
    if len(pool) > 1 and len(canonical) != 1:
        return None, (f"{len(pool)} notebooks of {stage.name}, none of them named "
                      f"{stage.notebook}: {', '.join(pool)}; keep one, or name the one to "
                      f"grade {stage.notebook}"), "ambiguous"
    chosen = pool[0] if len(pool) == 1 else canonical[0]
    notes = [f"renamed {chosen} to {stage.notebook}"] if Path(chosen).name != stage.notebook \
        else []
    others = [n for n in ours if n != chosen]
    if others:
        notes.append(f"not graded: {', '.join(others)}")
    return chosen, "; ".join(notes), "collected"


def collect(clones, stage_name, due, out="submissions", prefix=None, github=None, log=print,
            now=None):
    """Copy each clone's notebook of the stage into ``out`` and write the manifest.

    A commit whose push GitHub does not list counts as received ``now`` (the
    collection's time): it was on GitHub when cloned, so never later than that.
    """
    now = now or dt.datetime.now(dt.UTC)
    from course.stages import STAGE_NAMES, get_stage

    if stage_name not in STAGE_NAMES:
        raise ClassroomError(f"--assignment must be one of {', '.join(STAGE_NAMES)}, "
                             f"got {stage_name!r}")
    stage, due = get_stage(stage_name), parse_time(due)
    clones, out = Path(clones), Path(out)
    if not clones.is_dir():
        raise ClassroomError(f"{clones} is not a folder: give the <slug>-submissions folder "
                             "`gh classroom clone student-repos` made")
    if prefix is None:
        if not clones.name.endswith("-submissions"):
            raise ClassroomError(f"{clones.name} does not end in -submissions, the name "
                                 "`gh classroom clone student-repos` gives; name the "
                                 "repositories' prefix with --prefix SLUG-")
        prefix = clones.name[:-len("-submissions")] + "-"
    repos = sorted(p for p in clones.iterdir() if not p.name.startswith("."))
    strays = [p.name for p in repos if not (p / ".git").exists() or not p.name.startswith(prefix)
              or len(p.name) == len(prefix)]
    if strays:
        raise ClassroomError(f"{clones} holds {', '.join(strays)}, which is not a clone named "
                             f"{prefix}<login>: remove it, or give the prefix with --prefix")
    if not repos:
        raise ClassroomError(f"{clones} holds no repository")
    github = github or GitHub()
    students = []
    for repo in repos:
        login = repo.name[len(prefix):]
        owner, name = _origin(repo)
        record = {"login": login, "repository": f"{owner}/{name}", "commit": None,
                  "committed_at": None, "pushed_at": None, "seconds_late": 0,
                  "notebook": None, "status": "collected", "note": ""}
        target = out / login / stage.name
        if target.exists():  # a recollection: nothing of the last one survives
            shutil.rmtree(target)
        code, sha = _git(repo, "rev-parse", "--verify", "-q", "HEAD^{commit}")
        if code != 0:
            record.update(status="empty", note="the repository has no commit")
        else:
            record["commit"] = sha
            record["committed_at"] = _iso(parse_time(_git(repo, "log", "-1", "--format=%cI",
                                                          sha)[1]))
            with tempfile.TemporaryDirectory() as scratch:
                notebooks = _notebooks(repo, sha, scratch)
                chosen, record["note"], record["status"] = _student_notebook(notebooks, stage)
                if chosen is not None:
                    record["notebook"] = chosen
                    target.mkdir(parents=True)
                    shutil.copyfile(notebooks[chosen], target / stage.notebook)
            pushed = push_time(github.activity(owner, name),
                               lambda after, r=repo, s=sha: after == s or _git(
                                   r, "merge-base", "--is-ancestor", s, after)[0] == 0)
            if pushed is None:  # it was on GitHub when cloned: now is its latest arrival
                record["note"] = "; ".join(filter(None, [
                    record["note"], "GitHub lists no push of this commit: counted as "
                    "received now, the latest it can have arrived"]))
            received = pushed or now
            record["pushed_at"] = _iso(pushed)
            record["seconds_late"] = max(0, int((received - due).total_seconds()))
            if target.exists():
                (target / "timestamp.txt").write_text(received.strftime(TIMESTAMP_FORMAT))
        students.append(record)
        late = f", {record['seconds_late'] / 3600:.1f} h late" if record["seconds_late"] else ""
        log(f"{login}: {record['status']}{late}" + (f" ({record['note']})" if record["note"]
                                                     else ""))
    manifest = {"assignment": stage.name, "due": _iso(due), "collected_at": _iso(now),
                "late_from": "push time: GitHub's repository activity", "students": students}
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"classroom-{stage.name}.json"
    path.write_text(json.dumps(manifest, indent=2) + "\n")
    return path


# --------------------------------------------------------------------------
# Report: the late policy and the students' feedback
# --------------------------------------------------------------------------

def late_penalty():
    """The course's LatePenalty with the per-day share set in nbgrader_config.py."""
    from traitlets.config.loader import PyFileConfigLoader

    from course.lms import LatePenalty

    root = Path(__file__).resolve().parents[1]
    return LatePenalty(config=PyFileConfigLoader("nbgrader_config.py",
                                                 path=str(root)).load_config())


def _late_line(record, data):
    days = -(-record["seconds_late"] // 86400)
    when = (f"{days} started day(s) after the deadline ({data['due']})" if days
            else f"before the deadline ({data['due']})")
    received = (f"GitHub received commit `{record['commit'][:12]}` at {record['pushed_at']}"
                if record["pushed_at"] else
                f"GitHub lists no push of commit `{record['commit'][:12]}`; it was there when "
                f"collected, at {data['collected_at']}, and counts as received then")
    return (f"{received}, {when}. The commit's own date ({record['committed_at']}) is not "
            "used: lateness counts from the push.")


def report(grades, manifest, out):
    """Per-student feedback Markdown and ``<stage>.csv`` in ``out``; returns the rows."""
    from autograder.ci_summary import feedback_file, feedback_markdown
    from course.stages import get_stage

    data = json.loads(Path(manifest).read_text())
    stage = data["assignment"]
    results = {s["student"]: s for s in json.loads(Path(grades).read_text())["submissions"]
               if s["assignment"] == stage}
    plugin = late_penalty()
    max_score = get_stage(stage).max_score
    out = Path(out) / stage
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for record in data["students"]:
        login, result = record["login"], results.get(record["login"])
        if record["status"] == "collected" and result is None:
            raise ClassroomError(f"{grades} has no result for {login}'s {stage}: grade "
                                 f"the folder the manifest {manifest} sits in")
        score = result["score"] if result else 0.0
        penalty = 0.0
        if result and record["seconds_late"] > 0:
            penalty = plugin.late_submission_penalty(login, score, record["seconds_late"])
        lines = [f"# Feedback on {stage}: {score - penalty:g} / {max_score:g} points", ""]
        if record["status"] != "collected":
            lines += [f"Nothing was graded: {record['note']}.", ""]
        else:
            lines += [_late_line(record, data), ""]
            if penalty:
                lines += [f"Late penalty: {penalty:g} of {score:g} points.", ""]
            if record["note"]:
                lines += [f"Collected: {record['note']}.", ""]
            # the checks, under the grader's own heading (points before any penalty)
            lines += [feedback_markdown(login, [result]).split("\n", 2)[2]]
        record["feedback"] = feedback_file(login)
        (out / record["feedback"]).write_text("\n".join(lines) + "\n")
        rows.append({"login": login, "repository": record["repository"],
                     "commit": record["commit"] or "", "pushed_at": record["pushed_at"] or "",
                     "seconds_late": record["seconds_late"], "status": record["status"],
                     "score": f"{score:g}", "late_penalty": f"{penalty:g}",
                     "final": f"{score - penalty:g}"})
    with open(out.parent / f"{stage}.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else ["login"])
        writer.writeheader()
        writer.writerows(rows)
    # what deliver needs: the manifest with each student's feedback file
    (out / "manifest.json").write_text(json.dumps(data, indent=2) + "\n")
    return rows


# --------------------------------------------------------------------------
# Deliver: one issue per student and stage in the student's repository
# --------------------------------------------------------------------------

def deliver(folder, github=None, log=print):
    """Post or update each student's feedback issue; returns the failures."""
    manifests = sorted(Path(folder).glob("*/manifest.json"))
    if not manifests:
        raise ClassroomError(f"{folder} holds no <stage>/manifest.json: run "
                             "`python -m course classroom report` first")
    github = github or GitHub()
    me = github.request("GET", "/user")[0]["login"]
    failures = []
    for manifest in manifests:
        data = json.loads(manifest.read_text())
        title = ISSUE_TITLE.format(stage=data["assignment"])
        for record in data["students"]:
            repo = record["repository"]
            body = (manifest.parent / record["feedback"]).read_text()
            if len(body) > ISSUE_BODY_LIMIT:
                body = body[:ISSUE_BODY_LIMIT] + CUT
            try:
                mine = [i for i in github.pages(f"/repos/{repo}/issues?state=all&creator="
                                                f"{urllib.parse.quote(me)}&per_page=100")
                        if i["title"] == title and "pull_request" not in i]
                if mine:
                    github.request("PATCH", f"/repos/{repo}/issues/{mine[0]['number']}",
                                   {"body": body, "state": "open"})
                    log(f"{record['login']}: updated {repo}#{mine[0]['number']}")
                else:
                    issue = github.request("POST", f"/repos/{repo}/issues",
                                           {"title": title, "body": body})[0]
                    log(f"{record['login']}: opened {repo}#{issue['number']}")
            except ClassroomError as exc:
                failures.append(f"{record['login']} ({repo}): {exc}")
    return failures


def main(args):
    """The ``classroom`` subcommand of ``python -m course`` (parsed there)."""
    try:
        if args.action == "collect":
            path = collect(args.clones, args.assignment, args.due, args.out, args.prefix)
            print(f"wrote {path}; grade with: python -m autograder grade {args.out}")
        elif args.action == "report":
            rows = report(args.grades, args.manifest, args.out)
            late = sum(int(r["seconds_late"]) > 0 for r in rows)
            print(f"{len(rows)} students, {late} late; feedback in {args.out}")
        else:
            failures = deliver(args.folder)
            if failures:
                print("feedback not delivered to:\n  " + "\n  ".join(failures),
                      file=sys.stderr)
                return 1
    except ClassroomError as exc:
        print(f"classroom {args.action}: {exc}", file=sys.stderr)
        return 2
    return 0


def add_parser(sub):
    """The ``classroom`` subcommand's arguments, on ``python -m course``'s parser."""
    parser = sub.add_parser("classroom", help="GitHub Classroom: collect the students' "
                                              "repositories, late policy, feedback issues")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    collect_ = actions.add_parser("collect", help="the clones of `gh classroom clone "
                                                   "student-repos` into submissions/")
    collect_.add_argument("clones", metavar="CLONES", help="the <slug>-submissions folder")
    collect_.add_argument("--assignment", required=True, metavar="STAGE",
                          help="the stage, e.g. single_channel")
    collect_.add_argument("--due", required=True, metavar="DATE",
                          help="the deadline, e.g. '2026-12-07 17:00 UTC'")
    collect_.add_argument("--out", default="submissions", help="default: %(default)s")
    collect_.add_argument("--prefix", default=None, metavar="SLUG-",
                          help="the repositories' name before the login (default: CLONES's "
                               "name without -submissions, plus '-')")
    report_ = actions.add_parser("report", help="late penalties and per-student feedback")
    report_.add_argument("grades", metavar="GRADES.json",
                         help="the JSON of python -m autograder grade")
    report_.add_argument("manifest", metavar="MANIFEST",
                         help="submissions/classroom-<stage>.json")
    report_.add_argument("--out", required=True, metavar="DIR",
                         help="writes DIR/<stage>/<login>.md and DIR/<stage>.csv")
    deliver_ = actions.add_parser("deliver", help="each student's feedback as an issue in "
                                                  "their repository ($GH_TOKEN)")
    deliver_.add_argument("folder", metavar="DIR", help="the --out folder of report")
    return parser
