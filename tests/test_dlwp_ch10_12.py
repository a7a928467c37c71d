"""The code of "Deep Learning with Python" (2nd ed., F. Chollet) notebooks, chapters 10-12
(timeseries, deep learning for text, generative deep learning), as it runs with only the import
lines changed (`import nabi as tf`, `from nabi import keras`, `from nabi.keras import layers`).
A synthetic sinusoid CSV in the Jena climate layout, a few short strings, local MNIST digits
(NABI_DATASETS) and tiny PNGs replace the downloads; layers are narrower and epochs fewer.
Numbers are checked against NumPy where cheap (dataset windows and targets, the vocabulary and
TF-IDF values, a SimpleRNN forward, sampling with temperature), otherwise shapes, dtypes and a
falling loss."""
import os
import re
import string

import numpy as np
import pytest

import nabi as tf
from nabi import keras
from nabi.keras import layers

_MNIST_DIR = os.path.join(os.environ.get("NABI_DATASETS", ""), "mnist")
needs_mnist = pytest.mark.skipif(
    not (os.environ.get("NABI_DATASETS") and os.path.isdir(_MNIST_DIR)),
    reason="MNIST is not available locally: set NABI_DATASETS to a directory with mnist/")


@pytest.fixture(autouse=True)
def _seeded():
    """The notebooks' randomness (initializers, shuffling, dropout, sampling) made repeatable."""
    keras.utils.set_random_seed(1234)


def test_float_int_of_one_element_tensor():
    """float()/int() of a one-element tensor of any rank (the chapter 11 notebook's
    float(predictions[0] * 100)), as NumPy's float() of such arrays gave; others raise."""
    p = tf.constant([[0.8125]])
    assert float(p[0] * 100) == 81.25
    assert int(tf.constant([[[7]]])) == 7
    assert float(tf.constant(2.5, tf.float64)) == 2.5
    assert f"{float(p[0] * 100):.2f} percent positive" == "81.25 percent positive"
    with pytest.raises(TypeError, match=r"float.*\(2,\)"):
        float(tf.constant([1., 2.]))
    with pytest.raises(TypeError, match=r"int.*\(0,\)"):
        int(tf.zeros((0,), tf.int32))


# ----------------------------------------------------------------------------- chapter 10

def test_ch10_timeseries_dataset_from_array_book_example():
    int_sequence = np.arange(10)
    dummy_dataset = keras.utils.timeseries_dataset_from_array(
        data=int_sequence[:-3],
        targets=int_sequence[3:],
        sequence_length=3,
        batch_size=2,
    )
    printed = []
    for inputs, targets in dummy_dataset:
        for i in range(inputs.shape[0]):
            printed.append(([int(x) for x in inputs[i]], int(targets[i])))
    assert printed == [([0, 1, 2], 3), ([1, 2, 3], 4), ([2, 3, 4], 5), ([3, 4, 5], 6),
                       ([4, 5, 6], 7)]


def _write_jena_csv(path, n=900, seed=0):
    """The Jena climate file's layout (a quoted header, a date column, 14 features), filled
    with noisy sinusoids; T (degC) is column 2 (values[1])."""
    rng = np.random.default_rng(seed)
    header = ['"Date Time"', '"p (mbar)"', '"T (degC)"', '"Tpot (K)"', '"Tdew (degC)"',
              '"rh (%)"', '"VPmax (mbar)"', '"VPact (mbar)"', '"VPdef (mbar)"', '"sh (g/kg)"',
              '"H2OC (mmol/mol)"', '"rho (g/m**3)"', '"wv (m/s)"', '"max. wv (m/s)"',
              '"wd (deg)"']
    t = np.arange(n)
    cols = [1000 + 5 * np.sin(2 * np.pi * t / 144 + k) + rng.normal(0, 0.3, n) * (k + 1)
            for k in range(14)]
    cols[1] = 10 + 8 * np.sin(2 * np.pi * t / 72) + rng.normal(0, 0.2, n)
    lines = [",".join(header)]
    for i in range(n):
        lines.append(f"01.01.2009 {i // 6:02d}:{(i % 6) * 10:02d}:00," +
                     ",".join(f"{c[i]:.2f}" for c in cols))
    with open(path, "w") as f:
        f.write("\n".join(lines))


@pytest.fixture
def jena(tmp_path):
    fname = os.path.join(str(tmp_path), "jena_climate_2009_2016.csv")
    _write_jena_csv(fname)
    with open(fname) as f:
        data = f.read()
    lines = data.split("\n")
    header = lines[0].split(",")
    lines = lines[1:]
    temperature = np.zeros((len(lines),))
    raw_data = np.zeros((len(lines), len(header) - 1))
    for i, line in enumerate(lines):
        values = [float(x) for x in line.split(",")[1:]]
        temperature[i] = values[1]
        raw_data[i, :] = values[:]
    num_train_samples = int(0.5 * len(raw_data))
    num_val_samples = int(0.25 * len(raw_data))
    num_test_samples = len(raw_data) - num_train_samples - num_val_samples
    mean = raw_data[:num_train_samples].mean(axis=0)
    raw_data -= mean
    std = raw_data[:num_train_samples].std(axis=0)
    raw_data /= std
    sampling_rate = 3
    sequence_length = 12
    delay = sampling_rate * (sequence_length + 6 - 1)
    batch_size = 32
    kw = dict(sampling_rate=sampling_rate, sequence_length=sequence_length,
              batch_size=batch_size)
    train_dataset = keras.utils.timeseries_dataset_from_array(
        raw_data[:-delay], targets=temperature[delay:], shuffle=True,
        start_index=0, end_index=num_train_samples, **kw)
    val_dataset = keras.utils.timeseries_dataset_from_array(
        raw_data[:-delay], targets=temperature[delay:], shuffle=True,
        start_index=num_train_samples, end_index=num_train_samples + num_val_samples, **kw)
    test_dataset = keras.utils.timeseries_dataset_from_array(
        raw_data[:-delay], targets=temperature[delay:], shuffle=True,
        start_index=num_train_samples + num_val_samples, **kw)
    return dict(raw_data=raw_data, temperature=temperature, mean=mean, std=std,
                num_train_samples=num_train_samples, num_val_samples=num_val_samples,
                num_test_samples=num_test_samples, sampling_rate=sampling_rate,
                sequence_length=sequence_length, delay=delay, train=train_dataset,
                val=val_dataset, test=test_dataset, tmp=str(tmp_path))


