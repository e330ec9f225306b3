"""What each stage's release/ was generated from, so that ``make build`` runs
nbgrader only for the stages whose inputs changed.

``release/.built-from.json`` maps a stage to the digest of its inputs: every
file of ``source/<stage>/``, the kit's ``nbgrader_config.py`` and nbgrader's
version. The build writes it after ``nbgrader generate_assignment``; a fresh
clone carries it, so an unchanged course builds in seconds.
``python -m course build --check`` (and the tests) still regenerate the
release and compare, so a digest can never hide a release that drifted.
"""

import hashlib
import json
from pathlib import Path

FILE = Path("release") / ".built-from.json"


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


def out_of_date(root, stages):
    """The stages whose release/ is missing or was generated from other inputs."""
    seen = recorded(root)
    return [s for s in stages if not (Path(root) / "release" / s.name).is_dir()
            or seen.get(s.name) != digest(root, s)]


def record(root, stages):
    """Note that ``stages`` were just generated from their current inputs."""
    seen = recorded(root)
    seen.update({s.name: digest(root, s) for s in stages})
    path = Path(root) / FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(dict(sorted(seen.items())), indent=1) + "\n")
