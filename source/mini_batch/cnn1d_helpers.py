"""The helper module every stage of "1D convolutional neural networks from
scratch" carries: the environment check of each notebook's first cell, and
the self-check that runs a notebook's visible tests from the command line::

    python cnn1d_helpers.py check single_channel.ipynb

Everything else lives in one small module per concept, each stage carrying
the ones it uses (``course/stages.py``, ``assets``):

- ``cnn1d_checks.py``: argument checks (``check_int``, ``as_float_array``, ...);
- ``cnn1d_layer.py``: ``Layer``, the protocol every layer speaks;
- ``cnn1d_figures.py``: alt text for figures (``set_alt_text``);
- ``cnn1d_conv_figures.py``: the figures of stages 1-4;
- ``cnn1d_data.py``, ``cnn1d_training_figures.py``, ``cnn1d_experiment.py``:
  stage 5's data sets, figures and experiment tables.

This file is the canonical copy: the build copies it, unchanged, into every
stage folder. Edit it here, in ``course/cnn1d_helpers.py``, never in a stage
folder. For the kit's own code (and notebooks written before the split) a
name of those modules can still be imported from here; it is looked up in
its module when first used.
"""

import sys

import numpy as np

MIN_NUMPY = (1, 24)

#: nbgrader's course id of the kit (nbgrader_config.py).
COURSE_ID = "cnn1d"

#: What `pip install` needs for each package a notebook may ask for.
REQUIREMENTS = {"matplotlib": "matplotlib", "tqdm": "tqdm", "mnist1d": "mnist1d==0.0.2.post1"}


def check_environment(files=(), packages=()):
    """Say whether this Python can run the course notebooks, and what to do if not.

    Checks the Python and numpy versions, that matplotlib and ``packages``
    are installed and that ``files`` are in the current folder (the
    notebook's). Prints one line when all is well.

    Parameters
    ----------
    files : sequence of str
        Files that must sit beside the notebook, e.g. ``("cnn1d_reference.py",)``.
    packages : sequence of str
        Importable names of further packages the notebook needs, e.g. ``("tqdm",)``.

    Raises
    ------
    RuntimeError
        Listing every problem found, each with what to do about it.
    """
    import importlib.util
    from pathlib import Path

    problems = []
    if sys.version_info < (3, 10):  # noqa: UP036 - students run their own Python
        problems.append(f"Python {sys.version.split()[0]} is too old: use Python 3.11")
    version = tuple(int(p) for p in np.__version__.split(".")[:2] if p.isdigit())
    if version < MIN_NUMPY:
        problems.append(f"numpy {np.__version__} is too old (the course needs numpy "
                        f"{'.'.join(map(str, MIN_NUMPY))} or newer): run "
                        "`pip install --upgrade 'numpy>=2'`")
    for name in ("matplotlib", *packages):
        if importlib.util.find_spec(name) is None:
            problems.append(f"{name} is missing: run "
                            f"`pip install '{REQUIREMENTS.get(name, name)}'`")
    folder = Path.cwd()
    for name in files:
        if not (folder / name).is_file():
            command = f"nbgrader fetch_assignment --replace --course={COURSE_ID} {folder.name}"
            problems.append(f"{name} is missing from {folder}: restore it with `{command}` run "
                            "in the folder above, or copy it there from the course release")
    if problems:
        raise RuntimeError("This environment cannot run the course notebooks:\n- "
                           + "\n- ".join(problems) + "\nThen restart the kernel (Kernel > "
                           "Restart Kernel) and run the notebook again from the top.")
    print(f"Environment OK: Python {sys.version.split()[0]}, numpy {np.__version__}")


#: Where each name that used to live in this module lives now (imported on first use).
MOVED = {
    "cnn1d_checks": ("as_float_array", "check_choice", "check_float", "check_int",
                     "check_same_shape", "_describe"),
    "cnn1d_layer": ("Layer",),
    "cnn1d_figures": ("figure_bundle", "set_alt_text", "_join"),
    "cnn1d_conv_figures": ("plot_sliding_window", "plot_window_positions", "plot_feature_maps",
                           "plot_padding_modes", "plot_patch_matrix"),
    "cnn1d_data": ("MNIST784_SHA256", "MNIST1D_PUBLISHED", "ECG_SHA256", "Dataset",
                   "make_mnist1d", "load_mnist1d", "load_mnist784", "train_val_split",
                   "load_ecg"),
    "cnn1d_training_figures": ("plot_examples", "plot_pooling", "plot_pool_gradients",
                               "plot_activation_functions", "plot_history", "plot_filters",
                               "plot_layer_outputs", "plot_confusion_matrix",
                               "plot_published_comparison", "plot_val_vs_test"),
    "cnn1d_experiment": ("load_experiment", "experiment_table", "differences_table"),
}


def __getattr__(name):
    import importlib

    for module, names in MOVED.items():
        if name in names:
            package = f"{__package__}." if __package__ else ""
            return getattr(importlib.import_module(package + module), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# --------------------------------------------------------------------------
# Self-check: run a notebook's visible tests from the command line
#   python cnn1d_helpers.py check single_channel.ipynb
# (nbgrader's Validate always exits 0; this exits 1 when a test fails.)
# --------------------------------------------------------------------------

def self_check(notebook, timeout=600):
    """Execute ``notebook`` and report each graded test cell; returns an exit code.

    Returns 0 when every test cell ran without error, 1 otherwise (2 when the
    notebook cannot be read).
    """
    import os

    try:
        import nbformat
        from nbclient import NotebookClient
    except ImportError:
        print("self-check needs nbclient and nbformat (they come with JupyterLab)")
        return 2
    try:
        nb = nbformat.read(notebook, as_version=4)
    except (OSError, ValueError) as exc:
        print(f"cannot read {notebook}: {exc}")
        return 2
    folder = os.path.dirname(os.path.abspath(notebook))
    client = NotebookClient(nb, timeout=timeout, allow_errors=True, kernel_name="python3",
                            resources={"metadata": {"path": folder}})
    client.execute()
    passed = failed = 0
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.cell_type != "code" or not meta.get("grade"):
            continue
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        name = meta.get("grade_id", "?")
        if errors:
            failed += 1
            print(f"FAIL {name}: {errors[0].get('ename')}: {errors[0].get('evalue')}")
        else:
            passed += 1
            print(f"ok   {name}")
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "check":
        print("usage: python cnn1d_helpers.py check NOTEBOOK.ipynb")
        sys.exit(2)
    sys.exit(self_check(sys.argv[2]))
