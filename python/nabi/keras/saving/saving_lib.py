"""The `.keras` format (Keras 3): a zip holding

- `config.json`: the model's serialised config with `compile_config` (and `build_config`);
- `metadata.json`: `keras_version`, `date_saved`, `nabi_version`;
- `model.weights.h5`: `layers/<layer name>/vars/0, 1, ...` (nested models under
  `layers/<model>/layers/<layer>/vars`), the optimizer's variables under `optimizer/vars/0, ...`
  (iterations first); a layer that overrides `save_own_variables` / `load_own_variables`
  writes and reads its own `vars` entries;
- `assets/layers/<layer name>/...`: the files a layer's `save_assets(dir)` wrote, given back
  to its `load_assets(dir)`.

The same HDF5 layout is the `.weights.h5` weights-only file.
"""
import datetime
import io
import json
import zipfile

import numpy as np

from . import _common as C

CONFIG = "config.json"
METADATA = "metadata.json"
WEIGHTS = "model.weights.h5"
ASSETS = "assets"


# --------------------------------------------------------------------------------------------
# The HDF5 weights store (Keras 3 layout)

def _sublayers(layer):
    """The layers of a nested model (saved recursively, as Keras 3 does); None for a layer,
    whose weights (its own, then its sublayers') are saved flat in its `vars`."""
    if not (hasattr(layer, "compile") and hasattr(layer, "fit")):
        return None
    inner = getattr(layer, "layers", None)
    return list(inner) if isinstance(inner, (list, tuple)) else None


def _custom(layer, hook):
    """Whether `layer`'s class overrides the base Layer's Keras 3 saving hook `hook`."""
    from ..layers.base import Layer
    return getattr(type(layer), hook, None) is not getattr(Layer, hook, None)


# Keras 3 does not file a layer under its name (names are not reproducible): a model's layers
# are `layers/<class name in snake case>` (`dense`, `dense_1`, ... counted per class, in the
# order of `model.layers`), and a layer's sublayers sit under their attribute names: an RNN's
# weights in `lstm/cell/vars`, a Bidirectional's in `bidirectional/forward_layer/cell/vars` and
# `.../backward_layer/cell/vars`, a MultiHeadAttention's in `multi_head_attention/query_dense/
# vars`, ... Files written by nabi before it followed this layout hold a `layer_names`
# attribute on `layers` and name the groups by layer name; they are still read.

def _snake(name):
    """keras.src.utils.naming.to_snake_case."""
    import re
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def _keras_class_name(layer):
    cls = type(layer)
    cls = cls.__dict__.get("_nabi_user_class", cls)
    name = cls.__name__
    if name == "Model" and _sublayers(layer) is not None:
        name = "Functional"
    return name


def _keras_keys(layers):
    """[(file key, layer)]: Keras 3's `_save_container_state` naming."""
    used, out = {}, []
    for layer in layers:
        key = _snake(_keras_class_name(layer))
        if key in used:
            used[key] += 1
            key = f"{key}_{used[key]}"
        else:
            used[key] = 0
        out.append((key, layer))
    return out


_RNN_CLASSES = ("SimpleRNN", "LSTM", "GRU", "RNN", "ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D")
_MHA_PARTS = {"query": "query_dense", "key": "key_dense", "value": "value_dense",
              "attention_output": "output_dense"}


def _var_groups(layer):
    """[(sub-path or "", [weights])]: where Keras 3 files each of `layer`'s weights, in the
    order of `layer.weights`."""
    ws = C.layer_weights(layer)
    name = type(layer).__name__
    if name == "Bidirectional" and hasattr(layer, "forward_layer"):
        return [(p and f"{side}/{p}" or side, w)
                for side, sub in (("forward_layer", layer.forward_layer),
                                  ("backward_layer", layer.backward_layer))
                for p, w in _var_groups(sub)]
    if name == "TimeDistributed" and hasattr(layer, "layer"):
        return [(p and f"layer/{p}" or "layer", w) for p, w in _var_groups(layer.layer)]
    if name in _RNN_CLASSES and ws:
        return [("cell", ws)]
    if name == "MultiHeadAttention" and ws:
        groups = {}
        for w in ws:
            parts = str(getattr(w, "name", "")).split("/")
            part = _MHA_PARTS.get(parts[-2] if len(parts) >= 2 else "")
            if part is None:
                return [("", ws)]
            groups.setdefault(part, []).append(w)
        return list(groups.items())
    return [("", ws)]


