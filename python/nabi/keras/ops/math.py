"""`keras.ops` math ops (Keras 3's keras/src/ops/math.py). Keras 3 passes complex values as
(real, imag) pairs of float tensors; fft/rfft/stft here take and return such pairs."""
import numpy as np

import nabi as tf
from ...framework.device import DeviceArray, host_scope
from ...framework.tensor import _wrap
from ...ops.segment_ops import _ranged

from ._checks import one_of
from ._common import norm_axis, shape_of, t_, to_float


def logsumexp(x, axis=None, keepdims=False):
    x = to_float(x)
    return tf.reduce_logsumexp(x, axis=norm_axis("logsumexp", axis, x.shape.rank),
                               keepdims=keepdims)


def top_k(x, k, sorted=True):  # noqa: A002
    x = t_(x)
    n = shape_of(x)[-1]
    if not 0 <= int(k) <= n:
        raise ValueError(f"[top_k] k={k} must be in [0, {n}] for x of shape {shape_of(x)}")
    r = tf.math.top_k(x, k=int(k), sorted=sorted)
    return r.values, r.indices


def in_top_k(targets, predictions, k):
    return tf.math.in_top_k(t_(targets, tf.int32), to_float(predictions), int(k))


def _segment(op, fn, data, segment_ids, num_segments):
    data, ids = t_(data), t_(segment_ids, tf.int32)
    if ids.shape.rank != 1 or shape_of(ids)[0] != shape_of(data)[0]:
        raise ValueError(f"[{op}] segment_ids must be 1-D with data's first dim: data "
                         f"{shape_of(data)}, segment_ids {shape_of(ids)}")
    if num_segments is None:   # the output's size comes from the ids (one read, as TF)
        if shape_of(ids)[0] and type(ids._data) is DeviceArray:
            # their min and max in that one read: the op then checks them with no second read
            lo, hi = (int(v) for v in np.stack([ids._data.min(), ids._data.max()]).get())
            ids = _wrap(_ranged(ids._data, lo, hi))
            num_segments = hi + 1
        else:
            num_segments = int(tf.reduce_max(ids).numpy()) + 1 if shape_of(ids)[0] else 0
    return fn(data, ids, int(num_segments))


def segment_sum(data, segment_ids, num_segments=None, sorted=False):  # noqa: A002
    return _segment("segment_sum", tf.math.unsorted_segment_sum, data, segment_ids, num_segments)


def segment_max(data, segment_ids, num_segments=None, sorted=False):  # noqa: A002
    return _segment("segment_max", tf.math.unsorted_segment_max, data, segment_ids, num_segments)


def erf(x):
    return tf.math.erf(to_float(x))


def erfinv(x):
    return tf.math.erfinv(to_float(x))


def rsqrt(x):
    return tf.math.rsqrt(to_float(x))


def extract_sequences(x, sequence_length, sequence_stride):
    x = t_(x)
    return tf.signal.frame(x, int(sequence_length), int(sequence_stride), axis=-1)


def _pair_in(op, x):
    if not isinstance(x, (tuple, list)) or len(x) != 2:
        raise ValueError(f"[{op}] x must be a (real, imag) pair of tensors, got {type(x).__name__}")
    re, im = to_float(x[0]), to_float(x[1])
    if shape_of(re) != shape_of(im):
        raise ValueError(f"[{op}] real and imag must have one shape, got {shape_of(re)} and "
                         f"{shape_of(im)}")
    return re, t_(im, re.dtype)


# Transforms up to this length run as real matmuls with DFT matrices: differentiable (nabi
# does not differentiate complex values) and on any device; longer ones use nabi.signal.
_DFT_MAX = 4096


def _dft(n, m, dtype, inverse=False):
    """cos and sin of 2*pi*j*k/n for j < n (input) and k < m (output), as (n, m) tensors."""
    ang = 2 * np.pi * np.outer(np.arange(n), np.arange(m)) / n
    nd = dtype.as_numpy_dtype
    return t_(np.cos(ang).astype(nd)), t_(np.sin(ang).astype(nd))


