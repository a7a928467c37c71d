"""nabi._C.matmul / gemm_into against NumPy (float64 np.matmul as the independent reference).

Covers all four transpose cases, float32 and float64, degenerate / prime / tall-skinny / MLP
shapes, the threaded path, batched 3-D with broadcasting, beta == 0 ignoring NaN in out, every
GEMM ISA this CPU supports (switched in-process with _C._gemm_force_isa, and once through the
NABI_GEMM_ISA environment variable in a subprocess), argument errors, and a Hypothesis
property test over random small shapes.

    tools/dev-build.sh && PYTHONPATH=python python3 -m pytest tests/test_gemm_kernel.py -q
"""
import math
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nabi import _C

RNG = np.random.default_rng(1234)
DTYPES = [np.float32, np.float64]


def supported_isas():
    start = _C.gemm_isa()  # the best one, or what NABI_GEMM_ISA asked for
    isas = [name for name in ("portable", "avx2", "avx512") if _C._gemm_force_isa(name) == name]
    best = _C._gemm_force_isa("unknown-name")  # falls back to the best one
    _C._gemm_force_isa(start)
    assert _C.gemm_isa() == start and start in isas and best == isas[-1]
    assert ("avx2" in isas) == (_C.cpu_has("avx2") and _C.cpu_has("fma"))
    if not _C.cpu_has("avx512f"):
        assert "avx512" not in isas
    return isas


ISAS = supported_isas()
DEFAULT_ISA = _C.gemm_isa()


@pytest.fixture(params=ISAS)
def isa(request):
    got = _C._gemm_force_isa(request.param)
    assert got == request.param
    yield got
    _C._gemm_force_isa(DEFAULT_ISA)


def operands(M, N, K, ta, tb, dtype, batch_a=None, batch_b=None):
    sa = (K, M) if ta else (M, K)
    sb = (N, K) if tb else (K, N)
    if batch_a is not None:
        sa = (batch_a,) + sa
    if batch_b is not None:
        sb = (batch_b,) + sb
    a = RNG.standard_normal(sa).astype(dtype)
    b = RNG.standard_normal(sb).astype(dtype)
    return a, b


def reference(a, b, ta, tb):
    a64 = np.swapaxes(a, -1, -2).astype(np.float64) if ta else a.astype(np.float64)
    b64 = np.swapaxes(b, -1, -2).astype(np.float64) if tb else b.astype(np.float64)
    return np.matmul(a64, b64)


def assert_close(out, ref, K, dtype):
    assert out.dtype == dtype
    assert out.shape == ref.shape
    assert out.flags.c_contiguous
    if dtype == np.float32:
        np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-4 * math.sqrt(max(K, 1)))
    else:
        np.testing.assert_allclose(out, ref, rtol=1e-10, atol=1e-10 * math.sqrt(max(K, 1)))


def check(M, N, K, ta, tb, dtype, **batch):
    a, b = operands(M, N, K, ta, tb, dtype, **batch)
    out = _C.matmul(a, b, transpose_a=ta, transpose_b=tb)
    assert_close(out, reference(a, b, ta, tb), K, dtype)


