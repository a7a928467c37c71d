"""`keras.layers.experimental.preprocessing`: the preprocessing layers (Normalization,
Rescaling, RandomFlip, ...) under their TF 2.3-2.5 import path."""
from ..preprocessing import *  # noqa: F401,F403
from ..preprocessing import __all__ as _pre_all
from ..activation import Rescaling  # noqa: F401
from ..text_vectorization import TextVectorization  # noqa: F401

__all__ = list(_pre_all) + ["Rescaling", "TextVectorization"]
