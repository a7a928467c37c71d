"""Random tensors (`nabi.random`): one global seedable generator, TF's names and defaults."""
import numpy as np

from .. import dtypes as _dt
from ..framework.device import place
from ._common import _wrap as _host_wrap


def _wrap(arr):
    """Random tensors are drawn on the host by the seeded generator (one stream on every device)
    and placed on the current device."""
    return _host_wrap(place(arr))

_state = {"rng": np.random.default_rng(), "seed": None, "calls": {}, "op_seeds": None,
          "kernels": {}}


def _with_grads(out, terms, op):
    """Records out = shift + scale * r (r the draw, a constant) on the tape for the float
    Tensors among the arguments, as TF differentiates mean/stddev and minval/maxval (its
    composite of ops): `terms` pairs each argument with d out / d argument (a host array of
    out's shape or broadcastable to it)."""
    from ._common import Tensor, _tapes, record
    if not _tapes:
        return out
    terms = [(x, c) for x, c in terms if isinstance(x, Tensor) and x._data.dtype.kind == "f"]
    if not terms:
        return out
    from ._common import const_like, unbroadcast, unbroadcast_t
    from ..framework.device import to_device
    od = out._data
    ins = tuple(x for x, _ in terms)
    coefs = [np.broadcast_to(np.asarray(c, od.dtype), od.shape) for _, c in terms]

    def backward(g, n):
        dev = "cpu" if type(g) is np.ndarray else "cuda"
        return tuple(unbroadcast(g * to_device(np.ascontiguousarray(c), dev), x._data.shape)
                     .astype(x._data.dtype) if need else None
                     for x, c, need in zip(ins, coefs, n))

    def backward_t(g, n):
        from .math_ops import cast, multiply
        return tuple(cast(unbroadcast_t(multiply(g, const_like(np.ascontiguousarray(c), g)),
                                        x._data.shape), x.dtype) if need else None
                     for x, c, need in zip(ins, coefs, n))
    record(ins, out, backward, backward_t, op)
    return out


def set_seed(seed):
    """Makes every later random op repeat the same sequence."""
    import random
    try:   # (every new piece is made before any is stored: a refused seed changes nothing)
        rng = np.random.default_rng(seed)
        op_seeds = None if seed is None else random.Random(seed)
        # Keras 2's initializer seed stream (keras.initializers: an unseeded initializer
        # takes randint(1, 10**9) from it on its first call); keras.utils.set_random_seed
        init_seeds = None if seed is None else random.Random(seed)
    except (TypeError, ValueError) as e:
        raise TypeError(f"[random.set_seed] seed must be an integer or None, got "
                        f"{seed!r} ({e})") from None
    _state.update(seed=seed, rng=rng, op_seeds=op_seeds, init_seeds=init_seeds, calls={},
                  kernels={})   # (TF clears its kernel cache: the seeded ops' counters)


# TF's seeded stateful ops (random.uniform / normal / truncated_normal): get_seed turns the
# global and op seeds into (seed, seed2): an op without a seed takes the next number of a
# Python random.Random(global seed), an op seed without a global seed pairs with 87654321.
# The kernel draws Philox under key = seed from the counter (offset, seed2); a kernel kept in
# TF's cache (same op, seeds and dtype) goes on where its last draw stopped (256 counter steps
# per value). With no seed at all, nabi's own (non-deterministic) generator draws instead.
_MAXINT32 = 2**31 - 1


def _tf_seeds(op_seed):
    g = _state["seed"]
    if g is None and op_seed is None:
        return None
    if g is None:
        seeds = (87654321, int(op_seed) % _MAXINT32)
    else:
        if op_seed is None:
            op_seed = _state["op_seeds"].randint(0, _MAXINT32)
        seeds = (int(g) % _MAXINT32, int(op_seed) % _MAXINT32)
    return (0, _MAXINT32) if seeds == (0, 0) else seeds


def _tf_kernel_stream(op, dtype, op_seed):
    """The Generator drawing TF's numbers for a seeded stateful op, its counter kept per
    (op, seeds, dtype) like TF's kernel cache; None when no seed is set."""
    seeds = _tf_seeds(op_seed)
    if seeds is None:
        return None
    key = (op, seeds, np.dtype(dtype).name)
    lo, hi = _state["kernels"].get(key, (0, seeds[1]))
    g = Generator.__new__(Generator)
    g._alg = RNG_ALG_PHILOX
    g._state_var = _HostStateWatch(np.array([lo, hi, seeds[0]], np.uint64).view(np.int64),
                                   _state["kernels"], key)
    return g


def _generator(seed=None, advance=False):
    if seed is None and advance and _state["op_seeds"] is not None:
        _state["op_seeds"].randint(0, _MAXINT32)   # TF's other random ops take a seed too
    if seed is not None:
        # An op-level seed gives a stream that depends on both seeds, like TF. With advance,
        # as TF's kernel counter, each further call with the same seeds draws the next numbers
        # of that sequence (tf.random.normal(s, seed=3) or tf.nn.dropout(x, 0.5, seed=3) new
        # numbers each call, as in TF 2 eager), until set_seed starts the sequences again.
        # Without it the same seeds give the same numbers (Keras 2's seeded initializers,
        # which repeat their values, and seeded dataset shuffles).
        g = _state["seed"] if _state["seed"] is not None else 0
        key = (int(g), int(seed))
        k = _state["calls"].get(key, 0) if advance else 0
        if advance:
            _state["calls"][key] = k + 1
        return np.random.default_rng([key[0], key[1]] + ([k] if k else []))
    return _state["rng"]


def _shape(shape):
    from .array_ops import _shape_arg
    return _shape_arg(shape)


def normal(shape, mean=0.0, stddev=1.0, dtype=_dt.float32, seed=None, name=None, _advance=True):
    dt = _dt.as_dtype(dtype)._np
    g = _tf_kernel_stream("normal", dt, seed) if _advance else None
    if g is not None:
        return g.normal(shape, mean=mean, stddev=stddev, dtype=dtype)
    r = _generator(seed, _advance).standard_normal(_shape(shape), dtype=np.float64 if dt == np.float64 else np.float32)
    # mean/stddev may be tensors (HOML's my_glorot_initializer: stddev=tf.sqrt(...))
    out = _wrap((r * _host_value(stddev) + _host_value(mean)).astype(dt, copy=False))
    return _with_grads(out, [(mean, 1.0), (stddev, r)], "random.normal")


def uniform(shape, minval=0, maxval=None, dtype=_dt.float32, seed=None, name=None, _advance=True):
    dt = _dt.as_dtype(dtype)
    if dt.is_integer and maxval is None:
        raise ValueError("[random.uniform] maxval must be given for integer dtypes")
    tfg = _tf_kernel_stream("uniform_int" if dt.is_integer else "uniform", dt._np, seed) \
        if _advance else None
    if tfg is not None:
        return tfg.uniform(shape, minval=minval, maxval=maxval, dtype=dt)
    g = _generator(seed, _advance)
    if dt.is_integer:
        return _wrap(g.integers(minval, maxval, _shape(shape)).astype(dt._np))
    maxval = 1.0 if maxval is None else maxval
    r = g.random(_shape(shape), dtype=np.float64 if dt._np == np.float64 else np.float32)
    out = _wrap((r * (_host_value(maxval) - _host_value(minval)) + _host_value(minval))
                .astype(dt._np, copy=False))
    return _with_grads(out, [(minval, 1.0 - r), (maxval, r)], "random.uniform")


def truncated_normal(shape, mean=0.0, stddev=1.0, dtype=_dt.float32, seed=None, name=None,
                     _advance=True):
    """Normal samples redrawn until they lie within two standard deviations."""
    tfg = _tf_kernel_stream("truncated_normal", _dt.as_dtype(dtype)._np, seed) \
        if _advance else None
    if tfg is not None:
        return tfg.truncated_normal(shape, mean=mean, stddev=stddev, dtype=dtype)
    g = _generator(seed, _advance)
    shp = _shape(shape)
    r = g.standard_normal(shp)
    bad = np.abs(r) > 2
    while bad.any():
        r[bad] = g.standard_normal(int(bad.sum()))
        bad = np.abs(r) > 2
    out = _wrap((r * _host_value(stddev) + _host_value(mean)).astype(_dt.as_dtype(dtype)._np))
    return _with_grads(out, [(mean, 1.0), (stddev, r)], "random.truncated_normal")


