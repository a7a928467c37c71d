"""The seed CNN (examples/mnist_cnn.py) trained through ImageDataGenerator: small random
rotations, zooms and shifts, one vectorised affine resample per batch; model.fit takes the
flow() iterator directly. Prints the final test accuracy.

    NABI_DATASETS=/work/shared/datasets PYTHONPATH=python python3 examples/mnist_augmented.py --epochs 15
"""
import argparse
import os
import sys
import time

import numpy as np

from nabi import keras
from nabi.keras.preprocessing.image import ImageDataGenerator

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mnist_cnn import build_model, load  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--limit", type=int, default=0, help="train on the first N samples")
    ap.add_argument("--batch-size", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    keras.utils.set_random_seed(a.seed)
    x, y, xt, yt = load(a.limit)
    gen = ImageDataGenerator(rotation_range=10, zoom_range=0.1, width_shift_range=0.1,
                             height_shift_range=0.1, fill_mode="constant", cval=0.0)
    model = build_model()
    model.compile(optimizer=keras.optimizers.Adam(0.001),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    t = time.time()
    model.fit(gen.flow(x, y, batch_size=a.batch_size, shuffle=True, seed=a.seed),
              epochs=a.epochs, validation_data=(xt, yt), verbose=2)
    print(f"training time {time.time() - t:.1f} s")
    _, acc = model.evaluate(xt, yt, batch_size=500, verbose=0)
    print(f"test accuracy: {acc:.4f}")
    return acc


if __name__ == "__main__":
    main()
