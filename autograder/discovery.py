"""Which notebook of a student's assignment folder is the submission.

nbgrader grades ``submitted/<student>/<assignment>/<notebook>.ipynb`` by its
exact name, and students rename: a browser saves a second download as
``single_channel (1).ipynb``, Canvas and Moodle keep the uploaded file's
name, a student adds theirs (``single_channel_gina.ipynb``), JupyterLab's
Duplicate writes ``single_channel-Copy1.ipynb``. One rule, the same for
``nbgrader autograde``, ``python -m course grade`` and
``python -m autograder grade``:

- the notebooks *of a stage* in a folder are the one with the stage's exact
  name, those whose name starts with the stage's name, and those that hold
  the stage's answer cells;
- the exact name, when present and readable, is graded (the others are
  listed in the log as not graded);
- else one notebook of the stage, or several with the same answer cells, is
  graded under the exact name (nbgrader's flow renames the file; a line in
  the log says so);
- else (none, several that differ, an exact name that is not a notebook) the
  submission gets a failed result whose message says what was found.

Everything else in the folder (``scratch.ipynb``, notes) is left alone.
"""

import hashlib
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from course.stages import STAGES, get_stage

ROOT = Path(__file__).resolve().parents[1]
# notebook metadata of the stand-in graded when no notebook can be: the reason
UNRESOLVED_KEY = "cnn1d_unresolved"
# {absolute path of the exact notebook: reason} for nbgrader's exporter, filled by the hook
UNRESOLVED = {}

log = logging.getLogger(__name__)


class Unreadable(ValueError):
    """A file named like a notebook that is not one."""


def read_notebook(path):
    """The notebook at ``path``; Unreadable with the reason a student can act on."""
    data = Path(path).read_bytes()
    if not data.strip():
        raise Unreadable(f"{Path(path).name} is empty")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Unreadable(f"{Path(path).name} is not UTF-8 text (byte {exc.start}): not a "
                         "notebook saved by Jupyter") from None
    try:
        nb = nbformat.reads(text, as_version=4)
    except Exception as exc:  # noqa: BLE001 - nbformat raises many kinds
        raise Unreadable(f"{Path(path).name} is not a notebook ({type(exc).__name__}: "
                         f"{str(exc)[:200]})") from None
    if not isinstance(nb.get("cells"), list):
        raise Unreadable(f"{Path(path).name} is not a notebook (no list of cells)")
    return nb


def _ids(nb):
    return {((c.get("metadata") or {}).get("nbgrader") or {}).get("grade_id")
            for c in nb.get("cells", []) if isinstance(c, dict)}


def stage_of(path, nb=None):
    """The stage a notebook belongs to: by its name (the exact name or a
    renamed copy: the longest stage name its name starts with), else by its
    answer cells (the stage with the most answer cells all present); None
    when neither tells."""
    stem = Path(path).stem
    named = [s for s in STAGES if stem.startswith(s.name)]
    if named:
        return max(named, key=lambda s: len(s.name))
    if nb is None:
        return None
    ids = _ids(nb)
    held = [s for s in STAGES if {a.grade_id for a in s.answers} <= ids]
    return max(held, key=lambda s: len(s.answers)) if held else None


def _answers_digest(nb, stage):
    found = {}
    for cell in nb.cells:
        grade_id = ((cell.get("metadata") or {}).get("nbgrader") or {}).get("grade_id")
        if cell.get("cell_type") == "code" and grade_id in {a.grade_id for a in stage.answers}:
            found.setdefault(grade_id, cell.get("source", ""))
    return hashlib.sha256(json.dumps(sorted(found.items())).encode()).hexdigest()


@dataclass
class Resolution:
    """What a folder holds for one stage: the notebook to grade, or why none."""

    stage: object
    folder: Path
    notebook: Path = None  # the file to grade (its name may differ from the stage's)
    problem: str = None  # why nothing can be graded: the failed result's message
    ignored: list = field(default_factory=list)  # (name, why) of notebooks not graded

    @property
    def exact(self):
        return self.folder / self.stage.notebook

    @property
    def renamed(self):
        return self.notebook is not None and self.notebook.name != self.stage.notebook