def _write_layer(group, key, layer):
    g = group.create_group(key)
    subs = _sublayers(layer)
    g.create_group("vars")
    if subs is not None:
        lg = g.create_group("layers")
        for k, sub in _keras_keys(subs):
            _write_layer(lg, k, sub)
        return
    if _custom(layer, "save_own_variables"):
        store = {}
        layer.save_own_variables(store)
        for k, a in store.items():
            g["vars"].create_dataset(str(k), data=np.asarray(a))
        return
    for sub, ws in _var_groups(layer):
        v = g["vars"] if not sub else g.require_group(sub).require_group("vars")
        for i, w in enumerate(ws):
            v.create_dataset(str(i), data=C.weight_value(w))
    g["vars"].attrs["name"] = layer.name


def write_weights_store(h5file, model, include_optimizer=False):
    """Writes `model`'s weights (and optionally optimizer state) into an open h5py.File, in
    Keras 3's layout (see `_keras_keys`)."""
    h5file.create_group("vars")
    keyed = _attribute_keys(model)   # a subclassed model: by attribute, at the root
    layers = h5file if keyed else h5file.create_group("layers")
    names = set()
    for key, layer in keyed or _keras_keys(model.layers):
        if layer.name in names:
            raise ValueError(f"Two layers are named {layer.name!r}; layer names must be unique "
                             "to save a model")
        names.add(layer.name)
        _write_layer(layers, key, layer)
    if include_optimizer:
        ovars = C.optimizer_variables(model)
        if ovars:
            og = h5file.create_group("optimizer")
            ov = og.create_group("vars")
            for i, v in enumerate(ovars):
                ov.create_dataset(str(i), data=C.weight_value(v))


def _read_vars(group):
    v = group.get("vars")
    if v is None:
        return []
    # a layer's save_own_variables may add named entries; only "0", "1", ... are weights here
    keys = sorted((k for k in v.keys() if k.isdigit()), key=int)
    return [np.asarray(v[k]) for k in keys]


def _ordered_names(group):
    names = group.attrs.get("layer_names")
    if names is not None:
        return [n.decode("utf8") if isinstance(n, bytes) else str(n) for n in names]
    return list(group.keys())   # creation order when tracked, else alphabetical


def _file_layer_tree(group):
    """[(name, arrays, subtree-or-None)] in file order."""
    out = []
    for name in _ordered_names(group):
        g = group[name]
        sub = _file_layer_tree(g["layers"]) if "layers" in g else None
        out.append((name, _read_vars(g), sub))
    return out


def _flatten_file(tree, prefix=""):
    out = []
    for name, arrays, sub in tree:
        if sub is not None:
            out.extend(_flatten_file(sub, prefix + name + "/"))
        elif arrays:
            out.append((prefix + name, arrays))
    return out


def _flatten_model(layers):
    out = []
    for layer in layers:
        subs = _sublayers(layer)
        if subs is not None:
            out.extend(_flatten_model(subs))
        elif C.layer_weights(layer):
            out.append(layer)
    return out


def _load_tree_by_name(model_layers, tree, source, skip_mismatch, strict):
    fmap = {name: (arrays, sub) for name, arrays, sub in tree}
    pairs = []
    for layer in model_layers:
        if layer.name not in fmap:
            continue
        arrays, sub = fmap[layer.name]
        subs = _sublayers(layer)
        if subs is not None and sub is not None:
            _load_tree_by_name(subs, sub, source, skip_mismatch, strict)
        elif _custom(layer, "load_own_variables"):
            continue   # its own hook loads it (_run_load_hooks)
        elif C.layer_weights(layer) or arrays:
            pairs.append((layer, arrays, layer.name))
    C.assign_layer_list(pairs, source, skip_mismatch)


def _names_match(model_layers, tree):
    fmap = {name: (arrays, sub) for name, arrays, sub in tree}
    for layer in model_layers:
        subs = _sublayers(layer)
        has = C.layer_weights(layer)
        if not has:
            continue
        if layer.name not in fmap:
            return False
        arrays, sub = fmap[layer.name]
        if subs is not None and sub is not None and not _names_match(subs, sub):
            return False
    return True


