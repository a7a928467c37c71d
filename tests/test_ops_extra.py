"""top_k / in_top_k, cumprod (and cumsum's exclusive/reverse), segment reductions,
count_nonzero, einsum, norms and small linear algebra, clipping by norm, scatter_nd and
friends, gather_nd(batch_dims), sequence_mask.

Every value is checked against an independent NumPy reference written here (np.einsum,
np.linalg, np.cumprod, explicit loops); gradients against analytic NumPy formulas or float64
central differences. The `where` fixture runs the forward and gradient checks on the CPU, the
emulated GPU and (when present) the real one."""
import itertools

import numpy as np
import pytest

import nabi
from helpers import assert_array, fd_check, tape_grads

RNG = np.random.default_rng(7)


def rand(*shape, dtype=np.float64, lo=-2.0, hi=2.0):
    return RNG.uniform(lo, hi, shape).astype(dtype)


def tol(dtype):
    return dict(rtol=1e-4, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-12)


def on_device(where, t):
    """Asserts that an op's result stayed on the device it ran on."""
    want = "GPU" if "GPU" in where else "CPU"
    assert want in t.device, (where, t.device)


# ---------------------------------------------------------------- top_k / in_top_k


def ref_top_k(x, k):
    lead = x.shape[:-1]
    v = np.zeros(lead + (k,), x.dtype)
    i = np.zeros(lead + (k,), np.int64)
    for idx in np.ndindex(*lead):
        row = x[idx]
        order = sorted(range(len(row)), key=lambda j: (-float(row[j]), j))[:k]
        v[idx] = row[order]
        i[idx] = order
    return v, i


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_top_k_forward_and_gradient(where, dtype):
    x = rand(3, 2, 7, dtype=dtype)
    x[0, 1, 2] = x[0, 1, 5]                      # a tie: the lower index comes first
    with nabi.device(where):
        r = nabi.math.top_k(nabi.constant(x), k=3)
        assert r is not None and r.values is r[0] and r.indices is r[1]
        ev, ei = ref_top_k(x, 3)
        assert_array(r.values, ev, dtype=dtype, **tol(dtype))
        assert_array(r.indices, ei, dtype=np.int32)
        on_device(where, r.values)
        on_device(where, r.indices)
        y, (g,), c = tape_grads(lambda t: nabi.nn.top_k(t, 3).values, [x])
        ref = np.zeros_like(x)
        for idx in np.ndindex(3, 2):
            for j in range(3):
                ref[idx + (ei[idx + (j,)],)] += c[idx + (j,)]
        assert_array(g, ref, dtype=dtype, **tol(dtype))


def test_top_k_edges_and_errors():
    x = np.array([5, 1, 5, 3, -7], np.int32)
    v, i = nabi.math.top_k(x, k=4)
    assert_array(v, [5, 5, 3, 1], dtype=np.int32)
    assert_array(i, [0, 2, 3, 1], dtype=np.int32)
    v, i = nabi.math.top_k(nabi.constant([[1., 2.]]), k=0)
    assert v.shape == (1, 0) and i.shape == (1, 0)
    v, i = nabi.math.top_k(nabi.constant([3., 1.]))       # default k=1
    assert_array(v, [3.]) and assert_array(i, [0])
    v, i = nabi.math.top_k(nabi.constant([1., 2., 3.]), k=2, index_type=nabi.int64)
    assert i.dtype == nabi.int64
    with pytest.raises(ValueError, match=r"\[top_k\] k=4 must be in \[0, 3\].*\(2, 3\)"):
        nabi.math.top_k(np.zeros((2, 3), np.float32), k=4)
    with pytest.raises(ValueError, match=r"\[top_k\] k=-1"):
        nabi.math.top_k(np.zeros((3,), np.float32), k=-1)
    with pytest.raises(ValueError, match=r"\[top_k\].*scalar"):
        nabi.math.top_k(nabi.constant(1.0))
    with pytest.raises(TypeError, match=r"\[top_k\] k must be an integer"):
        nabi.math.top_k(nabi.constant([1.0, 2.0]), k=1.5)


def ref_in_top_k(targets, pred, k):
    out = []
    for t, row in zip(targets, pred):
        if not 0 <= t < len(row) or not np.isfinite(row[t]):
            out.append(False)
            continue
        out.append(sum(1 for v in row if v > row[t]) < k)
    return np.array(out, bool)


def test_in_top_k(where):
    pred = rand(6, 5).astype(np.float32)
    pred[1, 3] = pred[1, 0] = pred[1].max()        # a tie at the top: both are in top 1
    pred[2, 4] = np.nan
    targets = np.array([0, 3, 4, 1, 7, -1], np.int32)   # 7 and -1 out of range
    with nabi.device(where):
        for k in (0, 1, 2, 5):
            r = nabi.math.in_top_k(nabi.constant(targets), nabi.constant(pred), k)
            assert_array(r, ref_in_top_k(targets, pred, k), dtype=bool)
            on_device(where, r)
        assert nabi.nn.in_top_k(nabi.constant(targets), nabi.constant(pred), 1).numpy()[1]


def test_in_top_k_errors():
    pred = np.zeros((2, 3), np.float32)
    with pytest.raises(ValueError, match=r"TF2 order is in_top_k\(targets, predictions, k\)"):
        nabi.math.in_top_k(pred, np.array([0, 1]), 1)
    with pytest.raises(ValueError, match=r"\[in_top_k\] targets must be 1-D.*\(2, 3\)"):
        nabi.math.in_top_k(np.array([0, 1, 2]), pred, 1)
    with pytest.raises(TypeError, match=r"\[in_top_k\] targets must be integers"):
        nabi.math.in_top_k(np.array([0., 1.]), pred, 1)


