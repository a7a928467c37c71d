"""tf.data.Options / with_options, Dataset.cache(filename) and snapshot (files, a second
program, concurrent writers, partial passes), and the rest of TF 2.15's tf.data surface
(random, rebatch, sparse_batch, ignore_errors, get_single_element, Optional,
tf.data.experimental helpers, FixedLengthRecordDataset), each against plain Python/NumPy
expectations of TF's documented semantics (most from the examples in TF's API docs)."""
import collections
import gc
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import nabi as tf

Dataset = tf.data.Dataset
exp = tf.data.experimental


def py(ds):
    """The elements as plain Python (ints, floats, bytes, tuples, dicts, lists)."""
    def conv(v):
        if isinstance(v, dict):
            return {k: conv(x) for k, x in v.items()}
        if isinstance(v, tuple):
            return tuple(conv(x) for x in v)
        return np.asarray(v).tolist()
    return [conv(e) for e in ds.as_numpy_iterator()]


# ---------------------------------------------------------------------- Options
def test_options_defaults_and_enums():
    o = tf.data.Options()
    assert o.deterministic is None
    assert o.experimental_slack is False
    assert o.experimental_external_state_policy is None
    assert o.experimental_distribute.auto_shard_policy == exp.AutoShardPolicy.AUTO
    assert o.experimental_distribute.num_devices is None
    assert o.experimental_optimization.map_parallelization is None
    assert o.experimental_optimization.parallel_batch is None
    assert o.threading.private_threadpool_size is None
    assert o.threading.max_intra_op_parallelism is None
    assert o.autotune.enabled is None and o.autotune.cpu_budget is None
    assert [int(p) for p in (exp.AutoShardPolicy.OFF, exp.AutoShardPolicy.AUTO,
                             exp.AutoShardPolicy.FILE, exp.AutoShardPolicy.DATA,
                             exp.AutoShardPolicy.HINT)] == [-1, 0, 1, 2, 3]
    assert {p.name for p in exp.ExternalStatePolicy} == {"WARN", "IGNORE", "FAIL"}
    assert isinstance(o.threading, tf.data.ThreadingOptions)
    assert isinstance(o.experimental_optimization, exp.OptimizationOptions)
    assert isinstance(o.experimental_distribute, exp.DistributeOptions)
    assert tf.data.Options() == tf.data.Options()


def test_options_unknown_attribute_and_types():
    o = tf.data.Options()
    with pytest.raises(AttributeError, match="Cannot set the property not_an_option"):
        o.not_an_option = True
    with pytest.raises(AttributeError):
        o.experimental_optimization.not_an_optimization = True
    with pytest.raises(AttributeError):
        o.threading.num_threads = 4
    with pytest.raises(AttributeError):
        o.no_such_field  # noqa: B018
    with pytest.raises(TypeError, match="deterministic"):
        o.deterministic = 1
    with pytest.raises(TypeError, match="private_threadpool_size"):
        o.threading.private_threadpool_size = "8"
    with pytest.raises(TypeError, match="auto_shard_policy"):
        o.experimental_distribute.auto_shard_policy = "OFF"
    # the deprecated aliases reach the same fields
    o.experimental_deterministic = False
    assert o.deterministic is False
    o.experimental_threading.private_threadpool_size = 3
    assert o.threading.private_threadpool_size == 3
    o.deterministic = None                       # unset again: the default
    assert o.deterministic is None


def _opts(**fields):
    o = tf.data.Options()
    for k, v in fields.items():
        target = o
        *path, last = k.split("__")
        for p in path:
            target = getattr(target, p)
        setattr(target, last, v)
    return o


