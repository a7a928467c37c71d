"""The GPU sort (csrc/cuda/sort.cu, nabi._C.cuda_backend.sort) and the ops on it: tf.sort,
tf.argsort, tf.math.top_k, against independent NumPy references.

The tie rule (TF's DESCENDING sort is top_k): equal elements keep ascending index order in
both directions; NaN is larger than every number (last ascending, first descending); -0.0
equals +0.0. The descending reference ranks the values with np.unique (NaNs collapse to one
value above the others) and stable-sorts the negated ranks, so it never negates a value.

Kernel tests take the `backend` fixture ("cuda": the real module, which is the host simulator
under NABI_TEST_PACKAGE_DIR=build/sim/pkg and skips without a GPU otherwise; "emu": the NumPy
emulator). Op tests take conftest's `where` / `gpu` fixtures (CPU, emulated GPU, real GPU).
"""
import numpy as np
import pytest

import nabi
from nabi import _C

cb = _C.cuda_backend
DTYPES = [np.float32, np.float64, np.int32, np.int64]
LENGTHS = [1, 2, 3, 1000, 5000]


# (the `backend` fixture, the kernel module or its emulator, is conftest.py's)


# ---------------------------------------------------------------- references
def ref_order(a, descending):
    """Row-wise order of the last axis (int64), with the tie rule above."""
    a = np.asarray(a)
    if not descending:
        return np.argsort(a, axis=-1, kind="stable")
    flat = a.reshape(-1, a.shape[-1]) if a.shape[-1] else a.reshape(-1, 0)
    out = np.empty(flat.shape, np.int64)
    for r, row in enumerate(flat):
        _, rank = np.unique(row, return_inverse=True)   # 0.0 == -0.0; every NaN one top rank
        out[r] = np.argsort(-rank.reshape(-1), kind="stable")
    return out.reshape(a.shape)


def ref_sort(a, descending, k=None):
    order = ref_order(a, descending)
    if k is not None:
        order = order[..., :k]
    return np.take_along_axis(np.asarray(a), order, axis=-1), order


def data(rng, shape, dtype, nan=True):
    """Many ties (a small range of values), and for floats NaN, -0.0, +-inf; for ints the
    extremes of the type."""
    dtype = np.dtype(dtype)
    a = rng.integers(-4, 5, size=shape).astype(dtype)
    n = a.size
    if n >= 4:
        flat = a.reshape(-1)
        pick = rng.choice(n, size=min(n, 8), replace=False)
        if dtype.kind == "f":
            specials = [-0.0, 0.0, np.inf, -np.inf] + ([np.nan] * 4 if nan else [1.5] * 4)
        else:
            info = np.iinfo(dtype)
            specials = [info.min, info.max, info.min, info.max, 0, -1, info.min + 1, 1]
        flat[pick] = np.array(specials[:len(pick)], dtype)
    return a


