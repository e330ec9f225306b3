"""Stage 5 (training) against issue 13: three written questions graded in formgrader, a visible
numerical gradient check of MaxPool1d that catches a wrong backward, a fit task that states
requirements instead of handing out the loop, F for the pooling window (K is the number of
classes), no reference internals in the answer cells, and the whole notebook running within
its time budget with the figures and numbers its captions describe.
"""

import re
import shutil
import time
from pathlib import Path

import nbformat
import numpy as np
import pytest

from course import flow
from course.stages import get_stage
from solutions import MaxPool1d, check_layer_gradients

ROOT = Path(__file__).resolve().parents[1]
STAGE = get_stage("training")
VALIDATE_TIMEOUT = 900  # the cell timeout `make lab` gives nbgrader's Validate (Makefile)


def _cells(top="source"):
    return nbformat.read(ROOT / top / "training" / "training.ipynb", as_version=4).cells


def _by_id(cell_id, top="source"):
    [cell] = [c for c in _cells(top) if c.id == cell_id]
    return cell


# ---------------------------------------------------------------- written questions


@pytest.mark.parametrize("top", ["source", "release"])
def test_three_written_questions_with_their_points_and_no_rubric_in_the_release(top):
    cells = _cells(top)
    answers = [(i, c) for i, c in enumerate(cells)
               if c.metadata.get("nbgrader", {}).get("grade")
               and c.metadata["nbgrader"].get("solution")]
    assert [c.metadata["nbgrader"]["grade_id"] for _, c in answers] == [
        q.grade_id for q in STAGE.written]
    for (i, cell), question in zip(answers, STAGE.written, strict=True):
        assert cell.cell_type == "markdown"
        assert cell.metadata["nbgrader"]["points"] == question.points
        asked = cells[i - 1].source
        assert asked.startswith(f"**Question {STAGE.written.index(question) + 1} "
                                f"({question.points:g} points, graded by your instructor).**")
        if top == "source":
            assert "**Rubric" in cell.source
        else:
            assert "Rubric" not in cell.source and "YOUR ANSWER HERE" in cell.source
    assert STAGE.written_points == 6
    assert STAGE.total_points == STAGE.max_score + 6


# ---------------------------------------------------------------- the visible gradient check


def _visible(cell_id):
    return _by_id(cell_id).source.split("### BEGIN HIDDEN TESTS")[0]


class ChannelZeroMaxPool(MaxPool1d):
    """A plausible bug the worked examples (one channel) cannot see: backward routes every
    channel's gradient to the maxima found in channel 0."""

    def forward(self, x):
        self._x = np.array(x, dtype=float)
        return super().forward(x)

    def backward(self, dout):
        x = self._x
        copies = np.repeat(x[:, :1], x.shape[1], axis=1)
        super().forward(copies)
        return super().backward(dout)


def _run_visible_backward_test(cls):
    namespace = {"np": np, "MaxPool1d": cls, "check_layer_gradients": check_layer_gradients,
                 "print": lambda *a, **k: None}
    exec(_visible("test-maxpool-backward"), namespace)  # noqa: S102 - the notebook's own test


def test_the_visible_maxpool_test_checks_dx_numerically_for_overlaps_and_gaps():
    source = _visible("test-maxpool-backward")
    assert "check_layer_gradients(MaxPool1d(F, stride=S), x_check)" in source
    assert "[(2, 2), (3, 2), (3, 1), (2, 3)]" in source
    _run_visible_backward_test(MaxPool1d)


def test_the_visible_maxpool_gradient_check_catches_a_wrong_backward():
    with pytest.raises(AssertionError, match="differs from the numerical gradient"):
        _run_visible_backward_test(ChannelZeroMaxPool)


