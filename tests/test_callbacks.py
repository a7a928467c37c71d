"""Keras callbacks: hook order, History, EarlyStopping, ModelCheckpoint, CSVLogger,
LearningRateScheduler, ReduceLROnPlateau, TerminateOnNaN, LambdaCallback, Progbar."""
import csv
import io
import os
import sys

import numpy as np
import pytest

from nabi import keras
from nabi.keras import callbacks as cbs
from nabi.keras import layers


@pytest.fixture(autouse=True)
def _fresh_names():
    keras.backend.clear_session()
    yield


class LrSGD:
    def __init__(self, learning_rate=0.1):
        self.learning_rate = learning_rate

    def apply_gradients(self, grads_and_vars):
        for g, v in grads_and_vars:
            v.assign_sub(self.learning_rate * g.numpy())


def _model(lr=0.05):
    m = keras.Sequential([layers.Dense(1, input_shape=(2,))])
    m.compile(optimizer=LrSGD(lr), loss="mse")
    return m


def _data(n=16):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, 2)).astype(np.float32)
    return x, (x @ np.array([[1.0], [-2.0]], np.float32) + 0.5)


def test_hook_order_and_params():
    events = []

    class Rec(cbs.Callback):
        def on_train_begin(self, logs=None):
            events.append("train_begin")

        def on_epoch_begin(self, epoch, logs=None):
            events.append(f"epoch_begin{epoch}")

        def on_train_batch_begin(self, batch, logs=None):
            events.append(f"batch_begin{batch}")

        def on_train_batch_end(self, batch, logs=None):
            events.append(f"batch_end{batch}")
            assert "loss" in logs

        def on_test_begin(self, logs=None):
            events.append("test_begin")

        def on_epoch_end(self, epoch, logs=None):
            events.append(f"epoch_end{epoch}")
            assert set(logs) == {"loss", "val_loss"}

        def on_train_end(self, logs=None):
            events.append("train_end")

    x, y = _data()
    m = _model()
    rec = Rec()
    m.fit(x, y, batch_size=8, epochs=2, verbose=0, validation_data=(x, y), callbacks=[rec])
    # Keras runs validation (with its test hooks) before on_epoch_end.
    assert events == ["train_begin", "epoch_begin0", "batch_begin0", "batch_end0",
                      "batch_begin1", "batch_end1", "test_begin", "epoch_end0", "epoch_begin1",
                      "batch_begin0", "batch_end0", "batch_begin1", "batch_end1",
                      "test_begin", "epoch_end1", "train_end"]
    assert rec.model is m and rec.params["epochs"] == 2 and rec.params["steps"] == 2

    seen = []

    class Pred(cbs.Callback):
        def on_predict_batch_end(self, batch, logs=None):
            seen.append(logs["outputs"].shape)

        def on_test_batch_end(self, batch, logs=None):
            seen.append("test")
    m.predict(x, batch_size=8, verbose=0, callbacks=[Pred()])
    m.evaluate(x, y, batch_size=8, verbose=0, callbacks=[Pred()])
    assert seen == [(8, 1), (8, 1), "test", "test"]


