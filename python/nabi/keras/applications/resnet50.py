"""`keras.applications.resnet50`: ResNet50 and its preprocessing (see `resnet`)."""
from .imagenet_utils import decode_predictions  # noqa: F401
from .resnet import ResNet50, preprocess_input  # noqa: F401

__all__ = ["ResNet50", "preprocess_input", "decode_predictions"]
