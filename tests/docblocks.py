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

import os
import re
import shutil
import textwrap
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ("README.md", "deploy/README.md")
MARKER = re.compile(r"<!-- run by (?P<runner>\S+) -->")
# a fence may be indented (a block inside a list item): its lines lose the indent
FENCE = re.compile(r"^(?P<indent>[ ]*)```(?P<lang>[\w-]*)\n(?P<text>.*?)^(?P=indent)```",
                   re.S | re.M)
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
        body = textwrap.dedent(m.group("text")) if m.group("indent") else m.group("text")
        found.append(Block(doc, text.count("\n", 0, m.start()) + 1, m.group("lang"),
                           body, marker.group("runner") if marker else None))
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



class Shell:
    """A person's terminal: blocks run one after another in bash, each with the
    working directory and the exported variables the previous one left, as
    when someone types them into the same terminal. A command that fails stops
    its block (``set -euo pipefail``) and ``run`` raises with the output."""

    def __init__(self, cwd, env, user=None):
        self.cwd, self.env, self.user = str(cwd), dict(env), user

    def _bash(self, script):
        """bash running ``script``, as ``self.user`` when one is given (root's
        ``runuser``, which keeps the environment)."""
        bash = ["bash", "-c", script]
        runuser = shutil.which("runuser") or "/usr/sbin/runuser"  # in root's PATH only
        return [runuser, "-u", self.user, "--", *bash] if self.user else bash

    def _script(self, text, state):
        return ("set -euo pipefail\n" + text
                + f'\n{{ export -p; printf "cd %q\\n" "$PWD"; }} > {state}\n')

    def run(self, text, timeout=900, input=None, **placeholders):
        import subprocess
        import tempfile
        with tempfile.NamedTemporaryFile("r", suffix=".sh") as state:
            if self.user:
                os.chmod(state.name, 0o666)
            proc = subprocess.run(self._bash(self._script(fill(text, **placeholders),
                                                          state.name)),
                                  cwd=self.cwd, env=self.env, capture_output=True, text=True,
                                  timeout=timeout, input=input)
            if proc.returncode != 0:
                raise AssertionError(f"this block failed as written (exit {proc.returncode}):\n"
                                     f"{text}\n--- stdout\n{proc.stdout[-4000:]}\n"
                                     f"--- stderr\n{proc.stderr[-6000:]}")
            self._load(state.read())
        return proc

    def _load(self, state):
        """The variables and folder a block left (bash's ``export -p`` lines)."""
        import shlex
        env, cwd = {}, self.cwd
        for line in state.splitlines():
            if line.startswith("cd "):
                cwd = shlex.split(line[3:])[0]
            elif line.startswith("declare -x "):
                name, _, value = line[len("declare -x "):].partition("=")
                if value:
                    env[name] = shlex.split(value)[0] if value != '""' else ""
        if env:
            self.env = env
        self.cwd = cwd

    def start(self, text, log, **placeholders):
        """Start a block that runs until stopped (a server) in its own process
        group, its output going to ``log``; returns the Popen."""
        import subprocess
        return subprocess.Popen(self._bash("set -euo pipefail\n" + fill(text, **placeholders)),
                                cwd=self.cwd, env=self.env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)


def commands(text):
    """The commands of a block, one a line as a person types them: continued
    lines joined, comment lines and trailing comments left out."""
    out, current = [], ""
    for line in text.splitlines():
        if not current and line.lstrip().startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        current += line
        command = re.sub(r"\s+#[^'\"]*$", "", current).strip()
        if command:
            out.append(command)
        current = ""
    return out


def link_venv(venv, target):
    """A .venv at ``target`` that is ``venv`` without a copy of its 1 GB: its
    files linked one by one. The console scripts keep their interpreter,
    ``venv``'s own, whose real path the grader's sandbox can mount."""
    target.mkdir()
    for entry in venv.iterdir():
        if entry.name == "bin":
            (target / "bin").mkdir()
            for script in entry.iterdir():
                link = target / "bin" / script.name
                if script.name.startswith("python"):
                    # the interpreter runs as ``venv``'s own (sys.prefix there),
                    # as the console scripts do through their #! line
                    link.write_text(f'#!/bin/sh\nexec "{script}" "$@"\n')
                    link.chmod(0o755)
                else:
                    link.symlink_to(script)
        elif entry.is_file() and not entry.is_symlink():
            shutil.copy2(entry, target / entry.name)
        else:
            (target / entry.name).symlink_to(entry)
    (target / ".installed").touch()
