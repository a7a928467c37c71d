"""API gaps closed in session 13, each against an independent NumPy / plain-Python reference:
keras sparsemax (the paper's; Keras 3.15.1's tau is wrong), tf.sparse.bincount,
tf.sparse.cross / cross_hashed, tf.strings.unicode_transcode / unicode_script, tf.signal.fftnd family, Keras 3's adaptive
pooling layers."""
import numpy as np
import pytest

import nabi as tf
from nabi import keras


def _np(t):
    return np.asarray(t.numpy() if hasattr(t, "numpy") else t)


def assert_array(actual, shape, dtype, values=None, rtol=1e-6, atol=1e-7):
    """Shape, then dtype, then values."""
    a = _np(actual)
    assert a.shape == tuple(shape)
    assert a.dtype == np.dtype(dtype)
    if values is not None:
        if a.dtype.kind in "biuSOU":
            np.testing.assert_array_equal(a, values)
        else:
            np.testing.assert_allclose(a, values, rtol=rtol, atol=atol)


def numeric_grad(f, x, c, eps=1e-6):
    """d sum(f(x) * c) / dx by float64 central differences (f: NumPy in, NumPy out)."""
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[i] += eps
        xm[i] -= eps
        g[i] = (np.sum(f(xp) * c) - np.sum(f(xm) * c)).real / (2 * eps)
    return g


def tape_grad(f, x, c):
    v = tf.Variable(x)
    with tf.GradientTape() as t:
        loss = tf.reduce_sum(f(v) * c)
    return _np(t.gradient(loss, v))


# ------------------------------------------------------------------ sparsemax

def sparsemax_ref(x, axis=-1):
    """The Euclidean projection onto the probability simplex, found by bisection on tau:
    sum(max(x - tau, 0)) = 1 (independent of the sort-based formula under test)."""
    x = np.moveaxis(np.asarray(x, np.float64), axis, -1)
    lo = x.max(-1, keepdims=True) - 1.0   # sum >= 1 here
    hi = x.max(-1, keepdims=True)         # sum = 0 here
    for _ in range(200):
        mid = (lo + hi) / 2
        big = np.maximum(x - mid, 0).sum(-1, keepdims=True) > 1
        lo, hi = np.where(big, mid, lo), np.where(big, hi, mid)
    return np.moveaxis(np.maximum(x - (lo + hi) / 2, 0), -1, axis)


def test_sparsemax_examples():
    x = np.array([[0.5, 0.6, 0.1], [1, 2, 3.]], np.float32)
    # Keras 3.15.1 gave [[0, 0, 0], [0, 0, 1]] (its tau summed the support's cumulative sums,
    # keras-team/keras#23425); the projection: row 0 has all three in the support, tau = 0.2/3
    assert_array(keras.ops.sparsemax(x), (2, 3), np.float32,
                 [[0.5 - 0.2 / 3, 0.6 - 0.2 / 3, 0.1 - 0.2 / 3], [0, 0, 1]], rtol=1e-6)
    assert_array(keras.activations.sparsemax(x, axis=0), (2, 3), np.float32,
                 [[0.25, 0, 0], [0.75, 1, 1]])
    assert keras.activations.get("sparsemax") is keras.activations.sparsemax
    assert keras.activations.serialize(keras.activations.sparsemax) == "sparsemax"


@pytest.mark.parametrize("shape,axis", [((4, 5), -1), ((3, 4, 6), 1), ((7,), 0),
                                        ((2, 3, 4), 0), ((1, 1), -1)])
