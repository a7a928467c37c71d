"""The code paths of the TF 2.x text and sequence tutorials, run on nabi with `import nabi as
tf` and tiny synthetic data in place of the downloads: basic text classification, text
classification with an RNN, text generation with an RNN, time series forecasting, neural
machine translation with attention, the Transformer and word2vec.

Each test keeps the tutorial's own calls (shortened sizes, 1-3 epochs) and asserts something
checkable: shapes, the loss going down on learnable data, padding invariance, or values
against NumPy. Steps of a tutorial that nabi cannot run are left out with a comment."""
import os
import re
import string

import numpy as np
import pytest

import nabi as tf
from nabi import keras
from nabi.keras import layers, losses

from helpers import assert_array


# ----------------------------------------------------------------- basic text classification


def _write_reviews(root, n_per_class, rng):
    pos, neg = ["good", "great", "fine", "love"], ["bad", "awful", "hate", "poor"]
    filler = ["the", "movie", "was", "a", "film", "plot"]
    for split in ("train", "test"):
        for lab, words in (("neg", neg), ("pos", pos)):
            d = os.path.join(root, split, lab)
            os.makedirs(d)
            for i in range(n_per_class):
                w = list(rng.choice(filler, 5)) + list(rng.choice(words, 2))
                rng.shuffle(w)
                with open(os.path.join(d, f"{i}.txt"), "w") as f:
                    f.write(" ".join(w).capitalize() + "<br />!")


def test_basic_text_classification(tmp_path):
    _write_reviews(str(tmp_path), 24, np.random.default_rng(0))
    batch_size, seed = 8, 42
    raw_train_ds = tf.keras.utils.text_dataset_from_directory(
        str(tmp_path / "train"), batch_size=batch_size, validation_split=0.25,
        subset='training', seed=seed)
    raw_val_ds = tf.keras.utils.text_dataset_from_directory(
        str(tmp_path / "train"), batch_size=batch_size, validation_split=0.25,
        subset='validation', seed=seed)
    raw_test_ds = tf.keras.utils.text_dataset_from_directory(
        str(tmp_path / "test"), batch_size=batch_size)
    assert raw_train_ds.class_names == ['neg', 'pos']
    for text_batch, label_batch in raw_train_ds.take(1):
        assert isinstance(text_batch.numpy()[0], bytes)
        assert label_batch.numpy()[0] in (0, 1)

    def custom_standardization(input_data):
        lowercase = tf.strings.lower(input_data)
        stripped_html = tf.strings.regex_replace(lowercase, '<br />', ' ')
        return tf.strings.regex_replace(stripped_html,
                                        '[%s]' % re.escape(string.punctuation), '')

    max_features, sequence_length = 50, 10
    vectorize_layer = layers.TextVectorization(
        standardize=custom_standardization, max_tokens=max_features, output_mode='int',
        output_sequence_length=sequence_length)
    train_text = raw_train_ds.map(lambda x, y: x)
    vectorize_layer.adapt(train_text)
    vocab = vectorize_layer.get_vocabulary()
    assert vocab[:2] == ['', '[UNK]'] and 'br' not in vocab and 'movie' in vocab

    def vectorize_text(text, label):
        text = tf.expand_dims(text, -1)
        return vectorize_layer(text), label

    text_batch, label_batch = next(iter(raw_train_ds))
    first_review, first_label = text_batch[0], label_batch[0]
    vec, lab = vectorize_text(first_review, first_label)
    assert tuple(vec.shape) == (1, sequence_length)
    words = custom_standardization(first_review).numpy().decode().split()
    expected = [vocab.index(w) for w in words] + [0] * (sequence_length - len(words))
    assert vec.numpy()[0].tolist() == expected

    AUTOTUNE = tf.data.AUTOTUNE
    train_ds = raw_train_ds.map(vectorize_text).cache().prefetch(buffer_size=AUTOTUNE)
    val_ds = raw_val_ds.map(vectorize_text).cache().prefetch(buffer_size=AUTOTUNE)
    test_ds = raw_test_ds.map(vectorize_text).cache().prefetch(buffer_size=AUTOTUNE)

    embedding_dim = 16
    model = tf.keras.Sequential([
        layers.Embedding(max_features + 1, embedding_dim),
        layers.Dropout(0.2),
        layers.GlobalAveragePooling1D(),
        layers.Dropout(0.2),
        layers.Dense(1)])
    model.summary(print_fn=lambda *a, **k: None)   # built at once, as in Keras 2
    model.compile(loss=losses.BinaryCrossentropy(from_logits=True),
                  optimizer=tf.keras.optimizers.Adam(0.05),
                  metrics=tf.metrics.BinaryAccuracy(threshold=0.0))
    history = model.fit(train_ds, validation_data=val_ds, epochs=6, verbose=0)
    h = history.history
    assert set(h) == {'loss', 'binary_accuracy', 'val_loss', 'val_binary_accuracy'}
    assert h['loss'][-1] < h['loss'][0]
    loss, accuracy = model.evaluate(test_ds, verbose=0)
    assert accuracy >= 0.9

    export_model = tf.keras.Sequential([vectorize_layer, model, layers.Activation('sigmoid')])
    export_model.compile(loss=losses.BinaryCrossentropy(from_logits=False), optimizer="adam",
                         metrics=['accuracy'])
    metrics = export_model.evaluate(raw_test_ds, return_dict=True, verbose=0)
    assert abs(metrics['accuracy'] - accuracy) < 1e-6
    examples = tf.constant(["The movie was great!", "The movie was okay.",
                            "The movie was awful..."])
    p = export_model.predict(examples, verbose=0)
    assert p.shape == (3, 1) and np.all((p > 0) & (p < 1))
    assert p[0, 0] > 0.5 > p[2, 0]
    # the same as the logits model on the vectorized strings, through a sigmoid
    logits = model.predict(vectorize_layer(tf.expand_dims(examples, -1)), verbose=0)
    assert_array(p, 1 / (1 + np.exp(-logits)), rtol=1e-5)


