"""Random sampling from GPU parameters on the device (csrc/cuda/random_samplers.cu): categorical
(tf.random.categorical / stateless_categorical, keras.random.categorical), gamma, poisson and
binomial (tf.random.stateless_*, keras.random.gamma / binomial) no longer copy their GPU
parameters to the host (bench/results/gpu_host_ops.md).

The host path samples with NumPy's Generator.choice(classes, n, p=softmax(row)) per row; the
GPU path draws the same uniforms from the same generator and searches the softmax cdf on the
device, so GPU == CPU for the same seed. References here are independent NumPy code: the
softmax cdf and searchsorted of the uniforms (kernel tests), NumPy's own Generator.choice with
the op's seed (op tests), and chi-square / mean checks of the counts against the softmax
probabilities (scipy.stats, fixed seeds, so they cannot flake).

Kernel tests take the `backend` fixture (the host simulator under
NABI_TEST_PACKAGE_DIR=build/sim/pkg or a real GPU; the emulator), op tests conftest's `where`
fixture (CPU, emulated GPU, real GPU or simulator), read counts conftest's `d2h`.

tf.random.stateless_gamma (keras.random.gamma) is counter-based on every device: sample i of
the flat output on its own Philox substream (counter + 256 * i), Marsaglia-Tsang after TF's
stateless gamma kernel (random_ops.py's _gamma_counter_std; csrc/cuda/random_samplers.cu's
gamma_sample_kernel). Its reference here is a scalar Python loop with its own Python-int
Philox; the gradient w.r.t. alpha is checked against central differences of
scipy.special.gammaincinv at the sample's CDF value, w.r.t. beta against -out / beta.

tf.random.stateless_poisson likewise (Knuth below rate 10, Hormann's PTRS above, after TF's
Poisson kernel; random_ops.py's _poisson_counter, the kernel's poisson_sample_kernel), checked
against a scalar Python loop and a chi-square test on the Poisson pmf.

tf.random.stateless_binomial (keras.random.binomial) likewise (inversion below n q = 10,
Hormann's BTRS above, after TF's binomial kernel; random_ops.py's _binomial_counter, the
kernel's binomial_sample_kernel), checked against a scalar Python loop and a chi-square test
on the binomial pmf.

The stateful random.gamma / random.poisson and Generator.binomial run the same samplers on
their seeded stream's start: tests/test_cuda_random_stateful.py.
"""
import math

import numpy as np
import pytest

import nabi
from nabi import _C

cb = _C.cuda_backend


def _buf(be, a):
    return be.DeviceBuffer.from_numpy(np.array(a, order="C"))


def _np(be, b):
    return b.numpy() if hasattr(b, "numpy") else be.to_numpy(b)


# ---------------------------------------------------------------- references
def ref_sample(logits, u):
    """The first class whose softmax cdf exceeds u, per row (-1 for a row without one)."""
    x = np.asarray(logits, np.float64)
    out = np.full(u.shape, -1, np.int64)
    for r in range(x.shape[0]):
        row = x[r]
        if np.isnan(row).any() or np.isposinf(row).any() or np.isneginf(row).all():
            continue
        p = np.exp(row - np.max(row))
        p = p / p.sum()
        cdf = np.cumsum(p)
        cdf = cdf / cdf[-1]
        for j, v in enumerate(u[r]):
            out[r, j] = int(np.argmax(cdf > v))
    return out


def softmax(x):
    x = np.asarray(x, np.float64)
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


# ---------------------------------------------------------------- the kernel
@pytest.mark.parametrize("ld", [np.float32, np.float64])
@pytest.mark.parametrize("od", ["int32", "int64"])
@pytest.mark.parametrize("rows,classes,n", [(3, 7, 5), (2, 300, 9), (1, 1, 4), (4, 600, 3)])
def test_kernel_matches_reference(backend, ld, od, rows, classes, n, rng):
    lg = (rng.normal(size=(rows, classes)) * 2).astype(ld)
    u = rng.random((rows, n))
    y = _np(backend, backend.categorical_sample(_buf(backend, lg), _buf(backend, u), od))
    assert y.dtype == np.dtype(od) and y.shape == (rows, n)
    np.testing.assert_array_equal(y, ref_sample(lg, u))


def test_kernel_boundaries_and_masked_classes(backend):
    # -inf classes are never drawn; u = 0 draws the first class of nonzero probability and
    # u just below 1 the last one; rows without a distribution give -1
    lg = np.array([[-np.inf, 0.0, -np.inf, 0.0, -np.inf],
                   [np.nan, 1.0, 2.0, 3.0, 4.0],
                   [-np.inf] * 5,
                   [0.0, np.inf, 0.0, 0.0, 0.0],
                   [1e300, -1e300, 0.0, 5.0, 1e300]])
    u = np.array([[0.0, 0.4999, 0.5, 1 - 2 ** -53]] * 5)
    y = _np(backend, backend.categorical_sample(_buf(backend, lg), _buf(backend, u)))
    np.testing.assert_array_equal(y, ref_sample(lg, u))
    np.testing.assert_array_equal(y[0], [1, 1, 3, 3])
    assert (y[1:4] == -1).all()
    np.testing.assert_array_equal(y[4], [0, 0, 4, 4])


