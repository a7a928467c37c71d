"""The legacy HDF5 format as Keras 2 lays it out.

Full model (`model.save("m.h5")`): root attributes `model_config` and `training_config` (JSON),
`keras_version`, `backend`; the weights under `model_weights/<layer>/<weight name>` (for
example `model_weights/dense/dense/kernel:0`), each layer group with a `weight_names` attribute
and `model_weights` with `layer_names`; the optimizer under `optimizer_weights/<name>` with a
`weight_names` attribute (iterations first).

Weights only (`save_weights("w.h5")`): the `model_weights` layout at the file's root.
"""
import json

import numpy as np

from . import _common as C


def _weight_names(layer):
    names, seen = [], set()
    for i, w in enumerate(C.layer_weights(layer)):
        n = str(getattr(w, "name", None) or f"weight_{i}")
        if n.endswith(":0"):
            n = n[:-2]
        if not n.startswith(layer.name + "/"):
            n = f"{layer.name}/{n}"
        base, k = n, 1
        while n in seen:
            n = f"{base}_{k}"
            k += 1
        seen.add(n)
        names.append(n + ":0")
    return names


def _enc(names):
    return np.array([n.encode("utf8") for n in names], dtype="S")


def _dec(arr):
    return [n.decode("utf8") if isinstance(n, bytes) else str(n) for n in arr]


def save_weights_to_group(group, model):
    group.attrs["layer_names"] = _enc([layer.name for layer in model.layers])
    group.attrs["backend"] = "tensorflow"
    group.attrs["keras_version"] = C.KERAS2_VERSION
    group.attrs["nabi_version"] = C.nabi_version()
    for layer in model.layers:
        # require_group: a name like "expanded_conv/depthwise/pad" (MobileNetV3) creates
        # "expanded_conv/depthwise" on the way, before that layer's own turn
        g = group.require_group(layer.name)
        names = _weight_names(layer)
        g.attrs["weight_names"] = _enc(names)
        for n, w in zip(names, C.layer_weights(layer)):
            g.create_dataset(n, data=C.weight_value(w))


def _file_layers(group):
    out = []
    for lname in _dec(group.attrs["layer_names"]):
        g = group[lname]
        names = _dec(g.attrs.get("weight_names", []))
        if names:
            out.append((lname, [np.asarray(g[n]) for n in names]))
    return out


def load_weights_from_group(group, model, source, skip_mismatch=False, by_name=False):
    if "layer_names" not in group.attrs:
        raise ValueError(f"{source}: not a Keras HDF5 weights file (no `layer_names` attribute)")
    C.match_layers(list(model.layers), _file_layers(group), source, by_name=by_name,
                   skip_mismatch=skip_mismatch)


def save_model(model, filepath, overwrite=True, include_optimizer=True):
    h5py = C.h5py()
    cfg = C.model_config(model)
    cc = C.compile_config(model) if include_optimizer else None
    with C.atomic_path(filepath, overwrite) as tmp:
        with h5py.File(tmp, "w") as f:
            f.attrs["backend"] = "tensorflow"
            f.attrs["keras_version"] = C.KERAS2_VERSION
            f.attrs["nabi_version"] = C.nabi_version()
            f.attrs["model_config"] = C.to_json({"class_name": cfg["class_name"],
                                                 "config": C.keras3_annotate(cfg)["config"]})
            if cc is not None:
                tc = {k: v for k, v in cc.items() if k != "optimizer"}
                tc.setdefault("loss", None)
                tc.setdefault("metrics", None)
                tc.setdefault("weighted_metrics", None)
                tc.setdefault("loss_weights", None)
                tc["optimizer_config"] = cc.get("optimizer")
                f.attrs["training_config"] = C.to_json(tc)
            save_weights_to_group(f.create_group("model_weights"), model)
            ovars = C.optimizer_variables(model) if include_optimizer else []
            if ovars:
                og = f.create_group("optimizer_weights")
                opt_name = str(getattr(model.optimizer, "name", None) or
                               type(model.optimizer).__name__)
                names, seen = [], set()
                for i, v in enumerate(ovars):
                    n = str(getattr(v, "name", None) or f"var_{i}")
                    n = n[:-2] if n.endswith(":0") else n
                    n = f"{opt_name}/{n}"
                    base, k = n, 1
                    while n in seen:
                        n = f"{base}_{k}"
                        k += 1
                    seen.add(n)
                    names.append(n + ":0")
                    og.create_dataset(names[-1], data=C.weight_value(v))
                og.attrs["weight_names"] = _enc(names)


def save_weights(model, filepath, overwrite=True):
    h5py = C.h5py()
    with C.atomic_path(filepath, overwrite) as tmp:
        with h5py.File(tmp, "w") as f:
            save_weights_to_group(f, model)


def _attr_json(v):
    if isinstance(v, bytes):
        v = v.decode("utf8")
    return json.loads(v)


def _warn_no_vocabulary(layers, source):
    """Keras's legacy .h5 keeps no adapted vocabulary (the .keras format has it in its
    assets): such a lookup or TextVectorization would map every token to the OOV index."""
    import warnings
    from .saving_lib import _VOCAB_LAYERS, _sublayers
    for layer in layers:
        subs = _sublayers(layer)
        if subs is not None:
            _warn_no_vocabulary(subs, source)
        elif type(layer).__name__ in _VOCAB_LAYERS and \
                not layer.get_vocabulary(include_special_tokens=False):
            warnings.warn(f"{source}: layer '{layer.name}' ({type(layer).__name__}) has no "
                          "vocabulary: the legacy .h5 format does not save an adapted one, so "
                          "every token maps to the OOV index. Save the model as .keras, or "
                          "call adapt() / set_vocabulary() after loading.", stacklevel=4)


def load_model(f, source, custom_objects=None, compile=True):
    """Loads from an open h5py.File holding a full Keras 2 model."""
    if "model_config" not in f.attrs:
        raise ValueError(f"{source} holds no model configuration (`model_config`): it is a "
                         "weights-only file; build the model and call load_weights() instead")
    config = _attr_json(f.attrs["model_config"])
    model = C.model_from_config(config, custom_objects)
    load_weights_from_group(f["model_weights"], model, source)
    _warn_no_vocabulary(model.layers, source)
    tc = f.attrs.get("training_config")
    if compile and tc is not None:
        tc = _attr_json(tc)
        C.compile_from_config(model, tc, custom_objects)
        if "optimizer_weights" in f:
            og = f["optimizer_weights"]
            names = _dec(og.attrs.get("weight_names", []))
            C.restore_optimizer(model, [np.asarray(og[n]) for n in names], source)
    return model
