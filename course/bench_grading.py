"""Grading speed: one complete submission, and a class with 1 and 2 workers.

Part of ``python -m course bench --grading`` (see course/bench.py). It grades
with the same function as CI and nbgrader (``autograder.grade.grade_path``,
each notebook's answers in a sandboxed worker process), on notebooks written
from the release:

- **one complete submission**: the reference answers of all five stages,
  graded one stage after the other, as ``python -m autograder grade`` does
  for one student; the median over repetitions, with each stage's time.
- **a class**: ``class_size`` students, each submitting every stage; the
  students cycle through the sample class of ``make demo`` (reference,
  untouched, flipped kernel, unshared dw, the cheater and the crasher, the
  last two with the reference answers outside their own stage), so the class
  has the mix of full-work and quick-to-fail notebooks a real one has.

Throughput with 2 workers is compared with 1 worker side by side: the class
is cut into rounds of STUDENTS_PER_ROUND students, and each round is graded
with 1 worker and with 2 (the order alternating), so that a change of the
machine's load hits both alike; the totals over rounds are compared. (Each
round ends with one worker idle while the other finishes its last job: a
round of a few students would measure mostly that, a class graded at once
has it once.) The grades of the two runs
must be identical (the grader is deterministic), and the bench says so.
"""

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
TARGET_SUBMISSION_S, TARGET_RATIO, TARGET_SPEEDUP = 6.0, 7.0, 1.7
STUDENTS_PER_ROUND = 5
BENCH_SECRET = "benchmark-secret"  # the grades are the reference's: any secret will do


def class_kinds():
    """The sample class's students, in order (see course/sample_class.py)."""
    from course.sample_class import STUDENTS

    return STUDENTS


def answers_of(kind, stage):
    """Answer-cell code of a student of this kind for ``stage`` (None: untouched)."""
    from course.flow import reference_answers
    from course.sample_class import CUSTOM, answers_for

    if kind in CUSTOM and CUSTOM[kind] != stage.name:
        return reference_answers(stage)  # their own trick is in one stage only
    return answers_for(kind, stage)


def write_submission(root, student, stage, answers):
    """Write ``root/submitted/<student>/<stage>/<stage>.ipynb`` from the release."""
    from course.flow import fill_answers

    nb = nbformat.read(ROOT / "release" / stage.name / stage.notebook, as_version=4)
    fill_answers(nb, answers)
    path = Path(root) / "submitted" / student / stage.name / stage.notebook
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def make_class(root, size, stages=None):
    """``size`` students, each submitting every stage; returns [[(student, path)]] per student."""
    from course.stages import STAGES

    stages = STAGES if stages is None else stages
    kinds = class_kinds()
    students = []
    for i in range(size):
        kind = kinds[i % len(kinds)]
        student = f"s{i:03d}_{kind}"
        students.append([(student, write_submission(root, student, stage, answers_of(kind, stage)))
                         for stage in stages])
    return students


def cold_import_seconds():
    """Wall time of a cold ``python -I -c "import numpy, matplotlib.pyplot"``: the
    yardstick the grading of one submission is measured against, in the same run."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-I", "-c", "import numpy, matplotlib.pyplot"], check=True,
                   env={"MPLBACKEND": "Agg", "PATH": "/usr/bin:/bin"})
    return time.perf_counter() - start


def measure_reference_costs(root, repeats=3, stages=None, write=True):
    """Wall time of grading each stage's reference notebook in a fresh sandbox
    (start included), the median of ``repeats``; written to
    autograder/reference_cost.json, from which the grader derives each
    notebook's time budget (autograder.grade.notebook_budget)."""
    import datetime
    import json
    import os
    from unittest import mock

    import autograder.grade as grade
    from course.stages import STAGES

    stages = STAGES if stages is None else stages
    seconds = {}
    # measured without a budget (the budget is derived from this measurement)
    with mock.patch.object(grade, "notebook_budget", lambda stage: (float("inf"), "")):
        for stage in stages:
            path = write_submission(Path(root) / "cost", "reference", stage,
                                    answers_of("reference", stage))
            times = []
            for _ in range(repeats):
                start = time.perf_counter()
                result = grade.grade_path("reference", path, BENCH_SECRET)
                times.append(time.perf_counter() - start)
                if result.score != result.max_score:
                    raise RuntimeError(f"the reference lost points in {stage.name}: "
                                       f"{[c.message for c in result.checks if not c.passed]}")
            seconds[stage.name] = round(statistics.median(times), 2)
    record = {"seconds": seconds, "repeats": repeats,
              "measured": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
              "load_average": round(os.getloadavg()[0], 1), "cpu_count": os.cpu_count(),
              "command": "python -m course bench --grading"}
    if write:
        grade.REFERENCE_COST.write_text(json.dumps(record, indent=1) + "\n")
    return record


