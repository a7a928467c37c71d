"""`nabi.keras.applications`: Keras's ImageNet models, built layer for layer as Keras 2.15
builds them (same layer names, order and weight shapes), so that Keras's weight files load:
`tf.keras.applications.MobileNetV2(input_shape=(160, 160, 3), include_top=False)`.

Submodules carry each family's `preprocess_input` and `decode_predictions`: `vgg16`, `vgg19`,
`resnet` (and `resnet50`), `resnet_v2`, `mobilenet`, `mobilenet_v2`, `densenet`,
`efficientnet`, `efficientnet_v2`, `mobilenet_v3`, `nasnet`, `inception_v3`, `xception`,
`imagenet_utils`.
`weights='imagenet'` looks for Keras's weight file locally (see `imagenet_utils`) and
downloads it only when online.
"""
from . import imagenet_utils  # noqa: F401
from . import densenet, mobilenet, mobilenet_v2, resnet, resnet50, vgg16, vgg19  # noqa: F401
from . import efficientnet, inception_v3, resnet_v2, xception  # noqa: F401
from . import efficientnet_v2, mobilenet_v3, nasnet  # noqa: F401
from .densenet import DenseNet121, DenseNet169, DenseNet201  # noqa: F401
from .efficientnet import (EfficientNetB0, EfficientNetB1, EfficientNetB2,  # noqa: F401
                           EfficientNetB3, EfficientNetB4, EfficientNetB5, EfficientNetB6,
                           EfficientNetB7)
from .efficientnet_v2 import (EfficientNetV2B0, EfficientNetV2B1,  # noqa: F401
                              EfficientNetV2B2, EfficientNetV2B3, EfficientNetV2L,
                              EfficientNetV2M, EfficientNetV2S)
from .inception_v3 import InceptionV3  # noqa: F401
from .mobilenet import MobileNet  # noqa: F401
from .mobilenet_v2 import MobileNetV2  # noqa: F401
from .mobilenet_v3 import MobileNetV3Large, MobileNetV3Small  # noqa: F401
from .nasnet import NASNetLarge, NASNetMobile  # noqa: F401
from .resnet import ResNet50, ResNet101, ResNet152  # noqa: F401
from .resnet_v2 import ResNet50V2, ResNet101V2, ResNet152V2  # noqa: F401
from .vgg16 import VGG16  # noqa: F401
from .vgg19 import VGG19  # noqa: F401
from .xception import Xception  # noqa: F401

__all__ = ["VGG16", "VGG19", "ResNet50", "ResNet101", "ResNet152", "MobileNet", "MobileNetV2",
           "DenseNet121", "DenseNet169", "DenseNet201", "densenet",
           "imagenet_utils", "vgg16", "vgg19", "resnet", "resnet50", "mobilenet", "mobilenet_v2",
           "ResNet50V2", "ResNet101V2", "ResNet152V2", "InceptionV3", "Xception",
           "EfficientNetB0", "EfficientNetB1", "EfficientNetB2", "EfficientNetB3",
           "EfficientNetB4", "EfficientNetB5", "EfficientNetB6", "EfficientNetB7",
           "resnet_v2", "inception_v3", "xception", "efficientnet",
           "MobileNetV3Small", "MobileNetV3Large", "mobilenet_v3",
           "EfficientNetV2B0", "EfficientNetV2B1", "EfficientNetV2B2", "EfficientNetV2B3",
           "EfficientNetV2S", "EfficientNetV2M", "EfficientNetV2L", "efficientnet_v2",
           "NASNetMobile", "NASNetLarge", "nasnet"]
