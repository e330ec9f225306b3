"""A student's notebook made inert before a page renders it.

Formgrader's grading page runs in the instructor's Jupyter origin and the
feedback page is opened by students and instructors: nothing a student wrote
may run as script there. nbgrader renders both with nbconvert's HTMLExporter,
which passes a Markdown cell's raw HTML, ``javascript:`` links, HTML and
JavaScript outputs through, and writes an image's ``width`` and ``height``
metadata into an unquoted attribute (``width=1 onload=...``). nbconvert's own
``sanitize_html`` escapes ``<p>``, headings and table heads, so a written
answer would read as tag soup: the kit cleans with its own allowlist instead
(bleach, as nbconvert does).

``nbgrader_config.py`` puts two pieces in every HTMLExporter nbgrader builds
(formgrader's and generate_feedback's):

- ``SanitizeStudentContent``, a preprocessor: outputs keep text, raster images
  with numeric sizes, and cleaned HTML; JavaScript, SVG and widget outputs,
  raw cells' markup, file names in metadata and odd grade ids are dropped or
  cleaned; the student's id and names that formgrader prints are escaped;
- ``markdown2html``, the Markdown filter: nbconvert's rendering, then cleaned
  (Markdown cells, their attachments, Markdown outputs, grading comments).

and ``escape_formgrader_pages()`` makes formgrader's other pages escape the
ids it takes from their URL (below).
"""

import re
import sys

import bleach
from jinja2 import Environment, pass_context
from markupsafe import Markup, escape
from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath
from nbconvert.preprocessors import Preprocessor

# What rendered Markdown needs: text structure, tables, code, images, links.
TAGS = frozenset({
    "a", "abbr", "b", "blockquote", "br", "code", "dd", "del", "div", "dl", "dt", "em",
    "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "kbd", "li", "ol", "p", "pre",
    "s", "span", "strong", "sub", "sup", "table", "tbody", "td", "tfoot", "th", "thead",
    "tr", "u", "ul",
})
PROTOCOLS = frozenset({"http", "https", "mailto", "data"})
# pygments' token classes (k, nn, s1, ...), its code block, and nbconvert's anchor links:
# no class of formgrader's own page (score, comment, ...) can be borrowed.
SAFE_CLASS = re.compile(r"(highlight|hll|anchor-link|language-[\w-]+|[a-z]{1,3}\d?)")
RASTER = ("image/png", "image/jpeg", "image/gif")
# output mime types shown as they are (the templates escape them) or cleaned first
PLAIN_TYPES = frozenset({"text/plain", "text/latex", *RASTER})
CLEANED_TYPES = frozenset({"text/html", "text/markdown"})
GRADE_ID = re.compile(r"[\w.-]+")


def _attribute(tag, name, value):
    if name in ("title", "alt"):
        return True
    if name in ("width", "height"):
        return tag in ("img", "td", "th") and value.isdigit()
    if name in ("align",):
        return tag in ("td", "th") and value in ("left", "right", "center")
    if name == "href":
        return tag == "a" and not value.lower().startswith("data:")
    if name == "src":  # inline images only (figures, attachments): no request leaves the page
        return tag == "img" and value.lower().startswith("data:image/")
    if name == "start":
        return tag == "ol" and value.isdigit()
    if name == "class":
        return all(SAFE_CLASS.fullmatch(c) for c in value.split())
    return False


_CLEANER = bleach.Cleaner(tags=TAGS, attributes=_attribute, protocols=PROTOCOLS, strip=True,
                          strip_comments=True)


def clean(html):
    """``html`` with only the allowed tags and attributes left: no script,
    event handler, style, form, frame or ``javascript:`` URL survives."""
    return _CLEANER.clean(str(html))


@pass_context
def markdown2html(context, source):
    """nbconvert's Markdown rendering (HTMLExporter's filter of that name, with
    the cell's attachments), then ``clean``."""
    cell = context.get("cell", {})
    path = context.get("resources", {}).get("metadata", {}).get("path", "")
    renderer = IPythonRenderer(escape=False, attachments=cell.get("attachments", {}),
                               path=path, anchor_link_text="¶")
    return clean(MarkdownWithMath(renderer=renderer).render(source))


