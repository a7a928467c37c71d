"""Hands-On Machine Learning (3rd ed., Geron), chapters 14 "Deep Computer Vision Using CNNs"
and 15 "Processing Sequences Using RNNs and CNNs": the notebooks' code as it runs with
`import nabi as tf` (only the import line changed), on tiny local data instead of the
downloads (a few hundred MNIST digits from $NABI_DATASETS or random arrays for Fashion MNIST,
random images for the sample images and flowers, a synthetic daily series with the Chicago
ridership CSV's columns written to tmp_path), weights=None instead of ImageNet weights, fewer
epochs and narrower layers. Values are checked against NumPy where that is cheap."""
import csv
import datetime
import os
from functools import partial

import numpy as np
import pytest

import nabi as tf


def _fashion_like(n_train=128, n_valid=32, n_test=16):
    """The book's Fashion MNIST split, from a few hundred local MNIST digits (or random
    arrays when $NABI_DATASETS has no MNIST)."""
    root = os.environ.get("NABI_DATASETS")
    if root and os.path.isdir(os.path.join(root, "mnist")):
        (X_train_full, y_train_full), (X_test, y_test) = tf.keras.datasets.mnist.load_data()
    else:
        rng = np.random.default_rng(0)
        X_train_full = rng.integers(0, 256, (n_train + n_valid, 28, 28)).astype(np.uint8)
        y_train_full = rng.integers(0, 10, n_train + n_valid).astype(np.uint8)
        X_test = rng.integers(0, 256, (n_test, 28, 28)).astype(np.uint8)
        y_test = rng.integers(0, 10, n_test).astype(np.uint8)
    X_train, y_train = X_train_full[:n_train], y_train_full[:n_train]
    X_valid, y_valid = X_train_full[n_train:n_train + n_valid], \
        y_train_full[n_train:n_train + n_valid]
    X_test, y_test = X_test[:n_test], y_test[:n_test]
    X_train, X_valid, X_test = X_train / 255., X_valid / 255., X_test / 255.
    # the book's CNN takes (28, 28, 1) images
    X_train = X_train[..., np.newaxis].astype("float32")
    X_valid = X_valid[..., np.newaxis].astype("float32")
    X_test = X_test[..., np.newaxis].astype("float32")
    return (X_train, y_train), (X_valid, y_valid), (X_test, y_test)


def _sample_images():
    """Stand-in for sklearn's load_sample_images() (china.jpg, flower.jpg): two 427x640 RGB
    uint8 images; smaller here."""
    rng = np.random.default_rng(42)
    yy, xx = np.mgrid[0:90, 0:140]
    a = np.stack([(xx * 2) % 256, (yy * 3) % 256, (xx + yy) % 256], -1)
    b = rng.integers(0, 256, (90, 140, 3))
    return np.stack([a, b]).astype(np.uint8)


def _conv2d_same_ref(x, w):
    """A plain NumPy 'SAME' convolution (cross-correlation), stride 1, NHWC / HWIO."""
    n, h, wd, c = x.shape
    kh, kw, _, o = w.shape
    pt, pl = (kh - 1) // 2, (kw - 1) // 2
    xp = np.zeros((n, h + kh - 1, wd + kw - 1, c))
    xp[:, pt:pt + h, pl:pl + wd] = x
    out = np.zeros((n, h, wd, o))
    for i in range(kh):
        for j in range(kw):
            out += np.einsum("nhwc,co->nhwo", xp[:, i:i + h, j:j + wd], w[i, j])
    return out


# ================================================================== chapter 14
def test_conv_layers_and_handmade_filters():
    images = _sample_images()
    images = tf.keras.layers.CenterCrop(height=70, width=120)(images)
    images = tf.keras.layers.Rescaling(scale=1 / 255)(images)
    assert images.shape == (2, 70, 120, 3)

    tf.random.set_seed(42)
    conv_layer = tf.keras.layers.Conv2D(filters=8, kernel_size=7)
    fmaps = conv_layer(images)
    assert fmaps.shape == (2, 64, 114, 8)
    conv_layer = tf.keras.layers.Conv2D(filters=8, kernel_size=7, padding="same")
    fmaps = conv_layer(images)
    assert fmaps.shape == (2, 70, 120, 8)
    kernels, biases = conv_layer.get_weights()
    assert kernels.shape == (7, 7, 3, 8) and biases.shape == (8,)
    np.testing.assert_allclose(fmaps.numpy(), _conv2d_same_ref(images.numpy(), kernels) +
                               biases, rtol=1e-4, atol=1e-4)

    filters = np.zeros([7, 7, 3, 2])
    filters[:, 3, :, 0] = 1  # vertical line
    filters[3, :, :, 1] = 1  # horizontal line
    biases = np.zeros([2])
    fmaps = tf.nn.conv2d(images, filters, strides=1, padding="SAME") + biases
    assert fmaps.shape == (2, 70, 120, 2)
    np.testing.assert_allclose(fmaps.numpy(), _conv2d_same_ref(images.numpy(), filters),
                               rtol=1e-4, atol=1e-4)


