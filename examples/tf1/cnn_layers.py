"""A TF1 `tf.layers` CNN on MNIST: conv 32 5x5 relu -> max pool -> conv 64 5x5 relu -> pool ->
flatten -> dense 1024 relu -> dropout(training=placeholder) -> dense 10, Adam(1e-4... 1e-3).
Only the imports changed. Default: 2 epochs (1100 steps of 100).
    python examples/tf1/cnn_layers.py [--steps N]
"""
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import mnist_dir, parser  # noqa: E402

import nabi.compat.v1 as tf  # noqa: E402
from nabi.examples.tutorials.mnist import input_data  # noqa: E402

p = parser(__doc__, 1100)
p.add_argument("--eval-limit", type=int, default=10000, help="test images to evaluate")
args = p.parse_args()
t0 = time.time()
tf.set_random_seed(0)
mnist = input_data.read_data_sets(mnist_dir(), one_hot=True)

x = tf.placeholder(tf.float32, [None, 784])
y_ = tf.placeholder(tf.float32, [None, 10])
training = tf.placeholder(tf.bool, name="training")

inp = tf.reshape(x, [-1, 28, 28, 1])
conv1 = tf.layers.conv2d(inp, filters=32, kernel_size=[5, 5], padding="same",
                         activation=tf.nn.relu)
pool1 = tf.layers.max_pooling2d(conv1, pool_size=[2, 2], strides=2)
conv2 = tf.layers.conv2d(pool1, filters=64, kernel_size=[5, 5], padding="same",
                         activation=tf.nn.relu)
pool2 = tf.layers.max_pooling2d(conv2, pool_size=[2, 2], strides=2)
flat = tf.layers.flatten(pool2)
dense = tf.layers.dense(flat, units=1024, activation=tf.nn.relu)
drop = tf.layers.dropout(dense, rate=0.4, training=training)
logits = tf.layers.dense(drop, units=10)

loss = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits_v2(labels=y_, logits=logits))
train_op = tf.train.AdamOptimizer(1e-3).minimize(loss)
correct = tf.equal(tf.argmax(logits, 1), tf.argmax(y_, 1))
accuracy = tf.reduce_mean(tf.cast(correct, tf.float32))

with tf.Session() as sess:
    sess.run(tf.global_variables_initializer())
    for i in range(1, args.steps + 1):
        bx, by = mnist.train.next_batch(100)
        _, l = sess.run([train_op, loss], {x: bx, y_: by, training: True})
        if i % 100 == 0 or i == args.steps:
            print(f"step {i} loss {l:.4f} ({time.time() - t0:.0f} s)", flush=True)
    n = min(args.eval_limit, mnist.test.num_examples)
    accs = []
    for s in range(0, n, 500):
        e = min(s + 500, n)
        accs.append(sess.run(accuracy, {x: mnist.test.images[s:e], y_: mnist.test.labels[s:e],
                                        training: False}) * (e - s))
    acc = float(np.sum(accs) / n)
    print(f"test accuracy {acc:.4f} ({args.steps} steps, {n} test images, "
          f"{time.time() - t0:.1f} s)")
