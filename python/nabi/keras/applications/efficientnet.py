"""EfficientNetB0..B7 (Tan & Le, 2019), laid out as Keras 2.15's
`keras.applications.efficientnet`: a `Rescaling(1/255)` and a `Normalization` layer in the model
(so `efficientnet.preprocess_input` passes its input through; the model takes pixels in
[0, 255]), `stem_conv`, MBConv blocks `block<stage><letter>_*` with squeeze-and-excitation and
drop-connect (a `Dropout` with `noise_shape=(None, 1, 1, 1)`), `top_conv`, `top_activation`.
Every network is B0 scaled in width (filters rounded to multiples of 8) and depth (repeats
rounded up)."""
import math

from . import imagenet_utils
from .imagenet_utils import decode_predictions  # noqa: F401

__all__ = ["EfficientNetB0", "EfficientNetB1", "EfficientNetB2", "EfficientNetB3",
           "EfficientNetB4", "EfficientNetB5", "EfficientNetB6", "EfficientNetB7",
           "preprocess_input", "decode_predictions"]

_BASE = "https://storage.googleapis.com/keras-applications/"
_HASHES = {  # (with top, without top): Keras's md5s
    "b0": ("902e53a9f72be733fc0bcb005b3ebbac", "50bc09e76180e00e4465e1a485ddc09d"),
    "b1": ("1d254153d4ab51201f1646940f018540", "74c4e6b3e1f6a1eea24c589628592432"),
    "b2": ("b15cce36ff4dcbd00b6dd88e7857a6ad", "111f8e2ac8aa800a7a99e3239f7bfb39"),
    "b3": ("ffd1fdc53d0ce67064dc6a9c7960ede0", "af6d107764bb5b1abb91932881670226"),
    "b4": ("18c95ad55216b8f92d7e70b3a046e2fc", "ebc24e6d6c33eaebbd558eafbeedf1ba"),
    "b5": ("ace28f2a6363774853a83a0b21b9421a", "38879255a25d3c92d5e44e04ae6cec6f"),
    "b6": ("165f6e37dce68623721b423839de8be5", "9ecce42647a20130c1f39a5d4cb75743"),
    "b7": ("8c03f828fec3ef71311cd463b6759d99", "cbcfe4450ddf6f3ad90b1b398090fe4a"),
}
# B0's stages: (kernel, repeats, filters in, filters out, expansion, stride); every block has
# squeeze-and-excitation at ratio 0.25 and an identity skip when the shapes allow.
_STAGES = ((3, 1, 32, 16, 1, 1), (3, 2, 16, 24, 6, 2), (5, 2, 24, 40, 6, 2),
           (3, 3, 40, 80, 6, 2), (5, 3, 80, 112, 6, 1), (5, 4, 112, 192, 6, 2),
           (3, 1, 192, 320, 6, 1))
_SE_RATIO = 0.25
IMAGENET_STDDEV_RGB = (0.229, 0.224, 0.225)
# (width, depth, default size, top dropout) of B0..B7
_SCALING = {"b0": (1.0, 1.0, 224, 0.2), "b1": (1.0, 1.1, 240, 0.2), "b2": (1.1, 1.2, 260, 0.3),
            "b3": (1.2, 1.4, 300, 0.3), "b4": (1.4, 1.8, 380, 0.4), "b5": (1.6, 2.2, 456, 0.4),
            "b6": (1.8, 2.6, 528, 0.5), "b7": (2.0, 3.1, 600, 0.5)}


def _conv_init():
    from .. import initializers
    return initializers.VarianceScaling(scale=2.0, mode="fan_out",
                                        distribution="truncated_normal")


def _dense_init():
    from .. import initializers
    return initializers.VarianceScaling(scale=1.0 / 3.0, mode="fan_out", distribution="uniform")


