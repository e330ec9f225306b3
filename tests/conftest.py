"""Shared test configuration.

In CI (``CI`` set, as root, where ``make test`` has installed bubblewrap)
the sandbox must work: a sandbox that cannot start would otherwise turn the
red-team and load tests into skips and every graded test into a failure
with a misleading message. Say so once, up front, and stop.
"""

import os
import shutil

import pytest


def pytest_configure(config):
    if os.environ.get("CI") and os.getuid() == 0 and shutil.which("bwrap"):
        from autograder.isolation import bwrap_works

        reason = bwrap_works()
        if reason:
            raise pytest.UsageError(f"the grading sandbox cannot start here: {reason}")
