"""The inverse complex functions on the GPU (csrc/cuda/complex_elementary.cuh: Hull, Fairgrieve
and Tang's asinh / acos, atanh by log1p, through complex.cu's complex_unary): tf.math.asin,
acos, atan, asinh, acosh, atanh of complex64 / complex128 tensors.

Every op runs on the CPU (NumPy), the emulated GPU and the real GPU or the CUDA host simulator
(conftest's `where`) against NumPy's arcsin .. arctanh in complex128: values in all four
quadrants over magnitudes 1e-30 .. 1e30, near the branch points (+-1, +-i) and the unit
circle, and on the branch cuts approached from both sides (a signed zero part, and +-1e-30).
Special values (inf / nan / signed zeros / tiny and huge parts) are compared part by part, nan
for nan and zero signs included, with the kernel entry called directly (conftest's
`backend`). NumPy's choices follow glibc's, C99 Annex G where it fixes them (asinh(nan +- i inf)
= +inf + i nan, asin(+-inf + i nan) = nan + i inf where C99 leaves the sign open; acosh(+-0 +
i nan) = nan + i pi/2 as C17's DR 471, where C99 gave nan + i nan): the kernels follow NumPy. GPU inputs give
GPU results with no device-to-host read, one launch per op, and CPU and GPU agree.

PYTHONPATH=python python3 -m pytest -q -p no:randomly tests/test_cuda_complex_inverse.py
(NABI_EMULATE_CUDA=1: emulated; NABI_TEST_PACKAGE_DIR=build/sim/pkg: the simulator's kernels).
"""
import numpy as np
import pytest

import nabi as tf
from nabi.framework.device import DeviceArray

from conftest import check_reads, reads_on

EPS = {np.complex64: 1.2e-7, np.complex128: 2.3e-16}
OPS = {"asin": np.arcsin, "acos": np.arccos, "atan": np.arctan, "asinh": np.arcsinh,
       "acosh": np.arccosh, "atanh": np.arctanh}
# where each op's branch cuts lie: on the real axis (|x| > 1, or x < 1 for acosh) or on the
# imaginary axis (|y| > 1)
CUT_ON_REAL = {"asin": True, "acos": True, "atan": False, "asinh": False, "acosh": True,
               "atanh": True}


def _reference(op, z):
    with np.errstate(all="ignore"):
        return OPS[op](np.asarray(z).astype(np.complex128))


def _random_values(rng, dtype, n=400):
    """All four quadrants over magnitudes 1e-30 .. 1e30; near +-1 / +-i and |z| = 1."""
    mag = 10.0 ** rng.uniform(-30, 30, n)
    z = mag * np.exp(1j * rng.uniform(-np.pi, np.pi, n))
    near = rng.choice([1, -1, 1j, -1j], 64) + 10.0 ** rng.uniform(-12, -1, 64) * np.exp(
        1j * rng.uniform(-np.pi, np.pi, 64))
    circle = np.exp(1j * rng.uniform(-np.pi, np.pi, 64)) * (1 + rng.choice([-1, 1], 64) *
                                                           10.0 ** rng.uniform(-7, -1, 64))
    axes = np.concatenate([rng.uniform(-3, 3, 16) + 0j, 1j * rng.uniform(-3, 3, 16)])
    return np.concatenate([z, near, circle, axes]).astype(dtype)


def _cut_values(rng, op, dtype):
    """Points on the op's branch cuts, each approached from both sides: the part across the
    cut +0, -0, +1e-30 and -1e-30."""
    t = 10.0 ** rng.uniform(0.01, 6, 12) * rng.choice([-1, 1], 12)  # |t| > 1
    if op == "acosh":  # (-inf, 1): t < 1, both signs of t
        t = np.concatenate([-10.0 ** rng.uniform(-6, 6, 8), rng.uniform(-1, 1, 4)])
    side = np.array([0.0, -0.0, 1e-30, -1e-30])
    along, across = np.meshgrid(t, side)
    if CUT_ON_REAL[op]:
        re, im = along, across
    else:
        re, im = across, along
    z = np.empty(re.shape, dtype)
    z.real, z.imag = re, im
    return z.ravel()


