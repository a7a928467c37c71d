"""Keras 3 gaps: a SeedGenerator's state as a tracked layer variable (listed, saved and
restored with the weights), keras.backend.backend() == keras.config.backend(), keras.ops.istft
(against a NumPy overlap-add reference, its round trip with stft, and its gradient),
keras.ops.ctc_decode(strategy="beam_search") against a brute-force enumeration of all
alignments, and the argument checks keras.ops.image / linalg share (keras/ops/_checks.py)."""
import itertools

import numpy as np
import pytest

import nabi as tf
from nabi import keras

ops = keras.ops


@pytest.fixture(autouse=True)
def _clean_state():
    keras.backend.clear_session()
    yield


def _np(t):
    return np.asarray(t.numpy() if hasattr(t, "numpy") else t)


def assert_array(actual, shape, dtype, values=None, rtol=1e-5, atol=1e-6):
    """Shape, then dtype, then values."""
    a = _np(actual)
    assert a.shape == tuple(shape)
    assert a.dtype == np.dtype(dtype)
    if values is not None:
        np.testing.assert_allclose(a, values, rtol=rtol, atol=atol)


# ------------------------------------------------------------------ SeedGenerator state

class _Noisy(keras.layers.Layer):
    """Dense-free layer whose call draws with its own SeedGenerator (keras.io's pattern)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seed_generator = keras.random.SeedGenerator(1234)

    def build(self, input_shape):
        self.scale = self.add_weight(shape=(input_shape[-1],), initializer="ones", name="scale")
        self.moving = self.add_weight(shape=(input_shape[-1],), initializer="zeros",
                                      trainable=False, name="moving")

    def call(self, x, training=None):
        noise = keras.random.normal(ops.shape(x), stddev=0.1, seed=self.seed_generator)
        y = keras.random.dropout(x * self.scale, 0.5, seed=self.seed_generator)
        return y + noise + self.moving


def test_seed_generator_state_is_a_tracked_non_trainable_variable():
    # Keras 3 (checked with keras 3.15): the state is in `variables` and
    # `non_trainable_variables`, not in `weights` / `non_trainable_weights` / get_weights()
    layer = _Noisy()
    layer.build((None, 3))
    state = layer.seed_generator.state
    assert isinstance(state, keras.Variable) and isinstance(state, tf.Variable)
    assert not state.trainable
    assert tuple(state.shape) == (2,) and state.dtype in (tf.int64, tf.int32, tf.uint32)
    np.testing.assert_array_equal(_np(state), [1234, 0])
    assert [id(v) for v in layer.weights] == [id(layer.scale), id(layer.moving)]
    assert [id(v) for v in layer.variables] == [id(layer.scale), id(layer.moving), id(state)]
    assert [id(v) for v in layer.non_trainable_variables] == [id(layer.moving), id(state)]
    assert [id(v) for v in layer.non_trainable_weights] == [id(layer.moving)]
    assert [id(v) for v in layer.trainable_variables] == [id(layer.scale)]
    assert len(layer.get_weights()) == 2
    # each draw advances the counter
    layer(np.ones((2, 3), np.float32))
    np.testing.assert_array_equal(_np(state), [1234, 2])


def test_seed_generator_state_in_a_nested_model_and_frozen_layer():
    inner = _Noisy()
    inp = keras.Input((3,))
    model = keras.Model(inp, keras.layers.Dense(2)(inner(inp)))
    state = inner.seed_generator.state
    np.testing.assert_array_equal(_np(state), [1234, 0])      # building draws nothing
    assert sum(v is state for v in model.variables) == 1
    assert all(v is not state for v in model.weights)
    assert all(v is not state for v in model.trainable_variables)
    assert sum(v is state for v in model.non_trainable_variables) == 1
    inner.trainable = False
    assert sum(v is state for v in inner.non_trainable_variables) == 1
    assert inner.trainable_weights == []


def test_seed_generator_state_is_not_saved_with_the_weights(tmp_path):
    # as Keras 3: save_weights / load_weights leave the generator's state where it is
    inp = keras.Input((4,))
    model = keras.Model(inp, _Noisy()(inp))
    x = np.linspace(-1, 1, 8).reshape(2, 4).astype(np.float32)
    model(x)
    model(x)                                                   # the state is now [1234, 4]
    path = str(tmp_path / "noisy.weights.h5")
    weights = [w.copy() for w in model.get_weights()]
    model.save_weights(path)
    for _ in range(3):
        model(x)
    model.load_weights(path)
    state = model.layers[-1].seed_generator.state
    np.testing.assert_array_equal(_np(state), [1234, 10])
    for a, b in zip(model.get_weights(), weights):
        np.testing.assert_array_equal(a, b)
    inp2 = keras.Input((4,))
    other = keras.Model(inp2, _Noisy()(inp2))
    other.load_weights(path)                                   # same number of weights
    np.testing.assert_array_equal(_np(other.layers[-1].seed_generator.state), [1234, 0])


def test_seed_generator_draws_match_integer_seed_pairs():
    # the generator's k-th draw is the stateless draw with seed [seed, k] (NumPy-free check of
    # the counter semantics)
    gen = keras.random.SeedGenerator(99)
    first = _np(keras.random.normal((5,), seed=gen))
    second = _np(keras.random.normal((5,), seed=gen))
    np.testing.assert_array_equal(first, _np(keras.random.normal((5,), seed=99)))
    np.testing.assert_array_equal(second, _np(keras.random.normal(
        (5,), seed=np.array([99, 1], np.int64))))


# ------------------------------------------------------------------ backend name

def test_backend_names_agree_and_is_nabi_tells_nabi_apart():
    assert keras.backend.backend() == "tensorflow"
    assert keras.config.backend() == keras.backend.backend()
    assert keras.backend.is_nabi() is True


# ------------------------------------------------------------------ istft

def _hann_periodic(n):
    return 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n)


def _np_istft(re, im, seq_len, stride, fft_len, length=None, window="hann", center=True):
    """Keras 3's istft in float64 NumPy: irfft of each frame, times the window (padded to
    fft_len) over the sum of squared windows overlapping each sample, overlap-added, trimmed."""
    frames = np.fft.irfft(re + 1j * im, n=fft_len, axis=-1)
    if window is not None:
        w = _hann_periodic(seq_len) if isinstance(window, str) else np.asarray(window, float)
        left = (fft_len - seq_len) // 2
        w = np.concatenate([np.zeros(left), w, np.zeros(fft_len - seq_len - left)])
        denom = np.zeros(fft_len)
        for n in range(fft_len):
            for m in range(n % stride, fft_len, stride):
                denom[n] += w[m] ** 2
        frames = frames * np.where(denom > 0, w / np.where(denom > 0, denom, 1), 0)
    nf = frames.shape[-2]
    out = np.zeros(frames.shape[:-2] + ((nf - 1) * stride + fft_len,))
    for t in range(nf):
        out[..., t * stride:t * stride + fft_len] += frames[..., t, :]
    start = fft_len // 2 if center else 0
    if length is not None:
        out = out[..., start:start + length]
        return np.concatenate([out, np.zeros(out.shape[:-1] + (length - out.shape[-1],))], -1)
    return out[..., start:out.shape[-1] - fft_len // 2] if center else out


@pytest.mark.parametrize("seq_len,stride,fft_len,window,center,length", [
    (16, 4, 16, "hann", True, None),
    (12, 3, 16, "hann", True, 45),
    (10, 5, 16, "hann", False, None),
    (8, 8, 8, None, False, 40),
    (7, 2, 8, "custom", False, 70),          # length past the signal: zero-padded
])
def test_istft_matches_numpy_overlap_add(seq_len, stride, fft_len, window, center, length):
    rng = np.random.default_rng(seq_len + stride)
    bins = fft_len // 2 + 1
    re = rng.normal(size=(2, 9, bins))
    im = rng.normal(size=(2, 9, bins))
    win = rng.uniform(0.5, 1.5, size=seq_len) if window == "custom" else window
    out = ops.istft((re.astype(np.float32), im.astype(np.float32)), seq_len, stride, fft_len,
                    length=length, window=win, center=center)
    ref = _np_istft(re, im, seq_len, stride, fft_len, length, win, center)
    assert_array(out, ref.shape, np.float32, ref, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("seq_len,stride,fft_len,center", [
    (16, 4, 16, True), (12, 3, 16, True), (16, 8, 16, False), (10, 2, 16, False)])
def test_istft_inverts_stft(seq_len, stride, fft_len, center):
    n = 64
    x = np.random.default_rng(3).normal(size=(3, n))
    spec = ops.stft(x, seq_len, stride, fft_len, center=center)
    y = _np(ops.istft(spec, seq_len, stride, fft_len, length=n, center=center))
    assert y.shape == (3, n) and y.dtype == np.float64
    # exact wherever every overlapping frame exists (the ends lack some, as in Keras)
    np.testing.assert_allclose(y[:, fft_len:n - fft_len], x[:, fft_len:n - fft_len],
                               rtol=1e-9, atol=1e-10)
    if not center:                         # and the leading part covered by whole windows
        np.testing.assert_allclose(y[:, fft_len - 1:fft_len], x[:, fft_len - 1:fft_len],
                                   rtol=1e-9, atol=1e-10)


def test_istft_gradient_matches_finite_differences():
    rng = np.random.default_rng(5)
    seq_len, stride, fft_len = 6, 2, 8
    re0 = rng.normal(size=(4, fft_len // 2 + 1))
    im0 = rng.normal(size=(4, fft_len // 2 + 1))
    c = rng.normal(size=_np_istft(re0, im0, seq_len, stride, fft_len).shape)

    def f(re, im):
        return float(np.sum(_np_istft(re, im, seq_len, stride, fft_len) * c))

    re, im = tf.Variable(re0), tf.Variable(im0)
    with tf.GradientTape() as tape:
        out = ops.istft((re, im), seq_len, stride, fft_len)
        loss = tf.reduce_sum(out * tf.constant(c))
    g_re, g_im = tape.gradient(loss, [re, im])
    eps = 1e-6
    for g, which in ((g_re, 0), (g_im, 1)):
        num = np.zeros_like(re0)
        for idx in np.ndindex(*re0.shape):
            d = np.zeros_like(re0)
            d[idx] = eps
            args_p = (re0 + d, im0) if which == 0 else (re0, im0 + d)
            args_m = (re0 - d, im0) if which == 0 else (re0, im0 - d)
            num[idx] = (f(*args_p) - f(*args_m)) / (2 * eps)
        np.testing.assert_allclose(_np(g), num, rtol=1e-3, atol=1e-5)


def test_istft_bad_arguments_name_the_op_and_shapes():
    re = np.zeros((4, 5), np.float32)
    with pytest.raises(ValueError, match=r"\[istft\].*fft_length // 2 \+ 1 = 9.*\(4, 5\)"):
        ops.istft((re, re), 16, 4, 16)
    with pytest.raises(ValueError, match=r"\[istft\].*sequence_length"):
        ops.istft((re, re), 12, 4, 8)
    with pytest.raises(ValueError, match=r"\[istft\].*window"):
        ops.istft((re, re), 8, 4, 8, window=np.ones(5))
    with pytest.raises(ValueError, match=r"\[istft\].*one shape"):
        ops.istft((re, np.zeros((4, 4), np.float32)), 8, 4, 8)


# ------------------------------------------------------------------ ctc beam search

def _brute_force_labelings(logits, blank):
    """Every labeling's total probability, summing all C**T alignments (softmax per step)."""
    p = np.exp(logits - logits.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
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


@pytest.mark.parametrize("mask_index", [0, 2, None])
def test_ctc_decode_beam_search_matches_brute_force(mask_index):
    rng = np.random.default_rng(7 if mask_index is None else mask_index)
    B, T, C, top = 3, 4, 3, 4
    logits = (rng.normal(size=(B, T, C)) * 1.5).astype(np.float32)
    lens = np.array([4, 3, 2])
    decoded, scores = ops.ctc_decode(logits, lens, strategy="beam_search", beam_width=64,
                                     top_paths=top, mask_index=mask_index)
    decoded, scores = _np(decoded), _np(scores)
    assert decoded.shape == (top, B, T) and decoded.dtype == np.int32
    assert scores.shape == (B, top) and scores.dtype == np.float32
    blank = C - 1 if mask_index is None else mask_index
    for b in range(B):
        ref = _brute_force_labelings(logits[b, :lens[b]].astype(np.float64), blank)[:top]
        for k, (labels, prob) in enumerate(ref):
            row = decoded[k, b]
            assert tuple(row[row >= 0]) == labels and np.all(row[len(labels):] == -1)
            np.testing.assert_allclose(scores[b, k], np.log(prob), rtol=1e-5, atol=1e-5)


def test_ctc_decode_beam_search_empty_sequence_and_checks():
    logits = np.random.default_rng(1).normal(size=(1, 3, 4)).astype(np.float32)
    decoded, scores = ops.ctc_decode(logits, [0], strategy="beam_search", beam_width=5,
                                     top_paths=2)
    np.testing.assert_array_equal(_np(decoded), -np.ones((2, 1, 3)))
    assert _np(scores)[0, 0] == 0.0 and _np(scores)[0, 1] == -np.inf
    with pytest.raises(ValueError, match=r"\[ctc_decode\].*top_paths"):
        ops.ctc_decode(logits, [3], strategy="beam_search", beam_width=2, top_paths=3)
    with pytest.raises(ValueError, match=r"\[ctc_decode\].*mask_index=4"):
        ops.ctc_decode(logits, [3], strategy="beam_search", mask_index=4)
    with pytest.raises(ValueError, match=r"\[ctc_decode\].*3-D.*\(3, 4\)"):
        ops.ctc_decode(logits[0], [3], strategy="beam_search")


# ------------------------------------------------------------------ shared checks

def test_shared_checks_keep_their_messages():
    from nabi.keras.ops import _checks
    img = np.zeros((4, 4, 3), np.float32)
    cases = [
        (lambda: ops.image.resize(img, (2, 2), interpolation="cubic"),
         r"^\[resize\] interpolation must be one of \['area', 'bicubic', 'bilinear', "
         r"'lanczos3', 'lanczos5', 'nearest'\], got 'cubic'$"),
        (lambda: ops.image.resize(np.zeros((4, 4)), (2, 2)),
         r"^\[resize\] images must be 3-D \(H, W, C\) or 4-D \(N, H, W, C\) \(channels first: "
         r"C before H, W\), got shape \(4, 4\)$"),
        (lambda: ops.image.rgb_to_grayscale(img, data_format="nhwc"),
         r"^\[rgb_to_grayscale\] data_format must be 'channels_last' or 'channels_first', "
         r"got 'nhwc'$"),
        (lambda: ops.image.affine_transform(img, np.zeros(8), interpolation="cubic"),
         r"^\[affine_transform\] interpolation must be 'bilinear' or 'nearest', got 'cubic'$"),
        (lambda: ops.image.map_coordinates(img, np.zeros((3, 1)), order=2),
         r"^\[map_coordinates\] order must be 0 or 1, got 2$"),
        (lambda: ops.image.map_coordinates(img, np.zeros((3, 1)), 1, fill_mode="edge"),
         r"^\[map_coordinates\] fill_mode must be one of \('constant', 'nearest', 'wrap', "
         r"'mirror', 'reflect'\), got 'edge'$"),
        (lambda: ops.image.extract_patches(img, 2, padding="full"),
         r"^\[extract_patches\] padding must be 'valid' or 'same', got 'full'$"),
        (lambda: ops.linalg.inv(np.ones((2, 3))),
         r"^\[inv\] x must be a \(batch of\) square matrices, got shape \(2, 3\)$"),
        (lambda: ops.linalg.solve(np.eye(3), np.ones((4, 2))),
         r"^\[solve\] a \(3, 3\) and b \(4, 2\) do not fit$"),
        (lambda: ops.linalg.solve_triangular(np.eye(3), np.ones(2)),
         r"^\[solve_triangular\] a \(3, 3\) and b \(2, 1\) do not fit$"),
        (lambda: ops.linalg.svd(np.ones(3)), r"^\[svd\] x must be at least 2-D, got shape \(3,\)$"),
        (lambda: ops.linalg.qr(np.eye(2), mode="full"),
         r"^\[qr\] mode must be 'reduced' or 'complete', got 'full'$"),
    ]
    for fn, pattern in cases:
        with pytest.raises(ValueError, match=pattern):
            fn()
    # valid arguments pass through; a vector right-hand side becomes a column
    a = ops.linalg.solve(np.array([[2.0, 0.0], [0.0, 4.0]]), np.array([2.0, 2.0]))
    assert_array(a, (2,), np.float64, [1.0, 0.5])
    b, vec = _checks.right_hand_side("solve", tf.constant(np.eye(2)), np.ones(2))
    assert vec and tuple(b.shape) == (2, 1)
    assert _checks.one_of("op", "mode", "A", ("a", "b"), key="a") == "A"


def test_stft_without_window_takes_whole_fft_length_frames():
    # Keras 3: window=None frames fft_length samples unwindowed, whatever sequence_length is;
    # istft(window=None) overlap-adds them back
    x = np.random.default_rng(8).normal(size=(2, 40))
    re, im = ops.stft(x, 8, 16, 16, window=None, center=False)
    frames = np.stack([x[:, i:i + 16] for i in range(0, 40 - 16 + 1, 16)], axis=1)
    ref = np.fft.rfft(frames, axis=-1)
    assert_array(re, ref.shape, np.float64, ref.real, rtol=1e-9, atol=1e-9)
    assert_array(im, ref.shape, np.float64, ref.imag, rtol=1e-9, atol=1e-9)
    back = ops.istft((re, im), 8, 16, 16, window=None, center=False)
    assert_array(back, (2, 32), np.float64, x[:, :32], rtol=1e-9, atol=1e-9)