def test_sparsemax_forward_and_gradient(shape, axis):
    rng = np.random.default_rng(len(shape) + axis)
    x = rng.normal(size=shape) * 0.3
    x.flat[0] += 2.0        # one clear winner in some rows, several in others
    c = rng.normal(size=shape)
    assert_array(keras.ops.sparsemax(x.astype(np.float32), axis=axis), shape, np.float32,
                 sparsemax_ref(x, axis), rtol=1e-5, atol=1e-6)
    assert_array(keras.ops.sparsemax(x, axis=axis), shape, np.float64, sparsemax_ref(x, axis),
                 rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(np.sum(keras.ops.sparsemax(x, axis=axis).numpy(), axis), 1.0,
                               rtol=1e-12)
    g = tape_grad(lambda v: keras.ops.sparsemax(v, axis=axis), x, c)
    np.testing.assert_allclose(g, numeric_grad(lambda a: sparsemax_ref(a, axis), x, c),
                               rtol=1e-3, atol=1e-5)


def test_sparsemax_bad_input():
    with pytest.raises(ValueError, match=r"sparsemax.*axis 2"):
        keras.ops.sparsemax(np.ones((2, 3), np.float32), axis=2)
    with pytest.raises(TypeError, match=r"sparsemax.*int"):
        keras.ops.sparsemax(np.array([1, 2, 3]))


# ------------------------------------------------------------------ tf.sparse.bincount

def sparse_triplet(sp):
    return (_np(sp.indices).tolist(), _np(sp.values).tolist(), _np(sp.values).dtype,
            _np(sp.dense_shape).tolist())


def bincount_ref(rows, weights=None, minlength=None, maxlength=None, binary=False):
    """Plain Python: {(row, value): count or weight sum} over a list of rows of ints."""
    allv = [v for r in rows for v in r]
    size = max(max(allv) + 1 if allv else 1, minlength or 0)
    if maxlength is not None:
        size = min(size, maxlength)
    acc = {}
    for i, r in enumerate(rows):
        for j, v in enumerate(r):
            if v < size:
                w = 1 if weights is None else weights[i][j]
                acc[(i, v)] = 1 if binary else acc.get((i, v), 0) + w
    return acc, size


def test_sparse_bincount_dense_rows_and_flat():
    d = np.array([[1, 2, 2, 0], [5, 1, 1, 7]])
    for kw in [{}, {"minlength": 10}, {"maxlength": 3}, {"binary_output": True},
               {"minlength": 5, "maxlength": 3}]:
        acc, size = bincount_ref(d.tolist(), minlength=kw.get("minlength"),
                                 maxlength=kw.get("maxlength"), binary=kw.get("binary_output"))
        ind, vals, dt, shape = sparse_triplet(tf.sparse.bincount(d, axis=-1, **kw))
        assert shape == [2, size] and dt == np.int64
        assert dict(zip(map(tuple, ind), vals)) == acc and ind == sorted(ind)
        flat, size = bincount_ref([d.reshape(-1).tolist()], minlength=kw.get("minlength"),
                                  maxlength=kw.get("maxlength"), binary=kw.get("binary_output"))
        ind, vals, dt, shape = sparse_triplet(tf.sparse.bincount(d, axis=0, **kw))
        assert shape == [size] and {(0, i[0]): v for i, v in zip(ind, vals)} == flat


def test_sparse_bincount_weights_dtypes_and_inputs():
    d = np.array([[1, 2, 2, 0], [5, 1, 1, 7]])
    w = np.arange(8.).reshape(2, 4)
    acc, size = bincount_ref(d.tolist(), weights=w.tolist())
    ind, vals, dt, shape = sparse_triplet(tf.sparse.bincount(d, weights=w, axis=-1))
    assert dt == np.float64 and shape == [2, 8] and dict(zip(map(tuple, ind), vals)) == acc
    # TF's values from its docs / a TF 2.21 run: a Python list is int32, float32 weights
    assert sparse_triplet(tf.sparse.bincount([3, 1, 3])) == ([[1], [3]], [1, 2], np.int32, [4])
    assert sparse_triplet(tf.sparse.bincount([1, 1, 3], weights=[0.5, 0.25, 1.], axis=-1,
                                             minlength=2, maxlength=3)) == \
        ([[1]], [0.75], np.float32, [3])
    sp = tf.sparse.from_dense(tf.constant(d))       # the zero is not an entry
    assert sparse_triplet(tf.sparse.bincount(sp, axis=-1)) == (
        [[0, 1], [0, 2], [1, 1], [1, 5], [1, 7]], [1, 2, 2, 1, 1], np.int64, [2, 8])
    spw = sp.with_values(tf.cast(sp.values, tf.float32) * 0.5)
    assert sparse_triplet(tf.sparse.bincount(sp, weights=spw, axis=-1))[1] == \
        [0.5, 2.0, 1.0, 2.5, 3.5]
    r = tf.ragged.constant([[1, 1, 4], [], [2]])
    assert sparse_triplet(tf.sparse.bincount(r, axis=-1)) == (
        [[0, 1], [0, 4], [2, 2]], [2, 1, 1], np.int32, [3, 5])
    assert sparse_triplet(tf.sparse.bincount(r, axis=-1, binary_output=True, minlength=6)) == (
        [[0, 1], [0, 4], [2, 2]], [1, 1, 1], np.int32, [3, 6])
    assert sparse_triplet(tf.sparse.bincount(
        r, weights=tf.ragged.constant([[1., 2, 3], [], [4]]), axis=-1))[1] == [3.0, 3.0, 4.0]
    assert sparse_triplet(tf.sparse.bincount(np.zeros((2, 0), np.int64), axis=-1)) == \
        ([], [], np.int64, [2, 1])
    assert sparse_triplet(tf.sparse.bincount(np.array([4]), maxlength=0))[3] == [0]


def test_sparse_bincount_bad_input():
    d = np.array([[1, 2], [3, 4]])
    with pytest.raises(ValueError, match=r"sparse.bincount.*axis=1"):
        tf.sparse.bincount(d, axis=1)
    with pytest.raises(ValueError, match=r"sparse.bincount.*mutually exclusive"):
        tf.sparse.bincount(d, weights=np.ones((2, 2)), binary_output=True)
    with pytest.raises(ValueError, match=r"sparse.bincount.*non-negative"):
        tf.sparse.bincount([-1, 2])
    with pytest.raises(TypeError, match=r"sparse.bincount.*int32 or int64.*float64"):
        tf.sparse.bincount(np.array([1., 2.]))
    with pytest.raises(ValueError, match=r"sparse.bincount.*\(3,\).*\(4,\)"):
        tf.sparse.bincount(d, weights=np.ones(3))
    with pytest.raises(ValueError, match=r"sparse.bincount.*\(2, 2, 2\)"):
        tf.sparse.bincount(np.zeros((2, 2, 2), np.int32), axis=-1)
    with pytest.raises(ValueError, match=r"sparse.bincount.*SparseTensor"):
        tf.sparse.bincount(tf.sparse.from_dense(tf.constant(d)), weights=[1., 2.])


# ------------------------------------------------------------------ tf.sparse.cross(_hashed)

_M64 = (1 << 64) - 1


def fingerprint_cat64_ref(fp1, fp2):
    """TF's FingerprintCat64 on Python ints (mod 2**64), from its definition in fingerprint.h."""
    mul = 0xc6a4a7935bd1e995

    def shift_mix(v):
        return v ^ (v >> 47)
    r = fp1 ^ mul
    r ^= (shift_mix((fp2 * mul) & _M64) * mul) & _M64
    r = (r * mul) & _M64
    r = (shift_mix(r) * mul) & _M64
    return shift_mix(r)


def cross_ref(rows_per_input, sep=b"_X_", hashed=False, num_buckets=0, key=0xDECAFCAFFE):
    """Per row, itertools.product of the inputs' features (the last varies fastest)."""
    import itertools

    from nabi.ops.farmhash import fingerprint64
    batch = len(rows_per_input[0])
    out = []
    for b in range(batch):
        row = []
        for tup in itertools.product(*[r[b] for r in rows_per_input]):
            if not hashed:
                row.append(sep.join(v if isinstance(v, bytes) else str(v).encode()
                                    for v in tup))
                continue
            h = key
            for v in tup:
                h = fingerprint_cat64_ref(h, fingerprint64(v) if isinstance(v, bytes)
                                          else v & _M64)
            row.append(h % (num_buckets or (2 ** 63 - 1)))
        out.append(row)
    return out


def sparse_rows(sp):
    """A 2-D SparseTensor back to a list of rows (checks the indices are [row, 0..n))."""
    ind, vals, _, shape = sparse_triplet(sp)
    rows = [[] for _ in range(shape[0])]
    for (r, c), v in zip(ind, vals):
        assert c == len(rows[r])
        rows[r].append(v)
    assert shape[1] == max([len(r) for r in rows] + [0])
    return rows


A = [[b"a1", b"a2"], [b"a3", b"a4"]]
B = [[1, 2, 3], [4, 5, 6]]
S = [[b"x"], [b"y", b"z"]]


def _inputs():
    sp = tf.sparse.SparseTensor([[0, 0], [1, 0], [1, 1]], ["x", "y", "z"], [2, 2])
    return tf.constant(A), tf.constant(np.array(B, np.int64)), sp


def test_sparse_cross_strings_ints_sparse():
    a, b, sp = _inputs()
    assert sparse_rows(tf.sparse.cross([a, b])) == cross_ref([A, B])
    assert sparse_rows(tf.sparse.cross([a, b], separator="|")) == cross_ref([A, B], sep=b"|")
    # the SparseTensors come first in TF's kernel, whatever the list order
    assert sparse_rows(tf.sparse.cross([a, sp, b])) == cross_ref([S, A, B])
    assert sparse_rows(tf.sparse.cross([a])) == A
    # floats are truncated to integers, as TF casts them; a row empty in one input is empty
    assert sparse_rows(tf.sparse.cross([tf.constant([[1.7], [-2.5]]), a])) == \
        [[b"1_X_a1", b"1_X_a2"], [b"-2_X_a3", b"-2_X_a4"]]
    empty = tf.sparse.SparseTensor([[1, 0]], ["u"], [2, 1])
    assert sparse_rows(tf.sparse.cross([empty, a])) == [[], [b"u_X_a3", b"u_X_a4"]]
    out = tf.sparse.cross([])
    assert _np(out.dense_shape).tolist() == [0, 0] and out.dtype == tf.string


def test_sparse_cross_hashed_matches_tf_buckets():
    a, b, sp = _inputs()
    # bucket numbers from TensorFlow 2.21 (tf.sparse.cross_hashed), recorded once
    assert sparse_rows(tf.sparse.cross_hashed([a, b], num_buckets=10)) == \
        [[7, 8, 5, 4, 9, 4], [0, 8, 6, 8, 8, 6]]
    assert sparse_rows(tf.sparse.cross_hashed([a, b], num_buckets=1000, hash_key=123)) == \
        [[104, 374, 506, 902, 563, 856], [693, 405, 86, 400, 672, 223]]
    assert sparse_rows(tf.sparse.cross_hashed([a, sp], num_buckets=100)) == \
        [[34, 31], [55, 1, 84, 59]]
    assert sparse_rows(tf.sparse.cross_hashed([a, b])) == \
        [[5790689724424943427, 8295594600936540728, 5214647442391172988,
          7643849736416648997, 4721723155567398529, 862957805029420037],
         [3018104831230286843, 7461181799739007628, 4509488937711446879,
          4362555842724450221, 5829745372793751728, 1701324718507150699]]
    big = tf.constant(np.array([[2 ** 62], [-2 ** 63]], np.int64))
    assert sparse_rows(tf.sparse.cross_hashed([big, a], num_buckets=2 ** 40)) == \
        [[118016320225, 341304350105], [85432331569, 60704919124]]
    assert sparse_rows(tf.sparse.cross_hashed([tf.constant([[5], [6]]), a], num_buckets=97)) \
        == [[48, 73], [12, 89]]
    # and the plain-Python reference agrees, for other keys and mixes
    for inputs, rows in [([b, sp, a], [S, B, A]), ([sp, a, sp], [S, S, A])]:
        for nb, key in [(0, 0xDECAFCAFFE), (7919, 0), (1 << 50, 987654321)]:
            got = sparse_rows(tf.sparse.cross_hashed(inputs, num_buckets=nb, hash_key=key))
            assert got == cross_ref(rows, hashed=True, num_buckets=nb, key=key)


def test_sparse_cross_bad_input():
    a, b, sp = _inputs()
    with pytest.raises(TypeError, match=r"sparse.cross.*list"):
        tf.sparse.cross(a)
    with pytest.raises(ValueError, match=r"sparse.cross.*matrix.*\(2,\)"):
        tf.sparse.cross([tf.constant(["a", "b"]), a])
    with pytest.raises(ValueError, match=r"sparse.cross.*batch size 3 got 2"):
        tf.sparse.cross([tf.sparse.SparseTensor([[0, 0]], ["x"], [3, 2]), a])
    with pytest.raises(TypeError, match=r"sparse.cross.*RaggedTensor"):
        tf.sparse.cross([tf.ragged.constant([["p"], ["q", "r"]]), a])
    with pytest.raises(ValueError, match=r"sparse.cross_hashed.*num_buckets"):
        tf.sparse.cross_hashed([a, b], num_buckets=-1)


# ------------------------------------------------------------------ unicode_transcode / script

TEXTS = ["héllo", "a\x01b", "\U0001F600x", "", "日本語 한국어", "\ufffe\uffff"]
CODECS = {"UTF-8": "utf-8", "UTF-16-BE": "utf-16-be", "UTF-32-BE": "utf-32-be"}


@pytest.mark.parametrize("src", list(CODECS))
@pytest.mark.parametrize("dst", list(CODECS))
def test_unicode_transcode_valid_text_matches_python_codecs(src, dst):
    data = [t.encode(CODECS[src]) for t in TEXTS]
    assert_array(tf.strings.unicode_transcode(data, src, dst), (len(TEXTS),), object,
                 [t.encode(CODECS[dst]) for t in TEXTS])
    ctl = tf.strings.unicode_transcode(data, src, dst, replace_control_characters=True)
    assert _np(ctl)[1] == "a\ufffdb".encode(CODECS[dst])


def test_unicode_transcode_ill_formed_input():
    tr = tf.strings.unicode_transcode
    bad = [b"a\xffb", b"\xe4\xb8", b"\xc0\x80z", b"\xed\xa0\x80", b"ok\xf4\x90\x80\x80"]
    # one replacement per maximal ill-formed subpart (Unicode's practice, which ICU and TF follow)
    r = "\ufffd"
    want = ["a" + r + "b", r, r * 2 + "z", r * 3, "ok" + r * 4]
    assert _np(tr(bad, "UTF-8", "UTF-8")).tolist() == [w.encode() for w in want]
    assert _np(tr(bad, "UTF-8", "UTF-8", replacement_char=63)).tolist() == \
        [w.replace(r, "?").encode() for w in want]
    assert _np(tr(bad, "UTF-8", "UTF-8", errors="ignore")).tolist() == \
        [w.replace(r, "").encode() for w in want]
    assert _np(tr(bad, "UTF-8", "UTF-16-BE")).tolist() == [w.encode("utf-16-be") for w in want]
    # a surrogate replacement_char: U+FFFD in UTF-8, the raw unit in UTF-16 (as TF)
    assert _np(tr(b"\xff", "UTF-8", "UTF-8", replacement_char=0xD800)) == r.encode()
    assert _np(tr(b"\xff", "UTF-8", "UTF-16-BE", replacement_char=0xD800)) == b"\xd8\x00"
    # UTF-16: lone surrogates and an odd trailing byte; a high surrogate then half a unit is one
    u16 = [b"\xd8\x00\x00a", b"\x00a\x00", b"\xdc\x00\x00b", b"\xd8\x7f\xe4"]
    assert _np(tr(u16, "UTF-16-BE", "UTF-8")).tolist() == \
        [(r + "a").encode(), ("a" + r).encode(), (r + "b").encode(), r.encode()]
    u32 = [b"\x00\x11\x00\x00", b"\x00\x00\xd8\x00", b"\x00\x00\x00a\x00"]
    assert _np(tr(u32, "UTF-32-BE", "UTF-8", errors="ignore")).tolist() == [b"", b"", b"a"]
    assert _np(tr(u32, "UTF-32-BE", "UTF-8")).tolist() == [r.encode(), r.encode(),
                                                           ("a" + r).encode()]
    # C0 controls only (not DEL or C1); dropped with errors='ignore'
    assert _np(tr("\x7f\x9f\x00\x1f\n", "UTF-8", "UTF-8", replace_control_characters=True)) \
        == ("\x7f\x9f" + r * 3).encode()
    assert _np(tr("a\x01b", "UTF-8", "UTF-8", errors="ignore",
                  replace_control_characters=True)) == b"ab"


def test_unicode_transcode_shapes_and_errors():
    tr = tf.strings.unicode_transcode
    scalar = tr("abc", "utf8", "UTF-16-BE")
    assert scalar.shape == () and scalar.dtype == tf.string
    assert scalar.numpy() == b"\x00a\x00b\x00c"
    assert_array(tr([["a", "b"], ["c", "d"]], "UTF-8", "UTF-32-BE"), (2, 2), object,
                 [[b"\x00\x00\x00" + c for c in (b"a", b"b")],
                  [b"\x00\x00\x00" + c for c in (b"c", b"d")]])
    rt = tr(tf.ragged.constant([["a"], ["b", "c"]]), "UTF-8", "UTF-16-BE")
    assert rt.to_list() == [[b"\x00a"], [b"\x00b", b"\x00c"]]
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"unicode_transcode.*invalid"):
        tr(b"a\xff", "UTF-8", "UTF-8", errors="strict")
    with pytest.raises(ValueError, match=r"unicode_transcode.*output_encoding.*utf-8"):
        tr("a", "UTF-8", "utf-8")
    with pytest.raises(ValueError, match=r"unicode_transcode.*input_encoding.*latin1"):
        tr("a", "latin1", "UTF-8")
    with pytest.raises(ValueError, match=r"unicode_transcode.*replacement_char"):
        tr("a", "UTF-8", "UTF-8", replacement_char=0x110000)
    with pytest.raises(TypeError, match=r"unicode_transcode.*int64.*\(2,\)"):
        tr(np.array([1, 2]), "UTF-8", "UTF-8")


