"""The classic TF1 MNIST GAN (generator and discriminator MLPs, two AdamOptimizers restricted by
var_list, sigmoid cross-entropy losses), only the imports changed. Saves sample grids as PNG
files (matplotlib when installed, else a small built-in PNG writer) to --out.
    python examples/tf1/gan.py [--steps N] [--out DIR]
"""
import os
import struct
import sys
import time
import zlib

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import mnist_dir, parser  # noqa: E402

import nabi.compat.v1 as tf  # noqa: E402
from nabi.examples.tutorials.mnist import input_data  # noqa: E402

p = parser(__doc__, 5000)
p.add_argument("--out", default="gan_out", help="directory for the PNG sample grids")
p.add_argument("--every", type=int, default=1000, help="save a grid every N steps")
args = p.parse_args()
t0 = time.time()
tf.set_random_seed(1)
np.random.seed(1)
mnist = input_data.read_data_sets(mnist_dir(), one_hot=True)

batch_size = 128
learning_rate = 0.0002
image_dim, gen_hidden_dim, disc_hidden_dim, noise_dim = 784, 256, 256, 100


def glorot_init(shape):
    return tf.random_normal(shape=shape, stddev=1. / tf.sqrt(shape[0] / 2.))


def generator(z):
    with tf.variable_scope("generator", reuse=tf.AUTO_REUSE):
        w1 = tf.get_variable("w1", initializer=glorot_init([noise_dim, gen_hidden_dim]))
        b1 = tf.get_variable("b1", initializer=tf.zeros([gen_hidden_dim]))
        w2 = tf.get_variable("w2", initializer=glorot_init([gen_hidden_dim, image_dim]))
        b2 = tf.get_variable("b2", initializer=tf.zeros([image_dim]))
        h = tf.nn.relu(tf.matmul(z, w1) + b1)
        return tf.nn.sigmoid(tf.matmul(h, w2) + b2)


def discriminator(x):
    """Returns logits (the sigmoid is inside the cross-entropy)."""
    with tf.variable_scope("discriminator", reuse=tf.AUTO_REUSE):
        w1 = tf.get_variable("w1", initializer=glorot_init([image_dim, disc_hidden_dim]))
        b1 = tf.get_variable("b1", initializer=tf.zeros([disc_hidden_dim]))
        w2 = tf.get_variable("w2", initializer=glorot_init([disc_hidden_dim, 1]))
        b2 = tf.get_variable("b2", initializer=tf.zeros([1]))
        h = tf.nn.relu(tf.matmul(x, w1) + b1)
        return tf.matmul(h, w2) + b2


gen_input = tf.placeholder(tf.float32, shape=[None, noise_dim], name="input_noise")
disc_input = tf.placeholder(tf.float32, shape=[None, image_dim], name="disc_input")

gen_sample = generator(gen_input)
d_real = discriminator(disc_input)
d_fake = discriminator(gen_sample)

gen_loss = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(
    labels=tf.ones_like(d_fake), logits=d_fake))
disc_loss = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(
    labels=tf.ones_like(d_real), logits=d_real)) + tf.reduce_mean(
    tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.zeros_like(d_fake), logits=d_fake))

gen_vars = tf.get_collection(tf.GraphKeys.TRAINABLE_VARIABLES, scope="generator")
disc_vars = tf.get_collection(tf.GraphKeys.TRAINABLE_VARIABLES, scope="discriminator")
train_gen = tf.train.AdamOptimizer(learning_rate).minimize(gen_loss, var_list=gen_vars)
train_disc = tf.train.AdamOptimizer(learning_rate).minimize(disc_loss, var_list=disc_vars)


def write_png(path, img):
    """8-bit grayscale PNG with zlib only (used when matplotlib is missing)."""
    a = np.clip(img * 255.0, 0, 255).astype(np.uint8)
    raw = b"".join(b"\x00" + a[i].tobytes() for i in range(a.shape[0]))

    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + \
            struct.pack(">I", zlib.crc32(tag + data) & 0xffffffff)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", a.shape[1],
                                                                   a.shape[0], 8, 0, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def save_grid(samples, path):
    n = 4
    grid = np.ones((n * 29 + 1, n * 29 + 1), np.float32)
    for i in range(n * n):
        r, c = divmod(i, n)
        grid[1 + r * 29:1 + r * 29 + 28, 1 + c * 29:1 + c * 29 + 28] = samples[i].reshape(28, 28)
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        plt.imsave(path, grid, cmap="gray", vmin=0.0, vmax=1.0)
    except ImportError:
        write_png(path, grid)
    return grid


os.makedirs(args.out, exist_ok=True)
try:
    import matplotlib  # noqa: F401
except ImportError:
    print("matplotlib is not installed: writing the PNG grids with the built-in writer")

z_fixed = np.random.uniform(-1., 1., size=[16, noise_dim]).astype(np.float32)
with tf.Session() as sess:
    sess.run(tf.global_variables_initializer())
    first = save_grid(sess.run(gen_sample, {gen_input: z_fixed}), os.path.join(args.out, "step_0.png"))
    for i in range(1, args.steps + 1):
        batch_x, _ = mnist.train.next_batch(batch_size)
        z = np.random.uniform(-1., 1., size=[batch_size, noise_dim]).astype(np.float32)
        _, dl = sess.run([train_disc, disc_loss], {disc_input: batch_x, gen_input: z})
        _, gl = sess.run([train_gen, gen_loss], {gen_input: z})
        if i % args.every == 0 or i == 1 or i == args.steps:
            print(f"step {i}: generator loss {gl:.4f}, discriminator loss {dl:.4f}", flush=True)
        if i % args.every == 0 or i == args.steps:
            last = save_grid(sess.run(gen_sample, {gen_input: z_fixed}),
                             os.path.join(args.out, f"step_{i}.png"))
    change = float(np.mean(np.abs(last - first)))
    print(f"initial sample std {first.std():.4f}, final sample std {last.std():.4f}, "
          f"mean |change| {change:.4f}")
    print(f"done: {args.steps} steps, {time.time() - t0:.1f} s, grids in {args.out}")
