"""keras.io examples (their Keras 2 / tf.keras versions, keras-team/keras-io examples/) as their
code runs with `import nabi as tf`: the example's code with the import line changed, tiny
synthetic data (or a few local MNIST digits) in place of the downloads, and narrower layers.
Numbers are checked against NumPy references (tests/reference_conv.py and the helpers below)
where they are cheap; otherwise shapes, dtypes and a falling loss."""
import os

import numpy as np
import pytest

import nabi as tf
from nabi import keras
from nabi.keras import layers
from reference_conv import conv2d, conv2d_backward_data, same_pads
from reference_rnn import lstm_forward


def _leaky(z, a=0.2):
    return np.where(z > 0, z, a * z)


def _bce(y, p, eps=1e-7):
    p = np.clip(p, eps, 1 - eps)
    return -(y * np.log(p) + (1 - y) * np.log(1 - p))


def _bce_logits(y, z):
    return np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))


def _conv_same(x, k, b, s):
    pads = same_pads(x.shape[1], k.shape[0], s) + same_pads(x.shape[2], k.shape[1], s)
    return conv2d(x, k, (s, s), pads=pads) + b, pads


def _conv_transpose_same(x, k, b, s):
    """Keras Conv2DTranspose(padding='same'): the adjoint of a SAME conv; kernel (kh, kw, out, in)."""
    n, h, w, _ = x.shape
    shape = (n, h * s, w * s, k.shape[2])
    pads = same_pads(h * s, k.shape[0], s) + same_pads(w * s, k.shape[1], s)
    return conv2d_backward_data(x, shape, k, (s, s), pads=pads) + b


def _mnist_digits(n):
    (x_train, y_train), _ = keras.datasets.mnist.load_data()
    return x_train[:n], y_train[:n]


# ----------------------------------------------------------------------------------------------
# generative/wgan_gp.py
# ----------------------------------------------------------------------------------------------

def _wgan_builders(IMG_SHAPE, noise_dim, f):
    """conv_block / upsample_block and the two model builders of the example, with the filter
    counts f = (d1, d2, d3, d4, g0, g1, g2) in place of (64, 128, 256, 512, 256, 128, 64)."""
    def conv_block(x, filters, activation, kernel_size=(3, 3), strides=(1, 1), padding="same",
                   use_bias=True, use_bn=False, use_dropout=False, drop_value=0.5):
        x = layers.Conv2D(filters, kernel_size, strides=strides, padding=padding,
                          use_bias=use_bias)(x)
        if use_bn:
            x = layers.BatchNormalization()(x)
        x = activation(x)
        if use_dropout:
            x = layers.Dropout(drop_value)(x)
        return x

    def get_discriminator_model():
        img_input = layers.Input(shape=IMG_SHAPE)
        x = layers.ZeroPadding2D((2, 2))(img_input)
        x = conv_block(x, f[0], kernel_size=(5, 5), strides=(2, 2), use_bn=False, use_bias=True,
                       activation=layers.LeakyReLU(0.2), use_dropout=False, drop_value=0.3)
        x = conv_block(x, f[1], kernel_size=(5, 5), strides=(2, 2), use_bn=False,
                       activation=layers.LeakyReLU(0.2), use_bias=True, use_dropout=True,
                       drop_value=0.3)
        x = conv_block(x, f[2], kernel_size=(5, 5), strides=(2, 2), use_bn=False,
                       activation=layers.LeakyReLU(0.2), use_bias=True, use_dropout=True,
                       drop_value=0.3)
        x = conv_block(x, f[3], kernel_size=(5, 5), strides=(2, 2), use_bn=False,
                       activation=layers.LeakyReLU(0.2), use_bias=True, use_dropout=False,
                       drop_value=0.3)
        x = layers.Flatten()(x)
        x = layers.Dropout(0.2)(x)
        x = layers.Dense(1)(x)
        return keras.models.Model(img_input, x, name="discriminator")

    def upsample_block(x, filters, activation, kernel_size=(3, 3), strides=(1, 1), up_size=(2, 2),
                       padding="same", use_bn=False, use_bias=True, use_dropout=False,
                       drop_value=0.3):
        x = layers.UpSampling2D(up_size)(x)
        x = layers.Conv2D(filters, kernel_size, strides=strides, padding=padding,
                          use_bias=use_bias)(x)
        if use_bn:
            x = layers.BatchNormalization()(x)
        if activation:
            x = activation(x)
        if use_dropout:
            x = layers.Dropout(drop_value)(x)
        return x

    def get_generator_model():
        noise = layers.Input(shape=(noise_dim,))
        x = layers.Dense(4 * 4 * f[4], use_bias=False)(noise)
        x = layers.BatchNormalization()(x)
        x = layers.LeakyReLU(0.2)(x)
        x = layers.Reshape((4, 4, f[4]))(x)
        x = upsample_block(x, f[5], layers.LeakyReLU(0.2), strides=(1, 1), use_bias=False,
                           use_bn=True, padding="same", use_dropout=False)
        x = upsample_block(x, f[6], layers.LeakyReLU(0.2), strides=(1, 1), use_bias=False,
                           use_bn=True, padding="same", use_dropout=False)
        x = upsample_block(x, 1, layers.Activation("tanh"), strides=(1, 1), use_bias=False,
                           use_bn=True)
        x = layers.Cropping2D((2, 2))(x)
        return keras.models.Model(noise, x, name="generator")

    return get_discriminator_model, get_generator_model


class WGAN(keras.Model):
    def __init__(self, discriminator, generator, latent_dim, discriminator_extra_steps=3,
                 gp_weight=10.0):
        super(WGAN, self).__init__()
        self.discriminator = discriminator
        self.generator = generator
        self.latent_dim = latent_dim
        self.d_steps = discriminator_extra_steps
        self.gp_weight = gp_weight

    def compile(self, d_optimizer, g_optimizer, d_loss_fn, g_loss_fn):
        super(WGAN, self).compile()
        self.d_optimizer = d_optimizer
        self.g_optimizer = g_optimizer
        self.d_loss_fn = d_loss_fn
        self.g_loss_fn = g_loss_fn

    def gradient_penalty(self, batch_size, real_images, fake_images):
        alpha = tf.random.normal([batch_size, 1, 1, 1], 0.0, 1.0)
        diff = fake_images - real_images
        interpolated = real_images + alpha * diff
        with tf.GradientTape() as gp_tape:
            gp_tape.watch(interpolated)
            pred = self.discriminator(interpolated, training=True)
        grads = gp_tape.gradient(pred, [interpolated])[0]
        norm = tf.sqrt(tf.reduce_sum(tf.square(grads), axis=[1, 2, 3]))
        gp = tf.reduce_mean((norm - 1.0) ** 2)
        return gp

    def train_step(self, real_images):
        if isinstance(real_images, tuple):
            real_images = real_images[0]
        batch_size = tf.shape(real_images)[0]
        for i in range(self.d_steps):
            random_latent_vectors = tf.random.normal(shape=(batch_size, self.latent_dim))
            with tf.GradientTape() as tape:
                fake_images = self.generator(random_latent_vectors, training=True)
                fake_logits = self.discriminator(fake_images, training=True)
                real_logits = self.discriminator(real_images, training=True)
                d_cost = self.d_loss_fn(real_img=real_logits, fake_img=fake_logits)
                gp = self.gradient_penalty(batch_size, real_images, fake_images)
                d_loss = d_cost + gp * self.gp_weight
            d_gradient = tape.gradient(d_loss, self.discriminator.trainable_variables)
            self.d_optimizer.apply_gradients(
                zip(d_gradient, self.discriminator.trainable_variables))
        random_latent_vectors = tf.random.normal(shape=(batch_size, self.latent_dim))
        with tf.GradientTape() as tape:
            generated_images = self.generator(random_latent_vectors, training=True)
            gen_img_logits = self.discriminator(generated_images, training=True)
            g_loss = self.g_loss_fn(gen_img_logits)
        gen_gradient = tape.gradient(g_loss, self.generator.trainable_variables)
        self.g_optimizer.apply_gradients(zip(gen_gradient, self.generator.trainable_variables))
        return {"d_loss": d_loss, "g_loss": g_loss}


def discriminator_loss(real_img, fake_img):
    real_loss = tf.reduce_mean(real_img)
    fake_loss = tf.reduce_mean(fake_img)
    return fake_loss - real_loss


def generator_loss(fake_img):
    return -tf.reduce_mean(fake_img)


def _np_critic(x, params):
    """The WGAN critic (no dropout) in float64 NumPy: returns (pred, d pred.sum() / d x)."""
    *convs, (wd, bd) = params
    h = np.pad(x, ((0, 0), (2, 2), (2, 2), (0, 0)))
    cache = []
    for k, b in convs:
        z, pads = _conv_same(h, k, b, 2)
        cache.append((h.shape, k, pads, z))
        h = _leaky(z)
    pred = h.reshape(len(h), -1) @ wd + bd
    g = (np.ones_like(pred) @ wd.T).reshape(h.shape)
    for shape, k, pads, z in reversed(cache):
        g = conv2d_backward_data(g * np.where(z > 0, 1.0, 0.2), shape, k, (2, 2), pads=pads)
    return pred, g[:, 2:-2, 2:-2, :]


def _np_d_loss(params, real, fake, alpha, gp_weight=10.0):
    d_cost = _np_critic(fake, params)[0].mean() - _np_critic(real, params)[0].mean()
    _, g = _np_critic(real + alpha * (fake - real), params)
    gp = np.mean((np.sqrt((g ** 2).sum(axis=(1, 2, 3))) - 1.0) ** 2)
    return d_cost + gp_weight * gp, gp


