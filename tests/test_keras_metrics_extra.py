"""Keras 2.15 metrics added to keras.metrics: F1Score/FBetaScore, the IoU family, R2Score, the
sensitivity/specificity family, MeanRelativeError and MeanTensor.

Every value is checked against a NumPy reference written here from the published definitions
(F-beta and its averages as scikit-learn defines them, IoU from a confusion matrix counted with
np.add.at, R2 from the residual and total sums of squares), over several update_state calls,
with and without sample weights, on the CPU and the (emulated) GPU."""

import numpy as np
import pytest

import nabi as tf
from nabi import keras

M = keras.metrics


def _run(where, metric_fn, batches, feed="numpy"):
    """Builds the metric on `where`, feeds `batches` [(y_true, y_pred, sample_weight)], returns
    (result as NumPy, metric)."""
    with tf.device(where):
        m = metric_fn()
        for yt, yp, sw in batches:
            if feed == "tensor":
                yt, yp = tf.constant(yt), tf.constant(yp)
                sw = None if sw is None else tf.constant(sw)
            m.update_state(yt, yp, sample_weight=sw)
        out = m.result().numpy()
        gpu = where.endswith("GPU:0")
        assert all(v.device.endswith("GPU:0") == gpu for v in m.variables), m.variables
    return out, m


def _concat(batches):
    yt = np.concatenate([b[0] for b in batches])
    yp = np.concatenate([b[1] for b in batches])
    sw = None if batches[0][2] is None else np.concatenate([b[2] for b in batches])
    return yt, yp, sw


# ------------------------------------------------------------------------------ F-scores

def ref_fbeta(yt, yp, sw, beta, threshold, average):
    """F-beta per class from weighted tp/fp/fn; scikit-learn's averages; 0 for 0/0."""
    yt = yt.astype(np.float64)
    if threshold is None:
        pred = (yp == yp.max(axis=1, keepdims=True)) & (np.abs(yp) > 1e-9)
    else:
        pred = yp > threshold
    pred = pred.astype(np.float64)
    w = np.ones(len(yt)) if sw is None else sw.astype(np.float64)
    tp = (w[:, None] * pred * yt).sum(0)
    fp = (w[:, None] * pred * (1 - yt)).sum(0)
    fn = (w[:, None] * (1 - pred) * yt).sum(0)
    support = (w[:, None] * yt).sum(0)
    if average == "micro":
        tp, fp, fn = tp.sum(), fp.sum(), fn.sum()

    def f(tp, fp, fn):
        p = tp / (tp + fp) if tp + fp > 0 else 0.0
        r = tp / (tp + fn) if tp + fn > 0 else 0.0
        d = beta ** 2 * p + r
        return (1 + beta ** 2) * p * r / d if d > 0 else 0.0

    if average == "micro":
        return np.float64(f(tp, fp, fn))
    scores = np.array([f(*c) for c in zip(tp, fp, fn)])
    if average is None:
        return scores
    if average == "macro":
        return scores.mean()
    return (scores * support).sum() / support.sum()


def _class_batches(seed, n_batches=3, n=9, c=4, weighted=True, zero_class=False):
    r = np.random.default_rng(seed)
    out = []
    for _ in range(n_batches):
        labels = r.integers(0, c - 1 if zero_class else c, n)
        yt = np.eye(c, dtype=np.float32)[labels]
        yp = r.uniform(0, 1, (n, c)).astype(np.float32)
        sw = r.uniform(0.1, 2.0, n).astype(np.float32) if weighted else None
        out.append((yt, yp, sw))
    return out


@pytest.mark.parametrize("average", [None, "micro", "macro", "weighted"])
@pytest.mark.parametrize("threshold", [None, 0.5])
@pytest.mark.parametrize("weighted", [False, True])
def test_f1_and_fbeta_match_numpy(where, average, threshold, weighted):
    batches = _class_batches(1, weighted=weighted)
    yt, yp, sw = _concat(batches)
    for beta, fn in [(1.0, lambda: M.F1Score(average=average, threshold=threshold)),
                     (0.5, lambda: M.FBetaScore(average=average, beta=0.5,
                                                threshold=threshold))]:
        got, m = _run(where, fn, batches)
        want = ref_fbeta(yt, yp, sw, beta, threshold, average)
        assert got.shape == np.shape(want)
        np.testing.assert_allclose(got, want, rtol=2e-5, atol=1e-6)
        assert {v.name.split(":")[0] for v in m.variables} == {
            "true_positives", "false_positives", "false_negatives", "intermediate_weights"}


