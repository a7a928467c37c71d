"""nabi.strings (tf.strings) against plain Python references: `bytes`/`str` methods and
Python's `re` run element by element here, NumPy loops for the joins and reductions, and the
"basic text classification" tutorial's custom_standardization driving TextVectorization
through adapt and fit. String ops run on the host whatever the device; numeric results land
on the current device (the CPU, the emulated GPU, a real GPU)."""
import re
import string

import numpy as np
import pytest

import nabi as tf
from nabi import keras
from nabi.keras import layers

WORDS = np.array([["Hello <br />World!", "  MiXeD case\t"], ["ÉCOLE été", ""],
                  ["a,b.c;d", "tabs\tand  spaces "]], dtype=object)


def _bytes(a):
    """The reference's view of an array of str: UTF-8 bytes, same shape."""
    a = np.asarray(a, dtype=object)
    out = np.empty(a.shape, dtype=object)
    out.reshape(-1)[:] = [s.encode("utf-8") for s in a.reshape(-1).tolist()]
    return out


def _elementwise(fn, a):
    a = np.asarray(a, dtype=object)
    out = np.empty(a.shape, dtype=object)
    out.reshape(-1)[:] = [fn(v) for v in a.reshape(-1).tolist()]
    return out


def _check_strings(t, expected):
    assert isinstance(t, tf.Tensor)
    assert t.dtype == tf.string
    assert tuple(t.shape) == np.shape(expected)
    got = t.numpy()
    if np.ndim(expected) == 0:
        assert isinstance(got, bytes) and got == expected
    else:
        assert got.dtype == object
        assert got.tolist() == np.asarray(expected, dtype=object).tolist()


def _on_device(t, where):
    # numeric results follow the default device; strings stay on the host
    assert ("GPU" in t.device) == ("GPU" in where), (t.device, where)


# ============================================================================ tensors of bytes


def test_string_tensors_hold_bytes(where):
    with tf.device(where):
        t = tf.constant(["a", "é"])
        assert t.numpy().tolist() == [b"a", "é".encode()]
        assert t.numpy().dtype == object
        assert tf.constant("x").numpy() == b"x"          # a scalar string is bytes, as in TF
        assert tf.constant(np.array(["u", "v"])).numpy().tolist() == [b"u", b"v"]
        assert tf.constant([b"p", b"q"]).numpy().tolist() == [b"p", b"q"]
        assert tf.convert_to_tensor([["a"], ["b"]]).dtype == tf.string
        assert "CPU" in tf.strings.lower(t).device


# ============================================================================ elementwise


@pytest.mark.parametrize("op", ["lower", "upper", "strip"])
def test_case_and_strip(where, op):
    ref = {"lower": bytes.lower, "upper": bytes.upper, "strip": bytes.strip}[op]
    with tf.device(where):
        for x in (WORDS, tf.constant(WORDS.tolist()), WORDS.tolist()):
            _check_strings(getattr(tf.strings, op)(x), _elementwise(ref, _bytes(WORDS)))
        _check_strings(getattr(tf.strings, op)("  AbC "), ref(b"  AbC "))
        _check_strings(getattr(tf.strings, op)(b"xY"), ref(b"xY"))


def test_lower_is_ascii_unless_utf8():
    # TF lower-cases ASCII only by default; encoding='utf-8' lower-cases every letter
    _check_strings(tf.strings.lower(["ÉCOLE"]), np.array([b"\xc3\x89cole"], dtype=object))
    _check_strings(tf.strings.lower(["ÉCOLE"], encoding="utf-8"),
                   np.array(["école".encode()], dtype=object))
    _check_strings(tf.strings.upper("été", encoding="utf-8"), "ÉTÉ".encode())
    with pytest.raises(ValueError, match=r"strings.lower.*encoding"):
        tf.strings.lower("a", encoding="latin-1")


