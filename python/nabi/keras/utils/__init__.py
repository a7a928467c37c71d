"""`nabi.keras.utils`: the Keras utilities (to_categorical, normalize, set_random_seed, Sequence,
plot_model, get_file, pad_sequences, custom-object registration, Progbar,
timeseries_dataset_from_array, split_dataset, image file helpers, text_dataset_from_directory,
image_dataset_from_directory, audio_dataset_from_directory)."""
from ..preprocessing.sequence import pad_sequences  # noqa: F401
from ..saving.object_registration import (CustomObjectScope, custom_object_scope,  # noqa: F401
                                          deserialize_keras_object, get_custom_objects,
                                          get_registered_name, get_registered_object,
                                          register_keras_serializable, serialize_keras_object)
from .data_utils import PyDataset, Sequence, get_file, validate_file  # noqa: F401
from .dataset_utils import split_dataset, timeseries_dataset_from_array  # noqa: F401
from .feature_space import FeatureSpace  # noqa: F401
from .audio_dataset import audio_dataset_from_directory  # noqa: F401
from .image_dataset import image_dataset_from_directory  # noqa: F401
from .image_utils import array_to_img, img_to_array, load_img, save_img  # noqa: F401
from .np_utils import normalize, set_random_seed, to_categorical  # noqa: F401
from .text_dataset import text_dataset_from_directory  # noqa: F401
from .vis_utils import model_to_dot, plot_model  # noqa: F401

__all__ = ["to_categorical", "normalize", "set_random_seed", "Sequence", "PyDataset", "get_file",
           "validate_file", "plot_model", "model_to_dot", "pad_sequences",
           "register_keras_serializable", "custom_object_scope", "CustomObjectScope",
           "get_custom_objects", "get_registered_name", "get_registered_object",
           "serialize_keras_object", "deserialize_keras_object", "Progbar",
           "timeseries_dataset_from_array", "split_dataset", "array_to_img", "img_to_array",
           "load_img", "save_img", "text_dataset_from_directory", "image_dataset_from_directory",
           "audio_dataset_from_directory",
           "enable_interactive_logging", "disable_interactive_logging",
           "is_interactive_logging_enabled", "unpack_x_y_sample_weight",
           "pack_x_y_sample_weight"]


def unpack_x_y_sample_weight(data):
    """(x, y, sample_weight) of a batch: x, (x,), (x, y) or (x, y, sample_weight); missing
    parts are None (a list is taken as a tuple, as Keras 3)."""
    if isinstance(data, list):
        data = tuple(data)
    if not isinstance(data, tuple):
        return data, None, None
    if len(data) in (1, 2, 3):
        return tuple(data) + (None,) * (3 - len(data))
    raise ValueError(f"[unpack_x_y_sample_weight] data is expected to be in format `x`, `(x,)`, "
                     f"`(x, y)`, or `(x, y, sample_weight)`, found: {data!r}")


def pack_x_y_sample_weight(x, y=None, sample_weight=None):
    """The batch train_step receives: x (or (x,) when x is a tuple or list), (x, y) or
    (x, y, sample_weight)."""
    if y is None:
        return (x,) if isinstance(x, (tuple, list)) else x
    if sample_weight is None:
        return (x, y)
    return (x, y, sample_weight)


def __getattr__(name):
    # Progbar lives in utils/progbar.py (written with the training engine): load it on demand.
    if name in ("Progbar", "enable_interactive_logging", "disable_interactive_logging",
                "is_interactive_logging_enabled"):
        from . import progbar
        globals()[name] = getattr(progbar, name)
        return globals()[name]
    raise AttributeError(f"module 'nabi.keras.utils' has no attribute {name!r}")