TRANSPOSES = [(False, False), (True, False), (False, True), (True, True)]
SHAPES = [  # (M, N, K)
    (1, 1, 1),
    (0, 3, 4), (3, 0, 4), (3, 4, 0), (0, 0, 0),
    (7, 13, 5), (63, 65, 129), (72, 73, 74),
    (1, 1000, 1), (1000, 1, 1), (1, 1, 1000), (1000, 1000, 1), (1, 1000, 1000),
    (5, 17, 300), (13, 6, 16), (6, 16, 257), (12, 32, 1),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ta,tb", TRANSPOSES)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_shapes_every_isa(isa, shape, ta, tb, dtype):
    check(*shape, ta, tb, dtype)


# MNIST-MLP forward and backward shapes: X@W, dY@W^T, X^T@dY; and a threaded prime-ish size.
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ta,tb", TRANSPOSES)
@pytest.mark.parametrize(
    "shape", [(100, 256, 784), (100, 784, 256), (784, 256, 100), (100, 10, 256), (257, 263, 511)],
    ids=lambda s: "x".join(map(str, s)))
def test_large_every_isa(isa, shape, ta, tb, dtype):
    check(*shape, ta, tb, dtype)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", DTYPES)
def test_threaded_large(threads, dtype):
    old = _C.get_num_threads()
    try:
        _C.set_num_threads(threads)
        for ta, tb in TRANSPOSES:
            check(257, 263, 511, ta, tb, dtype)
        check(520, 300, 600, False, False, dtype)  # several M and K blocks
        check(3, 700, 900, False, True, dtype)  # too few rows: N split between threads
    finally:
        _C.set_num_threads(old)


def test_big_k_blocks():
    # K spans several KC blocks and N several NR panels with a ragged edge.
    check(37, 45, 1100, False, False, np.float64)
    check(37, 45, 1100, True, True, np.float32)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ta,tb", TRANSPOSES)
def test_batched(ta, tb, dtype):
    check(5, 7, 3, ta, tb, dtype, batch_a=4, batch_b=4)
    check(5, 7, 3, ta, tb, dtype, batch_a=1, batch_b=4)
    check(5, 7, 3, ta, tb, dtype, batch_a=4, batch_b=1)
    check(40, 30, 20, ta, tb, dtype, batch_a=6, batch_b=6)
    check(130, 140, 150, ta, tb, dtype, batch_a=2, batch_b=1)  # big: threaded per matrix
    check(5, 7, 3, ta, tb, dtype, batch_a=3)  # 3-D @ 2-D broadcasts the 2-D operand
    check(5, 7, 3, ta, tb, dtype, batch_b=3)
    check(5, 7, 3, ta, tb, dtype, batch_a=0, batch_b=0)


def test_values_exact_small():
    a = np.array([[1.0, 2.0], [3.0, 4.0]], dtype=np.float32)
    b = np.array([[5.0, 6.0], [7.0, 8.0]], dtype=np.float32)
    np.testing.assert_array_equal(_C.matmul(a, b), [[19, 22], [43, 50]])
    np.testing.assert_array_equal(_C.matmul(a, b, transpose_a=True), a.T @ b)
    np.testing.assert_array_equal(_C.matmul(a, b, transpose_b=True), a @ b.T)


def test_nan_propagates_from_inputs():
    a = np.ones((8, 20), np.float32)
    a[3, 7] = np.nan
    out = _C.matmul(a, np.ones((20, 30), np.float32))
    assert np.isnan(out[3]).all()
    assert np.isfinite(np.delete(out, 3, axis=0)).all()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(7, 13, 5), (100, 256, 784), (257, 263, 511), (3, 4, 0)])
def test_gemm_into(isa, shape, dtype):
    M, N, K = shape
    for ta, tb in TRANSPOSES:
        a, b = operands(M, N, K, ta, tb, dtype)
        ref = reference(a, b, ta, tb)
        # beta == 0 ignores whatever out holds, NaN included.
        out = np.full((M, N), np.nan, dtype=dtype)
        assert _C.gemm_into(a, b, out, ta, tb) is out
        assert_close(out, ref, K, dtype)
        out = np.full((M, N), np.nan, dtype=dtype)
        _C.gemm_into(a, b, out, ta, tb, alpha=-0.5, beta=0.0)
        assert_close(out, -0.5 * ref, K, dtype)
        # General alpha / beta; beta == 1 accumulates (weight-gradient accumulation).
        c0 = RNG.standard_normal((M, N)).astype(dtype)
        for alpha, beta in [(1.0, 1.0), (2.0, -0.75), (0.0, 3.0)]:
            out = c0.copy()
            _C.gemm_into(a, b, out, ta, tb, alpha=alpha, beta=beta)
            assert_close(out, alpha * ref + beta * c0.astype(np.float64), K, dtype)


def test_gemm_into_batched_and_errors():
    a, b = operands(5, 6, 7, False, False, np.float64, batch_a=3, batch_b=1)
    out = np.full((3, 5, 6), np.nan)
    _C.gemm_into(a, b, out)
    assert_close(out, reference(a, b, False, False), 7, np.float64)
    with pytest.raises(ValueError, match=r"^\[gemm_into\] out has shape"):
        _C.gemm_into(a, b, np.zeros((3, 5, 7)))
    with pytest.raises(TypeError, match=r"^\[gemm_into\]"):
        _C.gemm_into(a, b, np.zeros((3, 5, 6), np.float32))
    with pytest.raises(ValueError, match=r"^\[gemm_into\] out must be C-contiguous"):
        _C.gemm_into(a, b, np.zeros((3, 6, 5)).transpose(0, 2, 1))
    ro = np.zeros((3, 5, 6))
    ro.flags.writeable = False
    with pytest.raises(ValueError, match=r"^\[gemm_into\] out is read-only"):
        _C.gemm_into(a, b, ro)
    sq = np.ones((4, 4))
    with pytest.raises(ValueError, match=r"^\[gemm_into\] out overlaps"):
        _C.gemm_into(sq, np.ones((4, 4)), sq)


