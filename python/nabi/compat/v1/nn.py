"""`tf.nn` (TF1 spellings) as graph ops over the eager `nabi.nn` implementations."""
from ... import dtypes as _dt
from ...framework.device import to_device
from ...framework.tensor import _wrap
from ...ops import conv_ops as _C
from ...ops import nn_ops as _N
from .graph import Tensor, apply_op
from .ops import _w, sigmoid, tanh  # noqa: F401

relu = _w(_N.relu, "Relu")
relu6 = _w(_N.relu6, "Relu6")
elu = _w(_N.elu, "Elu")
selu = _w(_N.selu, "Selu")
softplus = _w(_N.softplus, "Softplus")
softsign = _w(_N.softsign, "Softsign")
swish = _w(_N.swish, "Swish")
l2_loss = _w(_N.l2_loss, "L2Loss")


def leaky_relu(features, alpha=0.2, name=None):
    return apply_op("LeakyRelu", _N.leaky_relu, (features, alpha), name=name)


def softmax(logits, axis=None, name=None, dim=None):
    axis = dim if axis is None else axis
    return apply_op("Softmax", _N.softmax, (logits,), {"axis": axis}, name=name)


def log_softmax(logits, axis=None, name=None, dim=None):
    axis = dim if axis is None else axis
    return apply_op("LogSoftmax", _N.log_softmax, (logits,), {"axis": axis}, name=name)


def _sentinel_check(op, sentinel):
    if sentinel is not None:
        raise ValueError(f"[{op}] only call it with named arguments (labels=..., logits=...)")


def softmax_cross_entropy_with_logits(_sentinel=None, labels=None, logits=None, dim=-1, name=None,
                                      axis=None):
    _sentinel_check("softmax_cross_entropy_with_logits", _sentinel)
    axis = dim if axis is None else axis
    return apply_op("SoftmaxCrossEntropyWithLogits", _N.softmax_cross_entropy_with_logits,
                    (), {"labels": labels, "logits": logits, "axis": axis}, name=name)


def softmax_cross_entropy_with_logits_v2(_sentinel=None, labels=None, logits=None, axis=None,
                                         name=None, dim=None):
    _sentinel_check("softmax_cross_entropy_with_logits_v2", _sentinel)
    axis = -1 if axis is None and dim is None else (axis if axis is not None else dim)
    return apply_op("SoftmaxCrossEntropyWithLogits", _N.softmax_cross_entropy_with_logits_v2,
                    (), {"labels": labels, "logits": logits, "axis": axis}, name=name)


def sparse_softmax_cross_entropy_with_logits(_sentinel=None, labels=None, logits=None, name=None):
    _sentinel_check("sparse_softmax_cross_entropy_with_logits", _sentinel)
    return apply_op("SparseSoftmaxCrossEntropyWithLogits",
                    _N.sparse_softmax_cross_entropy_with_logits, (),
                    {"labels": labels, "logits": logits}, name=name)


def sigmoid_cross_entropy_with_logits(_sentinel=None, labels=None, logits=None, name=None):
    _sentinel_check("sigmoid_cross_entropy_with_logits", _sentinel)
    return apply_op("SigmoidCrossEntropyWithLogits", _N.sigmoid_cross_entropy_with_logits, (),
                    {"labels": labels, "logits": logits}, name=name)


def weighted_cross_entropy_with_logits(targets=None, logits=None, pos_weight=None, name=None,
                                       labels=None):
    labels = targets if labels is None else labels
    return apply_op("WeightedCrossEntropyWithLogits", _N.weighted_cross_entropy_with_logits,
                    (labels, logits, pos_weight), name=name)


def _eager_dropout(x, keep_prob, rate, noise_shape, seed):
    if rate is None:
        rate = 1.0 - float(keep_prob._data if hasattr(keep_prob, "_data") else keep_prob)
    else:
        rate = float(rate._data if hasattr(rate, "_data") else rate)
    return _N.dropout(x, rate=rate, noise_shape=noise_shape, seed=seed)


def dropout(x, keep_prob=None, noise_shape=None, seed=None, name=None, rate=None):
    """TF1: `dropout(x, keep_prob)` (keep_prob may be a placeholder) or `rate=`."""
    if (keep_prob is None) == (rate is None):
        raise ValueError("[dropout] give exactly one of keep_prob and rate")
    if keep_prob is not None and not isinstance(keep_prob, Tensor):
        if not 0.0 < float(keep_prob) <= 1.0:
            raise ValueError(f"[dropout] keep_prob must be in (0, 1], got {keep_prob}")
    return apply_op("Dropout", _eager_dropout, (x, keep_prob, rate, noise_shape, seed), name=name,
                    shape_override=x.shape if isinstance(x, Tensor) else None)


