"""`nabi.compat.v1`: TensorFlow 1 graph mode over nabi's eager ops.

    import nabi.compat.v1 as tf
    x = tf.placeholder(tf.float32, [None, 784])
    W = tf.Variable(tf.zeros([784, 10]))
    y = tf.nn.softmax(tf.matmul(x, W))
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        sess.run(y, feed_dict={x: batch})

Graph ops record calls to the eager nabi ops (no second implementation of any op); a Session
evaluates the subgraph its fetches need with per-session variable values, and computes the
gradients of `minimize` with an eager GradientTape (the same backward rules). See graph.py,
session.py and train.py.
"""
import types as _types

from ... import dtypes as _dtypes_mod
from ...dtypes import (DType, as_dtype, bool, float16, float32, float64, int8, int16,  # noqa: F401,A004
                       int32, int64, string, uint8)
from ...framework.tensor import TensorShape  # noqa: F401
from . import errors, graph as _graph, session as _session, summary, app, logging  # noqa: F401
from . import nn, train, layers  # noqa: F401
from .graph import (Graph, GraphKeys, Operation, Tensor, add_to_collection,  # noqa: F401
                    add_to_collections, control_dependencies, get_collection,
                    get_collection_ref, get_default_graph, name_scope, reset_default_graph)
from .session import InteractiveSession, Session, get_default_session  # noqa: F401
from .variables import (AUTO_REUSE, Variable, VariableScope, all_variables, assign,  # noqa: F401
                        assign_add, assign_sub, constant_initializer, get_variable,
                        get_variable_scope, global_variables, global_variables_initializer,
                        glorot_normal_initializer, glorot_uniform_initializer,
                        initialize_all_variables, initialize_variables,
                        is_variable_initialized, local_variables, local_variables_initializer,
                        model_variables, ones_initializer, random_normal_initializer,
                        random_uniform_initializer, report_uninitialized_variables,
                        scatter_nd_add, scatter_nd_sub, scatter_nd_update,
                        trainable_variables, truncated_normal_initializer,
                        variable_scope, variables_initializer, variance_scaling_initializer,
                        zeros_initializer)
from .ops import *  # noqa: F401,F403
from .ops import (Print, abs, add, add_n, argmax, argmin, cast, concat, cond, constant,  # noqa: F401,A004
                  convert_to_tensor, equal, exp, gradients, group, identity, log, matmul,
                  maximum, minimum, multiply, no_op, ones, placeholder, placeholder_with_default,
                  pow, random_normal, random_uniform, range, reduce_max, reduce_mean, reduce_sum,
                  reshape, round, set_random_seed, slice, sqrt, square, subtract, truncated_normal,
                  tuple_ as tuple, zeros)

newaxis = None
dtypes = _dtypes_mod
float = float32  # noqa: A001  (never shadows the builtin for users: `tf.float`)
double = float64
AUTO_REUSE = AUTO_REUSE
__version__ = "1.15.0-nabi"
VERSION = __version__


def disable_eager_execution():
    """A no-op: nabi.compat.v1 always builds graphs."""


def disable_v2_behavior():
    """A no-op (nabi.compat.v1 always has TF1 behaviour)."""


def enable_eager_execution(*a, **k):
    raise RuntimeError("nabi.compat.v1 builds graphs; for eager mode use `import nabi as tf`")


def executing_eagerly():
    return False


def device(device_name_or_function):
    """`with tf.device('/gpu:0'):` pins the ops (and variables) created in the block to a device
    (see Graph.device); a Session copies values between devices where ops need them."""
    return get_default_graph().device(device_name_or_function)


def get_seed(op_seed):
    return get_default_graph().seed, op_seed


def ConfigProto(*a, **k):  # noqa: N802
    """Session options; nabi reads allow_soft_placement (a tf.device('/gpu:0') op runs on the
    CPU when no GPU is available, instead of an error)."""
    k.setdefault("gpu_options", _types.SimpleNamespace(allow_growth=False))
    k.setdefault("allow_soft_placement", False)
    k.setdefault("log_device_placement", False)
    return _types.SimpleNamespace(**k)


