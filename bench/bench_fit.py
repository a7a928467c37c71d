"""Training-step cost of small Keras models: nabi `fit` vs a hand-written PyTorch loop
and tf.keras `fit` (when TensorFlow is installed: pip install tensorflow-cpu), same run, same
thread count. The XOR row runs tf.keras for a twentieth of the epochs (its fixed cost per epoch
dominates; the per-step figure is what is compared).

  xor:       Dense(2, sigmoid) -> Dense(1, sigmoid), SGD, binary cross-entropy,
             2000 epochs of fit(batch_size=4) on the 4 XOR rows: ms per step
  mnist_mlp: 784-256-256-10 relu/softmax, Adam(1e-3), batch 100, one epoch of 60000: s/epoch

    python bench/bench_fit.py [--quick]
"""
import os
import sys
import time

import numpy as np

THREADS = int(os.environ.get("NABI_BENCH_THREADS", "2"))


def _nabi():
    repo_py = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python")
    if any(f.startswith("_C") for f in os.listdir(os.path.join(repo_py, "nabi"))):
        sys.path.insert(0, repo_py)  # the working tree's dev build (tools/dev-build.sh)
    import nabi
    nabi.config.threading.set_intra_op_parallelism_threads(THREADS)
    return nabi


def _torch():
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(THREADS)
    return torch


def _tf():
    """TensorFlow/Keras when installed (pip install tensorflow-cpu), else None."""
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


def _mnist():
    root = os.environ.get("NABI_DATASETS")
    if root and os.path.isdir(os.path.join(root, "mnist")):
        nabi = _nabi()
        (x, y), _ = nabi.keras.datasets.mnist.load_data()
        return x.reshape(-1, 784).astype(np.float32) / 255.0, y.astype(np.int64)
    rng = np.random.default_rng(0)  # same cost, no download
    return rng.random((60000, 784), dtype=np.float32), rng.integers(0, 10, 60000)


XOR_X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32)
XOR_Y = np.array([[0], [1], [1], [0]], np.float32)


def xor_nabi(epochs):
    tf = _nabi()
    tf.keras.utils.set_random_seed(0)
    m = tf.keras.Sequential([tf.keras.layers.Dense(2, activation="sigmoid", input_dim=2),
                             tf.keras.layers.Dense(1, activation="sigmoid")])
    m.compile(optimizer=tf.keras.optimizers.SGD(0.5), loss="binary_crossentropy")
    m.fit(XOR_X, XOR_Y, batch_size=4, epochs=5, verbose=0)  # warm-up
    t = time.perf_counter()
    h = m.fit(XOR_X, XOR_Y, batch_size=4, epochs=epochs, verbose=0)
    dt = time.perf_counter() - t
    assert np.isfinite(h.history["loss"][-1])
    return dt / epochs * 1e3


def xor_torch(epochs):
    torch = _torch()
    if torch is None:
        return None
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Sigmoid(), torch.nn.Linear(2, 1),
                              torch.nn.Sigmoid())
    opt = torch.optim.SGD(net.parameters(), lr=0.5)
    lossf = torch.nn.BCELoss()
    x, y = torch.from_numpy(XOR_X), torch.from_numpy(XOR_Y)

    def step():
        opt.zero_grad()
        loss = lossf(net(x), y)
        loss.backward()
        opt.step()
        return loss
    for _ in range(20):
        step()
    t = time.perf_counter()
    for _ in range(epochs):
        loss = step()
    dt = time.perf_counter() - t
    assert np.isfinite(loss.item())
    return dt / epochs * 1e3


def xor_tf(epochs):
    """The same Keras code on tf.keras. Keras' fit has a fixed cost per epoch (callbacks, the
    epoch's iterator), which is what a 4-row XOR epoch measures, so fewer epochs suffice."""
    tf = _tf()
    if tf is None:
        return None
    tf.keras.utils.set_random_seed(0)
    m = tf.keras.Sequential([tf.keras.Input((2,)), tf.keras.layers.Dense(2, activation="sigmoid"),
                             tf.keras.layers.Dense(1, activation="sigmoid")])
    m.compile(optimizer=tf.keras.optimizers.SGD(0.5), loss="binary_crossentropy")
    m.fit(XOR_X, XOR_Y, batch_size=4, epochs=5, verbose=0)  # warm-up (traces the step)
    t = time.perf_counter()
    h = m.fit(XOR_X, XOR_Y, batch_size=4, epochs=epochs, verbose=0)
    dt = time.perf_counter() - t
    assert np.isfinite(h.history["loss"][-1])
    return dt / epochs * 1e3


