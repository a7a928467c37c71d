"""TF 2.15 API gaps: convert_to_tensor/identity of a Variable (a snapshot Tensor), the uint16/
uint32/uint64 dtypes, tf.random.Generator (TF's Philox state and streams), tf.summary.trace_*,
tf.function's concrete functions and tracing count, tf.autograph helpers.

References: NumPy, the Random123 known-answer vectors of Philox-4x32-10, and the numbers
TensorFlow's API documentation prints (tf.random.Generator)."""
import inspect
import os
import warnings

import numpy as np
import pytest

import nabi as tf

from helpers import assert_array


# --------------------------------------------------------- (a) Variables become Tensors
@pytest.mark.parametrize("conv", ["convert_to_tensor", "identity", "read_value", "value"])
def test_variable_read_is_a_snapshot_tensor(conv):
    v = tf.Variable([1.0, 2.0, 3.0])
    t = {"convert_to_tensor": tf.convert_to_tensor, "identity": tf.identity,
         "read_value": lambda x: x.read_value(), "value": lambda x: x.value()}[conv](v)
    assert type(t) is tf.Tensor and not isinstance(t, tf.Variable)
    assert tf.is_tensor(t) and isinstance(t, tf.Tensor)
    assert tf.is_tensor(v)
    assert not hasattr(t, "assign")
    v.assign([7.0, 8.0, 9.0])
    assert_array(t, np.array([1.0, 2.0, 3.0], np.float32), atol=0, dtype=np.float32)


@pytest.mark.parametrize("conv", ["convert_to_tensor", "identity", "read_value"])
def test_gradient_flows_through_variable_read(conv):
    x0 = np.array([[0.5, -1.5], [2.0, 3.0]], np.float64)
    v = tf.Variable(x0)
    read = {"convert_to_tensor": tf.convert_to_tensor, "identity": tf.identity,
            "read_value": lambda x: x.read_value()}[conv]
    with tf.GradientTape() as tape:
        y = tf.reduce_sum(read(v) ** 3 + 2.0 * read(v))    # the variable read twice
    assert_array(tape.gradient(y, v), 3 * x0 ** 2 + 2.0, rtol=1e-12, dtype=np.float64)
    # an untrainable variable is not watched unless asked, as in TF
    u = tf.Variable(x0, trainable=False)
    with tf.GradientTape() as tape:
        y = tf.reduce_sum(read(u))
    assert tape.gradient(y, u) is None
    with tf.GradientTape() as tape:
        tape.watch(u)
        y = tf.reduce_sum(read(u) * 4.0)
    assert_array(tape.gradient(y, u), np.full((2, 2), 4.0), atol=0)


def test_convert_to_tensor_variable_dtype_mismatch_names_the_op():
    v = tf.Variable([1.0, 2.0])
    assert tf.convert_to_tensor(v, dtype=tf.float32).dtype == tf.float32
    with pytest.raises(TypeError, match=r"\[convert_to_tensor\].*float32.*int32"):
        tf.convert_to_tensor(v, dtype=tf.int32)


def test_variable_used_in_ops_keeps_working():
    v = tf.Variable([[1.0, 2.0]])
    opt = tf.keras.optimizers.SGD(0.5)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(tf.matmul(tf.convert_to_tensor(v), tf.transpose(v)))
    opt.apply_gradients([(tape.gradient(loss, v), v)])
    assert_array(v, np.array([[0.0, 0.0]]), atol=1e-6)     # grad 2v, step 0.5


# ------------------------------------------------------------------- (b) unsigned dtypes
@pytest.mark.parametrize("name,bits", [("uint16", 16), ("uint32", 32), ("uint64", 64)])
def test_unsigned_dtype_objects(name, bits):
    d = getattr(tf, name)
    assert d.name == name and repr(d).endswith(name)
    assert d.min == 0 and d.max == 2 ** bits - 1
    assert d.is_unsigned and d.is_integer and not d.is_floating
    assert d.size == bits // 8
    assert tf.as_dtype(name) is d and tf.as_dtype(np.dtype(name)) is d
    assert tf.as_dtype(getattr(np, name)) is d and d.as_numpy_dtype is getattr(np, name)
    assert d == name and d == np.dtype(name) and tf.dtypes.as_dtype(d) is d
    assert not tf.int32.is_unsigned and tf.uint8.is_unsigned and not tf.bool.is_unsigned
    assert not tf.float32.is_unsigned


