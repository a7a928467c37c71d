"""tf.image / tf.signal corner cases where nabi once differed from TensorFlow 2.21, each
checked against a NumPy reference written here (the comments say what TF does)."""
import numpy as np
import pytest

import nabi as tf

F32 = np.float32


# ------------------------------------------------------------------------- resize (gaussian)


def _gaussian_resize_1d_ref(row, n_out, antialias):
    """TF's scale_and_translate with the gaussian kernel (radius 1.5, sigma 0.5), computed in
    float32 as TF's kernel does: sample = (o + 0.5) * (1 / scale), taps
    ceil(sample - 1.5 ks - 0.5) .. floor(sample + 1.5 ks - 0.5), weight exp(-d^2 / 0.5) for
    |d| < 1.5, else 0, normalised; with antialias a downscale stretches the kernel by
    ks = 1 / scale."""
    n_in = len(row)
    inv = F32(1.0) / (F32(n_out) / F32(n_in))
    ks = max(inv, F32(1.0)) if antialias else F32(1.0)
    out = np.zeros(n_out)
    for o in range(n_out):
        sample = F32(o + 0.5) * inv
        lo = min(max(int(np.ceil(sample - F32(1.5) * ks - F32(0.5))), 0), n_in - 1)
        hi = min(max(int(np.floor(sample + F32(1.5) * ks - F32(0.5))), 0), n_in - 1)
        ws = []
        for i in range(lo, hi + 1):
            d = abs((F32(i) + F32(0.5) - sample) * (F32(1.0) / ks))
            ws.append(0.0 if d >= 1.5 else float(np.exp(-float(d) ** 2 / 0.5)))
        ws = np.array(ws) / sum(ws)
        out[o] = float(np.dot(ws, row[lo:hi + 1]))
    return out


@pytest.mark.parametrize("n_in,n_out", [(4, 5), (4, 7), (6, 5), (4, 3), (8, 9)])
def test_resize_gaussian_sample_on_tap_edge(n_in, n_out):
    # TF 2.21: resizing a width of 4 to 5 with "gaussian" puts output 2's sample at exactly
    # 2.0 (2.5 * 0.8f in float32), so taps 0 and 3 lie at distance 1.5, the kernel's radius,
    # and get weight 0: out[2] = (x[1] + x[2]) / 2. nabi computed the position in float64
    # (2.00000003), dropped tap 0 and gave tap 3 a weight of 0.009.
    rng = np.random.default_rng(0)
    x = rng.random(n_in).astype(F32)
    img = x.reshape(1, n_in, 1)
    for antialias in (False, True):
        got = tf.image.resize(img, (1, n_out), method="gaussian", antialias=antialias).numpy()
        ref = _gaussian_resize_1d_ref(x, n_out, antialias)
        np.testing.assert_allclose(got[0, :, 0], ref, rtol=1e-5, atol=1e-6)
    if (n_in, n_out) == (4, 5):
        np.testing.assert_allclose(got[0, 2, 0], (x[1] + x[2]) / 2, rtol=1e-6)


def test_resize_preserve_aspect_ratio_to_zero_raises():
    # TF: a (3, 1) image fit into (1, 5) keeping the aspect ratio would be (1, 0): TF raises
    # "output dimensions must be positive"; nabi returned an empty (1, 0, 1) tensor.
    with pytest.raises(ValueError, match="resize"):
        tf.image.resize(np.ones((3, 1, 1), F32), (1, 5), preserve_aspect_ratio=True)
    assert tuple(tf.image.resize(np.ones((3, 1, 1), F32), (6, 5),
                                 preserve_aspect_ratio=True).shape) == (6, 2, 1)


def test_resize_with_pad_to_zero_side_raises():
    # TF: a (5, 7) image into a (1, 1) box resizes to (0, 1) and raises "output dimensions
    # must be positive"; nabi returned a zero image.
    with pytest.raises(ValueError, match="positive"):
        tf.image.resize_with_pad(np.ones((5, 7, 3), F32), 1, 1)


# ------------------------------------------------------------------- standardization, TV


