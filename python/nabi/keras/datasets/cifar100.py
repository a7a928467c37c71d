"""CIFAR-100 (Krizhevsky 2009): 50000 + 10000 32x32 colour images, 100 fine classes grouped in
20 coarse ones, as Keras loads it.

Looked for, in order: `$NABI_DATASETS/cifar100/`, `$NABI_DATASETS/`, the Keras cache
`~/.keras/datasets/` and nabi's cache `~/.nabi/datasets/cifar100/`; in each, the extracted
directory `cifar-100-python/` (`train`, `test`), then the archive `cifar-100-python.tar.gz`.
With nothing local, the archive is downloaded from the Toronto site into nabi's cache (sha256
checked) and read without extracting it.
"""
import numpy as np

from . import cifar

__all__ = ["load_data", "URL", "SHA256"]

URL = "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"
SHA256 = "85cd44d02ba6437773c5bbd22e183051d648de2e7d6b014e1ef29b855ba677a7"
CANDIDATES = ["cifar-100-python", "cifar-100-python.tar.gz"]


def load_data(label_mode="fine", path=None):
    """Returns `((x_train, y_train), (x_test, y_test))` as Keras 2.x does: x uint8 of shape
    (50000, 32, 32, 3) / (10000, 32, 32, 3) (NCHW under channels_first), y of shape (N, 1) with
    the fine (0..99) or coarse (0..19) labels. Keras documents y as uint8 but returns the int64
    array `np.reshape` makes of the pickled list; so does nabi.

    `path` (nabi only): an extracted `cifar-100-python` directory or the `.tar.gz` archive.
    """
    if label_mode not in ("fine", "coarse"):
        raise ValueError('[datasets.cifar100] `label_mode` must be one of "fine", "coarse". '
                         f"Received: label_mode={label_mode!r}.")
    source = cifar.find("cifar100", path, CANDIDATES, URL, SHA256)
    key = label_mode + "_labels"
    x_train, y_train = cifar.load_split("cifar100", source, ["train"], key)
    x_test, y_test = cifar.load_split("cifar100", source, ["test"], key)
    y_train = np.asarray(y_train, dtype=np.int64).reshape(len(y_train), 1)
    y_test = np.asarray(y_test, dtype=np.int64).reshape(len(y_test), 1)
    return (cifar.to_data_format(x_train), y_train), (cifar.to_data_format(x_test), y_test)
