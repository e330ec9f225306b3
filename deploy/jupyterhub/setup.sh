#!/usr/bin/env bash
# Set up one Debian host for the class, in The Littlest JupyterHub's layout.
# Run as root from the kit checkout:  sudo bash deploy/jupyterhub/setup.sh
# Idempotent: running it again brings the host back to this state.
#
#   /opt/tljh/hub    JupyterHub (and configurable-http-proxy from npm, global)
#   /opt/tljh/user   the users' environment: the kit's pinned packages
#   /opt/tljh/state  the hub's database and cookie secret (root only)
#   /opt/tljh/hub-config  the hub's configuration and the modules it imports,
#                    and the backup script: copies of the kit's, root's alone
#                    (root never runs code from the course, which the
#                    instructors' group may write)
#   /opt/tljh/roles  each role's Jupyter configuration, readable by every user
#   /srv/nbgrader/exchange   nbgrader's shared exchange: the course's folders
#                    made here, the instructors' group owning them
#   the course root (this checkout): the instructors' group only
#   /var/backups/cnn1d  hourly backups of gradebook.db and the exchange (cron,
#                    as the user cnn1d-backup)
#   groups formgrade-<course> (instructors) and nbgrader-<course> (students)
#
# Steps can be run alone: setup.sh packages | hub | hub-config | user-env [PREFIX] |
#   groups | roles | exchange | course | backups | feedback | ngshare (several hosts)
set -euo pipefail
KIT="$(cd "$(dirname "$0")/../.." && pwd)"
COURSE="$(sed -n 's/^c\.CourseDirectory\.course_id = "\(.*\)"$/\1/p' "$KIT/nbgrader_config.py")"
JUPYTERHUB="jupyterhub==6.1.1"
# Debian's Python: every user can run it (a Python under /root could not)
PYTHON="${PYTHON:-/usr/bin/python3}"
CHP="configurable-http-proxy@5.3.0"
# The exchange for several hosts (deploy/README.md): nbgrader's exchange that
# talks to ngshare, in the users' environment, without its dependencies (it
# pins jupyter-core<4.11.2, older than jupyter_server 2 needs, and uses only
# jupyter_data_dir of it; rapidfuzz and requests come with the kit's pins).
NGSHARE_EXCHANGE="ngshare-exchange==0.5.3"
# ngshare itself, in an environment of its own: 0.6.0 needs SQLAlchemy 1.4
# (under 2.x a release or a submission is answered "success" and never stored:
# its Assignment and Submission reach the session only by the backref cascade
# SQLAlchemy 2 removed), older than the kit's and the hub's.
NGSHARE="ngshare==0.6.0 SQLAlchemy==1.4.54 alembic==1.19.2"
NGSHARE_ENV="${CNN1D_NGSHARE_ENV:-/opt/tljh/ngshare}"
# CNN1D_* move these folders (the hub's test does)
INSTRUCTORS="formgrade-$COURSE"
ROLES="${CNN1D_ROLES:-/opt/tljh/roles}"
EXCHANGE="${CNN1D_EXCHANGE:-/srv/nbgrader/exchange}"
USER_ENV="${CNN1D_USER_ENV:-/opt/tljh/user}"
BACKUPS="${CNN1D_BACKUPS:-/var/backups/cnn1d}"
CRON_FILE="${CNN1D_CRON_FILE:-/etc/cron.d/cnn1d-backup}"
HUB_CONFIG="${CNN1D_HUB_CONFIG:-/opt/tljh/hub-config}"
BACKUP_USER="${CNN1D_BACKUP_USER:-cnn1d-backup}"

# Debian's packages the host lacks (only those: a host with Node.js from
# elsewhere keeps it; Debian's npm would conflict with it).
packages() {
  local want=()
  command -v npm >/dev/null || want+=(nodejs npm)
  "$PYTHON" -c "import venv, ensurepip" 2>/dev/null || want+=(python3 python3-venv)
  command -v bwrap >/dev/null || want+=(bubblewrap)
  /usr/bin/python3 -c "import seccomp" 2>/dev/null || want+=(python3-seccomp)
  command -v setfacl >/dev/null || want+=(acl)     # the course root's default ACLs
  command -v cron >/dev/null || want+=(cron)       # the hourly backups
  [ "${#want[@]}" -eq 0 ] && return
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${want[@]}"
}

