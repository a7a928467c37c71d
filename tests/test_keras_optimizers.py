"""Keras optimizers vs an independent float64 NumPy implementation of the Keras 3 rules."""
import importlib
import math
import sys
import types

import numpy as np
import pytest

import nabi as tf


def _mod(name):
    try:
        return importlib.import_module(f"nabi.keras.{name}")
    except ImportError:  # the package __init__ is mid-edit elsewhere: load the submodule alone
        import os
        pkg = types.ModuleType("nabi.keras")
        pkg.__path__ = [os.path.join(os.path.dirname(tf.__file__), "keras")]
        sys.modules["nabi.keras"] = pkg
        return importlib.import_module(f"nabi.keras.{name}")


O = _mod("optimizers")
S = O.schedules
SHAPES = [(3, 4), (5,)]


def _setup(seed=0, dtype=np.float32):
    r = np.random.default_rng(seed)
    init = [r.standard_normal(s).astype(dtype) for s in SHAPES]
    grads = [[r.standard_normal(s).astype(dtype) for s in SHAPES] for _ in range(6)]
    vs = [tf.Variable(a.copy()) for a in init]
    return init, grads, vs


# ---------------------------------------------------------------- reference rules (float64)

def ref_run(kind, init, grads, lr=0.01, wd=None, clip=None, **h):
    ps = [a.astype(np.float64) for a in init]
    st = {}
    u_prod = 1.0
    for step, gs in enumerate(grads):
        gs = [g.astype(np.float64) for g in gs]
        if clip:
            mode, c = clip
            if mode == "clipnorm":
                gs = [g * c / max(np.sqrt((g * g).sum()), c) for g in gs]
            elif mode == "global_clipnorm":
                n = math.sqrt(sum((g * g).sum() for g in gs))
                gs = [g * c / max(n, c) for g in gs]
            else:
                gs = [np.clip(g, -c, c) for g in gs]
        cur_lr = lr(step) if callable(lr) else lr
        t = step + 1
        if wd:
            ps = [p - p * wd * cur_lr for p in ps]
        if kind == "nadam":
            b1 = h.get("beta_1", 0.9)
            u_prod = u_prod * b1 * (1 - 0.5 * 0.96 ** t)
        for i, (p, g) in enumerate(zip(ps, gs)):
            s = st.setdefault(i, {})
            if kind == "sgd":
                mom = h.get("momentum", 0.0)
                if mom:
                    m = s.get("m", 0) * mom - cur_lr * g
                    s["m"] = m
                    p = p + (m * mom - cur_lr * g if h.get("nesterov") else m)
                else:
                    p = p - cur_lr * g
            elif kind == "adam":
                b1, b2, eps = h.get("beta_1", 0.9), h.get("beta_2", 0.999), h.get("epsilon", 1e-7)
                m = s.get("m", 0) + (g - s.get("m", 0)) * (1 - b1)
                v = s.get("v", 0) + (g * g - s.get("v", 0)) * (1 - b2)
                s["m"], s["v"] = m, v
                if h.get("amsgrad"):
                    s["vh"] = np.maximum(s.get("vh", 0), v)
                    v = s["vh"]
                alpha = cur_lr * math.sqrt(1 - b2 ** t) / (1 - b1 ** t)
                p = p - m * alpha / (np.sqrt(v) + eps)
            elif kind == "rmsprop":
                rho, mom, eps = h.get("rho", 0.9), h.get("momentum", 0.0), h.get("epsilon", 1e-7)
                v = rho * s.get("v", 0) + (1 - rho) * g * g
                s["v"] = v
                if h.get("centered"):
                    a = rho * s.get("a", 0) + (1 - rho) * g
                    s["a"] = a
                    den = v - a * a + eps
                else:
                    den = v + eps
                inc = cur_lr * g / np.sqrt(den)
                if mom > 0:
                    s["m"] = mom * s.get("m", 0) + inc
                    p = p - s["m"]
                else:
                    p = p - inc
            elif kind == "adagrad":
                a = s.get("a", h.get("initial_accumulator_value", 0.1)) + g * g
                s["a"] = a
                p = p - cur_lr * g / np.sqrt(a + h.get("epsilon", 1e-7))
            elif kind == "adadelta":
                rho, eps = h.get("rho", 0.95), h.get("epsilon", 1e-7)
                ag = rho * s.get("ag", 0) + (1 - rho) * g * g
                d = -np.sqrt(s.get("ad", 0) + eps) * g / np.sqrt(ag + eps)
                s["ag"], s["ad"] = ag, rho * s.get("ad", 0) + (1 - rho) * d * d
                p = p + cur_lr * d
            elif kind == "adamax":
                b1, b2, eps = h.get("beta_1", 0.9), h.get("beta_2", 0.999), h.get("epsilon", 1e-7)
                m = s.get("m", 0) + (g - s.get("m", 0)) * (1 - b1)
                u = np.maximum(b2 * s.get("u", 0), np.abs(g))
                s["m"], s["u"] = m, u
                p = p - cur_lr * m / ((1 - b1 ** t) * (u + eps))
            elif kind == "nadam":
                b1, b2, eps = h.get("beta_1", 0.9), h.get("beta_2", 0.999), h.get("epsilon", 1e-7)
                u_t = b1 * (1 - 0.5 * 0.96 ** t)
                u_t1 = b1 * (1 - 0.5 * 0.96 ** (t + 1))
                m = s.get("m", 0) + (g - s.get("m", 0)) * (1 - b1)
                v = s.get("v", 0) + (g * g - s.get("v", 0)) * (1 - b2)
                s["m"], s["v"] = m, v
                m_hat = u_t1 * m / (1 - u_prod * u_t1) + (1 - u_t) * g / (1 - u_prod)
                v_hat = v / (1 - b2 ** t)
                p = p - m_hat * cur_lr / (np.sqrt(v_hat) + eps)
            ps[i] = p
    return ps


