"""Gradients through complex values (TF's convention: for a real loss L and a complex z the
gradient is dL/dRe z + i dL/dIm z, conj(f'(z)) * g for a holomorphic f): add, subtract,
multiply, divide, pow (broadcast), negative, conj, real, imag, tf.complex, abs, cast, exp,
expm1, log, log1p, sqrt, rsqrt, square, reciprocal, sin, cos, tan, sinh, cosh, tanh, matmul,
reduce_sum / reduce_mean / reduce_prod, asin, acos, atan, asinh, acosh, atanh, on the CPU, the
emulated GPU and the GPU or the CUDA host simulator (conftest's `where`).

Reference: float64 central differences of the loss, computed in NumPy, along the real and the
imaginary part of each input element (L = sum(Re(conj(c) f(z))) with a random complex c for a
complex f, sum(c f(z)) for a real one). Ops without a complex rule still refuse.

PYTHONPATH=python python3 -m pytest -q -p no:randomly tests/test_complex_gradients.py
"""
import numpy as np
import pytest

import nabi as tf
from nabi.framework.device import DeviceArray

from conftest import check_reads, reads_on


def _cplx(rng, shape, lo=0.5, hi=2.0):
    """Values away from 0 and from log's cut (moduli in [lo, hi], arguments in +-0.9 pi)."""
    return 10 ** rng.uniform(np.log10(lo), np.log10(hi), shape) * np.exp(
        1j * rng.uniform(-0.9 * np.pi, 0.9 * np.pi, shape))


def _loss_np(f, zs, c):
    w = f(*zs)
    if np.iscomplexobj(w):
        return float(np.sum((np.conj(c) * w).real))
    return float(np.sum(c.real * w))


def _fd_grad(f, zs, c, h=1e-6):
    """dL/dRe + i dL/dIm for each complex input (dL/dx for a real one), central differences."""
    grads = []
    for k, z in enumerate(zs):
        g = np.zeros(z.shape, np.complex128 if np.iscomplexobj(z) else np.float64)
        steps = (1, 1j) if np.iscomplexobj(z) else (1,)
        for idx in np.ndindex(z.shape):
            for s in steps:
                zp, zm = [list(zs) for _ in range(2)]
                zp[k], zm[k] = z.copy(), z.copy()
                zp[k][idx] += h * s
                zm[k][idx] -= h * s
                d = (_loss_np(f, zp, c) - _loss_np(f, zm, c)) / (2 * h)
                g[idx] += d * s
        grads.append(g)
    return grads


def _tape_grad(where, f_tf, zs, c):
    with tf.device(where):
        ts = [tf.constant(z) for z in zs]
        ct = tf.constant(c)
        with tf.GradientTape() as tape:
            for t in ts:
                tape.watch(t)
            w = f_tf(*ts)
            if w.dtype.is_complex:
                loss = tf.reduce_sum(tf.math.real(tf.math.conj(ct) * w))
            else:
                loss = tf.reduce_sum(tf.math.real(ct) * w)
        gs = tape.gradient(loss, ts)
    for g, z in zip(gs, zs):
        assert g is not None
        assert (type(g._data) is DeviceArray) == (where != "/CPU:0")
        assert g.dtype == tf.as_dtype(z.dtype) and g.shape == z.shape, (g.dtype, g.shape)
    return [g.numpy() for g in gs]


