"""Keras preprocessing layers where nabi silently differed from Keras 3.15 (found by running the
same code on nabi and on Keras 3.15 / TF 2.21). Expected values come from plain NumPy/Python
references written here, never from Keras or nabi."""
import math

import numpy as np

import nabi
from nabi.keras import layers

from helpers import assert_array


def _digitize_ref(x, bounds):
    """Bin index = number of boundaries <= value (bins are [b_i, b_{i+1}))."""
    return np.array([[sum(1 for b in bounds if b <= v) for v in row] for row in x])


def test_discretization_int_output_is_int32_whatever_dtype():
    # Keras 3.15: Discretization.output_dtype is "int32" for output_mode="int" (dtype only sets
    # the encoded modes' dtype); nabi gave int64 (Keras 2) and refused a float dtype.
    x = np.array([[-1.5, 0.0, 0.5, 1.0], [2.5, 3.0, -0.2, 0.99]], np.float32)
    b = [0.0, 1.0, 2.0]
    ref = _digitize_ref(x, b)
    assert_array(layers.Discretization(bin_boundaries=b)(x), ref, dtype="int32")
    assert_array(layers.Discretization(bin_boundaries=b, dtype="int64")(x), ref, dtype="int32")
    assert_array(layers.Discretization(bin_boundaries=b, dtype="float32")(x), ref,
                 dtype="int32")
    d = layers.Discretization(num_bins=4)
    d.adapt(np.arange(8, dtype=np.float32))
    assert_array(d(x), _digitize_ref(x, d.bin_boundaries), dtype="int32")
    # the encoded modes keep the layer's float dtype
    onehot = np.eye(4, dtype=np.float32)[ref[0]]
    assert_array(layers.Discretization(bin_boundaries=b, output_mode="one_hot")(x[0]), onehot,
                 dtype="float32")


def _idf_ref(docs, vocab):
    """log(1 + documents / (1 + documents containing the token)), per vocabulary token."""
    return [math.log(1 + len(docs) / (1 + sum(t in set(d) for d in docs))) for t in vocab]


def test_lookup_tf_idf_adapt_of_a_1d_array_has_one_document_per_element():
    # Keras 3.15 IndexLookup.adapt expands a 1-D array/list/Tensor to a column before
    # update_state, so each element is a document; nabi cut it in batches of 32, each one
    # document (Keras 2.15), and learned other idf weights.
    tokens = ["x"] * 30 + ["y"] * 6 + ["z"] * 4
    for data in (np.array(tokens), tokens):
        layer = layers.StringLookup(output_mode="tf_idf")
        layer.adapt(data)
        assert layer.get_vocabulary() == ["[UNK]", "x", "y", "z"]
        w = _idf_ref([[t] for t in tokens], ["x", "y", "z"])
        # OOV index weighs the mean of the learned weights; output = count * idf
        assert_array(layer(np.array(["y", "y", "q"])), [np.mean(w), 0, 2 * w[1], 0],
                     dtype="float32")
    ints = [1, 1, 2, 3, 3, 3]
    layer = layers.IntegerLookup(output_mode="tf_idf")
    layer.adapt(np.array(ints))
    w = _idf_ref([[t] for t in ints], [3, 1, 2])
    assert_array(layer(np.array([1, 3, 9])), [np.mean(w), w[0], w[1], 0], dtype="float32")


def _bilinear_ref(img, out_h, out_w):
    """tf.image.resize bilinear (half-pixel centres, no antialias) of one (H, W, C) image,
    in float64, one output pixel at a time."""
    H, W, C = img.shape

    def src(i, n_in, n_out):
        s = min(max((i + 0.5) * n_in / n_out - 0.5, 0.0), n_in - 1)
        lo = int(math.floor(s))
        return lo, min(lo + 1, n_in - 1), s - lo

    out = np.zeros((out_h, out_w, C))
    for i in range(out_h):
        y0, y1, wy = src(i, H, out_h)
        for j in range(out_w):
            x0, x1, wx = src(j, W, out_w)
            top = img[y0, x0] * (1 - wx) + img[y0, x1] * wx
            bot = img[y1, x0] * (1 - wx) + img[y1, x1] * wx
            out[i, j] = top * (1 - wy) + bot * wy
    return out