def test_with_options_carried_through_transformations():
    o = _opts(deterministic=False, experimental_slack=True,
              experimental_optimization__map_parallelization=True,
              experimental_optimization__parallel_batch=True,
              threading__private_threadpool_size=4, threading__max_intra_op_parallelism=1,
              experimental_distribute__auto_shard_policy=exp.AutoShardPolicy.DATA,
              autotune__enabled=False, autotune__ram_budget=1 << 30,
              experimental_external_state_policy=exp.ExternalStatePolicy.IGNORE)
    ds = Dataset.range(10).with_options(o)
    ds = ds.map(lambda x: x * 2).filter(lambda x: x > 2).shuffle(4, seed=1).batch(3) \
        .prefetch(tf.data.AUTOTUNE).repeat(2).take(3).unbatch().cache()
    got = ds.options()
    assert got.deterministic is False and got.experimental_slack is True
    assert got.experimental_optimization.map_parallelization is True
    assert got.experimental_optimization.parallel_batch is True
    assert got.experimental_optimization.map_fusion is None
    assert got.threading.private_threadpool_size == 4
    assert got.threading.max_intra_op_parallelism == 1
    assert got.experimental_distribute.auto_shard_policy == exp.AutoShardPolicy.DATA
    assert got.autotune.enabled is False and got.autotune.ram_budget == 1 << 30
    assert got.experimental_external_state_policy == exp.ExternalStatePolicy.IGNORE
    assert got == o
    # options do not change the elements
    ref = Dataset.range(10).map(lambda x: x * 2).filter(lambda x: x > 2).shuffle(4, seed=1)
    assert sorted(py(Dataset.range(10).with_options(o).map(lambda x: x * 2)
                     .filter(lambda x: x > 2))) == sorted(py(ref))
    assert Dataset.range(3).options() == tf.data.Options()


def test_options_merge_later_wins():
    a = _opts(deterministic=True, experimental_slack=True,
              threading__private_threadpool_size=2)
    b = _opts(deterministic=False, experimental_optimization__map_fusion=True)
    ds = Dataset.range(4).with_options(a).map(lambda x: x + 1).with_options(b)
    got = ds.options()
    # b set deterministic: b wins; a's other fields stay; b's other fields are added
    assert got.deterministic is False
    assert got.experimental_slack is True
    assert got.threading.private_threadpool_size == 2
    assert got.experimental_optimization.map_fusion is True
    assert got == a.merge(b)
    assert a.merge(b).deterministic is False and b.merge(a).deterministic is True
    assert b.merge(a).experimental_optimization.map_fusion is True
    # merging never changes the operands
    assert a.deterministic is True and b.experimental_slack is False
    # two inputs: their options merge in order (zip, concatenate, choose_from_datasets)
    x = Dataset.range(3).with_options(a)
    y = Dataset.range(3).with_options(b)
    for combined in (Dataset.zip((x, y)), x.concatenate(y),
                     Dataset.choose_from_datasets([x, y], Dataset.range(2))):
        assert combined.options() == a.merge(b)
    assert Dataset.zip({"p": y, "q": x}).options().deterministic is not None


def test_options_returned_are_read_only_and_copied():
    o = _opts(deterministic=False)
    ds = Dataset.range(3).with_options(o)
    o.deterministic = True                   # the dataset kept a copy
    assert ds.options().deterministic is False
    with pytest.raises(ValueError, match="with_options"):
        ds.options().deterministic = True
    with pytest.raises(ValueError):
        ds.options().threading.private_threadpool_size = 2
    with pytest.raises(TypeError, match="with_options"):
        Dataset.range(3).with_options({"deterministic": False})


def test_deterministic_false_map_and_interleave_elements():
    o = _opts(deterministic=False)
    x = np.arange(20, dtype=np.float32)
    ds = Dataset.from_tensor_slices(x).with_options(o) \
        .map(lambda v: v * v + 1.0, num_parallel_calls=tf.data.AUTOTUNE, deterministic=False)
    got = np.array(py(ds), dtype=np.float32)
    np.testing.assert_allclose(np.sort(got), np.sort(x * x + 1.0), rtol=1e-6)
    ds = Dataset.range(1, 4).interleave(lambda v: Dataset.from_tensors(v).repeat(v),
                                        cycle_length=2, num_parallel_calls=2,
                                        deterministic=False)
    assert sorted(py(ds)) == [1, 2, 2, 3, 3, 3]


