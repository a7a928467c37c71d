"""Autodiff, tf.function, control flow, Variables, tf.nest and stateless random ops: semantics
found by a differential sweep against TF 2.21. References are NumPy / plain Python written from
TF's documented behaviour (and a few numbers TF 2.21 printed, quoted as constants); nothing
here imports TensorFlow."""
import numpy as np
import pytest

import nabi as tf


# ------------------------------------------------------------------ stateless random ops
_M32 = 0xFFFFFFFF


def _philox4x32(ctr, key):
    """Philox-4x32-10 of one counter (4 words) under a key (2 words), plain Python."""
    c, (k0, k1) = list(ctr), key
    for _ in range(10):
        p0, p1 = 0xD2511F53 * c[0], 0xCD9E8D57 * c[2]
        c = [((p1 >> 32) ^ c[1] ^ k0) & _M32, p1 & _M32, ((p0 >> 32) ^ c[3] ^ k1) & _M32,
             p0 & _M32]
        k0, k1 = (k0 + 0x9E3779B9) & _M32, (k1 + 0xBB67AE85) & _M32
    return c


def _tf_stateless_uniform_f32(seed, n):
    """TF's stateless_uniform float32 draws: the seed (s0, s1) is scrambled into a key and
    counter by one Philox call under the key (0x3ec8f720, 0x02461e29); then each Philox call
    on counter, counter + 1, ... gives 4 floats from the low 23 bits of its words."""
    s0, s1 = (v % 2**64 for v in seed)
    mix = _philox4x32([s0 & _M32, s0 >> 32, s1 & _M32, s1 >> 32], (0x3EC8F720, 0x02461E29))
    key, ctr = (mix[0], mix[1]), [0, 0, mix[2], mix[3]]
    out = []
    while len(out) < n:
        for w in _philox4x32(ctr, key):
            out.append(np.array([(w & 0x7FFFFF) | 0x3F800000], np.uint32).view(np.float32)[0]
                       - np.float32(1))
        ctr[0] += 1                       # (a small test never carries into word 1)
    return np.array(out[:n], np.float32)


def test_stateless_uniform_is_tfs_philox_stream():
    # nabi drew stateless ops from a NumPy generator: stateless_uniform([5], [1, 2]) was
    # [0.7039, 0.1514, ...], TF's is [0.8441, 0.1920, 0.9962, 0.1604, 0.2720]
    for seed in [(1, 2), (0, 0), (-3, 7), (2**40 + 5, 123456789)]:
        want = _tf_stateless_uniform_f32(seed, 9)
        got = tf.random.stateless_uniform([9], seed=seed).numpy()
        np.testing.assert_array_equal(got, want)
    np.testing.assert_allclose(tf.random.stateless_uniform([5], seed=[1, 2]).numpy(),
                               [0.8440604, 0.19204533, 0.9962232, 0.16038740, 0.27199018],
                               rtol=1e-6)
    r = tf.random.stateless_uniform([2, 3], seed=[1, 2], minval=2.0, maxval=4.0)
    np.testing.assert_allclose(r.numpy().ravel(), 2 + 2 * _tf_stateless_uniform_f32((1, 2), 6),
                               rtol=1e-6)


def test_stateless_normal_int_split_fold_in_match_tf():
    # numbers TF 2.21 printed for these calls
    np.testing.assert_allclose(tf.random.stateless_normal([4], seed=[1, 2]).numpy(),
                               [0.5441101, 0.20738031, 0.07356432, 0.04643455], rtol=1e-5)
    np.testing.assert_allclose(tf.random.stateless_truncated_normal([6], seed=[1, 2]).numpy(),
                               [0.5441101, 0.20738031, 0.07356432, 0.04643455, 0.16820592,
                                -1.6850333], rtol=1e-5)
    i = tf.random.stateless_uniform([3], seed=[-3, 7], minval=0, maxval=10, dtype=tf.int64)
    assert i.dtype == tf.int64 and i.numpy().tolist() == [9, 4, 7]
    # full-range integers (minval = maxval = None), which split and fold_in draw
    full = tf.random.stateless_uniform([2], seed=[1, 2], minval=None, maxval=None,
                                       dtype=tf.int32)
    assert full.numpy().tolist() == [1105988140, 1738052849]
    sp = tf.random.experimental.stateless_split([1, 2], 2)
    assert sp.dtype == tf.int32
    assert sp.numpy().tolist() == [[1105988140, 1738052849], [-335576002, 370444179]]
    f = tf.random.experimental.stateless_fold_in([1, 2], 5)
    assert f.numpy().tolist() == [1105988140, 5]           # [full-range draw, data]
    # empty shapes (a Generator's normal / truncated_normal of size 0 raised in reshape)
    assert tf.random.stateless_normal((0,), seed=[0, 0]).shape == (0,)
    assert tf.random.Generator.from_seed(1).truncated_normal([2, 0]).shape == (2, 0)


