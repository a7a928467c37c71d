"""Keras 2.11+ optimizer EMA (`use_ema`, `ema_momentum`, `ema_overwrite_frequency`,
`finalize_variable_values`) on every optimizer, on the CPU and the emulated GPU.

The reference is Keras 3's rule (TF 2.21) written here in NumPy: after every update (before
the constraints) `average = m * average + (1 - m) * variable`, with m = 0 at the first update
(iterations == 0: the average becomes the variable; Keras 2.15 instead started from a copy
made when building and used m from the first step on); when `ema_overwrite_frequency` is set, after step
t with t % frequency == 0 the variables are overwritten with their averages; `Model.fit` ends
with `finalize_variable_values(trainable_variables)` (the weights become the averages)."""
import numpy as np
import pytest

import nabi
from nabi import keras

O = keras.optimizers

OPTIMIZERS = {
    "sgd": lambda **k: O.SGD(0.1, **k),
    "sgd_momentum": lambda **k: O.SGD(0.1, momentum=0.9, nesterov=True, **k),
    "adam": lambda **k: O.Adam(0.05, amsgrad=True, **k),
    "adamw": lambda **k: O.AdamW(0.05, weight_decay=0.01, **k),
    "rmsprop": lambda **k: O.RMSprop(0.01, momentum=0.5, centered=True, **k),
    "adagrad": lambda **k: O.Adagrad(0.1, **k),
    "adadelta": lambda **k: O.Adadelta(1.0, **k),
    "adamax": lambda **k: O.Adamax(0.05, **k),
    "nadam": lambda **k: O.Nadam(0.05, **k),
    "ftrl": lambda **k: O.Ftrl(0.1, l1_regularization_strength=0.001, **k),
    "lion": lambda **k: O.Lion(0.01, **k),
    "adafactor": lambda **k: O.Adafactor(0.05, **k),
}


def _problem(seed, steps):
    r = np.random.default_rng(seed)
    init = [r.normal(size=(3, 4)).astype(np.float32), r.normal(size=(5,)).astype(np.float32)]
    grads = [[r.normal(size=a.shape).astype(np.float32) for a in init] for _ in range(steps)]
    return init, grads


def _run(make, init, grads, where, **kw):
    """(variable values after each step, the optimizer, its variables) for `grads`."""
    traj = []
    with nabi.device(where):
        vs = [nabi.Variable(a.copy(), name=f"w{i}") for i, a in enumerate(init)]
        opt = make(**kw)
        for gs in grads:
            opt.apply_gradients(zip([nabi.constant(g) for g in gs], vs))
            traj.append([v.numpy().astype(np.float64) for v in vs])
    return traj, opt, vs


def ref_ema(init, traj, m):
    """Keras 3: the first update copies the variables in, then m * a + (1 - m) * v."""
    avg = None
    out = []
    for vals in traj:
        avg = [v.copy() for v in vals] if avg is None else \
            [m * a + (1 - m) * v for a, v in zip(avg, vals)]
        out.append(avg)
    return out


def _averages(opt):
    return [v.numpy() for v in opt.variables if v.name.split(":")[0].endswith("_average")]


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_ema_follows_keras_rule(where, name):
    make = OPTIMIZERS[name]
    init, grads = _problem(1, 6)
    plain, _, _ = _run(make, init, grads, where)
    traj, opt, vs = _run(make, init, grads, where, use_ema=True, ema_momentum=0.8)
    # the EMA never changes the training itself (no overwrite frequency)
    for a, b in zip(plain[-1], traj[-1]):
        np.testing.assert_array_equal(a, b)
    want = ref_ema(init, traj, 0.8)[-1]
    got = _averages(opt)
    assert len(got) == len(init)
    for g, w, v in zip(got, want, vs):
        assert g.shape == w.shape and g.dtype == np.float32
        assert type(opt._ema_vars[0]._data) is type(v._data)      # state lives with the weight
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)
    opt.finalize_variable_values(vs)
    for v, w in zip(vs, want):
        np.testing.assert_allclose(v.numpy(), w, rtol=1e-5, atol=1e-6)


