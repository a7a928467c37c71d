"""Edge cases of the CUDA kernels that reviewers flagged, each against an independent NumPy
reference (never against nabi itself), except the recurrent layers (section 8), which compare
the GPU with nabi's CPU path.

What the other CUDA test files already cover is not repeated here (tests/test_cuda_backend.py,
test_cuda_array_kernels.py, test_cuda_nn_kernels.py, test_cuda_train_kernels.py and
test_device.py): this file adds
  1. GEMM: operands that are DeviceBuffer views at element offsets 1..3 (misaligned for the
     float4 / double2 loads) in all four transpose cases at prime sizes, a misaligned output
     of gemm_into with guard elements around it, batched GEMM with odd per-batch sizes,
     K == 0 in gemm_into with beta != 0 (C must become beta * C), TF32 against an exact
     NumPy TF32 reference (inputs rounded to 10 mantissa bits, float64 accumulation) at odd
     sizes, and nabi.matmul on GPU tensors (transpose flags, sliced views, gradients);
  2. nabi.nn.conv2d on the GPU with stride 2 / dilation 2 / 'SAME' and 'VALID' padding, odd
     sizes, float32 and float64, forward and both gradients, against a direct-loop NumPy
     reference (whose adjoint is itself checked by central differences);
  3. binary ops broadcast at ranks 7 and 8 (size-1 axes on both sides), their gradients, and
     copies of negative-stride views at ranks 4 to 8;
  4. reductions through the nabi API on the GPU: > 4096 elements, (3, 5000) / (5000, 3),
     int64 and bool, keepdims, empty axes (max/min must raise), the reduce_max gradient with
     ties;
  5. argmax/argmin with ties and NaN on rows of 5000 (the block-per-row path), on the warp
     and strided paths, and through nabi.argmax;
  6. scatter_add / the gradient of gather with 2000 indices into 3 rows, float64;
  7. Keras Adam / SGD (momentum, Nesterov) over 60 variables in one apply_gradients (more
     than the 48 tensors of one fused launch), 2 steps, against NumPy;
  8. LSTM, GRU (reset_after True / False) and SimpleRNN layers, go_backwards and
     return_sequences, outputs and gradients on the GPU against the same weights on the CPU.

Every test takes the conftest `gpu` fixture with its "cuda" parameter only: it runs on a real
GPU or on the CUDA host simulator (build/sim/pkg) and skips visibly elsewhere. Shapes are
small: the simulator is about 1000x slower than a GPU.
"""
import math

import numpy as np
import pytest

import nabi
from nabi import _C
from nabi.framework import device as dev_mod

cb = _C.cuda_backend
F32, F64 = np.float32, np.float64

# The conftest `gpu` fixture, restricted to the real CUDA backend (no NumPy emulator here).
cuda = pytest.mark.parametrize("gpu", ["cuda"], indirect=True)


def tol(dtype):
    return dict(rtol=1e-5, atol=1e-5) if np.dtype(dtype) == F32 else \
        dict(rtol=1e-10, atol=1e-12)


def up(a):
    return cb.DeviceBuffer.from_numpy(np.ascontiguousarray(a))


def up_at(a, offset, guard=np.nan):
    """A DeviceBuffer view of `a` that starts `offset` elements into a larger buffer (guard
    values before and after it), so its data pointer is misaligned for vector loads when
    offset % (16 / itemsize) != 0. Returns (view, whole buffer)."""
    flat = np.full(a.size + offset + 5, guard, a.dtype)
    flat[offset:offset + a.size] = a.reshape(-1)
    whole = up(flat)
    return whole.view(list(a.shape), offset), whole


def on_gpu(t):
    return t.device.endswith("GPU:0")


# ======================================================================================
# 1. GEMM
# ======================================================================================
PRIME_SIZES = [(1, 1, 1), (7, 13, 5), (67, 31, 129), (131, 263, 37)]  # the last: 2x3 tiles
TRANS = [(False, False), (False, True), (True, False), (True, True)]
OFFSETS = [(1, 2), (3, 1), (2, 3)]


def gemm_operands(M, N, K, ta, tb, dtype, seed=0):
    r = np.random.default_rng(seed)
    a = r.standard_normal((K, M) if ta else (M, K)).astype(dtype)
    b = r.standard_normal((N, K) if tb else (K, N)).astype(dtype)
    return a, b


def op(x, t):
    return x.T if t else x


def exact_mm(a, b, ta, tb):
    return op(a, ta).astype(F64) @ op(b, tb).astype(F64)


def gemm_tol(K, dtype):
    if dtype == F32:
        return dict(rtol=1e-5, atol=1e-5 * math.sqrt(max(K, 1)))
    return dict(rtol=1e-10, atol=1e-12 * math.sqrt(max(K, 1)))


def tf32_round(x):
    """x (float32) rounded to TF32: 10 mantissa bits, to nearest, ties away from zero
    (cvt.rna.tf32.f32); inf and NaN unchanged."""
    u = np.ascontiguousarray(x, F32).view(np.uint32)
    special = (u & np.uint32(0x7F800000)) == np.uint32(0x7F800000)
    r = np.where(special, u, (u + np.uint32(0x1000)) & np.uint32(0xFFFFE000))
    return r.astype(np.uint32).view(F32)


def tf32_mm(a, b, ta, tb):
    return op(tf32_round(a), ta).astype(F64) @ op(tf32_round(b), tb).astype(F64)


class tf32_enabled:
    """nabi.config.experimental.enable_tensor_float_32_execution(flag), restored on exit."""

    def __init__(self, flag):
        self.flag = flag

    def __enter__(self):
        self.old = nabi.config.experimental.tensor_float_32_execution_enabled()
        nabi.config.experimental.enable_tensor_float_32_execution(self.flag)
        assert cb.tf32_enabled() == self.flag

    def __exit__(self, *exc):
        nabi.config.experimental.enable_tensor_float_32_execution(self.old)
        assert cb.tf32_enabled() == self.old


