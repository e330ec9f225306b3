"""What the feedback service's user may touch in nbgrader's exchange, granted by
root: read (list) the course's ``inbound/`` and write its ``feedback/``.

nbgrader's default exchange lets only the instructor who released the
course list ``inbound/`` (mode 2733) and creates ``feedback/`` only at the
first ``release_feedback``. An ACL entry for the service's user (setfacl)
adds the two rights and nothing else; nbgrader never chmods those folders
again, so the entries stay. ``feedback/`` is created (mode 0711, owned by the
owner of the course's folder, as release_feedback would make it) when it
does not exist yet, so the instructor's release_feedback still works.

The exchange's root is writable by everyone, so a student could put a
folder or a link there first: the course's folder is used only when it is a
real folder owned by a member of the instructors' group (or root), and every
step goes through file descriptors opened without following links.

Run by the hub as the root-side ``cnn1d-feedback-access`` service (every few
seconds, so a course released later is picked up), or once by hand:
``python -m course.feedback_service grant --exchange ... --course ... --user ...``.
"""

import grp
import logging
import os
import pwd
import struct
import subprocess
import time

log = logging.getLogger("cnn1d.feedback.access")
ACL_XATTR = "system.posix_acl_access"
ACL_USER = 0x02


class AccessError(RuntimeError):
    pass


def acl_users(fd):
    """{uid: perm bits} of the named-user entries of a folder's access ACL."""
    try:
        raw = os.getxattr(fd, ACL_XATTR)
    except OSError:
        return {}
    out = {}
    for offset in range(4, len(raw) - 7, 8):   # header, then (tag u16, perm u16, id u32)
        tag, perm, ident = struct.unpack_from("<HHI", raw, offset)
        if tag == ACL_USER:
            out[ident] = perm
    return out


def _setfacl(fd, entry):
    subprocess.run(["setfacl", "-m", entry, f"/proc/self/fd/{fd}"], check=True,
                   pass_fds=(fd,), capture_output=True)


def grant(exchange, course, user):
    """Grant ``user`` r-x on inbound/ and rwx on feedback/ of ``course``;
    returns what changed ([] when nothing needed to), None when the course has
    not been released yet."""
    uid = pwd.getpwnam(user).pw_uid
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
    try:
        course_fd = os.open(os.path.join(exchange, course), flags)
    except FileNotFoundError:
        return None
    changed = []
    try:
        st = os.fstat(course_fd)
        owner = pwd.getpwuid(st.st_uid).pw_name if st.st_uid else "root"
        try:
            staff = set(grp.getgrnam(f"formgrade-{course}").gr_mem)
        except KeyError:
            staff = set()
        if st.st_uid != 0 and owner not in staff:
            raise AccessError(f"{exchange}/{course} belongs to {owner}, who is not in "
                              f"formgrade-{course}: not granting anything in it (remove it and "
                              "release the course again as an instructor)")
        try:
            os.mkdir("feedback", 0o700, dir_fd=course_fd)
            fd = os.open("feedback", flags, dir_fd=course_fd)
            try:
                os.fchown(fd, st.st_uid, st.st_gid)
                os.fchmod(fd, 0o711)
            finally:
                os.close(fd)
            changed.append("created feedback/")
        except FileExistsError:
            pass
        for name, perm, entry in (("inbound", 5, "rx"), ("feedback", 7, "rwx")):
            try:
                fd = os.open(name, flags, dir_fd=course_fd)
            except FileNotFoundError:
                continue
            try:
                if os.fstat(fd).st_uid != st.st_uid:
                    raise AccessError(f"{exchange}/{course}/{name} is not owned by {owner}")
                if acl_users(fd).get(uid, 0) & perm != perm:
                    _setfacl(fd, f"u:{uid}:{entry}")
                    changed.append(f"{name}/: {user} {entry}")
            finally:
                os.close(fd)
    finally:
        os.close(course_fd)
    return changed


def grant_loop(exchange, course, user, every=0):
    """grant() once, or every ``every`` seconds, logging what it did."""
    while True:
        try:
            changed = grant(exchange, course, user)
            if changed:
                log.info("%s/%s: %s", exchange, course, "; ".join(changed))
        except (AccessError, OSError, subprocess.CalledProcessError) as exc:
            log.error("%s", exc)
            if not every:
                raise
        if not every:
            return
        time.sleep(every)
