"""Alt text for the notebooks' figures (every stage).

JupyterLab shows an image/png output as an <img> without alt text (it
ignores any "alt" in the output's metadata), and a screen reader then has
nothing to say. A figure given an alt text by ``set_alt_text`` (every figure
the course's plot functions create gets one) displays itself as HTML,
``<img alt="..." src="data:image/png;base64,...">``, with the PNG and the
text as fallbacks, wherever IPython displays it: ``plt.show()``, the end of a
cell, ``display(fig)`` or a figure as the cell's value. JupyterLab, Notebook
7 and nbconvert (nbgrader's feedback) pick the HTML; an untrusted notebook
shows the PNG. No JavaScript, no widget.

The canonical copy is ``course/cnn1d_figures.py``; the build copies it into the
stage folders that use it. Edit it there, never in a stage folder.
"""


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
