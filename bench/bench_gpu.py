"""GPU benchmarks (issue 6): nabi's CUDA backend against PyTorch on the same GPU, float32.

Sections, in the order they run (each is written to the results files as soon as it is done,
so a run cut short by a time limit still leaves what it measured):

  sgemm   nabi's hand-written SGEMM (the backend's `matmul` on device buffers) against cuBLAS
          (torch `a @ b`), square n = 1024, 2048, 4096, 8192; FP32, then both with TF32
          allowed. Target: nabi >= 0.8x cuBLAS FP32 at n = 4096.
  conv    the seed CNN's two convolutions (examples/mnist_cnn.py: 28x28x1->32 and
          13x13x32->64, 3x3 'valid', bias + relu as the layer runs them, batch 100), forward and
          forward+backward (filter and bias gradients; plus the input gradient for the second
          layer, as in training), against cuDNN (torch.backends.cudnn.benchmark on, TF32 off;
          the faster of NCHW and channels_last).
  epoch   one training epoch (60000 MNIST images, batch 100, Adam 1e-3) of the seed CNN
          (examples/mnist_cnn.py) and of the MLP (examples/mnist_mlp.py: 784-256-256-10,
          softmax + categorical cross-entropy): nabi through `model.fit` from host arrays
          (each batch is moved to the GPU once), PyTorch eager (same architecture, batch size
          and optimizer; FP32: cuDNN/cuBLAS TF32 off, cudnn.benchmark at its default off) with
          the whole data set already on the GPU. For the CNN also PyTorch with its default
          settings (cuDNN TF32 on), for reference. Target: the CNN epoch no slower than PyTorch.

Timing: every library is warmed up, then synchronised around each timed round
(nabi.cuda.synchronize(), torch.cuda.synchronize()); a round is enough back-to-back calls to
last about 50 ms; the reported time is the median of the rounds (of the epochs, for `epoch`).
Results are checked against torch before they are timed (a mismatch is noted in the row).
A kernel fault is easier to place with a build where every launch synchronises
(CMAKE_ARGS=-DCMAKE_CUDA_FLAGS=-DNABI_CUDA_SYNC_CHECK=1) and under compute-sanitizer.

    python bench/bench_gpu.py [--quick] [--budget SECONDS] [--datasets DIR] [--out DIR]
    python bench/run.py gpu [--quick]                  (same benchmark, through the runner)
    bash bench/gpu_session.sh                          (a GPU session: build, tests, this)

Results: bench/results/gpu.json and gpu.md (the GPU's name in both), copied to $OUT when that
variable is set. A --quick run is named gpu-quick; an emulated run (NABI_EMULATE_CUDA=1) is
named gpu-emulated and is written only to --out / $OUT, never over the real results.

Without a GPU the script says so and exits 0. Without torch (or torch without CUDA) nabi's
side still runs and the yardstick columns say "missing". --quick uses tiny sizes so that it
runs in seconds on the NumPy emulator (NABI_EMULATE_CUDA=1); there, when torch has no CUDA,
torch runs on the CPU only to exercise the code path, and every row says so.

MNIST is read from --datasets, else $NABI_DATASETS, else shared/datasets or ../shared/datasets
next to the repository; when it is missing, random data of MNIST's shape is used and the
results say so.
"""
import argparse
import datetime
import json
import os
import platform
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
REPO_PYTHON = os.path.join(REPO, "python")

SGEMM_SIZES = [1024, 2048, 4096, 8192]
SGEMM_SIZES_QUICK = [128, 256]
SGEMM_TARGET_N, SGEMM_TARGET = 4096, 0.8
MISSING = "missing"


# ---- imports ------------------------------------------------------------------------------------
def _nabi():
    """The installed nabi (a GPU machine's `pip install .`), else the working tree's package."""
    try:
        import nabi
    except ImportError:
        sys.path.insert(0, REPO_PYTHON)
        import nabi
    return nabi


def _torch():
    try:
        import torch
    except Exception:  # noqa: BLE001  (a broken torch install must not stop nabi's side)
        return None
    return torch


# ---- timing -------------------------------------------------------------------------------------
class Budget:
    """Seconds left for the whole run (None: no limit)."""

    def __init__(self, seconds):
        self.deadline = None if not seconds else time.perf_counter() + float(seconds)

    def left(self):
        return float("inf") if self.deadline is None else self.deadline - time.perf_counter()


def time_gpu(fn, sync, rounds, round_s=0.05, warm=2):
    """Median seconds per call of fn: warm-up calls, then `rounds` rounds of back-to-back calls
    between two synchronisations; the calls per round are chosen so that a round lasts about
    round_s."""
    for _ in range(warm):
        fn()
    sync()
    t = time.perf_counter()
    fn()
    sync()
    one = max(time.perf_counter() - t, 1e-6)
    reps = int(min(1000, max(1, round_s / one)))
    ts = []
    for _ in range(rounds):
        sync()
        t = time.perf_counter()
        for _ in range(reps):
            fn()
        sync()
        ts.append((time.perf_counter() - t) / reps)
    return float(np.median(ts))