def test_the_mutant_passes_the_worked_examples():
    """So it is the numerical check, not the worked examples, that catches it."""
    pool = ChannelZeroMaxPool(2)
    pool.forward(np.array([[[1.0, 3.0, 2.0, 5.0, 4.0, 0.0]]]))
    np.testing.assert_array_equal(pool.backward(np.array([[[1.0, 2.0, 3.0]]])),
                                  [[[0.0, 1.0, 0.0, 2.0, 3.0, 0.0]]])


# ---------------------------------------------------------------- text


def test_the_fit_task_states_requirements_and_hands_out_no_code():
    task = _by_id("task-classifier").source
    for line in ("rng.permutation(N)", "perm[", "xb = X[idx]", "loss_fn.forward(",
                 "loss_fn.backward()", "bar.update(1)", "opt.step(self.layers_)",
                 "reversed("):
        assert line not in task, line
    for requirement in ("self._setup_fit", "self.steps", "epoch", "self.augment",
                        "self._record", "evaluation mode"):
        assert requirement in task, requirement


POOLING_CELLS = ("pooling", "pooling-figure", "pooling-caption", "pool-backward", "task-maxpool",
                 "pool-gradient-figure", "pool-gradient-caption", "test-maxpool-forward",
                 "test-maxpool-backward")


def test_the_pooling_window_is_F_and_K_means_classes_only():
    for cell_id in POOLING_CELLS:
        assert not re.search(r"\bK\b", _visible(cell_id)), cell_id
    assert "$F$" in _by_id("pooling").source
    assert "(N, K)` for $K$ classes" in _by_id("task-classifier").source


@pytest.mark.parametrize("stage", ["single_channel", "output_size", "multi_channel",
                                   "mini_batch", "training"])
def test_no_internals_of_the_reference_in_any_answer_cell(stage):
    """What a student's answer cell shows is the contract: no tuning knobs or layout notes of
    the reference (issue 20, item 9)."""
    nb = nbformat.read(ROOT / "release" / stage / f"{stage}.ipynb", as_version=4)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("solution") and cell.cell_type == "code":
            for internal in ("max_cols_bytes", "per_sample_min_l_out", "cols[n]", "im2col",
                             "(C_in*F, L_out)"):
                assert internal not in cell.source, (cell.id, internal)
            if "class Conv1d" in cell.source and stage == "mini_batch":
                # "same" can be asymmetric: the docstring says so instead of "on each side"
                assert "the odd one on\n        the right" in cell.source, cell.id


def test_the_classifier_answer_cell_holds_only_what_the_student_writes():
    """The given part of the classifier is ClassifierBase in cnn1d_reference.py; the answer
    cell subclasses it with fit, predict, predict_proba (and the two layer classes), so no
    given code sits unprotected among the stubs (issue 20, item 12)."""
    import ast

    cell = _by_id("classifier", "release")
    tree = ast.parse(cell.source)
    [cls] = [n for n in tree.body if isinstance(n, ast.ClassDef)]
    assert [ast.unparse(b) for b in cls.bases] == ["ClassifierBase"]
    methods = [n.name for n in cls.body if isinstance(n, ast.FunctionDef)]
    assert methods == ["fit", "predict_proba", "predict"]
    assert len(cell.source.splitlines()) < 120
    reference = (ROOT / "release" / "training" / "cnn1d_reference.py").read_text()
    assert "class ClassifierBase:" in reference and "def _setup_fit(" in reference
    assert "class Scratch1dCNNClassifier" not in reference


# ---------------------------------------------------------------- run it all


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """The release with the reference answers, run in a kernel as Validate runs it; returns
    the notebook and the wall time."""
    nbclient = pytest.importorskip("nbclient")
    folder = tmp_path_factory.mktemp("stage5") / "training"
    shutil.copytree(ROOT / "release" / "training", folder)
    nb = nbformat.read(folder / "training.ipynb", as_version=4)
    flow.fill_answers(nb, flow.reference_answers(STAGE))
    client = nbclient.NotebookClient(nb, kernel_name="python3", timeout=VALIDATE_TIMEOUT,
                                     resources={"metadata": {"path": str(folder)}})
    start = time.perf_counter()
    client.execute()
    return nb, time.perf_counter() - start


