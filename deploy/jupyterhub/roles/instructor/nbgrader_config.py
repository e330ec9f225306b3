"""nbgrader for an instructor on the hub: the kit's own configuration (its
course root, out-of-kernel grading, LMS plugins), with the shared exchange.

formgrader works on CourseDirectory.root, the kit checkout (CNN1D_KIT), so
the instructor's server and `python -m course grade` fill the same gradebook.
"""

import os

c = get_config()  # noqa: F821 - injected by nbgrader/traitlets

load_subconfig(os.path.join(os.environ["CNN1D_KIT"], "nbgrader_config.py"))  # noqa: F821
c.Exchange.root = os.environ["CNN1D_EXCHANGE"]
# Several instructors and teaching assistants grade the same course (nbgrader's
# multi-instructor layout): what nbgrader writes is group-writable, folders setgid.
c.CourseDirectory.groupshared = True
