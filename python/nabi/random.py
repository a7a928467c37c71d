"""`nabi.random`: seedable random tensors."""
from .ops.random_ops import (categorical, normal, set_seed, shuffle, truncated_normal,  # noqa: F401
                             uniform)
