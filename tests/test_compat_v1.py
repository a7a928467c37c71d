"""nabi.compat.v1 (TF1 graph mode) against eager nabi ops and NumPy references."""
import collections
import os

import numpy as np
import pytest

import nabi
import nabi.compat.v1 as tf


@pytest.fixture(autouse=True)
def fresh_graph():
    tf.reset_default_graph()
    yield
    tf.reset_default_graph()


def rng(seed=0):
    return np.random.default_rng(seed)


# -- graphs, tensors, names --------------------------------------------------------------------
def test_graph_tensor_attributes_and_names():
    x = tf.placeholder(tf.float32, [None, 3], name="x")
    a = x + 1.0
    b = x + 2.0
    assert a.name == "add:0" and b.name == "add_1:0"
    assert x.name == "x:0" and x.op.name == "x" and x.op.type == "Placeholder"
    assert a.graph is tf.get_default_graph() and a.op.inputs[0] is x
    assert a.shape.as_list() == [None, 3] and a.dtype == tf.float32
    assert tf.get_default_graph().get_tensor_by_name("add_1:0") is b
    with tf.name_scope("layer"):
        c = tf.multiply(x, 3.0, name="scaled")
    assert c.name == "layer/scaled:0"
    assert "shape=(?, 3)" in repr(a)


def test_graph_as_default_and_reset():
    g = tf.Graph()
    with g.as_default():
        c = tf.constant(1.0)
        assert tf.get_default_graph() is g
    assert c.graph is g and tf.get_default_graph() is not g
    old = tf.get_default_graph()
    tf.reset_default_graph()
    assert tf.get_default_graph() is not old


def test_constants_numbers_arrays_strings():
    a = tf.constant(3)
    b = tf.constant([[1.5, 2.0]])
    s = tf.constant("hello")
    z = tf.constant(0.0, shape=[2, 2])
    assert a.dtype == tf.int32 and b.dtype == tf.float32 and s.dtype == tf.string
    with tf.Session() as sess:
        ra, rb, rs, rz = sess.run([a, b, s, z])
    assert ra == 3 and isinstance(ra, np.int32)
    np.testing.assert_array_equal(rb, [[1.5, 2.0]])
    assert rs == b"hello"
    np.testing.assert_array_equal(rz, np.zeros((2, 2)))


def test_placeholder_dtypes_and_none_dims():
    x = tf.placeholder("float", [None, 4])
    y = tf.placeholder(tf.int64, shape=[2])
    assert x.dtype == tf.float32 and y.dtype == tf.int64
    out = tf.reduce_sum(x, axis=1)
    assert out.shape.as_list() == [None]
    with tf.Session() as sess:
        for n in (1, 7):
            v = rng().random((n, 4)).astype(np.float32)
            np.testing.assert_allclose(sess.run(out, {x: v}), v.sum(1), rtol=1e-6)
        with pytest.raises(ValueError, match=r"Cannot feed value of shape \(3, 5\).*'\(\?, 4\)'"):
            sess.run(out, {x: np.zeros((3, 5))})
        with pytest.raises(ValueError, match="Cannot feed value of shape"):
            sess.run(out, {x: np.zeros(4)})
        with pytest.raises(tf.errors.InvalidArgumentError, match="must feed a value for placeholder"):
            sess.run(out)


def test_placeholder_with_default_and_unknown_rank():
    d = tf.placeholder_with_default(tf.constant([1.0, 2.0]), shape=[None])
    p = tf.placeholder(tf.float32)   # unknown rank
    y = p * 2.0
    assert y.shape.rank is None
    with tf.Session() as sess:
        np.testing.assert_array_equal(sess.run(d * 2), [2.0, 4.0])
        np.testing.assert_array_equal(sess.run(d, {d: [5.0, 6.0, 7.0]}), [5.0, 6.0, 7.0])
        np.testing.assert_array_equal(sess.run(y, {p: [[1.0], [2.0]]}), [[2.0], [4.0]])
        assert sess.run(y, {p: 3.0}) == 6.0


def test_static_shape_errors_at_construction():
    x = tf.placeholder(tf.float32, [2, 784])
    w = tf.zeros([10, 5])
    with pytest.raises(ValueError, match="MatMul"):
        tf.matmul(x, w)
    # with unknown dims the static shape may stay unknown; the run reports the mismatch
    u = tf.matmul(tf.placeholder(tf.float32, [None, 784]), w)
    with tf.Session() as s, pytest.raises(ValueError, match="matmul"):
        s.run(u, {u.op.inputs[0]: np.zeros((2, 784), np.float32)})


