"""The code of "Deep Learning with Python" (2nd ed., F. Chollet) notebooks, chapters 7-9
(working with Keras, convnets, modern convnet architecture patterns), as it runs with only the
import lines changed (`import nabi as tf`, `from nabi import keras`, `from nabi.keras import
layers`). A few hundred local MNIST digits (NABI_DATASETS) and tiny synthetic images replace the
downloads; layers are narrower and epochs fewer. Numbers are checked against NumPy where cheap,
otherwise shapes, dtypes and a falling loss."""
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
    """matplotlib.pyplot on the Agg backend, or None where matplotlib (an optional extra) is
    not installed: the notebooks' plotting is then left out."""
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
def mnist_flat():
    """384 training and 128 test digits, flattened to 784 floats in [0, 1] as in chapter 7."""
    from nabi.keras.datasets import mnist
    (images, labels), (test_images, test_labels) = mnist.load_data()
    images = images[:384].reshape((384, 28 * 28)).astype("float32") / 255
    test_images = test_images[:128].reshape((128, 28 * 28)).astype("float32") / 255
    return (images, labels[:384].astype("int64")), (test_images, test_labels[:128].astype("int64"))


def get_mnist_model():
    inputs = keras.Input(shape=(28 * 28,))
    features = layers.Dense(64, activation="relu")(inputs)
    features = layers.Dropout(0.5)(features)
    outputs = layers.Dense(10, activation="softmax")(features)
    model = keras.Model(inputs, outputs)
    return model


# ----------------------------------------------------------------------------- chapter 7

def test_ch07_sequential_model():
    keras.backend.clear_session()
    model = keras.Sequential([
        layers.Dense(64, activation="relu"),
        layers.Dense(10, activation="softmax")
    ])
    model = keras.Sequential()
    model.add(layers.Dense(64, activation="relu"))
    model.add(layers.Dense(10, activation="softmax"))
    # Keras 2 raises ValueError here (weights not created yet); nabi, as Keras 3, gives [].
    assert not model.built
    model.build(input_shape=(None, 3))
    assert [tuple(w.shape) for w in model.weights] == [(3, 64), (64,), (64, 10), (10,)]
    model.summary()
    model = keras.Sequential(name="my_example_model")
    model.add(layers.Dense(64, activation="relu", name="my_first_layer"))
    model.add(layers.Dense(10, activation="softmax", name="my_last_layer"))
    model.build((None, 3))
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert "my_example_model" in text and "my_first_layer" in text and "my_last_layer" in text
    assert "906" in text  # 3*64+64 + 64*10+10 parameters
    model = keras.Sequential()
    model.add(keras.Input(shape=(3,)))
    model.add(layers.Dense(64, activation="relu"))
    model.summary(print_fn=lambda *a, **k: None)
    model.add(layers.Dense(10, activation="softmax"))
    assert model.output_shape == (None, 10)


def _ticket_data(num_samples=64, vocabulary_size=200, num_tags=20, num_departments=4):
    title_data = np.random.randint(0, 2, size=(num_samples, vocabulary_size))
    text_body_data = np.random.randint(0, 2, size=(num_samples, vocabulary_size))
    tags_data = np.random.randint(0, 2, size=(num_samples, num_tags))
    priority_data = np.random.random(size=(num_samples, 1))
    department_data = np.random.randint(0, 2, size=(num_samples, num_departments))
    return title_data, text_body_data, tags_data, priority_data, department_data


