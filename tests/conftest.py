import os
import sys

import numpy as np
import pytest

# Run against the working tree's package when it has a dev build (tools/dev-build.sh);
# otherwise the installed nabi is used (as in CI).
_here = os.path.dirname(os.path.abspath(__file__))
_py = os.path.join(os.path.dirname(_here), "python")
# NABI_TEST_PACKAGE_DIR names another package directory to test instead, e.g. the CUDA host
# simulator's build/sim/pkg (tools/sim-build.sh).
if os.environ.get("NABI_TEST_PACKAGE_DIR"):
    _pkg = os.path.abspath(os.environ["NABI_TEST_PACKAGE_DIR"])
    sys.path.insert(0, _pkg)
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (_pkg, os.environ.get("PYTHONPATH"))
                                               if p)  # for the tests' subprocesses
elif any(f.startswith("_C") for f in os.listdir(os.path.join(_py, "nabi"))):
    sys.path.insert(0, _py)
sys.path.insert(0, _here)

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(True, reason="no CUDA GPU "
                                                                  "available on this machine"))]


def _gpu_backend(kind, monkeypatch):
    """Selects the GPU backend: "emu" (the NumPy emulator of the CUDA kernels,
    nabi.framework.cuda_emulator) or "cuda" (the real GPU; skips visibly without one)."""
    from nabi import _C
    from nabi.framework import device as dev
    if kind == "emu":
        monkeypatch.setenv("NABI_EMULATE_CUDA", "1")
    else:
        monkeypatch.delenv("NABI_EMULATE_CUDA", raising=False)
    monkeypatch.setattr(dev, "_BACKEND", [None])
    if kind == "cuda" and not dev.gpu_available():
        pytest.skip("no CUDA GPU available (" + _C.cuda_backend.unavailable_reason() + ")")


@pytest.fixture(params=["emu", "cuda"])
def gpu(request, monkeypatch):
    """Makes the GPU the default device for the test (emulated, or the real one)."""
    from nabi.framework import device as dev
    _gpu_backend(request.param, monkeypatch)
    yield request.param
    monkeypatch.setattr(dev, "_BACKEND", [None])


@pytest.fixture(params=["cpu", "emu", "cuda"])
def where(request, monkeypatch):
    """A device name for `with nabi.device(where):` -- the CPU, the emulated GPU or the real
    one (skipped visibly without one)."""
    if request.param == "cpu":
        yield "/CPU:0"
        return
    from nabi.framework import device as dev
    _gpu_backend(request.param, monkeypatch)
    yield "/GPU:0"
    monkeypatch.setattr(dev, "_BACKEND", [None])


@pytest.fixture(scope="module", params=["cuda", "emu"])
def backend(request):
    """The kernel module: nabi._C.cuda_backend ("cuda": a real GPU, or the CUDA host simulator
    under NABI_TEST_PACKAGE_DIR=build/sim/pkg; skips visibly without either) or its NumPy
    emulator ("emu"), for the tests that call the kernels directly."""
    from nabi import _C
    cb = _C.cuda_backend
    if request.param == "cuda":
        if not cb.is_available():
            pytest.skip("no CUDA GPU available (" + cb.unavailable_reason() + ")")
        return cb
    from nabi.framework import cuda_emulator
    return cuda_emulator


def read_counter(kind, monkeypatch):
    """A function that runs f() and returns (device-to-host copies, kernel launches), for
    kind "emu" (counted through DeviceArray.get and the backend's calls) or "cuda" (exactly,
    on the CUDA host simulator: cuda_backend._sim_stats, as bench/launch_count.py); None on a
    real GPU, which has neither counter."""
    from nabi.framework import device as dev
    if kind == "emu":
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
    from nabi import _C
    cb = _C.cuda_backend
    if not hasattr(cb, "_sim_stats"):
        return None

    def run_sim(f):
        cb._sim_stats(True)
        f()
        s = cb._sim_stats(True)
        return s["d2h"], sum(s["launches"].values())
    return run_sim


def reads_on(where, monkeypatch):
    """For a `where` fixture's device: run(f) -> (device-to-host reads during f(), f()'s
    result); the reads are None where they are not counted (the CPU, a real GPU)."""
    if where == "/CPU:0":
        return lambda f: (None, f())
    kind = "emu" if os.environ.get("NABI_EMULATE_CUDA") == "1" else "cuda"
    run = read_counter(kind, monkeypatch)
    if run is None:
        return lambda f: (None, f())

    def go(f):
        box = []
        n, _ = run(lambda: box.append(f()))
        return n, box[0]
    return go


def check_reads(got, want):
    """Asserts reads_on's count, where it is counted."""
    if got is not None:
        assert got == want, f"{got} device-to-host reads, expected {want}"


@pytest.fixture
def d2h(gpu, monkeypatch):
    """read_counter for the `gpu` fixture's device: f -> (device-to-host copies, launches).
    Used by the tests that check an op no longer copies to the host; skips on a real GPU."""
    run = read_counter(gpu, monkeypatch)
    if run is None:
        pytest.skip("no copy counter on a real GPU (counts come from the CUDA host simulator "
                    "or the emulator)")
    return run


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def pytest_report_header(config):
    import nabi
    return (f"nabi {nabi.__version__} from {os.path.dirname(nabi.__file__)}; gemm isa "
            f"{nabi._C.gemm_isa()}; CUDA built: {nabi.test.is_built_with_cuda()}, GPU: "
            f"{nabi.test.is_gpu_available()}")
