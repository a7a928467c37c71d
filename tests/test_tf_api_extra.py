"""Small pieces of the TF API that notebooks use: tf.meshgrid, tf.nn.embedding_lookup,
tf.math.confusion_matrix, tf.Module, tf.random.Generator, keras.mixed_precision,
tf.summary. NumPy references throughout."""

import numpy as np
import pytest

import nabi
from nabi import keras

from helpers import assert_array


@pytest.mark.parametrize("indexing", ["xy", "ij"])
def test_meshgrid_forward_and_gradient(where, indexing):
    x = np.array([0.5, 1.0, 2.0], np.float32)
    y = np.array([-1.0, 3.0], np.float32)
    z = np.array([1.0, 2.0, 3.0, 4.0], np.float32)
    c = np.random.default_rng(0).standard_normal(
        np.meshgrid(x, y, z, indexing=indexing)[0].shape).astype(np.float32)
    with nabi.device(where):
        tx, ty, tz = nabi.Variable(x), nabi.Variable(y), nabi.Variable(z)
        with nabi.GradientTape() as tape:
            X, Y, Z = nabi.meshgrid(tx, ty, tz, indexing=indexing)
            loss = nabi.reduce_sum(X * c) + nabi.reduce_sum(Y * Y * c) + nabi.reduce_sum(Z)
        gx, gy, gz = tape.gradient(loss, [tx, ty, tz])
    RX, RY, RZ = np.meshgrid(x, y, z, indexing=indexing)
    for got, ref in ((X, RX), (Y, RY), (Z, RZ)):
        assert_array(got, ref, atol=0)
    # d/dx sum(X*c): X[idx] = x[i] where i is x's axis in the grid
    xa, ya = (1, 0) if indexing == "xy" else (0, 1)
    other = tuple(a for a in range(3) if a != xa)
    assert_array(gx, c.sum(axis=other))
    other = tuple(a for a in range(3) if a != ya)
    assert_array(gy, (2 * RY * c).sum(axis=other))
    assert_array(gz, np.full(4, RX.size / 4, np.float32))
    X2, Y2 = nabi.meshgrid([1, 2, 3], [4, 5])  # 2 inputs, 'xy': shape (2, 3)
    assert X2.shape == (2, 3) and Y2.shape == (2, 3)
    with pytest.raises(ValueError, match=r"\[meshgrid\].*1-D.*\(2, 2\)"):
        nabi.meshgrid(np.zeros((2, 2)), x)


def test_embedding_lookup_forward_and_gradient(where):
    rng = np.random.default_rng(1)
    p = rng.standard_normal((5, 3)).astype(np.float32)
    ids = np.array([[0, 4], [4, 2]])
    c = rng.standard_normal((2, 2, 3)).astype(np.float32)
    with nabi.device(where):
        v = nabi.Variable(p)
        with nabi.GradientTape() as tape:
            out = nabi.nn.embedding_lookup(v, ids)
            loss = nabi.reduce_sum(out * c)
        g = tape.gradient(loss, v)
    assert_array(out, p[ids], atol=0)
    ref = np.zeros_like(p)
    np.add.at(ref, ids.reshape(-1), c.reshape(-1, 3))
    assert_array(nabi.convert_to_tensor(g), ref)
    with pytest.raises(IndexError, match=r"\[gather\]"):
        nabi.nn.embedding_lookup(p, [7])


