"""nabi._C.cuda_backend: the CUDA kernels against NumPy references and against nabi._C's CPU
kernels, plus the build/availability contract that holds on every machine.

Tests marked `gpu` need a CUDA GPU and SKIP with a visible reason without one; the others run
everywhere (a CUDA-OFF build, a CUDA-ON build on a machine without a driver, or a GPU box).
"""
import math

import numpy as np
import pytest

import nabi
from nabi import _C

cb = _C.cuda_backend
HAS_GPU = bool(cb.is_available())
gpu = pytest.mark.skipif(not HAS_GPU, reason="no CUDA GPU available (" +
                         cb.unavailable_reason() + ")")
cuda_build = pytest.mark.skipif(not cb.built_with_cuda, reason="nabi built without CUDA")
DTYPES = [np.float32, np.float64]


def rng(seed=0):
    return np.random.default_rng(seed)


def dev(a):
    return cb.DeviceBuffer.from_numpy(np.ascontiguousarray(a))


def tol(dtype):
    return dict(rtol=1e-4, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-12)


# ======================================================================================
# Build / availability contract (runs everywhere)
# ======================================================================================
def test_submodule_exists_with_every_entry_point():
    for name in ["DeviceBuffer", "is_available", "device_count", "device_name",
                 "memory_allocated", "memory_reserved", "empty_cache", "synchronize"]:
        assert hasattr(cb, name), name
    assert len(cb.KERNEL_ENTRIES) >= 20
    for name in cb.KERNEL_ENTRIES:
        assert callable(getattr(cb, name)), name


def test_build_flags_agree():
    assert cb.built_with_cuda == bool(_C.built_with_cuda)
    assert nabi.test.is_built_with_cuda() == bool(cb.built_with_cuda)
    assert cb.is_available() == (cb.device_count() > 0)
    assert isinstance(cb.device_count(), int)


@pytest.mark.skipif(HAS_GPU, reason="a CUDA GPU is present")
def test_no_gpu_reports_cleanly():
    assert cb.is_available() is False
    assert cb.device_count() == 0
    assert cb.memory_allocated() == 0 and cb.memory_reserved() == 0
    cb.synchronize()   # no-ops, never crash
    cb.empty_cache()
    assert cb.unavailable_reason()
    for make in (lambda: cb.DeviceBuffer.from_numpy(np.zeros((2, 3), np.float32)),
                 lambda: cb.DeviceBuffer.zeros([4]), lambda: cb.DeviceBuffer.empty([4], "float64")):
        with pytest.raises(RuntimeError, match=r"^\[DeviceBuffer\]"):
            make()
    # Still importable and usable as a CPU library.
    assert _C.matmul(np.eye(2, dtype=np.float32), np.eye(2, dtype=np.float32)).shape == (2, 2)


@pytest.mark.skipif(bool(cb.built_with_cuda), reason="nabi built with CUDA")
@pytest.mark.parametrize("name", list(cb.KERNEL_ENTRIES))
def test_kernel_entries_raise_without_cuda(name):
    with pytest.raises(RuntimeError, match=r"^\[" + name + r"\] has no CUDA implementation in "
                       r"this build \(built without CUDA\)$"):
        getattr(cb, name)(None, None)


@cuda_build
@pytest.mark.skipif(HAS_GPU, reason="a CUDA GPU is present")
def test_cuda_build_without_driver_names_the_reason():
    with pytest.raises(RuntimeError, match="no CUDA GPU is available"):
        cb.DeviceBuffer.from_numpy(np.ones(3, np.float32))


@cuda_build
def test_allocator_size_classes():
    assert cb._size_class(1) == 512 and cb._size_class(512) == 512
    assert cb._size_class(513) == 640
    for n in [1000, 4097, 65537, 10**6, 123456789]:
        c = cb._size_class(n)
        assert n <= c <= 1.25 * n + 512
        assert cb._size_class(c) == c          # classes are fixed points


# ---- Philox 4x32-10: an independent NumPy implementation ------------------------------
_M32 = np.uint64(0xFFFFFFFF)


