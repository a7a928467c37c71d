"""Optimizer, schedule and callback semantics where nabi once differed from Keras 3 (TF 2.21).

Every expected value comes from a NumPy / pure-Python reference written here from Keras 3's
documented rules (the comments say what Keras does); nothing is compared with TF at test time."""
import math

import numpy as np
import pytest

import nabi
from nabi import keras

O = keras.optimizers


def _problem(seed, steps, shapes=((3, 4), (5,))):
    r = np.random.default_rng(seed)
    init = [r.normal(size=s) for s in shapes]
    grads = [[r.normal(size=s) for s in shapes] for _ in range(steps)]
    return init, grads


def _run(opt, init, grads, dtype=np.float32, where="/CPU:0"):
    """The variables after each apply_gradients call (None gradients are skipped)."""
    with nabi.device(where):
        vs = [nabi.Variable(a.astype(dtype), name=f"w{i}") for i, a in enumerate(init)]
        traj = []
        for gs in grads:
            opt.apply_gradients([(None if g is None else nabi.constant(g.astype(dtype)), v)
                                 for g, v in zip(gs, vs)])
            traj.append([v.numpy().astype(np.float64) for v in vs])
    return traj, vs


# --------------------------------------------------------------------------- accumulation

def ref_accumulated_sgd(init, grads, lr, n, momentum=0.0):
    """Keras 3 gradient_accumulation_steps=n: calls add g to an accumulator; every n-th call
    (iterations + 1) % n == 0 updates with (g + acc) / n and zeroes the accumulators."""
    p = [a.copy() for a in init]
    acc = [np.zeros_like(a) for a in init]
    mom = [np.zeros_like(a) for a in init]
    out = []
    for call, gs in enumerate(grads):
        if (call + 1) % n:
            acc = [a + g for a, g in zip(acc, gs)]
        else:
            g = [(g + a) / n for g, a in zip(gs, acc)]
            mom = [momentum * m - lr * gi for m, gi in zip(mom, g)]
            p = [x + m for x, m in zip(p, mom)]
            acc = [np.zeros_like(a) for a in init]
        out.append([x.copy() for x in p])
    return out


@pytest.mark.parametrize("n", [2, 3])
@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_gradient_accumulation_sgd(where, n, momentum):
    init, grads = _problem(0, 7)
    opt = O.SGD(0.1, momentum=momentum, gradient_accumulation_steps=n)
    traj, _ = _run(opt, init, grads, np.float64, where)
    # the learning rate lives in a float32 variable, as in Keras
    want = ref_accumulated_sgd(init, grads, float(np.float32(0.1)), n, momentum)
    for t, (got, ref) in enumerate(zip(traj, want)):
        for g, r in zip(got, ref):
            np.testing.assert_allclose(g, r, rtol=1e-12, atol=1e-12, err_msg=f"call {t}")
    # Keras 3: `iterations` counts real updates (calls // n); the raw counter is internal
    assert int(opt.iterations.numpy()) == 7 // n
    names = [v.name.split(":")[0] for v in opt.variables]
    # the accumulators come after iteration/learning_rate and before the slots
    assert names[2:4] == ["w0_gradient_accumulator", "w1_gradient_accumulator"]


def test_gradient_accumulation_adam_bias_correction_and_schedule(where):
    """Adam's bias correction uses the update count (iterations // n + 1); a schedule as the
    learning rate is called with the raw call count (Keras: `self._learning_rate(self._iterations)`
    on the update call)."""
    init, grads = _problem(1, 6)
    n, b1, b2, eps = 3, 0.9, 0.999, 1e-7
    sched = O.schedules.ExponentialDecay(0.1, decay_steps=2, decay_rate=0.5)
    opt = O.Adam(sched, beta_1=b1, beta_2=b2, epsilon=eps, gradient_accumulation_steps=n)
    traj, _ = _run(opt, init, grads, np.float64, where)
    p = [a.copy() for a in init]
    m = [np.zeros_like(a) for a in init]
    v = [np.zeros_like(a) for a in init]
    acc = [np.zeros_like(a) for a in init]
    for call, gs in enumerate(grads):
        if (call + 1) % n:
            acc = [a + g for a, g in zip(acc, gs)]
        else:
            g = [(gi + a) / n for gi, a in zip(gs, acc)]
            acc = [np.zeros_like(a) for a in init]
            t = call // n + 1
            lr = 0.1 * 0.5 ** (call / 2)
            alpha = lr * math.sqrt(1 - b2 ** t) / (1 - b1 ** t)
            m = [mi + (gi - mi) * (1 - b1) for mi, gi in zip(m, g)]
            v = [vi + (gi * gi - vi) * (1 - b2) for vi, gi in zip(v, g)]
            p = [x - alpha * mi / (np.sqrt(vi) + eps) for x, mi, vi in zip(p, m, v)]
        for got, ref in zip(traj[call], p):
            np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-12, err_msg=f"call {call}")


