"""tf.linalg's LU / Cholesky family on GPU tensors (csrc/cuda/linalg_lu.cu, bound in
csrc/bindings/bind_cuda_linalg.cpp, dispatched by python/nabi/ops/linalg_cuda.py):
cholesky, triangular_solve, cholesky_solve, solve, inv, det, slogdet, logdet, lu, lu_solve,
lu_matrix_inverse, lu_reconstruct.

References are independent: NumPy's LAPACK (np.linalg), SciPy (scipy.linalg.lu_factor /
solve_triangular), cofactor expansions for the adjugate, and central finite differences of
those NumPy functions for the gradients. Kernel tests take the `backend` fixture (the real
module -- the host simulator under NABI_TEST_PACKAGE_DIR=build/sim/pkg -- and the emulator);
op tests take conftest's `where` (CPU, emulated GPU, real GPU / simulator), so the GPU path
is held to the same numbers as the CPU one. The copy tests count device-to-host reads
(exactly on the simulator, through DeviceArray.get on the emulator). Shapes are tiny: the
simulator runs one fiber per CUDA thread.
"""
import itertools
import warnings

import numpy as np
import pytest

import nabi
from conftest import read_counter
from nabi import _C

scipy_linalg = pytest.importorskip("scipy.linalg")

cb = _C.cuda_backend
FLOATS = [np.float32, np.float64]
TOL = {np.float32: dict(rtol=2e-4, atol=2e-5), np.float64: dict(rtol=1e-10, atol=1e-11)}


# (the `backend` fixture, the kernel module or its emulator, is conftest.py's)


def _buf(be, a):
    return be.DeviceBuffer.from_numpy(np.array(a, order="C"))


def _np(be, b):
    return b.numpy() if hasattr(b, "numpy") else be.to_numpy(b)


# ---------------------------------------------------------------- references
def ref_lu(a):
    """(packed lu, perm) per matrix from SciPy's getrf: perm from the row swaps ipiv."""
    n = a.shape[-1]
    flat = a.reshape((-1, n, n))
    lus, perms = [], []
    for m in flat:
        with warnings.catch_warnings():   # (singular inputs warn)
            warnings.simplefilter("ignore")
            f, piv = scipy_linalg.lu_factor(m.astype(np.float64), check_finite=False)
        p = np.arange(n)
        for i, j in enumerate(piv):
            p[[i, j]] = p[[j, i]]
        lus.append(f)
        perms.append(p)
    return (np.array(lus).reshape(a.shape), np.array(perms).reshape(a.shape[:-1]))


def ref_adjugate(m):
    """adj(m) by cofactors: adj[j, i] = (-1)^(i+j) det(m without row i, column j)."""
    n = m.shape[0]
    adj = np.zeros_like(m, dtype=np.float64)
    for i, j in itertools.product(range(n), range(n)):
        minor = np.delete(np.delete(m, i, 0), j, 1)
        adj[j, i] = (-1) ** (i + j) * (np.linalg.det(minor) if n > 1 else 1.0)
    return adj


def fd(f, x, eps=1e-6):
    """Central finite differences of the scalar f at x (float64)."""
    x = np.array(x, np.float64)
    g = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[idx] += eps
        xm[idx] -= eps
        g[idx] = (f(xp) - f(xm)) / (2 * eps)
    return g


def well_conditioned(rng, shape, dt=np.float64):
    n = shape[-1]
    return (rng.standard_normal(shape) + 2 * n ** 0.5 * np.eye(n) * 0.5).astype(dt)


def spd(rng, shape, dt=np.float64):
    a = rng.standard_normal(shape)
    return (a @ np.swapaxes(a, -1, -2) + shape[-1] * np.eye(shape[-1])).astype(dt)


# ---------------------------------------------------------------- kernels
@pytest.mark.parametrize("dt", FLOATS)
@pytest.mark.parametrize("pdt", ["int32", "int64"])
def test_lu_factor_kernel_matches_getrf(backend, dt, pdt, rng):
    a = rng.standard_normal((2, 3, 5, 5)).astype(dt)
    lu, p, s, z = backend.lu_factor(_buf(backend, a), pdt)
    rl, rp = ref_lu(a)
    got_p = _np(backend, p)
    assert got_p.dtype == np.dtype(pdt) and got_p.shape == (2, 3, 5)
    np.testing.assert_array_equal(got_p, rp)
    np.testing.assert_allclose(_np(backend, lu), rl, **TOL[dt])
    parity = [np.linalg.det(np.eye(5)[q]) for q in rp.reshape(-1, 5)]
    np.testing.assert_array_equal(_np(backend, s).reshape(-1), parity)
    assert _np(backend, z).tolist() == [[0] * 3] * 2


