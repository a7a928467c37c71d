"""DeepLearning.AI "TensorFlow Developer Professional Certificate" course 3 (Natural Language
Processing in TensorFlow) and course 4 (Sequences, Time Series and Prediction) lab and
assignment code, run with only the import line changed (`import nabi as tf`). Downloads
become a handful of sentences (a tiny sarcasm JSON written to tmp_path, a few lines of the
Irish song) and a short synthetic series / sunspots CSV. Fewer epochs, narrower layers.
Numbers are checked against NumPy / plain Python where cheap (Tokenizer word_index order,
texts_to_sequences, pad_sequences, n-grams, windows, the learning-rate sweep's values and
its SGD updates, causal Conv1D, the forecast helpers), otherwise shapes and a falling loss."""
import csv
import io
import json
import re
from collections import Counter

import numpy as np
import pytest

import nabi as tf
from nabi import keras
from nabi.keras.preprocessing.sequence import pad_sequences
from nabi.keras.preprocessing.text import Tokenizer


def _pyplot():
    """matplotlib.pyplot on the Agg backend, or None where matplotlib (optional: nabi[plot])
    is not installed; the plotting cells then are skipped, the checks before them still run."""
    try:
        import matplotlib
    except ImportError:
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def setup_function(_):
    tf.keras.backend.clear_session()
    tf.random.set_seed(51)
    np.random.seed(51)


# ---- plain-Python references --------------------------------------------------------------

_FILTERS = '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n'


def _ref_words(text):
    return [w for w in re.split(" +", "".join(" " if c in _FILTERS else c
                                               for c in text.lower())) if w]


def _ref_word_index(texts, oov=None):
    counts = Counter()
    first = {}
    for t in texts:
        for w in _ref_words(t):
            counts[w] += 1
            first.setdefault(w, len(first))
    order = sorted(counts, key=lambda w: (-counts[w], first[w]))
    words = ([oov] if oov else []) + order
    return {w: i + 1 for i, w in enumerate(words)}


def _ref_texts_to_sequences(texts, wi, num_words=None, oov=None):
    out = []
    for t in texts:
        seq = []
        for w in _ref_words(t):
            i = wi.get(w)
            if i is not None and (num_words is None or i < num_words):
                seq.append(i)
            elif oov is not None:
                seq.append(wi[oov])
        out.append(seq)
    return out


def _ref_pad(seqs, maxlen=None, padding="pre", truncating="pre", value=0):
    maxlen = maxlen or max(len(s) for s in seqs)
    out = np.full((len(seqs), maxlen), value, dtype=np.int32)
    for r, s in enumerate(seqs):
        s = list(s)
        if len(s) > maxlen:
            s = s[-maxlen:] if truncating == "pre" else s[:maxlen]
        if not s:
            continue
        if padding == "post":
            out[r, :len(s)] = s
        else:
            out[r, maxlen - len(s):] = s
    return out


# ----------------------------------------------------------------------------------------
# C3 W1: Tokenizer, sequences, padding; the sarcasm headlines JSON
# ----------------------------------------------------------------------------------------

def test_c3w1_tokenizer_sequences_padding():
    sentences = ['I love my dog', 'I love my cat', 'You love my dog!',
                 'Do you think my dog is amazing?']
    tokenizer = Tokenizer(num_words=100, oov_token="<OOV>")
    tokenizer.fit_on_texts(sentences)
    word_index = tokenizer.word_index
    sequences = tokenizer.texts_to_sequences(sentences)
    padded = pad_sequences(sequences, maxlen=5)
    print("\nWord Index = ", word_index)
    assert word_index == {'<OOV>': 1, 'my': 2, 'love': 3, 'dog': 4, 'i': 5, 'you': 6,
                          'cat': 7, 'do': 8, 'think': 9, 'is': 10, 'amazing': 11}
    assert word_index == _ref_word_index(sentences, "<OOV>")
    assert sequences == [[5, 3, 2, 4], [5, 3, 2, 7], [6, 3, 2, 4], [8, 6, 9, 2, 4, 10, 11]]
    np.testing.assert_array_equal(padded, [[0, 5, 3, 2, 4], [0, 5, 3, 2, 7], [0, 6, 3, 2, 4],
                                           [9, 2, 4, 10, 11]])
    assert padded.dtype == np.int32
    test_data = ['i really love my dog', 'my dog loves my manatee']
    test_seq = tokenizer.texts_to_sequences(test_data)
    assert test_seq == [[5, 1, 3, 2, 4], [2, 4, 1, 2, 1]]
    padded = pad_sequences(test_seq, maxlen=10)
    np.testing.assert_array_equal(padded, _ref_pad(test_seq, 10))
    for padding in ("pre", "post"):
        for truncating in ("pre", "post"):
            np.testing.assert_array_equal(
                pad_sequences(sequences, maxlen=6, padding=padding, truncating=truncating),
                _ref_pad(sequences, 6, padding, truncating))
    np.testing.assert_array_equal(pad_sequences(sequences, padding='post'),
                                  _ref_pad(sequences, None, 'post'))
    # num_words keeps the num_words - 1 most frequent words; the rest become <OOV>
    small = Tokenizer(num_words=5, oov_token="<OOV>")
    small.fit_on_texts(sentences)
    assert small.word_index == word_index
    assert small.texts_to_sequences(sentences) == _ref_texts_to_sequences(
        sentences, word_index, 5, "<OOV>")
    no_oov = Tokenizer(num_words=4)
    no_oov.fit_on_texts(sentences)
    assert no_oov.texts_to_sequences(['my dog loves my manatee']) == [[1, 3, 1]]


def _ref_tv_vocabulary(texts):
    """TextVectorization's vocabulary: '', '[UNK]', then tokens by decreasing count, ties by
    decreasing token (Keras's reversed np.lexsort)."""
    counts = Counter(w for t in texts for w in re.sub(r"[^\w\s]", "", t.lower()).split())
    return ['', '[UNK]'] + sorted(counts, key=lambda w: (counts[w], w), reverse=True)


