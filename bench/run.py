"""Runs every bench/bench_*.py and writes bench/results/<name>.json and <name>.md.

    python bench/run.py                 # all benchmarks
    python bench/run.py matmul fit      # only some
    python bench/run.py --quick         # fewer sizes and repeats (a smoke run)

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
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    args = ap.parse_args()
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
        result["machine"] = machine_info()
        result["command"] = "python bench/run.py " + " ".join(sys.argv[1:])
        name = result["name"]
        with open(os.path.join(args.out, f"{name}.json"), "w") as fh:
            json.dump(result, fh, indent=1)
        md = to_markdown(result)
        with open(os.path.join(args.out, f"{name}.md"), "w") as fh:
            fh.write(md)
        print(md)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
