"""The complex elementary functions on the GPU (csrc/cuda/complex_elementary.cuh through
complex.cu's complex_unary / complex_binary): exp, expm1, log, log1p, sqrt, rsqrt, square,
reciprocal, sign, sin, cos, tan, sinh, cosh, tanh and pow of complex64 / complex128 tensors.

Every op runs on the CPU (NumPy), the emulated GPU and the real GPU or the CUDA host simulator
(conftest's `where`) against NumPy in complex128 (log1p of small z: its power series, summed
here, as NumPy's is inexact there): values in all four quadrants, across magnitudes, on and
next to the branch cut (the negative real axis, imaginary part +-0 and +-tiny). Special values
(inf / nan / signed zeros on the axes) are compared exactly, nan for nan and zero signs
included, with the kernel entry called directly (conftest's `backend`). GPU inputs give GPU
results with no device-to-host read.
"""
import os

import numpy as np
import pytest

import nabi as tf
from nabi.framework.device import DeviceArray

from conftest import check_reads, reads_on

EPS = {np.complex64: 1.2e-7, np.complex128: 2.3e-16}
UNARY = ["exp", "expm1", "log", "log1p", "sqrt", "rsqrt", "square", "reciprocal", "sign", "sin",
         "cos", "tan", "sinh", "cosh", "tanh"]
# the functions of exp's family overflow for large parts: their inputs stay below this
GROWS = {"exp", "expm1", "sin", "cos", "tan", "sinh", "cosh", "tanh"}


def _log1p_series(z):
    """log(1 + z) = sum_k (-1)^(k+1) z^k / k for |z| < 1/2 (100 terms: error < 2^-100)."""
    s, p = np.zeros_like(z), np.ones_like(z)
    for k in range(1, 101):
        p = p * z
        s = s + (p / k if k % 2 else -p / k)
    return s


def _reference(op, z, series=True):
    with np.errstate(all="ignore"):
        if op == "rsqrt":
            return 1 / np.sqrt(z)
        r = getattr(np, op)(z)
        if op == "log1p" and series:
            small = np.abs(z) < 0.5
            r[small] = _log1p_series(z[small])
        return r


def _values(rng, op, dtype):
    """Random z in all four quadrants across magnitudes, and on / next to the branch cut."""
    lo, hi = (-6, 6) if dtype == np.complex128 else (-4, 4)
    mag = 10.0 ** rng.uniform(lo, hi, 96)
    z = mag * np.exp(1j * rng.uniform(-np.pi, np.pi, 96))
    tiny = 1e-30 if dtype == np.complex128 else 1e-20
    cut = -10.0 ** rng.uniform(-3, 3, 16)
    z = np.concatenate([z, cut + 0j, cut - 0j, cut + 1j * tiny, cut - 1j * tiny,
                        [1 + 0j, -1 + 0j, 1j, -1j, 0.5 + 0.5j, -0.5 - 0.5j]])
    if op in GROWS:
        z = z[np.abs(z) < 20]
    return z.astype(dtype)


def _apply(op, t):
    if op == "sign":
        return tf.sign(t)
    return getattr(tf.math, op)(t)


@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
@pytest.mark.parametrize("op", UNARY)
def test_unary_against_numpy(where, monkeypatch, rng, op, dtype):
    count = reads_on(where, monkeypatch)
    z = _values(rng, op, dtype)
    want = _reference(op, z.astype(np.complex128))
    with tf.device(where):
        t = tf.constant(z)
        n, got = count(lambda: _apply(op, t))
    check_reads(n, 0)
    assert (type(got._data) is DeviceArray) == (where != "/CPU:0")
    g = got.numpy()
    assert g.shape == z.shape and g.dtype == np.dtype(dtype), (g.shape, g.dtype)
    assert np.array_equal(np.isfinite(g), np.isfinite(want)), op
    fin = np.isfinite(want)
    if op == "log1p" and (where == "/CPU:0" or os.environ.get("NABI_EMULATE_CUDA") == "1"):
        fin &= np.abs(z) >= 0.5  # NumPy's own log1p (the CPU's, the emulator's): inexact near 0
    err = np.abs(g.astype(np.complex128)[fin] - want[fin]) / np.maximum(np.abs(want[fin]), 1e-300)
    # complex64 also on the GPU's float libm (a few ulp), against complex128 of its inputs
    tol = (32 if dtype == np.complex64 else 16) * EPS[dtype]
    worst = int(np.argmax(err)) if err.size else 0
    assert err.size == 0 or err[worst] <= tol, \
        f"{op} {np.dtype(dtype).name}: relative error {err[worst]:.3g} > {tol:.3g}"


