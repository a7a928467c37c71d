"""tf.strings / tf.sparse / tf.ragged corner cases where nabi gave a different answer from
TensorFlow 2.21 (found by running the same calls on both). Each expected value comes from a
plain Python / NumPy reference written here; the comment says what TF does."""
import numpy as np
import pytest

import nabi as tf

_WS = frozenset(b" \t\n\r\x0b\x0c")


def _values(t):
    return np.asarray(t.numpy(), dtype=object)


# ============================================================================ tf.strings


def _ref_whitespace_split(b, maxsplit):
    """TF's sep=None split with a limit: maxsplit=0 keeps the string as it is; otherwise
    tokens are runs of non-blanks, and once maxsplit of them are taken the rest (after its
    leading blanks) is one more token, even when it is empty."""
    if maxsplit == 0:
        return [b]
    toks, i, n = [], 0, len(b)
    while i < n and b[i] in _WS:
        i += 1
    while i < n:
        j = i
        while j < n and b[j] not in _WS:
            j += 1
        toks.append(b[i:j])
        while j < n and b[j] in _WS:
            j += 1
        i = j
        if maxsplit > 0 and len(toks) == maxsplit:
            toks.append(b[i:])
            break
    return toks


@pytest.mark.parametrize("maxsplit", [-1, 0, 1, 2, 3])
def test_split_on_whitespace_with_maxsplit(maxsplit):
    # TF: split(["hello world", "", "  a  b  "], maxsplit=2) ->
    # [[b'hello', b'world', b''], [], [b'a', b'b', b'']]; maxsplit=0 -> each string whole
    texts = ["hello world", "  a  b  ", "", "x,y,,z", "héllo wörld ünï", "tab\tsep\nnl", " ",
             "a\x0bb\x0cc d"]
    got = tf.strings.split(texts, maxsplit=maxsplit)
    ref = [_ref_whitespace_split(s.encode(), maxsplit) for s in texts]
    assert got.to_list() == ref
    assert got.row_splits.dtype == tf.int64
    np.testing.assert_array_equal(got.row_splits.numpy(), np.cumsum([0] + [len(r) for r in ref]))
    scalar = tf.strings.split("one two three", maxsplit=maxsplit)
    assert _values(scalar).tolist() == _ref_whitespace_split(b"one two three", maxsplit)


def test_reduce_join_axis_list_first_axis_varies_fastest():
    # TF: reduce_join([[a, b, c], [d, e, f]], axis=[0, 1]) == b'adbecf' (axis 0 reduced first);
    # axis=[1, 0] == b'abcdef'; axis=None is C order
    a = np.array([[["%d%d%d" % (i, j, k) for k in range(2)] for j in range(3)] for i in range(2)],
                 dtype=object)
    for axis in ([0, 1], [1, 0], [0, 2], [2, 0], [-1, 0], [0, 1, 2], [2, 1, 0], [1, 0, 2]):
        order = [v % 3 for v in axis]
        keep = [d for d in range(3) if d not in order]
        b = np.transpose(a, keep + order[::-1])     # last position varies fastest
        b = b.reshape([a.shape[d] for d in keep] + [-1])
        ref = np.empty(b.shape[:-1], dtype=object)
        for idx in np.ndindex(*ref.shape):
            ref[idx] = ".".join(b[idx].tolist()).encode()
        got = tf.strings.reduce_join(a.tolist(), axis=axis, separator=".")
        assert got.shape == ref.shape
        assert _values(got).tolist() == ref.tolist(), axis
    got = tf.strings.reduce_join(a.tolist(), axis=[0, 2], keepdims=True, separator=".")
    assert got.shape == (1, 3, 1)
    assert _values(got)[0, 0, 0] == b"000.100.001.101"


def test_reduce_join_duplicate_axes_raise():
    # TF: InvalidArgumentError "Duplicate reduction dimension"
    with pytest.raises(ValueError, match=r"strings.reduce_join.*duplicate"):
        tf.strings.reduce_join([["a", "b"]], axis=[1, -1])


def test_reduce_join_of_empty_dimension():
    # TF: reduce_join(zeros([2, 0], string), axis=0) has shape (0,); axis=1 gives [b'', b'']
    empty = np.zeros((2, 0), dtype=object)
    out = tf.strings.reduce_join(tf.constant(empty, dtype=tf.string), axis=0, separator=",")
    assert out.shape == (0,) and out.dtype == tf.string
    out = tf.strings.reduce_join(tf.constant(empty, dtype=tf.string), axis=0, keepdims=True)
    assert out.shape == (1, 0)
    out = tf.strings.reduce_join(tf.constant(empty, dtype=tf.string), axis=1, separator=",")
    assert _values(out).tolist() == [b"", b""]


def _ref_re2_global_replace(rx, rewrite, text):
    """RE2's GlobalReplace over Python's re: an empty match where the previous match ended is
    not replaced; one character is copied and the search goes on."""
    out, p, last = "", 0, -1
    while p <= len(text):
        m = rx.search(text, p)
        if m is None:
            break
        if m.start() == m.end() == last:
            out += text[p:p + 1]
            p += 1
            continue
        out += text[p:m.start()] + m.expand(rewrite)
        p = last = m.end()
    return out + text[p:]


@pytest.mark.parametrize("pattern", ["a|", "a*", "(ab)*", "", "x?", "[ab]*"])
def test_regex_replace_skips_empty_match_after_a_match(pattern):
    # TF (RE2): regex_replace("abc123def", "a|", "Z") == b'ZbZcZ1Z2Z3ZdZeZfZ';
    # Python's re.sub gives 'ZZbZc...' (an empty match right after 'a')
    import re
    texts = ["abc123def", "", "aab", "ba", "a.b*c", "éaé"]
    rx = re.compile(pattern)
    ref = [_ref_re2_global_replace(rx, "<\\g<0>>", s).encode() for s in texts]
    got = tf.strings.regex_replace(texts, pattern, "<\\0>")
    assert _values(got).tolist() == ref
    first = tf.strings.regex_replace(texts, pattern, "Z", replace_global=False)
    assert _values(first).tolist() == [rx.sub("Z", s, count=1).encode() for s in texts]


def test_case_mapping_utf8_replaces_invalid_bytes():
    # TF: upper([b"A\xffb"], encoding="utf-8") == [b'A\xef\xbf\xbdB'] (U+FFFD); with the
    # default encoding='' only ASCII letters change and the bytes stay
    xs = [b"A\xffb", b"\xc3", b"ok\xc3\x89\x80"]
    ref_up = [x.decode("utf-8", "replace").upper().encode() for x in xs]
    ref_low = [x.decode("utf-8", "replace").lower().encode() for x in xs]
    assert _values(tf.strings.upper(xs, encoding="utf-8")).tolist() == ref_up
    assert _values(tf.strings.lower(xs, encoding="utf-8")).tolist() == ref_low
    assert _values(tf.strings.upper(xs)).tolist() == [x.upper() for x in xs]


