"""Ftrl, Lion and Adafactor vs independent float64 NumPy references written from the published
update rules (Keras 2.15 / Keras 3 docstrings and sources, McMahan et al. 2013, Chen et al.
2023, Shazeer & Stern 2018), on the CPU and the (emulated) GPU; config, compile/fit and .keras
round trips; argument errors."""
import math

import numpy as np
import pytest

import nabi as tf
from nabi import keras

O = keras.optimizers
SHAPES = [(7,), (3, 5), (2, 3, 4)]


def _problem(seed, steps, dtype=np.float32, small_vector=False):
    r = np.random.default_rng(seed)
    init = [r.standard_normal(s).astype(dtype) for s in SHAPES]
    if small_vector:      # rms(w) < epsilon_2: Adafactor's max(epsilon_2, rms(w)) picks epsilon_2
        init[0] = (init[0] * 1e-5).astype(dtype)
    grads = [[r.standard_normal(s).astype(dtype) for s in SHAPES] for _ in range(steps)]
    return init, grads


# ------------------------------------------------------------------- float64 references

def _ftrl_step(st, w, g, lr, t, learning_rate_power=-0.5, initial_accumulator_value=0.1,
               l1_regularization_strength=0.0, l2_regularization_strength=0.0,
               l2_shrinkage_regularization_strength=0.0, beta=0.0):
    """FTRL-Proximal per coordinate (McMahan et al. Algorithm 1, with Keras's lr_power,
    shrinkage-type L2 g_s = g + 2 l2_shrinkage w, and beta): sigma = (n'^-p - n^-p) / lr;
    z += g_s - sigma w;
    w = 0 if |z| <= l1 else (sgn(z) l1 - z) / (n'^-p / lr + 2 l2 + beta / lr)."""
    p = -learning_rate_power
    l1, l2 = l1_regularization_strength, l2_regularization_strength
    n = st.get("n", np.full_like(w, initial_accumulator_value))
    z = st.get("z", np.zeros_like(w))
    g_s = g + 2.0 * l2_shrinkage_regularization_strength * w
    n_new = n + g ** 2
    sigma = (n_new ** p - n ** p) / lr
    z = z + g_s - sigma * w
    denom = n_new ** p / lr + 2.0 * l2 + beta / lr
    w = np.where(np.abs(z) <= l1, 0.0, (np.sign(z) * l1 - z) / denom)
    st["n"], st["z"] = n_new, z
    return w


def _lion_step(st, w, g, lr, t, beta_1=0.9, beta_2=0.99):
    m = st.get("m", np.zeros_like(w))
    c = beta_1 * m + (1 - beta_1) * g
    st["m"] = beta_2 * m + (1 - beta_2) * g
    return w - lr * np.sign(c)


def _adafactor_step(st, w, g, lr, t, beta_2_decay=-0.8, epsilon_1=1e-30, epsilon_2=1e-3,
                    clip_threshold=1.0, relative_step=True):
    rms = lambda x: math.sqrt(float(np.mean(x ** 2)))  # noqa: E731
    rho = min(lr, t ** -0.5)
    alpha = max(epsilon_2, rms(w)) * rho
    G = g ** 2 + epsilon_1
    b = 1.0 - t ** beta_2_decay
    if w.ndim >= 2:
        # row statistics drop the last axis, column statistics the second-to-last one
        st["r"] = b * st.get("r", 0.0) + (1 - b) * G.mean(axis=-1)
        st["c"] = b * st.get("c", 0.0) + (1 - b) * G.mean(axis=-2)
        r, c = st["r"], st["c"]
        v = np.einsum("...i,...j->...ij", r / r.mean(axis=-1, keepdims=True), c)
    else:
        st["v"] = b * st.get("v", 0.0) + (1 - b) * G
        v = st["v"]
    u = g / np.sqrt(v)
    u = u / max(1.0, rms(u) / clip_threshold)
    return w - alpha * u


STEPS = {"ftrl": _ftrl_step, "lion": _lion_step, "adafactor": _adafactor_step}


