"""Tests of course/bench_grading.py (``python -m course bench --grading``) on a
small class of the quickest stage. No time is asserted: only that the
measurements are made, of the right notebooks, and give the grades they should.
"""

import json
from pathlib import Path

import pytest

from course import bench, bench_grading
from course.__main__ import main
from course.stages import get_stage

STAGE = get_stage("output_size")


def test_a_class_cycles_through_the_sample_students(tmp_path):
    students = bench_grading.make_class(tmp_path, 8, [STAGE])
    kinds = bench_grading.class_kinds()
    assert [s[0][0] for s in students] == [f"s{i:03d}_{kinds[i % len(kinds)]}" for i in range(8)]
    for (student, path), in students:
        assert path == tmp_path / "submitted" / student / STAGE.name / STAGE.notebook
        assert path.is_file()


def test_the_cheater_and_the_crasher_answer_other_stages_like_the_reference():
    from course.flow import reference_answers

    for kind in ("cheater", "crasher"):
        assert bench_grading.answers_of(kind, STAGE) == reference_answers(STAGE)
    assert bench_grading.answers_of("untouched", STAGE) is None


def test_time_submission_grades_the_reference_in_full(tmp_path):
    one = bench_grading.time_submission(tmp_path, repeats=2, stages=[STAGE])
    assert (one["score"], one["max_score"]) == (STAGE.max_score, STAGE.max_score)
    assert one["total_s"] in one["all_totals_s"] and len(one["all_totals_s"]) == 2
    assert one["all_totals_s"][0] <= one["total_s"] <= one["all_totals_s"][-1]
    # measured side by side with a cold import, the ratio is of the same run
    assert one["cold_import_s"] > 0 and one["total_1w_s"] > 0
    assert one["ratio"] == pytest.approx(one["total_s"] / one["cold_import_s"])
    assert one["ratio"] in one["all_ratios"] and one["target_ratio"] == 7.0
    # where the time goes: the imports, a sandbox's start, each check of the stage
    parts = one["parts_s"]
    assert "interpreter and the grader's imports" in parts
    assert any(name.startswith("sandbox start") for name in parts)
    assert {f"{STAGE.name}.{c.name}" for c in STAGE.checks} <= set(parts)


def test_time_submission_stops_when_the_reference_loses_points(tmp_path, monkeypatch):
    """A check of the reference that fails (a grader's flaw: an ImportError in a
    thread once did) stops the bench, naming it, instead of a timing beside a
    lower score."""
    def grade_badly(folder, workers, secret_file):
        check = {"id": "single_channel.forward", "passed": workers == 2, "message": "ImportError"}
        Path(secret_file).with_name(f"cli-{workers}.json").write_text(json.dumps(
            {"submissions": [{"score": 0.0, "max_score": 1.0, "checks": [check]}]}))
        return 1.0

    monkeypatch.setattr(bench_grading, "cli_grading_seconds", grade_badly)
    with pytest.raises(RuntimeError, match="lost points with --workers 1: "
                                           r"\['single_channel.forward: ImportError'\]"):
        bench_grading.time_submission(tmp_path, repeats=1, stages=[STAGE])


def test_reference_costs_are_measured_and_recorded_for_every_stage(tmp_path):
    """Measured here without writing the kit's file; the committed file names every stage."""
    from autograder.grade import REFERENCE_COST
    from course.stages import STAGES

    cost = bench_grading.measure_reference_costs(tmp_path, 1, [STAGE], write=False)
    assert list(cost["seconds"]) == [STAGE.name] and cost["seconds"][STAGE.name] > 0
    recorded = json.loads(REFERENCE_COST.read_text())
    assert set(recorded["seconds"]) == {s.name for s in STAGES}


def test_time_class_with_one_and_two_workers(tmp_path):
    logged = []
    whole = bench_grading.time_class(tmp_path, size=3, rounds=2, stages=[STAGE],
                                     log=logged.append)
    assert (whole["students"], whole["notebooks"], whole["rounds"]) == (3, 3, 2)
    assert set(whole["wall_s"]) == {"1", "2"} and min(whole["wall_s"].values()) > 0
    assert whole["speedup"] == pytest.approx(whole["wall_s"]["1"] / whole["wall_s"]["2"])
    assert whole["identical_grades"] is True
    # reference: full marks; untouched: 0; flipped kernel (a stage-1 bug): the reference here.
    assert whole["class_score"] == pytest.approx(2 * STAGE.max_score / 3)
    # Two rounds, each graded with both worker counts, the order alternating.
    assert [line.split(": ")[1].split(",")[1].strip()[:9] for line in logged] == [
        "1 worker ", "2 workers", "2 workers", "1 worker "]


