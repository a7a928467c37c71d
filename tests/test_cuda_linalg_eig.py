"""tf.linalg.qr / svd / eigh / eigvalsh (and pinv, matrix_rank, lstsq(fast=False) built on svd)
on GPU tensors run the CUDA kernels of csrc/cuda/linalg_eig.cu (Householder QR, cyclic Jacobi
eigh, one-sided Jacobi SVD; cuda_backend.linalg_qr / linalg_eigh / linalg_svd /
linalg_solve_upper) instead of copying to NumPy and back.

References are numpy.linalg (LAPACK): q and r equal NumPy's, signs included (the kernel builds
LAPACK's reflectors); eigenvalues / singular values within a few ulps of the norm; the
eigenvectors and singular vectors are checked sign-invariantly (reconstruction A = V diag(w)
V^T, A = U S V^T, orthonormal columns, |<v, v_ref>| = 1 for distinct values), since LAPACK's
signs are arbitrary and the Jacobi rotations pick their own. Gradients: float64 central
differences of the NumPy forward (losses that do not depend on the vectors' signs), and no
device-to-host copy in the forward or the backward.

Kernel tests take the `backend` fixture ("cuda": the real module, the host simulator under
NABI_TEST_PACKAGE_DIR=build/sim/pkg, skipped without a GPU otherwise; "emu": the emulator).
Op tests take conftest's `where` (CPU, emulated GPU, GPU / simulator).
"""
import numpy as np
import pytest

import nabi
from nabi import _C
from reference import numeric_grad

cb = _C.cuda_backend
FLOATS = [np.float32, np.float64]
RNG = np.random.default_rng(102)


# (the `backend` fixture, the kernel module or its emulator, is conftest.py's)


def _buf(be, a):
    return be.DeviceBuffer.from_numpy(np.ascontiguousarray(a))


def _np(be, b):
    return b.numpy() if hasattr(b, "numpy") else be.to_numpy(b)


def rand(*shape):
    return RNG.standard_normal(shape)


def mT(x):
    return np.swapaxes(x, -1, -2)


def eye_like(x):
    k = x.shape[-1]
    return np.broadcast_to(np.eye(k), x.shape[:-2] + (k, k))


def tol(dt, scale=1.0):
    return dict(rtol=0, atol=(2e-5 if dt == np.float32 else 1e-12) * scale)


def sym_lower(a):
    return np.tril(a) + mT(np.tril(a, -1))


# ---------------------------------------------------------------- kernels
QR_SHAPES = [(4, 3), (3, 5), (4, 4), (2, 3, 1, 4), (6, 1)]


@pytest.mark.parametrize("dt", FLOATS)
@pytest.mark.parametrize("shape", QR_SHAPES)
@pytest.mark.parametrize("full", [False, True])
def test_qr_kernel_equals_numpy(backend, dt, shape, full):
    a = rand(*shape).astype(dt)
    q, r = backend.linalg_qr(_buf(backend, a), full)
    q, r = _np(backend, q), _np(backend, r)
    qr_, rr_ = np.linalg.qr(a.astype(np.float64), mode="complete" if full else "reduced")
    assert q.dtype == dt and q.shape == qr_.shape and r.shape == rr_.shape
    np.testing.assert_allclose(q, qr_, **tol(dt, 5))         # NumPy's signs
    np.testing.assert_allclose(r, rr_, **tol(dt, 5))
    assert np.all(r == np.triu(r))
    np.testing.assert_allclose(mT(q) @ q, eye_like(q), **tol(dt, 5))


