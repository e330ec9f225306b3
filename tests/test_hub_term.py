"""The hub for a term (issue 18, items 4, 5, 9): students log in from the LMS,
over HTTPS, into servers the kernel holds to their limits, stopped when idle.

One hub, deploy/jupyterhub/jupyterhub_config.py as shipped, on 127.0.0.1
with configurable-http-proxy, configured through its CNN1D_* variables only:

- **LTI 1.3** with jupyterhub-ltiauthenticator: the LMS is
  tests/lti_platform.py (an RSA key the test makes, its JWKS served on
  loopback, the OIDC login and a signed id_token); the browser is a
  ``requests`` session following the real redirects and form posts. The
  first launch makes the Linux user, in the group of the course role.
  Launches from another course, with a forged signature, replayed, for an
  existing account not made for that person, or without a course role are
  refused and make no user. One student launches in chromium from the
  platform's page, the form posts crossing sites as in a real browser, and
  lands in her JupyterLab with the Assignment List.
- **HTTPS** with a certificate the test makes; the configuration refuses to
  start without one.
- **Limits**: the student's server runs in a cgroup (CgroupSpawner: no
  systemd here); code in her kernel that allocates twice the memory limit is
  killed by the kernel's OOM killer inside that cgroup while the server lives
  on, and two busy processes are throttled to the CPU quota. The same
  allocation outside the hub, as the same user, succeeds (the check can fail).
  A fork flood stops at the process cap; she cannot leave the cgroup or raise
  its limits. An instructor's server has the instructors' limits.
- **Idle culler**: a server nobody uses is stopped, its cgroup removed.
- **Sizing**: deploy/README.md's measuring command, up to Validate of stage 1.

Needs root (the hub makes Linux users), the users' environment
(`bash deploy/jupyterhub/setup.sh user-env`) and configurable-http-proxy, as
tests/test_jupyterhub.py does. About 3 minutes (3 min 10 s at a load average
of 20 on 2 cores).
"""

import asyncio
import csv
import grp
import json
import os
import pwd
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from course.course_id import COURSE_ID
from tests import docblocks, pages
from tests import lti_platform as lms
from tests.hubrun import copy_kit, hub_variables, require_hub, running_hub, write_hub_config
from tests.test_jupyterhub import HUB, USER_ENV, Hub, _free_port, _readme, _setup_step

pytestmark = pytest.mark.slow

INSTRUCTORS, STUDENTS = f"formgrade-{COURSE_ID}", f"nbgrader-{COURSE_ID}"
ADA, BOB, TEACH, TINA = "t18ada", "t18bob", "t18teach", "t18tina"
HAND = "t18hand"  # an account made by hand, not by a launch
CARA = "t18cara"  # launches in chromium
MEM_LIMIT_MB, CPU_LIMIT, IDLE_TIMEOUT = 300, 0.5, 75
ROOT = Path(__file__).resolve().parents[1]


def _userdel(name):
    subprocess.run(["pkill", "-KILL", "-u", name], capture_output=True)
    subprocess.run(["userdel", "-r", name], capture_output=True)


def _groups_of(name):
    return {g.gr_name for g in grp.getgrall() if name in g.gr_mem}


def _server_pid(user):
    found = subprocess.run(["pgrep", "-u", user, "-f", "jupyterhub-singleuser"],
                           capture_output=True, text=True).stdout.split()
    assert found, f"no server process of {user}"
    return int(found[0])


def _cgroup_folders(pid):
    """{controller: folder} of a process's v1 cgroups (or 'unified')."""
    folders, unified = {}, None
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if not controllers:
            unified = Path("/sys/fs/cgroup") / path.lstrip("/")
        for name in set(controllers.split(",")) & {"memory", "cpu", "cpuacct", "pids"}:
            folders[name] = Path("/sys/fs/cgroup") / name / path.lstrip("/")
    return folders if "memory" in folders else {"unified": unified}