def test_f1_ties_zero_rows_and_zero_division(where):
    # argmax ties mark every tied class; an all-zero row marks none; a class never predicted
    # nor present scores 0 (divide_no_nan)
    yt = np.array([[1, 0, 0], [0, 1, 0], [1, 0, 0]], np.float32)
    yp = np.array([[0.4, 0.4, 0.2], [0.0, 0.0, 0.0], [0.9, 0.05, 0.05]], np.float32)
    got, _ = _run(where, lambda: M.F1Score(), [(yt, yp, None)])
    np.testing.assert_allclose(got, ref_fbeta(yt, yp, None, 1.0, None, None), rtol=1e-6)
    # class 0: rows 0 and 2 -> tp 2; class 1: row 0's tie is a false positive, row 1 (all
    # zeros) predicts nothing, a false negative; class 2: never seen -> 0
    np.testing.assert_allclose(got, [1.0, 0.0, 0.0], rtol=1e-6)


def test_f1_tensor_feed_on_gpu_matches_cpu(gpu):
    batches = _class_batches(2)
    cpu, _ = _run("/CPU:0", lambda: M.F1Score(average="weighted"), batches)
    for feed in ("numpy", "tensor"):
        got, _ = _run("/GPU:0", lambda: M.F1Score(average="weighted"), batches, feed)
        np.testing.assert_allclose(got, cpu, rtol=1e-6)


# ------------------------------------------------------------------------------ IoU family

def ref_cm(t, p, w, c):
    cm = np.zeros((c, c))
    np.add.at(cm, (t.ravel(), p.ravel()), w.ravel())
    return cm


def ref_iou(cm, ids):
    tp = np.diag(cm)
    den = cm.sum(0) + cm.sum(1) - tp
    ious = [tp[i] / den[i] for i in ids if den[i] > 0]
    n_valid = sum(1 for i in ids if den[i] > 0)
    return sum(ious) / n_valid if n_valid else 0.0


def _seg_batches(seed, c, weighted, shape=(2, 5, 3), ignore=None):
    r = np.random.default_rng(seed)
    out = []
    for _ in range(3):
        t = r.integers(0, c, shape)
        if ignore is not None:
            t[r.uniform(size=shape) < 0.2] = ignore
        logits = r.standard_normal(shape + (c,)).astype(np.float32)
        sw = r.uniform(0.1, 2.0, shape).astype(np.float32) if weighted else None
        out.append((t, logits, sw))
    return out


@pytest.mark.parametrize("weighted", [False, True])
def test_iou_family_matches_numpy(where, weighted):
    c = 4
    batches = _seg_batches(3, c, weighted)
    t, logits, sw = _concat(batches)
    w = np.ones(t.shape) if sw is None else sw.astype(np.float64)
    p = logits.argmax(-1)
    cm = ref_cm(t, p, w, c)
    onehot = [(np.eye(c, dtype=np.float32)[a], b, s) for a, b, s in batches]
    sparse_pred = [(a, b.argmax(-1), s) for a, b, s in batches]
    cases = [
        (lambda: M.MeanIoU(num_classes=c, sparse_y_pred=False), batches, range(c)),
        (lambda: M.MeanIoU(num_classes=c), sparse_pred, range(c)),
        (lambda: M.IoU(num_classes=c, target_class_ids=[0, 2], sparse_y_pred=False), batches,
         [0, 2]),
        (lambda: M.IoU(num_classes=c, target_class_ids=[3], sparse_y_true=False,
                       sparse_y_pred=False), onehot, [3]),
        (lambda: M.OneHotIoU(num_classes=c, target_class_ids=[1, 3]), onehot, [1, 3]),
        (lambda: M.OneHotMeanIoU(num_classes=c), onehot, range(c)),
    ]
    for fn, data, ids in cases:
        got, m = _run(where, fn, data)
        np.testing.assert_allclose(got, ref_iou(cm, ids), rtol=2e-5, err_msg=type(m).__name__)
        np.testing.assert_allclose(m.total_cm.numpy(), cm, rtol=2e-5)
        assert m.total_cm.shape == (c, c)


