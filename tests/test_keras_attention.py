"""MultiHeadAttention, EinsumDense, Attention and AdditiveAttention (Keras 2.11+ semantics).

Forward values and gradients (w.r.t. the inputs and every weight, through the tape) are checked
against the independent NumPy references below: the forward in float64 (and float32 at a loose
tolerance), the gradients against float64 central differences of the NumPy reference. The
`where` fixture runs each check on the CPU, the emulated GPU and (when present) the real one
or the CUDA host simulator. Also: Keras masks (Embedding(mask_zero)), causal masks, configs,
weight names, a small transformer classifier that trains and round-trips through .keras/.h5,
and errors that name the layer and the shapes."""
import numpy as np
import pytest

import nabi
from nabi import keras
from nabi.keras import layers as L
from nabi.keras.layers.base import get_mask

NEG = 1e9   # Keras 2's large negative for float32/float64 masked scores


@pytest.fixture(autouse=True)
def _fresh_names():
    keras.backend.clear_session()
    yield


def on_device(where, t):
    want = "GPU" if "GPU" in where else "CPU"
    assert want in t.device, (where, t.device)


# ---------------------------------------------------------------------------- NumPy references


def np_softmax(x, axes=(-1,)):
    m = x.max(axis=axes, keepdims=True)
    e = np.exp(x - m)
    return e / e.sum(axis=axes, keepdims=True)


def np_mha(q, v, k, weights, key_dim, mask=None, use_bias=True):
    """Keras 2 MHA for (B, T, D) inputs. weights: [Wq, (bq), Wk, (bk), Wv, (bv), Wo, (bo)];
    mask: a 0/1 array broadcastable to (B, T, S). Returns (output, scores (B, N, T, S))."""
    if use_bias:
        Wq, bq, Wk, bk, Wv, bv, Wo, bo = weights
    else:
        Wq, Wk, Wv, Wo = weights
        bq = bk = bv = bo = 0.0
    Q = np.einsum("btd,dnh->btnh", q, Wq) + bq
    K = np.einsum("bsd,dnh->bsnh", k, Wk) + bk
    V = np.einsum("bsd,dnh->bsnh", v, Wv) + bv
    Q = Q / np.sqrt(key_dim)
    S = np.einsum("bsnh,btnh->bnts", K, Q)
    if mask is not None:
        S = np.where(np.asarray(mask, bool)[:, None], S, -NEG)   # Keras 3 replaces them
    P = np_softmax(S)
    O = np.einsum("bnts,bsnh->btnh", P, V)
    return np.einsum("btnh,nhd->btd", O, Wo) + bo, P


def np_dense_attention(q, v, k, scores_fn, q_mask=None, v_mask=None, causal=False):
    """Keras 2 Attention/AdditiveAttention given the score function."""
    s = scores_fn(q, k)
    keep = np.ones(s.shape)
    if v_mask is not None:
        keep = keep * v_mask[:, None, :]
    if causal:
        keep = keep * np.tril(np.ones(s.shape[-2:]))
    s = s - NEG * (1.0 - keep)
    w = np_softmax(s)
    out = w @ v
    if q_mask is not None:
        out = out * q_mask[:, :, None]
    return out, w


def num_grads(f, arrays, c, eps=1e-6):
    """Central differences of sum(f(*arrays) * c) w.r.t. each array (float64)."""
    arrays = [np.array(a, dtype=np.float64) for a in arrays]
    out = []
    for a in arrays:
        g = np.zeros_like(a)
        flat, gflat = a.reshape(-1), g.reshape(-1)
        for i in range(flat.size):
            old = flat[i]
            flat[i] = old + eps
            fp = np.sum(f(*arrays) * c)
            flat[i] = old - eps
            fm = np.sum(f(*arrays) * c)
            flat[i] = old
            gflat[i] = (fp - fm) / (2 * eps)
        out.append(g)
    return out


