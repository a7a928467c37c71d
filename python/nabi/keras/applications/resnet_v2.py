"""ResNet50V2, ResNet101V2 and ResNet152V2 (He et al., 2016, "Identity Mappings in Deep
Residual Networks": pre-activation bottlenecks), laid out as Keras 2.15's
`keras.applications.resnet_v2`: `conv1_conv`, blocks `conv<s>_block<i>_preact_bn`, ...,
`_out`, then `post_bn` / `post_relu`. As Keras, each stage's stride sits on the 3x3
convolution of its last block, with a 1x1 max pooling on that block's shortcut."""
from . import imagenet_utils
from .imagenet_utils import decode_predictions  # noqa: F401

__all__ = ["ResNet50V2", "ResNet101V2", "ResNet152V2", "preprocess_input",
           "decode_predictions"]

_BASE = "https://storage.googleapis.com/tensorflow/keras-applications/resnet/"
_HASHES = {  # (with top, without top): Keras's md5s
    "resnet50v2": ("3ef43a0b657b3be2300d5770ece849e0", "fac2f116257151a9d068a22e544a4917"),
    "resnet101v2": ("6343647c601c52e1368623803854d971", "c0ed64b8031c3730f411d2eb4eea35b5"),
    "resnet152v2": ("a49b44d1979771252814e80f8ec446f9", "ed17cf2e0169df9d443503ef94b23b33"),
}
_EPS = 1.001e-5


def _block2(x, filters, kernel_size=3, stride=1, conv_shortcut=False, name=None):
    """Pre-activation bottleneck: BN-ReLU, then 1x1 -> 3x3 (stride) -> 1x1 (4 * filters)."""
    from .. import layers
    preact = layers.BatchNormalization(axis=3, epsilon=_EPS, name=name + "_preact_bn")(x)
    preact = layers.Activation("relu", name=name + "_preact_relu")(preact)
    if conv_shortcut:
        shortcut = layers.Conv2D(4 * filters, 1, strides=stride, name=name + "_0_conv")(preact)
    else:
        shortcut = layers.MaxPooling2D(1, strides=stride)(x) if stride > 1 else x
    x = layers.Conv2D(filters, 1, strides=1, use_bias=False, name=name + "_1_conv")(preact)
    x = layers.BatchNormalization(axis=3, epsilon=_EPS, name=name + "_1_bn")(x)
    x = layers.Activation("relu", name=name + "_1_relu")(x)
    x = layers.ZeroPadding2D(padding=((1, 1), (1, 1)), name=name + "_2_pad")(x)
    x = layers.Conv2D(filters, kernel_size, strides=stride, use_bias=False,
                      name=name + "_2_conv")(x)
    x = layers.BatchNormalization(axis=3, epsilon=_EPS, name=name + "_2_bn")(x)
    x = layers.Activation("relu", name=name + "_2_relu")(x)
    x = layers.Conv2D(4 * filters, 1, name=name + "_3_conv")(x)
    return layers.Add(name=name + "_out")([shortcut, x])


def _stack2(x, filters, blocks, stride1=2, name=None):
    x = _block2(x, filters, conv_shortcut=True, name=name + "_block1")
    for i in range(2, blocks):
        x = _block2(x, filters, name=f"{name}_block{i}")
    return _block2(x, filters, stride=stride1, name=f"{name}_block{blocks}")


def build_resnet_v2(blocks, model_name, who, include_top, weights, input_tensor, input_shape,
                    pooling, classes, classifier_activation):
    from .. import layers
    from ..models import Model
    imagenet_utils.check_weights_arg(weights, include_top, classes, who)
    imagenet_utils.check_pooling(pooling, who)
    input_shape = imagenet_utils.obtain_input_shape(input_shape, default_size=224, min_size=32,
                                                    data_format=None,
                                                    require_flatten=include_top,
                                                    weights=weights)
    img_input = imagenet_utils.image_input(input_tensor, input_shape)
    x = layers.ZeroPadding2D(padding=((3, 3), (3, 3)), name="conv1_pad")(img_input)
    x = layers.Conv2D(64, 7, strides=2, use_bias=True, name="conv1_conv")(x)
    x = layers.ZeroPadding2D(padding=((1, 1), (1, 1)), name="pool1_pad")(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool1_pool")(x)
    for stage, (filters, n) in enumerate(zip((64, 128, 256, 512), blocks), start=2):
        x = _stack2(x, filters, n, stride1=1 if stage == 5 else 2, name=f"conv{stage}")
    x = layers.BatchNormalization(axis=3, epsilon=_EPS, name="post_bn")(x)
    x = layers.Activation("relu", name="post_relu")(x)
    if include_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        imagenet_utils.validate_activation(classifier_activation, weights)
        x = layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    else:
        x = imagenet_utils.pool_features(x, pooling)
    inputs = imagenet_utils.source_inputs(input_tensor, img_input)
    model = Model(inputs, x, name=model_name)
    suffix = "" if include_top else "_notop"
    fname = f"{model_name}_weights_tf_dim_ordering_tf_kernels{suffix}.h5"
    md5 = _HASHES[model_name][0 if include_top else 1]
    # in layer order, as Keras (the shortcut poolings are unnamed)
    return imagenet_utils.load_weights(model, weights, lambda: (fname, _BASE + fname, md5), who,
                                       by_name=False)


def ResNet50V2(include_top=True, weights="imagenet", input_tensor=None, input_shape=None,
               pooling=None, classes=1000, classifier_activation="softmax"):
    """ResNet50V2 (25,613,800 parameters with the top). Inputs scaled to [-1, 1] by
    `resnet_v2.preprocess_input`."""
    return build_resnet_v2((3, 4, 6, 3), "resnet50v2", "ResNet50V2", include_top, weights,
                           input_tensor, input_shape, pooling, classes, classifier_activation)


def ResNet101V2(include_top=True, weights="imagenet", input_tensor=None, input_shape=None,
                pooling=None, classes=1000, classifier_activation="softmax"):
    """ResNet101V2 (44,675,560 parameters with the top)."""
    return build_resnet_v2((3, 4, 23, 3), "resnet101v2", "ResNet101V2", include_top, weights,
                           input_tensor, input_shape, pooling, classes, classifier_activation)


def ResNet152V2(include_top=True, weights="imagenet", input_tensor=None, input_shape=None,
                pooling=None, classes=1000, classifier_activation="softmax"):
    """ResNet152V2 (60,380,648 parameters with the top)."""
    return build_resnet_v2((3, 8, 36, 3), "resnet152v2", "ResNet152V2", include_top, weights,
                           input_tensor, input_shape, pooling, classes, classifier_activation)


def preprocess_input(x, data_format=None):
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="tf")


preprocess_input.__doc__ = imagenet_utils.PREPROCESS_INPUT_DOC.format(
    model="ResNetV2", mode="tf", ret=imagenet_utils._RET["tf"])
