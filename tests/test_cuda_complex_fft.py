"""Complex tensors and the FFT family on the GPU (csrc/cuda/complex.cu, csrc/cuda/fft.cu).

Every op runs on the CPU (NumPy), the emulated GPU and the real GPU or the CUDA host simulator
(conftest's `where`), against numpy.fft / NumPy complex arithmetic in float64 (or a loop
reference written here for stft / inverse_stft). Tolerances are sized to the input dtype's
precision, relative to the input's norm and growing like log n (Bluestein's lengths use its
power-of-two size). GPU inputs give GPU results with no device-to-host read (reads_on).
The kernel entries are also called directly (conftest's `backend`: emulator and CUDA).
No gradients: complex ops record a node that raises (as on the CPU).
"""
import math

import numpy as np
import pytest

import nabi as tf
from nabi.framework.device import DeviceArray

from conftest import check_reads, reads_on

LENGTHS = [1, 2, 3, 5, 7, 8, 12, 16, 17, 64, 100, 127, 128, 257]
EPS = {np.complex64: 1.2e-7, np.complex128: 2.3e-16, np.float32: 1.2e-7, np.float64: 2.3e-16}
CX = {np.float32: np.complex64, np.float64: np.complex128}


def _cplx(rng, shape, dtype=np.complex64):
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(dtype)


def _np(t):
    return t.numpy() if hasattr(t, "numpy") else np.asarray(t)


def _on_device(t, where):
    """The result lives where the inputs did: a DeviceArray on the GPU, a host array on the CPU."""
    assert (type(t._data) is DeviceArray) == (where != "/CPU:0"), type(t._data)


def _fft_tol(x, n, dtype):
    """Max abs error allowed for a DFT of rows of length n of x (the input, any shape)."""
    n = max(int(n), 1)
    m = n if n & (n - 1) == 0 else 1 << (2 * n - 1).bit_length()  # Bluestein's size
    scale = math.sqrt(np.mean(np.abs(np.asarray(x, np.complex128)) ** 2) * n) + 1e-30
    return 10 * EPS[dtype] * (1 + math.log2(m)) * scale


def _check(got, want, tol, dtype):
    got = _np(got)
    assert got.shape == want.shape, (got.shape, want.shape)
    assert got.dtype == np.dtype(dtype), (got.dtype, dtype)
    err = np.max(np.abs(got.astype(np.complex128) - want)) if want.size else 0.0
    assert err <= tol, f"max error {err} > {tol}"


# ---------------------------------------------------------------- complex elementwise
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_complex_parts_and_abs(where, monkeypatch, rng, dtype):
    count = reads_on(where, monkeypatch)
    re = rng.standard_normal((3, 1)).astype(dtype)
    im = rng.standard_normal((4,)).astype(dtype)
    z = re + 1j * im.astype(np.float64)
    with tf.device(where):
        r, i = tf.constant(re), tf.constant(im)

        def run():
            c = tf.complex(r, i)
            return c, tf.math.real(c), tf.math.imag(c), tf.math.conj(c), tf.math.angle(c), \
                tf.abs(c)
        n, (c, cr, ci, cc, ca, cab) = count(run)
    check_reads(n, 0)
    for t in (c, cr, ci, cc, ca, cab):
        _on_device(t, where)
    tol = 4 * EPS[dtype]
    _check(c, z.astype(CX[dtype]), tol * 4, CX[dtype])
    _check(cr, np.broadcast_to(re, (3, 4)).astype(np.float64), 0, dtype)
    _check(ci, np.broadcast_to(im, (3, 4)).astype(np.float64), 0, dtype)
    _check(cc, np.conj(z), tol * 4, CX[dtype])
    _check(ca, np.angle(z.astype(CX[dtype])).astype(np.float64), tol * 8, dtype)
    _check(cab, np.abs(z), tol * 8, dtype)


