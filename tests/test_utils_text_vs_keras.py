"""Differential findings of nabi's Keras utilities against TF 2.21 / Keras 3.15 (text,
sequence, keras.utils, image and directory datasets). References are NumPy or plain Python
written from Keras's documented behaviour; each test says what nabi did before its fix."""
import numpy as np
import pytest

from nabi.keras import utils

PIL = pytest.importorskip("PIL.Image")


def _pil_bilinear_1d(row, out_size, box0, box1):
    """PIL's bilinear resample of one row onto out_size pixels from the source interval
    [box0, box1) (upscaling: a triangle of support 1 around each output centre, weights
    renormalised over the source pixels that exist, so pixels just outside the box count)."""
    scale = (box1 - box0) / out_size
    out = np.zeros(out_size)
    for i in range(out_size):
        centre = box0 + (i + 0.5) * scale
        j = np.arange(len(row))
        w = np.clip(1.0 - np.abs(j + 0.5 - centre), 0.0, None)
        out[i] = (w * row).sum() / w.sum()
    return out


def test_load_img_keep_aspect_ratio_resizes_from_the_box(tmp_path):
    # Keras resizes with PIL's resize(box=centred box): the filter reads the pixels just
    # outside the box. nabi cropped first, then resized the crop, so the edge columns lost
    # their neighbours (0 where Keras gives ~42 here).
    img = np.zeros((4, 8), np.uint8)
    img[:, :2] = 255          # outside the centred 4x4 box, columns 2..5
    img[:, 6:] = 255
    path = tmp_path / "edge.png"
    PIL.fromarray(img).save(path)
    got = utils.img_to_array(utils.load_img(path, color_mode="grayscale", target_size=(6, 6),
                                            interpolation="bilinear", keep_aspect_ratio=True))
    ref = _pil_bilinear_1d(img[0].astype(np.float64), 6, 2, 6)   # rows are constant
    assert got.shape == (6, 6, 1)
    np.testing.assert_allclose(got[..., 0], np.tile(ref, (6, 1)), atol=1.0)
    assert got[0, 0, 0] > 30      # the neighbour column outside the box blends in


def _write_class_images(root, arrays):
    for cls, imgs in arrays.items():
        (root / cls).mkdir(parents=True)
        for i, a in enumerate(imgs):
            PIL.fromarray(a).save(root / cls / f"{i}.png")


def test_image_dataset_pad_to_aspect_ratio_channels_first_verbose(tmp_path, capsys):
    # Keras 3's pad_to_aspect_ratio / data_format / verbose: nabi raised TypeError
    # ("Unknown keywords argument(s)") for all three.
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (4, 8, 3), dtype=np.uint8)   # fits 8x8 unresized: 2 rows each side
    b = rng.integers(0, 256, (3, 8, 3), dtype=np.uint8)   # (8 - 3) / 2 = 2.5: 2 above, 3 below
    _write_class_images(tmp_path, {"a": [a], "b": [b]})
    ds = utils.image_dataset_from_directory(tmp_path, image_size=(8, 8), batch_size=2,
                                            shuffle=False, pad_to_aspect_ratio=True,
                                            verbose=False)
    assert capsys.readouterr().out == ""
    x, y = next(iter(ds))
    ref = np.stack([np.pad(a, ((2, 2), (0, 0), (0, 0))), np.pad(b, ((2, 3), (0, 0), (0, 0)))])
    np.testing.assert_allclose(np.asarray(x), ref.astype(np.float32), atol=1e-4)
    assert np.asarray(y).tolist() == [0, 1]

    ds = utils.image_dataset_from_directory(tmp_path / "a", labels=None, image_size=(4, 8),
                                            shuffle=False, data_format="channels_first")
    x = np.asarray(next(iter(ds)))
    np.testing.assert_allclose(x, a.transpose(2, 0, 1)[None].astype(np.float32), atol=1e-4)
    with pytest.raises(ValueError, match="pad_to_aspect_ratio"):
        utils.image_dataset_from_directory(tmp_path, pad_to_aspect_ratio=True,
                                           crop_to_aspect_ratio=True)


