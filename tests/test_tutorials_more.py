"""The code paths of more TF 2.x tutorials as they run with `import nabi as tf`: generative
(DCGAN, pix2pix, CycleGAN losses, DeepDream, FGSM), structured data (preprocessing layers,
imbalanced data, CSV and NumPy loading) and Keras basics (overfit and underfit, save and
load, simple audio recognition, word embeddings).

Tiny synthetic data stands in for the downloads (MNIST comes from nabi's local loader) and
pretrained weights are weights=None. pandas is not installed here, so `dict(df)` is a dict of
NumPy columns. Numbers are checked against NumPy where that is cheap; otherwise shapes,
dtypes and a falling loss."""
import io
import os
import wave

import numpy as np
import pytest

import nabi as tf
from nabi import keras
from nabi.keras import layers

from helpers import assert_array


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _bce_logits(labels, logits):
    return np.mean(np.maximum(logits, 0) - logits * labels + np.log1p(np.exp(-np.abs(logits))))


def _keras_auc(y, p, curve="ROC", num_thresholds=200):
    """Keras 2's AUC (thresholds, interpolation) in NumPy."""
    eps = 1e-7
    thr = np.array([0.0 - eps] + [(i + 1) / (num_thresholds - 1)
                                  for i in range(num_thresholds - 2)] + [1.0 + eps])
    pos = p[None, :] > thr[:, None]
    tp = (pos & (y[None] == 1)).sum(1).astype(np.float64)
    fp = (pos & (y[None] == 0)).sum(1).astype(np.float64)
    fn = (~pos & (y[None] == 1)).sum(1).astype(np.float64)
    tn = (~pos & (y[None] == 0)).sum(1).astype(np.float64)
    if curve == "ROC":
        tpr, fpr = tp / (tp + fn), fp / (fp + tn)
        return np.sum((fpr[:-1] - fpr[1:]) * (tpr[:-1] + tpr[1:]) / 2)
    dtp = tp[:-1] - tp[1:]
    p_ = tp + fp
    dp = p_[:-1] - p_[1:]
    slope = np.divide(dtp, np.maximum(dp, 0), out=np.zeros_like(dtp), where=dp > 0)
    intercept = tp[1:] - slope * p_[1:]
    ok = (p_[:-1] > 0) & (p_[1:] > 0)
    ratio = np.where(ok, p_[:-1] / np.where(ok, p_[1:], 1), 1.0)
    denom = np.maximum(tp[1:] + fn[1:], 0)
    inc = slope * (dtp + intercept * np.log(ratio))
    return np.sum(np.divide(inc, denom, out=np.zeros_like(inc), where=denom > 0))


# ====================================================================== structured data


