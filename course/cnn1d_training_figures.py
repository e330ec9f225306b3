"""The figures of stage 5: examples, pooling and its gradients, activation
functions, learning curves, filters, feature maps, a confusion matrix and
the comparisons with the published results. Each draws one figure with alt
text and returns it.

The canonical copy is ``course/cnn1d_training_figures.py``; the build copies it into the
stage folders that use it. Edit it there, never in a stage folder.
"""

import numpy as np

try:  # inside the kit (package course)
    from .cnn1d_data import MNIST1D_PUBLISHED
    from .cnn1d_figures import _join, set_alt_text
except ImportError:  # beside a notebook
    from cnn1d_data import MNIST1D_PUBLISHED
    from cnn1d_figures import _join, set_alt_text


def plot_examples(X, y, image_shape=None, title="", alt=None):
    """One example of each class: the sequence, and the image it came from.

    Parameters
    ----------
    X : array_like, shape (N, L)
    y : array_like, shape (N,)
    image_shape : tuple of int, optional
        E.g. (28, 28): also draw each sequence folded back into an image.
    title : str
    alt : str, optional
        The figure's alt text (see ``set_alt_text``); by default a description
        generated from the data.
    """
    import matplotlib.pyplot as plt

    X, y = np.asarray(X, dtype=float), np.asarray(y)
    classes = np.unique(y)
    rows = 2 if image_shape else 1
    fig, axes = plt.subplots(rows, len(classes), figsize=(1.6 * len(classes), 1.7 * rows + 0.5),
                             squeeze=False)
    for j, c in enumerate(classes):
        x = X[np.flatnonzero(y == c)[0]]
        axes[0, j].plot(x, lw=0.8)
        axes[0, j].set_title(f"class {c}", fontsize=9)
        axes[0, j].set_xticks([0, len(x) - 1])
        axes[0, j].tick_params(labelsize=7)
        if image_shape:
            axes[1, j].imshow(x.reshape(image_shape), cmap="gray_r")
            axes[1, j].axis("off")
    axes[0, 0].set_ylabel("sequence", fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    folded = (f", and below each the sequence folded back into a {image_shape[0]} x "
              f"{image_shape[1]} image" if image_shape else "")
    return set_alt_text(fig, alt or (
        (f"{title}. " if title else "") + f"One example of each of the {len(classes)} classes "
        f"({_join(classes.tolist())}): its sequence of {X.shape[1]} samples as a line "
        f"plot{folded}."))


def _pool_starts(L, kernel_size, stride):
    return np.arange((L - kernel_size) // stride + 1) * stride


def plot_pooling(x, kernel_size, stride, outputs, alt=None):
    """The pooling windows over ``x`` and what each pooling makes of them.

    Parameters
    ----------
    x : array_like, shape (L,)
    kernel_size, stride : int
    outputs : dict of str -> array_like of shape (L_out,)
        E.g. ``{"max": out_max, "average": out_avg}``; each output is drawn
        as a horizontal segment over its window.
    alt : str, optional
        The figure's alt text (see ``set_alt_text``); by default a description
        generated from the data.
    """
    import matplotlib.pyplot as plt

    x = np.asarray(x, dtype=float)
    starts = _pool_starts(len(x), kernel_size, stride)
    fig, ax = plt.subplots(figsize=(9, 3.2))
    ax.bar(np.arange(len(x)), x, color="0.8", label="input x")
    low = min(x.min(), 0.0)
    for i, s in enumerate(starts):
        level = low - 0.25 - 0.25 * (i % 2 if stride < kernel_size else 0)
        ax.plot([s - 0.4, s + kernel_size - 0.6], [level, level], color=f"C{i % 10}", lw=3)
        ax.text(s + (kernel_size - 1) / 2, level - 0.1, f"window {i}", ha="center", va="top",
                fontsize=7, color=f"C{i % 10}")
    markers = ("s", "o", "^", "D")
    for (name, out), m in zip(outputs.items(), markers, strict=False):
        out = np.asarray(out, dtype=float)
        for i, s in enumerate(starts):
            ax.plot([s - 0.4, s + kernel_size - 0.6], [out[i], out[i]], lw=1.5,
                    color=f"C{i % 10}")
            ax.plot(s + (kernel_size - 1) / 2, out[i], m, color=f"C{i % 10}", mfc="white",
                    label=name if i == 0 else None)
    ax.set(xlabel="position", ylim=(low - 0.85, x.max() + 0.6),
           title=f"pooling with kernel_size K={kernel_size}, stride S={stride}: "
                 f"L={len(x)} -> L_out={len(starts)}")
    ax.legend(fontsize=8, loc="upper right")
    return set_alt_text(fig, alt or (
        f"Bar chart of an input x of {len(x)} samples with the {len(starts)} pooling windows "
        f"(size {kernel_size}, stride {stride}) marked as coloured bars below it and, over each "
        f"window, the output of {_join(outputs)} pooling as a short line with a marker."))


def plot_pool_gradients(x, dout, grads, kernel_size, stride, alt=None):
    """Where the gradient of each pooling window goes.

    Parameters
    ----------
    x : array_like, shape (L,)
    dout : array_like, shape (L_out,)
        The upstream gradient, one value per window.
    grads : dict of str -> array_like of shape (L,)
        The input gradients dx of each kind of pooling.
    kernel_size, stride : int
    alt : str, optional
        The figure's alt text (see ``set_alt_text``); by default a description
        generated from the data.
    """
    import matplotlib.pyplot as plt

    x, dout = np.asarray(x, dtype=float), np.asarray(dout, dtype=float)
    starts = _pool_starts(len(x), kernel_size, stride)
    fig, axes = plt.subplots(1 + len(grads), 1, figsize=(9, 1.8 * (1 + len(grads)) + 0.4),
                             sharex=True)
    axes[0].bar(np.arange(len(x)), x, color="0.75")
    for i, s in enumerate(starts):
        axes[0].axvspan(s - 0.45, s + kernel_size - 0.55, ymin=0.02 + 0.05 * (i % 2),
                        ymax=0.07 + 0.05 * (i % 2), color=f"C{i % 10}")
        axes[0].text(s + (kernel_size - 1) / 2, x.max() * 1.05, f"dout={dout[i]:g}",
                     ha="center", fontsize=7, color=f"C{i % 10}")
    axes[0].set_ylabel("x", rotation=0, ha="right")
    axes[0].set_ylim(min(0.0, x.min()) - 0.2, x.max() * 1.3 + 0.2)
    for ax, (name, dx) in zip(axes[1:], grads.items(), strict=True):
        dx = np.asarray(dx, dtype=float)
        ax.bar(np.arange(len(dx)), dx, color="tab:red")
        ax.axhline(0, color="k", lw=0.5)
        ax.set_ylabel(f"dx\n({name})", rotation=0, ha="right", va="center", fontsize=9)
    axes[-1].set_xlabel("position")
    fig.suptitle(f"backward of pooling, K={kernel_size}, S={stride}", fontsize=10)
    fig.tight_layout()
    return set_alt_text(fig, alt or (
        f"Top: bar chart of an input x of {len(x)} samples with its {len(starts)} pooling "
        f"windows (size {kernel_size}, stride {stride}), each labelled with its upstream "
        f"gradient dout. Below, one bar chart per kind of pooling ({_join(grads)}): the input "
        "gradient dx at every position."))


def plot_activation_functions(layers, z=None, alt=None):
    """Each activation ``f`` and its derivative ``f'``, side by side.

    Parameters
    ----------
    layers : dict of str -> Layer
        Activation layers; ``f'`` is read from ``backward(ones)`` after
        ``forward(z)``.
    z : array_like, optional
        Where to evaluate; default ``linspace(-5, 8, 521)``.
    alt : str, optional
        The figure's alt text (see ``set_alt_text``); by default a description
        generated from the data.
    """
    import matplotlib.pyplot as plt

    z = np.linspace(-5, 8, 521) if z is None else np.asarray(z, dtype=float)
    fig, (ax_f, ax_d) = plt.subplots(1, 2, figsize=(11, 4))
    for i, (name, layer) in enumerate(layers.items()):
        f = layer.forward(z)
        d = layer.backward(np.ones_like(z))
        style = "--" if name in ("sigmoid", "tanh") else "-"
        ax_f.plot(z, f, style, color=f"C{i}", label=name)
        ax_d.plot(z, d, style, color=f"C{i}", label=name)
    ax_f.set(xlabel="z", ylabel="f(z)", ylim=(-2, 7), title="activation f(z)")
    ax_d.set(xlabel="z", ylabel="f'(z)", ylim=(-0.1, 1.3), title="derivative f'(z)")
    for ax in (ax_f, ax_d):
        ax.axhline(0, color="k", lw=0.5)
        ax.axvline(0, color="k", lw=0.5)
        ax.grid(alpha=0.3)
    ax_d.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    return set_alt_text(fig, alt or (
        f"Two line plots over z from {z.min():g} to {z.max():g}: left the activation functions "
        f"f(z), right their derivatives f'(z), for {_join(layers)} (sigmoid and tanh "
        "dashed)."))


def plot_history(history, published=None, title="", alt=None, val_name="validation"):
    """Learning curves from ``Scratch1dCNNClassifier.history_``: loss and accuracy.

    Parameters
    ----------
    history : dict of lists
        ``step``, ``loss``, ``train_acc`` and optionally ``val_loss``, ``val_acc``.
    published : dict of str -> float, optional
        Reference accuracies drawn as dotted lines (those above 0.5).
    title : str
    val_name : str
        What the ``val_*`` curves are called in the legend: the data passed to
        ``fit`` as ``X_val`` (a validation set, never the test set).
    alt : str, optional
        The figure's alt text (see ``set_alt_text``); by default a description
        generated from the data.
    """
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 3.8))
    steps = history["step"]
    ax_loss.plot(steps, history["loss"], label="train")
    ax_acc.plot(steps, history["train_acc"], label="train")
    if "val_loss" in history:
        ax_loss.plot(steps, history["val_loss"], label=val_name)
        ax_acc.plot(steps, history["val_acc"], label=val_name)
    for name, acc in (published or {}).items():
        if acc > 0.5:
            ax_acc.axhline(acc, ls=":", lw=1, color="gray")
            ax_acc.text(steps[0], acc, f" {name} {acc:.2f}", ha="left", va="bottom",
                        fontsize=7, color="gray")
    ax_loss.set(xlabel="step", ylabel="cross-entropy", yscale="log", title="loss")
    ax_acc.set(xlabel="step", ylabel="accuracy", ylim=(0, 1.02), title="accuracy")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    final = f"training loss {history['loss'][-1]:.3g}, accuracy {history['train_acc'][-1]:.3f}"
    if "val_loss" in history:
        final += (f"; {val_name} loss {history['val_loss'][-1]:.3g}, accuracy "
                  f"{history['val_acc'][-1]:.3f}")
    lines = [f"{name} {acc:.2f}" for name, acc in (published or {}).items() if acc > 0.5]
    return set_alt_text(fig, alt or (
        (f"{title}. " if title else "") + "Learning curves, two line plots against the "
        f"training step (0 to {steps[-1]}): left the cross-entropy loss on a log scale, right "
        f"the accuracy{', with dotted lines for ' + _join(lines) if lines else ''}. At the "
        f"end: {final}."))


