"""TF1's `tf.errors`: the same exceptions as `nabi.errors`."""
from ...errors import *  # noqa: F401,F403
from ...errors import __all__  # noqa: F401