@pytest.fixture(scope="module")
def term():
    require_hub()
    work = Path(tempfile.mkdtemp(prefix="cnn1d-term-"))
    os.chmod(work, 0o755)
    made_groups, platform = [], lms.Platform()
    old_opener = urllib.request._opener
    try:
        for name in (ADA, BOB, TEACH, TINA, HAND):
            _userdel(name)  # an earlier run's
        for group in (INSTRUCTORS, STUDENTS):
            try:
                grp.getgrnam(group)
            except KeyError:
                subprocess.run(["groupadd", group], check=True)
                made_groups.append(group)
        subprocess.run(["useradd", "-m", HAND], check=True)
        state = work / "state"
        state.mkdir(mode=0o700)
        (state / "secret").write_text("term-test-secret\n")
        # the certificate the hub serves, for 127.0.0.1
        cert, key = state / "hub.crt", state / "hub.key"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days",
                        "1", "-subj", "/CN=127.0.0.1", "-addext",
                        "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                       check=True, capture_output=True)
        tls = ssl.create_default_context(cafile=str(cert))
        urllib.request.install_opener(urllib.request.build_opener(
            urllib.request.HTTPSHandler(context=tls)))
        course = work / "course"  # the instructors' course root, a copy of the kit
        copy_kit(course)
        # the course laid out as deploy/README.md says (tests/test_jupyterhub.py's steps)
        exchange = work / "exchange"
        paths = {"CNN1D_ROLES": str(work / "roles"), "CNN1D_EXCHANGE": str(exchange),
                 "CNN1D_USER_ENV": str(USER_ENV), "CNN1D_BACKUPS": str(work / "backups"),
                 "CNN1D_CRON_FILE": str(work / "cnn1d-backup.cron"),
                 "CNN1D_HUB_CONFIG": str(work / "hub-config")}
        _setup_step("exchange", course, paths)
        _readme(docblocks.block("deploy/README.md", "setup.sh roles"), course,
                dict(os.environ, **paths))

        platform.start()
        port = _free_port()
        url = f"https://127.0.0.1:{port}"
        platform.redirect_uris.add(url + "/hub/lti13/oauth_callback")
        config, token = write_hub_config(
            state, HUB / "jupyterhub_config.py",
            scopes=("admin:users", "admin:servers", "access:servers", "list:users",
                    "list:services", "read:services"),
            # the proxy's record of activity reaches the hub (and the culler) every 5 s
            more="c.JupyterHub.last_activity_interval = 5\n")
        env = dict(os.environ, CNN1D_KIT=str(course), **paths,
                   CNN1D_SECRET_FILE=str(state / "secret"),
                   **hub_variables(state, url), CNN1D_SSL_CERT=str(cert), CNN1D_SSL_KEY=str(key),
                   CNN1D_LTI_CLIENT_ID=platform.client_id, CNN1D_LTI_ISSUER=platform.issuer,
                   CNN1D_LTI_AUTHORIZE_URL=platform.authorize_url,
                   CNN1D_LTI_JWKS_URL=platform.jwks_url,
                   CNN1D_LTI_CONTEXT_ID=platform.context["id"],
                   CNN1D_MEM_LIMIT=f"{MEM_LIMIT_MB}M", CNN1D_CPU_LIMIT=str(CPU_LIMIT),
                   CNN1D_INSTRUCTOR_MEM_LIMIT="700M", CNN1D_INSTRUCTOR_CPU_LIMIT="1.5",
                   CNN1D_IDLE_TIMEOUT=str(IDLE_TIMEOUT), CNN1D_FEEDBACK="off",
                   CNN1D_LTI_RECORDS=str(work / "lti"))
        hub = Hub(url, token)
        hub.log, hub.course, hub.tls, hub.cert, hub.platform = (state / "hub.log", course, tls,
                                                                cert, platform)
        hub.env = env
        with running_hub(hub, config, env, cwd=state):
            yield hub
    finally:
        platform.stop()
        urllib.request.install_opener(old_opener)
        for name in (ADA, BOB, TEACH, TINA, HAND, CARA):
            _userdel(name)
        for group in made_groups:
            subprocess.run(["groupdel", group], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)


def _browser(hub):
    import requests

    session = requests.Session()
    session.trust_env = False  # REQUESTS_CA_BUNDLE would replace the test's certificate
    session.verify = str(hub.cert)
    return session


