"""What a student expects in the notebooks (issue 6): a first cell that checks the environment
and says what to do when it is not right; figures with a caption saying what to notice and with
alt text; the plots of the course (padding modes, feature maps, learning curves, learned
filters, a confusion matrix); a tqdm.auto progress bar on training; headings in order.

Stages 1-4 are executed for real (release notebooks with the reference answers, in a Jupyter
kernel); stage 5 trains for minutes, so its figures are checked in its source and its training
path is run for three steps.
"""

import ast
import copy
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from course import flow
from course.stages import STAGES, get_stage

nbclient = pytest.importorskip("nbclient")

ROOT = Path(__file__).resolve().parents[1]
STAGE_IDS = [s.name for s in STAGES]
CAPTION = "*What to notice:*"
HELPER_PLOT = re.compile(r"\bplot_\w+\(")
NEW_FIGURE = re.compile(r"\bplt\.(subplots|figure)\(")


def _notebook(top, stage):
    return nbformat.read(ROOT / top / stage.name / stage.notebook, as_version=4)


def _setup_source(stage, top="release"):
    [cell] = [c for c in _notebook(top, stage).cells
              if c.metadata.get("nbgrader", {}).get("grade_id") == "setup"]
    return cell.source


def _is_graded_or_answer(cell):
    meta = cell.metadata.get("nbgrader", {})
    return bool(meta.get("grade") or meta.get("solution"))


def _draws_a_figure(cell):
    """A demo code cell that shows a figure: it calls plt.show() or a plot helper."""
    return (cell.cell_type == "code" and not _is_graded_or_answer(cell)
            and ("plt.show()" in cell.source or HELPER_PLOT.search(cell.source)))


def _run_setup(stage, tmp_path, prelude="", without=()):
    """Run the setup cell of ``stage``'s release as a script in a copy of the release folder
    without the files ``without``, with nothing of the kit on the path."""
    folder = tmp_path / stage.name
    shutil.copytree(ROOT / "release" / stage.name, folder)
    for name in without:
        (folder / name).unlink()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["MPLBACKEND"] = "Agg"
    return subprocess.run([sys.executable, "-c", prelude + _setup_source(stage)], cwd=folder,
                          env=env, capture_output=True, text=True, timeout=120)


# ---------------------------------------------------------------- the first cell


@pytest.mark.parametrize("stage", STAGES, ids=STAGE_IDS)
def test_the_first_code_cell_is_the_setup_and_checks_the_environment_first(stage):
    nb = _notebook("source", stage)
    first_code = next(c for c in nb.cells if c.cell_type == "code")
    assert first_code.metadata["nbgrader"]["grade_id"] == "setup"
    assert first_code.metadata["nbgrader"]["locked"]
    body = ast.parse(first_code.source).body
    # try: from cnn1d_helpers import check_environment ... then check_environment(...),
    # before any other import can fail with a bare error
    assert isinstance(body[0], ast.Try)
    assert ast.unparse(body[0].body[0]) == "from cnn1d_helpers import check_environment"
    assert ast.unparse(body[1]).startswith("check_environment(")


@pytest.mark.parametrize("stage", STAGES, ids=STAGE_IDS)
def test_setup_without_the_helper_file_says_how_to_restore_it(stage, tmp_path):
    proc = _run_setup(stage, tmp_path, without=["cnn1d_helpers.py"])
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("ModuleNotFoundError: cnn1d_helpers.py, the course's helper module, "
                           "is not in this notebook's folder."), proc.stderr
    assert (f"`nbgrader fetch_assignment --replace --course=cnn1d {stage.name}`" in last)
    assert "copy cnn1d_helpers.py there from the course release" in last
    assert last.endswith("Then restart the kernel.")
    assert "During handling" not in proc.stderr  # one error, not a chain of two


@pytest.mark.parametrize("stage", STAGES, ids=STAGE_IDS)
def test_setup_runs_in_the_released_folder(stage, tmp_path):
    proc = _run_setup(stage, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("Environment OK: Python 3.11"), proc.stdout


def test_setup_with_an_old_numpy_says_to_upgrade(tmp_path):
    proc = _run_setup(get_stage("single_channel"), tmp_path,
                      prelude="import numpy\nnumpy.__version__ = '1.21.6'\n")
    assert proc.returncode == 1
    assert ("RuntimeError: This environment cannot run the course notebooks:\n"
            "- numpy 1.21.6 is too old (the course needs numpy 1.24 or newer): run "
            "`pip install --upgrade 'numpy>=2'`\n"
            "Then restart the kernel (Kernel > Restart Kernel) and run the notebook again "
            "from the top.") in proc.stderr


def test_setup_without_numpy_says_to_install_it(tmp_path):
    proc = _run_setup(get_stage("single_channel"), tmp_path,
                      prelude="import sys\nsys.modules['numpy'] = None  # not installed\n")
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1] == (
        "ModuleNotFoundError: numpy is not installed: run `pip install numpy`, then restart "
        "the kernel.")


