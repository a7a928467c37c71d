"""`nabi.signal`: framing, windows, FFTs, STFT, mel filterbanks, MFCCs and DCTs (tf.signal).

Real-valued pieces (`frame`, the windows, `overlap_and_add`, `dct` / `idct`,
`linear_to_mel_weight_matrix`) are built from nabi ops or carry their own backward rule, so
they are differentiable and run where their input lives. The FFTs run where their input
lives too: numpy.fft on the host, nabi's own kernels on the GPU (csrc/cuda/fft.cu: Stockham
radix-2 for powers of two, Bluestein otherwise; multi-axis transforms one axis at a time;
rfft through the complex FFT, irfft through a Hermitian completion), with no device-to-host
read. No gradient flows through them -- a tape that needs one raises NotImplementedError
naming the op. `tf.abs(tf.signal.stft(...))` on a GPU signal stays on the GPU.
"""
import math as _math

import numpy as np

from . import dtypes as _dt
from .framework.device import DeviceArray, backend, place, to_device
from .ops._common import Tensor, _tapes, _wrap, operand_like, record, t_
from .ops.complex_ops import host, record_no_gradient

__all__ = ["frame", "overlap_and_add", "hann_window", "hamming_window", "stft",
           "inverse_stft", "inverse_stft_window_fn", "fft", "ifft", "rfft", "irfft", "fft2d",
           "ifft2d", "rfft2d", "irfft2d", "fft3d", "ifft3d", "rfft3d", "irfft3d", "fftnd",
           "ifftnd", "rfftnd", "irfftnd",
           "linear_to_mel_weight_matrix",
           "mfccs_from_log_mel_spectrograms", "dct", "idct", "fftshift", "ifftshift",
           "kaiser_window", "kaiser_bessel_derived_window", "vorbis_window"]


# ---------------------------------------------------------------- helpers


def _int(op, name, v, minimum=1):
    if isinstance(v, Tensor):
        v = v.numpy()
    if isinstance(v, np.ndarray):
        if v.size != 1:
            raise ValueError(f"[{op}] {name} must be a scalar, got shape {v.shape}")
        v = v.reshape(()).item()
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
        raise TypeError(f"[{op}] {name} must be an integer, got {v!r}")
    v = int(v)
    if v < minimum:
        raise ValueError(f"[{op}] {name} must be >= {minimum}, got {v}")
    return v


def _float_dtype(op, dtype):
    dt = _dt.as_dtype(dtype)
    if not dt.is_floating:
        raise ValueError(f"[{op}] dtype must be a floating point type, got {dt.name}")
    return dt


def _real_input(op, x):
    x = t_(x)
    if x._data.dtype.kind != "f":
        raise TypeError(f"[{op}] expects a float32 or float64 tensor, got "
                        f"{x._data.dtype.name} of shape {tuple(x.shape)}")
    return x


def _const_like(arr, like):
    """A constant array as a tensor of `like`'s dtype on `like`'s device."""
    return operand_like(np.asarray(arr, dtype=like._data.dtype), like)


def _enclosing_power_of_two(n):
    return 1 << max(0, int(n - 1).bit_length())


# ---------------------------------------------------------------- framing