def test_kernel_rows_on_a_grid_stride(backend, rng):
    # more rows than one block handles at once in the simulator's tiny shapes: every row its own
    lg = rng.normal(size=(37, 5))
    u = rng.random((37, 2))
    y = _np(backend, backend.categorical_sample(_buf(backend, lg), _buf(backend, u)))
    np.testing.assert_array_equal(y, ref_sample(lg, u))


def test_kernel_empty(backend):
    for shp, n in [((0, 4), 3), ((2, 4), 0), ((0, 0), 0), ((2, 0), 0)]:
        y = backend.categorical_sample(_buf(backend, np.zeros(shp)), _buf(backend,
                                                                           np.zeros((shp[0], n))))
        assert tuple(y.shape) == (shp[0], n)


@pytest.mark.parametrize("case", ["int-logits", "float32-u", "1d-logits", "rows", "1d-u",
                                  "no-classes", "float-dtype", "bad-dtype", "not-a-buffer"])
def test_kernel_bad_arguments(backend, case):
    lg, u = np.zeros((2, 3)), np.zeros((2, 4))
    args = {"int-logits": (lg.astype(np.int32), u), "float32-u": (lg, u.astype(np.float32)),
            "1d-logits": (lg[0], u), "rows": (lg, u[:1]), "1d-u": (lg, u[0]),
            "no-classes": (np.zeros((2, 0)), u), "float-dtype": (lg, u, "float32"),
            "bad-dtype": (lg, u, "int8"), "not-a-buffer": None}[case]
    if args is None:
        with pytest.raises(TypeError):
            backend.categorical_sample(lg, _buf(backend, u))
        return
    bufs = [_buf(backend, a) for a in args[:2]]
    with pytest.raises((TypeError, ValueError), match=r"\[categorical_sample\]"):
        backend.categorical_sample(*bufs, *args[2:])


# ---------------------------------------------------------------- the ops
LOGITS = np.array([[0.0, 1.0, 2.0, -1.0, 0.5], [3.0, -2.0, 0.0, 0.0, -np.inf],
                   [1.0, 1.0, 1.0, 1.0, 1.0]], np.float32)


def _host(t):
    assert type(t._data).__name__ in ("ndarray", "DeviceArray")
    return t.numpy()


def _on(where, t):
    """t, checked to live on `where`'s device (so the GPU path ran)."""
    want = "ndarray" if where == "/CPU:0" else "DeviceArray"
    assert type(t._data).__name__ == want
    return t


def test_stateless_categorical_equals_cpu_and_numpy(where):
    seed = [12, 34]
    p = softmax(LOGITS)
    g = np.random.default_rng([12, 34, 0x1A6E])   # the op's documented generator
    ref = np.stack([g.choice(5, size=40, p=row) for row in p])
    for dt in (nabi.int64, nabi.int32):
        with nabi.device(where):
            r = nabi.random.stateless_categorical(nabi.constant(LOGITS), 40, seed, dtype=dt)
            if where != "/CPU:0":
                assert type(r._data).__name__ == "DeviceArray"
        assert r.dtype == dt
        np.testing.assert_array_equal(_host(r), ref)
    assert (ref[1] != 4).all()


def test_categorical_stream_equals_cpu(where):
    """tf.random.categorical with a global seed: the same samples on every device, call after
    call (the GPU path leaves the generator where the host path does)."""
    lg64 = LOGITS.astype(np.float64)

    def draws(where_):
        nabi.random.set_seed(5)
        out = [_on(where_, nabi.random.categorical(nabi.constant(lg64), 7)).numpy()]
        out.append(nabi.random.categorical(nabi.constant(LOGITS), 3, seed=9).numpy())
        out.append(nabi.random.categorical(nabi.constant(LOGITS), 3, seed=9).numpy())
        out.append(nabi.random.uniform((4,)).numpy())   # the stream after the draws
        return out

    with nabi.device("/CPU:0"):
        cpu = draws("/CPU:0")
    with nabi.device(where):
        dev = draws(where)
    for a, b in zip(cpu, dev):
        np.testing.assert_array_equal(a, b)
    # the unseeded generator: g.random of the draws, then the stream goes on
    nabi.random.set_seed(None)
    with nabi.device(where):
        x = nabi.constant(LOGITS)
        nabi.random.set_seed(3)
        a = nabi.random.categorical(x, 4, dtype=nabi.int32)
    nabi.random.set_seed(3)
    with nabi.device("/CPU:0"):
        b = nabi.random.categorical(nabi.constant(LOGITS), 4, dtype=nabi.int32)
    assert a.dtype == nabi.int32
    np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_keras_categorical_equals_cpu(where):
    from nabi import keras
    with nabi.device("/CPU:0"):
        cpu = keras.random.categorical(nabi.constant(LOGITS), 6, seed=11).numpy()
    with nabi.device(where):
        r = _on(where, keras.random.categorical(nabi.constant(LOGITS), 6, seed=11))
    np.testing.assert_array_equal(r.numpy(), cpu)


