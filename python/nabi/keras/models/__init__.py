"""`nabi.keras.models`: Sequential, Model (functional and subclassed), clone_model, and the
saving entry points (load_model, model_from_json, save_model) from `nabi.keras.saving`."""
from .model import Model
from .functional import Functional
from .sequential import Sequential
from .cloning import clone_model

__all__ = ["Model", "Functional", "Sequential", "clone_model", "load_model", "save_model",
           "model_from_json", "model_from_config"]


def __getattr__(name):
    if name in ("load_model", "save_model", "model_from_json", "model_from_config",
                "model_to_json"):
        from .. import saving
        return getattr(saving, name)
    raise AttributeError(f"module 'nabi.keras.models' has no attribute {name!r}")