def test_embedding_first_in_sequential_is_built():
    # Keras 2: Embedding without input_length has input_shape (None,), so the model is built
    model = tf.keras.Sequential([layers.Embedding(10, 4), layers.GlobalAveragePooling1D()])
    assert model.built and model.input_shape == (None, None)
    assert model.output_shape == (None, 4)
    ids = np.array([[1, 2, 3], [4, 0, 9]])
    w = model.layers[0].get_weights()[0]
    assert_array(model(ids), w[ids].mean(axis=1))
    assert tf.keras.Sequential([layers.Embedding(10, 4, input_length=3)]).input_shape == \
        (None, 3)


# ----------------------------------------------------------------- text classification (RNN)


def _sentiment_texts(n, rng):
    pos, neg, filler = ["good", "great"], ["bad", "awful"], ["the", "movie", "was", "a"]
    texts, labels = [], []
    for i in range(n):
        lab = i % 2
        w = list(rng.choice(filler, int(rng.integers(2, 6))))
        w.append(rng.choice(pos if lab else neg))
        rng.shuffle(w)
        texts.append(" ".join(w))
        labels.append(lab)
    return texts, np.array(labels)


def test_text_classification_rnn():
    tf.random.set_seed(0)
    texts, labels = _sentiment_texts(64, np.random.default_rng(1))
    BUFFER_SIZE, BATCH_SIZE = 100, 16
    train_dataset = tf.data.Dataset.from_tensor_slices((texts, labels))
    train_dataset = train_dataset.shuffle(BUFFER_SIZE).batch(BATCH_SIZE).prefetch(
        tf.data.AUTOTUNE)
    VOCAB_SIZE = 20
    encoder = tf.keras.layers.TextVectorization(max_tokens=VOCAB_SIZE)
    encoder.adapt(train_dataset.map(lambda text, label: text))
    vocab = np.array(encoder.get_vocabulary())
    assert len(vocab) == 10 and list(vocab[:2]) == ['', '[UNK]']
    for example, label in train_dataset.take(1):
        encoded_example = encoder(example)[:3].numpy()
        for n in range(3):
            assert " ".join(vocab[encoded_example[n]]).strip() == example[n].numpy().decode()

    model = tf.keras.Sequential([
        encoder,
        tf.keras.layers.Embedding(input_dim=len(encoder.get_vocabulary()), output_dim=8,
                                  mask_zero=True),
        tf.keras.layers.Bidirectional(tf.keras.layers.LSTM(8)),
        tf.keras.layers.Dense(8, activation='relu'),
        tf.keras.layers.Dense(1)
    ])
    assert [layer.supports_masking for layer in model.layers] == [False, True, True, True, True]
    sample_text = ('The movie was cool. The animation and the graphics were out of this '
                   'world. I would recommend this movie.')
    predictions = model.predict(np.array([sample_text]), verbose=0)
    padding = "the " * 200
    predictions2 = model.predict(np.array([sample_text, padding]), verbose=0)
    assert predictions.shape == (1, 1)
    assert_array(predictions2[0], predictions[0], rtol=1e-5, atol=1e-6)   # masks padding

    model = tf.keras.Sequential([
        encoder,
        tf.keras.layers.Embedding(len(encoder.get_vocabulary()), 8, mask_zero=True),
        tf.keras.layers.Bidirectional(tf.keras.layers.LSTM(8, return_sequences=True)),
        tf.keras.layers.Bidirectional(tf.keras.layers.LSTM(4)),
        tf.keras.layers.Dense(8, activation='relu'),
        tf.keras.layers.Dropout(0.5),
        tf.keras.layers.Dense(1)
    ])
    model.compile(loss=tf.keras.losses.BinaryCrossentropy(from_logits=True),
                  optimizer=tf.keras.optimizers.Adam(1e-2), metrics=['accuracy'])
    before = model.evaluate(train_dataset, verbose=0)[0]
    model.fit(train_dataset, epochs=3, validation_data=train_dataset, validation_steps=2,
              verbose=0)
    after = model.evaluate(train_dataset, verbose=0)[0]
    assert after < before
    a = model.predict(np.array(['the movie was good']), verbose=0)
    b = model.predict(np.array(['the movie was good', "the " * 30]), verbose=0)
    assert_array(b[:1], a, rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------- text generation (RNN)


def test_string_lookup_ragged_and_reduce_join():
    chars = tf.strings.unicode_split(['abx', 'ca'], input_encoding='UTF-8')
    ids_from_chars = tf.keras.layers.StringLookup(vocabulary=list('abc'), mask_token=None)
    ids = ids_from_chars(chars)
    assert isinstance(ids, tf.RaggedTensor)
    assert ids.to_list() == [[1, 2, 0], [3, 1]]
    chars_from_ids = tf.keras.layers.StringLookup(
        vocabulary=ids_from_chars.get_vocabulary(), invert=True, mask_token=None)
    back = chars_from_ids(ids)
    assert back.to_list() == [[b'a', b'b', b'[UNK]'], [b'c', b'a']]
    joined = tf.strings.reduce_join(back, axis=-1)
    assert joined.numpy().tolist() == [b'ab[UNK]', b'ca']
    assert tf.strings.reduce_join(back, axis=-1, keepdims=True).shape == (2, 1)
    # a scalar string from indexing is bytes in .numpy(), as in TF
    assert chars_from_ids(tf.constant(2)).numpy() == b'b'
    assert joined[1].numpy().decode('utf-8') == 'ca'


def test_text_generation_rnn():
    tf.random.set_seed(0)
    text = "hello world. " * 30
    vocab = sorted(set(text))
    ids_from_chars = tf.keras.layers.StringLookup(vocabulary=list(vocab), mask_token=None)
    chars_from_ids = tf.keras.layers.StringLookup(
        vocabulary=ids_from_chars.get_vocabulary(), invert=True, mask_token=None)

    def text_from_ids(ids):
        return tf.strings.reduce_join(chars_from_ids(ids), axis=-1)

    all_ids = ids_from_chars(tf.strings.unicode_split(text, 'UTF-8'))
    ids_dataset = tf.data.Dataset.from_tensor_slices(all_ids)
    assert "".join(chars_from_ids(i).numpy().decode('utf-8')
                   for i in ids_dataset.take(5)) == "hello"
    seq_length = 12
    sequences = ids_dataset.batch(seq_length + 1, drop_remainder=True)
    for seq in sequences.take(1):
        assert text_from_ids(seq).numpy() == b"hello world. "

    def split_input_target(sequence):
        input_text = sequence[:-1]
        target_text = sequence[1:]
        return input_text, target_text

    assert split_input_target(list("Tensorflow"))[1] == list("ensorflow")
    dataset = sequences.map(split_input_target)
    for input_example, target_example in dataset.take(1):
        assert text_from_ids(input_example).numpy() == b"hello world."
        assert text_from_ids(target_example).numpy() == b"ello world. "
    BATCH_SIZE, BUFFER_SIZE = 6, 100
    dataset = (dataset.shuffle(BUFFER_SIZE).batch(BATCH_SIZE, drop_remainder=True)
               .prefetch(tf.data.experimental.AUTOTUNE))
    vocab_size = len(ids_from_chars.get_vocabulary())
    embedding_dim, rnn_units = 8, 32

    class MyModel(tf.keras.Model):
        def __init__(self, vocab_size, embedding_dim, rnn_units):
            super().__init__(self)
            self.embedding = tf.keras.layers.Embedding(vocab_size, embedding_dim)
            self.gru = tf.keras.layers.GRU(rnn_units, return_sequences=True,
                                           return_state=True)
            self.dense = tf.keras.layers.Dense(vocab_size)

        def call(self, inputs, states=None, return_state=False, training=False):
            x = inputs
            x = self.embedding(x, training=training)
            if states is None:
                states = self.gru.get_initial_state(x)
            x, states = self.gru(x, initial_state=states, training=training)
            x = self.dense(x, training=training)
            if return_state:
                return x, states
            else:
                return x

    model = MyModel(vocab_size=vocab_size, embedding_dim=embedding_dim, rnn_units=rnn_units)
    for input_example_batch, target_example_batch in dataset.take(1):
        example_batch_predictions = model(input_example_batch)
    assert tuple(example_batch_predictions.shape) == (BATCH_SIZE, seq_length, vocab_size)
    sampled_indices = tf.random.categorical(example_batch_predictions[0], num_samples=1)
    sampled_indices = tf.squeeze(sampled_indices, axis=-1).numpy()
    assert sampled_indices.shape == (seq_length,)
    assert np.all((sampled_indices >= 0) & (sampled_indices < vocab_size))
    loss = tf.losses.SparseCategoricalCrossentropy(from_logits=True)
    example_batch_mean_loss = loss(target_example_batch, example_batch_predictions)
    # untrained: about log(vocab_size)
    assert abs(float(tf.exp(example_batch_mean_loss).numpy()) - vocab_size) < 2.0
    model.compile(optimizer=tf.keras.optimizers.Adam(0.02), loss=loss)
    history = model.fit(dataset, epochs=15, verbose=0)
    assert history.history['loss'][-1] < 0.5 * history.history['loss'][0]

    class OneStep(tf.keras.Model):
        def __init__(self, model, chars_from_ids, ids_from_chars, temperature=1.0):
            super().__init__()
            self.temperature = temperature
            self.model = model
            self.chars_from_ids = chars_from_ids
            self.ids_from_chars = ids_from_chars
            skip_ids = self.ids_from_chars(['[UNK]'])[:, None]
            sparse_mask = tf.SparseTensor(
                values=[-float('inf')] * len(skip_ids),
                indices=skip_ids,
                dense_shape=[len(ids_from_chars.get_vocabulary())])
            self.prediction_mask = tf.sparse.to_dense(sparse_mask)

        @tf.function
        def generate_one_step(self, inputs, states=None):
            input_chars = tf.strings.unicode_split(inputs, 'UTF-8')
            input_ids = self.ids_from_chars(input_chars).to_tensor()
            predicted_logits, states = self.model(inputs=input_ids, states=states,
                                                  return_state=True)
            predicted_logits = predicted_logits[:, -1, :]
            predicted_logits = predicted_logits / self.temperature
            predicted_logits = predicted_logits + self.prediction_mask
            predicted_ids = tf.random.categorical(predicted_logits, num_samples=1)
            predicted_ids = tf.squeeze(predicted_ids, axis=-1)
            predicted_chars = self.chars_from_ids(predicted_ids)
            return predicted_chars, states

    one_step_model = OneStep(model, chars_from_ids, ids_from_chars, temperature=0.1)
    mask = one_step_model.prediction_mask.numpy()
    assert mask.shape == (vocab_size,) and mask[0] == -np.inf and np.all(mask[1:] == 0)
    states = None
    next_char = tf.constant(['hello', 'hello world'])
    result = [next_char]
    for n in range(13):
        next_char, states = one_step_model.generate_one_step(next_char, states=states)
        result.append(next_char)
    result = tf.strings.join(result)
    assert result.shape == (2,)
    out = result[0].numpy().decode('utf-8')
    assert len(out) == 5 + 13 and b'[UNK]' not in result[1].numpy()
    assert set(out) <= set(vocab)
    # the trained model predicts the next characters of the repeated text
    logits = model(input_example_batch).numpy()
    assert np.mean(logits.argmax(-1) == target_example_batch.numpy()) > 0.8
    # feeding a sequence in two parts with the returned states gives the same logits
    x = input_example_batch
    first, st = model(x[:, :5], return_state=True)
    second, _ = model(x[:, 5:], states=st, return_state=True)
    assert_array(tf.concat([first, second], axis=1), logits, rtol=1e-4, atol=1e-5)
    # tf.saved_model.save(one_step_model, ...) / tf.saved_model.load(...) of the tutorial is
    # checked in tests/test_saved_model_subclassed.py (module-level classes, as loading needs).


# ----------------------------------------------------------------- time series forecasting


class _Frame:
    """The few pandas.DataFrame features the tutorial's WindowGenerator uses (pandas is not a
    dependency): columns, row slices, mean/std, broadcasting arithmetic, np.array(df)."""

    def __init__(self, values, columns):
        self.values, self.columns = np.asarray(values), list(columns)

    shape = property(lambda self: self.values.shape)

    def __len__(self):
        return len(self.values)

    def __getitem__(self, s):
        return _Frame(self.values[s], self.columns)

    def mean(self):
        return self.values.mean(0)

    def std(self):
        return self.values.std(0, ddof=1)

    def __sub__(self, o):
        return _Frame(self.values - o, self.columns)

    def __truediv__(self, o):
        return _Frame(self.values / o, self.columns)

    def __array__(self, dtype=None, copy=None):
        return self.values if dtype is None else self.values.astype(dtype)


def _make_window_generator(train_df, val_df, test_df):
    class WindowGenerator():
        def __init__(self, input_width, label_width, shift, train_df=train_df, val_df=val_df,
                     test_df=test_df, label_columns=None):
            self.train_df, self.val_df, self.test_df = train_df, val_df, test_df
            self.label_columns = label_columns
            if label_columns is not None:
                self.label_columns_indices = {name: i for i, name in enumerate(label_columns)}
            self.column_indices = {name: i for i, name in enumerate(train_df.columns)}
            self.input_width, self.label_width, self.shift = input_width, label_width, shift
            self.total_window_size = input_width + shift
            self.input_slice = slice(0, input_width)
            self.input_indices = np.arange(self.total_window_size)[self.input_slice]
            self.label_start = self.total_window_size - self.label_width
            self.labels_slice = slice(self.label_start, None)
            self.label_indices = np.arange(self.total_window_size)[self.labels_slice]

        def split_window(self, features):
            inputs = features[:, self.input_slice, :]
            labels = features[:, self.labels_slice, :]
            if self.label_columns is not None:
                labels = tf.stack([labels[:, :, self.column_indices[name]]
                                   for name in self.label_columns], axis=-1)
            inputs.set_shape([None, self.input_width, None])
            labels.set_shape([None, self.label_width, None])
            return inputs, labels

        def make_dataset(self, data):
            data = np.array(data, dtype=np.float32)
            ds = tf.keras.utils.timeseries_dataset_from_array(
                data=data, targets=None, sequence_length=self.total_window_size,
                sequence_stride=1, shuffle=True, batch_size=32,)
            ds = ds.map(self.split_window)
            return ds

        @property
        def train(self):
            return self.make_dataset(self.train_df)

        @property
        def val(self):
            return self.make_dataset(self.val_df)

        @property
        def test(self):
            return self.make_dataset(self.test_df)

        @property
        def example(self):
            result = getattr(self, '_example', None)
            if result is None:
                result = next(iter(self.train))
                self._example = result
            return result

    return WindowGenerator


def test_time_series_forecasting():
    tf.random.set_seed(0)
    t = np.arange(300)
    values = np.stack([np.sin(t * 2 * np.pi / 24), 0.5 * np.cos(t * 2 * np.pi / 24),
                       0.1 * np.sin(t / 7.0)], -1).astype(np.float32)
    df = _Frame(values, ['T', 'p', 'w'])
    column_indices = {name: i for i, name in enumerate(df.columns)}
    n = len(df)
    train_df, val_df, test_df = df[0:int(n * 0.7)], df[int(n * 0.7):int(n * 0.9)], \
        df[int(n * 0.9):]
    num_features = df.shape[1]
    train_mean, train_std = train_df.mean(), train_df.std()
    train_df = (train_df - train_mean) / train_std
    val_df = (val_df - train_mean) / train_std
    test_df = (test_df - train_mean) / train_std
    WindowGenerator = _make_window_generator(train_df, val_df, test_df)

    w2 = WindowGenerator(input_width=6, label_width=1, shift=1, label_columns=['T'])
    example_window = tf.stack([np.array(train_df[:w2.total_window_size]),
                               np.array(train_df[100:100 + w2.total_window_size]),
                               np.array(train_df[200:200 + w2.total_window_size])])
    example_inputs, example_labels = w2.split_window(example_window)
    assert tuple(example_inputs.shape) == (3, 6, 3)
    assert_array(example_labels, example_window.numpy()[:, 6:, :1])
    spec = w2.train.element_spec
    assert tuple(spec[0].shape)[1:] == (6, 3) and tuple(spec[1].shape)[1:] == (1, 1)
    n_windows = sum(int(x.shape[0]) for x, _ in w2.train)
    assert n_windows == len(train_df) - w2.total_window_size + 1

    single_step_window = WindowGenerator(input_width=1, label_width=1, shift=1,
                                         label_columns=['T'])

    class Baseline(tf.keras.Model):
        def __init__(self, label_index=None):
            super().__init__()
            self.label_index = label_index

        def call(self, inputs):
            if self.label_index is None:
                return inputs
            result = inputs[:, :, self.label_index]
            return result[:, :, tf.newaxis]

    baseline = Baseline(label_index=column_indices['T'])
    baseline.compile(loss=tf.keras.losses.MeanSquaredError(),
                     metrics=[tf.keras.metrics.MeanAbsoluteError()])
    mse, mae = baseline.evaluate(single_step_window.val, verbose=0)
    v = np.array(val_df)[:, 0]
    assert_array(np.float32(mse), np.float32(np.mean((v[1:] - v[:-1]) ** 2)), rtol=1e-4)
    assert_array(np.float32(mae), np.float32(np.mean(np.abs(v[1:] - v[:-1]))), rtol=1e-4)

    wide_window = WindowGenerator(input_width=24, label_width=24, shift=1, label_columns=['T'])
    assert tuple(baseline(wide_window.example[0]).shape) == (32, 24, 1)

    MAX_EPOCHS = 3

    def compile_and_fit(model, window, patience=2):
        early_stopping = tf.keras.callbacks.EarlyStopping(monitor='val_loss',
                                                          patience=patience, mode='min')
        model.compile(loss=tf.keras.losses.MeanSquaredError(),
                      optimizer=tf.keras.optimizers.Adam(0.01),
                      metrics=[tf.keras.metrics.MeanAbsoluteError()])
        history = model.fit(window.train, epochs=MAX_EPOCHS, validation_data=window.val,
                            callbacks=[early_stopping], verbose=0)
        return history

    linear = tf.keras.Sequential([tf.keras.layers.Dense(units=1)])
    assert tuple(linear(single_step_window.example[0]).shape) == (32, 1, 1)
    history = compile_and_fit(linear, single_step_window)
    assert history.history['loss'][-1] < history.history['loss'][0]
    assert linear.layers[0].kernel[:, 0].numpy().shape == (3,)

    CONV_WIDTH = 3
    conv_window = WindowGenerator(input_width=CONV_WIDTH, label_width=1, shift=1,
                                  label_columns=['T'])
    multi_step_dense = tf.keras.Sequential([
        tf.keras.layers.Flatten(),
        tf.keras.layers.Dense(units=16, activation='relu'),
        tf.keras.layers.Dense(units=1),
        tf.keras.layers.Reshape([1, -1]),
    ])
    history = compile_and_fit(multi_step_dense, conv_window)
    assert history.history['loss'][-1] < history.history['loss'][0]
    conv_model = tf.keras.Sequential([
        tf.keras.layers.Conv1D(filters=8, kernel_size=(CONV_WIDTH,), activation='relu'),
        tf.keras.layers.Dense(units=8, activation='relu'),
        tf.keras.layers.Dense(units=1)])
    assert tuple(conv_model(conv_window.example[0]).shape) == (32, 1, 1)

    lstm_model = tf.keras.models.Sequential([
        tf.keras.layers.LSTM(16, return_sequences=True),
        tf.keras.layers.Dense(units=1)])
    assert tuple(lstm_model(wide_window.example[0]).shape) == (32, 24, 1)
    history = compile_and_fit(lstm_model, wide_window)
    assert history.history['loss'][-1] < history.history['loss'][0]

    class ResidualWrapper(tf.keras.Model):
        def __init__(self, model):
            super().__init__()
            self.model = model

        def call(self, inputs, *args, **kwargs):
            delta = self.model(inputs, *args, **kwargs)
            return inputs + delta

    residual_lstm = ResidualWrapper(tf.keras.Sequential([
        tf.keras.layers.LSTM(16, return_sequences=True),
        tf.keras.layers.Dense(num_features, kernel_initializer=tf.initializers.zeros())]))
    x = wide_window.example[0]
    assert_array(residual_lstm(x), x.numpy())   # zero-initialized delta: starts as identity
    wide_window_all = WindowGenerator(input_width=24, label_width=24, shift=1)
    history = compile_and_fit(residual_lstm, wide_window_all)
    assert len(history.history['val_loss']) >= 1

    OUT_STEPS = 8
    multi_window = WindowGenerator(input_width=24, label_width=OUT_STEPS, shift=OUT_STEPS)

    class FeedBack(tf.keras.Model):
        def __init__(self, units, out_steps):
            super().__init__()
            self.out_steps = out_steps
            self.units = units
            self.lstm_cell = tf.keras.layers.LSTMCell(units)
            self.lstm_rnn = tf.keras.layers.RNN(self.lstm_cell, return_state=True)
            self.dense = tf.keras.layers.Dense(num_features)

        def warmup(self, inputs):
            x, *state = self.lstm_rnn(inputs)
            prediction = self.dense(x)
            return prediction, state

        def call(self, inputs, training=None):
            predictions = []
            prediction, state = self.warmup(inputs)
            predictions.append(prediction)
            for n in range(1, self.out_steps):
                x = prediction
                x, state = self.lstm_cell(x, states=state, training=training)
                prediction = self.dense(x)
                predictions.append(prediction)
            predictions = tf.stack(predictions)
            predictions = tf.transpose(predictions, [1, 0, 2])
            return predictions

    feedback_model = FeedBack(units=16, out_steps=OUT_STEPS)
    prediction, state = feedback_model.warmup(multi_window.example[0])
    assert tuple(prediction.shape) == (32, num_features) and len(state) == 2
    out = feedback_model(multi_window.example[0])
    assert tuple(out.shape) == (32, OUT_STEPS, num_features)
    assert_array(out[:, 0, :], prediction.numpy(), rtol=1e-5)
    history = compile_and_fit(feedback_model, multi_window)
    assert history.history['loss'][-1] < history.history['loss'][0]

    # the TensorArray form of the same loop (the tutorial's autograph-friendly variant)
    ta = tf.TensorArray(tf.float32, size=OUT_STEPS)
    for i in range(OUT_STEPS):
        ta = ta.write(i, out[:, i, :])
    assert_array(tf.transpose(ta.stack(), [1, 0, 2]), out.numpy())


# ----------------------------------------------------------------- NMT with attention


def test_keras_mask_attribute():
    emb = layers.Embedding(5, 2, mask_zero=True)
    out = emb(np.array([[1, 0]]))
    assert out._keras_mask.numpy().tolist() == [[True, False]]
    del out._keras_mask
    assert getattr(out, '_keras_mask', None) is None
    with pytest.raises(AttributeError):
        del out._keras_mask
    out._keras_mask = tf.constant([[True, True]])
    assert out._keras_mask.numpy().tolist() == [[True, True]]


def test_nmt_with_attention_core():
    tf.random.set_seed(0)
    UNITS, vocab_size, end_token = 16, 12, 1

    class Encoder(tf.keras.layers.Layer):
        def __init__(self, units):
            super(Encoder, self).__init__()
            self.units = units
            self.embedding = tf.keras.layers.Embedding(vocab_size, units, mask_zero=True)
            self.rnn = tf.keras.layers.Bidirectional(
                merge_mode='sum',
                layer=tf.keras.layers.GRU(units, return_sequences=True,
                                          recurrent_initializer='glorot_uniform'))

        def call(self, x):
            x = self.embedding(x)
            x = self.rnn(x)
            return x

    class CrossAttention(tf.keras.layers.Layer):
        def __init__(self, units, **kwargs):
            super().__init__()
            self.mha = tf.keras.layers.MultiHeadAttention(key_dim=units, num_heads=1,
                                                          **kwargs)
            self.layernorm = tf.keras.layers.LayerNormalization()
            self.add = tf.keras.layers.Add()

        def call(self, x, context):
            attn_output, attn_scores = self.mha(query=x, value=context,
                                                return_attention_scores=True)
            attn_scores = tf.reduce_mean(attn_scores, axis=1)
            self.last_attention_weights = attn_scores
            x = self.add([x, attn_output])
            x = self.layernorm(x)
            return x

    class Decoder(tf.keras.layers.Layer):
        def __init__(self, units):
            super(Decoder, self).__init__()
            self.units = units
            self.embedding = tf.keras.layers.Embedding(vocab_size, units, mask_zero=True)
            self.rnn = tf.keras.layers.GRU(units, return_sequences=True, return_state=True,
                                           recurrent_initializer='glorot_uniform')
            self.attention = CrossAttention(units)
            self.output_layer = tf.keras.layers.Dense(vocab_size)

        def call(self, context, x, state=None, return_state=False):
            x = self.embedding(x)
            x, state = self.rnn(x, initial_state=state)
            x = self.attention(x, context)
            self.last_attention_weights = self.attention.last_attention_weights
            logits = self.output_layer(x)
            if return_state:
                return logits, state
            else:
                return logits

        def get_initial_state(self, context):
            batch_size = tf.shape(context)[0]
            start_tokens = tf.fill([batch_size, 1], 2)
            done = tf.zeros([batch_size, 1], dtype=tf.bool)
            embedded = self.embedding(start_tokens)
            return start_tokens, done, self.rnn.get_initial_state(embedded)[0]

        def get_next_token(self, context, next_token, done, state, temperature=0.0):
            logits, state = self(context, next_token, state=state, return_state=True)
            if temperature == 0.0:
                next_token = tf.argmax(logits, axis=-1)
            else:
                logits = logits[:, -1, :] / temperature
                next_token = tf.random.categorical(logits, num_samples=1)
            done = done | (next_token == end_token)
            next_token = tf.where(done, tf.constant(0, dtype=tf.int64), next_token)
            return next_token, done, state

    class Translator(tf.keras.Model):
        def __init__(self, units):
            super().__init__()
            self.encoder = Encoder(units)
            self.decoder = Decoder(units)

        def call(self, inputs):
            context, x = inputs
            context = self.encoder(context)
            logits = self.decoder(context, x)
            try:
                # Delete the keras mask, so keras doesn't scale the loss+accuracy.
                del logits._keras_mask
            except AttributeError:
                pass
            return logits

        def train_step(self, data):   # the custom train step of the tutorial's older version
            (context, x), y = data
            with tf.GradientTape() as tape:
                logits = self((context, x), training=True)
                loss = masked_loss(y, logits)
            variables = self.trainable_variables
            gradients = tape.gradient(loss, variables)
            self.optimizer.apply_gradients(zip(gradients, variables))
            return {'batch_loss': loss, 'masked_acc': masked_acc(y, logits)}

    def masked_loss(y_true, y_pred):
        loss_fn = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True,
                                                                reduction='none')
        loss = loss_fn(y_true, y_pred)
        mask = tf.cast(y_true != 0, loss.dtype)
        loss *= mask
        return tf.reduce_sum(loss) / tf.reduce_sum(mask)

    def masked_acc(y_true, y_pred):
        y_pred = tf.argmax(y_pred, axis=-1)
        y_pred = tf.cast(y_pred, y_true.dtype)
        match = tf.cast(y_true == y_pred, tf.float32)
        mask = tf.cast(y_true != 0, tf.float32)
        return tf.reduce_sum(match) / tf.reduce_sum(mask)

    # a copy task: target = [START] + source, padded with zeros
    rng = np.random.default_rng(0)
    N, S = 48, 5
    src = rng.integers(3, vocab_size, (N, S))
    for i in range(N):
        src[i, rng.integers(2, S + 1):] = 0
    tgt = np.zeros((N, S + 2), np.int64)
    tgt[:, 0] = 2
    tgt[:, 1:S + 1] = src
    ctx, tgt_in, tgt_out = src, tgt[:, :-1], tgt[:, 1:]

    # masked_loss / masked_acc against NumPy
    logits = rng.normal(size=(N, S + 1, vocab_size)).astype(np.float32)
    lse = np.log(np.exp(logits).sum(-1))
    ce = lse - np.take_along_axis(logits, tgt_out[..., None], -1)[..., 0]
    m = tgt_out != 0
    assert_array(masked_loss(tf.constant(tgt_out), tf.constant(logits)),
                 np.float32((ce * m).sum() / m.sum()), rtol=1e-5)
    assert_array(masked_acc(tf.constant(tgt_out), tf.constant(logits)),
                 np.float32((logits.argmax(-1) == tgt_out).sum() / m.sum()), rtol=1e-5)

    model = Translator(UNITS)
    out = model((ctx[:4], tgt_in[:4]))
    assert tuple(out.shape) == (4, S + 1, vocab_size)
    assert getattr(out, '_keras_mask', None) is None
    # cross attention gives no weight to the padded context positions
    att = model.decoder.last_attention_weights.numpy()
    assert att.shape == (4, S + 1, S)
    # rows of padded target positions are fully masked: all zeros, as Keras 3's masked
    # softmax (MultiHeadAttention with return_attention_scores=True); the others sum to 1
    assert_array(att.sum(-1), (tgt_in[:4] != 0).astype(np.float32), rtol=1e-5)
    pad = (tgt_in[:4] != 0)[:, :, None] & (ctx[:4] == 0)[:, None, :]
    assert pad.any() and np.all(att[pad] < 1e-6)

    model.compile(optimizer=tf.keras.optimizers.Adam(0.01), loss=masked_loss,
                  metrics=[masked_acc, masked_loss])
    ds = tf.data.Dataset.from_tensor_slices(((ctx, tgt_in), tgt_out)).batch(16)
    before = model.evaluate(ds, return_dict=True, verbose=0)
    assert abs(before['loss'] - before['masked_loss']) < 1e-5
    history = model.fit(ds.repeat(), epochs=4, steps_per_epoch=6, verbose=0)
    losses_ = history.history['batch_loss']
    assert losses_[-1] < losses_[0]
    after = model.evaluate(ds, return_dict=True, verbose=0)
    assert after['masked_loss'] < before['masked_loss']

    # greedy decoding loop of the tutorial's `translate`
    context = model.encoder(ctx[:3])
    next_token, done, state = model.decoder.get_initial_state(context)
    assert tuple(next_token.shape) == (3, 1) and tuple(state.shape) == (3, UNITS)
    tokens = []
    for _ in range(S + 1):
        next_token, done, state = model.decoder.get_next_token(context, next_token, done,
                                                               state, temperature=0.0)
        tokens.append(next_token)
    tokens = tf.concat(tokens, axis=-1)
    assert tuple(tokens.shape) == (3, S + 1) and tokens.dtype == tf.int64


