"""`nabi.keras.preprocessing`: `sequence` (pad_sequences) and, when present, `image`."""
from . import sequence  # noqa: F401

try:  # written separately; absent in some builds
    from . import image  # noqa: F401
except ImportError:
    pass
