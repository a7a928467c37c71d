"""MobileNetV3Small and MobileNetV3Large (Howard et al., 2019), laid out as Keras 2.15's
`keras.applications.mobilenet_v3`: a `Rescaling(1/127.5, offset=-1)` in the model (with
`include_preprocessing=True`; `mobilenet_v3.preprocess_input` is then a pass-through), `Conv`,
`Conv/BatchNorm`, inverted residual blocks `expanded_conv[_<i>]/{expand,depthwise,project}`
with `.../BatchNorm` and squeeze-and-excite `.../squeeze_excite/{AvgPool,Conv,Relu,Conv_1,Mul}`,
then `Conv_1`, and with the top `Conv_2`, `Logits`, `Predictions`.

hard_sigmoid and hard_swish are built from layers as Keras builds them:
`ReLU(6.)(x + 3.) * (1. / 6.)` (operator layers) and `Multiply()([x, hard_sigmoid(x)])`.
Minimalistic models use ReLU, 3x3 kernels and no squeeze-and-excite.
"""
import logging

from . import imagenet_utils
from .imagenet_utils import decode_predictions  # noqa: F401

__all__ = ["MobileNetV3Small", "MobileNetV3Large", "preprocess_input", "decode_predictions"]

BASE_WEIGHT_PATH = "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v3/"
# (with top, without top): Keras 2.15's md5s; the no-top files are the `_no_top_v2.h5` ones
WEIGHTS_HASHES = {
    "large_224_0.75_float": ("765b44a33ad4005b3ac83185abf1d0eb",
                             "40af19a13ebea4e2ee0c676887f69a2e"),
    "large_224_1.0_float": ("59e551e166be033d707958cf9e29a6a7",
                            "07fb09a5933dd0c8eaafa16978110389"),
    "large_minimalistic_224_1.0_float": ("675e7b876c45c57e9e63e6d90a36599c",
                                         "ec5221f64a2f6d1ef965a614bdae7973"),
    "small_224_0.75_float": ("cb65d4e5be93758266aa0a7f2c6708b7",
                             "ebdb5cc8e0b497cd13a7c275d475c819"),
    "small_224_1.0_float": ("8768d4c2e7dee89b9d02b2d03d65d862",
                            "d3e8ec802a04aa4fc771ee12a9a9b836"),
    "small_minimalistic_224_1.0_float": ("99cd97fb2fcdad2bf028eb838de69e37",
                                         "cde8136e733e811080d9fcd8a252f7e4"),
}

# Blocks: (expansion, filters, kernel ('k': 5, or 3 when minimalistic), stride, squeeze-excite,
# activation ('hs': hard_swish, or ReLU when minimalistic; 'relu': always ReLU)).
_SMALL = ((1, 16, 3, 2, True, "relu"), (72. / 16, 24, 3, 2, False, "relu"),
          (88. / 24, 24, 3, 1, False, "relu"), (4, 40, "k", 2, True, "hs"),
          (6, 40, "k", 1, True, "hs"), (6, 40, "k", 1, True, "hs"),
          (3, 48, "k", 1, True, "hs"), (3, 48, "k", 1, True, "hs"),
          (6, 96, "k", 2, True, "hs"), (6, 96, "k", 1, True, "hs"),
          (6, 96, "k", 1, True, "hs"))
_LARGE = ((1, 16, 3, 1, False, "relu"), (4, 24, 3, 2, False, "relu"),
          (3, 24, 3, 1, False, "relu"), (3, 40, "k", 2, True, "relu"),
          (3, 40, "k", 1, True, "relu"), (3, 40, "k", 1, True, "relu"),
          (6, 80, 3, 2, False, "hs"), (2.5, 80, 3, 1, False, "hs"),
          (2.3, 80, 3, 1, False, "hs"), (2.3, 80, 3, 1, False, "hs"),
          (6, 112, 3, 1, True, "hs"), (6, 112, 3, 1, True, "hs"),
          (6, 160, "k", 2, True, "hs"), (6, 160, "k", 1, True, "hs"),
          (6, 160, "k", 1, True, "hs"))


def _depth(v, divisor=8, min_value=None):
    """The multiple of `divisor` nearest `v`, at least `min_value` and not 10% below `v`."""
    if min_value is None:
        min_value = divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


def relu(x):
    from .. import layers
    return layers.ReLU()(x)


def hard_sigmoid(x):
    """relu6(x + 3) / 6, as Keras builds it: an add, a ReLU(6.) layer and a multiply."""
    from .. import layers
    return layers.ReLU(6.0)(x + 3.0) * (1.0 / 6.0)


def hard_swish(x):
    """x * hard_sigmoid(x), a `Multiply` layer as in Keras."""
    from .. import layers
    return layers.Multiply()([x, hard_sigmoid(x)])


def _bn(name):
    from .. import layers
    return layers.BatchNormalization(axis=-1, epsilon=1e-3, momentum=0.999, name=name)


