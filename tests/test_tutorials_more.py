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
    # it stops the first time it picks an exhausted dataset, so one of them ran out (all 9
    # come out when the last pick of the other exhausts it too; which happens depends on the
    # random state, so not len(out) < 9)
    assert out.count(1) <= 3 and out.count(0) <= 6
    assert out.count(1) == 3 or out.count(0) == 6
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


def _pet_frame(n, rng):
    """A stand-in for the PetFinder DataFrame: dict of NumPy columns."""
    types = np.array(["Cat", "Dog"])[(rng.uniform(size=n) < 0.6).astype(int)]
    colors = np.array(["Black", "Brown", "Golden", "White", "Gray", "Cream"])
    color1 = colors[np.minimum(rng.geometric(0.4, n) - 1, 5)]
    age = np.minimum(rng.geometric(0.3, n), 9).astype(np.int64)
    photo = rng.integers(0, 12, n).astype(np.float64)
    fee = np.where(rng.uniform(size=n) < 0.7, 0.0, rng.integers(10, 300, n)).astype(np.float64)
    speed = np.where((types == "Dog") & (photo > 3), rng.integers(0, 4, n), 4)
    return {"Type": types, "Age": age, "Color1": color1, "PhotoAmt": photo, "Fee": fee,
            "AdoptionSpeed": speed}


