"""Keras preprocessing layers where nabi silently differed from Keras 3.15 (found by running the
same code on nabi and on Keras 3.15 / TF 2.21). Expected values come from plain NumPy/Python
references written here, never from Keras or nabi."""
import numpy as np

from nabi.keras import layers

from helpers import assert_array


def _digitize_ref(x, bounds):
    """Bin index = number of boundaries <= value (bins are [b_i, b_{i+1}))."""
    return np.array([[sum(1 for b in bounds if b <= v) for v in row] for row in x])


def test_discretization_int_output_is_int32_whatever_dtype():
    # Keras 3.15: Discretization.output_dtype is "int32" for output_mode="int" (dtype only sets
    # the encoded modes' dtype); nabi gave int64 (Keras 2) and refused a float dtype.
    x = np.array([[-1.5, 0.0, 0.5, 1.0], [2.5, 3.0, -0.2, 0.99]], np.float32)
    b = [0.0, 1.0, 2.0]
    ref = _digitize_ref(x, b)
    assert_array(layers.Discretization(bin_boundaries=b)(x), ref, dtype="int32")
    assert_array(layers.Discretization(bin_boundaries=b, dtype="int64")(x), ref, dtype="int32")
    assert_array(layers.Discretization(bin_boundaries=b, dtype="float32")(x), ref,
                 dtype="int32")
    d = layers.Discretization(num_bins=4)
    d.adapt(np.arange(8, dtype=np.float32))
    assert_array(d(x), _digitize_ref(x, d.bin_boundaries), dtype="int32")
    # the encoded modes keep the layer's float dtype
    onehot = np.eye(4, dtype=np.float32)[ref[0]]
    assert_array(layers.Discretization(bin_boundaries=b, output_mode="one_hot")(x[0]), onehot,
                 dtype="float32")