def test_pooling_layers():
    images = tf.keras.layers.Rescaling(scale=1 / 255)(
        tf.keras.layers.CenterCrop(height=70, width=120)(_sample_images()))
    x = images.numpy()
    max_pool = tf.keras.layers.MaxPool2D(pool_size=2)
    output = max_pool(images)
    np.testing.assert_allclose(output.numpy(), x.reshape(2, 35, 2, 60, 2, 3).max((2, 4)))

    class DepthPool(tf.keras.layers.Layer):
        def __init__(self, pool_size=2, **kwargs):
            super().__init__(**kwargs)
            self.pool_size = pool_size

        def call(self, inputs):
            shape = tf.shape(inputs)  # shape[-1] is the number of channels
            groups = shape[-1] // self.pool_size  # number of channel groups
            new_shape = tf.concat([shape[:-1], [groups, self.pool_size]], axis=0)
            return tf.reduce_max(tf.reshape(inputs, new_shape), axis=-1)

    np.random.seed(42)
    fmaps = np.random.rand(2, 70, 120, 60).astype("float32")
    with tf.device("/cpu:0"):  # the book notes depthwise max_pool runs on the CPU only
        depth_output = tf.nn.max_pool(fmaps, ksize=(1, 1, 1, 3), strides=(1, 1, 1, 3),
                                      padding="VALID")
    assert depth_output.shape == (2, 70, 120, 20)
    want = fmaps.reshape(2, 70, 120, 20, 3).max(-1)
    np.testing.assert_allclose(depth_output.numpy(), want)
    depth_output = DepthPool(pool_size=3)(fmaps)
    np.testing.assert_allclose(depth_output.numpy(), want)
    lam = tf.keras.layers.Lambda(lambda X: tf.nn.max_pool(
        X, ksize=(1, 1, 1, 3), strides=(1, 1, 1, 3), padding="VALID"))
    np.testing.assert_allclose(lam(fmaps).numpy(), want)

    global_avg_pool = tf.keras.layers.GlobalAvgPool2D()
    np.testing.assert_allclose(global_avg_pool(images).numpy(), x.mean(axis=(1, 2)),
                               rtol=1e-4)
    output_global_avg2 = tf.keras.layers.Lambda(lambda X: tf.reduce_mean(X, axis=[1, 2]))
    np.testing.assert_allclose(output_global_avg2(images).numpy(), x.mean(axis=(1, 2)),
                               rtol=1e-4)