def test_training_setup_names_a_missing_file_and_how_to_restore_it(tmp_path):
    proc = _run_setup(get_stage("training"), tmp_path, without=["mnist784_5k.npz"])
    assert proc.returncode == 1
    assert (f"- mnist784_5k.npz is missing from {tmp_path / 'training'}: restore it with "
            "`nbgrader fetch_assignment --replace --course=cnn1d training` run in the folder "
            "above, or copy it there from the course release") in proc.stderr


# ---------------------------------------------------------------- headings


def _headings(nb):
    """(level, text) of every markdown heading, fenced code excepted."""
    found = []
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        assert not re.search(r"<h[1-6]\b", cell.source, re.I), "an HTML heading"
        fenced = False
        for line in cell.source.splitlines():
            if line.lstrip().startswith("```"):
                fenced = not fenced
            m = re.match(r"(#{1,6})\s+(.*)", line)
            if m and not fenced:
                found.append((len(m.group(1)), m.group(2)))
    return found


@pytest.mark.parametrize("top", ["source", "release"])
@pytest.mark.parametrize("stage", STAGES, ids=STAGE_IDS)
def test_headings_are_in_order(stage, top):
    nb = _notebook(top, stage)
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    headings = _headings(nb)
    assert [level for level, _ in headings].count(1) == 1, "one H1, the title"
    assert headings[0][0] == 1
    for (before, _), (level, text) in zip(headings, headings[1:], strict=False):
        assert level <= before + 1, f"{text!r}: H{level} right after an H{before}"


# ---------------------------------------------------------------- figures and captions


@pytest.mark.parametrize("stage", STAGES, ids=STAGE_IDS)
def test_every_figure_has_a_caption_saying_what_to_notice(stage):
    cells = _notebook("source", stage).cells
    figures = [i for i, c in enumerate(cells) if _draws_a_figure(c)]
    assert figures
    for i in figures:
        caption = cells[i + 1] if i + 1 < len(cells) else None
        assert caption is not None and caption.cell_type == "markdown", cells[i].id
        assert caption.source.startswith(CAPTION), f"{cells[i].id}: {caption.source[:60]!r}"
        assert len(caption.source.split()) >= 15, f"{caption.id}: a caption says what to notice"


@pytest.mark.parametrize("stage", STAGES, ids=STAGE_IDS)
def test_every_figure_a_notebook_draws_itself_gets_alt_text(stage):
    """The plot helpers give their figures alt text (test_cnn1d_helpers.py); a figure made
    in a cell with plt.subplots or plt.figure needs a set_alt_text of its own."""
    for cell in _notebook("source", stage).cells:
        if cell.cell_type == "code" and NEW_FIGURE.search(cell.source):
            assert cell.source.count("set_alt_text(fig, ") == len(NEW_FIGURE.findall(cell.source))


def test_the_notebooks_show_the_plots_of_the_course():
    shown = {}
    for stage in STAGES:
        for cell in _notebook("source", stage).cells:
            if _draws_a_figure(cell):
                for name in HELPER_PLOT.findall(cell.source):
                    shown.setdefault(name[:-1], stage.name)
    assert shown["plot_padding_modes"] == "mini_batch"
    assert shown["plot_feature_maps"] == "multi_channel"
    for plot in ("plot_history", "plot_filters", "plot_layer_outputs", "plot_confusion_matrix"):
        assert shown[plot] == "training", plot  # learning curves, filters, feature maps


# ---------------------------------------------------------------- executed for real


def _execute(nb, folder):
    client = nbclient.NotebookClient(nb, kernel_name="python3", timeout=300,
                                     resources={"metadata": {"path": str(folder)}})
    client.execute()
    return nb


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """{stage name: the release notebook with the reference answers, executed in a kernel}."""
    done = {}
    for stage in STAGES[:4]:
        folder = tmp_path_factory.mktemp("executed") / stage.name
        shutil.copytree(ROOT / "release" / stage.name, folder)
        nb = _notebook("release", stage)
        flow.fill_answers(nb, flow.reference_answers(stage))
        done[stage.name] = _execute(nb, folder)
    return done


def _images(nb):
    return [(cell, out) for cell in nb.cells for out in cell.get("outputs", [])
            if "image/png" in out.get("data", {})]


@pytest.mark.parametrize("name", STAGE_IDS[:4])
def test_every_figure_is_shown_once_as_an_image_with_alt_text(executed, name):
    nb = executed[name]
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors, errors
    images = _images(nb)
    assert images
    for cell, out in images:
        m = re.fullmatch(r'<img alt="([^"]+)" src="data:image/png;base64,([^"]+)">',
                         out.data.get("text/html", ""))
        assert m, f"{cell.id}: an image without alt text"
        assert m.group(2) == out.data["image/png"]
        assert len(m.group(1)) > 60, m.group(1)
    # once: as many images as figure cells (stage 1 to 4 show one figure per cell)
    figure_cells = [c for c in nb.cells if _draws_a_figure(c)]
    assert sorted(c.id for c, _ in images) == sorted(c.id for c in figure_cells)


