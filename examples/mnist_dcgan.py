"""The TensorFlow DCGAN tutorial (tensorflow.org/tutorials/generative/dcgan) on MNIST, with only
the import line changed: a generator (Dense -> BatchNorm -> LeakyReLU -> Conv2DTranspose 5x5
stride 1, 2, 2 -> tanh) and a discriminator (Conv2D 5x5 stride 2 -> LeakyReLU -> Dropout,
twice -> Dense logit), trained by a custom loop: one `@tf.function` step with two
GradientTapes and two Adams, a `tf.data` pipeline, and a `tf.train.Checkpoint` saved each
epoch and restored at the end into fresh models.

    NABI_DATASETS=/work/shared/datasets PYTHONPATH=python python3 examples/mnist_dcgan.py
    ... --epochs 1 --limit 2048 --width 0.25   (a shortened, narrower run for tests)

Prints each epoch's time and mean losses, the generated images' mean pixel, and whether the
restored generator reproduces the trained one.
"""
import argparse
import os
import tempfile
import time

import numpy as np

import nabi as tf
from nabi.keras import layers


def make_generator_model(noise_dim, width):
    c1, c2, c3 = int(256 * width), int(128 * width), int(64 * width)
    model = tf.keras.Sequential()
    model.add(layers.Dense(7 * 7 * c1, use_bias=False, input_shape=(noise_dim,)))
    model.add(layers.BatchNormalization())
    model.add(layers.LeakyReLU())
    model.add(layers.Reshape((7, 7, c1)))
    assert model.output_shape == (None, 7, 7, c1)
    model.add(layers.Conv2DTranspose(c2, (5, 5), strides=(1, 1), padding="same", use_bias=False))
    assert model.output_shape == (None, 7, 7, c2)
    model.add(layers.BatchNormalization())
    model.add(layers.LeakyReLU())
    model.add(layers.Conv2DTranspose(c3, (5, 5), strides=(2, 2), padding="same", use_bias=False))
    assert model.output_shape == (None, 14, 14, c3)
    model.add(layers.BatchNormalization())
    model.add(layers.LeakyReLU())
    model.add(layers.Conv2DTranspose(1, (5, 5), strides=(2, 2), padding="same", use_bias=False,
                                     activation="tanh"))
    assert model.output_shape == (None, 28, 28, 1)
    return model


def make_discriminator_model(width):
    model = tf.keras.Sequential()
    model.add(layers.Conv2D(int(64 * width), (5, 5), strides=(2, 2), padding="same",
                            input_shape=[28, 28, 1]))
    model.add(layers.LeakyReLU())
    model.add(layers.Dropout(0.3))
    model.add(layers.Conv2D(int(128 * width), (5, 5), strides=(2, 2), padding="same"))
    model.add(layers.LeakyReLU())
    model.add(layers.Dropout(0.3))
    model.add(layers.Flatten())
    model.add(layers.Dense(1))
    return model


cross_entropy = tf.keras.losses.BinaryCrossentropy(from_logits=True)


def discriminator_loss(real_output, fake_output):
    real_loss = cross_entropy(tf.ones_like(real_output), real_output)
    fake_loss = cross_entropy(tf.zeros_like(fake_output), fake_output)
    return real_loss + fake_loss


def generator_loss(fake_output):
    return cross_entropy(tf.ones_like(fake_output), fake_output)


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=50)
    ap.add_argument("--limit", type=int, default=0, help="train on the first N images")
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--width", type=float, default=1.0, help="scales the channel counts")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--checkpoint-dir", default="", help="default: a temporary directory")
    a = ap.parse_args(argv)
    tf.keras.utils.set_random_seed(a.seed)
    noise_dim = 100

    (train_images, _), (_, _) = tf.keras.datasets.mnist.load_data()
    if a.limit:
        train_images = train_images[:a.limit]
    train_images = train_images.reshape(train_images.shape[0], 28, 28, 1).astype("float32")
    train_images = (train_images - 127.5) / 127.5  # normalize the images to [-1, 1]
    train_dataset = tf.data.Dataset.from_tensor_slices(train_images).shuffle(60000).batch(
        a.batch_size)

    generator = make_generator_model(noise_dim, a.width)
    discriminator = make_discriminator_model(a.width)
    generator_optimizer = tf.keras.optimizers.Adam(1e-4)
    discriminator_optimizer = tf.keras.optimizers.Adam(1e-4)
    checkpoint_dir = a.checkpoint_dir or tempfile.mkdtemp(prefix="dcgan_")
    checkpoint_prefix = os.path.join(checkpoint_dir, "ckpt")
    checkpoint = tf.train.Checkpoint(generator_optimizer=generator_optimizer,
                                     discriminator_optimizer=discriminator_optimizer,
                                     generator=generator, discriminator=discriminator)

    @tf.function
    def train_step(images):
        noise = tf.random.normal([tf.shape(images)[0], noise_dim])
        with tf.GradientTape() as gen_tape, tf.GradientTape() as disc_tape:
            generated_images = generator(noise, training=True)
            real_output = discriminator(images, training=True)
            fake_output = discriminator(generated_images, training=True)
            gen_loss = generator_loss(fake_output)
            disc_loss = discriminator_loss(real_output, fake_output)
        gradients_of_generator = gen_tape.gradient(gen_loss, generator.trainable_variables)
        gradients_of_discriminator = disc_tape.gradient(disc_loss,
                                                        discriminator.trainable_variables)
        generator_optimizer.apply_gradients(zip(gradients_of_generator,
                                                generator.trainable_variables))
        discriminator_optimizer.apply_gradients(zip(gradients_of_discriminator,
                                                    discriminator.trainable_variables))
        return gen_loss, disc_loss

    seed = tf.random.normal([16, noise_dim])
    for epoch in range(a.epochs):
        start = time.time()
        g_sum = d_sum = 0.0
        n = 0
        for image_batch in train_dataset:
            g, d = train_step(image_batch)
            g_sum += float(g.numpy())
            d_sum += float(d.numpy())
            n += 1
        checkpoint.save(file_prefix=checkpoint_prefix)
        print(f"epoch {epoch + 1}: {time.time() - start:.1f} s, gen_loss {g_sum / n:.4f}, "
              f"disc_loss {d_sum / n:.4f}")
    trained = generator(seed, training=False).numpy()
    print(f"mean pixel: generated {trained.mean():.3f}, real {train_images.mean():.3f}")

    # Restore the latest checkpoint into fresh models (their weights are created first).
    fresh_gen = make_generator_model(noise_dim, a.width)
    fresh = tf.train.Checkpoint(generator_optimizer=tf.keras.optimizers.Adam(1e-4),
                                discriminator_optimizer=tf.keras.optimizers.Adam(1e-4),
                                generator=fresh_gen,
                                discriminator=make_discriminator_model(a.width))
    fresh.restore(tf.train.latest_checkpoint(checkpoint_dir)).assert_existing_objects_matched()
    again = fresh_gen(seed, training=False).numpy()
    print(f"restored generator matches: {bool(np.allclose(again, trained, atol=1e-6))}")
    return trained


if __name__ == "__main__":
    main()