def test_fashion_cnn():
    (X_train, y_train), (X_valid, y_valid), (X_test, y_test) = _fashion_like()
    tf.random.set_seed(42)
    DefaultConv2D = partial(tf.keras.layers.Conv2D, kernel_size=3, padding="same",
                            activation="relu", kernel_initializer="he_normal")
    model = tf.keras.Sequential([
        DefaultConv2D(filters=8, kernel_size=7, input_shape=[28, 28, 1]),
        tf.keras.layers.MaxPool2D(),
        DefaultConv2D(filters=16),
        DefaultConv2D(filters=16),
        tf.keras.layers.MaxPool2D(),
        DefaultConv2D(filters=16),
        DefaultConv2D(filters=16),
        tf.keras.layers.MaxPool2D(),
        tf.keras.layers.Flatten(),
        tf.keras.layers.Dense(units=32, activation="relu", kernel_initializer="he_normal"),
        tf.keras.layers.Dropout(0.5),
        tf.keras.layers.Dense(units=16, activation="relu", kernel_initializer="he_normal"),
        tf.keras.layers.Dropout(0.5),
        tf.keras.layers.Dense(units=10, activation="softmax")
    ])
    assert model.output_shape == (None, 10)
    assert model.layers[-4].input_shape == (None, 32)
    model.compile(loss="sparse_categorical_crossentropy", optimizer="nadam",
                  metrics=["accuracy"])
    history = model.fit(X_train, y_train, epochs=2, validation_data=(X_valid, y_valid),
                        verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    score = model.evaluate(X_test, y_test, verbose=0)
    assert len(score) == 2
    X_new = X_test[:10]
    y_pred = model.predict(X_new, verbose=0)
    assert y_pred.shape == (10, 10)
    np.testing.assert_allclose(y_pred.sum(axis=1), 1, rtol=1e-5)


DefaultConv2D = partial(tf.keras.layers.Conv2D, kernel_size=3, strides=1,
                        padding="same", kernel_initializer="he_normal", use_bias=False)


class ResidualUnit(tf.keras.layers.Layer):
    def __init__(self, filters, strides=1, activation="relu", **kwargs):
        super().__init__(**kwargs)
        self.activation = tf.keras.activations.get(activation)
        self.main_layers = [
            DefaultConv2D(filters, strides=strides),
            tf.keras.layers.BatchNormalization(),
            self.activation,
            DefaultConv2D(filters),
            tf.keras.layers.BatchNormalization()
        ]
        self.skip_layers = []
        if strides > 1:
            self.skip_layers = [
                DefaultConv2D(filters, kernel_size=1, strides=strides),
                tf.keras.layers.BatchNormalization()
            ]

    def call(self, inputs):
        Z = inputs
        for layer in self.main_layers:
            Z = layer(Z)
        skip_Z = inputs
        for layer in self.skip_layers:
            skip_Z = layer(skip_Z)
        return self.activation(Z + skip_Z)


def test_resnet34_like():
    tf.random.set_seed(42)
    model = tf.keras.Sequential([
        DefaultConv2D(8, kernel_size=7, strides=2, input_shape=[32, 32, 3]),
        tf.keras.layers.BatchNormalization(),
        tf.keras.layers.Activation("relu"),
        tf.keras.layers.MaxPool2D(pool_size=3, strides=2, padding="same"),
    ])
    prev_filters = 8
    for filters in [8] * 2 + [16] * 2 + [32] * 2:  # the book: [64]*3 + [128]*4 + [256]*6 + [512]*3
        strides = 1 if filters == prev_filters else 2
        model.add(ResidualUnit(filters, strides=strides))
        prev_filters = filters
    model.add(tf.keras.layers.GlobalAvgPool2D())
    model.add(tf.keras.layers.Flatten())
    model.add(tf.keras.layers.Dense(10, activation="softmax"))
    assert model.output_shape == (None, 10)
    # 32 -> 16 (stride 2) -> 8 (pool) -> 8 -> 4 -> 2
    assert model.layers[-3].input_shape == (None, 2, 2, 32)
    units = [la for la in model.layers if isinstance(la, ResidualUnit)]
    assert [len(u.skip_layers) for u in units] == [0, 0, 2, 0, 2, 0]
    # each unit owns its conv and BN weights (2 convs + 2 BN, + 1x1 conv + BN on the skip)
    assert len(units[2].trainable_weights) == 2 * 1 + 2 * 2 + 1 + 2
    assert len(units[2].non_trainable_weights) == 3 * 2
    rng = np.random.default_rng(0)
    X = rng.random((16, 32, 32, 3)).astype("float32")
    y = rng.integers(0, 10, 16)
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam")
    hist = model.fit(X, y, epochs=3, batch_size=16, verbose=0)
    assert hist.history["loss"][-1] < hist.history["loss"][0]


def test_pretrained_model_code_paths_without_weights():
    images = _sample_images()
    images_resized = tf.keras.layers.Resizing(height=64, width=64,
                                              crop_to_aspect_ratio=True)(images)
    assert images_resized.shape == (2, 64, 64, 3)
    # resnet50.preprocess_input: RGB -> BGR, minus the ImageNet means ("caffe" mode)
    inputs = tf.keras.applications.resnet50.preprocess_input(images_resized)
    x = images_resized.numpy()
    np.testing.assert_allclose(inputs.numpy(),
                               x[..., ::-1] - np.array([103.939, 116.779, 123.68]),
                               rtol=1e-5, atol=1e-3)
    # xception.preprocess_input: scales to [-1, 1] ("tf" mode)
    np.testing.assert_allclose(tf.keras.applications.xception.preprocess_input(x),
                               x / 127.5 - 1, rtol=1e-5, atol=1e-6)


def test_transfer_learning_and_localization():
    """The flowers transfer-learning recipe (Xception there; a tiny MobileNetV2 built with
    weights=None here): freeze the base, train the head, unfreeze the top, train again;
    then the classification + localization two-output model."""
    rng = np.random.default_rng(0)
    n_classes = 3
    X = rng.integers(0, 256, (16, 40, 40, 3)).astype("float32")
    y = rng.integers(0, n_classes, 16)
    train_set_raw = tf.data.Dataset.from_tensor_slices((X[:8], y[:8]))
    valid_set_raw = tf.data.Dataset.from_tensor_slices((X[8:], y[8:]))

    batch_size = 8
    preprocess = tf.keras.Sequential([
        tf.keras.layers.Resizing(height=32, width=32, crop_to_aspect_ratio=True),
        tf.keras.layers.Lambda(tf.keras.applications.mobilenet_v2.preprocess_input)
    ])
    train_set = train_set_raw.map(lambda X, y: (preprocess(X), y))
    train_set = train_set.shuffle(1000, seed=42).batch(batch_size).prefetch(1)
    valid_set = valid_set_raw.map(lambda X, y: (preprocess(X), y)).batch(batch_size)
    xb, _ = next(iter(train_set))
    assert xb.shape == (8, 32, 32, 3) and float(tf.reduce_min(xb)) >= -1.0001

    data_augmentation = tf.keras.Sequential([
        tf.keras.layers.RandomFlip(mode="horizontal", seed=42),
        tf.keras.layers.RandomRotation(factor=0.05, seed=42),
        tf.keras.layers.RandomContrast(factor=0.2, seed=42)
    ])
    assert data_augmentation(xb, training=True).shape == xb.shape

    tf.random.set_seed(42)
    base_model = tf.keras.applications.MobileNetV2(weights=None, include_top=False,
                                                   input_shape=(32, 32, 3), alpha=0.35)
    avg = tf.keras.layers.GlobalAveragePooling2D()(base_model.output)
    output = tf.keras.layers.Dense(n_classes, activation="softmax")(avg)
    model = tf.keras.Model(inputs=base_model.input, outputs=output)
    for layer in base_model.layers:
        layer.trainable = False
    assert len(model.trainable_weights) == 2
    frozen = [w.numpy().copy() for w in base_model.weights]
    optimizer = tf.keras.optimizers.SGD(learning_rate=0.1, momentum=0.9)
    model.compile(loss="sparse_categorical_crossentropy", optimizer=optimizer,
                  metrics=["accuracy"])
    history = model.fit(train_set, validation_data=valid_set, epochs=1, verbose=0)
    assert len(history.history["val_accuracy"]) == 1
    for w, before in zip(base_model.weights, frozen):  # BN statistics too: frozen BN is
        np.testing.assert_array_equal(w.numpy(), before)  # in inference mode

    n_top = len(base_model.layers) - 20
    for layer in base_model.layers[n_top:]:
        layer.trainable = True
    assert len(model.trainable_weights) > 2
    optimizer = tf.keras.optimizers.SGD(learning_rate=0.01, momentum=0.9)
    model.compile(loss="sparse_categorical_crossentropy", optimizer=optimizer,
                  metrics=["accuracy"])
    model.fit(train_set, validation_data=valid_set, epochs=1, verbose=0)
    changed = [not np.array_equal(w.numpy(), b) for w, b in zip(base_model.weights, frozen)]
    assert any(changed)
    first = [w.name for w in base_model.layers[1].weights]
    assert not any(changed[:len(first)])  # the bottom layers stayed frozen

    # classification + localization
    avg = tf.keras.layers.GlobalAveragePooling2D()(base_model.output)
    class_output = tf.keras.layers.Dense(n_classes, activation="softmax")(avg)
    loc_output = tf.keras.layers.Dense(4)(avg)
    model = tf.keras.Model(inputs=base_model.input, outputs=[class_output, loc_output])
    model.compile(loss=["sparse_categorical_crossentropy", "mse"],
                  loss_weights=[0.8, 0.2], optimizer=optimizer, metrics=["accuracy"])
    boxes = rng.random((8, 4)).astype("float32")
    Xp = preprocess(X[:8])
    hist = model.fit(Xp, (y[:8], boxes), epochs=1, batch_size=8, verbose=0)
    keys = set(hist.history)
    assert "loss" in keys and len([k for k in keys if k.endswith("_loss")]) == 2
    cls, loc = model.predict(Xp[:3], verbose=0)
    assert cls.shape == (3, n_classes) and loc.shape == (3, 4)


# ================================================================== chapter 15
def generate_time_series(batch_size, n_steps):
    freq1, freq2, offsets1, offsets2 = np.random.rand(4, batch_size, 1)
    time = np.linspace(0, 1, n_steps)
    series = 0.5 * np.sin((time - offsets1) * (freq1 * 10 + 10))  # wave 1
    series += 0.2 * np.sin((time - offsets2) * (freq2 * 20 + 20))  # + wave 2
    series += 0.1 * (np.random.rand(batch_size, n_steps) - 0.5)  # + noise
    return series[..., np.newaxis].astype(np.float32)


def test_generate_time_series_naive_and_linear():
    np.random.seed(42)
    n_steps = 50
    series = generate_time_series(300, n_steps + 1)
    X_train, y_train = series[:200, :n_steps], series[:200, -1]
    X_valid, y_valid = series[200:, :n_steps], series[200:, -1]
    assert X_train.shape == (200, 50, 1) and y_train.shape == (200, 1)
    y_pred = X_valid[:, -1]
    mse = np.mean(tf.keras.losses.mean_squared_error(y_valid, y_pred))
    np.testing.assert_allclose(mse, np.mean((y_valid - y_pred) ** 2), rtol=1e-5)

    tf.random.set_seed(42)
    model = tf.keras.models.Sequential([
        tf.keras.layers.Flatten(input_shape=[50, 1]),
        tf.keras.layers.Dense(1)
    ])
    model.compile(loss="mse", optimizer="adam")
    history = model.fit(X_train, y_train, epochs=5, validation_data=(X_valid, y_valid),
                        verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]


def _write_ridership_csv(path, n_days=400):
    """A synthetic CTA_-_Ridership_-_Daily_Boarding_Totals.csv: service_date (MM/DD/YYYY),
    day_type (W weekday, A Saturday, U Sunday/holiday), bus, rail_boardings, total_rides,
    with a weekly pattern; from 2018-09-01, unsorted, with one duplicated row."""
    rng = np.random.default_rng(0)
    start = datetime.date(2018, 9, 1)
    rows = []
    for i in range(n_days):
        d = start + datetime.timedelta(days=i)
        wd = d.weekday()
        day_type = "W" if wd < 5 else ("A" if wd == 5 else "U")
        base = {"W": 1.0, "A": 0.6, "U": 0.45}[day_type]
        bus = int(800_000 * base * (1 + 0.05 * rng.standard_normal()))
        rail = int(700_000 * base * (1 + 0.05 * rng.standard_normal()))
        rows.append([d.strftime("%m/%d/%Y"), day_type, bus, rail, bus + rail])
    rows = rows[::-1] + [rows[10]]
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["service_date", "day_type", "bus", "rail_boardings", "total_rides"])
        w.writerows(rows)