def test_keras_docstring_example():
    """Keras's `Optimizer` docstring example: SGD(1, use_ema, ema_momentum=0.5,
    ema_overwrite_frequency=3) on loss = var1 + var2 from 2.0. Keras 3 (TF 2.21) gives 1, 0,
    then -0.25: averages 1, 0.5 * 1 + 0.5 * 0, 0.5 * 0.5 + 0.5 * -1 (Keras 2.15: -0.125)."""
    opt = O.SGD(learning_rate=1, use_ema=True, ema_momentum=0.5, ema_overwrite_frequency=3)
    v1, v2 = nabi.Variable(2.0), nabi.Variable(2.0)
    seen = []
    for _ in range(3):
        with nabi.GradientTape() as tape:
            loss = v1 + v2
        opt.apply_gradients(zip(tape.gradient(loss, [v1, v2]), [v1, v2]))
        seen.append((float(v1.numpy()), float(v2.numpy())))
    assert seen == [(1.0, 1.0), (0.0, 0.0), (-0.25, -0.25)]


@pytest.mark.parametrize("freq", [1, 2, 3])
def test_overwrite_frequency_against_numpy_sgd(where, freq):
    """Plain SGD written out in NumPy with the EMA and the overwrite every `freq` steps."""
    init, grads = _problem(2, 7)
    lr, m = 0.1, 0.7
    p = [a.astype(np.float64) for a in init]
    avg = None
    want = []
    for t, gs in enumerate(grads, start=1):
        p = [x - lr * g for x, g in zip(p, gs)]
        avg = [x.copy() for x in p] if t == 1 else [m * a + (1 - m) * x for a, x in zip(avg, p)]
        if t % freq == 0:
            p = [a.copy() for a in avg]
        want.append(p)
    traj, opt, _ = _run(lambda **k: O.SGD(lr, **k), init, grads, where, use_ema=True,
                        ema_momentum=m, ema_overwrite_frequency=freq)
    for t, (got, ref) in enumerate(zip(traj, want), start=1):
        for g, r in zip(got, ref):
            np.testing.assert_allclose(g, r, rtol=1e-5, atol=1e-6, err_msg=f"step {t}")


def test_constraint_applies_after_the_average():
    """Keras: update, EMA (of the unconstrained value), then the constraint."""
    v = nabi.Variable(np.array([1.0, 2.0], np.float32), constraint=lambda x: nabi.clip_by_value(
        x, -0.5, 0.5))
    opt = O.SGD(1.0, use_ema=True, ema_momentum=0.5)
    opt.apply_gradients([(nabi.constant([0.2, -0.2]), v)])
    np.testing.assert_allclose(v.numpy(), [0.5, 0.5])
    # first update: the average is the unconstrained value [0.8, 2.2]
    np.testing.assert_allclose(_averages(opt)[0], [0.8, 2.2], rtol=1e-6)
    opt.apply_gradients([(nabi.constant([0.2, -0.2]), v)])
    np.testing.assert_allclose(v.numpy(), [0.3, 0.5], rtol=1e-6)
    # average = 0.5 * [0.8, 2.2] + 0.5 * [0.3, 0.7]
    np.testing.assert_allclose(_averages(opt)[0], [0.55, 1.45], rtol=1e-6)


def test_layout_and_names():
    init, grads = _problem(3, 1)
    _, opt, vs = _run(lambda **k: O.Adam(**k), init, grads, "/CPU:0", use_ema=True)
    names = [v.name.split(":")[0] for v in opt.variables]
    # iteration, learning_rate, the averages (Keras builds them first), then Adam's slots
    assert names[:4] == ["iteration", "learning_rate", "w0_average", "w1_average"]
    assert names[4:] == ["w0_momentum", "w0_velocity", "w1_momentum", "w1_velocity"]
    _, plain, _ = _run(lambda **k: O.Adam(**k), init, grads, "/CPU:0")
    assert len(plain.variables) == len(opt.variables) - 2