def _last_dft(re, im, inverse=False):
    """The complex DFT of re + i*im along the last axis, as (real, imag)."""
    n = shape_of(re)[-1]
    if n > _DFT_MAX:
        c = tf.complex(re, im)
        return _pair_out(tf.signal.ifft(c) if inverse else tf.signal.fft(c))
    cos, sin = _dft(n, n, re.dtype)
    if inverse:
        scale = t_(1.0 / n, re.dtype)
        return ((_mm(re, cos) - _mm(im, sin)) * scale, (_mm(im, cos) + _mm(re, sin)) * scale)
    return _mm(re, cos) + _mm(im, sin), _mm(im, cos) - _mm(re, sin)


def _mm(x, m):
    """x (..., n) @ m (n, k) for any number of leading dims."""
    s = shape_of(x)
    y = tf.matmul(tf.reshape(x, [-1, s[-1]]), m)
    return tf.reshape(y, list(s[:-1]) + [shape_of(m)[-1]])


def _pair_out(c):
    return tf.math.real(c), tf.math.imag(c)


def fft(x):
    """DFT along the last axis of x = (real, imag); returns (real, imag)."""
    return _last_dft(*_pair_in("fft", x))


def _swap_last2(t):
    nd = t.shape.rank
    return tf.transpose(t, list(range(nd - 2)) + [nd - 1, nd - 2])


def _dft2(x, op, inverse):
    re, im = _pair_in(op, x)
    if re.shape.rank < 2:
        raise ValueError(f"[{op}] x must be at least 2-D, got shape {shape_of(re)}")
    re, im = _last_dft(re, im, inverse)
    re, im = _last_dft(_swap_last2(re), _swap_last2(im), inverse)
    return _swap_last2(re), _swap_last2(im)


def fft2(x):
    return _dft2(x, "fft2", False)


def ifft2(x):
    return _dft2(x, "ifft2", True)


