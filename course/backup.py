"""Backups of a running course: ``python3 -m course.backup create | restore | list``.

A backup is a folder ``<to>/<UTC time>/`` (root only) holding

- ``gradebook.db``: copied with SQLite's online backup API, so it is one
  consistent state of the gradebook even while formgrader or ``python -m course
  grade`` writes to it (they wait a moment for the copy, never the reverse),
  checked with ``PRAGMA integrity_check``;
- ``exchange.tar.gz``: nbgrader's exchange with every file's owner, group and
  mode (collect checks a submission's owner: a restore must keep them);
- ``course.tar.gz``: the course's ``submitted/``, ``autograded/``, ``feedback/``;
- ``manifest.json``: what it holds (counts of submissions and grades).

It is written as ``<time>.partial`` and renamed when complete; ``<to>/latest``
points at the newest. ``restore`` copies the gradebook back with the same
online API (the current one is kept beside the backups first) and unpacks the
archives over the live folders: what is newer than the backup stays. On the
hub, ``create`` runs hourly as the backups' own user, ``restore`` as root (to
give students' files back to their owners), both from the root-owned copy
``deploy/jupyterhub/setup.sh`` installs (root never runs the course's code).
Standard library only: Debian's python3 runs it without the kit's environment.
"""

import argparse
import datetime
import json
import os
import re
import shutil
import sqlite3
import sys
import tarfile
from pathlib import Path

KIT = Path(__file__).resolve().parents[1]
STATE = ("submitted", "autograded", "feedback")
BACKUPS = os.environ.get("CNN1D_BACKUPS", "/var/backups/cnn1d")
NAME = re.compile(r"\d{4}-\d\d-\d\dT\d{6}\.\d{6}Z")  # a complete backup's folder


class BackupError(Exception):
    """A backup or restore that cannot be done; the message says why."""


def copy_database(src, dst):
    """Copy the SQLite database ``src`` into ``dst`` (created or overwritten)
    with the online backup API, in one step, then check the copy."""
    source = sqlite3.connect(f"file:{src}?mode=ro", uri=True, timeout=60)
    target = sqlite3.connect(dst, timeout=60)
    try:
        source.backup(target)  # pages=-1: one read transaction, a consistent state
        check = target.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        source.close()
        target.close()
    if check != "ok":
        raise BackupError(f"the copy of {src} fails SQLite's integrity check: {check}")


