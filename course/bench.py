"""Benchmarks: the reference layers and training against PyTorch on the CPU.

``python -m course bench`` times, side by side in one run, the reference
``solutions.Conv1d`` forward + backward against ``torch.nn.functional.conv1d``
with autograd (float64 and float32), and ``MaxPool1d`` against
``torch.nn.functional.max_pool1d``; ``--training`` also trains the course's
presets with the reference and with a PyTorch twin. It writes
``benchmark.md`` and ``benchmark.png`` (``--out``, default ``docs/``) and,
with ``--json FILE``, every number as JSON.

How it measures, and why:

- Same threads for both, in a fresh process per setting: numpy's OpenBLAS
  gets ``OPENBLAS_NUM_THREADS=n`` (in the environment before numpy loads)
  and PyTorch ``torch.set_num_threads(n)``. The headline is n = 2, the
  machine's two cores, as a default install uses them; n = 1 is measured
  too. On a shared machine two threads stall whenever another job holds a
  core (OpenBLAS and OpenMP threads wait for each other at every call), so
  the one-thread numbers, the work each library does per core, are the
  steadier comparison.
- The load changes from one second to the next. Each repetition runs the
  reference, PyTorch and numpy's products alone one after the other (the order
  alternating), and the medians over repetitions are compared: a burst of
  load hits both sides alike. Nothing asserts a time.
- Each library alone on the cores: after a call returns, OpenBLAS keeps its
  idle worker thread spinning for about 0.1 s (measured on this machine: a
  two-thread numpy matmul followed by a sleep used 0.10 s of CPU in the
  sleep, PyTorch's OpenMP threads 0.01 s). A PyTorch sample timed straight
  after numpy would share the cores with that thread and look up to twice
  as slow. So every sample waits ``SETTLE_S`` first, then makes one untimed
  call (its own threads awake, its data in the cache), then is timed.
- GFLOP/s counts 2 * N * C_out * L_out * C_in * F per product, three products
  (forward, dw, dx) per forward + backward. "Products alone" is numpy doing
  just those three products, each as one call on the whole batch
  (``(C_out, C_in*F) @ (C_in*F, N*L_out)`` and the two of the backward), in
  the same repetitions: what BLAS costs before any im2col, col2im or
  bookkeeping, and the rate it reaches on these sizes. Where the products
  alone take longer than PyTorch's whole layer, no im2col layer on numpy's
  matmul can catch up.
- Each training run has a process of its own, so that its peak resident
  memory (``ru_maxrss``) is its own. The PyTorch twin copies the reference
  model's initial weights and replays its batches, augmentation,
  learning-rate schedule and optimiser, step for step.

PyTorch is a benchmark peer only: the kit never imports it elsewhere.
"""

import json
import math
import os
import platform
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

THREADS = 2
# Before numpy is imported (the kit imports it lazily), so that OpenBLAS starts
# with the same number of threads PyTorch gets.
os.environ.setdefault("OPENBLAS_NUM_THREADS", str(THREADS))

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

# (N, C_in, L, C_out, F, stride, padding): the shapes. The first two
# are MNIST-784-sized layers, the 3rd and 4th the MNIST-1D CNN's, the last a
# long signal.
CONV_SHAPES = (
    (64, 1, 784, 16, 5, 1, 0),
    (128, 16, 392, 32, 3, 1, 1),
    (100, 1, 40, 25, 5, 2, 1),
    (100, 25, 19, 25, 3, 2, 1),
    (32, 8, 4096, 16, 9, 1, 4),
)
# (N, C, L, kernel_size, stride): the MNIST model's first pooling, and an
# overlapping (AlexNet-style 3/2) one.
POOL_SHAPES = ((50, 8, 784, 2, 2), (64, 16, 1000, 3, 2))
DTYPES = ("float64", "float32")
TARGET_MAX_RATIO, TARGET_GEOMEAN = 1.0, 0.8
# Pause before each timed sample: OpenBLAS's idle thread spins ~0.1 s after a call.
SETTLE_S = 0.2
QUICK = {"conv": CONV_SHAPES[2:4], "pool": POOL_SHAPES[:1], "repeats": 3, "steps": 200,
         "class_size": 4}
CLASS_SIZE = 50


def threads():
    """The thread count both libraries get: numpy's OPENBLAS_NUM_THREADS."""
    return int(os.environ["OPENBLAS_NUM_THREADS"])


def _torch():
    import torch

    torch.set_num_threads(threads())
    return torch


def _warm_up_torch():
    """Import what PyTorch imports lazily on the first conv, backward and Adam step."""
    torch = _torch()
    w = torch.zeros(2, 1, 3, requires_grad=True)
    opt = torch.optim.Adam([w], lr=1e-3)
    torch.nn.functional.conv1d(torch.zeros(1, 1, 8), w).sum().backward()
    opt.step()


def blas_threads():
    """OpenBLAS's thread count as numpy's bundled library reports it (None if unknown)."""
    import ctypes
    import glob

    pattern = os.path.join(os.path.dirname(np.__file__), os.pardir, "numpy.libs", "*openblas*")
    for path in glob.glob(pattern):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for name in ("scipy_openblas_get_num_threads64_", "openblas_get_num_threads64_",
                     "openblas_get_num_threads"):
            if hasattr(lib, name):
                return int(getattr(lib, name)())
    return None


