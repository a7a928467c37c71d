"""nabi.data (tf.data's host-side subset): every transformation against plain Python/NumPy
expectations written here (element order, batch shapes, cardinality as TF defines it, errors),
and Keras fit/evaluate/predict on a Dataset against the same calls on arrays, on the CPU and on
the GPU backends (the emulator of the CUDA kernels; a real GPU when there is one)."""
import collections
import warnings

import numpy as np
import pytest

import nabi as tf
from nabi import keras
from nabi.keras import layers

Dataset = tf.data.Dataset
INF, UNKNOWN = tf.data.INFINITE_CARDINALITY, tf.data.UNKNOWN_CARDINALITY


def np_list(ds):
    """The elements as NumPy (tuples/dicts kept), read through the public iterator."""
    def conv(v):
        if isinstance(v, dict):
            return {k: conv(x) for k, x in v.items()}
        if isinstance(v, tuple):
            return type(v)(*map(conv, v)) if hasattr(v, "_fields") else tuple(map(conv, v))
        assert isinstance(v, tf.Tensor), type(v)
        return v.numpy()
    return [conv(e) for e in ds]


def ints(ds):
    return [int(e) for e in ds]


def card(ds):
    c = ds.cardinality()
    assert isinstance(c, tf.Tensor) and c.dtype == tf.int64
    return int(c.numpy())


# ---------------------------------------------------------------------- sources
def test_from_tensor_slices_array_keeps_order_shape_and_dtype():
    x = np.arange(24, dtype=np.float64).reshape(6, 2, 2)
    ds = Dataset.from_tensor_slices(x)
    out = np_list(ds)
    assert len(out) == 6 and card(ds) == 6 and len(ds) == 6
    for i, e in enumerate(out):
        assert e.shape == (2, 2) and e.dtype == np.float64
        np.testing.assert_array_equal(e, x[i])
    assert ds.element_spec == tf.TensorSpec((2, 2), tf.float64)
    # Python lists take TF's dtypes: floats -> float32, ints -> int32
    assert [e.dtype for e in Dataset.from_tensor_slices([1.5, 2.5])] == [tf.float32] * 2
    assert [e.dtype for e in Dataset.from_tensor_slices([1, 2])] == [tf.int32] * 2
    # 1-D input gives 0-d elements
    assert [e.shape for e in Dataset.from_tensor_slices(np.arange(3))] == [()] * 3


def test_from_tensor_slices_structures():
    x = np.arange(10, dtype=np.float32).reshape(5, 2)
    y = np.arange(5, dtype=np.int64)
    tup = np_list(Dataset.from_tensor_slices((x, y)))
    assert all(type(e) is tuple and len(e) == 2 for e in tup)
    for i, (a, b) in enumerate(tup):
        np.testing.assert_array_equal(a, x[i])
        assert b == y[i] and b.dtype == np.int64
    d = np_list(Dataset.from_tensor_slices({"img": x, "label": y}))
    assert [sorted(e) for e in d] == [["img", "label"]] * 5
    np.testing.assert_array_equal(d[3]["img"], x[3])
    assert d[3]["label"] == 3
    nested = np_list(Dataset.from_tensor_slices(((x, y), {"w": y * 2})))
    (a, b), w = nested[4]
    np.testing.assert_array_equal(a, x[4])
    assert (b, w["w"]) == (4, 8)
    Pair = collections.namedtuple("Pair", "a b")
    nt = np_list(Dataset.from_tensor_slices(Pair(x, y)))
    assert type(nt[0]) is Pair and nt[2].b == 2
    # a list is one tensor, as in tf.data: [x, x] stacks into shape (2, 5, 2)
    stacked = np_list(Dataset.from_tensor_slices([x, x]))
    assert len(stacked) == 2 and stacked[0].shape == (5, 2)


