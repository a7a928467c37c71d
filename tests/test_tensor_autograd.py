import numpy as np
import pytest

import nabi
from helpers import assert_array


def test_constant_dtypes_and_defaults():
    assert nabi.constant(1.0).dtype == nabi.float32
    assert nabi.constant(1).dtype == nabi.int32
    assert nabi.constant(True).dtype == nabi.bool
    assert nabi.constant([1.0, 2.0]).dtype == nabi.float32
    assert nabi.constant(np.zeros(3)).dtype == nabi.float64
    assert nabi.constant([1, 2], dtype=nabi.int64).dtype == nabi.int64
    assert nabi.constant(3.0, shape=(2, 2)).shape == (2, 2)
    assert nabi.zeros((2, 3)).shape.as_list() == [2, 3]
    assert nabi.fill((2,), 7).numpy().tolist() == [7, 7]
    assert nabi.range(5).numpy().tolist() == [0, 1, 2, 3, 4]
    assert nabi.range(1, 2, 0.5).dtype == nabi.float32


def test_tensor_basics():
    x = nabi.constant([[1., 2., 3.], [4., 5., 6.]])
    assert x.shape == (2, 3) and x.ndim == 2 and len(x) == 2
    assert isinstance(np.asarray(x), np.ndarray)
    assert np.asarray(x).sum() == 21
    assert "shape=(2, 3)" in str(x) and "float32" in repr(x)
    assert float(nabi.constant(2.5)) == 2.5
    assert [r.numpy().tolist() for r in x] == [[1, 2, 3], [4, 5, 6]]
    assert x.device.endswith("GPU:0" if nabi.cuda.is_available() else "CPU:0")


def test_operators_and_scalar_adaptation():
    x = nabi.constant([1., 2.])
    assert_array(x + 1, [2, 3], dtype=np.float32)
    assert_array(2 * x, [2, 4], dtype=np.float32)
    assert_array(1 - x, [0, -1])
    assert_array(x / 2, [0.5, 1])
    assert_array(2 / x, [2, 1])
    assert_array(x ** 2, [1, 4])
    assert_array(-x, [-1, -2])
    assert_array(x + np.float64(1), [2, 3], dtype=np.float32)
    assert_array(x + np.array([1.0, 1.0]), [2, 3], dtype=np.float32)
    assert (x > 1).numpy().tolist() == [False, True]
    assert (x == 2).numpy().tolist() == [False, True]
    m = nabi.constant([[1., 2.], [3., 4.]])
    assert_array(m @ m, np.array([[1, 2], [3, 4.]]) @ np.array([[1, 2], [3, 4.]]))


def test_mixed_float_dtypes_raise():
    a = nabi.constant([1., 2.])
    b = nabi.constant(np.array([1., 2.]))
    with pytest.raises(TypeError, match=r"\[add\] dtypes differ: float32"):
        a + b
    with pytest.raises(TypeError, match=r"\[matmul\]"):
        nabi.matmul(nabi.ones((2, 2)), nabi.ones((2, 2), dtype=nabi.float64))


def test_variable_assign_and_repr():
    v = nabi.Variable([1., 2.], name="w")
    assert v.trainable and v.name == "w:0"
    v.assign([3., 4.])
    v.assign_add(nabi.constant([1., 1.]))
    v.assign_sub([0.5, 0.5])
    assert_array(v, [3.5, 4.5])
    assert "nabi.Variable 'w:0'" in repr(v)
    with pytest.raises(ValueError, match=r"\[Variable.assign\] shape"):
        v.assign([1., 2., 3.])


def test_tape_watches_trainable_variables_only():
    v = nabi.Variable(3.0)
    frozen = nabi.Variable(2.0, trainable=False)
    c = nabi.constant(5.0)
    with nabi.GradientTape() as tape:
        y = v * v * frozen * c
    gv, gf, gc = tape.gradient(y, [v, frozen, c])
    assert float(gv) == pytest.approx(2 * 3 * 2 * 5)
    assert gf is None and gc is None


def test_watch_and_unconnected():
    x = nabi.constant([1., 2.])
    z = nabi.constant(1.0)
    with nabi.GradientTape() as tape:
        tape.watch(x)
        tape.watch(z)
        y = nabi.reduce_sum(x * x)
    gx, gz = tape.gradient(y, [x, z])
    assert_array(gx, [2, 4])
    assert gz is None
    with nabi.GradientTape() as tape:
        tape.watch(z)
        y = x * 2
    assert tape.gradient(y, z, unconnected_gradients="zero").numpy() == 0


def test_reused_node_accumulates():
    a = nabi.Variable(3.0)
    with nabi.GradientTape() as tape:
        b = a + a
        c = b * b
    assert float(tape.gradient(c, a)) == pytest.approx(2 * 2 * 6)  # c = 4a^2 -> 8a = 24


