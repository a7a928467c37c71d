"""Convolution benchmark: the seed CNN's layers on nabi vs PyTorch CPU (and TensorFlow when it
is installed: pip install tensorflow-cpu; its ops run in tf.function, as Keras runs them), same
process, 2 threads, float32, batch 100.

Rows: conv 28x28x1->32 3x3 'same' and conv 14x14x32->64 3x3 'same' (forward; forward+backward
with the filter and bias gradients, plus the input gradient for the second layer, as in
training), max-pool 2x2 on 28x28x32 (forward; forward+backward), and one full training step
of the first MNIST network (Conv32-pool-Conv64-pool-Dense256-Dense10 with dropout, Adam,
batch 100). MobileNet-style 3x3 depthwise convolutions ('same', batch 32) on 56x56x64 and
14x14x256 (forward; forward+backward with dx and dW) against PyTorch's conv2d with groups=C. PyTorch runs channels_last (its fast layout for these ops). Every workload is
checked against PyTorch (or NumPy) before it is timed; times are the median of REPS calls
after warm-up, in ms.

    PYTHONPATH=python /work/venv-bench/bin/python bench/bench_conv.py [--quick] [--json PATH]

bench/run.py imports this file and calls run(quick) -> {"name", "columns", "rows"}.
"""
import argparse
import json
import os
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "2")
import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_PYTHON = os.path.join(os.path.dirname(HERE), "python")
THREADS = 2
COLUMNS = ["workload", "nabi ms", "torch ms", "tf ms", "nabi/torch", "nabi/tf"]


def _nabi():
    try:
        import nabi  # noqa: F401
    except ImportError:
        sys.path.insert(0, REPO_PYTHON)
    import nabi
    return nabi


def _torch():
    try:
        import torch
        torch.set_num_threads(THREADS)
        return torch
    except ImportError:
        return None


def _tf():
    try:
        import tensorflow as tf_  # noqa: F401
        try:   # refused once TF has started (another TF benchmark ran first)
            tf_.config.threading.set_intra_op_parallelism_threads(THREADS)
        except RuntimeError:
            pass
        return tf_
    except Exception:  # noqa: BLE001
        return None


def _time(fn, reps, warm=3):
    for _ in range(warm):
        fn()
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return float(np.median(ts)) * 1e3


def _close(a, b, what, rtol=1e-3, atol=1e-3):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    scale = max(np.abs(b).max(), 1.0)
    if not np.allclose(a, b, rtol=rtol, atol=atol * scale):
        raise AssertionError(f"[bench_conv] {what}: nabi and the reference differ by "
                             f"{np.abs(a - b).max():.3g}")