# -- ops vs eager ------------------------------------------------------------------------------
def test_math_ops_match_eager():
    r = rng(1)
    A = r.random((3, 4)).astype(np.float32) + 0.1
    B = r.random((3, 4)).astype(np.float32) + 0.1
    M = r.random((4, 2)).astype(np.float32)
    a = tf.placeholder(tf.float32, [None, 4])
    b = tf.constant(B)
    m = tf.constant(M)
    graph_fetch = {
        "add": tf.add(a, b), "sub": tf.subtract(a, b), "mul": tf.multiply(a, b),
        "matmul": tf.matmul(a, m), "log": tf.log(a), "exp": tf.exp(a), "square": tf.square(a),
        "sqrt": tf.sqrt(a), "sum1": tf.reduce_sum(a, reduction_indices=[1]),
        "mean_k": tf.reduce_mean(a, axis=0, keep_dims=True), "max": tf.reduce_max(a, 1, keepdims=True),
        "argmax": tf.argmax(a, 1), "argmax0": tf.argmax(a), "eq": tf.equal(a, b),
        "cast": tf.cast(tf.greater(a, b), "float"), "reshape": tf.reshape(a, [-1, 2]),
        "concat": tf.concat([a, b], 1), "ops": -(a + 1) * 2 - a / b + a ** 2 @ m[:, :1] if False
        else -(a + 1) * 2 - a / b + a ** 2, "mm_op": a @ m, "item": a[:, 1:3], "cmp": a < b,
        "sigmoid": tf.sigmoid(a), "tanh": tf.tanh(a),
    }
    ea, eb, em = nabi.constant(A), nabi.constant(B), nabi.constant(M)
    eager = {
        "add": nabi.add(ea, eb), "sub": nabi.subtract(ea, eb), "mul": nabi.multiply(ea, eb),
        "matmul": nabi.matmul(ea, em), "log": nabi.log(ea), "exp": nabi.exp(ea),
        "square": nabi.square(ea), "sqrt": nabi.sqrt(ea), "sum1": nabi.reduce_sum(ea, 1),
        "mean_k": nabi.reduce_mean(ea, 0, keepdims=True), "max": nabi.reduce_max(ea, 1, keepdims=True),
        "argmax": nabi.argmax(ea, 1), "argmax0": nabi.argmax(ea, 0), "eq": nabi.equal(ea, eb),
        "cast": nabi.cast(nabi.greater(ea, eb), nabi.float32), "reshape": nabi.reshape(ea, [-1, 2]),
        "concat": nabi.concat([ea, eb], 1), "ops": -(ea + 1) * 2 - ea / eb + ea ** 2,
        "mm_op": ea @ em, "item": ea[:, 1:3], "cmp": ea < eb,
        "sigmoid": nabi.sigmoid(ea), "tanh": nabi.tanh(ea),
    }
    with tf.Session() as sess:
        got = sess.run(graph_fetch, {a: A})
    for k, v in eager.items():
        np.testing.assert_allclose(got[k], v.numpy(), rtol=1e-6, err_msg=k)
        assert got[k].dtype == v.numpy().dtype, k
    np.testing.assert_allclose(got["matmul"], A @ M, rtol=1e-5)
    assert graph_fetch["sum1"].shape.as_list() == [None]
    assert graph_fetch["add"].shape.as_list() == [3, 4]


