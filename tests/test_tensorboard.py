"""TensorBoard event files: the Keras `TensorBoard` callback and TF1 `summary.FileWriter`.
The files are read back by hand (TFRecord framing: u64 length, u32 crc, payload, u32 crc) and
the Event protobufs decoded with tensorboardX's generated classes."""
import glob
import os
import struct

import numpy as np
import pytest

tbx = pytest.importorskip("tensorboardX")
from tensorboardX.proto.event_pb2 import Event  # noqa: E402

import nabi  # noqa: E402
from nabi import keras  # noqa: E402


def read_events(directory):
    files = sorted(glob.glob(os.path.join(directory, "events.out.tfevents.*")))
    assert files, f"no event file in {directory}: {os.listdir(directory)}"
    events = []
    for path in files:
        with open(path, "rb") as f:
            data = f.read()
        pos = 0
        while pos < len(data):
            (n,) = struct.unpack("<Q", data[pos:pos + 8])
            payload = data[pos + 12:pos + 12 + n]
            assert len(payload) == n
            events.append(Event.FromString(payload))
            pos += 12 + n + 4
    return events


def scalars(events):
    out = {}
    for e in events:
        for v in e.summary.value:
            if v.HasField("simple_value"):
                out.setdefault(v.tag, []).append((e.step, v.simple_value))
            elif v.HasField("tensor") and v.tensor.float_val:
                out.setdefault(v.tag, []).append((e.step, v.tensor.float_val[0]))
    return out


def histograms(events):
    out = {}
    for e in events:
        for v in e.summary.value:
            if v.HasField("histo"):
                out.setdefault(v.tag, []).append((e.step, v.histo))
    return out


def _fit(tmp_path, **tb_kwargs):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 3)).astype(np.float32)
    y = (x.sum(1) > 0).astype(np.float32)[:, None]
    model = keras.Sequential([keras.layers.Dense(4, activation="relu", input_shape=(3,)),
                              keras.layers.Dense(1, activation="sigmoid")])
    model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    log_dir = str(tmp_path / "logs")
    hist = model.fit(x, y, epochs=3, batch_size=10, validation_split=0.25, verbose=0,
                     callbacks=[keras.callbacks.TensorBoard(log_dir, **tb_kwargs)])
    return model, hist, log_dir


def test_tensorboard_epoch_scalars_train_and_validation(tmp_path):
    model, hist, log_dir = _fit(tmp_path)
    assert sorted(os.listdir(log_dir)) == ["train", "validation"]
    train = scalars(read_events(os.path.join(log_dir, "train")))
    val = scalars(read_events(os.path.join(log_dir, "validation")))
    for name in ("loss", "accuracy"):
        steps = [s for s, _ in train[f"epoch_{name}"]]
        assert steps == [0, 1, 2]
        np.testing.assert_allclose([v for _, v in train[f"epoch_{name}"]],
                                   hist.history[name], rtol=1e-6)
        np.testing.assert_allclose([v for _, v in val[f"epoch_{name}"]],
                                   hist.history["val_" + name], rtol=1e-6)
    assert not any(k.startswith("epoch_val_") for k in train)
    assert not histograms(read_events(os.path.join(log_dir, "train")))


def test_tensorboard_weight_histograms(tmp_path):
    model, _, log_dir = _fit(tmp_path, histogram_freq=1)
    hists = histograms(read_events(os.path.join(log_dir, "train")))
    kernel = model.layers[0].kernel
    tag = [t for t in hists if t.endswith("kernel") and model.layers[0].name in t]
    assert tag, sorted(hists)
    steps = [s for s, _ in hists[tag[0]]]
    assert steps == [0, 1, 2]
    h = hists[tag[0]][-1][1]
    w = kernel.numpy().astype(np.float64)
    assert h.num == w.size
    np.testing.assert_allclose(h.sum, w.sum(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(h.min, w.min(), rtol=1e-6)
    np.testing.assert_allclose(h.max, w.max(), rtol=1e-6)
    np.testing.assert_allclose(sum(h.bucket), w.size)


def test_tensorboard_batch_scalars(tmp_path):
    _, _, log_dir = _fit(tmp_path, update_freq="batch")
    train = scalars(read_events(os.path.join(log_dir, "train")))
    assert [s for s, _ in train["batch_loss"]] == list(range(1, 10))


def test_compat_v1_filewriter_scalar_merge_all(tmp_path):
    tf = nabi.compat.v1
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, shape=(None,))
        mean = tf.reduce_mean(x)
        tf.summary.scalar("mean", mean)
        tf.summary.histogram("values", x)
        merged = tf.summary.merge_all()
        with tf.Session() as sess:
            writer = tf.summary.FileWriter(str(tmp_path), sess.graph)
            for step in range(3):
                vals = np.arange(4, dtype=np.float32) + step
                writer.add_summary(sess.run(merged, {x: vals}), step)
            writer.close()
    events = read_events(str(tmp_path))
    sc = scalars(events)
    assert sc["mean"] == [(0, 1.5), (1, 2.5), (2, 3.5)]
    hs = histograms(events)
    assert [s for s, _ in hs["values"]] == [0, 1, 2]
    assert hs["values"][2][1].num == 4 and hs["values"][2][1].sum == pytest.approx(14.0)


def test_flush_writes_every_pending_event(tmp_path):
    """After writer.flush() the event file holds every event written before it (tensorboardX
    queues them for a thread; flush must wait for that queue, as TF's flush does)."""
    for trial in range(5):
        logdir = str(tmp_path / f"run{trial}")
        w = nabi.summary.create_file_writer(logdir)
        with w.as_default():
            for step in range(40):
                nabi.summary.scalar("s", float(step) * 0.5, step=step)
            w.flush()
            (path,) = glob.glob(os.path.join(logdir, "*tfevents*"))
            data, pos, seen = open(path, "rb").read(), 0, {}
            while pos < len(data):
                (n,) = struct.unpack("<Q", data[pos:pos + 8])
                e = Event.FromString(data[pos + 12:pos + 12 + n])
                pos += 16 + n
                for v in e.summary.value:
                    seen[e.step] = v.simple_value if v.HasField("simple_value") else \
                        float(np.frombuffer(v.tensor.tensor_content, np.float32)[0]) \
                        if v.tensor.tensor_content else v.tensor.float_val[0]
            assert sorted(seen) == list(range(40))
            np.testing.assert_allclose([seen[s] for s in range(40)], np.arange(40) * 0.5)
        w.close()
