"""Keras preprocessing layers and metrics on GPU inputs, computed on the device (the layers
and metrics of tools/gpu_host_ops.py's inventory, bench/results/gpu_host_ops.md, that used to
copy GPU tensors to the host):

  Discretization     searchsorted kernel (csrc/cuda/searchsorted.cu) + encoding
  CategoryEncoding   bincount kernel (csrc/cuda/bincount.cu); the range check reads 3 numbers
                     (none when the range is known on the host)
  Hashing            hash_ints kernel (csrc/cuda/preprocess_lookup.cu)
  HashedCrossing     cross_hash kernel (csrc/cuda/preprocess_lookup.cu)
  IntegerLookup      vocab_lookup kernel (csrc/cuda/preprocess_lookup.cu)
  IoU metrics, *AtRecall / *AtPrecision / *AtSensitivity / *AtSpecificity
                     bincount kernel (no index-flag read)

Everything is compared with independent NumPy references written here (loops over the values;
the hash reference is python/nabi/ops/farmhash.py, checked against published FarmHash /
SipHash values in tests/test_ragged_sparse.py), on the CPU, the emulated GPU and the real GPU or
the CUDA host simulator (NABI_TEST_PACKAGE_DIR=build/sim/pkg), and GPU == CPU exactly for the
integer outputs. Kernel tests take conftest's `backend` fixture, layer tests its `where`
fixture, the copy counts its `d2h` fixture. Shapes are tiny: the simulator runs one fiber per
CUDA thread.
"""
import numpy as np
import pytest

import nabi
from nabi import keras
from nabi.ops.farmhash import fingerprint64, siphash24

L = keras.layers
M64 = (1 << 64) - 1


def _buf(be, a):
    return be.DeviceBuffer.from_numpy(np.array(a, order="C"))


def _np(be, b):
    return b.numpy() if hasattr(b, "numpy") else be.to_numpy(b)


def _on_gpu(t):
    return type(t._data).__name__ == "DeviceArray"


# ---------------------------------------------------------------- references
def ref_hash(x, bins, key=None, mask=None, offset=0):
    out = []
    for v in np.asarray(x).reshape(-1).tolist():
        if mask is not None and v == mask:
            out.append(0)
            continue
        s = str(int(v)).encode()
        h = fingerprint64(s) if key is None else siphash24(s, key[0], key[1])
        out.append(h % bins + offset)
    return np.array(out, np.int64).reshape(np.shape(x))


def ref_cross(features, bins):
    """tf.sparse.cross_hashed of integer features: FingerprintCat64 from 0xDECAFCAFFE."""
    mul = 0xc6a4a7935bd1e995

    def sm(v):
        return v ^ (v >> 47)
    out = []
    for vals in zip(*[np.asarray(f).reshape(-1).tolist() for f in features]):
        h = 0xDECAFCAFFE
        for v in vals:
            r = h ^ mul
            r ^= (sm(((v & M64) * mul) & M64) * mul) & M64
            r = sm((r * mul) & M64)
            h = sm((r * mul) & M64)
        out.append(h % bins)
    return np.array(out, np.int64).reshape(np.shape(features[0]))


def ref_encode(idx, mode, depth, dtype=np.float32, weights=None):
    """Keras's encode_categorical_inputs, by loops (values outside [0, depth) dropped)."""
    x = np.asarray(idx)
    if mode == "int":
        return x.astype(dtype)
    if x.ndim == 0:
        x = x[None]
    if mode == "one_hot":
        if x.ndim > 1 and x.shape[-1] == 1:
            x = x[..., 0]
        out = np.zeros(x.shape + (depth,), dtype)
        for pos in np.ndindex(x.shape):
            if 0 <= x[pos] < depth:
                out[pos + (x[pos],)] = 1
        return out
    x2 = x if x.ndim == 2 else x[None]
    w2 = None if weights is None else np.asarray(weights, dtype).reshape(x2.shape)
    out = np.zeros((x2.shape[0], depth), dtype)
    for r in range(x2.shape[0]):
        for j, v in enumerate(x2[r]):
            if 0 <= v < depth:
                if mode == "multi_hot":
                    out[r, v] = 1
                else:
                    out[r, v] += 1 if w2 is None else w2[r, j]
    return out if x.ndim == 2 else out[0]


