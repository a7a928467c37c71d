"""MNIST handwritten digits (LeCun, Cortes, Burges) from the original IDX files."""
from . import _idx

__all__ = ["load_data"]

MIRRORS = [
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
]

# sha256 of the UNCOMPRESSED IDX bytes: mirrors recompress the .gz files, the content is fixed.
SHA256 = {
    "train-images-idx3-ubyte.gz": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte.gz": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte.gz": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte.gz": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}


def load_data(path=None):
    """Loads MNIST as Keras does: `((x_train, y_train), (x_test, y_test))`, uint8 arrays,
    x of shape (60000, 28, 28) / (10000, 28, 28), y of shape (60000,) / (10000,).

    Files (`train-images-idx3-ubyte[.gz]`, `train-labels-idx1-ubyte[.gz]`,
    `t10k-images-idx3-ubyte[.gz]`, `t10k-labels-idx1-ubyte[.gz]`) are read from `path` (a
    directory) when given, else from `$NABI_DATASETS/mnist/`, else from the cache
    `~/.nabi/datasets/mnist/`, else downloaded into it (sha256-verified).
    """
    return _idx.load_idx_dataset("mnist", MIRRORS, path=path, sha256=SHA256)