def test_length(where):
    with tf.device(where):
        n = tf.strings.length(WORDS)
        assert n.dtype == tf.int32 and tuple(n.shape) == WORDS.shape
        _on_device(n, where)
        np.testing.assert_array_equal(n.numpy(), _elementwise(lambda s: len(s.encode()), WORDS)
                                      .astype(np.int32))
        c = tf.strings.length(WORDS, unit="UTF8_CHAR")
        np.testing.assert_array_equal(c.numpy(), _elementwise(len, WORDS).astype(np.int32))
        # invalid UTF-8: every byte that does not continue a character counts
        assert tf.strings.length(b"a\xc3\xa9\xff\x80", unit="UTF8_CHAR").numpy() == 3
    with pytest.raises(ValueError, match=r"strings.length.*unit"):
        tf.strings.length("a", unit="CHAR")


def test_non_strings_raise_naming_op_and_shape():
    with pytest.raises(TypeError, match=r"\[strings.lower\].*float32.*\(2, 3\)"):
        tf.strings.lower(tf.zeros((2, 3)))
    with pytest.raises(TypeError, match=r"\[strings.split\].*int"):
        tf.strings.split(np.array([1, 2]))
    with pytest.raises(TypeError, match=r"\[strings.strip\].*int"):
        tf.strings.strip(np.array(["a", 3], dtype=object))


# ============================================================================ regular expressions

PUNCT = "[%s]" % re.escape(string.punctuation)


def _re_sub(pattern, rewrite, s, count=0):
    """Reference: Python's re with RE2's conventions spelled out by hand (ASCII classes,
    \\N rewrite groups written as \\g<N>)."""
    repl = re.sub(r"\\(\d)", r"\\g<\1>", rewrite)
    return re.sub(pattern, repl, s, count=count, flags=re.ASCII).encode()


@pytest.mark.parametrize("pattern,rewrite", [
    ("<br />", " "),
    (PUNCT, ""),
    (r"(\w+)@(\w+)", r"\2 at \1"),
    (r"\s+", " "),
    (r"[aeiou]", "*"),
    (r"^\s+|\s+$", ""),
    (r"(o)", r"[\1\1]"),
])
def test_regex_replace_matches_python_re(where, pattern, rewrite):
    texts = ["Hello <br />World!", "joe@example and ann@site", "  lots   of\tspace  ",
             "a,b.c;d", "école ÉTÉ", "foo boo"]
    with tf.device(where):
        got = tf.strings.regex_replace(texts, pattern, rewrite)
        _check_strings(got, np.array([_re_sub(pattern, rewrite, s) for s in texts],
                                     dtype=object))
        first = tf.strings.regex_replace(texts, pattern, rewrite, replace_global=False)
        _check_strings(first, np.array([_re_sub(pattern, rewrite, s, 1) for s in texts],
                                       dtype=object))


def test_regex_replace_re2_details():
    # \0 is the whole match; \\ a backslash
    _check_strings(tf.strings.regex_replace("ab", "b", r"<\0>"), b"a<b>")
    _check_strings(tf.strings.regex_replace("ab", "b", r"\\"), b"a\\")
    # \w and \d are ASCII in RE2: 'é' is not a word character
    _check_strings(tf.strings.regex_replace("é1x", r"\w", "_"), "é__".encode())
    # '$' is the end of the text only (Python's would also match before a final newline)
    _check_strings(tf.strings.regex_replace("a\n", "a$", "X"), b"a\n")
    _check_strings(tf.strings.regex_replace("a\nb", "(?m)a$", "X"), b"X\nb")
    # \z, POSIX classes, \Q...\E
    _check_strings(tf.strings.regex_replace("ab", r"b\z", "!"), b"a!")
    _check_strings(tf.strings.regex_replace("a1-B", "[[:alpha:]]", "."), b".1-.")
    _check_strings(tf.strings.regex_replace("a.b", r"\Q.\E", "+"), b"a+b")
    # '.' is one UTF-8 character, not one byte
    _check_strings(tf.strings.regex_replace("é", "^.$", "x"), b"x")
    # string tensors as pattern and rewrite; a 2-D input keeps its shape
    _check_strings(tf.strings.regex_replace([["ab"], ["cb"]], tf.constant("b"),
                                            tf.constant("!")),
                   np.array([[b"a!"], [b"c!"]], dtype=object))
    with pytest.raises(ValueError, match=r"strings.regex_replace.*group"):
        tf.strings.regex_replace("a", "(a)", r"\2")
    with pytest.raises(ValueError, match=r"strings.regex_replace.*invalid regular"):
        tf.strings.regex_replace("a", "(", "")
    with pytest.raises(ValueError, match=r"strings.regex_replace.*Unicode classes"):
        tf.strings.regex_replace("a", r"\pL", "")
    with pytest.raises(ValueError, match=r"strings.regex_replace.*rewrite"):
        tf.strings.regex_replace("a", "a", r"\n")