def resolve(folder, stage, extra=()):
    """Resolution of ``folder``'s notebooks for ``stage`` (see the module's rule).

    ``extra`` lists more paths the student's submission held elsewhere (shown
    in the message when nothing can be graded).
    """
    folder, stage = Path(folder), get_stage(stage) if isinstance(stage, str) else stage
    res = Resolution(stage, folder)
    files = sorted(p for p in folder.glob("*.ipynb") if p.is_file())
    readable, unreadable, others = {}, {}, []
    for path in files:
        try:
            nb = read_notebook(path)
        except (Unreadable, OSError) as exc:
            if path.stem.startswith(stage.name):
                unreadable[path] = str(exc)
            else:
                others.append((path.name, str(exc)))
            continue
        if (nb.metadata or {}).get(UNRESOLVED_KEY):  # the grader's own stand-in
            continue
        if stage_of(path, nb) is stage:
            readable[path] = nb
        else:
            others.append((path.name, "not a notebook of this stage"))
    exact = res.exact
    found = ", ".join([*(p.name for p in files), *map(str, extra)]) or "nothing"
    if exact in unreadable:
        res.problem = (f"{unreadable[exact]}; nothing was graded. Open it in JupyterLab, "
                       f"save it as {stage.notebook} and submit again (found: {found})")
        return res
    res.ignored = [*others, *((p.name, why) for p, why in unreadable.items())]
    if exact in readable:
        res.notebook = exact
        res.ignored += [(p.name, "a second notebook of this stage; the exact name was graded")
                        for p in readable if p != exact]
        return res
    digests = {}
    for path, nb in readable.items():
        digests.setdefault(_answers_digest(nb, stage), []).append(path)
    if len(digests) == 1:
        (paths,) = digests.values()
        res.notebook = paths[0]
        res.ignored += [(p.name, "the same answers as the one graded") for p in paths[1:]]
        return res
    if not digests:
        res.problem = (f"no notebook of {stage.name} was found (found: {found}); nothing was "
                       f"graded. Submit your notebook as {stage.notebook}")
    else:
        res.problem = (f"several notebooks of {stage.name} with different answers were found "
                       f"({', '.join(p.name for p in readable)}), and none is named "
                       f"{stage.notebook}; nothing was graded. Keep the one to grade, named "
                       f"{stage.notebook}, and submit again")
    return res


def rename(res, say=None):
    """Give the notebook to grade its exact name, in place (nbgrader's flow)."""
    say = say or log.warning
    if res.renamed and not res.exact.exists():
        os.replace(res.notebook, res.exact)
        say(f"renamed {res.notebook} to {res.exact.name} (the only notebook of "
            f"{res.stage.name} in the submission)")
        res.notebook = res.exact
    for name, why in res.ignored:
        say(f"not graded: {res.folder / name} ({why})")
    if res.problem:
        say(f"{res.folder}: {res.problem}")


def stand_in(stage, reason):
    """The notebook graded in place of a submission that has none: the
    released notebook, a first cell saying why, the reason in its metadata."""
    nb = nbformat.read(ROOT / "release" / stage.name / stage.notebook, as_version=4)
    nb.metadata[UNRESOLVED_KEY] = reason
    nb.cells.insert(0, nbformat.v4.new_markdown_cell(
        f"**Not graded: {reason}.** This page stands in for your submission; your own "
        "files are unchanged."))
    return nb


def nbgrader_hook(assignment=None, student=None, notebooks=None, **_):
    """nbgrader's ``Autograde.pre_convert_hook``: resolve the student's folder,
    rename a renamed notebook, and leave nbgrader the exact name only.

    nbgrader passes the list of notebooks it is about to grade; it is changed
    in place. A folder with no gradable notebook keeps the exact name too:
    ``SubmissionExporter`` then reads the stand-in, which fails every check
    with the reason.
    """
    if not notebooks:
        return
    folder = Path(notebooks[0]).parent
    try:
        stage = get_stage(folder.name)
    except (KeyError, ValueError):
        return  # not one of the kit's stages: nbgrader as usual
    from traitlets.log import get_logger

    res = resolve(folder, stage)
    rename(res, get_logger().warning)
    if res.problem:
        UNRESOLVED[os.path.abspath(res.exact)] = res.problem
    notebooks[:] = [str(res.exact)]


def _submission_exporter():
    from nbconvert.exporters import NotebookExporter

    class SubmissionExporter(NotebookExporter):
        """nbgrader's notebook exporter for Autograde, reading a notebook that
        cannot be graded (``nbgrader_hook`` found none, or it is not JSON, not
        UTF-8, empty) as the stand-in that says why."""

        def from_filename(self, filename, resources=None, **kw):
            reason = UNRESOLVED.get(os.path.abspath(filename))
            if reason is None:
                try:
                    read_notebook(filename)
                except Unreadable as exc:
                    reason = str(exc)
                except FileNotFoundError:
                    reason = f"no {Path(filename).name} was submitted"
            if reason is None:
                return super().from_filename(filename, resources, **kw)
            resources = resources if resources is not None else {}
            resources.setdefault("metadata", {})
            resources["metadata"].update(name=Path(filename).stem, path=str(Path(filename).parent))
            stage = stage_of(filename) or get_stage(Path(filename).parent.name)
            return self.from_notebook_node(stand_in(stage, reason), resources, **kw)

    SubmissionExporter.__qualname__ = "SubmissionExporter"  # pickled by its module's name
    return SubmissionExporter