def conv_rows(tf, torch, reps):
    rows = []
    rng = np.random.default_rng(0)
    for (H, C, CO) in [(28, 1, 32), (14, 32, 64)]:
        label = f"conv {H}x{H}x{C}->{CO} 3x3 same"
        x = rng.standard_normal((100, H, H, C)).astype(np.float32)
        w = (rng.standard_normal((3, 3, C, CO)) * 0.1).astype(np.float32)
        b = (rng.standard_normal(CO) * 0.1).astype(np.float32)
        g = rng.standard_normal((100, H, H, CO)).astype(np.float32)
        need_dx = C > 1
        # The input is a Variable only when its gradient is wanted: a trainable Variable is
        # watched by the tape and would get a (discarded) dx, which PyTorch skips here
        # (requires_grad=False), as training does for the first layer.
        xv = tf.Variable(x) if need_dx else x
        wv, bv = tf.Variable(w), tf.Variable(b)

        def n_fwd():
            return tf.nn.conv2d_bias_activation(x, w, b, 1, "SAME")

        def n_fb():
            with tf.GradientTape() as tape:
                y = tf.nn.conv2d_bias_activation(xv, wv, bv, 1, "SAME")
            srcs = [xv, wv, bv] if need_dx else [wv, bv]
            return tape.gradient(y, srcs, output_gradients=g)

        r = {"workload": label + " fwd"}
        r2 = {"workload": label + " fwd+bwd"}
        if torch is not None:
            F = torch.nn.functional
            tx = torch.from_numpy(np.transpose(x, (0, 3, 1, 2)).copy()).contiguous(
                memory_format=torch.channels_last)
            tw = torch.from_numpy(np.transpose(w, (3, 2, 0, 1)).copy()).contiguous(
                memory_format=torch.channels_last)
            tb = torch.from_numpy(b.copy())
            tg = torch.from_numpy(np.transpose(g, (0, 3, 1, 2)).copy()).contiguous(
                memory_format=torch.channels_last)
            with torch.no_grad():
                ty = F.conv2d(tx, tw, tb, padding=1)
            _close(n_fwd().numpy(), ty.permute(0, 2, 3, 1).numpy(), label + " fwd")
            txg = tx.clone().requires_grad_(need_dx)
            twg = tw.clone().requires_grad_(True)
            tbg = tb.clone().requires_grad_(True)

            def t_fwd():
                with torch.no_grad():
                    return F.conv2d(tx, tw, tb, padding=1)

            def t_fb():
                for p in (txg, twg, tbg):
                    p.grad = None
                F.conv2d(txg, twg, tbg, padding=1).backward(tg)

            grads = n_fb()
            t_fb()
            _close(grads[-2].numpy(), twg.grad.permute(2, 3, 1, 0).numpy(), label + " dW")
            _close(grads[-1].numpy(), tbg.grad.numpy(), label + " db")
            if need_dx:
                _close(grads[0].numpy(), txg.grad.permute(0, 2, 3, 1).numpy(), label + " dx")
            r["torch ms"] = _time(t_fwd, reps)
            r2["torch ms"] = _time(t_fb, reps)
        r["nabi ms"] = _time(n_fwd, reps)
        r2["nabi ms"] = _time(n_fb, reps)
        rows += [r, r2]
    return rows


def depthwise_rows(tf, torch, reps):
    rows = []
    rng = np.random.default_rng(3)
    for (H, C) in [(56, 64), (14, 256)]:
        label = f"depthwise 3x3 {H}x{H}x{C} same, batch 32"
        x = rng.standard_normal((32, H, H, C)).astype(np.float32)
        w = (rng.standard_normal((3, 3, C, 1)) * 0.3).astype(np.float32)
        g = rng.standard_normal((32, H, H, C)).astype(np.float32)
        xv, wv = tf.Variable(x), tf.Variable(w)

        def n_fwd():
            return tf.nn.depthwise_conv2d(x, w, [1, 1, 1, 1], "SAME")

        def n_fb():
            with tf.GradientTape() as tape:
                y = tf.nn.depthwise_conv2d(xv, wv, [1, 1, 1, 1], "SAME")
            return tape.gradient(y, [xv, wv], output_gradients=g)

        r = {"workload": label + " fwd"}
        r2 = {"workload": label + " fwd+bwd"}
        if torch is not None:
            F = torch.nn.functional

            def cl(a):
                return torch.from_numpy(np.transpose(a, (0, 3, 1, 2)).copy()).contiguous(
                    memory_format=torch.channels_last)
            tx, tg = cl(x), cl(g)
            tw = torch.from_numpy(np.transpose(w, (2, 3, 0, 1)).copy())  # (C, 1, 3, 3)
            with torch.no_grad():
                ty = F.conv2d(tx, tw, padding=1, groups=C)
            _close(n_fwd().numpy(), ty.permute(0, 2, 3, 1).numpy(), label + " fwd")
            txg = tx.clone().requires_grad_(True)
            twg = tw.clone().requires_grad_(True)

            def t_fwd():
                with torch.no_grad():
                    return F.conv2d(tx, tw, padding=1, groups=C)

            def t_fb():
                txg.grad = twg.grad = None
                F.conv2d(txg, twg, padding=1, groups=C).backward(tg)

            dx, dw = n_fb()
            t_fb()
            _close(dx.numpy(), txg.grad.permute(0, 2, 3, 1).numpy(), label + " dx")
            _close(dw.numpy(), twg.grad.permute(2, 3, 0, 1).numpy(), label + " dW")
            r["torch ms"] = _time(t_fwd, reps)
            r2["torch ms"] = _time(t_fb, reps)
        r["nabi ms"] = _time(n_fwd, reps)
        r2["nabi ms"] = _time(n_fb, reps)
        rows += [r, r2]
    return rows