def bias_add(value, bias, data_format=None, name=None):
    return apply_op("BiasAdd", _N.bias_add, (value, bias), {"data_format": data_format}, name=name)


def conv2d(input=None, filter=None, strides=None, padding=None, use_cudnn_on_gpu=True,  # noqa: A002
           data_format="NHWC", dilations=None, name=None, filters=None):
    filt = filter if filter is not None else filters
    return apply_op("Conv2D", _C.conv2d, (input, filt),
                    {"strides": strides, "padding": padding, "data_format": data_format,
                     "dilations": dilations}, name=name)


def conv2d_transpose(value=None, filter=None, output_shape=None, strides=None, padding="SAME",  # noqa: A002
                     data_format="NHWC", name=None, input=None, filters=None, dilations=None):
    value = value if value is not None else input
    filt = filter if filter is not None else filters
    return apply_op("Conv2DBackpropInput", _C.conv2d_transpose, (value, filt, output_shape, strides),
                    {"padding": padding, "data_format": data_format}, name=name)


def depthwise_conv2d(input, filter, strides, padding, rate=None, name=None,  # noqa: A002
                     data_format=None, dilations=None):
    return apply_op("DepthwiseConv2dNative", _C.depthwise_conv2d, (input, filter, strides, padding),
                    {"data_format": data_format, "dilations": dilations or rate}, name=name)


def max_pool(value=None, ksize=None, strides=None, padding=None, data_format="NHWC", name=None,
             input=None):  # noqa: A002
    value = value if value is not None else input
    return apply_op("MaxPool", _C.max_pool, (value, ksize, strides, padding),
                    {"data_format": data_format}, name=name)


def avg_pool(value=None, ksize=None, strides=None, padding=None, data_format="NHWC", name=None,
             input=None):  # noqa: A002
    value = value if value is not None else input
    return apply_op("AvgPool", _C.avg_pool, (value, ksize, strides, padding),
                    {"data_format": data_format}, name=name)


def moments(x, axes, shift=None, name=None, keep_dims=None, keepdims=None):
    k = bool(keepdims if keepdims is not None else (keep_dims or False))
    return apply_op("Moments", lambda v: tuple(_N.moments(v, axes, keepdims=k)), (x,), name=name,
                    num_outputs=2)


def batch_normalization(x, mean, variance, offset, scale, variance_epsilon, name=None):
    return apply_op("BatchNorm", _N.batch_normalization,
                    (x, mean, variance, offset, scale, variance_epsilon), name=name)


def l2_normalize(x, axis=None, epsilon=1e-12, name=None, dim=None):
    axis = dim if axis is None else axis
    return apply_op("L2Normalize", _N.l2_normalize, (x, axis, epsilon), name=name)


def embedding_lookup(params, ids, partition_strategy="mod", name=None, validate_indices=True,
                     max_norm=None):
    from ...ops import array_ops as _A
    if isinstance(params, (list, tuple)):
        if len(params) != 1:
            raise NotImplementedError("[embedding_lookup] sharded params are not supported")
        params = params[0]
    return apply_op("GatherV2", _A.gather, (params, ids), name=name or "embedding_lookup")


def in_top_k(predictions, targets, k, name=None):
    """True where the target's prediction is among the k largest of its row (ties count for
    the target, as in TF)."""
    import numpy as np

    def fn(p, t):
        P = p._data
        T = t._data.astype(np.int64).reshape(-1, 1)
        tv = np.take_along_axis(P, T, 1)
        return _wrap(np.less(np.sum(np.greater(P, tv), axis=1), k))
    return apply_op("InTopKV2", fn, (predictions, targets), name=name)


def top_k(input, k=1, sorted=True, name=None):  # noqa: A002
    import numpy as np

    def fn(x):
        # sorted on the host (there is no device sort kernel); the results go back to x's device
        a = x._data
        kind = "cpu" if type(a) is np.ndarray else "cuda"
        h = to_device(a, "cpu")
        idx = np.argsort(-h, axis=-1, kind="stable")[..., :k]
        return (_wrap(to_device(np.ascontiguousarray(np.take_along_axis(h, idx, -1)), kind)),
                _wrap(to_device(idx.astype(np.int32), kind)))
    return apply_op("TopKV2", fn, (input,), name=name, num_outputs=2)


_ = _dt