def test_stateless_image_ops_draw_tfs_numbers():
    u = _tf_stateless_uniform_f32((1, 2), 4)
    img = np.arange(8, dtype=np.float32).reshape(4, 1, 2, 1)
    out = tf.image.stateless_random_flip_left_right(img, seed=(1, 2)).numpy()
    for k in range(4):                    # TF: a batch image flips where round(u) == 1
        want = img[k, :, ::-1] if u[k] > 0.5 else img[k]
        np.testing.assert_array_equal(out[k], want)
    assert out.reshape(4, 2).tolist() == [[1, 0], [2, 3], [5, 4], [6, 7]]   # TF 2.21
    one = tf.image.stateless_random_flip_up_down(img[0].reshape(1, 2, 1), seed=(1, 2)).numpy()
    assert one.shape == (1, 2, 1)          # one image: flips where u < 0.5 (u[0] = 0.844)
    x = np.ones((2, 2, 3), np.float32) * 0.5
    b = tf.image.stateless_random_brightness(x, 0.2, seed=(1, 2)).numpy()
    np.testing.assert_allclose(b, 0.5 + (-0.2 + 0.4 * u[0]), rtol=1e-6)
    crop = tf.image.stateless_random_crop(np.arange(16, dtype=np.float32).reshape(4, 4, 1),
                                          (2, 2, 1), seed=(1, 2)).numpy()
    assert crop.ravel().tolist() == [6.0, 7.0, 10.0, 11.0]  # TF 2.21


# ------------------------------------------------------------------------ map_fn outputs
def test_map_fn_checks_outputs_against_its_signature():
    x = np.array([1, 2, 3], np.int32)
    # nabi ignored fn_output_signature: an int32 result came back as int32 (TF raises)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"\[map_fn\].*float32"):
        tf.map_fn(lambda v: v * 2, tf.constant(x), fn_output_signature=tf.float32)
    # without a signature fn must keep elems' dtype and structure (nabi returned float32 /
    # the tuple)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"\[map_fn\]"):
        tf.map_fn(lambda v: tf.cast(v, tf.float32), tf.constant(x))
    with pytest.raises(ValueError, match=r"\[map_fn\].*structure"):
        tf.map_fn(lambda v: (v, v), tf.constant([1.0, 2.0]), fn_output_signature=tf.float32)
    # matching signatures work; Python values take the signature's dtype
    r = tf.map_fn(lambda v: tf.cast(v, tf.float32) / 2, tf.constant(x),
                  fn_output_signature=tf.TensorSpec([], tf.float32))
    np.testing.assert_allclose(r.numpy(), x / 2)
    r = tf.map_fn(lambda v: 1, tf.constant([1.0, 2.0]))
    assert r.dtype == tf.float32 and r.numpy().tolist() == [1.0, 1.0]
    d = tf.map_fn(lambda e: {"s": e["a"] * e["b"]}, {"a": tf.constant([1.0, 2.0]),
                                                       "b": tf.constant([3.0, 4.0])},
                  fn_output_signature={"s": tf.float32})
    assert d["s"].numpy().tolist() == [3.0, 8.0]
    # vectorized_map (TF's pfor) lets fn change the dtype
    v = tf.vectorized_map(lambda t: tf.cast(t > 1, tf.int32), tf.constant([1.0, 2.0]))
    assert v.dtype == tf.int32 and v.numpy().tolist() == [0, 1]


# ------------------------------------------------------------------- Variable semantics
def test_tensorshape_none_has_unknown_rank():
    # nabi's TensorShape(None) was TensorShape([]) (rank 0, incompatible with [3])
    s = tf.TensorShape(None)
    assert s.rank is None and s.ndims is None and s.dims is None
    assert s.is_compatible_with([3]) and s.is_compatible_with([]) and not s.is_fully_defined()
    assert s.num_elements() is None and repr(s) == "TensorShape(None)"
    assert s == tf.TensorShape(None) and s != tf.TensorShape([])
    assert s.merge_with([2, None]) == [2, None]
    with pytest.raises(ValueError):
        s.as_list()
    assert tf.TensorArray(tf.float32, size=2).element_shape.rank is None