@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
def test_complex_arithmetic_broadcasting(where, monkeypatch, rng, dtype):
    count = reads_on(where, monkeypatch)
    a = _cplx(rng, (2, 3, 1), dtype)
    b = _cplx(rng, (4,), dtype)
    b[0] = 0  # a division by zero: inf / nan as NumPy
    with tf.device(where):
        ta, tb = tf.constant(a), tf.constant(b)

        def run():
            return (ta + tb, ta - tb, ta * tb, ta / tb, -ta, ta * 2.0, 1.5 - tb,
                    tf.multiply(ta, tf.complex(tf.constant(0.0, a.real.dtype),
                                               tf.constant(1.0, a.real.dtype))))
        with np.errstate(all="ignore"):
            n, outs = count(run)
    check_reads(n, 0)
    a64, b64 = a.astype(np.complex128), b.astype(np.complex128)
    with np.errstate(all="ignore"):
        wants = (a64 + b64, a64 - b64, a64 * b64, a64 / b64, -a64, a64 * 2, 1.5 - b64, a64 * 1j)
    for t, w in zip(outs, wants):
        _on_device(t, where)
        got = _np(t)
        assert got.shape == w.shape and got.dtype == dtype
        fin = np.isfinite(w)
        np.testing.assert_allclose(got[fin], w[fin], rtol=8 * EPS[dtype], atol=8 * EPS[dtype])
        np.testing.assert_array_equal(np.isfinite(got), fin)


@pytest.mark.parametrize("src", [np.float32, np.float64, np.int32, np.int64, np.complex64,
                                 np.complex128])
def test_casts_real_complex(where, monkeypatch, rng, src):
    count = reads_on(where, monkeypatch)
    if np.dtype(src).kind == "c":
        x = (_cplx(rng, (5,), np.complex128) * 40).astype(src)
        targets = [np.complex64, np.complex128, np.float32, np.float64, np.int32]
    else:
        x = (rng.standard_normal(5) * 40).astype(src)
        targets = [np.complex64, np.complex128]
    with tf.device(where):
        t = tf.constant(x)
        n, outs = count(lambda: [tf.cast(t, d) for d in targets])
    check_reads(n, 0)
    for o, d in zip(outs, targets):
        _on_device(o, where)
        want = (np.real(x) if np.dtype(d).kind != "c" else x).astype(d)
        got = _np(o)
        assert got.dtype == np.dtype(d)
        np.testing.assert_allclose(got, want, rtol=1e-6)


def test_complex_matmul_and_host_fallback(where, monkeypatch, rng):
    """matmul runs as four real GEMMs (no read); a ufunc with no complex kernel (log2) runs
    in NumPy on a host copy and comes back to the device."""
    count = reads_on(where, monkeypatch)
    a, b = _cplx(rng, (2, 3, 4), np.complex128), _cplx(rng, (4, 5), np.complex128)
    with tf.device(where):
        ta, tb = tf.constant(a), tf.constant(b)
        r, m = count(lambda: tf.matmul(ta, tb))
        e = np.log2(ta._data)
    check_reads(r, 0)
    _on_device(m, where)
    assert (type(e) is DeviceArray) == (where != "/CPU:0"), type(e)
    np.testing.assert_allclose(m.numpy(), a @ b, rtol=1e-12, atol=1e-12)
    e = e.get() if type(e) is DeviceArray else e
    np.testing.assert_allclose(e, np.log2(a), rtol=1e-12)


def test_transfers_both_ways_and_sums(where, monkeypatch, rng):
    x = _cplx(rng, (3, 4), np.complex128)
    with tf.device(where):
        t = tf.constant(x)
        _on_device(t, where)
        np.testing.assert_array_equal(t.numpy(), x)
        np.testing.assert_allclose(tf.reduce_sum(t, axis=0).numpy(), x.sum(0), rtol=1e-12)
        np.testing.assert_allclose(tf.reduce_mean(t).numpy(), x.mean(), rtol=1e-12)
        z = tf.zeros_like(t)
        assert z.dtype == tf.complex128 and not np.any(z.numpy())


# ---------------------------------------------------------------- 1-D FFTs
@pytest.mark.parametrize("n", LENGTHS)
@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
def test_fft_ifft_lengths(where, monkeypatch, rng, n, dtype):
    count = reads_on(where, monkeypatch)
    x = _cplx(rng, (2, 3, n), dtype)
    with tf.device(where):
        t = tf.constant(x)
        r, (f, fi) = count(lambda: (tf.signal.fft(t), tf.signal.ifft(t)))
    check_reads(r, 0)
    _on_device(f, where)
    _on_device(fi, where)
    x64 = x.astype(np.complex128)
    _check(f, np.fft.fft(x64), _fft_tol(x, n, dtype), dtype)
    _check(fi, np.fft.ifft(x64), _fft_tol(x, n, dtype) / n, dtype)