def ref_digitize(x, bounds):
    """Bin of each value: how many boundaries are <= it (NaN: past all of them)."""
    x = np.asarray(x, np.float64)
    return np.array([len(bounds) if np.isnan(v) else sum(b <= v for b in bounds)
                     for v in x.reshape(-1)], np.int64).reshape(x.shape)


def ref_lookup(x, vocab, num_oov=1, mask=None, mode_int=True):
    """IntegerLookup indices: [mask] + OOV x num_oov + vocab; OOV by floormod."""
    start = 1 if (mask is not None and mode_int) else 0
    table = {v: i + start + num_oov for i, v in enumerate(vocab)}
    out = []
    for v in np.asarray(x).reshape(-1).tolist():
        if mask is not None and v == mask:
            out.append(0 if mode_int else -1)
        elif v in table:
            out.append(table[v])
        else:
            out.append(start + (v % num_oov if num_oov > 1 else 0))
    return np.array(out, np.int64).reshape(np.shape(x))


# ---------------------------------------------------------------- kernels
INTS = np.array([0, 1, -1, 9, 10, -10, 99999, 123456789, 10 ** 15, -10 ** 16,
                 2 ** 63 - 1, -2 ** 63], np.int64)   # decimal strings of 1 to 20 bytes


@pytest.mark.parametrize("xd", [np.int32, np.int64])
def test_hash_ints_kernel(backend, xd):
    x = INTS if xd == np.int64 else \
        np.append(INTS[np.abs(INTS) < 2 ** 31], -2 ** 31).astype(np.int32)
    r = _np(backend, backend.hash_ints(_buf(backend, x), 1000))
    assert r.dtype == np.int64
    np.testing.assert_array_equal(r, ref_hash(x, 1000))
    key = (5, M64 - 2)
    r = _np(backend, backend.hash_ints(_buf(backend, x.reshape(2, -1)), 7, key, 9, 1))
    np.testing.assert_array_equal(r, ref_hash(x.reshape(2, -1), 7, key, 9, 1))
    assert _np(backend, backend.hash_ints(_buf(backend, np.zeros((0, 3), xd)), 3)).shape == (0, 3)


def test_cross_hash_kernel(backend, rng):
    xs = rng.integers(-2 ** 63, 2 ** 63 - 1, (3, 20), dtype=np.int64)
    r = _np(backend, backend.cross_hash(_buf(backend, xs), 97))
    np.testing.assert_array_equal(r, ref_cross(list(xs), 97))
    assert _np(backend, backend.cross_hash(_buf(backend, np.zeros((2, 0), np.int64)), 3)).shape \
        == (0,)


@pytest.mark.parametrize("xd", [np.int32, np.int64])
def test_vocab_lookup_kernel(backend, xd, rng):
    keys = np.array([-7, -2, 0, 3, 8, 11, 40], np.int64)
    idx = rng.permutation(7).astype(np.int64) + 2
    x = rng.integers(-9, 45, (3, 11)).astype(xd)
    r = _np(backend, backend.vocab_lookup(_buf(backend, keys), _buf(backend, idx),
                                          _buf(backend, x)))
    table = dict(zip(keys.tolist(), idx.tolist()))
    np.testing.assert_array_equal(r, [[table.get(v, -1) for v in row] for row in x.tolist()])
    one = _np(backend, backend.vocab_lookup(_buf(backend, keys[:1]), _buf(backend, idx[:1]),
                                            _buf(backend, np.array([-7, 5], xd))))
    assert one.tolist() == [idx[0], -1]


