"""A pure-NumPy stand-in for `nabi._C.cuda_backend`: the same function names, arguments and
results, with "device" buffers that live in host memory.

It exists so that everything above the kernels -- `DeviceArray`, the device model of
`Tensor`, op dispatch, Keras placement -- is tested on machines without a GPU (CI has none):
`NABI_EMULATE_CUDA=1` makes `nabi.cuda` report one emulated device served by this module.
The kernels themselves are tested against NumPy references on a real GPU
(tests/test_cuda_*.py run each kernel test on both this module and the real backend, so the
two are held to one specification).

Semantics follow the specification of each entry in csrc/cuda/*launchers.h and
csrc/bindings/bind_cuda*.cpp. The nn kernels (conv2d, pooling, batch norm, RNNs, dense, the
optimizers) run nabi's CPU kernels, whose signatures the CUDA entry points mirror.
"""
import math
import weakref

import numpy as np

from .. import _C

_DTYPES = {"float32": np.float32, "float64": np.float64, "int32": np.int32, "int64": np.int64,
           "bool": np.bool_, "complex64": np.complex64, "complex128": np.complex128}
built_with_cuda = True
_live = {"bytes": 0}
_tf32 = {"on": False}


def _dtype(op, name):
    try:
        return np.dtype(_DTYPES[str(name)])
    except KeyError:
        raise ValueError(f"[{op}] unknown dtype '{name}'") from None


class _Storage:
    __slots__ = ("arr", "__weakref__")

    def __init__(self, nbytes):
        self.arr = np.empty(max(int(nbytes), 0), np.uint8)
        _live["bytes"] += self.arr.nbytes
        weakref.finalize(self, _release, self.arr.nbytes)


def _release(n):
    _live["bytes"] -= n


class DeviceBuffer:
    """A dtype and C-contiguous shape over an emulated device allocation. Like the CUDA one
    (a pybind11 class) it cannot be pickled, nor copied by the copy module."""

    def __reduce_ex__(self, protocol):
        raise TypeError("cannot pickle 'DeviceBuffer' object")

    __slots__ = ("_storage", "_offset", "_shape", "_dtype", "__weakref__")

    def __init__(self, storage, offset, shape, dtype):
        self._storage, self._offset = storage, int(offset)
        self._shape, self._dtype = tuple(int(s) for s in shape), np.dtype(dtype)

    @staticmethod
    def _new(shape, dtype):
        shape = tuple(int(s) for s in shape)
        if any(s < 0 for s in shape):
            raise ValueError("[DeviceBuffer] negative dimension in shape")
        dtype = np.dtype(dtype)
        return DeviceBuffer(_Storage(math.prod(shape) * dtype.itemsize), 0, shape, dtype)

    @staticmethod
    def from_numpy(arr):
        arr = np.asarray(arr)
        if arr.dtype == np.dtype(np.float16) or arr.dtype.name not in _DTYPES:
            raise TypeError(f"[DeviceBuffer] unsupported dtype {arr.dtype.name} "
                            "(float32, float64, int32, int64, bool, complex64, complex128)")
        b = DeviceBuffer._new(arr.shape, arr.dtype)
        b._arr()[...] = arr
        return b

    @staticmethod
    def empty(shape, dtype="float32"):
        return DeviceBuffer._new(shape, _dtype("DeviceBuffer", dtype))

    @staticmethod
    def zeros(shape, dtype="float32"):
        b = DeviceBuffer._new(shape, _dtype("DeviceBuffer", dtype))
        b._arr()[...] = 0
        return b

    def _arr(self):
        """The live array (a view of the storage: writes go to the buffer)."""
        n = math.prod(self._shape) * self._dtype.itemsize
        raw = self._storage.arr[self._offset:self._offset + n]
        return raw.view(self._dtype).reshape(self._shape)

    def numpy(self):
        return self._arr().copy()

    def view(self, shape, offset=0):
        shape = tuple(int(s) for s in shape)
        off = self._offset + int(offset) * self._dtype.itemsize
        if offset < 0 or off + math.prod(shape) * self._dtype.itemsize > self._storage.arr.nbytes:
            raise ValueError(f"[DeviceBuffer.view] a view of shape {list(shape)} at element offset "
                             f"{offset} leaves a buffer of {self._storage.arr.nbytes} bytes")
        return DeviceBuffer(self._storage, off, shape, self._dtype)

    shape = property(lambda self: self._shape)
    dtype = property(lambda self: self._dtype.name)
    nbytes = property(lambda self: math.prod(self._shape) * self._dtype.itemsize)
    size = property(lambda self: math.prod(self._shape))
    ndim = property(lambda self: len(self._shape))

    def __repr__(self):
        return f"<DeviceBuffer (emulated) shape={list(self._shape)} dtype={self.dtype}>"


def _a(b, op="op", name="x"):
    if not isinstance(b, DeviceBuffer):
        raise TypeError(f"[{op}] {name} must be a DeviceBuffer, got {type(b).__name__}")
    return b._arr()


def _out(arr):
    return DeviceBuffer.from_numpy(np.asarray(arr))  # (from_numpy copies; keeps 0-d as 0-d)


def _wrap_out(r):
    if isinstance(r, np.ndarray):
        return _out(r)
    if isinstance(r, tuple):
        return tuple(_wrap_out(v) for v in r)
    if isinstance(r, list):
        return [_wrap_out(v) for v in r]
    return r


def _unwrap_in(v, name="kernel"):
    if isinstance(v, DeviceBuffer):
        return v._arr()
    if isinstance(v, np.ndarray) and v.ndim:
        # The CUDA binding takes DeviceBuffers only (pybind11 rejects a NumPy array there):
        # the emulator must not be more lenient than the GPU it stands in for.
        raise TypeError(f"[{name}] got a host NumPy array of shape {v.shape} where the CUDA "
                        "kernel takes a DeviceBuffer")
    if isinstance(v, list):
        return [_unwrap_in(e, name) for e in v]
    if isinstance(v, tuple):
        return tuple(_unwrap_in(e, name) for e in v)
    return v


def _mirror(name):
    """The CPU kernel of the same name on the buffers' live arrays (in-place updates land in the
    buffers); array results become new buffers."""
    fn = getattr(_C, name)

    def call(*args, **kwargs):
        r = fn(*[_unwrap_in(a, name) for a in args],
               **{k: _unwrap_in(v, name) for k, v in kwargs.items()})
        return _wrap_out(r)
    call.__name__ = name
    return call


# ---- runtime -------------------------------------------------------------------------------
def is_available():
    return True


def device_count():
    return 1


def device_name(index=0):
    return "Emulated CUDA device (NumPy)"


def unavailable_reason():
    return ""


def synchronize():
    pass


def memory_allocated():
    return _live["bytes"]


def memory_reserved():
    return _live["bytes"]


def empty_cache():
    pass


def set_tf32_enabled(enabled):
    _tf32["on"] = bool(enabled)


def tf32_enabled():
    return _tf32["on"]


# ---- existing kernel entries (bind_cuda.cpp) ---------------------------------------------------
def matmul(a, b, transpose_a=False, transpose_b=False):
    x, y = _a(a, "matmul", "a"), _a(b, "matmul", "b")
    if x.dtype != y.dtype:
        raise TypeError(f"[matmul] a and b dtypes differ: {x.dtype} vs {y.dtype}")
    if x.ndim != y.ndim or x.ndim not in (2, 3):
        raise ValueError(f"[matmul] a and b must both be 2-D or both 3-D, got shapes "
                         f"{list(x.shape)} and {list(y.shape)}")
    if transpose_a:
        x = np.swapaxes(x, -1, -2)
    if transpose_b:
        y = np.swapaxes(y, -1, -2)
    if x.shape[-1] != y.shape[-2] or (x.ndim == 3 and x.shape[0] != y.shape[0]):
        raise ValueError(f"[matmul] inner dimensions differ: {list(x.shape)} @ {list(y.shape)}")
    if _tf32["on"] and x.dtype == np.float32:  # the tensor-core path: inputs rounded to TF32
        return _out(np.matmul(_to_tf32(x).astype(np.float64),
                              _to_tf32(y).astype(np.float64)).astype(np.float32))
    return _out(np.matmul(x, y))


def _to_tf32(a):
    """float32 -> TF32 (10 mantissa bits), rounded to nearest with ties away from zero, as
    cvt.rna.tf32.f32 does; the result is stored in a float32."""
    u = np.ascontiguousarray(a, np.float32).view(np.uint32)
    return ((u + np.uint32(0x1000)) & np.uint32(0xFFFFE000)).view(np.float32)


def gemm_into(a, b, out, transpose_a=False, transpose_b=False, alpha=1.0, beta=0.0):
    r = matmul(a, b, transpose_a, transpose_b)._arr()
    o = _a(out, "gemm_into", "out")
    if o.shape != r.shape:
        raise ValueError(f"[gemm_into] out has shape {list(o.shape)}, expected {list(r.shape)}")
    o[...] = alpha * r + (beta * o if beta != 0 else 0)
    return out


for _name in ("activation_forward", "activation_backward", "bias_add_forward",
              "bias_add_backward", "softmax_forward", "softmax_backward", "log_softmax_forward",
              "log_softmax_backward", "softmax_xent_forward", "sparse_softmax_xent_forward",
              "sigmoid_xent_forward", "sgd_update", "adam_update", "adamw_update",
              "rmsprop_update", "adagrad_update", "adadelta_update", "adamax_update",
              "nadam_update", "conv2d_forward", "conv2d_backward", "conv2d_backward_data",
              "max_pool2d_forward",
              "max_pool2d_backward", "avg_pool2d_forward", "avg_pool2d_backward",
              "batch_norm_forward_train", "batch_norm_forward_infer", "batch_norm_backward",
              "lstm_forward", "lstm_backward", "gru_forward", "gru_backward",
              "simple_rnn_forward", "simple_rnn_backward", "dense_forward", "dense_backward"):
    globals()[_name] = _mirror(_name)
for _name in ("depthwise_conv2d_forward", "depthwise_conv2d_backward_data",
              "depthwise_conv2d_backward_filter"):
    globals()[_name] = _mirror(_name)


def dense_keeps_z(activation, alpha=0.0):
    return _C.dense_keeps_z(activation, alpha)


def reduce_sum(x, axis=-1):
    return _out(_a(x).sum(axis=axis, dtype=np.float64).astype(_a(x).dtype))


def reduce_mean(x, axis=-1):
    return _out(_a(x).mean(axis=axis, dtype=np.float64).astype(_a(x).dtype))


def reduce_max(x, axis=-1):
    return _out(_a(x).max(axis=axis))


# ---- Philox 4x32-10 (the stream of csrc/cuda/dropout.cu) --------------------------------------
_M0, _M1, _W0, _W1 = 0xD2511F53, 0xCD9E8D57, 0x9E3779B9, 0xBB67AE85
_MASK = np.uint64(0xFFFFFFFF)


def _philox(c0, c1, c2, c3, k0, k1):
    """Vectorised over uint64 arrays holding 32-bit words."""
    c = [np.asarray(v, np.uint64) & _MASK for v in (c0, c1, c2, c3)]
    k0, k1 = np.uint64(k0) & _MASK, np.uint64(k1) & _MASK
    for r in range(10):
        if r:
            k0, k1 = (k0 + np.uint64(_W0)) & _MASK, (k1 + np.uint64(_W1)) & _MASK
        p0, p1 = np.uint64(_M0) * c[0], np.uint64(_M1) * c[2]
        hi0, lo0, hi1, lo1 = p0 >> np.uint64(32), p0 & _MASK, p1 >> np.uint64(32), p1 & _MASK
        c = [hi1 ^ c[1] ^ k0, lo1, hi0 ^ c[3] ^ k1, lo0]
    return c


def _philox_words(n, seed, offset):
    q = np.arange((n + 3) // 4, dtype=np.uint64)
    seed, offset = int(seed), int(offset)
    w = _philox(q & _MASK, q >> np.uint64(32), offset & 0xFFFFFFFF, offset >> 32,
                seed & 0xFFFFFFFF, (seed >> 32) & 0xFFFFFFFF)
    return np.stack(w, axis=1).reshape(-1)[:n]


def _philox4x32_10(ctr, key):
    return [int(w[0]) for w in _philox(*[[c] for c in ctr], *key)]


def _unit(n, seed, offset):
    return ((_philox_words(n, seed, offset) >> np.uint64(8)).astype(np.float32)
            * np.float32(1.0 / 16777216.0))


def _dropout(op, x, rate, seed, offset):
    a = _a(x, op)
    if a.dtype.kind != "f":
        raise TypeError(f"[{op}] x must be float32 or float64, got {a.dtype.name}")
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"[{op}] rate must be in [0, 1), got {rate}")
    keep = _unit(a.size, seed, offset).reshape(a.shape) >= np.float32(rate)
    scale = a.dtype.type(1.0 / (1.0 - rate))
    return _out(np.where(keep, a * scale, a.dtype.type(0)))


def dropout(x, rate, seed, offset=0):
    return _dropout("dropout", x, rate, seed, offset)


def dropout_backward(grad, rate, seed, offset=0):
    return _dropout("dropout_backward", grad, rate, seed, offset)


def random_uniform(shape, seed, offset=0, dtype="float32"):
    d = _dtype("random_uniform", dtype)
    n = math.prod(shape)
    return _out(_unit(n, seed, offset).astype(d).reshape(shape))


def random_normal(shape, seed, offset=0, dtype="float32"):
    """Box-Muller on pairs of Philox words: u1 in (0, 1], u2 in [0, 1)."""
    d = _dtype("random_normal", dtype)
    if d.kind != "f":
        raise TypeError(f"[random_normal] dtype must be float32 or float64, got {d.name}")
    _check_shape("random_normal", shape)
    n = math.prod(shape)
    m = (n + 1) // 2
    w = _philox_words(2 * m, seed, offset).reshape(m, 2)
    u1 = ((w[:, 0] >> np.uint64(8)).astype(np.float64) + 1.0) / 16777216.0
    u2 = (w[:, 1] >> np.uint64(8)).astype(np.float64) / 16777216.0
    r = np.sqrt(-2.0 * np.log(u1))
    z = np.stack([r * np.cos(2 * np.pi * u2), r * np.sin(2 * np.pi * u2)], axis=1).reshape(-1)
    return _out(z[:n].astype(d).reshape(shape))


# ---- array primitives (csrc/cuda/array_launchers.h) -------------------------------------------
def _softplus(a):
    return np.log1p(np.exp(-np.abs(a))) + np.maximum(a, 0)


