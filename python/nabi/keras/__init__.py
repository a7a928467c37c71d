"""`nabi.keras`: the Keras API on nabi (`import nabi as tf; tf.keras.Sequential(...)`).

Submodules written by other parts of the project load lazily on first attribute access, so
`import nabi.keras` works while any of them is unfinished.
"""
import importlib as _importlib

from . import backend  # noqa: F401
from . import layers  # noqa: F401
from .layers import Input  # noqa: F401
from .models import Model, Sequential  # noqa: F401
from . import models  # noqa: F401

__version__ = "2.15.0"  # the Keras API level nabi follows

_LAZY = ("optimizers", "losses", "metrics", "callbacks", "initializers", "regularizers",
         "activations", "constraints", "utils", "datasets", "preprocessing", "saving", "engine",
         "applications", "mixed_precision", "experimental")


def __getattr__(name):
    if name in _LAZY:
        try:
            mod = _importlib.import_module(f".{name}", __name__)
        except ImportError as e:
            if getattr(e, "name", None) == f"{__name__}.{name}":
                raise AttributeError(f"module 'nabi.keras' has no attribute {name!r} "
                                     f"(nabi.keras.{name} is not available yet)") from None
            raise
        globals()[name] = mod
        return mod
    raise AttributeError(f"module 'nabi.keras' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