@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
def test_pow_complex_and_real_exponents(where, monkeypatch, rng, dtype):
    """complex ** complex (broadcast), complex ** real scalar (integers take NumPy's repeated
    squaring), real scalar ** complex."""
    count = reads_on(where, monkeypatch)
    a = (10.0 ** rng.uniform(-2, 2, (4, 6)) * np.exp(1j * rng.uniform(-np.pi, np.pi, (4, 6))))
    a = a.astype(dtype)
    b = (rng.uniform(-3, 3, (6,)) + 1j * rng.uniform(-2, 2, (6,))).astype(dtype)
    a128, b128 = a.astype(np.complex128), b.astype(np.complex128)
    with tf.device(where):
        ta, tb = tf.constant(a), tf.constant(b)

        def run():
            return (tf.pow(ta, tb), tf.pow(ta, 2.0), tf.pow(ta, -3.0), tf.pow(ta, 0.5),
                    ta ** 7, tf.pow(2.0, tb))
        n, got = count(run)
    check_reads(n, 0)
    wants = (a128 ** b128, a128 ** 2, a128 ** -3, a128 ** 0.5, a128 ** 7, 2.0 ** b128)
    powers = (b128, 2, -3, 0.5, 7, b128)
    base = (a128, a128, a128, a128, a128, np.complex128(2.0))
    for k, (g, w, p, s) in enumerate(zip(got, wants, powers, base)):
        assert (type(g._data) is DeviceArray) == (where != "/CPU:0")
        g = g.numpy()
        assert g.shape == w.shape and g.dtype == np.dtype(dtype), (k, g.shape, g.dtype)
        # exp(b log a): the error grows with |b log a|
        tol = EPS[dtype] * 16 * (1 + np.abs(p) * (1 + np.abs(np.log(s))))
        err = np.abs(g - w) / np.abs(w)
        assert np.all(err <= tol), (k, np.max(err / tol))


# ---------------------------------------------------------------- special values
_SPECIAL = [0.0, -0.0, 1.0, -1.0, 0.5, -2.5, np.pi / 2, 1e-300, -1e-300, 3e300, -3e300, 800.0,
            -800.0, np.inf, -np.inf, np.nan]


_EXACT_SQUARES = [0.0, 1.0, -1.0, 0.5, -2.5, np.inf, -np.inf]


def _same(got, want):
    """Equal part by part: nan for nan, zero signs included, else within 64 ulp."""
    def eq(p, q):
        both_nan = np.isnan(p) & np.isnan(q)
        exact = (p == q) & (np.signbit(p) == np.signbit(q))
        with np.errstate(invalid="ignore"):
            close = np.isfinite(q) & (q != 0) & (np.abs(p - q) <= 64 * 2.3e-16 * np.abs(q))
        return both_nan | exact | close
    return eq(got.real, want.real) & eq(got.imag, want.imag)


@pytest.mark.parametrize("op", [o for o in UNARY if o != "rsqrt"])
def test_special_values_like_numpy(backend, op):
    z = np.array([complex(a, b) for a in _SPECIAL for b in _SPECIAL], np.complex128)
    if op == "square":  # x*x - y*y: parts whose squares are exact (fused or not, as NumPy's)
        z = z[np.isin(z.real, _EXACT_SQUARES) & np.isin(z.imag, _EXACT_SQUARES) |
              np.isnan(z.real) | np.isnan(z.imag)]
    if op == "log1p":  # NumPy's log1p is log(hypot(1 + x, y)): 0 for tiny z (ours: z)
        z = z[~((np.abs(z) < 1e-200) & (z != 0))]
    got = backend.complex_unary(op, backend.DeviceBuffer.from_numpy(z)).numpy()
    want = _reference(op, z, series=False)
    bad = ~_same(got, want)
    assert not bad.any(), f"{op}: " + ", ".join(
        f"{z[i]} -> {got[i]} (NumPy {want[i]})" for i in np.flatnonzero(bad)[:6])