def _load_ridership(path):
    """The book's pandas steps (read_csv with parse_dates, rename the columns, sort by date,
    drop 'total' and the duplicates) with the csv module: dates, day types, bus, rail."""
    with open(path) as f:
        r = csv.reader(f)
        header = next(r)
        assert header == ["service_date", "day_type", "bus", "rail_boardings", "total_rides"]
        rows = {tuple(row) for row in r}
    rows = sorted(rows, key=lambda row: datetime.datetime.strptime(row[0], "%m/%d/%Y"))
    dates = np.array([datetime.datetime.strptime(row[0], "%m/%d/%Y").date() for row in rows])
    day_type = np.array([row[1] for row in rows])
    bus = np.array([float(row[2]) for row in rows])
    rail = np.array([float(row[3]) for row in rows])
    return dates, day_type, bus, rail


def to_windows(dataset, length):
    dataset = dataset.window(length, shift=1, drop_remainder=True)
    return dataset.flat_map(lambda window_ds: window_ds.batch(length))


def to_seq2seq_dataset(series, seq_length=56, ahead=14, target_col=1,
                       batch_size=32, shuffle=False, seed=None):
    ds = to_windows(tf.data.Dataset.from_tensor_slices(series), ahead + 1)
    ds = to_windows(ds, seq_length).map(lambda S: (S[:, 0], S[:, 1:, 1]))
    if shuffle:
        ds = ds.shuffle(8 * batch_size, seed=seed)
    return ds.batch(batch_size)


