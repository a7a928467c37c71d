"""tf.linalg decompositions and solvers (python/nabi/ops/linalg_decomp.py): forward against
numpy.linalg / scipy.linalg, gradients of scalar losses that do not depend on the sign choices
of the factors against float64 central differences of the NumPy forward, on the CPU and the
emulated GPU, batched; argument errors."""
import numpy as np
import pytest
import scipy.linalg

import nabi
from helpers import assert_array, on_device
from reference import numeric_grad

RNG = np.random.default_rng(20240607)


def rand(*shape):
    return RNG.standard_normal(shape)


def spd(*batch, n=3):
    x = rand(*batch, n, n)
    return x @ np.swapaxes(x, -1, -2) + n * np.eye(n)


def tol(dtype):
    return dict(rtol=1e-4, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-11)


def mT(m):
    return nabi.linalg.matrix_transpose(m) if isinstance(m, nabi.Tensor) else np.swapaxes(m, -1, -2)


def S(y, c):
    """sum(y * c) for a nabi tensor (on the tape) or a NumPy array (the reference)."""
    return nabi.reduce_sum(y * c) if isinstance(y, nabi.Tensor) else float(np.sum(y * c))


def check_grad(where, f, f_np, arrays, rtol=1e-5, atol=1e-7):
    """nabi's gradients of the scalar f(*tensors) against central differences of f_np."""
    arrays = [np.asarray(a, np.float64) for a in arrays]
    with nabi.device(where):
        ts = [nabi.constant(a) for a in arrays]
        with nabi.GradientTape() as tape:
            for t in ts:
                tape.watch(t)
            loss = f(*ts)
        grads = tape.gradient(loss, ts)
    np.testing.assert_allclose(float(loss.numpy()), f_np(*arrays), rtol=1e-10, atol=1e-12)
    for i, g in enumerate(grads):
        assert g is not None, f"no gradient for input {i}"
        on_device(where, g)
        np.testing.assert_allclose(g.numpy(), numeric_grad(f_np, arrays, i), rtol=rtol,
                                   atol=atol, err_msg=f"gradient of input {i}")
    return grads


# ---------------------------------------------------------------- solve / triangular_solve


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_solve_forward(where, dtype):
    a = rand(2, 4, 4) + 4 * np.eye(4)
    b = rand(2, 4, 3)
    with nabi.device(where):
        x = nabi.linalg.solve(a.astype(dtype), b.astype(dtype))
        on_device(where, x)
        assert_array(x, np.linalg.solve(a, b).astype(dtype), dtype=dtype, **tol(dtype))
        xa = nabi.linalg.solve(nabi.constant(a.astype(dtype)), b.astype(dtype), adjoint=True)
        assert_array(xa, np.linalg.solve(np.swapaxes(a, -1, -2), b), dtype=dtype, **tol(dtype))
        # batch dimensions broadcast: one matrix, a batch of right-hand sides
        xb = nabi.linalg.solve(a[0].astype(dtype), b.astype(dtype))
        assert_array(xb, np.linalg.solve(a[:1], b), dtype=dtype, **tol(dtype))


@pytest.mark.parametrize("adjoint", [False, True])
def test_solve_gradient(where, adjoint):
    a = rand(2, 3, 3) + 3 * np.eye(3)
    b = rand(2, 3, 2)
    c = rand(2, 3, 2)

    def ref(a, b):
        return S(np.linalg.solve(np.swapaxes(a, -1, -2) if adjoint else a, b), c)
    check_grad(where, lambda a, b: S(nabi.linalg.solve(a, b, adjoint=adjoint), c), ref, [a, b])
    # broadcast matrix: its gradient sums over the batch
    check_grad(where, lambda a, b: S(nabi.linalg.solve(a, b, adjoint=adjoint), c),
               lambda a, b: ref(np.broadcast_to(a, (2, 3, 3)), b), [a[0], b])