CASES = {
    "add": (lambda a, b: a + b, lambda a, b: tf.add(a, b), [(3, 4), (4,)]),
    "subtract": (lambda a, b: a - b, lambda a, b: tf.subtract(a, b), [(3, 4), (3, 1)]),
    "multiply": (lambda a, b: a * b, lambda a, b: tf.multiply(a, b), [(3, 4), (4,)]),
    "divide": (lambda a, b: a / b, lambda a, b: tf.divide(a, b), [(3, 4), (4,)]),
    "negative": (lambda a: -a, lambda a: tf.negative(a), [(2, 3)]),
    "conj": (np.conj, tf.math.conj, [(2, 3)]),
    "real": (np.real, tf.math.real, [(2, 3)]),
    "imag": (np.imag, tf.math.imag, [(2, 3)]),
    "abs": (np.abs, tf.abs, [(2, 3)]),
    "exp": (np.exp, tf.exp, [(2, 3)]),
    "log": (np.log, tf.math.log, [(2, 3)]),
    "matmul": (lambda a, b: a @ b, tf.matmul, [(3, 4), (4, 2)]),
    "matmul_adjoint_b": (lambda a, b: a @ np.conj(b).T,
                         lambda a, b: tf.matmul(a, b, adjoint_b=True), [(3, 4), (2, 4)]),
    "chain": (lambda a, b: np.exp(a * b) / (a + 3.0) - np.log(b),
              lambda a, b: tf.exp(a * b) / (a + tf.constant(3.0 + 0j, a.dtype)) - tf.math.log(b),
              [(2, 3), (2, 3)]),
    "reduce_mean": (lambda a: np.mean(a, axis=0), lambda a: tf.reduce_mean(a, axis=0),
                    [(3, 2)]),
    # values in every quadrant, away from the cuts (moduli 0.5 .. 2, |arg| <= 0.9 pi: off the
    # real axis past +-1 and the imaginary axis past +-i only by chance; checked below)
    "asin": (np.arcsin, tf.math.asin, [(2, 3)]),
    "acos": (np.arccos, tf.math.acos, [(2, 3)]),
    "atan": (np.arctan, tf.math.atan, [(2, 3)]),
    "asinh": (np.arcsinh, tf.math.asinh, [(2, 3)]),
    "atanh": (np.arctanh, tf.math.atanh, [(2, 3)]),
    "acosh": (np.arccosh, tf.math.acosh, [(2, 3)]),
    # the holomorphic ones with real Taylor coefficients (sqrt, rsqrt, log1p off their cuts)
    "sqrt": (np.sqrt, tf.sqrt, [(2, 3)]),
    "rsqrt": (lambda a: 1 / np.sqrt(a), tf.math.rsqrt, [(2, 3)]),
    "square": (np.square, tf.square, [(2, 3)]),
    "reciprocal": (np.reciprocal, tf.math.reciprocal, [(2, 3)]),
    "sin": (np.sin, tf.sin, [(2, 3)]),
    "cos": (np.cos, tf.cos, [(2, 3)]),
    "tan": (np.tan, tf.tan, [(2, 3)]),
    "sinh": (np.sinh, tf.math.sinh, [(2, 3)]),
    "cosh": (np.cosh, tf.math.cosh, [(2, 3)]),
    "tanh": (np.tanh, tf.tanh, [(2, 3)]),
    "expm1": (np.expm1, tf.math.expm1, [(2, 3)]),
    "log1p": (np.log1p, tf.math.log1p, [(2, 3)]),
    "pow": (np.power, tf.pow, [(3, 4), (4,)]),
    "pow_broadcast_base": (np.power, tf.pow, [(4,), (3, 4)]),
    "reduce_prod": (lambda a: np.prod(a, axis=1), lambda a: tf.reduce_prod(a, axis=1),
                    [(3, 4)]),
    "reduce_prod_all_keepdims": (lambda a: np.prod(a, keepdims=True),
                                 lambda a: tf.reduce_prod(a, keepdims=True), [(2, 3)]),
    "cast_to_real": (lambda a: np.real(a) ** 2, lambda a: tf.square(tf.cast(
        a, tf.float64 if a.dtype == tf.complex128 else tf.float32)),
                     [(2, 3)]),
    "cast_between_complex": (lambda a: np.exp(a), lambda a: tf.cast(tf.exp(tf.cast(
        a, tf.complex128 if a.dtype == tf.complex64 else tf.complex64)), a.dtype), [(2, 3)]),
}


@pytest.mark.parametrize("dtype", [np.complex128, np.complex64])
@pytest.mark.parametrize("case", list(CASES))
def test_complex_gradient_against_finite_differences(where, rng, case, dtype):
    f_np, f_tf, shapes = CASES[case]
    zs = [_cplx(rng, s) for s in shapes]
    for z in zs:  # keep the inverse functions' cuts (|x| >= 1 or |y| >= 1 on an axis) away
        z[np.abs(z.imag) < 0.05] += 0.1j
        z[np.abs(z.real) < 0.05] += 0.1
    out = f_np(*zs)
    c = _cplx(rng, np.shape(out))
    want = _fd_grad(f_np, zs, c)
    got = _tape_grad(where, f_tf, [z.astype(dtype) for z in zs], c.astype(dtype))
    tol = 1e-6 if dtype == np.complex128 else 2e-4
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_tf_complex_gradient_to_real_parts(where, rng, dtype):
    """tf.complex(x, y) from real x, y (y broadcast): d/dx = Re g, d/dy = Im g, summed."""
    x, y = rng.standard_normal((3, 4)), rng.standard_normal((4,))
    c = _cplx(rng, (3, 4))
    f_np = lambda x, y: x + 1j * y  # noqa: E731
    want = _fd_grad(lambda x, y: np.exp(f_np(x, y)), [x, y], c)
    got = _tape_grad(where, lambda x, y: tf.exp(tf.complex(x, y)),
                     [x.astype(dtype), y.astype(dtype)], c.astype(np.complex128 if dtype ==
                                                                   np.float64 else np.complex64))
    tol = 1e-6 if dtype == np.float64 else 2e-4
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=tol, atol=tol)


