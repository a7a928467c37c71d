"""nabi.io file and image functions and the Keras image utilities (load_img, img_to_array,
array_to_img, save_img, image_dataset_from_directory).

Images are written with Pillow into tmp_path from known NumPy arrays and read back with nabi;
expectations come from those arrays (channel conversions by the ITU-R 601-2 luma rule,
tf.image.resize's half-pixel bilinear / nearest written out here with loops) and, for the
directory datasets, from the file order, seeded permutation and split worked out by hand from
Keras's documented rules."""
import os
import subprocess
import sys

import numpy as np
import pytest

import nabi as tf
from nabi import keras

Image = pytest.importorskip("PIL.Image")

rng = np.random.default_rng(7)


def _luma(rgb):
    r, g, b = (rgb[..., k].astype(np.int64) for k in range(3))
    return ((r * 19595 + g * 38470 + b * 7471 + 32768) >> 16).astype(np.uint8)


def _gray_of(path, rgb):
    # TF refuses channels=1 for BMP and GIF; nabi converts those as Pillow does
    return (_png_luma(rgb) if str(path).endswith(".png") else _luma(rgb))[..., None]


def _png_luma(rgb):
    # TF decodes PNGs to one channel with libpng's rgb_to_gray(0.299, 0.587): 15-bit weights
    # truncated (9797, 19234, 3737), the sum truncated (checked against TF 2.21)
    r, g, b = (rgb[..., k].astype(np.int64) for k in range(3))
    return ((r * 9797 + g * 19234 + b * 3737) >> 15).astype(np.uint8)


def _save(path, a, mode=None, **kw):
    Image.fromarray(a, mode).save(path, **kw) if mode else Image.fromarray(a).save(path, **kw)
    return str(path)


def _bilinear(img, h, w):
    """tf.image.resize bilinear, half-pixel centres, no antialias: loops over outputs."""
    H, W, C = img.shape
    x = img.astype(np.float64)
    out = np.zeros((h, w, C))
    for i in range(h):
        sy = (i + 0.5) * H / h - 0.5
        y0 = int(np.floor(sy))
        fy = sy - y0
        ya, yb = min(max(y0, 0), H - 1), min(max(y0 + 1, 0), H - 1)
        for j in range(w):
            sx = (j + 0.5) * W / w - 0.5
            x0 = int(np.floor(sx))
            fx = sx - x0
            xa, xb = min(max(x0, 0), W - 1), min(max(x0 + 1, 0), W - 1)
            top = x[ya, xa] * (1 - fx) + x[ya, xb] * fx
            bot = x[yb, xa] * (1 - fx) + x[yb, xb] * fx
            out[i, j] = top * (1 - fy) + bot * fy
    return out


def _nearest(img, h, w):
    H, W, _ = img.shape
    rows = [min(int(np.floor((i + 0.5) * H / h)), H - 1) for i in range(h)]
    cols = [min(int(np.floor((j + 0.5) * W / w)), W - 1) for j in range(w)]
    return img[rows][:, cols]


# ============================================================================ tf.io files


def test_read_and_write_file(tmp_path):
    data = bytes(range(256)) * 3
    path = tmp_path / "sub" / "dir" / "blob.bin"
    tf.io.write_file(str(path), data)              # creates the directories, as TF does
    assert path.read_bytes() == data
    t = tf.io.read_file(tf.constant(str(path)))
    assert t.dtype == tf.string and tuple(t.shape) == ()
    assert t.numpy() == data
    tf.io.write_file(tmp_path / "copy.bin", t)
    assert (tmp_path / "copy.bin").read_bytes() == data
    with pytest.raises(FileNotFoundError, match=r"io.read_file.*missing"):
        tf.io.read_file(str(tmp_path / "missing"))
    with pytest.raises(TypeError, match=r"io.write_file.*contents"):
        tf.io.write_file(str(path), tf.zeros((2,)))
    assert tf.io.gfile.exists(str(path)) and tf.io.gfile.isdir(str(tmp_path / "sub"))
    assert tf.io.gfile.listdir(str(tmp_path / "sub" / "dir")) == ["blob.bin"]
    assert tf.io.gfile.glob(str(tmp_path / "*.bin")) == [str(tmp_path / "copy.bin")]


