"""JupyterHub for a class on one host, in the layout of The Littlest JupyterHub.

- Hub environment: /opt/tljh/hub (jupyterhub, configurable-http-proxy).
- User environment: /opt/tljh/user (the kit's pinned packages: nbgrader,
  jupyterlab, numpy, ...), readable by every user.
- Users are the host's Linux users, logging in with their password (PAM); the
  course's members are the Linux groups ``formgrade-<course>`` (instructors)
  and ``nbgrader-<course>`` (students).
- Each user's server is a local process run as that user (LocalProcessSpawner).
- nbgrader's exchange is the shared folder /srv/nbgrader/exchange, with the
  permissions nbgrader documents (created by deploy/jupyterhub/setup.sh).
- Students get nbgrader's student tools (assignment list, validate); the
  instructors also get formgrader, on the course root (the kit checkout).

The course id is read from the kit's nbgrader_config.py, the one place it is
set. Paths and the address can be moved with CNN1D_* environment variables
(the tests run the hub on 127.0.0.1 with them).
"""

import os
import re
import sys
from pathlib import Path

c = get_config()  # noqa: F821 - injected by JupyterHub

HERE = Path(__file__).resolve().parent


def check_root_only(here=HERE):
    """Refuse to start as root from code others may write. The hub runs as root
    and executes this file and the modules beside it; the course root (the kit
    checkout) is the instructors' group's to write, so a hub configured from
    there would run any instructor's or teaching assistant's code as root.
    `setup.sh hub-config` installs the copies root runs into /opt/tljh/hub-config."""
    if os.geteuid() != 0:
        return
    isolation = here / "cnn1d_isolation.py"
    if not isolation.exists():  # the kit's own layout (a checkout only root writes)
        isolation = here.parents[1] / "autograder" / "isolation.py"
    files = [here / n for n in ("jupyterhub_config.py", "cnn1d_lti.py", "cnn1d_spawner.py")]
    for path in (*files, isolation, isolation.parent, here, *here.parents):
        st = path.stat()
        # group bits are the ACL mask where there is an ACL: a named group's
        # write shows there too. A sticky folder of root's above (/tmp) lets
        # no one move root's folder in it; `here` is on sys.path: never.
        sticky = st.st_mode & 0o1000 and path in here.parents
        if st.st_uid != 0 or (st.st_mode & 0o022 and not sticky):
            raise SystemExit(f"{path} may be written by others than root (owner uid "
                             f"{st.st_uid}, mode {st.st_mode & 0o7777:o}), and the hub runs "
                             "it as root: start the hub from the root-owned copy "
                             "`bash deploy/jupyterhub/setup.sh hub-config` installs, "
                             "jupyterhub -f /opt/tljh/hub-config/jupyterhub_config.py")


check_root_only()

KIT = Path(os.environ.get("CNN1D_KIT", "/srv/cnn1d/course"))  # the course root
USER_ENV = Path(os.environ.get("CNN1D_USER_ENV", "/opt/tljh/user"))
EXCHANGE = os.environ.get("CNN1D_EXCHANGE", "/srv/nbgrader/exchange")
# Each role's Jupyter configuration, installed by `setup.sh roles` where every
# user can read it without reading the course (the course root is the
# instructors' alone).
ROLE_CONFIG = Path(os.environ.get("CNN1D_ROLES", "/opt/tljh/roles"))


def check_roles(installed, kit):
    """Refuse to start unless every user can read the installed role
    configuration and it is the kit's. (A server that cannot read it anyway
    fails closed: the users' environment's defaults are the student's tools.)"""
    import filecmp

    fix = "run `bash deploy/jupyterhub/setup.sh roles` as root"
    for role in ("student", "instructor"):
        theirs, ours = installed / role, kit / role
        if not theirs.is_dir():
            raise SystemExit(f"no role configuration at {theirs}: {fix}")
        for parent in (theirs, *theirs.parents):
            if parent.stat().st_mode & 0o005 != 0o005:
                raise SystemExit(f"{parent} is not readable and searchable by every user, so "
                                 f"a {role}'s server could not load its role: chmod o+rx "
                                 f"{parent}, or {fix}")
        for folder, _, files in os.walk(ours):
            rel = Path(folder).relative_to(ours)
            for name in files:
                path = theirs / rel / name
                if not path.exists() or not filecmp.cmp(path, Path(folder) / name, shallow=False):
                    raise SystemExit(f"{path} differs from the kit's {Path(folder) / name}: {fix}")
                if path.stat().st_mode & 0o004 == 0:
                    raise SystemExit(f"{path} is not readable by every user: {fix}")
            if (theirs / rel).stat().st_mode & 0o005 != 0o005:
                raise SystemExit(f"{theirs / rel} is not readable by every user: {fix}")