def test_confusion_matrix_vs_loops(where):
    y = np.array([0, 1, 2, 2, 1, 0, 2])
    p = np.array([0, 2, 2, 1, 1, 0, 0])
    w = np.array([1.0, 0.5, 2.0, 1.0, 1.0, 3.0, 0.25])
    ref = np.zeros((4, 4), np.int32)
    refw = np.zeros((4, 4))
    for a, b, ww in zip(y, p, w):
        ref[a, b] += 1
        refw[a, b] += ww
    with nabi.device(where):
        m = nabi.math.confusion_matrix(y, p)
        m4 = nabi.math.confusion_matrix(nabi.constant(y), nabi.constant(p), num_classes=4)
        mw = nabi.math.confusion_matrix(y, p, num_classes=4, weights=w, dtype=nabi.float32)
    assert_array(m, ref[:3, :3], atol=0, dtype=np.int32)
    assert_array(m4, ref, atol=0)
    assert_array(mw, refw, dtype=np.float32)
    with pytest.raises(ValueError, match=r"\[confusion_matrix\].*same length.*\(3,\).*\(2,\)"):
        nabi.math.confusion_matrix([0, 1, 2], [0, 1])
    with pytest.raises(ValueError, match=r"\[confusion_matrix\].*< num_classes=2"):
        nabi.math.confusion_matrix([0, 1, 2], [0, 1, 1], num_classes=2)
    with pytest.raises(ValueError, match=r"non-negative"):
        nabi.math.confusion_matrix([0, -1], [0, 1])


def test_module_collects_variables_and_trains(where):
    class Linear(nabi.Module):
        def __init__(self, n_in, n_out, name=None):
            super().__init__(name=name)
            self.w = nabi.Variable(np.full((n_in, n_out), 0.5, np.float32), name="w")
            self.b = nabi.Variable(np.zeros(n_out, np.float32), name="b")
            self.count = nabi.Variable(0, trainable=False)

        def __call__(self, x):
            return nabi.matmul(x, self.w) + self.b

    class Net(nabi.Module):
        def __init__(self):
            super().__init__()
            self.layers = [Linear(3, 2, name="l1"), Linear(2, 1, name="l2")]
            self.extra = {"scale": nabi.Variable(2.0)}
            self.same = self.layers[0].w  # the same Variable twice counts once
            self.dense = keras.layers.Dense(1)
            self.dense.build((None, 1))

        def __call__(self, x):
            return self.extra["scale"] * self.layers[1](self.layers[0](x))

    with nabi.device(where):
        net = Net()
        assert net.name == "net" and net.layers[0].name == "l1"
        names = [v.name for v in net.trainable_variables]
        assert len(net.trainable_variables) == 7  # dense (2), scale, l1 (w, b), l2 (w, b)
        assert len(net.variables) == 9 and len(net.non_trainable_variables) == 2
        assert len(names) == len(set(id(v) for v in net.trainable_variables))
        assert len(net.submodules) == 3
        x = np.array([[1.0, 2.0, 3.0]], np.float32)
        with nabi.GradientTape() as tape:
            loss = nabi.reduce_sum(net(x) ** 2)
        gw1 = tape.gradient(loss, net.layers[0].w)
    # NumPy: h = x w1 + b1 (w1 = 0.5), o = s (h w2 + b2), loss = o^2
    w1, w2 = np.full((3, 2), 0.5), np.full((2, 1), 0.5)
    h = x @ w1
    o = 2.0 * (h @ w2)
    go = 2 * o
    gh = 2.0 * go @ w2.T
    assert_array(nabi.convert_to_tensor(gw1), x.T @ gh)
    with pytest.raises(ValueError, match=r"\[Module\].*valid module name"):
        nabi.Module(name="1bad name")


def test_random_generator_streams(where):
    with nabi.device(where):
        a = nabi.random.Generator.from_seed(42).normal((3, 4))
        g = nabi.random.Generator.from_seed(42)
        nabi.random.set_seed(7)  # the global seed does not touch a Generator
        b = g.normal((3, 4))
        c = g.normal((3, 4))
        u = g.uniform((1000,), minval=2, maxval=5, dtype=nabi.int32)
        f = g.uniform((2, 2), dtype=nabi.float64)
    # the stream is TF's Philox one (checked against TF's documented numbers in
    # tests/test_tf_compat_gaps.py); here: the same seed repeats it
    assert a.shape == (3, 4) and a.dtype == nabi.float32
    assert_array(b, a.numpy(), atol=0)
    assert not np.allclose(b.numpy(), c.numpy())
    un = u.numpy()
    assert un.dtype == np.int32 and un.min() >= 2 and un.max() <= 4 and len(set(un)) == 3
    assert f.dtype == nabi.float64 and (f.numpy() >= 0).all() and (f.numpy() < 1).all()
    s1, s2 = nabi.random.Generator.from_seed(1).split(2)
    assert not np.allclose(s1.normal((5,)).numpy(), s2.normal((5,)).numpy())
    # the global stream is unaffected by generator draws
    nabi.random.set_seed(3)
    x1 = nabi.random.normal((4,)).numpy()
    nabi.random.set_seed(3)
    nabi.random.Generator.from_seed(0).normal((10,))
    assert_array(nabi.random.normal((4,)), x1, atol=0)


