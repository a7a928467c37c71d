"""keras.io examples in their Keras 3 form (`import keras`, `from keras import layers, ops`) as
their code runs with `from nabi import keras`: the example's code with the import lines changed,
tiny synthetic data in place of the downloads, fewer epochs and narrower layers. The Keras 2
forms of other examples are in test_keras_io_examples.py. Numbers are checked against NumPy
where cheap (a forward pass, a loss, a vocabulary); otherwise shapes, dtypes and a falling loss."""
import os
import re
import string

import numpy as np
import pytest

import nabi as tf
import nabi.data as tf_data
import nabi.strings as tf_strings
from nabi import keras
from nabi.keras import layers, ops
from reference_conv import conv2d, conv2d_backward_data, same_pads


@pytest.fixture(autouse=True)
def _clean_state():
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    yield


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _bce(y, p, eps=1e-7):
    p = np.clip(p, eps, 1 - eps)
    return -(y * np.log(p) + (1 - y) * np.log(1 - p))


# ----------------------------------------------------------------------------------------------
# nlp/text_classification_from_scratch.py (Keras 3)
# ----------------------------------------------------------------------------------------------

_POS = ["a great wonderful film", "loved it, <br />superb acting!", "great fun. wonderful",
        "superb; loved the story", "wonderful wonderful cast"]
_NEG = ["a terrible boring film", "hated it, <br />awful acting!", "boring. terrible plot",
        "awful; hated the story", "terrible terrible cast"]


def _write_reviews(root):
    for split in ("train", "test"):
        for label, texts in (("neg", _NEG), ("pos", _POS)):
            d = os.path.join(root, split, label)
            os.makedirs(d)
            for i in range(8 if split == "train" else 2):
                with open(os.path.join(d, f"{i}_1.txt"), "w") as f:
                    f.write(texts[i % len(texts)])


def test_text_classification_from_scratch(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _write_reviews("aclImdb")
    batch_size = 4
    raw_train_ds = keras.utils.text_dataset_from_directory(
        "aclImdb/train", batch_size=batch_size, validation_split=0.25, subset="training",
        seed=1337)
    raw_val_ds = keras.utils.text_dataset_from_directory(
        "aclImdb/train", batch_size=batch_size, validation_split=0.25, subset="validation",
        seed=1337)
    raw_test_ds = keras.utils.text_dataset_from_directory("aclImdb/test", batch_size=batch_size)
    assert raw_train_ds.class_names == ["neg", "pos"]
    n_train = sum(int(y.shape[0]) for _, y in raw_train_ds)
    n_val = sum(int(y.shape[0]) for _, y in raw_val_ds)
    assert (n_train, n_val) == (12, 4)
    for text_batch, label_batch in raw_train_ds.take(1):
        assert text_batch.dtype == tf.string and label_batch.dtype == tf.int32
        t = text_batch.numpy()[0].decode()
        assert t in (_POS + _NEG)
        assert int(label_batch.numpy()[0]) == (1 if t in _POS else 0)

    def custom_standardization(input_data):
        lowercase = tf.strings.lower(input_data)
        stripped_html = tf.strings.regex_replace(lowercase, "<br />", " ")
        return tf.strings.regex_replace(stripped_html, f"[{re.escape(string.punctuation)}]", "")

    max_features = 20
    embedding_dim = 8
    sequence_length = 12
    vectorize_layer = keras.layers.TextVectorization(
        standardize=custom_standardization, max_tokens=max_features, output_mode="int",
        output_sequence_length=sequence_length)
    text_ds = raw_train_ds.map(lambda x, y: x)
    vectorize_layer.adapt(text_ds)

    # NumPy/Python reference of the vocabulary: "" and "[UNK]", then by falling count
    train_texts = [t.decode() for b, _ in raw_train_ds for t in b.numpy()]
    punct = re.compile(f"[{re.escape(string.punctuation)}]")
    words = [w for t in train_texts for w in punct.sub("", t.lower().replace("<br />", " ")).split()]
    counts = {}
    for w in words:
        counts[w] = counts.get(w, 0) + 1
    vocab = vectorize_layer.get_vocabulary()
    assert vocab[:2] == ["", "[UNK]"]
    assert len(vocab) == min(max_features, len(counts) + 2)
    got_counts = [counts[w] for w in vocab[2:]]
    assert got_counts == sorted(got_counts, reverse=True)
    assert set(vocab[2:]) <= set(counts)

    def vectorize_text(text, label):
        text = tf.expand_dims(text, -1)
        return vectorize_layer(text), label

    train_ds = raw_train_ds.map(vectorize_text)
    val_ds = raw_val_ds.map(vectorize_text)
    test_ds = raw_test_ds.map(vectorize_text)
    train_ds = train_ds.cache().prefetch(buffer_size=10)
    val_ds = val_ds.cache().prefetch(buffer_size=10)
    test_ds = test_ds.cache().prefetch(buffer_size=10)

    for (xb, yb), (tb, _) in zip(train_ds.take(1), raw_train_ds.take(1)):
        assert xb.shape == (batch_size, sequence_length) and xb.dtype == tf.int64
        index = {w: i for i, w in enumerate(vocab)}
        t = punct.sub("", tb.numpy()[0].decode().lower().replace("<br />", " ")).split()
        ref = [index.get(w, 1) for w in t] + [0] * (sequence_length - len(t))
        np.testing.assert_array_equal(xb.numpy()[0], ref)

    inputs = keras.Input(shape=(None,), dtype="int64")
    x = layers.Embedding(max_features, embedding_dim)(inputs)
    x = layers.Dropout(0.5)(x)
    x = layers.Conv1D(8, 3, padding="valid", activation="relu", strides=1)(x)
    x = layers.Conv1D(8, 3, padding="valid", activation="relu", strides=2)(x)
    x = layers.GlobalMaxPooling1D()(x)
    x = layers.Dense(8, activation="relu")(x)
    x = layers.Dropout(0.5)(x)
    predictions = layers.Dense(1, activation="sigmoid", name="predictions")(x)
    model = keras.Model(inputs, predictions)
    model.compile(loss="binary_crossentropy", optimizer=keras.optimizers.Adam(0.02),
                  metrics=["accuracy"])
    l0 = model.evaluate(train_ds, verbose=0)[0]
    history = model.fit(train_ds, validation_data=val_ds, epochs=15, verbose=0)
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert history.history["loss"][-1] < l0
    test_loss, test_acc = model.evaluate(test_ds, verbose=0)

    # the end-to-end model on raw strings gives the same numbers
    inputs = keras.Input(shape=(1,), dtype="string")
    indices = vectorize_layer(inputs)
    outputs = model(indices)
    end_to_end_model = keras.Model(inputs, outputs)
    end_to_end_model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
    e2e_loss, e2e_acc = end_to_end_model.evaluate(raw_test_ds, verbose=0)
    np.testing.assert_allclose(e2e_loss, test_loss, rtol=1e-5)
    np.testing.assert_allclose(e2e_acc, test_acc, rtol=1e-6)
    p = end_to_end_model.predict(tf.constant([["a great wonderful film"]]), verbose=0)
    assert p.shape == (1, 1) and p.dtype == np.float32


# ----------------------------------------------------------------------------------------------
# timeseries/timeseries_anomaly_detection.py (Keras 3)
# ----------------------------------------------------------------------------------------------

def _np_conv1d_same(x, k, b, s):
    pads = (0, 0) + same_pads(x.shape[1], k.shape[0], s)
    return conv2d(x[:, None], k[None], (1, s), pads=pads)[:, 0] + b


def _np_conv1d_transpose_same(x, k, b, s):
    """Conv1DTranspose(padding='same'), kernel (kw, out, in): the adjoint of a SAME conv."""
    n, w, _ = x.shape
    shape = (n, 1, w * s, k.shape[1])
    pads = (0, 0) + same_pads(w * s, k.shape[0], s)
    return conv2d_backward_data(x[:, None], shape, k[None], (1, s), pads=pads)[:, 0] + b


def test_timeseries_anomaly_detection():
    rng = np.random.default_rng(0)
    t = np.arange(400)
    small_noise = 20 + 5 * np.sin(2 * np.pi * t / 24) + rng.normal(0, 0.3, t.shape)
    daily_jumpsup = 20 + 5 * np.sin(2 * np.pi * t / 24) + rng.normal(0, 0.3, t.shape)
    daily_jumpsup[300:306] += 40  # the anomaly
    df_small_noise = small_noise[:, None]
    df_daily_jumpsup = daily_jumpsup[:, None]

    training_mean = df_small_noise.mean()
    training_std = df_small_noise.std()
    df_training_value = (df_small_noise - training_mean) / training_std
    TIME_STEPS = 24

    def create_sequences(values, time_steps=TIME_STEPS):
        output = []
        for i in range(len(values) - time_steps + 1):
            output.append(values[i: (i + time_steps)])
        return np.stack(output)

    x_train = create_sequences(df_training_value).astype("float32")
    assert x_train.shape == (400 - TIME_STEPS + 1, TIME_STEPS, 1)

    model = keras.Sequential([
        layers.Input(shape=(x_train.shape[1], x_train.shape[2])),
        layers.Conv1D(filters=8, kernel_size=7, padding="same", strides=2, activation="relu"),
        layers.Dropout(rate=0.2),
        layers.Conv1D(filters=4, kernel_size=7, padding="same", strides=2, activation="relu"),
        layers.Conv1DTranspose(filters=4, kernel_size=7, padding="same", strides=2,
                               activation="relu"),
        layers.Dropout(rate=0.2),
        layers.Conv1DTranspose(filters=8, kernel_size=7, padding="same", strides=2,
                               activation="relu"),
        layers.Conv1DTranspose(filters=1, kernel_size=7, padding="same"),
    ])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.01), loss="mse")
    assert model.output_shape == (None, TIME_STEPS, 1)
    shapes = [tuple(w.shape) for w in model.weights]
    assert shapes == [(7, 1, 8), (8,), (7, 8, 4), (4,), (7, 4, 4), (4,), (7, 8, 4), (8,),
                      (7, 1, 8), (1,)]

    # forward pass at the initial weights against NumPy
    w = [v.numpy().astype(np.float64) for v in model.weights]
    xs = x_train[:5].astype(np.float64)
    h = np.maximum(_np_conv1d_same(xs, w[0], w[1], 2), 0)
    h = np.maximum(_np_conv1d_same(h, w[2], w[3], 2), 0)
    h = np.maximum(_np_conv1d_transpose_same(h, w[4], w[5], 2), 0)
    h = np.maximum(_np_conv1d_transpose_same(h, w[6], w[7], 2), 0)
    ref = _np_conv1d_transpose_same(h, w[8], w[9], 1)
    got = model.predict(x_train[:5], verbose=0)
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-5)

    history = model.fit(
        x_train, x_train, epochs=12, batch_size=64, validation_split=0.1, verbose=0,
        callbacks=[keras.callbacks.EarlyStopping(monitor="val_loss", patience=5, mode="min")])
    assert history.history["loss"][-1] < history.history["loss"][0]

    x_train_pred = model.predict(x_train, verbose=0)
    train_mae_loss = np.mean(np.abs(x_train_pred - x_train), axis=1)
    threshold = np.max(train_mae_loss)

    df_test_value = (df_daily_jumpsup - training_mean) / training_std
    x_test = create_sequences(df_test_value).astype("float32")
    x_test_pred = model.predict(x_test, verbose=0)
    test_mae_loss = np.mean(np.abs(x_test_pred - x_test), axis=1).reshape((-1))
    anomalies = test_mae_loss > threshold
    # every window over the jump is flagged, and nothing far from it
    assert anomalies[300 - TIME_STEPS + 1: 306].all()
    assert not anomalies[:200].any()
    anomalous_data_indices = []
    for data_idx in range(TIME_STEPS - 1, len(df_test_value) - TIME_STEPS + 1):
        if np.all(anomalies[data_idx - TIME_STEPS + 1: data_idx]):
            anomalous_data_indices.append(data_idx)
    assert set(range(305, 306 + 1)) & set(anomalous_data_indices)


