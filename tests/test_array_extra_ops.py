"""tf.dynamic_partition / dynamic_stitch, tf.space_to_batch(_nd) / batch_to_space and
tf.linalg.lu / lu_solve / lu_reconstruct / lu_matrix_inverse / sqrtm
(python/nabi/ops/array_extra_ops.py, linalg_lu.py): forward against loop-by-loop NumPy
references of TF's documented formulas and scipy.linalg (lu_factor, sqrtm), gradients against
float64 central differences of those references, on the CPU and the emulated GPU, float32
and float64, batched; edge cases and argument errors."""
import numpy as np
import pytest
import scipy.linalg

import nabi
from helpers import assert_array, on_device
from reference import numeric_grad

RNG = np.random.default_rng(20261207)


def rand(*shape):
    return RNG.standard_normal(shape)


def tol(dtype):
    return dict(rtol=2e-4, atol=2e-5) if dtype == np.float32 else dict(rtol=1e-9, atol=1e-10)


def check_grad(where, f, f_np, arrays, rtol=1e-5, atol=1e-7, which=None):
    """nabi's gradients of sum(f(*tensors) * c) against central differences of f_np."""
    arrays = [np.asarray(a, np.float64) for a in arrays]
    out_np = np.asarray(f_np(*arrays))
    c = RNG.standard_normal(out_np.shape)
    with nabi.device(where):
        ts = [nabi.constant(a) for a in arrays]
        with nabi.GradientTape() as tape:
            for t in ts:
                tape.watch(t)
            y = f(*ts)
            loss = nabi.reduce_sum(y * c)
        grads = tape.gradient(loss, ts)
    assert_array(y, out_np, rtol=1e-9, atol=1e-10)
    for i, g in enumerate(grads):
        if which is not None and i not in which:
            continue
        assert g is not None, f"no gradient for input {i}"
        on_device(where, g)
        num = numeric_grad(lambda *a: float(np.sum(f_np(*a) * c)), arrays, i)
        np.testing.assert_allclose(g.numpy(), num, rtol=rtol, atol=atol,
                                   err_msg=f"gradient of input {i}")
    return grads


# ---------------------------------------------------------------- references


def ref_partition(data, parts, n):
    flat = data.reshape((parts.size,) + data.shape[parts.ndim:])
    p = parts.reshape(-1)
    return [flat[[j for j in range(p.size) if p[j] == i]] for i in range(n)]


def ref_stitch(indices, data):
    indices = [np.asarray(i) for i in indices]
    data = [np.asarray(d) for d in data]
    rest = data[0].shape[indices[0].ndim:]
    num = max([int(i.max()) + 1 for i in indices if i.size] + [0])
    out = np.zeros((num,) + rest, data[0].dtype)
    for ind, d in zip(indices, data):
        for j in np.ndindex(*ind.shape):
            out[ind[j]] = d[j]                      # in order: the later one wins
    return out