# ----------------------------------------------------------------- Transformer core pieces


def positional_encoding(length, depth):
    depth = depth / 2
    positions = np.arange(length)[:, np.newaxis]
    depths = np.arange(depth)[np.newaxis, :] / depth
    angle_rates = 1 / (10000 ** depths)
    angle_rads = positions * angle_rates
    pos_encoding = np.concatenate([np.sin(angle_rads), np.cos(angle_rads)], axis=-1)
    return tf.cast(pos_encoding, dtype=tf.float32)


class PositionalEmbedding(tf.keras.layers.Layer):
    def __init__(self, vocab_size, d_model):
        super().__init__()
        self.d_model = d_model
        self.embedding = tf.keras.layers.Embedding(vocab_size, d_model, mask_zero=True)
        self.pos_encoding = positional_encoding(length=2048, depth=d_model)

    def compute_mask(self, *args, **kwargs):
        return self.embedding.compute_mask(*args, **kwargs)

    def call(self, x):
        length = tf.shape(x)[1]
        x = self.embedding(x)
        x *= tf.math.sqrt(tf.cast(self.d_model, tf.float32))
        x = x + self.pos_encoding[tf.newaxis, :length, :]
        return x


class BaseAttention(tf.keras.layers.Layer):
    def __init__(self, **kwargs):
        super().__init__()
        self.mha = tf.keras.layers.MultiHeadAttention(**kwargs)
        self.layernorm = tf.keras.layers.LayerNormalization()
        self.add = tf.keras.layers.Add()