CASES = [
    ("sgd", O.SGD, {}),
    ("sgd", O.SGD, {"momentum": 0.9}),
    ("sgd", O.SGD, {"momentum": 0.9, "nesterov": True}),
    ("adam", O.Adam, {}),
    ("adam", O.Adam, {"amsgrad": True, "beta_1": 0.8}),
    ("rmsprop", O.RMSprop, {}),
    ("rmsprop", O.RMSprop, {"momentum": 0.5}),
    ("rmsprop", O.RMSprop, {"centered": True, "momentum": 0.3}),
    ("adagrad", O.Adagrad, {}),
    ("adadelta", O.Adadelta, {}),
    ("adamax", O.Adamax, {}),
    ("nadam", O.Nadam, {}),
]


def _run(opt, grads, vs, as_tensor=False):
    for gs in grads:
        opt.apply_gradients(zip([tf.constant(g) if as_tensor else g for g in gs], vs))


@pytest.mark.parametrize("kind,cls,hyper", CASES, ids=lambda x: str(x))
def test_rule_matches_reference(kind, cls, hyper):
    init, grads, vs = _setup()
    lr = 1.0 if kind == "adadelta" else 0.01
    opt = cls(learning_rate=lr, **hyper)
    _run(opt, grads, vs, as_tensor=True)
    ref = ref_run(kind, init, grads, lr=lr, **hyper)
    for v, r in zip(vs, ref):
        np.testing.assert_allclose(v.numpy(), r, rtol=2e-5, atol=2e-6)
    assert int(opt.iterations.numpy()) == len(grads)


@pytest.mark.parametrize("kind,cls,hyper", CASES, ids=lambda x: str(x))
def test_numpy_fallback_matches(kind, cls, hyper, monkeypatch):
    """The NumPy stand-ins (used when the build lacks a kernel) implement the same rules."""
    from nabi.keras.optimizers import _kernels
    monkeypatch.setattr(_kernels, f"{kind}_update", _kernels.NUMPY[kind])
    init, grads, vs = _setup(3, np.float64)
    lr = 1.0 if kind == "adadelta" else 0.01
    opt = cls(learning_rate=lr, **hyper)
    _run(opt, grads, vs)
    # the learning rate lives in a float32 Variable, as in Keras
    ref = ref_run(kind, init, grads, lr=float(np.float32(lr)), **hyper)
    for v, r in zip(vs, ref):
        np.testing.assert_allclose(v.numpy(), r, rtol=1e-9, atol=1e-11)