# ============================================================================ decoding


RGB = rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)
ALPHA = rng.integers(0, 256, (5, 7), dtype=np.uint8)
RGBA = np.dstack([RGB, ALPHA])
GRAY = rng.integers(0, 256, (5, 7), dtype=np.uint8)


def _expected(src, channels):
    """The image TF's decoders give for a file holding `src` (H, W, C)."""
    c = src.shape[-1]
    if channels in (0, None) or channels == c:
        return src
    gray = src[..., :1] if c <= 2 else _png_luma(src)[..., None]
    if channels == 1:
        return gray
    rgb = np.repeat(gray, 3, -1) if c <= 2 else src[..., :3]
    if channels == 3:
        return rgb
    alpha = src[..., -1:] if c in (2, 4) else np.full(src.shape[:2] + (1,), 255, np.uint8)
    return np.concatenate([rgb, alpha], -1)


@pytest.mark.parametrize("kind", ["rgb", "rgba", "gray", "gray_alpha", "palette"])
@pytest.mark.parametrize("channels", [0, 1, 3, 4])
def test_decode_png_channels(tmp_path, kind, channels):
    if kind == "rgb":
        src, path = RGB, _save(tmp_path / "a.png", RGB)
    elif kind == "rgba":
        src, path = RGBA, _save(tmp_path / "a.png", RGBA)
    elif kind == "gray":
        src, path = GRAY[..., None], _save(tmp_path / "a.png", GRAY)
    elif kind == "gray_alpha":
        src = np.dstack([GRAY, ALPHA])
        path = _save(tmp_path / "a.png", src, "LA")
    else:   # a palette image: its pixels are the palette's RGB colours
        idx = rng.integers(0, 4, (5, 7), dtype=np.uint8)
        pal = rng.integers(0, 256, (4, 3), dtype=np.uint8)
        img = Image.fromarray(idx, "P")
        img.putpalette(pal.reshape(-1).tolist())
        path = str(tmp_path / "a.png")
        img.save(path)
        src = pal[idx]
    t = tf.io.decode_png(tf.io.read_file(path), channels=channels)
    want = _expected(src, channels)
    assert t.dtype == tf.uint8 and tuple(t.shape) == want.shape
    np.testing.assert_array_equal(t.numpy(), want)
    u = tf.io.decode_image(tf.io.read_file(path), channels=channels or None)
    np.testing.assert_array_equal(u.numpy(), want)


def test_decode_on_every_device(where, tmp_path):
    path = _save(tmp_path / "a.png", RGB)
    with tf.device(where):
        t = tf.io.decode_png(tf.io.read_file(path))
        assert "CPU" in t.device and t.dtype == tf.uint8   # decoded on the host, as in TF
        np.testing.assert_array_equal(t.numpy(), RGB)
        f = tf.io.decode_image(tf.io.read_file(path), dtype=tf.float32)
        assert f.dtype == tf.float32
        np.testing.assert_allclose(f.numpy(), RGB / 255.0, rtol=1e-6)
        s = tf.cast(t, tf.float32) * 2.0          # usable with other ops on the device
        np.testing.assert_allclose(s.numpy(), RGB * 2.0)


