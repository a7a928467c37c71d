"""The TF1 "MNIST for ML beginners" softmax regression, with only the imports changed.

1000 steps of batch 100, GradientDescentOptimizer(0.01) on -reduce_sum(y_ * log(y)).
    python examples/tf1/softmax_regression.py [--steps N]
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import mnist_dir, parser  # noqa: E402

import nabi.compat.v1 as tf  # noqa: E402
from nabi.examples.tutorials.mnist import input_data  # noqa: E402

args = parser(__doc__, 1000).parse_args()
t0 = time.time()
if args.seed is not None:
    tf.set_random_seed(args.seed)
mnist = input_data.read_data_sets(mnist_dir(), one_hot=True)

x = tf.placeholder(tf.float32, [None, 784])
W = tf.Variable(tf.zeros([784, 10]))
b = tf.Variable(tf.zeros([10]))
y = tf.nn.softmax(tf.matmul(x, W) + b)

y_ = tf.placeholder(tf.float32, [None, 10])
cross_entropy = -tf.reduce_sum(y_ * tf.log(y))
train_step = tf.train.GradientDescentOptimizer(0.01).minimize(cross_entropy)

init = tf.initialize_all_variables()
sess = tf.Session()
sess.run(init)

for i in range(args.steps):
    batch_xs, batch_ys = mnist.train.next_batch(100)
    _, loss = sess.run([train_step, cross_entropy], feed_dict={x: batch_xs, y_: batch_ys})
    if i % 200 == 0:
        print(f"step {i} loss {loss:.4f}")

correct_prediction = tf.equal(tf.argmax(y, 1), tf.argmax(y_, 1))
accuracy = tf.reduce_mean(tf.cast(correct_prediction, "float"))
acc = sess.run(accuracy, feed_dict={x: mnist.test.images, y_: mnist.test.labels})
print(f"test accuracy {acc:.4f} ({args.steps} steps, {time.time() - t0:.1f} s)")
