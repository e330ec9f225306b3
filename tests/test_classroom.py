"""GitHub Classroom's layout step (course/classroom.py): local git repositories
with real, dated commits stand in for the students' clones, a loopback server
for GitHub. Lateness comes from the push time GitHub records, never from the
date a student writes into a commit. About 10 s."""

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from course.classroom import ClassroomError, collect, push_time
from course.flow import fill_answers, reference_answers
from course.stages import get_stage
from tests.github_fake import FakeGitHub, commit, git, student_repo

ROOT = Path(__file__).resolve().parents[1]
STAGE = get_stage("single_channel")
SLUG = "conv-single-channel"
DUE = "2026-12-07 17:00 UTC"
RELEASE = (ROOT / "release" / STAGE.name / STAGE.notebook).read_bytes()


def _notebook(answers):
    nb = nbformat.reads(RELEASE.decode(), as_version=4)
    return nbformat.writes(fill_answers(nb, answers)).encode()


def make_class(tmp, fake):
    """The clones of a class as `gh classroom clone student-repos` leaves them,
    and their pushes on the fake GitHub. Returns the clones folder and the
    graded commit of each student.

    ada   on time; bob 16 h late (1 started day); mallory's commit is dated
    before the deadline but was pushed 44 h after it (2 days); carol uploaded
    ``single_channel (1).ipynb`` beside the untouched starter; frank has two
    worked copies, neither named single_channel.ipynb; dave pushed nothing to
    a repository that never had a commit.
    """
    clones = tmp / f"{SLUG}-submissions"
    solved = _notebook(reference_answers(STAGE))
    starter = {f"{STAGE.name}/{STAGE.notebook}": RELEASE}
    heads = {}
    plan = {  # login: (files, commit date, push time)
        "ada": ({f"{STAGE.name}/{STAGE.notebook}": solved}, "2026-12-06T10:00:00Z",
                "2026-12-06T10:05:00Z"),
        "bob": ({f"{STAGE.name}/{STAGE.notebook}": solved}, "2026-12-08T09:00:00Z",
                "2026-12-08T09:01:00Z"),
        "mallory": ({f"{STAGE.name}/{STAGE.notebook}": solved}, "2026-12-06T12:00:00Z",
                    "2026-12-09T13:00:00Z"),
        "carol": ({f"{STAGE.notebook[:-6]} (1).ipynb": solved}, "2026-12-07T16:00:00Z",
                  "2026-12-07T16:59:00Z"),
        "frank": ({"single_channel_v1.ipynb": solved, "single_channel_v2.ipynb": solved},
                  "2026-12-07T12:00:00Z", "2026-12-07T12:01:00Z"),
    }
    for login, (files, date, pushed) in plan.items():
        repo = student_repo(clones, SLUG, login)
        first = commit(repo, starter, "2026-12-01T09:00:00Z", "Initial commit")
        fake.push(f"{SLUG}-{login}", first, "2026-12-01T09:00:02Z", kind="branch_creation")
        heads[login] = commit(repo, files, date)
        fake.push(f"{SLUG}-{login}", heads[login], pushed, before=first)
    student_repo(clones, SLUG, "dave")
    return clones, heads


def _collect_cli(clones, out, fake, *extra):
    return subprocess.run([sys.executable, "-m", "course", "classroom", "collect", str(clones),
                           "--assignment", STAGE.name, "--due", DUE, "--out", str(out), *extra],
                          cwd=ROOT, capture_output=True, text=True,
                          env=dict(os.environ, **fake.env()))


