"""Feedback within a minute: a service that grades each submission as it
arrives in nbgrader's exchange and puts provisional feedback where the
student's Assignment List fetches it.

Run by JupyterHub as a managed service under its own Linux user
(``deploy/jupyterhub/jupyterhub_config.py``; ``deploy/README.md``), or on its
own::

    python -m course.feedback_service serve --exchange /srv/nbgrader/exchange \\
        --course cnn1d --state /var/lib/cnn1d-feedback --workers 2 --per-hour 10

Every ``--poll`` seconds it lists the course's ``inbound/`` folder; a new
submission ``<student>+<assignment>+<timestamp>+<random>/`` is checked (its
folder and files must belong to that student's Linux user: the exchange lets
anyone write into anyone's folder), copied into the ledger
(``course/feedback_ledger.py``) and put in the fair queue
(``course/feedback_queue.py``). Workers grade it with the kit's grader, in
the sandbox, with the course secret (``autograder.distributed.grade_submission``,
the function the class runs use), on local processes or on a Dask cluster
(``--scheduler``); a grading that runs past ``--budget`` seconds is cut off
(local workers: the process and its sandbox are killed) and its remaining
checks fail with that reason. The feedback page
(``course/feedback_page.py``) goes to ``<exchange>/<course>/feedback/<hash>.html``,
the name nbgrader's fetch_feedback looks for, so "Fetch Feedback" in the
Assignment List brings it; the instructor's release_feedback later writes
the final feedback under the same name.

Its user must list ``inbound/`` and write ``feedback/``: on the hub it is in
the instructors' group, and ``setup.sh exchange`` gives that group both.

Other commands: ``submissions`` and ``grades`` (the instructor's view, as
JSON), ``regrade`` (grades every recorded submission again and compares).
"""

import argparse
import json
import logging
import multiprocessing
import os
import pwd
import signal
import stat
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

from course.feedback_ledger import Ledger
from course.feedback_page import graded_page, waiting_page
from course.feedback_queue import FairQueue, Job
from course.stages import STAGES, get_stage

log = logging.getLogger("cnn1d.feedback")
MAX_NOTEBOOK_BYTES = 20 << 20
STAGE_NAMES = {s.name for s in STAGES}


class ServiceError(RuntimeError):
    """The service cannot run as configured (exit 2 from the command line)."""


# --------------------------------------------------------------------------
# Reading a submission from the exchange, as an attacker may have left it
# --------------------------------------------------------------------------

def _read_owned(dir_fd, name, uid, limit):
    """Bytes of the regular file ``name`` in ``dir_fd``, owned by ``uid``; no symlinks."""
    fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dir_fd)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ValueError(f"{name} is not a regular file")
        if uid is not None and st.st_uid != uid:
            raise ValueError(f"{name} does not belong to the submitting student")
        if st.st_size > limit:
            raise ValueError(f"{name} is larger than {limit >> 20} MB")
        with os.fdopen(fd, "rb", closefd=False) as f:
            return f.read(limit + 1)
    finally:
        os.close(fd)


