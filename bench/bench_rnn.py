"""RNN benchmarks: nabi's fused LSTM / GRU / SimpleRNN vs PyTorch's nn.LSTM / nn.GRU / nn.RNN
(and tf.keras' LSTM when installed).

    PYTHONPATH=python /work/venv-bench/bin/python bench/bench_rnn.py [--quick]

Workloads (float32, 2 threads, same process, medians of repeats timed in alternation):
  * LSTM(128) forward on a (100, 28, 28) batch (MNIST rows), return_sequences=False;
  * the same forward + backward (gradients of sum(h_T) for every weight);
  * GRU(128) (reset_after=True, the TF2 default) and SimpleRNN(128) (tanh), forward and
    forward + backward on the same batch, against nn.GRU / nn.RNN;
  * one epoch of the stateful melody model: 50 training steps of batch 1, window 4, one
    feature, LSTM(128) + Dense(12, softmax), categorical cross-entropy, Adam, the state
    carried from step to step (detached). nabi runs the op-level step (rnn_ops.lstm +
    matmul + fused softmax cross-entropy + keras Adam, NumPy Adam without it) and, when the Keras engine
    is importable, also `model.fit(epochs=1, batch_size=1, shuffle=False)`.
Before timing, outputs and gradients are checked against PyTorch with the weights copied
across (torch gates i, f, g, o = Keras i, f, c, o; kernel = weight_ih^T; bias = b_ih + b_hh).
Keras' reset_after GRU is torch's formulation: n = tanh(x W_n + b_in + r * (h R_n + b_hn)),
h' = z h + (1 - z) n; torch orders the gates r, z, n (Keras z, r, h), and Keras' bias rows
(input, recurrent) are b_ih, b_hh. SimpleRNN's bias goes to b_ih (b_hh = 0).
"""
import os
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "2")
HERE = os.path.dirname(os.path.abspath(__file__))
_REPO_PY = os.path.join(HERE, "..", "python")
if any(f.startswith("_C") for f in os.listdir(os.path.join(_REPO_PY, "nabi"))):
    sys.path.insert(0, _REPO_PY)  # the working tree's dev build (tools/dev-build.sh)

import numpy as np  # noqa: E402

import nabi  # noqa: E402
from nabi.ops import rnn_ops  # noqa: E402

THREADS = 2


def _interleaved_ms(fns, repeats, warmup=2):
    """Medians (ms) of several callables timed in alternation, so that a burst of load from
    another process hits all of them alike."""
    for f in fns.values():
        for _ in range(warmup):
            f()
    ts = {k: [] for k in fns}
    for _ in range(repeats):
        for k, f in fns.items():
            t0 = time.perf_counter()
            f()
            ts[k].append((time.perf_counter() - t0) * 1e3)
    return {k: float(np.median(v)) for k, v in ts.items()}


def _torch():
    try:
        import torch
        torch.set_num_threads(THREADS)
        return torch
    except ImportError:
        return None


def _tf():
    try:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        import tensorflow as tf
        try:   # refused once TF has started (bench/run.py ran another TF benchmark first)
            tf.config.threading.set_intra_op_parallelism_threads(THREADS)
            tf.config.threading.set_inter_op_parallelism_threads(1)
        except RuntimeError:
            pass
        return tf
    except Exception:  # noqa: BLE001
        return None


class NabiLSTM:
    def __init__(self, D, U, rng):
        s = 1.0 / np.sqrt(U)
        self.W = nabi.Variable(rng.uniform(-s, s, (D, 4 * U)).astype(np.float32))
        self.R = nabi.Variable(rng.uniform(-s, s, (U, 4 * U)).astype(np.float32))
        self.b = nabi.Variable(rng.uniform(-s, s, (4 * U,)).astype(np.float32))
        self.U = U

    def forward(self, x, h0=None, c0=None):
        return rnn_ops.lstm(x, h0, c0, self.W, self.R, self.b)

    def fwd_bwd(self, x):
        with nabi.GradientTape() as tape:
            _, h, _ = self.forward(x)
            loss = nabi.reduce_sum(h)
        return tape.gradient(loss, [self.W, self.R, self.b])


def _copy_to_torch(torch, net, m):
    with torch.no_grad():
        m.weight_ih_l0.copy_(torch.from_numpy(net.W.numpy().T.copy()))
        m.weight_hh_l0.copy_(torch.from_numpy(net.R.numpy().T.copy()))
        m.bias_ih_l0.copy_(torch.from_numpy(net.b.numpy()))
        m.bias_hh_l0.zero_()


