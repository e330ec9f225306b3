"""What the text of stages 1 to 4 promises, checked against the code (issue 13): the
speed limit the notebook states is the grader's; code the students are to write is not
handed out in the narrative; stage 4's visible tests check the gradients numerically in
every padding mode with strides and dilations, and those checks catch a wrong gradient;
the demonstrations run on the student's own layer.
"""

from pathlib import Path

import nbformat
import numpy as np
import pytest

from autograder.checks import mini_batch
from solutions.conv import Conv1d
from solutions.padding import PADDING_MODES

ROOT = Path(__file__).resolve().parents[1]


def _cells(stage, top="source"):
    return nbformat.read(ROOT / top / stage / f"{stage}.ipynb", as_version=4).cells


def _by_id(stage, cell_id):
    [cell] = [c for c in _cells(stage) if c.id == cell_id]
    return cell


def _narrative(stage):
    """Markdown and demo code: every cell but answers and test cells."""
    return "\n".join(c.source for c in _cells(stage)
                     if not c.metadata.get("nbgrader", {}).get("solution")
                     and not c.metadata.get("nbgrader", {}).get("grade"))


def test_the_speed_limit_stated_is_the_graders():
    text = _by_id("mini_batch", "task-conv1d").source
    limit = f"{mini_batch.RATIO_LIMIT:g} times its time plus {mini_batch.EXTRA_SECONDS * 1e3:g} ms"
    assert limit in " ".join(text.split()), text
    assert "about 10 times" not in _narrative("mini_batch")


@pytest.mark.parametrize(("stage", "handed_out"), [
    ("single_channel", "dx[i:i+F] += dout[i] * w"),
    ("single_channel", "dw += dout[i] * x[i:i+F]"),
    ("multi_channel", "np.tensordot(dout[:, i], w, axes=1)"),
    ("multi_channel", "dx[:, i:i+F] +="),
    ("mini_batch", "out   = cols @ w_mat.T"),
    ("mini_batch", "dw = (dout_mat.T @ cols)"),
    ("mini_batch", "dx_pad[:, :, k*D : k*D + S*(L_out - 1) + 1 : S] += dcols_k"),
    ("mini_batch", "cols = windows.transpose(0, 2, 1, 3).reshape(N * L_out, C_in * F)"),
])
def test_the_narrative_does_not_hand_out_the_answer(stage, handed_out):
    assert handed_out not in _narrative(stage)


def test_stage_1_no_longer_says_the_ends_get_smaller_gradients():
    assert "get smaller gradients" not in _narrative("single_channel")
    assert "fewer terms" in " ".join(_narrative("single_channel").replace("**", "").split())


def test_the_equivariance_demo_runs_the_students_layer():
    demo = _by_id("mini_batch", "equivariance-demo").source
    assert "Conv1d(" in demo and "conv1d_loops" not in demo
    assert 'padding_mode="circular"' in demo and "stride=2" in demo


def _gradient_namespace(layer_class):
    ns = {"np": np, "PADDING_MODES": PADDING_MODES, "Conv1d": layer_class}
    exec(_by_id("mini_batch", "gradient-check-code").source, ns)  # noqa: S102 - our notebook
    return ns


def test_visible_gradient_cases_cover_every_mode_stride_and_dilation():
    cases = _gradient_namespace(Conv1d)["GRADIENT_CASES"]
    assert {c["padding_mode"] for c in cases} == set(PADDING_MODES)
    for mode in PADDING_MODES:
        mine = [c for c in cases if c["padding_mode"] == mode]
        assert any(c.get("stride", 1) > 1 for c in mine), mode
        assert any(c["dilation"] > 1 for c in mine), mode
        assert any(c.get("stride", 1) > 1 and c["dilation"] > 1 for c in mine), mode
    for cell_id, names in (("test-backward-dx", ['["dx"]']),
                           ("test-backward-params", ["dw", "db"])):
        visible = _by_id("mini_batch", cell_id).source.split("### BEGIN HIDDEN TESTS")[0]
        assert "for case in GRADIENT_CASES" in visible and "< 1e-6" in visible
        assert all(name in visible for name in names)


def test_visible_gradient_checks_pass_on_the_reference():
    ns = _gradient_namespace(Conv1d)
    for case in ns["GRADIENT_CASES"]:
        errors = ns["gradient_errors"](**case)
        assert max(errors.values()) < 1e-7, (case, errors)


class PaddingGradientCutOff(Conv1d):
    """A plausible bug: the padding's gradient is cut off in every mode, as for zeros."""

    def forward(self, x):
        self._x = np.array(x, dtype=float)
        return super().forward(x)

    def backward(self, dout):
        super().backward(dout)  # sets dw and db
        as_zeros = Conv1d(self.w, self.b, stride=self.stride, padding=self.padding,
                          dilation=self.dilation)
        as_zeros.forward(self._x)
        return as_zeros.backward(dout)


def test_visible_gradient_checks_catch_a_wrong_padding_gradient():
    ns = _gradient_namespace(PaddingGradientCutOff)
    for case in ns["GRADIENT_CASES"]:
        error = ns["gradient_errors"](**case)["dx"]
        if case["padding_mode"] in ("zeros", "constant"):
            assert error < 1e-7, case
        else:  # copying modes: the copies' gradients are missing
            assert error > 1e-3, case


def test_the_forward_test_checks_dilation_and_every_padding_mode():
    visible = _by_id("mini_batch", "test-forward").source.split("### BEGIN HIDDEN TESTS")[0]
    assert "dilation=2" in visible
    for mode in PADDING_MODES:
        assert f'"{mode}"' in visible, mode


def test_stage_1_explores_the_matrix_on_the_students_layer():
    narrative = _narrative("single_channel")
    assert "conv_matrix(w, len(x))" in narrative and "SimpleConv1d(w, b)" in narrative
    assert 'for mode in ("valid", "same", "full")' in narrative
