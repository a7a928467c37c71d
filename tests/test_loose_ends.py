"""Loose ends against TF 2.15 / Keras 2.15 (documented values and NumPy references):
integer true division dtypes, tf.bitwise, tf.config.functions_run_eagerly, uint64 on the GPU,
Keras add_loss (symbolic on Sequential, callables on functional models), ragged tile / map_fn /
tf.strings."""
import warnings

import numpy as np
import pytest

import nabi as tf
from helpers import assert_array


# ------------------------------------------------------------------- (1) int true division
# tf.math.truediv: "cast to float32 for int8 and int16 and float64 for int32 and int64";
# TF's _TRUEDIV_TABLE puts uint8/uint16 with float32 and uint32/uint64 with float64.
@pytest.mark.parametrize("name,want", [("int8", "float32"), ("int16", "float32"),
                                       ("uint8", "float32"), ("uint16", "float32"),
                                       ("int32", "float64"), ("int64", "float64"),
                                       ("uint32", "float64"), ("uint64", "float64")])
def test_integer_truediv_dtype(name, want):
    a_np = np.array([7, 1, 0, 100], name)
    b_np = np.array([2, 3, 5, 7], name)
    with tf.device("/CPU:0"):   # 8/16-bit and unsigned data is widened on the GPU
        a, b = tf.constant(a_np), tf.constant(b_np)
        for out in (a / b, tf.math.truediv(a, b), tf.divide(a, b), a / 2):
            assert out.dtype == getattr(tf, want)
    assert_array(a / b, a_np.astype(want) / b_np.astype(want), dtype=want, rtol=1e-7)
    assert_array(a / 2, a_np.astype(want) / 2, dtype=want, rtol=1e-7)


def test_integer_truediv_docs_example():
    # tf.math.truediv's example: [10, 20, 30] / [2, 4, 5] (int32) -> float64 [5., 5., 6.]
    x = tf.constant([10, 20, 30], dtype=tf.int32)
    y = tf.constant([2, 4, 5], dtype=tf.int32)
    assert_array(x / y, np.array([5.0, 5.0, 6.0]), dtype="float64")


def test_truediv_mixed_dtypes_raise():
    with tf.device("/CPU:0"), pytest.raises(TypeError, match=r"\[divide\].*int8.*int16"):
        tf.constant([1], tf.int8) / tf.constant([1], tf.int16)


# ------------------------------------------------------------------- (4) uint64 on the GPU
def test_uint64_beyond_int64_raises_on_the_gpu(gpu):
    big = np.array([2 ** 64 - 1, 5], np.uint64)
    with tf.device("/GPU:0"):
        with pytest.raises(ValueError, match=r"\[to_device\] a uint64 array of shape \(2,\) "
                                             r"holds values >= 2\*\*63"):
            tf.constant(big)
    with tf.device("/CPU:0"):
        t = tf.constant(big)
    assert t.dtype == tf.uint64
    np.testing.assert_array_equal(t.numpy(), big)           # the host keeps them
    with pytest.raises(ValueError, match=r"\[to_device\] a uint64 array"):
        t.cuda()


def test_uint64_within_int64_is_widened_and_kept(gpu):
    from nabi.framework import device as dev
    dev._WIDENED.discard("uint64")
    top = np.array([0, 2 ** 63 - 1], np.uint64)
    with tf.device("/GPU:0"):
        with pytest.warns(UserWarning, match="values are kept"):
            t = tf.constant(top)
    assert t.is_cuda and t.dtype == tf.int64
    np.testing.assert_array_equal(t.numpy(), top.astype(np.int64))
    assert int(t.numpy()[1]) == 2 ** 63 - 1


