"""Index checks of GPU training paths without a read back per step.

Integer ids and labels uploaded by a Keras step carry their (min, max), taken on the host
(DeviceArray.value_range, device.known_range); gather, Embedding, segment_sum and the sparse
cross-entropy check against it and read nothing back. Ids whose range is unknown (computed on
the device) are checked with one read (min and max together), not again by the next op, and
the kernels after a check read no index flag of their own. Bad ids raise the same clear error
on every device.

Op tests take conftest's `where` fixture (CPU, emulated GPU, real GPU or the CUDA host
simulator) and compare with NumPy references. Reads are counted on the simulator
(cuda_backend._sim_stats: device-to-host copies) and on the emulator (DeviceArray.get); they are
not counted on the CPU or a real GPU.
"""
import os

import numpy as np
import pytest

import nabi
from nabi import _C
from nabi.framework import device as dev
from nabi.framework.tensor import _wrap

from conftest import check_reads, reads_on

cb = _C.cuda_backend


def _upload(a, where):
    """A batch array as a Keras step uploads it (range known on the host) on the GPU."""
    if where == "/CPU:0":
        return nabi.constant(np.asarray(a))
    return _wrap(dev.to_gpu_all(np.asarray(a), True))


def _np(t):
    return t.numpy() if hasattr(t, "numpy") else np.asarray(t)


IDS = np.array([[1, 3, 3], [0, 9, 3]], np.int32)


# ---------------------------------------------------------------- references
def ref_embedding_grad(ids, upstream, n):
    g = np.zeros((n, upstream.shape[-1]), np.float64)
    for i, v in np.ndenumerate(ids):
        g[v] += upstream[i]
    return g


def ref_segment_sum(data, ids, num):
    out = np.zeros((num,) + data.shape[1:], np.float64)
    for i, s in enumerate(ids):
        if 0 <= s < num:
            out[s] += data[i]
    return out


def ref_scce(labels, y, from_logits):
    y = y.astype(np.float64)
    if from_logits:
        z = y - y.max(-1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(-1, keepdims=True))
        return np.array([-logp[i, l] for i, l in enumerate(labels)])
    eps = 1e-7
    c = np.clip(y, eps, 1 - eps)   # Keras: clip, then renormalise the clipped values
    return np.array([np.log(c[i].sum()) - np.log(c[i, l]) for i, l in enumerate(labels)])


# ---------------------------------------------------------------- value_range
def test_known_range_survives_views_and_not_writes(gpu):
    a = dev.to_gpu_all(np.array([[2, 5, 7], [3, 4, 9]], np.int32), True)
    assert dev.known_range(a) == (2, 9)
    assert dev.known_range(a.astype(np.int64)) == (2, 9)
    assert dev.known_range(a.astype(np.int64).astype(np.int32)) == (2, 9)
    assert dev.known_range(a.reshape(-1)) == (2, 9)
    assert dev.known_range(np.expand_dims(a, -1)) == (2, 9)
    assert dev.known_range(a[1:]) == (2, 9)          # a bound of the slice's values
    assert dev.known_range(a[:, 0]) == (2, 9)
    assert dev.known_range(a.astype(np.float32)) is None
    assert dev.known_range(a + 1) is None
    assert dev.in_range(a, 10) and not dev.in_range(a, 9)
    b = a.copy()
    assert dev.known_range(b) == (2, 9)
    b[0, 0] = 100
    assert dev.known_range(b) is None
    assert dev.known_range(dev.to_gpu_all(np.array([1, 2]))) is None   # not asked for
    assert dev.known_range(np.array([1, 2])) is None                    # host: check directly