def test_gradient_accumulation_clips_the_mean():
    """clipnorm applies to the accumulated mean on the update call, not to each call's
    gradient (Keras: grads = (g + acc) / n, then _clip_gradients)."""
    init, grads = _problem(2, 2, shapes=((4,),))
    opt = O.SGD(1.0, clipnorm=0.5, gradient_accumulation_steps=2)
    traj, _ = _run(opt, init, grads, np.float64)
    g = (grads[0][0] + grads[1][0]) / 2
    g = g * min(1.0, 0.5 / np.linalg.norm(g))
    np.testing.assert_allclose(traj[0][0], init[0], rtol=0, atol=0)
    np.testing.assert_allclose(traj[1][0], init[0] - g, rtol=1e-12)


@pytest.mark.parametrize("bad", [1, 0.5])
def test_gradient_accumulation_steps_must_be_at_least_two(bad):
    with pytest.raises(ValueError, match="gradient_accumulation_steps"):
        O.SGD(gradient_accumulation_steps=bad)


# --------------------------------------------------------------------------- callbacks

def _linear_model(w0=0.0):
    m = keras.Sequential([keras.layers.Input((1,)), keras.layers.Dense(1, use_bias=False)])
    m.set_weights([np.array([[w0]], np.float32)])
    m.compile(optimizer=O.SGD(0.1), loss="mse")
    return m


def _diverging_data():
    """Training pulls w toward 1 while the validation targets want -1: val_loss grows every
    epoch, so the best epoch is the first."""
    x = np.linspace(-1, 1, 16, dtype=np.float32).reshape(-1, 1)
    return x, x.copy(), (x, -x)


def test_early_stopping_restores_best_weights_without_an_early_stop():
    """Keras 3 EarlyStopping.on_train_end restores the best weights whenever
    restore_best_weights is set and a best was recorded, even when training ran all its
    epochs (Keras 2 restored only on an early stop)."""
    x, y, val = _diverging_data()
    m = _linear_model()
    seen = []
    rec = keras.callbacks.LambdaCallback(on_epoch_end=lambda e, logs: seen.append(
        (logs["val_loss"], m.get_weights()[0].copy())))
    es = keras.callbacks.EarlyStopping(patience=100, restore_best_weights=True)
    h = m.fit(x, y, validation_data=val, epochs=5, batch_size=16, shuffle=False, verbose=0,
              callbacks=[rec, es])
    assert len(h.epoch) == 5 and es.stopped_epoch == 0
    best = min(range(len(seen)), key=lambda i: seen[i][0])
    assert best == 0 and seen[-1][0] > seen[0][0]
    np.testing.assert_array_equal(m.get_weights()[0], seen[best][1])
    assert es.best_epoch == best


def test_model_checkpoint_best_only_saves_when_the_monitor_is_missing(tmp_path):
    """Keras 3 ModelCheckpoint(save_best_only=True): an epoch whose logs lack `monitor` (no
    validation that epoch) is saved, with a warning; Keras 2 skipped it. With
    validation_freq=2 the epochs 1, 3, 5 have no val_loss; 2, 4, 6 save when val_loss
    improves (here only epoch 2: it grows)."""
    x, y, val = _diverging_data()
    m = _linear_model()
    path = str(tmp_path / "w{epoch:02d}.weights.h5")
    mc = keras.callbacks.ModelCheckpoint(path, save_best_only=True, save_weights_only=True)
    with pytest.warns(UserWarning, match="val_loss"):
        m.fit(x, y, validation_data=val, validation_freq=2, epochs=6, batch_size=16,
              shuffle=False, verbose=0, callbacks=[mc])
    assert sorted(p.name for p in tmp_path.iterdir()) == \
        ["w01.weights.h5", "w02.weights.h5", "w03.weights.h5", "w05.weights.h5"]


