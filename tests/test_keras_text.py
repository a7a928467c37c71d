"""Keras text APIs: keras.preprocessing.text (Tokenizer, text_to_word_sequence, one_hot,
hashing_trick), keras.layers.TextVectorization and keras.utils.text_dataset_from_directory.

Expectations are written here independently of the code under test: word indices counted by
hand for small corpora following Keras's documented rules (count descending, ties by first
appearance for the Tokenizer; ties by token descending for TextVectorization's adapt), the
matrices of each mode by explicit NumPy counting, directory datasets built in tmp_path with
known files, and an LSTM sentiment model whose `predict` on raw strings must agree with the
same layers applied to the vectorized strings (on the CPU, the emulated GPU and a real GPU)."""
import collections
import hashlib
import os
import subprocess
import sys

import numpy as np
import pytest

import nabi
from nabi import keras
from nabi.keras import layers
from nabi.keras.preprocessing import text as ktext

from helpers import assert_array


def _np(t):
    return t.numpy() if isinstance(t, nabi.Tensor) else np.asarray(t)


# ============================================================================ Tokenizer

CORPUS = ["The cat sat on the mat.", "The dog ate my homework!", "My cat ate the fish"]
# counts: the 4, cat 2, ate 2, my 2, the rest 1; equal counts keep first-appearance order
WORD_INDEX = {"the": 1, "cat": 2, "ate": 3, "my": 4, "sat": 5, "on": 6, "mat": 7, "dog": 8,
              "homework": 9, "fish": 10}
WORD_DOCS = {"the": 3, "cat": 2, "ate": 2, "my": 2, "sat": 1, "on": 1, "mat": 1, "dog": 1,
             "homework": 1, "fish": 1}


def test_text_to_word_sequence_rules():
    assert ktext.text_to_word_sequence("Hello, World!  It's--fine\tnow\n") == \
        ["hello", "world", "it's", "fine", "now"]
    assert ktext.text_to_word_sequence("A,B", lower=False) == ["A", "B"]
    assert ktext.text_to_word_sequence("a-b c", filters="", split="-") == ["a", "b c"]
    assert ktext.text_to_word_sequence("a.b;c", split=";") == ["a", "b", "c"]
    with pytest.raises(ValueError, match=r"\[text_to_word_sequence\].*split"):
        ktext.text_to_word_sequence("a b", split="")


def test_tokenizer_word_index_and_sequences():
    tok = ktext.Tokenizer()
    tok.fit_on_texts(CORPUS)
    assert tok.word_index == WORD_INDEX
    assert tok.index_word == {i: w for w, i in WORD_INDEX.items()}
    assert isinstance(tok.word_counts, collections.OrderedDict)
    assert list(tok.word_counts.items()) == [
        ("the", 4), ("cat", 2), ("sat", 1), ("on", 1), ("mat", 1), ("dog", 1), ("ate", 2),
        ("my", 2), ("homework", 1), ("fish", 1)]
    assert dict(tok.word_docs) == WORD_DOCS
    assert tok.document_count == 3
    probe = ["the cat ate a bird", "MY fish, my mat"]
    assert tok.texts_to_sequences(probe) == [[1, 2, 3], [4, 10, 4, 7]]
    assert list(tok.texts_to_sequences_generator(probe)) == [[1, 2, 3], [4, 10, 4, 7]]
    assert tok.sequences_to_texts([[1, 2, 99, 3]]) == ["the cat ate"]

    # num_words cuts at texts_to_sequences time; word_index keeps every word
    cut = ktext.Tokenizer(num_words=4)
    cut.fit_on_texts(CORPUS)
    assert cut.word_index == WORD_INDEX
    assert cut.texts_to_sequences(["my cat sat on the mat"]) == [[2, 1]]
    assert cut.sequences_to_texts([[4, 2, 1]]) == ["cat the"]

    # oov_token is index 1, the words follow; out-of-range and unknown words become it
    oov = ktext.Tokenizer(num_words=5, oov_token="<OOV>")
    oov.fit_on_texts(CORPUS)
    assert oov.word_index == {"<OOV>": 1, **{w: i + 1 for w, i in WORD_INDEX.items()}}
    assert oov.texts_to_sequences(["my cat sat zebra the"]) == [[1, 3, 1, 1, 2]]
    assert oov.sequences_to_texts([[2, 3, 99, 4, 7]]) == ["the cat <OOV> ate <OOV>"]

    # refitting accumulates counts
    tok.fit_on_texts(["fish fish fish fish fish"])
    assert tok.word_index["fish"] == 1 and tok.word_index["the"] == 2
    assert tok.document_count == 4


