"""`keras.layers.TextVectorization` (Keras 2.15 semantics): raw strings -> token indices
('int'), or per-document 'multi_hot' / 'count' / 'tf_idf' vectors.

    vectorize = keras.layers.TextVectorization(max_tokens=10000, output_sequence_length=250)
    vectorize.adapt(train_ds.map(lambda text, label: text))
    model = keras.Sequential([keras.Input(shape=(1,), dtype="string"), vectorize,
                              keras.layers.Embedding(10000, 16), keras.layers.LSTM(16),
                              keras.layers.Dense(1, activation="sigmoid")])

Each string goes through, in order:
1. standardize: 'lower_and_strip_punctuation' (default), 'lower', 'strip_punctuation', None,
   or a callable. Lower-casing is ASCII-only, as `tf.strings.lower` does; punctuation is
   Keras's `DEFAULT_STRIP_REGEX` (ASCII punctuation, apostrophe included).
2. split: 'whitespace' (runs of ASCII whitespace; no empty tokens), 'character' (Unicode code
   points), None (the whole string is one token), or a callable. Before splitting, an input of
   rank > 1 must have a last dimension of 1, which is squeezed out.
3. ngrams: None, n (all 1..n-grams) or a tuple of widths; n-grams join tokens with " " and
   come after the tokens, grouped by width, as `tf.strings.ngrams` orders them.
4. lookup: in 'int' mode index 0 is padding/mask ('') and 1 is '[UNK]' (out of vocabulary);
   in the other modes 0 is '[UNK]' and there is no mask index. 'int' pads each batch with 0
   to its longest document, or to `output_sequence_length` (longer documents are cut).

A callable `standardize` receives a NumPy str array of the input's shape and returns strings
of the same shape (an array, a list or a string Tensor); a callable `split` receives the 1-D
(or squeezed) NumPy str array of documents and returns one sequence of tokens per document.
(TensorFlow passes `tf.string` tensors instead; the `nabi.strings` ops take either, so the
tutorials' `tf.strings.lower` / `regex_replace` standardizers and `tf.strings.split` splitters
-- whose RaggedTensor iterates as one token row per document -- work unchanged.)

`adapt` counts tokens (after the steps above) over a list/array of strings, a string Tensor
or a `nabi.data.Dataset` of string batches; the vocabulary is ordered by decreasing count,
ties by decreasing token (Keras's `np.lexsort` order), cut to `max_tokens` minus the special
indices. 'tf_idf' weights are `log(1 + documents / (1 + documents containing the token))`,
with the '[UNK]' weight the mean of the others.

Everything runs on the host in Python/NumPy (strings never leave it); integer and vector
outputs are placed on the current device and record nothing on the gradient tape. The
vocabulary (and idf weights) are written into the layer config, so an adapted layer survives
get_config/from_config and .keras / .h5 saving. No sparse outputs; with ragged=True ('int'
mode) a batch of documents gives a `nabi.RaggedTensor` of unpadded rows (a single string
still gives a 1-D tensor).
"""
import os
import re
from collections import Counter

import numpy as np

from ...framework.device import DeviceArray
from ...framework.tensor import Tensor, TensorShape
from ..saving.object_registration import get_registered_object, serialize_keras_object
from .preprocessing import PreprocessingLayer, _adapt_batches, _host, _int_dtype_kwargs, _result

__all__ = ["TextVectorization"]

LOWER_AND_STRIP_PUNCTUATION = "lower_and_strip_punctuation"
LOWER, STRIP_PUNCTUATION = "lower", "strip_punctuation"
WHITESPACE, CHARACTER = "whitespace", "character"
INT, MULTI_HOT, COUNT, TF_IDF = "int", "multi_hot", "count", "tf_idf"
_STANDARDIZE = (LOWER_AND_STRIP_PUNCTUATION, LOWER, STRIP_PUNCTUATION)
_SPLIT = (WHITESPACE, CHARACTER)
_MODES = (INT, MULTI_HOT, COUNT, TF_IDF)

MASK_TOKEN, OOV_TOKEN = "", "[UNK]"
# Keras's DEFAULT_STRIP_REGEX (",-\." is the range ',' to '.', so '-' is in it).
DEFAULT_STRIP_REGEX = r'[!"#$%&()\*\+,-\./:;<=>?@\[\\\]^_`{|}~\']'
_STRIP_RE = re.compile(DEFAULT_STRIP_REGEX)
_ASCII_LOWER = {c: c + 32 for c in range(ord("A"), ord("Z") + 1)}
_WHITESPACE_RE = re.compile(r"[ \t\n\r\x0b\x0c]+")
_ADAPT_BATCH = 32   # Keras's default adapt batch (matters for tf_idf with split=None)