def philox4x32_10(ctr, key):
    """ctr: 4 uint32 arrays (or ints), key: 2 ints -> 4 uint32 arrays."""
    c = [np.asarray(v, np.uint64) for v in ctr]
    k0, k1 = np.uint64(key[0]), np.uint64(key[1])
    m0, m1 = np.uint64(0xD2511F53), np.uint64(0xCD9E8D57)
    for r in range(10):
        if r:
            k0 = (k0 + np.uint64(0x9E3779B9)) & _M32
            k1 = (k1 + np.uint64(0xBB67AE85)) & _M32
        p0, p1 = m0 * c[0], m1 * c[2]
        c = [(p1 >> np.uint64(32)) ^ c[1] ^ k0, p1 & _M32, (p0 >> np.uint64(32)) ^ c[3] ^ k1,
             p0 & _M32]
    return [v.astype(np.uint32) for v in c]


# Known-answer vectors of Random123 (kat_vectors, philox4x32 10 rounds).
KAT = [
    ([0, 0, 0, 0], [0, 0], [0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8]),
    ([0xFFFFFFFF] * 4, [0xFFFFFFFF] * 2, [0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD]),
    ([0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344], [0xA4093822, 0x299F31D0],
     [0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1]),
]


@pytest.mark.parametrize("ctr,key,want", KAT)
def test_numpy_philox_reference_matches_known_answers(ctr, key, want):
    assert [int(v) for v in philox4x32_10(ctr, key)] == want


@cuda_build
@pytest.mark.parametrize("ctr,key,want", KAT)
def test_kernel_philox_matches_known_answers(ctr, key, want):
    assert list(cb._philox4x32_10(ctr, key)) == want


