"""GPU arrays and device placement.

`DeviceArray` is the storage of a GPU tensor: a C-contiguous array in a CUDA `DeviceBuffer`
(nabi._C.cuda_backend), with enough of NumPy's ndarray interface -- operators, methods, and
the `__array_ufunc__` / `__array_function__` protocols -- that the ops in nabi.ops, written
against NumPy, run on the GPU unchanged: `np.add(a, b)` on two DeviceArrays calls the CUDA
`binary("add", ...)` kernel. Every operation runs on the device; a host array of more than one
element meeting a device array is an error (no silent copies), and so is `np.asarray(device_
array)`: `.get()` (or `Tensor.numpy()`) is the explicit copy to the host.

Strided views (transposes, steps, broadcasts) are materialised by the `strided_copy` kernel;
reshapes and leading-axis slices are `DeviceBuffer.view`s that share memory, as NumPy's do.

The backend is the real CUDA module, or, with NABI_EMULATE_CUDA=1, the NumPy emulator
(nabi.framework.cuda_emulator) that lets this layer be tested without a GPU.
"""
import contextlib
import math
import os
import threading

import numpy as np

from .. import _C

_state = threading.local()
_BACKEND = [None]
_GPU_NAMES = ("gpu", "cuda")


def emulated():
    return os.environ.get("NABI_EMULATE_CUDA", "") not in ("", "0")


def backend():
    """The CUDA kernel module: nabi._C.cuda_backend, or the emulator."""
    if _BACKEND[0] is None:
        if emulated():
            from . import cuda_emulator
            _BACKEND[0] = cuda_emulator
        else:
            _BACKEND[0] = _C.cuda_backend
        from .. import config
        if config.experimental._tf32 and gpu_available():
            _BACKEND[0].set_tf32_enabled(True)
    return _BACKEND[0]


def gpu_available():
    from .. import config
    if not config._gpu_visible():
        return False
    if emulated():
        return True
    return bool(_C.built_with_cuda) and bool(_C.cuda_backend.is_available())


# ---- device names ------------------------------------------------------------------------------
def parse_device(name):
    """'cpu', 'cuda', 'cuda:0', '/GPU:0', '/device:GPU:0', '/job:.../device:CPU:0', a DeviceSpec
    -> 'cpu' or 'cuda'. Raises for other names."""
    if name is None:
        return None
    s = str(name).strip().lower()
    if not s:
        return None
    last = s.rsplit("/", 1)[-1]
    if last.startswith("device:"):
        last = last[len("device:"):]
    kind, _, idx = last.partition(":")
    if kind in _GPU_NAMES:
        if idx not in ("", "0", "*"):
            raise ValueError(f"[device] {name!r}: only device 0 is supported")
        return "cuda"
    if kind == "cpu":
        return "cpu"
    raise ValueError(f"[device] unknown device {name!r} (use 'cpu', 'cuda:0', '/CPU:0' or '/GPU:0')")


def require_gpu(op, name):
    if not gpu_available():
        from .. import cuda
        if not cuda.is_built() and not emulated():
            why = "nabi was built without CUDA"
        else:
            from .. import config
            why = ("GPUs are hidden by nabi.config.set_visible_devices" if not config._gpu_visible()
                   else "no GPU was found (" + _C.cuda_backend.unavailable_reason() + ")")
        raise RuntimeError(f"[{op}] device {name!r} is not available: {why}")


def current_device():
    """Where new tensors go: the innermost `nabi.device(...)` scope, else the GPU when one is
    available (as TensorFlow places ops), else the CPU."""
    stack = getattr(_state, "stack", None)
    if stack:
        return stack[-1]
    return "cuda" if gpu_available() else "cpu"


def push_device(kind):
    if not hasattr(_state, "stack"):
        _state.stack = []
    _state.stack.append(kind)


def pop_device():
    _state.stack.pop()


@contextlib.contextmanager
def host_scope():
    """New tensors stay on the host inside the block (graph-construction probes, Keras initial
    values built before the Variable places them, the optimizers' host scalars)."""
    push_device("cpu")
    try:
        yield
    finally:
        pop_device()


_WIDENED = set()


def _warn_widened(dtype, to):
    """Once per dtype: the GPU keeps no 8/16-bit or unsigned types, so such data is widened on
    the way there -- values are kept (uint64 values int64 cannot hold raise instead, see
    DeviceArray.from_numpy), but the tensor's dtype (and anything that depends on its range,
    like tf.image.convert_image_dtype) then says `to`."""
    if dtype.name in _WIDENED:
        return
    _WIDENED.add(dtype.name)
    import warnings
    warnings.warn(f"nabi: {dtype.name} data placed on the GPU is stored as {to} (the GPU "
                  f"backend has no {dtype.name} type): the values are kept but the tensor's "
                  f"dtype is {to}. Convert on the host first (x.astype('float32') / 255 for "
                  "images) where the dtype matters", stacklevel=4)


def to_device(arr, kind):
    """arr (ndarray or DeviceArray) on `kind` ('cpu' / 'cuda'); no copy when it is there."""
    if kind == "cuda":
        if type(arr) is DeviceArray:
            return arr
        return DeviceArray.from_numpy(arr)
    if type(arr) is DeviceArray:
        return arr.get()
    return arr


def place(arr):
    """A new host array, moved to the current device (the tensor constructors' placement)."""
    if type(arr) is np.ndarray and arr.dtype.kind in "biufc" and current_device() == "cuda":
        return DeviceArray.from_numpy(arr)
    return arr


def to_gpu_all(arrs, value_range=False):
    """to_device(..., "cuda") over a list/tuple/dict of arrays (None and non-arrays pass).
    value_range=True also records each non-empty integer array's (min, max), taken on the
    host, as the copy's value_range (for arrays the caller alone holds: see DeviceArray)."""
    if arrs is None:
        return None
    if type(arrs) is np.ndarray:
        if arrs.dtype.kind not in "biufc":
            return arrs
        d = DeviceArray.from_numpy(arrs)
        if value_range and arrs.dtype.kind in "iu" and arrs.size:
            d.value_range = (int(arrs.min()), int(arrs.max()))
        return d
    if isinstance(arrs, (list, tuple)):
        return type(arrs)(to_gpu_all(a, value_range) for a in arrs)
    if isinstance(arrs, dict):
        return {k: to_gpu_all(v, value_range) for k, v in arrs.items()}
    return arrs


def known_range(a):
    """(lo, hi) with lo <= every value of the integer GPU array `a` <= hi, known on the host
    without reading the GPU; None when unknown (host arrays: check them directly). Exact (min,
    max) at upload (to_gpu_all(..., value_range=True)); a bound after the views that keep a
    subset of the values (reshape, expand_dims, squeeze, basic slicing, integer widening)."""
    return a.value_range if type(a) is DeviceArray and a.dtype.kind in "iu" else None


def in_range(a, n):
    """Whether a's known range shows every value in [0, n) (False: unknown, or not shown)."""
    r = known_range(a)
    return r is not None and r[0] >= 0 and r[1] < n


def _keep_range(src, dst):
    """dst, a view of src's values (or a subset of them), keeps src's known range."""
    if src.value_range is not None and dst is not src and dst.dtype.kind in "iu":
        dst.value_range = src.value_range
    return dst


def take(a, indices, axis, checked=False):
    """np.take(a, indices, axis) of a GPU array by GPU indices (int32 / int64); checked=True:
    the caller has bounded the indices to [0, n), so the kernel reads no flag back."""
    return DeviceArray(backend().take(a.buf, indices.buf, int(axis) % a.ndim, checked=checked))


def asarray(a, dtype=None, order=None, **kw):
    """np.asarray that leaves GPU arrays on the GPU (cast when dtype differs)."""
    if type(a) is DeviceArray:
        return a if dtype is None or np.dtype(dtype) == a.dtype else a.astype(dtype)
    return np.asarray(a, dtype=dtype, order=order, **kw)


# ---- DeviceArray -------------------------------------------------------------------------------
_DTYPES = {"float32", "float64", "int32", "int64", "bool", "complex64", "complex128"}
_NP_DTYPES = {n: np.dtype(n) for n in _DTYPES}


def _err(op, msg):
    return ValueError(f"[{op}] {msg}")


class _Flags:
    c_contiguous = True
    f_contiguous = False
    writeable = True
    owndata = True


_FLAGS = _Flags()


def _float_pair(a, b):
    """Two device arrays of one float dtype: the common case inside the ops, which goes
    straight to the binary kernel without the general path's checks."""
    return type(a) is DeviceArray and type(b) is DeviceArray and a.dtype is b.dtype and \
        a.dtype.kind == "f"


