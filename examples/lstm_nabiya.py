"""나비야 (Butterfly): a stateful LSTM learns the children's song note by note and plays it
back from its first four notes.

    PYTHONPATH=python python3 examples/lstm_nabiya.py [--epochs 300]

Notes are coded c4..b4 = 0..6 (quarter notes) and c8..b8 = 7..13 (eighth notes); the song
only uses c, d, e, f, g, so the codes that occur are 0..4 and 7..11: every label is < 12 and
Dense(12) covers them (an assert checks it). Inputs are the codes divided by 13, windows of
four notes predict the fifth (54 notes -> 50 samples). The model is stateful with batch 1:
the LSTM state runs through the whole song within an epoch and is reset between epochs.
"""
import argparse
import os
import time


import numpy as np  # noqa: E402

from nabi import keras  # noqa: E402

SONG = ("g8 e8 e4 f8 d8 d4 c8 d8 e8 f8 g8 g8 g4 "
        "g8 e8 e8 e8 f8 d8 d4 c8 e8 g8 g8 e8 e8 e4 "
        "d8 d8 d8 d8 d8 e8 f4 e8 e8 e8 e8 e8 f8 g4 "
        "g8 e8 e4 f8 d8 d4 c8 e8 g8 g8 e8 e8 e4").split()
CODE2IDX = {n + d: i + (7 if d == "8" else 0) for d in "48" for i, n in enumerate("cdefgab")}
IDX2CODE = {v: k for k, v in CODE2IDX.items()}
WINDOW = 4
CLASSES = 12


def dataset(seq):
    ids = [CODE2IDX[n] for n in seq]
    windows = np.array([ids[i:i + WINDOW + 1] for i in range(len(ids) - WINDOW)])
    x = windows[:, :WINDOW].astype(np.float32) / 13.0
    y = windows[:, WINDOW]
    assert y.max() < CLASSES, f"label {y.max()} does not fit Dense({CLASSES})"
    return x.reshape(-1, WINDOW, 1), keras.utils.to_categorical(y, CLASSES), ids


def build_model():
    model = keras.Sequential([
        keras.layers.LSTM(128, batch_input_shape=(1, WINDOW, 1), stateful=True),
        keras.layers.Dense(CLASSES, activation="softmax"),
    ])
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    return model


def reset_states(model):
    """model.reset_states() when the engine's Model has it, else every layer that has one."""
    if hasattr(model, "reset_states"):
        model.reset_states()
        return
    for layer in model.layers:
        if hasattr(layer, "reset_states"):
            layer.reset_states()


def play(model, ids):
    """Predicts the whole song from its first four notes, feeding each prediction back."""
    reset_states(model)
    window = [i / 13.0 for i in ids[:WINDOW]]
    out = list(ids[:WINDOW])
    for _ in range(len(ids) - WINDOW):
        p = model.predict(np.array(window, np.float32).reshape(1, WINDOW, 1), batch_size=1,
                          verbose=0)
        k = int(np.argmax(p))
        out.append(k)
        window = window[1:] + [k / 13.0]
    reset_states(model)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=500, help="maximum epochs")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--check-every", type=int, default=10,
                    help="stop once training accuracy is 1.0 and the song plays back (checked "
                         "every N epochs)")
    args = ap.parse_args()
    keras.utils.set_random_seed(args.seed)
    x, y, ids = dataset(SONG)
    print(f"{len(SONG)} notes -> {len(x)} samples; codes used: {sorted(set(ids))}")
    model = build_model()
    t0 = time.perf_counter()
    acc, epoch, reproduced = 0.0, 0, 0
    for epoch in range(1, args.epochs + 1):
        hist = model.fit(x, y, epochs=1, batch_size=1, shuffle=False, verbose=0)
        reset_states(model)
        acc = float(hist.history["accuracy"][-1])
        loss = float(hist.history["loss"][-1])
        if epoch % args.check_every == 0 or epoch == args.epochs:
            played = play(model, ids)
            reproduced = sum(int(a == b) for a, b in zip(played, ids))
            print(f"epoch {epoch:4d}  loss {loss:.4f}  accuracy {acc:.3f}  "
                  f"notes reproduced {reproduced}/{len(ids)}  ({time.perf_counter() - t0:.1f} s)")
            if acc >= 1.0 and reproduced == len(ids):
                break
    seconds = time.perf_counter() - t0
    _, train_acc = model.evaluate(x, y, batch_size=1, verbose=0)
    reset_states(model)
    played = play(model, ids)
    reproduced = sum(int(a == b) for a, b in zip(played, ids))
    print("song:      " + " ".join(SONG))
    print("played:    " + " ".join(IDX2CODE[i] for i in played))
    print(f"epochs {epoch}, {seconds:.1f} s; training accuracy {train_acc:.3f}; "
          f"notes reproduced {reproduced}/{len(ids)}")


if __name__ == "__main__":
    main()