def test_iou_ignore_class_and_absent_classes(where):
    c = 5
    batches = _seg_batches(4, c - 1, True, ignore=-1)   # class 4 never occurs
    t, logits, sw = _concat(batches)
    p = logits.argmax(-1)
    keep = t != -1
    cm = ref_cm(t[keep], p[keep], sw[keep].astype(np.float64), c)
    got, m = _run(where, lambda: M.MeanIoU(num_classes=c, ignore_class=-1, sparse_y_pred=False),
                  batches)
    np.testing.assert_allclose(m.total_cm.numpy(), cm, rtol=2e-5)
    np.testing.assert_allclose(got, ref_iou(cm, range(c)), rtol=2e-5)
    assert cm[4].sum() == cm[:, 4].sum() == 0   # the mean runs over the 4 classes seen
    # per-sample weights (batch,) broadcast over the pixels of each sample
    sw_b = np.array([0.5, 2.0], np.float32)
    got, m = _run(where, lambda: M.MeanIoU(num_classes=c, ignore_class=-1, sparse_y_pred=False),
                  [(batches[0][0], batches[0][1], sw_b)])
    w = np.broadcast_to(sw_b[:, None, None], batches[0][0].shape)
    k = batches[0][0] != -1
    np.testing.assert_allclose(
        m.total_cm.numpy(), ref_cm(batches[0][0][k], batches[0][1].argmax(-1)[k],
                                   w[k].astype(np.float64), c), rtol=2e-5)


@pytest.mark.parametrize("weighted", [False, True])
def test_binary_iou_matches_numpy(where, weighted):
    r = np.random.default_rng(5)
    batches = []
    for _ in range(3):
        batches.append((r.integers(0, 2, (8, 1)).astype(np.float32),
                        r.uniform(0, 1, (8, 1)).astype(np.float32),
                        r.uniform(0.1, 2, 8).astype(np.float32) if weighted else None))
    t, s, sw = _concat(batches)
    w = np.ones(len(t)) if sw is None else sw.astype(np.float64)
    for ids, thr in [((0, 1), 0.5), ([1], 0.3), ([0], 0.7)]:
        cm = ref_cm(t.astype(int).ravel(), (s >= thr).astype(int).ravel(), w, 2)
        got, m = _run(where, lambda: M.BinaryIoU(target_class_ids=ids, threshold=thr), batches)
        np.testing.assert_allclose(got, ref_iou(cm, ids), rtol=2e-5)
    # Keras docstring example
    got, _ = _run(where, lambda: M.BinaryIoU(target_class_ids=[0, 1], threshold=0.3),
                  [([0, 1, 0, 1], [0.1, 0.2, 0.4, 0.7], [0.2, 0.3, 0.4, 0.1])])
    np.testing.assert_allclose(got, 0.17361112, rtol=1e-5)


def test_iou_result_before_update_and_reset(where):
    with tf.device(where):
        m = M.MeanIoU(num_classes=3)
        assert float(m.result().numpy()) == 0.0
        m.update_state([0, 1, 2], [0, 1, 1])
        assert float(m.result().numpy()) > 0
        m.reset_state()
        assert float(m.result().numpy()) == 0.0
        assert not m.total_cm.numpy().any()


# ------------------------------------------------------------------------------ R2

def ref_r2(yt, yp, sw, aggregation, p):
    yt, yp = yt.astype(np.float64), yp.astype(np.float64)
    w = np.ones(len(yt)) if sw is None else sw.astype(np.float64)
    w = w[:, None]
    mean = (w * yt).sum(0) / w.sum(0)
    ss_tot = (w * (yt - mean) ** 2).sum(0)
    ss_res = (w * (yt - yp) ** 2).sum(0)
    raw = 1 - ss_res / ss_tot
    if aggregation == "uniform_average":
        r2 = raw.mean()
    elif aggregation == "variance_weighted_average":
        r2 = (ss_tot * raw).sum() / ss_tot.sum()
    else:
        r2 = raw
    n = yt.size                       # Keras counts every element of y_true
    if p and p < n - 1:
        r2 = 1 - (1 - r2) * (n - 1) / (n - p - 1)
    return r2