def test_categorical_distribution(where):
    """The counts of 6000 draws per row fit the softmax probabilities (chi-square, fixed
    seed) and their means the softmax means."""
    from scipy import stats
    lg = np.array([[0.5, -1.0, 2.0, 0.0, 1.0, -0.5, 0.25], [0.0, 0.0, 3.0, -3.0, 0.0, 1.0, 2.0]])
    n = 6000
    with nabi.device(where):
        r = nabi.random.stateless_categorical(nabi.constant(lg), n, [7, 8]).numpy()
    p = softmax(lg)
    for row in range(2):
        counts = np.bincount(r[row], minlength=7)
        assert counts.sum() == n
        chi = stats.chisquare(counts, p[row] * n)
        assert chi.pvalue > 1e-3, (counts, p[row] * n)
        mean, var = (p[row] * np.arange(7)).sum(), (p[row] * np.arange(7) ** 2).sum()
        var -= mean ** 2
        assert abs(r[row].mean() - mean) < 4 * np.sqrt(var / n)


def test_text_generation_step(where):
    """One step of a char-RNN sampler: logits / temperature of a (1, vocab) row."""
    vocab = 65
    logits = np.random.default_rng(0).normal(size=(1, vocab)).astype(np.float32)
    nabi.random.set_seed(1)
    with nabi.device("/CPU:0"):
        cpu = [nabi.random.categorical(nabi.constant(logits) / 0.7, 1)[-1, 0].numpy()
               for _ in range(5)]
    nabi.random.set_seed(1)
    with nabi.device(where):
        x = nabi.constant(logits)
        dev = [_on(where, nabi.random.categorical(x / 0.7, 1))[-1, 0].numpy()
               for _ in range(5)]
    assert cpu == dev


def test_gpu_categorical_reads_nothing(d2h):
    with nabi.device("/GPU:0"):
        x = nabi.constant(LOGITS)
        nabi.random.set_seed(2)
        reads, launches = d2h(lambda: nabi.random.categorical(x, 16))
        assert reads == 0 and launches >= 1
        reads, _ = d2h(lambda: nabi.random.stateless_categorical(x, 16, [1, 2]))
        assert reads == 0
        from nabi import keras
        reads, _ = d2h(lambda: keras.random.categorical(x, 16, seed=4))
        assert reads == 0
        r = nabi.random.stateless_categorical(x, 16, [1, 2])
    assert type(r._data).__name__ == "DeviceArray"


def test_gpu_categorical_bad_arguments(gpu):
    with nabi.device("/GPU:0"):
        with pytest.raises(ValueError, match=r"\[random.stateless_categorical\].*2-D"):
            nabi.random.stateless_categorical(nabi.constant(np.zeros(4, np.float32)), 2, [1, 2])
        with pytest.raises(ValueError, match=r"\[random.categorical\].*2-D"):
            nabi.random.categorical(nabi.constant(np.zeros((1, 2, 3), np.float32)), 2)
        with pytest.raises(ValueError, match=r"\[random.categorical\].*at least one class"):
            nabi.random.categorical(nabi.constant(np.zeros((2, 0), np.float32)), 2)
        with pytest.raises(ValueError, match=r"\[random.categorical\].*num_samples"):
            nabi.random.categorical(nabi.constant(np.zeros((2, 3), np.float32)), -1)
        # a row without a distribution (the host raises; the device cannot without a read)
        r = nabi.random.categorical(nabi.constant(np.array([[np.nan, 0.0], [0.0, 1.0]])), 3)
    assert (r.numpy()[0] == -1).all() and ((r.numpy()[1] >= 0) & (r.numpy()[1] < 2)).all()


@pytest.mark.filterwarnings("ignore:nabi. float16 data placed on the GPU")
def test_gpu_categorical_other_logit_dtypes(where):
    lg = np.array([[0.0, 2.0, 1.0], [1.0, 0.0, -1.0]])
    for dt in (np.float16, np.int32):
        with nabi.device(where):
            r = _on(where, nabi.random.stateless_categorical(nabi.constant(lg.astype(dt)), 9,
                                                             [3, 4]))
        with nabi.device("/CPU:0"):
            ref = nabi.random.stateless_categorical(nabi.constant(lg.astype(dt)), 9, [3, 4])
        np.testing.assert_array_equal(r.numpy(), ref.numpy())


