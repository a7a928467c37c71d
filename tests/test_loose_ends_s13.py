"""tf.compat.v1.scatter_nd_update / scatter_nd_add / scatter_nd_sub on Variables (TF 1.x: the
ref is updated in place and returned; duplicate indices add up for _add / _sub; use_locking is
ignored), on graph Variables run in a Session and on eager Variables, vs a NumPy reference."""
import numpy as np
import pytest

import nabi as tf

v1 = tf.compat.v1


def _ref(kind, x, idx, upd):
    out = np.array(x, copy=True)
    for i, u in zip(np.asarray(idx).reshape(-1, np.shape(idx)[-1]),
                    np.asarray(upd).reshape((-1,) + out.shape[np.shape(idx)[-1]:])):
        if kind == "update":
            out[tuple(i)] = u
        elif kind == "add":
            out[tuple(i)] += u
        else:
            out[tuple(i)] -= u
    return out


CASES = [
    # (kind, indices, updates): rows, elements, duplicates for add/sub
    ("update", [[1], [3]], [[10., 11.], [30., 31.]]),
    ("update", [[0, 1], [2, 0]], [10., 20.]),
    ("add", [[1], [1], [3]], [[1., 1.], [2., 2.], [5., 5.]]),
    ("add", [[0, 1], [0, 1], [3, 0]], [1., 2., 4.]),
    ("sub", [[0, 1], [0, 1]], [1., 2.]),
    ("sub", [[[2]], [[2]]], [[[1., 3.]], [[2., 4.]]]),
]
FN = {"update": "scatter_nd_update", "add": "scatter_nd_add", "sub": "scatter_nd_sub"}


@pytest.mark.parametrize("kind,idx,upd", CASES)
def test_graph_variable(kind, idx, upd):
    x0 = np.arange(8.0, dtype=np.float32).reshape(4, 2)
    g = v1.Graph()
    with g.as_default():
        v = v1.Variable(x0)
        op = getattr(v1, FN[kind])(v, np.array(idx, np.int32), np.array(upd, np.float32),
                                   use_locking=True)
        with v1.Session() as s:
            s.run(v1.global_variables_initializer())
            got = s.run(op)
            want = _ref(kind, x0, idx, upd)
            np.testing.assert_allclose(got, want)
            np.testing.assert_allclose(s.run(v), want)      # the variable itself changed
            got2 = s.run(op)                                 # runs again on the new value
            np.testing.assert_allclose(got2, _ref(kind, want, idx, upd))


@pytest.mark.parametrize("kind,idx,upd", CASES)
def test_eager_variable(kind, idx, upd):
    x0 = np.arange(8.0).reshape(4, 2)
    v = tf.Variable(x0)
    r = getattr(v1, FN[kind])(v, idx, upd)
    want = _ref(kind, x0, idx, upd)
    np.testing.assert_allclose(np.asarray(r), want)
    np.testing.assert_allclose(v.numpy(), want)


def test_duplicate_update_with_equal_values():
    # TF leaves the order of duplicate updates undefined; equal values are well defined
    v = tf.Variable(np.zeros(3, np.float32))
    v1.scatter_nd_update(v, [[1], [1]], [7., 7.])
    np.testing.assert_allclose(v.numpy(), [0., 7., 0.])


def test_bad_index_and_ref():
    v = tf.Variable(np.zeros((4, 2), np.float32))
    with pytest.raises(Exception, match="scatter_nd"):
        v1.scatter_nd_update(v, [[5]], [[1., 1.]])
    g = v1.Graph()
    with g.as_default():
        with pytest.raises(TypeError, match="scatter_nd_add"):
            v1.scatter_nd_add(v1.constant([1., 2.]), [[0]], [1.])