def test_per_image_standardization_float16_gives_float32():
    # TF 2.21 casts every input to float32 (float16 too) and returns float32; nabi kept
    # float16.
    x = (np.arange(24).reshape(2, 3, 4) / 7.0).astype(np.float16)
    y = tf.image.per_image_standardization(x)
    assert y.dtype == tf.float32
    xf = x.astype(np.float64)
    ref = (xf - xf.mean()) / max(xf.std(), 1 / np.sqrt(xf.size))
    np.testing.assert_allclose(y.numpy(), ref, rtol=1e-5, atol=1e-5)


def test_total_variation_rejects_unsigned():
    # TF: total_variation of a uint8 image raises (no Abs kernel for uint8); nabi summed
    # wrapped uint8 differences (0 - 1 = 255).
    x = np.array([[[0], [1]], [[3], [0]]], np.uint8)
    with pytest.raises(TypeError, match="total_variation"):
        tf.image.total_variation(x)
    xi = x.astype(np.int32)
    ref = np.abs(np.diff(xi, axis=0)).sum() + np.abs(np.diff(xi, axis=1)).sum()
    assert int(tf.image.total_variation(xi).numpy()) == ref


# ------------------------------------------------------------------- saturate_cast, convert


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
@pytest.mark.parametrize("dtype,np_dtype", [("int32", np.int32), ("int64", np.int64),
                                            ("uint16", np.uint16), ("uint32", np.uint32)])
def test_saturate_cast_float16_infinity(dtype, np_dtype):
    # TF: saturate_cast clips to [max(in.min, out.min), min(in.max, out.max)] in the input
    # dtype, so float16 +-inf -> +-65504 (0 for unsigned) before the cast; nabi skipped the
    # clip when the target range was wider than float16's finite range and cast inf itself
    # (INT_MIN, or 0 for uint16).
    x = np.array([np.inf, -np.inf, 100.0, -3.0], np.float16)
    info = np.iinfo(np_dtype)
    ref = np.clip(np.array([65504.0, -65504.0, 100.0, -3.0]), max(info.min, -65504),
                  min(info.max, 65504)).astype(np_dtype)
    with tf.device("/CPU:0"):  # float16 lives on the host only (the GPU holds it as float32)
        got = tf.saturate_cast(x, dtype)
        np.testing.assert_array_equal(got.numpy(), ref)
        # convert_image_dtype(saturate=True) scales by max + 0.5, which overflows float16 to
        # inf: TF's result is then the clipped 65504 (for 1.0), as here
        img = np.array([1.0, 0.0], np.float16)
        conv = tf.image.convert_image_dtype(img, dtype, saturate=True).numpy()
    assert conv[0] == min(65504, info.max)


# --------------------------------------------------------------------------- extract_patches


def test_extract_patches_valid_negative_output_raises():
    # TF: VALID output size is C's (in - effective + stride) / stride (truncated); below 0 it
    # raises "Computed output size would be negative"; nabi returned an empty tensor. A
    # quotient truncated to 0 is an empty result in both.
    x = np.ones((1, 8, 8, 1), F32)
    with pytest.raises(ValueError, match="negative"):
        tf.image.extract_patches(x, [1, 1, 10, 1], [1, 1, 1, 1], [1, 1, 1, 1], "VALID")
    with pytest.raises(ValueError, match="negative"):  # rate 3: effective 1 + 3 * 3 = 10
        tf.image.extract_patches(x, [1, 1, 4, 1], [1, 1, 1, 1], [1, 1, 3, 1], "VALID")
    y = tf.image.extract_patches(x, [1, 1, 10, 1], [1, 1, 3, 1], [1, 1, 1, 1], "VALID")
    assert tuple(y.shape) == (1, 8, 0, 10)


# ------------------------------------------------------------------------------------ codecs


def test_decode_jpeg_channels_1_is_the_y_plane():
    # TF: decode_jpeg(channels=1) of a colour JPEG has libjpeg output JCS_GRAYSCALE, i.e. the
    # file's decoded Y plane; nabi took the luma of the decoded, clipped RGB (4-13 levels off
    # for saturated colours at quality 50). Reference: the Y of a YCbCr decode.
    Image = pytest.importorskip("PIL.Image")
    import io
    rng = np.random.default_rng(3)
    rgb = (rng.integers(0, 7, (16, 24, 3)) * 42).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=50)
    data = buf.getvalue()
    im = Image.open(io.BytesIO(data))
    im.draft("YCbCr", im.size)
    y_plane = np.asarray(im.convert("YCbCr"))[..., 0]
    got = tf.io.decode_jpeg(data, channels=1).numpy()
    assert got.shape == (16, 24, 1)
    np.testing.assert_array_equal(got[..., 0], y_plane)
    np.testing.assert_array_equal(tf.image.decode_image(data, channels=1).numpy()[..., 0],
                                  y_plane)


