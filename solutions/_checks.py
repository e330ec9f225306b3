"""Argument checks shared by every layer.

Every error a user can make is answered by a ``TypeError`` or ``ValueError``
that names the argument, the value it got and what was expected. The
definitions live in the students' module of checks, ``course/cnn1d_checks.py``,
so that reference and student code raise the same messages.
"""

from course.cnn1d_checks import (  # noqa: F401 - re-exported
    _describe,
    as_float_array,
    check_choice,
    check_float,
    check_int,
    check_same_shape,
)
