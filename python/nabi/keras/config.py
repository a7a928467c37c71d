"""`keras.config` (Keras 3): the global settings, gathered in one place.

floatx / epsilon / image_data_format are the settings `keras.backend` holds (one state, so the
Keras 2 and Keras 3 spellings agree); dtype_policy / set_dtype_policy are
`keras.mixed_precision`'s global policy (nabi computes the mixed policies in float32, see that
module); interactive logging is the switch `fit`'s progress bar obeys (`Progbar` writes to the
`nabi.keras` logger instead of stdout when it is off).

`backend()` returns "tensorflow": nabi speaks TensorFlow's dialect (`import nabi as tf`), and
code that branches on `keras.config.backend() == "tensorflow"` (keras.io examples written for
several backends) should take its TensorFlow branch. `keras.backend.backend()` says the same;
`keras.backend.is_nabi()` tells nabi apart."""
from . import backend as _backend
from . import mixed_precision as _mp
from .layers.core import enable_unsafe_deserialization  # noqa: F401
from .utils.progbar import (disable_interactive_logging,  # noqa: F401
                            enable_interactive_logging, is_interactive_logging_enabled)

floatx = _backend.floatx
set_floatx = _backend.set_floatx
epsilon = _backend.epsilon
set_epsilon = _backend.set_epsilon
image_data_format = _backend.image_data_format
set_image_data_format = _backend.set_image_data_format

__all__ = ["backend", "floatx", "set_floatx", "epsilon", "set_epsilon", "image_data_format",
           "set_image_data_format", "enable_unsafe_deserialization",
           "enable_interactive_logging", "disable_interactive_logging",
           "is_interactive_logging_enabled", "dtype_policy", "set_dtype_policy",
           "enable_traceback_filtering", "disable_traceback_filtering",
           "is_traceback_filtering_enabled"]

_TRACEBACK = {"enabled": True}


def backend():
    """"tensorflow": the framework dialect nabi implements (see the module doc)."""
    return "tensorflow"


def dtype_policy():
    """The global DTypePolicy (keras.mixed_precision.global_policy())."""
    return _mp.global_policy()


def set_dtype_policy(policy):
    """Sets the global DTypePolicy: 'float32', 'float64', 'mixed_float16', 'mixed_bfloat16', or
    a DTypePolicy (as keras.mixed_precision.set_global_policy)."""
    if not isinstance(policy, (str, _mp.Policy)):
        raise ValueError(f"[keras.config.set_dtype_policy] invalid `policy` argument. Expected "
                         f"the string name of a policy (such as 'mixed_float16') or a "
                         f"`DTypePolicy` instance. Received: policy={policy!r} "
                         f"(of type {type(policy).__name__})")
    _mp.set_global_policy(policy)


def enable_traceback_filtering():
    """Recorded only: nabi does not filter tracebacks."""
    _TRACEBACK["enabled"] = True


def disable_traceback_filtering():
    _TRACEBACK["enabled"] = False


def is_traceback_filtering_enabled():
    return _TRACEBACK["enabled"]