@pytest.mark.parametrize("dt", FLOATS)
@pytest.mark.parametrize("n", [1, 2, 5, 7])
def test_eigh_kernel(backend, dt, n):
    a = rand(3, n, n).astype(dt)            # not symmetric: only the lower triangle is read
    s = sym_lower(a.astype(np.float64))
    e, v = backend.linalg_eigh(_buf(backend, a), True)
    e, v = _np(backend, e), _np(backend, v)
    assert e.dtype == dt and e.shape == (3, n) and v.shape == (3, n, n)
    ref_e, ref_v = np.linalg.eigh(s)
    np.testing.assert_allclose(e, ref_e, **tol(dt, 5 * n))
    np.testing.assert_allclose((v * e[..., None, :]) @ mT(v), s, **tol(dt, 5 * n))
    np.testing.assert_allclose(mT(v) @ v, eye_like(v), **tol(dt, 5 * n))
    # distinct eigenvalues: each eigenvector is NumPy's up to its sign
    np.testing.assert_allclose(np.abs(np.sum(v * ref_v, axis=-2)), 1.0, **tol(dt, 50 * n))
    e2, none = backend.linalg_eigh(_buf(backend, a), False)
    assert none is None
    np.testing.assert_allclose(_np(backend, e2), e, **tol(dt))


@pytest.mark.parametrize("dt", FLOATS)
@pytest.mark.parametrize("shape", [(4, 3), (3, 5), (4, 4), (2, 1, 5), (2, 6, 1)])
@pytest.mark.parametrize("full", [False, True])
def test_svd_kernel(backend, dt, shape, full):
    a = rand(*shape).astype(dt)
    m, n = shape[-2:]
    k = min(m, n)
    s, u, v = (_np(backend, b) for b in backend.linalg_svd(_buf(backend, a), full, True))
    ru, rs, rvh = np.linalg.svd(a.astype(np.float64), full_matrices=full)
    assert s.dtype == dt and u.shape == ru.shape and v.shape == mT(rvh).shape
    np.testing.assert_allclose(s, rs, **tol(dt, 10))
    rec = (u[..., :, :k] * s[..., None, :]) @ mT(v[..., :, :k])
    np.testing.assert_allclose(rec, a, **tol(dt, 10))
    np.testing.assert_allclose(mT(u) @ u, eye_like(u), **tol(dt, 10))
    np.testing.assert_allclose(mT(v) @ v, eye_like(v), **tol(dt, 10))
    np.testing.assert_allclose(np.abs(np.sum(u[..., :k] * ru[..., :k], axis=-2)), 1.0,
                               **tol(dt, 100))
    s2, u2, v2 = backend.linalg_svd(_buf(backend, a), full, False)
    assert u2 is None and v2 is None
    np.testing.assert_allclose(_np(backend, s2), rs, **tol(dt, 10))


@pytest.mark.parametrize("dt", FLOATS)
def test_svd_kernel_rank_deficient_and_zero(backend, dt):
    r1 = (np.outer([1.0, 2.0, -3.0, 0.5], [1.0, -1.0, 2.0]))[None].astype(dt)
    z = np.zeros((1, 3, 2), dt)
    for a in (r1, z, mT(r1).copy()):
        for full in (False, True):
            s, u, v = (_np(backend, b) for b in backend.linalg_svd(_buf(backend, a), full, True))
            k = min(a.shape[-2:])
            np.testing.assert_allclose(s, np.linalg.svd(a.astype(np.float64),
                                                        compute_uv=False), **tol(dt, 20))
            rec = (u[..., :, :k] * s[..., None, :]) @ mT(v[..., :, :k])
            np.testing.assert_allclose(rec, a, **tol(dt, 20))
            np.testing.assert_allclose(mT(u) @ u, eye_like(u), **tol(dt, 20))
            np.testing.assert_allclose(mT(v) @ v, eye_like(v), **tol(dt, 20))


@pytest.mark.parametrize("dt", FLOATS)
def test_eigh_kernel_repeated_and_scaled(backend, dt):
    q, _ = np.linalg.qr(rand(5, 5))
    w = np.array([-2.0, 1.0, 1.0, 1.0, 3.0])
    big = ((q * w) @ q.T * 1e8)[None]       # repeated eigenvalues, large entries
    for a, scale in ((big, 1e8), (np.zeros((1, 3, 3)), 1.0)):
        e, v = (_np(backend, b) for b in backend.linalg_eigh(_buf(backend, a.astype(dt)), True))
        np.testing.assert_allclose(e, np.linalg.eigvalsh(a), **tol(dt, 20 * scale))
        np.testing.assert_allclose((v * e[..., None, :]) @ mT(v), a, **tol(dt, 20 * scale))
        np.testing.assert_allclose(mT(v) @ v, eye_like(v), **tol(dt, 20))