# ------------------------------------------------------------------------------------ signal


def test_inverse_stft_window_fn_zero_denominator_gives_zero():
    # TF: inverse_stft_window_fn returns where(denom == 0, 0, window / denom); with a periodic
    # hann window and frame_step == frame_length the first sample is 0 / 0. nabi gave nan,
    # which made inverse_stft's output nan at every frame start.
    n = 16
    hann = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n)
    ref = np.where(hann ** 2 == 0, 0.0, hann / np.where(hann ** 2 == 0, 1.0, hann ** 2))
    w = tf.signal.inverse_stft_window_fn(n)(n, dtype=tf.float32).numpy()
    assert not np.isnan(w).any()
    np.testing.assert_allclose(w, ref, rtol=1e-5)
    rng = np.random.default_rng(0)
    stfts = (rng.normal(size=(3, n // 2 + 1)) + 0j).astype(np.complex64)
    out = tf.signal.inverse_stft(stfts, n, n, n,
                                 window_fn=tf.signal.inverse_stft_window_fn(n)).numpy()
    frames = np.fft.irfft(stfts.astype(np.complex128), n) * ref
    np.testing.assert_allclose(out, frames.reshape(-1), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("step,length", [(1, 3), (2, 2), (3, 1), (4, 0), (6, 0)])
def test_overlap_and_add_no_frames(step, length):
    # TF: the output length is frame_length + frame_step * (frames - 1) even for 0 frames
    # (zeros of length 4 - step here, clipped at 0); nabi returned length 0.
    y = tf.signal.overlap_and_add(np.zeros((2, 0, 4), F32), step)
    assert tuple(y.shape) == (2, length)
    np.testing.assert_array_equal(y.numpy(), np.zeros((2, length), F32))


def test_dct_type1_length_rules():
    # TF: a type-1 DCT checks the input's length (>= 2) before n cuts or pads it, so n=1 is
    # allowed and gives x[..., :1] (the DCT-I of one sample), while a length-1 input raises
    # even with n=3; nabi checked n instead (raised for n=1, padded a length-1 input).
    x = np.array([[3.0, 1.0, 2.0], [5.0, 7.0, 1.0]], F32)
    for f in (tf.signal.dct, tf.signal.idct):
        np.testing.assert_array_equal(f(x, type=1, n=1).numpy(), x[:, :1])
        with pytest.raises(ValueError, match="type 1"):
            f(x[:, :1], type=1, n=3)
    # n=2 cuts to [x0, x1]: DCT-I of two samples is [x0 + x1, x0 - x1]
    np.testing.assert_allclose(tf.signal.dct(x, type=1, n=2).numpy(),
                               np.stack([x[:, 0] + x[:, 1], x[:, 0] - x[:, 1]], -1))


def _png16(img, filters):
    """A 16-bit PNG of img (H, W, C uint16, C = 2, 3 or 4) written here per the PNG spec, row
    y filtered with filters[y % len(filters)] (0 none, 1 sub, 2 up, 3 average, 4 paeth)."""
    import struct
    import zlib
    h, w, c = img.shape
    bpp = 2 * c
    rows = img.astype(">u2").view(np.uint8).reshape(h, w * bpp).astype(np.int64)
    out = bytearray()
    prev = np.zeros(w * bpp, np.int64)
    for y in range(h):
        f = filters[y % len(filters)]
        cur = rows[y]
        left = np.concatenate([np.zeros(bpp, np.int64), cur[:-bpp]])
        upleft = np.concatenate([np.zeros(bpp, np.int64), prev[:-bpp]])
        if f == 0:
            pred = np.zeros_like(cur)
        elif f == 1:
            pred = left
        elif f == 2:
            pred = prev
        elif f == 3:
            pred = (left + prev) // 2
        else:
            p = left + prev - upleft
            pa, pb, pc = np.abs(p - left), np.abs(p - prev), np.abs(p - upleft)
            pred = np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, prev, upleft))
        out.append(f)
        out += ((cur - pred) & 255).astype(np.uint8).tobytes()
        prev = cur

    def chunk(kind, body):
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))
    ctype = {2: 4, 3: 2, 4: 6}[c]
    head = struct.pack(">IIBBBBB", w, h, 16, ctype, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", head)
            + chunk(b"IDAT", zlib.compress(bytes(out))) + chunk(b"IEND", b""))