def _rel_error(got, want):
    got = got.astype(np.complex128)
    return np.abs(got - want) / np.maximum(np.abs(want), 1e-300)


@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
@pytest.mark.parametrize("op", list(OPS))
def test_against_numpy_over_magnitudes_and_cuts(where, monkeypatch, rng, op, dtype):
    count = reads_on(where, monkeypatch)
    z = np.concatenate([_random_values(rng, dtype), _cut_values(rng, op, dtype)])
    want = _reference(op, z)
    with tf.device(where):
        t = tf.constant(z)
        n, got = count(lambda: getattr(tf.math, op)(t))
    check_reads(n, 0)
    assert (type(got._data) is DeviceArray) == (where != "/CPU:0")
    g = got.numpy()
    assert g.shape == z.shape and g.dtype == np.dtype(dtype), (g.shape, g.dtype)
    assert np.all(np.isfinite(g)), op
    err = _rel_error(g, want)
    # complex64 also on the GPU's float libm (a few ulp), against complex128 of its inputs
    tol = (32 if dtype == np.complex64 else 16) * EPS[dtype]
    worst = int(np.argmax(err))
    assert err[worst] <= tol, \
        f"{op} {np.dtype(dtype).name}: {z[worst]} -> {g[worst]} (NumPy {want[worst]}): " \
        f"relative error {err[worst]:.3g} > {tol:.3g}"


@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
@pytest.mark.parametrize("op", list(OPS))
def test_branch_cut_sides(where, rng, op, dtype):
    """On a cut the part across it decides the side: +0 gives the limit from +1e-30's side,
    -0 from -1e-30's, the two limits differ (the jump), and the zero parts' signs are
    NumPy's."""
    z = _cut_values(rng, op, dtype).reshape(4, -1)  # rows: +0, -0, +tiny, -tiny
    with tf.device(where):
        g = getattr(tf.math, op)(tf.constant(z)).numpy().astype(np.complex128)
    tol = 16 * EPS[dtype]
    for zero, tiny in ((0, 2), (1, 3)):
        err = _rel_error(g[zero], g[tiny])
        assert np.all(err <= tol), (op, z[zero][err > tol], g[zero][err > tol])
    jump = np.abs(g[0] - g[1]) / np.abs(g[0])
    if op == "acosh":  # on (-1, 1) acosh(x +- i0) = +-i acos(x): a jump unless x == 1
        assert np.all(jump > 0.1), (op, z[0][jump <= 0.1])
    else:
        assert np.all(jump > 1e-3), (op, z[0][jump <= 1e-3])
    want = _reference(op, z[:2])
    for part in ("real", "imag"):
        p, q = getattr(g[:2], part), getattr(want, part)
        zero = q == 0
        assert np.array_equal(np.signbit(p[zero]), np.signbit(q[zero])), (op, part)


# ---------------------------------------------------------------- special values
_SPECIAL = [0.0, -0.0, 1.0, -1.0, 0.5, -2.5, 1.5, np.pi / 2, 1e-300, -1e-300, 1e-160, 1e-17,
            1e16, 3e300, -3e300, 800.0, -800.0, np.inf, -np.inf, np.nan]
_SPECIAL32 = [0.0, -0.0, 1.0, -1.0, 0.5, -2.5, 1.5, np.pi / 2, 1e-30, -1e-30, 1e-20, 1e-8, 1e7,
              3e30, -3e30, 800.0, -800.0, np.inf, -np.inf, np.nan]


def _same(got, want, rtol, floor):
    """Equal part by part: nan for nan, zero signs included, else within rtol (or below
    floor, the subnormal range, where the kernels' intermediate parts may underflow)."""
    def eq(p, q):
        both_nan = np.isnan(p) & np.isnan(q)
        exact = (p == q) & (np.signbit(p) == np.signbit(q))
        with np.errstate(invalid="ignore"):
            close = (np.isfinite(q) & (q != 0) & np.isfinite(p) &
                     (np.abs(p - q) <= rtol * np.abs(q) + floor))
        return both_nan | exact | close
    return eq(got.real, want.real) & eq(got.imag, want.imag)


