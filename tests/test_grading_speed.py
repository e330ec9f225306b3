"""What makes grading faster must not change what is graded (issue 19, item 7).

- Stage 5's task generator works on the whole batch at once and smooths its
  noise with numpy alone: the signals are those of MNIST-1D's recipe done one
  signal at a time with np.interp and scipy's gaussian_filter1d (the former
  code, kept here as the yardstick), identical once cast to float32 as the
  accuracy check trains on them.
- With 2 workers a class is graded one sandbox's notebooks per job, stage 5's
  first: every notebook in exactly one job, no job with two stages' files.

Well under a second each; the speed itself is measured by
``python -m course bench --grading`` (docs/benchmark.md), not here.
"""

import numpy as np
import pytest

from autograder.checks import training
from autograder.grade import asset_groups
from autograder.parallel import _jobs, _sandbox_jobs


def _signals_one_at_a_time(rng, templates, labels):
    """The former _signals: np.interp per signal, scipy's Gaussian filter."""
    gaussian_filter1d = pytest.importorskip("scipy.ndimage").gaussian_filter1d
    gen = training._GEN
    n, F = len(labels), templates.shape[1]
    low, high = gen["padding"]
    L = F + high
    pads = low + (rng.random(n) * (high - low + 1)).astype(int)
    x = np.empty((n, L))
    for i in range(n):
        padded = np.concatenate([templates[labels[i]] + 1e-8, np.zeros(pads[i])])
        x[i] = np.interp(np.linspace(0, 1, L), np.linspace(0, 1, len(padded)), padded)
    x *= 1 + gen["scale_coeff"] * (rng.random((n, 1)) - 0.5)
    shift = rng.integers(0, gen["max_translation"], n)
    x = x[np.arange(n)[:, None], (np.arange(L)[None, :] - shift[:, None]) % L]
    noise = gaussian_filter1d(gen["corr_noise_scale"] * rng.standard_normal((n, L)), 2, axis=1)
    x = np.where(x != 0, x, noise) + gen["iid_noise_scale"] * rng.standard_normal((n, L))
    x -= gen["shear_scale"] * (rng.random((n, 1)) - 0.5) * np.linspace(-0.5, 0.5, L)
    position = np.linspace(0, L - 1, gen["length"])
    left = np.minimum(position.astype(int), L - 2)
    frac = position - left
    return x[:, left] * (1 - frac) + x[:, left + 1] * frac


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_batched_generator_makes_mnist1d_signals(seed, monkeypatch):
    templates = training.secret_templates(np.random.default_rng([seed, 1]))
    labels = np.random.default_rng([seed, 2]).permutation(np.arange(1500) % 10)
    got = training._signals(np.random.default_rng(seed), templates, labels)
    expected = _signals_one_at_a_time(np.random.default_rng(seed), templates, labels)
    assert np.allclose(got, expected, rtol=0, atol=1e-12)
    assert np.array_equal(got.astype(np.float32), expected.astype(np.float32))
    # the yardstick tells a wrong smoothing apart: a kernel a sample too narrow
    smooth = training._gaussian_smooth
    monkeypatch.setattr(training, "_gaussian_smooth", lambda x, sigma: smooth(x, sigma - 0.5))
    wrong = training._signals(np.random.default_rng(seed), templates, labels)
    assert not np.allclose(wrong, expected, rtol=0, atol=1e-6)


def test_two_workers_grade_one_sandbox_per_job_stage_5_first(tmp_path):
    from course.bench_grading import make_class
    from course.stages import STAGES

    students = make_class(tmp_path, 3)
    submissions = [item for student in students for item in student]
    jobs = _sandbox_jobs(_jobs(submissions))
    assert len(jobs) == 2 * len(students)
    assert [student for student, _ in jobs[:3]] == [s[0][0] for s in students]
    assert all(path.stem == "training" for _, items in jobs[:3] for _, path in items)
    indices = sorted(index for _, items in jobs for index, _ in items)
    assert indices == list(range(len(submissions)))
    for student, items in jobs:
        assert all(submissions[i] == (student, path) for i, path in items)
        assert len(asset_groups([path for _, path in items])) == 1  # one sandbox's files
    assert {len(items) for _, items in jobs} == {1, len(STAGES) - 1}


