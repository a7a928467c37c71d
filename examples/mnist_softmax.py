"""MNIST softmax regression (one Dense layer), SGD, batch 100.

    python examples/mnist_softmax.py [--epochs 5] [--limit N]
"""
import argparse

import nabi as tf

ap = argparse.ArgumentParser()
ap.add_argument("--epochs", type=int, default=5)
ap.add_argument("--limit", type=int, default=None, help="train on the first N images only")
args = ap.parse_args()

tf.keras.utils.set_random_seed(0)
(x_train, y_train), (x_test, y_test) = tf.keras.datasets.mnist.load_data()
x_train = x_train[:args.limit].reshape(-1, 784).astype("float32") / 255.0
y_train = y_train[:args.limit]
x_test = x_test.reshape(-1, 784).astype("float32") / 255.0

model = tf.keras.Sequential([tf.keras.layers.Dense(10, activation="softmax", input_shape=(784,))])
model.compile(optimizer=tf.keras.optimizers.SGD(0.5), loss="sparse_categorical_crossentropy",
              metrics=["accuracy"])
model.fit(x_train, y_train, batch_size=100, epochs=args.epochs, verbose=2)
loss, acc = model.evaluate(x_test, y_test, verbose=0)
print(f"test accuracy {acc:.4f}")