@cuda
@pytest.mark.parametrize("dtype", [F32, F64], ids=["f32", "f64"])
@pytest.mark.parametrize("ta,tb", TRANS, ids=["nn", "nt", "tn", "tt"])
@pytest.mark.parametrize("M,N,K", PRIME_SIZES, ids=str)
def test_matmul_misaligned_views(gpu, M, N, K, ta, tb, dtype):
    """cb.matmul on views at element offsets 1..3 (the vector loads must not be taken), and
    gemm_into writing a misaligned output view without touching its neighbours."""
    a, b = gemm_operands(M, N, K, ta, tb, dtype, seed=M + N + K)
    ref = exact_mm(a, b, ta, tb)
    for oa, ob in OFFSETS:
        av, _ = up_at(a, oa)
        bv, _ = up_at(b, ob)
        c = cb.matmul(av, bv, ta, tb).numpy()
        assert c.shape == (M, N)
        np.testing.assert_allclose(c, ref, err_msg=f"offsets {oa}, {ob}", **gemm_tol(K, dtype))
        # into a misaligned output, alpha/beta; the guard elements around it stay put
        c0 = np.random.default_rng(oa).standard_normal((M, N)).astype(dtype)
        cv, whole = up_at(c0, oa + ob, guard=7.0)
        cb.gemm_into(av, bv, cv, ta, tb, -0.5, 2.0)
        np.testing.assert_allclose(cv.numpy(), -0.5 * ref + 2.0 * c0.astype(F64),
                                   err_msg=f"gemm_into offsets {oa}, {ob}", **gemm_tol(K, dtype))
        w = whole.numpy()
        np.testing.assert_array_equal(w[:oa + ob], 7.0)
        np.testing.assert_array_equal(w[oa + ob + M * N:], 7.0)


@cuda
@pytest.mark.parametrize("dtype", [F32, F64], ids=["f32", "f64"])
@pytest.mark.parametrize("ta,tb", TRANS, ids=["nn", "nt", "tn", "tt"])
def test_batched_matmul_odd_batch_strides(gpu, ta, tb, dtype):
    """3-D operands whose per-batch matrices (7x5, 5x13) have odd sizes: every other batch
    starts misaligned; the whole buffer also starts at offset 1."""
    r = np.random.default_rng(5)
    B, M, N, K = 3, 7, 13, 5
    a = r.standard_normal((B, K, M) if ta else (B, M, K)).astype(dtype)
    b = r.standard_normal((B, N, K) if tb else (B, K, N)).astype(dtype)
    ref = np.einsum("bmk,bkn->bmn", np.swapaxes(a, 1, 2) if ta else a,
                    np.swapaxes(b, 1, 2) if tb else b, dtype=F64)
    for oa, ob in [(0, 0), (1, 3)]:
        c = cb.matmul(up_at(a, oa)[0], up_at(b, ob)[0], ta, tb).numpy()
        np.testing.assert_allclose(c, ref, **gemm_tol(K, dtype))


# (dtype, TF32 on): TF32 applies to float32 only
PRECISIONS = pytest.mark.parametrize("dtype,tf32", [(F32, False), (F64, False), (F32, True)],
                                     ids=["f32", "f64", "tf32"])


@cuda
@PRECISIONS
@pytest.mark.parametrize("ta,tb", TRANS, ids=["nn", "nt", "tn", "tt"])
def test_batched_matmul_is_one_launch_over_many_tiles(gpu, ta, tb, dtype, tf32):
    """A 3-D matmul is ONE batched launch (blockIdx.z picks the problem) whose problems each
    span several tiles with partial edges (131 x 70 x 37 and an odd per-problem size, so
    problem starts alternate in alignment); gemm_into's alpha/beta reach every problem's C
    and nothing outside it. On the CUDA host simulator the launches are counted."""
    r = np.random.default_rng(21)
    B, M, N, K = 4, 131, 70, 37
    a = r.standard_normal((B, K, M) if ta else (B, M, K)).astype(dtype)
    b = r.standard_normal((B, N, K) if tb else (B, K, N)).astype(dtype)
    opa = np.swapaxes(a, 1, 2) if ta else a
    opb = np.swapaxes(b, 1, 2) if tb else b
    if tf32:
        ref = np.stack([tf32_mm(a[i], b[i], ta, tb) for i in range(B)])
        t = dict(rtol=1e-5, atol=1e-5 * math.sqrt(K))
    else:
        ref = np.einsum("bmk,bkn->bmn", opa, opb, dtype=F64)
        t = gemm_tol(K, dtype)
    c0 = r.standard_normal((B, M, N)).astype(dtype)
    sim = hasattr(cb, "_sim_stats")
    with tf32_enabled(tf32):
        ua, ub = up(a), up(b)
        if sim:
            cb._sim_stats(True)
        got = cb.matmul(ua, ub, ta, tb)
        if sim:
            s = cb._sim_stats(True)
            assert sum(s["launches"].values()) == 1, s["launches"]
        out, whole = up_at(c0, 1, guard=5.0)
        cb.gemm_into(up_at(a, 3)[0], up_at(b, 2)[0], out, ta, tb, 0.5, -1.0)
    np.testing.assert_allclose(got.numpy(), ref, **t)
    np.testing.assert_allclose(out.numpy(), 0.5 * ref - c0, **t)
    w = whole.numpy()
    assert w[0] == 5.0 and np.all(w[1 + B * M * N:] == 5.0)


@cuda
@PRECISIONS
@pytest.mark.parametrize("ta,tb", TRANS, ids=["nn", "nt", "tn", "tt"])
def test_gemm_into_k0_scales_c_by_beta(gpu, ta, tb, dtype, tf32):
    """K == 0: op(A) @ op(B) is a zero matrix, so C becomes beta * C (and exactly zero with
    beta == 0 even where C held NaN)."""
    M, N = 7, 13
    a = np.zeros((0, M) if ta else (M, 0), dtype)
    b = np.zeros((N, 0) if tb else (0, N), dtype)
    c0 = np.random.default_rng(1).standard_normal((M, N)).astype(dtype)
    with tf32_enabled(tf32):
        out = up(c0)
        cb.gemm_into(up(a), up(b), out, ta, tb, 3.0, -1.5)
        np.testing.assert_array_equal(out.numpy(), (c0 * dtype(-1.5)))
        out = up(np.full((M, N), np.nan, dtype))
        cb.gemm_into(up(a), up(b), out, ta, tb, 3.0, 0.0)
        np.testing.assert_array_equal(out.numpy(), np.zeros((M, N), dtype))
        # and through a misaligned output view
        cv, whole = up_at(c0, 3, guard=9.0)
        cb.gemm_into(up(a), up(b), cv, ta, tb, 1.0, 0.25)
        np.testing.assert_array_equal(cv.numpy(), c0 * dtype(0.25))
        np.testing.assert_array_equal(whole.numpy()[:3], 9.0)
        np.testing.assert_array_equal(whole.numpy()[3 + M * N:], 9.0)
        assert cb.matmul(up(a), up(b), ta, tb).numpy().tolist() == np.zeros((M, N)).tolist()