def test_wgan_gp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    IMG_SHAPE = (28, 28, 1)
    BATCH_SIZE = 4
    noise_dim = 8
    rng = np.random.default_rng(0)
    train_images = rng.integers(0, 256, (8, 28, 28)).astype("uint8")
    train_images = train_images.reshape(train_images.shape[0], *IMG_SHAPE).astype("float32")
    train_images = (train_images - 127.5) / 127.5

    get_discriminator_model, get_generator_model = _wgan_builders(IMG_SHAPE, noise_dim,
                                                                  (4, 6, 6, 8, 8, 6, 4))
    tf.random.set_seed(1)
    d_model = get_discriminator_model()
    d_model.summary()
    g_model = get_generator_model()
    g_model.summary()
    assert d_model.output_shape == (None, 1)
    assert g_model.output_shape == (None, 28, 28, 1)

    class GANMonitor(keras.callbacks.Callback):
        def __init__(self, num_img=6, latent_dim=128):  # no super().__init__(), as the example
            self.num_img = num_img
            self.latent_dim = latent_dim

        def on_epoch_end(self, epoch, logs=None):
            random_latent_vectors = tf.random.normal(shape=(self.num_img, self.latent_dim))
            generated_images = self.model.generator(random_latent_vectors)
            generated_images = (generated_images * 127.5) + 127.5
            for i in range(self.num_img):
                img = generated_images[i].numpy()
                img = keras.preprocessing.image.array_to_img(img)
                img.save("generated_img_{i}_{epoch}.png".format(i=i, epoch=epoch))

    generator_optimizer = keras.optimizers.Adam(learning_rate=0.0002, beta_1=0.5, beta_2=0.9)
    discriminator_optimizer = keras.optimizers.Adam(learning_rate=0.0002, beta_1=0.5, beta_2=0.9)
    epochs = 2
    cbk = GANMonitor(num_img=3, latent_dim=noise_dim)
    wgan = WGAN(discriminator=d_model, generator=g_model, latent_dim=noise_dim,
                discriminator_extra_steps=3)
    wgan.compile(d_optimizer=discriminator_optimizer, g_optimizer=generator_optimizer,
                 g_loss_fn=generator_loss, d_loss_fn=discriminator_loss)

    # The discriminator step on fixed images, as train_step runs it, against NumPy: the
    # gradient penalty (closed-form input gradient of the critic) and d_loss's gradient with
    # respect to the critic's weights (a second-order gradient) along random directions, by
    # float64 central differences. Dropout off so that the critic is a fixed function.
    for layer in d_model.layers:
        if isinstance(layer, layers.Dropout):
            layer.rate = 0.0
    real = train_images[:BATCH_SIZE]
    fake = rng.uniform(-1, 1, real.shape).astype("float32")
    tf.random.set_seed(7)
    alpha = tf.random.normal([BATCH_SIZE, 1, 1, 1], 0.0, 1.0).numpy().astype(np.float64)
    with tf.GradientTape() as tape:
        fake_logits = wgan.discriminator(fake, training=True)
        real_logits = wgan.discriminator(real, training=True)
        d_cost = wgan.d_loss_fn(real_img=real_logits, fake_img=fake_logits)
        tf.random.set_seed(7)
        gp = wgan.gradient_penalty(BATCH_SIZE, tf.constant(real), tf.constant(fake))
        d_loss = d_cost + gp * wgan.gp_weight
    variables = d_model.trainable_variables
    d_gradient = tape.gradient(d_loss, variables)
    params = [v.numpy().astype(np.float64) for v in variables]
    params = [(params[i], params[i + 1]) for i in range(0, len(params), 2)]
    ref_loss, ref_gp = _np_d_loss(params, real.astype(np.float64), fake.astype(np.float64), alpha)
    np.testing.assert_allclose(float(gp), ref_gp, rtol=1e-4)
    np.testing.assert_allclose(float(d_loss), ref_loss, rtol=1e-4, atol=1e-5)
    assert ref_gp > 0.1  # the penalty term matters in the gradient checked next
    flat = [v.numpy().astype(np.float64) for v in variables]
    for trial in range(3):
        dirs = [rng.standard_normal(p.shape) for p in flat]
        eps = 1e-6

        def at(t):
            p = [w + t * d for w, d in zip(flat, dirs)]
            return _np_d_loss([(p[i], p[i + 1]) for i in range(0, len(p), 2)],
                              real.astype(np.float64), fake.astype(np.float64), alpha)[0]
        numeric = (at(eps) - at(-eps)) / (2 * eps)
        analytic = sum(float(np.sum(g.numpy() * d)) for g, d in zip(d_gradient, dirs))
        np.testing.assert_allclose(analytic, numeric, rtol=2e-3, atol=1e-4)
    for layer in d_model.layers:
        if isinstance(layer, layers.Dropout):
            layer.rate = 0.3 if layer.name != d_model.layers[-2].name else 0.2

    before = [v.numpy().copy() for v in d_model.trainable_variables + g_model.trainable_variables]
    history = wgan.fit(train_images, batch_size=BATCH_SIZE, epochs=epochs, callbacks=[cbk],
                       verbose=0)
    assert set(history.history) == {"d_loss", "g_loss"}
    assert len(history.history["d_loss"]) == epochs
    assert np.all(np.isfinite(history.history["d_loss"] + history.history["g_loss"]))
    after = d_model.trainable_variables + g_model.trainable_variables
    # every weight moves but the critic's last bias, which cancels in fake - real and is absent
    # from the penalty (zero gradient, as in TF)
    unchanged = [a.name for b, a in zip(before, after) if np.array_equal(b, a.numpy())]
    assert unchanged == [d_model.layers[-1].bias.name]
    for i in range(3):
        for epoch in range(epochs):
            assert os.path.exists("generated_img_{i}_{epoch}.png".format(i=i, epoch=epoch))
    from PIL import Image
    assert Image.open("generated_img_0_1.png").size == (28, 28)


# ----------------------------------------------------------------------------------------------
# generative/vae.py
# ----------------------------------------------------------------------------------------------

class Sampling(layers.Layer):
    """Uses (z_mean, z_log_var) to sample z, the vector encoding a digit."""

    def call(self, inputs):
        z_mean, z_log_var = inputs
        batch = tf.shape(z_mean)[0]
        dim = tf.shape(z_mean)[1]
        epsilon = tf.keras.backend.random_normal(shape=(batch, dim))
        return z_mean + tf.exp(0.5 * z_log_var) * epsilon


class VAE(keras.Model):
    def __init__(self, encoder, decoder, **kwargs):
        super(VAE, self).__init__(**kwargs)
        self.encoder = encoder
        self.decoder = decoder
        self.total_loss_tracker = keras.metrics.Mean(name="total_loss")
        self.reconstruction_loss_tracker = keras.metrics.Mean(name="reconstruction_loss")
        self.kl_loss_tracker = keras.metrics.Mean(name="kl_loss")

    @property
    def metrics(self):
        return [self.total_loss_tracker, self.reconstruction_loss_tracker, self.kl_loss_tracker]

    def train_step(self, data):
        with tf.GradientTape() as tape:
            z_mean, z_log_var, z = self.encoder(data)
            reconstruction = self.decoder(z)
            reconstruction_loss = tf.reduce_mean(
                tf.reduce_sum(keras.losses.binary_crossentropy(data, reconstruction), axis=(1, 2)))
            kl_loss = -0.5 * (1 + z_log_var - tf.square(z_mean) - tf.exp(z_log_var))
            kl_loss = tf.reduce_mean(tf.reduce_sum(kl_loss, axis=1))
            total_loss = reconstruction_loss + kl_loss
        grads = tape.gradient(total_loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.trainable_weights))
        self.total_loss_tracker.update_state(total_loss)
        self.reconstruction_loss_tracker.update_state(reconstruction_loss)
        self.kl_loss_tracker.update_state(kl_loss)
        return {
            "loss": self.total_loss_tracker.result(),
            "reconstruction_loss": self.reconstruction_loss_tracker.result(),
            "kl_loss": self.kl_loss_tracker.result(),
        }

    def call(self, x):
        z_mean, z_log_var, z = self.encoder(x)
        return self.decoder(z)


def _np_vae_losses(enc, dec, x, eps):
    """The VAE example's losses in float64 NumPy; enc/dec are the models' weight lists."""
    relu = lambda v: np.maximum(v, 0)
    k1, b1, k2, b2, w3, b3, wm, bm, wv, bv = enc
    h = relu(_conv_same(x, k1, b1, 2)[0])
    h = relu(_conv_same(h, k2, b2, 2)[0])
    h = relu(h.reshape(len(h), -1) @ w3 + b3)
    z_mean, z_log_var = h @ wm + bm, h @ wv + bv
    z = z_mean + np.exp(0.5 * z_log_var) * eps
    w4, b4, t1, c1, t2, c2, t3, c3 = dec
    h = relu(z @ w4 + b4).reshape(len(z), 7, 7, -1)
    h = relu(_conv_transpose_same(h, t1, c1, 2))
    h = relu(_conv_transpose_same(h, t2, c2, 2))
    rec = 1 / (1 + np.exp(-_conv_transpose_same(h, t3, c3, 1)))
    reconstruction_loss = np.mean(np.sum(_bce(x, rec).mean(axis=-1), axis=(1, 2)))
    kl = -0.5 * (1 + z_log_var - z_mean ** 2 - np.exp(z_log_var))
    kl_loss = np.mean(np.sum(kl, axis=1))
    return reconstruction_loss + kl_loss, reconstruction_loss, kl_loss


