"""What each stage's release/ was generated from in this course folder, so that
``make build`` runs nbgrader only for the stages whose inputs changed.

``nbgrader generate_assignment`` writes two things: ``release/<stage>/`` and
the stage's notebooks and cells in this course's ``gradebook.db``. So the
record is the course folder's own, never committed (``.built-from.json``,
ignored by git), and a stage counts as built only when its release folder
exists, the gradebook holds the stage's notebook, and the digest of its
inputs (every file of ``source/<stage>/``, the kit's ``nbgrader_config.py``,
nbgrader's version) is the one recorded when it was last generated here. A
fresh clone therefore builds everything once (and fills its gradebook); an
unchanged course then builds in seconds. ``python -m course build --check``
(and the tests) still regenerate the release and compare.
"""

import hashlib
import json
import sqlite3
from pathlib import Path

FILE = Path(".built-from.json")


def digest(root, stage):
    """The digest of what ``nbgrader generate_assignment`` reads for ``stage``."""
    import nbgrader

    root = Path(root)
    h = hashlib.sha256(f"nbgrader {nbgrader.__version__}\n".encode())
    h.update((root / "nbgrader_config.py").read_bytes())
    folder = root / "source" / stage.name
    for path in sorted(p for p in folder.rglob("*") if p.is_file()
                       and ".ipynb_checkpoints" not in p.parts and "__pycache__" not in p.parts):
        h.update(f"\0{path.relative_to(folder)}\0".encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def recorded(root):
    try:
        return json.loads((Path(root) / FILE).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def in_gradebook(root, stage):
    """Whether ``root``'s gradebook.db holds ``stage``'s notebook (generate_assignment
    puts it there; autograde knows no notebook without it)."""
    path = Path(root) / "gradebook.db"
    if not path.exists():
        return False
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            return db.execute("select count(*) from notebook n join assignment a "
                              "on n.assignment_id = a.id where a.name = ? and n.name = ?",
                              (stage.name, Path(stage.notebook).stem)).fetchone()[0] > 0
    except sqlite3.Error:
        return False


def out_of_date(root, stages):
    """The stages whose release/ or gradebook entry is missing, or that were
    generated here from other inputs."""
    seen = recorded(root)
    return [s for s in stages if not (Path(root) / "release" / s.name).is_dir()
            or not in_gradebook(root, s) or seen.get(s.name) != digest(root, s)]


def record(root, stages):
    """Note that ``stages`` were just generated from their current inputs."""
    seen = recorded(root)
    seen.update({s.name: digest(root, s) for s in stages})
    path = Path(root) / FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(dict(sorted(seen.items())), indent=1) + "\n")
