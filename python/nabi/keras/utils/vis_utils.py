"""`plot_model` / `model_to_dot` through pydot and Graphviz (the optional `plot` extra)."""
import os

__all__ = ["model_to_dot", "plot_model"]

_MISSING = ("You must install pydot (`pip install pydot`) and Graphviz (the `dot` program, e.g. "
            "`apt-get install graphviz`, see https://graphviz.org/download/) for "
            "`plot_model`/`model_to_dot` to work.")


def _import_pydot():
    try:
        import pydot
    except ImportError:
        raise ImportError(_MISSING) from None
    return pydot


def _check_graphviz(pydot):
    try:
        pydot.Dot.create(pydot.Dot())
    except (OSError, FileNotFoundError, Exception) as e:  # noqa: BLE001
        raise ImportError(_MISSING + f" (Graphviz failed: {e})") from None


def _shape_str(layer, attr):
    if type(layer).__name__ == "InputLayer":
        attr = "output_shape"
    try:
        s = getattr(layer, attr)
    except Exception:  # noqa: BLE001 - unbuilt layers have no shapes
        return "?"
    if isinstance(s, list) and len(s) == 1:
        s = s[0]
    return str(tuple(s) if isinstance(s, list) and s and not isinstance(s[0], (list, tuple))
               else s)


def _inbound_names(layer_cfg):
    """Names of the layers feeding a layer, from Keras 2 (`[[name, node, tensor, kw], ...]`) or
    Keras 3 (`keras_history`) inbound_nodes."""
    out = []

    def walk(v):
        if isinstance(v, dict):
            if "keras_history" in v.get("config", {}):
                out.append(v["config"]["keras_history"][0])
                return
            for x in v.values():
                walk(x)
        elif isinstance(v, (list, tuple)):
            if len(v) >= 3 and isinstance(v[0], str) and isinstance(v[1], int) and \
                    isinstance(v[2], int):
                out.append(v[0])
                return
            for x in v:
                walk(x)
    walk(layer_cfg.get("inbound_nodes", []))
    return out


def model_to_dot(model, show_shapes=False, show_dtype=False, show_layer_names=True,
                 rankdir="TB", expand_nested=False, dpi=96, subgraph=False,
                 show_layer_activations=False, show_trainable=False, **kwargs):
    """A `pydot.Dot` graph of the model's layers and connections."""
    pydot = _import_pydot()
    dot = pydot.Dot()
    dot.set("rankdir", rankdir)
    dot.set("concentrate", True)
    dot.set("dpi", dpi)
    dot.set_node_defaults(shape="record")
    layers = list(model.layers)
    try:
        cfg = model.get_config()
    except Exception:  # noqa: BLE001 - subclassed models without get_config
        cfg = {}
    ids = {}
    for layer in layers:
        cls = type(layer).__name__
        label = f"{layer.name}: {cls}" if show_layer_names else cls
        if show_layer_activations and hasattr(layer, "activation"):
            act = getattr(layer.activation, "__name__", str(layer.activation))
            label += f" | {act}"
        if show_dtype:
            label += f" | {getattr(layer, 'dtype', '?')}"
        if show_shapes:
            label += (f" | {{input: | output:}} | {{{_shape_str(layer, 'input_shape')} | "
                      f"{_shape_str(layer, 'output_shape')}}}")
        if show_trainable:
            label += f" | trainable: {'T' if getattr(layer, 'trainable', True) else 'F'}"
        label = label.replace("<", "\\<").replace(">", "\\>")
        ids[layer.name] = str(id(layer))
        dot.add_node(pydot.Node(ids[layer.name], label=label))
    layer_cfgs = cfg.get("layers", []) if isinstance(cfg, dict) else []
    edges = []
    if layer_cfgs and any("inbound_nodes" in c for c in layer_cfgs):
        for c in layer_cfgs:
            name = c.get("name") or c.get("config", {}).get("name")
            for src in _inbound_names(c):
                if src in ids and name in ids:
                    edges.append((ids[src], ids[name]))
    else:
        for a, b in zip(layers, layers[1:]):
            edges.append((ids[a.name], ids[b.name]))
    for a, b in edges:
        dot.add_edge(pydot.Edge(a, b))
    return dot


def plot_model(model, to_file="model.png", show_shapes=False, show_dtype=False,
               show_layer_names=True, rankdir="TB", expand_nested=False, dpi=96,
               show_layer_activations=False, show_trainable=False, **kwargs):
    """Draws the model's graph to `to_file` (png, svg, pdf, ... by extension, or .dot)."""
    pydot = _import_pydot()
    dot = model_to_dot(model, show_shapes=show_shapes, show_dtype=show_dtype,
                       show_layer_names=show_layer_names, rankdir=rankdir, dpi=dpi,
                       show_layer_activations=show_layer_activations,
                       show_trainable=show_trainable)
    ext = os.path.splitext(to_file)[1][1:].lower() or "png"
    if ext == "dot":
        with open(to_file, "w", encoding="utf-8") as f:
            f.write(dot.to_string())
        return None
    _check_graphviz(pydot)
    dot.write(to_file, format=ext)
    if ext != "pdf":
        try:
            from IPython import display
            return display.Image(filename=to_file)
        except ImportError:
            pass
    return None