def _tf_shuffle_perm(n, g):
    """TF's RandomShuffle permutation of n rows from the seeded stream g (a Generator whose
    counter then moves by the Philox calls used, ceil((n - 1) / 4)): Fisher-Yates forwards,
    swapping i with i + u % (n - i), u the successive 32-bit Philox words."""
    calls = max(n - 1 + 3, 0) // 4
    st = g._read().view(np.uint64)
    words = _philox_blocks((st[0], st[1]), st[2], calls).reshape(-1).tolist()
    lo, hi = _counter_add((st[0], st[1]), np.array([calls], np.uint64))
    g._state_var.assign(np.array([lo[0], hi[0], st[2]], np.uint64).view(np.int64))
    return words


def _fisher_yates(n, g):
    words, perm = _tf_shuffle_perm(n, g), list(range(n))
    for k, i in enumerate(range(n - 1)):
        j = i + words[k] % (n - i)
        perm[i], perm[j] = perm[j], perm[i]
    return np.array(perm, np.int64)


def stateless_shuffle(value, seed, alg="auto_select", name=None):
    """`tf.random.experimental.stateless_shuffle`: the rows of `value` in TF's order for
    `seed` (the Fisher-Yates of tf.random.shuffle on the stateless key/counter)."""
    from ._common import t_
    a = t_(value)._data
    if a.ndim == 0:
        raise ValueError("[random.experimental.stateless_shuffle] value must have rank >= 1")
    _alg_int(alg, "random.experimental.stateless_shuffle")
    perm = _fisher_yates(a.shape[0], stateless_stream("random.experimental.stateless_shuffle",
                                                      seed))
    if type(a) is not np.ndarray:
        from ..framework.device import to_device
        return _host_wrap(a[to_device(perm, "cuda")])
    return _wrap(a[perm])


def shuffle(value, seed=None, name=None):
    from ._common import t_
    a = t_(value)._data
    tfg = _tf_kernel_stream("shuffle", a.dtype, seed) if a.ndim else None
    if tfg is not None:
        perm = _fisher_yates(a.shape[0], tfg)
    else:
        perm = _generator(seed, True).permutation(a.shape[0])
    if type(a) is not np.ndarray:
        from ..framework.device import to_device
        return _host_wrap(a[to_device(perm, "cuda")])
    return _wrap(a[perm])


def _categorical_gpu(op, g, logits, num_samples, dtype):
    """Samples of GPU logits on the device (csrc/cuda/random_samplers.cu), or None when the
    logits are not a GPU tensor or dtype is not int32 / int64 (the host path then runs). The
    uniforms are the host path's: g.choice(classes, num_samples, p=row) for each row draws
    g.random(num_samples) and takes the first class whose cdf exceeds it, so drawing
    g.random((rows, num_samples)) here and searching on the device gives the same samples
    (see the kernel's comment on rounding) and leaves g where the host path does. Nothing is
    read back; a row with a NaN or +inf logit (the host raises) samples -1."""
    from ._common import t_
    from ..framework.device import DeviceArray, backend, to_device
    a = t_(logits)._data if hasattr(logits, "_data") else None
    out = np.dtype(_dt.as_dtype(dtype)._np)
    if type(a) is not DeviceArray or out not in (np.int32, np.int64):
        return None
    if a.ndim != 2:
        raise ValueError(f"[{op}] logits must be 2-D (batch, classes), got shape {a.shape}")
    n = int(num_samples)
    if n < 0:
        raise ValueError(f"[{op}] num_samples must be >= 0, got {n}")
    if a.shape[1] == 0 and a.shape[0] and n:
        raise ValueError(f"[{op}] logits must have at least one class, got shape {a.shape}")
    if a.dtype not in (np.float32, np.float64):
        if a.dtype.kind not in "fiu":
            raise TypeError(f"[{op}] logits must be numeric, got dtype {a.dtype}")
        a = a.astype(np.float64)
    u = to_device(np.ascontiguousarray(g.random((a.shape[0], n))), "cuda")
    return _host_wrap(DeviceArray(backend().categorical_sample(a.buf, u.buf, out.name)))