# ---------------------------------------------------------------------- cache(filename)
def _counting_map(counter):
    def f(x):
        counter.append(1)
        return x * 3
    return f


def test_cache_file_written_then_read(tmp_path):
    prefix = str(tmp_path / "c")
    calls = []
    ds = Dataset.range(7).map(_counting_map(calls)).cache(prefix)
    ref = [3 * i for i in range(7)]
    assert py(ds) == ref
    assert os.path.exists(prefix + ".index") and not os.path.exists(prefix + ".lockfile")
    n = len(calls)
    assert py(ds) == ref and py(ds) == ref
    assert len(calls) == n                   # later passes read the file
    assert int(ds.cardinality()) == 7
    # a structured element with strings and floats round-trips
    p2 = str(tmp_path / "s")
    elems = {"a": np.arange(6, dtype=np.float32).reshape(3, 2),
             "b": np.array([b"x", b"yy", b"zzz"], dtype=object)}
    ds2 = Dataset.from_tensor_slices((elems, np.array([1, 2, 3], np.int32))).cache(p2)
    first, second = py(ds2), py(ds2)
    assert first == second
    assert second[2] == ({"a": [4.0, 5.0], "b": b"zzz"}, 3)


def _run(code, cwd):
    env = dict(os.environ)
    pkg = os.path.dirname(os.path.dirname(os.path.abspath(tf.__file__)))  # nabi under test
    env["PYTHONPATH"] = os.pathsep.join(p for p in (pkg, env.get("PYTHONPATH")) if p)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def test_cache_file_read_by_a_new_program(tmp_path):
    prefix = str(tmp_path / "cache")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((9, 2)).astype(np.float32)
    ds = Dataset.from_tensor_slices(x).shuffle(9, seed=3).map(lambda v: v * 2.0).cache(prefix)
    written = np.array(py(ds), dtype=np.float32)
    np.testing.assert_allclose(np.sort(written[:, 0]), np.sort(2 * x[:, 0]), rtol=1e-6)
    # the new program's input would fail if it were read: the cache files are
    code = f"""
        import numpy as np
        import nabi as tf
        def boom(v):
            raise RuntimeError("the input was read")
        ds = tf.data.Dataset.range(9).map(boom).cache({prefix!r})
        print(ds.element_spec)
        out = np.array([e for e in ds.as_numpy_iterator()], dtype=np.float32)
        np.save({str(tmp_path / 'out.npy')!r}, out)
    """
    r = _run(code, str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert "float32" in r.stdout
    np.testing.assert_array_equal(np.load(tmp_path / "out.npy"), written)


def test_cache_file_concurrent_writer_raises(tmp_path):
    prefix = str(tmp_path / "c")
    ds = Dataset.range(5).cache(prefix)
    it1 = iter(ds)
    assert int(next(it1)) == 0
    assert os.path.exists(prefix + ".lockfile")
    it2 = iter(ds)
    with pytest.raises(tf.errors.AlreadyExistsError, match="lockfile"):
        next(it2)
    # the first iterator finishes and completes the cache
    assert [int(v) for v in it1] == [1, 2, 3, 4]
    assert not os.path.exists(prefix + ".lockfile")
    assert os.path.exists(prefix + ".index")
    assert py(ds) == [0, 1, 2, 3, 4]


def test_cache_file_partial_pass_leaves_no_cache(tmp_path):
    prefix = str(tmp_path / "c")
    calls = []
    ds = Dataset.range(6).map(_counting_map(calls)).cache(prefix)
    assert py(ds.take(2)) == [0, 3]
    gc.collect()
    assert not os.path.exists(prefix + ".index")
    assert not os.path.exists(prefix + ".lockfile")
    assert not os.path.exists(prefix + ".data")
    it = iter(ds)
    next(it)
    del it
    gc.collect()
    assert not os.path.exists(prefix + ".index") and not os.path.exists(prefix + ".lockfile")
    assert py(ds) == [0, 3, 6, 9, 12, 15]          # a full pass writes the whole cache
    n = len(calls)
    assert py(ds) == [0, 3, 6, 9, 12, 15] and len(calls) == n

    # an error in the input ends the pass: no cache either
    def bad(x):
        if int(x) == 3:
            raise ValueError("bad element")
        return x
    p2 = str(tmp_path / "e")
    ds2 = Dataset.range(5).map(bad).cache(p2)
    with pytest.raises(ValueError, match="bad element"):
        py(ds2)
    assert not os.path.exists(p2 + ".index") and not os.path.exists(p2 + ".lockfile")


def test_cache_file_missing_directory(tmp_path):
    ds = Dataset.range(3).cache(str(tmp_path / "no_such_dir" / "c"))
    with pytest.raises(tf.errors.NotFoundError, match="does not exist"):
        py(ds)


def test_snapshot_writes_then_reads(tmp_path):
    calls = []
    for comp in ("AUTO", "GZIP"):
        d = str(tmp_path / comp)
        ds = Dataset.range(5).map(_counting_map(calls)).snapshot(d, compression=comp)
        assert py(ds) == [0, 3, 6, 9, 12]
        n = len(calls)
        assert py(ds) == [0, 3, 6, 9, 12] and len(calls) == n
        assert any(f.endswith(".index") for f in os.listdir(d))
    # another iterator writing: this pass reads the input
    d = str(tmp_path / "busy")
    ds = Dataset.range(4).apply(exp.snapshot(d))
    it1 = iter(ds)
    next(it1)
    assert py(ds) == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="compression"):
        Dataset.range(2).snapshot(str(tmp_path / "z"), compression="LZ4")