def test_variable_declared_shape_and_assign_rules():
    # shape= was ignored: a TensorShape(None) / [None, 2] variable could not take a new shape
    v = tf.Variable([1.0, 2.0], shape=tf.TensorShape(None))
    v.assign([1.0, 2.0, 3.0])
    assert v.numpy().tolist() == [1.0, 2.0, 3.0] and v.shape.rank is None
    w = tf.Variable([[1.0, 2.0]], shape=tf.TensorShape([None, 2]))
    w.assign([[1.0, 2.0], [3.0, 4.0]])
    assert w.shape.as_list() == [None, 2] and w.numpy().shape == (2, 2)
    with pytest.raises(ValueError):
        w.assign([[1.0, 2.0, 3.0]])
    with pytest.raises(ValueError):                 # nabi accepted it
        tf.Variable([1.0, 2.0], shape=[3])
    u = tf.Variable([1.0], validate_shape=False)
    u.assign(np.zeros((2, 2), np.float32))
    assert u.numpy().shape == (2, 2)
    with pytest.raises(ValueError):
        tf.Variable([1.0, 2.0]).assign([1.0, 2.0, 3.0])
    # a Python float into an int variable raises (nabi truncated [1.5, 2.5] to [1, 2]);
    # NumPy arrays are cast, as TF
    iv = tf.Variable([1, 2])
    with pytest.raises(TypeError):
        iv.assign([1.5, 2.5])
    iv.assign(np.array([3.0, 4.0]))
    assert iv.numpy().tolist() == [3, 4]
    # read_value=False returns None (nabi returned the variable)
    assert iv.assign([5, 6], read_value=False) is None
    assert iv.assign_add([1, 1], read_value=False) is None
    assert iv.assign_sub([1, 1]) is iv and iv.numpy().tolist() == [5, 6]


def test_variable_names_follow_name_scope_and_sync_enums():
    # nabi ignored tf.name_scope and Module.name_scope in variable names
    a = tf.Variable(1.0)
    with tf.name_scope("outer"):
        c = tf.Variable(1.0, name="x")
        with tf.name_scope("inner"):
            d = tf.Variable(1.0)
    assert [a.name, c.name, d.name] == ["Variable:0", "outer/x:0", "outer/inner/Variable:0"]

    class M(tf.Module):
        def __init__(self):
            super().__init__(name="my_mod")
            with self.name_scope:
                self.v = tf.Variable(1.0, name="v")
    assert M().v.name == "my_mod/v:0"
    # tf.VariableSynchronization / VariableAggregation were missing; ON_READ variables are
    # not trainable unless asked
    v = tf.Variable(1.0, synchronization=tf.VariableSynchronization.ON_READ,
                    aggregation=tf.VariableAggregation.MEAN)
    assert v.synchronization == tf.VariableSynchronization.ON_READ
    assert v.aggregation == tf.VariableAggregation.MEAN and not v.trainable
    assert tf.Variable(1.0, synchronization=tf.VariableSynchronization.ON_READ,
                       trainable=True).trainable
    assert tf.Variable(1.0).trainable


# ------------------------------------------------------------------------ GradientTape
def test_tape_argument_checks_and_watched_variable_order():
    x = tf.constant([1.0, 2.0])
    with tf.GradientTape(persistent=True) as t:
        t.watch(x)
        y = tf.reduce_sum(x * x)
    # an unknown unconnected_gradients value raises (nabi treated it as 'none')
    with pytest.raises(ValueError, match="unconnected_gradients"):
        t.gradient(y, x, unconnected_gradients="bogus")
    z = tf.constant(1.0)
    assert t.gradient(y, z, unconnected_gradients=tf.UnconnectedGradients.ZERO).numpy() == 0
    assert t.gradient(y, z, unconnected_gradients="zero").numpy() == 0
    assert t.gradient(y, z) is None
    # watched_variables: in order of creation (nabi gave the order of first use)
    a = tf.Variable(2.0, name="a")
    b = tf.Variable(3.0, name="b")
    with tf.GradientTape() as t2:
        _ = b * a
    assert [v.name for v in t2.watched_variables()] == ["a:0", "b:0"]
    # re-entering an active tape / stop_recording outside it raise (nabi went on silently,
    # and the inner exit left the outer block unrecorded)
    t3 = tf.GradientTape()
    with t3:
        with pytest.raises(ValueError, match="re-entered"):
            t3.__enter__()
    with pytest.raises(RuntimeError, match="not recording"):
        with tf.GradientTape().stop_recording():
            pass


