"""Complex dtypes on the host, nabi.signal (tf.signal), nabi.audio (tf.audio) and
keras.utils.audio_dataset_from_directory: checked against numpy.fft, scipy and Python's wave."""
import io
import os
import wave

import numpy as np
import pytest
import scipy.fft as sfft
import scipy.signal as ssig

import nabi as tf
from nabi import keras


def close(got, want, rtol=1e-5, atol=1e-6):
    got = got.numpy() if isinstance(got, tf.Tensor) else np.asarray(got)
    want = np.asarray(want)
    assert got.shape == want.shape, (got.shape, want.shape)
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)


# ------------------------------------------------------------------ complex dtypes and ops


def test_complex_dtypes():
    assert tf.complex64.is_complex and not tf.complex64.is_floating
    assert tf.complex64.real_dtype == tf.float32 and tf.complex128.real_dtype == tf.float64
    assert tf.as_dtype("complex64") is tf.complex64 and tf.as_dtype(np.complex128) is tf.complex128
    assert tf.constant(1 + 2j).dtype == tf.complex128
    assert tf.constant([1 + 2j], dtype=tf.complex64).dtype == tf.complex64
    with pytest.raises(TypeError, match="complex64"):
        tf.complex64.max


def test_complex_ops(rng):
    re = rng.standard_normal((3, 5)).astype(np.float32)
    im = rng.standard_normal((3, 5)).astype(np.float32)
    z = tf.complex(tf.constant(re), tf.constant(im))
    zn = re + 1j * im
    assert z.dtype == tf.complex64 and z.shape == (3, 5)
    close(tf.math.real(z), re)
    close(tf.math.imag(z), im)
    close(tf.math.conj(z), np.conj(zn))
    close(tf.math.angle(z), np.arctan2(im, re))
    a = tf.abs(z)
    assert a.dtype == tf.float32
    close(a, np.hypot(re, im))
    w = tf.complex(tf.constant(im), tf.constant(re))
    wn = im + 1j * re
    close(z + w, zn + wn)
    close(z - w, zn - wn)
    close(z * w, zn * wn, rtol=1e-5)
    close(z / w, zn / wn, rtol=1e-4)
    close(z * 2.0, zn * 2)
    # broadcasting and float64 -> complex128
    z2 = tf.complex(tf.constant([1.0, 2.0], dtype=tf.float64), tf.constant(3.0, dtype=tf.float64))
    assert z2.dtype == tf.complex128
    close(z2, np.array([1 + 3j, 2 + 3j]))
    # real inputs: real -> itself, imag -> zeros, angle -> pi where negative (TF)
    x = tf.constant([-1.5, 0.0, 2.0])
    close(tf.math.real(x), [-1.5, 0.0, 2.0])
    close(tf.math.imag(x), [0.0, 0.0, 0.0])
    close(tf.math.angle(x), [np.pi, 0.0, 0.0])


def test_complex_cast():
    z = tf.constant([1.5 - 2j, -3 + 4j], dtype=tf.complex64)
    r = tf.cast(z, tf.float32)   # TF: the real part
    assert r.dtype == tf.float32
    close(r, [1.5, -3.0])
    close(tf.cast(z, tf.int32), np.array([1, -3], np.int32))
    c = tf.cast(tf.constant([1.0, -2.0]), tf.complex64)
    assert c.dtype == tf.complex64
    close(c, np.array([1, -2], np.complex64))
    c128 = tf.cast(c, tf.complex128)
    assert c128.dtype == tf.complex128
    with pytest.raises(TypeError, match=r"\[complex\].*float32.*int32"):
        tf.complex(tf.constant([1.0]), tf.constant([1]))
    with pytest.raises(ValueError, match=r"\[complex\] shapes \(2,\) and \(3,\)"):
        tf.complex(tf.constant([1.0, 2.0]), tf.constant([1.0, 2.0, 3.0]))