def fit_and_evaluate(model, train_set, valid_set, learning_rate, epochs=500):
    early_stopping_cb = tf.keras.callbacks.EarlyStopping(
        monitor="val_mae", patience=50, restore_best_weights=True)
    opt = tf.keras.optimizers.SGD(learning_rate=learning_rate, momentum=0.9)
    model.compile(loss=tf.keras.losses.Huber(), optimizer=opt, metrics=["mae"])
    history = model.fit(train_set, validation_data=valid_set, epochs=epochs,
                        callbacks=[early_stopping_cb], verbose=0)
    valid_loss, valid_mae = model.evaluate(valid_set, verbose=0)
    return valid_mae * 1e6, history


@pytest.fixture(scope="module")
def ridership(tmp_path_factory):
    path = tmp_path_factory.mktemp("ridership") / "CTA_-_Ridership_-_Daily_Boarding_Totals.csv"
    _write_ridership_csv(path)
    return _load_ridership(path)


def test_ridership_naive_forecast(ridership):
    dates, day_type, bus, rail = ridership
    assert len(dates) == 400 and all(np.diff(dates).astype("timedelta64[D]").astype(int) == 1)
    # diff_7 = df[["bus", "rail"]].diff(7)["2019-03":"2019-05"]; diff_7.abs().mean()
    sel = np.array([datetime.date(2019, 3, 1) <= d <= datetime.date(2019, 5, 31)
                    for d in dates])
    idx = np.nonzero(sel)[0]
    manual_mae = np.mean([abs(rail[i] - rail[i - 7]) for i in idx])
    y_true, y_naive = rail[idx], rail[idx - 7]
    mae = tf.keras.metrics.mean_absolute_error(y_true, y_naive)
    np.testing.assert_allclose(float(mae), manual_mae, rtol=1e-5)
    m = tf.keras.metrics.MeanAbsolutePercentageError()
    m.update_state(y_true, y_naive)
    np.testing.assert_allclose(float(m.result()),
                               100 * np.mean(np.abs((y_true - y_naive) / y_true)), rtol=1e-4)


def test_timeseries_dataset_and_windows():
    my_series = [0, 1, 2, 3, 4, 5]
    my_dataset = tf.keras.utils.timeseries_dataset_from_array(
        my_series,
        targets=my_series[3:],  # the targets are 3 steps into the future
        sequence_length=3,
        batch_size=2
    )
    got = [(x.numpy().tolist(), y.numpy().tolist()) for x, y in my_dataset]
    assert got == [([[0, 1, 2], [1, 2, 3]], [3, 4]), ([[2, 3, 4]], [5])]

    windows = []
    for window_dataset in tf.data.Dataset.range(6).window(4, shift=1):
        windows.append([int(e) for e in window_dataset])
    assert windows == [[0, 1, 2, 3], [1, 2, 3, 4], [2, 3, 4, 5], [3, 4, 5], [4, 5], [5]]

    dataset = tf.data.Dataset.range(6).window(4, shift=1, drop_remainder=True)
    dataset = dataset.flat_map(lambda window_dataset: window_dataset.batch(4))
    assert [w.numpy().tolist() for w in dataset] == [[0, 1, 2, 3], [1, 2, 3, 4],
                                                     [2, 3, 4, 5]]

    dataset = to_windows(tf.data.Dataset.range(6), 4)
    dataset = dataset.map(lambda window: (window[:-1], window[-1]))
    got = [(x.numpy().tolist(), y.numpy().tolist()) for x, y in dataset.batch(2)]
    assert got == [([[0, 1, 2], [1, 2, 3]], [3, 4]), ([[2, 3, 4]], [5])]

    s2s = to_seq2seq_dataset(np.arange(20 * 2, dtype="float32").reshape(20, 2),
                             seq_length=4, ahead=3, batch_size=16)
    X, Y = next(iter(s2s))
    # windows of ahead+1 rows, then seq_length of them: X = the first row of each window,
    # Y = column 1 of the next `ahead` rows
    assert X.shape == (14, 4, 2) and Y.shape == (14, 4, 3)
    series = np.arange(40, dtype="float32").reshape(20, 2)
    np.testing.assert_array_equal(X.numpy()[0], series[0:4])
    np.testing.assert_array_equal(Y.numpy()[0, 1], series[2:5, 1])


