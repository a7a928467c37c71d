"""Linear regression y = 2x - 1 + noise with one Dense unit, SGD and MSE for 300 epochs.
Saves the loss curve and the fitted line as a PNG when matplotlib is installed.

    python examples/linear_regression.py [--epochs 300] [--out linear_regression.png]
"""
import argparse

import numpy as np

import nabi as tf

ap = argparse.ArgumentParser()
ap.add_argument("--epochs", type=int, default=300)
ap.add_argument("--out", default="linear_regression.png")
args = ap.parse_args()

tf.keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)
x = np.linspace(-1, 1, 200).astype(np.float32).reshape(-1, 1)
y = 2 * x - 1 + rng.normal(0, 0.1, x.shape).astype(np.float32)

model = tf.keras.Sequential([tf.keras.layers.Dense(1, input_shape=(1,))])
model.compile(optimizer=tf.keras.optimizers.SGD(learning_rate=0.1), loss="mse")
hist = model.fit(x, y, batch_size=32, epochs=args.epochs, verbose=0)
w, b = (float(v.ravel()[0]) for v in model.get_weights())
print(f"w = {w:.3f}, b = {b:.3f}, final mse {hist.history['loss'][-1]:.5f}")

try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    print("matplotlib is not installed: no plot written")
else:
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4))
    a1.plot(hist.history["loss"])
    a1.set(title="loss", xlabel="epoch", yscale="log")
    a2.scatter(x, y, s=4, label="data")
    a2.plot(x, model.predict(x, verbose=0), color="red", label=f"y = {w:.2f}x {b:+.2f}")
    a2.legend()
    fig.savefig(args.out, dpi=80)
    print(f"wrote {args.out}")