def test_decode_jpeg_bmp_gif_and_16_bit(tmp_path):
    smooth = np.clip(np.add.outer(np.arange(16) * 8, np.arange(16) * 4)[..., None]
                     + np.array([0, 40, 80]), 0, 255).astype(np.uint8)
    jpg = _save(tmp_path / "a.jpg", smooth, quality=95)
    t = tf.io.decode_jpeg(tf.io.read_file(jpg))
    assert tuple(t.shape) == (16, 16, 3)
    np.testing.assert_array_equal(t.numpy(), np.asarray(Image.open(jpg)))  # the decoder's view
    assert np.abs(t.numpy().astype(int) - smooth).mean() < 4            # close to the source
    assert bool(tf.io.is_jpeg(tf.io.read_file(jpg)).numpy())
    g = tf.io.decode_jpeg(tf.io.read_file(jpg), channels=1)
    y_plane = Image.open(jpg)  # TF: libjpeg decodes straight to gray, the file's Y plane
    y_plane.draft("YCbCr", y_plane.size)
    np.testing.assert_array_equal(g.numpy()[..., 0], np.asarray(y_plane.convert("YCbCr"))[..., 0])
    assert np.abs(g.numpy()[..., 0].astype(int) - _luma(t.numpy())).max() <= 1
    bmp = _save(tmp_path / "a.bmp", RGB)
    np.testing.assert_array_equal(tf.io.decode_bmp(tf.io.read_file(bmp)).numpy(), RGB)
    np.testing.assert_array_equal(tf.io.decode_image(tf.io.read_file(bmp)).numpy(), RGB)
    # an animated GIF: every frame with expand_animations, else the first
    frames = [np.full((4, 5, 3), v, np.uint8) for v in (0, 120, 250)]
    gif = str(tmp_path / "a.gif")
    Image.fromarray(frames[0]).save(gif, save_all=True,
                                    append_images=[Image.fromarray(f) for f in frames[1:]])
    anim = tf.io.decode_image(tf.io.read_file(gif))
    assert tuple(anim.shape) == (3, 4, 5, 3)
    np.testing.assert_array_equal(anim.numpy(), np.stack(frames))
    np.testing.assert_array_equal(tf.io.decode_gif(tf.io.read_file(gif)).numpy(),
                                  np.stack(frames))
    first = tf.io.decode_image(tf.io.read_file(gif), expand_animations=False)
    np.testing.assert_array_equal(first.numpy(), frames[0])
    # 16-bit grayscale PNG: uint8 keeps the high byte; float32 scales by 65535
    deep = rng.integers(0, 65536, (3, 4), dtype=np.uint16)
    p16 = str(tmp_path / "deep.png")
    Image.fromarray(deep).save(p16)
    np.testing.assert_array_equal(tf.io.decode_png(tf.io.read_file(p16)).numpy()[..., 0],
                                  (deep >> 8).astype(np.uint8))
    np.testing.assert_allclose(tf.io.decode_image(tf.io.read_file(p16),
                                                  dtype=tf.float32).numpy()[..., 0],
                               deep / 65535.0, rtol=1e-6)


def test_decode_errors():
    with pytest.raises(ValueError, match=r"io.decode_png.*could not decode.*9 bytes"):
        tf.io.decode_png(b"not a png")
    with pytest.raises(ValueError, match=r"io.decode_png.*channels.*2"):
        tf.io.decode_png(b"x", channels=2)
    with pytest.raises(TypeError, match=r"io.decode_image.*contents.*float32.*\(3,\)"):
        tf.io.decode_image(tf.zeros((3,)))
    with pytest.raises(ValueError, match=r"io.decode_png.*uint16"):
        tf.io.decode_png(b"x", dtype="int32")


def test_encode_png_and_jpeg_round_trip(tmp_path):
    for a in (RGB, RGBA, GRAY[..., None]):
        enc = tf.io.encode_png(tf.constant(a))
        assert enc.dtype == tf.string and enc.numpy()[:8] == b"\x89PNG\r\n\x1a\n"
        np.testing.assert_array_equal(tf.io.decode_png(enc).numpy(), a)
        # and Pillow reads what nabi wrote
        path = str(tmp_path / "e.png")
        tf.io.write_file(path, enc)
        np.testing.assert_array_equal(np.asarray(Image.open(path)).reshape(a.shape), a)
    j = tf.io.encode_jpeg(RGB, quality=90)
    assert j.numpy()[:3] == b"\xff\xd8\xff"
    assert tuple(tf.io.decode_jpeg(j).shape) == RGB.shape
    with pytest.raises(ValueError, match=r"io.encode_png.*\(5, 7\)"):
        tf.io.encode_png(GRAY)
    with pytest.raises(TypeError, match=r"io.encode_png.*uint8.*float32"):
        tf.io.encode_png(RGB.astype(np.float32))
    with pytest.raises(TypeError, match=r"io.encode_png.*uint8.*int32"):
        tf.io.encode_png(RGB.astype(np.int32) * 2)        # other integers only within 0..255
    with pytest.raises(ValueError, match=r"io.encode_jpeg.*\(5, 7, 4\)"):
        tf.io.encode_jpeg(RGBA)


