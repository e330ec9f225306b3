"""Tests of course/datasets.py: MNIST-1D generation, the embedded MNIST subset, the IDX reader.

Nothing here touches the network: an autouse fixture makes urllib fail loudly, and the IDX tests
write their own small files into tmp_path.
"""

import gzip
import hashlib
import random
import shutil
import urllib.error
import urllib.request

import numpy as np
import pytest

from course import datasets as data


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError(f"a test tried to download: {args[:1]}")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)


# ---------------------------------------------------------------- MNIST-1D


def test_mnist1d_shapes_dtypes_classes():
    ds = data.load_mnist1d()
    assert ds.name == "mnist1d"
    assert ds.X_train.shape == (4000, 40) and ds.X_test.shape == (1000, 40)
    assert ds.y_train.shape == (4000,) and ds.y_test.shape == (1000,)
    assert ds.X_train.dtype == np.float64 and ds.y_train.dtype == np.int64
    assert set(np.unique(ds.y_train)) == set(range(10)) == set(np.unique(ds.y_test))
    assert np.isfinite(ds.X_train).all()
    # mnist1d standardises the whole set: mean 0, std 1 within sampling error.
    assert abs(ds.X_train.mean()) < 0.05 and abs(ds.X_train.std() - 1) < 0.05
    assert "(4000, 40)" in repr(ds)


def test_mnist1d_is_deterministic_and_seed_matters():
    a, b = data.load_mnist1d(42), data.load_mnist1d(42)
    np.testing.assert_array_equal(a.X_train, b.X_train)
    np.testing.assert_array_equal(a.y_test, b.y_test)
    # Bypass the cache to prove that generation itself, not the cache, is deterministic.
    fresh = data._mnist1d_arrays.__wrapped__(42)
    np.testing.assert_array_equal(fresh[0], a.X_train)
    other = data.load_mnist1d(7)
    assert not np.array_equal(other.X_train, a.X_train)


def test_mnist1d_leaves_global_random_state_alone():
    # The legacy global generators are the very thing under test, hence the noqa: NPY002.
    np.random.seed(123)  # noqa: NPY002
    random.seed(123)
    expected_np = np.random.random(3)  # noqa: NPY002
    expected_py = [random.random() for _ in range(3)]
    np.random.seed(123)  # noqa: NPY002
    random.seed(123)
    misses = data._mnist1d_arrays.cache_info().misses
    data.load_mnist1d(20240613)  # a seed no other test uses
    assert data._mnist1d_arrays.cache_info().misses == misses + 1  # it really generated
    np.testing.assert_array_equal(np.random.random(3), expected_np)  # noqa: NPY002
    assert [random.random() for _ in range(3)] == expected_py


def test_mnist1d_cache_returns_copies():
    first = data.load_mnist1d()
    original = first.X_train[0, 0]
    first.X_train[0, 0] = 1e9
    first.y_train[:] = -1
    second = data.load_mnist1d()
    assert second.X_train[0, 0] == original
    assert second.y_train.min() >= 0
    assert second.X_train.flags.writeable


def test_mnist1d_seed_must_be_an_integer():
    with pytest.raises(TypeError, match="seed"):
        data.load_mnist1d(seed=1.5)


# ---------------------------------------------------------------- embedded MNIST subset


def test_embedded_npz_checksum_matches_constant():
    digest = hashlib.sha256(data.MNIST784_PATH.read_bytes()).hexdigest()
    assert digest == data.MNIST784_SHA256


def test_mnist784_split():
    ds = data.load_mnist784()
    assert ds.name == "mnist"
    assert ds.X_train.shape == (4000, 784) and ds.X_test.shape == (1000, 784)
    assert ds.X_train.dtype == np.float64 and ds.y_test.dtype == np.int64
    np.testing.assert_array_equal(np.bincount(ds.y_train, minlength=10), np.full(10, 400))
    np.testing.assert_array_equal(np.bincount(ds.y_test, minlength=10), np.full(10, 100))
    assert ds.X_train.min() == 0.0 and ds.X_train.max() == 1.0
    assert ds.X_test.min() >= 0.0 and ds.X_test.max() <= 1.0
    # Pixels are k / 255 for integer k: nothing but the scaling was applied.
    np.testing.assert_allclose(ds.X_test * 255, np.round(ds.X_test * 255), atol=1e-9)
    train_rows = {row.tobytes() for row in ds.X_train}
    assert len(train_rows) == 4000
    assert not any(row.tobytes() in train_rows for row in ds.X_test)
    # Shuffled within the split: not sorted by label as in the file.
    assert (np.diff(ds.y_train) < 0).any()