# --------------------------------------------------------------------------
# Timing
# --------------------------------------------------------------------------

def interleaved_medians(fns, repeats, min_sample=0.003, settle=None):
    """Median seconds per call of each function, timed in interleaved repetitions.

    Parameters
    ----------
    fns : dict of str -> callable
    repeats : int
        Repetitions; each one times every function once, in an order that
        alternates between repetitions.
    min_sample : float
        A fast function is called several times per sample so that each
        sample lasts about this long (timer and scheduling noise).
    settle : float, optional
        Seconds to wait before each sample, so that the threads the previous
        function left spinning have gone to sleep (default ``SETTLE_S``);
        one untimed call follows the wait.

    Returns
    -------
    dict of str -> float
    """
    inner = {}
    for name, fn in fns.items():
        fn()  # warm-up: first-call allocations, caches, lazy imports
        t0 = time.perf_counter()
        fn()
        inner[name] = max(1, math.ceil(min_sample / max(time.perf_counter() - t0, 1e-7)))
    settle = SETTLE_S if settle is None else settle
    samples = {name: [] for name in fns}
    names = list(fns)
    for r in range(repeats):
        for name in names if r % 2 == 0 else names[::-1]:
            fn, n = fns[name], inner[name]
            time.sleep(settle)
            fn()
            t0 = time.perf_counter()
            for _ in range(n):
                fn()
            samples[name].append((time.perf_counter() - t0) / n)
    return {name: float(np.median(s)) for name, s in samples.items()}


def peak_mb(fn):
    """Peak memory numpy allocates while ``fn()`` runs, in MB (tracemalloc)."""
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def _rel_err(ours, theirs):
    theirs = theirs.detach().numpy()
    return float(np.max(np.abs(ours - theirs)) / max(np.max(np.abs(theirs)), 1e-30))


# --------------------------------------------------------------------------
# Layers
# --------------------------------------------------------------------------

def bench_conv(shape, dtype, repeats):
    """Reference Conv1d forward + backward against PyTorch and numpy's matmul."""
    from solutions import Conv1d

    torch = _torch()
    N, C_in, L, C_out, F, S, P = shape
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, C_in, L)).astype(dtype)
    w = (rng.standard_normal((C_out, C_in, F)) / math.sqrt(C_in * F)).astype(dtype)
    b = rng.standard_normal(C_out).astype(dtype)
    layer = Conv1d(w, b, stride=S, padding=P)
    out = layer.forward(x)
    L_out = out.shape[2]
    dout = rng.standard_normal(out.shape).astype(dtype)

    def reference():
        layer.forward(x)
        return layer.backward(dout)

    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    dout_t = torch.from_numpy(dout)

    def pytorch():
        xt.grad = wt.grad = bt.grad = None
        out_t = torch.nn.functional.conv1d(xt, wt, bt, stride=S, padding=P)
        out_t.backward(dout_t)
        return out_t

    w_mat = w.reshape(C_out, C_in * F)
    cols = rng.standard_normal((C_in * F, N * L_out)).astype(dtype)
    grad = rng.standard_normal((C_out, N * L_out)).astype(dtype)

    def products():  # forward, dw (as its transpose), dcols: one call each
        return w_mat @ cols, cols @ grad.T, w_mat.T @ grad

    out_t = pytorch()
    dx = reference()
    err = max(_rel_err(a, t) for a, t in [(out, out_t), (dx, xt.grad), (layer.dw, wt.grad),
                                            (layer.db, bt.grad)])
    t = interleaved_medians({"reference": reference, "pytorch": pytorch, "products": products},
                            repeats)
    gflop = 2 * N * C_out * L_out * C_in * F / 1e9
    return {
        "shape": dict(zip(("N", "C_in", "L", "C_out", "F", "stride", "padding"), shape,
                          strict=True)),
        "dtype": dtype,
        "reference_ms": t["reference"] * 1e3,
        "pytorch_ms": t["pytorch"] * 1e3,
        "ratio": t["reference"] / t["pytorch"],
        "reference_gflops": 3 * gflop / t["reference"],
        "products_ms": t["products"] * 1e3,
        "products_over_pytorch": t["products"] / t["pytorch"],
        "matmul_gflops": 3 * gflop / t["products"],
        "reference_peak_mb": peak_mb(reference),
        "max_rel_err": err,
    }