@pytest.mark.parametrize("c", [2, 3, 4])
def test_decode_16_bit_multichannel_png_keeps_16_bits(c):
    # TF: decode_image(dtype=float32) of a 16-bit RGB(A) / gray+alpha PNG is sample / 65535;
    # nabi went through Pillow, which keeps only the high byte for these modes (errors up to
    # 1 / 255). decode_png (uint8) is the high byte in both; channels=1 of 16-bit RGB is
    # libpng's (9797 R + 19234 G + 3737 B + 2^14) >> 15.
    pytest.importorskip("PIL.Image")
    rng = np.random.default_rng(c)
    img = rng.integers(0, 65536, (9, 7, c)).astype(np.uint16)
    img[0, 0] = 65535
    data = _png16(img, [0, 1, 2, 3, 4])
    f = tf.io.decode_image(data, dtype=tf.float32).numpy()
    np.testing.assert_allclose(f, img / 65535.0, rtol=1e-7, atol=0)
    np.testing.assert_array_equal(tf.io.decode_png(data).numpy(), (img >> 8).astype(np.uint8))
    if c >= 3:
        r, g, b = (img[..., k].astype(np.int64) for k in range(3))
        gray = (r * 9797 + g * 19234 + b * 3737 + 16384) >> 15
        got = tf.io.decode_image(data, channels=1, dtype=tf.float32).numpy()[..., 0]
        np.testing.assert_allclose(got, gray / 65535.0, rtol=1e-7, atol=0)


# ------------------------------------------------------------------------------- psnr, ssim


def _ssim_ref(x, y, max_val, fs, sigma=1.5, k1=0.01, k2=0.03):
    """SSIM of two (H, W, C) float64 images: Gaussian window over the valid region, mean over
    positions and channels (TF's definition)."""
    g = np.exp(-0.5 * (np.arange(fs) - (fs - 1) / 2) ** 2 / sigma ** 2)
    w = np.outer(g, g) / np.outer(g, g).sum()
    h, wd, c = x.shape

    def filt(t):
        return np.array([[[np.sum(w * t[i:i + fs, j:j + fs, k]) for k in range(c)]
                          for j in range(wd - fs + 1)] for i in range(h - fs + 1)])
    c1, c2 = (k1 * max_val) ** 2, (k2 * max_val) ** 2
    mx, my = filt(x), filt(y)
    sxx, syy, sxy = filt(x * x) - mx ** 2, filt(y * y) - my ** 2, filt(x * y) - mx * my
    s = ((2 * mx * my + c1) / (mx ** 2 + my ** 2 + c1)) * ((2 * sxy + c2) / (sxx + syy + c2))
    return s.mean()


def test_psnr_ssim_broadcast_batch_dims():
    # TF: psnr and ssim need equal (H, W, C) but broadcast the leading dims (a batch against
    # one reference of batch 1, or of no batch); nabi demanded identical shapes.
    rng = np.random.default_rng(5)
    batch = rng.random((2, 3, 8, 9, 2)).astype(F32)
    ref = rng.random((1, 8, 9, 2)).astype(F32)
    p = tf.image.psnr(batch, ref, 1.0).numpy()
    mse = ((batch.astype(np.float64) - ref) ** 2).mean(axis=(-3, -2, -1))
    np.testing.assert_allclose(p, 10 * np.log10(1.0 / mse), rtol=1e-5)
    s = tf.image.ssim(ref[0], batch, 1.0, filter_size=5).numpy()
    assert s.shape == (2, 3)
    want = np.array([[_ssim_ref(ref[0].astype(np.float64), batch[i, j].astype(np.float64),
                                1.0, 5) for j in range(3)] for i in range(2)])
    np.testing.assert_allclose(s, want, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="psnr"):
        tf.image.psnr(batch, batch[:, :2, :4], 1.0)


