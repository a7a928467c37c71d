"""TF 2 eager seeding rules for the stateful random ops: an op-level seed makes the sequence of
draws repeatable after tf.random.set_seed, but each call draws new numbers (TF's per-op
counter); Keras 2's seeded initializers repeat their values on every call."""
import numpy as np
import pytest

import nabi as tf
from nabi import keras

OPS = [
    ("normal", lambda s: tf.random.normal((4, 3), seed=s)),
    ("uniform", lambda s: tf.random.uniform((4, 3), seed=s)),
    ("uniform_int", lambda s: tf.random.uniform((4, 3), 0, 1000, dtype=tf.int32, seed=s)),
    ("truncated_normal", lambda s: tf.random.truncated_normal((4, 3), seed=s)),
    ("shuffle", lambda s: tf.random.shuffle(tf.range(50), seed=s)),
    ("categorical", lambda s: tf.random.categorical(tf.zeros((2, 20)), 8, seed=s)),
    ("gamma", lambda s: tf.random.gamma((4,), 2.0, seed=s)),
    ("poisson", lambda s: tf.random.poisson((6,), 30.0, seed=s)),
    ("random_flip", lambda s: tf.image.random_flip_left_right(
        tf.reshape(tf.range(2 * 16 * 2 * 1), (16, 2, 2, 1)), seed=s)),
]


@pytest.mark.parametrize("name,draw", OPS, ids=[o[0] for o in OPS])
def test_op_seed_draws_differ_per_call_and_repeat_after_set_seed(name, draw):
    tf.random.set_seed(11)
    first = [draw(3).numpy() for _ in range(3)]
    assert not np.array_equal(first[0], first[1]) or not np.array_equal(first[1], first[2])
    tf.random.set_seed(11)
    again = [draw(3).numpy() for _ in range(3)]
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    tf.random.set_seed(12)
    assert not all(np.array_equal(a, draw(3).numpy()) for a in first[:1])


@pytest.mark.parametrize("init", [keras.initializers.GlorotUniform, keras.initializers.HeNormal,
                                  keras.initializers.RandomNormal, keras.initializers.RandomUniform,
                                  keras.initializers.TruncatedNormal,
                                  keras.initializers.Orthogonal])
def test_seeded_initializers_repeat_their_values(init):
    i = init(seed=7)
    a, b = i((6, 5)).numpy(), i((6, 5)).numpy()
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(init(seed=7)((6, 5)).numpy(), a)


def test_a_refused_seed_leaves_the_random_state_as_it_was():
    """set_seed validated nothing before storing: a bad seed raised after the global seed was
    already set, leaving the state half-changed (the next draws followed neither seed)."""
    from nabi.ops import random_ops
    tf.random.set_seed(11)
    expect = tf.random.uniform([4]).numpy()
    tf.random.set_seed(11)
    for bad in ("abc", 1.5, [1, 2]):
        with pytest.raises(TypeError, match=r"\[random\.set_seed\] seed must be an integer"):
            tf.random.set_seed(bad)
    assert random_ops._state["seed"] == 11
    np.testing.assert_array_equal(tf.random.uniform([4]).numpy(), expect)