def test_lu_factor_kernel_pivots_are_getrf_ipiv(backend, rng):
    a = rng.standard_normal((3, 5, 5))
    a[2, :, 1] = 0
    r = backend.lu_factor(_buf(backend, a), "int64", True)
    assert len(r) == 5
    piv = _np(backend, r[4])
    assert piv.dtype == np.int32
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = np.stack([scipy_linalg.lu_factor(m)[1] for m in a])
    np.testing.assert_array_equal(piv, ref)
    assert len(backend.lu_factor(_buf(backend, a))) == 4


def test_lu_factor_kernel_singular_ties_and_sizes(backend):
    # a zero column, an all-zero matrix, a tie (the first largest wins), 1x1 and 0x0
    a = np.array([[[0., 1., 2.], [0., 3., 4.], [0., 5., 7.]],
                  [[0., 0., 0.], [0., 0., 0.], [0., 0., 0.]],
                  [[1., 2., 0.], [-1., 1., 1.], [1., 0., 3.]]])
    lu, p, s, z = backend.lu_factor(_buf(backend, a))
    rl, rp = ref_lu(a)
    np.testing.assert_array_equal(_np(backend, p), rp)
    np.testing.assert_allclose(_np(backend, lu), rl, rtol=1e-14, atol=1e-14)
    assert _np(backend, z).tolist() == [1, 3, 0]
    one = backend.lu_factor(_buf(backend, np.array([[[-2.0]]])))
    assert _np(backend, one[0]).tolist() == [[[-2.0]]] and _np(backend, one[1]).tolist() == [[0]]
    e = backend.lu_factor(_buf(backend, np.zeros((2, 0, 0))))
    assert _np(backend, e[0]).shape == (2, 0, 0) and _np(backend, e[1]).shape == (2, 0)
    assert _np(backend, e[2]).tolist() == [1.0, 1.0]


@pytest.mark.parametrize("dt", FLOATS)
@pytest.mark.parametrize("adjoint", [False, True])
def test_lu_solve_kernel(backend, dt, adjoint, rng):
    a = well_conditioned(rng, (3, 4, 4), dt)
    b = rng.standard_normal((3, 4, 3)).astype(dt)
    lu, p, _, _ = backend.lu_factor(_buf(backend, a))
    op_a = np.swapaxes(a, -1, -2) if adjoint else a
    x = _np(backend, backend.lu_solve(lu, p, _buf(backend, b), adjoint))
    np.testing.assert_allclose(x, np.linalg.solve(op_a.astype(np.float64), b), **TOL[dt])
    inv = _np(backend, backend.lu_solve(lu, p, None, adjoint))
    np.testing.assert_allclose(inv, np.linalg.inv(op_a.astype(np.float64)), **TOL[dt])


@pytest.mark.parametrize("dt", FLOATS)
@pytest.mark.parametrize("lower,adjoint,unit", list(itertools.product([True, False], repeat=3)))
def test_triangular_solve_kernel(backend, dt, lower, adjoint, unit, rng):
    t = well_conditioned(rng, (2, 5, 5), dt)
    b = rng.standard_normal((2, 5, 3)).astype(dt)
    r = backend.triangular_solve(_buf(backend, t), _buf(backend, b), lower, adjoint, unit, True)
    x, z = (_np(backend, v) for v in r)
    ref = np.stack([scipy_linalg.solve_triangular(t[i].astype(np.float64), b[i], lower=lower,
                                                  trans=1 if adjoint else 0,
                                                  unit_diagonal=unit) for i in range(2)])
    np.testing.assert_allclose(x, ref, **TOL[dt])
    assert z.tolist() == [0, 0]
    t[1, 2, 2] = 0
    _, z = backend.triangular_solve(_buf(backend, t), _buf(backend, b), lower, adjoint, unit,
                                    True)
    assert _np(backend, z).tolist() == ([0, 0] if unit else [0, 1])


def test_factor_kernels_larger_matrix(backend, rng):
    # n = 40: more rows than the block's 8 warps and more columns than a warp's 32 lanes
    a = rng.standard_normal((1, 40, 40))
    lu, p, _, _ = backend.lu_factor(_buf(backend, a))
    rl, rp = ref_lu(a)
    np.testing.assert_array_equal(_np(backend, p), rp)
    np.testing.assert_allclose(_np(backend, lu), rl, rtol=1e-9, atol=1e-10)
    s = spd(rng, (1, 40, 40))
    l_, info = backend.cholesky(_buf(backend, s))
    np.testing.assert_allclose(_np(backend, l_), np.linalg.cholesky(s), rtol=1e-10, atol=1e-12)
    assert _np(backend, info).tolist() == [0]


