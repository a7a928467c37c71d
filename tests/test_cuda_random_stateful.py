"""The stateful samplers tf.random.gamma, tf.random.poisson and tf.random.Generator.binomial on
the counter-based per-sample samplers of the stateless ones (csrc/cuda/random_samplers.cu,
random_ops.py's _gamma_counter_std / _poisson_counter / _binomial_counter), so GPU parameters
are sampled on the device with the CPU's numbers and nothing is read back.

The start of a draw follows TF's seeded stateful kernels: with global seed g and op seed s,
key g and counter (lo, s), lo starting at 0 after set_seed and moving on by 256 per value
drawn by the same op (same seeds and dtype); a Generator samples from its state [counter_lo,
counter_hi, key], which moves on by 256 per value (on the device when the state is there:
philox_state_advance). References: the scalar Python-loop samplers of
test_cuda_random_samplers.py (their own Python-int Philox) at the counter and key worked out
here from that rule, KS / chi-square / moment checks against scipy.stats with fixed seeds, and
read counts from conftest's reads_on / d2h.
"""
import math

import numpy as np
import pytest
from conftest import check_reads, reads_on
from test_cuda_random_samplers import _buf, _np, _on, binomial_ref, gamma_ref, poisson_ref

import nabi

ALPHA = np.array([0.4, 1.0, 2.5, 30.0])
LAM = np.array([0.5, 4.0, 12.0, 250.0])
COUNTS = np.array([3.0, 40.0, 500.0, 7.0])
PROBS = np.array([0.2, 0.5, 0.9, 0.35])


def _seeded(g, s, drawn=0):
    """(counter, key) of TF's seeded kernel for global seed g and op seed s after `drawn`
    values of the same op."""
    return (s << 64) + 256 * drawn, g


# ---------------------------------------------------------------- the kernels' state argument
def test_kernels_read_the_start_from_a_device_state(backend):
    counter, key = (2 ** 64 - 2) + (9 << 64), 0xFEDCBA9876543210
    state = np.array([counter & (2 ** 64 - 1), counter >> 64, key], np.uint64).view(np.int64)
    sb = _buf(backend, state)
    a = np.array([[0.3, 1.0, 4.0], [12.0, 0.0, 2.0]])
    y = _np(backend, backend.gamma_sample(_buf(backend, a), 1, 2, 3, state=sb))
    np.testing.assert_allclose(y, gamma_ref(a, counter, key), rtol=1e-12)
    y = _np(backend, backend.poisson_sample(_buf(backend, a * 5), 1, 2, 3, state=sb))
    np.testing.assert_array_equal(y, poisson_ref(a * 5, counter, key))
    c, p = np.array([4.0, 60.0, 1e3]), np.array([0.3, 0.6, 0.02])
    y = _np(backend, backend.binomial_sample(_buf(backend, c), _buf(backend, p), 1, 2, 3,
                                             state=sb))
    np.testing.assert_array_equal(y, binomial_ref(c, p, counter, key))
    np.testing.assert_array_equal(_np(backend, sb), state)   # read only


def test_philox_state_advance_carries_into_the_high_word(backend):
    for lo, hi, n in ((5, 7, 3), (2 ** 64 - 256, 7, 1), (2 ** 64 - 1, 2 ** 64 - 1, 2),
                      (0, 0, 0), (1, 2, 2 ** 40)):
        st = np.array([lo, hi, 0xABC], np.uint64).view(np.int64)
        out = _np(backend, backend.philox_state_advance(_buf(backend, st), n))
        c = ((lo | hi << 64) + 256 * n) % 2 ** 128
        assert out.dtype == np.int64 and out.shape == (3,)
        assert out.view(np.uint64).tolist() == [c & (2 ** 64 - 1), c >> 64, 0xABC]


@pytest.mark.parametrize("case", ["float-state", "short-state", "not-a-buffer"])
def test_kernels_refuse_bad_states(backend, case):
    bad = {"float-state": lambda: _buf(backend, np.zeros(3)),
           "short-state": lambda: _buf(backend, np.zeros(2, np.int64)),
           "not-a-buffer": lambda: np.zeros(3, np.int64)}[case]()
    a = _buf(backend, np.ones(2))
    for f in (lambda: backend.gamma_sample(a, 0, 0, 0, state=bad),
              lambda: backend.poisson_sample(a, 0, 0, 0, state=bad),
              lambda: backend.binomial_sample(a, a, 0, 0, 0, state=bad),
              lambda: backend.philox_state_advance(bad, 1)):
        with pytest.raises((TypeError, ValueError)):
            f()
    with pytest.raises(ValueError, match=r"\[philox_state_advance\]"):
        backend.philox_state_advance(_buf(backend, np.zeros(3, np.int64)), -1)