def tape_run(where, layer_call, arrays, variables, c):
    """y = layer_call(*tensors) on `where`; gradients of sum(y * c) w.r.t. the tensors and
    `variables` (callable giving the layer's weights after the call)."""
    with nabi.device(where):
        ts = [nabi.constant(a) for a in arrays]
        with nabi.GradientTape() as tape:
            for t in ts:
                tape.watch(t)
            y = layer_call(*ts)
            out = y[0] if isinstance(y, tuple) else y
            loss = nabi.reduce_sum(out * nabi.constant(c))
        ws = variables()
        grads = tape.gradient(loss, ts + list(ws))
    return y, grads


def check_grads(grads, ref, rtol=1e-5, atol=1e-7, names=None):
    assert len(grads) == len(ref)
    for i, (g, r) in enumerate(zip(grads, ref)):
        assert g is not None, f"no gradient for {names[i] if names else i}"
        np.testing.assert_allclose(g.numpy(), r, rtol=rtol, atol=atol,
                                   err_msg=f"gradient of {names[i] if names else i}")


def randomize(layer, rng, scale=0.5):
    ws = [rng.standard_normal(w.shape) * scale for w in layer.get_weights()]
    layer.set_weights(ws)
    return [np.asarray(w, np.float64) for w in ws]


# ---------------------------------------------------------------------------- MultiHeadAttention

MHA_CASES = {
    # name: (layer kwargs, T, S, Dq, Dv, Dk or None (key=value), mask kind, causal)
    "self": (dict(num_heads=2, key_dim=3), 3, 3, 4, 4, None, None, False),
    "cross_key_value_dim": (dict(num_heads=2, key_dim=2, value_dim=3, output_shape=5),
                            3, 4, 4, 3, 2, None, False),
    "mask_and_causal": (dict(num_heads=1, key_dim=3), 4, 4, 3, 3, None, "random", True),
    "mask_no_bias": (dict(num_heads=3, key_dim=2, use_bias=False), 2, 3, 3, 2, None,
                     "broadcast", False),
}