def test_c3w1_text_vectorization_lab_ragged_and_pad_sequences():
    """The course's 2023 revision of the C3W1 labs: TextVectorization instead of Tokenizer,
    ragged sequences padded with tf.keras.utils.pad_sequences."""
    sentences = ['I love my dog', 'I love my cat', 'You love my dog!',
                 'Do you think my dog is amazing?']
    vectorize_layer = tf.keras.layers.TextVectorization()
    vectorize_layer.adapt(sentences)
    vocabulary = vectorize_layer.get_vocabulary(include_special_tokens=True)
    assert vocabulary == ['', '[UNK]', 'my', 'love', 'dog', 'you', 'i', 'think', 'is', 'do',
                          'cat', 'amazing']
    assert vocabulary == _ref_tv_vocabulary(sentences)
    index = {w: i for i, w in enumerate(vocabulary)}
    ref = [[index[w] for w in re.sub(r"[^\w\s]", "", t.lower()).split()] for t in sentences]
    sequence = vectorize_layer('I love my dog')
    np.testing.assert_array_equal(sequence.numpy(), ref[0])
    sentences_dataset = tf.data.Dataset.from_tensor_slices(sentences)
    sequences = sentences_dataset.map(vectorize_layer)
    for sentence, sequence, r in zip(sentences, sequences, ref):
        np.testing.assert_array_equal(sequence.numpy(), r)
    sequences_post = vectorize_layer(sentences)       # padded 'post' to the longest
    np.testing.assert_array_equal(sequences_post.numpy(), _ref_pad(ref, None, 'post'))

    ragged_vectorize_layer = tf.keras.layers.TextVectorization(ragged=True)
    ragged_vectorize_layer.adapt(sentences)
    ragged_sequences = ragged_vectorize_layer(sentences)
    assert ragged_sequences.to_list() == ref
    assert [len(r) for r in ragged_sequences.numpy()] == [4, 4, 4, 7]
    sequences_pre = tf.keras.utils.pad_sequences(ragged_sequences.numpy())
    np.testing.assert_array_equal(sequences_pre, _ref_pad(ref))
    sequences_post_trunc = tf.keras.utils.pad_sequences(ragged_sequences.numpy(), maxlen=5,
                                                        padding='post', truncating='post')
    np.testing.assert_array_equal(sequences_post_trunc, _ref_pad(ref, 5, 'post', 'post'))
    # output_sequence_length does not apply to ragged outputs; other modes refuse ragged
    r2 = tf.keras.layers.TextVectorization(ragged=True, output_sequence_length=2,
                                           vocabulary=vocabulary[2:])
    assert r2(sentences[:2]).to_list() == ref[:2]
    np.testing.assert_array_equal(r2(sentences[3]).numpy(), ref[3])
    with pytest.raises(ValueError, match="ragged"):
        tf.keras.layers.TextVectorization(ragged=True, output_mode='multi_hot')

    # labels through StringLookup(num_oov_indices=0); a model on the padded sequences
    labels = ['pet', 'pet', 'pet', 'question']
    label_lookup = tf.keras.layers.StringLookup(num_oov_indices=0)
    label_lookup.adapt(labels)
    y = label_lookup(labels).numpy()
    np.testing.assert_array_equal(y, [0, 0, 0, 1])
    model = tf.keras.Sequential([
        tf.keras.Input(shape=(7,)),
        tf.keras.layers.Embedding(vectorize_layer.vocabulary_size(), 4),
        tf.keras.layers.GlobalAveragePooling1D(),
        tf.keras.layers.Dense(2, activation='softmax')])
    model.compile(loss='sparse_categorical_crossentropy', optimizer='adam',
                  metrics=['accuracy'])
    h = model.fit(sequences_pre, y, epochs=3, verbose=0)
    assert h.history['loss'][-1] < h.history['loss'][0]


def test_c3w2_bbc_news_standardize_vectorizer_and_label_encoder():
    """The 2023 C3W2 assignment: a stopword-removing standardize function on tf.strings, a
    TextVectorization with output_sequence_length, StringLookup(num_oov_indices=0) labels,
    both mapped over an unbatched (text, label) dataset, then batched."""
    stopwords = ["a", "about", "i", "i'm", "the", "to", "and", "it's"]

    def standardize_func(sentence):
        sentence = tf.strings.lower(sentence)
        for word in stopwords:
            if word[0] == "'":
                sentence = tf.strings.regex_replace(sentence, rf"{word}\b", "")
            else:
                sentence = tf.strings.regex_replace(sentence, rf"\b{word}\b", "")
        sentence = tf.strings.regex_replace(sentence,
                                            r'[!"#$%&()\*\+,-\./:;<=>?@\[\\\]^_`{|}~\']', "")
        return sentence

    def ref_standardize(t):
        t = t.lower()
        for word in stopwords:
            t = re.sub(rf"\b{re.escape(word)}\b", "", t)
        return re.sub(r"""[!"#$%&()*+,\-./:;<=>?@\[\\\]^_`{|}~']""", "", t)

    texts = ["The cat sat on the mat", "I'm going to the park and it's sunny!",
             "A dog about a bone", "Sport wins the cup, the sport fans cheer",
             "Tech shares rise", "Chip makers and tech shares fall"]
    labels = ["tech", "sport", "tech", "sport", "business", "business"]
    MAX_LENGTH = 5
    vectorizer = tf.keras.layers.TextVectorization(standardize=standardize_func,
                                                   max_tokens=30,
                                                   output_sequence_length=MAX_LENGTH)
    vectorizer.adapt(texts)
    docs = [ref_standardize(t).split() for t in texts]
    counts = Counter(w for d in docs for w in d)
    vocab = ['', '[UNK]'] + sorted(counts, key=lambda w: (counts[w], w), reverse=True)
    assert vectorizer.get_vocabulary() == vocab
    label_encoder = tf.keras.layers.StringLookup(num_oov_indices=0)
    label_encoder.adapt(labels)
    assert label_encoder.get_vocabulary() == ['tech', 'sport', 'business']   # ties: token desc
    # a scalar label looks up to a scalar index, as in Keras
    one = label_encoder(tf.constant("sport"))
    assert one.shape == () and int(one) == 1

    train_dataset = tf.data.Dataset.from_tensor_slices((texts, labels))
    train_dataset_vectorized = train_dataset.map(lambda x, y: (vectorizer(x),
                                                               label_encoder(y)))
    train_proc_dataset = train_dataset_vectorized.batch(4)
    xs, ys = [], []
    for x, y in train_proc_dataset:
        assert x.shape[1:] == (MAX_LENGTH,) and y.shape == x.shape[:1]
        xs.append(x.numpy())
        ys.append(y.numpy())
    index = {w: i for i, w in enumerate(vocab)}
    ref = [[index[w] for w in d][:MAX_LENGTH] for d in docs]
    np.testing.assert_array_equal(np.concatenate(xs), _ref_pad(ref, MAX_LENGTH, 'post', 'post'))
    np.testing.assert_array_equal(np.concatenate(ys), [0, 1, 0, 1, 2, 2])

    model = tf.keras.Sequential([
        tf.keras.Input(shape=(MAX_LENGTH,)),
        tf.keras.layers.Embedding(30, 8),
        tf.keras.layers.GlobalAveragePooling1D(),
        tf.keras.layers.Dense(3, activation='softmax')])
    model.compile(loss='sparse_categorical_crossentropy', optimizer='adam',
                  metrics=['accuracy'])
    history = model.fit(train_proc_dataset, epochs=4, validation_data=train_proc_dataset,
                        verbose=0)
    assert history.history['loss'][-1] < history.history['loss'][0]


