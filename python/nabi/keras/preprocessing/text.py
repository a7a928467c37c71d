"""`keras.preprocessing.text` (Keras 2.15 semantics): `Tokenizer`, `tokenizer_from_json`,
`text_to_word_sequence`, `one_hot`, `hashing_trick`.

    tokenizer = keras.preprocessing.text.Tokenizer(num_words=10000, oov_token="<OOV>")
    tokenizer.fit_on_texts(sentences)
    sequences = tokenizer.texts_to_sequences(sentences)
    padded = keras.preprocessing.sequence.pad_sequences(sequences, maxlen=20)

The rules, as Keras has them:
- A text is lower-cased (`lower=True`), every character of `filters` becomes `split`, and the
  text is cut at `split`, dropping empty pieces. With `char_level=True`, or when a text is a
  list of tokens, the tokens are the characters / list items (lower-cased, nothing filtered).
- `word_index` numbers the words from 1 (0 is kept for padding) by decreasing count, ties in
  order of first appearance; with `oov_token` that token is index 1 and the words follow.
- `num_words` does not shorten `word_index`: `texts_to_sequences` drops (or, with an
  `oov_token`, replaces by its index) every word whose index is `>= num_words`, so at most
  `num_words - 1` distinct words survive.
Everything is plain Python on the host (no tensors).
"""
import hashlib
import json
import warnings
from collections import OrderedDict, defaultdict

import numpy as np

__all__ = ["Tokenizer", "tokenizer_from_json", "text_to_word_sequence", "one_hot",
           "hashing_trick"]

DEFAULT_FILTERS = '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n'
_MATRIX_MODES = ("binary", "count", "tfidf", "freq")


def _check_text(fn, text):
    if isinstance(text, bytes):
        return text.decode("utf-8")
    if not isinstance(text, str):
        raise TypeError(f"[{fn}] expected a string, got {type(text).__name__}: {text!r}")
    return text


def text_to_word_sequence(input_text, filters=DEFAULT_FILTERS, lower=True, split=" "):
    """The words of a text: lower-cased if `lower`, each character of `filters` replaced by
    `split`, then cut at `split`; empty pieces are dropped.

    >>> text_to_word_sequence("The cat, the HAT!")
    ['the', 'cat', 'the', 'hat']
    """
    text = _check_text("text_to_word_sequence", input_text)
    if not isinstance(split, str) or not split:
        raise ValueError(f"[text_to_word_sequence] `split` must be a non-empty string. "
                         f"Received: split={split!r}")
    if lower:
        text = text.lower()
    if filters:
        text = text.translate(str.maketrans({c: split for c in filters}))
    return [w for w in text.split(split) if w]


def _md5_hash(word):
    return int(hashlib.md5(word.encode("utf-8")).hexdigest(), 16)


def hashing_trick(text, n, hash_function=None, filters=DEFAULT_FILTERS, lower=True, split=" ",
                  analyzer=None):
    """Each word of `text` as an index in [1, n): `hash_function(word) % (n - 1) + 1` (0 is
    never produced; it is the padding index). `hash_function` is a callable on str or 'md5';
    the default (None) is MD5 too, not Python's `hash`, whose value for a str changes from one
    process to the next (PYTHONHASHSEED): the indices here are the same in every run.
    Different words may share an index (hash collisions)."""
    text = _check_text("hashing_trick", text)
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 2:
        raise ValueError(f"[hashing_trick] `n` must be an integer >= 2 (the indices are in "
                         f"[1, n)). Received: n={n!r}")
    if hash_function is None or hash_function == "md5":
        hash_function = _md5_hash
    elif not callable(hash_function):
        raise ValueError(f"[hashing_trick] `hash_function` must be None, 'md5' or a callable. "
                         f"Received: hash_function={hash_function!r}")
    if analyzer is None:
        seq = text_to_word_sequence(text, filters=filters, lower=lower, split=split)
    else:
        seq = analyzer(text)
    return [int(hash_function(w) % (int(n) - 1) + 1) for w in seq]


def one_hot(input_text, n, filters=DEFAULT_FILTERS, lower=True, split=" ", analyzer=None):
    """Keras's `one_hot`: despite the name, the word indices of `hashing_trick` (in [1, n)).
    The hash is MD5 of the word's UTF-8 bytes, not Python's salted `hash` that Keras uses, so
    the indices are deterministic across processes and machines (Keras's are not, unless
    PYTHONHASHSEED is fixed); they therefore differ from Keras's numbers."""
    return hashing_trick(_check_text("one_hot", input_text), n, hash_function=None,
                         filters=filters, lower=lower, split=split, analyzer=analyzer)