def test_abs_gradient_at_zero_is_zero(where):
    with tf.device(where):
        z = tf.constant(np.array([0j, 3 - 4j], np.complex128))
        with tf.GradientTape() as tape:
            tape.watch(z)
            loss = tf.reduce_sum(tf.abs(z))
        g = tape.gradient(loss, z).numpy()
    np.testing.assert_allclose(g, [0, 0.6 - 0.8j], rtol=1e-15, atol=0)


def test_ops_without_a_rule_still_refuse(where):
    with tf.device(where):
        z = tf.constant(np.array([1 + 2j, -0.5 + 1j], np.complex128))
        with tf.GradientTape() as tape:
            tape.watch(z)
            loss = tf.reduce_sum(tf.math.angle(tf.sqrt(z)))
        with pytest.raises(NotImplementedError, match=r"\[angle\] has no gradient"):
            tape.gradient(loss, z)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_cast_real_to_complex_takes_the_real_part(where, rng, dtype):
    """tf.cast(x, complex): the gradient is Re g in x's dtype (TF's _CastGrad)."""
    x = rng.uniform(0.5, 2.0, (3, 4))
    c = _cplx(rng, (3, 4))
    want = _fd_grad(lambda x: np.sin(x + 0j) * (1 + 2j), [x], c)
    ctype = np.complex128 if dtype == np.float64 else np.complex64
    got = _tape_grad(where, lambda x: tf.sin(tf.cast(x, ctype)) *
                     tf.constant(1 + 2j, ctype), [x.astype(dtype)], c.astype(ctype))
    tol = 1e-6 if dtype == np.float64 else 2e-4
    np.testing.assert_allclose(got[0], want[0], rtol=tol, atol=tol)


def test_sqrt_gradient_is_zero_where_g_is_zero(where):
    """TF's SqrtGrad / RsqrtGrad give 0 where the incoming gradient is 0, complex too."""
    with tf.device(where):
        z = tf.constant(np.array([0j, -4 + 0j, 3 + 4j], np.complex128))
        m = tf.constant(np.array([0, 0, 1], np.complex128))
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(z)
            loss = tf.reduce_sum(tf.math.real(tf.sqrt(z) * m))
            loss_r = tf.reduce_sum(tf.math.real(tf.math.rsqrt(z) * m))
        g, gr = tape.gradient(loss, z).numpy(), tape.gradient(loss_r, z).numpy()
    w = 3 + 4j
    np.testing.assert_allclose(g, [0, 0, np.conj(0.5 / np.sqrt(w))], rtol=1e-14, atol=0)
    np.testing.assert_allclose(gr, [0, 0, np.conj(-0.5 * w ** -1.5)], rtol=1e-14, atol=0)


def test_pow_exponent_gradient_at_zero_base(where):
    """d/dy 0^y: 0 (TF masks log x where x == 0; a complex x may be negative)."""
    with tf.device(where):
        x = tf.constant(np.array([0j, -2 + 0.5j], np.complex128))
        y = tf.constant(np.array([2 + 0j, 1.5 - 0.5j], np.complex128))
        with tf.GradientTape() as tape:
            tape.watch(y)
            loss = tf.reduce_sum(tf.math.real(tf.pow(x, y)))
        g = tape.gradient(loss, y).numpy()
    xn, yn = np.array([0j, -2 + 0.5j]), np.array([2 + 0j, 1.5 - 0.5j])
    want = np.conj(xn ** yn * np.log(np.where(xn != 0, xn, 1)))
    want[0] = 0
    np.testing.assert_allclose(g, want, rtol=1e-14, atol=0)