@pytest.mark.parametrize("axes", [None, 0, -1, [1, 0]])
def test_fftshift_ifftshift(axes):
    # TF: fftshift rolls each axis (all by default) by n // 2, ifftshift by -(n // 2);
    # nabi had neither. NumPy's fftshift is the same definition.
    rng = np.random.default_rng(2)
    x = rng.normal(size=(5, 4)).astype(F32)
    np.testing.assert_array_equal(tf.signal.fftshift(x, axes=axes).numpy(),
                                  np.fft.fftshift(x, axes=axes))
    np.testing.assert_array_equal(tf.signal.ifftshift(x, axes=axes).numpy(),
                                  np.fft.ifftshift(x, axes=axes))
    xt = tf.constant(x)
    c = np.arange(20.0, dtype=F32).reshape(5, 4)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        y = tf.reduce_sum(tf.signal.fftshift(xt, axes=axes) * c)
    # d/dx sum(shift(x) * c) = unshift(c)
    np.testing.assert_array_equal(tape.gradient(y, xt).numpy(), np.fft.ifftshift(c, axes=axes))


def _ssim_cs_per_channel(x, y, fs, sigma=1.5, k1=0.01, k2=0.03, max_val=1.0):
    """(mean SSIM, mean contrast-structure) per channel of (H, W, C) float64 images, the
    Gaussian window over the valid region (separable sums, NumPy)."""
    g = np.exp(-0.5 * (np.arange(fs) - (fs - 1) / 2) ** 2 / sigma ** 2)
    g /= g.sum()

    def filt(t):
        h, w = t.shape[0] - fs + 1, t.shape[1] - fs + 1
        rows = sum(g[i] * t[i:i + h] for i in range(fs))
        return sum(g[j] * rows[:, j:j + w] for j in range(fs))
    c1, c2 = (k1 * max_val) ** 2, (k2 * max_val) ** 2
    mx, my = filt(x), filt(y)
    sxx, syy, sxy = filt(x * x) - mx ** 2, filt(y * y) - my ** 2, filt(x * y) - mx * my
    cs = (2 * sxy + c2) / (sxx + syy + c2)
    lum = (2 * mx * my + c1) / (mx ** 2 + my ** 2 + c1)
    return (lum * cs).mean(axis=(0, 1)), cs.mean(axis=(0, 1))


def _halve_ref(t):
    if t.shape[0] % 2:
        t = np.concatenate([t, t[-1:]], 0)
    if t.shape[1] % 2:
        t = np.concatenate([t, t[:, -1:]], 1)
    return 0.25 * (t[0::2, 0::2] + t[1::2, 0::2] + t[0::2, 1::2] + t[1::2, 1::2])


def test_ssim_multiscale():
    # TF: ssim_multiscale = mean over channels of prod_k relu(cs_k) ** p_k (k < last) times
    # relu(ssim_last) ** p_last, halving between scales by 2x2 average pooling after
    # repeating the last row / column of an odd side; nabi had no ssim_multiscale.
    rng = np.random.default_rng(7)
    a = rng.random((2, 23, 26, 2)).astype(F32)
    b = np.clip(a + rng.normal(0, 0.2, a.shape), 0, 1).astype(F32)
    pf = (0.3, 0.5, 0.2)
    got = tf.image.ssim_multiscale(a, b, 1.0, power_factors=pf, filter_size=5).numpy()
    want = []
    for x, y in zip(a.astype(np.float64), b.astype(np.float64)):
        prod = 1.0
        for k, p in enumerate(pf):
            if k:
                x, y = _halve_ref(x), _halve_ref(y)
            s, cs = _ssim_cs_per_channel(x, y, 5)
            prod = prod * np.maximum(s if k == len(pf) - 1 else cs, 0) ** p
        want.append(prod.mean())
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)
    with pytest.raises(ValueError, match="ssim_multiscale"):  # 23 -> 12 -> 6 < 11
        tf.image.ssim_multiscale(a, b, 1.0, power_factors=pf)


# -------------------------------------------------------------------------------- drawing