def test_float64_variables():
    init, grads, vs = _setup(1, np.float64)
    opt = O.Adam(0.05)
    _run(opt, [[g.astype(np.float32) for g in gs] for gs in grads], vs)  # grads cast to f64
    ref = ref_run("adam", init, [[g.astype(np.float32) for g in gs] for gs in grads], lr=0.05)
    for v, r in zip(vs, ref):
        assert v.numpy().dtype == np.float64
        np.testing.assert_allclose(v.numpy(), r, rtol=1e-6)


@pytest.mark.parametrize("clip", [("clipnorm", 0.5), ("global_clipnorm", 1.0), ("clipvalue", 0.2)])
def test_clipping(clip):
    init, grads, vs = _setup(2)
    opt = O.SGD(0.1, **{clip[0]: clip[1]})
    _run(opt, grads, vs)
    ref = ref_run("sgd", init, grads, lr=0.1, clip=clip)
    for v, r in zip(vs, ref):
        np.testing.assert_allclose(v.numpy(), r, rtol=2e-5, atol=2e-6)


def test_only_one_clip():
    with pytest.raises(ValueError):
        O.SGD(clipnorm=1.0, clipvalue=1.0)


def test_weight_decay_and_adamw():
    init, grads, vs = _setup(4)
    opt = O.AdamW(learning_rate=0.01, weight_decay=0.1)
    _run(opt, grads, vs)
    ref = ref_run("adam", init, grads, lr=0.01, wd=0.1)
    for v, r in zip(vs, ref):
        np.testing.assert_allclose(v.numpy(), r, rtol=2e-5, atol=2e-6)
    init, grads, vs = _setup(5)
    opt = O.SGD(0.1, momentum=0.9, weight_decay=0.05)
    _run(opt, grads, vs)
    ref = ref_run("sgd", init, grads, lr=0.1, wd=0.05, momentum=0.9)
    for v, r in zip(vs, ref):
        np.testing.assert_allclose(v.numpy(), r, rtol=2e-5, atol=2e-6)
    assert O.AdamW().weight_decay == 0.004


def test_exclude_from_weight_decay():
    init, grads, vs = _setup(4)
    opt = O.SGD(0.1, weight_decay=0.5)
    opt.exclude_from_weight_decay(var_list=[vs[1]])
    _run(opt, grads[:1], vs)
    np.testing.assert_allclose(vs[1].numpy(), init[1] - 0.1 * grads[0][1], rtol=1e-6)


def test_schedules_values():
    e = S.ExponentialDecay(0.1, 10, 0.5)
    assert math.isclose(float(e(5)), 0.1 * 0.5 ** 0.5, rel_tol=1e-6)
    assert math.isclose(float(S.ExponentialDecay(0.1, 10, 0.5, staircase=True)(15)), 0.05,
                        rel_tol=1e-6)
    p = S.PiecewiseConstantDecay([2, 4], [1.0, 0.5, 0.1])
    assert [float(p(s)) for s in (0, 2, 3, 4, 5)] == [1.0, 1.0, 0.5, 0.5, pytest.approx(0.1)]
    assert math.isclose(float(S.InverseTimeDecay(1.0, 2, 0.5)(4)), 1 / 2.0, rel_tol=1e-6)
    assert math.isclose(float(S.PolynomialDecay(1.0, 10, 0.0, power=2)(5)), 0.25, rel_tol=1e-6)
    assert math.isclose(float(S.PolynomialDecay(1.0, 10, 0.0)(50)), 0.0, abs_tol=1e-7)
    c = S.CosineDecay(1.0, 10, alpha=0.1)
    assert math.isclose(float(c(5)), 0.55, rel_tol=1e-6)
    w = S.CosineDecay(0.0, 10, warmup_target=1.0, warmup_steps=4)
    assert math.isclose(float(w(2)), 0.5, rel_tol=1e-6)
    assert math.isclose(float(w(4)), 1.0, rel_tol=1e-6)
    cfg = S.serialize(e)
    e2 = S.deserialize(cfg)
    assert float(e2(7)) == float(e(7))


