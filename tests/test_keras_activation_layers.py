"""Keras activation layers (ReLU, LeakyReLU, PReLU, ELU, ThresholdedReLU, Softmax) and
Rescaling: forward values and gradients (w.r.t. the input, and PReLU's alpha) against the
NumPy references below, on every device; configs, save/load, fit, dtypes and errors."""
import json

import numpy as np
import pytest

import nabi
from nabi import keras
from nabi.framework import device as dev
from nabi.keras import layers
from nabi.keras.layers.base import get_mask


@pytest.fixture(autouse=True)
def _fresh_names():
    keras.backend.clear_session()
    yield


@pytest.fixture(params=["cpu", "emu", "cuda"])
def device(request, monkeypatch):
    """"cpu", or one of conftest's `gpu` devices: "emu" (the NumPy emulator of the CUDA kernels)
    and "cuda" (the real GPU, or the host simulator; skipped visibly without one)."""
    if request.param == "cpu":
        with nabi.device("/CPU:0"):
            yield "cpu"
        return
    from nabi import _C
    if request.param == "emu":
        monkeypatch.setenv("NABI_EMULATE_CUDA", "1")
    else:
        monkeypatch.delenv("NABI_EMULATE_CUDA", raising=False)
    monkeypatch.setattr(dev, "_BACKEND", [None])
    if request.param == "cuda" and not dev.gpu_available():
        pytest.skip("no CUDA GPU available (" + _C.cuda_backend.unavailable_reason() + ")")
    yield request.param
    monkeypatch.setattr(dev, "_BACKEND", [None])


def _on(device, t):
    want = "CPU:0" if device == "cpu" else "GPU:0"
    assert t.device.endswith(want), f"{t.device} is not {want}"


# ---------------------------------------------------------------------------- NumPy references
# Each returns (y, dy/dx) elementwise, in float64.

def ref_relu(x, max_value=None, negative_slope=0.0, threshold=0.0):
    """Keras' implementation: x > threshold -> min(x, max_value), else slope * (x - threshold)."""
    above = x > threshold
    top = x if max_value is None else np.minimum(x, max_value)
    dtop = np.ones_like(x) if max_value is None else (x <= max_value).astype(x.dtype)
    y = np.where(above, top, negative_slope * (x - threshold))
    return y, np.where(above, dtop, negative_slope)


def ref_leaky(x, alpha):
    return np.where(x >= 0, x, alpha * x), np.where(x > 0, 1.0, alpha)


def ref_elu(x, alpha):
    return np.where(x > 0, x, alpha * np.expm1(x)), np.where(x > 0, 1.0, alpha * np.exp(x))


def ref_thresholded(x, theta):
    return np.where(x > theta, x, 0.0), (x > theta).astype(np.float64)


