"""InceptionV3 (Szegedy et al., 2015, "Rethinking the Inception Architecture"), laid out as
Keras 2.15's `keras.applications.inception_v3`: every convolution is an unnamed
Conv2D (no bias) + BatchNormalization (no scale) + ReLU, so those layers carry Keras's automatic
names (`conv2d_<n>`, `batch_normalization_<n>`, `activation_<n>`); the blocks end in the named
concatenations `mixed0` .. `mixed10` (and `mixed9_0`, `mixed9_1`). Weight files load in layer
order, as Keras loads them."""
from . import imagenet_utils
from .imagenet_utils import decode_predictions  # noqa: F401

__all__ = ["InceptionV3", "preprocess_input", "decode_predictions"]

_BASE = "https://storage.googleapis.com/tensorflow/keras-applications/inception_v3/"
_FILES = {True: ("inception_v3_weights_tf_dim_ordering_tf_kernels.h5",
                 "9a0d58056eeedaa3f26cb7ebd46da564"),
          False: ("inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5",
                  "bcbd6486424b2319ff4ef7d526e38f63")}


def conv2d_bn(x, filters, num_row, num_col, padding="same", strides=(1, 1), name=None):
    """Conv2D (no bias) -> BatchNormalization (scale=False) -> ReLU; `name` gives the layers
    `name + '_conv'`, `name + '_bn'` and `name`, else Keras's automatic names."""
    from .. import layers
    conv_name = None if name is None else name + "_conv"
    bn_name = None if name is None else name + "_bn"
    x = layers.Conv2D(filters, (num_row, num_col), strides=strides, padding=padding,
                      use_bias=False, name=conv_name)(x)
    x = layers.BatchNormalization(axis=3, scale=False, name=bn_name)(x)
    return layers.Activation("relu", name=name)(x)


def _pool_branch(x, filters):
    from .. import layers
    branch = layers.AveragePooling2D((3, 3), strides=(1, 1), padding="same")(x)
    return conv2d_bn(branch, filters, 1, 1)


def InceptionV3(include_top=True, weights="imagenet", input_tensor=None, input_shape=None,
                pooling=None, classes=1000, classifier_activation="softmax"):
    """InceptionV3 (23,851,784 parameters with the top, 34,432 of them non-trainable). Input:
    299x299 by default, at least 75x75, images scaled to [-1, 1] by
    `inception_v3.preprocess_input`."""
    from .. import layers
    from ..models import Model
    who = "InceptionV3"
    imagenet_utils.check_weights_arg(weights, include_top, classes, who)
    imagenet_utils.check_pooling(pooling, who)
    input_shape = imagenet_utils.obtain_input_shape(input_shape, default_size=299, min_size=75,
                                                    data_format=None,
                                                    require_flatten=include_top,
                                                    weights=weights)
    img_input = imagenet_utils.image_input(input_tensor, input_shape)
    cat = layers.concatenate

    x = conv2d_bn(img_input, 32, 3, 3, strides=(2, 2), padding="valid")
    x = conv2d_bn(x, 32, 3, 3, padding="valid")
    x = conv2d_bn(x, 64, 3, 3)
    x = layers.MaxPooling2D((3, 3), strides=(2, 2))(x)
    x = conv2d_bn(x, 80, 1, 1, padding="valid")
    x = conv2d_bn(x, 192, 3, 3, padding="valid")
    x = layers.MaxPooling2D((3, 3), strides=(2, 2))(x)

    # mixed 0, 1, 2: 35 x 35 x 256 / 288 / 288
    for i, pool_filters in enumerate((32, 64, 64)):
        b1 = conv2d_bn(x, 64, 1, 1)
        b5 = conv2d_bn(x, 48, 1, 1)
        b5 = conv2d_bn(b5, 64, 5, 5)
        b3 = conv2d_bn(x, 64, 1, 1)
        b3 = conv2d_bn(b3, 96, 3, 3)
        b3 = conv2d_bn(b3, 96, 3, 3)
        bp = _pool_branch(x, pool_filters)
        x = cat([b1, b5, b3, bp], axis=3, name=f"mixed{i}")

    # mixed 3: 17 x 17 x 768
    b3 = conv2d_bn(x, 384, 3, 3, strides=(2, 2), padding="valid")
    bd = conv2d_bn(x, 64, 1, 1)
    bd = conv2d_bn(bd, 96, 3, 3)
    bd = conv2d_bn(bd, 96, 3, 3, strides=(2, 2), padding="valid")
    bp = layers.MaxPooling2D((3, 3), strides=(2, 2))(x)
    x = cat([b3, bd, bp], axis=3, name="mixed3")

    # mixed 4..7: 17 x 17 x 768, factorised 7x7 convolutions of width c
    for i, c in enumerate((128, 160, 160, 192)):
        b1 = conv2d_bn(x, 192, 1, 1)
        b7 = conv2d_bn(x, c, 1, 1)
        b7 = conv2d_bn(b7, c, 1, 7)
        b7 = conv2d_bn(b7, 192, 7, 1)
        bd = conv2d_bn(x, c, 1, 1)
        bd = conv2d_bn(bd, c, 7, 1)
        bd = conv2d_bn(bd, c, 1, 7)
        bd = conv2d_bn(bd, c, 7, 1)
        bd = conv2d_bn(bd, 192, 1, 7)
        bp = _pool_branch(x, 192)
        x = cat([b1, b7, bd, bp], axis=3, name=f"mixed{4 + i}")

    # mixed 8: 8 x 8 x 1280
    b3 = conv2d_bn(x, 192, 1, 1)
    b3 = conv2d_bn(b3, 320, 3, 3, strides=(2, 2), padding="valid")
    b7 = conv2d_bn(x, 192, 1, 1)
    b7 = conv2d_bn(b7, 192, 1, 7)
    b7 = conv2d_bn(b7, 192, 7, 1)
    b7 = conv2d_bn(b7, 192, 3, 3, strides=(2, 2), padding="valid")
    bp = layers.MaxPooling2D((3, 3), strides=(2, 2))(x)
    x = cat([b3, b7, bp], axis=3, name="mixed8")

    # mixed 9, 10: 8 x 8 x 2048
    for i in range(2):
        b1 = conv2d_bn(x, 320, 1, 1)
        b3 = conv2d_bn(x, 384, 1, 1)
        b3 = cat([conv2d_bn(b3, 384, 1, 3), conv2d_bn(b3, 384, 3, 1)], axis=3,
                 name=f"mixed9_{i}")
        bd = conv2d_bn(x, 448, 1, 1)
        bd = conv2d_bn(bd, 384, 3, 3)
        bd = cat([conv2d_bn(bd, 384, 1, 3), conv2d_bn(bd, 384, 3, 1)], axis=3)
        bp = _pool_branch(x, 192)
        x = cat([b1, b3, bd, bp], axis=3, name=f"mixed{9 + i}")

    if include_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        imagenet_utils.validate_activation(classifier_activation, weights)
        x = layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    else:
        x = imagenet_utils.pool_features(x, pooling, named=False)
    inputs = imagenet_utils.source_inputs(input_tensor, img_input)
    model = Model(inputs, x, name="inception_v3")
    fname, md5 = _FILES[bool(include_top)]
    return imagenet_utils.load_weights(model, weights, lambda: (fname, _BASE + fname, md5), who,
                                       by_name=False)


def preprocess_input(x, data_format=None):
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="tf")


preprocess_input.__doc__ = imagenet_utils.PREPROCESS_INPUT_DOC.format(
    model="InceptionV3", mode="tf", ret=imagenet_utils._RET["tf"])