class GlobalSelfAttention(BaseAttention):
    def call(self, x):
        attn_output = self.mha(query=x, value=x, key=x)
        x = self.add([x, attn_output])
        x = self.layernorm(x)
        return x


class CausalSelfAttention(BaseAttention):
    def call(self, x):
        attn_output = self.mha(query=x, value=x, key=x, use_causal_mask=True)
        x = self.add([x, attn_output])
        x = self.layernorm(x)
        return x


class FeedForward(tf.keras.layers.Layer):
    def __init__(self, d_model, dff, dropout_rate=0.1):
        super().__init__()
        self.seq = tf.keras.Sequential([
            tf.keras.layers.Dense(dff, activation='relu'),
            tf.keras.layers.Dense(d_model),
            tf.keras.layers.Dropout(dropout_rate)])
        self.add = tf.keras.layers.Add()
        self.layer_norm = tf.keras.layers.LayerNormalization()

    def call(self, x):
        x = self.add([x, self.seq(x)])
        x = self.layer_norm(x)
        return x


class CustomSchedule(tf.keras.optimizers.schedules.LearningRateSchedule):
    def __init__(self, d_model, warmup_steps=4000):
        super().__init__()
        self.d_model = d_model
        self.d_model = tf.cast(self.d_model, tf.float32)
        self.warmup_steps = warmup_steps

    def __call__(self, step):
        step = tf.cast(step, dtype=tf.float32)
        arg1 = tf.math.rsqrt(step)
        arg2 = step * (self.warmup_steps ** -1.5)
        return tf.math.rsqrt(self.d_model) * tf.math.minimum(arg1, arg2)


