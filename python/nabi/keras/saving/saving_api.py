"""`save_model`, `load_model`, `save_weights`, `load_weights`, `model_from_json`,
`model_to_json`: the format follows the file name (`.keras` zip, `.h5`/`.hdf5` legacy HDF5,
`.weights.h5` weights) when writing and the file's magic bytes when reading."""
import json
import os

from . import _common as C
from . import legacy_h5, saving_lib

__all__ = ["save_model", "load_model", "save_weights", "load_weights", "model_from_json",
           "model_to_json", "model_from_config"]


SAVED_MODEL_FILE = "nabi_model.keras"   # what a SavedModel-style directory holds


def _fmt_for_save(filepath, save_format):
    """'keras', 'h5', or 'dir': TF2 Keras's default for a path with no .keras/.h5 ending (and
    for save_format="tf") is a SavedModel directory; nabi writes a directory holding the model
    as a `.keras` file (nabi_model.keras), which load_model reads back."""
    p = os.fspath(filepath)
    if save_format is not None:
        f = str(save_format).lower()
        if f in ("keras", "keras_v3"):
            return "keras"
        if f in ("h5", "hdf5"):
            return "h5"
        if f in ("tf", "savedmodel", "saved_model"):
            return "dir"
        raise ValueError(f"[save_model] unknown save_format={save_format!r}; use 'keras', "
                         "'h5' or 'tf'")
    if p.endswith(".keras"):
        return "keras"
    if p.endswith((".h5", ".hdf5")):
        return "h5"
    return "dir"


def save_model(model, filepath, overwrite=True, save_format=None, include_optimizer=True,
               **kwargs):
    """Saves architecture, weights, compile configuration and optimizer state, atomically."""
    fmt = _fmt_for_save(filepath, save_format)
    if fmt == "dir":
        p = os.fspath(filepath)
        if os.path.isfile(p):
            raise ValueError(f"[save_model] {p!r} is a file; saving in the SavedModel style "
                             "(no .keras/.h5 ending) writes a directory there")
        target = os.path.join(p, SAVED_MODEL_FILE)
        if not overwrite and os.path.exists(target):
            raise FileExistsError(f"[save_model] {p!r} already holds a model and "
                                  "overwrite=False")
        os.makedirs(p, exist_ok=True)
        saving_lib.save_model(model, target, True, include_optimizer)
    elif fmt == "keras":
        saving_lib.save_model(model, filepath, overwrite, include_optimizer)
    else:
        legacy_h5.save_model(model, filepath, overwrite, include_optimizer)


def load_model(filepath, custom_objects=None, compile=True, safe_mode=True, **kwargs):
    """Restores a model saved by `save_model`/`model.save` (`.keras` or `.h5`): architecture,
    weights, compile configuration and optimizer state (so training resumes)."""
    filepath = os.fspath(filepath)
    if not os.path.exists(filepath):
        raise FileNotFoundError(f"[load_model] no such file: {filepath!r}")
    if os.path.isdir(filepath):
        inner = os.path.join(filepath, SAVED_MODEL_FILE)
        if os.path.isfile(inner):
            return saving_lib.load_model(inner, custom_objects, compile, safe_mode)
        if os.path.isfile(os.path.join(filepath, "saved_model.pb")):
            raise ValueError(f"[load_model] {filepath!r} is a SavedModel written by TensorFlow: "
                             "nabi cannot read its TensorFlow graph. In TensorFlow, save the "
                             "model with model.save('model.keras') (or '.h5') and load that.")
        raise ValueError(f"[load_model] directory {filepath!r} holds no saved model (expected "
                         f"{SAVED_MODEL_FILE}, written by model.save({filepath!r}))")
    kind = C.file_kind(filepath)
    if kind == "zip":
        return saving_lib.load_model(filepath, custom_objects, compile, safe_mode)
    if kind == "hdf5":
        h5py = C.h5py()
        from ..layers.core import SafeModeScope
        # safe_mode=False lets a Lambda's stored bytecode load, as for .keras files
        with h5py.File(filepath, "r") as f, SafeModeScope(None if safe_mode else False):
            return legacy_h5.load_model(f, filepath, custom_objects, compile)
    raise ValueError(f"[load_model] {filepath!r} is neither a .keras (zip) nor an HDF5 file")