def ref_space_to_batch(x, block, pads):
    """output[off * B + n, i...] = padded[n, i_k * b_k + off_k, ...], off in row-major order."""
    m = len(block)
    padded = np.pad(x, [(0, 0)] + [tuple(p) for p in pads] + [(0, 0)] * (x.ndim - 1 - m))
    B = x.shape[0]
    inner = [padded.shape[1 + k] // block[k] for k in range(m)]
    out = np.zeros((B * int(np.prod(block)),) + tuple(inner) + x.shape[1 + m:], x.dtype)
    for o, off in enumerate(np.ndindex(*block)):
        for n in range(B):
            for i in np.ndindex(*inner):
                src = (n,) + tuple(i[k] * block[k] + off[k] for k in range(m))
                out[(o * B + n,) + i] = padded[src]
    return out


def ref_batch_to_space(x, block, crops):
    m = len(block)
    nb = int(np.prod(block))
    B = x.shape[0] // nb
    full = [x.shape[1 + k] * block[k] for k in range(m)]
    out = np.zeros((B,) + tuple(full) + x.shape[1 + m:], x.dtype)
    for o, off in enumerate(np.ndindex(*block)):
        for n in range(B):
            for i in np.ndindex(*x.shape[1:1 + m]):
                dst = (n,) + tuple(i[k] * block[k] + off[k] for k in range(m))
                out[dst] = x[(o * B + n,) + i]
    sl = (slice(None),) + tuple(slice(c[0], f - c[1]) for c, f in zip(crops, full))
    return out[sl]


def ref_lu(a):
    """(lu, perm) from scipy's LAPACK getrf: perm applies its row swaps in order."""
    a = np.asarray(a)
    n = a.shape[-1]
    flat = a.reshape(-1, n, n)
    lus, perms = [], []
    for m in flat:
        lu, piv = scipy.linalg.lu_factor(m)
        perm = np.arange(n)
        for i, pv in enumerate(piv):
            perm[[i, pv]] = perm[[pv, i]]
        lus.append(lu)
        perms.append(perm)
    return (np.array(lus).reshape(a.shape), np.array(perms).reshape(a.shape[:-1]))


def ref_sqrtm(a):
    n = a.shape[-1]
    return np.array([np.real(scipy.linalg.sqrtm(m)) for m in a.reshape(-1, n, n)]).reshape(a.shape)


# ---------------------------------------------------------------- dynamic_partition


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32])
def test_dynamic_partition_forward(where, dtype):
    data = (rand(3, 4, 2) * 10).astype(dtype)
    parts = np.array([[0, 2, 2, 0], [1, 0, 0, 2], [2, 2, 0, 0]], np.int32)
    with nabi.device(where):
        outs = nabi.dynamic_partition(data, parts, 4)      # partition 3 stays empty
        assert len(outs) == 4
        for o, r in zip(outs, ref_partition(data, parts, 4)):
            on_device(where, o)
            assert_array(o, r, rtol=0, atol=0, dtype=dtype)
        assert outs[3].shape == (0, 2)
        # 1-D partitions of a vector; a scalar partition takes the whole tensor
        v = np.arange(5.0).astype(dtype)
        o = nabi.dynamic_partition(v, [0, 0, 1, 1, 0], 2)
        assert_array(o[0], v[[0, 1, 4]], dtype=dtype)
        assert_array(o[1], v[[2, 3]], dtype=dtype)
        o = nabi.dynamic_partition(v, 1, 2)
        assert o[0].shape == (0, 5) and o[1].shape == (1, 5)


def test_dynamic_partition_gradient(where):
    data = rand(3, 4, 2)
    parts = np.array([[0, 2, 2, 0], [1, 0, 0, 2], [2, 2, 0, 0]], np.int32)
    c = [rand(*r.shape) for r in ref_partition(data, parts, 4)]

    def f(d):
        return nabi.add_n([nabi.reduce_sum(o * ci) for o, ci in
                           zip(nabi.dynamic_partition(d, parts, 4), c)])

    def f_np(d):
        return sum(float(np.sum(r * ci)) for r, ci in zip(ref_partition(d, parts, 4), c))
    check_grad(where, f, f_np, [data])