# ---------------------------------------------------------------- gamma: reference
M32 = 0xFFFFFFFF


def philox_ref(counter, key):
    """Philox-4x32-10 of a 128-bit Python int counter under a 64-bit key (Random123)."""
    c = [(counter >> (32 * i)) & M32 for i in range(4)]
    k0, k1 = key & M32, key >> 32
    for _ in range(10):
        p0, p1 = 0xD2511F53 * c[0], 0xCD9E8D57 * c[2]
        c = [((p1 >> 32) ^ c[1] ^ k0) & M32, p1 & M32, ((p0 >> 32) ^ c[3] ^ k1) & M32, p0 & M32]
        k0, k1 = (k0 + 0x9E3779B9) & M32, (k1 + 0xBB67AE85) & M32
    return c


def u64_double(x0, x1):
    return (((x0 & 0xFFFFF) << 32) | x1) / 2.0 ** 52


def gamma_ref(alpha, counter, key):
    """Standard Gamma samples, sample i on the substream counter + 256 * i (a scalar loop)."""
    out = []
    for i, a in enumerate(np.asarray(alpha, np.float64).reshape(-1).tolist()):
        state = {"call": 0, "n": [], "u": []}

        def words():
            w = philox_ref((counter + 256 * i + state["call"]) % 2 ** 128, key)
            state["call"] += 1
            return w

        def normal():
            if not state["n"]:
                w = words()
                u1 = max(u64_double(w[0], w[1]), 1e-7)
                v1 = 2.0 * math.pi * u64_double(w[2], w[3])
                r = math.sqrt(-2.0 * math.log(u1))
                state["n"] = [math.sin(v1) * r, math.cos(v1) * r]
            return state["n"].pop()

        def uniform():
            if not state["u"]:
                w = words()
                state["u"] = [u64_double(w[0], w[1]), u64_double(w[2], w[3])]
            return state["u"].pop()

        if math.isnan(a) or a < 0:
            out.append(math.nan)
            continue
        if a == 0:
            out.append(0.0)
            continue
        if a == 1:
            out.append(-math.log1p(-uniform()))
            continue
        d = a + (2.0 / 3 if a < 1 else -1.0 / 3)
        c = 1.0 / 3 / math.sqrt(d)
        while True:
            x = normal()
            v = 1 + c * x
            if v <= 0:
                continue
            v = v ** 3
            u = uniform()
            if u < 1 - 0.0331 * x ** 4 or math.log(u) < 0.5 * x * x + d * (1 - v + math.log(v)):
                res = d * v
                if a < 1:
                    res *= uniform() ** (1 / a)
                out.append(res)
                break
    return np.array(out).reshape(np.shape(alpha))


def stateless_counter(seed):
    """TF's stateless key / counter of a seed (one Philox call under a fixed key)."""
    w = philox_ref(seed[0] | seed[1] << 64, 0x3EC8F720 | 0x02461E29 << 32)
    return (w[2] | w[3] << 32) << 64, w[0] | w[1] << 32


# ---------------------------------------------------------------- gamma: the kernel
def test_gamma_kernel_matches_reference(backend):
    alpha = np.array([[0.2, 0.5, 0.999, 1.0, 1.5], [2.0, 5.0, 30.0, 1e-3, 300.0],
                      [0.0, -1.0, np.nan, np.inf, 7.25]])
    counter, key = (2 ** 64 - 3) + (5 << 64), 0x0123456789ABCDEF   # (the low word carries)
    y = _np(backend, backend.gamma_sample(_buf(backend, alpha), counter & (2 ** 64 - 1),
                                          counter >> 64, key))
    ref = gamma_ref(alpha, counter, key)
    assert y.dtype == np.float64 and y.shape == alpha.shape
    np.testing.assert_allclose(y, ref, rtol=1e-12, atol=0)
    assert y[2, 0] == 0 and np.isnan(y[2, 1]) and np.isnan(y[2, 2]) and y[2, 3] == np.inf


def test_gamma_kernel_empty_and_errors(backend):
    y = backend.gamma_sample(_buf(backend, np.zeros((0, 3))), 0, 0, 0)
    assert tuple(y.shape) == (0, 3)
    with pytest.raises(TypeError, match=r"\[gamma_sample\]"):
        backend.gamma_sample(_buf(backend, np.ones(3, np.float32)), 0, 0, 0)
    with pytest.raises(TypeError):
        backend.gamma_sample(np.ones(3), 0, 0, 0)