def read_weights_store(h5file, model, source, skip_mismatch=False, by_name=False):
    """Loads layer weights from an open h5py.File in the Keras 3 layout: by layer name when
    every weighted layer's name is in the file (or by_name), else by order."""
    if "layers" not in h5file:
        keyed = _attribute_keys(model)
        if keyed and any(k in h5file for k, _ in keyed):
            return _read_keras_layout(h5file, keyed, source, skip_mismatch, by_name)
        raise ValueError(f"{source} holds no `layers` group: not a Keras 3 weights file")
    if "layer_names" not in h5file["layers"].attrs:   # Keras 3's layout
        return _read_keras_layout(h5file["layers"], list(model.layers), source,
                                  skip_mismatch, by_name)
    tree = _file_layer_tree(h5file["layers"])
    layers = list(model.layers)
    if by_name or _names_match(layers, tree):
        if not by_name:
            # every model layer with weights is in the file; check nothing is left over
            used = {layer.name for layer in layers if C.layer_weights(layer)}
            extra = [n for n, arrays, sub in tree if (arrays or sub) and n not in used
                     and _flatten_file([(n, arrays, sub)])]
            if extra:
                C.match_layers(_flatten_model(layers), _flatten_file(tree), source)
        _load_tree_by_name(layers, tree, source, skip_mismatch, not by_name)
        _run_load_hooks(h5file["layers"], layers)
    else:
        C.match_layers(_flatten_model(layers), _flatten_file(tree), source,
                       skip_mismatch=skip_mismatch)


def _attribute_keys(model):
    """[(file key, layer)] of a subclassed model as Keras 3 files it: each layer under the
    attribute that holds it (`self.d1` -> `d1`; a list of layers -> `<attr>/dense`, ...), in
    Keras's order (public names, then private ones, sorted), each layer once."""
    from ..layers.base import Layer
    if type(model).__name__ in ("Sequential", "Functional", "Model"):
        return []
    names = sorted((n for n in vars(model) if not n.startswith("__")),
                   key=lambda n: "~" + n if n.startswith("_") else n)
    out, seen = [], set()
    for n in names:
        v = vars(model)[n]
        if isinstance(v, Layer):
            items = [(n, v)]
        elif isinstance(v, (list, tuple)) and v and all(isinstance(e, Layer) for e in v):
            items = [(f"{n}/{k}", e) for k, e in _keras_keys(v)]
        else:
            continue
        for k, layer in items:
            if id(layer) not in seen:
                seen.add(id(layer))
                out.append((k, layer))
    return out


def _keras_layout_pairs(group, layers, source, by_name, pairs, hooks, where="layers"):
    """Pairs each weighted layer with its arrays at its Keras 3 path (see `_keras_keys`); a
    layer that is missing from the file gets no arrays (reported as a mismatch). `layers`
    may be [(key, layer)] already."""
    keyed = layers if layers and isinstance(layers[0], tuple) else _keras_keys(layers)
    if by_name:   # Keras 3 records each layer's name on its `vars` group
        by = {}
        for k in group:
            v = group[k].get("vars")
            if v is not None and "name" in v.attrs:
                n = v.attrs["name"]
                by[n.decode("utf8") if isinstance(n, bytes) else str(n)] = k
        keyed = [(by[layer.name], layer) for _, layer in keyed if layer.name in by]
    for key, layer in keyed:
        g = group.get(key)
        subs = _sublayers(layer)
        if subs is not None:
            if g is not None and "layers" in g:
                _keras_layout_pairs(g["layers"], subs, source, by_name, pairs, hooks,
                                    f"{where}/{key}/layers")
            elif any(C.layer_weights(x) for x in subs):
                pairs.append((layer, [], f"{where}/{key}"))
            continue
        if _custom(layer, "load_own_variables"):
            v = None if g is None else g.get("vars")
            hooks.append((layer, {} if v is None else {k: np.asarray(v[k]) for k in v}))
            continue
        if not C.layer_weights(layer):
            continue
        arrays = []
        for sub, _ in _var_groups(layer):
            sg = g if g is None or not sub else g.get(sub)
            arrays.extend([] if sg is None else _read_vars(sg))
        pairs.append((layer, arrays, f"{where}/{key}"))
    if not by_name and where.endswith("layers"):
        used = {k for k, _ in keyed}
        extra = [k for k in group if k not in used and _holds_weights(group[k])]
        if extra:   # a layer of the file the model does not have (loading would drop it)
            pairs.append((None, extra, f"{where}/{extra[0]}"))


