"""keras.layers.RNN with nested (tuple/list/dict) inputs, states and outputs: the Keras guide
"Working with RNNs", section "RNNs with list/dict inputs, or nested inputs", as a conformance
test, and a state-dependent nested cell against a NumPy reference of the recurrence
(return_sequences, return_state, initial_state, masks, go_backwards, stateful, gradients)."""
import numpy as np
import pytest

import nabi as tf
from nabi import keras
from nabi.framework.device import to_device
from helpers import assert_array


# ------------------------------------------------------------------ the guide's code
class NestedCell(keras.layers.Layer):
    def __init__(self, unit_1, unit_2, unit_3, **kwargs):
        self.unit_1 = unit_1
        self.unit_2 = unit_2
        self.unit_3 = unit_3
        self.state_size = [tf.TensorShape([unit_1]), tf.TensorShape([unit_2, unit_3])]
        self.output_size = [tf.TensorShape([unit_1]), tf.TensorShape([unit_2, unit_3])]
        super(NestedCell, self).__init__(**kwargs)

    def build(self, input_shapes):
        # expect input_shape to contain 2 items, [(batch, i1), (batch, i2, i3)]
        i1 = input_shapes[0][1]
        i2 = input_shapes[1][1]
        i3 = input_shapes[1][2]

        self.kernel_1 = self.add_weight(
            shape=(i1, self.unit_1), initializer="uniform", name="kernel_1"
        )
        self.kernel_2_3 = self.add_weight(
            shape=(i2, i3, self.unit_2, self.unit_3),
            initializer="uniform",
            name="kernel_2_3",
        )

    def call(self, inputs, states):
        # inputs should be in [(batch, input_1), (batch, input_2, input_3)]
        # state should be in shape [(batch, unit_1), (batch, unit_2, unit_3)]
        input_1, input_2 = tf.nest.flatten(inputs)
        s1, s2 = states

        output_1 = tf.matmul(input_1, self.kernel_1)
        output_2_3 = tf.einsum("bij,ijkl->bkl", input_2, self.kernel_2_3)
        state_1 = s1 + output_1
        state_2_3 = s2 + output_2_3

        output = (output_1, output_2_3)
        new_states = (state_1, state_2_3)

        return output, new_states

    def get_config(self):
        return {"unit_1": self.unit_1, "unit_2": self.unit_2, "unit_3": self.unit_3}


def test_guide_nested_cell_functional_model_trains():
    # the guide's code; sizes scaled down (the guide: i2=64, i3=32, 10 batches of 64, 50 steps)
    unit_1, unit_2, unit_3 = 10, 20, 30
    i1, i2, i3 = 32, 8, 4
    batch_size, num_batches, timestep = 16, 2, 6

    cell = NestedCell(unit_1, unit_2, unit_3)
    rnn = keras.layers.RNN(cell)

    input_1 = keras.Input((None, i1))
    input_2 = keras.Input((None, i2, i3))

    outputs = rnn((input_1, input_2))
    assert isinstance(outputs, tuple) and len(outputs) == 2
    assert outputs[0].shape.as_list() == [None, unit_1]
    assert outputs[1].shape.as_list() == [None, unit_2, unit_3]

    model = keras.models.Model([input_1, input_2], outputs)
    model.compile(optimizer="adam", loss="mse", metrics=["accuracy"])

    rng = np.random.default_rng(0)
    input_1_data = rng.random((batch_size * num_batches, timestep, i1))
    input_2_data = rng.random((batch_size * num_batches, timestep, i2, i3))
    target_1_data = rng.random((batch_size * num_batches, unit_1))
    target_2_data = rng.random((batch_size * num_batches, unit_2, unit_3))
    input_data = [input_1_data, input_2_data]
    target_data = [target_1_data, target_2_data]

    # the outputs against NumPy: the cell's outputs are the last step's projections
    k1, k23 = cell.kernel_1.numpy(), cell.kernel_2_3.numpy()
    p1, p2 = model.predict(input_data, verbose=0)
    assert_array(p1, input_1_data[:, -1] @ k1, rtol=1e-4, atol=1e-5)
    assert_array(p2, np.einsum("bij,ijkl->bkl", input_2_data[:, -1], k23), rtol=1e-4,
                 atol=1e-4)

    logs = model.train_on_batch([d[:batch_size] for d in input_data],
                                [d[:batch_size] for d in target_data])
    assert len(logs) == 5 and all(np.isfinite(logs))   # loss, 2 losses, 2 accuracies
    expected_mse = (np.mean((p1[:batch_size] - target_1_data[:batch_size]) ** 2)
                    + np.mean((p2[:batch_size] - target_2_data[:batch_size]) ** 2))
    np.testing.assert_allclose(logs[0], expected_mse, rtol=1e-4)
    assert not np.allclose(cell.kernel_1.numpy(), k1)      # the step trained the cell
    hist = model.fit(input_data, target_data, batch_size=batch_size, verbose=0)
    assert np.isfinite(hist.history["loss"][0])


