"""The TensorFlow tutorial's Iris classifier: a 10-20-10 DNN on the shipped Iris CSVs.

    python examples/iris.py [--epochs 200]
"""
import argparse

import nabi as tf

ap = argparse.ArgumentParser()
ap.add_argument("--epochs", type=int, default=200)
args = ap.parse_args()

tf.keras.utils.set_random_seed(42)
(x_train, y_train), (x_test, y_test) = tf.keras.datasets.iris.load_data()
model = tf.keras.Sequential([
    tf.keras.layers.Dense(10, activation="relu", input_shape=(4,)),
    tf.keras.layers.Dense(20, activation="relu"),
    tf.keras.layers.Dense(10, activation="relu"),
    tf.keras.layers.Dense(3, activation="softmax"),
])
model.compile(optimizer=tf.keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy",
              metrics=["accuracy"])
model.fit(x_train, y_train, batch_size=16, epochs=args.epochs, verbose=0)
loss, acc = model.evaluate(x_test, y_test, verbose=0)
print(f"test loss {loss:.4f}  test accuracy {acc:.4f}")
