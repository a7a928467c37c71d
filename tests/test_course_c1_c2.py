"""DeepLearning.AI "TensorFlow Developer Professional Certificate" course 1 (Introduction to
TensorFlow) and course 2 (Convolutional Neural Networks in TensorFlow) lab and assignment
code, plus Udacity's "Intro to TensorFlow for Deep Learning" lessons 2-5, run with only the
import line changed (`import nabi as tf`). Downloads become tiny local data: image folders of
a few small PNG/JPEG files written with PIL, Fashion MNIST a few hundred MNIST digits from
nabi's loader ($NABI_DATASETS) or class-patterned noise without them. Fewer epochs, narrower
layers. Numbers are checked against NumPy / plain Python where cheap, otherwise shapes,
dtypes and a falling loss."""
import csv
import math
import os
import random
import shutil

import numpy as np
import pytest

import nabi as tf
from nabi import keras
from nabi.keras.preprocessing.image import ImageDataGenerator

PIL = pytest.importorskip("PIL")
from PIL import Image  # noqa: E402


def _pyplot():
    """matplotlib.pyplot on the Agg backend, or None where matplotlib (optional: nabi[plot])
    is not installed; the plotting cells then are skipped, the checks before them still run."""
    try:
        import matplotlib
    except ImportError:
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def setup_function(_):
    tf.keras.backend.clear_session()
    tf.random.set_seed(1)
    np.random.seed(1)
    random.seed(1)


def _digits(n=300):
    """(images uint8 (n, 28, 28), labels uint8 (n,)): MNIST digits when $NABI_DATASETS has
    them, else noise with a class-dependent bright band."""
    d = os.environ.get("NABI_DATASETS", "")
    if d and os.path.isdir(os.path.join(d, "mnist")):
        (x, y), _ = tf.keras.datasets.mnist.load_data()
        return x[:n], y[:n]
    rng = np.random.default_rng(0)
    y = rng.integers(0, 10, size=n).astype(np.uint8)
    x = (rng.random((n, 28, 28)) * 80).astype(np.uint8)
    for i, k in enumerate(y):
        x[i, 2 * k:2 * k + 6, 4:24] = 250
    return x, y


