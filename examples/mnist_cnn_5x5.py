"""The Learning-TensorFlow MNIST network: Conv2D(32, 5x5, same, relu) -> MaxPooling2D(2) ->
Conv2D(64, 5x5, same, relu) -> MaxPooling2D(2) -> Flatten -> Dense(1024, relu) ->
Dropout(0.5) -> Dense(10); Adam 1e-3, batch 100 (the book uses 1e-4 and batch 50 for
1000 steps: --lr 1e-4 --batch-size 50). Prints the test accuracy.

    NABI_DATASETS=/work/shared/datasets PYTHONPATH=python python3 examples/mnist_cnn_5x5.py --epochs 1
"""
import argparse
import time

import numpy as np

from nabi import keras
from nabi.keras import layers


def build_model():
    return keras.Sequential([
        layers.Input((28, 28, 1)),
        layers.Conv2D(32, (5, 5), padding="same", activation="relu"),
        layers.MaxPooling2D((2, 2)),
        layers.Conv2D(64, (5, 5), padding="same", activation="relu"),
        layers.MaxPooling2D((2, 2)),
        layers.Flatten(),
        layers.Dense(1024, activation="relu"),
        layers.Dropout(0.5),
        layers.Dense(10),
    ])


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--limit", type=int, default=0, help="train on the first N samples")
    ap.add_argument("--batch-size", type=int, default=100)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    keras.utils.set_random_seed(a.seed)
    (x, y), (xt, yt) = keras.datasets.mnist.load_data()
    if a.limit:
        x, y = x[:a.limit], y[:a.limit]
    x = (x[..., None] / 255.0).astype(np.float32)
    xt = (xt[..., None] / 255.0).astype(np.float32)
    model = build_model()
    model.compile(optimizer=keras.optimizers.Adam(a.lr),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    t = time.time()
    model.fit(x, y.astype(np.int64), batch_size=a.batch_size, epochs=a.epochs, verbose=2)
    print(f"training time {time.time() - t:.1f} s")
    _, acc = model.evaluate(xt, yt.astype(np.int64), batch_size=500, verbose=0)
    print(f"test accuracy: {acc:.4f}")
    return acc


if __name__ == "__main__":
    main()