def test_trailing_nul_bytes_and_mixed_str_bytes_lists_are_kept():
    # TF: tf.constant([b"a\x00"]) keeps both bytes; length([b"a\x00", "é", b"\xff"]) == [2, 2, 1]
    # (NumPy's fixed-width b'S' arrays drop trailing NULs)
    assert tf.constant([b"a\x00"]).numpy().tolist() == [b"a\x00"]
    assert tf.constant(b"a\x00").numpy() == b"a\x00"
    assert tf.constant([["x\x00"]], dtype=tf.string).numpy().tolist() == [[b"x\x00"]]
    got = tf.strings.length([b"a\x00", "é", b"\xff"])
    assert got.numpy().tolist() == [len(b"a\x00"), len("é".encode()), 1]
    assert _values(tf.strings.upper([[b"a\x00\x00"]])).tolist() == [[b"A\x00\x00"]]


def test_as_string_fill_flags_nonfinite_bools_strings_and_complex():
    # TF: fill is one printf flag; fill='x' raises ("Fill argument not supported"); printf
    # leaves inf / nan space-padded under the '0' flag; bools ignore width; strings pass
    # through (padded with spaces); complex numbers print as '(re,im)'
    vals = [1.5, -2.0, float("inf"), float("-inf"), float("nan")]
    for fill in ["", " ", "0", "-", "+", "#"]:
        got = tf.strings.as_string(tf.constant(vals), width=9, fill=fill)
        ref = [(("%" + fill + "9f") if np.isfinite(v) else
                ("%" + fill.replace("0", "") + "9f")) % v for v in vals]
        assert _values(got).tolist() == [r.encode() for r in ref], fill
    got = tf.strings.as_string(tf.constant([3, -4]), width=5, fill="+")
    assert _values(got).tolist() == [b"%+5d" % 3, b"%+5d" % -4]
    with pytest.raises(ValueError, match=r"strings.as_string.*fill"):
        tf.strings.as_string(tf.constant([3]), width=5, fill="x")
    got = tf.strings.as_string(tf.constant([True, False]), width=6, fill="0")
    assert _values(got).tolist() == [b"true", b"false"]
    got = tf.strings.as_string(["ab", "é"], width=5)
    assert _values(got).tolist() == [b"ab".rjust(5), "é".encode().rjust(5)]
    c = [1 + 2j, -1.5 - 0.25j]
    got = tf.strings.as_string(tf.constant(c, dtype=tf.complex64), precision=2, width=7, fill="0")
    assert _values(got).tolist() == [("(%07.2f,%07.2f)" % (v.real, v.imag)).encode() for v in c]
    got = tf.strings.as_string(tf.constant(c, dtype=tf.complex128), shortest=True)
    assert _values(got).tolist() == [("(%g,%g)" % (v.real, v.imag)).encode() for v in c]


def test_to_number_reads_hex_floats_and_nan_chars():
    # TF (strtod): to_number("0x1.8p1") == 3.0, "-0x10" == -16.0, "nan(12)" is nan; the integer
    # types still refuse hex; "0x" and "1e" are errors
    for s in ["0x10", "0X1a", "0x1p-2", "-0x10", " 0x1.8p1 ", "0x.8"]:
        for dt in (tf.float32, tf.float64):
            assert tf.strings.to_number(s, dt).numpy() == np.dtype(dt.as_numpy_dtype).type(
                float.fromhex(s.strip()))
    assert np.isnan(tf.strings.to_number("nan(12)").numpy())
    for s, dt in [("0x10", tf.int32), ("0x", tf.float32), ("1e", tf.float64), ("0x1p", tf.float32)]:
        with pytest.raises(ValueError, match=r"strings.to_number"):
            tf.strings.to_number(s, dt)
    # out of float32's range: inf, as strtof
    assert tf.strings.to_number("-1e39").numpy() == -np.inf


def test_format_prints_bools_as_digits():
    # TF: strings.format("{}", [True, False]) == b'[1 0]' and a scalar True is b'1'
    assert tf.strings.format("{}", tf.constant([True, False])).numpy() == b"[1 0]"
    assert tf.strings.format("b={}", tf.constant(True)).numpy() == b"b=1"


def test_unicode_decode_control_characters_are_c0_only():
    # TF: replace_control_characters replaces U+0000..U+001F only (DEL and C1 stay), and with
    # errors='ignore' drops them
    text = "\x00\x01\x1f \x7f\x80\x9f\xa0"
    got = tf.strings.unicode_decode([text], "UTF-8", replace_control_characters=True)
    assert got.to_list() == [[0xFFFD if ord(c) < 32 else ord(c) for c in text]]
    got = tf.strings.unicode_decode([text], "UTF-8", replace_control_characters=True,
                                    replacement_char=63)
    assert got.to_list() == [[63 if ord(c) < 32 else ord(c) for c in text]]
    got = tf.strings.unicode_decode([text], "UTF-8", errors="ignore",
                                    replace_control_characters=True)
    assert got.to_list() == [[ord(c) for c in text if ord(c) >= 32]]


def test_unicode_decode_encode_and_ngrams_on_nested_ragged():
    # TF: unicode_decode of a RaggedTensor adds a ragged dimension; unicode_encode of a
    # ragged_rank-2 tensor encodes the innermost rows; ngrams of one works on its innermost rows
    words = [[["ab"], ["é"]], []]
    got = tf.strings.unicode_decode(tf.ragged.constant(words), "UTF-8")
    assert got.to_list() == [[[[ord(c) for c in w] for w in row] for row in blk] for blk in words]
    assert got.ragged_rank == 3
    codes = [[[72], [105, 106]], [], [[65]]]
    got = tf.strings.unicode_encode(tf.ragged.constant(codes), "UTF-8")
    assert got.to_list() == [["".join(map(chr, c)).encode() for c in row] for row in codes]
    toks = [[["a", "b"], ["c"]], [["d", "e", "f"]]]
    got = tf.strings.ngrams(tf.ragged.constant(toks), 2, separator="+")
    ref = [[[(r[k] + "+" + r[k + 1]).encode() for k in range(len(r) - 1)] for r in row]
           for row in toks]
    assert got.to_list() == ref
    assert got.row_splits.dtype == tf.int64


# ============================================================================ tf.sparse


