"""MNIST MLP 784-256-256-10 with ReLU, Adam(0.001), batch 100 (the seed notebook).

    python examples/mnist_mlp.py [--epochs 10] [--limit N]
"""
import argparse
import time

import nabi as tf

ap = argparse.ArgumentParser()
ap.add_argument("--epochs", type=int, default=10)
ap.add_argument("--limit", type=int, default=None, help="train on the first N images only")
args = ap.parse_args()

tf.keras.utils.set_random_seed(0)
(x_train, y_train), (x_test, y_test) = tf.keras.datasets.mnist.load_data()
x_train = x_train[:args.limit].reshape(-1, 784).astype("float32") / 255.0
y_train = tf.keras.utils.to_categorical(y_train[:args.limit], 10)
x_test = x_test.reshape(-1, 784).astype("float32") / 255.0
y_test = tf.keras.utils.to_categorical(y_test, 10)

model = tf.keras.Sequential([
    tf.keras.layers.Dense(256, activation="relu", input_shape=(784,)),
    tf.keras.layers.Dense(256, activation="relu"),
    tf.keras.layers.Dense(10, activation="softmax"),
])
model.summary()
model.compile(optimizer=tf.keras.optimizers.Adam(0.001), loss="categorical_crossentropy",
              metrics=["accuracy"])
t0 = time.perf_counter()
model.fit(x_train, y_train, batch_size=100, epochs=args.epochs, verbose=2)
print(f"training took {time.perf_counter() - t0:.1f} s")
loss, acc = model.evaluate(x_test, y_test, verbose=0)
print(f"test accuracy {acc:.4f}")