# ----------------------------------------------------------------------------------------------
# structured_data/collaborative_filtering_movielens.py (Keras 3)
# ----------------------------------------------------------------------------------------------

class RecommenderNet(keras.Model):
    def __init__(self, num_users, num_movies, embedding_size, **kwargs):
        super().__init__(**kwargs)
        self.num_users = num_users
        self.num_movies = num_movies
        self.embedding_size = embedding_size
        self.user_embedding = layers.Embedding(
            num_users, embedding_size, embeddings_initializer="he_normal",
            embeddings_regularizer=keras.regularizers.l2(1e-6))
        self.user_bias = layers.Embedding(num_users, 1)
        self.movie_embedding = layers.Embedding(
            num_movies, embedding_size, embeddings_initializer="he_normal",
            embeddings_regularizer=keras.regularizers.l2(1e-6))
        self.movie_bias = layers.Embedding(num_movies, 1)

    def call(self, inputs):
        user_vector = self.user_embedding(inputs[:, 0])
        user_bias = self.user_bias(inputs[:, 0])
        movie_vector = self.movie_embedding(inputs[:, 1])
        movie_bias = self.movie_bias(inputs[:, 1])
        dot_user_movie = ops.tensordot(user_vector, movie_vector, 2)
        # Add all the components (including bias)
        x = dot_user_movie + user_bias + movie_bias
        # The sigmoid activation forces the rating to between 0 and 1
        return ops.nn.sigmoid(x)


