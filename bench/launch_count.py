"""Host-side cost of one GPU training step, counted exactly on the CUDA host simulator.

    tools/sim-build.sh && PYTHONPATH=build/sim/pkg python bench/launch_count.py [--batch 100]
        [--steps 3] [--models mlp,cnn,lstm,gru] [--top 12] [--json FILE] [--md FILE]

On a GPU, a small model's step is bound by the host: every kernel launch costs a few
microseconds of CPU time, and every device-to-host copy waits for the GPU to drain. The
simulator (NABI_CUDA=SIM) runs the real kernels and counts what they ask of the CUDA runtime,
so the number of launches, copies, synchronisations and cudaMallocs per training step can be
measured and held down on a machine without a GPU. Timing here means nothing; the counts are
exact and do not depend on the machine.

For each model (the bench's MNIST MLP and CNN, and small LSTM and GRU classifiers), it compiles with
Adam, runs two warm-up fits, then epochs of `--steps` and 2x`--steps` steps, and prints per
step (their difference): kernel launches (and the kernels launched most), H2D / D2H / D2D
copies, memsets, cudaMalloc calls (0 once the caching allocator is warm) and synchronisations;
and what each epoch adds once (reading the loss and the metrics back).
bench/results/gpu_launches.md holds the last run (--md).
"""
import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_gpu import build_cnn, build_mlp  # noqa: E402  (the models bench_gpu times)


def build_lstm(keras):
    L = keras.layers
    return keras.Sequential([L.Input((16, 8)), L.LSTM(32), L.Dense(10)])


def build_gru(keras):
    L = keras.layers
    return keras.Sequential([L.Input((16, 8)), L.GRU(32), L.Dense(10)])


def _data(kind, n, rng):
    if kind == "cnn":
        return rng.random((n, 28, 28, 1), dtype=np.float32), rng.integers(0, 10, n)
    if kind == "mlp":
        return rng.random((n, 784), dtype=np.float32), rng.integers(0, 10, n)
    return rng.random((n, 16, 8), dtype=np.float32), rng.integers(0, 10, n)


COUNTERS = ("launches", "h2d", "d2h", "d2d", "memsets", "mallocs", "syncs", "event_waits")


def _fit_stats(cuda, m, x, y, batch):
    cuda._sim_stats(True)
    m.fit(x, y, batch_size=batch, epochs=1, verbose=0)
    s = cuda._sim_stats(True)
    s["launches_by_kernel"] = s["launches"]
    s["launches"] = sum(s["launches"].values())
    return s


def _compiled(keras, kind, n):
    """The model of `kind`, compiled as bench_gpu compiles it, and n samples of data for it,
    after one fit that builds it."""
    keras.utils.set_random_seed(0)
    m = {"cnn": build_cnn, "mlp": build_mlp, "lstm": build_lstm, "gru": build_gru}[kind](keras)
    x, y = _data(kind, n, np.random.default_rng(0))
    if kind == "mlp":  # softmax output, one-hot targets
        loss = "categorical_crossentropy"
        y = keras.utils.to_categorical(y, 10)
    else:
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    m.compile(optimizer=keras.optimizers.Adam(0.001), loss=loss, metrics=["accuracy"])
    return m, x, y


def count(nabi, kind, batch, steps):
    """Per step (the difference between epochs of 2*steps and steps steps, over steps) and per
    epoch (what an epoch of `steps` steps adds beyond its steps)."""
    cuda = nabi._C.cuda_backend
    m, x, y = _compiled(nabi.keras, kind, batch * 2 * steps)
    for _ in range(2):  # builds, then warms the allocator's cache for epochs of both lengths
        m.fit(x[:2 * batch], y[:2 * batch], batch_size=batch, epochs=1, verbose=0)
    m.fit(x, y, batch_size=batch, epochs=1, verbose=0)
    on_gpu = all(type(w._data).__name__ == "DeviceArray" for w in m.trainable_weights)
    one = _fit_stats(cuda, m, x[:batch * steps], y[:batch * steps], batch)
    two = _fit_stats(cuda, m, x, y, batch)
    per = {k: (two[k] - one[k]) / steps for k in COUNTERS}
    epoch = {k: one[k] - per[k] * steps for k in COUNTERS}
    kernels = {k: (v - one["launches_by_kernel"].get(k, 0)) / steps
               for k, v in two["launches_by_kernel"].items()}
    kernels = dict(sorted(((k, v) for k, v in kernels.items() if v), key=lambda kv: -kv[1]))
    return {"on_gpu": on_gpu, "per_step": per, "per_epoch": epoch, "kernels_per_step": kernels}


