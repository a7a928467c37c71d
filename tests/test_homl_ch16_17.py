"""Hands-On Machine Learning (3rd ed., Geron), chapters 16 "Natural Language Processing with
RNNs and Attention" and 17 "Autoencoders, GANs, and Diffusion Models": the notebooks' code as
it runs with `import nabi as tf` (only the import line changed), on tiny local data instead of
the downloads (a short Shakespeare-like text, short review strings, a few English/Spanish
pairs, a few hundred MNIST digits from $NABI_DATASETS or random arrays for Fashion MNIST),
fewer epochs and narrower layers. Values are checked against NumPy where that is cheap."""
import os

import numpy as np

import nabi as tf

SHAKESPEARE = """First Citizen:
Before we proceed any further, hear me speak.

All:
Speak, speak.

First Citizen:
You are all resolved rather to die than to famish?

All:
Resolved. resolved.

First Citizen:
First, you know Caius Marcius is chief enemy to the people.
""" * 2


# ================================================================== chapter 16: char-RNN
def to_dataset(sequence, length, shuffle=False, seed=None, batch_size=32):
    ds = tf.data.Dataset.from_tensor_slices(sequence)
    ds = ds.window(length + 1, shift=1, drop_remainder=True)
    ds = ds.flat_map(lambda window_ds: window_ds.batch(length + 1))
    if shuffle:
        ds = ds.shuffle(100_000, seed=seed)
    ds = ds.batch(batch_size)
    return ds.map(lambda window: (window[:, :-1], window[:, 1:])).prefetch(1)