def _fast_binary(op, ufunc):
    """An operator that skips NumPy's __array_ufunc__ dispatch (several microseconds) for a
    _float_pair; everything else takes the ufunc's general path."""
    def operator(self, o):
        if _float_pair(self, o):
            return DeviceArray(backend().binary(op, self.buf, o.buf))
        return ufunc(self, o)
    return operator


class DeviceArray:
    """A C-contiguous n-d array in GPU memory (see the module docstring)."""

    # value_range: (min, max) of an integer array, known on the host without reading the GPU
    # (None when unknown). Only to_gpu_all(..., value_range=True) sets it, on the batch arrays
    # of a Keras train/test/predict step that no one else holds (and the Keras preprocessing
    # layers, on the fresh ids of their 'int' outputs: preprocessing._encode_gpu), so no
    # in-place write can outdate it (a write through __setitem__ drops it); reshape / astype
    # (integers) / basic slicing keep it as a bound. The sparse cross-entropy, gather and
    # Embedding check their ids against it (known_range) instead of reading a flag back (a
    # synchronisation a step).
    __slots__ = ("buf", "shape", "dtype", "value_range", "__weakref__")
    __array_priority__ = 2000
    device = "cuda:0"
    flags = _FLAGS

    def __init__(self, buf):
        self.buf = buf
        self.shape = tuple(buf.shape)
        self.dtype = _NP_DTYPES[buf.dtype]
        self.value_range = None

    # -- construction / transfer ------------------------------------------------------------
    @staticmethod
    def from_numpy(arr):
        arr = np.asarray(arr)
        if arr.dtype.name not in _DTYPES:
            if arr.dtype.kind in "iu":
                if arr.dtype == np.uint64 and arr.size and arr.max() > np.iinfo(np.int64).max:
                    # int64 would wrap them: an error, so that the widening keeps every value
                    raise ValueError(
                        f"[to_device] a uint64 array of shape {arr.shape} holds values >= 2**63 "
                        f"(max {int(arr.max())}) that the GPU's int64 storage cannot hold (the "
                        "GPU backend has no uint64 type); keep it on the host (create it under "
                        "tf.device('/CPU:0')) or reduce its range first")
                _warn_widened(arr.dtype, "int64")
                arr = arr.astype(np.int64)
            elif arr.dtype.kind == "f":
                if arr.dtype.itemsize < 4:
                    _warn_widened(arr.dtype, "float32")
                arr = arr.astype(np.float32 if arr.dtype.itemsize <= 4 else np.float64)
            elif arr.dtype.kind == "c":  # complex256 and the like: complex128
                arr = arr.astype(np.complex128)
            else:
                raise TypeError(f"[to_device] dtype {arr.dtype} cannot live on the GPU "
                                "(float32, float64, int32, int64, bool, complex64, complex128)")
        return DeviceArray(backend().DeviceBuffer.from_numpy(arr if arr.flags.c_contiguous else arr.copy()))

    @staticmethod
    def empty(shape, dtype):
        return DeviceArray(backend().DeviceBuffer.empty(list(shape), np.dtype(dtype).name))

    @staticmethod
    def full(shape, value, dtype):
        dtype = np.dtype(dtype)
        if dtype.kind == "c":
            v = complex(value)
            if v.imag == 0:  # the kernel fills (value, 0)
                return DeviceArray(backend().fill(list(shape), v.real, dtype.name))
            part = "float32" if dtype == np.complex64 else "float64"
            return DeviceArray(backend().complex_binary(
                "make", backend().fill(list(shape), v.real, part),
                backend().fill(list(shape), v.imag, part)))
        return DeviceArray(backend().fill(list(shape), float(value), dtype.name))

    def get(self):
        """A host copy (a NumPy array)."""
        return self.buf.numpy()

    def __array__(self, dtype=None, copy=None):
        raise TypeError(f"[device] a {self.dtype.name} array of shape {self.shape} on {self.device} "
                        "cannot be used as a host array implicitly; copy it with .numpy() / .cpu()")

    # -- ndarray attributes -------------------------------------------------------------------
    ndim = property(lambda self: len(self.shape))
    size = property(lambda self: math.prod(self.shape))
    itemsize = property(lambda self: self.dtype.itemsize)
    nbytes = property(lambda self: self.size * self.dtype.itemsize)
    T = property(lambda self: self.transpose())
    strides = property(lambda self: tuple(
        math.prod(self.shape[i + 1:]) * self.dtype.itemsize for i in range(self.ndim)))

    def __len__(self):
        if not self.shape:
            raise TypeError("len() of unsized object")
        return self.shape[0]

    def __repr__(self):
        return f"DeviceArray({self.get()!r}, device={self.device})"

    __str__ = __repr__

    def item(self):
        if self.size != 1:
            raise ValueError("can only convert an array of size 1 to a Python scalar")
        return self.get().reshape(()).item()

    def tolist(self):
        return self.get().tolist()

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __index__(self):
        if self.dtype.kind not in "iu":
            raise TypeError("only integer arrays can be used as an index")
        return int(self.item())

    def __bool__(self):
        return bool(self.item())

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    # -- shape methods ------------------------------------------------------------------------
    def reshape(self, *shape, order="C"):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = shape[0]
        shape = [int(s) for s in shape]
        if shape.count(-1) > 1:
            raise ValueError("can only specify one unknown dimension")
        if -1 in shape:
            known = math.prod(s for s in shape if s != -1)
            if known == 0 or self.size % known:
                raise ValueError(f"cannot reshape array of size {self.size} into shape {tuple(shape)}")
            shape[shape.index(-1)] = self.size // known
        if math.prod(shape) != self.size:
            raise ValueError(f"cannot reshape array of size {self.size} into shape {tuple(shape)}")
        if tuple(shape) == self.shape:
            return self
        return _keep_range(self, DeviceArray(self.buf.view(shape, 0)))

    def ravel(self, order="C"):
        return self.reshape(-1)

    flatten = ravel

    def _strided(self, shape, strides, offset):
        """A contiguous copy of the view (shape, element strides, element offset)."""
        return DeviceArray(backend().strided_copy(self.buf, list(shape), list(strides), int(offset)))

    def _estrides(self):
        st, acc = [], 1
        for s in reversed(self.shape):
            st.append(acc)
            acc *= s
        return st[::-1]

    def transpose(self, *axes):
        if len(axes) == 1 and isinstance(axes[0], (tuple, list, np.ndarray)):
            axes = tuple(axes[0])
        if not axes:
            axes = tuple(range(self.ndim))[::-1]
        axes = [int(a) % self.ndim if self.ndim else 0 for a in axes]
        if sorted(axes) != list(range(self.ndim)):
            raise ValueError(f"axes {axes} don't match array of rank {self.ndim}")
        if axes == list(range(self.ndim)):
            return self
        st = self._estrides()
        kept = [a for a in axes if self.shape[a] != 1]
        if kept == sorted(kept):  # only size-1 axes move: a reshape
            return self.reshape([self.shape[a] for a in axes])
        return self._strided([self.shape[a] for a in axes], [st[a] for a in axes], 0)

    def swapaxes(self, a, b):
        ax = list(range(self.ndim))
        ax[a], ax[b] = ax[b], ax[a]
        return self.transpose(ax)

    def squeeze(self, axis=None):
        return _squeeze(self, axis)

    def astype(self, dtype, copy=True, casting=None):
        dtype = np.dtype(dtype)
        if dtype == self.dtype:
            return self.copy() if copy else self
        if dtype.name not in _DTYPES:
            raise TypeError(f"[cast] dtype {dtype} cannot live on the GPU")
        r = DeviceArray(backend().cast(self.buf, dtype.name))
        rng = self.value_range
        if rng is not None and dtype.kind in "iu" and \
                np.iinfo(dtype).min <= rng[0] and rng[1] <= np.iinfo(dtype).max:
            r.value_range = rng  # an integer cast that keeps every value
        return r

    def copy(self, order="C"):
        return _keep_range(self, DeviceArray(backend().strided_copy(
            self.buf, list(self.shape), self._estrides(), 0))) \
            if self.size else DeviceArray.empty(self.shape, self.dtype)

    # copy.copy / copy.deepcopy copy on the device (the CUDA DeviceBuffer itself cannot be
    # pickled or copied by the copy module); pickling goes through the host and rebuilds the
    # array on the GPU when it is loaded.
    def __copy__(self):
        return self.copy()

    def __deepcopy__(self, memo):
        return self.copy()

    def __reduce__(self):
        return (DeviceArray.from_numpy, (self.get(),))

    def fill(self, value):
        self[...] = value

    def view(self, dtype=None):
        if dtype is None or np.dtype(dtype) == self.dtype:
            return DeviceArray(self.buf.view(list(self.shape), 0))
        raise TypeError("[device] reinterpreting a device array's dtype is not supported")

    # -- reductions ---------------------------------------------------------------------------
    def _reduce(self, op, axis=None, dtype=None, keepdims=False, out=None, initial=None, where=None):
        if out is not None or initial is not None or where is not None:
            raise TypeError(f"[device] {op}: out=/initial=/where= are not supported on the GPU")
        axes = _axes(axis, self.ndim)
        x = self
        if x.dtype.kind == "c":
            if op not in ("sum", "mean", "prod") or \
                    (dtype is not None and np.dtype(dtype) != x.dtype):
                raise TypeError(f"[device] {op} of a complex GPU array is not supported (sum, "
                                "mean, prod are)")
            if op == "prod":
                return _complex_prod(x, axes, keepdims)
            re, im = (_complex_part(x, p)._reduce(op, axis, None, keepdims)
                      for p in ("real", "imag"))
            return DeviceArray(backend().complex_binary("make", re.buf, im.buf))
        if op in ("sum", "prod", "mean") and x.dtype == np.bool_:
            x = x.astype(np.int64 if op != "mean" else np.float64)
        if op in ("sum", "prod") and x.dtype.kind in "iu" and x.dtype.itemsize < 8:
            x = x.astype(np.int64)  # NumPy sums small ints in the platform integer
        if dtype is not None and op in ("sum", "prod", "mean") and x.dtype != np.dtype(dtype):
            x = x.astype(dtype)  # NumPy accumulates in the requested dtype
        if op in ("max", "min") and x.dtype == np.bool_:
            r = DeviceArray(backend().reduce("any" if op == "max" else "all", x.buf, list(axes)))
        elif op in ("any", "all") and x.dtype != np.bool_:
            r = DeviceArray(backend().reduce(op, (x != 0).buf, list(axes)))
        else:
            r = DeviceArray(backend().reduce(op, x.buf, list(axes)))
        if dtype is not None and np.dtype(dtype) != r.dtype:
            r = r.astype(dtype)
        if keepdims:
            r = r.reshape([1 if i in axes else s for i, s in enumerate(self.shape)])
        return r

    def sum(self, axis=None, dtype=None, keepdims=False, **kw):
        return self._reduce("sum", axis, dtype, keepdims, **kw)

    def mean(self, axis=None, dtype=None, keepdims=False, **kw):
        return self._reduce("mean", axis, dtype, keepdims, **kw)

    def prod(self, axis=None, dtype=None, keepdims=False, **kw):
        return self._reduce("prod", axis, dtype, keepdims, **kw)

    def max(self, axis=None, keepdims=False, **kw):
        return self._reduce("max", axis, None, keepdims, **kw)

    def min(self, axis=None, keepdims=False, **kw):
        return self._reduce("min", axis, None, keepdims, **kw)

    def any(self, axis=None, keepdims=False, **kw):
        return self._reduce("any", axis, None, keepdims, **kw)

    def all(self, axis=None, keepdims=False, **kw):
        return self._reduce("all", axis, None, keepdims, **kw)

    def var(self, axis=None, dtype=None, keepdims=False, ddof=0):
        m = self.mean(axis, keepdims=True)
        d = self - m
        r = (d * d).sum(axis, keepdims=keepdims)
        n = self.size // max(r.size, 1) if r.size else 0
        return r / max(n - ddof, 0)

    def std(self, axis=None, dtype=None, keepdims=False, ddof=0):
        return np.sqrt(self.var(axis, keepdims=keepdims, ddof=ddof))

    def _arg(self, op, axis=None, keepdims=False):
        x = self if axis is not None else self.reshape(-1)
        ax = 0 if axis is None else int(axis) % max(self.ndim, 1)
        if x.dtype == np.bool_:
            x = x.astype(np.int32)
        r = DeviceArray(backend().arg_reduce(op, x.buf, ax))
        if keepdims:
            r = r.reshape([1 if (axis is None or i == ax) else s for i, s in enumerate(self.shape)])
        return r

    def argmax(self, axis=None, keepdims=False, out=None):
        return self._arg("argmax", axis, keepdims)

    def argmin(self, axis=None, keepdims=False, out=None):
        return self._arg("argmin", axis, keepdims)

    def clip(self, a_min=None, a_max=None):
        return _clip(self, a_min, a_max)

    def round(self, decimals=0):
        return _around(self, decimals)

    # -- indexing -----------------------------------------------------------------------------
    def __getitem__(self, idx):
        return _getitem(self, idx)

    def __setitem__(self, idx, value):
        _setitem(self, idx, value)

    # -- NumPy protocols ----------------------------------------------------------------------
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        return _ufunc(ufunc, method, inputs, kwargs)

    def __array_function__(self, func, types, args, kwargs):
        impl = _FUNCS.get(func)
        if impl is None:
            raise TypeError(f"[device] np.{func.__name__} has no GPU implementation in nabi "
                            "(arrays on cuda:0); copy to the host with .numpy() if you need it")
        return impl(*args, **kwargs)

    # -- operators ----------------------------------------------------------------------------
    __add__ = _fast_binary("add", np.add)
    __sub__ = _fast_binary("sub", np.subtract)
    __mul__ = _fast_binary("mul", np.multiply)
    __truediv__ = _fast_binary("div", np.true_divide)
    def __radd__(self, o): return np.add(o, self)
    def __rsub__(self, o): return np.subtract(o, self)
    def __rmul__(self, o): return np.multiply(o, self)
    def __rtruediv__(self, o): return np.true_divide(o, self)
    def __floordiv__(self, o): return np.floor_divide(self, o)
    def __rfloordiv__(self, o): return np.floor_divide(o, self)
    def __mod__(self, o): return np.mod(self, o)
    def __rmod__(self, o): return np.mod(o, self)
    def __pow__(self, o): return np.power(self, o)
    def __rpow__(self, o): return np.power(o, self)
    def __matmul__(self, o): return np.matmul(self, o)
    def __rmatmul__(self, o): return np.matmul(o, self)
    def __neg__(self): return np.negative(self)
    def __pos__(self): return self
    def __abs__(self): return np.abs(self)
    def __invert__(self): return np.invert(self)
    def __and__(self, o): return np.bitwise_and(self, o)
    def __or__(self, o): return np.bitwise_or(self, o)
    def __xor__(self, o): return np.bitwise_xor(self, o)
    def __lt__(self, o): return np.less(self, o)
    def __le__(self, o): return np.less_equal(self, o)
    def __gt__(self, o): return np.greater(self, o)
    def __ge__(self, o): return np.greater_equal(self, o)
    def __eq__(self, o): return np.equal(self, o)
    def __ne__(self, o): return np.not_equal(self, o)
    def __iadd__(self, o): return np.add(self, o, out=self)
    def __isub__(self, o): return np.subtract(self, o, out=self)
    def __imul__(self, o): return np.multiply(self, o, out=self)
    def __itruediv__(self, o): return np.true_divide(self, o, out=self)
    __hash__ = None