def _rel_err(got, ref):
    got, ref = np.asarray(got, np.float64), np.asarray(ref, np.float64)
    return float(np.max(np.abs(got - ref)) / (np.max(np.abs(ref)) + 1e-30))


# ---- context ------------------------------------------------------------------------------------
class Ctx:
    """What the sections share: nabi, its backend, torch and where torch runs, the budget."""

    def __init__(self, quick, budget):
        self.quick = quick
        self.budget = budget
        self.round_s = 0.01 if quick else 0.05  # length of one timed round
        self.tf = _nabi()
        from nabi.framework import device as dev
        self.dev = dev
        self.emulated = dev.emulated()
        self.cb = None
        self.gpu = None
        self.skip = None
        if not self.tf.cuda.is_available():
            if not self.tf.cuda.is_built():
                why = ("nabi was built without CUDA (pip install . on a machine with nvcc "
                       "builds it; NABI_CUDA=ON makes a missing nvcc an error)")
            else:
                why = self.tf._C.cuda_backend.unavailable_reason() or "no CUDA device visible"
            self.skip = f"no GPU: {why}"
            return
        self.cb = dev.backend()
        self.gpu = self.cb.device_name(0)
        self.torch = _torch()
        self.tdev = None  # where torch runs: "cuda", "cpu" (emulated --quick only) or None
        self.yardstick_note = ""
        if self.torch is None:
            self.yardstick_note = "torch is not installed: yardstick missing"
        elif self.torch.cuda.is_available():
            self.tdev = "cuda"
        elif self.emulated and quick:
            self.tdev = "cpu"
            self.yardstick_note = ("torch on the CPU (emulated GPU, --quick): a code-path check, "
                                   "not a yardstick")
        else:
            self.yardstick_note = "torch has no CUDA device: yardstick missing"
        if self.emulated:
            self.yardstick_note = ("EMULATED GPU (NumPy): nabi's numbers are meaningless. "
                                   + self.yardstick_note).strip()
        self.torch_gpu = (self.torch.cuda.get_device_name(0) if self.tdev == "cuda" else None)
        if self.torch is not None:
            self._fp32_torch()

    def _fp32_torch(self):
        t = self.torch
        t.backends.cuda.matmul.allow_tf32 = False
        t.backends.cudnn.allow_tf32 = False
        t.backends.cudnn.benchmark = False

    def nsync(self):
        self.tf.cuda.synchronize()

    def tsync(self):
        if self.tdev == "cuda":
            self.torch.cuda.synchronize()

    def tlabel(self):
        return {"cuda": "", "cpu": " [torch on CPU]"}.get(self.tdev, "")

    def info(self):
        t = self.torch
        out = {"gpu": self.gpu, "emulated": self.emulated,
               "nabi": getattr(self.tf, "__version__", "?"),
               "nabi_from": os.path.dirname(self.tf.__file__),
               "torch": getattr(t, "__version__", None) if t else None,
               "torch_device": self.tdev, "torch_gpu": self.torch_gpu}
        if t is not None and self.tdev == "cuda":
            out["torch_cuda"] = t.version.cuda
            out["cudnn"] = t.backends.cudnn.version()
        return out


# ---- SGEMM --------------------------------------------------------------------------------------
SGEMM_COLUMNS = ["n", "nabi GFLOP/s", "cuBLAS GFLOP/s", "nabi/cuBLAS", "nabi TF32 GFLOP/s",
                 "cuBLAS TF32 GFLOP/s", "TF32 ratio", "max rel err", "note"]