# ---------------------------------------------------------------- Embedding
@pytest.mark.parametrize("known", [True, False])
def test_embedding_forward_backward_reads(where, monkeypatch, known):
    count = reads_on(where, monkeypatch)
    with nabi.device(where):
        layer = nabi.keras.layers.Embedding(10, 4)
        layer.build((None, 3))
        w = _np(layer.embeddings).astype(np.float64)
        ids = _upload(IDS, where) if known else nabi.constant(IDS)
        up = np.random.default_rng(0).standard_normal((2, 3, 4)).astype(np.float32)
        upt = nabi.constant(up)

        def fwd():
            with nabi.GradientTape() as tape:
                out = layer(ids)
                loss = nabi.reduce_sum(out * upt)
            return out, tape, loss
        r1, (out, tape, loss) = count(fwd)
        r2, g = count(lambda: tape.gradient(loss, layer.embeddings))
    check_reads(r1, 0 if known else 1)   # unknown: min and max in one read, gather adds none
    check_reads(r2, 0)
    np.testing.assert_allclose(_np(out), w[IDS], rtol=1e-6)
    np.testing.assert_allclose(_np(g), ref_embedding_grad(IDS, up, 10), rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------- gather
@pytest.mark.parametrize("known", [True, False])
def test_gather_reads_and_gradient(where, monkeypatch, known):
    count = reads_on(where, monkeypatch)
    p = np.random.default_rng(1).standard_normal((5, 3)).astype(np.float32)
    idx = np.array([4, 0, 2, 2], np.int64)
    with nabi.device(where):
        params = nabi.Variable(p)
        ind = _upload(idx, where) if known else nabi.constant(idx)

        def fwd():
            with nabi.GradientTape() as tape:
                out = nabi.gather(params, ind)
                loss = nabi.reduce_sum(out * nabi.constant(np.arange(12.0, dtype=np.float32)
                                                           .reshape(4, 3)))
            return out, tape, loss
        r1, (out, tape, loss) = count(fwd)
        r2, g = count(lambda: tape.gradient(loss, params))
    check_reads(r1, 0 if known else 1)
    check_reads(r2, 0)
    np.testing.assert_allclose(_np(out), p[idx], rtol=1e-6)
    np.testing.assert_allclose(_np(g), ref_embedding_grad(idx, np.arange(12.0).reshape(4, 3), 5),
                               rtol=1e-6)


# ---------------------------------------------------------------- segment sums
def test_segment_sum_reads_and_gradient(where, monkeypatch):
    count = reads_on(where, monkeypatch)
    d = np.random.default_rng(2).standard_normal((6, 2)).astype(np.float32)
    sorted_ids = np.array([0, 0, 1, 3, 3, 3], np.int32)
    unsorted = np.array([2, -1, 0, 2, 1, 0], np.int64)
    with nabi.device(where):
        x = nabi.Variable(d)
        si, ui = nabi.constant(sorted_ids), nabi.constant(unsorted)
        uk = _upload(unsorted, where)

        def fwd():
            with nabi.GradientTape() as tape:
                s = nabi.math.segment_sum(x, si)
                u = nabi.math.unsorted_segment_sum(x, ui, 3)
                loss = nabi.reduce_sum(s * s) + nabi.reduce_sum(u * u)
            return s, u, tape, loss
        r1, (s, u, tape, loss) = count(fwd)
        r2, g = count(lambda: tape.gradient(loss, x))
        r3, uk_out = count(lambda: nabi.math.unsorted_segment_sum(x, uk, 3))
    check_reads(r1, 2)   # segment_sum: its size and checks in one; unsorted: its max
    check_reads(r2, 0)
    check_reads(r3, 0)   # a known range: no read
    rs, ru = ref_segment_sum(d, sorted_ids, 4), ref_segment_sum(d, unsorted, 3)
    np.testing.assert_allclose(_np(s), rs, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(_np(u), ru, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(_np(uk_out), ru, rtol=1e-5, atol=1e-6)
    # d loss / d x[i] = 2 s[seg(i)] + 2 u[useg(i)] (dropped rows: no u term)
    want = 2 * rs[sorted_ids] + np.where((unsorted >= 0)[:, None], 2 * ru[unsorted], 0)
    np.testing.assert_allclose(_np(g), want, rtol=1e-5, atol=1e-6)


def test_segment_sum_errors_on_every_device(where):
    with nabi.device(where):
        x = nabi.constant(np.ones((3, 2), np.float32))
        with pytest.raises(ValueError, match=r"\[unsorted_segment_sum\] segment id 5 is out of "
                                             r"range \[0, 3\)"):
            nabi.math.unsorted_segment_sum(x, nabi.constant(np.array([0, 5, 1])), 3)
        with pytest.raises(ValueError, match=r"\[segment_sum\] segment_ids must be sorted"):
            nabi.math.segment_sum(x, nabi.constant(np.array([1, 0, 2])))
        with pytest.raises(ValueError, match=r"\[segment_sum\] segment ids must be non-negative"):
            nabi.math.segment_sum(x, nabi.constant(np.array([-1, 0, 2])))


# ---------------------------------------------------------------- sparse cross-entropy
@pytest.mark.parametrize("from_logits", [True, False])
@pytest.mark.parametrize("known", [True, False])
def test_sparse_ce_reads(where, monkeypatch, from_logits, known):
    count = reads_on(where, monkeypatch)
    rng = np.random.default_rng(3)
    labels = np.array([2, 0, 1, 2], np.int64)
    y = rng.standard_normal((4, 3)).astype(np.float32) if from_logits else \
        rng.uniform(0.05, 1, (4, 3)).astype(np.float32)
    fn = nabi.keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits,
                                                         reduction="none")
    with nabi.device(where):
        yt = _upload(labels, where) if known else nabi.constant(labels)
        yp = nabi.constant(y)
        r, v = count(lambda: fn(yt, yp))
    # unknown labels: the fused kernel's flag (logits; the emulated kernel's is no
    # DeviceArray read) or the range check's one read
    emulated = os.environ.get("NABI_EMULATE_CUDA") == "1"
    check_reads(r, 0 if known or (from_logits and emulated) else 1)
    np.testing.assert_allclose(_np(v), ref_scce(labels, y, from_logits), rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------- a fit step
def _models():
    L = nabi.keras.layers
    emb = nabi.keras.Sequential([L.Embedding(10, 4), L.LSTM(3), L.Dense(3, activation="softmax")])
    mlp = nabi.keras.Sequential([L.Dense(5, activation="relu"), L.Dense(3, activation="softmax")])
    return emb, mlp


def test_embedding_lstm_fit_reads_no_more_than_a_dense_fit(where, monkeypatch):
    count = reads_on(where, monkeypatch)
    x = (np.arange(40).reshape(8, 5) % 9).astype(np.int32)   # id 9 is never used
    xf = np.linspace(0, 1, 48, dtype=np.float32).reshape(8, 6)
    y = np.array([0, 1, 2, 1, 0, 2, 1, 0])
    with nabi.device(where):
        emb, mlp = _models()
        for m in (emb, mlp):
            m.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        emb.fit(x, y, batch_size=4, epochs=1, verbose=0)
        mlp.fit(xf, y, batch_size=4, epochs=1, verbose=0)
        before = _np(emb.layers[0].embeddings).copy()
        r_emb, h = count(lambda: emb.fit(x, y, batch_size=4, epochs=1, verbose=0))
        r_mlp, _ = count(lambda: mlp.fit(xf, y, batch_size=4, epochs=1, verbose=0))
        r_pred, p = count(lambda: emb.predict(x, batch_size=4, verbose=0))
    if r_emb is not None:
        assert r_emb == r_mlp, (r_emb, r_mlp)   # the epoch-end logs only
        assert r_pred == 1                      # the predictions, once
    after = _np(emb.layers[0].embeddings)
    assert np.isfinite(h.history["loss"][0]) and p.shape == (8, 3)
    np.testing.assert_array_equal(after[9], before[9])   # no gradient, no RMSprop step
    assert not np.array_equal(after[:9], before[:9])


# ---------------------------------------------------------------- errors
@pytest.mark.parametrize("known", [True, False])
def test_bad_ids_raise_the_same_error_everywhere(where, known):
    bad = np.array([[1, 10, 3], [0, -2, 3]], np.int32)
    with nabi.device(where):
        layer = nabi.keras.layers.Embedding(10, 4, name="emb")
        ids = _upload(bad, where) if known else nabi.constant(bad)
        with pytest.raises(ValueError, match=r"\[emb\] ids of shape \(2, 3\) must be in "
                                             r"\[0, 10\) \(input_dim\), got range \[-2, 10\]"):
            layer(ids)
        p = nabi.constant(np.ones((5, 2), np.float32))
        with pytest.raises(IndexError, match=r"\[gather\] indices must be in \[0, 5\) for params "
                                             r"of shape \(5, 2\) on axis 0, got range \[-2, 10\]"):
            nabi.gather(p, ids)
        lab = _upload(np.array([0, 3, 1]), where) if known else nabi.constant(np.array([0, 3, 1]))
        for logits in (True, False):
            fn = nabi.keras.losses.SparseCategoricalCrossentropy(from_logits=logits)
            with pytest.raises(ValueError, match=r"\[sparse_categorical_crossentropy\] label 3 "
                                                 r"is out of range for 3 classes"):
                fn(lab, nabi.constant(np.full((3, 3), 0.3, np.float32)))


def test_a_loose_known_range_is_not_an_error(where, monkeypatch):
    """A slice of an uploaded batch keeps the batch's range as a bound: ids outside [0, n) in
    the bound but not in the slice are checked (one read) and pass."""
    count = reads_on(where, monkeypatch)
    with nabi.device(where):
        b = _upload(np.array([[0, 12], [1, 2]], np.int32), where)
        part = b[1:]
        layer = nabi.keras.layers.Embedding(10, 2)
        layer.build((None, 2))
        r, out = count(lambda: layer(part))
    check_reads(r, 1)
    np.testing.assert_allclose(_np(out), _np(layer.embeddings)[[[1, 2]]], rtol=1e-6)


def test_fit_with_an_id_out_of_range_names_the_layer(where):
    x = np.array([[1, 2], [3, 10]], np.int32)
    with nabi.device(where):
        m = nabi.keras.Sequential([nabi.keras.layers.Embedding(10, 2, input_length=2, name="words"),
                                   nabi.keras.layers.Flatten(), nabi.keras.layers.Dense(1)])
        m.compile(optimizer="sgd", loss="mse")
        with pytest.raises(ValueError, match=r"\[words\] ids of shape \(2, 2\) must be in "
                                             r"\[0, 10\) \(input_dim\), got range \[1, 10\]"):
            m.fit(x, np.zeros((2, 1), np.float32), verbose=0)


def test_gather_second_order_stays_on_the_device(where, monkeypatch):
    """d/dw sum(c * d/dp sum(w * gather(p, idx))) = c[idx] (the gradient's gradient gathers
    again, with the ids already checked: no read)."""
    count = reads_on(where, monkeypatch)
    rng = np.random.default_rng(4)
    p0, w0, c = (rng.standard_normal(s).astype(np.float32) for s in ((5, 2), (4, 2), (5, 2)))
    idx = np.array([3, 0, 3, 4], np.int64)
    with nabi.device(where):
        p, w = nabi.Variable(p0), nabi.Variable(w0)
        ind = _upload(idx, where)
        ct = nabi.constant(c)

        def run():
            with nabi.GradientTape() as outer:
                with nabi.GradientTape() as inner:
                    y = nabi.reduce_sum(w * nabi.gather(p, ind))
                g = inner.gradient(y, p)
                z = nabi.reduce_sum(ct * g)
            return g, outer.gradient(z, w)
        r, (g, gw) = count(run)
    check_reads(r, 0)
    np.testing.assert_allclose(_np(g), ref_embedding_grad(idx, w0, 5), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(_np(gw), c[idx], rtol=1e-6)


@pytest.mark.parametrize("kind", ["emu", "cuda"])
def test_checked_take_and_scatter_add_guard_every_index(kind):
    """take / scatter_add(checked=True) trust the caller's bound and read no flag back; should
    that bound ever be wrong, the kernels still never touch memory outside their buffers: an
    index outside [-n, n) gathers 0 and scatters nothing (TF's GPU gather gives 0 too), and
    negative ones count from the end as in the checked call."""
    if kind == "cuda":
        be = _C.cuda_backend
        if not be.is_available():
            pytest.skip("no CUDA GPU available (" + be.unavailable_reason() + ")")
    else:
        from nabi.framework import cuda_emulator as be
    x = np.arange(12, dtype=np.float32).reshape(3, 4) + 1
    idx = np.array([2, 5, -1, -9, 0, 3, 1 << 20], np.int64)
    ok = np.array([True, False, True, False, True, True, False])
    wrapped = np.where(idx < 0, idx + 4, idx)

    def np_of(b):
        return b.numpy() if hasattr(b, "numpy") else be.to_numpy(b)
    buf = be.DeviceBuffer.from_numpy
    got = np_of(be.take(buf(x), buf(idx), 1, True))
    want = np.where(ok, x[:, np.where(ok, wrapped, 0)], 0)
    np.testing.assert_array_equal(got, want)
    u = np.arange(21, dtype=np.float32).reshape(3, 7) + 1
    got = np_of(be.scatter_add(buf(u), buf(idx), 1, 4, True))
    want = np.zeros((3, 4), np.float32)
    for j in range(7):
        if ok[j]:
            want[:, wrapped[j]] += u[:, j]
    np.testing.assert_array_equal(got, want)
    with pytest.raises(IndexError, match="take"):   # unchecked: the bad index still raises
        np_of(be.take(buf(x), buf(idx), 1))
