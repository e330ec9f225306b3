"""Running deploy/jupyterhub's hub in a test: what it needs, and the hub
process itself, started, waited for and stopped.

``require_hub()`` skips where Linux users cannot be made and fails, naming
the command, where the users' environment or configurable-http-proxy is
missing. ``running_hub(...)`` starts ``jupyterhub -f CONFIG`` from the
kit's .venv, waits until its API answers, yields the process, and stops it
(and the proxy and servers it started) at the end. ``class_users(...)``
makes a test's Linux users and the course's groups, and removes them;
``write_hub_config(...)`` writes the configuration a test's hub runs with.
"""

import contextlib
import grp
import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests import servers
from tests.pages import free_port

USER_ENV = Path(os.environ.get("CNN1D_USER_ENV", "/opt/tljh/user"))


def can_create_users():
    """Why Linux users cannot be made here, or None."""
    if os.geteuid() != 0:
        return "creating Linux users needs root"
    if not shutil.which("useradd"):
        return "useradd is not installed"
    return None


def require_hub():
    reason = can_create_users()
    if reason:
        pytest.skip(reason)
    if not (USER_ENV / "bin" / "jupyterhub-singleuser").exists():
        pytest.fail(f"no users' environment at {USER_ENV}: run "
                    "`bash deploy/jupyterhub/setup.sh user-env` (.ci/run does)")
    if not shutil.which("configurable-http-proxy"):
        pytest.fail("configurable-http-proxy is not installed: "
                    "`npm install -g configurable-http-proxy` (.ci/run does)")


@contextlib.contextmanager
def running_hub(hub, config, env, cwd, timeout=90):
    """``jupyterhub -f config`` in ``cwd`` with ``env``, logging to ``hub.log``
    (a path); ``hub`` is a tests.test_jupyterhub.Hub client of it."""
    with open(hub.log, "w") as log:
        proc = subprocess.Popen([str(Path(sys.executable).parent / "jupyterhub"), "-f",
                                 str(config)], cwd=cwd, env=env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        servers.wait_until(lambda: hub.request("GET", "/hub/api/", timeout=5)[0] == 200,
                           proc, hub.log, timeout, what="the hub")
        yield proc
    finally:
        servers.stop_group(proc)


@contextlib.contextmanager
def class_users(people, others=()):
    """Linux users for a hub test: ``people``, (name, group) pairs, each made
    with a home and a shell in its group (an earlier run's user of that name
    removed first); the groups made where missing. ``others`` are users the
    test's setup makes itself (a service's, by setup.sh or a documented
    command): an earlier run's removed first, removed with the rest. At the
    end every process of these users is killed, the users and the groups this
    made are removed."""
    made_groups, made_users = [], []
    try:
        for group in dict.fromkeys(g for _, g in people):
            try:
                grp.getgrnam(group)
            except KeyError:
                subprocess.run(["groupadd", group], check=True, capture_output=True)
                made_groups.append(group)
        for user in others:
            subprocess.run(["userdel", "-r", user], capture_output=True)
            made_users.append(user)
        for user, group in people:
            subprocess.run(["userdel", "-r", user], capture_output=True)
            made_users.append(user)
            subprocess.run(["useradd", "-m", "-s", "/bin/bash", "-G", group, user],
                           check=True, capture_output=True)
        yield
    finally:
        for user in made_users:
            subprocess.run(["pkill", "-KILL", "-u", user], capture_output=True)
            subprocess.run(["userdel", "-r", user], capture_output=True)
        for group in made_groups:
            subprocess.run(["groupdel", group], capture_output=True)


def copy_kit(course):
    """A copy of this kit at ``course``, a hub test's course root: without git,
    the .venv, the tests, grades and generated folders."""
    shutil.copytree(Path(__file__).resolve().parents[1], course,
                    ignore=shutil.ignore_patterns(
                        ".git", ".venv", "runs", "lab", "tests", "submitted", "autograded",
                        "feedback", "gradebook.db", "release", "__pycache__", ".pytest_cache",
                        ".ruff_cache"))


def hub_variables(state, url):
    """The hub's own CNN1D_* variables for a test's hub at ``url``: its API
    and the proxy's on free loopback ports, its database and cookie secret in
    ``state``."""
    return {"CNN1D_HUB_URL": url,
            "CNN1D_HUB_API_URL": f"http://127.0.0.1:{free_port()}",
            "CNN1D_PROXY_API_URL": f"http://127.0.0.1:{free_port()}",
            "CNN1D_HUB_DB": f"sqlite:///{Path(state) / 'hub.sqlite'}",
            "CNN1D_HUB_COOKIE_SECRET": str(Path(state) / "cookie_secret")}


def write_hub_config(state, loaded,
                     scopes=("admin:users", "admin:servers", "access:servers", "list:users"),
                     more=""):
    """``state``/jupyterhub_config.py: the hub configuration ``loaded`` (a path)
    and a service of the test's own, its token holding ``scopes``, then the
    lines ``more``. Returns the file's path and the token."""
    token = secrets.token_hex(32)
    config = Path(state) / "jupyterhub_config.py"
    config.write_text(
        f"load_subconfig({str(loaded)!r})\n"
        f"c.JupyterHub.services.append({{'name': 'cnn1d-test', 'api_token': {token!r}}})\n"
        "c.JupyterHub.load_roles.append({'name': 'cnn1d-test', 'services': ['cnn1d-test'], "
        f"'scopes': {list(scopes)!r}}})\n" + more)
    return config, token