def _draw_ref(img, boxes, table):
    """TF's DrawBoundingBoxes, one pixel at a time: corners float32(c) * (side - 1) cut toward
    0, inverted or fully outside boxes skipped, edges outside the image not drawn."""
    out = img.copy()
    n, h, w, d = img.shape
    for b in range(n):
        for k, (y0, x0, y1, x1) in enumerate(boxes[b]):
            col = table[k % len(table)][:d]
            r0, r1 = int(F32(y0) * F32(h - 1)), int(F32(y1) * F32(h - 1))
            c0, c1 = int(F32(x0) * F32(w - 1)), int(F32(x1) * F32(w - 1))
            if r0 > r1 or c0 > c1 or r0 >= h or r1 < 0 or c0 >= w or c1 < 0:
                continue
            for i in range(h):
                for j in range(w):
                    in_rows = max(r0, 0) <= i <= min(r1, h - 1)
                    in_cols = max(c0, 0) <= j <= min(c1, w - 1)
                    if (in_cols and i in (r0, r1)) or (in_rows and j in (c0, c1)):
                        out[b, i, j] = col
    return out


def test_draw_bounding_boxes():
    # TF: draw_bounding_boxes outlines each box in colour k % len(colors) (its 10-colour table
    # when colors is None, with channel 0 forced to 1 for grey images); nabi had none.
    rng = np.random.default_rng(9)
    img = rng.random((2, 7, 9, 3)).astype(F32)
    boxes = rng.uniform(-0.3, 1.3, (2, 8, 4)).astype(F32)
    boxes[:, 0] = [0, 0, 1, 1]
    boxes[:, 1] = [0.5, 0.5, 0.2, 0.9]      # inverted: skipped
    boxes[:, 2] = [-0.1, -0.2, 0.5, 0.5]    # top/left edges outside: only bottom/right drawn
    colors = np.array([[1.0, 0.0, 0.0, 1.0], [0.0, 0.3, 1.0, 0.5], [0.2, 0.2, 0.2, 1]], F32)
    got = tf.image.draw_bounding_boxes(img, boxes, colors).numpy()
    np.testing.assert_array_equal(got, _draw_ref(img, boxes, colors))
    table = np.array([[1, 1, 0, 1], [0, 0, 1, 1], [1, 0, 0, 1], [0, 1, 0, 1], [0.5, 0, 0.5, 1],
                      [0.5, 0.5, 0, 1], [0.5, 0, 0, 1], [0, 0, 0.5, 1], [0, 1, 1, 1],
                      [1, 0, 1, 1]], F32)
    np.testing.assert_array_equal(tf.image.draw_bounding_boxes(img, boxes).numpy(),
                                  _draw_ref(img, boxes, table))
    grey = img[..., :1]
    grey_table = table.copy()
    grey_table[:, 0] = 1
    np.testing.assert_array_equal(tf.image.draw_bounding_boxes(grey, boxes).numpy(),
                                  _draw_ref(grey, boxes, grey_table))
    with pytest.raises(ValueError, match="draw_bounding_boxes"):
        tf.image.draw_bounding_boxes(img[..., :2], boxes)


def test_adjust_jpeg_quality_round_trip():
    # TF: adjust_jpeg_quality = convert_image_dtype(uint8, saturate) -> encode at the quality
    # -> decode (same channels) -> back to the input dtype; with
    # dct_method='INTEGER_ACCURATE' TF 2.21 gives exactly this Pillow/libjpeg round trip.
    # nabi had no adjust_jpeg_quality.
    Image = pytest.importorskip("PIL.Image")
    import io
    rng = np.random.default_rng(4)
    img = (np.add.outer(np.arange(17) * 0.04, np.arange(21) * 0.03)[..., None]
           + np.array([0.0, 0.1, -0.2]) + rng.uniform(0, 0.1, (17, 21, 3))).astype(F32)
    img[0, 0] = [1.3, -0.2, 0.5]                       # saturated on the way to uint8
    u8 = np.clip(img.astype(np.float64) * 255.5, 0, 255).astype(np.uint8)
    for q, ch in ((30, 3), (90, 3), (60, 1)):
        src = u8[..., :ch]
        buf = io.BytesIO()
        Image.fromarray(src[..., 0] if ch == 1 else src).save(buf, format="JPEG", quality=q)
        dec = np.asarray(Image.open(io.BytesIO(buf.getvalue())))
        want = dec.reshape(src.shape).astype(np.float64) / 255.0
        got = tf.image.adjust_jpeg_quality(img[..., :ch], q)
        assert got.dtype == tf.float32
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-6, atol=1e-7)
    got8 = tf.image.stateless_random_jpeg_quality(u8, 40, 41, seed=(1, 2)).numpy()
    buf = io.BytesIO()
    Image.fromarray(u8).save(buf, format="JPEG", quality=40)
    np.testing.assert_array_equal(got8, np.asarray(Image.open(io.BytesIO(buf.getvalue()))))
    with pytest.raises(ValueError, match="adjust_jpeg_quality"):
        tf.image.adjust_jpeg_quality(img, 101)