def test_layer_overriding_compute_mask_supports_masking():
    # Keras 2: overriding compute_mask makes a layer support masking (no flag needed)
    pe = PositionalEmbedding(10, 4)
    assert pe.supports_masking
    out = pe(np.array([[3, 4, 0]]))
    assert out._keras_mask.numpy().tolist() == [[True, True, False]]
    assert not tf.keras.layers.Layer().supports_masking


def test_transformer_core():
    tf.random.set_seed(0)
    pe_ref = positional_encoding(length=50, depth=8).numpy()
    pos, i = np.arange(50)[:, None], np.arange(4)[None, :]
    ang = pos / 10000 ** (i / 4)
    assert_array(pe_ref, np.concatenate([np.sin(ang), np.cos(ang)], -1).astype(np.float32))

    embed = PositionalEmbedding(vocab_size=20, d_model=8)
    tokens = np.array([[3, 4, 5, 0, 0], [6, 7, 0, 0, 0]])
    x = embed(tokens)
    assert tuple(x.shape) == (2, 5, 8)
    assert x._keras_mask.numpy().tolist() == (tokens != 0).tolist()
    w = embed.embedding.get_weights()[0]
    assert_array(x, w[tokens] * np.sqrt(8) + pe_ref[None, :5], rtol=1e-5)

    gsa = GlobalSelfAttention(num_heads=2, key_dim=8, dropout=0.1)
    assert tuple(gsa(x).shape) == (2, 5, 8)
    csa = CausalSelfAttention(num_heads=2, key_dim=8)
    # causal: a prefix's outputs do not depend on later tokens
    out1 = csa(embed(np.array([[3, 4, 5]])))[:, :2]
    out2 = csa(embed(np.array([[3, 4]])))
    assert_array(out1, out2.numpy(), rtol=1e-5, atol=1e-6)
    ff = FeedForward(8, 16)
    y = ff(x)
    assert tuple(y.shape) == (2, 5, 8)
    assert_array(y.numpy().mean(-1), np.zeros((2, 5)), atol=1e-5)   # LayerNormalization

    learning_rate = CustomSchedule(8, warmup_steps=10)
    steps = tf.range(1, 40, dtype=tf.float32)
    s = np.arange(1, 40, dtype=np.float32)
    assert_array(learning_rate(steps), 8 ** -0.5 * np.minimum(s ** -0.5, s * 10 ** -1.5),
                 rtol=1e-5)
    optimizer = tf.keras.optimizers.Adam(learning_rate, beta_1=0.9, beta_2=0.98, epsilon=1e-9)

    def masked_loss(label, pred):
        mask = label != 0
        loss_object = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True,
                                                                    reduction='none')
        loss = loss_object(label, pred)
        mask = tf.cast(mask, dtype=loss.dtype)
        loss *= mask
        loss = tf.reduce_sum(loss) / tf.reduce_sum(mask)
        return loss

    def masked_accuracy(label, pred):
        pred = tf.argmax(pred, axis=2)
        label = tf.cast(label, pred.dtype)
        match = label == pred
        mask = label != 0
        match = match & mask
        match = tf.cast(match, dtype=tf.float32)
        mask = tf.cast(mask, dtype=tf.float32)
        return tf.reduce_sum(match) / tf.reduce_sum(mask)

    class TinyDecoderLM(tf.keras.Model):
        def __init__(self):
            super().__init__()
            self.pos_embedding = PositionalEmbedding(20, 8)
            self.attention = CausalSelfAttention(num_heads=2, key_dim=8)
            self.ffn = FeedForward(8, 16)
            self.final_layer = tf.keras.layers.Dense(20)

        def call(self, x):
            logits = self.final_layer(self.ffn(self.attention(self.pos_embedding(x))))
            try:
                # Drop the keras mask, so it doesn't scale the losses/metrics.
                del logits._keras_mask
            except AttributeError:
                pass
            return logits

    # a learnable sequence task: next token = token + 1
    rng = np.random.default_rng(0)
    start = rng.integers(1, 12, (64, 1))
    X = start + np.arange(7)[None, :]
    model = TinyDecoderLM()
    model.compile(loss=masked_loss, optimizer=optimizer, metrics=[masked_accuracy])
    history = model.fit(X[:, :-1], X[:, 1:], epochs=4, batch_size=16, verbose=0)
    assert history.history['loss'][-1] < history.history['loss'][0]
    assert int(optimizer.iterations.numpy()) == 16
    assert_array(np.float32(optimizer.learning_rate),
                 np.float32(8 ** -0.5 * min(16 ** -0.5, 16 * 10 ** -1.5)), rtol=1e-5)


