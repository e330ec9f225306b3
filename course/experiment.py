"""Stage 5's experiment: which model, which recipe, on which data, over several seeds.

``python -m course experiment`` trains, for every seed (default 0 to 4):

- on **MNIST-1D** (3500 training signals, reshuffled every epoch, and a
  validation set of 500): logistic regression, a plain MLP (100-100), the
  paper's MLP (``MLP residual``: h2 = h1 + relu(W2 h1)) and the paper's CNN,
  each with four recipes crossing the two changes of ours: the **paper's**
  (Adam 1e-2, batches of 100, 6000 steps, constant rate), **paper + cosine**,
  **paper + shifts** (random shifts of up to 2 samples) and **ours** (both);
- in **the paper's setting**: all 4000 training signals, batches taken in their
  stored order (``FixedOrder``), the paper's recipe, no validation set;
- on **MNIST-1D with its positions shuffled** (one fixed permutation of the 40
  samples, the same for every signal): the four models, paper's recipe;
- on the **MNIST subset flattened to 784**: logistic regression, the plain MLP
  and the dilated CNN of ``course/train.py``, with the MNIST preset's recipe
  (Adam 2e-3, cosine, batches of 50, 1200 steps).

It reports the validation accuracy (what a choice is made on) and the test
accuracy (looked at once, at the end of the notebook) with its binomial
standard error, and the paired differences of ``COMPARISONS`` seed by seed.
Results go to ``course/data/experiment.json`` (shipped beside the training
notebook, which shows it) and Markdown tables to ``docs/experiment.md``.
Seeds run in separate processes are joined with ``--merge``.
"""

import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

from course.cnn1d_data import train_val_split
from course.cnn1d_layer import Layer
from course.datasets import load_dataset
from solutions import Flatten, Linear, ReLU, Scratch1dCNNClassifier, shift_and_noise

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
    "MLP residual": {"conv_layers": (), "hidden": (100, 100)},
    "CNN": {"conv_layers": MNIST1D_CNN},
}
MNIST_MODELS = {"logistic": MODELS["logistic"], "MLP 100-100": MODELS["MLP 100-100"],
                "CNN": {"conv_layers": MNIST_CNN, "pool": ("max", 2, 2), "init": "he"}}

PAPER = {"optimizer": "adam", "lr": 1e-2, "batch_size": 100, "steps": 6000}
SHIFTS = shift_and_noise(max_shift=2)
RECIPES = {
    "paper": PAPER,
    "paper + cosine": dict(PAPER, lr_decay="cosine"),
    "paper + shifts": dict(PAPER, augment=SHIFTS),
    "ours": dict(PAPER, lr_decay="cosine", augment=SHIFTS),
    "MNIST preset": {"optimizer": "adam", "lr": 2e-3, "lr_decay": "cosine", "batch_size": 50,
                     "steps": 1200},
}
MNIST1D_RECIPES = ("paper", "paper + cosine", "paper + shifts", "ours")

#: The paper's own setting: all 4000 training signals, batches taken in their stored order.
PAPER_RUN = "mnist1d 4000, fixed order"

#: (data set, model, recipe) in the order of the table.
RUNS = (
    [("mnist1d", m, r) for r in MNIST1D_RECIPES for m in MODELS]
    + [(PAPER_RUN, m, "paper") for m in MODELS]
    + [("mnist1d shuffled", m, "paper") for m in MODELS]
    + [("mnist", m, "MNIST preset") for m in MNIST_MODELS]
)
DATASETS = ("mnist1d", PAPER_RUN, "mnist1d shuffled", "mnist")

#: Paired comparisons: (what, (data set, model, recipe) of a, of b); the difference is a - b,
#: seed by seed.
COMPARISONS = (
    [(f"{m}: cosine decay (no shifts)", ("mnist1d", m, "paper + cosine"), ("mnist1d", m, "paper"))
     for m in MODELS]
    + [(f"{m}: shifts (constant rate)", ("mnist1d", m, "paper + shifts"), ("mnist1d", m, "paper"))
       for m in MODELS]
    + [(f"{m}: shifts (with cosine)", ("mnist1d", m, "ours"), ("mnist1d", m, "paper + cosine"))
       for m in MODELS]
    + [(f"{m}: ours vs paper", ("mnist1d", m, "ours"), ("mnist1d", m, "paper")) for m in MODELS]
    + [("residual vs plain MLP (paper)", ("mnist1d", "MLP residual", "paper"),
        ("mnist1d", "MLP 100-100", "paper")),
       ("residual vs plain MLP (ours)", ("mnist1d", "MLP residual", "ours"),
        ("mnist1d", "MLP 100-100", "ours"))]
    + [(f"{m}: 4000 in fixed order vs 3500 reshuffled", (PAPER_RUN, m, "paper"),
        ("mnist1d", m, "paper")) for m in MODELS]
    + [(f"{m}: shuffled positions", ("mnist1d shuffled", m, "paper"), ("mnist1d", m, "paper"))
       for m in MODELS]
)