def pool_rows(tf, torch, reps):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((100, 28, 28, 32)).astype(np.float32)
    g = rng.standard_normal((100, 14, 14, 32)).astype(np.float32)
    xv = tf.Variable(x)
    label = "max-pool 2x2 on 28x28x32"

    def n_fwd():
        return tf.nn.max_pool2d(x, 2, 2, "VALID")

    def n_fb():
        with tf.GradientTape() as tape:
            y = tf.nn.max_pool2d(xv, 2, 2, "VALID")
        return tape.gradient(y, xv, output_gradients=g)

    r = {"workload": label + " fwd"}
    r2 = {"workload": label + " fwd+bwd"}
    ref = x.reshape(100, 14, 2, 14, 2, 32).max(axis=(2, 4))
    _close(n_fwd().numpy(), ref, label)
    if torch is not None:
        F = torch.nn.functional
        tx = torch.from_numpy(np.transpose(x, (0, 3, 1, 2)).copy()).contiguous(
            memory_format=torch.channels_last)
        tg = torch.from_numpy(np.transpose(g, (0, 3, 1, 2)).copy()).contiguous(
            memory_format=torch.channels_last)
        txg = tx.clone().requires_grad_(True)

        def t_fwd():
            with torch.no_grad():
                return F.max_pool2d(tx, 2, 2)

        def t_fb():
            txg.grad = None
            F.max_pool2d(txg, 2, 2).backward(tg)

        t_fb()
        _close(n_fb().numpy(), txg.grad.permute(0, 2, 3, 1).numpy(), label + " dx")
        r["torch ms"] = _time(t_fwd, reps)
        r2["torch ms"] = _time(t_fb, reps)
    r["nabi ms"] = _time(n_fwd, reps)
    r2["nabi ms"] = _time(n_fb, reps)
    return [r, r2]


def train_step_rows(tf, torch, reps):
    try:
        from nabi import keras
        L = keras.layers
        model = keras.Sequential([
            L.Input((28, 28, 1)), L.Conv2D(32, 3, activation="relu"), L.MaxPooling2D(2),
            L.Dropout(0.25), L.Conv2D(64, 3, activation="relu"), L.MaxPooling2D(2),
            L.Dropout(0.25), L.Flatten(), L.Dense(256, activation="relu"), L.Dropout(0.5),
            L.Dense(10)])
        opt = keras.optimizers.Adam(0.001)
    except Exception as e:  # noqa: BLE001
        return [{"workload": f"train step (Keras layers unavailable: {type(e).__name__})"}]
    rng = np.random.default_rng(2)
    x = rng.random((100, 28, 28, 1), dtype=np.float32)
    y = rng.integers(0, 10, 100)
    loss_fn = tf.nn.sparse_softmax_cross_entropy_with_logits

    def n_step():
        with tf.GradientTape() as tape:
            logits = model(x, training=True)
            loss = tf.reduce_mean(loss_fn(y, logits))
        grads = tape.gradient(loss, model.trainable_weights)
        opt.apply_gradients(zip(grads, model.trainable_weights))
        return loss

    r = {"workload": "train step, first MNIST CNN, Adam, batch 100"}
    if torch is not None:
        nn = torch.nn
        tm = nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Dropout(0.25),
                           nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Dropout(0.25),
                           nn.Flatten(), nn.Linear(64 * 5 * 5, 256), nn.ReLU(), nn.Dropout(0.5),
                           nn.Linear(256, 10)).to(memory_format=torch.channels_last)
        topt = torch.optim.Adam(tm.parameters(), 1e-3)
        r["torch ms"] = _time(torch_train_step(torch, tm, topt, x, y), reps)
    l0 = float(n_step().numpy())
    if not np.isfinite(l0):
        raise AssertionError("[bench_conv] train step loss is not finite")
    r["nabi ms"] = _time(n_step, reps)
    return [r]


