"""The small Keras layers: GroupNormalization, UnitNormalization, Identity, Cropping1D,
AlphaDropout, ActivityRegularization, ZeroPadding3D, Cropping3D, UpSampling3D.

Forward values and gradients (w.r.t. the inputs and the weights, through the tape) against the
independent NumPy references below: float64 forwards, gradients against central differences
of the NumPy reference (or analytic formulas). The `where` fixture runs each check on the CPU,
the emulated GPU and (when present) the real one or the CUDA host simulator. Also configs,
.keras/.h5 round trips, masks, the activity loss in fit/evaluate, and errors naming the layer
and the shapes."""
import numpy as np
import pytest

import nabi
from nabi import keras
from nabi.keras import layers as L
from nabi.keras.layers.base import get_mask


@pytest.fixture(autouse=True)
def _fresh_names():
    keras.backend.clear_session()
    yield


def on_device(where, t):
    want = "GPU" if "GPU" in where else "CPU"
    assert want in t.device, (where, t.device)


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


def run_layer(where, layer, x, c, training=None):
    """y = layer(x) on `where` and the gradients of sum(y * c) w.r.t. x and the layer's
    trainable weights."""
    with nabi.device(where):
        t = nabi.constant(x)
        with nabi.GradientTape() as tape:
            tape.watch(t)
            y = layer(t, training=training) if training is not None else layer(t)
            loss = nabi.reduce_sum(y * nabi.constant(c))
        grads = tape.gradient(loss, [t] + list(layer.trainable_weights))
    on_device(where, y)
    return y, grads


def check(y, want, grads, ref_grads, rtol=1e-5, atol=1e-7):
    assert tuple(y.shape) == want.shape
    np.testing.assert_allclose(y.numpy(), want, rtol=1e-10, atol=1e-12)
    assert len(grads) == len(ref_grads)
    for i, (g, r) in enumerate(zip(grads, ref_grads)):
        assert g is not None, f"no gradient for argument {i}"
        np.testing.assert_allclose(g.numpy(), r, rtol=rtol, atol=atol,
                                   err_msg=f"gradient of argument {i}")


# ---------------------------------------------------------------------------- normalizations


def np_group_norm(x, gamma, beta, groups, axis, eps):
    ax = axis % x.ndim
    shp = x.shape
    C = shp[ax]
    g = x.reshape(shp[:ax] + (groups, C // groups) + shp[ax + 1:])
    red = tuple(i for i in range(1, g.ndim) if i != ax)
    mean = g.mean(axis=red, keepdims=True)
    var = ((g - mean) ** 2).mean(axis=red, keepdims=True)
    y = ((g - mean) / np.sqrt(var + eps)).reshape(shp)
    bs = [1] * x.ndim
    bs[ax] = C
    return y * gamma.reshape(bs) + beta.reshape(bs)


@pytest.mark.parametrize("shape,groups,axis", [((2, 3, 6), 3, -1), ((2, 4, 3, 2), 2, 1),
                                               ((3, 4), 1, -1)])
def test_group_normalization_forward_and_gradients(where, shape, groups, axis):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape) * 2 + 1
    with nabi.device(where):
        layer = L.GroupNormalization(groups=groups, axis=axis, epsilon=1e-3, dtype="float64")
        layer(x)
    C = shape[axis]
    gamma, beta = rng.standard_normal(C), rng.standard_normal(C)
    layer.set_weights([gamma, beta])
    assert [w.name for w in layer.weights] == [f"{layer.name}/gamma:0", f"{layer.name}/beta:0"]

    def ref(x, gamma, beta):
        return np_group_norm(x, gamma, beta, groups, axis, 1e-3)
    want = ref(x, gamma, beta)
    c = rng.standard_normal(want.shape)
    y, grads = run_layer(where, layer, x, c)
    check(y, want, grads, num_grads(ref, [x, gamma, beta], c))


def test_group_normalization_special_cases_config_and_errors(where):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 5, 4))
    with nabi.device(where):
        inst = L.GroupNormalization(groups=-1, center=False, scale=False, dtype="float64")
        y = inst(x)
    # groups=-1: instance normalisation, each channel over the steps
    m = x.mean(axis=1, keepdims=True)
    v = x.var(axis=1, keepdims=True)
    np.testing.assert_allclose(y.numpy(), (x - m) / np.sqrt(v + 1e-3), rtol=1e-10)
    assert inst.groups == 4 and inst.weights == []
    cfg = L.GroupNormalization(groups=2, axis=1, epsilon=1e-5).get_config()
    assert cfg["groups"] == 2 and cfg["axis"] == 1 and cfg["epsilon"] == 1e-5
    assert L.GroupNormalization.from_config(cfg).get_config() == cfg
    with pytest.raises(ValueError, match=r"\[gn\].*groups \(3\) must divide the number of "
                                         r"channels \(4\).*\(2, 5, 4\)"):
        L.GroupNormalization(groups=3, name="gn")(x)
    with pytest.raises(ValueError, match=r"\[gn2\].*groups \(8\) cannot be more than the "
                                         r"number of channels \(4\)"):
        L.GroupNormalization(groups=8, name="gn2")(x)
    with pytest.raises(ValueError, match=r"\[gn3\].*groups must be a positive integer"):
        L.GroupNormalization(groups=0, name="gn3")
    with pytest.raises(ValueError, match=r"\[gn4\].*axis=0 must be a non-batch axis.*"
                                         r"\(2, 5, 4\)"):
        L.GroupNormalization(groups=1, axis=0, name="gn4")(x)