def test_structured_data_with_preprocessing_layers(tmp_path):
    rng = np.random.default_rng(1)
    dataframe = _pet_frame(120, rng)
    dataframe['target'] = np.where(dataframe['AdoptionSpeed'] == 4, 0, 1)
    del dataframe['AdoptionSpeed']
    n = len(dataframe['target'])
    split = lambda df, a, b: {k: v[a:b] for k, v in df.items()}
    train, val, test = (split(dataframe, 0, int(0.8 * n)),
                        split(dataframe, int(0.8 * n), int(0.9 * n)),
                        split(dataframe, int(0.9 * n), n))

    def df_to_dataset(dataframe, shuffle=True, batch_size=32):
        df = dict(dataframe)
        labels = df.pop('target')
        df = {key: value[:, tf.newaxis] for key, value in df.items()}
        ds = tf.data.Dataset.from_tensor_slices((dict(df), labels))
        if shuffle:
            ds = ds.shuffle(buffer_size=len(labels))
        ds = ds.batch(batch_size)
        ds = ds.prefetch(batch_size)
        return ds

    batch_size = 5
    train_ds = df_to_dataset(train, batch_size=batch_size)
    [(train_features, label_batch)] = train_ds.take(1)
    assert sorted(train_features.keys()) == ['Age', 'Color1', 'Fee', 'PhotoAmt', 'Type']
    assert train_features['Age'].shape == (5, 1) and train_features['Age'].dtype == tf.int64
    assert train_features['Type'].dtype == tf.string and label_batch.shape == (5,)

    def get_normalization_layer(name, dataset):
        normalizer = layers.Normalization(axis=None)
        feature_ds = dataset.map(lambda x, y: x[name])
        normalizer.adapt(feature_ds)
        return normalizer

    photo_count_col = train_features['PhotoAmt']
    layer = get_normalization_layer('PhotoAmt', train_ds)
    col = train['PhotoAmt']
    assert_array(layer(photo_count_col),
                 (photo_count_col.numpy() - col.mean()) / np.sqrt(col.var()), rtol=1e-4)

    def get_category_encoding_layer(name, dataset, dtype, max_tokens=None):
        if dtype == 'string':
            index = layers.StringLookup(max_tokens=max_tokens)
        else:
            index = layers.IntegerLookup(max_tokens=max_tokens)
        feature_ds = dataset.map(lambda x, y: x[name])
        index.adapt(feature_ds)
        encoder = layers.CategoryEncoding(num_tokens=index.vocabulary_size())
        return lambda feature: encoder(index(feature))

    test_type_col = train_features['Type']
    test_type_layer = get_category_encoding_layer(name='Type', dataset=train_ds, dtype='string')
    out = test_type_layer(test_type_col)
    vocab = sorted(set(train['Type']), key=lambda t: -np.sum(train['Type'] == t))
    ref = np.zeros((5, 3), np.float32)  # [UNK] + the two types by frequency, multi_hot
    for i, t in enumerate(test_type_col.numpy()[:, 0]):
        ref[i, 1 + vocab.index(t.decode())] = 1
    assert_array(out, ref, dtype="float32")

    test_age_col = train_features['Age']
    test_age_layer = get_category_encoding_layer(name='Age', dataset=train_ds, dtype='int64',
                                                 max_tokens=5)
    ages, counts = np.unique(train['Age'], return_counts=True)
    top = [int(a) for a in ages[np.lexsort((ages, -counts))][:4]]  # 4 tokens + OOV
    ref = np.zeros((5, 5), np.float32)
    for i, a in enumerate(test_age_col.numpy()[:, 0]):
        ref[i, 1 + top.index(a) if a in top else 0] = 1
    assert_array(test_age_layer(test_age_col), ref)

    batch_size = 16
    train_ds = df_to_dataset(train, batch_size=batch_size)
    val_ds = df_to_dataset(val, shuffle=False, batch_size=batch_size)
    test_ds = df_to_dataset(test, shuffle=False, batch_size=batch_size)
    all_inputs, encoded_features = [], []
    for header in ['PhotoAmt', 'Fee']:
        numeric_col = tf.keras.Input(shape=(1,), name=header)
        normalization_layer = get_normalization_layer(header, train_ds)
        encoded_numeric_col = normalization_layer(numeric_col)
        all_inputs.append(numeric_col)
        encoded_features.append(encoded_numeric_col)
    age_col = tf.keras.Input(shape=(1,), name='Age', dtype='int64')
    encoding_layer = get_category_encoding_layer(name='Age', dataset=train_ds, dtype='int64',
                                                 max_tokens=5)
    encoded_age_col = encoding_layer(age_col)
    all_inputs.append(age_col)
    encoded_features.append(encoded_age_col)
    for header in ['Type', 'Color1']:
        categorical_col = tf.keras.Input(shape=(1,), name=header, dtype='string')
        encoding_layer = get_category_encoding_layer(name=header, dataset=train_ds,
                                                     dtype='string', max_tokens=5)
        encoded_categorical_col = encoding_layer(categorical_col)
        all_inputs.append(categorical_col)
        encoded_features.append(encoded_categorical_col)
    all_features = tf.keras.layers.concatenate(encoded_features)
    assert all_features.shape == (None, 1 + 1 + 5 + 3 + 5)
    x = tf.keras.layers.Dense(32, activation="relu")(all_features)
    x = tf.keras.layers.Dropout(0.5)(x)
    output = tf.keras.layers.Dense(1)(x)
    model = tf.keras.Model(all_inputs, output)
    model.compile(optimizer='adam', loss=tf.keras.losses.BinaryCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    # tf.keras.utils.plot_model(model, show_shapes=True, rankdir="LR") needs pydot/graphviz
    # the training loss (dropout 0.5, shuffled batches) is noisy from epoch to epoch: check
    # the loss without dropout on the training data before and after fit instead
    before = model.evaluate(df_to_dataset(train, shuffle=False, batch_size=batch_size), verbose=0)
    hist = model.fit(train_ds, epochs=4, validation_data=val_ds, verbose=0)
    after = model.evaluate(df_to_dataset(train, shuffle=False, batch_size=batch_size), verbose=0)
    assert after[0] < before[0] and len(hist.history['loss']) == 4
    loss, accuracy = model.evaluate(test_ds, verbose=0)
    assert 0.0 <= accuracy <= 1.0 and np.isfinite(loss)
    path = str(tmp_path / 'my_pet_classifier.keras')
    model.save(path)
    reloaded_model = tf.keras.models.load_model(path)
    sample = {'Type': 'Cat', 'Age': 3, 'Color1': 'Black', 'PhotoAmt': 2, 'Fee': 100}
    input_dict = {name: tf.convert_to_tensor([value]) for name, value in sample.items()}
    predictions = reloaded_model.predict(input_dict)
    prob = tf.nn.sigmoid(predictions[0])
    assert_array(predictions, model.predict(input_dict), rtol=1e-5)
    assert prob.shape == (1,)


def test_multi_hot_and_one_hot_category_encoding():
    # CategoryEncoding modes used by the structured data tutorials, against NumPy
    x = np.array([[0, 1], [0, 0], [1, 2], [3, 1]])
    assert_array(layers.CategoryEncoding(num_tokens=4, output_mode="multi_hot")(x),
                 [[1, 1, 0, 0], [1, 0, 0, 0], [0, 1, 1, 0], [0, 1, 0, 1]])
    assert_array(layers.CategoryEncoding(num_tokens=4, output_mode="count")(x),
                 [[1, 1, 0, 0], [2, 0, 0, 0], [0, 1, 1, 0], [0, 1, 0, 1]])
    assert_array(layers.CategoryEncoding(num_tokens=4, output_mode="one_hot")(x[:, :1]),
                 np.eye(4)[x[:, 0]])
    lookup = layers.StringLookup(vocabulary=["a", "b"], output_mode="one_hot")
    assert_array(lookup(np.array(["b", "z", "a"])), [[0, 0, 1], [1, 0, 0], [0, 1, 0]])


_ABALONE = ["Length", "Diameter", "Height", "Whole weight", "Shucked weight",
            "Viscera weight", "Shell weight", "Age"]


def test_load_csv_data(tmp_path):
    rng = np.random.default_rng(2)
    feats = rng.uniform(0.1, 1.0, (64, 7)).round(3)
    age = (feats @ np.arange(1, 8) + rng.normal(0, 0.1, 64)).round(2)
    abalone_csv = tmp_path / "abalone_train.csv"
    with open(abalone_csv, "w") as f:
        for r, a in zip(feats, age):
            f.write(",".join(map(str, r)) + f",{a}\n")
    # pd.read_csv(..., names=[...]) / .pop('Age') -> np.loadtxt
    raw = np.loadtxt(abalone_csv, delimiter=",")
    abalone_features, abalone_labels = raw[:, :7], raw[:, 7]
    abalone_model = tf.keras.Sequential([layers.Dense(64, activation='relu'), layers.Dense(1)])
    abalone_model.compile(loss=tf.keras.losses.MeanSquaredError(),
                          optimizer=tf.keras.optimizers.Adam())
    h = abalone_model.fit(abalone_features, abalone_labels, epochs=3, verbose=0)
    assert h.history['loss'][-1] < h.history['loss'][0]
    normalize = layers.Normalization()
    normalize.adapt(abalone_features)
    assert_array(normalize(abalone_features[:4]), (abalone_features[:4] - feats.mean(0)) /
                 feats.std(0), rtol=1e-4, atol=1e-5)
    norm_abalone_model = tf.keras.Sequential([normalize, layers.Dense(64, activation='relu'),
                                              layers.Dense(1)])
    norm_abalone_model.compile(loss=tf.keras.losses.MeanSquaredError(),
                               optimizer=tf.keras.optimizers.Adam())
    h = norm_abalone_model.fit(abalone_features, abalone_labels, epochs=3, verbose=0)
    assert h.history['loss'][-1] < h.history['loss'][0]

    # mixed data types: the titanic preprocessing head
    n = 40
    sex = np.array(["male", "female"])[rng.integers(0, 2, n)]
    klass = np.array(["First", "Second", "Third"])[rng.integers(0, 3, n)]
    agev = rng.integers(1, 70, n).astype(float)
    fare = rng.uniform(5, 80, n).round(2)
    survived = ((sex == "female") | (klass == "First")).astype(int)
    titanic_file_path = str(tmp_path / "titanic.csv")
    with open(titanic_file_path, "w") as f:
        f.write("survived,sex,age,class,fare\n")
        for row in zip(survived, sex, agev, klass, fare):
            f.write(",".join(map(str, row)) + "\n")
    titanic_features = {"sex": sex, "age": agev, "class": klass, "fare": fare}
    titanic_labels = survived
    inputs = {}
    for name, column in titanic_features.items():
        dtype = column.dtype
        if dtype.kind in "OU":  # pandas' object columns
            dtype = tf.string
        else:
            dtype = tf.float32
        inputs[name] = tf.keras.Input(shape=(1,), name=name, dtype=dtype)
    numeric_inputs = {name: input for name, input in inputs.items()
                      if input.dtype == tf.float32}
    x = layers.Concatenate()(list(numeric_inputs.values()))
    norm = layers.Normalization()
    num = np.stack([titanic_features[k] for k in numeric_inputs.keys()], 1)
    norm.adapt(num)
    all_numeric_inputs = norm(x)
    preprocessed_inputs = [all_numeric_inputs]
    for name, input in inputs.items():
        if input.dtype == tf.float32:
            continue
        lookup = layers.StringLookup(vocabulary=np.unique(titanic_features[name]))
        one_hot = layers.CategoryEncoding(num_tokens=lookup.vocabulary_size())
        x = lookup(input)
        x = one_hot(x)
        preprocessed_inputs.append(x)
    preprocessed_inputs_cat = layers.Concatenate()(preprocessed_inputs)
    titanic_preprocessing = tf.keras.Model(inputs, preprocessed_inputs_cat)
    titanic_features_dict = {name: np.array(value) for name, value in titanic_features.items()}
    features_dict = {name: values[:1] for name, values in titanic_features_dict.items()}
    got = titanic_preprocessing(features_dict).numpy()
    ref_num = (num[:1] - num.mean(0)) / num.std(0)
    ref_sex = np.eye(3)[1 + list(np.unique(sex)).index(sex[0])]
    ref_cls = np.eye(4)[1 + list(np.unique(klass)).index(klass[0])]
    assert_array(got, np.concatenate([ref_num[0], ref_sex, ref_cls])[None], rtol=1e-4,
                 atol=1e-5)

    def titanic_model(preprocessing_head, inputs):
        body = tf.keras.Sequential([layers.Dense(64, activation='relu'), layers.Dense(1)])
        preprocessed_inputs = preprocessing_head(inputs)
        result = body(preprocessed_inputs)
        model = tf.keras.Model(inputs, result)
        model.compile(loss=tf.keras.losses.BinaryCrossentropy(from_logits=True),
                      optimizer=tf.keras.optimizers.Adam())
        return model

    titanic_model = titanic_model(titanic_preprocessing, inputs)
    h = titanic_model.fit(x=titanic_features_dict, y=titanic_labels, epochs=4, verbose=0)
    assert h.history['loss'][-1] < h.history['loss'][0]
    titanic_model.save(str(tmp_path / 'test.keras'))
    reloaded = tf.keras.models.load_model(str(tmp_path / 'test.keras'))
    before = titanic_model(features_dict)
    after = reloaded(features_dict)
    assert (abs(before - after) < 1e-3).numpy().all()

    # tf.data: make_csv_dataset reads every row once per epoch, as columns
    titanic_csv_ds = tf.data.experimental.make_csv_dataset(
        titanic_file_path, batch_size=5, label_name='survived', num_epochs=1,
        ignore_errors=True)
    rows = []
    for batch, label in titanic_csv_ds:
        assert list(batch.keys()) == ["sex", "age", "class", "fare"]
        assert batch["sex"].dtype == tf.string and batch["fare"].dtype == tf.float32
        assert batch["age"].dtype == tf.float32 and label.dtype == tf.int32
        for i in range(label.shape[0]):
            rows.append((int(label[i]), batch["sex"][i].numpy().decode(),
                         round(float(batch["fare"][i]), 2)))
    assert sorted(rows) == sorted(zip(survived.tolist(), sex.tolist(), fare.tolist()))

    # the lower-level readers
    import pathlib
    text = pathlib.Path(titanic_file_path).read_text()
    lines = text.split('\n')[1:-1]
    titanic_types = [int(), str(), float(), str(), float()]
    features = tf.io.decode_csv(lines, record_defaults=titanic_types)
    assert [f.dtype for f in features] == [tf.int32, tf.string, tf.float32, tf.string,
                                           tf.float32]
    assert_array(features[4], fare.astype(np.float32))
    assert features[1].numpy().tolist() == [s.encode() for s in sex]
    a, b = tf.io.decode_csv(['1,"x,y"', ',z'], record_defaults=[[7], ""])
    assert a.numpy().tolist() == [1, 7] and b.numpy().tolist() == [b"x,y", b"z"]
    with pytest.raises(tf.errors.InvalidArgumentError, match="Expect 2 fields but have 3"):
        tf.io.decode_csv(['1,2,3'], record_defaults=[0, 0])
    simple_titanic = tf.data.experimental.CsvDataset(titanic_file_path,
                                                     record_defaults=titanic_types, header=True)
    first = next(iter(simple_titanic))
    assert int(first[0]) == survived[0] and first[3].numpy().decode() == klass[0]


def test_load_numpy_data(tmp_path):
    (x_train, y_train), (x_test, y_test) = tf.keras.datasets.mnist.load_data()
    path = str(tmp_path / "mnist.npz")
    np.savez(path, x_train=x_train[:256] / 255.0, y_train=y_train[:256],
             x_test=x_test[:64] / 255.0, y_test=y_test[:64])
    with np.load(path) as data:
        train_examples = data['x_train']
        train_labels = data['y_train']
        test_examples = data['x_test']
        test_labels = data['y_test']
    train_dataset = tf.data.Dataset.from_tensor_slices((train_examples, train_labels))
    test_dataset = tf.data.Dataset.from_tensor_slices((test_examples, test_labels))
    BATCH_SIZE, SHUFFLE_BUFFER_SIZE = 64, 100
    train_dataset = train_dataset.shuffle(SHUFFLE_BUFFER_SIZE).batch(BATCH_SIZE)
    test_dataset = test_dataset.batch(BATCH_SIZE)
    assert train_dataset.element_spec[0].dtype == tf.float64
    model = tf.keras.Sequential([
        tf.keras.layers.Flatten(input_shape=(28, 28)),
        tf.keras.layers.Dense(128, activation='relu'),
        tf.keras.layers.Dense(10)
    ])
    model.compile(optimizer=tf.keras.optimizers.RMSprop(),
                  loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=['sparse_categorical_accuracy'])
    # one RMSprop step on the first 64 examples against NumPy backprop
    w = [v.numpy().astype(np.float64) for v in model.trainable_variables]
    xb, yb = train_examples[:64].reshape(64, -1), train_labels[:64]
    h = xb @ w[0] + w[1]
    a = np.maximum(h, 0)
    z = a @ w[2] + w[3]
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    loss0 = -np.mean(np.log(p[np.arange(64), yb]))
    dz = (p - np.eye(10)[yb]) / 64
    da = dz @ w[2].T * (h > 0)
    grads = [xb.T @ da, da.sum(0), a.T @ dz, dz.sum(0)]
    out = model.train_on_batch(train_examples[:64], train_labels[:64])
    assert np.isclose(out[0], loss0, rtol=1e-4)
    for v, w0, g in zip(model.trainable_variables, w, grads):
        vel = 0.1 * g ** 2
        assert_array(v, (w0 - 1e-3 * g / np.sqrt(vel + 1e-7)).astype(np.float32), rtol=1e-3,
                     atol=2e-5)
    h = model.fit(train_dataset, epochs=3, verbose=0)
    assert h.history['loss'][-1] < h.history['loss'][0]
    loss, acc = model.evaluate(test_dataset, verbose=0)
    assert acc > 0.5


# ====================================================================== generative


def _adam_first_step_ok(before, after, lr):
    """Adam's first update is lr * g / (|g| + eps): at most lr per entry, lr for most."""
    d = np.abs(after - before)
    assert d.max() <= lr * 1.001 + 1e-7
    return d


def test_dcgan_mnist(tmp_path):
    import time
    (train_images, train_labels), (_, _) = tf.keras.datasets.mnist.load_data()
    train_images = train_images[:32]
    train_images = train_images.reshape(train_images.shape[0], 28, 28, 1).astype('float32')
    train_images = (train_images - 127.5) / 127.5
    BUFFER_SIZE, BATCH_SIZE = 60000, 16
    train_dataset = tf.data.Dataset.from_tensor_slices(train_images).shuffle(BUFFER_SIZE) \
        .batch(BATCH_SIZE)

    def make_generator_model():
        model = tf.keras.Sequential()
        model.add(layers.Dense(7 * 7 * 256, use_bias=False, input_shape=(100,)))
        model.add(layers.BatchNormalization())
        model.add(layers.LeakyReLU())
        model.add(layers.Reshape((7, 7, 256)))
        assert model.output_shape == (None, 7, 7, 256)
        model.add(layers.Conv2DTranspose(128, (5, 5), strides=(1, 1), padding='same',
                                         use_bias=False))
        assert model.output_shape == (None, 7, 7, 128)
        model.add(layers.BatchNormalization())
        model.add(layers.LeakyReLU())
        model.add(layers.Conv2DTranspose(64, (5, 5), strides=(2, 2), padding='same',
                                         use_bias=False))
        assert model.output_shape == (None, 14, 14, 64)
        model.add(layers.BatchNormalization())
        model.add(layers.LeakyReLU())
        model.add(layers.Conv2DTranspose(1, (5, 5), strides=(2, 2), padding='same',
                                         use_bias=False, activation='tanh'))
        assert model.output_shape == (None, 28, 28, 1)
        return model

    generator = make_generator_model()
    noise = tf.random.normal([1, 100])
    generated_image = generator(noise, training=False)
    assert generated_image.shape == (1, 28, 28, 1)
    assert np.abs(generated_image.numpy()).max() <= 1.0

    def make_discriminator_model():
        model = tf.keras.Sequential()
        model.add(layers.Conv2D(64, (5, 5), strides=(2, 2), padding='same',
                                input_shape=[28, 28, 1]))
        model.add(layers.LeakyReLU())
        model.add(layers.Dropout(0.3))
        model.add(layers.Conv2D(128, (5, 5), strides=(2, 2), padding='same'))
        model.add(layers.LeakyReLU())
        model.add(layers.Dropout(0.3))
        model.add(layers.Flatten())
        model.add(layers.Dense(1))
        return model

    discriminator = make_discriminator_model()
    decision = discriminator(generated_image)
    assert decision.shape == (1, 1)

    cross_entropy = tf.keras.losses.BinaryCrossentropy(from_logits=True)

    def discriminator_loss(real_output, fake_output):
        real_loss = cross_entropy(tf.ones_like(real_output), real_output)
        fake_loss = cross_entropy(tf.zeros_like(fake_output), fake_output)
        total_loss = real_loss + fake_loss
        return total_loss

    def generator_loss(fake_output):
        return cross_entropy(tf.ones_like(fake_output), fake_output)

    r, f = np.array([[2.0], [-1.0], [0.5]], np.float32), np.array([[-3.0], [0.2], [30.0]],
                                                                  np.float32)
    assert np.isclose(float(discriminator_loss(tf.constant(r), tf.constant(f))),
                      _bce_logits(1, r) + _bce_logits(0, f), rtol=1e-5)
    assert np.isclose(float(generator_loss(tf.constant(f))), _bce_logits(1, f), rtol=1e-5)

    generator_optimizer = tf.keras.optimizers.Adam(1e-4)
    discriminator_optimizer = tf.keras.optimizers.Adam(1e-4)
    checkpoint_dir = str(tmp_path / 'training_checkpoints')
    checkpoint_prefix = os.path.join(checkpoint_dir, "ckpt")
    checkpoint = tf.train.Checkpoint(generator_optimizer=generator_optimizer,
                                     discriminator_optimizer=discriminator_optimizer,
                                     generator=generator, discriminator=discriminator)
    EPOCHS, noise_dim, num_examples_to_generate = 2, 100, 16
    seed = tf.random.normal([num_examples_to_generate, noise_dim])
    losses = []

    @tf.function
    def train_step(images):
        noise = tf.random.normal([BATCH_SIZE, noise_dim])
        with tf.GradientTape() as gen_tape, tf.GradientTape() as disc_tape:
            generated_images = generator(noise, training=True)
            real_output = discriminator(images, training=True)
            fake_output = discriminator(generated_images, training=True)
            gen_loss = generator_loss(fake_output)
            disc_loss = discriminator_loss(real_output, fake_output)
        gradients_of_generator = gen_tape.gradient(gen_loss, generator.trainable_variables)
        gradients_of_discriminator = disc_tape.gradient(disc_loss,
                                                        discriminator.trainable_variables)
        generator_optimizer.apply_gradients(zip(gradients_of_generator,
                                                generator.trainable_variables))
        discriminator_optimizer.apply_gradients(zip(gradients_of_discriminator,
                                                    discriminator.trainable_variables))
        losses.append((float(gen_loss), float(disc_loss)))

    def generate_and_save_images(model, epoch, test_input):
        predictions = model(test_input, training=False)
        assert predictions.shape == (16, 28, 28, 1)
        return predictions

    g0 = [v.numpy() for v in generator.trainable_variables]
    d0 = [v.numpy() for v in discriminator.trainable_variables]
    train_step(next(iter(train_dataset)))
    for v, b in zip(generator.trainable_variables + discriminator.trainable_variables, g0 + d0):
        _adam_first_step_ok(b, v.numpy(), 1e-4)
    moved = np.concatenate([np.abs(v.numpy() - b).ravel() for v, b in
                            zip(discriminator.trainable_variables, d0)])
    assert np.median(moved) > 0.9e-4  # most entries move by exactly lr

    def train(dataset, epochs):
        for epoch in range(epochs):
            start = time.time()
            for image_batch in dataset:
                train_step(image_batch)
            generate_and_save_images(generator, epoch + 1, seed)
            if (epoch + 1) % 1 == 0:
                checkpoint.save(file_prefix=checkpoint_prefix)
            print('Time for epoch {} is {} sec'.format(epoch + 1, time.time() - start))

    train(train_dataset, EPOCHS)
    assert len(losses) == 1 + EPOCHS * 2 and np.isfinite(losses).all()
    latest = tf.train.latest_checkpoint(checkpoint_dir)
    assert latest.endswith("ckpt-2")
    saved = generate_and_save_images(generator, 0, seed).numpy()
    for v in generator.trainable_variables:
        v.assign(tf.zeros_like(v))
    checkpoint.restore(latest)
    assert_array(generate_and_save_images(generator, 0, seed), saved, rtol=1e-5, atol=1e-6)
    assert int(generator_optimizer.iterations.numpy()) == 1 + EPOCHS * 2


def test_adversarial_fgsm():
    pretrained_model = tf.keras.applications.MobileNetV2(
        input_shape=(64, 64, 3), include_top=True, weights=None)
    pretrained_model.trainable = False

    def preprocess(image):
        image = tf.cast(image, tf.float32)
        image = tf.image.resize(image, (64, 64))
        image = tf.keras.applications.mobilenet_v2.preprocess_input(image)
        image = image[None, ...]
        return image

    from PIL import Image
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 50, 3), np.uint8)) \
        .save(buf, format="PNG")
    image_raw = tf.constant(buf.getvalue())  # tf.io.read_file(image_path)
    image = tf.image.decode_image(image_raw)
    image = preprocess(image)
    assert image.shape == (1, 64, 64, 3) and float(tf.reduce_min(image)) >= -1.0
    image_probs = pretrained_model.predict(image)
    assert image_probs.shape == (1, 1000)
    loss_object = tf.keras.losses.CategoricalCrossentropy()

    def create_adversarial_pattern(input_image, input_label, model=pretrained_model):
        with tf.GradientTape() as tape:
            tape.watch(input_image)
            prediction = model(input_image)
            loss = loss_object(input_label, prediction)
        gradient = tape.gradient(loss, input_image)
        signed_grad = tf.sign(gradient)
        return signed_grad

    labrador_retriever_index = 208
    label = tf.one_hot(labrador_retriever_index, image_probs.shape[-1])
    label = tf.reshape(label, (1, image_probs.shape[-1]))
    perturbations = create_adversarial_pattern(image, label)
    assert perturbations.shape == image.shape
    assert set(np.unique(perturbations.numpy())) <= {-1.0, 0.0, 1.0}
    epsilons = [0, 0.01, 0.1, 0.15]
    for i, eps in enumerate(epsilons):
        adv_x = image + eps * perturbations
        adv_x = tf.clip_by_value(adv_x, -1, 1)
        assert float(tf.reduce_max(tf.abs(adv_x - image))) <= eps + 1e-6
    # (a randomly initialised MobileNetV2 gives near-uniform probabilities: features ~1e-12,
    # so the loss change is checked on the softmax regression below)

    # the same code on a softmax regression, whose input gradient is W (p - y) / 1
    rng = np.random.default_rng(1)
    W = rng.standard_normal((12, 5)).astype(np.float32)
    lin = tf.keras.Sequential([layers.Dense(5, activation="softmax", use_bias=False,
                                            input_shape=(12,))])
    lin.set_weights([W])
    x = rng.standard_normal((1, 12)).astype(np.float32)
    y = np.eye(5, dtype=np.float32)[[3]]
    z = x @ W
    p = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
    signed = create_adversarial_pattern(tf.constant(x), tf.constant(y), lin)
    assert_array(signed, np.sign((p - y) @ W.T))
    adv_x = x + 0.1 * signed.numpy()
    assert float(loss_object(y, lin(adv_x))) > float(loss_object(y, lin(x)))


