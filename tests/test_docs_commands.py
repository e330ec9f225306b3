"""Every command block of README.md and deploy/README.md is run as written by a
test (tests/docblocks.py): each ```bash block carries a marker naming its
runner, and that runner selects exactly that block with a literal
``docblocks.block(DOC, KEY)`` call. ``.ci/run`` may be the runner of a block
whose every command it runs itself (the README's `make demo` / `make test`).
"""

import ast
import re

import pytest

from tests import docblocks

ROOT = docblocks.ROOT
ALL = [b for doc in docblocks.DOCS for b in docblocks.blocks(doc)]


def selections(path):
    """(doc, key) of every literal ``docblocks.block(doc, key)`` call in ``path``."""
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr == "block" and len(node.args) >= 2
                and all(isinstance(a, ast.Constant) for a in node.args[:2])):
            found.add((node.args[0].value, node.args[1].value))
    return found


def test_the_documents_have_command_blocks():
    assert len([b for b in ALL if b.doc == "README.md"]) >= 8
    assert len([b for b in ALL if b.doc == "deploy/README.md"]) >= 3


@pytest.mark.parametrize("block", ALL, ids=str)
def test_each_command_block_is_run_by_the_test_its_marker_names(block):
    assert block.runner, (f"{block}: a ```bash block without a marker "
                          "'<!-- run by tests/test_X.py -->' naming the test that runs it")
    runner = ROOT / block.runner
    assert runner.is_file(), f"{block}: its marker names {block.runner}, which does not exist"
    if block.runner == ".ci/run":
        script = runner.read_text()
        for command in filter(None, (re.sub(r"#.*", "", line).strip()
                                     for line in block.text.splitlines())):
            assert re.search(rf"^{re.escape(command)}\b", script, re.M), (
                f"{block}: .ci/run does not run {command!r} as written")
        return
    selected = [docblocks.block(doc, key) for doc, key in selections(runner)
                if doc == block.doc]
    assert block.text in selected, (
        f"{block}: {block.runner} does not select this block with "
        f"docblocks.block({block.doc!r}, KEY)")


def test_fill_refuses_a_placeholder_left_unfilled():
    with pytest.raises(KeyError, match="<host>"):
        docblocks.fill("ssh <host> && ls <dir>", dir="/tmp")
    assert docblocks.fill("ssh <host>", host="127.0.0.1") == "ssh 127.0.0.1"
    # shell redirections are not placeholders
    assert docblocks.fill("sort <in >out") == "sort <in >out"


def test_block_refuses_an_ambiguous_or_missing_key():
    with pytest.raises(LookupError, match=r"\d+ bash blocks contain 'make '"):
        docblocks.block("README.md", "make ")  # several blocks hold a make command
    with pytest.raises(LookupError, match="none"):
        docblocks.block("README.md", "no such command in any block")


def test_a_block_without_a_marker_is_found(tmp_path):
    (tmp_path / "doc.md").write_text("text\n\n```bash\nls\n```\n\n"
                                     "<!-- run by tests/test_x.py -->\n```bash\npwd\n```\n")
    found = docblocks.blocks("doc.md", root=tmp_path)
    assert [(b.text, b.runner) for b in found] == [("ls\n", None),
                                                  ("pwd\n", "tests/test_x.py")]
