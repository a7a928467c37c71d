"""The code of "Deep Learning with Python" (2nd ed., F. Chollet) notebooks, chapters 2-5, as it
runs with only the import lines changed (`import nabi as tf`, `from nabi import keras`,
`from nabi.keras import layers`). Downloads are replaced by tiny synthetic data of the same form
(IMDB / Reuters: random int sequences, Boston housing: a 13-feature regression) and a few hundred
local MNIST digits (NABI_DATASETS); epochs and layer widths are smaller. Numbers are checked
against NumPy where that is cheap, otherwise shapes, dtypes and a falling loss."""
import copy
import math
import os

import numpy as np
import pytest

import nabi as tf
from nabi import keras
from nabi.keras import layers

_MNIST_DIR = os.path.join(os.environ.get("NABI_DATASETS", ""), "mnist")
needs_mnist = pytest.mark.skipif(
    not (os.environ.get("NABI_DATASETS") and os.path.isdir(_MNIST_DIR)),
    reason="MNIST is not available locally: set NABI_DATASETS to a directory with mnist/")


def pyplot():
    """matplotlib.pyplot on the Agg backend, or None where matplotlib is not installed (it is
    an optional extra): the notebooks' plotting is then left out."""
    try:
        import matplotlib
    except ImportError:
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


@pytest.fixture(autouse=True)
def _seeded():
    """The notebooks' randomness (initializers, shuffling, dropout, sampling) made repeatable."""
    keras.utils.set_random_seed(1234)


@pytest.fixture(scope="module")
def mnist_small():
    """A few hundred MNIST digits: ((train_images, train_labels), (test_images, test_labels))."""
    from nabi.keras.datasets import mnist
    (train_images, train_labels), (test_images, test_labels) = mnist.load_data()
    return (train_images[:512], train_labels[:512]), (test_images[:128], test_labels[:128])


# ----------------------------------------------------------------------------- chapter 2

