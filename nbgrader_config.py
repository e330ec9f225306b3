"""nbgrader configuration: the repository root is the course root.

Source notebooks live in source/<stage>/, the student version is generated
into release/<stage>/, and run-time state (submitted/, autograded/,
feedback/, gradebook.db) stays out of git.
"""

import os
import sys

c = get_config()  # noqa: F821 - injected by nbgrader/traitlets

# nbgrader runs the `alembic` command it installs (when it creates or upgrades
# gradebook.db) from PATH: put this interpreter's bin folder first, so that
# `.venv/bin/nbgrader ...` works without an activated virtual environment.
os.environ["PATH"] = os.pathsep.join(
    p for p in (os.path.dirname(sys.executable), os.environ.get("PATH")) if p)

c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.course_id = "cnn1d"
c.CourseDirectory.source_directory = "source"
c.CourseDirectory.release_directory = "release"
c.CourseDirectory.submitted_directory = "submitted"
c.CourseDirectory.autograded_directory = "autograded"
c.CourseDirectory.feedback_directory = "feedback"
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(c.CourseDirectory.root, "gradebook.db")

# What a student sees in place of each solution region: the traceback names
# the method, the message says what to do.
c.ClearSolutions.code_stub = {
    "python": "# YOUR CODE HERE\n"
              "raise NotImplementedError(\"not written yet: replace this line with your code\")"
}

# Running a notebook (generate_assignment's and generate_solution's
# execution, `nbgrader validate`): stage 5's training cells take minutes on a
# busy machine (its generate_solution took 460 s on 2 shared cores), far past
# nbgrader's 30 s per cell. The students' Validate button gets the same limit
# from the config that `make lab` writes.
c.Execute.timeout = 900  # nbgrader's ExecutePreprocessor (30 s by default)

# Hidden-test blocks call the checks of autograder/ (instructor-side only):
# kernels that nbgrader starts from this course see the kit's root.
# Without them nbgrader would fall back to grading inside the student's
# kernel and give wrong grades with exit 0: refuse instead (SystemExit is not
# an error traitlets swallows while it loads a config file).
KIT = os.path.dirname(os.path.abspath(__file__))
if not os.path.isdir(os.path.join(KIT, "autograder")):  # a copy of this file elsewhere
    KIT = os.environ.get("CNN1D_KIT", "")
    if not os.path.isdir(os.path.join(KIT, "autograder")):
        sys.exit(f"nbgrader_config.py: the course kit is not found (CNN1D_KIT="
                 f"{KIT!r} has no autograder/ folder). This copy of nbgrader_config.py lives "
                 "outside the kit: set CNN1D_KIT to the kit's folder (the one holding "
                 "autograder/ and solutions/), e.g. `export CNN1D_KIT=/srv/cnn1d-kit`, then "
                 "run the command again.")
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (KIT, os.environ.get("PYTHONPATH")) if p)

# Autograde out of kernel: the submission's code runs in a sandboxed process,
# the points are decided by autograder/grade.py (the same function as
# `python -m autograder grade`), and nbgrader stores them in the gradebook.
sys.path.insert(0, KIT)
from nbconvert.preprocessors import (  # noqa: E402
    ClearMetadataPreprocessor,
    CSSHTMLHeaderPreprocessor,
)
from nbgrader.preprocessors import (  # noqa: E402
    AssignLatePenalties,
    CheckCellMetadata,
    ClearHiddenTests,
    DeduplicateIds,
    GetGrades,
    IgnorePattern,
    LimitOutput,
    OverwriteKernelspec,
    SaveAutoGrades,
)

try:
    from autograder.nbgrader_cells import (
        TEMPLATES,
        FeedbackExporter,
        FeedbackResources,
        KeepStudentOutputs,
        OverwriteReleasedCells,
    )
    from autograder.nbgrader_plugin import OutOfKernelGrade
    from autograder.student_html import SanitizeStudentContent, escape_formgrader_pages
except Exception as error:  # noqa: BLE001 - any reason: nbgrader must not go on
    sys.exit(f"nbgrader_config.py: the kit's grading plugin cannot be loaded from {KIT} "
             f"({type(error).__name__}: {error}). Run nbgrader with the kit's environment "
             "(.venv/bin/nbgrader, or `make venv` first) and check CNN1D_KIT.")

# Before grading, nbgrader's own steps but two: the student's outputs and
# figures stay (text and images only; test cells are cleared), and a test cell
# left as released does not log a checksum warning (nbgrader issue #1961).
c.Autograde.sanitize_preprocessors = [
    KeepStudentOutputs,  # instead of ClearOutput
    DeduplicateIds,
    OverwriteKernelspec,
    OverwriteReleasedCells,  # instead of OverwriteCells
    CheckCellMetadata,
]