# ---------------------------------------------------------------- the ops: numbers
def test_seeded_gamma_equals_reference_on_every_device(where):
    shp = (3, 2, 4)
    beta = np.array([[2.0], [0.5]])
    nabi.random.set_seed(11)
    with nabi.device(where):
        a, b = nabi.constant(ALPHA), nabi.constant(beta)
        r1 = _on(where, nabi.random.gamma([3], a, b, dtype=nabi.float64, seed=5))
        r2 = _on(where, nabi.random.gamma([3], a, b, dtype=nabi.float64, seed=5))
        r3 = _on(where, nabi.random.gamma([3], a, b, dtype=nabi.float32, seed=5))
    al = np.broadcast_to(ALPHA, shp)
    for r, drawn, tol in ((r1, 0, 1e-12), (r2, 24, 1e-12), (r3, 0, 1e-6)):
        assert r.shape == shp
        ref = gamma_ref(al, *_seeded(11, 5, drawn)) / np.broadcast_to(beta, shp)
        np.testing.assert_allclose(r.numpy(), ref.astype(r.numpy().dtype), rtol=tol)


def test_seeded_poisson_equals_reference_on_every_device(where):
    nabi.random.set_seed(3)
    with nabi.device(where):
        lam = nabi.constant(LAM)
        r1 = _on(where, nabi.random.poisson([5], lam, seed=8))
        r2 = _on(where, nabi.random.poisson([2], lam, dtype=nabi.int32, seed=8))
        r3 = _on(where, nabi.random.poisson([2], lam, seed=8))
    assert r1.dtype == nabi.float32 and r2.dtype == nabi.int32 and r1.shape == (5, 4)
    np.testing.assert_array_equal(r1.numpy(), poisson_ref(np.broadcast_to(LAM, (5, 4)),
                                                          *_seeded(3, 8)))
    np.testing.assert_array_equal(r2.numpy(), poisson_ref(np.broadcast_to(LAM, (2, 4)),
                                                          *_seeded(3, 8)))
    np.testing.assert_array_equal(r3.numpy(), poisson_ref(np.broadcast_to(LAM, (2, 4)),
                                                          *_seeded(3, 8, 20)))


def test_op_seed_without_global_seed_pairs_with_87654321(where):
    from nabi.ops import random_ops
    random_ops._state.update(seed=None, op_seeds=None, kernels={})
    with nabi.device(where):
        r = nabi.random.poisson([3], nabi.constant(LAM), seed=4).numpy()
    np.testing.assert_array_equal(r, poisson_ref(np.broadcast_to(LAM, (3, 4)),
                                                 *_seeded(87654321, 4)))


def test_generator_binomial_equals_reference_on_every_device(where):
    with nabi.device(where):
        g = nabi.random.Generator.from_seed(1234)
        c, p = nabi.constant(COUNTS), nabi.constant(PROBS)
        r1 = _on(where, g.binomial([2, 4], c, p))
        r2 = _on(where, g.binomial([4], c, 0.5, dtype=nabi.float64))
        r3 = _on(where, g.binomial([3, 4], 25.0, p, dtype=nabi.int64))
        state = g.state.numpy()
    assert r1.dtype == nabi.int32 and r2.dtype == nabi.float64 and r3.dtype == nabi.int64
    np.testing.assert_array_equal(
        r1.numpy(), binomial_ref(np.broadcast_to(COUNTS, (2, 4)), np.broadcast_to(PROBS, (2, 4)),
                                 1234, 0))
    np.testing.assert_array_equal(r2.numpy(), binomial_ref(COUNTS, np.full(4, 0.5),
                                                           1234 + 256 * 8, 0))
    np.testing.assert_array_equal(
        r3.numpy(), binomial_ref(np.full((3, 4), 25.0), np.broadcast_to(PROBS, (3, 4)),
                                 1234 + 256 * 12, 0))
    assert state.tolist() == [1234 + 256 * 24, 0, 0]


def test_generator_state_on_the_cpu_with_gpu_parameters(where):
    """A Generator made on the CPU (host state) sampling GPU parameters: the state's start is
    passed from the host, the samples are the device's."""
    with nabi.device("/CPU:0"):
        g = nabi.random.Generator.from_state([-251, 3, 77], "philox")   # (lo carries)
    lo = 2 ** 64 - 251
    with nabi.device(where):
        r = g.binomial([4], nabi.constant(COUNTS), nabi.constant(PROBS))
    np.testing.assert_array_equal(r.numpy(), binomial_ref(COUNTS, PROBS, lo | 3 << 64, 77))
    assert g.state.numpy().view(np.uint64).tolist() == [lo + 1024 - 2 ** 64, 4, 77]


