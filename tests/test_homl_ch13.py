"""Hands-On Machine Learning (3rd ed., Geron), chapter 13 "Loading and Preprocessing Data with
TensorFlow": the notebook's code as it runs with `import nabi as tf` (only the import line
changed), on tiny local data in place of the downloads (a synthetic California-housing-like
table written to CSV files under tmp_path, short strings), fewer epochs and narrower layers.
Values are checked against NumPy / plain Python where that is cheap."""
import gzip
import math

import numpy as np
import pytest

import nabi as tf


# ------------------------------------------------------------------ the tf.data API
def test_dataset_basics_and_chaining():
    X = tf.range(10)
    dataset = tf.data.Dataset.from_tensor_slices(X)
    assert [int(item) for item in dataset] == list(range(10))

    X_nested = {"a": ([1, 2, 3], [4, 5, 6]), "b": [7, 8, 9]}
    dataset = tf.data.Dataset.from_tensor_slices(X_nested)
    items = list(dataset)
    assert len(items) == 3
    assert int(items[1]["a"][0]) == 2 and int(items[1]["a"][1]) == 5
    assert int(items[2]["b"]) == 9

    dataset = tf.data.Dataset.from_tensor_slices(tf.range(10))
    dataset = dataset.repeat(3).batch(7)
    batches = [item.numpy().tolist() for item in dataset]
    flat = list(range(10)) * 3
    assert batches == [flat[i:i + 7] for i in range(0, 30, 7)]

    dataset = dataset.map(lambda x: x * 2)
    assert dataset.element_spec.dtype == tf.int32
    dataset = dataset.filter(lambda x: tf.reduce_sum(x) > 50)
    got = [item.numpy().tolist() for item in dataset.take(2)]
    want = [[2 * v for v in b] for b in [flat[i:i + 7] for i in range(0, 30, 7)]
            if 2 * sum(b) > 50][:2]
    assert got == want

    dataset = tf.data.Dataset.range(10).repeat(2)
    dataset = dataset.shuffle(buffer_size=4, seed=42).batch(7)
    out = [item.numpy() for item in dataset]
    assert [len(b) for b in out] == [7, 7, 6]
    assert sorted(np.concatenate(out).tolist()) == sorted(list(range(10)) * 2)
    again = [item.numpy() for item in tf.data.Dataset.range(10).repeat(2)
             .shuffle(buffer_size=4, seed=42).batch(7)]
    np.testing.assert_array_equal(np.concatenate(out), np.concatenate(again))
    # a buffer of 4 can only move an item up to 3 places earlier
    first = np.concatenate(out)
    for pos, v in enumerate(first[:10]):
        assert pos >= 0 and v <= pos + 3


# ------------------------------------------------------------------ CSV files
N_INPUTS = 8
HEADER = ("MedInc,HouseAge,AveRooms,AveBedrms,Population,AveOccup,Latitude,Longitude,"
          "MedianHouseValue")


def _housing(n=600, seed=0):
    rng = np.random.default_rng(seed)
    X = np.column_stack([rng.uniform(0.5, 15, n), rng.integers(1, 52, n).astype(float),
                         rng.uniform(2, 9, n), rng.uniform(0.8, 1.5, n),
                         rng.integers(100, 3000, n).astype(float), rng.uniform(1.5, 5, n),
                         rng.uniform(32.5, 42, n), rng.uniform(-124, -114, n)])
    y = 0.4 * X[:, 0] + 0.01 * X[:, 1] - 0.05 * (X[:, 6] - 37) + rng.normal(0, 0.1, n)
    return X.round(4), y.round(4)


def save_to_csv_files(data, name_prefix, housing_dir, header=None, n_parts=10):
    # the book's helper, with the folder passed in (tmp_path) instead of ./datasets/housing
    housing_dir.mkdir(parents=True, exist_ok=True)
    filename_format = "my_{}_{:02d}.csv"
    filepaths = []
    m = len(data)
    chunks = np.array_split(np.arange(m), n_parts)
    for file_idx, row_indices in enumerate(chunks):
        part_csv = housing_dir / filename_format.format(name_prefix, file_idx)
        filepaths.append(str(part_csv))
        with open(part_csv, "w") as f:
            if header is not None:
                f.write(header)
                f.write("\n")
            for row_idx in row_indices:
                f.write(",".join([repr(col) for col in data[row_idx]]))
                f.write("\n")
    return filepaths