def test_tokenizer_char_level_lists_and_analyzer():
    tok = ktext.Tokenizer(char_level=True)
    tok.fit_on_texts(["abCb", "c"])   # a 1, b 2, c 2 -> b (first seen) before c, then a
    assert tok.word_index == {"b": 1, "c": 2, "a": 3}
    assert tok.texts_to_sequences(["cab!"]) == [[2, 3, 1]]
    lists = ktext.Tokenizer()
    lists.fit_on_texts([["New York", "is"], ["new york"]])   # token lists: lower-cased only
    assert lists.word_index == {"new york": 1, "is": 2}
    an = ktext.Tokenizer(analyzer=lambda s: s.split("|"))
    an.fit_on_texts(["x|y|y", "z"])
    assert an.word_index == {"y": 1, "x": 2, "z": 3}


def _matrix_ref(tok, seqs, mode, num_words):
    """Keras's documented document-term matrix, counted with NumPy."""
    out = np.zeros((len(seqs), num_words))
    for i, s in enumerate(seqs):
        s = np.asarray(s, np.int64)
        if not s.size:
            continue
        c = np.bincount(s[s < num_words], minlength=num_words).astype(float)
        nz = c > 0
        if mode == "binary":
            out[i] = nz
        elif mode == "count":
            out[i] = c
        elif mode == "freq":
            out[i] = c / len(s)
        else:
            df = np.array([tok.word_docs.get(tok.index_word.get(j), 0)
                           for j in range(num_words)], float)
            out[i, nz] = (1 + np.log(c[nz])) * np.log(1 + tok.document_count / (1 + df[nz]))
    return out


@pytest.mark.parametrize("mode", ["binary", "count", "tfidf", "freq"])
@pytest.mark.parametrize("num_words", [None, 6])
def test_tokenizer_matrices(mode, num_words):
    tok = ktext.Tokenizer(num_words=num_words)
    tok.fit_on_texts(CORPUS)
    probe = ["the the cat ate my homework", "", "fish dog dog zebra"]
    n = num_words or len(WORD_INDEX) + 1
    # texts_to_sequences already drops the words with an index >= num_words
    seqs = [[WORD_INDEX[w] for w in ktext.text_to_word_sequence(t)
             if w in WORD_INDEX and WORD_INDEX[w] < n] for t in probe]
    got = tok.texts_to_matrix(probe, mode=mode)
    assert got.shape == (3, n) and got.dtype == np.float64
    np.testing.assert_allclose(got, _matrix_ref(tok, seqs, mode, n), rtol=1e-12)
    # sequences_to_matrix ignores indices >= num_words ('freq' still counts them in the length)
    raw = [[1, 1, 2, 3, 4, 9], [], [10, 8, 8]]
    np.testing.assert_allclose(tok.sequences_to_matrix(raw, mode=mode),
                               _matrix_ref(tok, raw, mode, n), rtol=1e-12)


def test_tokenizer_json_round_trip_and_errors():
    tok = ktext.Tokenizer(num_words=8, oov_token="<OOV>")
    tok.fit_on_texts(CORPUS)
    js = tok.to_json()
    new = ktext.tokenizer_from_json(js)
    assert new.word_index == tok.word_index and new.index_word == tok.index_word
    assert dict(new.word_counts) == dict(tok.word_counts)
    assert new.document_count == 3 and new.num_words == 8 and new.oov_token == "<OOV>"
    probe = ["my cat ate a fish on the mat"]
    assert new.texts_to_sequences(probe) == tok.texts_to_sequences(probe)
    np.testing.assert_allclose(new.texts_to_matrix(probe, "tfidf"),
                               tok.texts_to_matrix(probe, "tfidf"))
    cfg = tok.get_config()
    assert set(cfg) >= {"num_words", "filters", "lower", "split", "char_level", "oov_token",
                        "document_count", "word_counts", "word_docs", "index_docs",
                        "index_word", "word_index"}
    with pytest.raises(ValueError, match=r"\[Tokenizer\].*mode='bogus'"):
        tok.texts_to_matrix(probe, mode="bogus")
    with pytest.raises(ValueError, match=r"\[Tokenizer\].*num_words"):
        ktext.Tokenizer().sequences_to_matrix([[1]])
    with pytest.raises(ValueError, match=r"\[Tokenizer\].*tfidf"):
        ktext.Tokenizer(num_words=3).sequences_to_matrix([[1]], mode="tfidf")
    with pytest.raises(TypeError, match=r"\[Tokenizer\].*bogus"):
        ktext.Tokenizer(bogus=1)
    with pytest.raises(TypeError, match=r"\[Tokenizer.fit_on_texts\].*single string"):
        ktext.Tokenizer().fit_on_texts("just one string")
    with pytest.raises(ValueError, match=r"\[tokenizer_from_json\]"):
        ktext.tokenizer_from_json("[1, 2]")
    # fit_on_sequences updates the document counts used by tfidf
    seq_tok = ktext.Tokenizer(num_words=4)
    seq_tok.fit_on_sequences([[1, 2, 2], [2, 3]])
    assert seq_tok.document_count == 2 and dict(seq_tok.index_docs) == {1: 1, 2: 2, 3: 1}
    got = seq_tok.sequences_to_matrix([[2, 2]], mode="tfidf")
    np.testing.assert_allclose(got[0, 2], (1 + np.log(2)) * np.log(1 + 2 / 3))