def torch_train_step(torch, tm, topt, x, y):
    """One PyTorch classifier training step (zero_grad, cross-entropy forward, backward,
    optimizer step) on NHWC images x and integer labels y, fed channels_last."""
    tx = torch.from_numpy(np.transpose(x, (0, 3, 1, 2)).copy()).contiguous(
        memory_format=torch.channels_last)
    ty = torch.from_numpy(y)
    lf = torch.nn.CrossEntropyLoss()

    def t_step():
        topt.zero_grad()
        loss = lf(tm(tx), ty)
        loss.backward()
        topt.step()
        return loss
    return t_step


def tf_times(tfr, reps):
    """TensorFlow's times for the same workloads (same data and seeds as the nabi/torch rows),
    each op in a tf.function as Keras runs it, keyed by workload name; {} without TensorFlow.
    The results are checked against NumPy (the conv against the nabi rows' reference: a SAME
    3x3 conv is compared with PyTorch there; here TF's forward is checked with an im2col sum)."""
    if tfr is None:
        return {}
    out = {}
    rng = np.random.default_rng(0)
    for (H, C, CO) in [(28, 1, 32), (14, 32, 64)]:
        label = f"conv {H}x{H}x{C}->{CO} 3x3 same"
        x = rng.standard_normal((100, H, H, C)).astype(np.float32)
        w = (rng.standard_normal((3, 3, C, CO)) * 0.1).astype(np.float32)
        b = (rng.standard_normal(CO) * 0.1).astype(np.float32)
        g = rng.standard_normal((100, H, H, CO)).astype(np.float32)
        need_dx = C > 1
        xt, wt, bt, gt = (tfr.constant(a) for a in (x, w, b, g))

        @tfr.function
        def f_fwd(xt=xt, wt=wt, bt=bt):
            return tfr.nn.bias_add(tfr.nn.conv2d(xt, wt, 1, "SAME"), bt)

        @tfr.function
        def f_fb(xt=xt, wt=wt, bt=bt, gt=gt, need_dx=need_dx):
            with tfr.GradientTape() as tape:
                tape.watch([xt, wt, bt] if need_dx else [wt, bt])
                y = tfr.nn.bias_add(tfr.nn.conv2d(xt, wt, 1, "SAME"), bt)
            return tape.gradient(y, [xt, wt, bt] if need_dx else [wt, bt], output_gradients=gt)
        xp = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
        ref = sum(np.einsum("nhwc,co->nhwo", xp[:, i:i + H, j:j + H], w[i, j])
                  for i in range(3) for j in range(3)) + b
        _close(f_fwd().numpy(), ref, label + " fwd (TensorFlow)")
        out[label + " fwd"] = _time(lambda: f_fwd().numpy(), reps)
        out[label + " fwd+bwd"] = _time(lambda: [t.numpy() for t in f_fb()], reps)
    rng = np.random.default_rng(3)
    for (H, C) in [(56, 64), (14, 256)]:
        label = f"depthwise 3x3 {H}x{H}x{C} same, batch 32"
        x = rng.standard_normal((32, H, H, C)).astype(np.float32)
        w = (rng.standard_normal((3, 3, C, 1)) * 0.3).astype(np.float32)
        g = rng.standard_normal((32, H, H, C)).astype(np.float32)
        xt, wt, gt = (tfr.constant(a) for a in (x, w, g))

        @tfr.function
        def d_fwd(xt=xt, wt=wt):
            return tfr.nn.depthwise_conv2d(xt, wt, [1, 1, 1, 1], "SAME")

        @tfr.function
        def d_fb(xt=xt, wt=wt, gt=gt):
            with tfr.GradientTape() as tape:
                tape.watch([xt, wt])
                y = tfr.nn.depthwise_conv2d(xt, wt, [1, 1, 1, 1], "SAME")
            return tape.gradient(y, [xt, wt], output_gradients=gt)
        xp = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
        ref = sum(xp[:, i:i + H, j:j + H] * w[i, j, :, 0] for i in range(3) for j in range(3))
        _close(d_fwd().numpy(), ref, label + " fwd (TensorFlow)")
        out[label + " fwd"] = _time(lambda: d_fwd().numpy(), reps)
        out[label + " fwd+bwd"] = _time(lambda: [t.numpy() for t in d_fb()], reps)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((100, 28, 28, 32)).astype(np.float32)
    g = rng.standard_normal((100, 14, 14, 32)).astype(np.float32)
    xt, gt = tfr.constant(x), tfr.constant(g)
    label = "max-pool 2x2 on 28x28x32"

    @tfr.function
    def p_fwd():
        return tfr.nn.max_pool2d(xt, 2, 2, "VALID")

    @tfr.function
    def p_fb():
        with tfr.GradientTape() as tape:
            tape.watch(xt)
            y = tfr.nn.max_pool2d(xt, 2, 2, "VALID")
        return tape.gradient(y, xt, output_gradients=gt)
    _close(p_fwd().numpy(), x.reshape(100, 14, 2, 14, 2, 32).max(axis=(2, 4)), label + " (TF)")
    out[label + " fwd"] = _time(lambda: p_fwd().numpy(), reps)
    out[label + " fwd+bwd"] = _time(lambda: p_fb().numpy(), reps)
    # The first MNIST CNN's training step in tf.keras, as a Keras user writes it.
    K = tfr.keras
    L = K.layers
    tfr.keras.utils.set_random_seed(0)
    model = K.Sequential([
        L.Input((28, 28, 1)), L.Conv2D(32, 3, activation="relu"), L.MaxPooling2D(2),
        L.Dropout(0.25), L.Conv2D(64, 3, activation="relu"), L.MaxPooling2D(2),
        L.Dropout(0.25), L.Flatten(), L.Dense(256, activation="relu"), L.Dropout(0.5),
        L.Dense(10)])
    opt = K.optimizers.Adam(0.001)
    rng = np.random.default_rng(2)
    x = tfr.constant(rng.random((100, 28, 28, 1), dtype=np.float32))
    y = tfr.constant(rng.integers(0, 10, 100))

    @tfr.function
    def step():
        with tfr.GradientTape() as tape:
            logits = model(x, training=True)
            loss = tfr.reduce_mean(tfr.nn.sparse_softmax_cross_entropy_with_logits(y, logits))
        grads = tape.gradient(loss, model.trainable_weights)
        opt.apply_gradients(zip(grads, model.trainable_weights))
        return loss
    if not np.isfinite(float(step())):
        raise AssertionError("[bench_conv] TensorFlow train step loss is not finite")
    out["train step, first MNIST CNN, Adam, batch 100"] = _time(lambda: step().numpy(),
                                                                 max(3, reps // 2))
    return out


def add_ratios(rows):
    """nabi/torch and nabi/tf for every row that has both times."""
    for r in rows:
        if "nabi ms" in r and "torch ms" in r:
            r["nabi/torch"] = r["nabi ms"] / r["torch ms"]
        if "nabi ms" in r and "tf ms" in r:
            r["nabi/tf"] = r["nabi ms"] / r["tf ms"]


def run(quick=False):
    tf = _nabi()
    torch = _torch()
    reps = 5 if quick else 20
    tf_ms = tf_times(_tf(), reps)
    rows = conv_rows(tf, torch, reps) + depthwise_rows(tf, torch, reps) + \
        pool_rows(tf, torch, reps) + \
        train_step_rows(tf, torch, max(3, reps // 2))
    for r in rows:
        t = tf_ms.get(r["workload"])
        if t is not None:
            r["tf ms"] = t
    add_ratios(rows)
    return {"name": "conv", "columns": COLUMNS, "rows": rows}


def to_markdown(result):
    cols = result["columns"]
    out = [f"### {result['name']} (float32, batch {result.get('batch', 100)}, {THREADS} threads, "
           "median ms)", "",
           "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in result["rows"]:
        out.append("| " + " | ".join(f"{row[c]:.3g}" if isinstance(row.get(c), float)
                                     else str(row.get(c, "")) for c in cols) + " |")
    return "\n".join(out) + "\n"


def main(run=None):
    """The command line of this benchmark (or of another built the same way: bench_gan)."""
    run = run or globals()["run"]
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json")
    a = ap.parse_args()
    res = run(a.quick)
    print(to_markdown(res))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