def test_resizing_integer_images_keep_their_dtype_rounded_half_to_even():
    # Keras 3.15 Resizing: an integer image is resized in float, rounded (tf.round: half to
    # even) and saturate-cast back to its dtype; nabi returned float32 (Keras 2.15).
    img = np.array([[[0], [3]], [[5], [10]], [[255], [1]]], np.uint8)   # (3, 2, 1)
    # 3 -> 6 rows, 2 -> 4 columns: weights 1/4, 3/4 are exact, so the .5 ties are exact too
    ref = _bilinear_ref(img.astype(np.float64), 6, 4)
    assert np.any(ref % 1 == 0.5)
    expected = np.round(ref).astype(np.uint8)                     # numpy rounds half to even
    # (a documented nabi limitation: uint8 placed on a GPU is stored as int64)
    u8 = "int64" if nabi.config.list_physical_devices("GPU") else "uint8"
    assert_array(layers.Resizing(6, 4)(img), expected, dtype=u8)
    batch = img[None].astype(np.int32)
    assert_array(layers.Resizing(6, 4)(batch), expected[None].astype(np.int32), dtype="int32")
    assert_array(layers.Resizing(6, 4, interpolation="nearest")(img),
                 img[[0, 0, 1, 1, 2, 2]][:, [0, 0, 1, 1]], dtype=u8)
    # float images keep the float path
    assert_array(layers.Resizing(6, 4)(img.astype(np.float32)), ref.astype(np.float32),
                 dtype="float32")
    # bicubic overshoots a 0/255 step; the uint8 result saturates instead of wrapping (on a
    # GPU the image is already int64, whose range holds the overshoot)
    step = np.zeros((4, 4, 1), np.uint8)
    step[:, 2:] = 255
    out = layers.Resizing(4, 9, interpolation="bicubic")(step).numpy()
    assert out.dtype == np.dtype(u8) and out[:, 0].max() == 0 and out[:, -1].min() == 255
    if u8 == "uint8":
        assert np.all(np.diff(out[0, :, 0].astype(int)) >= 0)   # monotone: no wrap-around


def _tf_projective_ref(img, t, fill_mode, fill_value, interpolation):
    """TF's ImageProjectiveTransformV3 per pixel for one (H, W, C) image and an affine
    transform [a0, a1, a2, b0, b1, b2]: output (col x, row y) reads input (a0 x + a1 y + a2,
    b0 x + b1 y + b2); the coordinate is first mapped by fill_mode, then read nearest with
    std::round (half away from zero) or bilinearly; reads outside the image give fill_value."""
    H, W, C = img.shape

    def mapc(v, n):
        if fill_mode == "constant":
            return v
        if fill_mode == "reflect" and v < 0:
            v = v + 2 * n * int(-v / (2 * n))
            v = v + 2 * n if v < -n else -v - 1
        elif fill_mode == "reflect" and v > n - 1:
            v = v - 2 * n * int(v / (2 * n))
            v = 2 * n - v - 1 if v >= n else v
        elif fill_mode == "wrap" and v < 0:
            v = v + n * (int(-v / (n - 1)) + 1)
        elif fill_mode == "wrap" and v > n - 1:
            v = v - n * int(v / (n - 1))
        return min(max(v, 0.0), n - 1.0)

    def read(r, c):
        return img[r, c] if 0 <= r < H and 0 <= c < W else np.full(C, fill_value)

    out = np.zeros((H, W, C))
    for r in range(H):
        for c in range(W):
            x = mapc(t[0] * c + t[1] * r + t[2], W)
            y = mapc(t[3] * c + t[4] * r + t[5], H)
            if interpolation == "nearest":
                out[r, c] = read(int(math.copysign(math.floor(abs(y) + 0.5), y)),
                                 int(math.copysign(math.floor(abs(x) + 0.5), x)))
                continue
            y0, x0 = math.floor(y), math.floor(x)
            top = (x0 + 1 - x) * read(y0, x0) + (x - x0) * read(y0, x0 + 1)
            bot = (x0 + 1 - x) * read(y0 + 1, x0) + (x - x0) * read(y0 + 1, x0 + 1)
            out[r, c] = (y0 + 1 - y) * top + (y - y0) * bot
    return out


