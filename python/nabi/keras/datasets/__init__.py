"""`nabi.keras.datasets`: `mnist`, `fashion_mnist`, `cifar10`, `cifar100`, `imdb`, `reuters`,
`boston_housing`, `california_housing` (Keras's loaders and return values) and `iris`. Where
each looks for its files and how it downloads them: `_fetch`'s docstring."""
from . import boston_housing, cifar10, cifar100, fashion_mnist, imdb, iris, mnist  # noqa: F401
from . import california_housing, reuters  # noqa: F401
from ._idx import DatasetNotFoundError, IDXFormatError  # noqa: F401

__all__ = ["mnist", "fashion_mnist", "cifar10", "cifar100", "imdb", "reuters", "boston_housing",
           "california_housing", "iris", "DatasetNotFoundError", "IDXFormatError"]
