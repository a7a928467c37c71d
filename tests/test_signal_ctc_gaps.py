"""tf.signal's 3-D FFTs (fft3d / ifft3d / rfft3d / irfft3d) against numpy.fft over the last three
axes, tf.nn.ctc_beam_search_decoder against a brute-force enumeration of all alignments and
against a plain (unpruned) prefix beam search written here, and tf.ragged.constant's
ragged_rank / inner_shape against TF's documented shapes and values."""
import itertools

import numpy as np
import pytest

import nabi as tf


def _np(t):
    return np.asarray(t.numpy() if hasattr(t, "numpy") else t)


def assert_array(actual, shape, dtype, values=None, rtol=1e-5, atol=1e-6):
    """Shape, then dtype, then values."""
    a = _np(actual)
    assert a.shape == tuple(shape)
    assert a.dtype == np.dtype(dtype)
    if values is not None:
        np.testing.assert_allclose(a, values, rtol=rtol, atol=atol)


AX3 = (-3, -2, -1)


# ------------------------------------------------------------------ 3-D FFTs

@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
@pytest.mark.parametrize("shape", [(3, 4, 5), (2, 1, 7, 3, 2)])
def test_fft3d_ifft3d_match_numpy(dtype, shape):
    rng = np.random.default_rng(len(shape))
    x = (rng.normal(size=shape) + 1j * rng.normal(size=shape)).astype(dtype)
    tol = 1e-4 if dtype == np.complex64 else 1e-12
    assert_array(tf.signal.fft3d(x), shape, dtype, np.fft.fftn(x, axes=AX3), rtol=tol,
                 atol=tol * 10)
    assert_array(tf.signal.ifft3d(x), shape, dtype, np.fft.ifftn(x, axes=AX3), rtol=tol,
                 atol=tol)
    back = tf.signal.ifft3d(tf.signal.fft3d(tf.constant(x)))
    np.testing.assert_allclose(_np(back), x, rtol=tol, atol=tol * 10)


@pytest.mark.parametrize("dtype,cdtype", [(np.float32, np.complex64),
                                          (np.float64, np.complex128)])
def test_rfft3d_irfft3d_match_numpy(dtype, cdtype):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(2, 3, 4, 6)).astype(dtype)
    tol = 1e-4 if dtype == np.float32 else 1e-12
    r = tf.signal.rfft3d(x)
    assert_array(r, (2, 3, 4, 4), cdtype, np.fft.rfftn(x, axes=AX3), rtol=tol, atol=tol * 10)
    # fft_length crops and zero-pads each of the three axes
    r2 = tf.signal.rfft3d(x, fft_length=[2, 5, 9])
    assert_array(r2, (2, 2, 5, 5), cdtype, np.fft.rfftn(x, s=(2, 5, 9), axes=AX3), rtol=tol,
                 atol=tol * 10)
    # irfft3d: default lengths (m1, m2, 2 (m3 - 1)), and an odd last length
    assert_array(tf.signal.irfft3d(r), (2, 3, 4, 6), dtype, x, rtol=tol, atol=tol)
    spec = np.fft.rfftn(x, axes=AX3).astype(cdtype)
    assert_array(tf.signal.irfft3d(spec, fft_length=[3, 4, 7]), (2, 3, 4, 7), dtype,
                 np.fft.irfftn(spec, s=(3, 4, 7), axes=AX3), rtol=tol, atol=tol)


def test_3d_ffts_check_their_inputs_and_have_no_gradient():
    with pytest.raises(ValueError, match=r"\[fft3d\].*rank >= 3.*\(4, 4\)"):
        tf.signal.fft3d(np.zeros((4, 4), np.complex64))
    with pytest.raises(TypeError, match=r"\[ifft3d\].*complex.*float32.*\(2, 2, 2\)"):
        tf.signal.ifft3d(np.zeros((2, 2, 2), np.float32))
    with pytest.raises(TypeError, match=r"\[rfft3d\].*int32"):
        tf.signal.rfft3d(np.zeros((2, 2, 2), np.int32))
    with pytest.raises(ValueError, match=r"\[rfft3d\] fft_length must hold 3"):
        tf.signal.rfft3d(np.zeros((2, 2, 2), np.float32), fft_length=[2, 2])
    with pytest.raises(ValueError, match=r"\[irfft3d\].*rank >= 3"):
        tf.signal.irfft3d(np.zeros((2, 2), np.complex64))
    # like fft2d: complex values are not differentiated, and a tape that needs it says so
    x = tf.Variable(np.ones((2, 2, 2), np.float32))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(tf.math.real(tf.signal.rfft3d(x)))
    with pytest.raises(NotImplementedError, match="no gradient"):
        tape.gradient(loss, x)


