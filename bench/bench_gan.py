"""GAN benchmark: the Keras tutorial's MNIST GAN (examples/mnist_gan.py, full width: latent
128, discriminator Conv64/Conv128 3x3 stride 2, generator Dense 7x7x128 -> two
Conv2DTranspose 128 4x4 stride 2 -> Conv2D 7x7 to one channel) on nabi vs the same network in
PyTorch CPU, same process, 2 threads, float32, batch 64.

Rows: the generator's transposed convolutions and its last 7x7 convolution alone (forward;
forward+backward with every gradient), then one whole GAN train_step (a discriminator step on
64 real + 64 generated images, then a generator step through the discriminator; two Adams).
Every layer is checked against PyTorch before it is timed; times are the median of REPS calls
after warm-up, in ms.

    PYTHONPATH=python /work/venv-bench/bin/python bench/bench_gan.py [--quick] [--json PATH]

bench/run.py imports this file and calls run(quick) -> {"name", "columns", "rows"}.
"""
import os
import sys

os.environ.setdefault("OMP_NUM_THREADS", "2")
import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "examples"))
from bench_conv import (COLUMNS, _close, _nabi, _time, _torch, add_ratios, main,  # noqa: E402,F401
                        to_markdown)

BATCH, LATENT = 64, 128


def layer_rows(tf, torch, reps):
    """(label, nabi layer, its input shape, PyTorch module builder)."""
    from nabi import keras
    L = keras.layers
    rng = np.random.default_rng(0)
    cases = [("conv-transpose 7x7x128->14x14x128 4x4/2", L.Conv2DTranspose(128, 4, 2, "same"),
              (7, 7, 128)),
             ("conv-transpose 14x14x128->28x28x128 4x4/2", L.Conv2DTranspose(128, 4, 2, "same"),
              (14, 14, 128)),
             ("conv 28x28x128->1 7x7 same", L.Conv2D(1, 7, padding="same"), (28, 28, 128))]
    rows = []
    for label, layer, shape in cases:
        x = rng.standard_normal((BATCH,) + shape).astype(np.float32)
        layer.build((None,) + shape)
        w, b = [v.numpy() for v in layer.weights]
        y = layer(x).numpy()
        g = rng.standard_normal(y.shape).astype(np.float32)
        xv = tf.Variable(x)

        def n_fwd():
            return layer(x)

        def n_fb():
            with tf.GradientTape() as tape:
                out = layer(xv)
            return tape.gradient(out, [xv] + layer.trainable_weights, output_gradients=g)

        r = {"workload": label + " fwd"}
        r2 = {"workload": label + " fwd+bwd"}
        if torch is not None:
            F = torch.nn.functional
            cl = torch.channels_last

            def t_(a):
                return torch.from_numpy(np.transpose(a, (0, 3, 1, 2)).copy()).contiguous(
                    memory_format=cl)
            transpose = isinstance(layer, L.Conv2DTranspose)
            # Keras kernels: Conv2D (KH, KW, CI, CO) -> torch (CO, CI, KH, KW);
            # Conv2DTranspose (KH, KW, CO, CI) -> torch (CI, CO, KH, KW)
            tw = torch.from_numpy(np.transpose(w, (3, 2, 0, 1)).copy()).contiguous(
                memory_format=cl).requires_grad_(True)
            tb = torch.from_numpy(b.copy()).requires_grad_(True)
            tx = t_(x).requires_grad_(True)
            tg = t_(g)

            def t_call(a):
                if transpose:
                    return F.conv_transpose2d(a, tw, tb, stride=2, padding=1)
                return F.conv2d(a, tw, tb, padding=3)

            def t_fwd():
                with torch.no_grad():
                    return t_call(tx)

            def t_fb():
                for p in (tx, tw, tb):
                    p.grad = None
                t_call(tx).backward(tg)

            _close(y, t_fwd().permute(0, 2, 3, 1).numpy(), label + " fwd")
            grads = n_fb()
            t_fb()
            _close(grads[0].numpy(), tx.grad.permute(0, 2, 3, 1).numpy(), label + " dx")
            _close(grads[1].numpy(), tw.grad.permute(2, 3, 1, 0).numpy(), label + " dW")
            _close(grads[2].numpy(), tb.grad.numpy(), label + " db")
            r["torch ms"] = _time(t_fwd, reps)
            r2["torch ms"] = _time(t_fb, reps)
        r["nabi ms"] = _time(n_fwd, reps)
        r2["nabi ms"] = _time(n_fb, reps)
        rows += [r, r2]
    return rows