def _write_class_images(root, classes, per_class, size=(24, 24), ext="png", seed=0):
    """root/<class>/<class>.<i>.<ext> files: class k is a bright square in quadrant k over
    noise, so a small CNN can tell them apart. Returns {path: uint8 array as written}."""
    rng = np.random.default_rng(seed)
    written = {}
    for k, name in enumerate(classes):
        os.makedirs(os.path.join(root, name), exist_ok=True)
        for i in range(per_class):
            a = (rng.random(size + (3,)) * 60).astype(np.uint8)
            h, w = size[0] // 2, size[1] // 2
            r0, c0 = (k % 2) * h, ((k // 2) % 2) * w
            a[r0:r0 + h, c0:c0 + w, k % 3] = 230
            p = os.path.join(root, name, f"{name}.{i}.{ext}")
            Image.fromarray(a).save(p)
            written[p] = a
    return written


# ----------------------------------------------------------------------------------------
# C1 W1: "Hello World" of neural networks; Udacity L2: Celsius to Fahrenheit
# ----------------------------------------------------------------------------------------

def test_c1w1_hello_world_matches_numpy_sgd():
    model = tf.keras.Sequential([keras.layers.Dense(units=1, input_shape=[1])])
    model.compile(optimizer='sgd', loss='mean_squared_error')
    xs = np.array([-1.0, 0.0, 1.0, 2.0, 3.0, 4.0], dtype=float)
    ys = np.array([-3.0, -1.0, 1.0, 3.0, 5.0, 7.0], dtype=float)
    w0, b0 = [v.astype(np.float64) for v in model.get_weights()]
    model.fit(xs, ys, epochs=300, verbose=0)
    # NumPy: full-batch gradient descent on the mean squared error, lr 0.01 (SGD's default)
    w, b = float(w0[0, 0]), float(b0[0])
    for _ in range(300):
        e = w * xs + b - ys
        w, b = w - 0.01 * 2 * np.mean(e * xs), b - 0.01 * 2 * np.mean(e)
    wk, bk = model.get_weights()
    np.testing.assert_allclose([wk[0, 0], bk[0]], [w, b], rtol=1e-4, atol=1e-4)
    pred = model.predict(np.array([10.0]), verbose=0)
    assert pred.shape == (1, 1)
    np.testing.assert_allclose(pred[0, 0], 10 * w + b, rtol=1e-4)
    assert abs(pred[0, 0] - 19.0) < 0.5


def test_udacity_celsius_to_fahrenheit_adam_converges():
    celsius_q = np.array([-40, -10, 0, 8, 15, 22, 38], dtype=float)
    fahrenheit_a = celsius_q * 1.8 + 32
    for i, c in enumerate(celsius_q):
        assert "{} degrees Celsius = {} degrees Fahrenheit".format(c, fahrenheit_a[i])
    l0 = tf.keras.layers.Dense(units=1, input_shape=[1])
    model = tf.keras.Sequential([l0])
    model.compile(loss='mean_squared_error', optimizer=tf.keras.optimizers.Adam(0.1))
    w0, b0 = [v.astype(np.float64) for v in l0.get_weights()]
    history = model.fit(celsius_q, fahrenheit_a, epochs=1500, verbose=False)
    loss = history.history['loss']
    assert len(loss) == 1500 and loss[-1] < 1e-2 * loss[0]
    # NumPy Adam (Keras defaults: beta1 0.9, beta2 0.999, epsilon 1e-7) from the same start
    p = np.array([w0[0, 0], b0[0]])
    m = np.zeros(2)
    v = np.zeros(2)
    for t in range(1, 1501):
        e = p[0] * celsius_q + p[1] - fahrenheit_a
        g = np.array([2 * np.mean(e * celsius_q), 2 * np.mean(e)])
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        lr = 0.1 * np.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t)
        p = p - lr * m / (np.sqrt(v) + 1e-7)
    w, b = l0.get_weights()
    np.testing.assert_allclose([w[0, 0], b[0]], p, rtol=2e-3, atol=2e-2)
    assert abs(w[0, 0] - 1.8) < 0.01 and abs(b[0] - 32.0) < 0.5
    print("These are the layer variables: {}".format(l0.get_weights()))
    np.testing.assert_allclose(model.predict(np.array([100.0]), verbose=0)[0, 0],
                               100 * w[0, 0] + b[0], rtol=1e-5)

    # the lesson's three-layer variant
    l0 = tf.keras.layers.Dense(units=4, input_shape=[1])
    l1 = tf.keras.layers.Dense(units=4)
    l2 = tf.keras.layers.Dense(units=1)
    model = tf.keras.Sequential([l0, l1, l2])
    model.compile(loss='mean_squared_error', optimizer=tf.keras.optimizers.Adam(0.1))
    h = model.fit(celsius_q, fahrenheit_a, epochs=200, verbose=False)
    assert h.history['loss'][-1] < 0.05 * h.history['loss'][0]
    assert [a.shape for a in l1.get_weights()] == [(4, 4), (4,)]
    # a linear stack: the product of the kernels is the slope
    slope = (l0.get_weights()[0] @ l1.get_weights()[0] @ l2.get_weights()[0])[0, 0]
    assert abs(slope - 1.8) < 0.2


# ----------------------------------------------------------------------------------------
# C1 W2: Fashion MNIST with a callback; Udacity L3: Fashion MNIST through tf.data
# ----------------------------------------------------------------------------------------

def test_c1w2_fashion_mnist_callback_stops_training(capsys):
    class myCallback(tf.keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs={}):
            if logs.get('accuracy') > 0.95:
                print("\nReached 95% accuracy so cancelling training!")
                self.model.stop_training = True

    x, y = _digits(300)
    training_images, training_labels = x[:240], y[:240]
    test_images, test_labels = x[240:], y[240:]
    training_images = training_images / 255.0
    test_images = test_images / 255.0
    callbacks = myCallback()
    model = tf.keras.models.Sequential([
        tf.keras.layers.Flatten(),
        tf.keras.layers.Dense(64, activation=tf.nn.relu),
        tf.keras.layers.Dense(10, activation=tf.nn.softmax)])
    model.compile(optimizer=tf.optimizers.Adam(), loss='sparse_categorical_crossentropy',
                  metrics=['accuracy'])
    history = model.fit(training_images, training_labels, epochs=40, callbacks=[callbacks],
                        verbose=0)
    acc = history.history['accuracy']
    first = next(i for i, a in enumerate(acc) if a > 0.95)
    assert len(acc) == first + 1 < 40
    assert "Reached 95% accuracy so cancelling training!" in capsys.readouterr().out
    loss, accuracy = model.evaluate(test_images, test_labels, verbose=0)
    assert np.isfinite(loss) and 0.0 <= accuracy <= 1.0
    classifications = model.predict(test_images, verbose=0)
    assert classifications.shape == (60, 10)
    np.testing.assert_allclose(classifications.sum(axis=1), 1.0, rtol=1e-5)
    # evaluate's accuracy is the argmax hit rate of predict
    np.testing.assert_allclose(accuracy, np.mean(np.argmax(classifications, 1) == test_labels),
                               atol=1e-6)
    print(classifications[0], test_labels[0])


def test_udacity_fashion_mnist_tf_data_pipeline():
    x, y = _digits(256)
    dataset = {'train': tf.data.Dataset.from_tensor_slices((x[:192, :, :, None], y[:192])),
               'test': tf.data.Dataset.from_tensor_slices((x[192:, :, :, None], y[192:]))}
    train_dataset, test_dataset = dataset['train'], dataset['test']
    class_names = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat',
                   'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot']
    num_train_examples, num_test_examples = 192, 64

    def normalize(images, labels):
        images = tf.cast(images, tf.float32)
        images /= 255
        return images, labels

    train_dataset = train_dataset.map(normalize)
    test_dataset = test_dataset.map(normalize)
    train_dataset = train_dataset.cache()
    test_dataset = test_dataset.cache()
    for image, label in test_dataset.take(1):
        break
    image = image.numpy().reshape((28, 28))
    np.testing.assert_allclose(image, x[192].astype(np.float32) / 255, rtol=1e-6)
    assert class_names[int(label.numpy())] == class_names[y[192]]

    model = tf.keras.Sequential([
        tf.keras.layers.Flatten(input_shape=(28, 28, 1)),
        tf.keras.layers.Dense(32, activation=tf.nn.relu),
        tf.keras.layers.Dense(10, activation=tf.nn.softmax)])
    model.compile(optimizer='adam', loss=tf.keras.losses.SparseCategoricalCrossentropy(),
                  metrics=['accuracy'])
    BATCH_SIZE = 32
    train_dataset = train_dataset.cache().repeat().shuffle(num_train_examples).batch(BATCH_SIZE)
    test_dataset = test_dataset.cache().batch(BATCH_SIZE)
    h = model.fit(train_dataset, epochs=4,
                  steps_per_epoch=math.ceil(num_train_examples / BATCH_SIZE), verbose=0)
    assert len(h.history['loss']) == 4 and h.history['loss'][-1] < h.history['loss'][0]
    test_loss, test_accuracy = model.evaluate(test_dataset,
                                              steps=math.ceil(num_test_examples / 32),
                                              verbose=0)
    assert np.isfinite(test_loss)
    for test_images, test_labels in test_dataset.take(1):
        test_images = test_images.numpy()
        test_labels = test_labels.numpy()
        predictions = model.predict(test_images, verbose=0)
    assert predictions.shape == (32, 10) and test_images.shape == (32, 28, 28, 1)
    assert int(np.argmax(predictions[0])) in range(10)
    img = test_images[0]
    img = np.array([img])
    assert model.predict(img, verbose=0).shape == (1, 10)


# ----------------------------------------------------------------------------------------
# C1 W3: convolutions and pooling by hand; visualising the layers' activations
# ----------------------------------------------------------------------------------------