# ------------------------------------------------------------------------- control flow
def test_while_loop_unpacks_a_namedtuple_of_loop_vars():
    import collections
    P = collections.namedtuple("P", "a b")
    # TF calls cond(*loop_vars) for a namedtuple too (nabi passed the namedtuple whole, so
    # TF's lambda a, b: ... raised TypeError) and returns the namedtuple type
    r = tf.while_loop(lambda a, b: a < 3, lambda a, b: P(a + 1, b * 2.0),
                      P(tf.constant(0), tf.constant(1.0)))
    assert isinstance(r, P) and int(r.a) == 3 and float(r.b) == 8.0
    r = tf.while_loop(lambda a, b: a < 3, lambda a, b: (a + 1, b * 2.0),
                      P(tf.constant(0), tf.constant(1.0)))
    assert isinstance(r, P) and float(r.b) == 8.0
    # a namedtuple inside a list stays one loop variable
    r = tf.while_loop(lambda p: p.a < 2, lambda p: P(p.a + 1, p.b + 1.0),
                      [P(tf.constant(0), tf.constant(1.0))])
    assert isinstance(r, list) and isinstance(r[0], P) and float(r[0].b) == 3.0
    x = tf.constant(1.5)                     # gradients through the iterations
    with tf.GradientTape() as t:
        t.watch(x)
        out = tf.while_loop(lambda i, y: i < 3, lambda i, y: (i + 1, y * x),
                            P(tf.constant(0), tf.constant(1.0)))
    assert abs(float(t.gradient(out.b, x)) - 3 * 1.5 ** 2) < 1e-6


# ---------------------------------------------------------------------------- tf.nest
def test_nest_expand_composites_uses_component_tensors():
    # nabi ignored expand_composites: a SparseTensor stayed one leaf (TF: 3 tensors)
    st = tf.SparseTensor([[0, 1]], [5.0], [2, 3])
    flat = tf.nest.flatten({"b": st, "a": 1}, expand_composites=True)
    assert flat[0] == 1 and len(flat) == 4
    assert flat[1].numpy().tolist() == [[0, 1]] and flat[2].numpy().tolist() == [5.0]
    assert flat[3].numpy().tolist() == [2, 3]
    assert len(tf.nest.flatten([st, 1])) == 2            # without it: a leaf, as TF
    rt = tf.ragged.constant([[[1], [2, 3]], [[4]]])
    parts = tf.nest.flatten(rt, expand_composites=True)  # flat_values, then the row splits
    assert [p.numpy().tolist() for p in parts] == [[1, 2, 3, 4], [0, 2, 3], [0, 1, 3, 4]]
    doubled = tf.nest.map_structure(lambda t: t * 2 if t.dtype == tf.int32 else t, rt,
                                    expand_composites=True)
    assert doubled.to_list() == [[[2], [4, 6]], [[8]]]
    packed = tf.nest.pack_sequence_as(
        [st, 1], [np.array([[1, 1]], np.int64), np.array([7.0], np.float32),
                  np.array([4, 4], np.int64), 9], expand_composites=True)
    assert packed[1] == 9 and tuple(packed[0].dense_shape.numpy()) == (4, 4)
    assert packed[0].values.numpy().tolist() == [7.0]
    s = tf.IndexedSlices(tf.constant([[1.0]]), tf.constant([0]), tf.constant([3, 1]))
    assert [p.numpy().tolist() for p in tf.nest.flatten(s, expand_composites=True)] == \
        [[[1.0]], [0], [3, 1]]
    tf.nest.assert_same_structure(st, st, expand_composites=True)
    with pytest.raises((ValueError, TypeError)):
        tf.nest.assert_same_structure(st, rt, expand_composites=True)


