"""Stage 5's experiment (course/experiment.py) and the validation split it and the notebook use."""

import json
import re

import nbformat
import numpy as np
import pytest

from course import experiment as ex
from course.build import ROOT
from course.cnn1d_helpers import experiment_table, load_experiment, train_val_split

# ---------------------------------------------------------------- the validation split


def test_train_val_split_holds_out_n_val_disjoint_samples_in_class_proportions():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 10, size=4000)
    X = np.arange(4000.0)[:, None] * np.ones((1, 3))          # row i holds i: track the rows
    X_tr, y_tr, X_val, y_val = train_val_split(X, y, n_val=500, seed=0)
    assert X_tr.shape == (3500, 3) and X_val.shape == (500, 3)
    rows_tr, rows_val = X_tr[:, 0].astype(int), X_val[:, 0].astype(int)
    assert not set(rows_tr) & set(rows_val)
    assert sorted(np.concatenate([rows_tr, rows_val])) == list(range(4000))
    np.testing.assert_array_equal(y_tr, y[rows_tr])
    np.testing.assert_array_equal(y_val, y[rows_val])
    expected = np.bincount(y, minlength=10) * 500 / 4000
    assert np.all(np.abs(np.bincount(y_val, minlength=10) - expected) <= 1)


def test_train_val_split_is_reproducible_and_the_seed_matters():
    y = np.arange(100) % 4
    X = np.arange(100.0)[:, None]
    a = train_val_split(X, y, n_val=20, seed=3)
    b = train_val_split(X, y, n_val=20, seed=3)
    c = train_val_split(X, y, n_val=20, seed=4)
    for u, v in zip(a, b, strict=True):
        np.testing.assert_array_equal(u, v)
    assert set(a[2][:, 0]) != set(c[2][:, 0])


@pytest.mark.parametrize("n_val", [0, 100, 150])
def test_train_val_split_refuses_a_validation_set_that_leaves_nothing(n_val):
    with pytest.raises(ValueError, match="n_val"):
        train_val_split(np.zeros((100, 2)), np.zeros(100), n_val=n_val)


def test_train_val_split_refuses_labels_that_do_not_match_the_samples():
    with pytest.raises(ValueError, match="one label per sample"):
        train_val_split(np.zeros((10, 2)), np.zeros(9), n_val=2)


def test_the_notebook_never_fits_or_plots_on_the_test_set_before_the_end():
    """Stage 5: training curves, comparisons and the confusion matrix use the validation set;
    X1_test appears once, in the cell that scores the chosen CNN, after all choices."""
    nb = nbformat.read(ROOT / "source" / "training" / "training.ipynb", as_version=4)
    ids = [c.id for c in nb.cells]
    uses = [c.id for c in nb.cells if c.cell_type == "code" and "X1_test" in c.source
            and c.id != "val-split"]
    assert uses == ["final-test-score"]
    assert ids.index("final-test-score") > ids.index("published-figure")
    source = {c.id: c.source for c in nb.cells}
    assert "train_val_split(X1, y1, n_val=500" in source["val-split"]
    assert "cnn.fit(X_tr, y_tr, X_val, y_val)" in source["train-mnist1d"]
    assert "plot_confusion_matrix(y_val" in source["confusion-figure"]
    assert "validation" in source["curves-caption"] and "early stopping" in source["curves-caption"]


# ---------------------------------------------------------------- the experiment


def test_shuffle_positions_applies_one_permutation_to_every_signal():
    X = np.tile(np.arange(40.0), (5, 1)) + np.arange(5.0)[:, None] * 100
    S = ex.shuffle_positions(X)
    perm = S[0].astype(int)
    assert sorted(perm) == list(range(40)) and not np.array_equal(perm, np.arange(40))
    np.testing.assert_array_equal(S, X[:, perm])


def test_a_short_run_writes_the_json_and_the_markdown(tmp_path):
    out = ex.main(seeds=(0, 1), only=["mnist1d shuffled"], steps=3,
                  json_path=tmp_path / "e.json", md_path=tmp_path / "e.md", log=lambda _: None)
    assert [(r["model"], r["n_seeds"]) for r in out["summary"]] == [
        ("logistic", 2), ("MLP 100-100", 2), ("CNN", 2)]
    assert json.loads((tmp_path / "e.json").read_text())["summary"] == out["summary"]
    md = (tmp_path / "e.md").read_text()
    assert ex.COMMAND in md and "| mnist1d shuffled | CNN | paper |" in md


SHIPPED = ROOT / "course" / "data" / "experiment.json"


def test_the_shipped_results_cover_every_run_with_three_seeds():
    results = json.loads(SHIPPED.read_text())
    assert [(r["dataset"], r["model"], r["recipe"]) for r in results["summary"]] == ex.RUNS
    for row in results["summary"]:
        assert row["n_seeds"] == 3
        runs = [r for r in results["runs"] if (r["dataset"], r["model"], r["recipe"])
                == (row["dataset"], row["model"], row["recipe"])]
        test = np.array([r["test_acc"] for r in runs])
        assert row["test_acc"] == round(float(test.mean()), 4)
        assert row["test_acc_sd"] == round(float(test.std(ddof=1)), 4)
    # docs/experiment.md is the same run, and the notebook's folder ships the same file
    assert (ROOT / "docs" / "experiment.md").read_text() == ex.markdown(results["summary"],
                                                                         results["meta"])
    for top in ("source", "release"):
        assert (ROOT / top / "training" / "experiment.json").read_bytes() == SHIPPED.read_bytes()


def test_the_numbers_the_notebook_quotes_are_the_shipped_ones():
    results = load_experiment(SHIPPED)
    known = {f"{r[k]:.3f}" for r in results["summary"] for k in r if k.endswith("acc")
             or k.endswith("_sd")}
    known |= {"0.94", "0.68", "0.32", "0.96", "0.9", "0.0"}  # published
    nb = nbformat.read(ROOT / "source" / "training" / "training.ipynb", as_version=4)
    quoting = {c.id: c.source for c in nb.cells
               if c.id in ("published-caption", "shuffled-caption", "mnist-table-caption")}
    assert len(quoting) == 3
    for cid, text in quoting.items():
        numbers = re.findall(r"\b0\.\d+\b", text)
        assert numbers, cid
        assert set(numbers) <= known, (cid, set(numbers) - known)
    table = experiment_table(results, ["mnist1d shuffled"])
    assert table.count("\n| mnist1d shuffled |") == 3 and "mnist |" not in table
