"""`tf.debugging`: eager assertions. A failed check raises `nabi.errors.InvalidArgumentError`
(a ValueError) whose message names the check, the shapes and the offending values; the
passing `assert_*` return None, `check_numerics` returns its input."""
import numpy as np

from .errors import InvalidArgumentError
from .framework.tensor import Tensor, convert_to_tensor

__all__ = ["assert_equal", "assert_none_equal", "assert_near", "assert_greater",
           "assert_greater_equal", "assert_less", "assert_less_equal", "assert_positive",
           "assert_negative", "assert_non_negative", "assert_non_positive", "assert_rank",
           "assert_rank_at_least", "assert_rank_in", "assert_scalar", "assert_shapes",
           "assert_type", "assert_integer", "assert_all_finite", "check_numerics", "Assert",
           "is_numeric_tensor", "set_log_device_placement", "enable_check_numerics",
           "disable_check_numerics", "assert_proper_iterable"]


def _np(x):
    return x.numpy() if isinstance(x, Tensor) else np.asarray(x)


def _dtype(x):
    """x's NumPy dtype, read from the tensor's array without copying it to the host."""
    return x._data.dtype if isinstance(x, Tensor) else np.asarray(x).dtype


def _all(x):
    """Whether every element of x is true: for a GPU tensor decided on the device, one bool
    read back."""
    from .framework.device import DeviceArray
    if isinstance(x, Tensor) and type(x._data) is DeviceArray:
        return bool(np.all(x._data))
    return bool(np.all(_np(x)))


def _fail(op, message, detail):
    raise InvalidArgumentError((f"{message}\n" if message else "") + f"[{op}] {detail}")


def _device_ok(fn, x, y):
    """fn(x, y) decided on the GPU when x or y is a GPU tensor: the comparison and its `all`
    run there and one bool is read back (as TF eager reads an assert's outcome); None for
    host operands, or when the shapes do not broadcast (the host path says so)."""
    from .framework.device import DeviceArray, to_device
    xa = x._data if isinstance(x, Tensor) else None
    ya = y._data if isinstance(y, Tensor) else None
    if type(xa) is not DeviceArray and type(ya) is not DeviceArray:
        return None
    xa = xa if xa is not None else np.asarray(x)
    ya = ya if ya is not None else np.asarray(y)
    try:
        np.broadcast_shapes(tuple(xa.shape), tuple(ya.shape))
    except ValueError:
        return None
    if type(xa) is not DeviceArray and xa.ndim:
        xa = to_device(np.ascontiguousarray(xa), "cuda")
    if type(ya) is not DeviceArray and ya.ndim:
        ya = to_device(np.ascontiguousarray(ya), "cuda")
    return bool(np.all(fn(xa, ya)))


def _compare(op, fn, sym, x, y, message):
    if _device_ok(fn, x, y):
        return       # passed on the device: one bool read; a failure reads the values below
    a, b = _np(x), _np(y)
    try:
        ok = fn(a, b)
    except ValueError:
        _fail(op, message, f"shapes {a.shape} and {b.shape} are not broadcastable")
    if not np.all(ok):
        bad = np.argwhere(~np.broadcast_to(ok, np.broadcast_shapes(a.shape, b.shape)))
        first = tuple(int(v) for v in bad[0]) if bad.size else ()
        ab, bb = np.broadcast_arrays(a, b)
        _fail(op, message, f"condition x {sym} y did not hold for x {a.shape} and y {b.shape}: "
                           f"{len(bad) or 1} element(s) fail, first at {list(first)}: "
                           f"x = {ab[first]!r}, y = {bb[first]!r}")


def assert_equal(x, y, message=None, summarize=None, name=None):
    _compare("assert_equal", np.equal, "==", x, y, message)


def assert_none_equal(x, y, message=None, summarize=None, name=None):
    _compare("assert_none_equal", np.not_equal, "!=", x, y, message)


def assert_greater(x, y, message=None, summarize=None, name=None):
    _compare("assert_greater", np.greater, ">", x, y, message)


def assert_greater_equal(x, y, message=None, summarize=None, name=None):
    _compare("assert_greater_equal", np.greater_equal, ">=", x, y, message)


def assert_less(x, y, message=None, summarize=None, name=None):
    _compare("assert_less", np.less, "<", x, y, message)


def assert_less_equal(x, y, message=None, summarize=None, name=None):
    _compare("assert_less_equal", np.less_equal, "<=", x, y, message)


def assert_positive(x, message=None, summarize=None, name=None):
    _compare("assert_positive", np.greater, ">", x, 0, message)


def assert_negative(x, message=None, summarize=None, name=None):
    _compare("assert_negative", np.less, "<", x, 0, message)


def assert_non_negative(x, message=None, summarize=None, name=None):
    _compare("assert_non_negative", np.greater_equal, ">=", x, 0, message)


def assert_non_positive(x, message=None, summarize=None, name=None):
    _compare("assert_non_positive", np.less_equal, "<=", x, 0, message)


def assert_near(x, y, rtol=None, atol=None, message=None, summarize=None, name=None):
    """|x - y| <= atol + rtol * |y| elementwise; both tolerances default to 10 * eps of the
    dtype, as TF."""
    dt = _dtype(x)
    eps = np.finfo(dt if dt.kind == "f" else np.float32).eps
    rtol = 10 * eps if rtol is None else rtol
    atol = 10 * eps if atol is None else atol
    _compare("assert_near", lambda p, q: np.abs(p - q) <= atol + rtol * np.abs(q), "~=", x, y,
             message)


