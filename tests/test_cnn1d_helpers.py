"""Tests of course/cnn1d_helpers.py, the student helper module: the environment check of
every notebook's first cell, and the alt text of every figure it draws.

Argument checks and data loaders are tested where they are used (test_layers.py,
test_datasets.py); the notebooks themselves in test_notebooks.py.
"""

import base64
import html
import importlib.util
import re

import matplotlib
import nbformat
import numpy as np
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from course import cnn1d_helpers as helpers  # noqa: E402
from course.build import ROOT  # noqa: E402

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


# ---------------------------------------------------------------- check_environment


def test_check_environment_passes_here(capsys):
    helpers.check_environment(packages=("tqdm",))
    assert capsys.readouterr().out.startswith("Environment OK: Python 3.")


def test_an_old_numpy_is_named_with_what_to_do(monkeypatch):
    monkeypatch.setattr(np, "__version__", "1.21.6")
    with pytest.raises(RuntimeError) as err:
        helpers.check_environment()
    message = str(err.value)
    assert "numpy 1.21.6 is too old (the course needs numpy 1.24 or newer)" in message
    assert "`pip install --upgrade 'numpy>=2'`" in message
    assert "restart the kernel" in message


@pytest.mark.parametrize("version", ["1.24.0", "2.0.0rc1", "2.4.6", "3.0.0.dev0"])
def test_numpy_versions_the_course_runs_on_pass(monkeypatch, version):
    monkeypatch.setattr(np, "__version__", version)
    helpers.check_environment()


def test_a_missing_package_and_a_missing_file_are_both_listed(tmp_path, monkeypatch):
    stage = tmp_path / "training"
    stage.mkdir()
    (stage / "here.py").write_text("")
    monkeypatch.chdir(stage)
    with pytest.raises(RuntimeError) as err:
        helpers.check_environment(files=("here.py", "cnn1d_reference.py"),
                                  packages=("mnist1d", "no_such_package_x"))
    problems = [line for line in str(err.value).splitlines() if line.startswith("- ")]
    assert len(problems) == 2, problems  # mnist1d and here.py are there
    assert problems[0] == "- no_such_package_x is missing: run `pip install 'no_such_package_x'`"
    assert problems[1].startswith(f"- cnn1d_reference.py is missing from {stage}: restore it "
                                  "with `nbgrader fetch_assignment --replace --course=cnn1d "
                                  "training` run in the folder above")


def test_a_missing_package_gets_its_pinned_requirement(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name: None if name == "mnist1d" else object())
    with pytest.raises(RuntimeError, match=re.escape("`pip install 'mnist1d==0.0.2.post1'`")):
        helpers.check_environment(packages=("mnist1d",))


# ---------------------------------------------------------------- figures and alt text


def _small_figure():
    fig, ax = plt.subplots(figsize=(2, 1.5))
    ax.plot([0, 1, 0])
    return fig


def test_figure_bundle_is_an_img_with_alt_text_and_a_png():
    fig = _small_figure()
    bundle = helpers.figure_bundle(fig, 'A "peak" at x = 1 <in the middle> & nothing else')
    assert set(bundle) == {"text/html", "image/png", "text/plain"}
    png = base64.b64decode(bundle["image/png"], validate=True)
    assert png.startswith(PNG_SIGNATURE)
    m = re.fullmatch(r'<img alt="([^"]*)" src="data:image/png;base64,([A-Za-z0-9+/=]+)">',
                     bundle["text/html"])
    assert m, bundle["text/html"][:200]
    assert html.unescape(m.group(1)) == 'A "peak" at x = 1 <in the middle> & nothing else'
    assert m.group(2) == bundle["image/png"]  # the same picture in both
    assert bundle["text/plain"] == 'A "peak" at x = 1 <in the middle> & nothing else'


def test_a_figure_with_alt_text_displays_itself_once_and_closes(monkeypatch):
    import IPython.display

    shown = []
    monkeypatch.setattr(IPython.display, "display",
                        lambda obj, raw=False: shown.append((obj, raw)))
    fig = helpers.set_alt_text(_small_figure(), "  a small\n line  ")
    assert fig.alt_text == "a small line"
    assert plt.fignum_exists(fig.number)
    fig._ipython_display_()  # what IPython calls for plt.show(), a cell's end or display(fig)
    [(bundle, raw)] = shown
    assert raw and 'alt="a small line"' in bundle["text/html"]
    assert not plt.fignum_exists(fig.number), "not closed: the inline backend would show it again"


@pytest.mark.parametrize("alt", ["", "   ", None, 3])
def test_set_alt_text_wants_a_description(alt):
    with pytest.raises(ValueError, match="alt must be a non-empty str"):
        helpers.set_alt_text(_small_figure(), alt)


class _Identity(helpers.Layer):
    def forward(self, x):
        return x

    def backward(self, dout):
        return dout