# ---- helpers -----------------------------------------------------------------------------------
def _axes(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, (int, np.integer)):
        axis = (axis,)
    out = []
    for a in axis:
        a = int(a)
        if not -ndim <= a < max(ndim, 1):
            raise np.exceptions.AxisError(a, ndim)
        out.append(a % ndim if ndim else 0)
    return tuple(sorted(set(out)))


def _is_dev(x):
    return type(x) is DeviceArray


_SCALARS = {}


def _scalar_constant(shape, value, dtype):
    """A device array holding one scalar operand (`x * 2.0`, `1 - p`): cached, so the same
    constant costs one fill kernel per process rather than one per op. Operands are only ever
    read by the kernels, never written. -0.0 and 0.0 are kept apart; NaN is not cached."""
    key = (id(backend()), shape, dtype.str, value,
           math.copysign(1.0, value) if isinstance(value, float) else 0)
    r = _SCALARS.get(key)
    if r is None:
        r = DeviceArray.full(shape, value, dtype)
        if value == value:
            if len(_SCALARS) >= 1024:
                _SCALARS.clear()
            _SCALARS[key] = r
    return r


def _operand(x, like_dtype, op):
    """A DeviceArray for x: device arrays pass; scalars (Python, NumPy, 0-d / 1-element arrays)
    are filled on the device; larger host arrays are an error (no silent copies)."""
    if _is_dev(x):
        return x
    if isinstance(x, (bool, int, float, complex, np.generic)) or \
            (isinstance(x, np.ndarray) and x.size == 1):
        a = np.asarray(x)
        if isinstance(x, bool):
            dt = np.dtype(np.bool_)
        elif isinstance(x, int) and not isinstance(x, bool):
            dt = like_dtype if like_dtype.kind in "iufc" else np.dtype(np.int64)
        elif isinstance(x, float):
            dt = like_dtype if like_dtype.kind in "fc" else np.dtype(np.float64)
        elif isinstance(x, complex):
            dt = like_dtype if like_dtype.kind == "c" else np.dtype(
                np.complex64 if like_dtype == np.float32 else np.complex128)
        else:
            dt = a.dtype
        return _scalar_constant(a.shape, a.reshape(()).item(), dt)
    if isinstance(x, np.ndarray):
        raise ValueError(f"[{op}] operands are on different devices: a host array of shape "
                         f"{x.shape} and a cuda:0 array; move it with nabi's .cuda() / .cpu()")
    if isinstance(x, (list, tuple)):
        return _operand(np.asarray(x), like_dtype, op)
    raise TypeError(f"[{op}] unsupported operand {type(x).__name__} for a cuda:0 array")