@pytest.mark.parametrize("aggregation", [None, "uniform_average", "variance_weighted_average"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("num_regressors", [0, 3])
def test_r2_matches_numpy(where, aggregation, weighted, num_regressors):
    r = np.random.default_rng(6)
    batches = []
    for _ in range(3):
        yt = r.standard_normal((7, 3)).astype(np.float32) * [1, 3, 0.5]
        batches.append((yt.astype(np.float32),
                        (yt + 0.6 * r.standard_normal((7, 3))).astype(np.float32),
                        r.uniform(0.1, 2, 7).astype(np.float32) if weighted else None))
    got, m = _run(where, lambda: M.R2Score(aggregation, num_regressors), batches)
    want = ref_r2(*_concat(batches), aggregation, num_regressors)
    assert got.shape == np.shape(want)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)
    assert int(m.num_samples.numpy()) == 63


def test_r2_adjusted_falls_back_with_keras_warnings(where):
    yt = np.array([[1.0], [4.0], [3.0]], np.float32)
    yp = np.array([[2.0], [4.0], [4.0]], np.float32)
    for p, msg in [(5, "More independent predictors"), (2, "Division by zero")]:
        with pytest.warns(UserWarning, match=msg):
            got, _ = _run(where, lambda: M.R2Score(num_regressors=p), [(yt, yp, None)])
        np.testing.assert_allclose(got, 0.57142854, rtol=1e-6)   # Keras docstring value
    # a constant column (total sum of squares 0) scores 0, as Keras's inf -> 0
    got, _ = _run(where, lambda: M.R2Score(class_aggregation=None),
                  [(np.array([[1.0, 2.0], [1.0, 3.0]], np.float32),
                    np.array([[1.5, 2.0], [0.5, 3.0]], np.float32), None)])
    np.testing.assert_allclose(got, [0.0, 1.0])


# ------------------------------------------------------------------------------ sensitivity family

def ref_counts(yt, yp, w, n):
    """tp, fp, tn, fn at thresholds [0, 1/(n-1), ..., 1] with `pred > threshold`."""
    thr = np.array([0.5]) if n == 1 else np.linspace(0, 1, n)
    pos = yt.ravel() != 0
    pred = yp.ravel()[None, :] > thr[:, None]
    w = w.ravel()
    tp = (pred & pos) @ w
    fp = (pred & ~pos) @ w
    return tp, fp, (~pred & ~pos) @ w, (~pred & pos) @ w


def ref_at(kind, value, yt, yp, w, n):
    tp, fp, tn, fn = ref_counts(yt, yp, w, n)
    with np.errstate(invalid="ignore", divide="ignore"):
        rec = np.nan_to_num(tp / (tp + fn))
        prec = np.nan_to_num(tp / (tp + fp))
        spec = np.nan_to_num(tn / (tn + fp))
    con, dep = {"SensitivityAtSpecificity": (spec, rec), "SpecificityAtSensitivity": (rec, spec),
                "PrecisionAtRecall": (rec, prec), "RecallAtPrecision": (prec, rec)}[kind]
    ok = con >= value
    return dep[ok].max() if ok.any() else 0.0


AT_KINDS = ["SensitivityAtSpecificity", "SpecificityAtSensitivity", "PrecisionAtRecall",
            "RecallAtPrecision"]


@pytest.mark.parametrize("kind", AT_KINDS)
@pytest.mark.parametrize("weighted", [False, True])
def test_at_metrics_match_numpy(where, kind, weighted):
    r = np.random.default_rng(7)
    batches = []
    for _ in range(3):
        yt = r.integers(0, 2, (10, 1)).astype(np.float32)
        # scores that track the label, off the threshold grid (no ties at i / (n - 1))
        yp = np.clip(0.35 * yt + r.uniform(0, 0.65, (10, 1)), 0, 1).astype(np.float32)
        batches.append((yt, yp, r.uniform(0.1, 2, 10).astype(np.float32) if weighted else None))
    yt, yp, sw = _concat(batches)
    w = np.ones(len(yt)) if sw is None else sw.astype(np.float64)
    for value, n in [(0.5, 200), (0.8, 37), (0.3, 1)]:
        got, m = _run(where, lambda: getattr(M, kind)(value, num_thresholds=n), batches)
        np.testing.assert_allclose(got, ref_at(kind, value, yt, yp, w, n), rtol=1e-5,
                                   err_msg=f"{kind} {value} {n}")
        tp, fp, tn, fn = ref_counts(yt, yp, w, n)
        np.testing.assert_allclose(m.true_positives.numpy(), tp, rtol=1e-5)
        np.testing.assert_allclose(m.true_negatives.numpy(), tn, rtol=1e-5)


def test_at_metrics_class_id_and_keras_examples(where):
    r = np.random.default_rng(8)
    yt = np.eye(3, dtype=np.float32)[r.integers(0, 3, 12)]
    yp = r.uniform(0, 1, (12, 3)).astype(np.float32)
    sw = r.uniform(0.5, 1.5, 12).astype(np.float32)
    got, _ = _run(where, lambda: M.PrecisionAtRecall(0.6, class_id=2), [(yt, yp, sw)])
    np.testing.assert_allclose(got, ref_at("PrecisionAtRecall", 0.6, yt[:, 2], yp[:, 2], sw,
                                           200), rtol=1e-5)
    # the Keras docstring examples
    yt5, yp5 = [0, 0, 0, 1, 1], [0, 0.3, 0.8, 0.3, 0.8]
    for fn, sw, want in [(lambda: M.SensitivityAtSpecificity(0.5), [1, 1, 2, 2, 1], 0.333333),
                         (lambda: M.SpecificityAtSensitivity(0.5), [1, 1, 2, 2, 2], 0.5),
                         (lambda: M.PrecisionAtRecall(0.5), [2, 2, 2, 1, 1], 0.33333333)]:
        got, _ = _run(where, fn, [(yt5, yp5, sw)])
        np.testing.assert_allclose(got, want, rtol=1e-5)
    got, _ = _run(where, lambda: M.RecallAtPrecision(0.8), [([0, 0, 1, 1], [0, 0.5, 0.3, 0.9],
                                                             None)])
    np.testing.assert_allclose(got, 0.5)


def test_at_metrics_threshold_ties_follow_keras_buckets(where):
    # Keras buckets p by ceil(p * (n - 1)) - 1 in float32: p = 0.3 with n = 11 lands below
    # the threshold 0.3 (float32(0.3) * 10 rounds to exactly 3.0), and so does p = 0; p = 1 is
    # above every threshold but the last; predictions are clipped to [0, 1].
    with tf.device(where):
        m = M.SensitivityAtSpecificity(0.5, num_thresholds=11)
        m.update_state([1, 1, 1, 0, 1], [0.3, 0.0, 1.0, 0.5, 1.7])
        tp = m.true_positives.numpy()
    # positives 0.3 (bucket 2), 0.0 (none), 1.0 and 1.7 -> 1.0 (bucket 9)
    want = np.array([3, 3, 3, 2, 2, 2, 2, 2, 2, 2, 0], np.float32)
    np.testing.assert_array_equal(tp, want)
    assert m.thresholds[0] == 0.0 and m.thresholds[-1] == 1.0 and len(m.thresholds) == 11


# ------------------------------------------------------------------------------ MeanRelativeError, MeanTensor

def test_mean_relative_error_and_mean_tensor(where):
    r = np.random.default_rng(9)
    norm = np.array([1.0, 3.0, 0.0, -2.0], np.float32)
    batches = [(r.standard_normal((5, 4)).astype(np.float32),
                r.standard_normal((5, 4)).astype(np.float32),
                r.uniform(0.1, 2, 5).astype(np.float32)) for _ in range(3)]
    yt, yp, sw = _concat(batches)
    safe = np.where(norm != 0, norm, 1.0)
    rel = np.where(norm != 0, np.abs(yt - yp) / safe, 0.0)
    for weighted in (False, True):
        data = batches if weighted else [(a, b, None) for a, b, _ in batches]
        got, _ = _run(where, lambda: M.MeanRelativeError(normalizer=norm), data)
        w = sw if weighted else np.ones(len(yt))
        np.testing.assert_allclose(got, (rel.mean(1) * w).sum() / w.sum(), rtol=1e-5)
    with tf.device(where):
        m = M.MeanTensor()
        vals = [r.standard_normal((2, 3)).astype(np.float32) for _ in range(3)]
        ws = [None, np.array([0.5, 2.0], np.float32), np.array([[1, 0, 2], [1, 1, 0]],
                                                               np.float32)]
        for v, w in zip(vals, ws):
            m.update_state(v, sample_weight=w)
        got = m.result().numpy()
    wf = [np.ones((2, 3)), np.broadcast_to(ws[1][:, None], (2, 3)), ws[2]]
    tot = sum(v * w for v, w in zip(vals, wf))
    cnt = sum(wf)
    np.testing.assert_allclose(got, tot / cnt, rtol=1e-5)


# ------------------------------------------------------------------------------ in fit

def _fit_eval(where):
    r = np.random.default_rng(10)
    x = r.standard_normal((60, 6)).astype(np.float32)
    labels = (x[:, 0] > 0).astype(int) + (x[:, 1] > 0.5).astype(int)
    y = np.eye(3, dtype=np.float32)[labels]
    with tf.device(where):
        keras.utils.set_random_seed(3)
        model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(12, activation="relu"),
                                  keras.layers.Dense(3, activation="softmax")])
        model.compile(optimizer=keras.optimizers.Adam(0.02), loss="categorical_crossentropy",
                      metrics=[M.F1Score(average="macro"),
                               M.MeanIoU(num_classes=3, sparse_y_true=False,
                                         sparse_y_pred=False)])
        hist = model.fit(x, y, batch_size=16, epochs=1, verbose=0, shuffle=False)
        ev = model.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)
        pred = model.predict(x, verbose=0)
        gpu = where.endswith("GPU:0")
        f1, iou = model.metrics[-2:]
        for m, kind in ((f1, "F1Score"), (iou, "MeanIoU")):
            state = getattr(m, "metric", m)
            assert type(state).__name__ == kind
            assert all(v.device.endswith("GPU:0") == gpu for v in state.variables)
    return hist.history, ev, pred, y