def test_preprocess_kernels_reject_bad_arguments(backend):
    i64 = _buf(backend, np.array([1, 2], np.int64))
    f32 = _buf(backend, np.array([1.0, 2.0], np.float32))
    with pytest.raises(TypeError, match=r"\[hash_ints\] x must be int32 or int64"):
        backend.hash_ints(f32, 3)
    with pytest.raises(ValueError, match=r"\[hash_ints\] bins must be >= 1"):
        backend.hash_ints(i64, 0)
    with pytest.raises(ValueError, match=r"\[hash_ints\] offset must be 0 or 1"):
        backend.hash_ints(i64, 3, None, None, 2)
    with pytest.raises(TypeError, match=r"\[cross_hash\] xs must be int64"):
        backend.cross_hash(_buf(backend, np.zeros((2, 2), np.int32)), 3)
    with pytest.raises(ValueError, match=r"\[cross_hash\] xs must be \(features, n\)"):
        backend.cross_hash(i64, 3)
    with pytest.raises(ValueError, match=r"\[cross_hash\] bins must be >= 1"):
        backend.cross_hash(_buf(backend, np.zeros((2, 2), np.int64)), 0)
    with pytest.raises(TypeError, match=r"\[vocab_lookup\] keys must be int64"):
        backend.vocab_lookup(f32, i64, i64)
    with pytest.raises(TypeError, match=r"\[vocab_lookup\] x must be int32 or int64"):
        backend.vocab_lookup(i64, i64, f32)
    with pytest.raises(ValueError, match=r"\[vocab_lookup\] keys and idx shapes differ"):
        backend.vocab_lookup(i64, _buf(backend, np.array([1], np.int64)), i64)
    with pytest.raises(ValueError, match=r"\[vocab_lookup\] keys must be 1-D"):
        k2 = _buf(backend, np.zeros((1, 2), np.int64))
        backend.vocab_lookup(k2, k2, i64)


# ---------------------------------------------------------------- layers on every device
X = np.array([[0, 3, 3, -2], [7, 1, 12, 5]], np.int64)


def _check(r, ref, where, exact=True):
    if where != "/CPU:0":
        assert _on_gpu(r)
    assert r.numpy().dtype == np.asarray(ref).dtype
    if exact:
        np.testing.assert_array_equal(r.numpy(), ref)
    else:
        np.testing.assert_allclose(r.numpy(), ref, rtol=1e-6)


@pytest.mark.parametrize("mode", ["int", "one_hot", "multi_hot", "count"])
def test_discretization(where, mode):
    bounds = [-1.0, 0.5, 3.0, 6.5]
    x = np.array([[-3.0, -1.0, 0.5, 0.7], [3.0, 6.49, 100.0, np.nan]], np.float32)
    xin = x[:, :1] if mode == "one_hot" else x
    with nabi.device(where):
        layer = L.Discretization(bin_boundaries=bounds, output_mode=mode)
        r = layer(nabi.constant(xin))
        ref = ref_digitize(xin, bounds)
        _check(r, ref_encode(ref, mode, 5, np.int32 if mode == "int" else np.float32), where)
        ri = layer(nabi.constant(X[:, :1] if mode == "one_hot" else X))   # integer inputs
        ref = ref_digitize(X[:, :1] if mode == "one_hot" else X, bounds)
        _check(ri, ref_encode(ref, mode, 5, np.int32 if mode == "int" else np.float32), where)


@pytest.mark.parametrize("mode", ["one_hot", "multi_hot", "count"])
@pytest.mark.parametrize("xd", [np.int32, np.int64, np.float32])
def test_category_encoding(where, mode, xd):
    x = np.array([[0, 3, 3], [4, 1, 0]], xd)
    with nabi.device(where):
        layer = L.CategoryEncoding(6, output_mode=mode)
        _check(layer(nabi.constant(x)), ref_encode(x.astype(np.int64), mode, 6), where)
        _check(layer(nabi.constant(x[0])), ref_encode(x[0].astype(np.int64), mode, 6), where)
        if mode == "count":
            w = np.array([[0.5, 1.0, 2.0], [3.0, -1.0, 4.0]], np.float32)
            r = layer(nabi.constant(x), count_weights=nabi.constant(w))
            _check(r, ref_encode(x.astype(np.int64), mode, 6, weights=w), where)
            r64 = L.CategoryEncoding(6, output_mode=mode, dtype="float64")(nabi.constant(x))
            _check(r64, ref_encode(x.astype(np.int64), mode, 6, np.float64), where)


def test_category_encoding_errors(where):
    with nabi.device(where):
        layer = L.CategoryEncoding(3, name="ce")
        with pytest.raises(ValueError, match=r"\[ce\] Input values must be in the range .* "
                                             r"received values in \[0, 3\] \(input shape "
                                             r"\(2, 2\)\)"):
            layer(nabi.constant(np.array([[0, 1], [3, 2]], np.int32)))
        with pytest.raises(ValueError, match=r"received values in \[-1, 1\]"):
            layer(nabi.constant(np.array([-1, 1], np.int64)))
        with pytest.raises(ValueError, match=r"\[ce\] CategoryEncoding expects integer inputs"):
            layer(nabi.constant(np.array([0.5, 1.0], np.float32)))
        with pytest.raises(ValueError, match=r"\[ce\] CategoryEncoding expects integer inputs"):
            layer(nabi.constant(np.array([np.nan, 1.0], np.float32)))
        with pytest.raises(ValueError, match=r"maximum supported output rank is 2"):
            layer(nabi.constant(np.zeros((2, 2, 2), np.int32)))
        with pytest.raises(ValueError, match=r"`count_weights` of shape \(3,\) does not match"):
            L.CategoryEncoding(3, output_mode="count", name="ce2")(
                nabi.constant(np.array([[0, 1], [2, 2]], np.int32)),
                count_weights=nabi.constant(np.ones(3, np.float32)))