def test_early_stopping_patience_and_restore_best():
    m = _model()
    x, y = _data()
    losses = iter([1.0, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0])
    snapshots = {}

    class Fake(cbs.Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs["val_loss"] = next(losses)
            snapshots[epoch] = [w.copy() for w in self.model.get_weights()]
    es = cbs.EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
    h = m.fit(x, y, epochs=7, verbose=0, callbacks=[Fake(), es])
    assert len(h.history["loss"]) == 4 and es.stopped_epoch == 3 and es.best == 0.5
    for a, b in zip(m.get_weights(), snapshots[1]):
        np.testing.assert_array_equal(a, b)
    es2 = cbs.EarlyStopping(monitor="accuracy", mode="auto")
    assert es2.monitor_op == np.greater
    es3 = cbs.EarlyStopping(monitor="loss", min_delta=10.0, patience=0)
    h = _model().fit(x, y, epochs=5, verbose=0, callbacks=[es3])
    assert len(h.history["loss"]) == 2


def test_early_stopping_baseline_and_start_from_epoch():
    x, y = _data()
    # A constant loss that never beats the baseline stops after `patience` more epochs.
    es = cbs.EarlyStopping(monitor="loss", baseline=-1.0, patience=1)
    h = _model(0.0).fit(x, y, epochs=6, verbose=0, callbacks=[es])
    assert len(h.history["loss"]) == 2
    # Keras semantics: still improving (even above the baseline) never stops.
    es = cbs.EarlyStopping(monitor="loss", baseline=-1.0, patience=1)
    h = _model().fit(x, y, epochs=4, verbose=0, callbacks=[es])
    assert len(h.history["loss"]) == 4
    es = cbs.EarlyStopping(monitor="loss", min_delta=100, patience=0, start_from_epoch=3)
    h = _model().fit(x, y, epochs=10, verbose=0, callbacks=[es])
    assert len(h.history["loss"]) == 5


def test_model_checkpoint_formatting_and_best_only(tmp_path):
    saved = []

    class M(keras.Sequential):
        def save(self, filepath, overwrite=True, **kw):
            saved.append(("model", os.path.basename(filepath)))

        def save_weights(self, filepath, overwrite=True, **kw):
            saved.append(("weights", os.path.basename(filepath)))

    m = M([layers.Dense(1, input_shape=(2,))])
    m.compile(optimizer=LrSGD(0.05), loss="mse")
    x, y = _data()
    vals = iter([3.0, 2.0, 2.5, 1.0])

    class Fake(cbs.Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs["val_loss"] = next(vals)
    ck = cbs.ModelCheckpoint(str(tmp_path / "m-{epoch:02d}-{val_loss:.2f}.keras"),
                             save_best_only=True)
    m.fit(x, y, epochs=4, verbose=0, callbacks=[Fake(), ck])
    assert saved == [("model", "m-01-3.00.keras"), ("model", "m-02-2.00.keras"),
                     ("model", "m-04-1.00.keras")]
    saved.clear()
    ck = cbs.ModelCheckpoint(str(tmp_path / "w{epoch}.weights.h5"), save_weights_only=True)
    m.fit(x, y, epochs=2, verbose=0, callbacks=[ck])
    assert saved == [("weights", "w1.weights.h5"), ("weights", "w2.weights.h5")]


def test_model_checkpoint_really_saves(tmp_path):
    pytest.importorskip("h5py")
    m = _model()
    x, y = _data()
    path = tmp_path / "ckpt.weights.h5"
    m.fit(x, y, epochs=1, verbose=0,
          callbacks=[cbs.ModelCheckpoint(str(path), save_weights_only=True, monitor="loss")])
    assert path.exists()
    m2 = _model()
    m2.load_weights(str(path))
    for a, b in zip(m.get_weights(), m2.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_csv_logger(tmp_path):
    path = tmp_path / "log.csv"
    x, y = _data()
    m = _model()
    m.fit(x, y, epochs=3, verbose=0, validation_data=(x, y),
          callbacks=[cbs.CSVLogger(str(path))])
    rows = list(csv.DictReader(open(path)))
    assert [r["epoch"] for r in rows] == ["0", "1", "2"]
    assert list(rows[0]) == ["epoch", "loss", "val_loss"]
    np.testing.assert_allclose(float(rows[2]["loss"]), m.history.history["loss"][2], rtol=1e-6)
    m.fit(x, y, epochs=1, verbose=0, callbacks=[cbs.CSVLogger(str(path), append=True)])
    assert len(list(csv.DictReader(open(path)))) == 4


def test_learning_rate_scheduler_and_reduce_on_plateau():
    x, y = _data()
    m = _model(0.1)
    seen = []

    class Spy(cbs.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            seen.append(self.model.optimizer.learning_rate)
    h = m.fit(x, y, epochs=3, verbose=0,
              callbacks=[cbs.LearningRateScheduler(lambda e, lr: lr * 0.5), Spy()])
    np.testing.assert_allclose(seen, [0.05, 0.025, 0.0125])
    np.testing.assert_allclose(h.history["learning_rate"], [0.05, 0.025, 0.0125])
    m = _model(0.1)
    m.fit(x, y, epochs=2, verbose=0, callbacks=[cbs.LearningRateScheduler(lambda e: 0.01)])
    assert m.optimizer.learning_rate == pytest.approx(0.01)

    m = _model(1.0)
    vals = iter([1.0, 1.0, 1.0, 1.0, 1.0])

    class Fake(cbs.Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs["val_loss"] = next(vals)
    m.optimizer.learning_rate = 0.0  # keep the data stable; we only watch the lr
    m.optimizer.learning_rate = 1.0
    rl = cbs.ReduceLROnPlateau(factor=0.5, patience=1, min_lr=0.3)
    m.compile(optimizer=LrSGD(1.0), loss="mse")
    m.fit(x, y, epochs=4, verbose=0, callbacks=[Fake(), rl])
    assert m.optimizer.learning_rate == pytest.approx(0.3)


def test_terminate_on_nan_and_lambda_callback():
    x, y = _data()
    m = _model(1e6)
    y_bad = y * 1e30
    h = m.fit(x, y_bad, epochs=50, batch_size=4, verbose=0, callbacks=[cbs.TerminateOnNaN()])
    assert len(h.history.get("loss", [])) < 50
    ends = []
    lc = cbs.LambdaCallback(on_epoch_end=lambda e, logs: ends.append(e),
                            on_batch_end=lambda b, logs: ends.append(("b", b)))
    _model().fit(x, y, epochs=2, batch_size=8, verbose=0, callbacks=[lc])
    assert ends == [("b", 0), ("b", 1), 0, ("b", 0), ("b", 1), 1]


def test_progbar_plain_and_verbose2(monkeypatch):
    from nabi.keras.utils.progbar import Progbar
    buf = io.StringIO()
    monkeypatch.setattr(sys, "stdout", buf)
    p = Progbar(3, verbose=1, interval=0.0)
    for i in range(1, 4):
        p.update(i, [("loss", 1.0 / i)])
    out = buf.getvalue()
    assert "\r" not in out and "\b" not in out
    assert "3/3 [==============================]" in out
    assert out.endswith("\n")
    buf.truncate(0)
    buf.seek(0)
    p = Progbar(3, verbose=2)
    for i in range(1, 4):
        p.update(i, [("loss", 2.0)])
    out = buf.getvalue()
    assert out.count("\n") == 1 and "loss: 2.0000" in out and out.startswith("3/3")


def test_progbar_dynamic_redraws_in_place(monkeypatch):
    from nabi.keras.utils import progbar as pb
    buf = io.StringIO()
    monkeypatch.setattr(sys, "stdout", buf)
    monkeypatch.setattr(pb, "_is_dynamic", lambda: True)
    p = pb.Progbar(10, verbose=1, interval=0.0)
    for i in range(1, 11):
        p.update(i)
    out = buf.getvalue()
    assert out.count("\r") == 10 and out.count("\n") == 1


def test_tensorboard_writes_event_files_or_clear_error(tmp_path):
    try:
        import tensorboardX  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="tensorboardX"):
            cbs.TensorBoard(log_dir=str(tmp_path))
        return
    x, y = _data()
    m = _model()
    m.fit(x, y, epochs=2, verbose=0, validation_data=(x, y),
          callbacks=[cbs.TensorBoard(log_dir=str(tmp_path), histogram_freq=1)])
    train = os.listdir(tmp_path / "train")
    val = os.listdir(tmp_path / "validation")
    assert any(f.startswith("events.out.tfevents") for f in train)
    assert any(f.startswith("events.out.tfevents") for f in val)


def test_validation_in_fit_fires_test_hooks():
    """Keras: validation during fit calls on_test_begin/end and on_test_batch_begin/end."""
    import nabi as tf
    events = []

    class Rec(tf.keras.callbacks.Callback):
        def on_test_begin(self, logs=None):
            events.append("test_begin")

        def on_test_batch_begin(self, batch, logs=None):
            events.append(("tb", batch))

        def on_test_batch_end(self, batch, logs=None):
            events.append(("te", batch, sorted(logs)))

        def on_test_end(self, logs=None):
            events.append(("test_end", sorted(logs)))

        def on_epoch_end(self, epoch, logs=None):
            events.append(("epoch_end", epoch))

    x = np.random.RandomState(0).rand(20, 3).astype(np.float32)
    y = x.sum(1, keepdims=True)
    m = tf.keras.Sequential([tf.keras.layers.Dense(1, input_shape=(3,))])
    m.compile("sgd", "mse", metrics=["mae"])
    m.fit(x, y, epochs=2, batch_size=10, validation_split=0.5, verbose=0, callbacks=[Rec()])
    per_epoch = ["test_begin", ("tb", 0), ("te", 0, ["loss", "mae"]),
                 ("test_end", ["loss", "mae"])]
    assert events == per_epoch + [("epoch_end", 0)] + per_epoch + [("epoch_end", 1)]


def _bar_model():
    import nabi as tf
    tf.keras.utils.set_random_seed(11)
    m = keras.Sequential([layers.Dense(4, activation="tanh", input_shape=(2,)), layers.Dense(1)])
    m.compile(keras.optimizers.Adam(0.05), "mse")
    return m


@pytest.mark.parametrize("save_freq", ["epoch", 2])
def test_backup_and_restore_resumes_weights_and_optimizer(tmp_path, save_freq):
    x, y = _data(32)
    backup = str(tmp_path / "backup")

    ref = _bar_model()
    ref_hist = ref.fit(x, y, epochs=4, batch_size=8, shuffle=False, verbose=0)

    class Crash(cbs.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 2:
                raise RuntimeError("simulated preemption")

    m1 = _bar_model()
    with pytest.raises(RuntimeError, match="preemption"):
        m1.fit(x, y, epochs=4, batch_size=8, shuffle=False, verbose=0,
               callbacks=[cbs.BackupAndRestore(backup, save_freq=save_freq), Crash()])
    assert os.path.exists(os.path.join(backup, "latest.weights.h5"))
    with open(os.path.join(backup, "training_metadata.json")) as f:
        import json
        meta = json.load(f)
    assert meta["epoch"] == 2

    # A fresh process: a new model (other initial weights), same fit call.
    m2 = _bar_model()
    m2.set_weights([w * 0 + 0.3 for w in m2.get_weights()])
    epochs_run = []
    rec = cbs.LambdaCallback(on_epoch_begin=lambda e, logs: epochs_run.append(e))
    h = m2.fit(x, y, epochs=4, batch_size=8, shuffle=False, verbose=0,
               callbacks=[cbs.BackupAndRestore(backup, save_freq=save_freq), rec])
    assert epochs_run == [2, 3]
    assert h.epoch == [2, 3]
    # Weights AND Adam's moments/iterations were restored: the run continues exactly.
    np.testing.assert_allclose(h.history["loss"], ref_hist.history["loss"][2:], rtol=1e-5)
    for a, b in zip(m2.get_weights(), ref.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert int(np.asarray(m2.optimizer.iterations.numpy())) == 16
    # Finished normally: the backup is deleted.
    assert not os.path.exists(os.path.join(backup, "latest.weights.h5"))


def test_backup_and_restore_keeps_checkpoint_when_asked(tmp_path):
    x, y = _data(16)
    backup = str(tmp_path / "b")
    m = _bar_model()
    m.fit(x, y, epochs=2, batch_size=8, verbose=0,
          callbacks=[cbs.BackupAndRestore(backup, delete_checkpoint=False)])
    assert sorted(os.listdir(backup)) == ["latest.weights.h5", "training_metadata.json"]
    with pytest.raises(ValueError, match="save_freq"):
        cbs.BackupAndRestore(backup, save_freq="batch")


def test_batch_logs_are_read_only_for_the_batches_that_use_them(tmp_path, monkeypatch):
    """fit reads the running loss and metrics (on a GPU: a wait for it) only for a batch whose
    logs some callback will use: TensorBoard(update_freq=3) every 3rd batch,
    ModelCheckpoint(save_freq=4) every 4th, BackupAndRestore never; the values written are
    those of their batch (NumPy reference: the running mean of a frozen model's batch losses)."""
    pytest.importorskip("tensorboardX")
    pytest.importorskip("h5py")
    from nabi.keras.models import model as model_mod
    reads = []
    orig = model_mod._LossSum.value
    monkeypatch.setattr(model_mod._LossSum, "value", lambda self: reads.append(1) or orig(self))
    r = np.random.default_rng(0)
    x = r.standard_normal((24, 3)).astype(np.float32)
    y = r.standard_normal((24, 1)).astype(np.float32)
    m = keras.Sequential([layers.Dense(1, input_shape=(3,))])
    m.compile(optimizer=keras.optimizers.SGD(0.0), loss="mse")
    seen = {}

    class Spy(cbs.ModelCheckpoint):
        def _save_model(self, epoch, batch, logs):
            seen[batch] = logs["loss"]

    cb = [cbs.TensorBoard(log_dir=str(tmp_path / "tb"), update_freq=3),
          Spy(str(tmp_path / "w.weights.h5"), save_weights_only=True, save_freq=4),
          cbs.BackupAndRestore(str(tmp_path / "bk"), save_freq=5)]
    m.fit(x, y, batch_size=2, epochs=1, verbose=0, shuffle=False, callbacks=cb)
    # 12 batches: reads after batches 3, 4, 6, 8, 9, 12 (1-based), and the epoch's end
    assert len(reads) == 7
    per = ((m.predict(x, verbose=0) - y) ** 2)[:, 0].reshape(12, 2).mean(1)
    for batch, loss in seen.items():
        np.testing.assert_allclose(loss, per[:batch + 1].mean(), rtol=1e-5)
    assert sorted(seen) == [3, 7, 11]