# ------------------------------------------------------------------ a state-dependent cell
class TanhNestedCell(keras.layers.Layer):
    """h1 = tanh(x1 K1 + s1 R1), h2 = tanh(einsum(x2, K2) + s2 * a); outputs (h1, h2 * 2)."""

    def __init__(self, u1, u2, u3, **kwargs):
        super().__init__(**kwargs)
        self.u1, self.u2, self.u3 = u1, u2, u3
        self.state_size = [tf.TensorShape([u1]), tf.TensorShape([u2, u3])]
        self.output_size = [tf.TensorShape([u1]), tf.TensorShape([u2, u3])]

    def build(self, input_shapes):
        s1, s2 = input_shapes
        self.k1 = self.add_weight(shape=(s1[1], self.u1), initializer="glorot_uniform",
                                  name="k1")
        self.r1 = self.add_weight(shape=(self.u1, self.u1), initializer="orthogonal",
                                  name="r1")
        self.k2 = self.add_weight(shape=(s2[1], s2[2], self.u2, self.u3),
                                  initializer="glorot_uniform", name="k2")
        self.a = self.add_weight(shape=(self.u2, self.u3), initializer="ones", name="a")

    def call(self, inputs, states):
        x1, x2 = inputs
        s1, s2 = states
        h1 = tf.tanh(tf.matmul(x1, self.k1) + tf.matmul(s1, self.r1))
        h2 = tf.tanh(tf.einsum("bij,ijkl->bkl", x2, self.k2) + s2 * self.a)
        return (h1, h2 * 2.0), [h1, h2]


def ref_tanh_nested(w, x1, x2, s1, s2, go_backwards=False, mask=None):
    """NumPy recurrence: returns (per-step outputs (o1, o2) in processed order, final states).
    A masked step keeps the states and repeats the previous output (zeros before any)."""
    k1, r1, k2, a = w
    B, T = x1.shape[:2]
    o1s, o2s = [], []
    prev1 = np.zeros((B, k1.shape[1]))
    prev2 = np.zeros((B,) + a.shape)
    for t in (range(T - 1, -1, -1) if go_backwards else range(T)):
        h1 = np.tanh(x1[:, t] @ k1 + s1 @ r1)
        h2 = np.tanh(np.einsum("bij,ijkl->bkl", x2[:, t], k2) + s2 * a)
        o1, o2 = h1, h2 * 2.0
        if mask is not None:
            m = mask[:, t].astype(float)
            h1 = m[:, None] * h1 + (1 - m[:, None]) * s1
            h2 = m[:, None, None] * h2 + (1 - m[:, None, None]) * s2
            o1 = m[:, None] * o1 + (1 - m[:, None]) * prev1
            o2 = m[:, None, None] * o2 + (1 - m[:, None, None]) * prev2
        s1, s2 = h1, h2
        prev1, prev2 = o1, o2
        o1s.append(o1)
        o2s.append(o2)
    return (np.stack(o1s, 1), np.stack(o2s, 1)), (s1, s2)


