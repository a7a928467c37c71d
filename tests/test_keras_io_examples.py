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