# ---------------------------------------------------------------- dynamic_stitch


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_dynamic_stitch_forward(where, dtype):
    indices = [np.array(6), np.array([4, 1]), np.array([[5, 2], [0, 3]])]   # TF's docstring
    data = [np.array([61, 62]), np.array([[41, 42], [11, 12]]),
            np.array([[[51, 52], [21, 22]], [[1, 2], [31, 32]]])]
    data = [d.astype(dtype) for d in data]
    with nabi.device(where):
        y = nabi.dynamic_stitch(indices, [nabi.constant(d) for d in data])
        on_device(where, y)
        assert_array(y, ref_stitch(indices, data), rtol=0, atol=0, dtype=dtype)
        assert_array(y, 10 * np.arange(7)[:, None] + [1, 2], rtol=0, atol=0)
        # duplicates: the later index wins; an index no entry names is a zero row
        idx = [np.array([0, 1, 2, 3]), np.array([1, 5])]
        d = [np.array([1, 2, 3, 4]).astype(dtype), np.array([20, 60]).astype(dtype)]
        y = nabi.dynamic_stitch(idx, d)
        assert_array(y, ref_stitch(idx, d), rtol=0, atol=0, dtype=dtype)
        assert_array(y, np.array([1, 20, 3, 4, 0, 60]), rtol=0, atol=0)
        # duplicates inside one tensor: the later position wins too
        y = nabi.dynamic_stitch([[2, 0, 2]], [np.array([1, 2, 3]).astype(dtype)])
        assert_array(y, np.array([2, 0, 3]), rtol=0, atol=0)
        # empty indices: zero rows
        e = nabi.dynamic_stitch([np.zeros((0,), np.int32)], [np.zeros((0, 3), dtype)])
        assert e.shape == (0, 3)


def test_dynamic_stitch_partition_round_trip(where):
    data = rand(6, 3).astype(np.float32)
    parts = np.array([1, 0, 1, 2, 0, 1])
    with nabi.device(where):
        pieces = nabi.dynamic_partition(data, parts, 3)
        conds = nabi.dynamic_partition(np.arange(6, dtype=np.int32), parts, 3)
        assert_array(nabi.dynamic_stitch(conds, pieces), data, rtol=0, atol=0)


def test_dynamic_stitch_gradient(where):
    idx = [np.array([[0, 3], [6, 1]]), np.array([2, 3]), np.array([5])]   # 4 is a gap, 3 twice
    data = [rand(2, 2, 3), rand(2, 3), rand(1, 3)]
    grads = check_grad(where, lambda *d: nabi.dynamic_stitch(idx, list(d)),
                       lambda *d: ref_stitch(idx, d), data)
    # the overwritten entry (index 3 of data[0]) gets no gradient
    np.testing.assert_array_equal(grads[0].numpy()[0, 1], 0.0)


# ---------------------------------------------------------------- space_to_batch / batch_to_space