def _holds_weights(g):
    import h5py
    if isinstance(g, h5py.Dataset):
        return True
    return any(_holds_weights(g[k]) for k in g)


def _read_keras_layout(group, layers, source, skip_mismatch, by_name):
    pairs, hooks = [], []
    _keras_layout_pairs(group, layers, source, by_name, pairs, hooks,
                        "layers" if group.name.endswith("layers") else "")
    extra = [(arrays, where) for layer, arrays, where in pairs if layer is None]
    pairs = [p for p in pairs if p[0] is not None]
    if extra and not skip_mismatch:   # Keras 3 loads such a file without a word
        import warnings
        names, where = extra[0]
        warnings.warn(f"{source} holds weights the model has no layer for: "
                      f"{', '.join(repr(n) for n in names)} in {where.rsplit('/', 1)[0]!r} "
                      "(Keras 3's paths); they are not loaded. Is it the same architecture?",
                      stacklevel=4)
    C.assign_layer_list(pairs, source, skip_mismatch)
    for layer, store in hooks:
        layer.load_own_variables(store)


def _run_load_hooks(group, layers):
    """Calls `load_own_variables(store)` of the layers that override it, with their file
    group's entries (Keras 3's hook), matching layers by name."""
    for layer in layers:
        if layer.name not in group:
            continue
        g = group[layer.name]
        subs = _sublayers(layer)
        if subs is not None:
            if "layers" in g:
                _run_load_hooks(g["layers"], subs)
        elif _custom(layer, "load_own_variables"):
            v = g.get("vars")
            layer.load_own_variables({} if v is None else {k: np.asarray(v[k]) for k in v})


_VOCAB_LAYERS = ("TextVectorization", "StringLookup", "IntegerLookup")


def _asset_layers(layers, prefix="layers", old_prefix="layers"):
    """[(path, older nabi's path, layer)] of the layers (nested models walked) with Keras 3's
    asset hooks or an adapted vocabulary. The path is Keras 3's (`_keras_keys`); nabi before
    it filed assets under the layer's name."""
    out = []
    for key, layer in _keras_keys(layers):
        path, old = f"{prefix}/{key}", f"{old_prefix}/{layer.name}"
        subs = _sublayers(layer)
        if subs is not None:
            out.extend(_asset_layers(subs, path + "/layers", old + "/layers"))
        elif callable(getattr(layer, "save_assets", None)) or \
                callable(getattr(layer, "load_assets", None)) or \
                type(layer).__name__ in _VOCAB_LAYERS:
            out.append((path, old, layer))
    return out


def _write_assets(z, model):
    import os
    import tempfile
    for path, _, layer in _asset_layers(model.layers):
        if not callable(getattr(layer, "save_assets", None)):
            continue
        with tempfile.TemporaryDirectory() as d:
            layer.save_assets(d)
            for root, _, files in os.walk(d):
                for fn in sorted(files):
                    full = os.path.join(root, fn)
                    rel = os.path.relpath(full, d).replace(os.sep, "/")
                    with open(full, "rb") as fh:
                        z.writestr(f"{ASSETS}/{path}/{rel}", fh.read())


def _set_vocabulary(layer, text, source):
    """Keras 3 keeps an adapted vocabulary (one not in the config) in the layer's asset
    `vocabulary.txt`, special tokens first; nabi's lookups take it from there."""
    if layer.get_vocabulary(include_special_tokens=False):
        return   # the config gave the vocabulary
    if getattr(layer, "output_mode", None) == "tf_idf":
        import warnings
        warnings.warn(f"{source}: layer '{layer.name}' (tf_idf) is loaded without its adapted "
                      "vocabulary and idf weights: adapt it again", stacklevel=3)
        return
    lines = text.decode("utf8").split("\n")
    if type(layer).__name__ == "IntegerLookup":
        lines = [int(v) for v in lines]
    layer.set_vocabulary(lines)


