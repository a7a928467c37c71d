"""XOR with a 2-2-1 sigmoid network (the seed notebook), trained with SGD in nabi.

    python examples/xor.py [--epochs 5000]
"""
import argparse

import numpy as np

import nabi as tf

ap = argparse.ArgumentParser()
ap.add_argument("--epochs", type=int, default=5000)
args = ap.parse_args()

tf.keras.utils.set_random_seed(1)
x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32)
y = np.array([[0], [1], [1], [0]], np.float32)

model = tf.keras.Sequential([
    tf.keras.layers.Dense(2, activation="sigmoid", input_dim=2),
    tf.keras.layers.Dense(1, activation="sigmoid"),
])
model.compile(optimizer=tf.keras.optimizers.SGD(learning_rate=1.0), loss="binary_crossentropy",
              metrics=["accuracy"])
hist = model.fit(x, y, batch_size=4, epochs=args.epochs, verbose=0)
pred = model.predict(x, verbose=0)
print("predictions:", np.round(pred.ravel(), 3).tolist())
print(f"final loss {hist.history['loss'][-1]:.4f}  accuracy {hist.history['accuracy'][-1]:.2f}")
