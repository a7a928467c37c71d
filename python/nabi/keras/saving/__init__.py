"""`nabi.keras.saving`: whole-model and weights files (`.keras`, `.h5`, `.weights.h5`), JSON
configs, and custom-object registration. No pickle anywhere."""
from .object_registration import (CustomObjectScope, custom_object_scope,  # noqa: F401
                                  deserialize_keras_object, get_custom_objects,
                                  get_registered_name, get_registered_object,
                                  register_keras_serializable, serialize_keras_object)