@pytest.mark.parametrize("axis", [-1, [1, 2]])
def test_unit_normalization_forward_and_gradients(where, axis):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 3, 4))
    x[0, 1] = 0.0   # a zero row: the 1e-12 floor keeps it finite
    ax = tuple(axis) if isinstance(axis, list) else axis

    def ref(x):
        return x / np.sqrt(np.maximum((x * x).sum(axis=ax, keepdims=True), 1e-12))
    with nabi.device(where):
        layer = L.UnitNormalization(axis=axis, dtype="float64")
    want = ref(x)
    c = rng.standard_normal(x.shape)
    y, grads = run_layer(where, layer, x, c)
    xg = x.copy()
    xg[0, 1] = 0.3   # central differences need a smooth point; compare the gradient there
    check(y, want, grads[:0], [])
    _, g2 = run_layer(where, layer, xg, c)
    np.testing.assert_allclose(g2[0].numpy(), num_grads(ref, [xg], c)[0], rtol=1e-5, atol=1e-7)
    assert layer.get_config()["axis"] == axis
    with pytest.raises(ValueError, match=r"\[un\].*axis=3 is out of range.*\(2, 3, 4\)"):
        L.UnitNormalization(axis=3, name="un")(x)
    with pytest.raises(TypeError, match=r"\[un2\].*axis must be an int"):
        L.UnitNormalization(axis="x", name="un2")


# ---------------------------------------------------------------------------- Identity


def test_identity_keeps_values_gradient_and_mask(where):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3))
    c = rng.standard_normal((2, 3))
    y, grads = run_layer(where, L.Identity(dtype="float64"), x, c)
    check(y, x, grads, [c])
    ids = np.array([[1, 2, 0], [3, 0, 0]])
    with nabi.device(where):
        e = L.Embedding(5, 2, mask_zero=True)(ids)
        out = L.Identity()(e)
    np.testing.assert_array_equal(np.asarray(get_mask(out).numpy(), bool), ids != 0)
    np.testing.assert_array_equal(out.numpy(), e.numpy())


# ---------------------------------------------------------------------------- cropping/padding