def test_imbalanced_data_metrics_bias_class_weight_and_resampling(tmp_path):
    rng = np.random.default_rng(0)
    n, d = 400, 6
    labels = (rng.uniform(size=n) < 0.1).astype(np.int64)
    feats = rng.standard_normal((n, d)) + labels[:, None] * 1.5
    cleaned = {f"V{i}": feats[:, i] for i in range(d)}
    cleaned["Class"] = labels
    neg, pos = np.bincount(cleaned["Class"])
    total = neg + pos
    # train_test_split (sklearn) -> plain slices
    train_idx, val_idx, test_idx = np.arange(0, 256), np.arange(256, 320), np.arange(320, 400)
    cols = [f"V{i}" for i in range(d)]
    train_labels = np.array(labels[train_idx]).reshape(-1, 1)
    bool_train_labels = train_labels[:, 0] != 0
    val_labels = np.array(labels[val_idx]).reshape(-1, 1)
    test_labels = np.array(labels[test_idx]).reshape(-1, 1)
    x = np.stack([cleaned[c] for c in cols], 1)
    mean, std = x[train_idx].mean(0), x[train_idx].std(0)  # StandardScaler
    train_features = np.clip((x[train_idx] - mean) / std, -5, 5)
    val_features = np.clip((x[val_idx] - mean) / std, -5, 5)
    test_features = np.clip((x[test_idx] - mean) / std, -5, 5)

    METRICS = [
        keras.metrics.BinaryCrossentropy(name='cross entropy'),
        keras.metrics.MeanSquaredError(name='Brier score'),
        keras.metrics.TruePositives(name='tp'),
        keras.metrics.FalsePositives(name='fp'),
        keras.metrics.TrueNegatives(name='tn'),
        keras.metrics.FalseNegatives(name='fn'),
        keras.metrics.BinaryAccuracy(name='accuracy'),
        keras.metrics.Precision(name='precision'),
        keras.metrics.Recall(name='recall'),
        keras.metrics.AUC(name='auc'),
        keras.metrics.AUC(name='prc', curve='PR'),
    ]

    def make_model(metrics=METRICS, output_bias=None):
        if output_bias is not None:
            output_bias = tf.keras.initializers.Constant(output_bias)
        model = keras.Sequential([
            keras.layers.Dense(16, activation='relu', input_shape=(train_features.shape[-1],)),
            keras.layers.Dropout(0.5),
            keras.layers.Dense(1, activation='sigmoid', bias_initializer=output_bias),
        ])
        model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3),
                      loss=keras.losses.BinaryCrossentropy(), metrics=metrics)
        return model

    EPOCHS, BATCH_SIZE = 3, 64
    early_stopping = tf.keras.callbacks.EarlyStopping(
        monitor='val_prc', verbose=1, patience=10, mode='max', restore_best_weights=True)

    initial_bias = np.log([pos / neg])
    model = make_model(output_bias=initial_bias)
    p0 = model.predict(train_features[:10])
    results = model.evaluate(train_features, train_labels, batch_size=BATCH_SIZE, verbose=0)
    # the bias init: predictions start near pos/total, the loss near the base-rate entropy
    w0 = [v.numpy() for v in model.weights]
    h = np.maximum(train_features @ w0[0] + w0[1], 0)
    p_ref = _sigmoid(h @ w0[2] + w0[3])
    assert_array(p0, p_ref[:10], rtol=1e-4, atol=1e-6)
    pt = np.clip(p_ref, 1e-7, 1 - 1e-7)
    bce = -np.mean(train_labels * np.log(pt) + (1 - train_labels) * np.log(1 - pt))
    assert model.metrics_names == ['loss', 'cross entropy', 'Brier score', 'tp', 'fp', 'tn',
                                   'fn', 'accuracy', 'precision', 'recall', 'auc', 'prc']
    assert np.isclose(results[0], bce, rtol=1e-4)
    assert np.isclose(results[1], bce, rtol=1e-4)
    assert np.isclose(results[2], np.mean((p_ref - train_labels) ** 2), rtol=1e-4)
    yy, pp = train_labels[:, 0], p_ref[:, 0]
    assert results[3:7] == [float(np.sum((pp > .5) & (yy == 1))), float(np.sum((pp > .5) & (yy == 0))),
                            float(np.sum((pp <= .5) & (yy == 0))), float(np.sum((pp <= .5) & (yy == 1)))]
    assert np.isclose(results[10], _keras_auc(yy, pp, "ROC"), atol=1e-5)
    assert np.isclose(results[11], _keras_auc(yy, pp, "PR"), atol=1e-4)

    initial_weights = os.path.join(str(tmp_path), 'initial.weights.h5')
    model.save_weights(initial_weights)
    model = make_model()
    model.load_weights(initial_weights)
    model.layers[-1].bias.assign([0.0])
    assert np.allclose(model.layers[-1].bias.numpy(), 0.0)
    model.load_weights(initial_weights)
    baseline_history = model.fit(train_features, train_labels, batch_size=BATCH_SIZE,
                                 epochs=EPOCHS, callbacks=[early_stopping],
                                 validation_data=(val_features, val_labels), verbose=0)
    assert {"loss", "prc", "val_prc", "tp", "val_auc"} <= set(baseline_history.history)
    test_pred = model.predict(test_features, batch_size=BATCH_SIZE)
    baseline_results = model.evaluate(test_features, test_labels, batch_size=BATCH_SIZE,
                                      verbose=0)
    tpred, ty = test_pred[:, 0], test_labels[:, 0]
    named = dict(zip(model.metrics_names, baseline_results))
    tp_, fp_ = np.sum((tpred > .5) & (ty == 1)), np.sum((tpred > .5) & (ty == 0))
    fn_ = np.sum((tpred <= .5) & (ty == 1))
    assert named['tp'] == tp_ and named['fp'] == fp_ and named['fn'] == fn_
    assert np.isclose(named['precision'], tp_ / (tp_ + fp_) if tp_ + fp_ else 0.0)
    assert np.isclose(named['recall'], tp_ / (tp_ + fn_) if tp_ + fn_ else 0.0)
    assert np.isclose(named['accuracy'], np.mean((tpred > .5) == (ty == 1)))
    assert np.isclose(named['auc'], _keras_auc(ty, tpred, "ROC"), atol=1e-5)
    assert np.isclose(named['prc'], _keras_auc(ty, tpred, "PR"), atol=1e-4)

    # class weights: the weighted loss of a batch is sum(w_i * l_i) / n (Keras 2)
    weight_for_0 = (1 / neg) * (total / 2.0)
    weight_for_1 = (1 / pos) * (total / 2.0)
    class_weight = {0: weight_for_0, 1: weight_for_1}
    weighted_model = make_model()
    weighted_model.load_weights(initial_weights)
    wts = [v.numpy() for v in weighted_model.weights]
    weighted_model.layers[1].rate = 0.0  # deterministic first batch for the NumPy check
    hist = weighted_model.fit(train_features[:BATCH_SIZE], train_labels[:BATCH_SIZE],
                              batch_size=BATCH_SIZE, epochs=1, class_weight=class_weight,
                              verbose=0)
    h = np.maximum(train_features[:BATCH_SIZE] @ wts[0] + wts[1], 0)
    pb = np.clip(_sigmoid(h @ wts[2] + wts[3]), 1e-7, 1 - 1e-7)
    yb = train_labels[:BATCH_SIZE]
    li = -(yb * np.log(pb) + (1 - yb) * np.log(1 - pb))[:, 0]
    sw = np.where(yb[:, 0] == 1, weight_for_1, weight_for_0)
    assert np.isclose(hist.history['loss'][0], np.sum(sw * li) / BATCH_SIZE, rtol=1e-4)

    # oversampling with sample_from_datasets
    pos_features, neg_features = train_features[bool_train_labels], train_features[~bool_train_labels]
    pos_labels, neg_labels = train_labels[bool_train_labels], train_labels[~bool_train_labels]
    BUFFER_SIZE = 1000

    def make_ds(features, labels):
        ds = tf.data.Dataset.from_tensor_slices((features, labels))
        ds = ds.shuffle(BUFFER_SIZE).repeat()
        return ds

    pos_ds = make_ds(pos_features, pos_labels)
    neg_ds = make_ds(neg_features, neg_labels)
    for features, label in pos_ds.take(1):
        assert features.shape == (d,) and label.numpy()[0] == 1
    resampled_ds = tf.data.Dataset.sample_from_datasets([pos_ds, neg_ds], weights=[0.5, 0.5])
    resampled_ds = resampled_ds.batch(BATCH_SIZE).prefetch(2)
    assert resampled_ds.cardinality().numpy() == tf.data.INFINITE_CARDINALITY
    mean_label = np.mean([lab.numpy().mean() for _, lab in resampled_ds.take(8)])
    assert 0.4 < mean_label < 0.6  # 512 Bernoulli(0.5) draws
    resampled_steps_per_epoch = np.ceil(2.0 * neg / BATCH_SIZE)
    val_ds = tf.data.Dataset.from_tensor_slices((val_features, val_labels)).cache()
    val_ds = val_ds.batch(BATCH_SIZE).prefetch(2)
    resampled_model = make_model()
    resampled_model.load_weights(initial_weights)
    output_layer = resampled_model.layers[-1]
    output_layer.bias.assign([0])
    resampled_history = resampled_model.fit(
        resampled_ds, epochs=2, steps_per_epoch=resampled_steps_per_epoch,
        callbacks=[early_stopping], validation_data=val_ds, verbose=0)
    assert len(resampled_history.history['val_prc']) == 2
    assert resampled_history.history['loss'][-1] < resampled_history.history['loss'][0]