@cuda
@pytest.mark.parametrize("ta,tb", TRANS, ids=["nn", "nt", "tn", "tt"])
@pytest.mark.parametrize("M,N,K", [(1, 1, 1), (7, 13, 5), (67, 31, 129), (33, 65, 17),
                                   (131, 73, 37)], ids=str)
def test_matmul_tf32_exact_reference(gpu, M, N, K, ta, tb):
    """With TF32 on, the GEMM equals op(round_tf32(A)) @ op(round_tf32(B)) up to float32
    accumulation error (far below the TF32 rounding error it must show), also on misaligned
    views and through gemm_into with beta."""
    a, b = gemm_operands(M, N, K, ta, tb, F32, seed=100 + K)
    ref, exact = tf32_mm(a, b, ta, tb), exact_mm(a, b, ta, tb)
    t = dict(rtol=1e-5, atol=1e-5 * math.sqrt(K))
    c0 = np.random.default_rng(3).standard_normal((M, N)).astype(F32)
    with tf32_enabled(True):
        got = cb.matmul(up(a), up(b), ta, tb).numpy()
        got_view = cb.matmul(up_at(a, 1)[0], up_at(b, 3)[0], ta, tb).numpy()
        out = up_at(c0, 2)[0]
        cb.gemm_into(up_at(a, 3)[0], up_at(b, 2)[0], out, ta, tb, 0.5, -1.0)
        got_into = out.numpy()
    np.testing.assert_allclose(got, ref, **t)
    np.testing.assert_allclose(got_view, ref, **t)
    np.testing.assert_allclose(got_into, 0.5 * ref - c0, **t)
    if M * N * K >= 100:  # really rounded: TF32 errors are ~1e-3, far above the tolerance
        assert np.abs(got - exact).max() > 20 * t["atol"]
    # TF32 off again: float32 accuracy
    np.testing.assert_allclose(cb.matmul(up(a), up(b), ta, tb).numpy(), exact,
                               **gemm_tol(K, F32))


def _api_matmul_case(M, N, K, ta, tb, dtype, seed):
    """Operands as GPU tensors that are views: `a` starts 1 element into a flat tensor, `b`
    3 elements in (contiguous views, no copy)."""
    a, b = gemm_operands(M, N, K, ta, tb, dtype, seed)
    fa = nabi.constant(np.concatenate([np.zeros(1, dtype), a.reshape(-1)]))
    fb = nabi.constant(np.concatenate([np.zeros(3, dtype), b.reshape(-1), np.ones(2, dtype)]))
    at = nabi.reshape(fa[1:], a.shape)
    bt = nabi.reshape(fb[3:3 + b.size], b.shape)
    return a, b, at, bt


@cuda
@PRECISIONS
@pytest.mark.parametrize("ta,tb", TRANS, ids=["nn", "nt", "tn", "tt"])
def test_nabi_matmul_views_transposes_and_gradients(gpu, ta, tb, dtype, tf32):
    """nabi.matmul(transpose_a=, transpose_b=) on GPU tensors that are views at element
    offsets 1 and 3 of larger tensors, and its gradients, with TF32 off and on."""
    M, N, K = 7, 13, 5
    r = np.random.default_rng(11)
    g = r.standard_normal((M, N)).astype(dtype)
    a, b, at, bt = _api_matmul_case(M, N, K, ta, tb, dtype, seed=12)
    assert on_gpu(at) and on_gpu(bt)
    if tf32:
        ra, rb = tf32_round(a).astype(F64), tf32_round(b).astype(F64)
        t = dict(rtol=1e-5, atol=1e-5 * math.sqrt(K))
    else:
        ra, rb = a.astype(F64), b.astype(F64)
        t = gemm_tol(K, dtype)
    with tf32_enabled(tf32):
        with nabi.GradientTape() as tape:
            tape.watch(at)
            tape.watch(bt)
            c = nabi.matmul(at, bt, transpose_a=ta, transpose_b=tb)
            loss = nabi.reduce_sum(c * nabi.constant(g))
        da, db = tape.gradient(loss, [at, bt])
        assert on_gpu(c) and on_gpu(da) and on_gpu(db)
        c, da, db = c.numpy(), da.numpy(), db.numpy()
    np.testing.assert_allclose(c, op(ra, ta) @ op(rb, tb), **t)
    # d op(A) = G op(B)^T, d op(B) = op(A)^T G (the gradient GEMMs round their inputs too)
    gd = g.astype(F64)
    if tf32:
        gd = tf32_round(g).astype(F64)
        t = dict(rtol=1e-5, atol=1e-5 * math.sqrt(max(M, N)))
    else:
        t = gemm_tol(max(M, N), dtype)
    dopa = gd @ op(rb, tb).T
    dopb = op(ra, ta).T @ gd
    np.testing.assert_allclose(da, op(dopa, ta), **t)
    np.testing.assert_allclose(db, op(dopb, tb), **t)


