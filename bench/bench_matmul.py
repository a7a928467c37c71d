"""GEMM benchmark: GFLOP/s of nabi._C.matmul (and nabi.matmul when it exists) against NumPy
(OpenBLAS) and PyTorch (MKL / its own BLAS, when torch is importable), float32.

Shapes: square n = 64 .. 2048 and the MNIST-MLP shapes, forward and backward
(X@W1: 100x784 @ 784x256, H@W2: 100x256 @ 256x256, dW1 = X^T@dY: 784x100 @ 100x256,
dX = dY@W1^T: 100x256 @ 256x784), each on 1 and 2 threads.

Every thread count runs in its own subprocess with OMP_NUM_THREADS / OPENBLAS_NUM_THREADS /
MKL_NUM_THREADS set (the only robust way to pin OpenBLAS without threadpoolctl). Inside it,
each library is timed on its own (all of its repeats back to back, with a pause between
libraries so the other runtime's spinning threads go idle), the result is first checked
against a float64 NumPy reference. The libraries take turns for ROUNDS rounds; each round is
the median of several timed calls, and the GFLOP/s reported is 2*M*N*K / (best round
median). 'nabi spread' is (slowest - fastest) / fastest round median of nabi._C: how noisy
the machine was (it is shared; 2-thread runs suffer most when another process wants a core).

    python bench/bench_matmul.py [--quick] [--json PATH]
    PYTHONPATH=python /work/venv-bench/bin/python bench/bench_matmul.py     # with torch

bench/run.py imports this file and calls run(quick) -> {"name", "columns", "rows"}.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_PYTHON = os.path.join(os.path.dirname(HERE), "python")

# (label, M, N, K, transpose_a, transpose_b): C[M,N] = op(A) @ op(B)
SQUARE = [64, 128, 256, 512, 1024, 2048]
MLP = [
    ("mlp X@W1 100x784@784x256", 100, 256, 784, False, False),
    ("mlp H@W2 100x256@256x256", 100, 256, 256, False, False),
    ("mlp X^T@dY 784x100@100x256", 784, 256, 100, True, False),
    ("mlp dY@W1^T 100x256@256x784", 100, 784, 256, False, True),
]
THREADS = [1, 2]
ROUNDS = 3
COLUMNS = ["shape", "threads", "nabi._C", "nabi", "numpy", "torch", "nabi/numpy", "nabi/torch",
           "nabi spread"]


def shapes(quick):
    sq = [n for n in SQUARE if not (quick and n > 1024)]
    return [(f"{n}x{n}x{n}", n, n, n, False, False) for n in sq] + MLP


def _import_nabi():
    try:
        import nabi  # noqa: F401
    except ImportError:
        sys.path.insert(0, REPO_PYTHON)
    import nabi
    from nabi import _C
    return nabi, _C


def _time(fn, quick):
    """Median seconds per call over one round of repeats (after a warm-up call)."""
    fn()
    t0 = time.perf_counter()
    fn()
    once = max(time.perf_counter() - t0, 1e-7)
    budget = 0.08 if quick else 0.25
    reps = int(min(max(budget / once, 5), 200))
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def _check(out, ref, K, who, label):
    out = np.asarray(out, dtype=np.float64)
    scale = max(1.0, float(np.abs(ref).max()))
    err = float(np.abs(out - ref).max()) / scale
    if not err < 1e-4:
        raise AssertionError(f"{who} wrong on {label}: max rel err {err:.3g}")


def _worker(threads, quick):
    nabi, _C = _import_nabi()
    _C.set_num_threads(threads)
    try:
        import torch
        torch.set_num_threads(threads)
    except ImportError:
        torch = None
    nabi_matmul = getattr(nabi, "matmul", None)
    rng = np.random.default_rng(0)
    rows = []
    for label, M, N, K, ta, tb in shapes(quick):
        a = rng.standard_normal((K, M) if ta else (M, K)).astype(np.float32)
        b = rng.standard_normal((N, K) if tb else (K, N)).astype(np.float32)
        av = a.T if ta else a  # views: NumPy/torch pass the transpose to BLAS as a flag
        bv = b.T if tb else b
        ref = av.astype(np.float64) @ bv.astype(np.float64)
        cands = {"nabi._C": lambda: _C.matmul(a, b, ta, tb), "numpy": lambda: av @ bv}
        if nabi_matmul is not None:
            def f_nabi():
                out = nabi_matmul(av, bv)
                return out.numpy() if hasattr(out, "numpy") else out
            cands["nabi"] = f_nabi
        if torch is not None:
            ta_t, tb_t = torch.from_numpy(a), torch.from_numpy(b)
            ta_v = ta_t.T if ta else ta_t
            tb_v = tb_t.T if tb else tb_t
            cands["torch"] = lambda: torch.matmul(ta_v, tb_v)
        flop = 2.0 * M * N * K
        row = {"shape": label, "threads": threads, "M": M, "N": N, "K": K,
               "transpose_a": ta, "transpose_b": tb}
        live = {}
        for who, fn in cands.items():
            try:
                out = fn()
                _check(out.numpy() if hasattr(out, "numpy") else out, ref, K, who, label)
                live[who] = fn
            except Exception as e:  # a column that cannot run this shape is left empty
                if who == "nabi._C":
                    raise
                row[who] = None
                row[who + " error"] = str(e)[:200]
        # Rounds: each library in turn, ROUNDS times; a library's result is its best round
        # median, which filters out rounds hit by other processes on this shared machine.
        meds = {who: [] for who in live}
        for _ in range(1 if quick else ROUNDS):
            for who, fn in live.items():
                time.sleep(0.05)  # let the previous library's spinning threads go idle
                meds[who].append(_time(fn, quick))
        for who, m in meds.items():
            row[who] = flop / min(m) / 1e9
            if who == "nabi._C":
                row["nabi spread"] = (max(m) - min(m)) / min(m)
        for other in ("numpy", "torch"):
            if row.get(other):
                row["nabi/" + other] = row["nabi._C"] / row[other]
        rows.append(row)
    return {"isa": _C.gemm_isa(), "torch": getattr(torch, "__version__", None),
            "numpy": np.__version__, "rows": rows}


def run(quick=False):
    rows, meta = [], {}
    for threads in THREADS:
        env = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads),
                   MKL_NUM_THREADS=str(threads))
        pypath = env.get("PYTHONPATH", "")
        env["PYTHONPATH"] = REPO_PYTHON + (os.pathsep + pypath if pypath else "")
        cmd = [sys.executable, os.path.abspath(__file__), "--worker", str(threads)]
        if quick:
            cmd.append("--quick")
        res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1800)
        if res.returncode != 0:
            raise RuntimeError(f"bench_matmul worker ({threads} threads) failed:\n{res.stderr}")
        out = json.loads(res.stdout.strip().splitlines()[-1])
        meta = {k: v for k, v in out.items() if k != "rows"}
        rows += out["rows"]
    # Group by shape: 1 then 2 threads next to each other.
    order = {s[0]: i for i, s in enumerate(shapes(quick))}
    rows.sort(key=lambda r: (order[r["shape"]], r["threads"]))
    return {"name": "matmul", "columns": COLUMNS, "rows": rows, "dtype": "float32", **meta}


def markdown(result):
    cols = result["columns"]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in result["rows"]:
        cells = []
        for c in cols:
            v = r.get(c)
            if v is None:
                cells.append("-")
            elif c == "nabi spread":
                cells.append(f"{100 * v:.0f}%")
            elif c.startswith("nabi/"):
                cells.append(f"{v:.2f}x")
            elif isinstance(v, float):
                cells.append(f"{v:.1f}")
            else:
                cells.append(str(v))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer sizes and repeats")
    p.add_argument("--json", metavar="PATH", help="also write the result as JSON")
    p.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker is not None:
        print(json.dumps(_worker(args.worker, args.quick)))
        return
    result = run(quick=args.quick)
    print(f"float32 GFLOP/s (median), nabi ISA {result.get('isa')}, numpy {result.get('numpy')}, "
          f"torch {result.get('torch') or 'not installed'}; 'nabi spread' = range of "
          f"nabi._C's {ROUNDS} round medians (machine noise)\n")
    print(markdown(result))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