def test_affine_layers_map_then_round_as_tf_projective_transform():
    # Keras 3.15 (TF backend) resamples with ImageProjectiveTransformV3: fill_mode maps the
    # continuous coordinate first, nearest then rounds half away from zero, and 'wrap' has
    # TF's own period. nabi rounded first (floor(v + 0.5)) and mapped the integer index, so
    # a zoom by 1.5 (half-pixel coordinates) differed in 'constant'/'reflect' nearest, and
    # 'wrap' differed near the seams.
    img = np.random.default_rng(1).uniform(0, 255, (1, 7, 9, 2)).astype(np.float32)
    H, W = 7, 9
    zoom = [1.5, 0.0, (W - 1) / 2 * (1 - 1.5), 0.0, 1.5, (H - 1) / 2 * (1 - 1.5)]
    for mode in ("constant", "reflect", "wrap", "nearest"):
        for interp in ("nearest", "bilinear"):
            layer = layers.RandomZoom((0.5, 0.5), fill_mode=mode, interpolation=interp,
                                      fill_value=3.0)
            ref = _tf_projective_ref(img[0].astype(np.float64), zoom, mode, 3.0, interp)
            assert_array(layer(img, training=True), ref[None].astype(np.float32), rtol=1e-5,
                         atol=1e-3, dtype="float32")
    # Keras's translation matrix: [1, 0, -dx, 0, 1, -dy] with dx = width_factor * W
    shift = [1.0, 0.0, 0.2 * W, 0.0, 1.0, -0.3 * H]
    for interp in ("nearest", "bilinear"):
        layer = layers.RandomTranslation((0.3, 0.3), (-0.2, -0.2), fill_mode="wrap",
                                         interpolation=interp)
        ref = _tf_projective_ref(img[0].astype(np.float64), shift, "wrap", 0.0, interp)
        assert_array(layer(img, training=True), ref[None].astype(np.float32), rtol=1e-5,
                     atol=1e-3, dtype="float32")


def test_colour_layers_at_inference_return_integer_images_unchanged():
    # Keras 3.15: RandomContrast / RandomBrightness (and the other augmentation layers) return
    # the input itself at inference, so a uint8 image stays uint8; nabi cast it to float32 first
    img = np.arange(2 * 3 * 4 * 3).reshape(2, 3, 4, 3).astype(np.uint8)
    u8 = "int64" if nabi.config.list_physical_devices("GPU") else "uint8"
    for layer in (layers.RandomContrast(0.5), layers.RandomBrightness(0.3),
                  layers.RandomHeight(0.2), layers.RandomWidth(0.2)):
        assert_array(layer(img, training=False), img, dtype=u8)
        assert_array(layer(img[0], training=False), img[0], dtype=u8)
    # training still works in float
    out = layers.RandomBrightness((0.0, 0.0))(img, training=True)
    assert_array(out, img.astype(np.float32), dtype="float32")


