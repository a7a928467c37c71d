"""The device model: GPU tensors, placement, dispatch, Keras on the GPU.

Every test here runs on the "emu" device -- nabi.framework.cuda_emulator, a NumPy stand-in
for the CUDA kernel module -- so the layer above the kernels (DeviceArray, Tensor.device,
nabi.device, op dispatch, Keras placement) is tested without a GPU; and on the real "cuda"
device when a GPU is present (skipped visibly otherwise). Results are compared with NumPy
references and with the same computation on the CPU.
"""
import numpy as np
import pytest

import nabi
from nabi import _C
from nabi.framework import device as dev

# the `gpu` fixture (params "emu" and "cuda") is in conftest.py


def on_gpu(t):
    return t.device.endswith("GPU:0")


# ---- device names and placement ---------------------------------------------------------------
@pytest.mark.parametrize("name,kind", [("cpu", "cpu"), ("/CPU:0", "cpu"), ("cuda", "cuda"),
                                       ("cuda:0", "cuda"), ("/GPU:0", "cuda"),
                                       ("/device:GPU:0", "cuda"),
                                       ("/job:localhost/replica:0/task:0/device:CPU:0", "cpu")])
def test_parse_device(name, kind):
    assert dev.parse_device(name) == kind


def test_parse_device_rejects_unknown():
    with pytest.raises(ValueError, match=r"\[device\] unknown device"):
        dev.parse_device("tpu:0")
    with pytest.raises(ValueError, match="only device 0"):
        dev.parse_device("cuda:3")


def test_without_gpu_cpu_is_default_and_cuda_raises(monkeypatch):
    monkeypatch.delenv("NABI_EMULATE_CUDA", raising=False)
    monkeypatch.setattr(dev, "_BACKEND", [None])
    if dev.gpu_available():
        pytest.skip("a GPU is present")
    t = nabi.constant([1.0, 2.0])
    assert t.device.endswith("CPU:0") and not t.is_cuda
    with pytest.raises(RuntimeError, match=r"\[Tensor.to\] device 'cuda:0' is not available"):
        t.cuda()
    # TF's soft device placement (on by default): tf.device('/GPU:0') runs on the CPU
    with nabi.device("/GPU:0"):
        assert nabi.constant([1.0]).device.endswith("CPU:0")
    nabi.config.set_soft_device_placement(False)
    try:
        with pytest.raises(RuntimeError, match=r"\[device\] device '/GPU:0' is not available"):
            with nabi.device("/GPU:0"):
                pass
    finally:
        nabi.config.set_soft_device_placement(True)
    assert nabi.cuda.device_count() == 0 or nabi.cuda.is_available()


def test_placement_and_transfers(gpu):
    assert nabi.cuda.is_available() and nabi.test.is_gpu_available()
    assert [d.device_type for d in nabi.config.list_physical_devices("GPU")] == ["GPU"]
    x = nabi.constant([[1.0, 2.0], [3.0, 4.0]])
    assert on_gpu(x) and x.is_cuda
    host = x.numpy()
    assert type(host) is np.ndarray and host.dtype == np.float32
    np.testing.assert_array_equal(np.asarray(x), [[1, 2], [3, 4]])
    c = x.cpu()
    assert c.device.endswith("CPU:0") and type(c.numpy()) is np.ndarray
    assert c.cuda().is_cuda and x.to("/GPU:0") is x and x.to("cuda") is x
    with nabi.device("/CPU:0"):
        y = nabi.constant([1.0, 2.0])
        v = nabi.Variable(np.zeros(3, np.float32))
    assert not y.is_cuda and not v.is_cuda
    with nabi.device("cpu"), nabi.device("cuda:0"):
        assert nabi.constant(1.0).is_cuda
    w = nabi.Variable(np.ones((2, 2), np.float32))
    assert w.is_cuda
    w.assign_add(np.full((2, 2), 2.0, np.float32))
    w.assign_sub(nabi.constant(np.ones((2, 2), np.float32)))
    np.testing.assert_array_equal(w.numpy(), np.full((2, 2), 2.0))
    assert "GPU" in repr(x.device) or on_gpu(x)


def test_mixing_devices_is_an_error(gpu):
    x = nabi.constant([1.0, 2.0])
    with nabi.device("cpu"):
        y = nabi.constant([1.0, 2.0])
    with pytest.raises(ValueError, match=r"\[add\] operands are on different devices"):
        x + y
    with pytest.raises(ValueError, match=r"different devices"):
        nabi.matmul(nabi.reshape(x, (1, 2)), nabi.reshape(y, (2, 1)))
    # Python and NumPy scalars are constants, not tensors: they join the tensor's device
    np.testing.assert_allclose((x * 2.0 + np.float32(1)).numpy(), [3.0, 5.0])


def test_set_visible_devices_forces_cpu(gpu):
    gpus = nabi.config.list_physical_devices("GPU")
    nabi.config.set_visible_devices([], "GPU")
    try:
        assert not nabi.constant([1.0]).is_cuda
        with pytest.raises(RuntimeError, match="not available"):
            nabi.constant([1.0]).cuda()
    finally:
        nabi.config.set_visible_devices(gpus + nabi.config.list_physical_devices("CPU"))
    assert nabi.constant([1.0]).is_cuda


