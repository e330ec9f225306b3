"""The figures of stages 1-4: the sliding window, window positions with
padding, stride and dilation, feature maps, padding modes and the patch
matrix. Each function draws one figure with alt text and returns it;
matplotlib is imported inside them so that importing this module stays cheap.

The canonical copy is ``course/cnn1d_conv_figures.py``; the build copies it into the
stage folders that use it. Edit it there, never in a stage folder.
"""

import numpy as np

try:  # inside the kit (package course)
    from .cnn1d_figures import _join, set_alt_text
except ImportError:  # beside a notebook
    from cnn1d_figures import _join, set_alt_text


def plot_sliding_window(x, w, b=0.0, position=0, ax=None, alt=None):
    """Show the filter ``w`` over ``x`` at ``position`` and the output so far.

    Parameters
    ----------
    x : array_like, shape (L,)
    w : array_like, shape (F,)
    b : float
    position : int
        Output index i whose receptive field ``x[i:i+F]`` is highlighted.
    ax : matplotlib Axes, optional
        Draw there; by default a new figure, with an alt text.
    alt : str, optional
        The figure's alt text (see ``set_alt_text``); by default a description
        generated from the data.
    """
    import matplotlib.pyplot as plt

    x, w = np.asarray(x, dtype=float), np.asarray(w, dtype=float)
    F, L = len(w), len(x)
    out = np.array([x[i:i + F] @ w + b for i in range(L - F + 1)])
    own = ax is None
    if own:
        _, ax = plt.subplots(figsize=(8, 3))
    ax.bar(np.arange(L), x, color="0.8", label="input x")
    ax.bar(np.arange(position, position + F), x[position:position + F], color="tab:orange",
           label=f"receptive field of out[{position}]")
    for k in range(F):
        ax.annotate(f"w[{k}]={w[k]:g}", (position + k, x[position + k]), ha="center",
                    va="bottom", fontsize=8, xytext=(0, 3), textcoords="offset points")
    ax.plot(np.arange(len(out)), out, "o-", color="tab:blue", label="output out[i]")
    ax.plot([position], [out[position]], "o", ms=12, mfc="none", mec="tab:red")
    ax.set(xlabel="position", title=f"out[{position}] = x[{position}:{position + F}] @ w + b "
           f"= {out[position]:g}")
    ax.legend(fontsize=8, loc="best")
    if own or alt:
        set_alt_text(ax.figure, alt or (
            f"Bar chart of an input x of {L} samples with a filter of {F} weights over "
            f"x[{position}:{position + F}] (highlighted, each sample labelled with its weight "
            f"{_join(f'w[{k}]={w[k]:g}' for k in range(F))}), and the {len(out)} outputs as a "
            f"line: out[{position}] = {out[position]:g}."))
    return ax.figure


def _window_starts(n_in, filter_size, padding=0, stride=1, dilation=1):
    """Start of every window in the padded input, found by stepping along it.

    This counts positions one by one (no formula), so it can be used to check
    the output-size formula. Index 0 is the first padded sample.

    Returns
    -------
    list of int
        ``[0, S, 2S, ...]`` up to the last start whose dilated kernel, spanning
        ``D*(F-1)+1`` samples, still ends inside the ``L + 2P`` padded samples.
    """
    span = dilation * (filter_size - 1) + 1
    starts, start = [], 0
    while start + span <= n_in + 2 * padding:
        starts.append(start)
        start += stride
    return starts