def _sgemm_one(ctx, n, rounds, row):
    cb, torch = ctx.cb, ctx.torch
    flops = 2.0 * n ** 3
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    A, B = cb.DeviceBuffer.from_numpy(a), cb.DeviceBuffer.from_numpy(b)
    ta = tb = None
    if ctx.tdev:
        ta, tb = torch.from_numpy(a).to(ctx.tdev), torch.from_numpy(b).to(ctx.tdev)
    notes, errs = [], []
    for tf32 in (False, True):
        cb.set_tf32_enabled(tf32)
        if torch is not None:
            torch.backends.cuda.matmul.allow_tf32 = tf32
        try:
            got = cb.matmul(A, B).numpy()
            if ta is not None:
                ref = (ta @ tb).cpu().numpy()
            else:  # no yardstick: check a slice against float64 NumPy
                ref = a[:64].astype(np.float64) @ b.astype(np.float64)
                got = got[:64]
            err = _rel_err(got, ref)
            errs.append(f"{err:.1e}")
            if not err < (5e-3 if tf32 else 1e-3):
                notes.append(f"MISMATCH (tf32={tf32})")
            t_n = time_gpu(lambda: cb.matmul(A, B), cb.synchronize, rounds, ctx.round_s)
            t_t = (time_gpu(lambda: ta @ tb, ctx.tsync, rounds, ctx.round_s)
                   if ta is not None else None)
        finally:
            cb.set_tf32_enabled(False)
            if torch is not None:
                torch.backends.cuda.matmul.allow_tf32 = False
        g_n = flops / t_n / 1e9
        g_t = flops / t_t / 1e9 if t_t else MISSING
        ratio = g_n / g_t if t_t else MISSING
        if tf32:
            row.update({"nabi TF32 GFLOP/s": g_n, "cuBLAS TF32 GFLOP/s": g_t,
                        "TF32 ratio": ratio})
        else:
            row.update({"nabi GFLOP/s": g_n, "cuBLAS GFLOP/s": g_t, "nabi/cuBLAS": ratio})
    row["max rel err"] = " / ".join(errs)
    if ctx.tlabel():
        notes.append(ctx.tlabel().strip(" []"))
    row["note"] = "; ".join(notes)
    A = B = ta = tb = None  # free before the next size
    cb.empty_cache()
    if ctx.tdev == "cuda":
        torch.cuda.empty_cache()


def sgemm_rows(ctx):
    rounds = 3 if ctx.quick else 7
    rows = []
    for n in (SGEMM_SIZES_QUICK if ctx.quick else SGEMM_SIZES):
        row = {"n": n}
        if ctx.budget.left() < (5 if n < 8192 else 30):
            row["note"] = "skipped: out of time budget"
            rows.append(row)
            continue
        try:
            _sgemm_one(ctx, n, rounds, row)
        except Exception as e:  # noqa: BLE001  (keep the other sizes)
            row["note"] = f"FAILED: {type(e).__name__}: {e}"
        rows.append(row)
    return rows


# ---- convolutions -------------------------------------------------------------------------------
CONV_COLUMNS = ["workload", "nabi ms", "cuDNN ms", "cuDNN/nabi", "cuDNN layout", "max rel err",
                "note"]


def conv_rows(ctx):
    tf, torch = ctx.tf, ctx.torch
    batch = 8 if ctx.quick else 100
    rounds = 3 if ctx.quick else 9
    rng = np.random.default_rng(0)
    rows = []
    if torch is not None:
        torch.backends.cudnn.benchmark = True
    try:
        for (H, C, CO) in [(28, 1, 32), (13, 32, 64)]:
            HO = H - 2
            label = f"conv {H}x{H}x{C}->{CO} 3x3 valid+bias+relu, batch {batch}"
            if ctx.budget.left() < 10:
                rows.append({"workload": label, "note": "skipped: out of time budget"})
                continue
            x = rng.standard_normal((batch, H, H, C)).astype(np.float32)
            w = (rng.standard_normal((3, 3, C, CO)) * 0.1).astype(np.float32)
            b = (rng.standard_normal(CO) * 0.1).astype(np.float32)
            g = rng.standard_normal((batch, HO, HO, CO)).astype(np.float32)
            need_dx = C > 1  # training wants no gradient for the network's input
            with tf.device("/GPU:0"):
                xc, wc, bc, gc = (tf.constant(v) for v in (x, w, b, g))
                xv = tf.Variable(x) if need_dx else xc
                wv, bv = tf.Variable(w), tf.Variable(b)
            assert xc.is_cuda and wv.is_cuda, "[bench_gpu] conv operands are not on the GPU"

            def n_fwd():
                return tf.nn.conv2d_bias_activation(xc, wc, bc, 1, "VALID", activation="relu")

            def n_fb():
                with tf.GradientTape() as tape:
                    y = tf.nn.conv2d_bias_activation(xv, wv, bv, 1, "VALID", activation="relu")
                return tape.gradient(y, [xv, wv, bv] if need_dx else [wv, bv],
                                     output_gradients=gc)

            r = {"workload": label + " fwd"}
            r2 = {"workload": label + " fwd+bwd"}
            if ctx.tdev:
                F = torch.nn.functional
                best = {}
                for layout in ("NCHW", "channels_last"):
                    mf = (torch.channels_last if layout == "channels_last"
                          else torch.contiguous_format)

                    def T(a, perm):
                        return torch.from_numpy(np.transpose(a, perm).copy()).to(ctx.tdev) \
                            .contiguous(memory_format=mf)
                    tx, tw, tg = T(x, (0, 3, 1, 2)), T(w, (3, 2, 0, 1)), T(g, (0, 3, 1, 2))
                    tb = torch.from_numpy(b).to(ctx.tdev)
                    txg = tx.clone().requires_grad_(need_dx)
                    twg = tw.clone().requires_grad_(True)
                    tbg = tb.clone().requires_grad_(True)

                    def t_fwd():
                        with torch.no_grad():
                            return F.relu(F.conv2d(tx, tw, tb))

                    def t_fb():
                        for p in (txg, twg, tbg):
                            p.grad = None
                        F.relu(F.conv2d(txg, twg, tbg)).backward(tg)

                    if layout == "NCHW":  # check nabi against torch once
                        y_ref = t_fwd().permute(0, 2, 3, 1).cpu().numpy()
                        t_fb()
                        grads = n_fb()
                        errs = [_rel_err(n_fwd().numpy(), y_ref),
                                _rel_err(grads[-2].numpy(),
                                         twg.grad.permute(2, 3, 1, 0).cpu().numpy()),
                                _rel_err(grads[-1].numpy(), tbg.grad.cpu().numpy())]
                        if need_dx:
                            errs.append(_rel_err(grads[0].numpy(),
                                                 txg.grad.permute(0, 2, 3, 1).cpu().numpy()))
                        r["max rel err"] = f"{errs[0]:.1e}"
                        r2["max rel err"] = f"{max(errs[1:]):.1e}"
                        for rr, e in ((r, errs[0]), (r2, max(errs[1:]))):
                            if not e < 1e-3:
                                rr["note"] = "MISMATCH vs torch"
                    for key, fn in (("fwd", t_fwd), ("fb", t_fb)):
                        t = time_gpu(fn, ctx.tsync, rounds, ctx.round_s)
                        if key not in best or t < best[key][0]:
                            best[key] = (t, layout)
                for rr, key in ((r, "fwd"), (r2, "fb")):
                    rr["cuDNN ms"] = best[key][0] * 1e3
                    rr["cuDNN layout"] = best[key][1] + ctx.tlabel()
            else:
                for rr in (r, r2):
                    rr["cuDNN ms"] = MISSING
            r["nabi ms"] = time_gpu(n_fwd, ctx.nsync, rounds, ctx.round_s) * 1e3
            r2["nabi ms"] = time_gpu(n_fb, ctx.nsync, rounds, ctx.round_s) * 1e3
            for rr in (r, r2):
                if isinstance(rr.get("cuDNN ms"), float):
                    rr["cuDNN/nabi"] = rr["cuDNN ms"] / rr["nabi ms"]
            rows += [r, r2]
    finally:
        if torch is not None:
            torch.backends.cudnn.benchmark = False
    return rows