def test_cuda_device_name_and_index(gpu):
    assert isinstance(nabi.cuda.get_device_name(), str) and nabi.cuda.get_device_name(0)
    assert nabi.cuda.current_device() == 0


def test_memory_queries(gpu):
    before = nabi.cuda.memory_allocated()
    x = nabi.constant(np.ones((256, 256), np.float32))
    assert nabi.cuda.memory_allocated() >= before + x.numpy().nbytes
    assert nabi.cuda.memory_reserved() >= nabi.cuda.memory_allocated()
    del x
    nabi.cuda.empty_cache()
    nabi.cuda.synchronize()


# ---- ops on GPU tensors against NumPy and the CPU -----------------------------------------------
rng = np.random.default_rng(7)
A = rng.standard_normal((5, 7)).astype(np.float32)
B = rng.standard_normal((7,)).astype(np.float32)
M = rng.standard_normal((7, 3)).astype(np.float32)
P = rng.uniform(0.5, 2.0, (5, 7)).astype(np.float32)

def _first_occurrence_ids(v):
    """tf.unique's idx: each element's value numbered in order of first appearance."""
    seen = {}
    return np.array([seen.setdefault(x, len(seen)) for x in v.tolist()], np.float32)


OPS = {
    "add_broadcast": (lambda a, b: a + b, (A, B), lambda a, b: a + b),
    "mul_sub_div": (lambda a, b: (a * b - 1.0) / 2.0, (A, B), lambda a, b: (a * b - 1) / 2),
    "matmul": (lambda a, m: nabi.matmul(a, m), (A, M), lambda a, m: a @ m),
    "batched_matmul": (lambda a, m: nabi.matmul(nabi.reshape(a, (1, 5, 7)), m), (A, M),
                       lambda a, m: (a @ m)[None]),
    "reduce_sum_axis0": (lambda a: nabi.reduce_sum(a, axis=0), (A,), lambda a: a.sum(0)),
    "reduce_mean_keep": (lambda a: nabi.reduce_mean(a, axis=1, keepdims=True), (A,),
                         lambda a: a.mean(1, keepdims=True)),
    "reduce_max": (lambda a: nabi.reduce_max(a, axis=-1), (A,), lambda a: a.max(-1)),
    "transpose": (lambda a: nabi.transpose(a), (A,), lambda a: a.T),
    "slice": (lambda a: a[1:4, ::2], (A,), lambda a: a[1:4, ::2]),
    "row": (lambda a: a[2], (A,), lambda a: a[2]),
    "concat": (lambda a: nabi.concat([a, a * 2.0], axis=1), (A,),
               lambda a: np.concatenate([a, a * 2], axis=1)),
    "stack": (lambda a: nabi.stack([a, a], axis=0), (A,), lambda a: np.stack([a, a])),
    "exp_log_sqrt": (lambda p: nabi.exp(nabi.math.log(p)) + nabi.sqrt(p), (P,),
                     lambda p: p + np.sqrt(p)),
    "tanh_sigmoid_relu": (lambda a: nabi.tanh(a) + nabi.sigmoid(a) + nabi.nn.relu(a), (A,),
                          lambda a: np.tanh(a) + 1 / (1 + np.exp(-a)) + np.maximum(a, 0)),
    "softmax": (lambda a: nabi.nn.softmax(a), (A,),
                lambda a: np.exp(a - a.max(1, keepdims=True)) /
                np.exp(a - a.max(1, keepdims=True)).sum(1, keepdims=True)),
    "where_greater": (lambda a: nabi.where(a > 0.0, a, a * 0.1), (A,),
                      lambda a: np.where(a > 0, a, a * np.float32(0.1))),
    "gather": (lambda a: nabi.gather(a, [4, 0, 2]), (A,), lambda a: a[[4, 0, 2]]),
    "one_hot": (lambda a: nabi.one_hot([0, 3, 1], 4) + a[:3, :4] * 0.0, (A,),
                lambda a: np.eye(4, dtype=np.float32)[[0, 3, 1]]),
    "reshape_square": (lambda a: nabi.reshape(nabi.square(a), (7, 5)), (A,),
                       lambda a: (a * a).reshape(7, 5)),
    "maximum_minimum": (lambda a, b: nabi.maximum(a, b) - nabi.minimum(a, 0.0), (A, B),
                        lambda a, b: np.maximum(a, b) - np.minimum(a, 0)),
    "argmax": (lambda a: nabi.argmax(a, axis=1), (A,), lambda a: a.argmax(1)),
    "pad": (lambda a: nabi.pad(a, [[1, 0], [0, 2]]), (A,), lambda a: np.pad(a, ((1, 0), (0, 2)))),
    "cast": (lambda a: nabi.cast(a > 0.0, nabi.float32), (A,), lambda a: (a > 0).astype(np.float32)),
    "cumsum": (lambda a: nabi.math.cumsum(a, axis=1), (A,), lambda a: np.cumsum(a, 1)),
    "reduce_prod": (lambda p: nabi.reduce_prod(p, axis=1), (P,), lambda p: p.prod(1)),
    "fancy_index": (lambda a: a[[0, 0, 4], 2] + a[1, [6, 1]][0], (A,),
                    lambda a: a[[0, 0, 4], 2] + a[1, [6, 1]][0]),
    "host_operand": (lambda a: a * np.arange(7, dtype=np.float32) - [1.0] * 7, (A,),
                     lambda a: a * np.arange(7, dtype=np.float32) - 1),
    "creation": (lambda a: a[:2, :3] + nabi.ones((2, 3)) + nabi.fill((2, 3), 2.0) +
                 nabi.zeros_like(a[:2, :3]) + nabi.cast(nabi.range(3), nabi.float32), (A,),
                 lambda a: a[:2, :3] + 3 + np.arange(3, dtype=np.float32)),
    "boolean_mask": (lambda a: nabi.boolean_mask(a, a[:, 0] > 0.0) * 1.0 +
                     nabi.reduce_sum(nabi.boolean_mask(a, a > 0.5)), (A,),
                     lambda a: a[a[:, 0] > 0] + a[a > 0.5].sum()),
    "where_coordinates": (lambda a: nabi.where(a > 0.5), (A,), lambda a: np.argwhere(a > 0.5)),
    "gather_nd": (lambda a: nabi.gather_nd(a, [[0, 1], [4, 6], [0, 1]]), (A,),
                  lambda a: a[[0, 4, 0], [1, 6, 1]]),
    "sort_argsort": (lambda a: nabi.sort(a, direction="DESCENDING") +
                     nabi.cast(nabi.argsort(a, axis=0), nabi.float32), (A,),
                     lambda a: -np.sort(-a, axis=-1) + np.argsort(a, axis=0, kind="stable")),
    "unique": (lambda a: nabi.cast(nabi.unique(nabi.cast(nabi.reshape(a, (-1,)) * 1.5,
                                                        nabi.int32))[1], nabi.float32), (A,),
               lambda a: _first_occurrence_ids(np.trunc(a.reshape(-1) * np.float32(1.5)))),
}


