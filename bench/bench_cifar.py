"""CIFAR-10 CNN benchmark: the two CIFAR-10 networks learners train -- the TensorFlow
"Convolutional Neural Network" tutorial's (Conv32-pool-Conv64-pool-Conv64-Dense64-Dense10,
'valid' convs, Adam, batch 32) and the Keras example cifar10_cnn's (Conv32 same, Conv32,
pool, dropout, Conv64 same, Conv64, pool, dropout, Dense512, dropout, Dense10, RMSprop,
batch 32) -- on nabi vs the same networks in PyTorch CPU, same process, 2 threads, float32.

Rows: each network's convolutions alone (forward+backward with every gradient, at batch 32),
then one training step of each network (nabi: GradientTape + apply_gradients, and Keras
`train_on_batch`; PyTorch: zero_grad/forward/backward/step, channels_last). Every conv is
checked against PyTorch before it is timed; times are the median of REPS calls after
warm-up, in ms. The data are random images (no download).

    PYTHONPATH=python /work/venv-bench/bin/python bench/bench_cifar.py [--quick] [--json PATH]

bench/run.py imports this file and calls run(quick) -> {"name", "columns", "rows"}.
"""
import os
import sys

os.environ.setdefault("OMP_NUM_THREADS", "2")
import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from bench_conv import (COLUMNS, _close, _nabi, _time, _torch, add_ratios, main,  # noqa: E402
                        torch_train_step)

BATCH = 32


def conv_rows(tf, torch, reps):
    """fwd+bwd of each conv shape in the two networks (input (32, H, W, CI), 3x3)."""
    rng = np.random.default_rng(0)
    cases = [(32, 3, 32, "same"), (32, 3, 32, "valid"), (32, 32, 32, "valid"),
             (15, 32, 64, "valid"), (16, 32, 64, "same"), (16, 64, 64, "valid"),
             (6, 64, 64, "valid")]
    rows = []
    for H, C, CO, pad in cases:
        label = f"conv {H}x{H}x{C}->{CO} 3x3 {pad} fwd+bwd"
        x = rng.standard_normal((BATCH, H, H, C)).astype(np.float32)
        w = (rng.standard_normal((3, 3, C, CO)) * 0.1).astype(np.float32)
        b = (rng.standard_normal(CO) * 0.1).astype(np.float32)
        OH = H if pad == "same" else H - 2
        g = rng.standard_normal((BATCH, OH, OH, CO)).astype(np.float32)
        need_dx = C > 3
        xv = tf.Variable(x) if need_dx else x
        wv, bv = tf.Variable(w), tf.Variable(b)

        def n_fb():
            with tf.GradientTape() as tape:
                y = tf.nn.conv2d_bias_activation(xv, wv, bv, 1, pad.upper())
            return tape.gradient(y, ([xv] if need_dx else []) + [wv, bv], output_gradients=g)

        r = {"workload": label}
        if torch is not None:
            F = torch.nn.functional
            cl = torch.channels_last
            tx = torch.from_numpy(np.transpose(x, (0, 3, 1, 2)).copy()).contiguous(
                memory_format=cl).requires_grad_(need_dx)
            tw = torch.from_numpy(np.transpose(w, (3, 2, 0, 1)).copy()).contiguous(
                memory_format=cl).requires_grad_(True)
            tb = torch.from_numpy(b.copy()).requires_grad_(True)
            tg = torch.from_numpy(np.transpose(g, (0, 3, 1, 2)).copy()).contiguous(
                memory_format=cl)

            def t_fb():
                for p in (tx, tw, tb):
                    p.grad = None
                F.conv2d(tx, tw, tb, padding=1 if pad == "same" else 0).backward(tg)

            t_fb()
            grads = n_fb()
            if need_dx:
                _close(grads[0].numpy(), tx.grad.permute(0, 2, 3, 1).numpy(), label + " dx")
            _close(grads[-2].numpy(), tw.grad.permute(2, 3, 1, 0).numpy(), label + " dW")
            _close(grads[-1].numpy(), tb.grad.numpy(), label + " db")
            r["torch ms"] = _time(t_fb, reps)
        r["nabi ms"] = _time(n_fb, reps)
        rows.append(r)
    return rows