def _sp_dense_ref(idx, vals, shape, summed):
    out = np.zeros(shape, np.asarray(vals).dtype)
    for i, v in zip(idx, vals):
        if summed:
            out[tuple(i)] += v
        else:
            out[tuple(i)] = v
    return out


def test_sparse_to_dense_repeated_index_last_value_wins():
    # TF: to_dense(validate_indices=False) of [[0, 0], [0, 0]] with values [1, 2] is 2 (the last
    # write); reduce_sum and sparse + dense add repeated entries up (3)
    idx, vals = [[0, 0], [1, 1], [0, 0]], [1.0, 2.0, 5.0]
    sp = tf.sparse.SparseTensor(idx, vals, [2, 2])
    np.testing.assert_array_equal(tf.sparse.to_dense(sp, validate_indices=False).numpy(),
                                  _sp_dense_ref(idx, vals, (2, 2), summed=False))
    np.testing.assert_array_equal(tf.sparse.reduce_sum(sp, axis=1).numpy(),
                                  _sp_dense_ref(idx, vals, (2, 2), summed=True).sum(axis=1))
    np.testing.assert_array_equal(tf.sparse.add(sp, tf.zeros([2, 2])).numpy(),
                                  _sp_dense_ref(idx, vals, (2, 2), summed=True))
    b = tf.sparse.SparseTensor([[0], [0], [1]], [True, False, True], [2])
    assert tf.sparse.to_dense(b, validate_indices=False).numpy().tolist() == [False, True]
    s = tf.sparse.SparseTensor([[0], [0]], ["a", "b"], [2])
    assert tf.sparse.to_dense(s, validate_indices=False).numpy().tolist() == [b"b", b""]


def test_sparse_reduce_sum_output_is_sparse_keeps_every_group():
    # TF: SparseReduceSumSparse has one entry per group of input entries, even when the sum
    # is 0 ([[1, -1], [0, 0]] summed over axis 1 -> indices [[0]], values [0.]); summing every
    # axis gives a rank-0 SparseTensor (indices of shape (1, 0), dense_shape [])
    idx = np.array([[1, 2], [0, 0], [1, 0], [0, 1]])
    vals = np.array([1.0, 2.0, -1.0, -2.0], np.float32)
    sp = tf.sparse.SparseTensor(idx, vals, [3, 3])
    for axis, keepdims in [(1, False), (0, False), (0, True), (1, True), ([], False)]:
        got = tf.sparse.reduce_sum(sp, axis=axis, keepdims=keepdims, output_is_sparse=True)
        axes = [axis] if isinstance(axis, int) else axis
        keep = [d for d in range(2) if d not in axes]
        groups = {}
        for i, v in zip(idx.tolist(), vals.tolist()):
            key = tuple(0 if (d in axes) else i[d] for d in range(2)) if keepdims else \
                tuple(i[d] for d in keep)
            groups[key] = groups.get(key, 0.0) + v
        keys = sorted(groups)
        assert got.indices.numpy().tolist() == [list(k) for k in keys], (axis, keepdims)
        np.testing.assert_allclose(got.values.numpy(), [groups[k] for k in keys])
        want_shape = [1 if (d in axes) else 3 for d in range(2)] if keepdims else [3] * len(keep)
        assert got.dense_shape.numpy().tolist() == want_shape
    got = tf.sparse.reduce_sum(sp, output_is_sparse=True)
    assert got.indices.shape == (1, 0) and got.dense_shape.numpy().tolist() == []
    np.testing.assert_allclose(got.values.numpy(), [vals.sum()])
    empty = tf.sparse.SparseTensor(np.zeros((0, 2), np.int64), np.zeros(0, np.float32), [2, 3])
    got = tf.sparse.reduce_sum(empty, output_is_sparse=True)
    assert got.indices.shape == (0, 0) and got.values.shape == (0,)


@pytest.mark.parametrize("adjoint_a", [False, True])
@pytest.mark.parametrize("adjoint_b", [False, True])
def test_sparse_dense_matmul_dense_times_sparse_and_complex_adjoints(adjoint_a, adjoint_b):
    # TF: sparse_dense_matmul(dense, sparse) is allowed (computed as (B^T A^T)^T); adjoints
    # conjugate complex operands (TF's dense-times-sparse path returns the conjugate of the
    # product for complex inputs, a TF bug nabi does not copy)
    rng = np.random.default_rng(3)
    s = np.array([[0, 1 + 2j, 0], [-1j, 0, 3]], np.complex64)
    idx = np.argwhere(s != 0)
    sp = tf.sparse.SparseTensor(idx, s[s != 0], s.shape)

    def op(m, adj):
        return m.conj().T if adj else m
    k = op(s, adjoint_a).shape[1]
    d = (rng.standard_normal((k, 2)) + 1j * rng.standard_normal((k, 2))).astype(np.complex64)
    dd = op(d, adjoint_b)          # so that op(dd, adjoint_b) == d
    got = tf.sparse.sparse_dense_matmul(sp, tf.constant(dd), adjoint_a=adjoint_a,
                                        adjoint_b=adjoint_b)
    np.testing.assert_allclose(got.numpy(), op(s, adjoint_a) @ d, rtol=1e-5, atol=1e-5)
    # dense @ sparse, real and complex
    for mat in (s.real.astype(np.float32), s):
        spm = tf.sparse.SparseTensor(np.argwhere(mat != 0), mat[mat != 0], mat.shape)
        m = op(mat, adjoint_b).shape[0]
        a = rng.standard_normal((3, m)).astype(mat.dtype)
        got = tf.sparse.sparse_dense_matmul(tf.constant(op(a, adjoint_a)), spm,
                                            adjoint_a=adjoint_a, adjoint_b=adjoint_b)
        np.testing.assert_allclose(got.numpy(), a @ op(mat, adjoint_b), rtol=1e-5, atol=1e-5)


def test_dense_times_sparse_gradients():
    # d/dA and d/dvalues of sum((A @ S)^2) against the NumPy formulas
    rng = np.random.default_rng(4)
    a = rng.standard_normal((3, 2)).astype(np.float32)
    idx = np.array([[0, 1], [1, 0], [1, 2]])
    vals = rng.standard_normal(3).astype(np.float32)
    s = np.zeros((2, 3), np.float32)
    s[tuple(idx.T)] = vals
    av, vv = tf.Variable(a), tf.Variable(vals)
    with tf.GradientTape() as tape:
        out = tf.sparse.sparse_dense_matmul(av, tf.sparse.SparseTensor(idx, vv * 1.0, [2, 3]))
        loss = tf.reduce_sum(out * out)
    ga, gv = tape.gradient(loss, [av, vv])
    g_out = 2 * (a @ s)
    np.testing.assert_allclose(ga.numpy(), g_out @ s.T, rtol=1e-5)
    np.testing.assert_allclose(gv.numpy(), (a.T @ g_out)[tuple(idx.T)], rtol=1e-5)