check_roles(ROLE_CONFIG, KIT / "deploy" / "jupyterhub" / "roles")  # read, never run


def course_id(kit=KIT):
    """The course id as the kit's nbgrader_config.py sets it."""
    text = (kit / "nbgrader_config.py").read_text()
    found = re.findall(r'^c\.CourseDirectory\.course_id\s*=\s*"([^"]+)"', text, re.M)
    if len(found) != 1:
        raise SystemExit(f"{kit / 'nbgrader_config.py'}: expected one "
                         "c.CourseDirectory.course_id = \"...\" line")
    return found[0]


COURSE = course_id()
INSTRUCTORS = f"formgrade-{COURSE}"
STUDENTS = f"nbgrader-{COURSE}"

# root:formgrade-<course> 0640 (deploy/README.md): an instructor's shell reads
# it to grade; the hub hands it to instructors' servers
SECRET_FILE = Path(os.environ.get("CNN1D_SECRET_FILE", "/opt/tljh/secret/cnn1d_grader_secret"))

# HTTPS: the proxy serves this certificate chain and key (deploy/README.md,
# HTTPS: Let's Encrypt, or a self-signed one until then); without them the
# hub does not start. Plain HTTP only when CNN1D_HUB_URL says http:// (behind
# a TLS proxy of your own; tests on 127.0.0.1).
SSL_DIR = Path("/opt/tljh/state/ssl")
SSL_CERT = os.environ.get("CNN1D_SSL_CERT", str(SSL_DIR / "fullchain.pem"))
SSL_KEY = os.environ.get("CNN1D_SSL_KEY", str(SSL_DIR / "privkey.pem"))
if os.environ.get("CNN1D_HUB_URL", "").startswith("http://"):
    if "CNN1D_SSL_CERT" in os.environ or "CNN1D_SSL_KEY" in os.environ:
        raise SystemExit("CNN1D_HUB_URL is http:// but CNN1D_SSL_CERT/CNN1D_SSL_KEY are "
                         "set: use an https:// address, or unset them")
else:
    missing = [f for f in (SSL_CERT, SSL_KEY) if not Path(f).is_file()]
    if missing:
        raise SystemExit(f"no TLS certificate or key at {', '.join(missing)}: make them "
                         "(deploy/README.md, HTTPS) or point CNN1D_SSL_CERT and "
                         "CNN1D_SSL_KEY at yours")
    c.JupyterHub.ssl_cert, c.JupyterHub.ssl_key = SSL_CERT, SSL_KEY
    if "CNN1D_HUB_URL" not in os.environ:  # http:// visitors are sent to https://
        c.ConfigurableHTTPProxy.command = ["configurable-http-proxy", "--redirect-port", "80"]
c.JupyterHub.bind_url = os.environ.get("CNN1D_HUB_URL", "https://:443")
c.JupyterHub.hub_bind_url = os.environ.get("CNN1D_HUB_API_URL", "http://127.0.0.1:8081")
c.ConfigurableHTTPProxy.api_url = os.environ.get("CNN1D_PROXY_API_URL", "http://127.0.0.1:8001")
c.JupyterHub.cookie_secret_file = os.environ.get(
    "CNN1D_HUB_COOKIE_SECRET", "/opt/tljh/state/jupyterhub_cookie_secret")
c.JupyterHub.db_url = os.environ.get("CNN1D_HUB_DB", "sqlite:////opt/tljh/state/jupyterhub.sqlite")

sys.path.insert(0, str(HERE))  # cnn1d_lti, cnn1d_spawner (checked above)