def test_collaborative_filtering():
    rng = np.random.default_rng(0)
    num_users, num_movies, n = 12, 15, 600
    user_ids = rng.integers(100, 200, num_users)
    movie_ids = rng.integers(1000, 2000, num_movies)
    ratings_u = rng.integers(0, num_users, n)
    ratings_m = rng.integers(0, num_movies, n)
    taste = rng.normal(size=(num_users, 2)) @ rng.normal(size=(2, num_movies))
    rating = np.clip(np.round(3 + taste[ratings_u, ratings_m]), 0.5, 5.0).astype(np.float32)
    user2user_encoded = {x: i for i, x in enumerate(user_ids)}
    movie2movie_encoded = {x: i for i, x in enumerate(movie_ids)}
    user = np.array([user2user_encoded[x] for x in user_ids[ratings_u]])
    movie = np.array([movie2movie_encoded[x] for x in movie_ids[ratings_m]])
    min_rating, max_rating = rating.min(), rating.max()
    x = np.stack([user, movie], axis=1)
    y = (rating - min_rating) / (max_rating - min_rating)
    train_indices = int(0.9 * n)
    x_train, x_val, y_train, y_val = x[:train_indices], x[train_indices:], \
        y[:train_indices], y[train_indices:]

    EMBEDDING_SIZE = 4
    model = RecommenderNet(num_users, num_movies, EMBEDDING_SIZE)
    model.compile(loss=keras.losses.BinaryCrossentropy(),
                  optimizer=keras.optimizers.Adam(learning_rate=0.01))

    # forward pass: ops.tensordot(u, m, 2) sums over both the batch and embedding axes, so one
    # scalar is added to every row's biases (the example's quirk, kept as it is written)
    xb = x_val[:16]
    p = model.predict(xb, batch_size=16, verbose=0)
    U, bu, M, bm = [v.numpy().astype(np.float64) for v in
                    (model.user_embedding.embeddings, model.user_bias.embeddings,
                     model.movie_embedding.embeddings, model.movie_bias.embeddings)]
    s = np.sum(U[xb[:, 0]] * M[xb[:, 1]])
    ref = _sigmoid(s + bu[xb[:, 0]] + bm[xb[:, 1]])
    assert p.shape == (16, 1) and p.dtype == np.float32
    np.testing.assert_allclose(p, ref, rtol=1e-5, atol=1e-6)

    # evaluate: the BCE of the batch plus the two l2(1e-6) penalties of the whole tables
    loss = model.evaluate(xb, y_val[:16], batch_size=16, verbose=0)
    ref_loss = np.mean(_bce(y_val[:16, None].astype(np.float64), ref)) \
        + 1e-6 * (np.sum(U ** 2) + np.sum(M ** 2))
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-5)

    # the per-epoch loss is noisy (the dot product sums over the shuffled batch), so the fall
    # is measured by evaluate on fixed batches before and after training
    l0 = model.evaluate(x_train, y_train, batch_size=64, verbose=0)
    history = model.fit(x=x_train, y=y_train, batch_size=64, epochs=8, verbose=0,
                        validation_data=(x_val, y_val))
    assert set(history.history) == {"loss", "val_loss"}
    assert model.evaluate(x_train, y_train, batch_size=64, verbose=0) < l0
    assert len(model.trainable_weights) == 4

    # top recommendations for a user
    user_id = user_ids[0]
    movies_not_watched = [[movie2movie_encoded[m]] for m in movie_ids[:10]]
    user_movie_array = np.hstack(([[user2user_encoded[user_id]]] * len(movies_not_watched),
                                  movies_not_watched))
    ratings = model.predict(user_movie_array, verbose=0).flatten()
    top_ratings_indices = ratings.argsort()[-5:][::-1]
    assert ratings.shape == (10,) and len(set(top_ratings_indices)) == 5


# ----------------------------------------------------------------------------------------------
# nlp/neural_machine_translation_with_transformer.py (Keras 3)
# ----------------------------------------------------------------------------------------------

class TransformerEncoder(layers.Layer):
    def __init__(self, embed_dim, dense_dim, num_heads, **kwargs):
        super().__init__(**kwargs)
        self.embed_dim = embed_dim
        self.dense_dim = dense_dim
        self.num_heads = num_heads
        self.attention = layers.MultiHeadAttention(num_heads=num_heads, key_dim=embed_dim)
        self.dense_proj = keras.Sequential(
            [layers.Dense(dense_dim, activation="relu"), layers.Dense(embed_dim)])
        self.layernorm_1 = layers.LayerNormalization()
        self.layernorm_2 = layers.LayerNormalization()
        self.supports_masking = True

    def call(self, inputs, mask=None):
        if mask is not None:
            padding_mask = ops.cast(mask[:, None, :], dtype="int32")
        else:
            padding_mask = None
        attention_output = self.attention(query=inputs, value=inputs, key=inputs,
                                          attention_mask=padding_mask)
        proj_input = self.layernorm_1(inputs + attention_output)
        proj_output = self.dense_proj(proj_input)
        return self.layernorm_2(proj_input + proj_output)

    def get_config(self):
        config = super().get_config()
        config.update({"embed_dim": self.embed_dim, "dense_dim": self.dense_dim,
                       "num_heads": self.num_heads})
        return config


class PositionalEmbedding(layers.Layer):
    def __init__(self, sequence_length, vocab_size, embed_dim, **kwargs):
        super().__init__(**kwargs)
        self.token_embeddings = layers.Embedding(input_dim=vocab_size, output_dim=embed_dim)
        self.position_embeddings = layers.Embedding(input_dim=sequence_length,
                                                    output_dim=embed_dim)
        self.sequence_length = sequence_length
        self.vocab_size = vocab_size
        self.embed_dim = embed_dim

    def call(self, inputs):
        length = ops.shape(inputs)[-1]
        positions = ops.arange(0, length, 1)
        embedded_tokens = self.token_embeddings(inputs)
        embedded_positions = self.position_embeddings(positions)
        return embedded_tokens + embedded_positions

    def compute_mask(self, inputs, mask=None):
        return ops.not_equal(inputs, 0)

    def get_config(self):
        config = super().get_config()
        config.update({"sequence_length": self.sequence_length, "vocab_size": self.vocab_size,
                       "embed_dim": self.embed_dim})
        return config


class TransformerDecoder(layers.Layer):
    def __init__(self, embed_dim, latent_dim, num_heads, **kwargs):
        super().__init__(**kwargs)
        self.embed_dim = embed_dim
        self.latent_dim = latent_dim
        self.num_heads = num_heads
        self.attention_1 = layers.MultiHeadAttention(num_heads=num_heads, key_dim=embed_dim)
        self.attention_2 = layers.MultiHeadAttention(num_heads=num_heads, key_dim=embed_dim)
        self.dense_proj = keras.Sequential(
            [layers.Dense(latent_dim, activation="relu"), layers.Dense(embed_dim)])
        self.layernorm_1 = layers.LayerNormalization()
        self.layernorm_2 = layers.LayerNormalization()
        self.layernorm_3 = layers.LayerNormalization()
        self.supports_masking = True

    def call(self, inputs, encoder_outputs, mask=None):
        causal_mask = self.get_causal_attention_mask(inputs)
        if mask is not None:
            padding_mask = ops.cast(mask[:, None, :], dtype="int32")
            padding_mask = ops.minimum(padding_mask, causal_mask)
        else:
            padding_mask = None
        attention_output_1 = self.attention_1(query=inputs, value=inputs, key=inputs,
                                              attention_mask=causal_mask)
        out_1 = self.layernorm_1(inputs + attention_output_1)
        attention_output_2 = self.attention_2(query=out_1, value=encoder_outputs,
                                              key=encoder_outputs, attention_mask=padding_mask)
        out_2 = self.layernorm_2(out_1 + attention_output_2)
        proj_output = self.dense_proj(out_2)
        return self.layernorm_3(out_2 + proj_output)

    def get_causal_attention_mask(self, inputs):
        input_shape = ops.shape(inputs)
        batch_size, sequence_length = input_shape[0], input_shape[1]
        i = ops.arange(sequence_length)[:, None]
        j = ops.arange(sequence_length)
        mask = ops.cast(i >= j, dtype="int32")
        mask = ops.reshape(mask, (1, input_shape[1], input_shape[1]))
        mult = ops.concatenate([ops.expand_dims(batch_size, -1), ops.convert_to_tensor([1, 1])],
                               axis=0)
        return ops.tile(mask, mult)

    def get_config(self):
        config = super().get_config()
        config.update({"embed_dim": self.embed_dim, "latent_dim": self.latent_dim,
                       "num_heads": self.num_heads})
        return config


