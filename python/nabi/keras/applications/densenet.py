"""DenseNet121, DenseNet169 and DenseNet201 (Huang et al., 2016), laid out as Keras 2.15's
`keras.applications.densenet`: `conv1/conv`, dense blocks `conv<s>_block<i>_*`, transitions
`pool<s>_*`, final `bn` / `relu`."""
from . import imagenet_utils
from .imagenet_utils import decode_predictions  # noqa: F401

__all__ = ["DenseNet121", "DenseNet169", "DenseNet201", "preprocess_input",
           "decode_predictions"]

_BASE = "https://storage.googleapis.com/tensorflow/keras-applications/densenet/"
_HASHES = {  # (with top, without top): Keras's md5s
    "densenet121": ("9d60b8095a5708f2dcce2bca79d332c7", "30ee3e1110167f948a6b9946edeeb738"),
    "densenet169": ("d699b8f76981ab1b30698df4c175e90b", "b8c4d4c20dd625c148057b9ff1c1176b"),
    "densenet201": ("1ceb130c1ea1b78c3bf6114dbdfd8807", "c13680b51ded0fb44dff2d8f86ac8bb1"),
}
_EPS = 1.001e-5


def _conv_block(x, growth_rate, name):
    from .. import layers
    x1 = layers.BatchNormalization(axis=3, epsilon=_EPS, name=name + "_0_bn")(x)
    x1 = layers.Activation("relu", name=name + "_0_relu")(x1)
    x1 = layers.Conv2D(4 * growth_rate, 1, use_bias=False, name=name + "_1_conv")(x1)
    x1 = layers.BatchNormalization(axis=3, epsilon=_EPS, name=name + "_1_bn")(x1)
    x1 = layers.Activation("relu", name=name + "_1_relu")(x1)
    x1 = layers.Conv2D(growth_rate, 3, padding="same", use_bias=False, name=name + "_2_conv")(x1)
    return layers.Concatenate(axis=3, name=name + "_concat")([x, x1])


def _transition_block(x, reduction, name):
    from .. import backend, layers
    x = layers.BatchNormalization(axis=3, epsilon=_EPS, name=name + "_bn")(x)
    x = layers.Activation("relu", name=name + "_relu")(x)
    x = layers.Conv2D(int(backend.int_shape(x)[3] * reduction), 1, use_bias=False,
                      name=name + "_conv")(x)
    return layers.AveragePooling2D(2, strides=2, name=name + "_pool")(x)


def build_densenet(blocks, model_name, who, include_top, weights, input_tensor, input_shape,
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
    x = layers.ZeroPadding2D(padding=((3, 3), (3, 3)))(img_input)
    x = layers.Conv2D(64, 7, strides=2, use_bias=False, name="conv1/conv")(x)
    x = layers.BatchNormalization(axis=3, epsilon=_EPS, name="conv1/bn")(x)
    x = layers.Activation("relu", name="conv1/relu")(x)
    x = layers.ZeroPadding2D(padding=((1, 1), (1, 1)))(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool1")(x)
    for stage, n in enumerate(blocks, start=2):
        for i in range(1, n + 1):
            x = _conv_block(x, 32, name=f"conv{stage}_block{i}")
        if stage < 5:
            x = _transition_block(x, 0.5, name=f"pool{stage}")
    x = layers.BatchNormalization(axis=3, epsilon=_EPS, name="bn")(x)
    x = layers.Activation("relu", name="relu")(x)
    if include_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        imagenet_utils.validate_activation(classifier_activation, weights)
        x = layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    else:
        x = imagenet_utils.pool_features(x, pooling)
    inputs = imagenet_utils.source_inputs(input_tensor, img_input)
    model = Model(inputs, x, name=model_name)
    def imagenet_file():
        fname = (f"{model_name}_weights_tf_dim_ordering_tf_kernels"
                 f"{'' if include_top else '_notop'}.h5")
        return fname, _BASE + fname, _HASHES[model_name][0 if include_top else 1]
    return imagenet_utils.load_weights(model, weights, imagenet_file, who)


def DenseNet121(include_top=True, weights="imagenet", input_tensor=None, input_shape=None,
                pooling=None, classes=1000, classifier_activation="softmax"):
    """DenseNet121 (8,062,504 parameters with the top, 83,648 of them non-trainable)."""
    return build_densenet((6, 12, 24, 16), "densenet121", "DenseNet121", include_top, weights,
                          input_tensor, input_shape, pooling, classes, classifier_activation)


def DenseNet169(include_top=True, weights="imagenet", input_tensor=None, input_shape=None,
                pooling=None, classes=1000, classifier_activation="softmax"):
    """DenseNet169 (14,307,880 parameters with the top)."""
    return build_densenet((6, 12, 32, 32), "densenet169", "DenseNet169", include_top, weights,
                          input_tensor, input_shape, pooling, classes, classifier_activation)


def DenseNet201(include_top=True, weights="imagenet", input_tensor=None, input_shape=None,
                pooling=None, classes=1000, classifier_activation="softmax"):
    """DenseNet201 (20,242,984 parameters with the top)."""
    return build_densenet((6, 12, 48, 32), "densenet201", "DenseNet201", include_top, weights,
                          input_tensor, input_shape, pooling, classes, classifier_activation)


def preprocess_input(x, data_format=None):
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="torch")


preprocess_input.__doc__ = imagenet_utils.PREPROCESS_INPUT_DOC.format(
    model="DenseNet", mode="torch", ret=imagenet_utils._RET["torch"])