# ---------------------------------------------------------------- cumprod / cumsum


def ref_scan(x, axis, exclusive, reverse, op):
    v = np.flip(x, axis) if reverse else x
    r = op(v, axis=axis)
    if exclusive:
        first = np.ones_like(np.take(r, [0], axis)) * (1 if op is np.cumprod else 0)
        r = np.concatenate([first, np.take(r, range(r.shape[axis] - 1), axis)], axis)
    return np.flip(r, axis) if reverse else r


@pytest.mark.parametrize("exclusive,reverse", list(itertools.product([False, True], repeat=2)))
def test_cumprod_forward_and_gradient(where, exclusive, reverse):
    x = rand(3, 6, lo=0.5, hi=1.5)
    x[0, 2] = 0.0                       # zeros: the gradient must not divide by x
    x[2, 1] = x[2, 4] = 0.0
    f = lambda t: nabi.math.cumprod(t, axis=1, exclusive=exclusive, reverse=reverse)  # noqa: E731
    with nabi.device(where):
        for dtype in (np.float32, np.float64):
            y = f(nabi.constant(x.astype(dtype)))
            assert_array(y, ref_scan(x, 1, exclusive, reverse, np.cumprod).astype(dtype),
                         dtype=dtype, **tol(dtype))
            on_device(where, y)
        fd_check(f, [x])
        # the same on axis 0, with a float32 gradient staying float32
        y, (g,), _ = tape_grads(lambda t: nabi.math.cumprod(t, axis=0, exclusive=exclusive,
                                                            reverse=reverse),
                                [x.astype(np.float32)])
        assert g.dtype == nabi.float32 and np.isfinite(g.numpy()).all()


def test_cumprod_gradient_formula_and_ints():
    # analytic: d/dx_i sum_j c_j prod_{k<=j} x_k = sum_{j>=i} c_j prod_{k<=j, k!=i} x_k
    x = np.array([2.0, 0.0, 3.0, 0.5, 0.0])
    c = np.array([1.0, -2.0, 0.5, 3.0, 1.5])
    _, (g,), _ = tape_grads(lambda t: nabi.math.cumprod(t), [x], c=c)
    ref = [sum(c[j] * np.prod([x[k] for k in range(j + 1) if k != i]) for j in range(i, 5))
           for i in range(5)]
    assert_array(g, ref, rtol=1e-12)
    xi = np.array([[1, 2, 3], [4, -5, 6]], np.int32)
    assert_array(nabi.math.cumprod(xi, axis=1), np.cumprod(xi, axis=1).astype(np.int32),
                 dtype=np.int32)
    with pytest.raises(ValueError, match=r"\[cumprod\] axis 2 is out of range"):
        nabi.math.cumprod(xi, axis=2)
    with pytest.raises(ValueError, match=r"\[cumprod\].*scalar"):
        nabi.math.cumprod(nabi.constant(2.0))


@pytest.mark.parametrize("exclusive,reverse", list(itertools.product([False, True], repeat=2)))
def test_cumsum_exclusive_reverse(where, exclusive, reverse):
    x = rand(4, 5)
    f = lambda t: nabi.cumsum(t, axis=-1, exclusive=exclusive, reverse=reverse)  # noqa: E731
    with nabi.device(where):
        assert_array(f(nabi.constant(x)), ref_scan(x, 1, exclusive, reverse, np.cumsum))
        fd_check(f, [x])


# ---------------------------------------------------------------- segments


def ref_segment(data, ids, num, fn, empty):
    out = np.full((num,) + data.shape[ids.ndim:], empty, dtype=data.dtype)
    flat_ids = ids.reshape(-1)
    flat = data.reshape((flat_ids.size,) + data.shape[ids.ndim:])
    for s in range(num):
        rows = [flat[i] for i in range(flat_ids.size) if flat_ids[i] == s]
        if rows:
            out[s] = fn(np.stack(rows))
    return out


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_segment_sum_mean_max(where, dtype):
    data = rand(7, 3, dtype=dtype)
    ids = np.array([0, 0, 2, 2, 2, 3, 5])             # segments 1 and 4 are empty
    with nabi.device(where):
        for op, fn in (("segment_sum", lambda r: r.sum(0)), ("segment_mean", lambda r: r.mean(0)),
                       ("segment_max", lambda r: r.max(0))):
            y = getattr(nabi.math, op)(nabi.constant(data), nabi.constant(ids))
            assert_array(y, ref_segment(data, ids, 6, fn, 0), dtype=dtype, **tol(dtype))
            on_device(where, y)
        for op in ("segment_sum", "segment_mean", "segment_max"):
            fd_check(lambda t: getattr(nabi.math, op)(t, ids), [data.astype(np.float64)])


def test_segment_max_ties_share_gradient_and_ints(where):
    data = np.array([[1., 5.], [3., 5.], [3., 2.], [4., 4.]])
    ids = np.array([0, 0, 0, 1])
    with nabi.device(where):
        _, (g,), c = tape_grads(lambda t: nabi.math.segment_max(t, ids), [data])
        ref = np.zeros_like(data)
        ref[1, 0] = ref[2, 0] = c[0, 0] / 2       # 3 twice in column 0 of segment 0
        ref[0, 1] = ref[1, 1] = c[0, 1] / 2       # 5 twice in column 1
        ref[3] = c[1]
        assert_array(g, ref)
        di = np.array([[1, -5], [3, 7], [-2, 2], [4, 4]], np.int32)
        for op, fn in (("segment_sum", lambda r: r.sum(0)), ("segment_max", lambda r: r.max(0))):
            y = getattr(nabi.math, op)(nabi.constant(di), ids)
            assert_array(y, ref_segment(di, ids, 2, fn, 0), dtype=np.int32)
        m = nabi.math.segment_mean(nabi.constant(np.array([-7, 2, 4], np.int32)), [0, 0, 1])
        assert_array(m, np.array([-2, 4], np.int32), dtype=np.int32)   # -5 / 2 toward zero