def test_from_tensor_slices_errors_and_snapshot():
    with pytest.raises(ValueError, match=r"same size.*\(5, 2\).*\(4,\)"):
        Dataset.from_tensor_slices((np.zeros((5, 2)), np.zeros(4)))
    with pytest.raises(ValueError, match="at least one dimension"):
        Dataset.from_tensor_slices(np.float32(3))
    with pytest.raises(ValueError, match="tuple for several components"):
        Dataset.from_tensor_slices([np.zeros((3, 2)), np.zeros(3)])
    # the dataset holds a copy: changing the source later changes nothing (as in TF)
    x = np.arange(4.0)
    ds = Dataset.from_tensor_slices(x)
    x[:] = -1
    assert [float(e) for e in ds] == [0.0, 1.0, 2.0, 3.0]
    # and the rows it hands out cannot change it
    row = next(iter(ds)).numpy()
    if row.base is not None or not row.flags.writeable:
        with pytest.raises(ValueError):
            row[...] = 7
    assert [float(e) for e in ds] == [0.0, 1.0, 2.0, 3.0]


def test_from_tensors_range_and_constants():
    ds = Dataset.from_tensors(([1, 2, 3], 4.0))
    (a, b), = np_list(ds)
    np.testing.assert_array_equal(a, [1, 2, 3])
    assert b == 4.0 and card(ds) == 1
    assert ints(Dataset.range(5)) == list(range(5))
    assert ints(Dataset.range(2, 5)) == [2, 3, 4]
    assert ints(Dataset.range(1, 10, 3)) == [1, 4, 7]
    assert ints(Dataset.range(5, 1, -2)) == [5, 3]
    assert card(Dataset.range(1, 10, 3)) == 3 and card(Dataset.range(5, 0)) == 0
    assert next(iter(Dataset.range(3))).dtype == tf.int64
    assert next(iter(Dataset.range(3, output_type=tf.int32))).dtype == tf.int32
    assert tf.data.AUTOTUNE == tf.data.experimental.AUTOTUNE == -1
    assert (INF, UNKNOWN) == (-1, -2)
    assert tf.data.experimental.INFINITE_CARDINALITY == -1
    assert int(tf.data.experimental.cardinality(Dataset.range(7)).numpy()) == 7


def test_from_generator():
    def gen():
        for i in range(4):
            yield i, [float(i)] * 2

    ds = Dataset.from_generator(gen, output_signature=(
        tf.TensorSpec(shape=(), dtype=tf.int32), tf.TensorSpec(shape=(2,), dtype=tf.float32)))
    out = np_list(ds)
    assert [int(a) for a, _ in out] == [0, 1, 2, 3]
    assert out[2][1].dtype == np.float32 and out[2][1].tolist() == [2.0, 2.0]
    assert np_list(ds)[3][0] == 3  # the callable is called again on each pass
    assert card(ds) == UNKNOWN
    assert ds.element_spec[1] == tf.TensorSpec((2,), tf.float32)
    old = Dataset.from_generator(gen, output_types=(tf.int64, tf.float32),
                                 output_shapes=((), (2,)))
    assert [a.dtype for a, _ in old] == [tf.int64] * 4
    assert ints(Dataset.from_generator(lambda: iter(range(3)), output_types=tf.int64)) == \
        [0, 1, 2]
    with pytest.raises(TypeError, match="shape"):
        list(Dataset.from_generator(gen, output_signature=(
            tf.TensorSpec((), tf.int32), tf.TensorSpec((3,), tf.float32))))
    with pytest.raises(TypeError, match="callable"):
        Dataset.from_generator(gen(), output_types=tf.int32)
    with pytest.raises(TypeError, match="output_signature"):
        Dataset.from_generator(gen)
    # args are passed to the generator
    ds = Dataset.from_generator(lambda n: iter(range(int(n))), output_types=tf.int64, args=(3,))
    assert ints(ds) == [0, 1, 2]