@pytest.mark.parametrize("lower", [True, False])
@pytest.mark.parametrize("adjoint", [False, True])
def test_triangular_solve(where, lower, adjoint):
    a = rand(2, 4, 4) + 4 * np.eye(4)       # the other triangle holds garbage: never read
    b = rand(2, 4, 2)
    c = rand(2, 4, 2)
    ref = np.stack([scipy.linalg.solve_triangular(a[i], b[i], lower=lower,
                                                  trans=1 if adjoint else 0) for i in range(2)])
    with nabi.device(where):
        x = nabi.linalg.triangular_solve(a, b, lower=lower, adjoint=adjoint)
        on_device(where, x)
        assert_array(x, ref, rtol=1e-10, atol=1e-12)
        x32 = nabi.linalg.triangular_solve(a.astype(np.float32), b.astype(np.float32),
                                           lower=lower, adjoint=adjoint)
        assert_array(x32, ref.astype(np.float32), dtype=np.float32, rtol=1e-4, atol=1e-5)
    tri = np.tril if lower else np.triu

    def f_np(a, b):
        t = tri(a)
        return S(np.linalg.solve(np.swapaxes(t, -1, -2) if adjoint else t, b), c)
    g = check_grad(where, lambda a, b: S(nabi.linalg.triangular_solve(a, b, lower, adjoint), c),
                   f_np, [a, b])
    assert np.all(g[0].numpy() == tri(g[0].numpy()))   # zero on the triangle not read


def test_cholesky_solve(where):
    a = spd(2, n=4)
    chol = np.linalg.cholesky(a)
    b = rand(2, 4, 3)
    c = rand(2, 4, 3)
    with nabi.device(where):
        x = nabi.linalg.cholesky_solve(chol, b)
        on_device(where, x)
        assert_array(x, np.linalg.solve(a, b), rtol=1e-9, atol=1e-11)

    def f_np(l_, b):
        l_ = np.tril(l_)
        return S(np.linalg.solve(l_ @ np.swapaxes(l_, -1, -2), b), c)
    check_grad(where, lambda l_, b: S(nabi.linalg.cholesky_solve(l_, b), c), f_np, [chol, b])


# ---------------------------------------------------------------- cholesky / logdet


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cholesky_forward(where, dtype):
    a = spd(2, 3, n=4)
    with nabi.device(where):
        l_ = nabi.linalg.cholesky(a.astype(dtype))
        on_device(where, l_)
        assert_array(l_, np.linalg.cholesky(a).astype(dtype), dtype=dtype, **tol(dtype))
        # only the lower triangle is read
        junk = np.tril(a) + np.triu(rand(2, 3, 4, 4), 1)
        assert_array(nabi.linalg.cholesky(junk.astype(dtype)), np.linalg.cholesky(a),
                     dtype=dtype, **tol(dtype))


def test_cholesky_gradient(where):
    # through A = X X^T + n I (a symmetric input, as the symmetric TF gradient assumes)
    x = rand(2, 3, 3)
    c = rand(2, 3, 3)

    def f(x):
        a = nabi.matmul(x, x, transpose_b=True) + 3 * np.eye(3)
        return S(nabi.linalg.cholesky(a), c)

    def f_np(x):
        return S(np.linalg.cholesky(x @ np.swapaxes(x, -1, -2) + 3 * np.eye(3)), c)
    check_grad(where, f, f_np, [x])
    # the gradient with respect to A itself is symmetric (TF's convention)
    with nabi.device(where):
        t = nabi.constant(spd(2))
        with nabi.GradientTape() as tape:
            tape.watch(t)
            loss = S(nabi.linalg.cholesky(t), c)
        g = tape.gradient(loss, t).numpy()
    np.testing.assert_allclose(g, np.swapaxes(g, -1, -2), rtol=1e-12, atol=1e-14)


def test_logdet(where):
    a = spd(2, 3, n=4)
    with nabi.device(where):
        ld = nabi.linalg.logdet(a)
        on_device(where, ld)
        assert_array(ld, np.linalg.slogdet(a)[1], rtol=1e-10)
        assert_array(nabi.linalg.logdet(a.astype(np.float32)),
                     np.linalg.slogdet(a)[1].astype(np.float32), dtype=np.float32, rtol=1e-4)
    c = rand(2)
    check_grad(where, lambda t: S(nabi.linalg.logdet(t), c),
               lambda t: S(np.linalg.slogdet(t)[1], c), [a[:, 0]])


# ---------------------------------------------------------------- qr