# ------------------------------------------------------------------- (3) run_functions_eagerly
def test_functions_run_eagerly_flag_is_reported():
    # TF: False by default; True after tf.config.run_functions_eagerly(True).
    assert tf.config.functions_run_eagerly() is False
    m = tf.keras.Sequential([tf.keras.layers.Dense(1)])
    assert m.run_eagerly is False               # Keras 2: the global flag when unset
    tf.config.run_functions_eagerly(True)
    try:
        assert tf.config.functions_run_eagerly() is True
        assert m.run_eagerly is True
        m.run_eagerly = False                   # an explicit setting wins... (Keras 2 rule 2)
        assert m.run_eagerly is False
        m.compile("sgd", "mse")                 # ...until compile resets it (run_eagerly=None)
        assert m.run_eagerly is True
    finally:
        tf.config.run_functions_eagerly(False)
    assert tf.config.functions_run_eagerly() is False
    m.compile("sgd", "mse", run_eagerly=True)
    assert m.run_eagerly is True
    m.compile("sgd", "mse")
    assert m.run_eagerly is False


# ------------------------------------------------------------------- (2) tf.bitwise
_INTS = ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"]


def _np_shift(a, b, left):
    """Reference: TF's kernels clamp the shift to [0, bits - 1]; Python ints, then wrapped."""
    bits = a.dtype.itemsize * 8
    out = []
    for x, s in zip(a.reshape(-1).tolist(), np.broadcast_to(b, a.shape).reshape(-1).tolist()):
        s = min(max(s, 0), bits - 1)
        v = (x << s) if left else (x >> s)          # Python's >> is arithmetic
        v &= (1 << bits) - 1
        if a.dtype.kind == "i" and v >= 1 << (bits - 1):
            v -= 1 << bits
        out.append(v)
    return np.array(out, a.dtype).reshape(a.shape)


@pytest.mark.parametrize("name", _INTS)
def test_bitwise_ops_all_integer_dtypes(name):
    info = np.iinfo(name)
    rng = np.random.default_rng(0)
    a = rng.integers(info.min, info.max, size=(3, 4), dtype=name, endpoint=True)
    b = rng.integers(info.min, info.max, size=(4,), dtype=name, endpoint=True)  # broadcast
    bits = info.bits
    s = np.array([0, 1, bits - 1, bits + 3] if info.min == 0 else [-2, 1, bits - 1, bits + 3],
                 name)
    with tf.device("/CPU:0"):
        x, y, sh = tf.constant(a), tf.constant(b), tf.constant(s)
        for fn, want in ((tf.bitwise.bitwise_and, a & b), (tf.bitwise.bitwise_or, a | b),
                         (tf.bitwise.bitwise_xor, a ^ b)):
            out = fn(x, y)
            assert out.dtype == getattr(tf, name) and out.shape == (3, 4)
            np.testing.assert_array_equal(out.numpy(), want)
        out = tf.bitwise.invert(x)
        assert out.dtype == getattr(tf, name)
        np.testing.assert_array_equal(out.numpy(), ~a)
        for fn, left in ((tf.bitwise.left_shift, True), (tf.bitwise.right_shift, False)):
            out = fn(x, sh)
            assert out.dtype == getattr(tf, name)
            np.testing.assert_array_equal(out.numpy(), _np_shift(a, s, left))