def _launch(hub, login_hint, session=None):
    session = session or _browser(hub)
    answer = hub.platform.launch(session, hub.url + "/hub/lti13/oauth_login",
                                 hub.url + "/hub/", login_hint)
    return session, answer


def _enrol(hub, login_hint, roles, login_id=None, **member):
    return hub.platform.enrol(login_hint, roles, custom={"login_id": login_id or login_hint},
                              **member)


def _start_all(hub, users, timeout=180):
    for user in users:
        status, body = hub.request("POST", f"/hub/api/users/{user}/server")
        assert status in (201, 202), (user, status, body)
    deadline = time.monotonic() + timeout
    waiting = set(users)
    while waiting:
        for user in list(waiting):
            status, info = hub.request("GET", f"/hub/api/users/{user}")
            if status == 200 and (info.get("servers") or {}).get("", {}).get("ready"):
                waiting.discard(user)
        assert time.monotonic() < deadline, (waiting, hub.log.read_text()[-3000:])
        time.sleep(1)


def test_the_first_lti_launch_makes_the_linux_user_in_the_group_of_the_course_role(term):
    hub = term
    # Canvas sends institution roles too; only the course (membership) role counts
    _enrol(hub, ADA, [lms.LEARNER, lms.INSTITUTION_INSTRUCTOR], name="Ada")
    _enrol(hub, BOB, [lms.LEARNER, lms.INSTITUTION_STUDENT])
    endpoint = {"scope": ["https://purl.imsglobal.org/spec/lti-ags/scope/score"],
                "lineitems": hub.platform.url + "/courses/1/line_items"}
    _enrol(hub, TEACH, [lms.INSTRUCTOR, lms.INSTITUTION_INSTRUCTOR],
           claims={"https://purl.imsglobal.org/spec/lti-ags/claim/endpoint": endpoint})
    _enrol(hub, TINA, [lms.INSTRUCTOR, lms.TEACHING_ASSISTANT])  # as Canvas sends a TA
    sessions = {}
    for user, group in ((ADA, STUDENTS), (BOB, STUDENTS), (TEACH, INSTRUCTORS),
                        (TINA, INSTRUCTORS)):
        with pytest.raises(KeyError):
            pwd.getpwnam(user)  # no account before the first launch
        session, answer = _launch(hub, user)
        assert answer.status_code == 302, (user, answer.status_code,
                                           hub.log.read_text()[-3000:])
        sessions[user] = session
        account = pwd.getpwnam(user)
        assert account.pw_gecos.startswith("cnn1d-lti "), account
        assert Path(account.pw_dir).stat().st_mode & 0o777 == 0o700
        assert group in _groups_of(user) and ({INSTRUCTORS, STUDENTS} - {group}).isdisjoint(
            _groups_of(user)), (user, _groups_of(user))
    # what grade passback needs: each login's LMS id, the course's AGS endpoint
    records = hub.log.parent.parent / "lti"
    with open(records / "users.csv", newline="") as f:
        ids = {r["login"]: r["lti_user_id"] for r in csv.DictReader(f)}
    assert ids == {u: hub.platform.members[u].sub for u in (ADA, BOB, TEACH, TINA)}, ids
    assert json.loads((records / "ags_endpoint.json").read_text()) == endpoint
    assert (records / "users.csv").stat().st_mode & 0o777 == 0o640
    assert (records / "users.csv").stat().st_gid == grp.getgrnam(INSTRUCTORS).gr_gid

    # the hub's login cookie works: the student is logged in as herself
    me = sessions[ADA].get(hub.url + "/hub/api/user")
    assert me.status_code == 200 and me.json()["name"] == ADA, me.text
    # a second launch finds the same account
    uid = pwd.getpwnam(ADA).pw_uid
    assert _launch(hub, ADA)[1].status_code == 302 and pwd.getpwnam(ADA).pw_uid == uid

    _start_all(hub, [ADA, BOB, TEACH])
    # through the proxy, with her cookie, ada reaches her own server, not bob's
    lab = sessions[ADA].get(hub.url + f"/user/{ADA}/lab")
    assert lab.status_code == 200 and lab.url.endswith(f"/user/{ADA}/lab"), (lab.url,
                                                                               lab.status_code)
    other = sessions[ADA].get(hub.url + f"/user/{BOB}/lab")
    assert other.status_code == 403, (other.url, other.status_code)
    # the server runs as the student, with the student's tools only
    assert pwd.getpwuid(os.stat(f"/proc/{_server_pid(ADA)}").st_uid).pw_name == ADA
    assert hub.request("GET", f"/user/{ADA}/formgrader/api/assignments")[0] in (403, 404)
    # the LMS's Instructor is the course's instructor: formgrader opens
    status, body = hub.request("GET", f"/user/{TEACH}/formgrader/api/assignments")
    assert status == 200, (status, str(body)[-500:])
    # each server in its own cgroup, with its role's limits
    student, teacher = _server_cgroup(ADA), _server_cgroup(TEACH)
    assert student.memory_events()["limit"] == MEM_LIMIT_MB << 20
    assert teacher.memory_events()["limit"] == 700 << 20
    assert set(student.folders.values()).isdisjoint(teacher.folders.values())


