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


EXPORT_MARKER = "nabi_export.json"   # written by Keras 3's model.export


def _mark_export(export_dir):
    import json
    with open(os.path.join(os.fspath(export_dir), EXPORT_MARKER), "w") as f:
        json.dump({"endpoints": ["serve"], "signatures": ["serving_default"]}, f)


class _ExportedArtifact:
    """What TF's `tf.saved_model.load` gives for a Keras 3 `model.export` directory: `serve`
    (the model in inference mode), `signatures["serving_default"]` (a dict of outputs,
    output_0, ...) and the variables."""

    def __init__(self, model):
        self._model = model
        self.signatures = {"serving_default": self._serving_default}
        self.variables = list(model.variables)
        self.trainable_variables = list(model.trainable_variables)
        self.non_trainable_variables = list(model.non_trainable_variables)

    def serve(self, *args, **kwargs):
        inputs = args[0] if len(args) == 1 else list(args)
        return self._model(inputs, training=False, **kwargs)

    def _serving_default(self, *args, **kwargs):
        out = self.serve(*args, **kwargs) if args else self._model(kwargs, training=False)
        if isinstance(out, dict):
            return out
        outs = out if isinstance(out, (list, tuple)) else [out]
        return {f"output_{i}": o for i, o in enumerate(outs)}


def load(export_dir, tags=None, options=None):
    from .keras.saving import saving_api
    obj = saving_api.load_model(export_dir)
    if os.path.isfile(os.path.join(os.fspath(export_dir), EXPORT_MARKER)):
        return _ExportedArtifact(obj)
    return obj


def contains_saved_model(export_dir):
    from .keras.saving.saving_api import SAVED_MODEL_FILE
    d = os.fspath(export_dir)
    return os.path.isfile(os.path.join(d, SAVED_MODEL_FILE)) or \
        os.path.isfile(os.path.join(d, "saved_model.pb"))