def _all_plots():
    rng = np.random.default_rng(0)
    x, w = rng.normal(size=12), rng.normal(size=3)
    history = {"step": [0, 10, 20], "loss": [2.3, 1.0, 0.5], "train_acc": [0.1, 0.6, 0.8],
               "val_loss": [2.3, 1.1, 0.7], "val_acc": [0.1, 0.5, 0.7]}
    return {
        "plot_sliding_window": lambda: helpers.plot_sliding_window(x[:6], w, position=2),
        "plot_window_positions": lambda: helpers.plot_window_positions(8, 3, 1, 2, 1),
        "plot_feature_maps": lambda: helpers.plot_feature_maps(
            rng.normal(size=(2, 12)), rng.normal(size=(3, 2, 3)), rng.normal(size=(3, 10))),
        "plot_padding_modes": lambda: helpers.plot_padding_modes(x[:6], 2),
        "plot_patch_matrix": lambda: helpers.plot_patch_matrix(x, 3, stride=2, dilation=2),
        "plot_examples": lambda: helpers.plot_examples(rng.normal(size=(20, 16)),
                                                       np.arange(20) % 4, image_shape=(4, 4)),
        "plot_pooling": lambda: helpers.plot_pooling(x, 3, 2, {"max": rng.normal(size=5)}),
        "plot_pool_gradients": lambda: helpers.plot_pool_gradients(
            x, np.ones(5), {"max": rng.normal(size=12)}, 3, 2),
        "plot_activation_functions": lambda: helpers.plot_activation_functions(
            {"identity": _Identity()}),
        "plot_history": lambda: helpers.plot_history(history, published={"CNN": 0.94}),
        "plot_filters": lambda: helpers.plot_filters(rng.normal(size=(4, 1, 5))),
        "plot_layer_outputs": lambda: helpers.plot_layer_outputs(
            x, {"conv 1": rng.normal(size=(4, 6))}),
        "plot_confusion_matrix": lambda: helpers.plot_confusion_matrix([0, 1, 1, 2], [0, 1, 2, 2]),
        "plot_published_comparison": lambda: helpers.plot_published_comparison({"ours": 0.9}),
        "plot_val_vs_test": lambda: helpers.plot_val_vs_test({"runs": [
            {"dataset": "mnist1d", "model": "CNN", "recipe": recipe, "seed": seed,
             "val_acc": 0.9 + seed / 100, "test_acc": 0.92 - seed / 200}
            for recipe in ("paper", "ours") for seed in range(3)]}),
    }


def test_every_plot_function_is_covered():
    import importlib

    plots = set()
    for module in ("cnn1d_conv_figures", "cnn1d_training_figures"):
        mod = importlib.import_module(f"course.{module}")
        plots |= {name for name in dir(mod) if name.startswith("plot_")}
    assert plots == set(_all_plots())
    assert plots <= {n for names in helpers.MOVED.values() for n in names}   # still importable


def test_the_helper_module_is_small_and_each_stage_carries_what_it_uses():
    """Issue 20, item 15: one small module a concept; cnn1d_helpers.py keeps only the
    environment check and the self-check."""
    import ast

    from course.stages import STAGES

    tree = ast.parse((ROOT / "course" / "cnn1d_helpers.py").read_text())
    functions = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    assert functions == {"check_environment", "self_check", "__getattr__"}
    for stage in STAGES:
        setup = next(c for c in nbformat.read(ROOT / "source" / stage.name / stage.notebook,
                                              as_version=4).cells if c.id == "setup").source
        imported = set(re.findall(r"^from (cnn1d_\w+) import", setup, re.M)) - {"cnn1d_helpers"}
        carried = {a[:-3] for a in stage.assets if a.endswith(".py")}
        assert imported <= carried, (stage.name, imported - carried)
        assert "cnn1d_helpers" in carried and all(f"{m}.py" in setup for m in imported)


@pytest.mark.parametrize("name", sorted(_all_plots()))
def test_every_plot_has_alt_text_describing_it(name):
    fig = _all_plots()[name]()
    alt = fig.alt_text
    assert len(alt) > 60 and alt.endswith("."), alt
    assert "\n" not in alt and "  " not in alt
    assert callable(fig._ipython_display_)
    assert 'alt="' in helpers.figure_bundle(fig, alt)["text/html"]


def test_alt_text_says_what_the_data_shows():
    fig = helpers.plot_confusion_matrix([0, 1, 1, 2, 2], [0, 1, 2, 2, 1], title="toy")
    assert fig.alt_text == (
        "toy. Confusion matrix of 3 classes, rows the true class and columns the predicted "
        "class, darker blue for larger counts: 3 of 5 examples on the diagonal (accuracy "
        "0.600); the most frequent mistake is true 1 predicted as 2 (1 times).")
    fig = helpers.plot_filters(np.zeros((25, 1, 5)), title="first layer")
    assert fig.alt_text.startswith("first layer: 25 kernels of shape (1, 5)")


def test_an_explicit_alt_text_wins():
    fig = helpers.plot_filters(np.ones((2, 1, 3)), alt="Two flat kernels.")
    assert fig.alt_text == "Two flat kernels."


@pytest.mark.parametrize("name", ["plot_sliding_window", "plot_window_positions",
                                  "plot_padding_modes"])
def test_drawing_into_given_axes_leaves_the_figure_to_its_owner(name):
    fig, axes = plt.subplots(2, 1)
    args = {"plot_sliding_window": ([1.0, 2.0, 3.0, 4.0], [1.0, 1.0]),
            "plot_window_positions": (8, 3), "plot_padding_modes": ([1.0, 2.0, 3.0], 1)}[name]
    ax = axes if name == "plot_padding_modes" else axes[0]
    kwargs = {"modes": ("zeros", "reflect")} if name == "plot_padding_modes" else {}
    getattr(helpers, name)(*args, ax=ax, **kwargs)
    assert not hasattr(fig, "alt_text")  # the caller describes the whole figure