def plot_window_positions(n_in, filter_size, padding=0, stride=1, dilation=1, ax=None,
                          max_rows=12, xlim=None, alt=None):
    """Draw the padded input and, one row per output position, the samples read.

    Parameters
    ----------
    n_in, filter_size, padding, stride, dilation : int
        L, F, P, S and D of the convolution.
    ax : matplotlib Axes, optional
    max_rows : int
        Draw at most this many output positions.
    xlim : (float, float), optional
        Horizontal range in input positions (x[0] at 0, padding at negative
        positions), so that several panels line up.
    alt : str, optional
        The figure's alt text (see ``set_alt_text``); by default, when the
        function creates the figure, a description of the settings.

    Returns
    -------
    matplotlib Figure
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    starts = _window_starts(n_in, filter_size, padding, stride, dilation)
    rows = starts[:max_rows]
    left = -padding  # x[0] is drawn at 0; padded samples at negative positions
    if xlim is None:
        xlim = (left - 3.2, n_in + padding + 0.2)
    own = ax is None
    if own:
        _, ax = plt.subplots(figsize=(0.32 * (xlim[1] - xlim[0]) + 0.5,
                                      0.3 * (len(rows) + 2) + 0.9))
    for j in range(left, n_in + padding):  # the input row: padding shaded
        pad = j < 0 or j >= n_in
        ax.add_patch(Rectangle((j, 0), 1, 1, fc="0.85" if pad else "white", ec="0.4",
                               hatch="//" if pad else None))
    for r, start in enumerate(rows):
        y = -1.4 - r
        for k in range(filter_size):
            ax.add_patch(Rectangle((left + start + k * dilation, y), 1, 0.8, fc="tab:orange",
                                   ec="0.3"))
        ax.text(left - 0.4, y + 0.4, f"out[{r}]", ha="right", va="center", fontsize=7)
    more = len(starts) > len(rows)
    if more:
        ax.text(left + (n_in + 2 * padding) / 2, -1.6 - len(rows),
                f"... {len(starts) - len(rows)} more", ha="center", fontsize=7)
    ax.text(left - 0.4, 0.5, "input", ha="right", va="center", fontsize=7)
    ax.set_xlim(*xlim)
    ax.set_ylim(-1.8 - len(rows) - more, 1.3)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(f"L={n_in}, F={filter_size}, P={padding}, S={stride}, D={dilation}: "
                 f"L_out = {len(starts)}", fontsize=9)
    if own or alt:
        set_alt_text(ax.figure, alt or (
            f"Diagram of an input of {n_in} samples with {padding} padded samples (hatched) on "
            f"each side and, one row per output position, the {filter_size} samples its window "
            f"reads (stride {stride}, dilation {dilation}): {len(starts)} output positions"
            + (f", the first {len(rows)} drawn." if more else ".")))
    return ax.figure


def plot_feature_maps(x, w, out, channel_names=None, map_names=None, alt=None):
    """Input channels, the kernels and the feature maps they produce, side by side.

    Parameters
    ----------
    x : array_like, shape (C_in, L)
    w : array_like, shape (C_out, C_in, F)
    out : array_like, shape (C_out, L_out)
        The layer's output: row o is the feature map of kernel w[o].
    channel_names, map_names : list of str, optional
    alt : str, optional
        The figure's alt text (see ``set_alt_text``); by default a description
        of the shapes and names.

    Returns
    -------
    matplotlib Figure
    """
    import matplotlib.pyplot as plt

    x, w, out = (np.asarray(a, dtype=float) for a in (x, w, out))
    C_in, C_out, F = x.shape[0], w.shape[0], w.shape[2]
    channel_names = channel_names or [f"x[{c}]" for c in range(C_in)]
    map_names = map_names or [f"out[{o}]" for o in range(C_out)]
    fig = plt.figure(figsize=(12, 1.3 * max(C_in, C_out) + 1.0))
    outer = fig.add_gridspec(1, 3, width_ratios=[4, 1, 4], wspace=0.25)
    left = outer[0].subgridspec(C_in, 1, hspace=0.35)
    middle = outer[1].subgridspec(C_out, 1, hspace=0.9)
    right = outer[2].subgridspec(C_out, 1, hspace=0.35)
    for c in range(C_in):
        ax = fig.add_subplot(left[c])
        ax.plot(x[c], color=f"C{c}")
        ax.set_ylabel(channel_names[c], rotation=0, ha="right", va="center", fontsize=8)
        ax.tick_params(labelsize=7)
        if c == 0:
            ax.set_title(f"input: {C_in} channels, length {x.shape[1]}", fontsize=9)
    limit = np.abs(w).max() or 1.0
    for o in range(C_out):
        ax = fig.add_subplot(middle[o])
        ax.imshow(w[o], cmap="coolwarm", vmin=-limit, vmax=limit, aspect="auto")
        ax.set_xticks(range(F))
        ax.set_yticks(range(C_in))
        ax.tick_params(labelsize=6)
        ax.set_ylabel("c", fontsize=7)
        ax.set_title(f"w[{o}]: {C_in} x {F}", fontsize=8)
        ax = fig.add_subplot(right[o])
        ax.plot(out[o], color="k")
        ax.set_ylabel(map_names[o], rotation=0, ha="left", va="center", fontsize=8)
        ax.yaxis.set_label_position("right")
        ax.tick_params(labelsize=7)
        if o == 0:
            ax.set_title(f"feature maps: {C_out} channels, length {out.shape[1]}", fontsize=9)
    return set_alt_text(fig, alt or (
        f"Left: the {C_in} input channels of length {x.shape[1]} as line plots "
        f"({_join(channel_names)}). Middle: the {C_out} kernels, each {C_in} x {F} weights "
        f"as a blue-red heat map. Right: the {C_out} feature maps of length {out.shape[1]} "
        f"they produce ({_join(map_names)})."))


def _padded_sources(L, pad, mode):
    """Index of the sample of x behind each of the pad + L + pad padded
    positions (-1: a fabricated constant), following the course's modes."""
    j = np.arange(-pad, L + pad)
    if mode in ("zeros", "constant"):
        return np.where((j >= 0) & (j < L), j, -1)
    if mode == "reflect":
        j = np.where(j < 0, -j, j)
        return np.where(j >= L, 2 * (L - 1) - j, j)
    if mode == "symmetric":
        j = np.where(j < 0, -j - 1, j)
        return np.where(j >= L, 2 * L - 1 - j, j)
    if mode == "replicate":
        return np.clip(j, 0, L - 1)
    if mode == "circular":
        return j % L
    raise ValueError(f"mode must be a padding mode of the course, got {mode!r}")