def frame(signal, frame_length, frame_step, pad_end=False, pad_value=0, axis=-1, name=None):
    """tf.signal.frame: splits `axis` into overlapping frames, (..., n, ...) ->
    (..., frames, frame_length, ...). Without pad_end, frames = 1 + (n - frame_length) //
    frame_step (0 when n < frame_length); with it, ceil(n / frame_step) frames, the end padded
    with pad_value. Differentiable (a gather)."""
    from .ops.array_ops import gather, pad, zeros
    x = t_(signal)
    frame_length = _int("frame", "frame_length", frame_length)
    frame_step = _int("frame", "frame_step", frame_step)
    nd = x._data.ndim
    if nd == 0:
        raise ValueError("[frame] signal must have rank >= 1, got a scalar")
    axis = _int("frame", "axis", axis, minimum=-nd)
    if axis >= nd:
        raise ValueError(f"[frame] axis {axis} is out of range for a signal of rank {nd}")
    axis %= nd
    n = x._data.shape[axis]
    if pad_end:
        frames = -(-n // frame_step)
        extra = max(0, frame_length + frame_step * (frames - 1) - n)
        if extra:
            widths = [[0, 0]] * nd
            widths[axis] = [0, extra]
            x = pad(x, widths, constant_values=pad_value)
    else:
        frames = 1 + (n - frame_length) // frame_step if n >= frame_length else 0
    shape = x._data.shape[:axis] + (frames, frame_length) + x._data.shape[axis + 1:]
    if frames == 0:
        return zeros(shape, dtype=x.dtype)
    idx = (frame_step * np.arange(frames)[:, None] + np.arange(frame_length)[None, :])
    return gather(x, idx.astype(np.int64), axis=axis)


def overlap_and_add(signal, frame_step, name=None):
    """tf.signal.overlap_and_add: (..., frames, frame_length) -> (..., (frames - 1) *
    frame_step + frame_length), adding the frames at multiples of frame_step. Its gradient
    frames the output gradient again."""
    x = t_(signal)
    frame_step = _int("overlap_and_add", "frame_step", frame_step)
    a = x._data
    if a.ndim < 2:
        raise ValueError(f"[overlap_and_add] signal must have rank >= 2 (..., frames, "
                         f"frame_length), got shape {tuple(a.shape)}")
    frames, length = a.shape[-2], a.shape[-1]
    n = max((frames - 1) * frame_step + length, 0)  # TF's length, even for 0 frames
    if type(a) is DeviceArray and a.dtype in (np.float32, np.float64, np.int32, np.int64):
        # the GPU kernel (csrc/cuda/overlap_add.cu): same sums, same order, no host copy
        res = _wrap(DeviceArray(backend().overlap_add(a.buf, frame_step)))
    else:
        h = host(a)
        out = np.zeros(h.shape[:-2] + (n,), h.dtype)
        for i in range(frames):
            out[..., i * frame_step:i * frame_step + length] += h[..., i, :]
        res = _wrap(to_device(out, "cuda") if type(a) is DeviceArray else out)
    if _tapes and a.dtype.kind == "f":
        idx = frame_step * np.arange(frames)[:, None] + np.arange(length)[None, :]

        def backward(g, needs):  # framing the gradient: a gather, on g's device
            if type(g) is DeviceArray:
                gg = np.take(g, idx.reshape(-1).astype(np.int64), axis=g.ndim - 1)
                return (gg.reshape(tuple(g.shape[:-1]) + (frames, length)),)
            return (g[..., idx],)

        def backward_t(g, needs):  # the same framing with a recorded gather (linear)
            from .ops.array_ops import gather, reshape
            gg = gather(g, idx.reshape(-1).astype(np.int64), axis=g._data.ndim - 1)
            return (reshape(gg, tuple(g._data.shape[:-1]) + (frames, length)),)
        record((x,), res, backward, backward_t, "overlap_and_add")
    return res


# ---------------------------------------------------------------- windows


def _raised_cosine(op, window_length, periodic, dtype, a, b):
    window_length = _int(op, "window_length", window_length, minimum=0)
    dt = _float_dtype(op, dtype)
    if window_length == 1:
        w = np.ones(1)
    else:
        # TF's construction: a "periodic" window of odd length is the symmetric one
        # (denominator window_length - 1), of even length it divides by window_length.
        even = 1 - window_length % 2
        denom = window_length + int(bool(periodic)) * even - 1
        w = a - b * np.cos(2 * np.pi * np.arange(window_length) / max(denom, 1))
    from .framework.tensor import convert_to_tensor
    return convert_to_tensor(w.astype(dt._np))


def hann_window(window_length, periodic=True, dtype=_dt.float32, name=None):
    """tf.signal.hann_window: 0.5 - 0.5 cos(2 pi n / N)."""
    return _raised_cosine("hann_window", window_length, periodic, dtype, 0.5, 0.5)


def hamming_window(window_length, periodic=True, dtype=_dt.float32, name=None):
    """tf.signal.hamming_window: 0.54 - 0.46 cos(2 pi n / N)."""
    return _raised_cosine("hamming_window", window_length, periodic, dtype, 0.54, 0.46)


def _window_tensor(w, dt):
    from .framework.tensor import convert_to_tensor
    return convert_to_tensor(np.asarray(w, np.float64).astype(dt._np))


def _kaiser(n, beta):
    """TF's kaiser_window values in float64: I0(beta sqrt(1 - (k / h)^2)) / I0(beta) for
    k = -h .. h, h = (n - 1) / 2, through exponentially scaled I0 (no overflow)."""
    from .ops.special_ops import _i0e_np
    if n == 1:
        return np.ones(1)
    h = (n - 1) / 2.0
    arg = np.arange(n) - h
    num = beta * np.sqrt(np.maximum(0.0, 1.0 - (arg / h) ** 2))
    with np.errstate(divide="ignore", invalid="ignore"):  # _i0e_np's unused large-x branch
        return np.exp(num - beta) * (_i0e_np(num) / _i0e_np(np.float64(beta)))


def kaiser_window(window_length, beta=12.0, dtype=_dt.float32, name=None):
    """tf.signal.kaiser_window: the Kaiser window of shape parameter beta (numpy.kaiser)."""
    op = "kaiser_window"
    n = _int(op, "window_length", window_length)  # TF fails on an empty Kaiser window too
    dt = _float_dtype(op, dtype)
    return _window_tensor(_kaiser(n, float(beta)), dt)


def kaiser_bessel_derived_window(window_length, beta=12.0, dtype=_dt.float32, name=None):
    """tf.signal.kaiser_bessel_derived_window: sqrt of the running sum of a Kaiser window of
    window_length // 2 + 1 points over its total, then mirrored; 2 * (window_length // 2)
    values (one fewer for an odd length, as TF)."""
    op = "kaiser_bessel_derived_window"
    n = _int(op, "window_length", window_length, minimum=0)
    dt = _float_dtype(op, dtype)
    csum = np.cumsum(_kaiser(n // 2 + 1, float(beta)))
    half = np.sqrt(csum[:-1] / csum[-1])
    return _window_tensor(np.concatenate([half, half[::-1]]), dt)


def vorbis_window(window_length, dtype=_dt.float32, name=None):
    """tf.signal.vorbis_window: sin(pi / 2 * sin(pi (k + 0.5) / n)^2)."""
    op = "vorbis_window"
    n = _int(op, "window_length", window_length, minimum=0)
    dt = _float_dtype(op, dtype)
    k = np.arange(n)
    return _window_tensor(np.sin(np.pi / 2 * np.sin(np.pi / max(n, 1) * (k + 0.5)) ** 2), dt)


# ---------------------------------------------------------------- fftshift


def _shift(op, x, axes, sign):
    from .ops.extra_math_ops import roll
    x = t_(x)
    nd = x._data.ndim
    if axes is None:
        axes = list(range(nd))
    elif isinstance(axes, Tensor):
        axes = np.asarray(axes.numpy()).reshape(-1).tolist()
    elif isinstance(axes, (int, np.integer)):
        axes = [int(axes)]
    axes = [int(a) for a in axes]
    if any(not -nd <= a < nd for a in axes):
        raise ValueError(f"[{op}] axes {axes} out of range for a tensor of shape "
                         f"{tuple(x._data.shape)}")
    if not axes or nd == 0:
        from .ops.array_ops import identity
        return identity(x)
    shifts = [sign * (x._data.shape[a] // 2) for a in axes]
    return roll(x, shifts, axes)


def fftshift(x, axes=None, name=None):
    """tf.signal.fftshift: rolls each of `axes` (all by default) by n // 2, moving the
    zero-frequency term to the centre. Differentiable (a roll)."""
    return _shift("fftshift", x, axes, 1)


def ifftshift(x, axes=None, name=None):
    """tf.signal.ifftshift: the inverse of fftshift, a roll by -(n // 2)."""
    return _shift("ifftshift", x, axes, -1)


# ---------------------------------------------------------------- FFTs (host, no gradient)


def _fft_lengths(op, fft_length, k, default):
    if fft_length is None:
        return default
    if isinstance(fft_length, Tensor):
        fft_length = fft_length.numpy()
    v = np.asarray(fft_length).reshape(-1).tolist()
    if len(v) != k:
        raise ValueError(f"[{op}] fft_length must hold {k} value(s), got {fft_length!r}")
    return [_int(op, "fft_length", int(e), minimum=0) for e in v]


def _complex_of(dtype):
    return np.complex64 if np.dtype(dtype) in (np.float32, np.complex64) else np.complex128


def _real_of(dtype):
    return np.float32 if np.dtype(dtype) in (np.float32, np.complex64) else np.float64


def _check_rank(op, a, k):
    if a.ndim < k:
        raise ValueError(f"[{op}] input must have rank >= {k}, got shape {tuple(a.shape)}")


# GPU path: complex DeviceArrays through csrc/cuda/fft.cu, one axis at a time.
def _gpu_fit(a, axis, n):
    """a cropped or zero-padded to n along axis (numpy.fft's `n`)."""
    m = a.shape[axis]
    if m == n:
        return a
    if m > n:
        return a[(slice(None),) * axis + (slice(0, n),)]
    widths = [(0, 0)] * a.ndim
    widths[axis] = (0, n - m)
    return np.pad(a, widths)


def _gpu_c2c(a, axis, inverse, scale=1.0):
    """The 1-D complex DFT of a GPU array along axis (moved innermost and back when needed)."""
    last = a.ndim - 1
    if axis != last:
        a = a.swapaxes(axis, last)
    r = DeviceArray(backend().fft_c2c(a.buf, inverse, float(scale)))
    return r.swapaxes(axis, last) if axis != last else r


def _scale(norm, inverse, n):
    """numpy.fft's factor for norm ('backward', 'ortho', 'forward') over prod(n) points."""
    total = float(np.prod(n)) if len(n) else 1.0
    if norm == "ortho":
        return 1.0 / _math.sqrt(total)
    return 1.0 / total if (norm == "backward") == inverse else 1.0


def _gpu_fftn(a, axes, n, inverse, norm):
    """c2c over axes (a complex GPU array), each cropped / padded to n."""
    scale = _scale(norm, inverse, n)
    for ax, v in zip(axes, n):
        a = _gpu_c2c(_gpu_fit(a, ax, v), ax, inverse, scale)
        scale = 1.0
    return a


def _gpu_rfftn(a, axes, n, norm):
    """r2c (a real GPU array): the last axis keeps n[-1] // 2 + 1 bins."""
    c = a.astype(_complex_of(a.dtype))
    last = axes[-1]
    c = _gpu_c2c(_gpu_fit(c, last, n[-1]), last, False, _scale(norm, False, n))
    c = c[(slice(None),) * last + (slice(0, n[-1] // 2 + 1),)]
    return _gpu_fftn(c, axes[:-1], n[:-1], False, "backward")


def _gpu_irfftn(a, axes, n, norm):
    """c2r (a complex GPU array): inverse c2c over all but the last axis, then the Hermitian
    completion of the last to n[-1] points, its inverse c2c and the real part."""
    scale = _scale(norm, True, n)
    c = _gpu_fftn(a, axes[:-1], n[:-1], True, "forward")
    last = axes[-1]
    if last != c.ndim - 1:
        raise AssertionError("c2r transforms end at the last axis")
    full = DeviceArray(backend().fft_hermitian(c.buf, n[-1]))
    r = DeviceArray(backend().fft_c2c(full.buf, True, scale))
    return DeviceArray(backend().complex_unary("real", r.buf))


def _cfft(op, x, k, fn):
    x = t_(x)
    a = x._data
    if a.dtype.kind != "c":
        raise TypeError(f"[{op}] expects a complex64 or complex128 tensor, got {a.dtype.name} "
                        f"of shape {tuple(a.shape)} (tf.cast it to complex64 first)")
    _check_rank(op, a, k)
    if type(a) is DeviceArray:
        axes = list(range(a.ndim - k, a.ndim))
        r = a.copy() if a.size == 0 else _gpu_fftn(
            a, axes, [a.shape[i] for i in axes], fn is np.fft.ifftn, "backward")
        out = _wrap(r)
    else:
        out = _wrap(fn(a, axes=tuple(range(-k, 0))).astype(a.dtype, copy=False))
    record_no_gradient(op, (x,), out)
    return out


def fft(input, name=None):  # noqa: A002
    """tf.signal.fft: the DFT over the innermost axis of a complex tensor."""
    return _cfft("fft", input, 1, np.fft.fftn)


def ifft(input, name=None):  # noqa: A002
    """tf.signal.ifft: the inverse DFT (scaled by 1/n) over the innermost axis."""
    return _cfft("ifft", input, 1, np.fft.ifftn)


def fft2d(input, name=None):  # noqa: A002
    return _cfft("fft2d", input, 2, np.fft.fftn)


def ifft2d(input, name=None):  # noqa: A002
    return _cfft("ifft2d", input, 2, np.fft.ifftn)


def fft3d(input, name=None):  # noqa: A002
    """tf.signal.fft3d: the DFT over the innermost 3 axes of a complex tensor."""
    return _cfft("fft3d", input, 3, np.fft.fftn)


def ifft3d(input, name=None):  # noqa: A002
    """tf.signal.ifft3d: the inverse DFT (scaled by 1/(n1 n2 n3)) over the innermost 3 axes."""
    return _cfft("ifft3d", input, 3, np.fft.ifftn)


def _rfft(op, x, fft_length, k):
    x = _real_input(op, x)
    _check_rank(op, x._data, k)
    n = _fft_lengths(op, fft_length, k, list(x._data.shape[-k:]))
    a = x._data
    if type(a) is DeviceArray and 0 not in n:  # (fft_length 0: numpy.fft's error, below)
        out = _wrap(_gpu_rfftn(a, list(range(a.ndim - k, a.ndim)), n, "backward") if a.size else
                    DeviceArray.full(a.shape[:-k] + tuple(n[:-1]) + (n[-1] // 2 + 1,), 0,
                                     _complex_of(a.dtype)))
    else:
        on_gpu = type(a) is DeviceArray
        a = host(a)
        r = np.fft.rfftn(a, s=n, axes=tuple(range(-k, 0))).astype(_complex_of(a.dtype))
        out = _wrap(to_device(r, "cuda") if on_gpu else r)
    record_no_gradient(op, (x,), out)
    return out


def _irfft(op, x, fft_length, k):
    x = t_(x)
    a = x._data
    if a.dtype.kind != "c":
        raise TypeError(f"[{op}] expects a complex64 or complex128 tensor, got {a.dtype.name} "
                        f"of shape {tuple(a.shape)}")
    _check_rank(op, a, k)
    default = list(a.shape[-k:-1]) + [2 * (a.shape[-1] - 1)]
    n = _fft_lengths(op, fft_length, k, default)
    if type(a) is DeviceArray:
        r = DeviceArray.full(a.shape[:-k] + tuple(n), 0, _real_of(a.dtype)) \
            if any(v == 0 for v in n) or a.size == 0 else \
            _gpu_irfftn(a, list(range(a.ndim - k, a.ndim)), n, "backward")
        out = _wrap(r)
        record_no_gradient(op, (x,), out)
        return out
    if any(v == 0 for v in n):
        r = np.zeros(a.shape[:-k] + tuple(n), _real_of(a.dtype))
    else:
        r = np.fft.irfftn(a, s=n, axes=tuple(range(-k, 0))).astype(_real_of(a.dtype))
    out = _wrap(place(np.ascontiguousarray(r)))
    record_no_gradient(op, (x,), out)
    return out


def rfft(input_tensor, fft_length=None, name=None):
    """tf.signal.rfft: the DFT of a real signal over its innermost axis, (..., n) ->
    (..., fft_length // 2 + 1) complex; fft_length (a 1-element list) crops or zero-pads."""
    return _rfft("rfft", input_tensor, fft_length, 1)


def irfft(input_tensor, fft_length=None, name=None):
    """tf.signal.irfft: the inverse of rfft, (..., m) -> (..., fft_length) real, fft_length
    defaulting to 2 * (m - 1)."""
    return _irfft("irfft", input_tensor, fft_length, 1)


def rfft2d(input_tensor, fft_length=None, name=None):
    return _rfft("rfft2d", input_tensor, fft_length, 2)


def irfft2d(input_tensor, fft_length=None, name=None):
    return _irfft("irfft2d", input_tensor, fft_length, 2)


def rfft3d(input_tensor, fft_length=None, name=None):
    """tf.signal.rfft3d: (..., n1, n2, n3) real -> (..., n1, n2, n3 // 2 + 1) complex;
    fft_length (3 values) crops or zero-pads each axis first."""
    return _rfft("rfft3d", input_tensor, fft_length, 3)


def irfft3d(input_tensor, fft_length=None, name=None):
    """tf.signal.irfft3d: the inverse of rfft3d; fft_length defaults to (m1, m2, 2 * (m3 - 1))."""
    return _irfft("irfft3d", input_tensor, fft_length, 3)


# ---------------------------------------------------------------- N-D FFTs (TF 2.21)
# TF 2.21's FFTND kernels take `axes` that are successive, ascending and end at the last axis
# (its Python wrapper defaults them to every axis), crop or zero-pad each to fft_length, and
# scale as norm says ('backward' the default, 'ortho', 'forward'; numpy.fft's meanings).
# TF registers no gradient for them; nabi records a node that says so (complex values).


def _nd_axes(op, a, axes):
    nd = a.ndim
    if axes is None:
        return list(range(nd))
    if isinstance(axes, Tensor):
        axes = axes.numpy()
    ax = [int(v) for v in np.asarray(axes).reshape(-1).tolist()]
    if not ax or any(not -nd <= v < nd for v in ax):
        raise ValueError(f"[{op}] axes {ax} are out of range for an input of shape "
                         f"{tuple(a.shape)}")
    ax = [v % nd for v in ax]
    if any(b != a_ + 1 for a_, b in zip(ax, ax[1:])) or ax[-1] != nd - 1:
        raise ValueError(f"[{op}] axes must be successive and ascending and end at the last "
                         f"axis (-1), as TF's kernel requires; got {ax} for shape "
                         f"{tuple(a.shape)}")
    return ax


def _nd_norm(op, norm):
    norm = "backward" if norm is None else norm
    if norm not in ("backward", "ortho", "forward"):
        raise ValueError(f"[{op}] norm must be 'backward', 'ortho' or 'forward', got {norm!r}")
    return norm


def _fftn_op(op, x, fft_length, axes, norm, kind):
    """kind: 'c2c', 'ic2c', 'r2c' or 'c2r'."""
    if kind == "r2c":
        x = _real_input(op, x)
        a = x._data
    else:
        x = t_(x)
        a = x._data
        if a.dtype.kind != "c":
            raise TypeError(f"[{op}] expects a complex64 or complex128 tensor, got "
                            f"{a.dtype.name} of shape {tuple(a.shape)}")
    if a.ndim == 0:
        raise ValueError(f"[{op}] input must have rank >= 1, got a scalar")
    ax = _nd_axes(op, a, axes)
    default = [a.shape[i] for i in ax]
    if kind == "c2r":
        default[-1] = max(0, 2 * (default[-1] - 1))
    n = _fft_lengths(op, fft_length, len(ax), default)
    norm = _nd_norm(op, norm)
    out_shape = list(a.shape)
    for i, v in zip(ax, n):
        out_shape[i] = v
    if kind == "r2c" and n[-1]:
        out_shape[ax[-1]] = n[-1] // 2 + 1
    cdt, rdt = _complex_of(a.dtype), _real_of(a.dtype)
    odt = rdt if kind == "c2r" else cdt
    if type(a) is DeviceArray:
        if 0 in out_shape or a.size == 0:
            r = DeviceArray.full(out_shape, 0, odt)
        elif kind == "r2c":
            r = _gpu_rfftn(a, ax, n, norm)
        elif kind == "c2r":
            r = _gpu_irfftn(a, ax, n, norm)
        else:
            r = _gpu_fftn(a, ax, n, kind == "ic2c", norm)
        out = _wrap(r)
        record_no_gradient(op, (x,), out)
        return out
    if 0 in out_shape or a.size == 0:
        r = np.zeros(out_shape, odt)
    else:
        fn = {"c2c": np.fft.fftn, "ic2c": np.fft.ifftn, "r2c": np.fft.rfftn,
              "c2r": np.fft.irfftn}[kind]
        r = fn(a, s=n, axes=ax, norm=norm).astype(odt)
    out = _wrap(place(np.ascontiguousarray(r)) if kind == "c2r" else np.ascontiguousarray(r))
    record_no_gradient(op, (x,), out)
    return out


def fftnd(input_tensor, fft_length=None, axes=None, norm=None, name=None):
    """tf.signal.fftnd: the N-D DFT of a complex tensor over `axes` (default: all), each axis
    cropped or zero-padded to its fft_length (default: its size)."""
    return _fftn_op("fftnd", input_tensor, fft_length, axes, norm, "c2c")


def ifftnd(input_tensor, fft_length=None, axes=None, norm=None, name=None):
    """tf.signal.ifftnd: the inverse of fftnd (scaled by 1/prod(fft_length) with norm
    'backward')."""
    return _fftn_op("ifftnd", input_tensor, fft_length, axes, norm, "ic2c")


def rfftnd(input_tensor, fft_length=None, axes=None, norm=None, name=None):
    """tf.signal.rfftnd: the N-D DFT of a real tensor (float32 -> complex64, float64 ->
    complex128); the last transformed axis keeps fft_length // 2 + 1 bins."""
    return _fftn_op("rfftnd", input_tensor, fft_length, axes, norm, "r2c")


def irfftnd(input_tensor, fft_length=None, axes=None, norm=None, name=None):
    """tf.signal.irfftnd: the inverse of rfftnd, a real result; fft_length defaults to the
    axes' sizes with 2 * (m - 1) for the last one."""
    return _fftn_op("irfftnd", input_tensor, fft_length, axes, norm, "c2r")


# ---------------------------------------------------------------- STFT


def _apply_window(framed, window_fn, frame_length):
    from .ops.math_ops import multiply
    w = window_fn(frame_length, dtype=framed.dtype)
    w = w if isinstance(w, Tensor) else t_(w)
    if type(w._data) is not type(framed._data):
        w = _const_like(w.numpy(), framed)
    return multiply(framed, w)


def stft(signals, frame_length, frame_step, fft_length=None, window_fn=hann_window,
         pad_end=False, name=None):
    """tf.signal.stft: frames the innermost axis, windows each frame and takes its rfft ->
    (..., frames, fft_length // 2 + 1) complex64 (complex128 for float64 signals).
    fft_length defaults to the smallest power of 2 >= frame_length."""
    x = _real_input("stft", signals)
    if x._data.ndim < 1:
        raise ValueError("[stft] signals must have rank >= 1, got a scalar")
    frame_length = _int("stft", "frame_length", frame_length)
    frame_step = _int("stft", "frame_step", frame_step)
    fft_length = _enclosing_power_of_two(frame_length) if fft_length is None else \
        _int("stft", "fft_length", fft_length)
    framed = frame(x, frame_length, frame_step, pad_end=pad_end)
    if window_fn is not None:
        framed = _apply_window(framed, window_fn, frame_length)
    return _rfft("stft", framed, [fft_length], 1)


def inverse_stft_window_fn(frame_step, forward_window_fn=hann_window, name=None):
    """tf.signal.inverse_stft_window_fn: a window_fn for inverse_stft that undoes
    forward_window_fn's overlapped gain, so inverse_stft(stft(x)) reconstructs x (away from
    the edges)."""
    frame_step = _int("inverse_stft_window_fn", "frame_step", frame_step)

    def window_fn(frame_length, dtype=_dt.float32):
        from .framework.device import host_scope
        with host_scope():  # built on the host: no read back from the GPU
            fw = forward_window_fn(frame_length, dtype=dtype)
        w = np.asarray(fw.numpy() if isinstance(fw, Tensor) else fw, dtype=np.float64)
        overlaps = -(-frame_length // frame_step)
        sq = np.zeros(overlaps * frame_step)
        sq[:frame_length] = w * w
        denom = np.tile(sq.reshape(overlaps, frame_step).sum(0), overlaps)[:frame_length]
        # TF: 0 where the summed squares are 0 (a hann window's first sample with
        # frame_step == frame_length), not 0 / 0 = nan
        safe = np.where(denom == 0, 1.0, denom)
        out = np.where(denom == 0, 0.0, w / safe)
        from .framework.tensor import convert_to_tensor
        return convert_to_tensor(out.astype(_dt.as_dtype(dtype)._np))
    return window_fn


def inverse_stft(stfts, frame_length, frame_step, fft_length=None, window_fn=hann_window,
                 name=None):
    """tf.signal.inverse_stft: irfft of each frame (cut or zero-padded to frame_length),
    windowed by window_fn, then overlap-added. Use
    window_fn=tf.signal.inverse_stft_window_fn(frame_step) to invert a hann stft."""
    frame_length = _int("inverse_stft", "frame_length", frame_length)
    frame_step = _int("inverse_stft", "frame_step", frame_step)
    fft_length = _enclosing_power_of_two(frame_length) if fft_length is None else \
        _int("inverse_stft", "fft_length", fft_length)
    x = t_(stfts)
    if x._data.ndim < 2:
        raise ValueError(f"[inverse_stft] stfts must have rank >= 2 (..., frames, bins), got "
                         f"shape {tuple(x.shape)}")
    if x._data.shape[-1] != fft_length // 2 + 1:
        raise ValueError(f"[inverse_stft] stfts has {x._data.shape[-1]} bins but fft_length "
                         f"{fft_length} needs {fft_length // 2 + 1}")
    frames = _irfft("inverse_stft", x, [fft_length], 1)
    if frame_length < fft_length:
        frames = frames[..., :frame_length]
    elif frame_length > fft_length:
        from .ops.array_ops import pad
        frames = pad(frames, [[0, 0]] * (frames.ndim - 1) + [[0, frame_length - fft_length]])
    if window_fn is not None:
        frames = _apply_window(frames, window_fn, frame_length)
    return overlap_and_add(frames, frame_step)


# ---------------------------------------------------------------- mel filterbank, MFCC


def _hz_to_mel(f):
    """The HTK mel scale TF uses: 1127 ln(1 + f / 700)."""
    return 1127.0 * np.log1p(np.asarray(f, np.float64) / 700.0)


def linear_to_mel_weight_matrix(num_mel_bins=20, num_spectrogram_bins=129, sample_rate=8000,
                                lower_edge_hertz=125.0, upper_edge_hertz=3800.0,
                                dtype=_dt.float32, name=None):
    """tf.signal.linear_to_mel_weight_matrix: a (num_spectrogram_bins, num_mel_bins) matrix of
    triangular filters, evenly spaced on the HTK mel scale between the edges; the DC bin's row
    is zero. `spectrogram @ matrix` gives a mel spectrogram."""
    op = "linear_to_mel_weight_matrix"
    num_mel_bins = _int(op, "num_mel_bins", num_mel_bins)
    num_spectrogram_bins = _int(op, "num_spectrogram_bins", num_spectrogram_bins)
    dt = _float_dtype(op, dtype)
    sample_rate = float(sample_rate.numpy() if isinstance(sample_rate, Tensor) else sample_rate)
    lo, hi = float(lower_edge_hertz), float(upper_edge_hertz)
    if sample_rate <= 0:
        raise ValueError(f"[{op}] sample_rate must be positive, got {sample_rate}")
    if lo < 0:
        raise ValueError(f"[{op}] lower_edge_hertz must be non-negative, got {lo}")
    if lo >= hi:
        raise ValueError(f"[{op}] lower_edge_hertz {lo} must be below upper_edge_hertz {hi}")
    if hi > sample_rate / 2:
        raise ValueError(f"[{op}] upper_edge_hertz {hi} must not exceed the Nyquist frequency "
                         f"{sample_rate / 2} (sample_rate {sample_rate})")
    # the spectrogram bins' centres, without DC (row 0 stays zero)
    bins_mel = _hz_to_mel(np.linspace(0.0, sample_rate / 2, num_spectrogram_bins)[1:])[:, None]
    edges = np.linspace(_hz_to_mel(lo), _hz_to_mel(hi), num_mel_bins + 2)
    left, centre, right = edges[:-2][None], edges[1:-1][None], edges[2:][None]
    rising = (bins_mel - left) / (centre - left)
    falling = (right - bins_mel) / (right - centre)
    w = np.maximum(0.0, np.minimum(rising, falling))
    w = np.concatenate([np.zeros((1, num_mel_bins)), w], axis=0)
    from .framework.tensor import convert_to_tensor
    return convert_to_tensor(w.astype(dt._np))


def _dct_matrix(kind, n_in, n, norm):
    """M with dct(x)[k] = sum_j x[j] M[j, k] for x's last axis of n_in, cut or zero-padded
    to n (rows past n are zero; rows past n_in dropped)."""
    j = np.arange(n)[:, None].astype(np.float64)
    k = np.arange(n)[None, :].astype(np.float64)
    if kind == 1:
        m = 2 * np.cos(np.pi * j * k / max(n - 1, 1))  # n = 1: just x[0], as TF
        m[0, :] = 1.0
        m[-1, :] = (-1.0) ** np.arange(n)
    elif kind == 2:
        m = 2 * np.cos(np.pi * k * (2 * j + 1) / (2 * n))
        if norm == "ortho":
            m[:, 0] *= np.sqrt(1 / (4 * n))
            m[:, 1:] *= np.sqrt(1 / (2 * n))
    elif kind == 3:
        m = 2 * np.cos(np.pi * j * (2 * k + 1) / (2 * n))
        m[0, :] = 1.0
        if norm == "ortho":
            m[0, :] = 1 / np.sqrt(n)
            m[1:, :] *= np.sqrt(1 / (2 * n))
    else:
        m = 2 * np.cos(np.pi * (2 * j + 1) * (2 * k + 1) / (4 * n))
        if norm == "ortho":
            m *= np.sqrt(1 / (2 * n))
    out = np.zeros((n_in, n))
    r = min(n_in, n)
    out[:r] = m[:r]
    return out


def _dct(op, input, type, n, axis, norm):  # noqa: A002
    from .ops.array_ops import reshape
    from .ops.math_ops import matmul
    x = _real_input(op, input)
    if type not in (1, 2, 3, 4):
        raise ValueError(f"[{op}] type must be 1, 2, 3 or 4, got {type!r}")
    if norm not in (None, "ortho"):
        raise ValueError(f"[{op}] norm must be None or 'ortho', got {norm!r}")
    if type == 1 and norm == "ortho":
        raise ValueError(f"[{op}] norm='ortho' is not supported for type 1 (as in TF)")
    a = x._data
    if a.ndim < 1:
        raise ValueError(f"[{op}] input must have rank >= 1, got a scalar")
    if axis not in (-1, a.ndim - 1):
        raise NotImplementedError(f"[{op}] only axis=-1 is supported, got axis={axis!r}")
    n_in = a.shape[-1]
    n = n_in if n is None else _int(op, "n", n)
    if type == 1 and n_in < 2:  # TF checks the input's length, before n cuts or pads
        raise ValueError(f"[{op}] type 1 needs an input length of at least 2, got shape "
                         f"{tuple(a.shape)}")
    m = _const_like(_dct_matrix(type, n_in, n, norm), x)
    flat = reshape(x, (-1, n_in))
    return reshape(matmul(flat, m), tuple(a.shape[:-1]) + (n,))


def dct(input, type=2, n=None, axis=-1, norm=None, name=None):  # noqa: A002
    """tf.signal.dct over the last axis: types 1-4, norm None (scipy's unnormalised
    convention: type 2 is 2 * sum x[j] cos(pi k (2j + 1) / 2N)) or 'ortho'; n cuts or
    zero-pads the input. A matmul with a cosine matrix, so it is differentiable."""
    return _dct("dct", input, type, n, axis, norm)


def idct(input, type=2, n=None, axis=-1, norm=None, name=None):  # noqa: A002
    """tf.signal.idct: the dct of the inverse type (2 <-> 3; 1 and 4 are their own). As in
    TF it is not scaled: idct(dct(x)) = 2N x with norm=None, x with norm='ortho'."""
    return _dct("idct", input, {1: 1, 2: 3, 3: 2, 4: 4}.get(type, type), n, axis, norm)


def mfccs_from_log_mel_spectrograms(log_mel_spectrograms, name=None):
    """tf.signal.mfccs_from_log_mel_spectrograms: the type-2 DCT of the last axis scaled by
    1 / sqrt(2 * num_mel_bins) (TF's convention). Keep the first 13 or so coefficients."""
    from .ops.math_ops import multiply
    x = _real_input("mfccs_from_log_mel_spectrograms", log_mel_spectrograms)
    if x._data.ndim < 1 or x._data.shape[-1] < 1:
        raise ValueError(f"[mfccs_from_log_mel_spectrograms] the last axis must hold at least "
                         f"one mel bin, got shape {tuple(x.shape)}")
    return multiply(dct(x, type=2), 1.0 / _math.sqrt(2.0 * x._data.shape[-1]))
