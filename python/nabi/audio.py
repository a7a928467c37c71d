"""`nabi.audio`: WAV decoding and encoding (tf.audio.decode_wav / encode_wav), on the host.

decode_wav reads RIFF/WAVE files of PCM samples (8-bit unsigned, 16-, 24- or 32-bit signed,
also in WAVE_FORMAT_EXTENSIBLE files) or 32/64-bit IEEE floats, and returns float32 samples
in [-1, 1) of shape (samples, channels) -- a 16-bit sample s becomes s / 32768, as TF -- and
the sample rate as an int32 scalar. encode_wav writes 16-bit PCM: round(x * 32768) clamped to
the int16 range.
"""
import io as _io
import struct
import wave

import numpy as np

from . import dtypes as _dt
from .framework.tensor import Tensor, convert_to_tensor

__all__ = ["decode_wav", "encode_wav"]

_PCM, _FLOAT, _EXTENSIBLE = 1, 3, 0xFFFE


def _bytes_of(op, contents):
    if isinstance(contents, Tensor):
        if contents.shape != ():
            raise ValueError(f"[{op}] contents must be a scalar string tensor, got shape "
                             f"{tuple(contents.shape)}")
        contents = contents.numpy()
    if isinstance(contents, np.ndarray) and contents.shape == ():
        contents = contents.item()
    if isinstance(contents, str):
        contents = contents.encode("latin-1")
    if not isinstance(contents, (bytes, bytearray, memoryview)):
        raise TypeError(f"[{op}] contents must be the bytes of a WAV file (a scalar string "
                        f"tensor), got {type(contents).__name__}")
    return bytes(contents)


def _parse_wav(op, data):
    """(samples as float32 (n, channels), sample_rate) of WAV bytes."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise ValueError(f"[{op}] the contents are not a RIFF/WAVE file (header {data[:12]!r})")
    pos, fmt, payload = 12, None, None
    while pos + 8 <= len(data):
        cid = data[pos:pos + 4]
        size = struct.unpack("<I", data[pos + 4:pos + 8])[0]
        body = data[pos + 8:pos + 8 + size]
        if cid == b"fmt ":
            if len(body) < 16:
                raise ValueError(f"[{op}] the fmt chunk is {len(body)} bytes, expected >= 16")
            fmt = struct.unpack("<HHIIHH", body[:16])
            if fmt[0] == _EXTENSIBLE and len(body) >= 26:
                fmt = (struct.unpack("<H", body[24:26])[0],) + fmt[1:]
        elif cid == b"data":
            payload = body
            break
        pos += 8 + size + (size & 1)          # chunks are padded to an even size
    if fmt is None:
        raise ValueError(f"[{op}] the WAV file has no fmt chunk")
    if payload is None:
        raise ValueError(f"[{op}] the WAV file has no data chunk")
    tag, channels, rate, _, _, bits = fmt
    if channels < 1:
        raise ValueError(f"[{op}] the WAV file declares {channels} channels")
    width = bits // 8
    if tag == _PCM and bits in (8, 16, 24, 32):
        frame = width * channels
        n = len(payload) // frame
        raw = np.frombuffer(payload[:n * frame], np.uint8)
        if bits == 8:
            x = (raw.astype(np.float32) - 128.0) / 128.0
        elif bits == 24:
            b = raw.reshape(-1, 3).astype(np.int32)
            v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
            v = np.where(v >= 1 << 23, v - (1 << 24), v)
            x = v.astype(np.float32) / float(1 << 23)
        else:
            v = raw.view("<i2" if bits == 16 else "<i4")
            x = (v.astype(np.float64) / float(1 << (bits - 1))).astype(np.float32)
    elif tag == _FLOAT and bits in (32, 64):
        frame = width * channels
        n = len(payload) // frame
        x = np.frombuffer(payload[:n * frame], "<f4" if bits == 32 else "<f8").astype(np.float32)
    else:
        raise ValueError(f"[{op}] unsupported WAV encoding: format tag {tag}, {bits} bits per "
                         "sample (PCM 8/16/24/32-bit and float 32/64-bit are supported)")
    return x.reshape(n, channels), rate


def decode_wav(contents, desired_channels=-1, desired_samples=-1, name=None):
    """tf.audio.decode_wav -> (audio float32 (samples, channels), sample_rate int32).
    desired_channels keeps the first channels or repeats a mono file's one; desired_samples
    cuts or zero-pads the end."""
    op = "decode_wav"
    x, rate = _parse_wav(op, _bytes_of(op, contents))
    desired_channels, desired_samples = int(desired_channels), int(desired_samples)
    c = x.shape[1]
    if desired_channels > 0 and desired_channels != c:
        if desired_channels < c:
            x = x[:, :desired_channels]
        elif c == 1:
            x = np.repeat(x, desired_channels, axis=1)
        else:
            raise ValueError(f"[{op}] the file has {c} channels; desired_channels="
                             f"{desired_channels} can only repeat a mono file's channel")
    if desired_samples >= 0 and desired_samples != x.shape[0]:
        if desired_samples < x.shape[0]:
            x = x[:desired_samples]
        else:
            x = np.concatenate([x, np.zeros((desired_samples - x.shape[0], x.shape[1]),
                                            np.float32)])
    return (convert_to_tensor(np.ascontiguousarray(x, dtype=np.float32)),
            convert_to_tensor(np.int32(rate)))


def encode_wav(audio, sample_rate, name=None):
    """tf.audio.encode_wav: float audio (samples, channels) in [-1, 1] -> the bytes of a 16-bit
    PCM WAV file, as a scalar string tensor."""
    op = "encode_wav"
    a = audio.numpy() if isinstance(audio, Tensor) else np.asarray(audio)
    if a.ndim != 2:
        raise ValueError(f"[{op}] audio must be 2-D (samples, channels), got shape {a.shape}")
    if a.dtype.kind != "f":
        raise TypeError(f"[{op}] audio must be float32, got {a.dtype.name} of shape {a.shape}")
    if a.shape[1] < 1:
        raise ValueError(f"[{op}] audio must have at least one channel, got shape {a.shape}")
    rate = sample_rate.numpy() if isinstance(sample_rate, Tensor) else sample_rate
    rate = int(np.asarray(rate).reshape(()))
    if rate <= 0:
        raise ValueError(f"[{op}] sample_rate must be positive, got {rate}")
    s = np.clip(np.round(a.astype(np.float64) * 32768.0), -32768, 32767).astype("<i2")
    buf = _io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(a.shape[1])
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.ascontiguousarray(s).tobytes())
    out = np.empty((), dtype=object)
    out[()] = buf.getvalue()
    return convert_to_tensor(out, dtype=_dt.string)