def test_finalize_variable_values():
    init, grads = _problem(4, 3)
    traj, opt, vs = _run(OPTIMIZERS["sgd"], init, grads, "/CPU:0")
    before = [v.numpy() for v in vs]
    opt.finalize_variable_values(vs)            # no EMA: nothing happens
    for v, b in zip(vs, before):
        np.testing.assert_array_equal(v.numpy(), b)
    _, opt, vs = _run(OPTIMIZERS["sgd"], init, grads, "/CPU:0", use_ema=True)
    stranger = nabi.Variable(np.zeros(3, np.float32), name="stranger")
    with pytest.raises(ValueError, match=r"SGD\.finalize_variable_values.*stranger"):
        opt.finalize_variable_values([stranger])
    opt.finalize_variable_values(vs[:1])        # a subset: only those are overwritten
    np.testing.assert_allclose(vs[0].numpy(), _averages(opt)[0])
    assert not np.allclose(vs[1].numpy(), _averages(opt)[1])


# --------------------------------------------------------------------------- fit

def _data(seed=0, n=24):
    r = np.random.default_rng(seed)
    x = r.normal(size=(n, 4)).astype(np.float32)
    y = (x @ r.normal(size=(4, 2))).astype(np.float32)
    return x, y


def _model(seed):
    keras.utils.set_random_seed(seed)
    return keras.Sequential([keras.layers.Input((4,)), keras.layers.Dense(5, activation="tanh"),
                             keras.layers.Dense(2)])


@pytest.mark.parametrize("use_ema", [True, False], ids=["ema", "no_ema"])
def test_fit_finalizes_with_the_averages(where, use_ema):
    x, y = _data()
    m = 0.6
    with nabi.device(where):
        model = _model(0)
        model.compile(optimizer=O.Adam(0.05, use_ema=use_ema, ema_momentum=m), loss="mse")
        init = [w.astype(np.float64) for w in model.get_weights()]
        traj, at_end = [], []
        rec = keras.callbacks.LambdaCallback(
            on_train_batch_end=lambda b, logs: traj.append(
                [w.astype(np.float64) for w in model.get_weights()]),
            on_train_end=lambda logs: at_end.append(model.get_weights()))
        model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0, callbacks=[rec])
        final = model.get_weights()
    assert len(traj) == 6
    want = ref_ema(init, traj, m)[-1] if use_ema else traj[-1]
    for f, w, e in zip(final, want, at_end[0]):
        np.testing.assert_allclose(f, w, rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(e, f)      # finalized before on_train_end, as Keras
    if use_ema:
        assert not np.allclose(final[0], traj[-1][0])


def test_fit_overwrite_frequency_in_training():
    x, y = _data(1)
    model = _model(1)
    model.compile(optimizer=O.SGD(0.1, use_ema=True, ema_momentum=0.5,
                                  ema_overwrite_frequency=2), loss="mse")
    traj = []
    rec = keras.callbacks.LambdaCallback(on_train_batch_end=lambda b, logs: traj.append(
        [w.astype(np.float64) for w in model.get_weights()]))
    model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0, callbacks=[rec])
    assert len(traj) == 3
    # step 2 overwrote the weights with their averages (what the callback saw); step 3 then
    # averaged its own result in, and fit's finalize wrote that average
    want = [0.5 * a + 0.5 * w for a, w in zip(traj[1], traj[2])]
    for f, a in zip(model.get_weights(), want):
        np.testing.assert_allclose(f, a, rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------------- saving

@pytest.mark.parametrize("ext", [".keras", ".h5"])
def test_save_load_resumes_with_averages(tmp_path, ext):
    pytest.importorskip("h5py", reason="saving needs h5py (the `test` extra)")
    x, y = _data(2)
    model = _model(2)
    model.compile(optimizer=O.RMSprop(0.01, use_ema=True, ema_momentum=0.9,
                                      ema_overwrite_frequency=5), loss="mse")
    # train by hand (fit would finalize): 3 steps of train_on_batch
    for i in range(3):
        model.train_on_batch(x[i * 8:(i + 1) * 8], y[i * 8:(i + 1) * 8])
    path = str(tmp_path / f"m{ext}")
    model.save(path)
    keras.utils.set_random_seed(321)
    loaded = keras.models.load_model(path)
    assert loaded.optimizer.get_config() == model.optimizer.get_config()
    assert loaded.optimizer.use_ema and loaded.optimizer.ema_overwrite_frequency == 5
    ov = [v.numpy() for v in model.optimizer.variables]
    lv = [v.numpy() for v in loaded.optimizer.variables]
    assert len(lv) == len(ov) and len(_averages(loaded.optimizer)) == 4
    for a, b in zip(ov, lv):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(_averages(loaded.optimizer)[0], _averages(model.optimizer)[0])
    # resuming: both continue identically, through the step-5 overwrite and the final finalize
    h1 = model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0).history["loss"]
    h2 = loaded.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0).history["loss"]
    np.testing.assert_allclose(h2, h1, rtol=1e-6)
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_allclose(b, a, rtol=1e-6, atol=1e-7)