def test_unsorted_segment_sum(where):
    data = rand(2, 3, 4)
    ids = np.array([[2, 0, -1], [2, 4, 0]])           # -1 is dropped; 1 and 3 stay zero
    with nabi.device(where):
        y = nabi.math.unsorted_segment_sum(nabi.constant(data), nabi.constant(ids), 5)
        assert_array(y, ref_segment(data, ids, 5, lambda r: r.sum(0), 0))
        on_device(where, y)
        fd_check(lambda t: nabi.math.unsorted_segment_sum(t, ids, 5), [data])
        yi = nabi.math.unsorted_segment_sum(nabi.constant(np.arange(6, dtype=np.int32)),
                                            [1, 1, 0, 2, 1, -3], 3)
        assert_array(yi, np.array([2, 0 + 1 + 4, 3], np.int32), dtype=np.int32)


def test_segment_errors():
    d = np.zeros((4, 2), np.float32)
    with pytest.raises(ValueError, match=r"\[segment_sum\] segment_ids must be sorted.*"
                                         r"segment_ids\[2\] = 0 follows 1"):
        nabi.math.segment_sum(d, [0, 1, 0, 2])
    with pytest.raises(ValueError, match=r"\[segment_mean\] segment_ids of shape \(3,\).*\(4, 2\)"):
        nabi.math.segment_mean(d, [0, 0, 1])
    with pytest.raises(ValueError, match=r"\[segment_max\] segment ids must be non-negative"):
        nabi.math.segment_max(d, [-1, 0, 0, 1])
    with pytest.raises(TypeError, match=r"\[segment_sum\] segment_ids must be integers"):
        nabi.math.segment_sum(d, np.array([0., 0., 1., 1.]))
    with pytest.raises(ValueError, match=r"\[unsorted_segment_sum\] segment id 3 is out of "
                                         r"range \[0, 3\)"):
        nabi.math.unsorted_segment_sum(d, [0, 3, 1, 1], 3)
    with pytest.raises(ValueError, match=r"\[unsorted_segment_sum\] segment_ids of shape "
                                         r"\(2, 2\) must be a prefix of the data shape \(4, 2\)"):
        nabi.math.unsorted_segment_sum(d, [[0, 1], [1, 0]], 3)


# ---------------------------------------------------------------- count_nonzero


def test_count_nonzero(where):
    x = np.array([[0., 1.5, 0.], [np.nan, 0., -2.], [0., 0., 0.]], np.float32)
    with nabi.device(where):
        t = nabi.constant(x)
        r = nabi.math.count_nonzero(t)
        assert_array(r, np.array(sum(1 for v in x.ravel() if v != 0)), dtype=np.int64)
        on_device(where, r)
        for axis in (0, 1, -1, (0, 1)):
            for keep in (False, True):
                ref = np.sum(x != 0, axis=axis, keepdims=keep)
                assert_array(nabi.math.count_nonzero(t, axis=axis, keepdims=keep), ref,
                             dtype=np.int64)
        ti = nabi.constant(np.array([[0, 3], [4, 0]], np.int32))
        assert_array(nabi.math.count_nonzero(ti, axis=1, dtype=nabi.int32), [1, 1],
                     dtype=np.int32)
        tb = nabi.constant(np.array([True, False, True]))
        assert_array(nabi.math.count_nonzero(tb), np.array(2), dtype=np.int64)
    with pytest.raises(ValueError, match=r"\[count_nonzero\] axis 2 is out of range"):
        nabi.math.count_nonzero(x, axis=2)


# ---------------------------------------------------------------- einsum

EINSUM_CASES = [
    ("ij,jk->ik", [(3, 4), (4, 5)]),
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
    ("bhqd,bhkd->bhqk", [(2, 3, 4, 5), (2, 3, 6, 5)]),
    ("bhqk,bhkd->bhqd", [(2, 2, 3, 4), (2, 2, 4, 5)]),
    ("ij->ji", [(3, 4)]),
    ("ij->i", [(3, 4)]),
    ("ij->", [(3, 4)]),
    ("i,j->ij", [(3,), (4,)]),
    ("i,i->", [(5,)] * 2),
    ("ij,ij->ij", [(3, 4)] * 2),
    ("ij,ij->i", [(3, 4)] * 2),
    ("ij,jk", [(3, 4), (4, 2)]),                     # implicit output
    ("ba,ac", [(3, 4), (4, 2)]),                     # implicit output sorted: 'bc'
    ("...ij,...jk->...ik", [(2, 3, 4, 5), (5, 2)]),  # '...' broadcasting
    ("...ij,...jk->...ik", [(2, 1, 4, 5), (3, 5, 2)]),
    ("...i,i->...", [(2, 3, 4), (4,)]),
    ("bi,bj,bk->bijk", [(2, 3), (2, 2), (2, 4)]),    # three inputs
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 2)]),
    ("abc,cd->bd", [(2, 3, 4), (4, 5)]),             # a summed before the product
    ("ijk,kji->", [(2, 3, 4), (4, 3, 2)]),
    ("bqd,bkd->bqk", [(1, 3, 4), (1, 5, 4)]),
]