def plot_filters(w, title="learned filters", alt=None):
    """The kernels of a convolution, one small panel per output channel.

    Parameters
    ----------
    w : array_like, shape (C_out, C_in, F)
        For C_in = 1 each kernel is drawn as a stem plot, otherwise as an
        image (rows: input channels, columns: taps).
    title : str
    alt : str, optional
        The figure's alt text (see ``set_alt_text``); by default a description
        generated from the data.
    """
    import matplotlib.pyplot as plt

    w = np.asarray(w, dtype=float)
    C_out, C_in, F = w.shape
    cols = min(C_out, 10)
    rows = -(-C_out // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(1.25 * cols, 1.05 * rows + 0.5), squeeze=False)
    lim = np.abs(w).max() or 1.0
    for o, ax in enumerate(axes.flat):
        ax.set_xticks([])
        ax.set_yticks([])
        if o >= C_out:
            ax.axis("off")
            continue
        if C_in == 1:
            ax.axhline(0, color="0.6", lw=0.5)
            ax.stem(np.arange(F), w[o, 0], basefmt=" ")
            ax.set_ylim(-lim * 1.1, lim * 1.1)
        else:
            ax.imshow(w[o], cmap="RdBu_r", vmin=-lim, vmax=lim, aspect="auto")
        ax.set_title(str(o), fontsize=7, pad=2)
    fig.suptitle(f"{title}: {C_out} kernels of shape ({C_in}, {F})", fontsize=10)
    fig.tight_layout()
    drawn = (f"a stem plot of its {F} weights" if C_in == 1 else
             f"a blue-red image of its {C_in} x {F} weights (rows: input channels)")
    return set_alt_text(fig, alt or (
        f"{title}: {C_out} kernels of shape ({C_in}, {F}), one small panel each, numbered 0 "
        f"to {C_out - 1}, showing {drawn}; weights range from {w.min():.2g} to "
        f"{w.max():.2g}."))


def plot_layer_outputs(x, outputs, alt=None):
    """One example travelling through a network: the input, then each feature map.

    Parameters
    ----------
    x : array_like, shape (L,)
    outputs : dict of str -> array_like of shape (C, L_k)
        The output of each stage (e.g. after each ReLU), drawn as an image
        with one column per channel.
    alt : str, optional
        The figure's alt text (see ``set_alt_text``); by default a description
        generated from the data.
    """
    import matplotlib.pyplot as plt

    x = np.asarray(x, dtype=float)
    n = 1 + len(outputs)
    fig, axes = plt.subplots(1, n, figsize=(3.0 * n, 3.2))
    axes[0].plot(x, np.arange(len(x)))
    axes[0].invert_yaxis()
    axes[0].set(title=f"input (1, {len(x)})", ylabel="position")
    for ax, (name, out) in zip(axes[1:], outputs.items(), strict=True):
        out = np.asarray(out, dtype=float)
        ax.imshow(out.T, aspect="auto", cmap="viridis", interpolation="nearest")
        ax.set(title=f"{name} {out.shape}", xlabel="channel")
    fig.tight_layout()
    shapes = [f"{name} {np.shape(out)}" for name, out in outputs.items()]
    return set_alt_text(fig, alt or (
        f"Feature maps of one example: left the input signal of {len(x)} samples, drawn "
        "downwards; then one image per stage, one column per channel and position downwards, "
        f"brighter for larger values: {_join(shapes)}."))


def plot_confusion_matrix(y_true, y_pred, labels=None, title="", alt=None):
    """Counts of (true class, predicted class) pairs; the diagonal is right.

    Returns the figure; the matrix itself is ``fig.confusion`` (rows: true,
    columns: predicted, in the order of ``labels``). ``alt`` is the figure's
    alt text (see ``set_alt_text``); by default a description of the counts.
    """
    import matplotlib.pyplot as plt

    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    labels = np.unique(np.concatenate([y_true, y_pred])) if labels is None else np.asarray(labels)
    index = {label: i for i, label in enumerate(labels.tolist())}
    cm = np.zeros((len(labels), len(labels)), dtype=int)
    for t, p in zip(y_true.tolist(), y_pred.tolist(), strict=True):
        cm[index[t], index[p]] += 1
    fig, ax = plt.subplots(figsize=(5.2, 4.6))
    ax.imshow(cm, cmap="Blues")
    for i in range(len(labels)):
        for j in range(len(labels)):
            if cm[i, j]:
                ax.text(j, i, cm[i, j], ha="center", va="center", fontsize=7,
                        color="white" if cm[i, j] > cm.max() / 2 else "black")
    ax.set(xticks=range(len(labels)), yticks=range(len(labels)), xticklabels=labels,
           yticklabels=labels, xlabel="predicted class", ylabel="true class",
           title=title or f"confusion matrix, accuracy {np.trace(cm) / cm.sum():.3f}")
    fig.confusion = cm
    fig.tight_layout()
    off = cm - np.diag(np.diag(cm))
    t, p = np.unravel_index(off.argmax(), off.shape)
    mistake = (f"; the most frequent mistake is true {labels[t]} predicted as {labels[p]} "
               f"({off[t, p]} times)" if off[t, p] else "; no mistakes")
    return set_alt_text(fig, alt or (
        (f"{title}. " if title else "") + f"Confusion matrix of {len(labels)} classes, rows "
        f"the true class and columns the predicted class, darker blue for larger counts: "
        f"{np.trace(cm)} of {cm.sum()} examples on the diagonal (accuracy "
        f"{np.trace(cm) / cm.sum():.3f}){mistake}."))


def plot_published_comparison(ours, published=None, title="MNIST-1D test accuracy", alt=None,
                              sd=None):
    """Bar chart: our accuracies beside the published ones.

    Parameters
    ----------
    ours : dict of str -> float
    sd : dict of str -> float, optional
        Standard deviations of ``ours`` (over seeds), drawn as error bars.
    published : dict of str -> float, optional
        Default ``MNIST1D_PUBLISHED``.
    title : str
    alt : str, optional
        The figure's alt text (see ``set_alt_text``); by default a description
        generated from the data.
    """
    import matplotlib.pyplot as plt

    published = MNIST1D_PUBLISHED if published is None else published
    names = list(published) + list(ours)
    values = list(published.values()) + list(ours.values())
    colors = ["0.7"] * len(published) + ["tab:orange"] * len(ours)
    errors = [0.0] * len(published) + [(sd or {}).get(name, 0.0) for name in ours]
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(names) + 1))
    ax.barh(names, values, color=colors, xerr=errors if sd else None, capsize=3)
    for i, (v, e) in enumerate(zip(values, errors, strict=True)):
        ax.text(v + e + 0.01, i, f"{100 * v:.1f} %", va="center", fontsize=8)
    ax.invert_yaxis()
    ax.set(xlim=(0, 1.1), xlabel="test accuracy",
           title=f"{title}\n(grey: published, Greydanus 2020; orange: this course's runs)")
    listed = [f"{name} {100 * v:.1f} %" for name, v in zip(names, values, strict=True)]
    return set_alt_text(fig, alt or (
        f"{title}: horizontal bar chart, published results (grey) then this notebook's "
        f"(orange): {_join(listed)}."))