def test_one_hot_of_a_scalar_or_one_element_vector_has_a_batch_axis():
    # Keras 3.15 encode_categorical_inputs, one_hot: a scalar is upranked to (1,), a trailing
    # axis of 1 is dropped only when the rank is above 1, then the one-hot axis is added; so a
    # scalar and a (1,) input give (1, depth) and rank 2 gives rank 3. nabi gave (depth,) and
    # refused rank 3 outputs (Keras 2.15's TF fast path).
    def onehot(idx, depth):
        idx = np.asarray(idx)
        return (idx[..., None] == np.arange(depth)).astype(np.float32)

    enc = layers.CategoryEncoding(num_tokens=4, output_mode="one_hot")
    assert_array(enc(np.array(2)), onehot([2], 4), dtype="float32")
    assert_array(enc(np.array([2])), onehot([2], 4), dtype="float32")
    assert_array(enc(np.array([[1], [3]])), onehot([1, 3], 4), dtype="float32")
    assert_array(enc(np.array([[0, 1], [3, 2]])), onehot([[0, 1], [3, 2]], 4), dtype="float32")
    assert enc.compute_output_shape(()) == (1, 4)
    assert enc.compute_output_shape((None, 5)) == (None, 5, 4)
    lookup = layers.StringLookup(vocabulary=["a", "b"], output_mode="one_hot")
    assert_array(lookup(np.array("b")), onehot([2], 3), dtype="float32")
    disc = layers.Discretization(bin_boundaries=[0.0], output_mode="one_hot")
    assert_array(disc(np.array([1.0], np.float32)), onehot([1], 2), dtype="float32")


def _keras3_quantile_boundaries(values, num_bins, epsilon):
    """Keras 3's Discretization.adapt of one array: summarize (every int(step)-th sorted
    value from index int(step - 1), step = max(n * epsilon, 1), each weighing step), compress
    to 1/epsilon points, then read the boundaries at cumulative weights k / num_bins."""
    v = np.sort(np.asarray(values, np.float64).ravel())
    step = max(v.size * epsilon, 1)
    pts = v[int(step - 1)::int(step)]
    w = np.full(pts.shape, step)

    def compress(pts, w, eps):
        if len(pts) * eps < 1:
            return pts, w
        pct = eps + np.arange(0.0, 1.0, eps)
        cw = np.cumsum(w)
        new_cw = np.interp(pct, cw / cw[-1], cw)
        return np.interp(pct, cw / cw[-1], pts), np.diff(np.concatenate([[0.0], new_cw]))

    pts, w = compress(pts, w, epsilon)
    return compress(pts, w, 1.0 / num_bins)[0][:-1]


def test_discretization_adapt_summarizes_an_array_at_once_as_keras3():
    # Keras 3.15 adapt() feeds a NumPy array to update_state whole and its summarize() keeps
    # values from index int(step - 1); nabi cut the array into batches of 32 and used Keras
    # 2's summarize (from index int(step)), so the boundaries moved (263/506/760 here).
    x = np.random.default_rng(3).permutation(1000).astype(np.float32)
    ref = _keras3_quantile_boundaries(x, 4, 0.01)
    np.testing.assert_allclose(ref, [249.0, 499.0, 749.0])
    for data in (x, x[:, None]):
        d = layers.Discretization(num_bins=4, epsilon=0.01)
        d.adapt(data)
        np.testing.assert_allclose(d.bin_boundaries, ref, atol=1e-3)
    y = np.random.default_rng(4).normal(size=777).astype(np.float32)
    d = layers.Discretization(num_bins=5, epsilon=0.001)
    d.adapt(y)
    np.testing.assert_allclose(d.bin_boundaries, _keras3_quantile_boundaries(y, 5, 0.001),
                               atol=1e-5)


def test_resizing_pad_to_aspect_ratio():
    # Keras 3.15 Resizing(pad_to_aspect_ratio=True, fill_value=v): pad int((ph - H) / 2) rows
    # (and columns) of v on both sides, ph = max(H, int(W * height / width)), then resize.
    # nabi refused the argument.
    img = np.arange(8, dtype=np.float32).reshape(2, 4, 1) + 1
    padded = np.pad(img, ((1, 1), (0, 0), (0, 0)), constant_values=7.0)     # (4, 4, 1)
    layer = layers.Resizing(4, 4, pad_to_aspect_ratio=True, fill_value=7.0)
    assert_array(layer(img), padded, dtype="float32")
    assert_array(layers.Resizing(8, 8, pad_to_aspect_ratio=True)(img[None]),
                 _bilinear_ref(np.pad(img, ((1, 1), (0, 0), (0, 0))).astype(np.float64),
                               8, 8)[None], dtype="float32")
    cfg = layer.get_config()
    assert cfg["pad_to_aspect_ratio"] is True and cfg["fill_value"] == 7.0
