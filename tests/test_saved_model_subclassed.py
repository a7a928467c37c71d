"""tf.saved_model.save / load and model.save(dir) of objects without get_config: subclassed
Keras models (the text generation tutorial's OneStep holding a model and two StringLookups,
with a @tf.function generate_one_step) and tf.Module subclasses. nabi stores the class's import
path, the constructor arguments and the variables, and rebuilds the object from its class
(TensorFlow restores without the class; nabi needs it importable at load time)."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import nabi as tf
from nabi.keras.saving import subclassed
from helpers import assert_array


# ------------------------------------------------------------------ the tutorial's classes
class MyModel(tf.keras.Model):
    def __init__(self, vocab_size, embedding_dim, rnn_units):
        super().__init__(self)
        self.embedding = tf.keras.layers.Embedding(vocab_size, embedding_dim)
        self.gru = tf.keras.layers.GRU(rnn_units, return_sequences=True, return_state=True)
        self.dense = tf.keras.layers.Dense(vocab_size)

    def call(self, inputs, states=None, return_state=False, training=False):
        x = inputs
        x = self.embedding(x, training=training)
        if states is None:
            states = self.gru.get_initial_state(x)
        x, states = self.gru(x, initial_state=states, training=training)
        x = self.dense(x, training=training)
        if return_state:
            return x, states
        else:
            return x


class OneStep(tf.keras.Model):
    def __init__(self, model, chars_from_ids, ids_from_chars, temperature=1.0):
        super().__init__()
        self.temperature = temperature
        self.model = model
        self.chars_from_ids = chars_from_ids
        self.ids_from_chars = ids_from_chars

        # Create a mask to prevent "[UNK]" from being generated.
        skip_ids = self.ids_from_chars(['[UNK]'])[:, None]
        sparse_mask = tf.SparseTensor(
            # Put a -inf at each bad index.
            values=[-float('inf')] * len(skip_ids),
            indices=skip_ids,
            # Match the shape to the vocabulary
            dense_shape=[len(ids_from_chars.get_vocabulary())])
        self.prediction_mask = tf.sparse.to_dense(sparse_mask)

    @tf.function
    def generate_one_step(self, inputs, states=None):
        # Convert strings to token IDs.
        input_chars = tf.strings.unicode_split(inputs, 'UTF-8')
        input_ids = self.ids_from_chars(input_chars).to_tensor()

        # Run the model.
        # predicted_logits.shape is [batch, char, next_char_logits]
        predicted_logits, states = self.model(inputs=input_ids, states=states,
                                              return_state=True)
        # Only use the last prediction.
        predicted_logits = predicted_logits[:, -1, :]
        predicted_logits = predicted_logits / self.temperature
        # Apply the prediction mask: prevent "[UNK]" from being generated.
        predicted_logits = predicted_logits + self.prediction_mask

        # Sample the output logits to generate token IDs.
        predicted_ids = tf.random.categorical(predicted_logits, num_samples=1)
        predicted_ids = tf.squeeze(predicted_ids, axis=-1)

        # Convert from token IDs to characters
        predicted_chars = self.chars_from_ids(predicted_ids)

        # Return the characters and model state.
        return predicted_chars, states


class MyModelKeepsArgs(MyModel):
    """The tutorial's model, keeping its constructor arguments as attributes: nabi finds them
    without a recorded construction."""

    def __init__(self, vocab_size, embedding_dim, rnn_units):
        super().__init__(vocab_size, embedding_dim, rnn_units)
        self.vocab_size, self.embedding_dim, self.rnn_units = vocab_size, embedding_dim, rnn_units


def _hook_present():
    return subclassed._INIT_ARGS.get(MyModel(3, 2, 2)) is not None


def test_model_base_records_constructor_arguments():
    assert _hook_present()


def _vocab_and_lookups():
    text = "hello world. " * 20
    vocab = sorted(set(text))
    ids_from_chars = tf.keras.layers.StringLookup(vocabulary=list(vocab), mask_token=None)
    chars_from_ids = tf.keras.layers.StringLookup(
        vocabulary=ids_from_chars.get_vocabulary(), invert=True, mask_token=None)
    ids = ids_from_chars(tf.strings.unicode_split(text, "UTF-8")).numpy()
    return vocab, ids_from_chars, chars_from_ids, ids


def _trained_one_step(model_cls):
    tf.random.set_seed(0)
    vocab, ids_from_chars, chars_from_ids, ids = _vocab_and_lookups()
    vocab_size = len(ids_from_chars.get_vocabulary())
    model = model_cls(vocab_size=vocab_size, embedding_dim=8, rnn_units=16)
    x = np.stack([ids[i:i + 12] for i in range(0, 120, 12)])
    y = np.stack([ids[i + 1:i + 13] for i in range(0, 120, 12)])
    model.compile(optimizer=tf.keras.optimizers.Adam(0.02),
                  loss=tf.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, epochs=3, verbose=0)
    return OneStep(model, chars_from_ids, ids_from_chars, temperature=0.5), x


def _generate(one_step, n=8):
    tf.random.set_seed(7)
    states = None
    next_char = tf.constant(["hello", "hello world"])
    result = [next_char]
    for _ in range(n):
        next_char, states = one_step.generate_one_step(next_char, states=states)
        result.append(next_char)
    return tf.strings.join(result).numpy().tolist(), states


def _check_round_trip(one_step, loaded, x):
    assert type(loaded) is OneStep and type(loaded.model) is type(one_step.model)
    assert loaded.temperature == 0.5
    assert loaded.ids_from_chars.get_vocabulary() == one_step.ids_from_chars.get_vocabulary()
    assert loaded.chars_from_ids.invert
    assert_array(loaded.prediction_mask, one_step.prediction_mask.numpy())
    # the trained weights came back: the same logits on the same ids
    assert_array(loaded.model(x), one_step.model(x).numpy(), rtol=1e-5, atol=1e-6)
    for a, b in zip(loaded.model.weights, one_step.model.weights):
        assert_array(a, b.numpy(), rtol=0, atol=0)
    text, states = _generate(loaded)
    ref_text, ref_states = _generate(one_step)
    assert text == ref_text
    assert_array(states, ref_states.numpy(), rtol=1e-5, atol=1e-6)


def test_tutorial_one_step_saved_model_round_trip(tmp_path):
    one_step_model, x = _trained_one_step(MyModel)
    path = str(tmp_path / "one_step")
    tf.saved_model.save(one_step_model, path)
    assert tf.saved_model.contains_saved_model(path)
    one_step_reloaded = tf.saved_model.load(path)
    _check_round_trip(one_step_model, one_step_reloaded, x)


def test_attributes_stand_in_for_a_recorded_construction(tmp_path):
    # no recording: OneStep's and the model's arguments are attributes of the same name
    one_step_model, x = _trained_one_step(MyModelKeepsArgs)
    subclassed._INIT_ARGS.pop(one_step_model, None)
    subclassed._INIT_ARGS.pop(one_step_model.model, None)
    path = str(tmp_path / "one_step")
    tf.saved_model.save(one_step_model, path)
    _check_round_trip(one_step_model, tf.saved_model.load(path), x)


def test_arguments_neither_recorded_nor_attributes_raise_a_clear_error(tmp_path):
    one_step_model, _ = _trained_one_step(MyModel)
    subclassed._INIT_ARGS.pop(one_step_model, None)
    subclassed._INIT_ARGS.pop(one_step_model.model, None)
    path = str(tmp_path / "one_step")
    with pytest.warns(UserWarning, match=r"OneStep has no get_config and argument 'model' "
                                         r"\(MyModel\).*'vocab_size', 'embedding_dim', "
                                         r"'rnn_units' were not recorded"):
        tf.saved_model.save(one_step_model, path)
    with pytest.raises(ValueError, match=r"cannot restore test_saved_model_subclassed.OneStep"
                                         r".*'vocab_size'.*TensorFlow restores a SavedModel "
                                         r"without the Python class"):
        tf.saved_model.load(path)


# ------------------------------------------------------------------ model.save(dir)
class Regressor(tf.keras.Model):
    def __init__(self, units, activation="relu", scale=np.float32(2.0), name=None):
        super().__init__(name=name)
        self.units = units
        self.activation = activation
        self.scale = scale
        self.hidden = tf.keras.layers.Dense(units, activation=activation)
        self.out = tf.keras.layers.Dense(1)

    def call(self, x):
        return self.out(self.hidden(x)) * self.scale


def test_model_save_dir_and_load_model_resume_training(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 3)).astype("float32")
    y = (x @ np.array([[1.0], [-2.0], [0.5]])).astype("float32")
    m = Regressor(4, activation="tanh", name="reg")
    m.compile(optimizer="adam", loss="mse")
    m.fit(x, y, epochs=2, batch_size=8, verbose=0)
    path = str(tmp_path / "reg")
    m.save(path)
    loaded = tf.keras.models.load_model(path)
    assert type(loaded) is Regressor and loaded.name == "reg"
    assert loaded.units == 4 and loaded.activation == "tanh"
    # the layer weights come back (at once when the model was built, else on the first call)
    h = np.tanh(x @ m.hidden.kernel.numpy() + m.hidden.bias.numpy())
    ref = (h @ m.out.kernel.numpy() + m.out.bias.numpy()) * 2.0
    assert_array(loaded.predict(x, verbose=0), ref, rtol=1e-5, atol=1e-5)
    # compiled, with the optimizer state: one more step matches the original's
    assert int(loaded.optimizer.iterations.numpy()) == int(m.optimizer.iterations.numpy())
    m.train_on_batch(x, y)
    loaded.train_on_batch(x, y)
    assert_array(loaded.hidden.kernel, m.hidden.kernel.numpy(), rtol=1e-5, atol=1e-6)
    # a .keras file of it too, and load_weights from it
    m.save(str(tmp_path / "reg.keras"))
    again = tf.keras.models.load_model(str(tmp_path / "reg.keras"))
    assert_array(again.predict(x, verbose=0), m.predict(x, verbose=0), rtol=1e-6, atol=1e-6)
    fresh = Regressor(4, activation="tanh")
    fresh(x[:1])
    fresh.load_weights(str(tmp_path / "reg.keras"))
    assert_array(fresh.out.kernel, m.out.kernel.numpy(), rtol=0, atol=0)


class Pair(tf.keras.Model):
    """Arguments of every stored kind; `left` and `right` may be one shared layer."""

    def __init__(self, left, right, table, options, dtype_arg, shape=(2, 3)):
        super().__init__()
        self.left, self.right = left, right
        self.table, self.options, self.dtype_arg, self.shape = table, options, dtype_arg, shape

    def call(self, x):
        return self.left(x) + self.right(x)


def test_argument_kinds_and_shared_objects(tmp_path):
    shared = tf.keras.layers.Dense(2)
    table = np.arange(6, dtype=np.int32).reshape(2, 3)
    m = Pair(shared, shared, table, {"words": ("a", "b"), "n": [1, 2.5, None, True]},
             tf.float64)
    x = np.ones((1, 4), "float32")
    m(x)
    path = str(tmp_path / "pair")
    tf.saved_model.save(m, path)
    loaded = tf.saved_model.load(path)
    assert loaded.left is loaded.right                       # still one layer
    assert_array(loaded.table, table, dtype="int32")
    assert loaded.options == {"words": ("a", "b"), "n": [1, 2.5, None, True]}
    assert loaded.dtype_arg == tf.float64 and loaded.shape == (2, 3)
    assert_array(loaded(x), m(x).numpy(), rtol=0, atol=0)


def test_unstorable_argument_warns_then_load_says_why(tmp_path):
    m = Pair(tf.keras.layers.Dense(2), tf.keras.layers.Dense(2), lambda v: v, {}, None)
    with pytest.warns(UserWarning, match=r"Pair has no get_config and argument 'table' is a "
                                         r"builtins.function, which nabi cannot store"):
        m.save(str(tmp_path / "pair"))
    with pytest.raises(ValueError, match=r"\[load_model\] cannot restore "
                                         r"test_saved_model_subclassed.Pair .*'table' is a "
                                         r"builtins.function"):
        tf.keras.models.load_model(str(tmp_path / "pair"))


def test_class_defined_in_a_function_needs_custom_objects(tmp_path):
    class Local(tf.keras.Model):
        def __init__(self, units):
            super().__init__()
            self.units = units
            self.d = tf.keras.layers.Dense(units)

        def call(self, x):
            return self.d(x)

    m = Local(3)
    x = np.ones((2, 4), "float32")
    m(x)
    path = str(tmp_path / "local")
    tf.saved_model.save(m, path)
    with pytest.raises(ValueError, match=r"cannot restore .*<locals>.Local: the class was "
                                         r"defined inside a function.*custom_objects="):
        tf.saved_model.load(path)
    with tf.keras.utils.custom_object_scope({"Local": Local}):
        loaded = tf.saved_model.load(path)
    assert type(loaded) is Local
    assert_array(loaded(x), m(x).numpy(), rtol=0, atol=0)


class Scaler(tf.Module):
    def __init__(self, n, name=None):
        super().__init__(name=name)
        self.n = n
        self.w = tf.Variable(np.zeros(n, np.float32))

    @tf.function
    def __call__(self, x):
        return x * self.w


def test_tf_module_subclass(tmp_path):
    s = Scaler(3)
    s.w.assign(np.array([1.0, -2.0, 3.0], np.float32))
    path = str(tmp_path / "scaler")
    tf.saved_model.save(s, path)
    loaded = tf.saved_model.load(path)
    assert type(loaded) is Scaler
    assert_array(loaded(tf.constant([1.0, 1.0, 2.0])), [1.0, -2.0, 6.0])
    with pytest.raises(NotImplementedError, match=r"\[saved_model.save\].*bare Module"):
        tf.saved_model.save(tf.Module(), str(tmp_path / "bare"))


def _run(code, cwd):
    env = dict(os.environ)
    py = os.path.dirname(os.path.dirname(os.path.abspath(tf.__file__)))  # the nabi under test
    env["PYTHONPATH"] = os.pathsep.join(p for p in (py, env.get("PYTHONPATH")) if p)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def test_class_in_main_loads_in_the_same_program_only(tmp_path):
    code = """
        import numpy as np
        import nabi as tf

        class InMain(tf.keras.Model):
            def __init__(self, units):
                super().__init__()
                self.units = units
                self.d = tf.keras.layers.Dense(units)

            def call(self, x):
                return self.d(x)

        m = InMain(2)
        x = np.ones((1, 3), "float32")
        m(x)
        tf.saved_model.save(m, "in_main")
        loaded = tf.saved_model.load("in_main")
        assert type(loaded) is InMain
        np.testing.assert_array_equal(loaded(x).numpy(), m(x).numpy())
        print("ok")
    """
    r = _run(code, tmp_path)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr
    r = _run("import nabi as tf; tf.saved_model.load('in_main')", tmp_path)
    assert r.returncode != 0
    assert "cannot restore __main__.InMain: the running program's __main__ has no class " \
           "'InMain'" in r.stderr
