"""GPU benchmark: nabi's hand-written SGEMM (nabi._C.cuda_backend.matmul) against cuBLAS through
PyTorch, float32, square n = 1024, 2048, 4096, 8192 (quick: 1024, 2048), plus the opt-in TF32
tensor-core path against torch with allow_tf32. Target (issue 6): >= 0.8x cuBLAS FP32 at 4096.

Each timing is CUDA-event-free wall time around `reps` back-to-back launches followed by one
synchronize (both libraries the same way), best of 3 rounds, after a checked warm-up call
(result vs torch within rtol 1e-3). Without a GPU (or without torch with CUDA) run() returns a
result whose single row says why it was skipped.

STATUS: written on a machine without a GPU; NOTHING HERE HAS RUN ON A GPU YET.
What the next session with a GPU (device tool: nvidia-h100-x1 / nvidia-h200) must run, from the
repository root:

    pip install -e . -v  (or:  cmake -S . -B build/cuda -G Ninja -DNABI_CUDA=ON \
        -DCMAKE_BUILD_TYPE=Release -Dpybind11_DIR=$(python -c 'import pybind11;print(
        pybind11.get_cmake_dir())') -DCMAKE_LIBRARY_OUTPUT_DIRECTORY=$PWD/python/nabi \
        && cmake --build build/cuda -j 16)
    python -c "import nabi; print(nabi._C.cuda_backend.is_available(),
               nabi._C.cuda_backend.device_name(0))"
    PYTHONPATH=python python -m pytest tests -q -rs                 # whole suite
    PYTHONPATH=python python -m pytest tests/test_cuda_backend.py -q -rs
    PYTHONPATH=python compute-sanitizer --tool memcheck python -m pytest \
        tests/test_cuda_backend.py -q -x                             # once; also racecheck on
                                                                     # -k matmul if time allows
    PYTHONPATH=python python bench/run.py gpu                        # needs torch with CUDA
    git add bench/results/gpu.json bench/results/gpu.md   (the GPU's name is in the rows)

compute-sanitizer is not in this machine's /usr/local/cuda-13.0/bin (only nvcc and friends);
on the GPU machine look for it in /usr/local/cuda*/bin or the nvidia-cuda-sanitizer pip wheel.
Rebuild with -DCMAKE_CUDA_FLAGS=-DNABI_CUDA_SYNC_CHECK=1 to attribute an in-kernel fault to
the kernel that caused it (every launch then synchronises).
"""
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_PYTHON = os.path.join(os.path.dirname(HERE), "python")
SIZES = [1024, 2048, 4096, 8192]
COLUMNS = ["shape", "device", "nabi GFLOP/s", "cuBLAS GFLOP/s", "nabi/cuBLAS",
           "nabi TF32 GFLOP/s", "cuBLAS TF32 GFLOP/s", "TF32 ratio", "note"]


def _skip(reason):
    return {"name": "gpu", "columns": COLUMNS, "rows": [{"shape": "-", "note": f"skipped: {reason}"}]}


def _import():
    try:
        import nabi  # noqa: F401
    except ImportError:
        sys.path.insert(0, REPO_PYTHON)
    from nabi import _C
    return _C.cuda_backend


def _time(fn, sync, reps, rounds=3):
    best = float("inf")
    for _ in range(rounds):
        sync()
        t0 = time.perf_counter()
        for _ in range(reps):
            fn()
        sync()
        best = min(best, (time.perf_counter() - t0) / reps)
    return best


def run(quick=False):
    try:
        cb = _import()
    except Exception as e:  # noqa: BLE001
        return _skip(f"nabi not importable ({e})")
    if not cb.built_with_cuda:
        return _skip("no GPU (nabi built without CUDA)")
    if not cb.is_available():
        return _skip("no GPU (" + cb.unavailable_reason() + ")")
    try:
        import torch
    except ImportError:
        return _skip("no GPU yardstick: torch is not installed")
    if not torch.cuda.is_available():
        return _skip("no GPU yardstick: torch has no CUDA device")

    device = cb.device_name(0)
    rows = []
    for n in (SIZES[:2] if quick else SIZES):
        flops = 2.0 * n * n * n
        reps = max(2, int(2e12 / flops)) if not quick else 2
        rng = np.random.default_rng(0)
        a = rng.standard_normal((n, n), dtype=np.float32)
        b = rng.standard_normal((n, n), dtype=np.float32)
        A, B = cb.DeviceBuffer.from_numpy(a), cb.DeviceBuffer.from_numpy(b)
        ta, tb = torch.from_numpy(a).cuda(), torch.from_numpy(b).cuda()
        row = {"shape": f"{n}x{n}x{n}", "device": device}
        for tf32 in (False, True):
            cb.set_tf32_enabled(tf32)
            torch.backends.cuda.matmul.allow_tf32 = tf32
            try:
                ref = (ta @ tb).cpu().numpy()
                got = cb.matmul(A, B).numpy()
                tol = 5e-3 if tf32 else 1e-3
                err = float(np.max(np.abs(got - ref)) / (np.max(np.abs(ref)) + 1e-30))
                if not err < tol:
                    row["note"] = f"MISMATCH vs torch (tf32={tf32}): rel err {err:.2e}"
                t_nabi = _time(lambda: cb.matmul(A, B), cb.synchronize, reps)
                t_torch = _time(lambda: ta @ tb, torch.cuda.synchronize, reps)
            finally:
                cb.set_tf32_enabled(False)
                torch.backends.cuda.matmul.allow_tf32 = False
            g_n, g_t = flops / t_nabi / 1e9, flops / t_torch / 1e9
            if tf32:
                row.update({"nabi TF32 GFLOP/s": g_n, "cuBLAS TF32 GFLOP/s": g_t,
                            "TF32 ratio": g_n / g_t})
            else:
                row.update({"nabi GFLOP/s": g_n, "cuBLAS GFLOP/s": g_t, "nabi/cuBLAS": g_n / g_t})
        del A, B, ta, tb
        cb.empty_cache()
        torch.cuda.empty_cache()
        rows.append(row)
    return {"name": "gpu", "columns": COLUMNS, "rows": rows}


if __name__ == "__main__":
    import json
    print(json.dumps(run(quick="--quick" in sys.argv), indent=1))