def test_ridership_models(ridership):
    dates, day_type, bus, rail = ridership
    seq_length = 28  # the book: 56
    rail_m = (rail / 1e6).astype("float32")
    rail_train, rail_valid = rail_m[:300], rail_m[300:]
    tf.random.set_seed(42)
    train_ds = tf.keras.utils.timeseries_dataset_from_array(
        rail_train,
        targets=rail_train[seq_length:],
        sequence_length=seq_length,
        batch_size=32,
        shuffle=True,
        seed=42
    )
    valid_ds = tf.keras.utils.timeseries_dataset_from_array(
        rail_valid,
        targets=rail_valid[seq_length:],
        sequence_length=seq_length,
        batch_size=32
    )
    xb, yb = next(iter(valid_ds))
    assert xb.shape == (32, seq_length) and yb.shape == (32,)
    np.testing.assert_allclose(xb.numpy()[1], rail_valid[1:1 + seq_length])
    np.testing.assert_allclose(yb.numpy()[1], rail_valid[1 + seq_length])

    model = tf.keras.Sequential([tf.keras.layers.Dense(1, input_shape=[seq_length])])
    mae, history = fit_and_evaluate(model, train_ds, valid_ds, learning_rate=0.02, epochs=8)
    assert history.history["mae"][-1] < history.history["mae"][0]
    assert np.isfinite(mae)

    tf.random.set_seed(42)
    model = tf.keras.Sequential([tf.keras.layers.SimpleRNN(1, input_shape=[None, 1])])
    assert model.output_shape == (None, 1) and model.count_params() == 3
    deep_model = tf.keras.Sequential([
        tf.keras.layers.SimpleRNN(8, return_sequences=True, input_shape=[None, 1]),
        tf.keras.layers.SimpleRNN(8, return_sequences=True),
        tf.keras.layers.SimpleRNN(8),
        tf.keras.layers.Dense(1)
    ])
    mae, history = fit_and_evaluate(deep_model, train_ds, valid_ds, learning_rate=0.01,
                                    epochs=2)
    assert np.isfinite(mae) and len(history.history["val_mae"]) == 2

    # forecasting several steps ahead, one at a time, feeding each prediction back
    X = rail_valid[np.newaxis, :seq_length, np.newaxis]
    for step_ahead in range(5):
        y_pred_one = deep_model.predict(X, verbose=0)
        X = np.concatenate([X, y_pred_one.reshape(1, 1, 1)], axis=1)
    assert X.shape == (1, seq_length + 5, 1)
    np.testing.assert_allclose(X[0, -1, 0], deep_model.predict(X[:, :-1], verbose=0)[0, 0],
                               rtol=1e-5)

    # multivariate: bus, rail and a one-hot of the next day's type (pd.get_dummies)
    next_day_type = np.r_[day_type[1:], [""]]
    dummies = np.stack([next_day_type == t for t in ("A", "U", "W")], 1).astype("float32")
    mulvar = np.column_stack([bus / 1e6, rail / 1e6, dummies]).astype("float32")
    mulvar_train, mulvar_valid = mulvar[:300], mulvar[300:]
    train_mulvar_ds = tf.keras.utils.timeseries_dataset_from_array(
        mulvar_train, targets=mulvar_train[seq_length:, 1], sequence_length=seq_length,
        batch_size=32, shuffle=True, seed=42)
    xb, yb = next(iter(train_mulvar_ds))
    assert xb.shape == (32, seq_length, 5) and yb.shape == (32,)

    def split_inputs_and_targets(mulvar_series, ahead=14, target_col=1):
        return mulvar_series[:, :-ahead], mulvar_series[:, -ahead:, target_col]

    ahead_train_ds = tf.keras.utils.timeseries_dataset_from_array(
        mulvar_train, targets=None, sequence_length=seq_length + 14, batch_size=32,
        shuffle=True, seed=42).map(split_inputs_and_targets)
    xb, yb = next(iter(ahead_train_ds))
    assert xb.shape == (32, seq_length, 5) and yb.shape == (32, 14)
    ahead_model = tf.keras.Sequential([
        tf.keras.layers.SimpleRNN(8, input_shape=[None, 5]),
        tf.keras.layers.Dense(14)
    ])
    ahead_model.compile(loss="mse", optimizer="adam")
    h = ahead_model.fit(ahead_train_ds, epochs=3, verbose=0)
    assert h.history["loss"][-1] < h.history["loss"][0]

    # seq2seq models: SimpleRNN, custom LN cell, LSTM, GRU, Conv1D+GRU, WaveNet
    # the last 150 training days only, to keep the test quick
    seq2seq_train = to_seq2seq_dataset(mulvar_train[-150:], seq_length=seq_length,
                                       shuffle=True, seed=42, batch_size=64)
    seq2seq_valid = to_seq2seq_dataset(mulvar_valid, seq_length=seq_length)
    X, Y = next(iter(seq2seq_valid))
    assert X.shape == (32, seq_length, 5) and Y.shape == (32, seq_length, 14)
    np.testing.assert_allclose(Y.numpy()[0, 0], mulvar_valid[1:15, 1])

    class LNSimpleRNNCell(tf.keras.layers.Layer):
        def __init__(self, units, activation="tanh", **kwargs):
            super().__init__(**kwargs)
            self.state_size = units
            self.output_size = units
            self.simple_rnn_cell = tf.keras.layers.SimpleRNNCell(units, activation=None)
            self.layer_norm = tf.keras.layers.LayerNormalization()
            self.activation = tf.keras.activations.get(activation)

        def call(self, inputs, states):
            outputs, new_states = self.simple_rnn_cell(inputs, states)
            norm_outputs = self.activation(self.layer_norm(outputs))
            return norm_outputs, [norm_outputs]

    tf.random.set_seed(42)
    models = {
        "seq2seq": tf.keras.Sequential([
            tf.keras.layers.SimpleRNN(8, return_sequences=True, input_shape=[None, 5]),
            tf.keras.layers.Dense(14)]),
        "ln": tf.keras.Sequential([
            tf.keras.layers.RNN(LNSimpleRNNCell(8), return_sequences=True,
                                input_shape=[None, 5]),
            tf.keras.layers.Dense(14)]),
        "lstm": tf.keras.Sequential([
            tf.keras.layers.LSTM(8, return_sequences=True, input_shape=[None, 5]),
            tf.keras.layers.Dense(14)]),
        "gru": tf.keras.Sequential([
            tf.keras.layers.GRU(8, return_sequences=True, input_shape=[None, 5]),
            tf.keras.layers.Dense(14)]),
    }
    for name, m in models.items():
        mae, history = fit_and_evaluate(m, seq2seq_train, seq2seq_valid, learning_rate=0.1,
                                        epochs=2)
        assert np.isfinite(mae), name
        assert history.history["loss"][-1] < history.history["loss"][0], name
        y = m.predict(X[:2], verbose=0)
        assert y.shape == (2, seq_length, 14), name
    ln_cell = models["ln"].layers[0].cell
    assert len(ln_cell.trainable_weights) == 5  # kernel, recurrent kernel, bias, gamma, beta

    conv_rnn_model = tf.keras.Sequential([
        tf.keras.layers.Conv1D(filters=8, kernel_size=4, strides=2,
                               activation="relu", input_shape=[None, 5]),
        tf.keras.layers.GRU(8, return_sequences=True),
        tf.keras.layers.Dense(14)
    ])
    longer_train = to_seq2seq_dataset(mulvar_train[-150:], seq_length=2 * seq_length,
                                      shuffle=True, seed=42, batch_size=64)
    longer_valid = to_seq2seq_dataset(mulvar_valid, seq_length=2 * seq_length)
    downsampled_train = longer_train.map(lambda X, Y: (X, Y[:, 3::2]))
    downsampled_valid = longer_valid.map(lambda X, Y: (X, Y[:, 3::2]))
    X2, Y2 = next(iter(downsampled_valid))
    n_win = len(mulvar_valid) - 14 - 2 * seq_length + 1  # windows of 15, then of 56 of those
    assert conv_rnn_model(X2).shape == Y2.shape == (n_win, seq_length - 1, 14)
    mae, history = fit_and_evaluate(conv_rnn_model, downsampled_train, downsampled_valid,
                                    learning_rate=0.1, epochs=2)
    assert np.isfinite(mae)

    wavenet_model = tf.keras.Sequential()
    wavenet_model.add(tf.keras.layers.Input(shape=[None, 5]))
    for rate in (1, 2, 4, 8) * 2:
        wavenet_model.add(tf.keras.layers.Conv1D(
            filters=8, kernel_size=2, padding="causal", activation="relu",
            dilation_rate=rate))
    wavenet_model.add(tf.keras.layers.Conv1D(filters=14, kernel_size=1))
    mae, history = fit_and_evaluate(wavenet_model, longer_train, longer_valid,
                                    learning_rate=0.1, epochs=2)
    assert np.isfinite(mae)
    assert wavenet_model.predict(X2[:2], verbose=0).shape == (2, 2 * seq_length, 14)