def test_persistent_and_non_persistent():
    x = nabi.Variable(2.0)
    with nabi.GradientTape() as tape:
        y = x * x
    tape.gradient(y, x)
    with pytest.raises(RuntimeError, match="non-persistent"):
        tape.gradient(y, x)
    with nabi.GradientTape(persistent=True) as tape:
        y = x * x
        z = y * x
    assert float(tape.gradient(y, x)) == pytest.approx(4.0)
    assert float(tape.gradient(z, x)) == pytest.approx(12.0)


def test_stop_gradient_and_stop_recording():
    x = nabi.Variable(2.0)
    with nabi.GradientTape() as tape:
        y = x * nabi.stop_gradient(x)
    assert float(tape.gradient(y, x)) == pytest.approx(2.0)
    with nabi.GradientTape() as tape:
        with tape.stop_recording():
            y = x * x
    assert tape.gradient(y, x) is None


def test_gradient_structures_and_output_gradients():
    a, b = nabi.Variable([1., 2.]), nabi.Variable([3., 4.])
    with nabi.GradientTape() as tape:
        y = a * b
    g = tape.gradient(y, {"a": a, "b": b}, output_gradients=nabi.constant([1., 10.]))
    assert_array(g["a"], [3, 40])
    assert_array(g["b"], [1, 20])


def test_nested_tapes_and_non_scalar_target():
    x = nabi.Variable([1., 2., 3.])
    with nabi.GradientTape() as outer:
        with nabi.GradientTape() as inner:
            y = x * 3.0
        g_inner = inner.gradient(y, x)  # sum of y
    assert_array(g_inner, [3, 3, 3])


def test_integer_ops_have_no_gradient():
    x = nabi.constant([1, 2, 3])
    with nabi.GradientTape() as tape:
        with pytest.warns(UserWarning, match="watched tensor must be floating"):   # as TF logs
            tape.watch(x)
        y = x * 2
    assert tape.gradient(y, x) is None


def test_indexing_with_gradient():
    x = nabi.Variable(np.arange(12, dtype=np.float32).reshape(3, 4))
    with nabi.GradientTape() as tape:
        y = nabi.reduce_sum(x[1:, ::2]) + nabi.reduce_sum(x[[0, 0, 2], 1])
    g = tape.gradient(y, x).numpy()
    exp = np.zeros((3, 4), np.float32)
    exp[1:, ::2] = 1
    exp[0, 1] += 2
    exp[2, 1] += 1
    assert_array(g, exp)
    assert x[nabi.constant(1)].shape == (4,)
    with pytest.raises(IndexError, match=r"\[getitem\]"):
        x[5]


def test_random_seed_repeats():
    nabi.random.set_seed(7)
    a = nabi.random.normal((3, 4)).numpy()
    b = nabi.random.uniform((2,), 1, 2).numpy()
    nabi.random.set_seed(7)
    assert np.array_equal(a, nabi.random.normal((3, 4)).numpy())
    assert np.array_equal(b, nabi.random.uniform((2,), 1, 2).numpy())
    t = nabi.random.truncated_normal((1000,), stddev=2.0).numpy()
    assert np.abs(t).max() <= 4.0 and t.dtype == np.float32
    assert ((b >= 1) & (b < 2)).all()


def test_config_and_device_queries():
    assert nabi.test.is_built_with_cuda() in (True, False)
    gpu = nabi.cuda.is_available()
    assert nabi.test.is_gpu_available() is gpu
    assert len(nabi.config.list_physical_devices("GPU")) == (1 if gpu else 0)
    assert nabi.config.list_physical_devices("CPU")[0].device_type == "CPU"
    nabi.config.threading.set_intra_op_parallelism_threads(1)
    assert nabi.config.threading.get_intra_op_parallelism_threads() == 1
    nabi.config.threading.set_intra_op_parallelism_threads(2)
    if not gpu:
        with nabi.device("/GPU:0"):             # TF's soft placement (the default): the CPU
            assert nabi.constant(1.0).device.endswith("CPU:0")
        nabi.config.set_soft_device_placement(False)
        try:
            with pytest.raises(RuntimeError, match="device"):
                with nabi.device("/GPU:0"):
                    pass
        finally:
            nabi.config.set_soft_device_placement(True)


def test_gradients_are_freed_without_the_cyclic_gc():
    import gc
    import weakref
    gc.disable()
    try:
        x = nabi.Variable(np.ones((3, 3), np.float32))
        with nabi.GradientTape() as tape:
            y = nabi.reduce_sum(x * x)
        grads = tape.gradient(y, [x])
        ref = weakref.ref(grads[0])
        del grads
        assert ref() is None  # freed by reference counting alone
    finally:
        gc.enable()