def test_sparse_add_threshold_applies_to_sums_only():
    # TF (SparseAdd): threshold drops a sum whose magnitude is below it only where both
    # operands have the index; an entry of one operand alone is kept (0.25 survives
    # threshold=0.3, the 3 + -3 sum does not)
    a_idx, a_val = [[0, 1], [1, 0], [2, 2]], [1.0, -2.0, 3.0]
    b_idx, b_val = [[0, 1], [1, 1], [2, 2]], [0.5, 0.25, -3.0]
    a = tf.sparse.SparseTensor(a_idx, a_val, [3, 3])
    b = tf.sparse.SparseTensor(b_idx, b_val, [3, 3])
    for th in [0, 0.25, 0.3, 1.0, 2.0]:
        sums = {}
        for i, v in list(zip(map(tuple, a_idx), a_val)) + list(zip(map(tuple, b_idx), b_val)):
            sums.setdefault(i, []).append(v)
        ref = {i: sum(v) for i, v in sums.items() if len(v) == 1 or abs(sum(v)) >= th}
        got = tf.sparse.add(a, b, threshold=th)
        assert got.indices.numpy().tolist() == [list(i) for i in sorted(ref)], th
        np.testing.assert_allclose(got.values.numpy(), [ref[i] for i in sorted(ref)])


def test_sparse_slice_negative_size_and_division_by_zero_raise():
    # TF: sparse.slice with a negative size raises; sp / dense raises when the dense operand is
    # 0 at one of the sparse indices (a 0 elsewhere is fine)
    sp = tf.sparse.SparseTensor([[0, 1], [1, 0]], [1.0, -2.0], [3, 3])
    with pytest.raises(ValueError, match=r"sparse.slice.*non-negative"):
        tf.sparse.slice(sp, [1, 0], [-1, 2])
    with pytest.raises(ValueError, match=r"divide by zero"):
        sp / tf.constant([[0.0, 2.0, 4.0]])
    got = sp / tf.constant([[1.0, 2.0, 0.0]])
    np.testing.assert_allclose(got.values.numpy(), [1.0 / 2.0, -2.0 / 1.0])


# ============================================================================ tf.ragged


def test_ragged_factories_convert_python_values_as_tf():
    # TF: RaggedTensor.from_row_splits([1, 2, 3, 4], [0, 2, 4]) holds int32 values (Python
    # ints), [1.5, ...] float32; a NumPy int64 array keeps int64; row_splits stay int64
    for make in (lambda v: tf.RaggedTensor.from_row_splits(v, [0, 2, 2, 4]),
                 lambda v: tf.RaggedTensor.from_row_lengths(v, [2, 0, 2]),
                 lambda v: tf.RaggedTensor.from_value_rowids(v, [0, 0, 2, 2]),
                 lambda v: tf.RaggedTensor.from_row_starts(v, [0, 2, 2]),
                 lambda v: tf.RaggedTensor.from_row_limits(v, [2, 2, 4]),
                 lambda v: tf.RaggedTensor.from_nested_row_lengths(v, [[2, 1], [1, 2, 1]])):
        assert make([1, 2, 3, 4]).dtype == tf.int32
        assert make([1.5, 2.0, 3.0, 4.0]).dtype == tf.float32
        assert make(np.arange(4, dtype=np.int64)).dtype == tf.int64
        assert make([1, 2, 3, 4]).row_splits.dtype == tf.int64
    assert tf.RaggedTensor.from_tensor([[1, 2, 0], [3, 0, 0]], padding=0).dtype == tf.int32


def test_ragged_constant_of_empty_list_and_scalar_are_dense():
    # TF: ragged.constant([]) is a dense float32 Tensor of shape (0,); ragged.constant(3) a
    # scalar int32 Tensor; [[], []] stays ragged (2, None)
    e = tf.ragged.constant([])
    assert not isinstance(e, tf.RaggedTensor) and e.shape == (0,) and e.dtype == tf.float32
    s = tf.ragged.constant(3)
    assert s.shape == () and s.dtype == tf.int32 and int(s.numpy()) == 3
    r = tf.ragged.constant([[], []])
    assert isinstance(r, tf.RaggedTensor) and r.row_splits.numpy().tolist() == [0, 0, 0]


def test_ragged_from_tensor_ragged_rank_2_with_padding_or_lengths():
    # TF: from_tensor(t, padding=0, ragged_rank=2) strips padding in the innermost ragged
    # dimension only (the outer one keeps its uniform length); lengths=(l1, l2) cuts each
    # ragged dimension in turn
    t = np.array([[[1, 0], [2, 3]], [[0, 0], [4, 0]]], np.int32)
    got = tf.RaggedTensor.from_tensor(t, padding=0, ragged_rank=2)
    ref = [[[v for v in row[:max([0] + [k + 1 for k, v in enumerate(row) if v != 0])]]
            for row in blk] for blk in t.tolist()]
    assert got.to_list() == ref
    assert got.ragged_rank == 2 and got.dtype == tf.int32
    l1, l2 = [1, 2], [1, 2, 0]
    got = tf.RaggedTensor.from_tensor(t, lengths=(l1, l2), ragged_rank=2)
    rows = [sub for blk, n in zip(t.tolist(), l1) for sub in blk[:n]]
    inner = [r[:n] for r, n in zip(rows, l2)]
    ref = [inner[0:1], inner[1:3]]
    assert got.to_list() == ref
    np.testing.assert_array_equal(got.nested_row_splits[0].numpy(), np.cumsum([0] + l1))
    np.testing.assert_array_equal(got.nested_row_splits[1].numpy(), np.cumsum([0] + l2))


def test_ragged_row_lengths_axis0_bounding_shape_out_type_and_ellipsis():
    # TF: row_lengths(axis=0) is nrows(); bounding_shape(out_type=tf.int32) is int32;
    # rt[...] is rt and rt[0, ...] row 0; rt[:, ..., 1:] slices inside every row
    rows = [[1, 2, 3], [], [4, 5], [6]]
    rt = tf.ragged.constant(rows)
    assert int(rt.row_lengths(axis=0).numpy()) == len(rows)
    b = rt.bounding_shape(out_type=tf.int32)
    assert b.dtype == tf.int32 and b.numpy().tolist() == [len(rows), max(map(len, rows))]
    assert rt[...].to_list() == rows
    assert rt[0, ...].numpy().tolist() == rows[0]
    assert rt[:, ..., 1:].to_list() == [r[1:] for r in rows]