# ------------------------------------------------------------------ distorted bounding box


def test_sample_distorted_bounding_box_constraints():
    # TF: returns begin [y, x, 0] and size [h, w, -1] in image_size's dtype and bboxes
    # (1, 1, 4) float32; the crop has its aspect ratio (w / h, rounded) and relative area in
    # the ranges and covers min_object_covered of a box, else it is the whole image. nabi
    # had no sample_distorted_bounding_box (its numbers are not TF's Philox ones).
    H, W = 60, 80
    boxes = np.array([[[0.1, 0.2, 0.5, 0.7], [0.6, 0.6, 0.9, 0.95]]], F32)
    rects = [(int(b[1] * W), int(b[0] * H), int(b[3] * W), int(b[2] * H)) for b in boxes[0]]
    for i in range(40):
        begin, size, bbox = tf.image.stateless_sample_distorted_bounding_box(
            np.array([H, W, 3], np.int32), boxes, seed=(i, 3), min_object_covered=0.3,
            aspect_ratio_range=(0.5, 2.0), area_range=(0.1, 0.8))
        assert begin.dtype == tf.int32 and size.dtype == tf.int32 and bbox.dtype == tf.float32
        (y, x, z), (h, w, m) = begin.numpy(), size.numpy()
        assert z == 0 and m == -1 and 0 <= y <= H - h and 0 <= x <= W - w
        np.testing.assert_allclose(bbox.numpy(), [[[y / H, x / W, (y + h) / H, (x + w) / W]]],
                                   rtol=1e-6)
        assert 0.1 * H * W <= h * w <= 0.8 * H * W
        assert round(h * 0.5) <= w <= round(h * 2.0)
        covered = [max(0, min(x + w, x1) - max(x, x0)) * max(0, min(y + h, y1) - max(y, y0))
                   / ((x1 - x0) * (y1 - y0)) for x0, y0, x1, y1 in rects]
        assert max(covered) >= 0.3
        again = tf.image.stateless_sample_distorted_bounding_box(
            np.array([H, W, 3], np.int32), boxes, seed=(i, 3), min_object_covered=0.3,
            aspect_ratio_range=(0.5, 2.0), area_range=(0.1, 0.8))
        np.testing.assert_array_equal(again[0].numpy(), begin.numpy())
    # impossible (a 5 x 300 image, half its area at aspect <= 1.33): the whole image
    begin, size, bbox = tf.image.sample_distorted_bounding_box(
        np.array([5, 300, 3], np.int64), np.array([[[0, 0, 1, 0.1]]], F32), seed=1,
        min_object_covered=0.9, area_range=(0.5, 1.0))
    assert begin.dtype == tf.int64
    np.testing.assert_array_equal(begin.numpy(), [0, 0, 0])
    np.testing.assert_array_equal(size.numpy(), [5, 300, -1])
    np.testing.assert_allclose(bbox.numpy(), [[[0, 0, 1, 1]]])
    with pytest.raises(ValueError, match="no bounding boxes"):
        tf.image.sample_distorted_bounding_box(np.array([5, 5, 3]), np.zeros((1, 0, 4), F32))
    with pytest.raises(ValueError, match=r"\[0.0, 1.0\]"):
        tf.image.sample_distorted_bounding_box(np.array([5, 5, 3]), np.full((1, 1, 4), 1.5, F32))


