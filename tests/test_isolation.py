"""The sandbox's command line (autograder/isolation.py): what it binds."""

import os
import sys

from autograder.isolation import bwrap_command


def _binds(cmd):
    return [(cmd[i + 1], cmd[i + 2]) for i, arg in enumerate(cmd) if arg == "--ro-bind"]


def test_a_venv_reached_through_a_symbolic_link_is_bound_at_that_path(tmp_path, monkeypatch):
    link = tmp_path / "venv-link"
    link.symlink_to(os.path.realpath(sys.prefix))
    monkeypatch.setattr(sys, "prefix", str(link))
    assert (os.path.realpath(link), str(link)) in _binds(bwrap_command(sys.executable,
                                                                       tmp_path, 1))


def test_writable_places_are_mounted_before_the_binds(tmp_path):
    cmd = bwrap_command(sys.executable, tmp_path, 1)
    first_bind = cmd.index("--ro-bind")
    assert max(i for i, arg in enumerate(cmd) if arg == "--tmpfs") < first_bind
    assert "/opt/grader" in [dest for _, dest in _binds(cmd)]
    for flag in ("--unshare-user", "--unshare-pid", "--unshare-net", "--unshare-ipc",
                 "--unshare-uts", "--die-with-parent", "--new-session"):
        assert flag in cmd