@pytest.mark.parametrize("dt", FLOATS)
def test_solve_upper_kernel(backend, dt):
    r = np.triu(rand(2, 4, 4)) + 3 * np.eye(4)
    rl = r + np.tril(rand(2, 4, 4), -1)        # the lower triangle is not read
    b = rand(2, 3, 4)
    x = _np(backend, backend.linalg_solve_upper(_buf(backend, rl.astype(dt)),
                                                _buf(backend, b.astype(dt))))
    np.testing.assert_allclose(x, np.linalg.solve(r, mT(b)).swapaxes(-1, -2), **tol(dt, 10))
    x = _np(backend, backend.linalg_solve_upper(_buf(backend, rl.astype(dt)),
                                                _buf(backend, b.astype(dt)), False))
    np.testing.assert_allclose(x, np.linalg.solve(mT(r), mT(b)).swapaxes(-1, -2),
                               **tol(dt, 10))


@pytest.mark.parametrize("dt", FLOATS)
def test_kernels_multi_warp_blocks(backend, dt):
    """Sizes that launch 64 / 128 / 256 threads (block reductions over several warps)."""
    a = rand(2, 40, 33).astype(dt)
    q, r = (_np(backend, b) for b in backend.linalg_qr(_buf(backend, a), True))
    qr_, rr_ = np.linalg.qr(a.astype(np.float64), mode="complete")
    np.testing.assert_allclose(q, qr_, **tol(dt, 50))
    np.testing.assert_allclose(r, rr_, **tol(dt, 100))
    for shape, full in (((1, 70, 5), True), ((1, 5, 300), False)):
        a = rand(*shape).astype(dt)
        s, u, v = (_np(backend, b) for b in backend.linalg_svd(_buf(backend, a), full, True))
        np.testing.assert_allclose(s, np.linalg.svd(a.astype(np.float64), compute_uv=False),
                                   **tol(dt, 200))
        np.testing.assert_allclose((u[..., :5] * s[..., None, :]) @ mT(v[..., :5]), a,
                                   **tol(dt, 100))
        np.testing.assert_allclose(mT(u) @ u, eye_like(u), **tol(dt, 100))
        np.testing.assert_allclose(mT(v) @ v, eye_like(v), **tol(dt, 100))
    a = rand(1, 40, 40).astype(dt)
    sy = sym_lower(a.astype(np.float64))
    e, v = (_np(backend, b) for b in backend.linalg_eigh(_buf(backend, a), True))
    np.testing.assert_allclose(e, np.linalg.eigvalsh(sy), **tol(dt, 1000))
    np.testing.assert_allclose((v * e[..., None, :]) @ mT(v), sy, **tol(dt, 1000))
    np.testing.assert_allclose(mT(v) @ v, eye_like(v), **tol(dt, 500))


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_kernels_non_finite_input(backend, bad):
    """A NaN / inf makes that matrix's eigh and svd results NaN and shows up in its qr (as in
    LAPACK, which fails or returns NaN there); the other matrices of the batch are unaffected."""
    a = np.stack([np.eye(3), 2 * np.eye(3)])
    a[0, 1, 0] = bad
    e, v = (_np(backend, b) for b in backend.linalg_eigh(_buf(backend, a)))
    s, u, vv = (_np(backend, b) for b in backend.linalg_svd(_buf(backend, a)))
    q, r = (_np(backend, b) for b in backend.linalg_qr(_buf(backend, a)))
    assert np.isnan(e[0]).all() and np.isnan(s[0]).all() and np.isnan(v[0]).all()
    assert not np.isfinite(r[0]).all() and not np.isfinite(q[0]).all()
    np.testing.assert_allclose(e[1], [2, 2, 2])
    np.testing.assert_allclose(s[1], [2, 2, 2])
    np.testing.assert_allclose(np.abs(r[1]), 2 * np.eye(3))