def test_one_hot_and_hashing_trick_are_md5_and_deterministic():
    n = 50
    words = ktext.text_to_word_sequence("The quick brown fox, the lazy dog")
    ref = [int(hashlib.md5(w.encode()).hexdigest(), 16) % (n - 1) + 1 for w in words]
    assert ktext.one_hot("The quick brown fox, the lazy dog", n) == ref
    assert ktext.hashing_trick("The quick brown fox, the lazy dog", n, "md5") == ref
    assert ktext.hashing_trick("a b a", 7, hash_function=len) == [2, 2, 2]
    assert all(1 <= v < n for v in ref) and ref[0] == ref[4]   # "the" twice
    # the same indices in another process with another string-hash salt
    code = ("from nabi.keras.preprocessing.text import one_hot;"
            "print(one_hot('The quick brown fox, the lazy dog', 50))")
    pkg_parent = os.path.dirname(os.path.dirname(os.path.abspath(nabi.__file__)))
    env = dict(os.environ, PYTHONHASHSEED="12345",
               PYTHONPATH=os.pathsep.join([pkg_parent, os.environ.get("PYTHONPATH", "")]))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str(ref)
    with pytest.raises(ValueError, match=r"\[hashing_trick\].*n=1"):
        ktext.one_hot("a", 1)
    with pytest.raises(ValueError, match=r"\[hashing_trick\].*hash_function"):
        ktext.hashing_trick("a", 5, hash_function="sha1")


def test_keras_preprocessing_text_import_path():
    assert keras.preprocessing.text.Tokenizer is ktext.Tokenizer
    assert keras.preprocessing.text.tokenizer_from_json is ktext.tokenizer_from_json


# ============================================================================ TextVectorization

TV_CORPUS = ["The cat sat.", "The dog, the CAT!", "a bird"]
# standardized: "the cat sat", "the dog the cat", "a bird"; the 3, cat 2, then count-1 tokens
# in decreasing token order: sat, dog, bird, a
TV_VOCAB = ["the", "cat", "sat", "dog", "bird", "a"]
TV_DOCS = [["the", "cat", "sat"], ["the", "dog", "the", "cat"], ["a", "bird"]]


def _int_ref(docs, vocab, length):
    idx = {t: i + 2 for i, t in enumerate(vocab)}
    out = np.zeros((len(docs), length), np.int64)
    for r, d in enumerate(docs):
        ids = [idx.get(t, 1) for t in d][:length]
        out[r, :len(ids)] = ids
    return out


def _vector_ref(docs, vocab, mode, idf=None, depth=None):
    idx = {t: i + 1 for i, t in enumerate(vocab)}
    depth = depth or len(vocab) + 1
    out = np.zeros((len(docs), depth), np.float32)
    for r, d in enumerate(docs):
        for t in d:
            j = idx.get(t, 0)
            out[r, j] = 1 if mode == "multi_hot" else out[r, j] + 1
    if mode == "tf_idf":
        out = out * np.pad(idf, (0, depth - len(idf)))
    return out