def __getattr__(name):
    """``SubmissionExporter`` made on first use: nbconvert is imported only where
    nbgrader asks for the exporter, not in every grading command (0.4 s of CPU)."""
    if name == "SubmissionExporter":
        globals()[name] = _submission_exporter()
        return globals()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class Unresolved(os.PathLike):
    """A submission with no notebook to grade, where its notebook should be:
    graded as a failed result that says why (``python -m autograder grade``)."""

    def __init__(self, stage, path, reason):
        self.stage, self.path, self.reason = stage, Path(path), reason

    def __fspath__(self):
        return str(self.path)

    def __str__(self):
        return str(self.path)

    def __repr__(self):
        return f"Unresolved({self.stage.name!r}, {str(self.path)!r})"


def _stage_named(name):
    return next((s for s in STAGES if s.name == name), None)


def tree_submissions(root, student=None, say=None):
    """[(student, notebook path or Unresolved)] of a folder given to
    ``python -m autograder grade``, one per student and stage.

    The folder is a submitted/ tree (``<student>/<stage>/<notebook>``), one
    student's folder (``<stage>/<notebook>``), an assignment folder, or a
    folder of notebooks. A student is a folder at the top of a tree: a
    notebook deeper down (``mallory/alice/single_channel/...``) is mallory's,
    never graded, and named in the message when mallory has no notebook of
    that stage where it belongs. Notebooks of no stage are listed and left.
    ``say`` receives a line per renamed or ignored file. ValueError when the
    folder holds no notebook of any stage.
    """
    root, say = Path(root), say or log.warning
    notebooks = sorted(p for p in root.rglob("*.ipynb")
                       if ".ipynb_checkpoints" not in p.relative_to(root).parts)
    if _stage_named(root.name):  # an assignment folder: <student>/<stage>/
        groups = {(student or root.resolve().parent.name, root.name): (root, [])}
        strays = {}
    else:
        groups, strays = {}, {}
        stage_dirs = [d for d in root.glob("*/*") if d.is_dir() and _stage_named(d.name)]
        for d in stage_dirs:  # every <student>/<stage>/ folder, notebooks or not
            groups[(student or d.parent.name, d.name)] = (d, [])
        for d in (d for d in root.iterdir() if d.is_dir() and _stage_named(d.name)):
            groups[(student or root.resolve().name, d.name)] = (d, [])  # one student's folder
        for nb_path in notebooks:
            rel = nb_path.relative_to(root).parts
            folder = nb_path.parent
            if any(folder == g[0] for g in groups.values()):
                continue
            if len(rel) <= 2:  # a folder of notebooks: each by its own stage
                stage = _stage_from_file(nb_path)
                who = student or (rel[0] if len(rel) == 2 else root.resolve().name)
                if stage is None:
                    say(f"not graded: {nb_path} (not a notebook of any stage)")
                    continue
                groups.setdefault((who, stage.name), (folder, []))
            else:
                strays.setdefault(student or rel[0], []).append(nb_path)
    found = []
    for (who, stage_name), (folder, _) in sorted(groups.items()):
        stage = _stage_named(stage_name)
        extra = [p.relative_to(root) for p in strays.get(who, [])
                 if _stage_from_file(p) is stage]
        res = resolve(folder, stage, extra)
        for name, why in res.ignored:
            say(f"not graded: {folder / name} ({why})")
        if res.renamed:
            say(f"graded {res.notebook} as {stage.notebook} (the only notebook of "
                f"{stage.name} in the folder)")
        if res.notebook is not None:
            found.append((who, res.notebook))
        else:
            say(f"{folder}: {res.problem}")
            found.append((who, Unresolved(stage, res.exact, res.problem)))
    for who, paths in sorted(strays.items()):
        for nb_path in paths:
            stage = _stage_from_file(nb_path)
            say(f"not graded: {nb_path} (a notebook must be at <student>/<stage>/"
                f"<stage>.ipynb; it is {who}'s file)")
            if stage is not None and (who, stage.name) not in groups:
                groups[(who, stage.name)] = (None, [])
                reason = (f"no notebook of {stage.name} at {who}/{stage.name}/"
                          f"{stage.notebook} (found: {nb_path.relative_to(root)}); nothing "
                          "was graded")
                found.append((who, Unresolved(stage, root / who / stage.name / stage.notebook,
                                              reason)))
    if not found:
        raise ValueError(f"{root} holds no notebook of any stage (expected "
                         f"<student>/<stage>/<stage>.ipynb, e.g. ada/{STAGES[0].name}/"
                         f"{STAGES[0].notebook})")
    return found


def _stage_from_file(path):
    """stage_of(path) reading the notebook when its name does not tell."""
    stage = stage_of(path)
    if stage is None:
        try:
            stage = stage_of(path, read_notebook(path))
        except (Unreadable, OSError):
            return None
    return stage