def test_nn_ops_match_eager():
    r = rng(2)
    X = r.standard_normal((5, 4)).astype(np.float32)
    Y = np.eye(4, dtype=np.float32)[r.integers(0, 4, 5)]
    L = r.integers(0, 4, 5).astype(np.int64)
    x = tf.placeholder(tf.float32, [None, 4])
    y = tf.placeholder(tf.float32, [None, 4])
    lab = tf.placeholder(tf.int64, [None])
    bias = tf.constant(np.arange(4, dtype=np.float32))
    fetch = [tf.nn.relu(x), tf.nn.sigmoid(x), tf.nn.tanh(x), tf.nn.softmax(x),
             tf.nn.softmax_cross_entropy_with_logits(labels=y, logits=x),
             tf.nn.softmax_cross_entropy_with_logits_v2(labels=y, logits=x),
             tf.nn.sparse_softmax_cross_entropy_with_logits(labels=lab, logits=x),
             tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.sigmoid(y), logits=x),
             tf.nn.bias_add(x, bias)]
    ex, ey = nabi.constant(X), nabi.constant(Y)
    ref = [nabi.nn.relu(ex), nabi.nn.sigmoid(ex), nabi.nn.tanh(ex), nabi.nn.softmax(ex),
           nabi.nn.softmax_cross_entropy_with_logits(labels=ey, logits=ex),
           nabi.nn.softmax_cross_entropy_with_logits(labels=ey, logits=ex),
           nabi.nn.sparse_softmax_cross_entropy_with_logits(labels=nabi.constant(L), logits=ex),
           nabi.nn.sigmoid_cross_entropy_with_logits(labels=nabi.sigmoid(ey), logits=ex),
           nabi.nn.bias_add(ex, nabi.constant(np.arange(4, dtype=np.float32)))]
    with tf.Session() as sess:
        got = sess.run(fetch, {x: X, y: Y, lab: L})
    for g, e in zip(got, ref):
        np.testing.assert_allclose(g, e.numpy(), rtol=1e-5, atol=1e-6)
    p = np.exp(X - X.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    np.testing.assert_allclose(got[4], -(Y * np.log(p)).sum(1), rtol=1e-5)


def test_conv_pool_match_eager():
    r = rng(3)
    X = r.standard_normal((2, 8, 8, 3)).astype(np.float32)
    K = r.standard_normal((3, 3, 3, 4)).astype(np.float32)
    x = tf.placeholder(tf.float32, [None, 8, 8, 3])
    k = tf.constant(K)
    c = tf.nn.conv2d(x, k, strides=[1, 1, 1, 1], padding="SAME")
    mp = tf.nn.max_pool(c, ksize=[1, 2, 2, 1], strides=[1, 2, 2, 1], padding="VALID")
    ap = tf.nn.avg_pool(c, ksize=[1, 2, 2, 1], strides=[1, 2, 2, 1], padding="SAME")
    assert c.shape.as_list() == [None, 8, 8, 4] and mp.shape.as_list() == [None, 4, 4, 4]
    with tf.Session() as sess:
        gc, gm, ga = sess.run([c, mp, ap], {x: X})
    ec = nabi.nn.conv2d(nabi.constant(X), nabi.constant(K), [1, 1, 1, 1], "SAME")
    np.testing.assert_allclose(gc, ec.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(gm, nabi.nn.max_pool(ec, [1, 2, 2, 1], [1, 2, 2, 1], "VALID").numpy(),
                               rtol=1e-6)
    np.testing.assert_allclose(ga, nabi.nn.avg_pool(ec, [1, 2, 2, 1], [1, 2, 2, 1], "SAME").numpy(),
                               rtol=1e-6)


def test_dropout_keep_prob_placeholder_and_rate():
    x = tf.ones([200, 50])
    kp = tf.placeholder(tf.float32)
    d = tf.nn.dropout(x, kp)
    d2 = tf.nn.dropout(x, rate=0.5)
    assert d.shape.as_list() == [200, 50]
    with tf.Session() as sess:
        np.testing.assert_array_equal(sess.run(d, {kp: 1.0}), np.ones((200, 50)))
        v = sess.run(d, {kp: 0.5})
        assert set(np.unique(v)) <= {0.0, 2.0} and 0.4 < (v == 0).mean() < 0.6
        assert set(np.unique(sess.run(d2))) <= {0.0, 2.0}


def test_random_ops_and_seed():
    def build():
        tf.reset_default_graph()
        tf.set_random_seed(42)
        return [tf.random_normal([1000], 1.0, 2.0), tf.truncated_normal([1000], stddev=1.0),
                tf.random_uniform([1000], -1.0, 3.0)]
    fetch = build()
    with tf.Session() as s:
        n, t, u = s.run(fetch)
    assert abs(n.mean() - 1.0) < 0.2 and abs(n.std() - 2.0) < 0.2
    assert np.abs(t).max() <= 2.0 and u.min() >= -1.0 and u.max() < 3.0
    fetch = build()
    with tf.Session() as s:
        n2, _, _ = s.run(fetch)
    np.testing.assert_array_equal(n, n2)


# -- fetch nests -----------------------------------------------------------------------------
def test_fetch_nests():
    a = tf.constant(1.0)
    b = tf.constant([2, 3])
    noop = tf.no_op()
    Pair = collections.namedtuple("Pair", "x y")
    with tf.Session() as sess:
        r = sess.run({"a": a, "rest": [b, (a, Pair(a, b))], "op": noop})
        assert r["a"] == 1.0 and r["op"] is None
        assert isinstance(r["rest"], list) and isinstance(r["rest"][1], tuple)
        assert isinstance(r["rest"][1][1], Pair) and r["rest"][1][1].x == 1.0
        np.testing.assert_array_equal(r["rest"][1][1].y, [2, 3])
        assert sess.run(a.name) == 1.0
        assert sess.run(noop) is None


# -- variables -------------------------------------------------------------------------------
def test_variables_initializer_and_uninitialized_error():
    v = tf.Variable(tf.zeros([2]), name="v")
    w = tf.Variable([1.0, 2.0], name="w")
    s = v + w
    assert v.name == "v:0" and v.shape.as_list() == [2]
    assert set(tf.global_variables()) == {v, w} and set(tf.trainable_variables()) == {v, w}
    with tf.Session() as sess:
        with pytest.raises(tf.errors.FailedPreconditionError, match="uninitialized value v"):
            sess.run(s)
        sess.run(v.initializer)
        sess.run(w.initializer)
        np.testing.assert_array_equal(sess.run(s), [1.0, 2.0])
        sess.run(tf.assign(v, [5.0, 5.0]))
        np.testing.assert_array_equal(sess.run(s), [6.0, 7.0])
        sess.run(v.assign_add([1.0, 1.0]))
        np.testing.assert_array_equal(v.eval(), [6.0, 6.0])
    # values are per session
    with tf.Session() as s1, tf.Session() as s2:
        s1.run(tf.global_variables_initializer())
        s2.run(tf.global_variables_initializer())
        s1.run(tf.assign(v, [9.0, 9.0]))
        np.testing.assert_array_equal(s2.run(v), [0.0, 0.0])
        np.testing.assert_array_equal(s1.run(v), [9.0, 9.0])


def test_fetched_variable_value_is_a_copy():
    v = tf.Variable([1.0])
    inc = tf.assign_add(v, [1.0])
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        before = sess.run(v)
        sess.run(inc)
        assert before[0] == 1.0 and sess.run(v)[0] == 2.0


def test_variable_scope_get_variable_reuse():
    with tf.variable_scope("foo"):
        a = tf.get_variable("w", [2, 3], initializer=tf.constant_initializer(0.5))
        with tf.variable_scope("bar"):
            b = tf.get_variable("b", [3])
    assert a.name == "foo/w:0" and b.name == "foo/bar/b:0"
    with pytest.raises(ValueError, match="already exists"):
        with tf.variable_scope("foo"):
            tf.get_variable("w", [2, 3])
    with tf.variable_scope("foo", reuse=True):
        assert tf.get_variable("w", [2, 3]) is a
        with pytest.raises(ValueError, match="does not exist"):
            tf.get_variable("nope", [1])
    with tf.variable_scope("foo") as sc:
        sc.reuse_variables()
        assert tf.get_variable("w") is a
    with tf.variable_scope("foo", reuse=tf.AUTO_REUSE):
        assert tf.get_variable("w", [2, 3]) is a
        c = tf.get_variable("new", [1])
    assert c.name == "foo/new:0"
    with tf.variable_scope("init", initializer=tf.ones_initializer()):
        d = tf.get_variable("d", [2])
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        np.testing.assert_array_equal(sess.run(a), np.full((2, 3), 0.5))
        np.testing.assert_array_equal(sess.run(d), [1.0, 1.0])
        g = sess.run(b)
        assert g.shape == (3,) and np.all(np.abs(g) <= np.sqrt(6.0 / 6))


# -- optimizers vs NumPy TF1 rules ---------------------------------------------------------------
def _np_grad(W, X, Y):
    # loss = mean((X W - Y)^2)
    return 2.0 * X.T @ (X @ W - Y) / Y.size


def _run_opt(opt, steps=4):
    r = rng(5)
    X = r.standard_normal((6, 3)).astype(np.float32)
    Y = r.standard_normal((6, 2)).astype(np.float32)
    W0 = r.standard_normal((3, 2)).astype(np.float32)
    x = tf.placeholder(tf.float32, [None, 3])
    y = tf.placeholder(tf.float32, [None, 2])
    W = tf.Variable(W0)
    loss = tf.reduce_mean(tf.square(tf.matmul(x, W) - y))
    train = opt.minimize(loss)
    out = []
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        for _ in range(steps):
            sess.run(train, {x: X, y: Y})
            out.append(sess.run(W))
    return X, Y, W0.astype(np.float64), out


def test_gradient_descent_rule():
    X, Y, W, got = _run_opt(tf.train.GradientDescentOptimizer(0.1))
    for g in got:
        W = W - 0.1 * _np_grad(W, X, Y)
        np.testing.assert_allclose(g, W, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("nesterov", [False, True])
def test_momentum_rule(nesterov):
    X, Y, W, got = _run_opt(tf.train.MomentumOptimizer(0.1, 0.9, use_nesterov=nesterov))
    acc = np.zeros_like(W)
    for g in got:
        gr = _np_grad(W, X, Y)
        acc = 0.9 * acc + gr
        W = W - 0.1 * (gr + 0.9 * acc) if nesterov else W - 0.1 * acc
        np.testing.assert_allclose(g, W, rtol=1e-5, atol=1e-6)


def test_adam_rule():
    X, Y, W, got = _run_opt(tf.train.AdamOptimizer(0.01))
    m = np.zeros_like(W)
    v = np.zeros_like(W)
    for t, g in enumerate(got, 1):
        gr = _np_grad(W, X, Y)
        m = 0.9 * m + 0.1 * gr
        v = 0.999 * v + 0.001 * gr * gr
        lr_t = 0.01 * np.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t)
        W = W - lr_t * m / (np.sqrt(v) + 1e-8)
        np.testing.assert_allclose(g, W, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("momentum", [0.0, 0.5])
def test_rmsprop_rule(momentum):
    X, Y, W, got = _run_opt(tf.train.RMSPropOptimizer(0.01, momentum=momentum))
    ms = np.ones_like(W)
    mom = np.zeros_like(W)
    for g in got:
        gr = _np_grad(W, X, Y)
        ms = 0.9 * ms + 0.1 * gr * gr
        mom = momentum * mom + 0.01 * gr / np.sqrt(ms + 1e-10)
        W = W - mom
        np.testing.assert_allclose(g, W, rtol=1e-5, atol=1e-6)


def test_adagrad_rule():
    X, Y, W, got = _run_opt(tf.train.AdagradOptimizer(0.1))
    acc = np.full_like(W, 0.1)
    for g in got:
        gr = _np_grad(W, X, Y)
        acc = acc + gr * gr
        W = W - 0.1 * gr / np.sqrt(acc)
        np.testing.assert_allclose(g, W, rtol=1e-5, atol=1e-6)


def test_compute_apply_gradients_global_step_and_gradients():
    x = tf.placeholder(tf.float32, [None])
    w = tf.Variable(2.0)
    unused = tf.Variable(1.0)
    loss = tf.reduce_sum(w * x * x)
    gs = tf.train.get_or_create_global_step()
    opt = tf.train.GradientDescentOptimizer(0.5)
    gv = opt.compute_gradients(loss, var_list=[w, unused])
    assert gv[1][0] is None and gv[0][1] is w
    train = opt.apply_gradients(gv, global_step=gs)
    dx = tf.gradients(loss, x)[0]
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        g, l, gx = sess.run([gv[0][0], loss, dx], {x: [1.0, 2.0]})
        assert g == 5.0 and l == 10.0
        np.testing.assert_allclose(gx, [4.0, 8.0])
        _, l2 = sess.run([train, loss], {x: [1.0, 2.0]})
        assert l2 == 10.0                       # the loss from before the update
        assert sess.run(w) == 2.0 - 0.5 * 5.0 and sess.run(gs) == 1
    with pytest.raises(ValueError, match="No gradients"):
        opt.minimize(tf.reduce_sum(x), var_list=[w])


def test_reinitialising_resets_optimizer_state():
    w = tf.Variable([1.0, -2.0])
    loss = tf.reduce_sum(tf.square(w))
    train = tf.train.AdamOptimizer(0.1).minimize(loss)
    with tf.Session() as sess:
        runs = []
        for _ in range(2):
            sess.run(tf.global_variables_initializer())
            for _ in range(3):
                sess.run(train)
            runs.append(sess.run(w))
    np.testing.assert_array_equal(runs[0], runs[1])


def test_two_optimizers_disjoint_var_lists():
    z = tf.placeholder(tf.float32, [None, 2])
    with tf.variable_scope("G"):
        g = tf.get_variable("w", initializer=tf.constant([[1.0, 0.5], [0.2, 1.0]]))
    with tf.variable_scope("D"):
        d = tf.get_variable("w", initializer=tf.constant([[0.3], [0.7]]))
    fake = tf.matmul(z, g)
    logit = tf.matmul(fake, d)
    d_loss = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.zeros_like(logit),
                                                                    logits=logit))
    g_loss = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.ones_like(logit),
                                                                    logits=logit))
    g_vars = tf.get_collection(tf.GraphKeys.TRAINABLE_VARIABLES, scope="G")
    d_vars = tf.trainable_variables("D")
    assert g_vars == [g] and d_vars == [d]
    d_train = tf.train.AdamOptimizer(0.1).minimize(d_loss, var_list=d_vars)
    g_train = tf.train.AdamOptimizer(0.1).minimize(g_loss, var_list=g_vars)
    Z = rng(6).standard_normal((8, 2)).astype(np.float32)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        g0, d0 = sess.run([g, d])
        sess.run(d_train, {z: Z})
        g1, d1 = sess.run([g, d])
        np.testing.assert_array_equal(g1, g0)
        assert not np.allclose(d1, d0)
        sess.run(g_train, {z: Z})
        g2, d2 = sess.run([g, d])
        np.testing.assert_array_equal(d2, d1)
        assert not np.allclose(g2, g1)
        # both in one run: gradients are taken before either update (as from the same values)
        sess.run([d_train, g_train], {z: Z})
        assert np.all(np.isfinite(sess.run(d_loss, {z: Z})))