def test_text_vectorization_adapt_vocabulary_and_int_outputs():
    tv = layers.TextVectorization()
    tv.adapt(TV_CORPUS)
    assert tv.get_vocabulary() == ["", "[UNK]"] + TV_VOCAB
    assert tv.get_vocabulary(include_special_tokens=False) == TV_VOCAB
    assert tv.vocabulary_size() == 8
    # padded to the longest document of the batch
    assert_array(tv(TV_CORPUS), _int_ref(TV_DOCS, TV_VOCAB, 4), dtype="int64")
    assert_array(tv(np.array(TV_CORPUS)), _int_ref(TV_DOCS, TV_VOCAB, 4))
    assert_array(tv(np.array(TV_CORPUS)[:, None]), _int_ref(TV_DOCS, TV_VOCAB, 4))
    assert_array(tv(np.char.encode(np.array(TV_CORPUS))), _int_ref(TV_DOCS, TV_VOCAB, 4))
    assert_array(tv(nabi.constant(TV_CORPUS)), _int_ref(TV_DOCS, TV_VOCAB, 4))
    # output_sequence_length pads and truncates; unknown words are 1
    for length in (2, 6):
        fixed = layers.TextVectorization(output_sequence_length=length, vocabulary=TV_VOCAB)
        assert_array(fixed(TV_CORPUS), _int_ref(TV_DOCS, TV_VOCAB, length))
    assert_array(layers.TextVectorization(vocabulary=TV_VOCAB)(["zebra the yak"]), [[1, 2, 1]])
    assert_array(layers.TextVectorization(vocabulary=TV_VOCAB)("the cat"), [2, 3])
    assert_array(layers.TextVectorization(vocabulary=TV_VOCAB)(["", ""]),
                 np.zeros((2, 0), np.int64))
    # max_tokens counts the two special indices
    capped = layers.TextVectorization(max_tokens=4)
    capped.adapt(TV_CORPUS)
    assert capped.get_vocabulary() == ["", "[UNK]", "the", "cat"]
    assert_array(capped(["a cat sat"]), [[1, 3, 1]])


def test_text_vectorization_adapt_order_vs_counter():
    rng = np.random.default_rng(0)
    words = ["w%d" % i for i in range(30)]
    corpus = [" ".join(rng.choice(words, size=rng.integers(1, 9))) for _ in range(200)]
    c = collections.Counter(w for s in corpus for w in s.split())
    expect = sorted(c, key=lambda t: (c[t], t), reverse=True)
    tv = layers.TextVectorization(max_tokens=12)
    tv.adapt(nabi.data.Dataset.from_tensor_slices(np.array(corpus)).batch(7))
    assert tv.get_vocabulary(include_special_tokens=False) == expect[:10]
    full = layers.TextVectorization()
    full.adapt(np.array(corpus, dtype=object), batch_size=5)
    assert full.get_vocabulary(include_special_tokens=False) == expect
    unbatched = layers.TextVectorization()
    unbatched.adapt(nabi.data.Dataset.from_tensor_slices(corpus))
    assert unbatched.get_vocabulary() == full.get_vocabulary()


@pytest.mark.parametrize("mode", ["multi_hot", "count", "tf_idf"])
def test_text_vectorization_vector_modes(mode):
    tv = layers.TextVectorization(output_mode=mode)
    tv.adapt(TV_CORPUS)
    assert tv.get_vocabulary() == ["[UNK]"] + TV_VOCAB   # no mask index outside 'int'
    probe = ["the cat the zebra", "a bird bird", ""]
    docs = [["the", "cat", "the", "zebra"], ["a", "bird", "bird"], []]
    idf = None
    if mode == "tf_idf":
        df = {"the": 2, "cat": 2, "sat": 1, "dog": 1, "bird": 1, "a": 1}
        w = np.array([np.log(1 + 3 / (1 + df[t])) for t in TV_VOCAB])
        idf = np.concatenate([[w.mean()], w])     # '[UNK]' gets the mean weight
    ref = _vector_ref(docs, TV_VOCAB, mode, idf)
    assert_array(tv(probe), ref, dtype="float32")
    # pad_to_max_tokens: depth max_tokens, zeros past the vocabulary
    padded = layers.TextVectorization(output_mode=mode, max_tokens=12, pad_to_max_tokens=True)
    padded.adapt(TV_CORPUS)
    assert_array(padded(probe), _vector_ref(docs, TV_VOCAB, mode, idf, depth=12))
    # set_vocabulary (tf_idf needs the weights; without special tokens '[UNK]' gets the mean)
    given = layers.TextVectorization(output_mode=mode)
    if mode == "tf_idf":
        given.set_vocabulary(TV_VOCAB, idf_weights=idf[1:])
    else:
        given.set_vocabulary(TV_VOCAB)
    assert_array(given(probe), ref)