def _sigmoid(a):
    with np.errstate(over="ignore"):
        return (1.0 / (1.0 + np.exp(-a))).astype(a.dtype)


_UNARY_NUM = {"neg": np.negative, "abs": np.abs, "sign": np.sign, "square": np.square}
_UNARY_FLOAT = {
    "exp": np.exp, "expm1": np.expm1, "log": np.log, "log1p": np.log1p, "sqrt": np.sqrt,
    "rsqrt": lambda a: 1 / np.sqrt(a), "reciprocal": lambda a: 1 / a, "sin": np.sin,
    "cos": np.cos, "tan": np.tan, "asin": np.arcsin, "acos": np.arccos, "atan": np.arctan,
    "sinh": np.sinh, "cosh": np.cosh, "tanh": np.tanh, "asinh": np.arcsinh,
    "acosh": np.arccosh, "atanh": np.arctanh, "floor": np.floor, "ceil": np.ceil,
    "rint": np.rint, "sigmoid": _sigmoid, "softplus": _softplus}
_UNARY_PRED = {"isnan": np.isnan, "isinf": np.isinf, "isfinite": np.isfinite}


def unary(op, x):
    a = _a(x, "unary")
    _check_nd("unary", a.shape)
    k = a.dtype.kind
    with np.errstate(all="ignore"):
        if op in _UNARY_NUM and k in "fiu":
            return _out(_UNARY_NUM[op](a).astype(a.dtype))
        if op in _UNARY_FLOAT and k == "f":
            return _out(_UNARY_FLOAT[op](a).astype(a.dtype))
        if op in _UNARY_PRED and k == "f":
            return _out(_UNARY_PRED[op](a))
        if op == "logical_not" and k == "b":
            return _out(~a)
    if op not in _UNARY_NUM and op not in _UNARY_FLOAT and op not in _UNARY_PRED \
            and op != "logical_not":
        raise ValueError(f"[unary] unknown op '{op}'")
    raise TypeError(f"[unary] op '{op}' does not take {a.dtype.name}")


def special(op, x):
    """The special functions of csrc/cuda/special.cu (lgamma, digamma, trigamma, erf, erfc,
    erfinv, ndtri, bessel_*): computed in float64 by nabi.ops.special_ops' NumPy versions (the
    CPU path), rounded to x's dtype."""
    from ..ops import special_ops
    a = _a(x, "special")
    if op not in special_ops.OPS:
        raise ValueError(f"[special] unknown op '{op}' (one of {', '.join(special_ops.OPS)})")
    if a.dtype.kind != "f":
        raise TypeError(f"[special] '{op}' needs x of float32 or float64, got {a.dtype.name} "
                        f"of shape {list(a.shape)}")
    return _out(special_ops.special_np(op, a))


def _int_pow(a, b):
    out = np.ones(np.broadcast_shapes(a.shape, b.shape), a.dtype)
    a, b = np.broadcast_to(a, out.shape), np.broadcast_to(b, out.shape)
    pos = b >= 0
    with np.errstate(all="ignore"):
        out[pos] = np.power(a[pos], b[pos])
    neg = ~pos
    out[neg] = np.where(a[neg] == 1, 1, np.where(a[neg] == -1, np.where(b[neg] % 2 == 0, 1, -1),
                                                  0))
    return out


def _int_floordiv(a, b):
    with np.errstate(all="ignore"):
        return np.where(b == 0, 0, np.floor_divide(a, np.where(b == 0, 1, b)))


def _int_mod(a, b):
    with np.errstate(all="ignore"):
        return np.where(b == 0, 0, np.mod(a, np.where(b == 0, 1, b)))


_BIN_ARITH = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "maximum": np.maximum,
              "minimum": np.minimum}
_BIN_CMP = {"eq": np.equal, "ne": np.not_equal, "lt": np.less, "le": np.less_equal,
            "gt": np.greater, "ge": np.greater_equal}
_BIN_LOGIC = {"logical_and": np.logical_and, "logical_or": np.logical_or,
              "logical_xor": np.logical_xor}
_BIN_OPS = set(_BIN_ARITH) | set(_BIN_CMP) | set(_BIN_LOGIC) | {
    "div", "floordiv", "mod", "pow", "atan2"}


def _check_nd(op, *shapes):
    for s in shapes:
        if len(s) > 8:
            raise ValueError(f"[{op}] at most 8 dimensions are supported, got shape {list(s)}")


def _bshape(op, *shapes):
    try:
        return np.broadcast_shapes(*shapes)
    except ValueError:
        raise ValueError(f"[{op}] shapes " + " and ".join(str(tuple(s)) for s in shapes)
                         + " are not broadcastable") from None


def binary(op, a, b):
    x, y = _a(a, "binary", "a"), _a(b, "binary", "b")
    if op not in _BIN_OPS:
        raise ValueError(f"[binary] unknown op '{op}'")
    if x.dtype != y.dtype:
        raise TypeError(f"[binary] a and b dtypes differ: {x.dtype.name} {list(x.shape)} vs "
                        f"{y.dtype.name} {list(y.shape)}")
    _check_nd("binary", x.shape, y.shape)
    _bshape("binary", x.shape, y.shape)
    k = x.dtype.kind
    if k == "c":
        raise TypeError(f"[binary] '{op}' does not take {x.dtype.name} (complex ops: "
                        "complex_binary)")
    with np.errstate(all="ignore"):
        if op in _BIN_CMP:
            return _out(_BIN_CMP[op](x, y))
        if op in _BIN_LOGIC:
            if k != "b":
                raise TypeError(f"[binary] op '{op}' takes bool, got {x.dtype.name}")
            return _out(_BIN_LOGIC[op](x, y))
        if k == "b":
            raise TypeError(f"[binary] op '{op}' does not take bool")
        if op in _BIN_ARITH:
            return _out(_BIN_ARITH[op](x, y).astype(x.dtype))
        if op in ("div", "atan2"):
            if k != "f":
                raise TypeError(f"[binary] op '{op}' takes float32/float64, got {x.dtype.name}")
            return _out((np.true_divide if op == "div" else np.arctan2)(x, y).astype(x.dtype))
        if op == "floordiv":
            return _out((np.floor_divide(x, y) if k == "f" else _int_floordiv(x, y))
                        .astype(x.dtype))
        if op == "mod":
            return _out((np.mod(x, y) if k == "f" else _int_mod(x, y)).astype(x.dtype))
        if op == "pow":
            return _out((np.power(x, y) if k == "f" else _int_pow(x, y)).astype(x.dtype))
    raise AssertionError(op)


def where(cond, a, b):
    c, x, y = _a(cond, "where", "cond"), _a(a, "where", "a"), _a(b, "where", "b")
    if c.dtype != np.bool_:
        raise TypeError(f"[where] cond must be bool, got {c.dtype.name}")
    if x.dtype != y.dtype:
        raise TypeError(f"[where] a and b dtypes differ: {x.dtype.name} vs {y.dtype.name}")
    _check_nd("where", c.shape, x.shape, y.shape)
    _bshape("where", c.shape, x.shape, y.shape)
    return _out(np.where(c, x, y))


def cast(x, dtype):
    a = _a(x, "cast")
    d = _dtype("cast", dtype)
    with np.errstate(all="ignore"):
        return _out((np.real(a) if a.dtype.kind == "c" and d.kind != "c" else a).astype(d))


def _view_bounds(op, size, shape, strides, offset):
    shape, strides = [int(s) for s in shape], [int(s) for s in strides]
    if len(shape) != len(strides):
        raise ValueError(f"[{op}] shape {shape} and strides {strides} differ in length")
    _check_nd(op, shape)
    if any(s < 0 for s in shape):
        raise ValueError(f"[{op}] negative dimension in shape {shape}")
    if math.prod(shape) == 0:
        return shape, strides
    lo = offset + sum((n - 1) * s for n, s in zip(shape, strides) if s < 0)
    hi = offset + sum((n - 1) * s for n, s in zip(shape, strides) if s > 0)
    if lo < 0 or hi >= size:
        bad = lo if lo < 0 else hi
        raise ValueError(f"[{op}] the view (shape {shape}, strides {strides}, offset {offset}) "
                         f"reaches element {bad} of a buffer of {size}")
    return shape, strides


def _flat_index(shape, strides, offset):
    idx = np.full(shape, offset, np.int64)
    for d, (n, s) in enumerate(zip(shape, strides)):
        r = [1] * len(shape)
        r[d] = n
        idx = idx + (np.arange(n, dtype=np.int64) * s).reshape(r)
    return idx


def strided_copy(x, shape, strides, offset):
    a = _a(x, "strided_copy")
    shape, strides = _view_bounds("strided_copy", a.size, shape, strides, int(offset))
    if math.prod(shape) == 0:
        return DeviceBuffer.empty(shape, a.dtype.name)
    return _out(a.reshape(-1)[_flat_index(shape, strides, int(offset))])


def strided_assign(dst, shape, strides, offset, src):
    d, s = _a(dst, "strided_assign", "dst"), _a(src, "strided_assign", "src")
    if d.dtype != s.dtype:
        raise TypeError(f"[strided_assign] dst and src dtypes differ: {d.dtype.name} vs "
                        f"{s.dtype.name}")
    shape, strides = _view_bounds("strided_assign", d.size, shape, strides, int(offset))
    if any(st == 0 and n > 1 for n, st in zip(shape, strides)):
        raise ValueError(f"[strided_assign] the destination (shape {shape}, strides {strides}) "
                         "writes some elements more than once")
    _bshape("strided_assign", s.shape, shape)
    if tuple(np.broadcast_shapes(s.shape, shape)) != tuple(shape):
        raise ValueError(f"[strided_assign] src of shape {list(s.shape)} does not broadcast to "
                         f"{shape}")
    if math.prod(shape) == 0:
        return None
    d.reshape(-1)[_flat_index(shape, strides, int(offset))] = np.broadcast_to(s, shape)
    return None


def _axes(op, axes, ndim):
    out = []
    for ax in axes:
        ax = int(ax)
        if not -ndim <= ax < max(ndim, 1) or (ndim == 0):
            raise ValueError(f"[{op}] axis {ax} is out of range for rank {ndim}")
        out.append(ax % ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"[{op}] repeated axis in {list(axes)}")
    return tuple(out)


def reduce(op, x, axes):
    a = _a(x, "reduce")
    ax = _axes("reduce", axes, a.ndim)
    k = a.dtype.kind
    if op in ("any", "all"):
        if k != "b":
            raise TypeError(f"[reduce] op '{op}' takes bool, got {a.dtype.name}")
        return _out(np.asarray((np.any if op == "any" else np.all)(a, axis=ax)))
    if op not in ("sum", "mean", "prod", "max", "min"):
        raise ValueError(f"[reduce] unknown op '{op}'")
    if k == "b":
        raise TypeError(f"[reduce] op '{op}' does not take bool")
    if op in ("max", "min"):
        if ax and any(a.shape[i] == 0 for i in ax):
            raise ValueError(f"[reduce] {op} of an empty axis (shape {list(a.shape)})")
        return _out(np.asarray((np.max if op == "max" else np.min)(a, axis=ax)))
    acc = np.float64 if k == "f" else np.int64
    with np.errstate(all="ignore"):
        if op == "mean":
            r = np.mean(a, axis=ax, dtype=np.float64)
            return _out(np.asarray(r).astype(a.dtype if k == "f" else np.float64))
        r = (np.sum if op == "sum" else np.prod)(a, axis=ax, dtype=acc)
    return _out(np.asarray(r).astype(a.dtype))


def arg_reduce(op, x, axis):
    a = _a(x, "arg_reduce")
    if op not in ("argmax", "argmin"):
        raise ValueError(f"[arg_reduce] unknown op '{op}'")
    (ax,) = _axes("arg_reduce", [axis], a.ndim)
    if a.shape[ax] == 0:
        raise ValueError(f"[arg_reduce] {op} of an empty axis (shape {list(a.shape)})")
    return _out(np.asarray((np.argmax if op == "argmax" else np.argmin)(a, axis=ax))
                .astype(np.int64))


def argmax_match_count(y_pred, y_true, sparse, total):
    op = "argmax_match_count"
    p, l, t = _a(y_pred, op, "y_pred"), _a(y_true, op, "y_true"), _a(total, op, "total")
    if p.dtype.kind != "f":
        raise TypeError(f"[{op}] y_pred must be float32 or float64, got {p.dtype.name}")
    if t.dtype != np.float64 or t.size != 1:
        raise ValueError(f"[{op}] total must be one float64 element, got {t.dtype.name} of "
                         f"shape {tuple(t.shape)}")
    if p.ndim < 1 or p.shape[-1] == 0:
        raise ValueError(f"[{op}] y_pred must have a non-empty last (class) axis, got shape "
                         f"{tuple(p.shape)}")
    pred = np.argmax(p.reshape(-1, p.shape[-1]), axis=-1)
    if sparse:
        if l.size != pred.size:
            raise ValueError(f"[{op}] sparse labels of shape {tuple(l.shape)} do not give one per "
                             f"row of y_pred of shape {tuple(p.shape)}")
        hits = l.reshape(-1).astype(np.float64) == pred
    else:
        if l.shape != p.shape:
            raise ValueError(f"[{op}] y_true of shape {tuple(l.shape)} does not match y_pred of "
                             f"shape {tuple(p.shape)}")
        if l.dtype != p.dtype:
            raise TypeError(f"[{op}] one-hot y_true must have y_pred's dtype {p.dtype.name}, "
                            f"got {l.dtype.name}")
        hits = np.argmax(l.reshape(-1, l.shape[-1]), axis=-1) == pred
    t.reshape(-1)[0] += float(np.count_nonzero(hits))
    return None


def _wrap_indices(op, idx, n, axis):
    i = idx.astype(np.int64)
    bad = (i < -n) | (i >= n)
    if bad.any():
        v = int(i[bad].reshape(-1)[0])
        raise IndexError(f"[{op}] index {v} is out of range for axis {axis} of size {n}")
    return np.where(i < 0, i + n, i)


def _check_index_dtype(op, idx):
    if idx.dtype not in (np.int32, np.int64):
        raise TypeError(f"[{op}] indices must be int32 or int64, got {idx.dtype.name}")