@pytest.mark.parametrize("name", sorted(OPS))
def test_ops_match_numpy_and_cpu(gpu, name):
    fn, args, ref = OPS[name]
    ts = [nabi.constant(a) for a in args]
    assert all(on_gpu(t) for t in ts)
    out = fn(*ts)
    assert on_gpu(out), name
    np.testing.assert_allclose(out.numpy(), ref(*args), rtol=1e-5, atol=1e-6)
    with nabi.device("cpu"):
        cpu = fn(*[nabi.constant(a) for a in args])
    np.testing.assert_allclose(out.numpy(), cpu.numpy(), rtol=1e-5, atol=1e-6)


GRADS = {
    "mlp": lambda a, m: nabi.reduce_sum(nabi.tanh(nabi.matmul(a, m)) ** 2),
    "broadcast_mul": lambda a, m: nabi.reduce_mean(a * nabi.reduce_sum(m, axis=1)),
    "softmax_xent": lambda a, m: nabi.reduce_mean(nabi.nn.softmax_cross_entropy_with_logits(
        labels=nabi.nn.softmax(nabi.matmul(a, m) * 0.5), logits=nabi.matmul(a, m))),
    "slices_concat": lambda a, m: nabi.reduce_sum(nabi.concat([a[:, :3], a[:, 3:] * 2.0], 1)
                                                  * nabi.transpose(nabi.concat([m, m], 1))[:5]),
    "max_abs": lambda a, m: nabi.reduce_max(nabi.abs(a)) + nabi.reduce_sum(nabi.maximum(m, 0.1)),
    "prod_cumsum": lambda a, m: nabi.reduce_sum(nabi.reduce_prod(m, axis=1)) +
    nabi.reduce_sum(nabi.math.cumsum(a, axis=0) ** 2),
    "fancy_index_gather": lambda a, m: nabi.reduce_sum(a[[0, 0, 3], 1:4] ** 2) +
    nabi.reduce_sum(nabi.gather(m, [2, 2, 5]) * 3.0),
    "gather_nd": lambda a, m: nabi.reduce_sum(nabi.gather_nd(a, [[0, 1], [4, 6], [0, 1]]) ** 2)
    + nabi.reduce_sum(nabi.gather_nd(m, [[3], [3]])),
    "boolean_mask": lambda a, m: nabi.reduce_sum(nabi.boolean_mask(a, A > 0.0) ** 2) +
    nabi.reduce_sum(nabi.boolean_mask(m, M[:, 1] < 0.0) * 2.0),
}


@pytest.mark.parametrize("name", sorted(GRADS))
def test_gradients_match_cpu(gpu, name):
    f = GRADS[name]

    def run(kind):
        with nabi.device(kind):
            a, m = nabi.Variable(A), nabi.Variable(M)
            with nabi.GradientTape() as tape:
                y = f(a, m)
            ga, gm = tape.gradient(y, [a, m])
        assert on_gpu(ga) == (kind == "cuda") and on_gpu(gm) == (kind == "cuda")
        return y.numpy(), ga.numpy(), gm.numpy()

    for g, c in zip(run("cuda"), run("cpu")):
        np.testing.assert_allclose(g, c, rtol=2e-5, atol=1e-6)


def test_dropout_on_gpu_is_philox_and_repeats(gpu):
    """GPU dropout: a kept element is scaled by 1/(1-rate), about `rate` are dropped, the
    gradient uses the same mask, and a seeded run repeats."""
    x = nabi.Variable(np.ones((64, 64), np.float32))

    def run():
        nabi.random.set_seed(5)
        with nabi.GradientTape() as tape:
            y = nabi.nn.dropout(x, rate=0.25)
            s = nabi.reduce_sum(y)
        return y.numpy(), tape.gradient(s, x).numpy()
    y, g = run()
    assert set(np.unique(y)) <= {0.0, np.float32(1 / 0.75)}
    assert 0.2 < (y == 0).mean() < 0.3
    np.testing.assert_array_equal(g, y)
    y2, _ = run()
    np.testing.assert_array_equal(y, y2)