def test_text_vectorization_standardize_split_ngrams():
    def run(texts, **kw):
        tv = layers.TextVectorization(**kw)
        tv.adapt(texts)
        return tv.get_vocabulary(include_special_tokens=False)
    # ASCII-only lower-casing (tf.strings.lower), Keras's punctuation set incl. the apostrophe
    assert sorted(run(["ÉCOLE don't well-known"])) == sorted(["École", "dont", "wellknown"])
    assert sorted(run(["A.b A.b"], standardize="lower")) == ["a.b"]
    assert sorted(run(["A.b"], standardize="strip_punctuation")) == ["Ab"]
    assert sorted(run(["A.b"], standardize=None)) == ["A.b"]
    # whitespace: any run of ASCII whitespace; character: code points
    assert sorted(run(["a\tb\n\nc  d "])) == ["a", "b", "c", "d"]
    assert sorted(run(["ab é"], split="character")) == [" ", "a", "b", "é"]
    assert run(["x y z"], split=None) == ["x y z"]
    # n-grams: the tokens, then each width's n-grams in order
    tv = layers.TextVectorization(ngrams=2, vocabulary=["a", "b", "c", "a b", "b c"])
    assert_array(tv(["a b c"]), [[2, 3, 4, 5, 6]])
    tv = layers.TextVectorization(ngrams=(2, 3), vocabulary=["a b", "b c", "a b c"])
    assert_array(tv(["a b c", "a"]), [[2, 3, 4], [0, 0, 0]])
    # callables: standardize sees a str array, split returns token lists
    std = layers.TextVectorization(
        standardize=lambda x: np.char.lower(np.char.replace(x, "<br />", " ")),
        vocabulary=["good", "film!"])
    assert_array(std(["Good<br />FILM!"]), [[2, 3]])
    sp = layers.TextVectorization(split=lambda x: [s.split("|") for s in x],
                                  standardize="lower", vocabulary=["a b", "c"])
    assert_array(sp(["A B|C|zz"]), [[2, 3, 1]])
    # split=None keeps the input's shape (one token per element)
    whole = layers.TextVectorization(split=None, vocabulary=["red", "blue"], standardize=None)
    assert_array(whole(np.array([["red"], ["green"], ["blue"]])), [[2], [1], [3]])


def test_text_vectorization_errors():
    with pytest.raises(ValueError, match=r"\[TextVectorization\].*output_mode='one_hot'"):
        layers.TextVectorization(output_mode="one_hot")
    with pytest.raises(ValueError, match=r"output_sequence_length.*output_mode='count'"):
        layers.TextVectorization(output_mode="count", output_sequence_length=3)
    with pytest.raises(ValueError, match=r"ngrams=\[2\]|ngrams=2.5"):
        layers.TextVectorization(ngrams=2.5)
    with pytest.raises(ValueError, match=r"standardize='upper'"):
        layers.TextVectorization(standardize="upper")
    with pytest.raises(ValueError, match=r"split='comma'"):
        layers.TextVectorization(split="comma")
    with pytest.raises(ValueError, match=r"max_tokens=1"):
        layers.TextVectorization(max_tokens=1)
    with pytest.raises(ValueError, match=r"pad_to_max_tokens"):
        layers.TextVectorization(output_mode="count", pad_to_max_tokens=True)
    with pytest.raises(ValueError, match=r"ragged.*output_mode='count'"):
        layers.TextVectorization(ragged=True, output_mode="count")
    tv = layers.TextVectorization(vocabulary=["a"], name="tv")
    with pytest.raises(ValueError, match=r"\[tv\].*last shape dimension must be 1.*\(2, 2\)"):
        tv(np.array([["a", "b"], ["c", "d"]]))
    with pytest.raises(ValueError, match=r"\[tv\].*string inputs, got dtype float"):
        tv(np.array([1.0, 2.0]))
    with pytest.raises(ValueError, match=r"\[tv\].*Cannot adapt"):
        tv.adapt(["a b"])
    with pytest.raises(RuntimeError, match="vocabulary"):
        layers.TextVectorization(output_mode="multi_hot")(["a"])
    with pytest.raises(ValueError, match="repeated"):
        layers.TextVectorization(vocabulary=["a", "a"])
    with pytest.raises(ValueError, match="idf_weights"):
        layers.TextVectorization(output_mode="tf_idf", vocabulary=["a"])
    with pytest.raises(ValueError, match="same length"):
        layers.TextVectorization(output_mode="tf_idf", vocabulary=["a"], idf_weights=[1., 2.])
    with pytest.raises(ValueError, match="maximum vocab size"):
        layers.TextVectorization(max_tokens=3, vocabulary=["a", "b"])
    with pytest.raises(ValueError, match="no data"):
        layers.TextVectorization().adapt([])