def data(B=3, T=5, d1=4, i2=3, i3=2, u1=5, u2=2, u3=3, seed=0):
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=(B, T, d1)).astype("float32")
    x2 = rng.normal(size=(B, T, i2, i3)).astype("float32")
    s1 = (rng.normal(size=(B, u1)) * 0.5).astype("float32")
    s2 = (rng.normal(size=(B, u2, u3)) * 0.5).astype("float32")
    return x1, x2, s1, s2


def weights(cell):
    return [v.numpy().astype(np.float64) for v in (cell.k1, cell.r1, cell.k2, cell.a)]


@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_eager_outputs_and_states_vs_numpy(return_sequences, go_backwards):
    x1, x2, s1, s2 = data()
    cell = TanhNestedCell(5, 2, 3)
    rnn = keras.layers.RNN(cell, return_sequences=return_sequences, return_state=True,
                           go_backwards=go_backwards)
    out = rnn((x1, x2))
    assert isinstance(out, list) and len(out) == 3
    (o1, o2), f1, f2 = out[0], out[1], out[2]
    (r1, r2), (rf1, rf2) = ref_tanh_nested(weights(cell), x1, x2, np.zeros((3, 5)),
                                           np.zeros((3, 2, 3)), go_backwards)
    if not return_sequences:
        r1, r2 = r1[:, -1], r2[:, -1]
    assert_array(o1, r1, dtype="float32")
    assert_array(o2, r2, dtype="float32")
    assert_array(f1, rf1)
    assert_array(f2, rf2)


def test_initial_state_eager_and_functional():
    x1, x2, s1, s2 = data(seed=1)
    cell = TanhNestedCell(5, 2, 3)
    rnn = keras.layers.RNN(cell, return_sequences=True)
    o1, o2 = rnn((x1, x2), initial_state=[s1, s2])
    (r1, r2), _ = ref_tanh_nested(weights(cell), x1, x2, s1.astype(float), s2.astype(float))
    assert_array(o1, r1)
    assert_array(o2, r2)
    # functional: sequences and states as Inputs
    i1, i2 = keras.Input((None, 4)), keras.Input((None, 3, 2))
    h1, h2 = keras.Input((5,)), keras.Input((2, 3))
    y = rnn((i1, i2), initial_state=[h1, h2])
    assert [t.shape.as_list() for t in y] == [[None, None, 5], [None, None, 2, 3]]
    model = keras.Model([i1, i2, h1, h2], list(y))
    p1, p2 = model.predict([x1, x2, s1, s2], verbose=0)
    assert_array(p1, r1)
    assert_array(p2, r2)


def test_mask_keeps_states_and_repeats_outputs():
    x1, x2, s1, s2 = data(B=4, T=6, seed=2)
    mask = np.array([[1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0], [0, 1, 0, 1, 1, 0],
                     [1, 0, 0, 0, 0, 0]], bool)
    for go_backwards in (False, True):
        cell = TanhNestedCell(5, 2, 3)
        rnn = keras.layers.RNN(cell, return_sequences=True, return_state=True,
                               go_backwards=go_backwards)
        (o1, o2), f1, f2 = rnn((x1, x2), initial_state=[s1, s2], mask=tf.constant(mask))
        (r1, r2), (rf1, rf2) = ref_tanh_nested(weights(cell), x1, x2, s1.astype(float),
                                               s2.astype(float), go_backwards, mask)
        assert_array(o1, r1)
        assert_array(o2, r2)
        assert_array(f1, rf1)
        assert_array(f2, rf2)