def test_zip_enumerate_concatenate():
    a, b = Dataset.range(5), Dataset.range(10, 13)
    assert [(int(x), int(y)) for x, y in Dataset.zip((a, b))] == [(0, 10), (1, 11), (2, 12)]
    assert [(int(x), int(y)) for x, y in Dataset.zip(a, b)] == [(0, 10), (1, 11), (2, 12)]
    d = np_list(Dataset.zip({"p": a, "q": b}))
    assert [(e["p"], e["q"]) for e in d] == [(0, 10), (1, 11), (2, 12)]
    assert card(Dataset.zip((a, b))) == 3
    assert card(Dataset.zip((a, b.repeat()))) == 5
    assert card(Dataset.zip((a.repeat(), b.repeat()))) == INF
    assert card(Dataset.zip((a, b.filter(lambda v: True)))) == UNKNOWN
    en = np_list(Dataset.from_tensor_slices(np.array([7, 8, 9])).enumerate(start=5))
    assert [(int(i), int(v)) for i, v in en] == [(5, 7), (6, 8), (7, 9)]
    assert en[0][0].dtype == np.int64
    c = a.concatenate(b)
    assert ints(c) == [0, 1, 2, 3, 4, 10, 11, 12] and card(c) == 8
    assert card(a.concatenate(b.repeat())) == INF
    assert card(a.filter(lambda v: True).concatenate(b)) == UNKNOWN
    with pytest.raises(TypeError, match="do not match"):
        a.concatenate(Dataset.from_tensor_slices(np.zeros(3, np.float32)))


# ---------------------------------------------------------------------- batch / unbatch
@pytest.mark.parametrize("n,b", [(10, 3), (9, 3), (1, 4), (7, 1), (13, 5)])
@pytest.mark.parametrize("drop", [False, True])
def test_batch_shapes_values_and_cardinality(n, b, drop):
    x = np.arange(n * 2, dtype=np.float32).reshape(n, 2)
    y = np.arange(n)
    ds = Dataset.from_tensor_slices((x, y)).batch(b, drop_remainder=drop)
    starts = list(range(0, n - b + 1 if drop else n, b))
    out = np_list(ds)
    assert len(out) == len(starts) == card(ds)
    for (xb, yb), s in zip(out, starts):
        np.testing.assert_array_equal(xb, x[s:s + b])
        np.testing.assert_array_equal(yb, y[s:s + b])
    # the same through the element-by-element path (a map in front) stacks the same batches
    slow = np_list(Dataset.from_tensor_slices((x, y)).map(lambda p, q: (p, q))
                   .batch(b, drop_remainder=drop))
    assert len(slow) == len(out)
    for (p, q), (xb, yb) in zip(slow, out):
        np.testing.assert_array_equal(p, xb)
        np.testing.assert_array_equal(q, yb)
    assert ds.element_spec[0] == tf.TensorSpec((b if drop else None, 2), tf.float32)


def test_batch_fast_path_slices_the_source():
    x = np.arange(20, dtype=np.float32).reshape(10, 2)
    ds = Dataset.from_tensor_slices(x)
    src = ds._src.flat[0]
    batches = list(ds.batch(4)._np_iter())
    assert all(np.shares_memory(bt, src) for bt in batches)  # slices, not stacked copies
    batches = list(ds.skip(1).take(7).repeat(2).batch(4)._np_iter())
    np.testing.assert_array_equal(np.concatenate(batches), np.concatenate([x[1:8]] * 2))
    assert [len(bt) for bt in batches] == [4, 4, 4, 2]


def test_batch_errors_dict_and_nested_batch():
    with pytest.raises(ValueError, match="batch_size must be greater than zero"):
        Dataset.range(3).batch(0)
    ragged = Dataset.from_generator(lambda: (np.zeros(i) for i in (2, 2, 3)),
                                    output_types=tf.float64)
    with pytest.raises(ValueError, match=r"different shapes in component 0.*\(2,\).*\(3,\)"):
        list(ragged.batch(3))
    d = np_list(Dataset.from_tensor_slices({"a": np.arange(5), "b": np.ones((5, 3))}).batch(2))
    assert [e["a"].tolist() for e in d] == [[0, 1], [2, 3], [4]]
    assert d[0]["b"].shape == (2, 3)
    bb = np_list(Dataset.range(12).batch(3).batch(2))
    assert [e.shape for e in bb] == [(2, 3), (2, 3)]
    np.testing.assert_array_equal(bb[1], [[6, 7, 8], [9, 10, 11]])