GPUOptions = ConfigProto


def global_variables_initializer_op():
    return global_variables_initializer()


# -- namespaces --------------------------------------------------------------------------------
initializers = _types.SimpleNamespace(
    zeros=zeros_initializer, ones=ones_initializer, constant=constant_initializer,
    random_normal=random_normal_initializer, truncated_normal=truncated_normal_initializer,
    random_uniform=random_uniform_initializer, glorot_uniform=glorot_uniform_initializer,
    glorot_normal=glorot_normal_initializer, variance_scaling=variance_scaling_initializer,
    global_variables=global_variables_initializer)

random = _types.SimpleNamespace(normal=random_normal, uniform=random_uniform,  # noqa: F811
                                truncated_normal=truncated_normal, set_random_seed=set_random_seed,
                                shuffle=random_shuffle)  # noqa: F405

math = _types.SimpleNamespace(**{n: globals()[n] for n in (  # noqa: F811
    "add", "subtract", "multiply", "divide", "log", "exp", "sqrt", "square", "reduce_sum",
    "reduce_mean", "reduce_max", "reduce_min", "argmax", "argmin", "equal", "maximum", "minimum",
    "abs", "sigmoid", "tanh", "log1p", "pow", "greater", "less", "logical_and", "logical_or",
    "logical_not", "is_nan", "is_finite", "reduce_logsumexp", "squared_difference", "round")})


def _l2_regularizer(scale, scope=None):
    def reg(w):
        return multiply(scale, nn.l2_loss(w))
    return reg


def _xavier(uniform=True, seed=None, dtype=float32):
    from .variables import xavier_initializer
    return xavier_initializer(uniform, seed, dtype)


contrib = _types.SimpleNamespace(
    layers=_types.SimpleNamespace(flatten=layers.flatten, xavier_initializer=_xavier,
                                  l2_regularizer=_l2_regularizer,
                                  fully_connected=lambda inputs, num_outputs, activation_fn=nn.relu,
                                  scope=None, **k: layers.dense(inputs, num_outputs, activation_fn,
                                                                name=scope)))


def _losses_reduce(per, weights=1.0):
    if not isinstance(weights, Tensor) and weights == 1.0:
        return reduce_mean(per)
    return reduce_mean(multiply(per, weights))


def _softmax_ce(onehot_labels, logits, weights=1.0, label_smoothing=0, scope=None, **k):
    return _losses_reduce(nn.softmax_cross_entropy_with_logits_v2(labels=onehot_labels,
                                                                   logits=logits), weights)


def _sparse_softmax_ce(labels, logits, weights=1.0, scope=None, **k):
    return _losses_reduce(nn.sparse_softmax_cross_entropy_with_logits(labels=labels,
                                                                      logits=logits), weights)


def _sigmoid_ce(multi_class_labels, logits, weights=1.0, label_smoothing=0, scope=None, **k):
    return _losses_reduce(nn.sigmoid_cross_entropy_with_logits(labels=multi_class_labels,
                                                               logits=logits), weights)


def _mse(labels, predictions, weights=1.0, scope=None, **k):
    return _losses_reduce(squared_difference(predictions, labels), weights)  # noqa: F405


def _reg_loss(scope=None, name="total_regularization_loss"):
    items = get_collection(GraphKeys.REGULARIZATION_LOSSES, scope)
    return add_n(items) if items else constant(0.0)


losses = _types.SimpleNamespace(softmax_cross_entropy=_softmax_ce,
                                sparse_softmax_cross_entropy=_sparse_softmax_ce,
                                sigmoid_cross_entropy=_sigmoid_ce, mean_squared_error=_mse,
                                get_regularization_loss=_reg_loss)

compat = _types.SimpleNamespace(v1=None)
