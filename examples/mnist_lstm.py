"""MNIST read row by row: each image is 28 timesteps of 28 pixels, LSTM(128) + Dense(10).

    NABI_DATASETS=/work/shared/datasets PYTHONPATH=python python3 examples/mnist_lstm.py \
        [--epochs 3] [--limit N] [--batch-size 100]

MNIST comes from nabi.keras.datasets.mnist.load_data() (reads $NABI_DATASETS/mnist). The
LSTM runs on nabi's fused C++ sequence kernel (forward and backpropagation through time).
"""
import argparse
import os
import time


import numpy as np  # noqa: E402

from nabi import keras  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--limit", type=int, default=0, help="use only the first N training images")
    ap.add_argument("--batch-size", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    keras.utils.set_random_seed(args.seed)
    (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
    if args.limit:
        x_train, y_train = x_train[:args.limit], y_train[:args.limit]
    x_train = x_train.astype(np.float32) / 255.0
    x_test = x_test.astype(np.float32) / 255.0
    y_train = keras.utils.to_categorical(y_train, 10)
    y_test = keras.utils.to_categorical(y_test, 10)

    model = keras.Sequential([
        keras.layers.LSTM(128, input_shape=(28, 28)),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    t0 = time.perf_counter()
    model.fit(x_train, y_train, batch_size=args.batch_size, epochs=args.epochs, verbose=2)
    train_s = time.perf_counter() - t0
    loss, acc = model.evaluate(x_test, y_test, batch_size=500, verbose=0)
    print(f"{len(x_train)} training images, {args.epochs} epochs, {train_s:.1f} s "
          f"({train_s / max(1, args.epochs):.1f} s/epoch); test loss {loss:.4f}, "
          f"test accuracy {acc:.4f}")


if __name__ == "__main__":
    main()