# The hub's environment: jupyterhub and its plugins (LTI 1.3 login, idle
# culler, SystemdSpawner), the jupyterhub* pins of pyproject.toml's dev list,
# with which the hub's tests run.
hub() {
  local pins
  pins="$("$PYTHON" -c "import tomllib; p = tomllib.load(open('$KIT/pyproject.toml', 'rb'))['project']; \
print(' '.join(r for r in p['optional-dependencies']['dev'] if r.startswith('jupyterhub')))")"
  test -x /opt/tljh/hub/bin/python || "$PYTHON" -m venv /opt/tljh/hub
  # shellcheck disable=SC2086
  /opt/tljh/hub/bin/pip install --quiet $pins 2>&1 \
    | { grep -v "is ignored: it is neither a file nor a directory" || true; }
  command -v configurable-http-proxy >/dev/null || npm install --silent -g "$CHP"
  install -d -m 700 /opt/tljh/state
  hub_config
}

# What root runs, copied out of the course into a folder only root may write:
# the hub's configuration, the modules it imports, the backup script. The
# course root is the instructors' group's to write (setup.sh course), so
# loading any of these from it would let an instructor, a teaching assistant
# or anyone the LMS makes one run code as root. Run again after updating the
# checkout (the hub refuses a configuration others may write).
hub_config() {
  install -d -m 755 -o root -g root "$HUB_CONFIG"
  local f
  for f in jupyterhub_config.py cnn1d_lti.py cnn1d_spawner.py cnn1d_ngshare.py; do
    install -m 644 -o root -g root "$KIT/deploy/jupyterhub/$f" "$HUB_CONFIG/$f"
  done
  install -m 644 -o root -g root "$KIT/autograder/isolation.py" "$HUB_CONFIG/cnn1d_isolation.py"
  install -m 644 -o root -g root "$KIT/course/backup.py" "$HUB_CONFIG/cnn1d_backup.py"
}

# The users' environment: a Python every user can run (not one under /root),
# with the kit's pinned packages and jupyterhub's single-user server.
user_env() {
  local prefix="${1:-/opt/tljh/user}"
  local reqs
  reqs="$("$PYTHON" -c "import tomllib; p = tomllib.load(open('$KIT/pyproject.toml', 'rb'))['project']; \
print(' '.join(p['dependencies']))")"
  if ! test -f "$prefix/.cnn1d-installed" || ! cmp -s <(echo "$PYTHON $reqs $JUPYTERHUB") "$prefix/.cnn1d-installed"; then
    rm -rf "${prefix:?}"
    "$PYTHON" -m venv "$prefix"
    # shellcheck disable=SC2086
    "$prefix/bin/pip" install --quiet $reqs "$JUPYTERHUB" 2>&1 \
      | { grep -v "is ignored: it is neither a file nor a directory" || true; }
    echo "$PYTHON $reqs $JUPYTERHUB" > "$prefix/.cnn1d-installed"
  fi
  # shellcheck disable=SC2086
  "$prefix/bin/pip" install --quiet --no-deps $NGSHARE_EXCHANGE 2>&1 \
    | { grep -v "is ignored: it is neither a file nor a directory" || true; }
  # Fail closed: the environment's own defaults are the student's tools
  # (nbgrader's package turns formgrader on for everyone), so a server that
  # cannot read its role's configuration has no instructor extension.
  install -m 644 "$KIT/deploy/jupyterhub/roles/student/jupyter_server_config.json" \
    "$prefix/etc/jupyter/jupyter_server_config.d/nbgrader.json"
  install -D -m 644 "$KIT/deploy/jupyterhub/roles/student/labconfig/page_config.json" \
    "$prefix/etc/jupyter/labconfig/page_config.json"
  chmod -R a+rX "$prefix"
}

# ngshare's environment (deploy/README.md, Several hosts), run by the hub as
# a service; readable by every user (ngshare runs as its own).
ngshare() {
  test -x "$NGSHARE_ENV/bin/python" || "$PYTHON" -m venv "$NGSHARE_ENV"
  # shellcheck disable=SC2086
  "$NGSHARE_ENV/bin/pip" install --quiet $NGSHARE "$JUPYTERHUB" 2>&1 \
    | { grep -v "is ignored: it is neither a file nor a directory" || true; }
  chmod -R a+rX "$NGSHARE_ENV"
}

groups() {
  getent group "formgrade-$COURSE" >/dev/null || groupadd "formgrade-$COURSE"
  getent group "nbgrader-$COURSE" >/dev/null || groupadd "nbgrader-$COURSE"
}

# Each role's Jupyter configuration, outside the course so that every user
# can read it (the hub refuses to start when a student could not).
roles() {
  install -d -m 755 -o root -g root "$ROLES"
  rm -rf "${ROLES:?}/student" "${ROLES:?}/instructor"
  cp -r "$KIT/deploy/jupyterhub/roles/student" "$KIT/deploy/jupyterhub/roles/instructor" "$ROLES/"
  chown -R root:root "$ROLES"
  chmod -R u=rwX,go=rX "$ROLES"
}