def host_time(nabi, kind, batch, steps, reps=9):
    """Seconds per fit step with NABI_SIM_SKIP_KERNELS=1 (set by the caller before nabi loads):
    every launch is checked and counted but runs nothing, so what is timed is the host's side
    of a GPU training step (Python, bindings, argument checks, allocator, launch calls, batch
    staging). Best of reps epochs of `steps` steps."""
    import time
    m, x, y = _compiled(nabi.keras, kind, batch * steps)
    m.fit(x[:2 * batch], y[:2 * batch], batch_size=batch, epochs=1, verbose=0)
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        m.fit(x, y, batch_size=batch, epochs=1, verbose=0)
        best = min(best, time.perf_counter() - t)
    return best / steps


MODELS = {"mlp": "MNIST MLP 784-256-256-10, softmax + categorical_crossentropy",
          "cnn": "seed MNIST CNN, logits + SparseCategoricalCrossentropy",
          "lstm": "LSTM(32) on 16x8 sequences, logits + SparseCategoricalCrossentropy",
          "gru": "GRU(32) (reset_after) on 16x8 sequences, logits + SparseCategoricalCrossentropy"}


def to_markdown(out, batch):
    lines = ["### gpu_launches (CUDA host simulator: exact counts, no timing)", "",
             f"Keras `fit(verbose=0)`, Adam, accuracy metric, batch {batch}. Per training step "
             "(steady state), and what each epoch adds once.", "",
             "| workload | launches / step | H2D / step | D2H / step | syncs / step | "
             "cudaMalloc / step | per epoch: D2H, syncs | host us / step | "
             "most launched (per step) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for kind, r in out.items():
        p, e = r["per_step"], r["per_epoch"]
        top = ", ".join(f"{k.split('<')[0]} {v:g}" for k, v in
                        list(r["kernels_per_step"].items())[:6])
        ht = r.get("host_s_per_step")
        ht = f"{ht * 1e6:.0f}" if ht else "-"
        lines.append(f"| {MODELS[kind]} | {p['launches']:g} | {p['h2d']:g} | {p['d2h']:g} | "
                     f"{p['syncs']:g} | {p['mallocs']:g} | {e['d2h']:g}, {e['syncs']:g} | {ht} | "
                     f"{top} |")
    lines += ["", "host us / step: `--host-time`, the step timed with every kernel launch "
              "checked and counted but not run (NABI_SIM_SKIP_KERNELS=1): the host's side of a "
              "GPU step (Python, bindings, checks, allocator, launches, batch staging), on the "
              "machine that ran it. On a GPU a step takes at least this long, however fast the "
              "kernels."]
    return "\n".join(lines) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--models", default="mlp,cnn,lstm,gru")
    ap.add_argument("--top", type=int, default=12)
    ap.add_argument("--json")
    ap.add_argument("--md")
    ap.add_argument("--host-time", action="store_true",
                    help="also time the host's side of a step (kernels skipped, in a child)")
    ap.add_argument("--host-child", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.host_child:  # NABI_SIM_SKIP_KERNELS=1 is set: print seconds per step
        import nabi
        print(json.dumps(host_time(nabi, a.host_child, a.batch, 50)))
        return
    import nabi
    if not hasattr(nabi._C.cuda_backend, "_sim_stats"):
        sys.exit("launch_count: needs the CUDA host simulator build "
                 "(tools/sim-build.sh, then PYTHONPATH=build/sim/pkg)")
    out = {}
    for kind in a.models.split(","):
        r = count(nabi, kind, a.batch, a.steps)
        out[kind] = r
        p = r["per_step"]
        print(f"{kind}: per training step (batch {a.batch}, Adam, fit, on GPU: {r['on_gpu']}): "
              f"{p['launches']:g} launches, H2D {p['h2d']:g}, D2H {p['d2h']:g}, "
              f"D2D {p['d2d']:g}, memsets {p['memsets']:g}, cudaMalloc {p['mallocs']:g}, "
              f"syncs {p['syncs']:g} (+ {p['event_waits']:g} waits for an old upload); per "
              f"epoch: D2H {r['per_epoch']['d2h']:g}, syncs {r['per_epoch']['syncs']:g}")
        for name, n in list(r["kernels_per_step"].items())[:a.top]:
            print(f"    {n:6g}  {name}")
        if a.host_time:
            import subprocess
            env = dict(os.environ, NABI_SIM_SKIP_KERNELS="1")
            cp = subprocess.run([sys.executable, os.path.abspath(__file__), "--host-child", kind,
                                 "--batch", str(a.batch)], env=env, capture_output=True,
                                text=True, check=True)
            r["host_s_per_step"] = json.loads(cp.stdout.strip().splitlines()[-1])
            print(f"    host side of a step (kernels skipped): "
                  f"{r['host_s_per_step'] * 1e6:.0f} us")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=1)
    if a.md:
        with open(a.md, "w") as f:
            f.write(to_markdown(out, a.batch))


if __name__ == "__main__":
    main()