# ----------------------------------------------------------------- word2vec


def test_skipgrams_and_sampling_table():
    seq = [1, 2, 3, 0, 4]
    couples, labels = tf.keras.preprocessing.sequence.skipgrams(
        seq, vocabulary_size=5, window_size=1, negative_samples=0, shuffle=False)
    assert couples == [[1, 2], [2, 1], [2, 3], [3, 2]] and labels == [1, 1, 1, 1]
    couples, labels = tf.keras.preprocessing.sequence.skipgrams(
        seq, vocabulary_size=5, window_size=2, negative_samples=1.0, seed=3)
    pos = sorted(tuple(c) for c, lab in zip(couples, labels) if lab == 1)
    assert pos == sorted([(1, 2), (1, 3), (2, 1), (2, 3), (3, 1), (3, 2), (3, 4), (4, 3)])
    negs = [c for c, lab in zip(couples, labels) if lab == 0]
    assert len(negs) == 8 and all(1 <= c[1] < 5 for c in negs)
    table = tf.keras.preprocessing.sequence.make_sampling_table(size=10)
    r = np.arange(10.0)
    r[0] = 1
    f = 1e-5 * (r * (np.log(r) + 0.577) + 0.5 - 1 / (12 * r))
    assert_array(table, np.minimum(1.0, np.sqrt(f)), rtol=1e-6)


