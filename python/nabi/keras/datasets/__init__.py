"""`nabi.keras.datasets`: `mnist`, `fashion_mnist`, `iris`."""
from . import fashion_mnist, iris, mnist  # noqa: F401
from ._idx import DatasetNotFoundError, IDXFormatError  # noqa: F401

__all__ = ["mnist", "fashion_mnist", "iris", "DatasetNotFoundError", "IDXFormatError"]
