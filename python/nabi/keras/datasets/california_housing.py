"""California housing (Pace & Barry 1997, the 1990 US census): 20640 block groups, 8 features
and the median house value in $, as Keras 3 loads them (`keras.datasets.california_housing`).

File: `california_housing.npz` (`x` (20640, 8), `y` (20640,)). Looked for, in order, in
`$NABI_DATASETS/california_housing/`, `$NABI_DATASETS/`, the Keras cache `~/.keras/datasets/`
and nabi's cache `~/.nabi/datasets/california_housing/`; with nothing local it is downloaded
from Keras's bucket into nabi's cache (sha256 checked).
"""
import numpy as np

from . import _fetch

__all__ = ["load_data"]

URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/california_housing.npz"
SHA256 = "1a2e3a52e0398de6463aebe6f4a8da34fb21fbb6b934cf88c3425e766f2a1a6f"


def load_data(version="large", path="california_housing.npz", test_split=0.2, seed=113):
    """Returns `((x_train, y_train), (x_test, y_test))` as Keras 3 does: version 'small' keeps
    the file's first 600 rows ('large': all 20640), then the rows are shuffled by
    `np.random.RandomState(seed)` and the first `int(n * (1 - test_split))` are for training."""
    if not 0 <= test_split < 1:
        raise ValueError(f"[datasets.california_housing] test_split must be in [0, 1), got "
                         f"{test_split}")
    if version not in ("small", "large"):
        raise ValueError(f"[datasets.california_housing] `version` must be one of 'small', "
                         f"'large'. Received: version={version!r}")
    fpath = _fetch.locate_file("california_housing", path, "california_housing.npz", URL,
                               SHA256)
    with np.load(fpath, allow_pickle=False) as f:
        x, y = f["x"], f["y"]
    if version == "small":
        x, y = x[:600], y[:600]
    indices = np.arange(len(x))
    np.random.RandomState(seed).shuffle(indices)
    x, y = x[indices], y[indices]
    n_train = int(len(x) * (1 - test_split))
    return (np.array(x[:n_train]), np.array(y[:n_train])), (np.array(x[n_train:]),
                                                           np.array(y[n_train:]))