def _ragged_map(fn, *nested):
    """fn over the leaves of equally nested lists."""
    if isinstance(nested[0], list):
        return [_ragged_map(fn, *parts) for parts in zip(*nested)]
    return fn(*nested)


def test_ragged_operators_follow_tf_dtype_rules_and_compare_elementwise():
    # TF: int32 ragged + 1.5 raises (no silent float64); int / int is float64; == and != are
    # elementwise (TF 2's RaggedTensor.__eq__); ^ and reflected & | ^ exist; bool() raises
    rows = [[1, 2, 3], [], [4, 5], [6]]
    rt = tf.ragged.constant(rows)
    with pytest.raises(TypeError):
        rt + 1.5
    q = rt / 2
    assert q.dtype == tf.float64 and q.to_list() == _ragged_map(lambda v: v / 2, rows)
    assert (rt + 1).dtype == tf.int32
    assert (rt == tf.ragged.constant(rows)).to_list() == _ragged_map(lambda v: True, rows)
    other = [[1, 0, 3], [], [0, 5], [6]]
    assert (rt != tf.ragged.constant(other)).to_list() == _ragged_map(
        lambda a, b: a != b, rows, other)
    assert (rt == None) is False  # noqa: E711  (TF: comparing with None is False)
    flags = [[True, False], [], [True]]
    b = tf.ragged.constant(flags)
    assert (b ^ True).to_list() == _ragged_map(lambda v: v ^ True, flags)
    assert (True & b).to_list() == _ragged_map(lambda v: True & v, flags)
    assert (False | b).to_list() == flags
    with pytest.raises(TypeError):
        bool(rt)


def test_ragged_broadcasts_dense_operands_over_ragged_dimensions():
    # TF: [4, None] * dense (1,) repeats it over every value; [3, None, None] + (3, 1, 1) adds
    # one value per outer row; (4, 1) one per row
    rows = [[1, 2, 3], [], [4, 5], [6]]
    rt = tf.ragged.constant(rows)
    assert (rt * tf.constant([10])).to_list() == _ragged_map(lambda v: v * 10, rows)
    per_row = [1, 2, 3, 4]
    got = rt + tf.constant([[v] for v in per_row])
    assert got.to_list() == [[v + p for v in r] for r, p in zip(rows, per_row)]
    r3 = [[[1, 2], [3]], [], [[4, 5, 6], [], [7]]]
    got = tf.ragged.constant(r3) + tf.constant([[[1]], [[2]], [[3]]])
    assert got.to_list() == [[[v + k + 1 for v in r] for r in blk] for k, blk in enumerate(r3)]
    with pytest.raises(ValueError, match=r"cannot broadcast"):
        # right-aligned, (3, 1) meets the ragged dimension 1: TF refuses it too
        tf.ragged.constant(r3) + tf.constant([[100], [200], [300]])
    with pytest.raises(ValueError, match=r"cannot broadcast"):
        rt + tf.constant([[1, 2, 3]] * 4)


def test_ragged_where_and_map_flat_values_without_ragged_arguments():
    # TF: tf.where(cond, x, y) takes RaggedTensors of one partition; map_flat_values(op, 1, 2)
    # with no RaggedTensor is just op(1, 2)
    cond, x, y = [[True, False], [], [True]], [[1, 2], [], [3]], [[9, 8], [], [7]]
    got = tf.where(tf.ragged.constant(cond), tf.ragged.constant(x), tf.ragged.constant(y))
    assert got.to_list() == _ragged_map(lambda c, a, b: a if c else b, cond, x, y)
    assert int(tf.ragged.map_flat_values(tf.add, 1, 2).numpy()) == 3


def test_ragged_max_min_of_empty_rows_are_finite_extremes_and_axis0_keepdims_is_dense():
    # TF: reduce_max of an empty ragged row is the dtype's lowest finite value (-3.4e38 for
    # float32, not -inf), reduce_min its highest; reduce_*(rt, axis=0, keepdims=True) of a
    # [N, None] tensor is a dense (1, width) Tensor
    rows = [[1.0, -2.0, 3.0], [], [4.0, 5.5], [-6.0]]
    rt = tf.ragged.constant(rows)
    f32 = np.finfo(np.float32)
    assert tf.reduce_max(rt, axis=1).numpy().tolist() == [max(r) if r else float(f32.min)
                                                           for r in rows]
    assert tf.reduce_min(rt, axis=1).numpy().tolist() == [min(r) if r else float(f32.max)
                                                           for r in rows]
    r64 = tf.ragged.constant([[1.0], []], dtype=tf.float64)
    assert tf.reduce_max(r64, axis=1).numpy()[1] == np.finfo(np.float64).min
    width = max(map(len, rows))
    cols = [[r[j] for r in rows if len(r) > j] for j in range(width)]
    got = tf.reduce_sum(rt, axis=0, keepdims=True)
    assert not isinstance(got, tf.RaggedTensor) and got.shape == (1, width)
    np.testing.assert_allclose(got.numpy(), [[sum(c) for c in cols]])
    got = tf.reduce_max(rt, axis=0, keepdims=True)
    np.testing.assert_allclose(got.numpy(), [[max(c) for c in cols]])


def test_ragged_segment_id_helpers_out_type_and_gather_by_ragged_indices():
    # TF: row_splits_to_segment_ids / segment_ids_to_row_splits return out_type (default: the
    # input tensor's int dtype, int64 for a list); gather / embedding_lookup of dense params by
    # ragged ids keep the ids' row partition
    splits = [0, 2, 2, 5]
    ids = np.repeat(np.arange(3), np.diff(splits))
    got = tf.ragged.row_splits_to_segment_ids(splits, out_type=tf.int32)
    assert got.dtype == tf.int32 and got.numpy().tolist() == ids.tolist()
    got = tf.ragged.row_splits_to_segment_ids(tf.constant(splits, tf.int32))
    assert got.dtype == tf.int32
    assert tf.ragged.row_splits_to_segment_ids(splits).dtype == tf.int64
    got = tf.ragged.segment_ids_to_row_splits(tf.constant(ids.tolist(), tf.int32))
    assert got.dtype == tf.int32 and got.numpy().tolist() == splits
    got = tf.ragged.segment_ids_to_row_splits(ids.tolist(), out_type=tf.int32)
    assert got.dtype == tf.int32
    table = np.arange(6, dtype=np.float32).reshape(3, 2)
    rows = [[0, 1], [], [2, 2]]
    for op in (tf.gather, tf.nn.embedding_lookup):
        got = op(tf.constant(table), tf.ragged.constant(rows))
        assert got.to_list() == [[table[i].tolist() for i in r] for r in rows]
        assert got.row_splits.numpy().tolist() == [0, 2, 2, 4]


