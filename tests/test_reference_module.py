"""Tests of course/reference_module.py and the module it generates,
course/cnn1d_reference.py (released beside the stage-5 notebook)."""

import importlib
import shutil
import subprocess
import sys

import numpy as np
import pytest

from course import reference_module as gen
from course.stages import get_stage

ROOT = gen.ROOT


def test_committed_reference_module_is_up_to_date():
    assert gen.reference_differences() == [], (
        "course/cnn1d_reference.py differs from solutions/: run python -m course.reference_module")


def test_it_is_a_stage_5_asset_and_carries_a_loud_header():
    assert "cnn1d_reference.py" in get_stage("training").assets
    head = gen.REFERENCE_PATH.read_text().splitlines()[:4]
    assert "GENERATED" in head[1] and "DO NOT EDIT" in head[1] and "solutions/" in head[1]


def test_graded_names_are_not_released():
    tree_names = {line.split("(")[0].split()[1] for line in
                  gen.REFERENCE_PATH.read_text().splitlines()
                  if line.startswith(("class ", "def "))}
    assert not tree_names & set(get_stage("training").graded_names)
    assert set(gen.GRADED_NAMES) == set(get_stage("training").graded_names)


@pytest.fixture(scope="module")
def standalone(tmp_path_factory):
    """A folder with only the reference and the helper modules it imports (HELPERS)."""
    folder = tmp_path_factory.mktemp("student")
    for module in gen.HELPERS:
        shutil.copy(ROOT / "course" / f"{module}.py", folder)
    shutil.copy(gen.REFERENCE_PATH, folder)
    return folder


def test_imports_standalone_beside_its_helper_modules_only(standalone):
    code = ("import importlib.util, sys, cnn1d_reference as r\n"
            "assert 'solutions' not in sys.modules and 'course' not in sys.modules\n"
            "assert importlib.util.find_spec('solutions') is None\n"
            "for name in ('MaxPool1d', 'Flatten', 'Scratch1dCNNClassifier'):\n"
            "    assert not hasattr(r, name), name\n"
            "print(' '.join(sorted(n for n in vars(r) if not n.startswith('_'))))\n")
    proc = subprocess.run([sys.executable, "-E", "-s", "-c", code], cwd=standalone,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    names = set(proc.stdout.split())
    for expected in ("Conv1d", "pad1d", "pad1d_backward", "output_size", "resolve_padding",
                     "Linear", "Dropout", "ReLU", "ELU", "Swish", "get_activation", "softmax",
                     "SoftmaxCrossEntropy", "MSELoss", "HingeLoss", "ExponentialLoss", "Adam",
                     "SGD", "CosineDecay", "get_optimizer", "init_weights", "shift_and_noise",
                     "AvgPool1d", "numerical_gradient"):
        assert expected in names, expected


@pytest.fixture
def reference(standalone, monkeypatch):
    """The generated module imported in this process from the standalone folder."""
    monkeypatch.syspath_prepend(str(standalone))
    for name in ("cnn1d_reference", "cnn1d_helpers"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    module = importlib.import_module("cnn1d_reference")
    yield module
    for name in ("cnn1d_reference", "cnn1d_helpers"):
        sys.modules.pop(name, None)


def test_behaves_like_the_solutions_package(reference):
    import solutions

    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 17))
    w, b = rng.standard_normal((4, 3, 5)), rng.standard_normal(4)
    kwargs = {"stride": 2, "padding": 2, "padding_mode": "reflect"}
    mine, ref = reference.Conv1d(w, b, **kwargs), solutions.Conv1d(w, b, **kwargs)
    np.testing.assert_allclose(mine.forward(x), ref.forward(x), rtol=1e-13, atol=1e-14)
    dout = rng.standard_normal(ref.forward(x).shape)
    np.testing.assert_allclose(mine.backward(dout), ref.backward(dout), rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(mine.dw, ref.dw, rtol=1e-13, atol=1e-14)
    logits, y = rng.standard_normal((5, 10)) * 50, rng.integers(0, 10, 5)
    assert reference.SoftmaxCrossEntropy().forward(logits, y) == \
        solutions.SoftmaxCrossEntropy().forward(logits, y)
    lin_a = reference.Linear(rng.standard_normal((3, 4)), np.zeros(3))
    lin_b = solutions.Linear(lin_a.w.copy(), lin_a.b.copy())
    for lin, opt in ((lin_a, reference.Adam(lr=0.1)), (lin_b, solutions.Adam(lr=0.1))):
        lin.forward(np.ones((2, 4)))
        lin.backward(np.ones((2, 3)))
        opt.step([lin])
    np.testing.assert_array_equal(lin_a.w, lin_b.w)
    pool = reference.AvgPool1d(3, 2)
    np.testing.assert_array_equal(pool.forward(x), solutions.AvgPool1d(3, 2).forward(x))


def test_generator_refuses_what_it_cannot_release(monkeypatch):
    monkeypatch.setattr(gen, "MODULES", (("solutions.pool", ()),))
    with pytest.raises(gen.ReferenceModuleError, match="MaxPool1d.*students write"):
        gen.reference_source()
    # model.py needs the conv, layers, ... modules first.
    monkeypatch.setattr(gen, "MODULES", (("solutions.model", ("Scratch1dCNNClassifier",)),))
    with pytest.raises(gen.ReferenceModuleError, match="neither defined earlier"):
        gen.reference_source()


def test_generator_refuses_imports_inside_functions(monkeypatch, tmp_path):
    package = tmp_path / "fakepkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "mod.py").write_text(
        '"""A module."""\n\n\ndef f():\n    from .other import g\n    return g()\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(gen, "ROOT", tmp_path)
    monkeypatch.setattr(gen, "MODULES", (("fakepkg.mod", ()),))
    with pytest.raises(gen.ReferenceModuleError, match="inside a function"):
        gen.reference_source()


def test_write_reports_changes(tmp_path):
    target = tmp_path / "cnn1d_reference.py"
    assert gen.write_reference_module(target) is True
    assert gen.write_reference_module(target) is False
    assert gen.reference_differences(target) == []
    target.write_text(target.read_text() + "# edited by hand\n")
    assert gen.reference_differences(target) != []
