"""GPU kernel calls and device-to-host reads per training step, counted on the CUDA emulator.

Not a timing: on a GPU each call costs a launch plus nabi's Python dispatch (a few us), and
each read waits for the GPU, so these counts bound the per-step overhead of the device layer
for the seed models, and they can be measured on any machine:

    python bench/bench_gpu_calls.py

Counted through nabi.framework.device.backend() (one count per kernel entry called; an entry
may launch several kernels, e.g. the LSTM's per-timestep GEMM and gate launches) and
DeviceArray.get (every device-to-host copy goes through it). Keras models use fit(verbose=0).
Run by bench/run.py too (run() restores the real backend afterwards).
"""
import collections
import os
import sys

import numpy as np

_py = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python")
if any(f.startswith("_C") for f in os.listdir(os.path.join(_py, "nabi"))):
    sys.path.insert(0, _py)  # the working tree's dev build

import nabi  # noqa: E402
from nabi.framework import device as dev  # noqa: E402

CALLS = collections.Counter()
READS = [0]


class _Counting:
    """Wraps the kernel module: counts each entry called."""

    def __init__(self, inner):
        self._inner = inner

    def __getattr__(self, name):
        f = getattr(self._inner, name)
        if not callable(f) or isinstance(f, type):
            return f

        def call(*a, **k):
            CALLS[name] += 1
            return f(*a, **k)
        return call


def _install():
    """Emulated GPU as the default device, with counting; returns the undo function."""
    saved_env = os.environ.get("NABI_EMULATE_CUDA")
    saved_backend, get = dev._BACKEND[0], dev.DeviceArray.get
    os.environ["NABI_EMULATE_CUDA"] = "1"
    dev._BACKEND[0] = None
    dev._BACKEND[0] = _Counting(dev.backend())
    dev._SCALARS.clear()

    def counted_get(self):
        READS[0] += 1
        return get(self)
    dev.DeviceArray.get = counted_get

    def undo():
        dev.DeviceArray.get = get
        dev._BACKEND[0] = saved_backend
        dev._SCALARS.clear()
        if saved_env is None:
            os.environ.pop("NABI_EMULATE_CUDA", None)
        else:
            os.environ["NABI_EMULATE_CUDA"] = saved_env
    return undo


def _keras(build, shape, classes, steps=4, batch=100):
    keras = nabi.keras
    model = build(keras.layers)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    rng = np.random.default_rng(0)
    x = rng.random((steps * batch,) + shape, dtype=np.float32)
    y = rng.integers(0, classes, steps * batch)
    model.fit(x[:batch], y[:batch], batch_size=batch, epochs=1, verbose=0)  # build, warm up
    CALLS.clear()
    READS[0] = 0
    model.fit(x, y, batch_size=batch, epochs=1, verbose=0)
    return steps


def mlp():
    return _keras(lambda L: nabi.keras.Sequential([
        L.Input((784,)), L.Dense(256, activation="relu"), L.Dense(256, activation="relu"),
        L.Dense(10, activation="softmax")]), (784,), 10)


def cnn():
    return _keras(lambda L: nabi.keras.Sequential([
        L.Input((28, 28, 1)), L.Conv2D(32, 3, activation="relu"), L.MaxPooling2D(),
        L.Conv2D(64, 3, activation="relu"), L.MaxPooling2D(), L.Flatten(), L.Dropout(0.5),
        L.Dense(10, activation="softmax")]), (28, 28, 1), 10)


def lstm():
    return _keras(lambda L: nabi.keras.Sequential([
        L.Input((28, 28)), L.LSTM(64), L.Dense(10, activation="softmax")]), (28, 28), 10)


def tf1_softmax(steps=4):
    import nabi.compat.v1 as tf
    tf.reset_default_graph()
    x = tf.placeholder(tf.float32, [None, 784])
    y = tf.placeholder(tf.float32, [None, 10])
    W, b = tf.Variable(tf.zeros([784, 10])), tf.Variable(tf.zeros([10]))
    logits = tf.matmul(x, W) + b
    loss = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits_v2(labels=y, logits=logits))
    train = tf.train.GradientDescentOptimizer(0.5).minimize(loss)
    rng = np.random.default_rng(0)
    xs = rng.random((100, 784), dtype=np.float32)
    ys = np.eye(10, dtype=np.float32)[rng.integers(0, 10, 100)]
    with tf.Session() as s:
        s.run(tf.global_variables_initializer())
        s.run(train, {x: xs, y: ys})
        CALLS.clear()
        READS[0] = 0
        for _ in range(steps):
            s.run(train, {x: xs, y: ys})
    return steps


WORKLOADS = [("MNIST MLP 784-256-256-10, Keras fit, batch 100", mlp),
             ("seed MNIST CNN, Keras fit, batch 100", cnn),
             ("LSTM(64) on 28x28 sequences, Keras fit, batch 100", lstm),
             ("TF1 softmax regression, Session.run(train)", tf1_softmax)]


COLUMNS = ["workload", "GPU calls / step", "device->host reads / step", "most called (per step)"]


def run(quick=False):
    undo = _install()
    rows = []
    try:
        for name, fn in WORKLOADS:
            steps = fn()
            top = ", ".join(f"{k} {v / steps:g}" for k, v in CALLS.most_common(6))
            rows.append({COLUMNS[0]: name, COLUMNS[1]: sum(CALLS.values()) / steps,
                         COLUMNS[2]: READS[0] / steps, COLUMNS[3]: top})
    finally:
        undo()
    return {"name": "gpu_calls", "columns": COLUMNS, "rows": rows,
            "note": "counted on the CUDA emulator; an epoch's loss and metrics are read once at "
                    "its end (here spread over 4 steps)"}


def main():
    r = run()
    print("| " + " | ".join(COLUMNS) + " |")
    print("|" + "---|" * len(COLUMNS))
    for row in r["rows"]:
        print("| " + " | ".join(f"{row[c]:g}" if isinstance(row[c], float) else str(row[c])
                                for c in COLUMNS) + " |")
    print(f"\n({r['note']})")


if __name__ == "__main__":
    main()