def test_ragged_constant_leaf_dtypes_as_tf():
    # TF: ragged.constant([[1.5]], dtype=tf.int32) raises TypeError (nabi truncated to 1);
    # NumPy rows are taken ([np.array([1.5, 2]), ...] is float64, as the NumPy leaves say);
    # complex leaves give complex128; np.float64 first keeps float64, Python floats float32
    with pytest.raises(TypeError):
        tf.ragged.constant([[1.5]], dtype=tf.int32)
    with pytest.raises(TypeError):
        tf.ragged.constant([[1.0, 2.0]], dtype=tf.int64)
    r = tf.ragged.constant([np.array([1.5, 2.0]), np.array([3.0])])
    assert r.dtype == tf.float64 and r.to_list() == [[1.5, 2.0], [3.0]]
    r = tf.ragged.constant([[1 + 2j], []])
    assert r.dtype == tf.complex128 and r.to_list() == [[1 + 2j], []]
    assert tf.ragged.constant([[np.float64(1.0)], [2.0]]).dtype == tf.float64
    assert tf.ragged.constant([[2.0], [1.0]]).dtype == tf.float32
    assert tf.ragged.constant([[1, 2]], dtype=tf.float64).dtype == tf.float64


def test_ragged_constant_and_2d_split_partition_the_outermost_rows():
    # TF: ragged.constant([[[1], [2, 3]], [[], [4]]]) has shape [2, None, None] and
    # row_splits [0, 2, 4] (rows of dimension 1), value_rowids [0, 0, 1, 1]; the same for
    # strings.split of a 2-D tensor; gather / boolean_mask pick outermost rows (nabi's
    # compact layout gave the innermost partition: row_splits [0, 1, 3, 3, 4])
    nested = [[[1], [2, 3]], [[], [4]]]
    rt = tf.ragged.constant(nested)
    assert rt.shape.as_list() == [2, None, None]
    outer = np.cumsum([0] + [len(r) for r in nested]).tolist()
    assert rt.row_splits.numpy().tolist() == outer
    assert rt.value_rowids().numpy().tolist() == [i for i, r in enumerate(nested) for _ in r]
    assert rt.row_lengths().numpy().tolist() == [len(r) for r in nested]
    assert tf.gather(rt, [1]).to_list() == [nested[1]]
    assert tf.ragged.boolean_mask(rt, [False, True]).to_list() == [nested[1]]
    assert tf.stack([rt, rt]).to_list() == [nested, nested]
    texts = [["a b", "c"], ["d e f", ""]]
    sp = tf.strings.split(texts)
    words = [[s.encode().split() for s in row] for row in texts]
    assert sp.to_list() == words
    assert sp.row_splits.numpy().tolist() == [0, 2, 4]
    assert tf.gather(sp, [1]).to_list() == [words[1]]
    assert sp[1:].to_list() == words[1:]


def _ref_combine(items, fn, ident, depth):
    """TF's ragged reduction of `items` (nested `depth` levels deep) over their first axis:
    numbers reduce (an empty set gives the identity), lists align by index (entry k reduces
    the k-th entries of the lists that have one)."""
    if depth == 0:
        return fn(items) if items else ident
    width = max((len(i) for i in items), default=0)
    return [_ref_combine([i[k] for i in items if len(i) > k], fn, ident, depth - 1)
            for k in range(width)]


def _ref_reduce(x, axis, fn, ident, depth):
    if axis == 0:
        return _ref_combine(x, fn, ident, depth - 1)
    return [_ref_reduce(r, axis - 1, fn, ident, depth - 1) for r in x]


def _ref_axes(x, axes, fn, ident, depth):
    for a in sorted(axes, reverse=True):
        x = _ref_reduce(x, a, fn, ident, depth)
        depth -= 1
    return x


def _ref_map2(fn, a, b):
    if isinstance(a, list):
        return [_ref_map2(fn, x, y) for x, y in zip(a, b)]
    return fn(a, b)


def _assert_nested_close(got, want):
    if isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), (got, want)
        for g, w in zip(got, want):
            _assert_nested_close(g, w)
    else:
        np.testing.assert_allclose(got, want, rtol=1e-6)


def _as_list(t):
    return t.to_list() if isinstance(t, tf.RaggedTensor) else t.numpy().tolist()


@pytest.mark.parametrize("axes", [[0], [1], [2], [0, 1], [1, 2], [0, 2], [2, 0], [0, 1, 2]])
def test_ragged_reductions_over_several_axes_and_axis0_of_nested_ragged(axes):
    # TF: a list of axes reduces them one after another, the highest first; axis 0 of a
    # [3, None, None] tensor aligns the rows by index (sum of [[1, 2], [3]] and
    # [[4, 5, 6], [], [7]] over axis 0 is [[5, 7, 6], [3], [7]]); nabi raised for both
    nested = [[[1.0, 2.0], [3.0]], [], [[4.0, 5.0, 6.0], [], [7.0]]]
    rt = tf.ragged.constant(nested)
    lowest = float(np.finfo(np.float32).min)
    for op, fn, ident in [(tf.reduce_sum, sum, 0.0), (tf.reduce_max, max, lowest)]:
        _assert_nested_close(_as_list(op(rt, axis=axes)), _ref_axes(nested, axes, fn, ident, 3))
    # the mean over several axes is the sum over them divided by the count of values
    ones = [[[1.0] * len(r) for r in blk] for blk in nested]
    want = _ref_map2(lambda a, b: a / b if b else np.nan, _ref_axes(nested, axes, sum, 0.0, 3),
                     _ref_axes(ones, axes, sum, 0.0, 3))
    _assert_nested_close(_as_list(tf.reduce_mean(rt, axis=axes)), want)