def test_mask_from_a_masking_layer_in_a_functional_model():
    x1, x2, _, _ = data(B=2, T=4, seed=3)
    x1[1, 2:] = 0.0   # padded steps of sample 1 (Masking on input 1)
    cell = TanhNestedCell(5, 2, 3)
    i1, i2 = keras.Input((4, 4)), keras.Input((4, 3, 2))
    m1 = keras.layers.Masking(0.0)(i1)
    y = keras.layers.RNN(cell)((m1, i2))
    model = keras.Model([i1, i2], list(y))
    p1, p2 = model.predict([x1, x2], verbose=0)
    mask = np.array([[1, 1, 1, 1], [1, 1, 0, 0]], bool)
    (r1, r2), _ = ref_tanh_nested(weights(cell), x1, x2, np.zeros((2, 5)),
                                  np.zeros((2, 2, 3)), mask=mask)
    assert_array(p1, r1[:, -1])
    assert_array(p2, r2[:, -1])


def test_dict_inputs_and_states():
    class DictCell(keras.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.state_size = {"h": 3, "m": tf.TensorShape([2, 2])}
            self.output_size = 3

        def build(self, shapes):
            self.k = self.add_weight(shape=(shapes["a"][-1], 3), initializer="ones", name="k")

        def call(self, inputs, states):
            h = states["h"] + tf.matmul(inputs["a"], self.k)
            m = states["m"] + tf.reduce_sum(inputs["b"], axis=1, keepdims=True)[:, :, None]
            return h * 1.0, {"h": h, "m": m}

    rng = np.random.default_rng(4)
    a = rng.normal(size=(2, 3, 4)).astype("float32")
    b = rng.normal(size=(2, 3, 5)).astype("float32")
    rnn = keras.layers.RNN(DictCell(), return_state=True)
    out, h, m = rnn({"a": a, "b": b})
    assert_array(out, a.sum(1) @ np.ones((4, 3)))
    assert_array(h, a.sum(1) @ np.ones((4, 3)))
    assert_array(m, np.broadcast_to(b.sum((1, 2))[:, None, None], (2, 2, 2)))


def test_gradients_float64_central_differences():
    x1, x2, s1, s2 = [v.astype(np.float64) for v in data(B=2, T=3, seed=5)]
    cell = TanhNestedCell(5, 2, 3, dtype="float64")
    rnn = keras.layers.RNN(cell, return_sequences=True, dtype="float64")
    rnn((x1, x2))
    rng = np.random.default_rng(6)
    c1, c2 = rng.normal(size=(2, 3, 5)), rng.normal(size=(2, 3, 2, 3))

    def loss_np(w):
        (r1, r2), _ = ref_tanh_nested(w, x1, x2, np.zeros((2, 5)), np.zeros((2, 2, 3)))
        return np.sum(r1 * c1) + np.sum(r2 * c2)

    xs1, xs2 = tf.constant(x1), tf.constant(x2)
    with tf.GradientTape() as tape:
        tape.watch(xs2)
        o1, o2 = rnn((xs1, xs2))
        loss = tf.reduce_sum(o1 * c1) + tf.reduce_sum(o2 * c2)
    vars_ = [cell.k1, cell.r1, cell.k2, cell.a]
    grads = tape.gradient(loss, vars_ + [xs2])
    np.testing.assert_allclose(loss.numpy(), loss_np(weights(cell)), rtol=1e-10)
    w = weights(cell)
    eps = 1e-6
    for i, g in enumerate(grads[:4]):
        num = np.zeros_like(w[i])
        for idx in np.ndindex(w[i].shape):
            wp = [v.copy() for v in w]
            wm = [v.copy() for v in w]
            wp[i][idx] += eps
            wm[i][idx] -= eps
            num[idx] = (loss_np(wp) - loss_np(wm)) / (2 * eps)
        np.testing.assert_allclose(g.numpy(), num, rtol=1e-5, atol=1e-7)
    assert grads[4].shape == x2.shape


def test_stateful_nested_carry_over_equals_one_long_sequence():
    x1, x2, _, _ = data(B=2, T=6, seed=7)
    cell = TanhNestedCell(5, 2, 3)
    rnn = keras.layers.RNN(cell, stateful=True, return_sequences=True)
    a1, a2 = rnn((x1[:, :3], x2[:, :3]))
    b1, b2 = rnn((x1[:, 3:], x2[:, 3:]))
    (r1, r2), (f1, f2) = ref_tanh_nested(weights(cell), x1, x2, np.zeros((2, 5)),
                                         np.zeros((2, 2, 3)))
    assert_array(np.concatenate([a1.numpy(), b1.numpy()], 1), r1)
    assert_array(np.concatenate([a2.numpy(), b2.numpy()], 1), r2)
    assert [s.shape for s in rnn.states] == [(2, 5), (2, 2, 3)]
    assert_array(to_device(rnn.states[1], "cpu"), f2)
    rnn.reset_states()
    assert all(not to_device(s, "cpu").any() for s in rnn.states)
    c1, _ = rnn((x1[:, :3], x2[:, :3]))
    assert_array(c1, a1)


def test_list_input_is_still_x_then_initial_states():
    # Keras 2: a list [x, *states] whose tail matches the cell's states is x + initial states
    rng = np.random.default_rng(8)
    x = rng.normal(size=(2, 3, 4)).astype("float32")
    h0 = rng.normal(size=(2, 5)).astype("float32")
    rnn = keras.layers.RNN(keras.layers.SimpleRNNCell(5))
    y_list = rnn([x, h0])
    y_kw = rnn(x, initial_state=[h0])
    assert_array(y_list, y_kw.numpy())
    k, r, b = [w.numpy() for w in rnn.cell.weights]
    h = h0.astype(float)
    for t in range(3):
        h = np.tanh(x[:, t] @ k + h @ r + b)
    assert_array(y_list, h)


def test_nested_errors_name_the_layer_and_shapes():
    x1, x2, s1, s2 = data()
    rnn = keras.layers.RNN(TanhNestedCell(5, 2, 3), name="nested_rnn")
    with pytest.raises(ValueError, match=r"\[nested_rnn\] the nested inputs must share batch "
                                         r"and time .*\(3, 5, 4\), \(3, 4, 3, 2\)"):
        rnn((x1, x2[:, :4]))
    with pytest.raises(ValueError, match=r"\[nested_rnn\] the initial states must have shapes "
                                         r"\[\(None, 5\), \(None, 2, 3\)\].*got \[\(3, 4\)"):
        rnn((x1, x2), initial_state=[s1[:, :4], s2])
    with pytest.raises(ValueError, match=r"\[nested_rnn\] expected 2 initial state"):
        rnn((x1, x2), initial_state=[s1])
    with pytest.raises(ValueError, match=r"\[nested_rnn\] expected input of shape "
                                         r"\(batch, time, features, \.\.\.\), got \(3, 4\)"):
        rnn((x1[:, 0], x2))

    class BadCell(keras.layers.Layer):
        state_size = [3, 3]

        def call(self, inputs, states):
            return inputs, [states[0]]
    with pytest.raises(ValueError, match=r"returned 1 state\(s\), but its state_size "
                                         r"describes 2"):
        keras.layers.RNN(BadCell(), name="bad")(np.zeros((2, 3, 3), "float32"))


def test_nested_sequence_outputs_carry_the_mask():
    x1, x2, _, _ = data(B=2, T=4, seed=9)
    mask = np.array([[1, 1, 0, 0], [1, 1, 1, 1]], bool)
    rnn = keras.layers.RNN(TanhNestedCell(5, 2, 3), return_sequences=True)
    o1, o2 = rnn((x1, x2), mask=tf.constant(mask))
    for o in (o1, o2):
        m = o._keras_mask
        np.testing.assert_array_equal(m.numpy(), mask)
