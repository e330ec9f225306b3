"""nbgrader configuration: the repository root is the course root.

Source notebooks live in source/<stage>/, the student version is generated
into release/<stage>/, and run-time state (submitted/, autograded/,
feedback/, gradebook.db) stays out of git.
"""

import os

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
# kernels that nbgrader starts from this course see the course root.
os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in (c.CourseDirectory.root, os.environ.get("PYTHONPATH")) if p)