def cli_grading_seconds(folder, workers, secret_file):
    """Wall time of ``python -m autograder grade FOLDER --workers N``: what a user
    waits for (the interpreter, the grader's imports, the sandboxes, the checks)."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "autograder", "grade", str(folder),
                           "--workers", str(workers), "--secret-file", str(secret_file),
                           "--json", str(Path(secret_file).with_name(f"cli-{workers}.json"))],
                          cwd=ROOT, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"python -m autograder grade exited {done.returncode}: "
                           f"{done.stderr[-2000:]}")
    return elapsed


def where_the_time_goes(root, stages=None):
    """One complete submission graded in this process, timed part by part: the
    grader's imports (a fresh interpreter), one sandbox's start (bwrap, numpy and
    matplotlib imported in it), each stage's setup and answer cells, and each
    check (stage 5's accuracy check is its training)."""
    import autograder.grade as grade
    import autograder.sandbox as sandbox
    from course.stages import STAGES

    stages = STAGES if stages is None else stages
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import autograder.__main__, autograder.grade, "
                    "autograder.parallel"], cwd=ROOT, check=True)
    parts = {"interpreter and the grader's imports": time.perf_counter() - start}
    box = grade.open_sandbox(stages[:1])
    start = time.perf_counter()
    box._launch()
    box._exchange({"op": "stage", "stage": stages[0].name}, (), 60.0)
    parts["sandbox start (bubblewrap, numpy and matplotlib imported)"] = (
        time.perf_counter() - start)
    box.close()
    timed = {}
    real_start, real_run = sandbox.Sandbox.start, grade.run_check

    def start_stage(self, stage, *args):
        t0 = time.perf_counter()
        try:
            return real_start(self, stage, *args)
        finally:
            timed[f"{stage}: sandbox, setup and answer cells"] = time.perf_counter() - t0

    def run_check(check_id, *args, **kwargs):
        t0 = time.perf_counter()
        try:
            return real_run(check_id, *args, **kwargs)
        finally:
            timed[check_id] = time.perf_counter() - t0

    from unittest import mock

    with mock.patch.object(sandbox.Sandbox, "start", start_stage), \
            mock.patch.object(grade, "run_check", run_check):
        for stage in stages:
            path = write_submission(Path(root) / "parts", "reference", stage,
                                    answers_of("reference", stage))
            grade.grade_path("reference", path, BENCH_SECRET)
    parts.update(timed)
    return {name: round(seconds, 3) for name, seconds in parts.items()}


