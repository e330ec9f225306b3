"""Stage 5's experiment: which model, which recipe, on which data, over several seeds.

``python -m course experiment`` trains, for every seed (default 0, 1, 2):

- on **MNIST-1D**: logistic regression, an MLP (100-100) and the paper's CNN,
  each with the **paper's recipe** (Adam 1e-2, batches of 100, 6000 steps,
  constant rate) and with **ours** (the same plus a cosine learning-rate decay
  and random shifts of up to 2 samples);
- on **MNIST-1D with its positions shuffled** (one fixed permutation of the 40
  samples, the same for every signal): the same three models, paper's recipe;
- on the **MNIST subset flattened to 784**: the same three models (the CNN is
  the dilated one of ``course/train.py``) with the MNIST preset's recipe
  (Adam 2e-3, cosine, batches of 50, 1200 steps).

Every model trains on the training set minus a validation set of 500
(``train_val_split``, seed 0); it reports the validation accuracy (what a
choice is made on) and the test accuracy (looked at once, for the table).
Results go to ``course/data/experiment.json`` (shipped beside the training
notebook, which shows it) and a Markdown table to ``docs/experiment.md``.
"""

import json
import os
import platform
import time
from pathlib import Path

import numpy as np

from course.cnn1d_helpers import train_val_split
from course.datasets import load_dataset
from solutions import Scratch1dCNNClassifier, shift_and_noise

ROOT = Path(__file__).resolve().parents[1]
JSON_PATH = ROOT / "course" / "data" / "experiment.json"
MD_PATH = ROOT / "docs" / "experiment.md"
COMMAND = "OPENBLAS_NUM_THREADS=1 python -m course experiment"

N_VAL = 500
SHUFFLE_SEED = 0  # the permutation of MNIST-1D's 40 positions

MNIST1D_CNN = ((25, 5, 2, 1), (25, 3, 2, 1), (25, 3, 2, 1))
MNIST_CNN = (
    {"out_channels": 8, "kernel_size": 5, "padding": 2},
    {"out_channels": 16, "kernel_size": 3, "padding": 14, "dilation": 14},
    {"out_channels": 32, "kernel_size": 3, "padding": 7, "dilation": 7},
)

MODELS = {
    "logistic": {"conv_layers": ()},
    "MLP 100-100": {"conv_layers": (), "hidden": (100, 100)},
    "CNN": {"conv_layers": MNIST1D_CNN},
}
MNIST_MODELS = dict(MODELS, CNN={"conv_layers": MNIST_CNN, "pool": ("max", 2, 2),
                                 "init": "he"})

PAPER = {"optimizer": "adam", "lr": 1e-2, "batch_size": 100, "steps": 6000}
RECIPES = {
    "paper": PAPER,
    "ours": dict(PAPER, lr_decay="cosine", augment=shift_and_noise(max_shift=2)),
    "MNIST preset": {"optimizer": "adam", "lr": 2e-3, "lr_decay": "cosine", "batch_size": 50,
                     "steps": 1200},
}

#: (data set, model, recipe) in the order of the table.
RUNS = (
    [("mnist1d", m, r) for r in ("paper", "ours") for m in MODELS]
    + [("mnist1d shuffled", m, "paper") for m in MODELS]
    + [("mnist", m, "MNIST preset") for m in MNIST_MODELS]
)

PUBLISHED = {"logistic": 0.32, "MLP 100-100": 0.68, "CNN": 0.94}


def shuffle_positions(X, seed=SHUFFLE_SEED):
    """The same fixed permutation of the positions (last axis) applied to every signal."""
    perm = np.random.default_rng(seed).permutation(X.shape[-1])
    return X[..., perm]


def load(name):
    """(X_train, y_train, X_val, y_val, X_test, y_test) of a data set of the table."""
    data = load_dataset("mnist" if name == "mnist" else "mnist1d")
    X_train, y_train, X_test, y_test = data
    if name == "mnist1d shuffled":
        X_train, X_test = shuffle_positions(X_train), shuffle_positions(X_test)
    X_tr, y_tr, X_val, y_val = train_val_split(X_train, y_train, n_val=N_VAL, seed=0)
    return X_tr, y_tr, X_val, y_val, X_test, y_test