def test_causal_dilated_conv1d_matches_numpy():
    """The WaveNet building block: Conv1D(kernel_size=2, padding="causal", dilation_rate=r)
    -> y[t] = x[t - r] @ W0 + x[t] @ W1 + b, with x[<0] = 0."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 11, 3)).astype("float32")
    for rate in (1, 2, 4):
        layer = tf.keras.layers.Conv1D(filters=4, kernel_size=2, padding="causal",
                                       dilation_rate=rate)
        y = layer(x).numpy()
        W, b = layer.get_weights()
        xp = np.concatenate([np.zeros((2, rate, 3), "float32"), x], 1)
        want = xp[:, :-rate] @ W[0] + x @ W[1] + b
        np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-5)


def test_ln_simple_rnn_cell_matches_numpy():
    """The custom LNSimpleRNNCell run by keras.layers.RNN against a NumPy loop."""
    class LNSimpleRNNCell(tf.keras.layers.Layer):
        def __init__(self, units, activation="tanh", **kwargs):
            super().__init__(**kwargs)
            self.state_size = units
            self.output_size = units
            self.simple_rnn_cell = tf.keras.layers.SimpleRNNCell(units, activation=None)
            self.layer_norm = tf.keras.layers.LayerNormalization()
            self.activation = tf.keras.activations.get(activation)

        def call(self, inputs, states):
            outputs, new_states = self.simple_rnn_cell(inputs, states)
            norm_outputs = self.activation(self.layer_norm(outputs))
            return norm_outputs, [norm_outputs]

    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 6, 4)).astype("float32")
    layer = tf.keras.layers.RNN(LNSimpleRNNCell(5), return_sequences=True)
    y = layer(x).numpy()
    cell = layer.cell
    W, U, b = [w.numpy() for w in cell.simple_rnn_cell.weights]
    gamma, beta = [w.numpy() for w in cell.layer_norm.weights]
    h = np.zeros((3, 5))
    outs = []
    for t in range(6):
        z = x[:, t] @ W + h @ U + b
        mu, var = z.mean(-1, keepdims=True), z.var(-1, keepdims=True)
        h = np.tanh((z - mu) / np.sqrt(var + 1e-3) * gamma + beta)
        outs.append(h)
    np.testing.assert_allclose(y, np.stack(outs, 1), rtol=1e-4, atol=1e-5)


def test_fixes_depth_pool_grad_conv_numpy_filters_sequential_conform():
    # depthwise max pooling: the gradient goes to each group's maximum (NumPy reference)
    rng = np.random.default_rng(3)
    x = tf.Variable(rng.standard_normal((1, 2, 3, 6)))
    c = rng.standard_normal((1, 2, 3, 2))
    with tf.GradientTape() as tape:
        y = tf.nn.max_pool(x, ksize=(1, 1, 1, 3), strides=(1, 1, 1, 3), padding="VALID")
        loss = tf.reduce_sum(y * c)
    g = tape.gradient(loss, x).numpy()
    xs = x.numpy().reshape(1, 2, 3, 2, 3)
    want = (xs == xs.max(-1, keepdims=True)) * c[..., None]
    np.testing.assert_allclose(g, want.reshape(1, 2, 3, 6))
    with pytest.raises(ValueError, match=r"max_pool.*divide"):
        tf.nn.max_pool(np.zeros((1, 2, 2, 4), "float32"), (1, 1, 1, 3), (1, 1, 1, 3), "VALID")
    with pytest.raises(ValueError, match=r"max_pool.*strides"):
        tf.nn.max_pool(np.zeros((1, 2, 2, 6), "float32"), (1, 1, 1, 3), (1, 1, 1, 1), "VALID")

    # conv2d with NumPy float64 filters on a float32 input: the filters take float32 (as TF)
    img = rng.random((1, 5, 5, 2)).astype("float32")
    w = rng.random((3, 3, 2, 1))
    out = tf.nn.conv2d(img, w, strides=1, padding="SAME")
    assert out.dtype == tf.float32
    np.testing.assert_allclose(out.numpy(), _conv2d_same_ref(img, w), rtol=1e-5)
    with pytest.raises(TypeError, match="conv2d"):  # two tensors of different dtypes still fail
        tf.nn.conv2d(tf.constant(img), tf.constant(w), strides=1, padding="SAME")

    # a Sequential on Input(shape=(None, 1)) fed a (batch, steps) series: Keras 2 adds the axis
    model = tf.keras.Sequential([tf.keras.layers.SimpleRNN(2, input_shape=[None, 1])])
    series = rng.random((4, 7)).astype("float32")
    np.testing.assert_allclose(model(series).numpy(), model(series[..., None]).numpy())
    W, U, b = model.get_weights()
    h = np.zeros((4, 2))
    for t in range(7):
        h = np.tanh(series[:, t:t + 1] @ W + h @ U + b)
    np.testing.assert_allclose(model.predict(series, verbose=0), h, rtol=1e-5, atol=1e-6)


def test_xception_transfer_model_construction():
    """The book's flowers model on Xception (weights=None: no download), its freezing and
    the unfreezing of base_model.layers[56:], without training (too slow for a unit test)."""
    n_classes = 5
    base_model = tf.keras.applications.xception.Xception(weights=None, include_top=False)
    assert base_model.output_shape == (None, None, None, 2048)
    avg = tf.keras.layers.GlobalAveragePooling2D()(base_model.output)
    output = tf.keras.layers.Dense(n_classes, activation="softmax")(avg)
    model = tf.keras.Model(inputs=base_model.input, outputs=output)
    n_all = len(model.trainable_weights)
    for layer in base_model.layers:
        layer.trainable = False
    assert len(model.trainable_weights) == 2
    for layer in base_model.layers[56:]:
        layer.trainable = True
    n_top = sum(len(la.trainable_weights) for la in base_model.layers[56:])
    assert len(model.trainable_weights) == 2 + n_top
    assert 2 < len(model.trainable_weights) < n_all
    model.compile(loss="sparse_categorical_crossentropy",
                  optimizer=tf.keras.optimizers.SGD(learning_rate=0.01, momentum=0.9),
                  metrics=["accuracy"])