_ENG = ["one", "two", "three", "four", "five", "red", "green", "blue"]
_SPA = ["uno", "dos", "tres", "cuatro", "cinco", "rojo", "verde", "azul"]


def test_english_to_spanish_transformer():
    rng = np.random.default_rng(0)
    text_pairs = []
    for _ in range(96):
        idx = rng.integers(0, len(_ENG), rng.integers(2, 5))
        eng = " ".join(_ENG[i] for i in idx).capitalize() + "."
        spa = "[start] " + "¿" + " ".join(_SPA[i] for i in idx).capitalize() + "? [end]"
        text_pairs.append((eng, spa))
    train_pairs, val_pairs = text_pairs[:80], text_pairs[80:]

    strip_chars = string.punctuation + "¿"
    strip_chars = strip_chars.replace("[", "")
    strip_chars = strip_chars.replace("]", "")
    vocab_size = 16
    sequence_length = 6
    batch_size = 16

    def custom_standardization(input_string):
        lowercase = tf_strings.lower(input_string)
        return tf_strings.regex_replace(lowercase, "[%s]" % re.escape(strip_chars), "")

    eng_vectorization = layers.TextVectorization(
        max_tokens=vocab_size, output_mode="int", output_sequence_length=sequence_length)
    spa_vectorization = layers.TextVectorization(
        max_tokens=vocab_size, output_mode="int", output_sequence_length=sequence_length + 1,
        standardize=custom_standardization)
    train_eng_texts = [pair[0] for pair in train_pairs]
    train_spa_texts = [pair[1] for pair in train_pairs]
    eng_vectorization.adapt(train_eng_texts)
    spa_vectorization.adapt(train_spa_texts)
    spa_vocab = spa_vectorization.get_vocabulary()
    # "[start]"/"[end]" keep their brackets; "¿", "?" and "." are stripped
    assert {"[start]", "[end]"} <= set(spa_vocab) and set(spa_vocab[2:]) <= set(_SPA) | {
        "[start]", "[end]"}
    assert set(eng_vectorization.get_vocabulary()[2:]) == set(_ENG)

    def format_dataset(eng, spa):
        eng = eng_vectorization(eng)
        spa = spa_vectorization(spa)
        return ({"encoder_inputs": eng, "decoder_inputs": spa[:, :-1]}, spa[:, 1:])

    def make_dataset(pairs):
        eng_texts, spa_texts = zip(*pairs)
        eng_texts = list(eng_texts)
        spa_texts = list(spa_texts)
        dataset = tf_data.Dataset.from_tensor_slices((eng_texts, spa_texts))
        dataset = dataset.batch(batch_size)
        dataset = dataset.map(format_dataset)
        return dataset.cache().shuffle(2048).prefetch(16)

    train_ds = make_dataset(train_pairs)
    val_ds = make_dataset(val_pairs)
    for inputs, targets in train_ds.take(1):
        assert inputs["encoder_inputs"].shape == (batch_size, sequence_length)
        assert inputs["decoder_inputs"].shape == (batch_size, sequence_length)
        assert targets.shape == (batch_size, sequence_length)
        np.testing.assert_array_equal(inputs["decoder_inputs"].numpy()[:, 0],
                                      spa_vocab.index("[start]"))

    embed_dim = 8
    latent_dim = 16
    num_heads = 2

    encoder_inputs = keras.Input(shape=(None,), dtype="int64", name="encoder_inputs")
    x = PositionalEmbedding(sequence_length, vocab_size, embed_dim)(encoder_inputs)
    encoder_outputs = TransformerEncoder(embed_dim, latent_dim, num_heads)(x)
    encoder = keras.Model(encoder_inputs, encoder_outputs)

    decoder_inputs = keras.Input(shape=(None,), dtype="int64", name="decoder_inputs")
    encoded_seq_inputs = keras.Input(shape=(None, embed_dim), name="decoder_state_inputs")
    x = PositionalEmbedding(sequence_length, vocab_size, embed_dim)(decoder_inputs)
    x = TransformerDecoder(embed_dim, latent_dim, num_heads)(x, encoded_seq_inputs)
    x = layers.Dropout(0.5)(x)
    decoder_outputs = layers.Dense(vocab_size, activation="softmax")(x)
    decoder = keras.Model([decoder_inputs, encoded_seq_inputs], decoder_outputs)

    decoder_outputs = decoder([decoder_inputs, encoder_outputs])
    transformer = keras.Model([encoder_inputs, decoder_inputs], decoder_outputs,
                              name="transformer")
    assert encoder.output_shape == (None, None, embed_dim)
    assert transformer.output_shape == (None, None, vocab_size)

    # the causal mask is the lower triangle, one per batch row
    dec_layer = [lyr for lyr in decoder.layers if isinstance(lyr, TransformerDecoder)][0]
    cm = dec_layer.get_causal_attention_mask(ops.zeros((2, 4, embed_dim)))
    assert tuple(cm.shape) == (2, 4, 4)
    np.testing.assert_array_equal(ops.convert_to_numpy(cm), np.broadcast_to(np.tril(
        np.ones((4, 4), np.int32)), (2, 4, 4)))

    transformer.summary()
    transformer.compile("rmsprop", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    l0 = transformer.evaluate(val_ds, verbose=0)[0]
    history = transformer.fit(train_ds, epochs=12, validation_data=val_ds, verbose=0)
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert history.history["val_loss"][-1] < l0

    # causality: the outputs at positions <= 2 do not depend on decoder tokens after 2
    enc = eng_vectorization(["one two three"])
    d1 = np.array([[2, 3, 4, 5, 6, 7]], np.int64)
    d2 = np.array([[2, 3, 4, 7, 7, 3]], np.int64)
    p1 = ops.convert_to_numpy(transformer([enc, d1]))
    p2 = ops.convert_to_numpy(transformer([enc, d2]))
    np.testing.assert_allclose(p1[:, :3], p2[:, :3], rtol=1e-5, atol=1e-6)
    assert not np.allclose(p1[:, 3:], p2[:, 3:])
    np.testing.assert_allclose(p1.sum(-1), 1.0, rtol=1e-5)

    spa_index_lookup = dict(zip(range(len(spa_vocab)), spa_vocab))
    max_decoded_sentence_length = sequence_length

    def decode_sequence(input_sentence):
        tokenized_input_sentence = eng_vectorization([input_sentence])
        decoded_sentence = "[start]"
        for i in range(max_decoded_sentence_length):
            tokenized_target_sentence = spa_vectorization([decoded_sentence])[:, :-1]
            predictions = transformer([tokenized_input_sentence, tokenized_target_sentence])
            sampled_token_index = ops.convert_to_numpy(ops.argmax(predictions[0, i, :])).item(0)
            sampled_token = spa_index_lookup[sampled_token_index]
            decoded_sentence += " " + sampled_token
            if sampled_token == "[end]":
                break
        return decoded_sentence

    translated = decode_sequence(val_pairs[0][0])
    assert translated.startswith("[start]")
    assert 1 <= len(translated.split()) - 1 <= max_decoded_sentence_length
    assert set(translated.split()) <= set(spa_vocab)


# ----------------------------------------------------------------------------------------------
# structured_data/structured_data_classification_with_feature_space.py (Keras 3)
# ----------------------------------------------------------------------------------------------

def _heart_frame(n, rng):
    age = rng.integers(30, 78, n).astype("float64")
    sex = rng.integers(0, 2, n)
    cp = rng.integers(0, 4, n)
    thal = rng.choice(["normal", "fixed", "reversible"], n, p=[0.5, 0.2, 0.3])
    chol = rng.normal(240, 40, n)
    thalach = rng.normal(150, 20, n)
    risk = (age - 54) / 10 + (thal == "reversible") * 1.5 + (cp == 0) * 1.0 - \
        (thalach - 150) / 20 + rng.normal(0, 0.5, n)
    target = (risk > 0.5).astype("int64")
    return {"age": age, "sex": sex, "cp": cp, "thal": thal, "chol": chol,
            "thalach": thalach}, target


def test_structured_data_classification_with_feature_space():
    from nabi.keras.utils import FeatureSpace
    rng = np.random.default_rng(0)
    frame, target = _heart_frame(160, rng)
    val = {k: v[128:] for k, v in frame.items()}
    train = {k: v[:128] for k, v in frame.items()}

    def dataframe_to_dataset(columns, labels):
        ds = tf_data.Dataset.from_tensor_slices((dict(columns), labels))
        ds = ds.shuffle(buffer_size=len(labels))
        return ds

    train_ds = dataframe_to_dataset(train, target[:128])
    val_ds = dataframe_to_dataset(val, target[128:])
    for x, y in train_ds.take(1):
        assert set(x) == set(frame) and x["thal"].dtype == tf.string and y.shape == ()
    train_ds = train_ds.batch(32)
    val_ds = val_ds.batch(32)

    feature_space = FeatureSpace(
        features={
            # Categorical features encoded as integers
            "sex": FeatureSpace.integer_categorical(num_oov_indices=0),
            "cp": FeatureSpace.integer_categorical(num_oov_indices=0),
            # Categorical feature encoded as string
            "thal": FeatureSpace.string_categorical(num_oov_indices=0),
            # Numerical features to discretize
            "age": FeatureSpace.float_discretized(num_bins=5),
            # Numerical features to normalize
            "chol": FeatureSpace.float_normalized(),
            "thalach": FeatureSpace.float_normalized(),
        },
        output_mode="concat",
    )
    with pytest.raises(ValueError, match="adapt"):
        feature_space.get_encoded_features()
    train_ds_with_no_labels = train_ds.map(lambda x, _: x)
    feature_space.adapt(train_ds_with_no_labels)

    # NumPy reference of the encoding: features in sorted-name order; lookups one-hot by the
    # vocabulary (most frequent first), discretized one-hot by bin, normalized by the
    # training mean and (population) variance
    pre = feature_space.preprocessors
    for name in ("sex", "cp", "thal"):
        vocab = list(pre[name].get_vocabulary())
        values, counts = np.unique(train[name], return_counts=True)
        assert sorted(vocab) == sorted(values.tolist())
        got_counts = [counts[list(values).index(v)] for v in vocab]
        assert got_counts == sorted(got_counts, reverse=True)
    bounds = np.asarray(pre["age"].bin_boundaries, np.float64)
    assert len(bounds) == 4 and np.all(np.diff(bounds) > 0)
    assert train["age"].min() <= bounds[0] and bounds[-1] <= train["age"].max()

    def ref_encode(cols):
        parts = []
        for name in sorted(cols):
            v = cols[name]
            if name in ("sex", "cp", "thal"):
                vocab = list(pre[name].get_vocabulary())
                parts.append(np.eye(len(vocab))[[vocab.index(t) for t in v]])
            elif name == "age":
                parts.append(np.eye(5)[np.digitize(v, bounds)])
            else:
                m, s = train[name].mean(), train[name].std()
                parts.append(((v - m) / s)[:, None])
        return np.concatenate(parts, axis=1)

    for x, _ in train_ds.take(1):
        preprocessed_x = feature_space(x)
        assert preprocessed_x.shape == (32, 5 + 1 + 4 + 2 + 3 + 1)
        assert preprocessed_x.dtype == tf.float32
        cols = {k: (v.numpy().astype(str) if k == "thal" else v.numpy()) for k, v in x.items()}
        np.testing.assert_allclose(preprocessed_x.numpy(), ref_encode(cols), rtol=1e-4,
                                   atol=1e-5)

    preprocessed_train_ds = train_ds.map(lambda x, y: (feature_space(x), y),
                                         num_parallel_calls=tf.data.AUTOTUNE)
    preprocessed_train_ds = preprocessed_train_ds.prefetch(tf.data.AUTOTUNE)
    preprocessed_val_ds = val_ds.map(lambda x, y: (feature_space(x), y),
                                     num_parallel_calls=tf.data.AUTOTUNE)
    preprocessed_val_ds = preprocessed_val_ds.prefetch(tf.data.AUTOTUNE)

    dict_inputs = feature_space.get_inputs()
    assert {k: (tuple(v.shape), v.dtype) for k, v in dict_inputs.items()} == {
        "sex": ((None, 1), tf.int32), "cp": ((None, 1), tf.int32),
        "thal": ((None, 1), tf.string), "age": ((None, 1), tf.float32),
        "chol": ((None, 1), tf.float32), "thalach": ((None, 1), tf.float32)}
    encoded_features = feature_space.get_encoded_features()
    assert tuple(encoded_features.shape) == (None, 16)

    x = keras.layers.Dense(16, activation="relu")(encoded_features)
    x = keras.layers.Dropout(0.5)(x)
    predictions = keras.layers.Dense(1, activation="sigmoid")(x)

    training_model = keras.Model(inputs=encoded_features, outputs=predictions)
    training_model.compile(optimizer=keras.optimizers.Adam(0.01), loss="binary_crossentropy",
                           metrics=["accuracy"])
    inference_model = keras.Model(inputs=dict_inputs, outputs=predictions)
    assert len(training_model.trainable_weights) == 4
    l0 = training_model.evaluate(preprocessed_val_ds, verbose=0)[0]
    training_model.fit(preprocessed_train_ds, epochs=10, validation_data=preprocessed_val_ds,
                       verbose=0)
    assert training_model.evaluate(preprocessed_val_ds, verbose=0)[0] < l0

    sample = {"age": 60, "sex": 1, "cp": 0, "thal": "reversible", "chol": 240.0,
              "thalach": 130.0}
    input_dict = {name: tf.convert_to_tensor([value]) for name, value in sample.items()}
    p = inference_model.predict(input_dict, verbose=0)
    assert p.shape == (1, 1)
    # the inference model is the feature space followed by the training model
    enc = feature_space(sample)
    assert tuple(enc.shape) == (16,)
    np.testing.assert_allclose(p, training_model.predict(enc.numpy()[None], verbose=0),
                               rtol=1e-5)

    # the short form with feature-type strings, and output_mode="dict"
    fs = FeatureSpace(features={"sex": "integer_categorical", "thal": "string_categorical",
                                "age": "float_discretized", "chol": "float"},
                      output_mode="dict")
    fs.adapt(train_ds.map(lambda x, _: {k: x[k] for k in ("sex", "thal", "age", "chol")}))
    for x, _ in train_ds.take(1):
        d = fs(x)
    assert list(d) == ["age", "chol", "sex", "thal"]
    assert {k: tuple(v.shape) for k, v in d.items()} == {
        "age": (32, 32), "chol": (32, 1), "sex": (32, 3), "thal": (32, 4)}
    np.testing.assert_allclose(d["chol"].numpy()[:, 0], x["chol"].numpy(), rtol=1e-6)
    assert fs.preprocessors["sex"].get_vocabulary()[0] == -1   # the OOV index comes first
    # crosses (HashedCrossing) are tested in tests/test_preprocessing_gaps.py
    assert FeatureSpace.cross(feature_names=("sex", "age"), crossing_dim=64).name == "sex_X_age"


def test_model_on_an_intermediate_tensor_and_symbolic_lookup_without_oov():
    """What the FeatureSpace example relies on: keras.Model(inputs=<an intermediate tensor>)
    (Keras 3 allows it: the graph is cut there) and a num_oov_indices=0 lookup called on a
    keras.Input (its trial call must not trip the OOV check)."""
    a = keras.Input(shape=(3,), name="a")
    h = layers.Dense(4)(a)
    out = layers.Dense(1)(h)
    head = keras.Model(inputs=h, outputs=out)
    assert [lyr.name for lyr in head.layers] == [out._keras_history[0].name]
    assert len(head.weights) == 2 and head.input_shape == (None, 4)
    k, b = [w.astype(np.float64) for w in head.layers[0].get_weights()]
    xs = np.random.default_rng(0).random((5, 4)).astype("float32")
    np.testing.assert_allclose(head.predict(xs, verbose=0), xs @ k + b, rtol=1e-5)
    full = keras.Model(a, out)
    assert len(full.weights) == 4
    with pytest.raises(NotImplementedError, match="intermediate tensor"):
        head.get_config()

    lookup = layers.StringLookup(vocabulary=["x", "y"], num_oov_indices=0)
    s_in = keras.Input(shape=(1,), dtype="string")
    idx = lookup(s_in)
    assert tuple(idx.shape) == (None, 1)
    m = keras.Model(s_in, idx)
    np.testing.assert_array_equal(m.predict(tf.constant([["y"], ["x"]]), verbose=0), [[1], [0]])
    with pytest.raises(ValueError, match="num_oov_indices=0"):
        lookup(tf.constant([["z"]]))


# ----------------------------------------------------------------------------------------------
# nlp/ner_transformers.py (Keras 3)
# ----------------------------------------------------------------------------------------------

class NerTransformerBlock(layers.Layer):
    def __init__(self, embed_dim, num_heads, ff_dim, rate=0.1):
        super().__init__()
        self.att = keras.layers.MultiHeadAttention(num_heads=num_heads, key_dim=embed_dim)
        self.ffn = keras.Sequential([keras.layers.Dense(ff_dim, activation="relu"),
                                     keras.layers.Dense(embed_dim)])
        self.layernorm1 = keras.layers.LayerNormalization(epsilon=1e-6)
        self.layernorm2 = keras.layers.LayerNormalization(epsilon=1e-6)
        self.dropout1 = keras.layers.Dropout(rate)
        self.dropout2 = keras.layers.Dropout(rate)

    def call(self, inputs, training=False):
        attn_output = self.att(inputs, inputs)
        attn_output = self.dropout1(attn_output, training=training)
        out1 = self.layernorm1(inputs + attn_output)
        ffn_output = self.ffn(out1)
        ffn_output = self.dropout2(ffn_output, training=training)
        return self.layernorm2(out1 + ffn_output)


class NerTokenAndPositionEmbedding(layers.Layer):
    def __init__(self, maxlen, vocab_size, embed_dim):
        super().__init__()
        self.token_emb = keras.layers.Embedding(input_dim=vocab_size, output_dim=embed_dim)
        self.pos_emb = keras.layers.Embedding(input_dim=maxlen, output_dim=embed_dim)

    def call(self, inputs):
        maxlen = ops.shape(inputs)[-1]
        positions = ops.arange(start=0, stop=maxlen, step=1)
        position_embeddings = self.pos_emb(positions)
        token_embeddings = self.token_emb(inputs)
        return token_embeddings + position_embeddings


class NERModel(keras.Model):
    def __init__(self, num_tags, vocab_size, maxlen=128, embed_dim=32, num_heads=2, ff_dim=32):
        super().__init__()
        self.embedding_layer = NerTokenAndPositionEmbedding(maxlen, vocab_size, embed_dim)
        self.transformer_block = NerTransformerBlock(embed_dim, num_heads, ff_dim)
        self.dropout1 = layers.Dropout(0.1)
        self.ff = layers.Dense(ff_dim, activation="relu")
        self.dropout2 = layers.Dropout(0.1)
        self.ff_final = layers.Dense(num_tags, activation="softmax")

    def call(self, inputs, training=False):
        x = self.embedding_layer(inputs)
        x = self.transformer_block(x)
        x = self.dropout1(x, training=training)
        x = self.ff(x)
        x = self.dropout2(x, training=training)
        x = self.ff_final(x)
        return x


class CustomNonPaddingTokenLoss(keras.losses.Loss):
    def __init__(self, name="custom_ner_loss"):
        super().__init__(name=name)

    def call(self, y_true, y_pred):
        loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=False, reduction=None)
        loss = loss_fn(y_true, y_pred)
        mask = ops.cast((y_true > 0), dtype="float32")
        loss = loss * mask
        return ops.sum(loss) / ops.sum(mask)