# ---------------------------------------------------------------- gamma: the op
def test_stateless_gamma_equals_reference_on_every_device(where):
    alpha = np.array([0.5, 1.0, 3.0], np.float32)
    beta = np.array([[2.0], [0.5]], np.float64)
    counter, key = stateless_counter([5, 6])
    std = gamma_ref(np.broadcast_to(alpha.astype(np.float64), (4, 2, 3)), counter, key)
    ref = std / np.broadcast_to(beta, (4, 2, 3))
    for dt, tol in ((nabi.float64, 1e-12), (nabi.float32, 1e-6)):
        with nabi.device(where):
            r = _on(where, nabi.random.stateless_gamma([4, 2, 3], [5, 6], nabi.constant(alpha),
                                                       nabi.constant(beta), dtype=dt))
        assert r.dtype == dt
        np.testing.assert_allclose(r.numpy(), ref.astype(dt.as_numpy_dtype), rtol=tol)
    with nabi.device("/CPU:0"):
        cpu = nabi.random.stateless_gamma([4, 2, 3], [5, 6], nabi.constant(alpha),
                                          nabi.constant(beta), dtype=nabi.float32).numpy()
    with nabi.device(where):
        dev = nabi.random.stateless_gamma([4, 2, 3], [5, 6], nabi.constant(alpha),
                                          nabi.constant(beta), dtype=nabi.float32).numpy()
    np.testing.assert_allclose(dev, cpu, rtol=2 ** -22)


def test_stateless_gamma_distribution(where):
    """KS tests against scipy.stats.gamma (fixed seeds) for small, unit and large alpha."""
    from scipy import stats
    for a, seed in ((0.3, [1, 2]), (1.0, [3, 4]), (4.5, [5, 6])):
        with nabi.device(where):
            g = nabi.random.stateless_gamma([3000], seed, nabi.constant(a, nabi.float64),
                                            beta=2.0, dtype=nabi.float64).numpy()
        assert stats.kstest(g, stats.gamma(a, scale=0.5).cdf).pvalue > 1e-3
        assert abs(g.mean() - a / 2) < 4 * math.sqrt(a / 4 / g.size)


def test_keras_gamma_on_gpu_equals_cpu(where):
    from nabi import keras
    with nabi.device("/CPU:0"):
        cpu = keras.random.gamma((3, 4), alpha=nabi.constant(2.0), seed=7).numpy()
    with nabi.device(where):
        r = keras.random.gamma((3, 4), alpha=nabi.constant(2.0), seed=7)
    np.testing.assert_allclose(r.numpy(), cpu, rtol=2 ** -22)


def test_stateless_gamma_gradients(where):
    """d out / d alpha by central differences of gammaincinv at the sample's CDF value
    (implicit reparameterization), d out / d beta = -out / beta; summed over broadcasting."""
    from scipy import special
    alpha = np.array([0.7, 2.5, 9.0])
    beta = 1.5
    with nabi.device(where):
        a = nabi.Variable(alpha)
        b = nabi.Variable(beta, dtype=nabi.float64)
        with nabi.GradientTape() as tape:
            out = nabi.random.stateless_gamma([2, 3], [8, 9], a, b, dtype=nabi.float64)
            loss = nabi.reduce_sum(out * np.array([[1.0, 2.0, 3.0], [0.5, -1.0, 2.0]]))
        ga, gb = tape.gradient(loss, [a, b])
        if where != "/CPU:0":
            assert type(ga._data).__name__ == "DeviceArray"
    std = out.numpy() * beta
    q = special.gammainc(alpha, std)
    h = 1e-6
    dstd = (special.gammaincinv(alpha + h, q) - special.gammaincinv(alpha - h, q)) / (2 * h)
    w = np.array([[1.0, 2.0, 3.0], [0.5, -1.0, 2.0]])
    np.testing.assert_allclose(ga.numpy(), (w * dstd / beta).sum(axis=0), rtol=1e-5)
    np.testing.assert_allclose(gb.numpy(), (w * -out.numpy() / beta).sum(), rtol=1e-10)


def test_gpu_gamma_reads_nothing(d2h):
    with nabi.device("/GPU:0"):
        a = nabi.Variable(np.array([0.5, 2.0, 4.0]))
        reads, launches = d2h(lambda: nabi.random.stateless_gamma([4, 3], [1, 2], a, 2.0))
        assert reads == 0 and launches >= 1

        def grad():
            with nabi.GradientTape() as tape:
                out = nabi.random.stateless_gamma([4, 3], [1, 2], a, 2.0, dtype=nabi.float64)
            return tape.gradient(out, a)
        reads, _ = d2h(grad)
        assert reads == 0
        from nabi import keras
        reads, _ = d2h(lambda: keras.random.gamma((5,), alpha=a[1], seed=3))
        assert reads == 0


