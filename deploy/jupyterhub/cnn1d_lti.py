"""Log in from the LMS: an LTI 1.3 launch makes (or finds) the student's Linux user.

``CourseLTIAuthenticator`` is jupyterhub-ltiauthenticator's LTI 1.3
authenticator, which checks the launch (the platform's signature through its
JWKS, issuer, client id, nonce, state, expiry), with what a course on one
host needs after it:

- **One course.** A launch counts only from the course (LTI context) the hub
  serves: an Instructor of another course, or of a sandbox course any
  student can create, is nobody here.
- **The course role decides the group.** Only membership (course) roles
  count; institution and system roles say who someone is elsewhere. A
  TeachingAssistant sub-role wins over the Instructor principal role Canvas
  sends with it; Instructor, then Learner. Any other role (Observer,
  Designer...) is refused. The user is put in that role's Linux group and
  taken out of the course's other groups at every launch, so a change of role
  in the LMS holds at the next launch (and the next server start).
- **A Linux user per LMS person, made at the first launch.** Its name is the
  person's login id from a custom field (Canvas: ``login_id=$Canvas.user.loginId``,
  the roster's "SIS Login ID", which ``course.lms`` also uses), lower case, a
  valid Linux name. The account is bound to the person: its comment field
  holds a digest of the platform's issuer and the person's ``sub``, and a
  launch for an existing Linux user whose comment is not that digest
  (``root``, a hand-made account, another person) is refused.
- **What grade passback needs.** ``users.csv`` (login, lti_user_id) and the
  course's AGS endpoint (``ags_endpoint.json``, from an instructor's launch)
  in ``records`` (/opt/tljh/lti), readable by the instructors' group, for
  ``python -m course.lti_ags``.
"""

import asyncio
import csv
import grp
import hashlib
import io
import json
import os
import pwd
import re
import subprocess
import time
from pathlib import Path

from ltiauthenticator.lti13.auth import LTI13Authenticator
from ltiauthenticator.lti13.constants import LTI13_CUSTOM_CLAIM
from tornado import web
from traitlets import Dict, Unicode

LTI = "https://purl.imsglobal.org/spec/lti/claim/"
AGS_ENDPOINT = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
MEMBERSHIP = "http://purl.imsglobal.org/vocab/lis/v2/membership"
# (the kit's role, the membership roles that give it), strongest claim first
ROLES = (
    ("teaching_assistant", {f"{MEMBERSHIP}/Instructor#TeachingAssistant"}),
    ("instructor", {f"{MEMBERSHIP}#Instructor"}),
    ("student", {f"{MEMBERSHIP}#Learner"}),
)
LINUX_NAME = re.compile(r"[a-z][a-z0-9_-]{0,31}")
TAG = "cnn1d-lti"


def _replace(path, text):
    """Write ``path`` whole (a reader never sees half of it), mode 0640."""
    tmp = path.with_name(path.name + ".new")
    tmp.write_text(text)
    os.chmod(tmp, 0o640)
    os.chown(tmp, 0, path.parent.stat().st_gid)
    os.replace(tmp, path)


def course_role(roles):
    """The kit's role for an LTI roles claim: 'teaching_assistant', 'instructor',
    'student', or None when no course role the kit knows is in it."""
    roles = set(roles or ())
    for role, uris in ROLES:
        if roles & uris:
            return role
    return None


def identity(issuer, sub):
    """The comment a Linux user made for (issuer, sub) carries."""
    digest = hashlib.sha256(f"{issuer}\n{sub}".encode()).hexdigest()[:32]
    return f"{TAG} {digest}"