# ----------------------------------------------------------------------------- tf.Module
def test_module_lists_own_variables_before_submodules():
    class S(tf.Module):
        def __init__(self, n):
            super().__init__(name=n)
            self.w = tf.Variable(1.0, name=n + "w")

    class M(tf.Module):
        def __init__(self):
            super().__init__()
            self.z = S("z")
            self.a = S("a")
            self.x = tf.Variable(1.0, name="x")
    m = M()
    # TF walks the module's own attributes (sorted by name) before its submodules (nabi
    # walked depth first: [aw, x, zw])
    assert [v.name for v in m.variables] == ["x:0", "aw:0", "zw:0"]
    assert [s.name for s in m.submodules] == ["a", "z"]
    assert len(m.trainable_variables) == 3 and m.non_trainable_variables == ()
    m.shared = [m.x, {"k": m.z.w}]      # z.w is now a leaf of m itself: listed first, once
    assert [v.name for v in m.variables] == ["x:0", "zw:0", "aw:0"]      # (TF 2.21 too)


# ------------------------------------------------------------- tf.function / scan / switch
def test_function_returns_the_value_of_a_variable():
    v = tf.Variable(1.0)

    @tf.function
    def f():
        return v, {"k": v * 2.0}
    r, d = f()
    v.assign(5.0)
    # TF returns the value read (nabi returned the Variable itself, which then read 5.0)
    assert not isinstance(r, tf.Variable) and float(r) == 1.0 and float(d["k"]) == 2.0
    with tf.GradientTape() as t:
        y = f()[0] * 3.0
    assert float(t.gradient(y, v)) == 3.0               # still differentiable


def test_scan_keeps_the_accumulator_dtype_and_switch_case_keys():
    # nabi let fn change the accumulator's dtype (int32 -> float32); TF raises
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"\[scan\]"):
        tf.scan(lambda a, x: tf.cast(a, tf.float32) + 1.0, tf.constant([1, 2, 3]),
                initializer=tf.constant(0))
    with pytest.raises(ValueError, match=r"\[scan\].*structure"):
        tf.scan(lambda a, x: (a, a), tf.constant([1.0, 2.0]))
    r = tf.scan(lambda a, x: (a[0] + x, a[0]), tf.constant([1, 2, 3]),
                initializer=(tf.constant(0), tf.constant(0)))
    assert r[0].numpy().tolist() == [1, 3, 6] and r[1].numpy().tolist() == [0, 1, 3]
    assert tf.scan(lambda a, x: a + x, tf.constant([1.0, 2.0]), initializer=0.0) \
        .numpy().tolist() == [1.0, 3.0]
    # switch_case keys must be 0..n-1 (nabi ran branch 2 of {0, 2} for index 1, silently)
    fns = {0: lambda: tf.constant(1), 2: lambda: tf.constant(3)}
    with pytest.raises(ValueError, match="contiguous"):
        tf.switch_case(tf.constant(1), fns)
    fns = [lambda: tf.constant(10), lambda: tf.constant(20)]
    assert int(tf.switch_case(tf.constant(7), fns)) == 20             # out of range: last
    assert int(tf.switch_case(tf.constant(-1), fns, default=lambda: tf.constant(-5))) == -5


def test_variable_scatter_ops_sparse_read_and_stateless_dropout():
    # scatter_max / min / mul / div, sparse_read and gather_nd were missing (AttributeError)
    def sl(vals, idx):
        return tf.IndexedSlices(tf.constant(vals), tf.constant(idx))
    v = tf.Variable([1.0, 5.0, 3.0])
    v.scatter_max(sl([4.0, 4.0], [0, 1]))
    assert v.numpy().tolist() == [4.0, 5.0, 3.0]
    v.scatter_min(sl([2.0], [1]))
    assert v.numpy().tolist() == [4.0, 2.0, 3.0]
    v.scatter_mul(sl([2.0, 3.0], [0, 0]))               # repeated rows combine
    assert v.numpy().tolist() == [24.0, 2.0, 3.0]
    w = tf.Variable([[1.0, 5.0], [3.0, 2.0]])
    w.scatter_div(sl([[2.0, 4.0]], [1]))
    np.testing.assert_allclose(w.numpy(), [[1.0, 5.0], [1.5, 0.5]])
    e = tf.Variable([[1.0], [2.0], [3.0]])
    with tf.GradientTape() as t:
        y = tf.reduce_sum(e.sparse_read([2, 0]) * 3.0)
    np.testing.assert_allclose(tf.convert_to_tensor(t.gradient(y, e)).numpy().ravel(),
                               [3.0, 0.0, 3.0])
    assert e.gather_nd([[0, 0], [2, 0]]).numpy().tolist() == [1.0, 3.0]
    # tf.nn.experimental.stateless_dropout (missing): TF's rule on TF's stateless numbers
    x = np.arange(1, 9, dtype=np.float32)
    d = tf.nn.experimental.stateless_dropout(x, 0.5, seed=[1, 2]).numpy()
    keep = _tf_stateless_uniform_f32((1, 2), 8) >= 0.5
    np.testing.assert_allclose(d, np.where(keep, x * 2.0, 0.0))
    ones = tf.nn.experimental.stateless_dropout(tf.ones([8]), 0.5, seed=[1, 2]).numpy()
    assert ones.tolist() == [2.0, 0.0, 2.0, 0.0, 0.0, 2.0, 0.0, 0.0]       # TF 2.21
    col = tf.nn.experimental.stateless_dropout(tf.ones([3, 4]), 0.5, seed=[3, 4],
                                               noise_shape=[3, 1]).numpy()
    assert all(len(set(row)) == 1 for row in col.tolist())              # one draw per row