# ------------------------------------------------------------------ ctc beam search

def _softmax(a):
    e = np.exp(a - a.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _brute_force(logits, blank):
    """All labelings, most probable first: every alignment's probability, collapsed."""
    p = _softmax(logits)
    T, C = p.shape
    total = {}
    for path in itertools.product(range(C), repeat=T):
        prob = np.prod([p[t, c] for t, c in enumerate(path)])
        labels, prev = [], None
        for c in path:
            if c != blank and c != prev:
                labels.append(c)
            prev = c
        total[tuple(labels)] = total.get(tuple(labels), 0.0) + prob
    return sorted(total.items(), key=lambda kv: -kv[1])


def _plain_beam_search(logits, blank, width):
    """Prefix beam search trying every class for every prefix (probabilities, not logs)."""
    p = _softmax(logits)
    beams = {(): [1.0, 0.0]}           # prefix -> [p ending in blank, p ending in label]
    for t in range(p.shape[0]):
        new = {}
        for pre, (pb, pl) in beams.items():
            for c in range(p.shape[1]):
                if c == blank:
                    key, add = pre, [(pb + pl) * p[t, c], 0.0]
                elif pre and pre[-1] == c:
                    new.setdefault(pre, [0.0, 0.0])[1] += pl * p[t, c]
                    key, add = pre + (c,), [0.0, pb * p[t, c]]
                else:
                    key, add = pre + (c,), [0.0, (pb + pl) * p[t, c]]
                slot = new.setdefault(key, [0.0, 0.0])
                slot[0] += add[0]
                slot[1] += add[1]
        beams = dict(sorted(new.items(), key=lambda kv: -sum(kv[1]))[:width])
    return sorted(((k, sum(v)) for k, v in beams.items()), key=lambda kv: -kv[1])


def test_ctc_beam_search_decoder_matches_brute_force_top_labelings():
    rng = np.random.default_rng(11)
    T, B, C, top = 4, 4, 3, 5
    logits = (rng.normal(size=(T, B, C)) * 2.0).astype(np.float32)
    lens = np.array([4, 4, 3, 1], np.int32)
    decoded, log_probs = tf.nn.ctc_beam_search_decoder(logits, lens, beam_width=100,
                                                       top_paths=top)
    assert isinstance(decoded, list) and len(decoded) == top
    assert_array(log_probs, (B, top), np.float32)
    for k, st in enumerate(decoded):
        assert isinstance(st, tf.SparseTensor)
        idx, vals = _np(st.indices), _np(st.values)
        assert idx.dtype == np.int64 and vals.dtype == np.int64
        for b in range(B):
            ref = _brute_force(logits[:lens[b], b].astype(np.float64), C - 1)
            if k >= len(ref):              # fewer labelings than top_paths: empty, -inf
                assert not np.any(idx[:, 0] == b) and _np(log_probs)[b, k] == -np.inf
                continue
            labels, prob = ref[k]
            mine = vals[idx[:, 0] == b]
            np.testing.assert_array_equal(idx[idx[:, 0] == b][:, 1], np.arange(len(mine)))
            assert tuple(mine) == labels
            np.testing.assert_allclose(_np(log_probs)[b, k], np.log(prob), rtol=1e-5,
                                       atol=1e-5)
        longest = max((len(_brute_force(logits[:lens[b], b].astype(np.float64), C - 1)[k][0])
                       for b in range(B) if k < len(_brute_force(
                           logits[:lens[b], b].astype(np.float64), C - 1))), default=0)
        assert [int(d) for d in _np(st.dense_shape)] == [B, longest]


@pytest.mark.parametrize("width", [1, 2, 3])
def test_ctc_beam_search_narrow_beam_with_many_classes_matches_plain_search(width):
    # C > beam_width + 2: nabi tries only the likeliest classes per prefix; the kept beams
    # must be those of a search that tries every class
    rng = np.random.default_rng(width)
    T, C = 6, 7
    logits = rng.normal(size=(T, 1, C)) * 1.5
    decoded, log_probs = tf.nn.ctc_beam_search_decoder(logits, [T], beam_width=width,
                                                       top_paths=width)
    ref = _plain_beam_search(logits[:, 0], C - 1, width)
    for k, (labels, prob) in enumerate(ref):
        assert tuple(_np(decoded[k].values)) == labels
        np.testing.assert_allclose(_np(log_probs)[0, k], np.log(prob), rtol=1e-9, atol=1e-9)


def test_ctc_beam_search_decoder_checks_its_arguments():
    x = np.zeros((3, 2, 4), np.float32)
    with pytest.raises(ValueError, match=r"\[ctc_beam_search_decoder\].*3-D.*\(2, 4\)"):
        tf.nn.ctc_beam_search_decoder(x[0], [3, 3])
    with pytest.raises(ValueError, match=r"\[ctc_beam_search_decoder\].*sequence_length.*"
                                         r"\[0, 3\]"):
        tf.nn.ctc_beam_search_decoder(x, [3, 4])
    with pytest.raises(ValueError, match=r"\[ctc_beam_search_decoder\].*top_paths=5"):
        tf.nn.ctc_beam_search_decoder(x, [3, 3], beam_width=4, top_paths=5)
    with pytest.raises(TypeError, match=r"\[ctc_beam_search_decoder\].*int32"):
        tf.nn.ctc_beam_search_decoder(x.astype(np.int32), [3, 3])


# ------------------------------------------------------------------ tf.ragged.constant

def test_ragged_constant_ragged_rank_one_keeps_uniform_inner_dims():
    # TF's docs: [[[1, 2], [3, 4]], [[5, 6]]] with ragged_rank=1 has shape [2, None, 2]
    rt = tf.ragged.constant([[[1, 2], [3, 4]], [[5, 6]]], ragged_rank=1)
    assert rt.shape.as_list() == [2, None, 2] and rt.ragged_rank == 1
    assert rt.dtype == tf.int32
    assert_array(rt.flat_values, (3, 2), np.int32, [[1, 2], [3, 4], [5, 6]])
    assert_array(rt.row_splits, (3,), np.int64, [0, 2, 3])
    assert rt.to_list() == [[[1, 2], [3, 4]], [[5, 6]]]
    # without ragged_rank both inner levels are ragged
    rt2 = tf.ragged.constant([[[1, 2], [3, 4]], [[5, 6]]])
    assert rt2.shape.as_list() == [2, None, None] and rt2.ragged_rank == 2


def test_ragged_constant_inner_shape():
    # inner_shape=(2,) makes the last level uniform: ragged_rank = depth - 1 - 1
    rt = tf.ragged.constant([[[1, 2], [3, 4]], [[5, 6]]], inner_shape=(2,))
    assert rt.shape.as_list() == [2, None, 2] and rt.ragged_rank == 1
    # an empty first row does not hide the values' depth
    rt = tf.ragged.constant([[], [[1.5, 2.5]]], inner_shape=(2,))
    assert rt.shape.as_list() == [2, None, 2] and rt.dtype == tf.float32
    assert_array(rt.flat_values, (1, 2), np.float32, [[1.5, 2.5]])
    assert_array(rt.row_splits, (3,), np.int64, [0, 0, 1])
    # all rows empty: the values take inner_shape
    rt = tf.ragged.constant([[], [], []], ragged_rank=1, inner_shape=(2,), dtype=tf.int64)
    assert rt.shape.as_list() == [3, None, 2]
    assert_array(rt.flat_values, (0, 2), np.int64)
    # two ragged levels over a uniform pair
    rt = tf.ragged.constant([[[[1, 2]], [[3, 4], [5, 6]]], [[[7, 8]]]], ragged_rank=2)
    assert rt.shape.as_list() == [2, None, None, 2]
    assert rt.to_list() == [[[[1, 2]], [[3, 4], [5, 6]]], [[[7, 8]]]]
    assert_array(rt.flat_values, (4, 2), np.int32, [[1, 2], [3, 4], [5, 6], [7, 8]])


def test_ragged_constant_rank_zero_is_dense_and_bad_ranks_raise():
    # ragged_rank 0 (given, or left after inner_shape) gives a dense Tensor, as TF does
    t = tf.ragged.constant([[1, 2], [3, 4]], ragged_rank=0)
    assert not isinstance(t, tf.RaggedTensor)
    assert_array(t, (2, 2), np.int32, [[1, 2], [3, 4]])
    t = tf.ragged.constant([1, 2, 3])
    assert_array(t, (3,), np.int32, [1, 2, 3])
    with pytest.raises(ValueError, match=r"\[ragged.constant\].*inner_shape \(3,\)"):
        tf.ragged.constant([[[1, 2], [3, 4]], [[5, 6]]], ragged_rank=1, inner_shape=(3,))
    with pytest.raises(ValueError, match=r"\[ragged.constant\].*ragged_rank=1.*inner_shape"):
        tf.ragged.constant([[[1, 2]], [[5, 6]]], ragged_rank=1, inner_shape=(2, 1))
    with pytest.raises(ValueError, match=r"\[ragged.constant\].*ragged_rank=2"):
        tf.ragged.constant([[1, 2], [3]], ragged_rank=2)
    with pytest.raises(ValueError, match=r"\[ragged.constant\].*uniform"):
        tf.ragged.constant([[[1, 2], [3]], [[5, 6]]], ragged_rank=1)
