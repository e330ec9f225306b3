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
    assert max(i for i, arg in enumerate(cmd)
               if arg == "--tmpfs" and cmd[i + 1] != "/dev/shm") < first_bind
    # /dev read-only once its small /dev/shm is mounted
    assert cmd.index("--remount-ro") > cmd.index("--dev") and "/dev/shm" in cmd
    assert "/opt/grader" in [dest for _, dest in _binds(cmd)]
    for flag in ("--unshare-user", "--unshare-pid", "--unshare-net", "--unshare-ipc",
                 "--unshare-uts", "--die-with-parent", "--new-session"):
        assert flag in cmd


def test_a_notebook_leaves_nothing_running_for_the_next(monkeypatch):
    """Audit hook off (it would refuse the fork): a process an answer cell
    starts is killed when its notebook ends, told apart by its pid in the
    sandbox's PID namespace; the next notebook starts beside the template alone."""
    import pytest

    import autograder.sandbox as sandbox
    from autograder.grade import stage_assets
    from autograder.isolation import bwrap_works
    from course.stages import get_stage

    if bwrap_works() or os.getuid() != 0:
        pytest.skip("needs root and bubblewrap (a cgroup per sandbox)")
    monkeypatch.setattr(sandbox, "AUDIT_HOOK", False)
    stage = get_stage("single_channel")
    box = sandbox.Sandbox({stage.name: stage_assets(stage)}, "bwrap")
    try:
        box.start(stage.name, "import os", [("stray", "import os, time\nif os.fork() == 0:\n"
                                                       "    time.sleep(120)\n    os._exit(0)\n")])
        assert len(box.cgroup.pids()) == 5  # bwrap, its init, the template, the stage, the stray
        box.end_stage()
        assert len(box.cgroup.pids()) == 3  # bwrap, its init, the template
    finally:
        box.close()


def test_the_grader_says_which_limits_hold_and_warns_when_processes_are_not_bounded(
        monkeypatch, capsys):
    """Each barrier and grader as the README's table says; a class run whose
    processes nothing bounds (root without a cgroup) warns on stderr."""
    import autograder.isolation as isolation
    import autograder.parallel as parallel

    monkeypatch.setattr(isolation, "cgroup_works", lambda: True)
    assert "cgroup" in isolation.describe_limits("bwrap")["processes"]
    monkeypatch.setattr(isolation, "cgroup_works", lambda: False)
    monkeypatch.setattr(os, "getuid", lambda: 1000)
    limits = isolation.describe_limits("bwrap", 512, 32)
    assert "32" in limits["processes"] and "RLIMIT_NPROC" in limits["processes"]
    assert "per process" in limits["memory"]
    monkeypatch.setattr(os, "getuid", lambda: 0)
    assert isolation.describe_limits("bwrap")["processes"] is None
    assert isolation.describe_limits("none")["processes"] is None
    monkeypatch.setattr(isolation, "choose_barrier", lambda *args: "bwrap")
    parallel._say_limits("bwrap", "submitted/a/single_channel/single_channel.ipynb", 2)
    err = capsys.readouterr().err
    assert "processes: NOT BOUNDED" in err and "WARNING" in err
    parallel._say_limits("bwrap", "submitted/a/single_channel/single_channel.ipynb", 1)
    assert "WARNING" not in capsys.readouterr().err  # one student: said, not warned