S2B_CASES = [
    # (input shape, block_shape, paddings)
    ((1, 4, 4, 1), [2, 2], [[0, 0], [0, 0]]),
    ((2, 3, 5, 3), [2, 3], [[1, 0], [0, 1]]),
    ((3, 7, 2), [4], [[0, 1]]),                       # 1 spatial axis, prime size
    ((2, 2, 4, 3, 2), [1, 2, 3], [[0, 0], [1, 1], [0, 0]]),  # 3 spatial axes, block 1
    ((2, 6), [3], [[0, 0]]),                          # no remaining axes
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,block,pads", S2B_CASES)
def test_space_to_batch_forward(where, dtype, shape, block, pads):
    x = rand(*shape).astype(dtype)
    ref = ref_space_to_batch(x, block, pads)
    with nabi.device(where):
        y = nabi.space_to_batch_nd(x, block, pads)
        on_device(where, y)
        assert_array(y, ref, rtol=0, atol=0, dtype=dtype)
        assert_array(nabi.space_to_batch(x, np.array(block), nabi.constant(pads)), ref,
                     rtol=0, atol=0)
        assert_array(nabi.nn.space_to_batch(x, block, pads), ref, rtol=0, atol=0)
        # batch_to_space with the paddings as crops inverts it
        assert_array(nabi.batch_to_space(y, block, pads), x, rtol=0, atol=0, dtype=dtype)


BTS_CASES = [
    ((4, 1, 1, 1), [2, 2], [[0, 0], [0, 0]]),        # TF's docstring example
    ((12, 2, 3, 2), [2, 3], [[1, 2], [0, 3]]),
    ((8, 3, 2), [4], [[2, 3]]),
    ((6, 2, 2, 1, 2), [1, 3, 2], [[0, 0], [0, 1], [1, 1]]),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,block,crops", BTS_CASES)
def test_batch_to_space_forward(where, dtype, shape, block, crops):
    x = rand(*shape).astype(dtype)
    with nabi.device(where):
        y = nabi.batch_to_space(x, block, crops)
        on_device(where, y)
        assert_array(y, ref_batch_to_space(x, block, crops), rtol=0, atol=0, dtype=dtype)
    if shape == (4, 1, 1, 1):
        x = np.array([[[[1]]], [[[2]]], [[[3]]], [[[4]]]], np.float32)
        assert_array(nabi.batch_to_space(x, [2, 2], [[0, 0], [0, 0]]),
                     np.array([[[[1], [2]], [[3], [4]]]], np.float32))


def test_space_batch_gradients(where):
    x = rand(2, 3, 5, 2)
    check_grad(where, lambda x: nabi.space_to_batch_nd(x, [2, 3], [[1, 0], [0, 1]]),
               lambda x: ref_space_to_batch(x, [2, 3], [[1, 0], [0, 1]]), [x])
    y = rand(12, 2, 3, 2)
    check_grad(where, lambda y: nabi.batch_to_space(y, [2, 3], [[1, 2], [0, 3]]),
               lambda y: ref_batch_to_space(y, [2, 3], [[1, 2], [0, 3]]), [y])


def test_space_batch_v1_spellings():
    tf1 = nabi.compat.v1
    x = rand(2, 4, 6, 3).astype(np.float32)
    pads = [[0, 0], [1, 1]]
    with tf1.Graph().as_default():
        ph = tf1.placeholder(tf1.float32, [None, 4, 6, 3])
        y = tf1.space_to_batch(ph, pads, block_size=2)
        z = tf1.batch_to_space(y, crops=pads, block_size=2)
        ynd = tf1.space_to_batch_nd(ph, [2, 2], pads)
        znd = tf1.batch_to_space_nd(ynd, [2, 2], pads)
        with tf1.Session() as s:
            yv, zv, ynv, znv = s.run([y, z, ynd, znd], {ph: x})
    ref = ref_space_to_batch(x, [2, 2], pads)
    assert_array(yv, ref, rtol=0, atol=0)
    assert_array(ynv, ref, rtol=0, atol=0)
    assert_array(zv, x, rtol=0, atol=0)
    assert_array(znv, x, rtol=0, atol=0)


# ---------------------------------------------------------------- LU


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_lu_forward(where, dtype):
    a = rand(2, 3, 5, 5).astype(dtype)
    lu_ref, perm_ref = ref_lu(a)
    with nabi.device(where):
        lu, p = nabi.linalg.lu(a)
        on_device(where, lu)
        assert_array(lu, lu_ref, dtype=dtype, **tol(dtype))
        assert_array(p, perm_ref, rtol=0, atol=0, dtype=np.int32)
        r = nabi.linalg.lu(a, output_idx_type=nabi.int64)
        assert r.p.dtype == nabi.int64 and r.lu is not None
        # input[p] = L @ U
        lo = np.tril(lu.numpy(), -1) + np.eye(5, dtype=dtype)
        up = np.triu(lu.numpy())
        assert_array(np.take_along_axis(a, p.numpy()[..., None], axis=-2), lo @ up,
                     **tol(dtype))
        assert_array(nabi.linalg.lu_reconstruct(lu, p), a, dtype=dtype, **tol(dtype))
        inv = nabi.linalg.lu_matrix_inverse(lu, p)
        assert_array(inv, np.linalg.inv(a.astype(np.float64)), dtype=dtype,
                     rtol=1e-3 if dtype == np.float32 else 1e-8, atol=1e-3 if dtype ==
                     np.float32 else 1e-9)
        b = rand(2, 3, 5, 2).astype(dtype)
        x = nabi.linalg.lu_solve(lu, p, b)
        assert_array(x, np.linalg.solve(a.astype(np.float64), b), dtype=dtype,
                     rtol=1e-3 if dtype == np.float32 else 1e-8, atol=1e-3 if dtype ==
                     np.float32 else 1e-9)
        # one factorization, a batch of right-hand sides (batch dims broadcast)
        x = nabi.linalg.lu_solve(lu[0, 0], p[0, 0], b)
        assert_array(x, np.linalg.solve(a[0, 0].astype(np.float64), b), rtol=1e-3 if
                     dtype == np.float32 else 1e-8, atol=1e-3 if dtype == np.float32 else 1e-9)


@pytest.mark.filterwarnings("ignore::scipy.linalg.LinAlgWarning")
def test_lu_edge_cases(where):
    with nabi.device(where):
        lu, p = nabi.linalg.lu(np.zeros((0, 0)))
        assert lu.shape == (0, 0) and p.shape == (0,)
        lu, p = nabi.linalg.lu(np.array([[3.0]]))
        assert_array(lu, [[3.0]]) and assert_array(p, [0])
        # a singular matrix factors (a zero pivot), as LAPACK's getrf
        s = np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [1.0, 0.0, 1.0]])
        lu, p = nabi.linalg.lu(s)
        lu_ref, perm_ref = ref_lu(s)
        assert_array(lu, lu_ref, rtol=1e-12, atol=1e-12)
        assert_array(p, perm_ref, rtol=0, atol=0)
        assert_array(nabi.linalg.lu_reconstruct(lu, p), s, rtol=1e-12, atol=1e-12)


