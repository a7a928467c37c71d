"""`nabi.keras.preprocessing`: `sequence` (pad_sequences) and, when present, `image`."""
from . import sequence  # noqa: F401

try:  # written separately; absent in some builds
    from . import image  # noqa: F401
except ImportError:
    pass

# keras.preprocessing.timeseries_dataset_from_array (TF 2.x's older path of the utility)
from ..utils import timeseries_dataset_from_array  # noqa: E402,F401
