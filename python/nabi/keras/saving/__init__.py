"""`nabi.keras.saving`: whole-model and weights files (`.keras`, `.h5`, `.weights.h5`), JSON
configs, and custom-object registration. No pickle anywhere; every write is atomic."""
from .object_registration import (CustomObjectScope, custom_object_scope,  # noqa: F401
                                  deserialize_keras_object, get_custom_objects,
                                  get_registered_name, get_registered_object,
                                  register_keras_serializable, serialize_keras_object)
from .saving_api import (load_model, load_weights, model_from_config,  # noqa: F401
                         model_from_json, model_to_json, save_model, save_weights)

__all__ = ["save_model", "load_model", "save_weights", "load_weights", "model_from_json",
           "model_to_json", "model_from_config", "register_keras_serializable",
           "get_custom_objects", "custom_object_scope", "CustomObjectScope",
           "get_registered_name", "get_registered_object", "serialize_keras_object",
           "deserialize_keras_object"]