def test_kernels_empty(backend):
    e = _buf(backend, np.zeros((0, 3, 3), np.float64))
    q, r = backend.linalg_qr(e)
    assert _np(backend, q).shape == (0, 3, 3) and _np(backend, r).shape == (0, 3, 3)
    ev, v = backend.linalg_eigh(e)
    assert _np(backend, ev).shape == (0, 3) and _np(backend, v).shape == (0, 3, 3)
    s, u, v = backend.linalg_svd(e)
    assert _np(backend, s).shape == (0, 3) and _np(backend, u).shape == (0, 3, 3)
    for shape in ((3, 0), (0, 3), (2, 0, 2)):    # full bases of an empty matrix: identities
        z = _buf(backend, np.zeros(shape))
        s, u, v = (_np(backend, b) for b in backend.linalg_svd(z, True))
        ru, rs, rvh = np.linalg.svd(np.zeros(shape))
        assert s.shape == rs.shape
        np.testing.assert_array_equal(u, ru)
        np.testing.assert_array_equal(v, mT(rvh))
        q, r = (_np(backend, b) for b in backend.linalg_qr(z, True))
        rq, rr = np.linalg.qr(np.zeros(shape), mode="complete")
        np.testing.assert_array_equal(q, rq)
        assert r.shape == rr.shape


def test_kernels_reject_bad_arguments(backend):
    f = _buf(backend, np.ones((3, 3), np.float32))
    with pytest.raises(TypeError, match=r"\[qr\] a must be float32 or float64"):
        backend.linalg_qr(_buf(backend, np.ones((2, 2), np.int32)))
    with pytest.raises(ValueError, match=r"\[svd\] a must have rank >= 2"):
        backend.linalg_svd(_buf(backend, np.ones(3, np.float32)))
    with pytest.raises(ValueError, match=r"\[eigh\] a must be square"):
        backend.linalg_eigh(_buf(backend, np.ones((2, 3), np.float32)))
    with pytest.raises(ValueError, match=r"\[eigh\] the Jacobi dimension 2049"):
        backend.linalg_eigh(_buf(backend, np.ones((2049, 2049), np.float32)))
    with pytest.raises(ValueError, match=r"\[linalg_solve_upper\] r must be \(\.\.\., N, N\)"):
        backend.linalg_solve_upper(f, _buf(backend, np.ones((2, 4), np.float32)))
    with pytest.raises(TypeError, match=r"\[linalg_solve_upper\] r and b dtypes differ"):
        backend.linalg_solve_upper(f, _buf(backend, np.ones((2, 3), np.float64)))


# ---------------------------------------------------------------- ops on every device
def test_qr_op_signs_match_numpy(where):
    a = rand(2, 5, 3)
    for full in (False, True):
        for x in (a, mT(a).copy()):
            with nabi.device(where):
                q, r = nabi.linalg.qr(x, full_matrices=full)
            qr_, rr_ = np.linalg.qr(x, mode="complete" if full else "reduced")
            np.testing.assert_allclose(q.numpy(), qr_, atol=1e-12)
            np.testing.assert_allclose(r.numpy(), rr_, atol=1e-12)


@pytest.mark.parametrize("dt", FLOATS)
def test_decompositions_op(where, dt):
    a = rand(2, 4, 3).astype(dt)
    sq = rand(3, 3).astype(dt)
    b = rand(1, 4, 2).astype(dt)
    with nabi.device(where):
        s, u, v = nabi.linalg.svd(a)
        s_only = nabi.linalg.svd(a, compute_uv=False)
        e, w = nabi.linalg.eigh(sq)
        ev = nabi.linalg.eigvalsh(sq)
        p = nabi.linalg.pinv(a)
        rank = nabi.linalg.matrix_rank(np.concatenate([a, a[:, :, :1]], -1))
        x = nabi.linalg.lstsq(a, b, fast=False)
    assert s.dtype == dt and p.dtype == dt and rank.dtype == nabi.int32
    a64 = a.astype(np.float64)
    t = tol(dt, 20)
    np.testing.assert_allclose(s.numpy(), np.linalg.svd(a64, compute_uv=False), **t)
    np.testing.assert_allclose(s_only.numpy(), s.numpy(), **t)
    np.testing.assert_allclose((u.numpy() * s.numpy()[..., None, :]) @ mT(v.numpy()), a64, **t)
    ref = np.linalg.eigvalsh(sym_lower(sq.astype(np.float64)))
    np.testing.assert_allclose(e.numpy(), ref, **t)
    np.testing.assert_allclose(ev.numpy(), ref, **t)
    np.testing.assert_allclose((w.numpy() * e.numpy()[None]) @ w.numpy().T,
                               sym_lower(sq.astype(np.float64)), **t)
    np.testing.assert_allclose(p.numpy(), np.linalg.pinv(a64), **tol(dt, 200))
    assert rank.numpy().tolist() == [3, 3]
    assert x.dtype == dt
    np.testing.assert_allclose(x.numpy(), np.linalg.pinv(a64) @ b.astype(np.float64),
                               **tol(dt, 200))