def test_gpu_equals_cpu_for_the_same_seeds(where):
    def draw():
        nabi.random.set_seed(21)
        g = nabi.random.Generator.from_seed(99)
        return [nabi.random.gamma([6], nabi.constant(ALPHA), seed=1),
                nabi.random.gamma([6], nabi.constant(ALPHA)),
                nabi.random.poisson([6], nabi.constant(LAM), seed=2),
                g.binomial([6, 4], nabi.constant(COUNTS), nabi.constant(PROBS)),
                g.binomial([6, 4], nabi.constant(COUNTS), nabi.constant(PROBS))]
    with nabi.device("/CPU:0"):
        cpu = [t.numpy() for t in draw()]
    with nabi.device(where):
        dev = [_on(where, t).numpy() for t in draw()]
    for c, d in zip(cpu, dev):
        assert c.dtype == d.dtype and c.shape == d.shape
        np.testing.assert_allclose(d, c, rtol=2 ** -22)


def test_reproducible_and_new_numbers_per_call(where):
    with nabi.device(where):
        lam = nabi.constant(LAM)
        nabi.random.set_seed(5)
        first = [nabi.random.poisson([4], lam, seed=3).numpy() for _ in range(2)]
        nabi.random.set_seed(5)
        again = [nabi.random.poisson([4], lam, seed=3).numpy() for _ in range(2)]
        assert not np.array_equal(first[0], first[1])
        for x, y in zip(first, again):
            np.testing.assert_array_equal(x, y)
        g1, g2 = nabi.random.Generator.from_seed(8), nabi.random.Generator.from_seed(8)
        c = nabi.constant(COUNTS)
        a, b = g1.binomial([5, 4], c, 0.4).numpy(), g1.binomial([5, 4], c, 0.4).numpy()
        np.testing.assert_array_equal(g2.binomial([5, 4], c, 0.4).numpy(), a)
        assert not np.array_equal(a, b)
        g3 = nabi.random.Generator.from_seed(8)
        g3.skip(20)   # skip(n) == drawing n values
        np.testing.assert_array_equal(g3.binomial([5, 4], c, 0.4).numpy(), b)
        # no seed at all: nabi's generator picks the start, two calls differ
        from nabi.ops import random_ops
        random_ops._state.update(seed=None, op_seeds=None, kernels={})
        x = nabi.random.gamma([50], nabi.constant(2.0)).numpy()
        y = nabi.random.gamma([50], nabi.constant(2.0)).numpy()
        assert not np.array_equal(x, y) and (x > 0).all()


# ---------------------------------------------------------------- the ops: distributions
def _chisquare_p(x, pmf):
    """The chi-square p-value of the integer samples x against pmf over 0, 1, ..., the cells
    expecting more than 5 counts."""
    from scipy import stats
    obs = np.array([(x == k).sum() for k in range(len(pmf))])
    exp = pmf * x.size
    m = exp > 5
    return stats.chisquare(obs[m], exp[m] * obs[m].sum() / exp[m].sum()).pvalue


def test_gamma_distribution(where):
    from scipy import stats
    nabi.random.set_seed(1)
    for a, s in ((0.3, 1), (1.0, 2), (6.5, 3)):
        with nabi.device(where):
            x = nabi.random.gamma([4000], nabi.constant(a, nabi.float64), beta=2.0,
                                  dtype=nabi.float64, seed=s).numpy()
        assert stats.kstest(x, stats.gamma(a, scale=0.5).cdf).pvalue > 1e-3
        assert abs(x.mean() - a / 2) < 4 * math.sqrt(a / 4 / x.size)


def test_poisson_distribution(where):
    from scipy import stats
    nabi.random.set_seed(2)
    for lam, s in ((3.0, 1), (40.0, 2)):
        with nabi.device(where):
            x = nabi.random.poisson([4000], nabi.constant(lam, nabi.float64),
                                    dtype=nabi.int64, seed=s).numpy().reshape(-1)
        assert _chisquare_p(x, stats.poisson(lam).pmf(np.arange(int(x.max()) + 1))) > 1e-3
        assert abs(x.mean() - lam) < 4 * math.sqrt(lam / x.size)
        assert abs(x.var() / lam - 1) < 0.15


def test_generator_binomial_distribution(where):
    from scipy import stats
    with nabi.device(where):
        g = nabi.random.Generator.from_seed(31)
        for n, p in ((9, 0.25), (300, 0.6)):
            x = g.binomial([4000], nabi.constant(float(n)), p, dtype=nabi.int64).numpy()
            assert _chisquare_p(x, stats.binom(n, p).pmf(np.arange(n + 1))) > 1e-3
            assert abs(x.mean() - n * p) < 4 * math.sqrt(n * p * (1 - p) / x.size)


