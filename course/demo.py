"""``python -m course demo``: grade the sample class through nbgrader and print
the grade table. Everything happens in a course folder of its own (default
runs/demo/), so the repository's gradebook and folders are left alone.
"""

import functools
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from course import flow
from course.sample_class import BUGS, CUSTOM, STUDENTS, answers_for
from course.stages import STAGES


def submissions():
    """(student, stage) pairs of the sample class: the reference and the
    untouched release submit every stage, a buggy student the stages of its bugs."""
    for student in STUDENTS:
        for stage in STAGES:
            if (student in ("reference", "untouched") or stage.name in BUGS.get(student, {})
                    or CUSTOM.get(student) == stage.name):
                yield student, stage


def run_demo(workdir="runs/demo", stages=STAGES, log=None):
    """Release, submit the sample class, grade; returns {(student, stage): (score, max)}.

    ``log`` receives the progress lines (default: printed at once, even to a file).
    """
    log = log or functools.partial(print, flush=True)
    workdir = Path(workdir).resolve()
    t0 = time.perf_counter()
    course, exchange = flow.make_course(workdir, stages)
    log(f"course folder {course}")
    flow.release(course, exchange, stages)
    log(f"released {', '.join(s.name for s in stages)}")
    names = {s.name for s in stages}
    todo = [(student, stage) for student, stage in submissions() if stage.name in names]
    # two at a time: each is two nbgrader commands, mostly Python starting up
    with ThreadPoolExecutor(max_workers=2) as pool:
        jobs = {pool.submit(flow.submit, student, workdir, exchange, stage,
                            answers_for(student, stage)): (student, stage)
                for student, stage in todo}
        for i, job in enumerate(as_completed(jobs), 1):
            job.result()
            student, stage = jobs[job]
            log(f"  submitted {i}/{len(todo)}: {student}, {stage.name}")
    log(f"submitted the sample class ({time.perf_counter() - t0:.0f} s); grading (nbgrader "
        "collect, autograde, generate_feedback, export; the course secret is the demo's, "
        "flow.DEMO_SECRET)...")
    grades = flow.grade(course, exchange, stages, log=log)
    log(f"graded in {time.perf_counter() - t0:.0f} s")
    return grades, course


def format_table(grades, stages=STAGES):
    """A Markdown grade table: one row per student, one column per stage.

    Each cell is the points of the checks over the checks' maximum: the
    written answers wait for a person in formgrader (nbgrader's maximum counts
    them), so the table leaves them out and says so below it."""
    students = sorted({s for s, _ in grades}, key=lambda s: (STUDENTS.index(s)
                                                             if s in STUDENTS else 99, s))
    header = "| student | " + " | ".join(s.name for s in stages) + " | total |"
    lines = [header, "|" + "---|" * (len(stages) + 2)]
    for student in students:
        cells, total, total_max = [], 0.0, 0.0
        for stage in stages:
            if (student, stage.name) in grades:
                score, _ = grades[student, stage.name]
                cells.append(f"{score:g} / {stage.max_score:g}")
                total, total_max = total + score, total_max + stage.max_score
            else:
                cells.append("—")
        lines.append(f"| {student} | " + " | ".join(cells) + f" | {total:g} / {total_max:g} |")
    written = sum(s.written_points for s in stages)
    if written:
        lines.append(f"\nPoints of the checks only: the written answers ({written:g} points "
                     "in all) are graded by hand in formgrader and are not counted here.")
    return "\n".join(lines)