# ICU script codes of sample characters (uscript.h's UScriptCode numbers)
SCRIPTS = {"A": 25, "z": 25, "é": 25, " ": 0, "1": 0, "中": 17, "한": 18, "ᄀ": 18, "ж": 8,
           "λ": 14, "ع": 2, "א": 19, "あ": 20, "ア": 22, "ー": 0, "क": 10, "ก": 38, "\u0301": 1,
           "ა": 12, "ম": 4, "த": 35, "ሀ": 11, "Ա": 3, "😀": 0, "\U00020000": 17}


def test_unicode_script_codes():
    chars = list(SCRIPTS)
    cps = [ord(c) for c in chars]
    assert_array(tf.strings.unicode_script(cps), (len(cps),), np.int32,
                 [SCRIPTS[c] for c in chars])
    # unassigned, private use and surrogates: 103 (USCRIPT_UNKNOWN); outside 0..0x10FFFF: -1
    assert_array(tf.strings.unicode_script(tf.constant([[0x378, 0xE000], [0xD800, -5]])),
                 (2, 2), np.int32, [[103, 103], [103, -1]])
    assert_array(tf.strings.unicode_script([0x110000, 0x10FFFF, 0]), (3,), np.int32,
                 [-1, 103, 0])
    assert_array(tf.strings.unicode_script(65), (), np.int32, 25)
    rt = tf.strings.unicode_script(tf.ragged.constant([[65], [66, 0x3042]]))
    assert rt.to_list() == [[25], [25, 20]]
    with pytest.raises(TypeError, match=r"unicode_script.*int32.*float32"):
        tf.strings.unicode_script(tf.constant([1.0]))