def plot_padding_modes(x, pad, modes=("zeros", "constant", "reflect", "symmetric",
                                      "replicate", "circular"), value=None, ax=None, alt=None):
    """Draw ``x`` padded by ``pad`` samples on each side in several modes, one
    panel per mode: the real samples in black, the fabricated ones in colour.

    Parameters
    ----------
    x : array_like, shape (L,)
    pad : int
        Samples added on each side (at most L - 1, so that reflect works).
    modes : sequence of str
    value : float, optional
        The constant of "constant" mode; default: the median of x.
    ax : sequence of matplotlib Axes, optional
        One per mode; by default a new figure, with an alt text.
    alt : str, optional
        The figure's alt text (see ``set_alt_text``).

    Returns
    -------
    matplotlib Figure
    """
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    x = np.asarray(x, dtype=float)
    L = len(x)
    value = float(np.median(x)) if value is None else float(value)
    own = ax is None
    if own:
        _, ax = plt.subplots(len(modes), 1, figsize=(8, 1.25 * len(modes) + 0.6), sharex=True,
                             sharey=True, squeeze=False)
        ax = ax[:, 0]
    positions = np.arange(-pad, L + pad)
    for a, mode in zip(ax, modes, strict=True):
        src = _padded_sources(L, pad, mode)
        fill = 0.0 if mode == "zeros" else value
        padded = np.where(src >= 0, x[np.maximum(src, 0)], fill)
        inside = (positions >= 0) & (positions < L)
        a.axvspan(-pad - 0.5, -0.5, color="0.93")
        a.axvspan(L - 0.5, L + pad - 0.5, color="0.93")
        a.plot(positions, padded, color="0.75", lw=1, zorder=1)
        a.plot(positions[inside], padded[inside], "o", color="k", ms=4, zorder=2)
        a.plot(positions[~inside], padded[~inside], "s", color="tab:red", ms=5, zorder=3)
        for p, s in zip(positions[~inside], src[~inside], strict=True):
            label = f"x[{s}]" if s >= 0 else ("0" if mode == "zeros" else "v")
            a.annotate(label, (p, padded[p + pad]), xytext=(0, 5), textcoords="offset points",
                       ha="center", fontsize=6, color="tab:red")
        a.set_ylabel(mode, rotation=0, ha="right", va="center", fontsize=9)
        a.tick_params(labelsize=7)
        a.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax[0].set_title(f"x of length {L} padded with {pad} fabricated samples (red) on each side",
                    fontsize=9)
    ax[-1].set_xlabel("position (x[0] at 0)")
    if own or alt:
        set_alt_text(ax[0].figure, alt or (
            f"{len(modes)} panels, one per padding mode ({_join(modes)}), each showing the same "
            f"{L} samples of x as black dots and the {pad} fabricated samples on each side as "
            "red squares labelled with the sample of x they copy (0 for zeros, v for the "
            f"constant {value:g})."))
    return ax[0].figure