@pytest.fixture
def on_cpu():
    """The unsigned types live on the host (the GPU, emulated or not, widens them to int64;
    see the test below), so these checks pin the CPU also in the NABI_EMULATE_CUDA pass."""
    with tf.device("/CPU:0"):
        yield


@pytest.mark.parametrize("name", ["uint16", "uint32", "uint64"])
def test_unsigned_constants_round_trip_and_arithmetic(name, on_cpu):
    d = getattr(tf, name)
    top = int(d.max)
    a_np = np.array([0, 1, 7, top - 3, top], np.dtype(name))
    b_np = np.array([3, 1, 2, 2, 1], np.dtype(name))
    a = tf.constant(a_np.tolist(), dtype=d)             # from Python ints
    b = tf.constant(b_np)                               # from NumPy: keeps the dtype
    assert a.dtype == d and b.dtype == d
    assert a.numpy().dtype == np.dtype(name)
    np.testing.assert_array_equal(a.numpy(), a_np)
    with np.errstate(over="ignore"):
        for got, want in ((a + b, a_np + b_np), (a - b, a_np - b_np), (a * b, a_np * b_np),
                          (a // b, a_np // b_np), (a % b, a_np % b_np),
                          (tf.maximum(a, b), np.maximum(a_np, b_np)),
                          (tf.minimum(a, b), np.minimum(a_np, b_np))):
            assert got.dtype == d
            np.testing.assert_array_equal(got.numpy(), want)
    for got, want in ((a < b, a_np < b_np), (a >= b, a_np >= b_np), (tf.equal(a, b), a_np == b_np),
                      (tf.not_equal(a, b), a_np != b_np)):
        assert got.dtype == tf.bool
        np.testing.assert_array_equal(got.numpy(), want)
    assert int(tf.reduce_max(a)) == top
    np.testing.assert_array_equal(tf.cast(a, tf.float64).numpy(), a_np.astype(np.float64))
    np.testing.assert_array_equal(tf.cast(tf.constant([-1, 5]), d).numpy(),
                                  np.array([-1, 5]).astype(name))     # casts wrap, as in TF
    v = tf.Variable(a)
    assert v.dtype == d
    np.testing.assert_array_equal(v.numpy(), a_np)
    np.testing.assert_array_equal(tf.zeros([2], d).numpy(), np.zeros(2, name))


@pytest.mark.parametrize("name", ["uint8", "uint16", "uint32", "uint64"])
def test_unsigned_out_of_range_python_int_raises(name):
    d = getattr(tf, name)
    with pytest.raises(TypeError, match=rf"\[convert_to_tensor\].*-1.*{name}"):
        tf.constant(-1, dtype=d)
    with pytest.raises(TypeError, match=rf"\[convert_to_tensor\].*{name}"):
        tf.constant([1, int(d.max) + 1], dtype=d)


def test_unsigned_on_the_emulated_gpu_is_widened_with_a_warning(gpu):
    from nabi.framework import device as dev
    dev._WIDENED.discard("uint32")
    with tf.device("/GPU:0"):
        with pytest.warns(UserWarning, match="uint32"):
            t = tf.constant([1, 2, 3], dtype=tf.uint32)
        with warnings.catch_warnings():
            warnings.simplefilter("error")      # once only
            tf.constant([4], dtype=tf.uint32)
    assert t.is_cuda and t.dtype == tf.int64
    np.testing.assert_array_equal(t.numpy(), [1, 2, 3])


def test_bool_and_string_have_no_range():
    for d in (tf.bool, tf.string):
        with pytest.raises(TypeError, match="DType.min"):
            d.min
        with pytest.raises(TypeError, match="DType.max"):
            d.max


# -------------------------------------------------------------------- (c) random.Generator
def _state(lo, hi, key):
    return np.array([lo, hi, key], np.uint64).view(np.int64)


@pytest.mark.parametrize("state,words", [
    # Random123's known-answer vectors for Philox-4x32-10 (counter words low first, key)
    (_state(0, 0, 0), [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]),
    (_state(2 ** 64 - 1, 2 ** 64 - 1, 2 ** 64 - 1),
     [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd]),
    (_state(0x85a308d3243f6a88, 0x0370734413198a2e, 0x299f31d0a4093822),
     [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1]),
])
def test_generator_is_philox_4x32_10(state, words, on_cpu):
    g = tf.random.Generator(state=state, alg="philox")
    out = g.uniform_full_int([4], dtype=tf.uint32)
    assert out.dtype == tf.uint32
    np.testing.assert_array_equal(out.numpy(), np.array(words, np.uint32))
    # int64 draws pair the words, low first
    g.reset(state)
    w = np.array(words, np.uint64)
    np.testing.assert_array_equal(g.uniform_full_int([2], dtype=tf.uint64).numpy(),
                                  w[0::2] | (w[1::2] << np.uint64(32)))


def test_generator_matches_tf_documented_numbers():
    # tf.random.Generator's API page (TF 2.x): from_seed(1234).normal(shape=(2, 3)), the state
    # before ([1234, 0, 0]) and after ([2770, 0, 0]); from_seed(123, alg="philox").normal
    g = tf.random.Generator.from_seed(1234)
    assert isinstance(g.state, tf.Variable) and g.state.dtype == tf.int64
    np.testing.assert_array_equal(g.state.numpy(), [1234, 0, 0])
    assert g.algorithm == 1
    assert_array(g.normal(shape=(2, 3)), [[0.9356609, 1.0854305, -0.93788373],
                                          [-0.5061547, 1.3169702, 0.7137579]],
                 rtol=2e-6, atol=0, dtype=np.float32)
    np.testing.assert_array_equal(g.state.numpy(), [2770, 0, 0])
    g = tf.random.Generator.from_seed(123, alg="philox")
    assert_array(g.normal(shape=(2, 3)), [[0.8673864, -0.29899067, -0.9310337],
                                          [-1.5828488, 1.2481191, -0.6770643]],
                 rtol=2e-6, atol=0)
    np.testing.assert_array_equal(tf.random.create_rng_state(1234, "philox").numpy(),
                                  [1234, 0, 0])


def _philox_ref(lo, hi, key, n):
    """A plain per-call Philox-4x32-10 in Python ints (independent of the NumPy version)."""
    out, mask = [], 0xFFFFFFFF
    for i in range(n):
        c = (lo | hi << 64) + i
        c = [(c >> (32 * j)) & mask for j in range(4)]
        k = [key & mask, key >> 32]
        for _ in range(10):
            p0, p1 = 0xD2511F53 * c[0], 0xCD9E8D57 * c[2]
            c = [(p1 >> 32) ^ c[1] ^ k[0], p1 & mask, (p0 >> 32) ^ c[3] ^ k[1], p0 & mask]
            k = [(k[0] + 0x9E3779B9) & mask, (k[1] + 0xBB67AE85) & mask]
        out += c
    return np.array(out, np.uint64)


def test_generator_uniform_follows_tf_rules():
    state = _state(2 ** 64 - 2, 5, 0xDEADBEEF12345)      # the counter carries into hi
    g = tf.random.Generator.from_state(state, alg="philox")
    words = _philox_ref(2 ** 64 - 2, 5, 0xDEADBEEF12345, 4)
    # float32: the low 23 bits as the mantissa of [1, 2), minus 1
    want = ((words[:7] & 0x7FFFFF) | 0x3F800000).astype(np.uint32).view(np.float32) - 1
    u = g.uniform([7], minval=-2.0, maxval=3.0)
    assert_array(u, want * 5.0 - 2.0, rtol=1e-6, atol=1e-6, dtype=np.float32)
    # the state advanced by 256 per value (7 values), across the 64-bit boundary
    c = (2 ** 64 - 2) + 7 * 256
    np.testing.assert_array_equal(g.state.numpy(), _state(c % 2 ** 64, 5 + c // 2 ** 64,
                                                          0xDEADBEEF12345))
    g.reset(state)
    i = g.uniform([5], minval=10, maxval=17, dtype=tf.int32)
    np.testing.assert_array_equal(i.numpy(), (10 + words[:5] % 7).astype(np.int32))
    g.reset(state)
    d = g.uniform([3], dtype=tf.float64)
    man = ((words[0:6:2] & 0xFFFFF) << np.uint64(32)) | words[1:6:2]
    assert_array(d, (man | np.uint64(1023 << 52)).view(np.float64) - 1.0, rtol=0, atol=0,
                 dtype=np.float64)


def test_generator_skip_reset_split_make_seeds():
    g = tf.random.Generator.from_seed(42)
    a = g.normal([5]).numpy()
    b = g.uniform([3]).numpy()
    g.reset_from_seed(42)
    g.skip(5)                                   # skip(n) == drawing n values
    np.testing.assert_array_equal(g.uniform([3]).numpy(), b)
    g.reset_from_seed(42)
    np.testing.assert_array_equal(g.normal([5]).numpy(), a)
    # the state is the Variable: reset() / assign keep the same object
    st = g.state
    g.reset([1234, 0, 0])
    assert g.state is st
    assert_array(g.normal([1]), [0.9356609], rtol=2e-6, atol=0)
    # copy_from and from_state(Variable) share / copy the state as TF
    g2 = tf.random.Generator(copy_from=g)
    np.testing.assert_array_equal(g2.normal([4]).numpy(), g.normal([4]).numpy())
    shared = tf.random.Generator.from_state(g.state, alg=g.algorithm)
    shared.normal([3])
    np.testing.assert_array_equal(shared.state.numpy(), g.state.numpy())
    # split: count new generators with states [0, 0, key]; independent streams
    g.reset_from_seed(7)
    keys = tf.random.Generator.from_seed(7).uniform_full_int([3], tf.int64).numpy()
    subs = g.split(3)
    for s, k in zip(subs, keys):
        np.testing.assert_array_equal(s.state.numpy(), [0, 0, k])
    draws = [s.normal([200]).numpy() for s in subs]
    assert abs(np.corrcoef(draws[0], draws[1])[0, 1]) < 0.3
    assert not np.allclose(draws[1], draws[2])
    # make_seeds: shape [2, count], columns [key, 0]
    g.reset_from_seed(7)
    seeds = g.make_seeds(3)
    assert seeds.shape == (2, 3) and seeds.dtype == tf.int64
    np.testing.assert_array_equal(seeds.numpy(), np.stack([keys, np.zeros(3, np.int64)]))
    # key / counter constructor
    kc = tf.random.Generator.from_key_counter(key=9, counter=[1, 2], alg="philox")
    np.testing.assert_array_equal(kc.state.numpy(), [1, 2, 9])


def test_generator_truncated_normal_binomial_and_non_deterministic():
    g = tf.random.Generator.from_seed(3)
    t = g.truncated_normal([20000], mean=1.0, stddev=2.0).numpy()
    assert t.dtype == np.float32 and np.all(np.abs(t - 1.0) < 4.0)
    assert abs(t.mean() - 1.0) < 0.05 and abs(t.std() / 2.0 - 0.8796) < 0.02
    g2 = tf.random.Generator.from_seed(3)
    np.testing.assert_array_equal(g2.truncated_normal([20000], 1.0, 2.0).numpy(), t)
    # each group of 4 starts 256 Philox calls after the previous: drawing 8 (2 groups) and
    # then 4 from a generator skipped by 8 values equals its tail
    g.reset_from_seed(5)
    eight = g.truncated_normal([8]).numpy()
    g.reset_from_seed(5)
    assert_array(g.truncated_normal([4]), eight[:4], atol=0)
    bi = g.binomial([4000], counts=10, probs=0.3)
    assert bi.dtype == tf.int32 and bi.numpy().min() >= 0 and bi.numpy().max() <= 10
    assert abs(bi.numpy().mean() - 3.0) < 0.15
    with pytest.raises(ValueError, match=r"\[random.Generator.binomial\]"):
        g.binomial([2], counts=5, probs=1.5)
    n1 = tf.random.Generator.from_non_deterministic_state()
    n2 = tf.random.Generator.from_non_deterministic_state()
    assert not np.array_equal(n1.state.numpy(), n2.state.numpy())


def test_generator_bad_arguments_raise_clearly():
    with pytest.raises(ValueError, match=r"\[random.Generator\].*shape \[3\].*\(2,\)"):
        tf.random.Generator(state=[1, 2], alg="philox")
    with pytest.raises(ValueError, match=r"\[random.Generator\] state and alg"):
        tf.random.Generator(state=[1, 2, 3])
    with pytest.raises(NotImplementedError, match="ThreeFry"):
        tf.random.Generator.from_seed(1, alg="threefry")
    with pytest.raises(ValueError, match="unknown RNG algorithm"):
        tf.random.Generator.from_seed(1, alg="mersenne")
    g = tf.random.Generator.from_seed(1)
    with pytest.raises(ValueError, match=r"\[random.Generator.uniform\].*minval and maxval"):
        g.uniform([2], maxval=None, dtype=tf.int32)
    with pytest.raises(ValueError, match=r"minval < maxval"):
        g.uniform([2], minval=5, maxval=5, dtype=tf.int64)
    with pytest.raises(TypeError, match=r"\[random.Generator.uniform_full_int\].*int16"):
        g.uniform_full_int([2], dtype=tf.int16)
    with pytest.raises(ValueError, match=r"\[random.Generator.normal\].*int32"):
        g.normal([2], dtype=tf.int32)
    with pytest.raises(ValueError, match=r"\[random.Generator.skip\]"):
        g.skip(-1)


def test_generator_on_the_emulated_gpu(gpu):
    with tf.device("/GPU:0"):
        g = tf.random.Generator.from_seed(1234)
        x = g.normal((2, 3))
    assert x.is_cuda
    assert_array(x, [[0.9356609, 1.0854305, -0.93788373], [-0.5061547, 1.3169702, 0.7137579]],
                 rtol=2e-6, atol=0)
    np.testing.assert_array_equal(g.state.numpy(), [2770, 0, 0])


# ------------------------------------------------------------------- (d) summary.trace_*
def _events(directory):
    import glob
    import struct
    from tensorboardX.proto.event_pb2 import Event
    out = []
    for path in sorted(glob.glob(os.path.join(directory, "events.out.tfevents.*"))):
        data = open(path, "rb").read()
        pos = 0
        while pos < len(data):
            (n,) = struct.unpack("<Q", data[pos:pos + 8])
            out.append(Event.FromString(data[pos + 12:pos + 12 + n]))
            pos += 12 + n + 4
    return out


def test_summary_trace_on_export_off(tmp_path):
    pytest.importorskip("tensorboardX")
    from nabi import summary
    summary._trace["warned"] = False
    writer = tf.summary.create_file_writer(str(tmp_path))

    @tf.function
    def f(x):
        return x * 2.0

    with pytest.warns(UserWarning, match=r"\[summary.trace_on\].*no graph"):
        tf.summary.trace_on(graph=True, profiler=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")           # the warning comes once
        f(tf.constant(1.0))
        with writer.as_default():
            assert tf.summary.trace_export(name="my_func_trace", step=0) is None
        tf.summary.trace_on(graph=True, profiler=True)
        tf.summary.trace_off()
    writer.close()                                # closing waits for the writer thread
    ev = _events(str(tmp_path))
    assert not any(e.HasField("graph_def") or e.HasField("meta_graph_def") for e in ev)
    vals = [v for e in ev for v in e.summary.value]
    tags = [v.tag for v in vals]
    assert any(t.startswith("my_func_trace") for t in tags), tags
    txt = b"".join(s for v in vals for s in v.tensor.string_val)
    assert b"no graph" in txt
    # as in TF: exporting with no trace running is an error; trace_off without one is fine
    with pytest.raises(ValueError, match=r"\[summary.trace_export\].*trace_on"):
        tf.summary.trace_export("again", step=1)
    tf.summary.trace_off()
    # with no default writer nothing is written and nothing fails
    tf.summary.trace_on()
    tf.summary.trace_export("nowriter", step=2)


# ------------------------------------------------------------ (e) tf.function and autograph
def test_tracing_count_follows_tf_retracing_rules():
    @tf.function
    def f(x, n=2):
        return x * n

    assert f.experimental_get_tracing_count() == 0
    f(tf.ones([2, 3]))
    f(tf.zeros([2, 3]))                              # same shape and dtype: no retrace
    assert f.experimental_get_tracing_count() == 1
    f(tf.ones([4, 3]))                               # new shape
    f(tf.ones([2, 3], tf.float64))                   # new dtype
    assert f.experimental_get_tracing_count() == 3
    f(tf.ones([2, 3]), 3)                            # a Python value is part of the signature
    f(tf.ones([2, 3]), n=3)                          # ... however it is passed
    f(tf.ones([2, 3]), 3.0)                          # a float is not an int
    assert f.experimental_get_tracing_count() == 5
    f(tf.ones([2, 3]), 2)                            # == the default: the first trace
    assert f.experimental_get_tracing_count() == 5

    @tf.function(input_signature=[tf.TensorSpec([None], tf.int32)])
    def g(x):
        return x + 1

    assert g.experimental_get_tracing_count() == 0
    assert_array(g([1, 2]), np.array([2, 3], np.int32), atol=0, dtype=np.int32)
    g(tf.constant([1, 2, 3, 4]))
    assert g.experimental_get_tracing_count() == 1
    with pytest.raises(TypeError, match=r"\[function\] g: argument 0.*\(2, 2\)"):
        g(tf.ones([2, 2], tf.int32))

    @tf.function(reduce_retracing=True)
    def h(x):
        return x

    for n in (1, 2, 3, 4):
        h(tf.ones([n]))
    assert h.experimental_get_tracing_count() == 2   # [1], then the relaxed [None]
    h(tf.ones([2, 2]))
    assert h.experimental_get_tracing_count() == 3


def test_tracing_count_of_a_method_is_per_instance():
    class M(tf.Module):
        @tf.function
        def __call__(self, x):
            return x * 2.0

    a, b = M(), M()
    a(tf.ones([1])), a(tf.ones([1])), a(tf.ones([2]))
    b(tf.ones([1]))
    assert a.__call__.experimental_get_tracing_count() == 2
    assert b.__call__.experimental_get_tracing_count() == 1


def test_get_concrete_function_from_specs():
    @tf.function
    def f(x, y, scale=2.0):
        return {"sum": tf.reduce_sum(x * scale, axis=1), "y": y}

    cf = f.get_concrete_function(tf.TensorSpec([None, 3], tf.float32),
                                 tf.TensorSpec([4], tf.int32))
    args, kwargs = cf.structured_input_signature
    assert kwargs == {} and len(args) == 2
    assert args[0] == tf.TensorSpec([None, 3], tf.float32) and args[0].name == "x"
    assert args[1] == tf.TensorSpec([4], tf.int32) and args[1].name == "y"
    assert [(tuple(s.shape), s.dtype) for s in cf.inputs] == [((None, 3), tf.float32),
                                                              ((4,), tf.int32)]
    out = cf.structured_outputs
    assert set(out) == {"sum", "y"}
    assert tuple(out["sum"].shape) == (None,) and out["sum"].dtype == tf.float32
    assert tuple(out["y"].shape) == (4,) and out["y"].dtype == tf.int32
    assert cf.output_shapes == {"sum": tf.TensorShape([None]), "y": tf.TensorShape([4])}
    assert cf.output_dtypes == {"sum": tf.float32, "y": tf.int32}
    assert len(cf.outputs) == 2
    x = np.arange(15, dtype=np.float32).reshape(5, 3)
    r = cf(tf.constant(x), tf.constant([1, 2, 3, 4]))
    assert_array(r["sum"], (x * 2.0).sum(1), dtype=np.float32)
    with pytest.raises(TypeError, match=r"\[ConcreteFunction\] f: argument 0.*\(5, 4\)"):
        cf(tf.ones([5, 4]), tf.constant([1, 2, 3, 4]))
    with pytest.raises(TypeError, match=r"\[ConcreteFunction\] f takes 2 tensor argument"):
        cf(tf.ones([5, 3]))
    assert f.experimental_get_tracing_count() == 1
    # from tensors and Python values: shapes are exact, the values fixed
    cf2 = f.get_concrete_function(tf.ones([2, 3]), tf.zeros([4], tf.int32), scale=10.0)
    assert cf2.structured_input_signature[1] == {"scale": 10.0}
    assert tuple(cf2.outputs[0].shape) == (2,)
    assert_array(cf2(tf.ones([2, 3]), tf.zeros([4], tf.int32))["sum"], [30.0, 30.0])
    assert f.experimental_get_tracing_count() == 2
    with pytest.raises(AttributeError, match="no graph"):
        cf.graph


def test_get_concrete_function_with_input_signature_and_no_side_effects():
    v = tf.Variable(0.0)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32)])
    def step(x):
        v.assign_add(tf.reduce_sum(x) + 1.0)
        return v * 1.0

    cf = step.get_concrete_function()
    assert cf.structured_input_signature == ((tf.TensorSpec([None], tf.float32),), {})
    assert tuple(cf.outputs[0].shape) == () and cf.outputs[0].dtype == tf.float32
    assert float(v.numpy()) == 0.0                   # the trial calls left v alone
    assert step.experimental_get_tracing_count() == 1
    assert float(cf(tf.constant([1.0, 2.0]))) == 4.0
    with pytest.raises(TypeError, match=r"get_concrete_function.*input_signature"):
        step.get_concrete_function(tf.TensorSpec([2], tf.int32))
    assert step.get_concrete_function(tf.TensorSpec([3], tf.float32)).inputs[0] == \
        tf.TensorSpec([None], tf.float32)

    @tf.function
    def needs_args(x):
        return x
    with pytest.raises(TypeError, match=r"\[function.get_concrete_function\] needs_args"):
        needs_args.get_concrete_function()