def test_fit_reports_f1_and_mean_iou(where):
    hist, ev, pred, y = _fit_eval(where)
    assert {"loss", "f1_score", "mean_io_u"} <= set(hist)
    assert 0.0 <= hist["f1_score"][0] <= 1.0 and 0.0 <= hist["mean_io_u"][0] <= 1.0
    f1 = ref_fbeta(y, pred, None, 1.0, None, "macro")
    cm = ref_cm(y.argmax(1), pred.argmax(1), np.ones(len(y)), 3)
    np.testing.assert_allclose(ev["f1_score"], f1, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ev["mean_io_u"], ref_iou(cm, range(3)), rtol=1e-5, atol=1e-6)


def test_fit_on_gpu_matches_cpu(gpu):
    hg, eg, _, _ = _fit_eval("/GPU:0")
    hc, ec, _, _ = _fit_eval("/CPU:0")
    for k in hc:
        np.testing.assert_allclose(hg[k], hc[k], rtol=2e-4, atol=1e-6, err_msg=k)
    for k in ec:
        np.testing.assert_allclose(eg[k], ec[k], rtol=2e-4, atol=1e-6, err_msg=k)


def test_compile_by_name_and_r2_in_fit():
    r = np.random.default_rng(11)
    x = r.standard_normal((40, 3)).astype(np.float32)
    y = (x @ np.array([[1.0, -1.0], [0.5, 2.0], [0.0, 1.0]], np.float32))
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="mse", metrics=["R2Score"])
    hist = model.fit(x, y, batch_size=8, epochs=3, verbose=0)
    assert "r2_score" in hist.history
    ev = model.evaluate(x, y, verbose=0, return_dict=True)
    np.testing.assert_allclose(ev["r2_score"], ref_r2(y, model.predict(x, verbose=0), None,
                                                      "uniform_average", 0), rtol=1e-4)