def test_ch07_functional_api(tmp_path):
    inputs = keras.Input(shape=(3,), name="my_input")
    features = layers.Dense(64, activation="relu")(inputs)
    outputs = layers.Dense(10, activation="softmax")(features)
    model = keras.Model(inputs=inputs, outputs=outputs)
    assert tuple(inputs.shape) == (None, 3)
    assert inputs.dtype == "float32"
    assert tuple(features.shape) == (None, 64)
    model.summary(print_fn=lambda *a, **k: None)

    vocabulary_size = 200
    num_tags = 20
    num_departments = 4
    title = keras.Input(shape=(vocabulary_size,), name="title")
    text_body = keras.Input(shape=(vocabulary_size,), name="text_body")
    tags = keras.Input(shape=(num_tags,), name="tags")
    features = layers.Concatenate()([title, text_body, tags])
    features = layers.Dense(64, activation="relu")(features)
    priority = layers.Dense(1, activation="sigmoid", name="priority")(features)
    department = layers.Dense(
        num_departments, activation="softmax", name="department")(features)
    model = keras.Model(inputs=[title, text_body, tags], outputs=[priority, department])

    title_data, text_body_data, tags_data, priority_data, department_data = _ticket_data()
    model.compile(optimizer="rmsprop",
                  loss=["mean_squared_error", "categorical_crossentropy"],
                  metrics=[["mean_absolute_error"], ["accuracy"]])
    history = model.fit([title_data, text_body_data, tags_data],
                        [priority_data, department_data],
                        epochs=1, verbose=0)
    assert {"loss", "priority_loss", "department_loss", "priority_mean_absolute_error",
            "department_accuracy"} <= set(history.history)
    results = model.evaluate([title_data, text_body_data, tags_data],
                             [priority_data, department_data], verbose=0)
    priority_preds, department_preds = model.predict(
        [title_data, text_body_data, tags_data], verbose=0)
    assert priority_preds.shape == (64, 1) and department_preds.shape == (64, 4)
    # The losses and metrics of evaluate against NumPy on predict's outputs.
    mse = np.mean((priority_preds - priority_data) ** 2)
    cce = np.mean(-np.sum(department_data * np.log(np.clip(department_preds, 1e-7, 1)), axis=1))
    mae = np.mean(np.abs(priority_preds - priority_data))
    np.testing.assert_allclose(results[:3], [mse + cce, mse, cce], rtol=1e-4)
    assert any(abs(r - mae) < 1e-5 for r in results[3:])

    model.compile(optimizer="rmsprop",
                  loss={"priority": "mean_squared_error",
                        "department": "categorical_crossentropy"},
                  metrics={"priority": ["mean_absolute_error"], "department": ["accuracy"]})
    model.fit({"title": title_data, "text_body": text_body_data, "tags": tags_data},
              {"priority": priority_data, "department": department_data},
              epochs=1, verbose=0)
    model.evaluate({"title": title_data, "text_body": text_body_data, "tags": tags_data},
                   {"priority": priority_data, "department": department_data}, verbose=0)
    priority_preds, department_preds = model.predict(
        {"title": title_data, "text_body": text_body_data, "tags": tags_data}, verbose=0)
    assert priority_preds.shape == (64, 1)

    try:
        import pydot  # noqa: F401
        have_pydot = True
    except ImportError:
        have_pydot = False
    if have_pydot:
        keras.utils.plot_model(model, str(tmp_path / "ticket_classifier.png"))
    else:   # as Keras: a clear ImportError naming pydot
        with pytest.raises(ImportError, match="pydot"):
            keras.utils.plot_model(model, str(tmp_path / "ticket_classifier.png"))

    assert len(model.layers) == 7
    assert tuple(model.layers[3].input[0].shape) == (None, vocabulary_size)
    assert tuple(model.layers[3].output.shape) == (None, 2 * vocabulary_size + num_tags)
    features = model.layers[4].output
    difficulty = layers.Dense(3, activation="softmax", name="difficulty")(features)
    new_model = keras.Model(
        inputs=[title, text_body, tags],
        outputs=[priority, department, difficulty])
    outs = new_model.predict([title_data, text_body_data, tags_data], verbose=0)
    assert [o.shape for o in outs] == [(64, 1), (64, 4), (64, 3)]
    # The shared layers: the new model's first two outputs equal the old model's.
    np.testing.assert_allclose(outs[0], priority_preds, rtol=1e-5, atol=1e-6)


def test_ch07_subclassed_customer_ticket_model_and_mixing():
    class CustomerTicketModel(keras.Model):

        def __init__(self, num_departments):
            super().__init__()
            self.concat_layer = layers.Concatenate()
            self.mixing_layer = layers.Dense(64, activation="relu")
            self.priority_scorer = layers.Dense(1, activation="sigmoid")
            self.department_classifier = layers.Dense(
                num_departments, activation="softmax")

        def call(self, inputs):
            title = inputs["title"]
            text_body = inputs["text_body"]
            tags = inputs["tags"]

            features = self.concat_layer([title, text_body, tags])
            features = self.mixing_layer(features)
            priority = self.priority_scorer(features)
            department = self.department_classifier(features)
            return priority, department

    title_data, text_body_data, tags_data, priority_data, department_data = _ticket_data()
    model = CustomerTicketModel(num_departments=4)
    priority, department = model(
        {"title": title_data, "text_body": text_body_data, "tags": tags_data})
    assert priority.shape == (64, 1) and department.shape == (64, 4)
    # Forward against NumPy.
    x = np.concatenate([title_data, text_body_data, tags_data], axis=1).astype(np.float64)
    h = np.maximum(x @ model.mixing_layer.kernel.numpy() + model.mixing_layer.bias.numpy(), 0)
    p = 1 / (1 + np.exp(-(h @ model.priority_scorer.kernel.numpy()
                          + model.priority_scorer.bias.numpy())))
    np.testing.assert_allclose(priority.numpy(), p, rtol=1e-4, atol=1e-6)
    model.compile(optimizer="rmsprop",
                  loss=["mean_squared_error", "categorical_crossentropy"],
                  metrics=[["mean_absolute_error"], ["accuracy"]])
    model.fit({"title": title_data,
               "text_body": text_body_data,
               "tags": tags_data},
              [priority_data, department_data],
              epochs=1, verbose=0)
    model.evaluate({"title": title_data,
                    "text_body": text_body_data,
                    "tags": tags_data},
                   [priority_data, department_data], verbose=0)
    priority_preds, department_preds = model.predict({"title": title_data,
                                                      "text_body": text_body_data,
                                                      "tags": tags_data}, verbose=0)
    assert priority_preds.shape == (64, 1) and department_preds.shape == (64, 4)

    class Classifier(keras.Model):

        def __init__(self, num_classes=2):
            super().__init__()
            if num_classes == 2:
                num_units = 1
                activation = "sigmoid"
            else:
                num_units = num_classes
                activation = "softmax"
            self.dense = layers.Dense(num_units, activation=activation)

        def call(self, inputs):
            return self.dense(inputs)

    inputs = keras.Input(shape=(3,))
    features = layers.Dense(64, activation="relu")(inputs)
    outputs = Classifier(num_classes=10)(features)
    model = keras.Model(inputs=inputs, outputs=outputs)
    assert model(np.ones((2, 3), "float32")).shape == (2, 10)

    inputs = keras.Input(shape=(64,))
    outputs = layers.Dense(1, activation="sigmoid")(inputs)
    binary_classifier = keras.Model(inputs=inputs, outputs=outputs)

    class MyModel(keras.Model):

        def __init__(self, num_classes=2):
            super().__init__()
            self.dense = layers.Dense(64, activation="relu")
            self.classifier = binary_classifier

        def call(self, inputs):
            features = self.dense(inputs)
            return self.classifier(features)

    model = MyModel()
    assert model(np.ones((2, 5), "float32")).shape == (2, 1)
    assert len(model.trainable_weights) == 4