def test_concrete_function_output_trial_that_fails_is_explained():
    @tf.function
    def f(x):
        tf.debugging.assert_greater(x, 0.0)
        return x

    cf = f.get_concrete_function(tf.TensorSpec([2], tf.float32))
    assert_array(cf(tf.constant([1.0, 2.0])), [1.0, 2.0])
    with pytest.raises(Exception, match=r"\[ConcreteFunction\] f: its outputs come from a "
                                        r"trial call on zero inputs"):
        cf.outputs


def _plain(x):
    return x + 1  # a comment kept in the source


def test_autograph_helpers():
    src = tf.autograph.to_code(_plain)
    assert src == inspect.getsource(_plain)
    assert tf.autograph.to_code(tf.function(_plain)) == src
    f = tf.autograph.experimental.do_not_convert(_plain)
    assert f is _plain
    assert tf.autograph.experimental.do_not_convert()(_plain) is _plain
    with pytest.raises(ValueError, match=r"\[autograph.to_code\]"):
        tf.autograph.to_code(len)
    tf.config.run_functions_eagerly(True)
    try:
        assert tf.function(_plain)(1) == 2          # run eagerly: the Python value is kept
    finally:
        tf.config.run_functions_eagerly(False)
    assert isinstance(tf.function(_plain)(1), tf.Tensor)


def test_method_function_does_not_keep_its_instance_alive():
    import gc
    import weakref

    class M:
        @tf.function
        def f(self, x, k=1):
            return x * k

    m = M()
    assert_array(m.f(tf.constant(2.0), k=3), 6.0)
    m.f(tf.constant(2.0), 3)                      # the same trace, by name or by position
    assert m.f.experimental_get_tracing_count() == 1
    assert "def f(self, x, k=1)" in tf.autograph.to_code(m.f)
    r = weakref.ref(m)
    del m
    gc.collect()
    assert r() is None