def test_vae():
    latent_dim = 2
    encoder_inputs = keras.Input(shape=(28, 28, 1))
    x = layers.Conv2D(4, 3, activation="relu", strides=2, padding="same")(encoder_inputs)
    x = layers.Conv2D(8, 3, activation="relu", strides=2, padding="same")(x)
    x = layers.Flatten()(x)
    x = layers.Dense(16, activation="relu")(x)
    z_mean = layers.Dense(latent_dim, name="z_mean")(x)
    z_log_var = layers.Dense(latent_dim, name="z_log_var")(x)
    z = Sampling()([z_mean, z_log_var])
    encoder = keras.Model(encoder_inputs, [z_mean, z_log_var, z], name="encoder")
    encoder.summary()

    latent_inputs = keras.Input(shape=(latent_dim,))
    x = layers.Dense(7 * 7 * 8, activation="relu")(latent_inputs)
    x = layers.Reshape((7, 7, 8))(x)
    x = layers.Conv2DTranspose(8, 3, activation="relu", strides=2, padding="same")(x)
    x = layers.Conv2DTranspose(4, 3, activation="relu", strides=2, padding="same")(x)
    decoder_outputs = layers.Conv2DTranspose(1, 3, activation="sigmoid", padding="same")(x)
    decoder = keras.Model(latent_inputs, decoder_outputs, name="decoder")
    decoder.summary()

    x_train, _ = _mnist_digits(64)
    mnist_digits = np.expand_dims(x_train, -1).astype("float32") / 255

    vae = VAE(encoder, decoder)
    vae.compile(optimizer=keras.optimizers.Adam())

    # One train_step on 16 digits against NumPy (the same epsilon drawn by seeding).
    batch = mnist_digits[:16]
    enc = [w.numpy().astype(np.float64) for w in encoder.weights]
    dec = [w.numpy().astype(np.float64) for w in decoder.weights]
    tf.random.set_seed(3)
    eps = tf.keras.backend.random_normal(shape=(16, latent_dim)).numpy().astype(np.float64)
    tf.random.set_seed(3)
    logs = vae.train_step(tf.constant(batch))
    total, rec, kl = _np_vae_losses(enc, dec, batch.astype(np.float64), eps)
    np.testing.assert_allclose(float(logs["reconstruction_loss"]), rec, rtol=1e-4)
    np.testing.assert_allclose(float(logs["kl_loss"]), kl, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(float(logs["loss"]), total, rtol=1e-4)
    for m in vae.metrics:
        m.reset_state()

    history = vae.fit(mnist_digits, epochs=4, batch_size=16, verbose=0)
    loss = history.history["loss"]
    assert set(history.history) == {"loss", "reconstruction_loss", "kl_loss"}
    assert loss[-1] < loss[0]
    z_sample = np.array([[0.5, -0.5]])
    x_decoded = vae.decoder.predict(z_sample, verbose=0)
    assert x_decoded.shape == (1, 28, 28, 1) and x_decoded.dtype == np.float32
    digit = x_decoded[0].reshape(28, 28)
    assert np.all((digit > 0) & (digit < 1))
    z_mean, _, _ = vae.encoder.predict(mnist_digits, verbose=0)
    assert z_mean.shape == (64, 2)
    assert vae(mnist_digits[:3]).shape == (3, 28, 28, 1)


# ----------------------------------------------------------------------------------------------
# generative/dcgan_overriding_train_step.py
# ----------------------------------------------------------------------------------------------

class GAN(keras.Model):
    def __init__(self, discriminator, generator, latent_dim):
        super(GAN, self).__init__()
        self.discriminator = discriminator
        self.generator = generator
        self.latent_dim = latent_dim

    def compile(self, d_optimizer, g_optimizer, loss_fn):
        super(GAN, self).compile()
        self.d_optimizer = d_optimizer
        self.g_optimizer = g_optimizer
        self.loss_fn = loss_fn

    def train_step(self, real_images):
        batch_size = tf.shape(real_images)[0]
        random_latent_vectors = tf.random.normal(shape=(batch_size, self.latent_dim))
        generated_images = self.generator(random_latent_vectors)
        combined_images = tf.concat([generated_images, real_images], axis=0)
        labels = tf.concat([tf.ones((batch_size, 1)), tf.zeros((batch_size, 1))], axis=0)
        labels += 0.05 * tf.random.uniform(tf.shape(labels))
        with tf.GradientTape() as tape:
            predictions = self.discriminator(combined_images)
            d_loss = self.loss_fn(labels, predictions)
        grads = tape.gradient(d_loss, self.discriminator.trainable_weights)
        self.d_optimizer.apply_gradients(zip(grads, self.discriminator.trainable_weights))
        random_latent_vectors = tf.random.normal(shape=(batch_size, self.latent_dim))
        misleading_labels = tf.zeros((batch_size, 1))
        with tf.GradientTape() as tape:
            predictions = self.discriminator(self.generator(random_latent_vectors))
            g_loss = self.loss_fn(misleading_labels, predictions)
        grads = tape.gradient(g_loss, self.generator.trainable_weights)
        self.g_optimizer.apply_gradients(zip(grads, self.generator.trainable_weights))
        return {"d_loss": d_loss, "g_loss": g_loss}


def _np_dcgan_discriminator(x, weights):
    k1, b1, k2, b2, wd, bd = weights
    h = _leaky(_conv_same(x, k1, b1, 2)[0])
    h = _leaky(_conv_same(h, k2, b2, 2)[0])
    return h.max(axis=(1, 2)) @ wd + bd


def _np_dcgan_generator(z, weights, side=7):
    w, b, t1, c1, t2, c2, k3, b3 = weights
    h = _leaky(z @ w + b).reshape(len(z), side, side, -1)
    h = _leaky(_conv_transpose_same(h, t1, c1, 2))
    h = _leaky(_conv_transpose_same(h, t2, c2, 2))
    return 1 / (1 + np.exp(-_conv_same(h, k3, b3, 1)[0]))


def test_dcgan_overriding_train_step(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    batch_size = 8
    x_train, _ = _mnist_digits(32)
    all_digits = x_train.astype("float32") / 255
    all_digits = np.reshape(all_digits, (-1, 28, 28, 1))
    dataset = tf.data.Dataset.from_tensor_slices(all_digits)
    dataset = dataset.shuffle(buffer_size=1024).batch(batch_size).prefetch(32)

    discriminator = keras.Sequential([
        keras.Input(shape=(28, 28, 1)),
        layers.Conv2D(4, (3, 3), strides=(2, 2), padding="same"),
        layers.LeakyReLU(alpha=0.2),
        layers.Conv2D(8, (3, 3), strides=(2, 2), padding="same"),
        layers.LeakyReLU(alpha=0.2),
        layers.GlobalMaxPooling2D(),
        layers.Dense(1),
    ], name="discriminator")
    discriminator.summary()
    latent_dim = 8
    generator = keras.Sequential([
        keras.Input(shape=(latent_dim,)),
        layers.Dense(7 * 7 * 8),
        layers.LeakyReLU(alpha=0.2),
        layers.Reshape((7, 7, 8)),
        layers.Conv2DTranspose(8, (4, 4), strides=(2, 2), padding="same"),
        layers.LeakyReLU(alpha=0.2),
        layers.Conv2DTranspose(8, (4, 4), strides=(2, 2), padding="same"),
        layers.LeakyReLU(alpha=0.2),
        layers.Conv2D(1, (7, 7), padding="same", activation="sigmoid"),
    ], name="generator")
    generator.summary()

    class GANMonitor(keras.callbacks.Callback):
        def __init__(self, num_img=3, latent_dim=128):
            self.num_img = num_img
            self.latent_dim = latent_dim

        def on_epoch_end(self, epoch, logs=None):
            random_latent_vectors = tf.random.normal(shape=(self.num_img, self.latent_dim))
            generated_images = self.model.generator(random_latent_vectors)
            generated_images *= 255
            generated_images.numpy()
            for i in range(self.num_img):
                img = keras.preprocessing.image.array_to_img(generated_images[i])
                img.save("generated_img_{i}_{epoch}.png".format(i=i, epoch=epoch))

    epochs = 2
    gan = GAN(discriminator=discriminator, generator=generator, latent_dim=latent_dim)
    gan.compile(d_optimizer=keras.optimizers.Adam(learning_rate=0.0003),
                g_optimizer=keras.optimizers.Adam(learning_rate=0.0003),
                loss_fn=keras.losses.BinaryCrossentropy(from_logits=True))

    # One train_step against NumPy: the random draws are replayed by seeding.
    real = all_digits[:batch_size].astype(np.float64)
    tf.random.set_seed(11)
    z1 = tf.random.normal(shape=(batch_size, latent_dim)).numpy().astype(np.float64)
    noise = tf.random.uniform((2 * batch_size, 1)).numpy().astype(np.float64)
    z2 = tf.random.normal(shape=(batch_size, latent_dim)).numpy().astype(np.float64)
    g_w = [w.numpy().astype(np.float64) for w in generator.weights]
    d_w = [w.numpy().astype(np.float64) for w in discriminator.weights]
    tf.random.set_seed(11)
    logs = gan.train_step(tf.constant(all_digits[:batch_size]))
    labels = np.concatenate([np.ones((batch_size, 1)), np.zeros((batch_size, 1))]) + 0.05 * noise
    combined = np.concatenate([_np_dcgan_generator(z1, g_w), real])
    d_loss = _bce_logits(labels, _np_dcgan_discriminator(combined, d_w)).mean()
    np.testing.assert_allclose(float(logs["d_loss"]), d_loss, rtol=1e-4)
    d_w_new = [w.numpy().astype(np.float64) for w in discriminator.weights]
    assert not np.allclose(d_w_new[-1], d_w[-1])
    g_loss = _bce_logits(0.0, _np_dcgan_discriminator(_np_dcgan_generator(z2, g_w), d_w_new)).mean()
    np.testing.assert_allclose(float(logs["g_loss"]), g_loss, rtol=1e-4)

    history = gan.fit(dataset, epochs=epochs,
                      callbacks=[GANMonitor(num_img=3, latent_dim=latent_dim)], verbose=0)
    assert set(history.history) == {"d_loss", "g_loss"}
    assert np.all(np.isfinite(history.history["d_loss"]))
    from PIL import Image
    img = Image.open("generated_img_2_1.png")
    assert img.size == (28, 28) and img.mode == "L"


# ----------------------------------------------------------------------------------------------
# generative/conditional_gan.py
# ----------------------------------------------------------------------------------------------

def test_conditional_gan():
    batch_size = 8
    num_channels = 1
    num_classes = 10
    image_size = 28
    latent_dim = 8

    x_train, y_train = _mnist_digits(24)
    x_test, y_test = x_train[:8], y_train[:8]
    all_digits = np.concatenate([x_train, x_test])
    all_labels = np.concatenate([y_train, y_test])
    all_digits = all_digits.astype("float32") / 255.0
    all_digits = np.reshape(all_digits, (-1, 28, 28, 1))
    all_labels = keras.utils.to_categorical(all_labels, 10)
    dataset = tf.data.Dataset.from_tensor_slices((all_digits, all_labels))
    dataset = dataset.shuffle(buffer_size=1024).batch(batch_size)
    assert all_labels.shape == (32, 10)

    generator_in_channels = latent_dim + num_classes
    discriminator_in_channels = num_channels + num_classes
    discriminator = keras.Sequential([
        keras.layers.InputLayer((28, 28, discriminator_in_channels)),
        layers.Conv2D(4, (3, 3), strides=(2, 2), padding="same"),
        layers.LeakyReLU(alpha=0.2),
        layers.Conv2D(8, (3, 3), strides=(2, 2), padding="same"),
        layers.LeakyReLU(alpha=0.2),
        layers.GlobalMaxPooling2D(),
        layers.Dense(1),
    ], name="discriminator")
    generator = keras.Sequential([
        keras.layers.InputLayer((generator_in_channels,)),
        layers.Dense(7 * 7 * generator_in_channels),
        layers.LeakyReLU(alpha=0.2),
        layers.Reshape((7, 7, generator_in_channels)),
        layers.Conv2DTranspose(8, (4, 4), strides=(2, 2), padding="same"),
        layers.LeakyReLU(alpha=0.2),
        layers.Conv2DTranspose(8, (4, 4), strides=(2, 2), padding="same"),
        layers.LeakyReLU(alpha=0.2),
        layers.Conv2D(1, (7, 7), padding="same", activation="sigmoid"),
    ], name="generator")

    seen = {}

    class ConditionalGAN(keras.Model):
        def __init__(self, discriminator, generator, latent_dim):
            super(ConditionalGAN, self).__init__()
            self.discriminator = discriminator
            self.generator = generator
            self.latent_dim = latent_dim
            self.gen_loss_tracker = keras.metrics.Mean(name="generator_loss")
            self.disc_loss_tracker = keras.metrics.Mean(name="discriminator_loss")

        @property
        def metrics(self):
            return [self.gen_loss_tracker, self.disc_loss_tracker]

        def compile(self, d_optimizer, g_optimizer, loss_fn):
            super(ConditionalGAN, self).compile()
            self.d_optimizer = d_optimizer
            self.g_optimizer = g_optimizer
            self.loss_fn = loss_fn

        def train_step(self, data):
            real_images, one_hot_labels = data
            image_one_hot_labels = one_hot_labels[:, :, None, None]
            image_one_hot_labels = tf.repeat(image_one_hot_labels,
                                             repeats=[image_size * image_size])
            image_one_hot_labels = tf.reshape(image_one_hot_labels,
                                              (-1, image_size, image_size, num_classes))
            seen.setdefault("labels", (one_hot_labels.numpy(), image_one_hot_labels.numpy()))
            batch_size = tf.shape(real_images)[0]
            random_latent_vectors = tf.random.normal(shape=(batch_size, self.latent_dim))
            random_vector_labels = tf.concat([random_latent_vectors, one_hot_labels], axis=1)
            generated_images = self.generator(random_vector_labels)
            fake_image_and_labels = tf.concat([generated_images, image_one_hot_labels], -1)
            real_image_and_labels = tf.concat([real_images, image_one_hot_labels], -1)
            combined_images = tf.concat([fake_image_and_labels, real_image_and_labels], axis=0)
            labels = tf.concat([tf.ones((batch_size, 1)), tf.zeros((batch_size, 1))], axis=0)
            with tf.GradientTape() as tape:
                predictions = self.discriminator(combined_images)
                d_loss = self.loss_fn(labels, predictions)
            grads = tape.gradient(d_loss, self.discriminator.trainable_weights)
            self.d_optimizer.apply_gradients(zip(grads, self.discriminator.trainable_weights))
            random_latent_vectors = tf.random.normal(shape=(batch_size, self.latent_dim))
            random_vector_labels = tf.concat([random_latent_vectors, one_hot_labels], axis=1)
            misleading_labels = tf.zeros((batch_size, 1))
            with tf.GradientTape() as tape:
                fake_images = self.generator(random_vector_labels)
                fake_image_and_labels = tf.concat([fake_images, image_one_hot_labels], -1)
                predictions = self.discriminator(fake_image_and_labels)
                g_loss = self.loss_fn(misleading_labels, predictions)
            grads = tape.gradient(g_loss, self.generator.trainable_weights)
            self.g_optimizer.apply_gradients(zip(grads, self.generator.trainable_weights))
            self.gen_loss_tracker.update_state(g_loss)
            self.disc_loss_tracker.update_state(d_loss)
            return {"g_loss": self.gen_loss_tracker.result(),
                    "d_loss": self.disc_loss_tracker.result()}

    cond_gan = ConditionalGAN(discriminator=discriminator, generator=generator,
                              latent_dim=latent_dim)
    cond_gan.compile(d_optimizer=keras.optimizers.Adam(learning_rate=0.0003),
                     g_optimizer=keras.optimizers.Adam(learning_rate=0.0003),
                     loss_fn=keras.losses.BinaryCrossentropy(from_logits=True))
    history = cond_gan.fit(dataset, epochs=2, verbose=0)
    assert set(history.history) == {"g_loss", "d_loss"}
    assert np.all(np.isfinite(history.history["g_loss"]))
    onehot, image_labels = seen["labels"]
    ref = np.repeat(onehot[:, :, None, None], 28 * 28).reshape(-1, 28, 28, 10)
    np.testing.assert_array_equal(image_labels, ref)

    trained_gen = cond_gan.generator
    num_interpolation = 9
    interpolation_noise = tf.random.normal(shape=(1, latent_dim))
    noise0 = interpolation_noise.numpy()
    interpolation_noise = tf.repeat(interpolation_noise, repeats=num_interpolation)
    interpolation_noise = tf.reshape(interpolation_noise, (num_interpolation, latent_dim))
    # tf.repeat without an axis flattens (so the rows are not copies, as in TF)
    np.testing.assert_array_equal(interpolation_noise.numpy(),
                                  np.repeat(noise0, 9).reshape(9, latent_dim))

    def interpolate_class(first_number, second_number):
        first_label = keras.utils.to_categorical([first_number], num_classes)
        second_label = keras.utils.to_categorical([second_number], num_classes)
        first_label = tf.cast(first_label, tf.float32)
        second_label = tf.cast(second_label, tf.float32)
        percent_second_label = tf.linspace(0, 1, num_interpolation)[:, None]
        percent_second_label = tf.cast(percent_second_label, tf.float32)
        interpolation_labels = (first_label * (1 - percent_second_label)
                                + second_label * percent_second_label)
        seen["interp"] = interpolation_labels.numpy()
        noise_and_labels = tf.concat([interpolation_noise, interpolation_labels], 1)
        fake = trained_gen.predict(noise_and_labels, verbose=0)
        return fake

    fake_images = interpolate_class(1, 5)
    t = np.linspace(0, 1, 9)[:, None]
    np.testing.assert_allclose(seen["interp"], np.eye(10)[1] * (1 - t) + np.eye(10)[5] * t,
                               rtol=1e-6, atol=1e-7)
    fake_images *= 255.0
    converted_images = fake_images.astype(np.uint8)
    converted_images = tf.image.resize(converted_images, (96, 96)).numpy().astype(np.uint8)
    assert converted_images.shape == (9, 96, 96, 1)


# ----------------------------------------------------------------------------------------------
# vision/mnist_convnet.py
# ----------------------------------------------------------------------------------------------

def _np_maxpool2(x):
    n, h, w, c = x.shape
    return x[:, :h // 2 * 2, :w // 2 * 2].reshape(n, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))


def _softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def test_mnist_convnet():
    num_classes = 10
    input_shape = (28, 28, 1)
    (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
    x_train, y_train, x_test, y_test = x_train[:256], y_train[:256], x_test[:64], y_test[:64]
    x_train = x_train.astype("float32") / 255
    x_test = x_test.astype("float32") / 255
    x_train = np.expand_dims(x_train, -1)
    x_test = np.expand_dims(x_test, -1)
    assert x_train.shape == (256, 28, 28, 1)
    y_train = keras.utils.to_categorical(y_train, num_classes)
    y_test = keras.utils.to_categorical(y_test, num_classes)

    model = keras.Sequential([
        keras.Input(shape=input_shape),
        layers.Conv2D(8, kernel_size=(3, 3), activation="relu"),
        layers.MaxPooling2D(pool_size=(2, 2)),
        layers.Conv2D(8, kernel_size=(3, 3), activation="relu"),
        layers.MaxPooling2D(pool_size=(2, 2)),
        layers.Flatten(),
        layers.Dropout(0.5),
        layers.Dense(num_classes, activation="softmax"),
    ])
    model.summary()
    assert model.count_params() == (9 * 8 + 8) + (9 * 8 * 8 + 8) + (5 * 5 * 8 * 10 + 10)
    batch_size = 32
    epochs = 3
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])

    # evaluate at the initial weights against a NumPy forward pass
    k1, b1, k2, b2, w, b = [v.numpy().astype(np.float64) for v in model.weights]
    h = _np_maxpool2(np.maximum(conv2d(x_test.astype(np.float64), k1) + b1, 0))
    h = _np_maxpool2(np.maximum(conv2d(h, k2) + b2, 0))
    p = _softmax(h.reshape(len(h), -1) @ w + b)
    ref_loss = -np.mean(np.sum(y_test * np.log(np.clip(p, 1e-7, 1 - 1e-7)), axis=1))
    ref_acc = np.mean(p.argmax(1) == y_test.argmax(1))
    score = model.evaluate(x_test, y_test, verbose=0)
    np.testing.assert_allclose(score[0], ref_loss, rtol=1e-4)
    np.testing.assert_allclose(score[1], ref_acc, atol=1e-6)

    history = model.fit(x_train, y_train, batch_size=batch_size, epochs=epochs,
                        validation_split=0.1, verbose=0)
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert history.history["loss"][-1] < history.history["loss"][0]
    score = model.evaluate(x_test, y_test, verbose=0)
    assert score[0] < ref_loss and score[1] > ref_acc


# ----------------------------------------------------------------------------------------------
# vision/image_classification_from_scratch.py
# ----------------------------------------------------------------------------------------------

def test_image_classification_from_scratch(tmp_path, monkeypatch):
    from PIL import Image
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    for ci, folder_name in enumerate(("Cat", "Dog")):
        os.makedirs(os.path.join("PetImages", folder_name))
        for i in range(10):
            a = rng.integers(0, 80, (40, 36, 3)).astype(np.uint8)
            a[..., ci] += 150
            Image.fromarray(a).save(os.path.join("PetImages", folder_name, f"{i}.jpg"))
    with open(os.path.join("PetImages", "Dog", "666.jpg"), "wb") as f:  # a corrupted image
        f.write(b"\x00" * 64)

    num_skipped = 0
    for folder_name in ("Cat", "Dog"):
        folder_path = os.path.join("PetImages", folder_name)
        for fname in os.listdir(folder_path):
            fpath = os.path.join(folder_path, fname)
            try:
                fobj = open(fpath, "rb")
                is_jfif = tf.compat.as_bytes("JFIF") in fobj.peek(10)
            finally:
                fobj.close()
            if not is_jfif:
                num_skipped += 1
                os.remove(fpath)
    assert num_skipped == 1

    image_size = (32, 32)
    batch_size = 4
    train_ds, val_ds = tf.keras.preprocessing.image_dataset_from_directory(
        "PetImages", validation_split=0.2, subset="both", seed=1337, image_size=image_size,
        batch_size=batch_size)
    for images, labels in train_ds.take(1):
        assert images.shape == (4, 32, 32, 3) and images.dtype == tf.float32
        assert labels.dtype == tf.int32
        for i in range(4):
            images[i].numpy().astype("uint8")
            int(labels[i])
    assert sum(int(tf.shape(x)[0]) for x, _ in train_ds) == 16
    assert sum(int(tf.shape(x)[0]) for x, _ in val_ds) == 4

    data_augmentation = keras.Sequential([
        layers.RandomFlip("horizontal"),
        layers.RandomRotation(0.1),
    ])
    for images, _ in train_ds.take(1):
        augmented_images = data_augmentation(images)
        assert augmented_images[0].numpy().astype("uint8").shape == (32, 32, 3)

    train_ds = train_ds.prefetch(buffer_size=32)
    val_ds = val_ds.prefetch(buffer_size=32)

    def make_model(input_shape, num_classes):
        inputs = keras.Input(shape=input_shape)
        x = layers.Rescaling(1.0 / 255)(inputs)
        x = layers.Conv2D(8, 3, strides=2, padding="same")(x)
        x = layers.BatchNormalization()(x)
        x = layers.Activation("relu")(x)
        x = layers.Conv2D(8, 3, padding="same")(x)
        x = layers.BatchNormalization()(x)
        x = layers.Activation("relu")(x)
        previous_block_activation = x
        for size in [8, 12, 16, 16]:
            x = layers.Activation("relu")(x)
            x = layers.SeparableConv2D(size, 3, padding="same")(x)
            x = layers.BatchNormalization()(x)
            x = layers.Activation("relu")(x)
            x = layers.SeparableConv2D(size, 3, padding="same")(x)
            x = layers.BatchNormalization()(x)
            x = layers.MaxPooling2D(3, strides=2, padding="same")(x)
            residual = layers.Conv2D(size, 1, strides=2, padding="same")(
                previous_block_activation)
            x = layers.add([x, residual])
            previous_block_activation = x
        x = layers.SeparableConv2D(16, 3, padding="same")(x)
        x = layers.BatchNormalization()(x)
        x = layers.Activation("relu")(x)
        x = layers.GlobalAveragePooling2D()(x)
        if num_classes == 2:
            activation = "sigmoid"
            units = 1
        else:
            activation = "softmax"
            units = num_classes
        x = layers.Dropout(0.5)(x)
        outputs = layers.Dense(units, activation=activation)(x)
        return keras.Model(inputs, outputs)

    model = make_model(input_shape=image_size + (3,), num_classes=2)
    assert model.output_shape == (None, 1)
    assert model.layers[-1].input_shape == (None, 16)
    train_ds = train_ds.map(lambda img, label: (data_augmentation(img), label),
                            num_parallel_calls=tf.data.AUTOTUNE)
    train_ds = train_ds.prefetch(tf.data.AUTOTUNE)

    epochs = 2
    callbacks = [keras.callbacks.ModelCheckpoint("save_at_{epoch}.keras")]
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy",
                  metrics=["accuracy"], jit_compile=True)
    history = model.fit(train_ds, epochs=epochs, callbacks=callbacks, validation_data=val_ds,
                        verbose=0)
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert os.path.exists("save_at_1.keras") and os.path.exists("save_at_2.keras")

    img = keras.preprocessing.image.load_img("PetImages/Cat/6.jpg", target_size=image_size)
    img_array = keras.preprocessing.image.img_to_array(img)
    img_array = tf.expand_dims(img_array, 0)
    predictions = model.predict(img_array, verbose=0)
    assert predictions.shape == (1, 1)
    score = float(predictions[0][0])  # the example formats predictions[0], a 1-element array
    print(f"This image is {100 * (1 - score):.2f}% cat and {100 * score:.2f}% dog.")
    reloaded = keras.models.load_model("save_at_2.keras")
    np.testing.assert_allclose(reloaded.predict(img_array, verbose=0), predictions, rtol=1e-5,
                               atol=1e-6)


# ----------------------------------------------------------------------------------------------
# vision/siamese_contrastive.py
# ----------------------------------------------------------------------------------------------

def test_siamese_contrastive():
    import random
    random.seed(0)
    epochs = 3
    batch_size = 16
    margin = 1
    (x_train_val, y_train_val), _ = keras.datasets.mnist.load_data()
    x_train_val, y_train_val = x_train_val[:96], y_train_val[:96]
    x_train_val = x_train_val.astype("float32")
    x_train, x_val = x_train_val[:64], x_train_val[64:]
    y_train, y_val = y_train_val[:64], y_train_val[64:]

    def make_pairs(x, y):
        num_classes = max(y) + 1
        digit_indices = [np.where(y == i)[0] for i in range(num_classes)]
        pairs = []
        labels = []
        for idx1 in range(len(x)):
            x1 = x[idx1]
            label1 = y[idx1]
            idx2 = random.choice(digit_indices[label1])
            x2 = x[idx2]
            pairs += [[x1, x2]]
            labels += [1]
            label2 = random.randint(0, num_classes - 1)
            while label2 == label1 or len(digit_indices[label2]) == 0:
                label2 = random.randint(0, num_classes - 1)
            idx2 = random.choice(digit_indices[label2])
            x2 = x[idx2]
            pairs += [[x1, x2]]
            labels += [0]
        return np.array(pairs), np.array(labels).astype("float32")

    pairs_train, labels_train = make_pairs(x_train, y_train)
    pairs_val, labels_val = make_pairs(x_val, y_val)
    assert pairs_train.shape == (128, 2, 28, 28)
    x_train_1 = pairs_train[:, 0]
    x_train_2 = pairs_train[:, 1]
    x_val_1 = pairs_val[:, 0]
    x_val_2 = pairs_val[:, 1]
    # visualize()'s image: two digits side by side
    assert tf.concat([pairs_train[0][0], pairs_train[0][1]], axis=1).shape == (28, 56)

    def euclidean_distance(vects):
        x, y = vects
        sum_square = tf.math.reduce_sum(tf.math.square(x - y), axis=1, keepdims=True)
        return tf.math.sqrt(tf.math.maximum(sum_square, tf.keras.backend.epsilon()))

    input = layers.Input((28, 28, 1))
    x = tf.keras.layers.BatchNormalization()(input)
    x = layers.Conv2D(4, (5, 5), activation="tanh")(x)
    x = layers.AveragePooling2D(pool_size=(2, 2))(x)
    x = layers.Conv2D(16, (5, 5), activation="tanh")(x)
    x = layers.AveragePooling2D(pool_size=(2, 2))(x)
    x = layers.Flatten()(x)
    x = tf.keras.layers.BatchNormalization()(x)
    x = layers.Dense(10, activation="tanh")(x)
    embedding_network = keras.Model(input, x)

    input_1 = layers.Input((28, 28, 1))
    input_2 = layers.Input((28, 28, 1))
    tower_1 = embedding_network(input_1)
    tower_2 = embedding_network(input_2)
    merge_layer = layers.Lambda(euclidean_distance)([tower_1, tower_2])
    normal_layer = tf.keras.layers.BatchNormalization()(merge_layer)
    output_layer = layers.Dense(1, activation="sigmoid")(normal_layer)
    siamese = keras.Model(inputs=[input_1, input_2], outputs=output_layer)

    def loss(margin=1):
        def contrastive_loss(y_true, y_pred):
            square_pred = tf.math.square(y_pred)
            margin_square = tf.math.square(tf.math.maximum(margin - (y_pred), 0))
            return tf.math.reduce_mean((1 - y_true) * square_pred + (y_true) * margin_square)
        return contrastive_loss

    siamese.compile(loss=loss(margin=margin), optimizer="RMSprop", metrics=["accuracy"])
    siamese.summary()
    assert len(siamese.trainable_weights) == len(embedding_network.trainable_weights) + 4

    history = siamese.fit([x_train_1, x_train_2], labels_train,
                          validation_data=([x_val_1, x_val_2], labels_val),
                          batch_size=batch_size, epochs=epochs, verbose=0)
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert history.history["loss"][-1] < history.history["loss"][0]

    # the distance layer and evaluate's loss/accuracy against NumPy on the model's outputs
    distance = keras.Model(siamese.inputs, merge_layer)
    e1 = embedding_network.predict(x_val_1, verbose=0).astype(np.float64)
    e2 = embedding_network.predict(x_val_2, verbose=0).astype(np.float64)
    d = np.sqrt(np.maximum(((e1 - e2) ** 2).sum(1, keepdims=True), 1e-7))
    np.testing.assert_allclose(distance.predict([x_val_1, x_val_2], verbose=0), d, rtol=1e-4,
                               atol=1e-5)
    results = siamese.evaluate([x_val_1, x_val_2], labels_val, batch_size=64, verbose=0)
    predictions = siamese.predict([x_val_1, x_val_2], verbose=0).astype(np.float64)
    y = labels_val[:, None]
    ref_loss = np.mean((1 - y) * predictions ** 2 + y * np.maximum(margin - predictions, 0) ** 2)
    ref_acc = np.mean((predictions > 0.5) == (y > 0.5))
    np.testing.assert_allclose(results, [ref_loss, ref_acc], rtol=1e-4, atol=1e-6)


# ----------------------------------------------------------------------------------------------
# vision/autoencoder.py
# ----------------------------------------------------------------------------------------------

def test_autoencoder():
    from nabi.keras.models import Model
    from nabi.keras.layers import Conv2D, MaxPooling2D, Input, UpSampling2D
    from nabi.keras.datasets import mnist
    np.random.seed(0)

    def preprocess(dataset):
        dataset = dataset.astype("float32") / 255.0
        dataset = np.reshape(dataset, (len(dataset), 28, 28, 1))
        return dataset

    def noise(dataset):
        noise_factor = 0.4
        noisy_dataset = dataset + noise_factor * np.random.normal(loc=0.0, scale=1.0,
                                                                  size=dataset.shape)
        return np.clip(noisy_dataset, 0.0, 1.0)

    (train_dataset, _), (test_dataset, _) = mnist.load_data()
    train_dataset, test_dataset = preprocess(train_dataset[:64]), preprocess(test_dataset[:16])
    noisy_train_dataset = noise(train_dataset)
    noisy_test_dataset = noise(test_dataset)
    assert noisy_train_dataset.dtype == np.float64

    input = Input(shape=(28, 28, 1))
    x = Conv2D(4, (3, 3), activation="relu", padding="same")(input)
    x = MaxPooling2D((2, 2), padding="same")(x)
    x = Conv2D(4, (3, 3), activation="relu", padding="same")(x)
    x = MaxPooling2D((2, 2), padding="same")(x)
    x = Conv2D(4, (3, 3), activation="relu", padding="same")(x)
    x = UpSampling2D((2, 2))(x)
    x = Conv2D(4, (3, 3), activation="relu", padding="same")(x)
    x = UpSampling2D((2, 2))(x)
    x = Conv2D(1, (3, 3), activation="sigmoid", padding="same")(x)
    autoencoder = Model(input, x)
    autoencoder.compile(optimizer="adam", loss="binary_crossentropy")
    autoencoder.summary()

    # the initial loss against NumPy
    ws = [v.numpy().astype(np.float64) for v in autoencoder.weights]
    h = test_dataset.astype(np.float64)
    for i in range(5):
        z = _conv_same(h, ws[2 * i], ws[2 * i + 1], 1)[0]
        if i == 4:
            h = 1 / (1 + np.exp(-z))
        elif i < 2:
            h = _np_maxpool2(np.maximum(z, 0))
        else:
            h = np.maximum(z, 0).repeat(2, axis=1).repeat(2, axis=2)
    ref = np.mean(_bce(test_dataset.astype(np.float64), h))
    np.testing.assert_allclose(autoencoder.evaluate(test_dataset, test_dataset, verbose=0), ref,
                               rtol=1e-4)

    h1 = autoencoder.fit(x=train_dataset, y=train_dataset, epochs=3, batch_size=16, shuffle=True,
                         validation_data=(test_dataset, test_dataset), verbose=0)
    predictions = autoencoder.predict(test_dataset, verbose=0)
    assert predictions.shape == (16, 28, 28, 1) and predictions.dtype == np.float32
    h2 = autoencoder.fit(x=noisy_train_dataset, y=train_dataset, epochs=3, batch_size=16,
                         shuffle=True, validation_data=(noisy_test_dataset, test_dataset),
                         verbose=0)
    predictions = autoencoder.predict(noisy_test_dataset, verbose=0)
    assert predictions.shape == (16, 28, 28, 1)
    assert h1.history["loss"][-1] < h1.history["loss"][0]
    assert h2.history["val_loss"][-1] < ref


# ----------------------------------------------------------------------------------------------
# nlp/bidirectional_lstm_imdb.py
# ----------------------------------------------------------------------------------------------

def _np_lstm_layer(layer, x, go_backwards=False):
    W, R, b = [w.numpy().astype(np.float64) for w in layer.weights]
    z = np.zeros((len(x), R.shape[0]))
    return lstm_forward(x, z, z, W, R, b, go_backwards=go_backwards)


def _synthetic_sequences(rng, n, vocab, lo, hi):
    """Token-id lists of random lengths (the IMDB loader's format) with labels that depend on
    the tokens (whether small ids dominate), so that a model can learn something."""
    xs = [list(rng.integers(1, vocab, rng.integers(lo, hi))) for _ in range(n)]
    ys = np.array([int(np.mean(np.array(s) < vocab // 2) > 0.5) for s in xs])
    return xs, ys



def test_bidirectional_lstm_imdb():
    max_features = 60
    maxlen = 12
    inputs = keras.Input(shape=(None,), dtype="int32")
    x = layers.Embedding(max_features, 8)(inputs)
    x = layers.Bidirectional(layers.LSTM(6, return_sequences=True))(x)
    x = layers.Bidirectional(layers.LSTM(6))(x)
    outputs = layers.Dense(1, activation="sigmoid")(x)
    model = keras.Model(inputs, outputs)
    model.summary()
    assert model.output_shape == (None, 1)

    rng = np.random.default_rng(0)
    x_train, y_train = _synthetic_sequences(rng, 96, max_features, 4, 20)
    x_val, y_val = _synthetic_sequences(rng, 32, max_features, 4, 20)
    x_train = keras.preprocessing.sequence.pad_sequences(x_train, maxlen=maxlen)
    x_val = keras.preprocessing.sequence.pad_sequences(x_val, maxlen=maxlen)
    assert x_train.shape == (96, maxlen) and x_train.dtype == np.int32

    # the untrained model's output against NumPy (forward and reversed LSTMs, concatenated;
    # the first Bidirectional's backward sequence is put back in time order)
    emb, bi1, bi2, dense = model.layers[1:]
    h = emb.embeddings.numpy().astype(np.float64)[x_val]
    fw = _np_lstm_layer(bi1.forward_layer, h)[0]
    bw = _np_lstm_layer(bi1.backward_layer, h, go_backwards=True)[0][:, ::-1]
    h = np.concatenate([fw, bw], axis=-1)
    h = np.concatenate([_np_lstm_layer(bi2.forward_layer, h)[1],
                        _np_lstm_layer(bi2.backward_layer, h, go_backwards=True)[1]], axis=-1)
    w, b = [v.numpy().astype(np.float64) for v in dense.weights]
    p = 1 / (1 + np.exp(-(h @ w + b)))
    np.testing.assert_allclose(model.predict(x_val, verbose=0), p, rtol=1e-4, atol=1e-6)

    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    ref = np.mean(_bce(y_val[:, None], p))
    np.testing.assert_allclose(model.evaluate(x_val, y_val, verbose=0)[0], ref, rtol=1e-4)
    history = model.fit(x_train, y_train, batch_size=32, epochs=3, validation_data=(x_val, y_val),
                        verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    # variable-length input: a batch of another length runs through the same model
    assert model.predict(x_val[:, -5:], verbose=0).shape == (32, 1)


# ----------------------------------------------------------------------------------------------
# nlp/text_classification_with_transformer.py (the tf.keras version: call(inputs, training))
# ----------------------------------------------------------------------------------------------

class TransformerBlock(layers.Layer):
    def __init__(self, embed_dim, num_heads, ff_dim, rate=0.1):
        super().__init__()
        self.att = layers.MultiHeadAttention(num_heads=num_heads, key_dim=embed_dim)
        self.ffn = keras.Sequential([layers.Dense(ff_dim, activation="relu"),
                                     layers.Dense(embed_dim)])
        self.layernorm1 = layers.LayerNormalization(epsilon=1e-6)
        self.layernorm2 = layers.LayerNormalization(epsilon=1e-6)
        self.dropout1 = layers.Dropout(rate)
        self.dropout2 = layers.Dropout(rate)

    def call(self, inputs, training):
        attn_output = self.att(inputs, inputs)
        attn_output = self.dropout1(attn_output, training=training)
        out1 = self.layernorm1(inputs + attn_output)
        ffn_output = self.ffn(out1)
        ffn_output = self.dropout2(ffn_output, training=training)
        return self.layernorm2(out1 + ffn_output)


class TokenAndPositionEmbedding(layers.Layer):
    def __init__(self, maxlen, vocab_size, embed_dim):
        super().__init__()
        self.token_emb = layers.Embedding(input_dim=vocab_size, output_dim=embed_dim)
        self.pos_emb = layers.Embedding(input_dim=maxlen, output_dim=embed_dim)

    def call(self, x):
        maxlen = tf.shape(x)[-1]
        positions = tf.range(start=0, limit=maxlen, delta=1)
        positions = self.pos_emb(positions)
        x = self.token_emb(x)
        return x + positions


def _np_layernorm(x, layer):
    g, b = [v.numpy().astype(np.float64) for v in layer.weights]
    m = x.mean(-1, keepdims=True)
    v = x.var(-1, keepdims=True)
    return (x - m) / np.sqrt(v + layer.epsilon) * g + b


def _np_mha(x, att):
    w = {v.name.split("/")[-2] + "/" + v.name.split("/")[-1].split(":")[0]: v.numpy().astype(
        np.float64) for v in att.weights}
    q = np.einsum("bte,ehk->bthk", x, w["query/kernel"]) + w["query/bias"]
    k = np.einsum("bte,ehk->bthk", x, w["key/kernel"]) + w["key/bias"]
    v = np.einsum("bte,ehk->bthk", x, w["value/kernel"]) + w["value/bias"]
    s = np.einsum("bqhk,bshk->bhqs", q / np.sqrt(q.shape[-1]), k)
    o = np.einsum("bhqs,bshk->bqhk", _softmax(s), v)
    return np.einsum("bqhk,hke->bqe", o, w["attention_output/kernel"]) + w[
        "attention_output/bias"]


def test_text_classification_with_transformer():
    vocab_size = 50
    maxlen = 10
    rng = np.random.default_rng(1)
    x_train, y_train = _synthetic_sequences(rng, 96, vocab_size, 3, 16)
    x_val, y_val = _synthetic_sequences(rng, 32, vocab_size, 3, 16)
    x_train = keras.preprocessing.sequence.pad_sequences(x_train, maxlen=maxlen)
    x_val = keras.preprocessing.sequence.pad_sequences(x_val, maxlen=maxlen)

    embed_dim = 8
    num_heads = 2
    ff_dim = 8
    inputs = layers.Input(shape=(maxlen,))
    embedding_layer = TokenAndPositionEmbedding(maxlen, vocab_size, embed_dim)
    x = embedding_layer(inputs)
    transformer_block = TransformerBlock(embed_dim, num_heads, ff_dim)
    x = transformer_block(x)
    x = layers.GlobalAveragePooling1D()(x)
    x = layers.Dropout(0.1)(x)
    x = layers.Dense(20, activation="relu")(x)
    x = layers.Dropout(0.1)(x)
    outputs = layers.Dense(2, activation="softmax")(x)
    model = keras.Model(inputs=inputs, outputs=outputs)
    assert model.output_shape == (None, 2)

    # inference-mode output against NumPy
    tok = embedding_layer.token_emb.embeddings.numpy().astype(np.float64)
    pos = embedding_layer.pos_emb.embeddings.numpy().astype(np.float64)
    h = tok[x_val] + pos[np.arange(maxlen)]
    tb = transformer_block
    out1 = _np_layernorm(h + _np_mha(h, tb.att), tb.layernorm1)
    w1, b1, w2, b2 = [v.numpy().astype(np.float64) for v in tb.ffn.weights]
    h = _np_layernorm(out1 + (np.maximum(out1 @ w1 + b1, 0) @ w2 + b2), tb.layernorm2).mean(1)
    w3, b3, w4, b4 = [v.numpy().astype(np.float64) for v in model.layers[-3].weights +
                      model.layers[-1].weights]
    p = _softmax(np.maximum(h @ w3 + b3, 0) @ w4 + b4)
    np.testing.assert_allclose(model.predict(x_val, verbose=0), p, rtol=1e-4, atol=1e-6)

    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    score = model.evaluate(x_val, y_val, verbose=0)
    np.testing.assert_allclose(score[0], -np.mean(np.log(p[np.arange(32), y_val])), rtol=1e-4)
    np.testing.assert_allclose(score[1], np.mean(p.argmax(1) == y_val), atol=1e-6)
    history = model.fit(x_train, y_train, batch_size=32, epochs=3,
                        validation_data=(x_val, y_val), verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    # training=True reaches the block's dropouts (required positional argument, as in tf.keras)
    y1 = transformer_block(tf.constant(np.ones((2, maxlen, embed_dim), "float32")), training=True)
    y0 = transformer_block(tf.constant(np.ones((2, maxlen, embed_dim), "float32")))
    assert y1.shape == y0.shape == (2, maxlen, embed_dim)


# ----------------------------------------------------------------------------------------------
# nlp/addition_rnn.py
# ----------------------------------------------------------------------------------------------

def test_addition_rnn():
    np.random.seed(0)
    TRAINING_SIZE = 400
    DIGITS = 2
    REVERSE = True
    MAXLEN = DIGITS + 1 + DIGITS

    class CharacterTable:
        def __init__(self, chars):
            self.chars = sorted(set(chars))
            self.char_indices = dict((c, i) for i, c in enumerate(self.chars))
            self.indices_char = dict((i, c) for i, c in enumerate(self.chars))

        def encode(self, C, num_rows):
            x = np.zeros((num_rows, len(self.chars)))
            for i, c in enumerate(C):
                x[i, self.char_indices[c]] = 1
            return x

        def decode(self, x, calc_argmax=True):
            if calc_argmax:
                x = x.argmax(axis=-1)
            return "".join(self.indices_char[x] for x in x)

    chars = "0123456789+ "
    ctable = CharacterTable(chars)
    questions = []
    expected = []
    seen = set()
    while len(questions) < TRAINING_SIZE:
        f = lambda: int("".join(np.random.choice(list("0123456789"))  # noqa: E731
                                for i in range(np.random.randint(1, DIGITS + 1))))
        a, b = f(), f()
        key = tuple(sorted((a, b)))
        if key in seen:
            continue
        seen.add(key)
        q = "{}+{}".format(a, b)
        query = q + " " * (MAXLEN - len(q))
        ans = str(a + b)
        ans += " " * (DIGITS + 1 - len(ans))
        if REVERSE:
            query = query[::-1]
        questions.append(query)
        expected.append(ans)

    x = np.zeros((len(questions), MAXLEN, len(chars)), dtype=np.bool)
    y = np.zeros((len(questions), DIGITS + 1, len(chars)), dtype=np.bool)
    for i, sentence in enumerate(questions):
        x[i] = ctable.encode(sentence, MAXLEN)
    for i, sentence in enumerate(expected):
        y[i] = ctable.encode(sentence, DIGITS + 1)
    indices = np.arange(len(y))
    np.random.shuffle(indices)
    x = x[indices]
    y = y[indices]
    split_at = len(x) - len(x) // 10
    (x_train, x_val) = x[:split_at], x[split_at:]
    (y_train, y_val) = y[:split_at], y[split_at:]
    assert x_train.shape == (360, 5, 12) and y_val.shape == (40, 3, 12)

    num_layers = 1
    model = keras.Sequential()
    model.add(layers.LSTM(16, input_shape=(MAXLEN, len(chars))))
    model.add(layers.RepeatVector(DIGITS + 1))
    for _ in range(num_layers):
        model.add(layers.LSTM(16, return_sequences=True))
    model.add(layers.Dense(len(chars), activation="softmax"))
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    model.summary()
    assert model.output_shape == (None, DIGITS + 1, len(chars))

    # evaluate at the initial weights against NumPy
    enc, _, dec, dense = model.layers
    h = _np_lstm_layer(enc, x_val.astype(np.float64))[1]
    h = _np_lstm_layer(dec, np.repeat(h[:, None], DIGITS + 1, axis=1))[0]
    w, b = [v.numpy().astype(np.float64) for v in dense.weights]
    p = _softmax(h @ w + b)
    yv = y_val.astype(np.float64)
    ref_loss = -np.mean(np.sum(yv * np.log(p), axis=-1))
    ref_acc = np.mean(p.argmax(-1) == yv.argmax(-1))
    np.testing.assert_allclose(model.evaluate(x_val, y_val, verbose=0), [ref_loss, ref_acc],
                               rtol=1e-4, atol=1e-6)

    epochs = 4
    batch_size = 32
    losses = []
    for epoch in range(1, epochs):
        h = model.fit(x_train, y_train, batch_size=batch_size, epochs=1,
                      validation_data=(x_val, y_val), verbose=0)
        losses.append(h.history["loss"][0])
        for i in range(3):
            ind = np.random.randint(0, len(x_val))
            rowx, rowy = x_val[np.array([ind])], y_val[np.array([ind])]
            preds = np.argmax(model.predict(rowx, verbose=0), axis=-1)
            q = ctable.decode(rowx[0])
            correct = ctable.decode(rowy[0])
            guess = ctable.decode(preds[0], calc_argmax=False)
            assert len(q) == MAXLEN and len(guess) == DIGITS + 1
            assert eval(q[::-1].strip()) == int(correct)
    assert losses[-1] < losses[0]


# ----------------------------------------------------------------------------------------------
# generative/lstm_character_level_text_generation.py
# ----------------------------------------------------------------------------------------------

def test_lstm_character_level_text_generation(capsys):
    import io
    import random
    import sys
    random.seed(0)
    np.random.seed(0)
    text = ("Supposing that truth is a woman--what then? Is there not ground for suspecting "
            "that all philosophers, in so far as they have been dogmatists, have failed to "
            "understand women. ").lower() * 2
    text = io.StringIO(text).read()
    chars = sorted(list(set(text)))
    char_indices = dict((c, i) for i, c in enumerate(chars))
    indices_char = dict((i, c) for i, c in enumerate(chars))
    maxlen = 12
    step = 3
    sentences = []
    next_chars = []
    for i in range(0, len(text) - maxlen, step):
        sentences.append(text[i: i + maxlen])
        next_chars.append(text[i + maxlen])
    x = np.zeros((len(sentences), maxlen, len(chars)), dtype=np.bool)
    y = np.zeros((len(sentences), len(chars)), dtype=np.bool)
    for i, sentence in enumerate(sentences):
        for t, char in enumerate(sentence):
            x[i, t, char_indices[char]] = 1
        y[i, char_indices[next_chars[i]]] = 1

    model = keras.Sequential([
        keras.Input(shape=(maxlen, len(chars))),
        layers.LSTM(16),
        layers.Dense(len(chars), activation="softmax"),
    ])
    optimizer = keras.optimizers.RMSprop(learning_rate=0.01)
    model.compile(loss="categorical_crossentropy", optimizer=optimizer)

    def sample(preds, temperature=1.0):
        preds = np.asarray(preds).astype("float64")
        preds = np.log(preds) / temperature
        exp_preds = np.exp(preds)
        preds = exp_preds / np.sum(exp_preds)
        probas = np.random.multinomial(1, preds, 1)
        return np.argmax(probas)

    h = _np_lstm_layer(model.layers[0], x.astype(np.float64))[1]
    w, b = [v.numpy().astype(np.float64) for v in model.layers[1].weights]
    p = _softmax(h @ w + b)
    ref = -np.mean(np.log(p[y]))
    np.testing.assert_allclose(model.evaluate(x, y, verbose=0), ref, rtol=1e-4)

    epochs = 3
    batch_size = 32
    losses = []
    for epoch in range(epochs):
        losses.append(model.fit(x, y, batch_size=batch_size, epochs=1, verbose=0)
                      .history["loss"][0])
        start_index = random.randint(0, len(text) - maxlen - 1)
        for diversity in [0.2, 1.2]:
            generated = ""
            sentence = text[start_index: start_index + maxlen]
            generated += sentence
            sys.stdout.write(generated)
            for i in range(5):
                x_pred = np.zeros((1, maxlen, len(chars)))
                for t, char in enumerate(sentence):
                    x_pred[0, t, char_indices[char]] = 1.0
                preds = model.predict(x_pred, verbose=0)[0]
                assert preds.shape == (len(chars),) and abs(preds.sum() - 1) < 1e-5
                next_index = sample(preds, diversity)
                next_char = indices_char[next_index]
                sentence = sentence[1:] + next_char
                sys.stdout.write(next_char)
                sys.stdout.flush()
            print()
    assert losses[-1] < losses[0]
    assert len(capsys.readouterr().out.splitlines()) == 2 * epochs


# ----------------------------------------------------------------------------------------------
# timeseries/timeseries_classification_from_scratch.py
# ----------------------------------------------------------------------------------------------

def _np_conv1d_same(x, k, b):
    pads = same_pads(x.shape[1], k.shape[0], 1)
    return conv2d(x[:, None], k[None], pads=(0, 0) + pads)[:, 0] + b


def test_timeseries_classification_from_scratch(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    np.random.seed(0)
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    # FordA-like TSV files: label (-1/1) then a z-normalised series (a sine for class 1)
    for name, n in (("FordA_TRAIN.tsv", 80), ("FordA_TEST.tsv", 24)):
        labels = np.where(np.arange(n) % 2 == 0, -1, 1)
        t = np.linspace(0, 4 * np.pi, 24)
        series = rng.standard_normal((n, 24)) * 2.0 + (labels[:, None] > 0) * np.sin(t)
        series = (series - series.mean(1, keepdims=True)) / series.std(1, keepdims=True)
        np.savetxt(name, np.concatenate([labels[:, None], series], axis=1), delimiter="\t")

    def readucr(filename):
        data = np.loadtxt(filename, delimiter="\t")
        y = data[:, 0]
        x = data[:, 1:]
        return x, y.astype(int)

    x_train, y_train = readucr("FordA_TRAIN.tsv")
    x_test, y_test = readucr("FordA_TEST.tsv")
    classes = np.unique(np.concatenate((y_train, y_test), axis=0))
    assert list(classes) == [-1, 1]
    x_train = x_train.reshape((x_train.shape[0], x_train.shape[1], 1))
    x_test = x_test.reshape((x_test.shape[0], x_test.shape[1], 1))
    num_classes = len(np.unique(y_train))
    idx = np.random.permutation(len(x_train))
    x_train = x_train[idx]
    y_train = y_train[idx]
    y_train[y_train == -1] = 0
    y_test[y_test == -1] = 0

    def make_model(input_shape):
        input_layer = keras.layers.Input(input_shape)
        conv1 = keras.layers.Conv1D(filters=8, kernel_size=3, padding="same")(input_layer)
        conv1 = keras.layers.BatchNormalization()(conv1)
        conv1 = keras.layers.ReLU()(conv1)
        conv2 = keras.layers.Conv1D(filters=8, kernel_size=3, padding="same")(conv1)
        conv2 = keras.layers.BatchNormalization()(conv2)
        conv2 = keras.layers.ReLU()(conv2)
        conv3 = keras.layers.Conv1D(filters=8, kernel_size=3, padding="same")(conv2)
        conv3 = keras.layers.BatchNormalization()(conv3)
        conv3 = keras.layers.ReLU()(conv3)
        gap = keras.layers.GlobalAveragePooling1D()(conv3)
        output_layer = keras.layers.Dense(num_classes, activation="softmax")(gap)
        return keras.models.Model(inputs=input_layer, outputs=output_layer)

    model = make_model(input_shape=x_train.shape[1:])
    assert model.output_shape == (None, 2)

    # the untrained model (BatchNorm at its initial moving statistics) against NumPy
    h = x_test.astype(np.float64)
    convs = [l for l in model.layers if isinstance(l, keras.layers.Conv1D)]
    for conv in convs:
        k, b = [v.numpy().astype(np.float64) for v in conv.weights]
        h = np.maximum(_np_conv1d_same(h, k, b) / np.sqrt(1 + 1e-3), 0)
    w, b = [v.numpy().astype(np.float64) for v in model.layers[-1].weights]
    p = _softmax(h.mean(1) @ w + b)

    epochs = 16
    batch_size = 16
    callbacks = [
        keras.callbacks.ModelCheckpoint("best_model.h5", save_best_only=True, monitor="val_loss"),
        keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=1,
                                          min_lr=0.0001),
        keras.callbacks.EarlyStopping(monitor="val_loss", patience=4, verbose=1),
    ]
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    score = model.evaluate(x_test, y_test, verbose=0)
    np.testing.assert_allclose(score, [-np.mean(np.log(p[np.arange(24), y_test])),
                                       np.mean(p.argmax(1) == y_test)], rtol=1e-4, atol=1e-6)
    history = model.fit(x_train, y_train, batch_size=batch_size, epochs=epochs,
                        callbacks=callbacks, validation_split=0.2, verbose=0)
    val_loss = history.history["val_loss"]
    assert history.history["loss"][-1] < history.history["loss"][0]
    best = int(np.argmin(val_loss))
    # ReduceLROnPlateau (logs the lr of each epoch, as Keras 2) and EarlyStopping replayed on
    # the val_loss history with Keras 2's rules (min_delta 1e-4 and 0, mode min)
    lrs, lr_now, best_lr, wait_lr, best_es, wait_es, stop = [], 1e-3, np.inf, 0, np.inf, 0, None
    for epoch, v in enumerate(val_loss):
        lrs.append(lr_now)
        if v < best_lr - 1e-4:
            best_lr, wait_lr = v, 0
        else:
            wait_lr += 1
            if wait_lr >= 1 and lr_now > 1e-4:
                lr_now, wait_lr = max(lr_now * 0.5, 1e-4), 0
        wait_es += 1
        if v < best_es:
            best_es, wait_es = v, 0
        if wait_es >= 4 and epoch > 0 and stop is None:
            stop = epoch
    np.testing.assert_allclose(history.history["lr"], lrs, rtol=1e-6)
    assert len(val_loss) == (epochs if stop is None else stop + 1)
    assert min(lrs) < 1e-3  # the plateau was reached at least once

    model = keras.models.load_model("best_model.h5")
    # the checkpoint holds the best epoch: its validation loss is reproduced
    n_val = len(x_train) - int(len(x_train) * 0.8)
    np.testing.assert_allclose(
        model.evaluate(x_train[-n_val:], y_train[-n_val:], verbose=0)[0], val_loss[best],
        rtol=1e-4)
    y_pred = model.predict(x_test, verbose=0).argmax(axis=1)
    assert y_pred.shape == (24,)
    print("Test accuracy", np.mean(y_pred == y_test))


# ----------------------------------------------------------------------------------------------
# timeseries/timeseries_weather_forecasting.py (pandas is not installed: the DataFrame steps
# are the same selections done on NumPy arrays)
# ----------------------------------------------------------------------------------------------

def test_timeseries_weather_forecasting(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    feature_keys = ["p (mbar)", "T (degC)", "Tpot (K)", "Tdew (degC)", "rh (%)", "VPmax (mbar)",
                    "VPact (mbar)", "VPdef (mbar)", "sh (g/kg)", "H2OC (mmol/mol)",
                    "rho (g/m**3)", "wv (m/s)", "max. wv (m/s)", "wd (deg)"]
    n_rows = 400
    t = np.arange(n_rows)
    df = {k: 10 * np.sin(t / (20 + 3 * i)) + rng.standard_normal(n_rows) + 5 * i
          for i, k in enumerate(feature_keys)}

    split_fraction = 0.715
    train_split = int(split_fraction * n_rows)
    step = 3
    past = 24
    future = 6
    learning_rate = 0.001
    batch_size = 16
    epochs = 4

    def normalize(data, train_split):
        data_mean = data[:train_split].mean(axis=0)
        data_std = data[:train_split].std(axis=0)
        return (data - data_mean) / data_std

    selected_features = [feature_keys[i] for i in [0, 1, 5, 7, 8, 10, 11]]
    features = np.stack([df[k] for k in selected_features], axis=1)
    features = normalize(features, train_split)
    train_data = features[0: train_split]
    val_data = features[train_split:]
    start = past + future
    end = start + train_split
    x_train = train_data[:, list(range(7))]
    y_train = features[start:end][:, [1]]
    sequence_length = int(past / step)

    dataset_train = keras.preprocessing.timeseries_dataset_from_array(
        x_train, y_train, sequence_length=sequence_length, sampling_rate=step,
        batch_size=batch_size)
    x_end = len(val_data) - past - future
    label_start = train_split + past + future
    x_val = val_data[:x_end][:, list(range(7))]
    y_val = features[label_start:][:, [1]]
    dataset_val = keras.preprocessing.timeseries_dataset_from_array(
        x_val, y_val, sequence_length=sequence_length, sampling_rate=step,
        batch_size=batch_size)

    for batch in dataset_train.take(1):
        inputs, targets = batch
    assert inputs.numpy().shape == (batch_size, sequence_length, 7)
    assert targets.numpy().shape == (batch_size, 1)
    # window i is x[i], x[i + step], ... with the target y[i]
    np.testing.assert_allclose(inputs.numpy()[5], x_train[5: 5 + sequence_length * step: step],
                               rtol=1e-6)
    np.testing.assert_allclose(targets.numpy()[5], y_train[5], rtol=1e-6)
    n_windows = len(x_train) - (sequence_length - 1) * step
    assert sum(int(x.shape[0]) for x, _ in dataset_train) == n_windows

    inputs = keras.layers.Input(shape=(inputs.shape[1], inputs.shape[2]))
    lstm_out = keras.layers.LSTM(8)(inputs)
    outputs = keras.layers.Dense(1)(lstm_out)
    model = keras.Model(inputs=inputs, outputs=outputs)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate), loss="mse")
    model.summary()

    # validation loss of the untrained model against NumPy
    nv = len(x_val) - (sequence_length - 1) * step
    xs = np.stack([x_val[i: i + sequence_length * step: step] for i in range(nv)])
    h = _np_lstm_layer(model.layers[1], xs)[1]
    w, b = [v.numpy().astype(np.float64) for v in model.layers[2].weights]
    ref = np.mean((h @ w + b - y_val[:nv]) ** 2)
    np.testing.assert_allclose(model.evaluate(dataset_val, verbose=0), ref, rtol=1e-4)

    path_checkpoint = "model_checkpoint.h5"
    es_callback = keras.callbacks.EarlyStopping(monitor="val_loss", min_delta=0, patience=5)
    modelckpt_callback = keras.callbacks.ModelCheckpoint(
        monitor="val_loss", filepath=path_checkpoint, verbose=1, save_weights_only=True,
        save_best_only=True)
    history = model.fit(dataset_train, epochs=epochs, validation_data=dataset_val,
                        callbacks=[es_callback, modelckpt_callback], verbose=0)
    loss = history.history["loss"]
    assert loss[-1] < loss[0]
    assert os.path.exists(path_checkpoint)
    model.load_weights(path_checkpoint)
    np.testing.assert_allclose(model.evaluate(dataset_val, verbose=0),
                               min(history.history["val_loss"]), rtol=1e-4)
    for x, y in dataset_val.take(2):
        plot_data = [x[0][:, 1].numpy(), y[0].numpy(), model.predict(x, verbose=0)[0]]
        assert plot_data[0].shape == (sequence_length,) and plot_data[2].shape == (1,)


# ----------------------------------------------------------------------------------------------
# keras_recipes/antirectifier.py
# ----------------------------------------------------------------------------------------------

class Antirectifier(layers.Layer):
    def __init__(self, initializer="he_normal", **kwargs):
        super(Antirectifier, self).__init__(**kwargs)
        self.initializer = keras.initializers.get(initializer)

    def build(self, input_shape):
        output_dim = input_shape[-1]
        self.kernel = self.add_weight(shape=(output_dim * 2, output_dim),
                                      initializer=self.initializer, name="kernel",
                                      trainable=True)

    def call(self, inputs):
        inputs -= tf.reduce_mean(inputs, axis=-1, keepdims=True)
        pos = tf.nn.relu(inputs)
        neg = tf.nn.relu(-inputs)
        concatenated = tf.concat([pos, neg], axis=-1)
        mixed = tf.matmul(concatenated, self.kernel)
        return mixed

    def get_config(self):
        base_config = super(Antirectifier, self).get_config()
        config = {"initializer": keras.initializers.serialize(self.initializer)}
        return dict(list(base_config.items()) + list(config.items()))


def _np_antirectifier(x, k):
    x = x - x.mean(-1, keepdims=True)
    return np.concatenate([np.maximum(x, 0), np.maximum(-x, 0)], -1) @ k


def test_antirectifier(tmp_path):
    batch_size = 32
    num_classes = 10
    epochs = 3
    (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
    x_train, y_train, x_test, y_test = x_train[:256], y_train[:256], x_test[:64], y_test[:64]
    x_train = x_train.reshape(-1, 784)
    x_test = x_test.reshape(-1, 784)
    x_train = x_train.astype("float32")
    x_test = x_test.astype("float32")
    x_train /= 255
    x_test /= 255

    model = keras.Sequential([
        keras.Input(shape=(784,)),
        layers.Dense(16),
        Antirectifier(),
        layers.Dense(16),
        Antirectifier(),
        layers.Dropout(0.5),
        layers.Dense(10),
    ])
    model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  optimizer=keras.optimizers.RMSprop(),
                  metrics=[keras.metrics.SparseCategoricalAccuracy()])
    assert model.layers[1].kernel.shape == (32, 16)

    w = [v.numpy().astype(np.float64) for v in model.weights]
    h = _np_antirectifier(x_test.astype(np.float64) @ w[0] + w[1], w[2])
    h = _np_antirectifier(h @ w[3] + w[4], w[5])
    logits = h @ w[6] + w[7]
    p = _softmax(logits)
    score = model.evaluate(x_test, y_test, verbose=0)
    np.testing.assert_allclose(score, [-np.mean(np.log(p[np.arange(64), y_test])),
                                       np.mean(p.argmax(1) == y_test)], rtol=1e-4, atol=1e-6)

    history = model.fit(x_train, y_train, batch_size=batch_size, epochs=epochs,
                        validation_split=0.15, verbose=0)
    assert set(history.history) == {"loss", "sparse_categorical_accuracy", "val_loss",
                                    "val_sparse_categorical_accuracy"}
    assert history.history["loss"][-1] < history.history["loss"][0]
    model.evaluate(x_test, y_test, verbose=0)

    # get_config round trip, and a saved model that reloads with the custom layer
    layer = model.layers[1]
    config = layer.get_config()
    assert config["initializer"]["class_name"] == "HeNormal"
    clone = Antirectifier.from_config(config)
    assert isinstance(clone.initializer, keras.initializers.HeNormal)
    path = str(tmp_path / "antirectifier.keras")
    model.save(path)
    reloaded = keras.models.load_model(path, custom_objects={"Antirectifier": Antirectifier})
    np.testing.assert_allclose(reloaded.predict(x_test, verbose=0),
                               model.predict(x_test, verbose=0), rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------------------------------------
# keras_recipes/endpoint_layer_pattern.py
# ----------------------------------------------------------------------------------------------

class LogisticEndpoint(keras.layers.Layer):
    def __init__(self, name=None):
        super(LogisticEndpoint, self).__init__(name=name)
        self.loss_fn = keras.losses.BinaryCrossentropy(from_logits=True)
        self.accuracy_fn = keras.metrics.BinaryAccuracy(name="accuracy")

    def call(self, logits, targets=None, sample_weight=None):
        if targets is not None:
            loss = self.loss_fn(targets, logits, sample_weight)
            self.add_loss(loss)
            self.add_metric(self.accuracy_fn(targets, logits, sample_weight))
        return tf.nn.softmax(logits)


def test_endpoint_layer_pattern():
    np.random.seed(0)
    n, d = 64, 12
    inputs = keras.Input((d,), name="inputs")
    logits = keras.layers.Dense(1)(inputs)
    targets = keras.Input((1,), name="targets")
    sample_weight = keras.Input((1,), name="sample_weight")
    preds = LogisticEndpoint()(logits, targets, sample_weight)
    model = keras.Model([inputs, targets, sample_weight], preds)
    # 0/1 targets (the example's are uniform floats, which BinaryAccuracy never matches)
    data = {
        "inputs": np.random.random((n, d)),
        "targets": (np.random.random((n, 1)) > 0.5).astype("float64"),
        "sample_weight": np.random.random((n, 1)),
    }
    model.compile(keras.optimizers.Adam(1e-3))

    # the endpoint's loss and metric on one batch against NumPy
    w, b = [v.numpy().astype(np.float64) for v in model.layers[1].weights]
    z = data["inputs"] @ w + b
    y, sw = data["targets"], data["sample_weight"]
    ref_loss = np.sum(sw * _bce_logits(y, z)) / n
    ref_acc = np.sum(sw * ((z > 0.5) == y)) / np.sum(sw)
    np.testing.assert_allclose(model.evaluate(data, batch_size=n, verbose=0), [ref_loss, ref_acc],
                               rtol=1e-4, atol=1e-6)
    history = model.fit(data, epochs=4, batch_size=16, verbose=0)
    assert set(history.history) == {"loss", "accuracy"}
    assert history.history["loss"][-1] < history.history["loss"][0]
    # evaluate resets the layer's metric: one batch gives that batch's accuracy alone
    w, b = [v.numpy().astype(np.float64) for v in model.layers[1].weights]
    z = data["inputs"] @ w + b
    np.testing.assert_allclose(model.evaluate(data, batch_size=n, verbose=0)[1],
                               np.sum(sw * ((z > 0.5) == y)) / np.sum(sw), rtol=1e-5)

    inputs = keras.Input((d,), name="inputs")
    logits = keras.layers.Dense(1)(inputs)
    preds = LogisticEndpoint()(logits, targets=None, sample_weight=None)
    inference_model = keras.Model(inputs, preds)
    inference_model.set_weights(model.get_weights())
    preds = inference_model.predict(np.random.random((n, d)), verbose=0)
    np.testing.assert_array_equal(preds, np.ones((n, 1), np.float32))  # softmax over one logit

    class LogReg(keras.Model):
        def __init__(self):
            super(LogReg, self).__init__()
            self.dense = keras.layers.Dense(1)
            self.logistic_endpoint = LogisticEndpoint()

        def call(self, inputs):
            logits = self.dense(inputs["inputs"])
            preds = self.logistic_endpoint(logits=logits, targets=inputs["targets"],
                                           sample_weight=inputs["sample_weight"])
            return preds

    model = LogReg()
    model.compile(keras.optimizers.Adam(1e-3))
    history = model.fit(data, epochs=4, batch_size=16, verbose=0)
    assert "loss" in history.history and "accuracy" in history.history
    assert history.history["loss"][-1] < history.history["loss"][0]


# ----------------------------------------------------------------------------------------------
# keras_recipes/trainer_pattern.py
# ----------------------------------------------------------------------------------------------

class MyTrainer(keras.Model):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def train_step(self, data):
        x, y = data
        with tf.GradientTape() as tape:
            y_pred = self.model(x, training=True)
            loss = self.compiled_loss(y, y_pred, regularization_losses=self.losses)
        trainable_vars = self.trainable_variables
        gradients = tape.gradient(loss, trainable_vars)
        self.optimizer.apply_gradients(zip(gradients, trainable_vars))
        self.compiled_metrics.update_state(y, y_pred)
        return {m.name: m.result() for m in self.metrics}

    def call(self, x):
        x = self.model(x)
        return x


def test_trainer_pattern():
    mnist = keras.datasets.mnist
    (x_train, y_train), (x_test, y_test) = mnist.load_data()
    x_train, y_train, x_test, y_test = x_train[:256], y_train[:256], x_test[:64], y_test[:64]
    x_train, x_test = x_train / 255.0, x_test / 255.0

    model_a = keras.models.Sequential([
        keras.layers.Flatten(input_shape=(28, 28)),
        keras.layers.Dense(16, activation="relu"),
        keras.layers.Dropout(0.2),
        keras.layers.Dense(10, activation="softmax"),
    ])
    func_input = keras.Input(shape=(28, 28, 1))
    x = keras.layers.Flatten(input_shape=(28, 28))(func_input)
    x = keras.layers.Dense(24, activation="relu")(x)
    x = keras.layers.Dropout(0.4)(x)
    func_output = keras.layers.Dense(10, activation="softmax")(x)
    model_b = keras.Model(func_input, func_output)

    trainer_1 = MyTrainer(model_a)
    trainer_2 = MyTrainer(model_b)
    trainer_1.compile(keras.optimizers.SGD(), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
    assert len(trainer_1.trainable_variables) == 4

    def np_eval(m):
        w1, b1, w2, b2 = [v.numpy().astype(np.float64) for v in m.weights]
        p = _softmax(np.maximum(x_test.reshape(64, -1) @ w1 + b1, 0) @ w2 + b2)
        return [-np.mean(np.log(p[np.arange(64), y_test])), np.mean(p.argmax(1) == y_test)]

    np.testing.assert_allclose(trainer_1.evaluate(x_test, y_test, verbose=0), np_eval(model_a),
                               rtol=1e-4, atol=1e-6)
    h1 = trainer_1.fit(x_train, y_train, epochs=3, batch_size=32,
                       validation_data=(x_test, y_test), verbose=0)
    assert set(h1.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert h1.history["loss"][-1] < h1.history["loss"][0]

    trainer_2.compile(keras.optimizers.Adam(), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
    # (64, 28, 28) data into the (None, 28, 28, 1) functional input: Keras 2 expands the last
    # axis
    np.testing.assert_allclose(trainer_2.evaluate(x_test, y_test, verbose=0), np_eval(model_b),
                               rtol=1e-4, atol=1e-6)
    h2 = trainer_2.fit(x_train, y_train, epochs=3, batch_size=32,
                       validation_data=(x_test, y_test), verbose=0)
    assert h2.history["loss"][-1] < h2.history["loss"][0]
    np.testing.assert_allclose(trainer_2.evaluate(x_test, y_test, verbose=0), np_eval(model_b),
                               rtol=1e-4, atol=1e-6)