# ---------------------------------------------------------------------- the rest of tf.data
def test_get_single_element():
    v = Dataset.from_tensors((np.array([1, 2], np.int32), b"s")).get_single_element()
    assert v[0].numpy().tolist() == [1, 2] and v[1].numpy() == b"s"
    assert int(exp.get_single_element(Dataset.range(5).skip(4))) == 4
    with pytest.raises(tf.errors.InvalidArgumentError, match="empty"):
        Dataset.range(0).get_single_element()
    with pytest.raises(tf.errors.InvalidArgumentError, match="more than one"):
        Dataset.range(2).get_single_element()


def test_random_dataset():
    a = py(Dataset.random(seed=4).take(10))
    b = py(Dataset.random(seed=4).take(10))
    assert a == b and len(set(a)) == 10
    assert all(0 <= v < 2 ** 32 for v in a)
    assert Dataset.random(seed=4).element_spec == tf.TensorSpec((), tf.int64)
    assert int(Dataset.random(seed=1).cardinality()) == tf.data.INFINITE_CARDINALITY
    ds = Dataset.random(seed=4).take(10)
    assert py(ds) == py(ds)                          # each pass repeats the sequence
    ds = Dataset.random(seed=4, rerandomize_each_iteration=True).take(10)
    assert py(ds) != py(ds)
    assert py(exp.RandomDataset(seed=5).take(3)) == py(Dataset.random(seed=5).take(3))
    big = np.array(py(Dataset.random(seed=7).take(4000)), dtype=np.float64) / 2 ** 32
    assert abs(big.mean() - 0.5) < 0.03              # roughly uniform


