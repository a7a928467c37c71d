"""`nabi.bitwise`: TF's bitwise ops on integer tensors (int8..int64, uint8..uint64).

    tf.bitwise.bitwise_and(tf.constant([0, 5, 3, 14], tf.uint8), tf.constant([5, 0, 7, 11],
                           tf.uint8))          # [0, 0, 3, 10]

Both operands have one dtype (TF raises otherwise; a Python number or NumPy value adapts to the
tensor operand) and broadcast as in TF. Shift amounts are clamped to [0, bits - 1], as TF's
kernels do (a negative shift leaves x unchanged; left shifts wrap in two's complement; right
shifts of signed values are arithmetic). Host tensors run on NumPy; GPU tensors on the kernels
of csrc/cuda/bitwise.cu (cuda_backend.bitwise / bitwise_not: broadcasting on the device, nothing
read back), with the same results. GPU tensors are int32/int64 (8/16-bit and unsigned data is
widened on the way there), so on the GPU the ops see and return those dtypes. No gradients, as
in TF.
"""
import numpy as np

from .framework.device import DeviceArray, backend
from .framework.tensor import Tensor, _wrap
from .ops._common import binary_operands, broadcast_shape

__all__ = ["bitwise_and", "bitwise_or", "bitwise_xor", "invert", "left_shift", "right_shift"]

_INT_NAMES = "int8, int16, int32, int64, uint8, uint16, uint32, uint64"


def _check_int(op, t, what):
    dt = t._data.dtype
    if dt.kind not in "iu":
        raise TypeError(f"[bitwise.{op}] {what} must be an integer tensor ({_INT_NAMES}), got "
                        f"{t.dtype.name} of shape {tuple(t._data.shape)}")


def _host(t):
    a = t._data
    return (a.get(), True) if type(a) is DeviceArray else (a, False)


def _result(arr, on_gpu):
    arr = np.asarray(arr, order="C")     # ascontiguousarray would make a 0-d result 1-D
    return _wrap(DeviceArray.from_numpy(arr) if on_gpu else arr)


# the kernel's op names (cuda_backend.bitwise)
_GPU_OP = {"bitwise_and": "and", "bitwise_or": "or", "bitwise_xor": "xor",
           "left_shift": "left_shift", "right_shift": "right_shift"}


def _binary(op, x, y, fn):
    for v, what in ((x, "x"), (y, "y")):
        if isinstance(v, Tensor):
            _check_int(op, v, what)
    x, y = binary_operands(f"bitwise.{op}", x, y)
    _check_int(op, x, "x")
    broadcast_shape(f"bitwise.{op}", x._data.shape, y._data.shape)
    if type(x._data) is DeviceArray:   # (binary_operands put both on one device)
        return _wrap(DeviceArray(backend().bitwise(_GPU_OP[op], x._data.buf, y._data.buf)))
    (a, gpu), (b, _) = _host(x), _host(y)
    return _result(fn(a, b), gpu)


def bitwise_and(x, y, name=None):
    """Elementwise x & y."""
    return _binary("bitwise_and", x, y, np.bitwise_and)


def bitwise_or(x, y, name=None):
    """Elementwise x | y."""
    return _binary("bitwise_or", x, y, np.bitwise_or)


def bitwise_xor(x, y, name=None):
    """Elementwise x ^ y."""
    return _binary("bitwise_xor", x, y, np.bitwise_xor)


def invert(x, name=None):
    """Elementwise ~x (all bits flipped: 255 - x for uint8, -x - 1 for signed types)."""
    from .framework.tensor import convert_to_tensor
    if not isinstance(x, Tensor):
        x = convert_to_tensor(x)
    _check_int("invert", x, "x")
    if type(x._data) is DeviceArray:
        return _wrap(DeviceArray(backend().bitwise_not(x._data.buf)))
    a, gpu = _host(x)
    return _result(np.invert(a), gpu)


def _shift_amount(a, b):
    """TF clamps the shift to [0, bits - 1] (shifts beyond the width are undefined in C++)."""
    return np.clip(b, 0, a.dtype.itemsize * 8 - 1).astype(a.dtype)


def _left(a, b):
    u = np.dtype(f"u{a.dtype.itemsize}")      # shift the bits unsigned: wraps, no overflow
    return np.left_shift(a.view(u), _shift_amount(a, b).astype(u)).view(a.dtype)


def _right(a, b):
    return np.right_shift(a, _shift_amount(a, b))   # arithmetic for signed types, as in C++


def left_shift(x, y, name=None):
    """Elementwise x << y (y clamped to [0, bits - 1]; bits shifted out are lost)."""
    return _binary("left_shift", x, y, _left)


def right_shift(x, y, name=None):
    """Elementwise x >> y (y clamped to [0, bits - 1]; sign-extending for signed types)."""
    return _binary("right_shift", x, y, _right)


def _install_symbolic():
    """KerasTensor arguments build TFOpLambda layers ('bitwise.bitwise_and', as Keras 2 names
    them) and RaggedTensor arguments dispatch to ragged rules, as for the ops in nabi.ops."""
    from .framework import symbolic
    for op in __all__:
        fn = globals()[op]
        w = symbolic._WRAPPED.get(id(fn)) or symbolic._wrap(fn, "bitwise." + op)
        symbolic._WRAPPED[id(fn)] = w
        globals()[op] = w


_install_symbolic()