@pytest.mark.parametrize("kw,ref_kw", [
    ({}, {}),
    ({"salt": 3}, {"key": (3, 3)}),
    ({"salt": [11, 2 ** 63 + 5]}, {"key": (11, 2 ** 63 + 5)}),
    ({"mask_value": 0}, {"mask": 0, "offset": 1, "bins": -1}),
    ({"mask_value": "3"}, {"mask": 3, "offset": 1, "bins": -1}),
    ({"mask_value": "abc"}, {"offset": 1, "bins": -1}),
])
def test_hashing_integers(where, kw, ref_kw):
    ref_kw = dict(ref_kw)
    bins = 9 + ref_kw.pop("bins", 0)
    x = np.array([[0, 3, -5, 123456], [2 ** 40, 3, 0, -1]], np.int64)
    with nabi.device(where):
        layer = L.Hashing(9, **kw)
        ref = ref_hash(x, bins, **ref_kw)
        _check(layer(nabi.constant(x)), ref, where)
        x32 = np.array([[0, 3, -5, 2 ** 31 - 1], [-2 ** 31, 3, 0, -1]], np.int32)
        _check(layer(nabi.constant(x32)), ref_hash(x32, bins, **ref_kw), where)
        _check(L.Hashing(9, output_mode="multi_hot", **kw)(nabi.constant(x)),
               ref_encode(ref, "multi_hot", 9), where)
        _check(L.Hashing(9, output_mode="one_hot", **kw)(nabi.constant(x[:, :1])),
               ref_encode(ref[:, :1], "one_hot", 9), where)


def test_hashing_bits_match_keras_examples(where):
    """Values of Keras's Hashing docstring: integers hash as their decimal strings, so the
    same bins as the strings."""
    with nabi.device(where):
        s = L.Hashing(3)(np.array([["1"], ["2"], ["3"], ["-4"]]))
        i = L.Hashing(3)(nabi.constant(np.array([[1], [2], [3], [-4]], np.int64)))
    np.testing.assert_array_equal(i.numpy(), s.numpy())
    if where != "/CPU:0":
        assert _on_gpu(i)


def test_hashing_rejects_floats(where):
    with nabi.device(where):
        with pytest.raises(ValueError, match=r"\[hh\] Hashing expects string or integer inputs, "
                                             r"got dtype float32 \(input shape \(2,\)\)"):
            L.Hashing(3, name="hh")(nabi.constant(np.array([1.0, 2.0], np.float32)))


@pytest.mark.parametrize("mode", ["int", "one_hot"])
def test_hashed_crossing_integers(where, mode):
    a = np.array([1, 2, -3, 2 ** 40], np.int64)
    b = np.array([7, -8, 0, 5], np.int64)
    c = np.array([[3], [4], [5], [6]], np.int32)
    with nabi.device(where):
        layer = L.HashedCrossing(13, output_mode=mode)
        r = layer((nabi.constant(a), nabi.constant(b)))
        _check(r, ref_encode(ref_cross([a, b], 13), mode, 13,
                             np.int64 if mode == "int" else np.float32), where)
        r3 = layer((nabi.constant(a.reshape(4, 1)), nabi.constant(b.reshape(4, 1)),
                    nabi.constant(c)))
        _check(r3, ref_encode(ref_cross([a.reshape(4, 1), b.reshape(4, 1), c], 13), mode, 13,
                              np.int64 if mode == "int" else np.float32), where)
        with pytest.raises(ValueError, match=r"should have an integer or string dtype"):
            layer((nabi.constant(a), nabi.constant(b.astype(np.float32))))
        with pytest.raises(ValueError, match=r"should have equal shape"):
            layer((nabi.constant(a), nabi.constant(b[:2])))