def bench_pool(shape, dtype, repeats):
    """Reference MaxPool1d forward + backward against torch max_pool1d."""
    from solutions import MaxPool1d

    torch = _torch()
    N, C, L, K, S = shape
    rng = np.random.default_rng(1)
    x = rng.standard_normal((N, C, L)).astype(dtype)
    pool = MaxPool1d(K, S)
    dout = rng.standard_normal(pool.forward(x).shape).astype(dtype)

    def reference():
        pool.forward(x)
        return pool.backward(dout)

    xt, dout_t = torch.tensor(x, requires_grad=True), torch.from_numpy(dout)

    def pytorch():
        xt.grad = None
        out_t = torch.nn.functional.max_pool1d(xt, K, S)
        out_t.backward(dout_t)
        return out_t

    pytorch()
    err = _rel_err(reference(), xt.grad)
    t = interleaved_medians({"reference": reference, "pytorch": pytorch}, repeats)
    return {
        "shape": dict(zip(("N", "C", "L", "kernel_size", "stride"), shape, strict=True)),
        "dtype": dtype,
        "reference_ms": t["reference"] * 1e3,
        "pytorch_ms": t["pytorch"] * 1e3,
        "ratio": t["reference"] / t["pytorch"],
        "reference_peak_mb": peak_mb(reference),
        "max_rel_err": err,
    }


def idle_spin_s(fn, window=0.5):
    """CPU seconds this process burns while sleeping ``window`` seconds right
    after ``fn()`` returns: threads a library leaves spinning, waiting for
    work, that would compete with whatever runs next."""
    import resource

    def cpu():
        r = resource.getrusage(resource.RUSAGE_SELF)
        return r.ru_utime + r.ru_stime

    fn()
    time.sleep(window)  # our own earlier threads stop spinning
    fn()
    t0 = cpu()
    time.sleep(window)
    return cpu() - t0


def thread_scaling(half_mb=4, repeats=7):
    """Speed-up of numpy work split over two Python threads, each on its own
    half of the data, over one thread doing both halves (1: no gain, 2: both
    cores used). Measured for an elementwise pass (copy then add, the kind of
    work of im2col, col2im and pooling) and for a compute-bound one (sin).
    numpy releases the GIL in both."""
    from concurrent.futures import ThreadPoolExecutor

    a = np.random.default_rng(3).random((2, int(half_mb * 2**20 / 8)))
    b = np.empty_like(a)

    def copy_add(i):
        np.copyto(b[i], a[i])
        b[i] += a[i]

    def sine(i):
        np.sin(a[i], out=b[i])

    speedup = {}
    with ThreadPoolExecutor(2) as pool:
        for name, work in (("copy_add", copy_add), ("sin", sine)):
            t = interleaved_medians({"one": lambda work=work: [work(i) for i in (0, 1)],
                                     "two": lambda work=work: list(pool.map(work, (0, 1)))},
                                    repeats)
            speedup[name] = t["one"] / t["two"]
    return {"half_mb": half_mb, "speedup": speedup}


def peak_matmul_gflops(dtype, n=1024, repeats=5):
    """numpy's rate on a square n x n product: the machine's BLAS ceiling."""
    rng = np.random.default_rng(2)
    a, b = (rng.standard_normal((n, n)).astype(dtype) for _ in range(2))
    return 2 * n**3 / 1e9 / interleaved_medians({"matmul": lambda: a @ b}, repeats)["matmul"]


def geomean(values):
    values = list(values)
    return float(np.exp(np.mean(np.log(values)))) if values else float("nan")


# --------------------------------------------------------------------------
# Training: each run in a process of its own
# --------------------------------------------------------------------------

def _twin_module(layer, torch):
    """The torch.nn module computing what the reference ``layer`` computes, same weights."""
    from solutions import AvgPool1d, Conv1d, Dropout, Flatten, Linear, MaxPool1d

    nn = torch.nn
    kind = type(layer).__name__
    activations = {"ReLU": nn.ReLU, "Tanh": nn.Tanh, "Sigmoid": nn.Sigmoid, "ReLU6": nn.ReLU6}
    if isinstance(layer, Conv1d):
        C_out, C_in, F = layer.w.shape
        (P_l, P_r), mode = layer.pad, layer.padding_mode
        if P_l != P_r or mode in ("constant", "symmetric"):
            raise ValueError(f"no PyTorch twin for {layer!r}: asymmetric or {mode} padding")
        module = nn.Conv1d(C_in, C_out, F, stride=layer.stride, padding=P_l,
                           dilation=layer.dilation, padding_mode=mode,
                           dtype=torch.float64 if layer.w.dtype == np.float64 else torch.float32)
        with torch.no_grad():
            module.weight.copy_(torch.from_numpy(layer.w))
            module.bias.copy_(torch.from_numpy(layer.b))
        return module
    if isinstance(layer, Linear):
        out_f, in_f = layer.w.shape
        module = nn.Linear(in_f, out_f, dtype=getattr(torch, str(layer.w.dtype)))
        with torch.no_grad():
            module.weight.copy_(torch.from_numpy(layer.w))
            module.bias.copy_(torch.from_numpy(layer.b))
        return module
    if isinstance(layer, MaxPool1d | AvgPool1d):
        cls = nn.MaxPool1d if isinstance(layer, MaxPool1d) else nn.AvgPool1d
        return cls(layer.kernel_size, layer.stride)
    if isinstance(layer, Flatten):
        return nn.Flatten()
    if isinstance(layer, Dropout):
        return nn.Dropout(layer.p)
    if kind == "LeakyReLU":
        return nn.LeakyReLU(layer.alpha)
    if kind in activations:
        return activations[kind]()
    raise ValueError(f"no PyTorch twin for the layer {layer!r}")