def test_ch10_jena_windows_and_naive_baseline(jena):
    raw_data, temperature = jena["raw_data"], jena["temperature"]
    mean, std = jena["mean"], jena["std"]
    sr, sl, delay = jena["sampling_rate"], jena["sequence_length"], jena["delay"]
    ntr, nval = jena["num_train_samples"], jena["num_val_samples"]
    assert raw_data.shape == (900, 14) and jena["num_test_samples"] == 225
    for samples, targets in jena["train"]:
        assert samples.shape == (32, sl, 14) and targets.shape == (32,)
        assert samples.dtype == tf.float64
        break
    # Unshuffled windows against NumPy: sample i is data[i : i + sl*sr : sr], target i.
    ds = keras.utils.timeseries_dataset_from_array(
        raw_data[:-delay], targets=temperature[delay:], sampling_rate=sr,
        sequence_length=sl, shuffle=False, batch_size=32,
        start_index=ntr, end_index=ntr + nval)
    xs = np.concatenate([s.numpy() for s, _ in ds])
    ys = np.concatenate([t.numpy() for _, t in ds])
    n_expected = (ntr + nval) - ntr - (sl - 1) * sr
    assert xs.shape == (n_expected, sl, 14)
    ref_x = np.stack([raw_data[i: i + sl * sr: sr] for i in range(ntr, ntr + n_expected)])
    np.testing.assert_array_equal(xs, ref_x)
    np.testing.assert_array_equal(ys, temperature[delay + ntr: delay + ntr + n_expected])
    # Shuffled: the same windows in another order.
    xs_sh = np.concatenate([s.numpy() for s, _ in jena["val"]])
    ys_sh = np.concatenate([t.numpy() for _, t in jena["val"]])
    np.testing.assert_array_equal(np.sort(ys_sh), np.sort(ys))
    def rows_sorted(a):
        flat = a.reshape(len(a), -1)
        return flat[np.lexsort(flat.T[::-1])]
    np.testing.assert_array_equal(rows_sorted(xs_sh), rows_sorted(xs))

    def evaluate_naive_method(dataset):
        total_abs_err = 0.
        samples_seen = 0
        for samples, targets in dataset:
            preds = samples[:, -1, 1] * std[1] + mean[1]
            total_abs_err += np.sum(np.abs(preds - targets))
            samples_seen += samples.shape[0]
        return total_abs_err / samples_seen

    val_mae = evaluate_naive_method(jena["val"])
    last_t = raw_data[[i + (sl - 1) * sr for i in range(ntr, ntr + n_expected)], 1] * std[1] \
        + mean[1]
    np.testing.assert_allclose(float(val_mae), np.mean(np.abs(last_t - ys)), rtol=1e-10)
    assert f"Validation MAE: {val_mae:.2f}".startswith("Validation MAE: ")


