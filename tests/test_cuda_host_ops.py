"""Ops that used to copy GPU tensors to the host, now on CUDA kernels (the inventory of
tools/gpu_host_ops.py, bench/results/gpu_host_ops.md):

  tf.math.bincount  csrc/cuda/bincount.cu      (cuda_backend.bincount)

against an independent NumPy reference (a loop over the values).

Kernel tests take the `backend` fixture ("cuda": the real module, which is the host simulator
under NABI_TEST_PACKAGE_DIR=build/sim/pkg and skips without a GPU otherwise; "emu": the NumPy
emulator). Op tests take conftest's `where` fixture (CPU, emulated GPU, real GPU or the
simulator) and compare each device with the reference (so GPU equals CPU). The copy tests
count device-to-host reads around the op: exactly on the simulator (cuda_backend._sim_stats,
as bench/launch_count.py), through DeviceArray.get on the emulator; they skip, saying why,
where neither counter exists (a real GPU).
"""
import numpy as np
import pytest

import nabi
from nabi import _C

cb = _C.cuda_backend
INT = [np.int32, np.int64]
NUM = [np.float32, np.float64, np.int32, np.int64]


@pytest.fixture(scope="module", params=["cuda", "emu"])
def backend(request):
    if request.param == "cuda":
        if not cb.is_available():
            pytest.skip("no CUDA GPU available (" + cb.unavailable_reason() + ")")
        return cb
    from nabi.framework import cuda_emulator
    return cuda_emulator


def _buf(be, a):
    return be.DeviceBuffer.from_numpy(np.array(a, order="C"))  # (0-d stays 0-d)


def _np(be, b):
    return b.numpy() if hasattr(b, "numpy") else be.to_numpy(b)


# ---------------------------------------------------------------- references
def ref_bincount(x, length, w=None, per_row=False, binary=False, dtype=np.int32):
    x = np.asarray(x)
    rows = x.reshape(x.shape[0], -1) if per_row else x.reshape(1, -1)
    ws = None if w is None else np.asarray(w).reshape(rows.shape)
    out = np.zeros((rows.shape[0], length), dtype if w is None else ws.dtype)
    for r in range(rows.shape[0]):
        for j, v in enumerate(rows[r]):
            if 0 <= v < length:
                if binary:
                    out[r, v] = 1
                else:
                    out[r, v] += 1 if ws is None else ws[r, j]
    return out if per_row else out.reshape(length)


# ---------------------------------------------------------------- bincount kernel
@pytest.mark.parametrize("xd", INT)
@pytest.mark.parametrize("od", NUM)
def test_bincount_kernel_counts(backend, xd, od, rng):
    x = rng.integers(-2, 9, (3, 40)).astype(xd)  # negatives and values >= length are skipped
    y = backend.bincount(_buf(backend, x), 7, dtype=np.dtype(od).name)
    r = _np(backend, y)
    assert r.dtype == od and r.shape == (7,)
    np.testing.assert_array_equal(r, ref_bincount(x, 7, dtype=od))


@pytest.mark.parametrize("wd", NUM)
def test_bincount_kernel_weights_per_row_binary(backend, wd, rng):
    x = rng.integers(0, 6, (4, 25)).astype(np.int64)
    w = (rng.integers(-3, 4, x.shape) * 0.5 if np.dtype(wd).kind == "f"
         else rng.integers(-3, 4, x.shape)).astype(wd)
    r = _np(backend, backend.bincount(_buf(backend, x), 6, _buf(backend, w), True))
    assert r.dtype == wd and r.shape == (4, 6)
    np.testing.assert_allclose(r, ref_bincount(x, 6, w, per_row=True), rtol=1e-6)
    b = _np(backend, backend.bincount(_buf(backend, x), 5, None, True, True, "float32"))
    np.testing.assert_array_equal(b, ref_bincount(x, 5, per_row=True, binary=True,
                                                  dtype=np.float32))


def test_bincount_kernel_empty(backend):
    e = _buf(backend, np.zeros((0,), np.int32))
    assert _np(backend, backend.bincount(e, 3)).tolist() == [0, 0, 0]
    assert _np(backend, backend.bincount(_buf(backend, np.array([1, 2], np.int32)), 0)).shape \
        == (0,)
    r = _np(backend, backend.bincount(_buf(backend, np.zeros((2, 0), np.int32)), 2, None, True))
    assert r.tolist() == [[0, 0], [0, 0]]


