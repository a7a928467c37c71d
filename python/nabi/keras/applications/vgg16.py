"""VGG16 (Simonyan & Zisserman, 2014), laid out as Keras 2.15's `keras.applications.vgg16`:
same layer names, order and weight shapes, so that Keras's weight files load."""
from . import imagenet_utils
from .imagenet_utils import decode_predictions  # noqa: F401

__all__ = ["VGG16", "preprocess_input", "decode_predictions"]

_BASE = "https://storage.googleapis.com/tensorflow/keras-applications/vgg16/"
_FILES = {True: ("vgg16_weights_tf_dim_ordering_tf_kernels.h5",
                 "64373286793e3c8b2b4e3219cbf3544b"),
          False: ("vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
                  "6d6bbae143d832006294945121d1f1fc")}


def build_vgg(convs_per_block, model_name, base_url, files, include_top, weights, input_tensor,
              input_shape, pooling, classes, classifier_activation):
    """VGG with `convs_per_block` 3x3 convolutions in each of its five blocks."""
    from .. import layers
    from ..models import Model
    who = model_name.upper()
    imagenet_utils.check_weights_arg(weights, include_top, classes, who)
    imagenet_utils.check_pooling(pooling, who)
    input_shape = imagenet_utils.obtain_input_shape(input_shape, default_size=224, min_size=32,
                                                    data_format=None,
                                                    require_flatten=include_top,
                                                    weights=weights)
    img_input = imagenet_utils.image_input(input_tensor, input_shape)
    x = img_input
    for b, (n, filters) in enumerate(zip(convs_per_block, (64, 128, 256, 512, 512)), start=1):
        for i in range(1, n + 1):
            x = layers.Conv2D(filters, (3, 3), activation="relu", padding="same",
                              name=f"block{b}_conv{i}")(x)
        x = layers.MaxPooling2D((2, 2), strides=(2, 2), name=f"block{b}_pool")(x)
    if include_top:
        x = layers.Flatten(name="flatten")(x)
        x = layers.Dense(4096, activation="relu", name="fc1")(x)
        x = layers.Dense(4096, activation="relu", name="fc2")(x)
        imagenet_utils.validate_activation(classifier_activation, weights)
        x = layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    else:
        x = imagenet_utils.pool_features(x, pooling, named=False)
    inputs = imagenet_utils.source_inputs(input_tensor, img_input)
    model = Model(inputs, x, name=model_name)
    fname, md5 = files[bool(include_top)]
    return imagenet_utils.load_weights(model, weights, lambda: (fname, base_url + fname, md5),
                                       who)


def VGG16(include_top=True, weights="imagenet", input_tensor=None, input_shape=None,
          pooling=None, classes=1000, classifier_activation="softmax"):
    """VGG16: five blocks of 2, 2, 3, 3, 3 convolutions; with the top, two Dense(4096) and the
    classifier (138,357,544 parameters). Input: 224x224 by default, at least 32x32, images
    preprocessed by `vgg16.preprocess_input`."""
    return build_vgg((2, 2, 3, 3, 3), "vgg16", _BASE, _FILES, include_top, weights,
                     input_tensor, input_shape, pooling, classes, classifier_activation)


def preprocess_input(x, data_format=None):
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="caffe")


preprocess_input.__doc__ = imagenet_utils.PREPROCESS_INPUT_DOC.format(
    model="VGG16", mode="caffe", ret=imagenet_utils._RET["caffe"])
