"""A GAN on MNIST digits, written as in the Keras tutorial "GAN overriding Model.train_step":
a convolutional discriminator (Conv2D 3x3/2 -> LeakyReLU, twice -> GlobalMaxPooling2D ->
Dense(1) logit) and generator (Dense -> Reshape 7x7 -> Conv2DTranspose 4x4/2 -> LeakyReLU,
twice -> Conv2D 7x7 sigmoid), trained by a keras.Model subclass whose train_step runs one
discriminator step (real vs generated images, noisy labels) and one generator step (fooling
the discriminator), each with its own Adam; `fit` streams a tf.data pipeline of the images.

    NABI_DATASETS=/work/shared/datasets PYTHONPATH=python python3 examples/mnist_gan.py
    ... --epochs 1 --steps 150 --width 0.25   (a shortened, narrower run for tests)
    ... --out digits.png                       (a grid of generated digits, with matplotlib)

Prints each epoch's d_loss and g_loss, then the mean pixel value of generated and of real
digits (a GAN first learns that MNIST is mostly black: 0.13).
"""
import argparse
import time

import numpy as np

import nabi as tf
from nabi import keras
from nabi.keras import layers


def build_discriminator(width):
    c1, c2 = max(4, int(64 * width)), max(8, int(128 * width))
    return keras.Sequential([
        keras.Input(shape=(28, 28, 1)),
        layers.Conv2D(c1, (3, 3), strides=(2, 2), padding="same"),
        layers.LeakyReLU(0.2),
        layers.Conv2D(c2, (3, 3), strides=(2, 2), padding="same"),
        layers.LeakyReLU(0.2),
        layers.GlobalMaxPooling2D(),
        layers.Dense(1),
    ], name="discriminator")


def build_generator(latent_dim, width):
    c = max(8, int(128 * width))
    return keras.Sequential([
        keras.Input(shape=(latent_dim,)),
        layers.Dense(7 * 7 * c),
        layers.LeakyReLU(0.2),
        layers.Reshape((7, 7, c)),
        layers.Conv2DTranspose(c, (4, 4), strides=(2, 2), padding="same"),
        layers.LeakyReLU(0.2),
        layers.Conv2DTranspose(c, (4, 4), strides=(2, 2), padding="same"),
        layers.LeakyReLU(0.2),
        layers.Conv2D(1, (7, 7), padding="same", activation="sigmoid"),
    ], name="generator")


class GAN(keras.Model):
    def __init__(self, discriminator, generator, latent_dim):
        super().__init__()
        self.discriminator = discriminator
        self.generator = generator
        self.latent_dim = latent_dim

    def compile(self, d_optimizer, g_optimizer, loss_fn):
        super().compile()
        self.d_optimizer = d_optimizer
        self.g_optimizer = g_optimizer
        self.loss_fn = loss_fn
        self.d_loss_metric = keras.metrics.Mean(name="d_loss")
        self.g_loss_metric = keras.metrics.Mean(name="g_loss")

    @property
    def metrics(self):
        return [self.d_loss_metric, self.g_loss_metric]

    def train_step(self, real_images):
        if isinstance(real_images, tuple):
            real_images = real_images[0]
        batch_size = tf.shape(real_images)[0]
        # Decode random points of the latent space into fake images, and mix them with real
        # ones, labelled 1 (fake) and 0 (real), plus a little noise on the labels.
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
        # Train the generator (not the discriminator) to have fakes called real.
        random_latent_vectors = tf.random.normal(shape=(batch_size, self.latent_dim))
        misleading_labels = tf.zeros((batch_size, 1))
        with tf.GradientTape() as tape:
            predictions = self.discriminator(self.generator(random_latent_vectors))
            g_loss = self.loss_fn(misleading_labels, predictions)
        grads = tape.gradient(g_loss, self.generator.trainable_weights)
        self.g_optimizer.apply_gradients(zip(grads, self.generator.trainable_weights))
        self.d_loss_metric.update_state(d_loss)
        self.g_loss_metric.update_state(g_loss)
        return {"d_loss": self.d_loss_metric.result(), "g_loss": self.g_loss_metric.result()}


def save_grid(images, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    n = int(np.ceil(np.sqrt(len(images))))
    fig, axes = plt.subplots(n, n, figsize=(n, n))
    for ax, img in zip(axes.ravel(), list(images) + [None] * (n * n - len(images))):
        ax.axis("off")
        if img is not None:
            ax.imshow(img[..., 0], cmap="gray", vmin=0, vmax=1)
    fig.savefig(path, dpi=80)
    print(f"saved {path}")


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--steps", type=int, default=0, help="batches per epoch (0: all)")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--latent-dim", type=int, default=128)
    ap.add_argument("--width", type=float, default=1.0, help="scales the channel counts")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="", help="save a grid of generated digits here")
    a = ap.parse_args(argv)
    keras.utils.set_random_seed(a.seed)
    (x_train, _), (x_test, _) = keras.datasets.mnist.load_data()
    all_digits = np.concatenate([x_train, x_test]).astype("float32") / 255.0
    all_digits = np.reshape(all_digits, (-1, 28, 28, 1))
    dataset = tf.data.Dataset.from_tensor_slices(all_digits)
    dataset = dataset.shuffle(buffer_size=1024).batch(a.batch_size)
    if a.steps:
        dataset = dataset.take(a.steps)

    gan = GAN(discriminator=build_discriminator(a.width),
              generator=build_generator(a.latent_dim, a.width), latent_dim=a.latent_dim)
    gan.compile(d_optimizer=keras.optimizers.Adam(learning_rate=0.0003),
                g_optimizer=keras.optimizers.Adam(learning_rate=0.0003),
                loss_fn=keras.losses.BinaryCrossentropy(from_logits=True))
    t = time.time()
    gan.fit(dataset, epochs=a.epochs, verbose=2)
    print(f"training time {time.time() - t:.1f} s")
    fakes = gan.generator(tf.random.normal(shape=(64, a.latent_dim))).numpy()
    print(f"mean pixel: generated {fakes.mean():.3f}, real {all_digits.mean():.3f}")
    if a.out:
        save_grid(fakes[:25], a.out)
    return fakes


if __name__ == "__main__":
    main()