@pytest.mark.parametrize("name", ["val_r2_score", "val_cosine_similarity", "val_mean_iou",
                                  "val_fbeta_score", "pearson_correlation"])
def test_mode_auto_knows_metrics_that_grow(name):
    """Keras 3 mode='auto' takes the direction from the metric (`_direction = "up"` for
    R2Score, CosineSimilarity, the IoUs, FBetaScore, the correlations): a rise is an
    improvement."""
    es = keras.callbacks.EarlyStopping(monitor=name, patience=0)
    es.set_model(_linear_model())
    es.on_train_begin()
    stops = []
    for epoch, value in enumerate([0.1, 0.5, 0.4]):
        es.on_epoch_end(epoch, {name: value})
        stops.append(es.model.stop_training)
    assert stops == [False, False, True]
    rl = keras.callbacks.ReduceLROnPlateau(monitor=name, patience=1, factor=0.5, min_delta=0)
    m = _linear_model()
    rl.set_model(m)
    rl.on_train_begin()
    for epoch, value in enumerate([0.1, 0.5, 0.6]):
        rl.on_epoch_end(epoch, {name: value})
    assert float(np.asarray(m.optimizer.learning_rate)) == pytest.approx(0.1)


# --------------------------------------------------------------------------- EMA

def test_ema_averages_every_built_variable_and_runs_on_accumulating_calls(where):
    """Keras 3 `_backend_apply_gradients` runs the EMA after every apply call, over all the
    variables the optimizer was built on (one without a gradient in this call too), with
    momentum 0 while `iterations` (update count, calls // n with accumulation) is 0."""
    init, grads = _problem(3, 6)
    grads[4][1] = None                      # no gradient for w1 at call 5
    lr, m, n = 0.1, 0.6, 2
    opt = O.SGD(lr, use_ema=True, ema_momentum=m, gradient_accumulation_steps=n)
    _run(opt, init, grads, np.float64, where)
    lr = float(np.float32(lr))
    p = [a.copy() for a in init]
    acc = [np.zeros_like(a) for a in init]
    avg = [np.zeros_like(a) for a in init]
    for call, gs in enumerate(grads):
        live = [i for i, g in enumerate(gs) if g is not None]
        if (call + 1) % n:
            for i in live:
                acc[i] = acc[i] + gs[i]
        else:
            for i in live:
                p[i] = p[i] - lr * (gs[i] + acc[i]) / n
            acc = [np.zeros_like(a) for a in init]
        mom = 0.0 if call // n == 0 else m
        avg = [mom * a + (1 - mom) * x for a, x in zip(avg, p)]
    got = [v.numpy() for v in opt.variables if v.name.split(":")[0].endswith("_average")]
    for g, w in zip(got, avg):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------------------- loss scaling

def test_loss_scale_factor_apply_unscales_and_scale_loss_scales():
    """Keras 3 loss_scale_factor: scale_loss(loss) = loss * factor, and apply divides every
    gradient by the factor before the update (it was ignored)."""
    init, grads = _problem(4, 3)
    opt = O.SGD(0.5, loss_scale_factor=8.0)
    traj, _ = _run(opt, init, grads, np.float64)
    p = [a.copy() for a in init]
    for call, gs in enumerate(grads):
        p = [x - 0.5 * g / 8.0 for x, g in zip(p, gs)]
        for got, ref in zip(traj[call], p):
            np.testing.assert_allclose(got, ref, rtol=1e-12)
    assert float(opt.scale_loss(nabi.constant(3.0)).numpy()) == 24.0
    assert float(O.SGD().scale_loss(nabi.constant(3.0)).numpy()) == 3.0


def _numpy_full_batch_sgd(x, y, w, lr, epochs):
    """mse of x @ w against y, full batch: w -= lr * 2/N x^T (x w - y)."""
    w = w.astype(np.float64)
    for _ in range(epochs):
        w = w - lr * 2.0 / len(x) * x.T @ (x @ w - y)
    return w