#: Greydanus & Kobak, MNIST-1D test accuracy, CNN/MLP/logistic (their MLP is "MLP residual").
PUBLISHED = {"logistic": 0.32, "MLP residual": 0.68, "CNN": 0.94}
PUBLISHED_SHUFFLED = {"logistic": 0.32, "MLP residual": 0.68, "CNN": 0.56}
N_TEST = 1000


class Residual(Layer):
    """``x + relu(linear(x))``: the hidden block of the MNIST-1D paper's MLP."""

    def __init__(self, linear):
        self.linear, self.relu = linear, ReLU()

    def forward(self, x):
        return x + self.relu.forward(self.linear.forward(x))

    def backward(self, dout):
        return dout + self.linear.backward(self.relu.backward(dout))

    def parameters(self):
        yield from self.linear.parameters()


class ResidualMLP(Scratch1dCNNClassifier):
    """The paper's MLP: Linear(L, 100), ReLU, h + ReLU(Linear(100, 100) h), Linear(100, K)."""

    def _build(self, in_shape, n_classes, rng):
        C, L = in_shape
        w1, w2 = self.hidden
        first = Linear.init(C * L, w1, rng, scheme=self.init)
        block = Residual(Linear.init(w1, w2, rng, scheme=self.init))
        last = Linear.init(w2, n_classes, rng, scheme=self.init)
        for lin in (first, block.linear, last):
            lin.w, lin.b = lin.w.astype(self.dtype), lin.b.astype(self.dtype)
        return [Flatten(), first, ReLU(), block, last]


class FixedOrder(Scratch1dCNNClassifier):
    """The paper's batch order: batch i holds samples (i*B .. i*B+B-1) mod N, never shuffled."""

    def _batches(self, N, rng):
        pos = 0
        while True:
            yield np.arange(pos, pos + self.batch_size) % N
            pos = (pos + self.batch_size) % N


def shuffle_positions(X, seed=SHUFFLE_SEED):
    """The same fixed permutation of the positions (last axis) applied to every signal."""
    perm = np.random.default_rng(seed).permutation(X.shape[-1])
    return X[..., perm]


def load(name):
    """(X_train, y_train, X_val, y_val, X_test, y_test) of a data set of the table; the
    paper's run has no validation set (None, None): it trains on all 4000."""
    data = load_dataset("mnist" if name == "mnist" else "mnist1d")
    X_train, y_train, X_test, y_test = data
    if name == "mnist1d shuffled":
        X_train, X_test = shuffle_positions(X_train), shuffle_positions(X_test)
    if name == PAPER_RUN:
        return X_train, y_train, None, None, X_test, y_test
    X_tr, y_tr, X_val, y_val = train_val_split(X_train, y_train, n_val=N_VAL, seed=0)
    return X_tr, y_tr, X_val, y_val, X_test, y_test


def make_classifier(name, model, recipe, seed, dtype="float32", steps=None):
    """The classifier of one run, unfitted."""
    models = MNIST_MODELS if name == "mnist" else MODELS
    settings = dict(RECIPES[recipe], **({} if steps is None else {"steps": steps}))
    cls = ResidualMLP if model == "MLP residual" else Scratch1dCNNClassifier
    if name == PAPER_RUN:
        cls = type(f"FixedOrder{cls.__name__}", (FixedOrder, cls), {})
    return cls(**models[model], **settings, dtype=dtype, seed=seed, verbose=False)


def run_one(name, model, recipe, seed, data, dtype="float32", steps=None):
    """Train one model; returns a dict of its accuracies and wall time."""
    X_tr, y_tr, X_val, y_val, X_test, y_test = data
    clf = make_classifier(name, model, recipe, seed, dtype, steps)
    start = time.perf_counter()
    clf.fit(X_tr, y_tr)
    seconds = time.perf_counter() - start
    return {"dataset": name, "model": model, "recipe": recipe, "seed": seed,
            "train_acc": clf.score(X_tr, y_tr),
            "val_acc": None if X_val is None else clf.score(X_val, y_val),
            "test_acc": clf.score(X_test, y_test), "seconds": round(seconds, 2),
            "n_params": clf.n_params_}