VOCAB = [12, 5, -3, 40, 7]


@pytest.mark.parametrize("kw", [
    {}, {"num_oov_indices": 3}, {"mask_token": 0}, {"mask_token": 0, "num_oov_indices": 2},
    {"vocabulary_dtype": "int32"}])
def test_integer_lookup_int(where, kw):
    x = np.array([[12, 0, 7, 8], [-3, 40, 41, -9]], np.int64)
    with nabi.device(where):
        layer = L.IntegerLookup(vocabulary=VOCAB, **kw)
        ref = ref_lookup(x, VOCAB, kw.get("num_oov_indices", 1), kw.get("mask_token"))
        _check(layer(nabi.constant(x)), ref, where)
        _check(layer(nabi.constant(x.astype(np.int32))), ref, where)
        _check(layer(nabi.constant(x.astype(np.float32))), ref, where)


@pytest.mark.parametrize("mode", ["one_hot", "multi_hot", "count", "tf_idf"])
def test_integer_lookup_encodings(where, mode):
    x = np.array([[12, 0, 7, 7], [-3, 40, 41, 9]], np.int64)
    idf = [0.5, 1.0, 1.5, 2.0, 2.5]
    with nabi.device(where):
        kw = {"idf_weights": idf} if mode == "tf_idf" else {}
        layer = L.IntegerLookup(vocabulary=VOCAB, output_mode=mode, mask_token=0, **kw)
        xin = x[:, :1] if mode == "one_hot" else x
        idx = ref_lookup(xin, VOCAB, 1, 0, mode_int=False)
        if mode == "tf_idf":
            w = np.array([np.mean(idf)] + idf, np.float32)
            ref = ref_encode(idx, "count", 6) * w
            _check(layer(nabi.constant(xin)), ref.astype(np.float32), where, exact=False)
        else:
            _check(layer(nabi.constant(xin)), ref_encode(idx, mode, 6), where)


def test_integer_lookup_invert_and_adapt(where):
    x = np.array([[1, 0, 5, 6, -1], [3, 2, 4, 100, 0]], np.int64)
    with nabi.device(where):
        inv = L.IntegerLookup(vocabulary=VOCAB, invert=True)
        table = [-1] + VOCAB
        ref = np.array([[table[v] if 0 <= v < 6 else -1 for v in row] for row in x], np.int64)
        _check(inv(nabi.constant(x)), ref, where)
        invm = L.IntegerLookup(vocabulary=VOCAB, invert=True, mask_token=0)
        table = [0, -1] + VOCAB
        ref = np.array([[table[v] if 0 <= v < 7 else -1 for v in row] for row in x], np.int64)
        _check(invm(nabi.constant(x)), ref, where)
        adapted = L.IntegerLookup()
        adapted.adapt(np.array([4, 4, 4, 9, 9, 1], np.int64))   # vocabulary 4, 9, 1
        _check(adapted(nabi.constant(np.array([1, 9, 4, 2], np.int64))),
               np.array([3, 2, 1, 0], np.int64), where)
        adapted.set_vocabulary([2, 1])                          # a new table on the device
        _check(adapted(nabi.constant(np.array([1, 9, 4, 2], np.int64))),
               np.array([2, 0, 0, 1], np.int64), where)


def test_integer_lookup_oov_error(where):
    with nabi.device(where):
        layer = L.IntegerLookup(vocabulary=VOCAB, num_oov_indices=0, name="il")
        _check(layer(nabi.constant(np.array([12, 7], np.int64))), np.array([0, 4], np.int64),
               where)
        with pytest.raises(ValueError, match=r"\[il\] When `num_oov_indices=0` all inputs should "
                                             r"be in vocabulary, found OOV values \[8, 9\]"):
            layer(nabi.constant(np.array([[12, 9], [8, 9]], np.int64)))


# ---------------------------------------------------------------- metrics on every device
def ref_cm(t, p, C, w=None):
    cm = np.zeros((C, C))
    w = np.ones(len(t)) if w is None else w
    for a, b, c in zip(t, p, w):
        cm[a, b] += c
    return cm


def ref_iou(cm, ids):
    vals = []
    for i in ids:
        den = cm[:, i].sum() + cm[i, :].sum() - cm[i, i]
        if den:
            vals.append(cm[i, i] / den)
    return np.mean(vals) if vals else 0.0