# ======================================================================================
# 2. conv2d through nabi.nn.conv2d on the GPU
# ======================================================================================
def same_pad(n, k, s, d):
    ek = (k - 1) * d + 1
    out = -(-n // s)
    total = max((out - 1) * s + ek - n, 0)
    return total // 2, total - total // 2


def conv_geometry(H, W, KH, KW, s, d, padding):
    if padding == "SAME":
        (pt, pb), (pl, pr) = same_pad(H, KH, s[0], d[0]), same_pad(W, KW, s[1], d[1])
    else:
        pt = pb = pl = pr = 0
    OH = (H + pt + pb - (KH - 1) * d[0] - 1) // s[0] + 1
    OW = (W + pl + pr - (KW - 1) * d[1] - 1) // s[1] + 1
    return pt, pl, OH, OW


def conv_taps(x, w, s, d, padding):
    """(OH, OW) and every in-bounds tap (oh, ow, i, j, ih, iw): output pixel (oh, ow) reads input
    pixel (ih, iw) through filter tap (i, j)."""
    N, H, W, C = x.shape
    KH, KW, _, CO = w.shape
    pt, pl, OH, OW = conv_geometry(H, W, KH, KW, s, d, padding)
    taps = [(oh, ow, i, j, oh * s[0] - pt + i * d[0], ow * s[1] - pl + j * d[1])
            for oh in range(OH) for ow in range(OW) for i in range(KH) for j in range(KW)]
    return (OH, OW), [t for t in taps if 0 <= t[4] < H and 0 <= t[5] < W]


def conv_loop_ref(x, w, s, d, padding):
    """Direct loops over output pixels and filter taps, float64."""
    (OH, OW), taps = conv_taps(x, w, s, d, padding)
    y = np.zeros((x.shape[0], OH, OW, w.shape[3]))
    for oh, ow, i, j, ih, iw in taps:
        y[:, oh, ow, :] += x[:, ih, iw, :].astype(F64) @ w[i, j].astype(F64)
    return y


def conv_loop_grads(g, x, w, s, d, padding):
    """(dx, dw) of sum(conv_loop_ref(x, w) * g), by the same loops (the adjoint)."""
    _, taps = conv_taps(x, w, s, d, padding)
    g, x, w = g.astype(F64), x.astype(F64), w.astype(F64)
    dx, dw = np.zeros(x.shape), np.zeros(w.shape)
    for oh, ow, i, j, ih, iw in taps:
        dx[:, ih, iw, :] += g[:, oh, ow, :] @ w[i, j].T
        dw[i, j] += x[:, ih, iw, :].T @ g[:, oh, ow, :]
    return dx, dw


# (N, H, W, C, KH, KW, CO, strides, dilations, padding)
CONV_CASES = [
    (2, 9, 11, 3, 3, 3, 4, (2, 2), (2, 2), "SAME"),
    (2, 9, 11, 3, 3, 3, 4, (2, 2), (2, 2), "VALID"),
    (1, 10, 7, 2, 3, 2, 5, (2, 1), (1, 2), "SAME"),    # even H, even KW
    (2, 7, 8, 3, 2, 2, 3, (2, 2), (1, 1), "SAME"),     # even kernel, stride 2
    (1, 13, 12, 2, 3, 3, 3, (3, 2), (2, 3), "SAME"),   # stride 3, dilation 3
    (1, 11, 9, 1, 5, 3, 2, (2, 2), (2, 1), "VALID"),   # one input channel
]


def _conv_id(c):
    N, H, W, C, KH, KW, CO, s, d, p = c
    return f"{H}x{W}x{C}-k{KH}x{KW}x{CO}-s{s[0]}{s[1]}-d{d[0]}{d[1]}-{p}"


def test_conv_loop_reference_adjoint_by_central_differences():
    """The NumPy reference's gradients are the derivatives of its forward (runs everywhere)."""
    r = np.random.default_rng(0)
    s, d, p = (2, 1), (1, 2), "SAME"
    x, w = r.standard_normal((1, 5, 6, 2)), r.standard_normal((3, 2, 2, 2))
    g = r.standard_normal(conv_loop_ref(x, w, s, d, p).shape)
    dx, dw = conv_loop_grads(g, x, w, s, d, p)
    for arr, ana in ((x, dx), (w, dw)):
        num = np.zeros_like(arr)
        for k in np.ndindex(arr.shape):
            old = arr[k]
            arr[k] = old + 1e-6
            fp = (conv_loop_ref(x, w, s, d, p) * g).sum()
            arr[k] = old - 1e-6
            fm = (conv_loop_ref(x, w, s, d, p) * g).sum()
            arr[k] = old
            num[k] = (fp - fm) / 2e-6
        np.testing.assert_allclose(ana, num, rtol=1e-6, atol=1e-7)


@cuda
@pytest.mark.parametrize("dtype", [F32, F64], ids=["f32", "f64"])
@pytest.mark.parametrize("case", CONV_CASES, ids=_conv_id)
def test_conv2d_strided_dilated_padded(gpu, case, dtype):
    N, H, W, C, KH, KW, CO, s, d, p = case
    r = np.random.default_rng(7)
    x = r.standard_normal((N, H, W, C)).astype(dtype)
    w = (r.standard_normal((KH, KW, C, CO)) * 0.5).astype(dtype)
    ref = conv_loop_ref(x, w, s, d, p)
    g = r.standard_normal(ref.shape).astype(dtype)
    xt, wt = nabi.constant(x), nabi.constant(w)
    with nabi.GradientTape() as tape:
        tape.watch(xt)
        tape.watch(wt)
        y = nabi.nn.conv2d(xt, wt, strides=list(s), padding=p, dilations=list(d))
        loss = nabi.reduce_sum(y * nabi.constant(g))
    dx, dw = tape.gradient(loss, [xt, wt])
    assert on_gpu(y) and on_gpu(dx) and on_gpu(dw)
    assert y.numpy().dtype == dtype
    t = dict(rtol=1e-4, atol=1e-4) if dtype == F32 else dict(rtol=1e-10, atol=1e-11)
    np.testing.assert_allclose(y.numpy(), ref, err_msg="forward", **t)
    rdx, rdw = conv_loop_grads(g, x, w, s, d, p)
    np.testing.assert_allclose(dx.numpy(), rdx, err_msg="grad x", **t)
    np.testing.assert_allclose(dw.numpy(), rdw, err_msg="grad w", **t)


# ======================================================================================
# 3. Broadcasting at ranks 7-8; negative-stride copies
# ======================================================================================
RANK78 = [
    ((2, 1, 3, 1, 2, 1, 3), (1, 2, 1, 3, 1, 2, 1)),
    ((2, 1, 3, 1, 2, 1, 3, 1), (1, 2, 1, 3, 1, 2, 1, 2)),
    ((1, 1, 1, 1, 1, 1, 1, 5), (2, 3, 1, 2, 1, 2, 3, 1)),
    ((3, 1, 2, 1, 1, 2, 1, 3), (2, 1, 2, 3)),            # ranks differ
    ((1, 2, 1, 1, 3, 1, 1, 2), ()),                      # scalar operand
]
BIN_CASES = [("add", F32, np.add), ("mul", F64, np.multiply), ("sub", np.int64, np.subtract),
             ("maximum", F32, np.maximum), ("lt", F64, np.less), ("ge", np.int32, np.greater_equal),
             ("logical_xor", np.bool_, np.logical_xor)]


def _rand(r, shape, dtype):
    if dtype == np.bool_:
        return np.asarray(r.random(shape) < 0.5)
    if np.dtype(dtype).kind == "i":
        return np.asarray(r.integers(-9, 10, shape)).astype(dtype)
    return np.asarray(r.standard_normal(shape)).astype(dtype)


@cuda
@pytest.mark.parametrize("sa,sb", RANK78, ids=str)
def test_binary_broadcast_rank_7_and_8(gpu, sa, sb):
    r = np.random.default_rng(len(sa) + len(sb))
    for name, dtype, ref in BIN_CASES:
        a, b = _rand(r, sa, dtype), _rand(r, sb, dtype)
        if dtype == F32 and a.size > 3:
            a.flat[2] = np.nan  # NaN propagates through maximum
        for x, y in ((a, b), (b, a)):
            got = cb.binary(name, up(x), up(y)).numpy()
            want = ref(x, y)
            assert got.shape == want.shape, (name, got.shape, want.shape)
            if np.dtype(dtype).kind == "f" and want.dtype.kind == "f":
                np.testing.assert_allclose(got, want.astype(dtype), rtol=1e-6, atol=0,
                                           err_msg=name)
            else:
                np.testing.assert_array_equal(got, want, err_msg=name)


@cuda
@pytest.mark.parametrize("dtype", [F32, F64], ids=["f32", "f64"])
def test_broadcast_rank_8_through_nabi_with_gradients(gpu, dtype):
    """a * b + a broadcast at rank 8: the gradients sum over the broadcast axes."""
    r = np.random.default_rng(3)
    sa, sb = (2, 1, 3, 1, 2, 1, 3, 1), (1, 2, 1, 3, 1, 2, 1, 2)
    a, b = r.standard_normal(sa).astype(dtype), r.standard_normal(sb).astype(dtype)
    out_shape = np.broadcast_shapes(sa, sb)
    g = r.standard_normal(out_shape).astype(dtype)
    at, bt = nabi.constant(a), nabi.constant(b)
    with nabi.GradientTape() as tape:
        tape.watch(at)
        tape.watch(bt)
        y = at * bt + at
        loss = nabi.reduce_sum(y * nabi.constant(g))
    da, db = tape.gradient(loss, [at, bt])
    assert on_gpu(y) and on_gpu(da) and on_gpu(db)
    a64, b64, g64 = a.astype(F64), b.astype(F64), g.astype(F64)
    t = tol(dtype)
    np.testing.assert_allclose(y.numpy(), a64 * b64 + a64, **t)
    axes_a = tuple(i for i, n in enumerate(sa) if n == 1 and out_shape[i] != 1)
    axes_b = tuple(i for i, n in enumerate(sb) if n == 1 and out_shape[i] != 1)
    np.testing.assert_allclose(da.numpy(), (g64 * (b64 + 1)).sum(axes_a, keepdims=True), **t)
    np.testing.assert_allclose(db.numpy(), (g64 * a64).sum(axes_b, keepdims=True), **t)


def _view_params(base, view):
    item = base.itemsize
    off = view.__array_interface__["data"][0] - base.__array_interface__["data"][0]
    return list(view.shape), [s // item for s in view.strides], off // item


@cuda
@pytest.mark.parametrize("dtype", [F32, F64, np.int64, np.int32, np.bool_],
                         ids=lambda d: np.dtype(d).name)
def test_strided_copy_negative_strides_rank_4_to_8(gpu, dtype):
    r = np.random.default_rng(4)
    bases = {4: (3, 4, 5, 6), 5: (2, 3, 4, 3, 5), 6: (2, 3, 2, 3, 2, 4),
             7: (2, 2, 3, 2, 3, 2, 3), 8: (2, 3, 2, 2, 3, 2, 2, 3)}
    for rank, shape in bases.items():
        a = _rand(r, shape, dtype)
        buf = up(a.reshape(-1))
        views = [a[::-1], a[:, ::-2], a[..., ::-1], a[::-1, ::-1, ::-1, ::-1],
                 a[1:, ::-2, :, 1::-1], np.flip(a).transpose(tuple(range(rank))[::-1])]
        if rank < 8:  # a new axis of extent 1 (stride 0) keeps the view within 8 dimensions
            views.append(a[::-2, None, ..., ::-3])
        for k, v in enumerate(views):
            shape_v, strides, offset = _view_params(a, v)
            got = cb.strided_copy(buf, shape_v, strides, offset).numpy()
            np.testing.assert_array_equal(got, v, err_msg=f"rank {rank} view {k}")


@cuda
@pytest.mark.parametrize("dtype", [F32, F64, np.int64, np.bool_], ids=lambda d: np.dtype(d).name)
def test_negative_step_slices_of_gpu_tensors(gpu, dtype):
    r = np.random.default_rng(5)
    x = _rand(r, (3, 4, 5, 6), dtype)
    xt = nabi.constant(x)
    for idx in [np.s_[::-1], np.s_[:, ::-2], np.s_[..., ::-1], np.s_[::-1, 1:, ::-3, 4:0:-2],
                np.s_[2, ::-1, :, ::-5], np.s_[::-2, ::-1, ::-1, ::-1]]:
        y = xt[idx]
        assert on_gpu(y)
        np.testing.assert_array_equal(y.numpy(), x[idx], err_msg=str(idx))
    y5 = nabi.reshape(xt, (3, 4, 5, 2, 3))[:, ::-1, :, ::-1, ::-2]
    np.testing.assert_array_equal(y5.numpy(), x.reshape(3, 4, 5, 2, 3)[:, ::-1, :, ::-1, ::-2])


@cuda
def test_negative_step_slice_gradient(gpu):
    """The gradient of a negative-step slice scatters back into the right places."""
    r = np.random.default_rng(6)
    x = r.standard_normal((3, 4, 5, 6))
    idx = np.s_[::-1, 1:, ::-2, 5:0:-2]
    g = r.standard_normal(x[idx].shape)
    v = nabi.Variable(x)
    with nabi.GradientTape() as tape:
        loss = nabi.reduce_sum(v[idx] * nabi.constant(g))
    dx = tape.gradient(loss, v)
    assert on_gpu(dx)
    want = np.zeros_like(x)
    want[idx] = g
    np.testing.assert_array_equal(np.asarray(dx.numpy()), want)


# ======================================================================================
# 4. Reductions through the nabi API
# ======================================================================================
# (10007,) and (3, 5000): one block per output; (5000, 3), (7, 700, 3): the column kernel
# with the reduced range split over blocks (two passes); (40009,), (2, 20011): the row kernel
# split over blocks.
RED_SHAPES = [((10007,), None), ((3, 5000), 1), ((5000, 3), 0), ((7, 700, 3), (0, 1)),
              ((3, 5000), -1), ((40009,), None), ((2, 20011), 1)]


def _red_input(r, op, shape, dtype):
    if dtype == np.bool_:
        p = 0.9995 if op == "all" else 0.0005
        x = np.asarray(r.random(shape) < p)
        return x
    if op == "prod":
        if np.dtype(dtype).kind == "f":
            return r.uniform(0.999, 1.001, shape).astype(dtype)
        return np.asarray(r.integers(-3, 4, shape)).astype(dtype)  # int64 products wrap
    if np.dtype(dtype).kind == "i":
        x = np.asarray(r.integers(-10**6, 10**6, shape)).astype(dtype)
        info = np.iinfo(dtype)
        x.flat[[0, -1]] = [info.min, info.max]  # max/min's identities; sums wrap (as NumPy's)
        return x
    return r.standard_normal(shape).astype(dtype)


def _red_ref(op, x, axis, keepdims):
    if op in ("any", "all"):
        return getattr(np, op)(x, axis=axis, keepdims=keepdims)
    if x.dtype.kind == "i":
        if op == "mean":  # TF's integer mean: the (wrapping) sum over the count, toward zero
            n = x.size if axis is None else math.prod(x.shape[a] for a in np.atleast_1d(axis))
            s = np.asarray(np.sum(x, axis=axis, keepdims=keepdims)).astype(object)
            q = np.vectorize(lambda v: -(-v // n) if v < 0 else v // n, otypes=[object])(s)
            return q.astype(x.dtype)
        return getattr(np, op)(x, axis=axis, keepdims=keepdims)
    return getattr(np, op)(x.astype(F64), axis=axis, keepdims=keepdims)


@cuda
@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("shape,axis", RED_SHAPES, ids=str)
def test_reductions_large(gpu, shape, axis, keepdims):
    r = np.random.default_rng(8)
    for dtype in (F32, F64, np.int64):
        for op in ("sum", "mean", "max", "min", "prod"):
            x = _red_input(r, op, shape, dtype)
            y = getattr(nabi, "reduce_" + op)(nabi.constant(x), axis=axis, keepdims=keepdims)
            assert on_gpu(y)
            got, want = y.numpy(), _red_ref(op, x, axis, keepdims)
            what = f"{op} {np.dtype(dtype).name}"
            assert got.shape == want.shape, what
            assert got.dtype == np.dtype(dtype), what
            if np.dtype(dtype).kind == "f":
                np.testing.assert_allclose(got, want, err_msg=what, **(
                    dict(rtol=1e-5, atol=1e-5) if dtype == F32 else dict(rtol=1e-10, atol=1e-10)))
            else:
                np.testing.assert_array_equal(got, want, err_msg=what)
    for op in ("any", "all"):
        x = _red_input(r, op, shape, np.bool_)
        y = getattr(nabi, "reduce_" + op)(nabi.constant(x), axis=axis, keepdims=keepdims)
        np.testing.assert_array_equal(y.numpy(), _red_ref(op, x, axis, keepdims), err_msg=op)


@cuda
def test_reductions_over_empty_axes(gpu):
    for dtype in (F32, F64, np.int64):
        x = nabi.constant(np.zeros((0, 4), dtype))
        s = nabi.reduce_sum(x, axis=0)
        assert on_gpu(s) and s.numpy().dtype == np.dtype(dtype)
        np.testing.assert_array_equal(s.numpy(), np.zeros(4, dtype))
        np.testing.assert_array_equal(nabi.reduce_prod(x, axis=0).numpy(), np.ones(4, dtype))
        np.testing.assert_array_equal(nabi.reduce_sum(x, axis=[0, 1]).numpy(), dtype(0))
        np.testing.assert_array_equal(nabi.reduce_sum(x, axis=1).numpy(), np.zeros(0, dtype))
        # max/min over an empty axis give the reduction's identity, as TF: the lowest / highest
        # value of the dtype (-inf / inf for floats)
        lo, hi = (-np.inf, np.inf) if dtype != np.int64 else (np.iinfo(dtype).min,
                                                              np.iinfo(dtype).max)
        for fn, ident in ((nabi.reduce_max, lo), (nabi.reduce_min, hi)):
            r = fn(x, axis=0)
            assert on_gpu(r)
            np.testing.assert_array_equal(r.numpy(), np.full(4, ident, dtype))
            r = fn(nabi.constant(np.zeros((3, 0), dtype)), axis=1)
            np.testing.assert_array_equal(r.numpy(), np.full(3, ident, dtype))
        # max over the non-empty axis of an empty array is an empty result, not an error
        assert nabi.reduce_max(x, axis=1).numpy().shape == (0,)
    b = nabi.constant(np.zeros((0, 4), np.bool_))
    np.testing.assert_array_equal(nabi.reduce_any(b, axis=0).numpy(), [False] * 4)
    np.testing.assert_array_equal(nabi.reduce_all(b, axis=0).numpy(), [True] * 4)


@cuda
def test_reduce_max_gradient_with_ties_on_long_rows(gpu):
    """The gradient of reduce_max splits evenly over tied maxima (TF's rule), on (3, 5000)."""
    r = np.random.default_rng(9)
    x = np.asarray(r.integers(-50, 5, (3, 5000))).astype(F64)  # the max (4) repeats ~100x
    x[2] = -1.0
    x[2, [0, 4999, 2500]] = 7.0
    g = r.standard_normal(3)
    v = nabi.Variable(x)
    with nabi.GradientTape() as tape:
        m = nabi.reduce_max(v, axis=1)
        loss = nabi.reduce_sum(m * nabi.constant(g))
    dx = tape.gradient(loss, v).numpy()
    mask = x == x.max(1, keepdims=True)
    np.testing.assert_allclose(m.numpy(), x.max(1), rtol=0, atol=0)
    np.testing.assert_allclose(dx, mask * (g[:, None] / mask.sum(1, keepdims=True)),
                               rtol=1e-12, atol=1e-15)


# ======================================================================================
# 5. argmax / argmin: ties and NaN
# ======================================================================================
def _arg_rows(dtype, n=5000, seed=10):
    """Rows covering: ties of the extreme (first occurrence must win), NaN at the start, the
    end, in the middle and twice, all NaN, +-inf ties, a lone extreme at the end, all equal,
    the extreme only past the first 4096 elements, 0.0 tied with -0.0."""
    r = np.random.default_rng(seed)
    x = np.asarray(r.integers(-3, 4, (11, n))).astype(dtype)  # many ties of 3 and -3
    if np.dtype(dtype).kind == "f":
        x[1, 0] = np.nan
        x[2, n - 1] = np.nan
        x[3, [2500, 17]] = np.nan
        x[4, :] = np.nan
        x[5, [100, 4000]] = np.inf
        x[5, [7, 4100]] = -np.inf
        x[6, 4095] = np.nan
    x[7, n - 1] = 9
    x[7, n - 2] = -9
    x[8, :] = 1  # all equal: index 0 for both
    x[9, 4096:] = 3
    x[9, :4096] = 0
    x[10, :] = 0
    if np.dtype(dtype).kind == "f":
        x[10, 1::2] = -0.0  # -0.0 == 0.0: a tie, index 0 for both
    return x


@cuda
@pytest.mark.parametrize("dtype", [F32, F64, np.int32, np.int64], ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("op", ["argmax", "argmin"])
def test_arg_reduce_ties_and_nan_long_rows(gpu, op, dtype):
    x = _arg_rows(dtype)
    # the block-per-row path (n >= 4096, few rows), the rows as columns (strided path), and
    # a shorter row length (a warp per row)
    for data, axis in [(x, 1), (np.ascontiguousarray(x.T), 0), (x[:, :3000].copy(), 1)]:
        got = cb.arg_reduce(op, up(data), axis).numpy()
        np.testing.assert_array_equal(got, getattr(np, op)(data, axis=axis),
                                      err_msg=f"shape {data.shape} axis {axis}")
    # through the nabi API (int64 result)
    got = getattr(nabi, op)(nabi.constant(x), axis=1)
    assert on_gpu(got) and got.numpy().dtype == np.int64
    np.testing.assert_array_equal(got.numpy(), getattr(np, op)(x, axis=1))


@cuda
@pytest.mark.parametrize("op", ["argmax", "argmin"])
def test_arg_reduce_bool_long_rows(gpu, op):
    x = np.zeros((4, 5000), np.bool_)
    x[1, [4999]] = True
    x[2, [3, 4097]] = True
    x[3, :] = True
    x[3, 4200] = False
    np.testing.assert_array_equal(cb.arg_reduce(op, up(x), 1).numpy(), getattr(np, op)(x, 1))


# ======================================================================================
# 6. scatter_add and the gradient of gather with many duplicate indices
# ======================================================================================
@cuda
@pytest.mark.parametrize("dtype", [F32, F64], ids=["f32", "f64"])
@pytest.mark.parametrize("ushape,axis", [((2000,), 0), ((2000, 5), 0), ((4, 2000, 3), 1)],
                         ids=str)
def test_scatter_add_2000_duplicates_into_3(gpu, dtype, ushape, axis):
    r = np.random.default_rng(11)
    u = r.standard_normal(ushape).astype(dtype)
    for idt in (np.int32, np.int64):
        idx = np.asarray(r.integers(-3, 3, 2000)).astype(idt)  # negatives count from the end
        got = cb.scatter_add(up(u), up(idx), axis, 3).numpy()
        want = np.zeros(ushape[:axis] + (3,) + ushape[axis + 1:])
        np.add.at(want, (slice(None),) * axis + (idx,), u.astype(F64))
        t = dict(rtol=1e-5, atol=1e-4) if dtype == F32 else dict(rtol=1e-10, atol=1e-11)
        assert got.dtype == np.dtype(dtype)
        np.testing.assert_allclose(got, want, **t)


@cuda
@pytest.mark.parametrize("axis", [0, 1])
def test_gather_gradient_many_duplicates_float64(gpu, axis):
    r = np.random.default_rng(12)
    p = r.standard_normal((3, 4) if axis == 0 else (4, 3))
    idx = np.asarray(r.integers(0, 3, 2000))
    idx[:700] = 1  # one row takes a third of the updates
    out_shape = (2000, 4) if axis == 0 else (4, 2000)
    g = r.standard_normal(out_shape)
    v = nabi.Variable(p)
    with nabi.GradientTape() as tape:
        y = nabi.gather(v, nabi.constant(idx), axis=axis)
        loss = nabi.reduce_sum(y * nabi.constant(g))
    dp = tape.gradient(loss, v)
    assert on_gpu(y)
    np.testing.assert_array_equal(y.numpy(), np.take(p, idx, axis=axis))
    want = np.zeros_like(p)
    np.add.at(want, (slice(None),) * axis + (idx,), g)
    dp = dp.numpy() if hasattr(dp, "numpy") else np.asarray(dp)
    np.testing.assert_allclose(dp, want, rtol=1e-10, atol=1e-11)


# ======================================================================================
# 7. Optimizers over more variables than one fused launch takes (48)
# ======================================================================================
def _opt_vars(r):
    shapes = [(int(r.integers(1, 6)),) if i % 3 else (int(r.integers(1, 4)), int(r.integers(1, 5)))
              for i in range(60)]
    dtypes = [F64 if i % 7 == 0 else F32 for i in range(60)]
    # The binding updates the float32 and the float64 lists separately, 48 non-empty tensors
    # per launch: the 48th float32 variable is empty (skipped), so the first launch's last
    # table entry is the next one, which spans two 4096-element blocks.
    f32 = [i for i in range(60) if dtypes[i] == F32]
    shapes[f32[47]] = (0,)
    shapes[f32[48]] = (4099,)
    return [r.standard_normal(s).astype(dt) for s, dt in zip(shapes, dtypes)]


def _np_sgd(p, gs, lr, mu, nesterov):
    p = [a.astype(F64) for a in p]
    m = [np.zeros_like(a) for a in p]
    for g in gs:
        for i in range(len(p)):
            gi = g[i].astype(F64)
            if mu:
                m[i] = mu * m[i] - lr * gi
                p[i] += mu * m[i] - lr * gi if nesterov else m[i]
            else:
                p[i] -= lr * gi
    return p


def _np_adam(p, gs, lr, b1, b2, eps):
    p = [a.astype(F64) for a in p]
    m = [np.zeros_like(a) for a in p]
    v = [np.zeros_like(a) for a in p]
    for t, g in enumerate(gs, start=1):
        alpha = lr * math.sqrt(1 - b2 ** t) / (1 - b1 ** t)
        for i in range(len(p)):
            gi = g[i].astype(F64)
            m[i] += (gi - m[i]) * (1 - b1)
            v[i] += (gi * gi - v[i]) * (1 - b2)
            p[i] -= m[i] * alpha / (np.sqrt(v[i]) + eps)
    return p


@cuda
@pytest.mark.parametrize("kind", ["adam", "sgd_momentum", "sgd_nesterov", "sgd"])
def test_optimizer_60_variables_two_steps(gpu, kind):
    r = np.random.default_rng(13)
    p0 = _opt_vars(r)
    grads = [[r.standard_normal(a.shape).astype(a.dtype) for a in p0] for _ in range(2)]
    O = nabi.keras.optimizers
    # The learning rate is a float32 variable (as in Keras): the reference uses its value.
    if kind == "adam":
        opt = O.Adam(learning_rate=0.01, beta_1=0.9, beta_2=0.999, epsilon=1e-7)
        want = _np_adam(p0, grads, float(F32(0.01)), 0.9, 0.999, 1e-7)
    else:
        mu = 0.0 if kind == "sgd" else 0.9
        opt = O.SGD(learning_rate=0.05, momentum=mu, nesterov=kind == "sgd_nesterov")
        want = _np_sgd(p0, grads, float(F32(0.05)), mu, kind == "sgd_nesterov")
    vs = [nabi.Variable(a) for a in p0]
    assert all(on_gpu(v) for v in vs)
    for g in grads:
        opt.apply_gradients([(nabi.constant(gi), v) for gi, v in zip(g, vs)])
    bad = []
    for i, (v, w) in enumerate(zip(vs, want)):
        got = v.numpy()
        t = dict(rtol=1e-5, atol=1e-6) if got.dtype == F32 else dict(rtol=1e-10, atol=1e-12)
        if got.dtype != p0[i].dtype or not np.allclose(got, w, **t):
            bad.append(i)
    assert not bad, f"variables {bad} of 60 differ from the NumPy update"


# ======================================================================================
# 8. Recurrent layers: GPU against the CPU path
# ======================================================================================
RNN_LAYERS = {
    "lstm": lambda gb, rs, dt: nabi.keras.layers.LSTM(6, go_backwards=gb, return_sequences=rs,
                                                      return_state=True, dtype=dt),
    "gru_reset_after": lambda gb, rs, dt: nabi.keras.layers.GRU(
        6, go_backwards=gb, return_sequences=rs, return_state=True, reset_after=True, dtype=dt),
    "gru_reset_before": lambda gb, rs, dt: nabi.keras.layers.GRU(
        6, go_backwards=gb, return_sequences=rs, return_state=True, reset_after=False, dtype=dt),
    "simple_rnn": lambda gb, rs, dt: nabi.keras.layers.SimpleRNN(
        6, go_backwards=gb, return_sequences=rs, return_state=True, dtype=dt),
}
RNN_KERNEL = {"lstm": "lstm", "gru_reset_after": "gru", "gru_reset_before": "gru",
              "simple_rnn": "simple_rnn"}


@cuda
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("return_sequences", [False, True], ids=["last", "seq"])
@pytest.mark.parametrize("go_backwards", [False, True], ids=["fwd", "bwd"])
@pytest.mark.parametrize("name", list(RNN_LAYERS))
def test_rnn_layers_gpu_match_cpu(gpu, monkeypatch, name, go_backwards, return_sequences,
                                  dtype):
    """CPU vs GPU with the same weights: outputs, final states and the gradients of the input,
    the initial state and every weight. The CPU path is tested against NumPy references in
    tests/test_rnn.py (tests/reference_rnn.py), so agreement here checks the fused CUDA
    kernels (csrc/cuda/rnn.cu) at the layer level."""
    calls = []
    for suffix in ("_forward", "_backward"):
        kname = RNN_KERNEL[name] + suffix
        orig = getattr(dev_mod.gpu_kernels, kname)
        monkeypatch.setattr(dev_mod.gpu_kernels, kname,
                            lambda *a, _o=orig, _k=kname, **k: calls.append(_k) or _o(*a, **k))
    r = np.random.default_rng(14)
    x = r.standard_normal((3, 5, 4)).astype(dtype)
    h0 = (r.standard_normal((3, 6)) * 0.5).astype(dtype)

    def run(device, weights=None):
        with nabi.device(device):
            layer = RNN_LAYERS[name](go_backwards, return_sequences, dtype)
            xt, ht = nabi.constant(x), nabi.constant(h0)
            init = [ht, ht * 0.5] if name == "lstm" else [ht]
            layer(xt, initial_state=init)  # build
            if weights is not None:
                layer.set_weights(weights)
            with nabi.GradientTape() as tape:
                tape.watch(xt)
                tape.watch(ht)
                init = [ht, ht * 0.5] if name == "lstm" else [ht]
                outs = layer(xt, initial_state=init)
                loss = sum(nabi.reduce_sum(o * o * (k + 1.0)) for k, o in enumerate(outs))
            grads = tape.gradient(loss, [xt, ht] + list(layer.trainable_weights))
            assert all(on_gpu(o) == (device != "cpu") for o in outs)
            return (layer.get_weights(), [o.numpy() for o in outs],
                    [g.numpy() for g in grads])

    w, out_c, grad_c = run("cpu")
    calls.clear()
    _, out_g, grad_g = run("/GPU:0", w)
    assert RNN_KERNEL[name] + "_forward" in calls and RNN_KERNEL[name] + "_backward" in calls
    t = dict(rtol=1e-4, atol=1e-5) if dtype == "float32" else dict(rtol=1e-10, atol=1e-12)
    for k, (a, b) in enumerate(zip(out_g, out_c)):
        assert a.dtype == np.dtype(dtype)
        np.testing.assert_allclose(a, b, err_msg=f"output {k}", **t)
    names = ["x", "h0"] + [f"weight {k}" for k in range(len(grad_c) - 2)]
    for n, a, b in zip(names, grad_g, grad_c):
        np.testing.assert_allclose(a, b, err_msg="gradient of " + n, **t)