def philox_uniform(n, seed, offset):
    """The kernels' stream: element i is word i%4 of block i//4, u = (w >> 8) * 2^-24."""
    q = np.arange((n + 3) // 4, dtype=np.uint64)
    words = philox4x32_10([q & _M32, q >> np.uint64(32), offset & 0xFFFFFFFF, offset >> 32],
                          [seed & 0xFFFFFFFF, seed >> 32])
    w = np.stack(words, axis=1).reshape(-1)[:n]
    return (w >> np.uint32(8)).astype(np.float32) * np.float32(2.0 ** -24)


def ref_dropout(x, rate, seed, offset):
    u = philox_uniform(x.size, seed, offset).reshape(x.shape)
    scale = x.dtype.type(1.0 / (1.0 - rate))
    return np.where(u >= np.float32(rate), x * scale, x.dtype.type(0))


# ======================================================================================
# GEMM
# ======================================================================================
GEMM_SIZES = [(1, 1, 1), (7, 13, 5), (63, 65, 129), (257, 263, 511), (1024, 1024, 1024)]
TRANS = [(False, False), (False, True), (True, False), (True, True)]


def operands(M, N, K, ta, tb, dtype, seed=0):
    r = rng(seed)
    a = r.standard_normal((K, M) if ta else (M, K)).astype(dtype)
    b = r.standard_normal((N, K) if tb else (K, N)).astype(dtype)
    ref = (a.T if ta else a).astype(np.float64) @ (b.T if tb else b).astype(np.float64)
    return a, b, ref


def gemm_tol(K, dtype):
    if dtype == np.float32:
        return dict(rtol=1e-4, atol=1e-4 * math.sqrt(K))
    return dict(rtol=1e-11, atol=1e-11 * math.sqrt(K))


@gpu
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ta,tb", TRANS)
@pytest.mark.parametrize("M,N,K", GEMM_SIZES)
def test_matmul_vs_numpy(M, N, K, ta, tb, dtype):
    a, b, ref = operands(M, N, K, ta, tb, dtype)
    c = cb.matmul(dev(a), dev(b), ta, tb)
    assert c.shape == (M, N) and c.dtype == np.dtype(dtype).name
    np.testing.assert_allclose(c.numpy(), ref, **gemm_tol(K, dtype))


@gpu
@pytest.mark.parametrize("ta,tb", TRANS)
@pytest.mark.parametrize("M,N,K", [(0, 5, 3), (4, 0, 3), (4, 5, 0), (3, 5, 4), (129, 127, 9)])
def test_matmul_edges_and_empty(M, N, K, ta, tb):
    a, b, ref = operands(M, N, K, ta, tb, np.float32, seed=3)
    c = cb.matmul(dev(a), dev(b), ta, tb).numpy()
    assert c.shape == (M, N)
    np.testing.assert_allclose(c, ref, **gemm_tol(max(K, 1), np.float32))


@gpu
@pytest.mark.parametrize("dtype", DTYPES)
def test_gemm_into_alpha_beta_and_batched(dtype):
    a, b, ref = operands(70, 90, 33, False, True, dtype, seed=5)
    c0 = rng(6).standard_normal((70, 90)).astype(dtype)
    out = dev(c0)
    cb.gemm_into(dev(a), dev(b), out, False, True, 0.5, -2.0)
    np.testing.assert_allclose(out.numpy(), 0.5 * ref - 2.0 * c0, **gemm_tol(33, dtype))
    # beta == 0 ignores NaN in out
    out = dev(np.full((70, 90), np.nan, dtype))
    cb.gemm_into(dev(a), dev(b), out, False, True)
    np.testing.assert_allclose(out.numpy(), ref, **gemm_tol(33, dtype))
    A = rng(7).standard_normal((3, 17, 9)).astype(dtype)
    B = rng(8).standard_normal((3, 9, 11)).astype(dtype)
    np.testing.assert_allclose(cb.matmul(dev(A), dev(B)).numpy(), A @ B, **gemm_tol(9, dtype))


@gpu
@pytest.mark.parametrize("ta,tb", TRANS)
@pytest.mark.parametrize("M,N,K", [(7, 13, 5), (257, 263, 511), (1024, 1024, 1024)])
def test_matmul_tf32_opt_in(M, N, K, ta, tb):
    a, b, ref = operands(M, N, K, ta, tb, np.float32, seed=11)
    cb.set_tf32_enabled(True)
    try:
        c = cb.matmul(dev(a), dev(b), ta, tb).numpy()
    finally:
        cb.set_tf32_enabled(False)
    assert not cb.tf32_enabled()
    # TF32 keeps 10 mantissa bits: error ~ 2^-11 * sqrt(K) * |a||b|.
    np.testing.assert_allclose(c, ref, rtol=5e-3, atol=5e-3 * math.sqrt(K))


@gpu
def test_matmul_cpu_cuda_agree():
    a, b, _ = operands(300, 200, 100, True, False, np.float32, seed=2)
    np.testing.assert_allclose(cb.matmul(dev(a), dev(b), True, False).numpy(),
                               _C.matmul(a, b, True, False), rtol=1e-4, atol=1e-3)


@gpu
def test_matmul_errors():
    a = dev(np.zeros((3, 4), np.float32))
    with pytest.raises(ValueError, match=r"^\[matmul\] inner dimensions differ"):
        cb.matmul(a, dev(np.zeros((5, 2), np.float32)))
    with pytest.raises(TypeError, match=r"^\[matmul\] a and b dtypes differ"):
        cb.matmul(a, dev(np.zeros((4, 2), np.float64)))
    with pytest.raises(TypeError, match=r"^\[matmul\]"):
        cb.matmul(dev(np.zeros((3, 4), np.int32)), dev(np.zeros((4, 2), np.int32)))


# ======================================================================================
# Activations, bias (CPU kernels of nabi._C are the reference; they are NumPy-tested)
# ======================================================================================
ACTS = ["linear", "relu", "relu6", "leaky_relu", "elu", "selu", "sigmoid", "tanh", "softplus",
        "softsign", "swish", "gelu", "gelu_tanh", "hard_sigmoid", "exponential"]


@gpu
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ACTS)
def test_activation_vs_cpu(kind, dtype):
    r = rng(1)
    x = (r.standard_normal(10007) * 4).astype(dtype)
    x[:5] = [0, -3, 3, 6, -1e-3]
    alpha = 0.2 if kind in ("leaky_relu", "elu") else 0.0
    y = cb.activation_forward(kind, dev(x), alpha).numpy()
    np.testing.assert_allclose(y, _C.activation_forward(kind, x, alpha), **tol(dtype))
    g = r.standard_normal(x.shape).astype(dtype)
    dx = cb.activation_backward(kind, dev(g), dev(x), dev(y), alpha).numpy()
    np.testing.assert_allclose(dx, _C.activation_backward(kind, g, x, y, alpha), **tol(dtype))