def test_c1w3_hand_made_filter_and_pooling_match_nn_ops(tmp_path):
    rng = np.random.default_rng(3)
    ascent_image = (rng.random((20, 20)) * 255).astype(np.int64)   # scipy's misc.ascent()
    image_transformed = np.copy(ascent_image)
    size_x = image_transformed.shape[0]
    size_y = image_transformed.shape[1]
    filter = [[-1, -2, -1], [0, 0, 0], [1, 2, 1]]
    weight = 1
    for x in range(1, size_x - 1):
        for y in range(1, size_y - 1):
            convolution = 0.0
            convolution = convolution + (ascent_image[x - 1, y - 1] * filter[0][0])
            convolution = convolution + (ascent_image[x - 1, y] * filter[0][1])
            convolution = convolution + (ascent_image[x - 1, y + 1] * filter[0][2])
            convolution = convolution + (ascent_image[x, y - 1] * filter[1][0])
            convolution = convolution + (ascent_image[x, y] * filter[1][1])
            convolution = convolution + (ascent_image[x, y + 1] * filter[1][2])
            convolution = convolution + (ascent_image[x + 1, y - 1] * filter[2][0])
            convolution = convolution + (ascent_image[x + 1, y] * filter[2][1])
            convolution = convolution + (ascent_image[x + 1, y + 1] * filter[2][2])
            convolution = convolution * weight
            if convolution < 0:
                convolution = 0
            if convolution > 255:
                convolution = 255
            image_transformed[x, y] = convolution
    # the same filter as a conv2d (cross-correlation), clipped like the loop
    img = tf.constant(ascent_image.astype(np.float32)[None, :, :, None])
    k = tf.constant(np.array(filter, np.float32)[:, :, None, None] * weight)
    conv = tf.clip_by_value(tf.nn.conv2d(img, k, strides=1, padding='VALID'), 0., 255.)
    np.testing.assert_array_equal(conv.numpy()[0, :, :, 0], image_transformed[1:-1, 1:-1])

    new_x = int(size_x / 2)
    new_y = int(size_y / 2)
    newImage = np.zeros((new_x, new_y))
    for x in range(0, size_x, 2):
        for y in range(0, size_y, 2):
            pixels = []
            pixels.append(image_transformed[x, y])
            pixels.append(image_transformed[x + 1, y])
            pixels.append(image_transformed[x, y + 1])
            pixels.append(image_transformed[x + 1, y + 1])
            pixels.sort(reverse=True)
            newImage[int(x / 2), int(y / 2)] = pixels[0]
    pooled = tf.nn.max_pool2d(tf.constant(image_transformed.astype(np.float32)[None, :, :, None]),
                              ksize=2, strides=2, padding='VALID')
    np.testing.assert_array_equal(pooled.numpy()[0, :, :, 0], newImage)
    mp = tf.keras.layers.MaxPooling2D(2, 2)(image_transformed.astype(np.float32)[None, :, :, None])
    np.testing.assert_array_equal(np.asarray(mp)[0, :, :, 0], newImage)

    plt = _pyplot()
    if plt is None:
        return
    plt.gray()
    plt.grid(False)
    plt.imshow(newImage)
    plt.savefig(tmp_path / "pooled.png")
    plt.close("all")
    assert (tmp_path / "pooled.png").stat().st_size > 0


def _np_conv_valid(x, w, b):
    """x (H, W, Cin), w (kh, kw, Cin, Cout): 'valid' cross-correlation plus bias, float64."""
    kh, kw = w.shape[:2]
    H, W = x.shape[0] - kh + 1, x.shape[1] - kw + 1
    out = np.zeros((H, W, w.shape[3]))
    for i in range(kh):
        for j in range(kw):
            out += np.einsum('hwc,cd->hwd', x[i:i + H, j:j + W], w[i, j])
    return out + b