def test_mnist784_split_is_seeded():
    a, b, c = data.load_mnist784(0), data.load_mnist784(0), data.load_mnist784(1)
    np.testing.assert_array_equal(a.X_train, b.X_train)
    np.testing.assert_array_equal(a.y_test, b.y_test)
    assert not np.array_equal(a.y_train, c.y_train)


def test_mnist784_corrupt_copy_is_refused(tmp_path):
    with np.load(data.MNIST784_PATH) as npz:
        images, labels = npz["images"].copy(), npz["labels"]
    images[0, 400] ^= 1
    bad = tmp_path / "mnist784_5k.npz"
    np.savez_compressed(bad, images=images, labels=labels)
    with pytest.raises(ValueError, match="checksum") as err:
        data.load_mnist784(path=bad)
    assert str(bad) in str(err.value) and "git checkout" in str(err.value)
    with pytest.raises(FileNotFoundError, match="git checkout"):
        data.load_mnist784(path=tmp_path / "missing.npz")


def test_mnist784_good_copy_loads_from_path(tmp_path):
    copy = tmp_path / "copy.npz"
    shutil.copy(data.MNIST784_PATH, copy)
    np.testing.assert_array_equal(data.load_mnist784(path=copy).X_test, data.load_mnist784().X_test)


def test_mnist784_scale_argument():
    with pytest.raises(ValueError, match="scale"):
        data.load_mnist784(scale="standard")


# ---------------------------------------------------------------- IDX files


def idx_bytes(array, code):
    """IDX encoding of ``array``: 00 00 <code> <ndim>, big-endian uint32 dims, big-endian data."""
    header = bytes([0, 0, code, array.ndim]) + np.array(array.shape, ">u4").tobytes()
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write_mnist_like(directory, gz, n_train=7, n_test=5, seed=0):
    """Write small MNIST-shaped IDX files; return (train_x, train_y, test_x, test_y), uint8."""
    rng = np.random.default_rng(seed)
    arrays = (rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
              rng.integers(0, 10, n_train, dtype=np.uint8),
              rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
              rng.integers(0, 10, n_test, dtype=np.uint8))
    for name, array in zip(data.IDX_NAMES, arrays, strict=True):
        raw = idx_bytes(array, 0x08)
        path = directory / (name if gz else name[:-3])
        path.write_bytes(gzip.compress(raw) if gz else raw)
    return arrays


@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_round_trip(tmp_path, gz):
    images = np.random.default_rng(1).integers(0, 256, (7, 28, 28), dtype=np.uint8)
    raw = idx_bytes(images, 0x08)
    path = tmp_path / "images.idx"  # no .gz suffix even when gzipped: detection is by magic bytes
    path.write_bytes(gzip.compress(raw) if gz else raw)
    out = data.read_idx(path)
    assert out.dtype == np.uint8 and out.shape == (7, 28, 28)
    np.testing.assert_array_equal(out, images)


@pytest.mark.parametrize("dtype, code", [(np.int8, 0x09), (np.int16, 0x0B), (np.int32, 0x0C),
                                         (np.float32, 0x0D), (np.float64, 0x0E)])
def test_read_idx_other_dtypes_are_big_endian(tmp_path, dtype, code):
    array = (np.random.default_rng(2).standard_normal((3, 4)) * 100).astype(dtype)
    path = tmp_path / "a.idx"
    path.write_bytes(idx_bytes(array, code))
    out = data.read_idx(path)
    assert out.dtype == np.dtype(dtype)  # native byte order, ready for arithmetic
    np.testing.assert_array_equal(out, array)


def test_read_idx_errors(tmp_path):
    good = idx_bytes(np.zeros((2, 3), np.uint8), 0x08)
    cases = {"badmagic": b"\x01\x02" + good[2:], "badtype": good[:2] + b"\x07" + good[3:],
             "truncated": good[:-1], "trailing": good + b"\x00", "header": good[:6]}
    for name, raw in cases.items():
        (tmp_path / name).write_bytes(raw)
    with pytest.raises(ValueError, match="expected magic 00 00 .* found 01 02 08 02"):
        data.read_idx(tmp_path / "badmagic")
    with pytest.raises(ValueError, match="found 00 00 07 02"):
        data.read_idx(tmp_path / "badtype")
    with pytest.raises(ValueError, match=r"truncated data: expected 6 bytes .* found 5"):
        data.read_idx(tmp_path / "truncated")
    with pytest.raises(ValueError, match="trailing data"):
        data.read_idx(tmp_path / "trailing")
    with pytest.raises(ValueError, match="truncated header"):
        data.read_idx(tmp_path / "header")
    (tmp_path / "cut.gz").write_bytes(gzip.compress(good)[:-10])
    with pytest.raises(ValueError, match="cut.gz.*gzip"):
        data.read_idx(tmp_path / "cut.gz")
    with pytest.raises(FileNotFoundError, match="nothere.*train-images-idx3-ubyte"):
        data.read_idx(tmp_path / "nothere")