def test_word2vec():
    tf.random.set_seed(0)
    sentence = "The wide road shimmered in the hot sun"
    tokens = list(sentence.lower().split())
    vocab, index = {}, 1
    vocab['<pad>'] = 0
    for token in tokens:
        if token not in vocab:
            vocab[token] = index
            index += 1
    vocab_size = len(vocab)
    example_sequence = [vocab[word] for word in tokens]
    window_size = 2
    positive_skip_grams, _ = tf.keras.preprocessing.sequence.skipgrams(
        example_sequence, vocabulary_size=vocab_size, window_size=window_size,
        negative_samples=0)
    assert len(positive_skip_grams) == 26    # as in the tutorial
    num_ns, SEED = 4, 42
    targets, contexts, labels = [], [], []
    for target_word, context_word in positive_skip_grams:
        context_class = tf.expand_dims(tf.constant([context_word], dtype="int64"), 1)
        negative_sampling_candidates, _, _ = tf.random.log_uniform_candidate_sampler(
            true_classes=context_class, num_true=1, num_sampled=num_ns, unique=True,
            range_max=vocab_size, seed=SEED, name="negative_sampling")
        cand = negative_sampling_candidates.numpy()
        assert cand.shape == (num_ns,) and len(set(cand.tolist())) == num_ns
        assert np.all((cand >= 0) & (cand < vocab_size))
        context = tf.concat([tf.squeeze(context_class, 1), negative_sampling_candidates], 0)
        label = tf.constant([1] + [0] * num_ns, dtype="int64")
        targets.append(target_word)
        contexts.append(context)
        labels.append(label)
    targets, contexts, labels = np.array(targets), np.array(contexts), np.array(labels)
    assert contexts.shape == (26, 5) and labels.shape == (26, 5)

    class Word2Vec(tf.keras.Model):
        def __init__(self, vocab_size, embedding_dim):
            super(Word2Vec, self).__init__()
            self.target_embedding = tf.keras.layers.Embedding(vocab_size, embedding_dim,
                                                              name="w2v_embedding")
            self.context_embedding = tf.keras.layers.Embedding(vocab_size, embedding_dim)

        def call(self, pair):
            target, context = pair
            if len(target.shape) == 2:
                target = tf.squeeze(target, axis=1)
            word_emb = self.target_embedding(target)
            context_emb = self.context_embedding(context)
            dots = tf.einsum('be,bce->bc', word_emb, context_emb)
            return dots

    BATCH_SIZE, BUFFER_SIZE = 8, 100
    dataset = tf.data.Dataset.from_tensor_slices(((targets, contexts), labels))
    dataset = dataset.shuffle(BUFFER_SIZE).batch(BATCH_SIZE, drop_remainder=True)
    dataset = dataset.cache().prefetch(buffer_size=tf.data.AUTOTUNE)
    word2vec = Word2Vec(vocab_size, 8)
    word2vec.compile(optimizer=tf.keras.optimizers.Adam(0.05),
                     loss=tf.keras.losses.CategoricalCrossentropy(from_logits=True),
                     metrics=['accuracy'])
    dots = word2vec((targets[:3, None], contexts[:3])).numpy()
    we = word2vec.target_embedding.get_weights()[0]
    ce = word2vec.context_embedding.get_weights()[0]
    assert_array(dots, np.einsum('be,bce->bc', we[targets[:3]], ce[contexts[:3]]), rtol=1e-5)
    history = word2vec.fit(dataset, epochs=5, verbose=0)
    assert history.history['loss'][-1] < history.history['loss'][0]
    weights = word2vec.get_layer('w2v_embedding').get_weights()[0]
    assert weights.shape == (vocab_size, 8)