def test_solve_kernels_many_right_hand_sides(backend, rng):
    # k = 600 columns: three blocks of 256 threads along grid.y
    a = well_conditioned(rng, (2, 3, 3))
    b = rng.standard_normal((2, 3, 600))
    lu, p, _, _ = backend.lu_factor(_buf(backend, a))
    for adjoint in (False, True):
        x = _np(backend, backend.lu_solve(lu, p, _buf(backend, b), adjoint))
        op_a = np.swapaxes(a, -1, -2) if adjoint else a
        np.testing.assert_allclose(x, np.linalg.solve(op_a, b), rtol=1e-10, atol=1e-11)
        x = _np(backend, backend.triangular_solve(_buf(backend, a), _buf(backend, b), True,
                                                  adjoint))
        t = np.tril(a)
        np.testing.assert_allclose(x, np.linalg.solve(np.swapaxes(t, -1, -2) if adjoint else t,
                                                      b), rtol=1e-10, atol=1e-11)


@pytest.mark.parametrize("dt", FLOATS)
def test_cholesky_kernel(backend, dt, rng):
    a = spd(rng, (3, 4, 4), dt)
    a_up = a.copy()
    a_up[..., 0, 3] = 99.0          # the upper triangle is not read
    l_, info = backend.cholesky(_buf(backend, a_up))
    np.testing.assert_allclose(_np(backend, l_), np.linalg.cholesky(a.astype(np.float64)),
                               **TOL[dt])
    assert _np(backend, info).tolist() == [0, 0, 0]
    bad = a.copy()
    bad[1] = -np.eye(4)
    bad[2, 2, 2] = np.nan
    assert _np(backend, backend.cholesky(_buf(backend, bad))[1]).tolist() == [0, 1, 3]


@pytest.mark.parametrize("dt", FLOATS)
def test_det_slogdet_adjugate_kernels(backend, dt, rng):
    a = rng.standard_normal((4, 4, 4))
    a[1, 3] = a[1, 0] + a[1, 2]                       # rank 3: adjugate rank 1
    a[2, :, 1] = 0                                    # a zero column
    a[3, 2:] = 0                                      # rank 2: adjugate 0
    a[3, 2, 3] = a[3, 3, 2] = 0
    a = a.astype(dt)
    lu, p, s, _ = backend.lu_factor(_buf(backend, a))
    d = _np(backend, backend.lu_det(lu, s))
    np.testing.assert_allclose(d, np.linalg.det(a.astype(np.float64)), **TOL[dt])
    sg, la = (_np(backend, v) for v in backend.lu_slogdet(lu, s))
    rs, rla = np.linalg.slogdet(a.astype(np.float64))
    np.testing.assert_array_equal(sg[[0, 3]], rs[[0, 3]])
    np.testing.assert_allclose(la[0], rla[0], **TOL[dt])
    assert np.isneginf(la[3]) and sg[3] == 0
    adj_t = _np(backend, backend.lu_adjugate_t(lu, p, s))
    ref = np.stack([ref_adjugate(m.astype(np.float64)).T for m in a])
    scale = np.abs(ref).max()
    np.testing.assert_allclose(adj_t, ref, rtol=TOL[dt]["rtol"] * 50,
                               atol=TOL[dt]["rtol"] * 50 * scale)


def test_perm_inverse_and_permute_rows_kernels(backend, rng):
    p = np.array([[2, 0, 1], [0, 1, 2]], np.int64)
    inv, bad = backend.perm_inverse(_buf(backend, p))
    assert _np(backend, inv).tolist() == [[1, 2, 0], [0, 1, 2]] and int(_np(backend, bad)) == 0
    for q in ([[0, 0, 1]], [[0, 3, 1]], [[-1, 0, 1]]):
        assert int(_np(backend, backend.perm_inverse(_buf(backend, np.array(q, np.int32)))[1]))
    x = rng.standard_normal((2, 3, 4))
    y = _np(backend, backend.permute_rows(_buf(backend, x), _buf(backend, p)))
    np.testing.assert_array_equal(y, np.take_along_axis(x, p[..., None], 1))
    back = _np(backend, backend.permute_rows(_buf(backend, y), _buf(backend, p), True))
    np.testing.assert_array_equal(back, x)