# ------------------------------------------------------------------- ForwardAccumulator
def test_forward_accumulator_jvp_and_hessian_vector_products():
    # tf.autodiff.ForwardAccumulator was missing (AttributeError)
    xa = np.array([[1.0, 2.0], [3.0, 4.0]], np.float32)
    wa = np.array([[0.5, -1.0], [2.0, 0.1]], np.float32)
    va = np.array([[1.0, 0.0], [0.5, -2.0]], np.float32)
    x = tf.constant(xa)
    with tf.autodiff.ForwardAccumulator(x, tf.constant(va)) as acc:
        y = tf.tanh(tf.matmul(x, tf.constant(wa)))
    h = xa @ wa
    np.testing.assert_allclose(acc.jvp(y).numpy(), (1 - np.tanh(h) ** 2) * (va @ wa),
                               rtol=1e-5, atol=1e-6)
    # several primals, a nest of outputs, an unconnected one, a Variable primal
    a, b = tf.constant(2.0), tf.constant(3.0)
    with tf.autodiff.ForwardAccumulator([a, b], [1.0, 10.0]) as acc:
        z = a * b + tf.sin(a)
        c = tf.constant(5.0) * 2.0
    j = acc.jvp({"z": z, "c": [c]})
    np.testing.assert_allclose(float(j["z"]), 3.0 + np.cos(2.0) + 10.0 * 2.0, rtol=1e-6)
    assert j["c"][0] is None
    assert float(acc.jvp(c, unconnected_gradients="zero")) == 0.0
    v = tf.Variable([1.0, 2.0])
    with tf.autodiff.ForwardAccumulator(v, tf.constant([1.0, 0.5])) as acc:
        s = tf.reduce_sum(v ** 3)
    np.testing.assert_allclose(float(acc.jvp(s)), 3 * 1.0 + 3 * 4.0 * 0.5, rtol=1e-6)
    # Hessian-vector product: a tape over the accumulator; H of sum(exp(x) * x0)
    xv, tv = np.array([1.0, 2.0]), np.array([1.0, -1.0])
    xt = tf.constant(xv, tf.float64)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        with tf.autodiff.ForwardAccumulator(xt, tf.constant(tv)) as acc:
            loss = tf.reduce_sum(tf.exp(xt) * xt[0])
        hv = tape.gradient(acc.jvp(loss), xt)
    e = np.exp(xv)
    H = np.diag(e * xv[0])
    H[0, :] += e
    H[:, 0] += e
    np.testing.assert_allclose(hv.numpy(), H @ tv, rtol=1e-10)
    with pytest.raises(ValueError, match="tangent"):
        tf.autodiff.ForwardAccumulator(tf.constant([1.0, 2.0]), tf.constant([3.0]))


# ------------------------------------------------------- seeded stateful random ops (TF's)
def _tf_seeded_uniform_f32(seed, seed2, n, first_call=0):
    """TF's RandomUniform kernel: Philox under key = seed from the counter (call, seed2)."""
    out, call = [], first_call
    while len(out) < n:
        ctr = [call & _M32, call >> 32, seed2 & _M32, seed2 >> 32]
        for w in _philox4x32(ctr, (seed & _M32, seed >> 32)):
            out.append(np.array([(w & 0x7FFFFF) | 0x3F800000], np.uint32).view(np.float32)[0]
                       - np.float32(1))
        call += 1
    return np.array(out[:n], np.float32)