def test_eager_gradient_equivalence_for_minimize():
    r = rng(7)
    X = r.standard_normal((4, 3)).astype(np.float32)
    W0 = r.standard_normal((3, 2)).astype(np.float32)
    x = tf.placeholder(tf.float32, [None, 3])
    W = tf.Variable(W0)
    loss = tf.reduce_sum(tf.nn.softmax(tf.matmul(x, W)) ** 2)
    grad = tf.gradients(loss, W)[0]
    ev = nabi.Variable(W0)
    with nabi.GradientTape() as tape:
        el = nabi.reduce_sum(nabi.nn.softmax(nabi.matmul(nabi.constant(X), ev)) ** 2)
    eg = tape.gradient(el, ev)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        np.testing.assert_allclose(sess.run(grad, {x: X}), eg.numpy(), rtol=1e-6)


# -- layers ---------------------------------------------------------------------------------
def test_layers_dense_conv_pool_flatten_shapes_and_values():
    x = tf.placeholder(tf.float32, [None, 8, 8, 1])
    c = tf.layers.conv2d(x, 4, 3, padding="same", activation=tf.nn.relu)
    p = tf.layers.max_pooling2d(c, 2, 2)
    a = tf.layers.average_pooling2d(c, [2, 2], [2, 2])
    f = tf.layers.flatten(p)
    f2 = tf.contrib.layers.flatten(a)
    d = tf.layers.dense(f, 5, activation=tf.nn.sigmoid, name="out")
    assert c.shape.as_list() == [None, 8, 8, 4] and p.shape.as_list() == [None, 4, 4, 4]
    assert f.shape.as_list() == [None, 64] and f2.shape.as_list() == [None, 64]
    assert d.shape.as_list() == [None, 5]
    names = sorted(v.op.name for v in tf.trainable_variables())
    assert names == ["conv2d/bias", "conv2d/kernel", "out/bias", "out/kernel"]
    X = rng(8).standard_normal((2, 8, 8, 1)).astype(np.float32)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        K, B, Wd, Bd, got = sess.run(["conv2d/kernel:0", "conv2d/bias:0", "out/kernel:0",
                                      "out/bias:0", d], {x: X})
    ec = nabi.nn.relu(nabi.nn.conv2d(nabi.constant(X), nabi.constant(K), 1, "SAME") + B)
    ep = nabi.reshape(nabi.nn.max_pool(ec, 2, 2, "VALID"), [2, -1])
    ed = nabi.sigmoid(nabi.matmul(ep, nabi.constant(Wd)) + Bd)
    np.testing.assert_allclose(got, ed.numpy(), rtol=1e-5, atol=1e-6)


