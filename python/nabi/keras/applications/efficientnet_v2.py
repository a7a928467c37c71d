"""EfficientNetV2B0..B3, S, M, L (Tan & Le, 2021), laid out as Keras 2.15's
`keras.applications.efficientnet_v2`: preprocessing in the model (`include_preprocessing=True`:
for the B variants `Rescaling(1/255)` and a `Normalization` with ImageNet's mean and variance,
for S/M/L `Rescaling(1/128, offset=-1)`), `stem_conv`, fused-MBConv stages (a full convolution
in place of expansion + depthwise) and MBConv stages with squeeze-and-excitation, blocks named
`block<stage><letter>_*`, `top_conv`, `top_activation`, `predictions`.

Keras's details kept: batch normalisation momentum 0.9 (epsilon 1e-3); filters rounded to
multiples of 8 without the 10% rule of EfficientNet (V1); the drop-connect rate of block b is
`0.2 * b / n` with n the number of blocks *before* depth scaling, and block 0 has no `drop`
layer."""
import math

from . import imagenet_utils
from .imagenet_utils import decode_predictions  # noqa: F401

__all__ = ["EfficientNetV2B0", "EfficientNetV2B1", "EfficientNetV2B2", "EfficientNetV2B3",
           "EfficientNetV2S", "EfficientNetV2M", "EfficientNetV2L", "preprocess_input",
           "decode_predictions"]

BASE_WEIGHTS_PATH = ("https://storage.googleapis.com/tensorflow/keras-applications/"
                     "efficientnet_v2/")
WEIGHTS_HASHES = {  # (with top, without top): Keras's md5s, by the model name's last 2 chars
    "b0": ("21ecbf6da12460d5c40bb2f29ceb2188", "893217f2bb855e2983157299931e43ff"),
    "b1": ("069f0534ff22adf035c89e2d9547a9dc", "0e80663031ca32d657f9caa404b6ec37"),
    "b2": ("424e49f28180edbde1e94797771950a7", "1dfe2e7a5d45b6632553a8961ea609eb"),
    "b3": ("1f1fc43bd98a6e4fd8fdfd551e02c7a0", "f6abf7b5849ac99a89b50dd3fd532856"),
    "-s": ("e1d88a8495beba45748fedd0cecbe016", "af0682fb74e8c54910f2d4393339c070"),
    "-m": ("a3bf6aa3276309f4fc6a34aa114c95cd", "1b8dc055df72dde80d614482840fe342"),
    "-l": ("27e6d408b53c7ebc868fefa357689935", "b0b66b5c863aef5b46e8608fe1711615"),
}

# Stages: (fused, repeats, filters in, filters out, expansion, stride, squeeze-excite ratio);
# every kernel is 3x3.
_B = ((True, 1, 32, 16, 1, 1, 0), (True, 2, 16, 32, 4, 2, 0), (True, 2, 32, 48, 4, 2, 0),
      (False, 3, 48, 96, 4, 2, 0.25), (False, 5, 96, 112, 6, 1, 0.25),
      (False, 8, 112, 192, 6, 2, 0.25))
DEFAULT_BLOCKS = {
    "efficientnetv2-b0": _B, "efficientnetv2-b1": _B, "efficientnetv2-b2": _B,
    "efficientnetv2-b3": _B,
    "efficientnetv2-s": ((True, 2, 24, 24, 1, 1, 0), (True, 4, 24, 48, 4, 2, 0),
                         (True, 4, 48, 64, 4, 2, 0), (False, 6, 64, 128, 4, 2, 0.25),
                         (False, 9, 128, 160, 6, 1, 0.25), (False, 15, 160, 256, 6, 2, 0.25)),
    "efficientnetv2-m": ((True, 3, 24, 24, 1, 1, 0), (True, 5, 24, 48, 4, 2, 0),
                         (True, 5, 48, 80, 4, 2, 0), (False, 7, 80, 160, 4, 2, 0.25),
                         (False, 14, 160, 176, 6, 1, 0.25), (False, 18, 176, 304, 6, 2, 0.25),
                         (False, 5, 304, 512, 6, 1, 0.25)),
    "efficientnetv2-l": ((True, 4, 32, 32, 1, 1, 0), (True, 7, 32, 64, 4, 2, 0),
                         (True, 7, 64, 96, 4, 2, 0), (False, 10, 96, 192, 4, 2, 0.25),
                         (False, 19, 192, 224, 6, 1, 0.25), (False, 25, 224, 384, 6, 2, 0.25),
                         (False, 7, 384, 640, 6, 1, 0.25)),
}
# (width, depth, default size) per variant
_SCALING = {"b0": (1.0, 1.0, 224), "b1": (1.0, 1.1, 240), "b2": (1.1, 1.2, 260),
            "b3": (1.2, 1.4, 300), "s": (1.0, 1.0, 384), "m": (1.0, 1.0, 480),
            "l": (1.0, 1.0, 480)}