@needs_mnist
def test_ch02_first_network(mnist_small, capsys):
    (train_images, train_labels), (test_images, test_labels) = mnist_small
    assert train_images.shape == (512, 28, 28) and train_images.dtype == np.uint8
    model = keras.Sequential([
        layers.Dense(64, activation="relu"),
        layers.Dense(10, activation="softmax")
    ])
    model.compile(optimizer="rmsprop",
                  loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    train_images = train_images.reshape((512, 28 * 28))
    train_images = train_images.astype("float32") / 255
    test_images = test_images.reshape((128, 28 * 28))
    test_images = test_images.astype("float32") / 255
    history = model.fit(train_images, train_labels, epochs=3, batch_size=128)
    assert history.history["loss"][-1] < history.history["loss"][0]
    out = capsys.readouterr().out
    assert "Epoch 3/3" in out and "accuracy" in out
    test_digits = test_images[0:10]
    predictions = model.predict(test_digits, verbose=0)
    assert predictions.shape == (10, 10)
    np.testing.assert_allclose(predictions.sum(axis=1), 1.0, rtol=1e-5)
    assert 0 <= predictions[0].argmax() < 10
    test_loss, test_acc = model.evaluate(test_images, test_labels, verbose=0)
    assert test_acc > 0.5
    # The Dense forward pass against NumPy.
    w1, b1, w2, b2 = [w.numpy() for w in model.weights]
    h = np.maximum(test_digits @ w1 + b1, 0) @ w2 + b2
    e = np.exp(h - h.max(axis=1, keepdims=True))
    np.testing.assert_allclose(predictions, e / e.sum(axis=1, keepdims=True), rtol=1e-4, atol=1e-6)


def test_ch02_tensors_and_naive_ops():
    x = np.array(12)
    assert x.ndim == 0
    def naive_relu(x):
        assert len(x.shape) == 2
        x = x.copy()
        for i in range(x.shape[0]):
            for j in range(x.shape[1]):
                x[i, j] = max(x[i, j], 0)
        return x

    def naive_add(x, y):
        assert len(x.shape) == 2
        assert x.shape == y.shape
        x = x.copy()
        for i in range(x.shape[0]):
            for j in range(x.shape[1]):
                x[i, j] += y[i, j]
        return x

    x = np.random.random((4, 5)) - 0.5
    y = np.random.random((4, 5))
    z = tf.nn.relu(tf.constant(x) + tf.constant(y))
    np.testing.assert_allclose(z.numpy(), naive_relu(naive_add(x, y)))
    x = np.random.random((64, 3, 32, 10))
    y = np.random.random((32, 10))
    z = tf.maximum(x, y)
    assert z.shape == (64, 3, 32, 10)
    np.testing.assert_allclose(z.numpy(), np.maximum(x, y))
    x = np.random.random((32,))
    y = np.random.random((32,))
    z = tf.tensordot(x, y, axes=1)
    np.testing.assert_allclose(float(z), np.dot(x, y))
    train_images = tf.zeros((60, 28, 28))
    my_slice = train_images[10:20, 7:-7, 7:-7]
    assert my_slice.shape == (10, 14, 14)
    x = tf.reshape(tf.constant(np.array([[0., 1.], [2., 3.], [4., 5.]])), (6, 1))
    assert x.shape == (6, 1)
    assert tf.transpose(tf.zeros((300, 20))).shape == (20, 300)


def test_ch02_gradient_tape_basics():
    x = tf.Variable(0.)
    with tf.GradientTape() as tape:
        y = 2 * x + 3
    grad_of_y_wrt_x = tape.gradient(y, x)
    assert float(grad_of_y_wrt_x) == 2.0
    x = tf.Variable(tf.random.uniform((2, 2)))
    with tf.GradientTape() as tape:
        y = 2 * x + 3
    grad_of_y_wrt_x = tape.gradient(y, x)
    np.testing.assert_allclose(grad_of_y_wrt_x.numpy(), np.full((2, 2), 2.0))
    W = tf.Variable(tf.random.uniform((2, 2)))
    b = tf.Variable(tf.zeros((2,)))
    x = tf.random.uniform((2, 2))
    with tf.GradientTape() as tape:
        y = tf.matmul(x, W) + b
    grad_of_y_wrt_W_and_b = tape.gradient(y, [W, b])
    # d(sum(xW + b))/dW = x^T 1, d/db = column sums of ones.
    np.testing.assert_allclose(grad_of_y_wrt_W_and_b[0].numpy(),
                               x.numpy().T @ np.ones((2, 2)), rtol=1e-6)
    np.testing.assert_allclose(grad_of_y_wrt_W_and_b[1].numpy(), [2.0, 2.0])


@needs_mnist
def test_ch02_naive_dense_sequential_batch_generator(mnist_small):
    class NaiveDense:
        def __init__(self, input_size, output_size, activation):
            self.activation = activation
            w_shape = (input_size, output_size)
            w_initial_value = tf.random.uniform(w_shape, minval=0, maxval=1e-1)
            self.W = tf.Variable(w_initial_value)
            b_shape = (output_size,)
            b_initial_value = tf.zeros(b_shape)
            self.b = tf.Variable(b_initial_value)

        def __call__(self, inputs):
            return self.activation(tf.matmul(inputs, self.W) + self.b)

        @property
        def weights(self):
            return [self.W, self.b]

    class NaiveSequential:
        def __init__(self, layers):
            self.layers = layers

        def __call__(self, inputs):
            x = inputs
            for layer in self.layers:
                x = layer(x)
            return x

        @property
        def weights(self):
            weights = []
            for layer in self.layers:
                weights += layer.weights
            return weights

    model = NaiveSequential([
        NaiveDense(input_size=28 * 28, output_size=64, activation=tf.nn.relu),
        NaiveDense(input_size=64, output_size=10, activation=tf.nn.softmax)
    ])
    assert len(model.weights) == 4

    class BatchGenerator:
        def __init__(self, images, labels, batch_size=128):
            assert len(images) == len(labels)
            self.index = 0
            self.images = images
            self.labels = labels
            self.batch_size = batch_size
            self.num_batches = math.ceil(len(images) / batch_size)

        def next(self):
            images = self.images[self.index: self.index + self.batch_size]
            labels = self.labels[self.index: self.index + self.batch_size]
            self.index += self.batch_size
            return images, labels

    learning_rate = 1e-3

    def update_weights(gradients, weights):
        for g, w in zip(gradients, weights):
            w.assign_sub(g * learning_rate)

    def one_training_step(model, images_batch, labels_batch):
        with tf.GradientTape() as tape:
            predictions = model(images_batch)
            per_sample_losses = tf.keras.losses.sparse_categorical_crossentropy(
                labels_batch, predictions)
            average_loss = tf.reduce_mean(per_sample_losses)
        gradients = tape.gradient(average_loss, model.weights)
        update_weights(gradients, model.weights)
        return average_loss

    # One manual step equals the NumPy SGD update.
    (train_images, train_labels), (test_images, test_labels) = mnist_small
    train_images = train_images.reshape((512, 28 * 28)).astype("float32") / 255
    test_images = test_images.reshape((128, 28 * 28)).astype("float32") / 255
    W1, b1, W2, b2 = [w.numpy().astype(np.float64) for w in model.weights]
    xb, yb = train_images[:128].astype(np.float64), train_labels[:128]
    h_pre = xb @ W1 + b1
    h = np.maximum(h_pre, 0)
    logits = h @ W2 + b2
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    ref_loss = -np.mean(np.log(p[np.arange(128), yb]))
    d_logits = p.copy()
    d_logits[np.arange(128), yb] -= 1
    d_logits /= 128
    gW2 = h.T @ d_logits
    dh = d_logits @ W2.T * (h_pre > 0)
    gW1 = xb.T @ dh
    loss = one_training_step(model, train_images[:128], train_labels[:128])
    np.testing.assert_allclose(float(loss), ref_loss, rtol=1e-4)
    np.testing.assert_allclose(model.weights[0].numpy(), W1 - learning_rate * gW1,
                               rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(model.weights[2].numpy(), W2 - learning_rate * gW2,
                               rtol=1e-4, atol=1e-7)

    from nabi.keras import optimizers
    optimizer = optimizers.SGD(learning_rate=1e-2)

    def update_weights(gradients, weights):  # noqa: F811 (the notebook redefines it)
        optimizer.apply_gradients(zip(gradients, weights))

    printed = []

    def fit(model, images, labels, epochs, batch_size=128):
        for epoch_counter in range(epochs):
            printed.append(f"Epoch {epoch_counter}")
            batch_generator = BatchGenerator(images, labels)
            for batch_counter in range(batch_generator.num_batches):
                images_batch, labels_batch = batch_generator.next()
                loss = one_training_step(model, images_batch, labels_batch)
                if batch_counter % 100 == 0:
                    printed.append(f"loss at batch {batch_counter}: {loss:.2f}")

    fit(model, train_images, train_labels, epochs=6, batch_size=128)
    first = float(printed[1].split(": ")[1])
    last = float(printed[-1].split(": ")[1])
    assert last < first
    predictions = model(test_images)
    predictions = predictions.numpy()
    predicted_labels = np.argmax(predictions, axis=1)
    matches = predicted_labels == test_labels
    assert f"accuracy: {matches.mean():.2f}".startswith("accuracy: ")


# ----------------------------------------------------------------------------- chapter 3

def test_ch03_constant_tensors_and_variables():
    x = tf.ones(shape=(2, 1))
    np.testing.assert_array_equal(x.numpy(), [[1.], [1.]])
    x = tf.zeros(shape=(2, 1))
    x = tf.random.normal(shape=(3, 1), mean=0., stddev=1.)
    assert x.shape == (3, 1) and x.dtype == tf.float32
    x = tf.random.uniform(shape=(3, 1), minval=0., maxval=1.)
    assert np.all((x.numpy() >= 0) & (x.numpy() < 1))
    x = tf.ones(shape=(2, 2))
    with pytest.raises(TypeError):
        x[0, 0] = 0.
    v = tf.Variable(initial_value=tf.random.normal(shape=(3, 1)))
    v.assign(tf.ones((3, 1)))
    v[0, 0].assign(3.)
    np.testing.assert_array_equal(v.numpy(), [[3.], [1.], [1.]])
    v.assign_add(tf.ones((3, 1)))
    np.testing.assert_array_equal(v.numpy(), [[4.], [2.], [2.]])
    a = tf.ones((2, 2))
    b = tf.square(a)
    c = tf.sqrt(a)
    d = b + c
    e = tf.matmul(a, b)
    e *= d
    np.testing.assert_array_equal(e.numpy(), np.full((2, 2), 4.0))


def test_variable_slice_assign_vs_numpy():
    """TF's sliced assignment on a Variable (the notebook's v[0, 0].assign(3.)), against the
    same updates on a NumPy array; the slice read still differentiates."""
    rng = np.random.default_rng(0)
    a = rng.normal(size=(4, 3)).astype("float32")
    v = tf.Variable(a)
    ref = a.copy()
    assert v[1:3, 0].assign([7., 8.]) is v
    ref[1:3, 0] = [7., 8.]
    v[2].assign_add(tf.ones((3,)))
    ref[2] += 1
    v[:, -1].assign_sub(0.5)
    ref[:, -1] -= 0.5
    v[3, 1].assign(np.float64(2.5))
    ref[3, 1] = 2.5
    np.testing.assert_array_equal(v.numpy(), ref)
    assert v.dtype == tf.float32
    with tf.GradientTape() as tape:
        y = tf.reduce_sum(v[::2] * 3.0)
    g = np.zeros_like(ref)
    g[::2] = 3.0
    np.testing.assert_array_equal(tape.gradient(y, v).numpy(), g)
    with pytest.raises(ValueError, match=r"Variable.assign.*\(4,\).*\(3,\)"):
        v[0].assign(np.zeros(4))


def test_ch03_gradient_tape_second_order():
    input_var = tf.Variable(initial_value=3.)
    with tf.GradientTape() as tape:
        result = tf.square(input_var)
    gradient = tape.gradient(result, input_var)
    assert float(gradient) == 6.0
    input_const = tf.constant(3.)
    with tf.GradientTape() as tape:
        tape.watch(input_const)
        result = tf.square(input_const)
    gradient = tape.gradient(result, input_const)
    assert float(gradient) == 6.0
    time = tf.Variable(0.)
    with tf.GradientTape() as outer_tape:
        with tf.GradientTape() as inner_tape:
            position = 4.9 * time ** 2
        speed = inner_tape.gradient(position, time)
    acceleration = outer_tape.gradient(speed, time)
    np.testing.assert_allclose(float(acceleration), 9.8, rtol=1e-6)
    time = tf.Variable(2.0)
    with tf.GradientTape() as outer_tape:
        with tf.GradientTape() as inner_tape:
            position = 4.9 * time ** 3
        speed = inner_tape.gradient(position, time)
    acceleration = outer_tape.gradient(speed, time)
    np.testing.assert_allclose(float(speed), 3 * 4.9 * 4.0, rtol=1e-6)
    np.testing.assert_allclose(float(acceleration), 6 * 4.9 * 2.0, rtol=1e-6)


def test_ch03_linear_classifier_from_scratch(tmp_path):
    np.random.seed(0)
    num_samples_per_class = 200
    negative_samples = np.random.multivariate_normal(
        mean=[0, 3], cov=[[1, 0.5], [0.5, 1]], size=num_samples_per_class)
    positive_samples = np.random.multivariate_normal(
        mean=[3, 0], cov=[[1, 0.5], [0.5, 1]], size=num_samples_per_class)
    inputs = np.vstack((negative_samples, positive_samples)).astype(np.float32)
    targets = np.vstack((np.zeros((num_samples_per_class, 1), dtype="float32"),
                         np.ones((num_samples_per_class, 1), dtype="float32")))
    input_dim = 2
    output_dim = 1
    W = tf.Variable(initial_value=tf.random.uniform(shape=(input_dim, output_dim)))
    b = tf.Variable(initial_value=tf.zeros(shape=(output_dim,)))

    def model(inputs):
        return tf.matmul(inputs, W) + b

    def square_loss(targets, predictions):
        per_sample_losses = tf.square(targets - predictions)
        return tf.reduce_mean(per_sample_losses)

    learning_rate = 0.1

    def training_step(inputs, targets):
        with tf.GradientTape() as tape:
            predictions = model(inputs)
            loss = square_loss(targets, predictions)
        grad_loss_wrt_W, grad_loss_wrt_b = tape.gradient(loss, [W, b])
        W.assign_sub(grad_loss_wrt_W * learning_rate)
        b.assign_sub(grad_loss_wrt_b * learning_rate)
        return loss

    # NumPy reference of the same 40 full-batch steps, in float64.
    Wn, bn = W.numpy().astype(np.float64), b.numpy().astype(np.float64)
    x64, t64 = inputs.astype(np.float64), targets.astype(np.float64)
    for _ in range(40):
        r = x64 @ Wn + bn - t64
        Wn, bn = Wn - learning_rate * (2 * x64.T @ r / len(x64)), bn - learning_rate * 2 * r.mean(0)
    lines = []
    for step in range(40):
        loss = training_step(inputs, targets)
        lines.append(f"Loss at step {step}: {loss:.4f}")
    np.testing.assert_allclose(W.numpy(), Wn, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(b.numpy(), bn, rtol=1e-4, atol=1e-5)
    assert float(lines[-1].split(": ")[1]) < float(lines[0].split(": ")[1])
    predictions = model(inputs)
    assert np.mean((predictions.numpy()[:, 0] > 0.5) == targets[:, 0]) > 0.9
    x = np.linspace(-1, 4, 100)
    y = - W[0] / W[1] * x + (0.5 - b) / W[1]
    assert y.shape == (100,)
    np.testing.assert_allclose(np.asarray(y), -Wn[0] / Wn[1] * x + (0.5 - bn) / Wn[1],
                               rtol=1e-3, atol=1e-3)
    plt = pyplot()
    if plt is not None:
        plt.figure()
        plt.scatter(inputs[:, 0], inputs[:, 1], c=predictions[:, 0] > 0.5)
        plt.plot(x, y, "-r")
        plt.savefig(str(tmp_path / "line.png"))
        plt.close("all")


def test_ch03_simple_dense_and_keras_api():
    class SimpleDense(keras.layers.Layer):
        def __init__(self, units, activation=None):
            super().__init__()
            self.units = units
            self.activation = activation

        def build(self, input_shape):
            input_dim = input_shape[-1]
            self.W = self.add_weight(shape=(input_dim, self.units),
                                     initializer="random_normal")
            self.b = self.add_weight(shape=(self.units,),
                                     initializer="zeros")

        def call(self, inputs):
            y = tf.matmul(inputs, self.W) + self.b
            if self.activation is not None:
                y = self.activation(y)
            return y

    my_dense = SimpleDense(units=32, activation=tf.nn.relu)
    input_tensor = tf.ones(shape=(2, 784))
    output_tensor = my_dense(input_tensor)
    assert output_tensor.shape == (2, 32)
    np.testing.assert_allclose(
        output_tensor.numpy(),
        np.maximum(np.ones((2, 784)) @ my_dense.W.numpy() + my_dense.b.numpy(), 0), rtol=1e-5,
        atol=1e-5)

    from nabi.keras import models
    layer = layers.Dense(32, activation="relu")
    model = models.Sequential([
        layers.Dense(32, activation="relu"),
        layers.Dense(32)
    ])
    model = keras.Sequential([
        SimpleDense(32, activation="relu"),
        SimpleDense(64, activation="relu"),
        SimpleDense(32, activation="relu"),
        SimpleDense(10, activation="softmax")
    ])
    assert len(model.layers) == 4   # built lazily: the notebook never calls it

    model = keras.Sequential([keras.layers.Dense(1)])
    model.compile(optimizer="rmsprop",
                  loss="mean_squared_error",
                  metrics=["accuracy"])
    model.compile(optimizer=keras.optimizers.RMSprop(),
                  loss=keras.losses.MeanSquaredError(),
                  metrics=[keras.metrics.BinaryAccuracy()])
    rng = np.random.default_rng(1)
    n = 300
    inputs = np.vstack((rng.multivariate_normal([0, 3], [[1, .5], [.5, 1]], n),
                        rng.multivariate_normal([3, 0], [[1, .5], [.5, 1]], n))).astype("float32")
    targets = np.vstack((np.zeros((n, 1), "float32"), np.ones((n, 1), "float32")))
    history = model.fit(inputs, targets, epochs=5, batch_size=128, verbose=0)
    assert set(history.history) == {"loss", "binary_accuracy"}
    assert len(history.history["loss"]) == 5

    model = keras.Sequential([keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.RMSprop(learning_rate=0.1),
                  loss=keras.losses.MeanSquaredError(),
                  metrics=[keras.metrics.BinaryAccuracy()])
    indices_permutation = np.random.permutation(len(inputs))
    shuffled_inputs = inputs[indices_permutation]
    shuffled_targets = targets[indices_permutation]
    num_validation_samples = int(0.3 * len(inputs))
    val_inputs = shuffled_inputs[:num_validation_samples]
    val_targets = shuffled_targets[:num_validation_samples]
    training_inputs = shuffled_inputs[num_validation_samples:]
    training_targets = shuffled_targets[num_validation_samples:]
    history = model.fit(
        training_inputs,
        training_targets,
        epochs=5,
        batch_size=16,
        validation_data=(val_inputs, val_targets),
        verbose=0
    )
    assert set(history.history) == {"loss", "binary_accuracy", "val_loss",
                                     "val_binary_accuracy"}
    loss_and_metrics = model.evaluate(val_inputs, val_targets, batch_size=128, verbose=0)
    assert len(loss_and_metrics) == 2 and loss_and_metrics[1] > 0.8
    predictions = model(val_inputs)
    predictions2 = model.predict(val_inputs, batch_size=128, verbose=0)
    w, bias = model.weights
    np.testing.assert_allclose(predictions.numpy(), predictions2, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(predictions2, val_inputs @ w.numpy() + bias.numpy(), rtol=1e-5,
                               atol=1e-5)


# ----------------------------------------------------------------------------- chapter 4

def _fake_int_sequences(rng, n, num_words, min_len=5, max_len=40):
    """Random word-index lists like imdb/reuters.load_data(num_words=...) give (1 = start)."""
    data = np.empty(n, dtype=object)
    for i in range(n):
        data[i] = [1] + list(rng.integers(2, num_words, rng.integers(min_len, max_len)))
    return data


def vectorize_sequences(sequences, dimension=10000):
    results = np.zeros((len(sequences), dimension))
    for i, sequence in enumerate(sequences):
        for j in sequence:
            results[i, j] = 1.
    return results


def test_ch04_imdb_binary_classification(tmp_path):
    rng = np.random.default_rng(0)
    num_words = 1000
    train_data = _fake_int_sequences(rng, 400, num_words)
    test_data = _fake_int_sequences(rng, 100, num_words)
    # A label that the words carry: positive reviews use word 7 often.
    train_labels = rng.integers(0, 2, 400)
    test_labels = rng.integers(0, 2, 100)
    for data, labels in ((train_data, train_labels), (test_data, test_labels)):
        for i in range(len(data)):
            data[i] = data[i] + ([7, 8, 9] if labels[i] else [10, 11, 12])
    assert max([max(sequence) for sequence in train_data]) < num_words

    x_train = vectorize_sequences(train_data, dimension=num_words)
    x_test = vectorize_sequences(test_data, dimension=num_words)
    assert x_train.shape == (400, num_words)
    # vectorize_sequences is a multi-hot: compare with a set-based reference.
    for i in (0, 17, 399):
        assert set(np.nonzero(x_train[i])[0]) == set(train_data[i])
    y_train = np.asarray(train_labels).astype("float32")
    y_test = np.asarray(test_labels).astype("float32")
    model = keras.Sequential([
        layers.Dense(16, activation="relu"),
        layers.Dense(16, activation="relu"),
        layers.Dense(1, activation="sigmoid")
    ])
    model.compile(optimizer="rmsprop",
                  loss="binary_crossentropy",
                  metrics=["accuracy"])
    x_val = x_train[:100]
    partial_x_train = x_train[100:]
    y_val = y_train[:100]
    partial_y_train = y_train[100:]
    history = model.fit(partial_x_train,
                        partial_y_train,
                        epochs=8,
                        batch_size=32,
                        validation_data=(x_val, y_val),
                        verbose=0)
    history_dict = history.history
    assert sorted(history_dict.keys()) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    loss_values = history_dict["loss"]
    assert loss_values[-1] < loss_values[0]
    val_loss_values = history_dict["val_loss"]
    epochs = range(1, len(loss_values) + 1)
    plt = pyplot()
    if plt is not None:
        plt.figure()
        plt.plot(epochs, loss_values, "bo", label="Training loss")
        plt.plot(epochs, val_loss_values, "b", label="Validation loss")
        plt.title("Training and validation loss")
        plt.legend()
        plt.savefig(str(tmp_path / "loss.png"))
        plt.close("all")
    results = model.evaluate(x_test, y_test, verbose=0)
    assert len(results) == 2 and results[1] > 0.8
    preds = model.predict(x_test, verbose=0)
    assert preds.shape == (100, 1) and preds.dtype == np.float32


def to_one_hot(labels, dimension=46):
    results = np.zeros((len(labels), dimension))
    for i, label in enumerate(labels):
        results[i, label] = 1.
    return results


def test_ch04_reuters_multiclass():
    rng = np.random.default_rng(1)
    num_words = 500
    train_labels = rng.integers(0, 46, 460)
    test_labels = rng.integers(0, 46, 92)
    train_data = _fake_int_sequences(rng, 460, num_words)
    test_data = _fake_int_sequences(rng, 92, num_words)
    for data, labels in ((train_data, train_labels), (test_data, test_labels)):
        for i in range(len(data)):  # class c is marked by word 100 + c
            data[i] = data[i] + [100 + int(labels[i])] * 3
    x_train = vectorize_sequences(train_data, dimension=num_words)
    x_test = vectorize_sequences(test_data, dimension=num_words)
    y_train = to_one_hot(train_labels)
    y_test = to_one_hot(test_labels)
    from nabi.keras.utils import to_categorical
    y_train2 = to_categorical(train_labels)
    y_test2 = to_categorical(test_labels)
    assert y_train2.shape == (460, 46) and y_train2.dtype == np.float32
    np.testing.assert_array_equal(y_train2, y_train)
    np.testing.assert_array_equal(y_test2, y_test)
    model = keras.Sequential([
        layers.Dense(64, activation="relu"),
        layers.Dense(64, activation="relu"),
        layers.Dense(46, activation="softmax")
    ])
    model.compile(optimizer="rmsprop",
                  loss="categorical_crossentropy",
                  metrics=["accuracy"])
    x_val = x_train[:92]
    partial_x_train = x_train[92:]
    y_val = y_train[:92]
    partial_y_train = y_train[92:]
    history = model.fit(partial_x_train, partial_y_train, epochs=8, batch_size=64,
                        validation_data=(x_val, y_val), verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    results = model.evaluate(x_test, y_test, verbose=0)
    test_labels_copy = copy.copy(test_labels)
    np.random.shuffle(test_labels_copy)
    hits_array = np.array(test_labels) == np.array(test_labels_copy)
    assert 0 <= hits_array.mean() <= 1
    predictions = model.predict(x_test, verbose=0)
    assert predictions[0].shape == (46,)
    np.testing.assert_allclose(np.sum(predictions[0]), 1.0, rtol=1e-5)
    assert 0 <= np.argmax(predictions[0]) < 46
    # Integer labels with sparse_categorical_crossentropy give the same loss.
    y_train = np.array(train_labels)
    y_test = np.array(test_labels)
    model.compile(optimizer="rmsprop",
                  loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    results_sparse = model.evaluate(x_test, y_test, verbose=0)
    np.testing.assert_allclose(results_sparse, results, rtol=1e-5)
    # The information bottleneck variant builds and trains.
    model = keras.Sequential([
        layers.Dense(64, activation="relu"),
        layers.Dense(4, activation="relu"),
        layers.Dense(46, activation="softmax")
    ])
    model.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"])
    model.fit(partial_x_train, partial_y_train, epochs=1, batch_size=128,
              validation_data=(x_val, y_val), verbose=0)


def test_ch04_boston_kfold():
    rng = np.random.default_rng(2)
    true_w = rng.normal(size=13)
    train_data = rng.normal(3.0, 2.0, (96, 13))
    test_data = rng.normal(3.0, 2.0, (24, 13))
    train_targets = train_data @ true_w + 20.0 + rng.normal(0, 0.5, 96)
    test_targets = test_data @ true_w + 20.0
    assert train_data.shape == (96, 13)
    mean = train_data.mean(axis=0)
    train_data -= mean
    std = train_data.std(axis=0)
    train_data /= std
    test_data -= mean
    test_data /= std
    np.testing.assert_allclose(train_data.mean(axis=0), 0, atol=1e-12)

    def build_model():
        model = keras.Sequential([
            layers.Dense(16, activation="relu"),
            layers.Dense(16, activation="relu"),
            layers.Dense(1)
        ])
        model.compile(optimizer="rmsprop", loss="mse", metrics=["mae"])
        return model

    k = 4
    num_val_samples = len(train_data) // k
    num_epochs = 8
    all_scores = []
    all_mae_histories = []
    for i in range(k):
        val_data = train_data[i * num_val_samples: (i + 1) * num_val_samples]
        val_targets = train_targets[i * num_val_samples: (i + 1) * num_val_samples]
        partial_train_data = np.concatenate(
            [train_data[:i * num_val_samples],
             train_data[(i + 1) * num_val_samples:]],
            axis=0)
        partial_train_targets = np.concatenate(
            [train_targets[:i * num_val_samples],
             train_targets[(i + 1) * num_val_samples:]],
            axis=0)
        assert partial_train_data.shape == (72, 13)
        model = build_model()
        history = model.fit(partial_train_data, partial_train_targets,
                            validation_data=(val_data, val_targets),
                            epochs=num_epochs, batch_size=16, verbose=0)
        mae_history = history.history["val_mae"]
        all_mae_histories.append(mae_history)
        val_mse, val_mae = model.evaluate(val_data, val_targets, verbose=0)
        # The metric is the mean absolute error of the model's predictions.
        pred = model.predict(val_data, verbose=0)[:, 0]
        np.testing.assert_allclose(val_mae, np.mean(np.abs(pred - val_targets)), rtol=1e-4)
        np.testing.assert_allclose(val_mse, np.mean((pred - val_targets) ** 2), rtol=1e-4)
        all_scores.append(val_mae)
    assert len(all_scores) == k and np.isfinite(np.mean(all_scores))
    average_mae_history = [
        np.mean([x[i] for x in all_mae_histories]) for i in range(num_epochs)]
    assert average_mae_history[-1] < average_mae_history[0]
    truncated_mae_history = average_mae_history[2:]
    assert len(truncated_mae_history) == num_epochs - 2
    model = build_model()
    model.fit(train_data, train_targets, epochs=num_epochs, batch_size=16, verbose=0)
    test_mse_score, test_mae_score = model.evaluate(test_data, test_targets, verbose=0)
    predictions = model.predict(test_data, verbose=0)
    assert predictions[0].shape == (1,)


# ----------------------------------------------------------------------------- chapter 5

@needs_mnist
def test_ch05_noise_channels_and_generalization(mnist_small):
    (train_images, train_labels), _ = mnist_small
    train_images = train_images.reshape((512, 28 * 28))
    train_images = train_images.astype("float32") / 255
    train_images_with_noise_channels = np.concatenate(
        [train_images, np.random.random((len(train_images), 784))], axis=1)
    train_images_with_zeros_channels = np.concatenate(
        [train_images, np.zeros((len(train_images), 784))], axis=1)
    assert train_images_with_noise_channels.shape == (512, 1568)

    def get_model():
        model = keras.Sequential([
            layers.Dense(32, activation="relu"),
            layers.Dense(10, activation="softmax")
        ])
        model.compile(optimizer="rmsprop",
                      loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        return model

    model = get_model()
    history_noise = model.fit(
        train_images_with_noise_channels, train_labels,
        epochs=2,
        batch_size=128,
        validation_split=0.2, verbose=0)
    model = get_model()
    history_zeros = model.fit(
        train_images_with_zeros_channels, train_labels,
        epochs=2,
        batch_size=128,
        validation_split=0.2, verbose=0)
    val_acc_noise = history_noise.history["val_accuracy"]
    val_acc_zeros = history_zeros.history["val_accuracy"]
    assert len(val_acc_noise) == len(val_acc_zeros) == 2
    # validation_split takes the last 20% of the samples.
    assert model.evaluate(train_images_with_zeros_channels[-103:], train_labels[-103:],
                          verbose=0)[1] == pytest.approx(val_acc_zeros[-1], abs=1e-6)

    # Fitting random labels: the training loss still goes down.
    random_train_labels = train_labels[:]
    np.random.shuffle(random_train_labels)
    model = keras.Sequential([
        layers.Dense(64, activation="relu"),
        layers.Dense(10, activation="softmax")
    ])
    model.compile(optimizer="rmsprop",
                  loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    history = model.fit(train_images, random_train_labels, epochs=4, batch_size=128,
                        validation_split=0.2, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]


@needs_mnist
def test_ch05_learning_rate_and_capacity(mnist_small):
    (train_images, train_labels), _ = mnist_small
    train_images = train_images.reshape((512, 28 * 28)).astype("float32") / 255
    model = keras.Sequential([
        layers.Dense(32, activation="relu"),
        layers.Dense(10, activation="softmax")
    ])
    model.compile(optimizer=keras.optimizers.RMSprop(1.),
                  loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    assert float(model.optimizer.learning_rate) == 1.0
    model.fit(train_images, train_labels, epochs=1, batch_size=128, validation_split=0.2,
              verbose=0)
    model = keras.Sequential([
        layers.Dense(32, activation="relu"),
        layers.Dense(10, activation="softmax")
    ])
    model.compile(optimizer=keras.optimizers.RMSprop(1e-2),
                  loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    np.testing.assert_allclose(float(model.optimizer.learning_rate), 1e-2, rtol=1e-6)
    history = model.fit(train_images, train_labels, epochs=3, batch_size=128,
                        validation_split=0.2, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    model = keras.Sequential([layers.Dense(10, activation="softmax")])
    model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    history_small_model = model.fit(train_images, train_labels, epochs=3, batch_size=128,
                                    validation_split=0.2, verbose=0)
    loss = history_small_model.history["loss"]
    assert loss[-1] < loss[0]


def test_ch05_regularizers_and_dropout():
    from nabi.keras import regularizers
    rng = np.random.default_rng(3)
    num_words = 300
    seqs = _fake_int_sequences(rng, 200, num_words)
    labels = rng.integers(0, 2, 200)
    for i in range(200):
        if labels[i]:
            seqs[i] = seqs[i] + [5, 6]
    train_data = vectorize_sequences(seqs, dimension=num_words)
    train_labels = labels.astype("float32")

    model = keras.Sequential([
        layers.Dense(16,
                     kernel_regularizer=regularizers.l2(0.002),
                     activation="relu"),
        layers.Dense(16,
                     kernel_regularizer=regularizers.l2(0.002),
                     activation="relu"),
        layers.Dense(1, activation="sigmoid")
    ])
    model.compile(optimizer="rmsprop",
                  loss="binary_crossentropy",
                  metrics=["accuracy"])
    history_l2_reg = model.fit(
        train_data, train_labels,
        epochs=3, batch_size=64, validation_split=0.4, verbose=0)
    assert history_l2_reg.history["loss"][-1] < history_l2_reg.history["loss"][0]
    # The reported loss includes the penalty 0.002 * sum(w**2) of both kernels.
    bce = keras.losses.binary_crossentropy(train_labels[:, None],
                                           model.predict(train_data, verbose=0))
    penalty = sum(0.002 * np.sum(model.layers[i].kernel.numpy().astype(np.float64) ** 2)
                  for i in (0, 1))
    assert len(model.losses) == 2
    np.testing.assert_allclose(float(tf.add_n(model.losses)), penalty, rtol=1e-4)
    np.testing.assert_allclose(model.evaluate(train_data, train_labels, verbose=0)[0],
                               float(tf.reduce_mean(bce)) + penalty, rtol=1e-4)

    r1 = regularizers.l1(0.001)
    r12 = regularizers.l1_l2(l1=0.001, l2=0.001)
    w = rng.normal(size=(4, 3)).astype("float32")
    np.testing.assert_allclose(float(r1(tf.constant(w))), 0.001 * np.abs(w).sum(), rtol=1e-5)
    np.testing.assert_allclose(float(r12(tf.constant(w))),
                               0.001 * np.abs(w).sum() + 0.001 * (w ** 2).sum(), rtol=1e-5)

    model = keras.Sequential([
        layers.Dense(16, activation="relu"),
        layers.Dropout(0.5),
        layers.Dense(16, activation="relu"),
        layers.Dropout(0.5),
        layers.Dense(1, activation="sigmoid")
    ])
    model.compile(optimizer="rmsprop",
                  loss="binary_crossentropy",
                  metrics=["accuracy"])
    history_dropout = model.fit(
        train_data, train_labels,
        epochs=3, batch_size=64, validation_split=0.4, verbose=0)
    assert set(history_dropout.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    # Dropout: identity at inference, zeros about half and scales the rest by 2 in training.
    d = layers.Dropout(0.5)
    x = np.ones((200, 50), "float32")
    np.testing.assert_array_equal(d(x).numpy(), x)
    y = d(x, training=True).numpy()
    assert set(np.unique(y)) <= {0.0, 2.0}
    assert 0.4 < (y == 0).mean() < 0.6