# ------------------------------------------------------------------ tf.signal.fftnd family

ND_CASES = [((3, 4, 5), None, None), ((2, 3, 4, 6), [3, 7], [-2, -1]),
            ((2, 5, 6), [4, 4, 3], None), ((4, 6), [6], [1]), ((1, 7, 1), None, [1, 2])]


@pytest.mark.parametrize("shape,n,axes", ND_CASES)
@pytest.mark.parametrize("norm", [None, "ortho", "forward"])
@pytest.mark.parametrize("cdt", [np.complex64, np.complex128])
def test_fftnd_ifftnd_match_numpy(shape, n, axes, norm, cdt):
    rng = np.random.default_rng(len(shape))
    x = (rng.normal(size=shape) + 1j * rng.normal(size=shape)).astype(cdt)
    ax = list(range(len(shape))) if axes is None else axes
    s = n if n is not None else [shape[a] for a in ax]
    tol = 1e-4 if cdt == np.complex64 else 1e-12
    want = np.fft.fftn(x.astype(np.complex128), s=s, axes=ax, norm=norm or "backward")
    got = tf.signal.fftnd(tf.constant(x), fft_length=n, axes=axes, norm=norm)
    assert_array(got, want.shape, cdt, want, rtol=tol, atol=tol * 10)
    want = np.fft.ifftn(x.astype(np.complex128), s=s, axes=ax, norm=norm or "backward")
    got = tf.signal.ifftnd(x, fft_length=n, axes=axes, norm=norm)
    assert_array(got, want.shape, cdt, want, rtol=tol, atol=tol)