def _sarcasm(tmp_path):
    items = [
        ("former versace store clerk sues over secret 'black code' for minority shoppers", 0),
        ("the 'roseanne' revival catches up to our thorny political mood, for better and "
         "worse", 0),
        ("mom starting to fear son's web series closest thing she will have to grandchild", 1),
        ("boehner just wants wife to listen, not come up with alternative debt-reduction "
         "ideas", 1),
        ("j.k. rowling wishes snape happy birthday in the most magical way", 0),
        ("advancing the world's women", 0),
        ("area man does most of his traveling by gazing out window", 1),
        ("local dog finally gets the respect it deserves from area cat", 1),
        ("scientists discover new species of frog in the amazon", 0),
        ("nation's dads announce plan to just rest eyes for a minute", 1),
        ("senate passes budget bill after long debate", 0),
        ("man thinks he can fix leaky faucet himself", 1),
    ]
    data = [{"article_link": f"https://example.invalid/{i}", "headline": h,
             "is_sarcastic": s} for i, (h, s) in enumerate(items)]
    path = tmp_path / "sarcasm.json"
    path.write_text(json.dumps(data))
    return str(path)


def test_c3w2_sarcasm_embedding_global_average_pooling(tmp_path):
    with open(_sarcasm(tmp_path), 'r') as f:
        datastore = json.load(f)
    sentences, labels, urls = [], [], []
    for item in datastore:
        sentences.append(item['headline'])
        labels.append(item['is_sarcastic'])
        urls.append(item['article_link'])
    vocab_size, embedding_dim, max_length = 60, 8, 12
    trunc_type, padding_type, oov_tok = 'post', 'post', "<OOV>"
    training_size = 9
    training_sentences = sentences[0:training_size]
    testing_sentences = sentences[training_size:]
    training_labels = labels[0:training_size]
    testing_labels = labels[training_size:]

    tokenizer = Tokenizer(num_words=vocab_size, oov_token=oov_tok)
    tokenizer.fit_on_texts(training_sentences)
    word_index = tokenizer.word_index
    assert word_index == _ref_word_index(training_sentences, oov_tok)
    training_sequences = tokenizer.texts_to_sequences(training_sentences)
    assert training_sequences == _ref_texts_to_sequences(training_sentences, word_index,
                                                         vocab_size, oov_tok)
    training_padded = pad_sequences(training_sequences, maxlen=max_length,
                                    padding=padding_type, truncating=trunc_type)
    np.testing.assert_array_equal(training_padded, _ref_pad(training_sequences, max_length,
                                                            'post', 'post'))
    testing_sequences = tokenizer.texts_to_sequences(testing_sentences)
    testing_padded = pad_sequences(testing_sequences, maxlen=max_length,
                                   padding=padding_type, truncating=trunc_type)
    training_padded = np.array(training_padded)
    training_labels = np.array(training_labels)
    testing_padded = np.array(testing_padded)
    testing_labels = np.array(testing_labels)

    reverse_word_index = dict([(value, key) for (key, value) in word_index.items()])

    def decode_sentence(text):
        return ' '.join([reverse_word_index.get(i, '?') for i in text])

    decoded = decode_sentence(training_padded[2])
    assert decoded.replace(' ?', '') == ' '.join(_ref_words(training_sentences[2])[:max_length])

    model = tf.keras.Sequential([
        tf.keras.layers.Embedding(vocab_size, embedding_dim, input_length=max_length),
        tf.keras.layers.GlobalAveragePooling1D(),
        tf.keras.layers.Dense(6, activation='relu'),
        tf.keras.layers.Dense(1, activation='sigmoid')])
    model.compile(loss='binary_crossentropy', optimizer='adam', metrics=['accuracy'])
    model.summary()
    history = model.fit(training_padded, training_labels, epochs=30,
                        validation_data=(testing_padded, testing_labels), verbose=0)
    assert history.history['loss'][-1] < history.history['loss'][0]
    assert len(history.history['val_accuracy']) == 30

    e = model.layers[0]
    weights = e.get_weights()[0]
    assert weights.shape == (vocab_size, embedding_dim)
    out_v = io.StringIO()
    out_m = io.StringIO()
    for word_num in range(1, vocab_size):
        if word_num not in reverse_word_index:
            continue
        word = reverse_word_index[word_num]
        embeddings = weights[word_num]
        out_m.write(word + "\n")
        out_v.write('\t'.join([str(x) for x in embeddings]) + "\n")
    assert out_m.getvalue().split("\n")[0] == "<OOV>"

    sentence = ["granny starting to fear spiders in the garden might be real",
                "game of thrones season finale showing this sunday night"]
    sequences = tokenizer.texts_to_sequences(sentence)
    padded = pad_sequences(sequences, maxlen=max_length, padding=padding_type,
                           truncating=trunc_type)
    pred = model.predict(padded, verbose=0)
    # NumPy: embedding lookup, mean over all max_length positions, two dense layers
    w1, b1 = model.layers[2].get_weights()
    w2, b2 = model.layers[3].get_weights()
    h = weights[padded].mean(axis=1)
    ref = 1 / (1 + np.exp(-(np.maximum(h @ w1 + b1, 0) @ w2 + b2)))
    np.testing.assert_allclose(pred, ref, rtol=1e-4, atol=1e-6)


# ----------------------------------------------------------------------------------------
# C3 W3: stacked Bidirectional LSTMs, GRU and Conv1D text classifiers
# ----------------------------------------------------------------------------------------