# ------------------------------------------------------------------------------ config, saving

CONFIG_CASES = [
    (lambda: M.F1Score(average="micro", threshold=0.4, name="f1"),
     {"average": "micro", "threshold": 0.4, "name": "f1", "dtype": "float32"}),
    (lambda: M.FBetaScore(average="weighted", beta=2.0),
     {"average": "weighted", "beta": 2.0, "threshold": None, "name": "fbeta_score"}),
    (lambda: M.IoU(4, [1, 2], ignore_class=0, sparse_y_pred=False),
     {"num_classes": 4, "target_class_ids": [1, 2], "ignore_class": 0, "sparse_y_true": True,
      "sparse_y_pred": False, "axis": -1, "name": "io_u"}),
    (lambda: M.BinaryIoU(target_class_ids=[1], threshold=0.3),
     {"target_class_ids": [1], "threshold": 0.3, "name": "binary_io_u"}),
    (lambda: M.MeanIoU(3, ignore_class=255), {"num_classes": 3, "ignore_class": 255,
                                              "name": "mean_io_u"}),
    (lambda: M.OneHotIoU(3, [0]), {"num_classes": 3, "target_class_ids": [0],
                                   "sparse_y_pred": False, "name": "one_hot_io_u"}),
    (lambda: M.OneHotMeanIoU(3, axis=-1), {"num_classes": 3, "name": "one_hot_mean_io_u"}),
    (lambda: M.R2Score("variance_weighted_average", 2),
     {"class_aggregation": "variance_weighted_average", "num_regressors": 2,
      "name": "r2_score"}),
    (lambda: M.SensitivityAtSpecificity(0.4, num_thresholds=50, class_id=1),
     {"specificity": 0.4, "num_thresholds": 50, "class_id": 1,
      "name": "sensitivity_at_specificity"}),
    (lambda: M.SpecificityAtSensitivity(0.6), {"sensitivity": 0.6, "num_thresholds": 200}),
    (lambda: M.PrecisionAtRecall(0.7), {"recall": 0.7, "name": "precision_at_recall"}),
    (lambda: M.RecallAtPrecision(0.9), {"precision": 0.9, "name": "recall_at_precision"}),
    (lambda: M.MeanRelativeError([1.0, 2.0]), {"normalizer": [1.0, 2.0],
                                               "name": "mean_relative_error"}),
    (lambda: M.MeanTensor(shape=(2,)), {"shape": [2], "name": "mean_tensor"}),
]