def _operands(op, xs):
    like = next((x.dtype for x in xs if _is_dev(x)), np.dtype(np.float32))
    ds = [_operand(x, like, op) for x in xs]
    dt = ds[0].dtype
    for d in ds[1:]:
        if d.dtype != dt:
            dt = np.result_type(dt, d.dtype)
    return [d if d.dtype == dt else d.astype(dt) for d in ds], dt


_UNARY = {np.negative: "neg", np.absolute: "abs", np.sign: "sign", np.square: "square",
          np.exp: "exp", np.expm1: "expm1", np.log: "log", np.log1p: "log1p", np.sqrt: "sqrt",
          np.reciprocal: "reciprocal", np.sin: "sin", np.cos: "cos", np.tan: "tan",
          np.arcsin: "asin", np.arccos: "acos", np.arctan: "atan", np.sinh: "sinh",
          np.cosh: "cosh", np.tanh: "tanh", np.arcsinh: "asinh", np.arccosh: "acosh",
          np.arctanh: "atanh", np.floor: "floor", np.ceil: "ceil", np.rint: "rint",
          np.logical_not: "logical_not", np.isnan: "isnan", np.isinf: "isinf",
          np.isfinite: "isfinite"}
_FLOAT_ONLY = {"exp", "expm1", "log", "log1p", "sqrt", "reciprocal", "sin", "cos", "tan", "asin",
               "acos", "atan", "sinh", "cosh", "tanh", "asinh", "acosh", "atanh"}
_BINARY = {np.add: "add", np.subtract: "sub", np.multiply: "mul", np.true_divide: "div",
           np.floor_divide: "floordiv", np.remainder: "mod", np.power: "pow",
           np.maximum: "maximum", np.minimum: "minimum", np.arctan2: "atan2", np.equal: "eq",
           np.not_equal: "ne", np.less: "lt", np.less_equal: "le", np.greater: "gt",
           np.greater_equal: "ge", np.logical_and: "logical_and", np.logical_or: "logical_or",
           np.logical_xor: "logical_xor"}
_BINARY_FLOAT = {u: o for u, o in _BINARY.items() if not o.startswith("logical_")}
_BOOL_BITWISE = {np.bitwise_and: "logical_and", np.bitwise_or: "logical_or",
                 np.bitwise_xor: "logical_xor", np.invert: "logical_not"}
_REDUCE_UFUNC = {np.add: "sum", np.multiply: "prod", np.maximum: "max", np.minimum: "min",
                 np.logical_and: "all", np.logical_or: "any"}


def _write_out(out, r):
    """ufunc out=: r written into the existing array `out` (in place, as NumPy does)."""
    if isinstance(out, tuple):
        (out,) = out
    if not _is_dev(out):
        raise ValueError("[device] out= must be a cuda:0 array when the inputs are on the GPU")
    if r.dtype != out.dtype:
        r = r.astype(out.dtype)
    if r.shape != out.shape:
        r = _broadcast_to(r, out.shape)
    out.value_range = None  # new values: the known range no longer holds
    backend().strided_assign(out.buf, list(out.shape), out._estrides(), 0, r.buf)
    return out


_COMPLEX_UNARY = {np.negative: "neg", np.conjugate: "conj", np.absolute: "abs", np.exp: "exp",
                  np.expm1: "expm1", np.log: "log", np.log1p: "log1p", np.sqrt: "sqrt",
                  np.square: "square", np.reciprocal: "reciprocal", np.sign: "sign",
                  np.sin: "sin", np.cos: "cos", np.tan: "tan", np.sinh: "sinh", np.cosh: "cosh",
                  np.tanh: "tanh", np.arcsin: "asin", np.arccos: "acos", np.arctan: "atan",
                  np.arcsinh: "asinh", np.arccosh: "acosh", np.arctanh: "atanh"}
_COMPLEX_BINARY = {np.add: "add", np.subtract: "sub", np.multiply: "mul", np.true_divide: "div",
                   np.power: "pow"}


def _complex_ufunc(ufunc, inputs, kwargs):
    """A ufunc with a complex operand: the complex kernels (csrc/cuda/complex.cu)."""
    out = kwargs.pop("out", None)
    dtype = kwargs.pop("dtype", None)
    kwargs.pop("casting", None)
    name = ufunc.__name__
    if kwargs:
        raise TypeError(f"[device] np.{name}({', '.join(kwargs)}) on complex arrays has no GPU "
                        "implementation")
    ds, dt = _operands(name, inputs)
    if dt.kind != "c":  # a complex scalar met a real array: both complex
        dt = np.dtype(np.complex64 if dt == np.float32 else np.complex128)
        ds = [d.astype(dt) for d in ds]
    cb = backend()
    if len(ds) == 1 and ufunc in _COMPLEX_UNARY:
        r = DeviceArray(cb.complex_unary(_COMPLEX_UNARY[ufunc], ds[0].buf))
    elif len(ds) == 1 and ufunc is np.positive:
        r = ds[0].copy()
    elif len(ds) == 2 and ufunc in _COMPLEX_BINARY:
        r = DeviceArray(cb.complex_binary(_COMPLEX_BINARY[ufunc], ds[0].buf, ds[1].buf))
    elif len(ds) == 2 and ufunc in (np.equal, np.not_equal):
        a, b = ds
        parts = [np.equal(_complex_part(a, p), _complex_part(b, p)) for p in ("real", "imag")]
        r = np.logical_and(*parts)
        if ufunc is np.not_equal:
            r = np.logical_not(r)
    elif len(ds) == 2 and ufunc is np.matmul:
        # four real GEMMs: (ar + i ai)(br + i bi)
        (ar, ai), (br, bi) = ([_complex_part(d, p) for p in ("real", "imag")] for d in ds)
        re, im = _matmul(ar, br) - _matmul(ai, bi), _matmul(ar, bi) + _matmul(ai, br)
        r = DeviceArray(cb.complex_binary("make", re.buf, im.buf))
    else:  # the other complex ufuncs (log2, ...): NumPy on a host copy, then back
        with np.errstate(all="ignore"):
            r = DeviceArray.from_numpy(np.ascontiguousarray(ufunc(*[d.get() for d in ds])))
    if dtype is not None and r.dtype != np.dtype(dtype):
        r = r.astype(dtype)
    return _write_out(out, r) if out is not None else r


def _complex_prod(x, axes, keepdims):
    """np.prod of a complex device array over axes: the reduced axes moved together to the
    end (a copy where they are not), then one complex_prod over them."""
    if x.ndim == 0:
        return x.copy()
    rest = [i for i in range(x.ndim) if i not in axes]
    n = math.prod(x.shape[a] for a in axes)
    t = x.transpose(rest + sorted(axes)).reshape([x.shape[i] for i in rest] + [n])
    r = DeviceArray(backend().complex_prod(t.buf, -1))
    if keepdims:
        r = r.reshape([1 if i in axes else s for i, s in enumerate(x.shape)])
    return r


def _complex_part(x, part):
    """np.real / np.imag of a device array: the part of a complex one (a real one: itself /
    zeros, as NumPy)."""
    if x.dtype.kind == "c":
        return DeviceArray(backend().complex_unary(part, x.buf))
    return x if part == "real" else _like(x)


def _has_complex(inputs):
    return any((_is_dev(i) and i.dtype.kind == "c") or isinstance(i, (complex, np.complexfloating))
               for i in inputs)