def test_c3w3_bidirectional_lstm_gru_conv1d_models(tmp_path):
    with open(_sarcasm(tmp_path)) as f:
        datastore = json.load(f)
    sentences = [item['headline'] for item in datastore]
    labels = np.array([item['is_sarcastic'] for item in datastore])
    tokenizer = Tokenizer(oov_token="<OOV>")
    tokenizer.fit_on_texts(sentences)
    vocab_size = len(tokenizer.word_index) + 1
    padded = pad_sequences(tokenizer.texts_to_sequences(sentences), maxlen=12,
                           padding='post', truncating='post')

    lstm = tf.keras.Sequential([
        tf.keras.layers.Embedding(vocab_size, 8),
        tf.keras.layers.Bidirectional(tf.keras.layers.LSTM(6, return_sequences=True)),
        tf.keras.layers.Bidirectional(tf.keras.layers.LSTM(4)),
        tf.keras.layers.Dense(6, activation='relu'),
        tf.keras.layers.Dense(1, activation='sigmoid')])
    gru = tf.keras.Sequential([
        tf.keras.layers.Embedding(vocab_size, 8),
        tf.keras.layers.Bidirectional(tf.keras.layers.GRU(4)),
        tf.keras.layers.Dense(6, activation='relu'),
        tf.keras.layers.Dense(1, activation='sigmoid')])
    conv = tf.keras.Sequential([
        tf.keras.layers.Embedding(vocab_size, 8, input_length=12),
        tf.keras.layers.Conv1D(8, 5, activation='relu'),
        tf.keras.layers.GlobalMaxPooling1D(),
        tf.keras.layers.Dense(6, activation='relu'),
        tf.keras.layers.Dense(1, activation='sigmoid')])
    for model in (lstm, gru, conv):
        model.compile(loss='binary_crossentropy', optimizer=tf.keras.optimizers.Adam(0.01),
                      metrics=['accuracy'])
        history = model.fit(padded, labels, epochs=8, batch_size=6, verbose=0)
        assert history.history['loss'][-1] < history.history['loss'][0]
        assert model.predict(padded[:3], verbose=0).shape == (3, 1)
    assert lstm.layers[1].output.shape[1:] == (12, 12) or tuple(
        lstm.layers[1].compute_output_shape((None, 12, 8))) == (None, 12, 12)
    assert tuple(lstm.layers[2].output.shape) == (None, 8)
    # the Conv1D text features against NumPy ('valid' cross-correlation, relu, max over time)
    feat = tf.keras.Model(conv.inputs, conv.layers[2].output)
    emb = conv.layers[0].get_weights()[0][padded[:4]].astype(np.float64)
    k, b = conv.layers[1].get_weights()
    ref = np.stack([sum(emb[:, i:i + 8] @ k[i] for i in range(5)) for _ in [0]])[0] + b
    np.testing.assert_allclose(feat.predict(padded[:4], verbose=0),
                               np.maximum(ref, 0).max(axis=1), rtol=1e-4, atol=1e-5)


# ----------------------------------------------------------------------------------------
# C3 W4: next-word generation from n-gram sequences
# ----------------------------------------------------------------------------------------