def test_lu_gradient(where):
    a = rand(2, 4, 4)
    check_grad(where, lambda a: nabi.linalg.lu(a).lu, lambda a: ref_lu(a)[0], [a])


def test_lu_solve_gradients(where):
    a = rand(2, 4, 4) + 2 * np.eye(4)
    lu_ref, perm = ref_lu(a)
    b = rand(2, 4, 3)
    check_grad(where, lambda lu, b: nabi.linalg.lu_solve(lu, perm, b),
               lambda lu, b: np.linalg.solve(
                   np.take_along_axis(
                       0 * lu + (np.tril(lu, -1) + np.eye(4)) @ np.triu(lu),
                       np.argsort(perm)[..., None], axis=-2), b),
               [lu_ref, b], rtol=1e-5, atol=1e-7)
    # the composition through lu: solve(a, b)
    check_grad(where, lambda a, b: nabi.linalg.lu_solve(*nabi.linalg.lu(a), b),
               lambda a, b: np.linalg.solve(a, b), [a, b])
    check_grad(where, lambda a: nabi.linalg.lu_matrix_inverse(*nabi.linalg.lu(a)),
               lambda a: np.linalg.inv(a), [a])
    check_grad(where, lambda a: nabi.linalg.lu_reconstruct(*nabi.linalg.lu(a)),
               lambda a: a, [a])


def test_lu_second_order():
    a = rand(3, 3) + 2 * np.eye(3)
    c = rand(3, 3)
    x = nabi.constant(a)
    with nabi.GradientTape() as t2:
        t2.watch(x)
        with nabi.GradientTape() as t1:
            t1.watch(x)
            loss = nabi.reduce_sum(nabi.linalg.lu(x).lu * c)
        g = t1.gradient(loss, x)
        gg = nabi.reduce_sum(g * g)
    h = t2.gradient(gg, x)

    def g_np(a):
        return numeric_grad(lambda a: float(np.sum(ref_lu(a)[0] * c)), [a], 0, eps=1e-5)
    num = numeric_grad(lambda a: float(np.sum(g_np(a) ** 2)), [a], 0, eps=1e-4)
    np.testing.assert_allclose(h.numpy(), num, rtol=1e-3, atol=1e-4)