@pytest.mark.parametrize("shape,n,axes", ND_CASES)
@pytest.mark.parametrize("norm", [None, "ortho", "forward"])
@pytest.mark.parametrize("rdt,cdt", [(np.float32, np.complex64), (np.float64, np.complex128)])
def test_rfftnd_irfftnd_match_numpy(shape, n, axes, norm, rdt, cdt):
    rng = np.random.default_rng(len(shape) + 1)
    x = rng.normal(size=shape).astype(rdt)
    ax = list(range(len(shape))) if axes is None else axes
    s = n if n is not None else [shape[a] for a in ax]
    tol = 1e-4 if rdt == np.float32 else 1e-12
    spec = np.fft.rfftn(x.astype(np.float64), s=s, axes=ax, norm=norm or "backward")
    got = tf.signal.rfftnd(x, fft_length=n, axes=axes, norm=norm)
    assert_array(got, spec.shape, cdt, spec, rtol=tol, atol=tol * 10)
    # irfftnd of that spectrum: its default fft_length is 2 * (m - 1) on the last axis
    back_n = list(s)
    back = np.fft.irfftn(spec, s=back_n, axes=ax, norm=norm or "backward")
    got = tf.signal.irfftnd(spec.astype(cdt), fft_length=back_n, axes=axes, norm=norm)
    assert_array(got, back.shape, rdt, back, rtol=tol, atol=tol)
    default = [spec.shape[a] for a in ax]
    default[-1] = 2 * (default[-1] - 1)
    if default[-1] == 0:        # a 1-bin last axis: an empty result, as TF's kernel gives
        want = np.zeros([default[ax.index(i)] if i in ax else d
                         for i, d in enumerate(spec.shape)])
    else:
        want = np.fft.irfftn(spec, s=default, axes=ax, norm=norm or "backward")
    assert_array(tf.signal.irfftnd(spec.astype(cdt), axes=axes, norm=norm), want.shape, rdt,
                 want, rtol=tol, atol=tol)


