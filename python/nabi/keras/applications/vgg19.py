"""VGG19, laid out as Keras 2.15's `keras.applications.vgg19`."""
from . import imagenet_utils
from .imagenet_utils import decode_predictions  # noqa: F401
from .vgg16 import build_vgg

__all__ = ["VGG19", "preprocess_input", "decode_predictions"]

_BASE = "https://storage.googleapis.com/tensorflow/keras-applications/vgg19/"
_FILES = {True: ("vgg19_weights_tf_dim_ordering_tf_kernels.h5",
                 "cbe5617147190e668d6c5d5026f83318"),
          False: ("vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5",
                  "253f8cb515780f3b799900260a226db6")}


def VGG19(include_top=True, weights="imagenet", input_tensor=None, input_shape=None,
          pooling=None, classes=1000, classifier_activation="softmax"):
    """VGG19: five blocks of 2, 2, 4, 4, 4 convolutions (143,667,240 parameters with the top)."""
    return build_vgg((2, 2, 4, 4, 4), "vgg19", _BASE, _FILES, include_top, weights,
                     input_tensor, input_shape, pooling, classes, classifier_activation)


def preprocess_input(x, data_format=None):
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="caffe")


preprocess_input.__doc__ = imagenet_utils.PREPROCESS_INPUT_DOC.format(
    model="VGG19", mode="caffe", ret=imagenet_utils._RET["caffe"])