def test_launches_that_must_not_let_anyone_in(term):
    hub = term
    platform = hub.platform
    before = {p.pw_name for p in pwd.getpwall()}

    # an Instructor of another course (a sandbox course any student can make)
    other = dict(platform.context, id="another-course", title="My sandbox")
    _enrol(hub, "t18eve", [lms.INSTRUCTOR], context=other)
    assert _launch(hub, "t18eve")[1].status_code == 403
    # no course role (an Observer)
    _enrol(hub, "t18obs", [f"{lms.MEMBERSHIP}#Mentor", lms.INSTITUTION_STUDENT])
    assert _launch(hub, "t18obs")[1].status_code == 403
    # a login id naming a system account, and an account made by hand
    _enrol(hub, "daemon-login", [lms.INSTRUCTOR], login_id="daemon")
    groups = _groups_of("daemon")
    assert _launch(hub, "daemon-login")[1].status_code == 403
    assert _groups_of("daemon") == groups
    _enrol(hub, HAND, [lms.INSTRUCTOR])
    assert _launch(hub, HAND)[1].status_code == 403
    assert INSTRUCTORS not in _groups_of(HAND)
    # another LMS person whose login id is ada's
    _enrol(hub, "ada-twin", [lms.INSTRUCTOR], login_id=ADA)
    assert _launch(hub, "ada-twin")[1].status_code == 403
    assert INSTRUCTORS not in _groups_of(ADA)
    # not a Linux name
    _enrol(hub, "t18space", [lms.LEARNER], login_id="Ada Lovelace")
    assert _launch(hub, "t18space")[1].status_code == 400

    # a launch signed by a key that is not the platform's (same kid)
    _enrol(hub, "t18forged", [lms.INSTRUCTOR])
    platform.launch_key = lms.new_key()
    try:
        answer = _launch(hub, "t18forged")[1]
    finally:
        platform.launch_key = None
    assert answer.status_code in (400, 401), answer.status_code
    # the same launch, signed by the platform, passes: the refusal was the signature
    _enrol(hub, "t18later", [lms.LEARNER])
    assert _launch(hub, "t18later")[1].status_code == 302
    # a replayed id_token, posted without the state cookie of a login
    replay = _browser(hub).post(hub.url + "/hub/lti13/oauth_callback",
                                data={"id_token": platform.issued[-1], "state": "x"},
                                allow_redirects=False)
    assert replay.status_code == 400, replay.status_code
    made = {p.pw_name for p in pwd.getpwall()} - before
    assert made == {"t18later"}, made
    _userdel("t18later")


def test_a_change_of_course_role_moves_the_user_between_groups(term):
    _enrol(term, TINA, [lms.LEARNER], sub=term.platform.members[TINA].sub)  # demoted
    assert _launch(term, TINA)[1].status_code == 302
    assert STUDENTS in _groups_of(TINA) and INSTRUCTORS not in _groups_of(TINA)