def test_rebatch():
    x = np.arange(22).reshape(11, 2)
    ds = Dataset.from_tensor_slices(x).batch(4)
    rows = x.tolist()
    for size, drop in ((3, False), (3, True), (5, False), (1, False)):
        got = py(ds.rebatch(size, drop_remainder=drop))
        ref = [rows[i:i + size] for i in range(0, len(rows), size)]
        if drop:
            ref = [r for r in ref if len(r) == size]
        assert got == ref
    assert int(ds.rebatch(3).cardinality()) == tf.data.UNKNOWN_CARDINALITY  # last batch: 3
    fixed = Dataset.from_tensor_slices(x).batch(4, drop_remainder=True)     # 8 rows
    assert int(fixed.rebatch(3).cardinality()) == 3
    assert int(fixed.rebatch(3, drop_remainder=True).cardinality()) == 2
    assert len(py(fixed.rebatch(3))) == 3
    assert ds.rebatch(3, drop_remainder=True).element_spec.shape.as_list() == [3, 2]
    # a list of sizes is used in turn (TF's doc example: range(8).batch(4).rebatch([2, 1, 1]))
    got = py(Dataset.range(8).batch(4).rebatch(batch_size=[2, 1, 1]))
    assert got == [[0, 1], [2], [3], [4, 5], [6], [7]]
    with pytest.raises(tf.errors.InvalidArgumentError, match="rebatch"):
        Dataset.range(4).batch(2).rebatch(0)


def test_sparse_batch_tf_doc_example():
    ds = Dataset.from_generator(lambda: iter([np.array([b"a", b"b", b"c"], dtype=object),
                                              np.array([b"a", b"b"], dtype=object),
                                              np.array([b"a", b"b", b"c", b"d"], dtype=object)]),
                                output_signature=tf.TensorSpec([None], tf.string))
    out = list(ds.apply(exp.dense_to_sparse_batch(batch_size=2, row_shape=[6])))
    assert len(out) == 2
    s0, s1 = out
    assert s0.indices.numpy().tolist() == [[0, 0], [0, 1], [0, 2], [1, 0], [1, 1]]
    assert s0.values.numpy().tolist() == [b"a", b"b", b"c", b"a", b"b"]
    assert s0.dense_shape.numpy().tolist() == [2, 6]
    assert s1.indices.numpy().tolist() == [[0, 0], [0, 1], [0, 2], [0, 3]]
    assert s1.dense_shape.numpy().tolist() == [1, 6]
    # 2-D rows, -1 takes the batch's largest size; zeros are values too
    rng = np.random.default_rng(1)
    mats = [rng.integers(0, 3, (r, c)).astype(np.float32) for r, c in ((1, 2), (2, 3), (2, 1))]
    ds = Dataset.from_generator(lambda: iter(mats),
                                output_signature=tf.TensorSpec([None, None], tf.float32))
    (sp,) = list(ds.sparse_batch(3, [2, -1]))
    dense = np.zeros((3, 2, 3), np.float32)
    ind = sp.indices.numpy()
    dense[tuple(ind.T)] = sp.values.numpy()
    ref = np.zeros((3, 2, 3), np.float32)
    for i, m in enumerate(mats):
        ref[i, :m.shape[0], :m.shape[1]] = m
    np.testing.assert_array_equal(dense, ref)
    assert len(ind) == sum(m.size for m in mats)
    assert sp.dense_shape.numpy().tolist() == [3, 2, 3]
    with pytest.raises(tf.errors.InvalidArgumentError, match="row_shape"):
        list(ds.sparse_batch(3, [1, -1]))


@pytest.mark.filterwarnings("ignore:divide by zero")
def test_ignore_errors_tf_doc_example():
    ds = Dataset.from_tensor_slices([1., 2., 0., 4.])
    ds = ds.map(lambda x: tf.debugging.check_numerics(1. / x, "error"))
    with pytest.raises(tf.errors.InvalidArgumentError):
        py(ds)
    np.testing.assert_allclose(py(ds.ignore_errors()), [1.0, 0.5, 0.25])
    np.testing.assert_allclose(py(ds.apply(exp.ignore_errors(log_warning=True))),
                               [1.0, 0.5, 0.25])

    def pred(x):
        if int(x) % 3 == 0:
            raise ValueError("no multiples of 3")
        return x > 1
    assert py(Dataset.range(8).filter(pred).ignore_errors()) == [2, 4, 5, 7]
    # an error downstream of ignore_errors still raises
    with pytest.raises(ValueError):
        py(Dataset.range(4).ignore_errors().filter(pred))


