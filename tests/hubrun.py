"""Running deploy/jupyterhub's hub in a test: what it needs, and the hub
process itself, started, waited for and stopped.

``require_hub()`` skips where Linux users cannot be made and fails, naming
the command, where the users' environment or configurable-http-proxy is
missing. ``running_hub(...)`` starts ``jupyterhub -f CONFIG`` from the
kit's .venv, waits until its API answers, yields the process, and stops it
(and the proxy and servers it started) at the end.
"""

import contextlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests import servers

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