SHAPE_CASES = {
    # name: (layer factory, input shape, NumPy reference)
    "cropping1d": (lambda **kw: L.Cropping1D((1, 2), **kw), (2, 6, 3), lambda x: x[:, 1:4, :]),
    "cropping1d_int": (lambda **kw: L.Cropping1D(1, **kw), (1, 4, 2), lambda x: x[:, 1:3, :]),
    "zeropadding3d": (lambda **kw: L.ZeroPadding3D(((1, 0), (0, 2), (1, 1)), **kw), (1, 2, 2, 1, 2),
                      lambda x: np.pad(x, [(0, 0), (1, 0), (0, 2), (1, 1), (0, 0)])),
    "zeropadding3d_cf": (lambda **kw: L.ZeroPadding3D(1, data_format="channels_first", **kw),
                         (1, 2, 1, 2, 1),
                         lambda x: np.pad(x, [(0, 0), (0, 0), (1, 1), (1, 1), (1, 1)])),
    "cropping3d": (lambda **kw: L.Cropping3D(((1, 0), (0, 1), (1, 1)), **kw), (1, 3, 3, 4, 2),
                   lambda x: x[:, 1:, :2, 1:3]),
    "cropping3d_cf": (lambda **kw: L.Cropping3D(1, data_format="channels_first", **kw),
                      (1, 2, 3, 3, 4), lambda x: x[:, :, 1:2, 1:2, 1:3]),
    "upsampling3d": (lambda **kw: L.UpSampling3D((2, 1, 3), **kw), (1, 2, 2, 1, 2),
                     lambda x: x.repeat(2, 1).repeat(1, 2).repeat(3, 3)),
    "upsampling3d_cf": (lambda **kw: L.UpSampling3D(2, data_format="channels_first", **kw),
                        (1, 2, 1, 2, 1),
                        lambda x: x.repeat(2, 2).repeat(2, 3).repeat(2, 4)),
}


@pytest.mark.parametrize("case", list(SHAPE_CASES))
def test_shape_layers_forward_and_gradients(where, case):
    make, shape, ref = SHAPE_CASES[case]
    rng = np.random.default_rng(4)
    x = rng.standard_normal(shape)
    layer = make(dtype="float64")
    want = ref(x)
    c = rng.standard_normal(want.shape)
    y, grads = run_layer(where, layer, x, c)
    check(y, want, grads, num_grads(ref, [x], c))
    clone = type(layer).from_config(layer.get_config())
    np.testing.assert_array_equal(clone(x).numpy(), want)


def test_shape_layers_in_model_and_errors():
    inp = keras.Input((6, 3))
    assert tuple(L.Cropping1D((2, 1))(inp).shape) == (None, 3, 3)
    inp3 = keras.Input((2, 3, 4, 5))
    assert tuple(L.UpSampling3D(2)(inp3).shape) == (None, 4, 6, 8, 5)
    assert tuple(L.ZeroPadding3D(1)(inp3).shape) == (None, 4, 5, 6, 5)
    assert tuple(L.Cropping3D(((0, 1), (1, 1), (1, 2)))(inp3).shape) == (None, 1, 1, 1, 5)
    with pytest.raises(ValueError, match=r"\[crop\].*cropping \(\(3, 3\),\) must leave "
                                         r"something.*\(2, 6, 3\)"):
        L.Cropping1D(3, name="crop")(np.zeros((2, 6, 3), np.float32))
    with pytest.raises(ValueError, match=r"\[crop2\].*rank 3.*\(2, 6\)"):
        L.Cropping1D(1, name="crop2")(np.zeros((2, 6), np.float32))
    with pytest.raises(ValueError, match=r"\[crop3\].*cropping must be a non-negative int.*-1"):
        L.Cropping1D((-1, 2), name="crop3")
    with pytest.raises(ValueError, match=r"\[pad\].*padding must be an int, 3 ints or 3 pairs"):
        L.ZeroPadding3D((1, 2), name="pad")
    with pytest.raises(ValueError, match=r"\[up\].*size must be a positive int or 3"):
        L.UpSampling3D((2, 0, 1), name="up")
    with pytest.raises(ValueError, match=r"\[c3\].*rank 5.*\(2, 3, 4\)"):
        L.Cropping3D(1, name="c3")(np.zeros((2, 3, 4), np.float32))


# ---------------------------------------------------------------------------- AlphaDropout

ALPHA = 1.6732632423543772848170429916717
SCALE = 1.0507009873554804934193349852946


