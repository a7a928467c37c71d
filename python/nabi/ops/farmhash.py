"""The string hashes TensorFlow's bucketing ops use, bit for bit, in pure Python.

* `fingerprint64(b)`: FarmHash's Fingerprint64 (farmhash "na" Hash64), which TF calls
  `Fingerprint64` and uses in `tf.strings.to_hash_bucket_fast` and Keras's `Hashing` layer.
* `siphash24(b, k0, k1)`: SipHash-2-4 keyed by two uint64 words, as TF's `StrongKeyedHash`
  (highwayhash's SipHash) in `tf.strings.to_hash_bucket_strong` and a salted `Hashing`.
* `tf_hash64(b)`: TF's legacy `Hash64` (a MurmurHash64A variant seeded with 0xDECAFCAFFE),
  used by the deprecated `tf.strings.to_hash_bucket`.

All arithmetic is on Python ints masked to 64 bits, so the results are the same on every
machine. Inputs are `bytes` (UTF-8 for text). Written from the algorithm descriptions in
FarmHash, the SipHash paper and TF's hash.cc; checked against their published test values.
"""

_M = 0xFFFFFFFFFFFFFFFF

# FarmHash / CityHash primes
_K0 = 0xc3a5c85c97cb3127
_K1 = 0xb492b66fbe98f273
_K2 = 0x9ae16a3b2f90404f
_KMUL = 0x9ddfea08eb382d69


def _f64(b, i):
    return int.from_bytes(b[i:i + 8], "little")


def _f32(b, i):
    return int.from_bytes(b[i:i + 4], "little")


def _rot(v, s):
    return v if s == 0 else ((v >> s) | (v << (64 - s))) & _M


def _shift_mix(v):
    return v ^ (v >> 47)


def _mix16(u, v, mul):
    """Murmur-style combination of two 64-bit words (farmhash's HashLen16 with a multiplier)."""
    a = ((u ^ v) * mul) & _M
    a ^= a >> 47
    b = ((v ^ a) * mul) & _M
    b ^= b >> 47
    return (b * mul) & _M


def _len0to16(s, n):
    if n >= 8:
        mul = (_K2 + n * 2) & _M
        a = (_f64(s, 0) + _K2) & _M
        b = _f64(s, n - 8)
        c = (_rot(b, 37) * mul + a) & _M
        d = ((_rot(a, 25) + b) * mul) & _M
        return _mix16(c, d, mul)
    if n >= 4:
        mul = (_K2 + n * 2) & _M
        a = _f32(s, 0)
        return _mix16((n + (a << 3)) & _M, _f32(s, n - 4), mul)
    if n > 0:
        y = (s[0] + (s[n >> 1] << 8)) & 0xFFFFFFFF
        z = n + (s[n - 1] << 2)
        return (_shift_mix(((y * _K2) ^ (z * _K0)) & _M) * _K2) & _M
    return _K2


def _len17to32(s, n):
    mul = (_K2 + n * 2) & _M
    a = (_f64(s, 0) * _K1) & _M
    b = _f64(s, 8)
    c = (_f64(s, n - 8) * mul) & _M
    d = (_f64(s, n - 16) * _K2) & _M
    return _mix16((_rot((a + b) & _M, 43) + _rot(c, 30) + d) & _M,
                  (a + _rot((b + _K2) & _M, 18) + c) & _M, mul)


def _len33to64(s, n):
    mul = (_K2 + n * 2) & _M
    a = (_f64(s, 0) * _K2) & _M
    b = _f64(s, 8)
    c = (_f64(s, n - 8) * mul) & _M
    d = (_f64(s, n - 16) * _K2) & _M
    y = (_rot((a + b) & _M, 43) + _rot(c, 30) + d) & _M
    z = _mix16(y, (a + _rot((b + _K2) & _M, 18) + c) & _M, mul)
    e = (_f64(s, 16) * mul) & _M
    f = _f64(s, 24)
    g = ((y + _f64(s, n - 32)) * mul) & _M
    h = ((z + _f64(s, n - 24)) * mul) & _M
    return _mix16((_rot((e + f) & _M, 43) + _rot(g, 30) + h) & _M,
                  (e + _rot((f + a) & _M, 18) + g) & _M, mul)