def test_errors():
    f32 = np.ones((3, 4), np.float32)
    with pytest.raises(TypeError, match=r"^\[matmul\] a and b dtypes differ"):
        _C.matmul(f32, np.ones((4, 2), np.float64))
    with pytest.raises(TypeError, match=r"^\[matmul\] a must be float32 or float64, got int64"):
        _C.matmul(np.ones((3, 4), np.int64), np.ones((4, 2), np.int64))
    with pytest.raises(TypeError, match=r"^\[matmul\] b must be float32 or float64, got int32"):
        _C.matmul(f32, np.ones((4, 2), np.int32))
    with pytest.raises(ValueError, match=r"^\[matmul\] a must be 2-D or 3-D, got shape \(4,\)"):
        _C.matmul(np.ones(4, np.float32), np.ones((4, 2), np.float32))
    with pytest.raises(ValueError, match=r"^\[matmul\] b must be 2-D or 3-D"):
        _C.matmul(f32, np.ones((1, 1, 4, 2), np.float32))
    with pytest.raises(ValueError,
                       match=r"^\[matmul\] inner dimensions differ: \(3, 4\) @ \(5, 2\)"):
        _C.matmul(f32, np.ones((5, 2), np.float32))
    with pytest.raises(ValueError, match=r"^\[matmul\] inner dimensions differ"):
        _C.matmul(f32, np.ones((4, 2), np.float32), transpose_a=True)
    with pytest.raises(ValueError, match=r"^\[matmul\] a must be C-contiguous"):
        _C.matmul(np.ones((4, 3), np.float32).T, np.ones((4, 2), np.float32))
    with pytest.raises(ValueError, match=r"^\[matmul\] b must be C-contiguous"):
        _C.matmul(f32, np.ones((4, 4), np.float32)[:, ::2])
    with pytest.raises(ValueError, match=r"^\[matmul\] batch sizes differ"):
        _C.matmul(np.ones((2, 3, 4)), np.ones((3, 4, 5)))


def test_isa_names():
    assert _C.gemm_isa() in ("avx512", "avx2", "portable")
    try:
        # An ISA the CPU lacks (or an unknown name) falls back to the best one available.
        if "avx512" not in ISAS:
            assert _C._gemm_force_isa("avx512") == ISAS[-1]
        assert _C._gemm_force_isa("no-such-isa") == ISAS[-1]
        assert _C._gemm_force_isa("portable") == "portable"
    finally:
        _C._gemm_force_isa(DEFAULT_ISA)


@pytest.mark.parametrize("name", ISAS + ["avx512", "bogus"])
def test_env_var_selects_isa(name):
    code = (
        "import numpy as np; from nabi import _C; print(_C.gemm_isa());"
        "a = np.random.default_rng(0).standard_normal((70, 90));"
        "b = np.random.default_rng(1).standard_normal((90, 50));"
        "assert np.allclose(_C.matmul(a, b), a @ b, rtol=1e-12, atol=1e-12)")
    env = dict(os.environ, NABI_GEMM_ISA=name)
    res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=60)
    assert res.returncode == 0, res.stderr
    expected = name if name in ISAS else ISAS[-1]
    assert res.stdout.strip() == expected


@settings(max_examples=60, deadline=None)
@given(M=st.integers(0, 40), N=st.integers(0, 40), K=st.integers(0, 40),
       ta=st.booleans(), tb=st.booleans(), f64=st.booleans(),
       batch=st.sampled_from([None, (1, 3), (3, 1), (2, 2)]))
def test_property_random_shapes(M, N, K, ta, tb, f64, batch):
    dtype = np.float64 if f64 else np.float32
    kw = {} if batch is None else {"batch_a": batch[0], "batch_b": batch[1]}
    check(M, N, K, ta, tb, dtype, **kw)