def read_submission(inbound, folder, check_owner=True):
    """(student, assignment, stamp, secret, notebook bytes) of one inbound folder.

    ValueError saying why a folder is refused: a name that is not nbgrader's,
    an unknown assignment, a folder or file not owned by the student it names,
    no notebook. Returns None while nbgrader is still writing it.
    """
    parts = folder.split("+")
    if len(parts) != 4:
        raise ValueError("not an nbgrader submission folder name")
    student, assignment, stamp, _ = parts
    if assignment not in STAGE_NAMES:
        raise ValueError(f"unknown assignment {assignment!r}")
    uid = None
    if check_owner:
        try:
            uid = pwd.getpwnam(student).pw_uid
        except KeyError:
            raise ValueError(f"no Linux user {student!r}") from None
    fd = os.open(os.path.join(inbound, folder), os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        if uid is not None and os.fstat(fd).st_uid != uid:
            raise ValueError(f"the folder does not belong to {student}")
        try:
            secret = _read_owned(fd, "submission_secret.txt", uid, 4096).decode().strip()
        except FileNotFoundError:
            return None                      # nbgrader writes it last
        if len(secret) < 32:
            return None
        notebook = get_stage(assignment).notebook
        names = os.listdir(fd)
        if notebook not in names:
            found = [n for n in names if n.endswith(".ipynb")]
            if len(found) != 1:
                raise ValueError(f"no {notebook} in the submission (found: "
                                 f"{', '.join(sorted(found)) or 'no notebook'})")
            notebook = found[0]
        nb_bytes = _read_owned(fd, notebook, uid, MAX_NOTEBOOK_BYTES)
        return student, assignment, stamp, secret, nb_bytes
    finally:
        os.close(fd)


def feedback_name(secret, assignment):
    """The file name nbgrader's fetch_feedback looks for (its notebook_hash)."""
    from nbgrader.utils import notebook_hash

    return notebook_hash(secret=secret, notebook_id=get_stage(assignment).notebook[:-6]) + ".html"


# --------------------------------------------------------------------------
# Workers
# --------------------------------------------------------------------------

def _grade_child(conn, cgroup, student, assignment, nb_text, secret):
    """In a worker process: grade, send ("ok", result) or ("error", text)."""
    # SIGTERM (the budget ran out) unwinds, so the sandbox is closed and killed
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if cgroup:
        cgroup.join()           # the sandbox's own cgroups are made below this one
    from autograder.distributed import grade_submission

    try:
        _, data = grade_submission(student, assignment, nb_text, secret)
        conn.send(("ok", data))
    except Exception as exc:  # noqa: BLE001 - reported to the service, which records it
        conn.send(("error", f"{type(exc).__name__}: {exc}"))


def _noop():
    pass


class LocalRunner:
    """Grades in a fresh process per submission (forked from a preloaded server),
    killed with its sandbox when it runs past the budget."""

    def __init__(self, budget, memory_mb=4096, max_pids=256):
        self.budget, self.memory_mb, self.max_pids = budget, memory_mb, max_pids
        self.ctx = multiprocessing.get_context("forkserver")
        self.ctx.set_forkserver_preload(["autograder.distributed"])
        # start the fork server now (it imports the grader once): not on the
        # first student's time
        warm = self.ctx.Process(target=_noop)
        warm.start()
        warm.join()

    def grade(self, student, assignment, nb_text, secret):
        """("ok", result dict) | ("error", text) | ("cut_off", text).

        Where the service may make cgroups (as root, or in a delegated one),
        the grading process and its sandbox run in a cgroup of their own:
        capped at ``memory_mb`` together, all killed at the end, and their
        CPU time, as the kernel counts it, is the result's ``cpu_s``.
        """
        from autograder.isolation import Cgroup

        cgroup = Cgroup(self.memory_mb, self.max_pids)
        here, there = self.ctx.Pipe(duplex=False)
        proc = self.ctx.Process(target=_grade_child,
                                args=(there, cgroup if cgroup else None, student, assignment,
                                      nb_text, secret))
        proc.start()
        there.close()
        try:
            if here.poll(self.budget):
                try:
                    outcome = here.recv()
                except EOFError:
                    return ("error", f"the grading process ended with code {proc.exitcode}")
                if outcome[0] == "ok" and cgroup:
                    outcome[1]["cpu_s"] = cgroup.cpu_seconds()
                return outcome
            return ("cut_off", f"grading took longer than the budget of {self.budget:g} s "
                               "and was stopped")
        finally:
            if proc.is_alive():
                proc.terminate()        # unwinds: the sandbox closes itself
                proc.join(2)
                if proc.is_alive():
                    proc.kill()
            proc.join()
            here.close()
            if cgroup:
                cgroup.kill_all()
                cgroup.remove()

    def close(self):
        pass


class DaskRunner:
    """Grades on a Dask cluster; past the budget the result is no longer waited
    for (the worker's grading ends by the grader's own per-check limits)."""

    def __init__(self, scheduler, budget):
        from distributed import Client

        self.budget = budget
        self.client = Client(scheduler, timeout="30s")

    def grade(self, student, assignment, nb_text, secret):
        from autograder.distributed import grade_submission

        future = self.client.submit(grade_submission, student, assignment, nb_text, secret,
                                    pure=False)
        try:
            _, data = future.result(timeout=self.budget)
            return ("ok", data)
        except TimeoutError:
            future.cancel()
            return ("cut_off", f"grading took longer than the budget of {self.budget:g} s "
                               "and was stopped")
        except Exception as exc:  # noqa: BLE001 - the cluster failed: recorded, retried later
            return ("error", f"{type(exc).__name__}: {exc}")

    def close(self):
        self.client.close()


def cut_off_result(assignment, reason, partial=None):
    """Every check failed with ``reason`` (the cut-off grading's result)."""
    stage = get_stage(assignment)
    checks = [{"id": f"{stage.name}.{c.name}", "points": 0.0, "max_points": c.points,
               "passed": False, "message": reason} for c in stage.checks]
    return {"student": "", "assignment": stage.name, "path": "", "score": 0.0,
            "max_score": stage.max_score, "checks": checks, **(partial or {})}


# --------------------------------------------------------------------------
# The service
# --------------------------------------------------------------------------

class FeedbackService:
    """Watches ``exchange/course/inbound``, grades, writes feedback, keeps the ledger.

    Parameters
    ----------
    exchange, course : str
        nbgrader's exchange root and the course id.
    ledger : Ledger
    runner : LocalRunner or DaskRunner
    secret : str
        The course secret (seeds of the hidden inputs).
    workers : int
        Submissions graded at once.
    per_hour : int
        Gradings a student may start per hour (0: no limit).
    poll : float
        Seconds between two listings of inbound/.
    due : dict of str to float
        Due date of an assignment, seconds since the epoch (shown on the page).
    check_owner : bool
        Refuse folders and files not owned by the student they name (the
        default; off only where the submissions are not written by Linux users).
    """

    def __init__(self, exchange, course, ledger, runner, secret, workers=2, per_hour=10,
                 poll=1.0, due=None, check_owner=True, clock=time.monotonic):
        if not secret:
            raise ServiceError("no course secret: set CNN1D_GRADER_SECRET (the hub passes the "
                               "secret file's content) or pass --secret-file")
        if workers < 1:
            raise ServiceError(f"--workers must be 1 or more, got {workers}")
        self.course_dir = Path(exchange) / course
        self.inbound = self.course_dir / "inbound"
        self.feedback = self.course_dir / "feedback"
        self.ledger, self.runner, self.secret = ledger, runner, secret
        self.workers, self.per_hour, self.poll = workers, per_hour, poll
        self.due, self.check_owner = dict(due or {}), check_owner
        self.queue = FairQueue(per_hour, clock=clock)
        self.cond = threading.Condition()
        self.stopping = threading.Event()
        self.threads = []
        self.problem = ""            # why inbound/ cannot be read, shown on the status page
        self.refused = set()

    # ------------------------------------------------------------ scanning
    def scan(self):
        """Take in every new submission; returns how many were new."""
        try:
            names = sorted(os.listdir(self.inbound))
        except FileNotFoundError:
            self.problem = f"{self.inbound} does not exist yet (no assignment released)"
            return 0
        except PermissionError:
            said = self.problem
            self.problem = (f"the service's user cannot list {self.inbound}: it must be in "
                            "the instructors' group and the exchange laid out by "
                            "`bash deploy/jupyterhub/setup.sh exchange` (deploy/README.md)")
            if self.problem != said:
                log.error(self.problem)
            return 0
        self.problem = ""
        new = 0
        for name in names:
            if name in self.refused or self.ledger.known(name):
                continue
            try:
                got = read_submission(self.inbound, name, self.check_owner)
            except (ValueError, OSError) as exc:
                log.warning("refused %s: %s", name, exc)
                self.refused.add(name)
                continue
            if got is None:
                continue                     # still being written
            student, assignment, stamp, secret, nb_bytes = got
            sid = self.ledger.add(student, assignment, name, stamp, nb_bytes,
                                  feedback=feedback_name(secret, assignment))
            with self.cond:
                old = self.queue.offer(Job(student, assignment, sid))
                if old is not None:
                    self.ledger.set_status(old.submission_id, "replaced",
                                           f"replaced by submission {sid} before grading")
                held = self.queue.deferred().get((student, assignment))
                self.cond.notify_all()
            if held is not None:
                self._deferred(sid, held)
            new += 1
        return new

    def _deferred(self, sid, held):
        start_at = time.time() + (held - self.queue.clock())
        self.ledger.set_status(sid, "deferred", f"rate limit: graded from {start_at:.0f}")
        row = self.ledger.get(sid)
        self._write_feedback(sid, waiting_page(row, start_at, self.per_hour,
                                               self.due.get(row["assignment"])))

    # ------------------------------------------------------------ grading
    def _next_job(self):
        with self.cond:
            while not self.stopping.is_set():
                job = self.queue.take()
                if job is not None:
                    return job
                held = self.queue.deferred().values()
                wait = min([h - self.queue.clock() for h in held] + [self.poll])
                self.cond.wait(max(0.05, wait))
        return None

    def grade_one(self, job):
        sid = job.submission_id
        self.ledger.set_status(sid, "grading", "")
        nb_text = self.ledger.notebook_path(sid).read_text(encoding="utf-8", errors="replace")
        t0 = time.perf_counter()
        outcome, data = self.runner.grade(job.student, job.assignment, nb_text, self.secret)
        seconds = time.perf_counter() - t0
        if outcome == "ok":
            self.ledger.record_result(sid, data, seconds)
        elif outcome == "cut_off":
            self.ledger.record_result(sid, cut_off_result(job.assignment, data), seconds,
                                      status="cut_off", note=data)
        else:
            log.error("grading submission %d of %s failed: %s", sid, job.student, data)
            self.ledger.set_status(sid, "error", data)
            return
        row = self.ledger.get(sid)
        self._write_feedback(sid, graded_page(row, self.due.get(job.assignment)))

    def _write_feedback(self, sid, html):
        row = self.ledger.get(sid)
        target = self.feedback / row["feedback"]
        tmp = target.with_name(f".{target.name}.tmp")
        try:
            tmp.write_text(html, encoding="utf-8")
            os.chmod(tmp, 0o644)
            os.replace(tmp, target)
        except OSError as exc:
            log.error("feedback for submission %d could not be written to %s: %s", sid,
                      self.feedback, exc)
            self.ledger.set_status(sid, row["status"], f"feedback not written: {exc}")

    def _work(self):
        while True:
            job = self._next_job()
            if job is None:
                return
            try:
                self.grade_one(job)
            except Exception:  # noqa: BLE001 - one submission never stops the service
                log.exception("submission %d of %s", job.submission_id, job.student)
                self.ledger.set_status(job.submission_id, "error", "the service failed; "
                                       "see its log")
            finally:
                with self.cond:
                    self.queue.done(job)
                    self.cond.notify_all()

    def _watch(self):
        while not self.stopping.is_set():
            try:
                self.scan()
            except Exception:  # noqa: BLE001 - logged; the next poll tries again
                log.exception("scanning %s", self.inbound)
            self.stopping.wait(self.poll)

    def resume(self):
        """Queue again what a stopped service left waiting or half graded."""
        for row in self.ledger.rows():
            if row["status"] in ("queued", "deferred", "grading"):
                with self.cond:
                    old = self.queue.offer(Job(row["student"], row["assignment"], row["id"]))
                    if old is not None:
                        self.ledger.set_status(old.submission_id, "replaced",
                                               f"replaced by submission {row['id']}")

    def start(self):
        self.resume()
        self.threads = [threading.Thread(target=self._watch, name="watch", daemon=True)]
        self.threads += [threading.Thread(target=self._work, name=f"worker-{i}", daemon=True)
                         for i in range(self.workers)]
        for t in self.threads:
            t.start()

    def stop(self):
        self.stopping.set()
        with self.cond:
            self.cond.notify_all()
        for t in self.threads:
            t.join(60)

    def status(self):
        with self.cond:
            return {"queued": len(self.queue), "grading": sorted(self.queue.busy),
                    "deferred": len(self.queue.deferred()), "problem": self.problem}


# --------------------------------------------------------------------------
# Instructor's commands on the ledger
# --------------------------------------------------------------------------

def final_grades(ledger, assignment, due=None, per_day=0.1):
    """{student: {...}} final automatic grade: the submission nbgrader's
    ``collect --before-duedate`` would take, with the course's late penalty."""
    from course.lms import LatePenalty

    penalty = LatePenalty(per_day=per_day)
    penalty.log.setLevel(logging.ERROR)
    out = {}
    for student, row in ledger.final(assignment, due).items():
        score = row["score"]
        late = row["late_seconds"]
        off = penalty.late_submission_penalty(student, score, late) if late and score else 0.0
        out[student] = {"submission": row["id"], "received": row["received"],
                        "status": row["status"], "score": score, "max_score": row["max_score"],
                        "late_seconds": late, "penalty": off,
                        "final": None if score is None else max(0.0, score - off)}
    return out


def regrade(ledger, runner, secret, assignment=None):
    """Grade every graded submission again; [(id, student, old, new)] that differ."""
    differ = []
    for row in ledger.rows(assignment):
        if row["status"] != "graded":
            continue
        nb_text = ledger.notebook_path(row["id"]).read_text(encoding="utf-8", errors="replace")
        outcome, data = runner.grade(row["student"], row["assignment"], nb_text, secret)
        old = [(c["id"], c["points"]) for c in row["checks"]]
        new = [(c["id"], c["points"]) for c in data["checks"]] if outcome == "ok" else outcome
        if old != new:
            differ.append((row["id"], row["student"], row["score"],
                           data["score"] if outcome == "ok" else outcome))
    return differ


def parse_due(items):
    """{assignment: seconds} from ["single_channel=2026-12-08T17:00:00+00:00", ...]."""
    out = {}
    for item in items or ():
        name, sep, when = item.partition("=")
        if not sep or name not in STAGE_NAMES:
            raise ServiceError(f"--due {item!r}: expected ASSIGNMENT=DATE with one of "
                               f"{', '.join(sorted(STAGE_NAMES))}")
        try:
            moment = datetime.fromisoformat(when)
        except ValueError:
            raise ServiceError(f"--due {item!r}: {when!r} is not an ISO date "
                               "(2026-12-08T17:00:00+00:00)") from None
        if moment.tzinfo is None:
            raise ServiceError(f"--due {item!r}: give the time zone (e.g. +00:00)")
        out[name] = moment.timestamp()
    return out


def _runner(args):
    if args.scheduler:
        return DaskRunner(args.scheduler, args.budget)
    return LocalRunner(args.budget)


def _secret(args):
    from autograder.grade import read_secret

    try:
        return read_secret(args.secret_file)
    except (OSError, ValueError) as exc:
        raise ServiceError(f"--secret-file: {exc}") from None


def serve(args):
    """Run the service until SIGTERM; the instructor's pages when under the hub."""
    import asyncio

    from tornado.httpserver import HTTPServer

    from course.feedback_web import make_app

    # the runner is made once the pages answer: the hub waits for them, and
    # starting the workers' fork server (importing the grader) takes seconds
    service = FeedbackService(args.exchange, args.course, Ledger(args.state), None,
                              _secret(args), workers=args.workers, per_hour=args.per_hour,
                              poll=args.poll, due=parse_due(args.due))
    if args.max_processes:
        # the processes and threads the service's user may have at once: a cap
        # the kernel holds on the service and everything it starts
        import resource

        resource.setrlimit(resource.RLIMIT_NPROC, (args.max_processes, args.max_processes))
    url = os.environ.get("JUPYTERHUB_SERVICE_URL")

    async def run():
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        server = None
        if url:
            from urllib.parse import urlparse

            where = urlparse(url)
            prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/")
            server = HTTPServer(make_app(service, args.course, prefix))
            server.listen(where.port, where.hostname)
        service.runner = await loop.run_in_executor(None, _runner, args)
        service.start()
        log.info("grading submissions of %s from %s with %d workers, %s a student per hour",
                 args.course, service.inbound, args.workers, args.per_hour or "no limit")
        await stop.wait()
        if server:
            server.stop()
        await loop.run_in_executor(None, service.stop)

    asyncio.run(run())


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m course.feedback_service",
                                     description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    state = {"required": True, "help": "the service's own folder (ledger, notebooks)"}

    p = sub.add_parser("serve", help="grade submissions as they arrive")
    p.add_argument("--exchange", required=True, help="nbgrader's exchange root")
    p.add_argument("--course", required=True, help="the course id")
    p.add_argument("--state", **state)
    p.add_argument("--secret-file", help="the course secret (else $CNN1D_GRADER_SECRET)")
    p.add_argument("--workers", type=int, default=2, help="submissions graded at once")
    p.add_argument("--scheduler", help="a Dask scheduler address (else local processes)")
    p.add_argument("--per-hour", type=int, default=10,
                   help="gradings a student may start per hour (0: no limit)")
    p.add_argument("--budget", type=float, default=30.0,
                   help="seconds one grading may take before it is cut off")
    p.add_argument("--poll", type=float, default=1.0, help="seconds between two looks")
    p.add_argument("--max-processes", type=int, default=512,
                   help="processes the service's user may have (RLIMIT_NPROC; 0: unchanged)")
    p.add_argument("--due", action="append", metavar="ASSIGNMENT=DATE",
                   help="a due date, shown on the feedback (ISO, with time zone)")

    p = sub.add_parser("submissions", help="every recorded submission, as JSON")
    p.add_argument("--state", **state)
    p.add_argument("--assignment")

    p = sub.add_parser("grades", help="final automatic grades of an assignment, as JSON")
    p.add_argument("assignment")
    p.add_argument("--state", **state)
    p.add_argument("--due", action="append", metavar="ASSIGNMENT=DATE")
    p.add_argument("--per-day", type=float, default=0.1, help="the late penalty per day")

    p = sub.add_parser("regrade", help="grade every recorded submission again and compare")
    p.add_argument("--state", **state)
    p.add_argument("--assignment")
    p.add_argument("--secret-file")
    p.add_argument("--scheduler")
    p.add_argument("--budget", type=float, default=300.0)

    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        if args.command == "serve":
            serve(args)
        elif args.command == "submissions":
            print(json.dumps(Ledger(args.state).rows(args.assignment), indent=1))
        elif args.command == "grades":
            due = parse_due(args.due).get(args.assignment)
            print(json.dumps(final_grades(Ledger(args.state), args.assignment, due,
                                          args.per_day), indent=1, sort_keys=True))
        elif args.command == "regrade":
            ledger = Ledger(args.state)
            differ = regrade(ledger, _runner(args), _secret(args) or _no_secret(),
                             args.assignment)
            graded = sum(r["status"] == "graded" for r in ledger.rows(args.assignment))
            for sid, student, old, new in differ:
                print(f"submission {sid} of {student}: {old} then, {new} now")
            print(f"{graded - len(differ)} of {graded} graded submissions regraded to the "
                  "same points")
            return 1 if differ else 0
    except ServiceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def _no_secret():
    raise ServiceError("no course secret: set CNN1D_GRADER_SECRET or pass --secret-file")


if __name__ == "__main__":
    sys.exit(main())
