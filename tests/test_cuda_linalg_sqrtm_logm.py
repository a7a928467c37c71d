"""tf.linalg.sqrtm and tf.linalg.logm on GPU tensors (python/nabi/ops/linalg_sqrtm_cuda.py:
scaled Denman-Beavers and inverse scaling and squaring on the device, with the LU kernels of
csrc/cuda/linalg_lu.cu), and the same ops on the CPU.

References are independent: scipy.linalg.sqrtm / logm / expm (Schur-based), the identities
S @ S = A and expm(logm(A)) = A, and float64 central differences of scipy.linalg.sqrtm for
the gradient. Op tests take conftest's `where` (CPU, emulated GPU, GPU / the CUDA host
simulator under NABI_TEST_PACKAGE_DIR=build/sim/pkg); the read tests count device-to-host
copies (`d2h`): one int32 flag per forward (the device cannot tell a singular matrix or a
negative real eigenvalue apart without eigenvalues, so such a batch goes the host path),
none in the gradient.
"""
import numpy as np
import pytest

import nabi
from conftest import reads_on
from reference import numeric_grad

sl = pytest.importorskip("scipy.linalg")

L = nabi.linalg
TOL = {np.float32: dict(rtol=2e-4, atol=2e-5), np.float64: dict(rtol=1e-9, atol=1e-10),
       np.complex64: dict(rtol=2e-4, atol=2e-5), np.complex128: dict(rtol=1e-9, atol=1e-10)}


def _ref(f, a):
    a = np.asarray(a)
    flat = a.reshape((-1,) + a.shape[-2:]).astype(np.complex128 if a.dtype.kind == "c"
                                                   else np.float64)
    out = np.stack([f(m) for m in flat]) if len(flat) else flat
    return out.reshape(a.shape)


def ref_sqrtm(a):
    r = _ref(lambda m: sl.sqrtm(m), a)
    return r if np.asarray(a).dtype.kind == "c" else r.real


def ref_logm(a):
    return _ref(lambda m: sl.logm(m), a)


def _q(rng, n):
    return np.linalg.qr(rng.standard_normal((n, n)))[0]


def shifted(rng, shape, dt):
    """Random matrices with their eigenvalues in the right half plane."""
    n = shape[-1]
    a = rng.standard_normal(shape) + (1.5 * np.sqrt(n) + 2.0) * np.eye(n)
    if np.dtype(dt).kind == "c":
        a = a + 1j * rng.standard_normal(shape)
    return a.astype(dt)


def _run(where, f, a):
    with nabi.device(where):
        return f(nabi.constant(a)).numpy()


# ---------------------------------------------------------------- sqrtm forward


@pytest.mark.parametrize("dt", [np.float32, np.float64, np.complex64, np.complex128])
@pytest.mark.parametrize("shape", [(1, 1), (2, 2), (3, 3), (5, 5), (2, 3, 7, 7), (12, 12)])
def test_sqrtm_matches_scipy(where, dt, shape, rng):
    a = shifted(rng, shape, dt)
    s = _run(where, L.sqrtm, a)
    assert s.shape == a.shape and s.dtype == dt
    np.testing.assert_allclose(s, ref_sqrtm(a), **TOL[dt])
    s64 = s.astype(np.complex128)
    np.testing.assert_allclose(s64 @ s64, a, rtol=TOL[dt]["rtol"] * 10,
                               atol=TOL[dt]["atol"] * 10 * np.abs(a).max())


@pytest.mark.parametrize("cond", [1e4, 1e8, 1e12])
def test_sqrtm_ill_conditioned(where, cond, rng):
    n = 6
    w = np.logspace(0, np.log10(cond), n)
    sym = np.stack([(q * w) @ q.T for q in (_q(rng, n), _q(rng, n))])                # SPD
    v = rng.standard_normal((n, n))
    nonnormal = v @ np.diag(np.logspace(0, np.log10(cond) / 2, n)) @ np.linalg.inv(v)
    tri = np.triu(rng.standard_normal((n, n)), 1) * 3 + np.diag(w)          # defective-ish
    a = np.concatenate([sym, nonnormal[None], tri[None]])
    s = _run(where, L.sqrtm, a)
    ref = ref_sqrtm(a)
    scale = np.abs(ref).max(axis=(-2, -1), keepdims=True)
    assert np.all(np.abs(s - ref) <= 1e-12 * cond ** 0.5 * scale)
    assert np.all(np.abs(s @ s - a) <= 1e-12 * np.abs(a).max(axis=(-2, -1), keepdims=True)
                  * cond ** 0.5)