def test_cyclegan_losses_and_train_step(tmp_path):
    LAMBDA = 10
    IMG_HEIGHT = IMG_WIDTH = 8
    rng = np.random.default_rng(3)
    horses = rng.integers(0, 256, (4, 10, 12, 3), np.uint8)
    zebras = rng.integers(0, 256, (4, 10, 12, 3), np.uint8)

    def random_crop(image):
        cropped_image = tf.image.random_crop(image, size=[IMG_HEIGHT, IMG_WIDTH, 3])
        return cropped_image

    def normalize(image):
        image = tf.cast(image, tf.float32)
        image = (image / 127.5) - 1
        return image

    def random_jitter(image):
        image = tf.image.resize(image, [11, 11], method=tf.image.ResizeMethod.NEAREST_NEIGHBOR)
        image = random_crop(image)
        image = tf.image.random_flip_left_right(image)
        return image

    def preprocess_image_train(image, label):
        image = random_jitter(image)
        image = normalize(image)
        return image

    train_horses = tf.data.Dataset.from_tensor_slices((horses, np.zeros(4, np.int64))) \
        .cache().map(preprocess_image_train, num_parallel_calls=tf.data.AUTOTUNE) \
        .shuffle(1000).batch(2)
    train_zebras = tf.data.Dataset.from_tensor_slices((zebras, np.ones(4, np.int64))) \
        .cache().map(preprocess_image_train, num_parallel_calls=tf.data.AUTOTUNE) \
        .shuffle(1000).batch(2)
    sample_horse = next(iter(train_horses))
    assert sample_horse.shape == (2, 8, 8, 3) and sample_horse.dtype == tf.float32
    assert -1.0 <= float(tf.reduce_min(sample_horse)) and float(tf.reduce_max(sample_horse)) <= 1

    # pix2pix.unet_generator / discriminator live in tensorflow_examples: 1x1 conv stand-ins
    def small_generator():
        return tf.keras.Sequential([layers.Conv2D(3, 1, activation="tanh",
                                                  input_shape=[None, None, 3])])

    def small_discriminator():
        return tf.keras.Sequential([layers.Conv2D(1, 1, input_shape=[None, None, 3])])

    generator_g, generator_f = small_generator(), small_generator()
    discriminator_x, discriminator_y = small_discriminator(), small_discriminator()
    loss_obj = tf.keras.losses.BinaryCrossentropy(from_logits=True)

    def discriminator_loss(real, generated):
        real_loss = loss_obj(tf.ones_like(real), real)
        generated_loss = loss_obj(tf.zeros_like(generated), generated)
        total_disc_loss = real_loss + generated_loss
        return total_disc_loss * 0.5

    def generator_loss(generated):
        return loss_obj(tf.ones_like(generated), generated)

    def calc_cycle_loss(real_image, cycled_image):
        loss1 = tf.reduce_mean(tf.abs(real_image - cycled_image))
        return LAMBDA * loss1

    def identity_loss(real_image, same_image):
        loss = tf.reduce_mean(tf.abs(real_image - same_image))
        return LAMBDA * 0.5 * loss

    generator_g_optimizer = tf.keras.optimizers.Adam(2e-4, beta_1=0.5)
    generator_f_optimizer = tf.keras.optimizers.Adam(2e-4, beta_1=0.5)
    discriminator_x_optimizer = tf.keras.optimizers.Adam(2e-4, beta_1=0.5)
    discriminator_y_optimizer = tf.keras.optimizers.Adam(2e-4, beta_1=0.5)
    checkpoint_path = str(tmp_path / "checkpoints" / "train")
    ckpt = tf.train.Checkpoint(generator_g=generator_g, generator_f=generator_f,
                               discriminator_x=discriminator_x,
                               discriminator_y=discriminator_y,
                               generator_g_optimizer=generator_g_optimizer,
                               generator_f_optimizer=generator_f_optimizer,
                               discriminator_x_optimizer=discriminator_x_optimizer,
                               discriminator_y_optimizer=discriminator_y_optimizer)
    ckpt_manager = tf.train.CheckpointManager(ckpt, checkpoint_path, max_to_keep=5)
    assert ckpt_manager.latest_checkpoint is None
    record = {}

    @tf.function
    def train_step(real_x, real_y):
        with tf.GradientTape(persistent=True) as tape:
            fake_y = generator_g(real_x, training=True)
            cycled_x = generator_f(fake_y, training=True)
            fake_x = generator_f(real_y, training=True)
            cycled_y = generator_g(fake_x, training=True)
            same_x = generator_f(real_x, training=True)
            same_y = generator_g(real_y, training=True)
            disc_real_x = discriminator_x(real_x, training=True)
            disc_real_y = discriminator_y(real_y, training=True)
            disc_fake_x = discriminator_x(fake_x, training=True)
            disc_fake_y = discriminator_y(fake_y, training=True)
            gen_g_loss = generator_loss(disc_fake_y)
            gen_f_loss = generator_loss(disc_fake_x)
            total_cycle_loss = calc_cycle_loss(real_x, cycled_x) + \
                calc_cycle_loss(real_y, cycled_y)
            total_gen_g_loss = gen_g_loss + total_cycle_loss + identity_loss(real_y, same_y)
            total_gen_f_loss = gen_f_loss + total_cycle_loss + identity_loss(real_x, same_x)
            disc_x_loss = discriminator_loss(disc_real_x, disc_fake_x)
            disc_y_loss = discriminator_loss(disc_real_y, disc_fake_y)
        generator_g_gradients = tape.gradient(total_gen_g_loss, generator_g.trainable_variables)
        generator_f_gradients = tape.gradient(total_gen_f_loss, generator_f.trainable_variables)
        discriminator_x_gradients = tape.gradient(disc_x_loss,
                                                  discriminator_x.trainable_variables)
        discriminator_y_gradients = tape.gradient(disc_y_loss,
                                                  discriminator_y.trainable_variables)
        generator_g_optimizer.apply_gradients(zip(generator_g_gradients,
                                                  generator_g.trainable_variables))
        generator_f_optimizer.apply_gradients(zip(generator_f_gradients,
                                                  generator_f.trainable_variables))
        discriminator_x_optimizer.apply_gradients(zip(discriminator_x_gradients,
                                                      discriminator_x.trainable_variables))
        discriminator_y_optimizer.apply_gradients(zip(discriminator_y_gradients,
                                                      discriminator_y.trainable_variables))
        record.update(g=float(total_gen_g_loss), f=float(total_gen_f_loss),
                      dx=float(disc_x_loss), dy=float(disc_y_loss),
                      grad_dy=[g.numpy() for g in discriminator_y_gradients])

    # the four losses in NumPy, from the 1x1 convs' weights
    def np_conv(m, x):
        k, b = [v.numpy().astype(np.float64) for v in m.weights]
        return x @ k[0, 0] + b

    models = [generator_g, generator_f, discriminator_x, discriminator_y]
    real_x, real_y = sample_horse, next(iter(train_zebras))
    before = [[v.numpy() for v in m.trainable_variables] for m in models]
    rx, ry = real_x.numpy().astype(np.float64), real_y.numpy().astype(np.float64)
    G = lambda x: np.tanh(np_conv(generator_g, x))
    F = lambda x: np.tanh(np_conv(generator_f, x))
    fake_y, fake_x = G(rx), F(ry)
    cyc = LAMBDA * (np.mean(np.abs(rx - F(fake_y))) + np.mean(np.abs(ry - G(fake_x))))
    ref_g = _bce_logits(1, np_conv(discriminator_y, fake_y)) + cyc + \
        LAMBDA * 0.5 * np.mean(np.abs(ry - G(ry)))
    ref_f = _bce_logits(1, np_conv(discriminator_x, fake_x)) + cyc + \
        LAMBDA * 0.5 * np.mean(np.abs(rx - F(rx)))
    dry, dfy = np_conv(discriminator_y, ry), np_conv(discriminator_y, fake_y)
    ref_dy = 0.5 * (_bce_logits(1, dry) + _bce_logits(0, dfy))
    ref_dx = 0.5 * (_bce_logits(1, np_conv(discriminator_x, rx)) +
                    _bce_logits(0, np_conv(discriminator_x, fake_x)))
    # d disc_y_loss / d (kernel, bias) of the 1x1 conv: 0.5 * mean(sigmoid(z) - label) terms
    n = dry.size
    gz_r, gz_f = 0.5 * (_sigmoid(dry) - 1) / n, 0.5 * _sigmoid(dfy) / n
    ref_grad_k = (ry.reshape(-1, 3).T @ gz_r.reshape(-1, 1) +
                  fake_y.reshape(-1, 3).T @ gz_f.reshape(-1, 1)).reshape(1, 1, 3, 1)
    ref_grad_b = np.array([gz_r.sum() + gz_f.sum()])
    train_step(real_x, real_y)
    assert np.isclose(record["g"], ref_g, rtol=1e-4)
    assert np.isclose(record["f"], ref_f, rtol=1e-4)
    assert np.isclose(record["dx"], ref_dx, rtol=1e-4)
    assert np.isclose(record["dy"], ref_dy, rtol=1e-4)
    assert_array(record["grad_dy"][0], ref_grad_k, rtol=1e-3, atol=1e-6)
    assert_array(record["grad_dy"][1], ref_grad_b, rtol=1e-3, atol=1e-6)
    for m, b in zip(models, before):
        for v, w in zip(m.trainable_variables, b):
            assert _adam_first_step_ok(w, v.numpy(), 2e-4).max() > 0
    for epoch in range(2):
        for image_x, image_y in tf.data.Dataset.zip((train_horses, train_zebras)):
            train_step(image_x, image_y)
        ckpt_save_path = ckpt_manager.save()
    assert ckpt_manager.latest_checkpoint == ckpt_save_path
    assert int(generator_g_optimizer.iterations.numpy()) == 5
    w = generator_g.get_weights()
    generator_g.set_weights([np.zeros_like(a) for a in w])
    ckpt.restore(ckpt_manager.latest_checkpoint)
    for a, b in zip(generator_g.get_weights(), w):
        assert_array(a, b)