@pytest.mark.parametrize("eq,shapes", EINSUM_CASES, ids=[c[0] for c in EINSUM_CASES])
def test_einsum_forward_and_gradient(eq, shapes):
    xs = [rand(*s) for s in shapes]
    assert_array(nabi.einsum(eq, *[nabi.constant(x) for x in xs]), np.einsum(eq, *xs),
                 rtol=1e-10, atol=1e-12)
    x32 = [x.astype(np.float32) for x in xs]
    assert_array(nabi.linalg.einsum(eq, *[nabi.constant(x) for x in x32]),
                 np.einsum(eq, *xs).astype(np.float32), dtype=np.float32)
    fd_check(lambda *ts: nabi.einsum(eq, *ts), xs)


@pytest.mark.parametrize("eq,shapes", [c for c in EINSUM_CASES if c[0] in (
    "bhqd,bhkd->bhqk", "i,j->ij", "ij->i", "...ij,...jk->...ik", "ij,jk,kl->il")])
def test_einsum_on_device(where, eq, shapes):
    xs = [rand(*s) for s in shapes]
    with nabi.device(where):
        y = nabi.einsum(eq, *[nabi.constant(x) for x in xs])
        assert_array(y, np.einsum(eq, *xs), rtol=1e-10, atol=1e-12)
        on_device(where, y)
        y, grads, c = tape_grads(lambda *ts: nabi.einsum(eq, *ts), xs)
        if "..." in eq:
            fd_check(lambda *ts: nabi.einsum(eq, *ts), xs)
            return
    # d/dx_i of sum(c * einsum(x_0, x_1, ...)): the same contraction with c in x_i's place
    # (a ones operand of x_i's shape supplies the labels that only x_i has)
    lhs, rhs = eq.split("->")
    terms = lhs.split(",")
    for i, g in enumerate(grads):
        others = [t for j, t in enumerate(terms) if j != i]
        ops = [x for j, x in enumerate(xs) if j != i]
        sub = ",".join([rhs] + others + [terms[i]]) + "->" + terms[i]
        assert_array(g, np.einsum(sub, c, *ops, np.ones_like(xs[i])), rtol=1e-10, atol=1e-12)


def test_einsum_integers_and_list_form():
    a = np.arange(6, dtype=np.int32).reshape(2, 3)
    b = np.arange(12, dtype=np.int32).reshape(3, 4)
    assert_array(nabi.einsum("ij,jk->ik", a, b), a @ b, dtype=np.int32)
    assert_array(nabi.einsum("ij,jk->ik", [nabi.constant(a), nabi.constant(b)]), a @ b)
    x = rand(2, 3, dtype=np.float32)
    y = nabi.einsum("ij,j->i", nabi.constant(x), [1.0, 2.0, 3.0])   # the list adapts: float32
    assert_array(y, x @ np.array([1.0, 2.0, 3.0], np.float32), dtype=np.float32)


def test_einsum_errors():
    a, b = np.zeros((2, 3), np.float32), np.zeros((4, 5), np.float32)
    with pytest.raises(ValueError, match=r"\[einsum\] equation 'ij,jk->ik' with input shapes "
                                         r"\[\(2, 3\), \(4, 5\)\]: subscript 'j' have sizes 3 "
                                         r"and 4"):
        nabi.einsum("ij,jk->ik", a, b)
    with pytest.raises(ValueError, match=r"'i' repeats in input 0 'ii' over axes of sizes 3 "
                                         r"and 4"):
        nabi.einsum("ii->i", np.zeros((3, 4), np.float32))
    with pytest.raises(ValueError, match=r"2 input term\(s\) but 1 input"):
        nabi.einsum("ij,jk->ik", a)
    with pytest.raises(ValueError, match=r"'ijk' has 3 subscript\(s\) but the input has rank 2"):
        nabi.einsum("ijk->i", a)
    with pytest.raises(ValueError, match=r"output subscript 'z' is in no input"):
        nabi.einsum("ij->iz", a)
    with pytest.raises(ValueError, match=r"'\.\.\.' dimensions have sizes 2 and 3"):
        nabi.einsum("...i,...i->...i", np.zeros((2, 4)), np.zeros((3, 4)))
    with pytest.raises(ValueError, match=r"the character '1'"):
        nabi.einsum("i1->i", a)
    with pytest.raises(TypeError, match=r"\[einsum\] dtypes differ"):
        nabi.einsum("ij,jk->ik", nabi.constant(a), nabi.constant(np.zeros((3, 2))))


# ---------------------------------------------------------------- norms


def ref_vector_norm(x, ord, axis, keepdims):
    a = np.abs(x)
    if ord in ("euclidean", 2):
        r = np.sqrt((a ** 2).sum(axis=axis, keepdims=keepdims))
    elif ord == 1:
        r = a.sum(axis=axis, keepdims=keepdims)
    elif ord == np.inf:
        r = a.max(axis=axis, keepdims=keepdims)
    else:
        r = (a ** ord).sum(axis=axis, keepdims=keepdims) ** (1.0 / ord)
    return r


@pytest.mark.parametrize("ord", ["euclidean", 1, 2, np.inf, 3, 0.5])
@pytest.mark.parametrize("axis,keepdims", [(None, False), (None, True), (1, False), (-1, True),
                                           ([0], False)])