@pytest.mark.parametrize("n", [2048, 600])  # the multi-launch Stockham path; Bluestein of 2048
def test_fft_long_rows(where, monkeypatch, rng, n):
    count = reads_on(where, monkeypatch)
    x = _cplx(rng, (1, n), np.complex64)
    with tf.device(where):
        t = tf.constant(x)
        r, f = count(lambda: tf.signal.fft(t))
    check_reads(r, 0)
    _check(f, np.fft.fft(x.astype(np.complex128)), _fft_tol(x, n, np.complex64), np.complex64)


def _lengths_for(n):
    return [None] + sorted({max(n - 1, 1), n + 3, 2 * n + 1})


@pytest.mark.parametrize("n", LENGTHS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_rfft_irfft(where, monkeypatch, rng, n, dtype):
    count = reads_on(where, monkeypatch)
    x = rng.standard_normal((2, n)).astype(dtype)
    for L in _lengths_for(n):
        fl = None if L is None else [L]
        with tf.device(where):
            t = tf.constant(x)
            r, f = count(lambda: tf.signal.rfft(t, fft_length=fl))
            check_reads(r, 0)
            _on_device(f, where)
            want = np.fft.rfft(x.astype(np.float64), n=L)
            _check(f, want, _fft_tol(x, L or n, CX[dtype]), CX[dtype])
            # irfft of the exact spectrum, cropped / padded by its own fft_length
            spec = tf.constant(want.astype(CX[dtype]))
            m = L or n
            r2, back = count(lambda: tf.signal.irfft(spec, fft_length=[m]))
            check_reads(r2, 0)
            _on_device(back, where)
            wb = np.fft.irfft(want, n=m)
            _check(back, wb.astype(np.complex128), _fft_tol(want, m, CX[dtype]) / max(m, 1),
                   dtype)
    with tf.device(where):  # the default fft_length of irfft: 2 (m - 1)
        spec = _cplx(rng, (3, n), CX[dtype])
        got = tf.signal.irfft(tf.constant(spec))
        m = 2 * (n - 1)
        want = np.fft.irfft(spec.astype(np.complex128), n=m) if m else np.zeros((3, 0))
        _check(got, want.astype(np.complex128), _fft_tol(spec, max(m, 1), CX[dtype]), dtype)


# ---------------------------------------------------------------- multi-axis
@pytest.mark.parametrize("shape", [(2, 5, 8), (3, 4, 7, 6), (1, 1, 12)])
def test_fft2d_fft3d_and_inverses(where, monkeypatch, rng, shape):
    count = reads_on(where, monkeypatch)
    x = _cplx(rng, shape, np.complex64)
    x64 = x.astype(np.complex128)
    n = int(np.prod(shape[-3:]))
    with tf.device(where):
        t = tf.constant(x)
        r, outs = count(lambda: (tf.signal.fft2d(t), tf.signal.ifft2d(t), tf.signal.fft3d(t),
                                 tf.signal.ifft3d(t)))
    check_reads(r, 0)
    wants = (np.fft.fft2(x64), np.fft.ifft2(x64), np.fft.fftn(x64, axes=(-3, -2, -1)),
             np.fft.ifftn(x64, axes=(-3, -2, -1)))
    tol = _fft_tol(x, n, np.complex64) * 2
    for o, w, inv in zip(outs, wants, (False, True, False, True)):
        _on_device(o, where)
        _check(o, w, tol, np.complex64)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_rfft2d_rfft3d_and_inverses(where, monkeypatch, rng, dtype):
    count = reads_on(where, monkeypatch)
    x = rng.standard_normal((2, 6, 5, 7)).astype(dtype)
    x64 = x.astype(np.float64)
    cd = CX[dtype]
    with tf.device(where):
        t = tf.constant(x)
        r, (f2, f2l, f3, f3l) = count(lambda: (
            tf.signal.rfft2d(t), tf.signal.rfft2d(t, fft_length=[4, 9]), tf.signal.rfft3d(t),
            tf.signal.rfft3d(t, fft_length=[7, 3, 6])))
        check_reads(r, 0)
        tol = _fft_tol(x, 6 * 5 * 7 * 4, cd)
        _check(f2, np.fft.rfft2(x64), tol, cd)
        _check(f2l, np.fft.rfft2(x64, s=(4, 9)), tol, cd)
        _check(f3, np.fft.rfftn(x64, axes=(-3, -2, -1)), tol, cd)
        _check(f3l, np.fft.rfftn(x64, s=(7, 3, 6), axes=(-3, -2, -1)), tol, cd)
        spec2 = np.fft.rfft2(x64)
        s2 = tf.constant(spec2.astype(cd))
        s3 = tf.constant(np.fft.rfftn(x64, axes=(-3, -2, -1)).astype(cd))
        r2, (b2, b2l, b3) = count(lambda: (
            tf.signal.irfft2d(s2), tf.signal.irfft2d(s2, fft_length=[5, 9]),
            tf.signal.irfft3d(s3, fft_length=[6, 5, 7])))
        check_reads(r2, 0)
    for o in (f2, f2l, f3, f3l, b2, b2l, b3):
        _on_device(o, where)
    _check(b2, np.fft.irfft2(spec2).astype(np.complex128), tol, dtype)
    _check(b2l, np.fft.irfft2(spec2, s=(5, 9)).astype(np.complex128), tol, dtype)
    _check(b3, x64.astype(np.complex128), tol, dtype)


@pytest.mark.parametrize("norm", [None, "ortho", "forward"])
def test_fftnd_family(where, monkeypatch, rng, norm):
    count = reads_on(where, monkeypatch)
    x = _cplx(rng, (3, 4, 6), np.complex128)
    xr = rng.standard_normal((3, 4, 6))
    ax, fl = [1, 2], [5, 3]
    with tf.device(where):
        t, tr = tf.constant(x), tf.constant(xr)
        r, outs = count(lambda: (
            tf.signal.fftnd(t, norm=norm), tf.signal.ifftnd(t, fft_length=fl, axes=ax, norm=norm),
            tf.signal.rfftnd(tr, fft_length=fl, axes=ax, norm=norm),
            tf.signal.irfftnd(t, fft_length=[4, 9], axes=ax, norm=norm)))
    check_reads(r, 0)
    nm = norm or "backward"
    wants = (np.fft.fftn(x, norm=nm), np.fft.ifftn(x, s=fl, axes=ax, norm=nm),
             np.fft.rfftn(xr, s=fl, axes=ax, norm=nm),
             np.fft.irfftn(x, s=[4, 9], axes=ax, norm=nm))
    dts = (np.complex128, np.complex128, np.complex128, np.float64)
    for o, w, d in zip(outs, wants, dts):
        _on_device(o, where)
        _check(o, w.astype(np.complex128), _fft_tol(x, 72 * 4, np.complex128), d)


# ---------------------------------------------------------------- STFT
def _hann(n):
    """TF's periodic hann window: an odd length gets the symmetric one (denominator n - 1)."""
    return 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / max(n - n % 2, 1))