def test_host_tensor_into_a_layer_with_gpu_weights_keeps_its_gradient():
    # tf.io / tf.image results live on the host (as in TF); a layer whose weights are on the
    # GPU copies them there (TF runs the op where its variables are), gradients come back
    with tf.device("/CPU:0"):
        x = tf.constant(np.arange(6, dtype=np.float32).reshape(2, 3))
    d = tf.keras.layers.Dense(2, use_bias=False)  # built by its first call, on x
    with tf.GradientTape(persistent=True) as t2:
        t2.watch(x)
        with tf.GradientTape() as t1:
            t1.watch(x)
            y = tf.reduce_sum(d(x) ** 2)
        g = t1.gradient(y, x)
        z = tf.reduce_sum(g)
    W = d.kernel.numpy().astype(np.float64)
    assert_array(g, 2 * (x.numpy() @ W) @ W.T, rtol=1e-5)
    assert_array(t2.gradient(z, x), 2 * np.ones((2, 3)) @ W @ W.T, rtol=1e-5)
    assert g.device == x.device


def test_pix2pix(tmp_path):
    from PIL import Image
    rng = np.random.default_rng(4)
    PATH = tmp_path / "facades"
    os.makedirs(PATH / "train")
    os.makedirs(PATH / "test")
    for split, n in (("train", 3), ("test", 1)):
        for i in range(n):
            real = np.kron(rng.integers(0, 256, (4, 4, 3)), np.ones((8, 8, 1))).astype(np.uint8)
            inp = (255 - real).astype(np.uint8)
            Image.fromarray(np.concatenate([real, inp], 1)).save(PATH / split / f"{i}.jpg",
                                                                 quality=95)
    BUFFER_SIZE, BATCH_SIZE, IMG_WIDTH, IMG_HEIGHT = 400, 1, 32, 32

    def load(image_file):
        image = tf.io.read_file(image_file)
        image = tf.io.decode_jpeg(image)
        w = tf.shape(image)[1]
        w = w // 2
        input_image = image[:, w:, :]
        real_image = image[:, :w, :]
        input_image = tf.cast(input_image, tf.float32)
        real_image = tf.cast(real_image, tf.float32)
        return input_image, real_image

    inp, re = load(str(PATH / 'train/0.jpg'))
    pil = np.asarray(Image.open(PATH / 'train/0.jpg').convert("RGB")).astype(np.float32)
    assert_array(re, pil[:, :32], atol=1.0)  # the same JPEG decoder family: +-1 level
    assert_array(inp, pil[:, 32:], atol=1.0)

    def resize(input_image, real_image, height, width):
        input_image = tf.image.resize(input_image, [height, width],
                                      method=tf.image.ResizeMethod.NEAREST_NEIGHBOR)
        real_image = tf.image.resize(real_image, [height, width],
                                     method=tf.image.ResizeMethod.NEAREST_NEIGHBOR)
        return input_image, real_image

    def random_crop(input_image, real_image):
        stacked_image = tf.stack([input_image, real_image], axis=0)
        cropped_image = tf.image.random_crop(stacked_image, size=[2, IMG_HEIGHT, IMG_WIDTH, 3])
        return cropped_image[0], cropped_image[1]

    def normalize(input_image, real_image):
        input_image = (input_image / 127.5) - 1
        real_image = (real_image / 127.5) - 1
        return input_image, real_image

    @tf.function()
    def random_jitter(input_image, real_image):
        input_image, real_image = resize(input_image, real_image, 36, 36)
        input_image, real_image = random_crop(input_image, real_image)
        if tf.random.uniform(()) > 0.5:
            input_image = tf.image.flip_left_right(input_image)
            real_image = tf.image.flip_left_right(real_image)
        return input_image, real_image

    # NEAREST_NEIGHBOR with TF2's half-pixel centres: source index floor((i + .5) * in / out)
    r_in, _ = resize(inp, re, 36, 36)
    src = np.minimum(np.floor((np.arange(36) + 0.5) * 32 / 36).astype(int), 31)
    assert_array(r_in, inp.numpy()[src][:, src])
    # the stacked crop takes the same window of both images, flipped together
    for _ in range(3):
        ji, jr = random_jitter(r_in, r_in + 1.0)
        assert ji.shape == (32, 32, 3)
        assert_array(jr, ji.numpy() + 1.0)
        big = r_in.numpy()
        found = [(y, x) for y in range(5) for x in range(5)
                 if np.array_equal(big[y:y + 32, x:x + 32], ji.numpy()) or
                 np.array_equal(big[y:y + 32, x:x + 32][:, ::-1], ji.numpy())]
        assert found

    def load_image_train(image_file):
        input_image, real_image = load(image_file)
        input_image, real_image = random_jitter(input_image, real_image)
        input_image, real_image = normalize(input_image, real_image)
        return input_image, real_image

    def load_image_test(image_file):
        input_image, real_image = load(image_file)
        input_image, real_image = resize(input_image, real_image, IMG_HEIGHT, IMG_WIDTH)
        input_image, real_image = normalize(input_image, real_image)
        return input_image, real_image

    train_dataset = tf.data.Dataset.list_files(str(PATH / 'train/*.jpg'))
    train_dataset = train_dataset.map(load_image_train, num_parallel_calls=tf.data.AUTOTUNE)
    train_dataset = train_dataset.shuffle(BUFFER_SIZE)
    train_dataset = train_dataset.batch(BATCH_SIZE)
    test_dataset = tf.data.Dataset.list_files(str(PATH / 'test/*.jpg'))
    test_dataset = test_dataset.map(load_image_test)
    test_dataset = test_dataset.batch(BATCH_SIZE)
    OUTPUT_CHANNELS = 3

    def downsample(filters, size, apply_batchnorm=True):
        initializer = tf.random_normal_initializer(0., 0.02)
        result = tf.keras.Sequential()
        result.add(tf.keras.layers.Conv2D(filters, size, strides=2, padding='same',
                                          kernel_initializer=initializer, use_bias=False))
        if apply_batchnorm:
            result.add(tf.keras.layers.BatchNormalization())
        result.add(tf.keras.layers.LeakyReLU())
        return result

    down_model = downsample(3, 4)
    down_result = down_model(tf.expand_dims(inp, 0))
    assert down_result.shape == (1, 16, 16, 3)

    def upsample(filters, size, apply_dropout=False):
        initializer = tf.random_normal_initializer(0., 0.02)
        result = tf.keras.Sequential()
        result.add(tf.keras.layers.Conv2DTranspose(filters, size, strides=2, padding='same',
                                                   kernel_initializer=initializer,
                                                   use_bias=False))
        result.add(tf.keras.layers.BatchNormalization())
        if apply_dropout:
            result.add(tf.keras.layers.Dropout(0.5))
        result.add(tf.keras.layers.ReLU())
        return result

    up_model = upsample(3, 4)
    up_result = up_model(down_result)
    assert up_result.shape == (1, 32, 32, 3)

    def Generator():
        inputs = tf.keras.layers.Input(shape=[32, 32, 3])
        down_stack = [downsample(8, 4, apply_batchnorm=False), downsample(16, 4),
                      downsample(32, 4), downsample(32, 4), downsample(32, 4)]
        up_stack = [upsample(32, 4, apply_dropout=True), upsample(32, 4, apply_dropout=True),
                    upsample(16, 4), upsample(8, 4)]
        initializer = tf.random_normal_initializer(0., 0.02)
        last = tf.keras.layers.Conv2DTranspose(OUTPUT_CHANNELS, 4, strides=2, padding='same',
                                               kernel_initializer=initializer,
                                               activation='tanh')
        x = inputs
        skips = []
        for down in down_stack:
            x = down(x)
            skips.append(x)
        skips = reversed(skips[:-1])
        for up, skip in zip(up_stack, skips):
            x = up(x)
            x = tf.keras.layers.Concatenate()([x, skip])
        x = last(x)
        return tf.keras.Model(inputs=inputs, outputs=x)

    generator = Generator()
    gen_output = generator(inp[tf.newaxis, ...], training=False)
    assert gen_output.shape == (1, 32, 32, 3)
    LAMBDA = 100
    loss_object = tf.keras.losses.BinaryCrossentropy(from_logits=True)

    def generator_loss(disc_generated_output, gen_output, target):
        gan_loss = loss_object(tf.ones_like(disc_generated_output), disc_generated_output)
        l1_loss = tf.reduce_mean(tf.abs(target - gen_output))
        total_gen_loss = gan_loss + (LAMBDA * l1_loss)
        return total_gen_loss, gan_loss, l1_loss

    def Discriminator():
        initializer = tf.random_normal_initializer(0., 0.02)
        inp = tf.keras.layers.Input(shape=[32, 32, 3], name='input_image')
        tar = tf.keras.layers.Input(shape=[32, 32, 3], name='target_image')
        x = tf.keras.layers.concatenate([inp, tar])
        down1 = downsample(8, 4, False)(x)
        down2 = downsample(16, 4)(down1)
        down3 = downsample(32, 4)(down2)
        zero_pad1 = tf.keras.layers.ZeroPadding2D()(down3)
        conv = tf.keras.layers.Conv2D(64, 4, strides=1, kernel_initializer=initializer,
                                      use_bias=False)(zero_pad1)
        batchnorm1 = tf.keras.layers.BatchNormalization()(conv)
        leaky_relu = tf.keras.layers.LeakyReLU()(batchnorm1)
        zero_pad2 = tf.keras.layers.ZeroPadding2D()(leaky_relu)
        last = tf.keras.layers.Conv2D(1, 4, strides=1, kernel_initializer=initializer)(
            zero_pad2)
        return tf.keras.Model(inputs=[inp, tar], outputs=last)

    discriminator = Discriminator()
    disc_out = discriminator([inp[tf.newaxis, ...], gen_output], training=False)
    assert disc_out.shape == (1, 2, 2, 1)

    def discriminator_loss(disc_real_output, disc_generated_output):
        real_loss = loss_object(tf.ones_like(disc_real_output), disc_real_output)
        generated_loss = loss_object(tf.zeros_like(disc_generated_output),
                                     disc_generated_output)
        total_disc_loss = real_loss + generated_loss
        return total_disc_loss

    dgo = rng.standard_normal((1, 2, 2, 1)).astype(np.float32)
    go = rng.uniform(-1, 1, (1, 4, 4, 3)).astype(np.float32)
    tg = rng.uniform(-1, 1, (1, 4, 4, 3)).astype(np.float32)
    total, gan, l1 = generator_loss(tf.constant(dgo), tf.constant(go), tf.constant(tg))
    assert np.isclose(float(gan), _bce_logits(1, dgo), rtol=1e-5)
    assert np.isclose(float(l1), np.mean(np.abs(tg - go)), rtol=1e-5)
    assert np.isclose(float(total), _bce_logits(1, dgo) + 100 * np.mean(np.abs(tg - go)),
                      rtol=1e-5)
    assert np.isclose(float(discriminator_loss(tf.constant(dgo), tf.constant(-dgo))),
                      _bce_logits(1, dgo) + _bce_logits(0, -dgo), rtol=1e-5)

    generator_optimizer = tf.keras.optimizers.Adam(2e-4, beta_1=0.5)
    discriminator_optimizer = tf.keras.optimizers.Adam(2e-4, beta_1=0.5)
    log_dir = str(tmp_path / "logs")
    summary_writer = tf.summary.create_file_writer(log_dir + "/fit/run")
    history = []

    @tf.function
    def train_step(input_image, target, step):
        with tf.GradientTape() as gen_tape, tf.GradientTape() as disc_tape:
            gen_output = generator(input_image, training=True)
            disc_real_output = discriminator([input_image, target], training=True)
            disc_generated_output = discriminator([input_image, gen_output], training=True)
            gen_total_loss, gen_gan_loss, gen_l1_loss = generator_loss(
                disc_generated_output, gen_output, target)
            disc_loss = discriminator_loss(disc_real_output, disc_generated_output)
        generator_gradients = gen_tape.gradient(gen_total_loss, generator.trainable_variables)
        discriminator_gradients = disc_tape.gradient(disc_loss,
                                                     discriminator.trainable_variables)
        generator_optimizer.apply_gradients(zip(generator_gradients,
                                                generator.trainable_variables))
        discriminator_optimizer.apply_gradients(zip(discriminator_gradients,
                                                    discriminator.trainable_variables))
        with summary_writer.as_default():
            tf.summary.scalar('gen_total_loss', gen_total_loss, step=step // 1000)
            tf.summary.scalar('gen_gan_loss', gen_gan_loss, step=step // 1000)
            tf.summary.scalar('gen_l1_loss', gen_l1_loss, step=step // 1000)
            tf.summary.scalar('disc_loss', disc_loss, step=step // 1000)
        history.append(float(gen_l1_loss))

    def fit(train_ds, test_ds, steps):
        example_input, example_target = next(iter(test_ds.take(1)))
        assert example_input.shape == (1, 32, 32, 3)
        for step, (input_image, target) in train_ds.repeat().take(steps).enumerate():
            train_step(input_image, target, step)

    fit(train_dataset, test_dataset, steps=6)
    summary_writer.flush()
    assert len(history) == 6 and np.isfinite(history).all()
    assert any(f.startswith("events.out.tfevents") for f in os.listdir(log_dir + "/fit/run"))
    assert int(generator_optimizer.iterations.numpy()) == 6
    # a weightless layer given tensors on both devices (pix2pix's discriminator input)
    with tf.device("/CPU:0"):
        a = tf.constant(np.ones((1, 2), np.float32))
    b = tf.constant(np.zeros((1, 3), np.float32))
    assert_array(tf.keras.layers.Concatenate()([a, b]), [[1, 1, 0, 0, 0]])


def test_deepdream(capsys):
    base_model = tf.keras.applications.InceptionV3(include_top=False, weights=None)
    names = ['mixed3', 'mixed5']
    layers_ = [base_model.get_layer(name).output for name in names]
    dream_model = tf.keras.Model(inputs=base_model.input, outputs=layers_)

    def calc_loss(img, model):
        img_batch = tf.expand_dims(img, axis=0)
        layer_activations = model(img_batch)
        if len(layer_activations) == 1:
            layer_activations = [layer_activations]
        losses = []
        for act in layer_activations:
            loss = tf.math.reduce_mean(act)
            losses.append(loss)
        return tf.reduce_sum(losses)

    class DeepDream(tf.Module):
        def __init__(self, model):
            self.model = model

        @tf.function(input_signature=(tf.TensorSpec(shape=[None, None, 3], dtype=tf.float32),
                                      tf.TensorSpec(shape=[], dtype=tf.int32),
                                      tf.TensorSpec(shape=[], dtype=tf.float32),))
        def __call__(self, img, steps, step_size):
            print("Tracing")
            loss = tf.constant(0.0)
            for n in tf.range(steps):
                with tf.GradientTape() as tape:
                    tape.watch(img)
                    loss = calc_loss(img, self.model)
                gradients = tape.gradient(loss, img)
                gradients /= tf.math.reduce_std(gradients) + 1e-8
                img = img + gradients * step_size
                img = tf.clip_by_value(img, -1, 1)
            return loss, img

    deepdream = DeepDream(dream_model)

    def deprocess(img):
        img = 255 * (img + 1.0) / 2.0
        with tf.device("/CPU:0"):  # nabi's GPU has no uint8 (a clear error): cast on the host
            return tf.cast(img.cpu(), tf.uint8)

    losses = []

    def run_deep_dream_simple(img, steps=100, step_size=0.01):
        img = tf.keras.applications.inception_v3.preprocess_input(img)
        img = tf.convert_to_tensor(img)
        step_size = tf.convert_to_tensor(step_size)
        steps_remaining = steps
        step = 0
        while steps_remaining:
            if steps_remaining > 100:
                run_steps = tf.constant(100)
            else:
                run_steps = tf.constant(steps_remaining)
            steps_remaining -= run_steps
            step += run_steps
            loss, img = deepdream(img, run_steps, tf.constant(step_size))
            losses.append(float(loss))
        result = deprocess(img)
        return result

    rng = np.random.default_rng(5)
    original_img = rng.uniform(0, 255, (80, 84, 3)).astype(np.float32)
    pre = original_img / 127.5 - 1
    loss0 = float(calc_loss(tf.constant(pre), dream_model))
    dream_img = run_deep_dream_simple(img=original_img.copy(), steps=2, step_size=0.01)
    dream_img2 = run_deep_dream_simple(img=original_img.copy(), steps=1, step_size=0.01)
    assert dream_img.shape == (80, 84, 3) and dream_img.dtype == tf.uint8
    assert capsys.readouterr().out.count("Tracing") >= 1
    assert np.isclose(losses[1], loss0, rtol=1e-4)  # one step: the loss of the input
    assert losses[0] > loss0  # gradient ascent: the second step starts higher
    # one step moves each pixel by step_size * g / std(g): at most a few levels in uint8
    assert np.abs(dream_img2.numpy().astype(int) -
                  np.floor(255 * (pre + 1) / 2).astype(int)).mean() < 3

    x = rng.uniform(-1, 1, (4, 5, 3)).astype(np.float32)
    assert_array(deprocess(tf.constant(x)), (255 * (x + 1.0) / 2.0).astype(np.uint8))
    with tf.device("/CPU:0"):  # uint8 has no GPU storage in nabi
        x01 = tf.constant(x * 0.5 + 0.5)
    assert_array(tf.image.convert_image_dtype(x01, dtype=tf.uint8),
                 np.clip((x * 0.5 + 0.5) * 255.5, 0, 255).astype(np.uint8))

    def random_roll(img, maxroll):
        shift = tf.random.uniform(shape=[2], minval=-maxroll, maxval=maxroll, dtype=tf.int32)
        img_rolled = tf.roll(img, shift=shift, axis=[0, 1])
        return shift, img_rolled

    shift, img_rolled = random_roll(np.array(original_img), 32)
    s = shift.numpy()
    assert shift.dtype == tf.int32 and ((-32 <= s) & (s < 32)).all()
    assert_array(img_rolled, np.roll(original_img, s, axis=(0, 1)))

    class TiledGradients(tf.Module):
        def __init__(self, model):
            self.model = model

        @tf.function(input_signature=(tf.TensorSpec(shape=[None, None, 3], dtype=tf.float32),
                                      tf.TensorSpec(shape=[2], dtype=tf.int32),
                                      tf.TensorSpec(shape=[], dtype=tf.int32),))
        def __call__(self, img, img_size, tile_size=512):
            shift, img_rolled = random_roll(img, tile_size)
            gradients = tf.zeros_like(img_rolled)
            xs = tf.range(0, img_size[1], tile_size)[:-1]
            if not tf.cast(len(xs), bool):
                xs = tf.constant([0])
            ys = tf.range(0, img_size[0], tile_size)[:-1]
            if not tf.cast(len(ys), bool):
                ys = tf.constant([0])
            for x in xs:
                for y in ys:
                    with tf.GradientTape() as tape:
                        tape.watch(img_rolled)
                        img_tile = img_rolled[y:y + tile_size, x:x + tile_size]
                        loss = calc_loss(img_tile, self.model)
                    gradients = gradients + tape.gradient(loss, img_rolled)
            gradients = tf.roll(gradients, shift=-shift, axis=[0, 1])
            gradients /= tf.math.reduce_std(gradients) + 1e-8
            return gradients

    get_tiled_gradients = TiledGradients(dream_model)

    def run_deep_dream_with_octaves(img, steps_per_octave=100, step_size=0.01,
                                    octaves=range(-2, 3), octave_scale=1.3):
        base_shape = tf.shape(img)
        img = tf.keras.utils.img_to_array(img)
        img = tf.keras.applications.inception_v3.preprocess_input(img)
        initial_shape = img.shape[:-1]
        img = tf.image.resize(img, initial_shape)
        for octave in octaves:
            new_size = tf.cast(tf.convert_to_tensor(base_shape[:-1]), tf.float32) * \
                (octave_scale ** octave)
            new_size = tf.cast(new_size, tf.int32)
            img = tf.image.resize(img, new_size)
            for step in range(steps_per_octave):
                gradients = get_tiled_gradients(img, new_size)
                img = img + gradients * step_size
                img = tf.clip_by_value(img, -1, 1)
                g = gradients.numpy()
                assert g.shape == tuple(new_size.numpy()) + (3,)
                assert np.isclose(g.std(), 1.0, rtol=1e-2)  # g / (std(g) + 1e-8)
        result = deprocess(img)
        return result

    img = run_deep_dream_with_octaves(img=original_img, steps_per_octave=1, step_size=0.01,
                                      octaves=range(0, 2))  # 80 px; the net needs >= 75
    assert img.shape == (104, 109, 3) and img.dtype == tf.uint8
    img = tf.image.resize(img, tf.shape(original_img)[:-1])
    img = tf.image.convert_image_dtype(img / 255.0, dtype=tf.uint8)
    assert img.shape == (80, 84, 3) and img.dtype == tf.uint8


def test_reduce_sum_of_a_list_of_tensors_is_differentiable():
    # DeepDream's calc_loss: tf.reduce_sum(losses) over a Python list of scalars (TF packs it)
    x = tf.constant(np.arange(6, dtype=np.float32).reshape(2, 3))
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = tf.reduce_sum([tf.reduce_mean(x), tf.reduce_sum(x * x), 2.0])
    assert np.isclose(float(loss), 2.5 + 55 + 2)
    assert_array(tape.gradient(loss, x), 1 / 6 + 2 * x.numpy())


# ====================================================================== Keras basics


def test_word_embeddings(tmp_path):
    import re
    import string
    from nabi.keras.layers import (Dense, Embedding, GlobalAveragePooling1D,
                                   TextVectorization)
    from nabi.keras import Sequential
    embedding_layer = tf.keras.layers.Embedding(1000, 5)
    result = embedding_layer(tf.constant([1, 2, 3]))
    assert_array(result, embedding_layer.get_weights()[0][[1, 2, 3]])
    result = embedding_layer(tf.constant([[0, 1, 2], [3, 4, 5]]))
    assert result.shape == (2, 3, 5)

    rng = np.random.default_rng(6)
    pos, neg, filler = ["good", "great", "love"], ["bad", "awful", "hate"], ["the", "a", "film"]
    texts, labels = [], []
    for i in range(48):
        lab = i % 2
        words = list(rng.choice(filler, 4)) + list(rng.choice(pos if lab else neg, 2))
        texts.append(" ".join(words).capitalize() + "<br />!")
        labels.append(lab)
    ds = tf.data.Dataset.from_tensor_slices((np.array(texts), np.array(labels)))
    train_ds, val_ds = ds.take(40).batch(8), ds.skip(40).batch(8)

    def custom_standardization(input_data):
        lowercase = tf.strings.lower(input_data)
        stripped_html = tf.strings.regex_replace(lowercase, '<br />', ' ')
        return tf.strings.regex_replace(stripped_html,
                                        '[%s]' % re.escape(string.punctuation), '')

    vocab_size, sequence_length = 50, 10
    vectorize_layer = TextVectorization(standardize=custom_standardization,
                                        max_tokens=vocab_size, output_mode='int',
                                        output_sequence_length=sequence_length)
    text_ds = train_ds.map(lambda x, y: x)
    vectorize_layer.adapt(text_ds)
    vocab = vectorize_layer.get_vocabulary()
    assert vocab[:2] == ['', '[UNK]'] and set(vocab[2:]) == set(pos + neg + filler)
    embedding_dim = 16
    model = Sequential([
        vectorize_layer,
        Embedding(vocab_size, embedding_dim, name="embedding"),
        GlobalAveragePooling1D(),
        Dense(16, activation='relu'),
        Dense(1)
    ])
    tensorboard_callback = tf.keras.callbacks.TensorBoard(log_dir=str(tmp_path / "logs"))
    model.compile(optimizer='adam', loss=tf.keras.losses.BinaryCrossentropy(from_logits=True),
                  metrics=['accuracy'])
    # the untrained model's output for one batch, in NumPy
    sample = np.array(texts[:4])
    ids = vectorize_layer(sample).numpy()
    ref_ids = np.zeros((4, sequence_length), np.int64)
    for i, t in enumerate(sample):
        toks = re.sub('[%s]' % re.escape(string.punctuation), '',
                      t.lower().replace('<br />', ' ')).split()
        ref_ids[i, :len(toks)] = [vocab.index(w) for w in toks]
    assert_array(ids, ref_ids)
    out = model.predict(sample, verbose=0)
    E, k1, b1, k2, b2 = model.get_weights()
    h = np.maximum(E[ref_ids].mean(1) @ k1 + b1, 0)
    assert_array(out, h @ k2 + b2, rtol=1e-4, atol=1e-5)
    h = model.fit(train_ds, validation_data=val_ds, epochs=6, callbacks=[tensorboard_callback],
                  verbose=0)
    assert h.history['loss'][-1] < h.history['loss'][0]
    assert os.listdir(tmp_path / "logs" / "train")
    weights = model.get_layer('embedding').get_weights()[0]
    assert weights.shape == (vocab_size, embedding_dim)
    # the tutorial writes vectors.tsv / metadata.tsv
    with io.open(tmp_path / 'vectors.tsv', 'w', encoding='utf-8') as out_v, \
            io.open(tmp_path / 'metadata.tsv', 'w', encoding='utf-8') as out_m:
        for index, word in enumerate(vocab):
            if index == 0:
                continue
            vec = weights[index]
            out_v.write('\t'.join([str(x) for x in vec]) + "\n")
            out_m.write(word + "\n")
    assert len(open(tmp_path / 'metadata.tsv').read().split()) == len(vocab) - 1


def test_overfit_and_underfit(tmp_path):
    from nabi.keras import regularizers
    rng = np.random.default_rng(7)
    FEATURES, N_TRAIN, BATCH_SIZE = 28, 96, 32
    x = rng.standard_normal((128, FEATURES)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] ** 2 > 1).astype(np.float32)
    packed_ds = tf.data.Dataset.from_tensor_slices((x, y))
    validate_ds = packed_ds.take(32).cache().batch(BATCH_SIZE)
    train_ds = packed_ds.skip(32).take(N_TRAIN).cache().shuffle(100).repeat().batch(BATCH_SIZE)
    STEPS_PER_EPOCH = N_TRAIN // BATCH_SIZE
    lr_schedule = tf.keras.optimizers.schedules.InverseTimeDecay(
        0.001, decay_steps=STEPS_PER_EPOCH * 1000, decay_rate=1, staircase=False)
    steps = np.array([0, 1, 3000, 30000])
    assert_array([float(lr_schedule(s)) for s in steps], 0.001 / (1 + steps / 3000),
                 rtol=1e-5)

    def get_optimizer():
        return tf.keras.optimizers.Adam(lr_schedule)

    def get_callbacks(name):
        return [tf.keras.callbacks.EarlyStopping(monitor='val_binary_crossentropy',
                                                 patience=200),
                tf.keras.callbacks.TensorBoard(str(tmp_path / name))]

    def compile_and_fit(model, name, optimizer=None, max_epochs=3):
        if optimizer is None:
            optimizer = get_optimizer()
        model.compile(optimizer=optimizer,
                      loss=tf.keras.losses.BinaryCrossentropy(from_logits=True),
                      metrics=[tf.keras.metrics.BinaryCrossentropy(from_logits=True,
                                                                   name='binary_crossentropy'),
                               'accuracy'])
        model.summary()
        return model.fit(train_ds, steps_per_epoch=STEPS_PER_EPOCH, epochs=max_epochs,
                         validation_data=validate_ds, callbacks=get_callbacks(name), verbose=0)

    l2_model = tf.keras.Sequential([
        layers.Dense(32, activation='elu', kernel_regularizer=regularizers.l2(0.001),
                     input_shape=(FEATURES,)),
        layers.Dense(32, activation='elu', kernel_regularizer=regularizers.l2(0.001)),
        layers.Dense(1)])
    reg = sum(0.001 * np.sum(l.kernel.numpy().astype(np.float64) ** 2)
              for l in l2_model.layers[:2])
    assert np.isclose(float(tf.add_n(l2_model.losses)), reg, rtol=1e-5)
    # the compiled loss adds the penalty: evaluate's loss = data BCE + l2 terms
    logits = l2_model.predict(x[:32], verbose=0)
    l2_model.compile(loss=tf.keras.losses.BinaryCrossentropy(from_logits=True))
    assert np.isclose(l2_model.evaluate(x[:32], y[:32], verbose=0),
                      _bce_logits(y[:32, None], logits.astype(np.float64)) + reg, rtol=1e-4)
    hist = compile_and_fit(l2_model, "regularizers/l2")
    assert {'val_binary_crossentropy', 'binary_crossentropy', 'loss'} <= set(hist.history)
    # loss minus the data term is the penalty of the weights at that time: positive
    assert all(l > b for l, b in zip(hist.history['loss'], hist.history['binary_crossentropy']))

    combined_model = tf.keras.Sequential([
        layers.Dense(64, kernel_regularizer=regularizers.l2(0.0001), activation='elu',
                     input_shape=(FEATURES,)),
        layers.Dropout(0.5),
        layers.Dense(64, kernel_regularizer=regularizers.l2(0.0001), activation='elu'),
        layers.Dropout(0.5),
        layers.Dense(1)])
    hist = compile_and_fit(combined_model, "regularizers/combined", max_epochs=4)
    assert hist.history['binary_crossentropy'][-1] < hist.history['binary_crossentropy'][0]
    assert os.listdir(tmp_path / "regularizers" / "combined" / "train")