def _ufunc(ufunc, method, inputs, kwargs):
    if not kwargs and len(inputs) == 2 and method == "__call__" and _float_pair(*inputs):
        op = _BINARY_FLOAT.get(ufunc)
        if op is not None:
            return DeviceArray(backend().binary(op, inputs[0].buf, inputs[1].buf))
    if method == "__call__" and _has_complex(inputs):
        return _complex_ufunc(ufunc, inputs, dict(kwargs))
    out = kwargs.pop("out", None)
    kwargs.pop("casting", None)
    dtype = kwargs.pop("dtype", None)
    if kwargs.pop("where", True) is not True:
        raise TypeError(f"[device] np.{ufunc.__name__}(where=...) is not supported on the GPU")
    if method == "at" and ufunc is np.add and not kwargs and out is None:
        add_at(*inputs)
        return None
    if method == "reduce":
        op = _REDUCE_UFUNC.get(ufunc)
        if op is None:
            raise TypeError(f"[device] np.{ufunc.__name__}.reduce has no GPU implementation")
        (x,) = inputs
        r = x._reduce(op, kwargs.pop("axis", 0), dtype, kwargs.pop("keepdims", False))
        return _write_out(out, r) if out is not None else r
    if method != "__call__" or kwargs:
        raise TypeError(f"[device] np.{ufunc.__name__}.{method}({', '.join(kwargs)}) has no GPU "
                        "implementation")
    name = ufunc.__name__
    if ufunc is np.matmul:
        r = _matmul(*inputs)
    elif ufunc in _UNARY or (ufunc in _BOOL_BITWISE and len(inputs) == 1):
        (x,), _ = _operands(name, inputs)
        op = _UNARY.get(ufunc) or _BOOL_BITWISE[ufunc]
        if op in _FLOAT_ONLY and x.dtype.kind != "f":
            x = x.astype(np.float64)
        if op == "logical_not" and x.dtype != np.bool_:
            if ufunc is np.invert:
                raise TypeError("[device] bitwise invert of integers is not supported on the GPU")
            x = x != 0
        if x.dtype == np.bool_ and op in ("abs", "square"):
            r = x.copy()
        else:
            r = DeviceArray(backend().unary(op, x.buf))
    elif ufunc in _BINARY or ufunc in _BOOL_BITWISE:
        (a, b), dt = _operands(name, inputs)
        op = _BINARY.get(ufunc) or _BOOL_BITWISE[ufunc]
        if ufunc in _BOOL_BITWISE and dt != np.bool_:
            raise TypeError("[device] bitwise ops on integers are not supported on the GPU")
        if op in ("div", "atan2") and dt.kind != "f":
            a, b = a.astype(np.float64), b.astype(np.float64)
        if op.startswith("logical_") and dt != np.bool_:
            a, b = a != 0, b != 0
        if dt == np.bool_ and op in ("add", "mul", "maximum", "minimum"):
            op = {"add": "logical_or", "mul": "logical_and", "maximum": "logical_or",
                  "minimum": "logical_and"}[op]
        r = DeviceArray(backend().binary(op, a.buf, b.buf))
    else:
        raise TypeError(f"[device] np.{name} has no GPU implementation in nabi (arrays on "
                        "cuda:0); copy to the host with .numpy() if you need it")
    if dtype is not None and r.dtype != np.dtype(dtype):
        r = r.astype(dtype)
    return _write_out(out, r) if out is not None else r


def _matmul(a, b):
    (a, b), _ = _operands("matmul", (a, b))
    if a.dtype.kind != "f":
        raise TypeError(f"[matmul] GPU matmul takes float32/float64, got {a.dtype}")
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError("[matmul] operands must not be scalars")
    va, vb = a.ndim == 1, b.ndim == 1
    if va:
        a = a.reshape(1, -1)
    if vb:
        b = b.reshape(-1, 1)
    if a.shape[-1] != b.shape[-2]:
        raise ValueError(f"[matmul] inner dimensions differ: {a.shape} @ {b.shape}")
    cb = backend()
    if a.ndim == 2 and b.ndim == 2:
        r = DeviceArray(cb.matmul(a.buf, b.buf))
    else:
        batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
        nb = math.prod(batch)
        a3 = _broadcast_to(a, batch + a.shape[-2:]).reshape(nb, *a.shape[-2:])
        if b.ndim == 2 and a.ndim > 2:  # (..., M, K) @ (K, N): one 2-D GEMM
            r = DeviceArray(cb.matmul(a3.reshape(-1, a.shape[-1]).buf, b.buf))
            r = r.reshape(batch + (a.shape[-2], b.shape[-1]))
        else:
            b3 = _broadcast_to(b, batch + b.shape[-2:]).reshape(nb, *b.shape[-2:])
            r = DeviceArray(cb.matmul(a3.buf, b3.buf)).reshape(batch + (a.shape[-2], b.shape[-1]))
    if va:
        r = r.reshape(r.shape[:-2] + r.shape[-1:])
    if vb:
        r = r.reshape(r.shape[:-1])
    return r


def _broadcast_to(x, shape, subok=False):
    shape = tuple(int(s) for s in shape)
    if not _is_dev(x):
        x = _operand(x, np.dtype(np.float32), "broadcast_to")
    if x.shape == shape:
        return x
    try:
        if np.broadcast_shapes(x.shape, shape) != shape:
            raise ValueError
    except ValueError:
        raise ValueError(f"[broadcast_to] cannot broadcast shape {x.shape} to {shape}") from None
    pad = len(shape) - x.ndim
    st = [0] * pad + [0 if s == 1 else e for s, e in zip(x.shape, x._estrides())]
    return x._strided(shape, st, 0)


def _squeeze(x, axis=None):
    if axis is None:
        return x.reshape([s for s in x.shape if s != 1])
    axes = _axes(axis, x.ndim)
    for a in axes:
        if x.shape[a] != 1:
            raise ValueError("cannot select an axis to squeeze out which has size not equal to one")
    return x.reshape([s for i, s in enumerate(x.shape) if i not in axes])


def _expand_dims(x, axis):
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    n = x.ndim + len(axes)
    axes = sorted(a % n for a in axes)
    shape = list(x.shape)
    for a in axes:
        shape.insert(a, 1)
    return x.reshape(shape)


def _clip(x, a_min=None, a_max=None, out=None, **kw):
    r = x
    if a_min is not None:
        r = np.maximum(r, a_min)
    if a_max is not None:
        r = np.minimum(r, a_max)
    return _write_out(out, r) if out is not None else r


def _around(x, decimals=0, out=None):
    if decimals:
        f = 10.0 ** decimals
        r = np.rint(x * f) / f
    else:
        r = np.rint(x) if x.dtype.kind == "f" else x.copy()
    return _write_out(out, r) if out is not None else r


def _concatenate(arrays, axis=0, out=None, dtype=None, casting=None):
    arrays = list(arrays)
    if axis is None:
        arrays, axis = [a.reshape(-1) if _is_dev(a) else np.ravel(a) for a in arrays], 0
    ds, dt = _operands("concatenate", arrays)
    if dtype is not None:
        dt = np.dtype(dtype)
        ds = [d.astype(dt, copy=False) for d in ds]
    nd = ds[0].ndim
    if nd == 0:
        raise ValueError("zero-dimensional arrays cannot be concatenated")
    ax = int(axis) % nd
    for d in ds:
        if d.ndim != nd or any(d.shape[i] != ds[0].shape[i] for i in range(nd) if i != ax):
            raise ValueError(f"[concatenate] shapes {[d.shape for d in ds]} differ off axis {ax}")
    shape = list(ds[0].shape)
    shape[ax] = sum(d.shape[ax] for d in ds)
    r = DeviceArray.empty(shape, dt)
    st = r._estrides()
    off = 0
    for d in ds:
        if d.size:
            backend().strided_assign(r.buf, list(d.shape), st, off * st[ax], d.buf)
        off += d.shape[ax]
    return _write_out(out, r) if out is not None else r


def _stack(arrays, axis=0, out=None, **kw):
    arrays = list(arrays)
    if not arrays:
        raise ValueError("need at least one array to stack")
    nd = np.ndim(arrays[0]) if not _is_dev(arrays[0]) else arrays[0].ndim
    ax = int(axis) % (nd + 1)
    ds, _ = _operands("stack", arrays)
    return _concatenate([_expand_dims(d, ax) for d in ds], axis=ax, out=out)