if os.environ.get("CNN1D_LTI_CLIENT_ID"):
    # Log in from the LMS (LTI 1.3; Canvas's endpoints unless told otherwise):
    # a Linux user is made at a person's first launch, in the group of their
    # course role (deploy/jupyterhub/cnn1d_lti.py).
    from cnn1d_lti import CourseLTIAuthenticator

    c.JupyterHub.authenticator_class = CourseLTIAuthenticator
    lti = c.CourseLTIAuthenticator
    lti.client_id = {os.environ["CNN1D_LTI_CLIENT_ID"]}
    lti.issuer = os.environ.get("CNN1D_LTI_ISSUER", "https://canvas.instructure.com")
    lti.authorize_url = os.environ.get(
        "CNN1D_LTI_AUTHORIZE_URL", "https://sso.canvaslms.com/api/lti/authorize_redirect")
    lti.jwks_endpoint = os.environ.get(
        "CNN1D_LTI_JWKS_URL", "https://sso.canvaslms.com/api/lti/security/jwks")
    # the one course let in; unset, a launch is refused with its course's id in the message
    lti.context_id = os.environ.get("CNN1D_LTI_CONTEXT_ID", "")
    lti.role_groups = {"instructor": INSTRUCTORS, "teaching_assistant": INSTRUCTORS,
                       "student": STUDENTS}
    # each person's LMS id and the course's AGS endpoint, for grade passback
    lti.records = os.environ.get("CNN1D_LTI_RECORDS", "/opt/tljh/lti")
else:
    # Local Linux users (PAM, a small class); only the course's members may log in.
    c.JupyterHub.authenticator_class = "pam"
    c.LocalAuthenticator.allowed_groups = {INSTRUCTORS, STUDENTS}
c.Authenticator.admin_users = set(filter(None, os.environ.get("CNN1D_HUB_ADMINS", "").split(",")))

# Each server in a cgroup with memory and CPU limits the kernel enforces:
# SystemdSpawner (a unit per server) where systemd runs, else CgroupSpawner
# (deploy/jupyterhub/cnn1d_spawner.py). The defaults fit stage 5's training
# (deploy/README.md, Sizing the hub).
if Path("/run/systemd/system").is_dir():
    c.JupyterHub.spawner_class = "systemdspawner.SystemdSpawner"
    c.SystemdSpawner.isolate_tmp = True
    c.SystemdSpawner.disable_user_sudo = True
else:
    from cnn1d_spawner import CgroupSpawner

    c.JupyterHub.spawner_class = CgroupSpawner
c.Spawner.mem_limit = os.environ.get("CNN1D_MEM_LIMIT", "1G")
c.Spawner.cpu_limit = float(os.environ.get("CNN1D_CPU_LIMIT", "1"))
# instructors grade in their servers (formgrader, `python -m course grade --workers N`)
INSTRUCTOR_LIMITS = (os.environ.get("CNN1D_INSTRUCTOR_MEM_LIMIT", "4G"),
                     float(os.environ.get("CNN1D_INSTRUCTOR_CPU_LIMIT", "2")))

# Idle servers are stopped (jupyterhub-idle-culler, as TLJH does), freeing
# their memory; a student's files stay.
IDLE_TIMEOUT = int(os.environ.get("CNN1D_IDLE_TIMEOUT", "3600"))
c.JupyterHub.services = [{
    "name": "idle-culler",
    # -I: as root, never the working folder's modules on its path
    "command": [sys.executable, "-I", "-m", "jupyterhub_idle_culler", f"--timeout={IDLE_TIMEOUT}",
                f"--cull-every={max(5, min(300, IDLE_TIMEOUT // 6))}"],
}]
c.JupyterHub.load_roles = [{
    "name": "idle-culler", "services": ["idle-culler"],
    "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
}]
c.Spawner.cmd = [str(USER_ENV / "bin" / "jupyterhub-singleuser")]
c.Spawner.default_url = "/lab"
c.Spawner.notebook_dir = "~"
c.Spawner.start_timeout = 120
c.Spawner.http_timeout = 120


