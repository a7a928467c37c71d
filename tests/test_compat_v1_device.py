"""nabi.compat.v1.device: graph ops record the device they were built under, a Session runs them
there (copying values between devices, gradients included), and a GPU that is not available is
an error at run time, or the CPU with ConfigProto(allow_soft_placement=True)."""
import numpy as np
import pytest

import nabi
import nabi.compat.v1 as tf
from nabi.framework.device import DeviceArray, current_device

CPU, GPU = "/device:CPU:0", "/device:GPU:0"


@pytest.fixture(autouse=True)
def fresh_graph():
    tf.reset_default_graph()
    yield
    tf.reset_default_graph()


@pytest.fixture
def hidden_gpu(monkeypatch):
    """No GPU available, in every test mode (as nabi.config.set_visible_devices([], 'GPU'))."""
    monkeypatch.setitem(nabi.config._state, "gpu_visible", False)
    assert not nabi.test.is_gpu_available()


def where(sess, var):
    return "cuda" if type(sess._vars[var.op]._data) is DeviceArray else "cpu"


def spy(t, seen):
    """Records, when t's op runs: the current device and where its inputs are."""
    op = t.op
    fn = op._fn

    def run(vals):
        seen[op.name] = (current_device(), {"cuda" if type(v._data) is DeviceArray else "cpu"
                                            for v in vals})
        return fn(vals)
    op._fn = run


# -- what the graph records ------------------------------------------------------------------
def test_ops_and_variables_record_the_device_in_tf_form():
    x = tf.placeholder(tf.float32, [2], name="x")
    with tf.device("/cpu:0"):
        a = x + 1.0
        v = tf.Variable([1.0, 2.0])
        with tf.device("/gpu:0"):
            b = a * 2.0
            with tf.device(""):      # '' keeps the enclosing device
                c = b - 1.0
            with tf.device(None):    # None clears it
                d = b + c
        e = tf.reduce_sum(a)
    f = e * 3.0
    assert x.device == x.op.device == "" and f.device == "" and d.device == ""
    assert a.device == a.op.device == CPU and e.device == CPU
    assert v.device == v.op.device == v.initializer.device == CPU
    assert v.initial_value.device == CPU
    assert b.device == c.device == GPU
    for name, want in [("/gpu:0", GPU), ("/GPU:0", GPU), ("/device:GPU:0", GPU), ("gpu", GPU),
                       ("cuda:0", GPU), ("/job:localhost/replica:0/task:0/device:GPU:0", GPU),
                       ("/cpu:0", CPU), ("/CPU:0", CPU), ("/device:CPU:0", CPU), ("cpu", CPU)]:
        with tf.device(name):
            assert tf.identity(x).device == want, name
    for bad in ["/tpu:0", "/gpu:1"]:
        with pytest.raises(ValueError, match="device"):
            with tf.device(bad):
                pass


def test_graph_device_and_device_functions():
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [2, 2])
        with g.device(lambda op: "/cpu:0" if op.type == "MatMul" else "/gpu:0"):
            y = tf.matmul(x, x)
            z = tf.nn.relu(y)
        with tf.device("/cpu:0"):   # tf.device is the default graph's Graph.device
            w = z + 1.0
    assert y.device == CPU and z.device == GPU and w.device == CPU and x.device == ""
    assert tf.get_default_graph() is not g


# -- running: values against NumPy --------------------------------------------------------------
def _two_device_mlp():
    r = np.random.default_rng(3)
    X = r.standard_normal((5, 4)).astype(np.float32)
    Y = r.standard_normal((5, 2)).astype(np.float32)
    W1 = r.standard_normal((4, 3)).astype(np.float32)
    W2 = r.standard_normal((3, 2)).astype(np.float32)
    x = tf.placeholder(tf.float32, [None, 4])
    y = tf.placeholder(tf.float32, [None, 2])
    with tf.device("/cpu:0"):
        w1 = tf.Variable(W1)
        h = tf.nn.relu(tf.matmul(x, w1))
    with tf.device("/gpu:0"):
        w2 = tf.Variable(W2)
        out = tf.matmul(h, w2)
    loss = tf.reduce_mean(tf.square(out - y))
    train = tf.train.GradientDescentOptimizer(0.1).minimize(loss)
    return (X, Y, W1, W2), (x, y, w1, w2, h, out, loss, train)


