"""nbgrader for a student on the hub: the course and its shared exchange.

JupyterHub's pre_spawn_hook (deploy/jupyterhub/jupyterhub_config.py) sets
the environment this reads; the course id comes from the kit's
nbgrader_config.py, the one place it is written.
"""

import os

c = get_config()  # noqa: F821 - injected by nbgrader/traitlets

c.CourseDirectory.course_id = os.environ["CNN1D_COURSE_ID"]
c.Exchange.root = os.environ["CNN1D_EXCHANGE"]
# Validate runs the whole notebook; stage 5 trains for minutes in one cell
# (nbgrader's 30 s default would fail it), as `make lab` and the kit's config
c.Execute.timeout = 900
# A folder without the released notebook (renamed "single_channel (1).ipynb")
# is not submitted: the Assignment List shows what was expected and what was
# found (nbgrader only warns by default).
c.ExchangeSubmit.strict = True