def _rfft_last(x, n):
    """The one-sided DFT of the real x along its last axis, padded/cut to n."""
    L = shape_of(x)[-1]
    if L < n:
        x = tf.pad(x, [[0, 0]] * (x.shape.rank - 1) + [[0, n - L]])
    elif L > n:
        x = x[..., :n]
    if n > _DFT_MAX:
        return _pair_out(tf.signal.rfft(x, fft_length=[n]))
    cos, sin = _dft(n, n // 2 + 1, x.dtype)
    return _mm(x, cos), -_mm(x, sin)


def rfft(x, fft_length=None):
    x = to_float(x)
    n = shape_of(x)[-1] if fft_length is None else int(fft_length)
    return _rfft_last(x, n)


def irfft(x, fft_length=None):
    re, im = _pair_in("irfft", x)
    m = shape_of(re)[-1]
    n = 2 * (m - 1) if fft_length is None else int(fft_length)
    if n > _DFT_MAX:
        return tf.signal.irfft(tf.complex(re, im), fft_length=[n])
    k = n // 2 + 1
    if m < k:
        pad = [[0, 0]] * (re.shape.rank - 1) + [[0, k - m]]
        re, im = tf.pad(re, pad), tf.pad(im, pad)
    re, im = re[..., :k], im[..., :k]
    w = np.full(k, 2.0)
    w[0] = 1.0
    if n % 2 == 0:
        w[-1] = 1.0
    ang = 2 * np.pi * np.outer(np.arange(k), np.arange(n)) / n
    nd = re.dtype.as_numpy_dtype
    cos = t_((w[:, None] * np.cos(ang) / n).astype(nd))
    sin = t_((w[:, None] * np.sin(ang) / n).astype(nd))
    return _mm(re, cos) - _mm(im, sin)


def _window(op, window, sequence_length, fft_length, dtype):
    if window is None:
        w = np.ones(sequence_length)
    elif isinstance(window, str):
        n = np.arange(sequence_length)
        if window == "hann":
            w = 0.5 - 0.5 * np.cos(2 * np.pi * n / sequence_length)
        elif window == "hamming":
            w = 0.54 - 0.46 * np.cos(2 * np.pi * n / sequence_length)
        else:
            raise ValueError(f"[{op}] window must be 'hann', 'hamming', None or a tensor, got "
                             f"{window!r}")
    else:
        w = np.asarray(window.numpy() if hasattr(window, "numpy") else window, np.float64)
        if w.shape != (sequence_length,):
            raise ValueError(f"[{op}] a window tensor must have shape ({sequence_length},), got "
                             f"{w.shape}")
    lp = (fft_length - sequence_length) // 2
    w = np.pad(w, (lp, fft_length - sequence_length - lp))
    return t_(w.astype(dtype.as_numpy_dtype))


def stft(x, sequence_length, sequence_stride, fft_length, window="hann", center=True):
    """Keras 3's STFT: optional reflect padding by fft_length // 2 (center), periodic window
    of sequence_length centred in fft_length (window=None: frames of fft_length samples, no
    window); returns (real, imag) of shape
    (..., frames, fft_length // 2 + 1)."""
    x = to_float(x)
    sequence_length, sequence_stride, fft_length = int(sequence_length), int(sequence_stride), \
        int(fft_length)
    if sequence_length > fft_length:
        raise ValueError(f"[stft] sequence_length ({sequence_length}) must be <= fft_length "
                         f"({fft_length})")
    if center:
        p = fft_length // 2
        from .numpy import pad
        x = pad(x, [[0, 0]] * (x.shape.rank - 1) + [[p, p]], mode="reflect")
    frames = tf.signal.frame(x, fft_length, sequence_stride, axis=-1)
    if window is not None:    # None: the whole fft_length frames, unwindowed (as Keras)
        frames = frames * _window("stft", window, sequence_length, fft_length, x.dtype)
    return _rfft_last(frames, fft_length)


def istft(x, sequence_length, sequence_stride, fft_length, length=None, window="hann",
          center=True):
    """Keras 3's inverse STFT of x = (real, imag) of shape (..., frames, fft_length // 2 + 1):
    each frame's irfft times the window (sequence_length, centred in fft_length) divided by
    the sum of the squared windows that overlap there, overlap-added every sequence_stride
    samples; `center` drops the fft_length // 2 samples stft's reflect padding added at each
    end; `length` cuts (or zero-pads) the result to that many samples. window=None takes the
    frames as they are (no window, no normalisation), as Keras does. Differentiable."""
    re, im = _pair_in("istft", x)
    sequence_length, sequence_stride, fft_length = int(sequence_length), \
        int(sequence_stride), int(fft_length)
    if not 0 < sequence_length <= fft_length or sequence_stride < 1:
        raise ValueError(f"[istft] need 0 < sequence_length <= fft_length and sequence_stride "
                         f">= 1, got sequence_length={sequence_length}, fft_length={fft_length}, "
                         f"sequence_stride={sequence_stride}")
    shp = shape_of(re)
    if len(shp) < 2 or shp[-1] != fft_length // 2 + 1:
        raise ValueError(f"[istft] x must have shape (..., frames, fft_length // 2 + 1 = "
                         f"{fft_length // 2 + 1}), got {shp}")
    frames = irfft((re, im), fft_length)                  # (..., frames, fft_length)
    if window is not None:
        with host_scope():  # the window on the host: nothing read back from the GPU
            w = _window("istft", window, sequence_length, fft_length, re.dtype).numpy() \
                .astype(np.float64)
        overlaps = -(-fft_length // sequence_stride)
        sq = np.zeros(overlaps * sequence_stride)
        sq[:fft_length] = w * w
        denom = np.tile(sq.reshape(overlaps, sequence_stride).sum(0), overlaps)[:fft_length]
        w = w / np.where(denom > 0, denom, 1.0)
        frames = frames * t_(w.astype(re.dtype.as_numpy_dtype))
    y = tf.signal.overlap_and_add(frames, sequence_stride)
    total = shape_of(y)[-1]
    start = fft_length // 2 if center else 0
    if length is not None:
        end = start + int(length)
    else:
        end = total - fft_length // 2 if center else total
    y = y[..., start:min(end, total)]
    short = end - max(total, start)
    if short > 0:
        y = tf.pad(y, [[0, 0]] * (y.shape.rank - 1) + [[0, short]])
    return y


def qr(x, mode="reduced"):
    one_of("qr", "mode", mode, ("reduced", "complete"))
    return tuple(tf.linalg.qr(to_float(x), full_matrices=(mode == "complete")))


def logdet(x):
    return tf.linalg.logdet(to_float(x))