@pytest.fixture
def housing_files(tmp_path):
    X, y = _housing()
    X_train, y_train = X[:400], y[:400]
    X_valid, y_valid = X[400:500], y[400:500]
    X_test, y_test = X[500:], y[500:]
    # .tolist(): Python floats, whose repr() is the plain number (NumPy 2's is not)
    train_data = np.c_[X_train, y_train].tolist()
    valid_data = np.c_[X_valid, y_valid].tolist()
    test_data = np.c_[X_test, y_test].tolist()
    d = tmp_path / "housing"
    train_filepaths = save_to_csv_files(train_data, "train", d, HEADER, n_parts=10)
    valid_filepaths = save_to_csv_files(valid_data, "valid", d, HEADER, n_parts=4)
    test_filepaths = save_to_csv_files(test_data, "test", d, HEADER, n_parts=4)
    return dict(X_train=X_train, y_train=y_train, X_valid=X_valid, y_valid=y_valid,
                X_test=X_test, y_test=y_test, train=train_filepaths, valid=valid_filepaths,
                test=test_filepaths)


def test_interleave_csv_lines(housing_files):
    train_filepaths = housing_files["train"]
    with open(train_filepaths[0]) as f:
        assert f.readline().strip() == HEADER
    filepath_dataset = tf.data.Dataset.list_files(train_filepaths, seed=42)
    names = [fp.numpy() for fp in filepath_dataset]
    assert sorted(n.decode() for n in names) == sorted(train_filepaths)

    n_readers = 5
    dataset = filepath_dataset.interleave(
        lambda filepath: tf.data.TextLineDataset(filepath).skip(1),
        cycle_length=n_readers)
    lines = [line.numpy() for line in dataset]
    assert len(lines) == 400  # every data line once, no header
    assert all(not ln.startswith(b"MedInc") for ln in lines)
    # interleave takes the first line of 5 different files, then their second lines
    firsts, seconds = set(), set()
    for n in train_filepaths:
        with open(n) as f:
            f.readline()
            firsts.add(f.readline().rstrip("\n").encode())
            seconds.add(f.readline().rstrip("\n").encode())
    assert len(set(lines[:n_readers])) == n_readers
    assert set(lines[:n_readers]) <= firsts
    assert set(lines[n_readers:2 * n_readers]) <= seconds


def _scaler(X):
    return X.mean(axis=0), X.std(axis=0)


def test_decode_csv_and_preprocess(housing_files):
    X_mean, X_std = _scaler(housing_files["X_train"])
    n_inputs = 8

    def parse_csv_line(line):
        defs = [0.] * n_inputs + [tf.constant([], dtype=tf.float32)]
        fields = tf.io.decode_csv(line, record_defaults=defs)
        return tf.stack(fields[:-1]), tf.stack(fields[-1:])

    def preprocess(line):
        x, y = parse_csv_line(line)
        return (x - X_mean) / X_std, y

    line = b'4.2083,44.0,5.3232,0.9171,846.0,2.3370,37.47,-122.2,2.782'
    x, y = preprocess(line)
    vals = np.array([float(v) for v in line.decode().split(",")], dtype=np.float32)
    np.testing.assert_allclose(x.numpy(), (vals[:8] - X_mean) / X_std, rtol=1e-5)
    assert y.shape == (1,) and y.dtype == tf.float32
    np.testing.assert_allclose(y.numpy(), vals[8:], rtol=1e-6)

    # the notebook's decode_csv demos: defaults fill empty fields, a missing required one fails
    record_defaults = [0, np.nan, tf.constant(np.nan, dtype=tf.float64), "Hello",
                       tf.constant([])]
    parsed_fields = tf.io.decode_csv('1,2,3,4,5', record_defaults)
    assert [f.dtype for f in parsed_fields] == [tf.int32, tf.float32, tf.float64, tf.string,
                                                tf.float32]
    assert int(parsed_fields[0]) == 1 and parsed_fields[3].numpy() == b"4"
    parsed_fields = tf.io.decode_csv(',,,,5', record_defaults)
    assert int(parsed_fields[0]) == 0 and np.isnan(parsed_fields[1].numpy())
    assert parsed_fields[3].numpy() == b"Hello" and float(parsed_fields[4]) == 5.0
    with pytest.raises(Exception):
        tf.io.decode_csv(',,,,', record_defaults)
    with pytest.raises(Exception):
        tf.io.decode_csv('1,2,3,4,5,6,7', record_defaults)


def _csv_reader_dataset_factory(X_mean, X_std):
    n_inputs = 8

    def parse_csv_line(line):
        defs = [0.] * n_inputs + [tf.constant([], dtype=tf.float32)]
        fields = tf.io.decode_csv(line, record_defaults=defs)
        return tf.stack(fields[:-1]), tf.stack(fields[-1:])

    def preprocess(line):
        x, y = parse_csv_line(line)
        return (x - X_mean) / X_std, y

    def csv_reader_dataset(filepaths, n_readers=5, n_read_threads=None,
                           n_parse_threads=5, shuffle_buffer_size=10_000, seed=42,
                           batch_size=32):
        dataset = tf.data.Dataset.list_files(filepaths, seed=seed)
        dataset = dataset.interleave(
            lambda filepath: tf.data.TextLineDataset(filepath).skip(1),
            cycle_length=n_readers, num_parallel_calls=n_read_threads)
        dataset = dataset.map(preprocess, num_parallel_calls=n_parse_threads)
        dataset = dataset.shuffle(shuffle_buffer_size, seed=seed)
        return dataset.batch(batch_size).prefetch(1)

    return csv_reader_dataset