def test_unbatch_and_padded_batch():
    x = np.arange(14).reshape(7, 2)
    ds = Dataset.from_tensor_slices(x).batch(3)
    assert np.array_equal(np.stack(np_list(ds.unbatch())), x)
    assert card(ds.unbatch()) == UNKNOWN  # batch dimension not static without drop_remainder
    assert card(Dataset.from_tensor_slices(x).batch(3, drop_remainder=True).unbatch()) == 6
    pairs = np_list(Dataset.zip((ds, ds)).unbatch())
    assert len(pairs) == 7 and pairs[6][1].tolist() == [12, 13]
    with pytest.raises(ValueError, match="first"):
        list(Dataset.range(3).unbatch())
    gen = Dataset.from_generator(lambda: (np.arange(1, n + 1) for n in (1, 3, 2)),
                                 output_types=tf.int64)
    pb = np_list(gen.padded_batch(2))
    np.testing.assert_array_equal(pb[0], [[1, 0, 0], [1, 2, 3]])
    np.testing.assert_array_equal(pb[1], [[1, 2]])
    pb = np_list(gen.padded_batch(3, padded_shapes=(4,), padding_values=np.int64(-1)))
    np.testing.assert_array_equal(pb[0], [[1, -1, -1, -1], [1, 2, 3, -1], [1, 2, -1, -1]])
    with pytest.raises(ValueError, match="larger than the padded shape"):
        list(gen.padded_batch(3, padded_shapes=(2,)))


# ---------------------------------------------------------------------- shuffle
@pytest.mark.parametrize("source", ["slices", "range"])
def test_shuffle_is_a_permutation_that_changes_each_pass(source):
    n = 50
    ds = Dataset.from_tensor_slices(np.arange(n)) if source == "slices" else Dataset.range(n)
    sh = ds.shuffle(n)
    a, b = ints(sh), ints(sh)
    assert sorted(a) == sorted(b) == list(range(n))
    assert a != b and a != list(range(n))
    fixed = ds.shuffle(n, seed=3, reshuffle_each_iteration=False)
    assert ints(fixed) == ints(fixed) != list(range(n))
    # repeat() re-runs the shuffle: each repetition is its own permutation
    r = ints(ds.shuffle(n).repeat(3))
    parts = [r[i * n:(i + 1) * n] for i in range(3)]
    assert all(sorted(p) == list(range(n)) for p in parts) and parts[0] != parts[1]


@pytest.mark.parametrize("source", ["slices", "range"])
@pytest.mark.parametrize("k", [1, 2, 7, 40])
def test_shuffle_buffer_bounds_every_position(source, k):
    """With a buffer of k, the element handed out i-th is one of the first i + k read."""
    n = 40
    ds = Dataset.from_tensor_slices(np.arange(n)) if source == "slices" else Dataset.range(n)
    for _ in range(5):
        out = ints(ds.shuffle(k))
        assert sorted(out) == list(range(n))
        assert all(v < i + k for i, v in enumerate(out))
    if k == 1:
        assert ints(ds.shuffle(1)) == list(range(n))


def test_shuffle_seeds_follow_nabi_random():
    x = np.arange(30)
    tf.random.set_seed(5)
    a = ints(Dataset.from_tensor_slices(x).shuffle(8).repeat(2))
    tf.random.set_seed(5)
    b = ints(Dataset.from_tensor_slices(x).shuffle(8).repeat(2))
    assert a == b
    # an op seed alone fixes the order sequence, whatever random ops ran before
    tf.random.set_seed(1)
    c = Dataset.from_tensor_slices(x).shuffle(8, seed=9)
    tf.random.uniform((3,))
    d = Dataset.from_tensor_slices(x).shuffle(8, seed=9)
    assert ints(c) == ints(d) and ints(c) == ints(d)
    # the row-index fast path and the element path use the same buffer draws
    tf.random.set_seed(None)
    fast = Dataset.from_tensor_slices(x).shuffle(8, seed=4)
    slow = Dataset.range(30).shuffle(8, seed=4)
    assert ints(fast) == ints(slow)