def test_text_vectorization_config_and_vocabulary_file(tmp_path):
    p = tmp_path / "vocab.txt"
    p.write_text("cat\ndog\n")
    assert layers.TextVectorization(vocabulary=str(p)).get_vocabulary() == \
        ["", "[UNK]", "cat", "dog"]
    for mode in ("int", "multi_hot", "tf_idf"):
        tv = layers.TextVectorization(output_mode=mode, ngrams=(1, 2), max_tokens=20,
                                      name=f"tv_{mode}")
        tv.adapt(TV_CORPUS)
        cfg = layers.serialize(tv)
        new = layers.deserialize(cfg)
        assert new.get_config() == tv.get_config()
        assert new.get_vocabulary() == tv.get_vocabulary()
        probe = ["the cat zebra", "a bird a"]
        assert_array(new(probe), _np(tv(probe)))
        new.adapt(["k k j"])                     # an adapted layer may be adapted again
        assert new.get_vocabulary(include_special_tokens=False) == ["k", "k k", "k j", "j"]


def test_text_vectorization_custom_standardize_saved_by_name(tmp_path):
    def strip_html(x):
        return np.char.lower(np.char.replace(x, "<br />", " "))
    tv = layers.TextVectorization(standardize=strip_html, output_sequence_length=3)
    tv.adapt(["Great<br />movie", "great fun"])
    i = keras.Input(shape=(1,), dtype="string")
    m = keras.Model(i, tv(i))
    x = np.array([["GREAT<br />fun"]])
    path = str(tmp_path / "m.keras")
    m.save(path)
    with pytest.raises(ValueError, match="strip_html"):
        keras.models.load_model(path)
    loaded = keras.models.load_model(path, custom_objects={"strip_html": strip_html})
    assert_array(loaded.predict(x, verbose=0), _np(m.predict(x, verbose=0)))


# ============================================================================ models


def _sentiment_corpus(n=64, seed=0):
    rng = np.random.default_rng(seed)
    pos, neg = ["good", "great", "fun", "love"], ["bad", "awful", "boring", "hate"]
    filler = ["the", "movie", "was", "a", "plot"]
    texts, labels = [], []
    for i in range(n):
        y = i % 2
        words = list(rng.choice(filler, 3)) + list(rng.choice(pos if y else neg, 2))
        rng.shuffle(words)
        texts.append(" ".join(words).capitalize() + "!")
        labels.append(y)
    return np.array(texts), np.array(labels, np.float32)


def _sentiment_model(vectorizer, with_input=True):
    stack = [vectorizer, layers.Embedding(vectorizer.vocabulary_size(), 8),
             layers.LSTM(8), layers.Dense(1, activation="sigmoid")]
    if with_input:
        stack.insert(0, keras.Input(shape=(1,), dtype="string"))
    return keras.Sequential(stack)


def test_sentiment_lstm_end_to_end(where):
    with nabi.device(where):
        keras.utils.set_random_seed(0)
        texts, labels = _sentiment_corpus()
        vec = layers.TextVectorization(max_tokens=30, output_sequence_length=6)
        vec.adapt(texts)
        model = _sentiment_model(vec)
        assert model.output_shape == (None, 1)
        assert vec.output_shape == (None, 6)
        model.compile(optimizer=keras.optimizers.Adam(0.02), loss="binary_crossentropy")
        before = model.evaluate(texts[:, None], labels, verbose=0)
        hist = model.fit(texts[:, None], labels, epochs=12, batch_size=16, verbose=0)
        losses = hist.history["loss"]
        assert losses[-1] < 0.5 * losses[0] and losses[-1] < before
        pred = model.predict(texts[:, None], verbose=0)
        # the same layers applied to the explicitly vectorized strings
        x = vec(texts)
        assert ("GPU" in x.device) == (where == "/GPU:0")   # indices go to the current device
        assert_array(x, _np(vec(texts[:, None])))
        for layer in model.layers[1:]:
            x = layer(x)
        assert_array(pred, _np(x), rtol=1e-4, atol=1e-5)
        acc = np.mean((pred[:, 0] > 0.5) == (labels > 0.5))
        assert acc > 0.9