def test_missing_pillow_is_a_clear_import_error(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "PIL", None)
    monkeypatch.setitem(sys.modules, "PIL.Image", None)
    for call in (lambda: tf.io.decode_png(b"x"), lambda: tf.io.encode_png(RGB),
                 lambda: keras.utils.load_img("x.png"), lambda: keras.utils.array_to_img(RGB),
                 lambda: keras.utils.save_img(str(tmp_path / "x.png"), RGB)):
        with pytest.raises(ImportError, match=r"Pillow.*nabi\[image\]"):
            call()
    # nabi and its Keras utilities import without Pillow
    code = ("import sys; sys.modules['PIL'] = None; import nabi; import nabi.keras.utils; "
            "nabi.io.read_file; print('ok')")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


# ============================================================================ Keras image utils


def test_load_img_and_img_to_array(tmp_path):
    path = _save(tmp_path / "a.png", RGBA)
    img = keras.utils.load_img(path)
    assert img.mode == "RGB" and img.size == (7, 5)
    a = keras.utils.img_to_array(img)
    assert a.dtype == np.float32 and a.shape == (5, 7, 3)
    np.testing.assert_array_equal(a, RGB)
    np.testing.assert_array_equal(keras.utils.img_to_array(img, data_format="channels_first"),
                                  RGB.transpose(2, 0, 1))
    g = keras.utils.img_to_array(keras.utils.load_img(path, color_mode="grayscale"))
    assert g.shape == (5, 7, 1)
    np.testing.assert_array_equal(g[..., 0], _luma(RGB))
    rgba = keras.utils.img_to_array(keras.utils.load_img(path, color_mode="rgba"))
    np.testing.assert_array_equal(rgba, RGBA)
    small = keras.utils.load_img(path, target_size=(3, 4), interpolation="nearest")
    assert small.size == (4, 3)
    with pytest.raises(ValueError, match=r"load_img.*color_mode"):
        keras.utils.load_img(path, color_mode="cmyk")
    with pytest.raises(ValueError, match=r"img_to_array.*Unsupported image shape"):
        keras.utils.img_to_array(np.zeros((2, 2, 2, 2)))


def test_array_to_img_is_a_pil_image():
    x = rng.random((4, 6, 3)) * 3 - 1
    img = keras.utils.array_to_img(x)
    assert isinstance(img, Image.Image) and img.mode == "RGB" and img.size == (6, 4)
    want = ((x - x.min()) / (x - x.min()).max() * 255).astype(np.uint8)   # truncated, as Keras
    np.testing.assert_array_equal(np.asarray(img), want)
    assert keras.utils.array_to_img(rng.random((2, 2, 4))).mode == "RGBA"
    assert keras.utils.array_to_img(rng.random((2, 2, 1))).mode == "L"
    deep = keras.utils.array_to_img(np.full((2, 2, 1), 1000.0), scale=False)
    assert deep.mode == "I" and np.asarray(deep).max() == 1000
    cf = keras.utils.array_to_img(RGB.transpose(2, 0, 1).astype(np.float32),
                                  data_format="channels_first", scale=False)
    np.testing.assert_array_equal(np.asarray(cf), RGB)
    np.testing.assert_array_equal(np.asarray(keras.utils.array_to_img(tf.constant(RGB * 1.0),
                                                                      scale=False)), RGB)
    with pytest.raises(ValueError, match=r"array_to_img.*rank 3.*\(5, 7\)"):
        keras.utils.array_to_img(GRAY)
    with pytest.raises(ValueError, match=r"array_to_img.*channel number: 2"):
        keras.utils.array_to_img(np.zeros((2, 2, 2)))


def test_save_img(tmp_path):
    path = str(tmp_path / "s.png")
    keras.utils.save_img(path, RGB.astype(np.float32), scale=False)
    np.testing.assert_array_equal(np.asarray(Image.open(path)), RGB)
    with pytest.warns(UserWarning, match="RGBA"):
        keras.utils.save_img(str(tmp_path / "s.jpg"), RGBA.astype(np.float32), scale=False)
    assert Image.open(str(tmp_path / "s.jpg")).mode == "RGB"


# ============================================================================ datasets


