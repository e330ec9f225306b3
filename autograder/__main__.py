"""``python -m autograder``: grade submissions out of kernel, or self-check a notebook.

Commands
--------
grade PATH...   Grade submitted notebooks, a student's assignment folder or an
                nbgrader submitted/ tree with the hidden checks.
check NOTEBOOK  Run a notebook's visible tests as a student (exit 1 when one fails).

Exit codes
----------
0  graded (whatever the scores: a low score is not an error) / all visible tests pass
1  the grader itself failed / a visible test failed
2  usage or configuration error: bad arguments, a path that is not a notebook or
   folder of notebooks, a notebook of no known stage, no course secret, no
   sandbox that can hold a submission here
"""

import argparse
import os
import sys

# jsonschema, imported by nbformat, builds a grammar for its "iri" format check
# at import when rfc3987_syntax is installed: 1.3 s of CPU in every run of the
# command, for a format no notebook schema uses. Without the module it skips
# that check (and nothing else).
sys.modules.setdefault("rfc3987_syntax", None)

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


def _parser():
    parser = argparse.ArgumentParser(prog="python -m autograder",
                                     description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("Exit codes")[1])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    grade = sub.add_parser("grade", help="grade submissions with the hidden checks")
    grade.add_argument("paths", nargs="+", metavar="PATH",
                       help="a notebook, a student's assignment folder or a submitted/ tree")
    grade.add_argument("--json", metavar="FILE", help="write the results as JSON")
    grade.add_argument("--junit", metavar="FILE", help="write JUnit XML (one testcase per check)")
    grade.add_argument("--markdown", metavar="FILE", help="write a Markdown summary")
    grade.add_argument("--csv", metavar="FILE", help="write a grade CSV (one row per submission)")
    grade.add_argument("--workers", type=_positive_int, default=1, metavar="N",
                       help="grade N submissions in parallel (default: 1; one student's stage 5 "
                            "is graded beside the other stages where there are 2 cores)")
    grade.add_argument("--student", help="student id for a single notebook (default: from the "
                                         "nbgrader folder layout)")
    grade.add_argument("--secret-file", metavar="FILE",
                       help="course secret seeding the hidden inputs (default: "
                            "$CNN1D_GRADER_SECRET; one of them is required)")
    grade.add_argument("--unsandboxed", action="store_true",
                       help="grade without an operating-system sandbox: ONLY for a check of "
                            "your own notebook on your own machine, never for a class")
    grade.add_argument("--quiet", action="store_true", help="no progress bar, no table")
    check = sub.add_parser("check", help="run a notebook's visible tests (student self-check)")
    check.add_argument("notebook", help="the notebook to check")
    check.add_argument("--timeout", type=_positive_int, default=600,
                       help="seconds allowed for the whole notebook (default: %(default)s)")
    return parser


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _grade(args):
    if not args.unsandboxed and os.environ.get("CNN1D_SANDBOX", "auto") in ("auto", "bwrap"):
        from .isolation import probe_in_background

        probe_in_background()  # meanwhile: the grader's imports, reading the notebooks
    from .grade import NO_SECRET, GraderError, _hidden_paths, find_submissions, read_secret
    from .isolation import IsolationError, choose_barrier
    from .parallel import grade_all
    from .reports import to_markdown, write_reports

    sandbox = "none" if args.unsandboxed else None
    try:
        submissions = find_submissions(args.paths, args.student)
        secret = read_secret(args.secret_file)
        if not secret:
            raise ValueError(NO_SECRET)
        barrier = choose_barrier(sandbox or os.environ.get("CNN1D_SANDBOX", "auto"),
                                 _hidden_paths(submissions[0][1]))
    except (FileNotFoundError, ValueError, OSError, IsolationError) as exc:
        print(f"python -m autograder grade: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if barrier == "none":
        print("python -m autograder grade: warning: grading WITHOUT a sandbox (--unsandboxed): "
              "fine for your own notebook, never for a class", file=sys.stderr)
    try:
        results = grade_all(submissions, secret=secret, workers=args.workers,
                            progress=not args.quiet, sandbox=barrier)
    except GraderError as exc:
        print(f"grader failure: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    write_reports(results, args.json, args.junit, args.markdown, args.csv)
    if not args.quiet:
        print(to_markdown(results))
    return EXIT_OK


def main(argv=None):
    args = _parser().parse_args(argv)
    if args.command == "grade":
        return _grade(args)
    from .selfcheck import self_check

    return self_check(args.notebook, timeout=args.timeout)


if __name__ == "__main__":
    sys.exit(main())