def test_psnr_ssim_uint8_numpy_keep_their_range():
    # TF: uint8 images are compared on the [0, 1] scale with max_val cast to uint8 then scaled
    # (255 -> 1.0). On nabi's GPU a uint8 NumPy array arrives as int64 and was scaled by
    # int64's range (1 / 9.2e18, SSIM constants near float32's smallest normal); now it is
    # converted with its own range first, as on the CPU.
    rng = np.random.default_rng(8)
    a = rng.integers(0, 256, (2, 12, 11, 3)).astype(np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-40, 40, a.shape), 0, 255).astype(np.uint8)
    fa, fb = a / 255.0, b / 255.0
    p = tf.image.psnr(a, b, 255).numpy()
    np.testing.assert_allclose(p, 10 * np.log10(1.0 / ((fa - fb) ** 2).mean(axis=(1, 2, 3))),
                               rtol=1e-5)
    s = tf.image.ssim(a, b, 255, filter_size=5).numpy()
    np.testing.assert_allclose(s, [_ssim_ref(fa[i], fb[i], 1.0, 5) for i in range(2)],
                               rtol=1e-4, atol=1e-5)
    # TF casts max_val to the images' dtype: 510 wraps to 254 in uint8 (nabi's GPU used 510)
    p510 = tf.image.psnr(a, b, 510).numpy()
    np.testing.assert_allclose(p510, p + 20 * np.log10(254 / 255), rtol=1e-5)


def _bmp32_bytes(rgba, top_down=False):
    """A 32-bit BI_RGB BMP written here: 14-byte file header, 40-byte info header, rows of
    B, G, R, A bytes, bottom row first unless top_down (negative height)."""
    import struct
    h, w, _ = rgba.shape
    px = rgba[..., [2, 1, 0, 3]]
    body = (px if top_down else px[::-1]).tobytes()
    info = struct.pack("<IiiHHIIiiII", 40, w, -h if top_down else h, 1, 32, 0, len(body),
                       2835, 2835, 0, 0)
    return b"BM" + struct.pack("<IHHI", 54 + len(body), 0, 0, 54) + info + body


@pytest.mark.parametrize("top_down", [False, True])
def test_decode_bmp_32_bit_keeps_fourth_byte(top_down):
    # TF: a 32-bit BMP decodes to 4 channels, the fourth byte read as alpha; nabi (Pillow)
    # returned 3 channels, dropping it as padding.
    pytest.importorskip("PIL.Image")
    rgba = np.random.default_rng(1).integers(0, 256, (3, 5, 4)).astype(np.uint8)
    data = _bmp32_bytes(rgba, top_down)
    np.testing.assert_array_equal(tf.io.decode_bmp(data).numpy(), rgba)
    np.testing.assert_array_equal(tf.io.decode_image(data).numpy(), rgba)
    np.testing.assert_array_equal(tf.io.decode_bmp(data, channels=4).numpy(), rgba)


@pytest.mark.parametrize("n", [1, 2, 5, 8, 33])
def test_kaiser_kbd_vorbis_windows(n):
    # TF: kaiser_window is numpy.kaiser; kaiser_bessel_derived_window the sqrt of the running
    # sum of an (n // 2 + 1)-point Kaiser window over its total, mirrored (2 * (n // 2)
    # values); vorbis_window sin(pi / 2 * sin(pi (k + 0.5) / n)^2). nabi had none of them.
    for beta in (0.0, 4.0, 12.0, 30.0):
        np.testing.assert_allclose(tf.signal.kaiser_window(n, beta, dtype=tf.float64).numpy(),
                                   np.kaiser(n, beta), rtol=1e-10, atol=1e-12)
        cs = np.cumsum(np.kaiser(n // 2 + 1, beta))
        half = np.sqrt(cs[:-1] / cs[-1])
        kbd = tf.signal.kaiser_bessel_derived_window(n, beta, dtype=tf.float64).numpy()
        np.testing.assert_allclose(kbd, np.concatenate([half, half[::-1]]), rtol=1e-10)
    k = np.arange(n)
    v = tf.signal.vorbis_window(n)
    assert v.dtype == tf.float32
    np.testing.assert_allclose(v.numpy(), np.sin(np.pi / 2 * np.sin(np.pi * (k + 0.5) / n) ** 2),
                               rtol=1e-6, atol=1e-7)
    # large beta stays finite (numpy.kaiser's I0 overflows): symmetric, 1 at an odd centre
    w = tf.signal.kaiser_window(n, 800.0, dtype=tf.float64).numpy()
    assert np.isfinite(w).all() and np.allclose(w, w[::-1])
    if n % 2:
        assert w[n // 2] == pytest.approx(1.0)