def test_char_rnn(tmp_path):
    shakespeare_text = SHAKESPEARE
    text_vec_layer = tf.keras.layers.TextVectorization(split="character",
                                                       standardize="lower")
    text_vec_layer.adapt([shakespeare_text])
    encoded = text_vec_layer([shakespeare_text])[0]
    vocab = text_vec_layer.get_vocabulary()
    assert vocab[:2] == ["", "[UNK]"]
    # ids by decreasing frequency (ties: the later character first, as TF sorts)
    chars = list(shakespeare_text.lower())
    counts = {c: chars.count(c) for c in set(chars)}
    want_vocab = sorted(counts, key=lambda c: (-counts[c], [-ord(ch) for ch in c]))
    assert vocab[2:] == want_vocab
    np.testing.assert_array_equal(encoded.numpy(), [vocab.index(c) for c in chars])
    encoded -= 2  # drop tokens 0 (pad) and 1 (unknown), which we will not use
    n_tokens = text_vec_layer.vocabulary_size() - 2  # number of distinct chars
    dataset_size = len(encoded)
    assert dataset_size == len(shakespeare_text)

    got = list(to_dataset(text_vec_layer(["To be"])[0], length=4))
    ids = [vocab.index(c) for c in "to be"]
    assert len(got) == 1
    np.testing.assert_array_equal(got[0][0].numpy(), [ids[:4]])
    np.testing.assert_array_equal(got[0][1].numpy(), [ids[1:]])

    tf.random.set_seed(42)
    length = 20
    n = len(encoded)
    train_set = to_dataset(encoded[:n * 3 // 4], length=length, shuffle=True, seed=42)
    valid_set = to_dataset(encoded[n * 3 // 4:], length=length)
    model = tf.keras.Sequential([
        tf.keras.layers.Embedding(input_dim=n_tokens, output_dim=8),
        tf.keras.layers.GRU(32, return_sequences=True),
        tf.keras.layers.Dense(n_tokens, activation="softmax")
    ])
    model.compile(loss="sparse_categorical_crossentropy", optimizer="nadam",
                  metrics=["accuracy"])
    model_ckpt = tf.keras.callbacks.ModelCheckpoint(
        str(tmp_path / "my_shakespeare_model"), monitor="val_accuracy", save_best_only=True)
    history = model.fit(train_set, validation_data=valid_set, epochs=3, verbose=0,
                        callbacks=[model_ckpt])
    assert history.history["loss"][-1] < history.history["loss"][0]
    best = tf.keras.models.load_model(str(tmp_path / "my_shakespeare_model"))
    xb = next(iter(valid_set))[0]
    assert best.predict(xb, verbose=0).shape == (xb.shape[0], length, n_tokens)

    shakespeare_model = tf.keras.Sequential([
        text_vec_layer,
        tf.keras.layers.Lambda(lambda X: X - 2),  # no <PAD> or <UNK> tokens
        model
    ])
    y_proba = shakespeare_model.predict(["To be or not to b"], verbose=0)[0, -1]
    assert y_proba.shape == (n_tokens,)
    np.testing.assert_allclose(y_proba.sum(), 1, rtol=1e-5)
    y_pred = tf.argmax(y_proba)
    assert text_vec_layer.get_vocabulary()[y_pred + 2] in want_vocab

    log_probas = tf.math.log([[0.5, 0.4, 0.1]])  # probas = 50%, 40%, and 10%
    tf.random.set_seed(42)
    samples = tf.random.categorical(log_probas, num_samples=2000)
    assert samples.shape == (1, 2000) and samples.dtype == tf.int64
    freq = np.bincount(samples.numpy()[0], minlength=3) / 2000
    np.testing.assert_allclose(freq, [0.5, 0.4, 0.1], atol=0.05)

    def next_char(text, temperature=1):
        y_proba = shakespeare_model.predict([text], verbose=0)[0, -1:]
        rescaled_logits = tf.math.log(y_proba) / temperature
        char_id = tf.random.categorical(rescaled_logits, num_samples=1)[0, 0]
        return text_vec_layer.get_vocabulary()[char_id + 2]

    def extend_text(text, n_chars=50, temperature=1):
        for _ in range(n_chars):
            text += next_char(text, temperature)
        return text

    tf.random.set_seed(42)
    out = extend_text("to be or not to be", n_chars=5, temperature=0.01)
    assert len(out) == len("to be or not to be") + 5
    assert all(c in want_vocab for c in out[-5:])
    # a tiny temperature picks the argmax
    probs = shakespeare_model.predict(["to be or not to be"], verbose=0)[0, -1]
    assert next_char("to be or not to be", temperature=0.001) == vocab[int(np.argmax(probs)) + 2]


def to_non_overlapping_windows(sequence, length):
    ds = tf.data.Dataset.from_tensor_slices(sequence)
    ds = ds.window(length + 1, shift=length, drop_remainder=True)
    return ds.flat_map(lambda window: window.batch(length + 1))


def to_batched_dataset_for_stateful_rnn(sequence, length, batch_size=32):
    parts = np.array_split(sequence, batch_size)
    datasets = tuple(to_non_overlapping_windows(part, length) for part in parts)
    ds = tf.data.Dataset.zip(datasets).map(lambda *windows: tf.stack(windows))
    return ds.map(lambda window: (window[:, :-1], window[:, 1:])).prefetch(1)


def test_stateful_char_rnn():
    got = list(to_batched_dataset_for_stateful_rnn(tf.range(20), length=3, batch_size=2))
    xs = [x.numpy().tolist() for x, _ in got]
    ys = [y.numpy().tolist() for _, y in got]
    assert xs == [[[0, 1, 2], [10, 11, 12]], [[3, 4, 5], [13, 14, 15]],
                  [[6, 7, 8], [16, 17, 18]]]
    assert ys == [[[1, 2, 3], [11, 12, 13]], [[4, 5, 6], [14, 15, 16]],
                  [[7, 8, 9], [17, 18, 19]]]

    text_vec_layer = tf.keras.layers.TextVectorization(split="character", standardize="lower")
    text_vec_layer.adapt([SHAKESPEARE])
    encoded = text_vec_layer([SHAKESPEARE])[0].numpy() - 2
    n_tokens = text_vec_layer.vocabulary_size() - 2
    batch_size = 4
    stateful_train_set = to_batched_dataset_for_stateful_rnn(encoded, length=20,
                                                             batch_size=batch_size)
    tf.random.set_seed(42)
    model = tf.keras.Sequential([
        tf.keras.layers.Embedding(input_dim=n_tokens, output_dim=8,
                                  batch_input_shape=[batch_size, None]),
        tf.keras.layers.GRU(16, return_sequences=True, stateful=True),
        tf.keras.layers.Dense(n_tokens, activation="softmax")
    ])

    class ResetStatesCallback(tf.keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.calls = 0

        def on_epoch_begin(self, epoch, logs):
            self.calls += 1
            self.model.reset_states()

    cb = ResetStatesCallback()
    model.compile(loss="sparse_categorical_crossentropy", optimizer="nadam",
                  metrics=["accuracy"])
    history = model.fit(stateful_train_set, epochs=3, callbacks=[cb], verbose=0)
    assert cb.calls == 3
    assert history.history["loss"][-1] < history.history["loss"][0]

    # the state carries over between calls until reset_states()
    x = next(iter(stateful_train_set))[0]
    model.reset_states()
    a = model.predict_on_batch(x) if hasattr(model, "predict_on_batch") else model(x)
    b = model(x)
    model.reset_states()
    c = model(x)
    np.testing.assert_allclose(np.asarray(a), c.numpy(), rtol=1e-5)
    assert not np.allclose(b.numpy(), c.numpy())

    # copy the weights into a stateless model
    stateless_model = tf.keras.Sequential([
        tf.keras.layers.Embedding(input_dim=n_tokens, output_dim=8),
        tf.keras.layers.GRU(16, return_sequences=True),
        tf.keras.layers.Dense(n_tokens, activation="softmax")
    ])
    stateless_model.build(tf.TensorShape([None, None]))
    stateless_model.set_weights(model.get_weights())
    model.reset_states()
    np.testing.assert_allclose(stateless_model(x[:1]).numpy()[0],
                               model(x).numpy()[0], rtol=1e-4, atol=1e-6)


# ================================================================== chapter 16: sentiment
REVIEWS = ["a great movie , i loved it", "terrible film , a waste of time",
           "loved the acting , great story", "boring and terrible , i hated it",
           "what a great and fun film", "the worst movie , so boring",
           "i loved every minute", "hated it , awful acting"] * 4
LABELS = np.array([1, 0, 1, 0, 1, 0, 1, 0] * 4)


def test_sentiment_and_masking():
    raw_train_set = tf.data.Dataset.from_tensor_slices((REVIEWS, LABELS)).batch(8)
    tf.random.set_seed(42)
    vocab_size = 30
    text_vec_layer = tf.keras.layers.TextVectorization(max_tokens=vocab_size)
    text_vec_layer.adapt(raw_train_set.map(lambda reviews, labels: reviews))
    assert len(text_vec_layer.get_vocabulary()) <= vocab_size
    embed_size = 8
    model = tf.keras.Sequential([
        text_vec_layer,
        tf.keras.layers.Embedding(vocab_size, embed_size, mask_zero=True),
        tf.keras.layers.GRU(8),
        tf.keras.layers.Dense(1, activation="sigmoid")
    ])
    model.compile(loss="binary_crossentropy", optimizer="nadam", metrics=["accuracy"])
    history = model.fit(raw_train_set, epochs=4, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]

    # with masking, trailing padding changes nothing
    emb, gru = model.layers[1], model.layers[2]
    ids = text_vec_layer(["a great movie", "terrible film , a waste of time"])
    assert ids.shape == (2, 6) and int(ids[0, 3]) == 0  # punctuation is stripped
    mask = emb.compute_mask(ids)
    np.testing.assert_array_equal(mask.numpy(), ids.numpy() != 0)
    z = emb(ids)
    np.testing.assert_array_equal(z._keras_mask.numpy(), ids.numpy() != 0)  # propagated
    h_padded = gru(z, mask=mask).numpy()[0]
    h_short = gru(emb(ids[:1, :3])).numpy()[0]
    np.testing.assert_allclose(h_padded, h_short, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model(np.array(["a great movie"])).numpy(),
                               model(np.array(["a great movie"])).numpy())

    # the functional version with an explicit mask
    inputs = tf.keras.layers.Input(shape=[], dtype=tf.string)
    token_ids = text_vec_layer(inputs)
    mask = tf.math.not_equal(token_ids, 0)
    Z = tf.keras.layers.Embedding(vocab_size, embed_size)(token_ids)
    Z = tf.keras.layers.GRU(8, dropout=0.2)(Z, mask=mask)
    outputs = tf.keras.layers.Dense(1, activation="sigmoid")(Z)
    model = tf.keras.Model(inputs=[inputs], outputs=[outputs])
    model.compile(loss="binary_crossentropy", optimizer="nadam", metrics=["accuracy"])
    history = model.fit(raw_train_set, epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"][-1])

    text_vec_layer_ragged = tf.keras.layers.TextVectorization(max_tokens=vocab_size,
                                                              ragged=True)
    text_vec_layer_ragged.adapt(raw_train_set.map(lambda reviews, labels: reviews))
    r = text_vec_layer_ragged(["Great movie!", "This is DiCaprio's best role."])
    assert [len(row) for row in r.to_list()] == [2, 5]
    assert text_vec_layer(["Great movie!", "This is DiCaprio's best role."]).shape == (2, 5)


# ================================================================== chapter 16: NMT
PAIRS = [("go", "ve"), ("hi", "hola"), ("run", "corre"), ("i see", "ya veo"),
         ("i run", "yo corro"), ("you run", "tu corres"), ("i see you", "te veo"),
         ("go now", "ve ahora"), ("i go", "yo voy"), ("you go", "tu vas")]


def _nmt_data(max_length=8, vocab_size=40):
    sentences_en, sentences_es = zip(*PAIRS)
    text_vec_layer_en = tf.keras.layers.TextVectorization(
        vocab_size, output_sequence_length=max_length)
    text_vec_layer_es = tf.keras.layers.TextVectorization(
        vocab_size, output_sequence_length=max_length)
    text_vec_layer_en.adapt(sentences_en)
    text_vec_layer_es.adapt([f"startofseq {s} endofseq" for s in sentences_es])
    assert text_vec_layer_es.get_vocabulary()[2:4] in (["startofseq", "endofseq"],
                                                       ["endofseq", "startofseq"])
    X_train = tf.constant(sentences_en)
    X_train_dec = tf.constant([f"startofseq {s}" for s in sentences_es])
    Y_train = text_vec_layer_es([f"{s} endofseq" for s in sentences_es])
    return text_vec_layer_en, text_vec_layer_es, X_train, X_train_dec, Y_train


def test_encoder_decoder_nmt():
    max_length, vocab_size = 8, 40
    text_vec_layer_en, text_vec_layer_es, X_train, X_train_dec, Y_train = _nmt_data()
    assert Y_train.shape == (10, max_length)
    tf.random.set_seed(42)
    encoder_inputs = tf.keras.layers.Input(shape=[], dtype=tf.string)
    decoder_inputs = tf.keras.layers.Input(shape=[], dtype=tf.string)
    embed_size = 16
    encoder_input_ids = text_vec_layer_en(encoder_inputs)
    decoder_input_ids = text_vec_layer_es(decoder_inputs)
    encoder_embedding_layer = tf.keras.layers.Embedding(vocab_size, embed_size,
                                                        mask_zero=True)
    decoder_embedding_layer = tf.keras.layers.Embedding(vocab_size, embed_size,
                                                        mask_zero=True)
    encoder_embeddings = encoder_embedding_layer(encoder_input_ids)
    decoder_embeddings = decoder_embedding_layer(decoder_input_ids)
    encoder = tf.keras.layers.LSTM(32, return_state=True)
    encoder_outputs, *encoder_state = encoder(encoder_embeddings)
    decoder = tf.keras.layers.LSTM(32, return_sequences=True)
    decoder_outputs = decoder(decoder_embeddings, initial_state=encoder_state)
    output_layer = tf.keras.layers.Dense(vocab_size, activation="softmax")
    Y_proba = output_layer(decoder_outputs)
    model = tf.keras.Model(inputs=[encoder_inputs, decoder_inputs], outputs=[Y_proba])
    model.compile(loss="sparse_categorical_crossentropy", optimizer="nadam",
                  metrics=["accuracy"])
    history = model.fit((X_train, X_train_dec), Y_train, epochs=10, verbose=0,
                        validation_data=((X_train, X_train_dec), Y_train))
    assert history.history["loss"][-1] < history.history["loss"][0]

    def translate(sentence_en):
        translation = ""
        for word_idx in range(max_length):
            X = np.array([sentence_en])  # encoder input
            X_dec = np.array(["startofseq " + translation])  # decoder input
            y_proba = model.predict((X, X_dec), verbose=0)[0, word_idx]  # last token's probas
            predicted_word_id = np.argmax(y_proba)
            predicted_word = text_vec_layer_es.get_vocabulary()[predicted_word_id]
            if predicted_word == "endofseq":
                break
            translation += " " + predicted_word
        return translation.strip()

    out = translate("i see you")
    assert isinstance(out, str) and len(out.split()) <= max_length
    vocab_es = set(text_vec_layer_es.get_vocabulary())
    assert all(w in vocab_es for w in out.split())


def test_bidirectional_encoder_and_attention():
    max_length, vocab_size = 8, 40
    text_vec_layer_en, text_vec_layer_es, X_train, X_train_dec, Y_train = _nmt_data()
    tf.random.set_seed(42)
    encoder_inputs = tf.keras.layers.Input(shape=[], dtype=tf.string)
    decoder_inputs = tf.keras.layers.Input(shape=[], dtype=tf.string)
    embed_size = 16
    encoder_input_ids = text_vec_layer_en(encoder_inputs)
    decoder_input_ids = text_vec_layer_es(decoder_inputs)
    encoder_embeddings = tf.keras.layers.Embedding(vocab_size, embed_size,
                                                   mask_zero=True)(encoder_input_ids)
    decoder_embeddings = tf.keras.layers.Embedding(vocab_size, embed_size,
                                                   mask_zero=True)(decoder_input_ids)
    encoder = tf.keras.layers.Bidirectional(
        tf.keras.layers.LSTM(16, return_sequences=True, return_state=True))
    encoder_outputs, *encoder_state = encoder(encoder_embeddings)
    assert len(encoder_state) == 4
    encoder_state = [tf.concat(encoder_state[::2], axis=-1),  # short-term (0 & 2)
                     tf.concat(encoder_state[1::2], axis=-1)]  # long-term (1 & 3)
    assert tuple(encoder_outputs.shape) == (None, max_length, 32)
    assert tuple(encoder_state[0].shape) == (None, 32)
    decoder = tf.keras.layers.LSTM(32, return_sequences=True)
    decoder_outputs = decoder(decoder_embeddings, initial_state=encoder_state)
    attention_layer = tf.keras.layers.Attention()
    attention_outputs = attention_layer([decoder_outputs, encoder_outputs])
    output_layer = tf.keras.layers.Dense(vocab_size, activation="softmax")
    Y_proba = output_layer(attention_outputs)
    model = tf.keras.Model(inputs=[encoder_inputs, decoder_inputs], outputs=[Y_proba])
    model.compile(loss="sparse_categorical_crossentropy", optimizer="nadam",
                  metrics=["accuracy"])
    history = model.fit((X_train, X_train_dec), Y_train, epochs=5, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert model.predict((X_train[:2], X_train_dec[:2]), verbose=0).shape == \
        (2, max_length, vocab_size)


def test_attention_layer_matches_numpy():
    rng = np.random.default_rng(0)
    q = rng.standard_normal((2, 3, 4)).astype("float32")
    v = rng.standard_normal((2, 5, 4)).astype("float32")
    vmask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], bool)

    def ref(scale=1.0):
        s = scale * q @ v.transpose(0, 2, 1)
        s = np.where(vmask[:, None, :], s, -1e9)
        w = np.exp(s - s.max(-1, keepdims=True))
        w /= w.sum(-1, keepdims=True)
        return w @ v

    layer = tf.keras.layers.Attention()
    out = layer([q, v], mask=[None, vmask])
    np.testing.assert_allclose(out.numpy(), ref(), rtol=1e-5, atol=1e-6)
    layer = tf.keras.layers.Attention(use_scale=True)
    out = layer([q, v], mask=[None, vmask])
    (scale,) = layer.get_weights()
    np.testing.assert_allclose(out.numpy(), ref(float(scale)), rtol=1e-5, atol=1e-6)


class PositionalEncoding(tf.keras.layers.Layer):
    def __init__(self, max_length, embed_size, dtype=tf.float32, **kwargs):
        super().__init__(dtype=dtype, **kwargs)
        assert embed_size % 2 == 0, "embed_size must be even"
        p, i = np.meshgrid(np.arange(max_length),
                           2 * np.arange(embed_size // 2))
        pos_emb = np.empty((1, max_length, embed_size))
        pos_emb[0, :, ::2] = np.sin(p / 10_000 ** (i / embed_size)).T
        pos_emb[0, :, 1::2] = np.cos(p / 10_000 ** (i / embed_size)).T
        self.pos_encodings = tf.constant(pos_emb.astype(self.dtype))
        self.supports_masking = True

    def call(self, inputs):
        batch_max_length = tf.shape(inputs)[1]
        return inputs + self.pos_encodings[:, :batch_max_length]


def test_positional_encoding():
    layer = PositionalEncoding(10, 6)
    x = np.zeros((2, 4, 6), "float32")
    out = layer(x).numpy()
    pos = np.arange(4)[:, None]
    want = np.zeros((4, 6))
    for k in range(3):
        want[:, 2 * k] = np.sin(pos[:, 0] / 10_000 ** (2 * k / 6))
        want[:, 2 * k + 1] = np.cos(pos[:, 0] / 10_000 ** (2 * k / 6))
    np.testing.assert_allclose(out[0], want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out[1], want, rtol=1e-5, atol=1e-6)
    # masks pass through (supports_masking)
    emb = tf.keras.layers.Embedding(5, 6, mask_zero=True)
    ids = np.array([[1, 2, 0, 0]])
    assert layer.compute_mask(emb(ids), emb.compute_mask(ids)).numpy().tolist() == \
        [[True, True, False, False]]


def test_transformer():
    max_length, vocab_size = 8, 40
    text_vec_layer_en, text_vec_layer_es, X_train, X_train_dec, Y_train = _nmt_data()
    tf.random.set_seed(42)
    embed_size = 16
    encoder_inputs = tf.keras.layers.Input(shape=[], dtype=tf.string)
    decoder_inputs = tf.keras.layers.Input(shape=[], dtype=tf.string)
    encoder_input_ids = text_vec_layer_en(encoder_inputs)
    decoder_input_ids = text_vec_layer_es(decoder_inputs)
    encoder_embedding_layer = tf.keras.layers.Embedding(vocab_size, embed_size,
                                                        mask_zero=True)
    decoder_embedding_layer = tf.keras.layers.Embedding(vocab_size, embed_size,
                                                        mask_zero=True)
    encoder_embeddings = encoder_embedding_layer(encoder_input_ids)
    decoder_embeddings = decoder_embedding_layer(decoder_input_ids)

    # learned positional embeddings, as the book first shows them
    pos_embed_layer = tf.keras.layers.Embedding(max_length, embed_size)
    batch_max_len_enc = tf.shape(encoder_embeddings)[1]
    encoder_in = encoder_embeddings + pos_embed_layer(tf.range(batch_max_len_enc))
    batch_max_len_dec = tf.shape(decoder_embeddings)[1]
    decoder_in = decoder_embeddings + pos_embed_layer(tf.range(batch_max_len_dec))
    assert tuple(encoder_in.shape)[1:] == (max_length, embed_size)

    pos_embed_layer = PositionalEncoding(max_length, embed_size)
    encoder_in = pos_embed_layer(encoder_embeddings)
    decoder_in = pos_embed_layer(decoder_embeddings)

    N = 1  # instead of 6
    num_heads = 2
    dropout_rate = 0.1
    n_units = 32  # for the first Dense layer in each Feed Forward block
    encoder_pad_mask = tf.math.not_equal(encoder_input_ids, 0)[:, tf.newaxis]
    Z = encoder_in
    for _ in range(N):
        skip = Z
        attn_layer = tf.keras.layers.MultiHeadAttention(
            num_heads=num_heads, key_dim=embed_size, dropout=dropout_rate)
        Z = attn_layer(Z, value=Z, attention_mask=encoder_pad_mask)
        Z = tf.keras.layers.LayerNormalization()(tf.keras.layers.Add()([Z, skip]))
        skip = Z
        Z = tf.keras.layers.Dense(n_units, activation="relu")(Z)
        Z = tf.keras.layers.Dense(embed_size)(Z)
        Z = tf.keras.layers.Dropout(dropout_rate)(Z)
        Z = tf.keras.layers.LayerNormalization()(tf.keras.layers.Add()([Z, skip]))

    decoder_pad_mask = tf.math.not_equal(decoder_input_ids, 0)[:, tf.newaxis]
    causal_mask = tf.linalg.band_part(  # creates a lower triangular matrix
        tf.ones((batch_max_len_dec, batch_max_len_dec), tf.bool), -1, 0)

    encoder_outputs = Z  # let's save the encoder's final outputs
    Z = decoder_in  # the decoder starts with its own inputs
    for _ in range(N):
        skip = Z
        attn_layer = tf.keras.layers.MultiHeadAttention(
            num_heads=num_heads, key_dim=embed_size, dropout=dropout_rate)
        Z = attn_layer(Z, value=Z, attention_mask=causal_mask & decoder_pad_mask)
        Z = tf.keras.layers.LayerNormalization()(tf.keras.layers.Add()([Z, skip]))
        skip = Z
        attn_layer = tf.keras.layers.MultiHeadAttention(
            num_heads=num_heads, key_dim=embed_size, dropout=dropout_rate)
        Z = attn_layer(Z, value=encoder_outputs, attention_mask=encoder_pad_mask)
        Z = tf.keras.layers.LayerNormalization()(tf.keras.layers.Add()([Z, skip]))
        skip = Z
        Z = tf.keras.layers.Dense(n_units, activation="relu")(Z)
        Z = tf.keras.layers.Dense(embed_size)(Z)
        Z = tf.keras.layers.LayerNormalization()(tf.keras.layers.Add()([Z, skip]))

    Y_proba = tf.keras.layers.Dense(vocab_size, activation="softmax")(Z)
    model = tf.keras.Model(inputs=[encoder_inputs, decoder_inputs], outputs=[Y_proba])
    model.compile(loss="sparse_categorical_crossentropy", optimizer="nadam",
                  metrics=["accuracy"])
    history = model.fit((X_train, X_train_dec), Y_train, epochs=8, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    y = model.predict((X_train[:3], X_train_dec[:3]), verbose=0)
    assert y.shape == (3, max_length, vocab_size)
    np.testing.assert_allclose(y.sum(-1), 1, rtol=1e-4)

    # causality: changing a later decoder token leaves the earlier outputs alone (inference)
    a = model((tf.constant(["i see you"]), tf.constant(["startofseq te veo"])),
              training=False).numpy()
    b = model((tf.constant(["i see you"]), tf.constant(["startofseq te ahora"])),
              training=False).numpy()
    np.testing.assert_allclose(a[0, :2], b[0, :2], rtol=1e-4, atol=1e-6)
    assert not np.allclose(a[0, 2], b[0, 2])


def test_multi_head_attention_matches_numpy():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 4, 6)).astype("float32")
    mask = np.tril(np.ones((4, 4), bool))[None]
    layer = tf.keras.layers.MultiHeadAttention(num_heads=2, key_dim=3)
    out = layer(x, value=x, attention_mask=mask).numpy()
    Wq, bq, Wk, bk, Wv, bv, Wo, bo = layer.get_weights()
    q = np.einsum("btd,dhk->bthk", x, Wq) + bq
    k = np.einsum("btd,dhk->bthk", x, Wk) + bk
    v = np.einsum("btd,dhk->bthk", x, Wv) + bv
    s = np.einsum("bqhk,bshk->bhqs", q, k) / np.sqrt(3)
    s = np.where(mask[:, None], s, -1e9)
    w = np.exp(s - s.max(-1, keepdims=True))
    w /= w.sum(-1, keepdims=True)
    o = np.einsum("bhqs,bshk->bqhk", w, v)
    want = np.einsum("bqhk,hkd->bqd", o, Wo) + bo
    np.testing.assert_allclose(out, want, rtol=1e-4, atol=1e-5)


# ================================================================== chapter 17
def _fashion_like(n_train=128, n_valid=32):
    root = os.environ.get("NABI_DATASETS")
    if root and os.path.isdir(os.path.join(root, "mnist")):
        (X_train_full, _), _ = tf.keras.datasets.mnist.load_data()
        X_train_full = X_train_full[:n_train + n_valid]
    else:
        X_train_full = np.random.default_rng(0).integers(0, 256, (n_train + n_valid, 28, 28))
    X_train_full = X_train_full.astype(np.float32) / 255
    return X_train_full[:n_train], X_train_full[n_train:]


def test_stacked_and_tied_autoencoders():
    X_train, X_valid = _fashion_like()
    tf.random.set_seed(42)
    stacked_encoder = tf.keras.Sequential([
        tf.keras.layers.Flatten(),
        tf.keras.layers.Dense(32, activation="relu"),
        tf.keras.layers.Dense(8, activation="relu"),
    ])
    stacked_decoder = tf.keras.Sequential([
        tf.keras.layers.Dense(32, activation="relu"),
        tf.keras.layers.Dense(28 * 28),
        tf.keras.layers.Reshape([28, 28])
    ])
    stacked_ae = tf.keras.Sequential([stacked_encoder, stacked_decoder])
    stacked_ae.compile(loss="mse", optimizer="nadam")
    history = stacked_ae.fit(X_train, X_train, epochs=3, validation_data=(X_valid, X_valid),
                             verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert stacked_ae.predict(X_valid[:3], verbose=0).shape == (3, 28, 28)
    assert stacked_encoder.predict(X_valid[:3], verbose=0).shape == (3, 8)

    class DenseTranspose(tf.keras.layers.Layer):
        def __init__(self, dense, activation=None, **kwargs):
            super().__init__(**kwargs)
            self.dense = dense
            self.activation = tf.keras.activations.get(activation)

        def build(self, batch_input_shape):
            self.biases = self.add_weight(name="bias",
                                          shape=self.dense.input_shape[-1],
                                          initializer="zeros")
            super().build(batch_input_shape)

        def call(self, inputs):
            Z = tf.matmul(inputs, self.dense.weights[0], transpose_b=True)
            return self.activation(Z + self.biases)

    dense_1 = tf.keras.layers.Dense(32, activation="relu")
    dense_2 = tf.keras.layers.Dense(8, activation="relu")
    tied_encoder = tf.keras.Sequential([
        tf.keras.layers.Flatten(),
        dense_1,
        dense_2
    ])
    tied_decoder = tf.keras.Sequential([
        DenseTranspose(dense_2, activation="relu"),
        DenseTranspose(dense_1),
        tf.keras.layers.Reshape([28, 28])
    ])
    tied_ae = tf.keras.Sequential([tied_encoder, tied_decoder])
    tied_ae.compile(loss="mse", optimizer="nadam")
    history = tied_ae.fit(X_train, X_train, epochs=3, validation_data=(X_valid, X_valid),
                          verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    # the decoder's own weights are its biases (32 + 784); it also tracks the Dense layers it
    # holds (as Keras does), and the whole model counts each shared kernel once
    own = [w for w in tied_decoder.trainable_weights if "bias" in w.name and
           w.shape[0] in (32, 784) and not any(w is v for v in tied_encoder.weights)]
    assert sorted(int(w.shape[0]) for w in own) == [32, 784]
    assert tied_ae.count_params() == 784 * 32 + 32 + 32 * 8 + 8 + 32 + 784
    # the forward pass against NumPy
    W1, b1 = dense_1.get_weights()
    W2, b2 = dense_2.get_weights()
    c2, c1 = [la.biases.numpy() for la in tied_decoder.layers[:2]]
    x = X_valid[:4].reshape(4, -1)
    h = np.maximum(np.maximum(x @ W1 + b1, 0) @ W2 + b2, 0)
    want = np.maximum(h @ W2.T + c2, 0) @ W1.T + c1
    np.testing.assert_allclose(tied_ae(X_valid[:4]).numpy().reshape(4, -1), want,
                               rtol=1e-4, atol=1e-5)


def test_conv_denoising_sparse_autoencoders():
    X_train, X_valid = _fashion_like(n_train=64, n_valid=16)
    tf.random.set_seed(42)
    conv_encoder = tf.keras.Sequential([
        tf.keras.layers.Reshape([28, 28, 1]),
        tf.keras.layers.Conv2D(4, 3, padding="same", activation="relu"),
        tf.keras.layers.MaxPool2D(pool_size=2),  # output: 14 x 14 x 4
        tf.keras.layers.Conv2D(8, 3, padding="same", activation="relu"),
        tf.keras.layers.MaxPool2D(pool_size=2),  # output: 7 x 7 x 8
        tf.keras.layers.Conv2D(8, 3, padding="same", activation="relu"),
        tf.keras.layers.MaxPool2D(pool_size=2),  # output: 3 x 3 x 8
        tf.keras.layers.Conv2D(6, 3, padding="same", activation="relu"),
        tf.keras.layers.GlobalAvgPool2D()  # output: 6
    ])
    conv_decoder = tf.keras.Sequential([
        tf.keras.layers.Dense(3 * 3 * 4),
        tf.keras.layers.Reshape((3, 3, 4)),
        tf.keras.layers.Conv2DTranspose(8, 3, strides=2, activation="relu"),
        tf.keras.layers.Conv2DTranspose(4, 3, strides=2, padding="same",
                                        activation="relu"),
        tf.keras.layers.Conv2DTranspose(1, 3, strides=2, padding="same"),
        tf.keras.layers.Reshape([28, 28])
    ])
    conv_ae = tf.keras.Sequential([conv_encoder, conv_decoder])
    conv_ae.compile(loss="mse", optimizer="nadam")
    history = conv_ae.fit(X_train, X_train, epochs=2, validation_data=(X_valid, X_valid),
                          verbose=0)
    assert np.isfinite(history.history["val_loss"][-1])
    assert conv_encoder(X_valid[:2]).shape == (2, 6)
    assert conv_ae(X_valid[:2]).shape == (2, 28, 28)

    # denoising: Dropout / GaussianNoise act in training only
    dropout_encoder = tf.keras.Sequential([
        tf.keras.layers.Flatten(),
        tf.keras.layers.Dropout(0.5),
        tf.keras.layers.Dense(32, activation="relu"),
        tf.keras.layers.Dense(8, activation="relu")
    ])
    noise_encoder = tf.keras.Sequential([
        tf.keras.layers.Flatten(),
        tf.keras.layers.GaussianNoise(0.2),
        tf.keras.layers.Dense(32, activation="relu"),
        tf.keras.layers.Dense(8, activation="relu")
    ])
    for enc in (dropout_encoder, noise_encoder):
        dec = tf.keras.Sequential([tf.keras.layers.Dense(32, activation="relu"),
                                   tf.keras.layers.Dense(28 * 28),
                                   tf.keras.layers.Reshape([28, 28])])
        ae = tf.keras.Sequential([enc, dec])
        ae.compile(loss="mse", optimizer="nadam")
        h = ae.fit(X_train, X_train, epochs=2, verbose=0)
        assert np.isfinite(h.history["loss"][-1])
        np.testing.assert_array_equal(ae(X_valid[:2], training=False).numpy(),
                                      ae(X_valid[:2], training=False).numpy())
        assert not np.allclose(enc(X_valid[:2], training=True).numpy(),
                               enc(X_valid[:2], training=False).numpy())
    noise = tf.keras.layers.GaussianNoise(0.2)
    z = noise(np.zeros((200, 50), "float32"), training=True).numpy()
    assert abs(z.std() - 0.2) < 0.02 and abs(z.mean()) < 0.01

    # sparse: L1 activity regularization
    sparse_l1_encoder = tf.keras.Sequential([
        tf.keras.layers.Flatten(),
        tf.keras.layers.Dense(32, activation="relu"),
        tf.keras.layers.Dense(60, activation="sigmoid"),
        tf.keras.layers.ActivityRegularization(l1=1e-4)
    ])
    codings = sparse_l1_encoder(X_valid[:4])
    assert len(sparse_l1_encoder.losses) == 1
    # Keras 2 divides an activity-regularization loss by the batch size (here 4)
    np.testing.assert_allclose(float(sparse_l1_encoder.losses[0]),
                               1e-4 * np.abs(codings.numpy()).sum() / 4, rtol=1e-4)

    kl_divergence = tf.keras.losses.kullback_leibler_divergence

    class KLDivergenceRegularizer(tf.keras.regularizers.Regularizer):
        def __init__(self, weight, target):
            self.weight = weight
            self.target = target

        def __call__(self, inputs):
            mean_activities = tf.reduce_mean(inputs, axis=0)
            return self.weight * (
                kl_divergence(self.target, mean_activities) +
                kl_divergence(1. - self.target, 1. - mean_activities))

    kld_reg = KLDivergenceRegularizer(weight=5e-3, target=0.1)
    acts = np.random.default_rng(0).uniform(0.05, 0.95, (8, 5)).astype("float32")
    p, q = 0.1, acts.mean(0)
    # keras' kl_divergence clips to [eps, 1] and sums y_true * log(y_true / y_pred) over the
    # last axis; with scalar targets against a vector of means: sum over units
    want = 5e-3 * (np.sum(p * np.log(p / q)) + np.sum((1 - p) * np.log((1 - p) / (1 - q))))
    np.testing.assert_allclose(float(kld_reg(acts)), want, rtol=1e-4)

    sparse_kl_encoder = tf.keras.Sequential([
        tf.keras.layers.Flatten(),
        tf.keras.layers.Dense(32, activation="relu"),
        tf.keras.layers.Dense(60, activation="sigmoid", activity_regularizer=kld_reg)
    ])
    sparse_kl_decoder = tf.keras.Sequential([
        tf.keras.layers.Dense(32, activation="relu"),
        tf.keras.layers.Dense(28 * 28),
        tf.keras.layers.Reshape([28, 28])
    ])
    sparse_kl_ae = tf.keras.Sequential([sparse_kl_encoder, sparse_kl_decoder])
    sparse_kl_ae.compile(loss="mse", optimizer="nadam")
    h = sparse_kl_ae.fit(X_train, X_train, epochs=2, verbose=0)
    assert np.isfinite(h.history["loss"][-1])
    sparse_kl_ae(X_valid[:8])
    assert len(sparse_kl_ae.losses) == 1 and float(sparse_kl_ae.losses[0]) > 0


class Sampling(tf.keras.layers.Layer):
    def call(self, inputs):
        mean, log_var = inputs
        return tf.random.normal(tf.shape(log_var)) * tf.exp(log_var / 2) + mean


def test_variational_autoencoder():
    X_train, X_valid = _fashion_like()
    tf.random.set_seed(42)
    codings_size = 4
    inputs = tf.keras.layers.Input(shape=[28, 28])
    Z = tf.keras.layers.Flatten()(inputs)
    Z = tf.keras.layers.Dense(32, activation="relu")(Z)
    Z = tf.keras.layers.Dense(16, activation="relu")(Z)
    codings_mean = tf.keras.layers.Dense(codings_size)(Z)  # mu
    codings_log_var = tf.keras.layers.Dense(codings_size)(Z)  # gamma
    codings = Sampling()([codings_mean, codings_log_var])
    variational_encoder = tf.keras.Model(
        inputs=[inputs], outputs=[codings_mean, codings_log_var, codings])

    decoder_inputs = tf.keras.layers.Input(shape=[codings_size])
    x = tf.keras.layers.Dense(16, activation="relu")(decoder_inputs)
    x = tf.keras.layers.Dense(32, activation="relu")(x)
    x = tf.keras.layers.Dense(28 * 28)(x)
    outputs = tf.keras.layers.Reshape([28, 28])(x)
    variational_decoder = tf.keras.Model(inputs=[decoder_inputs], outputs=[outputs])

    _, _, codings = variational_encoder(inputs)
    reconstructions = variational_decoder(codings)
    variational_ae = tf.keras.Model(inputs=[inputs], outputs=[reconstructions])

    latent_loss = -0.5 * tf.reduce_sum(
        1 + codings_log_var - tf.exp(codings_log_var) - tf.square(codings_mean),
        axis=-1)
    variational_ae.add_loss(tf.reduce_mean(latent_loss) / 784.)
    variational_ae.compile(loss="mse", optimizer="nadam")
    history = variational_ae.fit(X_train, X_train, epochs=4, batch_size=32,
                                 validation_data=(X_valid, X_valid), verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]

    # the latent loss the model adds, against NumPy on the encoder's outputs
    mean, log_var, _ = variational_encoder(X_valid[:8])
    mean, log_var = mean.numpy(), log_var.numpy()
    want = np.mean(-0.5 * np.sum(1 + log_var - np.exp(log_var) - mean ** 2, -1)) / 784.
    variational_ae(X_valid[:8])
    assert len(variational_ae.losses) == 1
    np.testing.assert_allclose(float(variational_ae.losses[0]), want, rtol=1e-4, atol=1e-7)
    recon_mse = np.mean((variational_ae(X_valid[:8]).numpy() - X_valid[:8]) ** 2)
    assert recon_mse < 1.0

    # Sampling: mean + exp(log_var / 2) * N(0, 1)
    m = np.full((4000, 2), 3.0, "float32")
    lv = np.full((4000, 2), np.log(4.0), "float32")
    s = Sampling()([m, lv]).numpy()
    assert abs(s.mean() - 3) < 0.1 and abs(s.std() - 2) < 0.1

    codings = tf.random.normal(shape=[3 * 7, codings_size])
    images = variational_decoder(codings).numpy()
    assert images.shape == (21, 28, 28)
    codings = np.zeros([7, codings_size])
    codings[:, 0] = np.linspace(-0.8, 0.8, 7)
    assert variational_decoder(codings).shape == (7, 28, 28)


def train_gan(gan, dataset, batch_size, codings_size, n_epochs):
    generator, discriminator = gan.layers
    for epoch in range(n_epochs):
        for X_batch in dataset:
            # phase 1 - training the discriminator
            noise = tf.random.normal(shape=[batch_size, codings_size])
            generated_images = generator(noise)
            X_fake_and_real = tf.concat([generated_images, X_batch], axis=0)
            y1 = tf.constant([[0.]] * batch_size + [[1.]] * batch_size)
            discriminator.train_on_batch(X_fake_and_real, y1)
            # phase 2 - training the generator
            noise = tf.random.normal(shape=[batch_size, codings_size])
            y2 = tf.constant([[1.]] * batch_size)
            gan.train_on_batch(noise, y2)


def test_simple_gan():
    X_train, _ = _fashion_like(n_train=64)
    tf.random.set_seed(42)
    codings_size = 8
    Dense = tf.keras.layers.Dense
    generator = tf.keras.Sequential([
        Dense(16, activation="relu", kernel_initializer="he_normal"),
        Dense(32, activation="relu", kernel_initializer="he_normal"),
        Dense(28 * 28, activation="sigmoid"),
        tf.keras.layers.Reshape([28, 28])
    ])
    discriminator = tf.keras.Sequential([
        tf.keras.layers.Flatten(),
        Dense(32, activation="relu", kernel_initializer="he_normal"),
        Dense(16, activation="relu", kernel_initializer="he_normal"),
        Dense(1, activation="sigmoid")
    ])
    gan = tf.keras.Sequential([generator, discriminator])
    discriminator.compile(loss="binary_crossentropy", optimizer="rmsprop")
    discriminator.trainable = False
    gan.compile(loss="binary_crossentropy", optimizer="rmsprop")

    batch_size = 16
    dataset = tf.data.Dataset.from_tensor_slices(X_train).shuffle(buffer_size=1000)
    dataset = dataset.batch(batch_size, drop_remainder=True).prefetch(1)

    gan(tf.random.normal(shape=[1, codings_size]))  # builds both (unbuilt until called)
    gen_before = [w.numpy().copy() for w in generator.weights]
    assert len(gen_before) == 6
    disc_before = [w.numpy().copy() for w in discriminator.weights]
    assert gan.layers[0] is generator and gan.layers[1] is discriminator
    # discriminator.trainable = False after its compile: gan trains the generator only,
    # while discriminator.train_on_batch still updates the discriminator
    assert len(gan.trainable_weights) == len(generator.trainable_weights)
    noise = tf.random.normal(shape=[batch_size, codings_size])
    gan.train_on_batch(noise, tf.constant([[1.]] * batch_size))
    for w, b in zip(discriminator.weights, disc_before):
        np.testing.assert_array_equal(w.numpy(), b)
    assert any(not np.array_equal(w.numpy(), b) for w, b in zip(generator.weights,
                                                               gen_before))
    gen_mid = [w.numpy().copy() for w in generator.weights]
    X_batch = next(iter(dataset))
    fake = generator(noise)
    discriminator.train_on_batch(tf.concat([fake, X_batch], axis=0),
                                 tf.constant([[0.]] * batch_size + [[1.]] * batch_size))
    assert any(not np.array_equal(w.numpy(), b) for w, b in zip(discriminator.weights,
                                                               disc_before))
    for w, b in zip(generator.weights, gen_mid):
        np.testing.assert_array_equal(w.numpy(), b)

    train_gan(gan, dataset, batch_size, codings_size, n_epochs=2)
    codings = tf.random.normal(shape=[batch_size, codings_size])
    generated_images = generator.predict(codings, verbose=0)
    assert generated_images.shape == (batch_size, 28, 28)
    assert generated_images.min() >= 0 and generated_images.max() <= 1


def test_dcgan():
    X_train, _ = _fashion_like(n_train=32)
    tf.random.set_seed(42)
    codings_size = 8
    generator = tf.keras.Sequential([
        tf.keras.layers.Dense(7 * 7 * 8),
        tf.keras.layers.Reshape([7, 7, 8]),
        tf.keras.layers.BatchNormalization(),
        tf.keras.layers.Conv2DTranspose(4, kernel_size=5, strides=2,
                                        padding="same", activation="relu"),
        tf.keras.layers.BatchNormalization(),
        tf.keras.layers.Conv2DTranspose(1, kernel_size=5, strides=2,
                                        padding="same", activation="tanh"),
    ])
    discriminator = tf.keras.Sequential([
        tf.keras.layers.Conv2D(4, kernel_size=5, strides=2, padding="same",
                               activation=tf.keras.layers.LeakyReLU(0.2)),
        tf.keras.layers.Dropout(0.4),
        tf.keras.layers.Conv2D(8, kernel_size=5, strides=2, padding="same",
                               activation=tf.keras.layers.LeakyReLU(0.2)),
        tf.keras.layers.Dropout(0.4),
        tf.keras.layers.Flatten(),
        tf.keras.layers.Dense(1, activation="sigmoid")
    ])
    gan = tf.keras.Sequential([generator, discriminator])
    discriminator.compile(loss="binary_crossentropy", optimizer="rmsprop")
    discriminator.trainable = False
    gan.compile(loss="binary_crossentropy", optimizer="rmsprop")

    X_train_dcgan = X_train.reshape(-1, 28, 28, 1) * 2. - 1.  # reshape and rescale
    batch_size = 16
    dataset = tf.data.Dataset.from_tensor_slices(X_train_dcgan)
    dataset = dataset.shuffle(1000)
    dataset = dataset.batch(batch_size, drop_remainder=True).prefetch(1)
    train_gan(gan, dataset, batch_size, codings_size, n_epochs=1)
    noise = tf.random.normal(shape=[batch_size, codings_size])
    generated_images = generator.predict(noise, verbose=0)
    assert generated_images.shape == (batch_size, 28, 28, 1)
    assert np.abs(generated_images).max() <= 1
    assert discriminator(generated_images).shape == (batch_size, 1)


def variance_schedule(T, s=0.008, max_beta=0.999):
    t = np.arange(T + 1)
    f = np.cos((t / T + s) / (1 + s) * np.pi / 2) ** 2
    alpha = np.clip(f[1:] / f[:-1], 1 - max_beta, 1)
    alpha = np.append(1, alpha).astype(np.float32)  # add alpha_0 = 1
    beta = 1 - alpha
    alpha_cumprod = np.cumprod(alpha)
    return alpha, alpha_cumprod, beta  # alpha_t, alpha_bar_t, beta_t for t = 0 to T


def test_diffusion_prepare_batch_and_model():
    np.random.seed(42)
    T = 20
    alpha, alpha_cumprod, beta = variance_schedule(T)
    X_train, _ = _fashion_like(n_train=32)

    def prepare_batch(X):
        X = tf.cast(X[..., tf.newaxis], tf.float32) * 2 - 1  # scale from -1 to +1
        X_shape = tf.shape(X)
        t = tf.random.uniform([X_shape[0]], minval=1, maxval=T + 1, dtype=tf.int32)
        alpha_cm = tf.gather(alpha_cumprod, t)
        alpha_cm = tf.reshape(alpha_cm, [X_shape[0]] + [1] * (len(X_shape) - 1))
        noise = tf.random.normal(X_shape)
        return {
            "X_noisy": alpha_cm ** 0.5 * X + (1 - alpha_cm) ** 0.5 * noise,
            "time": t,
        }, noise

    def prepare_dataset(X, batch_size=32, shuffle=False):
        ds = tf.data.Dataset.from_tensor_slices(X)
        if shuffle:
            ds = ds.shuffle(10_000)
        return ds.batch(batch_size).map(prepare_batch).prefetch(1)

    tf.random.set_seed(43)
    train_set = prepare_dataset(X_train, batch_size=8, shuffle=True)
    inputs, noise = next(iter(train_set))
    assert inputs["X_noisy"].shape == (8, 28, 28, 1) and noise.shape == (8, 28, 28, 1)
    t = inputs["time"].numpy()
    assert t.dtype == np.int32 and t.min() >= 1 and t.max() <= T

    # the noisy image is sqrt(abar_t) x + sqrt(1 - abar_t) eps, exactly (NumPy)
    X = X_train[:4]
    tf.random.set_seed(7)
    inp, eps = prepare_batch(X)
    abar = alpha_cumprod[inp["time"].numpy()][:, None, None, None]
    want = np.sqrt(abar) * (X[..., None] * 2 - 1) + np.sqrt(1 - abar) * eps.numpy()
    np.testing.assert_allclose(inp["X_noisy"].numpy(), want, rtol=1e-5, atol=1e-5)

    # the book's U-Net-like denoiser (narrower), trained to predict the noise
    class TimeEncoding(tf.keras.layers.Layer):
        def __init__(self, T, embed_size, dtype=tf.float32, **kwargs):
            super().__init__(dtype=dtype, **kwargs)
            assert embed_size % 2 == 0, "embed_size must be even"
            p, i = np.meshgrid(np.arange(T + 1), 2 * np.arange(embed_size // 2))
            t_emb = np.empty((T + 1, embed_size))
            t_emb[:, ::2] = np.sin(p / 10_000 ** (i / embed_size)).T
            t_emb[:, 1::2] = np.cos(p / 10_000 ** (i / embed_size)).T
            self.time_encodings = tf.constant(t_emb.astype(self.dtype))

        def call(self, inputs):
            return tf.gather(self.time_encodings, inputs)

    def build_diffusion_model():
        X_noisy = tf.keras.layers.Input(shape=[28, 28, 1], name="X_noisy")
        time_input = tf.keras.layers.Input(shape=[], dtype=tf.int32, name="time")
        time_enc = TimeEncoding(T, 16)(time_input)
        dim = 4
        Z = tf.keras.layers.ZeroPadding2D((3, 3))(X_noisy)
        Z = tf.keras.layers.Conv2D(dim, 3)(Z)
        Z = tf.keras.layers.BatchNormalization()(Z)
        Z = tf.keras.layers.Activation("relu")(Z)
        time = tf.keras.layers.Dense(dim)(time_enc)  # adapt time encoding
        Z = time[:, tf.newaxis, tf.newaxis, :] + Z  # add time data to every pixel
        skip = Z
        cross_skips = []  # skip outputs from encoder to decoder
        for dim in (8, 16, 32):  # the book: (32, 64, 128)
            Z = tf.keras.layers.Activation("relu")(Z)
            Z = tf.keras.layers.SeparableConv2D(dim, 3, padding="same")(Z)
            Z = tf.keras.layers.BatchNormalization()(Z)
            Z = tf.keras.layers.Activation("relu")(Z)
            Z = tf.keras.layers.SeparableConv2D(dim, 3, padding="same")(Z)
            Z = tf.keras.layers.BatchNormalization()(Z)
            cross_skips.append(Z)
            Z = tf.keras.layers.MaxPooling2D(3, strides=2, padding="same")(Z)
            skip_link = tf.keras.layers.Conv2D(dim, 1, strides=2, padding="same")(skip)
            Z = tf.keras.layers.add([Z, skip_link])
            time = tf.keras.layers.Dense(dim)(time_enc)
            Z = time[:, tf.newaxis, tf.newaxis, :] + Z
            skip = Z
        for dim in (16, 8, 4):  # the book: (64, 32, 16)
            Z = tf.keras.layers.Activation("relu")(Z)
            Z = tf.keras.layers.Conv2DTranspose(dim, 3, padding="same")(Z)
            Z = tf.keras.layers.BatchNormalization()(Z)
            Z = tf.keras.layers.Activation("relu")(Z)
            Z = tf.keras.layers.Conv2DTranspose(dim, 3, padding="same")(Z)
            Z = tf.keras.layers.BatchNormalization()(Z)
            Z = tf.keras.layers.UpSampling2D(2)(Z)
            skip_link = tf.keras.layers.UpSampling2D(2)(skip)
            skip_link = tf.keras.layers.Conv2D(dim, 1, padding="same")(skip_link)
            Z = tf.keras.layers.add([Z, skip_link])
            time = tf.keras.layers.Dense(dim)(time_enc)
            Z = time[:, tf.newaxis, tf.newaxis, :] + Z
            Z = tf.keras.layers.concatenate([Z, cross_skips.pop()], axis=-1)
            skip = Z
        outputs = tf.keras.layers.Conv2D(1, 3, padding="same")(Z)[:, 2:-2, 2:-2]
        return tf.keras.Model(inputs=[X_noisy, time_input], outputs=[outputs])

    enc = TimeEncoding(T, 4)(np.array([0, 3]))
    np.testing.assert_allclose(enc.numpy(), [[0, 1, 0, 1],
                                             [np.sin(3), np.cos(3), np.sin(3 / 100),
                                              np.cos(3 / 100)]], rtol=1e-5, atol=1e-7)
    tf.random.set_seed(43)
    model = build_diffusion_model()
    assert model.output_shape == (None, 28, 28, 1)
    model.compile(loss=tf.keras.losses.Huber(), optimizer="nadam")
    train_set = prepare_dataset(X_train[:16], batch_size=8, shuffle=True)
    history = model.fit(train_set, epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()

    def generate(model, batch_size=2):
        X = tf.random.normal([batch_size, 28, 28, 1])
        for t in range(T - 1, 0, -1):
            noise = (tf.random.normal if t > 1 else tf.zeros)(tf.shape(X))
            X_noise = model({"X_noisy": X, "time": tf.constant([t] * batch_size)})
            X = (
                1 / alpha[t] ** 0.5
                * (X - beta[t] / (1 - alpha_cumprod[t]) ** 0.5 * X_noise)
                + (1 - alpha[t]) ** 0.5 * noise
            )
        return X

    X_gen = generate(model)
    assert X_gen.shape == (2, 28, 28, 1) and np.isfinite(X_gen.numpy()).all()


# ================================================================== the fixes these needed
def test_fix_symbolic_shape_values_and_logic_operators():
    # tf.shape(x)[1] of a KerasTensor keeps its known value: tf.range / tf.ones of it have
    # static sizes (Keras 2's inferred_value), so the Transformer's positional code builds
    x = tf.keras.layers.Input(shape=[5, 3])
    n = tf.shape(x)[1]
    pos = tf.range(n)
    assert tuple(pos.shape) == (5,)
    causal = tf.linalg.band_part(tf.ones((n, n), tf.bool), -1, 0)
    assert tuple(causal.shape) == (5, 5)
    emb = tf.keras.layers.Embedding(5, 3)
    out = x + emb(pos)
    keep = tf.cast(causal, tf.float32)
    model = tf.keras.Model(x, [out, keep])
    xv = np.random.default_rng(0).standard_normal((2, 5, 3)).astype("float32")
    o, k = model(xv)
    np.testing.assert_allclose(o.numpy(), xv + emb.get_weights()[0][None], rtol=1e-6)
    np.testing.assert_array_equal(k.numpy(), np.tril(np.ones((5, 5))))
    assert tuple(tf.range(tf.shape(x)[0]).shape) == (None,)  # the batch size stays unknown

    # & | ^ ~ on symbolic tensors: logical on bool, bitwise on ints (NumPy reference)
    a = tf.keras.layers.Input(shape=[3], dtype=tf.bool)
    b = tf.keras.layers.Input(shape=[3], dtype=tf.bool)
    m = tf.keras.Model([a, b], [a & b, a | b, a ^ b, ~a])
    av, bv = np.array([[True, False, True]]), np.array([[True, True, False]])
    got = [t.numpy() for t in m([av, bv])]
    for g, w in zip(got, [av & bv, av | bv, av ^ bv, ~av]):
        np.testing.assert_array_equal(g, w)
    i = tf.keras.layers.Input(shape=[2], dtype=tf.int32)
    iv = np.array([[7, 12]], "int32")
    np.testing.assert_array_equal(tf.keras.Model(i, (i & 6) | 1)(iv).numpy(), (iv & 6) | 1)


def test_fix_single_output_list_and_compiled_trainable_state():
    # Model(outputs=[y]) called on data gives the tensor (Keras 2 unwraps the one-item list)
    inp = tf.keras.layers.Input(shape=[3])
    dense = tf.keras.layers.Dense(2)
    model = tf.keras.Model(inputs=[inp], outputs=[dense(inp)])
    xv = np.ones((4, 3), "float32")
    y = model(xv)
    assert not isinstance(y, list) and y.shape == (4, 2)
    W, b = dense.get_weights()
    np.testing.assert_allclose(y.numpy(), xv @ W + b, rtol=1e-6)
    two = tf.keras.Model(inputs=[inp], outputs=[dense(inp), dense(inp) * 2])
    assert isinstance(two(xv), list) and len(two(xv)) == 2

    # trainable is taken at compile time (Keras 2): a model compiled while its layer was
    # trainable still trains it after layer.trainable = False, until compiled again
    net = tf.keras.Sequential([tf.keras.layers.Dense(1, input_shape=[3])])
    net.compile(loss="mse", optimizer=tf.keras.optimizers.SGD(learning_rate=0.1))
    net.trainable = False
    w0 = net.get_weights()[0].copy()
    net.train_on_batch(xv, np.ones((4, 1), "float32"))
    w1 = net.get_weights()[0]
    assert not np.array_equal(w0, w1)
    assert net.trainable is False  # put back after the step
    # plain SGD on the MSE: w -= lr * 2/n * X^T (Xw + b - y)
    net.compile(loss="mse", optimizer=tf.keras.optimizers.SGD(learning_rate=0.1))
    net.train_on_batch(xv, np.ones((4, 1), "float32"))
    np.testing.assert_array_equal(net.get_weights()[0], w1)  # recompiled frozen: no update


def test_fix_stateful_rnn_keeps_its_batch_through_the_compile_probe():
    # fit's first look at the model (the first 2 rows, to resolve losses and metrics) used to
    # fix a stateful layer's batch size at 2 and advance its states
    x = np.random.default_rng(0).integers(0, 10, (4, 6))
    model = tf.keras.Sequential([
        tf.keras.layers.Embedding(10, 4),
        tf.keras.layers.GRU(3, return_sequences=True, stateful=True),
        tf.keras.layers.Dense(10, activation="softmax")])
    model.compile(loss="sparse_categorical_crossentropy", optimizer="sgd")
    model.fit(tf.data.Dataset.from_tensors((x, x)), epochs=1, verbose=0)
    assert model.layers[1]._batch_input_shape[0] == 4
    assert model.layers[1].states[0].shape == (4, 3)