@pytest.mark.parametrize("kind", ["loss_scale_factor", "LossScaleOptimizer"])
def test_fit_with_loss_scaling_trains_as_without(kind):
    """Keras 3's train_step takes gradients of optimizer.scale_loss(loss) and apply unscales
    them: training is that of the unscaled loss, and the reported loss is unscaled."""
    r = np.random.default_rng(5)
    x = r.normal(size=(16, 3)).astype(np.float32)
    y = r.normal(size=(16, 1)).astype(np.float32)
    w0 = r.normal(size=(3, 1)).astype(np.float32)
    opt = O.SGD(0.1, loss_scale_factor=32.0) if kind == "loss_scale_factor" else \
        O.LossScaleOptimizer(O.SGD(0.1), initial_scale=64.0)
    m = keras.Sequential([keras.layers.Input((3,)), keras.layers.Dense(1, use_bias=False)])
    m.set_weights([w0])
    m.compile(optimizer=opt, loss="mse")
    h = m.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0)
    lr = float(np.float32(0.1))
    want = _numpy_full_batch_sgd(x.astype(np.float64), y.astype(np.float64), w0, lr, 3)
    np.testing.assert_allclose(m.get_weights()[0], want, rtol=1e-5, atol=1e-6)
    first = float(np.mean((x.astype(np.float64) @ w0 - y) ** 2))
    assert h.history["loss"][0] == pytest.approx(first, rel=1e-5)


def test_loss_scale_optimizer_keras3_custom_loop():
    """Keras 3 custom loop: grads of opt.scale_loss(loss), then opt.apply(grads) -- the
    optimizer unscales them (Keras 2's get_unscaled_gradients loop is covered in
    test_mixed_precision_guide.py)."""
    v = nabi.Variable(np.array([1.0, -2.0], np.float32))
    opt = O.LossScaleOptimizer(O.SGD(0.25), initial_scale=128.0)
    for _ in range(2):
        with nabi.GradientTape() as tape:
            loss = nabi.reduce_sum(v * v)
            scaled = opt.scale_loss(loss)
        opt.apply(tape.gradient(scaled, [v]), [v])
    want = np.array([1.0, -2.0]) * (1 - 0.25 * 2) ** 2       # v -= lr * 2 v, twice
    np.testing.assert_allclose(v.numpy(), want, rtol=1e-6)


# --------------------------------------------------------------------------- defaults, names

def test_lion_default_learning_rate_is_keras3s():
    """Keras 3 Lion(learning_rate=0.001) (Keras 2.15 had 1e-4): one step moves each weight by
    lr * sign(g) at the default."""
    assert O.Lion().get_config()["learning_rate"] == pytest.approx(1e-3)
    v = nabi.Variable(np.array([1.0, 1.0], np.float32))
    O.Lion().apply_gradients([(nabi.constant([0.5, -2.0]), v)])
    np.testing.assert_allclose(v.numpy(), [1.0 - 1e-3, 1.0 + 1e-3], rtol=1e-6)


def test_adamax_slot_names_are_keras3s():
    """Keras 3 Adamax names its slots <var>_momentum and <var>_norm."""
    v = nabi.Variable(np.ones(2, np.float32), name="w")
    opt = O.Adamax()
    opt.apply_gradients([(nabi.constant([1.0, 2.0]), v)])
    assert [x.name.split(":")[0] for x in opt.variables][2:] == ["w_momentum", "w_norm"]


def test_train_checkpoint_keeps_gradient_accumulators(tmp_path):
    """tf.train.Checkpoint saves the accumulated gradients; a restored optimizer continues
    the accumulation: the update at call 2 uses (g1 + g2) / 2."""
    v = nabi.Variable(np.zeros(2, np.float32), name="w")
    opt = O.SGD(1.0, gradient_accumulation_steps=2)
    opt.apply_gradients([(nabi.constant([1.0, 2.0]), v)])
    path = nabi.train.Checkpoint(opt=opt, v=v).save(str(tmp_path / "ckpt"))
    w = nabi.Variable(np.zeros(2, np.float32), name="w")
    fresh = O.SGD(1.0, gradient_accumulation_steps=2)
    nabi.train.Checkpoint(opt=fresh, v=w).restore(path)
    fresh.apply_gradients([(nabi.constant([3.0, 0.0]), w)])
    np.testing.assert_allclose(w.numpy(), [-2.0, -1.0])


# --------------------------------------------------------------------------- reported losses

def _softmax_ce_with_activity_l2(x, y, k, b, rate):
    """NumPy: categorical cross-entropy of softmax(x k + b) plus Keras's activity L2 of the
    layer's output (the probabilities), divided by the batch size."""
    z = x @ k + b
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    return -np.mean(np.sum(y * np.log(p), 1)) + rate * np.sum(p * p) / len(x)