def _optimizer(model, params, torch):
    """torch.optim's version of the reference model's optimiser."""
    wd = {"weight_decay": model.weight_decay}
    if model.optimizer == "adam":
        return torch.optim.Adam(params, lr=model.lr, betas=(0.9, 0.999), eps=1e-8, **wd)
    if model.optimizer == "sgd":
        return torch.optim.SGD(params, lr=model.lr, **wd)
    if model.optimizer == "momentum":
        return torch.optim.SGD(params, lr=model.lr, momentum=0.9, **wd)
    if model.optimizer == "adagrad":
        return torch.optim.Adagrad(params, lr=model.lr, eps=1e-8, **wd)
    raise ValueError(f"no PyTorch twin for the optimizer {model.optimizer!r}")


def _fit_torch_twin(model, X, y):
    """Train a PyTorch twin of the unfitted reference ``model`` exactly as its fit would.

    The reference's own code draws the initial weights and, from the same
    generator in the same order, the batches and the augmentation; the twin
    only replaces forward, backward and the optimiser step. Returns
    ``(predict, step_times)``.
    """
    torch = _torch()
    rng = np.random.default_rng(model.seed)
    X = model._check_X(X)                                             # (N, C, L)
    classes = np.unique(y)
    t = torch.from_numpy(np.searchsorted(classes, y))
    layers = model._build(X.shape[1:], len(classes), rng)
    net = torch.nn.Sequential(*[_twin_module(layer, torch) for layer in layers])
    opt = _optimizer(model, net.parameters(), torch)
    schedule = model._schedule()
    N, times, start = len(X), [], time.perf_counter()
    perm, pos = rng.permutation(N), 0
    net.train()
    for step in range(model.steps):
        if pos >= N:
            perm, pos = rng.permutation(N), 0
        idx = perm[pos:pos + model.batch_size]
        pos += model.batch_size
        xb = X[idx] if model.augment is None else model.augment(X[idx], rng).astype(model.dtype)
        for group in opt.param_groups:
            group["lr"] = schedule(step) if callable(schedule) else schedule
        logits = net(torch.from_numpy(xb))
        loss = torch.nn.functional.cross_entropy(logits, t[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        loss.item()  # the reference reads its loss every step too
        times.append(time.perf_counter() - start)
    net.eval()

    def predict(X_new):
        with torch.no_grad():
            logits = net(torch.from_numpy(model._check_X(X_new)))
        return classes[logits.argmax(dim=1).numpy()]

    return predict, times


def train_once(impl, dataset, dtype="float64", steps=None, seed=0):
    """Train one preset with the reference or its PyTorch twin; returns a metrics dict.

    Meant to run in a process of its own (``python -m course.bench --worker``),
    so that ``peak_rss_mb`` is this run's.
    """
    from course.datasets import load_dataset
    from course.train import PRESETS, peak_rss_mb
    from solutions import Scratch1dCNNClassifier

    spec = dict(PRESETS[dataset]["model"], seed=seed, dtype=dtype, verbose=False)
    if steps is not None:
        spec["steps"] = steps
    data = load_dataset(dataset)
    model = Scratch1dCNNClassifier(**spec)
    if impl == "pytorch":
        _warm_up_torch()  # its imports (seconds) are not training time
    t0 = time.perf_counter()
    if impl == "reference":
        model.fit(data.X_train, data.y_train)
        wall = time.perf_counter() - t0
        predict = model.predict
        marks = dict(zip(model.history_["step"], model.history_["time"], strict=True))
    elif impl == "pytorch":
        predict, times = _fit_torch_twin(model, data.X_train, data.y_train)
        wall = time.perf_counter() - t0
        marks = {i + 1: s for i, s in enumerate(times)}
    else:
        raise ValueError(f"impl must be 'reference' or 'pytorch', got {impl!r}")
    test_acc = float(np.mean(predict(data.X_test) == data.y_test))
    return {
        "impl": impl, "dataset": dataset, "dtype": dtype, "steps": model.steps, "seed": seed,
        "test_accuracy": test_acc, "target": PRESETS[dataset]["target"],
        "wall_s": wall, "ms_per_step": 1e3 * wall / model.steps,
        "slowdown_last_vs_first_tenth": _slowdown(marks, model.steps),
        "peak_rss_mb": peak_rss_mb(),
    }


def _slowdown(marks, steps):
    """Time per step over the last tenth of training over that of the first tenth
    (after warm-up): well above 1 would betray denormals or a leak."""
    known = sorted(marks)
    if len(known) < 4:
        return None

    def rate(lo, hi):
        a = min(known, key=lambda s: abs(s - lo))
        b = min(known, key=lambda s: abs(s - hi))
        return (marks[b] - marks[a]) / (b - a) if b > a else None

    first, last = rate(steps * 0.1, steps * 0.2), rate(steps * 0.9, steps)
    return last / first if first and last else None


def run_training(quick=False, n_threads=THREADS, datasets=("mnist1d", "mnist"), dtypes=DTYPES,
                 log=print):
    """Each preset with the reference and the PyTorch twin, each run in its own process."""
    from course.train import PRESETS

    steps = QUICK["steps"] if quick else 0  # 0: the preset's
    rows = []
    for dataset in datasets:
        for dtype in dtypes:
            row = {"dataset": dataset, "dtype": dtype, "threads": n_threads,
                   "target": PRESETS[dataset]["target"]}
            for impl in ("reference", "pytorch"):
                row[impl] = _worker(["--train", impl, dataset, dtype, str(steps)], n_threads)
                log(f"  {dataset:8} {dtype} {n_threads} thread{'s' * (n_threads > 1):1} "
                    f"{impl:9} {row[impl]['wall_s']:6.1f} s  "
                    f"test accuracy {row[impl]['test_accuracy']:.4f}  "
                    f"peak RSS {row[impl]['peak_rss_mb']:.0f} MB")
            row["ratio"] = row["reference"]["wall_s"] / row["pytorch"]["wall_s"]
            rows.append(row)
    return rows


# --------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------

def layer_benchmarks(quick=False, log=print):
    """Conv1d and MaxPool1d against PyTorch at this process's thread count."""
    conv_shapes = QUICK["conv"] if quick else CONV_SHAPES
    pool_shapes = QUICK["pool"] if quick else POOL_SHAPES
    repeats = QUICK["repeats"] if quick else 15
    torch = _torch()
    part = {"openblas_threads": blas_threads(), "torch_threads": torch.get_num_threads(),
            "repeats": repeats, "settle_s": SETTLE_S, "peak_matmul_gflops": {},
            "conv": [], "pool": []}
    a = np.ones((256, 256))
    a_t = torch.ones(256, 256)
    part["idle_spin_s"] = {"numpy": idle_spin_s(lambda: a @ a),
                           "pytorch": idle_spin_s(lambda: a_t @ a_t)}
    part["thread_scaling"] = thread_scaling(repeats=3 if quick else 7)
    for dtype in DTYPES:
        part["peak_matmul_gflops"][dtype] = peak_matmul_gflops(dtype, 256 if quick else 1024)
        for shape in conv_shapes:
            r = bench_conv(shape, dtype, repeats)
            part["conv"].append(r)
            log(f"  conv {str(shape):30} {dtype}  reference {r['reference_ms']:8.2f} ms  "
                f"PyTorch {r['pytorch_ms']:8.2f} ms  ratio {r['ratio']:5.2f}  "
                f"{r['reference_gflops']:5.1f} GFLOP/s (matmul {r['matmul_gflops']:5.1f}; "
                f"products alone / PyTorch {r['products_over_pytorch']:4.2f})")
        for shape in pool_shapes:
            r = bench_pool(shape, dtype, repeats)
            part["pool"].append(r)
            log(f"  pool {str(shape):30} {dtype}  reference {r['reference_ms']:8.2f} ms  "
                f"PyTorch {r['pytorch_ms']:8.2f} ms  ratio {r['ratio']:5.2f}")
    ratios = [r["ratio"] for r in part["conv"]]
    s = part["summary"] = {
        "conv_geomean_ratio": geomean(ratios),
        "conv_max_ratio": max(ratios),
        "pool_geomean_ratio": geomean(r["ratio"] for r in part["pool"]),
        "target": {"max_ratio": TARGET_MAX_RATIO, "geomean": TARGET_GEOMEAN},
    }
    s["target_met"] = (s["conv_max_ratio"] <= TARGET_MAX_RATIO
                       and s["conv_geomean_ratio"] <= TARGET_GEOMEAN)
    log(f"  conv geometric mean ratio {s['conv_geomean_ratio']:.2f} "
        f"(max {s['conv_max_ratio']:.2f}); MaxPool1d {s['pool_geomean_ratio']:.2f}")
    return part


def _worker(args, n_threads):
    """Run ``python -m course.bench ARGS`` with n_threads; its progress goes to
    our stderr, its JSON (last line of stdout) is returned."""
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(n_threads), PYTHONPATH=str(ROOT))
    cmd = [sys.executable, "-m", "course.bench", *args]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed with exit code {proc.returncode}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run(quick=False, training=False, grading=False, class_size=CLASS_SIZE, keep=None,
        log=print, layers=True):
    """Every benchmark; returns the results dict (what --json writes).

    ``keep``: the results of an earlier run (its JSON); the sections this run
    does not measure (training, grading) are copied from it, with the date
    they were measured, and the layers too when ``layers`` is False.

    The layers are timed twice, each time in a fresh process: with THREADS
    threads each (the headline numbers), and with one thread each, which
    compares the work each library does per core and is far less sensitive
    to other processes competing for the cores.
    """
    import torch

    load_before = os.getloadavg()[0]
    now = time.strftime("%Y-%m-%d %H:%M")
    if not layers:  # the layers' section and its run's facts, as measured then
        results = {k: v for k, v in keep.items() if k not in ("training", "grading")}
        measured = dict(keep["meta"].get("measured", {"layers": keep["meta"]["date"]}))
        results["meta"] = dict(keep["meta"], measured=measured, kept=["layers"])
    else:
        results = {"meta": {
            "python": platform.python_version(), "numpy": np.__version__,
            "torch": torch.__version__, "machine": platform.machine(),
            "cpu_count": os.cpu_count(), "threads": [THREADS, 1], "quick": quick,
            "date": now, "kept": [],
        }}
        for n in (THREADS, 1):
            log(f"layers, {n} thread{'s' * (n > 1)} each (a process of its own):")
            part = _worker(["--layers"] + ["--quick"] * quick, n)
            if n == THREADS:
                results.update(part)
            else:
                results["single_thread"] = part
        measured = results["meta"]["measured"] = {"layers": now}
    if training:
        results["training"] = []
        for n in (THREADS, 1):
            log(f"training, {n} thread{'s' * (n > 1)} each (each run in a process of its own):")
            results["training"] += run_training(quick, n, log=log)
        measured["training"] = now
    if grading:
        from course.bench_grading import run_grading

        size = QUICK["class_size"] if quick else class_size
        results["grading"] = run_grading(size, repeats=1 if quick else 3,
                                         rounds=2 if quick else None, log=log)
        measured["grading"] = now
    for section in ("training", "grading"):
        if section not in results and keep and section in keep:
            results[section] = keep[section]
            measured[section] = keep["meta"].get("measured", {}).get(section,
                                                                     keep["meta"]["date"])
            results["meta"]["kept"].append(section)
    if layers:
        results["meta"]["load_average"] = [load_before, os.getloadavg()[0]]
    return results


def _shape_text(shape):
    return "(" + ", ".join(str(v) for v in shape.values()) + ")"


def _measured_note(results, section, flags=None):
    """A line saying when a section kept from an earlier run was measured (``flags``:
    the command's options that measured it, default ``--SECTION``)."""
    when = results["meta"].get("measured", {}).get(section, results["meta"]["date"])
    if when == results["meta"]["date"]:
        return []
    if section not in results["meta"].get("kept", [section]):
        return ["", f"(This section was measured on {when} UTC, in a run of its own that kept "
                    f"the others: `python -m course bench {flags or '--' + section} "
                    "--no-layers --keep docs/benchmark.json`.)"]
    return ["", f"(This section was measured on {when}, in an earlier run, and kept with "
                "`--keep`.)"]


def _products_text(r):
    """The products-alone / PyTorch cell (blank for a JSON from before it was measured)."""
    return f"{r['products_over_pytorch']:.2f}" if "products_over_pytorch" in r else ""


def _products_floor_text(results):
    """Which cases numpy's products alone cannot win, in a sentence."""
    parts = []
    for label, part in (("two threads", results), ("one thread", results.get("single_thread"))):
        if not part or not all("products_over_pytorch" in r for r in part["conv"]):
            continue
        slower = [r for r in part["conv"] if r["products_over_pytorch"] > 1]
        cases = "; ".join(f"{_shape_text(r['shape'])} {r['dtype']}" for r in slower)
        parts.append(f"{len(slower)} of {len(part['conv'])} with {label} each"
                     + (f" ({cases})" if slower else ""))
    if not parts:
        return []
    return ["", "Cases where numpy's three products alone took longer than PyTorch's whole "
                "forward and backward: " + "; ".join(parts) + "."]


def _scaling_text(results):
    """What a second Python thread gains for numpy, in a sentence."""
    scaling = results.get("thread_scaling")
    if scaling is None:  # a JSON from before it was measured
        return []
    up = scaling["speedup"]
    return ["", f"Two Python threads, each on its own {scaling['half_mb']:g} MB half of an "
                f"array, against one thread doing both halves (2 = both cores used): numpy's "
                f"copy-and-add ran {up['copy_add']:.2f}x as fast, `np.sin` {up['sin']:.2f}x. "
                "The reference's copies, im2col, col2im and pooling are passes of the first "
                "kind."]


def _settle_text(results):
    """How long each sample waited for the other library's threads, and why."""
    spin, settle = results.get("idle_spin_s"), results.get("settle_s")
    if spin is None or settle is None:  # a JSON from before the wait was measured
        return []
    return ["", f"Each sample waits {settle:.2f} s, then makes one untimed call, before it is "
                f"timed: in the half second after a call, this run measured "
                f"{spin['numpy']:.3f} s of CPU used by numpy's idle OpenBLAS thread and "
                f"{spin['pytorch']:.3f} s by PyTorch's, spinning while they wait for work. "
                "Timed straight after the other library, a sample would share the cores "
                "with those threads."]


def markdown(results):
    """The results as a Markdown page."""
    m, s = results["meta"], results["summary"]
    one = results.get("single_thread")
    lines = [
        "# Benchmark: the reference against PyTorch on the CPU",
        "",
        "Generated by `python -m course bench` (`make bench`); do not edit by hand.",
        "",
        f"Run {m['date']}: numpy {m['numpy']} with OpenBLAS, PyTorch {m['torch']}, "
        f"{m['cpu_count']} CPUs shared with other jobs (load average {m['load_average'][0]:.1f} "
        f"at the start, {m['load_average'][1]:.1f} at the end). Both libraries get the same "
        f"threads: {results['openblas_threads']} for OpenBLAS and {results['torch_threads']} "
        f"for PyTorch in the headline columns, 1 each in the last column (a fresh process per "
        f"setting). Medians of {results['repeats']} interleaved repetitions; ratio = reference "
        "time / PyTorch time, below 1 the reference is faster.",
        *_settle_text(results),
        "",
        "## Conv1d, forward + backward",
        "",
        "`solutions.Conv1d` forward and backward (dx, dw, db) against "
        "`torch.nn.functional.conv1d` with autograd. Shapes are (N, C_in, L, C_out, F, stride, "
        "padding). GFLOP/s counts the three products (forward, dw, dx). *Products alone*: "
        "numpy doing only those three products, each as one call on the whole batch "
        "(`(C_out, C_in*F) @ (C_in*F, N*L_out)` and the backward's two), in the same "
        "repetitions; its rate is the matmul column, and its time over PyTorch's whole layer "
        "is the *products / PyTorch* column: above 1, numpy's matrix products alone cost more "
        "than PyTorch's forward and backward, before any im2col or col2im. Peak MB: memory "
        "numpy allocates during one forward + backward.",
        "",
        "| shape | dtype | reference ms | PyTorch ms | ratio | reference GFLOP/s "
        "| numpy matmul GFLOP/s | products / PyTorch | peak MB | ratio, 1 thread each "
        "| products / PyTorch, 1 thread each |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for i, r in enumerate(results["conv"]):
        single = f"{one['conv'][i]['ratio']:.2f}" if one else ""
        single_products = _products_text(one["conv"][i]) if one else ""
        lines.append(
            f"| {_shape_text(r['shape'])} | {r['dtype']} | {r['reference_ms']:.2f} | "
            f"{r['pytorch_ms']:.2f} | **{r['ratio']:.2f}** | {r['reference_gflops']:.1f} | "
            f"{r['matmul_gflops']:.1f} | {_products_text(r)} | {r['reference_peak_mb']:.1f} | "
            f"{single} | {single_products} |")
    peak = results["peak_matmul_gflops"]
    lines += [
        "",
        f"Geometric mean of the ratios: **{s['conv_geomean_ratio']:.2f}** (target "
        f"<= {TARGET_GEOMEAN}); largest {s['conv_max_ratio']:.2f} (target "
        f"<= {TARGET_MAX_RATIO:.1f}): target {'met' if s['target_met'] else 'NOT met'}."
        + (f" With one thread each: geometric mean "
           f"{one['summary']['conv_geomean_ratio']:.2f}, largest "
           f"{one['summary']['conv_max_ratio']:.2f}." if one else "")
        + f" numpy on a square 1024 x 1024 product: {peak['float64']:.0f} GFLOP/s in float64, "
        f"{peak['float32']:.0f} in float32.",
        *_products_floor_text(results),
        *_scaling_text(results),
        "",
        "## MaxPool1d, forward + backward",
        "",
        "Shapes are (N, C, L, kernel_size, stride).",
        "",
        "| shape | dtype | reference ms | PyTorch ms | ratio | ratio, 1 thread each |",
        "|---|---|--:|--:|--:|--:|",
    ]
    for i, r in enumerate(results["pool"]):
        single = f"{one['pool'][i]['ratio']:.2f}" if one else ""
        lines.append(f"| {_shape_text(r['shape'])} | {r['dtype']} | {r['reference_ms']:.2f} | "
                     f"{r['pytorch_ms']:.2f} | **{r['ratio']:.2f}** | {single} |")
    lines += ["", f"Geometric mean of the ratios: {s['pool_geomean_ratio']:.2f}."]
    if "training" in results:
        lines += [
            "",
            "## Training the presets",
            "",
            "`course.train.PRESETS` trained by the reference and by a PyTorch twin with the "
            "same architecture, initial weights, batches, augmentation, optimiser and "
            "learning-rate schedule, each run in a process of its own, with 2 and with 1 "
            "thread each. Wall time of `fit` only (not loading data or importing); "
            "slowdown = time per step over the last tenth of training / over the second "
            "tenth (denormals or a leak would show as a steady slowdown well above 1; on a "
            "shared machine the load alone moves it); peak RSS of the whole run's process.",
            "",
            "| dataset | dtype | threads | steps | implementation | test accuracy | wall s "
            "| ms/step | slowdown | peak RSS MB |",
            "|---|---|--:|--:|---|--:|--:|--:|--:|--:|",
        ]
        for row in results["training"]:
            for impl in ("reference", "pytorch"):
                r = row[impl]
                slow = r["slowdown_last_vs_first_tenth"]
                lines.append(
                    f"| {row['dataset']} | {row['dtype']} | {row['threads']} | {r['steps']} | "
                    f"{impl} | {r['test_accuracy']:.4f} | {r['wall_s']:.1f} | "
                    f"{r['ms_per_step']:.2f} | {'' if slow is None else f'{slow:.2f}'} | "
                    f"{r['peak_rss_mb']:.0f} |")
        lines += ["", "Wall-time ratio reference / PyTorch: " + ", ".join(
            f"{row['dataset']} {row['dtype']} {row['threads']} thread{'s' * (row['threads'] > 1)} "
            f"**{row['ratio']:.2f}**" for row in results["training"]) + "."]
        lines += _measured_note(results, "training")
    if "grading" in results:
        from course.bench_grading import markdown_section

        lines += markdown_section(results["grading"])
        size = results["grading"].get("class", {}).get("students")
        lines += _measured_note(results, "grading",
                                "--grading" + (f" --class-size {size}" if size else ""))
    lines += ["", "![ratios](benchmark.png)", ""]
    return "\n".join(lines)


def plot(results, path):
    """Bar chart of the ratios (and training wall times), saved as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def cases(part):
        return ([(f"conv {_shape_text(r['shape'])}", r) for r in part["conv"]]
                + [(f"maxpool {_shape_text(r['shape'])}", r) for r in part["pool"]])

    labels = list(dict.fromkeys(label for label, _ in cases(results)))
    parts = [(f"{results['openblas_threads']} threads", results, 1.0)]
    if "single_thread" in results:
        parts.append(("1 thread", results["single_thread"], 0.45))
    training = results.get("training", [])
    fig, axes = plt.subplots(1, 2 if training else 1, figsize=(15 if training else 10, 6),
                             squeeze=False)
    ax = axes[0, 0]
    width = 0.8 / (len(DTYPES) * len(parts))
    colors = {"float64": "tab:blue", "float32": "tab:orange"}
    i = 0
    for dtype in DTYPES:
        for name, part, alpha in parts:
            ratio = {label: r["ratio"] for label, r in cases(part) if r["dtype"] == dtype}
            ys = np.arange(len(labels)) - 0.4 + (i + 0.5) * width
            ax.barh(ys, [ratio.get(label, 0) for label in labels], height=width,
                    color=colors[dtype], alpha=alpha, label=f"{dtype}, {name} each")
            i += 1
    ax.axvline(1.0, color="k", lw=1)
    ax.axvline(TARGET_GEOMEAN, color="gray", lw=1, ls=":")
    ax.set_yticks(np.arange(len(labels)), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("reference time / PyTorch time, forward + backward (< 1: reference faster)")
    ax.set_title(f"layers: geometric mean of the conv ratios "
                 f"{results['summary']['conv_geomean_ratio']:.2f}")
    ax.legend(fontsize=8)
    if training:
        ax = axes[0, 1]
        names = [f"{row['dataset']} {row['dtype']}, {row['threads']} thr." for row in training]
        ys = np.arange(len(names))
        for i, impl in enumerate(("reference", "pytorch")):
            ax.barh(ys + (i - 0.5) * 0.4, [row[impl]["wall_s"] for row in training],
                    height=0.4, label=impl)
        ax.set_yticks(ys, names, fontsize=8)
        ax.invert_yaxis()
        ax.set_xlabel("training wall time, s")
        ax.set_title("training the presets")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(json_path=None, training=False, quick=False, out_dir="docs", grading=False,
         class_size=CLASS_SIZE, keep=None, layers=True):
    """Run, print, and write ``benchmark.md``, ``benchmark.png`` and the JSON.

    Returns the exit code: 0, 1 when PyTorch is not installed, 2 when ``keep``
    is not the JSON of an earlier run (or is missing with ``layers`` False).
    """
    kept = None
    if keep is not None:
        try:
            kept = json.loads(Path(keep).read_text())
            kept["meta"]["date"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            print(f"--keep {keep}: expected the JSON file of an earlier `python -m course bench "
                  f"--json` run, could not use it: {exc}", file=sys.stderr)
            return 2
    try:
        import torch  # noqa: F401
    except ImportError:
        print("python -m course bench compares with PyTorch, which is not installed; "
              "`make bench` installs torch==2.13.0 into .venv", file=sys.stderr)
        return 1
    if not layers and kept is None:
        print("--no-layers copies the layers' section from an earlier run: give its JSON with "
              "--keep FILE", file=sys.stderr)
        return 2
    results = run(quick=quick, training=training, grading=grading, class_size=class_size,
                  keep=kept, layers=layers)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "benchmark.md").write_text(markdown(results))
    plot(results, out_dir / "benchmark.png")
    written = [out_dir / "benchmark.md", out_dir / "benchmark.png"]
    if json_path is not None:
        Path(json_path).write_text(json.dumps(results, indent=2) + "\n")
        written.append(Path(json_path))
    print("wrote " + ", ".join(str(p) for p in written))
    return 0


if __name__ == "__main__":
    # Workers, each in a process of its own (see run):
    #   python -m course.bench --layers [--quick]
    #   python -m course.bench --train IMPL DATASET DTYPE STEPS   (STEPS 0: the preset's)
    def _log(line):
        print(line, file=sys.stderr, flush=True)

    if sys.argv[1:2] == ["--layers"]:
        print(json.dumps(layer_benchmarks("--quick" in sys.argv, log=_log)))
    elif sys.argv[1:2] == ["--train"] and len(sys.argv) == 6:
        _, _, impl, dataset, dtype, steps = sys.argv
        print(json.dumps(train_once(impl, dataset, dtype, int(steps) or None)))
    else:
        sys.exit("usage: python -m course bench (this module's own entry points are workers)")
