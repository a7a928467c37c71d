"""The classic TF1 multilayer perceptron (256-256, AdamOptimizer) on MNIST, only the imports
changed (and a --steps argument instead of 15 epochs).
    python examples/tf1/mlp.py [--steps N]
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import mnist_dir, parser  # noqa: E402

import nabi.compat.v1 as tf  # noqa: E402
from nabi.examples.tutorials.mnist import input_data  # noqa: E402

args = parser(__doc__, 3000).parse_args()
t0 = time.time()
mnist = input_data.read_data_sets(mnist_dir(), one_hot=True)

learning_rate = 0.001
batch_size = 100
n_hidden_1, n_hidden_2, n_input, n_classes = 256, 256, 784, 10

X = tf.placeholder("float", [None, n_input])
Y = tf.placeholder("float", [None, n_classes])

weights = {
    'h1': tf.Variable(tf.random_normal([n_input, n_hidden_1])),
    'h2': tf.Variable(tf.random_normal([n_hidden_1, n_hidden_2])),
    'out': tf.Variable(tf.random_normal([n_hidden_2, n_classes])),
}
biases = {
    'b1': tf.Variable(tf.random_normal([n_hidden_1])),
    'b2': tf.Variable(tf.random_normal([n_hidden_2])),
    'out': tf.Variable(tf.random_normal([n_classes])),
}


def multilayer_perceptron(x):
    layer_1 = tf.nn.relu(tf.add(tf.matmul(x, weights['h1']), biases['b1']))
    layer_2 = tf.nn.relu(tf.add(tf.matmul(layer_1, weights['h2']), biases['b2']))
    return tf.matmul(layer_2, weights['out']) + biases['out']


logits = multilayer_perceptron(X)
loss_op = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(logits=logits, labels=Y))
optimizer = tf.train.AdamOptimizer(learning_rate=learning_rate)
train_op = optimizer.minimize(loss_op)
init = tf.global_variables_initializer()

with tf.Session() as sess:
    sess.run(init)
    avg = 0.0
    for step in range(1, args.steps + 1):
        batch_x, batch_y = mnist.train.next_batch(batch_size)
        _, c = sess.run([train_op, loss_op], feed_dict={X: batch_x, Y: batch_y})
        avg += c
        if step % 500 == 0 or step == args.steps:
            print(f"step {step} avg loss {avg / (500 if step % 500 == 0 else step % 500):.4f}")
            avg = 0.0
    pred = tf.nn.softmax(logits)
    correct_prediction = tf.equal(tf.argmax(pred, 1), tf.argmax(Y, 1))
    accuracy = tf.reduce_mean(tf.cast(correct_prediction, "float"))
    acc = accuracy.eval({X: mnist.test.images, Y: mnist.test.labels})
    print(f"test accuracy {acc:.4f} ({args.steps} steps, {time.time() - t0:.1f} s)")