def binomial_se(p, n):
    """Standard error of an accuracy p measured on n independent samples: sqrt(p(1-p)/n)."""
    return float(np.sqrt(p * (1 - p) / n))


def _mean_sd(values):
    values = np.asarray(values, dtype=float)
    sd = float(values.std(ddof=1)) if len(values) > 1 else 0.0
    return round(float(values.mean()), 4), round(sd, 4)


def summarise(results):
    """One row per (data set, model, recipe): mean and sample sd over the seeds, and the
    binomial standard error of the mean test (and validation) accuracy."""
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
            if runs[0][key] is None:
                row[key] = row[key + "_sd"] = None
                continue
            row[key], row[key + "_sd"] = _mean_sd([r[key] for r in runs])
        row["test_acc_se"] = round(binomial_se(row["test_acc"], N_TEST), 4)
        row["val_acc_se"] = (None if row["val_acc"] is None
                             else round(binomial_se(row["val_acc"], N_VAL), 4))
        rows.append(row)
    return rows


def differences(results):
    """Paired differences a - b over the seeds both have (same seed: same initial weights,
    same batch order where the recipes allow): mean, sd, standard error of the mean
    (sd / sqrt(n)) and how many seeds favour a, for validation and test accuracy."""
    by_key = {(r["dataset"], r["model"], r["recipe"], r["seed"]): r for r in results}
    out = []
    for what, a, b in COMPARISONS:
        seeds = sorted(s for (*k, s) in by_key if tuple(k) == a and (*b, s) in by_key)
        if not seeds:
            continue
        row = {"comparison": what, "a": list(a), "b": list(b), "n_seeds": len(seeds)}
        for key in ("val_acc", "test_acc"):
            pairs = [(by_key[(*a, s)][key], by_key[(*b, s)][key]) for s in seeds]
            if any(x is None or y is None for x, y in pairs):
                row[key] = None
                continue
            d = np.array([x - y for x, y in pairs])
            mean, sd = _mean_sd(d)
            row[key] = {"mean": mean, "sd": sd,
                        "se": round(sd / np.sqrt(len(d)), 4), "positive": int(np.sum(d > 0)),
                        "per_seed": [round(float(v), 4) for v in d]}
        out.append(row)
    return out


def _cell(r, key):
    if r[key] is None:
        return "–"
    return f"{r[key]:.3f} ± {r[key + '_sd']:.3f}"