def _is_int(v):
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


class TextVectorization(PreprocessingLayer):
    """Maps strings to token indices or document vectors; see the module docstring."""

    def __init__(self, max_tokens=None, standardize=LOWER_AND_STRIP_PUNCTUATION,
                 split=WHITESPACE, ngrams=None, output_mode=INT, output_sequence_length=None,
                 pad_to_max_tokens=False, vocabulary=None, idf_weights=None, sparse=False,
                 ragged=False, encoding="utf-8", **kwargs):
        kwargs.pop("vocabulary_size", None)
        has_input_vocabulary = kwargs.pop("has_input_vocabulary", vocabulary is not None)
        custom_objects = kwargs.pop("_custom_objects", None)
        if output_mode == "binary":       # Keras's older names
            output_mode = MULTI_HOT
        if output_mode == "tf-idf":
            output_mode = TF_IDF
        if output_mode not in _MODES:
            raise ValueError(f"[TextVectorization] Unknown value for `output_mode`. Allowed "
                             f"values are {list(_MODES)}. Received: output_mode={output_mode!r}")
        _int_dtype_kwargs(kwargs, output_mode)
        super().__init__(**kwargs)
        n = self.name
        if output_mode == INT and self._np_dtype.kind not in "iu":
            raise ValueError(f"[{n}] When `output_mode='int'`, `dtype` should be an integer "
                             f"type. Received: dtype={self._dtype_name}")
        self._standardize = self._resolve_callable("standardize", standardize, _STANDARDIZE,
                                                   custom_objects)
        self._split = self._resolve_callable("split", split, _SPLIT, custom_objects)
        if isinstance(ngrams, list):      # a tuple after a JSON round trip
            ngrams = tuple(ngrams)
        if not (ngrams is None or _is_int(ngrams) or
                (isinstance(ngrams, tuple) and ngrams and all(_is_int(v) for v in ngrams))):
            raise ValueError(f"[{n}] `ngrams` must be None, an integer, or a tuple of "
                             f"integers. Received: ngrams={ngrams!r}")
        widths = tuple(range(1, ngrams + 1)) if _is_int(ngrams) else ngrams
        if widths is not None and (not widths or min(widths) < 1):
            raise ValueError(f"[{n}] n-gram widths must be positive integers. Received: "
                             f"ngrams={ngrams!r}")
        if ngrams is not None and self._split is None:
            raise ValueError(f"[{n}] `ngrams` requires a `split` (the n-grams join tokens). "
                             f"Received: ngrams={ngrams!r}, split=None")
        if max_tokens is not None and (not _is_int(max_tokens) or max_tokens <= 1):
            raise ValueError(f"[{n}] If set, `max_tokens` must be an integer greater than 1. "
                             f"Received: max_tokens={max_tokens!r}")
        if pad_to_max_tokens and max_tokens is None:
            raise ValueError(f"[{n}] If pad_to_max_tokens is True, must set `max_tokens`. "
                             f"Received: max_tokens={max_tokens}")
        if output_sequence_length is not None:
            if output_mode != INT:
                raise ValueError(f"[{n}] `output_sequence_length` must not be set if "
                                 f"`output_mode` is not 'int'. Received: output_sequence_length"
                                 f"={output_sequence_length}, output_mode={output_mode!r}")
            if not _is_int(output_sequence_length) or output_sequence_length < 0:
                raise ValueError(f"[{n}] `output_sequence_length` must be a non-negative "
                                 f"integer. Received: output_sequence_length="
                                 f"{output_sequence_length!r}")
        if sparse:
            raise ValueError(f"[{n}] sparse outputs are not supported by nabi (received "
                             f"sparse={sparse})")
        if ragged and output_mode != INT:
            raise ValueError(f"[{n}] `ragged` must not be true if `output_mode` is "
                             f"{output_mode!r}. Received: ragged={ragged} and "
                             f"output_mode={output_mode!r}")
        if idf_weights is not None and output_mode != TF_IDF:
            raise ValueError(f"[{n}] `idf_weights` should only be set if `output_mode` is "
                             f"'tf_idf'. Received: output_mode={output_mode!r}")
        self.max_tokens = max_tokens
        self.output_mode = output_mode
        self.output_sequence_length = output_sequence_length
        self.pad_to_max_tokens = bool(pad_to_max_tokens)
        self.encoding = encoding or "utf-8"
        self.sparse = False
        self.ragged = bool(ragged)
        self._ngrams_arg = ngrams
        self._ngram_widths = widths
        self._has_input_vocabulary = bool(has_input_vocabulary)
        self._tokens = None       # learned / set tokens, specials excluded
        self._index = {}          # token -> output index
        self._idf = None          # tf_idf: weights of every index (specials first)
        self.__dict__["_tracing"] = False
        self.reset_state()
        if vocabulary is not None:
            self.set_vocabulary(vocabulary, idf_weights)
            self._is_adapted = not self._has_input_vocabulary
        elif idf_weights is not None:
            raise ValueError(f"[{n}] `idf_weights` needs a `vocabulary`. Received: "
                             f"idf_weights of length {len(idf_weights)}, vocabulary=None")

    def _resolve_callable(self, what, value, allowed, custom_objects):
        if value is None or callable(value):
            return value
        if isinstance(value, str):
            if value in allowed:
                return value
            fn = get_registered_object(value, custom_objects)   # a saved custom function
            if fn is not None and callable(fn):
                return fn
        raise ValueError(f"[{self.name}] Unknown value for `{what}`: expected one of "
                         f"{list(allowed)}, None or a callable. Received: {what}={value!r} "
                         "(a custom function saved by name must be passed in "
                         "`custom_objects` or registered with "
                         "@keras.utils.register_keras_serializable())")

    # -- vocabulary -------------------------------------------------------------------------
    def _special_tokens(self):
        return [MASK_TOKEN, OOV_TOKEN] if self.output_mode == INT else [OOV_TOKEN]

    def _oov_index(self):
        return 1 if self.output_mode == INT else 0

    def vocabulary_size(self):
        """The number of indices: the special tokens plus the vocabulary."""
        return len(self._special_tokens()) + (len(self._tokens) if self._tokens else 0)

    def get_vocabulary(self, include_special_tokens=True):
        """The tokens by index: ['', '[UNK]', ...] in 'int' mode, ['[UNK]', ...] otherwise."""
        tokens = list(self._tokens or [])
        return self._special_tokens() + tokens if include_special_tokens else tokens

    def set_vocabulary(self, vocabulary, idf_weights=None):
        """Sets the vocabulary (a list/array of strings, or a file with one token a line),
        with or without the special tokens at its start; with output_mode='tf_idf' also the
        idf weights, one per entry of `vocabulary` (when the special tokens are not given,
        '[UNK]' gets the mean weight)."""
        n = self.name
        if self.output_mode == TF_IDF:
            if idf_weights is None:
                raise ValueError(f"[{n}] `idf_weights` must be set if output_mode is 'tf_idf'")
        elif idf_weights is not None:
            raise ValueError(f"[{n}] `idf_weights` should only be set if output_mode is "
                             f"'tf_idf'. Received: output_mode={self.output_mode!r} and "
                             f"idf_weights={idf_weights}")
        if isinstance(vocabulary, (str, os.PathLike)):
            if self.output_mode == TF_IDF:
                raise ValueError(f"[{n}] output_mode 'tf_idf' does not support loading a "
                                 "vocabulary from file.")
            from .preprocessing import read_vocabulary_file
            vocabulary = read_vocabulary_file(n, vocabulary)
        else:
            vocabulary = self._flat_strings(vocabulary, "vocabulary")[0]
        special = self._special_tokens()
        found_special = vocabulary[:len(special)] == special
        tokens = vocabulary[len(special):] if found_special else list(vocabulary)
        if not vocabulary:
            raise ValueError(f"[{n}] Cannot set an empty vocabulary.")
        counts = Counter(tokens)
        repeated = [t for t, c in counts.items() if c > 1]
        if repeated:
            raise ValueError(f"[{n}] The passed vocabulary has at least one repeated term. "
                             f"Please uniquify your dataset. The repeated terms are {repeated}")
        if MASK_TOKEN in counts:
            raise ValueError(f"[{n}] Found reserved mask token '' at unexpected location in "
                             "`vocabulary`. Note that passed `vocabulary` does not need to "
                             "include the OOV and mask tokens. Either remove all mask and OOV "
                             "tokens, or include them only at the start of the vocabulary in "
                             f"precisely this order: {special}.")
        size = len(special) + len(tokens)
        if self.max_tokens is not None and size > self.max_tokens:
            raise ValueError(f"[{n}] Attempted to set a vocabulary larger than the maximum "
                             f"vocab size. Passed vocab size is {size}, max vocab size is "
                             f"{self.max_tokens}.")
        idf = None
        if self.output_mode == TF_IDF:
            w = np.asarray(_host(idf_weights) if isinstance(idf_weights, Tensor)
                           else idf_weights, np.float64)
            if w.ndim != 1:
                raise ValueError(f"[{n}] `idf_weights` must be a 1-D array. Received: shape "
                                 f"{w.shape}")
            if len(w) != len(vocabulary):
                raise ValueError(f"[{n}] `idf_weights` must be the same length as vocabulary. "
                                 f"len(idf_weights) is {len(w)}; len(vocabulary) is "
                                 f"{len(vocabulary)}")
            if not found_special:
                w = np.concatenate([np.full(len(special), np.mean(w) if w.size else 0.0), w])
            idf = w
        self._set_tokens(tokens, idf)

    def _set_tokens(self, tokens, idf=None):
        start = len(self._special_tokens())
        self._tokens = list(tokens)
        self._index = {t: i + start for i, t in enumerate(self._tokens)}
        self._idf = None if idf is None else np.asarray(idf, np.float32)

    # -- strings in, tokens out ---------------------------------------------------------------
    def _decode(self, v, what):
        if isinstance(v, str):
            return v
        if isinstance(v, bytes):
            return v.decode(self.encoding)
        if isinstance(v, Tensor):
            return self._decode(np.asarray(v.numpy()), what)
        if isinstance(v, np.ndarray) and v.ndim == 0:
            return self._decode(v.item(), what)
        raise ValueError(f"[{self.name}] {what} must be strings, got "
                         f"{type(v).__name__}: {v!r}")

    def _flat_strings(self, x, what="inputs"):
        """(flat list of str, shape) of a str / bytes / list / array / string Tensor."""
        if isinstance(x, Tensor):
            x = x._data
        if type(x) is DeviceArray:
            x = x.get()
        if isinstance(x, (str, bytes)):
            return [self._decode(x, what)], ()
        if isinstance(x, (list, tuple)):
            def unnest(v):
                if isinstance(v, Tensor):
                    v = v.numpy()
                if isinstance(v, np.ndarray):
                    return v.item() if v.ndim == 0 else [unnest(e) for e in v]
                if isinstance(v, (list, tuple)):
                    return [unnest(e) for e in v]
                return v
            x = np.array(unnest(x), dtype=object)
            return [self._decode(v, what) for v in x.reshape(-1).tolist()], x.shape
        x = np.asarray(x)
        if x.dtype.kind == "U":
            return x.reshape(-1).tolist(), x.shape
        if x.dtype.kind == "S":
            return [v.decode(self.encoding) for v in x.reshape(-1).tolist()], x.shape
        if x.dtype.kind == "O":
            return [self._decode(v, what) for v in x.reshape(-1).tolist()], x.shape
        raise ValueError(f"[{self.name}] TextVectorization expects string {what}, got dtype "
                         f"{x.dtype} (shape {x.shape})")

    def _apply_standardize(self, strings, shape):
        std = self._standardize
        if std in (LOWER, LOWER_AND_STRIP_PUNCTUATION):
            strings = [s.translate(_ASCII_LOWER) for s in strings]
        if std in (STRIP_PUNCTUATION, LOWER_AND_STRIP_PUNCTUATION):
            strings = [_STRIP_RE.sub("", s) for s in strings]
        if callable(std):
            out = std(np.array(strings, dtype=str).reshape(shape))
            flat, _ = self._flat_strings(out, "the outputs of `standardize`")
            if len(flat) != len(strings):
                raise ValueError(f"[{self.name}] `standardize` must return one string per "
                                 f"input string: got {len(flat)} for {len(strings)}")
            strings = flat
        return strings

    def _apply_split(self, docs):
        sp = self._split
        if sp == WHITESPACE:
            return [[t for t in _WHITESPACE_RE.split(s) if t] for s in docs]
        if sp == CHARACTER:
            return [list(s) for s in docs]
        out = sp(np.array(docs, dtype=str))
        if isinstance(out, Tensor):
            out = out.numpy()
        if len(out) != len(docs):
            raise ValueError(f"[{self.name}] `split` must return one sequence of tokens per "
                             f"document: got {len(out)} for {len(docs)}")
        result = []
        for row in out:
            if isinstance(row, Tensor):
                row = row.numpy()
            if isinstance(row, (str, bytes)):
                raise ValueError(f"[{self.name}] `split` must return sequences of tokens, "
                                 f"got a string {row!r} for a document")
            result.append([self._decode(t, "tokens from `split`")
                           for t in np.asarray(row, dtype=object).reshape(-1).tolist()])
        return result

    def _ngrams(self, tokens):
        out = []
        for w in self._ngram_widths:
            if w == 1:
                out.extend(tokens)
            else:
                out.extend(" ".join(tokens[i:i + w]) for i in range(len(tokens) - w + 1))
        return out

    def _preprocess(self, x):
        """(documents, batch_shape, dense): token lists of each document and the batch shape
        they fill; with split=None, `dense` is True and each "document" is one token."""
        strings, shape = self._flat_strings(x)
        strings = self._apply_standardize(strings, shape)
        if self._split is None:
            return [[s] for s in strings], shape, True
        if len(shape) > 1:
            if shape[-1] != 1:
                raise ValueError(f"[{self.name}] When using `TextVectorization` to tokenize "
                                 "strings, the input rank must be 1 or the last shape "
                                 f"dimension must be 1. Received: inputs.shape={shape} with "
                                 f"rank={len(shape)}")
            shape = shape[:-1]
        docs = self._apply_split(strings)
        if self._ngram_widths is not None:
            docs = [self._ngrams(d) for d in docs]
        return docs, shape, False

    # -- adapt ----------------------------------------------------------------------------
    def reset_state(self):
        self._counts = Counter()
        self._doc_counts = Counter()
        self._num_docs = 0

    def _batches(self, data, batch_size, steps):
        from ...data import Dataset
        if isinstance(data, Dataset):
            yield from _adapt_batches(self, data, batch_size, steps)
            return
        if isinstance(data, Tensor):
            data = data._data
        if type(data) is DeviceArray:
            data = data.get()
        if isinstance(data, (str, bytes)) or (isinstance(data, np.ndarray) and data.ndim == 0):
            yield data
            return
        if steps is not None and (not _is_int(steps) or steps < 1):
            raise ValueError(f"[{self.name}] adapt: `steps` must be a positive integer, got "
                             f"steps={steps}")
        bs = _ADAPT_BATCH if batch_size is None else batch_size
        if not _is_int(bs) or bs < 1:
            raise ValueError(f"[{self.name}] adapt: `batch_size` must be a positive integer, "
                             f"got batch_size={batch_size}")
        if not isinstance(data, (list, tuple, np.ndarray)):
            raise TypeError(f"[{self.name}] adapt expects strings: a list or array of them, "
                            f"a string Tensor or a nabi.data.Dataset; got "
                            f"{type(data).__name__}")
        for k, i in enumerate(range(0, len(data), bs)):
            if steps is not None and k >= steps:
                return
            yield data[i:i + bs]

    def adapt(self, data, batch_size=None, steps=None):
        """Learns the vocabulary (and, for 'tf_idf', the idf weights) from `data`: a list or
        array of strings, a string Tensor, or a `nabi.data.Dataset` of string batches."""
        self.reset_state()
        seen = False
        for batch in self._batches(data, batch_size, steps):
            self.update_state(batch)
            seen = True
        if not seen:
            raise ValueError(f"[{self.name}] adapt received no data")
        self.finalize_state()
        self._is_adapted = True
        if not self.built:
            self.built = True

    def update_state(self, data):
        if self._has_input_vocabulary:
            raise ValueError(f"[{self.name}] Cannot adapt TextVectorization layer after setting "
                             "a static vocabulary via the `vocabulary` argument.")
        docs, shape, dense = self._preprocess(data)
        if dense and len(shape) < 2:      # Keras: a 0-D or 1-D batch of tokens is one document
            docs = [[t for d in docs for t in d]]
        elif dense:
            width = int(np.prod(shape[1:]))
            flat = [d[0] for d in docs]
            docs = [flat[i:i + width] for i in range(0, len(flat), width)]
        for d in docs:
            self._counts.update(d)
        if self.output_mode == TF_IDF:
            for d in docs:
                self._doc_counts.update(set(d))
            self._num_docs += len(docs)

    def finalize_state(self):
        if self._has_input_vocabulary or not self._counts:
            return
        counts = self._counts
        counts.pop(MASK_TOKEN, None)
        counts.pop(OOV_TOKEN, None)
        # Keras: np.lexsort((tokens, counts))[::-1] -- count descending, then token descending
        ranked = sorted(counts.items(), key=lambda tc: (tc[1], tc[0]), reverse=True)
        if self.max_tokens:
            ranked = ranked[:max(self.max_tokens - len(self._special_tokens()), 0)]
        tokens = [t for t, _ in ranked]
        idf = None
        if self.output_mode == TF_IDF:
            dc = np.array([self._doc_counts[t] for t in tokens], np.float64)
            w = np.log(1.0 + self._num_docs / (1.0 + dc))
            idf = np.concatenate([[np.mean(w) if w.size else 0.0], w])
        self._set_tokens(tokens, idf)
        self.reset_state()

    # -- call -----------------------------------------------------------------------------
    def _depth(self):
        return self.max_tokens if self.pad_to_max_tokens else self.vocabulary_size()

    def build(self, input_shape):
        self.built = True

    def compute_output_shape(self, input_shape):
        shape = tuple(TensorShape(input_shape).as_list()) if input_shape is not None else (None,)
        if self._split is not None and len(shape) > 1:
            shape = shape[:-1]
        if self.output_mode == INT:
            if self._split is None:
                if not shape or self.output_sequence_length is None:
                    return shape
                return shape[:-1] + (self.output_sequence_length,)
            return shape + (self.output_sequence_length,)
        depth = self._depth()
        if self._split is None:
            return (depth,) if len(shape) <= 1 else shape[:-1] + (depth,)
        return (depth,) if not shape else shape[:1] + (depth,)

    def _symbolic_call(self, inputs, args, kwargs):
        # The dummy inputs of a symbolic call are zeros (float32 when a Sequential model is
        # built from string data): give them no meaning, and report the real output shape.
        self.__dict__["_tracing"] = True
        try:
            out = super()._symbolic_call(inputs, args, kwargs)
        finally:
            self.__dict__["_tracing"] = False
        in_shape = inputs.shape if hasattr(inputs, "shape") else None
        if in_shape is not None and hasattr(out, "_shape"):
            out._shape = TensorShape(self.compute_output_shape(in_shape))
            self._last_output_shape = tuple(out.shape)
        return out

    def _check_vocabulary_set(self):
        if self.output_mode != INT and not self.pad_to_max_tokens and self._tokens is None:
            raise RuntimeError(f"[{self.name}] When using `output_mode={self.output_mode}` and "
                               "`pad_to_max_tokens=False`, you must set the layer's vocabulary "
                               "before calling it. Either pass a `vocabulary` argument to the "
                               "layer, or call `adapt` with some sample data.")

    def call(self, inputs):
        self._check_vocabulary_set()
        src = inputs._data if isinstance(inputs, Tensor) else None
        dtype = self._np_dtype
        if self.__dict__["_tracing"]:
            shape = tuple(np.shape(src if src is not None else inputs))
            out_shape = [1 if d is None else d for d in self.compute_output_shape(shape)]
            return _result(np.zeros(out_shape, dtype), src)
        if isinstance(inputs, (list, tuple)) and inputs and isinstance(inputs[0], Tensor):
            inputs = [v.numpy() for v in inputs]
        docs, shape, dense = self._preprocess(inputs)
        if self.ragged and not dense and len(shape) <= 1:
            return self._lookup_ragged(docs, dtype, src, scalar=not shape)
        if self.output_mode == INT:
            out = self._lookup_int(docs, shape, dense)
        else:
            out = self._lookup_vectors(docs, shape, dense)
        return _result(out.astype(dtype, copy=False), src)

    def _lookup_int(self, docs, shape, dense):
        get, oov = self._index.get, self._oov_index()
        if dense:   # split=None: one token per input element, shape kept
            ids = np.array([get(d[0], oov) if d[0] else 0 for d in docs], np.int64)
            ids = ids.reshape(shape)
            osl = self.output_sequence_length
            if osl is None or not shape:
                return ids
            ids = ids[..., :osl]
            pad = [(0, 0)] * (ids.ndim - 1) + [(0, osl - ids.shape[-1])]
            return np.pad(ids, pad)
        longest = max((len(d) for d in docs), default=0)
        length = longest if self.output_sequence_length is None else \
            self.output_sequence_length
        out = np.zeros((len(docs), length), np.int64)
        for i, d in enumerate(docs):
            row = [get(t, oov) if t else 0 for t in d[:length]]
            out[i, :len(row)] = row
        return out.reshape(tuple(shape) + (length,))

    def _lookup_ragged(self, docs, dtype, src, scalar):
        """ragged=True: a batch of documents gives a RaggedTensor with one row of token
        indices per document, one document (a scalar string) a 1-D tensor; unpadded either
        way (output_sequence_length does not apply, as in Keras)."""
        from ...ragged import RaggedTensor
        get, oov = self._index.get, self._oov_index()
        ids = np.array([get(t, oov) if t else 0 for d in docs for t in d], dtype)
        if scalar:
            return _result(ids, src)
        return RaggedTensor.from_row_lengths(ids, np.array([len(d) for d in docs], np.int64))

    def _lookup_vectors(self, docs, shape, dense):
        get, oov = self._index.get, self._oov_index()
        depth = self._depth()
        if dense:   # split=None: the last axis holds each sample's tokens (Keras's encoding)
            if len(shape) > 2:
                raise ValueError(f"[{self.name}] When output_mode is not 'int', maximum "
                                 f"supported output rank is 2. Received output_mode="
                                 f"{self.output_mode!r} and input shape {shape}, which would "
                                 f"result in output rank {len(shape)}.")
            width = shape[-1] if shape else 1
            flat = [d[0] for d in docs]
            docs = [flat[i:i + width] for i in range(0, len(flat), width)] if width else \
                [[] for _ in range(int(np.prod(shape[:-1])))]
            rows_shape = () if len(shape) <= 1 else shape[:1]
        else:
            if len(shape) > 1:
                raise ValueError(f"[{self.name}] When output_mode is not 'int', maximum "
                                 f"supported output rank is 2. Received output_mode="
                                 f"{self.output_mode!r} and a batch of shape {shape} (after "
                                 "squeezing the last axis).")
            rows_shape = shape
        out = np.zeros((len(docs), depth), np.float32)
        binary = self.output_mode == MULTI_HOT
        for i, d in enumerate(docs):
            for t in d:
                if not t:           # the mask token '' is dropped
                    continue
                j = get(t, oov)
                if j < depth:
                    if binary:
                        out[i, j] = 1.0
                    else:
                        out[i, j] += 1.0
        if self.output_mode == TF_IDF:
            w = np.zeros(depth, np.float32)
            if self._idf is not None:
                k = min(depth, len(self._idf))
                w[:k] = self._idf[:k]
            out *= w
        return out.reshape(tuple(rows_shape) + (depth,))

    # -- config -----------------------------------------------------------------------------
    @staticmethod
    def _serialize_fn(value):
        return value if value is None or isinstance(value, str) else \
            serialize_keras_object(value)

    def get_config(self):
        config = super().get_config()
        vocab, idf = None, None
        if self._tokens is not None:
            vocab = list(self._tokens)
            if self.output_mode == TF_IDF and self._idf is not None:
                vocab = self._special_tokens() + vocab    # keeps the '[UNK]' weight exactly
                idf = [float(v) for v in self._idf]
        config.update({"max_tokens": self.max_tokens,
                       "standardize": self._serialize_fn(self._standardize),
                       "split": self._serialize_fn(self._split),
                       "ngrams": list(self._ngrams_arg) if isinstance(self._ngrams_arg, tuple)
                       else self._ngrams_arg,
                       "output_mode": self.output_mode,
                       "output_sequence_length": self.output_sequence_length,
                       "pad_to_max_tokens": self.pad_to_max_tokens,
                       "sparse": False, "ragged": self.ragged, "vocabulary": vocab,
                       "idf_weights": idf, "encoding": self.encoding,
                       "vocabulary_size": self.vocabulary_size()})
        if vocab is not None and not self._has_input_vocabulary:
            config["has_input_vocabulary"] = False   # adapted: may be adapted again
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        if "batch_shape" in config and "batch_input_shape" not in config:
            config["batch_input_shape"] = config.pop("batch_shape")
        return cls(_custom_objects=custom_objects, **config)