def bench_mnist_lstm(rows, quick, torch, tf):
    B, T, D, U = 100, 28, 28, 128
    rng = np.random.default_rng(0)
    x = rng.random((B, T, D), dtype=np.float32)
    net = NabiLSTM(D, U, rng)
    reps = 10 if quick else 40
    res_f = {"workload": "LSTM(128) fwd, 100x28x28"}
    res_b = {"workload": "LSTM(128) fwd+bwd, 100x28x28"}
    fwd = {"nabi ms": lambda: net.forward(x)}
    fb = {"nabi ms": lambda: net.fwd_bwd(x)}
    if torch is not None:
        m = torch.nn.LSTM(D, U, batch_first=True)
        _copy_to_torch(torch, net, m)
        xt = torch.from_numpy(x)
        # correctness
        with torch.no_grad():
            out_t, (h_t, c_t) = m(xt)
        out_n, h_n, c_n = net.forward(x)
        err = float(np.abs(out_t.numpy() - out_n.numpy()).max())
        assert err < 1e-4, f"forward differs from torch: {err}"
        m.zero_grad()
        _, (h_t, _) = m(xt)
        h_t.sum().backward()
        gW, gR, gb = net.fwd_bwd(x)
        for a, b_ in ((gW.numpy(), m.weight_ih_l0.grad.numpy().T),
                      (gR.numpy(), m.weight_hh_l0.grad.numpy().T), (gb.numpy(), m.bias_ih_l0.grad.numpy())):
            e = float(np.abs(a - b_).max() / max(1.0, np.abs(b_).max()))
            assert e < 1e-4, f"gradient differs from torch: {e}"

        def t_fwd():
            with torch.no_grad():
                m(xt)

        def t_fb():
            m.zero_grad(set_to_none=True)
            _, (h, _) = m(xt)
            h.sum().backward()
        fwd["torch ms"] = t_fwd
        fb["torch ms"] = t_fb
    if tf is not None:
        layer = tf.keras.layers.LSTM(U)
        layer.build((B, T, D))
        layer.set_weights([net.W.numpy(), net.R.numpy(), net.b.numpy()])
        xtf = tf.constant(x)
        err = float(np.abs(layer(xtf).numpy() - net.forward(x)[1].numpy()).max())
        assert err < 1e-4, f"forward differs from tf.keras: {err}"

        @tf.function
        def f():
            return layer(xtf)

        @tf.function
        def fbt():
            with tf.GradientTape() as tape:
                loss = tf.reduce_sum(layer(xtf))
            return tape.gradient(loss, layer.trainable_weights)
        fwd["tf.keras ms"] = lambda: f().numpy()
        fb["tf.keras ms"] = lambda: [g.numpy() for g in fbt()]
    res_f.update(_interleaved_ms(fwd, reps))
    res_b.update(_interleaved_ms(fb, reps))
    rows.extend([res_f, res_b])


class NabiGRU:
    """GRU (reset_after=True): kernel (D, 3U), recurrent kernel (U, 3U), bias (2, 3U)."""

    def __init__(self, D, U, rng):
        s = 1.0 / np.sqrt(U)
        self.W = nabi.Variable(rng.uniform(-s, s, (D, 3 * U)).astype(np.float32))
        self.R = nabi.Variable(rng.uniform(-s, s, (U, 3 * U)).astype(np.float32))
        self.b = nabi.Variable(rng.uniform(-s, s, (2, 3 * U)).astype(np.float32))

    def forward(self, x):
        return rnn_ops.gru(x, None, self.W, self.R, self.b)

    def fwd_bwd(self, x):
        with nabi.GradientTape() as tape:
            _, h = self.forward(x)
            loss = nabi.reduce_sum(h)
        return tape.gradient(loss, [self.W, self.R, self.b])

    def to_torch(self, torch, m):
        U = self.R.numpy().shape[0]
        perm = np.r_[U:2 * U, 0:U, 2 * U:3 * U]  # Keras z, r, h -> torch r, z, n
        b = self.b.numpy()
        with torch.no_grad():
            m.weight_ih_l0.copy_(torch.from_numpy(self.W.numpy()[:, perm].T.copy()))
            m.weight_hh_l0.copy_(torch.from_numpy(self.R.numpy()[:, perm].T.copy()))
            m.bias_ih_l0.copy_(torch.from_numpy(b[0, perm].copy()))
            m.bias_hh_l0.copy_(torch.from_numpy(b[1, perm].copy()))

    def torch_grads(self, m):
        U = self.R.numpy().shape[0]
        inv = np.r_[U:2 * U, 0:U, 2 * U:3 * U]  # the permutation is its own inverse
        return (m.weight_ih_l0.grad.numpy()[inv].T, m.weight_hh_l0.grad.numpy()[inv].T,
                np.stack([m.bias_ih_l0.grad.numpy()[inv], m.bias_hh_l0.grad.numpy()[inv]]))