def test_markdown_section_reports_targets():
    part = {
        "cpu_count": 2,
        "submission": {"total_s": 31.0, "stages_s": {"a": 30.0, "b": 1.0}, "score": 51.0,
                       "max_score": 51.0, "repeats": 3, "all_totals_s": [30.5, 31.0, 33.0],
                       "target_s": 30.0, "ratio": 8.0, "all_ratios": [7.5, 8.0, 9.0],
                       "cold_import_s": 3.9, "target_ratio": 7.0, "total_1w_s": 40.0,
                       "ratio_1w": 10.3},
        "class": {"students": 50, "notebooks": 250, "rounds": 5, "wall_s": {"1": 600.0,
                                                                          "2": 330.0},
                  "notebooks_per_minute": {"1": 25.0, "2": 45.5}, "speedup": 600 / 330,
                  "identical_grades": True, "class_score": 7.5, "target_speedup": 1.7},
    }
    md = "\n".join(bench_grading.markdown_section(part))
    assert "**31.0 s**" in md and "target <= 30 s: NOT met" in md
    assert "**8.0x**" in md and "target <= 7x: NOT met" in md and "40.0 s, 10.3x" in md
    assert "**1.82x**" in md and "target >= 1.7: met" in md
    assert "| 2 | 330 | 45.5 |" in md and "identical" in md
    part["class"]["identical_grades"] = False
    assert "DIFFERENT" in "\n".join(bench_grading.markdown_section(part))
    part["load_averages"] = [0.5, 0.7, 1.2]
    md = "\n".join(bench_grading.markdown_section(part))
    assert "0.5 at the start of these measurements, 0.7 before the class, 1.2 at the end" in md


def test_kept_sections_say_when_they_were_measured():
    results = {"meta": {"date": "2026-11-22 10:00",
                        "measured": {"layers": "2026-11-22 10:00", "grading": "2026-11-21 09:00"}}}
    assert "2026-11-21 09:00" in bench._measured_note(results, "grading")[1]
    assert bench._measured_note(results, "layers") == []


def test_keep_must_be_an_earlier_runs_json(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"conv": []}))
    assert main(["bench", "--keep", str(bad), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert f"--keep {bad}" in err and "earlier" in err and "'meta'" in err
    assert not (tmp_path / "benchmark.md").exists()


def test_run_times_grading_and_keeps_what_it_does_not_measure(monkeypatch):
    pytest.importorskip("torch")  # run() reports PyTorch's version
    monkeypatch.setattr(bench, "_worker", lambda args, n: {"threads": n})  # no layer timing
    calls = []

    def fake_grading(size, repeats, rounds, log):
        calls.append((size, repeats, rounds))
        return {"class_size": size}

    monkeypatch.setattr(bench_grading, "run_grading", fake_grading)
    earlier = {"meta": {"date": "2026-11-20 08:00", "measured": {"training": "2026-11-19 07:00"}},
               "training": ["earlier rows"], "grading": {"class_size": 50}}
    results = bench.run(quick=True, grading=True, keep=earlier, log=lambda *_: None)
    assert calls == [(bench.QUICK["class_size"], 1, 2)]
    assert results["grading"] == {"class_size": bench.QUICK["class_size"]}  # measured, not kept
    assert results["training"] == ["earlier rows"]
    now = results["meta"]["date"]
    assert results["meta"]["measured"] == {"layers": now, "grading": now,
                                           "training": "2026-11-19 07:00"}
    # An earlier run without per-section dates: its own date.
    del earlier["meta"]["measured"]
    results = bench.run(quick=True, keep=earlier, log=lambda *_: None)
    assert results["grading"] == {"class_size": 50}
    assert results["meta"]["measured"]["grading"] == "2026-11-20 08:00"


def test_grading_alone_keeps_the_layers_of_an_earlier_run(monkeypatch, capsys, tmp_path):
    """--no-layers: only the grading is measured; the layers' section, its date and
    load come from --keep, and the grading section says it was measured on its own."""
    pytest.importorskip("torch")

    def no_layers(args, n):
        raise AssertionError("the layers were measured")

    monkeypatch.setattr(bench, "_worker", no_layers)
    monkeypatch.setattr(bench_grading, "run_grading",
                        lambda size, repeats, rounds, log: {"class_size": size})
    earlier = {"meta": {"date": "2026-11-20 08:00", "load_average": [3.0, 2.0],
                        "measured": {"layers": "2026-11-20 08:00",
                                     "training": "2026-11-19 07:00"}},
               "conv": ["earlier layer rows"], "training": ["earlier rows"],
               "grading": {"class_size": 50}}
    results = bench.run(quick=True, grading=True, keep=earlier, log=lambda *_: None,
                        layers=False)
    assert results["conv"] == ["earlier layer rows"] and results["training"] == ["earlier rows"]
    assert results["grading"] == {"class_size": bench.QUICK["class_size"]}
    meta = results["meta"]
    assert (meta["date"], meta["load_average"]) == ("2026-11-20 08:00", [3.0, 2.0])
    assert meta["measured"]["layers"] == "2026-11-20 08:00"
    assert meta["measured"]["grading"] not in ("2026-11-20 08:00", None)
    assert "in a run of its own" in bench._measured_note(results, "grading")[1]
    assert "earlier run" in bench._measured_note(results, "training")[1]
    assert earlier["meta"]["measured"] == {"layers": "2026-11-20 08:00",
                                           "training": "2026-11-19 07:00"}  # not changed
    assert main(["bench", "--no-layers", "--grading", "--out", str(tmp_path)]) == 2
    assert "--keep FILE" in capsys.readouterr().err