def test_sentiment_model_from_plain_string_array_and_saving(tmp_path):
    keras.utils.set_random_seed(1)
    texts, labels = _sentiment_corpus(32, seed=1)
    vec = layers.TextVectorization(max_tokens=30)
    vec.adapt(texts)
    model = _sentiment_model(vec, with_input=False)   # built from 1-D string data in fit
    model.compile(optimizer="adam", loss="binary_crossentropy")
    model.fit(texts, labels, epochs=2, batch_size=8, verbose=0)
    assert model.layers[0].output_shape == (None, None)   # a length per batch
    pred = model.predict(texts, verbose=0)
    x = vec(texts)
    for layer in model.layers[1:]:
        x = layer(x)
    assert_array(pred, _np(x), rtol=1e-4, atol=1e-5)
    pytest.importorskip("h5py", reason="saving needs h5py")
    for ext in (".keras", ".h5"):
        path = str(tmp_path / f"sentiment{ext}")
        model.save(path)
        loaded = keras.models.load_model(path)
        assert loaded.layers[0].get_vocabulary() == vec.get_vocabulary()
        assert_array(loaded.predict(texts, verbose=0), pred, rtol=1e-5, atol=1e-6)


def test_text_dataset_feeds_vectorizer_and_fit(tmp_path):
    texts, labels = _sentiment_corpus(24, seed=2)
    for k, (t, y) in enumerate(zip(texts, labels)):
        d = tmp_path / ("pos" if y else "neg")
        d.mkdir(exist_ok=True)
        (d / f"{k:03d}.txt").write_text(t)
    train = keras.utils.text_dataset_from_directory(str(tmp_path), batch_size=8, seed=3)
    vec = layers.TextVectorization(max_tokens=30, output_sequence_length=6)
    vec.adapt(train.map(lambda x, y: x))
    assert set(vec.get_vocabulary()[2:]) == {w.strip("!").lower() for t in texts
                                             for w in t.split()}
    model = _sentiment_model(vec)
    model.compile(optimizer="adam", loss="binary_crossentropy")
    hist = model.fit(train, epochs=2, verbose=0)
    assert np.isfinite(hist.history["loss"]).all()


# ============================================================================ text datasets


def _make_tree(root):
    files = {"neg/a.txt": "awful film", "neg/b.TXT": "boring", "neg/skip.md": "not text",
             "pos/c.txt": "great", "pos/d.txt": "loved it", "pos/extra/e.txt": "fun fun"}
    for rel, content in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(content.encode())
    # sorted by class, then directory path, then file name; .md skipped, .TXT kept
    order = ["neg/a.txt", "neg/b.TXT", "pos/c.txt", "pos/d.txt", "pos/extra/e.txt"]
    return [files[r].encode() for r in order], [0, 0, 1, 1, 1]


def _collect(ds, batched=True):
    """(texts, labels) over one pass of a dataset, as lists."""
    xs, ys = [], []
    for element in ds:
        x, y = element if isinstance(element, tuple) else (element, None)
        for out, v in ((xs, x), (ys, y)):
            if v is not None:
                v = np.asarray(_np(v)).tolist()   # a scalar string is bytes, as in TF
                out.extend(v) if batched else out.append(v)
    return xs, ys


def test_text_dataset_from_directory_unshuffled(tmp_path, capsys):
    texts, labels = _make_tree(tmp_path)
    ds = keras.utils.text_dataset_from_directory(str(tmp_path), batch_size=2, shuffle=False)
    assert "Found 5 files belonging to 2 classes." in capsys.readouterr().out
    assert ds.class_names == ["neg", "pos"]
    batches = list(ds)
    assert [len(_np(x)) for x, _ in batches] == [2, 2, 1]
    x0, y0 = batches[0]
    assert _np(y0).dtype == np.int32
    assert _collect(ds) == (texts, labels)
    # binary / categorical labels, max_length in bytes, no batching
    b = keras.utils.text_dataset_from_directory(tmp_path, label_mode="binary", batch_size=None,
                                                shuffle=False, max_length=3)
    xs, ys = _collect(b, batched=False)
    assert xs == [t[:3] for t in texts]
    first = next(iter(b))
    assert _np(first[1]).shape == (1,) and _np(first[1]).dtype == np.float32
    assert ys == [[float(v)] for v in labels]
    cat = keras.utils.text_dataset_from_directory(tmp_path, label_mode="categorical",
                                                  shuffle=False)
    assert _collect(cat)[1] == np.eye(2)[labels].tolist()
    # explicit class order, explicit labels, no labels
    swapped = keras.utils.text_dataset_from_directory(tmp_path, class_names=["pos", "neg"],
                                                      shuffle=False)
    assert swapped.class_names == ["pos", "neg"]
    assert _collect(swapped)[1] == [1 - v for v in labels]
    given = keras.utils.text_dataset_from_directory(tmp_path, labels=[3, 1, 4, 1, 5],
                                                    shuffle=False)
    assert given.class_names == [1, 3, 4, 5]
    assert _collect(given) == (texts, [3, 1, 4, 1, 5])
    as_array = keras.utils.text_dataset_from_directory(
        tmp_path, labels=np.array([3, 1, 4, 1, 5]), label_mode="categorical", shuffle=False)
    # the labels index tf.one_hot(label, len(class_names)) directly: 4 and 5 give zero rows
    assert _collect(as_array)[1] == [[0, 0, 0, 1], [0, 1, 0, 0], [0] * 4, [0, 1, 0, 0], [0] * 4]
    unlabeled = keras.utils.text_dataset_from_directory(tmp_path, labels=None, shuffle=False)
    assert unlabeled.class_names is None
    assert _collect(unlabeled) == (texts, [])