def test_collect_writes_the_kits_layout_with_push_times(tmp_path):
    with FakeGitHub() as fake:
        clones, heads = make_class(tmp_path, fake)
        out = tmp_path / "submissions"
        proc = _collect_cli(clones, out, fake)
    assert proc.returncode == 0, proc.stderr
    manifest = json.loads((out / f"classroom-{STAGE.name}.json").read_text())
    by = {r["login"]: r for r in manifest["students"]}
    assert sorted(by) == ["ada", "bob", "carol", "dave", "frank", "mallory"]
    assert manifest["due"] == "2026-12-07T17:00:00Z"

    # the graded notebook is the student's own commit, at the kit's path
    for login in ("ada", "bob", "mallory", "carol"):
        assert by[login]["status"] == "collected" and by[login]["commit"] == heads[login]
        graded = out / login / STAGE.name / STAGE.notebook
        assert graded.read_bytes() == _notebook(reference_answers(STAGE))
        assert sorted(p.name for p in graded.parent.iterdir()) == [STAGE.notebook,
                                                                   "timestamp.txt"]
    assert by["ada"]["seconds_late"] == 0
    assert (out / "ada" / STAGE.name / "timestamp.txt").read_text() == \
        "2026-12-06 10:05:00.000000 UTC"  # nbgrader's format: `nbgrader collect` reads it
    assert by["bob"]["seconds_late"] == 16 * 3600 + 60

    # mallory dated her commit before the deadline; GitHub got it 44 h after
    assert by["mallory"]["committed_at"] == "2026-12-06T12:00:00Z"
    assert by["mallory"]["pushed_at"] == "2026-12-09T13:00:00Z"
    assert by["mallory"]["seconds_late"] == 44 * 3600

    # carol's renamed upload is graded, not the untouched starter beside it
    assert by["carol"]["notebook"] == "single_channel (1).ipynb"
    assert "renamed single_channel (1).ipynb to single_channel.ipynb" in by["carol"]["note"]
    assert "not graded: single_channel/single_channel.ipynb" in by["carol"]["note"]
    assert "carol: collected (renamed" in proc.stdout

    # two worked copies, neither with the stage's name: nothing guessed
    assert by["frank"]["status"] == "ambiguous"
    assert "single_channel_v1.ipynb, single_channel_v2.ipynb" in by["frank"]["note"]
    assert by["dave"]["status"] == "empty" and by["dave"]["commit"] is None
    assert not (out / "frank").exists() and not (out / "dave").exists()
    # every student's activity was read to its last page (one item a page)
    assert fake.calls.count(("GET", f"/repos/cnn1d-class/{SLUG}-ada/activity")) == 2


def test_push_time_is_the_first_push_holding_the_graded_commit():
    def contains(graded, descendants):
        return lambda sha: sha == graded or sha in descendants

    pushes = [{"activity_type": "push", "after": "c1", "timestamp": "2026-12-01T00:00:00Z"},
              {"activity_type": "push", "after": "c3", "timestamp": "2026-12-05T00:00:00Z"},
              {"activity_type": "force_push", "after": "c2", "timestamp": "2026-12-09T00:00:00Z"},
              {"activity_type": "branch_deletion", "after": "c2",
               "timestamp": "2026-11-01T00:00:00Z"}]
    # c2 went up inside the push of its descendant c3, long before the force push
    assert push_time(pushes, contains("c2", {"c3"})).isoformat() == "2026-12-05T00:00:00+00:00"
    # a push of its parent c1 proves nothing about c2; a branch deletion never counts
    assert push_time(pushes, contains("c2", set())).isoformat() == "2026-12-09T00:00:00+00:00"
    assert push_time(pushes[:1], contains("c2", set())) is None


def test_the_commit_date_would_have_hidden_a_late_push(tmp_path):
    """The weakened variant: with the commit's own date as its time, mallory's
    late work counts as on time. The kit's collect does not fall for it."""
    with FakeGitHub() as fake:
        clones, heads = make_class(tmp_path, fake)
        collect(clones, STAGE.name, DUE, tmp_path / "out", log=lambda _: None,
                github=_github(fake))
    record = next(r for r in json.loads((tmp_path / "out" / f"classroom-{STAGE.name}.json")
                                        .read_text())["students"] if r["login"] == "mallory")
    commit_date = git(clones / f"{SLUG}-mallory", "log", "-1", "--format=%cI", heads["mallory"])
    assert commit_date.startswith("2026-12-06")  # what a commit-date policy would read
    assert record["seconds_late"] > 0


def _github(fake):
    from course.classroom import GitHub

    return GitHub(api_url=fake.url, token=fake.token)


def test_a_recollection_leaves_nothing_of_the_last(tmp_path):
    with FakeGitHub() as fake:
        clones, _ = make_class(tmp_path, fake)
        out = tmp_path / "submissions"
        collect(clones, STAGE.name, DUE, out, github=_github(fake), log=lambda _: None)
        assert (out / "bob" / STAGE.name / STAGE.notebook).exists()
        repo = clones / f"{SLUG}-bob"
        git(repo, "rm", "-q", "-r", STAGE.name)
        sha = commit(repo, {"notes.txt": b"gave up\n"}, "2026-12-08T10:00:00Z")
        fake.push(f"{SLUG}-bob", sha, "2026-12-08T10:00:30Z")
        collect(clones, STAGE.name, DUE, out, github=_github(fake), log=lambda _: None)
    by = {r["login"]: r for r in json.loads((out / f"classroom-{STAGE.name}.json").read_text())
          ["students"]}
    assert by["bob"]["status"] == "missing" and "found: no notebook at all" in by["bob"]["note"]
    assert not (out / "bob" / STAGE.name).exists()