def test_ch10_dense_and_conv1d_models(jena):
    sl, raw_data = jena["sequence_length"], jena["raw_data"]
    inputs = keras.Input(shape=(sl, raw_data.shape[-1]))
    x = layers.Flatten()(inputs)
    x = layers.Dense(16, activation="relu")(x)
    outputs = layers.Dense(1)(x)
    model = keras.Model(inputs, outputs)
    path = os.path.join(jena["tmp"], "jena_dense.keras")
    callbacks = [keras.callbacks.ModelCheckpoint(path, save_best_only=True)]
    model.compile(optimizer="rmsprop", loss="mse", metrics=["mae"])
    history = model.fit(jena["train"], epochs=4, validation_data=jena["val"],
                        callbacks=callbacks, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    model = keras.models.load_model(path)
    test_mae = model.evaluate(jena["test"], verbose=0)[1]
    assert f"Test MAE: {test_mae:.2f}".startswith("Test MAE: ")

    inputs = keras.Input(shape=(sl, raw_data.shape[-1]))
    x = layers.Conv1D(8, 4, activation="relu")(inputs)
    x = layers.MaxPooling1D(2)(x)
    x = layers.Conv1D(8, 3, activation="relu")(x)
    x = layers.GlobalAveragePooling1D()(x)
    outputs = layers.Dense(1)(x)
    model = keras.Model(inputs, outputs)
    assert tuple(model.layers[2].output.shape) == (None, 4, 8)
    model.compile(optimizer="rmsprop", loss="mse", metrics=["mae"])
    history = model.fit(jena["train"], epochs=3, validation_data=jena["val"], verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    # The first Conv1D against NumPy.
    conv = model.layers[1]
    xb = raw_data[None, :sl].astype("float32")
    k, b = conv.kernel.numpy(), conv.bias.numpy()
    ref = np.maximum(np.stack([np.einsum("tc,tcf->f", xb[0, i:i + 4], k)
                               for i in range(sl - 3)]) + b, 0)
    got = keras.Model(inputs, conv.output)(xb).numpy()[0]
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-5)


def test_ch10_numpy_rnn_and_simple_rnn():
    timesteps = 10
    input_features = 4
    output_features = 6
    rng = np.random.default_rng(0)
    inputs = rng.random((timesteps, input_features))
    state_t = np.zeros((output_features,))
    W = rng.random((output_features, input_features)) - 0.5
    U = rng.random((output_features, output_features)) - 0.5
    b = rng.random((output_features,)) - 0.5
    successive_outputs = []
    for input_t in inputs:
        output_t = np.tanh(np.dot(W, input_t) + np.dot(U, state_t) + b)
        successive_outputs.append(output_t)
        state_t = output_t
    final_output_sequence = np.stack(successive_outputs, axis=0)
    # The same recurrence in a SimpleRNN given these weights.
    rnn = layers.SimpleRNN(output_features, return_sequences=True)
    rnn.build((None, timesteps, input_features))
    rnn.set_weights([W.T, U.T, b])
    got = rnn(inputs[None]).numpy()[0]
    np.testing.assert_allclose(got, final_output_sequence, rtol=1e-5, atol=1e-6)

    num_features = 14
    inputs = keras.Input(shape=(None, num_features))
    outputs = layers.SimpleRNN(16)(inputs)
    assert tuple(outputs.shape) == (None, 16)
    steps = 120
    inputs = keras.Input(shape=(steps, num_features))
    outputs = layers.SimpleRNN(16, return_sequences=False)(inputs)
    assert tuple(outputs.shape) == (None, 16)
    outputs = layers.SimpleRNN(16, return_sequences=True)(inputs)
    assert tuple(outputs.shape) == (None, 120, 16)
    x = layers.SimpleRNN(16, return_sequences=True)(inputs)
    x = layers.SimpleRNN(16, return_sequences=True)(x)
    outputs = layers.SimpleRNN(16)(x)
    assert tuple(outputs.shape) == (None, 16)


def test_ch10_lstm_gru_forward_vs_numpy():
    """The LSTM and GRU recurrences of the chapter (Keras gate order i, f, c, o and z, r, h;
    GRU with reset_after=True, two bias rows) against NumPy loops on the layers' weights."""
    rng = np.random.default_rng(5)
    x = rng.normal(size=(2, 6, 3)).astype("float32")
    units = 4

    def sig(v):
        return 1 / (1 + np.exp(-v))

    lstm = layers.LSTM(units, return_sequences=True)
    lstm.build((None, 6, 3))
    k, rk, b = [w.astype(np.float64) for w in lstm.get_weights()]
    b = b + rng.normal(size=b.shape)   # non-zero biases
    lstm.set_weights([k, rk, b])
    h = np.zeros((2, units))
    c = np.zeros((2, units))
    ref = []
    for t in range(6):
        g = x[:, t] @ k + h @ rk + b
        i, f, cc, o = (g[:, j * units:(j + 1) * units] for j in range(4))
        c = sig(f) * c + sig(i) * np.tanh(cc)
        h = sig(o) * np.tanh(c)
        ref.append(h)
    np.testing.assert_allclose(lstm(x).numpy(), np.stack(ref, 1), rtol=1e-4, atol=1e-5)

    gru = layers.GRU(units, return_sequences=True)
    gru.build((None, 6, 3))
    k, rk, b = [w.astype(np.float64) for w in gru.get_weights()]
    assert b.shape == (2, 3 * units)
    b = rng.normal(size=b.shape)
    gru.set_weights([k, rk, b])
    h = np.zeros((2, units))
    ref = []
    for t in range(6):
        xi = x[:, t] @ k + b[0]
        hr = h @ rk + b[1]
        z = sig(xi[:, :units] + hr[:, :units])
        r = sig(xi[:, units:2 * units] + hr[:, units:2 * units])
        hh = np.tanh(xi[:, 2 * units:] + r * hr[:, 2 * units:])
        h = z * h + (1 - z) * hh
        ref.append(h)
    np.testing.assert_allclose(gru(x).numpy(), np.stack(ref, 1), rtol=1e-4, atol=1e-5)


def test_ch10_lstm_gru_bidirectional(jena):
    sl, raw_data = jena["sequence_length"], jena["raw_data"]
    train = jena["train"].take(4)

    inputs = keras.Input(shape=(sl, raw_data.shape[-1]))
    x = layers.LSTM(8)(inputs)
    outputs = layers.Dense(1)(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="rmsprop", loss="mse", metrics=["mae"])
    history = model.fit(train, epochs=3, validation_data=jena["val"].take(1), verbose=0)
    assert set(history.history) == {"loss", "mae", "val_loss", "val_mae"}
    assert np.all(np.isfinite(history.history["loss"]))

    inputs = keras.Input(shape=(sl, raw_data.shape[-1]))
    x = layers.LSTM(8, recurrent_dropout=0.25)(inputs)
    x = layers.Dropout(0.5)(x)
    outputs = layers.Dense(1)(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="rmsprop", loss="mse", metrics=["mae"])
    history = model.fit(train, epochs=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    xb = raw_data[None, :sl].astype("float32")
    # recurrent_dropout is off at inference: two predictions agree.
    np.testing.assert_array_equal(model.predict(xb, verbose=0), model.predict(xb, verbose=0))

    inputs = keras.Input(shape=(sl, raw_data.shape[-1]))
    x = layers.GRU(8, recurrent_dropout=0.5, return_sequences=True)(inputs)
    x = layers.GRU(8, recurrent_dropout=0.5)(x)
    x = layers.Dropout(0.5)(x)
    outputs = layers.Dense(1)(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="rmsprop", loss="mse", metrics=["mae"])
    history = model.fit(train, epochs=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))

    inputs = keras.Input(shape=(sl, raw_data.shape[-1]))
    x = layers.Bidirectional(layers.LSTM(4))(inputs)
    outputs = layers.Dense(1)(x)
    model = keras.Model(inputs, outputs)
    assert tuple(x.shape) == (None, 8)
    model.compile(optimizer="rmsprop", loss="mse", metrics=["mae"])
    history = model.fit(train, epochs=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    # The backward half is the forward LSTM's recurrence run on the reversed sequence.
    bi = model.layers[1]
    fwd = layers.LSTM(4)
    fwd.build((None, sl, 14))
    fwd.set_weights(bi.backward_layer.get_weights())
    np.testing.assert_allclose(keras.Model(inputs, x)(xb).numpy()[0, 4:],
                               fwd(xb[:, ::-1]).numpy()[0], rtol=1e-4, atol=1e-5)


# ----------------------------------------------------------------------------- chapter 11

def test_ch11_python_vectorizer():
    class Vectorizer:
        def standardize(self, text):
            text = text.lower()
            return "".join(char for char in text if char not in string.punctuation)

        def tokenize(self, text):
            text = self.standardize(text)
            return text.split()

        def make_vocabulary(self, dataset):
            self.vocabulary = {"": 0, "[UNK]": 1}
            for text in dataset:
                text = self.standardize(text)
                tokens = self.tokenize(text)
                for token in tokens:
                    if token not in self.vocabulary:
                        self.vocabulary[token] = len(self.vocabulary)
            self.inverse_vocabulary = dict(
                (v, k) for k, v in self.vocabulary.items())

        def encode(self, text):
            text = self.standardize(text)
            tokens = self.tokenize(text)
            return [self.vocabulary.get(token, 1) for token in tokens]

        def decode(self, int_sequence):
            return " ".join(
                self.inverse_vocabulary.get(i, "[UNK]") for i in int_sequence)

    vectorizer = Vectorizer()
    dataset = [
        "I write, erase, rewrite",
        "Erase again, and then",
        "A poppy blooms.",
    ]
    vectorizer.make_vocabulary(dataset)
    test_sentence = "I write, rewrite, and still rewrite again"
    encoded_sentence = vectorizer.encode(test_sentence)
    assert encoded_sentence == [2, 3, 5, 7, 1, 5, 6]
    assert vectorizer.decode(encoded_sentence) == "i write rewrite and [UNK] rewrite again"


def test_ch11_text_vectorization_custom_callables():
    from nabi.keras.layers import TextVectorization
    text_vectorization = TextVectorization(
        output_mode="int",
    )

    def custom_standardization_fn(string_tensor):
        lowercase_string = tf.strings.lower(string_tensor)
        return tf.strings.regex_replace(
            lowercase_string, f"[{re.escape(string.punctuation)}]", "")

    def custom_split_fn(string_tensor):
        return tf.strings.split(string_tensor)

    text_vectorization = TextVectorization(
        output_mode="int",
        standardize=custom_standardization_fn,
        split=custom_split_fn,
    )
    dataset = [
        "I write, erase, rewrite",
        "Erase again, and then",
        "A poppy blooms.",
    ]
    text_vectorization.adapt(dataset)
    # By count, then ties in reverse order of the token (the notebook's printed vocabulary).
    assert text_vectorization.get_vocabulary() == [
        "", "[UNK]", "erase", "write", "then", "rewrite", "poppy", "i", "blooms", "and",
        "again", "a"]
    vocabulary = text_vectorization.get_vocabulary()
    test_sentence = "I write, rewrite, and still rewrite again"
    encoded_sentence = text_vectorization(test_sentence)
    assert encoded_sentence.dtype == tf.int64
    np.testing.assert_array_equal(encoded_sentence.numpy(), [7, 3, 5, 9, 1, 5, 10])
    inverse_vocab = dict(enumerate(vocabulary))
    decoded_sentence = " ".join(inverse_vocab[int(i)] for i in encoded_sentence)
    assert decoded_sentence == "i write rewrite and [UNK] rewrite again"

    # The default standardize/split (lower_and_strip_punctuation, whitespace) are the same.
    default_vectorization = TextVectorization(output_mode="int")
    default_vectorization.adapt(dataset)
    assert default_vectorization.get_vocabulary() == vocabulary
    np.testing.assert_array_equal(default_vectorization(test_sentence).numpy(),
                                  encoded_sentence.numpy())

    # In a tf.data pipeline and in a model taking strings.
    string_dataset = tf.data.Dataset.from_tensor_slices(dataset).batch(2)
    int_sequence_dataset = string_dataset.map(text_vectorization, num_parallel_calls=4)
    first = next(iter(int_sequence_dataset))
    np.testing.assert_array_equal(first.numpy(), [[7, 3, 2, 5], [2, 10, 9, 4]])
    text_input = keras.Input(shape=(), dtype="string")
    vectorized_text = text_vectorization(text_input)
    embedding = layers.Embedding(len(vocabulary), 4)(vectorized_text)
    output = layers.GlobalAveragePooling1D()(embedding)
    model = keras.Model(text_input, output)
    assert model(tf.constant(dataset)).shape == (3, 4)


def _tf_idf_reference(train_texts, vocab, texts, ngrams):
    """Keras' TF-IDF: count * log(1 + N / (1 + document frequency)); the OOV slot (index 0)
    takes the mean of the vocabulary's idf weights."""
    def grams(t):
        toks = re.sub(f"[{re.escape(string.punctuation)}]", "", t.lower()).split()
        out = list(toks)
        if ngrams == 2:
            out += [" ".join(p) for p in zip(toks, toks[1:])]
        return out
    n_docs = len(train_texts)
    df = {w: sum(w in set(grams(t)) for t in train_texts) for w in vocab[1:]}
    idf = np.array([np.log(1 + n_docs / (1 + df[w])) for w in vocab[1:]])
    idf = np.concatenate([[idf.mean()], idf])
    index = {w: i for i, w in enumerate(vocab)}
    counts = np.zeros((len(texts), len(vocab)))
    for r, t in enumerate(texts):
        for g in grams(t):
            counts[r, index.get(g, 0)] += 1
    return counts * idf, counts


def _write_imdb_dir(root, rng):
    pos_words = ["excellent", "loved", "great", "wonderful", "superb"]
    neg_words = ["awful", "boring", "terrible", "hated", "dull"]
    filler = ["the", "movie", "was", "a", "plot", "and", "actors", "film", "this", "it"]
    for split, n in (("train", 24), ("val", 8), ("test", 8)):
        for label, words in (("neg", neg_words), ("pos", pos_words)):
            d = os.path.join(root, split, label)
            os.makedirs(d)
            for i in range(n):
                toks = list(rng.choice(filler, 6)) + list(rng.choice(words, 2))
                rng.shuffle(toks)
                with open(os.path.join(d, f"{i}_{label}.txt"), "w") as f:
                    f.write(" ".join(toks).capitalize() + ". <br />It was " + toks[0] + "!")


def test_ch11_bag_of_words(tmp_path):
    from nabi.keras.layers import TextVectorization
    rng = np.random.default_rng(0)
    base = str(tmp_path / "aclImdb")
    _write_imdb_dir(base, rng)
    batch_size = 8
    train_ds = keras.utils.text_dataset_from_directory(
        os.path.join(base, "train"), batch_size=batch_size)
    val_ds = keras.utils.text_dataset_from_directory(
        os.path.join(base, "val"), batch_size=batch_size)
    test_ds = keras.utils.text_dataset_from_directory(
        os.path.join(base, "test"), batch_size=batch_size)
    for inputs, targets in train_ds:
        assert inputs.shape == (8,) and inputs.dtype == tf.string
        assert targets.shape == (8,) and targets.dtype == tf.int32
        assert isinstance(inputs.numpy()[0], bytes)
        break

    text_vectorization = TextVectorization(
        max_tokens=20,
        output_mode="multi_hot",
    )
    text_only_train_ds = train_ds.map(lambda x, y: x)
    text_vectorization.adapt(text_only_train_ds)
    binary_1gram_train_ds = train_ds.map(
        lambda x, y: (text_vectorization(x), y), num_parallel_calls=4)
    binary_1gram_val_ds = val_ds.map(
        lambda x, y: (text_vectorization(x), y), num_parallel_calls=4)
    binary_1gram_test_ds = test_ds.map(
        lambda x, y: (text_vectorization(x), y), num_parallel_calls=4)
    for inputs, targets in binary_1gram_train_ds:
        assert inputs.shape == (8, 20) and inputs.dtype == tf.float32
        assert set(np.unique(inputs.numpy())) <= {0.0, 1.0}
        break

    def get_model(max_tokens=20, hidden_dim=8):
        inputs = keras.Input(shape=(max_tokens,))
        x = layers.Dense(hidden_dim, activation="relu")(inputs)
        x = layers.Dropout(0.5)(x)
        outputs = layers.Dense(1, activation="sigmoid")(x)
        model = keras.Model(inputs, outputs)
        model.compile(optimizer="rmsprop",
                      loss="binary_crossentropy",
                      metrics=["accuracy"])
        return model

    model = get_model()
    path = str(tmp_path / "binary_1gram.keras")
    callbacks = [keras.callbacks.ModelCheckpoint(path, save_best_only=True)]
    # epoch losses under Dropout(0.5) are noisy: compare the training-set loss without
    # dropout before and after fit instead
    before = model.evaluate(binary_1gram_train_ds, verbose=0)[0]
    history = model.fit(binary_1gram_train_ds.cache(),
                        validation_data=binary_1gram_val_ds.cache(),
                        epochs=6, callbacks=callbacks, verbose=0)
    assert len(history.history["loss"]) == 6
    assert model.evaluate(binary_1gram_train_ds, verbose=0)[0] < before
    model = keras.models.load_model(path)
    test_acc = model.evaluate(binary_1gram_test_ds, verbose=0)[1]
    assert f"Test acc: {test_acc:.3f}".startswith("Test acc: ")

    # Bigrams: multi_hot, count and tf_idf, against NumPy on the adapted vocabulary.
    texts = ["The movie was great, great fun.", "awful awful plot", "Zebra movie"]
    train_texts = [t.decode() for t in np.concatenate([x.numpy() for x in text_only_train_ds])]
    text_vectorization = TextVectorization(ngrams=2, max_tokens=60, output_mode="multi_hot")
    text_vectorization.adapt(text_only_train_ds)
    vocab = text_vectorization.get_vocabulary()
    assert vocab[0] == "[UNK]" and len(vocab) == 60 and any(" " in w for w in vocab)
    _, counts = _tf_idf_reference(train_texts, vocab, texts, ngrams=2)
    np.testing.assert_array_equal(text_vectorization(texts).numpy(), (counts > 0) * 1.0)
    text_vectorization = TextVectorization(ngrams=2, max_tokens=60, output_mode="count")
    text_vectorization.adapt(text_only_train_ds)
    np.testing.assert_array_equal(text_vectorization(texts).numpy(), counts)
    text_vectorization = TextVectorization(ngrams=2, max_tokens=60, output_mode="tf_idf")
    with tf.device("cpu"):
        text_vectorization.adapt(text_only_train_ds)
    assert text_vectorization.get_vocabulary() == vocab
    tfidf, _ = _tf_idf_reference(train_texts, vocab, texts, ngrams=2)
    np.testing.assert_allclose(text_vectorization(texts).numpy(), tfidf, rtol=1e-5, atol=1e-6)
    # Full-vocabulary document frequencies (every token kept) as a second check.
    tv_all = TextVectorization(output_mode="tf_idf")
    tv_all.adapt(train_texts)
    ref_all, _ = _tf_idf_reference(train_texts, tv_all.get_vocabulary(), texts, ngrams=1)
    np.testing.assert_allclose(tv_all(texts).numpy(), ref_all, rtol=1e-5, atol=1e-6)

    tfidf_2gram_train_ds = train_ds.map(
        lambda x, y: (text_vectorization(x), y), num_parallel_calls=4)
    model = get_model(max_tokens=60)
    model.fit(tfidf_2gram_train_ds.cache(), epochs=1, verbose=0)
    inputs = keras.Input(shape=(1,), dtype="string")
    processed_inputs = text_vectorization(inputs)
    outputs = model(processed_inputs)
    inference_model = keras.Model(inputs, outputs)
    raw_text_data = tf.convert_to_tensor([
        ["That was an excellent movie, I loved it."],
    ])
    predictions = inference_model(raw_text_data)
    assert predictions.shape == (1, 1)
    assert f"{float(predictions[0] * 100):.2f} percent positive".endswith("percent positive")


def test_ch11_sequence_models(tmp_path):
    rng = np.random.default_rng(1)
    base = str(tmp_path / "aclImdb")
    _write_imdb_dir(base, rng)
    train_ds = keras.utils.text_dataset_from_directory(os.path.join(base, "train"),
                                                       batch_size=8)
    text_only_train_ds = train_ds.map(lambda x, y: x)
    max_length = 16
    max_tokens = 50
    text_vectorization = layers.TextVectorization(
        max_tokens=max_tokens,
        output_mode="int",
        output_sequence_length=max_length,
    )
    text_vectorization.adapt(text_only_train_ds)
    int_train_ds = train_ds.map(
        lambda x, y: (text_vectorization(x), y), num_parallel_calls=4)
    for x, y in int_train_ds:
        assert x.shape == (8, max_length) and x.dtype == tf.int64
        break

    inputs = keras.Input(shape=(None,), dtype="int64")
    embedded = tf.one_hot(inputs, depth=max_tokens)
    x = layers.Bidirectional(layers.LSTM(4))(embedded)
    x = layers.Dropout(0.5)(x)
    outputs = layers.Dense(1, activation="sigmoid")(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="rmsprop", loss="binary_crossentropy", metrics=["accuracy"])
    model.fit(int_train_ds, epochs=1, verbose=0)

    inputs = keras.Input(shape=(None,), dtype="int64")
    embedded = layers.Embedding(input_dim=max_tokens, output_dim=8)(inputs)
    x = layers.Bidirectional(layers.LSTM(4))(embedded)
    x = layers.Dropout(0.5)(x)
    outputs = layers.Dense(1, activation="sigmoid")(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="rmsprop", loss="binary_crossentropy", metrics=["accuracy"])
    history = model.fit(int_train_ds, epochs=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))

    inputs = keras.Input(shape=(None,), dtype="int64")
    embedded = layers.Embedding(
        input_dim=max_tokens, output_dim=8, mask_zero=True)(inputs)
    x = layers.Bidirectional(layers.LSTM(4))(embedded)
    x = layers.Dropout(0.5)(x)
    outputs = layers.Dense(1, activation="sigmoid")(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="rmsprop", loss="binary_crossentropy", metrics=["accuracy"])
    history = model.fit(int_train_ds, epochs=3, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    # With the mask, trailing padding changes nothing (both directions skip it).
    seq = np.array([[5, 7, 3, 9]])
    padded = np.array([[5, 7, 3, 9, 0, 0, 0]])
    np.testing.assert_allclose(model.predict(padded, verbose=0),
                               model.predict(seq, verbose=0), rtol=1e-5, atol=1e-6)

    # Pretrained word embeddings (GloVe replaced by a random table of the same form).
    embedding_dim = 6
    embeddings_index = {w: rng.normal(size=embedding_dim).astype("float32")
                        for w in ["movie", "great", "awful", "the", "plot"]}
    vocabulary = text_vectorization.get_vocabulary()
    word_index = dict(zip(vocabulary, range(len(vocabulary))))
    embedding_matrix = np.zeros((max_tokens, embedding_dim))
    for word, i in word_index.items():
        if i < max_tokens:
            embedding_vector = embeddings_index.get(word)
        if embedding_vector is not None:
            embedding_matrix[i] = embedding_vector
    embedding_layer = layers.Embedding(
        max_tokens,
        embedding_dim,
        embeddings_initializer=keras.initializers.Constant(embedding_matrix),
        trainable=False,
        mask_zero=True,
    )
    inputs = keras.Input(shape=(None,), dtype="int64")
    embedded = embedding_layer(inputs)
    x = layers.Bidirectional(layers.LSTM(4))(embedded)
    x = layers.Dropout(0.5)(x)
    outputs = layers.Dense(1, activation="sigmoid")(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="rmsprop", loss="binary_crossentropy", metrics=["accuracy"])
    model.fit(int_train_ds, epochs=1, verbose=0)
    np.testing.assert_allclose(embedding_layer.embeddings.numpy(), embedding_matrix, rtol=1e-6)
    assert len(model.trainable_weights) == 2 * 3 + 2
    ids = np.array([[word_index["great"], word_index["plot"]]])
    np.testing.assert_allclose(embedding_layer(ids).numpy()[0],
                               [embeddings_index["great"], embeddings_index["plot"]], rtol=1e-6)


class TransformerEncoder(layers.Layer):
    def __init__(self, embed_dim, dense_dim, num_heads, **kwargs):
        super().__init__(**kwargs)
        self.embed_dim = embed_dim
        self.dense_dim = dense_dim
        self.num_heads = num_heads
        self.attention = layers.MultiHeadAttention(
            num_heads=num_heads, key_dim=embed_dim)
        self.dense_proj = keras.Sequential(
            [layers.Dense(dense_dim, activation="relu"),
             layers.Dense(embed_dim), ]
        )
        self.layernorm_1 = layers.LayerNormalization()
        self.layernorm_2 = layers.LayerNormalization()

    def call(self, inputs, mask=None):
        if mask is not None:
            mask = mask[:, tf.newaxis, :]
        attention_output = self.attention(
            inputs, inputs, attention_mask=mask)
        proj_input = self.layernorm_1(inputs + attention_output)
        proj_output = self.dense_proj(proj_input)
        return self.layernorm_2(proj_input + proj_output)

    def get_config(self):
        config = super().get_config()
        config.update({
            "embed_dim": self.embed_dim,
            "num_heads": self.num_heads,
            "dense_dim": self.dense_dim,
        })
        return config


class PositionalEmbedding(layers.Layer):
    def __init__(self, sequence_length, input_dim, output_dim, **kwargs):
        super().__init__(**kwargs)
        self.token_embeddings = layers.Embedding(
            input_dim=input_dim, output_dim=output_dim)
        self.position_embeddings = layers.Embedding(
            input_dim=sequence_length, output_dim=output_dim)
        self.sequence_length = sequence_length
        self.input_dim = input_dim
        self.output_dim = output_dim

    def call(self, inputs):
        length = tf.shape(inputs)[-1]
        positions = tf.range(start=0, limit=length, delta=1)
        embedded_tokens = self.token_embeddings(inputs)
        embedded_positions = self.position_embeddings(positions)
        return embedded_tokens + embedded_positions

    def compute_mask(self, inputs, mask=None):
        return tf.math.not_equal(inputs, 0)

    def get_config(self):
        config = super().get_config()
        config.update({
            "output_dim": self.output_dim,
            "sequence_length": self.sequence_length,
            "input_dim": self.input_dim,
        })
        return config


def test_ch11_transformer_encoder(tmp_path):
    vocab_size = 30
    sequence_length = 10
    embed_dim = 8
    num_heads = 2
    dense_dim = 16

    # Self-attention in NumPy (the chapter's pseudo-code) vs MultiHeadAttention's shapes.
    rng = np.random.default_rng(0)
    input_sequence = rng.normal(size=(5, embed_dim))

    def self_attention(input_sequence):
        output = np.zeros(shape=input_sequence.shape)
        for i, pivot_vector in enumerate(input_sequence):
            scores = np.zeros(shape=(len(input_sequence),))
            for j, vector in enumerate(input_sequence):
                scores[j] = np.dot(pivot_vector, vector.T)
            scores /= np.sqrt(input_sequence.shape[1])
            scores = np.exp(scores) / np.sum(np.exp(scores))   # softmax
            new_pivot_representation = np.zeros(shape=pivot_vector.shape)
            for j, vector in enumerate(input_sequence):
                new_pivot_representation += vector * scores[j]
            output[i] = new_pivot_representation
        return output

    q = tf.constant(input_sequence[None], dtype=tf.float64)
    scores = tf.nn.softmax(tf.matmul(q, q, transpose_b=True) / np.sqrt(embed_dim), axis=-1)
    np.testing.assert_allclose(tf.matmul(scores, q).numpy()[0], self_attention(input_sequence),
                               rtol=1e-10)
    num_heads_ = 4
    mha = layers.MultiHeadAttention(num_heads=num_heads_, key_dim=embed_dim)
    outputs = mha(input_sequence[None].astype("float32"), input_sequence[None].astype("float32"))
    assert outputs.shape == (1, 5, embed_dim)

    pe = PositionalEmbedding(sequence_length, vocab_size, embed_dim)
    toks = np.array([[3, 4, 0, 0]])
    out = pe(toks)
    np.testing.assert_allclose(
        out.numpy()[0],
        pe.token_embeddings.embeddings.numpy()[[3, 4, 0, 0]]
        + pe.position_embeddings.embeddings.numpy()[:4], rtol=1e-6)
    np.testing.assert_array_equal(pe.compute_mask(toks).numpy(), [[True, True, False, False]])

    inputs = keras.Input(shape=(None,), dtype="int64")
    x = PositionalEmbedding(sequence_length, vocab_size, embed_dim)(inputs)
    x = TransformerEncoder(embed_dim, dense_dim, num_heads)(x)
    x = layers.GlobalMaxPooling1D()(x)
    x = layers.Dropout(0.5)(x)
    outputs = layers.Dense(1, activation="sigmoid")(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="rmsprop",
                  loss="binary_crossentropy",
                  metrics=["accuracy"])
    lines = []
    model.summary(print_fn=lines.append)
    xs = rng.integers(1, vocab_size, (64, sequence_length))
    ys = (xs[:, :3] < 10).any(axis=1).astype("float32")
    xs[::3, 7:] = 0   # some padding, masked by PositionalEmbedding.compute_mask
    path = str(tmp_path / "full_transformer_encoder.keras")
    callbacks = [keras.callbacks.ModelCheckpoint(path, save_best_only=True)]
    history = model.fit(xs[:48], ys[:48], validation_data=(xs[48:], ys[48:]), epochs=4,
                        batch_size=16, callbacks=callbacks, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    model = keras.models.load_model(
        path,
        custom_objects={"TransformerEncoder": TransformerEncoder,
                        "PositionalEmbedding": PositionalEmbedding})
    assert model.layers[2].get_config()["dense_dim"] == dense_dim
    best = int(np.argmin(history.history["val_loss"]))
    np.testing.assert_allclose(model.evaluate(xs[48:], ys[48:], verbose=0)[0],
                               history.history["val_loss"][best], rtol=1e-4)
    # PositionalEmbedding's compute_mask reaches TransformerEncoder.call(mask=...) in the
    # functional model: the padded sequence's first outputs equal the unpadded one's.
    enc_model = keras.Model(model.input, model.layers[2].output)
    short = np.array([[4, 9, 2, 7]])
    padded = np.array([[4, 9, 2, 7, 0, 0, 0]])
    np.testing.assert_allclose(enc_model(padded).numpy()[:, :4], enc_model(short).numpy(),
                               rtol=1e-4, atol=1e-5)
    # The encoder's padding mask: attention ignores the padded keys.
    enc = TransformerEncoder(embed_dim, dense_dim, num_heads)
    emb = rng.normal(size=(1, 6, embed_dim)).astype("float32")
    mask = tf.constant([[True, True, True, True, False, False]])
    masked = enc(emb, mask=mask).numpy()
    junk = emb.copy()
    junk[:, 4:] = 100.0
    np.testing.assert_allclose(enc(junk, mask=mask).numpy()[:, :4], masked[:, :4], rtol=1e-4,
                               atol=1e-5)


# ----------------------------------------------------------------------------- chapter 12

def reweight_distribution(original_distribution, temperature=0.5):
    distribution = np.log(original_distribution) / temperature
    distribution = np.exp(distribution)
    return distribution / np.sum(distribution)


class TransformerDecoder(layers.Layer):
    def __init__(self, embed_dim, dense_dim, num_heads, **kwargs):
        super().__init__(**kwargs)
        self.embed_dim = embed_dim
        self.dense_dim = dense_dim
        self.num_heads = num_heads
        self.attention_1 = layers.MultiHeadAttention(
            num_heads=num_heads, key_dim=embed_dim)
        self.attention_2 = layers.MultiHeadAttention(
            num_heads=num_heads, key_dim=embed_dim)
        self.dense_proj = keras.Sequential(
            [layers.Dense(dense_dim, activation="relu"),
             layers.Dense(embed_dim), ]
        )
        self.layernorm_1 = layers.LayerNormalization()
        self.layernorm_2 = layers.LayerNormalization()
        self.layernorm_3 = layers.LayerNormalization()
        self.supports_masking = True

    def get_config(self):
        config = super().get_config()
        config.update({
            "embed_dim": self.embed_dim,
            "num_heads": self.num_heads,
            "dense_dim": self.dense_dim,
        })
        return config

    def get_causal_attention_mask(self, inputs):
        input_shape = tf.shape(inputs)
        batch_size, sequence_length = input_shape[0], input_shape[1]
        i = tf.range(sequence_length)[:, tf.newaxis]
        j = tf.range(sequence_length)
        mask = tf.cast(i >= j, dtype="int32")
        mask = tf.reshape(mask, (1, input_shape[1], input_shape[1]))
        mult = tf.concat(
            [tf.expand_dims(batch_size, -1),
             tf.constant([1, 1], dtype=tf.int32)], axis=0)
        return tf.tile(mask, mult)

    def call(self, inputs, encoder_outputs, mask=None):
        causal_mask = self.get_causal_attention_mask(inputs)
        if mask is not None:
            padding_mask = tf.cast(
                mask[:, tf.newaxis, :], dtype="int32")
            padding_mask = tf.minimum(padding_mask, causal_mask)
        else:
            padding_mask = mask
        attention_output_1 = self.attention_1(
            query=inputs,
            value=inputs,
            key=inputs,
            attention_mask=causal_mask)
        attention_output_1 = self.layernorm_1(inputs + attention_output_1)
        attention_output_2 = self.attention_2(
            query=attention_output_1,
            value=encoder_outputs,
            key=encoder_outputs,
            attention_mask=padding_mask,
        )
        attention_output_2 = self.layernorm_2(
            attention_output_1 + attention_output_2)
        proj_output = self.dense_proj(attention_output_2)
        return self.layernorm_3(attention_output_2 + proj_output)


def test_ch12_text_generation(tmp_path):
    original = np.array([0.5, 0.3, 0.15, 0.05])
    for temperature in (0.5, 1.0, 2.0):
        r = reweight_distribution(original, temperature)
        ref = original ** (1 / temperature)
        np.testing.assert_allclose(r, ref / ref.sum(), rtol=1e-12)
    assert reweight_distribution(original, 0.2)[0] > reweight_distribution(original, 1.0)[0]

    texts = ["the cat sat on the mat", "the dog sat on the log", "a cat and a dog",
             "the mat was on the <br />log", "a dog sat on a cat"] * 4
    for label in ("neg", "pos"):
        os.makedirs(tmp_path / "aclImdb" / label)
    for i, t in enumerate(texts):
        with open(tmp_path / "aclImdb" / ("neg", "pos")[i % 2] / f"{i}.txt", "w") as f:
            f.write(t)
    dataset = keras.utils.text_dataset_from_directory(
        directory=str(tmp_path / "aclImdb"), label_mode=None, batch_size=4)
    dataset = dataset.map(lambda x: tf.strings.regex_replace(x, "<br />", " "))
    all_texts = sorted(t.decode() for b in dataset for t in b.numpy())
    assert all_texts == sorted(t.replace("<br />", " ") for t in texts)
    sequence_length = 8
    vocab_size = 12   # the whole vocabulary of these texts, with "" and "[UNK]"
    text_vectorization = layers.TextVectorization(
        max_tokens=vocab_size,
        output_mode="int",
        output_sequence_length=sequence_length,
    )
    text_vectorization.adapt(dataset)

    def prepare_lm_dataset(text_batch):
        vectorized_sequences = text_vectorization(text_batch)
        x = vectorized_sequences[:, :-1]
        y = vectorized_sequences[:, 1:]
        return x, y

    lm_dataset = dataset.map(prepare_lm_dataset, num_parallel_calls=4)
    x, y = next(iter(lm_dataset))
    assert x.shape == (4, 7) and y.shape == (4, 7)
    np.testing.assert_array_equal(x.numpy()[:, 1:], y.numpy()[:, :-1])

    # The causal mask against NumPy's lower triangle, tiled over the batch.
    dec = TransformerDecoder(8, 16, 2)
    m = dec.get_causal_attention_mask(tf.zeros((3, 5, 8))).numpy()
    np.testing.assert_array_equal(m, np.broadcast_to(np.tril(np.ones((5, 5), "int32")),
                                                     (3, 5, 5)))
    assert m.dtype == np.int32

    embed_dim = 8
    latent_dim = 16
    num_heads = 2
    inputs = keras.Input(shape=(None,), dtype="int64")
    x = PositionalEmbedding(sequence_length, vocab_size, embed_dim)(inputs)
    x = TransformerDecoder(embed_dim, latent_dim, num_heads)(x, x)
    outputs = layers.Dense(vocab_size, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    model.compile(loss="sparse_categorical_crossentropy", optimizer="rmsprop")

    # Causality: the prediction at step t does not depend on the tokens after t.
    a = np.array([[2, 3, 4, 5, 6, 7, 8]])
    b = np.array([[2, 3, 4, 9, 9, 9, 9]])
    pa, pb = model.predict(a, verbose=0), model.predict(b, verbose=0)
    np.testing.assert_allclose(pa[:, :3], pb[:, :3], rtol=1e-5, atol=1e-6)

    tokens_index = dict(enumerate(text_vectorization.get_vocabulary()))

    def sample_next(predictions, temperature=1.0):
        predictions = np.asarray(predictions).astype("float64")
        predictions = np.log(predictions) / temperature
        exp_preds = np.exp(predictions)
        predictions = exp_preds / np.sum(exp_preds)
        probas = np.random.multinomial(1, predictions, 1)
        return np.argmax(probas)

    np.random.seed(0)
    onehot = np.full(vocab_size, 1e-9)
    onehot[5] = 1.0
    onehot /= onehot.sum()
    assert sample_next(onehot, temperature=0.5) == 5

    class TextGenerator(keras.callbacks.Callback):
        def __init__(self,
                     prompt,
                     generate_length,
                     model_input_length,
                     temperatures=(1.,),
                     print_freq=1):
            self.prompt = prompt
            self.generate_length = generate_length
            self.model_input_length = model_input_length
            self.temperatures = temperatures
            self.print_freq = print_freq
            self.generated = []

        def on_epoch_end(self, epoch, logs=None):
            if (epoch + 1) % self.print_freq != 0:
                return
            for temperature in self.temperatures:
                sentence = self.prompt
                for i in range(self.generate_length):
                    tokenized_sentence = text_vectorization([sentence])
                    predictions = self.model(tokenized_sentence)
                    next_token = sample_next(predictions[0, i, :], temperature)
                    sampled_token = tokens_index[next_token]
                    sentence += " " + sampled_token
                self.generated.append(sentence)

    prompt = "the"
    text_gen_callback = TextGenerator(
        prompt,
        generate_length=4,
        model_input_length=sequence_length,
        temperatures=(0.2, 1.5))
    history = model.fit(lm_dataset, epochs=3, callbacks=[text_gen_callback], verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert len(text_gen_callback.generated) == 6
    # Each step appends " " + a vocabulary entry (which may be "" or "[UNK]").
    vocab = set(tokens_index.values())
    for s in text_gen_callback.generated:
        words = s.split(" ")
        assert words[0] == "the" and len(words) == 5 and set(words[1:]) <= vocab


class Sampler(layers.Layer):
    def call(self, z_mean, z_log_var):
        batch_size = tf.shape(z_mean)[0]
        z_size = tf.shape(z_mean)[1]
        epsilon = tf.random.normal(shape=(batch_size, z_size))
        return z_mean + tf.exp(0.5 * z_log_var) * epsilon


@needs_mnist
def test_ch12_vae():
    latent_dim = 2
    encoder_inputs = keras.Input(shape=(28, 28, 1))
    x = layers.Conv2D(
        8, 3, activation="relu", strides=2, padding="same")(encoder_inputs)
    x = layers.Conv2D(16, 3, activation="relu", strides=2, padding="same")(x)
    x = layers.Flatten()(x)
    x = layers.Dense(16, activation="relu")(x)
    z_mean = layers.Dense(latent_dim, name="z_mean")(x)
    z_log_var = layers.Dense(latent_dim, name="z_log_var")(x)
    encoder = keras.Model(encoder_inputs, [z_mean, z_log_var], name="encoder")
    lines = []
    encoder.summary(print_fn=lines.append)

    latent_inputs = keras.Input(shape=(latent_dim,))
    x = layers.Dense(7 * 7 * 16, activation="relu")(latent_inputs)
    x = layers.Reshape((7, 7, 16))(x)
    x = layers.Conv2DTranspose(16, 3, activation="relu", strides=2, padding="same")(x)
    x = layers.Conv2DTranspose(8, 3, activation="relu", strides=2, padding="same")(x)
    decoder_outputs = layers.Conv2D(1, 3, activation="sigmoid", padding="same")(x)
    decoder = keras.Model(latent_inputs, decoder_outputs, name="decoder")
    assert decoder.output_shape == (None, 28, 28, 1)

    # The sampler: z = mean + exp(log_var / 2) * eps, eps ~ N(0, 1).
    zm = np.full((4000, 2), 3.0, "float32")
    zl = np.full((4000, 2), np.log(4.0), "float32")
    z = Sampler()(zm, zl).numpy()
    assert abs(z.mean() - 3.0) < 0.1 and abs(z.std() - 2.0) < 0.1

    class VAE(keras.Model):
        def __init__(self, encoder, decoder, **kwargs):
            super().__init__(**kwargs)
            self.encoder = encoder
            self.decoder = decoder
            self.sampler = Sampler()
            self.total_loss_tracker = keras.metrics.Mean(name="total_loss")
            self.reconstruction_loss_tracker = keras.metrics.Mean(
                name="reconstruction_loss")
            self.kl_loss_tracker = keras.metrics.Mean(name="kl_loss")

        @property
        def metrics(self):
            return [self.total_loss_tracker,
                    self.reconstruction_loss_tracker,
                    self.kl_loss_tracker]

        def train_step(self, data):
            with tf.GradientTape() as tape:
                z_mean, z_log_var = self.encoder(data)
                z = self.sampler(z_mean, z_log_var)
                reconstruction = decoder(z)
                reconstruction_loss = tf.reduce_mean(
                    tf.reduce_sum(
                        keras.losses.binary_crossentropy(data, reconstruction),
                        axis=(1, 2)
                    )
                )
                kl_loss = -0.5 * (1 + z_log_var - tf.square(z_mean) - tf.exp(z_log_var))
                total_loss = reconstruction_loss + tf.reduce_mean(kl_loss)
            grads = tape.gradient(total_loss, self.trainable_weights)
            self.optimizer.apply_gradients(zip(grads, self.trainable_weights))
            self.total_loss_tracker.update_state(total_loss)
            self.reconstruction_loss_tracker.update_state(reconstruction_loss)
            self.kl_loss_tracker.update_state(kl_loss)
            return {
                "total_loss": self.total_loss_tracker.result(),
                "reconstruction_loss": self.reconstruction_loss_tracker.result(),
                "kl_loss": self.kl_loss_tracker.result(),
            }

    (x_train, _), (x_test, _) = keras.datasets.mnist.load_data()
    mnist_digits = np.concatenate([x_train[:192], x_test[:64]], axis=0)
    mnist_digits = np.expand_dims(mnist_digits, -1).astype("float32") / 255

    vae = VAE(encoder, decoder)
    vae.compile(optimizer=keras.optimizers.Adam(), run_eagerly=True)
    history = vae.fit(mnist_digits, epochs=3, batch_size=64, verbose=0)
    assert set(history.history) == {"total_loss", "reconstruction_loss", "kl_loss"}
    assert history.history["total_loss"][-1] < history.history["total_loss"][0]

    n = 3
    digit_size = 28
    figure = np.zeros((digit_size * n, digit_size * n))
    grid_x = np.linspace(-1, 1, n)
    grid_y = np.linspace(-1, 1, n)[::-1]
    for i, yi in enumerate(grid_y):
        for j, xi in enumerate(grid_x):
            z_sample = np.array([[xi, yi]])
            x_decoded = vae.decoder.predict(z_sample, verbose=0)
            digit = x_decoded[0].reshape(digit_size, digit_size)
            figure[
                i * digit_size: (i + 1) * digit_size,
                j * digit_size: (j + 1) * digit_size,
            ] = digit
    assert figure.min() >= 0 and figure.max() <= 1
    # The reconstruction term against NumPy for a fixed z.
    zz = np.array([[0.3, -0.2]], "float32")
    rec = decoder(zz).numpy()
    target = mnist_digits[:1]
    p = np.clip(rec.astype(np.float64), 1e-7, 1 - 1e-7)
    bce = -(target * np.log(p) + (1 - target) * np.log(1 - p)).mean(axis=-1).sum()
    got = tf.reduce_sum(keras.losses.binary_crossentropy(target, rec), axis=(1, 2))
    np.testing.assert_allclose(float(got[0]), bce, rtol=1e-4)


def test_ch12_gan(tmp_path):
    pytest.importorskip("PIL")
    from PIL import Image
    rng = np.random.default_rng(0)
    img_dir = tmp_path / "celeba_gan" / "img_align_celeba"
    os.makedirs(img_dir)
    for i in range(16):
        a = rng.integers(0, 255, (20, 18, 3)).astype(np.uint8)
        Image.fromarray(a).save(str(img_dir / f"{i:06d}.png"))
    dataset = keras.utils.image_dataset_from_directory(
        str(tmp_path / "celeba_gan"),
        label_mode=None,
        image_size=(16, 16),
        batch_size=8,
        smart_resize=True)
    dataset = dataset.map(lambda x: x / 255.)
    for x in dataset:
        assert x.shape == (8, 16, 16, 3) and x.dtype == tf.float32
        assert 0.0 <= float(tf.reduce_min(x)) and float(tf.reduce_max(x)) <= 1.0
        break

    discriminator = keras.Sequential(
        [
            keras.Input(shape=(16, 16, 3)),
            layers.Conv2D(8, kernel_size=4, strides=2, padding="same"),
            layers.LeakyReLU(alpha=0.2),
            layers.Conv2D(16, kernel_size=4, strides=2, padding="same"),
            layers.LeakyReLU(alpha=0.2),
            layers.Flatten(),
            layers.Dropout(0.2),
            layers.Dense(1, activation="sigmoid"),
        ],
        name="discriminator",
    )
    latent_dim = 16
    generator = keras.Sequential(
        [
            keras.Input(shape=(latent_dim,)),
            layers.Dense(4 * 4 * 16),
            layers.Reshape((4, 4, 16)),
            layers.Conv2DTranspose(16, kernel_size=4, strides=2, padding="same"),
            layers.LeakyReLU(alpha=0.2),
            layers.Conv2DTranspose(8, kernel_size=4, strides=2, padding="same"),
            layers.LeakyReLU(alpha=0.2),
            layers.Conv2D(3, kernel_size=5, padding="same", activation="sigmoid"),
        ],
        name="generator",
    )
    assert generator.output_shape == (None, 16, 16, 3)
    lrelu = layers.LeakyReLU(alpha=0.2)
    v = np.array([-2.0, -0.5, 0.0, 1.5], "float32")
    np.testing.assert_allclose(lrelu(v).numpy(), np.where(v > 0, v, 0.2 * v), rtol=1e-6)

    class GAN(keras.Model):
        def __init__(self, discriminator, generator, latent_dim):
            super().__init__()
            self.discriminator = discriminator
            self.generator = generator
            self.latent_dim = latent_dim
            self.d_loss_metric = keras.metrics.Mean(name="d_loss")
            self.g_loss_metric = keras.metrics.Mean(name="g_loss")

        def compile(self, d_optimizer, g_optimizer, loss_fn):
            super(GAN, self).compile()
            self.d_optimizer = d_optimizer
            self.g_optimizer = g_optimizer
            self.loss_fn = loss_fn

        @property
        def metrics(self):
            return [self.d_loss_metric, self.g_loss_metric]

        def train_step(self, real_images):
            batch_size = tf.shape(real_images)[0]
            random_latent_vectors = tf.random.normal(
                shape=(batch_size, self.latent_dim))
            generated_images = self.generator(random_latent_vectors)
            combined_images = tf.concat([generated_images, real_images], axis=0)
            labels = tf.concat(
                [tf.ones((batch_size, 1)), tf.zeros((batch_size, 1))],
                axis=0
            )
            labels += 0.05 * tf.random.uniform(tf.shape(labels))

            with tf.GradientTape() as tape:
                predictions = self.discriminator(combined_images)
                d_loss = self.loss_fn(labels, predictions)
            grads = tape.gradient(d_loss, self.discriminator.trainable_weights)
            self.d_optimizer.apply_gradients(
                zip(grads, self.discriminator.trainable_weights)
            )

            random_latent_vectors = tf.random.normal(
                shape=(batch_size, self.latent_dim))

            misleading_labels = tf.zeros((batch_size, 1))

            with tf.GradientTape() as tape:
                predictions = self.discriminator(
                    self.generator(random_latent_vectors))
                g_loss = self.loss_fn(misleading_labels, predictions)
            grads = tape.gradient(g_loss, self.generator.trainable_weights)
            self.g_optimizer.apply_gradients(
                zip(grads, self.generator.trainable_weights))

            self.d_loss_metric.update_state(d_loss)
            self.g_loss_metric.update_state(g_loss)
            return {"d_loss": self.d_loss_metric.result(),
                    "g_loss": self.g_loss_metric.result()}

    out_dir = str(tmp_path)

    class GANMonitor(keras.callbacks.Callback):
        def __init__(self, num_img=3, latent_dim=128):
            self.num_img = num_img
            self.latent_dim = latent_dim

        def on_epoch_end(self, epoch, logs=None):
            random_latent_vectors = tf.random.normal(shape=(self.num_img, self.latent_dim))
            generated_images = self.model.generator(random_latent_vectors)
            generated_images *= 255
            generated_images.numpy()
            for i in range(self.num_img):
                img = keras.utils.array_to_img(generated_images[i])
                img.save(os.path.join(out_dir, f"generated_img_{epoch:03d}_{i}.png"))

    epochs = 2
    gan = GAN(discriminator=discriminator, generator=generator, latent_dim=latent_dim)
    gan.compile(
        d_optimizer=keras.optimizers.Adam(learning_rate=0.0001),
        g_optimizer=keras.optimizers.Adam(learning_rate=0.0001),
        loss_fn=keras.losses.BinaryCrossentropy(),
    )
    g_before = [w.numpy() for w in generator.weights]
    history = gan.fit(dataset, epochs=epochs,
                      callbacks=[GANMonitor(num_img=2, latent_dim=latent_dim)], verbose=0)
    assert set(history.history) == {"d_loss", "g_loss"}
    assert all(np.isfinite(history.history["d_loss"] + history.history["g_loss"]))
    assert any(not np.array_equal(a, w.numpy()) for a, w in zip(g_before, generator.weights))
    img = Image.open(os.path.join(out_dir, "generated_img_001_1.png"))
    assert img.size == (16, 16) and img.mode == "RGB"