def test_linalg_kernels_reject_bad_arguments(backend):
    f = _buf(backend, np.ones((2, 3, 3), np.float32))
    with pytest.raises(TypeError, match=r"\[lu_factor\] a must be float32 or float64"):
        backend.lu_factor(_buf(backend, np.ones((3, 3), np.int32)))
    with pytest.raises(ValueError, match=r"\[cholesky\] a must be square"):
        backend.cholesky(_buf(backend, np.ones((3, 2), np.float32)))
    with pytest.raises(TypeError, match=r"\[lu_factor\] perm_dtype must be int32 or int64"):
        backend.lu_factor(f, "float32")
    lu, p, s, _ = backend.lu_factor(f)
    with pytest.raises(ValueError, match=r"\[lu_solve\] b must have shape"):
        backend.lu_solve(lu, p, _buf(backend, np.ones((2, 4, 1), np.float32)))
    with pytest.raises(TypeError, match=r"\[lu_solve\] lu and b dtypes differ"):
        backend.lu_solve(lu, p, _buf(backend, np.ones((2, 3, 1), np.float64)))
    with pytest.raises(ValueError, match=r"\[lu_solve\] perm must have shape"):
        backend.lu_solve(lu, _buf(backend, np.zeros((3,), np.int32)))
    with pytest.raises(ValueError, match=r"\[triangular_solve\] b must have shape"):
        backend.triangular_solve(f, _buf(backend, np.ones((1, 3, 2), np.float32)))
    with pytest.raises(ValueError, match=r"\[lu_det\] sign must have shape"):
        backend.lu_det(lu, _buf(backend, np.ones((3,), np.float32)))
    with pytest.raises(ValueError, match=r"\[permute_rows\] x must be \(\.\.\., n, k\)"):
        backend.permute_rows(f, _buf(backend, np.zeros((2, 2), np.int32)))


# ---------------------------------------------------------------- ops on every device
L = nabi.linalg


@pytest.mark.parametrize("dt", FLOATS)
def test_forward_ops(where, dt, rng):
    a = well_conditioned(rng, (2, 4, 4), dt)
    b = rng.standard_normal((2, 4, 3)).astype(dt)
    s = spd(rng, (2, 4, 4), dt)
    a64, s64 = a.astype(np.float64), s.astype(np.float64)
    tol = TOL[dt]
    with nabi.device(where):
        A, B, S = nabi.constant(a), nabi.constant(b), nabi.constant(s)
        np.testing.assert_allclose(L.solve(A, B).numpy(), np.linalg.solve(a64, b), **tol)
        np.testing.assert_allclose(L.solve(A, B, adjoint=True).numpy(),
                                   np.linalg.solve(np.swapaxes(a64, -1, -2), b), **tol)
        # broadcasting batch dimensions: one matrix, two right-hand sides
        np.testing.assert_allclose(L.solve(A[0], B).numpy(), np.linalg.solve(a64[0], b), **tol)
        np.testing.assert_allclose(L.inv(A).numpy(), np.linalg.inv(a64), **tol)
        np.testing.assert_allclose(L.inv(A, adjoint=True).numpy(),
                                   np.linalg.inv(np.swapaxes(a64, -1, -2)), **tol)
        np.testing.assert_allclose(L.det(A).numpy(), np.linalg.det(a64), **tol)
        sg, la = L.slogdet(A)
        rs, rla = np.linalg.slogdet(a64)
        np.testing.assert_array_equal(sg.numpy(), rs)
        np.testing.assert_allclose(la.numpy(), rla, **tol)
        np.testing.assert_allclose(L.cholesky(S).numpy(), np.linalg.cholesky(s64), **tol)
        np.testing.assert_allclose(L.logdet(S).numpy(), np.linalg.slogdet(s64)[1], **tol)
        np.testing.assert_allclose(L.cholesky_solve(L.cholesky(S), B).numpy(),
                                   np.linalg.solve(s64, b), **tol)
        for lower, adj in itertools.product([True, False], repeat=2):
            t = np.tril(a64) if lower else np.triu(a64)
            ref = np.linalg.solve(np.swapaxes(t, -1, -2) if adj else t, b)
            np.testing.assert_allclose(
                L.triangular_solve(A, B, lower=lower, adjoint=adj).numpy(), ref, **tol)
        lu, p = L.lu(A)
        rl, rp = ref_lu(a)
        assert p.dtype == nabi.int32
        np.testing.assert_array_equal(p.numpy(), rp)
        np.testing.assert_allclose(lu.numpy(), rl, **tol)
        assert L.lu(A, output_idx_type=nabi.int64).p.dtype == nabi.int64
        np.testing.assert_allclose(L.lu_solve(lu, p, B).numpy(), np.linalg.solve(a64, b), **tol)
        np.testing.assert_allclose(L.lu_matrix_inverse(lu, p).numpy(), np.linalg.inv(a64),
                                   **tol)
        np.testing.assert_allclose(L.lu_reconstruct(lu, p).numpy(), a64, **tol)