def test_seeded_random_ops_follow_tfs_seed_rules():
    import random
    # nabi drew from a NumPy generator: set_seed(42); uniform([3]) was [0.0893, 0.7740,
    # 0.6546], TF's is [0.6646, 0.4410, 0.3529]
    tf.random.set_seed(42)
    op_seed = random.Random(42).randint(0, 2**31 - 1)     # TF's op seed for an unseeded op
    got = tf.random.uniform([3]).numpy()
    np.testing.assert_array_equal(got, _tf_seeded_uniform_f32(42, op_seed, 3))
    np.testing.assert_allclose(got, [0.6645621, 0.44100678, 0.3528825], rtol=1e-6)
    # an op seed: (global, op) seeds; the kernel goes on at each call (256 counter steps per
    # value drawn) until set_seed starts again
    tf.random.set_seed(42)
    a = tf.random.uniform([3], seed=1).numpy()
    b = tf.random.uniform([3], seed=1).numpy()
    np.testing.assert_array_equal(a, _tf_seeded_uniform_f32(42, 1, 3))
    np.testing.assert_array_equal(b, _tf_seeded_uniform_f32(42, 1, 3, first_call=3 * 256))
    tf.random.set_seed(42)
    np.testing.assert_array_equal(tf.random.uniform([3], seed=1).numpy(), a)
    # other random ops take an op seed from the same sequence (TF 2.21's numbers)
    tf.random.set_seed(8)
    _ = tf.random.shuffle(tf.range(5))
    c = tf.random.uniform([2])
    r = random.Random(8)
    r.randint(0, 2**31 - 1)
    np.testing.assert_array_equal(c.numpy(), _tf_seeded_uniform_f32(8, r.randint(0, 2**31 - 1),
                                                                    2))
    tf.random.set_seed(2)
    n = tf.random.normal([3], seed=7).numpy()
    t = tf.random.truncated_normal([5]).numpy()
    assert np.all(np.abs(t) < 2) and n.dtype == np.float32 and t.shape == (5,)
    i = tf.random.uniform([50], -5, 5, dtype=tf.int64, seed=3).numpy()
    assert i.dtype == np.int64 and i.min() >= -5 and i.max() < 5


def test_nested_input_signature_and_namedtuple_sources():
    @tf.function(input_signature=[{"a": tf.TensorSpec([None], tf.float32),
                                   "b": tf.TensorSpec([], tf.int32)}])
    def f(d):
        return d["a"] * tf.cast(d["b"], tf.float32)
    # a list for a TensorSpec([None]) inside a dict signature was split into its numbers
    # (TypeError: 3 components for 2)
    assert f({"a": [1.0, 2.0], "b": 3}).numpy().tolist() == [3.0, 6.0]
    with pytest.raises(TypeError):
        f({"a": [1.0, 2.0], "b": 3.5})
    import collections
    P = collections.namedtuple("P", "w b")
    p = P(tf.Variable(1.0), tf.Variable(2.0))
    with tf.GradientTape() as t:
        y = p.w * p.b
    g = t.gradient(y, p)       # the gradients come back as the namedtuple (nabi: a tuple)
    assert isinstance(g, P) and float(g.w) == 2.0 and float(g.b) == 1.0


def test_seeded_nn_dropout_uses_tfs_uniform_mask():
    # nabi drew a seeded tf.nn.dropout mask from NumPy; TF's is uniform(shape, seed) >= rate.
    # (On a GPU nabi keeps its device Philox kernel, which regenerates the mask in the
    # backward pass: deterministic, but its own numbers.)
    tf.random.set_seed(1)
    d = tf.nn.dropout(tf.ones([8]), 0.5, seed=2).numpy()
    if "GPU" not in tf.ones([1]).device:
        keep = _tf_seeded_uniform_f32(1, 2, 8) >= 0.5
        np.testing.assert_array_equal(d, np.where(keep, 2.0, 0.0))
        assert d.tolist() == [0.0, 2.0, 0.0, 0.0, 0.0, 0.0, 2.0, 0.0]      # TF 2.21
    x = tf.constant(np.arange(1, 7, dtype=np.float32).reshape(2, 3))
    with tf.GradientTape() as t:                      # the gradient uses the same mask
        t.watch(x)
        y = tf.nn.dropout(x, 0.25, seed=4)
    g = t.gradient(y, x).numpy()
    np.testing.assert_allclose(g, np.where(y.numpy() != 0, 1 / 0.75, 0.0), rtol=1e-6)


