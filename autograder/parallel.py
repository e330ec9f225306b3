"""Grade many submissions, in parallel processes, with a progress bar.

A student's notebooks whose stages release the same files (stages 1-4) share
one sandbox (numpy and matplotlib are imported once), stage 5 has one of its
own; each notebook runs in a process of its own and each check in a process
of its own inside it. Different students never share a sandbox. With one
worker, a job is a student (the second sandbox starts while the first is
graded); with more, a job is one sandbox's notebooks, handed out longest
first so that the workers finish together (see _pooled).
"""

import contextlib
import os
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

from .grade import GraderError, failed_result, grade_student
from .isolation import IsolationError


def _jobs(submissions):
    """[(student, [(index, path), ...])] in first-seen order of the students."""
    by_student = {}
    for index, (student, path) in enumerate(submissions):
        by_student.setdefault(student, []).append((index, path))
    return list(by_student.items())


def _sandbox_jobs(by_student):
    """Each student's job cut into one job per sandbox (autograder.grade's
    asset_groups), the longest first: every student's stage-5 group, then the
    rest, each in the students' order."""
    from .grade import asset_groups

    ranked = []
    for student, items in by_student:
        left = list(items)
        for rank, group in enumerate(asset_groups([path for _, path in items])):
            taken = [left.pop(next(i for i, (_, p) in enumerate(left) if p is path))
                     for path in group]
            ranked.append((rank, student, taken))
    ranked.sort(key=lambda job: job[0])  # stable: the students' order within a rank
    return [(student, items) for _, student, items in ranked]


def _one(job):
    student, items, secret, sandbox, split = job
    paths = [p for _, p in items]
    try:
        results = grade_student(student, paths, secret, sandbox, split)
    except (GraderError, IsolationError):
        raise  # the grader's own failure: exit 1 for the run, said once
    except Exception as exc:  # noqa: BLE001 - never lose the rest of the class
        results = [failed_result(student, path, f"the grader could not grade this notebook "
                                 f"({type(exc).__name__}: {exc}); ask your instructor")
                   for path in paths]
    return list(zip([i for i, _ in items], results, strict=True))


def _say_limits(sandbox, path, students):
    """Say on stderr which barrier and limits hold; loudly when processes are not
    bounded in a class run (one student's fork flood could then reach others)."""
    import os
    import sys

    from .grade import _hidden_paths
    from .isolation import choose_barrier, describe_limits, limits_line

    barrier = choose_barrier(sandbox or os.environ.get("CNN1D_SANDBOX", "auto"),
                             _hidden_paths(path))
    print(f"grader: {limits_line(barrier)}", file=sys.stderr)
    if students > 1 and describe_limits(barrier)["processes"] is None:
        print("grader: WARNING: nothing bounds the number of processes of a submission here "
              "(a grader that is root but cannot make a cgroup, or no sandbox): one student's "
              "fork flood can slow down or stop the grading of the others. Grade as root "
              "with a writable cgroup (/sys/fs/cgroup), or as a normal user (bubblewrap then "
              "caps the processes of each sandbox)", file=sys.stderr)


def grade_all(submissions, secret=None, workers=1, progress=True, sandbox=None):
    """Results in the order of ``submissions`` ([(student, notebook path)]).

    GraderError (exit 1) only for the grader's own failures (no secret, no
    sandbox, a setup cell of the kit that fails); whatever a submission does
    costs that submission's checks and never another's.
    """
    from tqdm.auto import tqdm

    if not secret:
        from .grade import NO_SECRET

        raise GraderError(NO_SECRET)
    by_student = _jobs(submissions)
    if submissions:
        _say_limits(sandbox, submissions[0][1], len(by_student))
    # more workers than students (one student's push in CI), or one student on a
    # machine with two cores: stage 5's sandbox is graded beside the other one's
    split = 2 if workers > len(by_student) or (
        len(by_student) == 1 and (os.cpu_count() or 1) >= 2) else 1
    if workers > 1 and len(by_student) > 1:
        by_student = _sandbox_jobs(by_student)
    jobs = [(student, items, secret, sandbox, split) for student, items in by_student]
    bar = tqdm(total=len(submissions), desc="grading", unit="notebook", disable=not progress)
    results = [None] * len(submissions)
    try:
        if workers == 1 or len(jobs) == 1:
            for job in jobs:
                for index, result in _one(job):
                    results[index] = result
                    bar.update()
        else:
            for index, result in _pooled(jobs, workers):
                results[index] = result
                bar.update()
    finally:
        bar.close()
    return results


_SETTINGS = contextlib.ExitStack()


def _worker_setup():
    """In each worker process: OpenBLAS on one thread. The grader's own arrays are
    small, and the threads OpenBLAS keeps spinning after each call would take
    the cores the other workers' sandboxes need."""
    from .checks.mini_batch import _single_threaded_blas

    _SETTINGS.enter_context(_single_threaded_blas())


def _pooled(jobs, workers):
    """(index, result) of every job, graded in ``workers`` processes, each job
    handed out when a worker is free: first each student's first job (stage 5's,
    the longest), in order; then the others, the student whose first job took
    longest first (a student who did little has quick notebooks: those go last,
    so that the workers finish together)."""
    first = {}
    for i, (student, *_) in enumerate(jobs):
        first.setdefault(student, i)
    pending, took, running = list(range(len(jobs))), {}, {}

    def take():
        firsts = [i for i in pending if first[jobs[i][0]] == i]
        i = firsts[0] if firsts else max(
            pending, key=lambda i: took.get(jobs[i][0], float("inf")))
        pending.remove(i)
        return i

    with ProcessPoolExecutor(max_workers=workers, initializer=_worker_setup) as pool:
        while pending or running:
            while pending and len(running) < workers:
                i = take()
                running[pool.submit(_one, jobs[i])] = (i, time.monotonic())
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                i, started = running.pop(future)
                if first[jobs[i][0]] == i:
                    took[jobs[i][0]] = time.monotonic() - started
                yield from future.result()
