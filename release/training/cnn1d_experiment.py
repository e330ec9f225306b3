"""Stage 5's experiment as the notebook reads it: the results of
``python -m course experiment`` (``experiment.json``, beside the notebook)
as Markdown tables.

The canonical copy is ``course/cnn1d_experiment.py``; the build copies it into the
stage folders that use it. Edit it there, never in a stage folder.
"""


def load_experiment(path="experiment.json"):
    """The results of ``python -m course experiment`` (shipped beside the notebook).

    Returns the dict ``{"meta", "summary", "runs"}``: ``summary`` has one row
    per (dataset, model, recipe) with the mean and sample standard deviation
    over seeds of ``train_acc``, ``val_acc`` and ``test_acc``.
    """
    import json
    from pathlib import Path

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: it ships beside the training notebook; "
                                "copy it back from the course release")
    return json.loads(path.read_text())


def _mean_sd(row, key):
    if row.get(key) is None:
        return "–"
    return f"{row[key]:.3f} ± {row[key + '_sd']:.3f}"


def experiment_table(results, datasets=None, test=False):
    """The experiment's summary as a Markdown table (``display(Markdown(...))``).

    ``datasets``: the data sets to list (default: all), e.g. ``["mnist1d"]``.
    ``test``: add the test accuracy and its binomial standard error; leave it
    False until every choice is made (the test set is looked at once).
    """
    head = "| data set | model | recipe | train acc | validation acc |"
    rule = "|---|---|---|---:|---:|"
    if test:
        head, rule = head + " test acc | test SE |", rule + "---:|---:|"
    lines = [head, rule]
    for r in results["summary"]:
        if datasets is None or r["dataset"] in datasets:
            cells = [_mean_sd(r, "train_acc"), _mean_sd(r, "val_acc")]
            if test:
                cells += [_mean_sd(r, "test_acc"), f"{r['test_acc_se']:.3f}"]
            lines.append(f"| {r['dataset']} | {r['model']} | {r['recipe']} | "
                         + " | ".join(cells) + " |")
    meta = results["meta"]
    lines.append("")
    note = (f"Mean ± standard deviation over seeds {', '.join(map(str, meta['seeds']))}"
            + ("; test SE: the binomial standard error sqrt(p(1-p)/n) of one accuracy p on "
               f"the n = {meta['n_test']} test signals" if test else "")
            + f"; measured {meta['date']} with `{meta['command']}`.")
    lines.append(note)
    return "\n".join(lines)


def differences_table(results, comparisons=None, test=False):
    """Paired differences of the experiment (a - b, seed by seed) as a Markdown table.

    ``comparisons``: substrings of the comparisons to list (default: all);
    ``test``: the test accuracy's differences instead of the validation's.
    """
    key = "test_acc" if test else "val_acc"
    lines = [f"| comparison (a − b) | mean difference ± SE, {'test' if test else 'validation'}"
             " | seeds where a wins |", "|---|---:|---:|"]
    for d in results["differences"]:
        if d[key] is None or (comparisons and not any(c in d["comparison"]
                                                       for c in comparisons)):
            continue
        v = d[key]
        lines.append(f"| {d['comparison']} | {v['mean']:+.3f} ± {v['se']:.3f} | "
                     f"{v['positive']} of {d['n_seeds']} |")
    lines += ["", "SE: the standard deviation of the per-seed differences divided by "
              "sqrt(number of seeds). The same seed gives both runs the same initial weights "
              "(and, where the recipes allow, the same batches), so the difference cancels "
              "what the two runs share."]
    return "\n".join(lines)
