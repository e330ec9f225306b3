"""Grades back to the LMS through LTI Advantage AGS (course/lti_ags.py), against
the test platform (tests/lti_platform.py with tests/lti_ags_platform.py): its
own key and JWKS, a token endpoint that checks the tool's signed assertion,
line items and scores that record what they get. The scores come from a real
nbgrader gradebook (checks, a written answer graded by hand, a late penalty,
a student who submitted nothing). A few seconds."""

import csv
import json
import os
import sys
from datetime import datetime, timedelta

import pytest
from cryptography.hazmat.primitives import serialization
from nbgrader.api import Gradebook

from course.lti_ags import AgsClient, AgsError, gradebook_scores, main, passback
from course.stages import get_stage
from tests import docblocks
from tests.lti_ags_platform import Ags
from tests.lti_platform import LEARNER, Platform, new_key, public_jwk

ROOT = docblocks.ROOT
STAGES = [get_stage("single_channel"), get_stage("output_size")]


def pem(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


@pytest.fixture(autouse=True)
def venv_on_path(monkeypatch):
    # nbgrader's Gradebook runs `alembic` (the venv's) to create a database
    monkeypatch.setenv("PATH", f"{os.path.dirname(sys.executable)}:{os.environ['PATH']}")


@pytest.fixture
def platform():
    with Platform() as p:
        for login in ("ada", "bob", "carol"):
            p.enrol(login, [LEARNER], sub=f"lti-{login}-0001")
        yield p


@pytest.fixture
def tool_key():
    return new_key()


def make_gradebook(path):
    """ada: full checks + 2 written points, on time; bob: 4 points, a day late
    (the course's 10 % a day); carol: nothing; dave: not in the LMS."""
    due = datetime(2026, 12, 1, 17, 0)
    with Gradebook(f"sqlite:///{path}") as gb:
        for stage in STAGES:
            gb.add_assignment(stage.name, duedate=due)
            gb.add_notebook(stage.name, stage.name)
            for check in stage.checks:
                gb.add_grade_cell(check.name, stage.name, stage.name, max_score=check.points,
                                  cell_type="code")
            for q in stage.written:
                gb.add_grade_cell(q.grade_id, stage.name, stage.name, max_score=q.points,
                                  cell_type="markdown")
        for login in ("ada", "bob", "carol", "dave"):
            gb.add_student(login)
        stage = STAGES[0]
        gb.add_submission(stage.name, "ada", timestamp=due - timedelta(hours=1))
        gb.add_submission(stage.name, "bob", timestamp=due + timedelta(hours=3))
        gb.add_submission(stage.name, "dave", timestamp=due)
        for check in stage.checks:
            gb.find_grade(check.name, stage.name, stage.name, "ada").auto_score = check.points
            gb.find_grade(check.name, stage.name, stage.name, "dave").auto_score = check.points
            gb.find_grade(check.name, stage.name, stage.name, "bob").auto_score = 0
        gb.find_grade(stage.checks[0].name, stage.name, stage.name, "bob").auto_score = \
            stage.checks[0].points
        if stage.written:
            gb.find_grade(stage.written[0].grade_id, stage.name, stage.name,
                          "ada").manual_score = 2
        late = gb.find_submission_notebook(stage.name, stage.name, "bob")
        late.late_submission_penalty = 0.1 * stage.checks[0].points
        gb.db.commit()
    return path


def client_for(platform, ags, key, kid="tool-key-1"):
    return AgsClient(platform.client_id, ags.token_url, ags.lineitems_url, pem(key), kid)


def test_final_scores_go_to_one_line_item_per_stage(tmp_path, platform, tool_key):
    ags = Ags(platform, public_jwk(tool_key, "tool-key-1"))
    db = make_gradebook(tmp_path / "gradebook.db")
    scores = gradebook_scores(db, [s.name for s in STAGES])
    users = {login: f"lti-{login}-0001" for login in ("ada", "bob", "carol")}
    result = passback(client_for(platform, ags, tool_key), scores, users)
    assert result == {"posted": 6, "unmapped": ["dave"]}
    assert ags.refused == []

    items = {i["resourceId"]: i for i in ags.items}
    assert set(items) == {s.name for s in STAGES}
    for stage in STAGES:
        assert items[stage.name]["scoreMaximum"] == stage.total_points  # written included
        assert items[stage.name]["label"].startswith(f"{stage.number}. ")
    got = {(item.rsplit("/", 1)[1], body["userId"]): body for item, body, _ in ags.scores}
    s1 = STAGES[0]
    first = s1.checks[0].points
    ada = got[("1", "lti-ada-0001")]
    assert ada["scoreGiven"] == s1.max_score + (2 if s1.written else 0)
    assert ada["scoreMaximum"] == s1.total_points
    assert (ada["activityProgress"], ada["gradingProgress"]) == ("Completed", "FullyGraded")
    bob = got[("1", "lti-bob-0001")]
    assert bob["scoreGiven"] == pytest.approx(first * 0.9) and "late" in bob["comment"]
    carol = got[("1", "lti-carol-0001")]
    assert carol["scoreGiven"] == 0 and carol["comment"] == "nothing submitted"
    assert got[("2", "lti-ada-0001")]["scoreGiven"] == 0       # stage 2 not submitted

    # a second run finds the line items by resourceId: no duplicates, new scores
    passback(client_for(platform, ags, tool_key), scores, users)
    assert len(ags.items) == 2 and len(ags.scores) == 12


def test_the_platform_refuses_a_tool_it_does_not_know(tmp_path, platform, tool_key):
    ags = Ags(platform, public_jwk(tool_key, "tool-key-1"))
    scores = {"single_channel": {"ada": (10.0, "")}}
    with pytest.raises(AgsError, match="HTTP 401"):
        passback(client_for(platform, ags, new_key()), scores, {"ada": "lti-ada-0001"})
    assert ags.scores == [] and "invalid_client" in ags.refused[0][1]


def test_scopes_not_granted_are_named(tmp_path, platform, tool_key):
    ags = Ags(platform, public_jwk(tool_key, "tool-key-1"), scopes=(
        "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem",))
    with pytest.raises(AgsError, match="LTI Advantage Services"):
        passback(client_for(platform, ags, tool_key), {"single_channel": {}}, {})
    assert ags.scores == []


def test_line_items_on_several_pages_are_all_read(platform, tool_key):
    ags = Ags(platform, public_jwk(tool_key, "tool-key-1"), page_size=1)
    client = client_for(platform, ags, tool_key)
    for stage in STAGES:
        client.line_item(stage.name, stage.title, stage.total_points)
    assert [i["resourceId"] for i in client.line_items()] == [s.name for s in STAGES]
    client.line_item(STAGES[1].name, STAGES[1].title, STAGES[1].total_points)
    assert len(ags.items) == 2


def test_command_line(tmp_path, platform, tool_key, capsys):
    ags = Ags(platform, public_jwk(tool_key, "tool-key-1"))
    db = make_gradebook(tmp_path / "gradebook.db")
    (tmp_path / "tool.pem").write_bytes(pem(tool_key))
    conf = {"client_id": platform.client_id, "token_url": ags.token_url,
            "lineitems": ags.lineitems_url, "key_file": "tool.pem", "kid": "tool-key-1"}
    (tmp_path / "lti.json").write_text(json.dumps(conf))
    with open(tmp_path / "users.csv", "w", newline="") as f:
        csv.writer(f).writerows([["login", "lti_user_id"], ["ada", "lti-ada-0001"],
                                 ["bob", "lti-bob-0001"], ["carol", "lti-carol-0001"],
                                 ["dave", "lti-dave-0001"]])
    args = ["single_channel", "--platform", str(tmp_path / "lti.json"), "--users",
            str(tmp_path / "users.csv"), "--gradebook", str(db)]
    # dave is not enrolled on the platform: it refuses his score, loudly
    assert main(args) == 2
    assert "no user lti-dave-0001" in capsys.readouterr().err
    with open(tmp_path / "users.csv", "w", newline="") as f:
        csv.writer(f).writerows([["login", "lti_user_id"], ["ada", "lti-ada-0001"]])
    assert main(args) == 1           # bob, carol, dave have no LTI id: named, exit 1
    out = capsys.readouterr()
    assert "1 scores posted" in out.out and "bob, carol, dave" in out.err
    del conf["kid"]
    (tmp_path / "lti.json").write_text(json.dumps(conf))
    assert main(args) == 2 and "missing kid" in capsys.readouterr().err
    assert main([*args[:-1], str(tmp_path / "none.db")]) == 2


def test_the_documented_passback_runs_as_written(tmp_path, platform, tool_key):
    """deploy/README.md's block, in a course root whose gradebook has grades, with
    lti.json and lti_users.csv as its text describes them; the platform records
    each student's final score."""
    ags = Ags(platform, public_jwk(tool_key, "tool-key-1"))
    platform.enrol("dave", [LEARNER], sub="lti-dave-0001")
    course = tmp_path / "course"          # the course root: a clone of the kit
    course.mkdir()
    for name in ("autograder", "course", ".venv"):
        (course / name).symlink_to(ROOT / name)
    make_gradebook(course / "gradebook.db")
    (course / "tool.pem").write_bytes(pem(tool_key))
    (course / "lti.json").write_text(json.dumps({
        "client_id": platform.client_id, "token_url": ags.token_url,
        "lineitems": ags.lineitems_url, "key_file": "tool.pem", "kid": "tool-key-1"}))
    (course / "lti_users.csv").write_text(
        "login,lti_user_id\n" + "".join(f"{u},lti-{u}-0001\n"
                                       for u in ("ada", "bob", "carol", "dave")))
    block = docblocks.block("deploy/README.md", "python -m course.lti_ags single_channel")
    proc = docblocks.Shell(course, {"PATH": "/usr/local/bin:/usr/bin:/bin",
                                    "HOME": str(tmp_path)}).run(block, timeout=120)
    assert "4 scores posted" in proc.stdout and ags.refused == []
    assert [i["resourceId"] for i in ags.items] == ["single_channel"]
    expected = gradebook_scores(course / "gradebook.db", ["single_channel"])["single_channel"]
    got = {body["userId"]: body["scoreGiven"] for _, body, _ in ags.scores}
    assert got == {f"lti-{u}-0001": pytest.approx(points) for u, (points, _) in expected.items()}
    assert got["lti-ada-0001"] > got["lti-bob-0001"] > got["lti-carol-0001"] == 0


def test_a_new_tool_key_and_the_jwks_the_lms_registers(tmp_path, platform, capsys):
    import jwt

    path = tmp_path / "tool.pem"
    assert main(["--new-key", str(path)]) == 0
    jwks = json.loads(capsys.readouterr().out)
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    (jwk,) = jwks["keys"]
    # the platform, knowing only the printed JWK, accepts the tool's token request
    ags = Ags(platform, jwk)
    client = AgsClient(platform.client_id, ags.token_url, ags.lineitems_url,
                       path.read_bytes(), jwk["kid"])
    assert client.token() and ags.refused == []
    assert jwt.get_unverified_header(client.client_assertion())["kid"] == jwk["kid"]
    assert main(["--new-key", str(path)]) == 2          # never overwrites a key
    assert "exists" in capsys.readouterr().err