@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
@pytest.mark.parametrize("op", list(OPS))
def test_special_values_like_numpy(backend, op, dtype):
    vals = _SPECIAL32 if dtype == np.complex64 else _SPECIAL
    z = np.array([complex(a, b) for a in vals for b in vals], dtype)
    got = backend.complex_unary(op, backend.DeviceBuffer.from_numpy(z)).numpy()
    assert got.dtype == np.dtype(dtype) and got.shape == z.shape
    want = _reference(op, z).astype(dtype)
    if dtype == np.complex64:
        bad = ~_same(got, want, 16 * EPS[dtype], 1e-37)
    else:
        bad = ~_same(got, want, 64 * EPS[dtype], 0.0)
    assert not bad.any(), f"{op}: " + ", ".join(
        f"{z[i]} -> {got[i]} (NumPy {want[i]})" for i in np.flatnonzero(bad)[:6])


@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
def test_cpu_and_gpu_agree(gpu, rng, dtype):
    """The CPU path (NumPy) and the GPU kernels give the same values, special ones exactly."""
    vals = _SPECIAL32 if dtype == np.complex64 else _SPECIAL
    special = np.array([complex(a, b) for a in vals for b in vals], dtype)
    z = np.concatenate([_random_values(rng, dtype, 64), special])
    tol = 16 * EPS[dtype]
    for op in OPS:
        with tf.device("/CPU:0"):
            c = getattr(tf.math, op)(tf.constant(z))
        with tf.device("/GPU:0"):
            g = getattr(tf.math, op)(tf.constant(z))
        assert "CPU" in c.device and "GPU" in g.device
        c, g = c.numpy(), g.numpy()
        assert c.dtype == g.dtype == np.dtype(dtype)
        bad = ~_same(g, c, tol, 1e-37 if dtype == np.complex64 else 0.0)
        assert not bad.any(), f"{op}: " + ", ".join(
            f"{z[i]} -> GPU {g[i]}, CPU {c[i]}" for i in np.flatnonzero(bad)[:6])


def test_stay_on_device_one_launch_each(d2h, rng):
    """The six ops keep a GPU complex tensor on the GPU: no read, one kernel launch each."""
    z = _random_values(rng, np.complex64, 32)
    with tf.device("/GPU:0"):
        t = tf.constant(z)
        out = []
        reads, launches = d2h(lambda: out.extend(getattr(tf.math, op)(t) for op in OPS))
    assert reads == 0, reads
    assert launches == len(OPS), launches
    for o in out:
        assert type(o._data) is DeviceArray and o.dtype == tf.complex64


def test_entry_names_the_op(backend):
    x = backend.DeviceBuffer.from_numpy(np.array([1 + 2j, -3 - 0.5j], np.complex128))
    for op in OPS:
        assert backend.complex_unary(op, x).numpy().dtype == np.complex128
    with pytest.raises(ValueError, match=r"\[complex_unary\].*arcsin"):
        backend.complex_unary("arcsin", x)
    r = backend.DeviceBuffer.from_numpy(np.ones(2, np.float64))
    with pytest.raises(TypeError, match=r"\[complex_unary\].*float64"):
        backend.complex_unary("asin", r)


@pytest.mark.parametrize("device", ["/CPU:0", "/GPU:0"])
def test_tape_gradients(gpu, device):
    """The six have complex gradients, conj(f'(z)) g, where the input lives (the values are
    checked against finite differences in test_complex_gradients.py)."""
    with tf.device(device):
        x = tf.constant(np.array([0.5 + 0.25j, 2 - 1j], np.complex128))
        for op in OPS:
            with tf.GradientTape() as tape:
                tape.watch(x)
                y = getattr(tf.math, op)(x)
            g = tape.gradient(y, x)
            assert g.dtype == tf.complex128 and ("GPU" in g.device) == ("GPU" in device)