@pytest.mark.parametrize("i", range(len(CONFIG_CASES)))
def test_config_round_trip(i):
    fn, expect = CONFIG_CASES[i]
    m = fn()
    cfg = m.get_config()
    for k, v in expect.items():
        assert cfg[k] == v, (k, cfg)
    ser = M.serialize(m)
    assert ser["class_name"] == type(m).__name__
    m2 = M.deserialize(ser)
    assert type(m2) is type(m) and m2.get_config() == cfg
    m3 = type(m).from_config(cfg)
    assert m3.get_config() == cfg


def test_get_by_name():
    for name in ("F1Score", "FBetaScore", "R2Score", "MeanTensor"):
        assert type(M.get(name)).__name__ == name
    with pytest.raises(ValueError, match=r"MeanIoU cannot be made from its name alone"):
        M.get("MeanIoU")


def test_get_by_snake_case_class_name():
    """Keras 3 knows each metric class by its snake_case name too: compile(metrics=["auc",
    "precision", "recall"]) works there, and the history keys are those names."""
    for name, cls in (("auc", "AUC"), ("precision", "Precision"), ("recall", "Recall"),
                      ("true_positives", "TruePositives"), ("f1_score", "F1Score"),
                      ("r2_score", "R2Score"), ("mean", "Mean"), ("binary_io_u", "BinaryIoU")):
        assert type(M.get(name)).__name__ == cls, name
    with pytest.raises(ValueError, match=r"mean_io_u cannot be made .*keras\.metrics\.MeanIoU"):
        M.get("mean_io_u")
    x = np.array([[0.0], [1.0], [2.0], [3.0]], np.float32)
    y = np.array([[0], [0], [1], [1]], np.float32)
    model = keras.Sequential([keras.layers.Input((1,)),
                              keras.layers.Dense(1, activation="sigmoid")])
    model.compile("sgd", "binary_crossentropy", metrics=["auc", "precision", "recall"])
    model.set_weights([np.array([[1.0]], np.float32), np.array([-1.5], np.float32)])
    r = model.evaluate(x, y, verbose=0, return_dict=True)
    # the scores 0 < 1 < 2 < 3 rank the positives (2, 3) above the negatives: AUC 1; at the
    # 0.5 threshold sigmoid(x - 1.5) predicts 1 for x = 2 and 3 only: precision = recall = 1
    assert set(r) == {"loss", "auc", "precision", "recall"}
    np.testing.assert_allclose([r["auc"], r["precision"], r["recall"]], [1, 1, 1], atol=1e-3)


def test_saved_compiled_model_keeps_the_metrics(tmp_path):
    r = np.random.default_rng(12)
    x = r.standard_normal((30, 4)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[r.integers(0, 3, 30)]
    keras.utils.set_random_seed(2)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="categorical_crossentropy",
                  metrics=[M.F1Score(average="weighted", threshold=0.3),
                           M.OneHotMeanIoU(num_classes=3), M.PrecisionAtRecall(0.5)])
    model.fit(x, y, epochs=1, batch_size=10, verbose=0)
    ev = model.evaluate(x, y, verbose=0, return_dict=True)
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    ev2 = loaded.evaluate(x, y, verbose=0, return_dict=True)
    assert set(ev2) == set(ev) >= {"f1_score", "one_hot_mean_io_u", "precision_at_recall"}
    for k in ev:
        np.testing.assert_allclose(ev2[k], ev[k], rtol=1e-6, err_msg=k)


# ------------------------------------------------------------------------------ errors