def test_gpu_gamma_edge_values_and_errors(gpu):
    with nabi.device("/GPU:0"):
        r = nabi.random.stateless_gamma([4], [1, 2], nabi.constant([0.0, -1.0, np.nan, 2.0]),
                                        dtype=nabi.float64).numpy()
        assert r[0] == 0 and np.isnan(r[1]) and np.isnan(r[2]) and r[3] > 0
        with pytest.raises(ValueError, match=r"\[random.stateless_gamma\].*broadcast"):
            nabi.random.stateless_gamma([4], [1, 2], nabi.constant([1.0, 2.0, 3.0]))
    with nabi.device("/CPU:0"):
        with pytest.raises(ValueError, match=r"\[random.stateless_gamma\].*alpha"):
            nabi.random.stateless_gamma([2], [1, 2], nabi.constant([-1.0, 2.0]))


# ---------------------------------------------------------------- poisson
def poisson_ref(lam, counter, key):
    """Poisson counts (float64), sample i on the substream counter + 256 * i (a scalar loop:
    Knuth below 10, Hormann's PTRS above)."""
    out = []
    for i, r in enumerate(np.asarray(lam, np.float64).reshape(-1).tolist()):
        state = {"call": 0, "u": []}

        def uniform():
            if not state["u"]:
                w = philox_ref((counter + 256 * i + state["call"]) % 2 ** 128, key)
                state["call"] += 1
                state["u"] = [u64_double(w[0], w[1]), u64_double(w[2], w[3])]
            return state["u"].pop()

        if not r >= 0:
            out.append(math.nan)
        elif r < 10:
            limit, prod, x = math.exp(-r), 1.0, 0
            while True:
                prod *= uniform()
                if prod <= limit:
                    break
                x += 1
            out.append(float(x))
        else:
            b = 0.931 + 2.53 * math.sqrt(r)
            a = -0.059 + 0.02483 * b
            inv_alpha = 1.1239 + 1.1328 / (b - 3.4)
            vr = 0.9277 - 3.6224 / (b - 2)
            while True:
                u = uniform() - 0.5
                v = uniform()
                us = 0.5 - abs(u)
                k = math.floor((2 * a / us + b) * u + r + 0.43)
                if us >= 0.07 and v <= vr:
                    break
                if k < 0 or (us < 0.013 and v > us):
                    continue
                if math.log(v * inv_alpha / (a / (us * us) + b)) <= \
                        -r + k * math.log(r) - math.lgamma(k + 1):
                    break
            out.append(float(k))
    return np.array(out).reshape(np.shape(lam))


def test_poisson_kernel_matches_reference(backend):
    lam = np.array([[0.0, 0.5, 3.0, 9.99, 10.0], [37.5, 1000.0, -1.0, np.nan, 1e-9]])
    counter, key = (2 ** 64 - 2) + (9 << 64), 0xFEDCBA9876543210
    y = _np(backend, backend.poisson_sample(_buf(backend, lam), counter & (2 ** 64 - 1),
                                            counter >> 64, key))
    ref = poisson_ref(lam, counter, key)
    assert y.dtype == np.float64 and y.shape == lam.shape
    np.testing.assert_array_equal(y, ref)
    assert y[0, 0] == 0 and np.isnan(y[1, 2]) and np.isnan(y[1, 3])


def test_poisson_kernel_empty_and_errors(backend):
    y = backend.poisson_sample(_buf(backend, np.zeros((2, 0))), 0, 0, 0)
    assert tuple(y.shape) == (2, 0)
    with pytest.raises(TypeError, match=r"\[poisson_sample\]"):
        backend.poisson_sample(_buf(backend, np.ones(3, np.float32)), 0, 0, 0)


def test_stateless_poisson_equals_reference_on_every_device(where):
    lam = np.array([[0.5, 4.0, 12.0, 150.0]], np.float32)
    counter, key = stateless_counter([11, 12])
    ref = poisson_ref(np.broadcast_to(lam.astype(np.float64), (3, 4)), counter, key)
    for dt in (nabi.int32, nabi.int64, nabi.float32, nabi.float64):
        with nabi.device(where):
            r = _on(where, nabi.random.stateless_poisson([3, 4], [11, 12], nabi.constant(lam),
                                                         dtype=dt))
        assert r.dtype == dt
        np.testing.assert_array_equal(r.numpy(), ref.astype(dt.as_numpy_dtype))


def test_stateless_poisson_distribution(where):
    from scipy import stats
    for lam, seed in ((2.5, [1, 5]), (30.0, [2, 6])):
        with nabi.device(where):
            g = nabi.random.stateless_poisson([4000], seed, nabi.constant(lam),
                                              dtype=nabi.int64).numpy()
        ks = np.arange(int(3 * lam) + 10)
        obs = np.array([(g == k).sum() for k in ks])
        exp = stats.poisson(lam).pmf(ks) * g.size
        m = exp > 5
        chi = stats.chisquare(obs[m], exp[m] * obs[m].sum() / exp[m].sum())
        assert chi.pvalue > 1e-3
        assert abs(g.mean() - lam) < 4 * math.sqrt(lam / g.size)