def test_shuffle_then_batch_gathers_rows():
    x = np.arange(40, dtype=np.float32).reshape(20, 2)
    y = np.arange(20)
    ds = Dataset.from_tensor_slices((x, y)).shuffle(20).batch(6)
    for _ in range(2):
        out = np_list(ds)
        assert [len(b) for _, b in out] == [6, 6, 6, 2]
        ys = np.concatenate([b for _, b in out])
        assert sorted(ys.tolist()) == list(range(20))
        np.testing.assert_array_equal(np.concatenate([a for a, _ in out]), x[ys])
    with pytest.raises(ValueError, match="buffer_size must be greater than zero"):
        Dataset.range(3).shuffle(0)


# ---------------------------------------------------------------------- map / filter / reduce
def test_map_argument_passing_and_outputs():
    x = np.arange(6, dtype=np.float32).reshape(3, 2)
    y = np.array([1, 2, 3])
    seen = []

    def f(a, b):
        seen.append((type(a), a.shape, b.shape))
        return a * 2.0, b + 1
    out = np_list(Dataset.from_tensor_slices((x, y)).map(f, num_parallel_calls=tf.data.AUTOTUNE))
    assert seen[0] == (tf.Tensor, (2,), ())
    np.testing.assert_array_equal(np.stack([a for a, _ in out]), x * 2)
    assert [int(b) for _, b in out] == [2, 3, 4]
    d = np_list(Dataset.from_tensor_slices({"a": x, "b": y}).map(
        lambda e: {"s": tf.reduce_sum(e["a"]) + tf.cast(e["b"], tf.float32)}))
    assert [float(e["s"]) for e in d] == [2.0, 7.0, 12.0]
    # a list result becomes a tuple; Python numbers take TF's dtypes
    lst = np_list(Dataset.range(2).map(lambda v: [v, 1.5]))
    assert type(lst[0]) is tuple and lst[1][1] == 1.5 and lst[1][1].dtype == np.float32
    sq = Dataset.range(4).map(lambda v: tf.cast(v, tf.float32) ** 2)
    assert [float(v) for v in sq] == [0.0, 1.0, 4.0, 9.0]
    assert sq.element_spec == tf.TensorSpec((), tf.float32) and card(sq) == 4
    with pytest.raises(TypeError, match="returned None"):
        list(Dataset.range(2).map(lambda v: None))


def test_filter_and_reduce():
    ev = Dataset.range(10).filter(lambda v: v % 2 == 0)
    assert ints(ev) == [0, 2, 4, 6, 8] and card(ev) == UNKNOWN
    with pytest.raises(TypeError, match="unknown"):
        len(ev)
    pairs = Dataset.from_tensor_slices((np.arange(6), np.arange(6) * 10))
    assert [int(a) for a, _ in pairs.filter(lambda a, b: b > 25)] == [3, 4, 5]
    with pytest.raises(ValueError, match="scalar boolean"):
        list(Dataset.range(3).filter(lambda v: v))
    total = Dataset.range(5).reduce(np.int64(0), lambda s, v: s + v)
    assert isinstance(total, tf.Tensor) and int(total) == 10
    count = Dataset.range(7).reduce(np.int64(0), lambda s, _: s + 1)
    assert int(count) == 7
    st = Dataset.from_tensor_slices(np.arange(4.0, dtype=np.float32)).reduce(
        (np.float32(0), np.float32(1)), lambda s, v: (s[0] + v, s[1] * (v + 1)))
    assert (float(st[0]), float(st[1])) == (6.0, 24.0)
    with pytest.raises(TypeError, match="dtypes"):
        Dataset.range(3).reduce(np.int64(0), lambda s, v: tf.cast(s + v, tf.float32))