def test_sqrtm_near_singular_and_singular(where, rng):
    n = 4
    v = rng.standard_normal((n, n))
    vi = np.linalg.inv(v)
    near = v @ np.diag([1e-9, 0.5, 2.0, 3.0]) @ vi          # iterates on the device
    sing = v @ np.diag([0.0, 0.5, 2.0, 3.0]) @ vi           # the host's eigenvector root
    for a in (near[None], np.stack([near, sing])):
        s = _run(where, L.sqrtm, a)
        np.testing.assert_allclose(s @ s, a, atol=1e-8 * np.abs(a).max())
        np.testing.assert_allclose(s, ref_sqrtm(a), atol=1e-6)


def test_sqrtm_negative_real_eigenvalue_is_nan_for_real_inputs(where, rng):
    q = _q(rng, 3)
    bad = q @ np.diag([-1.0, 2.0, 3.0]) @ q.T
    good = shifted(rng, (3, 3), np.float64)
    s = _run(where, L.sqrtm, np.stack([good, bad]))
    assert np.isnan(s[1]).all()
    np.testing.assert_allclose(s[0], ref_sqrtm(good), **TOL[np.float64])
    # complex input: the principal root (sqrt(-1) = i), not NaN
    c = (q @ np.diag([-1.0, -4.0, 3.0]) @ q.T).astype(np.complex128)
    np.testing.assert_allclose(_run(where, L.sqrtm, c), ref_sqrtm(c), atol=1e-12)
    m4 = np.complex64(-4) * np.eye(2, dtype=np.complex64)
    np.testing.assert_allclose(_run(where, L.sqrtm, m4), 2j * np.eye(2), atol=1e-6)


def test_sqrtm_empty(where):
    for shape in [(0, 3, 3), (2, 0, 0)]:
        a = np.zeros(shape)
        s = _run(where, L.sqrtm, a)
        assert s.shape == shape


# ---------------------------------------------------------------- sqrtm gradient


def _grad(where, f, a):
    with nabi.device(where):
        t = nabi.constant(a)
        with nabi.GradientTape() as tape:
            tape.watch(t)
            y = f(t)
        return tape.gradient(y, t).numpy()


def _fd(f, x):
    return numeric_grad(f, [x], 0)


@pytest.mark.parametrize("n", [1, 2, 4])
def test_sqrtm_gradient_vs_finite_differences(where, n, rng):
    a = shifted(rng, (2, n, n), np.float64)
    c = rng.standard_normal((2, n, n))
    g = _grad(where, lambda t: nabi.reduce_sum(L.sqrtm(t) * c), a)
    np.testing.assert_allclose(g, _fd(lambda x: (ref_sqrtm(x) * c).sum(), a),
                               rtol=1e-5, atol=1e-6)


def test_sqrtm_gradient_float32_and_nonnormal(where, rng):
    n = 5
    v = rng.standard_normal((n, n))
    a = v @ np.diag(np.linspace(0.5, 4.0, n)) @ np.linalg.inv(v)
    c = rng.standard_normal((n, n))
    ref = _fd(lambda x: (ref_sqrtm(x) * c).sum(), a)
    g = _grad(where, lambda t: nabi.reduce_sum(L.sqrtm(t) * c), a)
    np.testing.assert_allclose(g, ref, rtol=1e-5, atol=1e-6 * np.abs(ref).max())
    g32 = _grad(where, lambda t: nabi.reduce_sum(L.sqrtm(t) * c.astype(np.float32)),
                a.astype(np.float32))
    assert g32.dtype == np.float32
    np.testing.assert_allclose(g32, ref, rtol=2e-3, atol=2e-3 * np.abs(ref).max())


# ---------------------------------------------------------------- logm


@pytest.mark.parametrize("dt", [np.complex64, np.complex128])
@pytest.mark.parametrize("shape", [(1, 1), (2, 2), (3, 3), (2, 2, 5, 5), (12, 12)])
def test_logm_matches_scipy(where, dt, shape, rng):
    a = shifted(rng, shape, dt)
    lg = _run(where, L.logm, a)
    assert lg.shape == a.shape and lg.dtype == dt
    np.testing.assert_allclose(lg, ref_logm(a), **TOL[dt])
    back = _ref(sl.expm, lg.astype(np.complex128))
    np.testing.assert_allclose(back, a, rtol=TOL[dt]["rtol"] * 10,
                               atol=TOL[dt]["atol"] * 10 * np.abs(a).max())


def test_logm_wide_spectrum_and_branch(where, rng):
    n = 4
    v = _q(rng, n) + 0.3 * rng.standard_normal((n, n))
    big = v @ np.diag([1e-3, 1.0, 1e2, 1e5]) @ np.linalg.inv(v)              # more roots
    rot = np.exp(1j * np.array([3.0, -3.0, 0.5, 2.9]))                        # near the cut
    near_cut = v @ np.diag(rot) @ np.linalg.inv(v)
    on_cut = v @ np.diag([-1.0, -2.0, 1.0, 0.5]) @ np.linalg.inv(v)          # host rotation
    for a in (np.stack([big, near_cut]).astype(np.complex128), on_cut.astype(np.complex128)):
        lg = _run(where, L.logm, a)
        np.testing.assert_allclose(lg, ref_logm(a), atol=1e-7 * np.abs(ref_logm(a)).max())
        np.testing.assert_allclose(_ref(sl.expm, lg), a, rtol=1e-6,
                                   atol=1e-8 * np.abs(a).max())


