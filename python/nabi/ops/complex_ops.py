"""Complex numbers: tf.complex, tf.math.real / imag / conj / angle, |z| and casts.

Complex tensors hold complex64 / complex128 arrays: NumPy arrays on the host, DeviceArrays on
the GPU (csrc/cuda/complex.cu). Each op runs where its input lives: GPU inputs give GPU
results with no host copy (`tf.abs(tf.signal.stft(x))` stays on the GPU); host inputs are
computed with NumPy, and a real result made from a host complex tensor (abs, real, imag,
angle, cast) is placed on the current device.

Gradients through complex values follow TF (for a real loss L, the gradient with respect to
a complex z is dL/dRe z + i dL/dIm z) for tf.complex, real, imag, conj, abs, cast here and add,
subtract, multiply, divide, pow, negative, exp, expm1, log, log1p, sqrt, rsqrt, square,
reciprocal, sin, cos, tan, sinh, cosh, tanh, asin, acos, atan, asinh, acosh, atanh, matmul,
reduce_sum / reduce_mean in math_ops (first order only). The other ops on complex
values record a node whose backward raises NotImplementedError naming the op, so a tape that
needs that gradient says why it cannot have it rather than giving a silently wrong or missing
one; outside a tape (audio preprocessing) nothing is recorded.
"""
import numpy as np

from .. import dtypes as _dt
from ..framework.device import DeviceArray, backend, place, to_device
from ._common import Tensor, _tapes, _wrap, record, t_

__all__ = ["complex", "real", "imag", "conj", "angle", "host", "record_no_gradient"]

_COMPLEX_OF = {np.dtype(np.float32): np.dtype(np.complex64),
               np.dtype(np.float64): np.dtype(np.complex128)}


def host(a):
    """A tensor's array on the host (a copy for a GPU array)."""
    return a.get() if type(a) is DeviceArray else a


def record_no_gradient(op, inputs, out):
    """Records `op` so that a tape asking for a gradient through it raises (see module doc)."""
    if not _tapes:
        return

    def backward(g, needs):
        raise NotImplementedError(
            f"[{op}] has no gradient: nabi does not differentiate through complex values "
            "(compute it outside the GradientTape, or wrap the input in tf.stop_gradient)")
    record(tuple(inputs), out, backward)


def is_complex(x):
    return x._data.dtype.kind == "c"


def _contiguous(v):
    """v as a C-contiguous array of its own shape (np.ascontiguousarray makes a 0-d one 1-d)."""
    v = np.asarray(v)
    return v if v.flags.c_contiguous else v.copy(order="C")


def _part(g, part):
    """The real or imaginary part of a complex array g where it lives, contiguous."""
    if type(g) is DeviceArray:
        return DeviceArray(backend().complex_unary(part, g.buf))
    return _contiguous(g.real if part == "real" else g.imag)


def _make(re, im):
    """re + i im from two real arrays of one dtype and shape, where they live."""
    if type(re) is DeviceArray:
        return DeviceArray(backend().complex_binary("make", re.buf, im.buf))
    out = np.empty(re.shape, _COMPLEX_OF[re.dtype])
    out.real, out.imag = re, im
    return out


def complex(real, imag, name=None):  # noqa: A001  (TF's name)
    """tf.complex: real + 1j * imag, from two float32 (-> complex64) or float64 (->
    complex128) tensors of the same dtype; shapes broadcast."""
    r = real if isinstance(real, Tensor) else None
    i = imag if isinstance(imag, Tensor) else None
    if r is None and i is None:
        r = t_(real)
        i = t_(imag, dtype=r.dtype)
    elif r is None:
        r = t_(real, dtype=i.dtype)
    elif i is None:
        i = t_(imag, dtype=r.dtype)
    ra, ia = r._data, i._data
    if ra.dtype != ia.dtype or ra.dtype not in _COMPLEX_OF:
        raise TypeError(f"[complex] real and imag must both be float32 or both float64, got "
                        f"{ra.dtype.name} {tuple(ra.shape)} and {ia.dtype.name} {tuple(ia.shape)}")
    try:
        shape = np.broadcast_shapes(ra.shape, ia.shape)
    except ValueError:
        raise ValueError(f"[complex] shapes {tuple(ra.shape)} and {tuple(ia.shape)} are not "
                         "broadcastable") from None
    if DeviceArray in (type(ra), type(ia)):  # on the GPU (a host scalar part is copied up)
        ra, ia = to_device(ra, "cuda"), to_device(ia, "cuda")
        out = _wrap(DeviceArray(backend().complex_binary("make", ra.buf, ia.buf)))
    else:
        out = np.empty(shape, _COMPLEX_OF[ra.dtype])
        out.real = ra
        out.imag = ia
        out = _wrap(out)
    if _tapes:
        from ._common import unbroadcast
        rs, is_ = ra.shape, ia.shape

        def backward(g, needs):  # d/dre = Re g, d/dim = Im g
            return (unbroadcast(_part(g, "real"), rs) if needs[0] else None,
                    unbroadcast(_part(g, "imag"), is_) if needs[1] else None)
        record((r, i), out, backward, None, "complex")
    return out