def test_assert_cardinality():
    ds = Dataset.range(5).filter(lambda x: x >= 0)
    assert int(ds.cardinality()) == tf.data.UNKNOWN_CARDINALITY
    ok = ds.apply(exp.assert_cardinality(5))
    assert int(ok.cardinality()) == 5 and len(ok) == 5 and py(ok) == [0, 1, 2, 3, 4]
    with pytest.raises(tf.errors.FailedPreconditionError, match="expected to contain 7 "
                       "elements but contained only 5"):
        py(ds.apply(exp.assert_cardinality(7)))
    with pytest.raises(tf.errors.FailedPreconditionError, match="expected to contain 3 "
                       "elements but contained at least 4"):
        py(ds.apply(exp.assert_cardinality(3)))
    inf = Dataset.range(2).repeat().filter(lambda x: True) \
        .apply(exp.assert_cardinality(tf.data.INFINITE_CARDINALITY))
    assert int(inf.cardinality()) == -1 and py(inf.take(3)) == [0, 1, 0]


def test_optional_and_get_next_as_optional():
    it = iter(Dataset.from_tensor_slices(([1, 2], [3.0, 4.0])))
    vals = []
    while True:
        opt = it.get_next_as_optional()
        assert opt.has_value().dtype == tf.bool
        if not bool(opt.has_value()):
            break
        a, b = opt.get_value()
        vals.append((int(a), float(b)))
    assert vals == [(1, 3.0), (2, 4.0)]
    assert opt.element_spec == (tf.TensorSpec((), tf.int32), tf.TensorSpec((), tf.float32))
    with pytest.raises(tf.errors.InvalidArgumentError, match="does not have a value"):
        opt.get_value()
    o = exp.Optional.from_value({"x": np.array([1.5, 2.5], np.float32)})
    assert bool(o.has_value())
    np.testing.assert_array_equal(o.get_value()["x"].numpy(), [1.5, 2.5])
    assert o.element_spec == {"x": tf.TensorSpec((2,), tf.float32)}
    e = exp.Optional.empty(tf.TensorSpec((), tf.int32))
    assert not bool(e.has_value()) and e.element_spec == tf.TensorSpec((), tf.int32)
    it = iter(Dataset.range(1))
    assert bool(exp.get_next_as_optional(it).has_value())
    assert not bool(exp.get_next_as_optional(it).has_value())


def test_from_list_and_at_tf_doc_examples():
    ds = exp.from_list([(1, "a"), (2, "b"), (3, "c")])
    assert py(ds) == [(1, b"a"), (2, b"b"), (3, b"c")]
    ds = exp.from_list([{"a": 1, "b": 10}, {"a": 2, "b": 20}])
    assert py(ds) == [{"a": 1, "b": 10}, {"a": 2, "b": 20}]
    ds = exp.from_list([[1, 2], [3, 4, 5]])           # a list is one tensor, shapes may vary
    assert py(ds) == [[1, 2], [3, 4, 5]]
    assert ds.element_spec.shape.as_list() == [None]
    assert int(ds.cardinality()) == 2
    with pytest.raises(ValueError, match="from_list"):
        exp.from_list([])
    with pytest.raises(ValueError, match="element 1"):
        exp.from_list([(1, 2), (1.5, 2)])
    assert int(exp.at(Dataset.range(10), 5)) == 5
    assert int(exp.at(Dataset.range(10).map(lambda x: x * x), 9)) == 81
    with pytest.raises(tf.errors.OutOfRangeError, match="out of range"):
        exp.at(Dataset.range(3), 3)