def test_fftnd_zero_lengths_and_errors():
    x = np.ones((2, 3), np.complex64)
    assert_array(tf.signal.fftnd(x, fft_length=[2, 0]), (2, 0), np.complex64)
    assert_array(tf.signal.irfftnd(x, fft_length=[2, 0]), (2, 0), np.float32)
    with pytest.raises(ValueError, match=r"fftnd.*successive.*\[0\].*\(2, 3\)"):
        tf.signal.fftnd(x, fft_length=[2], axes=[0])
    with pytest.raises(ValueError, match=r"fftnd.*fft_length must hold 2"):
        tf.signal.fftnd(x, fft_length=[2, 3, 4], axes=[0, 1])
    with pytest.raises(ValueError, match=r"ifftnd.*out of range"):
        tf.signal.ifftnd(x, axes=[1, 2])
    with pytest.raises(TypeError, match=r"fftnd.*complex64 or complex128.*float32"):
        tf.signal.fftnd(np.ones((2, 3), np.float32))
    with pytest.raises(TypeError, match=r"rfftnd.*float32 or float64.*complex64"):
        tf.signal.rfftnd(x)
    with pytest.raises(ValueError, match=r"rfftnd.*norm"):
        tf.signal.rfftnd(np.ones((2, 3), np.float32), norm="unitary")