def test_vector_norms(ord, axis, keepdims):
    x = rand(3, 4)
    x[0, 0] = 0.25  # keeps away from 0 so that every ord is differentiable there
    for dtype in (np.float32, np.float64):
        y = nabi.norm(nabi.constant(x.astype(dtype)), ord=ord, axis=axis, keepdims=keepdims)
        ax = tuple(axis) if isinstance(axis, list) else axis
        assert_array(y, ref_vector_norm(x, ord, ax, keepdims).astype(dtype), dtype=dtype,
                     **tol(dtype))
    if ord == np.inf:
        x = x + np.arange(12).reshape(3, 4) * 1e-2  # no ties for the max
    fd_check(lambda t: nabi.linalg.norm(t, ord=ord, axis=axis, keepdims=keepdims), [x])


@pytest.mark.parametrize("ord", ["fro", "euclidean", 1, np.inf])
@pytest.mark.parametrize("axis", [(0, 1), (1, 0), (-2, -1), (2, 0)])
def test_matrix_norms(where, ord, axis):
    x = rand(3, 4, 5) + np.arange(60).reshape(3, 4, 5) * 1e-3
    r0, c0 = [a % 3 for a in axis]
    mat = np.moveaxis(x, (r0, c0), (-2, -1))
    ref = np.linalg.norm(mat, ord="fro" if ord == "euclidean" else ord, axis=(-2, -1))
    with nabi.device(where):
        y = nabi.norm(nabi.constant(x), ord=ord, axis=axis)
        assert_array(y, ref, rtol=1e-10)
        on_device(where, y)
        yk = nabi.norm(nabi.constant(x), ord=ord, axis=axis, keepdims=True)
        assert_array(yk, np.expand_dims(ref, (r0, c0)), rtol=1e-10)
        fd_check(lambda t: nabi.norm(t, ord=ord, axis=axis), [x])


def test_norm_on_device_and_errors(where):
    x = rand(4, 3)
    with nabi.device(where):
        y, (g,), c = tape_grads(lambda t: nabi.norm(t, axis=1), [x])
        n = np.sqrt((x ** 2).sum(1))
        assert_array(y, n, rtol=1e-12)
        assert_array(g, c[:, None] * x / n[:, None], rtol=1e-10)
    with pytest.raises(TypeError, match=r"\[norm\] input must be a floating-point tensor"):
        nabi.norm(np.array([1, 2], np.int32))
    with pytest.raises(ValueError, match=r"\[norm\] ord must be"):
        nabi.norm(np.ones(3, np.float32), ord=-1)
    with pytest.raises(ValueError, match=r"\[norm\] ord must be"):
        nabi.norm(np.ones(3, np.float32), ord="nuc")
    with pytest.raises(ValueError, match=r"\[norm\] ord='fro' is a matrix norm"):
        nabi.norm(np.ones((3, 3), np.float32), ord="fro", axis=0)
    with pytest.raises(ValueError, match=r"\[norm\] matrix norm ord=2 is not supported"):
        nabi.norm(np.ones((3, 3), np.float32), ord=2, axis=(0, 1))
    with pytest.raises(ValueError, match=r"\[norm\] axis 2 is out of range"):
        nabi.norm(np.ones((3, 3), np.float32), axis=2)
    with pytest.raises(ValueError, match=r"\[norm\] axis must be None, an int or a pair"):
        nabi.norm(np.ones((3, 3, 3), np.float32), axis=(0, 1, 2))


# ---------------------------------------------------------------- inv / det / slogdet


def well_conditioned(*batch, n=3):
    a = RNG.standard_normal(batch + (n, n))
    return a + n * np.eye(n)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_inv_det_slogdet_forward(where, dtype):
    a = well_conditioned(2, n=4)
    a[1] = -a[1][[1, 0, 2, 3]]                    # a negative determinant in the batch
    with nabi.device(where):
        t = nabi.constant(a.astype(dtype))
        ti = nabi.linalg.inv(t)
        assert_array(ti, np.linalg.inv(a).astype(dtype), dtype=dtype, rtol=1e-4 if dtype ==
                     np.float32 else 1e-10, atol=1e-5 if dtype == np.float32 else 1e-12)
        on_device(where, ti)
        assert_array(nabi.linalg.det(t), np.linalg.det(a).astype(dtype), dtype=dtype,
                     rtol=1e-4 if dtype == np.float32 else 1e-10)
        s, la = nabi.linalg.slogdet(t)
        es, ela = np.linalg.slogdet(a)
        assert_array(s, es.astype(dtype), dtype=dtype)
        assert_array(la, ela.astype(dtype), dtype=dtype, **tol(dtype))
        on_device(where, la)


def test_inv_det_slogdet_gradients(where):
    a = well_conditioned(2)
    with nabi.device(where):
        _, (g,), c = tape_grads(nabi.linalg.inv, [a])
        it = np.swapaxes(np.linalg.inv(a), -1, -2)
        assert_array(g, -it @ c @ it, rtol=1e-10)               # -inv^T g inv^T
        _, (g,), c = tape_grads(nabi.linalg.det, [a])
        assert_array(g, c[:, None, None] * np.linalg.det(a)[:, None, None] * it, rtol=1e-10)
        _, (g,), c = tape_grads(lambda t: nabi.linalg.slogdet(t)[1], [a])
        assert_array(g, c[:, None, None] * it, rtol=1e-10)
        fd_check(nabi.linalg.inv, [a])
        fd_check(nabi.linalg.det, [a])
        fd_check(lambda t: nabi.linalg.slogdet(t)[1], [a])