def test_ner_transformers(tmp_path):
    # CoNLL-like records "length<TAB>tokens...<TAB>tags..." (tags 0 = O, 1 = PER, 2 = LOC)
    rng = np.random.default_rng(0)
    names, places, words = ["John", "Mary", "Ali"], ["Paris", "Tokyo"], ["went", "to", "saw",
                                                                          "the", "city"]
    lines = []
    for _ in range(48):
        toks, tags = [], []
        for _ in range(rng.integers(3, 7)):
            r = rng.random()
            if r < 0.25:
                toks.append(str(rng.choice(names)))
                tags.append(1)
            elif r < 0.45:
                toks.append(str(rng.choice(places)))
                tags.append(2)
            else:
                toks.append(str(rng.choice(words)))
                tags.append(0)
        lines.append("\t".join([str(len(toks))] + toks + [str(t) for t in tags]))
    path = tmp_path / "conll_train.txt"
    path.write_text("\n".join(lines) + "\n")

    mapping = {0: "[PAD]", 1: "O", 2: "PER", 3: "LOC"}
    num_tags = len(mapping)
    vocabulary = sorted({w.lower() for w in names + places + words})
    vocab_size = len(vocabulary) + 2
    lookup_layer = keras.layers.StringLookup(vocabulary=vocabulary)

    def map_record_to_training_data(record):
        record = tf.strings.split(record, sep="\t")
        length = tf.strings.to_number(record[0], out_type=tf.int32)
        tokens = record[1: length + 1]
        tags = record[length + 1:]
        tags = tf.strings.to_number(tags, out_type=tf.int64)
        tags += 1
        return tokens, tags

    def lowercase_and_convert_to_ids(tokens):
        tokens = tf.strings.lower(tokens)
        return lookup_layer(tokens)

    batch_size = 16
    train_data = tf_data.TextLineDataset(str(path))
    train_dataset = (train_data.map(map_record_to_training_data)
                     .map(lambda x, y: (lowercase_and_convert_to_ids(x), y))
                     .padded_batch(batch_size))
    for xb, yb in train_dataset.take(1):
        first = lines[0].split("\t")
        n = int(first[0])
        assert xb.shape[0] == batch_size and xb.shape == yb.shape
        ids = [vocabulary.index(w.lower()) + 1 for w in first[1: n + 1]]
        np.testing.assert_array_equal(xb.numpy()[0, :n], ids)
        np.testing.assert_array_equal(yb.numpy()[0, :n], [int(t) + 1 for t in first[n + 1:]])
        assert np.all(yb.numpy()[0, n:] == 0)   # padded_batch pads with 0 = [PAD]

    # the custom loss against NumPy: mean cross-entropy over the non-padding tokens
    y_true = np.array([[1, 2, 0], [3, 1, 1]])
    y_pred = rng.dirichlet(np.ones(num_tags), size=(2, 3)).astype("float32")
    mask = y_true > 0
    ce = -np.log(np.take_along_axis(y_pred.astype(np.float64), y_true[..., None], -1)[..., 0])
    np.testing.assert_allclose(float(CustomNonPaddingTokenLoss()(y_true, y_pred)),
                               (ce * mask).sum() / mask.sum(), rtol=1e-5)

    ner_model = NERModel(num_tags, vocab_size, embed_dim=8, num_heads=2, ff_dim=8)
    loss = CustomNonPaddingTokenLoss()
    ner_model.compile(optimizer=keras.optimizers.Adam(0.01), loss=loss)
    l0 = ner_model.evaluate(train_dataset, verbose=0)
    ner_model.fit(train_dataset, epochs=8, verbose=0)
    assert ner_model.evaluate(train_dataset, verbose=0) < l0

    def tokenize_and_convert_to_ids(text):
        tokens = text.split()
        return lowercase_and_convert_to_ids(tokens)

    sample_input = tokenize_and_convert_to_ids("John went to Paris")
    sample_input = ops.reshape(sample_input, [1, -1])
    output = ner_model.predict(sample_input, verbose=0)
    assert output.shape == (1, 4, num_tags)
    np.testing.assert_allclose(output.sum(-1), 1.0, rtol=1e-5)
    prediction = np.argmax(output, axis=-1)[0]
    prediction = [mapping[i] for i in prediction]
    assert len(prediction) == 4 and set(prediction) <= set(mapping.values())

    def calculate_metrics(dataset):
        all_true_tag_ids, all_predicted_tag_ids = [], []
        for x, y in dataset:
            output = ner_model.predict(x, verbose=0)
            predictions = np.argmax(output, axis=-1)
            predictions = np.reshape(predictions, [-1])
            true_tag_ids = np.reshape(y, [-1])
            mask = (true_tag_ids > 0) & (predictions > 0)
            all_true_tag_ids.append(true_tag_ids[mask])
            all_predicted_tag_ids.append(predictions[mask])
        return np.concatenate(all_true_tag_ids), np.concatenate(all_predicted_tag_ids)

    t, p = calculate_metrics(train_dataset)
    assert len(t) == len(p) > 0 and np.mean(t == p) > 0.5