def test_logm_errors(where):
    with nabi.device(where):
        with pytest.raises(TypeError, match=r"\[logm\].*complex"):
            L.logm(nabi.constant(np.eye(2)))
        with pytest.raises(ValueError, match=r"\[logm\].*square"):
            L.logm(nabi.constant(np.ones((2, 3), np.complex64)))
        with pytest.raises(ValueError, match=r"\[logm\].*singular"):
            L.logm(nabi.constant(np.zeros((2, 2), np.complex128)))
        with pytest.raises(ValueError, match=r"\[sqrtm\].*square"):
            L.sqrtm(nabi.constant(np.ones((3, 2))))


# ---------------------------------------------------------------- reads


def test_one_flag_read_forward_none_backward(d2h, rng):
    a = shifted(rng, (2, 4, 4), np.float64)
    c = shifted(rng, (2, 4, 4), np.complex128)
    with nabi.device("/GPU:0"):
        A, C = nabi.constant(a), nabi.constant(c)
        for f in (lambda: L.sqrtm(A), lambda: L.sqrtm(C), lambda: L.logm(C)):
            box = []
            assert d2h(lambda: box.append(f()))[0] == 1
            assert type(box[0]._data).__name__ == "DeviceArray"
        with nabi.GradientTape() as tape:
            tape.watch(A)
            y = nabi.reduce_sum(L.sqrtm(A) * 2.0)
        grads = []
        assert d2h(lambda: grads.append(tape.gradient(y, A)))[0] == 0
        assert type(grads[0]._data).__name__ == "DeviceArray"


def test_negative_eigenvalue_batch_goes_the_host_path(where, monkeypatch, rng):
    q = _q(rng, 3)
    a = np.stack([shifted(rng, (3, 3), np.float64), q @ np.diag([-1.0, 2.0, 3.0]) @ q.T])
    run = reads_on(where, monkeypatch)
    with nabi.device(where):
        A = nabi.constant(a)
        n, s = run(lambda: L.sqrtm(A))
    if n is not None:
        assert n >= 2           # the flag, then the host path's copy of the input
    assert np.isnan(s.numpy()[1]).all()


def test_empty_inputs_read_nothing(d2h):
    with nabi.device("/GPU:0"):
        for shape in [(0, 3, 3), (2, 0, 0)]:
            A = nabi.constant(np.zeros(shape))
            C = nabi.constant(np.zeros(shape, np.complex64))
            for f in (lambda: L.sqrtm(A), lambda: L.logm(C)):
                box = []
                assert d2h(lambda: box.append(f()))[0] == 0
                assert tuple(box[0].shape) == shape


def test_every_size_up_to_12(where, rng):
    for n in range(1, 13):
        a = shifted(rng, (2, n, n), np.float64)
        c = shifted(rng, (2, n, n), np.complex128)
        np.testing.assert_allclose(_run(where, L.sqrtm, a), ref_sqrtm(a), **TOL[np.float64])
        np.testing.assert_allclose(_run(where, L.sqrtm, c), ref_sqrtm(c), **TOL[np.complex128])
        if n in (4, 7, 8, 9, 10, 11):   # (the other sizes: test_logm_matches_scipy, above)
            np.testing.assert_allclose(_run(where, L.logm, c), ref_logm(c), **TOL[np.complex128])


def test_hard_cases_stay_on_the_device(d2h, rng):
    # ill-conditioned, nonnormal, near-singular and near-the-cut matrices: the device
    # iteration takes them (the one flag read, no host fallback, which would copy the input)
    n = 6
    q = _q(rng, n)
    v = rng.standard_normal((n, n))
    vi = np.linalg.inv(v)
    real = np.stack([(q * np.logspace(0, 12, n)) @ q.T,
                     v @ np.diag(np.logspace(0, 6, n)) @ vi,
                     v @ np.diag([1e-9, 0.5, 1.0, 2.0, 3.0, 4.0]) @ vi])
    cut = v @ np.diag(np.exp(1j * np.array([3.0, -3.0, 3.1, 0.5, -1.0, 2.9]))) @ vi
    wide = v @ np.diag([1e-3, 1.0, 1e2, 1e5, 3.0, 7.0]) @ vi
    with nabi.device("/GPU:0"):
        A = nabi.constant(real)
        C = nabi.constant(np.stack([cut, wide]).astype(np.complex128))
        for f in (lambda: L.sqrtm(A), lambda: L.sqrtm(C), lambda: L.logm(C)):
            assert d2h(f)[0] == 1