@gpu
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 1), (5, 7), (4096, 33), (3, 4, 300)])
def test_bias_add_and_grad(shape, dtype):
    r = rng(2)
    x = r.standard_normal(shape).astype(dtype)
    b = r.standard_normal(shape[-1]).astype(dtype)
    np.testing.assert_allclose(cb.bias_add_forward(dev(x), dev(b)).numpy(), x + b, **tol(dtype))
    db = cb.bias_add_backward(dev(x)).numpy()
    np.testing.assert_allclose(db, x.reshape(-1, shape[-1]).astype(np.float64).sum(0),
                               **tol(dtype))


# ======================================================================================
# Softmax
# ======================================================================================
def np_softmax(x, log=False):
    x = x.astype(np.float64)
    m = x.max(-1, keepdims=True)
    ls = np.log(np.exp(x - m).sum(-1, keepdims=True))
    return (x - m - ls) if log else np.exp(x - m - ls)


@gpu
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("log", [False, True])
@pytest.mark.parametrize("shape", [(1, 1), (8, 10), (333, 1000), (17, 1025), (4, 3, 5000)])
def test_softmax_forward_backward(shape, log, dtype):
    r = rng(3)
    x = (r.standard_normal(shape) * 5).astype(dtype)
    fwd = cb.log_softmax_forward if log else cb.softmax_forward
    bwd = cb.log_softmax_backward if log else cb.softmax_backward
    y = fwd(dev(x)).numpy()
    np.testing.assert_allclose(y, np_softmax(x, log), **tol(dtype))
    g = r.standard_normal(shape).astype(dtype)
    dx = bwd(dev(g), dev(y)).numpy()
    yd, gd = y.astype(np.float64), g.astype(np.float64)
    ref = gd - np.exp(yd) * gd.sum(-1, keepdims=True) if log else \
        yd * (gd - (gd * yd).sum(-1, keepdims=True))
    np.testing.assert_allclose(dx, ref, **tol(dtype))
    cpu = (_C.log_softmax_forward if log else _C.softmax_forward)(x)
    np.testing.assert_allclose(y, cpu, **tol(dtype))


@gpu
def test_softmax_infinities_like_cpu():
    x = np.array([[0, -np.inf, 1], [-np.inf] * 3, [np.inf, 0, 0]], np.float32)
    got = cb.softmax_forward(dev(x)).numpy()
    np.testing.assert_array_equal(np.isnan(got), np.isnan(_C.softmax_forward(x)))
    np.testing.assert_allclose(got[0], _C.softmax_forward(x)[0], rtol=1e-6)


# ======================================================================================
# Losses
# ======================================================================================
@gpu
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 1), (64, 10), (7, 3, 1001)])
def test_softmax_xent(shape, dtype):
    r = rng(4)
    logits = (r.standard_normal(shape) * 3).astype(dtype)
    labels = r.random(shape).astype(dtype)
    labels /= labels.sum(-1, keepdims=True)
    loss, bp = cb.softmax_xent_forward(dev(labels), dev(logits))
    ref_loss = -(labels * np_softmax(logits, log=True)).sum(-1)
    np.testing.assert_allclose(loss.numpy(), ref_loss, **tol(dtype))
    np.testing.assert_allclose(bp.numpy(), np_softmax(logits) - labels, **tol(dtype))
    cl, cbp = _C.softmax_xent_forward(labels, logits)
    np.testing.assert_allclose(loss.numpy(), cl, **tol(dtype))
    np.testing.assert_allclose(bp.numpy(), cbp, **tol(dtype))


@gpu
@pytest.mark.parametrize("ltype", [np.int32, np.int64])
@pytest.mark.parametrize("dtype", DTYPES)
def test_sparse_softmax_xent(dtype, ltype):
    r = rng(5)
    logits = (r.standard_normal((100, 37)) * 3).astype(dtype)
    labels = r.integers(0, 37, 100).astype(ltype)
    loss, bp = cb.sparse_softmax_xent_forward(dev(labels), dev(logits))
    onehot = np.eye(37)[labels]
    np.testing.assert_allclose(loss.numpy(), -(onehot * np_softmax(logits, True)).sum(-1),
                               **tol(dtype))
    np.testing.assert_allclose(bp.numpy(), np_softmax(logits) - onehot, **tol(dtype))
    bad = labels.copy()
    bad[7] = 37
    with pytest.raises(ValueError, match=r"^\[sparse_softmax_cross_entropy_with_logits\] a "
                       r"label is outside \[0, 37\)"):
        cb.sparse_softmax_xent_forward(dev(bad), dev(logits))
    # checked=True: the caller has range-checked the labels on the host, so no flag is read
    # back; a bad label still reads nothing out of bounds and gives a NaN row.
    loss, bp = cb.sparse_softmax_xent_forward(dev(bad), dev(logits), checked=True)
    lh, bh = loss.numpy(), bp.numpy()
    assert np.isnan(lh[7]) and np.isnan(bh[7]).all()
    keep = np.arange(100) != 7
    np.testing.assert_allclose(lh[keep], -(onehot * np_softmax(logits, True)).sum(-1)[keep],
                               **tol(dtype))


