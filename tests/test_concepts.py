"""course/concepts.md maps every concept the seed lectures teach to the stage
and cell that exercises or demonstrates it; every row must point at cells that
exist, and every concept the issue lists must have a row."""

import re
from pathlib import Path

import nbformat
import pytest

from course.stages import STAGE_NAMES

ROOT = Path(__file__).resolve().parents[1]
ROW = re.compile(r"^\| *(\d+) *\| *([^|]+?) *\| *`?(\w+)`? *\| *([^|]+?) *\|$")

REQUIRED = [  # issue 3, item 2 (and CONCEPTS.md): words each needs in its row
    "cross-correlation", "valid", "zero", "constant", "mirror", "circular", "stride",
    "dilation", "multi-channel", "weight sharing", "full convolution", "dw",
    "output-size formula", "max and average pooling", "overlapping", "ReLU6", "softplus",
    "leaky", "ELU", "swish", "sigmoid", "MSE", "cross-entropy", "hinge", "exponential",
    "softmax", "dropout", "Adam", "learning-rate decay", "augmentation", "unfold",
    "equivariance", "fully connected", "regression",
]


def _rows():
    rows = []
    for line in (ROOT / "course" / "concepts.md").read_text().splitlines():
        match = ROW.match(line.strip())
        if match:
            number, concept, stage, cells = match.groups()
            ids = re.findall(r"`([^`]+)`", cells)
            rows.append((int(number), concept, stage, ids))
    return rows


def _cell_ids(stage):
    nb = nbformat.read(ROOT / "source" / stage / f"{stage}.ipynb", as_version=4)
    return {cell.id for cell in nb.cells}


def test_table_has_rows():
    assert len(_rows()) >= 40


@pytest.mark.parametrize("row", _rows(), ids=lambda r: str(r[0]))
def test_every_row_points_at_cells_that_exist(row):
    _, concept, stage, ids = row
    assert stage in STAGE_NAMES, f"{concept}: unknown stage {stage}"
    assert ids, f"{concept}: no cell named"
    missing = set(ids) - _cell_ids(stage)
    assert not missing, f"{concept}: cells {missing} are not in {stage}"


def test_every_required_concept_has_a_row():
    text = " ".join(concept for _, concept, _, _ in _rows()).lower()
    missing = [word for word in REQUIRED if word.lower() not in text]
    assert not missing
