"""`nabi.random`: seedable random tensors."""
from .ops.random_ops import (categorical, normal, set_seed, shuffle, truncated_normal,  # noqa: F401
                             uniform)
from .ops.random_ops import (Generator, get_global_generator,  # noqa: F401
                             set_global_generator)
