"""ResNet50, ResNet101 and ResNet152 (He et al., 2015; the v1 bottleneck with the stride on
the first 1x1 convolution, as Keras), laid out as Keras 2.15's `keras.applications.resnet`:
same layer names (`conv2_block1_1_conv`, ..., `conv5_block3_out`), order and weight shapes."""
from . import imagenet_utils
from .imagenet_utils import decode_predictions  # noqa: F401

__all__ = ["ResNet50", "ResNet101", "ResNet152", "preprocess_input", "decode_predictions"]

_BASE = "https://storage.googleapis.com/tensorflow/keras-applications/resnet/"
_HASHES = {  # (with top, without top): Keras's md5s
    "resnet50": ("2cb95161c43110f7111970584f804107", "4d473c1dd8becc155b73f8504c6f6626"),
    "resnet101": ("f1aeb4b969a6efcfb50fad2f0c20cfc5", "88cf7a10940856eca736dc7b7e228a21"),
    "resnet152": ("100835be76be38e30d865e96f2aaae62", "ee4c566cf9a93f14d82f913c2dc6dd0c"),
}
_EPS = 1.001e-5


def _block(x, filters, stride=1, conv_shortcut=True, name=None):
    """Bottleneck: 1x1 (stride) -> 3x3 -> 1x1 (4 * filters), plus the shortcut."""
    from .. import layers
    if conv_shortcut:
        shortcut = layers.Conv2D(4 * filters, 1, strides=stride, name=name + "_0_conv")(x)
        shortcut = layers.BatchNormalization(axis=3, epsilon=_EPS, name=name + "_0_bn")(shortcut)
    else:
        shortcut = x
    x = layers.Conv2D(filters, 1, strides=stride, name=name + "_1_conv")(x)
    x = layers.BatchNormalization(axis=3, epsilon=_EPS, name=name + "_1_bn")(x)
    x = layers.Activation("relu", name=name + "_1_relu")(x)
    x = layers.Conv2D(filters, 3, padding="same", name=name + "_2_conv")(x)
    x = layers.BatchNormalization(axis=3, epsilon=_EPS, name=name + "_2_bn")(x)
    x = layers.Activation("relu", name=name + "_2_relu")(x)
    x = layers.Conv2D(4 * filters, 1, name=name + "_3_conv")(x)
    x = layers.BatchNormalization(axis=3, epsilon=_EPS, name=name + "_3_bn")(x)
    x = layers.Add(name=name + "_add")([shortcut, x])
    return layers.Activation("relu", name=name + "_out")(x)


def _stack(x, filters, blocks, stride1=2, name=None):
    x = _block(x, filters, stride=stride1, name=name + "_block1")
    for i in range(2, blocks + 1):
        x = _block(x, filters, conv_shortcut=False, name=f"{name}_block{i}")
    return x


def build_resnet(blocks, model_name, include_top, weights, input_tensor, input_shape, pooling,
                 classes, classifier_activation):
    """ResNet v1 with `blocks` bottlenecks in stages conv2..conv5."""
    from .. import layers
    from ..models import Model
    who = {"resnet50": "ResNet50", "resnet101": "ResNet101",
           "resnet152": "ResNet152"}.get(model_name, model_name)
    imagenet_utils.check_weights_arg(weights, include_top, classes, who)
    imagenet_utils.check_pooling(pooling, who)
    input_shape = imagenet_utils.obtain_input_shape(input_shape, default_size=224, min_size=32,
                                                    data_format=None,
                                                    require_flatten=include_top,
                                                    weights=weights)
    img_input = imagenet_utils.image_input(input_tensor, input_shape)
    x = layers.ZeroPadding2D(padding=((3, 3), (3, 3)), name="conv1_pad")(img_input)
    x = layers.Conv2D(64, 7, strides=2, use_bias=True, name="conv1_conv")(x)
    x = layers.BatchNormalization(axis=3, epsilon=_EPS, name="conv1_bn")(x)
    x = layers.Activation("relu", name="conv1_relu")(x)
    x = layers.ZeroPadding2D(padding=((1, 1), (1, 1)), name="pool1_pad")(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool1_pool")(x)
    for stage, (filters, n) in enumerate(zip((64, 128, 256, 512), blocks), start=2):
        x = _stack(x, filters, n, stride1=1 if stage == 2 else 2, name=f"conv{stage}")
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
    return imagenet_utils.load_weights(model, weights, lambda: (fname, _BASE + fname, md5), who)


def ResNet50(include_top=True, weights="imagenet", input_tensor=None, input_shape=None,
             pooling=None, classes=1000, classifier_activation="softmax", **kwargs):
    """ResNet50 (25,636,712 parameters with the top, 53,120 of them non-trainable)."""
    _no_kwargs(kwargs, "ResNet50")
    return build_resnet((3, 4, 6, 3), "resnet50", include_top, weights, input_tensor,
                        input_shape, pooling, classes, classifier_activation)


def ResNet101(include_top=True, weights="imagenet", input_tensor=None, input_shape=None,
              pooling=None, classes=1000, classifier_activation="softmax", **kwargs):
    """ResNet101 (44,707,176 parameters with the top)."""
    _no_kwargs(kwargs, "ResNet101")
    return build_resnet((3, 4, 23, 3), "resnet101", include_top, weights, input_tensor,
                        input_shape, pooling, classes, classifier_activation)


def ResNet152(include_top=True, weights="imagenet", input_tensor=None, input_shape=None,
              pooling=None, classes=1000, classifier_activation="softmax", **kwargs):
    """ResNet152 (60,419,944 parameters with the top)."""
    _no_kwargs(kwargs, "ResNet152")
    return build_resnet((3, 8, 36, 3), "resnet152", include_top, weights, input_tensor,
                        input_shape, pooling, classes, classifier_activation)


def _no_kwargs(kwargs, who):
    if kwargs:
        raise ValueError(f"[{who}] unknown argument(s): {sorted(kwargs)}")


def preprocess_input(x, data_format=None):
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="caffe")


preprocess_input.__doc__ = imagenet_utils.PREPROCESS_INPUT_DOC.format(
    model="ResNet", mode="caffe", ret=imagenet_utils._RET["caffe"])