def _tutorial(keras, torch):
    L = keras.layers
    m = keras.Sequential([
        keras.Input((32, 32, 3)),
        L.Conv2D(32, 3, activation="relu"), L.MaxPooling2D(),
        L.Conv2D(64, 3, activation="relu"), L.MaxPooling2D(),
        L.Conv2D(64, 3, activation="relu"),
        L.Flatten(), L.Dense(64, activation="relu"), L.Dense(10)])
    t = None
    if torch is not None:
        nn = torch.nn
        t = nn.Sequential(nn.Conv2d(3, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(64, 64, 3), nn.ReLU(), nn.Flatten(),
                          nn.Linear(4 * 4 * 64, 64), nn.ReLU(), nn.Linear(64, 10))
    return m, t, (lambda: keras.optimizers.Adam(1e-3)), (lambda p: torch.optim.Adam(p, 1e-3))


def _keras_example(keras, torch):
    L = keras.layers
    m = keras.Sequential([
        keras.Input((32, 32, 3)),
        L.Conv2D(32, 3, padding="same", activation="relu"),
        L.Conv2D(32, 3, activation="relu"), L.MaxPooling2D(), L.Dropout(0.25),
        L.Conv2D(64, 3, padding="same", activation="relu"),
        L.Conv2D(64, 3, activation="relu"), L.MaxPooling2D(), L.Dropout(0.25),
        L.Flatten(), L.Dense(512, activation="relu"), L.Dropout(0.5), L.Dense(10)])
    t = None
    if torch is not None:
        nn = torch.nn
        t = nn.Sequential(nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 32, 3),
                          nn.ReLU(), nn.MaxPool2d(2), nn.Dropout(0.25),
                          nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.Conv2d(64, 64, 3),
                          nn.ReLU(), nn.MaxPool2d(2), nn.Dropout(0.25), nn.Flatten(),
                          nn.Linear(6 * 6 * 64, 512), nn.ReLU(), nn.Dropout(0.5),
                          nn.Linear(512, 10))
    return (m, t, (lambda: keras.optimizers.RMSprop(1e-4)),
            (lambda p: torch.optim.RMSprop(p, 1e-4, alpha=0.9, eps=1e-7)))


def train_rows(tf, torch, reps):
    from nabi import keras
    rng = np.random.default_rng(1)
    x = rng.random((BATCH, 32, 32, 3), dtype=np.float32)
    y = rng.integers(0, 10, BATCH)
    rows = []
    for name, build in (("TF tutorial CNN, Adam", _tutorial),
                        ("Keras cifar10_cnn, RMSprop", _keras_example)):
        model, tm, n_opt, t_opt = build(keras, torch)
        opt = n_opt()
        loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

        def n_step():
            with tf.GradientTape() as tape:
                loss = loss_fn(y, model(x, training=True))
            grads = tape.gradient(loss, model.trainable_weights)
            opt.apply_gradients(zip(grads, model.trainable_weights))
            return loss

        r = {"workload": f"train step, {name}, batch {BATCH}"}
        r2 = {"workload": f"train_on_batch, {name}, batch {BATCH}"}
        if tm is not None:
            tm = tm.to(memory_format=torch.channels_last)
            topt = t_opt(tm.parameters())
            r["torch ms"] = r2["torch ms"] = _time(torch_train_step(torch, tm, topt, x, y), reps)
        if not np.isfinite(float(n_step().numpy())):
            raise AssertionError(f"[bench_cifar] {name}: loss is not finite")
        r["nabi ms"] = _time(n_step, reps)
        model2, _, n_opt2, _ = build(keras, None)
        model2.compile(n_opt2(), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        r2["nabi ms"] = _time(lambda: model2.train_on_batch(x, y), reps)
        rows += [r, r2]
    return rows


def run(quick=False):
    tf = _nabi()
    torch = _torch()
    reps = 5 if quick else 20
    rows = conv_rows(tf, torch, reps) + train_rows(tf, torch, max(3, reps // 2))
    add_ratios(rows)
    return {"name": "cifar", "columns": COLUMNS, "rows": rows, "batch": BATCH}


if __name__ == "__main__":
    main(run)