def test_c1w3_cnn_and_activation_model():
    x, y = _digits(160)
    training_images = (x[:128] / 255.0).reshape(128, 28, 28, 1)
    test_images = (x[128:] / 255.0).reshape(32, 28, 28, 1)
    training_labels, test_labels = y[:128], y[128:]
    model = tf.keras.models.Sequential([
        tf.keras.layers.Conv2D(8, (3, 3), activation='relu', input_shape=(28, 28, 1)),
        tf.keras.layers.MaxPooling2D(2, 2),
        tf.keras.layers.Conv2D(8, (3, 3), activation='relu'),
        tf.keras.layers.MaxPooling2D(2, 2),
        tf.keras.layers.Flatten(),
        tf.keras.layers.Dense(32, activation='relu'),
        tf.keras.layers.Dense(10, activation='softmax')])
    model.compile(optimizer='adam', loss='sparse_categorical_crossentropy',
                  metrics=['accuracy'])
    model.summary()
    # the summary's parameter counts: (3*3*cin + 1) * cout per conv, (in + 1) * out per dense
    assert [l.count_params() for l in model.layers] == [80, 0, 584, 0, 0, 6432, 330]
    assert model.count_params() == 80 + 584 + 200 * 32 + 32 + 33 * 10
    h = model.fit(training_images, training_labels, epochs=3, verbose=0)
    assert h.history['loss'][-1] < h.history['loss'][0]
    test_loss = model.evaluate(test_images, test_labels, verbose=0)
    assert len(test_loss) == 2

    FIRST_IMAGE, CONVOLUTION_NUMBER = 0, 1
    layer_outputs = [layer.output for layer in model.layers]
    activation_model = tf.keras.models.Model(inputs=model.input, outputs=layer_outputs)
    outs = activation_model.predict(test_images[FIRST_IMAGE].reshape(1, 28, 28, 1), verbose=0)
    assert [o.shape for o in outs] == [(1, 26, 26, 8), (1, 13, 13, 8), (1, 11, 11, 8),
                                      (1, 5, 5, 8), (1, 200), (1, 32), (1, 10)]
    for x_ in range(0, 4):
        f1 = outs[x_]
        assert f1[0, :, :, CONVOLUTION_NUMBER].ndim == 2
    # the first layer's activation against a NumPy convolution with its weights
    w, b = model.layers[0].get_weights()
    ref = np.maximum(_np_conv_valid(test_images[0].astype(np.float64), w, b), 0)
    np.testing.assert_allclose(outs[0][0], ref, rtol=1e-4, atol=1e-5)
    ref_pool = ref[:26, :26].reshape(13, 2, 13, 2, 8).max(axis=(1, 3))
    np.testing.assert_allclose(outs[1][0], ref_pool, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(outs[-1], model.predict(test_images[:1], verbose=0), rtol=1e-5)


# ----------------------------------------------------------------------------------------
# C1 W4: horses vs humans with flow_from_directory
# ----------------------------------------------------------------------------------------

def test_c1w4_horses_humans_flow_from_directory(tmp_path, capsys):
    base = str(tmp_path / "horse-or-human")
    written = _write_class_images(base, ["horses", "humans"], per_class=12)
    vbase = str(tmp_path / "validation-horse-or-human")
    _write_class_images(vbase, ["horses", "humans"], per_class=4, seed=1)
    train_horse_dir = os.path.join(base, 'horses')
    train_human_dir = os.path.join(base, 'humans')
    train_horse_names = os.listdir(train_horse_dir)
    print('total training horse images:', len(os.listdir(train_horse_dir)))
    assert len(train_horse_names) == 12 and len(os.listdir(train_human_dir)) == 12

    train_datagen = ImageDataGenerator(rescale=1 / 255)
    validation_datagen = ImageDataGenerator(rescale=1 / 255)
    train_generator = train_datagen.flow_from_directory(
        base, target_size=(24, 24), batch_size=8, class_mode='binary')
    validation_generator = validation_datagen.flow_from_directory(
        vbase, target_size=(24, 24), batch_size=8, class_mode='binary')
    assert "Found 24 images belonging to 2 classes." in capsys.readouterr().out
    assert train_generator.class_indices == {'horses': 0, 'humans': 1}
    assert list(train_generator.classes) == [0] * 12 + [1] * 12
    assert train_generator.samples == 24 and len(train_generator) == 3
    assert train_generator.filenames == sorted(
        os.path.join('horses', f) for f in train_horse_names) + sorted(
        os.path.join('humans', f) for f in os.listdir(train_human_dir))

    # a batch in file order is the PNG pixels times 1/255, with the class as a float label
    plain = train_datagen.flow_from_directory(base, target_size=(24, 24), batch_size=8,
                                              class_mode='binary', shuffle=False)
    xb, yb = plain[2]
    assert xb.shape == (8, 24, 24, 3) and xb.dtype == np.float32
    assert yb.dtype == np.float32 and list(yb) == [1.0] * 8
    ref = np.stack([written[os.path.join(base, f)] for f in plain.filenames[16:24]])
    np.testing.assert_allclose(xb, ref.astype(np.float32) * np.float32(1 / 255), rtol=1e-6)
    # target_size resizes (nearest, like load_img)
    small = train_datagen.flow_from_directory(base, target_size=(12, 12), batch_size=4,
                                              class_mode=None, shuffle=False)
    xs = next(small)
    assert xs.shape == (4, 12, 12, 3)
    first = Image.open(os.path.join(base, small.filenames[0])).resize((12, 12), Image.NEAREST)
    np.testing.assert_allclose(xs[0], np.asarray(first, np.float32) / 255, rtol=1e-6)

    model = tf.keras.models.Sequential([
        tf.keras.layers.Conv2D(8, (3, 3), activation='relu', input_shape=(24, 24, 3)),
        tf.keras.layers.MaxPooling2D(2, 2),
        tf.keras.layers.Conv2D(8, (3, 3), activation='relu'),
        tf.keras.layers.MaxPooling2D(2, 2),
        tf.keras.layers.Flatten(),
        tf.keras.layers.Dense(16, activation='relu'),
        tf.keras.layers.Dense(1, activation='sigmoid')])
    from nabi.keras.optimizers import RMSprop
    model.compile(loss='binary_crossentropy', optimizer=RMSprop(learning_rate=0.001),
                  metrics=['accuracy'])
    history = model.fit(train_generator, steps_per_epoch=3, epochs=6, verbose=0,
                        validation_data=validation_generator, validation_steps=1)
    assert set(history.history) == {'loss', 'accuracy', 'val_loss', 'val_accuracy'}
    assert history.history['loss'][-1] < history.history['loss'][0]

    # the notebook's prediction cell on "uploaded" files
    from nabi.keras.preprocessing import image
    for fn in sorted(os.listdir(vbase + '/humans'))[:2]:
        path = vbase + '/humans/' + fn
        img = image.load_img(path, target_size=(24, 24))
        x = image.img_to_array(img)
        x /= 255
        x = np.expand_dims(x, axis=0)
        images = np.vstack([x])
        classes = model.predict(images, batch_size=10, verbose=0)
        assert classes.shape == (1, 1) and 0.0 <= classes[0][0] <= 1.0
        print(fn + (" is a human" if classes[0] > 0.5 else " is a horse"))

    # visualising intermediate representations
    successive_outputs = [layer.output for layer in model.layers[1:]]
    visualization_model = tf.keras.models.Model(inputs=model.input, outputs=successive_outputs)
    successive_feature_maps = visualization_model.predict(x, verbose=0)
    layer_names = [layer.name for layer in model.layers[1:]]
    assert len(layer_names) == len(successive_feature_maps) == 6
    for layer_name, feature_map in zip(layer_names, successive_feature_maps):
        if len(feature_map.shape) == 4:
            n_features = feature_map.shape[-1]
            size = feature_map.shape[1]
            display_grid = np.zeros((size, size * n_features))
            for i in range(n_features):
                xi = feature_map[0, :, :, i]
                xi -= xi.mean()
                xi /= (xi.std() + 1e-8)
                xi *= 64
                xi += 128
                xi = np.clip(xi, 0, 255).astype('uint8')
                display_grid[:, i * size: (i + 1) * size] = xi
            assert display_grid.max() <= 255


def test_flow_from_directory_modes_and_validation_split(tmp_path):
    base = str(tmp_path / "rps")
    _write_class_images(base, ["rock", "paper", "scissors"], per_class=5)
    # a nested folder and a non-image file: files are found recursively, others ignored
    os.makedirs(os.path.join(base, "rock", "more"))
    Image.fromarray(np.zeros((24, 24, 3), np.uint8)).save(os.path.join(base, "rock", "more",
                                                                       "z.jpg"))
    with open(os.path.join(base, "paper", "notes.txt"), "w") as f:
        f.write("not an image")
    gen = ImageDataGenerator(rescale=1. / 255, validation_split=0.4)
    full = gen.flow_from_directory(base, target_size=(24, 24), class_mode='categorical',
                                   shuffle=False)
    assert full.class_indices == {'paper': 0, 'rock': 1, 'scissors': 2}
    assert full.samples == 16
    # each class's folders walked in sorted order, the files of each sorted
    assert full.filenames[5:11] == [os.path.join('rock', f'rock.{i}.png') for i in range(5)] + \
        [os.path.join('rock', 'more', 'z.jpg')]
    x, y = full[0]
    assert y.shape == (16, 3) and y.dtype == np.float32
    np.testing.assert_array_equal(y, np.eye(3, dtype=np.float32)[full.classes])
    tr = gen.flow_from_directory(base, target_size=(24, 24), subset='training',
                                 class_mode='sparse', shuffle=False)
    va = gen.flow_from_directory(base, target_size=(24, 24), subset='validation',
                                 class_mode='sparse', shuffle=False)
    # per class: the first int(0.4 * n) files for validation, the rest for training
    assert va.filenames == [os.path.join(*p.split('/')) for p in (
        'paper/paper.0.png', 'paper/paper.1.png', 'rock/rock.0.png', 'rock/rock.1.png',
        'scissors/scissors.0.png', 'scissors/scissors.1.png')]
    assert tr.samples == 10 and list(tr.classes) == [0, 0, 0, 1, 1, 1, 1, 2, 2, 2]
    assert list(va[0][1]) == [0, 0, 1, 1, 2, 2]
    g = gen.flow_from_directory(base, target_size=(24, 24), color_mode='grayscale',
                                class_mode='input', batch_size=4, shuffle=False)
    xg, yg = g[0]
    assert xg.shape == (4, 24, 24, 1)
    np.testing.assert_array_equal(xg, yg)
    sub = gen.flow_from_directory(base, target_size=(24, 24), classes=['scissors', 'rock'],
                                  class_mode='binary')
    assert sub.class_indices == {'scissors': 0, 'rock': 1} and sub.samples == 11
    # shuffled: every file exactly once per epoch
    sh = gen.flow_from_directory(base, target_size=(24, 24), batch_size=5, seed=3,
                                 class_mode='sparse')
    labels = np.concatenate([sh[i][1] for i in range(len(sh))])
    assert sorted(labels.tolist()) == sorted(full.classes.tolist())
    with pytest.raises(ValueError, match="flow_from_directory"):
        gen.flow_from_directory(str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="class_mode"):
        gen.flow_from_directory(base, class_mode='multi')
    with pytest.raises(ValueError, match="target_size"):
        gen.flow_from_directory(base, target_size=None)
    with pytest.raises(ValueError, match="color_mode"):
        gen.flow_from_directory(base, color_mode='cmyk')


# ----------------------------------------------------------------------------------------
# C2 W1-W2: cats vs dogs, splitting folders, augmentation, plotting the history
# ----------------------------------------------------------------------------------------

def test_c2_cats_vs_dogs_split_augment_and_plot(tmp_path):
    source = str(tmp_path / "PetImages")
    _write_class_images(source, ["Cat", "Dog"], per_class=10, ext="jpg")
    open(os.path.join(source, "Cat", "666.jpg"), "wb").close()     # the empty file
    root_dir = str(tmp_path / "cats-v-dogs")
    for d in ("training/cats", "training/dogs", "testing/cats", "testing/dogs"):
        os.makedirs(os.path.join(root_dir, d))

    def split_data(SOURCE, TRAINING, TESTING, SPLIT_SIZE):
        files = []
        for filename in os.listdir(SOURCE):
            file = SOURCE + filename
            if os.path.getsize(file) > 0:
                files.append(filename)
            else:
                print(filename + " is zero length, so ignoring.")
        training_length = int(len(files) * SPLIT_SIZE)
        testing_length = int(len(files) - training_length)
        shuffled_set = random.sample(files, len(files))
        training_set = shuffled_set[0:training_length]
        testing_set = shuffled_set[-testing_length:]
        for filename in training_set:
            shutil.copyfile(SOURCE + filename, TRAINING + filename)
        for filename in testing_set:
            shutil.copyfile(SOURCE + filename, TESTING + filename)

    split_data(source + "/Cat/", root_dir + "/training/cats/", root_dir + "/testing/cats/", .8)
    split_data(source + "/Dog/", root_dir + "/training/dogs/", root_dir + "/testing/dogs/", .8)
    assert len(os.listdir(root_dir + "/training/cats/")) == 8
    assert len(os.listdir(root_dir + "/testing/dogs/")) == 2

    train_datagen = ImageDataGenerator(rescale=1.0 / 255., rotation_range=40,
                                       width_shift_range=0.2, height_shift_range=0.2,
                                       shear_range=0.2, zoom_range=0.2, horizontal_flip=True,
                                       fill_mode='nearest')
    train_generator = train_datagen.flow_from_directory(root_dir + "/training/", batch_size=4,
                                                        class_mode='binary',
                                                        target_size=(24, 24))
    validation_datagen = ImageDataGenerator(rescale=1.0 / 255.)
    validation_generator = validation_datagen.flow_from_directory(root_dir + "/testing/",
                                                                  batch_size=4,
                                                                  class_mode='binary',
                                                                  target_size=(24, 24))
    assert train_generator.class_indices == {'cats': 0, 'dogs': 1}
    xb, yb = next(train_generator)
    assert xb.shape == (4, 24, 24, 3) and xb.min() >= 0.0 and xb.max() <= 1.0 + 1e-6
    assert set(yb.tolist()) <= {0.0, 1.0}

    model = tf.keras.models.Sequential([
        tf.keras.layers.Conv2D(8, (3, 3), activation='relu', input_shape=(24, 24, 3)),
        tf.keras.layers.MaxPooling2D(2, 2),
        tf.keras.layers.Conv2D(8, (3, 3), activation='relu'),
        tf.keras.layers.MaxPooling2D(2, 2),
        tf.keras.layers.Flatten(),
        tf.keras.layers.Dense(16, activation='relu'),
        tf.keras.layers.Dense(1, activation='sigmoid')])
    model.compile(optimizer=tf.keras.optimizers.RMSprop(learning_rate=0.001),
                  loss='binary_crossentropy', metrics=['accuracy'])
    history = model.fit(train_generator, epochs=3, verbose=0,
                        validation_data=validation_generator)
    acc = history.history['accuracy']
    val_acc = history.history['val_accuracy']
    loss = history.history['loss']
    val_loss = history.history['val_loss']
    epochs = range(len(acc))
    assert len(acc) == len(val_acc) == len(loss) == len(val_loss) == 3
    assert all(np.isfinite(loss)) and all(np.isfinite(val_loss))

    plt = _pyplot()
    if plt is None:
        return
    plt.plot(epochs, acc, 'r', label="Training Accuracy")
    plt.plot(epochs, val_acc, 'b', label="Validation Accuracy")
    plt.title('Training and validation accuracy')
    plt.figure()
    plt.plot(epochs, loss, 'r', label="Training Loss")
    plt.plot(epochs, val_loss, 'b', label="Validation Loss")
    plt.savefig(tmp_path / "history.png")
    plt.close("all")
    assert (tmp_path / "history.png").stat().st_size > 0


def test_augmentation_flip_only_and_rescale_vs_numpy(tmp_path):
    base = str(tmp_path / "flip")
    written = _write_class_images(base, ["a"], per_class=6)
    gen = ImageDataGenerator(rescale=1. / 255, horizontal_flip=True)
    it = gen.flow_from_directory(base, target_size=(24, 24), batch_size=6, shuffle=False,
                                 class_mode='sparse', seed=0)
    x, y = it[0]
    for i, f in enumerate(it.filenames):
        a = written[os.path.join(base, f)].astype(np.float32) * np.float32(1 / 255)
        assert np.allclose(x[i], a) or np.allclose(x[i], a[:, ::-1]), i
    # Udacity: the same training image, augmented five times
    augmented_images = [it[0][0][0] for i in range(5)]
    assert all(a.shape == (24, 24, 3) for a in augmented_images)


# ----------------------------------------------------------------------------------------
# C2 W3: transfer learning, a base truncated at 'mixed7'
# ----------------------------------------------------------------------------------------

def _inception_like_base(input_shape):
    """A small InceptionV3-shaped base: a stem then 'mixedN' concatenation blocks."""
    from nabi.keras import layers
    inp = layers.Input(shape=input_shape)
    x = layers.Conv2D(8, 3, strides=2, activation='relu', name='conv2d_stem')(inp)
    for n in range(5, 9):
        a = layers.Conv2D(4, 1, activation='relu', padding='same')(x)
        b = layers.Conv2D(4, 3, activation='relu', padding='same')(x)
        c = layers.MaxPooling2D(3, strides=1, padding='same')(x)
        x = layers.Concatenate(name=f'mixed{n}')([a, b, c])
    return keras.Model(inp, x, name='inception_like')


def test_c2w3_transfer_learning_mixed7(tmp_path, capsys):
    from nabi.keras import layers
    from nabi.keras import Model
    from nabi.keras.optimizers import RMSprop

    local_weights_file = str(tmp_path / "inception_like.weights.h5")
    _inception_like_base((24, 24, 3)).save_weights(local_weights_file)
    tf.keras.backend.clear_session()
    pre_trained_model = _inception_like_base((24, 24, 3))
    pre_trained_model.load_weights(local_weights_file)
    for layer in pre_trained_model.layers:
        layer.trainable = False
    last_layer = pre_trained_model.get_layer('mixed7')
    print('last layer output shape: ', last_layer.output.shape)
    assert tuple(last_layer.output.shape) == (None, 11, 11, 32)   # 4 + 4 + 24 channels
    last_output = last_layer.output
    x = layers.Flatten()(last_output)
    x = layers.Dense(16, activation='relu')(x)
    x = layers.Dropout(0.2)(x)
    x = layers.Dense(1, activation='sigmoid')(x)
    model = Model(pre_trained_model.input, x)
    model.compile(optimizer=RMSprop(learning_rate=0.0001), loss='binary_crossentropy',
                  metrics=['accuracy'])
    assert len(model.trainable_weights) == 4
    assert 'mixed8' not in [l.name for l in model.layers]

    class myCallback(tf.keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs={}):
            if logs.get('accuracy') > 0.999:
                print("\nReached 99.9% accuracy so cancelling training!")
                self.model.stop_training = True

    base = str(tmp_path / "h")
    _write_class_images(base, ["horses", "humans"], per_class=8)
    train_datagen = ImageDataGenerator(rescale=1. / 255., rotation_range=40,
                                       width_shift_range=0.2, height_shift_range=0.2,
                                       shear_range=0.2, zoom_range=0.2, horizontal_flip=True)
    train_generator = train_datagen.flow_from_directory(base, batch_size=8,
                                                        class_mode='binary',
                                                        target_size=(24, 24))
    frozen = [w.copy() for w in pre_trained_model.get_weights()]
    history = model.fit(train_generator, epochs=3, verbose=0, callbacks=[myCallback()])
    assert 1 <= len(history.history['loss']) <= 3
    for a, b in zip(frozen, pre_trained_model.get_weights()):
        np.testing.assert_array_equal(a, b)

    # the real InceptionV3 (weights=None) truncates the same way
    from nabi.keras.applications.inception_v3 import InceptionV3
    tf.keras.backend.clear_session()
    inc = InceptionV3(input_shape=(75, 75, 3), include_top=False, weights=None)
    assert tuple(inc.get_layer('mixed7').output.shape) == (None, 3, 3, 768)


# ----------------------------------------------------------------------------------------
# C2 W4: multi-class (rock paper scissors); sign language MNIST from CSV
# ----------------------------------------------------------------------------------------

def test_c2w4_rock_paper_scissors_categorical(tmp_path):
    TRAINING_DIR = str(tmp_path / "rps")
    _write_class_images(TRAINING_DIR, ["rock", "paper", "scissors"], per_class=8)
    training_datagen = ImageDataGenerator(rescale=1. / 255, rotation_range=40,
                                          width_shift_range=0.2, height_shift_range=0.2,
                                          shear_range=0.2, zoom_range=0.2,
                                          horizontal_flip=True, fill_mode='nearest')
    train_generator = training_datagen.flow_from_directory(TRAINING_DIR, target_size=(24, 24),
                                                           class_mode='categorical',
                                                           batch_size=6)
    model = tf.keras.models.Sequential([
        tf.keras.layers.Conv2D(8, (3, 3), activation='relu', input_shape=(24, 24, 3)),
        tf.keras.layers.MaxPooling2D(2, 2),
        tf.keras.layers.Flatten(),
        tf.keras.layers.Dropout(0.5),
        tf.keras.layers.Dense(16, activation='relu'),
        tf.keras.layers.Dense(3, activation='softmax')])
    model.compile(loss='categorical_crossentropy', optimizer='rmsprop', metrics=['accuracy'])
    history = model.fit(train_generator, epochs=3, steps_per_epoch=4, verbose=0)
    assert len(history.history['accuracy']) == 3
    xb, yb = train_generator[0]
    assert yb.shape == (6, 3) and set(yb.sum(axis=1).tolist()) == {1.0}
    classes = model.predict(xb, batch_size=10, verbose=0)
    assert classes.shape == (6, 3)
    np.testing.assert_allclose(classes.sum(axis=1), 1.0, rtol=1e-5)


def test_c2w4_sign_language_csv_and_datagen_flow(tmp_path):
    x, y = _digits(120)
    y = y % 5
    for name, sl in (("sign_mnist_train.csv", slice(0, 90)), ("sign_mnist_test.csv",
                                                               slice(90, 120))):
        with open(tmp_path / name, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["label"] + [f"pixel{i}" for i in range(1, 785)])
            for img, lab in zip(x[sl], y[sl]):
                w.writerow([int(lab)] + img.reshape(-1).tolist())

    def get_data(filename):
        with open(filename) as training_file:
            csv_reader = csv.reader(training_file, delimiter=',')
            first_line = True
            temp_images = []
            temp_labels = []
            for row in csv_reader:
                if first_line:
                    first_line = False
                else:
                    temp_labels.append(row[0])
                    image_data = row[1:785]
                    image_data_as_array = np.array_split(image_data, 28)
                    temp_images.append(image_data_as_array)
            images = np.array(temp_images).astype('float')
            labels = np.array(temp_labels).astype('float')
        return images, labels

    def parse_data_from_input(filename):        # the newer assignment's np.loadtxt version
        data = np.loadtxt(filename, delimiter=',', skiprows=1)
        labels = data[:, 0]
        images = data[:, 1:].reshape(-1, 28, 28)
        return images, labels

    training_images, training_labels = get_data(str(tmp_path / "sign_mnist_train.csv"))
    testing_images, testing_labels = parse_data_from_input(str(tmp_path / "sign_mnist_test.csv"))
    np.testing.assert_array_equal(training_images, x[:90].astype(float))
    np.testing.assert_array_equal(testing_labels, y[90:].astype(float))
    training_images = np.expand_dims(training_images, axis=3)
    testing_images = np.expand_dims(testing_images, axis=3)
    assert training_images.shape == (90, 28, 28, 1)

    train_datagen = ImageDataGenerator(rescale=1. / 255, rotation_range=40,
                                       width_shift_range=0.2, height_shift_range=0.2,
                                       shear_range=0.2, zoom_range=0.2, horizontal_flip=True,
                                       fill_mode='nearest')
    validation_datagen = ImageDataGenerator(rescale=1. / 255)
    vflow = validation_datagen.flow(testing_images, testing_labels, batch_size=32,
                                    shuffle=False)
    xb, yb = vflow[0]
    np.testing.assert_allclose(xb, testing_images[:32].astype(np.float32) * np.float32(1 / 255),
                               rtol=1e-6)
    np.testing.assert_array_equal(yb, testing_labels[:32])

    model = tf.keras.models.Sequential([
        tf.keras.layers.Conv2D(8, (3, 3), activation='relu', input_shape=(28, 28, 1)),
        tf.keras.layers.MaxPooling2D(2, 2),
        tf.keras.layers.Flatten(),
        tf.keras.layers.Dense(16, activation=tf.nn.relu),
        tf.keras.layers.Dense(26, activation=tf.nn.softmax)])
    model.compile(optimizer=tf.optimizers.Adam(), loss='sparse_categorical_crossentropy',
                  metrics=['accuracy'])
    history = model.fit(train_datagen.flow(training_images, training_labels, batch_size=32),
                        steps_per_epoch=len(training_images) / 32, epochs=2,
                        validation_data=validation_datagen.flow(testing_images, testing_labels,
                                                                batch_size=32),
                        validation_steps=len(testing_images) / 32, verbose=0)
    assert len(history.history['val_loss']) == 2
    res = model.evaluate(validation_datagen.flow(testing_images, testing_labels, batch_size=32),
                         verbose=0)
    assert len(res) == 2 and np.isfinite(res[0])


# ----------------------------------------------------------------------------------------
# The 2023 revision of C1W4 / C2: image_dataset_from_directory, Rescaling, augmentation
# layers, InceptionV3's preprocess_input inside the model
# ----------------------------------------------------------------------------------------

def test_c1w4_newer_image_dataset_from_directory_and_augmentation_layers(tmp_path):
    TRAIN_DIR = str(tmp_path / "horse-or-human")
    written = _write_class_images(TRAIN_DIR, ["horses", "humans"], per_class=6)
    train_dataset = tf.keras.utils.image_dataset_from_directory(
        TRAIN_DIR, image_size=(24, 24), batch_size=4, label_mode='binary', shuffle=False)
    assert train_dataset.class_names == ['horses', 'humans']
    sample_batch = list(train_dataset.take(1))[0]
    image_batch, label_batch = sample_batch
    assert image_batch.shape == (4, 24, 24, 3) and label_batch.shape == (4, 1)
    assert label_batch.dtype == tf.float32
    files = sorted(p for p in written if os.sep + "horses" + os.sep in p)[:4]
    np.testing.assert_allclose(image_batch.numpy(),
                               np.stack([written[p] for p in files]).astype(np.float32))
    rescale_layer = tf.keras.layers.Rescaling(scale=1. / 255)
    SHUFFLE_BUFFER_SIZE = 100
    PREFETCH_BUFFER_SIZE = tf.data.AUTOTUNE
    train_dataset_scaled = train_dataset.map(lambda image, label: (rescale_layer(image), label))
    train_dataset_final = (train_dataset_scaled.cache().shuffle(SHUFFLE_BUFFER_SIZE)
                           .prefetch(PREFETCH_BUFFER_SIZE))
    x0, y0 = next(iter(train_dataset_scaled))
    np.testing.assert_allclose(x0.numpy(), image_batch.numpy() / 255, rtol=1e-6)

    data_augmentation = tf.keras.Sequential([
        tf.keras.Input(shape=(24, 24, 3)),
        tf.keras.layers.RandomFlip("horizontal"),
        tf.keras.layers.RandomRotation(0.2, fill_mode='nearest'),
        tf.keras.layers.RandomTranslation(0.2, 0.2, fill_mode='nearest'),
        tf.keras.layers.RandomZoom(0.2, fill_mode='nearest')])
    # augmentation only in training: at inference the layers pass images through
    np.testing.assert_allclose(data_augmentation(x0, training=False).numpy(), x0.numpy())
    aug = data_augmentation(x0, training=True).numpy()
    assert aug.shape == x0.shape and aug.min() >= 0.0 and aug.max() <= 1.0 + 1e-6
    model = tf.keras.models.Sequential([
        tf.keras.Input(shape=(24, 24, 3)),
        tf.keras.layers.Conv2D(8, (3, 3), activation='relu'),
        tf.keras.layers.MaxPooling2D(2, 2),
        tf.keras.layers.Flatten(),
        tf.keras.layers.Dense(16, activation='relu'),
        tf.keras.layers.Dense(1, activation='sigmoid')])
    model_with_aug = tf.keras.models.Sequential([data_augmentation, model])
    model_with_aug.compile(loss='binary_crossentropy',
                           optimizer=tf.keras.optimizers.RMSprop(learning_rate=1e-3),
                           metrics=['accuracy'])
    history = model_with_aug.fit(train_dataset_final, epochs=3, verbose=0)
    assert len(history.history['accuracy']) == 3
    assert np.all(np.isfinite(history.history['loss']))

    # newer C2W3: the frozen base's preprocess_input inside the model, scaling to [-1, 1]
    pre_trained_model = _inception_like_base((24, 24, 3))
    pre_trained_model.trainable = False
    last_output = pre_trained_model.get_layer('mixed7').output
    x = tf.keras.layers.Flatten()(last_output)
    x = tf.keras.layers.Dense(1, activation='sigmoid')(x)
    head = tf.keras.Model(inputs=pre_trained_model.input, outputs=x)
    inputs = tf.keras.Input(shape=(24, 24, 3))
    y = data_augmentation(inputs)
    y = tf.keras.applications.inception_v3.preprocess_input(y)
    y = head(y)
    full = tf.keras.Model(inputs, y)
    assert len(full.trainable_weights) == 2
    raw = image_batch.numpy()
    np.testing.assert_allclose(full.predict(raw, verbose=0),
                               head.predict(raw / 127.5 - 1.0, verbose=0), rtol=1e-4, atol=1e-6)


def test_directory_iterator_predict_next_and_channels_first(tmp_path):
    base = str(tmp_path / "test")
    written = _write_class_images(base, ["cats", "dogs"], per_class=5, ext="png")
    model = tf.keras.Sequential([tf.keras.layers.Flatten(input_shape=(24, 24, 3)),
                                 tf.keras.layers.Dense(1, activation='sigmoid')])
    model.compile('rmsprop', 'binary_crossentropy', metrics=['accuracy'])
    gen = ImageDataGenerator(rescale=1 / 255.)
    test_generator = gen.flow_from_directory(base, target_size=(24, 24), class_mode=None,
                                             shuffle=False, batch_size=3)
    pred = model.predict(test_generator, verbose=0)
    assert pred.shape == (10, 1)
    x = np.stack([written[os.path.join(base, f)] for f in test_generator.filenames])
    np.testing.assert_allclose(pred, model.predict(x.astype(np.float32) / 255, verbose=0),
                               rtol=1e-5)
    it = gen.flow_from_directory(base, target_size=(24, 24), class_mode='binary',
                                 batch_size=4)
    assert [it.next()[0].shape[0] for _ in range(4)] == [4, 4, 2, 4]
    assert (len(it), it.batch_size, it.n, it.image_shape) == (3, 4, 10, (24, 24, 3))
    loss, acc = model.evaluate(gen.flow_from_directory(base, target_size=(24, 24),
                                                       class_mode='binary', batch_size=4),
                               verbose=0)
    p = model.predict(x.astype(np.float32) / 255, verbose=0)[:, 0]
    y = np.array([0] * 5 + [1] * 5)
    np.testing.assert_allclose(acc, np.mean((p > 0.5) == y), atol=1e-6)
    cf = ImageDataGenerator(rescale=1 / 255., data_format='channels_first')
    xb, yb = cf.flow_from_directory(base, target_size=(24, 20), class_mode='sparse',
                                    batch_size=3, shuffle=False)[0]
    assert xb.shape == (3, 3, 24, 20) and yb.tolist() == [0.0, 0.0, 0.0]


def test_udacity_saving_and_loading_models(tmp_path):
    import time
    model = tf.keras.Sequential([
        tf.keras.layers.Conv2D(4, 3, activation='relu', input_shape=(8, 8, 3)),
        tf.keras.layers.Flatten(),
        tf.keras.layers.Dense(2)])
    model.compile(optimizer='adam',
                  loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=['accuracy'])
    image_batch = np.random.default_rng(0).random((4, 8, 8, 3)).astype(np.float32)
    model.fit(image_batch, np.array([0, 1, 0, 1]), epochs=1, verbose=0)
    t = time.time()
    export_path_keras = str(tmp_path / "{}.h5".format(int(t)))
    model.save(export_path_keras)
    reloaded = tf.keras.models.load_model(export_path_keras)
    result_batch = model.predict(image_batch, verbose=0)
    reloaded_result_batch = reloaded.predict(image_batch, verbose=0)
    assert (abs(result_batch - reloaded_result_batch)).max() == 0.0
    history = reloaded.fit(image_batch, np.array([0, 1, 0, 1]), epochs=2, verbose=0)
    assert len(history.history['loss']) == 2
    export_path_sm = str(tmp_path / "{}".format(int(t)))
    tf.saved_model.save(model, export_path_sm)
    reloaded_sm = tf.saved_model.load(export_path_sm)
    reload_sm_result_batch = reloaded_sm(image_batch, training=False).numpy()
    np.testing.assert_allclose(reload_sm_result_batch, result_batch, rtol=1e-6)
    reload_sm_keras = tf.keras.models.load_model(export_path_sm)
    np.testing.assert_allclose(reload_sm_keras.predict(image_batch, verbose=0), result_batch,
                               rtol=1e-6)


def test_udacity_flowers_glob_move_sparse_logits(tmp_path):
    import glob
    base_dir = str(tmp_path / "flower_photos")
    classes = ['roses', 'daisy', 'dandelion']
    _write_class_images(base_dir, classes, per_class=5, ext="jpg")
    for cl in classes:
        img_path = os.path.join(base_dir, cl)
        images = sorted(glob.glob(img_path + '/*.jpg'))
        print("{}: {} Images".format(cl, len(images)))
        train, val = images[:round(len(images) * 0.8)], images[round(len(images) * 0.8):]
        for t in train:
            if not os.path.exists(os.path.join(base_dir, 'train', cl)):
                os.makedirs(os.path.join(base_dir, 'train', cl))
            shutil.move(t, os.path.join(base_dir, 'train', cl))
        for v in val:
            if not os.path.exists(os.path.join(base_dir, 'val', cl)):
                os.makedirs(os.path.join(base_dir, 'val', cl))
            shutil.move(v, os.path.join(base_dir, 'val', cl))
    train_dir = os.path.join(base_dir, 'train')
    val_dir = os.path.join(base_dir, 'val')
    batch_size, IMG_SHAPE = 4, 24
    image_gen_train = ImageDataGenerator(rescale=1. / 255, rotation_range=45,
                                         width_shift_range=.15, height_shift_range=.15,
                                         horizontal_flip=True, zoom_range=0.5)
    train_data_gen = image_gen_train.flow_from_directory(batch_size=batch_size,
                                                         directory=train_dir, shuffle=True,
                                                         target_size=(IMG_SHAPE, IMG_SHAPE),
                                                         class_mode='sparse')
    image_gen_val = ImageDataGenerator(rescale=1. / 255)
    val_data_gen = image_gen_val.flow_from_directory(batch_size=batch_size, directory=val_dir,
                                                     target_size=(IMG_SHAPE, IMG_SHAPE),
                                                     class_mode='sparse')
    assert train_data_gen.class_indices == {'daisy': 0, 'dandelion': 1, 'roses': 2}
    assert train_data_gen.samples == 12 and val_data_gen.samples == 3
    augmented_images = [train_data_gen[0][0][0] for i in range(5)]
    assert all(a.shape == (IMG_SHAPE, IMG_SHAPE, 3) for a in augmented_images)
    model = tf.keras.Sequential([
        tf.keras.layers.Conv2D(8, 3, padding='same', activation='relu',
                               input_shape=(IMG_SHAPE, IMG_SHAPE, 3)),
        tf.keras.layers.MaxPooling2D(pool_size=(2, 2)),
        tf.keras.layers.Flatten(),
        tf.keras.layers.Dropout(0.2),
        tf.keras.layers.Dense(16, activation='relu'),
        tf.keras.layers.Dense(5)])
    model.compile(optimizer='adam',
                  loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=['accuracy'])
    history = model.fit(train_data_gen,
                        steps_per_epoch=int(np.ceil(train_data_gen.n / float(batch_size))),
                        epochs=2, validation_data=val_data_gen,
                        validation_steps=int(np.ceil(val_data_gen.n / float(batch_size))),
                        verbose=0)
    assert len(history.history['val_accuracy']) == 2
    # the loss on a fixed batch against NumPy log-softmax of the logits
    xb, yb = image_gen_val.flow_from_directory(val_dir, target_size=(IMG_SHAPE, IMG_SHAPE),
                                               class_mode='sparse', shuffle=False)[0]
    logits = model.predict(xb, verbose=0).astype(np.float64)
    logp = logits - np.log(np.exp(logits - logits.max(1, keepdims=True)).sum(1, keepdims=True)) \
        - logits.max(1, keepdims=True)
    ref = -np.mean(logp[np.arange(len(yb)), yb.astype(int)])
    np.testing.assert_allclose(model.evaluate(xb, yb, verbose=0)[0], ref, rtol=1e-4)