# --------------------------------------------------------------------------- config, errors

@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_config_round_trip(name):
    opt = OPTIMIZERS[name](use_ema=True, ema_momentum=0.95, ema_overwrite_frequency=7)
    cfg = opt.get_config()
    assert (cfg["use_ema"], cfg["ema_momentum"], cfg["ema_overwrite_frequency"]) == \
        (True, 0.95, 7)
    back = type(opt).from_config(cfg)
    assert back.get_config() == cfg
    again = O.deserialize(O.serialize(opt))
    assert type(again) is type(opt) and again.get_config() == cfg


def test_defaults():
    opt = O.Adam()
    assert (opt.use_ema, opt.ema_momentum, opt.ema_overwrite_frequency) == (False, 0.99, None)


@pytest.mark.parametrize("kw,match", [
    (dict(ema_momentum=1.5), r"\[Adam\] `ema_momentum` must be in the range \[0, 1\]. "
                             r"Received: ema_momentum=1.5"),
    (dict(ema_momentum=-0.1), r"ema_momentum=-0.1"),
    (dict(ema_overwrite_frequency=2.5), r"\[Adam\] `ema_overwrite_frequency` .*"
                                        r"Received: ema_overwrite_frequency=2.5"),
    (dict(ema_overwrite_frequency=-3), r"ema_overwrite_frequency=-3"),
])
def test_invalid_ema_arguments(kw, match):
    with pytest.raises(ValueError, match=match):
        O.Adam(use_ema=True, **kw)
    O.Adam(use_ema=False, **kw)             # Keras checks them only when EMA is on


def test_train_checkpoint_keeps_the_averages(tmp_path):
    """tf.train.Checkpoint saves each average next to its variable's slots and restores it into
    a fresh optimizer (built on restore)."""
    init, grads = _problem(5, 3)
    _, opt, vs = _run(OPTIMIZERS["adam"], init, grads, "/CPU:0", use_ema=True,
                      ema_momentum=0.5)
    path = nabi.train.Checkpoint(opt=opt, v0=vs[0], v1=vs[1]).save(str(tmp_path / "ckpt"))
    ws = [nabi.Variable(np.zeros_like(a), name=f"w{i}") for i, a in enumerate(init)]
    fresh = OPTIMIZERS["adam"](use_ema=True, ema_momentum=0.5)
    nabi.train.Checkpoint(opt=fresh, v0=ws[0], v1=ws[1]).restore(path)
    for a, b in zip(_averages(fresh), _averages(opt)):
        np.testing.assert_array_equal(a, b)
    fresh.finalize_variable_values(ws)
    for w, a in zip(ws, _averages(opt)):
        np.testing.assert_array_equal(w.numpy(), a)