@pytest.mark.parametrize("dt", FLOATS)
def test_lu_equals_the_cpu_path_bit_for_bit(gpu, dt, rng):
    # the kernel rounds each update as the host path's NumPy elimination (no fused
    # multiply-add), so factors and pivots agree exactly, ties and zero columns included
    a = rng.standard_normal((3, 6, 6)).astype(dt)
    a[1] = rng.integers(-2, 3, (6, 6))
    a[2, :, 2] = 0
    with nabi.device("/CPU:0"):
        lu_c, p_c = (t.numpy() for t in L.lu(nabi.constant(a)))
    with nabi.device("/GPU:0"):
        lu_g, p_g = (t.numpy() for t in L.lu(nabi.constant(a)))
    np.testing.assert_array_equal(p_g, p_c)
    np.testing.assert_array_equal(lu_g, lu_c)


def test_singular_and_non_pd_inputs_raise_as_on_the_cpu(where):
    sing = np.array([[1.0, 2.0], [2.0, 4.0]])
    with nabi.device(where):
        S = nabi.constant(sing)
        with pytest.raises(ValueError, match=r"\[solve\] .*not invertible"):
            L.solve(S, nabi.constant(np.ones((2, 1))))
        with pytest.raises(ValueError, match=r"\[inv\] .*not invertible"):
            L.inv(S)
        with pytest.raises(ValueError, match=r"\[triangular_solve\] .*not invertible"):
            L.triangular_solve(nabi.constant(np.array([[1.0, 0.0], [3.0, 0.0]])),
                               nabi.constant(np.ones((2, 1))))
        with pytest.raises(ValueError, match=r"\[cholesky\] Cholesky decomposition failed"):
            L.cholesky(nabi.constant(np.array([[1.0, 2.0], [2.0, 1.0]])))
        with pytest.raises(ValueError, match=r"\[logdet\] Cholesky decomposition failed"):
            L.logdet(nabi.constant(-np.eye(2)))
        assert L.det(S).numpy() == 0.0
        sg, la = L.slogdet(S)
        assert sg.numpy() == 0.0 and np.isneginf(la.numpy())
        lu, p = L.lu(S)
        np.testing.assert_array_equal(p.numpy(), [1, 0])
        np.testing.assert_allclose(lu.numpy(), [[2.0, 4.0], [0.5, 0.0]])
        with pytest.raises(ValueError, match=r"\[lu_solve\] perm must hold a permutation"):
            L.lu_solve(lu, nabi.constant(np.array([0, 0], np.int32)),
                       nabi.constant(np.ones((2, 1))))
        with pytest.raises(ValueError, match=r"\[lu_reconstruct\] perm must have shape"):
            L.lu_reconstruct(lu, nabi.constant(np.array([0, 1, 2], np.int32)))


def _grad(where, f, *arrays):
    with nabi.device(where):
        ts = [nabi.constant(a) for a in arrays]
        with nabi.GradientTape() as tape:
            for t in ts:
                tape.watch(t)
            y = f(*ts)
        gs = tape.gradient(y, ts)
    return [g.numpy() for g in gs]


def _sym(a):
    return 0.5 * (a + np.swapaxes(a, -1, -2))