@pytest.mark.parametrize("template", ["lab", "classic", "feedback"])
def test_exported_html_keeps_the_alt_text(executed, template):
    """nbconvert's HTML, and nbgrader's feedback template built on its classic one."""
    from nbconvert import HTMLExporter
    from nbgrader.converters.generate_feedback import GenerateFeedback
    from traitlets.config import Config

    nb = copy.deepcopy(executed["single_channel"])
    if template == "feedback":
        exporter = HTMLExporter(config=GenerateFeedback().config)  # nbgrader's settings
        resources = {"nbgrader": {"notebook": "single_channel", "score": 1, "max_score": 1,
                                  "late_penalty": 0}}
        for cell in nb.cells:  # what nbgrader's autograde records
            meta = cell.metadata.get("nbgrader", {})
            if meta.get("grade"):
                meta["score"] = meta["points"]
    else:
        exporter, resources = HTMLExporter(config=Config(), template_name=template), {}
    body, _ = exporter.from_notebook_node(nb, resources=resources)
    alts = [m for m in re.findall(r'<img alt="([^"]*)" src="data:image/png', body) if m]
    assert len(alts) == len(_images(nb)) == 2
    assert alts[0].startswith("Bar chart of an input x of 4 samples with a filter of 3 weights")


def test_training_shows_a_tqdm_auto_progress_bar(tmp_path):
    """The notebook's own training cell, with 3 steps instead of thousands, in a kernel:
    tqdm.auto picks the notebook bar (a progress widget), which ends full."""
    stage = get_stage("training")
    folder = tmp_path / stage.name
    shutil.copytree(ROOT / "source" / stage.name, folder)
    source = {c.id: c.source for c in _notebook("source", stage).cells}
    assert "self._progress_bar()" in source["classifier"].split("def fit(")[1]
    # the bar is given (ClassifierBase._progress_bar, in the reference module), not the student's
    given = (ROOT / "release" / stage.name / "cnn1d_reference.py").read_text()
    assert "from tqdm.auto import tqdm" in given.split("def _progress_bar(")[1]
    assert "verbose=False" not in source["train-mnist1d"]
    short = '''_Full = Scratch1dCNNClassifier


class Scratch1dCNNClassifier(_Full):  # the notebook's classifier, 3 steps
    def __init__(self, **kwargs):
        super().__init__(**{**kwargs, "steps": 3, "eval_every": 1})


rng = np.random.default_rng(0)
X_tr, X_val = rng.normal(size=(60, 40)), rng.normal(size=(20, 40))
y_tr, y_val = np.arange(60) % 10, np.arange(20) % 10'''
    cells = [source[i] for i in ("setup", "maxpool1d", "flatten_layer", "classifier")]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in
                                         cells + [short, source["train-mnist1d"]]])
    _execute(nb, folder)
    bar, printed = nb.cells[-1].outputs
    assert "application/vnd.jupyter.widget-view+json" in bar.data
    assert bar.data["text/plain"].startswith("training:   0%|")
    assert printed.text.startswith("MNIST-1D validation accuracy:")
    state = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    [progress] = [m["state"] for m in state.values() if m["model_name"] == "FloatProgressModel"]
    assert progress["value"] == progress["max"] == 3 and progress["bar_style"] == "success"


SCRIPT = re.compile(r"%%javascript|%%js\b|\bJavascript\(|<script|application/javascript",
                    re.IGNORECASE)


@pytest.mark.parametrize("top", ["source", "release"])
def test_no_custom_javascript_in_the_notebooks(top):
    """JupyterLab conventions: nothing a notebook or the helper module runs in the browser."""
    for stage in STAGES:
        for cell in _notebook(top, stage).cells:
            assert not SCRIPT.search(cell.source), (stage.name, cell.id)
        for asset in stage.assets:
            if asset.endswith(".py"):
                helper = (ROOT / top / stage.name / Path(asset).name).read_text()
                assert not SCRIPT.search(helper), (stage.name, asset)


@pytest.mark.parametrize("name", STAGE_IDS[:4])
def test_executed_outputs_hold_no_javascript(executed, name):
    for cell in executed[name].cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            assert not any("javascript" in mime for mime in data), (cell.id, list(data))
            assert "<script" not in str(data.get("text/html", "")).lower(), cell.id


def test_the_javascript_check_can_fail():
    for text in ("%%javascript\nalert(1)", "display(Javascript('x'))", "<SCRIPT>x</script>"):
        assert SCRIPT.search(text)