def test_det_gradient_of_singular_matrix():
    # d det / dA = adj(A)^T, defined for singular A too (the cofactor matrix)
    a = np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [0.5, -1.0, 2.0]])     # rank 2
    _, (g,), _ = tape_grads(nabi.linalg.det, [a], c=np.array(1.0))
    cof = np.zeros((3, 3))
    for i in range(3):
        for j in range(3):
            minor = np.delete(np.delete(a, i, 0), j, 1)
            cof[i, j] = (-1) ** (i + j) * (minor[0, 0] * minor[1, 1] - minor[0, 1] * minor[1, 0])
    assert_array(g, cof, rtol=1e-9, atol=1e-12)
    fd_check(nabi.linalg.det, [a])


def test_linalg_errors():
    with pytest.raises(ValueError, match=r"\[inv\] input must be a square matrix.*\(2, 3\)"):
        nabi.linalg.inv(np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match=r"\[inv\] input of shape \(2, 2\) is not invertible"):
        nabi.linalg.inv(np.zeros((2, 2), np.float32))
    with pytest.raises(TypeError, match=r"\[det\] input must be a floating-point tensor"):
        nabi.linalg.det(np.eye(2, dtype=np.int32))
    with pytest.raises(ValueError, match=r"\[slogdet\] input must be a square matrix.*\(3,\)"):
        nabi.linalg.slogdet(np.zeros(3, np.float32))


# ---------------------------------------------------------------- trace / diag / band_part


def test_trace_diag_diag_part(where):
    x = rand(2, 3, 4)
    d = rand(2, 3)
    with nabi.device(where):
        tr = nabi.linalg.trace(nabi.constant(x))
        assert_array(tr, [sum(x[b, i, i] for i in range(3)) for b in range(2)], rtol=1e-12)
        on_device(where, tr)
        dp = nabi.linalg.diag_part(nabi.constant(x))
        assert_array(dp, [[x[b, i, i] for i in range(3)] for b in range(2)])
        dg = nabi.linalg.diag(nabi.constant(d))
        ref = np.zeros((2, 3, 3))
        for b in range(2):
            for i in range(3):
                ref[b, i, i] = d[b, i]
        assert_array(dg, ref)
        on_device(where, dg)
        fd_check(nabi.linalg.trace, [x])
        fd_check(nabi.linalg.diag_part, [x])
        fd_check(nabi.linalg.diag, [d])
    di = nabi.linalg.diag(np.array([1, 2], np.int32))
    assert_array(di, [[1, 0], [0, 2]], dtype=np.int32)
    assert_array(nabi.linalg.diag(np.array([np.inf, 1.0], np.float32)), [[np.inf, 0], [0, 1]])
    with pytest.raises(ValueError, match=r"\[trace\] input must have rank >= 2"):
        nabi.linalg.trace(np.zeros(3, np.float32))
    # k != 0 (tests/test_missing_ops_batch2.py covers the bands)
    assert_array(nabi.linalg.diag_part(np.arange(9, dtype=np.float32).reshape(3, 3), k=1),
                 [1, 5])


@pytest.mark.parametrize("lo,up", [(0, -1), (-1, 0), (1, 1), (0, 0), (-1, -1), (2, 0)])
def test_band_part(where, lo, up):
    x = rand(2, 4, 5)
    ref = x.copy()
    for b, i, j in np.ndindex(*x.shape):
        if not ((lo < 0 or i - j <= lo) and (up < 0 or j - i <= up)):
            ref[b, i, j] = 0
    with nabi.device(where):
        y = nabi.linalg.band_part(nabi.constant(x), lo, up)
        assert_array(y, ref)
        on_device(where, y)
        _, (g,), c = tape_grads(lambda t: nabi.linalg.band_part(t, lo, up), [x])
        assert_array(g, np.where(ref != 0, c, 0))
    xi = np.arange(9, dtype=np.int32).reshape(3, 3)
    assert_array(nabi.linalg.band_part(xi, 0, -1), np.triu(xi), dtype=np.int32)


# ---------------------------------------------------------------- clipping by norm


@pytest.mark.parametrize("axes", [None, [1], [0, 1]])
def test_clip_by_norm(where, axes):
    x = rand(3, 4)
    ax = tuple(axes) if axes else None
    with nabi.device(where):
        for cn in (0.5, 100.0):
            y = nabi.clip_by_norm(nabi.constant(x), cn, axes=axes)
            n = np.sqrt((x ** 2).sum(axis=ax, keepdims=True))
            assert_array(y, np.where(n > cn, x * cn / n, x), rtol=1e-12)
            on_device(where, y)
            fd_check(lambda t: nabi.clip_by_norm(t, cn, axes=axes), [x])
        z = nabi.clip_by_norm(nabi.constant(np.zeros((2, 2))), 1.0)
        assert_array(z, np.zeros((2, 2)))
        _, (g,), c = tape_grads(lambda t: nabi.clip_by_norm(t, 1.0), [np.zeros((2, 2))])
        assert np.isfinite(g.numpy()).all()                 # the all-zero input stays finite
    y32 = nabi.clip_by_norm(nabi.constant(x.astype(np.float32)), nabi.constant(np.float32(1.0)))
    assert y32.dtype == nabi.float32
    with pytest.raises(TypeError, match=r"\[clip_by_norm\] input must be a floating-point"):
        nabi.clip_by_norm(np.ones(3, np.int32), 1.0)