def categorical(logits, num_samples, dtype=_dt.int64, seed=None, name=None):
    """(batch, num_samples) class ids drawn from the softmax of 2-D `logits`, by NumPy's
    Generator.choice per row from the seeded generator. GPU logits are sampled on the device
    (csrc/cuda/random_samplers.cu) from the same uniforms: the same ids, nothing read back."""
    from ._common import t_
    from ..framework.device import to_device
    g = _generator(seed, True)
    gpu = _categorical_gpu("random.categorical", g, logits, num_samples, dtype)
    if gpu is not None:
        return gpu
    lg = to_device(t_(logits)._data, "cpu").astype(np.float64)  # sampled on the host
    p = np.exp(lg - lg.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    out = np.stack([g.choice(p.shape[1], size=num_samples, p=row) for row in p])
    return _wrap(out.astype(_dt.as_dtype(dtype)._np))


# ------------------------------------------------------------------ tf.random.Generator
# Philox-4x32-10 (Salmon et al., "Parallel Random Numbers: As Easy as 1, 2, 3") with TF's state
# layout and sampling rules, in NumPy on the host. State: int64 [counter_lo, counter_hi, key];
# each call of the block function maps the 128-bit counter and 64-bit key to four uint32 words,
# then the counter steps by one. A draw of n values reads the state's counter onwards and moves
# the state's counter by 256 * n (TF's reserve per output), so skip(n) == drawing n values.
_PHILOX_M = (np.uint64(0xD2511F53), np.uint64(0xCD9E8D57))
_PHILOX_W = (np.uint32(0x9E3779B9), np.uint32(0xBB67AE85))
_RESERVED_PER_OUTPUT = 256
_U32 = np.uint64(0xFFFFFFFF)
RNG_ALG_PHILOX, RNG_ALG_THREEFRY, RNG_ALG_AUTO_SELECT = 1, 2, 3
_ALG_NAMES = {"philox": RNG_ALG_PHILOX, "threefry": RNG_ALG_THREEFRY,
              "auto_select": RNG_ALG_AUTO_SELECT}


def _counter_add(counter, n):
    """(lo, hi) uint64 arrays: the 128-bit counter (two uint64 words, low first) plus each of
    the offsets n (a uint64 array)."""
    lo = np.uint64(counter[0]) + n
    return lo, np.uint64(counter[1]) + (lo < np.uint64(counter[0])).astype(np.uint64)


def _philox(lo, hi, key):
    """(n, 4) uint32: Philox-4x32-10 of the counters (lo, hi) (uint64 arrays) under `key`
    (one uint64: two 32-bit key words, low first)."""
    c = [(lo & _U32).astype(np.uint32), (lo >> np.uint64(32)).astype(np.uint32),
         (hi & _U32).astype(np.uint32), (hi >> np.uint64(32)).astype(np.uint32)]
    k0, k1 = np.uint32(int(key) & 0xFFFFFFFF), np.uint32(int(key) >> 32)
    with np.errstate(over="ignore"):
        for _ in range(10):
            p0 = _PHILOX_M[0] * c[0].astype(np.uint64)
            p1 = _PHILOX_M[1] * c[2].astype(np.uint64)
            c = [(p1 >> np.uint64(32)).astype(np.uint32) ^ c[1] ^ k0, p1.astype(np.uint32),
                 (p0 >> np.uint64(32)).astype(np.uint32) ^ c[3] ^ k1, p0.astype(np.uint32)]
            k0, k1 = k0 + _PHILOX_W[0], k1 + _PHILOX_W[1]
    return np.stack(c, axis=1)


def _philox_blocks(counter, key, n):
    """(n, 4) uint32: the Philox outputs of counters counter, counter+1, ..., counter+n-1."""
    return _philox(*_counter_add(counter, np.arange(n, dtype=np.uint64)), key)


def _u32_to_float(x):
    """[0, 1) float32 from the low 23 bits (TF's Uint32ToFloat)."""
    return ((x & np.uint32(0x7FFFFF)) | np.uint32(0x3F800000)).view(np.float32) - np.float32(1)


def _u32_to_half(x):
    return ((x & np.uint32(0x3FF)).astype(np.uint16) | np.uint16(0x3C00)).view(np.float16) - \
        np.float16(1)


def _u64_to_double(x0, x1):
    """[0, 1) float64 from 52 bits of the pair (TF's Uint64ToDouble)."""
    man = ((x0 & np.uint32(0xFFFFF)).astype(np.uint64) << np.uint64(32)) | x1.astype(np.uint64)
    return (man | np.uint64(1023 << 52)).view(np.float64) - 1.0


def _box_muller(u1, v1):
    """(sin v1, cos v1) * sqrt(-2 log u1). TF calls the C library's logf / sincosf on each
    element, which round differently from NumPy's vectorised log / sin / cos in about one
    float32 value in five: nabi._C.box_muller makes those same calls (NumPy if it is absent)."""
    u1, v1 = np.ascontiguousarray(u1), np.ascontiguousarray(v1)
    try:
        from .. import _C
        return _C.box_muller(u1, v1)
    except (ImportError, AttributeError):
        u2 = np.sqrt(u1.dtype.type(-2.0) * np.log(u1))
        return np.sin(v1) * u2, np.cos(v1) * u2


def _box_muller_float(x0, x1):
    u1 = np.maximum(_u32_to_float(x0), np.float32(1e-7))
    v1 = (2.0 * np.pi * _u32_to_float(x1).astype(np.float64)).astype(np.float32)
    return _box_muller(u1, v1)


def _box_muller_double(x0, x1, x2, x3):
    u1 = np.maximum(_u64_to_double(x0, x1), 1e-7)
    v1 = 2.0 * np.pi * _u64_to_double(x2, x3)
    return _box_muller(u1, v1)


def _interleave(a, b):
    return np.stack([a, b], axis=-1).reshape(a.shape[:-1] + (2 * a.shape[-1],))


def _state_from_seed(seed, size=3):
    """TF's create_rng_state: a Python int is cut into 64-bit words, low word first; an
    array of integers is taken as int64 and left-padded with zeros (or cut) to `size`."""
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
        seed, words = int(seed), []
        for _ in range(size):
            words.append(seed & 0xFFFFFFFFFFFFFFFF)
            seed >>= 64
        return np.array(words, np.uint64).view(np.int64)
    a = _host_value(seed)
    if a.dtype.kind not in "iu":
        raise TypeError(f"[random.create_rng_state] seed must be an integer or an integer "
                        f"array, got dtype {a.dtype}")
    a = a.reshape(-1).astype(np.uint64 if a.dtype.kind == "u" else np.int64).view(np.int64)
    a = a[:size]
    return np.concatenate([np.zeros(size - a.size, np.int64), a])


def _alg_int(alg, op="random.Generator"):
    if alg is None:
        return RNG_ALG_PHILOX
    if hasattr(alg, "value"):            # tf.random.Algorithm.PHILOX
        alg = alg.value
    if isinstance(alg, str):
        if alg.lower() not in _ALG_NAMES:
            raise ValueError(f"[{op}] unknown RNG algorithm {alg!r}; nabi has 'philox' "
                             "(and 'auto_select', which picks it)")
        alg = _ALG_NAMES[alg.lower()]
    alg = int(alg)
    if alg == RNG_ALG_AUTO_SELECT:       # TF's choice on CPU and GPU
        return RNG_ALG_PHILOX
    if alg == RNG_ALG_THREEFRY:
        raise NotImplementedError(f"[{op}] the ThreeFry algorithm (alg 2) is not implemented "
                                  "in nabi; use alg='philox'")
    if alg != RNG_ALG_PHILOX:
        raise ValueError(f"[{op}] unknown RNG algorithm {alg}; 1 (philox) is supported")
    return alg


class Algorithm:
    """`tf.random.Algorithm`: the RNG algorithms' ids (Algorithm.PHILOX.value == 1)."""

    class _Alg:
        __slots__ = ("name", "value")

        def __init__(self, name, value):
            self.name, self.value = name, value

        def __repr__(self):
            return f"<Algorithm.{self.name}: {self.value}>"

    PHILOX = _Alg("PHILOX", RNG_ALG_PHILOX)
    THREEFRY = _Alg("THREEFRY", RNG_ALG_THREEFRY)
    AUTO_SELECT = _Alg("AUTO_SELECT", RNG_ALG_AUTO_SELECT)


def create_rng_state(seed, alg):
    """`tf.random.create_rng_state`: the int64 state a Generator of `alg` starts from
    (create_rng_state(1234, 'philox') is [1234, 0, 0])."""
    _alg_int(alg, "random.create_rng_state")
    return _host_wrap(_state_from_seed(seed))


class Generator:
    """`tf.random.Generator`: an explicit random stream whose state is an int64 Variable of
    shape [3], TF's Philox layout [counter_lo, counter_hi, key] (alg 'philox' = 1).

        g = tf.random.Generator.from_seed(1234)      # state [1234, 0, 0]
        g.normal((2, 3)); g.uniform((4,), maxval=10, dtype=tf.int32)

    The streams follow TF's Philox-4x32-10 algorithm and sampling rules, so `normal` and
    `uniform` give TF's numbers for the same state (from_seed(1234).normal((2, 3)) is the
    [[0.9356609, 1.0854305, -0.93788373], [-0.5061547, 1.3169702, 0.7137579]] of TF's docs,
    up to float32 rounding of sin/log); each draw of n values advances the counter by 256 * n,
    so `skip(n)` leaves the state that drawing n values would. `binomial` is counter-based
    per sample from the state (as stateless_binomial from its key / counter: after TF's
    sampler, not TF's numbers); on a Generator whose state is on the GPU it samples on the
    device from that state, nothing read back. The other draws run on the host; the result is
    placed on the current device. The global seed (`tf.random.set_seed`) does not touch a
    Generator."""

    def __init__(self, copy_from=None, state=None, alg=None):
        from ..framework.tensor import Variable
        if copy_from is not None:
            if state is not None or alg is not None:
                raise ValueError("[random.Generator] give either copy_from or state and alg")
            if not isinstance(copy_from, Generator):
                raise TypeError(f"[random.Generator] copy_from must be a Generator, got "
                                f"{type(copy_from).__name__}")
            state, alg = copy_from._read(), copy_from.algorithm
        elif state is None or alg is None:
            raise ValueError("[random.Generator] state and alg must both be given (or use "
                             "Generator.from_seed / from_non_deterministic_state)")
        self._alg = _alg_int(alg)
        if isinstance(state, Variable):
            self._check_state(state._data.shape, state._data.dtype)
            self._state_var = state
        else:
            arr = _host_value(state)
            self._check_state(arr.shape, arr.dtype)
            self._state_var = Variable(arr.astype(np.int64), trainable=False,
                                       name="Generator/state")

    @staticmethod
    def _check_state(shape, dtype):
        if tuple(shape) != (3,) or np.dtype(dtype).kind not in "iu":
            raise ValueError(f"[random.Generator] a philox state is an integer vector of shape "
                             f"[3] (counter_lo, counter_hi, key), got shape {tuple(shape)} and "
                             f"dtype {np.dtype(dtype).name}")

    # -- constructors --------------------------------------------------------------------
    @classmethod
    def from_state(cls, state, alg):
        return cls(state=state, alg=alg)

    @classmethod
    def from_seed(cls, seed, alg=None):
        return cls(state=_state_from_seed(seed), alg=_alg_int(alg))

    @classmethod
    def from_non_deterministic_state(cls, alg=None):
        import os
        return cls(state=np.frombuffer(os.urandom(24), np.int64).copy(), alg=_alg_int(alg))

    @classmethod
    def from_key_counter(cls, key, counter, alg):
        counter = _host_value(counter).reshape(-1).astype(np.int64)
        if counter.shape != (2,):
            raise ValueError(f"[random.Generator.from_key_counter] a philox counter has 2 "
                             f"words, got shape {counter.shape}")
        key = _host_value(key).reshape(-1).astype(np.int64)
        if key.shape != (1,):
            raise ValueError(f"[random.Generator.from_key_counter] a philox key has 1 word, "
                             f"got shape {key.shape}")
        return cls(state=np.concatenate([counter, key]), alg=alg)

    # -- state ---------------------------------------------------------------------------
    @property
    def state(self):
        """The int64 Variable of shape [3] holding [counter_lo, counter_hi, key]."""
        return self._state_var

    @property
    def algorithm(self):
        return self._alg

    @property
    def key(self):
        return _host_wrap(self._read()[-1:].copy().reshape(()))

    def _read(self):
        return np.asarray(self._state_var.numpy(), np.int64)

    def reset(self, state):
        arr = _host_value(state)
        self._check_state(arr.shape, arr.dtype)
        self._state_var.assign(arr.astype(np.int64))

    def reset_from_seed(self, seed):
        self._state_var.assign(_state_from_seed(seed))

    def reset_from_key_counter(self, key, counter):
        g = Generator.from_key_counter(key, counter, self._alg)
        self._state_var.assign(g._read())

    def skip(self, delta):
        """Advances the state as drawing `delta` values would (TF: 256 * delta counter steps)."""
        delta = int(_host_value(delta))
        if delta < 0:
            raise ValueError(f"[random.Generator.skip] delta must be >= 0, got {delta}")
        self._advance(delta)

    def _advance(self, n_outputs):
        s = self._read().view(np.uint64)
        c = (int(s[0]) | int(s[1]) << 64) + n_outputs * _RESERVED_PER_OUTPUT
        c &= (1 << 128) - 1
        new = np.array([c & 0xFFFFFFFFFFFFFFFF, c >> 64, int(s[2])], np.uint64).view(np.int64)
        self._state_var.assign(new)

    def _blocks(self, n_outputs, n_calls):
        """The uint32 words of `n_calls` Philox calls from the current state (then advanced
        for `n_outputs` values)."""
        s = self._read().view(np.uint64)
        bits = _philox_blocks((s[0], s[1]), s[2], n_calls)
        self._advance(n_outputs)
        return bits

    # -- distributions -------------------------------------------------------------------
    def _unit(self, op, shape, dtype):
        """[0, 1) samples of `shape` (TF's UniformDistribution)."""
        shp = _shape(shape)
        n = int(np.prod(shp))
        if dtype == np.float64:
            w = self._blocks(n, -(-n // 2)).reshape(-1, 2)
            return _u64_to_double(w[:, 0], w[:, 1])[:n].reshape(shp)
        w = self._blocks(n, -(-n // 4)).reshape(-1)[:n]
        return (_u32_to_half(w) if dtype == np.float16 else _u32_to_float(w)).reshape(shp)

    def _standard_normal(self, shape, dtype):
        shp = _shape(shape)
        n = int(np.prod(shp))
        if dtype == np.float64:
            w = self._blocks(n, -(-n // 2))
            a, b = _box_muller_double(w[:, 0], w[:, 1], w[:, 2], w[:, 3])
            return _interleave(a[:, None], b[:, None]).reshape(-1)[:n].reshape(shp)
        w = self._blocks(n, -(-n // 4)).reshape(-1)
        a, b = _box_muller_float(w[0::2], w[1::2])
        out = _interleave(a[:, None], b[:, None]).reshape(-1)[:n].reshape(shp)
        return out.astype(np.float16) if dtype == np.float16 else out

    def _float_dtype(self, op, dtype):
        dt = _dt.as_dtype(dtype)
        if not dt.is_floating:
            raise ValueError(f"[random.Generator.{op}] dtype must be a float type (float16, "
                             f"float32, float64), got {dt.name}")
        return dt._np

    def normal(self, shape, mean=0.0, stddev=1.0, dtype=_dt.float32, name=None):
        dt = self._float_dtype("normal", dtype)
        r = self._standard_normal(shape, dt)
        out = _wrap((r * _host_value(stddev).astype(dt) + _host_value(mean).astype(dt))
                    .astype(dt, copy=False))
        return _with_grads(out, [(mean, 1.0), (stddev, r)], "random.Generator.normal")

    def truncated_normal(self, shape, mean=0.0, stddev=1.0, dtype=_dt.float32, name=None):
        """Normals within two standard deviations, by TF's rule: each group of 4 outputs (2 for
        float64) starts 256 Philox calls after the last and keeps the Box-Muller values with
        |x| < 2 in order."""
        dt = self._float_dtype("truncated_normal", dtype)
        shp = _shape(shape)
        n = int(np.prod(shp))
        group = 2 if dt == np.float64 else 4
        groups = -(-n // group)
        s = self._read().view(np.uint64)
        self._advance(n)
        skip = np.uint64(group * _RESERVED_PER_OUTPUT // 4)   # Philox calls between groups

        def normals(first_call, calls, rows):
            """The Box-Muller values of `calls` calls from each group's `first_call`, in
            order: (len(rows), values)."""
            off = rows.astype(np.uint64)[:, None] * skip + np.uint64(first_call) + \
                np.arange(calls, dtype=np.uint64)
            w = _philox(*_counter_add(s[:2], off.reshape(-1)), s[2]).reshape(len(rows), 4 * calls)
            if dt == np.float64:
                a, b = _box_muller_double(w[:, 0::4], w[:, 1::4], w[:, 2::4], w[:, 3::4])
            else:
                a, b = _box_muller_float(w[:, 0::2], w[:, 1::2])
            return _interleave(a, b)

        rows = np.arange(groups)
        vals = normals(0, 2, rows)            # 8 (float64: 4) values; nearly always enough
        out = np.empty((groups, group), vals.dtype)
        ok = np.abs(vals) < 2.0
        full = ok.sum(axis=1) >= group
        pick = np.argsort(~ok[full], axis=1, kind="stable")[:, :group]
        out[full] = np.take_along_axis(vals[full], pick, axis=1)
        for gi in np.nonzero(~full)[0]:       # rare: draw on, two calls at a time
            got, calls = [], 0
            while len(got) < group:
                v = normals(calls, 2, np.array([gi]))[0]
                got += [x for x in v if abs(x) < 2.0]
                calls += 2
            out[gi] = got[:group]
        r = out.reshape(-1)[:n].reshape(shp)
        # in the dtype, as TF's rnd * stddev + mean (float64 arithmetic rounds differently)
        res = _wrap((r * _host_value(stddev).astype(dt) + _host_value(mean).astype(dt))
                    .astype(dt, copy=False))
        return _with_grads(res, [(mean, 1.0), (stddev, r)], "random.Generator.truncated_normal")

    def uniform(self, shape, minval=0, maxval=None, dtype=_dt.float32, name=None):
        """Floats in [minval, maxval) (maxval defaults to 1); integers in [minval, maxval)
        by TF's `lo + bits % (hi - lo)`; an integer dtype with minval and maxval both None
        draws the full range (uniform_full_int)."""
        dt = _dt.as_dtype(dtype)
        op = "random.Generator.uniform"
        if dt.is_integer:
            if minval is None and maxval is None:
                return self.uniform_full_int(shape, dt)
            if minval is None or maxval is None:
                raise ValueError(f"[{op}] for integer dtype {dt.name}, minval and maxval must "
                                 f"both be given (or both None), got minval={minval!r}, "
                                 f"maxval={maxval!r}")
            if dt.name not in ("int32", "int64", "uint32", "uint64"):
                raise TypeError(f"[{op}] integer dtype must be int32, int64, uint32 or uint64, "
                                f"got {dt.name}")
            lo = _host_value(minval).astype(object)
            hi = _host_value(maxval).astype(object)
            if lo.ndim or hi.ndim:
                raise ValueError(f"[{op}] integer minval and maxval must be scalars, got shapes "
                                 f"{lo.shape} and {hi.shape}")
            lo, hi = int(lo), int(hi)
            if not lo < hi:
                raise ValueError(f"[{op}] need minval < maxval, got {lo} and {hi}")
            shp = _shape(shape)
            n = int(np.prod(shp))
            wide = dt.size == 8
            bits = self._full_bits(n, wide)
            rng = np.uint64(hi - lo) if wide else np.uint32((hi - lo) & 0xFFFFFFFF)
            off = (bits % rng).astype(np.uint64)
            with np.errstate(over="ignore"):
                v = (np.uint64(lo & 0xFFFFFFFFFFFFFFFF) + off)
            return _wrap(v.astype(dt._np).reshape(shp))
        if not dt.is_floating:
            raise TypeError(f"[{op}] dtype must be a float or integer type, got {dt.name}")
        r = self._unit(op, shape, dt._np)
        lo = _host_value(0 if minval is None else minval).astype(dt._np)
        hi = _host_value(1 if maxval is None else maxval).astype(dt._np)
        out = _wrap((r * (hi - lo) + lo).astype(dt._np, copy=False))
        return _with_grads(out, [(minval, 1.0 - r), (maxval, r)], "random.Generator.uniform")

    def _full_bits(self, n, wide):
        """n uniform uint32 (or uint64, two words low first) values."""
        if wide:
            w = self._blocks(n, -(-n // 2)).reshape(-1, 2)
            return (w[:, 0].astype(np.uint64) | w[:, 1].astype(np.uint64) << np.uint64(32))[:n]
        return self._blocks(n, -(-n // 4)).reshape(-1)[:n]

    def uniform_full_int(self, shape, dtype=_dt.uint64, name=None):
        """Integers over the dtype's whole range (int32, int64, uint32, uint64): the Philox
        words themselves, as in TF."""
        dt = _dt.as_dtype(dtype)
        if dt.name not in ("int32", "int64", "uint32", "uint64"):
            raise TypeError(f"[random.Generator.uniform_full_int] dtype must be int32, int64, "
                            f"uint32 or uint64, got {dt.name}")
        shp = _shape(shape)
        bits = self._full_bits(int(np.prod(shp)), dt.size == 8)
        return _wrap(bits.view(dt._np).reshape(shp))

    def binomial(self, shape, counts, probs, dtype=_dt.int32, name=None):
        """Binomial(counts, probs) samples (counts, probs broadcast to `shape`): sample i on
        the Philox substream state counter + 256 * i (_binomial_counter, as
        stateless_binomial); the state advances as for any draw of that size. A state on the
        GPU is read and advanced on the device (random_samplers.cu), nothing read back."""
        from ..framework.device import DeviceArray, backend
        op = "random.Generator.binomial"
        shp = _shape(shape)
        out_dt = _dt.as_dtype(dtype)._np
        n = int(np.prod(shp))
        sd = getattr(self._state_var, "_data", None)
        if type(sd) is DeviceArray and out_dt in _SAMPLER_GPU_DTYPES:
            out = _binomial_sample(op, None, shp, counts, probs, out_dt, state=sd)
            self._state_var.assign(_host_wrap(DeviceArray(backend().philox_state_advance(
                sd.buf, n))))
            return out
        st = self._read().view(np.uint64).copy()
        out = _binomial_sample(op, st, shp, counts, probs, out_dt)
        self._advance(n)
        return out

    def make_seeds(self, count=1):
        """Seeds for the stateless ops: an int64 tensor of shape [2, count] whose columns are
        seeds, [key_i, 0] with key_i from uniform_full_int (as TF)."""
        keys = self.uniform_full_int([int(count)], _dt.int64).numpy()
        return _wrap(np.stack([keys, np.zeros_like(keys)]))

    def split(self, count=1):
        """`count` new generators with states [0, 0, key_i], key_i from uniform_full_int (as
        TF), so their streams are independent of this one; this generator advances."""
        keys = self.uniform_full_int([int(count)], _dt.int64).numpy()
        return [Generator(state=np.array([0, 0, k], np.int64), alg=self._alg) for k in keys]

    def __repr__(self):
        return f"<nabi.random.Generator alg={self._alg} state={self._read().tolist()}>"


_global_generator = [None]


def get_global_generator():
    if _global_generator[0] is None:
        _global_generator[0] = Generator.from_non_deterministic_state()
    return _global_generator[0]


def set_global_generator(generator):
    if not isinstance(generator, Generator):
        raise TypeError(f"[random.set_global_generator] expected a Generator, got "
                        f"{type(generator).__name__}")
    _global_generator[0] = generator


# ------------------------------------------------------------------ stateless random ops
# TF's stateless ops (the V2 kernels tf.random.stateless_* call) turn the shape [2] seed into
# a Philox key and counter (StatelessRandomGetKeyCounter: one Philox-4x32-10 call on the
# counter (seed0 lo, seed0 hi, seed1 lo, seed1 hi) under the key (0x3ec8f720, 0x02461e29);
# its words 0-1 are the key, 2-3 the counter's high word) and then sample exactly as a
# Generator in that state does. So stateless_uniform / normal / truncated_normal (and
# stateless_split / fold_in, which draw full-range integers) give TF's numbers bit for bit.
# categorical is deterministic in the seed but nabi's own (NumPy's Generator.choice on a
# generator seeded by it, `stateless_generator`), as are tf.image's ops on it; GPU logits
# sample on the device with the same numbers (_categorical_gpu). gamma, poisson and binomial
# are counter-based per sample on the stateless key / counter (_gamma_counter_std,
# _poisson_counter, _binomial_counter: after TF's kernels, not checked against TF's
# numbers), the same on the host and the GPU.


def _seed_pair(op, seed):
    s = seed.numpy() if hasattr(seed, "numpy") else seed
    a = np.asarray(s)
    if a.shape != (2,) or a.dtype.kind not in "iu":
        raise ValueError(f"[{op}] seed must be a shape [2] integer tensor (a, b), got {s!r}")
    return [int(v) % (1 << 64) for v in a]


def stateless_generator(op, seed):
    """The NumPy generator of a stateless op's shape [2] integer seed."""
    return np.random.default_rng(_seed_pair(op, seed) + [0x1A6E])


class _HostStateWatch:
    """A seeded op's Generator state whose counter is written back to TF's kernel table."""

    def __init__(self, state, table, key):
        self._a, self._table, self._key = np.asarray(state, np.int64), table, key

    def numpy(self):
        return self._a

    def assign(self, value):
        self._a = np.asarray(value, np.int64)
        u = self._a.view(np.uint64)
        self._table[self._key] = (int(u[0]), int(u[1]))


class _HostState:
    """A Generator's state held in a host array (a stateless op must create no Variable)."""

    def __init__(self, state):
        self._a = np.asarray(state, np.int64)

    def numpy(self):
        return self._a

    def assign(self, value):
        self._a = np.asarray(value, np.int64)


def stateless_stream(op, seed):
    """The Generator (a throwaway one, on a host state) whose draws are TF's stateless draws
    for `seed`: see the comment above."""
    s0, s1 = _seed_pair(op, seed)
    mix = _philox(np.array([s0], np.uint64), np.array([s1], np.uint64),
                  0x3EC8F720 | 0x02461E29 << 32)[0].astype(np.uint64)
    key = mix[0] | mix[1] << np.uint64(32)
    hi = mix[2] | mix[3] << np.uint64(32)
    g = Generator.__new__(Generator)
    g._alg = RNG_ALG_PHILOX
    g._state_var = _HostState(np.array([0, hi, key], np.uint64).view(np.int64))
    return g


def _host_value(v):
    from ..framework.device import to_device
    if hasattr(v, "_data"):
        return np.asarray(to_device(v._data, "cpu"))
    return np.asarray(v)


def stateless_uniform(shape, seed, minval=0, maxval=None, dtype=_dt.float32, name=None,
                      alg="auto_select"):
    """TF's numbers for the seed: floats in [minval, maxval) (maxval defaults to 1), integers
    in [minval, maxval), or (integer dtype, minval and maxval both None) the full range."""
    _alg_int(alg, "random.stateless_uniform")
    if _dt.as_dtype(dtype).is_integer and (minval is None) != (maxval is None):
        raise ValueError("[random.stateless_uniform] integer dtypes need both minval and "
                         "maxval (or both None, for the full range)")
    return stateless_stream("random.stateless_uniform", seed).uniform(
        shape, minval=minval, maxval=maxval, dtype=dtype)


def stateless_normal(shape, seed, mean=0.0, stddev=1.0, dtype=_dt.float32, name=None,
                     alg="auto_select"):
    _alg_int(alg, "random.stateless_normal")
    return stateless_stream("random.stateless_normal", seed).normal(
        shape, mean=mean, stddev=stddev, dtype=dtype)


def stateless_truncated_normal(shape, seed, mean=0.0, stddev=1.0, dtype=_dt.float32,
                               name=None, alg="auto_select"):
    _alg_int(alg, "random.stateless_truncated_normal")
    return stateless_stream("random.stateless_truncated_normal", seed).truncated_normal(
        shape, mean=mean, stddev=stddev, dtype=dtype)


def _categorical(op, g, logits, num_samples, dtype):
    gpu = _categorical_gpu(op, g, logits, num_samples, dtype)
    if gpu is not None:
        return gpu
    lg = _host_value(logits).astype(np.float64)
    if lg.ndim != 2:
        raise ValueError(f"[{op}] logits must be 2-D (batch, classes), got shape {lg.shape}")
    p = np.exp(lg - lg.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    out = np.stack([g.choice(p.shape[1], size=int(num_samples), p=row) for row in p]) \
        if lg.shape[0] else np.zeros((0, int(num_samples)), np.int64)
    return _wrap(out.astype(_dt.as_dtype(dtype)._np))


def stateless_categorical(logits, num_samples, seed, dtype=_dt.int64, name=None):
    op = "random.stateless_categorical"
    return _categorical(op, stateless_generator(op, seed), logits, num_samples, dtype)


def stateless_binomial(shape, seed, counts, probs, output_dtype=_dt.int32, name=None):
    """Binomial(counts, probs) counts of `shape` (counts, probs broadcast to it),
    counter-based per sample (_binomial_counter below), so GPU parameters are sampled on the
    device (csrc/cuda/random_samplers.cu) with the same numbers, nothing read back. Counts < 0
    or probs outside [0, 1] raise on the host; on the GPU counts <= 0 or probs <= 0 give 0 and
    probs >= 1 give counts (NaN parameters an unspecified value)."""
    op = "random.stateless_binomial"
    st = stateless_stream(op, seed)._read().view(np.uint64)
    return _binomial_sample(op, st, _shape(shape), counts, probs,
                            _dt.as_dtype(output_dtype)._np)


_SAMPLER_GPU_DTYPES = (np.float32, np.float64, np.int32, np.int64)


def _broadcast_param(op, x, shp, names):
    """x (a host or device array) as float64 broadcast to shp, checked."""
    if x.dtype.kind not in "fiu":
        raise TypeError(f"[{op}] {names} must be numeric, got dtype {x.dtype}")
    try:
        np.broadcast_shapes(x.shape, shp)
    except ValueError:
        raise ValueError(f"[{op}] {names} of shape {x.shape} does not broadcast to shape "
                         f"{shp}") from None
    return np.broadcast_to(x.astype(np.float64), shp)


def _gpu_param(op, v, shp, names):
    """v (a Tensor or host value) as a float64 device array broadcast to shp, checked."""
    from ..framework.device import DeviceArray, to_device
    x = getattr(v, "_data", None)
    if type(x) is not DeviceArray:
        x = to_device(np.ascontiguousarray(np.asarray(_host_value(v))), "cuda")
    return _broadcast_param(op, x, shp, names)


def _host_param(op, v, shp, names):
    return _broadcast_param(op, _host_value(v), shp, names)


def _philox_args(st, state):
    """The samplers' start arguments: (counter_lo, counter_hi, key) from the host state st,
    or zeros and state= a Generator's device state."""
    if state is not None:
        return (0, 0, 0), {"state": state.buf}
    return (int(st[0]), int(st[1]), int(st[2])), {}


def _binomial_sample(op, st, shp, counts, probs, out_dt, state=None):
    """Binomial counts of shape shp from the Philox start st ([counter lo, hi, key] uint64 on
    the host) or a Generator's device state: on the device when a parameter or the state is
    there and out_dt a sampler dtype, else on the host (where invalid parameters raise)."""
    from ..framework.device import DeviceArray, backend
    on_dev = [type(getattr(v, "_data", None)) is DeviceArray for v in (counts, probs)]
    if (state is not None or any(on_dev)) and out_dt in _SAMPLER_GPU_DTYPES:
        # host parameters are checked here (no read needed); GPU ones give -1 / NaN samples
        n = None if on_dev[0] else _host_param(op, counts, shp, "counts / probs")
        p = None if on_dev[1] else _host_param(op, probs, shp, "counts / probs")
        if (n is not None and np.any(~(n >= 0))) or \
                (p is not None and np.any(~((p >= 0) & (p <= 1)))):
            raise ValueError(f"[{op}] need counts >= 0 and 0 <= probs <= 1")
        bufs = [_gpu_param(op, v, shp, "counts / probs").buf for v in (counts, probs)]
        args, kw = _philox_args(st, state)
        r = DeviceArray(backend().binomial_sample(*bufs, *args, **kw))
        return _host_wrap(r.astype(out_dt))
    n, p = (_host_param(op, v, shp, "counts / probs") for v in (counts, probs))
    if np.any(~(n >= 0)) or np.any(~((p >= 0) & (p <= 1))):
        raise ValueError(f"[{op}] need counts >= 0 and 0 <= probs <= 1")
    return _wrap(_binomial_counter(n, p, (st[0], st[1]), st[2]).astype(out_dt))


# Counter-based Binomial(n, p) sampling (stateless_binomial on every device; the GPU kernel is
# csrc/cuda/random_samplers.cu's binomial_sample_kernel, the same steps), after TF's binomial
# kernel: sample i on its own Philox substream (counter + 256 * i), uniforms from
# _SubstreamUniforms. With q = min(p, 1 - p) (a sample for p > 1/2 is n minus one for
# 1 - p): n q < 10 by inversion (count geometric gaps ceil(log u / log1p(-q)) until their sum
# passes n), else Hormann's BTRS with the Stirling-series tails. n <= 0 or p <= 0 gives 0,
# p >= 1 gives n; NaN after _GAMMA_MAX_CALLS calls without a result (never seen).
_STIRLING_TAIL = np.array([0.0810614667953272, 0.0413406959554092, 0.0276779256849983,
                           0.02079067210376509, 0.0166446911898211, 0.0138761288230707,
                           0.0118967099458917, 0.0104112652619720, 0.00925546218271273,
                           0.00833056343336287])   # lgamma(k+1) - Stirling's formula, k < 10


def _stirling_tail(k):
    kp1sq = (k + 1) * (k + 1)
    far = (1.0 / 12 - (1.0 / 360 - 1.0 / 1260 / kp1sq) / kp1sq) / (k + 1)
    near = _STIRLING_TAIL[np.clip(np.where(k <= 9, k, 0), 0, 9).astype(np.int64)]
    return np.where(k <= 9, near, far)


class _SubstreamUniforms:
    """Uniforms for n samples, sample i on its own Philox substream (counter + 256 * i +
    call under key): a two-value buffer per sample refilled by one Philox call (two 52-bit
    doubles), used last value first, as random_samplers.cu's kernels draw them."""

    def __init__(self, n, counter, key):
        self.counter, self.key = counter, key
        self.base = np.arange(n, dtype=np.uint64) * np.uint64(_RESERVED_PER_OUTPUT)
        self.calls = np.zeros(n, np.uint64)
        self.buf, self.rem = np.zeros((n, 2)), np.zeros(n, np.int64)

    def __call__(self, m):
        """The next uniform of each sample where the mask m is set."""
        refill = m & (self.rem == 0)
        if refill.any():
            lo, hi = _counter_add(self.counter, self.base[refill] + self.calls[refill])
            self.calls[refill] += np.uint64(1)
            w = _philox(lo, hi, self.key)
            self.buf[refill] = np.stack([_u64_to_double(w[:, 0], w[:, 1]),
                                         _u64_to_double(w[:, 2], w[:, 3])], axis=1)
            self.rem[refill] = 2
        self.rem[m] -= 1
        return self.buf[m, self.rem[m]]

    def budget(self, active):
        """active, less the samples that have used _GAMMA_MAX_CALLS Philox calls."""
        return active & (self.calls < np.uint64(_GAMMA_MAX_CALLS))


def _binomial_counter(count, prob, counter, key):
    """Binomial counts as float64 (the parameters' shape) of the Philox stream at counter
    (lo, hi) under key, sample i on its own substream (see the comment above)."""
    cn = np.ascontiguousarray(count, np.float64).reshape(-1)
    pr = np.ascontiguousarray(prob, np.float64).reshape(-1)
    n = cn.size
    out = np.full(n, np.nan)
    uniform = _SubstreamUniforms(n, counter, key)

    with np.errstate(all="ignore"):
        zero = (cn <= 0) | (pr <= 0)
        out[zero] = 0.0
        full = ~zero & (pr >= 1)
        out[full] = cn[full]
        rest = ~zero & ~full & ((pr <= 0.5) | (pr > 0.5))
        flip = rest & (pr > 0.5)
        q = np.where(flip, 1 - pr, pr)
        k = np.full(n, np.nan)
        # inversion (n q < 10)
        active = rest & (cn * q < 10)
        gsum, num = np.zeros(n), np.zeros(n)
        lq = np.log1p(-q)
        while active.any():
            u = np.ones(n)
            u[active] = uniform(active)
            gsum = np.where(active, gsum + np.ceil(np.log(u) / lq), gsum)
            done = active & (gsum > cn)
            k[done] = num[done]
            active &= ~done
            num[active] += 1
            active = uniform.budget(active)
        # BTRS (n q >= 10)
        active = rest & (cn * q >= 10)
        sd = np.sqrt(cn * q * (1 - q))
        b = 1.15 + 2.53 * sd
        a = -0.0873 + 0.0248 * b + 0.01 * q
        c = cn * q + 0.5
        vr = 0.92 - 4.2 / b
        r = q / (1 - q)
        alpha = (2.83 + 5.1 / b) * sd
        m = np.floor((cn + 1) * q)
        while active.any():
            u, v = np.zeros(n), np.ones(n)
            u[active] = uniform(active)
            v[active] = uniform(active)
            u = u - 0.5
            us = 0.5 - np.abs(u)
            kk = np.floor((2 * a / us + b) * u + c)
            quick = active & (us >= 0.07) & (v <= vr)
            k[quick] = kk[quick]
            active &= ~quick
            test = active & ~((kk < 0) | (kk > cn))
            if test.any():
                kt = np.where(test, kk, 0.0)
                lv = np.log(v * alpha / (a / (us * us) + b))
                ub = ((m + 0.5) * np.log((m + 1) / (r * (cn - m + 1))) +
                      (cn + 1) * np.log((cn - m + 1) / (cn - kt + 1)) +
                      (kt + 0.5) * np.log(r * (cn - kt + 1) / (kt + 1)) +
                      _stirling_tail(m) + _stirling_tail(cn - m) -
                      _stirling_tail(kt) - _stirling_tail(cn - kt))
                acc = test & (lv <= ub)
                k[acc] = kk[acc]
                active &= ~acc
            active = uniform.budget(active)
        out[rest] = np.where(flip, cn - k, k)[rest]
    return out.reshape(np.shape(count))


def stateless_poisson(shape, seed, lam, dtype=_dt.int32, name=None):
    """Poisson(lam) counts of `shape` (lam broadcast to it), counter-based per sample
    (_poisson_counter below), so GPU rates are sampled on the device
    (csrc/cuda/random_samplers.cu) with the same numbers, nothing read back. A negative rate
    raises on the host; on the GPU it gives NaN (float dtypes) or an unspecified count."""
    op = "random.stateless_poisson"
    st = stateless_stream(op, seed)._read().view(np.uint64)
    return _poisson_sample(op, st, _shape(shape), lam, _dt.as_dtype(dtype)._np)


def _poisson_sample(op, st, shp, lam, out_dt):
    """Poisson counts of shape shp from the Philox start st ([counter lo, hi, key] uint64):
    on the device when lam is there and out_dt a sampler dtype, else on the host."""
    from ..framework.device import DeviceArray, backend
    if type(getattr(lam, "_data", None)) is DeviceArray and out_dt in _SAMPLER_GPU_DTYPES:
        lam_b = _gpu_param(op, lam, shp, "lam")
        r = DeviceArray(backend().poisson_sample(lam_b.buf, int(st[0]), int(st[1]), int(st[2])))
        return _host_wrap(r.astype(out_dt))
    lam = _host_param(op, lam, shp, "lam")
    if np.any(lam < 0):
        raise ValueError(f"[{op}] lam must be >= 0, got a minimum of {lam.min()}")
    return _wrap(_poisson_counter(lam, (st[0], st[1]), st[2]).astype(out_dt))


# Counter-based Poisson(lam) sampling (stateless_poisson on every device; the GPU kernel is
# csrc/cuda/random_samplers.cu's poisson_sample_kernel, the same steps), after TF's Poisson
# kernel: sample i on its own Philox substream (counter + 256 * i), uniforms from a two-value
# buffer refilled by one Philox call (two 52-bit doubles, used last value first). lam < 10:
# Knuth's product of uniforms until it falls to exp(-lam); lam >= 10: Hormann's transformed
# rejection (PTRS). NaN after _GAMMA_MAX_CALLS calls without a result (never seen), for NaN
# and for negative rates.
def _poisson_counter(lam, counter, key):
    """Poisson(lam) counts as float64 (lam's shape) of the Philox stream at counter (lo, hi)
    under key, sample i on its own substream (see the comment above)."""
    from .special_ops import _lgamma_np
    lm = np.ascontiguousarray(lam, np.float64).reshape(-1)
    n = lm.size
    out = np.full(n, np.nan)
    uniform = _SubstreamUniforms(n, counter, key)

    with np.errstate(all="ignore"):
        # Knuth (lam < 10)
        knuth = (lm >= 0) & (lm < 10)
        limit = np.exp(-lm)
        prod, x = np.ones(n), np.zeros(n)
        active = knuth.copy()
        while active.any():
            prod[active] = prod[active] * uniform(active)
            done = active & (prod <= limit)
            out[done] = x[done]
            active &= ~done
            x[active] += 1
            active = uniform.budget(active)
        # PTRS (lam >= 10)
        big = lm >= 10
        log_lam = np.log(lm)
        b = 0.931 + 2.53 * np.sqrt(lm)
        a = -0.059 + 0.02483 * b
        inv_alpha = 1.1239 + 1.1328 / (b - 3.4)
        vr = 0.9277 - 3.6224 / (b - 2)
        active = big.copy()
        while active.any():
            u, v = np.zeros(n), np.zeros(n)
            u[active] = uniform(active) - 0.5
            v[active] = uniform(active)
            us = 0.5 - np.abs(u)
            k = np.floor((2 * a / us + b) * u + lm + 0.43)
            quick = active & (us >= 0.07) & (v <= vr)
            out[quick] = k[quick]
            active &= ~quick
            rest = active & ~((k < 0) | ((us < 0.013) & (v > us)))
            if rest.any():
                kk = np.where(rest, k, 1.0)
                s = np.log(v * inv_alpha / (a / (us * us) + b))
                t = -lm + kk * log_lam - _lgamma_np(kk + 1)
                acc = rest & (s <= t)
                out[acc] = k[acc]
                active &= ~acc
            active = uniform.budget(active)
    return out.reshape(np.shape(lam))


# Counter-based Gamma(alpha) sampling (stateless_gamma on every device; the GPU kernel is
# csrc/cuda/random_samplers.cu's gamma_sample_kernel, the same steps): sample i of the flat
# output draws from its own Philox substream, the counter (state counter + 256 * i + call),
# after TF's stateless gamma kernel: Marsaglia-Tsang (d = alpha - 1/3, or alpha + 2/3 and a
# final u^(1/alpha) for alpha < 1; c = 1 / (3 sqrt d)), normals and uniforms from two
# two-value buffers each refilled by one Philox call (Box-Muller on the 4 words; two 52-bit
# doubles), used last value first; alpha == 1 is -log1p(-u). A sample that has not accepted
# after _GAMMA_MAX_CALLS calls (never seen: the acceptance rate is > 95%) is NaN; alpha < 0 or
# NaN gives NaN, alpha == 0 gives 0.
_GAMMA_MAX_CALLS = 256


def _gamma_counter_std(alpha, counter, key):
    """Standard Gamma(alpha) samples (float64, alpha's shape) of the Philox stream at
    counter (lo, hi) under key, sample i on its own substream (see the comment above)."""
    a = np.ascontiguousarray(alpha, np.float64).reshape(-1)
    n = a.size
    out = np.full(n, np.nan)
    base = np.arange(n, dtype=np.uint64) * np.uint64(_RESERVED_PER_OUTPUT)
    calls = np.zeros(n, np.uint64)
    nbuf, ubuf = np.zeros((n, 2)), np.zeros((n, 2))
    nrem, urem = np.zeros(n, np.int64), np.zeros(n, np.int64)

    def words(m):
        lo, hi = _counter_add(counter, base[m] + calls[m])
        calls[m] += np.uint64(1)
        return _philox(lo, hi, key)

    def normal(m):
        refill = m & (nrem == 0)
        if refill.any():
            w = words(refill)
            s, c = _box_muller_double(w[:, 0], w[:, 1], w[:, 2], w[:, 3])
            nbuf[refill] = np.stack([s, c], axis=1)
            nrem[refill] = 2
        nrem[m] -= 1
        return nbuf[m, nrem[m]]

    def uniform(m):
        refill = m & (urem == 0)
        if refill.any():
            w = words(refill)
            ubuf[refill] = np.stack([_u64_to_double(w[:, 0], w[:, 1]),
                                     _u64_to_double(w[:, 2], w[:, 3])], axis=1)
            urem[refill] = 2
        urem[m] -= 1
        return ubuf[m, urem[m]]

    out[a == 0] = 0.0
    one = a == 1
    if one.any():
        out[one] = -np.log1p(-uniform(one))
    small = a < 1
    with np.errstate(all="ignore"):
        d = a + np.where(small, 2.0 / 3, -1.0 / 3)
        c = 1.0 / 3 / np.sqrt(d)
    active = (a > 0) & ~one
    while active.any():
        x = np.zeros(n)
        x[active] = normal(active)
        with np.errstate(all="ignore"):
            v = 1 + c * x
            ok = active & (v > 0)
            v = v * v * v
            u = np.zeros(n)
            u[ok] = uniform(ok)
            x2 = x * x
            acc = ok & ((u < 1 - 0.0331 * x2 * x2) | (np.log(u) < 0.5 * x2 + d * (1 - v + np.log(v))))
            res = d * v
            sm = acc & small
            if sm.any():
                b = uniform(sm)
                res[sm] = res[sm] * np.power(b, 1 / a[sm])
        out[acc] = res[acc]
        active &= ~acc
        active &= calls < np.uint64(_GAMMA_MAX_CALLS)
    return out.reshape(np.shape(alpha))


def stateless_gamma(shape, seed, alpha, beta=None, dtype=_dt.float32, name=None):
    """Gamma(alpha) samples divided by the rate beta, of `shape` (alpha, beta broadcast to
    it): counter-based per sample (_gamma_counter_std above), so GPU parameters are sampled on
    the device (csrc/cuda/random_samplers.cu) with the same numbers, nothing read back.
    Differentiable w.r.t. float Tensors alpha (implicit reparameterization) and beta."""
    op = "random.stateless_gamma"
    st = stateless_stream(op, seed)._read().view(np.uint64)
    shp = _shape(shape)
    out_dt = _dt.as_dtype(dtype)._np
    gpu = _stateless_gamma_gpu(op, st, shp, alpha, beta, out_dt)
    if gpu is not None:
        return gpu
    a = np.broadcast_to(_host_value(alpha).astype(np.float64), shp)
    if np.any(a < 0):
        raise ValueError(f"[{op}] alpha must be >= 0, got a minimum of {a.min()}")
    b = np.broadcast_to(_host_value(1.0 if beta is None else beta).astype(np.float64), shp)
    std = _gamma_counter_std(a, (st[0], st[1]), st[2])
    out = _wrap((std / b).astype(out_dt))
    from .special_more_ops import attach_gamma_grad  # (TF's implicit alpha gradient)
    return attach_gamma_grad(out, alpha, beta, std, b, 0)


def _stateless_gamma_gpu(op, st, shp, alpha, beta, out_dt):
    """stateless_gamma on the device when alpha (or beta) is a GPU tensor and the dtype a GPU
    float; None otherwise. The gradient stays on the device: d out/d alpha =
    -igamma_grad_a(alpha, std) / igamma_dx(alpha, std) / beta (0 where std is 0), d out/d beta
    = -out / beta."""
    from ._common import Tensor, _tapes, record
    from ..framework.device import DeviceArray, backend, to_device
    arrs = [getattr(v, "_data", None) for v in (alpha, beta)]
    if not any(type(x) is DeviceArray for x in arrs) or out_dt not in (np.float32, np.float64):
        return None
    a = _gpu_param(op, alpha, shp, "alpha / beta")
    b = _gpu_param(op, 1.0 if beta is None else beta, shp, "alpha / beta")
    std = DeviceArray(backend().gamma_sample(a.buf, int(st[0]), int(st[1]), int(st[2])))
    out = _host_wrap((std / b).astype(out_dt))
    ins = [t for t in (alpha, beta) if isinstance(t, Tensor) and t._data.dtype.kind == "f"]
    if not _tapes or not ins:
        return out
    from ._common import unbroadcast
    from .special_more_ops import _kernel

    def backward(g, needs):
        res = []
        for t in ins:
            if t is alpha:
                with np.errstate(all="ignore"):
                    d = -_kernel("igamma_grad_a", a, std) / _kernel("igamma_dx", a, std)
                d = np.where(std > 0, d, 0.0) / b
            else:
                d = -(std / b) / b
            gd = to_device(g, "cuda").astype(np.float64) * d
            r = unbroadcast(gd, tuple(t._data.shape)).astype(t._data.dtype)
            res.append(r if type(t._data) is DeviceArray else to_device(r, "cpu"))
        return tuple(res)
    record(tuple(ins), out, backward, None, op)
    return out


# The stateful gamma / poisson run the stateless samplers (sample i on its own substream, on
# the host and the device alike) on the start of their seeded stream: with a global or op seed,
# TF's kernel counter for (op, seeds, dtype) (as random.normal), which moves on by 256 per
# value; without any seed, a key and counter drawn from nabi's generator.
def _stateful_start(op, dtype, seed, n):
    """[counter lo, counter hi, key] (uint64) of a stateful sampler's draw of n values."""
    g = _tf_kernel_stream(op, dtype, seed)
    if g is None:
        w = _state["rng"].integers(0, 2 ** 64, size=2, dtype=np.uint64)
        return np.array([0, w[0], w[1]], np.uint64)
    st = g._read().view(np.uint64).copy()
    g._advance(n)
    return st


def _param_shape(v):
    return tuple(np.shape(getattr(v, "_data", v)))


def gamma(shape, alpha, beta=None, dtype=_dt.float32, seed=None, name=None):
    """Samples of shape `shape + broadcast(alpha, beta).shape`: Gamma(alpha) / beta (beta is
    the rate), counter-based per sample on the op's seeded stream (_stateful_start,
    _gamma_counter_std), so GPU parameters are sampled on the device, the same numbers,
    nothing read back. Differentiable w.r.t. float Tensors alpha (implicit
    reparameterization, as TF) and beta."""
    op = "random.gamma"
    out_dt = _dt.as_dtype(dtype)._np
    try:
        ab = np.broadcast_shapes(_param_shape(alpha), _param_shape(1.0 if beta is None else beta))
    except ValueError:
        raise ValueError(f"[{op}] alpha of shape {_param_shape(alpha)} and beta of shape "
                         f"{_param_shape(beta)} do not broadcast") from None
    shp = _shape(shape) + tuple(ab)
    st = _stateful_start("gamma", out_dt, seed, int(np.prod(shp)))
    gpu = _stateless_gamma_gpu(op, st, shp, alpha, beta, out_dt)
    if gpu is not None:
        return gpu
    a = _host_param(op, alpha, shp, "alpha")
    if np.any(a < 0):
        raise ValueError(f"[{op}] alpha must be >= 0, got a minimum of {a.min()}")
    bb = _host_param(op, 1.0 if beta is None else beta, shp, "beta")
    std = _gamma_counter_std(a, (st[0], st[1]), st[2])
    out = _wrap((std / bb).astype(out_dt))
    from .special_more_ops import attach_gamma_grad  # (TF's implicit alpha gradient)
    return attach_gamma_grad(out, alpha, beta, std, bb, len(_shape(shape)))


def poisson(shape, lam, dtype=_dt.float32, seed=None, name=None):
    """Poisson(lam) samples of shape `shape + lam.shape`, counter-based per sample on the
    op's seeded stream (_stateful_start, _poisson_counter): GPU rates are sampled on the
    device, the same numbers, nothing read back."""
    out_dt = _dt.as_dtype(dtype)._np
    shp = _shape(shape) + _param_shape(lam)
    st = _stateful_start("poisson", out_dt, seed, int(np.prod(shp)))
    return _poisson_sample("random.poisson", st, shp, lam, out_dt)


def stateless_split(seed, num=2, alg="auto_select"):
    """`num` new seeds: TF's full-range integers of shape (num, 2) drawn from `seed`, in the
    seed's dtype (int32 for a Python list, as TF converts it)."""
    from ..framework.tensor import convert_to_tensor
    seed = convert_to_tensor(seed)
    _alg_int(alg, "random.experimental.stateless_split")
    return stateless_uniform([int(num), 2], seed, minval=None, maxval=None, dtype=seed.dtype)


def stateless_fold_in(seed, data, alg="auto_select"):
    """A new seed [r, data] (TF's rule): r a full-range integer drawn from `seed`, in the
    dtype of `data` (int32 for a Python int)."""
    from ..framework.tensor import convert_to_tensor
    from .array_ops import stack
    data = convert_to_tensor(data)
    _alg_int(alg, "random.experimental.stateless_fold_in")
    r = stateless_uniform([], seed, minval=None, maxval=None, dtype=data.dtype)
    return stack([r, data])