def test_seeded_shuffle_is_tfs_fisher_yates():
    # nabi permuted with NumPy; TF's RandomShuffle: forward Fisher-Yates on the seeded
    # Philox words (swap i with i + u % (n - i)), then the counter moves ceil((n - 1) / 4)
    def words(seed, seed2, n, first=0):
        out = []
        for call in range(first, first + n):
            out += _philox4x32([call & _M32, call >> 32, seed2 & _M32, seed2 >> 32],
                               (seed & _M32, seed >> 32))
        return out

    def perm(ws, n):
        p = list(range(n))
        for i in range(n - 1):
            j = i + ws[i] % (n - i)
            p[i], p[j] = p[j], p[i]
        return p
    tf.random.set_seed(1)
    a = tf.random.shuffle(tf.range(8), seed=2).numpy().tolist()
    b = tf.random.shuffle(tf.range(8), seed=2).numpy().tolist()
    assert a == perm(words(1, 2, 2), 8) == [7, 4, 2, 0, 3, 6, 1, 5]      # TF 2.21
    assert b == perm(words(1, 2, 2, first=2), 8)         # the kernel's counter moved on
    tf.random.set_seed(3)
    rows = tf.random.shuffle(tf.reshape(tf.range(12), (6, 2))).numpy()
    assert rows[:, 0].tolist() == [8, 6, 4, 0, 10, 2]                     # TF 2.21
    assert (rows[:, 1] - rows[:, 0]).tolist() == [1] * 6


def test_variable_sync_and_aggregation_take_keras_strings():
    v = tf.Variable(1.0, synchronization="on_read", aggregation="mean")   # Keras's spelling
    assert v.synchronization == tf.VariableSynchronization.ON_READ and not v.trainable
    assert v.aggregation == tf.VariableAggregation.MEAN
    assert tf.Variable(1.0, aggregation="only_first_replica").aggregation == \
        tf.VariableAggregation.ONLY_FIRST_REPLICA
    with pytest.raises(ValueError, match="VariableAggregation"):
        tf.Variable(1.0, aggregation="median")


def test_variable_augmented_assignment_raises():
    # nabi rebound `v += 1.0` to a new Tensor, silently leaving the variable (and every other
    # reference to it) unchanged; TF 2.21 raises
    v = tf.Variable([1.0, 2.0])
    w = v
    for op in ("+=", "-=", "*=", "/=", "**="):
        with pytest.raises(RuntimeError, match="assign_add"):
            exec(f"v {op} 2.0")
    assert v is w and v.numpy().tolist() == [1.0, 2.0]
    x = tf.constant(1.0)
    x += 1.0                                   # plain tensors rebind, as in TF
    assert float(x) == 2.0


def test_stateless_shuffle_matches_tf():
    # tf.random.experimental.stateless_shuffle was missing; TF 2.21's permutations
    sh = tf.random.experimental.stateless_shuffle
    assert sh(tf.range(6), seed=[1, 2]).numpy().tolist() == [4, 5, 0, 3, 1, 2]
    assert sh(tf.reshape(tf.range(10), (5, 2)), seed=[3, 4]).numpy().tolist() == \
        [[6, 7], [4, 5], [2, 3], [8, 9], [0, 1]]
    assert sh(tf.range(9.0), seed=[5, 6]).numpy().tolist() == \
        [5.0, 4.0, 1.0, 2.0, 8.0, 7.0, 0.0, 6.0, 3.0]
    assert sorted(sh(tf.range(50), seed=[7, 7]).numpy().tolist()) == list(range(50))


def test_tensorarray_partial_element_shape_is_checked():
    # an element_shape with None dims was dropped: a (3, 3) write into [None, 2] was taken
    ta = tf.TensorArray(tf.float32, size=2, element_shape=[None, 2])
    assert ta.element_shape.as_list() == [None, 2]
    with pytest.raises(ValueError, match="element shape"):
        ta.write(0, tf.ones([3, 3]))
    ta = ta.write(0, tf.ones([3, 2])).write(1, tf.zeros([3, 2]))
    assert ta.stack().shape == (2, 3, 2)
    assert tf.TensorArray(tf.float32, size=0, element_shape=[2]).stack().shape == (0, 2)