class CourseLTIAuthenticator(LTI13Authenticator):
    """LTI 1.3 launches from one course; Linux users made at the first launch."""

    context_id = Unicode(
        config=True,
        help="The LTI context id (the course) launches must come from; unset, every "
             "launch is refused with the id of the course it came from.")
    role_groups = Dict(
        config=True,
        help="{kit role: Linux group}: 'instructor', 'teaching_assistant', 'student'.")
    username_key = Unicode("custom_login_id", config=True,
                           help="The claim that names the Linux user (custom_NAME: "
                                "the custom field NAME).")
    records = Unicode(
        "/opt/tljh/lti", config=True,
        help="Folder of what grade passback (python -m course.lti_ags) needs from the "
             "launches: users.csv (login, lti_user_id) and ags_endpoint.json; readable by "
             "the instructors' group.")
    home_mode = 0o700  # a student's home is theirs alone
    _lock = None

    def _refuse(self, status, why):
        self.log.warning("LTI launch refused: %s", why)
        raise web.HTTPError(status, why)

    async def authenticate(self, handler, data=None):
        token = data or {}
        context = token.get(LTI + "context") or {}
        if not self.context_id:  # the first launch tells the admin the course's id
            self._refuse(403, f"this hub serves no course yet: to serve the course "
                              f"{context.get('title')!r}, set CNN1D_LTI_CONTEXT_ID="
                              f"{context.get('id')}")
        if context.get("id") != self.context_id:
            self._refuse(403, f"this hub serves one course; the launch came from context "
                              f"{context.get('id')!r} ({context.get('title')!r})")
        role = course_role(token.get(LTI + "roles"))
        if role is None:
            self._refuse(403, "the launch carries no course role this hub admits "
                              "(Learner, TeachingAssistant, Instructor)")
        key = self.username_key
        login = (token.get(LTI13_CUSTOM_CLAIM, {}).get(key[len("custom_"):])
                 if key.startswith("custom_") else token.get(key))
        if not login:
            self._refuse(400, f"the launch has no {key!r} claim: add the custom field "
                              "login_id=$Canvas.user.loginId to the LTI key (deploy/README.md)")
        name = str(login).strip().lower()
        if not LINUX_NAME.fullmatch(name):
            self._refuse(400, f"login id {login!r} is not a Linux user name "
                              "(a letter, then up to 31 of a-z 0-9 _ -)")
        group = self.role_groups[role]
        self._lock = self._lock or asyncio.Lock()
        async with self._lock:  # two first launches of one person make one user
            await asyncio.to_thread(self.linux_user, name,
                                    identity(token.get("iss"), token.get("sub")), group)
            await asyncio.to_thread(self.record, name, token)
        return {"name": name, "auth_state": token,
                "user_info": {"course_role": role, "group": group}}

    def check_allowed(self, username, authentication=None):
        # authenticate() let the launch through only with a course role
        return bool(authentication and (authentication.get("user_info") or {}).get("group"))

    def record(self, name, token):
        """Keep the person's LMS id (grades are posted to it) and the course's
        AGS endpoint (an instructor's launch carries it) for course.lti_ags."""
        folder = Path(self.records)
        folder.mkdir(mode=0o750, parents=True, exist_ok=True)
        os.chown(folder, 0, grp.getgrnam(self.role_groups["instructor"]).gr_gid)
        os.chmod(folder, 0o750)
        users = folder / "users.csv"
        rows = {}
        if users.exists():
            with open(users, newline="") as f:
                rows = {r["login"]: r["lti_user_id"] for r in csv.DictReader(f)}
        if rows.get(name) != token.get("sub"):
            rows[name] = token.get("sub")
            text = io.StringIO()
            writer = csv.writer(text, lineterminator="\n")
            writer.writerows([("login", "lti_user_id"), *sorted(rows.items())])
            _replace(users, text.getvalue())
        endpoint = token.get(AGS_ENDPOINT)
        if endpoint:
            _replace(folder / "ags_endpoint.json", json.dumps(endpoint, indent=1) + "\n")

    def _run(self, *command):
        """A user-administration command; /etc/passwd's lock held by another
        tool (exit 10 for useradd, 1 for the others) is waited for a while."""
        for attempt in range(20):
            done = subprocess.run(command, capture_output=True, text=True)
            if done.returncode == 0:
                return
            if "lock" not in done.stderr:
                break
            time.sleep(0.25 * (attempt + 1))
        self._refuse(500, f"{' '.join(command)} failed: {done.stderr.strip()}")

    def linux_user(self, name, comment, group):
        """Make ``name`` for this person, or check it is theirs; set its course group."""
        try:
            user = pwd.getpwnam(name)
        except KeyError:
            self._run("useradd", "--create-home", "--shell", "/bin/bash", "--comment", comment,
                      name)
            user = pwd.getpwnam(name)
            os.chmod(user.pw_dir, self.home_mode)
            self.log.info("LTI: made Linux user %s (%s)", name, comment)
        if user.pw_gecos != comment:
            self._refuse(403, f"Linux user {name!r} exists and was not made for this LMS "
                              "person (a system or hand-made account, or another person's)")
        for other in set(self.role_groups.values()) - {group}:
            if name in grp.getgrnam(other).gr_mem:
                self._run("gpasswd", "--delete", name, other)
        if name not in grp.getgrnam(group).gr_mem:
            self._run("usermod", "--append", "--groups", group, name)