def plot_val_vs_test(results, dataset="mnist1d", model="CNN", recipes=None, alt=None):
    """Validation against test accuracy, one point per seed and recipe: do the two sets rank
    the seeds (and the recipes) the same way?"""
    import matplotlib.pyplot as plt

    runs = [r for r in results["runs"] if r["dataset"] == dataset and r["model"] == model
            and r["val_acc"] is not None and (recipes is None or r["recipe"] in recipes)]
    names = list(dict.fromkeys(r["recipe"] for r in runs))
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    described = []
    for name in names:
        mine = [r for r in runs if r["recipe"] == name]
        val = [r["val_acc"] for r in mine]
        test = [r["test_acc"] for r in mine]
        ax.scatter(val, test, label=name)
        for r in mine:
            ax.annotate(str(r["seed"]), (r["val_acc"], r["test_acc"]), fontsize=7,
                        xytext=(3, 3), textcoords="offset points")
        best_val = max(mine, key=lambda r: r["val_acc"])["seed"]
        best_test = max(mine, key=lambda r: r["test_acc"])["seed"]
        described.append(f"{name}: validation {min(val):.3f} to {max(val):.3f}, test "
                         f"{min(test):.3f} to {max(test):.3f}, best seed on validation "
                         f"{best_val}, on test {best_test}")
    lo = min(min(r["val_acc"], r["test_acc"]) for r in runs) - 0.005
    hi = max(max(r["val_acc"], r["test_acc"]) for r in runs) + 0.005
    ax.plot([lo, hi], [lo, hi], color="0.7", lw=1, label="test = validation")
    ax.set(xlim=(lo, hi), ylim=(lo, hi), xlabel="validation accuracy (500 signals)",
           ylabel="test accuracy (1000 signals)",
           title=f"{dataset}, {model}: one point per seed (labelled)")
    ax.legend(fontsize=8)
    return set_alt_text(fig, alt or (
        f"Scatter plot of {model} runs on {dataset}, validation accuracy on the x axis and "
        f"test accuracy on the y axis, one point per seed, with the diagonal: "
        + "; ".join(described) + "."))