def test_csv_reader_dataset_fit(housing_files):
    tf.random.set_seed(42)
    X_train = housing_files["X_train"]
    X_mean, X_std = _scaler(X_train)
    csv_reader_dataset = _csv_reader_dataset_factory(X_mean, X_std)

    example_set = csv_reader_dataset(housing_files["train"], batch_size=3)
    for X_batch, y_batch in example_set.take(2):
        assert X_batch.shape == (3, 8) and y_batch.shape == (3, 1)
        assert X_batch.dtype == tf.float32
        # each row is a standardized training row
        raw = X_batch.numpy() * X_std + X_mean
        d = np.abs(X_train[None, :, :] - raw[:, None, :]).max(axis=2).min(axis=1)
        assert d.max() < 1e-3

    train_set = csv_reader_dataset(housing_files["train"])
    valid_set = csv_reader_dataset(housing_files["valid"])
    test_set = csv_reader_dataset(housing_files["test"])
    model = tf.keras.Sequential([
        tf.keras.layers.Dense(16, activation="relu", kernel_initializer="he_normal",
                              input_shape=X_train.shape[1:]),
        tf.keras.layers.Dense(1),
    ])
    model.compile(loss="mse", optimizer=tf.keras.optimizers.SGD(learning_rate=0.01))
    history = model.fit(train_set, validation_data=valid_set, epochs=5, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < losses[0]
    assert "val_loss" in history.history
    test_mse = model.evaluate(test_set, verbose=0)
    assert np.isfinite(test_mse)
    new_set = test_set.take(3)
    y_pred = model.predict(new_set, verbose=0)
    assert y_pred.shape == (96, 1)

    # the custom training loop over the same dataset, in a tf.function
    optimizer = tf.keras.optimizers.SGD(learning_rate=0.01)
    loss_fn = tf.keras.losses.mean_squared_error

    @tf.function
    def train_one_epoch(model, optimizer, loss_fn, train_set):
        for X_batch, y_batch in train_set:
            with tf.GradientTape() as tape:
                y_pred = model(X_batch)
                main_loss = tf.reduce_mean(loss_fn(y_batch, y_pred))
                loss = tf.add_n([main_loss] + model.losses)
            gradients = tape.gradient(loss, model.trainable_variables)
            optimizer.apply_gradients(zip(gradients, model.trainable_variables))

    before = model.evaluate(train_set, verbose=0)
    for epoch in range(2):
        train_one_epoch(model, optimizer, loss_fn, train_set)
    assert model.evaluate(train_set, verbose=0) < before


# ------------------------------------------------------------------ TFRecord
def test_tfrecord_files(tmp_path):
    path = str(tmp_path / "my_data.tfrecord")
    with tf.io.TFRecordWriter(path) as f:
        f.write(b"This is the first record")
        f.write(b"And this is the second record")
    dataset = tf.data.TFRecordDataset([path])
    assert [item.numpy() for item in dataset] == [b"This is the first record",
                                                   b"And this is the second record"]

    filepaths = [str(tmp_path / "my_test_{}.tfrecord".format(i)) for i in range(5)]
    for i, filepath in enumerate(filepaths):
        with tf.io.TFRecordWriter(filepath) as f:
            for j in range(3):
                f.write("File {} record {}".format(i, j).encode("utf-8"))
    dataset = tf.data.TFRecordDataset(filepaths, num_parallel_reads=3)
    got = [item.numpy() for item in dataset]
    assert sorted(got) == sorted("File {} record {}".format(i, j).encode()
                                 for i in range(5) for j in range(3))

    options = tf.io.TFRecordOptions(compression_type="GZIP")
    cpath = str(tmp_path / "my_compressed.tfrecord")
    with tf.io.TFRecordWriter(cpath, options) as f:
        f.write(b"Compress, compress, compress!")
    with open(cpath, "rb") as f:
        raw = gzip.decompress(f.read())  # a gzip stream holding one TFRecord
    assert raw[12:-4] == b"Compress, compress, compress!"
    assert int.from_bytes(raw[:8], "little") == len(b"Compress, compress, compress!")
    dataset = tf.data.TFRecordDataset([cpath], compression_type="GZIP")
    assert [item.numpy() for item in dataset] == [b"Compress, compress, compress!"]


def test_example_protobuf_and_parsing(tmp_path):
    from nabi.train import BytesList, Int64List
    from nabi.train import Feature, Features, Example

    person_example = Example(
        features=Features(
            feature={
                "name": Feature(bytes_list=BytesList(value=[b"Alice"])),
                "id": Feature(int64_list=Int64List(value=[123])),
                "emails": Feature(bytes_list=BytesList(value=[b"a@b.com", b"c@d.com"]))
            }))
    path = str(tmp_path / "my_contacts.tfrecord")
    with tf.io.TFRecordWriter(path) as f:
        for _ in range(5):
            f.write(person_example.SerializeToString())

    feature_description = {
        "name": tf.io.FixedLenFeature([], tf.string, default_value=""),
        "id": tf.io.FixedLenFeature([], tf.int64, default_value=0),
        "emails": tf.io.VarLenFeature(tf.string),
    }

    def parse(serialized_example):
        return tf.io.parse_single_example(serialized_example, feature_description)

    dataset = tf.data.TFRecordDataset([path]).map(parse)
    n = 0
    for parsed_example in dataset:
        n += 1
        assert parsed_example["name"].numpy() == b"Alice"
        assert int(parsed_example["id"]) == 123 and parsed_example["id"].dtype == tf.int64
    assert n == 5
    dense = tf.sparse.to_dense(parsed_example["emails"], default_value=b"")
    assert dense.numpy().tolist() == [b"a@b.com", b"c@d.com"]
    assert parsed_example["emails"].values.numpy().tolist() == [b"a@b.com", b"c@d.com"]

    def parse(serialized_examples):
        return tf.io.parse_example(serialized_examples, feature_description)

    dataset = tf.data.TFRecordDataset([path]).batch(2).map(parse)
    batches = list(dataset)
    assert [int(b["id"].shape[0]) for b in batches] == [2, 2, 1]
    assert batches[0]["name"].numpy().tolist() == [b"Alice", b"Alice"]
    assert list(batches[0]["emails"].dense_shape.numpy()) == [2, 2]

    # an image inside an Example
    img = np.zeros((20, 30, 3), dtype=np.uint8)
    img[5:15, 10:20] = [200, 30, 60]
    data = tf.io.encode_png(img)
    example_with_image = Example(features=Features(feature={
        "image": Feature(bytes_list=BytesList(value=[data.numpy()]))}))
    serialized_example = example_with_image.SerializeToString()
    feature_description = {"image": tf.io.VarLenFeature(tf.string)}
    example_with_image = tf.io.parse_single_example(serialized_example, feature_description)
    decoded_img = tf.io.decode_image(example_with_image["image"].values[0])
    np.testing.assert_array_equal(decoded_img.numpy(), img)

    # tensors and sparse tensors
    t = tf.constant([[0., 1.], [2., 3.], [4., 5.]])
    s = tf.io.serialize_tensor(t)
    np.testing.assert_array_equal(tf.io.parse_tensor(s, out_type=tf.float32).numpy(),
                                  t.numpy())
    serialized_sparse = tf.io.serialize_sparse(parsed_example["emails"])
    assert serialized_sparse.shape == (3,)
    BytesList(value=serialized_sparse.numpy())
    idx = tf.io.parse_tensor(serialized_sparse[0], out_type=tf.int64)
    vals = tf.io.parse_tensor(serialized_sparse[1], out_type=tf.string)
    shape = tf.io.parse_tensor(serialized_sparse[2], out_type=tf.int64)
    assert idx.numpy().tolist() == [[0], [1]]
    assert vals.numpy().tolist() == [b"a@b.com", b"c@d.com"]
    assert shape.numpy().tolist() == [2]


def _manual_example_bytes():
    """The wire bytes of Example{features{feature{key "x" value{float_list{value: 1.5}}}}},
    written by hand from example.proto (field 1 of each message, length-delimited)."""
    import struct

    def fld(num, payload):
        return bytes([num << 3 | 2, len(payload)]) + payload

    flist = fld(1, struct.pack("<f", 1.5))          # FloatList.value, packed
    feature = fld(2, flist)                          # Feature.float_list
    entry = fld(1, b"x") + fld(2, feature)           # FeatureEntry key, value
    return fld(1, fld(1, entry))                     # Example.features{Features.feature}


def test_example_wire_bytes():
    from nabi.train import Example, Feature, Features, FloatList
    ex = Example(features=Features(feature={"x": Feature(float_list=FloatList(value=[1.5]))}))
    assert ex.SerializeToString() == _manual_example_bytes()
    parsed = tf.io.parse_single_example(_manual_example_bytes(),
                                        {"x": tf.io.FixedLenFeature([], tf.float32)})
    assert float(parsed["x"]) == 1.5


def test_sequence_example():
    from nabi.train import BytesList, Int64List
    from nabi.train import Feature, Features
    from nabi.train import FeatureList, FeatureLists, SequenceExample

    context = Features(feature={
        "author_id": Feature(int64_list=Int64List(value=[123])),
        "title": Feature(bytes_list=BytesList(value=[b"A", b"desert", b"place", b"."])),
        "pub_date": Feature(int64_list=Int64List(value=[1623, 12, 25]))
    })
    content = [["When", "shall", "we", "three", "meet", "again", "?"],
               ["In", "thunder", ",", "lightning", ",", "or", "in", "rain", "?"]]
    comments = [["When", "the", "hurlyburly", "'s", "done", "."],
                ["When", "the", "battle", "'s", "lost", "and", "won", "."]]

    def words_to_feature(words):
        return Feature(bytes_list=BytesList(value=[word.encode("utf-8") for word in words]))

    content_features = [words_to_feature(sentence) for sentence in content]
    comments_features = [words_to_feature(comment) for comment in comments]
    sequence_example = SequenceExample(
        context=context,
        feature_lists=FeatureLists(feature_list={
            "content": FeatureList(feature=content_features),
            "comments": FeatureList(feature=comments_features)
        }))
    serialized_sequence_example = sequence_example.SerializeToString()
    assert SequenceExample.FromString(serialized_sequence_example) == sequence_example
    assert len(sequence_example.feature_lists.feature_list["content"].feature) == 2

    context_feature_descriptions = {
        "author_id": tf.io.FixedLenFeature([], tf.int64, default_value=0),
        "title": tf.io.VarLenFeature(tf.string),
        "pub_date": tf.io.FixedLenFeature([3], tf.int64, default_value=[0, 0, 0]),
    }
    sequence_feature_descriptions = {
        "content": tf.io.VarLenFeature(tf.string),
        "comments": tf.io.VarLenFeature(tf.string),
    }
    parsed_context, parsed_feature_lists = tf.io.parse_single_sequence_example(
        serialized_sequence_example, context_feature_descriptions,
        sequence_feature_descriptions)
    assert int(parsed_context["author_id"]) == 123
    assert parsed_context["pub_date"].numpy().tolist() == [1623, 12, 25]
    assert parsed_context["title"].values.numpy().tolist() == [b"A", b"desert", b"place",
                                                               b"."]
    sp = parsed_feature_lists["content"]
    assert list(sp.dense_shape.numpy()) == [2, 9]
    want_idx = [[i, j] for i, s in enumerate(content) for j in range(len(s))]
    assert sp.indices.numpy().tolist() == want_idx
    parsed_content = tf.RaggedTensor.from_sparse(parsed_feature_lists["content"])
    assert parsed_content.to_list() == [[w.encode() for w in s] for s in content]

    # FixedLenSequenceFeature: one row per step
    seq = SequenceExample(feature_lists=FeatureLists(feature_list={
        "x": FeatureList(feature=[Feature(int64_list=Int64List(value=[i, 10 * i]))
                                  for i in range(4)])}))
    _, seq_out = tf.io.parse_single_sequence_example(
        seq.SerializeToString(),
        sequence_features={"x": tf.io.FixedLenSequenceFeature([2], tf.int64)})
    assert seq_out["x"].numpy().tolist() == [[i, 10 * i] for i in range(4)]


# ------------------------------------------------------------------ preprocessing layers
def test_normalization_layer(housing_files):
    tf.random.set_seed(42)
    X_train, y_train = housing_files["X_train"], housing_files["y_train"]
    X_valid, y_valid = housing_files["X_valid"], housing_files["y_valid"]
    X_test = housing_files["X_test"]
    norm_layer = tf.keras.layers.Normalization()
    model = tf.keras.models.Sequential([
        norm_layer,
        tf.keras.layers.Dense(1)
    ])
    model.compile(loss="mse", optimizer=tf.keras.optimizers.SGD(learning_rate=2e-3))
    norm_layer.adapt(X_train)
    history = model.fit(X_train, y_train, validation_data=(X_valid, y_valid), epochs=5,
                        verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    z = norm_layer(X_train).numpy()
    np.testing.assert_allclose(z, (X_train - X_train.mean(0)) / X_train.std(0), rtol=1e-3,
                               atol=1e-3)

    norm_layer = tf.keras.layers.Normalization()
    norm_layer.adapt(X_train)
    X_train_scaled = norm_layer(X_train)
    X_valid_scaled = norm_layer(X_valid)
    model = tf.keras.models.Sequential([tf.keras.layers.Dense(1)])
    model.compile(loss="mse", optimizer=tf.keras.optimizers.SGD(learning_rate=2e-3))
    model.fit(X_train_scaled, y_train, epochs=2, validation_data=(X_valid_scaled, y_valid),
              verbose=0)
    final_model = tf.keras.Sequential([norm_layer, model])
    X_new = X_test[:3]
    y_pred = final_model(X_new)
    np.testing.assert_allclose(y_pred.numpy(), model(norm_layer(X_new)).numpy(), rtol=1e-5)

    dataset = tf.data.Dataset.from_tensor_slices((X_train, y_train)).batch(5)
    dataset = dataset.map(lambda X, y: (norm_layer(X), y))
    xb, yb = next(iter(dataset))
    np.testing.assert_allclose(xb.numpy(), z[:5], rtol=1e-3, atol=1e-3)

    class MyNormalization(tf.keras.layers.Layer):
        def adapt(self, X):
            self.mean_ = np.mean(X, axis=0, keepdims=True)
            self.std_ = np.std(X, axis=0, keepdims=True)

        def call(self, inputs):
            eps = tf.keras.backend.epsilon()
            return (inputs - self.mean_) / (self.std_ + eps)

    my_norm_layer = MyNormalization()
    my_norm_layer.adapt(X_train)
    np.testing.assert_allclose(my_norm_layer(X_train).numpy(), z, rtol=1e-3, atol=1e-3)


def test_discretization_and_category_encoding():
    age = tf.constant([[10.], [93.], [57.], [18.], [37.], [5.]])
    discretize_layer = tf.keras.layers.Discretization(bin_boundaries=[18., 50.])
    age_categories = discretize_layer(age)
    assert age_categories.numpy().tolist() == [[0], [2], [2], [1], [1], [0]]
    discretize_layer = tf.keras.layers.Discretization(num_bins=3)
    discretize_layer.adapt(age)
    age_categories = discretize_layer(age)
    assert age_categories.numpy().tolist() == [[1], [2], [2], [1], [2], [0]]

    onehot_layer = tf.keras.layers.CategoryEncoding(num_tokens=3)
    np.testing.assert_array_equal(onehot_layer(age_categories).numpy(),
                                  np.eye(3)[[1, 2, 2, 1, 2, 0]])
    two_age_categories = np.array([[1, 0], [2, 2], [2, 0]])
    np.testing.assert_array_equal(onehot_layer(two_age_categories).numpy(),
                                  [[1, 1, 0], [0, 0, 1], [1, 0, 1]])
    onehot_layer = tf.keras.layers.CategoryEncoding(num_tokens=3, output_mode="count")
    np.testing.assert_array_equal(onehot_layer(two_age_categories).numpy(),
                                  [[1, 1, 0], [0, 0, 2], [1, 0, 1]])
    onehot_layer = tf.keras.layers.CategoryEncoding(num_tokens=3 + 3)
    np.testing.assert_array_equal(onehot_layer(two_age_categories + [0, 3]).numpy(),
                                  [[0, 1, 0, 1, 0, 0], [0, 0, 1, 0, 0, 1],
                                   [0, 0, 1, 1, 0, 0]])
    onehot_layer = tf.keras.layers.CategoryEncoding(num_tokens=3, output_mode="one_hot")
    out = tf.keras.layers.concatenate([onehot_layer(cat)
                                       for cat in tf.transpose(two_age_categories)])
    np.testing.assert_array_equal(out.numpy(), np.hstack([np.eye(3)[[1, 2, 2]],
                                                          np.eye(3)[[0, 2, 0]]]))


def test_string_and_integer_lookup_hashing_embedding():
    cities = ["Auckland", "Paris", "Paris", "San Francisco"]
    str_lookup_layer = tf.keras.layers.StringLookup()
    str_lookup_layer.adapt(cities)
    out = str_lookup_layer([["Paris"], ["Auckland"], ["Auckland"], ["Montreal"]])
    assert out.numpy().tolist() == [[1], [3], [3], [0]]
    str_lookup_layer = tf.keras.layers.StringLookup(output_mode="one_hot")
    str_lookup_layer.adapt(cities)
    out = str_lookup_layer([["Paris"], ["Auckland"], ["Auckland"], ["Montreal"]])
    np.testing.assert_array_equal(out.numpy(), np.eye(4)[[1, 3, 3, 0]])
    str_lookup_layer = tf.keras.layers.StringLookup(num_oov_indices=5)
    str_lookup_layer.adapt(cities)
    out = str_lookup_layer([["Paris"], ["Auckland"], ["Foo"], ["Bar"], ["Baz"]]).numpy()
    # OOV words hash (FarmHash Fingerprint64) into the 5 OOV buckets; the book's output
    assert out.tolist() == [[5], [7], [4], [3], [4]]

    ids = tf.keras.layers.IntegerLookup()
    ids.adapt(np.array([7, 7, 7, 3, 3, 9]))
    assert ids.get_vocabulary() == [-1, 7, 3, 9]
    assert ids(np.array([[3], [9], [4]])).numpy().tolist() == [[2], [3], [0]]

    hashing_layer = tf.keras.layers.Hashing(num_bins=10)
    h = hashing_layer([["Paris"], ["Tokyo"], ["Auckland"], ["Montreal"]]).numpy()
    assert h.tolist() == [[0], [1], [9], [1]]  # the book's output
    np.testing.assert_array_equal(hashing_layer([["Paris"]]).numpy(), h[:1])

    tf.random.set_seed(42)
    embedding_layer = tf.keras.layers.Embedding(input_dim=5, output_dim=2)
    e = embedding_layer(np.array([2, 4, 2]))
    W = embedding_layer.get_weights()[0]
    np.testing.assert_array_equal(e.numpy(), W[[2, 4, 2]])

    ocean_prox = ["<1H OCEAN", "INLAND", "NEAR OCEAN", "NEAR BAY", "ISLAND"]
    str_lookup_layer = tf.keras.layers.StringLookup()
    str_lookup_layer.adapt(ocean_prox)
    lookup_and_embed = tf.keras.Sequential([
        tf.keras.layers.InputLayer(input_shape=[], dtype=tf.string),
        str_lookup_layer,
        tf.keras.layers.Embedding(input_dim=str_lookup_layer.vocabulary_size(),
                                  output_dim=2)
    ])
    out = lookup_and_embed(np.array(["<1H OCEAN", "ISLAND", "<1H OCEAN"]))
    assert out.shape == (3, 2)
    np.testing.assert_array_equal(out.numpy()[0], out.numpy()[2])

    # a model with a numerical and a categorical input
    rng = np.random.default_rng(0)
    X_train_num = rng.random((64, 8)).astype("float32")
    X_train_cat = rng.choice(ocean_prox, size=64)
    y_train = rng.random((64, 1)).astype("float32")
    X_valid_num = rng.random((16, 8)).astype("float32")
    X_valid_cat = rng.choice(ocean_prox, size=16)
    y_valid = rng.random((16, 1)).astype("float32")
    num_input = tf.keras.layers.Input(shape=[8], name="num")
    cat_input = tf.keras.layers.Input(shape=[], dtype=tf.string, name="cat")
    cat_embeddings = lookup_and_embed(cat_input)
    encoded_inputs = tf.keras.layers.concatenate([num_input, cat_embeddings])
    outputs = tf.keras.layers.Dense(1)(encoded_inputs)
    model = tf.keras.models.Model(inputs=[num_input, cat_input], outputs=[outputs])
    model.compile(loss="mse", optimizer="sgd")
    history = model.fit((X_train_num, X_train_cat), y_train, epochs=3, verbose=0,
                        validation_data=((X_valid_num, X_valid_cat), y_valid))
    assert len(history.history["val_loss"]) == 3
    train_set = tf.data.Dataset.from_tensor_slices(
        ({"num": X_train_num, "cat": X_train_cat}, y_train)).batch(32)
    history = model.fit(train_set, epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"][-1])


def test_text_vectorization():
    train_data = ["To be", "!(to be)", "That's the question", "Be, be, be."]
    text_vec_layer = tf.keras.layers.TextVectorization()
    text_vec_layer.adapt(train_data)
    assert text_vec_layer.get_vocabulary()[:4] == ["", "[UNK]", "be", "to"]
    out = text_vec_layer(["Be good!", "Question: be or be?"])
    assert out.numpy().tolist() == [[2, 1, 0, 0], [6, 2, 1, 2]]

    text_vec_layer = tf.keras.layers.TextVectorization(output_mode="tf_idf")
    text_vec_layer.adapt(train_data)
    out = text_vec_layer(["Be good!", "Question: be or be?"]).numpy()
    # idf = log(1 + n_docs / (1 + doc_freq)); [UNK] takes the mean idf of the vocabulary
    n = 4
    df = {"be": 3, "to": 2, "the": 1, "thats": 1, "question": 1}
    idf = {w: math.log(1 + n / (1 + c)) for w, c in df.items()}
    unk = np.mean(list(idf.values()))
    vocab = text_vec_layer.get_vocabulary()
    assert vocab[:3] == ["[UNK]", "be", "to"] and len(vocab) == 6
    want = np.zeros((2, 6))
    want[0, 0], want[0, 1] = unk, idf["be"]
    want[1, 0], want[1, 1], want[1, vocab.index("question")] = unk, 2 * idf["be"], \
        idf["question"]
    np.testing.assert_allclose(out, want, rtol=1e-5)


def test_image_preprocessing_layers():
    rng = np.random.default_rng(0)
    sample_images = rng.integers(0, 256, (2, 60, 80, 3)).astype(np.uint8)
    crop_image_layer = tf.keras.layers.CenterCrop(height=40, width=40)
    cropped_images = crop_image_layer(sample_images)
    assert cropped_images.shape == (2, 40, 40, 3)
    np.testing.assert_allclose(cropped_images.numpy(), sample_images[:, 10:50, 20:60])

    rescale = tf.keras.layers.Rescaling(scale=1 / 255)
    np.testing.assert_allclose(rescale(sample_images).numpy(), sample_images / 255,
                               rtol=1e-6)
    resize = tf.keras.layers.Resizing(height=30, width=40)
    r = resize(sample_images.astype("float32"))
    assert r.shape == (2, 30, 40, 3) and r.dtype == tf.float32
    # exactly halving with bilinear (half-pixel centres) averages each 2x2 block
    np.testing.assert_allclose(
        r.numpy(), sample_images.astype(np.float64).reshape(2, 30, 2, 40, 2, 3).mean((2, 4)),
        rtol=1e-5)

    model = tf.keras.Sequential([
        tf.keras.layers.Input(shape=(60, 80, 3)),
        tf.keras.layers.CenterCrop(height=40, width=40),
        tf.keras.layers.Rescaling(scale=1 / 255),
        tf.keras.layers.Resizing(height=20, width=20),
        tf.keras.layers.Flatten(),
        tf.keras.layers.Dense(2),
    ])
    assert model(sample_images).shape == (2, 2)


def test_sequence_example_wire_bytes():
    """SequenceExample bytes against ones written by hand from example.proto / feature.proto:
    context = 1 (Features), feature_lists = 2 (FeatureLists: map entries key 1, value 2;
    FeatureList: repeated Feature = 1)."""
    from nabi.train import (Feature, FeatureList, FeatureLists, Features, Int64List,
                            SequenceExample)

    def fld(num, payload):
        return bytes([num << 3 | 2, len(payload)]) + payload

    def int_feature(*vals):  # Feature.int64_list (3) {packed values (1)}
        return fld(3, fld(1, bytes(vals)))  # small ints: one varint byte each

    context = fld(1, fld(1, b"id") + fld(2, int_feature(7)))
    steps = fld(1, int_feature(1, 2)) + fld(1, int_feature(3, 4)) + fld(1, int_feature(5, 6))
    lists = fld(1, fld(1, b"x") + fld(2, steps))
    want = fld(1, context) + fld(2, lists)
    ex = SequenceExample(
        context=Features(feature={"id": Feature(int64_list=Int64List(value=[7]))}),
        feature_lists=FeatureLists(feature_list={"x": FeatureList(feature=[
            Feature(int64_list=Int64List(value=[2 * t + 1, 2 * t + 2])) for t in range(3)])}))
    assert ex.SerializeToString() == want
    back = SequenceExample.FromString(want)
    assert [f.int64_list.value for f in back.feature_lists.feature_list["x"].feature] == \
        [[1, 2], [3, 4], [5, 6]]
    ctx, seq = tf.io.parse_single_sequence_example(
        want, {"id": tf.io.FixedLenFeature([], tf.int64)},
        {"x": tf.io.FixedLenSequenceFeature([2], tf.int64),
         "y": tf.io.VarLenFeature(tf.float32)})
    assert int(ctx["id"]) == 7
    np.testing.assert_array_equal(seq["x"].numpy(), [[1, 2], [3, 4], [5, 6]])
    assert list(seq["y"].dense_shape.numpy()) == [0, 0]  # a missing VarLen list is empty
    with pytest.raises(TypeError, match="parse_single_sequence_example"):
        tf.io.parse_single_sequence_example(want, sequence_features={
            "x": tf.io.FixedLenFeature([2], tf.int64)})
    with pytest.raises(tf.errors.InvalidArgumentError, match="x"):
        tf.io.parse_single_sequence_example(want, sequence_features={
            "x": tf.io.FixedLenSequenceFeature([3], tf.int64)})
    with pytest.raises(tf.errors.InvalidArgumentError, match="z"):
        tf.io.parse_single_sequence_example(want, sequence_features={
            "z": tf.io.FixedLenSequenceFeature([2], tf.int64)})


def test_string_element_keeps_trailing_nul_bytes():
    # indexing a string tensor once went through a NumPy 'S' array, which drops trailing NULs
    # (serialize_sparse's parts end in the zero bytes of int64 values)
    t = tf.constant(np.array([b"ab\x00\x00", b"\x00"], dtype=object))
    assert t[0].numpy() == b"ab\x00\x00" and t[1].numpy() == b"\x00"
    assert t[0].dtype == tf.string and t[0].shape == ()
    assert tf.io.decode_csv(b"1,2.5", [0, 0.])[1].numpy() == np.float32(2.5)  # scalar bytes