@gpu
@pytest.mark.parametrize("dtype", DTYPES)
def test_sigmoid_xent(dtype):
    r = rng(6)
    x = (r.standard_normal((50, 41)) * 10).astype(dtype)
    z = r.random((50, 41)).astype(dtype)
    loss, bp = cb.sigmoid_xent_forward(dev(z), dev(x))
    xd, zd = x.astype(np.float64), z.astype(np.float64)
    np.testing.assert_allclose(loss.numpy(), np.maximum(xd, 0) - xd * zd +
                               np.log1p(np.exp(-np.abs(xd))), **tol(dtype))
    np.testing.assert_allclose(bp.numpy(), 1 / (1 + np.exp(-xd)) - zd, **tol(dtype))


# ======================================================================================
# Reductions
# ======================================================================================
@gpu
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op", ["sum", "mean", "max"])
@pytest.mark.parametrize("shape,axis", [((1,), 0), ((1000,), -1), ((33, 65), 1), ((33, 65), 0),
                                        ((5, 7, 300), 1), ((5, 7, 300), 2), ((5, 7, 3), 0)])
def test_reduce_axis(op, shape, axis, dtype):
    x = rng(7).standard_normal(shape).astype(dtype)
    got = getattr(cb, "reduce_" + op)(dev(x), axis).numpy()
    ref = getattr(np, op)(x.astype(np.float64), axis=axis)
    np.testing.assert_allclose(got, ref, **tol(dtype))


@gpu
def test_reduce_max_propagates_nan():
    x = np.array([[1, np.nan, 3], [1, 2, 3]], np.float32)
    got = cb.reduce_max(dev(x), 1).numpy()
    assert np.isnan(got[0]) and got[1] == 3


# ======================================================================================
# Optimizers: NumPy Keras-rule references and the CPU kernels
# ======================================================================================
SHAPES = [(3,), (257, 33), (5000,), (2, 3, 4)]


def state(dtype, seed=8, scale=1.0):
    r = rng(seed)
    return [(r.standard_normal(s) * scale).astype(dtype) for s in SHAPES]


@gpu
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("momentum,nesterov", [(0.0, False), (0.9, False), (0.9, True)])
def test_sgd_update(momentum, nesterov, dtype):
    p, g = state(dtype, 1), state(dtype, 2)
    m = state(dtype, 3) if momentum else None
    P, G = [dev(a) for a in p], [dev(a) for a in g]
    Mo = [dev(a) for a in m] if m else None
    lr = 0.05
    cb.sgd_update(P, G, Mo, lr, momentum, nesterov)
    for i in range(len(p)):
        if not momentum:
            ref_p = p[i] - lr * g[i]
        else:
            ref_m = momentum * m[i] - lr * g[i]
            ref_p = p[i] + (momentum * ref_m - lr * g[i] if nesterov else ref_m)
            np.testing.assert_allclose(Mo[i].numpy(), ref_m, **tol(dtype))
        np.testing.assert_allclose(P[i].numpy(), ref_p, **tol(dtype))