# ---------------------------------------------------------------------- repeat / take / skip
def test_repeat_take_skip_elements_and_cardinality():
    r = Dataset.range(4)
    assert ints(r.repeat(3)) == list(range(4)) * 3 and card(r.repeat(3)) == 12
    assert card(r.repeat()) == INF and card(r.repeat(-1)) == INF
    assert ints(r.repeat().take(10)) == [0, 1, 2, 3, 0, 1, 2, 3, 0, 1]
    assert ints(r.repeat(0)) == [] and card(r.repeat(0)) == 0
    assert ints(Dataset.range(0).repeat()) == [] and card(Dataset.range(0).repeat()) == 0
    assert ints(r.take(2)) == [0, 1] and card(r.take(2)) == 2
    assert ints(r.take(9)) == [0, 1, 2, 3] and card(r.take(9)) == 4
    assert ints(r.take(-1)) == [0, 1, 2, 3] and card(r.take(-1)) == 4
    assert card(r.repeat().take(7)) == 7 and card(r.repeat().take(-1)) == INF
    assert ints(r.skip(3)) == [3] and card(r.skip(3)) == 1
    assert ints(r.skip(9)) == [] and card(r.skip(9)) == 0
    assert ints(r.skip(-1)) == [] and card(r.skip(-1)) == 0
    assert card(r.repeat().skip(2)) == INF
    f = r.filter(lambda v: True)
    assert card(f.take(2)) == UNKNOWN and card(f.skip(2)) == UNKNOWN
    assert card(f.repeat(2)) == UNKNOWN and card(f.repeat()) == INF
    assert card(r.batch(3)) == 2 and card(r.batch(3, drop_remainder=True)) == 1
    assert card(r.repeat().batch(3)) == INF and card(f.batch(3)) == UNKNOWN
    assert card(r.shuffle(2).map(lambda v: v).prefetch(1).cache()) == 4
    shard = Dataset.range(10).shard(3, 1)
    assert ints(shard) == [1, 4, 7] and card(shard) == 3
    # the same on the row-index fast path (from_tensor_slices)
    s = Dataset.from_tensor_slices(np.arange(4))
    assert ints(s.skip(1).repeat(2).take(5)) == [1, 2, 3, 1, 2]
    assert ints(s.repeat().skip(6).take(3)) == [2, 3, 0]
    assert ints(s.take(0).repeat()) == []


def test_len_bool_and_errors():
    assert len(Dataset.range(5).batch(2)) == 3
    inf = Dataset.range(5).repeat()
    with pytest.raises(TypeError, match="infinite"):
        len(inf)
    assert bool(inf) and bool(Dataset.range(0))


def test_cache_prefetch_and_as_numpy_iterator():
    sh = Dataset.range(20).shuffle(20).cache()
    first = ints(sh)
    assert ints(sh) == first and sorted(first) == list(range(20))
    fast = Dataset.from_tensor_slices(np.arange(20)).shuffle(20).cache().batch(5)
    a = np.concatenate(np_list(fast))
    np.testing.assert_array_equal(np.concatenate(np_list(fast)), a)
    # a partial pass is not cached
    c = Dataset.range(6).shuffle(6).cache()
    list(c.take(2))
    assert c._stored is None
    calls = []
    m = Dataset.range(3).map(lambda v: (calls.append(1), v)[1]).cache()
    ints(m), ints(m)
    assert len(calls) == 3
    assert ints(Dataset.range(5).prefetch(tf.data.AUTOTUNE)) == list(range(5))
    it = Dataset.from_tensor_slices({"a": np.arange(3.0), "b": np.ones((3, 2))}).as_numpy_iterator()
    e = next(it)
    assert isinstance(e["a"], np.floating) and float(e["a"]) == 0.0
    assert isinstance(e["b"], np.ndarray) and e["b"].flags.writeable
    e["b"][0] = 5  # the caller's copy
    assert next(it)["b"].tolist() == [1.0, 1.0]
    assert list(Dataset.range(3).as_numpy_iterator()) == [0, 1, 2]


def test_element_specs():
    x = np.zeros((8, 3), np.float32)
    y = np.zeros(8, np.int32)
    ds = Dataset.from_tensor_slices((x, y))
    assert ds.element_spec == (tf.TensorSpec((3,), tf.float32), tf.TensorSpec((), tf.int32))
    assert ds.batch(4).element_spec[0].shape.as_list() == [None, 3]
    assert ds.batch(4, drop_remainder=True).element_spec[1].shape.as_list() == [4]
    assert ds.shuffle(3).take(2).repeat().element_spec == ds.element_spec
    assert Dataset.range(3).enumerate().element_spec == (tf.TensorSpec((), tf.int64),) * 2
    spec = Dataset.from_tensor_slices({"k": x}).element_spec
    assert spec == {"k": tf.TensorSpec((3,), tf.float32)}
    assert "TensorSpec(shape=(3,), dtype=nabi.float32" in repr(ds)