def round_filters(filters, width_coefficient, divisor=8):
    """`filters * width_coefficient` rounded to a multiple of `divisor`, not 10% below."""
    filters *= width_coefficient
    new_filters = max(divisor, int(filters + divisor / 2) // divisor * divisor)
    if new_filters < 0.9 * filters:
        new_filters += divisor
    return int(new_filters)


def round_repeats(repeats, depth_coefficient):
    return int(math.ceil(depth_coefficient * repeats))


def _block(inputs, activation, drop_rate, name, filters_in, filters_out, kernel_size, strides,
           expand_ratio, se_ratio=_SE_RATIO, id_skip=True):
    """MBConv: 1x1 expansion -> depthwise -> squeeze-excite -> 1x1 projection (+ skip)."""
    from .. import layers
    filters = filters_in * expand_ratio
    if expand_ratio != 1:
        x = layers.Conv2D(filters, 1, padding="same", use_bias=False,
                          kernel_initializer=_conv_init(), name=name + "expand_conv")(inputs)
        x = layers.BatchNormalization(axis=3, name=name + "expand_bn")(x)
        x = layers.Activation(activation, name=name + "expand_activation")(x)
    else:
        x = inputs
    if strides == 2:
        x = layers.ZeroPadding2D(padding=imagenet_utils.correct_pad(x, kernel_size),
                                 name=name + "dwconv_pad")(x)
        conv_pad = "valid"
    else:
        conv_pad = "same"
    x = layers.DepthwiseConv2D(kernel_size, strides=strides, padding=conv_pad, use_bias=False,
                               depthwise_initializer=_conv_init(), name=name + "dwconv")(x)
    x = layers.BatchNormalization(axis=3, name=name + "bn")(x)
    x = layers.Activation(activation, name=name + "activation")(x)
    if 0 < se_ratio <= 1:
        filters_se = max(1, int(filters_in * se_ratio))
        se = layers.GlobalAveragePooling2D(name=name + "se_squeeze")(x)
        se = layers.Reshape((1, 1, filters), name=name + "se_reshape")(se)
        se = layers.Conv2D(filters_se, 1, padding="same", activation=activation,
                           kernel_initializer=_conv_init(), name=name + "se_reduce")(se)
        se = layers.Conv2D(filters, 1, padding="same", activation="sigmoid",
                           kernel_initializer=_conv_init(), name=name + "se_expand")(se)
        x = layers.multiply([x, se], name=name + "se_excite")
    x = layers.Conv2D(filters_out, 1, padding="same", use_bias=False,
                      kernel_initializer=_conv_init(), name=name + "project_conv")(x)
    x = layers.BatchNormalization(axis=3, name=name + "project_bn")(x)
    if id_skip and strides == 1 and filters_in == filters_out:
        if drop_rate > 0:
            x = layers.Dropout(drop_rate, noise_shape=(None, 1, 1, 1), name=name + "drop")(x)
        x = layers.add([x, inputs], name=name + "add")
    return x


def EfficientNet(width_coefficient, depth_coefficient, default_size, dropout_rate=0.2,
                 drop_connect_rate=0.2, depth_divisor=8, activation="swish",
                 model_name="efficientnet", include_top=True, weights="imagenet",
                 input_tensor=None, input_shape=None, pooling=None, classes=1000,
                 classifier_activation="softmax", who="EfficientNet"):
    """EfficientNet with the given scaling coefficients (Keras's `EfficientNet`)."""
    import numpy as np

    from .. import layers
    from ..models import Model
    imagenet_utils.check_weights_arg(weights, include_top, classes, who)
    imagenet_utils.check_pooling(pooling, who)
    input_shape = imagenet_utils.obtain_input_shape(input_shape, default_size=default_size,
                                                    min_size=32, data_format=None,
                                                    require_flatten=include_top,
                                                    weights=weights)
    img_input = imagenet_utils.image_input(input_tensor, input_shape)

    def filters_of(n):
        return round_filters(n, width_coefficient, depth_divisor)

    x = layers.Rescaling(1.0 / 255.0)(img_input)
    x = layers.Normalization(axis=3)(x)
    if weights == "imagenet":
        # Keras's note: the original network divides by the variance, Normalization by its
        # square root, so the ImageNet weights need a second 1/sqrt(stddev).
        x = layers.Rescaling((1.0 / np.sqrt(np.asarray(IMAGENET_STDDEV_RGB))).tolist())(x)
    x = layers.ZeroPadding2D(padding=imagenet_utils.correct_pad(x, 3), name="stem_conv_pad")(x)
    x = layers.Conv2D(filters_of(32), 3, strides=2, padding="valid", use_bias=False,
                      kernel_initializer=_conv_init(), name="stem_conv")(x)
    x = layers.BatchNormalization(axis=3, name="stem_bn")(x)
    x = layers.Activation(activation, name="stem_activation")(x)

    b = 0
    blocks = float(sum(round_repeats(s[1], depth_coefficient) for s in _STAGES))
    for i, (kernel, repeats, f_in, f_out, expand, stride) in enumerate(_STAGES):
        f_in, f_out = filters_of(f_in), filters_of(f_out)
        for j in range(round_repeats(repeats, depth_coefficient)):
            if j > 0:
                stride, f_in = 1, f_out
            x = _block(x, activation, drop_connect_rate * b / blocks,
                       name=f"block{i + 1}{chr(j + 97)}_", filters_in=f_in, filters_out=f_out,
                       kernel_size=kernel, strides=stride, expand_ratio=expand)
            b += 1

    x = layers.Conv2D(filters_of(1280), 1, padding="same", use_bias=False,
                      kernel_initializer=_conv_init(), name="top_conv")(x)
    x = layers.BatchNormalization(axis=3, name="top_bn")(x)
    x = layers.Activation(activation, name="top_activation")(x)
    if include_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        if dropout_rate > 0:
            x = layers.Dropout(dropout_rate, name="top_dropout")(x)
        imagenet_utils.validate_activation(classifier_activation, weights)
        x = layers.Dense(classes, activation=classifier_activation,
                         kernel_initializer=_dense_init(), name="predictions")(x)
    else:
        x = imagenet_utils.pool_features(x, pooling)
    inputs = imagenet_utils.source_inputs(input_tensor, img_input)
    model = Model(inputs, x, name=model_name)
    fname = model_name + (".h5" if include_top else "_notop.h5")
    md5 = _HASHES[model_name[-2:]][0 if include_top else 1]
    # Keras loads these files in layer order (the Rescaling/Normalization layers carry no
    # fixed names).
    return imagenet_utils.load_weights(model, weights, lambda: (fname, _BASE + fname, md5), who,
                                       by_name=False)


def _make(variant):
    who = f"EfficientNet{variant.upper()}"
    width, depth, size, dropout = _SCALING[variant]

    def fn(include_top=True, weights="imagenet", input_tensor=None, input_shape=None,
           pooling=None, classes=1000, classifier_activation="softmax", **kwargs):
        if kwargs:
            raise ValueError(f"[{who}] unknown argument(s): {sorted(kwargs)}")
        return EfficientNet(width, depth, size, dropout, model_name=f"efficientnet{variant}",
                            include_top=include_top, weights=weights, input_tensor=input_tensor,
                            input_shape=input_shape, pooling=pooling, classes=classes,
                            classifier_activation=classifier_activation, who=who)

    fn.__name__ = fn.__qualname__ = who
    fn.__doc__ = (f"Instantiates {who} (width x{width}, depth x{depth}, {size}x{size} input by "
                  "default, top dropout {dropout}). The model rescales and normalises its input "
                  "itself: feed float pixels in [0, 255]; `efficientnet.preprocess_input` is a "
                  "pass-through. Arguments as every Keras application: include_top, weights "
                  "(None, 'imagenet' or a file), input_tensor, input_shape, pooling "
                  "(None/'avg'/'max'), classes, classifier_activation.").replace(
                      "{dropout}", str(dropout))
    return fn


EfficientNetB0 = _make("b0")
EfficientNetB1 = _make("b1")
EfficientNetB2 = _make("b2")
EfficientNetB3 = _make("b3")
EfficientNetB4 = _make("b4")
EfficientNetB5 = _make("b5")
EfficientNetB6 = _make("b6")
EfficientNetB7 = _make("b7")


def preprocess_input(x, data_format=None):
    """A pass-through kept for compatibility (Keras's placeholder): EfficientNet models
    rescale and normalise their inputs themselves. Returns `x` unchanged."""
    return x