def test_lstsq_fast_false_op(where):
    a, b = rand(2, 5, 3), rand(1, 5, 2)
    with nabi.device(where):
        x = nabi.linalg.lstsq(a, b, fast=False)
    np.testing.assert_allclose(x.numpy(), np.linalg.pinv(a) @ b, atol=1e-12)


# ---------------------------------------------------------------- gradients
def _check_grad(where, f, f_np, a, rtol=1e-5, atol=1e-7):
    with nabi.device(where):
        t = nabi.constant(a)
        with nabi.GradientTape() as tape:
            tape.watch(t)
            loss = f(t)
        g = tape.gradient(loss, t)
    assert type(g._data) is type(t._data)
    np.testing.assert_allclose(float(loss.numpy()), f_np(a), rtol=1e-10)
    np.testing.assert_allclose(g.numpy(), numeric_grad(f_np, [a], 0), rtol=rtol, atol=atol)


def _S(y, c):
    return nabi.reduce_sum(y * c) if isinstance(y, nabi.Tensor) else float(np.sum(y * c))


@pytest.mark.parametrize("shape", [(4, 3), (3, 4)])
def test_qr_gradient_vs_differences(where, shape):
    a = rand(*shape)
    k = min(shape)
    c1, c2 = rand(shape[0], k), rand(k, shape[1])

    def loss(q, r):   # q and r are NumPy's on every device, signs included
        return _S(q, c1) + _S(r * r, c2)
    _check_grad(where, lambda t: loss(*nabi.linalg.qr(t)), lambda t: loss(*np.linalg.qr(t)), a)


def test_svd_eigh_gradients_vs_differences(where):
    a, sq = rand(4, 3), rand(3, 3)
    c0, c1, c2 = rand(3), rand(4, 3), rand(3, 3)

    def svd_loss(s, u, v):  # invariant to the vectors' signs
        return _S(s, c0) + _S(u * u, c1) + _S(v * v, c2)

    def svd_np(t):
        u, s, vh = np.linalg.svd(t, full_matrices=False)
        return svd_loss(s, u, mT(vh))
    _check_grad(where, lambda t: svd_loss(*nabi.linalg.svd(t)), svd_np, a)
    _check_grad(where, lambda t: _S(nabi.linalg.svd(t, compute_uv=False), c0),
                lambda t: _S(np.linalg.svd(t, compute_uv=False), c0), a)
    _check_grad(where, lambda t: (lambda e, v: _S(e, c0) + _S(v * v, c2))(*nabi.linalg.eigh(t)),
                lambda t: (lambda e, v: _S(e, c0) + _S(v * v, c2))(*np.linalg.eigh(t)), sq)
    _check_grad(where, lambda t: _S(nabi.linalg.eigvalsh(t), c0),
                lambda t: _S(np.linalg.eigvalsh(t), c0), sq)
    _check_grad(where, lambda t: _S(nabi.linalg.pinv(t), c1.T),
                lambda t: _S(np.linalg.pinv(t), c1.T), a)


