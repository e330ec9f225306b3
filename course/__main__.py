"""The instructor's command line: ``python -m course COMMAND``.

Commands
--------
train   Train the reference classifier on a course dataset (progress bar,
        test accuracy, metrics JSON and learning-curve PNG).
build   Write the solution cells from solutions/, copy the student helpers
        and regenerate release/ with nbgrader (--check: only report drift).
demo    Grade the sample class (reference, untouched release, buggy
        students) through nbgrader and print the grade table.
experiment
        Stage 5's table: logistic regression, MLP and CNN on MNIST-1D
        (paper's recipe and ours), shuffled MNIST-1D and MNIST-784, over
        seeds; writes course/data/experiment.json and docs/experiment.md.
new-check
        Scaffold a graded check: its course/stages.py entry, a failing
        check stub, a test cell in the source notebook and a test file
        with a mutant (docs/authoring.md).
bench   Time the reference Conv1d and MaxPool1d against PyTorch on the CPU
        (--training: also train the presets with both; --grading: time
        grading a submission and a class with 1 and 2 workers); writes
        docs/benchmark.md and docs/benchmark.png.
grade   Grade a whole nbgrader assignment in parallel (local processes, or
        a Dask cluster with --scheduler) and fill nbgrader's gradebook and
        feedback as `nbgrader autograde` and `generate_feedback` would.
classroom
        GitHub Classroom: collect the clones of `gh classroom clone
        student-repos` into submissions/ (late from GitHub's push times),
        report late penalties and feedback, deliver it as issues
        (docs/classroom.md).

Exit codes: 0 success, 2 usage error (bad arguments), 1 anything else.
"""

import argparse
import json
import os
import sys
import time