# ---- training epochs ----------------------------------------------------------------------------
EPOCH_COLUMNS = ["workload", "nabi s/epoch", "torch s/epoch", "torch/nabi",
                 "torch defaults s/epoch", "nabi loss", "torch loss", "nabi acc", "torch acc",
                 "note"]


def find_datasets(arg=None):
    """The datasets root holding mnist/, or None."""
    cands = [arg, os.environ.get("NABI_DATASETS"), os.path.join(REPO, "shared", "datasets"),
             os.path.join(REPO, "..", "shared", "datasets")]
    for c in cands:
        if c and any(os.path.isfile(os.path.join(c, "mnist", f)) for f in
                     ("train-images-idx3-ubyte.gz", "train-images-idx3-ubyte")):
            return os.path.abspath(c)
    return None


def load_mnist(ctx, datasets):
    """(x (N, 28, 28, 1) float32 in [0, 1], y (N,) int64, note)."""
    root = find_datasets(datasets)
    if root is not None:
        try:
            (x, y), _ = ctx.tf.keras.datasets.mnist.load_data(path=os.path.join(root, "mnist"))
            return ((x[..., None] / 255.0).astype(np.float32), y.astype(np.int64),
                    f"MNIST from {root}")
        except Exception as e:  # noqa: BLE001
            why = f"MNIST under {root} did not load ({type(e).__name__}: {e})"
    else:
        why = "MNIST not found (--datasets, $NABI_DATASETS, shared/datasets, ../shared/datasets)"
    print(f"[bench_gpu] {why}: using RANDOM data of MNIST's shape", file=sys.stderr)
    rng = np.random.default_rng(0)
    return (rng.random((60000, 28, 28, 1), dtype=np.float32), rng.integers(0, 10, 60000),
            why + "; RANDOM data of MNIST's shape (timings valid, accuracies meaningless)")


def build_cnn(keras):
    """examples/mnist_cnn.py's build_model."""
    L = keras.layers
    return keras.Sequential([
        L.Input((28, 28, 1)),
        L.Conv2D(32, (3, 3), activation="relu"), L.MaxPooling2D((2, 2)), L.Dropout(0.25),
        L.Conv2D(64, (3, 3), activation="relu"), L.MaxPooling2D((2, 2)), L.Dropout(0.25),
        L.Flatten(), L.Dense(256, activation="relu"), L.Dropout(0.5), L.Dense(10)])