@pytest.mark.parametrize("lr_kind", ["schedule", "callable_step", "callable_noarg", "decay"])
def test_schedule_in_optimizer(lr_kind):
    init, grads, vs = _setup(6)
    if lr_kind == "schedule":
        lr = S.ExponentialDecay(0.1, 2, 0.5)
        ref_lr = lambda s: 0.1 * 0.5 ** (s / 2)  # noqa: E731
        opt = O.SGD(learning_rate=lr)
    elif lr_kind == "callable_step":
        ref_lr = lambda s: 0.1 / (1 + s)  # noqa: E731
        opt = O.SGD(learning_rate=lambda step: 0.1 / (1 + float(step)))
    elif lr_kind == "callable_noarg":
        ref_lr = lambda s: 0.05  # noqa: E731
        opt = O.SGD(learning_rate=lambda: 0.05)
    else:
        ref_lr = lambda s: 0.1 / (1 + 0.5 * s)  # noqa: E731
        opt = O.SGD(lr=0.1, decay=0.5)
    _run(opt, grads, vs)
    ref = ref_run("sgd", init, grads, lr=ref_lr)
    for v, r in zip(vs, ref):
        np.testing.assert_allclose(v.numpy(), r, rtol=2e-5, atol=2e-6)


def test_learning_rate_property():
    opt = O.Adam(lr=0.5)
    assert math.isclose(float(opt.learning_rate), 0.5)
    assert opt.learning_rate is opt.lr
    opt.learning_rate = 0.25
    assert math.isclose(float(opt.lr), 0.25)
    opt.learning_rate.assign(0.125)
    init, grads, vs = _setup()
    _run(opt, grads[:2], vs)
    ref = ref_run("adam", init, grads[:2], lr=0.125)
    np.testing.assert_allclose(vs[0].numpy(), ref[0], rtol=2e-5, atol=2e-6)


def test_none_grads_skipped_and_minimize():
    init, grads, vs = _setup()
    opt = O.SGD(0.1)
    opt.apply_gradients([(grads[0][0], vs[0]), (None, vs[1])])
    np.testing.assert_array_equal(vs[1].numpy(), init[1])
    np.testing.assert_allclose(vs[0].numpy(), init[0] - 0.1 * grads[0][0], rtol=1e-6)
    # minimize with a callable loss, and with a Tensor loss + tape
    w = tf.Variable(np.array([3.0, -2.0], np.float32))
    opt = O.SGD(0.1)
    opt.minimize(lambda: tf.reduce_sum(w * w), [w])
    np.testing.assert_allclose(w.numpy(), [3.0 * 0.8, -2.0 * 0.8], rtol=1e-6)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(w * w)
    opt.minimize(loss, [w], tape=tape)
    np.testing.assert_allclose(w.numpy(), [3.0 * 0.64, -2.0 * 0.64], rtol=1e-6)
    with pytest.raises(ValueError):
        opt.minimize(loss, [w])
    # apply(grads, vars)
    opt2 = O.SGD(1.0)
    opt2.apply([np.ones(2, np.float32)], [w])
    np.testing.assert_allclose(w.numpy(), [3.0 * 0.64 - 1, -2.0 * 0.64 - 1], rtol=1e-6)


