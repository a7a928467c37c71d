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
         "applications", "mixed_precision", "experimental", "random", "config", "tree",
         "ops")

# Keras 3's top-level names: where each lives in nabi.keras
_TOP_LEVEL = {"Layer": ("layers", "Layer"), "InputSpec": ("layers", "InputSpec"),
              "Variable": ("layers.base", "KerasVariable"),
              "KerasTensor": ("layers.base", "KerasTensor"),
              "Loss": ("losses", "Loss"), "Metric": ("metrics", "Metric"),
              "Optimizer": ("optimizers", "Optimizer"),
              "Initializer": ("initializers", "Initializer"),
              "Regularizer": ("regularizers", "Regularizer"),
              "Constraint": ("constraints", "Constraint"),
              "DTypePolicy": ("mixed_precision", "DTypePolicy")}


def version():
    """The Keras API level nabi follows (keras.version())."""
    return __version__


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
    if name in _TOP_LEVEL:
        module, attr = _TOP_LEVEL[name]
        value = getattr(_importlib.import_module(f".{module}", __name__), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'nabi.keras' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY) | set(_TOP_LEVEL))