@pytest.mark.parametrize("gz", [False, True])
def test_load_mnist_idx_reads_back(tmp_path, gz):
    train_x, train_y, test_x, test_y = write_mnist_like(tmp_path, gz)
    # Small files cannot match the canonical MD5s, so .gz ones need verify=False.
    ds = data.load_mnist_idx(tmp_path, verify=not gz)
    assert ds.X_train.shape == (7, 784) and ds.X_test.shape == (5, 784)
    assert ds.X_train.dtype == np.float64 and ds.y_train.dtype == np.int64
    np.testing.assert_array_equal(ds.X_train * 255, train_x.reshape(7, 784))
    np.testing.assert_array_equal(ds.y_test, test_y)
    via_dispatch = data.load_dataset("mnist", idx_dir=tmp_path, verify=False)
    np.testing.assert_array_equal(via_dispatch.y_train, train_y)


def test_load_mnist_idx_checksum_mismatch(tmp_path):
    write_mnist_like(tmp_path, gz=True)
    actual = hashlib.md5((tmp_path / "train-images-idx3-ubyte.gz").read_bytes()).hexdigest()
    with pytest.raises(ValueError, match="train-images-idx3-ubyte.gz") as err:
        data.load_mnist_idx(tmp_path)
    assert "f68b3c2dcbeaaa9fbdd348bbdeb94873" in str(err.value) and actual in str(err.value)


def test_load_mnist_idx_missing_and_malformed(tmp_path):
    write_mnist_like(tmp_path, gz=False)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(FileNotFoundError, match="t10k-labels-idx1-ubyte"):
        data.load_mnist_idx(tmp_path)
    # Labels of the wrong length: structurally not MNIST.
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(idx_bytes(np.zeros(4, np.uint8), 0x08))
    with pytest.raises(ValueError, match="test files are not MNIST"):
        data.load_mnist_idx(tmp_path)


def test_download_reports_network_failure(tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("no route to host")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(ConnectionError, match="by hand.*load_mnist_idx"):
        data.download_mnist_idx(tmp_path / "mnist", mirror="https://example.invalid/mnist/")
    assert list((tmp_path / "mnist").iterdir()) == []


def test_download_rejects_a_wrong_file(tmp_path, monkeypatch):
    class FakeResponse:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def read(self):
            return b"not mnist"

    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout: FakeResponse())
    with pytest.raises(ValueError, match="MD5 checksum mismatch"):
        data.download_mnist_idx(tmp_path)
    assert not (tmp_path / "train-images-idx3-ubyte.gz").exists()


# ---------------------------------------------------------------- dispatch


def test_load_dataset_dispatch():
    assert data.DATASETS == ("mnist1d", "mnist")
    assert data.load_dataset("mnist1d").X_train.shape == (4000, 40)
    assert data.load_dataset("mnist", seed=0).X_train.shape == (4000, 784)
    with pytest.raises(ValueError, match="mnist1d.*mnist.*'cifar10'"):
        data.load_dataset("cifar10")


# ---------------------------------------------------------------- the students' loaders


def test_student_loaders_are_the_same_data(tmp_path, monkeypatch):
    """cnn1d_helpers (copied beside the training notebook) holds the generation and split logic;
    course.datasets only wraps it, so students and the grader see the same arrays."""
    from course import cnn1d_helpers as helpers

    shutil.copy(data.MNIST784_PATH, tmp_path / "mnist784_5k.npz")
    monkeypatch.chdir(tmp_path)  # the default path is relative: the notebook's folder
    student, kit = helpers.load_mnist784(), data.load_mnist784()
    for a, b in zip(student, kit, strict=True):
        np.testing.assert_array_equal(a, b)
    X_train, y_train, X_test, y_test = helpers.load_mnist1d()
    kit = data.load_mnist1d()
    np.testing.assert_array_equal(X_train, kit.X_train)
    np.testing.assert_array_equal(y_test, kit.y_test)
    assert type(kit) is helpers.Dataset and data.MNIST784_SHA256 == helpers.MNIST784_SHA256


def test_student_loader_explains_a_missing_file(tmp_path, monkeypatch):
    from course import cnn1d_helpers as helpers

    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match="beside the training notebook"):
        helpers.load_mnist784()