def test_iteration_yields_tensors_on_the_current_device(gpu):
    ds = Dataset.from_tensor_slices((np.ones((4, 2), np.float32), np.arange(4))).batch(2)
    x, y = next(iter(ds))
    assert "GPU" in x.device and "GPU" in y.device
    with tf.device("/CPU:0"):
        x, _ = next(iter(ds))
    assert "CPU" in x.device
    # map functions run on the host (as tf.data's do), whatever the default device
    seen = []
    out = list(Dataset.range(3).map(lambda v: (seen.append(v.device), v * 2)[1]))
    assert all("CPU" in d for d in seen) and [int(v) for v in out] == [0, 2, 4]
    assert "GPU" in out[0].device
    it = iter(Dataset.range(2))
    assert int(it.get_next()) == 0 and int(next(it)) == 1
    with pytest.raises(StopIteration):
        next(it)


# ---------------------------------------------------------------------- Keras
@pytest.fixture(autouse=False)
def fresh():
    keras.backend.clear_session()
    yield


def _linear_data(n=50, d=4, seed=0):
    r = np.random.default_rng(seed)
    x = r.standard_normal((n, d)).astype(np.float32)
    y = (x @ r.standard_normal((d, 2)) + 0.5).astype(np.float32)
    return x, y


def _model(d=4, seed=1):
    keras.backend.clear_session()
    tf.random.set_seed(seed)
    m = keras.Sequential([layers.Dense(8, activation="tanh", input_shape=(d,)), layers.Dense(2)])
    m.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse", metrics=["mae"])
    return m