def test_layers_dropout_with_boolean_placeholder():
    training = tf.placeholder(tf.bool)
    x = tf.ones([100, 40])
    y = tf.layers.dropout(x, rate=0.5, training=training)
    assert y.shape.as_list() == [100, 40]
    assert tf.layers.dropout(x, 0.5) is x
    with tf.Session() as sess:
        np.testing.assert_array_equal(sess.run(y, {training: False}), np.ones((100, 40)))
        v = sess.run(y, {training: True})
        assert set(np.unique(v)) <= {0.0, 2.0} and 0.4 < (v == 0).mean() < 0.6


def test_layers_batch_normalization_update_ops():
    training = tf.placeholder(tf.bool)
    x = tf.placeholder(tf.float32, [None, 3])
    y = tf.layers.batch_normalization(x, momentum=0.5, training=training)
    updates = tf.get_collection(tf.GraphKeys.UPDATE_OPS)
    assert len(updates) == 2
    X = rng(9).standard_normal((50, 3)).astype(np.float32) * 3 + 1
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        out = sess.run(y, {x: X, training: True})
        np.testing.assert_allclose(out.mean(0), 0, atol=1e-5)
        np.testing.assert_allclose(out.std(0), 1, atol=1e-2)
        mm = "batch_normalization/moving_mean:0"
        np.testing.assert_array_equal(sess.run(mm), np.zeros(3))   # no update ops run yet
        sess.run(updates, {x: X, training: True})
        np.testing.assert_allclose(sess.run(mm), 0.5 * X.mean(0), rtol=1e-5)
        sess.run(updates, {x: X, training: False})                  # inference: unchanged
        np.testing.assert_allclose(sess.run(mm), 0.5 * X.mean(0), rtol=1e-5)
        mv = sess.run("batch_normalization/moving_variance:0")
        inf = sess.run(y, {x: X, training: False})
        np.testing.assert_allclose(inf, (X - 0.5 * X.mean(0)) / np.sqrt(mv + 1e-3), rtol=1e-4,
                                   atol=1e-4)