def run_one(name, model, recipe, seed, data, dtype="float32", steps=None):
    """Train one model; returns a dict of its accuracies and wall time."""
    X_tr, y_tr, X_val, y_val, X_test, y_test = data
    models = MNIST_MODELS if name == "mnist" else MODELS
    settings = dict(RECIPES[recipe], **({} if steps is None else {"steps": steps}))
    clf = Scratch1dCNNClassifier(**models[model], **settings, dtype=dtype, seed=seed,
                                 verbose=False)
    start = time.perf_counter()
    clf.fit(X_tr, y_tr)
    seconds = time.perf_counter() - start
    return {"dataset": name, "model": model, "recipe": recipe, "seed": seed,
            "train_acc": clf.score(X_tr, y_tr), "val_acc": clf.score(X_val, y_val),
            "test_acc": clf.score(X_test, y_test), "seconds": round(seconds, 2),
            "n_params": clf.n_params_}


def summarise(results):
    """One row per (data set, model, recipe): mean and sample sd over the seeds."""
    rows = []
    for name, model, recipe in RUNS:
        runs = [r for r in results if (r["dataset"], r["model"], r["recipe"])
                == (name, model, recipe)]
        if not runs:
            continue
        row = {"dataset": name, "model": model, "recipe": recipe, "n_seeds": len(runs),
               "n_params": runs[0]["n_params"],
               "seconds": round(float(np.mean([r["seconds"] for r in runs])), 1)}
        for key in ("train_acc", "val_acc", "test_acc"):
            values = np.array([r[key] for r in runs])
            row[key] = round(float(values.mean()), 4)
            row[key + "_sd"] = round(float(values.std(ddof=1)) if len(values) > 1 else 0.0, 4)
        rows.append(row)
    return rows


def markdown(summary, meta):
    """The table as Markdown, with the command that reproduces it."""
    lines = [
        "# Stage 5 experiment: models, recipes and data sets",
        "",
        f"Measured {meta['date']} on {meta['machine']} ({meta['threads']} BLAS thread per run, "
        f"{meta['dtype']}), seeds {', '.join(map(str, meta['seeds']))}; "
        f"{meta['minutes']:.1f} minutes in all. Reproduce with:",
        "",
        "```bash",
        COMMAND,
        "```",
        "",
        f"Training set: 4000 minus a stratified validation set of {N_VAL} (seed 0); test set: "
        "1000. Mean +- sample standard deviation over the seeds. \"paper\": Adam 1e-2, batches "
        "of 100, 6000 steps, constant rate (Greydanus & Kobak); \"ours\": the same with cosine "
        "decay and random shifts of up to 2 samples; \"MNIST preset\": Adam 2e-3, cosine, "
        "batches of 50, 1200 steps. Published MNIST-1D test accuracies: logistic 0.32, "
        "MLP 0.68, CNN 0.94.",
        "",
        "| data set | model | recipe | parameters | train acc | validation acc | test acc "
        "| s per run |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in summary:
        lines.append(
            f"| {r['dataset']} | {r['model']} | {r['recipe']} | {r['n_params']} "
            f"| {r['train_acc']:.3f} ± {r['train_acc_sd']:.3f} "
            f"| {r['val_acc']:.3f} ± {r['val_acc_sd']:.3f} "
            f"| {r['test_acc']:.3f} ± {r['test_acc_sd']:.3f} | {r['seconds']:.1f} |")
    return "\n".join(lines) + "\n"


def main(seeds=(0, 1, 2), json_path=JSON_PATH, md_path=MD_PATH, only=None, steps=None,
         log=print):
    """Run the experiment; write the JSON and the Markdown. ``only`` keeps the runs whose
    data set is in it; ``steps`` overrides every recipe's number of steps (smoke tests)."""
    start = time.perf_counter()
    results, cache = [], {}
    for name, model, recipe in RUNS:
        if only and name not in only:
            continue
        if name not in cache:
            cache[name] = load(name)
        for seed in seeds:
            r = run_one(name, model, recipe, seed, cache[name], steps=steps)
            results.append(r)
            log(f"{name:<17} {model:<12} {recipe:<13} seed {seed}: val {r['val_acc']:.3f} "
                f"test {r['test_acc']:.3f} ({r['seconds']:.1f} s)")
    meta = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "machine": f"{platform.machine()}, {os.cpu_count()} cores",
            "threads": os.environ.get("OPENBLAS_NUM_THREADS", "default"),
            "dtype": "float32", "seeds": list(seeds), "n_val": N_VAL, "command": COMMAND,
            "minutes": round((time.perf_counter() - start) / 60, 1),
            "published": PUBLISHED}
    summary = summarise(results)
    out = {"meta": meta, "summary": summary, "runs": results}
    Path(json_path).parent.mkdir(parents=True, exist_ok=True)
    Path(json_path).write_text(json.dumps(out, indent=1) + "\n")
    Path(md_path).parent.mkdir(parents=True, exist_ok=True)
    Path(md_path).write_text(markdown(summary, meta))
    return out
