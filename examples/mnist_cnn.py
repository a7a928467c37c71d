"""The seed CNN on MNIST: Conv2D(32, 3x3, relu) -> MaxPooling2D(2) -> Dropout(0.25) ->
Conv2D(64, 3x3, relu) -> MaxPooling2D(2) -> Dropout(0.25) -> Flatten -> Dense(256, relu) ->
Dropout(0.5) -> Dense(10); Adam 0.001, batch 100. Prints the final test accuracy.

    NABI_DATASETS=/work/shared/datasets PYTHONPATH=python python3 examples/mnist_cnn.py --epochs 15
    ... --epochs 1 --limit 2000        (a shortened run for tests)
"""
import argparse
import time

import numpy as np

import nabi as tf
from nabi import keras
from nabi.keras import layers


def build_model():
    return keras.Sequential([
        layers.Input((28, 28, 1)),
        layers.Conv2D(32, (3, 3), activation="relu"),
        layers.MaxPooling2D((2, 2)),
        layers.Dropout(0.25),
        layers.Conv2D(64, (3, 3), activation="relu"),
        layers.MaxPooling2D((2, 2)),
        layers.Dropout(0.25),
        layers.Flatten(),
        layers.Dense(256, activation="relu"),
        layers.Dropout(0.5),
        layers.Dense(10),
    ])


def load(limit):
    (x, y), (xt, yt) = keras.datasets.mnist.load_data()
    if limit:
        x, y = x[:limit], y[:limit]
    return ((x[..., None] / 255.0).astype(np.float32), y.astype(np.int64),
            (xt[..., None] / 255.0).astype(np.float32), yt.astype(np.int64))


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--limit", type=int, default=0, help="train on the first N samples")
    ap.add_argument("--batch-size", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    keras.utils.set_random_seed(a.seed)
    x, y, xt, yt = load(a.limit)
    model = build_model()
    model.compile(optimizer=keras.optimizers.Adam(0.001),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    model.summary()
    t = time.time()
    model.fit(x, y, batch_size=a.batch_size, epochs=a.epochs, validation_data=(xt, yt),
              verbose=2)
    print(f"training time {time.time() - t:.1f} s")
    loss, acc = model.evaluate(xt, yt, batch_size=500, verbose=0)
    print(f"test accuracy: {acc:.4f}")
    return acc


if __name__ == "__main__":
    main()