def _make_tree(root):
    """Three classes with known images of mixed sizes and formats (and files to ignore).
    Returns {path: (class index, the array the file holds)} for the lossless files."""
    spec = {"cats": ["b.png", "a.png", "sub/c.bmp"], "dogs": ["z.png", "y.gif"],
            "eels": ["m.png", "k.png", "notes.txt"]}
    files = {}
    for ci, (cls, names) in enumerate(sorted(spec.items())):
        for n in names:
            p = root / cls / n
            p.parent.mkdir(parents=True, exist_ok=True)
            if n.endswith(".txt"):
                p.write_text("not an image")
                continue
            h, w = int(rng.integers(4, 9)), int(rng.integers(4, 9))
            if n.endswith(".gif"):   # a flat colour survives the GIF palette exactly
                a = np.full((h, w, 3), rng.integers(0, 256, 3), np.uint8)
            else:
                a = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
            Image.fromarray(a).save(p)
            files[str(p)] = (ci, a)
    return files


def _sorted_paths(root):
    # Keras: classes sorted; in each, directories walked in sorted order, names sorted
    return [str(root / p) for p in ["cats/a.png", "cats/b.png", "cats/sub/c.bmp",
                                    "dogs/y.gif", "dogs/z.png", "eels/k.png", "eels/m.png"]]


def test_image_dataset_order_labels_and_resize(where, tmp_path):
    files = _make_tree(tmp_path)
    paths = _sorted_paths(tmp_path)
    with tf.device(where):
        ds = keras.utils.image_dataset_from_directory(tmp_path, image_size=(5, 6), batch_size=3,
                                                      shuffle=False)
        assert ds.class_names == ["cats", "dogs", "eels"]
        assert ds.file_paths == paths
        batches = list(ds)
        assert [tuple(x.shape) for x, _ in batches] == [(3, 5, 6, 3), (3, 5, 6, 3),
                                                        (1, 5, 6, 3)]
        images = np.concatenate([x.numpy() for x, _ in batches])
        labels = np.concatenate([y.numpy() for _, y in batches])
        assert batches[0][0].dtype == tf.float32 and batches[0][1].dtype == tf.int32
        np.testing.assert_array_equal(labels, [files[p][0] for p in paths])
        for img, p in zip(images, paths):
            np.testing.assert_allclose(img, _bilinear(files[p][1], 5, 6), rtol=1e-5, atol=1e-3)
        # nearest keeps uint8; grayscale / rgba channels; categorical and binary labels
        near = keras.utils.image_dataset_from_directory(
            tmp_path, image_size=(3, 3), interpolation="nearest", shuffle=False, batch_size=None,
            label_mode="categorical", color_mode="grayscale")
        elems = list(near)
        # uint8 (nabi's GPU stores integers as int64, so a GPU batch holds int64)
        assert len(elems) == 7
        assert elems[0][0].dtype == (tf.uint8 if "CPU" in where else tf.int64)
        for (x, y), p in zip(elems, paths):
            np.testing.assert_array_equal(x.numpy()[..., 0],
                                          _nearest(_gray_of(p, files[p][1]), 3, 3)[..., 0])
            np.testing.assert_array_equal(y.numpy(), np.eye(3, dtype=np.float32)[files[p][0]])
        rgba = next(iter(keras.utils.image_dataset_from_directory(
            tmp_path, image_size=(2, 2), color_mode="rgba", shuffle=False, labels=None)))
        assert tuple(rgba.shape) == (7, 2, 2, 4)
        np.testing.assert_allclose(rgba.numpy()[..., 3], 255.0)