def role_of(username):
    """'instructor' for members of formgrade-<course>, else 'student'."""
    import grp

    try:
        members = grp.getgrnam(INSTRUCTORS).gr_mem
    except KeyError:
        members = []
    return "instructor" if username in members else "student"


def pre_spawn_hook(spawner):
    """The role's Jupyter configuration (extensions, nbgrader) for this user."""
    import pwd

    role = role_of(spawner.user.name)
    # a home is its owner's alone (useradd makes it 0755 on Debian): another
    # student cannot read the fetched notebooks, answers and feedback in it
    home = Path(pwd.getpwnam(spawner.user.name).pw_dir)
    if home.is_dir() and home.stat().st_mode & 0o077:
        home.chmod(home.stat().st_mode & 0o7700)
    spawner.environment.update({
        # searched before the user environment's own etc/jupyter
        "JUPYTER_CONFIG_PATH": str(ROLE_CONFIG / role),
        "CNN1D_KIT": str(KIT),
        "CNN1D_COURSE_ID": COURSE,
        "CNN1D_EXCHANGE": EXCHANGE,
        "PATH": f"{USER_ENV / 'bin'}:/usr/local/bin:/usr/bin:/bin",
    })
    if role == "instructor":
        # grading needs the course secret; students never see it
        spawner.environment["CNN1D_GRADER_SECRET"] = SECRET_FILE.read_text().strip()
        # formgrader works only on a course root inside the server's root
        spawner.notebook_dir = str(KIT)
        spawner.mem_limit, spawner.cpu_limit = INSTRUCTOR_LIMITS


c.Spawner.pre_spawn_hook = pre_spawn_hook


# Feedback within a minute (course/feedback_service.py; deploy/README.md):
# each submission is graded as it arrives in the exchange, by a service that
# runs as its own Linux user (CNN1D_FEEDBACK_USER, made by `setup.sh feedback`),
# never root, in the sandbox, with the course secret. That user is in the
# instructors' group: it lists the course's inbound/ and writes its feedback/
# as `setup.sh exchange` lays them out. CNN1D_FEEDBACK=off leaves it out.
if os.environ.get("CNN1D_FEEDBACK", "on") != "off":
    import pwd as _pwd

    FEEDBACK_USER = os.environ.get("CNN1D_FEEDBACK_USER", "cnn1d-feedback")
    try:
        _feedback_home = _pwd.getpwnam(FEEDBACK_USER).pw_dir
    except KeyError:
        raise SystemExit(f"no Linux user {FEEDBACK_USER} for the feedback service: run "
                         "`bash deploy/jupyterhub/setup.sh feedback` as root, or set "
                         "CNN1D_FEEDBACK=off") from None
    _feedback = [os.environ.get("CNN1D_FEEDBACK_PYTHON", str(USER_ENV / "bin" / "python")),
                 "-m", "course.feedback_service"]
    _feedback_env = {"PYTHONPATH": str(KIT), "PATH": "/usr/local/bin:/usr/bin:/bin"}
    c.JupyterHub.services.append({
        "name": "cnn1d-feedback",
        "user": FEEDBACK_USER,
        "url": os.environ.get("CNN1D_FEEDBACK_URL", "http://127.0.0.1:10102"),
        "command": [*_feedback, "serve", "--exchange", EXCHANGE, "--course", COURSE,
                    "--state", _feedback_home,
                    "--workers", os.environ.get("CNN1D_FEEDBACK_WORKERS", "2"),
                    "--per-hour", os.environ.get("CNN1D_FEEDBACK_PER_HOUR", "10"),
                    "--budget", os.environ.get("CNN1D_FEEDBACK_BUDGET", "30"),
                    *[f"--due={d}" for d in os.environ.get("CNN1D_FEEDBACK_DUE", "").split()]],
        "environment": {**_feedback_env,
                        "CNN1D_GRADER_SECRET": SECRET_FILE.read_text().strip()},
        "cwd": _feedback_home,
        "oauth_no_confirm": True,
    })
    # every user may reach the service through the hub (instructors made at
    # their first LTI launch included); its pages let in only the members of
    # formgrade-<course>, and a student gets 403
    c.JupyterHub.extra_user_scopes.add("access:services!service=cnn1d-feedback")