@pytest.mark.parametrize("shape", [(2, 5, 3), (2, 3, 3), (2, 3, 5), (4, 1)])
@pytest.mark.parametrize("full", [False, True])
def test_qr_forward(where, shape, full):
    a = rand(*shape)
    m, n = shape[-2:]
    p = m if full else min(m, n)
    with nabi.device(where):
        q, r = nabi.linalg.qr(a.astype(np.float32), full_matrices=full)
        on_device(where, q)
        assert q.shape == shape[:-2] + (m, p) and r.shape == shape[:-2] + (p, n)
        q, r = nabi.linalg.qr(a, full_matrices=full)
    q, r = q.numpy(), r.numpy()
    np.testing.assert_allclose(q @ r, a, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(np.swapaxes(q, -1, -2) @ q, np.broadcast_to(np.eye(p), q.shape[:-2]
                                                                            + (p, p)), atol=1e-12)
    assert np.all(r == np.triu(r))
    _, rr = np.linalg.qr(a, mode="complete" if full else "reduced")
    np.testing.assert_allclose(np.abs(r), np.abs(rr), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("shape,full", [((2, 5, 3), False), ((2, 3, 3), False),
                                        ((3, 3), True), ((2, 3, 5), False), ((3, 5), True)])
def test_qr_gradient(where, shape, full):
    a = rand(*shape)
    m, n = shape[-2:]
    p = m if full else min(m, n)
    c1, c2, c3, w = rand(*shape[:-2], m, p), rand(*shape[:-2], p, n), rand(*shape), rand(p)

    def loss(q, r):     # does not change when a column of q and the row of r flip sign
        return S(q * q, c1) + S(r * r, c2) + S((q * w) @ r, c3)
    check_grad(where, lambda t: loss(*nabi.linalg.qr(t, full_matrices=full)),
               lambda t: loss(*np.linalg.qr(t, mode="complete" if full else "reduced")), [a])


def test_qr_gradient_not_implemented_for_full_tall():
    t = nabi.constant(rand(4, 2))
    with nabi.GradientTape() as tape:
        tape.watch(t)
        q, r = nabi.linalg.qr(t, full_matrices=True)
        loss = nabi.reduce_sum(r)
    with pytest.raises(NotImplementedError, match=r"\[qr\] .*full_matrices=True.*\(4, 2\)"):
        tape.gradient(loss, t)


# ---------------------------------------------------------------- svd


@pytest.mark.parametrize("shape", [(2, 4, 3), (2, 3, 4), (3, 3), (1, 5)])
@pytest.mark.parametrize("full", [False, True])
def test_svd_forward(where, shape, full):
    a = rand(*shape)
    m, n = shape[-2:]
    k = min(m, n)
    with nabi.device(where):
        s, u, v = nabi.linalg.svd(a, full_matrices=full)
        on_device(where, u)
        s32 = nabi.linalg.svd(a.astype(np.float32), compute_uv=False)
    ref = np.linalg.svd(a, compute_uv=False)
    assert_array(s32, ref.astype(np.float32), dtype=np.float32, rtol=1e-4, atol=1e-5)
    assert_array(s, ref, rtol=1e-10)
    assert np.all(np.diff(s.numpy(), axis=-1) <= 0)                 # descending
    u, v = u.numpy(), v.numpy()
    pu, pv = (m, n) if full else (k, k)
    assert u.shape == shape[:-2] + (m, pu) and v.shape == shape[:-2] + (n, pv)
    recon = (u[..., :, :k] * s.numpy()[..., None, :]) @ np.swapaxes(v[..., :, :k], -1, -2)
    np.testing.assert_allclose(recon, a, rtol=1e-10, atol=1e-12)   # v, not v^T
    np.testing.assert_allclose(np.swapaxes(u, -1, -2) @ u, np.broadcast_to(
        np.eye(pu), u.shape[:-2] + (pu, pu)), atol=1e-12)
    np.testing.assert_allclose(np.swapaxes(v, -1, -2) @ v, np.broadcast_to(
        np.eye(pv), v.shape[:-2] + (pv, pv)), atol=1e-12)


@pytest.mark.parametrize("shape", [(2, 4, 3), (2, 3, 4), (2, 3, 3)])
def test_svd_gradient(where, shape):
    a = rand(*shape)
    m, n = shape[-2:]
    k = min(m, n)
    b = shape[:-2]
    c0, c1, c2, c3, w = rand(*b, k), rand(*b, m, k), rand(*b, n, k), rand(*shape), rand(k)

    def loss(s, u, v):  # invariant to flipping the sign of a column of u and the same of v
        return S(s, c0) + S(u * u, c1) + S(v * v, c2) + S((u * w) @ mT(v), c3)

    def loss_np(t):
        u, s, vh = np.linalg.svd(t, full_matrices=False)
        return loss(s, u, np.swapaxes(vh, -1, -2))
    check_grad(where, lambda t: loss(*nabi.linalg.svd(t)), loss_np, [a])
    # singular values only
    check_grad(where, lambda t: S(nabi.linalg.svd(t, compute_uv=False), c0),
               lambda t: S(np.linalg.svd(t, compute_uv=False), c0), [a])


def test_svd_square_full_matrices_gradient_and_nonsquare_error(where):
    a = rand(3, 3)
    c = rand(3, 3)
    check_grad(where, lambda t: (lambda s, u, v: S(u @ mT(v), c))(*nabi.linalg.svd(t, True)),
               lambda t: (lambda u, s, vh: S(u @ vh, c))(*np.linalg.svd(t)), [a])
    with nabi.device(where):
        t = nabi.constant(rand(2, 4, 3))
        with nabi.GradientTape() as tape:
            tape.watch(t)
            s, u, v = nabi.linalg.svd(t, full_matrices=True)
            loss = nabi.reduce_sum(u)
        with pytest.raises(NotImplementedError, match=r"\[svd\] .*full_matrices=True.*\(2, 4, 3\)"):
            tape.gradient(loss, t)


# ---------------------------------------------------------------- eigh / eigvalsh


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_eigh_forward(where, dtype):
    a = rand(2, 3, 4, 4)                 # not symmetric: only the lower triangle is read
    sym = np.tril(a) + np.swapaxes(np.tril(a, -1), -1, -2)
    with nabi.device(where):
        e, v = nabi.linalg.eigh(a.astype(dtype))
        on_device(where, v)
        ev = nabi.linalg.eigvalsh(a.astype(dtype))
    ref = np.linalg.eigvalsh(sym)
    assert_array(e, ref.astype(dtype), dtype=dtype, **tol(dtype))
    assert_array(ev, ref.astype(dtype), dtype=dtype, **tol(dtype))
    e, v = e.numpy().astype(np.float64), v.numpy().astype(np.float64)
    assert np.all(np.diff(e, axis=-1) >= 0)                          # ascending
    t = dict(rtol=1e-4, atol=1e-4) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-11)
    np.testing.assert_allclose((v * e[..., None, :]) @ np.swapaxes(v, -1, -2), sym, **t)
    np.testing.assert_allclose(np.swapaxes(v, -1, -2) @ v, np.broadcast_to(np.eye(4), v.shape),
                               **t)


def test_eigh_gradient(where):
    a = rand(2, 4, 4)
    c, cc = rand(2, 4), rand(2, 4, 4)

    def loss(e, v):     # invariant to the sign of each eigenvector
        return S(e, c) + S(v * v, cc)
    # the NumPy forward reads the lower triangle too, so the differences see the same function
    g = check_grad(where, lambda t: loss(*nabi.linalg.eigh(t)),
                   lambda t: loss(*np.linalg.eigh(t)), [a])[0].numpy()
    assert np.all(g == np.tril(g))
    check_grad(where, lambda t: S(nabi.linalg.eigvalsh(t), c),
               lambda t: S(np.linalg.eigvalsh(t), c), [a])


# ---------------------------------------------------------------- lstsq / pinv / matrix_rank


def normal_eq(a, b, l2):
    at = np.swapaxes(a, -1, -2)
    m, n = a.shape[-2:]
    if m >= n:
        return np.linalg.solve(at @ a + l2 * np.eye(n), at @ b)
    return at @ np.linalg.solve(a @ at + l2 * np.eye(m), b)


@pytest.mark.parametrize("shape", [(2, 5, 3), (2, 3, 5)])
def test_lstsq(where, shape):
    a = rand(*shape)
    b = rand(*shape[:-1], 2)
    c = rand(*shape[:-2], shape[-1], 2)
    with nabi.device(where):
        x = nabi.linalg.lstsq(a, b)
        on_device(where, x)
        ref = np.stack([np.linalg.lstsq(a[i], b[i], rcond=None)[0] for i in range(2)])
        assert_array(x, ref, rtol=1e-9, atol=1e-11)       # least squares / minimum norm
        assert_array(nabi.linalg.lstsq(a, b, fast=False), ref, rtol=1e-9, atol=1e-11)
        assert_array(nabi.linalg.lstsq(a, b, l2_regularizer=0.5), normal_eq(a, b, 0.5),
                     rtol=1e-9, atol=1e-11)
        x32 = nabi.linalg.lstsq(a.astype(np.float32), b.astype(np.float32))
        assert_array(x32, ref.astype(np.float32), dtype=np.float32, rtol=1e-3, atol=1e-4)
    for l2 in (0.0, 0.5):
        check_grad(where, lambda a, b: S(nabi.linalg.lstsq(a, b, l2_regularizer=l2), c),
                   lambda a, b: S(normal_eq(a, b, l2), c), [a, b])


def test_lstsq_fast_false_has_no_gradient():
    t = nabi.constant(rand(4, 2))
    with nabi.GradientTape() as tape:
        tape.watch(t)
        loss = nabi.reduce_sum(nabi.linalg.lstsq(t, rand(4, 1), fast=False))
    with pytest.raises(NotImplementedError, match=r"\[lstsq\] .*fast=False"):
        tape.gradient(loss, t)


@pytest.mark.parametrize("shape", [(2, 4, 3), (3, 5)])
def test_pinv(where, shape):
    a = rand(*shape)
    c = rand(*shape[:-2], shape[-1], shape[-2])
    with nabi.device(where):
        p = nabi.linalg.pinv(a)
        on_device(where, p)
        assert_array(p, np.linalg.pinv(a), rtol=1e-9, atol=1e-11)
        assert_array(nabi.linalg.pinv(a.astype(np.float32)), np.linalg.pinv(a).astype(
            np.float32), dtype=np.float32, rtol=1e-4, atol=1e-5)
        # rank deficient: the small singular value is cut off
        low = rand(4, 2) @ rand(2, 3)
        assert_array(nabi.linalg.pinv(low), np.linalg.pinv(low, rcond=1e-10), rtol=1e-8,
                     atol=1e-10)
    check_grad(where, lambda t: S(nabi.linalg.pinv(t), c), lambda t: S(np.linalg.pinv(t), c),
               [a])
    # rank-deficient input, perturbations that keep the rank (through factors)
    f1, f2 = rand(4, 2), rand(2, 3)
    cl = rand(3, 4)
    check_grad(where, lambda x, y: S(nabi.linalg.pinv(x @ y), cl),
               lambda x, y: S(np.linalg.pinv(x @ y, rcond=1e-10), cl), [f1, f2])


def test_matrix_rank(where):
    a = np.stack([rand(4, 3), rand(4, 2) @ rand(2, 3), np.zeros((4, 3))])
    with nabi.device(where):
        r = nabi.linalg.matrix_rank(a)
        on_device(where, r)
        assert_array(r, [3, 2, 0], dtype=np.int32)
        assert_array(nabi.linalg.matrix_rank(a.astype(np.float32)), [3, 2, 0], dtype=np.int32)
        assert_array(nabi.linalg.matrix_rank(np.diag([1.0, 1e-3, 1e-8]), tol=1e-4), 2,
                     dtype=np.int32)


# ---------------------------------------------------------------- expm


def expm_ref(a):
    a = np.asarray(a, np.float64)
    return np.stack([scipy.linalg.expm(m) for m in a.reshape((-1,) + a.shape[-2:])]).reshape(
        a.shape)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_expm_forward(where, dtype):
    a = rand(3, 4, 4) * np.array([0.01, 1.0, 8.0])[:, None, None]   # 0 to 3 squarings
    ref = expm_ref(a)
    with nabi.device(where):
        e = nabi.linalg.expm(a.astype(dtype))
        on_device(where, e)
    t = dict(rtol=2e-4, atol=1e-4 * np.abs(ref).max()) if dtype == np.float32 else \
        dict(rtol=1e-11, atol=1e-12 * np.abs(ref).max())
    assert_array(e, ref.astype(dtype), dtype=dtype, **t)
    assert_array(nabi.linalg.expm(np.zeros((2, 2))), np.eye(2))


def test_expm_gradient(where):
    # its own generator: the shared RNG's draw depends on how many tests ran before (the
    # simulator runs the cuda cases too), and some draws of the x4 batch make entries of
    # expm ~e^10, where the float64 central difference itself is only good to ~1e-5
    r = np.random.default_rng(423)
    a = r.standard_normal((2, 3, 3)) * np.array([0.5, 2.0])[:, None, None]
    c = r.standard_normal((2, 3, 3))
    check_grad(where, lambda t: S(nabi.linalg.expm(t), c), lambda t: S(expm_ref(t), c), [a],
               rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------- small compositions


def test_adjoint_matvec_cross_normalize(where):
    a, x = rand(2, 3, 4), rand(2, 4)
    u, v = rand(2, 5, 3), rand(2, 5, 3)
    with nabi.device(where):
        assert_array(nabi.linalg.adjoint(a), np.swapaxes(a, -1, -2))
        mv = nabi.linalg.matvec(a, x)
        on_device(where, mv)
        assert_array(mv, np.einsum("bij,bj->bi", a, x), rtol=1e-12)
        assert_array(nabi.linalg.matvec(a, np.ones((2, 3)), transpose_a=True),
                     np.swapaxes(a, -1, -2).sum(-1), rtol=1e-12)
        cr = nabi.linalg.cross(u, v)
        assert_array(cr, np.cross(u, v), rtol=1e-12, atol=1e-14)
        assert_array(nabi.linalg.cross(np.float32([1, 0, 0]), np.float32([0, 1, 0])), [0, 0, 1],
                     dtype=np.float32)
        nz, nn = nabi.linalg.normalize(a, axis=-1)
        on_device(where, nz)
        ref_n = np.linalg.norm(a, axis=-1, keepdims=True)
        assert_array(nn, ref_n, rtol=1e-12)
        assert_array(nz, a / ref_n, rtol=1e-12)
        nz1, nn1 = nabi.linalg.normalize(a, ord=1, axis=(-2, -1))
        ref1 = np.abs(a).sum(-2).max(-1)[:, None, None]
        assert_array(nn1, ref1, rtol=1e-12)
        assert_array(nz1, a / ref1, rtol=1e-12)
    c3, c4 = rand(2, 5, 3), rand(2, 3)
    check_grad(where, lambda u, v: S(nabi.linalg.cross(u, v), c3),
               lambda u, v: S(np.cross(u, v), c3), [u, v])
    check_grad(where, lambda a, x: S(nabi.linalg.matvec(a, x), c4),
               lambda a, x: S(np.einsum("bij,bj->bi", a, x), c4), [a, x])
    cn = rand(2, 3, 4)
    check_grad(where, lambda a: S(nabi.linalg.normalize(a, axis=-1)[0], cn),
               lambda a: S(a / np.linalg.norm(a, axis=-1, keepdims=True), cn), [a])


def test_exports():
    for name in ("solve", "triangular_solve", "cholesky", "cholesky_solve", "logdet", "qr",
                 "svd", "eigh", "eigvalsh", "lstsq", "pinv", "matrix_rank", "expm", "adjoint",
                 "matvec", "cross", "normalize"):
        assert callable(getattr(nabi.linalg, name)), name


# ---------------------------------------------------------------- errors


def test_errors():
    f32 = np.float32
    with pytest.raises(ValueError, match=r"\[cholesky\] input must be square .*\(2, 3\)"):
        nabi.linalg.cholesky(np.zeros((2, 3), f32))
    with pytest.raises(ValueError, match=r"\[cholesky\] .*not positive definite"):
        nabi.linalg.cholesky(-np.eye(2, dtype=f32))
    with pytest.raises(ValueError, match=r"\[logdet\] .*not positive definite"):
        nabi.linalg.logdet(-np.eye(2, dtype=f32))
    with pytest.raises(ValueError, match=r"\[eigh\] input must be square .*\(3, 2\)"):
        nabi.linalg.eigh(np.zeros((3, 2), f32))
    with pytest.raises(ValueError, match=r"\[eigvalsh\] input must be square"):
        nabi.linalg.eigvalsh(np.zeros((3, 2), f32))
    with pytest.raises(ValueError, match=r"\[svd\] input must have rank >= 2 .*\(3,\)"):
        nabi.linalg.svd(np.zeros(3, f32))
    with pytest.raises(ValueError, match=r"\[qr\] input must have rank >= 2"):
        nabi.linalg.qr(np.zeros(3, f32))
    with pytest.raises(TypeError, match=r"\[qr\] input must be a float32 or float64 .*int32"):
        nabi.linalg.qr(np.zeros((2, 2), np.int32))
    with pytest.raises(ValueError, match=r"\[solve\] matrix must be \(\.\.\., M, M\).*\(2, 3\)"):
        nabi.linalg.solve(np.zeros((2, 3), f32), np.zeros((2, 1), f32))
    with pytest.raises(ValueError, match=r"\[solve\] matrix \(3, 3\) and rhs \(2, 1\) disagree"):
        nabi.linalg.solve(np.eye(3, dtype=f32), np.zeros((2, 1), f32))
    with pytest.raises(ValueError, match=r"\[solve\] rhs must have rank >= 2 .*\(3,\)"):
        nabi.linalg.solve(np.eye(3, dtype=f32), np.zeros(3, f32))
    with pytest.raises(ValueError, match=r"\[solve\] .*not invertible"):
        nabi.linalg.solve(np.zeros((2, 2), f32), np.zeros((2, 1), f32))
    with pytest.raises(ValueError, match=r"\[solve\] the batch dimensions .*\(2, 3, 3\).*"
                                         r"\(4, 3, 1\) do not broadcast"):
        nabi.linalg.solve(np.zeros((2, 3, 3), f32), np.zeros((4, 3, 1), f32))
    with pytest.raises(TypeError, match=r"\[solve\] dtypes differ"):
        nabi.linalg.solve(nabi.constant(np.eye(2)), nabi.constant(np.ones((2, 1), f32)))
    with pytest.raises(ValueError, match=r"\[triangular_solve\] matrix \(3, 3\) and rhs"):
        nabi.linalg.triangular_solve(np.eye(3, dtype=f32), np.zeros((4, 1), f32))
    with pytest.raises(ValueError, match=r"\[triangular_solve\] .*not invertible"):
        zero_diag = np.ones((2, 2), f32) - np.eye(2, dtype=f32)
        nabi.linalg.triangular_solve(zero_diag, np.ones((2, 1), f32))
    with pytest.raises(ValueError, match=r"\[cholesky_solve\] matrix must be .*\(2, 3\)"):
        nabi.linalg.cholesky_solve(np.zeros((2, 3), f32), np.zeros((2, 1), f32))
    with pytest.raises(ValueError, match=r"\[lstsq\] matrix \(4, 2\) and rhs \(3, 1\) disagree"):
        nabi.linalg.lstsq(np.zeros((4, 2), f32), np.zeros((3, 1), f32))
    with pytest.raises(ValueError, match=r"\[lstsq\] .*not positive definite"):
        nabi.linalg.lstsq(np.ones((4, 2), f32), np.ones((4, 1), f32))
    with pytest.raises(ValueError, match=r"\[cross\] .*3 entries.*\(2, 4\)"):
        nabi.linalg.cross(np.zeros((2, 4), f32), np.zeros((2, 4), f32))
    with pytest.raises(ValueError, match=r"\[matvec\] .*b must have 3 entries"):
        nabi.linalg.matvec(np.zeros((2, 3), f32), np.zeros(2, f32))
    with pytest.raises(ValueError, match=r"\[expm\] input must be square .*\(2, 3\)"):
        nabi.linalg.expm(np.zeros((2, 3), f32))
    with pytest.raises(ValueError, match=r"\[pinv\] input must have rank >= 2"):
        nabi.linalg.pinv(np.zeros(3, f32))