def _rank(x):
    return len(x.shape) if hasattr(x, "shape") else np.ndim(x)


def assert_rank(x, rank, message=None, name=None):
    r = int(_np(rank))
    if _rank(x) != r:
        _fail("assert_rank", message, f"tensor of shape {tuple(_np(x).shape)} must have rank "
                                      f"{r}, got rank {_rank(x)}")


def assert_rank_at_least(x, rank, message=None, name=None):
    r = int(_np(rank))
    if _rank(x) < r:
        _fail("assert_rank_at_least", message, f"tensor of shape {tuple(_np(x).shape)} must "
                                               f"have rank >= {r}, got rank {_rank(x)}")


def assert_rank_in(x, ranks, message=None, name=None):
    rs = [int(_np(r)) for r in ranks]
    if _rank(x) not in rs:
        _fail("assert_rank_in", message, f"tensor of shape {tuple(_np(x).shape)} must have a "
                                         f"rank in {rs}, got rank {_rank(x)}")


def assert_scalar(tensor, message=None, name=None):
    assert_rank(tensor, 0, message=message)
    return tensor


def assert_type(tensor, tf_type, message=None, name=None):
    from .dtypes import as_dtype
    t = tensor if isinstance(tensor, Tensor) else convert_to_tensor(tensor)
    if t.dtype != as_dtype(tf_type):
        raise TypeError((f"{message}\n" if message else "") + f"[assert_type] tensor has dtype "
                        f"{t.dtype.name}, expected {as_dtype(tf_type).name}")


def assert_integer(x, message=None, name=None):
    if _dtype(x).kind not in "iu":
        raise TypeError((f"{message}\n" if message else "") +
                        f"[assert_integer] expected an integer tensor, got {_dtype(x).name}")


def is_numeric_tensor(tensor):
    return isinstance(tensor, Tensor) and _dtype(tensor).kind in "iufc"


def assert_shapes(shapes, data=None, summarize=None, message=None, name=None):
    """shapes: (tensor, spec) pairs (or a dict tensor -> spec); a spec lists dimensions as
    ints (exact), strings (a symbol that must agree across all tensors) or None (any); a
    leading '...' allows any number of leading dimensions; a string spec like 'NHWC' names
    one dimension per character."""
    pairs = list(shapes.items()) if isinstance(shapes, dict) else list(shapes)
    sizes = {}
    for i, (t, spec) in enumerate(pairs):
        shp = tuple(_np(t).shape) if not hasattr(t, "shape") or isinstance(t, np.ndarray) \
            else tuple(int(d) for d in _np(t).shape)
        spec = list(spec) if not isinstance(spec, str) else list(spec)
        if spec and spec[0] == "...":
            spec = spec[1:]
            if len(shp) < len(spec):
                _fail("assert_shapes", message, f"tensor {i} of shape {shp} must have rank >= "
                                                f"{len(spec)} for spec {['...'] + spec}")
            shp = shp[len(shp) - len(spec):]
        elif len(shp) != len(spec):
            _fail("assert_shapes", message, f"tensor {i} of shape {shp} must have rank "
                                            f"{len(spec)} for spec {spec}")
        for d, s in zip(shp, spec):
            if s is None:
                continue
            if isinstance(s, str):
                if s in sizes and sizes[s] != d:
                    _fail("assert_shapes", message, f"dimension {s!r} is {sizes[s]} elsewhere "
                                                    f"but {d} in tensor {i} of shape {shp}")
                sizes.setdefault(s, d)
            elif int(s) != d:
                _fail("assert_shapes", message, f"tensor {i} of shape {shp} does not match "
                                                f"spec {spec}")


def check_numerics(tensor, message, name=None):
    """Raises when a float tensor holds a NaN or an Inf; a GPU tensor is checked on the device
    (one bool read back), its values read only when the check fails."""
    if _dtype(tensor).kind != "f":
        return tensor
    t = tensor if isinstance(tensor, Tensor) else convert_to_tensor(tensor)
    from .framework.device import DeviceArray
    if type(t._data) is DeviceArray and bool(np.all(np.isfinite(t._data))):
        return tensor
    a = _np(tensor)
    if not np.all(np.isfinite(a)):
        what = "NaN" if np.isnan(a).any() else "Inf"
        raise InvalidArgumentError(f"{message} : [check_numerics] tensor of shape {a.shape} "
                                   f"had {what} values")
    return tensor


def assert_all_finite(t, msg, name=None, x=None, message=None):
    return check_numerics(t if t is not None else x, msg or message)


def Assert(condition, data, summarize=None, name=None):  # noqa: N802  (TF's name)
    if not _all(condition):   # (a GPU condition: one bool read; the data only on failure)
        shown = [(_np(d) if isinstance(d, Tensor) else d) for d in data]
        raise InvalidArgumentError("[Assert] assertion failed: " + " ".join(map(str, shown)))


def assert_proper_iterable(values):
    if isinstance(values, (Tensor, np.ndarray, str, bytes)) or not hasattr(values, "__iter__"):
        raise TypeError(f"[assert_proper_iterable] expected a non-string iterable of values, "
                        f"got {type(values).__name__}")


def set_log_device_placement(enabled):
    pass


def enable_check_numerics(stack_height_limit=30, path_length_limit=50):
    pass


def disable_check_numerics():
    pass