def test_global_norm_and_clip_by_global_norm(where):
    a, b = rand(3, 4), rand(5)
    gn = np.sqrt((a ** 2).sum() + (b ** 2).sum())
    with nabi.device(where):
        ta, tb = nabi.constant(a), nabi.constant(b)
        n = nabi.linalg.global_norm([ta, None, tb])
        assert_array(n, np.array(gn), rtol=1e-12)
        on_device(where, n)
        for cn in (1.0, 100.0):
            out, norm = nabi.clip_by_global_norm([ta, None, tb], cn)
            assert out[1] is None and len(out) == 3
            scale = cn / max(gn, cn)
            assert_array(out[0], a * scale, rtol=1e-12)
            assert_array(out[2], b * scale, rtol=1e-12)
            assert_array(norm, np.array(gn), rtol=1e-12)
            on_device(where, out[0])
        out, norm = nabi.clip_by_global_norm((ta, tb), 1.0, use_norm=nabi.constant(2.0 * gn))
        assert_array(out[0], a / (2 * gn), rtol=1e-12)
        fd_check(lambda u, v: nabi.clip_by_global_norm([u, v], 1.0)[0][0], [a, b])
        fd_check(lambda u, v: nabi.linalg.global_norm([u, v]), [a, b])
        inf = nabi.constant(np.array([np.inf, 1.0]))
        out, norm = nabi.clip_by_global_norm([inf, ta], 1.0)
        assert np.isnan(out[1].numpy()).all() and np.isinf(norm.numpy())
    with pytest.raises(TypeError, match=r"\[clip_by_global_norm\] t_list should be a sequence"):
        nabi.clip_by_global_norm(nabi.constant(a), 1.0)
    with pytest.raises(TypeError, match=r"\[global_norm\] t_list must be a list or tuple"):
        nabi.linalg.global_norm(nabi.constant(a))
    with pytest.raises(ValueError, match=r"\[global_norm\] t_list has no tensors"):
        nabi.linalg.global_norm([None])


# ---------------------------------------------------------------- scatter_nd & co


def ref_scatter(base, indices, updates, mode):
    out = base.copy()
    k = indices.shape[-1]
    for pos in np.ndindex(*indices.shape[:-1]):
        idx = tuple(indices[pos][:k])
        if mode == "update":
            out[idx] = updates[pos]
        elif mode == "sub":
            out[idx] -= updates[pos]
        else:
            out[idx] += updates[pos]
    return out


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_scatter_nd(where, dtype):
    ind = np.array([[0, 1], [2, 3], [0, 1]])             # a duplicate: it adds up
    upd = rand(3, 5, dtype=dtype)
    shape = (3, 4, 5)
    with nabi.device(where):
        y = nabi.scatter_nd(nabi.constant(ind), nabi.constant(upd), shape)
        assert_array(y, ref_scatter(np.zeros(shape, dtype), ind, upd, "add"), dtype=dtype,
                     **tol(dtype))
        on_device(where, y)
        _, (g,), c = tape_grads(lambda u: nabi.scatter_nd(ind, u, shape), [upd.astype(np.float64)])
        assert_array(g, np.stack([c[tuple(i)] for i in ind]))   # gather_nd of the gradient
        ind1 = np.array([[4], [0]])                               # whole-row slices, K = 1
        u1 = rand(2, 3)
        y1 = nabi.scatter_nd(ind1, nabi.constant(u1), nabi.constant(np.array([6, 3])))
        assert_array(y1, ref_scatter(np.zeros((6, 3)), ind1, u1, "add"))
    yi = nabi.scatter_nd([[1], [3], [1]], np.array([9, 10, 11], np.int32), [4])
    assert_array(yi, [0, 20, 0, 10], dtype=np.int32)


@pytest.mark.parametrize("mode", ["update", "add", "sub"])
def test_tensor_scatter_nd(where, mode):
    base = rand(4, 3)
    ind = np.array([[2], [0]])
    upd = rand(2, 3)
    op = getattr(nabi, f"tensor_scatter_nd_{mode}")
    with nabi.device(where):
        y = op(nabi.constant(base), nabi.constant(ind), nabi.constant(upd))
        assert_array(y, ref_scatter(base, ind, upd, mode))
        on_device(where, y)
        fd_check(lambda t, u: op(t, ind, u), [base, upd])
        # element indices (K = rank), float32
        ind2 = np.array([[1, 2], [3, 0]])
        u2 = rand(2, dtype=np.float32)
        y2 = op(nabi.constant(base.astype(np.float32)), ind2, nabi.constant(u2))
        assert_array(y2, ref_scatter(base.astype(np.float32), ind2, u2, mode), dtype=np.float32)
    yi = op(np.arange(4, dtype=np.int32), [[1], [3]], np.array([10, 20], np.int32))
    assert_array(yi, ref_scatter(np.arange(4, dtype=np.int32), np.array([[1], [3]]),
                                 np.array([10, 20], np.int32), mode), dtype=np.int32)


def test_tensor_scatter_nd_update_duplicates_last_wins():
    base = np.zeros((3,))
    y, (gb, gu), c = tape_grads(lambda t, u: nabi.tensor_scatter_nd_update(t, [[1], [1]], u),
                                [base, np.array([5.0, 7.0])])
    assert_array(y, [0.0, 7.0, 0.0])
    assert_array(gb, [c[0], 0.0, c[2]])
    assert_array(gu, [0.0, c[1]])


