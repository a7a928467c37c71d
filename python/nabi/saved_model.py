"""`tf.saved_model`: `save(obj, export_dir)` writes the directory that `model.save(export_dir)`
writes (the object as `nabi_model.keras` inside: nabi has no TensorFlow graphs to serialize),
and `load(export_dir)` returns the restored object, callable like TF's restored object.

Keras models with a config (Sequential, functional, subclassed with get_config) are rebuilt
from it. Subclassed models without get_config (the text generation tutorial's
`OneStep(tf.keras.Model)` with a `@tf.function generate_one_step`) and tf.Module subclasses
are saved as their class's import path, their constructor arguments and their variables
(nabi.keras.saving.subclassed), and `load` imports the class, calls it with those arguments
and restores the variables. Unlike TensorFlow, which restores a SavedModel without the Python
class, nabi needs the class at load time: a module-level class of an importable module (or of
`__main__` when the same script loads), or one given in `custom_object_scope`; a clear
ValueError names the class otherwise."""
import os

__all__ = ["save", "load", "contains_saved_model"]


def save(obj, export_dir, signatures=None, options=None):
    from .framework.module import Module
    from .keras.models import Model
    from .keras.layers.base import Layer
    if not isinstance(obj, Model) and not (isinstance(obj, Module) and type(obj) is not Module
                                           and not isinstance(obj, Layer)):
        raise NotImplementedError(f"[saved_model.save] nabi saves Keras models and tf.Module "
                                  f"subclasses, got {type(obj).__name__} (a bare Module has no "
                                  "class to rebuild it from); use tf.train.Checkpoint for the "
                                  "variables of other objects")
    from .keras.saving import saving_api
    saving_api.save_model(obj, export_dir, save_format="tf")


def load(export_dir, tags=None, options=None):
    from .keras.saving import saving_api
    return saving_api.load_model(export_dir)


def contains_saved_model(export_dir):
    from .keras.saving.saving_api import SAVED_MODEL_FILE
    d = os.fspath(export_dir)
    return os.path.isfile(os.path.join(d, SAVED_MODEL_FILE)) or \
        os.path.isfile(os.path.join(d, "saved_model.pb"))