def test_regex_full_match(where):
    texts = [["abc", "abd"], ["ab", "xabc"]]
    with tf.device(where):
        m = tf.strings.regex_full_match(texts, r"a.c")
        assert m.dtype == tf.bool
        _on_device(m, where)
        np.testing.assert_array_equal(
            m.numpy(), [[re.fullmatch("a.c", s) is not None for s in row] for row in texts])
        assert not tf.strings.regex_full_match("a\n", "a$").numpy()


# ============================================================================ joining


def test_join_broadcasts(where):
    a = [["a", "b"], ["c", "d"]]
    with tf.device(where):
        _check_strings(tf.strings.join([a, "x", tf.constant(["1", "2"])], separator="-"),
                       np.array([[b"a-x-1", b"b-x-2"], [b"c-x-1", b"d-x-2"]], dtype=object))
        _check_strings(tf.strings.join(["p", "q"]), b"pq")
    with pytest.raises(ValueError, match=r"strings.join.*broadcast"):
        tf.strings.join([["a", "b"], ["c", "d", "e"]])
    with pytest.raises(TypeError, match=r"strings.join.*list"):
        tf.strings.join("ab")


@pytest.mark.parametrize("axis", [None, 0, 1, 2, -1, [0, 2], (1, 0)])
@pytest.mark.parametrize("keepdims", [False, True])
def test_reduce_join_matches_numpy_loops(axis, keepdims):
    rng = np.random.default_rng(0)
    a = np.array(["".join(rng.choice(list("abcdé"), 2)) for _ in range(24)],
                 dtype=object).reshape(2, 3, 4)
    # TF: axis=None joins in C order; a list of axes joins with its first axis varying fastest
    slow_to_fast = list(range(3)) if axis is None else \
        [v % 3 for v in reversed(np.atleast_1d(axis).tolist())]
    ref_axes = sorted(slow_to_fast)
    keep = [d for d in range(3) if d not in ref_axes]
    out_shape = tuple(a.shape[d] for d in keep)
    ref = np.empty(out_shape, dtype=object)
    for idx in np.ndindex(*out_shape):
        parts = []
        for red in np.ndindex(*[a.shape[d] for d in slow_to_fast]):
            full = [0] * 3
            for k, d in enumerate(keep):
                full[d] = idx[k]
            for k, d in enumerate(slow_to_fast):
                full[d] = red[k]
            parts.append(a[tuple(full)].encode())
        ref[idx] = b"|".join(parts)
    if keepdims:
        ref = ref.reshape(tuple(1 if d in ref_axes else a.shape[d] for d in range(3)))
    got = tf.strings.reduce_join(tf.constant(a.tolist()), axis=axis, keepdims=keepdims,
                                 separator="|")
    _check_strings(got, ref if ref.ndim else ref.item())


def test_reduce_join_bad_axis():
    with pytest.raises(ValueError, match=r"strings.reduce_join.*axis 2.*\(2, 2\)"):
        tf.strings.reduce_join([["a", "b"], ["c", "d"]], axis=2)


# ============================================================================ split and ragged


def test_split_scalar_is_a_vector(where):
    with tf.device(where):
        _check_strings(tf.strings.split("  a b\t c  "), np.array([b"a", b"b", b"c"],
                                                                 dtype=object))
        _check_strings(tf.strings.split("a,,b", sep=","), np.array([b"a", b"", b"b"],
                                                                   dtype=object))
        _check_strings(tf.strings.split("a b c d", maxsplit=2),
                       np.array([b"a", b"b", b"c d"], dtype=object))


