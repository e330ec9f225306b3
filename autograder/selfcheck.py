"""``python -m autograder check NOTEBOOK``: the student's self-check.

The implementation lives in the students' helper module (so that a student
can run ``python cnn1d_helpers.py check NOTEBOOK`` in a stage folder without
the instructor's kit); this is the same function.
"""

from course.cnn1d_helpers import self_check

__all__ = ["self_check"]