def build_mlp(keras):
    """examples/mnist_mlp.py's model."""
    L = keras.layers
    return keras.Sequential([L.Dense(256, activation="relu", input_shape=(784,)),
                             L.Dense(256, activation="relu"),
                             L.Dense(10, activation="softmax")])


def torch_net(torch, kind):
    nn = torch.nn
    if kind == "cnn":
        return nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Dropout(0.25),
                             nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Dropout(0.25),
                             nn.Flatten(), nn.Linear(64 * 5 * 5, 256), nn.ReLU(), nn.Dropout(0.5),
                             nn.Linear(256, 10))
    return nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(),
                         nn.Linear(256, 10))


def _repeat(fn, reps, budget, sync):
    """Median of up to reps timed calls of fn() -> extra; stops early (after one) when the budget
    would not cover another. Returns (median seconds, last extra, count)."""
    ts, extra = [], None
    for i in range(reps):
        sync()
        t = time.perf_counter()
        extra = fn()
        sync()
        ts.append(time.perf_counter() - t)
        if budget.left() < 1.5 * ts[-1] + 5:
            break
    return float(np.median(ts)), extra, len(ts)


class NabiEpoch:
    """A compiled nabi model of `kind` ('cnn' / 'mlp'), warmed up; .rate is the seconds per
    sample of a warm fit over n_warm samples (for planning against the budget)."""

    def __init__(self, ctx, kind, x, y, n_warm, batch=100):
        keras = ctx.tf.keras
        keras.utils.set_random_seed(0)
        self.ctx, self.batch = ctx, batch
        if kind == "cnn":
            m = build_cnn(keras)
            m.compile(optimizer=keras.optimizers.Adam(0.001),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      metrics=["accuracy"])
            self.y = y
        else:
            m = build_mlp(keras)
            m.compile(optimizer=keras.optimizers.Adam(0.001), loss="categorical_crossentropy",
                      metrics=["accuracy"])
            self.y = keras.utils.to_categorical(y, 10)
        self.m, self.x = m, x
        m.fit(x[:2 * batch], self.y[:2 * batch], batch_size=batch, epochs=1, verbose=0)  # builds
        self.on_gpu = all(type(w._data).__name__ == "DeviceArray" for w in m.trainable_weights)
        ctx.nsync()
        t = time.perf_counter()
        m.fit(x[:n_warm], self.y[:n_warm], batch_size=batch, epochs=1, verbose=0)
        ctx.nsync()
        self.rate = (time.perf_counter() - t) / n_warm

    def time(self, n, reps):
        m, x, y = self.m, self.x[:n], self.y[:n]

        def epoch():
            h = m.fit(x, y, batch_size=self.batch, epochs=1, verbose=0)
            return h.history["loss"][-1], h.history["accuracy"][-1]
        t, (loss, acc), k = _repeat(epoch, reps, self.ctx.budget, self.ctx.nsync)
        return t, loss, acc, k


def torch_epoch(ctx, kind, x, y, n_warm, reps, batch=100, defaults=False):
    torch = ctx.torch
    dev = ctx.tdev
    if defaults:  # PyTorch as installed: cuDNN may use TF32 for convolutions
        torch.backends.cudnn.allow_tf32 = True
    try:
        torch.manual_seed(0)
        net = torch_net(torch, kind).to(dev)
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)
        lossf = torch.nn.CrossEntropyLoss()
        xs = np.transpose(x, (0, 3, 1, 2)) if kind == "cnn" else x.reshape(len(x), 784)
        X = torch.from_numpy(np.ascontiguousarray(xs)).to(dev)
        Y = torch.from_numpy(y).to(dev)

        def epoch(n):
            perm = torch.randperm(n, device=dev)
            correct = torch.zeros((), dtype=torch.int64, device=dev)
            loss_sum = torch.zeros((), device=dev)
            steps = 0
            for i in range(0, n, batch):
                idx = perm[i:i + batch]
                xb, yb = X[idx], Y[idx]
                opt.zero_grad(set_to_none=True)
                out = net(xb)
                loss = lossf(out, yb)
                loss.backward()
                opt.step()
                correct += (out.argmax(1) == yb).sum()
                loss_sum += loss.detach()
                steps += 1
            return loss_sum.item() / steps, correct.item() / n
        net.train()
        epoch(min(n_warm, len(X)))
        t, (loss, acc), k = _repeat(lambda: epoch(len(X)), reps, ctx.budget, ctx.tsync)
        X = Y = net = opt = None
        if dev == "cuda":
            torch.cuda.empty_cache()
        return t, loss, acc, k
    finally:
        ctx._fp32_torch()