def test_scatter_errors():
    with pytest.raises(IndexError, match=r"\[scatter_nd\] indices\[1\] = \[5\] does not index "
                                         r"into shape \[4\]"):
        nabi.scatter_nd([[1], [5]], np.ones(2, np.float32), [4])
    with pytest.raises(IndexError, match=r"\[tensor_scatter_nd_add\] indices\[0\] = \[-1\]"):
        nabi.tensor_scatter_nd_add(np.ones(4, np.float32), [[-1]], np.ones(1, np.float32))
    with pytest.raises(ValueError, match=r"\[scatter_nd\] updates must have shape "
                                         r"indices.shape\[:-1\] \+ shape\[K:\] = \(2, 3\), got "
                                         r"\(2,\)"):
        nabi.scatter_nd([[1], [2]], np.ones(2, np.float32), [4, 3])
    with pytest.raises(ValueError, match=r"\[scatter_nd\] indices of shape \(1, 3\) have K=3"):
        nabi.scatter_nd([[1, 1, 1]], np.ones(1, np.float32), [4, 3])
    with pytest.raises(TypeError, match=r"\[tensor_scatter_nd_update\] dtypes differ"):
        nabi.tensor_scatter_nd_update(nabi.constant(np.ones(3)), [[0]],
                                      nabi.constant(np.ones(1, np.float32)))
    with pytest.raises(TypeError, match=r"\[scatter_nd\] indices must be integers"):
        nabi.scatter_nd(np.array([[0.5]]), np.ones(1, np.float32), [2])


# ---------------------------------------------------------------- gather_nd


def ref_gather_nd(params, indices, batch_dims=0):
    out = [params[pos[:batch_dims] + tuple(indices[pos])]
           for pos in np.ndindex(*indices.shape[:-1])]
    return np.array(out).reshape(indices.shape[:-1] +
                                 params.shape[batch_dims + indices.shape[-1]:])


@pytest.mark.parametrize("ind,batch_dims", [
    (np.array([[0, 1], [1, 2]]), 0),
    (np.array([[1], [0], [1]]), 0),
    (np.array([[[1], [0]], [[2], [2]]]), 1),          # (2, 2, 1): batch 2 over params (2, 3, 4)
    (np.array([[1, 3], [0, 0]]), 1),                  # (2, 2): one (row, col) per batch entry
    (np.array([[[0, 3]], [[2, 1]]]), 1),
])
def test_gather_nd(where, ind, batch_dims):
    params = rand(2, 3, 4)
    with nabi.device(where):
        y = nabi.gather_nd(nabi.constant(params), nabi.constant(ind), batch_dims=batch_dims)
        assert_array(y, ref_gather_nd(params, ind, batch_dims))
        on_device(where, y)
        fd_check(lambda t: nabi.gather_nd(t, ind, batch_dims=batch_dims), [params])


def test_gather_nd_errors():
    p = np.zeros((2, 3), np.float32)
    with pytest.raises(IndexError, match=r"\[gather_nd\] an index is out of range: "
                                         r"indices\[0\] = \[0, -1\] does not index into "
                                         r"params of shape \[2, 3\]"):
        nabi.gather_nd(p, [[0, -1]])
    with pytest.raises(IndexError, match=r"\[gather_nd\] an index is out of range: "
                                         r"indices\[1\] = \[2, 0\]"):
        nabi.gather_nd(p, [[1, 0], [2, 0]])
    with pytest.raises(ValueError, match=r"\[gather_nd\] batch_dims=1 needs params \(2, 3\) and "
                                         r"indices \(3, 1\)"):
        nabi.gather_nd(p, [[0], [1], [0]], batch_dims=1)
    with pytest.raises(ValueError, match=r"\[gather_nd\] indices of shape \(1, 3\) have 3 "
                                         r"coordinates"):
        nabi.gather_nd(p, [[0, 0, 0]])


# ---------------------------------------------------------------- sequence_mask


def test_sequence_mask(where):
    lengths = np.array([[1, 3], [0, 2]], np.int32)
    with nabi.device(where):
        m = nabi.sequence_mask(nabi.constant(lengths))
        ref = np.array([[[j < n for j in range(3)] for n in row] for row in lengths])
        assert_array(m, ref, dtype=bool)
        on_device(where, m)
        m5 = nabi.sequence_mask(nabi.constant(lengths), maxlen=5, dtype=nabi.float32)
        ref5 = np.array([[[float(j < n) for j in range(5)] for n in row] for row in lengths])
        assert_array(m5, ref5, dtype=np.float32)
        m2 = nabi.sequence_mask([4, 1], 2)
        assert_array(m2, [[True, True], [True, False]], dtype=bool)
    assert nabi.sequence_mask(np.zeros((0,), np.int32)).shape == (0, 0)
    with pytest.raises(TypeError, match=r"\[sequence_mask\] lengths must be integers"):
        nabi.sequence_mask([1.5, 2.0])
    with pytest.raises(ValueError, match=r"\[sequence_mask\] maxlen must be >= 0, got -1"):
        nabi.sequence_mask([1, 2], maxlen=-1)


# ---------------------------------------------------------------- exports


def test_exported_where_tensorflow_has_them():
    for name in ("einsum", "norm", "clip_by_norm", "clip_by_global_norm", "scatter_nd",
                 "tensor_scatter_nd_update", "tensor_scatter_nd_add", "tensor_scatter_nd_sub",
                 "gather_nd", "sequence_mask", "cumsum"):
        assert callable(getattr(nabi, name)), name
    for name in ("top_k", "in_top_k", "cumprod", "cumsum", "segment_sum", "segment_mean",
                 "segment_max", "unsorted_segment_sum", "count_nonzero"):
        assert callable(getattr(nabi.math, name)), name
    for name in ("norm", "inv", "det", "slogdet", "trace", "diag", "diag_part", "band_part",
                 "global_norm", "einsum"):
        assert callable(getattr(nabi.linalg, name)), name
    for name in ("top_k", "in_top_k"):
        assert callable(getattr(nabi.nn, name)), name
