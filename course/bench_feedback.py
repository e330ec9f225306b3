"""Time to feedback under a burst: ``make bench-feedback``
(``python -m course.bench_feedback``).

A burst of ``--size`` submissions of stage 1 (default 300, one per student,
the students cycling through the sample class of ``make demo``: reference,
untouched, flipped kernel, unshared dw, cheater, crasher) lands in an
exchange's ``inbound/`` at once; the feedback service
(``course/feedback_service.py``: the fair queue, ``--workers`` local workers,
the sandboxed grader, the feedback pages) grades them. Measured, per
submission: the time from its arrival to its feedback page in the exchange
(what "Fetch Feedback" brings); printed: the median, the 95th percentile, the
throughput and the grading time per submission on a worker.

Sizing: the measured grading times, replayed in a simulation of the queue
(first checked against the burst just measured, same workers), give the
number of workers that keeps the 95th percentile under a minute for
``--students`` students submitting in the last hour before a deadline
(``--per-student`` submissions each, arrivals growing linearly towards the
deadline), and for all of them submitting in the same second.
"""

import argparse
import heapq
import json
import os
import random
import secrets
import statistics
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
COURSE = "cnn1d"
SECRET = "benchmark-secret"
TARGET_P95_S = 60.0


def percentile(values, q):
    """The q-quantile (0..1) by linear interpolation."""
    values = sorted(values)
    if not values:
        raise ValueError("no values")
    pos = (len(values) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (pos - lo)


def write_burst(exchange, size):
    """``size`` inbound folders as nbgrader submit writes them; returns {folder: secret}."""
    from course.bench_grading import answers_of, class_kinds
    from course.flow import fill_answers
    from course.stages import get_stage

    stage = get_stage("single_channel")
    release = nbformat.read(ROOT / "release" / stage.name / stage.notebook, as_version=4)
    kinds = class_kinds()
    texts = {}
    for kind in kinds:
        nb = nbformat.from_dict(json.loads(json.dumps(release)))
        texts[kind] = nbformat.writes(fill_answers(nb, answers_of(kind, stage)))
    inbound = Path(exchange) / COURSE / "inbound"
    staging = Path(exchange) / "staging"
    inbound.mkdir(parents=True)
    (Path(exchange) / COURSE / "feedback").mkdir()
    staging.mkdir()
    folders = {}
    for i in range(size):
        kind = kinds[i % len(kinds)]
        name = f"s{i:04d}_{kind}+{stage.name}+2026-12-07 10:00:00.{i:06d} UTC+{i:08x}"
        folder = staging / name
        folder.mkdir()
        (folder / stage.notebook).write_text(texts[kind])
        (folder / "timestamp.txt").write_text(name.split("+")[2])
        folders[name] = secrets.token_hex(64)
        (folder / "submission_secret.txt").write_text(folders[name])
    return staging, inbound, folders


def run_burst(size, workers, poll=0.2):
    """Grade a burst with the service; returns the measurements."""
    from course.feedback_ledger import Ledger
    from course.feedback_service import FeedbackService, LocalRunner, feedback_name

    with tempfile.TemporaryDirectory(prefix="cnn1d-bench-feedback-") as tmp:
        exchange = Path(tmp) / "exchange"
        staging, inbound, folders = write_burst(exchange, size)
        service = FeedbackService(exchange, COURSE, Ledger(Path(tmp) / "state"),
                                  LocalRunner(budget=120), SECRET, workers=workers,
                                  per_hour=0, poll=poll, check_owner=False)
        pages = {name: exchange / COURSE / "feedback" / feedback_name(secret, "single_channel")
                 for name, secret in folders.items()}
        service.start()
        try:
            t0 = time.time()
            for name in folders:                      # the burst: every folder at once
                (staging / name).rename(inbound / name)
            arrived = time.time()
            done = {}
            while len(done) < size:
                for name, page in pages.items():
                    if name not in done and page.exists():
                        done[name] = page.stat().st_mtime
                time.sleep(0.2)
            wall = max(done.values()) - t0
        finally:
            service.stop()
        rows = service.ledger.rows()
    latency = [done[name] - t0 for name in folders]
    return {"size": size, "workers": workers, "rename_s": arrived - t0,
            "median_s": statistics.median(latency), "p95_s": percentile(latency, 0.95),
            "max_s": max(latency), "wall_s": wall, "per_min": size / wall * 60,
            "grading_s": [r["seconds"] for r in rows],
            "cpu_s": [r["cpu"] for r in rows if r["cpu"] is not None],
            "statuses": sorted({r["status"] for r in rows})}


def simulate(arrivals, service_times, workers, rng):
    """Times to feedback of jobs arriving at ``arrivals`` (sorted seconds), each
    taking a grading time drawn from ``service_times``, on ``workers`` workers
    served in arrival order."""
    free = [0.0] * workers
    heapq.heapify(free)
    out = []
    for t in arrivals:
        start = max(t, heapq.heappop(free))
        end = start + rng.choice(service_times)
        heapq.heappush(free, end)
        out.append(end - t)
    return out


def last_hour(students, per_student, rng):
    """Arrival times in the last hour, density growing linearly to the deadline."""
    return sorted(3600 * (rng.random() ** 0.5) for _ in range(students * per_student))


def sizing(service_times, students, per_student, seed=0):
    """{"last_hour": workers, "all_at_once": workers} keeping p95 under a minute."""
    rng = random.Random(seed)
    out = {}
    for label, arrivals in (("last_hour", last_hour(students, per_student, rng)),
                            ("all_at_once", [0.0] * students)):
        for n in range(1, 4096):
            p95 = percentile(simulate(arrivals, service_times, n, rng), 0.95)
            if p95 < TARGET_P95_S:
                out[label] = {"workers": n, "p95_s": p95}
                break
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m course.bench_feedback",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=300, help="submissions in the burst")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--students", type=int, default=300)
    parser.add_argument("--per-student", type=int, default=3,
                        help="submissions of each student in the last hour")
    parser.add_argument("--json", help="write the measurements here too")
    args = parser.parse_args(argv)

    print(f"burst of {args.size} submissions of stage 1, {args.workers} workers ...",
          flush=True)
    load = [Path("/proc/loadavg").read_text().split()[0]]
    burst = run_burst(args.size, args.workers)
    load.append(Path("/proc/loadavg").read_text().split()[0])
    burst["load_before_after"] = load
    print(f"machine: {os.cpu_count()} cores, load average {load[0]} before, {load[1]} after")
    times = burst["grading_s"]
    print(f"time to feedback: median {burst['median_s']:.1f} s, 95th percentile "
          f"{burst['p95_s']:.1f} s, last {burst['max_s']:.1f} s")
    print(f"throughput: {burst['per_min']:.1f} submissions a minute "
          f"({burst['wall_s']:.0f} s for {args.size})")
    print(f"grading time per submission on a worker: median {statistics.median(times):.2f} s,"
          f" 95th percentile {percentile(times, 0.95):.2f} s")
    rng = random.Random(1)
    replay = percentile(simulate([0.0] * args.size, times, args.workers, rng), 0.95)
    print(f"the queue model on the same burst: 95th percentile {replay:.1f} s "
          f"(measured {burst['p95_s']:.1f} s)")
    cpu = burst["cpu_s"]
    print(f"CPU time per submission (grader and sandbox): median {statistics.median(cpu):.2f} s,"
          f" 95th percentile {percentile(cpu, 0.95):.2f} s")
    sized = {}
    for label, service in (("as measured here (this machine's load)", times),
                           ("on cores of their own (the CPU times)", cpu)):
        sized[label] = found = sizing(service, args.students, args.per_student)
        hour, once = found["last_hour"], found["all_at_once"]
        print(f"sizing for a 95th percentile under {TARGET_P95_S:.0f} s, {args.students} "
              f"students, grading times {label}:")
        print(f"  {args.per_student} submissions each in the last hour (arrivals growing to "
              f"the deadline): {hour['workers']} workers (p95 {hour['p95_s']:.1f} s)")
        print(f"  all {args.students} in the same second: {once['workers']} workers "
              f"(p95 {once['p95_s']:.1f} s)")
    if args.json:
        Path(args.json).write_text(json.dumps({"burst": burst, "replay_p95_s": replay,
                                               "sizing": sized,
                                               "students": args.students,
                                               "per_student": args.per_student}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