def test_text_and_audio_datasets_accept_verbose(tmp_path, capsys):
    # nabi raised TypeError (unexpected keyword argument 'verbose')
    (tmp_path / "pos").mkdir()
    (tmp_path / "pos" / "t.txt").write_text("good")
    ds = utils.text_dataset_from_directory(tmp_path, shuffle=False, verbose=False)
    assert capsys.readouterr().out == ""
    assert [t.decode() for t in np.asarray(next(iter(ds))[0]).tolist()] == ["good"]
    with pytest.raises(ValueError, match="No audio files"):
        utils.audio_dataset_from_directory(tmp_path, verbose=False)


def test_get_file_hash_mismatch_is_a_value_error(tmp_path):
    # Keras 2.15 and 3.15 raise ValueError ("Incomplete or corrupted file detected"); nabi
    # raised OSError, which an `except ValueError` written for Keras did not catch.
    import hashlib
    src = tmp_path / "src.txt"
    src.write_bytes(b"hello")
    cache = tmp_path / "cache"
    good = hashlib.sha256(b"hello").hexdigest()
    p = utils.get_file("ok.txt", origin=src.as_uri(), file_hash=good, cache_dir=str(cache))
    assert open(p, "rb").read() == b"hello"
    with pytest.raises(ValueError, match="hash"):
        utils.get_file("bad.txt", origin=src.as_uri(), file_hash="0" * 64, cache_dir=str(cache))


def test_normalize_keeps_a_tensor_a_tensor():
    # Keras 2 and 3 return a tensor for a tensor input (x / norm stays a tensor); nabi
    # returned a NumPy float64 array, so `.numpy()` on the result failed.
    import nabi
    x = np.array([[3.0, 4.0], [0.0, 0.0], [1.0, -2.0]], np.float32)
    ref = x / np.maximum(np.sqrt((x * x).sum(-1, keepdims=True)), 1e-30)
    ref[1] = 0.0
    out = utils.normalize(nabi.constant(x))
    assert isinstance(out, nabi.Tensor) and out.dtype == nabi.float32
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-6)
    out = utils.normalize(nabi.constant([[3, 4]]))          # integers: float32 result
    assert out.dtype == nabi.float32
    np.testing.assert_allclose(out.numpy(), [[0.6, 0.8]], rtol=1e-6)
    arr = utils.normalize(x.astype(np.float64))               # arrays stay arrays
    assert isinstance(arr, np.ndarray) and arr.dtype == np.float64


def test_directory_dataset_float_labels_are_float32(tmp_path):
    # Keras feeds a list of Python float labels to from_tensor_slices: float32 batches. nabi
    # kept NumPy's float64.
    for i in range(3):
        (tmp_path / f"{i}.txt").write_text(f"text {i}")
    labels = [0.5, 1.5, 2.0]
    ds = utils.text_dataset_from_directory(tmp_path, labels=labels, shuffle=False, batch_size=3)
    _, y = next(iter(ds))
    assert np.asarray(y).dtype == np.float32
    np.testing.assert_array_equal(np.asarray(y), np.array(labels, np.float32))