# ---------------------------------------------------------------- sqrtm


def well_posed(*batch, n=4):
    """Non-symmetric matrices with eigenvalues in the right half plane (complex pairs too)."""
    return rand(*batch, n, n) / np.sqrt(n) + 2.5 * np.eye(n)  # spectrum in the disk around 2.5


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sqrtm_forward(where, dtype):
    a = well_posed(2, 3, n=5)
    a[0, 0] = np.array([[0, -2.0, 0, 0, 0], [2.0, 0, 0, 0, 0], [0, 0, 1, 5, 0],
                        [0, 0, 0, 1, 0], [0, 0, 0, 0, 9]])  # eigenvalues +-2i, a Jordan block
    a = a.astype(dtype)
    with nabi.device(where):
        s = nabi.linalg.sqrtm(a)
        on_device(where, s)
        assert_array(s, ref_sqrtm(a.astype(np.float64)), dtype=dtype, **tol(dtype))
        assert_array(s.numpy() @ s.numpy(), a, **tol(dtype))
        # symmetric positive semi-definite, singular (an eigenvalue 0)
        v = rand(4, 3)
        psd = v @ v.T
        assert_array(nabi.linalg.sqrtm(psd), ref_sqrtm(psd), rtol=1e-6, atol=1e-6)
        assert_array(nabi.linalg.sqrtm(np.zeros((3, 3))), np.zeros((3, 3)))
        assert nabi.linalg.sqrtm(np.zeros((2, 0, 0))).shape == (2, 0, 0)
        # a negative real eigenvalue: no real principal root (NaN, as TF's real Schur)
        assert np.isnan(nabi.linalg.sqrtm(-np.eye(2)).numpy()).all()


def test_sqrtm_gradient(where):
    a = well_posed(2, n=4)
    check_grad(where, nabi.linalg.sqrtm, ref_sqrtm, [a], rtol=1e-5, atol=1e-7)
    sym = a + np.swapaxes(a, -1, -2)
    check_grad(where, nabi.linalg.sqrtm, ref_sqrtm, [sym], rtol=1e-5, atol=1e-7)
    # a defective matrix (a Jordan block): no eigenvector basis, the Kronecker solve still works
    jordan = np.array([[2.0, 1.0, 0.0], [0.0, 2.0, 1.0], [0.0, 0.0, 2.0]])
    check_grad(where, nabi.linalg.sqrtm, ref_sqrtm, [jordan], rtol=1e-5, atol=1e-7)


def test_sqrtm_gradient_large():
    """N > 24: the Sylvester equation of the gradient is solved through eigenvectors."""
    a = well_posed(n=25)
    check_grad("/CPU:0", nabi.linalg.sqrtm, ref_sqrtm, [a], rtol=1e-5, atol=1e-7)


# ---------------------------------------------------------------- errors