def _se_block(inputs, filters, se_ratio, prefix):
    from .. import layers
    x = layers.GlobalAveragePooling2D(keepdims=True, name=prefix + "squeeze_excite/AvgPool")(
        inputs)
    x = layers.Conv2D(_depth(filters * se_ratio), kernel_size=1, padding="same",
                      name=prefix + "squeeze_excite/Conv")(x)
    x = layers.ReLU(name=prefix + "squeeze_excite/Relu")(x)
    x = layers.Conv2D(filters, kernel_size=1, padding="same",
                      name=prefix + "squeeze_excite/Conv_1")(x)
    x = hard_sigmoid(x)
    return layers.Multiply(name=prefix + "squeeze_excite/Mul")([inputs, x])


def _inverted_res_block(x, expansion, filters, kernel_size, stride, se_ratio, activation,
                        block_id):
    from .. import backend, layers
    shortcut = x
    prefix = "expanded_conv/"
    infilters = backend.int_shape(x)[-1]
    if block_id:
        prefix = f"expanded_conv_{block_id}/"
        x = layers.Conv2D(_depth(infilters * expansion), kernel_size=1, padding="same",
                          use_bias=False, name=prefix + "expand")(x)
        x = _bn(prefix + "expand/BatchNorm")(x)
        x = activation(x)
    if stride == 2:
        x = layers.ZeroPadding2D(padding=imagenet_utils.correct_pad(x, kernel_size),
                                 name=prefix + "depthwise/pad")(x)
    x = layers.DepthwiseConv2D(kernel_size, strides=stride,
                               padding="same" if stride == 1 else "valid", use_bias=False,
                               name=prefix + "depthwise")(x)
    x = _bn(prefix + "depthwise/BatchNorm")(x)
    x = activation(x)
    if se_ratio:
        x = _se_block(x, _depth(infilters * expansion), se_ratio, prefix)
    x = layers.Conv2D(filters, kernel_size=1, padding="same", use_bias=False,
                      name=prefix + "project")(x)
    x = _bn(prefix + "project/BatchNorm")(x)
    if stride == 1 and infilters == filters:
        x = layers.Add(name=prefix + "Add")([shortcut, x])
    return x


def MobileNetV3(blocks, last_point_ch, input_shape=None, alpha=1.0, model_type="large",
                minimalistic=False, include_top=True, weights="imagenet", input_tensor=None,
                classes=1000, pooling=None, dropout_rate=0.2,
                classifier_activation="softmax", include_preprocessing=True, who="MobileNetV3"):
    """The MobileNetV3 network over the block table `blocks` (Keras's `MobileNetV3`)."""
    from .. import backend, layers
    from ..models import Model
    imagenet_utils.check_weights_arg(weights, include_top, classes, who)
    imagenet_utils.check_pooling(pooling, who)
    if input_shape is not None:
        input_shape = tuple(None if d is None else int(d) for d in input_shape)
        if len(input_shape) != 3:
            raise ValueError(f"[{who}] `input_shape` must be a tuple of three integers "
                             f"(rows, cols, channels). Received: input_shape={input_shape}")
    if input_shape is not None and input_tensor is not None:
        if not backend.is_keras_tensor(input_tensor):
            raise ValueError(f"[{who}] input_tensor specified: {input_tensor!r} is not a keras "
                             "tensor")
        if backend.int_shape(input_tensor)[2] != input_shape[1]:
            raise ValueError("input_shape[1] must equal backend.int_shape(input_tensor)[2].  "
                             f"Received input_shape={input_shape}, backend.int_shape("
                             f"input_tensor)={backend.int_shape(input_tensor)}")
    if input_shape is None and input_tensor is not None and \
            backend.is_keras_tensor(input_tensor):
        rows, cols = backend.int_shape(input_tensor)[1:3]
        input_shape = (cols, rows, 3)  # (sic) Keras's order
    if input_shape is None:
        input_shape = (None, None, 3)
    rows, cols = input_shape[0], input_shape[1]
    if rows and cols and (rows < 32 or cols < 32):
        raise ValueError("Input size must be at least 32x32; Received `input_shape="
                         f"{input_shape}`")
    if weights == "imagenet":
        if (not minimalistic and alpha not in (0.75, 1.0)) or (minimalistic and alpha != 1.0):
            raise ValueError("If imagenet weights are being loaded, alpha can be one of `0.75`, "
                             "`1.0` for non minimalistic or `1.0` for minimalistic only. "
                             f"[{who}] Received: alpha={alpha}, minimalistic={minimalistic}")
        if rows != cols or rows != 224:
            logging.getLogger("nabi").warning(
                "`input_shape` is undefined or non-square, or `rows` is not 224. Weights for "
                "input shape (224, 224) will be loaded as the default.")
    if not 0 <= dropout_rate < 1:
        raise ValueError(f"[{who}] `dropout_rate` must be in [0, 1). Received: "
                         f"dropout_rate={dropout_rate}")
    img_input = imagenet_utils.image_input(input_tensor, input_shape)

    if minimalistic:
        kernel, activation, se_ratio = 3, relu, None
    else:
        kernel, activation, se_ratio = 5, hard_swish, 0.25

    x = img_input
    if include_preprocessing:
        x = layers.Rescaling(scale=1.0 / 127.5, offset=-1.0)(x)
    x = layers.Conv2D(16, kernel_size=3, strides=(2, 2), padding="same", use_bias=False,
                      name="Conv")(x)
    x = _bn("Conv/BatchNorm")(x)
    x = activation(x)
    for block_id, (expansion, filters, k, stride, se, act) in enumerate(blocks):
        x = _inverted_res_block(x, expansion, _depth(filters * alpha),
                                kernel if k == "k" else k, stride, se_ratio if se else None,
                                activation if act == "hs" else relu, block_id)
    last_conv_ch = _depth(backend.int_shape(x)[-1] * 6)
    if alpha > 1.0:  # a width multiplier above 1 widens the last point-wise layer too
        last_point_ch = _depth(last_point_ch * alpha)
    x = layers.Conv2D(last_conv_ch, kernel_size=1, padding="same", use_bias=False,
                      name="Conv_1")(x)
    x = _bn("Conv_1/BatchNorm")(x)
    x = activation(x)
    if include_top:
        x = layers.GlobalAveragePooling2D(keepdims=True)(x)
        x = layers.Conv2D(last_point_ch, kernel_size=1, padding="same", use_bias=True,
                          name="Conv_2")(x)
        x = activation(x)
        if dropout_rate > 0:
            x = layers.Dropout(dropout_rate)(x)
        x = layers.Conv2D(classes, kernel_size=1, padding="same", name="Logits")(x)
        x = layers.Flatten()(x)
        imagenet_utils.validate_activation(classifier_activation, weights)
        x = layers.Activation(activation=classifier_activation, name="Predictions")(x)
    else:
        x = imagenet_utils.pool_features(x, pooling)
    inputs = imagenet_utils.source_inputs(input_tensor, img_input)
    model = Model(inputs, x, name="MobilenetV3" + model_type)
    def imagenet_file():
        name = f"{model_type}{'_minimalistic' if minimalistic else ''}_224_{float(alpha)}_float"
        fname = "weights_mobilenet_v3_" + name + (".h5" if include_top else "_no_top_v2.h5")
        return fname, BASE_WEIGHT_PATH + fname, WEIGHTS_HASHES[name][0 if include_top else 1]
    return imagenet_utils.load_weights(model, weights, imagenet_file, who)