def test_second_order_on_the_gpu(where):
    """d/da of |d eigvalsh / da|^2 and of |d qr / da|^2 (nested tapes) against differences of
    the analytic first-order NumPy gradients."""
    sq = rand(3, 3)
    c = rand(3)

    def g_eig_np(t):   # d sum(c * eigvalsh(t)) / dt, lower-triangle form
        _, v = np.linalg.eigh(t)
        gt = (v * c) @ v.T
        return np.tril(gt + gt.T) - np.diag(np.diag(gt))

    with nabi.device(where):
        t = nabi.constant(sq)
        with nabi.GradientTape() as outer:
            outer.watch(t)
            with nabi.GradientTape() as inner:
                inner.watch(t)
                y = nabi.reduce_sum(nabi.linalg.eigvalsh(t) * c)
            g = inner.gradient(y, t)
            z = nabi.reduce_sum(g * g)
        h = outer.gradient(z, t)
    np.testing.assert_allclose(g.numpy(), g_eig_np(sq), atol=1e-10)
    np.testing.assert_allclose(h.numpy(), numeric_grad(lambda u: float(np.sum(g_eig_np(u) ** 2)),
                                                       [sq], 0), rtol=1e-5, atol=1e-7)


def test_qr_second_order(where):
    """d/da |d sum(c * r) / da|^2 through qr (the R^-T solve's own gradient) against nested
    central differences of numpy.linalg.qr."""
    a = rand(3, 3) + 3 * np.eye(3)
    c = np.triu(rand(3, 3))

    def f_np(t):
        return float(np.sum(np.linalg.qr(t)[1] * c))

    def g_np(t):
        return numeric_grad(f_np, [t], 0, eps=1e-5)

    with nabi.device(where):
        t = nabi.constant(a)
        with nabi.GradientTape() as outer:
            outer.watch(t)
            with nabi.GradientTape() as inner:
                inner.watch(t)
                y = nabi.reduce_sum(nabi.linalg.qr(t)[1] * c)
            g = inner.gradient(y, t)
            z = nabi.reduce_sum(g * g)
        h = outer.gradient(z, t)
    assert type(h._data) is type(t._data)
    np.testing.assert_allclose(g.numpy(), g_np(a), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(h.numpy(), numeric_grad(lambda u: float(np.sum(g_np(u) ** 2)),
                                                       [a], 0, eps=1e-4), rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------- no copy to the host
# (the d2h fixture, the read-back counter, is conftest.py's)


def test_forward_and_gradients_do_not_copy_to_the_host(d2h):
    a_np, sq_np = rand(2, 4, 3), rand(3, 3)
    with nabi.device("/GPU:0"):
        a, sq = nabi.constant(a_np), nabi.constant(sq_np)
        b = nabi.constant(rand(2, 4, 2))
        for f in (lambda: nabi.linalg.qr(a), lambda: nabi.linalg.qr(a, full_matrices=True),
                  lambda: nabi.linalg.svd(a), lambda: nabi.linalg.svd(a, compute_uv=False),
                  lambda: nabi.linalg.eigh(sq), lambda: nabi.linalg.eigvalsh(sq),
                  lambda: nabi.linalg.pinv(a), lambda: nabi.linalg.matrix_rank(a),
                  lambda: nabi.linalg.lstsq(a, b, fast=False)):
            reads, launches = d2h(f)
            assert reads == 0 and launches >= 1

        def grads():
            with nabi.GradientTape() as tape:
                tape.watch([a, sq])
                q, r = nabi.linalg.qr(a)
                s, u, v = nabi.linalg.svd(a)
                e, w = nabi.linalg.eigh(sq)
                y = (nabi.reduce_sum(q * r[..., :1, :]) + nabi.reduce_sum(r) + nabi.reduce_sum(s)
                     + nabi.reduce_sum(u * u) + nabi.reduce_sum(e) + nabi.reduce_sum(w * w)
                     + nabi.reduce_sum(nabi.linalg.eigvalsh(sq))
                     + nabi.reduce_sum(nabi.linalg.svd(a, compute_uv=False))
                     + nabi.reduce_sum(nabi.linalg.pinv(a)))
            ga, gs = tape.gradient(y, [a, sq])
            assert type(ga._data).__name__ == "DeviceArray"
        reads, _ = d2h(grads)
        assert reads == 0