def test_iou_metrics(where):
    t = np.array([0, 1, 2, 2, 1, 0, 3])
    p = np.array([0, 2, 2, 1, 1, 0, 3])
    w = np.array([1.0, 0.5, 2.0, 1.0, 1.0, 0.0, 3.0])
    cm = ref_cm(t, p, 4, w)
    with nabi.device(where):
        m = keras.metrics.MeanIoU(4)
        m.update_state(nabi.constant(t), nabi.constant(p), sample_weight=nabi.constant(w))
        assert _on_gpu(m.total_cm) == (where != "/CPU:0")
        np.testing.assert_allclose(m.total_cm.numpy(), cm)
        np.testing.assert_allclose(m.result().numpy(), ref_iou(cm, range(4)), rtol=1e-6)
        m = keras.metrics.IoU(4, [1, 2])
        m.update_state(nabi.constant(t), nabi.constant(p))
        np.testing.assert_allclose(m.result().numpy(), ref_iou(ref_cm(t, p, 4), [1, 2]),
                                   rtol=1e-6)
        yp = np.array([0.1, 0.7, 0.5, 0.2], np.float32)
        yt = np.array([0, 1, 0, 1], np.float32)
        m = keras.metrics.BinaryIoU()
        m.update_state(nabi.constant(yt), nabi.constant(yp))
        cmb = ref_cm(yt.astype(int), (yp >= 0.5).astype(int), 2)
        np.testing.assert_allclose(m.result().numpy(), ref_iou(cmb, [0, 1]), rtol=1e-6)
        oh_t, oh_p = np.eye(4, dtype=np.float32)[t], np.eye(4, dtype=np.float32)[p] * 0.9
        m = keras.metrics.OneHotMeanIoU(4)
        m.update_state(nabi.constant(oh_t), nabi.constant(oh_p))
        np.testing.assert_allclose(m.result().numpy(), ref_iou(ref_cm(t, p, 4), range(4)),
                                   rtol=1e-6)
        m = keras.metrics.OneHotIoU(4, [0, 3])
        m.update_state(nabi.constant(oh_t), nabi.constant(oh_p))
        np.testing.assert_allclose(m.result().numpy(), ref_iou(ref_cm(t, p, 4), [0, 3]),
                                   rtol=1e-6)
        with pytest.raises(ValueError, match=r"\[OneHotMeanIoU\] y_true holds class ids in "
                                             r"\[0, 4\], out of range for num_classes=4"):
            keras.metrics.OneHotMeanIoU(4).update_state(      # 5 columns for 4 classes
                nabi.constant(np.eye(5, dtype=np.float32)[[0, 4]]),
                nabi.constant(np.eye(4, dtype=np.float32)[[0, 1]]))
        with pytest.raises(ValueError, match=r"\[MeanIoU\] y_pred holds class ids in \[1, 4\], "
                                             r"out of range for num_classes=4"):
            keras.metrics.MeanIoU(4).update_state(nabi.constant(t), nabi.constant(p + 1))


def ref_confusion_at(yt, yp, n, w=None):
    """tp / fp / tn / fn per threshold of the bucketed Keras update (p positive at threshold
    i when ceil(p * (n - 1)) - 1 >= i, in float32)."""
    w = np.ones(len(yt)) if w is None else w
    tp, fp, tn, fn = (np.zeros(n) for _ in range(4))
    for t, p, c in zip(yt, yp, w):
        b = int(np.ceil(np.float32(min(max(p, 0), 1)) * np.float32(n - 1))) - 1
        for i in range(n):
            pos = b >= i
            if t:
                tp[i] += c * pos
                fn[i] += c * (not pos)
            else:
                fp[i] += c * pos
                tn[i] += c * (not pos)
    return tp, fp, tn, fn


@pytest.mark.parametrize("name", ["SensitivityAtSpecificity", "SpecificityAtSensitivity",
                                  "PrecisionAtRecall", "RecallAtPrecision"])