def test_ragged_keepdims_on_nested_ragged_and_variance_std():
    # TF: reduce_sum(rt, axis=1, keepdims=True) of [3, None, None] is [3, 1, None]; axis=2
    # gives [3, None, 1]; reduce_variance is mean(x^2) - mean(x)^2 clipped at 0 (NaN for an
    # empty row), reduce_std its square root
    nested = [[[1.0, 2.0], [3.0]], [], [[4.0, 5.0, 6.0], [], [7.0]]]
    rt = tf.ragged.constant(nested)
    got = tf.reduce_sum(rt, axis=1, keepdims=True)
    assert got.to_list() == [[v] for v in _ref_reduce(nested, 1, sum, 0.0, 3)]
    got = tf.reduce_sum(rt, axis=2, keepdims=True)
    assert got.to_list() == [[[v] for v in row] for row in _ref_reduce(nested, 2, sum, 0.0, 3)]
    got = tf.reduce_sum(rt, axis=0, keepdims=True)
    assert got.to_list() == [_ref_reduce(nested, 0, sum, 0.0, 3)]
    rows = [[1.0, 2.0, 4.0], [], [3.0]]
    r2 = tf.ragged.constant(rows)

    def var(r):
        if not r:
            return np.nan
        return max(np.mean(np.square(r)) - np.mean(r) ** 2, 0.0)
    np.testing.assert_allclose(tf.math.reduce_variance(r2, axis=1).numpy(),
                               [var(r) for r in rows], rtol=1e-5)
    np.testing.assert_allclose(tf.math.reduce_std(r2, axis=1).numpy(),
                               [np.sqrt(var(r)) for r in rows], rtol=1e-5)
    np.testing.assert_allclose(tf.math.reduce_variance(r2).numpy(), var(sum(rows, [])),
                               rtol=1e-5)


def test_reduce_join_axis0_of_nested_ragged():
    # TF: reduce_join over axis 0 of [[["a", "b"], ["c"]], [], [["d"], [], ["e", "f"]]] aligns
    # the rows by index: [[b'a|d', b'b'], [b'c'], [b'e|f']]
    nested = [[["a", "b"], ["c"]], [], [["d"], [], ["e", "f"]]]
    got = tf.strings.reduce_join(tf.ragged.constant(nested), axis=0, separator="|")
    want = _ref_reduce(nested, 0, lambda xs: "|".join(xs), "", 3)
    assert got.to_list() == [[w.encode() for w in row] for row in want]


# ------------------------------------------------------- tf.sparse functions nabi lacked


def _dense_of(sp):
    out = np.zeros(sp.dense_shape.numpy().tolist(), sp.values.numpy().dtype)
    for i, v in zip(sp.indices.numpy().tolist(), sp.values.numpy().tolist()):
        out[tuple(i)] = v
    return out


def test_sparse_reshape_expand_dims_eye_split():
    # TF: sparse.reshape re-reads each index in row-major order (entries keep their order);
    # expand_dims defaults to the last position; eye(2, 3) has ones at [0, 0], [1, 1]; split
    # gives the first size % n pieces one more row / column
    idx = np.array([[2, 2], [0, 1], [2, 0]])
    vals = np.array([1.0, 2.0, 3.0], np.float32)
    sp = tf.sparse.SparseTensor(idx, vals, [4, 3])
    dense = _dense_of(sp)
    r = tf.sparse.reshape(sp, [2, -1])
    assert r.dense_shape.numpy().tolist() == [2, 6]
    np.testing.assert_array_equal(r.values.numpy(), vals)
    np.testing.assert_array_equal(_dense_of(r), dense.reshape(2, 6))
    for axis, want in [(None, (4, 3, 1)), (0, (1, 4, 3)), (1, (4, 1, 3)), (-1, (4, 3, 1))]:
        e = tf.sparse.expand_dims(sp, axis)
        np.testing.assert_array_equal(_dense_of(e), dense.reshape(want))
    np.testing.assert_array_equal(_dense_of(tf.sparse.eye(2, 3)), np.eye(2, 3, dtype=np.float32))
    pieces = tf.sparse.split(sp_input=sp, num_split=3, axis=0)
    sizes = [2, 1, 1]
    starts = np.cumsum([0] + sizes)
    for p, a, b in zip(pieces, starts[:-1], starts[1:]):
        np.testing.assert_array_equal(_dense_of(p), dense[a:b])


def test_sparse_fill_empty_rows_maximum_minimum_reduce_max():
    # TF: fill_empty_rows groups the entries by row (keeping their order in a row) and adds
    # default_value at [row, 0] for an empty row; maximum / minimum take the union of the
    # indices with a missing entry counting as 0; reduce_max takes the entries present only
    # (a dense result is 0 for a group without entries)
    idx = [[2, 2], [0, 1], [2, 0]]
    sp = tf.sparse.SparseTensor(idx, [1.0, 2.0, 3.0], [4, 3])
    out, empty = tf.sparse.fill_empty_rows(sp, 9.0)
    assert empty.numpy().tolist() == [False, True, False, True]
    assert out.indices.numpy().tolist() == [[0, 1], [1, 0], [2, 2], [2, 0], [3, 0]]
    assert out.values.numpy().tolist() == [2.0, 9.0, 1.0, 3.0, 9.0]
    a = tf.sparse.SparseTensor([[0, 0], [1, 1]], [-1.0, 2.0], [2, 2])
    b = tf.sparse.SparseTensor([[0, 0], [0, 1]], [-3.0, -4.0], [2, 2])
    da, db = _dense_of(a), _dense_of(b)
    for op, fn in [(tf.sparse.maximum, np.maximum), (tf.sparse.minimum, np.minimum)]:
        got = op(a, b)
        assert got.indices.numpy().tolist() == [[0, 0], [0, 1], [1, 1]]
        np.testing.assert_array_equal(_dense_of(got), fn(da, db))
    m = tf.sparse.SparseTensor([[0, 1], [2, 0], [2, 2]], [-1.0, 2.0, -3.0], [4, 3])
    np.testing.assert_array_equal(tf.sparse.reduce_max(m, axis=1).numpy(), [-1.0, 0.0, 2.0, 0.0])
    np.testing.assert_array_equal(tf.sparse.reduce_max(m, axis=0).numpy(), [2.0, -1.0, -3.0])
    assert float(tf.sparse.reduce_max(m).numpy()) == 2.0
    s = tf.sparse.reduce_max(m, axis=1, output_is_sparse=True)
    assert s.indices.numpy().tolist() == [[0], [2]] and s.values.numpy().tolist() == [-1.0, 2.0]


