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
from pathlib import Path

c = get_config()  # noqa: F821 - injected by JupyterHub

KIT = Path(os.environ.get("CNN1D_KIT", "/srv/cnn1d/course"))  # the course root
USER_ENV = Path(os.environ.get("CNN1D_USER_ENV", "/opt/tljh/user"))
EXCHANGE = os.environ.get("CNN1D_EXCHANGE", "/srv/nbgrader/exchange")
ROLE_CONFIG = Path(__file__).resolve().parent / "roles"


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

SECRET_FILE = Path(os.environ.get("CNN1D_SECRET_FILE", "/opt/tljh/state/cnn1d_grader_secret"))

c.JupyterHub.bind_url = os.environ.get("CNN1D_HUB_URL", "http://:80")
c.JupyterHub.hub_bind_url = os.environ.get("CNN1D_HUB_API_URL", "http://127.0.0.1:8081")
c.ConfigurableHTTPProxy.api_url = os.environ.get("CNN1D_PROXY_API_URL", "http://127.0.0.1:8001")
c.JupyterHub.cookie_secret_file = os.environ.get(
    "CNN1D_HUB_COOKIE_SECRET", "/opt/tljh/state/jupyterhub_cookie_secret")
c.JupyterHub.db_url = os.environ.get("CNN1D_HUB_DB", "sqlite:////opt/tljh/state/jupyterhub.sqlite")

# Local Linux users; only the course's members may log in.
c.JupyterHub.authenticator_class = "pam"
c.LocalAuthenticator.allowed_groups = {INSTRUCTORS, STUDENTS}
c.Authenticator.admin_users = set(filter(None, os.environ.get("CNN1D_HUB_ADMINS", "").split(",")))

c.JupyterHub.spawner_class = "jupyterhub.spawner.LocalProcessSpawner"
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
    role = role_of(spawner.user.name)
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


c.Spawner.pre_spawn_hook = pre_spawn_hook