@pytest.mark.parametrize("case", list(MHA_CASES))
def test_mha_forward_and_gradients_float64(where, case):
    kw, T, S, Dq, Dv, Dk, mask_kind, causal = MHA_CASES[case]
    rng = np.random.default_rng(3)
    B = 2
    q = rng.standard_normal((B, T, Dq))
    v = rng.standard_normal((B, S, Dv))
    k = rng.standard_normal((B, S, Dk)) if Dk else None
    mask = None
    if mask_kind == "random":
        mask = rng.random((B, T, S)) > 0.3
        mask[:, :, 0] = True    # every query sees at least key 0 (causal keeps it)
    elif mask_kind == "broadcast":
        mask = rng.random((B, 1, S)) > 0.4
        mask[:, :, 1] = True
    with nabi.device(where):
        layer = L.MultiHeadAttention(dtype="float64", **kw)
        layer(q, v, key=k)
    weights = randomize(layer, rng)
    use_bias = kw.get("use_bias", True)

    ref_mask = None
    if mask is not None or causal:
        ref_mask = np.ones((B, T, S))
        if mask is not None:
            ref_mask = ref_mask * mask
        if causal:
            ref_mask = ref_mask * np.tril(np.ones((T, S)))
    arrays = [q, v] + ([k] if k is not None else [])

    def ref(*xs_and_ws):
        xs, ws = xs_and_ws[:len(arrays)], xs_and_ws[len(arrays):]
        kk = xs[2] if k is not None else xs[1]
        return np_mha(xs[0], xs[1], kk, ws, kw["key_dim"], ref_mask, use_bias)[0]

    want, want_scores = np_mha(q, v, k if k is not None else v, weights, kw["key_dim"],
                               ref_mask, use_bias)
    c = rng.standard_normal(want.shape)

    def call(*ts):
        return layer(ts[0], ts[1], key=ts[2] if k is not None else None, attention_mask=mask,
                     use_causal_mask=causal, return_attention_scores=True)
    (y, scores), grads = tape_run(where, call, arrays, lambda: layer.trainable_weights, c)
    on_device(where, y)
    assert y.dtype == nabi.float64
    np.testing.assert_allclose(y.numpy(), want, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(scores.numpy(), want_scores, rtol=1e-10, atol=1e-12)
    names = ["query", "value", "key"][:len(arrays)] + [w.name for w in layer.trainable_weights]
    check_grads(grads, num_grads(ref, arrays + weights, c), names=names)


def test_mha_float32_matches_reference(where):
    rng = np.random.default_rng(5)
    q = rng.standard_normal((3, 5, 6)).astype(np.float32)
    v = rng.standard_normal((3, 7, 6)).astype(np.float32)
    with nabi.device(where):
        layer = L.MultiHeadAttention(num_heads=2, key_dim=4, value_dim=3)
        y = layer(nabi.constant(q), nabi.constant(v))
        on_device(where, y)
    assert y.dtype == nabi.float32 and tuple(y.shape) == (3, 5, 6)
    ws = [w.astype(np.float64) for w in layer.get_weights()]
    want, _ = np_mha(q.astype(np.float64), v.astype(np.float64), v.astype(np.float64), ws, 4)
    np.testing.assert_allclose(y.numpy(), want, rtol=1e-4, atol=1e-5)


def test_mha_keras_masks_from_embedding(where):
    """Embedding(mask_zero=True) masks feed MHA: padded keys are ignored, padded queries too
    (query mask), and the output carries the query's mask."""
    rng = np.random.default_rng(11)
    ids_q = np.array([[3, 1, 4, 0, 0], [2, 7, 1, 8, 0]])
    ids_v = np.array([[5, 9, 0, 0], [2, 6, 5, 3]])
    with nabi.device(where):
        emb = L.Embedding(10, 4, mask_zero=True, dtype="float64")
        layer = L.MultiHeadAttention(num_heads=2, key_dim=3, dtype="float64")
        eq, ev = emb(ids_q), emb(ids_v)
        y = layer(eq, ev)
        on_device(where, y)
        m = get_mask(y)
    assert m is not None
    np.testing.assert_array_equal(np.asarray(m.numpy(), bool), ids_q != 0)
    ws = [np.asarray(w, np.float64) for w in layer.get_weights()]
    mask = (ids_q != 0)[:, :, None] & (ids_v != 0)[:, None, :]
    want, _ = np_mha(eq.numpy(), ev.numpy(), ev.numpy(), ws, 3, mask)
    np.testing.assert_allclose(y.numpy(), want, rtol=1e-10, atol=1e-12)
    _ = rng


@pytest.mark.parametrize("axes", [(1, 2), (2,)])
def test_mha_attention_axes(where, axes):
    """4-D inputs (B, X, Y, D): attention over (X, Y) equals MHA on the flattened sequence;
    over Y alone it is MHA run separately for each x."""
    rng = np.random.default_rng(2)
    B, X, Y, D = 2, 2, 3, 4
    q = rng.standard_normal((B, X, Y, D))
    v = rng.standard_normal((B, X, Y, D))
    with nabi.device(where):
        layer = L.MultiHeadAttention(num_heads=2, key_dim=2, attention_axes=axes,
                                     dtype="float64")
        layer(q, v)
    ws = randomize(layer, rng)
    c = rng.standard_normal((B, X, Y, D))

    def ref(q, v, *ws):
        if axes == (1, 2):
            out = np_mha(q.reshape(B, X * Y, D), v.reshape(B, X * Y, D),
                         v.reshape(B, X * Y, D), ws, 2)[0]
            return out.reshape(B, X, Y, D)
        return np.stack([np_mha(q[:, x], v[:, x], v[:, x], ws, 2)[0] for x in range(X)], 1)
    y, grads = tape_run(where, lambda a, b: layer(a, b), [q, v],
                        lambda: layer.trainable_weights, c)
    np.testing.assert_allclose(y.numpy(), ref(q, v, *ws), rtol=1e-10, atol=1e-12)
    check_grads(grads, num_grads(ref, [q, v] + ws, c))


def test_mha_dropout_training_only(where):
    rng = np.random.default_rng(0)
    q = rng.standard_normal((2, 4, 4)).astype(np.float32)
    with nabi.device(where):
        layer = L.MultiHeadAttention(num_heads=2, key_dim=2, dropout=0.5)
        ref_layer = L.MultiHeadAttention(num_heads=2, key_dim=2)
        y0, s0 = layer(q, q, return_attention_scores=True)
        ref_layer(q, q)
        ref_layer.set_weights(layer.get_weights())
        np.testing.assert_allclose(y0.numpy(), ref_layer(q, q).numpy(), rtol=1e-6)
        y1, s1 = layer(q, q, return_attention_scores=True, training=True)
    # scores are returned before the dropout (Keras 2); the output differs while training
    np.testing.assert_allclose(s1.numpy(), s0.numpy(), rtol=1e-6)
    assert not np.allclose(y1.numpy(), y0.numpy())


def test_mha_weights_names_config_and_rebuild():
    rng = np.random.default_rng(1)
    q = rng.standard_normal((2, 3, 5)).astype(np.float32)
    layer = L.MultiHeadAttention(num_heads=2, key_dim=4, value_dim=3, output_shape=(6,),
                                 name="mha")
    y = layer(q, q)
    assert tuple(y.shape) == (2, 3, 6)
    names = [w.name for w in layer.weights]
    assert names == ["mha/query/kernel:0", "mha/query/bias:0", "mha/key/kernel:0",
                     "mha/key/bias:0", "mha/value/kernel:0", "mha/value/bias:0",
                     "mha/attention_output/kernel:0", "mha/attention_output/bias:0"]
    assert [tuple(w.shape) for w in layer.weights] == [
        (5, 2, 4), (2, 4), (5, 2, 4), (2, 4), (5, 2, 3), (2, 3), (2, 3, 6), (6,)]
    cfg = layer.get_config()
    assert cfg["num_heads"] == 2 and cfg["key_dim"] == 4 and cfg["value_dim"] == 3
    assert "query_shape" not in cfg   # Keras 3: the shapes are in the build config
    assert layer.get_build_config() == {"shapes_dict": {"query_shape": [None, 3, 5],
                                                        "value_shape": [None, 3, 5]}}
    clone = L.MultiHeadAttention.from_config(cfg)
    clone.build_from_config(layer.get_build_config())
    assert clone.built and len(clone.weights) == 8   # built from the saved shapes
    assert L.MultiHeadAttention.from_config({**cfg, "query_shape": [None, 3, 5],
                                             "value_shape": [None, 3, 5]}).built  # Keras 2
    clone.set_weights(layer.get_weights())
    np.testing.assert_allclose(clone(q, q).numpy(), y.numpy(), rtol=1e-6)
    assert layer.count_params() == sum(int(np.prod(w.shape)) for w in layer.weights)


def _transformer_model(vocab=30, T=8, D=8):
    inp = keras.Input((T,), dtype="int32")
    x = L.Embedding(vocab, D, mask_zero=True)(inp)
    a = L.MultiHeadAttention(num_heads=2, key_dim=4, dropout=0.1)(x, x)
    x = L.LayerNormalization(epsilon=1e-6)(L.Add()([x, a]))
    f = L.Dense(D, activation="relu")(x)
    x = L.LayerNormalization(epsilon=1e-6)(L.Add()([x, f]))
    x = L.GlobalAveragePooling1D()(x)
    out = L.Dense(2, activation="softmax")(x)
    return keras.Model(inp, out)


def test_transformer_classifier_fits_saves_and_loads(where, tmp_path):
    rng = np.random.default_rng(0)
    X = rng.integers(1, 30, (32, 8))
    X[::2, 6:] = 0
    Y = (X[:, 0] >= 15).astype(np.int32)
    with nabi.device(where):
        keras.utils.set_random_seed(1) if hasattr(keras.utils, "set_random_seed") else None
        model = _transformer_model()
        model.compile(optimizer=keras.optimizers.Adam(0.01),
                      loss="sparse_categorical_crossentropy")
        hist = model.fit(X, Y, epochs=6, batch_size=16, verbose=0)
        losses = hist.history["loss"]
        assert losses[-1] < losses[0], losses
        p = model.predict(X, verbose=0)
        for name in ("m.keras", "m.h5"):
            path = str(tmp_path / name)
            model.save(path)
            loaded = keras.models.load_model(path)
            np.testing.assert_allclose(loaded.predict(X, verbose=0), p, rtol=1e-5, atol=1e-6)
            mha = [l for l in loaded.layers if isinstance(l, L.MultiHeadAttention)][0]
            assert mha.weights[0].name.endswith("query/kernel:0")


def test_mha_errors_name_layer_and_shapes():
    q3 = np.zeros((2, 3, 4), np.float32)
    with pytest.raises(ValueError, match=r"\[mha\].*rank >= 3.*\(2, 4\)"):
        L.MultiHeadAttention(2, 2, name="mha")(np.zeros((2, 4), np.float32),
                                               np.zeros((2, 4), np.float32))
    with pytest.raises(ValueError, match=r"\[mha2\].*key and value.*\(2, 5, 4\).*\(2, 3, 4\)"):
        L.MultiHeadAttention(2, 2, name="mha2")(q3, q3, key=np.zeros((2, 5, 4), np.float32))
    layer = L.MultiHeadAttention(2, 2, name="mha3")
    with pytest.raises(ValueError, match=r"\[mha3\].*attention_mask of shape \(2, 5, 5\).*"
                                         r"\(2, 2, 3, 3\)"):
        layer(q3, q3, attention_mask=np.ones((2, 5, 5), bool))
    with pytest.raises(ValueError, match=r"\[mha3\].*built for query shape \(None, 3, 4\).*"
                                         r"\(2, 3, 7\)"):
        layer(np.zeros((2, 3, 7), np.float32), q3)
    with pytest.raises(ValueError, match=r"num_heads must be a positive integer.*0"):
        L.MultiHeadAttention(0, 2)
    with pytest.raises(TypeError, match=r"\[mha4\].*`query` and `value` are required"):
        L.MultiHeadAttention(2, 2, name="mha4")(q3)
    with pytest.raises(ValueError, match=r"\[mha5\].*attention_axes=\(3,\)"):
        L.MultiHeadAttention(2, 2, attention_axes=3, name="mha5")(q3, q3)


# ---------------------------------------------------------------------------- EinsumDense

EINSUM_CASES = [
    # equation, output_shape, bias_axes, input shape, kernel shape, bias shape
    ("ab,bc->ac", 4, "c", (3, 5), (5, 4), (4,)),
    ("abc,cd->abd", (None, 4), "d", (2, 3, 5), (5, 4), (4,)),
    ("...b,bc->...c", 4, None, (2, 3, 5), (5, 4), None),
    ("abc,cde->abde", (None, 2, 3), "de", (2, 3, 5), (5, 2, 3), (2, 3)),
    ("ab...,bc->ac...", 4, "c", (2, 5, 3), (5, 4), (4, 1)),
]


@pytest.mark.parametrize("eq,out_shape,bias_axes,in_shape,kshape,bshape", EINSUM_CASES)
def test_einsum_dense_forward_and_gradients(where, eq, out_shape, bias_axes, in_shape, kshape,
                                            bshape):
    rng = np.random.default_rng(4)
    x = rng.standard_normal(in_shape)
    with nabi.device(where):
        layer = L.EinsumDense(eq, output_shape=out_shape, bias_axes=bias_axes,
                              activation="tanh", dtype="float64")
        layer(x)
    assert tuple(layer.kernel.shape) == kshape
    assert (layer.bias is None and bshape is None) or tuple(layer.bias.shape) == bshape
    ws = randomize(layer, rng)

    def ref(x, kern, bias=None):
        y = np.einsum(eq, x, kern)
        return np.tanh(y + bias if bias is not None else y)
    want = ref(x, *ws)
    c = rng.standard_normal(want.shape)
    y, grads = tape_run(where, lambda t: layer(t), [x], lambda: layer.trainable_weights, c)
    on_device(where, y)
    np.testing.assert_allclose(y.numpy(), want, rtol=1e-10, atol=1e-12)
    check_grads(grads, num_grads(ref, [x] + ws, c))
    clone = L.EinsumDense.from_config(layer.get_config())
    clone(x)
    clone.set_weights(layer.get_weights())
    np.testing.assert_allclose(clone(x).numpy(), want, rtol=1e-10)


def test_einsum_dense_in_a_model_and_errors():
    inp = keras.Input((3, 5))
    out = L.EinsumDense("abc,cd->abd", output_shape=(None, 4), bias_axes="d")(inp)
    assert tuple(out.shape) == (None, 3, 4)
    assert keras.layers.experimental.EinsumDense is L.EinsumDense
    with pytest.raises(ValueError, match=r"\[ed\].*invalid einsum equation 'ab->b'"):
        L.EinsumDense("ab->b", 4, name="ed")(np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match=r"\[ed2\].*bias axis 'z'"):
        L.EinsumDense("ab,bc->ac", 4, bias_axes="z", name="ed2")(np.zeros((2, 3), np.float32))
    layer = L.EinsumDense("ab,bc->ac", 4, name="ed3")
    layer(np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match=r"\[ed3\].*built for inputs of shape \(2, 3\).*"
                                         r"\(2, 5\)"):
        layer(np.zeros((2, 5), np.float32))


# ---------------------------------------------------------------------------- Attention layers


def dot_scores(scale=None):
    return lambda q, k: (q @ np.swapaxes(k, -1, -2)) * (1.0 if scale is None else scale)


def concat_scores(scale, weight):
    return lambda q, k: weight * np.tanh(scale * (q[:, :, None] + k[:, None])).sum(-1)


def additive_scores(scale):
    return lambda q, k: (scale * np.tanh(q[:, :, None] + k[:, None])).sum(-1)


ATT_CASES = {
    # name: (class, kwargs, with key, masks, causal)
    "dot": (L.Attention, {}, False, False, False),
    "dot_scale_key_masks": (L.Attention, {"use_scale": True}, True, True, False),
    "concat_causal": (L.Attention, {"score_mode": "concat", "use_scale": True}, True, False,
                      True),
    "additive_masks": (L.AdditiveAttention, {}, False, True, False),
    "additive_noscale_causal_key": (L.AdditiveAttention, {"use_scale": False}, True, True,
                                    True),
}


@pytest.mark.parametrize("case", list(ATT_CASES))
def test_dense_attention_forward_and_gradients(where, case):
    cls, kw, with_key, masks, causal = ATT_CASES[case]
    rng = np.random.default_rng(8)
    B, Tq, Tv, D, Dv = 2, 3, 4, 3, 2
    q = rng.standard_normal((B, Tq, D))
    v = rng.standard_normal((B, Tv, Dv if with_key else D))
    k = rng.standard_normal((B, Tv, D)) if with_key else None
    q_mask = np.array([[1, 1, 0], [1, 1, 1]], bool) if masks else None
    v_mask = np.array([[1, 1, 1, 0], [1, 0, 1, 1]], bool) if masks else None
    with nabi.device(where):
        layer = cls(dtype="float64", **kw)
        inputs = [q, v] + ([k] if with_key else [])
        layer(inputs)
    ws = randomize(layer, rng, 1.0)
    arrays = inputs

    def ref(*xs_and_ws):
        xs, w = xs_and_ws[:len(arrays)], list(xs_and_ws[len(arrays):])
        qq, vv = xs[0], xs[1]
        kk = xs[2] if with_key else vv
        if cls is L.AdditiveAttention:
            fn = additive_scores(w[0] if w else 1.0)
        elif kw.get("score_mode") == "concat":
            fn = concat_scores(w[0], w[1])
        else:
            fn = dot_scores(w[0] if w else None)
        return np_dense_attention(qq, vv, kk, fn, q_mask, v_mask, causal)

    want, want_w = ref(*(arrays + ws))
    c = rng.standard_normal(want.shape)

    def call(*ts):
        return layer(list(ts), mask=[q_mask, v_mask] if masks else None,
                     return_attention_scores=True, use_causal_mask=causal)
    (y, w), grads = tape_run(where, call, arrays, lambda: layer.trainable_weights, c)
    on_device(where, y)
    np.testing.assert_allclose(y.numpy(), want, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(w.numpy(), want_w, rtol=1e-10, atol=1e-12)
    check_grads(grads, num_grads(lambda *a: ref(*a)[0], arrays + ws, c))
    cfg = layer.get_config()
    assert cfg["dropout"] == 0.0
    clone = cls.from_config(cfg)
    assert clone.get_config() == cfg


def test_dense_attention_embedding_masks_and_model(where, tmp_path):
    """Keras masks reach Attention through the inputs; the output carries the query mask;
    a functional model with Attention and AdditiveAttention round-trips through .keras."""
    ids_q = np.array([[1, 2, 0], [3, 0, 0]])
    ids_v = np.array([[4, 5, 6, 0], [1, 1, 0, 0]])
    with nabi.device(where):
        emb = L.Embedding(8, 3, mask_zero=True, dtype="float64")
        att = L.Attention(dtype="float64")
        eq, ev = emb(ids_q), emb(ids_v)
        y = att([eq, ev])
        m = get_mask(y)
        assert m is not None
        np.testing.assert_array_equal(np.asarray(m.numpy(), bool), ids_q != 0)
        want, _ = np_dense_attention(eq.numpy(), ev.numpy(), ev.numpy(), dot_scores(),
                                     ids_q != 0, ids_v != 0)
        np.testing.assert_allclose(y.numpy(), want, rtol=1e-10, atol=1e-12)

        qi, vi = keras.Input((3,), dtype="int32"), keras.Input((4,), dtype="int32")
        e = L.Embedding(8, 4, mask_zero=True)
        a1 = L.Attention(use_scale=True)([e(qi), e(vi)])
        a2 = L.AdditiveAttention()([e(qi), e(vi)])
        out = L.Dense(1)(L.GlobalAveragePooling1D()(L.Concatenate()([a1, a2])))
        model = keras.Model([qi, vi], out)
        p = model.predict([ids_q, ids_v], verbose=0)
        path = str(tmp_path / "att.keras")
        model.save(path)
        loaded = keras.models.load_model(path)
        np.testing.assert_allclose(loaded.predict([ids_q, ids_v], verbose=0), p, rtol=1e-5)


def test_dense_attention_dropout_and_errors():
    rng = np.random.default_rng(0)
    q = rng.standard_normal((2, 3, 4)).astype(np.float32)
    layer = L.Attention(dropout=0.5)
    y0 = layer([q, q])
    np.testing.assert_allclose(layer([q, q], training=False).numpy(), y0.numpy())
    assert not np.allclose(layer([q, q], training=True).numpy(), y0.numpy())
    with pytest.raises(ValueError, match=r"\[att\].*must be called on a list of inputs.*"
                                         r"\(2, 3, 4\)"):
        L.Attention(name="att")(q)
    with pytest.raises(ValueError, match=r"\[att2\].*length 2 or 3.*length 4"):
        L.Attention(name="att2")([q, q, q, q])
    with pytest.raises(ValueError, match=r"\[att3\].*query and key must have the same last "
                                         r"dimension.*\(2, 3, 4\).*\(2, 3, 5\)"):
        L.Attention(name="att3")([q, q, np.zeros((2, 3, 5), np.float32)])
    with pytest.raises(ValueError, match=r"\[att4\].*mask must be a list"):
        L.Attention(name="att4")([q, q], mask=np.ones((2, 3), bool))
    with pytest.raises(ValueError, match=r"score_mode must be 'dot' or 'concat'.*'bad'"):
        L.Attention(score_mode="bad")
    with pytest.raises(ValueError, match=r"\[add\].*AdditiveAttention.*list of inputs"):
        L.AdditiveAttention(name="add")(q)


def test_keras3_config_keys_are_accepted():
    """Keras 3 configs carry `seed` (and MHA `flash_attention`) and no query/key/value shapes."""
    q = np.random.default_rng(0).standard_normal((2, 3, 4)).astype(np.float32)
    mha = L.MultiHeadAttention.from_config({"num_heads": 2, "key_dim": 2, "dropout": 0.5,
                                            "seed": 3, "flash_attention": None})
    assert not mha.built
    a = mha(q, q, training=True).numpy()
    assert a.shape == (2, 3, 4) and np.all(np.isfinite(a))
    att = L.Attention.from_config({"use_scale": False, "score_mode": "dot", "dropout": 0.5,
                                   "seed": 1})
    assert not np.allclose(att([q, q], training=True).numpy(), att([q, q]).numpy())
