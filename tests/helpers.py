"""Assertions shared by the op tests: shape, then dtype, then values (MLX style)."""
import numpy as np
import pytest

import nabi


def assert_array(actual, expected, rtol=1e-4, atol=1e-5, dtype=None):
    a = actual.numpy() if isinstance(actual, nabi.Tensor) else np.asarray(actual)
    e = np.asarray(expected)
    assert a.shape == e.shape, f"shape {a.shape} != {e.shape}"
    if dtype is not None:
        assert a.dtype == np.dtype(dtype), f"dtype {a.dtype} != {dtype}"
    np.testing.assert_allclose(a, e, rtol=rtol, atol=atol)


def on_device(where, t):
    """t (a tensor) lives on `where`'s device: a GPU for "/GPU:0", else the CPU."""
    want = "GPU" if "GPU" in where else "CPU"
    assert want in t.device, (where, t.device)


def tape_grads(f, arrays, c=None, seed=0):
    """Runs y = f(*tensors) under a tape and returns (y, grads of sum(y * c))."""
    ts = [nabi.constant(a) for a in arrays]
    with nabi.GradientTape() as tape:
        for t in ts:
            tape.watch(t)
        y = f(*ts)
        if c is None:
            c = np.random.default_rng(seed).standard_normal(y.shape).astype(y.numpy().dtype)
        loss = nabi.reduce_sum(y * nabi.constant(c))
    return y, tape.gradient(loss, ts), c


def fd_check(f, arrays, rtol=1e-3, atol=1e-5, eps=1e-6, seed=0):
    """Checks nabi's gradients of sum(f(x) * c) against float64 central differences."""
    arrays = [np.array(a, dtype=np.float64) for a in arrays]
    y, grads, c = tape_grads(f, arrays, seed=seed)

    def scalar(*xs):
        return float(np.sum(f(*[nabi.constant(x) for x in xs]).numpy() * c))
    for i, g in enumerate(grads):
        num = np.zeros_like(arrays[i])
        it = np.nditer(arrays[i], flags=["multi_index"])
        for _ in it:
            idx = it.multi_index
            old = arrays[i][idx]
            arrays[i][idx] = old + eps
            fp = scalar(*arrays)
            arrays[i][idx] = old - eps
            fm = scalar(*arrays)
            arrays[i][idx] = old
            num[idx] = (fp - fm) / (2 * eps)
        assert g is not None, f"no gradient for input {i}"
        np.testing.assert_allclose(g.numpy(), num, rtol=rtol, atol=atol,
                                   err_msg=f"gradient of input {i}")


def cpu_isas():
    """The CPU kernel ISAs this machine runs ("portable", "avx2", "avx512"), probed by forcing
    each in-process; the ISA NABI_GEMM_ISA chose is restored. [] without the CPU build."""
    from nabi import _C
    if not hasattr(_C, "_gemm_force_isa"):
        return []
    start = _C.gemm_isa()
    isas = [n for n in ("portable", "avx2", "avx512") if _C._gemm_force_isa(n) == n]
    _C._gemm_force_isa(start)
    return isas


@pytest.fixture(params=cpu_isas())
def isa(request):
    """Runs the test once per ISA in cpu_isas(), forced in-process, then restores the one
    in use before. Import it into a test module to use it."""
    from nabi import _C
    start = _C.gemm_isa()
    assert _C._gemm_force_isa(request.param) == request.param
    yield request.param
    _C._gemm_force_isa(start)