def test_gradients_vs_finite_differences(where, rng):
    n = 3
    a = well_conditioned(rng, (2, n, n))
    b = rng.standard_normal((2, n, 2))
    s = spd(rng, (n, n))
    w = rng.standard_normal((2, n, n))
    wb = rng.standard_normal((2, n, 2))
    tol = dict(rtol=1e-5, atol=1e-6)

    ga, gb = _grad(where, lambda A, B: nabi.reduce_sum(L.solve(A, B) * wb), a, b)
    np.testing.assert_allclose(ga, fd(lambda x: (np.linalg.solve(x, b) * wb).sum(), a), **tol)
    np.testing.assert_allclose(gb, fd(lambda x: (np.linalg.solve(a, x) * wb).sum(), b), **tol)
    ga, gb = _grad(where, lambda A, B: nabi.reduce_sum(L.solve(A, B, adjoint=True) * wb), a, b)
    np.testing.assert_allclose(
        ga, fd(lambda x: (np.linalg.solve(np.swapaxes(x, -1, -2), b) * wb).sum(), a), **tol)
    for lower, adj in itertools.product([True, False], repeat=2):
        tri = np.tril if lower else np.triu

        def ref(x, y):
            t = tri(x)
            return (np.linalg.solve(np.swapaxes(t, -1, -2) if adj else t, y) * wb).sum()
        ga, gb = _grad(where, lambda A, B: nabi.reduce_sum(
            L.triangular_solve(A, B, lower=lower, adjoint=adj) * wb), a, b)
        np.testing.assert_allclose(ga, fd(lambda x: ref(x, b), a), **tol)
        np.testing.assert_allclose(gb, fd(lambda y: ref(a, y), b), **tol)
    (g,) = _grad(where, lambda A: nabi.reduce_sum(L.inv(A) * w), a)
    np.testing.assert_allclose(g, fd(lambda x: (np.linalg.inv(x) * w).sum(), a), **tol)
    (g,) = _grad(where, lambda A: nabi.reduce_sum(L.inv(A, adjoint=True) * w), a)
    np.testing.assert_allclose(
        g, fd(lambda x: (np.linalg.inv(np.swapaxes(x, -1, -2)) * w).sum(), a), **tol)
    (g,) = _grad(where, lambda A: nabi.reduce_sum(L.det(A) * np.array([1.5, -0.5])), a)
    np.testing.assert_allclose(g, fd(lambda x: (np.linalg.det(x) * [1.5, -0.5]).sum(), a), **tol)
    (g,) = _grad(where, lambda A: nabi.reduce_sum(L.slogdet(A)[1]), a)
    np.testing.assert_allclose(g, fd(lambda x: np.linalg.slogdet(x)[1].sum(), a), **tol)
    # cholesky / logdet read the lower triangle; their gradients are TF's symmetric ones, the
    # derivative of f((A + A^T) / 2)
    (g,) = _grad(where, lambda S: nabi.reduce_sum(L.cholesky(S) * w[0]), s)
    np.testing.assert_allclose(g, fd(lambda x: (np.linalg.cholesky(_sym(x)) * w[0]).sum(), s),
                               **tol)
    (g,) = _grad(where, lambda S: L.logdet(S), s)
    np.testing.assert_allclose(g, fd(lambda x: np.linalg.slogdet(_sym(x))[1], s), **tol)
    (g,) = _grad(where, lambda S, B: nabi.reduce_sum(L.cholesky_solve(L.cholesky(S), B) *
                                                     wb[0]), s, b[0])[:1]
    np.testing.assert_allclose(
        g, fd(lambda x: (np.linalg.solve(_sym(x), b[0]) * wb[0]).sum(), s), **tol)


def test_lu_family_gradients_vs_finite_differences(where, rng):
    n = 3
    a = well_conditioned(rng, (2, n, n))
    b = rng.standard_normal((2, n, 2))
    w = rng.standard_normal((2, n, n))
    wb = rng.standard_normal((2, n, 2))
    tol = dict(rtol=1e-5, atol=1e-6)
    _, perm = ref_lu(a)

    (g,) = _grad(where, lambda A: nabi.reduce_sum(L.lu(A).lu * w), a)
    np.testing.assert_allclose(g, fd(lambda x: (ref_lu(x)[0] * w).sum(), a), **tol)

    def unpack(f):
        low = np.tril(f, -1) + np.eye(n)
        return low, np.triu(f)

    def a_of(f):  # the matrix with rows perm: a[perm] = L U
        low, up = unpack(f)
        out = np.empty_like(f)
        np.put_along_axis(out, np.broadcast_to(perm[..., None], f.shape), low @ up, axis=-2)
        return out

    f0 = ref_lu(a)[0]
    with nabi.device(where):
        p_t = nabi.constant(perm.astype(np.int32))
        lu_solve = lambda F, B: nabi.reduce_sum(L.lu_solve(F, p_t, B) * wb)   # noqa: E731
        gf, gb = _grad(where, lu_solve, f0, b)
        (gi,) = _grad(where, lambda F: nabi.reduce_sum(L.lu_matrix_inverse(F, p_t) * w), f0)
        (gr,) = _grad(where, lambda F: nabi.reduce_sum(L.lu_reconstruct(F, p_t) * w), f0)
    np.testing.assert_allclose(gf, fd(lambda f: (np.linalg.solve(a_of(f), b) * wb).sum(), f0),
                               **tol)
    np.testing.assert_allclose(gb, fd(lambda y: (np.linalg.solve(a, y) * wb).sum(), b), **tol)
    np.testing.assert_allclose(gi, fd(lambda f: (np.linalg.inv(a_of(f)) * w).sum(), f0), **tol)
    np.testing.assert_allclose(gr, fd(lambda f: (a_of(f) * w).sum(), f0), **tol)