def test_alpha_dropout_values_gradient_and_inference(where):
    rate = 0.3
    alpha_p = -ALPHA * SCALE
    a = ((1 - rate) * (1 + rate * alpha_p ** 2)) ** -0.5
    b = -a * alpha_p * rate
    rng = np.random.default_rng(5)
    x = rng.standard_normal((64, 32))
    c = rng.standard_normal(x.shape)
    layer = L.AlphaDropout(rate, seed=7, dtype="float64")
    y_inf, g_inf = run_layer(where, layer, x, c)
    np.testing.assert_array_equal(y_inf.numpy(), x)
    y, grads = run_layer(where, layer, x, c, training=True)
    y = y.numpy()
    kept = np.isclose(y, a * x + b, rtol=1e-12, atol=1e-12)
    dropped = np.isclose(y, a * alpha_p + b, rtol=1e-12, atol=1e-12)
    assert np.all(kept | dropped)
    assert abs(dropped.mean() - rate) < 0.05
    np.testing.assert_allclose(grads[0].numpy(), np.where(kept, a * c, 0.0), rtol=1e-12)
    # SELU-normalised inputs keep mean ~0 and variance ~1
    big = rng.standard_normal((200, 200))
    yb = L.AlphaDropout(0.2, seed=1)(big.astype(np.float32), training=True).numpy()
    assert abs(yb.mean()) < 0.05 and abs(yb.var() - 1.0) < 0.05
    # noise_shape broadcasts the keep pattern
    y3 = L.AlphaDropout(0.5, noise_shape=(None, 1, 4), seed=3)(
        np.ones((2, 5, 4), np.float32), training=True).numpy()
    assert np.all(y3 == y3[:, :1, :])
    cfg = L.AlphaDropout(0.2, seed=4).get_config()
    assert cfg["rate"] == 0.2 and cfg["seed"] == 4
    with pytest.raises(ValueError, match=r"\[ad\].*rate must be in \[0, 1\].*1.5"):
        L.AlphaDropout(1.5, name="ad")


# ------------------------------------------------------------------------ ActivityRegularization


def test_activity_regularization_loss_and_gradient(where):
    rng = np.random.default_rng(6)
    x = rng.standard_normal((4, 3))
    l1, l2 = 0.1, 0.2
    with nabi.device(where):
        layer = L.ActivityRegularization(l1=l1, l2=l2, dtype="float64")
        t = nabi.constant(x)
        with nabi.GradientTape() as tape:
            tape.watch(t)
            y = layer(t)
            loss = nabi.add_n(layer.losses)
        g = tape.gradient(loss, t)
    np.testing.assert_array_equal(y.numpy(), x)
    want = (l1 * np.abs(x).sum() + l2 * (x * x).sum()) / x.shape[0]
    np.testing.assert_allclose(float(loss.numpy()), want, rtol=1e-12)
    np.testing.assert_allclose(g.numpy(), (l1 * np.sign(x) + 2 * l2 * x) / x.shape[0],
                               rtol=1e-12)
    assert layer.get_config()["l1"] == l1 and layer.get_config()["l2"] == l2


def test_activity_regularization_in_fit_evaluate_and_saving(where, tmp_path):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((8, 3)).astype(np.float32)
    yt = rng.standard_normal((8, 2)).astype(np.float32)
    with nabi.device(where):
        model = keras.Sequential([L.Dense(2, input_shape=(3,)),
                                  L.ActivityRegularization(l1=0.01, l2=0.05),
                                  L.GroupNormalization(groups=1), L.UnitNormalization(),
                                  L.Identity(), L.AlphaDropout(0.1)])
        model.compile(optimizer="sgd", loss="mse")
        W, bias = model.layers[0].get_weights()
        h = x @ W + bias
        gn = (h - h.mean(1, keepdims=True)) / np.sqrt(h.var(1, keepdims=True) + 1e-3)
        p = gn / np.linalg.norm(gn, axis=1, keepdims=True)
        want = np.mean((p - yt) ** 2) + (0.01 * np.abs(h).sum() + 0.05 * (h * h).sum()) / 8
        got = model.evaluate(x, yt, batch_size=8, verbose=0)
        np.testing.assert_allclose(got, want, rtol=1e-4)
        hist = model.fit(x, yt, epochs=3, batch_size=8, verbose=0)
        assert np.all(np.isfinite(hist.history["loss"]))
        pred = model.predict(x, verbose=0)
        for name in ("s.keras", "s.h5"):
            path = str(tmp_path / name)
            model.save(path)
            loaded = keras.models.load_model(path)
            np.testing.assert_allclose(loaded.predict(x, verbose=0), pred, rtol=1e-5, atol=1e-6)
            assert [type(l).__name__ for l in loaded.layers] == [
                "Dense", "ActivityRegularization", "GroupNormalization", "UnitNormalization",
                "Identity", "AlphaDropout"]