def _split(x, indices_or_sections, axis=0):
    ax = int(axis) % x.ndim
    n = x.shape[ax]
    if isinstance(indices_or_sections, (int, np.integer)):
        k = int(indices_or_sections)
        if n % k:
            raise ValueError("array split does not result in an equal division")
        bounds = [i * (n // k) for i in range(k + 1)]
    else:
        bounds = [0] + [int(i) for i in indices_or_sections] + [n]
    return [_take_slice(x, ax, bounds[i], bounds[i + 1]) for i in range(len(bounds) - 1)]


def _take_slice(x, ax, lo, hi):
    idx = [slice(None)] * x.ndim
    idx[ax] = slice(lo, hi)
    return x[tuple(idx)]


def _where(cond, x=None, y=None):
    if x is None and y is None:
        raise TypeError("[device] np.where(cond) (nonzero) is not supported on the GPU")
    c = cond if _is_dev(cond) else _operand(cond, np.dtype(np.bool_), "where")
    if c.dtype != np.bool_:
        c = c != 0
    (a, b), _ = _operands("where", (x, y))
    return DeviceArray(backend().where(c.buf, a.buf, b.buf))


def _like(x, dtype=None, shape=None, value=0):
    dt = np.dtype(dtype) if dtype is not None else x.dtype
    return DeviceArray.full(x.shape if shape is None else shape, value, dt)


def _take(a, indices, axis=None, out=None, mode="raise"):
    if axis is None:
        a, axis = a.reshape(-1), 0
    idx = indices if _is_dev(indices) else np.asarray(indices)
    if not _is_dev(idx):
        idx = DeviceArray.from_numpy(idx.astype(np.int64))
    if idx.dtype not in (np.int32, np.int64):
        idx = idx.astype(np.int64)
    r = DeviceArray(backend().take(a.buf, idx.buf, int(axis) % a.ndim))
    return r


def _pad(x, pad_width, mode="constant", constant_values=0, **kw):
    if mode != "constant":
        raise TypeError(f"[device] np.pad(mode={mode!r}) is not supported on the GPU")
    pw = np.broadcast_to(np.asarray(pad_width, dtype=np.int64), (x.ndim, 2))
    shape = [s + int(lo) + int(hi) for s, (lo, hi) in zip(x.shape, pw)]
    r = DeviceArray.full(shape, constant_values, x.dtype)
    st = r._estrides()
    off = sum(int(lo) * s for (lo, _), s in zip(pw, st))
    if x.size:
        backend().strided_assign(r.buf, list(x.shape), st, off, x.buf)
    return r


def _tile(x, reps):
    reps = (reps,) if isinstance(reps, int) else tuple(reps)
    nd = max(x.ndim, len(reps))
    reps = (1,) * (nd - len(reps)) + reps
    x = x.reshape((1,) * (nd - x.ndim) + x.shape)
    # (r0, s0, r1, s1, ...) broadcast, then merged
    inter = []
    for r, s in zip(reps, x.shape):
        inter += [r, s]
    xx = x.reshape([v for s in x.shape for v in (1, s)])
    return _broadcast_to(xx, inter).reshape([r * s for r, s in zip(reps, x.shape)])


def _repeat(x, repeats, axis=None):
    if axis is None:
        x, axis = x.reshape(-1), 0
    if not isinstance(repeats, (int, np.integer)):
        raise TypeError("[device] np.repeat with per-element counts is not supported on the GPU")
    ax = int(axis) % x.ndim
    shape = list(x.shape)
    xx = _expand_dims(x, ax + 1)
    tgt = list(xx.shape)
    tgt[ax + 1] = int(repeats)
    shape[ax] *= int(repeats)
    return _broadcast_to(xx, tgt).reshape(shape)


def _flip(x, axis=None):
    axes = _axes(axis, x.ndim)
    st = x._estrides()
    off = sum((x.shape[a] - 1) * st[a] for a in axes if x.shape[a])
    return x._strided(x.shape, [-s if i in axes else s for i, s in enumerate(st)], off)


def _moveaxis(x, source, destination):
    src = [int(s) % x.ndim for s in np.atleast_1d(source)]
    dst = [int(d) % x.ndim for d in np.atleast_1d(destination)]
    order = [n for n in range(x.ndim) if n not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return x.transpose(order)


def _upload(src, dst):
    """The source of an explicit write into the device array `dst` (np.copyto, item assignment,
    Variable.assign): host data is copied up, cast to dst's dtype. Writes are the one place a
    host array may meet a device array, because the caller asked for the copy."""
    if type(src) is np.ndarray and src.size > 1:
        return DeviceArray.from_numpy(np.ascontiguousarray(
            src, dtype=None if dst is None else dst.dtype))
    return src


def _copyto(dst, src, casting="same_kind", where=True):
    if where is not True:
        raise TypeError("[device] np.copyto(where=...) is not supported on the GPU")
    (s,), _ = _operands("copyto", (_upload(src, dst),))
    _write_out(dst, s)


def _array_equal(a, b, equal_nan=False):
    if np.shape(a) != np.shape(b):
        return False
    return bool(np.all(np.equal(a, b)))


def _allclose(a, b, rtol=1e-5, atol=1e-8, equal_nan=False):
    (x, y), _ = _operands("allclose", (a, b))
    return bool(np.all(np.abs(x - y) <= atol + rtol * np.abs(y)))


def _dot(a, b, out=None):
    if np.ndim(a) <= 2 and np.ndim(b) <= 2 and np.ndim(a) and np.ndim(b):
        return _matmul(a, b)
    if np.ndim(a) == 0 or np.ndim(b) == 0:
        return np.multiply(a, b)
    raise TypeError("[device] np.dot beyond 2-D is not supported on the GPU; use matmul")


def _tensordot(a, b, axes=2):
    if isinstance(axes, int):
        ax_a, ax_b = list(range(a.ndim - axes, a.ndim)), list(range(axes))
    else:
        ax_a, ax_b = [list(np.atleast_1d(v)) for v in axes]
    ax_a = [int(i) % a.ndim for i in ax_a]
    ax_b = [int(i) % b.ndim for i in ax_b]
    fa = [i for i in range(a.ndim) if i not in ax_a]
    fb = [i for i in range(b.ndim) if i not in ax_b]
    k = math.prod(a.shape[i] for i in ax_a)
    at = a.transpose(fa + ax_a).reshape(-1, k)
    bt = b.transpose(ax_b + fb).reshape(k, -1)
    return _matmul(at, bt).reshape([a.shape[i] for i in fa] + [b.shape[i] for i in fb])


def _outer(a, b, out=None):
    return _matmul(a.reshape(-1, 1), b.reshape(1, -1))


def _scan(op, identity):
    """np.cumsum / np.cumprod on the device: a Hillis-Steele scan along the axis, log2(n) steps
    of `r = r (op) shift(r, s)` with s = 1, 2, 4, ... (each a binary kernel on the whole array;
    O(n log n) work, which is fine for the axis lengths the ops use)."""
    def f(a, axis=None, dtype=None, out=None):
        (x,), _ = _operands(op.__name__, (a,))
        if axis is None:
            x, axis = x.reshape(-1), 0
        (ax,) = _axes(axis, x.ndim)
        if dtype is not None:
            x = x.astype(dtype)
        elif x.dtype.kind == "b" or (x.dtype.kind == "i" and x.dtype.itemsize < 8):
            x = x.astype(np.int64)  # NumPy promotes small integer and bool scans
        n = x.shape[ax]
        r = x.copy()
        s = 1
        while s < n:
            pad = _like(_take_slice(r, ax, 0, s), value=identity)
            shifted = _concatenate([pad, _take_slice(r, ax, 0, n - s)], axis=ax)
            r = op(r, shifted)
            s *= 2
        return _write_out(out, r) if out is not None else r
    return f


def _take_along_axis(arr, indices, axis):
    return take_along_axis(arr, indices, axis)


def take_along_axis(arr, indices, axis, checked=False):
    """np.take_along_axis on the device: the indices become flat offsets into arr (one
    elementwise pass), then one gather (the take kernel; checked=True: the caller bounded the
    indices to [0, n), so it reads no flag back)."""
    (a,), _ = _operands("take_along_axis", (arr,))
    (i,), _ = _operands("take_along_axis", (_upload(np.asarray(indices) if isinstance(
        indices, list) else indices, None),))
    if axis is None:
        a, axis = a.reshape(-1), 0
    (ax,) = _axes(axis, a.ndim)
    if i.ndim != a.ndim:
        raise ValueError(f"[take_along_axis] indices have {i.ndim} dims, arr has {a.ndim}")
    if i.dtype.kind not in "iu":
        raise IndexError(f"[take_along_axis] indices must be integers, got {i.dtype}")
    a2, i2 = _moveaxis(a, ax, -1), _moveaxis(i, ax, -1)
    n = a2.shape[-1]
    lead = np.broadcast_shapes(a2.shape[:-1], i2.shape[:-1])
    a2 = _broadcast_to(a2, lead + (n,))
    i2 = _broadcast_to(i2, lead + i2.shape[-1:]).astype(np.int64)
    i2 = _where(np.less(i2, 0), np.add(i2, n), i2)
    rows = DeviceArray(backend().arange(0, n, math.prod(lead), "int64")).reshape(lead + (1,))
    r = take(a2.reshape(-1), np.add(i2, rows), 0, checked)
    return _moveaxis(r, -1, ax)


def _flatnonzero(a):
    """Indices of the nonzero elements of the flattened device array `a`, ascending, computed
    on the device: the count is read back (the output's size, as NumPy and TF need it), an
    inclusive scan gives each kept element its output slot, and scatter_add writes each kept
    element's index there (dropped elements all add into a spare slot past the end, which is
    cut off)."""
    (m,), _ = _operands("nonzero", (a,))
    m = (m != 0).reshape(-1)
    n = m.size
    count = int(m.sum())
    if count == 0:
        return DeviceArray.empty((0,), np.int64)
    slot = np.subtract(_scan(np.add, 0)(m), 1)                       # int64
    slot = _where(m, slot, count)
    vals = DeviceArray(backend().arange(0, 1, n, "float64"))       # exact below 2**53
    # slots lie in [0, count] by construction: checked, no index flag read back
    out = DeviceArray(backend().scatter_add(vals.buf, slot.buf, 0, count + 1, checked=True))
    return _take_slice(out, 0, 0, count).astype(np.int64)


def _unravel(flat, shape):
    """Flat indices -> one index array per axis of `shape` (C order)."""
    out = []
    rest = flat
    for d in reversed(shape[1:]):
        out.append(np.mod(rest, d))
        rest = np.floor_divide(rest, d)
    out.append(rest)
    return tuple(reversed(out))


def _nonzero(a):
    flat = _flatnonzero(a)
    return _unravel(flat, a.shape) if a.ndim > 1 else (flat,)


def _argwhere(a):
    if not a.ndim:  # NumPy: shape (1, 0) or (0, 0)
        return DeviceArray.empty((int(bool(a.item())), 0), np.int64)
    return _stack(_nonzero(a), axis=1)


def _bool_index(x, mask):
    """x[mask] for a boolean mask over x's leading axes -> (x with those axes flattened, the
    flat indices of the True entries)."""
    if mask.shape != x.shape[:mask.ndim]:
        raise IndexError(f"[getitem] boolean index of shape {mask.shape} does not match the "
                         f"array's leading dimensions {x.shape[:mask.ndim]}")
    flat = x.reshape((-1,) + x.shape[mask.ndim:]) if mask.ndim != 1 else x
    return flat, _flatnonzero(mask)


def _may_share_memory(a, b, max_work=None):
    """Conservative, as NumPy's: two device arrays may share memory (views share storage);
    a device array and a host array never do."""
    return _is_dev(a) and _is_dev(b)


def _reduce_fn(op):
    def f(a, axis=None, dtype=None, out=None, keepdims=False, **kw):
        if op in ("max", "min", "any", "all"):
            r = a._reduce(op, axis, None, keepdims, **kw)
        else:
            r = a._reduce(op, axis, dtype, keepdims, **kw)
        return _write_out(out, r) if out is not None else r
    return f


def _shape_of(a):
    return a.shape


_FUNCS = {
    np.sum: _reduce_fn("sum"), np.mean: _reduce_fn("mean"), np.prod: _reduce_fn("prod"),
    np.max: _reduce_fn("max"), np.min: _reduce_fn("min"), np.amax: _reduce_fn("max"),
    np.amin: _reduce_fn("min"), np.any: _reduce_fn("any"), np.all: _reduce_fn("all"),
    np.var: lambda a, axis=None, dtype=None, out=None, ddof=0, keepdims=False: a.var(
        axis, keepdims=keepdims, ddof=ddof),
    np.std: lambda a, axis=None, dtype=None, out=None, ddof=0, keepdims=False: a.std(
        axis, keepdims=keepdims, ddof=ddof),
    np.argmax: lambda a, axis=None, out=None, keepdims=False: a.argmax(axis, keepdims),
    np.argmin: lambda a, axis=None, out=None, keepdims=False: a.argmin(axis, keepdims),
    np.reshape: lambda a, shape=None, order="C", newshape=None: a.reshape(
        shape if shape is not None else newshape),
    np.transpose: lambda a, axes=None: a.transpose(*(() if axes is None else (axes,))),
    np.swapaxes: lambda a, x, y: a.swapaxes(x, y),
    np.moveaxis: _moveaxis, np.expand_dims: _expand_dims, np.squeeze: _squeeze,
    np.broadcast_to: _broadcast_to, np.concatenate: _concatenate, np.stack: _stack,
    np.split: _split, np.array_split: _split, np.where: _where, np.clip: _clip,
    np.around: _around, np.round: _around, np.dot: _dot, np.tensordot: _tensordot,
    np.outer: _outer,
    np.zeros_like: lambda a, dtype=None, order="K", subok=True, shape=None: _like(a, dtype, shape, 0),
    np.ones_like: lambda a, dtype=None, order="K", subok=True, shape=None: _like(a, dtype, shape, 1),
    np.empty_like: lambda a, dtype=None, order="K", subok=True, shape=None: _like(a, dtype, shape, 0),
    np.full_like: lambda a, fill_value, dtype=None, order="K", subok=True, shape=None: _like(
        a, dtype, shape, fill_value),
    np.take: _take, np.pad: _pad, np.tile: _tile, np.repeat: _repeat, np.flip: _flip,
    np.copyto: _copyto, np.array_equal: _array_equal, np.allclose: _allclose,
    np.ravel: lambda a, order="C": a.reshape(-1), np.shape: _shape_of,
    np.ndim: lambda a: a.ndim, np.size: lambda a, axis=None: a.size if axis is None else a.shape[axis],
    np.ascontiguousarray: lambda a, dtype=None, like=None: a if dtype is None else a.astype(dtype),
    np.cumsum: _scan(np.add, 0), np.cumprod: _scan(np.multiply, 1),
    np.take_along_axis: _take_along_axis, np.may_share_memory: _may_share_memory,
    np.nonzero: _nonzero, np.flatnonzero: _flatnonzero, np.argwhere: _argwhere,
    np.count_nonzero: lambda a, axis=None, keepdims=False: np.not_equal(a, 0).sum(
        axis=axis, keepdims=keepdims),
    np.shares_memory: _may_share_memory, np.atleast_1d: lambda *a: a[0] if a[0].ndim else a[0].reshape(1),
    np.atleast_2d: lambda a: a.reshape((1,) * (2 - a.ndim) + a.shape) if a.ndim < 2 else a,
    np.result_type: lambda *a: np.result_type(*[x.dtype if _is_dev(x) else x for x in a]),
    np.isclose: lambda a, b, rtol=1e-5, atol=1e-8, equal_nan=False: np.less_equal(
        np.abs(np.subtract(a, b)), atol + rtol * np.abs(b)),
    np.real: lambda a: _complex_part(a, "real"), np.imag: lambda a: _complex_part(a, "imag"),
    np.angle: lambda z, deg=False: _angle(z, deg),
    np.iscomplexobj: lambda a: a.dtype.kind == "c",
}


def _angle(z, deg=False):
    if z.dtype.kind != "c":
        raise TypeError("[device] np.angle of a real GPU array is not supported (tf.math.angle)")
    r = DeviceArray(backend().complex_unary("angle", z.buf))
    return r * (180.0 / math.pi) if deg else r


# ---- indexing ----------------------------------------------------------------------------------
def _norm_index(x, idx):
    """Basic index -> (shape, strides, offset, contiguous) of the view, or None when advanced."""
    if not isinstance(idx, tuple):
        idx = (idx,)
    if any(_is_dev(i) or isinstance(i, (list, np.ndarray)) for i in idx):
        return None
    n_ell = sum(1 for i in idx if i is Ellipsis)
    if n_ell > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    used = sum(1 for i in idx if i is not None and i is not Ellipsis)
    if used > x.ndim:
        raise IndexError(f"too many indices for array: array is {x.ndim}-dimensional, but {used} "
                         "were indexed")
    if n_ell:
        k = idx.index(Ellipsis)
        idx = idx[:k] + (slice(None),) * (x.ndim - used) + idx[k + 1:]
    else:
        idx = idx + (slice(None),) * (x.ndim - used)
    est = x._estrides()
    shape, strides, offset, d = [], [], 0, 0
    for i in idx:
        if i is None:
            shape.append(1)
            strides.append(0)
            continue
        n = x.shape[d]
        if isinstance(i, slice):
            lo, hi, step = i.indices(n)
            m = len(range(lo, hi, step))
            shape.append(m)
            strides.append(est[d] * step)
            offset += lo * est[d] if m else 0
        else:
            i = int(i)
            if not -n <= i < n:
                raise IndexError(f"index {i} is out of bounds for axis {d} with size {n}")
            offset += (i % n) * est[d]
        d += 1
    return shape, strides, offset


def _is_contiguous_view(shape, strides):
    acc = 1
    for s, st in zip(reversed(shape), reversed(strides)):
        if s != 1 and st != acc:
            return False
        acc *= s
    return True


def _getitem(x, idx):
    v = _norm_index(x, idx)
    if v is None:
        return _advanced_getitem(x, idx)
    shape, strides, offset = v
    if math.prod(shape) == 0:
        return DeviceArray.empty(shape, x.dtype)
    if _is_contiguous_view(shape, strides):
        return _keep_range(x, DeviceArray(x.buf.view(shape, offset)))
    return _keep_range(x, x._strided(shape, strides, offset))  # a subset: the bound holds


def _split_advanced(x, idx, op):
    """An index with one integer array and otherwise basic entries (ints, slices) ->
    (basic index with the array replaced by a full slice, the array as a DeviceArray, the axis
    the array indexes in x[basic], whether NumPy moves the result axes to the front)."""
    if not isinstance(idx, tuple):
        idx = (idx,)
    arrs = [k for k, i in enumerate(idx) if _is_dev(i) or isinstance(i, (list, np.ndarray))]
    ok = len(arrs) == 1 and all(
        isinstance(i, (slice, int, np.integer)) for k, i in enumerate(idx) if k != arrs[0])
    if not ok:
        raise IndexError(f"[{op}] [device] this kind of advanced indexing is not supported on "
                         "the GPU (one integer array, with ints and slices on other axes, is)")
    k = arrs[0]
    ind = idx[k] if _is_dev(idx[k]) else np.asarray(idx[k])
    if ind.dtype == np.bool_:  # a mask alone is _bool_mask_of's; one beside other indices is not
        raise IndexError(f"[{op}] [device] a boolean mask combined with other indices is not "
                         "supported on the GPU")
    if not _is_dev(ind):
        ind = DeviceArray.from_numpy(ind.astype(np.int64))
    ints = [j for j, i in enumerate(idx) if j != k and not isinstance(i, slice)]
    kb = k - sum(1 for j in ints if j < k)
    adv = sorted(ints + [k])
    front = adv != list(range(adv[0], adv[-1] + 1))  # NumPy: separated advanced indices
    basic = idx[:k] + (slice(None),) + idx[k + 1:]
    return basic, ind, kb, front


def _is_whole(basic):
    """Whether a basic index selects everything (all full slices)."""
    return all(isinstance(i, slice) and i == slice(None) for i in basic)


def _bool_mask_of(idx):
    """The boolean mask when idx is exactly one boolean array (x[mask]), else None."""
    m = idx[0] if isinstance(idx, tuple) and len(idx) == 1 else idx
    if _is_dev(m) and m.dtype == np.bool_:
        return m
    if isinstance(m, (np.ndarray, list)) and np.asarray(m).dtype == np.bool_:
        return DeviceArray.from_numpy(np.asarray(m))
    return None


def _advanced_getitem(x, idx):
    m = _bool_mask_of(idx)
    if m is not None:
        flat, ind = _bool_index(x, m)
        return _take(flat, ind, axis=0)
    basic, ind, kb, front = _split_advanced(x, idx, "getitem")
    y = x if _is_whole(basic) else _getitem(x, basic)
    r = _take(y, ind, axis=kb)
    if front and kb:
        r = _moveaxis(r, tuple(range(kb, kb + ind.ndim)), tuple(range(ind.ndim)))
    return r


def _setitem(x, idx, value):
    v = _norm_index(x, idx)
    if v is None:
        raise IndexError("[device] assignment through advanced indexing is not supported on the GPU")
    shape, strides, offset = v
    if math.prod(shape) == 0:
        return
    x.value_range = None  # new values: the known range no longer holds
    (val,), _ = _operands("setitem", (_upload(value, x),))
    if val.dtype != x.dtype:
        val = val.astype(x.dtype)
    backend().strided_assign(x.buf, shape, strides, offset, val.buf)


def add_at(z, idx, g, checked=False):
    """np.add.at(z, idx, g) that also takes GPU arrays: one boolean mask, or one integer index
    array with ints and slices on the other axes (the scatter_add kernel). checked=True: the
    caller has bounded the index array to [0, n) (no flag read back)."""
    if type(z) is not DeviceArray:
        if _is_dev(g):
            raise ValueError(f"[add_at] the target is a host array of shape {z.shape} but the "
                             "values are on cuda:0")
        np.add.at(z, idx, g)
        return
    m = _bool_mask_of(idx)
    if m is not None:  # z is C-contiguous: its flattened view shares z's memory
        flat, ind = _bool_index(z, m)
        add_at(flat, ind, g)
        return
    basic, ind, k, front = _split_advanced(z, idx, "add_at")
    whole = _is_whole(basic)
    y = z if whole else _getitem(z, basic)
    y_shape = y.shape
    (gg,), _ = _operands("add_at", (g,))
    if gg.dtype != z.dtype:
        gg = gg.astype(z.dtype)
    want = y_shape[:k] + ind.shape + y_shape[k + 1:]
    if front and k:
        want_front = ind.shape + y_shape[:k] + y_shape[k + 1:]
        gg = _moveaxis(_broadcast_to(gg, want_front), tuple(range(ind.ndim)),
                       tuple(range(k, k + ind.ndim)))
    gg = _broadcast_to(gg, want)
    r = DeviceArray(backend().scatter_add(gg.buf, ind.buf, k, y_shape[k], checked=checked))
    if whole:
        np.add(z, r, out=z)
    else:  # scatter into the basic view's shape, then add it back through the view
        _setitem(z, basic, np.add(y, r))


# ---- kernel dispatch ---------------------------------------------------------------------------
class _GpuKernels:
    """`nabi._C`-shaped access to the CUDA kernels: gpu_kernels.conv2d_forward(x, w, ...) takes
    and returns DeviceArrays where nabi._C's CPU kernel takes and returns ndarrays."""

    def __getattr__(self, name):
        b = backend()
        bound = [b, getattr(b, name)]  # (backend, its kernel): looked up again if it changes

        def call(*args, **kwargs):
            if _BACKEND[0] is not bound[0]:
                bound[0] = backend()
                bound[1] = getattr(bound[0], name)
            r = bound[1](*[_unwrap(a) for a in args],
                         **{k: _unwrap(v) for k, v in kwargs.items()})
            return _rewrap(r)
        call.__name__ = name
        setattr(self, name, call)
        return call


def _unwrap(v):
    t = type(v)
    if t is DeviceArray:
        return v.buf
    if t in _PLAIN:
        return v
    if t is np.ndarray:
        if v.ndim == 0 or v.size == 1 and v.ndim <= 1:
            return v
        raise ValueError(f"[device] a host array of shape {v.shape} was passed to a GPU kernel; "
                         "move it with .cuda() first")
    if t is list:
        return [e if type(e) in _PLAIN else _unwrap(e) for e in v]
    if t is tuple:  # shapes and strides: ints, returned as they are
        for e in v:
            if type(e) not in _PLAIN:
                return tuple(_unwrap(e) for e in v)
        return v
    return v


_PLAIN = frozenset((int, float, bool, str, type(None)))
_BUFFER_TYPES = set()  # the backends' buffer classes, learnt by _rewrap


def _rewrap(r):
    t = type(r)
    if t in _BUFFER_TYPES:
        return DeviceArray(r)
    if t in _PLAIN or isinstance(r, (bool, int, float, str)):
        return r
    if isinstance(r, tuple):
        return tuple(_rewrap(e) for e in r)
    if isinstance(r, list):
        return [_rewrap(e) for e in r]
    if hasattr(r, "numpy") and hasattr(r, "shape") and hasattr(r, "dtype"):
        _BUFFER_TYPES.add(t)
        return DeviceArray(r)
    return r


gpu_kernels = _GpuKernels()


def kernels(arr):
    """The kernel module for `arr`'s device: nabi._C for host arrays, else gpu_kernels."""
    return gpu_kernels if type(arr) is DeviceArray else _C