@pytest.mark.parametrize("sep,maxsplit", [(None, -1), (",", -1), (", ", 1), ("", -1),
                                          (None, 1)])
def test_split_ragged_matches_str_split(sep, maxsplit):
    texts = ["a, b,c", "", "one,two, three  four", " x "]
    r = tf.strings.split(texts, sep=sep, maxsplit=maxsplit)
    assert isinstance(r, tf.RaggedTensor)
    ref = [s.encode().split(sep.encode() if sep else None, maxsplit) for s in texts]
    if not sep and maxsplit == 1:
        # TF, unlike str.split: once maxsplit tokens are taken, the rest is one more token even
        # when empty (test_strings_sparse_ragged_vs_tf_semantics.py covers the rule)
        ref[3] = [b"x", b""]
    assert r.to_list() == ref
    assert tuple(r.shape.as_list()) == (4, None)
    assert r.dtype == tf.string and len(r) == 4
    np.testing.assert_array_equal(r.row_lengths().numpy(), [len(v) for v in ref])
    for row, want in zip(r, ref):
        _check_strings(row, np.array(want, dtype=object).reshape(len(want)))
    width = max(len(v) for v in ref)
    dense = np.array([v + [b"<pad>"] * (width - len(v)) for v in ref], dtype=object)
    _check_strings(r.to_tensor(default_value="<pad>"), dense)
    _check_strings(r.to_tensor(), np.where(dense == b"<pad>", b"", dense).astype(object))
    _check_strings(r.flat_values, np.array([t for v in ref for t in v], dtype=object))


def test_split_2d_keeps_outer_shape():
    r = tf.strings.split([["a b", "c"], ["", "d e f"]])
    # TF's shape is (2, 2, None) (a uniform_row_length partition); nabi keeps every inner
    # dimension ragged so that row_splits / value_rowids / gather see TF's outer rows
    assert tuple(r.shape.as_list()) == (2, None, None)
    assert r.row_splits.numpy().tolist() == [0, 2, 4]
    assert r.to_list() == [[[b"a", b"b"], [b"c"]], [[], [b"d", b"e", b"f"]]]
    assert r[1].to_list() == [[], [b"d", b"e", b"f"]]
    _check_strings(r.to_tensor(), np.array([[[b"a", b"b", b""], [b"c", b"", b""]],
                                            [[b"", b"", b""], [b"d", b"e", b"f"]]],
                                           dtype=object))
    rr = tf.RaggedTensor.from_row_lengths(["a", "b", "c"], [2, 0, 1])
    assert rr.to_list() == [[b"a", b"b"], [], [b"c"]]


def test_bytes_and_unicode_split():
    _check_strings(tf.strings.bytes_split("hé"), np.array([b"h", b"\xc3", b"\xa9"],
                                                          dtype=object))
    _check_strings(tf.strings.unicode_split("hé", "UTF-8"),
                   np.array([b"h", "é".encode()], dtype=object))
    assert tf.strings.unicode_split(["ab", "ñ"], "UTF-8").to_list() == \
        [[b"a", b"b"], ["ñ".encode()]]
    assert tf.strings.bytes_split(["ab", ""]).to_list() == [[b"a", b"b"], []]
    # invalid UTF-8 becomes U+FFFD by default
    assert tf.strings.unicode_split(b"a\xff", "UTF-8").numpy().tolist() == \
        [b"a", "\ufffd".encode()]


# ============================================================================ substr, numbers


def test_substr(where):
    texts = np.array([["hello", "héllo"], ["ab", "xyz12"]], dtype=object)
    with tf.device(where):
        _check_strings(tf.strings.substr(texts, 1, 3),
                       _elementwise(lambda s: s.encode()[1:4], texts))
        _check_strings(tf.strings.substr(texts, 1, 3, unit="UTF8_CHAR"),
                       _elementwise(lambda s: s[1:4].encode(), texts))
        _check_strings(tf.strings.substr("hello", -3, 2), b"ll")
        # pos and len broadcast against the input
        _check_strings(tf.strings.substr(["abcd", "efgh"], [0, 2], [1, 5]),
                       np.array([b"a", b"gh"], dtype=object))
    with pytest.raises(ValueError, match=r"strings.substr.*pos 9.*length 2"):
        tf.strings.substr("ab", 9, 1)