def test_text_dataset_from_directory_shuffle_and_split(tmp_path):
    texts, labels = _make_tree(tmp_path)
    seed = 7
    # Keras permutes the sorted file list once with np.random.RandomState(seed).shuffle
    perm = list(range(5))
    np.random.RandomState(seed).shuffle(perm)
    t_perm = [texts[i] for i in perm]
    l_perm = [labels[i] for i in perm]
    n_val = int(0.4 * 5)
    train, val = keras.utils.text_dataset_from_directory(
        tmp_path, validation_split=0.4, subset="both", seed=seed, batch_size=2)
    assert train.class_names == val.class_names == ["neg", "pos"]
    assert _collect(val) == (t_perm[-n_val:], l_perm[-n_val:])   # not reshuffled
    xs, ys = _collect(train)
    assert sorted(zip(xs, ys)) == sorted(zip(t_perm[:-n_val], l_perm[:-n_val]))
    only_val = keras.utils.text_dataset_from_directory(
        tmp_path, validation_split=0.4, subset="validation", seed=seed)
    assert sorted(zip(*_collect(only_val))) == sorted(zip(t_perm[-n_val:], l_perm[-n_val:]))
    only_train = keras.utils.text_dataset_from_directory(
        tmp_path, validation_split=0.4, subset="training", seed=seed)
    assert sorted(_collect(only_train)[0]) == sorted(t_perm[:-n_val])
    # every epoch sees every file once, in a fresh order
    full = keras.utils.text_dataset_from_directory(tmp_path, seed=seed, batch_size=2)
    e1, e2 = _collect(full), _collect(full)
    assert sorted(e1[0]) == sorted(e2[0]) == sorted(texts)


def test_text_dataset_from_directory_errors(tmp_path):
    _make_tree(tmp_path)
    f = keras.utils.text_dataset_from_directory
    with pytest.raises(ValueError, match=r"\[text_dataset_from_directory\].*subset"):
        f(tmp_path, validation_split=0.2, seed=1)
    with pytest.raises(ValueError, match="seed"):
        f(tmp_path, validation_split=0.2, subset="training")
    with pytest.raises(ValueError, match="subset.*'test'"):
        f(tmp_path, validation_split=0.2, subset="test", seed=1)
    with pytest.raises(ValueError, match="validation_split.*1.5"):
        f(tmp_path, validation_split=1.5, subset="training", seed=1)
    with pytest.raises(ValueError, match="label_mode=.sparse."):
        f(tmp_path, label_mode="sparse")
    with pytest.raises(ValueError, match="class_names"):
        f(tmp_path, class_names=["neg", "other"])
    with pytest.raises(ValueError, match="len\\(labels\\) is 2"):
        f(tmp_path, labels=[0, 1])
    with pytest.raises(ValueError, match="labels=.inferred"):
        f(tmp_path, labels="folders")
    with pytest.raises(ValueError, match="nowhere"):
        f(tmp_path / "nowhere")
    (tmp_path / "third").mkdir()
    (tmp_path / "third" / "x.txt").write_text("x")
    with pytest.raises(ValueError, match="exactly 2"):
        f(tmp_path, label_mode="binary")
    empty = tmp_path / "empty"
    (empty / "a").mkdir(parents=True)
    with pytest.raises(ValueError, match="No text files found"):
        f(empty)
