"""An instructor's server: what it and its kernels and terminals create is the
instructors' group's to read and write, and no one else's (the course root's
default ACL does the same where the file system has ACLs)."""

import os

os.umask(0o007)
