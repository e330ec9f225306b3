#!/usr/bin/env bash
# Set up one Debian host for the class, in The Littlest JupyterHub's layout.
# Run as root from the kit checkout:  sudo bash deploy/jupyterhub/setup.sh
# Idempotent: running it again brings the host back to this state.
#
#   /opt/tljh/hub    JupyterHub (and configurable-http-proxy from npm, global)
#   /opt/tljh/user   the users' environment: the kit's pinned packages
#   /opt/tljh/state  the hub's database and cookie secret (root only)
#   /srv/nbgrader/exchange   nbgrader's shared exchange (world-writable, as
#                    nbgrader documents; nbgrader sets each course's folders)
#   groups formgrade-<course> (instructors) and nbgrader-<course> (students)
#
# Steps can be run alone: setup.sh packages | hub | user-env [PREFIX] | groups | exchange
set -euo pipefail
KIT="$(cd "$(dirname "$0")/../.." && pwd)"
COURSE="$(sed -n 's/^c\.CourseDirectory\.course_id = "\(.*\)"$/\1/p' "$KIT/nbgrader_config.py")"
JUPYTERHUB="jupyterhub==6.1.1"
# Debian's Python: every user can run it (a Python under /root could not)
PYTHON="${PYTHON:-/usr/bin/python3}"
CHP="configurable-http-proxy@5.3.0"

packages() {
  command -v npm >/dev/null && "$PYTHON" -c "import venv, ensurepip" 2>/dev/null \
    && command -v bwrap >/dev/null && /usr/bin/python3 -c "import seccomp" 2>/dev/null && return
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv nodejs npm bubblewrap python3-seccomp
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
  chmod -R a+rX "$prefix"
}

groups() {
  getent group "formgrade-$COURSE" >/dev/null || groupadd "formgrade-$COURSE"
  getent group "nbgrader-$COURSE" >/dev/null || groupadd "nbgrader-$COURSE"
}

exchange() {
  mkdir -p /srv/nbgrader/exchange
  chmod ugo+rw /srv/nbgrader/exchange
}

if [ $# -eq 0 ]; then
  packages; hub; user_env; groups; exchange
  echo "set up for course $COURSE; start the hub with:"
  echo "  CNN1D_KIT=$KIT /opt/tljh/hub/bin/jupyterhub -f $KIT/deploy/jupyterhub/jupyterhub_config.py"
else
  step="$1"; shift
  "${step//-/_}" "$@"
fi