def test_group_by_reducer():
    x = np.array([5, 2, 8, 1, 9, 4, 7], np.int64)
    reducer = exp.Reducer(init_func=lambda key: (np.int64(0), np.int64(0)),
                          reduce_func=lambda state, v: (state[0] + v, state[1] + 1),
                          finalize_func=lambda total, count: (total, count))
    ds = Dataset.from_tensor_slices(x).apply(exp.group_by_reducer(lambda v: v % 2, reducer))
    ref = collections.OrderedDict()
    for v in x.tolist():
        s = ref.setdefault(v % 2, [0, 0])
        s[0] += v
        s[1] += 1
    assert py(ds) == [tuple(s) for s in ref.values()]


def test_experimental_transformations():
    assert py(Dataset.from_tensor_slices([7, 8]).apply(exp.enumerate_dataset(start=5))) == \
        [(5, 7), (6, 8)]
    assert py(Dataset.range(7).apply(exp.map_and_batch(lambda v: v * 2, 3))) == \
        [[0, 2, 4], [6, 8, 10], [12]]
    assert py(Dataset.range(7).apply(exp.map_and_batch(lambda v: v, 3,
                                                       drop_remainder=True))) == \
        [[0, 1, 2], [3, 4, 5]]
    got = py(Dataset.range(6).apply(exp.shuffle_and_repeat(6, count=2, seed=1)))
    assert sorted(got[:6]) == list(range(6)) and sorted(got[6:]) == list(range(6))
    got = py(Dataset.range(1, 4).apply(exp.parallel_interleave(
        lambda v: Dataset.from_tensors(v).repeat(2), cycle_length=2)))
    assert got == [1, 2, 1, 2, 3, 3]
    assert py(Dataset.from_tensors(np.arange(4)).apply(exp.unbatch())) == [0, 1, 2, 3]
    ds = Dataset.range(3).map(lambda v: (v, tf.cast(v, tf.float32)))
    assert exp.get_structure(ds) == (tf.TensorSpec((), tf.int64),
                                     tf.TensorSpec((), tf.float32))
    assert exp.get_structure(iter(ds)) == ds.element_spec
    assert py(Dataset.range(3).apply(exp.copy_to_device("/gpu:0"))) == [0, 1, 2]
    assert py(Dataset.range(3).apply(exp.prefetch_to_device("/gpu:0", 2))) == [0, 1, 2]
    assert tf.data.INFINITE_CARDINALITY == exp.INFINITE_CARDINALITY == -1
    assert tf.data.UNKNOWN_CARDINALITY == exp.UNKNOWN_CARDINALITY == -2


def test_experimental_save_load_and_tfrecord_writer(tmp_path):
    ds = Dataset.from_tensor_slices((np.arange(4, dtype=np.int32), [b"a", b"b", b"c", b"d"]))
    exp.save(ds, str(tmp_path / "saved"))
    assert py(exp.load(str(tmp_path / "saved"))) == py(ds)
    recs = [b"first", b"", b"third record"]
    path = str(tmp_path / "r.tfrecord")
    exp.TFRecordWriter(path).write(Dataset.from_tensor_slices(np.array(recs, dtype=object)))
    assert py(tf.data.TFRecordDataset(path)) == recs
    gz = str(tmp_path / "r.tfrecord.gz")
    exp.TFRecordWriter(gz, "GZIP").write(Dataset.from_tensor_slices(np.array(recs, object)))
    assert py(tf.data.TFRecordDataset(gz, compression_type="GZIP")) == recs
    with pytest.raises(TypeError, match="scalar strings"):
        exp.TFRecordWriter(path).write(Dataset.range(3))