def _stft_ref(x, fl, fs, L, pad_end):
    n = x.shape[-1]
    if pad_end:
        frames = -(-n // fs)
        x = np.concatenate([x, np.zeros(x.shape[:-1] + (max(0, fl + fs * (frames - 1) - n),))],
                           -1)
    else:
        frames = 1 + (n - fl) // fs if n >= fl else 0
    out = np.zeros(x.shape[:-1] + (frames, L // 2 + 1), np.complex128)
    for f in range(frames):
        out[..., f, :] = np.fft.rfft(x[..., f * fs:f * fs + fl] * _hann(fl), n=L)
    return out


@pytest.mark.parametrize("fl,fs,L,pad_end", [(16, 8, None, False), (12, 5, 16, True),
                                             (25, 10, 32, False), (20, 7, 17, True),
                                             (33, 33, 40, False), (8, 3, 6, False)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_stft(where, monkeypatch, rng, fl, fs, L, pad_end, dtype):
    count = reads_on(where, monkeypatch)
    x = rng.standard_normal((2, 100)).astype(dtype)
    with tf.device(where):
        t = tf.constant(x)
        r, (s, mag) = count(lambda: (lambda s: (s, tf.abs(s)))(
            tf.signal.stft(t, fl, fs, fft_length=L, pad_end=pad_end)))
    check_reads(r, 0)
    _on_device(s, where)
    _on_device(mag, where)
    Ln = L or (1 << (fl - 1).bit_length())
    want = _stft_ref(x.astype(np.float64), fl, fs, Ln, pad_end)
    tol = _fft_tol(x, Ln, CX[dtype]) * 2
    _check(s, want, tol, CX[dtype])
    _check(mag, np.abs(want).astype(np.complex128), tol, dtype)


def _istft_ref(s, fl, fs, L, window):
    frames = np.fft.irfft(s, n=L)
    frames = frames[..., :fl] if fl <= L else np.concatenate(
        [frames, np.zeros(frames.shape[:-1] + (fl - L,))], -1)
    frames = frames * window
    nf = frames.shape[-2]
    out = np.zeros(frames.shape[:-2] + ((nf - 1) * fs + fl,))
    for f in range(nf):
        out[..., f * fs:f * fs + fl] += frames[..., f, :]
    return out


@pytest.mark.parametrize("fl,fs,L", [(16, 4, None), (20, 5, 32), (24, 6, 20)])
def test_inverse_stft(where, monkeypatch, rng, fl, fs, L):
    count = reads_on(where, monkeypatch)
    x = rng.standard_normal((2, 120)).astype(np.float32)
    Ln = L or (1 << (fl - 1).bit_length())
    wfn = tf.signal.inverse_stft_window_fn(fs)
    with tf.device(where):
        t = tf.constant(x)
        s = tf.signal.stft(t, fl, fs, fft_length=Ln)
        r, back = count(lambda: tf.signal.inverse_stft(s, fl, fs, fft_length=Ln, window_fn=wfn))
    check_reads(r, 0)
    _on_device(back, where)
    spec = _stft_ref(x.astype(np.float64), fl, fs, Ln, False)
    w = wfn(fl, dtype=tf.float64).numpy()
    want = _istft_ref(spec, fl, fs, Ln, w)
    _check(back, want.astype(np.complex128), 1e-5 * np.abs(x).max() * Ln, np.float32)
    if Ln >= fl:  # a full reconstruction away from the edges
        lo, hi = fl, want.shape[-1] - fl
        np.testing.assert_allclose(_np(back)[..., lo:hi], x[..., lo:hi], atol=1e-4)


# ---------------------------------------------------------------- Keras ops on the GPU
def test_keras_ops_stay_on_the_device(where, monkeypatch, rng):
    from nabi import keras
    count = reads_on(where, monkeypatch)
    x = rng.standard_normal((2, 64)).astype(np.float32)
    with tf.device(where):
        t = tf.constant(x)
        zr, zi = tf.constant(x), tf.constant(x[::-1].copy())
        r, outs = count(lambda: (
            keras.ops.fft((zr, zi)), keras.ops.rfft(t), keras.ops.stft(t, 16, 8, 16),
            keras.ops.irfft(keras.ops.rfft(t)), keras.ops.real(tf.complex(zr, zi)),
            keras.ops.imag(tf.complex(zr, zi)),
            keras.ops.istft(keras.ops.stft(t, 16, 4, 16), 16, 4, 16, length=64)))
    check_reads(r, 0)
    fre, fim = outs[0]
    _on_device(fre, where)
    want = np.fft.fft(x.astype(np.float64) + 1j * x[::-1])
    np.testing.assert_allclose(_np(fre), want.real, atol=1e-4)
    np.testing.assert_allclose(_np(fim), want.imag, atol=1e-4)
    np.testing.assert_allclose(_np(outs[3]), x, atol=1e-5)
    np.testing.assert_array_equal(_np(outs[4]), x)
    np.testing.assert_array_equal(_np(outs[5]), x[::-1])
    # istft(stft) reconstructs away from the edges (the window sums are taken at full overlap)
    np.testing.assert_allclose(_np(outs[6])[:, 16:-16], x[:, 16:-16], atol=1e-4)


# ---------------------------------------------------------------- errors and gradients
def test_errors_name_the_op(where):
    with tf.device(where):
        c = tf.constant(np.ones((2, 4), np.complex64))
        f = tf.constant(np.ones((2, 4), np.float32))
        with pytest.raises(TypeError, match=r"\[rfft\]"):
            tf.signal.rfft(c)
        with pytest.raises(TypeError, match=r"\[fft\]"):
            tf.signal.fft(f)
        with pytest.raises(TypeError, match=r"\[irfft\]"):
            tf.signal.irfft(f)
        with pytest.raises(ValueError, match=r"\[fft2d\]"):
            tf.signal.fft2d(tf.constant(np.ones(4, np.complex64)))
        with pytest.raises(ValueError, match=r"\[rfft\]"):
            tf.signal.rfft(f, fft_length=[4, 4])
        with pytest.raises(TypeError, match=r"\[complex\]"):
            tf.complex(f, tf.constant(np.ones((2, 4), np.float64)))
        with pytest.raises(ValueError, match=r"\[complex\]"):
            tf.complex(f, tf.constant(np.ones((3,), np.float32)))
        with pytest.raises(ValueError, match=r"\[inverse_stft\]"):
            tf.signal.inverse_stft(c, 8, 4, fft_length=8)


def test_no_gradient_through_complex(where):
    with tf.device(where):
        x = tf.Variable(np.ones(8, np.float32))
        with tf.GradientTape() as tape:
            y = tf.reduce_sum(tf.abs(tf.signal.rfft(x)))
        with pytest.raises(NotImplementedError, match=r"\[rfft\]|\[abs\]"):
            tape.gradient(y, x)


# ---------------------------------------------------------------- kernel entries directly
@pytest.mark.parametrize("n", [1, 4, 6, 31, 64, 1024, 1100])
@pytest.mark.parametrize("inverse", [False, True])
def test_fft_c2c_entry(backend, rng, n, inverse):
    x = _cplx(rng, (3, n), np.complex128)
    y = backend.fft_c2c(backend.DeviceBuffer.from_numpy(x), inverse, 0.5).numpy()
    want = (np.fft.ifft(x) * n if inverse else np.fft.fft(x)) * 0.5
    assert y.dtype == np.complex128
    np.testing.assert_allclose(y, want, atol=_fft_tol(x, n, np.complex128))


@pytest.mark.parametrize("m,n", [(5, 8), (5, 9), (3, 8), (9, 4), (1, 1), (4, 0), (0, 5)])
def test_fft_hermitian_entry(backend, rng, m, n):
    x = _cplx(rng, (2, m), np.complex64)
    y = backend.fft_hermitian(backend.DeviceBuffer.from_numpy(x), n).numpy()
    want = np.zeros((2, n), np.complex64)
    for k in range(n):
        src = n - k if k > n // 2 else k
        v = x[:, src] if src < m else 0
        want[:, k] = np.conj(v) if k > n // 2 else v
    np.testing.assert_array_equal(y, want)


def test_complex_entries(backend, rng):
    D = backend.DeviceBuffer
    z = _cplx(rng, (2, 3), np.complex64)
    w = _cplx(rng, (3,), np.complex64)
    for op, fn in [("real", np.real), ("imag", np.imag), ("conj", np.conj), ("neg", np.negative)]:
        np.testing.assert_array_equal(backend.complex_unary(op, D.from_numpy(z)).numpy(), fn(z))
    np.testing.assert_allclose(backend.complex_unary("abs", D.from_numpy(z)).numpy(), np.abs(z),
                               rtol=1e-6)
    for op, fn in [("add", np.add), ("sub", np.subtract), ("mul", np.multiply),
                   ("div", np.divide)]:
        got = backend.complex_binary(op, D.from_numpy(z), D.from_numpy(w)).numpy()
        np.testing.assert_allclose(got, fn(z.astype(np.complex128), w), rtol=1e-6)
    re, im = z.real.copy(), w.imag.copy()
    got = backend.complex_binary("make", D.from_numpy(re), D.from_numpy(im)).numpy()
    np.testing.assert_array_equal(got, re + 1j * im)
    c = backend.cast(D.from_numpy(z), "int32").numpy()
    np.testing.assert_array_equal(c, z.real.astype(np.int32))
    f = backend.fill([2, 2], 3.5, "complex128").numpy()
    np.testing.assert_array_equal(f, np.full((2, 2), 3.5 + 0j))
    with pytest.raises(TypeError, match=r"\[complex_unary\]"):
        backend.complex_unary("real", D.from_numpy(re))
    with pytest.raises(ValueError, match=r"\[fft_c2c\]"):
        backend.fft_c2c(D.from_numpy(np.ones((), np.complex64)))