def _real_result(op, x, fn, grad=None):
    """fn(x) for a complex x: the GPU kernel `op` for a GPU x, else fn(host array) placed on the
    current device; grad(g, a, out) -> the complex gradient, else none (the tape refuses)."""
    a = x._data
    if type(a) is DeviceArray:
        out = _wrap(DeviceArray(backend().complex_unary(op, a.buf)))
    else:
        out = _wrap(place(_contiguous(fn(a))))
    if grad is None:
        record_no_gradient(op, (x,), out)
    elif _tapes:
        record((x,), out, lambda g, needs: (grad(g, a, out._data),), None, op)
    return out


def real(input, name=None):  # noqa: A002
    """tf.math.real: the real part of a complex tensor; a real tensor is returned as it is."""
    x = t_(input)
    if not is_complex(x):
        return x
    return _real_result("real", x, np.real, lambda g, a, o: g.astype(a.dtype))  # g + 0i


def imag(input, name=None):  # noqa: A002
    """tf.math.imag: the imaginary part of a complex tensor; zeros for a real tensor."""
    x = t_(input)
    if not is_complex(x):
        from .array_ops import zeros_like
        return zeros_like(x)
    return _real_result("imag", x, np.imag,
                        lambda g, a, o: _make(g * 0, g))  # 0 + i g


def conj(x, name=None):
    """tf.math.conj: the complex conjugate; a real tensor is returned as it is."""
    x = t_(x)
    if not is_complex(x):
        return x
    a = x._data
    out = _wrap(DeviceArray(backend().complex_unary("conj", a.buf)) if type(a) is DeviceArray
                else np.conj(a))
    if _tapes:
        record((x,), out, lambda g, needs: (np.conj(g),), None, "conj")
    return out


def angle(input, name=None):  # noqa: A002
    """tf.math.angle: the argument atan2(imag, real) of a complex tensor; for a real tensor,
    pi where it is negative and 0 elsewhere (as TF)."""
    x = t_(input)
    if is_complex(x):
        return _real_result("angle", x, np.angle)
    if x._data.dtype.kind != "f":
        raise TypeError(f"[angle] expects a complex or floating tensor, got "
                        f"{x._data.dtype.name} {tuple(x.shape)}")
    from .array_ops import where, zeros_like
    from .math_ops import less
    return where(less(x, 0), zeros_like(x) + np.pi, zeros_like(x))


def abs_complex(x):
    """|x| of a complex tensor, in its real dtype (tf.abs dispatches here). Gradient: g z / |z|,
    0 at z = 0 (TF's), as g times NumPy's complex sign."""
    return _real_result("abs", x, np.abs, lambda g, a, o: g.astype(a.dtype) * np.sign(a))


def cast_complex(x, dt):
    """tf.cast where the source or the target is complex: complex -> real takes the real
    part (TF), real -> complex has a zero imaginary part. A GPU tensor is cast on the GPU."""
    a = x._data
    if type(a) is DeviceArray and dt != _dt.string and dt._np in (
            np.float32, np.float64, np.int32, np.int64, np.bool_, np.complex64, np.complex128):
        out = _wrap(a.astype(dt._np))
        _record_cast(x, a.dtype, dt, out)
        return out
    src = a.dtype
    a = host(a)
    if dt.is_complex:
        if a.dtype.kind not in "fiubc":
            raise TypeError(f"[cast] cannot cast {a.dtype.name} {tuple(a.shape)} to {dt.name}")
        out = _wrap(a.astype(dt._np))
    else:
        if dt == _dt.string:
            raise TypeError(f"[cast] cannot cast {a.dtype.name} {tuple(a.shape)} to string")
        out = _wrap(place(_contiguous(np.real(a).astype(dt._np))))
    _record_cast(x, src, dt, out)
    return out


def _record_cast(x, src, dt, out):
    """The gradient of a cast between floating and complex types, TF's: g cast back to the
    source dtype, so a complex -> real cast gives g + 0i and a real -> complex one Re g
    (integer sources and targets have none)."""
    if not (_tapes and src.kind in "fc" and (dt.is_complex or dt.is_floating)):
        return

    def backward(g, needs):
        if g.dtype.kind == "c" and src.kind != "c":
            g = _part(g, "real")
        return (g if g.dtype == src else g.astype(src),)
    record((x,), out, backward, None, "cast")