def test_gather_nd_range_check_and_categorical_on_gpu(gpu):
    with pytest.raises(IndexError, match=r"\[gather_nd\] an index is out of range"):
        nabi.gather_nd(nabi.constant(A), [[0, 7]])  # would alias row 1 after flattening
    s = nabi.random.categorical(nabi.constant(np.log([[1e-6, 1.0]]).astype(np.float32)), 8)
    assert on_gpu(s) and (s.numpy() == 1).all()


def test_device_array_scans_gathers_and_advanced_indexing(gpu):
    """The NumPy functions DeviceArray implements from other kernels, against NumPy."""
    r = np.random.default_rng(1)
    x = r.standard_normal((3, 4, 5)).astype(np.float32)
    d = dev.DeviceArray.from_numpy(x)
    for ax in (0, 1, 2, None):
        np.testing.assert_allclose(np.cumsum(d, axis=ax).get(), np.cumsum(x, axis=ax),
                                   rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(np.cumprod(d, axis=ax).get(), np.cumprod(x, axis=ax),
                                   rtol=1e-5, atol=1e-6)
    i = r.integers(-5, 5, (3, 4, 2))
    np.testing.assert_array_equal(np.take_along_axis(d, dev.DeviceArray.from_numpy(i), 2).get(),
                                  np.take_along_axis(x, i, 2))
    for idx in [([0, 0, 2],), ([0, 0, 2], 1), (1, [0, 3]), (slice(1, 3), [0, 3]),
                ([0, 2], slice(None), 2), (0, slice(None), [4, 0]), (np.array([[0, 1], [2, 2]]), 2)]:
        np.testing.assert_array_equal(d[idx].get(), x[idx])
        g = r.standard_normal(x[idx].shape).astype(np.float32)
        z, zd = np.zeros_like(x), dev.DeviceArray.from_numpy(np.zeros_like(x))
        np.add.at(z, idx, g)
        np.add.at(zd, idx, dev.DeviceArray.from_numpy(g))
        np.testing.assert_allclose(zd.get(), z, rtol=1e-6, atol=1e-6)
    m = x[:, :, 0] > 0
    np.testing.assert_array_equal(d[dev.DeviceArray.from_numpy(m)].get(), x[m])
    np.testing.assert_array_equal(np.argwhere(dev.DeviceArray.from_numpy(m)).get(), np.argwhere(m))
    with pytest.raises(IndexError, match="not supported on the GPU"):
        d[[0, 1], [1, 2]]
    # scalar operands are cached device constants: 0.0 and -0.0 stay apart, NaN is not merged
    one = dev.DeviceArray.from_numpy(np.ones(3, np.float32))
    with np.errstate(divide="ignore", invalid="ignore"):
        np.testing.assert_array_equal((one / 0.0).get(), [np.inf] * 3)
        np.testing.assert_array_equal((one / -0.0).get(), [-np.inf] * 3)
        assert np.isnan((one + float("nan")).get()).all()
        np.testing.assert_array_equal((one * 2.0 + 2.0).get(), [4.0] * 3)
    with pytest.raises(ValueError, match="different devices"):
        d + x  # a host array meeting a device array inside the kernels is a bug, not a copy


# ---- Keras on the GPU ---------------------------------------------------------------------------
def _fit(model_fn, x, y, loss, kind, epochs=3):
    with nabi.device(kind):
        nabi.keras.utils.set_random_seed(3)
        model = model_fn()
        model.compile(optimizer=nabi.keras.optimizers.Adam(0.01), loss=loss, metrics=["accuracy"])
        hist = model.fit(x, y, batch_size=16, epochs=epochs, verbose=0, shuffle=False)
        pred = model.predict(x[:8], verbose=0)
        weights = model.weights
    return hist.history, pred, weights


def _check_keras(model_fn, x, y, loss, gpu):
    hg, pg, wg = _fit(model_fn, x, y, loss, "cuda")
    hc, pc, wc = _fit(model_fn, x, y, loss, "cpu")
    assert all(on_gpu(w) for w in wg) and not any(on_gpu(w) for w in wc)
    assert type(pg) is np.ndarray
    assert hg["loss"][-1] < hg["loss"][0]
    np.testing.assert_allclose(hg["loss"], hc["loss"], rtol=2e-3)
    np.testing.assert_allclose(pg, pc, rtol=2e-3, atol=2e-4)


def test_keras_dense_trains_on_gpu(gpu):
    K = nabi.keras
    x = rng.standard_normal((64, 6)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64)
    _check_keras(lambda: K.Sequential([K.Input((6,)), K.layers.Dense(16, activation="relu"),
                                       K.layers.Dropout(0.0), K.layers.Dense(2)]),
                 x, y, K.losses.SparseCategoricalCrossentropy(from_logits=True), gpu)


def test_keras_cnn_trains_on_gpu(gpu):
    K = nabi.keras
    x = rng.standard_normal((32, 8, 8, 1)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[(x.sum((1, 2, 3)) > 0).astype(int) + (x[:, 0, 0, 0] > 1)]
    _check_keras(lambda: K.Sequential([
        K.Input((8, 8, 1)), K.layers.Conv2D(4, 3, activation="relu", padding="same"),
        K.layers.MaxPooling2D(2), K.layers.Flatten(), K.layers.Dense(3, activation="softmax")]),
        x, y, "categorical_crossentropy", gpu)


def test_keras_lstm_trains_on_gpu(gpu):
    K = nabi.keras
    x = rng.standard_normal((32, 5, 3)).astype(np.float32)
    y = (x[:, :, 0].sum(1) > 0).astype(np.float32)[:, None]
    _check_keras(lambda: K.Sequential([K.Input((5, 3)), K.layers.LSTM(8),
                                       K.layers.Dense(1, activation="sigmoid")]),
                 x, y, "binary_crossentropy", gpu)


def test_copy_deepcopy_and_pickle_of_gpu_tensors(gpu):
    """deepcopy copies on the device (independent storage); pickle goes through the host and
    comes back on the GPU; copy.copy is shallow (as on the CPU). The device buffer itself
    refuses pickling and copying, as the CUDA one does."""
    import copy
    import pickle
    v = nabi.Variable(np.arange(4, dtype=np.float32).reshape(2, 2))
    shallow = copy.copy(v)
    assert on_gpu(shallow) and shallow._data is v._data
    for c in (copy.deepcopy(v), pickle.loads(pickle.dumps(v))):
        assert on_gpu(c)
        np.testing.assert_array_equal(c.numpy(), v.numpy())
        c._data[0, 0] = 9.0
        assert v.numpy()[0, 0] == 0.0
    with pytest.raises(TypeError, match="pickle"):
        copy.deepcopy(v._data.buf)


@pytest.mark.parametrize("verbose", [1, 2])
def test_progress_bar_reads_the_gpu_only_when_it_redraws(verbose, monkeypatch, capsys):
    """fit(verbose=1/2) (Keras' default shows a progress bar): the running loss and metrics are
    read back from the GPU (a synchronisation each) only for the steps whose logs the bar shows
    -- verbose=1 redraws at most every 0.05 s (here: the first step, with a clock that barely
    moves), verbose=2 only at the epoch's end -- not after every step. The printed values are
    the epoch's (NumPy reference: History, from the same run)."""
    cb = _C.cuda_backend
    if not hasattr(cb, "_sim_stats"):
        pytest.skip("needs the CUDA host simulator build (tools/sim-build.sh)")
    from nabi.keras.utils import progbar as pb
    clock = iter(range(10**6))
    monkeypatch.setattr(pb.time, "time", lambda: 1000.0 + 1e-4 * next(clock))
    x, y, model = _classifier(96, 12, 16, 3)
    model.fit(x, y, batch_size=16, verbose=0)
    cb._sim_stats(True)
    hist = model.fit(x, y, batch_size=16, epochs=2, verbose=verbose)
    s = cb._sim_stats(True)
    # per epoch: the epoch's loss and accuracy; verbose=1 also the first step's (its redraw)
    assert s["syncs"] == s["d2h"] == 2 * (4 if verbose == 1 else 2), s
    out = capsys.readouterr().out
    for epoch in range(2):
        loss, acc = hist.history["loss"][epoch], hist.history["accuracy"][epoch]
        assert f"loss: {loss:.4f}" in out and f"accuracy: {acc:.4f}" in out, out
    if verbose == 1:
        assert out.count("1/6 [") == 2, out  # the first step's redraw in each epoch


def test_predict_reads_the_gpu_once_per_group_not_per_batch(gpu, monkeypatch):
    """predict on the GPU keeps each batch's outputs on the device and copies them back in
    groups (one read per output, so one wait for the GPU, per group): 7 batches of a
    two-output model are 2 reads in one group, 6 in groups of 3 batches; the result equals
    the CPU's (NumPy reference: the same weights on the CPU), and batch callbacks still get
    NumPy outputs per batch."""
    cb = _C.cuda_backend
    K = nabi.keras
    x = rng.standard_normal((100, 6)).astype(np.float32)
    inp = K.Input((6,))
    h = K.layers.Dense(5, activation="tanh")(inp)
    model = K.Model(inp, [K.layers.Dense(3)(h), K.layers.Dense(1, activation="sigmoid")(h)])
    with nabi.device("cpu"):
        ref_model = K.Model.from_config(model.get_config())
    ref_model.set_weights(model.get_weights())
    want = ref_model.predict(x, batch_size=16, verbose=0)
    sim = gpu == "cuda" and hasattr(cb, "_sim_stats")
    from nabi.keras.models import model as model_mod
    for group, reads in [(64 << 20, 2), (3 * 16 * 4 * 4, 6)]:  # a batch: 16 x (3 + 1) floats
        monkeypatch.setattr(model_mod, "_PREDICT_GROUP_BYTES", group)
        if sim:
            cb._sim_stats(True)
        got = model.predict(x, batch_size=16, verbose=0)
        if sim:
            assert cb._sim_stats(True)["d2h"] == reads
        for g, w in zip(got, want):
            assert type(g) is np.ndarray
            np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)
    seen = []
    cbk = K.callbacks.LambdaCallback(on_predict_batch_end=lambda b, logs: seen.append(
        type(logs["outputs"][0]).__name__))
    model.predict(x, batch_size=16, verbose=0, callbacks=[cbk])
    assert seen == ["ndarray"] * 7


def _classifier(n, features, hidden, classes):
    """Random data and a compiled Dense-Dropout-Dense softmax classifier."""
    x = rng.standard_normal((n, features)).astype(np.float32)
    y = rng.integers(0, classes, n)
    layers = nabi.keras.layers
    model = nabi.keras.Sequential([layers.Input((features,)),
                                   layers.Dense(hidden, activation="relu"), layers.Dropout(0.2),
                                   layers.Dense(classes, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return x, y, model


def test_fit_steps_do_not_wait_for_the_gpu(gpu, monkeypatch):
    """A fit step reads nothing back from the GPU (the loss is summed on the device, the
    optimizer's step and learning rate are host scalars, the label check is the fused
    kernel's): with verbose=0 and no batch hooks, an epoch of 4 steps reads back only at its
    end. Every device-to-host read goes through DeviceArray.get."""
    reads = []
    orig = dev.DeviceArray.get
    monkeypatch.setattr(dev.DeviceArray, "get", lambda self: reads.append(1) or orig(self))
    x, y, model = _classifier(400, 20, 32, 10)
    model.fit(x, y, batch_size=100, epochs=1, verbose=0)
    reads.clear()
    model.fit(x, y, batch_size=100, epochs=2, verbose=0)
    assert len(reads) <= 2 * 2, len(reads)  # per epoch: the loss and the accuracy, once


@pytest.mark.parametrize("from_logits", [True, False])
def test_fit_with_a_label_out_of_range_on_gpu(gpu, from_logits):
    """fit checks a batch's sparse labels against the range read on the host at upload (no
    read-back from the GPU) and names the bad label, as on the CPU."""
    layers = nabi.keras.layers
    model = nabi.keras.Sequential([layers.Input((4,)), layers.Dense(
        3, activation=None if from_logits else "softmax")])
    model.compile(optimizer="sgd", loss=nabi.keras.losses.SparseCategoricalCrossentropy(
        from_logits=from_logits))
    x = rng.standard_normal((8, 4)).astype(np.float32)
    y = np.array([0, 1, 2, 1, 0, 2, 1, 0])
    model.fit(x, y, batch_size=4, verbose=0)
    assert on_gpu(model.trainable_weights[0])
    for bad in (3, -1):
        yb = y.copy()
        yb[5] = bad
        with pytest.raises(ValueError, match=rf"label {bad} is out of range for 3 classes"):
            model.fit(x, yb, batch_size=4, verbose=0, shuffle=False)
        with pytest.raises(ValueError, match=rf"label {bad} is out of range for 3 classes"):
            model.evaluate(x, yb, batch_size=4, verbose=0)
    # Labels of shape (n, 1) and int32 keep the host-known range.
    model.fit(x, y.astype(np.int32)[:, None], batch_size=4, verbose=0)


def test_gpu_accuracy_metrics_match_numpy(gpu):
    """Keras accuracy on the GPU (unweighted: one argmax_match_count kernel per batch, adding
    into the metric's device total; weighted: the general path) against NumPy's count from
    the predictions, for sparse int and float labels, one-hot labels and per-timestep
    outputs, over several batches and a partial last batch."""
    K = nabi.keras
    r = np.random.default_rng(7)
    x = r.standard_normal((37, 6, 3)).astype(np.float32)
    ys = r.integers(0, 4, 37)
    cases = [("sparse_categorical_crossentropy", ys, K.layers.Flatten()),
             ("sparse_categorical_crossentropy", ys.astype(np.float32), K.layers.Flatten()),
             ("categorical_crossentropy", np.eye(4, dtype=np.float32)[ys], K.layers.Flatten()),
             ("sparse_categorical_crossentropy", r.integers(0, 4, (37, 6)), None)]
    for loss, y, flat in cases:
        with nabi.device("/GPU:0"):
            K.utils.set_random_seed(1)
            layers = [K.Input((6, 3))] + ([flat] if flat else []) + \
                [K.layers.Dense(4, activation="softmax")]
            model = K.Sequential(layers)
            model.compile(optimizer="adam", loss=loss, metrics=["accuracy"],
                          weighted_metrics=["accuracy"])
            acc = model.evaluate(x, y, batch_size=8, verbose=0, return_dict=True)["accuracy"]
            p = np.argmax(model.predict(x, batch_size=8, verbose=0), axis=-1)
            w = (np.arange(37) % 3).astype(np.float32)
            logs = model.evaluate(x, y, batch_size=8, verbose=0, sample_weight=w,
                                  return_dict=True)
            assert logs["accuracy"] == acc, logs  # `metrics` ignore the sample weights
            accw = logs["weighted_accuracy"]
        t = np.argmax(y, axis=-1) if y.ndim == 2 and y.shape[-1] == 4 and flat else y
        hits = (t == p).astype(np.float64)
        np.testing.assert_allclose(acc, hits.mean(), rtol=1e-6, err_msg=loss)
        wb = w if hits.ndim == 1 else w[:, None] * np.ones_like(hits)
        np.testing.assert_allclose(accw, (hits * wb).sum() / wb.sum(), rtol=1e-5, err_msg=loss)


def test_fit_steps_never_synchronise_on_the_simulator():
    """On the CUDA host simulator (tools/sim-build.sh), which counts what the kernels ask of
    the CUDA runtime: a warm fit step of an MLP makes no synchronisation (the batch goes up
    through pinned staging buffers, the sparse labels are range-checked on the host), no
    cudaMalloc (the caching allocator), and a bounded number of launches. Only the epoch's
    end reads back (the loss and the metric)."""
    cb = _C.cuda_backend
    if not hasattr(cb, "_sim_stats"):
        pytest.skip("needs the CUDA host simulator build (tools/sim-build.sh)")
    for loss, act in [(nabi.keras.losses.SparseCategoricalCrossentropy(from_logits=True), None),
                      ("sparse_categorical_crossentropy", "softmax")]:
        layers = nabi.keras.layers
        model = nabi.keras.Sequential([layers.Input((20,)), layers.Dense(32, activation="relu"),
                                       layers.Dense(10, activation=act)])
        model.compile(optimizer="adam", loss=loss, metrics=["accuracy"])
        x = rng.standard_normal((64, 20)).astype(np.float32)
        y = rng.integers(0, 10, 64)
        model.fit(x, y, batch_size=16, verbose=0)
        model.fit(x, y, batch_size=16, verbose=0)
        cb._sim_stats(True)
        model.fit(x, y, batch_size=16, epochs=2, verbose=0)
        s = cb._sim_stats(True)
        steps = 8
        assert s["h2d"] == 2 * steps, s
        assert s["syncs"] == s["d2h"] == 2 * 2, s  # per epoch: loss and accuracy
        assert s["mallocs"] == 0, s
        launches = sum(s["launches"].values())
        assert launches <= 24 * steps, s["launches"]  # 21 per step with the fused dense layers


def test_training_does_not_grow_gpu_memory(gpu):
    """Epochs of fit/evaluate/predict on the GPU hold no device memory beyond the first: the
    tape, the batches and the per-step temporaries are all released."""
    import gc
    gc.collect()  # earlier tests' garbage (cycles) must not be freed in the middle of the rounds
    x, y, model = _classifier(200, 12, 16, 3)
    sizes = []
    for _ in range(4):
        model.fit(x, y, batch_size=50, epochs=1, verbose=0)
        model.evaluate(x, y, verbose=0)
        model.predict(x, verbose=0)
        sizes.append(nabi.cuda.memory_allocated())
    assert sizes[1] == sizes[2] == sizes[3], sizes


def test_emulator_has_every_kernel_entry_of_the_cuda_backend():
    """The emulator stands in for nabi._C.cuda_backend: the same entry points, both ways (the
    list exists in builds without CUDA too, where each entry raises 'built without CUDA')."""
    from nabi.framework import cuda_emulator
    assert set(_C.cuda_backend.KERNEL_ENTRIES) == set(cuda_emulator.KERNEL_ENTRIES)
    for name in cuda_emulator.KERNEL_ENTRIES:
        assert callable(getattr(_C.cuda_backend, name)) and callable(getattr(cuda_emulator, name))


def _doc_params(fn):
    """Parameter names from a pybind11 signature line: 'f(a: T, b: U = 1) -> R' -> [a, b]."""
    line = fn.__doc__.strip().splitlines()[0]
    inner = line[line.index("(") + 1:line.rindex(")")]
    names, depth, cur = [], 0, ""
    for ch in inner + ",":
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch == "," and depth == 0:
            if cur.strip():
                names.append(cur.split(":")[0].split("=")[0].strip())
            cur = ""
        else:
            cur += ch
    return names


@pytest.mark.skipif(not _C.built_with_cuda, reason="nabi was built without CUDA (the CUDA "
                    "entries' signatures exist only in a CUDA build; CI builds one)")
def test_emulator_signatures_match_the_cuda_backend():
    """Same parameter names in the same order, so that code tested on the emulator calls the
    real kernels correctly (keyword arguments included). An emulator entry that mirrors the CPU
    kernel takes its names from that kernel's signature."""
    import inspect
    from nabi.framework import cuda_emulator
    diffs = []
    for name in cuda_emulator.KERNEL_ENTRIES:
        real = _doc_params(getattr(_C.cuda_backend, name))
        emu_fn = getattr(cuda_emulator, name)
        params = list(inspect.signature(emu_fn).parameters.values())
        if params and params[0].kind is inspect.Parameter.VAR_POSITIONAL:
            emu = _doc_params(getattr(_C, name))  # a _mirror of the CPU kernel
        else:
            emu = [p.name for p in params]
        if real != emu:
            diffs.append(f"{name}: cuda {real} vs emulator {emu}")
    assert not diffs, "\n".join(diffs)


def test_tf32_opt_in_reaches_the_gpu_gemm(gpu):
    """nabi.config.experimental.enable_tensor_float_32_execution switches the GPU GEMM to TF32
    (inputs rounded to 10 mantissa bits, float32 accumulation); off again gives float32."""
    r = np.random.default_rng(3)
    a = r.standard_normal((64, 96)).astype(np.float32)
    b = r.standard_normal((96, 48)).astype(np.float32)

    def tf32(x):  # round to nearest, ties away from zero, to 10 mantissa bits
        u = x.view(np.uint32)
        return ((u + np.uint32(0x1000)) & np.uint32(0xFFFFE000)).view(np.float32)
    exact = a.astype(np.float64) @ b.astype(np.float64)
    ref32 = tf32(a).astype(np.float64) @ tf32(b).astype(np.float64)
    try:
        nabi.config.experimental.enable_tensor_float_32_execution(True)
        assert nabi.config.experimental.tensor_float_32_execution_enabled()
        got = nabi.matmul(nabi.constant(a), nabi.constant(b)).numpy()
        np.testing.assert_allclose(got, ref32, rtol=1e-4, atol=1e-4)
        assert np.abs(got - exact).max() > 1e-4  # really rounded: TF32 errors are ~1e-3
    finally:
        nabi.config.experimental.enable_tensor_float_32_execution(False)
    got = nabi.matmul(nabi.constant(a), nabi.constant(b)).numpy()
    np.testing.assert_allclose(got, exact, rtol=1e-5, atol=1e-4)


def test_shape_tensors_are_known_on_the_host(gpu):
    """tf.shape(x)[0] of a GPU tensor feeds tf.zeros / tf.ones / tf.random shapes with its
    host-known value (as TF keeps shape tensors in host memory); tf.get_static_value."""
    x = nabi.constant(np.zeros((5, 3, 2), np.float32))
    assert x.device.endswith("GPU:0") or "cuda" in x.device
    s = nabi.shape(x)
    assert isinstance(s._data, dev.DeviceArray)
    n = s[0]
    np.testing.assert_array_equal(nabi.get_static_value(s), [5, 3, 2])
    assert int(nabi.get_static_value(n)) == 5 and nabi.get_static_value(s[1:]).tolist() == [3, 2]
    assert nabi.zeros((n, 4)).shape == (5, 4)
    assert nabi.ones(s).shape == (5, 3, 2)
    assert nabi.random.normal((n, 7)).shape == (5, 7)
    assert nabi.random.uniform(nabi.shape(nabi.ones((n, 1)))).shape == (5, 1)
    assert int(nabi.size(x)) == 30 and int(nabi.rank(x)) == 3
    # a computed device tensor has no static value; its numbers still come right
    assert nabi.get_static_value(x * 2.0) is None
    assert nabi.zeros(nabi.shape(x) + 1).shape == (6, 4, 3)


def test_custom_train_step_does_not_synchronise_on_the_simulator():
    """A GAN-style train_step on the GPU (tf.shape(x)[0] into tf.random.normal / tf.ones /
    tf.zeros, two tapes, two optimizers, Mean trackers) makes no synchronisation per step: the
    epoch's end reads the logs, nothing else (tf.shape used to be read back, 6 times a step)."""
    cb = _C.cuda_backend
    if not hasattr(cb, "_sim_stats"):
        pytest.skip("needs the CUDA host simulator build (tools/sim-build.sh)")
    K = nabi.keras

    class Pair(K.Model):
        def __init__(self):
            super().__init__()
            self.gen = K.Sequential([K.Input((4,)), K.layers.Dense(6)])
            self.disc = K.Sequential([K.Input((6,)), K.layers.Dense(1)])
            self.d_tracker = K.metrics.Mean(name="d_loss")

        def compile(self):
            super().compile()
            self.d_opt, self.g_opt = K.optimizers.Adam(1e-3), K.optimizers.Adam(1e-3)
            self.bce = K.losses.BinaryCrossentropy(from_logits=True)

        def train_step(self, real):
            n = nabi.shape(real)[0]
            fake = self.gen(nabi.random.normal((n, 4)))
            both = nabi.concat([fake, real], axis=0)
            labels = nabi.concat([nabi.ones((n, 1)), nabi.zeros((n, 1))], axis=0)
            with nabi.GradientTape() as tape:
                d_loss = self.bce(labels, self.disc(both))
            g = tape.gradient(d_loss, self.disc.trainable_weights)
            self.d_opt.apply_gradients(zip(g, self.disc.trainable_weights))
            with nabi.GradientTape() as tape:
                g_loss = self.bce(nabi.zeros((n, 1)),
                                  self.disc(self.gen(nabi.random.normal((n, 4)))))
            g = tape.gradient(g_loss, self.gen.trainable_weights)
            self.g_opt.apply_gradients(zip(g, self.gen.trainable_weights))
            self.d_tracker.update_state(d_loss)
            return {"d_loss": self.d_tracker.result()}

    x = rng.standard_normal((32, 6)).astype(np.float32)
    m = Pair()
    m.compile()
    m.fit(x, batch_size=8, epochs=1, verbose=0)
    cb._sim_stats(True)
    h = m.fit(x, batch_size=8, epochs=2, verbose=0)
    s = cb._sim_stats(True)
    assert s["syncs"] <= 2 * 2, s  # per epoch: the end's logs only (4 steps each)
    assert s["mallocs"] == 0, s
    assert np.isfinite(h.history["d_loss"]).all()


def test_small_int_types_on_the_gpu_warn_once_and_keep_values(gpu, monkeypatch):
    # The GPU backend has no 8/16-bit types: uint8 data is widened to int64 on the way there.
    # Not silent: one warning per dtype says so (values are kept).
    monkeypatch.setattr(dev, "_WIDENED", set())
    img = np.array([[0, 128, 255]], np.uint8)
    with pytest.warns(UserWarning, match=r"uint8 data placed on the GPU is stored as int64"):
        t = nabi.constant(img)
    assert t.dtype == nabi.int64 and "GPU" in t.device
    np.testing.assert_array_equal(t.numpy(), [[0, 128, 255]])
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        nabi.constant(img)                      # the second time: no warning
