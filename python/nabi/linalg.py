"""`nabi.linalg`."""
from .ops.math_ops import matmul, tensordot  # noqa: F401
from .ops.nn_ops import l2_normalize  # noqa: F401