@gpu
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("amsgrad", [False, True])
@pytest.mark.parametrize("weight_decay", [0.0, 0.01])
def test_adam_update_steps(amsgrad, weight_decay, dtype):
    lr, b1, b2, eps = 1e-2, 0.9, 0.999, 1e-7
    p = state(dtype, 1)
    ms = [np.zeros_like(a) for a in p]
    vs = [np.zeros_like(a) for a in p]
    vh = [np.zeros_like(a) for a in p]
    P, M, V = [dev(a) for a in p], [dev(a) for a in ms], [dev(a) for a in vs]
    VH = [dev(a) for a in vh] if amsgrad else None
    ref = [a.astype(np.float64) for a in p]
    rm = [np.zeros(a.shape) for a in p]
    rv = [np.zeros(a.shape) for a in p]
    rvh = [np.zeros(a.shape) for a in p]
    for t in range(1, 4):
        g = state(dtype, 10 + t)
        if weight_decay:
            cb.adamw_update(P, [dev(a) for a in g], M, V, VH, lr, b1, b2, eps, t, weight_decay)
        else:
            cb.adam_update(P, [dev(a) for a in g], M, V, VH, lr, b1, b2, eps, t)
        alpha = lr * math.sqrt(1 - b2 ** t) / (1 - b1 ** t)
        for i in range(len(p)):
            gi = g[i].astype(np.float64)
            ref[i] -= ref[i] * weight_decay * lr
            rm[i] += (gi - rm[i]) * (1 - b1)
            rv[i] += (gi * gi - rv[i]) * (1 - b2)
            v = rv[i]
            if amsgrad:
                rvh[i] = np.maximum(rvh[i], rv[i])
                v = rvh[i]
            ref[i] -= rm[i] * alpha / (np.sqrt(v) + eps)
    for i in range(len(p)):
        np.testing.assert_allclose(P[i].numpy(), ref[i], rtol=1e-4 if dtype == np.float32
                                   else 1e-10, atol=1e-5 if dtype == np.float32 else 1e-12)


@gpu
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("momentum,centered", [(0.0, False), (0.9, False), (0.0, True),
                                               (0.5, True)])
def test_rmsprop_update_vs_cpu(momentum, centered, dtype):
    args = dict(lr=1e-3, rho=0.9, momentum=momentum, epsilon=1e-7, centered=centered)
    p, g = state(dtype, 1), state(dtype, 2)
    vel = [np.abs(a) for a in state(dtype, 3)]
    mom = state(dtype, 4) if momentum else None
    avg = [a * 0.01 for a in state(dtype, 5)] if centered else None
    # CPU in place on copies
    cp = [a.copy() for a in p]
    cv = [a.copy() for a in vel]
    cm = [a.copy() for a in mom] if mom else None
    ca = [a.copy() for a in avg] if avg else None
    _C.rmsprop_update(cp, g, cv, cm, ca, **args)
    P, V = [dev(a) for a in p], [dev(a) for a in vel]
    Mo = [dev(a) for a in mom] if mom else None
    A = [dev(a) for a in avg] if avg else None
    cb.rmsprop_update(P, [dev(a) for a in g], V, Mo, A, **args)
    for i in range(len(p)):
        np.testing.assert_allclose(P[i].numpy(), cp[i], **tol(dtype))
        np.testing.assert_allclose(V[i].numpy(), cv[i], **tol(dtype))


@gpu
def test_adam_matches_cpu_and_many_tensors():
    # More tensors than fit in one launch, mixed float32 / float64.
    r = rng(9)
    shapes = [(int(r.integers(1, 3000)),) for _ in range(110)]
    p = [r.standard_normal(s).astype(np.float32 if i % 3 else np.float64)
         for i, s in enumerate(shapes)]
    g = [r.standard_normal(a.shape).astype(a.dtype) for a in p]
    m = [np.zeros_like(a) for a in p]
    v = [np.zeros_like(a) for a in p]
    P, M, V = [dev(a) for a in p], [dev(a) for a in m], [dev(a) for a in v]
    cb.adam_update(P, [dev(a) for a in g], M, V, None, 1e-3, 0.9, 0.999, 1e-7, 1)
    _C.adam_update(p, g, m, v, None, 1e-3, 0.9, 0.999, 1e-7, 1)
    for i in range(len(p)):
        np.testing.assert_allclose(P[i].numpy(), p[i], **tol(p[i].dtype))
        np.testing.assert_allclose(M[i].numpy(), m[i], **tol(p[i].dtype))


@gpu
def test_optimizer_errors():
    P = [dev(np.zeros(3, np.float32))]
    with pytest.raises(ValueError, match=r"^\[adam\] step t must be >= 1"):
        cb.adam_update(P, P, P, P, None, 1e-3, 0.9, 0.999, 1e-7, 0)
    with pytest.raises(ValueError, match=r"^\[sgd\] list lengths differ"):
        cb.sgd_update(P, [], None, 0.1, 0.0, False)
    with pytest.raises(ValueError, match=r"^\[sgd\] .*shapes differ"):
        cb.sgd_update(P, [dev(np.zeros(4, np.float32))], None, 0.1, 0.0, False)


