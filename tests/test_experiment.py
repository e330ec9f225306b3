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
    nothing of a test set (X1_test, the experiment's test columns, its per-seed test
    accuracies) appears before the section "The test set, once", near the end."""
    nb = nbformat.read(ROOT / "source" / "training" / "training.ipynb", as_version=4)
    ids = [c.id for c in nb.cells]
    final = ids.index("final-test")
    test_markers = ("X1_test", "test=True", "test_acc", "plot_val_vs_test(")
    early = [(c.id, m) for c in nb.cells[:final] if c.cell_type == "code"
             for m in test_markers if m in c.source and c.id not in ("setup", "val-split")]
    assert early == [], early
    late = [c.id for c in nb.cells[final:] if c.cell_type == "code" and "X1_test" in c.source]
    assert late == ["final-test-score"]
    for cid in ("experiment-test-table", "published-figure", "val-test-figure",
                "published-caption", "val-test-caption"):
        assert ids.index(cid) > final, cid
    source = {c.id: c.source for c in nb.cells}
    assert "train_val_split(X1, y1, n_val=500" in source["val-split"]
    assert "cnn.fit(X_tr, y_tr, X_val, y_val)" in source["train-mnist1d"]
    assert "plot_confusion_matrix(y_val" in source["confusion-figure"]
    assert "validation" in source["curves-caption"] and "early stopping" in source["curves-caption"]
    # the captions before the end quote no test number: only validation (and training) ones
    results = load_experiment(SHIPPED)
    test_only = {f"{r['test_acc']:.3f}" for r in results["summary"]} - {
        f"{r[k]:.3f}" for r in results["summary"] for k in ("train_acc", "val_acc")
        if r[k] is not None}
    for cell in nb.cells[:final]:
        if cell.cell_type == "markdown":
            quoted = set(re.findall(r"\b0\.\d{3}\b", cell.source)) & test_only
            assert not quoted, (cell.id, quoted)


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
        ("logistic", 2), ("MLP 100-100", 2), ("MLP residual", 2), ("CNN", 2)]
    assert out["differences"] == []       # every comparison needs the original signals' runs
    assert json.loads((tmp_path / "e.json").read_text())["summary"] == out["summary"]
    md = (tmp_path / "e.md").read_text()
    assert ex.COMMAND in md and "| mnist1d shuffled | CNN | paper |" in md


def test_binomial_standard_error_of_an_accuracy():
    assert ex.binomial_se(0.94, 1000) == pytest.approx(0.00751, abs=1e-5)
    assert ex.binomial_se(1.0, 1000) == 0.0


def _run(dataset, model, recipe, seed, val, test):
    return {"dataset": dataset, "model": model, "recipe": recipe, "seed": seed,
            "train_acc": 1.0, "val_acc": val, "test_acc": test, "seconds": 1.0, "n_params": 1}


def test_differences_pair_the_runs_seed_by_seed():
    runs = [_run("mnist1d", "CNN", "paper", s, 0.90 + s / 100, 0.91) for s in range(3)]
    runs += [_run("mnist1d", "CNN", "ours", s, 0.92 + s / 100, 0.93 - s / 100) for s in range(3)]
    [d] = [d for d in ex.differences(runs) if d["comparison"] == "CNN: ours vs paper"]
    assert d["n_seeds"] == 3 and d["val_acc"]["per_seed"] == [0.02, 0.02, 0.02]
    assert d["val_acc"]["mean"] == 0.02 and d["val_acc"]["sd"] == 0.0
    assert d["val_acc"]["positive"] == 3
    # test: 0.02, 0.01, 0.00 -> mean 0.01, sd 0.01, se 0.01 / sqrt(3); seed 2 does not favour a
    assert d["test_acc"]["mean"] == 0.01 and d["test_acc"]["se"] == round(0.01 / np.sqrt(3), 4)
    assert d["test_acc"]["positive"] == 2
    # a seed that only one recipe has is left out of the pairs
    runs.append(_run("mnist1d", "CNN", "ours", 7, 0.5, 0.5))
    [d] = [d for d in ex.differences(runs) if d["comparison"] == "CNN: ours vs paper"]
    assert d["n_seeds"] == 3


def test_merge_joins_processes_and_refuses_a_run_twice(tmp_path):
    meta = {"date": "2026-01-01 00:00 UTC", "machine": "m", "threads": "1", "dtype": "float32",
            "n_val": 500, "n_test": 1000, "command": ex.COMMAND, "minutes": 1.0}
    runs = {s: [_run("mnist1d shuffled", "CNN", "paper", s, 0.5, 0.6)] for s in (0, 1)}
    for s in (0, 1):
        (tmp_path / f"{s}.json").write_text(json.dumps(
            {"meta": dict(meta, seeds=[s]), "runs": runs[s]}))
    out = ex.merge([tmp_path / "0.json", tmp_path / "1.json"], tmp_path / "all.json",
                   tmp_path / "all.md")
    assert out["meta"]["seeds"] == [0, 1] and len(out["runs"]) == 2
    assert "2 processes" in (tmp_path / "all.md").read_text()
    with pytest.raises(ValueError, match="twice"):
        ex.merge([tmp_path / "0.json", tmp_path / "0.json"], tmp_path / "x.json",
                 tmp_path / "x.md")


def test_the_residual_mlp_is_the_papers_and_its_gradients_are_right():
    from solutions import check_layer_gradients

    rng = np.random.default_rng(0)
    block = ex.Residual(ex.Linear.init(6, 6, rng, scheme="torch"))
    x = rng.standard_normal((4, 6))
    out = block.forward(x)
    np.testing.assert_allclose(out, x + np.maximum(0, x @ block.linear.w.T + block.linear.b))
    errors = check_layer_gradients(block, x)
    assert max(errors.values()) < 1e-7, errors
    X, y = rng.standard_normal((60, 40)), np.arange(60) % 10
    clf = ex.make_classifier("mnist1d", "MLP residual", "paper", seed=0, steps=2).fit(X, y)
    assert clf.n_params_ == 15210 and any(isinstance(layer, ex.Residual) for layer in clf.layers_)


def test_the_papers_setting_takes_batches_in_their_stored_order():
    clf = ex.make_classifier(ex.PAPER_RUN, "CNN", "paper", seed=0)
    batches = clf._batches(250, np.random.default_rng(0))
    first = [next(batches) for _ in range(4)]
    np.testing.assert_array_equal(first[0], np.arange(100))
    np.testing.assert_array_equal(first[2], np.r_[200:250, 0:50])
    np.testing.assert_array_equal(first[3], np.arange(50, 150))
    shuffled = ex.make_classifier("mnist1d", "CNN", "paper", seed=0)
    assert not np.array_equal(next(shuffled._batches(250, np.random.default_rng(0))),
                              np.arange(100))


SHIPPED = ROOT / "course" / "data" / "experiment.json"


def test_the_shipped_results_cover_every_run_with_five_seeds():
    results = json.loads(SHIPPED.read_text())
    assert [(r["dataset"], r["model"], r["recipe"]) for r in results["summary"]] == ex.RUNS
    for row in results["summary"]:
        assert row["n_seeds"] == 5
        assert row["test_acc_se"] == round(ex.binomial_se(row["test_acc"], ex.N_TEST), 4)
        runs = [r for r in results["runs"] if (r["dataset"], r["model"], r["recipe"])
                == (row["dataset"], row["model"], row["recipe"])]
        test = np.array([r["test_acc"] for r in runs])
        assert row["test_acc"] == round(float(test.mean()), 4)
        assert row["test_acc_sd"] == round(float(test.std(ddof=1)), 4)
    # docs/experiment.md is the same run, and the notebook's folder ships the same file
    assert (ROOT / "docs" / "experiment.md").read_text() == ex.markdown(
        results["summary"], results["meta"], results["differences"])
    assert results["differences"] == ex.differences(results["runs"])
    for top in ("source", "release"):
        assert (ROOT / top / "training" / "experiment.json").read_bytes() == SHIPPED.read_bytes()


def test_the_numbers_the_notebook_quotes_are_the_shipped_ones():
    results = load_experiment(SHIPPED)
    known = {f"{r[k]:.3f}" for r in results["summary"] for k in r
             if (k.endswith("acc") or k.endswith("_sd") or k.endswith("_se"))
             and r[k] is not None}
    for d in results["differences"]:
        for key in ("val_acc", "test_acc"):
            if d[key] is not None:
                known |= {f"{abs(d[key][k]):.3f}" for k in ("mean", "sd", "se")}
    known |= {f"{r[k]:.3f}" for r in results["runs"] for k in ("val_acc", "test_acc")
              if r[k] is not None}                          # the per-seed scatter plot
    known |= {"0.94", "0.68", "0.32", "0.96", "0.56", "0.9", "0.0"}  # published
    nb = nbformat.read(ROOT / "source" / "training" / "training.ipynb", as_version=4)
    ids = ("experiment-caption", "published-caption", "val-test-caption", "shuffled-caption",
           "mnist-table-caption")
    quoting = {c.id: c.source for c in nb.cells if c.id in ids}
    assert len(quoting) == 5
    for cid, text in quoting.items():
        numbers = re.findall(r"\b0\.\d+\b", text)
        assert numbers, cid
        assert set(numbers) <= known, (cid, set(numbers) - known)
    table = experiment_table(results, ["mnist1d shuffled"])
    assert table.count("\n| mnist1d shuffled |") == 4 and "mnist |" not in table
    assert "test" not in table.split("\n")[0]
    assert "test acc | test SE |" in experiment_table(results, test=True).split("\n")[0]
