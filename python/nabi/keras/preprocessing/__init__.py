"""`nabi.keras.preprocessing`: `sequence` (pad_sequences) and, when present, `image` and `text`
(Tokenizer)."""
from . import sequence  # noqa: F401

try:  # written separately; absent in some builds
    from . import image  # noqa: F401
except ImportError:
    pass

try:  # keras.preprocessing.text (Tokenizer); written separately
    from . import text  # noqa: F401
except ImportError:
    pass


def __getattr__(name):
    # keras.preprocessing.timeseries_dataset_from_array: TF 2.x's older path of the utility
    # (looked up lazily: keras.utils imports this package)
    if name == "timeseries_dataset_from_array":
        from ..utils import timeseries_dataset_from_array
        return timeseries_dataset_from_array
    if name in ("image_dataset_from_directory", "text_dataset_from_directory"):
        from .. import utils
        return getattr(utils, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