def _tf_format(p, save_format):
    """TF2 Keras: save_format "tf", or a name without an .h5/.hdf5/.keras ending (the
    tutorials' "./checkpoints/my_checkpoint", "training/cp-{epoch:04d}.ckpt"), is a TF
    checkpoint."""
    if save_format is not None:
        return save_format == "tf"
    return not p.endswith((".h5", ".hdf5", ".keras"))


def save_weights(model, filepath, overwrite=True, save_format=None, **kwargs):
    """`*.weights.h5` (and `*.keras`): the Keras 3 layout; `*.h5`/`*.hdf5`: the Keras 2
    layout; any other name (or save_format="tf"): a TF2 checkpoint, as TF2 Keras writes it --
    `path.index` and `path.data-00000-of-00001` (nabi.train's format, not TensorFlow's) and
    the directory's `checkpoint` state file naming it, so that `tf.train.latest_checkpoint`
    finds it."""
    p = os.fspath(filepath)
    if save_format not in (None, "tf", "h5", "hdf5", "keras"):
        raise ValueError(f"[save_weights] unknown save_format {save_format!r}: use 'tf' or 'h5'")
    if _tf_format(p, save_format):
        from ... import train
        from ...train.checkpoint_management import update_checkpoint_state_internal
        if not overwrite and os.path.exists(p + ".index"):
            raise FileExistsError(f"[save_weights] {p!r} exists and overwrite=False")
        train.Checkpoint(root=model).write(p)
        update_checkpoint_state_internal(os.path.dirname(p), p, [p])
    elif save_format in ("h5", "hdf5") and not p.endswith(".weights.h5") or \
            (save_format is None and p.endswith((".h5", ".hdf5")) and
             not p.endswith(".weights.h5")):
        legacy_h5.save_weights(model, p, overwrite)
    else:
        saving_lib.save_weights_h5(model, p, overwrite)


def load_weights(model, filepath, skip_mismatch=False, by_name=False, **kwargs):
    """Loads weights saved by `save_weights` or `save_model` (any of the formats). Layers are
    matched by name when the names agree (or `by_name=True`), else in order; a model of another
    architecture raises a ValueError naming the first mismatched layer and the shapes."""
    filepath = os.fspath(filepath)
    if not os.path.exists(filepath) and os.path.exists(filepath + ".index"):
        if by_name or skip_mismatch:  # as TF2 Keras
            raise ValueError("[load_weights] by_name and skip_mismatch need an HDF5 weights "
                             f"file; {filepath!r} is a TF checkpoint")
        from ... import train
        return train.Checkpoint(root=model).read(filepath)
    if not os.path.exists(filepath):
        raise FileNotFoundError(f"[load_weights] no such file: {filepath!r}")
    kind = C.file_kind(filepath)
    if kind == "zip":
        return saving_lib.load_weights_from_keras_zip(model, filepath, skip_mismatch, by_name)
    if kind != "hdf5":
        raise ValueError(f"[load_weights] {filepath!r} is neither an HDF5 weights file nor a "
                         ".keras file")
    h5py = C.h5py()
    with h5py.File(filepath, "r") as f:
        if "model_weights" in f and "layer_names" in f["model_weights"].attrs:
            legacy_h5.load_weights_from_group(f["model_weights"], model, filepath,
                                              skip_mismatch, by_name)
        elif "layer_names" in f.attrs:
            legacy_h5.load_weights_from_group(f, model, filepath, skip_mismatch, by_name)
        elif "layers" in f or "vars" in f:   # Keras 3 (a subclassed model has no `layers`)
            saving_lib.read_weights_store(f, model, filepath, skip_mismatch, by_name)
        else:
            raise ValueError(f"[load_weights] {filepath!r} holds no Keras weights")


def model_to_json(model, **kwargs):
    """The model's architecture as a JSON string (`{"class_name", "config", ...}`)."""
    cfg = C.model_config(model)
    cfg.setdefault("keras_version", C.KERAS_VERSION)
    cfg.setdefault("backend", "tensorflow")
    return C.to_json(cfg, **kwargs)


def model_from_json(json_string, custom_objects=None):
    """A new (uncompiled) model from `to_json`'s output."""
    try:
        cfg = json.loads(json_string)
    except (TypeError, ValueError) as e:
        raise ValueError(f"[model_from_json] not valid JSON: {e}") from None
    return C.model_from_config(cfg, custom_objects)


def model_from_config(config, custom_objects=None):
    return C.model_from_config(config, custom_objects)