def ref_softmax(x, axes, mask=None):
    """softmax over `axes` of the unmasked entries; masked entries (and fully masked rows) 0."""
    if mask is None:
        mask = np.ones(x.shape, bool)
    mask = np.broadcast_to(mask, x.shape)
    xm = np.where(mask, x, -np.inf)
    m = xm.max(axis=axes, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    e = np.where(mask, np.exp(np.where(mask, x, 0.0) - m), 0.0)
    s = e.sum(axis=axes, keepdims=True)
    return np.where(s > 0, e / np.where(s > 0, s, 1.0), 0.0)


def ref_softmax_grad(y, c, axes):
    """d/dx sum(softmax(x) * c) = y * (c - sum(y * c)); zero where y is (masked to) 0."""
    return y * (c - (y * c).sum(axis=axes, keepdims=True))


def ref_prelu(x, alpha):
    """(y, dy/dx, x where the alpha branch is taken) for alpha broadcast over the batch."""
    pos = x > 0
    return np.where(pos, x, alpha * x), np.where(pos, 1.0, alpha), np.where(pos, 0.0, x)


def _away_from(x, kinks, gap=0.05):
    """x with every value moved at least `gap` from each kink (finite differences and the
    one-sided derivatives there are not compared)."""
    x = x.copy()
    for k in kinks:
        near = np.abs(x - k) < gap
        x[near] = k + np.where(x[near] >= k, gap, -gap) * 2
    return x


SHAPES = [(1, 1), (3, 7), (2, 5, 11)]

# (layer factory(**layer_kwargs), reference(x) -> (y, dy/dx), kinks)
ELEMENTWISE = {
    "relu": (lambda **kw: layers.ReLU(**kw), lambda x: ref_relu(x), [0.0]),
    "relu6": (lambda **kw: layers.ReLU(max_value=6.0, **kw), lambda x: ref_relu(x, 6.0),
              [0.0, 6.0]),
    "relu_cap": (lambda **kw: layers.ReLU(max_value=1.5, **kw), lambda x: ref_relu(x, 1.5),
                 [0.0, 1.5]),
    "relu_slope": (lambda **kw: layers.ReLU(negative_slope=0.1, **kw),
                   lambda x: ref_relu(x, None, 0.1), [0.0]),
    "relu_threshold": (lambda **kw: layers.ReLU(threshold=0.5, **kw),
                       lambda x: ref_relu(x, None, 0.0, 0.5), [0.5]),
    "relu_all": (lambda **kw: layers.ReLU(max_value=2.0, negative_slope=0.2, threshold=0.5,
                                          **kw),
                 lambda x: ref_relu(x, 2.0, 0.2, 0.5), [0.5, 2.0]),
    # max_value below the threshold: Keras clips what passes the threshold, so x > 1 -> 0.3.
    "relu_cap_below_threshold": (lambda **kw: layers.ReLU(max_value=0.3, negative_slope=0.1,
                                                          threshold=1.0, **kw),
                                 lambda x: ref_relu(x, 0.3, 0.1, 1.0), [1.0]),
    "leaky_default": (lambda **kw: layers.LeakyReLU(**kw), lambda x: ref_leaky(x, 0.3), [0.0]),
    "leaky_alpha": (lambda **kw: layers.LeakyReLU(alpha=0.05, **kw),
                    lambda x: ref_leaky(x, 0.05), [0.0]),
    "leaky_negative_slope": (lambda **kw: layers.LeakyReLU(negative_slope=1.7, **kw),
                             lambda x: ref_leaky(x, 1.7), [0.0]),
    "elu": (lambda **kw: layers.ELU(**kw), lambda x: ref_elu(x, 1.0), [0.0]),
    "elu_alpha": (lambda **kw: layers.ELU(alpha=0.4, **kw), lambda x: ref_elu(x, 0.4), [0.0]),
    "thresholded": (lambda **kw: layers.ThresholdedReLU(**kw),
                    lambda x: ref_thresholded(x, 1.0), [1.0]),
    "thresholded_zero": (lambda **kw: layers.ThresholdedReLU(theta=0.0, **kw),
                         lambda x: ref_thresholded(x, 0.0), [0.0]),
    "rescaling": (lambda **kw: layers.Rescaling(0.25, offset=-1.5, **kw),
                  lambda x: (x * 0.25 - 1.5, np.full_like(x, 0.25)), []),
}


# ---------------------------------------------------------------------------- forward, gradient

@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("case", sorted(ELEMENTWISE))
def test_elementwise_forward_float32(device, case, shape):
    make, ref, _ = ELEMENTWISE[case]
    x = np.random.default_rng(0).uniform(-4, 4, shape).astype(np.float32)
    y = make()(x)
    _on(device, y)
    assert y.numpy().dtype == np.float32 and y.shape == shape
    np.testing.assert_allclose(y.numpy(), ref(x.astype(np.float64))[0], rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("case", sorted(ELEMENTWISE))
def test_elementwise_gradient_float64(device, case):
    make, ref, kinks = ELEMENTWISE[case]
    rng = np.random.default_rng(1)
    x = _away_from(rng.uniform(-4, 4, (4, 9)), kinks)
    c = rng.standard_normal(x.shape)
    layer = make(dtype="float64")
    xt = nabi.constant(x)
    with nabi.GradientTape() as tape:
        tape.watch(xt)
        y = layer(xt)
        loss = nabi.reduce_sum(y * nabi.constant(c))
    (g,) = tape.gradient(loss, [xt])
    want_y, want_d = ref(x)
    assert y.numpy().dtype == np.float64
    np.testing.assert_allclose(y.numpy(), want_y, rtol=1e-12, atol=1e-12)
    _on(device, g)
    np.testing.assert_allclose(g.numpy(), want_d * c, rtol=1e-12, atol=1e-12)


def test_values_at_the_kinks_follow_keras(device):
    """Ties with the threshold, the cap and zero, pinned to Keras' implementation: f(threshold)
    = 0 (the slope branch), f(max_value) = max_value, LeakyReLU(0) = 0, ThresholdedReLU(theta)
    = 0."""
    x = np.array([[-1.0, 0.0, 0.5, 1.0, 2.0, 3.0]], np.float32)
    relu = layers.ReLU(max_value=2.0, negative_slope=0.5, threshold=1.0)
    np.testing.assert_array_equal(relu(x).numpy(), [[-1.0, -0.5, -0.25, 0.0, 2.0, 2.0]])
    np.testing.assert_array_equal(layers.ReLU(max_value=2.0)(x).numpy(),
                                  [[0.0, 0.0, 0.5, 1.0, 2.0, 2.0]])
    np.testing.assert_array_equal(layers.LeakyReLU(0.5)(x).numpy(),
                                  [[-0.5, 0.0, 0.5, 1.0, 2.0, 3.0]])
    np.testing.assert_array_equal(layers.ThresholdedReLU(1.0)(x).numpy(),
                                  [[0.0, 0.0, 0.0, 0.0, 2.0, 3.0]])
    np.testing.assert_array_equal(layers.ELU(2.0)(np.zeros((1, 1), np.float32)).numpy(), [[0]])


def test_transposed_input(device):
    x = np.random.default_rng(2).uniform(-2, 2, (6, 5)).astype(np.float32)
    xt = nabi.transpose(nabi.constant(x))
    for layer, ref in [(layers.LeakyReLU(0.2), ref_leaky(x.T.astype(np.float64), 0.2)[0]),
                       (layers.ELU(0.5), ref_elu(x.T.astype(np.float64), 0.5)[0]),
                       (layers.Softmax(axis=0), ref_softmax(x.T.astype(np.float64), (0,)))]:
        np.testing.assert_allclose(layer(xt).numpy(), ref, rtol=1e-6, atol=1e-7)


# ---------------------------------------------------------------------------- Softmax

@pytest.mark.parametrize("shape,axis", [((1, 1), -1), ((3, 7), -1), ((3, 7), 0),
                                        ((2, 5, 11), 1), ((2, 5, 11), [1, 2]),
                                        ((2, 3, 4, 5), [0, 3]), ((2, 3, 4), [-1, 0, 1])])
def test_softmax_forward_and_gradient(device, shape, axis):
    rng = np.random.default_rng(3)
    x = rng.standard_normal(shape) * 3
    c = rng.standard_normal(shape)
    axes = tuple(a % len(shape) for a in (axis if isinstance(axis, list) else [axis]))
    want = ref_softmax(x, axes)
    y32 = layers.Softmax(axis=axis)(x.astype(np.float32))
    assert y32.numpy().dtype == np.float32
    np.testing.assert_allclose(y32.numpy(), want, rtol=1e-5, atol=1e-7)
    xt = nabi.constant(x)
    with nabi.GradientTape() as tape:
        tape.watch(xt)
        y = layers.Softmax(axis=axis, dtype="float64")(xt)
        loss = nabi.reduce_sum(y * nabi.constant(c))
    (g,) = tape.gradient(loss, [xt])
    _on(device, g)
    np.testing.assert_allclose(y.numpy(), want, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(g.numpy(), ref_softmax_grad(want, c, axes), rtol=1e-9,
                               atol=1e-12)


def test_softmax_huge_and_infinite_logits(device):
    x = np.array([[1e4, 1e4 - 1.0, -1e4], [-np.inf, 0.0, 1.0], [3e38, 3e38, -3e38]], np.float32)
    y = layers.Softmax()(x).numpy()
    want = ref_softmax(x.astype(np.float64), (1,))
    np.testing.assert_allclose(y, want, rtol=1e-6, atol=1e-7)
    assert np.all(np.isfinite(y))


@pytest.mark.parametrize("xshape,mshape", [((3, 6), (3, 6)), ((2, 3, 5), (2, 1, 5)),
                                           ((2, 4, 3), (2, 4)), ((2, 3, 5), (5,))])
def test_softmax_mask(device, xshape, mshape):
    """Masked positions are left out of the softmax and are 0 in the output; a row with every
    position masked is all 0. A mask over the leading axes ((batch, time), as propagated by
    Embedding(mask_zero=True)) covers the trailing ones."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal(xshape) * 2
    c = rng.standard_normal(xshape)
    mask = rng.random(mshape) > 0.4
    mask.reshape(-1)[0] = True
    if len(mshape) == len(xshape):
        mask[(0,) * (len(mshape) - 1)] = False            # one fully masked row
    full = mask.reshape(mshape + (1,) * (len(xshape) - len(mshape))) \
        if mshape == xshape[:len(mshape)] else mask
    want = ref_softmax(x, (len(xshape) - 1,), full)
    y32 = layers.Softmax()(x.astype(np.float32), mask=mask)
    np.testing.assert_allclose(y32.numpy(), want, rtol=1e-5, atol=1e-7)
    xt = nabi.constant(x)
    with nabi.GradientTape() as tape:
        tape.watch(xt)
        y = layers.Softmax(dtype="float64")(xt, mask=nabi.constant(mask))
        loss = nabi.reduce_sum(y * nabi.constant(c))
    (g,) = tape.gradient(loss, [xt])
    np.testing.assert_allclose(y.numpy(), want, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(g.numpy(), ref_softmax_grad(want, c, (len(xshape) - 1,)),
                               rtol=1e-9, atol=1e-12)


def test_softmax_uses_the_propagated_mask():
    ids = np.array([[3, 1, 0, 0], [2, 0, 0, 0]])
    inp = keras.Input(shape=(4,), dtype="int32")
    e = layers.Embedding(5, 3, mask_zero=True)(inp)
    logits = layers.Dense(3)(e)
    out = layers.Softmax(axis=1)(logits)   # over time: only the unmasked steps
    m = keras.Model(inp, out)
    sub = keras.Model(inp, logits)
    z = sub.predict(ids, verbose=0).astype(np.float64)
    want = ref_softmax(z, (1,), (ids != 0)[:, :, None])
    np.testing.assert_allclose(m.predict(ids, verbose=0), want, rtol=1e-5, atol=1e-7)


# ---------------------------------------------------------------------------- PReLU

@pytest.mark.parametrize("shape,shared", [((4, 6), None), ((1, 1), None), ((3, 4, 5), None),
                                          ((3, 4, 5), [1]), ((3, 4, 5), 2), ((2, 3, 4, 5), [1, 2]),
                                          ((2, 3, 4, 5), (1, 2, 3))])
def test_prelu_forward_and_gradients(device, shape, shared):
    rng = np.random.default_rng(5)
    x = _away_from(rng.uniform(-3, 3, shape), [0.0])
    c = rng.standard_normal(shape)
    layer = layers.PReLU(shared_axes=shared, dtype="float64")
    layer.build((None,) + shape[1:])
    ashape = list(shape[1:])
    for a in ([shared] if isinstance(shared, int) else (shared or [])):
        ashape[a - 1] = 1
    assert tuple(layer.alpha.shape) == tuple(ashape) and layer.alpha.trainable
    assert [w.name for w in layer.weights] == ["p_re_lu/alpha:0"]
    alpha = rng.uniform(-0.5, 1.5, ashape)
    layer.set_weights([alpha])
    xt = nabi.constant(x)
    with nabi.GradientTape() as tape:
        tape.watch(xt)
        y = layer(xt)
        loss = nabi.reduce_sum(y * nabi.constant(c))
    gx, ga = tape.gradient(loss, [xt, layer.alpha])
    want_y, want_dx, neg_x = ref_prelu(x, alpha)
    sum_axes = tuple(i for i in range(len(shape)) if i == 0 or ashape[i - 1] == 1)
    np.testing.assert_allclose(y.numpy(), want_y, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(gx.numpy(), want_dx * c, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ga.numpy(), (neg_x * c).sum(axis=sum_axes, keepdims=True)[0],
                               rtol=1e-10, atol=1e-12)
    _on(device, ga)
    y32 = layers.PReLU(shared_axes=shared, alpha_initializer=keras.initializers.Constant(0.25))(
        x.astype(np.float32))
    np.testing.assert_allclose(y32.numpy(), ref_prelu(x, 0.25)[0], rtol=1e-6, atol=1e-7)


def test_prelu_called_twice_accumulates_alpha_gradient(device):
    rng = np.random.default_rng(6)
    a, b = rng.uniform(-2, 2, (2, 3)), rng.uniform(-2, 2, (2, 3))
    layer = layers.PReLU(dtype="float64", alpha_initializer="ones")
    with nabi.GradientTape() as tape:
        loss = nabi.reduce_sum(layer(a) + layer(b) * 2.0)
    (ga,) = tape.gradient(loss, [layer.alpha])
    np.testing.assert_allclose(ga.numpy(), (np.minimum(a, 0) + 2 * np.minimum(b, 0)).sum(0),
                               rtol=1e-12)


def test_prelu_regularizer_and_constraint():
    layer = layers.PReLU(alpha_initializer=keras.initializers.Constant(-0.5),
                         alpha_regularizer=keras.regularizers.l2(0.1),
                         alpha_constraint="non_neg")
    layer(np.ones((2, 3), np.float32))
    (reg,) = layer.losses
    np.testing.assert_allclose(float(reg.numpy()), 0.1 * 3 * 0.25, rtol=1e-6)
    assert layer.alpha.constraint is not None
    np.testing.assert_array_equal(layer.alpha.constraint(layer.alpha).numpy(), np.zeros(3))


# ---------------------------------------------------------------------------- Rescaling

def test_rescaling_uint8_images(device):
    img = np.random.default_rng(7).integers(0, 256, (2, 4, 4, 3)).astype(np.uint8)
    y = layers.Rescaling(1.0 / 255)(img)
    _on(device, y)
    assert y.numpy().dtype == np.float32
    np.testing.assert_allclose(y.numpy(), img.astype(np.float64) / 255, rtol=1e-6, atol=1e-7)
    y = layers.Rescaling(1.0 / 127.5, offset=-1.0, dtype="float64")(img)
    assert y.numpy().dtype == np.float64
    np.testing.assert_allclose(y.numpy(), img / 127.5 - 1.0, rtol=1e-14, atol=1e-15)
    # integers through a functional model with an integer Input
    inp = keras.Input(shape=(4, 4, 3), dtype="uint8")
    m = keras.Model(inp, layers.Rescaling(2.0, offset=1.0)(inp))
    np.testing.assert_allclose(m.predict(img, verbose=0), img * 2.0 + 1.0, rtol=1e-6)


def test_rescaling_per_channel_and_gradient(device):
    rng = np.random.default_rng(8)
    x = rng.standard_normal((3, 2, 4))
    c = rng.standard_normal(x.shape)
    scale, offset = [0.5, -2.0, 3.0, 0.1], [[1.0, 2.0, 3.0, 4.0]]
    layer = layers.Rescaling(scale, offset=offset, dtype="float64")
    xt = nabi.constant(x)
    with nabi.GradientTape() as tape:
        tape.watch(xt)
        y = layer(xt)
        loss = nabi.reduce_sum(y * nabi.constant(c))
    (g,) = tape.gradient(loss, [xt])
    np.testing.assert_allclose(y.numpy(), x * np.array(scale) + np.array(offset), rtol=1e-14)
    np.testing.assert_allclose(g.numpy(), c * np.array(scale), rtol=1e-14)
    y32 = layers.Rescaling(scale, offset=offset)(x.astype(np.float32))
    np.testing.assert_allclose(y32.numpy(), x * np.array(scale) + np.array(offset), rtol=1e-5,
                               atol=1e-6)


# ---------------------------------------------------------------------------- models

def _all_layers_model(kind):
    """Every layer of this file in one model, with (4, 5) inputs."""
    stack = [layers.Rescaling([0.5, 1.0, 2.0, -1.0, 0.25], offset=0.1, name="scale"),
             layers.Dense(6, name="d1"),
             layers.PReLU(shared_axes=[1], name="prelu",
                          alpha_initializer=keras.initializers.RandomUniform(-1.0, 1.0)),
             layers.LeakyReLU(alpha=0.2, name="leaky"),
             layers.ReLU(max_value=3.0, negative_slope=0.05, threshold=0.1, name="relu"),
             layers.ELU(alpha=0.7, name="elu"),
             layers.ThresholdedReLU(theta=0.05, name="thr"),
             layers.Dense(3, name="d2"),
             layers.Softmax(axis=[1, 2], name="softmax")]
    if kind == "sequential":
        return keras.Sequential([keras.Input((4, 5))] + stack, name="seq")
    inp = keras.Input((4, 5), name="x")
    h = inp
    for layer in stack:
        h = layer(h)
    return keras.Model(inp, h, name="func")


def _numpy_forward(model, x):
    """The model's forward pass from its weights, in NumPy float64."""
    w = {v.path: v.numpy().astype(np.float64) for v in model.weights}
    h = x.astype(np.float64) * np.array([0.5, 1.0, 2.0, -1.0, 0.25]) + 0.1
    h = h @ w["d1/kernel"] + w["d1/bias"]
    h = ref_prelu(h, w["prelu/alpha"])[0]
    h = ref_leaky(h, 0.2)[0]
    h = ref_relu(h, 3.0, 0.05, 0.1)[0]
    h = ref_elu(h, 0.7)[0]
    h = ref_thresholded(h, 0.05)[0]
    h = h @ w["d2/kernel"] + w["d2/bias"]
    return ref_softmax(h, (1, 2))


@pytest.mark.parametrize("kind", ["sequential", "functional"])
def test_model_forward_and_shapes(device, kind):
    keras.utils.set_random_seed(0)
    model = _all_layers_model(kind)
    assert tuple(model.outputs[0].shape) == (None, 4, 3)
    assert model.get_layer("prelu").alpha.shape == (1, 6)
    x = np.random.default_rng(9).standard_normal((7, 4, 5)).astype(np.float32)
    np.testing.assert_allclose(model.predict(x, verbose=0), _numpy_forward(model, x), rtol=1e-5,
                               atol=1e-6)


@pytest.mark.parametrize("ext", [".keras", ".h5"])
@pytest.mark.parametrize("kind", ["sequential", "functional"])
def test_save_load_round_trip(tmp_path, kind, ext):
    pytest.importorskip("h5py", reason="saving needs h5py (the `test` extra)")
    keras.utils.set_random_seed(1)
    model = _all_layers_model(kind)
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    x = np.random.default_rng(10).standard_normal((16, 4, 5)).astype(np.float32)
    model.fit(x, np.full((16, 4, 3), 1.0 / 12, np.float32), epochs=1, batch_size=8, verbose=0)
    before = model.predict(x, verbose=0)
    path = str(tmp_path / f"model{ext}")
    model.save(path)
    keras.backend.clear_session()
    loaded = keras.models.load_model(path)
    assert [type(l).__name__ for l in loaded.layers] == [type(l).__name__ for l in model.layers]
    for a, b in zip(model.layers, loaded.layers):
        assert a.get_config() == b.get_config()
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), before)
    np.testing.assert_allclose(before, _numpy_forward(loaded, x), rtol=1e-5, atol=1e-6)


def test_model_json_round_trip():
    keras.utils.set_random_seed(2)
    model = _all_layers_model("functional")
    again = keras.models.model_from_json(model.to_json())
    again.set_weights(model.get_weights())
    x = np.random.default_rng(11).standard_normal((3, 4, 5)).astype(np.float32)
    np.testing.assert_array_equal(again.predict(x, verbose=0), model.predict(x, verbose=0))


@pytest.mark.parametrize("act", ["leaky", "prelu"])
def test_fit_reduces_the_loss(device, act):
    keras.utils.set_random_seed(3)
    rng = np.random.default_rng(12)
    x = rng.uniform(-1, 1, (128, 3)).astype(np.float32)
    y = (np.abs(x).sum(1, keepdims=True) - 0.5 * x[:, :1]).astype(np.float32)
    hidden = layers.LeakyReLU(alpha=0.1) if act == "leaky" else \
        layers.PReLU(alpha_initializer="zeros")
    model = keras.Sequential([keras.Input((3,)), layers.Dense(16), hidden, layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(0.02), loss="mse")
    first = float(model.evaluate(x, y, verbose=0))
    hist = model.fit(x, y, epochs=30, batch_size=32, verbose=0).history["loss"]
    last = float(model.evaluate(x, y, verbose=0))
    assert np.all(np.isfinite(hist))
    assert last < 0.2 * first, (first, hist[-5:], last)
    if act == "prelu":
        _on(device, hidden.alpha)
        assert np.any(hidden.alpha.numpy() != 0), "alpha was not trained"


def test_masks_pass_through():
    x = np.array([[[1.0, -2.0], [0.0, 0.0], [3.0, 4.0]]], np.float32)
    masked = layers.Masking(0.0)(x)
    for layer in [layers.ReLU(), layers.LeakyReLU(), layers.ELU(), layers.ThresholdedReLU(),
                  layers.PReLU(), layers.Softmax(), layers.Rescaling(2.0)]:
        out = layer(masked)
        m = get_mask(out)
        assert m is not None, type(layer).__name__
        np.testing.assert_array_equal(m.numpy(), [[True, False, True]])


# ---------------------------------------------------------------------------- dtypes

def test_float64_inputs_and_dtype_policy(device):
    x = np.array([[-2.0, -0.5, 0.5, 2.0]])
    # A float32 layer casts float64 inputs to its dtype (Keras autocasting)...
    y = layers.LeakyReLU(0.5)(x)
    assert y.numpy().dtype == np.float32
    np.testing.assert_allclose(y.numpy(), ref_leaky(x, 0.5)[0], rtol=1e-7)
    # ...and a float64 layer, given by name or as a serialised DTypePolicy, computes in float64.
    policy = {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float64"},
              "registered_name": None}
    for dtype in ["float64", policy]:
        for layer in [layers.ReLU(negative_slope=0.1, dtype=dtype), layers.ELU(dtype=dtype),
                      layers.ThresholdedReLU(0.1, dtype=dtype), layers.Softmax(dtype=dtype),
                      layers.PReLU(dtype=dtype), layers.Rescaling(3.0, dtype=dtype),
                      layers.LeakyReLU(dtype=dtype)]:
            out = layer(x.astype(np.float32))
            assert out.numpy().dtype == np.float64, type(layer).__name__
            assert layer.dtype == "float64" and layer.get_config()["dtype"] == "float64"
            if isinstance(layer, layers.PReLU):
                assert layer.alpha.numpy().dtype == np.float64
    np.testing.assert_allclose(layers.ELU(dtype="float64")(x).numpy(), ref_elu(x, 1.0)[0],
                               rtol=1e-15)
    with _floatx64():
        assert layers.Softmax()(x).numpy().dtype == np.float64


class _floatx64:
    def __enter__(self):
        self.old = keras.backend.floatx()
        keras.backend.set_floatx("float64")

    def __exit__(self, *exc):
        keras.backend.set_floatx(self.old)
        return False


# ---------------------------------------------------------------------------- configs

CONFIGS = [
    (lambda: layers.ReLU(max_value=6, negative_slope=0.1, threshold=0.5),
     {"max_value": 6.0, "negative_slope": 0.1, "threshold": 0.5}),
    (lambda: layers.ReLU(), {"max_value": None, "negative_slope": 0.0, "threshold": 0.0}),
    (lambda: layers.LeakyReLU(), {"alpha": 0.3}),
    (lambda: layers.LeakyReLU(negative_slope=0.2), {"alpha": 0.2}),
    (lambda: layers.ELU(alpha=0.5), {"alpha": 0.5}),
    (lambda: layers.ThresholdedReLU(theta=0.7), {"theta": 0.7}),
    (lambda: layers.Softmax(axis=1), {"axis": 1}),
    (lambda: layers.Softmax(axis=(1, 2)), {"axis": [1, 2]}),
    (lambda: layers.PReLU(shared_axes=[1, 2]),
     {"alpha_initializer": "zeros", "alpha_regularizer": None, "alpha_constraint": None,
      "shared_axes": [1, 2]}),
    (lambda: layers.PReLU(shared_axes=3, alpha_initializer="ones"),
     {"alpha_initializer": "ones", "shared_axes": [3]}),
    (lambda: layers.Rescaling(1 / 255.0), {"scale": 1 / 255.0, "offset": 0.0}),
    (lambda: layers.Rescaling([1, 2], offset=np.array([0.5, -0.5])),
     {"scale": [1.0, 2.0], "offset": [0.5, -0.5]}),
]


@pytest.mark.parametrize("i", range(len(CONFIGS)))
def test_config_round_trip(i):
    make, keys = CONFIGS[i]
    layer = make()
    cfg = layer.get_config()
    for k, v in keys.items():
        assert cfg[k] == v, (k, cfg[k], v)
    assert {"name", "trainable", "dtype"} <= set(cfg)
    cfg = json.loads(json.dumps(cfg))
    again = type(layer).from_config(cfg)
    assert type(again) is type(layer) and again.get_config() == cfg
    ser = json.loads(json.dumps(layers.serialize(layer)))
    assert ser["class_name"] == type(layer).__name__
    assert layers.get_layer_class(ser["class_name"]) is type(layer)
    assert layers.deserialize(ser).get_config() == cfg


def test_keras3_configs_load():
    leaky = layers.deserialize({"class_name": "LeakyReLU",
                                "config": {"name": "lr", "negative_slope": 0.2,
                                           "trainable": True, "dtype": "float32"}})
    assert leaky.alpha == 0.2 and leaky.negative_slope == 0.2
    resc = layers.Rescaling.from_config(
        {"name": "r", "scale": {"class_name": "__numpy__",
                                "config": {"value": [1.0, 2.0], "dtype": "float32"}},
         "offset": 0.0})
    np.testing.assert_array_equal(resc(np.ones((1, 2), np.float32)).numpy(), [[1.0, 2.0]])


def test_default_names_and_exports():
    assert [layers.ReLU().name, layers.LeakyReLU().name, layers.PReLU().name,
            layers.ELU().name, layers.ThresholdedReLU().name, layers.Softmax().name,
            layers.Rescaling(1.0).name] == ["re_lu", "leaky_re_lu", "p_re_lu", "elu",
                                             "thresholded_re_lu", "softmax", "rescaling"]
    assert nabi.keras.layers.LeakyReLU is layers.LeakyReLU
    assert "activation" not in layers._OPTIONAL_ERRORS


def test_compute_output_shape():
    for layer in [layers.ReLU(), layers.LeakyReLU(), layers.ELU(), layers.ThresholdedReLU(),
                  layers.Softmax(axis=1), layers.PReLU(shared_axes=[1]),
                  layers.Rescaling([1.0, 2.0, 3.0])]:
        assert layer.compute_output_shape((None, 5, 3)) == (None, 5, 3), type(layer).__name__
    assert layers.Softmax(axis=[1, 2]).compute_output_shape((2, None, 4)) == (2, None, 4)


# ---------------------------------------------------------------------------- errors

@pytest.mark.parametrize("make,match", [
    (lambda: layers.ReLU(max_value=-1.0, name="r"), r"\[r\] ReLU max_value .*max_value=-1.0"),
    (lambda: layers.ReLU(negative_slope=-0.1, name="r"), r"\[r\] .*negative_slope=-0.1"),
    (lambda: layers.ReLU(negative_slope=None, name="r"), r"\[r\] .*negative_slope=None"),
    (lambda: layers.ReLU(threshold=-2, name="r"), r"\[r\] .*threshold=-2.0"),
    (lambda: layers.ReLU(max_value="6", name="r"), r"\[r\] ReLU max_value must be a number"),
    (lambda: layers.LeakyReLU(alpha=-0.3, name="l"), r"\[l\] LeakyReLU .*alpha=-0.3"),
    (lambda: layers.LeakyReLU(negative_slope=-1, name="l"), r"\[l\] .*negative_slope=-1.0"),
    (lambda: layers.LeakyReLU(alpha=0.1, negative_slope=0.2, name="l"),
     r"\[l\] .*alpha=0.1 and negative_slope=0.2"),
    (lambda: layers.ELU(alpha=None, name="e"), r"\[e\] ELU alpha cannot be None"),
    (lambda: layers.ThresholdedReLU(theta=-1, name="t"), r"\[t\] .*theta=-1.0"),
    (lambda: layers.Softmax(axis=1.5, name="s"), r"\[s\] Softmax axis .*axis=1.5"),
    (lambda: layers.Softmax(axis=[], name="s"), r"\[s\] Softmax axis"),
    (lambda: layers.PReLU(shared_axes=["a"], name="p"), r"\[p\] PReLU shared_axes .*'a'"),
    (lambda: layers.Rescaling("big", name="s"), r"\[s\] Rescaling scale .*'big'"),
    (lambda: layers.Rescaling(2.0, dtype="int32", name="s"), r"\[s\] .*dtype=int32"),
])
def test_bad_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_bad_inputs_name_the_layer_and_shapes(device):
    x2 = np.zeros((3, 4), np.float32)
    x3 = np.zeros((2, 3, 4), np.float32)
    with pytest.raises(ValueError, match=r"\[s\] Softmax axis=2 is out of range for an input of "
                                         r"rank 2 \(shape \(3, 4\)\)"):
        layers.Softmax(axis=2, name="s")(x2)
    with pytest.raises(ValueError, match=r"\[s\] Softmax axis=-3 is out of range.*\(3, 4\)"):
        layers.Softmax(axis=-3, name="s")(x2)
    with pytest.raises(ValueError, match=r"\[s\] Softmax axis=\[1, -2\] repeats"):
        layers.Softmax(axis=[1, -2], name="s")(x3)
    with pytest.raises(ValueError, match=r"\[s\] Softmax axis=2 is out of range for an input of "
                                         r"rank 2 \(shape \(None, 4\)\)"):
        layers.Softmax(axis=2, name="s")(keras.Input((4,)))
    with pytest.raises(ValueError, match=r"\[s\] Softmax axis=\[1, 5\] is out of range.*rank 3"):
        layers.Softmax(axis=[1, 5], name="s").compute_output_shape((None, 3, 4))
    with pytest.raises(ValueError, match=r"\[s\] Softmax mask of shape \(3, 3\) does not "
                                         r"broadcast to the input of shape \(3, 4\)"):
        layers.Softmax(name="s")(x2, mask=np.ones((3, 3), bool))
    with pytest.raises(ValueError, match=r"\[p\] PReLU shared_axes must name input axes 1\.\.2 "
                                         r"\(axis 0 is the batch\), got shared_axes=\[3\] for "
                                         r"input shape \(2, 3, 4\)"):
        layers.PReLU(shared_axes=[3], name="p")(x3)
    with pytest.raises(ValueError, match=r"\[p\] PReLU shared_axes .*shared_axes=\[0\]"):
        layers.PReLU(shared_axes=0, name="p")(x3)
    with pytest.raises(ValueError, match=r"\[p\] PReLU needs an input of rank >= 2"):
        layers.PReLU(name="p")(np.zeros(3, np.float32))
    with pytest.raises(ValueError, match=r"\[p\] PReLU needs every input axis .*\(None, None, "
                                         r"4\)"):
        layers.PReLU(name="p")(keras.Input((None, 4)))
    p = layers.PReLU(name="p", shared_axes=[1])
    p(x3)
    p(np.zeros((5, 7, 4), np.float32))       # the shared axis may change size
    with pytest.raises(ValueError, match=r"\[p\] PReLU input of shape \(2, 3, 5\) does not match "
                                         r"its alpha of shape \(1, 4\)"):
        p(np.zeros((2, 3, 5), np.float32))
    with pytest.raises(ValueError, match=r"\[r\] Rescaling scale of shape \(3,\) does not "
                                         r"broadcast to the input of shape \(3, 4\)"):
        layers.Rescaling([1.0, 2.0, 3.0], name="r")(x2)
    with pytest.raises(ValueError, match=r"\[r\] Rescaling scale of shape \(3,\) does not "
                                         r"broadcast to the input of shape \(None, 4\)"):
        layers.Rescaling([1.0, 2.0, 3.0], name="r")(keras.Input((4,)))
    with pytest.raises(ValueError, match=r"\[r\] Rescaling offset of shape \(2, 5\) does not "
                                         r"broadcast to the input of shape \(None, 4\)"):
        layers.Rescaling(1.0, offset=np.zeros((2, 5)), name="r").compute_output_shape((None, 4))