_MEAN_RGB = (0.485, 0.456, 0.406)
_STDDEV_RGB = (0.229, 0.224, 0.225)


def _conv_init():
    from .. import initializers
    return initializers.VarianceScaling(scale=2.0, mode="fan_out",
                                        distribution="truncated_normal")


def _dense_init():
    from .. import initializers
    return initializers.VarianceScaling(scale=1.0 / 3.0, mode="fan_out", distribution="uniform")


def round_filters(filters, width_coefficient, min_depth, depth_divisor):
    """`filters * width_coefficient` rounded to the nearest multiple of `depth_divisor`, at
    least `min_depth` (V2 has no 10% rule)."""
    filters *= width_coefficient
    minimum_depth = min_depth or depth_divisor
    return int(max(minimum_depth,
                   int(filters + depth_divisor / 2) // depth_divisor * depth_divisor))


def round_repeats(repeats, depth_coefficient):
    return int(math.ceil(depth_coefficient * repeats))


def _bn(momentum, name):
    from .. import layers
    return layers.BatchNormalization(axis=3, momentum=momentum, name=name)


def _squeeze_excite(x, filters_in, filters, se_ratio, activation, name):
    from .. import layers
    filters_se = max(1, int(filters_in * se_ratio))
    se = layers.GlobalAveragePooling2D(name=name + "se_squeeze")(x)
    se = layers.Reshape((1, 1, filters), name=name + "se_reshape")(se)
    se = layers.Conv2D(filters_se, 1, padding="same", activation=activation,
                       kernel_initializer=_conv_init(), name=name + "se_reduce")(se)
    se = layers.Conv2D(filters, 1, padding="same", activation="sigmoid",
                       kernel_initializer=_conv_init(), name=name + "se_expand")(se)
    return layers.multiply([x, se], name=name + "se_excite")


def _residual(x, inputs, strides, filters_in, filters_out, drop_rate, name):
    from .. import layers
    if strides == 1 and filters_in == filters_out:
        if drop_rate:
            x = layers.Dropout(drop_rate, noise_shape=(None, 1, 1, 1), name=name + "drop")(x)
        x = layers.add([x, inputs], name=name + "add")
    return x


def mb_conv_block(inputs, filters_in, filters_out, expand_ratio, kernel_size, strides,
                  se_ratio, bn_momentum, activation, drop_rate, name):
    """MBConv: 1x1 expansion -> depthwise -> squeeze-excite -> 1x1 projection (+ skip)."""
    from .. import layers
    filters = filters_in * expand_ratio
    x = inputs
    if expand_ratio != 1:
        x = layers.Conv2D(filters, 1, strides=1, kernel_initializer=_conv_init(),
                          padding="same", use_bias=False, name=name + "expand_conv")(x)
        x = _bn(bn_momentum, name + "expand_bn")(x)
        x = layers.Activation(activation, name=name + "expand_activation")(x)
    x = layers.DepthwiseConv2D(kernel_size, strides=strides, depthwise_initializer=_conv_init(),
                               padding="same", use_bias=False, name=name + "dwconv2")(x)
    x = _bn(bn_momentum, name + "bn")(x)
    x = layers.Activation(activation, name=name + "activation")(x)
    if 0 < se_ratio <= 1:
        x = _squeeze_excite(x, filters_in, filters, se_ratio, activation, name)
    x = layers.Conv2D(filters_out, 1, strides=1, kernel_initializer=_conv_init(),
                      padding="same", use_bias=False, name=name + "project_conv")(x)
    x = _bn(bn_momentum, name + "project_bn")(x)
    return _residual(x, inputs, strides, filters_in, filters_out, drop_rate, name)


def fused_mb_conv_block(inputs, filters_in, filters_out, expand_ratio, kernel_size, strides,
                        se_ratio, bn_momentum, activation, drop_rate, name):
    """Fused MBConv: one k x k expansion convolution (in place of 1x1 + depthwise) ->
    [squeeze-excite] -> 1x1 projection; without expansion, one k x k convolution and its
    activation (`project_activation`)."""
    from .. import layers
    filters = filters_in * expand_ratio
    x = inputs
    if expand_ratio != 1:
        x = layers.Conv2D(filters, kernel_size, strides=strides,
                          kernel_initializer=_conv_init(), padding="same", use_bias=False,
                          name=name + "expand_conv")(x)
        x = _bn(bn_momentum, name + "expand_bn")(x)
        x = layers.Activation(activation, name=name + "expand_activation")(x)
    if 0 < se_ratio <= 1:
        x = _squeeze_excite(x, filters_in, filters, se_ratio, activation, name)
    x = layers.Conv2D(filters_out, 1 if expand_ratio != 1 else kernel_size,
                      strides=1 if expand_ratio != 1 else strides,
                      kernel_initializer=_conv_init(), padding="same", use_bias=False,
                      name=name + "project_conv")(x)
    x = _bn(bn_momentum, name + "project_bn")(x)
    if expand_ratio == 1:
        x = layers.Activation(activation, name=name + "project_activation")(x)
    return _residual(x, inputs, strides, filters_in, filters_out, drop_rate, name)


def EfficientNetV2(width_coefficient, depth_coefficient, default_size, dropout_rate=0.2,
                   drop_connect_rate=0.2, depth_divisor=8, min_depth=8, bn_momentum=0.9,
                   activation="swish", blocks_args="default", model_name="efficientnetv2",
                   include_top=True, weights="imagenet", input_tensor=None, input_shape=None,
                   pooling=None, classes=1000, classifier_activation="softmax",
                   include_preprocessing=True, who="EfficientNetV2"):
    """EfficientNetV2 with the given scaling coefficients and stage table (Keras's
    `EfficientNetV2`). `blocks_args`: 'default' (the table of `model_name`) or a sequence of
    (fused, repeats, filters in, filters out, expansion, stride, se_ratio)."""
    from .. import layers
    from ..models import Model
    if isinstance(blocks_args, str):
        if blocks_args != "default" or model_name not in DEFAULT_BLOCKS:
            raise ValueError(f"[{who}] no default blocks for model_name={model_name!r}; pass "
                             f"blocks_args. Received: blocks_args={blocks_args!r}")
        blocks_args = DEFAULT_BLOCKS[model_name]
    imagenet_utils.check_weights_arg(weights, include_top, classes, who)
    imagenet_utils.check_pooling(pooling, who)
    input_shape = imagenet_utils.obtain_input_shape(input_shape, default_size=default_size,
                                                    min_size=32, data_format=None,
                                                    require_flatten=include_top,
                                                    weights=weights)
    img_input = imagenet_utils.image_input(input_tensor, input_shape)

    def filters_of(n):
        return round_filters(n, width_coefficient, min_depth, depth_divisor)

    x = img_input
    if include_preprocessing:
        # the B variants keep EfficientNet (V1)'s preprocessing when the input is RGB
        if model_name.split("-")[-1].startswith("b") and input_shape[2] == 3:
            x = layers.Rescaling(scale=1.0 / 255)(x)
            x = layers.Normalization(mean=list(_MEAN_RGB),
                                     variance=[s ** 2 for s in _STDDEV_RGB], axis=3)(x)
        else:
            x = layers.Rescaling(scale=1.0 / 128.0, offset=-1)(x)

    x = layers.Conv2D(filters_of(blocks_args[0][2]), 3, strides=2,
                      kernel_initializer=_conv_init(), padding="same", use_bias=False,
                      name="stem_conv")(x)
    x = _bn(bn_momentum, "stem_bn")(x)
    x = layers.Activation(activation, name="stem_activation")(x)

    b = 0
    blocks = float(sum(args[1] for args in blocks_args))  # before depth scaling, as Keras
    for i, (fused, repeats, f_in, f_out, expand, stride, se_ratio) in enumerate(blocks_args):
        if repeats <= 0:
            raise ValueError(f"[{who}] every stage needs at least one block. Received: "
                             f"num_repeat={repeats} in stage {i + 1}")
        f_in, f_out = filters_of(f_in), filters_of(f_out)
        block = fused_mb_conv_block if fused else mb_conv_block
        for j in range(round_repeats(repeats, depth_coefficient)):
            if j > 0:
                stride, f_in = 1, f_out
            x = block(x, f_in, f_out, expand, 3, stride, se_ratio, bn_momentum, activation,
                      drop_connect_rate * b / blocks, name=f"block{i + 1}{chr(j + 97)}_")
            b += 1

    x = layers.Conv2D(filters_of(1280), 1, strides=1, kernel_initializer=_conv_init(),
                      padding="same", use_bias=False, name="top_conv")(x)
    x = _bn(bn_momentum, "top_bn")(x)
    x = layers.Activation(activation, name="top_activation")(x)
    if include_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        if dropout_rate > 0:
            x = layers.Dropout(dropout_rate, name="top_dropout")(x)
        imagenet_utils.validate_activation(classifier_activation, weights)
        x = layers.Dense(classes, activation=classifier_activation,
                         kernel_initializer=_dense_init(), bias_initializer="zeros",
                         name="predictions")(x)
    else:
        x = imagenet_utils.pool_features(x, pooling)
    inputs = imagenet_utils.source_inputs(input_tensor, img_input)
    model = Model(inputs, x, name=model_name)
    fname = model_name + (".h5" if include_top else "_notop.h5")
    md5 = WEIGHTS_HASHES[model_name[-2:]][0 if include_top else 1]
    return imagenet_utils.load_weights(model, weights,
                                       lambda: (fname, BASE_WEIGHTS_PATH + fname, md5), who)


def _make(variant):
    who = f"EfficientNetV2{variant.upper()}"
    width, depth, size = _SCALING[variant]
    model_name = "efficientnetv2-" + variant

    def fn(include_top=True, weights="imagenet", input_tensor=None, input_shape=None,
           pooling=None, classes=1000, classifier_activation="softmax",
           include_preprocessing=True, **kwargs):
        if kwargs:
            raise ValueError(f"[{who}] unknown argument(s): {sorted(kwargs)}")
        return EfficientNetV2(width, depth, size, model_name=model_name,
                              include_top=include_top, weights=weights,
                              input_tensor=input_tensor, input_shape=input_shape,
                              pooling=pooling, classes=classes,
                              classifier_activation=classifier_activation,
                              include_preprocessing=include_preprocessing, who=who)

    fn.__name__ = fn.__qualname__ = who
    fn.__doc__ = (
        f"Instantiates {who} (Keras 2.15's `keras.applications.{who}`: width x{width}, depth "
        f"x{depth}, {size}x{size} input by default). With `include_preprocessing=True` the "
        "model preprocesses its input itself: feed float pixels in [0, 255] "
        "(`efficientnet_v2.preprocess_input` is a pass-through); without it, "
        + ("ImageNet-normalised pixels." if variant.startswith("b") else
           "pixels in [-1, 1].")
        + " Arguments as every Keras application: include_top, weights (None, 'imagenet' or a "
        "file), input_tensor, input_shape, pooling (None/'avg'/'max'), classes, "
        "classifier_activation, include_preprocessing.")
    return fn


EfficientNetV2B0 = _make("b0")
EfficientNetV2B1 = _make("b1")
EfficientNetV2B2 = _make("b2")
EfficientNetV2B3 = _make("b3")
EfficientNetV2S = _make("s")
EfficientNetV2M = _make("m")
EfficientNetV2L = _make("l")


def preprocess_input(x, data_format=None):
    """A pass-through kept for compatibility (Keras's placeholder): EfficientNetV2 models
    preprocess their inputs themselves. Returns `x` unchanged."""
    return x