def test_at_metrics_confusion(where, name):
    yt = np.array([0, 1, 1, 0, 1, 0, 0, 1], np.float32)
    yp = np.array([0.1, 0.8, 0.35, 0.4, 0.99, 0.0, 1.2, 0.5], np.float32)
    w = np.array([1.0, 2.0, 0.5, 1.0, 1.0, 3.0, 1.0, 0.25])
    with nabi.device(where):
        m = getattr(keras.metrics, name)(0.5, num_thresholds=11)
        m.update_state(nabi.constant(yt), nabi.constant(yp), sample_weight=nabi.constant(w))
        assert _on_gpu(m.true_positives) == (where != "/CPU:0")
        ref = ref_confusion_at(yt, yp, 11, w)
        for v, r in zip(("true_positives", "false_positives", "true_negatives",
                         "false_negatives"), ref):
            np.testing.assert_allclose(getattr(m, v).numpy(), r, rtol=1e-6)


def ref_confusion_gt(yt, yp, thresholds):
    """tp / fp / tn / fn per threshold with TF's rule: positive when p > t (false for NaN)."""
    above = np.asarray(yp, np.float64)[None, :] > np.asarray(thresholds, np.float64)[:, None]
    pos = np.asarray(yt) != 0
    return ((above & pos).sum(1), (above & ~pos).sum(1), (~above & ~pos).sum(1),
            (~above & pos).sum(1))


_NAN_YT = np.array([0, 1, 1, 0, 1, 0, 1], np.float32)
_NAN_YP = np.array([0.1, np.nan, 0.8, np.nan, 0.6, 0.3, 0.2], np.float32)
_CONF = ("true_positives", "false_positives", "true_negatives", "false_negatives")


@pytest.mark.parametrize("name", ["PrecisionAtRecall", "SensitivityAtSpecificity", "AUC",
                                  "Precision"])
def test_threshold_metrics_count_nan_predictions_as_negative(where, name):
    """A NaN prediction is above no threshold (TF: NaN > t is false), on every device: the
    host path used to raise NumPy's bincount error (at-recall family) or count NaN as above
    every threshold (AUC, Precision: NumPy's searchsorted puts NaN last), the GPU path to
    drop the sample."""
    with nabi.device(where):
        if name == "AUC":
            m = keras.metrics.AUC(num_thresholds=7)
            thr = m.thresholds
        elif name == "Precision":
            m = keras.metrics.Precision(thresholds=[0.15, 0.5, 0.7])
            thr = [0.15, 0.5, 0.7]
        else:
            m = getattr(keras.metrics, name)(0.5, num_thresholds=11)
            thr = None
        m.update_state(nabi.constant(_NAN_YT), nabi.constant(_NAN_YP))
        if thr is None:   # the bucketed rule; NaN in slot 0 (as a prediction of 0)
            ref = ref_confusion_at(_NAN_YT, np.nan_to_num(_NAN_YP, nan=0.0), 11)
        else:
            ref = ref_confusion_gt(_NAN_YT, _NAN_YP, thr)
        names = _CONF if name != "Precision" else ("true_positives", "false_positives")
        for v, r in zip(names, ref):
            np.testing.assert_allclose(getattr(m, v).numpy(), r, rtol=1e-6, err_msg=v)
        assert np.isfinite(m.result().numpy()).all()


# ---------------------------------------------------------------- no copy to the host
def _layers_and_inputs():
    x = np.array([[0, 3, 3, 1], [2, 1, 0, 3]], np.int64)
    return [
        (L.Discretization(bin_boundaries=[0.5, 2.0], output_mode="multi_hot"), x),
        (L.Hashing(5, output_mode="count"), x),
        (L.Hashing(5, salt=7, mask_value=0), x),
        (L.IntegerLookup(vocabulary=[3, 1, 9]), x),
        (L.IntegerLookup(vocabulary=[3, 1, 9], mask_token=0, num_oov_indices=2,
                         output_mode="tf_idf", idf_weights=[1.0, 2.0, 3.0]), x),
        (L.IntegerLookup(vocabulary=[3, 1, 9], invert=True), x),
    ]


def test_layers_read_nothing_back(d2h):
    with nabi.device("/GPU:0"):
        for layer, x in _layers_and_inputs():
            X = nabi.constant(x)
            out = []
            reads, launches = d2h(lambda: out.append(layer(X)))
            assert reads == 0 and launches >= 1, (layer.name, reads)
            assert _on_gpu(out[0])
        a, b = nabi.constant(np.array([1, 2], np.int64)), nabi.constant(np.array([3, 4],
                                                                                  np.int32))
        reads, _ = d2h(lambda: L.HashedCrossing(4, output_mode="one_hot")((a, b)))
        assert reads == 0