# -- sessions, saver, errors -----------------------------------------------------------------------
def test_interactive_session_eval_and_operation_run():
    v = tf.Variable(3.0)
    sess = tf.InteractiveSession()
    try:
        tf.global_variables_initializer().run()
        assert (v * 2).eval() == 6.0
        tf.assign(v, 4.0).op.run()
        assert v.eval() == 4.0
    finally:
        sess.close()
    with pytest.raises(ValueError, match="no default session"):
        v.eval()


def test_saver_round_trip(tmp_path):
    v = tf.Variable(tf.random_normal([3, 2]), name="v")
    with tf.variable_scope("s"):
        w = tf.get_variable("w", [4])
    saver = tf.train.Saver()
    path = str(tmp_path / "model.ckpt")
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        saved = sess.run([v, w])
        p = saver.save(sess, path, global_step=7)
    assert p == path + "-7" and os.path.exists(p + ".npz")
    assert tf.train.latest_checkpoint(str(tmp_path)) == p
    with np.load(p + ".npz", allow_pickle=False) as f:
        assert sorted(f.files) == ["s/w", "v"]
    with tf.Session() as sess:
        saver.restore(sess, p)
        np.testing.assert_array_equal(sess.run(v), saved[0])
        np.testing.assert_array_equal(sess.run(w), saved[1])
        with pytest.raises(tf.errors.NotFoundError):
            saver.restore(sess, str(tmp_path / "missing"))