def _size(value):
    """A width or height as an int, or None when it is not a plain number."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float) and 0 < value < 100_000:
        return int(value)
    if isinstance(value, str) and value.isdigit() and int(value) < 100_000:
        return int(value)
    return None


def _image_metadata(meta):
    kept = {}
    for key in ("width", "height"):
        size = _size(meta.get(key))
        if size is not None:
            kept[key] = size
    if isinstance(meta.get("alt"), str):
        kept["alt"] = meta["alt"]  # the templates quote and escape it
    if meta.get("unconfined") is True:
        kept["unconfined"] = True
    return kept


def safe_output(output):
    """One output as a page may render it, or None when nothing of it is safe."""
    if output.get("output_type") in ("stream", "error"):
        return output  # the templates escape text and tracebacks
    if output.get("output_type") not in ("display_data", "execute_result"):
        return None
    data = {}
    for mime, value in output.get("data", {}).items():
        if mime in PLAIN_TYPES:
            data[mime] = value
        elif mime in CLEANED_TYPES:
            text = "".join(value) if isinstance(value, list) else value
            data[mime] = clean(text) if mime == "text/html" else text  # Markdown: at render
    if not data:
        return None
    metadata = output.get("metadata", {})
    output["data"] = data
    output["metadata"] = {m: _image_metadata(metadata[m]) for m in RASTER
                          if m in data and isinstance(metadata.get(m), dict)}
    return output


class SanitizeStudentContent(Preprocessor):
    """Make a notebook's student-written parts inert for an HTML page."""

    def preprocess(self, nb, resources):
        # formgrader prints the student's id and names (from the exchange or an
        # LMS roster) into its page unescaped
        for key in ("student", "first_name", "last_name", "notebook_path"):
            if isinstance(resources.get(key), str):
                resources[key] = escape(resources[key])
        return super().preprocess(nb, resources)

    def preprocess_cell(self, cell, resources, index):
        meta = cell.metadata.get("nbgrader")
        if isinstance(meta, dict) and not GRADE_ID.fullmatch(str(meta.get("grade_id", "x"))):
            del cell.metadata["nbgrader"]  # not one of the course's cells: plain content
        if cell.cell_type == "code":
            cell.outputs = [o for o in map(safe_output, cell.get("outputs", [])) if o]
        elif cell.cell_type == "raw":
            cell.source = clean(cell.source)
        elif cell.cell_type == "markdown" and "attachments" in cell:
            cell.attachments = {
                name: {m: v for m, v in bundle.items() if m in RASTER}
                for name, bundle in cell.attachments.items()}
        return cell, resources


# --- formgrader's own pages -------------------------------------------------
# nbgrader renders formgrader's pages (Manage Students, the Gradebook, ...)
# with a Jinja environment that escapes nothing, and writes ids taken from the
# URL into a script: ``var student_id = "{{ student_id }}";``. A link such as
# ``.../formgrader/manage_students/x";fetch(...);"`` sent to an instructor runs
# in their Jupyter origin (their kernels, the gradebook). The environment below
# escapes every value written into a page as HTML, backslashes too (one ending a
# value would run its string on): in a script's string an entity is inert
# text, in HTML it shows as the character.


def _escape_value(value):
    if hasattr(value, "__html__"):  # markup the template made (a macro's output)
        return value
    return Markup(str(escape(value)).replace("\\", "&#92;"))


class EscapingEnvironment(Environment):
    """A Jinja environment that HTML-escapes every value a template writes."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **dict(kwargs, autoescape=True, finalize=_escape_value))


FORMGRADER_MODULE = "nbgrader.server_extensions.formgrader.formgrader"


def escape_formgrader_pages():
    """Make formgrader build its page environment escaping (called from
    ``nbgrader_config.py``, which formgrader loads before it builds it); does
    nothing in a process without formgrader (every nbgrader command)."""
    module = sys.modules.get(FORMGRADER_MODULE)
    if module is not None:
        module.Environment = EscapingEnvironment