def _numpy_step(X, Y, W1, W2, lr=0.1):
    H = np.maximum(X @ W1, 0)
    O = H @ W2
    dO = 2 * (O - Y) / O.size
    dW2 = H.T @ dO
    dW1 = X.T @ (dO @ W2.T * (H > 0))
    return H, O, np.mean((O - Y) ** 2), W1 - lr * dW1, W2 - lr * dW2


def test_two_device_graph_matches_numpy():
    (X, Y, W1, W2), (x, y, w1, w2, h, out, loss, train) = _two_device_mlp()
    H, O, L, W1n, W2n = _numpy_step(X, Y, W1, W2)
    with tf.Session(config=tf.ConfigProto(allow_soft_placement=True)) as sess:
        sess.run(tf.global_variables_initializer())
        # the CPU variable is on the host; the GPU one on the GPU when there is one
        assert where(sess, w1) == "cpu"
        assert where(sess, w2) == ("cuda" if nabi.test.is_gpu_available() else "cpu")
        got = sess.run([h, out, loss], {x: X, y: Y})
        for g, e in zip(got, [H, O, L]):
            np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-6)
        sess.run(train, {x: X, y: Y})   # gradients flow back across the devices
        np.testing.assert_allclose(sess.run(w1), W1n, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(sess.run(w2), W2n, rtol=1e-5, atol=1e-6)
        assert where(sess, w1) == "cpu"


def test_ops_run_on_their_device_and_values_move_between_them(gpu):
    x = tf.placeholder(tf.float32, [None, 3])
    with tf.device("/cpu:0"):
        c = tf.placeholder(tf.float32, [3])
        a = x * c + 1.0
    b = tf.reduce_sum(a, axis=1)              # the default device: the GPU
    with tf.device("/cpu:0"):
        d = b * 2.0                           # back on the host
    with tf.device("/gpu:0"):
        e = d - 1.0
    seen = {}
    for t in (a, b, d, e):
        spy(t, seen)
    X = np.arange(6, dtype=np.float32).reshape(2, 3)
    C = np.array([1.0, -2.0, 0.5], np.float32)
    with tf.Session() as sess:
        got = sess.run([a, b, d], {x: X, c: C})
        first = dict(seen)
        with nabi.device("cpu"):              # the eager default for this run: the CPU
            got_e = sess.run(e, {x: X, c: C})
    A = X * C + 1.0
    for g, want in zip(got + [got_e], [A, A.sum(1), A.sum(1) * 2, A.sum(1) * 2 - 1]):
        assert type(g) is np.ndarray
        np.testing.assert_allclose(g, want, rtol=1e-6)
    assert first[a.op.name] == ("cpu", {"cpu"})
    assert first[b.op.name] == ("cuda", {"cuda"})
    assert first[d.op.name] == ("cpu", {"cpu"})
    assert seen[b.op.name] == ("cpu", {"cpu"})     # unpinned: follows the eager default
    assert seen[e.op.name] == ("cuda", {"cuda"})   # pinned: tf.device wins


def test_a_fed_cpu_placeholder_reaches_gpu_ops(gpu):
    with tf.device("/cpu:0"):
        x = tf.placeholder(tf.float32, [None, 2])
    y = x * tf.constant([[2.0, 3.0]]) + 1.0   # every op that runs is on the GPU
    seen = {}
    spy(y, seen)
    with tf.Session() as sess:
        got = sess.run(y, {x: [[1.0, 2.0], [3.0, 4.0]]})
    np.testing.assert_allclose(got, [[3.0, 7.0], [7.0, 13.0]])
    assert seen[y.op.name] == ("cuda", {"cuda"})


def test_cpu_embeddings_train_beside_gpu_weights(gpu, tmp_path):
    """The classic TF1 pattern: the embedding table and its lookup pinned to the CPU."""
    r = np.random.default_rng(5)
    E0 = r.standard_normal((6, 3)).astype(np.float32)
    W0 = r.standard_normal((3, 2)).astype(np.float32)
    ids_v = np.array([0, 4, 4, 1], np.int32)
    ids = tf.placeholder(tf.int32, [None])
    with tf.device("/cpu:0"):
        emb = tf.Variable(E0)
        e = tf.nn.embedding_lookup(emb, ids)
    w = tf.Variable(W0)
    loss = tf.reduce_sum(tf.square(tf.matmul(e, w)))
    train = tf.train.MomentumOptimizer(0.01, 0.9).minimize(loss)
    scale = tf.assign(emb, emb * 0.5)         # built outside the scope: runs where emb lives
    # NumPy: two momentum steps, then the assignment
    E, W = E0.copy(), W0.copy()
    mE, mW = np.zeros_like(E), np.zeros_like(W)
    for _ in range(2):
        Z = E[ids_v] @ W
        dZ = 2 * Z
        dW = E[ids_v].T @ dZ
        dE = np.zeros_like(E)
        np.add.at(dE, ids_v, dZ @ W.T)
        mE, mW = 0.9 * mE + dE, 0.9 * mW + dW
        E, W = E - 0.01 * mE, W - 0.01 * mW
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        for _ in range(2):
            sess.run(train, {ids: ids_v})
        assert where(sess, emb) == "cpu" and where(sess, w) == "cuda"
        np.testing.assert_allclose(sess.run(emb), E, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(sess.run(w), W, rtol=1e-5, atol=1e-6)
        sess.run(scale)
        assert where(sess, emb) == "cpu"
        np.testing.assert_allclose(sess.run(emb), E * 0.5, rtol=1e-5, atol=1e-6)
        path = tf.train.Saver().save(sess, str(tmp_path / "model"))
    with tf.Session() as sess:                # a restored variable goes to its device too
        tf.train.Saver().restore(sess, path)
        assert where(sess, emb) == "cpu" and where(sess, w) == "cuda"
        np.testing.assert_allclose(sess.run(emb), E * 0.5, rtol=1e-5, atol=1e-6)


# -- no GPU: an error, or the CPU with soft placement -----------------------------------------
def test_missing_gpu_is_an_error_naming_op_and_device(hidden_gpu):
    x = tf.placeholder(tf.float32, [2])
    cpu_part = x + 1.0
    with tf.device("/gpu:0"):                 # building needs no GPU
        y = tf.multiply(cpu_part, 3.0, name="on_gpu")
    with tf.Session() as sess:
        np.testing.assert_allclose(sess.run(cpu_part, {x: [1.0, 2.0]}), [2.0, 3.0])
        with pytest.raises(tf.errors.InvalidArgumentError,
                           match=r"'on_gpu'.*/device:GPU:0.*allow_soft_placement") as ei:
            sess.run(y, {x: [1.0, 2.0]})
        assert ei.value.op is y.op


def test_missing_gpu_runs_on_the_cpu_with_soft_placement(hidden_gpu):
    (X, Y, W1, W2), (x, y, w1, w2, h, out, loss, train) = _two_device_mlp()
    H, O, L, W1n, W2n = _numpy_step(X, Y, W1, W2)
    config = tf.ConfigProto(allow_soft_placement=True,
                            gpu_options=tf.GPUOptions(allow_growth=True))
    with tf.Session(config=config) as sess:
        sess.run(tf.global_variables_initializer())
        assert where(sess, w1) == where(sess, w2) == "cpu"
        np.testing.assert_allclose(sess.run(loss, {x: X, y: Y}), L, rtol=1e-5)
        sess.run(train, {x: X, y: Y})
        np.testing.assert_allclose(sess.run(w1), W1n, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(sess.run(w2), W2n, rtol=1e-5, atol=1e-6)
    with tf.Session() as sess:                # without it, initialising w2 is the error
        with pytest.raises(tf.errors.InvalidArgumentError, match="GPU"):
            sess.run(tf.global_variables_initializer())