def markdown(summary, meta, diffs=()):
    """The tables as Markdown, with the command that reproduces them."""
    lines = [
        "# Stage 5 experiment: models, recipes and data sets",
        "",
        f"Measured {meta['date']} on {meta['machine']} ({meta['threads']} BLAS thread per run, "
        f"{meta['dtype']}), seeds {', '.join(map(str, meta['seeds']))}; "
        f"{meta['minutes']:.1f} minutes of training in all ({meta.get('how', 'one process')}). "
        "Reproduce with:",
        "",
        "```bash",
        COMMAND + " --seeds " + " ".join(map(str, meta["seeds"])),
        "```",
        "",
        f"Training set: MNIST-1D's 4000 minus a stratified validation set of {N_VAL} (seed 0), "
        "batches reshuffled every epoch; test set: 1000. \"mnist1d 4000, fixed order\": the "
        "paper's own setting, all 4000 training signals in batches taken in their stored order "
        "(no validation set). \"paper\": Adam 1e-2, batches of 100, 6000 steps, constant rate "
        "(Greydanus & Kobak); \"paper + cosine\": with a cosine decay of the rate; \"paper + "
        "shifts\": with every training signal shifted by a random 0 to 2 samples; \"ours\": "
        "both. \"MLP 100-100\": two hidden ReLU layers; \"MLP residual\": the paper's MLP, "
        "h1 = relu(W1 x), h2 = h1 + relu(W2 h1) (the same 15,210 parameters). \"MNIST preset\": "
        "Adam 2e-3, cosine, batches of 50, 1200 steps. Mean ± sample standard deviation over the "
        f"seeds; \"test SE\": the binomial standard error sqrt(p(1-p)/{N_TEST}) of one test "
        "accuracy p, the sampling error of the test set that the seeds do not show. Published "
        "MNIST-1D test accuracies (Greydanus & Kobak 2020, the preprint whose recipe this is): "
        "logistic 0.32, MLP 0.68, CNN 0.94; with shuffled positions the CNN 0.56.",
        "",
        "| data set | model | recipe | parameters | train acc | validation acc | test acc "
        "| test SE | s per run |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in summary:
        lines.append(
            f"| {r['dataset']} | {r['model']} | {r['recipe']} | {r['n_params']} "
            f"| {_cell(r, 'train_acc')} | {_cell(r, 'val_acc')} | {_cell(r, 'test_acc')} "
            f"| {r['test_acc_se']:.3f} | {r['seconds']:.1f} |")
    if diffs:
        lines += ["", "## Paired differences (a − b, seed by seed)", "",
                  "Mean ± standard error of the mean difference over the seeds, and how many "
                  "seeds favour a.", "",
                  "| comparison | validation | test |", "|---|---:|---:|"]
        for d in diffs:
            cells = []
            for key in ("val_acc", "test_acc"):
                v = d[key]
                cells.append("–" if v is None else
                             f"{v['mean']:+.3f} ± {v['se']:.3f} ({v['positive']}/{d['n_seeds']})")
            lines.append(f"| {d['comparison']} | {cells[0]} | {cells[1]} |")
    return "\n".join(lines) + "\n"


def write(results, meta, json_path=JSON_PATH, md_path=MD_PATH):
    """Summarise ``results`` and write the JSON and the Markdown; returns the JSON's dict."""
    summary, diffs = summarise(results), differences(results)
    out = {"meta": meta, "summary": summary, "differences": diffs, "runs": results}
    Path(json_path).parent.mkdir(parents=True, exist_ok=True)
    Path(json_path).write_text(json.dumps(out, indent=1) + "\n")
    Path(md_path).parent.mkdir(parents=True, exist_ok=True)
    Path(md_path).write_text(markdown(summary, meta, diffs))
    return out


def main(seeds=(0, 1, 2, 3, 4), json_path=JSON_PATH, md_path=MD_PATH, only=None, steps=None,
         log=print, models=None):
    """Run the experiment; write the JSON and the Markdown. ``only`` keeps the runs whose
    data set is in it, ``models`` those of these models; ``steps`` overrides every recipe's
    number of steps (smoke tests). The runs so far are also written, after each one, to a
    file in the temporary folder (its path is logged first), so that a process stopped early
    leaves what it finished; it is removed at the end."""
    start = time.perf_counter()
    results, cache = [], {}
    partial = Path(tempfile.gettempdir()) / f"cnn1d-experiment-{os.getpid()}.partial.json"
    log(f"runs so far: {partial}")
    for name, model, recipe in RUNS:
        if (only and name not in only) or (models and model not in models):
            continue
        if name not in cache:
            cache[name] = load(name)
        for seed in seeds:
            r = run_one(name, model, recipe, seed, cache[name], steps=steps)
            results.append(r)
            partial.write_text(json.dumps(results) + "\n")
            val = "-" if r["val_acc"] is None else f"{r['val_acc']:.3f}"
            log(f"{name:<26} {model:<12} {recipe:<14} seed {seed}: val {val} "
                f"test {r['test_acc']:.3f} ({r['seconds']:.1f} s)")
    meta = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "machine": f"{platform.machine()}, {os.cpu_count()} cores",
            "threads": os.environ.get("OPENBLAS_NUM_THREADS", "default"),
            "dtype": "float32", "seeds": list(seeds), "n_val": N_VAL, "n_test": N_TEST,
            "command": COMMAND, "minutes": round((time.perf_counter() - start) / 60, 1),
            "published": PUBLISHED, "published_shuffled": PUBLISHED_SHUFFLED}
    out = write(results, meta, json_path, md_path)
    partial.unlink(missing_ok=True)
    return out


def merge(paths, json_path=JSON_PATH, md_path=MD_PATH):
    """Join the runs of several JSON files written by ``main`` (e.g. seeds run in parallel
    processes) into one; a (data set, model, recipe, seed) twice is an error."""
    results, metas = [], []
    for path in paths:
        data = json.loads(Path(path).read_text())
        results += data["runs"]
        metas.append(data["meta"])
    keys = [(r["dataset"], r["model"], r["recipe"], r["seed"]) for r in results]
    twice = {k for k in keys if keys.count(k) > 1}
    if twice:
        raise ValueError(f"runs given twice in {paths}: {sorted(twice)[:3]}")
    meta = dict(metas[0], seeds=sorted({s for m in metas for s in m["seeds"]}),
                minutes=round(sum(r["seconds"] for r in results) / 60, 1),
                date=max(m["date"] for m in metas),
                how=f"{len(paths)} processes side by side, seeds "
                    + "; ".join(", ".join(map(str, m["seeds"])) for m in metas)
                    + ", joined with --merge")
    return write(results, meta, json_path, md_path)