# ----------------------------------------------------------------------------------------------
# generative/ddim.py (Keras 3; tiny: 8x8 images, widths (4, 8), one block, no KID)
# ----------------------------------------------------------------------------------------------

DDIM_IMAGE_SIZE = 8
DDIM_EMBEDDING_DIMS = 8
DDIM_EMBEDDING_MAX_FREQUENCY = 1000.0
DDIM_MIN_SIGNAL_RATE = 0.02
DDIM_MAX_SIGNAL_RATE = 0.95
DDIM_BATCH_SIZE = 4
DDIM_EMA = 0.999


def sinusoidal_embedding(x):
    embedding_min_frequency = 1.0
    frequencies = ops.exp(ops.linspace(ops.log(embedding_min_frequency),
                                       ops.log(DDIM_EMBEDDING_MAX_FREQUENCY),
                                       DDIM_EMBEDDING_DIMS // 2))
    angular_speeds = ops.cast(2.0 * np.pi * frequencies, "float32")
    embeddings = ops.concatenate([ops.sin(angular_speeds * x), ops.cos(angular_speeds * x)],
                                 axis=3)
    return embeddings


def ResidualBlock(width):
    def apply(x):
        input_width = x.shape[3]
        if input_width == width:
            residual = x
        else:
            residual = layers.Conv2D(width, kernel_size=1)(x)
        x = layers.BatchNormalization(center=False, scale=False)(x)
        x = layers.Conv2D(width, kernel_size=3, padding="same", activation="swish")(x)
        x = layers.Conv2D(width, kernel_size=3, padding="same")(x)
        x = layers.Add()([x, residual])
        return x
    return apply


def DownBlock(width, block_depth):
    def apply(x):
        x, skips = x
        for _ in range(block_depth):
            x = ResidualBlock(width)(x)
            skips.append(x)
        x = layers.AveragePooling2D(pool_size=2)(x)
        return x
    return apply


def UpBlock(width, block_depth):
    def apply(x):
        x, skips = x
        x = layers.UpSampling2D(size=2, interpolation="bilinear")(x)
        for _ in range(block_depth):
            x = layers.Concatenate()([x, skips.pop()])
            x = ResidualBlock(width)(x)
        return x
    return apply


def get_network(image_size, widths, block_depth):
    noisy_images = keras.Input(shape=(image_size, image_size, 3))
    noise_variances = keras.Input(shape=(1, 1, 1))
    e = layers.Lambda(sinusoidal_embedding, output_shape=(1, 1, DDIM_EMBEDDING_DIMS))(
        noise_variances)
    e = layers.UpSampling2D(size=image_size, interpolation="nearest")(e)
    x = layers.Conv2D(widths[0], kernel_size=1)(noisy_images)
    x = layers.Concatenate()([x, e])
    skips = []
    for width in widths[:-1]:
        x = DownBlock(width, block_depth)([x, skips])
    for _ in range(block_depth):
        x = ResidualBlock(widths[-1])(x)
    for width in reversed(widths[:-1]):
        x = UpBlock(width, block_depth)([x, skips])
    x = layers.Conv2D(3, kernel_size=1, kernel_initializer="zeros")(x)
    return keras.Model([noisy_images, noise_variances], x, name="residual_unet")


class DiffusionModel(keras.Model):
    def __init__(self, image_size, widths, block_depth):
        super().__init__()
        self.normalizer = layers.Normalization()
        self.network = get_network(image_size, widths, block_depth)
        self.ema_network = keras.models.clone_model(self.network)

    def compile(self, **kwargs):
        super().compile(**kwargs)
        self.noise_loss_tracker = keras.metrics.Mean(name="n_loss")
        self.image_loss_tracker = keras.metrics.Mean(name="i_loss")

    @property
    def metrics(self):
        return [self.noise_loss_tracker, self.image_loss_tracker]

    def denormalize(self, images):
        images = self.normalizer.mean + images * self.normalizer.variance**0.5
        return ops.clip(images, 0.0, 1.0)

    def diffusion_schedule(self, diffusion_times):
        start_angle = ops.cast(ops.arccos(DDIM_MAX_SIGNAL_RATE), "float32")
        end_angle = ops.cast(ops.arccos(DDIM_MIN_SIGNAL_RATE), "float32")
        diffusion_angles = start_angle + diffusion_times * (end_angle - start_angle)
        signal_rates = ops.cos(diffusion_angles)
        noise_rates = ops.sin(diffusion_angles)
        return noise_rates, signal_rates

    def denoise(self, noisy_images, noise_rates, signal_rates, training):
        if training:
            network = self.network
        else:
            network = self.ema_network
        pred_noises = network([noisy_images, noise_rates**2], training=training)
        pred_images = (noisy_images - noise_rates * pred_noises) / signal_rates
        return pred_noises, pred_images

    def reverse_diffusion(self, initial_noise, diffusion_steps):
        num_images = initial_noise.shape[0]
        step_size = 1.0 / diffusion_steps
        next_noisy_images = initial_noise
        for step in range(diffusion_steps):
            noisy_images = next_noisy_images
            diffusion_times = ops.ones((num_images, 1, 1, 1)) - step * step_size
            noise_rates, signal_rates = self.diffusion_schedule(diffusion_times)
            pred_noises, pred_images = self.denoise(noisy_images, noise_rates, signal_rates,
                                                    training=False)
            next_diffusion_times = diffusion_times - step_size
            next_noise_rates, next_signal_rates = self.diffusion_schedule(next_diffusion_times)
            next_noisy_images = next_signal_rates * pred_images + next_noise_rates * pred_noises
        return pred_images

    def generate(self, num_images, diffusion_steps):
        initial_noise = keras.random.normal(
            shape=(num_images, DDIM_IMAGE_SIZE, DDIM_IMAGE_SIZE, 3))
        generated_images = self.reverse_diffusion(initial_noise, diffusion_steps)
        generated_images = self.denormalize(generated_images)
        return generated_images

    def train_step(self, images):
        images = self.normalizer(images, training=True)
        noises = keras.random.normal(shape=(DDIM_BATCH_SIZE, DDIM_IMAGE_SIZE,
                                            DDIM_IMAGE_SIZE, 3))
        diffusion_times = keras.random.uniform(shape=(DDIM_BATCH_SIZE, 1, 1, 1), minval=0.0,
                                               maxval=1.0)
        noise_rates, signal_rates = self.diffusion_schedule(diffusion_times)
        noisy_images = signal_rates * images + noise_rates * noises
        with tf.GradientTape() as tape:
            pred_noises, pred_images = self.denoise(noisy_images, noise_rates, signal_rates,
                                                    training=True)
            noise_loss = self.loss(noises, pred_noises)  # used for training
            image_loss = self.loss(images, pred_images)  # only used as metric
        gradients = tape.gradient(noise_loss, self.network.trainable_weights)
        self.optimizer.apply_gradients(zip(gradients, self.network.trainable_weights))
        self.noise_loss_tracker.update_state(noise_loss)
        self.image_loss_tracker.update_state(image_loss)
        for weight, ema_weight in zip(self.network.weights, self.ema_network.weights):
            ema_weight.assign(DDIM_EMA * ema_weight + (1 - DDIM_EMA) * weight)
        return {m.name: m.result() for m in self.metrics}


def test_denoising_diffusion_implicit_models():
    # the embedding and the schedule against NumPy
    v = np.array([0.0, 0.25, 0.9], np.float32).reshape(3, 1, 1, 1)
    freqs = np.exp(np.linspace(0.0, np.log(DDIM_EMBEDDING_MAX_FREQUENCY),
                               DDIM_EMBEDDING_DIMS // 2))
    ang = 2 * np.pi * freqs * v.astype(np.float64)
    np.testing.assert_allclose(_np_of(sinusoidal_embedding(v)),
                               np.concatenate([np.sin(ang), np.cos(ang)], axis=3),
                               rtol=1e-4, atol=1e-3)

    rng = np.random.default_rng(0)
    images = rng.random((16, DDIM_IMAGE_SIZE, DDIM_IMAGE_SIZE, 3)).astype("float32")
    train_dataset = tf_data.Dataset.from_tensor_slices(images).batch(DDIM_BATCH_SIZE,
                                                                     drop_remainder=True)
    model = DiffusionModel(DDIM_IMAGE_SIZE, widths=[4, 8], block_depth=1)
    t = np.array([0.0, 0.5, 1.0], np.float32).reshape(3, 1, 1, 1)
    noise_rates, signal_rates = model.diffusion_schedule(t)
    a0, a1 = np.arccos(DDIM_MAX_SIGNAL_RATE), np.arccos(DDIM_MIN_SIGNAL_RATE)
    np.testing.assert_allclose(_np_of(signal_rates)[:, 0, 0, 0], np.cos(a0 + t[:, 0, 0, 0] *
                                                                         (a1 - a0)), rtol=1e-5)
    np.testing.assert_allclose(_np_of(noise_rates) ** 2 + _np_of(signal_rates) ** 2, 1.0,
                               rtol=1e-5)
    assert model.network.output_shape == (None, DDIM_IMAGE_SIZE, DDIM_IMAGE_SIZE, 3)
    assert len(model.ema_network.weights) == len(model.network.weights)

    model.compile(optimizer=keras.optimizers.AdamW(learning_rate=1e-3, weight_decay=1e-4),
                  loss=keras.losses.mean_absolute_error)
    model.normalizer.adapt(train_dataset)
    np.testing.assert_allclose(np.ravel(_np_of(model.normalizer.mean)),
                               images.reshape(-1, 3).mean(0), rtol=1e-4)
    ema_before = [w.numpy().copy() for w in model.ema_network.weights]
    history = model.fit(train_dataset, epochs=2, verbose=0)
    assert set(history.history) == {"n_loss", "i_loss"}
    assert np.all(np.isfinite(history.history["n_loss"]))
    moved = [not np.allclose(a, w.numpy()) for a, w in zip(ema_before,
                                                            model.ema_network.weights)]
    assert any(moved)
    # one more step: ema <- 0.999 * ema + 0.001 * (the network's weights after the step)
    ema_old = [w.numpy().astype(np.float64) for w in model.ema_network.weights]
    model.train_on_batch(images[:DDIM_BATCH_SIZE])
    for e_old, w, e in zip(ema_old, model.network.weights, model.ema_network.weights):
        np.testing.assert_allclose(e.numpy(), DDIM_EMA * e_old + (1 - DDIM_EMA) * w.numpy(),
                                   rtol=1e-5, atol=1e-6)

    generated = _np_of(model.generate(num_images=2, diffusion_steps=3))
    assert generated.shape == (2, DDIM_IMAGE_SIZE, DDIM_IMAGE_SIZE, 3)
    assert generated.dtype == np.float32 and generated.min() >= 0 and generated.max() <= 1


def _np_of(t):
    return np.asarray(ops.convert_to_numpy(t))