def test_fftnd_gradient_is_refused_like_tf():
    """TF 2.21 registers no gradient for FFTND / RFFTND / IRFFTND; nabi's tape says so."""
    v = tf.Variable(np.ones((2, 4), np.float32))
    with tf.GradientTape() as tape:
        y = tf.math.real(tf.signal.rfftnd(v))
    with pytest.raises(NotImplementedError, match=r"no gradient"):
        tape.gradient(y, v)


# ------------------------------------------------------------------ adaptive pooling layers

def adaptive_pool_ref(x, out, reduce):
    """NumPy, channels_last: bin i of an axis of length L covers
    [floor(i L / out), ceil((i + 1) L / out)), pooled over the box of bins."""
    import itertools
    import math
    sp = x.shape[1:-1]
    bins = [[(math.floor(i * L / o), math.ceil((i + 1) * L / o)) for i in range(o)]
            for L, o in zip(sp, out)]
    y = np.zeros((x.shape[0],) + tuple(out) + (x.shape[-1],), np.float64)
    for idx in itertools.product(*[range(o) for o in out]):
        box = tuple(slice(*bins[k][i]) for k, i in enumerate(idx))
        y[(slice(None),) + idx] = reduce(x[(slice(None),) + box].reshape(
            x.shape[0], -1, x.shape[-1]).astype(np.float64), axis=1)
    return y


def adaptive_pool_grad_ref(x, out, c, is_max):
    """d sum(pool(x) * c) / dx: c / bin size to every element of an average bin, c to the
    maximum of a max bin (the input is random, so maxima are unique)."""
    import itertools
    import math
    sp = x.shape[1:-1]
    bins = [[(math.floor(i * L / o), math.ceil((i + 1) * L / o)) for i in range(o)]
            for L, o in zip(sp, out)]
    g = np.zeros(x.shape, np.float64)
    for b in range(x.shape[0]):
        for ch in range(x.shape[-1]):
            for idx in itertools.product(*[range(o) for o in out]):
                box = tuple(slice(*bins[k][i]) for k, i in enumerate(idx))
                w = c[(b,) + idx + (ch,)]
                region = x[(b,) + box + (ch,)]
                sub = g[(b,) + box + (ch,)]
                if is_max:
                    sub[np.unravel_index(np.argmax(region), region.shape)] += w
                else:
                    sub += w / region.size
    return g