def test_one_students_two_sandboxes_never_import_checks_at_once(tmp_path):
    """One student on 2 cores: stage 5's sandbox is graded in a thread beside the
    other one. Every stage's checks are imported before the threads start (two
    threads importing the solutions' modules at once gave one of them a partly
    imported module: a check of the reference failed with an ImportError, one
    run in about eight). In a fresh interpreter, the sandboxes stood in for."""
    import subprocess
    import sys
    from pathlib import Path

    from course.bench_grading import answers_of, write_submission
    from course.stages import get_stage

    paths = [write_submission(tmp_path, "s", get_stage(name), answers_of("reference",
                                                                          get_stage(name)))
             for name in ("mini_batch", "training")]
    code = f"""
import sys, concurrent.futures as cf
from autograder import grade
seen = []
class Pool(cf.ThreadPoolExecutor):
    def __init__(self, *args, **kwargs):
        seen.extend(m for m in ("autograder.checks.mini_batch", "autograder.checks.training")
                    if m not in sys.modules)
        super().__init__(*args, **kwargs)
class Box:
    def launch(self): pass
    def close(self): pass
cf.ThreadPoolExecutor = Pool
grade.open_sandbox = lambda *args, **kwargs: Box()
grade.grade_path = lambda student, path, *args, **kwargs: str(path)
assert grade.grade_student("s", {[str(p) for p in paths]!r}, "secret", split=2) == \\
    {[str(p) for p in paths]!r}
print("not imported when the threads started:", seen)
"""
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "not imported when the threads started: []" in done.stdout, done.stdout


def _sleep_job(job):
    student, items, seconds = job[0], job[1], job[2]
    import time

    time.sleep(seconds)
    return [(index, (student, time.monotonic())) for index, _ in items]


def test_workers_take_the_quick_students_last(monkeypatch):
    """Each student's first job (stage 5's) first, in order; then the others, the
    student whose first job took longest first: a student who did little has
    quick notebooks, graded last, so that the workers finish together. One
    worker here, so the order is the order they are handed out (about 1 s)."""
    from autograder import parallel

    monkeypatch.setattr(parallel, "_one", _sleep_job)
    jobs = [("a", [(0, None)], 0.3), ("b", [(1, None)], 0.02), ("c", [(2, None)], 0.15),
            ("a", [(3, None)], 0), ("b", [(4, None)], 0), ("c", [(5, None)], 0)]
    done = sorted(parallel._pooled(jobs, 1), key=lambda pair: pair[1][1])
    assert [index for index, _ in done] == [0, 1, 2, 3, 5, 4]


def _blas_threads(job):
    import ctypes

    with open("/proc/self/maps") as maps:
        paths = sorted({line.split()[-1] for line in maps
                        if "openblas" in line.lower() and line.split()[-1].startswith("/")})
    counts = []
    for path in paths:
        lib = ctypes.CDLL(path)
        for name in ("openblas_get_num_threads", "scipy_openblas_get_num_threads64_",
                     "openblas_get_num_threads64_", "scipy_openblas_get_num_threads"):
            if hasattr(lib, name):
                counts.append(getattr(lib, name)())
                break
    return [(index, counts) for index, _ in job[1]]


def test_each_worker_process_runs_openblas_on_one_thread(monkeypatch):
    """Two workers: each grader process's OpenBLAS on one thread (its threads,
    spinning after each call, would take the cores the sandboxes need), whatever
    OPENBLAS_NUM_THREADS the grader was started with. About 1 s."""
    import numpy as np  # noqa: F401 - OpenBLAS loaded before the workers fork

    from autograder import parallel

    monkeypatch.setattr(parallel, "_one", _blas_threads)
    jobs = [("a", [(0, None)], 0), ("b", [(1, None)], 0)]
    counts = [counts for _, counts in parallel._pooled(jobs, 2)]
    assert counts and all(c and set(c) == {1} for c in counts), counts