def test_activity_regularizer_sees_the_probabilities_on_a_logits_head():
    """Keras: a Dense(softmax) layer's activity regularizer penalises its output, the
    probabilities; fit/evaluate computed the cross-entropy from the logits (fused head) and
    handed the regularizer the logits too. Reported losses and the SGD step are checked."""
    r = np.random.default_rng(6)
    x = r.normal(size=(10, 4))
    y = np.eye(3)[r.integers(0, 3, 10)]
    k0, b0 = r.normal(size=(4, 3)) * 0.5, np.zeros(3)
    rate, lr = 0.05, 0.3
    m = keras.Sequential([keras.layers.Input((4,)), keras.layers.Dense(
        3, activation="softmax", activity_regularizer=keras.regularizers.L2(rate))])
    m.set_weights([k0.astype(np.float32), b0.astype(np.float32)])
    m.compile(optimizer=O.SGD(lr), loss="categorical_crossentropy")
    want = _softmax_ce_with_activity_l2(x, y, k0, b0, rate)
    got = m.evaluate(x.astype(np.float32), y.astype(np.float32), batch_size=10, verbose=0)
    assert got == pytest.approx(want, rel=1e-5)
    h = m.fit(x.astype(np.float32), y.astype(np.float32), batch_size=10, epochs=1,
              shuffle=False, verbose=0)
    assert h.history["loss"][0] == pytest.approx(want, rel=1e-5)
    # the step: central differences of the NumPy loss
    theta = np.concatenate([k0.ravel(), b0])
    grad = np.zeros_like(theta)
    for i in range(theta.size):
        e = np.zeros_like(theta)
        e[i] = 1e-6
        f = [_softmax_ce_with_activity_l2(x, y, t[:12].reshape(4, 3), t[12:], rate)
             for t in (theta + e, theta - e)]
        grad[i] = (f[0] - f[1]) / 2e-6
    theta1 = theta - float(np.float32(lr)) * grad
    k1, b1 = m.get_weights()
    np.testing.assert_allclose(k1, theta1[:12].reshape(4, 3), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(b1, theta1[12:], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("raise_error", [False, True])
def test_terminate_on_nan_raise_error(raise_error):
    """Keras 3 TerminateOnNaN(raise_error=False) stops after the batch whose loss is NaN (the
    4th of size 4 here: sample 13 is NaN); raise_error=True raises a RuntimeError there."""
    x = np.linspace(0, 1, 40, dtype=np.float32).reshape(-1, 1)
    x[13] = np.nan
    m = _linear_model(1.0)
    seen = []
    cbs = [keras.callbacks.TerminateOnNaN(raise_error=raise_error),
           keras.callbacks.LambdaCallback(on_train_batch_end=lambda b, logs: seen.append(b))]
    if raise_error:
        with pytest.raises(RuntimeError, match="NaN or Inf loss encountered at batch 3"):
            m.fit(x, x, batch_size=4, epochs=2, shuffle=False, verbose=0, callbacks=cbs)
        assert seen == [0, 1, 2]
    else:
        h = m.fit(x, x, batch_size=4, epochs=2, shuffle=False, verbose=0, callbacks=cbs)
        assert seen == [0, 1, 2, 3] and len(h.epoch) == 1


def test_exclude_from_weight_decay_regex_and_replacement():
    """Keras 3: var_names are regular expressions (re.search on the name), and a later call
    replaces the earlier exclusions (var_list included) rather than adding to them."""
    k = nabi.Variable(np.ones(2, np.float32), name="dense_x/kernel")
    b = nabi.Variable(np.ones(2, np.float32), name="dense_x/bias")
    zero = [nabi.constant(np.zeros(2, np.float32))] * 2
    opt = O.SGD(0.1, weight_decay=0.5)                # decay factor 1 - 0.05 per step
    opt.exclude_from_weight_decay(var_names=["ker.el"])
    opt.apply_gradients(zip(zero, [k, b]))
    f = 1 - float(np.float32(0.1)) * 0.5
    np.testing.assert_allclose([k.numpy()[0], b.numpy()[0]], [1.0, f], rtol=1e-6)
    opt.exclude_from_weight_decay(var_list=[b])       # kernel no longer excluded
    opt.apply_gradients(zip(zero, [k, b]))
    np.testing.assert_allclose([k.numpy()[0], b.numpy()[0]], [f, f], rtol=1e-6)