def take(x, indices, axis, checked=False):
    a, i = _a(x, "take"), _a(indices, "take", "indices")
    _check_index_dtype("take", i)
    (ax,) = _axes("take", [axis], a.ndim)
    # checked: the caller bounded the indices to [0, n) (the real binding reads no flag back);
    # as the kernel, an index outside [-n, n) then gathers 0 instead of raising
    if not checked:
        return _out(np.take(a, _wrap_indices("take", i, a.shape[ax], ax), axis=ax))
    n = a.shape[ax]
    i = i.astype(np.int64)
    i = np.where(i < 0, i + n, i)
    ok = (i >= 0) & (i < n)
    y = np.zeros(a.shape[:ax] + i.shape + a.shape[ax + 1:], a.dtype)
    if n:
        y[...] = np.take(a, np.where(ok, i, 0), axis=ax)
        y *= ok.reshape((1,) * ax + i.shape + (1,) * (a.ndim - ax - 1)).astype(a.dtype)
    return _out(y)


def scatter_add(updates, indices, axis, size, checked=False):
    u, i = _a(updates, "scatter_add", "updates"), _a(indices, "scatter_add", "indices")
    _check_index_dtype("scatter_add", i)
    if u.dtype.kind != "f":
        raise TypeError(f"[scatter_add] updates must be float32 or float64, got {u.dtype.name}")
    axis = int(axis)
    if not 0 <= axis <= u.ndim - i.ndim or u.shape[axis:axis + i.ndim] != i.shape:
        raise ValueError(f"[scatter_add] updates of shape {list(u.shape)} do not hold indices of "
                         f"shape {list(i.shape)} at axis {axis}")
    i = i.astype(np.int64) if checked else _wrap_indices("scatter_add", i, int(size), axis)
    pre, post = u.shape[:axis], u.shape[axis + i.ndim:]
    out = np.zeros(pre + (int(size),) + post, u.dtype)
    uu = u.reshape(pre + (i.size,) + post)
    i = i.reshape(-1)
    if checked:   # as the kernel: an index outside [-size, size) adds nothing
        i = np.where(i < 0, i + int(size), i)
        ok = (i >= 0) & (i < int(size))
        i, uu = i[ok], np.compress(ok, uu, axis=axis)
    np.add.at(out, (slice(None),) * axis + (i,), uu)
    return _out(out)


def one_hot(indices, depth, on_value=1.0, off_value=0.0, dtype="float32"):
    i = _a(indices, "one_hot", "indices")
    _check_index_dtype("one_hot", i)
    d = _dtype("one_hot", dtype)
    if depth < 0:
        raise ValueError(f"[one_hot] depth must be >= 0, got {depth}")
    hot = i[..., None].astype(np.int64) == np.arange(int(depth))
    return _out(np.where(hot, on_value, off_value).astype(d))


def sort(x, descending=False, k=-1, index_dtype="int64"):
    """(values, indices) of x sorted along its last axis, the first k (-1: all) of each row;
    ties in ascending index order in both directions, NaN largest (csrc/cuda/sort.cu)."""
    a = _a(x, "sort")
    if a.dtype == np.bool_:
        raise TypeError(f"[sort] x must be float32, float64, int32 or int64, got bool of shape "
                        f"{tuple(a.shape)}")
    if a.ndim < 1:
        raise ValueError("[sort] x must have rank >= 1, got shape ()")
    it = _dtype("sort", index_dtype)
    if it not in (np.int32, np.int64):
        raise TypeError(f"[sort] index_dtype must be int32 or int64, got {index_dtype}")
    n = a.shape[-1]
    k = n if int(k) == -1 else int(k)
    if not 0 <= k <= n:
        raise ValueError(f"[sort] k={k} must be in [0, {n}] (the last axis of x of shape "
                         f"{tuple(a.shape)}) or -1")
    # descending: a stable ascending sort of the reversed row, reversed back (NaN first, ties
    # in ascending index order; no negation, which would overflow the lowest integer)
    if descending:
        order = (n - 1 - np.argsort(a[..., ::-1], axis=-1, kind="stable"))[..., ::-1]
    else:
        order = np.argsort(a, axis=-1, kind="stable")
    order = np.ascontiguousarray(order[..., :k])
    return _out(np.take_along_axis(a, order, axis=-1)), _out(order.astype(it))


def _check_shape(op, shape):
    if any(int(s) < 0 for s in shape):
        raise ValueError(f"[{op}] negative dimension in shape {list(shape)}")


def fill(shape, value, dtype="float32"):
    d = _dtype("fill", dtype)
    _check_shape("fill", shape)
    return _out(np.full(tuple(shape), value != 0 if d == np.bool_ else value, d))


def arange(start, step, n, dtype="float32"):
    d = _dtype("arange", dtype)
    if int(n) < 0:
        raise ValueError(f"[arange] the element count must be >= 0, got {n}")
    return _out((start + np.arange(int(n), dtype=np.float64) * step).astype(d))


def bincount(x, length, weights=None, per_row=False, binary=False, dtype="int32"):
    """Counts (weight sums with weights, 0/1 with binary) of x's values in [0, length); per_row:
    one row of counts per row of a 2-D x (csrc/cuda/bincount.cu)."""
    a = _a(x, "bincount")
    if a.dtype not in (np.int32, np.int64):
        raise TypeError(f"[bincount] x must be int32 or int64, got {a.dtype} of shape "
                        f"{tuple(a.shape)}")
    length = int(length)
    if length < 0:
        raise ValueError(f"[bincount] length must be >= 0, got {length}")
    if per_row and a.ndim != 2:
        raise ValueError(f"[bincount] per_row needs a 2-D x, got shape {tuple(a.shape)}")
    out = _dtype("bincount", dtype)
    w = None
    if weights is not None:
        w = _a(weights, "bincount", "weights")
        if w.shape != a.shape:
            raise ValueError(f"[bincount] x and weights shapes differ: {list(a.shape)} vs "
                             f"{list(w.shape)}")
        out = w.dtype
    if out == np.bool_:
        raise TypeError("[bincount] the result must be float32, float64, int32 or int64, got "
                        "bool")
    a2 = a if per_row else a.reshape(1, a.size)
    w2 = None if w is None else w.reshape(a2.shape)
    y = np.zeros((a2.shape[0], length), out)
    for r in range(a2.shape[0]):
        keep = (a2[r] >= 0) & (a2[r] < length)
        v = a2[r][keep].astype(np.int64)
        if binary:
            y[r, v] = 1
        else:
            np.add.at(y[r], v, 1 if w2 is None else w2[r][keep])
    return _out(y if per_row else y.reshape(length))


def searchsorted(sorted_sequence, values, right=False, out_dtype="int32"):
    """Per value, its insertion index into its row of sorted_sequence (NumPy's order, NaN
    largest; csrc/cuda/searchsorted.cu)."""
    s = _a(sorted_sequence, "searchsorted", "sorted_sequence")
    v = _a(values, "searchsorted", "values")
    if s.dtype == np.bool_:
        raise TypeError(f"[searchsorted] sorted_sequence must be float32, float64, int32 or "
                        f"int64, got bool of shape {tuple(s.shape)}")
    if s.dtype != v.dtype:
        raise TypeError(f"[searchsorted] sorted_sequence and values dtypes differ: {s.dtype} vs "
                        f"{v.dtype}")
    if s.ndim < 1 or v.ndim < 1 or s.shape[:-1] != v.shape[:-1]:
        raise ValueError(f"[searchsorted] sorted_sequence {list(s.shape)} and values "
                         f"{list(v.shape)} must have the same leading axes (rank >= 1)")
    od = _dtype("searchsorted", out_dtype)
    if od not in (np.int32, np.int64):
        raise TypeError(f"[searchsorted] out_dtype must be int32 or int64, got {out_dtype}")
    rows = math.prod(v.shape[:-1])
    s2, v2 = s.reshape(rows, s.shape[-1]), v.reshape(rows, v.shape[-1])
    side = "right" if right else "left"
    r = np.zeros(v2.shape, od)
    for i in range(s2.shape[0]):
        r[i] = np.searchsorted(s2[i], v2[i], side=side)
    return _out(r.reshape(v.shape))


def unique(x, index_dtype="int32", with_counts=False):
    """(y, idx[, counts]) of a 1-D x: distinct values in order of first occurrence, each
    element's index into y, occurrence counts; every NaN distinct (csrc/cuda/unique.cu)."""
    a = _a(x, "unique")
    if a.dtype == np.bool_:
        raise TypeError(f"[unique] x must be float32, float64, int32 or int64, got bool of "
                        f"shape {tuple(a.shape)}")
    if a.ndim != 1:
        raise ValueError(f"[unique] x must be 1-D, got shape {list(a.shape)}")
    it = _dtype("unique", index_dtype)
    if it not in (np.int32, np.int64):
        raise TypeError(f"[unique] index_dtype must be int32 or int64, got {index_dtype}")
    order = np.argsort(a, kind="stable")
    sv = a[order]
    start = np.ones(a.size, bool)
    start[1:] = ~(sv[1:] == sv[:-1])  # NaN != NaN: each NaN its own value
    run = np.cumsum(start) - 1
    firsts = order[start]                          # first occurrence of each run
    rank = np.empty(firsts.size, np.int64)
    rank[np.argsort(firsts, kind="stable")] = np.arange(firsts.size)
    y = np.empty(firsts.size, a.dtype)
    y[rank] = sv[start]
    idx = np.empty(a.size, it)
    idx[order] = rank[run]
    out = (_out(y), _out(idx))
    if with_counts:
        c = np.zeros(firsts.size, it)
        c[rank] = np.diff(np.append(np.flatnonzero(start), a.size))
        out += (_out(c),)
    return out


def segment_minmax(x, ids, num, is_max):
    """(num, ...) per-segment max / min of x's rows; ids outside [0, num) dropped; empty
    segments hold TF's lowest / highest value; NaN wins (csrc/cuda/segment_reduce.cu)."""
    a = _a(x, "segment_minmax")
    i = _a(ids, "segment_minmax", "ids")
    if a.dtype == np.bool_:
        raise TypeError(f"[segment_minmax] x must be float32, float64, int32 or int64, got bool "
                        f"of shape {tuple(a.shape)}")
    _check_index_dtype("segment_minmax", i)
    if a.ndim < 1:
        raise ValueError("[segment_minmax] x must have rank >= 1, got shape ()")
    if i.ndim != 1 or i.shape[0] != a.shape[0]:
        raise ValueError(f"[segment_minmax] ids must be 1-D with one id per row of x "
                         f"{list(a.shape)}, got shape {list(i.shape)}")
    if int(num) < 0:
        raise ValueError(f"[segment_minmax] num must be >= 0, got {num}")
    num = int(num)
    fold = np.maximum if is_max else np.minimum
    if a.dtype.kind == "f":
        init = -np.inf if is_max else np.inf
    else:
        init = np.iinfo(a.dtype).min if is_max else np.iinfo(a.dtype).max
    y = np.full((num,) + a.shape[1:], init, a.dtype)
    keep = (i >= 0) & (i < num)
    fold.at(y, i[keep].astype(np.int64), a[keep])
    if a.dtype.kind == "f":
        seen = np.zeros(num, bool)
        seen[i[keep].astype(np.int64)] = True
        y[~seen] = np.finfo(a.dtype).min if is_max else np.finfo(a.dtype).max
    return _out(y)


# ---- complex64 / complex128 (csrc/cuda/complex.cu, fft.cu) ------------------------------------
_COMPLEX_UNARY = {"real": np.real, "imag": np.imag, "abs": np.abs, "angle": np.angle,
                  "conj": np.conj, "neg": np.negative, "exp": np.exp, "expm1": np.expm1,
                  "log": np.log, "log1p": np.log1p, "sqrt": np.sqrt, "square": np.square,
                  "reciprocal": np.reciprocal, "sign": np.sign, "sin": np.sin, "cos": np.cos,
                  "tan": np.tan, "sinh": np.sinh, "cosh": np.cosh, "tanh": np.tanh,
                  "asin": np.arcsin, "acos": np.arccos, "atan": np.arctan, "asinh": np.arcsinh,
                  "acosh": np.arccosh, "atanh": np.arctanh}
_COMPLEX_BINARY = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.true_divide,
                   "pow": np.power}


def _complex_arg(op, b, name="x"):
    a = _a(b, op, name)
    if a.dtype.kind != "c":
        raise TypeError(f"[{op}] {name} must be complex64 or complex128, got {a.dtype.name} of "
                        f"shape {list(a.shape)}")
    _check_nd(op, a.shape)
    return a


def complex_unary(op, x):
    """real, imag, abs, angle (the part dtype), conj, neg and the elementary functions (exp,
    log, sqrt, sin, tanh, ..., asin, acos, atan, asinh, acosh, atanh: x's dtype) of a complex
    x (complex.cu)."""
    if op not in _COMPLEX_UNARY:
        raise ValueError(f"[complex_unary] unknown op '{op}' ({', '.join(_COMPLEX_UNARY)})")
    a = _complex_arg("complex_unary", x)
    with np.errstate(all="ignore"):
        r = _COMPLEX_UNARY[op](a)
    return _out(r.astype(a.real.dtype if op in ("real", "imag", "abs", "angle") else a.dtype))


def complex_binary(op, a, b):
    """add, sub, mul, div, pow of complex a, b; make: float re, im -> complex; broadcasting."""
    if op not in _COMPLEX_BINARY and op != "make":
        raise ValueError(f"[complex_binary] unknown op '{op}' (add, sub, mul, div, pow, make)")
    x, y = _a(a, "complex_binary", "a"), _a(b, "complex_binary", "b")
    if x.dtype != y.dtype:
        raise TypeError(f"[complex_binary] a and b dtypes differ: {x.dtype.name} vs "
                        f"{y.dtype.name}")
    want = "f" if op == "make" else "c"
    if x.dtype.kind != want:
        kinds = "float32 or float64" if op == "make" else "complex64 or complex128"
        raise TypeError(f"[complex_binary] '{op}' needs operands of {kinds}, got {x.dtype.name} "
                        f"{list(x.shape)} and {list(y.shape)}")
    _check_nd("complex_binary", x.shape, y.shape)
    shape = _bshape("complex_binary", x.shape, y.shape)
    with np.errstate(all="ignore"):
        if op == "make":
            r = np.empty(shape, np.complex64 if x.dtype == np.float32 else np.complex128)
            r.real, r.imag = x, y
            return _out(r)
        return _out(_COMPLEX_BINARY[op](x, y).astype(x.dtype))


def complex_prod(x, axis):
    """The product of a complex x along one axis, in NumPy's order (complex.cu)."""
    a = _complex_arg("complex_prod", x)
    axis = int(axis)
    if a.ndim == 0 or not -a.ndim <= axis < a.ndim:
        raise ValueError(f"[complex_prod] axis {axis} is out of range for x {list(a.shape)}")
    with np.errstate(all="ignore"):
        return _out(np.prod(a, axis=axis).astype(a.dtype))