def test_bincount_kernel_rejects_bad_arguments(backend):
    x = _buf(backend, np.array([0, 1], np.int32))
    with pytest.raises(TypeError, match=r"\[bincount\] x must be int32 or int64"):
        backend.bincount(_buf(backend, np.array([0.0, 1.0], np.float32)), 2)
    with pytest.raises(ValueError, match=r"\[bincount\] length must be >= 0"):
        backend.bincount(x, -1)
    with pytest.raises(ValueError, match=r"\[bincount\] per_row needs a 2-D x"):
        backend.bincount(x, 2, None, True)
    with pytest.raises(ValueError, match=r"\[bincount\] x and weights shapes differ"):
        backend.bincount(x, 2, _buf(backend, np.ones(3, np.float32)))
    with pytest.raises(TypeError, match=r"\[bincount\] the result must be"):
        backend.bincount(x, 2, dtype="bool")


# ---------------------------------------------------------------- ops on every device
def test_bincount_op(where, rng):
    x = rng.integers(0, 7, (3, 12)).astype(np.int32)
    w = rng.random((3, 12)).astype(np.float32)
    with nabi.device(where):
        X, W = nabi.constant(x), nabi.constant(w)
        r = nabi.math.bincount(X)
        assert r.dtype == nabi.int32
        np.testing.assert_array_equal(r.numpy(), ref_bincount(x, int(x.max()) + 1))
        rw = nabi.math.bincount(X, weights=W, minlength=10)
        assert rw.dtype == nabi.float32 and rw.shape == (10,)
        np.testing.assert_allclose(rw.numpy(), ref_bincount(x, 10, w), rtol=1e-5)
        rm = nabi.math.bincount(X, maxlength=3, dtype=nabi.float64)
        np.testing.assert_array_equal(rm.numpy(), ref_bincount(x, 3, dtype=np.float64))
        rr = nabi.math.bincount(X, axis=-1, binary_output=True)
        np.testing.assert_array_equal(rr.numpy(), ref_bincount(x, int(x.max()) + 1,
                                                               per_row=True, binary=True))
        assert nabi.math.bincount(nabi.constant(np.zeros((0,), np.int32))).shape == (0,)
        with pytest.raises(ValueError, match=r"\[bincount\] arr must be non-negative"):
            nabi.math.bincount(nabi.constant(np.array([1, -1], np.int32)))
        with pytest.raises(ValueError, match=r"\[bincount\] weights must have arr's shape"):
            nabi.math.bincount(X, weights=nabi.constant(np.ones(3, np.float32)))
        with pytest.raises(ValueError, match=r"\[bincount\] axis=-1 needs a 2-D arr"):
            nabi.math.bincount(nabi.constant(np.array([1], np.int32)), axis=-1)


# ---------------------------------------------------------------- no copy to the host
@pytest.fixture
def d2h(gpu, monkeypatch):
    """A function that runs f() and returns (device-to-host copies, kernel launches)."""
    from nabi.framework import device as dev
    if gpu == "emu":
        reads, calls = [0], [0]
        get = dev.DeviceArray.get

        def counted(self):
            reads[0] += 1
            return get(self)
        monkeypatch.setattr(dev.DeviceArray, "get", counted)
        inner = dev.backend()

        class Counting:
            def __getattr__(self, n):
                f = getattr(inner, n)
                if not callable(f) or isinstance(f, type):
                    return f

                def call(*a, **k):
                    calls[0] += 1
                    return f(*a, **k)
                return call
        monkeypatch.setattr(dev, "_BACKEND", [Counting()])

        def run(f):
            reads[0] = calls[0] = 0
            f()
            return reads[0], calls[0]
        return run
    if not hasattr(cb, "_sim_stats"):
        pytest.skip("no copy counter on a real GPU (counts come from the CUDA host simulator "
                    "or the emulator)")

    def run_sim(f):
        cb._sim_stats(True)
        f()
        s = cb._sim_stats(True)
        return s["d2h"], sum(s["launches"].values())
    return run_sim


def test_bincount_does_not_copy_its_input_to_the_host(d2h):
    with nabi.device("/GPU:0"):
        x = nabi.constant(np.array([[0, 3, 3, 9], [1, 1, 5, 2]], np.int32))
        w = nabi.constant(np.ones((2, 4), np.float32))
        reads, launches = d2h(lambda: nabi.math.bincount(x, weights=w))
        assert reads == 2 and launches >= 1  # only the minimum and the maximum come back
        reads, _ = d2h(lambda: nabi.math.bincount(nabi.constant(np.zeros((0,), np.int32)),
                                                  minlength=4))
        assert reads == 0
        r = nabi.math.bincount(x, weights=w)
    assert type(r._data).__name__ == "DeviceArray"