def grades(db):
    """{(student, assignment, notebook, grade cell): (auto, manual, extra credit)}."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=60)
    try:
        rows = con.execute(
            "SELECT sa.student_id, a.name, n.name, bc.name, g.auto_score, g.manual_score, "
            "g.extra_credit FROM grade g JOIN submitted_notebook sn ON g.notebook_id = sn.id "
            "JOIN submitted_assignment sa ON sn.assignment_id = sa.id "
            "JOIN assignment a ON sa.assignment_id = a.id "
            "JOIN notebook n ON sn.notebook_id = n.id "
            "JOIN base_cell bc ON g.cell_id = bc.id").fetchall()
    finally:
        con.close()
    return {tuple(r[:4]): tuple(r[4:]) for r in rows}


def _tar(path, folders, base):
    with tarfile.open(path, "w:gz") as tar:
        for folder in folders:
            if folder.exists():
                tar.add(folder, arcname=os.path.relpath(folder, base))  # links kept as links
    os.chmod(path, 0o600)


def _untar(path, dest):
    """Unpack our own archive over ``dest`` as root, with owners and modes (setgid
    and sticky bits included), never writing through a symbolic link found in
    ``dest``: a student owns their folders in the exchange and could have
    replaced a file of theirs with a link to /etc/shadow since the backup."""
    dest = os.path.realpath(dest)
    kwargs = {"filter": "fully_trusted"} if hasattr(tarfile, "fully_trusted_filter") else {}
    with tarfile.open(path) as tar:
        for member in tar.getmembers():
            target = os.path.normpath(os.path.join(dest, member.name))
            # no link on the way (a link in the archive replaces the one in place:
            # only its folder must be link-free)
            path = os.path.dirname(target) if member.issym() else target
            where = os.path.realpath(path)
            if where != path or os.path.commonpath([dest, where]) != dest:
                raise BackupError(
                    f"restore stopped at {target}: it leads to {where} through a symbolic "
                    "link made there since the backup. Look at it, "
                    f"remove the link (`rm {target}`, or the folder holding it), and restore "
                    "again; what was restored so far stays")
            tar.extract(member, dest, numeric_owner=True, **kwargs)


def _backups(to):
    """The complete backups under ``to``, oldest first."""
    return sorted(p for p in Path(to).iterdir() if NAME.fullmatch(p.name) and not p.is_symlink())


def create(course, exchange, to, keep):
    """Write a backup of ``course``'s gradebook and state and of ``exchange``."""
    course, exchange, to = Path(course), Path(exchange), Path(to)
    db = course / "gradebook.db"
    for path, what in ((db, "gradebook"), (exchange, "exchange")):
        if not path.exists():
            raise BackupError(f"no {what} at {path}: check --course and --exchange")
    to.mkdir(parents=True, exist_ok=True)
    os.chmod(to, 0o700)
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H%M%S.%fZ")
    partial = to / f"{stamp}.partial"
    partial.mkdir(mode=0o700)
    copy_database(db, partial / "gradebook.db")
    os.chmod(partial / "gradebook.db", 0o600)
    _tar(partial / "exchange.tar.gz", [exchange], exchange)
    _tar(partial / "course.tar.gz", [course / name for name in STATE], course)
    kept = grades(partial / "gradebook.db")
    manifest = {"time": stamp, "course": str(course), "exchange": str(exchange),
                "grades": len(kept), "submissions": len({k[:2] for k in kept})}
    (partial / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    final = to / stamp
    partial.rename(final)
    latest = to / "latest"
    tmp = to / ".latest"
    if tmp.is_symlink():
        tmp.unlink()
    tmp.symlink_to(stamp)
    tmp.replace(latest)
    for old in _backups(to)[:-keep]:
        shutil.rmtree(old)
    return final, manifest


def restore(backup, course, exchange):
    """Put ``backup``'s gradebook, exchange and course state back."""
    backup, course, exchange = Path(backup).resolve(), Path(course), Path(exchange)
    if not (backup / "manifest.json").exists():
        raise BackupError(f"{backup} is not a complete backup (no manifest.json): "
                          "`python3 -m course.backup list` shows them")
    db = course / "gradebook.db"
    if db.exists():  # nothing lost: the gradebook being replaced is kept too
        before = backup.parent / ("before-restore-" + datetime.datetime.now(
            datetime.UTC).strftime("%Y-%m-%dT%H%M%S.%fZ"))
        before.mkdir(mode=0o700)
        copy_database(db, before / "gradebook.db")
        copy_database(backup / "gradebook.db", db)  # the live file keeps its owner and mode
    else:
        copy_database(backup / "gradebook.db", db)
        stat = course.stat()
        os.chown(db, stat.st_uid, stat.st_gid)
        os.chmod(db, 0o660)
    exchange.mkdir(parents=True, exist_ok=True)
    _untar(backup / "exchange.tar.gz", exchange)
    _untar(backup / "course.tar.gz", course)
    return json.loads((backup / "manifest.json").read_text())


def _parser():
    parser = argparse.ArgumentParser(prog="python3 -m course.backup",
                                     description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    where = argparse.ArgumentParser(add_help=False)
    where.add_argument("--course", default=str(KIT), help="course root (default: %(default)s)")
    where.add_argument("--exchange", default=os.environ.get("CNN1D_EXCHANGE",
                                                            "/srv/nbgrader/exchange"),
                       help="nbgrader's exchange (default: CNN1D_EXCHANGE, else %(default)s)")
    make = sub.add_parser("create", parents=[where], help="write a backup")
    make.add_argument("--to", default=BACKUPS, help="default: CNN1D_BACKUPS, else %(default)s")
    make.add_argument("--keep", type=int, default=48, help="backups kept (default: %(default)s)")
    back = sub.add_parser("restore", parents=[where], help="put a backup back")
    back.add_argument("backup", help="a backup folder, e.g. /var/backups/cnn1d/latest")
    listing = sub.add_parser("list", help="the backups and what they hold")
    listing.add_argument("--to", default=BACKUPS, help="default: CNN1D_BACKUPS, else %(default)s")
    return parser


def main(argv=None):
    args = _parser().parse_args(argv)
    try:
        if args.command == "create":
            if args.keep < 1:
                raise BackupError(f"--keep {args.keep}: keep at least 1 backup")
            path, manifest = create(args.course, args.exchange, args.to, args.keep)
            print(f"{path}: {manifest['grades']} grades of {manifest['submissions']} "
                  "submissions, the exchange and the course's state")
        elif args.command == "restore":
            manifest = restore(args.backup, args.course, args.exchange)
            print(f"restored the backup of {manifest['time']}: {manifest['grades']} grades of "
                  f"{manifest['submissions']} submissions, the exchange and the course's state")
        else:
            for path in _backups(args.to):
                m = json.loads((path / "manifest.json").read_text())
                print(f"{path}  {m['grades']} grades, {m['submissions']} submissions")
    except (BackupError, OSError, sqlite3.Error) as error:
        print(f"python3 -m course.backup {args.command}: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