def test_bitwise_docs_examples():
    # tf.bitwise.left_shift / right_shift docs: lhs [-1, -5, -3, -14] by [5, 0, 7, 11]
    want_left = {"int8": [-32, -5, -128, 0], "int16": [-32, -5, -384, -28672],
                 "int32": [-32, -5, -384, -28672], "int64": [-32, -5, -384, -28672]}
    for name, want in want_left.items():
        with tf.device("/CPU:0"):
            lhs = tf.constant([-1, -5, -3, -14], dtype=getattr(tf, name))
            rhs = tf.constant([5, 0, 7, 11], dtype=getattr(tf, name))
            np.testing.assert_array_equal(tf.bitwise.left_shift(lhs, rhs).numpy(), want)
            np.testing.assert_array_equal(tf.bitwise.right_shift(lhs, rhs).numpy(),
                                          [-1, -5, -1, -1])
    lhs = np.array([-2, 64, 101, 32], dtype=np.int8)
    rhs = np.array([-1, -5, -3, -14], dtype=np.int8)
    with tf.device("/CPU:0"):
        for fn in (tf.bitwise.left_shift, tf.bitwise.right_shift):
            out = fn(lhs, rhs)
            assert out.dtype == tf.int8
            np.testing.assert_array_equal(out.numpy(), [-2, 64, 101, 32])
    # tf.bitwise.invert docs: unsigned results are dtype.max - x; a & ~a == 0, a | ~a == ~0
    for name in ("uint8", "uint16", "uint32", "uint64"):
        d = getattr(tf, name)
        with tf.device("/CPU:0"):
            t = tf.constant([0, 5, 3, 14], dtype=d)
            np.testing.assert_array_equal(tf.bitwise.invert(t).numpy(),
                                          [int(d.max) - v for v in (0, 5, 3, 14)])
            np.testing.assert_array_equal(
                tf.bitwise.bitwise_and(t, tf.bitwise.invert(t)).numpy(), [0, 0, 0, 0])
            np.testing.assert_array_equal(
                tf.bitwise.bitwise_or(t, tf.bitwise.invert(t)).numpy(), [int(d.max)] * 4)
    # tf.bitwise.bitwise_and/or/xor docs: [0, 5, 3, 14] with [5, 0, 7, 11]
    for name in _INTS:
        with tf.device("/CPU:0"):
            lhs = tf.constant([0, 5, 3, 14], dtype=getattr(tf, name))
            rhs = tf.constant([5, 0, 7, 11], dtype=getattr(tf, name))
            np.testing.assert_array_equal(tf.bitwise.bitwise_and(lhs, rhs).numpy(), [0, 0, 3, 10])
            np.testing.assert_array_equal(tf.bitwise.bitwise_or(lhs, rhs).numpy(), [5, 5, 7, 15])
            np.testing.assert_array_equal(tf.bitwise.bitwise_xor(lhs, rhs).numpy(), [5, 5, 4, 5])


def test_bitwise_python_values_and_scalars():
    out = tf.bitwise.bitwise_and(tf.constant([[1], [3], [6]]), 2)     # the int adapts
    assert out.dtype == tf.int32 and out.shape == (3, 1)
    np.testing.assert_array_equal(out.numpy(), [[0], [2], [2]])
    out = tf.bitwise.left_shift(1, [0, 3, 31])                         # int32, as in TF
    assert out.dtype == tf.int32
    np.testing.assert_array_equal(out.numpy(), [1, 8, np.int32(-2 ** 31)])
    assert tf.bitwise.invert(5).numpy() == -6


def test_bitwise_errors_name_the_op_and_dtypes():
    with pytest.raises(TypeError, match=r"\[bitwise.bitwise_and\] x must be an integer tensor "
                                        r".*got float32 of shape \(2,\)"):
        tf.bitwise.bitwise_and(tf.constant([1.0, 2.0]), tf.constant([1.0, 2.0]))
    with pytest.raises(TypeError, match=r"\[bitwise.left_shift\] y must be an integer.*float64"):
        tf.bitwise.left_shift(tf.constant([1]), tf.constant([1.0], tf.float64))
    with pytest.raises(TypeError, match=r"\[bitwise.invert\] x must be an integer.*float32"):
        tf.bitwise.invert(tf.constant([1.5]))
    with pytest.raises(TypeError, match=r"\[bitwise.invert\].*bool"):
        tf.bitwise.invert(tf.constant([True]))
    with tf.device("/CPU:0"), pytest.raises(TypeError, match=r"\[bitwise.bitwise_or\] dtypes "
                                                             r"differ: int8 \(1,\) vs int16"):
        tf.bitwise.bitwise_or(tf.constant([1], tf.int8), tf.constant([1], tf.int16))
    with pytest.raises(ValueError, match=r"\[bitwise.bitwise_xor\] shapes \(3,\) and \(2,\) "
                                         "are not broadcastable"):
        tf.bitwise.bitwise_xor(tf.constant([1, 2, 3]), tf.constant([1, 2]))