class NabiSimpleRNN:
    """SimpleRNN (tanh): kernel (D, U), recurrent kernel (U, U), bias (U)."""

    def __init__(self, D, U, rng):
        s = 1.0 / np.sqrt(U)
        self.W = nabi.Variable(rng.uniform(-s, s, (D, U)).astype(np.float32))
        self.R = nabi.Variable(rng.uniform(-s, s, (U, U)).astype(np.float32))
        self.b = nabi.Variable(rng.uniform(-s, s, (U,)).astype(np.float32))

    def forward(self, x):
        return rnn_ops.simple_rnn(x, None, self.W, self.R, self.b)

    def fwd_bwd(self, x):
        with nabi.GradientTape() as tape:
            _, h = self.forward(x)
            loss = nabi.reduce_sum(h)
        return tape.gradient(loss, [self.W, self.R, self.b])

    def to_torch(self, torch, m):
        _copy_to_torch(torch, self, m)

    def torch_grads(self, m):
        return (m.weight_ih_l0.grad.numpy().T, m.weight_hh_l0.grad.numpy().T,
                m.bias_ih_l0.grad.numpy())


def bench_mnist_gru_rnn(rows, quick, torch):
    """GRU(128) and SimpleRNN(128) on the LSTM rows' batch, checked against torch first."""
    B, T, D, U = 100, 28, 28, 128
    rng = np.random.default_rng(0)
    x = rng.random((B, T, D), dtype=np.float32)
    reps = 10 if quick else 40
    for name, cls, tcls in (("GRU", NabiGRU, "GRU"), ("SimpleRNN", NabiSimpleRNN, "RNN")):
        net = cls(D, U, rng)
        res_f = {"workload": f"{name}(128) fwd, 100x28x28"}
        res_b = {"workload": f"{name}(128) fwd+bwd, 100x28x28"}
        fwd = {"nabi ms": lambda net=net: net.forward(x)}
        fb = {"nabi ms": lambda net=net: net.fwd_bwd(x)}
        if torch is not None:
            m = getattr(torch.nn, tcls)(D, U, batch_first=True)
            net.to_torch(torch, m)
            xt = torch.from_numpy(x)
            with torch.no_grad():
                out_t, _ = m(xt)
            out_n, _ = net.forward(x)
            err = float(np.abs(out_t.numpy() - out_n.numpy()).max())
            assert err < 1e-4, f"{name} forward differs from torch: {err}"
            m.zero_grad()
            _, h_t = m(xt)
            h_t.sum().backward()
            for a, b_ in zip((g.numpy() for g in net.fwd_bwd(x)), net.torch_grads(m)):
                e = float(np.abs(a - b_).max() / max(1.0, np.abs(b_).max()))
                assert e < 1e-4, f"{name} gradient differs from torch: {e}"

            def t_fwd(m=m, xt=xt):
                with torch.no_grad():
                    m(xt)

            def t_fb(m=m, xt=xt):
                m.zero_grad(set_to_none=True)
                _, h = m(xt)
                h.sum().backward()
            fwd["torch ms"] = t_fwd
            fb["torch ms"] = t_fb
        res_f.update(_interleaved_ms(fwd, reps))
        res_b.update(_interleaved_ms(fb, reps))
        rows.extend([res_f, res_b])


def melody_data():
    seq = ("g8 e8 e4 f8 d8 d4 c8 d8 e8 f8 g8 g8 g4 g8 e8 e8 e8 f8 d8 d4 c8 e8 g8 g8 e8 e8 e4 "
           "d8 d8 d8 d8 d8 e8 f4 e8 e8 e8 e8 e8 f8 g4 g8 e8 e4 f8 d8 d4 c8 e8 g8 g8 e8 e8 e4").split()
    code = {n + d: i + (7 if d == "8" else 0) for d in "48" for i, n in enumerate("cdefgab")}
    ids = [code[s] for s in seq]
    X = np.array([ids[i:i + 4] for i in range(len(ids) - 4)], np.float32)[..., None] / 13.0
    y = np.eye(12, dtype=np.float32)[[ids[i + 4] for i in range(len(ids) - 4)]]
    return X, y


class _Adam:
    def __init__(self, params, lr=1e-3, b1=0.9, b2=0.999, eps=1e-7):
        self.p, self.lr, self.b1, self.b2, self.eps = params, lr, b1, b2, eps
        self.m = [np.zeros_like(v.numpy()) for v in params]
        self.v = [np.zeros_like(v.numpy()) for v in params]
        self.t = 0

    def step(self, grads):
        self.t += 1
        a = self.lr * np.sqrt(1 - self.b2 ** self.t) / (1 - self.b1 ** self.t)
        for p, g, m, v in zip(self.p, grads, self.m, self.v):
            g = g.numpy()
            m += (1 - self.b1) * (g - m)
            v += (1 - self.b2) * (g * g - v)
            p._data -= a * m / (np.sqrt(v) + self.eps)