def test_fixed_length_record_dataset(tmp_path):
    # CIFAR-10's binary layout: a label byte then the pixels, after a header, before a footer
    rng = np.random.default_rng(2)
    recs = [bytes([i]) + rng.integers(0, 256, 12, dtype=np.uint8).tobytes() for i in range(5)]
    paths = []
    for k, chunk in enumerate((recs[:2], recs[2:])):
        p = tmp_path / f"f{k}.bin"
        p.write_bytes(b"HEAD" + b"".join(chunk) + b"FT")
        paths.append(str(p))
    ds = tf.data.FixedLengthRecordDataset(paths, record_bytes=13, header_bytes=4,
                                          footer_bytes=2)
    assert py(ds) == recs
    assert ds.element_spec == tf.TensorSpec((), tf.string)
    labels = ds.map(lambda r: tf.cast(tf.io.decode_raw(r, tf.uint8)[0], tf.int32))
    assert py(labels) == [0, 1, 2, 3, 4]
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"x" * 20)
    with pytest.raises(tf.errors.InvalidArgumentError, match="not an exact multiple"):
        py(tf.data.FixedLengthRecordDataset(str(bad), record_bytes=13))
    with pytest.raises(ValueError, match="record_bytes"):
        tf.data.FixedLengthRecordDataset(paths, record_bytes=0)


def test_parse_example_dataset():
    def example(label, xs):
        return tf.train.Example(features=tf.train.Features(feature={
            "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[label])),
            "x": tf.train.Feature(float_list=tf.train.FloatList(value=xs))})).SerializeToString()
    rows = [(3, [0.5, 1.5]), (7, [2.0, -1.0]), (1, [4.25, 0.0])]
    serialized = np.array([example(lbl, xs) for lbl, xs in rows], dtype=object)
    features = {"label": tf.io.FixedLenFeature([], tf.int64),
                "x": tf.io.FixedLenFeature([2], tf.float32)}
    ds = Dataset.from_tensor_slices(serialized).batch(2).apply(
        exp.parse_example_dataset(features))
    got = py(ds)
    assert [g["label"] for g in got] == [[3, 7], [1]]
    np.testing.assert_allclose(np.concatenate([np.array(g["x"]) for g in got]),
                               np.array([xs for _, xs in rows], np.float32))


def test_padded_batch_tf_doc_examples():
    a = Dataset.range(1, 5, output_type=tf.int32).map(lambda x: tf.fill([x], x))
    assert py(a.padded_batch(2)) == [[[1, 0], [2, 2]], [[3, 3, 3, 0], [4, 4, 4, 4]]]
    c = a.padded_batch(2, padded_shapes=5)             # an int is the 1-D shape [5]
    assert py(c) == [[[1, 0, 0, 0, 0], [2, 2, 0, 0, 0]], [[3, 3, 3, 0, 0], [4, 4, 4, 4, 0]]]
    assert c.element_spec.shape.as_list() == [None, 5]
    d = a.padded_batch(2, padded_shapes=5, padding_values=-1)
    assert py(d) == [[[1, -1, -1, -1, -1], [2, 2, -1, -1, -1]],
                     [[3, 3, 3, -1, -1], [4, 4, 4, 4, -1]]]
    e = Dataset.zip((a, a)).padded_batch(2, padding_values=(-1, 100))
    assert py(e) == [([[1, -1], [2, 2]], [[1, 100], [2, 2]]),
                     ([[3, 3, 3, -1], [4, 4, 4, 4]], [[3, 3, 3, 100], [4, 4, 4, 4]])]
    f = Dataset.zip((a, a)).padded_batch(2, padded_shapes=(5, tf.TensorShape([None])))
    assert py(f)[0] == ([[1, 0, 0, 0, 0], [2, 2, 0, 0, 0]], [[1, 0], [2, 2]])
    exp.enable_debug_mode()


def test_tf_experimental_optional_is_the_data_optional():
    o = tf.experimental.Optional.from_value(tf.constant([1, 2]))
    assert bool(o.has_value())
    np.testing.assert_array_equal(o.get_value().numpy(), [1, 2])
    assert not bool(tf.experimental.Optional.empty(tf.TensorSpec((), tf.int32)).has_value())
    it = iter(tf.data.Dataset.from_tensor_slices([7]))
    assert int(it.get_next_as_optional().get_value()) == 7
    assert not bool(it.get_next_as_optional().has_value())