def _load_assets(model, entries, source=""):
    """`entries`: {zip name: bytes} of the files under assets/."""
    import os
    import tempfile
    for path, old, layer in _asset_layers(model.layers):
        mine = {}
        for p in (path, old):
            head = f"{ASSETS}/{p}/"
            mine = {n[len(head):]: b for n, b in entries.items() if n.startswith(head)}
            if mine:
                break
        if not callable(getattr(layer, "load_assets", None)):
            if "vocabulary.txt" in mine:
                _set_vocabulary(layer, mine["vocabulary.txt"], source)
            continue
        with tempfile.TemporaryDirectory() as d:
            for rel, b in mine.items():
                full = os.path.join(d, *rel.split("/"))
                os.makedirs(os.path.dirname(full), exist_ok=True)
                with open(full, "wb") as fh:
                    fh.write(b)
            layer.load_assets(d)


def read_optimizer_arrays(h5file):
    if "optimizer" not in h5file:
        return []
    return _read_vars(h5file["optimizer"])


def save_weights_h5(model, filepath, overwrite=True):
    h5py = C.h5py()
    with C.atomic_path(filepath, overwrite) as tmp:
        with h5py.File(tmp, "w", track_order=True) as f:
            write_weights_store(f, model, include_optimizer=False)


# --------------------------------------------------------------------------------------------
# The .keras zip

def _serialized_model(model):
    cfg = C.keras3_annotate(C.model_config(model))
    cc = C.compile_config(model)
    if cc is not None:
        cfg["compile_config"] = cc
    bc = C.build_config(model)
    if bc is not None:
        cfg["build_config"] = bc
    return cfg


def save_model(model, filepath, overwrite=True, include_optimizer=True):
    from . import subclassed
    if subclassed.needs_it(model):   # no config: class path + constructor arguments
        return subclassed.save(model, filepath, overwrite, include_optimizer)
    h5py = C.h5py()
    config_json = C.to_json(_serialized_model(model))
    metadata = {"keras_version": C.KERAS_VERSION, "nabi_version": C.nabi_version(),
                "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S"),
                "format": "keras v3 (written by nabi)"}
    buf = io.BytesIO()
    with h5py.File(buf, "w", track_order=True) as f:
        write_weights_store(f, model, include_optimizer=include_optimizer)
    with C.atomic_path(filepath, overwrite) as tmp:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as z:
            z.writestr(METADATA, json.dumps(metadata, indent=2))
            z.writestr(CONFIG, config_json)
            z.writestr(WEIGHTS, buf.getvalue())
            _write_assets(z, model)


def _open_zip(filepath):
    try:
        z = zipfile.ZipFile(filepath, "r")
    except zipfile.BadZipFile as e:
        raise ValueError(f"{filepath} is not a valid .keras file ({e})") from None
    names = set(z.namelist())
    if CONFIG not in names:
        z.close()
        raise ValueError(f"{filepath} is not a .keras file: it has no {CONFIG}")
    return z


def load_model(filepath, custom_objects=None, compile=True, safe_mode=True):
    from . import subclassed
    with _open_zip(filepath) as z:
        config = json.loads(z.read(CONFIG).decode("utf8"))
        if subclassed.is_subclassed_config(config):
            return subclassed.load(config, z, str(filepath), custom_objects, compile)
        weights = z.read(WEIGHTS) if WEIGHTS in z.namelist() else None
        assets = {n: z.read(n) for n in z.namelist()
                  if n.startswith(ASSETS + "/") and not n.endswith("/")}
    h5py = C.h5py()
    cc = config.pop("compile_config", None)
    bc = config.pop("build_config", None)
    model = C.model_from_config(config, custom_objects)
    C.ensure_built(model, bc)
    if compile and cc:
        C.compile_from_config(model, cc, custom_objects)
    if weights is not None:
        with h5py.File(io.BytesIO(weights), "r") as f:
            read_weights_store(f, model, str(filepath))
            if compile and cc:
                C.restore_optimizer(model, read_optimizer_arrays(f), str(filepath))
    _load_assets(model, assets, str(filepath))
    return model


def load_weights_from_keras_zip(model, filepath, skip_mismatch=False, by_name=False):
    h5py = C.h5py()
    with _open_zip(filepath) as z:
        weights = z.read(WEIGHTS)
    with h5py.File(io.BytesIO(weights), "r") as f:
        read_weights_store(f, model, str(filepath), skip_mismatch, by_name)