def test_real_acosh_gradient_near_one(where):
    """acosh's rule as 1 / (sqrt(x - 1) sqrt(x + 1)) (the complex derivative): for a real x it
    is 1 / sqrt(x^2 - 1), without that form's cancellation near 1."""
    x = np.array([1 + 1e-12, 1.5, 10.0, 1e150])
    with tf.device(where):
        t = tf.constant(x)
        with tf.GradientTape() as tape:
            tape.watch(t)
            loss = tf.reduce_sum(tf.math.acosh(t))
        g = tape.gradient(loss, t).numpy()
    d = x - 1  # exact (Sterbenz): x^2 - 1 = d (x + 1), in float64 with one more rounding
    np.testing.assert_allclose(g, 1 / np.sqrt(d * (x + 1)), rtol=1e-14)


def test_gpu_gradients_stay_on_the_device(where, monkeypatch, rng):
    """The whole backward of a complex chain (tf.complex, matmul, exp, divide, abs, real, imag,
    reduce_sum) runs on the GPU with no device-to-host read."""
    count = reads_on(where, monkeypatch)
    x, y = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    b = _cplx(rng, (4, 2))
    with tf.device(where):
        tx, ty, tb = tf.constant(x), tf.constant(y), tf.constant(b)

        def run():
            with tf.GradientTape() as tape:
                tape.watch([tx, ty, tb])
                m = tf.matmul(tf.exp(tf.complex(tx, ty)), tb)
                w = m / (tf.math.conj(m) + tf.constant(2 + 0j, tf.complex128))
                loss = tf.reduce_sum(tf.abs(w)) + tf.reduce_sum(tf.math.real(w) * tf.math.imag(m))
            return tape.gradient(loss, [tx, ty, tb])
        n, grads = count(run)
    check_reads(n, 0)
    for g in grads:
        assert (type(g._data) is DeviceArray) == (where != "/CPU:0")


def test_gpu_elementwise_gradients_stay_on_the_device(where, monkeypatch, rng):
    """The backward of sqrt, rsqrt, square, reciprocal, sin, cos, tan, sinh, cosh, tanh, expm1,
    log1p, pow (both operands), reduce_prod and casts (complex <-> real, complex64 <->
    complex128) runs on the GPU with no device-to-host read."""
    count = reads_on(where, monkeypatch)
    z, y = _cplx(rng, (2, 3)), _cplx(rng, (3,))
    x = rng.uniform(0.5, 2.0, (2, 3))
    with tf.device(where):
        tz, ty, tx = tf.constant(z), tf.constant(y), tf.constant(x)

        def run():
            with tf.GradientTape() as tape:
                tape.watch([tz, ty, tx])
                a = tf.sqrt(tz) + tf.math.rsqrt(tz) + tf.square(tz) + tf.math.reciprocal(tz)
                b = tf.sin(tz) * tf.cos(tz) + tf.tan(tz) - tf.math.sinh(tz) * tf.math.cosh(tz)
                c = tf.tanh(tz) + tf.math.expm1(tz) + tf.math.log1p(tz) + tf.pow(tz, ty)
                d = tf.cast(tf.cast(a + b + c, tf.complex64), tf.complex128)
                w = d * tf.cast(tx, tf.complex128)
                loss = (tf.reduce_sum(tf.cast(w, tf.float64)) + tf.reduce_sum(tf.math.imag(w))
                        + tf.math.real(tf.reduce_prod(tf.reduce_prod(w, axis=0))))
            return tape.gradient(loss, [tz, ty, tx])
        n, grads = count(run)
    check_reads(n, 0)
    for g in grads:
        assert g is not None
        assert (type(g._data) is DeviceArray) == (where != "/CPU:0")


def test_scalar_complex_keeps_its_shape(where):
    """real / imag / abs / angle / cast of a 0-d complex tensor are 0-d (were shape (1,) on the
    CPU, which broke the gradient of a scalar loss built from them)."""
    with tf.device(where):
        z = tf.constant(np.complex128(3 + 4j))
        for f in (tf.math.real, tf.math.imag, tf.abs, tf.math.angle,
                  lambda t: tf.cast(t, tf.float32)):
            assert f(z).shape == ()
        with tf.GradientTape() as tape:
            tape.watch(z)
            loss = tf.math.real(z * z) + tf.abs(z)
        g = tape.gradient(loss, z).numpy()
    np.testing.assert_allclose(g, 2 * (3 - 4j) + (0.6 + 0.8j), rtol=1e-15)
