"""All ops, importable as `nabi.ops.<name>` (the public names live on `nabi`, `nabi.math`, `nabi.nn`)."""
from .array_ops import *  # noqa: F401,F403
from .array_ops import (boolean_mask, broadcast_to, concat, expand_dims, fill, gather,  # noqa: F401
                        gather_nd, getitem, identity, one_hot, ones, ones_like, pad, range, rank,
                        reshape, reverse, shape, size, slice, split, squeeze, stack, strided_slice,
                        tile, transpose, unstack, where, zeros, zeros_like)
from .math_ops import *  # noqa: F401,F403
from .math_ops import (abs, add, cast, divide, equal, floordiv, floormod, greater,  # noqa: F401
                       greater_equal, less, less_equal, logical_and, logical_not, logical_or,
                       logical_xor, matmul, multiply, negative, not_equal, pow, subtract)
from .linalg_ops import *  # noqa: F401,F403
from .clip_ops import *  # noqa: F401,F403
from .scatter_ops import *  # noqa: F401,F403
from .segment_ops import *  # noqa: F401,F403
from .sort_ops import *  # noqa: F401,F403