def test_category_encoding_reads(d2h):
    from nabi.framework.device import to_gpu_all
    from nabi.framework.tensor import _wrap
    x = np.array([[0, 3], [2, 1]], np.int64)
    with nabi.device("/GPU:0"):
        layer = L.CategoryEncoding(4, output_mode="count")
        reads, _ = d2h(lambda: layer(nabi.constant(x)))
        assert reads == 1      # the range check: one flag
        known = _wrap(to_gpu_all(x, value_range=True))
        reads, _ = d2h(lambda: layer(known))
        assert reads == 0      # a range known on the host (a fit batch): no read
        xf = nabi.constant(x.astype(np.float32))
        reads, _ = d2h(lambda: layer(xf))
        assert reads == 1      # the range and integer checks: one flag


def test_integer_lookup_oov_error_reads_one_flag(d2h):
    with nabi.device("/GPU:0"):
        layer = L.IntegerLookup(vocabulary=[3, 1, 9], num_oov_indices=0)
        x = nabi.constant(np.array([3, 9, 1], np.int64))
        reads, _ = d2h(lambda: layer(x))
        assert reads == 1


def test_metrics_read_only_the_range_check(d2h):
    from nabi.framework.device import to_gpu_all
    from nabi.framework.tensor import _wrap
    with nabi.device("/GPU:0"):
        t = nabi.constant(np.array([0, 1, 2, 1], np.int64))
        p = nabi.constant(np.array([0, 2, 2, 1], np.int64))
        m = keras.metrics.MeanIoU(3)
        m.update_state(t, p)
        reads, _ = d2h(lambda: m.update_state(t, p))
        assert reads == 1      # the class-id range check (a clear error), no index flag
        tk, pk = (_wrap(to_gpu_all(np.array(v, np.int64), value_range=True))
                  for v in ([0, 1, 2, 1], [0, 2, 2, 1]))
        reads, _ = d2h(lambda: m.update_state(tk, pk))
        assert reads == 0      # ranges known on the host (fit batches): no check to read
        oh_t = nabi.constant(np.eye(3, dtype=np.float32)[[0, 1, 2, 1]])
        oh_p = nabi.constant(np.eye(3, dtype=np.float32)[[0, 2, 2, 1]] * 0.8)
        m = keras.metrics.OneHotMeanIoU(3)
        m.update_state(oh_t, oh_p)
        reads, _ = d2h(lambda: m.update_state(oh_t, oh_p))
        assert reads == 0      # argmax over 3 columns: in range by construction
        m = keras.metrics.BinaryIoU()
        yb = nabi.constant(np.array([0.2, 0.7], np.float32))
        m.update_state(_wrap(to_gpu_all(np.array([0, 1], np.int64), value_range=True)), yb)
        reads, _ = d2h(lambda: m.update_state(
            _wrap(to_gpu_all(np.array([0, 1], np.int64), value_range=True)), yb))
        assert reads == 0      # 0 / 1 predictions, labels of a known range
        yt = nabi.constant(np.array([0, 1, 1, 0], np.float32))
        yp = nabi.constant(np.array([0.2, 0.6, 0.9, 0.4], np.float32))
        for name in ("SensitivityAtSpecificity", "SpecificityAtSensitivity",
                     "PrecisionAtRecall", "RecallAtPrecision"):
            m = getattr(keras.metrics, name)(0.5, num_thresholds=5)
            m.update_state(yt, yp)
            reads, _ = d2h(lambda: m.update_state(yt, yp))
            assert reads == 0, name


def test_int_outputs_carry_their_range_to_an_embedding(d2h):
    """The 'int' outputs of the lookup / hashing / discretization layers lie in [0, depth) by
    construction: they carry that range (DeviceArray.value_range), so an Embedding after them
    reads no id check back."""
    x = np.array([[3, 1, 9, 4], [0, 1, 3, 3]], np.int64)
    with nabi.device("/GPU:0"):
        X = nabi.constant(x)
        for layer, n in ((L.IntegerLookup(vocabulary=[3, 1, 9]), 4), (L.Hashing(6), 6),
                         (L.Discretization(bin_boundaries=[0.5, 2.0, 5.0]), 4)):
            emb = L.Embedding(n, 2)
            ref = emb(layer(X)).numpy()
            out = []
            reads, _ = d2h(lambda: out.append(emb(layer(X))))
            assert reads == 0, layer.name
            np.testing.assert_array_equal(out[0].numpy(), ref)