def test_complex_gradient_raises():
    x = tf.constant([1.0, 2.0])
    with tf.GradientTape() as tape:
        tape.watch(x)
        # (complex, sqrt and abs have gradients: test_complex_gradients.py; angle has none)
        y = tf.reduce_sum(tf.math.angle(tf.sqrt(tf.complex(x, x))))
    with pytest.raises(NotImplementedError, match=r"\[angle\] has no gradient"):
        tape.gradient(y, x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf.reduce_sum(tf.abs(tf.signal.rfft(x * 2.0)))
    with pytest.raises(NotImplementedError, match="no gradient"):
        tape.gradient(y, x)
    with tf.GradientTape() as tape:  # casts through complex: TF's rule (Re g back)
        tape.watch(x)
        y = tf.reduce_sum(tf.cast(tf.cast(x, tf.complex64), tf.float32) * x)
    close(tape.gradient(y, x), 2 * np.array([1.0, 2.0]), rtol=1e-6)
    # outside a tape (preprocessing) it just works; a stop_gradient cuts the path
    s = tf.abs(tf.signal.stft(tf.constant(np.ones(512, np.float32)), 64, 32))
    assert s.dtype == tf.float32 and s.shape == (15, 33)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf.reduce_sum(x * tf.stop_gradient(tf.abs(tf.complex(x, x))))
    close(tape.gradient(y, x), np.sqrt(2) * np.array([1.0, 2.0]), rtol=1e-6)


def test_complex_follows_the_device(where):
    """Complex tensors live on the current device, as real ones (the GPU has complex64 /
    complex128 since issue 6; tests/test_cuda_complex_fft.py tests the kernels)."""
    with tf.device(where):
        x = tf.constant(np.arange(300, dtype=np.float32) / 300)
        z = tf.constant([1 + 1j, 2 - 1j], dtype=tf.complex64)
        assert z.device == x.device
        s = tf.signal.stft(x, 64, 32)
        assert s.device == x.device and s.dtype == tf.complex64
        mag = tf.abs(s)
        assert mag.device == x.device
        ref = np.abs(np.fft.rfft(ssig.get_window("hann", 64) * np.stack(
            [x.numpy()[i * 32:i * 32 + 64] for i in range(8)]), 64))
        close(mag, ref, rtol=1e-4, atol=1e-5)
    if "GPU" in where:
        np.testing.assert_array_equal(z.cpu().cuda().numpy(), [1 + 1j, 2 - 1j])


# ------------------------------------------------------------------ frame, windows


def test_frame(rng):
    x = rng.standard_normal((2, 23)).astype(np.float32)
    f = tf.signal.frame(x, 5, 3)
    ref = np.stack([x[:, i * 3:i * 3 + 5] for i in range(7)], axis=1)
    close(f, ref)
    f = tf.signal.frame(x, 5, 3, pad_end=True, pad_value=-1.0)
    xp = np.concatenate([x, -np.ones((2, 3), np.float32)], 1)   # 5 + 3 * 7 - 23
    ref = np.stack([xp[:, i * 3:i * 3 + 5] for i in range(8)], axis=1)
    close(f, ref)
    # axis=0 with trailing dimensions; a signal shorter than a frame gives no frames
    y = rng.standard_normal((10, 3)).astype(np.float32)
    f = tf.signal.frame(y, 4, 2, axis=0)
    close(f, np.stack([y[i * 2:i * 2 + 4] for i in range(4)], 0))
    assert tf.signal.frame(x, 30, 3).shape == (2, 0, 30)
    # TF docstring: a (3, 9152) batch framed 512 / 180 -> (3, 49, 512)
    assert tf.signal.frame(np.zeros((3, 9152), np.float32), 512, 180).shape == (3, 49, 512)
    with pytest.raises(ValueError, match=r"\[frame\] frame_step must be >= 1"):
        tf.signal.frame(x, 4, 0)
    with pytest.raises(ValueError, match=r"\[frame\] signal must have rank >= 1"):
        tf.signal.frame(tf.constant(1.0), 4, 2)


def test_frame_and_window_gradients(rng):
    x = tf.constant(rng.standard_normal(11))
    c = rng.standard_normal((4, 5))
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf.reduce_sum(tf.signal.frame(x, 5, 2) * tf.signal.hann_window(5, dtype=tf.float64) * c)
    g = tape.gradient(y, x).numpy()
    w = ssig.get_window("hann", 5, fftbins=False)   # odd length: TF's periodic = symmetric
    ref = np.zeros(11)
    for i in range(4):
        ref[i * 2:i * 2 + 5] += c[i] * w
    close(g, ref, rtol=1e-10)


@pytest.mark.parametrize("n", [1, 2, 8, 255, 256])
def test_windows(n):
    for fn, name in ((tf.signal.hann_window, "hann"), (tf.signal.hamming_window, "hamming")):
        sym = ssig.get_window(name, n, fftbins=False) if n > 1 else np.ones(1)
        per = ssig.get_window(name, n, fftbins=True) if n > 1 else np.ones(1)
        # TF: the periodic window of an odd length is the symmetric one
        close(fn(n), (per if n % 2 == 0 else sym).astype(np.float32), atol=1e-6)
        close(fn(n, periodic=False), sym.astype(np.float32), atol=1e-6)
        assert fn(n, dtype=tf.float64).dtype == tf.float64
    with pytest.raises(ValueError, match=r"\[hann_window\] dtype must be a floating"):
        tf.signal.hann_window(4, dtype=tf.int32)


# ------------------------------------------------------------------ FFTs, STFT


def test_ffts(rng):
    x = rng.standard_normal((3, 10)).astype(np.float32)
    r = tf.signal.rfft(x)
    assert r.dtype == tf.complex64
    close(r, np.fft.rfft(x).astype(np.complex64), rtol=1e-4, atol=1e-5)
    close(tf.signal.rfft(x, [16]), np.fft.rfft(x, 16), rtol=1e-4, atol=1e-5)
    close(tf.signal.rfft(x, [6]), np.fft.rfft(x, 6), rtol=1e-4, atol=1e-5)
    back = tf.signal.irfft(r)
    assert back.dtype == tf.float32
    close(back, x, atol=1e-5)
    close(tf.signal.irfft(r, [9]), np.fft.irfft(np.fft.rfft(x), 9), atol=1e-5)
    z = (x + 1j * x[::-1]).astype(np.complex64)
    close(tf.signal.fft(z), np.fft.fft(z), rtol=1e-4, atol=1e-5)
    close(tf.signal.ifft(tf.signal.fft(z)), z, atol=1e-5)
    close(tf.signal.fft2d(z), np.fft.fft2(z), rtol=1e-4, atol=1e-4)
    close(tf.signal.ifft2d(z), np.fft.ifft2(z), rtol=1e-4, atol=1e-5)
    close(tf.signal.rfft2d(x), np.fft.rfft2(x), rtol=1e-4, atol=1e-4)
    close(tf.signal.irfft2d(tf.signal.rfft2d(x), [3, 10]), x, atol=1e-5)
    assert tf.signal.rfft(x.astype(np.float64)).dtype == tf.complex128
    with pytest.raises(TypeError, match=r"\[fft\] expects a complex64 or complex128 tensor, got "
                                        r"float32 of shape \(3, 10\)"):
        tf.signal.fft(x)
    with pytest.raises(TypeError, match=r"\[rfft\] expects a float32 or float64"):
        tf.signal.rfft(tf.constant([1, 2, 3]))


def _stft_ref(x, frame_length, frame_step, fft_length, pad_end=False):
    if pad_end:
        nf = -(-x.shape[-1] // frame_step)
        x = np.concatenate([x, np.zeros(x.shape[:-1] + (max(
            0, (nf - 1) * frame_step + frame_length - x.shape[-1]),))], -1)
    nf = 1 + (x.shape[-1] - frame_length) // frame_step
    w = ssig.get_window("hann", frame_length, fftbins=frame_length % 2 == 0)
    fr = np.stack([x[..., i * frame_step:i * frame_step + frame_length] for i in range(nf)], -2)
    return np.fft.rfft(fr * w, fft_length)


def test_stft(rng):
    x = rng.standard_normal((2, 1000)).astype(np.float32)
    s = tf.signal.stft(x, frame_length=255, frame_step=128)  # the audio tutorial's call
    assert s.shape == (2, 6, 129) and s.dtype == tf.complex64   # fft_length 256
    close(s, _stft_ref(x.astype(np.float64), 255, 128, 256), rtol=1e-4, atol=1e-4)
    s = tf.signal.stft(x, 200, 80, fft_length=512, pad_end=True)
    assert s.shape == (2, 13, 257)
    close(s, _stft_ref(x.astype(np.float64), 200, 80, 512, pad_end=True), rtol=1e-4, atol=1e-4)
    s = tf.signal.stft(x[0], 64, 64, window_fn=None)
    close(s, np.fft.rfft(x[0, :960].reshape(15, 64)), rtol=1e-4, atol=1e-4)
    with pytest.raises(TypeError, match=r"\[stft\] expects a float32 or float64"):
        tf.signal.stft(tf.constant([1, 2, 3]), 2, 1)


def test_inverse_stft(rng):
    x = rng.standard_normal(2048).astype(np.float32)
    s = tf.signal.stft(x, 256, 64)
    y = tf.signal.inverse_stft(s, 256, 64, window_fn=tf.signal.inverse_stft_window_fn(64))
    assert y.shape == ((s.shape[0] - 1) * 64 + 256,)
    close(y.numpy()[256:-256], x[256:y.shape[0] - 256], atol=1e-5)
    # reference construction: irfft, hann window, overlap-add
    fr = np.fft.irfft(s.numpy().astype(np.complex128), 256) * ssig.get_window("hann", 256)
    ref = np.zeros(y.shape[0])
    for i in range(fr.shape[0]):
        ref[i * 64:i * 64 + 256] += fr[i]
    close(tf.signal.inverse_stft(s, 256, 64), ref, atol=1e-5)
    # frame_length shorter than fft_length: each frame is cut
    s = tf.signal.stft(x, 200, 100, fft_length=256)
    y = tf.signal.inverse_stft(s, 200, 100, fft_length=256,
                               window_fn=tf.signal.inverse_stft_window_fn(100))
    close(y.numpy()[200:1600], x[200:1600], atol=1e-5)
    with pytest.raises(ValueError, match=r"\[inverse_stft\] stfts has 129 bins but fft_length 512"):
        tf.signal.inverse_stft(s, 200, 100, fft_length=512)


def test_overlap_and_add(rng):
    f = rng.standard_normal((2, 4, 6))
    out = tf.signal.overlap_and_add(tf.constant(f), 4)
    ref = np.zeros((2, 18))
    for i in range(4):
        ref[:, i * 4:i * 4 + 6] += f[:, i]
    close(out, ref, rtol=1e-12)
    x = tf.constant(f)
    c = rng.standard_normal((2, 18))
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf.reduce_sum(tf.signal.overlap_and_add(x, 4) * c)
    close(tape.gradient(y, x), np.stack([c[:, i * 4:i * 4 + 6] for i in range(4)], 1))


# ------------------------------------------------------------------ mel, MFCC, DCT


def _mel_ref(num_mel, num_bins, sr, lo, hi):
    """Hand-built: triangles on the HTK mel scale (1127 ln(1 + f/700)), DC row zero."""
    mel = lambda f: 1127.0 * np.log(1.0 + f / 700.0)  # noqa: E731
    edges = np.linspace(mel(lo), mel(hi), num_mel + 2)
    out = np.zeros((num_bins, num_mel))
    for i in range(1, num_bins):
        m = mel(i * (sr / 2) / (num_bins - 1))
        for j in range(num_mel):
            left, centre, right = edges[j], edges[j + 1], edges[j + 2]
            out[i, j] = max(0.0, min((m - left) / (centre - left), (right - m) / (right - centre)))
    return out


def test_linear_to_mel_weight_matrix():
    m = tf.signal.linear_to_mel_weight_matrix()
    assert m.shape == (129, 20) and m.dtype == tf.float32
    close(m, _mel_ref(20, 129, 8000, 125.0, 3800.0), atol=1e-5)
    m = tf.signal.linear_to_mel_weight_matrix(40, 257, 16000, 80.0, 7600.0, dtype=tf.float64)
    close(m, _mel_ref(40, 257, 16000, 80.0, 7600.0), rtol=1e-9, atol=1e-12)
    assert np.all(m.numpy()[0] == 0)
    with pytest.raises(ValueError, match=r"\[linear_to_mel_weight_matrix\] upper_edge_hertz 5000"):
        tf.signal.linear_to_mel_weight_matrix(upper_edge_hertz=5000.0)
    with pytest.raises(ValueError, match="lower_edge_hertz 300.0 must be below"):
        tf.signal.linear_to_mel_weight_matrix(lower_edge_hertz=300.0, upper_edge_hertz=200.0)
    with pytest.raises(ValueError, match="num_mel_bins must be >= 1"):
        tf.signal.linear_to_mel_weight_matrix(0)


@pytest.mark.parametrize("type_, norm", [(1, None), (2, None), (2, "ortho"), (3, None),
                                         (3, "ortho"), (4, None), (4, "ortho")])
def test_dct_idct(rng, type_, norm):
    x = rng.standard_normal((3, 2, 13))
    close(tf.signal.dct(x, type=type_, norm=norm), sfft.dct(x, type=type_, norm=norm),
          rtol=1e-9, atol=1e-9)
    # TF's idct is the dct of the inverse type, unscaled: scipy's idct times its scale
    scale = 1.0 if norm else (2 * (13 - 1) if type_ == 1 else 2 * 13)
    close(tf.signal.idct(x, type=type_, norm=norm),
          sfft.idct(x, type=type_, norm=norm) * scale, rtol=1e-9, atol=1e-9)
    # n cuts or zero-pads the input
    close(tf.signal.dct(x, type=type_, n=8, norm=norm), sfft.dct(x[..., :8], type=type_, norm=norm),
          rtol=1e-9, atol=1e-9)
    xp = np.concatenate([x, np.zeros((3, 2, 4))], -1)
    close(tf.signal.dct(x, type=type_, n=17, norm=norm), sfft.dct(xp, type=type_, norm=norm),
          rtol=1e-9, atol=1e-9)


def test_dct_float32_gradient_and_errors(rng):
    x32 = rng.standard_normal((4, 16)).astype(np.float32)
    close(tf.signal.dct(x32), sfft.dct(x32.astype(np.float64)).astype(np.float32), rtol=1e-4,
          atol=1e-4)
    x = tf.constant(rng.standard_normal((2, 7)))
    c = rng.standard_normal((2, 7))
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf.reduce_sum(tf.signal.dct(x, norm="ortho") * c)
    # an orthonormal DCT-II: the gradient is the inverse (DCT-III, ortho) of c
    close(tape.gradient(y, x), sfft.dct(c, type=3, norm="ortho"), rtol=1e-9, atol=1e-12)
    with pytest.raises(ValueError, match=r"\[dct\] norm='ortho' is not supported for type 1"):
        tf.signal.dct(x, type=1, norm="ortho")
    with pytest.raises(ValueError, match=r"\[dct\] type must be 1, 2, 3 or 4"):
        tf.signal.dct(x, type=5)
    with pytest.raises(NotImplementedError, match=r"\[dct\] only axis=-1"):
        tf.signal.dct(x, axis=0)


def test_mfccs(rng):
    spec = np.abs(rng.standard_normal((5, 129))).astype(np.float32)
    mel = spec @ _mel_ref(40, 129, 16000, 80.0, 7600.0)
    log_mel = np.log(mel + 1e-6)
    m = tf.signal.mfccs_from_log_mel_spectrograms(tf.constant(log_mel.astype(np.float32)))
    assert m.shape == (5, 40) and m.dtype == tf.float32
    close(m, sfft.dct(log_mel, type=2) / np.sqrt(2 * 40), rtol=1e-4, atol=1e-4)
    # TF's scaling equals the orthonormal DCT except for the first coefficient (x sqrt(2))
    ortho = sfft.dct(log_mel, type=2, norm="ortho")
    close(m.numpy()[:, 1:], ortho[:, 1:], rtol=1e-4, atol=1e-4)


# ------------------------------------------------------------------ WAV


def _wav_bytes(samples, rate, width=2):
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(samples.shape[1])
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(np.ascontiguousarray(samples).tobytes())
    return buf.getvalue()


def test_decode_wav(rng):
    s = rng.integers(-32768, 32768, size=(100, 2)).astype("<i2")
    audio, rate = tf.audio.decode_wav(_wav_bytes(s, 22050))
    assert audio.dtype == tf.float32 and audio.shape == (100, 2)
    assert rate.dtype == tf.int32 and int(rate) == 22050
    close(audio, s / 32768.0, atol=0)
    a1, _ = tf.audio.decode_wav(tf.constant(_wav_bytes(s, 8000)), desired_channels=1,
                                desired_samples=120)
    ref = np.zeros((120, 1))
    ref[:100, 0] = s[:, 0] / 32768.0
    close(a1, ref, atol=0)
    mono = s[:, :1].copy()
    a3, _ = tf.audio.decode_wav(_wav_bytes(mono, 8000), desired_channels=3, desired_samples=50)
    close(a3, np.repeat(mono[:50] / 32768.0, 3, axis=1), atol=0)
    u8 = rng.integers(0, 256, size=(30, 1)).astype(np.uint8)
    a8, _ = tf.audio.decode_wav(_wav_bytes(u8, 8000, width=1))
    close(a8, (u8.astype(np.float64) - 128) / 128, atol=1e-7)
    with pytest.raises(ValueError, match=r"\[decode_wav\] the contents are not a RIFF/WAVE"):
        tf.audio.decode_wav(b"not a wav file at all")


def test_encode_wav_round_trip(rng):
    x = np.clip(rng.standard_normal((64, 2)) * 0.4, -1, 1).astype(np.float32)
    x[0] = [1.0, -1.0]          # clamped at the int16 range
    data = tf.audio.encode_wav(tf.constant(x), 16000)
    assert data.dtype == tf.string and data.shape == ()
    with wave.open(io.BytesIO(data.numpy()), "rb") as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()) == \
            (2, 2, 16000, 64)
        got = np.frombuffer(w.readframes(64), "<i2").reshape(64, 2)
    want = np.clip(np.round(x.astype(np.float64) * 32768), -32768, 32767)
    np.testing.assert_array_equal(got, want)
    back, rate = tf.audio.decode_wav(data)
    assert int(rate) == 16000
    close(back, want / 32768.0, atol=0)
    with pytest.raises(ValueError, match=r"\[encode_wav\] audio must be 2-D"):
        tf.audio.encode_wav(tf.constant([0.1, 0.2]), 8000)


# ------------------------------------------------------------------ audio_dataset_from_directory


def _make_tree(root, lengths, rate=8000):
    """class dirs 'no' and 'yes'; returns {path: (samples as float, label)}."""
    info = {}
    rng = np.random.default_rng(7)
    for label, name in enumerate(("no", "yes")):
        os.makedirs(root / name)
        for k, n in enumerate(lengths[name]):
            s = rng.integers(-3000, 3000, size=(n, 1)).astype("<i2")
            p = root / name / f"clip{k}.wav"
            p.write_bytes(_wav_bytes(s, rate))
            info[str(p)] = (s[:, 0] / 32768.0, label)
    (root / "yes" / "notes.txt").write_text("ignored")
    return info


def test_audio_dataset_from_directory(tmp_path, capsys):
    info = _make_tree(tmp_path, {"no": [30, 50, 40], "yes": [20, 60]})
    ds = keras.utils.audio_dataset_from_directory(tmp_path, batch_size=2, shuffle=False)
    assert ds.class_names == ["no", "yes"]
    assert "Found 5 files belonging to 2 classes." in capsys.readouterr().out
    batches = list(ds)
    assert [tuple(b[0].shape) for b in batches] == [(2, 50, 1), (2, 40, 1), (1, 60, 1)]
    paths = ds.file_paths
    for bi, (audio, labels) in enumerate(batches):
        assert audio.dtype == tf.float32 and labels.dtype == tf.int32
        for j in range(audio.shape[0]):
            samples, label = info[paths[bi * 2 + j]]
            ref = np.zeros(audio.shape[1])
            ref[:len(samples)] = samples
            close(audio.numpy()[j, :, 0], ref, atol=0)
            assert int(labels.numpy()[j]) == label
    # output_sequence_length cuts and pads; categorical labels
    ds = keras.utils.audio_dataset_from_directory(tmp_path, batch_size=8, shuffle=False,
                                                  output_sequence_length=45,
                                                  label_mode="categorical")
    audio, labels = next(iter(ds))
    assert audio.shape == (5, 45, 1) and labels.shape == (5, 2)
    for j, p in enumerate(ds.file_paths):
        samples, label = info[p]
        ref = np.zeros(45)
        ref[:min(45, len(samples))] = samples[:45]
        close(audio.numpy()[j, :, 0], ref, atol=0)
        close(labels.numpy()[j], np.eye(2)[label])


def test_audio_dataset_split_and_errors(tmp_path):
    _make_tree(tmp_path, {"no": [10] * 6, "yes": [12] * 4}, rate=16000)
    train, val = keras.utils.audio_dataset_from_directory(
        tmp_path, batch_size=4, validation_split=0.2, subset="both", seed=3,
        sampling_rate=16000)
    assert len(train.file_paths) == 8 and len(val.file_paths) == 2
    assert not set(train.file_paths) & set(val.file_paths)
    assert sum(int(b[0].shape[0]) for b in train) == 8
    unlabeled = keras.utils.audio_dataset_from_directory(tmp_path, labels=None, batch_size=None,
                                                         shuffle=False)
    assert next(iter(unlabeled)).shape in ((10, 1), (12, 1))
    fn = keras.utils.audio_dataset_from_directory
    with pytest.raises(ValueError, match=r"Cannot set both `ragged` and `output_sequence_length`"):
        fn(tmp_path, ragged=True, output_sequence_length=10)
    with pytest.raises(NotImplementedError, match="ragged=True"):
        fn(tmp_path, ragged=True)
    with pytest.raises(ValueError, match="output_sequence_length"):
        fn(tmp_path, output_sequence_length=0)
    with pytest.raises(ValueError, match="you must provide a `seed`"):
        fn(tmp_path, validation_split=0.2, subset="training")
    with pytest.raises(ValueError, match=r"has a sample rate of 16000 Hz but sampling_rate=8000"):
        list(fn(tmp_path, sampling_rate=8000, shuffle=False))
    with pytest.raises(ValueError, match="does not exist"):
        fn(tmp_path / "missing")