def mlp_tf(x, y, epochs=1):
    tf = _tf()
    if tf is None:
        return None, None
    tf.keras.utils.set_random_seed(0)
    m = tf.keras.Sequential([tf.keras.Input((784,)), tf.keras.layers.Dense(256, activation="relu"),
                             tf.keras.layers.Dense(256, activation="relu"),
                             tf.keras.layers.Dense(10, activation="softmax")])
    m.compile(optimizer=tf.keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
              metrics=["accuracy"])
    m.fit(x[:2000], y[:2000], batch_size=100, epochs=1, verbose=0)  # warm-up
    t = time.perf_counter()
    h = m.fit(x, y, batch_size=100, epochs=epochs, verbose=0)
    dt = (time.perf_counter() - t) / epochs
    return dt, h.history["accuracy"][-1]


def mlp_nabi(x, y, epochs=1):
    tf = _nabi()
    tf.keras.utils.set_random_seed(0)
    m = tf.keras.Sequential([tf.keras.layers.Dense(256, activation="relu", input_shape=(784,)),
                             tf.keras.layers.Dense(256, activation="relu"),
                             tf.keras.layers.Dense(10, activation="softmax")])
    m.compile(optimizer=tf.keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
              metrics=["accuracy"])
    m.fit(x[:2000], y[:2000], batch_size=100, epochs=1, verbose=0)  # warm-up
    t = time.perf_counter()
    h = m.fit(x, y, batch_size=100, epochs=epochs, verbose=0)
    dt = (time.perf_counter() - t) / epochs
    return dt, h.history["accuracy"][-1]


def mlp_torch(x, y, epochs=1):
    torch = _torch()
    if torch is None:
        return None, None
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(), torch.nn.Linear(256, 256),
                              torch.nn.ReLU(), torch.nn.Linear(256, 10))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    lossf = torch.nn.CrossEntropyLoss()
    X, Y = torch.from_numpy(x), torch.from_numpy(y.astype(np.int64))

    def epoch(n):
        perm = torch.randperm(n)
        correct = 0
        for i in range(0, n, 100):
            idx = perm[i:i + 100]
            xb, yb = X[idx], Y[idx]
            opt.zero_grad()
            out = net(xb)
            loss = lossf(out, yb)
            loss.backward()
            opt.step()
            correct += (out.argmax(1) == yb).sum().item()
        return correct / n
    epoch(2000)
    t = time.perf_counter()
    for _ in range(epochs):
        acc = epoch(len(X))
    return (time.perf_counter() - t) / epochs, acc


def _median(f, reps):
    vals = [f() for _ in range(reps)]
    vals = [v for v in vals if v is not None]
    return float(np.median(vals)) if vals else None


def run(quick=False):
    epochs = 500 if quick else 2000
    reps = 1 if quick else 3
    rows = []
    nx = _median(lambda: xor_nabi(epochs), reps)
    tx = _median(lambda: xor_torch(epochs), reps)
    fx = _median(lambda: xor_tf(max(epochs // 20, 20)), reps)
    rows.append({"workload": f"XOR fit, {epochs} epochs of batch 4", "unit": "ms/step",
                 "nabi": nx, "torch": tx, "tf.keras": fx, "torch/nabi": (tx / nx) if tx else None,
                 "tf/nabi": (fx / nx) if fx else None})
    x, y = _mnist()
    if quick:
        x, y = x[:10000], y[:10000]
    nm = [mlp_nabi(x, y) for _ in range(reps)]
    tm = [mlp_torch(x, y) for _ in range(reps)]
    fm = [mlp_tf(x, y) for _ in range(reps)]
    ns = float(np.median([t for t, _ in nm]))
    ts = float(np.median([t for t, _ in tm])) if tm[0][0] is not None else None
    fs = float(np.median([t for t, _ in fm])) if fm[0][0] is not None else None
    rows.append({"workload": f"MNIST MLP epoch ({len(x)} samples, batch 100, Adam)", "unit": "s/epoch",
                 "nabi": ns, "torch": ts, "tf.keras": fs, "torch/nabi": (ts / ns) if ts else None,
                 "tf/nabi": (fs / ns) if fs else None,
                 "nabi acc": nm[-1][1], "torch acc": tm[-1][1], "tf acc": fm[-1][1]})
    return {"name": "fit", "threads": THREADS,
            "columns": ["workload", "unit", "nabi", "torch", "tf.keras", "torch/nabi", "tf/nabi",
                        "nabi acc", "torch acc", "tf acc"],
            "rows": rows}


if __name__ == "__main__":
    import run as _run  # noqa: E402  (bench/run.py's Markdown helper)
    print(_run.to_markdown(run(quick="--quick" in sys.argv)))