def _printed(nb, cell_id):
    [cell] = [c for c in nb.cells if c.id == cell_id]
    return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")


@pytest.mark.slow
def test_the_whole_notebook_runs_within_its_time_budget(executed):
    nb, seconds = executed
    errors = [(c.id, o.ename) for c in nb.cells for o in c.get("outputs", [])
              if o.output_type == "error"]
    assert not errors
    assert seconds <= STAGE.time_budget, f"{seconds:.0f} s > {STAGE.time_budget:.0f} s"


@pytest.mark.slow
def test_the_executed_notebook_shows_what_its_captions_say(executed):
    nb, _ = executed
    # the optimiser demo: SGD creeps, momentum and Adam end more than ten times closer
    final = {m.group(1).strip(): float(m.group(2)) for m in re.finditer(
        r"^(.*?)distance to the minimum after 20 steps [\d.]+, after 100 steps ([\d.]+)$",
        _printed(nb, "optimisers-figure"), re.M)}
    sgd = final.pop("SGD lr 0.019")
    assert len(final) == 2 and all(10 * d < sgd for d in final.values()), final
    # the gradient check prints tiny errors
    errors = [float(e) for e in re.findall(r"relative error of dx (\S+)",
                                           _printed(nb, "test-maxpool-backward"))]
    assert len(errors) == 4 and max(errors) < 1e-8
    # shuffling the positions hurts the CNN far more than the MLP
    acc = {(m, v): float(a) for m, v, a in re.findall(
        r"^(CNN|MLP 100-100)\s+(original|shuffled)\s+validation accuracy ([\d.]+)$",
        _printed(nb, "shuffled-demo"), re.M)}
    cnn_drop = acc["CNN", "original"] - acc["CNN", "shuffled"]
    mlp_drop = acc["MLP 100-100", "original"] - acc["MLP 100-100", "shuffled"]
    assert cnn_drop > 0.2 and mlp_drop < 0.05, acc
    # the test set is scored once, at the end, and the CNN is good
    assert re.match(r"the CNN of section 11: validation accuracy 0\.9\d\d, test accuracy "
                    r"0\.9\d\d", _printed(nb, "final-test-score"))


# ---------------------------------------------------------------- the real signal


def test_the_ecg_is_scipys_recording_with_its_documented_statistics(tmp_path):
    from course.cnn1d_helpers import load_ecg

    path = ROOT / "course" / "data" / "ecg_mitdb208.npz"
    ecg, fs = load_ecg(path)
    assert fs == 360 and ecg.shape == (108000,)
    # scipy 1.11's own test of scipy.misc.electrocardiogram
    np.testing.assert_allclose(ecg.mean(), -0.16510875, atol=1e-7)
    np.testing.assert_allclose(ecg.std(), 0.5992473991177294, atol=1e-7)
    broken = tmp_path / "ecg.npz"
    data = bytearray(path.read_bytes())
    data[1000] ^= 0xFF                                  # one byte flipped
    broken.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="is corrupt"):
        load_ecg(broken)
    with pytest.raises(FileNotFoundError, match="copy it back from the release"):
        load_ecg(tmp_path / "missing.npz")


@pytest.mark.slow
def test_the_ecg_demo_finds_the_beats_and_shows_equivariance(executed):
    nb, _ = executed
    printed = _printed(nb, "ecg-demo")
    m = re.match(r"(\d+) beats in 10 s; time between beats ([\d.]+)-([\d.]+) s", printed)
    assert m and 15 <= int(m.group(1)) <= 25, printed
    assert 0.4 <= float(m.group(2)) <= float(m.group(3)) <= 0.7
    assert ("the response is the old one shifted by 100: True; beats found 100 samples "
            "later: True") in printed
