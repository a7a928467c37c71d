"""The CUDA host simulator itself (csrc/cuda/sim/): tiny kernels with known answers and known
faults, compiled with g++ as the simulator build compiles nabi's kernels. The simulator is
what runs nabi's CUDA kernels on machines without a GPU, so it must itself be right: barriers
order shared memory, a missing barrier shows, shuffles exchange lanes, divergent barriers and
deadlocks are reported, bad launch configurations fail as on a GPU."""
import os
import platform
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIM = os.path.join(ROOT, "csrc", "cuda", "sim")

pytestmark = pytest.mark.skipif(
    shutil.which("g++") is None or platform.machine() not in ("x86_64", "AMD64")
    or not os.path.isdir(SIM),
    reason="the CUDA host simulator needs g++ on x86-64 and the source tree")


@pytest.fixture(scope="module")
def selftest(tmp_path_factory):
    d = tmp_path_factory.mktemp("sim")
    src = d / "selftest.cpp"
    subprocess.run([sys.executable, os.path.join(ROOT, "tools", "cuda_sim_rewrite.py"),
                    os.path.join(SIM, "selftest.cu"), str(src)], check=True)
    exe = d / "selftest"
    subprocess.run(["g++", "-std=c++17", "-O1", "-I", SIM, str(src),
                    os.path.join(SIM, "sim.cpp"), "-o", str(exe)], check=True,
                   capture_output=True)
    return str(exe)


def _run(exe, order=None):
    env = dict(os.environ)
    env.pop("NABI_SIM_ORDER", None)
    if order:
        env["NABI_SIM_ORDER"] = order
    p = subprocess.run([exe], capture_output=True, text=True, env=env, timeout=60)
    assert p.returncode == 0, p.stderr
    return dict(line.split(" ", 1) for line in p.stdout.strip().splitlines()), p.stderr


@pytest.mark.parametrize("order", [None, "reverse"])
def test_simulator_semantics(selftest, order):
    out, err = _run(selftest, order)
    assert out["fresh_is_nan"] == "1"                 # cudaMalloc'd memory is NaN bytes
    assert out["block_sum_err"] == "cudaSuccess"
    assert out["block_sum"] == str(sum(range(1, 201)))
    assert out["racy_err"] == "cudaSuccess"
    assert out["racy_wrong"] == "1"                   # the missing __syncthreads shows
    assert out["warp_sum_err"] == "cudaSuccess"
    assert out["warp_sum"] == f"{sum(range(32))} {sum(range(32))} {sum(range(32, 64))}"
    assert out["divergent_err"] == "cudaErrorLaunchFailure"
    assert "divergent barrier" in err
    assert out["divergent_warp_err"] == "cudaErrorLaunchFailure"
    # whole warps may exit before shuffles that other warps make
    assert out["warp_exits_early_err"] == "cudaSuccess"
    assert out["warp_exits_early"] == f"-1 {sum(range(32, 64))} {sum(range(32, 64))}"
    # a shuffle whose warp has an exited lane is reported, with or without fibers
    assert out["lane_exits_32_err"] == "cudaErrorLaunchFailure"
    assert out["lane_exits_64_err"] == "cudaErrorLaunchFailure"
    assert "after lane 0 of its warp exited" in err
    assert out["deadlock_err"] == "cudaErrorLaunchFailure"
    assert "deadlock" in err
    assert out["too_many_threads_err"] == "cudaErrorInvalidConfiguration"
    assert out["grid_y_err"] == "cudaErrorInvalidConfiguration"
    assert out["ids_err"] == "cudaSuccess" and out["ids_bad"] == "0"


def test_rewriter_keeps_lines_and_handles_templates():
    sys.path.insert(0, os.path.join(ROOT, "tools"))
    try:
        import cuda_sim_rewrite as rw
    finally:
        sys.path.pop(0)
    src = ("  k<T, Fn<T>><<<grid_for(n, 256), 256, 0, stream()>>>(\n      x, y);\n"
           "  // a comment about <<<...>>> stays\n  ns::go<<<1, 32>>>();\n")
    out, count = rw.rewrite(src)
    assert count == 2
    assert out.count("\n") == src.count("\n")
    assert ("NABI_SIM_LAUNCH(\"k<T, Fn<T>>\", grid_for(n, 256), 256, 0, stream())([](auto&&... nabi_a) "
            "{ k<T, Fn<T>>(nabi_a...); }, \n      x, y);") in out
    assert "// a comment about <<<...>>> stays" in out
    assert "NABI_SIM_LAUNCH(\"ns::go\", 1, 32)([](auto&&... nabi_a) { ns::go(nabi_a...); });" in out
