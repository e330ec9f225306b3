"""Argument checks shared by every layer.

Every error a user can make is answered by a ``TypeError`` or ``ValueError``
that names the argument, the value it got and what was expected. The
definitions live in the students' helper module, ``course/cnn1d_helpers.py``,
so that reference and student code raise the same messages.
"""

from course.cnn1d_helpers import (  # noqa: F401 - re-exported
    _describe,
    as_float_array,
    check_choice,
    check_float,
    check_int,
    check_same_shape,
)