@pytest.mark.parametrize(("change", "message"), [
    ("no token", "no GitHub token: set GH_TOKEN"),
    ("wrong token", "GitHub answered 401"),
    ("stray folder", "which is not a clone named conv-single-channel-<login>"),
    ("renamed folder", "does not end in -submissions"),
    ("no time zone", "has no time zone"),
    ("unknown stage", "--assignment must be one of"),
    ("not on GitHub", "is not a GitHub repository"),
])
def test_bad_input_is_named_and_exits_2(tmp_path, change, message):
    with FakeGitHub() as fake:
        clones, _ = make_class(tmp_path, fake)
        args = ["classroom", "collect", str(clones), "--assignment", STAGE.name, "--due", DUE,
                "--out", str(tmp_path / "out")]
        env = dict(os.environ, **fake.env())
        if change == "no token":
            env = {k: v for k, v in env.items() if k not in ("GH_TOKEN", "GITHUB_TOKEN")}
        elif change == "wrong token":
            env["GH_TOKEN"] = "stolen"
        elif change == "stray folder":
            (clones / "notes").mkdir()
        elif change == "renamed folder":
            args[2] = str(clones.rename(tmp_path / "clones"))
        elif change == "no time zone":
            args[6] = "2026-12-07 17:00"
        elif change == "unknown stage":
            args[4] = "single_chanel"
        elif change == "not on GitHub":
            git(clones / f"{SLUG}-ada", "remote", "set-url", "origin", "/srv/git/ada.git")
        proc = subprocess.run([sys.executable, "-m", "course", *args], cwd=ROOT, env=env,
                              capture_output=True, text=True)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert message in proc.stderr
    assert not (tmp_path / "out" / f"classroom-{STAGE.name}.json").exists()


def test_collect_refuses_a_folder_of_no_clones(tmp_path):
    (tmp_path / f"{SLUG}-submissions").mkdir()
    with pytest.raises(ClassroomError, match="holds no repository"):
        collect(tmp_path / f"{SLUG}-submissions", STAGE.name, DUE, tmp_path / "out",
                github=object())


def test_a_symbolic_link_is_never_followed(tmp_path):
    """A student commits single_channel.ipynb as a link to a file of the
    instructor's machine (here a solved notebook, which would be collected if
    the link were followed): nothing is read through it."""
    target = tmp_path / "instructor" / "solved.ipynb"
    target.parent.mkdir()
    target.write_bytes(_notebook(reference_answers(STAGE)))
    clones = tmp_path / f"{SLUG}-submissions"
    repo = student_repo(clones, SLUG, "eve")
    (repo / STAGE.notebook).symlink_to(target)
    sha = commit(repo, {}, "2026-12-06T10:00:00Z")
    with FakeGitHub() as fake:
        fake.push(f"{SLUG}-eve", sha, "2026-12-06T10:00:05Z")
        collect(clones, STAGE.name, DUE, tmp_path / "out", github=_github(fake),
                log=lambda _: None)
    (record,) = json.loads((tmp_path / "out" / f"classroom-{STAGE.name}.json").read_text())[
        "students"]
    assert record["status"] == "missing" and "found: no notebook at all" in record["note"]
    assert not (tmp_path / "out" / "eve").exists()


def test_report_refuses_grades_without_a_collected_student(tmp_path):
    from course.classroom import report

    manifest = tmp_path / "classroom.json"
    manifest.write_text(json.dumps({"assignment": STAGE.name, "due": "2026-12-07T17:00:00Z",
                                    "students": [{"login": "ada", "status": "collected",
                                                  "seconds_late": 0}]}))
    grades = tmp_path / "grades.json"
    grades.write_text(json.dumps({"submissions": []}))
    with pytest.raises(ClassroomError, match="has no result for ada's single_channel"):
        report(grades, manifest, tmp_path / "out")


def test_a_commit_without_a_listed_push_counts_from_the_collection(tmp_path):
    """A commit GitHub lists no push for was on GitHub when cloned, no later:
    it counts as received at the collection (never as on time by default)."""
    import datetime as dt

    clones = tmp_path / f"{SLUG}-submissions"
    repo = student_repo(clones, SLUG, "gina")
    commit(repo, {f"{STAGE.name}/{STAGE.notebook}": _notebook(reference_answers(STAGE))},
           "2026-12-01T09:00:00Z")
    with FakeGitHub() as fake:
        for now, late in [(dt.datetime(2026, 12, 10, 17, tzinfo=dt.UTC), 3 * 86400),
                          (dt.datetime(2026, 12, 7, 12, tzinfo=dt.UTC), 0)]:
            collect(clones, STAGE.name, DUE, tmp_path / "out", github=_github(fake),
                    log=lambda _: None, now=now)
            (record,) = json.loads((tmp_path / "out" / f"classroom-{STAGE.name}.json")
                                   .read_text())["students"]
            assert record["pushed_at"] is None and record["seconds_late"] == late
            assert "GitHub lists no push of this commit" in record["note"]
            assert (tmp_path / "out" / "gina" / STAGE.name / "timestamp.txt").read_text() == \
                now.strftime("%Y-%m-%d %H:%M:%S.%f UTC")