class Tokenizer:
    """Keras's text tokenizer: learns a word index from texts (`fit_on_texts`) and turns texts
    into index sequences or document-term matrices. See the module docstring for the rules."""

    def __init__(self, num_words=None, filters=DEFAULT_FILTERS, lower=True, split=" ",
                 char_level=False, oov_token=None, analyzer=None, **kwargs):
        if "nb_words" in kwargs:   # Keras 1 name
            warnings.warn("The `nb_words` argument in `Tokenizer` has been renamed `num_words`.")
            num_words = kwargs.pop("nb_words")
        document_count = kwargs.pop("document_count", 0)
        if kwargs:
            raise TypeError(f"[Tokenizer] Unrecognized keyword arguments: {sorted(kwargs)}")
        if num_words is not None and (not isinstance(num_words, (int, np.integer))
                                      or isinstance(num_words, bool) or num_words < 0):
            raise ValueError(f"[Tokenizer] `num_words` must be None or a non-negative integer. "
                             f"Received: num_words={num_words!r}")
        if not isinstance(split, str) or not split:
            raise ValueError(f"[Tokenizer] `split` must be a non-empty string. "
                             f"Received: split={split!r}")
        if analyzer is not None and not callable(analyzer):
            raise ValueError(f"[Tokenizer] `analyzer` must be None or a callable. "
                             f"Received: analyzer={analyzer!r}")
        self.word_counts = OrderedDict()
        self.word_docs = defaultdict(int)
        self.filters = filters
        self.split = split
        self.lower = lower
        self.num_words = None if num_words is None else int(num_words)
        self.document_count = document_count
        self.char_level = char_level
        self.oov_token = oov_token
        self.index_docs = defaultdict(int)
        self.word_index = {}
        self.index_word = {}
        self.analyzer = analyzer

    def _tokens(self, text, fn):
        if self.char_level or isinstance(text, list):
            if self.lower:
                text = [t.lower() for t in text] if isinstance(text, list) else \
                    _check_text(f"Tokenizer.{fn}", text).lower()
            return text
        text = _check_text(f"Tokenizer.{fn}", text)
        if self.analyzer is not None:
            return self.analyzer(text)
        return text_to_word_sequence(text, filters=self.filters, lower=self.lower,
                                     split=self.split)

    @staticmethod
    def _check_batch(fn, texts):
        if isinstance(texts, (str, bytes)):
            raise TypeError(f"[Tokenizer.{fn}] expects a list of texts, got a single string "
                            f"{texts[:40]!r}; wrap it in a list")
        if isinstance(texts, np.ndarray):
            texts = texts.tolist()
        return texts

    def fit_on_texts(self, texts):
        """Counts the words of `texts` (a list of strings, or of token lists) and rebuilds
        `word_index` / `index_word`: by decreasing count, ties in order of first appearance,
        numbered from 1 (from 2 with an `oov_token`, which is 1)."""
        for text in self._check_batch("fit_on_texts", texts):
            self.document_count += 1
            seq = self._tokens(text, "fit_on_texts")
            for w in seq:
                self.word_counts[w] = self.word_counts.get(w, 0) + 1
            for w in set(seq):
                self.word_docs[w] += 1
        # sorted() is stable, so equal counts keep their first-appearance order
        ranked = sorted(self.word_counts.items(), key=lambda wc: wc[1], reverse=True)
        vocab = [] if self.oov_token is None else [self.oov_token]
        vocab.extend(w for w, _ in ranked)
        self.word_index = dict(zip(vocab, range(1, len(vocab) + 1)))
        self.index_word = {i: w for w, i in self.word_index.items()}
        for w, c in list(self.word_docs.items()):
            self.index_docs[self.word_index[w]] = c

    def fit_on_sequences(self, sequences):
        """Updates the document counts (used by 'tfidf') from index sequences."""
        sequences = self._check_batch("fit_on_sequences", sequences)
        self.document_count += len(sequences)
        for seq in sequences:
            for i in set(np.asarray(seq).ravel().tolist()):
                self.index_docs[i] += 1

    def texts_to_sequences(self, texts):
        """Each text as a list of word indices (see `texts_to_sequences_generator`)."""
        return list(self.texts_to_sequences_generator(texts))

    def texts_to_sequences_generator(self, texts):
        """Yields each text's word indices: unknown words, and words with an index
        `>= num_words`, are dropped, or become the `oov_token`'s index when there is one."""
        num_words = self.num_words
        oov = self.word_index.get(self.oov_token)
        for text in self._check_batch("texts_to_sequences", texts):
            vect = []
            for w in self._tokens(text, "texts_to_sequences"):
                i = self.word_index.get(w)
                if i is not None and not (num_words and i >= num_words):
                    vect.append(i)
                elif oov is not None:
                    vect.append(oov)
            yield vect

    def sequences_to_texts(self, sequences):
        """Each index sequence as a text: its words joined by spaces."""
        return list(self.sequences_to_texts_generator(sequences))

    def sequences_to_texts_generator(self, sequences):
        """Yields the text of each sequence; indices that are unknown or `>= num_words` are
        dropped, or become the `oov_token` when there is one."""
        num_words = self.num_words
        oov = self.word_index.get(self.oov_token)
        for seq in self._check_batch("sequences_to_texts", sequences):
            vect = []
            for num in np.asarray(seq).ravel().tolist():
                word = self.index_word.get(num)
                if word is not None and not (num_words and num >= num_words):
                    vect.append(word)
                elif oov is not None:
                    vect.append(self.index_word[oov])
            yield " ".join(vect)

    def texts_to_matrix(self, texts, mode="binary"):
        """A (len(texts), num_words) float64 document-term matrix: see `sequences_to_matrix`."""
        self._check_mode(mode)
        return self.sequences_to_matrix(self.texts_to_sequences(texts), mode=mode)

    @staticmethod
    def _check_mode(mode):
        if mode not in _MATRIX_MODES:
            raise ValueError(f"[Tokenizer] Unknown vectorization mode: mode={mode!r}; expected "
                             f"one of {list(_MATRIX_MODES)}")

    def sequences_to_matrix(self, sequences, mode="binary"):
        """A (len(sequences), num_words) float64 matrix (num_words = len(word_index) + 1 when
        not set); indices `>= num_words` are ignored. Row i, column j holds, for the c
        occurrences of j in sequence i: 'binary' 1, 'count' c, 'freq' c / len(sequence),
        'tfidf' (1 + log c) * log(1 + document_count / (1 + documents containing j))."""
        self._check_mode(mode)
        if not self.num_words:
            if not self.word_index:
                raise ValueError("[Tokenizer] Specify a dimension (`num_words` argument), or "
                                 "fit on some text data first.")
            num_words = len(self.word_index) + 1
        else:
            num_words = self.num_words
        if mode == "tfidf" and not self.document_count:
            raise ValueError("[Tokenizer] Fit the Tokenizer on some data before using tfidf "
                             "mode.")
        sequences = self._check_batch("sequences_to_matrix", sequences)
        x = np.zeros((len(sequences), num_words))
        for i, seq in enumerate(sequences):
            seq = np.asarray(seq).ravel().tolist()
            if not seq:
                continue
            counts = defaultdict(int)
            for j in seq:
                if j < num_words:
                    counts[j] += 1
            for j, c in counts.items():
                if mode == "count":
                    x[i, j] = c
                elif mode == "freq":
                    x[i, j] = c / len(seq)
                elif mode == "binary":
                    x[i, j] = 1
                else:   # tfidf: Wikipedia's weighting scheme 2
                    idf = np.log(1 + self.document_count / (1 + self.index_docs.get(j, 0)))
                    x[i, j] = (1 + np.log(c)) * idf
        return x

    def get_config(self):
        """Keras's layout: the counts and indices as JSON strings (the analyzer is not kept)."""
        return {"num_words": self.num_words, "filters": self.filters, "lower": self.lower,
                "split": self.split, "char_level": self.char_level,
                "oov_token": self.oov_token, "document_count": self.document_count,
                "word_counts": json.dumps(self.word_counts),
                "word_docs": json.dumps(self.word_docs),
                "index_docs": json.dumps(self.index_docs),
                "index_word": json.dumps(self.index_word),
                "word_index": json.dumps(self.word_index)}

    def to_json(self, **kwargs):
        """`{"class_name": "Tokenizer", "config": get_config()}` as a JSON string
        (`kwargs` go to `json.dumps`); `tokenizer_from_json` reads it back."""
        return json.dumps({"class_name": type(self).__name__, "config": self.get_config()},
                          **kwargs)


def tokenizer_from_json(json_string):
    """The Tokenizer saved by `Tokenizer.to_json` (also reads Keras's own files)."""
    try:
        config = dict(json.loads(json_string).get("config"))
    except (TypeError, ValueError, AttributeError) as e:
        raise ValueError(f"[tokenizer_from_json] not a Tokenizer JSON string ({e}): "
                         f"{str(json_string)[:60]!r}") from None
    word_counts = json.loads(config.pop("word_counts"))
    word_docs = json.loads(config.pop("word_docs"))
    index_docs = {int(k): v for k, v in json.loads(config.pop("index_docs")).items()}
    index_word = {int(k): v for k, v in json.loads(config.pop("index_word")).items()}
    word_index = json.loads(config.pop("word_index"))
    tokenizer = Tokenizer(**config)
    tokenizer.word_counts = OrderedDict(word_counts)
    tokenizer.word_docs = defaultdict(int, word_docs)
    tokenizer.index_docs = defaultdict(int, index_docs)
    tokenizer.word_index = word_index
    tokenizer.index_word = index_word
    return tokenizer
