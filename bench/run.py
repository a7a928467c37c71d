"""Runs every bench/bench_*.py and writes bench/results/<name>.json and <name>.md.

    python bench/run.py                 # all benchmarks
    python bench/run.py matmul fit      # only some
    python bench/run.py --quick         # fewer sizes and repeats (a smoke run)
    python bench/run.py gpu             # the GPU section (bench_gpu.py): needs a CUDA GPU

GPU section: bench_gpu.run() returns a result with "tables" (SGEMM, conv, training epoch) and
the GPU's name, rendered by bench_gpu.to_markdown; without a GPU it returns "skipped" and
nothing is written (the committed gpu.json/gpu.md stay). An emulated run (NABI_EMULATE_CUDA=1)
is written only to an explicit --out and to $OUT. GPU results are also copied to $OUT when that
variable is set (the GPU machine returns the files written there).

Each benchmark module exposes run(quick=False) -> {"name", "columns", "rows"} and checks
its results against NumPy (or PyTorch) before it times anything. Run it with PyTorch
installed (pip install torch==2.13.0, or the `bench` extra) to get the yardstick columns,
on an otherwise idle machine.
"""
import argparse
import datetime
import importlib.util
import json
import os
import platform
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def to_markdown(result):
    cols = result["columns"]
    lines = [f"### {result['name']}", "", "| " + " | ".join(cols) + " |",
             "|" + "---|" * len(cols)]
    for row in result["rows"]:
        cells = []
        for c in cols:
            v = row.get(c, "")
            cells.append(f"{v:.3g}" if isinstance(v, float) else str(v))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def machine_info():
    info = {"python": platform.python_version(), "machine": platform.machine(),
            "cpus": os.cpu_count(), "date": datetime.datetime.now().isoformat(timespec="seconds")}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return info


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("names", nargs="*", help="benchmarks to run (default: all)")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default=None, help="results directory (default bench/results)")
    args = ap.parse_args()
    explicit_out = args.out is not None
    args.out = args.out or os.path.join(HERE, "results")
    files = sorted(f for f in os.listdir(HERE) if f.startswith("bench_") and f.endswith(".py"))
    if args.names:
        files = [f for f in files if f[len("bench_"):-3] in args.names]
    os.makedirs(args.out, exist_ok=True)
    sys.path.insert(0, HERE)
    failed = []
    for f in files:
        spec = importlib.util.spec_from_file_location(f[:-3], os.path.join(HERE, f))
        mod = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(mod)
            result = mod.run(quick=args.quick)
        except Exception as e:  # keep going: one broken benchmark must not hide the others
            print(f"[bench] {f} failed: {type(e).__name__}: {e}", file=sys.stderr)
            failed.append(f)
            continue
        if result.get("skipped"):  # the GPU section without a GPU: keep the committed results
            print(f"[bench] {f}: skipped: {result['skipped']}\n")
            continue
        result["machine"] = machine_info()
        result["command"] = "python bench/run.py " + " ".join(sys.argv[1:])
        name = result["name"]
        tables = "tables" in result and hasattr(mod, "to_markdown")
        md = mod.to_markdown(result) if tables else to_markdown(result)
        dirs = [args.out] if explicit_out or not result.get("emulated") else []
        if tables and os.environ.get("OUT"):  # GPU results: the GPU machine returns $OUT
            dirs.append(os.environ["OUT"])
        for d in dirs:
            os.makedirs(d, exist_ok=True)
            with open(os.path.join(d, f"{name}.json"), "w") as fh:
                json.dump(result, fh, indent=1, default=str)
            with open(os.path.join(d, f"{name}.md"), "w") as fh:
                fh.write(md)
        print(md)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