def test_a_launch_in_chromium_lands_in_her_jupyterlab(term):
    """The whole path in a browser: the course's link on the LMS's page, the
    tool's login, the platform's form posted back across sites, the hub's new
    user and server, and JupyterLab with the student's Assignment List."""
    hub = term
    _enrol(hub, CARA, [lms.LEARNER])
    launch = hub.platform.serve_launch(hub.url + "/hub/lti13/oauth_login", hub.url + "/hub/")
    with pages.chromium() as browser:
        page = pages.new_page(browser, ignore_https_errors=True)  # the chain: test_https_*
        page.goto(f"{launch}?login_hint={CARA}")
        try:
            page.wait_for_url(re.compile(rf"/user/{CARA}/"), timeout=240_000)
        except Exception as error:  # noqa: BLE001 - said with what the page saw
            raise pages.explained(page, error) from None
        pages.open_assignment_list(page, pages.HubServer(f"{hub.url}/user/{CARA}"))
    assert CARA in grp.getgrnam(STUDENTS).gr_mem


def test_https_with_the_configured_certificate(term):
    hub = term
    # the proxy presents the test's certificate: verification against it passes
    status, _ = hub.request("GET", "/hub/api/")
    assert status == 200
    port = int(hub.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, \
            hub.tls.wrap_socket(raw, server_hostname="127.0.0.1") as conn:
        served = conn.getpeercert()
    assert dict(x[0] for x in served["subject"])["commonName"] == "127.0.0.1"
    # plain HTTP is not answered on the hub's port
    with pytest.raises(OSError):
        urllib.request.build_opener().open(hub.url.replace("https:", "http:") + "/hub/api/",
                                           timeout=10).read()
    # without a certificate the configuration refuses to start (unless http:// is asked for)
    env = {k: v for k, v in hub.env.items() if k != "CNN1D_HUB_URL"}
    env["CNN1D_SSL_CERT"] = str(hub.log.parent / "no-such-certificate.pem")
    load = ("from traitlets.config import Config\nc = Config()\n"
            f"exec(open({str(HUB / 'jupyterhub_config.py')!r}).read(), "
            f"{{'get_config': lambda: c, '__file__': {str(HUB / 'jupyterhub_config.py')!r}}})\n")
    refused = subprocess.run([sys.executable, "-c", load], env=env, capture_output=True,
                             text=True, timeout=60, cwd=hub.log.parent)
    assert refused.returncode != 0 and "no TLS certificate" in refused.stderr, refused.stderr
    # with them, it loads (the check above is the certificate's, nothing else's)
    env.update(CNN1D_SSL_CERT=hub.env["CNN1D_SSL_CERT"], CNN1D_SSL_KEY=hub.env["CNN1D_SSL_KEY"])
    loaded = subprocess.run([sys.executable, "-c", load + "print(c.JupyterHub.ssl_cert)"],
                            env=env, capture_output=True, text=True, timeout=60,
                            cwd=hub.log.parent)
    assert loaded.returncode == 0 and hub.env["CNN1D_SSL_CERT"] in loaded.stdout, loaded


async def _execute(hub, user, code, timeout=120):
    """Run ``code`` in a new kernel of ``user``'s server, through the proxy:
    (the kernel's stdout, the kernel states seen, e.g. 'restarting')."""
    sys.path.insert(0, str(HUB))
    try:
        from measure_server import execute, kernel_channel
    finally:
        sys.path.remove(str(HUB))
    kernel, ws = await kernel_channel(hub.url + f"/user/{user}",
                                      {"Authorization": f"token {hub.token}"}, hub.tls)
    try:
        out, _, states = await execute(ws, code, timeout)
    finally:
        ws.close()
        hub.request("DELETE", f"/user/{user}/api/kernels/{kernel}")
    return out, states


HOG = f"""
import numpy as np
held = []
for step in range({2 * MEM_LIMIT_MB // 50}):
    held.append(np.ones(50 << 17))  # 50 MiB, written
    print((step + 1) * 50, flush=True)
print("allocated", {2 * MEM_LIMIT_MB}, flush=True)
"""


# a student's attempts to leave her cgroup (into its parent) or to raise its limits
ESCAPE = """
import os
escaped = []
for line in open("/proc/self/cgroup").read().splitlines():
    _, controllers, path = line.split(":", 2)
    for c in set(controllers.split(",")) & {"memory", "cpu", "pids", ""}:
        own = "/sys/fs/cgroup/" + (c + path if c else path)  # v1, or v2's one tree
        for target, value in ((os.path.dirname(own) + "/cgroup.procs", str(os.getpid())),
                              (own + "/memory.limit_in_bytes", "-1"), (own + "/memory.max", "max"),
                              (own + "/cpu.cfs_quota_us", "-1"), (own + "/cpu.max", "max"),
                              (own + "/pids.max", "max")):
            if os.path.exists(target):
                try:
                    with open(target, "w") as f:
                        f.write(value)
                    escaped.append(target)
                except OSError:
                    pass
print("escaped", escaped)
"""


FORK_FLOOD = """
import os, signal
children = []
try:
    for _ in range(2000):
        children.append(os.posix_spawn("/bin/sleep", ["sleep", "60"], {}))
    print("never stopped", len(children))
except OSError as e:
    print("stopped at", len(children), type(e).__name__)
for pid in children:
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
"""


def _server_cgroup(user):
    """The cgroup the kernel has ``user``'s server in (cnn1d_spawner's ServerCgroup)."""
    sys.path.insert(0, str(HUB))
    try:
        from cnn1d_spawner import ServerCgroup
    finally:
        sys.path.remove(str(HUB))
    folders = _cgroup_folders(_server_pid(user))
    assert all(f.name.startswith("cnn1d-hub-") for f in folders.values()), folders
    return ServerCgroup(0, 0, 0, folders={k: str(v) for k, v in folders.items()})


def test_a_student_server_is_held_to_its_memory_and_cpu_limits(term):
    hub = term
    cgroup = _server_cgroup(ADA)
    assert cgroup.memory_events()["limit"] == MEM_LIMIT_MB << 20

    # memory: twice the limit in the student's kernel; the kernel is killed, the server lives
    out, states = asyncio.run(_execute(hub, ADA, HOG))
    assert "allocated" not in out and {"restarting", "dead"} & set(states), (out, states)
    memory = cgroup.memory_events()
    assert memory["oom_kills"] >= 1 and memory["max_usage"] <= memory["limit"], memory
    assert hub.request("GET", f"/user/{ADA}/api/status")[0] == 200
    # the same code as the same user, outside the hub's cgroup, gets all it asks for
    free = subprocess.run(["su", ADA, "-c", f"{USER_ENV / 'bin' / 'python'} -c '{HOG}'"],
                          capture_output=True, text=True, timeout=120)
    assert free.returncode == 0 and f"allocated {2 * MEM_LIMIT_MB}" in free.stdout, free

    # the student cannot leave her cgroup nor raise its limits
    out, _ = asyncio.run(_execute(hub, ADA, ESCAPE))
    assert "escaped []" in out, out
    assert _server_cgroup(ADA).folders == cgroup.folders
    assert cgroup.memory_events()["limit"] == MEM_LIMIT_MB << 20

    # a fork flood stops at the cgroup's process cap (CgroupSpawner.max_pids, 512)
    out, _ = asyncio.run(_execute(hub, ADA, FORK_FLOOD))
    match = re.search(r"stopped at (\d+) BlockingIOError", out)
    assert match and int(match.group(1)) < 512, out

    # CPU: two busy processes for 4 s get at most the quota, throttled by the kernel.
    # On a machine other jobs keep busy, the group's fair share may be below its quota;
    # a large weight lets the demand reach the quota, which must then hold.
    cgroup.favour()
    before, used = cgroup.cpu_throttling(), cgroup.cpu_seconds()
    start = time.monotonic()
    out, _ = asyncio.run(_execute(hub, ADA, (
        "import multiprocessing as mp, time\n"
        "def spin():\n    end = time.time() + 4\n    while time.time() < end: pass\n"
        "ps = [mp.Process(target=spin) for _ in range(2)]\n"
        "[p.start() for p in ps]; [p.join() for p in ps]; print('spun')\n")))
    wall = time.monotonic() - start
    assert "spun" in out, out
    cpu, after = cgroup.cpu_seconds() - used, cgroup.cpu_throttling()
    assert after["nr_throttled"] > before["nr_throttled"], (before, after)
    assert cpu <= CPU_LIMIT * wall * 1.1 + 0.1, (cpu, wall)


def test_an_idle_server_is_stopped_by_the_culler(term):
    hub = term
    status, services = hub.request("GET", "/hub/api/services")
    assert status == 200 and "idle-culler" in services, services
    # bob's server has not been used since it started
    cgroup = _server_cgroup(BOB)
    deadline = time.monotonic() + IDLE_TIMEOUT + 90
    while time.monotonic() < deadline:
        status, info = hub.request("GET", f"/hub/api/users/{BOB}")
        if not (info.get("servers") or {}):
            break
        time.sleep(3)
    assert not info.get("servers"), ("the idle server was not culled", info,
                                     hub.log.read_text()[-2000:])
    time.sleep(1)
    assert not subprocess.run(["pgrep", "-u", BOB], capture_output=True).stdout
    assert not any(f.exists() for f in cgroup.folders.values()), "its cgroup is still there"


def test_a_hub_told_no_course_refuses_every_launch_and_names_the_course():
    sys.path.insert(0, str(HUB))
    try:
        from cnn1d_lti import LTI, CourseLTIAuthenticator
    finally:
        sys.path.remove(str(HUB))
    from tornado import web

    auth = CourseLTIAuthenticator(role_groups={"student": STUDENTS})
    token = {LTI + "context": {"id": "c0ffee", "title": "CNN1D"},
             LTI + "roles": [lms.LEARNER], LTI + "custom": {"login_id": "t18nobody"}}
    with pytest.raises(web.HTTPError) as refused:
        asyncio.run(auth.authenticate(None, token))
    assert refused.value.status_code == 403
    assert "CNN1D_LTI_CONTEXT_ID=c0ffee" in refused.value.log_message


def test_the_sizing_command_measures_a_student_server():
    """deploy/README.md's hub sizing command as written, stopped after Validate of
    stage 1 (CNN1D_MEASURE_QUICK=1): a server in its cgroup, measured."""
    require_hub()
    command = docblocks.block("deploy/README.md", "measure_server.py")
    out = docblocks.Shell(ROOT, dict(os.environ, CNN1D_MEASURE_QUICK="1")).run(
        command, timeout=600).stdout
    assert re.search(r"^1\. server started, idle .* CPU peak +\d+ MiB", out, re.M), out
    assert re.search(r"^2\. Validate stage 1 .* validated: every test cell passes", out,
                     re.M), out
    with pytest.raises(KeyError):
        pwd.getpwnam("cnn1dmeasure")  # its throwaway user is gone


def test_a_server_without_a_cgroup_does_not_start(monkeypatch):
    """Where no cgroup can be made (none writable), CgroupSpawner refuses to
    start the server rather than start it without limits; and without limits
    configured, too."""
    import types

    monkeypatch.syspath_prepend(str(HUB))
    import cnn1d_spawner

    user = types.SimpleNamespace(name="t18nobody", url="/user/t18nobody/", server=None)
    unlimited = cnn1d_spawner.CgroupSpawner(user=user)
    with pytest.raises(RuntimeError, match="mem_limit"):
        asyncio.run(unlimited.start())
    monkeypatch.setattr(cnn1d_spawner.isolation, "_own_cgroups", lambda: {})
    monkeypatch.setattr(cnn1d_spawner, "_own_cpu_cgroup", lambda: None)
    spawner = cnn1d_spawner.CgroupSpawner(user=user, mem_limit="1G", cpu_limit=1.0)
    with pytest.raises(RuntimeError, match="no cgroup for t18nobody's server"):
        asyncio.run(spawner.start())
    assert spawner.proc is None  # nothing was started
