"""`tf.saved_model` for Keras models: `save(model, export_dir)` writes the directory that
`model.save(export_dir)` writes (the model as `nabi_model.keras` inside: nabi has no
TensorFlow graphs to serialize), and `load(export_dir)` returns the Keras model, which is
callable like TF's restored object. Other objects (a bare tf.Module) cannot be saved this
way: save their variables with tf.train.Checkpoint."""
import os

__all__ = ["save", "load", "contains_saved_model"]


def save(obj, export_dir, signatures=None, options=None):
    from .keras.models import Model
    if not isinstance(obj, Model):
        raise NotImplementedError(f"[saved_model.save] only Keras models can be saved by nabi, "
                                  f"got {type(obj).__name__}; use tf.train.Checkpoint for the "
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