def test_c3w4_poetry_next_word_generator():
    from nabi.keras import regularizers
    from nabi.keras.layers import LSTM, Bidirectional, Dense, Dropout, Embedding
    from nabi.keras.models import Sequential
    tokenizer = Tokenizer()
    data = ("In the town of Athy one Jeremy Lanigan \n Battered away til he hadnt a pound. \n"
            "His father died and made him a man again \n Left him a farm and ten acres of "
            "ground. \n He gave a grand party for friends and relations \n Who didnt forget "
            "him when come to the wall,")
    corpus = data.lower().split("\n")
    tokenizer.fit_on_texts(corpus)
    total_words = len(tokenizer.word_index) + 1
    assert tokenizer.word_index == _ref_word_index(corpus)

    input_sequences = []
    for line in corpus:
        token_list = tokenizer.texts_to_sequences([line])[0]
        for i in range(1, len(token_list)):
            n_gram_sequence = token_list[:i + 1]
            input_sequences.append(n_gram_sequence)
    ref_seqs = [s[:i + 1] for s in _ref_texts_to_sequences(corpus, tokenizer.word_index)
                for i in range(1, len(s))]
    assert input_sequences == ref_seqs
    max_sequence_len = max([len(x) for x in input_sequences])
    input_sequences = np.array(pad_sequences(input_sequences, maxlen=max_sequence_len,
                                             padding='pre'))
    np.testing.assert_array_equal(input_sequences, _ref_pad(ref_seqs, max_sequence_len))
    xs, labels = input_sequences[:, :-1], input_sequences[:, -1]
    ys = tf.keras.utils.to_categorical(labels, num_classes=total_words)
    np.testing.assert_array_equal(ys, np.eye(total_words)[labels])
    assert ys.dtype == np.float32

    model = Sequential()
    model.add(Embedding(total_words, 16, input_length=max_sequence_len - 1))
    model.add(Bidirectional(LSTM(12)))
    model.add(Dense(total_words, activation='softmax'))
    model.compile(loss='categorical_crossentropy', optimizer=tf.keras.optimizers.Adam(0.02),
                  metrics=['accuracy'])
    history = model.fit(xs, ys, epochs=25, verbose=0)
    acc = history.history['accuracy']
    assert history.history['loss'][-1] < 0.7 * history.history['loss'][0]
    assert acc[-1] > acc[0]

    seed_text = "Laurence went to dublin"
    next_words = 4
    for _ in range(next_words):
        token_list = tokenizer.texts_to_sequences([seed_text])[0]
        token_list = pad_sequences([token_list], maxlen=max_sequence_len - 1, padding='pre')
        probs = model.predict(token_list, verbose=0)
        predicted = np.argmax(probs, axis=-1)
        assert probs.shape == (1, total_words)
        output_word = ""
        for word, index in tokenizer.word_index.items():
            if index == predicted:
                output_word = word
                break
        seed_text += " " + output_word
    words = seed_text.split()
    assert len(words) == 4 + next_words
    assert all(w in tokenizer.word_index or w == "" for w in words[4:])

    # the Shakespeare version: stacked, Dropout, an L2 regularizer and total_words / 2 units
    model = Sequential()
    model.add(Embedding(total_words, 16, input_length=max_sequence_len - 1))
    model.add(Bidirectional(LSTM(10, return_sequences=True)))
    model.add(Dropout(0.2))
    model.add(LSTM(8))
    model.add(Dense(total_words / 2, activation='relu',
                    kernel_regularizer=regularizers.l2(0.01)))
    model.add(Dense(total_words, activation='softmax'))
    model.compile(loss='categorical_crossentropy', optimizer='adam', metrics=['accuracy'])
    history = model.fit(xs, ys, epochs=2, verbose=0)
    assert model.layers[4].units == total_words // 2
    assert model.layers[4].get_weights()[0].shape == (8, total_words // 2)
    assert np.all(np.isfinite(history.history['loss']))


def test_c3w4_newer_text_vectorization_generator():
    """The 2023 C3W4 lab: n-grams from TextVectorization, tf.keras.utils.pad_sequences on a
    list holding a Tensor, a tf.data pipeline, the vocabulary lookup of the argmax."""
    data = ("In the town of Athy one Jeremy Lanigan \n Battered away til he hadnt a pound. \n"
            "His father died and made him a man again \n Left him a farm and ten acres of "
            "ground.")
    corpus = data.lower().split("\n")
    vectorize_layer = tf.keras.layers.TextVectorization()
    vectorize_layer.adapt(corpus)
    vocabulary = vectorize_layer.get_vocabulary()
    vocab_size = len(vocabulary)
    assert vocabulary == _ref_tv_vocabulary(corpus)
    index = {w: i for i, w in enumerate(vocabulary)}
    input_sequences = []
    for line in corpus:
        sequence = vectorize_layer(line).numpy()
        np.testing.assert_array_equal(sequence, [index[w] for w in _ref_words(line)])
        for i in range(1, len(sequence)):
            n_gram_sequence = sequence[:i + 1]
            input_sequences.append(n_gram_sequence)
    max_sequence_len = max([len(x) for x in input_sequences])
    input_sequences = np.array(tf.keras.utils.pad_sequences(input_sequences,
                                                            maxlen=max_sequence_len,
                                                            padding='pre'))
    np.testing.assert_array_equal(input_sequences,
                                  _ref_pad([list(s) for s in input_sequences],
                                           max_sequence_len))
    xs, labels = input_sequences[:, :-1], input_sequences[:, -1]
    ys = tf.keras.utils.to_categorical(labels, num_classes=vocab_size)
    dataset = tf.data.Dataset.from_tensor_slices((xs, ys))
    dataset = dataset.shuffle(100).batch(8)
    model = tf.keras.Sequential([
        tf.keras.Input(shape=(max_sequence_len - 1,)),
        tf.keras.layers.Embedding(vocab_size, 16),
        tf.keras.layers.Bidirectional(tf.keras.layers.LSTM(12)),
        tf.keras.layers.Dense(vocab_size, activation='softmax')])
    model.compile(loss='categorical_crossentropy', optimizer=tf.keras.optimizers.Adam(0.02),
                  metrics=['accuracy'])
    history = model.fit(dataset, epochs=20, verbose=0)
    assert history.history['loss'][-1] < 0.7 * history.history['loss'][0]
    seed_text = "Help me Obi Wan Kenobi, you're my only hope"
    for _ in range(3):
        sequence = vectorize_layer(seed_text)
        sequence = tf.keras.utils.pad_sequences([sequence], maxlen=max_sequence_len - 1,
                                                padding='pre')
        assert sequence.shape == (1, max_sequence_len - 1)
        probabilities = model.predict(sequence, verbose=0)
        predicted = np.argmax(probabilities, axis=-1)[0]
        if predicted != 0:
            output_word = vocabulary[predicted]
            seed_text += " " + output_word
    assert len(seed_text.split()) >= 9


# ----------------------------------------------------------------------------------------
# C4 W1: synthetic series, naive and moving-average forecasts
# ----------------------------------------------------------------------------------------

def trend(time, slope=0):
    return slope * time


def seasonal_pattern(season_time):
    return np.where(season_time < 0.4, np.cos(season_time * 2 * np.pi),
                    1 / np.exp(3 * season_time))


def seasonality(time, period, amplitude=1, phase=0):
    season_time = ((time + phase) % period) / period
    return amplitude * seasonal_pattern(season_time)


def noise(time, noise_level=1, seed=None):
    rnd = np.random.RandomState(seed)
    return rnd.randn(len(time)) * noise_level


def _series(n=4 * 365 + 1):
    time = np.arange(n, dtype="float32")
    baseline = 10
    amplitude = 40
    slope = 0.05
    noise_level = 5
    series = baseline + trend(time, slope) + seasonality(time, period=365, amplitude=amplitude)
    series += noise(time, noise_level, seed=42)
    return time, series


def moving_average_forecast(series, window_size):
    forecast = []
    for time in range(len(series) - window_size):
        forecast.append(series[time:time + window_size].mean())
    return np.array(forecast)


def test_c4w1_naive_and_moving_average_forecasts(tmp_path):
    time, series = _series()
    split_time = 1000
    time_train, x_train = time[:split_time], series[:split_time]
    time_valid, x_valid = time[split_time:], series[split_time:]
    naive_forecast = series[split_time - 1:-1]
    mse = keras.metrics.mean_squared_error(x_valid, naive_forecast).numpy()
    mae = keras.metrics.mean_absolute_error(x_valid, naive_forecast).numpy()
    np.testing.assert_allclose(mse, np.mean((x_valid - naive_forecast) ** 2), rtol=1e-5)
    np.testing.assert_allclose(mae, np.mean(np.abs(x_valid - naive_forecast)), rtol=1e-5)

    moving_avg = moving_average_forecast(series, 30)[split_time - 30:]
    assert moving_avg.shape == x_valid.shape
    diff_series = (series[365:] - series[:-365])
    diff_moving_avg = moving_average_forecast(diff_series, 50)[split_time - 365 - 50:]
    diff_moving_avg_plus_past = series[split_time - 365:-365] + diff_moving_avg
    diff_moving_avg_plus_smooth_past = moving_average_forecast(
        series[split_time - 370:-360], 10) + diff_moving_avg
    for fc in (moving_avg, diff_moving_avg_plus_past, diff_moving_avg_plus_smooth_past):
        got = tf.keras.metrics.mean_absolute_error(x_valid, fc).numpy()
        np.testing.assert_allclose(got, np.mean(np.abs(x_valid - fc)), rtol=1e-5)
    # the smoothed-past forecast beats the naive one, as the lab shows
    assert np.mean(np.abs(x_valid - diff_moving_avg_plus_smooth_past)) < mae

    plt = _pyplot()
    if plt is None:
        return

    def plot_series(time, series, format="-", start=0, end=None):
        plt.plot(time[start:end], series[start:end], format)
        plt.xlabel("Time")
        plt.ylabel("Value")
        plt.grid(True)

    plt.figure(figsize=(10, 6))
    plot_series(time_valid, x_valid)
    plot_series(time_valid, naive_forecast)
    plt.savefig(tmp_path / "naive.png")
    plt.close("all")


# ----------------------------------------------------------------------------------------
# C4 W2: windowed datasets, a Dense forecaster, the learning-rate sweep
# ----------------------------------------------------------------------------------------

def windowed_dataset(series, window_size, batch_size, shuffle_buffer):
    dataset = tf.data.Dataset.from_tensor_slices(series)
    dataset = dataset.window(window_size + 1, shift=1, drop_remainder=True)
    dataset = dataset.flat_map(lambda window: window.batch(window_size + 1))
    dataset = dataset.shuffle(shuffle_buffer).map(lambda window: (window[:-1], window[-1]))
    dataset = dataset.batch(batch_size).prefetch(1)
    return dataset


def test_c4w2_tf_data_windows_match_numpy():
    dataset = tf.data.Dataset.range(10)
    dataset = dataset.window(5, shift=1)
    got = []
    for window_dataset in dataset:
        got.append([int(val.numpy()) for val in window_dataset])
    assert got == [list(range(i, min(i + 5, 10))) for i in range(10)]

    dataset = tf.data.Dataset.range(10)
    dataset = dataset.window(5, shift=1, drop_remainder=True)
    dataset = dataset.flat_map(lambda window: window.batch(5))
    dataset = dataset.map(lambda window: (window[:-1], window[-1:]))
    dataset = dataset.shuffle(buffer_size=10)
    dataset = dataset.batch(2).prefetch(1)
    xs, ys = [], []
    for x, y in dataset:
        assert x.shape[1:] == (4,) and y.shape[1:] == (1,)
        xs.extend(x.numpy().tolist())
        ys.extend(y.numpy().tolist())
    assert len(xs) == 6
    assert sorted(zip(map(tuple, xs), map(tuple, ys))) == [
        (tuple(range(i, i + 4)), (i + 4,)) for i in range(6)]

    series = np.sin(np.arange(40, dtype=np.float32) / 3) * 10
    ds = windowed_dataset(series, window_size=6, batch_size=8, shuffle_buffer=50)
    X, Y = [], []
    for x, y in ds:
        assert x.dtype == tf.float32 and x.shape[1] == 6 and len(y.shape) == 1
        X.append(x.numpy())
        Y.append(y.numpy())
    X, Y = np.concatenate(X), np.concatenate(Y)
    ref = np.lib.stride_tricks.sliding_window_view(series, 7)
    order = np.argsort(X[:, 0] * 1000 + X[:, 1])
    ref_order = np.argsort(ref[:, 0] * 1000 + ref[:, 1])
    np.testing.assert_array_equal(X[order], ref[ref_order, :-1])
    np.testing.assert_array_equal(Y[order], ref[ref_order, -1])


def test_c4w2_dense_forecaster_and_lr_sweep_values():
    time, series = _series(500)
    split_time = 400
    x_train = series[:split_time]
    x_valid = series[split_time:]
    window_size, batch_size, shuffle_buffer_size = 20, 32, 1000

    dataset = windowed_dataset(x_train, window_size, batch_size, shuffle_buffer_size)
    l0 = tf.keras.layers.Dense(1, input_shape=[window_size])
    model = tf.keras.models.Sequential([l0])
    model.compile(loss="mse", optimizer=tf.keras.optimizers.SGD(learning_rate=1e-6,
                                                                momentum=0.9))
    h = model.fit(dataset, epochs=5, verbose=0)
    assert h.history['loss'][-1] < h.history['loss'][0]
    print("Layer weights {}".format(l0.get_weights()))
    forecast = []
    for time_ in range(split_time - window_size, split_time - window_size + 5):
        forecast.append(model.predict(series[time_:time_ + window_size][np.newaxis],
                                      verbose=0))
    results = np.array(forecast)[:, 0, 0]
    w, b = l0.get_weights()
    ref = np.stack([series[t:t + window_size] for t in range(split_time - window_size,
                                                             split_time - window_size + 5)])
    np.testing.assert_allclose(results, ref @ w[:, 0] + b[0], rtol=1e-4)
    assert np.isfinite(tf.keras.metrics.mean_absolute_error(x_valid[:5], results).numpy())

    # the sweep: the scheduler sets 1e-8 * 10**(epoch / 20) before each epoch
    tf.keras.backend.clear_session()
    model = tf.keras.models.Sequential([
        tf.keras.layers.Dense(8, input_shape=[window_size], activation="relu"),
        tf.keras.layers.Dense(1)])
    lr_schedule = tf.keras.callbacks.LearningRateScheduler(lambda epoch: 1e-8 * 10**(epoch / 20))
    seen = []

    class Spy(tf.keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            seen.append(float(np.asarray(self.model.optimizer.learning_rate)))

    optimizer = tf.keras.optimizers.SGD(learning_rate=1e-8, momentum=0.9)
    model.compile(loss="mse", optimizer=optimizer)
    history = model.fit(dataset, epochs=6, callbacks=[lr_schedule, Spy()], verbose=0)
    lrs = 1e-8 * (10 ** (np.arange(6) / 20))
    np.testing.assert_allclose(seen, lrs, rtol=1e-6)
    key = 'learning_rate' if 'learning_rate' in history.history else 'lr'
    np.testing.assert_allclose(history.history[key], lrs, rtol=1e-6)
    assert len(history.history["loss"]) == 6


def test_lr_schedule_drives_sgd_momentum_updates_vs_numpy():
    """The sweep's callback really changes the step: fixed batches, SGD(momentum=0.9) with
    the scheduled rate, against the NumPy update v = 0.9 v - lr g; w += v."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(12, 3)).astype(np.float32)
    y = (X @ np.array([1.0, -2.0, 0.5]) + 0.3).astype(np.float32)
    ds = tf.data.Dataset.from_tensor_slices((X, y)).batch(4)
    model = tf.keras.Sequential([tf.keras.layers.Dense(1, input_shape=[3])])
    sched = lambda epoch: 1e-2 * 10**(epoch / 20)   # noqa: E731
    model.compile(loss="mse", optimizer=tf.keras.optimizers.SGD(learning_rate=1.0,
                                                               momentum=0.9))
    w, b = [a.astype(np.float64) for a in model.get_weights()]
    model.fit(ds, epochs=4, callbacks=[tf.keras.callbacks.LearningRateScheduler(sched)],
              verbose=0)
    vw, vb = np.zeros_like(w), np.zeros_like(b)
    for epoch in range(4):
        lr = sched(epoch)
        for i in range(0, 12, 4):
            xb, yb = X[i:i + 4].astype(np.float64), y[i:i + 4].astype(np.float64)
            e = (xb @ w + b)[:, 0] - yb
            gw = 2 * xb.T @ e[:, None] / 4
            gb = np.array([2 * e.mean()])
            vw, vb = 0.9 * vw - lr * gw, 0.9 * vb - lr * gb
            w, b = w + vw, b + vb
    gw_, gb_ = model.get_weights()
    np.testing.assert_allclose(gw_, w, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(gb_, b, rtol=1e-4, atol=1e-5)


# ----------------------------------------------------------------------------------------
# C4 W3-W4: Lambda layers, SimpleRNN / Bidirectional LSTM, Conv1D(causal) + LSTM, sunspots
# ----------------------------------------------------------------------------------------

def test_c4w3_rnn_forecasters_with_lambda_layers(tmp_path):
    time, series = _series(200)
    x_train = series[:170].astype(np.float32)
    window_size, batch_size = 12, 16
    train_set = windowed_dataset(x_train, window_size, batch_size=batch_size,
                                 shuffle_buffer=100)
    rnn = tf.keras.models.Sequential([
        tf.keras.layers.Lambda(lambda x: tf.expand_dims(x, axis=-1), input_shape=[None]),
        tf.keras.layers.SimpleRNN(8, return_sequences=True),
        tf.keras.layers.SimpleRNN(8),
        tf.keras.layers.Dense(1),
        tf.keras.layers.Lambda(lambda x: x * 100.0)])
    lstm = tf.keras.models.Sequential([
        tf.keras.layers.Lambda(lambda x: tf.expand_dims(x, axis=-1), input_shape=[None]),
        tf.keras.layers.Bidirectional(tf.keras.layers.LSTM(8, return_sequences=True)),
        tf.keras.layers.Bidirectional(tf.keras.layers.LSTM(8)),
        tf.keras.layers.Dense(1),
        tf.keras.layers.Lambda(lambda x: x * 100.0)])
    for model in (rnn, lstm):
        optimizer = tf.keras.optimizers.SGD(learning_rate=1e-5, momentum=0.9)
        model.compile(loss=tf.keras.losses.Huber(), optimizer=optimizer, metrics=["mae"])
        history = model.fit(train_set, epochs=4, verbose=0)
        assert set(history.history) == {'loss', 'mae'}
        assert history.history['loss'][-1] < history.history['loss'][0]
        # any window length goes through the input_shape=[None] Lambda
        assert model.predict(series[np.newaxis, :7], verbose=0).shape == (1, 1)
        assert model.predict(series[np.newaxis, :window_size], verbose=0).shape == (1, 1)
    # Huber (delta 1) and mae against NumPy on a batch
    x, y = next(iter(train_set))
    # the Lambda model saved as .h5 loads back with safe_mode=False (and only then)
    path = str(tmp_path / "rnn_forecaster.h5")
    lstm.save(path)
    with pytest.raises(ValueError, match="safe_mode"):
        tf.keras.models.load_model(path)
    back = tf.keras.models.load_model(path, safe_mode=False)
    np.testing.assert_allclose(back.predict(x, verbose=0), lstm.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-5)
    p = lstm.predict(x, verbose=0)[:, 0]
    e = np.abs(y.numpy() - p)
    huber = np.mean(np.where(e <= 1, 0.5 * e ** 2, e - 0.5))
    loss, mae = lstm.evaluate(x, y, verbose=0)
    np.testing.assert_allclose(loss, huber, rtol=1e-4)
    np.testing.assert_allclose(mae, e.mean(), rtol=1e-4)


def _seq_windowed_dataset(series, window_size, batch_size, shuffle_buffer):
    series = tf.expand_dims(series, axis=-1)
    ds = tf.data.Dataset.from_tensor_slices(series)
    ds = ds.window(window_size + 1, shift=1, drop_remainder=True)
    ds = ds.flat_map(lambda w: w.batch(window_size + 1))
    ds = ds.shuffle(shuffle_buffer)
    ds = ds.map(lambda w: (w[:-1], w[1:]))
    return ds.batch(batch_size).prefetch(1)


def model_forecast(model, series, window_size):
    ds = tf.data.Dataset.from_tensor_slices(series)
    ds = ds.window(window_size, shift=1, drop_remainder=True)
    ds = ds.flat_map(lambda w: w.batch(window_size))
    ds = ds.batch(32).prefetch(1)
    forecast = model.predict(ds, verbose=0)
    return forecast


def test_c4w4_conv1d_causal_lstm_and_model_forecast():
    time, series = _series(200)
    series = series.astype(np.float32)
    split_time = 160
    x_train, x_valid = series[:split_time], series[split_time:]
    window_size, batch_size = 16, 16
    train_set = _seq_windowed_dataset(x_train, window_size, batch_size, 100)
    x0, y0 = next(iter(train_set))
    assert x0.shape == (16, 16, 1) and y0.shape == (16, 16, 1)
    np.testing.assert_array_equal(x0.numpy()[:, 1:], y0.numpy()[:, :-1])

    model = tf.keras.models.Sequential([
        tf.keras.layers.Conv1D(filters=8, kernel_size=5, strides=1, padding="causal",
                               activation="relu", input_shape=[None, 1]),
        tf.keras.layers.LSTM(8, return_sequences=True),
        tf.keras.layers.LSTM(8, return_sequences=True),
        tf.keras.layers.Dense(1),
        tf.keras.layers.Lambda(lambda x: x * 200)])
    optimizer = tf.keras.optimizers.SGD(learning_rate=1e-5, momentum=0.9)
    model.compile(loss=tf.keras.losses.Huber(), optimizer=optimizer, metrics=["mae"])
    history = model.fit(train_set, epochs=4, verbose=0)
    assert history.history['loss'][-1] < history.history['loss'][0]

    # causal padding: the output at t sees only inputs t-4..t (zeros before the start)
    conv_out = model.layers[0](series[None, :20, None]).numpy()[0]
    k, b = model.layers[0].get_weights()
    xp = np.concatenate([np.zeros(4), series[:20]]).astype(np.float64)
    ref = np.stack([xp[t:t + 5] @ k[:, 0, :] for t in range(20)]) + b
    np.testing.assert_allclose(conv_out, np.maximum(ref, 0), rtol=1e-4, atol=1e-4)

    rnn_forecast = model_forecast(model, series[..., np.newaxis], window_size)
    assert rnn_forecast.shape == (len(series) - window_size + 1, window_size, 1)
    for t in (0, 57, len(series) - window_size):
        one = model.predict(series[None, t:t + window_size, None], verbose=0)
        np.testing.assert_allclose(rnn_forecast[t], one[0], rtol=1e-4, atol=1e-3)
    rnn_forecast = rnn_forecast[split_time - window_size:-1, -1, 0]
    assert rnn_forecast.shape == x_valid.shape
    mae = tf.keras.metrics.mean_absolute_error(x_valid, rnn_forecast).numpy()
    np.testing.assert_allclose(mae, np.mean(np.abs(x_valid - rnn_forecast)), rtol=1e-5)


def test_c4w4_sunspots_csv(tmp_path):
    rng = np.random.default_rng(2)
    months = np.arange(180)
    values = np.round(80 + 70 * np.sin(months * 2 * np.pi / 132) + rng.normal(0, 8, 180), 1)
    with open(tmp_path / "sunspots.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["", "Date", "Monthly Mean Total Sunspot Number"])
        for i, v in enumerate(values):
            w.writerow([i, f"{1749 + i // 12}-{i % 12 + 1:02d}-28", v])

    time_step = []
    sunspots = []
    with open(tmp_path / "sunspots.csv") as csvfile:
        reader = csv.reader(csvfile, delimiter=',')
        next(reader)
        for row in reader:
            sunspots.append(float(row[2]))
            time_step.append(int(row[0]))
    series = np.array(sunspots)
    time = np.array(time_step)
    np.testing.assert_array_equal(series, values)
    np.testing.assert_array_equal(time, months)

    split_time = 150
    x_train = series[:split_time]
    window_size, batch_size, shuffle_buffer_size = 24, 16, 200
    train_set = _seq_windowed_dataset(x_train, window_size, batch_size, shuffle_buffer_size)
    model = tf.keras.models.Sequential([
        tf.keras.layers.Conv1D(filters=8, kernel_size=5, strides=1, padding="causal",
                               activation="relu", input_shape=[None, 1]),
        tf.keras.layers.LSTM(8, return_sequences=True),
        tf.keras.layers.LSTM(8, return_sequences=True),
        tf.keras.layers.Dense(6, activation="relu"),
        tf.keras.layers.Dense(4, activation="relu"),
        tf.keras.layers.Dense(1),
        tf.keras.layers.Lambda(lambda x: x * 400)])
    optimizer = tf.keras.optimizers.SGD(learning_rate=1e-6, momentum=0.9)
    model.compile(loss=tf.keras.losses.Huber(), optimizer=optimizer, metrics=["mae"])
    history = model.fit(train_set, epochs=3, verbose=0)
    assert len(history.history['mae']) == 3 and np.all(np.isfinite(history.history['loss']))
    rnn_forecast = model_forecast(model, series[..., np.newaxis], window_size)
    rnn_forecast = rnn_forecast[split_time - window_size:-1, -1, 0]
    assert rnn_forecast.shape == (len(series) - split_time,)


# ----------------------------------------------------------------------------------------
# Udacity L8 (time series): stateful RNN with a reset-states callback, WaveNet-style
# dilated causal convolutions, EarlyStopping + ModelCheckpoint
# ----------------------------------------------------------------------------------------

def sequential_window_dataset(series, window_size):
    series = tf.expand_dims(series, axis=-1)
    ds = tf.data.Dataset.from_tensor_slices(series)
    ds = ds.window(window_size + 1, shift=window_size, drop_remainder=True)
    ds = ds.flat_map(lambda window: window.batch(window_size + 1))
    ds = ds.map(lambda window: (window[:-1], window[1:]))
    return ds.batch(1).prefetch(1)


def test_udacity_stateful_rnn_reset_states_and_checkpoint(tmp_path):
    time, series = _series(160)
    series = series.astype(np.float32)
    train_set = sequential_window_dataset(series[:120], 20)
    valid_set = sequential_window_dataset(series[100:], 20)
    xs = [x.numpy() for x, _ in train_set]
    assert len(xs) == 5 and all(x.shape == (1, 20, 1) for x in xs)
    np.testing.assert_array_equal(np.concatenate(xs, axis=1)[0, :, 0], series[:100])

    class ResetStatesCallback(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs):
            self.model.reset_states()

    model = keras.models.Sequential([
        keras.layers.SimpleRNN(8, return_sequences=True, stateful=True,
                               batch_input_shape=[1, None, 1]),
        keras.layers.SimpleRNN(8, return_sequences=True, stateful=True),
        keras.layers.Dense(1),
        keras.layers.Lambda(lambda x: x * 200.0)])
    lr_schedule = keras.callbacks.LearningRateScheduler(lambda epoch: 1e-8 * 10**(epoch / 30))
    reset_states = ResetStatesCallback()
    optimizer = keras.optimizers.SGD(learning_rate=1e-8, momentum=0.9)
    model.compile(loss=keras.losses.Huber(), optimizer=optimizer, metrics=["mae"])
    early_stopping = keras.callbacks.EarlyStopping(patience=2)
    model_checkpoint = keras.callbacks.ModelCheckpoint(str(tmp_path / "my_checkpoint.h5"),
                                                       save_best_only=True)
    history = model.fit(train_set, epochs=3, validation_data=valid_set,
                        callbacks=[lr_schedule, reset_states, early_stopping,
                                   model_checkpoint], verbose=0)
    assert {'loss', 'mae', 'val_loss', 'val_mae'} <= set(history.history)
    assert (tmp_path / "my_checkpoint.h5").exists()

    # the state carries over between calls: two chunks after a reset are the whole series
    x = series[np.newaxis, :40, np.newaxis]
    model.reset_states()
    whole = model.predict(x, verbose=0)
    model.reset_states()
    first = model.predict(x[:, :25], verbose=0)
    second = model.predict(x[:, 25:], verbose=0)
    np.testing.assert_allclose(np.concatenate([first, second], axis=1), whole,
                               rtol=1e-4, atol=1e-3)
    # ... and without a reset it does not start from zeros
    again = model.predict(x[:, :25], verbose=0)
    assert not np.allclose(again, first)
    model.reset_states()
    rnn_forecast = model.predict(series[np.newaxis, :, np.newaxis], verbose=0)
    rnn_forecast = rnn_forecast[0, 120 - 1:-1, 0]
    assert rnn_forecast.shape == (40,)
    back = keras.models.load_model(str(tmp_path / "my_checkpoint.h5"), safe_mode=False)
    assert [l.stateful for l in back.layers[:2]] == [True, True]


def test_udacity_wavenet_dilated_causal_conv1d_vs_numpy():
    time, series = _series(200)
    model = keras.models.Sequential()
    model.add(keras.layers.InputLayer(input_shape=[None, 1]))
    for dilation_rate in (1, 2, 4, 8):
        model.add(keras.layers.Conv1D(filters=4, kernel_size=2, strides=1,
                                      dilation_rate=dilation_rate, padding="causal",
                                      activation="relu"))
    model.add(keras.layers.Conv1D(filters=1, kernel_size=1))
    optimizer = keras.optimizers.Adam(learning_rate=3e-4)
    model.compile(loss=keras.losses.Huber(), optimizer=optimizer, metrics=["mae"])
    train_set = _seq_windowed_dataset(series[:150].astype(np.float32), 32, 8, 100)
    history = model.fit(train_set, epochs=3, verbose=0)
    assert history.history['loss'][-1] < history.history['loss'][0]
    x = series[None, :30, None].astype(np.float32)
    out = model.predict(x, verbose=0)
    h = x[0].astype(np.float64)
    for i, d in enumerate((1, 2, 4, 8)):
        k, b = model.layers[i].get_weights()
        hp = np.concatenate([np.zeros((d, h.shape[1])), h])   # causal: pad d on the left
        h = np.maximum(np.stack([hp[t] @ k[0] + hp[t + d] @ k[1] for t in range(30)]) + b, 0)
    k, b = model.layers[4].get_weights()
    np.testing.assert_allclose(out[0], h @ k[0] + b, rtol=1e-4, atol=1e-4)