def test_det_gradient_of_singular_matrices_is_the_adjugate(where):
    a = np.array([[[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [1.0, 0.0, 1.0]],      # rank 2
                  [[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [3.0, 6.0, 9.0]]])     # rank 1
    (g,) = _grad(where, lambda A: nabi.reduce_sum(L.det(A)), a)
    np.testing.assert_allclose(g, np.stack([ref_adjugate(m).T for m in a]), atol=1e-12)


def test_singular_gradients_raise_as_on_the_cpu(where):
    sing = np.array([[1.0, 2.0], [2.0, 4.0]])
    with pytest.raises(ValueError, match=r"\[slogdet\] the gradient of log\|det\| is undefined"):
        _grad(where, lambda A: L.slogdet(A)[1], sing)
    with pytest.raises(ValueError, match=r"\[lu\] the gradient is undefined for a singular"):
        _grad(where, lambda A: nabi.reduce_sum(L.lu(A).lu), sing)


def test_second_order_on_every_device(where, rng):
    a = well_conditioned(rng, (3, 3))
    with nabi.device(where):
        A = nabi.constant(a)
        with nabi.GradientTape() as outer:
            outer.watch(A)
            with nabi.GradientTape() as inner:
                inner.watch(A)
                y = nabi.reduce_sum(L.inv(A)) + L.slogdet(A)[1]
            g = inner.gradient(y, A)
            z = nabi.reduce_sum(g * g)
        h = outer.gradient(z, A).numpy()

    def ref(x):
        inv = np.linalg.inv(x)
        g_ = -inv.T @ np.ones((3, 3)) @ inv.T + inv.T
        return (g_ * g_).sum()
    np.testing.assert_allclose(h, fd(ref, a), rtol=1e-5, atol=1e-6)


def _hessian_norm(where, f, a):
    """d/dA sum(grad_A(f)^2) with nested tapes."""
    with nabi.device(where):
        A = nabi.constant(a)
        with nabi.GradientTape() as outer:
            outer.watch(A)
            with nabi.GradientTape() as inner:
                inner.watch(A)
                y = f(A)
            g = inner.gradient(y, A)
            z = nabi.reduce_sum(g * g)
        return outer.gradient(z, A).numpy()


def test_second_order_solve_det_lu_solve(where, rng):
    a = well_conditioned(rng, (3, 3))
    b = rng.standard_normal((3, 2))

    def solve_grad(x):     # d sum(X^2) / dA = -(A^-T 2X) X^T
        xs = np.linalg.solve(x, b)
        return -np.linalg.solve(x.T, 2 * xs) @ xs.T

    def det_grad(x):
        return np.linalg.det(x) * np.linalg.inv(x).T
    with nabi.device(where):
        B = nabi.constant(b)
    h = _hessian_norm(where, lambda A: nabi.reduce_sum(L.solve(A, B) ** 2), a)
    np.testing.assert_allclose(h, fd(lambda x: (solve_grad(x) ** 2).sum(), a), rtol=1e-5,
                               atol=1e-6)
    h = _hessian_norm(where, lambda A: nabi.reduce_sum(L.lu_solve(*L.lu(A), B) ** 2), a)
    np.testing.assert_allclose(h, fd(lambda x: (solve_grad(x) ** 2).sum(), a), rtol=1e-5,
                               atol=1e-6)
    h = _hessian_norm(where, L.det, a)
    np.testing.assert_allclose(h, fd(lambda x: (det_grad(x) ** 2).sum(), a), rtol=1e-5,
                               atol=1e-6)


# ---------------------------------------------------------------- no copy to the host
# (the d2h fixture, the read-back counter, is conftest.py's: f -> (reads, launches))


def test_ops_and_gradients_stay_on_the_device(d2h, rng):
    a = well_conditioned(rng, (2, 3, 3))
    b = rng.standard_normal((2, 3, 2))
    s = spd(rng, (2, 3, 3))
    with nabi.device("/GPU:0"):
        A, B, S = nabi.constant(a), nabi.constant(b), nabi.constant(s)
        lu, p = L.lu(A)
        # (forward reads, gradient reads): one int32 scalar where the CPU path raises on the
        # values (singular / not positive definite / not a permutation), none otherwise
        cases = {
            "det": (lambda: L.det(A), 0, 0),
            "slogdet": (lambda: L.slogdet(A)[1], 0, 1),
            "cholesky": (lambda: L.cholesky(S), 1, 0),
            "logdet": (lambda: L.logdet(S), 1, 0),
            "solve": (lambda: L.solve(A, B), 1, 0),
            "inv": (lambda: L.inv(A), 1, 0),
            "triangular_solve": (lambda: L.triangular_solve(A, B), 1, 0),
            "cholesky_solve": (lambda: L.cholesky_solve(S, B), 2, 0),
            "lu": (lambda: L.lu(A).lu, 0, 1),
            "lu_solve": (lambda: L.lu_solve(lu, p, B), 2, 0),
            "lu_matrix_inverse": (lambda: L.lu_matrix_inverse(lu, p), 2, 0),
            "lu_reconstruct": (lambda: L.lu_reconstruct(lu, p), 1, 0),
        }
        for name, (f, fwd, bwd) in cases.items():
            assert d2h(f)[0] == fwd, name
            with nabi.GradientTape() as tape:
                for t in (A, B, S, lu):
                    tape.watch(t)
                y = nabi.reduce_sum(f())
            grads = []
            assert d2h(lambda: grads.extend(tape.gradient(y, [A, B, S, lu])))[0] == bwd, name
            assert all(type(g._data).__name__ == "DeviceArray" for g in grads if g is not None)


def test_host_values_in_a_gpu_scope_use_the_kernels(d2h, rng):
    a = well_conditioned(rng, (3, 3))
    with nabi.device("/GPU:0"):
        for f in (L.inv, L.det, lambda v: L.slogdet(v)[1]):
            r = f(a)
            assert type(r._data).__name__ == "DeviceArray"
        lu, p = L.lu(a)
        np.testing.assert_array_equal(p.numpy(), ref_lu(a)[1])
        np.testing.assert_allclose(L.lu_reconstruct(lu.numpy(), p.numpy()).numpy(), a,
                                   rtol=1e-12)
        assert d2h(lambda: L.det(a))[0] == 0          # (no copy back and forth)
        with pytest.raises(TypeError, match=r"\[inv\] input must be a floating-point"):
            L.inv(np.eye(2, dtype=np.int32))


def test_lstsq_fast_uses_the_gpu_cholesky(where, d2h_or_none, rng):
    a = rng.standard_normal((2, 5, 3))
    b = rng.standard_normal((2, 5, 2))
    with nabi.device(where):
        A, B = nabi.constant(a), nabi.constant(b)
        ref = np.stack([np.linalg.lstsq(a[i], b[i], rcond=None)[0] for i in range(2)])
        np.testing.assert_allclose(L.lstsq(A, B).numpy(), ref, rtol=1e-9, atol=1e-11)
        wide = np.swapaxes(a, -1, -2)                  # M < N: the minimum-norm solution
        ref = np.stack([np.linalg.lstsq(wide[i], b[i, :3], rcond=None)[0] for i in range(2)])
        np.testing.assert_allclose(L.lstsq(nabi.constant(wide), B[:, :3]).numpy(), ref,
                                   rtol=1e-9, atol=1e-11)
        with pytest.raises(ValueError, match=r"\[lstsq\] the normal equations .* not positive"):
            L.lstsq(nabi.constant(np.zeros((4, 2))), nabi.constant(np.ones((4, 1))))
        if d2h_or_none is not None and where == "/GPU:0":
            # the Cholesky's flag, then cholesky_solve's two triangular checks
            assert d2h_or_none(lambda: L.lstsq(A, B)) == 3


@pytest.fixture
def d2h_or_none(request, monkeypatch):
    """The read-back count of f() on the emulated GPU / the simulator (conftest's
    read_counter), None on the CPU or a real GPU."""
    if "where" in request.fixturenames and request.getfixturevalue("where") == "/CPU:0":
        return None
    from nabi.framework import device as dev
    run = read_counter("emu" if dev.emulated() else "cuda", monkeypatch)
    return None if run is None else (lambda f: run(f)[0])


def test_keras_lu_factor_on_the_gpu(where, rng):
    from nabi.keras import ops
    a = rng.standard_normal((2, 4, 4))
    with nabi.device(where):
        lu, piv = ops.lu_factor(nabi.constant(a))
        assert type(lu._data) is type(nabi.constant(a)._data)   # stays on the input's device
        ref = [scipy_linalg.lu_factor(m) for m in a]
        np.testing.assert_allclose(lu.numpy(), np.stack([r[0] for r in ref]), rtol=1e-12,
                                   atol=1e-13)
        np.testing.assert_array_equal(piv.numpy(), np.stack([r[1] for r in ref]))
        assert piv.dtype == nabi.int32