def test_to_number(where):
    with tf.device(where):
        f = tf.strings.to_number(["1.5", "-2", " 3e2", "inf"])
        assert f.dtype == tf.float32
        _on_device(f, where)
        np.testing.assert_array_equal(f.numpy(), np.array([1.5, -2, 300, np.inf], np.float32))
        i = tf.strings.to_number(tf.constant([["7"], ["-12"]]), out_type=tf.int64)
        assert i.dtype == tf.int64
        np.testing.assert_array_equal(i.numpy(), [[7], [-12]])
    with pytest.raises(ValueError, match=r"strings.to_number.*b'1.5'.*int32"):
        tf.strings.to_number("1.5", tf.int32)
    with pytest.raises(ValueError, match=r"strings.to_number.*b'x'"):
        tf.strings.to_number(["1", "x"])
    with pytest.raises(ValueError, match=r"strings.to_number"):
        tf.strings.to_number("3000000000", tf.int32)


def test_as_string(where):
    with tf.device(where):
        x = tf.constant([1.5, -0.25, 100.0])
        _check_strings(tf.strings.as_string(x),
                       np.array([b"%f" % v for v in [1.5, -0.25, 100.0]], dtype=object))
        _check_strings(tf.strings.as_string(x, precision=2),
                       np.array([b"1.50", b"-0.25", b"100.00"], dtype=object))
        _check_strings(tf.strings.as_string(x, scientific=True, precision=1),
                       np.array([b"1.5e+00", b"-2.5e-01", b"1.0e+02"], dtype=object))
        _check_strings(tf.strings.as_string(x, shortest=True),
                       np.array([b"1.5", b"-0.25", b"100"], dtype=object))
        _check_strings(tf.strings.as_string(tf.constant([3, -4]), width=4, fill="0"),
                       np.array([b"0003", b"-004"], dtype=object))
        _check_strings(tf.strings.as_string(tf.constant([7]), width=3),
                       np.array([b"  7"], dtype=object))
        _check_strings(tf.strings.as_string(tf.constant([True, False])),
                       np.array([b"true", b"false"], dtype=object))
    # TF 2.21 passes strings through (test_strings_sparse_ragged_vs_tf_semantics.py)
    _check_strings(tf.strings.as_string(tf.constant(["a"])), np.array([b"a"], dtype=object))


def test_format():
    out = tf.strings.format("x={} s={} n={}", [tf.constant([1.5, 2.0, 0.1]),
                                                tf.constant("hi"), 3])
    assert out.numpy() == b'x=[1.5 2 0.1] s="hi" n=3'
    long = tf.strings.format("{}", tf.range(10), summarize=2).numpy()
    assert long == b"[0 1 ... 8 9]"
    grid = tf.strings.format("{}", tf.reshape(tf.range(8), (2, 2, 2))).numpy()
    assert grid == b"[[[0 1]\n  [2 3]]\n\n [[4 5]\n  [6 7]]]"
    assert tf.strings.format("{}", tf.range(10), summarize=-1).numpy() == \
        ("[" + " ".join(map(str, range(10))) + "]").encode()
    assert tf.strings.format("<>!", [1], placeholder="<>").numpy() == b"1!"
    with pytest.raises(ValueError, match=r"strings.format.*2 placeholder.*1 input"):
        tf.strings.format("{} {}", [1])


# ============================================================================ in data pipelines


def test_strings_in_dataset_map(where):
    texts = ["Good <br />Movie", "BAD, film", "ok"]
    labels = [1, 0, 1]
    with tf.device(where):
        ds = tf.data.Dataset.from_tensor_slices((texts, labels))
        ds = ds.map(lambda t, y: (tf.strings.regex_replace(tf.strings.lower(t), "<br />", ""),
                                  y))
        got = [(t.numpy(), int(y.numpy())) for t, y in ds]
        assert got == [(s.lower().replace("<br />", "").encode(), y)
                       for s, y in zip(texts, labels)]
        batched = tf.data.Dataset.from_tensor_slices(texts).batch(2).map(
            lambda b: tf.strings.length(tf.strings.strip(b)))
        lens = np.concatenate([b.numpy() for b in batched])
        np.testing.assert_array_equal(lens, [len(s.strip().encode()) for s in texts])