def reference(kind, init, grads, lr, weight_decay=None, clip=None, **hyper):
    """Keras's common pipeline around each rule: clip the gradients, decoupled weight decay
    w -= w * wd * lr, then the rule; lr may be a function of the 0-based step."""
    ws = [a.astype(np.float64) for a in init]
    states = [{} for _ in ws]
    for step, gs in enumerate(grads):
        gs = [g.astype(np.float64) for g in gs]
        if clip is not None:
            mode, c = clip
            if mode == "clipnorm":
                gs = [g * min(1.0, c / np.linalg.norm(g)) for g in gs]
            elif mode == "global_clipnorm":
                total = math.sqrt(sum(float((g ** 2).sum()) for g in gs))
                gs = [g * min(1.0, c / total) for g in gs]
            else:
                gs = [np.clip(g, -c, c) for g in gs]
        cur = lr(step) if callable(lr) else lr
        # the learning rate is held in float32, as in Keras
        cur = float(np.float32(cur))
        if weight_decay:
            ws = [w - w * weight_decay * cur for w in ws]
        ws = [STEPS[kind](s, w, g, cur, step + 1, **hyper) for s, w, g in zip(states, ws, gs)]
    return ws


def _sched(step):
    return 0.5 * 0.9 ** (step / 2.0)


CASES = [
    ("ftrl", O.Ftrl, 0.1, {}, {}),
    ("ftrl", O.Ftrl, 0.2, {"learning_rate_power": -0.7, "initial_accumulator_value": 0.3,
                           "l1_regularization_strength": 0.05, "l2_regularization_strength": 0.2,
                           "l2_shrinkage_regularization_strength": 0.1, "beta": 0.5}, {}),
    ("ftrl", O.Ftrl, 0.1, {"learning_rate_power": 0.0, "initial_accumulator_value": 0.0,
                           "l1_regularization_strength": 0.3}, {"clip": ("global_clipnorm", 2.0)}),
    ("lion", O.Lion, 0.01, {}, {}),
    ("lion", O.Lion, 0.03, {"beta_1": 0.5, "beta_2": 0.95}, {"weight_decay": 0.2}),
    ("lion", O.Lion, 0.01, {"beta_1": 1.0}, {"clip": ("clipvalue", 0.5)}),
    ("adafactor", O.Adafactor, 0.05, {}, {}),
    # lr above 1/sqrt(t) from step 3 on: the relative step clamps it
    ("adafactor", O.Adafactor, 0.6, {"beta_2_decay": -0.5, "epsilon_2": 0.01,
                                     "clip_threshold": 0.5, "relative_step": False},
     {"clip": ("clipnorm", 3.0)}),
    ("adafactor", O.Adafactor, _sched, {"epsilon_1": 1e-3, "clip_threshold": 2.0},
     {"weight_decay": 0.05}),
]
IDS = ["ftrl-default", "ftrl-l1-l2-shrink-beta", "ftrl-power0-globalclip", "lion-default",
       "lion-betas-wd", "lion-beta1-1-clipvalue", "adafactor-default", "adafactor-clamped-clip",
       "adafactor-schedule-wd"]


def _make(cls, lr, hyper, common):
    kw = dict(hyper)
    clip = common.get("clip")
    if clip is not None:
        kw[clip[0]] = clip[1]
    if common.get("weight_decay"):
        kw["weight_decay"] = common["weight_decay"]
    if callable(lr):
        lr = O.schedules.ExponentialDecay(0.5, decay_steps=2, decay_rate=0.9)
    return cls(learning_rate=lr, **kw)


@pytest.mark.parametrize("kind,cls,lr,hyper,common", CASES, ids=IDS)
def test_matches_reference(where, kind, cls, lr, hyper, common):
    init, grads = _problem(1, 5, small_vector=(kind == "adafactor"))
    with tf.device(where):
        vs = [tf.Variable(a.copy(), name=f"w{i}") for i, a in enumerate(init)]
        storage = [v._data for v in vs]
        opt = _make(cls, lr, hyper, common)
        for step, gs in enumerate(grads):
            if step == 0:
                opt.apply_gradients(zip(gs, vs))
                state = list(opt.variables)
            else:
                opt.apply_gradients(zip([tf.constant(g) for g in gs], vs))
    ref = reference(kind, init, grads, lr, **common, **hyper)
    for v, r in zip(vs, ref):
        got = v.numpy()
        assert got.shape == r.shape and got.dtype == np.float32
        np.testing.assert_allclose(got, r, rtol=2e-5, atol=2e-6)
    # updated in place: the same Variables, the same storage, the same optimizer state objects
    assert all(v._data is s for v, s in zip(vs, storage))
    assert [id(x) for x in opt.variables] == [id(x) for x in state]
    assert int(opt.iterations.numpy()) == len(grads)