def test_sparse_to_indicator_and_softmax_with_gradient():
    # TF: to_indicator marks [row..., value]; sparse softmax normalises over the entries of
    # each row present (implicit zeros take no part), gradient w.r.t. the values
    ids = tf.sparse.SparseTensor([[0, 0], [0, 1], [1, 0]], [3, 1, 3], [2, 2])
    want = np.zeros((2, 5), bool)
    want[0, [3, 1]] = True
    want[1, 3] = True
    np.testing.assert_array_equal(tf.sparse.to_indicator(ids, 5).numpy(), want)
    idx = [[0, 0], [0, 2], [1, 1]]
    x = np.array([1.0, 2.0, 3.0], np.float32)
    w = np.array([1.0, 3.0, 2.0], np.float32)
    v = tf.Variable(x)
    with tf.GradientTape() as tape:
        s = tf.sparse.softmax(tf.sparse.SparseTensor(idx, v * 1.0, [2, 3]))
        loss = tf.reduce_sum(s.values * tf.constant(w))
    rows = [[0, 1], [2]]
    ref = np.empty(3, np.float32)
    grad = np.empty(3, np.float32)
    for r in rows:
        e = np.exp(x[r] - x[r].max())
        p = e / e.sum()
        ref[r] = p
        grad[r] = p * (w[r] - (p * w[r]).sum())
    np.testing.assert_allclose(s.values.numpy(), ref, rtol=1e-6)
    np.testing.assert_allclose(tape.gradient(loss, v).numpy(), grad, rtol=1e-5, atol=1e-7)


# ---------------------------------------------- tf.ragged / tf.strings functions nabi lacked


def test_ragged_merge_dims_nested_value_rowids_uniform_rows_and_dynamic_partitions():
    # TF: merge_dims(0, 1) of [3, None, None] lists the rows of dimension 1; merge_dims(1, 2)
    # joins each row's sub-rows; merging every dimension gives the flat values
    nested = [[[1, 2], [3]], [], [[4, 5, 6], [], [7]]]
    rt = tf.ragged.constant(nested)
    assert rt.merge_dims(0, 1).to_list() == [r for blk in nested for r in blk]
    assert rt.merge_dims(1, 2).to_list() == [sum(blk, []) for blk in nested]
    flat = [v for blk in nested for r in blk for v in r]
    assert rt.merge_dims(0, 2).numpy().tolist() == flat
    inner = tf.ragged.constant([[[1, 2], [3, 4]], [], [[5, 6]]], ragged_rank=1)
    assert inner.merge_dims(1, 2).to_list() == [[1, 2, 3, 4], [], [5, 6]]
    ids = rt.nested_value_rowids()
    assert ids[0].numpy().tolist() == [i for i, blk in enumerate(nested) for _ in blk]
    rows = [r for blk in nested for r in blk]
    assert ids[1].numpy().tolist() == [i for i, r in enumerate(rows) for _ in r]
    u = tf.RaggedTensor.from_uniform_row_length([1, 2, 3, 4, 5, 6], 2)
    assert u.to_list() == [[1, 2], [3, 4], [5, 6]]
    with pytest.raises(ValueError, match=r"must equal nvals"):
        tf.RaggedTensor.from_uniform_row_length([1, 2, 3], 2)
    data, parts = [10, 20, 30, 40, 50], [1, 0, 1, 3, 0]
    got = tf.ragged.stack_dynamic_partitions(data, parts, 4)
    assert got.to_list() == [[d for d, p in zip(data, parts) if p == k] for k in range(4)]


def test_strings_unsorted_segment_join_and_decode_with_offsets():
    # TF: unsorted_segment_join(['a', 'b', 'c', 'd'], [1, 0, 1, 3], 4, ',') ==
    # [b'b', b'a,c', b'', b'd'] (negative ids raise); unicode_decode_with_offsets gives the
    # byte offset where each character starts, one replacement per invalid sequence
    got = tf.strings.unsorted_segment_join(["a", "b", "c", "d"], [1, 0, 1, 3], 4, separator=",")
    words, ids = ["a", "b", "c", "d"], [1, 0, 1, 3]
    assert _values(got).tolist() == [",".join(w for w, i in zip(words, ids) if i == k).encode()
                                     for k in range(4)]
    got = tf.strings.unsorted_segment_join([["a", "b"], ["c", "d"]], [1, 0], 3, separator="-")
    assert _values(got).tolist() == [[b"c", b"d"], [b"a", b"b"], [b"", b""]]
    with pytest.raises(ValueError, match=r"unsorted_segment_join"):
        tf.strings.unsorted_segment_join(["a", "b"], [0, -1], 2)
    texts = ["hé日", "", "x"]
    codes, offsets = tf.strings.unicode_decode_with_offsets(texts, "UTF-8")
    assert codes.to_list() == [[ord(c) for c in t] for t in texts]
    assert offsets.to_list() == [[len(t[:k].encode()) for k in range(len(t))] for t in texts]
    chars, offsets = tf.strings.unicode_split_with_offsets([b"a\xffb"], "UTF-8")
    assert chars.to_list() == [[b"a", "\ufffd".encode(), b"b"]]
    assert offsets.to_list() == [[0, 1, 2]]
    codes, offsets = tf.strings.unicode_decode_with_offsets([b"a\xffb"], "UTF-8", errors="ignore")
    assert codes.to_list() == [[97, 98]] and offsets.to_list() == [[0, 2]]


def test_ragged_gather_refuses_negative_indices():
    # TF: gather(rt, [-1]) raises "indices[0] = -1 is not in [0, 4)" (as nabi's dense gather);
    # nabi's ragged gather returned the last row
    rt = tf.ragged.constant([[1, 2, 3], [], [4, 5], [6]])
    with pytest.raises(ValueError, match=r"gather.*out of range"):
        tf.gather(rt, [-1])
    assert tf.gather(rt, [3, 0]).to_list() == [[6], [1, 2, 3]]


@pytest.mark.parametrize("name", ["segment_sum", "segment_mean", "segment_sqrt_n"])
def test_sparse_segment_reductions(name):
    # TF: tf.sparse.segment_*(data, indices, segment_ids, num_segments) reduce the rows
    # data[indices] per (sorted) segment; an empty segment is 0
    data = np.array([[1.0, 2, 3, 4], [-1, -2, -3, -4], [5, 6, 7, 8]], np.float32)
    idx, ids, n = [0, 2, 2, 1], [0, 0, 2, 2], 4
    ref = np.zeros((n, 4), np.float32)
    for s in range(n):
        rows = data[[i for i, k in zip(idx, ids) if k == s]]
        if len(rows):
            total = rows.sum(axis=0)
            ref[s] = total if name == "segment_sum" else \
                total / len(rows) if name == "segment_mean" else total / np.sqrt(len(rows))
    got = getattr(tf.sparse, name)(tf.constant(data), idx, ids, num_segments=n)
    np.testing.assert_allclose(got.numpy(), ref, rtol=1e-6)
    got = getattr(tf.sparse, name)(tf.constant(data), idx, ids)      # ids[-1] + 1 segments
    np.testing.assert_allclose(got.numpy(), ref[:3], rtol=1e-6)
    with pytest.raises(ValueError, match=r"sorted"):
        getattr(tf.sparse, name)(tf.constant(data), [0, 1], [1, 0])