def time_submission(root, repeats=3, stages=None):
    """Grade the reference's complete submission ``repeats`` times through the
    command line, ``python -m autograder grade FOLDER`` (a fresh interpreter,
    the grader's imports, the sandboxes, the checks: what a user waits for),
    with 2 workers and with 1 (the default: on 2 cores it too grades the
    student's two sandboxes side by side), each run next to a cold numpy +
    matplotlib import; the median run of the 2-worker timings, which the
    targets are about."""
    from course.stages import STAGES

    stages = STAGES if stages is None else stages
    for stage in stages:
        write_submission(Path(root) / "one", "reference", stage, answers_of("reference", stage))
    folder = Path(root) / "one" / "submitted" / "reference"
    secret_file = Path(root) / "bench-secret"
    secret_file.write_text(BENCH_SECRET)
    runs = []
    for _ in range(repeats):
        run = {"cold_import_s": cold_import_seconds()}
        for workers in (2, 1):
            run[f"total_{workers}w_s"] = cli_grading_seconds(folder, workers, secret_file)
            graded = json.loads(secret_file.with_name(f"cli-{workers}.json").read_text())
            lost = [f"{c['id']}: {c['message'][:300]}" for r in graded["submissions"]
                    for c in r["checks"] if not c["passed"]]
            if lost:  # the reference's grades never vary: a failure is the grader's
                raise RuntimeError(f"the reference lost points with --workers {workers}: "
                                   f"{lost}")
        graded = json.loads((secret_file.with_name("cli-1.json")).read_text())["submissions"]
        run.update(total_s=run["total_2w_s"], ratio=run["total_2w_s"] / run["cold_import_s"],
                   ratio_1w=run["total_1w_s"] / run["cold_import_s"],
                   score=sum(r["score"] for r in graded),
                   max_score=sum(r["max_score"] for r in graded))
        runs.append(run)
    runs.sort(key=lambda run: run["total_s"])
    median = dict(runs[len(runs) // 2])
    median["repeats"] = repeats
    median["all_totals_s"] = sorted(run["total_s"] for run in runs)
    median["all_ratios"] = sorted(run["ratio"] for run in runs)
    median["all_ratios_1w"] = sorted(run["ratio_1w"] for run in runs)
    median["target_s"] = TARGET_SUBMISSION_S
    median["target_ratio"] = TARGET_RATIO
    median["parts_s"] = where_the_time_goes(Path(root) / "parts", stages)
    median["stages_s"] = {}
    return median


def time_class(root, size=50, rounds=5, worker_counts=(1, 2), log=print, stages=None):
    """Grade a class of ``size`` with each worker count, interleaved round by round."""
    from autograder.parallel import grade_all

    students = make_class(Path(root) / "class", size, stages)
    rounds = max(1, min(rounds, size))
    bounds = [round(i * size / rounds) for i in range(rounds + 1)]
    totals = {n: 0.0 for n in worker_counts}
    grades = {n: {} for n in worker_counts}
    for r in range(rounds):
        jobs = [job for student in students[bounds[r]:bounds[r + 1]] for job in student]
        order = worker_counts if r % 2 == 0 else tuple(reversed(worker_counts))
        for n in order:
            start = time.perf_counter()
            results = grade_all(jobs, secret=BENCH_SECRET, workers=n, progress=False)
            elapsed = time.perf_counter() - start
            totals[n] += elapsed
            grades[n].update({(res.student, res.assignment): res.score for res in results})
            log(f"  class round {r + 1}/{rounds}: {len(jobs)} notebooks, {n} worker"
                f"{'s' * (n > 1)} {elapsed:6.1f} s")
    first, last = worker_counts[0], worker_counts[-1]
    notebooks = sum(len(student) for student in students)
    return {
        "students": size,
        "notebooks": notebooks,
        "rounds": rounds,
        "wall_s": {str(n): totals[n] for n in worker_counts},
        "notebooks_per_minute": {str(n): 60 * notebooks / totals[n] for n in worker_counts},
        "speedup": totals[first] / totals[last],
        "identical_grades": all(grades[n] == grades[first] for n in worker_counts),
        "class_score": statistics.mean(grades[first].values()) if grades[first] else 0.0,
        "target_speedup": TARGET_SPEEDUP,
    }


def run_grading(class_size=50, repeats=3, rounds=None, log=print):
    """Both grading measurements, in a scratch folder; returns the JSON part
    (``rounds``: the class's, default one per STUDENTS_PER_ROUND students)."""
    import os

    if rounds is None:
        rounds = max(2, class_size // STUDENTS_PER_ROUND)

    loads = [round(os.getloadavg()[0], 1)]
    with tempfile.TemporaryDirectory(prefix="cnn1d-grading-bench-") as tmp:
        log("grading: one complete submission (the reference, all five stages):")
        one = time_submission(tmp, repeats)
        log(f"  2 workers {one['total_s']:.1f} s = {one['ratio']:.1f}x a cold numpy + "
            f"matplotlib import ({one['cold_import_s']:.2f} s); 1 worker "
            f"{one['total_1w_s']:.1f} s = {one['ratio_1w']:.1f}x (median of {repeats}), "
            f"score {one['score']:g}/{one['max_score']:g}")
        cost = measure_reference_costs(tmp, repeats)
        log(f"  the reference's grading time per stage (each notebook's budget is 5x + 30 s): "
            f"{cost['seconds']}")
        log(f"grading: a class of {class_size}, 1 and 2 workers, interleaved in {rounds} rounds:")
        loads.append(round(os.getloadavg()[0], 1))
        whole = time_class(tmp, class_size, rounds, log=log)
        log(f"  1 worker {whole['wall_s']['1']:.0f} s, 2 workers {whole['wall_s']['2']:.0f} s: "
            f"{whole['speedup']:.2f}x; grades identical: {whole['identical_grades']}")
    return {"submission": one, "class": whole, "cpu_count": os.cpu_count(),
            "reference_cost": cost, "load_average": round(os.getloadavg()[0], 1),
            "load_averages": loads + [round(os.getloadavg()[0], 1)]}


def markdown_section(part):
    """The grading results as Markdown lines."""
    one, whole = part["submission"], part["class"]
    met_one = one["total_s"] <= one["target_s"]
    met_class = whole["speedup"] >= whole["target_speedup"]
    lines = [
        "",
        "## Grading",
        "",
        "Through the command line a user runs, `python -m autograder grade FOLDER` (a fresh "
        "interpreter, the grader's imports, a sandbox per group of stages with the same "
        "files, the checks): each notebook's answer cells run in a sandboxed worker "
        "process, the checks in the grader. Submissions are written from the release "
        "(see `course/bench_grading.py`).",
        "",
        f"**One complete submission** (the reference answers, all five stages, "
        f"`--workers 2`: stage 5 in its sandbox beside the one of stages 1-4): "
        f"**{one['total_s']:.1f} s** "
        f"(median of {one['repeats']} runs: "
        + ", ".join(f"{s:.1f}" for s in one["all_totals_s"])
        + f" s; target <= {one['target_s']:.0f} s: {'met' if met_one else 'NOT met'}), "
        f"score {one['score']:g} / {one['max_score']:g}. That is "
        f"**{one.get('ratio', float('nan')):.1f}x** a cold `python -I -c \"import numpy, "
        f"matplotlib.pyplot\"` timed just before it "
        f"({one.get('cold_import_s', float('nan')):.2f} s;"
        f" ratios of the runs: " + ", ".join(f"{r:.1f}" for r in one.get("all_ratios", []))
        + f"; target <= {one.get('target_ratio', TARGET_RATIO):g}x: "
        + ("met" if one.get("ratio", 99) <= one.get("target_ratio", TARGET_RATIO) else "NOT met")
        + ")." + (f" With `--workers 1`, the default (on {part['cpu_count']} cores one "
                  f"student's two sandboxes are graded side by side there too): "
                  f"{one['total_1w_s']:.1f} s, {one['ratio_1w']:.1f}x (ratios of the runs: "
                  + ", ".join(f"{r:.1f}" for r in one.get("all_ratios_1w", [])) + ")."
                  if "total_1w_s" in one else ""),
    ]
    if one.get("parts_s"):
        lines += [
            "",
            "Where the time goes (one run, in the bench's process: each stage in a sandbox "
            "of its own, so every stage pays a sandbox start here; the command above starts "
            "two in all):",
            "",
            "| part | seconds |",
            "|---|--:|",
        ]
        lines += [f"| {name} | {seconds:.2f} |" for name, seconds in one["parts_s"].items()]
    if one.get("stages_s"):
        lines += ["", "| stage | seconds |", "|---|--:|"]
        lines += [f"| {name} | {s:.2f} |" for name, s in one["stages_s"].items()]
    cost = part.get("reference_cost")
    if cost:
        lines += [
            "",
            "The reference's grading time per stage (a fresh sandbox each, median of "
            f"{cost['repeats']}; written to `autograder/reference_cost.json`, from which "
            "each notebook's wall-clock budget is 5x this + 30 s): "
            + ", ".join(f"{k} {v:.1f} s" for k, v in cost["seconds"].items()) + ".",
        ]
    lines += [
        "",
        f"**A class of {whole['students']}** ({whole['notebooks']} notebooks: every student "
        f"submits every stage; the students cycle through `make demo`'s sample class), graded "
        f"with 1 and with 2 worker processes in {whole['rounds']} interleaved rounds (of "
        f"{whole['students'] / whole['rounds']:g} students each) on {part['cpu_count']} CPUs:",
        "",
        "| workers | wall s | notebooks / minute |",
        "|--:|--:|--:|",
    ]
    lines += [f"| {n} | {s:.0f} | {whole['notebooks_per_minute'][n]:.1f} |"
              for n, s in whole["wall_s"].items()]
    lines += [
        "",
        f"Throughput with 2 workers: **{whole['speedup']:.2f}x** that of 1 (target >= "
        f"{whole['target_speedup']}: {'met' if met_class else 'NOT met'}); the grades of the "
        f"two runs are {'identical' if whole['identical_grades'] else 'DIFFERENT'}; mean "
        f"score {whole['class_score']:.1f} points per notebook. One worker already uses "
        "more than one core at times (a student's second sandbox imports numpy and "
        "matplotlib while the first is graded), so 2 workers gain less than 2x even on 2 "
        "free cores.",
    ]
    if part.get("load_averages"):
        start, before_class, end = part["load_averages"]
        lines += ["", f"The machine's load average (1 minute): {start} at the start of these "
                      f"measurements, {before_class} before the class, {end} at the end, on "
                      f"{part['cpu_count']} CPUs shared with other jobs. Every ratio above "
                      "compares timings taken side by side, but 2 workers are only faster "
                      "where 2 cores are free: with other jobs running, the class's ratio "
                      "falls."]
    elif part.get("load_average") is not None:
        lines += ["", f"The machine's load average at the end of these measurements: "
                      f"{part['load_average']} on {part['cpu_count']} CPUs (other jobs "
                      "running: every ratio above compares timings taken side by side)."]
    return lines