def _weak32(s, i, a, b):
    """farmhash's WeakHashLen32WithSeeds over the 32 bytes at s[i:]: a pair of words."""
    w, x, y, z = _f64(s, i), _f64(s, i + 8), _f64(s, i + 16), _f64(s, i + 24)
    a = (a + w) & _M
    b = _rot((b + a + z) & _M, 21)
    c = a
    a = (a + x + y) & _M
    b = (b + _rot(a, 44)) & _M
    return (a + z) & _M, (b + c) & _M


def fingerprint64(s):
    """FarmHash Fingerprint64 of `s` (bytes) as an unsigned Python int."""
    s = bytes(s)
    n = len(s)
    if n <= 16:
        return _len0to16(s, n)
    if n <= 32:
        return _len17to32(s, n)
    if n <= 64:
        return _len33to64(s, n)
    # Over 64 bytes: 56 bytes of state (v, w pairs and x, y, z) mixed one 64-byte block at
    # a time, then the last 64 bytes (which may overlap the previous block) once more.
    seed = 81
    x = seed
    y = (seed * _K1 + 113) & _M
    z = (_shift_mix((y * _K2 + 113) & _M) * _K2) & _M
    v0 = v1 = w0 = w1 = 0
    x = (x * _K2 + _f64(s, 0)) & _M
    end = ((n - 1) // 64) * 64
    last64 = end + ((n - 1) & 63) - 63
    p = 0
    while True:
        x = (_rot((x + y + v0 + _f64(s, p + 8)) & _M, 37) * _K1) & _M
        y = (_rot((y + v1 + _f64(s, p + 48)) & _M, 42) * _K1) & _M
        x ^= w1
        y = (y + v0 + _f64(s, p + 40)) & _M
        z = (_rot((z + w0) & _M, 33) * _K1) & _M
        v0, v1 = _weak32(s, p, (v1 * _K1) & _M, (x + w0) & _M)
        w0, w1 = _weak32(s, p + 32, (z + w1) & _M, (y + _f64(s, p + 16)) & _M)
        z, x = x, z
        p += 64
        if p == end:
            break
    mul = (_K1 + ((z & 0xff) << 1)) & _M
    p = last64
    w0 = (w0 + ((n - 1) & 63)) & _M
    v0 = (v0 + w0) & _M
    w0 = (w0 + v0) & _M
    x = (_rot((x + y + v0 + _f64(s, p + 8)) & _M, 37) * mul) & _M
    y = (_rot((y + v1 + _f64(s, p + 48)) & _M, 42) * mul) & _M
    x ^= (w1 * 9) & _M
    y = (y + v0 * 9 + _f64(s, p + 40)) & _M
    z = (_rot((z + w0) & _M, 33) * mul) & _M
    v0, v1 = _weak32(s, p, (v1 * mul) & _M, (x + w0) & _M)
    w0, w1 = _weak32(s, p + 32, (z + w1) & _M, (y + _f64(s, p + 16)) & _M)
    z, x = x, z
    return _mix16((_mix16(v0, w0, mul) + _shift_mix(y) * _K0 + z) & _M,
                  (_mix16(v1, w1, mul) + x) & _M, mul)


# ----------------------------------------------------------------------------- SipHash-2-4


def _sip_round(v0, v1, v2, v3):
    v0 = (v0 + v1) & _M
    v1 = _rot(v1, 64 - 13) ^ v0
    v0 = _rot(v0, 32)
    v2 = (v2 + v3) & _M
    v3 = _rot(v3, 64 - 16) ^ v2
    v0 = (v0 + v3) & _M
    v3 = _rot(v3, 64 - 21) ^ v0
    v2 = (v2 + v1) & _M
    v1 = _rot(v1, 64 - 17) ^ v2
    v2 = _rot(v2, 32)
    return v0, v1, v2, v3


def siphash24(s, k0, k1):
    """SipHash-2-4 of `s` (bytes) under the key words (k0, k1) (uint64 each), as an int."""
    s = bytes(s)
    k0 &= _M
    k1 &= _M
    v0 = k0 ^ 0x736f6d6570736575
    v1 = k1 ^ 0x646f72616e646f6d
    v2 = k0 ^ 0x6c7967656e657261
    v3 = k1 ^ 0x7465646279746573
    n = len(s)
    full = n - n % 8
    for i in range(0, full, 8):
        m = _f64(s, i)
        v3 ^= m
        for _ in range(2):
            v0, v1, v2, v3 = _sip_round(v0, v1, v2, v3)
        v0 ^= m
    m = int.from_bytes(s[full:], "little") | ((n & 0xff) << 56)
    v3 ^= m
    for _ in range(2):
        v0, v1, v2, v3 = _sip_round(v0, v1, v2, v3)
    v0 ^= m
    v2 ^= 0xff
    for _ in range(4):
        v0, v1, v2, v3 = _sip_round(v0, v1, v2, v3)
    return v0 ^ v1 ^ v2 ^ v3


# ----------------------------------------------------------------------------- TF Hash64


def tf_hash64(s, seed=0xDECAFCAFFE):
    """TF's legacy `Hash64` (tensorflow/core/platform/hash.cc): MurmurHash64A-style."""
    s = bytes(s)
    m = 0xc6a4a7935bd1e995
    n = len(s)
    h = (seed ^ (n * m)) & _M
    full = n - n % 8
    for i in range(0, full, 8):
        k = (_f64(s, i) * m) & _M
        k ^= k >> 47
        k = (k * m) & _M
        h = ((h ^ k) * m) & _M
    if n % 8:
        h ^= int.from_bytes(s[full:], "little")
        h = (h * m) & _M
    h ^= h >> 47
    h = (h * m) & _M
    h ^= h >> 47
    return h


# ----------------------------------------------------------------------------- tf.fingerprint


def fingerprint(data, method="farmhash64", name=None):
    """`tf.fingerprint`: one FarmHash Fingerprint64 per row of `data` (rank >= 1), as 8
    little-endian bytes: a uint8 tensor of shape [data.shape[0], 8]. A row of numbers is
    hashed as its bytes in memory (little-endian); a row of one string as the string's
    bytes; a row of several strings as the 8-byte fingerprints of its strings, one after
    another (TF's FingerprintOp does the same)."""
    import numpy as np
    from ..framework.device import DeviceArray
    from ..framework.tensor import Tensor, _host_tensor, _wrap
    op = "fingerprint"
    if isinstance(method, Tensor):
        method = method.numpy()
    if isinstance(method, bytes):
        method = method.decode()
    if method not in ("farmhash64", "farmhashfp64"):
        raise ValueError(f"[{op}] Unsupported fingerprint method: {method!r} (TF supports "
                         "'farmhash64')")
    if type(data).__name__ in ("RaggedTensor", "SparseTensor"):
        raise TypeError(f"[{op}] data must be a dense Tensor, got a {type(data).__name__}")
    t = data if isinstance(data, Tensor) else _host_tensor(data)
    a = t._data.get() if type(t._data) is DeviceArray else np.asarray(t._data)
    if a.ndim < 1:
        raise ValueError(f"[{op}] `data` should have at least one dimension, got shape "
                         f"{a.shape}")
    n = a.shape[0]
    rows = a.reshape(n, -1)
    out = np.zeros((n, 8), np.uint8)
    if a.dtype.kind in "OSU":
        for i, row in enumerate(rows):
            parts = [v.encode("utf-8") if isinstance(v, str) else bytes(v) for v in row]
            if len(parts) == 1:
                h = fingerprint64(parts[0])
            else:
                h = fingerprint64(b"".join(fingerprint64(p).to_bytes(8, "little")
                                           for p in parts))
            out[i] = np.frombuffer(h.to_bytes(8, "little"), np.uint8)
    else:
        le = np.ascontiguousarray(rows, dtype=rows.dtype.newbyteorder("<"))
        raw = le.view(np.uint8).reshape(n, -1)
        for i in range(n):
            out[i] = np.frombuffer(fingerprint64(raw[i].tobytes()).to_bytes(8, "little"),
                                   np.uint8)
    return _wrap(out)