def same(got, want):
    """Exact: same shape and dtype, the same values (NaN where NaN; -0.0 and +0.0 distinct)."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, (got.shape, want.shape)
    assert got.dtype == want.dtype, (got.dtype, want.dtype)
    if got.dtype.kind == "f":
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
        np.testing.assert_array_equal(np.signbit(got), np.signbit(want))
    np.testing.assert_array_equal(got, want)


def run(backend, a, descending=False, k=-1, index_dtype="int64"):
    v, i = backend.sort(backend.DeviceBuffer.from_numpy(np.ascontiguousarray(a)), descending, k,
                        index_dtype)
    return v.numpy(), i.numpy()


# ---------------------------------------------------------------- the kernel
def test_sort_is_registered():
    assert "sort" in list(cb.KERNEL_ENTRIES)
    if not cb.built_with_cuda:
        with pytest.raises(RuntimeError, match=r"\[sort\] has no CUDA implementation"):
            cb.sort(None)


@pytest.mark.parametrize("n", LENGTHS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("descending", [False, True], ids=["asc", "desc"])
def test_kernel_rows_match_numpy(backend, n, dtype, descending):
    rng = np.random.default_rng(n)
    rows = 2 if n >= 1000 else 5
    a = data(rng, (rows, n), dtype)
    v, i = run(backend, a, descending)
    wv, wi = ref_sort(a, descending)
    same(i, wi)
    same(v, wv)


@pytest.mark.parametrize("n", [255, 256, 257, 2047, 2048, 2049, 4096])
def test_kernel_block_size_boundaries(backend, n):
    """The shared-memory limits (256 and 2048 elements) and the padded multi-launch path."""
    rng = np.random.default_rng(7)
    a = data(rng, (2, n), np.float32)
    for descending in (False, True):
        v, i = run(backend, a, descending)
        wv, wi = ref_sort(a, descending)
        same(i, wi)
        same(v, wv)


@pytest.mark.parametrize("dtype", [np.int32, np.int64])
def test_kernel_integer_extremes_and_all_ties(backend, dtype):
    info = np.iinfo(dtype)
    a = np.array([[info.max, info.min, 0, info.min, -1, info.max, 1],
                  [3, 3, 3, 3, 3, 3, 3]], dtype)
    for descending in (False, True):
        v, i = run(backend, a, descending)
        wv, wi = ref_sort(a, descending)
        same(i, wi)
        same(v, wv)
    _, i = run(backend, a, True)
    np.testing.assert_array_equal(i[0], [0, 5, 6, 2, 4, 1, 3])   # ties in index order
    np.testing.assert_array_equal(i[1], np.arange(7))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kernel_nan_zero_inf(backend, dtype):
    a = np.array([[np.nan, 1.0, -0.0, np.inf, 0.0, -np.inf, np.nan, -0.0, 1.0]], dtype)
    v, i = run(backend, a, False)
    np.testing.assert_array_equal(i[0], [5, 2, 4, 7, 1, 8, 3, 0, 6])
    same(v, a[:, i[0]])
    v, i = run(backend, a, True)
    np.testing.assert_array_equal(i[0], [0, 6, 3, 1, 8, 2, 4, 7, 5])
    same(v, a[:, i[0]])


@pytest.mark.parametrize("index_dtype", ["int32", "int64"])
@pytest.mark.parametrize("k", [0, 1, 4, 9])
def test_kernel_first_k_and_index_dtype(backend, k, index_dtype):
    rng = np.random.default_rng(3)
    a = data(rng, (2, 3, 9), np.float64)
    for descending in (False, True):
        v, i = run(backend, a, descending, k, index_dtype)
        wv, wi = ref_sort(a, descending, k)
        same(i, wi.astype(index_dtype))
        same(v, wv)


@pytest.mark.parametrize("shape", [(7,), (0, 5), (4, 0), (2, 0, 3), (1, 1), (3, 1, 2)])
def test_kernel_shapes(backend, shape):
    a = np.arange(np.prod(shape), dtype=np.float32)[::-1].reshape(shape)
    v, i = run(backend, a)
    wv, wi = ref_sort(a, False)
    same(i, wi)
    same(v, wv)


def test_kernel_errors(backend):
    x = backend.DeviceBuffer.from_numpy(np.zeros((2, 3), np.float32))
    with pytest.raises(TypeError, match=r"\[sort\].*bool"):
        backend.sort(backend.DeviceBuffer.from_numpy(np.zeros((3,), bool)))
    with pytest.raises(ValueError, match=r"\[sort\].*rank >= 1"):
        backend.sort(backend.DeviceBuffer.from_numpy(np.zeros((), np.float32)))
    with pytest.raises(ValueError, match=r"\[sort\] k=4 must be in \[0, 3\].*\(2, 3\)"):
        backend.sort(x, False, 4)
    with pytest.raises(ValueError, match=r"\[sort\] k=-2"):
        backend.sort(x, False, -2)
    with pytest.raises(TypeError, match=r"\[sort\] index_dtype must be int32 or int64"):
        backend.sort(x, False, -1, "float32")
    with pytest.raises(ValueError, match=r"\[sort\] unknown dtype"):
        backend.sort(x, False, -1, "int8")


# ---------------------------------------------------------------- tf.sort / argsort / top_k
def on(where, fn, *arrays):
    with nabi.device(where):
        ts = [nabi.constant(a) for a in arrays]
        return fn(*ts)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("direction", ["ASCENDING", "DESCENDING"])
def test_sort_argsort_ops(where, dtype, direction):
    rng = np.random.default_rng(11)
    a = data(rng, (3, 4, 37), dtype)
    desc = direction == "DESCENDING"
    for axis in (-1, 0, 1, 2, -2):
        s = on(where, lambda t: nabi.sort(t, axis=axis, direction=direction), a)
        i = on(where, lambda t: nabi.argsort(t, axis=axis, direction=direction), a)
        wv, wi = ref_sort(np.moveaxis(a, axis, -1), desc)
        same(s.numpy(), np.moveaxis(wv, -1, axis))
        same(i.numpy(), np.moveaxis(wi, -1, axis).astype(np.int32))
        if "GPU" in where:
            assert "GPU" in s.device and "GPU" in i.device


def test_sort_long_rows_and_lengths(where):
    rng = np.random.default_rng(5)
    for n in LENGTHS:
        a = data(rng, (2, n), np.float32)
        for direction in ("ASCENDING", "DESCENDING"):
            s = on(where, lambda t: nabi.sort(t, direction=direction), a)
            same(s.numpy(), ref_sort(a, direction == "DESCENDING")[0])


def test_argsort_descending_lowest_integer(where):
    """-x overflowed for the most negative integer (it stayed the most negative)."""
    for dtype in (np.int32, np.int64):
        lo = np.iinfo(dtype).min
        a = np.array([lo, 5, lo, 7, -1], dtype)
        i = on(where, lambda t: nabi.argsort(t, direction="DESCENDING"), a)
        np.testing.assert_array_equal(i.numpy(), [3, 1, 4, 0, 2])
        s = on(where, lambda t: nabi.sort(t, direction="DESCENDING"), a)
        np.testing.assert_array_equal(s.numpy(), [7, 5, -1, lo, lo])


def test_sort_errors(where):
    with pytest.raises(ValueError, match=r"\[sort\].*scalar"):
        on(where, nabi.sort, np.float32(1))
    with pytest.raises(ValueError, match=r"\[sort\] direction"):
        on(where, lambda t: nabi.sort(t, direction="UP"), np.zeros(3, np.float32))
    with pytest.raises(ValueError, match=r"\[argsort\] axis 2 is out of range.*\(2, 3\)"):
        on(where, lambda t: nabi.argsort(t, axis=2), np.zeros((2, 3), np.float32))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("index_type", ["int32", "int64"])
def test_top_k_ops(where, dtype, index_type):
    rng = np.random.default_rng(2)
    a = data(rng, (2, 3, 40), dtype)
    for k in (0, 1, 7, 40):
        v, i = on(where, lambda t: nabi.math.top_k(t, k=k, index_type=getattr(nabi, index_type)),
                  a)
        wv, wi = ref_sort(a, True, k)
        same(i.numpy(), wi.astype(index_type))
        same(v.numpy(), wv)
        if "GPU" in where:
            assert "GPU" in v.device and "GPU" in i.device


def test_top_k_long_row(where):
    rng = np.random.default_rng(9)
    a = data(rng, (2, 5000), np.float64)
    v, i = on(where, lambda t: nabi.math.top_k(t, k=100), a)
    wv, wi = ref_sort(a, True, 100)
    same(i.numpy(), wi.astype(np.int32))
    same(v.numpy(), wv)


# ---------------------------------------------------------------- gradients
@pytest.mark.parametrize("direction", ["ASCENDING", "DESCENDING"])
@pytest.mark.parametrize("axis", [-1, 1])
def test_sort_gradient(where, direction, axis):
    rng = np.random.default_rng(4)
    x = rng.integers(-3, 4, size=(3, 6, 5)).astype(np.float64)   # ties on purpose
    c = rng.normal(size=x.shape)
    with nabi.device(where):
        xv = nabi.Variable(x)
        with nabi.GradientTape() as tape:
            y = nabi.reduce_sum(nabi.sort(xv, axis=axis, direction=direction) * nabi.constant(c))
        g = tape.gradient(y, xv)
    order = ref_order(np.moveaxis(x, axis, -1), direction == "DESCENDING")
    want = np.zeros(order.shape)
    np.put_along_axis(want, order, np.moveaxis(c, axis, -1), axis=-1)
    np.testing.assert_allclose(g.numpy(), np.moveaxis(want, -1, axis), rtol=0, atol=1e-12)


@pytest.mark.parametrize("k", [1, 3, 8])
def test_top_k_gradient(where, k):
    rng = np.random.default_rng(6)
    x = rng.integers(-2, 3, size=(4, 8)).astype(np.float32)
    c = rng.normal(size=(4, k)).astype(np.float32)
    with nabi.device(where):
        xv = nabi.Variable(x)
        with nabi.GradientTape() as tape:
            y = nabi.reduce_sum(nabi.math.top_k(xv, k=k).values * nabi.constant(c))
        g = tape.gradient(y, xv)
    order = ref_order(x, True)[:, :k]
    want = np.zeros(x.shape, np.float32)
    np.put_along_axis(want, order, c, axis=-1)
    np.testing.assert_allclose(g.numpy(), want, rtol=0, atol=1e-6)


def test_sort_gradient_finite_differences(where):
    """Without ties the sort is locally a permutation: central differences agree."""
    rng = np.random.default_rng(8)
    x = rng.permutation(24).astype(np.float64).reshape(4, 6) / 7.0
    c = rng.normal(size=x.shape)

    def f(v):
        with nabi.device(where):
            return float(nabi.reduce_sum(nabi.sort(nabi.constant(v), axis=0,
                                                   direction="DESCENDING") * c).numpy())
    with nabi.device(where):
        xv = nabi.Variable(x)
        with nabi.GradientTape() as tape:
            y = nabi.reduce_sum(nabi.sort(xv, axis=0, direction="DESCENDING") * nabi.constant(c))
        g = tape.gradient(y, xv).numpy()
    eps = 1e-6
    num = np.zeros_like(x)
    for idx in np.ndindex(*x.shape):
        d = np.zeros_like(x)
        d[idx] = eps
        num[idx] = (f(x + d) - f(x - d)) / (2 * eps)
    np.testing.assert_allclose(g, num, rtol=1e-3, atol=1e-5)


# ---------------------------------------------------------------- CPU and GPU agree
def test_cpu_and_gpu_agree(gpu):
    rng = np.random.default_rng(10)
    for dtype in DTYPES:
        a = data(rng, (3, 300), dtype)
        for direction in ("ASCENDING", "DESCENDING"):
            got = {}
            for dev in ("/CPU:0", "/GPU:0"):
                with nabi.device(dev):
                    t = nabi.constant(a)
                    got[dev] = (nabi.sort(t, direction=direction).numpy(),
                                nabi.argsort(t, axis=0, direction=direction).numpy(),
                                [r.numpy() for r in nabi.math.top_k(t, k=17)])
            same(got["/CPU:0"][0], got["/GPU:0"][0])
            same(got["/CPU:0"][1], got["/GPU:0"][1])
            same(got["/CPU:0"][2][0], got["/GPU:0"][2][0])
            same(got["/CPU:0"][2][1], got["/GPU:0"][2][1])