def test_errors():
    from nabi.errors import InvalidArgumentError
    with pytest.raises(InvalidArgumentError, match=r"\[dynamic_partition\].*not in \[0, 2\)"):
        nabi.dynamic_partition([1.0, 2.0, 3.0], [0, 2, 1], 2)
    with pytest.raises(ValueError, match=r"\[dynamic_partition\].*\(2,\).*prefix.*\(3,\)"):
        nabi.dynamic_partition([1.0, 2.0, 3.0], [0, 1], 2)
    with pytest.raises(ValueError, match=r"\[dynamic_partition\] num_partitions"):
        nabi.dynamic_partition([1.0], [0], 0)
    with pytest.raises(TypeError, match=r"\[dynamic_partition\] partitions must be integers"):
        nabi.dynamic_partition([1.0], [0.5], 1)
    with pytest.raises(InvalidArgumentError, match=r"\[dynamic_stitch\].*>= 0"):
        nabi.dynamic_stitch([[0, -1]], [[1.0, 2.0]])
    with pytest.raises(ValueError, match=r"\[dynamic_stitch\] data\[0\] of shape \(3,\)"):
        nabi.dynamic_stitch([[0, 1]], [[1.0, 2.0, 3.0]])
    with pytest.raises(ValueError, match=r"\[dynamic_stitch\] data\[1\].*\(2,\)"):
        nabi.dynamic_stitch([[0], [1]], [[[1.0, 2.0]], [[1.0, 2.0, 3.0]]])
    with pytest.raises(ValueError, match=r"\[dynamic_stitch\].*same length"):
        nabi.dynamic_stitch([[0]], [])
    x = np.zeros((1, 5, 4, 1), np.float32)
    with pytest.raises(ValueError, match=r"\[space_to_batch_nd\].*size 5.*\(1, 5, 4, 1\).*"
                                         r"block_shape\[0\] = 2"):
        nabi.space_to_batch_nd(x, [2, 2], [[0, 0], [0, 0]])
    with pytest.raises(ValueError, match=r"\[space_to_batch_nd\] paddings must have shape "
                                         r"\(2, 2\)"):
        nabi.space_to_batch(x, [2, 2], [[1, 0]])
    with pytest.raises(ValueError, match=r"\[space_to_batch_nd\] paddings must be >= 0"):
        nabi.space_to_batch(x, [2, 2], [[-1, 1], [0, 0]])
    with pytest.raises(ValueError, match=r"\[space_to_batch_nd\] block_shape must be >= 1"):
        nabi.space_to_batch(x, [0, 2], [[0, 0], [0, 0]])
    with pytest.raises(ValueError, match=r"\[space_to_batch_nd\] block_shape must be a 1-D"):
        nabi.space_to_batch(x, 2, [[0, 0]])
    with pytest.raises(ValueError, match=r"\[space_to_batch_nd\] input of shape \(1, 5\)"):
        nabi.space_to_batch(np.zeros((1, 5)), [1, 1], [[0, 0], [0, 0]])
    with pytest.raises(ValueError, match=r"\[batch_to_space\] the batch size 3 .*\(3, 2, 2, 1\)"):
        nabi.batch_to_space(np.zeros((3, 2, 2, 1)), [2, 2], [[0, 0], [0, 0]])
    with pytest.raises(ValueError, match=r"\[batch_to_space\] crops \[3, 2\].*size 4"):
        nabi.batch_to_space(np.zeros((4, 2, 2, 1)), [2, 2], [[3, 2], [0, 0]])
    with pytest.raises(ValueError, match=r"\[space_to_batch\] block_size must be an integer >= 2"):
        nabi.compat.v1.space_to_batch(x, [[0, 0], [0, 0]], block_size=1)
    with pytest.raises(ValueError, match=r"\[lu\] input must be square.*\(2, 3\)"):
        nabi.linalg.lu(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"\[lu\] input must have rank >= 2"):
        nabi.linalg.lu(np.zeros(3))
    with pytest.raises(TypeError, match=r"\[lu\] input must be a float32 or float64"):
        nabi.linalg.lu(np.zeros((2, 2), np.int32))
    with pytest.raises(TypeError, match=r"\[lu\] output_idx_type"):
        nabi.linalg.lu(np.eye(2), output_idx_type=nabi.float32)
    lu, p = nabi.linalg.lu(np.eye(3) + 1)
    with pytest.raises(ValueError, match=r"\[lu_solve\] matrix \(3, 3\) and rhs \(2, 1\)"):
        nabi.linalg.lu_solve(lu, p, np.zeros((2, 1)))
    with pytest.raises(ValueError, match=r"\[lu_solve\] perm must have shape \(\.\.\., 3\)"):
        nabi.linalg.lu_solve(lu, [0, 1], np.zeros((3, 1)))
    with pytest.raises(ValueError, match=r"\[lu_reconstruct\] perm must hold a permutation"):
        nabi.linalg.lu_reconstruct(lu, [0, 0, 1])
    with pytest.raises(ValueError, match=r"\[sqrtm\] input must be square.*\(3, 2\)"):
        nabi.linalg.sqrtm(np.zeros((3, 2)))