@needs_mnist
def test_ch07_builtin_loop_custom_metric(mnist_flat):
    (images, labels), (test_images, test_labels) = mnist_flat
    train_images, val_images = images[128:], images[:128]
    train_labels, val_labels = labels[128:], labels[:128]

    class RootMeanSquaredError(keras.metrics.Metric):

        def __init__(self, name="rmse", **kwargs):
            super().__init__(name=name, **kwargs)
            self.mse_sum = self.add_weight(name="mse_sum", initializer="zeros")
            self.total_samples = self.add_weight(
                name="total_samples", initializer="zeros", dtype="int32")

        def update_state(self, y_true, y_pred, sample_weight=None):
            y_true = tf.one_hot(y_true, depth=tf.shape(y_pred)[1])
            mse = tf.reduce_sum(tf.square(y_true - y_pred))
            self.mse_sum.assign_add(mse)
            num_samples = tf.shape(y_pred)[0]
            self.total_samples.assign_add(num_samples)

        def result(self):
            return tf.sqrt(self.mse_sum / tf.cast(self.total_samples, tf.float32))

        def reset_state(self):
            self.mse_sum.assign(0.)
            self.total_samples.assign(0)

    model = get_mnist_model()
    model.compile(optimizer="rmsprop",
                  loss="sparse_categorical_crossentropy",
                  metrics=["accuracy", RootMeanSquaredError()])
    history = model.fit(train_images, train_labels, epochs=3,
                        validation_data=(val_images, val_labels), verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert "val_rmse" in history.history
    test_metrics = model.evaluate(test_images, test_labels, verbose=0)
    predictions = model.predict(test_images, verbose=0)
    # As in Keras 2 (compile_utils.match_dtype_and_rank), a compiled metric gets rank-1
    # targets as (batch, 1): the notebook's one_hot is then (batch, 1, 10), and y_true - y_pred
    # broadcasts to (batch, batch, 10) within each batch of 32. NumPy, the same way:
    onehot = np.eye(10)[test_labels]
    total = sum(np.sum((onehot[i:i + 32, None, :] - predictions[None, i:i + 32, :]) ** 2)
                for i in range(0, 128, 32))
    np.testing.assert_allclose(test_metrics[2], np.sqrt(total / 128), rtol=1e-4)
    np.testing.assert_allclose(test_metrics[1],
                               np.mean(predictions.argmax(1) == test_labels), rtol=1e-6)
    metric = RootMeanSquaredError()
    assert metric.name == "rmse"
    metric.update_state(np.array([0, 1]), np.array([[1., 0.], [0.5, 0.5]], "float32"))
    np.testing.assert_allclose(float(metric.result()), np.sqrt(0.5 / 2), rtol=1e-6)
    metric.reset_state()
    assert int(metric.total_samples.numpy()) == 0


@needs_mnist
def test_ch07_callbacks(mnist_flat, tmp_path):
    (images, labels), _ = mnist_flat
    train_images, val_images = images[128:], images[:128]
    train_labels, val_labels = labels[128:], labels[:128]
    checkpoint_path = str(tmp_path / "checkpoint_path.keras")
    callbacks_list = [
        keras.callbacks.EarlyStopping(
            monitor="val_accuracy",
            patience=2,
        ),
        keras.callbacks.ModelCheckpoint(
            filepath=checkpoint_path,
            monitor="val_loss",
            save_best_only=True,
        )
    ]
    model = get_mnist_model()
    model.compile(optimizer="rmsprop",
                  loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    history = model.fit(train_images, train_labels,
                        epochs=3,
                        callbacks=callbacks_list,
                        validation_data=(val_images, val_labels), verbose=0)
    assert os.path.exists(checkpoint_path)
    model = keras.models.load_model(checkpoint_path)
    best = int(np.argmin(history.history["val_loss"]))
    np.testing.assert_allclose(model.evaluate(val_images, val_labels, verbose=0)[0],
                               history.history["val_loss"][best], rtol=1e-4)

    plt = pyplot()

    class LossHistory(keras.callbacks.Callback):
        def on_train_begin(self, logs):
            self.per_batch_losses = []
            self.all_epochs = []

        def on_batch_end(self, batch, logs):
            self.per_batch_losses.append(logs.get("loss"))

        def on_epoch_end(self, epoch, logs):
            self.all_epochs.append(list(self.per_batch_losses))
            if plt is not None:
                plt.clf()
                plt.plot(range(len(self.per_batch_losses)), self.per_batch_losses,
                         label="Training loss for each batch")
                plt.xlabel(f"Batch (epoch {epoch})")
                plt.ylabel("Loss")
                plt.legend()
                plt.savefig(str(tmp_path / f"plot_at_epoch_{epoch}"))
            self.per_batch_losses = []

    model = get_mnist_model()
    model.compile(optimizer="rmsprop",
                  loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    lh = LossHistory()
    model.fit(train_images, train_labels,
              epochs=2,
              callbacks=[lh],
              validation_data=(val_images, val_labels), verbose=0)
    assert [len(e) for e in lh.all_epochs] == [8, 8]  # 256 samples / batch 32
    assert all(isinstance(v, float) for v in lh.all_epochs[0])
    if plt is not None:
        assert os.path.exists(str(tmp_path / "plot_at_epoch_1.png"))
        plt.close("all")

    model = get_mnist_model()
    model.compile(optimizer="rmsprop",
                  loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    log_dir = str(tmp_path / "logs")
    tensorboard = keras.callbacks.TensorBoard(
        log_dir=log_dir,
    )
    model.fit(train_images, train_labels,
              epochs=1,
              validation_data=(val_images, val_labels),
              callbacks=[tensorboard], verbose=0)
    found = [f for _, _, fs in os.walk(log_dir) for f in fs]
    assert any("tfevents" in f for f in found)


@needs_mnist
def test_ch07_custom_training_loop(mnist_flat):
    (images, labels), _ = mnist_flat
    train_images, val_images = images[128:], images[:128]
    train_labels, val_labels = labels[128:], labels[:128]

    metric = keras.metrics.SparseCategoricalAccuracy()
    targets = [0, 1, 2]
    predictions = [[1, 0, 0], [0, 1, 0], [0, 0, 1]]
    metric.update_state(targets, predictions)
    current_result = metric.result()
    assert f"result: {current_result:.2f}" == "result: 1.00"
    values = [0, 1, 2, 3, 4]
    mean_tracker = keras.metrics.Mean()
    for value in values:
        mean_tracker.update_state(value)
    assert f"Mean of values: {mean_tracker.result():.2f}" == "Mean of values: 2.00"

    model = get_mnist_model()
    loss_fn = keras.losses.SparseCategoricalCrossentropy()
    optimizer = keras.optimizers.RMSprop()
    metrics = [keras.metrics.SparseCategoricalAccuracy()]
    loss_tracking_metric = keras.metrics.Mean()

    def train_step(inputs, targets):
        with tf.GradientTape() as tape:
            predictions = model(inputs, training=True)
            loss = loss_fn(targets, predictions)
        gradients = tape.gradient(loss, model.trainable_weights)
        optimizer.apply_gradients(zip(gradients, model.trainable_weights))

        logs = {}
        for metric in metrics:
            metric.update_state(targets, predictions)
            logs[metric.name] = metric.result()

        loss_tracking_metric.update_state(loss)
        logs["loss"] = loss_tracking_metric.result()
        return logs

    def reset_metrics():
        for metric in metrics:
            metric.reset_state()
        loss_tracking_metric.reset_state()

    training_dataset = tf.data.Dataset.from_tensor_slices((train_images, train_labels))
    training_dataset = training_dataset.batch(32)
    epochs = 3
    printed = []
    epoch_losses = []
    for epoch in range(epochs):
        reset_metrics()
        for inputs_batch, targets_batch in training_dataset:
            logs = train_step(inputs_batch, targets_batch)
        printed.append(f"Results at the end of epoch {epoch}")
        for key, value in logs.items():
            printed.append(f"...{key}: {value:.4f}")
        epoch_losses.append(float(logs["loss"]))
    assert set(logs) == {"sparse_categorical_accuracy", "loss"}
    assert epoch_losses[-1] < epoch_losses[0]

    def test_step(inputs, targets):
        predictions = model(inputs, training=False)
        loss = loss_fn(targets, predictions)

        logs = {}
        for metric in metrics:
            metric.update_state(targets, predictions)
            logs["val_" + metric.name] = metric.result()

        loss_tracking_metric.update_state(loss)
        logs["val_loss"] = loss_tracking_metric.result()
        return logs

    val_dataset = tf.data.Dataset.from_tensor_slices((val_images, val_labels))
    val_dataset = val_dataset.batch(32)
    reset_metrics()
    for inputs_batch, targets_batch in val_dataset:
        logs = test_step(inputs_batch, targets_batch)
    eager_logs = {k: float(v) for k, v in logs.items()}
    # The evaluation against NumPy (4 equal batches, so the mean of batch means is the mean).
    p = model.predict(val_images, verbose=0).astype(np.float64)
    nll = -np.log(np.clip(p[np.arange(128), val_labels], 1e-7, 1))
    np.testing.assert_allclose(eager_logs["val_loss"], nll.mean(), rtol=1e-4)
    np.testing.assert_allclose(eager_logs["val_sparse_categorical_accuracy"],
                               np.mean(p.argmax(1) == val_labels), rtol=1e-6)

    @tf.function
    def test_step(inputs, targets):  # noqa: F811 (the notebook redefines it)
        predictions = model(inputs, training=False)
        loss = loss_fn(targets, predictions)

        logs = {}
        for metric in metrics:
            metric.update_state(targets, predictions)
            logs["val_" + metric.name] = metric.result()

        loss_tracking_metric.update_state(loss)
        logs["val_loss"] = loss_tracking_metric.result()
        return logs

    reset_metrics()
    for inputs_batch, targets_batch in val_dataset:
        logs = test_step(inputs_batch, targets_batch)
    for key, value in logs.items():
        np.testing.assert_allclose(float(value), eager_logs[key], rtol=1e-5)


@needs_mnist
def test_ch07_custom_train_step_in_fit(mnist_flat):
    (images, labels), _ = mnist_flat
    train_images, train_labels = images[128:], labels[128:]
    loss_fn = keras.losses.SparseCategoricalCrossentropy()
    loss_tracker = keras.metrics.Mean(name="loss")

    class CustomModel(keras.Model):
        def train_step(self, data):
            inputs, targets = data
            with tf.GradientTape() as tape:
                predictions = self(inputs, training=True)
                loss = loss_fn(targets, predictions)
            gradients = tape.gradient(loss, self.trainable_weights)
            self.optimizer.apply_gradients(zip(gradients, self.trainable_weights))

            loss_tracker.update_state(loss)
            return {"loss": loss_tracker.result()}

        @property
        def metrics(self):
            return [loss_tracker]

    inputs = keras.Input(shape=(28 * 28,))
    features = layers.Dense(64, activation="relu")(inputs)
    features = layers.Dropout(0.5)(features)
    outputs = layers.Dense(10, activation="softmax")(features)
    model = CustomModel(inputs, outputs)

    model.compile(optimizer=keras.optimizers.RMSprop())
    history = model.fit(train_images, train_labels, epochs=3, verbose=0)
    assert list(history.history) == ["loss"]
    assert history.history["loss"][-1] < history.history["loss"][0]

    class CustomModel(keras.Model):  # noqa: F811 (the notebook redefines it)
        def train_step(self, data):
            inputs, targets = data
            with tf.GradientTape() as tape:
                predictions = self(inputs, training=True)
                loss = self.compiled_loss(targets, predictions)
            gradients = tape.gradient(loss, self.trainable_weights)
            self.optimizer.apply_gradients(zip(gradients, self.trainable_weights))
            self.compiled_metrics.update_state(targets, predictions)
            return {m.name: m.result() for m in self.metrics}

    inputs = keras.Input(shape=(28 * 28,))
    features = layers.Dense(64, activation="relu")(inputs)
    features = layers.Dropout(0.5)(features)
    outputs = layers.Dense(10, activation="softmax")(features)
    model = CustomModel(inputs, outputs)

    model.compile(optimizer=keras.optimizers.RMSprop(),
                  loss=keras.losses.SparseCategoricalCrossentropy(),
                  metrics=[keras.metrics.SparseCategoricalAccuracy()])
    history = model.fit(train_images, train_labels, epochs=3, verbose=0)
    assert "sparse_categorical_accuracy" in history.history
    assert history.history["sparse_categorical_accuracy"][-1] > \
        history.history["sparse_categorical_accuracy"][0]


# ----------------------------------------------------------------------------- chapter 8

@needs_mnist
def test_ch08_small_convnet_mnist():
    from nabi.keras.datasets import mnist
    inputs = keras.Input(shape=(28, 28, 1))
    x = layers.Conv2D(filters=8, kernel_size=3, activation="relu")(inputs)
    x = layers.MaxPooling2D(pool_size=2)(x)
    x = layers.Conv2D(filters=16, kernel_size=3, activation="relu")(x)
    x = layers.MaxPooling2D(pool_size=2)(x)
    x = layers.Conv2D(filters=16, kernel_size=3, activation="relu")(x)
    x = layers.Flatten()(x)
    outputs = layers.Dense(10, activation="softmax")(x)
    model = keras.Model(inputs=inputs, outputs=outputs)
    assert model.output_shape == (None, 10)
    assert model.layers[-2].output.shape[-1] == 3 * 3 * 16
    lines = []
    model.summary(print_fn=lines.append)

    (train_images, train_labels), (test_images, test_labels) = mnist.load_data()
    train_images = train_images[:384].reshape((384, 28, 28, 1))
    train_images = train_images.astype("float32") / 255
    test_images = test_images[:64].reshape((64, 28, 28, 1))
    test_images = test_images.astype("float32") / 255
    train_labels, test_labels = train_labels[:384], test_labels[:64]
    model.compile(optimizer="rmsprop",
                  loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    history = model.fit(train_images, train_labels, epochs=2, batch_size=64, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    test_loss, test_acc = model.evaluate(test_images, test_labels, verbose=0)
    assert f"Test accuracy: {test_acc:.3f}".startswith("Test accuracy: ")
    # The first conv layer's forward against a NumPy valid cross-correlation.
    conv = model.layers[1]
    k, b = conv.kernel.numpy(), conv.bias.numpy()
    x = test_images[:2]
    ref = np.zeros((2, 26, 26, 8))
    for i in range(3):
        for j in range(3):
            ref += np.einsum("nhwc,cf->nhwf", x[:, i:i + 26, j:j + 26, :], k[i, j])
    ref = np.maximum(ref + b, 0)
    got = keras.Model(inputs, conv.output)(x).numpy()
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-5)


def _write_cats_dogs(root, n_per_class=6, size=(20, 24)):
    from PIL import Image
    rng = np.random.default_rng(0)
    for split in ("train", "validation"):
        for ci, name in enumerate(("cat", "dog")):
            d = os.path.join(root, split, name)
            os.makedirs(d)
            for i in range(n_per_class):
                a = rng.integers(0, 80, size + (3,)).astype(np.uint8)
                a[..., ci] += 150
                Image.fromarray(a).save(os.path.join(d, f"{name}.{i}.png"))


def test_ch08_image_dataset_from_directory_and_augmentation(tmp_path):
    pytest.importorskip("PIL")
    from nabi.keras.utils import image_dataset_from_directory
    new_base_dir = tmp_path / "cats_vs_dogs_small"
    _write_cats_dogs(str(new_base_dir))
    train_dataset = image_dataset_from_directory(
        new_base_dir / "train",
        image_size=(16, 16),
        batch_size=4)
    validation_dataset = image_dataset_from_directory(
        new_base_dir / "validation",
        image_size=(16, 16),
        batch_size=4)
    assert train_dataset.class_names == ["cat", "dog"]
    for data_batch, labels_batch in train_dataset:
        assert data_batch.shape == (4, 16, 16, 3) and data_batch.dtype == tf.float32
        assert labels_batch.shape == (4,) and labels_batch.dtype == tf.int32
        break
    # The pixels are the PNG's, bilinearly resized: an unresized load gives them exactly.
    exact = image_dataset_from_directory(new_base_dir / "train", image_size=(20, 24),
                                         batch_size=12, shuffle=False)
    from PIL import Image
    x0, y0 = next(iter(exact))
    first = np.asarray(Image.open(new_base_dir / "train" / "cat" / "cat.0.png"), np.float32)
    np.testing.assert_array_equal(x0.numpy()[0], first)
    np.testing.assert_array_equal(y0.numpy(), [0] * 6 + [1] * 6)

    random_numbers = np.random.normal(size=(100, 16))
    dataset = tf.data.Dataset.from_tensor_slices(random_numbers)
    for i, element in enumerate(dataset):
        assert element.shape == (16,)
        if i >= 2:
            break
    batched_dataset = dataset.batch(32)
    shapes = [element.shape for element in batched_dataset]
    assert shapes == [(32, 16)] * 3 + [(4, 16)]
    reshaped_dataset = dataset.map(lambda x: tf.reshape(x, (4, 4)))
    for i, element in enumerate(reshaped_dataset):
        assert element.shape == (4, 4)
        np.testing.assert_array_equal(element.numpy(), random_numbers[i].reshape(4, 4))
        if i >= 2:
            break

    data_augmentation = keras.Sequential(
        [
            layers.RandomFlip("horizontal"),
            layers.RandomRotation(0.1),
            layers.RandomZoom(0.2),
        ]
    )
    for images, _ in train_dataset.take(1):
        for i in range(3):
            augmented_images = data_augmentation(images)
            img = augmented_images[0].numpy().astype("uint8")
            assert img.shape == (16, 16, 3)
    # At inference the augmentation layers are the identity.
    np.testing.assert_array_equal(data_augmentation(images, training=False).numpy(),
                                  images.numpy())
    flipped = layers.RandomFlip("horizontal")(images, training=True).numpy()
    for a, f in zip(images.numpy(), flipped):
        assert np.array_equal(f, a) or np.array_equal(f, a[:, ::-1])

    inputs = keras.Input(shape=(16, 16, 3))
    x = data_augmentation(inputs)
    x = layers.Rescaling(1./255)(x)
    x = layers.Conv2D(filters=8, kernel_size=3, activation="relu")(x)
    x = layers.MaxPooling2D(pool_size=2)(x)
    x = layers.Conv2D(filters=8, kernel_size=3, activation="relu")(x)
    x = layers.Flatten()(x)
    x = layers.Dropout(0.5)(x)
    outputs = layers.Dense(1, activation="sigmoid")(x)
    model = keras.Model(inputs=inputs, outputs=outputs)
    model.compile(loss="binary_crossentropy",
                  optimizer="rmsprop",
                  metrics=["accuracy"])
    path = str(tmp_path / "convnet_from_scratch_with_augmentation.keras")
    callbacks = [
        keras.callbacks.ModelCheckpoint(
            filepath=path,
            save_best_only=True,
            monitor="val_loss")
    ]
    history = model.fit(
        train_dataset,
        epochs=2,
        validation_data=validation_dataset,
        callbacks=callbacks, verbose=0)
    assert len(history.history["val_accuracy"]) == 2
    test_model = keras.models.load_model(path)
    test_loss, test_acc = test_model.evaluate(validation_dataset, verbose=0)
    np.testing.assert_allclose(test_loss, min(history.history["val_loss"]), rtol=1e-4)


def test_ch08_feature_extraction_freezing():
    # The pretrained VGG16 is replaced by a small convolutional base (no weight downloads);
    # the freezing pattern is the notebook's.
    conv_base = keras.Sequential([
        keras.Input(shape=(16, 16, 3)),
        layers.Conv2D(8, 3, activation="relu", name="block1_conv1"),
        layers.Conv2D(8, 3, activation="relu", name="block5_conv1"),
        layers.Conv2D(8, 3, activation="relu", name="block5_conv2"),
        layers.MaxPooling2D(2),
    ], name="conv_base")
    conv_base.trainable = True
    assert len(conv_base.trainable_weights) == 6
    conv_base.trainable = False
    assert len(conv_base.trainable_weights) == 0
    conv_base.trainable = True
    for layer in conv_base.layers[:-2]:
        layer.trainable = False
    assert len(conv_base.trainable_weights) == 2
    conv_base.trainable = False
    inputs = keras.Input(shape=(16, 16, 3))
    x = layers.Rescaling(1. / 255)(inputs)
    x = conv_base(x)
    x = layers.Flatten()(x)
    x = layers.Dense(8)(x)
    x = layers.Dropout(0.5)(x)
    outputs = layers.Dense(1, activation="sigmoid")(x)
    model = keras.Model(inputs, outputs)
    model.compile(loss="binary_crossentropy", optimizer="rmsprop", metrics=["accuracy"])
    before = [w.numpy() for w in conv_base.weights]
    xs = np.random.randint(0, 255, (8, 16, 16, 3)).astype("float32")
    model.fit(xs, np.arange(8) % 2, epochs=1, batch_size=4, verbose=0)
    for b, w in zip(before, conv_base.weights):
        np.testing.assert_array_equal(b, w.numpy())
    vgg = keras.applications.vgg16.preprocess_input(xs.copy())
    np.testing.assert_allclose(vgg[..., 0], xs[..., 2] - 103.939, rtol=1e-6)

    # The notebook's get_features_and_labels: preprocess_input on the dataset's Tensors, then
    # conv_base.predict and np.concatenate.
    dataset = tf.data.Dataset.from_tensor_slices((xs, np.arange(8) % 2)).batch(4)

    def get_features_and_labels(dataset):
        all_features = []
        all_labels = []
        for images, labels in dataset:
            preprocessed_images = keras.applications.vgg16.preprocess_input(images)
            features = conv_base.predict(preprocessed_images, verbose=0)
            all_features.append(features)
            all_labels.append(labels)
        return np.concatenate(all_features), np.concatenate(all_labels)

    train_features, train_labels = get_features_and_labels(dataset)
    assert train_features.shape == (8, 5, 5, 8) and train_labels.shape == (8,)
    bgr = xs[..., ::-1] - np.array([103.939, 116.779, 123.68], "float32")
    np.testing.assert_allclose(train_features, conv_base.predict(bgr, verbose=0), rtol=1e-5,
                               atol=1e-5)


# ----------------------------------------------------------------------------- chapter 9

def test_ch09_residual_blocks():
    inputs = keras.Input(shape=(32, 32, 3))
    x = layers.Conv2D(32, 3, activation="relu")(inputs)
    residual = x
    x = layers.Conv2D(64, 3, activation="relu", padding="same")(x)
    residual = layers.Conv2D(64, 1)(residual)
    x = layers.add([x, residual])
    assert tuple(x.shape) == (None, 30, 30, 64)

    inputs = keras.Input(shape=(32, 32, 3))
    x = layers.Conv2D(32, 3, activation="relu")(inputs)
    residual = x
    x = layers.Conv2D(64, 3, activation="relu", padding="same")(x)
    x = layers.MaxPooling2D(2, padding="same")(x)
    residual = layers.Conv2D(64, 1, strides=2)(residual)
    x = layers.add([x, residual])
    assert tuple(x.shape) == (None, 15, 15, 64)

    # The projection shortcut against NumPy: a strided 1x1 conv is a matmul on every 2nd pixel.
    proj = layers.Conv2D(4, 1, strides=2)
    a = np.random.default_rng(0).normal(size=(2, 7, 7, 3)).astype("float32")
    got = proj(a).numpy()
    ref = a[:, ::2, ::2, :] @ proj.kernel.numpy()[0, 0] + proj.bias.numpy()
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)

    inputs = keras.Input(shape=(16, 16, 3))
    x = layers.Rescaling(1./255)(inputs)

    def residual_block(x, filters, pooling=False):
        residual = x
        x = layers.Conv2D(filters, 3, activation="relu", padding="same")(x)
        x = layers.Conv2D(filters, 3, activation="relu", padding="same")(x)
        if pooling:
            x = layers.MaxPooling2D(2, padding="same")(x)
            residual = layers.Conv2D(filters, 1, strides=2)(residual)
        elif filters != residual.shape[-1]:
            residual = layers.Conv2D(filters, 1)(residual)
        x = layers.add([x, residual])
        return x

    x = residual_block(x, filters=4, pooling=True)
    x = residual_block(x, filters=8, pooling=True)
    x = residual_block(x, filters=16, pooling=False)
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Dense(1, activation="sigmoid")(x)
    model = keras.Model(inputs=inputs, outputs=outputs)
    assert tuple(model.layers[-3].output.shape) == (None, 4, 4, 16)
    model.compile(loss="binary_crossentropy", optimizer="rmsprop")
    xs = np.random.randint(0, 255, (8, 16, 16, 3)).astype("float32")
    model.fit(xs, np.arange(8) % 2, epochs=1, batch_size=4, verbose=0)


def test_ch09_batchnorm_separable_mini_xception():
    # BatchNormalization: batch statistics in training, moving ones at inference (NumPy).
    bn = layers.BatchNormalization()
    a = np.random.default_rng(1).normal(2.0, 3.0, size=(16, 5)).astype("float32")
    out = bn(a, training=True).numpy()
    np.testing.assert_allclose(out, (a - a.mean(0)) / np.sqrt(a.var(0) + 1e-3), rtol=1e-4,
                               atol=1e-4)
    np.testing.assert_allclose(bn.moving_mean.numpy(), 0.01 * a.mean(0), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(bn(a, training=False).numpy(),
                               (a - bn.moving_mean.numpy())
                               / np.sqrt(bn.moving_variance.numpy() + 1e-3), rtol=1e-4,
                               atol=1e-5)

    # SeparableConv2D: depthwise then pointwise, against NumPy.
    sep = layers.SeparableConv2D(4, 3, padding="same", use_bias=False)
    x = np.random.default_rng(2).normal(size=(2, 6, 6, 3)).astype("float32")
    got = sep(x).numpy()
    dk = sep.depthwise_kernel.numpy()   # (3, 3, 3, 1)
    pk = sep.pointwise_kernel.numpy()   # (1, 1, 3, 4)
    xp = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    dw = np.zeros((2, 6, 6, 3))
    for i in range(3):
        for j in range(3):
            dw += xp[:, i:i + 6, j:j + 6, :] * dk[i, j, :, 0]
    np.testing.assert_allclose(got, dw @ pk[0, 0], rtol=1e-4, atol=1e-5)

    data_augmentation = keras.Sequential(
        [
            layers.RandomFlip("horizontal"),
            layers.RandomRotation(0.1),
            layers.RandomZoom(0.2),
        ]
    )
    inputs = keras.Input(shape=(24, 24, 3))
    x = data_augmentation(inputs)
    x = layers.Rescaling(1./255)(x)
    x = layers.Conv2D(filters=8, kernel_size=5, use_bias=False)(x)
    for size in [8, 16]:
        residual = x
        x = layers.BatchNormalization()(x)
        x = layers.Activation("relu")(x)
        x = layers.SeparableConv2D(size, 3, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization()(x)
        x = layers.Activation("relu")(x)
        x = layers.SeparableConv2D(size, 3, padding="same", use_bias=False)(x)
        x = layers.MaxPooling2D(3, strides=2, padding="same")(x)
        residual = layers.Conv2D(
            size, 1, strides=2, padding="same", use_bias=False)(residual)
        x = layers.add([x, residual])
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(0.5)(x)
    outputs = layers.Dense(1, activation="sigmoid")(x)
    model = keras.Model(inputs=inputs, outputs=outputs)
    assert tuple(model.layers[-4].output.shape) == (None, 5, 5, 16)
    model.compile(loss="binary_crossentropy", optimizer="rmsprop", metrics=["accuracy"])
    rng = np.random.default_rng(3)
    ys = np.arange(16) % 2
    xs = rng.integers(0, 100, (16, 24, 24, 3)).astype("float32")
    xs[ys == 1, :, :, 0] += 150
    history = model.fit(xs, ys, epochs=3, batch_size=8, verbose=0)
    assert all(np.isfinite(history.history["loss"]))