def torch_gan(torch):
    nn = torch.nn

    class Reshape(nn.Module):
        def forward(self, x):
            return x.view(-1, 128, 7, 7)

    disc = nn.Sequential(nn.Conv2d(1, 64, 3, 2, 1), nn.LeakyReLU(0.2),
                         nn.Conv2d(64, 128, 3, 2, 1), nn.LeakyReLU(0.2),
                         nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Linear(128, 1))
    gen = nn.Sequential(nn.Linear(LATENT, 7 * 7 * 128), nn.LeakyReLU(0.2), Reshape(),
                        nn.ConvTranspose2d(128, 128, 4, 2, 1), nn.LeakyReLU(0.2),
                        nn.ConvTranspose2d(128, 128, 4, 2, 1), nn.LeakyReLU(0.2),
                        nn.Conv2d(128, 1, 7, padding=3), nn.Sigmoid())
    disc = disc.to(memory_format=torch.channels_last)
    gen = gen.to(memory_format=torch.channels_last)
    d_opt = torch.optim.Adam(disc.parameters(), 3e-4)
    g_opt = torch.optim.Adam(gen.parameters(), 3e-4)
    bce = nn.BCEWithLogitsLoss()
    return disc, gen, d_opt, g_opt, bce


def train_step_rows(tf, torch, reps):
    from mnist_gan import GAN, build_discriminator, build_generator
    from nabi import keras
    rng = np.random.default_rng(1)
    real = rng.random((BATCH, 28, 28, 1), dtype=np.float32)
    gan = GAN(build_discriminator(1.0), build_generator(LATENT, 1.0), LATENT)
    gan.compile(d_optimizer=keras.optimizers.Adam(3e-4), g_optimizer=keras.optimizers.Adam(3e-4),
                loss_fn=keras.losses.BinaryCrossentropy(from_logits=True))
    real_t = tf.constant(real)

    def n_step():
        return gan.train_step(real_t)

    r = {"workload": f"GAN train_step (D + G steps), batch {BATCH}"}
    if torch is not None:
        disc, gen, d_opt, g_opt, bce = torch_gan(torch)
        treal = torch.from_numpy(np.transpose(real, (0, 3, 1, 2)).copy()).contiguous(
            memory_format=torch.channels_last)

        def t_step():
            z = torch.randn(BATCH, LATENT)
            with torch.no_grad():
                fake = gen(z)
            comb = torch.cat([fake, treal], 0)
            labels = torch.cat([torch.ones(BATCH, 1), torch.zeros(BATCH, 1)], 0)
            labels += 0.05 * torch.rand(labels.shape)
            d_opt.zero_grad()
            d_loss = bce(disc(comb), labels)
            d_loss.backward()
            d_opt.step()
            z = torch.randn(BATCH, LATENT)
            g_opt.zero_grad()
            g_loss = bce(disc(gen(z)), torch.zeros(BATCH, 1))
            g_loss.backward()
            g_opt.step()
            return d_loss, g_loss

        r["torch ms"] = _time(t_step, reps)
    logs = n_step()
    if not all(np.isfinite(float(np.asarray(v.numpy() if hasattr(v, "numpy") else v)))
               for v in logs.values()):
        raise AssertionError("[bench_gan] train_step losses are not finite")
    r["nabi ms"] = _time(n_step, reps)
    return [r]


def run(quick=False):
    tf = _nabi()
    torch = _torch()
    reps = 3 if quick else 10
    rows = layer_rows(tf, torch, reps) + train_step_rows(tf, torch, reps)
    add_ratios(rows)
    return {"name": "gan", "columns": COLUMNS, "rows": rows, "batch": BATCH}


if __name__ == "__main__":
    main(run)