def test_bitwise_results_stay_on_the_operands_device(gpu):
    x = tf.constant([12, 10, 7])                    # the default device: the GPU
    assert x.is_cuda
    out = tf.bitwise.bitwise_and(x, tf.constant([10, 6, 1]))
    assert out.is_cuda and out.dtype == tf.int32
    np.testing.assert_array_equal(out.numpy(), [8, 2, 1])
    assert tf.bitwise.invert(x).is_cuda
    with tf.device("/CPU:0"):
        h = tf.constant([1, 2], tf.uint8)
    out = tf.bitwise.left_shift(h, 7)               # host operands: a host result, uint8 kept
    assert not out.is_cuda and out.dtype == tf.uint8
    np.testing.assert_array_equal(out.numpy(), [128, 0])
    with pytest.raises(ValueError, match=r"\[bitwise.bitwise_and\] operands are on different"):
        tf.bitwise.bitwise_and(x, tf.constant([1, 2, 3]).cpu())


def test_bitwise_on_ragged_and_keras_tensors():
    rt = tf.ragged.constant([[1, 2, 3], [4]])
    for fn, want in ((tf.bitwise.left_shift, [[4, 8, 12], [16]]),
                     (tf.bitwise.bitwise_xor, [[3, 0, 1], [6]])):
        out = fn(rt, 2)
        assert isinstance(out, tf.RaggedTensor)
        assert out.to_list() == want
    assert tf.bitwise.invert(rt).to_list() == [[-2, -3, -4], [-5]]
    inp = tf.keras.Input((3,), dtype="int32")
    model = tf.keras.Model(inp, tf.bitwise.right_shift(inp, 1))
    np.testing.assert_array_equal(model(tf.constant([[7, 8, -3]])).numpy(), [[3, 4, -2]])


# ------------------------------------------------------------------- (5) Keras add_loss
def _data(n=8, d=3, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n, d)).astype(np.float32),
            rng.standard_normal((n, 1)).astype(np.float32))


def test_sequential_with_input_takes_a_symbolic_add_loss():
    x, y = _data()
    m = tf.keras.Sequential([tf.keras.Input((3,)), tf.keras.layers.Dense(4, activation="relu"),
                             tf.keras.layers.Dense(1)])
    m.add_loss(0.5 * tf.reduce_mean(tf.square(m.layers[0].output)))
    m.add_metric(tf.reduce_mean(m.output), name="mean_out")
    assert [l.name for l in m.layers] == [m.layers[0].name, m.layers[1].name]   # the stack
    m.compile(tf.keras.optimizers.SGD(0.05), "mse")

    def numpy_loss(x, y):
        w1, b1, w2, b2 = [w.numpy().astype(np.float64) for w in m.weights]
        h = np.maximum(x @ w1 + b1, 0)
        out = h @ w2 + b2
        return np.mean((out - y) ** 2) + 0.5 * np.mean(h ** 2), out.mean()

    want, want_mean = numpy_loss(x, y)
    got = m.evaluate(x, y, batch_size=8, verbose=0, return_dict=True)
    np.testing.assert_allclose(got["loss"], want, rtol=1e-5)
    np.testing.assert_allclose(got["mean_out"], want_mean, rtol=1e-5, atol=1e-6)
    m(tf.constant(x))
    assert len(m.losses) == 1
    np.testing.assert_allclose(float(m.losses[0]), want - np.mean(
        (m.predict(x, verbose=0) - y) ** 2), rtol=1e-4)
    before = numpy_loss(x, y)[0]
    m.fit(x, y, batch_size=8, epochs=5, verbose=0)       # the penalty is in the gradients
    assert numpy_loss(x, y)[0] < before


def test_sequential_symbolic_add_loss_errors():
    m = tf.keras.Sequential([tf.keras.layers.Dense(2)])
    with pytest.raises(ValueError, match=r"\[sequential.*\.add_loss\] .*needs a functional "
                                         "model or a Sequential with an Input"):
        m.add_loss(tf.reduce_mean(tf.keras.Input((3,))))
    m = tf.keras.Sequential([tf.keras.Input((3,)), tf.keras.layers.Dense(2)])
    with pytest.raises(ValueError, match=r"\.add_loss\] Graph disconnected"):
        m.add_loss(tf.reduce_mean(tf.keras.Input((3,))))
    with pytest.raises(ValueError, match=r"\.add_metric\] please provide a name"):
        m.add_metric(tf.reduce_mean(m.output))