def plan_epoch(n, reps, rate, allowance, batch=100, n_min=1000):
    """(samples, repeats) whose time, at `rate` s/sample, fits `allowance` seconds: the full
    epoch repeated as often as fits (at most reps), else one run over as many whole batches
    as fit (at least n_min), whose time is then scaled to the full epoch."""
    full = rate * n
    if full <= 0 or allowance == float("inf"):
        return n, reps
    if full <= allowance:
        return n, max(1, min(reps, int(allowance // full)))
    m = int(allowance / rate) // batch * batch
    return max(min(n, n_min), min(n, m)), 1


def epoch_rows(ctx, datasets):
    x, y, data_note = load_mnist(ctx, datasets)
    if ctx.quick:
        plan = [("cnn", 300, 100), ("mlp", 1000, 200)]
        reps = 2
    else:
        plan = [("cnn", len(x), 2000), ("mlp", len(x), 2000)]
        reps = 3
    names = {"cnn": "seed MNIST CNN (examples/mnist_cnn.py)",
             "mlp": "MNIST MLP 784-256-256-10 (examples/mnist_mlp.py)"}
    rows = []
    for i, (kind, n, n_warm) in enumerate(plan):
        row = {"workload": f"{names[kind]}: one epoch of {n}, batch 100, Adam"}
        rows.append(row)
        if ctx.budget.left() < 20:
            row["note"] = "skipped: out of time budget"
            continue
        xs = x[:n] if kind == "cnn" else x[:n].reshape(n, 784)
        notes = []
        ne = NabiEpoch(ctx, kind, xs, y[:n], n_warm)
        # this workload's share of what is left: nabi, torch (FP32, and defaults for the CNN),
        # then the same for the workloads after it; torch is assumed no slower than nabi
        parts = sum((2.5 if k == "cnn" else 2) if ctx.tdev else 1 for k, _, _ in plan[i:])
        share = max(ctx.budget.left() - 10, 0) / parts
        n_eff, reps_eff = plan_epoch(n, reps, ne.rate, share)
        scale = n / n_eff
        if n_eff < n:
            notes.append(f"time budget: s/epoch scaled from {n_eff} samples")
        t, loss, acc, k = ne.time(n_eff, reps_eff)
        t *= scale
        row.update({"nabi s/epoch": t, "nabi loss": loss, "nabi acc": acc})
        notes.append(f"nabi: median of {k}")
        if not ne.on_gpu:
            notes.append("NABI WEIGHTS NOT ON THE GPU")
        del ne
        if ctx.tdev and ctx.budget.left() > 10:
            tt, tl, ta, tk = torch_epoch(ctx, kind, x[:n_eff], y[:n_eff], n_warm, reps_eff)
            tt *= scale
            row.update({"torch s/epoch": tt, "torch loss": tl, "torch acc": ta,
                        "torch/nabi": tt / t})
            notes.append(f"torch: median of {tk}" + ctx.tlabel())
            if kind == "cnn" and ctx.tdev == "cuda" and ctx.budget.left() > 15:
                td, _, _, _ = torch_epoch(ctx, kind, x[:n_eff], y[:n_eff], n_warm,
                                          min(2, reps_eff), defaults=True)
                row["torch defaults s/epoch"] = td * scale
        elif not ctx.tdev:
            row["torch s/epoch"] = MISSING
        row["note"] = "; ".join(notes)
    return rows, data_note


# ---- sort and top_k -----------------------------------------------------------------------------
SORT_COLUMNS = ["workload", "nabi ms", "torch ms", "torch/nabi", "check", "note"]


def sort_rows(ctx):
    """tf.sort / tf.argsort / tf.math.top_k on GPU tensors (csrc/cuda/sort.cu: a bitonic sort
    of (key, index) pairs in shared memory, global merge steps for long rows) against
    torch.sort / torch.topk on the same GPU. Values are checked against NumPy."""
    tf, torch = ctx.tf, ctx.torch
    rounds = 3 if ctx.quick else 9
    rng = np.random.default_rng(0)
    cases = ([("top_k k=5, 64x100", (64, 100), "topk"), ("sort rows, 16x300", (16, 300), "sort"),
              ("argsort one row of 5000", (1, 5000), "argsort")] if ctx.quick else
             [("top_k k=5, 1000x1000 logits", (1000, 1000), "topk"),
              ("sort rows, 100x4096", (100, 4096), "sort"),
              ("argsort (stable) one row of 2^20", (1, 1 << 20), "argsort")])
    rows = []
    for label, shape, kind in cases:
        row = {"workload": label}
        rows.append(row)
        if ctx.budget.left() < 5:
            row["note"] = "skipped: out of time budget"
            continue
        x = rng.standard_normal(shape).astype(np.float32)
        with tf.device("/GPU:0"):
            xc = tf.constant(x)
        assert xc.is_cuda, "[bench_gpu] sort operand is not on the GPU"
        if kind == "topk":
            def fn():
                return tf.math.top_k(xc, k=5)
            got = fn().values.numpy()
            ref = -np.sort(-x, axis=-1)[:, :5]
        elif kind == "sort":
            def fn():
                return tf.sort(xc, axis=-1)
            got, ref = fn().numpy(), np.sort(x, axis=-1)
        else:
            def fn():
                return tf.argsort(xc, axis=-1, stable=True)
            got, ref = fn().numpy(), np.argsort(x, axis=-1, kind="stable")
        row["check"] = "ok" if np.array_equal(got, ref) else "MISMATCH vs NumPy"
        row["nabi ms"] = time_gpu(fn, ctx.nsync, rounds, ctx.round_s) * 1e3
        if ctx.tdev:
            tx = torch.from_numpy(x).to(ctx.tdev)
            tfn = {"topk": lambda: torch.topk(tx, 5, dim=-1),
                   "sort": lambda: torch.sort(tx, dim=-1),
                   "argsort": lambda: torch.argsort(tx, dim=-1, stable=True)}[kind]
            row["torch ms"] = time_gpu(tfn, ctx.tsync, rounds, ctx.round_s) * 1e3
            row["torch/nabi"] = row["torch ms"] / row["nabi ms"]
            if ctx.tlabel():
                row["note"] = ctx.tlabel().strip(" []")
        else:
            row["torch ms"] = MISSING
    return rows


# ---- driver -------------------------------------------------------------------------------------
def _targets(result):
    out = []
    tables = {t["name"]: t for t in result["tables"]}
    sg = tables.get("sgemm")
    if sg:
        r = next((r for r in sg["rows"] if r.get("n") == SGEMM_TARGET_N), None)
        v = r.get("nabi/cuBLAS") if r else None
        out.append({"target": f"SGEMM n={SGEMM_TARGET_N} FP32 >= {SGEMM_TARGET}x cuBLAS",
                    "value": v if v is not None else "not measured",
                    "met": (v >= SGEMM_TARGET) if isinstance(v, float) else "-"})
    ep = tables.get("epoch")
    if ep:
        r = ep["rows"][0]
        v = r.get("torch/nabi")
        out.append({"target": "CNN epoch no slower than PyTorch eager (torch/nabi >= 1)",
                    "value": v if v is not None else "not measured",
                    "met": (v >= 1.0) if isinstance(v, float) else "-"})
    if out and result["emulated"]:
        for o in out:
            o["met"] = "- (emulated)"
    return out


def result_name(quick, emulated):
    return "gpu-emulated" if emulated else ("gpu-quick" if quick else "gpu")


def run(quick=False, budget=None, datasets=None, emit=None,
        sections=("sgemm", "conv", "epoch", "sort")):
    """-> {"name", "columns", "rows" (the targets), "tables", "header", ...}; a result with
    "skipped" set when there is no GPU. emit(result) is called after each section."""
    b = Budget(budget)
    ctx = Ctx(quick, b)
    if ctx.skip:
        return {"name": "gpu", "skipped": ctx.skip, "columns": ["note"],
                "rows": [{"note": "skipped: " + ctx.skip}]}
    if ctx.emulated and not quick:
        return {"name": "gpu-emulated", "skipped": "the NumPy emulator (NABI_EMULATE_CUDA=1) "
                "runs only --quick; full sizes need a real GPU", "columns": ["note"], "rows": []}
    started = time.perf_counter()
    result = {"name": result_name(quick, ctx.emulated), "gpu": ctx.gpu, "emulated": ctx.emulated,
              "quick": quick, "info": ctx.info(), "notes": [], "tables": [],
              "columns": ["target", "value", "met"], "rows": [],
              "date": datetime.datetime.now().isoformat(timespec="seconds")}
    if ctx.yardstick_note:
        result["notes"].append(ctx.yardstick_note)
    result["notes"].append("FP32 throughout (TF32 off in nabi and torch) except the TF32 columns "
                           "and 'torch defaults'")
    makers = {
        "sgemm": lambda: ("sgemm", "SGEMM (nabi backend matmul vs cuBLAS via torch)",
                          SGEMM_COLUMNS, sgemm_rows(ctx)),
        "conv": lambda: ("conv", "seed CNN convolutions (nabi vs cuDNN via torch), median ms",
                         CONV_COLUMNS, conv_rows(ctx)),
        "sort": lambda: ("sort", "sort / argsort / top_k (nabi sort.cu vs torch), median ms",
                         SORT_COLUMNS, sort_rows(ctx)),
    }
    for sec in sections:
        t0 = time.perf_counter()
        try:
            if sec == "epoch":
                rows, note = epoch_rows(ctx, datasets)
                key, title, cols = "epoch", "training epoch (nabi model.fit vs PyTorch eager)", \
                    EPOCH_COLUMNS
                result["notes"].append(note)
            else:
                key, title, cols, rows = makers[sec]()
        except Exception as e:  # noqa: BLE001  (one broken section must not hide the others)
            import traceback
            traceback.print_exc()
            key, title, cols = sec, sec, ["note"]
            rows = [{"note": f"FAILED: {type(e).__name__}: {e}"}]
        result["tables"].append({"name": key, "title": title, "columns": cols, "rows": rows,
                                 "seconds": round(time.perf_counter() - t0, 1)})
        result["rows"] = _targets(result)
        result["seconds"] = round(time.perf_counter() - started, 1)
        print(f"[bench_gpu] {sec} done in {time.perf_counter() - t0:.1f} s "
              f"({b.left():.0f} s of budget left)", file=sys.stderr, flush=True)
        if emit:
            emit(result)
    return result


def _cell(v):
    if isinstance(v, bool):
        return "yes" if v else "NO"
    if isinstance(v, float):
        return f"{v:.3g}"
    return "" if v is None else str(v)


def to_markdown(result):
    """Markdown of a bench_gpu result (bench/run.py uses this for results with "tables")."""
    out = [f"### {result['name']}", ""]
    if result.get("skipped"):
        return "\n".join(out + ["skipped: " + result["skipped"], ""])
    info = result.get("info", {})
    out.append(f"GPU: **{result.get('gpu')}**" + (f" (torch sees: {info['torch_gpu']})"
                                                   if info.get("torch_gpu") else ""))
    torch_s = (f"torch {info['torch']} on {info.get('torch_device') or 'no device'}"
               if info.get("torch") else "torch: not installed")
    out.append(f"nabi {info.get('nabi')} ({info.get('nabi_from')}); {torch_s}"
               + (f", CUDA {info.get('torch_cuda')}, cuDNN {info.get('cudnn')}"
                  if info.get("torch_cuda") else "")
               + f"; {result.get('date')}; {result.get('seconds')} s")
    for n in result.get("notes", []):
        out.append(f"- {n}")
    out.append("")

    def table(title, cols, rows):
        lines = [f"#### {title}", "", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
        for r in rows:
            lines.append("| " + " | ".join(_cell(r.get(c)) for c in cols) + " |")
        return lines + [""]
    if result.get("rows"):
        out += table("targets (issue 6)", result["columns"], result["rows"])
    for t in result.get("tables", []):
        out += table(t["title"], t["columns"], t["rows"])
    return "\n".join(out)


def write(result, out_dirs):
    """Writes <name>.json and <name>.md into each directory; returns the paths."""
    paths = []
    md = to_markdown(result)
    for d in out_dirs:
        os.makedirs(d, exist_ok=True)
        for ext, text in (("json", json.dumps(result, indent=1, default=str)), ("md", md)):
            p = os.path.join(d, f"{result['name']}.{ext}")
            with open(p + ".tmp", "w") as f:
                f.write(text)
            os.replace(p + ".tmp", p)
            paths.append(p)
    return paths


def out_dirs_for(result, out=None):
    """Where a result goes: `out` (default bench/results, except for emulated runs) and $OUT."""
    dirs = []
    if out:
        dirs.append(out)
    elif not result.get("emulated"):
        dirs.append(os.path.join(HERE, "results"))
    if os.environ.get("OUT"):
        dirs.append(os.environ["OUT"])
    return dirs


def machine_info():
    """run.py's machine description (Python, CPU, date) plus the host name."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from run import machine_info as base
    info = base()
    info["host"] = platform.node()
    return info


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="tiny sizes (seconds, even emulated)")
    ap.add_argument("--budget", type=float, default=None,
                    help="seconds for the whole run; later sections shrink or are skipped")
    ap.add_argument("--datasets", default=None, help="directory holding mnist/")
    ap.add_argument("--out", default=None, help="results directory (default bench/results; "
                    "emulated runs: none). $OUT, when set, gets a copy")
    ap.add_argument("--sections", default="sgemm,conv,epoch,sort")
    a = ap.parse_args(argv)
    written = []

    def emit(res):
        res["machine"] = machine_info()
        res["command"] = "python bench/bench_gpu.py " + " ".join(argv if argv is not None
                                                                else sys.argv[1:])
        written[:] = write(res, out_dirs_for(res, a.out))
    res = run(quick=a.quick, budget=a.budget, datasets=a.datasets, emit=emit,
              sections=tuple(s for s in a.sections.split(",") if s))
    if res.get("skipped"):
        print(f"[bench_gpu] skipped: {res['skipped']}")
        return 0
    print(to_markdown(res))
    print("[bench_gpu] wrote " + (", ".join(written) if written else "nothing (emulated run: "
                                   "pass --out DIR or set $OUT to keep the files)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