def test_error_running_tensor_of_other_graph():
    g1 = tf.Graph()
    with g1.as_default():
        a = tf.constant(1.0)
    sess = tf.Session()     # default graph
    with pytest.raises(ValueError, match="not an element of this session's graph"):
        sess.run(a)
    b = tf.constant(2.0)
    with pytest.raises(ValueError, match="same graph"):
        tf.add(a, b)


def test_error_eager_tensor_in_graph():
    x = tf.placeholder(tf.float32, [2])
    with pytest.raises(TypeError, match=r"\[Add\] cannot mix an eager tensor into graph"):
        tf.add(x, nabi.constant([1.0, 2.0]))
    with pytest.raises(TypeError, match="cannot mix an eager tensor"):
        tf.matmul(nabi.ones([2, 2]), tf.ones([2, 2]))
    with pytest.raises(TypeError, match="eager"):
        tf.Session().run(nabi.constant(1.0))
    # numbers and NumPy arrays are fine
    with tf.Session() as s:
        np.testing.assert_array_equal(s.run(x + np.array([1.0, 1.0], np.float32), {x: [1, 2]}),
                                      [2.0, 3.0])


def test_closed_session_and_control_dependencies():
    v = tf.Variable(0.0)
    inc = tf.assign_add(v, 1.0)
    with tf.control_dependencies([inc]):
        out = tf.identity(tf.constant(5.0))
    sess = tf.Session()
    sess.run(tf.global_variables_initializer())
    assert sess.run(out) == 5.0 and sess.run(v) == 1.0
    grp = tf.group(inc, inc.op)
    sess.run(grp)
    assert sess.run(v) == 2.0
    sess.close()
    with pytest.raises(RuntimeError, match="closed Session"):
        sess.run(out)


def test_no_ops_compat_helpers():
    tf.disable_eager_execution()
    tf.disable_v2_behavior()
    assert not tf.executing_eagerly()
    with pytest.raises(ImportError, match="tensorboardX") if _no_tbx() else _nullctx():
        tf.summary.FileWriter("/tmp/nabi_tb_test")


def _no_tbx():
    try:
        import tensorboardX  # noqa: F401
        return False
    except ImportError:
        return True


def _nullctx():
    import contextlib
    return contextlib.nullcontext()


