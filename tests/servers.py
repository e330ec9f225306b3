"""Servers a test starts (JupyterLab, the hub, deploy's blocks): wait until one
answers, and stop its whole process group.

``wait_until(probe, proc, log)`` calls ``probe()`` every half second until it
returns something true (an ``OSError`` counts as "not yet"), and fails with
the end of the server's log when the process ends first or the time is up.
``wait_for_url`` is that for an HTTP(S) address; ``stop_group`` ends a
process started with ``start_new_session=True`` and everything it started.
"""

import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path


def _tail(log, chars=3000):
    return Path(log).read_text(errors="replace")[-chars:]


def wait_until(probe, proc, log, timeout=90, what="the server"):
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise AssertionError(f"{what} exited with {proc.returncode}:\n{_tail(log)}")
        try:
            value = probe()
        except OSError:
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not answer in {timeout} s:\n{_tail(log)}")
        time.sleep(0.5)


def wait_for_url(url, proc, log, timeout=90, context=None):
    """(status, body) of the first answer below 400 from ``url``."""
    def probe():
        with urllib.request.urlopen(url, timeout=5, context=context) as r:
            return r.status, r.read().decode()
    return wait_until(probe, proc, log, timeout, what=url)


def stop_group(proc, timeout=30):
    """SIGTERM to the process group, SIGKILL after ``timeout`` s; waits for it."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        proc.wait()