def _parser():
    parser = argparse.ArgumentParser(prog="python -m course", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    train = sub.add_parser("train", help="train the reference classifier on a course dataset")
    train.add_argument("--dataset", choices=["mnist1d", "mnist"], default="mnist1d",
                       help="mnist1d (generated offline) or mnist (embedded 5,000-image subset, "
                            "flattened to 784 samples); default: %(default)s")
    train.add_argument("--steps", type=_positive_int, default=None,
                       help="optimiser steps (default: the preset's)")
    train.add_argument("--seed", type=int, default=0, help="default: %(default)s")
    train.add_argument("--dtype", choices=["float64", "float32"], default="float64",
                       help="default: %(default)s")
    train.add_argument("--out", default=None, metavar="DIR",
                       help="where to write metrics.json and learning_curve.png "
                            "(default: runs/DATASET)")
    train.add_argument("--json", action="store_true", help="print the metrics as JSON")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    build = sub.add_parser("build", help="build the source notebooks and the release")
    build.add_argument("--check", action="store_true",
                       help="change nothing; exit 1 listing what is out of date")
    build.add_argument("--stage", action="append", default=None, metavar="NAME",
                       help="only this stage (repeatable); default: all")
    demo = sub.add_parser("demo", help="grade the sample class through nbgrader")
    demo.add_argument("--workdir", default="runs/demo", help="default: %(default)s")
    demo.add_argument("--stage", action="append", default=None, metavar="NAME",
                      help="only this stage (repeatable); default: all")
    experiment = sub.add_parser("experiment", help="stage 5's table: models x recipes x data "
                                                   "sets over seeds (135 runs, long: "
                                                   "docs/experiment.md gives the last run's time)")
    experiment.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4],
                            help="default: %(default)s")
    experiment.add_argument("--dataset", action="append", default=None,
                            choices=["mnist1d", "mnist1d 4000, fixed order", "mnist1d shuffled",
                                     "mnist"],
                            help="only this data set (repeatable); default: all")
    experiment.add_argument("--model", action="append", default=None,
                            choices=["logistic", "MLP 100-100", "MLP residual", "CNN"],
                            help="only this model (repeatable); default: all")
    experiment.add_argument("--steps", type=_positive_int, default=None,
                            help="override every recipe's steps (a smoke test)")
    experiment.add_argument("--json", default=None, metavar="FILE",
                            help="default: course/data/experiment.json")
    experiment.add_argument("--markdown", default=None, metavar="FILE",
                            help="default: docs/experiment.md")
    experiment.add_argument("--merge", nargs="+", default=None, metavar="JSON",
                            help="train nothing: join the runs of these JSON files (seeds run "
                                 "in separate processes) into --json and --markdown")
    grade = sub.add_parser("grade", help="grade an nbgrader assignment in parallel into the "
                                         "gradebook (run in the course root)")
    grade.add_argument("assignment", metavar="ASSIGNMENT", help="the stage, e.g. single_channel")
    grade.add_argument("--workers", type=_positive_int, default=os.cpu_count() or 1, metavar="N",
                       help="local grading processes (default: the number of cores)")
    grade.add_argument("--scheduler", default=None, metavar="ADDRESS",
                       help="a Dask scheduler (tcp://host:8786) to grade on instead")
    grade.add_argument("--secret-file", default=None, metavar="FILE",
                       help="the course secret (default: $CNN1D_GRADER_SECRET)")
    grade.add_argument("--force", action="store_true",
                       help="regrade submissions already autograded (nbgrader's --force)")
    grade.add_argument("--no-feedback", action="store_true",
                       help="skip nbgrader generate_feedback")
    grade.add_argument("--quiet", action="store_true", help="no progress bar")
    new_check = sub.add_parser("new-check", help="scaffold a graded check: stages.py entry, "
                               "check stub, test cell, test file (docs/authoring.md)")
    new_check.add_argument("stage", metavar="STAGE", help="e.g. single_channel")
    new_check.add_argument("name", metavar="NAME", help="the check's name (lower_case)")
    new_check.add_argument("--points", type=float, required=True)
    new_check.add_argument("--summary", required=True,
                           help="what the check tests, one line (feedback shows it)")
    from course.classroom import add_parser as add_classroom

    add_classroom(sub)
    bench = sub.add_parser("bench", help="time the reference layers (and training) against "
                                         "PyTorch; needs torch installed")
    bench.add_argument("--json", default=None, metavar="FILE", help="also write every number here")
    bench.add_argument("--training", action="store_true",
                       help="also train the presets with the reference and a PyTorch twin "
                            "(several minutes)")
    bench.add_argument("--grading", action="store_true",
                       help="also time grading: one complete submission, and a class with 1 "
                            "and 2 workers (about 20 minutes for a class of 50)")
    bench.add_argument("--class-size", type=_positive_int, default=50, metavar="N",
                       help="students in the --grading class (default: %(default)s)")
    bench.add_argument("--keep", default=None, metavar="FILE",
                       help="copy the sections this run does not measure (training, grading) "
                            "from the JSON of an earlier run")
    bench.add_argument("--no-layers", action="store_true",
                       help="with --keep: copy the layers' section too, measuring only "
                            "--training / --grading")
    bench.add_argument("--quick", action="store_true",
                       help="two small shapes, 3 repetitions, 200 training steps: a smoke test")
    bench.add_argument("--out", default="docs", metavar="DIR",
                       help="where to write benchmark.md and benchmark.png (default: %(default)s)")
    return parser


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def main(argv=None):
    args = _parser().parse_args(argv)
    if args.command == "train":
        from course.train import format_metrics, train

        out = args.out or f"runs/{args.dataset}"
        metrics = train(args.dataset, steps=args.steps, seed=args.seed, dtype=args.dtype,
                        out_dir=out, verbose=not args.quiet)
        if args.json:
            print(json.dumps({k: v for k, v in metrics.items() if k != "history"}, indent=2))
        else:
            print(format_metrics(metrics))
            print(f"wrote {out}/metrics.json and {out}/learning_curve.png")
    elif args.command == "build":
        from course.build import BuildError, build
        from course.stages import STAGE_NAMES

        for name in args.stage or ():
            if name not in STAGE_NAMES:
                _parser().error(f"--stage must be one of {', '.join(STAGE_NAMES)}, got {name!r}")
        try:
            problems = build(check=args.check, stage_names=args.stage)
        except BuildError as exc:
            print(f"build failed: {exc}", file=sys.stderr)
            return 1
        for problem in problems:
            print(problem)
        if problems:
            print("run `make build` (python -m course build) to bring them up to date",
                  file=sys.stderr)
            return 1
        print("up to date" if args.check else "built source/ and release/")
    elif args.command == "demo":
        from course.demo import format_table, run_demo
        from course.stages import STAGE_NAMES, STAGES

        for name in args.stage or ():
            if name not in STAGE_NAMES:
                _parser().error(f"--stage must be one of {', '.join(STAGE_NAMES)}, got {name!r}")
        stages = [s for s in STAGES if not args.stage or s.name in args.stage]
        t0 = time.perf_counter()
        grades, course = run_demo(args.workdir, stages)
        print()
        print(format_table(grades, stages))
        print(f"\nfeedback HTML: {course / 'feedback'}/<student>/<stage>/<stage>.html")
        print(f"grades CSV:    {course / 'grades.csv'}")
        minutes, seconds = divmod(round(time.perf_counter() - t0), 60)
        print(f"total time:    {minutes} min {seconds:02d} s")
    elif args.command == "experiment":
        from course import experiment as ex

        paths = {"json_path": args.json or ex.JSON_PATH, "md_path": args.markdown or ex.MD_PATH}
        if args.merge:
            out = ex.merge(args.merge, **paths)
        else:
            out = ex.main(seeds=args.seeds, only=args.dataset, models=args.model,
                          steps=args.steps, log=lambda text: print(text, flush=True), **paths)
        print(ex.markdown(out["summary"], out["meta"], out["differences"]))
    elif args.command == "grade":
        from autograder.distributed import grade_assignment
        from autograder.grade import GraderError, read_secret
        from course.stages import STAGE_NAMES

        if args.assignment not in STAGE_NAMES:
            _parser().error(f"ASSIGNMENT must be one of {', '.join(STAGE_NAMES)}, "
                            f"got {args.assignment!r}")
        try:
            done = grade_assignment(os.getcwd(), args.assignment, read_secret(args.secret_file),
                                    workers=args.workers, scheduler=args.scheduler,
                                    force=args.force, feedback=not args.no_feedback,
                                    progress=not args.quiet)
        except (GraderError, OSError) as exc:
            print(f"grading failed: {exc}", file=sys.stderr)
            return 1
        print(f"graded {done['submissions']} submissions of {args.assignment} "
              f"({done['graded_on_workers']} on the workers, "
              f"{len(done['regraded_here'])} again here); gradebook: nbgrader's db_url")
    elif args.command == "new-check":
        from course.scaffold import ScaffoldError, new_check
        from course.stages import STAGE_NAMES

        if args.stage not in STAGE_NAMES:
            _parser().error(f"STAGE must be one of {', '.join(STAGE_NAMES)}, got {args.stage!r}")
        try:
            paths = new_check(args.stage, args.name, args.points, args.summary)
        except ScaffoldError as exc:
            _parser().error(str(exc))
        for path in paths:
            print(f"wrote {path}")
        print("next: write the check and the mutant, a visible assert in the test cell, "
              "then `make build` (docs/authoring.md)")
    elif args.command == "classroom":
        from course.classroom import main as classroom

        return classroom(args)
    elif args.command == "bench":
        from course.bench import main as bench

        return bench(json_path=args.json, training=args.training, quick=args.quick,
                     out_dir=args.out, grading=args.grading, class_size=args.class_size,
                     keep=args.keep, layers=not args.no_layers)
    return 0


if __name__ == "__main__":
    sys.exit(main())