# nbgrader's shared exchange. The root is sticky (no one removes or renames
# another's folder) and the course's folders are made here, owned by the
# instructors' group, so no student can create them first. inbound: students
# may only drop folders in it (their names are unguessable), instructors list
# it; feedback: reached by name only.
exchange() {
  install -d -m 1777 -o root -g root "$EXCHANGE"
  install -d -m 2775 -o root -g "$INSTRUCTORS" "$EXCHANGE/$COURSE" "$EXCHANGE/$COURSE/outbound"
  install -d -m 3773 -o root -g "$INSTRUCTORS" "$EXCHANGE/$COURSE/inbound"
  install -d -m 2771 -o root -g "$INSTRUCTORS" "$EXCHANGE/$COURSE/feedback"
}

# The course root (this checkout) belongs to the instructors' group and no one
# else may enter it: solutions, sources, the grader, submissions, grades and
# feedback stay theirs whatever modes nbgrader gives the files it writes later
# (autograded notebooks 0444, collected ones as submitted). Its folders are
# setgid (new files belong to the group) with a default ACL giving the group
# read and write on whatever any of them creates, under any umask; the
# gradebook is made here, group-writable, as SQLite would not make it.
course() {
  test -e "$KIT/gradebook.db" || PATH="$USER_ENV/bin:$PATH" "$USER_ENV/bin/python" -c "import sys
from nbgrader.api import Gradebook
Gradebook('sqlite:///' + sys.argv[1], sys.argv[2]).close()" "$KIT/gradebook.db" "$COURSE"
  chgrp -R "$INSTRUCTORS" "$KIT"
  chmod -R g+rwX,o-rwx "$KIT"
  find "$KIT" -type d -exec chmod g+s {} + \
    -exec setfacl -m "g:$INSTRUCTORS:rwx" -m "d:g:$INSTRUCTORS:rwx" -m d:o::- {} +
  chmod 2770 "$KIT"
}

# Hourly backups (gradebook.db with SQLite's online backup, the exchange and
# the course's submitted/, autograded/, feedback/), the last 48 kept. Never as
# root: as a system user of their own (no login) in the instructors' group, to
# read the course and the exchange. It runs the root-owned copy of
# course/backup.py (hub_config) in isolated mode (-I: neither the working
# folder nor PYTHON* variables on its path), from the backup folder, so it
# runs no code the instructors' group can write; the backup folder is its
# alone (0700), so no instructor reads or plants a backup there.
# Restore (as root, from the same copy): deploy/README.md.
backups() {
  getent passwd "$BACKUP_USER" >/dev/null \
    || useradd --system --no-create-home --home-dir "$BACKUPS" --shell /usr/sbin/nologin "$BACKUP_USER"
  usermod -a -G "$INSTRUCTORS" "$BACKUP_USER"
  hub_config
  install -d -m 700 -o "$BACKUP_USER" -g "$(id -gn "$BACKUP_USER")" "$BACKUPS"
  chown -R "$BACKUP_USER:$(id -gn "$BACKUP_USER")" "$BACKUPS"  # an earlier root's backups
  cat > "$CRON_FILE" <<EOF
# cnn1d: hourly backup of the gradebook and the exchange (deploy/jupyterhub/setup.sh backups)
17 * * * * $BACKUP_USER cd $BACKUPS && $PYTHON -I $HUB_CONFIG/cnn1d_backup.py create --course $KIT --exchange $EXCHANGE --to $BACKUPS --keep 48 >> $BACKUPS/backup.log 2>&1
EOF
  chmod 644 "$CRON_FILE"
}

# The feedback service's own user (course/feedback_service.py): no login, its
# home is its state (the ledger and a copy of each submission), readable by it
# alone; in the instructors' group, to read the kit, list the course's inbound/
# and write its feedback/ (as exchange above makes them).
feedback() {
  local user="${CNN1D_FEEDBACK_USER:-cnn1d-feedback}"
  getent passwd "$user" >/dev/null \
    || useradd --system --create-home --home-dir "/var/lib/$user" --shell /usr/sbin/nologin "$user"
  usermod -a -G "$INSTRUCTORS" "$user"
  chmod 700 "$(getent passwd "$user" | cut -d: -f6)"
}

if [ $# -eq 0 ]; then
  packages; hub; user_env; groups; roles; exchange; course; backups; feedback
  echo "set up for course $COURSE; start the hub with:"
  echo "  CNN1D_KIT=$KIT /opt/tljh/hub/bin/jupyterhub -f $HUB_CONFIG/jupyterhub_config.py"
else
  step="$1"; shift
  "${step//-/_}" "$@"
fi