def test_fit_on_dataset_matches_fit_on_arrays(where):
    x, y = _linear_data()
    xv, yv = _linear_data(20, seed=3)
    with tf.device(where):
        ref = _model()
        w0 = ref.get_weights()
        h_ref = ref.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0,
                        validation_data=(xv, yv))
        m = _model()
        m.set_weights(w0)
        ds = Dataset.from_tensor_slices((x, y)).batch(16)
        vds = Dataset.from_tensor_slices((xv, yv)).batch(16)
        h = m.fit(ds, epochs=3, verbose=0, validation_data=vds)
        for a, b in zip(m.get_weights(), ref.get_weights()):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
        for k in ("loss", "mae", "val_loss", "val_mae"):
            np.testing.assert_allclose(h.history[k], h_ref.history[k], rtol=1e-5)
        np.testing.assert_allclose(m.evaluate(ds, verbose=0),
                                   ref.evaluate(x, y, batch_size=16, verbose=0), rtol=1e-5)
        np.testing.assert_allclose(m.predict(Dataset.from_tensor_slices(x).batch(7), verbose=0),
                                   ref.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
        # predict ignores the targets of (x, y) batches, as Keras does
        np.testing.assert_allclose(m.predict(ds, verbose=0), ref.predict(x, verbose=0),
                                   rtol=1e-5, atol=1e-6)


def test_fit_with_sample_weights_shuffle_and_steps(where):
    x, y = _linear_data(40)
    sw = np.linspace(0.1, 2.0, 40).astype(np.float32)
    with tf.device(where):
        ref = _model()
        w0 = ref.get_weights()
        ref.fit(x, y, sample_weight=sw, batch_size=8, epochs=2, shuffle=False, verbose=0)
        m = _model()
        m.set_weights(w0)
        m.fit(Dataset.from_tensor_slices((x, y, sw)).batch(8), epochs=2, verbose=0)
        for a, b in zip(m.get_weights(), ref.get_weights()):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
        # steps_per_epoch with a repeated dataset: one pass continues across epochs, as the
        # array path does
        ref = _model()
        w0 = ref.get_weights()
        ref.fit(x, y, batch_size=16, epochs=3, steps_per_epoch=2, shuffle=False, verbose=0)
        m = _model()
        m.set_weights(w0)
        m.fit(Dataset.from_tensor_slices((x, y)).batch(16).repeat(), steps_per_epoch=2,
              epochs=3, verbose=0)
        for a, b in zip(m.get_weights(), ref.get_weights()):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
        # a shuffled dataset trains (a different order each epoch) and stays finite
        m = _model()
        h = m.fit(Dataset.from_tensor_slices((x, y)).shuffle(40).batch(8), epochs=2, verbose=0)
        assert len(h.history["loss"]) == 2 and np.all(np.isfinite(h.history["loss"]))


def test_keras_dataset_steps_and_errors():
    from nabi.keras.engine import data_adapter as da
    x, y = _linear_data(50)
    m = _model()
    ds = Dataset.from_tensor_slices((x, y)).batch(16)
    assert da.DataHandler(m, ds).steps == 4  # the progress bar's total, from cardinality
    assert da.DataHandler(m, ds.filter(lambda a, b: True)).steps is None
    with pytest.raises(ValueError, match=r"\[sequential.*`y` must not be given"):
        m.fit(ds, y, verbose=0)
    with pytest.raises(ValueError, match=r"\[sequential.*sample_weight"):
        m.fit(ds, sample_weight=np.ones(50), verbose=0)
    with pytest.raises(ValueError, match=r"\[sequential.*infinite"):
        m.fit(ds.repeat(), verbose=0)
    with pytest.raises(ValueError, match=r"\[sequential.*infinite"):
        m.evaluate(ds.repeat(), verbose=0)
    with pytest.raises(ValueError, match="validation_split"):
        m.fit(ds, validation_split=0.2, verbose=0)
    h = m.fit(ds.repeat(), steps_per_epoch=3, epochs=2, verbose=0)
    assert len(h.history["loss"]) == 2
    # a dataset shorter than steps_per_epoch: Keras warns and stops training
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        h = m.fit(ds, steps_per_epoch=6, epochs=3, verbose=0)
    ran_out = [r for r in rec if "ran out of data" in str(r.message)]
    assert len(h.history["loss"]) == 1 and len(ran_out) == 1  # one warning (there were two)
    assert "in this case, 18 batches" in str(ran_out[0].message)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        m.evaluate(ds, steps=9, verbose=0)
    assert [str(r.message) for r in rec if "ran out" in str(r.message)] == [
        "[sequential.evaluate] your input ran out of data before `steps`=9 batches"]
    # x-only batches predict; evaluate(steps=) reads that many batches
    assert m.predict(Dataset.from_tensor_slices(x).batch(16), steps=2, verbose=0).shape == (32, 2)
    # a batch_size given alongside a dataset is ignored (as in TF; the dataset batches)
    assert m.predict(Dataset.from_tensor_slices(x).batch(16), batch_size=4,
                     verbose=0).shape == (50, 2)


def test_fit_on_dataset_with_dict_inputs_and_custom_train_step(where):
    x, y = _linear_data(24)
    with tf.device(where):
        inp = keras.Input(shape=(4,), name="feat")
        out = layers.Dense(2)(inp)
        ref = keras.Model(inp, out)
        ref.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
        w0 = ref.get_weights()
        ref.fit({"feat": x}, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
        inp = keras.Input(shape=(4,), name="feat")
        m = keras.Model(inp, layers.Dense(2)(inp))
        m.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
        m.set_weights(w0)
        m.fit(Dataset.from_tensor_slices(({"feat": x}, y)).batch(8), epochs=2, verbose=0)
        for a, b in zip(m.get_weights(), ref.get_weights()):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)

        seen = []

        class Counting(keras.Model):
            def __init__(self):
                super().__init__()
                self.dense = layers.Dense(1)

            def call(self, inputs):
                return self.dense(inputs)

            def train_step(self, data):
                seen.append(tuple(data.shape))
                return {"n": tf.cast(tf.shape(data)[0], tf.float32)}

        c = Counting()
        c.compile(optimizer="sgd", loss="mse")
        h = c.fit(Dataset.from_tensor_slices(x).shuffle(24).batch(10), epochs=2, verbose=0)
        assert seen == [(10, 4), (10, 4), (4, 4)] * 2
        assert h.history["n"] == [4.0, 4.0]
