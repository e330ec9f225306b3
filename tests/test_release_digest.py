"""course/release_digest.py: `make build` runs nbgrader only for the stages whose
inputs changed, and a fresh clone carries the digests of its release/."""

import shutil

import pytest

from course import release_digest
from course.build import ROOT
from course.stages import STAGES, get_stage

STAGE = get_stage("single_channel")


@pytest.fixture
def course(tmp_path):
    shutil.copytree(ROOT / "source" / STAGE.name, tmp_path / "source" / STAGE.name)
    shutil.copytree(ROOT / "release" / STAGE.name, tmp_path / "release" / STAGE.name)
    shutil.copy(ROOT / "nbgrader_config.py", tmp_path)
    return tmp_path


def test_a_stage_is_out_of_date_until_recorded_and_again_when_an_input_changes(course):
    assert release_digest.out_of_date(course, [STAGE]) == [STAGE]  # nothing recorded
    release_digest.record(course, [STAGE])
    assert release_digest.out_of_date(course, [STAGE]) == []
    helper = next(p for p in (course / "source" / STAGE.name).iterdir() if p.suffix == ".py")
    helper.write_text(helper.read_text() + "\n# changed\n")
    assert release_digest.out_of_date(course, [STAGE]) == [STAGE]
    release_digest.record(course, [STAGE])
    (course / "nbgrader_config.py").write_text("c = get_config()\n")
    assert release_digest.out_of_date(course, [STAGE]) == [STAGE]


def test_a_missing_release_folder_is_out_of_date(course):
    release_digest.record(course, [STAGE])
    shutil.rmtree(course / "release" / STAGE.name)
    assert release_digest.out_of_date(course, [STAGE]) == [STAGE]


def test_the_committed_digests_match_the_sources(tmp_path):
    """A fresh clone builds nothing (release/ is checked against a regeneration by
    test_build.py; this checks the record that lets `make build` skip nbgrader)."""
    stale = [s.name for s in release_digest.out_of_date(ROOT, STAGES)]
    assert stale == [], (f"release/.built-from.json is out of date for {stale}: "
                         "run `make build` and commit release/")