def test_mixed_precision_policy_runs_in_float32():
    mp = keras.mixed_precision
    try:
        with pytest.warns(UserWarning, match="computes in float32"):
            mp.set_global_policy("mixed_float16")
        assert mp.global_policy().name == "mixed_float16"
        assert mp.global_policy().compute_dtype == "float32"
        layer = keras.layers.Dense(2, dtype=mp.Policy("mixed_float16"))
        out = layer(np.ones((1, 3), np.float32))
        assert out.dtype == nabi.float32
        mp.set_global_policy("float64")
        assert keras.backend.floatx() == "float64"
        with pytest.raises(ValueError, match=r"unsupported policy 'int8'"):
            mp.Policy("int8")
    finally:
        mp.set_global_policy("float32")
    assert keras.backend.floatx() == "float32"


def test_summary_writer_scalars_histograms_images(tmp_path):
    pytest.importorskip("tensorboardX")
    from test_tensorboard import histograms, read_events, scalars
    assert nabi.summary.scalar("x", 1.0, step=0) is False  # no default writer: nothing written
    writer = nabi.summary.create_file_writer(str(tmp_path / "train"))
    with writer.as_default():
        for step in range(3):
            assert nabi.summary.scalar("loss", nabi.constant(1.0 / (step + 1)), step=step)
        nabi.summary.histogram("w", np.arange(10.0), step=2)
        nabi.summary.image("img", np.zeros((2, 4, 4, 1), np.float32), step=1)
        nabi.summary.experimental.set_step(5)
        nabi.summary.scalar("acc", 0.5)
        nabi.summary.experimental.set_step(None)
        with pytest.raises(ValueError, match=r"\[summary.scalar\] no step"):
            nabi.summary.scalar("acc", 0.5)
        with pytest.raises(ValueError, match=r"\[summary.image\].*\(4, 4\)"):
            nabi.summary.image("bad", np.zeros((4, 4)), step=0)
    writer.close()
    ev = read_events(str(tmp_path / "train"))
    sc = scalars(ev)
    assert [s for s, _ in sc["loss"]] == [0, 1, 2]
    np.testing.assert_allclose([v for _, v in sc["loss"]], [1.0, 0.5, 1.0 / 3], rtol=1e-6)
    assert sc["acc"] == [(5, 0.5)]
    h = histograms(ev)["w"][0][1]
    assert h.num == 10 and h.min == 0 and h.max == 9 and h.sum == 45
    assert any(v.tag == "img" or v.tag.startswith("img") for e in ev for v in e.summary.value
               if v.HasField("image"))


def test_tf2_short_aliases_are_the_keras_modules():
    import nabi
    from nabi import keras
    assert nabi.losses is keras.losses
    assert nabi.metrics is keras.metrics
    assert nabi.optimizers is keras.optimizers
    assert nabi.initializers is keras.initializers
    # they are usable as in TF2 notebooks: tf.losses.MeanSquaredError()(y, p)
    y = np.array([[1.0, 2.0]], np.float32)
    p = np.array([[0.0, 4.0]], np.float32)
    got = float(nabi.losses.MeanSquaredError()(y, p).numpy())
    assert abs(got - np.mean((y - p) ** 2)) < 1e-6
    m = nabi.metrics.Mean()
    m.update_state([1.0, 3.0])
    assert abs(float(m.result().numpy()) - 2.0) < 1e-6
    with pytest.raises(AttributeError, match="no attribute 'not_a_module'"):
        nabi.not_a_module