# Which notebook is the submission (autograder/discovery.py): a renamed one
# ("single_channel (1).ipynb") is renamed to the stage's name when it is the
# only notebook of the stage, with a line in the log; a folder with none, with
# several that differ, or with a file that is not a notebook (not JSON, not
# UTF-8, empty) is graded as a stand-in that fails every check and says what
# was found: that student gets a result, the others are graded as usual.
c.Autograde.pre_convert_hook = "autograder.discovery.nbgrader_hook"
c.Autograde.exporter_class = "autograder.discovery.SubmissionExporter"

c.Autograde.autograde_preprocessors = [
    OutOfKernelGrade,  # instead of nbgrader's Execute
    IgnorePattern,
    ClearMetadataPreprocessor,
    LimitOutput,
    SaveAutoGrades,
    AssignLatePenalties,
    CheckCellMetadata,
]

# Feedback is always written anew (nbgrader would skip a student whose
# feedback exists: it compares submission times only, so written answers
# graded in formgrader after `python -m course grade` never reached the page),
# and the late penalty is computed again from the score as it is now (manual
# grades included): the page, the gradebook and the export agree, and a
# regrade does not move it.
c.GenerateFeedback.force = True

# Hidden tests never reach a student: the autograded notebook holds them
# (nbgrader restored them), so the feedback strips them before rendering.
# The page (autograder/templates/cnn1d_feedback/) names each check with its
# summary in the score list and renders maths with a MathJax inlined from a
# package, so it works offline. It is FeedbackExporter's alone (`nbgrader
# generate_feedback` and formgrader's "Generate Feedback" button): an
# HTMLExporter setting would also reach formgrader's grading page.
c.GenerateFeedback.preprocessors = [ClearHiddenTests, AssignLatePenalties, GetGrades,
                                    FeedbackResources,
                                    CSSHTMLHeaderPreprocessor]
c.GenerateFeedback.exporter_class = FeedbackExporter
c.FeedbackExporter.template_name = "cnn1d_feedback"
c.FeedbackExporter.extra_template_basedirs = [str(p) for p in TEMPLATES]

# No student markup runs in a page: formgrader's grading page (the
# instructor's Jupyter origin) and the feedback page render a notebook's
# Markdown, HTML outputs and image metadata cleaned (autograder/student_html.py).
# Every HTMLExporter nbgrader builds from this file gets both, FeedbackExporter too.
c.HTMLExporter.preprocessors = [SanitizeStudentContent]
c.HTMLExporter.filters = {"markdown2html": "autograder.student_html.markdown2html"}
# Nor does a crafted link: formgrader's other pages write ids from their URL into
# a script unescaped (nbgrader's page environment escapes nothing); theirs does.
escape_formgrader_pages()

# Releasing: stage 5's cnn1d_reference.py holds the answers of stages 2-4, so
# nbgrader's release_assignment (command line and formgrader) refuses it while
# one of them is open (course/release_guard.py; force with
# --GuardedReleaseAssignment.allow_open_answers=True).
c.ExchangeFactory.release_assignment = "course.release_guard.GuardedReleaseAssignment"

# Collecting from the shared exchange (course/exchange.py): a submission whose
# folder or files are not owned by the student it names (`nbgrader submit
# --student=someone-else`), or that holds a symbolic link, is refused with a
# message and collect fails; nbgrader's own collect only warns, and copies it.
c.ExchangeFactory.collect = "course.exchange.OwnerCheckedCollect"

# The LMS round trip (course/lms.py, deploy/README.md). `nbgrader zip_collect`
# reads the file names of Canvas's or Moodle's "Download submissions" and maps
# the LMS's ids to logins through the LMS's roster export; release_feedback
# skips submissions collected that way (their feedback goes back through the
# LMS); `nbgrader export --exporter=course.lms.CanvasExport` writes Canvas's
# gradebook CSV for every roster student.
c.ZipCollectApp.collector_plugin = "course.lms.LmsCollector"
c.LmsCollector.lms = "canvas"  # or "moodle"
c.LmsCollector.roster = "downloaded/roster.csv"  # Canvas gradebook export / Moodle worksheet
c.CanvasExport.roster = "downloaded/roster.csv"
c.MoodleExport.roster = "downloaded/roster.csv"  # the assignment's grading worksheet
c.ExchangeFactory.release_feedback = "course.lms.ReleaseFeedback"

# Late submissions (due dates are set in formgrader or with
# `nbgrader db assignment add NAME --duedate=...`): 10 % of the points off per
# started day late, never below 0.
c.AssignLatePenalties.plugin_class = "course.lms.LatePenalty"
c.LatePenalty.per_day = 0.1