def test_float64_variables():
    init, grads = _problem(2, 4, dtype=np.float64)
    for kind, cls, hyper in [("ftrl", O.Ftrl, {"l1_regularization_strength": 0.01}),
                             ("lion", O.Lion, {}), ("adafactor", O.Adafactor, {})]:
        vs = [tf.Variable(a.copy()) for a in init]
        opt = cls(learning_rate=0.125, **hyper)     # a float32-exact learning rate
        for gs in grads:
            opt.apply_gradients(zip(gs, vs))
        for v, r in zip(vs, reference(kind, init, grads, 0.125, **hyper)):
            assert v.numpy().dtype == np.float64
            np.testing.assert_allclose(v.numpy(), r, rtol=1e-10, atol=1e-12)


def test_slots_and_keras_layout():
    vs = [tf.Variable(np.ones(s, np.float32), name=f"w{i}") for i, s in enumerate(SHAPES)]
    g = [np.ones(s, np.float32) for s in SHAPES]

    ftrl = O.Ftrl(initial_accumulator_value=0.25)
    ftrl.build(vs)
    # iteration, learning_rate, then accumulator and linear per variable (Keras's order)
    shapes = [tuple(x.shape) for x in ftrl.variables[2:]]
    assert shapes == [(7,), (7,), (3, 5), (3, 5), (2, 3, 4), (2, 3, 4)]
    vals = [float(np.asarray(x.numpy()).ravel()[0]) for x in ftrl.variables[2:]]
    assert vals == [0.25, 0.0] * 3

    lion = O.Lion()
    lion.apply_gradients(zip(g, vs))
    assert [tuple(x.shape) for x in lion.variables[2:]] == list(SHAPES)
    assert all("momentum" in x.name for x in lion.variables[2:])

    ada = O.Adafactor()
    ada.apply_gradients(zip(g, vs))
    # rank 1: velocity only; rank >= 2: r (last axis dropped), c (second-to-last dropped), v
    assert [tuple(x.shape) for x in ada.variables[2:]] == \
        [(7,), (3,), (5,), (3, 5), (2, 3), (2, 4), (2, 3, 4)]


def test_new_variables_extend_state():
    a = tf.Variable(np.ones((2, 3), np.float32))
    b = tf.Variable(np.ones(4, np.float32))
    for cls in (O.Ftrl, O.Lion, O.Adafactor):
        opt = cls(learning_rate=0.1)
        opt.apply_gradients([(np.ones((2, 3), np.float32), a)])
        n = len(opt.variables)
        opt.apply_gradients([(np.ones((2, 3), np.float32), a), (np.ones(4, np.float32), b)])
        assert len(opt.variables) > n


# ------------------------------------------------------------------- config and registry

