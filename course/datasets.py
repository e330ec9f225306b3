"""Data for the course: MNIST-1D and MNIST flattened to 784 samples.

Every loader returns a ``Dataset`` with ``X`` float64 of shape ``(N, L)`` and ``y`` int64 of shape
``(N,)``. There is no channel axis: the model adds it (``X[:, None, :]`` gives ``(N, 1, L)``, the
channels-first layout of ``Conv1d``). Nothing here downloads anything unless a user calls
``download_mnist_idx`` explicitly.
"""

import functools
import gzip
import hashlib
import http.client
import os
import urllib.request
from pathlib import Path

import numpy as np

# The students' loaders (course/cnn1d_data.py, copied beside the training notebook) hold the
# generation and split logic; this module wraps them for the instructor's side (caching, the
# kit's file location, the IDX reader).
from course.cnn1d_checks import check_int
from course.cnn1d_data import (  # noqa: F401 - Dataset and MNIST784_SHA256 re-exported
    MNIST784_SHA256,
    Dataset,
    make_mnist1d,
)
from course.cnn1d_data import load_mnist784 as _load_mnist784

DATASETS = ("mnist1d", "mnist")

MNIST784_PATH = Path(__file__).resolve().parent / "data" / "mnist784_5k.npz"

# The MD5s of the canonical MNIST .gz files, as published in torchvision/datasets/mnist.py.
IDX_FILES = {
    "train_images": ("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
    "train_labels": ("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"),
    "test_images": ("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
    "test_labels": ("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c"),
}
IDX_NAMES = tuple(name for name, _ in IDX_FILES.values())
DEFAULT_MIRROR = "https://ossci-datasets.s3.amazonaws.com/mnist/"

# IDX type code -> big-endian numpy dtype (LeCun's MNIST page, "THE IDX FILE FORMAT").
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


CACHE = Path(__file__).resolve().parent / "data" / ".cache"


@functools.lru_cache(maxsize=8)
def _mnist1d_arrays(seed):
    """Generated once per machine: kept in ``data/.cache`` (git-ignored) under the
    ``mnist1d`` version, since generating takes seconds (the grader loads the
    training set for every stage 5 submission)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        tag = version("mnist1d")
    except PackageNotFoundError:
        tag = "unknown"
    path = CACHE / f"mnist1d-{tag}-seed{seed}.npz"
    try:
        with np.load(path, allow_pickle=False) as cached:
            arrays = tuple(cached[k] for k in ("X_train", "y_train", "X_test", "y_test"))
    except (OSError, KeyError, ValueError):
        arrays = make_mnist1d(seed)
        try:
            CACHE.mkdir(parents=True, exist_ok=True)
            partial = path.with_suffix(f".{os.getpid()}.tmp.npz")
            np.savez(partial, **dict(zip(("X_train", "y_train", "X_test", "y_test"), arrays,
                                         strict=True)))
            os.replace(partial, path)
        except OSError:  # a read-only kit: generate every time
            pass
    for a in arrays:
        a.flags.writeable = False  # the cache is shared: callers get copies
    return arrays


def load_mnist1d(seed=42):
    """MNIST-1D (Greydanus & Kobak, ICML 2024), generated offline by the ``mnist1d`` package.

    The 10 digit templates are padded, sheared, scaled, translated and noised into 1D signals of
    length 40; the whole set is then centred and scaled to unit standard deviation by ``mnist1d``.
    Generation takes about 1 s (measured 1.0-1.3 s, plus 0.8 s for the first import of mnist1d
    and scipy) and is cached per seed in-process.
    Global random state (``np.random`` and ``random``) is left as it was.

    Parameters
    ----------
    seed : int
        Generator seed. The default 42 is the one of the published dataset and its accuracies
        (logistic 32 %, MLP 68 %, CNN 94 %, GRU 91 %, human 96 %).

    Returns
    -------
    Dataset
        ``X_train (4000, 40)``, ``y_train (4000,)``, ``X_test (1000, 40)``, ``y_test (1000,)``;
        fresh copies on every call.
    """
    X_train, y_train, X_test, y_test = (a.copy() for a in _mnist1d_arrays(
        check_int("seed", seed)))
    return Dataset(X_train, y_train, X_test, y_test, "mnist1d",
                   f"MNIST-1D (Greydanus & Kobak 2024), seed {seed}: 4000 train / 1000 test, L=40")


def load_mnist784(seed=0, scale="unit", path=None):
    """The embedded 5,000-image MNIST subset, each image flattened to 784 samples.

    The file's sha256 is checked first. The split is stratified: of the 500 images of each digit,
    400 go to train and 100 to test, chosen by ``np.random.default_rng(seed)``; each split is then
    shuffled with the same generator, so a given seed always gives the same split.

    Parameters
    ----------
    seed : int
        Seed of the split.
    scale : {"unit"}
        ``"unit"`` divides pixels by 255, giving float64 values in [0, 1].
    path : str or Path, optional
        The npz to read; default ``course/data/mnist784_5k.npz``.

    Returns
    -------
    Dataset
        ``X_train (4000, 784)``, ``y_train (4000,)``, ``X_test (1000, 784)``, ``y_test (1000,)``.

    Raises
    ------
    FileNotFoundError
        The npz is missing.
    ValueError
        Its sha256 does not match: the file is corrupt (restore it with git checkout).
    """
    if scale != "unit":
        raise ValueError(f"scale must be 'unit', got {scale!r}")
    return _load_mnist784(MNIST784_PATH if path is None else path, seed=seed)


def read_idx(path):
    """Read one IDX file (the format of the MNIST distribution), gzipped or not.

    Gzip is recognised by its magic bytes 1f 8b, not by the file name. The header is two zero
    bytes, a type code (0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32,
    0x0E float64), the number of dimensions, then one big-endian uint32 per dimension; the data
    follow, big-endian, row-major.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    np.ndarray
        Shape given by the header, native byte order (e.g. uint8 (60000, 28, 28) for MNIST images).

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    ValueError
        Bad magic, unknown type code, or data shorter or longer than the header announces.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"IDX file not found: {path} (MNIST's files are named "
                                f"{', '.join(IDX_NAMES)}, gzipped or not)")
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as err:  # BadGzipFile is an OSError; truncation is an EOFError
            raise ValueError(f"{path}: corrupt or truncated gzip data ({err})") from err
    if len(raw) < 4 or raw[:2] != b"\x00\x00" or raw[2] not in _IDX_DTYPES:
        raise ValueError(f"{path}: not an IDX file: expected magic 00 00 <type code in "
                         f"{sorted(_IDX_DTYPES)}> <ndim>, found {raw[:4].hex(' ') or 'nothing'}")
    dtype, ndim = np.dtype(_IDX_DTYPES[raw[2]]), raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path}: truncated header: expected {header} bytes for {ndim} "
                         f"dimensions, found {len(raw)}")
    shape = tuple(int(n) for n in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(raw) - header != expected:
        raise ValueError(f"{path}: {'truncated' if len(raw) - header < expected else 'trailing'} "
                         f"data: expected {expected} bytes for shape {shape}, found "
                         f"{len(raw) - header}")
    return np.frombuffer(raw, dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def _md5(path):
    # MD5 is what MNIST publishes; it checks integrity here, not security.
    return hashlib.md5(Path(path).read_bytes(), usedforsecurity=False).hexdigest()


def load_mnist_idx(directory, verify=True):
    """The full MNIST set from the four standard IDX files in ``directory``.

    Each file may be gzipped (``.gz``, preferred when both exist) or not. With ``verify=True``,
    each .gz file's MD5 is compared with the canonical distribution's; uncompressed files have
    no published checksum and are checked structurally only (shapes, dtype, label range).

    Parameters
    ----------
    directory : str or Path
        Holds ``train-images-idx3-ubyte[.gz]``, ``train-labels-idx1-ubyte[.gz]``,
        ``t10k-images-idx3-ubyte[.gz]`` and ``t10k-labels-idx1-ubyte[.gz]``.
    verify : bool
        Check the MD5 of the .gz files.

    Returns
    -------
    Dataset
        ``X_train (60000, 784)``, ``X_test (10000, 784)`` float64 in [0, 1]; y int64.

    Raises
    ------
    FileNotFoundError
        One of the four files is missing.
    ValueError
        A .gz file's MD5 does not match (``verify=True``), or a file is not MNIST-shaped IDX.
    """
    directory = Path(directory)
    arrays = {}
    for key, (gz_name, md5) in IDX_FILES.items():
        gz_path, plain_path = directory / gz_name, directory / gz_name[:-3]
        if gz_path.is_file():
            if verify and (digest := _md5(gz_path)) != md5:
                raise ValueError(f"{gz_path}: MD5 checksum mismatch: expected {md5}, got {digest}; "
                                 "the file is corrupt or not the canonical MNIST (verify=False "
                                 "skips this check)")
            arrays[key] = read_idx(gz_path)
        elif plain_path.is_file():
            arrays[key] = read_idx(plain_path)
        else:
            raise FileNotFoundError(f"{gz_path} (or {plain_path.name}) not found; {directory} "
                                    f"must hold {', '.join(IDX_NAMES)}, gzipped or not")
    split = {}
    for part in ("train", "test"):
        images, labels = arrays[f"{part}_images"], arrays[f"{part}_labels"]
        if (images.ndim != 3 or images.shape[1:] != (28, 28) or images.dtype != np.uint8
                or labels.shape != images.shape[:1] or (labels.size > 0 and labels.max() > 9)):
            raise ValueError(f"{directory}: {part} files are not MNIST: images {images.shape} "
                             f"{images.dtype}, labels {labels.shape}; expected uint8 (N, 28, 28) "
                             "and (N,) labels 0-9")
        split[part] = (images.reshape(len(images), 784) / 255.0, labels.astype(np.int64))
    return Dataset(*split["train"], *split["test"], "mnist",
                   f"MNIST from IDX files in {directory}, flattened to 784, pixels in [0, 1]")


def download_mnist_idx(directory, mirror=DEFAULT_MIRROR):
    """Download the four MNIST .gz files from ``mirror`` into ``directory`` and verify them.

    Only ever called by a user: no loader, test or import downloads anything. Files already
    present with the right MD5 are kept.

    Returns
    -------
    Path
        ``directory``, ready for ``load_mnist_idx``.

    Raises
    ------
    ConnectionError
        The mirror cannot be reached: download the files by hand and use ``load_mnist_idx``.
    ValueError
        A downloaded file fails its MD5 check.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for gz_name, md5 in IDX_FILES.values():
        target = directory / gz_name
        if target.is_file() and _md5(target) == md5:
            continue
        url = mirror.rstrip("/") + "/" + gz_name
        try:
            with urllib.request.urlopen(url, timeout=60) as response:
                payload = response.read()
        except (OSError, http.client.HTTPException) as err:  # URLError is an OSError
            raise ConnectionError(f"could not download {url} ({err}); download the four files "
                                  f"{', '.join(IDX_NAMES)} by hand into a directory and pass it "
                                  "to load_mnist_idx(directory)") from err
        if (digest := hashlib.md5(payload, usedforsecurity=False).hexdigest()) != md5:
            raise ValueError(f"{url}: MD5 checksum mismatch: expected {md5}, got {digest}")
        partial = target.with_suffix(".part")  # never leave a half-written file under the real name
        partial.write_bytes(payload)
        partial.replace(target)
    return directory


def load_dataset(name, **kwargs):
    """Load a dataset by name: ``"mnist1d"`` or ``"mnist"``.

    ``load_dataset("mnist")`` is the embedded subset (``load_mnist784``);
    ``load_dataset("mnist", idx_dir=...)`` reads the full IDX files (``load_mnist_idx``). Other
    keyword arguments go to the loader.
    """
    if name == "mnist1d":
        return load_mnist1d(**kwargs)
    if name == "mnist":
        if "idx_dir" in kwargs:
            return load_mnist_idx(kwargs.pop("idx_dir"), **kwargs)
        return load_mnist784(**kwargs)
    raise ValueError(f"name must be one of {DATASETS}, got {name!r}")