def bench_melody(rows, quick, torch, tf):
    X, Y = melody_data()
    rng = np.random.default_rng(1)
    U = 128
    net = NabiLSTM(1, U, rng)
    Wd = nabi.Variable(rng.uniform(-0.1, 0.1, (U, 12)).astype(np.float32))
    bd = nabi.Variable(np.zeros(12, np.float32))
    params = [net.W, net.R, net.b, Wd, bd]
    try:  # the framework's fused Adam (C++ multi-tensor update) when the Keras package is there
        from nabi import keras as _k
        kopt = _k.optimizers.Adam(1e-3)

        class _KAdam:
            def step(self, grads):
                kopt.apply_gradients(zip(grads, params))
        opt = _KAdam()
    except Exception:  # noqa: BLE001
        opt = _Adam(params)

    def epoch():
        h = c = np.zeros((1, U), np.float32)
        for i in range(len(X)):
            with nabi.GradientTape() as tape:
                _, hT, cT = net.forward(X[i:i + 1], h, c)
                logits = nabi.matmul(hT, Wd) + bd
                loss = nabi.reduce_mean(nabi.nn.softmax_cross_entropy_with_logits(Y[i:i + 1], logits))
            grads = tape.gradient(loss, params)
            opt.step(grads)
            h, c = hT.numpy(), cT.numpy()
    reps = 3 if quick else 10
    row = {"workload": "stateful LSTM(128)+Dense(12), 1 epoch = 50 steps of batch 1"}
    fns = {"nabi ms": epoch}
    if torch is not None:
        m = torch.nn.LSTM(1, U, batch_first=True)
        d = torch.nn.Linear(U, 12)
        topt = torch.optim.Adam(list(m.parameters()) + list(d.parameters()), lr=1e-3, eps=1e-7)
        Xt, yt = torch.from_numpy(X), torch.from_numpy(Y.argmax(1))

        def tepoch():
            h = c = torch.zeros(1, 1, U)
            for i in range(len(X)):
                topt.zero_grad(set_to_none=True)
                out, (h, c) = m(Xt[i:i + 1], (h, c))
                loss = torch.nn.functional.cross_entropy(d(h[0]), yt[i:i + 1])
                loss.backward()
                topt.step()
                h, c = h.detach(), c.detach()
        fns["torch ms"] = tepoch
    try:
        from nabi import keras
        model = keras.Sequential([keras.layers.LSTM(U, batch_input_shape=(1, 4, 1), stateful=True),
                                  keras.layers.Dense(12, activation="softmax")])
        model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])

        def kepoch():
            model.fit(X, Y, epochs=1, batch_size=1, shuffle=False, verbose=0)
            if hasattr(model, "reset_states"):
                model.reset_states()
            else:  # the engine's Model may not forward it yet
                for layer in model.layers:
                    getattr(layer, "reset_states", lambda: None)()
        kepoch()
        fns["nabi keras fit ms"] = kepoch
    except Exception as e:  # noqa: BLE001 - the Keras engine may not be there yet
        row["nabi keras fit ms"] = f"n/a ({type(e).__name__})"
    row.update(_interleaved_ms(fns, reps, warmup=1))
    rows.append(row)


def run(quick=False):
    torch, tf = _torch(), _tf()
    rows = []
    bench_mnist_lstm(rows, quick, torch, tf)
    bench_mnist_gru_rnn(rows, quick, torch)
    bench_melody(rows, quick, torch, tf)
    cols = ["workload", "nabi ms", "torch ms"]
    if tf is not None:
        cols.append("tf.keras ms")
    if any("nabi keras fit ms" in r for r in rows):
        cols.append("nabi keras fit ms")
    for r in rows:
        if isinstance(r.get("torch ms"), float):
            r["nabi/torch"] = r["nabi ms"] / r["torch ms"]
    if torch is not None:
        cols.append("nabi/torch")
    return {"name": "rnn", "columns": cols, "rows": rows}


def _markdown(result):
    cols = result["columns"]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in result["rows"]:
        lines.append("| " + " | ".join(f"{r.get(c, ''):.3g}" if isinstance(r.get(c), float)
                                       else str(r.get(c, "")) for c in cols) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    res = run(quick="--quick" in sys.argv)
    print(f"### rnn ({THREADS} threads, float32)\n")
    print(_markdown(res))