def test_gpu_poisson_reads_nothing(d2h):
    with nabi.device("/GPU:0"):
        lam = nabi.constant(np.array([1.0, 20.0]))
        reads, launches = d2h(lambda: nabi.random.stateless_poisson([3, 2], [1, 2], lam))
        assert reads == 0 and launches >= 1
        r = nabi.random.stateless_poisson([3, 2], [1, 2], lam)
    assert type(r._data).__name__ == "DeviceArray"


def test_gpu_poisson_errors(gpu):
    with nabi.device("/GPU:0"):
        with pytest.raises(ValueError, match=r"\[random.stateless_poisson\].*broadcast"):
            nabi.random.stateless_poisson([4], [1, 2], nabi.constant([1.0, 2.0, 3.0]))
        r = nabi.random.stateless_poisson([2], [1, 2], nabi.constant([-1.0, 2.0]),
                                          dtype=nabi.float64).numpy()
        assert np.isnan(r[0]) and r[1] >= 0
    with nabi.device("/CPU:0"):
        with pytest.raises(ValueError, match=r"\[random.stateless_poisson\].*lam"):
            nabi.random.stateless_poisson([2], [1, 2], nabi.constant([-1.0, 2.0]))


# ---------------------------------------------------------------- binomial
TAIL = [0.0810614667953272, 0.0413406959554092, 0.0276779256849983, 0.02079067210376509,
        0.0166446911898211, 0.0138761288230707, 0.0118967099458917, 0.0104112652619720,
        0.00925546218271273, 0.00833056343336287]


def stirling_tail_ref(k):
    if k <= 9:
        return TAIL[int(k)]
    k1 = (k + 1) * (k + 1)
    return (1.0 / 12 - (1.0 / 360 - 1.0 / 1260 / k1) / k1) / (k + 1)


def test_stirling_table_is_lgamma_minus_stirling():
    for k in range(10):
        exact = math.lgamma(k + 1) - ((k + 0.5) * math.log(k + 1) - (k + 1) +
                                      0.5 * math.log(2 * math.pi))
        assert abs(TAIL[k] - exact) < 1e-13   # (the difference loses digits to cancellation)


def binomial_ref(count, prob, counter, key):
    out = []
    pairs = zip(np.asarray(count, np.float64).reshape(-1).tolist(),
                np.asarray(prob, np.float64).reshape(-1).tolist())
    for i, (n, p) in enumerate(pairs):
        state = {"call": 0, "u": []}

        def uniform():
            if not state["u"]:
                w = philox_ref((counter + 256 * i + state["call"]) % 2 ** 128, key)
                state["call"] += 1
                state["u"] = [u64_double(w[0], w[1]), u64_double(w[2], w[3])]
            return state["u"].pop()

        if n <= 0 or p <= 0:
            out.append(0.0)
            continue
        if p >= 1:
            out.append(n)
            continue
        q = 1 - p if p > 0.5 else p
        if n * q < 10:
            gsum, k = 0.0, 0
            while True:
                u = uniform()
                gsum += math.ceil(math.log(u) / math.log1p(-q)) if u > 0 else math.inf
                if gsum > n:
                    break
                k += 1
        else:
            sd = math.sqrt(n * q * (1 - q))
            b = 1.15 + 2.53 * sd
            a = -0.0873 + 0.0248 * b + 0.01 * q
            c = n * q + 0.5
            vr = 0.92 - 4.2 / b
            r = q / (1 - q)
            alpha = (2.83 + 5.1 / b) * sd
            m = math.floor((n + 1) * q)
            while True:
                u = uniform() - 0.5
                v = uniform()
                us = 0.5 - abs(u)
                k = math.floor((2 * a / us + b) * u + c)
                if us >= 0.07 and v <= vr:
                    break
                if k < 0 or k > n:
                    continue
                lv = math.log(v * alpha / (a / (us * us) + b))
                ub = ((m + 0.5) * math.log((m + 1) / (r * (n - m + 1))) +
                      (n + 1) * math.log((n - m + 1) / (n - k + 1)) +
                      (k + 0.5) * math.log(r * (n - k + 1) / (k + 1)) +
                      stirling_tail_ref(m) + stirling_tail_ref(n - m) -
                      stirling_tail_ref(k) - stirling_tail_ref(n - k))
                if lv <= ub:
                    break
        out.append(float(n - k if p > 0.5 else k))
    return np.array(out).reshape(np.shape(count))