def test_stateful_gamma_gradients(where):
    """d out / d alpha by central differences of gammaincinv at the sample's CDF value, summed
    over the sample dimension; d out / d beta = -out / beta."""
    from scipy import special
    alpha = np.array([0.7, 2.5, 9.0])
    nabi.random.set_seed(4)
    with nabi.device(where):
        a = nabi.Variable(alpha)
        b = nabi.Variable(1.5, dtype=nabi.float64)
        w = np.array([[1.0, 2.0, 3.0], [0.5, -1.0, 2.0]])
        with nabi.GradientTape() as tape:
            out = nabi.random.gamma([2], a, b, dtype=nabi.float64, seed=6)
            loss = nabi.reduce_sum(out * w)
        ga, gb = tape.gradient(loss, [a, b])
    std = out.numpy() * 1.5
    q = special.gammainc(alpha, std)
    h = 1e-6
    dstd = (special.gammaincinv(alpha + h, q) - special.gammaincinv(alpha - h, q)) / (2 * h)
    np.testing.assert_allclose(ga.numpy(), (w * dstd / 1.5).sum(axis=0), rtol=1e-5)
    np.testing.assert_allclose(gb.numpy(), (w * -out.numpy() / 1.5).sum(), rtol=1e-10)


# ---------------------------------------------------------------- reads and invalid parameters
def test_stateful_samplers_read_nothing(where, monkeypatch):
    run = reads_on(where, monkeypatch)
    nabi.random.set_seed(7)
    with nabi.device(where):
        a = nabi.Variable(ALPHA)
        lam, c, p = nabi.constant(LAM), nabi.constant(COUNTS), nabi.constant(PROBS)
        g = nabi.random.Generator.from_seed(5)
        for f in (lambda: nabi.random.gamma([3], a, seed=2),
                  lambda: nabi.random.gamma([3], a, 2.0),
                  lambda: nabi.random.poisson([3], lam, dtype=nabi.int32, seed=1),
                  lambda: g.binomial([3, 4], c, p),
                  lambda: g.binomial([2], 10.0, 0.5, dtype=nabi.float32)):
            reads, _ = run(f)
            check_reads(reads, 0)

        def grad():
            with nabi.GradientTape() as tape:
                out = nabi.random.gamma([2], a, dtype=nabi.float64, seed=3)
            return tape.gradient(out, a)
        reads, _ = run(grad)
        check_reads(reads, 0)


def test_gpu_launches(d2h):
    with nabi.device("/GPU:0"):
        g = nabi.random.Generator.from_seed(5)
        c = nabi.constant(COUNTS)
        reads, launches = d2h(lambda: g.binomial([4], c, 0.5, dtype=nabi.float64))
        assert reads == 0 and launches >= 2   # sample, advance the state (+ casts, the copy)


def test_invalid_parameters(where):
    """As the stateless samplers: the host raises; the device gives NaN (gamma, float
    poisson) or the limits (binomial: counts or probs <= 0 give 0, probs >= 1 gives counts)."""
    nabi.random.set_seed(9)
    with nabi.device(where):
        bad_a = nabi.constant([0.0, -1.0, np.nan, 2.0])
        bad_l = nabi.constant([-1.0, np.nan, 3.0])
        bad_c, bad_p = nabi.constant([5.0, -2.0, 7.0]), nabi.constant([1.0, 0.5, 0.0])
        g = nabi.random.Generator.from_seed(2)
        if where == "/CPU:0":
            with pytest.raises(ValueError, match=r"\[random.gamma\].*alpha"):
                nabi.random.gamma([2], bad_a, seed=1)
            with pytest.raises(ValueError, match=r"\[random.poisson\].*lam"):
                nabi.random.poisson([2], bad_l, seed=1)
            with pytest.raises(ValueError, match=r"\[random.Generator.binomial\]"):
                g.binomial([3], bad_c, bad_p)
            with pytest.raises(ValueError, match=r"\[random.Generator.binomial\]"):
                g.binomial([2], 5, 1.5)
        else:
            r = nabi.random.gamma([2], bad_a, dtype=nabi.float64, seed=1).numpy()
            assert (r[:, 0] == 0).all() and np.isnan(r[:, 1:3]).all() and (r[:, 3] > 0).all()
            r = nabi.random.poisson([2], bad_l, dtype=nabi.float64, seed=1).numpy()
            assert np.isnan(r[:, :2]).all() and (r[:, 2] >= 0).all()
            r = g.binomial([3], bad_c, bad_p, dtype=nabi.float64).numpy()
            assert r.tolist() == [5.0, 0.0, 0.0]
        with pytest.raises(ValueError, match=r"\[random.gamma\]"):
            nabi.random.gamma([2], nabi.constant([1.0, 2.0]), nabi.constant([1.0, 2.0, 3.0]))
        with pytest.raises(ValueError, match=r"\[random.Generator.binomial\].*broadcast"):
            g.binomial([4], nabi.constant([1.0, 2.0, 3.0]), 0.5)
