"""Boston housing prices (Harrison & Rubinfeld 1978, from StatLib): 506 suburbs, 13 features and
the median home value in k$, as Keras loads them.

File: `boston_housing.npz` (`x` (506, 13) float64, `y` (506,) float64). Looked for, in order, in
`$NABI_DATASETS/boston_housing/`, `$NABI_DATASETS/`, the Keras cache `~/.keras/datasets/` and
nabi's cache `~/.nabi/datasets/boston_housing/`; with nothing local it is downloaded from Keras's
bucket into nabi's cache (sha256 checked).
"""
import numpy as np

from . import _fetch

__all__ = ["load_data"]

URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/boston_housing.npz"
SHA256 = "f553886a1f8d56431e820c5b82552d9d95cfcb96d1e678153f8839538947dff5"


def load_data(path="boston_housing.npz", test_split=0.2, seed=113):
    """Returns `((x_train, y_train), (x_test, y_test))` as Keras 2.x does: the rows shuffled by
    `np.random.RandomState(seed)`, the first `int(n * (1 - test_split))` for training (404 and
    102 of the 506 by default)."""
    if not 0 <= test_split < 1:
        raise ValueError(f"[datasets.boston_housing] test_split must be in [0, 1), got "
                         f"{test_split}")
    fpath = _fetch.locate_file("boston_housing", path, "boston_housing.npz", URL, SHA256)
    with np.load(fpath, allow_pickle=True) as f:
        x, y = f["x"], f["y"]
    rng = np.random.RandomState(seed)
    indices = np.arange(len(x))
    rng.shuffle(indices)
    x, y = x[indices], y[indices]
    n_train = int(len(x) * (1 - test_split))
    return (np.array(x[:n_train]), np.array(y[:n_train])), (np.array(x[n_train:]),
                                                           np.array(y[n_train:]))