# ---------------------------------------------------------------- complex sqrtm, logm


def complex_cases(n=4):
    rot = np.array([[np.cos(3.0), -np.sin(3.0)], [np.sin(3.0), np.cos(3.0)]])
    return [rand(n, n) + 1j * rand(n, n),
            10 * (rand(n, n) + 1j * rand(n, n)),
            np.diag([-1.0, 1j, -1j, 2.0]),         # eigenvalues on the branch cut
            np.kron(np.eye(2), rot),               # a real rotation cast to complex
            np.array([[-2.0, 1, 0, 0], [0, -2, 0, 0], [0, 0, 1e-6, 0], [0, 0, 0, 1e6]])]


@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
def test_sqrtm_logm_complex(dtype):
    cases = complex_cases()
    a = np.stack(cases).astype(dtype)
    rtol = 1e-4 if dtype == np.complex64 else 1e-9
    s = nabi.linalg.sqrtm(a)
    lg = nabi.linalg.logm(a)
    assert s.dtype == nabi.as_dtype(dtype) and lg.dtype == nabi.as_dtype(dtype)
    for i, m in enumerate(a.astype(np.complex128)):
        scale = np.abs(m).max()
        np.testing.assert_allclose(s.numpy()[i], scipy.linalg.sqrtm(m), rtol=rtol,
                                   atol=rtol * np.sqrt(scale), err_msg=f"sqrtm case {i}")
        np.testing.assert_allclose(lg.numpy()[i], scipy.linalg.logm(m), rtol=rtol,
                                   atol=rtol * max(1.0, np.abs(np.log(scale))),
                                   err_msg=f"logm case {i}")
    # batch dims and an empty batch
    b = a.reshape(5, 1, 4, 4)
    np.testing.assert_allclose(nabi.linalg.logm(b).numpy()[:, 0], lg.numpy(), rtol=1e-6,
                               atol=1e-6)
    assert nabi.linalg.logm(np.zeros((0, 3, 3), dtype)).shape == (0, 3, 3)


def test_logm_errors():
    with pytest.raises(TypeError, match=r"\[logm\] input must be a complex64 or complex128 "
                                        r"tensor, got float64 \(2, 2\)"):
        nabi.linalg.logm(np.eye(2))
    with pytest.raises(ValueError, match=r"\[logm\] input must be square.*\(2, 3\)"):
        nabi.linalg.logm(np.zeros((2, 3), np.complex64))
    with pytest.raises(ValueError, match=r"\[logm\] .*singular"):
        nabi.linalg.logm(np.zeros((2, 2), np.complex128))
    with pytest.raises(TypeError, match=r"\[sqrtm\] input must be a float32, float64"):
        nabi.linalg.sqrtm(np.eye(2, dtype=np.int32))


def test_dynamic_partition_stitch_v1_graph():
    tf1 = nabi.compat.v1
    data = rand(5, 2).astype(np.float32)
    parts = np.array([2, 0, 2, 1, 0], np.int32)
    with tf1.Graph().as_default():
        x = tf1.placeholder(tf1.float32, [None, 2])
        p = tf1.placeholder(tf1.int32, [None])
        pieces = tf1.dynamic_partition(x, p, 3)
        idx = tf1.dynamic_partition(tf1.range(tf1.shape(x)[0]), p, 3)
        back = tf1.dynamic_stitch(idx, pieces)
        with tf1.Session() as s:
            out = s.run(pieces + [back], {x: data, p: parts})
    for o, r in zip(out[:3], ref_partition(data, parts, 3)):
        assert_array(o, r, rtol=0, atol=0)
    assert_array(out[3], data, rtol=0, atol=0)