ADAPTIVE_CASES = [((7,), (3,)), ((5,), (3,)), ((2,), (5,)), ((7, 5), (3, 2)),
                  ((10, 9), (4, 4)), ((3, 4), (5, 6)), ((5, 4, 7), (2, 3, 3)),
                  ((3, 3, 3), (3, 3, 3))]


def test_adaptive_pool_windows_match_keras_bins():
    from nabi.keras.ops.nn import _adaptive_pool_windows
    assert _adaptive_pool_windows(7, 3) == [(0, 3), (2, 5), (4, 7)]
    assert _adaptive_pool_windows(10, 4) == [(0, 3), (2, 5), (5, 8), (7, 10)]
    assert _adaptive_pool_windows(2, 5) == [(0, 1), (0, 1), (0, 2), (1, 2), (1, 2)]
    # keras.ops.adaptive_average_pool(arange(10), 4) in Keras 3.15
    assert_array(keras.ops.adaptive_average_pool(np.arange(10., dtype=np.float32).reshape(
        1, 10, 1), 4), (1, 4, 1), np.float32, np.array([1., 3., 6., 8.]).reshape(1, 4, 1))


@pytest.mark.parametrize("spatial,out", ADAPTIVE_CASES)
@pytest.mark.parametrize("kind", ["Average", "Max"])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_adaptive_pooling_layers(spatial, out, kind, data_format):
    rank = len(spatial)
    rng = np.random.default_rng(rank * 10 + sum(out))
    x = rng.normal(size=(2,) + spatial + (3,)).astype(np.float32)
    c = rng.normal(size=(2,) + out + (3,)).astype(np.float32)
    is_max = kind == "Max"
    want = adaptive_pool_ref(x, out, np.max if is_max else np.mean)
    gwant = adaptive_pool_grad_ref(x, out, c, is_max)
    cls = getattr(keras.layers, f"Adaptive{kind}Pooling{rank}D")
    layer = cls(out if rank > 1 else out[0], data_format=data_format)
    perm = [0, rank + 1] + list(range(1, rank + 1))       # channels_last -> channels_first
    inv = [0] + list(range(2, rank + 2)) + [1]
    if data_format == "channels_first":
        xin, cin = x.transpose(perm), c.transpose(perm)
        want, gwant = want.transpose(perm), gwant.transpose(perm)
    else:
        xin, cin = x, c
    y = layer(xin)
    assert_array(y, want.shape, np.float32, want, rtol=1e-5, atol=1e-6)
    assert tuple(layer.compute_output_shape(xin.shape)) == want.shape
    g = tape_grad(layer, xin, cin)
    np.testing.assert_allclose(g, gwant, rtol=1e-5, atol=1e-6)
    # the config round trip keeps output_size and data_format, and the outputs
    again = cls.from_config(layer.get_config())
    assert again.output_size == tuple(out) and again.data_format == data_format
    np.testing.assert_array_equal(_np(again(xin)), _np(y))
    if data_format == "channels_first":
        assert _np(y).transpose(inv).shape == (2,) + out + (3,)


def test_adaptive_pooling_in_a_model_and_errors():
    inp = keras.Input((7, 5, 3))
    model = keras.Model(inp, keras.layers.AdaptiveAveragePooling2D(2)(inp))
    assert tuple(model.output_shape) == (None, 2, 2, 3)
    x = np.random.default_rng(0).normal(size=(2, 7, 5, 3)).astype(np.float32)
    assert_array(model(x), (2, 2, 2, 3), np.float32, adaptive_pool_ref(x, (2, 2), np.mean),
                 rtol=1e-5, atol=1e-6)
    with pytest.raises(TypeError, match=r"AdaptiveAveragePooling2D.*output_size"):
        keras.layers.AdaptiveAveragePooling2D((2, 2, 2))
    with pytest.raises(ValueError, match=r"AdaptiveMaxPooling1D.*length 1"):
        keras.layers.AdaptiveMaxPooling1D((2, 2))
    with pytest.raises(ValueError, match=r"data_format"):
        keras.layers.AdaptiveMaxPooling3D(2, data_format="NHWC")
    with pytest.raises(ValueError, match=r"rank 3.*\(2, 3, 4, 5\)"):
        keras.layers.AdaptiveMaxPooling1D(2)(np.ones((2, 3, 4, 5), np.float32))
    with pytest.raises(ValueError, match=r"adaptive_average_pool.*\(0, 0\).*\(4, 4\)"):
        keras.layers.AdaptiveAveragePooling2D(0)(np.ones((1, 4, 4, 1), np.float32))