def fft_c2c(x, inverse=False, scale=1.0):
    """The DFT of x's innermost rows (inverse: exp(+2 pi i k t / n), unscaled), times scale
    (fft.cu: Stockham radix-2 / Bluestein)."""
    a = _complex_arg("fft_c2c", x)
    if a.ndim < 1:
        raise ValueError("[fft_c2c] x must have rank >= 1 (..., n), got a scalar")
    if a.size == 0:
        return _out(a.copy())
    n = a.shape[-1]
    r = np.fft.ifft(a, axis=-1) * n if inverse else np.fft.fft(a, axis=-1)
    return _out((r * scale).astype(a.dtype))


def fft_hermitian(x, n):
    """(..., n): the Hermitian completion of x's first n // 2 + 1 bins, zero-padded (fft.cu)."""
    a = _complex_arg("fft_hermitian", x)
    if a.ndim < 1:
        raise ValueError("[fft_hermitian] x must have rank >= 1 (..., m), got a scalar")
    n = int(n)
    if n < 0:
        raise ValueError(f"[fft_hermitian] n must be >= 0, got {n}")
    m = a.shape[-1]
    y = np.zeros(a.shape[:-1] + (n,), a.dtype)
    k = np.arange(n)
    src = np.where(k > n // 2, n - k, k)
    ok = src < m
    v = a[..., np.minimum(src, max(m - 1, 0))] if m else y
    v = np.where(ok, v, 0)
    y[...] = np.where(k > n // 2, np.conj(v), v)
    return _out(y)


def overlap_add(x, frame_step):
    """(..., (frames - 1) * frame_step + frame_length): the frames of x added at multiples of
    frame_step, in frame order (csrc/cuda/overlap_add.cu)."""
    a = _a(x, "overlap_add")
    if a.dtype == np.bool_:
        raise TypeError(f"[overlap_add] x must be float32, float64, int32 or int64, got bool of "
                        f"shape {tuple(a.shape)}")
    if a.ndim < 2:
        raise ValueError(f"[overlap_add] x must have rank >= 2 (..., frames, frame_length), got "
                         f"shape {list(a.shape)}")
    step = int(frame_step)
    if step < 1:
        raise ValueError(f"[overlap_add] frame_step must be >= 1, got {step}")
    frames, length = a.shape[-2], a.shape[-1]
    y = np.zeros(a.shape[:-2] + (max((frames - 1) * step + length, 0),), a.dtype)
    for f in range(frames):
        y[..., f * step:f * step + length] += a[..., f, :]
    return _out(y)


_INCOMPLETE_ARGS = {"igamma": ("a", "x"), "igammac": ("a", "x"), "igamma_grad_a": ("a", "x"),
                    "igamma_dx": ("a", "x"), "zeta": ("x", "q"), "polygamma": ("n", "x"),
                    "betainc": ("a", "b", "x"), "betainc_dx": ("a", "b", "x")}


def special_incomplete(op, u, v, w=None):
    """igamma, igammac, igamma_grad_a, igamma_dx (a, x), zeta (x, q), polygamma (n, x),
    betainc, betainc_dx (a, b, x) elementwise on arguments of one shape and float dtype
    (csrc/cuda/special_incomplete.cu): computed in float64 by nabi.ops.special_more_ops' NumPy
    versions (the CPU path), rounded to the arguments' dtype."""
    from ..ops import special_more_ops as smo
    if op not in _INCOMPLETE_ARGS:
        raise ValueError(f"[special_incomplete] unknown op '{op}' (one of "
                         f"{', '.join(_INCOMPLETE_ARGS)})")
    names = _INCOMPLETE_ARGS[op]
    if len(names) == 2 and w is not None:
        raise ValueError(f"[{op}] takes 2 arguments ({names[0]}, {names[1]}), got a third")
    if len(names) == 3 and w is None:
        raise ValueError(f"[{op}] takes 3 arguments (a, b, x), got 2")
    arrs = [_a(b, op, n) for b, n in zip((u, v, w), names)]
    for a, n in zip(arrs, names):
        if a.dtype not in (np.float32, np.float64):
            raise TypeError(f"[{op}] {n} must be float32 or float64, got {a.dtype.name} of "
                            f"shape {tuple(a.shape)}")
    for a, n in zip(arrs[1:], names[1:]):
        if a.dtype != arrs[0].dtype:
            raise TypeError(f"[{op}] dtypes differ: {names[0]} {arrs[0].dtype.name}, {n} "
                            f"{a.dtype.name}")
        if a.shape != arrs[0].shape:
            raise ValueError(f"[{op}] the arguments must have one shape (broadcast them "
                             "first), got " + ", ".join(f"{m} {tuple(b.shape)}"
                                                        for m, b in zip(names, arrs)))
    f64 = [a.astype(np.float64) for a in arrs]
    with np.errstate(all="ignore"):
        r = {"igamma": smo.igamma_np, "igammac": smo.igammac_np,
             "igamma_grad_a": smo.igamma_grad_a_np, "igamma_dx": smo._igamma_dx,
             "zeta": smo.zeta_np, "polygamma": smo.polygamma_np, "betainc": smo.betainc_np,
             "betainc_dx": smo._betainc_dx}[op](*f64)
    return _out(np.asarray(r, np.float64).reshape(arrs[0].shape).astype(arrs[0].dtype))


# ---- dense LU / Cholesky (csrc/cuda/linalg_lu.cu, bind_cuda_linalg.cpp) --------------------
def _lin_square(op, b, name):
    a = _a(b, op, name)
    if a.dtype not in (np.float32, np.float64):
        raise TypeError(f"[{op}] {name} must be float32 or float64, got {a.dtype} of shape "
                        f"{_shp(a)}")
    if a.ndim < 2 or a.shape[-1] != a.shape[-2]:
        raise ValueError(f"[{op}] {name} must be square in its last two axes (..., n, n), got "
                         f"shape {_shp(a)}")
    return a


def _nb(a):
    return int(np.prod(a.shape[:-2], dtype=np.int64))


def _shp(a):
    return "(" + ", ".join(str(int(s)) for s in a.shape) + ("," if a.ndim == 1 else "") + ")"


def _lin_perm(op, lu, pb, name="perm"):
    p = _a(pb, op, name)
    if p.dtype not in (np.int32, np.int64):
        raise TypeError(f"[{op}] perm must be int32 or int64, got {p.dtype} of shape {_shp(p)}")
    if lu is not None and p.shape != lu.shape[:-1]:
        raise ValueError(f"[{op}] perm must have shape {lu.shape[:-1]} for lu of shape "
                         f"{_shp(lu)}, got {_shp(p)}")
    return p


def _lin_rhs(op, a, bb, an):
    b = _a(bb, op, "b")
    if b.dtype != a.dtype:
        raise TypeError(f"[{op}] {an} and b dtypes differ: {a.dtype} vs {b.dtype}")
    if b.ndim != a.ndim or b.shape[:-2] != a.shape[:-2] or b.shape[-2] != a.shape[-1]:
        raise ValueError(f"[{op}] b must have shape (..., {a.shape[-1]}, k) with the batch of "
                         f"{an} {_shp(a)}, got {_shp(b)}")
    return b


def lu_factor(a, perm_dtype="int32", with_pivots=False):
    """(lu, perm, sign, zeros[, pivots]): partial pivoting (first largest |entry|, NaN
    first); pivots: the row swapped with row k at step k."""
    x = _lin_square("lu_factor", a, "a")
    pt = _dtype("lu_factor", perm_dtype)
    if pt not in (np.int32, np.int64):
        raise TypeError(f"[lu_factor] perm_dtype must be int32 or int64, got {perm_dtype}")
    n = x.shape[-1]
    m = x.reshape((_nb(x), n, n)).copy()
    nb = m.shape[0]
    perm = np.tile(np.arange(n), (nb, 1))
    swaps = np.zeros(nb, np.int64)
    zeros = np.zeros(nb, np.int32)
    piv = np.zeros((nb, n), np.int32)
    for b in range(nb):
        u = m[b]
        for k in range(n):
            col = np.abs(u[k:, k])
            nan = np.isnan(col)
            p = k + (int(np.argmax(nan)) if nan.any() else int(np.argmax(col)))
            piv[b, k] = p
            if p != k:
                u[[k, p]] = u[[p, k]]
                perm[b, [k, p]] = perm[b, [p, k]]
                swaps[b] += 1
            d = u[k, k]
            zeros[b] += d == 0
            u[k + 1:, k] /= d if d != 0 else 1
            u[k + 1:, k + 1:] -= np.outer(u[k + 1:, k], u[k, k + 1:])
    sign = np.where(swaps % 2, -1, 1).astype(x.dtype)
    bs = x.shape[:-2]
    out = (_out(m.reshape(x.shape)), _out(perm.astype(pt).reshape(bs + (n,))),
           _out(sign.reshape(bs)), _out(zeros.reshape(bs)))
    return out + (_out(piv.reshape(bs + (n,))),) if with_pivots else out


def lu_solve(lu, perm, b=None, adjoint=False):
    """A^-1 b (A^-T b) for A = P^T L U; b None: the identity."""
    f = _lin_square("lu_solve", lu, "lu")
    p = _lin_perm("lu_solve", f, perm)
    n = f.shape[-1]
    rhs = np.broadcast_to(np.eye(n, dtype=f.dtype), f.shape) if b is None else \
        _lin_rhs("lu_solve", f, b, "lu")
    low = np.tril(f, -1) + np.eye(n, dtype=f.dtype)
    up = np.triu(f)
    with np.errstate(all="ignore"):
        if not adjoint:
            pb = np.take_along_axis(rhs, p[..., None].astype(np.int64), axis=-2)
            x = _subst(up, _subst(low, pb, True), False)
        else:
            w = _subst(np.swapaxes(low, -1, -2), _subst(np.swapaxes(up, -1, -2), rhs, True),
                       False)
            x = np.empty_like(w)
            np.put_along_axis(x, p[..., None].astype(np.int64), w, axis=-2)
    return _out(x.astype(f.dtype))


def _subst(t, b, lower, unit=False):
    """Substitution down the rows of b for a triangular t (the other triangle ignored)."""
    n = t.shape[-1]
    x = np.array(b, dtype=t.dtype, copy=True)
    rows = range(n) if lower else range(n - 1, -1, -1)
    for i in rows:
        done = slice(0, i) if lower else slice(i + 1, n)
        s = x[..., i, :] - np.einsum("...m,...mk->...k", t[..., i, done], x[..., done, :])
        x[..., i, :] = s if unit else s / t[..., i, i, None]
    return x


def triangular_solve(t, b, lower=True, adjoint=False, unit=False, count_zeros=False):
    """op(T)^-1 b for the lower (upper) triangle T of t; (x, zeros) with count_zeros."""
    a = _lin_square("triangular_solve", t, "t")
    rhs = _lin_rhs("triangular_solve", a, b, "t")
    tt = np.swapaxes(a, -1, -2) if adjoint else a
    with np.errstate(all="ignore"):
        x = _subst(tt, rhs, lower != adjoint, unit).astype(a.dtype)
    if not count_zeros:
        return _out(x)
    z = np.zeros(a.shape[:-2], np.int32) if unit else \
        (np.diagonal(a, axis1=-2, axis2=-1) == 0).sum(-1).astype(np.int32)
    return _out(x), _out(z)


def cholesky(a):
    """(l, info): right-looking Cholesky of the lower triangle; info 1 + the failed column."""
    x = _lin_square("cholesky", a, "a")
    n = x.shape[-1]
    m = np.tril(x).reshape((_nb(x), n, n)).copy()
    info = np.zeros(m.shape[0], np.int32)
    for b in range(m.shape[0]):
        u = m[b]
        for k in range(n):
            d = u[k, k]
            if not d > 0:
                info[b] = k + 1
                break
            u[k, k] = np.sqrt(d)
            u[k + 1:, k] /= u[k, k]
            u[k + 1:, k + 1:] -= np.tril(np.outer(u[k + 1:, k], u[k + 1:, k]))
    return _out(m.reshape(x.shape)), _out(info.reshape(x.shape[:-2]))


def _lin_sign(op, f, sb):
    s = _a(sb, op, "sign")
    if s.dtype != f.dtype:
        raise TypeError(f"[{op}] lu and sign dtypes differ: {f.dtype} vs {s.dtype}")
    if s.shape != f.shape[:-2]:
        raise ValueError(f"[{op}] sign must have shape {f.shape[:-2]} for lu of shape "
                         f"{_shp(f)}, got {_shp(s)}")
    return s


def lu_det(lu, sign):
    """det = sign * prod diag(U)."""
    f = _lin_square("lu_det", lu, "lu")
    s = _lin_sign("lu_det", f, sign)
    return _out((s * np.prod(np.diagonal(f, axis1=-2, axis2=-1), axis=-1)).astype(f.dtype))


def lu_slogdet(lu, sign):
    """(sign, log|det|) from lu_factor's (lu, sign)."""
    f = _lin_square("lu_slogdet", lu, "lu")
    s = _lin_sign("lu_slogdet", f, sign)
    d = np.diagonal(f, axis1=-2, axis2=-1)
    with np.errstate(divide="ignore"):
        la = np.sum(np.log(np.abs(d)), axis=-1)
    return _out((s * np.prod(np.sign(d), axis=-1)).astype(f.dtype)), _out(la.astype(f.dtype))


def lu_adjugate_t(lu, perm, sign):
    """adj(A)^T = (sign adj(U) L^-1 P)^T, exact for singular A."""
    f = _lin_square("lu_adjugate_t", lu, "lu")
    p = _lin_perm("lu_adjugate_t", f, perm)
    s = _lin_sign("lu_adjugate_t", f, sign)
    n = f.shape[-1]
    fs, ps, ss = f.reshape((_nb(f), n, n)), p.reshape((_nb(f), n)), s.reshape(-1)
    out = np.zeros_like(fs)
    for b in range(fs.shape[0]):
        u, low = np.triu(fs[b]), np.tril(fs[b], -1) + np.eye(n, dtype=f.dtype)
        d = np.diagonal(u)
        z = np.flatnonzero(d == 0)
        if len(z) >= 2:
            continue
        if not len(z):
            w = np.prod(d) * _subst(u, np.eye(n, dtype=f.dtype), False)
        else:
            k = z[0]
            x = np.zeros(n, f.dtype)
            x[k] = 1
            x[:k] = -_subst(u[:k, :k], u[:k, k:k + 1], False)[:, 0]
            y = np.zeros(n, f.dtype)
            y[k] = 1
            y[k + 1:] = -_subst(u[k + 1:, k + 1:].T, u[k, k + 1:, None], True)[:, 0]
            w = np.prod(np.delete(d, k)) * np.outer(x, y)
        zl = _subst(low.T, w.T, False, True).T          # W L^-1
        out[b][ps[b]] = ss[b] * zl.T                      # adj^T[perm[m], i] = s Z[i, m]
    return _out(out.reshape(f.shape))


def perm_inverse(perm):
    """(inverse permutation of each row, bad: 1 when a row is not a permutation)."""
    p = _lin_perm("perm_inverse", None, perm)
    if p.ndim < 1:
        raise ValueError("[perm_inverse] perm must have rank >= 1 (..., n), got shape ()")
    n = p.shape[-1]
    ps = p.reshape((-1, n)) if n else p.reshape((0, 0))
    inv = np.full_like(ps, -1)
    bad = 0
    for b in range(ps.shape[0]):
        for i, v in enumerate(ps[b]):
            if v < 0 or v >= n or inv[b, v] != -1:
                bad = 1
                continue
            inv[b, v] = i
    return _out(inv.reshape(p.shape)), _out(np.array(bad, np.int32))


def permute_rows(x, perm, inverse=False):
    """x[..., perm[i], :] (inverse: y[..., perm[i], :] = x[..., i, :])."""
    a = _a(x, "permute_rows", "x")
    p = _lin_perm("permute_rows", None, perm)
    if a.dtype == np.bool_:
        raise TypeError(f"[permute_rows] x must be float32, float64, int32 or int64, got bool "
                        f"of shape {_shp(a)}")
    if a.ndim < 2 or p.shape != a.shape[:-1]:
        raise ValueError(f"[permute_rows] x must be (..., n, k) and perm (..., n) with x's "
                         f"batch, got x {_shp(a)} and perm {_shp(p)}")
    idx = np.broadcast_to(p[..., None].astype(np.int64), a.shape)
    if not inverse:
        return _out(np.take_along_axis(a, idx, axis=-2))
    y = np.empty_like(a)
    np.put_along_axis(y, idx, a, axis=-2)
    return _out(y)


def _ctc_dims(op, a, name, time_major):
    if a.ndim != 3:
        lay = "time, batch, classes" if time_major else "batch, time, classes"
        raise ValueError(f"[{op}] {name} must be 3-D ({lay}), got shape {tuple(a.shape)}")
    T, B, C = (a.shape if time_major else (a.shape[1], a.shape[0], a.shape[2]))
    return T, B, C


def _ctc_index(op, b, name, ndim, B, x):
    v = _a(b, op, name)
    if v.dtype not in (np.int32, np.int64):
        raise TypeError(f"[{op}] {name} must be int32 or int64, got {v.dtype} of shape "
                        f"{tuple(v.shape)}")
    if v.ndim != ndim:
        raise ValueError(f"[{op}] {name} must be {ndim}-D, got shape {tuple(v.shape)}")
    if v.shape[0] != B:
        raise ValueError(f"[{op}] {name} {tuple(v.shape)} must have the batch {B} of the "
                         f"logits {tuple(x.shape)}")
    return v.astype(np.int64)


def ctc_loss(logits, labels, label_length, logit_length, blank, time_major=True, grad=True,
             status=False):
    """(loss (B,), d sum(loss) / d logits or None) in float64, rounded to the logits' dtype;
    NaN for a sequence whose lengths or labels are out of range (csrc/cuda/ctc.cu); status=True
    adds an int32 (B,) array: 1 for a length out of range, 2 for a bad label, else 0."""
    op = "ctc_loss"
    from ..ops.nn_extra_ops import _ctc_one
    x = _a(logits, op, "logits")
    if x.dtype not in (np.float32, np.float64):
        raise TypeError(f"[{op}] logits must be float32 or float64, got {x.dtype}")
    T, B, C = _ctc_dims(op, x, "logits", time_major)
    lab = _ctc_index(op, labels, "labels", 2, B, x)
    ll = _ctc_index(op, label_length, "label_length", 1, B, x)
    tl = _ctc_index(op, logit_length, "logit_length", 1, B, x)
    blank = int(blank)
    if not 0 <= blank < C:
        raise ValueError(f"[{op}] blank {blank} is out of range for {C} classes (logits "
                         f"{tuple(x.shape)})")
    lg = (x if time_major else np.swapaxes(x, 0, 1)).astype(np.float64)
    with np.errstate(all="ignore"):
        m = lg.max(axis=2, keepdims=True) if C else lg
        lp = lg - m - np.log(np.exp(lg - m).sum(axis=2, keepdims=True))
    loss = np.zeros(B)
    g = np.zeros((T, B, C))
    st = np.zeros(B, np.int32)
    for b in range(B):
        n, k = int(tl[b]), int(ll[b])
        seq = lab[b, :k] if 0 <= k <= lab.shape[1] else None
        if seq is None or not 0 <= n <= T:
            st[b] = 1
        elif np.any(seq < 0) or np.any(seq >= C) or np.any(seq == blank):
            st[b] = 2
        if st[b]:
            loss[b], g[:, b] = np.nan, np.nan
            continue
        with np.errstate(invalid="ignore"):  # (a NaN logit: +inf, as the kernel, quietly)
            loss[b], g[:n, b] = _ctc_one(lp[:n, b], seq, blank)
    out = loss.astype(x.dtype)
    more = (_out(st),) if status else ()
    if not grad:
        return (_out(out), None) + more
    g = (g if time_major else np.swapaxes(g, 0, 1)).astype(x.dtype)
    return (_out(out), _out(np.ascontiguousarray(g))) + more


def ctc_greedy(x, seq_len, blank, merge_repeated=True, time_major=True):
    """(decoded (B, T) int64 padded with -1, count (B,) int64, score (B,)): best-path CTC
    decoding, seq_len clamped to [0, T] (csrc/cuda/ctc.cu)."""
    op = "ctc_greedy"
    a = _a(x, op, "x")
    if a.dtype not in (np.float32, np.float64):
        raise TypeError(f"[{op}] x must be float32 or float64, got {a.dtype}")
    T, B, C = _ctc_dims(op, a, "x", time_major)
    if C < 1:
        raise ValueError(f"[{op}] x {tuple(a.shape)} needs at least one class")
    sl = np.clip(_ctc_index(op, seq_len, "seq_len", 1, B, a), 0, T)
    blank = int(blank)
    if not 0 <= blank < C:
        raise ValueError(f"[{op}] blank {blank} is out of range for {C} classes (x "
                         f"{tuple(a.shape)})")
    v = a if time_major else np.swapaxes(a, 0, 1)
    dec = np.full((B, T), -1, np.int64)
    cnt = np.zeros(B, np.int64)
    score = np.zeros(B, a.dtype)
    for b in range(B):
        rows = v[:sl[b], b]
        best = rows.argmax(axis=1) if len(rows) else np.zeros(0, np.int64)
        score[b] = -rows.max(axis=1).astype(np.float64).sum() if len(rows) else 0
        prev = -1
        for k in best.tolist():
            if k != blank and not (merge_repeated and k == prev):
                dec[b, cnt[b]] = k
                cnt[b] += 1
            prev = k
    return _out(dec), _out(cnt), _out(score)


def ctc_pack(decoded, offsets, total):
    """(total,) int64: row b's first offsets[b+1] - offsets[b] entries of decoded (B, T), rows in
    order (csrc/cuda/ctc.cu)."""
    op = "ctc_pack"
    d, o = _a(decoded, op, "decoded"), _a(offsets, op, "offsets")
    if d.dtype != np.int64 or d.ndim != 2:
        raise ValueError(f"[{op}] decoded must be a 2-D int64 (batch, time), got {d.dtype} of "
                         f"shape {tuple(d.shape)}")
    B, T = d.shape
    if o.dtype != np.int64 or o.shape != (B + 1,):
        raise ValueError(f"[{op}] offsets must be int64 of shape ({B + 1},) for decoded "
                         f"{tuple(d.shape)}, got {o.dtype} of shape {tuple(o.shape)}")
    total = int(total)
    if total < 0 or (B and total > B * T):
        raise ValueError(f"[{op}] total {total} must be in [0, {B * T}] for decoded "
                         f"{tuple(d.shape)}")
    v = np.zeros(total, np.int64)
    for b in range(B):
        n = int(o[b + 1] - o[b])
        v[o[b]:o[b] + n] = d[b, :n]
    return _out(v)


def _linalg_a(op, a, square=False):
    x = _a(a, op, "a")
    if x.dtype not in (np.float32, np.float64):
        raise TypeError(f"[{op}] a must be float32 or float64, got {x.dtype} of shape "
                        f"{list(x.shape)}")
    if x.ndim < 2:
        raise ValueError(f"[{op}] a must have rank >= 2 (..., M, N), got shape {list(x.shape)}")
    if square and x.shape[-1] != x.shape[-2]:
        raise ValueError(f"[{op}] a must be square in its last two axes (..., N, N), got shape "
                         f"{list(x.shape)}")
    if op in ("eigh", "svd") and min(x.shape[-2:]) > 2048:
        raise ValueError(f"[{op}] the Jacobi dimension {min(x.shape[-2:])} of shape "
                         f"{list(x.shape)} is more than 2048")
    return x


def _linalg_finite(x):
    """x with its non-finite matrices zeroed (LAPACK may fail or hang on them), and a function
    setting those matrices' results to NaN, as the kernels do."""
    bad = ~np.isfinite(x).all(axis=(-2, -1))
    if not bad.any():
        return x, lambda *r: r
    x = np.where(bad[..., None, None], 0, x)

    def nan(*rs):
        for r in rs:
            if r is not None:
                r[bad] = np.nan
        return rs
    return x, nan


def linalg_qr(a, full_matrices=False):
    """(q, r) with a = q r for each matrix (..., M, N), NumPy's (LAPACK's) signs
    (csrc/cuda/linalg_eig.cu: Householder)."""
    x, nan = _linalg_finite(_linalg_a("qr", a))
    q, r = np.linalg.qr(x, mode="complete" if full_matrices else "reduced")
    q, r = nan(np.array(q, x.dtype), np.array(r, x.dtype))
    return _out(q), _out(r)


def linalg_eigh(a, compute_v=True):
    """(e ascending, v or None) of each symmetric matrix (..., N, N), lower triangle read
    (csrc/cuda/linalg_eig.cu: cyclic Jacobi; eigenvector signs may differ from it)."""
    x, nan = _linalg_finite(_linalg_a("eigh", a, square=True))
    e, v = np.linalg.eigh(x)
    e, v = nan(e.astype(x.dtype), np.array(v, x.dtype))
    return _out(e), _out(v) if compute_v else None


def linalg_svd(a, full_matrices=False, compute_uv=True):
    """(s descending, u, v) with a = u diag(s) v^T, or (s, None, None) without compute_uv
    (csrc/cuda/linalg_eig.cu: one-sided Jacobi; vector signs may differ from it)."""
    x, nan = _linalg_finite(_linalg_a("svd", a))
    if not compute_uv:
        return _out(nan(np.linalg.svd(x, compute_uv=False).astype(x.dtype))[0]), None, None
    u, s, vh = np.linalg.svd(x, full_matrices=bool(full_matrices))
    s, u, v = nan(s.astype(x.dtype), np.array(u, x.dtype),
                  np.array(np.swapaxes(vh, -1, -2), x.dtype))
    return _out(s), _out(u), _out(v)


def linalg_solve_upper(r, b, transpose=True):
    """x with x r^T = b (x r = b without transpose), r (..., N, N) upper triangular (only its
    upper triangle read), b (..., M, N) (csrc/cuda/linalg_eig.cu)."""
    op = "linalg_solve_upper"
    rr, bb = _linalg_a(op, r), _a(b, op, "b")
    if rr.dtype != bb.dtype:
        raise TypeError(f"[{op}] r and b dtypes differ: {rr.dtype} vs {bb.dtype}")
    if (bb.ndim < 2 or rr.shape[-1] != rr.shape[-2] or rr.shape[:-2] != bb.shape[:-2]
            or bb.shape[-1] != rr.shape[-1]):
        raise ValueError(f"[{op}] r must be (..., N, N) and b (..., M, N) with the same batch "
                         f"axes, got shapes {list(rr.shape)} and {list(bb.shape)}")
    t = np.triu(rr)
    # x t^T = b  <=>  t x^T = b^T;  x t = b  <=>  t^T x^T = b^T
    m = t if transpose else np.swapaxes(t, -1, -2)
    x = np.swapaxes(np.linalg.solve(m, np.swapaxes(bb, -1, -2)), -1, -2) if bb.size else bb
    return _out(np.ascontiguousarray(x, rr.dtype))


def segment_prod(x, ids, num):
    """(num, ...) products of the rows of x per segment id; ids outside [0, num) dropped,
    empty segments 1; integers wrap (csrc/cuda/index_extra.cu)."""
    a = _a(x, "segment_prod")
    i = _a(ids, "segment_prod", "ids")
    if a.dtype == np.bool_:
        raise TypeError(f"[segment_prod] x must be float32, float64, int32 or int64, got bool "
                        f"of shape {tuple(a.shape)}")
    if i.dtype not in (np.int32, np.int64):
        raise TypeError(f"[segment_prod] ids must be int32 or int64, got {i.dtype} of shape "
                        f"{tuple(i.shape)}")
    if a.ndim < 1:
        raise ValueError("[segment_prod] x must have rank >= 1, got shape ()")
    if i.ndim != 1 or i.shape[0] != a.shape[0]:
        raise ValueError(f"[segment_prod] ids must be 1-D with one id per row of x "
                         f"{list(a.shape)}, got shape {list(i.shape)}")
    num = int(num)
    if num < 0:
        raise ValueError(f"[segment_prod] num must be >= 0, got {num}")
    y = np.ones((num,) + a.shape[1:], a.dtype)
    keep = (i >= 0) & (i < num)
    with np.errstate(over="ignore", invalid="ignore"):
        np.multiply.at(y, i[keep].astype(np.int64), a[keep])
    return _out(y)


def logcumsumexp(x, axis, exclusive=False, reverse=False):
    """The running log(sum(exp(x))) along axis, accumulated in float64 with np.logaddexp
    (csrc/cuda/index_extra.cu)."""
    a = _a(x, "logcumsumexp")
    if a.dtype not in (np.float32, np.float64):
        raise TypeError(f"[logcumsumexp] x must be float32 or float64, got {a.dtype}")
    if a.ndim < 1:
        raise ValueError("[logcumsumexp] x must have rank >= 1, got shape ()")
    axis = int(axis)
    if not -a.ndim <= axis < a.ndim:
        raise ValueError(f"[logcumsumexp] axis {axis} is out of range for x of shape "
                         f"{list(a.shape)}")
    v = np.moveaxis(a.astype(np.float64), axis, 0)
    if reverse:
        v = v[::-1]
    acc = np.full(v.shape[1:], -np.inf)
    out = np.empty_like(v)
    with np.errstate(invalid="ignore", over="ignore"):
        for k in range(v.shape[0]):
            if exclusive:
                out[k] = acc
                acc = np.logaddexp(acc, v[k])
            else:
                acc = np.logaddexp(acc, v[k])
                out[k] = acc
    if reverse:
        out = out[::-1]
    return _out(np.ascontiguousarray(np.moveaxis(out, 0, axis)).astype(a.dtype))


def binary_extra(op, a, b):
    """truncatediv / truncatemod (C semantics; integer x / 0 and x % 0 give 0) / nextafter of
    two same-shape, same-dtype buffers (csrc/cuda/index_extra.cu)."""
    if op not in ("truncatediv", "truncatemod", "nextafter"):
        raise ValueError(f"[binary_extra] op must be 'truncatediv', 'truncatemod' or "
                         f"'nextafter', got '{op}'")
    x, y = _a(a, "binary_extra", "a"), _a(b, "binary_extra", "b")
    if x.dtype != y.dtype:
        raise TypeError(f"[binary_extra] a and b dtypes differ: {x.dtype} vs {y.dtype}")
    if x.shape != y.shape:
        raise ValueError(f"[binary_extra] a and b shapes differ: {list(x.shape)} vs "
                         f"{list(y.shape)}")
    if x.dtype == np.bool_:
        raise TypeError(f"[binary_extra] {op} takes float32, float64, int32 or int64, got bool "
                        f"of shape {list(x.shape)}")
    if op == "nextafter" and x.dtype.kind != "f":
        raise TypeError(f"[binary_extra] nextafter takes float32 or float64, got {x.dtype} of "
                        f"shape {list(x.shape)}")
    with np.errstate(all="ignore"):
        if op == "nextafter":
            return _out(np.nextafter(x, y))
        if x.dtype.kind == "f":
            return _out((np.trunc(x / y) if op == "truncatediv" else np.fmod(x, y))
                        .astype(x.dtype))
        zero = (y == 0) | (y == -1)
        safe = np.where(zero, 1, y)
        if op == "truncatemod":
            return _out(np.where(zero, 0, np.fmod(x, safe)).astype(x.dtype))
        q = np.fmod(x, safe)  # trunc(x / y) = (x - fmod(x, y)) / y exactly for integers
        q = (x - q) // safe
        return _out(np.where(y == 0, 0, np.where(y == -1, -x, q)).astype(x.dtype))


def _it_map(v, n, mode):
    """TF's MapCoordinate in float32 (csrc/cuda/image_transform.cu map_coord)."""
    f = np.float32
    if mode == "constant":
        return v
    if n <= 1:
        return np.where(np.isnan(v), v, f(0))
    nf, last = f(n), f(n - 1)
    with np.errstate(invalid="ignore"):
        if mode == "reflect":
            sz2 = f(2 * n)
            lo = v + sz2 * np.trunc(-v / sz2)
            lo = np.where(lo < -nf, lo + sz2, -lo - f(1))
            hi = v - sz2 * np.trunc(v / sz2)
            hi = np.where(hi >= nf, sz2 - hi - f(1), hi)
            v = np.where(v < 0, lo, np.where(v > last, hi, v))
        elif mode == "wrap":
            v = np.where(v < 0, v + nf * (np.trunc(-v / last) + f(1)),
                         np.where(v > last, v - nf * np.trunc(v / last), v))
    return np.clip(v, f(0), last).astype(f)


def _affine_source(op, x, t, what, fill_mode, interpolation):
    """The checks shared by affine_transform and its gradient, then each output pixel's
    source coordinates (image_transform_coords.cuh): (sy, sx) after the fill mode's mapping,
    float32, shape (B, H*W), and kz, where the projective denominator is 0 (fill)."""
    if x.dtype not in (np.float32, np.float64):
        raise TypeError(f"[{op}] {what} must be float32 or float64, got {x.dtype}")
    if x.ndim != 4:
        raise ValueError(f"[{op}] {what} must be 4-D (batch, height, width, channels), got "
                         f"shape {tuple(x.shape)}")
    if t.dtype != np.float32:
        raise TypeError(f"[{op}] transforms must be float32, got {t.dtype} of shape "
                        f"{tuple(t.shape)}")
    B, H, W, C = x.shape
    if t.ndim != 2 or t.shape[1] != 8 or t.shape[0] not in (B, 1):
        raise ValueError(f"[{op}] transforms must have shape ({B}, 8) or (1, 8) for {what} of "
                         f"shape {tuple(x.shape)}, got {tuple(t.shape)}")
    if H >= 2 ** 24 or W >= 2 ** 24:
        raise ValueError(f"[{op}] height and width must be below 2^24, got {what} of shape "
                         f"{tuple(x.shape)}")
    if fill_mode not in ("reflect", "wrap", "constant", "nearest"):
        raise ValueError(f"[{op}] fill_mode must be 'reflect', 'wrap', 'constant' or "
                         f"'nearest', got '{fill_mode}'")
    if interpolation not in ("bilinear", "nearest"):
        raise ValueError(f"[{op}] interpolation must be 'bilinear' or 'nearest', got "
                         f"'{interpolation}'")
    f = np.float32
    t = np.broadcast_to(t, (B, 8))
    rr, cc = np.meshgrid(np.arange(H, dtype=f), np.arange(W, dtype=f), indexing="ij")
    cc, rr = cc.ravel()[None], rr.ravel()[None]
    col = [t[:, i:i + 1] for i in range(8)]
    with np.errstate(divide="ignore", invalid="ignore"):
        k = col[6] * cc + col[7] * rr + f(1)
        kz = k == 0
        k = np.where(kz, f(1), k)
        sx = _it_map((col[0] * cc + col[1] * rr + col[2]) / k, W, fill_mode)
        sy = _it_map((col[3] * cc + col[4] * rr + col[5]) / k, H, fill_mode)
    return sy, sx, kz


def _affine_taps(sy, sx, interpolation, dt):
    """[(row, col, weight)] of the source pixels each output reads: the nearest one (rounded
    half away from zero, weight 1) or the four bilinear ones (weights (..., 1) in dt)."""
    f = np.float32
    if interpolation == "nearest":
        return [(np.copysign(np.floor(np.abs(sy) + f(0.5)), sy),
                 np.copysign(np.floor(np.abs(sx) + f(0.5)), sx), dt.type(1))]
    y0, x0 = np.floor(sy), np.floor(sx)
    wy, wx = sy - y0, sx - x0
    wy0, wx0 = (f(1) - wy)[..., None].astype(dt), (f(1) - wx)[..., None].astype(dt)
    wy1, wx1 = wy[..., None].astype(dt), wx[..., None].astype(dt)
    return [(y0, x0, wy0 * wx0), (y0, x0 + f(1), wy0 * wx1),
            (y0 + f(1), x0, wy1 * wx0), (y0 + f(1), x0 + f(1), wy1 * wx1)]


def affine_transform(images, transforms, fill_mode="reflect", interpolation="bilinear",
                     fill_value=0.0):
    """TF's ImageProjectiveTransformV3 of NHWC images with (B, 8) / (1, 8) float32 rows
    (csrc/cuda/image_transform.cu: float32 coordinates, one rounding per operation)."""
    op = "affine_transform"
    x, t = _a(images, op, "images"), _a(transforms, op, "transforms")
    sy, sx, kz = _affine_source(op, x, t, "images", fill_mode, interpolation)
    B, H, W, C = x.shape
    f = np.float32
    flat = x.reshape(B, H * W, C)
    fill = np.asarray(fill_value, x.dtype)

    def read(yi, xi):
        with np.errstate(invalid="ignore"):
            ok = (yi >= 0) & (yi < H) & (xi >= 0) & (xi < W) & ~kz
        idx = np.where(ok, np.where(ok, yi, 0) * W + np.where(ok, xi, 0), 0).astype(np.int64)
        return np.where(ok[..., None], np.take_along_axis(flat, idx[..., None], axis=1), fill)

    if interpolation == "nearest":
        out = read(np.copysign(np.floor(np.abs(sy) + f(0.5)), sy),
                   np.copysign(np.floor(np.abs(sx) + f(0.5)), sx))
    else:
        # the kernel's order of operations: each row blended along x, then the two rows
        y0, x0 = np.floor(sy), np.floor(sx)
        wy, wx = sy - y0, sx - x0
        wy0, wx0 = (f(1) - wy)[..., None].astype(x.dtype), (f(1) - wx)[..., None].astype(x.dtype)
        wy1, wx1 = wy[..., None].astype(x.dtype), wx[..., None].astype(x.dtype)
        top = wx0 * read(y0, x0) + wx1 * read(y0, x0 + f(1))
        bot = wx0 * read(y0 + f(1), x0) + wx1 * read(y0 + f(1), x0 + f(1))
        out = wy0 * top + wy1 * bot
        out = np.where(kz[..., None], fill, out)
    return _out(np.ascontiguousarray(out.reshape(B, H, W, C), x.dtype))


def _index_arr(b, op, name):
    a = _a(b, op, name)
    if a.dtype not in (np.int32, np.int64):
        raise TypeError(f"[{op}] {name} must be int32 or int64, got {a.dtype} of shape "
                        f"{list(a.shape)}")
    return a


def _int64_arr(b, op, name):
    a = _a(b, op, name)
    if a.dtype != np.int64:
        raise TypeError(f"[{op}] {name} must be int64, got {a.dtype} of shape {list(a.shape)}")
    return a


def hash_ints(x, bins, key=None, mask=None, offset=0):
    """Keras Hashing bins of integers hashed as their decimal strings: Fingerprint64, or
    SipHash-2-4 under key, mod bins, + offset; values equal to mask get 0
    (csrc/cuda/preprocess_lookup.cu)."""
    from ..ops.farmhash import fingerprint64, siphash24
    a = _index_arr(x, "hash_ints", "x")
    bins, offset = int(bins), int(offset)
    if bins < 1:
        raise ValueError(f"[hash_ints] bins must be >= 1, got {bins}")
    if offset not in (0, 1):
        raise ValueError(f"[hash_ints] offset must be 0 or 1, got {offset}")
    out = np.empty(a.shape, np.int64)
    flat = out.reshape(-1)
    for i, v in enumerate(a.reshape(-1).tolist()):
        if mask is not None and v == int(mask):
            flat[i] = 0
            continue
        s = str(v).encode()
        h = fingerprint64(s) if key is None else siphash24(s, int(key[0]), int(key[1]))
        flat[i] = h % bins + offset
    return _out(out)


def cross_hash(xs, bins):
    """Keras HashedCrossing bins (tf.sparse.cross_hashed) of k integer features xs (k, n)
    (csrc/cuda/preprocess_lookup.cu)."""
    a = _int64_arr(xs, "cross_hash", "xs")
    if a.ndim != 2 or a.shape[0] < 1:
        raise ValueError(f"[cross_hash] xs must be (features, n) with at least one feature, "
                         f"got shape {list(a.shape)}")
    bins = int(bins)
    if bins < 1:
        raise ValueError(f"[cross_hash] bins must be >= 1, got {bins}")
    M, mul = (1 << 64) - 1, 0xc6a4a7935bd1e995

    def sm(v):
        return v ^ (v >> 47)
    out = np.empty(a.shape[1], np.int64)
    for i in range(a.shape[1]):
        h = 0xDECAFCAFFE
        for f in range(a.shape[0]):
            fp = int(a[f, i]) & M
            r = h ^ mul
            r ^= (sm((fp * mul) & M) * mul) & M
            r = (r * mul) & M
            r = (sm(r) * mul) & M
            h = sm(r)
        out[i] = h % bins
    return _out(out)


def vocab_lookup(keys, idx, x):
    """IntegerLookup: idx of the sorted key equal to each value of x, -1 where none is
    (csrc/cuda/preprocess_lookup.cu)."""
    k = _int64_arr(keys, "vocab_lookup", "keys")
    ix = _int64_arr(idx, "vocab_lookup", "idx")
    a = _index_arr(x, "vocab_lookup", "x")
    if k.ndim != 1:
        raise ValueError(f"[vocab_lookup] keys must be 1-D, got shape {list(k.shape)}")
    if k.shape != ix.shape:
        raise ValueError(f"[vocab_lookup] keys and idx shapes differ: {list(k.shape)} vs "
                         f"{list(ix.shape)}")
    table = dict(zip(k.tolist(), ix.tolist()))
    out = np.array([table.get(v, -1) for v in a.reshape(-1).tolist()], np.int64)
    return _out(out.reshape(a.shape))



def affine_transform_grad(grads, transforms, fill_mode="reflect", interpolation="bilinear"):
    """The gradient of affine_transform with respect to the images, its adjoint
    (csrc/cuda/image_transform_grad.cu): each output pixel's gradient times its interpolation
    weights, added (np.add.at) into the source pixels the forward read."""
    op = "affine_transform_grad"
    g, t = _a(grads, op, "grads"), _a(transforms, op, "transforms")
    sy, sx, kz = _affine_source(op, g, t, "grads", fill_mode, interpolation)
    B, H, W, C = g.shape
    gflat = g.reshape(B, H * W, C)
    dx = np.zeros((B, H * W, C), g.dtype)
    bidx = np.broadcast_to(np.arange(B)[:, None], (B, H * W))
    for yi, xi, w in _affine_taps(sy, sx, interpolation, g.dtype):
        with np.errstate(invalid="ignore"):
            ok = (yi >= 0) & (yi < H) & (xi >= 0) & (xi < W) & ~kz
        idx = (np.where(ok, yi, 0) * W + np.where(ok, xi, 0)).astype(np.int64)
        np.add.at(dx, (bidx[ok], idx[ok]), (w * gflat)[ok])
    return _out(dx.reshape(B, H, W, C))


_BIT_OPS = {"and": "bitwise_and", "or": "bitwise_or", "xor": "bitwise_xor",
            "left_shift": "bitwise_left_shift", "right_shift": "bitwise_right_shift"}


def bitwise(op, a, b):
    """a (op) b for op and / or / xor / left_shift / right_shift on int32/int64 buffers of one
    dtype, NumPy-broadcast; shift amounts clamped to [0, bits - 1], left shifts wrapping, right
    shifts arithmetic (csrc/cuda/bitwise.cu)."""
    if op not in _BIT_OPS:
        raise ValueError(f"[bitwise] op must be 'and', 'or', 'xor', 'left_shift' or "
                         f"'right_shift', got '{op}'")
    name = _BIT_OPS[op]
    x, y = _a(a, name, "x"), _a(b, name, "y")
    if x.dtype not in (np.int32, np.int64) or x.dtype != y.dtype:
        raise TypeError(f"[{name}] x and y must both be int32 or both int64, got {x.dtype} "
                        f"{tuple(x.shape)} and {y.dtype} {tuple(y.shape)}")
    if max(x.ndim, y.ndim) > 8:
        raise ValueError(f"[{name}] at most 8 dimensions, got shapes {tuple(x.shape)} and "
                         f"{tuple(y.shape)}")
    try:
        shape = np.broadcast_shapes(x.shape, y.shape)
    except ValueError:
        raise ValueError(f"[{name}] shapes {tuple(x.shape)} and {tuple(y.shape)} are not "
                         "broadcastable") from None
    xb, yb = np.broadcast_to(x, shape), np.broadcast_to(y, shape)
    if op in ("and", "or", "xor"):
        return _out(getattr(np, name)(xb, yb))
    bits = x.dtype.itemsize * 8
    s = np.clip(yb, 0, bits - 1)
    if op == "right_shift":
        return _out(np.right_shift(xb, s))
    u = np.dtype(f"u{x.dtype.itemsize}")
    return _out(np.left_shift(xb.astype(u), s.astype(u)).astype(x.dtype))


def bitwise_not(x):
    """~x of an int32/int64 buffer (csrc/cuda/bitwise.cu)."""
    a = _a(x, "bitwise_not")
    if a.dtype not in (np.int32, np.int64):
        raise TypeError(f"[bitwise_not] x must be int32 or int64, got {a.dtype} of shape "
                        f"{tuple(a.shape)}")
    return _out(np.invert(a))


def signbit(x):
    """bool: the sign bit of float32/float64 x (-0.0 and negative NaNs too), x < 0 for
    int32/int64 (csrc/cuda/bitwise.cu)."""
    a = _a(x, "signbit")
    if a.dtype == np.bool_:
        raise TypeError(f"[signbit] x must be float32, float64, int32 or int64, got bool of "
                        f"shape {tuple(a.shape)}")
    return _out(np.signbit(a))


KERNEL_ENTRIES = sorted(
    n for n, v in list(globals().items())
    if callable(v) and not n.startswith("_") and n not in (
        "DeviceBuffer", "is_available", "device_count", "device_name", "unavailable_reason",
        "synchronize", "memory_allocated", "memory_reserved", "empty_cache",
        "set_tf32_enabled", "tf32_enabled", "dense_keeps_z"))


# ---- Nadam with its running momentum product on the device ----------------------------------
_nadam_host_product = globals()["nadam_update"]   # the CPU kernel mirror (a float product)


def nadam_update(params, grads, ms, vs, lr, beta1, beta2, epsilon, t, u_product_prev):
    """csrc/cuda/optimizers_extra.cu's Nadam. u_product_prev a float: the new product is
    returned (the CPU kernel's contract); a one-element float32/float64 DeviceBuffer: it is
    read and updated in place (nadam_update_multi_dev + nadam_store_product), None returned."""
    if not isinstance(u_product_prev, DeviceBuffer):
        return _nadam_host_product(params, grads, ms, vs, lr, beta1, beta2, epsilon, t,
                                   u_product_prev)
    u = u_product_prev._arr()
    if u.dtype not in (np.float32, np.float64):
        raise TypeError(f"[nadam] u_product_prev must be float32 or float64, got {u.dtype}")
    if u.size != 1:
        raise ValueError(f"[nadam] u_product_prev must hold one element, got shape "
                         f"{list(u.shape)}")
    u[...] = _nadam_host_product(params, grads, ms, vs, lr, beta1, beta2, epsilon, t,
                                 float(u.reshape(())))


# ---- categorical sampling from device logits (csrc/cuda/random_samplers.cu) -----------------
def categorical_sample(logits, u, dtype="int64"):
    """Samples (rows, n) of softmax(logits) (rows, classes) for the float64 uniforms u
    (rows, n): per row cdf = cumsum(exp(x - max)) / its last entry, the first class whose cdf
    exceeds u; -1 for a row with a NaN or +inf logit or all logits -inf."""
    op = "categorical_sample"
    lg, uu = _a(logits, op, "logits"), _a(u, op, "u")
    if lg.dtype not in (np.float32, np.float64):
        raise TypeError(f"[{op}] logits must be float32 or float64, got {lg.dtype} of shape "
                        f"{tuple(lg.shape)}")
    if uu.dtype != np.float64:
        raise TypeError(f"[{op}] u must be float64, got {uu.dtype} of shape {tuple(uu.shape)}")
    if lg.ndim != 2:
        raise ValueError(f"[{op}] logits must be 2-D (rows, classes), got shape "
                         f"{tuple(lg.shape)}")
    if uu.ndim != 2 or uu.shape[0] != lg.shape[0]:
        raise ValueError(f"[{op}] u must be 2-D (rows, samples) with logits' rows, got logits "
                         f"{tuple(lg.shape)} and u {tuple(uu.shape)}")
    rows, classes = lg.shape
    n = uu.shape[1]
    if classes < 1 and rows and n:
        raise ValueError(f"[{op}] logits must have at least one class, got shape "
                         f"{tuple(lg.shape)}")
    out = _dtype(op, dtype)
    if out not in (np.int32, np.int64):
        raise TypeError(f"[{op}] dtype must be int32 or int64, got {dtype}")
    y = np.full((rows, n), -1, out)
    if not (rows and n):
        return _out(y)
    x = lg.astype(np.float64)
    for r in range(rows):
        if np.isnan(x[r]).any() or np.isposinf(x[r]).any() or np.isneginf(x[r]).all():
            continue
        c = np.cumsum(np.exp(x[r] - x[r].max()))
        c /= c[-1]
        y[r] = np.searchsorted(c, uu[r], side="right")
    return _out(y)


def _philox_state(op, state):
    """A Generator's device state (int64 [3]) as uint64, or None."""
    if state is None:
        return None
    st = _a(state, op, "state")
    if st.dtype != np.int64 or st.shape != (3,):
        raise ValueError(f"[{op}] state must be an int64 buffer of shape [3] (counter_lo, "
                         f"counter_hi, key), got {st.dtype} of shape {list(st.shape)}")
    return np.asarray(st).view(np.uint64)


def _philox_start(op, counter_lo, counter_hi, key, state=None):
    """((counter lo, hi), key) as uint64, each checked to fit (the samplers' bindings take
    uint64 arguments); read from a Generator's device state instead when it is given."""
    lo, hi, k = (int(v) for v in (counter_lo, counter_hi, key))
    if not all(0 <= v < 2 ** 64 for v in (lo, hi, k)):
        raise OverflowError(f"[{op}] counter_lo, counter_hi and key must be uint64")
    st = _philox_state(op, state)
    if st is not None:
        lo, hi, k = (int(v) for v in st)
    return (np.uint64(lo), np.uint64(hi)), np.uint64(k)


def gamma_sample(alpha, counter_lo, counter_hi, key, state=None):
    """Standard Gamma(alpha) samples (float64, alpha's shape), sample i on the Philox
    substream counter + 256 * i under key (or the start in a Generator's device state):
    random_ops.py's _gamma_counter_std, which csrc/cuda/random_samplers.cu's
    gamma_sample_kernel follows step by step."""
    from ..ops.random_ops import _gamma_counter_std
    a = _a(alpha, "gamma_sample", "alpha")
    if a.dtype != np.float64:
        raise TypeError(f"[gamma_sample] alpha must be float64, got {a.dtype} of shape "
                        f"{tuple(a.shape)}")
    counter, k = _philox_start("gamma_sample", counter_lo, counter_hi, key, state)
    return _out(_gamma_counter_std(a, counter, k))


def poisson_sample(lam, counter_lo, counter_hi, key, state=None):
    """Poisson(lam) counts (float64, lam's shape), sample i on the Philox substream
    counter + 256 * i under key (or the start in state): random_ops.py's _poisson_counter,
    which csrc/cuda/random_samplers.cu's poisson_sample_kernel follows step by step."""
    from ..ops.random_ops import _poisson_counter
    a = _a(lam, "poisson_sample", "lam")
    if a.dtype != np.float64:
        raise TypeError(f"[poisson_sample] lam must be float64, got {a.dtype} of shape "
                        f"{tuple(a.shape)}")
    counter, k = _philox_start("poisson_sample", counter_lo, counter_hi, key, state)
    return _out(_poisson_counter(a, counter, k))


def binomial_sample(count, prob, counter_lo, counter_hi, key, state=None):
    """Binomial(count, prob) counts (float64, their shape), sample i on the Philox substream
    counter + 256 * i under key (or the start in state): random_ops.py's _binomial_counter,
    which csrc/cuda/random_samplers.cu's binomial_sample_kernel follows step by step."""
    from ..ops.random_ops import _binomial_counter
    c, p = _a(count, "binomial_sample", "count"), _a(prob, "binomial_sample", "prob")
    if c.dtype != np.float64 or p.dtype != np.float64:
        raise TypeError(f"[binomial_sample] count and prob must be float64, got {c.dtype} "
                        f"{tuple(c.shape)} and {p.dtype} {tuple(p.shape)}")
    if c.shape != p.shape:
        raise ValueError(f"[binomial_sample] count and prob shapes differ: {list(c.shape)} vs "
                         f"{list(p.shape)}")
    counter, k = _philox_start("binomial_sample", counter_lo, counter_hi, key, state)
    return _out(_binomial_counter(c, p, counter, k))


def philox_state_advance(state, n):
    """A new int64 [3] state: state's 128-bit counter (words 0, 1) plus 256 * n, key kept
    (random_ops.py's Generator._advance; random_samplers.cu's philox_state_advance_kernel)."""
    if state is None:
        raise TypeError("[philox_state_advance] state must be a DeviceBuffer, got None")
    st = _philox_state("philox_state_advance", state)
    n = int(n)
    if not 0 <= n <= (2 ** 63 - 1) // 256:
        raise ValueError(f"[philox_state_advance] n must be in [0, 2**55), got {n}")
    c = (int(st[0]) | int(st[1]) << 64) + 256 * n
    c &= (1 << 128) - 1
    return _out(np.array([c & (2 ** 64 - 1), c >> 64, int(st[2])], np.uint64).view(np.int64))


KERNEL_ENTRIES = sorted(KERNEL_ENTRIES + ["categorical_sample", "gamma_sample",
                                          "poisson_sample", "binomial_sample",
                                          "philox_state_advance"])


# ---- grayscale morphology and NMS (csrc/cuda/morphology.cu, nms.cu) --------------------------
def _morph_geom(op, x, f, strides, rates, pads, oh, ow):
    a, k = _a(x, op, "x"), _a(f, op, "filter")
    if a.dtype not in (np.float32, np.float64):
        raise TypeError(f"[{op}] x must be float32 or float64, got {a.dtype} of shape "
                        f"{tuple(a.shape)}")
    if k.dtype != a.dtype:
        raise TypeError(f"[{op}] x and filter dtypes differ: {a.dtype} vs {k.dtype}")
    if a.ndim != 4 or k.ndim != 3:
        raise ValueError(f"[{op}] x must be 4-D (B, H, W, C) and filter 3-D (KH, KW, C), got x "
                         f"{list(a.shape)} and filter {list(k.shape)}")
    if a.shape[3] != k.shape[2]:
        raise ValueError(f"[{op}] x {list(a.shape)} and filter {list(k.shape)} must have the "
                         "same depth")
    for name, p, lo in (("strides", strides, 1), ("rates", rates, 1), ("pads", pads, 0),
                        ("the output size", (oh, ow), 0)):
        p = tuple(int(v) for v in p)
        if len(p) != 2 or min(p) < lo or max(p) > 2 ** 31:
            raise ValueError(f"[{op}] {name} must be in [{lo}, 2^31], got {p}")
    return a, k


def _morph_taps(a, k, strides, rates, pads, oh, ow):
    """(B, oh, ow, taps, C) values x + filter (-inf outside), the input offsets read."""
    B, H, W, C = a.shape
    kh, kw = k.shape[:2]
    (sh, sw), (rh, rw), (pt, pl) = strides, rates, pads
    iy = np.arange(oh)[:, None] * sh + np.arange(kh)[None, :] * rh - pt
    ix = np.arange(ow)[:, None] * sw + np.arange(kw)[None, :] * rw - pl
    ok = ((iy >= 0) & (iy < H))[:, None, :, None] & ((ix >= 0) & (ix < W))[None, :, None, :]
    ok = ok.reshape(oh, ow, kh * kw)
    yy = np.broadcast_to(np.clip(iy, 0, max(H - 1, 0))[:, None, :, None], (oh, ow, kh, kw))
    xx = np.broadcast_to(np.clip(ix, 0, max(W - 1, 0))[None, :, None, :], (oh, ow, kh, kw))
    pix = (yy * W + xx).reshape(oh, ow, kh * kw)
    flat = a.reshape(B, H * W, C)
    v = flat[:, pix] + k.reshape(1, 1, 1, kh * kw, C) if H * W else \
        np.full((B, oh, ow, kh * kw, C), -np.inf, a.dtype)
    v = np.where(ok[None, :, :, :, None], v, a.dtype.type(-np.inf))
    return v, pix


def dilation2d(x, filter, strides, rates, pads, out_hw):  # noqa: A002
    """Grayscale dilation: max over the inside taps of x + filter (lowest value when none)."""
    op = "dilation2d"
    oh, ow = (int(v) for v in out_hw)
    a, k = _morph_geom(op, x, filter, strides, rates, pads, oh, ow)
    B, C = a.shape[0], a.shape[3]
    if k.shape[0] * k.shape[1] == 0:
        return _out(np.full((B, oh, ow, C), np.finfo(a.dtype).min, a.dtype))
    v, _ = _morph_taps(a, k, strides, rates, pads, oh, ow)
    with np.errstate(invalid="ignore"):
        m = v.max(axis=3)
    return _out(np.where(np.isneginf(m), np.finfo(a.dtype).min, m).astype(a.dtype))


def dilation2d_grad(x, filter, gy, strides, rates, pads):  # noqa: A002
    """(gx, gf) of dilation2d: gy at each window's first maximizing tap (TF's fallback for a
    window with none: input (clamped window origin), tap (0, 0))."""
    op = "dilation2d_grad"
    g = _a(gy, op, "gy")
    if g.ndim != 4:
        raise ValueError(f"[{op}] gy must be 4-D (B, OH, OW, C), got {list(g.shape)}")
    oh, ow = g.shape[1], g.shape[2]
    a, k = _morph_geom(op, x, filter, strides, rates, pads, oh, ow)
    if g.dtype != a.dtype:
        raise TypeError(f"[{op}] x and gy dtypes differ: {a.dtype} vs {g.dtype}")
    if g.shape[0] != a.shape[0] or g.shape[3] != a.shape[3]:
        raise ValueError(f"[{op}] gy {list(g.shape)} must be (B, OH, OW, C) for x "
                         f"{list(a.shape)}")
    B, H, W, C = a.shape
    kh, kw = k.shape[:2]
    gx, gf = np.zeros(a.shape, a.dtype), np.zeros(k.shape, a.dtype)
    if g.size == 0 or a.size == 0 or k.size == 0:
        return _out(gx), _out(gf)
    v, pix = _morph_taps(a, k, strides, rates, pads, oh, ow)
    with np.errstate(invalid="ignore"):
        arg = v.argmax(axis=3)  # (B, oh, ow, C): first max; first NaN
        none = np.isneginf(v.max(axis=3))
    (sh, sw), (pt, pl) = strides, pads
    y0 = np.clip(np.arange(oh) * sh - pt, 0, H - 1)
    x0 = np.clip(np.arange(ow) * sw - pl, 0, W - 1)
    p0 = (y0[:, None] * W + x0[None, :])[None, :, :, None]
    oo = np.arange(oh)[None, :, None, None], np.arange(ow)[None, None, :, None]
    src = np.where(none, p0, pix[oo[0], oo[1], arg])
    tap = np.where(none, 0, arg)
    bb = np.broadcast_to(np.arange(B)[:, None, None, None], g.shape)
    cc = np.broadcast_to(np.arange(C)[None, None, None, :], g.shape)
    gxf = gx.reshape(B, H * W, C)
    np.add.at(gxf, (bb, src, cc), g)
    gff = gf.reshape(kh * kw, C)
    np.add.at(gff, (tap, cc), g)
    return _out(gx), _out(gf)


def _nms_iou(bx, i, j):
    y0, y1 = np.minimum(bx[:, 0], bx[:, 2]), np.maximum(bx[:, 0], bx[:, 2])
    x0, x1 = np.minimum(bx[:, 1], bx[:, 3]), np.maximum(bx[:, 1], bx[:, 3])
    area = (y1 - y0) * (x1 - x0)
    ih = np.maximum(np.minimum(y1[i], y1[j]) - np.maximum(y0[i], y0[j]), np.float32(0))
    iw = np.maximum(np.minimum(x1[i], x1[j]) - np.maximum(x0[i], x0[j]), np.float32(0))
    inter = ih * iw
    with np.errstate(divide="ignore", invalid="ignore"):
        r = inter / (area[i] + area[j] - inter)
    return np.where((area[i] <= 0) | (area[j] <= 0), np.float32(0), r)


def _nms_sweep(sim, sc, max_out, thr, st):
    """Sorted sweep over a full (n, n) similarity matrix sim[cand, kept] (nms.cu's order)."""
    n = sc.shape[0]
    order = np.lexsort((np.arange(n), -sc.astype(np.float64)))  # NaN last here: skipped
    removed = np.zeros(n, bool)
    keep = []
    for i in order:
        if len(keep) >= max_out:
            break
        if not sc[i] > st or removed[i]:
            continue
        keep.append(int(i))
        removed |= sim[:, i] > thr
    idx = np.zeros(max_out, np.int32)
    idx[:len(keep)] = keep
    return idx, len(keep)


def _nms_checks(op, m, s, max_output, mname):
    if m.dtype != np.float32 or s.dtype != np.float32:
        raise TypeError(f"[{op}] {mname} and scores must be float32, got {m.dtype} of shape "
                        f"{list(m.shape)} and {s.dtype} of shape {list(s.shape)}")
    mo = int(max_output)
    if mo < 0 or mo > 2 ** 31 - 1:
        raise ValueError(f"[{op}] max_output must be in [0, 2^31 - 1], got {mo}")
    return mo


def nms(boxes, scores, max_output, iou_threshold, score_threshold):
    """Greedy hard NMS of G problems: boxes (G, n, 4), scores (G, n) float32 -> (indices
    (G, max_output) int32 zero-padded, counts (G,) int32) (csrc/cuda/nms.cu)."""
    op = "nms"
    b, s = _a(boxes, op, "boxes"), _a(scores, op, "scores")
    mo = _nms_checks(op, b, s, max_output, "boxes")
    if b.ndim != 3 or b.shape[2] != 4:
        raise ValueError(f"[{op}] boxes must be 3-D (G, n, 4), got {list(b.shape)}")
    if s.shape != b.shape[:2]:
        raise ValueError(f"[{op}] scores must be (G, n) matching boxes {list(b.shape)}, got "
                         f"{list(s.shape)}")
    thr, st = np.float32(iou_threshold), np.float32(score_threshold)
    G, n = s.shape
    idx, cnt = np.zeros((G, mo), np.int32), np.zeros(G, np.int32)
    ii, jj = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    for g in range(G):
        sim = _nms_iou(b[g], ii, jj) if n else np.zeros((0, 0), np.float32)
        idx[g], cnt[g] = _nms_sweep(sim, s[g], mo, thr, st)
    return _out(idx), _out(cnt)


def nms_overlaps(overlaps, scores, max_output, threshold, score_threshold):
    """Greedy hard NMS on an (n, n) overlap matrix (overlaps[candidate, kept]) -> (indices
    (1, max_output), counts (1,))."""
    op = "nms_overlaps"
    o, s = _a(overlaps, op, "overlaps"), _a(scores, op, "scores")
    mo = _nms_checks(op, o, s, max_output, "overlaps")
    if o.ndim != 2 or o.shape[0] != o.shape[1]:
        raise ValueError(f"[{op}] overlaps must be square (n, n), got {list(o.shape)}")
    if s.shape != (o.shape[0],):
        raise ValueError(f"[{op}] scores must be (n,) matching overlaps {list(o.shape)}, got "
                         f"{list(s.shape)}")
    idx, c = _nms_sweep(o, s, mo, np.float32(threshold), np.float32(score_threshold))
    return _out(idx[None]), _out(np.asarray([c], np.int32))


def combined_nms(boxes, scores, max_output_per_class, max_total_size, iou_threshold,
                 score_threshold, clip_boxes):
    """tf.image.combined_non_max_suppression (csrc/cuda/nms.cu's combined_nms): hard NMS of
    each (batch, class) problem keeping min(max_output_per_class, n), then per batch the kept
    candidates in class-major selection order, stably sorted by decreasing score, the first
    max_total_size of them -> (boxes (nb, size, 4), scores, classes (nb, size) float32 zero
    past the valid ones, valid (nb,) int32)."""
    op = "combined_nms"
    b, s = _a(boxes, op, "boxes"), _a(scores, op, "scores")
    mo = _nms_checks(op, b, s, max_output_per_class, "boxes")
    if b.ndim != 4 or b.shape[3] != 4:
        raise ValueError(f"[{op}] boxes must be 4-D (batch, num_boxes, q, 4), got "
                         f"{list(b.shape)}")
    if s.ndim != 3 or s.shape[:2] != b.shape[:2]:
        raise ValueError(f"[{op}] scores must be (batch, num_boxes, num_classes) matching boxes "
                         f"{list(b.shape)}, got {list(s.shape)}")
    nb, n, q, _ = b.shape
    nc = s.shape[2]
    if q not in (1, nc):
        raise ValueError(f"[{op}] boxes' q must be 1 or num_classes={nc}, got boxes "
                         f"{list(b.shape)}")
    size = int(max_total_size)
    if size < 0 or size > 2 ** 31 - 1:
        raise ValueError(f"[{op}] max_total_size must be in [0, 2^31 - 1], got {size}")
    m = min(mo, n)
    thr, st = np.float32(iou_threshold), np.float32(score_threshold)
    ob, osc, ocl = (np.zeros((nb, size, 4), np.float32), np.zeros((nb, size), np.float32),
                    np.zeros((nb, size), np.float32))
    valid = np.zeros(nb, np.int32)
    ii, jj = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    for k in range(nb):
        kept = []   # (score, class, box), class-major in selection order
        for c in range(nc):
            bc = b[k, :, c if q > 1 else 0]
            sim = _nms_iou(bc, ii, jj) if n else np.zeros((0, 0), np.float32)
            idx, cnt = _nms_sweep(sim, s[k, :, c], m, thr, st)
            kept += [(s[k, i, c], c, bc[i]) for i in idx[:cnt]]
        order = sorted(range(len(kept)), key=lambda t: -kept[t][0])   # (stable)
        valid[k] = min(len(kept), size)
        for r, t in enumerate(order[:size]):
            sc, c, box = kept[t]
            ob[k, r] = np.clip(box, np.float32(0), np.float32(1)) if clip_boxes else box
            osc[k, r], ocl[k, r] = sc, c
    return _out(ob), _out(osc), _out(ocl), _out(valid)


KERNEL_ENTRIES = sorted(KERNEL_ENTRIES + ["dilation2d", "dilation2d_grad", "nms",
                                          "nms_overlaps", "combined_nms"])


def draw_boxes(images, boxes, colors):
    """images with the outlines of boxes (n, k, 4) float32, box j in colors[j % nt]; the last
    box wins where outlines cross (csrc/cuda/draw_boxes.cu)."""
    op = "draw_boxes"
    img, b, t = _a(images, op, "images"), _a(boxes, op, "boxes"), _a(colors, op, "colors")
    if img.dtype not in (np.float32, np.float64):
        raise TypeError(f"[{op}] images must be float32 or float64, got {img.dtype}")
    if b.dtype != np.float32:
        raise TypeError(f"[{op}] boxes must be float32, got {b.dtype} of shape {list(b.shape)}")
    if t.dtype != img.dtype:
        raise TypeError(f"[{op}] images and colors dtypes differ: {img.dtype} vs {t.dtype}")
    if img.ndim != 4:
        raise ValueError(f"[{op}] images must be 4-D (batch, H, W, depth), got "
                         f"{list(img.shape)}")
    n, h, w, depth = img.shape
    if b.ndim != 3 or b.shape[0] != n or b.shape[2] != 4:
        raise ValueError(f"[{op}] boxes must be (batch={n}, num_boxes, 4), got {list(b.shape)}")
    if t.ndim != 2 or t.shape[1] != depth or (t.shape[0] == 0 and b.shape[1] > 0):
        raise ValueError(f"[{op}] colors must be (num_colors >= 1, depth={depth}), got "
                         f"{list(t.shape)}")
    out = img.copy()
    k = b.shape[1]
    if out.size == 0 or k == 0:
        return _out(out)
    with np.errstate(invalid="ignore", over="ignore"):
        lim = np.float32(2.0 ** 31)
        ry = np.clip(b[..., [0, 2]] * np.float32(h - 1), -lim, lim)
        rx = np.clip(b[..., [1, 3]] * np.float32(w - 1), -lim, lim)
        ok = np.isfinite(b).all(axis=2)
        ry = np.trunc(np.where(ok[..., None], ry, 0)).astype(np.int64)
        rx = np.trunc(np.where(ok[..., None], rx, 0)).astype(np.int64)
    yy = np.arange(h)[:, None]
    xx = np.arange(w)[None, :]
    for bi in range(n):
        for j in range(k):  # in order: a later box overwrites
            (r0, r1), (c0, c1) = ry[bi, j], rx[bi, j]
            if not ok[bi, j] or r0 > r1 or c0 > c1:
                continue
            row = ((yy == r0) | (yy == r1)) & (xx >= c0) & (xx <= c1)
            col = ((xx == c0) | (xx == c1)) & (yy >= r0) & (yy <= r1)
            out[bi][row | col] = t[j % t.shape[0]]
    return _out(out)


KERNEL_ENTRIES = sorted(KERNEL_ENTRIES + ["draw_boxes"])


def soft_nms(boxes, scores, max_output, score_threshold, scale):
    """Gaussian Soft-NMS of G problems (scale = -0.5 / sigma): (indices, scores (G,
    max_output) zero-padded, counts (G,)) (csrc/cuda/nms.cu's soft_nms_kernel)."""
    op = "soft_nms"
    b, s = _a(boxes, op, "boxes"), _a(scores, op, "scores")
    mo = _nms_checks(op, b, s, max_output, "boxes")
    if b.ndim != 3 or b.shape[2] != 4:
        raise ValueError(f"[{op}] boxes must be 3-D (G, n, 4), got {list(b.shape)}")
    if s.shape != b.shape[:2]:
        raise ValueError(f"[{op}] scores must be (G, n) matching boxes {list(b.shape)}, got "
                         f"{list(s.shape)}")
    if not float(scale) < 0:
        raise ValueError(f"[{op}] scale (-0.5 / sigma) must be negative, got {scale}")
    sc32, st = np.float32(scale), np.float32(score_threshold)
    G, n = s.shape
    idx, osc = np.zeros((G, mo), np.int32), np.zeros((G, mo), np.float32)
    cnt = np.zeros(G, np.int32)
    ii, jj = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    for g in range(G):
        sim = _nms_iou(b[g], ii, jj) if n else np.zeros((0, 0), np.float32)
        cur = s[g].copy()
        begin = np.zeros(n, np.int64)
        alive = cur > st
        kept = []
        while len(kept) < mo and alive.any():
            cand = np.flatnonzero(alive)
            i = int(cand[np.argmax(cur[cand])])  # first maximum: the lower index
            alive[i] = False
            orig = score = cur[i]
            with np.errstate(over="ignore", under="ignore"):
                for j in reversed(kept[begin[i]:]):
                    score = np.float32(score * np.exp(sc32 * sim[i, j] * sim[i, j]))
                    if score <= st:
                        break
            if score == orig:
                osc[g, len(kept)] = score
                kept.append(i)
            elif score > st:
                cur[i], begin[i], alive[i] = score, len(kept), True
        cnt[g] = len(kept)
        idx[g, :len(kept)] = kept
    return _out(idx), _out(osc), _out(cnt)


KERNEL_ENTRIES = sorted(KERNEL_ENTRIES + ["soft_nms"])

KERNEL_ENTRIES = sorted(KERNEL_ENTRIES + ["complex_unary", "complex_binary", "complex_prod",
                                          "fft_c2c", "fft_hermitian"])
