"""AND, OR and XOR gates with sigmoid Dense layers, SGD and binary cross-entropy.

    python examples/logic_gates.py [--epochs 3000]
"""
import argparse

import numpy as np

import nabi as tf

ap = argparse.ArgumentParser()
ap.add_argument("--epochs", type=int, default=3000)
args = ap.parse_args()

x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32)
gates = {"AND": [0, 0, 0, 1], "OR": [0, 1, 1, 1], "XOR": [0, 1, 1, 0]}
for name, target in gates.items():
    tf.keras.utils.set_random_seed(0)
    y = np.array(target, np.float32).reshape(-1, 1)
    if name == "XOR":  # not linearly separable: one hidden layer
        layers = [tf.keras.layers.Dense(4, activation="tanh", input_dim=2),
                  tf.keras.layers.Dense(1, activation="sigmoid")]
    else:
        layers = [tf.keras.layers.Dense(1, activation="sigmoid", input_dim=2)]
    model = tf.keras.Sequential(layers)
    model.compile(optimizer=tf.keras.optimizers.SGD(learning_rate=0.5), loss="binary_crossentropy",
                  metrics=["accuracy"])
    model.fit(x, y, batch_size=4, epochs=args.epochs, verbose=0)
    loss, acc = model.evaluate(x, y, verbose=0)
    print(f"{name}: predictions {np.round(model.predict(x, verbose=0).ravel(), 2).tolist()} "
          f"loss {loss:.4f} accuracy {acc:.2f}")