@pytest.mark.parametrize("cls,hyper", [
    (O.Ftrl, {"learning_rate_power": -0.6, "initial_accumulator_value": 0.2,
              "l1_regularization_strength": 0.01, "l2_regularization_strength": 0.02,
              "l2_shrinkage_regularization_strength": 0.03, "beta": 0.4, "clipnorm": 1.5}),
    (O.Lion, {"beta_1": 0.8, "beta_2": 0.95, "weight_decay": 0.01}),
    (O.Adafactor, {"beta_2_decay": -0.6, "epsilon_1": 1e-20, "epsilon_2": 2e-3,
                   "clip_threshold": 0.7, "relative_step": False, "global_clipnorm": 2.0}),
], ids=["ftrl", "lion", "adafactor"])
def test_config_round_trip(cls, hyper):
    opt = cls(learning_rate=0.015625, name="my_opt", **hyper)
    cfg = opt.get_config()
    for k, v in hyper.items():
        assert cfg[k] == v
    assert cfg["learning_rate"] == 0.015625 and cfg["name"] == "my_opt"
    again = cls.from_config(cfg)
    assert type(again) is cls and again.get_config() == cfg
    ser = O.serialize(opt)
    assert ser["class_name"] == cls.__name__
    back = O.deserialize(ser)
    assert type(back) is cls and back.get_config() == cfg
    assert type(O.get(ser)) is cls
    sched = cls(learning_rate=O.schedules.ExponentialDecay(0.1, 10, 0.9), **hyper)
    back = O.deserialize(O.serialize(sched))
    assert isinstance(back._learning_rate, O.schedules.ExponentialDecay)


def test_registry_names_and_defaults():
    for name, cls in [("ftrl", O.Ftrl), ("Ftrl", O.Ftrl), ("lion", O.Lion),
                      ("adafactor", O.Adafactor), ("Adafactor", O.Adafactor)]:
        assert type(O.get(name)) is cls
    assert O.legacy.Ftrl is O.Ftrl
    assert O.experimental.Ftrl is O.Ftrl and O.experimental.Adafactor is O.Adafactor
    assert tf.keras.optimizers.Lion is O.Lion
    f, lion, a = O.Ftrl(), O.Lion(), O.Adafactor()
    assert math.isclose(float(f.learning_rate.numpy()), 0.001, rel_tol=1e-6)
    assert (f.learning_rate_power, f.initial_accumulator_value, f.beta) == (-0.5, 0.1, 0.0)
    assert math.isclose(float(lion.learning_rate.numpy()), 1e-3, rel_tol=1e-6)  # Keras 3 (2.15: 1e-4)
    assert (lion.beta_1, lion.beta_2) == (0.9, 0.99)
    assert (a.beta_2_decay, a.epsilon_1, a.epsilon_2, a.clip_threshold, a.relative_step) == \
        (-0.8, 1e-30, 1e-3, 1.0, True)
    assert (f.name, lion.name, a.name) == ("ftrl", "lion", "adafactor")


# ------------------------------------------------------------------- argument errors

@pytest.mark.parametrize("make,match", [
    (lambda: O.Ftrl(initial_accumulator_value=-0.1),
     r"\[Ftrl\] `initial_accumulator_value` needs to be positive or zero.*=-0.1"),
    (lambda: O.Ftrl(learning_rate_power=0.5),
     r"\[Ftrl\] `learning_rate_power` needs to be negative or zero.*=0.5"),
    (lambda: O.Ftrl(l1_regularization_strength=-1),
     r"\[Ftrl\] `l1_regularization_strength`.*Received: l1_regularization_strength=-1"),
    (lambda: O.Ftrl(l2_regularization_strength=-2),
     r"\[Ftrl\] `l2_regularization_strength`.*=-2"),
    (lambda: O.Ftrl(l2_shrinkage_regularization_strength=-3),
     r"\[Ftrl\] `l2_shrinkage_regularization_strength`.*=-3"),
    (lambda: O.Ftrl(beta=-1.0), r"\[Ftrl\] `beta`.*=-1.0"),
    (lambda: O.Lion(beta_1=0.0), r"\[Lion\].*`beta_1`.*SignSGD.*Received: beta_1=0.0"),
    (lambda: O.Lion(beta_1=1.5), r"\[Lion\].*`beta_1`.*Received: beta_1=1.5"),
    (lambda: O.Lion(beta_2=2.0), r"\[Lion\] beta_2 must be in \[0.0, 1.0\], got 2.0"),
    (lambda: O.Adafactor(clip_threshold=0.0), r"\[Adafactor\] `clip_threshold`.*> 0.*=0.0"),
    (lambda: O.Adafactor(epsilon_1=-1e-30), r"\[Adafactor\] `epsilon_1`.*=-1e-30"),
    (lambda: O.Adafactor(epsilon_2=-1.0), r"\[Adafactor\] `epsilon_2`.*=-1.0"),
    (lambda: O.Adafactor(beta_2_decay=0.8), r"\[Adafactor\] `beta_2_decay`.*<= 0.*=0.8"),
    (lambda: O.Lion(clipnorm=1.0, clipvalue=1.0), r"\[Lion\] only one of clipnorm"),
    (lambda: O.Adafactor(clipnorm=-1.0), r"\[Adafactor\] clipnorm must be > 0"),
])
def test_invalid_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_unknown_keyword_names_the_optimizer():
    with pytest.raises(TypeError, match=r"\[Ftrl\].*l3_regularization_strength"):
        O.Ftrl(l3_regularization_strength=0.1)


