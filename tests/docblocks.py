"""The command blocks of README.md and deploy/README.md, as tests run them.

Every ```bash block of the two documents is preceded by a marker naming the
test that runs it as written::

    <!-- run by tests/test_term.py -->

and that test selects it with a literal call ``docblocks.block(DOC, KEY)``
(``DOC`` one of the documents' paths, ``KEY`` a piece of text found in that
block only). tests/test_docs_commands.py checks both facts for every block,
so a block added without a test, or a test that stops running its block,
fails there.

Placeholders are written ``<like this>`` in a block; ``fill`` replaces them
and refuses a block that still holds one, so a test cannot run a command with
a placeholder left in it.
"""

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ("README.md", "deploy/README.md")
MARKER = re.compile(r"<!-- run by (?P<runner>\S+) -->")
FENCE = re.compile(r"^```(?P<lang>[\w-]*)\n(?P<text>.*?)^```", re.S | re.M)
PLACEHOLDER = re.compile(r"<[a-z](?:[a-z0-9 _-]*[a-z0-9])?>")


@dataclass(frozen=True)
class Block:
    doc: str    # the document's path from the kit's root
    line: int   # the line of the opening fence
    lang: str
    text: str
    runner: str | None  # the test file its marker names, or None

    def __str__(self):
        return f"{self.doc}:{self.line}"


def blocks(doc, root=ROOT, lang="bash"):
    """The fenced blocks of ``doc`` in ``lang``, in order, with their markers."""
    text = (Path(root) / doc).read_text()
    found = []
    for m in FENCE.finditer(text):
        if m.group("lang") != lang:
            continue
        before = text[:m.start()].rstrip("\n").rsplit("\n", 1)[-1]
        marker = MARKER.fullmatch(before.strip())
        found.append(Block(doc, text.count("\n", 0, m.start()) + 1, m.group("lang"),
                           m.group("text"), marker.group("runner") if marker else None))
    return found


def block(doc, key, root=ROOT):
    """The one bash block of ``doc`` that contains ``key``."""
    matches = [b for b in blocks(doc, root) if key in b.text]
    if len(matches) != 1:
        raise LookupError(f"{doc}: {len(matches)} bash blocks contain {key!r} "
                          f"({', '.join(map(str, matches)) or 'none'}); a test selects one")
    return matches[0].text


def fill(text, **values):
    """``text`` with each ``<name>`` placeholder replaced by ``values[name]``
    (spaces and dashes in a placeholder's name become underscores); a
    placeholder left without a value is an error."""
    def value(m):
        name = re.sub(r"[ -]", "_", m.group(0)[1:-1])
        if name not in values:
            raise KeyError(f"placeholder {m.group(0)} has no value (known: {sorted(values)})")
        return str(values[name])
    return PLACEHOLDER.sub(value, text)