def test_pow_special_values_like_numpy(backend):
    base = [0.0, -0.0, 1.0, -1.0, 2.0, 0.5, np.inf, np.nan, 1e-300]
    expo = [0.0, 1.0, 2.0, 3.0, -2.0, 0.5, -0.5, 7.0, 99.0, 100.0, -1.5, np.inf, np.nan]
    a = np.array([complex(x, y) for x in base for y in base], np.complex128)
    b = np.array([complex(x, y) for x in expo for y in (0.0, -0.0, 1.0)], np.complex128)
    a, b = np.meshgrid(a, b)
    A, B = (backend.DeviceBuffer.from_numpy(np.ascontiguousarray(v)) for v in (a, b))
    got = backend.complex_binary("pow", A, B).numpy()
    with np.errstate(all="ignore"):
        want = np.power(a, b)
    bad = ~_same(got, want)
    assert not bad.any(), ", ".join(f"{a.flat[i]} ** {b.flat[i]} -> {got.flat[i]} (NumPy "
                                    f"{want.flat[i]})" for i in np.flatnonzero(bad)[:6])


def test_entries_keep_dtype_and_name_the_op(backend):
    x = backend.DeviceBuffer.from_numpy(np.array([1 + 2j, -3 - 0.5j], np.complex64))
    for op in ("exp", "sqrt", "tanh", "sign"):
        y = backend.complex_unary(op, x)
        assert y.numpy().dtype == np.complex64
    with pytest.raises(ValueError, match=r"\[complex_unary\].*arcsinh"):
        backend.complex_unary("arcsinh", x)
    r = backend.DeviceBuffer.from_numpy(np.ones(2, np.float32))
    with pytest.raises(TypeError, match=r"\[complex_unary\].*float32"):
        backend.complex_unary("exp", r)
    with pytest.raises(TypeError, match=r"\[complex_binary\]"):
        backend.complex_binary("pow", r, r)


@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
@pytest.mark.parametrize("axis,keepdims", [(None, False), (0, False), (1, True), ((0, 2), False),
                                           (-1, True)])
def test_reduce_prod(where, monkeypatch, rng, dtype, axis, keepdims):
    """tf.reduce_prod of complex: NumPy's sequential product, on the device with no read."""
    count = reads_on(where, monkeypatch)
    # factors of modulus near 1, so that the products neither overflow nor underflow
    z = np.exp(rng.uniform(-0.3, 0.3, (3, 5, 4)) + 1j * rng.uniform(-np.pi, np.pi, (3, 5, 4)))
    z = z.astype(dtype)
    want = np.prod(z.astype(np.complex128), axis=axis, keepdims=keepdims)
    with tf.device(where):
        t = tf.constant(z)
        n, got = count(lambda: tf.reduce_prod(t, axis=axis, keepdims=keepdims))
    check_reads(n, 0)
    assert (type(got._data) is DeviceArray) == (where != "/CPU:0")
    g = got.numpy()
    assert g.shape == want.shape and g.dtype == np.dtype(dtype), (g.shape, g.dtype)
    np.testing.assert_allclose(g, want, rtol=60 * 8 * EPS[dtype], atol=0)


def test_complex_prod_entry(backend):
    """The kernel entry along each axis; an empty axis gives 1."""
    z = np.array([[-2 + 0j, 2 - 0j], [0.5 - 1j, 3 + 4j], [1j, -1 + 0j]], np.complex128)
    X = backend.DeviceBuffer.from_numpy(z)
    for ax in (0, 1, -1):
        got = backend.complex_prod(X, ax).numpy()
        with np.errstate(all="ignore"):
            want = np.prod(z, axis=ax)
        assert _same(got, want).all(), (ax, got, want)
    e = backend.complex_prod(backend.DeviceBuffer.from_numpy(np.zeros((2, 0, 3), np.complex64)),
                             1).numpy()
    assert e.shape == (2, 3) and e.dtype == np.complex64 and np.all(e == 1)