def test_argument_errors():
    with pytest.raises(ValueError, match=r"\[F1Score\] Invalid `average`.*average='mean'"):
        M.F1Score(average="mean")
    with pytest.raises(ValueError, match=r"\[FBetaScore\] .*Python float.*beta=2 "):
        M.FBetaScore(beta=2)
    with pytest.raises(ValueError, match=r"should be > 0. Received: beta=-1.0"):
        M.FBetaScore(beta=-1.0)
    with pytest.raises(ValueError, match=r"0 < threshold <= 1. Received: threshold=1.5"):
        M.F1Score(threshold=1.5)
    for bad in (0, -2, 2.5, None):
        with pytest.raises(ValueError, match=r"\[MeanIoU\] `num_classes` must be a positive "
                                             r"integer. Received: num_classes="):
            M.MeanIoU(num_classes=bad)
    with pytest.raises(ValueError, match=r"\[IoU\] Target class id 3 is out of range, which "
                                         r"is \[0, 3\)"):
        M.IoU(num_classes=3, target_class_ids=[0, 3])
    with pytest.raises(ValueError, match=r"class_aggregation=.mean."):
        M.R2Score(class_aggregation="mean")
    with pytest.raises(ValueError, match=r"num_regressors=-1"):
        M.R2Score(num_regressors=-1)
    with pytest.raises(ValueError, match=r"\[PrecisionAtRecall\] Argument `recall` must be in "
                                         r"the range \[0, 1\]. Received: recall=1.5"):
        M.PrecisionAtRecall(1.5)
    with pytest.raises(ValueError, match=r"num_thresholds=0"):
        M.SensitivityAtSpecificity(0.5, num_thresholds=0)


def test_input_errors(where):
    with tf.device(where):
        with pytest.raises(ValueError, match=r"\[F1Score\] F1Score expects 2D inputs.*"
                                             r"y_pred.shape=\(4,\)"):
            M.F1Score().update_state(np.ones(4), np.ones(4))
        m = M.F1Score()
        m.update_state(np.eye(3), np.eye(3))
        with pytest.raises(ValueError, match=r"\[F1Score\] .*\(batch_size, 3\).*"
                                             r"y_pred.shape=\(2, 4\)"):
            m.update_state(np.eye(2, 4), np.eye(2, 4))
        with pytest.raises(ValueError, match=r"\[MeanIoU\] y_true holds class ids in \[0, 5\], "
                                             r"out of range for num_classes=3"):
            M.MeanIoU(num_classes=3).update_state([0, 5, 1], [0, 1, 1])
        with pytest.raises(ValueError, match=r"\[MeanIoU\] y_pred holds class ids in \[-1, 1\]"):
            M.MeanIoU(num_classes=3).update_state([0, 2, 1], [0, -1, 1])
        with pytest.raises(ValueError, match=r"\[IoU\] y_true and y_pred must hold as many "
                                             r"labels.*\(3,\).*\(4,\)"):
            M.IoU(3, [0]).update_state([0, 1, 2], [0, 1, 1, 2])
        with pytest.raises(ValueError, match=r"\[R2Score\] R2Score expects 2D inputs"):
            M.R2Score().update_state(np.ones(3), np.ones(3))
        with pytest.raises(ValueError, match=r"\[SensitivityAtSpecificity\] y_true and y_pred "
                                             r"must have the same shape"):
            M.SensitivityAtSpecificity(0.5).update_state(np.ones((3, 2)), np.ones((3, 4)))
        m = M.MeanTensor()
        with pytest.raises(ValueError, match=r"MeanTensor does not have any value yet"):
            m.result()
        m.update_state(np.ones(3))
        with pytest.raises(ValueError, match=r"must always have the same shape.*\(3,\).*\(4,\)"):
            m.update_state(np.ones(4))


def test_vector_metric_results_are_logged_per_class_by_fit():
    # F1Score's default average=None gives one value per class; fit/evaluate log the array
    # (Keras does too) instead of failing to turn it into one float.
    rng = np.random.default_rng(7)
    x = rng.random((32, 4)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 32)]
    m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    m.compile("adam", "categorical_crossentropy", metrics=[keras.metrics.F1Score()])
    h = m.fit(x, y, epochs=2, verbose=0, validation_split=0.25).history
    assert h["f1_score"][0].shape == (3,) and h["val_f1_score"][1].shape == (3,)
    r = m.evaluate(x, y, verbose=0, return_dict=True)
    p = m.predict(x, verbose=0)
    pred = (p == p.max(axis=1, keepdims=True)).astype(np.float64)
    tp = (pred * y).sum(0)
    fp = (pred * (1 - y)).sum(0)
    fn = ((1 - pred) * y).sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        ref = np.nan_to_num(2 * tp / (2 * tp + fp + fn))
    np.testing.assert_allclose(r["f1_score"], ref, rtol=1e-5, atol=1e-6)
