"""CRC-32C (csrc/cpu/crc32c.cpp, bound as nabi._C.crc32c) and its use by TFRecord files.

Checked against RFC 3720 appendix B.4 vectors, the CRC catalogue's check value ("123456789")
and a bitwise Python reference written here from the polynomial, on both dispatch paths:
impl='portable' (slicing-by-8) and impl='sse4.2' (skipped visibly on a CPU without it), plus
NABI_CRC32C_ISA=portable in a subprocess for the default path.
"""
import os
import struct
import subprocess
import sys

import numpy as np
import pytest

from nabi import _C
from nabi.data import tfrecord

POLY = 0x82F63B78

IMPLS = ["auto", "portable",
         pytest.param("sse4.2", marks=pytest.mark.skipif(
             not _C.crc32c_cpu_has_sse42(), reason="CPU lacks SSE4.2"))]


def crc32c_bitwise(data, crc=0):
    c = crc ^ 0xFFFFFFFF
    for b in data:
        c ^= b
        for _ in range(8):
            c = (c >> 1) ^ POLY if c & 1 else c >> 1
    return c ^ 0xFFFFFFFF


def mask(c):
    return ((((c >> 15) | (c << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


@pytest.mark.parametrize("impl", IMPLS)
def test_rfc3720_and_check_vectors(impl):
    assert _C.crc32c(bytes(32), impl=impl) == 0x8A9136AA
    assert _C.crc32c(b"\xff" * 32, impl=impl) == 0x62A8AB43
    assert _C.crc32c(bytes(range(32)), impl=impl) == 0x46DD794E
    assert _C.crc32c(bytes(range(31, -1, -1)), impl=impl) == 0x113FDB5C  # RFC 3720 descending
    assert _C.crc32c(b"123456789", impl=impl) == 0xE3069283
    assert _C.crc32c(b"", impl=impl) == 0
    assert _C.crc32c(b"", crc=0x12345678, impl=impl) == 0x12345678


@pytest.mark.parametrize("impl", IMPLS)
def test_lengths_and_unaligned_offsets_against_bitwise(impl):
    rng = np.random.default_rng(0)
    buf = bytearray(rng.integers(0, 256, 96, dtype=np.uint8).tobytes())
    mv = memoryview(buf)
    for offset in range(8):
        for n in range(71):
            piece = mv[offset:offset + n]
            assert _C.crc32c(piece, impl=impl) == crc32c_bitwise(piece), (offset, n)


@pytest.mark.parametrize("impl", IMPLS)
def test_continuation_and_large_buffer(impl):
    rng = np.random.default_rng(1)
    data = rng.integers(0, 256, 100_003, dtype=np.uint8).tobytes()  # over the GIL threshold
    whole = crc32c_bitwise(data[:5000])
    assert _C.crc32c(data[:5000], impl=impl) == whole
    for cut in (0, 1, 7, 8, 13, 4999, 5000):
        head = _C.crc32c(data[:cut], impl=impl)
        assert _C.crc32c(data[cut:5000], head, impl=impl) == whole
    # both implementations agree on a buffer large enough to run with the GIL released
    assert _C.crc32c(data, impl=impl) == _C.crc32c(data, impl="portable")


def test_large_buffer_matches_reference():
    rng = np.random.default_rng(2)
    data = rng.integers(0, 256, 20_011, dtype=np.uint8).tobytes()
    ref = crc32c_bitwise(data)
    assert _C.crc32c(data, impl="portable") == ref
    assert _C.crc32c(memoryview(data)[0:], impl="auto") == ref


def test_buffer_kinds():
    data = bytes(range(200))
    ref = crc32c_bitwise(data)
    assert _C.crc32c(bytearray(data)) == ref
    assert _C.crc32c(memoryview(data)) == ref
    assert _C.crc32c(np.frombuffer(data, np.uint8)) == ref
    # a float array is summed as its raw (C-order) bytes
    arr = np.arange(10, dtype=np.float32).reshape(2, 5)
    assert _C.crc32c(arr) == crc32c_bitwise(arr.tobytes())


def test_masked():
    assert _C.masked_crc32c(b"123456789") == mask(0xE3069283)
    assert tfrecord.masked_crc32c(b"123456789") == mask(0xE3069283)
    assert tfrecord.masked_crc32c(b"") == mask(0)
    assert tfrecord.crc32c(b"456789", tfrecord.crc32c(b"123")) == 0xE3069283


def test_bad_input_raises_clear_errors():
    with pytest.raises(TypeError, match=r"\[crc32c\] data must be bytes-like, got str"):
        _C.crc32c("abc")
    with pytest.raises(TypeError, match=r"\[crc32c\] data must be a bytes-like object.*int"):
        _C.crc32c(5)
    with pytest.raises(TypeError, match=r"\[crc32c\] data must be a C-contiguous buffer"):
        _C.crc32c(memoryview(bytes(16))[::2])
    with pytest.raises(TypeError, match=r"\[crc32c\] data must be a C-contiguous buffer"):
        _C.crc32c(np.zeros((4, 4), np.uint8).T)
    with pytest.raises(ValueError, match=r"\[crc32c\] crc must be in \[0, 2\*\*32\), got -1"):
        _C.crc32c(b"a", -1)
    with pytest.raises(ValueError, match=r"\[crc32c\] crc must be in"):
        _C.crc32c(b"a", 1 << 32)
    with pytest.raises(TypeError, match=r"\[crc32c\] crc must be an int, got float"):
        _C.crc32c(b"a", 1.0)
    with pytest.raises(ValueError, match=r"\[crc32c\] impl must be 'auto', 'portable' or"):
        _C.crc32c(b"a", impl="avx9")
    with pytest.raises(TypeError, match=r"\[masked_crc32c\] data must be bytes-like, got str"):
        _C.masked_crc32c("abc")


def test_isa_report_and_env_forces_portable():
    expected = "sse4.2" if _C.crc32c_cpu_has_sse42() else "portable"
    assert _C.crc32c_isa() == expected
    env = dict(os.environ, NABI_CRC32C_ISA="portable")
    code = ("from nabi import _C; print(_C.crc32c_isa(), _C.crc32c(b'123456789'), "
            "_C.crc32c(bytes(range(256)) * 40))")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, check=True).stdout.split()
    assert out[0] == "portable"
    assert int(out[1]) == 0xE3069283
    assert int(out[2]) == crc32c_bitwise(bytes(range(256)) * 40)


def test_python_fallback_matches(monkeypatch):
    # the pure-Python version is kept for an extension built without crc32c
    monkeypatch.setattr(tfrecord, "_crc32c_native", None)
    monkeypatch.setattr(tfrecord, "_masked_native", None)
    assert tfrecord.crc32c(b"123456789") == 0xE3069283
    assert tfrecord.masked_crc32c(b"123456789") == mask(0xE3069283)


def test_tfrecord_round_trip_with_native_crc(tmp_path):
    import nabi as tf
    path = str(tmp_path / "x.tfrecord")
    records = [b"", b"a", bytes(range(256)) * 50, "héllo".encode()]
    with tf.io.TFRecordWriter(path) as w:
        for r in records:
            w.write(r)
    raw = open(path, "rb").read()
    # frames checked with the bitwise reference, independently of nabi
    pos = 0
    for r in records:
        n = raw[pos:pos + 8]
        assert struct.unpack("<Q", n)[0] == len(r)
        assert struct.unpack("<I", raw[pos + 8:pos + 12])[0] == mask(crc32c_bitwise(n))
        body = raw[pos + 12:pos + 12 + len(r)]
        assert body == r
        assert struct.unpack("<I", raw[pos + 12 + len(r):pos + 16 + len(r)])[0] == \
            mask(crc32c_bitwise(r))
        pos += 16 + len(r)
    assert pos == len(raw)
    got = [x for x in tf.data.TFRecordDataset(path).as_numpy_iterator()]
    assert got == records