# ======================================================================================
# Dropout / Philox
# ======================================================================================
@gpu
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [1, 3, 4, 5, 1000, 100003])
def test_dropout_matches_numpy_philox(n, dtype):
    x = rng(10).standard_normal(n).astype(dtype)
    for rate, seed, offset in [(0.5, 42, 0), (0.1, 2**40 + 7, 3), (0.9, 1, 2**33)]:
        y = cb.dropout(dev(x), rate, seed, offset).numpy()
        np.testing.assert_array_equal(y, ref_dropout(x, rate, seed, offset))
        u = cb.random_uniform([n], seed, offset).numpy()
        np.testing.assert_array_equal(u, philox_uniform(n, seed, offset))


@gpu
def test_dropout_statistics_and_determinism():
    x = np.ones((1000, 1000), np.float32)
    rate = 0.3
    y = cb.dropout(dev(x), rate, 123, 0).numpy()
    kept = y != 0
    assert abs(kept.mean() - (1 - rate)) < 5 * math.sqrt(rate * (1 - rate) / x.size)
    np.testing.assert_allclose(y[kept], 1 / (1 - rate), rtol=1e-6)
    np.testing.assert_array_equal(y, cb.dropout(dev(x), rate, 123, 0).numpy())
    y2 = cb.dropout(dev(x), rate, 123, 1).numpy()
    assert (kept != (y2 != 0)).mean() > 0.3          # another offset: another mask
    g = rng(11).standard_normal(x.shape).astype(np.float32)
    dg = cb.dropout_backward(dev(g), rate, 123, 0).numpy()
    np.testing.assert_array_equal(dg != 0, kept & (g != 0))
    u = cb.random_uniform([1 << 20], 5, 0).numpy()
    assert 0 <= u.min() and u.max() < 1 and abs(u.mean() - 0.5) < 3e-3
    with pytest.raises(ValueError, match=r"^\[dropout\] rate must be in \[0, 1\)"):
        cb.dropout(dev(x), 1.0, 0, 0)
    np.testing.assert_array_equal(cb.dropout(dev(x), 0.0, 0, 0).numpy(), x)


# ======================================================================================
# Buffers and the caching allocator
# ======================================================================================
@gpu
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.int64, np.bool_])
def test_device_buffer_round_trip(dtype):
    a = (rng(12).standard_normal((3, 5, 7)) * 10).astype(dtype)
    b = cb.DeviceBuffer.from_numpy(a)
    assert b.shape == (3, 5, 7) and b.dtype == np.dtype(dtype).name
    assert b.nbytes == a.nbytes and b.size == a.size
    np.testing.assert_array_equal(b.numpy(), a)
    np.testing.assert_array_equal(cb.DeviceBuffer.from_numpy(a.T).numpy(), a.T)  # strided in
    np.testing.assert_array_equal(cb.DeviceBuffer.zeros([4, 2], "float64").numpy(),
                                  np.zeros((4, 2)))
    assert cb.DeviceBuffer.from_numpy(np.zeros((0, 3), np.float32)).numpy().shape == (0, 3)


@gpu
def test_allocator_reuses_blocks():
    cb.synchronize()
    base_alloc = cb.memory_allocated()
    x = dev(np.ones((256, 256), np.float32))
    # Warm the cache with one step: a matmul result and an activation output live together.
    y = cb.matmul(x, x)
    z = cb.activation_forward("relu", y)
    del y, z
    reserved = cb.memory_reserved()
    for _ in range(50):
        y = cb.matmul(x, x)
        z = cb.activation_forward("relu", y)
        del y, z
    assert cb.memory_reserved() == reserved
    del x
    assert cb.memory_allocated() == base_alloc
    cb.empty_cache()
    assert cb.memory_reserved() == cb.memory_allocated()


@gpu
def test_device_queries():
    assert cb.device_count() >= 1
    assert isinstance(cb.device_name(0), str) and cb.device_name(0)
    with pytest.raises(IndexError):
        cb.device_name(cb.device_count())
