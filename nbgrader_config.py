"""nbgrader configuration: the repository root is the course root.

Source notebooks live in source/<stage>/, the student version is generated
into release/<stage>/, and run-time state (submitted/, autograded/,
feedback/, gradebook.db) stays out of git.
"""

import os
import sys

c = get_config()  # noqa: F821 - injected by nbgrader/traitlets

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

# Hidden-test blocks call the checks of autograder/ (instructor-side only):
# kernels that nbgrader starts from this course see the kit's root.
KIT = os.path.dirname(os.path.abspath(__file__))
if not os.path.isdir(os.path.join(KIT, "autograder")):  # a copy of this file elsewhere
    KIT = os.environ.get("CNN1D_KIT", KIT)
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
    GetGrades,
    IgnorePattern,
    LimitOutput,
    SaveAutoGrades,
)

from autograder.nbgrader_plugin import OutOfKernelGrade  # noqa: E402

c.Autograde.autograde_preprocessors = [
    OutOfKernelGrade,  # instead of nbgrader's Execute
    IgnorePattern,
    ClearMetadataPreprocessor,
    LimitOutput,
    SaveAutoGrades,
    AssignLatePenalties,
    CheckCellMetadata,
]

# Hidden tests never reach a student: the autograded notebook holds them
# (nbgrader restored them), so the feedback strips them before rendering.
c.GenerateFeedback.preprocessors = [ClearHiddenTests, GetGrades, CSSHTMLHeaderPreprocessor]