def test_sample_and_choose_from_datasets():
    a = tf.data.Dataset.from_tensor_slices(np.zeros(6, np.int64))
    b = tf.data.Dataset.from_tensor_slices(np.ones(3, np.int64))
    # stop_on_empty_dataset=False (default): all elements of both come out
    out = list(tf.data.Dataset.sample_from_datasets([a, b], weights=[0.3, 0.7], seed=3)
               .as_numpy_iterator())
    assert sorted(out) == [0] * 6 + [1] * 3
    out = list(tf.data.experimental.sample_from_datasets([a, b], stop_on_empty_dataset=True,
                                                         seed=1).as_numpy_iterator())
    assert out.count(1) <= 3 and out.count(0) <= 6 and len(out) < 9
    # weights [1, 0] take only the first dataset
    assert list(tf.data.Dataset.sample_from_datasets([a, b], weights=[1.0, 0.0])
                .as_numpy_iterator()) == [0] * 6
    choice = tf.data.Dataset.range(2).repeat(3)
    c = tf.data.Dataset.from_tensor_slices(np.arange(10, 13, dtype=np.int64))
    assert list(tf.data.Dataset.choose_from_datasets([a, c], choice).as_numpy_iterator()) == \
        [0, 10, 0, 11, 0, 12]
    with pytest.raises(TypeError, match="choose_from_datasets"):
        tf.data.Dataset.choose_from_datasets([a, b], tf.data.Dataset.range(2).map(
            lambda i: tf.cast(i, tf.int32)))
    with pytest.raises(TypeError, match="same element structure"):
        tf.data.Dataset.sample_from_datasets([a, tf.data.Dataset.range(2).map(
            lambda i: tf.cast(i, tf.float32))])