def test_variables_and_state_roundtrip():
    init, grads, vs = _setup(7)
    opt = O.Adam(0.01, amsgrad=True)
    _run(opt, grads[:3], vs)
    names = [v.name for v in opt.variables]
    assert names[0].startswith("iteration") and names[1].startswith("learning_rate")
    assert len(opt.variables) == 2 + 3 * len(vs)
    assert names[2].endswith("_momentum:0") and names[3].endswith("_velocity:0")
    state = opt.get_weights()
    # a fresh optimizer restored from the state continues identically
    vs2 = [tf.Variable(v.numpy()) for v in vs]
    opt2 = O.Adam(0.01, amsgrad=True)
    opt2.build(vs2)
    opt2.set_weights(state)
    assert int(opt2.iterations.numpy()) == 3
    _run(opt, grads[3:], vs)
    _run(opt2, grads[3:], vs2)
    for a, b in zip(vs, vs2):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    # Keras 2 layout (no learning rate) is accepted too
    opt3 = O.Adam(0.01, amsgrad=True)
    opt3.build([tf.Variable(v.numpy()) for v in vs])
    opt3.set_weights([state[0]] + state[2:])
    with pytest.raises(ValueError):
        opt3.set_weights(state[:3])


def test_nadam_state_includes_u_product():
    init, grads, vs = _setup(8)
    opt = O.Nadam(0.01)
    _run(opt, grads[:2], vs)
    assert len(opt.variables) == 2 + 2 * len(vs) + 1


def test_get_serialize_deserialize():
    for name, cls in [("sgd", O.SGD), ("adam", O.Adam), ("rmsprop", O.RMSprop),
                      ("adagrad", O.Adagrad), ("adadelta", O.Adadelta), ("adamax", O.Adamax),
                      ("nadam", O.Nadam), ("adamw", O.AdamW), ("Adam", O.Adam)]:
        assert isinstance(O.get(name), cls)
    opt = O.Adam(learning_rate=S.ExponentialDecay(0.1, 10, 0.9), beta_1=0.8, clipnorm=1.0)
    cfg = O.serialize(opt)
    assert cfg["class_name"] == "Adam" and cfg["config"]["beta_1"] == 0.8
    opt2 = O.deserialize(cfg)
    assert isinstance(opt2, O.Adam) and opt2.beta_1 == 0.8 and opt2.clipnorm == 1.0
    assert isinstance(opt2.learning_rate, tf.Tensor)
    o = O.SGD(0.3, momentum=0.5)
    assert O.get(o) is o
    o2 = O.get({"class_name": "SGD", "config": o.get_config()})
    assert o2.momentum == 0.5 and math.isclose(float(o2.learning_rate), 0.3, rel_tol=1e-6)
    assert O.SGD.from_config({"learning_rate": 0.1, "decay": 0.0, "jit_compile": False,
                              "is_legacy_optimizer": False}).decay == 0.0
    assert O.legacy.Adam is O.Adam
    with pytest.raises(ValueError):
        O.get("nope")


def test_constraint_applied_after_update():
    from nabi.keras import constraints as C
    v = tf.Variable(np.array([[3.0, 4.0]], np.float32).T, constraint=C.NonNeg())
    O.SGD(10.0).apply_gradients([(np.array([[1.0], [0.0]], np.float32), v)])
    np.testing.assert_array_equal(v.numpy(), [[0.0], [4.0]])


def test_new_variables_extend_state():
    init, grads, vs = _setup()
    opt = O.Adam(0.01)
    opt.apply_gradients(zip(grads[0][:1], vs[:1]))
    opt.apply_gradients(zip(grads[0], vs))
    assert len(opt.variables) == 2 + 2 * len(vs)


def test_apply_gradients_reuses_its_plan():
    """Repeated steps over the same variables reuse one cached update plan (what keeps a step
    cheap; its cost is measured by the benchmarks, not here) and count every step."""
    vs = [tf.Variable(np.zeros(s, np.float32)) for s in [(2, 8), (8,), (8, 1), (1,)]]
    gs = [np.ones(v.shape, np.float32) for v in vs]
    opt = O.Adam()
    pairs = list(zip(gs, vs))
    for _ in range(300):
        opt.apply_gradients(pairs)
    assert len(opt._cache) == 1 and int(opt.iterations.numpy()) == 300
    assert all(np.isfinite(v.numpy()).all() and (v.numpy() < 0).all() for v in vs)