def test_image_dataset_seeded_shuffle_and_split(tmp_path):
    files = _make_tree(tmp_path)
    paths = _sorted_paths(tmp_path)
    order = np.arange(len(paths))
    np.random.RandomState(42).shuffle(order)              # Keras's global permutation
    shuffled = [paths[i] for i in order]
    n_val = int(0.3 * len(paths))                          # 2: the last two files
    train, val = keras.utils.image_dataset_from_directory(
        tmp_path, image_size=(4, 4), batch_size=2, seed=42, validation_split=0.3,
        subset="both", label_mode="int")
    assert train.file_paths == shuffled[:-n_val] and val.file_paths == shuffled[-n_val:]
    assert train.class_names == val.class_names == ["cats", "dogs", "eels"]
    only_val = keras.utils.image_dataset_from_directory(
        tmp_path, image_size=(4, 4), seed=42, validation_split=0.3, subset="validation")
    assert only_val.file_paths == shuffled[-n_val:]
    # the validation subset of "both" is not reshuffled: its batches follow file_paths
    x, y = next(iter(val))
    for img, lab, p in zip(x.numpy(), y.numpy(), val.file_paths):
        assert lab == files[p][0]
        np.testing.assert_allclose(img, _bilinear(files[p][1], 4, 4), rtol=1e-5, atol=1e-3)
    # training batches are shuffled per epoch, but each image keeps its label
    refs = {p: _bilinear(a, 4, 4) for p, (_, a) in files.items()}
    seen = []
    for xb, yb in train:
        for img, lab in zip(xb.numpy(), yb.numpy()):
            match = [p for p in train.file_paths if np.allclose(img, refs[p], atol=1e-3)]
            assert len(match) == 1 and files[match[0]][0] == lab
            seen.append(match[0])
    assert sorted(seen) == sorted(train.file_paths)


def test_image_dataset_binary_crop_and_explicit_labels(tmp_path):
    root = tmp_path / "two"
    for cls in ("no", "yes"):
        (root / cls).mkdir(parents=True)
    wide = rng.integers(0, 256, (4, 10, 3), dtype=np.uint8)
    _save(root / "no" / "w.png", wide)
    _save(root / "yes" / "w.png", wide)
    ds = keras.utils.image_dataset_from_directory(root, image_size=(4, 4), label_mode="binary",
                                                  shuffle=False, crop_to_aspect_ratio=True)
    x, y = next(iter(ds))
    np.testing.assert_array_equal(y.numpy(), [[0.0], [1.0]])
    # smart_resize: the centred 4x4 window of the 4x10 image (columns 3..6), resized 4x4
    np.testing.assert_allclose(x.numpy()[0], wide[:, 3:7].astype(np.float32))
    given = keras.utils.image_dataset_from_directory(root, labels=[5, 3], image_size=(2, 2),
                                                     shuffle=False)
    assert given.class_names == [3, 5]
    np.testing.assert_array_equal(next(iter(given))[1].numpy(), [5, 3])


def test_image_dataset_errors(tmp_path):
    _make_tree(tmp_path)
    fn = keras.utils.image_dataset_from_directory
    with pytest.raises(ValueError, match=r"image_dataset_from_directory.*color_mode"):
        fn(tmp_path, color_mode="cmyk")
    with pytest.raises(ValueError, match=r"image_dataset_from_directory.*seed"):
        fn(tmp_path, validation_split=0.2, subset="training")
    with pytest.raises(ValueError, match=r"image_dataset_from_directory.*exactly 2"):
        fn(tmp_path, label_mode="binary")
    with pytest.raises(ValueError, match=r"image_dataset_from_directory.*does not exist"):
        fn(tmp_path / "nope")
    with pytest.raises(NotImplementedError, match=r"image_dataset_from_directory.*bicubic"):
        fn(tmp_path, interpolation="bicubic")
    with pytest.raises(ValueError, match=r"image_dataset_from_directory.*image_size"):
        fn(tmp_path, image_size=(0, 3))
    with pytest.raises(ValueError, match=r"image_dataset_from_directory.*class_names"):
        fn(tmp_path, class_names=["cats", "dogs"])
    with pytest.raises(ValueError, match=r"image_dataset_from_directory.*batch_size=0"):
        fn(tmp_path, batch_size=0)
    with pytest.raises(ValueError, match=r"image_dataset_from_directory.*image files.*"
                                         r"only contains images"):
        fn(tmp_path, labels="cats")
    with pytest.raises(ValueError, match=r"image_dataset_from_directory.*label_mode="):
        fn(tmp_path, label_mode="sparse")
    with pytest.raises(ValueError, match=r"only pass `class_names`"):
        fn(tmp_path, labels=[0, 1, 0], class_names=["a", "b"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=r"No images found.*Allowed formats"):
        fn(tmp_path / "empty")
    assert keras.preprocessing.image_dataset_from_directory is fn
