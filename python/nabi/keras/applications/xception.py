"""Xception (Chollet, 2017: depthwise separable convolutions with residual connections), laid
out as Keras 2.15's `keras.applications.xception`: entry flow `block1`..`block4`, middle flow
`block5`..`block12` (three separable convolutions each), exit flow `block13`, `block14`. The
strided 1x1 shortcut convolutions and their BatchNormalization are unnamed in Keras (automatic
names `conv2d_<n>`, `batch_normalization_<n>`, `add_<n>`); weight files load in layer order."""
from . import imagenet_utils
from .imagenet_utils import decode_predictions  # noqa: F401

__all__ = ["Xception", "preprocess_input", "decode_predictions"]

_BASE = "https://storage.googleapis.com/tensorflow/keras-applications/xception/"
_FILES = {True: ("xception_weights_tf_dim_ordering_tf_kernels.h5",
                 "0a58e3b7378bc2990ea3b43d5981f1f6"),
          False: ("xception_weights_tf_dim_ordering_tf_kernels_notop.h5",
                  "b0042744bf5b25fce3cb969f33bebb97")}


def _sep_bn(x, filters, name):
    from .. import layers
    x = layers.SeparableConv2D(filters, (3, 3), padding="same", use_bias=False, name=name)(x)
    return layers.BatchNormalization(axis=3, name=name + "_bn")(x)


def _shortcut(x, filters):
    from .. import layers
    r = layers.Conv2D(filters, (1, 1), strides=(2, 2), padding="same", use_bias=False)(x)
    return layers.BatchNormalization(axis=3)(r)


def Xception(include_top=True, weights="imagenet", input_tensor=None, input_shape=None,
             pooling=None, classes=1000, classifier_activation="softmax"):
    """Xception (22,910,480 parameters with the top, 54,528 of them non-trainable). Input:
    299x299 by default, at least 71x71, images scaled to [-1, 1] by
    `xception.preprocess_input`."""
    from .. import layers
    from ..models import Model
    who = "Xception"
    imagenet_utils.check_weights_arg(weights, include_top, classes, who)
    imagenet_utils.check_pooling(pooling, who)
    input_shape = imagenet_utils.obtain_input_shape(input_shape, default_size=299, min_size=71,
                                                    data_format=None,
                                                    require_flatten=include_top,
                                                    weights=weights)
    img_input = imagenet_utils.image_input(input_tensor, input_shape)
    relu = layers.Activation

    x = layers.Conv2D(32, (3, 3), strides=(2, 2), use_bias=False, name="block1_conv1")(img_input)
    x = layers.BatchNormalization(axis=3, name="block1_conv1_bn")(x)
    x = relu("relu", name="block1_conv1_act")(x)
    x = layers.Conv2D(64, (3, 3), use_bias=False, name="block1_conv2")(x)
    x = layers.BatchNormalization(axis=3, name="block1_conv2_bn")(x)
    x = relu("relu", name="block1_conv2_act")(x)

    # entry flow: blocks 2..4 halve the size; block 2 starts without a ReLU, and its second
    # activation is named 'block2_sepconv2_act' as in Keras
    for block, filters in ((2, 128), (3, 256), (4, 728)):
        residual = _shortcut(x, filters)
        if block > 2:
            x = relu("relu", name=f"block{block}_sepconv1_act")(x)
        x = _sep_bn(x, filters, f"block{block}_sepconv1")
        x = relu("relu", name=f"block{block}_sepconv2_act")(x)
        x = _sep_bn(x, filters, f"block{block}_sepconv2")
        x = layers.MaxPooling2D((3, 3), strides=(2, 2), padding="same",
                                name=f"block{block}_pool")(x)
        x = layers.add([x, residual])

    # middle flow
    for i in range(8):
        residual = x
        prefix = f"block{i + 5}"
        for k in (1, 2, 3):
            x = relu("relu", name=f"{prefix}_sepconv{k}_act")(x)
            x = _sep_bn(x, 728, f"{prefix}_sepconv{k}")
        x = layers.add([x, residual])

    # exit flow
    residual = _shortcut(x, 1024)
    x = relu("relu", name="block13_sepconv1_act")(x)
    x = _sep_bn(x, 728, "block13_sepconv1")
    x = relu("relu", name="block13_sepconv2_act")(x)
    x = _sep_bn(x, 1024, "block13_sepconv2")
    x = layers.MaxPooling2D((3, 3), strides=(2, 2), padding="same", name="block13_pool")(x)
    x = layers.add([x, residual])
    x = _sep_bn(x, 1536, "block14_sepconv1")
    x = relu("relu", name="block14_sepconv1_act")(x)
    x = _sep_bn(x, 2048, "block14_sepconv2")
    x = relu("relu", name="block14_sepconv2_act")(x)

    if include_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        imagenet_utils.validate_activation(classifier_activation, weights)
        x = layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    else:
        x = imagenet_utils.pool_features(x, pooling, named=False)
    inputs = imagenet_utils.source_inputs(input_tensor, img_input)
    model = Model(inputs, x, name="xception")
    fname, md5 = _FILES[bool(include_top)]
    return imagenet_utils.load_weights(model, weights, lambda: (fname, _BASE + fname, md5), who,
                                       by_name=False)


def preprocess_input(x, data_format=None):
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="tf")


preprocess_input.__doc__ = imagenet_utils.PREPROCESS_INPUT_DOC.format(
    model="Xception", mode="tf", ret=imagenet_utils._RET["tf"])
