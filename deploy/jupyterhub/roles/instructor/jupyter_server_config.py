"""An instructor's server: what it and its kernels and terminals create is the
instructors' group's to read and write, and no one else's (the course root's
default ACL does the same where the file system has ACLs).

Formgrader opens in JupyterLab (Nbgrader -> Formgrader) as a frame of the
server's own page. JupyterHub forbids every user's server to be framed
(``frame-ancestors 'none'``: users' servers share the hub's origin, so a page
of one could frame and script another's); the panel would stay blank. An
instructor's server may be framed by pages of its own origin ('self'), as
nbgrader's JupyterHub guide describes: the pages an instructor's browser
loads there are the hub's, their own server's (student files are served
sandboxed, formgrader and the feedback page render student work cleaned:
autograder/student_html.py) and the kit's services'; they reach no student's
server unless made hub admins. Students' servers keep JupyterHub's 'none'.
"""

import os

c = get_config()  # noqa: F821 - injected by traitlets

os.umask(0o007)
c.ServerApp.tornado_settings = {"headers": {"Content-Security-Policy": "frame-ancestors 'self'"}}