def plot_patch_matrix(x, filter_size, stride=1, dilation=1, max_rows=12, alt=None):
    """The input row and its patch matrix (im2col): row i lists the samples
    window i reads, ``x[i*S + k*D]`` for k = 0 .. F-1.

    Parameters
    ----------
    x : array_like, shape (L,)
        An (already padded) sequence.
    filter_size, stride, dilation : int
        F, S and D.
    max_rows : int
        Draw at most this many windows.
    alt : str, optional
        The figure's alt text (see ``set_alt_text``).

    Returns
    -------
    matplotlib Figure
    """
    import matplotlib.pyplot as plt

    x = np.asarray(x, dtype=float)
    L, F = len(x), filter_size
    L_out = (L - dilation * (F - 1) - 1) // stride + 1
    idx = np.arange(L_out)[:, None] * stride + np.arange(F) * dilation   # (L_out, F)
    rows = min(L_out, max_rows)
    cmap = plt.get_cmap("tab20")
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(max(6.0, 0.5 * L + 1), 0.45 * rows + 2.2),
        gridspec_kw={"height_ratios": [1, max(rows, 1)]})
    for j in range(L):
        top.add_patch(plt.Rectangle((j, 0), 1, 1, fc=cmap(j % 20), ec="k", alpha=0.6))
        top.text(j + 0.5, 0.5, f"{x[j]:g}", ha="center", va="center", fontsize=7)
        top.text(j + 0.5, 1.15, str(j), ha="center", va="bottom", fontsize=6)
    top.set_xlim(0, L)
    top.set_ylim(0, 1.7)
    top.axis("off")
    top.set_title(f"x (length {L}): each colour is one sample", fontsize=9)
    for i in range(rows):
        for k in range(F):
            j = idx[i, k]
            bottom.add_patch(plt.Rectangle((k, rows - 1 - i), 1, 1, fc=cmap(j % 20), ec="k",
                                           alpha=0.6))
            bottom.text(k + 0.5, rows - 0.5 - i, f"x[{j}]", ha="center", va="center",
                        fontsize=7)
        bottom.text(-0.2, rows - 0.5 - i, f"window {i}", ha="right", va="center", fontsize=7)
    bottom.set_xlim(-2.2, max(F, L / 2))
    bottom.set_ylim(0, rows)
    bottom.set_aspect("equal")
    bottom.axis("off")
    bottom.set_title(f"patch matrix: {L_out} windows x F={F} taps (S={stride}, D={dilation})"
                     + (f", first {rows} shown" if rows < L_out else ""), fontsize=9)
    first = ", ".join(f"x[{j}]" for j in idx[0])
    return set_alt_text(fig, alt or (
        f"Top: the input x as a row of {L} coloured cells, one colour per sample. Below: the "
        f"patch matrix, {L_out} rows (windows) of {F} cells, window i holding x[i*{stride} + "
        f"k*{dilation}] for k = 0 to {F - 1} in that sample's colour; window 0 reads {first}."))