def test_binomial_kernel_matches_reference(backend):
    count = np.array([[10.0, 100.0, 100.0, 1000.0, 20.0], [0.0, 5.0, 7.0, 3e4, 40.0]])
    prob = np.array([[0.3, 0.05, 0.5, 0.9, 0.99], [0.5, 0.0, 1.0, 0.001, 0.6]])
    counter, key = (2 ** 64 - 1) + (3 << 64), 0x1111222233334444
    y = _np(backend, backend.binomial_sample(_buf(backend, count), _buf(backend, prob),
                                             counter & (2 ** 64 - 1), counter >> 64, key))
    np.testing.assert_array_equal(y, binomial_ref(count, prob, counter, key))
    assert y[1, 0] == 0 and y[1, 1] == 0 and y[1, 2] == 7


def test_binomial_kernel_errors(backend):
    y = backend.binomial_sample(_buf(backend, np.zeros(0)), _buf(backend, np.zeros(0)), 0, 0, 0)
    assert tuple(y.shape) == (0,)
    with pytest.raises(TypeError, match=r"\[binomial_sample\]"):
        backend.binomial_sample(_buf(backend, np.ones(3, np.float32)),
                                _buf(backend, np.ones(3)), 0, 0, 0)
    with pytest.raises(ValueError, match=r"\[binomial_sample\]"):
        backend.binomial_sample(_buf(backend, np.ones(3)), _buf(backend, np.ones(2)), 0, 0, 0)


def test_stateless_binomial_equals_reference_on_every_device(where):
    counts = np.array([[5.0], [60.0], [400.0]], np.float32)
    probs = np.array([0.1, 0.5, 0.85], np.float64)
    counter, key = stateless_counter([21, 22])
    ref = binomial_ref(np.broadcast_to(counts.astype(np.float64), (3, 3)),
                       np.broadcast_to(probs, (3, 3)), counter, key)
    for dt in (nabi.int32, nabi.float64):
        with nabi.device(where):
            r = _on(where, nabi.random.stateless_binomial([3, 3], [21, 22], nabi.constant(counts),
                                                          nabi.constant(probs), output_dtype=dt))
        assert r.dtype == dt
        np.testing.assert_array_equal(r.numpy(), ref.astype(dt.as_numpy_dtype))
    with nabi.device(where):   # one parameter on the device, the other a Python number
        r = nabi.random.stateless_binomial([3, 3], [21, 22], nabi.constant(counts), 0.5)
    ref = binomial_ref(np.broadcast_to(counts.astype(np.float64), (3, 3)), np.full((3, 3), 0.5),
                       counter, key)
    np.testing.assert_array_equal(r.numpy(), ref)


def test_keras_binomial_on_gpu_equals_cpu(where):
    from nabi import keras
    with nabi.device("/CPU:0"):
        cpu = keras.random.binomial((4, 3), counts=nabi.constant(30.0), probabilities=0.4,
                                    seed=5).numpy()
    with nabi.device(where):
        r = keras.random.binomial((4, 3), counts=nabi.constant(30.0), probabilities=0.4, seed=5)
    np.testing.assert_array_equal(r.numpy(), cpu)


def test_stateless_binomial_distribution(where):
    from scipy import stats
    for n, p, seed in ((12, 0.3, [1, 7]), (200, 0.4, [2, 8]), (50, 0.93, [3, 9])):
        with nabi.device(where):
            g = nabi.random.stateless_binomial([4000], seed, nabi.constant(float(n)), p,
                                               output_dtype=nabi.int64).numpy()
        ks = np.arange(n + 1)
        obs = np.array([(g == k).sum() for k in ks])
        exp = stats.binom(n, p).pmf(ks) * g.size
        m = exp > 5
        chi = stats.chisquare(obs[m], exp[m] * obs[m].sum() / exp[m].sum())
        assert chi.pvalue > 1e-3 and ((g >= 0) & (g <= n)).all()
        assert abs(g.mean() - n * p) < 4 * math.sqrt(n * p * (1 - p) / g.size)


def test_gpu_binomial_reads_nothing(d2h):
    with nabi.device("/GPU:0"):
        c = nabi.constant(np.array([10.0, 80.0]))
        reads, launches = d2h(lambda: nabi.random.stateless_binomial([3, 2], [1, 2], c, 0.3))
        assert reads == 0 and launches >= 1
        from nabi import keras
        reads, _ = d2h(lambda: keras.random.binomial((3, 2), c, 0.3, seed=2))
        assert reads == 0


def test_gpu_binomial_errors(gpu):
    with nabi.device("/GPU:0"):
        with pytest.raises(ValueError, match=r"\[random.stateless_binomial\].*broadcast"):
            nabi.random.stateless_binomial([4], [1, 2], nabi.constant([1.0, 2.0, 3.0]), 0.5)
    with nabi.device("/CPU:0"):
        with pytest.raises(ValueError, match=r"\[random.stateless_binomial\]"):
            nabi.random.stateless_binomial([2], [1, 2], nabi.constant([3.0, 2.0]), 1.5)