# -- devices -----------------------------------------------------------------------------------
@pytest.fixture
def emulated_gpu(monkeypatch):
    """The (NumPy-emulated) GPU as the default device, also in the CPU test run."""
    from nabi.framework import device as dev
    monkeypatch.setenv("NABI_EMULATE_CUDA", "1")
    monkeypatch.setattr(dev, "_BACKEND", [None])
    assert dev.current_device() == "cuda"
    yield
    monkeypatch.setattr(dev, "_BACKEND", [None])


def _placement_graph():
    r = rng(11)
    X = r.standard_normal((6, 3)).astype(np.float32)
    L = r.integers(0, 2, 6).astype(np.int32)
    x = tf.placeholder(tf.float32, [None, 3])
    lab = tf.placeholder(tf.int32, [None])
    W = tf.Variable(r.standard_normal((3, 2)).astype(np.float32))
    b = tf.Variable(tf.zeros([2]))
    c = tf.constant([[0.5, -0.5]])
    logits = tf.matmul(x, W) + b + c + tf.fill([1, 2], 0.25)
    loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=lab,
                                                                         logits=logits))
    train = tf.train.AdamOptimizer(0.1).minimize(loss)
    fetch = [loss, logits, tf.nn.top_k(logits, 2)[1], tf.nn.in_top_k(logits, lab, 1)]
    return {x: X, lab: L}, W, c, train, fetch


def _train_and_fetch(feed, train, fetch, sess, steps=3):
    sess.run(tf.global_variables_initializer())
    for _ in range(steps):
        sess.run(train, feed)
    return sess.run(fetch, feed)


def test_session_runs_on_the_gpu_and_fetches_numpy(emulated_gpu):
    feed, W, c, train, fetch = _placement_graph()
    with tf.Session() as sess:
        got = _train_and_fetch(feed, train, fetch, sess)
        # variables live on the GPU; a constant is uploaded once per session
        assert all(v.device.endswith("GPU:0") for v in sess._vars.values())
        up = sess._uploads[c.op][1]
        sess.run(fetch, feed)
        assert sess._uploads[c.op][1] is up and up.device.endswith("GPU:0")
        w = sess.run(W)
    assert type(got[0]) is np.float32     # scalars come back as NumPy scalars, as in TF
    for g in got[1:] + [w]:
        assert type(g) is np.ndarray
    # the same graph, run on the CPU
    with nabi.device("cpu"), tf.Session() as sess:
        ref = _train_and_fetch(feed, train, fetch, sess)
        assert all(v.device.endswith("CPU:0") for v in sess._vars.values())
    for g, e in zip(got, ref):
        assert g.dtype == e.dtype
        np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-6)


def test_saver_and_summaries_on_the_gpu(emulated_gpu, tmp_path):
    v = tf.Variable([1.0, 2.0], name="v")
    inc = tf.assign_add(v, [1.0, 1.0])
    saver = tf.train.Saver()
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        sess.run(inc)
        p = saver.save(sess, str(tmp_path / "m"))
    with np.load(p + ".npz") as f:
        np.testing.assert_array_equal(f["v"], [2.0, 3.0])
    with tf.Session() as sess:
        saver.restore(sess, p)
        assert sess._vars[v.op].device.endswith("GPU:0")
        sess.run(inc)
        np.testing.assert_array_equal(sess.run(v), [3.0, 4.0])


# -- end to end ----------------------------------------------------------------------------
def test_softmax_regression_converges_on_synthetic_data():
    r = rng(10)
    centers = r.standard_normal((3, 5)).astype(np.float32) * 3
    lab = r.integers(0, 3, 600)
    Xall = centers[lab] + r.standard_normal((600, 5)).astype(np.float32)
    Yall = np.eye(3, dtype=np.float32)[lab]
    x = tf.placeholder(tf.float32, [None, 5])
    y_ = tf.placeholder(tf.float32, [None, 3])
    W = tf.Variable(tf.zeros([5, 3]))
    b = tf.Variable(tf.zeros([3]))
    y = tf.nn.softmax(tf.matmul(x, W) + b)
    ce = tf.reduce_mean(-tf.reduce_sum(y_ * tf.log(y), reduction_indices=[1]))
    train = tf.train.GradientDescentOptimizer(0.5).minimize(ce)
    acc = tf.reduce_mean(tf.cast(tf.equal(tf.argmax(y, 1), tf.argmax(y_, 1)), tf.float32))
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        l0 = sess.run(ce, {x: Xall, y_: Yall})
        for i in range(100):
            s = (i * 50) % 500
            sess.run(train, {x: Xall[s:s + 50], y_: Yall[s:s + 50]})
        l1, a = sess.run([ce, acc], {x: Xall[500:], y_: Yall[500:]})
    assert l1 < 0.3 * l0 and a > 0.9