# ------------------------------------------------------------------- with a model

def _data(n=64, seed=0):
    r = np.random.default_rng(seed)
    x = r.standard_normal((n, 4)).astype(np.float32)
    y = (x @ np.array([[1.0], [-2.0], [0.5], [0.0]], np.float32) + 0.3).astype(np.float32)
    return x, y


def _model(seed=0):
    keras.utils.set_random_seed(seed)
    return keras.Sequential([keras.Input((4,)), keras.layers.Dense(6, activation="tanh"),
                             keras.layers.Dense(1)])


@pytest.mark.parametrize("name,cls", [("ftrl", O.Ftrl), ("lion", O.Lion),
                                      ("adafactor", O.Adafactor)])
def test_compile_by_name_and_fit(name, cls):
    x, y = _data()
    model = _model()
    model.compile(optimizer=name, loss="mse")
    assert type(model.optimizer) is cls
    hist = model.fit(x, y, batch_size=8, epochs=4, shuffle=False, verbose=0).history["loss"]
    assert hist[-1] < hist[0]


@pytest.mark.parametrize("make", [
    lambda: O.Ftrl(0.2, l1_regularization_strength=0.001,
                   l2_shrinkage_regularization_strength=0.01),
    lambda: O.Lion(0.003, beta_1=0.8),
    lambda: O.Adafactor(0.05, clip_threshold=0.8),
], ids=["ftrl", "lion", "adafactor"])
@pytest.mark.parametrize("ext", [".keras", ".h5"])
def test_file_round_trip_resumes_identically(tmp_path, make, ext):
    pytest.importorskip("h5py", reason="saving needs h5py (the `test` extra)")
    x, y = _data(seed=4)
    model = _model(3)
    model.compile(optimizer=make(), loss="mse")
    model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    path = str(tmp_path / f"m{ext}")
    model.save(path)
    keras.utils.set_random_seed(999)        # loading must not depend on the random state
    loaded = keras.models.load_model(path)
    assert type(loaded.optimizer) is type(model.optimizer)
    assert loaded.optimizer.get_config() == model.optimizer.get_config()
    ov = [v.numpy() for v in model.optimizer.variables]
    lv = [v.numpy() for v in loaded.optimizer.variables]
    assert len(ov) == len(lv) > 2
    for a, b in zip(ov, lv):
        np.testing.assert_array_equal(a, b)
    h1 = model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0).history["loss"]
    h2 = loaded.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0).history["loss"]
    np.testing.assert_allclose(h2, h1, rtol=1e-6)
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_allclose(b, a, rtol=1e-6, atol=1e-7)


def test_apply_with_every_gradient_none_raises():
    """Keras: "No gradients provided for any variable" (a loss that does not depend on the
    variables trains nothing; silently skipping the update hid that)."""
    v = tf.Variable([1.0])
    w = tf.Variable([2.0])
    opt = keras.optimizers.SGD(0.1)
    with pytest.raises(ValueError, match=r"\[SGD\] No gradients provided for any variable"):
        opt.apply_gradients([(None, v)])
    with pytest.raises(ValueError, match="No gradients provided"):
        opt.apply([None, None], [v, w])
    opt.apply_gradients([(None, v), (tf.constant([1.0]), w)])   # some None: the rest update
    np.testing.assert_allclose(w.numpy(), [1.9], rtol=1e-6)
    np.testing.assert_allclose(v.numpy(), [1.0])
    opt.apply_gradients([])                                     # nothing given: nothing done
