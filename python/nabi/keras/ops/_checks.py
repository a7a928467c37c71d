"""Argument checks shared by `keras.ops.image`, `keras.ops.linalg` (and `qr`): each raises a
ValueError that starts with the op's name and says what it got (the value, or the shape)."""
import nabi as tf

from ._common import shape_of, t_, to_float


def _described(allowed):
    """"'a' or 'b'" for two choices, else "one of <allowed>"."""
    if len(allowed) == 2:
        return " or ".join(repr(a) for a in allowed)
    return f"one of {allowed}"


def one_of(op, name, value, allowed, key=None):
    """Checks that `value` (or `key`, a normalised form of it) is among `allowed`."""
    if (value if key is None else key) not in allowed:
        raise ValueError(f"[{op}] {name} must be {_described(allowed)}, got {value!r}")
    return value


def rank_in(op, name, x, ranks, described):
    """x as a Tensor, checked to have one of `ranks` (`described` says what that means)."""
    x = t_(x)
    if x.shape.rank not in ranks:
        raise ValueError(f"[{op}] {name} must be {described}, got shape {shape_of(x)}")
    return x


def at_least_2d(op, x, name="x"):
    """x (as float) with rank >= 2."""
    x = to_float(x)
    if x.shape.rank < 2:
        raise ValueError(f"[{op}] {name} must be at least 2-D, got shape {shape_of(x)}")
    return x


def square_matrices(op, x):
    """x (as float) of shape (..., n, n)."""
    x = to_float(x)
    s = shape_of(x)
    if len(s) < 2 or s[-1] != s[-2]:
        raise ValueError(f"[{op}] x must be a (batch of) square matrices, got shape {s}")
    return x


def right_hand_side(op, a, b):
    """b (in a's dtype) for a linear system with the square matrices a: a vector b (rank one
    less than a's) becomes a column. Returns (b, whether it was a vector)."""
    b = t_(b, a.dtype)
    vec = b.shape.rank == a.shape.rank - 1
    if vec:
        b = tf.expand_dims(b, -1)
    if shape_of(b)[-2] != shape_of(a)[-1]:
        raise ValueError(f"[{op}] a {shape_of(a)} and b {shape_of(b)} do not fit")
    return b, vec