_DOC = """Instantiates {name} (Keras 2.15's `keras.applications.{name}`; {params} parameters
    with the top at alpha=1).

    The model rescales its input itself (`include_preprocessing=True`): feed float pixels in
    [0, 255]; with `include_preprocessing=False` it expects pixels in [-1, 1].
    `mobilenet_v3.preprocess_input` is a pass-through.

    Args:
      input_shape: (rows, cols, 3), at least 32x32; None: (None, None, 3), any size.
      alpha: width multiplier (0.75 or 1.0 for ImageNet weights; 1.0 when minimalistic).
      minimalistic: no squeeze-and-excite, no hard-swish, no 5x5 kernels.
      include_top: the classifier (`Conv_2`, `Logits`, `Predictions`).
      weights: None, 'imagenet' or the path of a weights file.
      input_tensor: a Keras tensor to build the model on.
      classes: number of classes with the top (1000 for ImageNet weights).
      pooling: None, 'avg' or 'max' without the top.
      dropout_rate: the dropout before `Logits`.
      classifier_activation: the activation of `Predictions` (softmax or None with weights).
      include_preprocessing: the `Rescaling` layer at the bottom.
    """


def _make(table, last_point_ch, model_type, who, params):
    def fn(input_shape=None, alpha=1.0, minimalistic=False, include_top=True,
           weights="imagenet", input_tensor=None, classes=1000, pooling=None,
           dropout_rate=0.2, classifier_activation="softmax", include_preprocessing=True,
           **kwargs):
        if kwargs:
            raise ValueError(f"[{who}] unknown argument(s): {sorted(kwargs)}")
        return MobileNetV3(table, last_point_ch, input_shape, alpha, model_type, minimalistic,
                           include_top, weights, input_tensor, classes, pooling, dropout_rate,
                           classifier_activation, include_preprocessing, who=who)

    fn.__name__ = fn.__qualname__ = who
    fn.__doc__ = _DOC.format(name=who, params=params)
    return fn


MobileNetV3Small = _make(_SMALL, 1024, "small", "MobileNetV3Small", "2,554,968")
MobileNetV3Large = _make(_LARGE, 1280, "large", "MobileNetV3Large", "5,507,432")


def preprocess_input(x, data_format=None):
    """A pass-through kept for compatibility (Keras's placeholder): MobileNetV3 models rescale
    their inputs themselves. Returns `x` unchanged."""
    return x