def test_backend_dot_nd_follows_np_dot_with_gradients():
    # Keras's K.dot contracts x's last axis with y's second-to-last for n-D y (np.dot's rule):
    # (2, 3, 4) . (2, 4, 5) -> (2, 3, 2, 5). nabi did a batched matmul: (2, 3, 5).
    import nabi
    from nabi.keras import backend as K
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 4)).astype(np.float32)
    y = rng.standard_normal((2, 4, 5)).astype(np.float32)
    w = rng.standard_normal((2, 3, 2, 5)).astype(np.float32)
    xv, yv = nabi.Variable(x), nabi.Variable(y)
    with nabi.GradientTape() as tape:
        out = K.dot(xv, yv)
        loss = nabi.reduce_sum(out * w)
    gx, gy = tape.gradient(loss, [xv, yv])
    np.testing.assert_allclose(out.numpy(), np.dot(x, y), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(gx.numpy(), np.einsum("abcd,ckd->abk", w, y), rtol=1e-4,
                               atol=1e-4)
    np.testing.assert_allclose(gy.numpy(), np.einsum("abcd,abk->ckd", w, x), rtol=1e-4,
                               atol=1e-4)
    m = rng.standard_normal((3, 4)).astype(np.float32)      # 2-D x, 3-D y: np.dot too
    np.testing.assert_allclose(K.dot(m, y).numpy(), np.dot(m, y), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(K.dot(x, y[0]).numpy(), np.dot(x, y[0]), rtol=1e-5, atol=1e-5)


def test_backend_sqrt_clips_and_bool_means_are_fractions():
    # K.sqrt clips negatives to 0 (nabi gave NaN); K.mean/std/var of a bool tensor average it
    # as floatx (nabi's mean returned a bool).
    import nabi
    from nabi.keras import backend as K
    v = np.array([4.0, -1.0, 0.0, 2.25], np.float32)
    np.testing.assert_array_equal(K.sqrt(nabi.constant(v)).numpy(), np.sqrt(np.maximum(v, 0)))
    b = np.array([[True, False, False], [True, True, False]])
    f = b.astype(np.float32)
    m = K.mean(nabi.constant(b))
    assert m.dtype == nabi.float32
    np.testing.assert_allclose(m.numpy(), f.mean(), rtol=1e-6)
    np.testing.assert_allclose(K.mean(nabi.constant(b), axis=1).numpy(), f.mean(1), rtol=1e-6)
    np.testing.assert_allclose(K.std(nabi.constant(b)).numpy(), f.std(), rtol=1e-6)
    np.testing.assert_allclose(K.var(nabi.constant(b), axis=0).numpy(), f.var(0), rtol=1e-6)


def test_backend_clip_none_bounds():
    # K.clip(x, None, hi) / K.clip(x, lo, None): Keras takes None as no bound; nabi returned
    # all NaN. Numeric bounds with max < min clip to min.
    import nabi
    from nabi.keras import backend as K
    v = np.array([[1.0, -2.0, 3.0]], np.float32)
    np.testing.assert_array_equal(K.clip(nabi.constant(v), None, 2.0).numpy(),
                                  np.minimum(v, 2.0))
    np.testing.assert_array_equal(K.clip(nabi.constant(v), 0.0, None).numpy(),
                                  np.maximum(v, 0.0))
    np.testing.assert_array_equal(K.clip(nabi.constant(v), 2.0, -1.0).numpy(),
                                  np.full_like(v, 2.0))


def test_smart_resize_accepts_a_batch():
    # Keras 2.15 / 3 smart_resize takes (H, W, C) or (B, H, W, C); nabi raised ValueError for
    # a batch. A 4x8 image to (4, 4) is its centred 4x4 crop (columns 2..5), no resampling.
    from nabi.keras.preprocessing.image import smart_resize
    rng = np.random.default_rng(1)
    batch = rng.random((2, 4, 8, 3)).astype(np.float32)
    out = smart_resize(batch, (4, 4))
    assert isinstance(out, np.ndarray) and out.shape == (2, 4, 4, 3)
    np.testing.assert_allclose(out, batch[:, :, 2:6, :], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(smart_resize(batch[1], (4, 4)), batch[1, :, 2:6, :], atol=1e-6)


def test_california_housing_load_data_from_a_local_npz(tmp_path):
    # keras.datasets.california_housing (Keras 3) was missing in nabi (AttributeError).
    # Reference: Keras 3's documented split, rows [:600] for 'small', RandomState(seed) shuffle.
    from nabi.keras import datasets
    rng = np.random.default_rng(4)
    x = rng.random((700, 8)).astype(np.float32)
    y = (rng.random(700) * 5e5).astype(np.float32)
    path = tmp_path / "california_housing.npz"
    np.savez(path, x=x, y=y)
    for version, n, split, seed in [("large", 700, 0.2, 113), ("small", 600, 0.5, 1)]:
        idx = np.arange(n)
        np.random.RandomState(seed).shuffle(idx)
        cut = int(n * (1 - split))
        (xt, yt), (xv, yv) = datasets.california_housing.load_data(
            version=version, path=str(path), test_split=split, seed=seed)
        np.testing.assert_array_equal(xt, x[:n][idx[:cut]])
        np.testing.assert_array_equal(yt, y[:n][idx[:cut]])
        np.testing.assert_array_equal(xv, x[:n][idx[cut:]])
        np.testing.assert_array_equal(yv, y[:n][idx[cut:]])
    with pytest.raises(ValueError, match="version"):
        datasets.california_housing.load_data(version="tiny", path=str(path))


def _keras_affine_reference(img_hwc, matrix3, order=1, mode="nearest", cval=0.0):
    """Keras 2.15's apply_affine_transform written out with scipy.ndimage: the 3x3 transform
    about the centre (h/2 - 0.5, w/2 - 0.5), rows and columns of it swapped (Keras builds it in
    (x, y) order; M' = P M P for col_axis > row_axis), then affine_transform per channel."""
    ndi = pytest.importorskip("scipy.ndimage")
    h, w = img_hwc.shape[:2]
    ox, oy = h / 2 - 0.5, w / 2 - 0.5
    off = np.array([[1, 0, ox], [0, 1, oy], [0, 0, 1]])
    reset = np.array([[1, 0, -ox], [0, 1, -oy], [0, 0, 1]])
    m = off @ matrix3 @ reset
    perm = np.array([[0, 1, 0], [1, 0, 0], [0, 0, 1]])
    m = perm @ m @ perm
    chans = [ndi.affine_transform(img_hwc[..., c], m[:2, :2], m[:2, 2], order=order, mode=mode,
                                  cval=cval) for c in range(img_hwc.shape[-1])]
    return np.stack(chans, -1)


def test_keras2_random_image_transforms():
    # tf.keras.preprocessing.image.random_rotation / random_shift / random_shear / random_zoom /
    # random_channel_shift / apply_channel_shift / random_brightness / apply_brightness_shift
    # were missing (AttributeError). Each draws from NumPy's global generator as Keras does.
    from nabi.keras.preprocessing import image as P
    rng = np.random.default_rng(0)
    x = (rng.random((7, 9, 3)) * 255).astype(np.float32)
    hwc = dict(row_axis=0, col_axis=1, channel_axis=2)

    np.random.seed(7)
    theta = np.deg2rad(np.random.uniform(-40, 40))
    np.random.seed(7)
    got = P.random_rotation(x, 40, **hwc)
    rot = np.array([[np.cos(theta), -np.sin(theta), 0], [np.sin(theta), np.cos(theta), 0],
                    [0, 0, 1]])
    np.testing.assert_allclose(got, _keras_affine_reference(x, rot), rtol=1e-4, atol=1e-3)

    np.random.seed(3)
    tx, ty = np.random.uniform(-0.3, 0.3) * 7, np.random.uniform(-0.2, 0.2) * 9
    np.random.seed(3)
    got = P.random_shift(x, 0.2, 0.3, **hwc)     # wrg, hrg
    shift = np.array([[1, 0, tx], [0, 1, ty], [0, 0, 1]])
    np.testing.assert_allclose(got, _keras_affine_reference(x, shift), rtol=1e-4, atol=1e-3)

    xc = np.moveaxis(x, -1, 0)                    # Keras's default axes: channels first
    state = np.random.get_state()[1].copy()
    np.testing.assert_array_equal(P.random_zoom(xc, (1, 1)), xc)   # no draw for (1, 1)
    np.testing.assert_array_equal(np.random.get_state()[1], state)
    with pytest.raises(ValueError, match="zoom_range"):
        P.random_zoom(xc, (0.5, 1.0, 2.0))

    np.random.seed(1)
    shift_i = np.random.uniform(-50.0, 50.0)
    np.random.seed(1)
    got = P.random_channel_shift(xc, 50.0)
    np.testing.assert_allclose(got, np.clip(xc + shift_i, xc.min(), xc.max()), rtol=1e-6)
    np.testing.assert_allclose(P.apply_channel_shift(x, -30.0, 2),
                               np.clip(x - 30.0, x.min(), x.max()), rtol=1e-6)

    img = np.floor(x)
    img[0, 0, 0], img[0, 1, 0] = 0.0, 255.0       # min-max scaling is then the identity
    np.testing.assert_allclose(P.apply_brightness_shift(img, 1.0), img, atol=1e-4)
    np.testing.assert_allclose(P.apply_brightness_shift(img, 0.5), img * 0.5, atol=1.0)
    with pytest.raises(ValueError, match="brightness_range"):
        P.random_brightness(img, (0.5,))