def test_callable_add_loss_is_evaluated_on_every_batch():
    x, y = _data(n=12)
    inp = tf.keras.Input((3,))
    layer = tf.keras.layers.Dense(1, kernel_initializer=tf.keras.initializers.Constant(0.3))
    model = tf.keras.Model(inp, layer(inp))
    model.add_loss(lambda: tf.reduce_mean(layer.kernel))
    lr = 0.1
    model.compile(tf.keras.optimizers.SGD(lr), "mse")
    assert len(model.losses) == 1
    np.testing.assert_allclose(float(model.losses[0]), 0.3, rtol=1e-6)

    # NumPy: SGD on mse + mean(W), the penalty from the weights of each batch's step
    w = np.full((3, 1), 0.3)
    b = np.zeros(1)
    batch_losses = []
    for i in range(0, 12, 4):
        xb, yb = x[i:i + 4].astype(np.float64), y[i:i + 4].astype(np.float64)
        r = xb @ w + b - yb
        batch_losses.append(np.mean(r ** 2) + w.mean())
        gw = 2 * xb.T @ r / r.size + 1.0 / w.size
        gb = 2 * r.sum(0) / r.size
        w, b = w - lr * gw, b - lr * gb
    hist = model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    np.testing.assert_allclose(hist.history["loss"][0], np.mean(batch_losses), rtol=1e-5)
    np.testing.assert_allclose(layer.kernel.numpy(), w, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(layer.bias.numpy(), b, rtol=1e-5, atol=1e-6)
    # evaluate: the penalty from the final weights
    want = np.mean((x @ w + b - y) ** 2) + w.mean()
    np.testing.assert_allclose(model.evaluate(x, y, batch_size=12, verbose=0), want, rtol=1e-5)
    np.testing.assert_allclose(float(model.losses[0]), w.mean(), rtol=1e-5)


# ------------------------------------------------------- (6) ragged tile / map_fn / strings
def _digits_words():
    # the ragged tensor guide's first cell
    return (tf.ragged.constant([[3, 1, 4, 1], [], [5, 9, 2], [6], []]),
            tf.ragged.constant([["So", "long"], ["thanks", "for", "all", "the", "fish"]]))


def test_ragged_guide_tile_substr_map_fn():
    digits, words = _digits_words()
    out = tf.tile(digits, [1, 2])
    assert isinstance(out, tf.RaggedTensor)
    assert out.to_list() == [[3, 1, 4, 1, 3, 1, 4, 1], [], [5, 9, 2, 5, 9, 2], [6, 6], []]
    assert tf.strings.substr(words, 0, 2).to_list() == [[b"So", b"lo"],
                                                        [b"th", b"fo", b"al", b"th", b"fi"]]
    out = tf.map_fn(tf.math.square, digits)
    assert isinstance(out, tf.RaggedTensor) and out.dtype == tf.int32
    assert out.to_list() == [[9, 1, 16, 1], [], [25, 81, 4], [36], []]


def test_ragged_tile_docs_and_several_ragged_dimensions():
    # ragged_array_ops.tile's docstring and TF's ragged_tile_op_test cases
    rt = tf.ragged.constant([[1, 2], [3]])
    assert tf.tile(rt, [3, 2]).to_list() == [[1, 2, 1, 2], [3, 3], [1, 2, 1, 2], [3, 3],
                                             [1, 2, 1, 2], [3, 3]]
    r3 = tf.ragged.constant([[[1, 2], [3]], [], [[4]]])
    assert tf.tile(r3, [1, 2, 2]).to_list() == [[[1, 2, 1, 2], [3, 3], [1, 2, 1, 2], [3, 3]],
                                                [], [[4, 4], [4, 4]]]
    assert tf.tile(r3, tf.constant([2, 1, 2], tf.int64)).to_list() == \
        [[[1, 2, 1, 2], [3, 3]], [], [[4, 4]], [[1, 2, 1, 2], [3, 3]], [], [[4, 4]]]
    s3 = tf.ragged.constant([[["a", "b"], ["c"]], [], [["d"]]])
    assert tf.tile(s3, [4, 3, 2]).to_list() == \
        [[[b"a", b"b"] * 2, [b"c"] * 2] * 3, [] * 3, [[b"d"] * 2] * 3] * 4
    # a uniform inner dimension (ragged_rank 1): NumPy's tile of each row
    rows = [np.array([[1, 2], [3, 4]]), np.array([[5, 6]])]
    rt = tf.ragged.constant([r.tolist() for r in rows], ragged_rank=1)
    want = [np.tile(r, [1, 3]).tolist() for r in rows] * 2
    assert tf.tile(rt, [2, 1, 3]).to_list() == want
    assert tf.tile(rt, [0, 1, 1]).to_list() == []
    with pytest.raises(ValueError, match=r"\[tile\] multiples has 1 entries but the "
                                         r"RaggedTensor has rank 2"):
        tf.tile(tf.ragged.constant([[1], [2, 3]]), [2])


def test_map_fn_over_ragged_docs():
    # tf.map_fn's docs: RaggedTensor input, RaggedTensor output
    rt = tf.ragged.constant([[1, 2, 3], [], [4, 5], [6]])
    for sig in (tf.int32, tf.TensorSpec([], tf.int32)):
        out = tf.map_fn(tf.reduce_sum, rt, fn_output_signature=sig)
        assert isinstance(out, tf.Tensor) and out.dtype == tf.int32
        np.testing.assert_array_equal(out.numpy(), [6, 0, 9, 6])
    out = tf.map_fn(tf.range, tf.constant([3, 5, 0, 2]),
                    fn_output_signature=tf.RaggedTensorSpec(shape=[None], dtype=tf.int32))
    assert isinstance(out, tf.RaggedTensor)
    assert out.to_list() == [[0, 1, 2], [0, 1, 2, 3, 4], [], [0, 1]]
    # rows of a tensor with two ragged dimensions are RaggedTensors (one fewer)
    r3 = tf.ragged.constant([[[1, 2], [3]], [[4]], []])
    seen = []
    out = tf.map_fn(lambda r: (seen.append(type(r)), r * 10)[1], r3)
    assert seen == [tf.RaggedTensor] * 3
    assert out.to_list() == [[[10, 20], [30]], [[40]], []]
    out = tf.map_fn(lambda r: r.row_lengths(), r3,
                    fn_output_signature=tf.RaggedTensorSpec([None], tf.int64))
    assert out.to_list() == [[2, 1], [1], []]
    # a nest: (ragged, dense) in, dense out
    out = tf.map_fn(lambda e: tf.reduce_sum(e[0]) * e[1], (rt, tf.constant([1, 2, 3, 4])),
                    fn_output_signature=tf.int32)
    np.testing.assert_array_equal(out.numpy(), [6, 0, 27, 24])


def test_map_fn_ragged_errors():
    rt = tf.ragged.constant([[1, 2, 3], [], [4, 5]])
    with pytest.raises(ValueError, match=r"\[map_fn\] fn returned tensors of different shapes"):
        tf.map_fn(lambda x: x * 2, rt, fn_output_signature=tf.int32)
    with pytest.raises(TypeError, match=r"\[map_fn\] fn returned dtype int32 but "
                                        "fn_output_signature says float32"):
        tf.map_fn(tf.reduce_sum, rt, fn_output_signature=tf.float32)
    with pytest.raises(ValueError, match=r"\[map_fn\] all elems must have the same first"):
        tf.map_fn(lambda e: e[1], (rt, tf.constant([1, 2])), fn_output_signature=tf.int32)


def test_strings_ops_on_ragged():
    _, words = _digits_words()
    py = [["So", "long"], ["thanks", "for", "all", "the", "fish"]]

    def rows(f):
        return [[f(w) for w in r] for r in py]
    assert tf.strings.length(words).to_list() == rows(len)
    assert tf.strings.length(words).dtype == tf.int32
    assert tf.strings.upper(words).to_list() == rows(lambda w: w.upper().encode())
    assert tf.strings.lower(words).to_list() == rows(lambda w: w.lower().encode())
    assert tf.strings.substr(words, 1, 3).to_list() == rows(lambda w: w[1:4].encode())
    assert tf.strings.substr(words, -2, 2).to_list() == rows(lambda w: w[-2:].encode())
    # one (pos, len) per string: ragged arguments with the input's row partition
    pos = tf.ragged.constant([[0, 1], [2, 0, 0, 1, 3]])
    assert tf.strings.substr(words, pos, 2).to_list() == \
        [[w[p:p + 2].encode() for w, p in zip(r, pr)] for r, pr in zip(py, pos.to_list())]
    assert tf.strings.join([words, words], separator="-").to_list() == \
        rows(lambda w: (w + "-" + w).encode())
    with pytest.raises(ValueError, match=r"\[strings.substr\] the RaggedTensor arguments have "
                                         "different row lengths"):
        tf.strings.substr(words, tf.ragged.constant([[0], [1]]), 1)
    nums = tf.ragged.constant([["1.5", "-2"], [], ["3e2"]])
    out = tf.strings.to_number(nums)
    assert isinstance(out, tf.RaggedTensor) and out.dtype == tf.float32
    assert out.to_list() == [[1.5, -2.0], [], [300.0]]
    assert tf.strings.to_number(tf.ragged.constant([["7"], ["-1", "2"]]),
                                out_type=tf.int64).to_list() == [[7], [-1, 2]]
    with pytest.raises(ValueError, match=r"\[strings.to_number\].*'x'"):
        tf.strings.to_number(tf.ragged.constant([["1", "x"]]))


def test_strings_reduce_join_on_ragged():
    _, words = _digits_words()
    py = [["So", "long"], ["thanks", "for", "all", "the", "fish"]]
    out = tf.strings.reduce_join(words, axis=-1, separator=" ")
    assert isinstance(out, tf.Tensor) and out.dtype == tf.string
    assert out.numpy().tolist() == [b"So long", b"thanks for all the fish"]
    out = tf.strings.reduce_join(words, axis=0, separator="|")     # column-wise
    assert out.numpy().tolist() == [b"So|thanks", b"long|for", b"all", b"the", b"fish"]
    assert tf.strings.reduce_join(words).numpy() == "".join(sum(py, [])).encode()
    out = tf.strings.reduce_join(tf.ragged.constant([["a", "b"], []]), axis=1, keepdims=True)
    assert out.shape == (2, 1) and out.numpy().tolist() == [[b"ab"], [b""]]
    r3 = tf.ragged.constant([[["a", "b"], ["c"]], [["d", "e", "f"]], []])
    out = tf.strings.reduce_join(r3, axis=2, separator=",")
    assert isinstance(out, tf.RaggedTensor)
    assert out.to_list() == [[b"a,b", b"c"], [b"d,e,f"], []]
    with pytest.raises(TypeError, match=r"\[strings.reduce_join\] inputs must be a string "
                                        "RaggedTensor, got dtype int32"):
        tf.strings.reduce_join(tf.ragged.constant([[1]]), axis=1)


def test_strings_split_on_ragged_adds_a_ragged_dimension():
    # tf.strings.split: a RaggedTensor of rank N gives a RaggedTensor of rank N + 1
    py = [["a b", "c"], ["d e f"], []]
    rt = tf.ragged.constant(py)
    out = tf.strings.split(rt)
    assert isinstance(out, tf.RaggedTensor) and out.ragged_rank == 2 and out.ndim == 3
    assert out.to_list() == [[[t.encode() for t in s.split()] for s in r] for r in py]
    out = tf.strings.split(tf.ragged.constant([["a,,b"], ["c", ""]]), sep=",")
    assert out.to_list() == [[[b"a", b"", b"b"]], [[b"c"], [b""]]]
    out = tf.strings.bytes_split(tf.ragged.constant([["ab"], ["c", ""]]))
    assert out.to_list() == [[[b"a", b"b"]], [[b"c"], []]]
    p3 = [[["x y"], ["z"]], [["u v w"]]]
    out = tf.strings.split(tf.ragged.constant(p3))
    assert out.ragged_rank == 3
    assert out.to_list() == [[[[t.encode() for t in s.split()] for s in r] for r in p]
                             for p in p3]