# ============================================================================ TextVectorization


def custom_standardization(input_data):
    # the "basic text classification" tutorial's standardizer, unchanged
    lowercase = tf.strings.lower(input_data)
    stripped_html = tf.strings.regex_replace(lowercase, "<br />", " ")
    return tf.strings.regex_replace(stripped_html, "[%s]" % re.escape(string.punctuation), "")


REVIEWS = ["Great movie!<br />Loved it.", "Terrible, awful film.", "GREAT fun; great cast",
           "Awful<br />boring plot...", "loved the cast", "boring, terrible acting"]
SENTIMENT = np.array([1, 0, 1, 0, 1, 0], np.float32)


def _reference_tokens(text):
    s = text.lower().replace("<br />", " ")
    s = "".join(c for c in s if c not in string.punctuation)
    return s.split()


def test_text_vectorization_tutorial_standardization(where):
    with tf.device(where):
        keras.utils.set_random_seed(1)
        raw = tf.data.Dataset.from_tensor_slices((REVIEWS, SENTIMENT)).batch(3)
        vec = layers.TextVectorization(max_tokens=40, standardize=custom_standardization,
                                       output_mode="int", output_sequence_length=5)
        vec.adapt(raw.map(lambda x, y: x))
        # vocabulary: count descending, ties by token descending (Keras's order)
        counts = {}
        for r in REVIEWS:
            for t in _reference_tokens(r):
                counts[t] = counts.get(t, 0) + 1
        vocab = [t for t, _ in sorted(counts.items(), key=lambda tc: (tc[1], tc[0]),
                                      reverse=True)]
        assert vec.get_vocabulary() == ["", "[UNK]"] + vocab
        index = {t: i + 2 for i, t in enumerate(vocab)}

        def vectorize_text(text, label):
            text = tf.expand_dims(text, -1)
            return vec(text), label
        train = raw.map(vectorize_text)
        x0, _ = next(iter(train))
        ref = np.zeros((3, 5), np.int64)
        for i, r in enumerate(REVIEWS[:3]):
            ids = [index[t] for t in _reference_tokens(r)][:5]
            ref[i, :len(ids)] = ids
        np.testing.assert_array_equal(x0.numpy(), ref)

        model = keras.Sequential([layers.Embedding(40, 4), layers.GlobalAveragePooling1D(),
                                  layers.Dense(1)])
        model.compile(loss=keras.losses.BinaryCrossentropy(from_logits=True),
                      optimizer=keras.optimizers.Adam(0.05))
        hist = model.fit(train, epochs=8, verbose=0)
        losses = hist.history["loss"]
        assert np.all(np.isfinite(losses)) and losses[-1] < losses[0]
        # the exported model takes raw strings
        export = keras.Sequential([vec, model, layers.Activation("sigmoid")])
        p = export.predict(np.array(REVIEWS)[:, None], verbose=0)
        direct = tf.sigmoid(model(vec(np.array(REVIEWS)[:, None]))).numpy()
        np.testing.assert_allclose(np.asarray(p), direct, rtol=1e-5, atol=1e-6)


def test_text_vectorization_strings_split_callable():
    vec = layers.TextVectorization(standardize=tf.strings.lower,
                                   split=lambda x: tf.strings.split(x, sep="|"))
    vec.adapt(["A|b|A", "c|A"])
    assert vec.get_vocabulary() == ["", "[UNK]", "a", "c", "b"]
    np.testing.assert_array_equal(vec(["A|c", "b|zz|a"]).numpy(), [[2, 3, 0], [4, 1, 2]])


def test_scalar_string_tensor_repr_and_str():
    t = tf.constant("hi")
    assert repr(t) == "<nabi.Tensor: shape=(), dtype=string, numpy=b'hi'>"
    assert str(t) == "nabi.Tensor(b'hi', shape=(), dtype=string)"
    assert "numpy=[b'a' b'b']" in repr(tf.constant(["a", "b"]))
