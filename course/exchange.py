"""nbgrader's collect, refusing a submission that is not its student's own.

On one host nbgrader's exchange is a shared folder: any student can drop a
folder named ``bob+single_channel+...`` into the inbound folder (``nbgrader
submit --student=bob`` does), or a symbolic link to a file only the instructor
can read, which the instructor's collect would copy into the course and the
feedback would show back. nbgrader's own collect only logs a warning when a
submission's owner is not the student it names, and follows links.

``OwnerCheckedCollect`` (``c.ExchangeFactory.collect`` in the kit's
nbgrader_config.py) refuses such a submission before it can hide the student's
real one: the inbound entry and everything in it must be owned by the Linux
user the name gives (or by the instructor collecting), with no symbolic link
anywhere. Genuine submissions are
collected as nbgrader would; then collect fails with a message naming every
refused entry, its claimed student and its owner, and what to do with it.
"""

import glob
import os
import pwd
import shutil
import stat

from nbgrader.exchange.default.collect import ExchangeCollect, groupby
from nbgrader.utils import ignore_patterns


def _owner(uid):
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def refusal(path, student_id, collector_uid=None):
    """Why the inbound entry ``path`` cannot be ``student_id``'s submission, or None.

    The entry and everything in it must be owned by the Linux user named
    ``student_id``, or by the collecting user (``collector_uid``, default: this
    process's): an instructor may submit on a student's behalf, as the kit's
    demo and tests do for a whole class, and no student can make a file the
    instructor owns. Reads with lstat only: a link is refused, never followed.
    """
    owners = {os.geteuid() if collector_uid is None else collector_uid}
    try:
        owners.add(pwd.getpwnam(student_id).pw_uid)
    except KeyError:
        pass  # no such user: only the collector's own entry can name them
    top = os.lstat(path)
    if stat.S_ISLNK(top.st_mode):
        return f"is a symbolic link (to {os.readlink(path)!r})"
    if not stat.S_ISDIR(top.st_mode):
        return "is not a folder"
    if top.st_uid not in owners:
        return f"is owned by {_owner(top.st_uid)}"
    unreadable = []
    for folder, dirs, files in os.walk(path, onerror=unreadable.append):
        for name in dirs + files:
            inner = os.path.join(folder, name)
            st = os.lstat(inner)
            if stat.S_ISLNK(st.st_mode):
                return f"holds a symbolic link: {os.path.relpath(inner, path)}"
            if not (stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode)):
                return f"holds a special file: {os.path.relpath(inner, path)}"
            if st.st_uid not in owners:
                return (f"holds {os.path.relpath(inner, path)}, owned by "
                        f"{_owner(st.st_uid)}")
    if unreadable:
        return f"holds a folder the collector cannot read: {unreadable[0].filename}"
    return None


class OwnerCheckedCollect(ExchangeCollect):
    """nbgrader's collect for the shared exchange, refusing forged submissions."""

    def init_src(self):
        super().init_src()  # checks the course and the inbound folder, reads the due date
        student = self.coursedir.student_id or "*"
        pattern = f"{student}+{self.coursedir.assignment_id}+*"
        records, self.refused = [], []
        for path in sorted(glob.glob(os.path.join(self.inbound_path, pattern))):
            record = self._path_to_record(path)
            why = refusal(path, record["username"])
            if why is None:
                records.append(record)
            else:
                self.refused.append((path, record["username"], why))
        # the latest genuine submission of each student (before the due date
        # when asked), as nbgrader chooses it: a forged newer one hides nothing
        self.src_records = []
        for versions in groupby(records, lambda r: r["username"]).values():
            versions = self._sort_by_timestamp(versions)
            if self.duedate is not None and self.before_duedate:
                early = [r for r in versions if r["timestamp"] <= self.duedate]
                versions = early or versions
            self.src_records.append(versions[0])

    def do_copy(self, src, dest, log=None):
        """nbgrader's copy (size limit, ignore and include patterns, groupshared
        modes), but a link is copied as a link and then refused: a file swapped
        for a link after the check above is never followed."""
        size = self.get_size(src)
        if size > 1000 * self.coursedir.max_dir_size:
            raise RuntimeError(f"Directory size is too big. Size is {size}, maximum size is "
                               f"{1000 * self.coursedir.max_dir_size}")
        shutil.copytree(src, dest, symlinks=True, ignore=ignore_patterns(
            exclude=self.coursedir.ignore, include=self.coursedir.include,
            max_file_size=self.coursedir.max_file_size, log=self.log))
        links = [os.path.join(folder, name) for folder, dirs, files in os.walk(dest)
                 for name in dirs + files if os.path.islink(os.path.join(folder, name))]
        if links:
            shutil.rmtree(dest)
            self.refused.append((src, os.path.basename(src).split("+")[0],
                                 f"holds a symbolic link: {os.path.relpath(links[0], dest)}"))
            return
        if self.coursedir.groupshared:  # as nbgrader: folders ug+rwx and setgid, files ug+rw
            for folder, _, files in os.walk(dest):
                os.chmod(folder, (os.stat(folder).st_mode | 0o2770) & 0o2777)
                for name in files:
                    path = os.path.join(folder, name)
                    os.chmod(path, (os.stat(path).st_mode | 0o660) & 0o777)

    def copy_files(self):
        super().copy_files()
        if self.refused:
            lines = [f"  {path}: claims to be {student}'s submission but {why}"
                     for path, student, why in self.refused]
            self.fail(
                f"collect refused {len(self.refused)} submission(s) of "
                f"'{self.coursedir.assignment_id}' that are not their student's own "
                "(the others were collected):\n" + "\n".join(lines) + "\n"
                "Someone submitted in another student's name or planted a link. Keep the "
                "evidence and take it out of the exchange as root, e.g. `mkdir -p "
                "/root/refused && mv PATH /root/refused/`, then collect again.")
