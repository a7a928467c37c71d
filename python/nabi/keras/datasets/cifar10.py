"""CIFAR-10 (Krizhevsky 2009): 50000 + 10000 32x32 colour images in 10 classes, as Keras loads it.

Looked for, in order: `$NABI_DATASETS/cifar10/`, `$NABI_DATASETS/`, the Keras cache
`~/.keras/datasets/` and nabi's cache `~/.nabi/datasets/cifar10/`; in each, the extracted
directory `cifar-10-batches-py/` (`data_batch_1`..`data_batch_5`, `test_batch`), then the
archive `cifar-10-python.tar.gz` (or `cifar-10-batches-py.tar.gz`, the name Keras caches it
under). With nothing local, the archive is downloaded from the Toronto site into nabi's cache
(sha256 checked) and read without extracting it.
"""
import numpy as np

from . import cifar

__all__ = ["load_data", "URL", "SHA256", "CLASS_NAMES"]

URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
SHA256 = "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"
CANDIDATES = ["cifar-10-batches-py", "cifar-10-python.tar.gz", "cifar-10-batches-py.tar.gz"]
TRAIN = [f"data_batch_{i}" for i in range(1, 6)]
TEST = ["test_batch"]
CLASS_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
               "truck"]


def load_data(path=None):
    """Returns `((x_train, y_train), (x_test, y_test))` as Keras 2.x does: x uint8 of shape
    (50000, 32, 32, 3) / (10000, 32, 32, 3) (NCHW under `image_data_format() ==
    "channels_first"`), y uint8 of shape (50000, 1) / (10000, 1).

    `path` (nabi only): an extracted `cifar-10-batches-py` directory or the `.tar.gz` archive.
    """
    source = cifar.find("cifar10", path, CANDIDATES, URL, SHA256)
    x_train, y_train = cifar.load_split("cifar10", source, TRAIN, "labels")
    x_test, y_test = cifar.load_split("cifar10", source, TEST, "labels")
    # Keras fills a uint8 label array for train and casts test to its dtype
    y_train = np.asarray(y_train, dtype="uint8").reshape(len(y_train), 1)
    y_test = np.asarray(y_test).astype("uint8").reshape(len(y_test), 1)
    return (cifar.to_data_format(x_train), y_train), (cifar.to_data_format(x_test), y_test)
