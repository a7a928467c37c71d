"""`model.summary()`: the Keras 2 table (Layer (type) / Output Shape / Param # [/ Connected to])."""
import numpy as np

from ..layers.base import KerasTensor, flatten


def _fmt_shape(s):
    if s is None:
        return "multiple"
    if isinstance(s, list):
        if len(s) == 1:
            return "[" + _fmt_shape(s[0]) + "]"
        return "[" + ", ".join(_fmt_shape(x) for x in s) + "]"
    if isinstance(s, dict):
        return "{" + ", ".join(f"'{k}': {_fmt_shape(v)}" for k, v in s.items()) + "}"
    return "(" + ", ".join("None" if d is None else str(d) for d in s) + \
        ("," if len(s) == 1 else "") + ")"


def _count(weights):
    seen, n = set(), 0
    for w in weights:
        if id(w) not in seen:
            seen.add(id(w))
            n += int(np.prod(w._data.shape))
    return n


def _nbytes(weights):
    """Keras 3 `weight_memory_size`: bytes of the unique weights at their dtypes."""
    seen, n = set(), 0
    for w in weights:
        if id(w) not in seen:
            seen.add(id(w))
            n += int(np.prod(w._data.shape)) * w._data.dtype.itemsize
    return n


def readable_memory_size(size):
    """Keras 3's size suffix: '1.03 MB' (powers of 1024, two decimals)."""
    size = float(size)
    for unit in ("B", "KB", "MB", "GB", "TB", "PB"):
        if size / 1024 < 1:
            return f"{size:.2f} {unit}"
        size /= 1024
    return f"{size:.2f} PB"


def _print_row(fields, positions, print_fn, nested_level=0):
    """Keras 2.15 `print_row`: each column cut to its width (one less than the gap to the
    next position, so that a column always starts at its position; a nested row's first
    column is shorter by its level) and wrapped after '),' etc.; nested rows sit inside
    |...| frames, one bar per level on each side, with the columns where the outer ones are."""
    left = [str(x) for x in fields]
    last = len(positions) - 1
    while any(left):
        line = ""
        for col in range(len(left)):
            start = positions[col - 1] if col > 0 else 0
            end = positions[col]
            space = 2 if col != last else 0
            cutoff = end - start - space
            if col != last:
                cutoff -= 1
            if col == 0:
                cutoff -= nested_level
            fit = left[col][:cutoff]
            cands = [fit.find(x) + len(x) for x in ("),", "},", "],", "',") if fit.find(x) >= 0]
            if cands:
                cutoff = min(cands)
                fit = fit[:cutoff]
            if col == 0:
                line += "|" * nested_level + " "
            line += fit
            line += " " * space
            left[col] = left[col][cutoff:]
            if nested_level and col == last:
                line += " " * (positions[col] - len(line) - nested_level)
            else:
                line += " " * (positions[col] - len(line))
        print_fn(line + "|" * nested_level)


def _keras_output_shape(layer):
    """Keras 2 `Layer.output_shape` as summary() reads it: the shape its calls share, or None
    ("multiple") when it was never called symbolically or its calls' shapes differ."""
    from ..layers.core import InputLayer
    if isinstance(layer, InputLayer):
        return [tuple(layer._batch_input_shape)]
    nodes = layer._inbound_nodes
    if not nodes:
        return None
    shapes = [n.output_shapes for n in nodes]
    return shapes[0] if all(s == shapes[0] for s in shapes) else None


def _layer_out_shape(model, layer, i):
    if hasattr(model, "_layer_outputs") and model._layer_outputs:
        return tuple(model._layer_outputs[i].shape)
    nodes = [n for n in layer._inbound_nodes if id(n) in model._node_ids] \
        if hasattr(model, "_node_ids") else []
    if nodes:
        shapes = [n.output_shapes for n in nodes]
        if all(s == shapes[0] for s in shapes):
            s = shapes[0]
            return s
        return None
    return None


def print_summary(model, line_length=None, positions=None, print_fn=None, expand_nested=False,
                  show_trainable=False):
    print_fn = print_fn or print
    is_seq = type(model).__name__ == "Sequential" or hasattr(model, "_seq_layers")
    graph = getattr(model, "_is_graph_network", False)
    if is_seq:
        if not model.built:
            raise ValueError(f"[{model.name}] this model has not yet been built. Build the model "
                             "first by calling `build()` or by calling the model on a batch of "
                             "data.")
        layers = model.layers
        sequential_like = True
    elif graph:
        layers = model.layers
        model.__dict__["_node_ids"] = {id(n) for n in model._nodes}
        sequential_like = True
        for n in model._nodes:
            if len(n.input_tensors) > 1 or len(n.output_tensors) > 1:
                sequential_like = False
                break
        if sequential_like:
            consumers = {}
            for n in model._nodes:
                for t in n.input_tensors:
                    consumers[id(t)] = consumers.get(id(t), 0) + 1
            if any(c > 1 for c in consumers.values()) or len(model._flat_output_kts) > 1 or \
                    len(model._flat_input_kts) > 1:
                sequential_like = False
    else:
        if not model.built:
            raise ValueError(f"[{model.name}] this model has not yet been built. Build the model "
                             "first by calling `build()` or by calling the model on a batch of "
                             "data.")
        layers = model.layers
        sequential_like = True
    if sequential_like:
        line_length = line_length or 65
        positions = positions or [0.45, 0.85, 1.0]
        to_display = ["Layer (type)", "Output Shape", "Param #"]
    else:
        line_length = line_length or 98
        positions = positions or [0.33, 0.55, 0.67, 1.0]
        to_display = ["Layer (type)", "Output Shape", "Param #", "Connected to"]
    if positions[-1] <= 1:
        positions = [int(line_length * p) for p in positions]
    if show_trainable:
        line_length += 11
        positions = list(positions) + [line_length]
        to_display = list(to_display) + ["Trainable"]
    print_fn(f'Model: "{model.name}"')
    print_fn("_" * line_length)
    _print_row(to_display, positions, print_fn)
    print_fn("=" * line_length)
    from ..layers.core import InputLayer

    def row(owner, layer, i, level):
        if isinstance(layer, InputLayer):
            out_shape = [tuple(layer._batch_input_shape)]
        elif level == 0 and (is_seq or graph):
            out_shape = _layer_out_shape(owner, layer, i)
        elif level > 0:
            out_shape = _keras_output_shape(layer)
        else:
            out_shape = None
        try:
            params = layer.count_params() if layer.built else 0
        except ValueError:
            params = 0
        name = f"{layer.name} ({type(layer).__name__})"
        fields = [name, _fmt_shape(out_shape), params]
        if not sequential_like:
            conns = []
            node_ids = getattr(owner, "_node_ids", None) or \
                {id(n) for n in getattr(owner, "_nodes", [])}
            for n in layer._inbound_nodes:
                if id(n) not in node_ids:
                    continue
                for t in n.input_tensors:
                    l2, ni, ti = t._keras_history
                    conns.append(f"{l2.name}[{ni}][{ti}]")
            fields.append(repr(conns) if conns else "[]")
        if show_trainable:
            fields.append("Y" if layer.trainable else "N")
        _print_row(fields, positions, print_fn, level)

    def visit(owner, layer, i, level, is_last):
        # Keras 2 print_layer: a blank (framed) line after each row but the last of a nested
        # block; a nested model's rows inside a |¯¯¯| frame (a functional one's InputLayer
        # included, as its .layers lists it), and no blank line after that frame.
        row(owner, layer, i, level)
        nested = list(getattr(layer, "layers", []) or []) \
            if expand_nested and hasattr(layer, "compile") else []
        if nested:
            print_fn("|" * (level + 1) + "\u00af" * (line_length - 2 * level - 2) +
                     "|" * (level + 1))
            for j, inner in enumerate(nested):
                visit(layer, inner, j, level + 1, j == len(nested) - 1)
            print_fn("|" * level + "\u00af" * (line_length - 2 * level) + "|" * level)
            is_last = True
        if not is_last:
            print_fn("|" * level + " " * (line_length - 2 * level) + "|" * level)
    for i, layer in enumerate(layers):
        visit(model, layer, i, 0, False)
    print_fn("=" * line_length)
    total = _count(model.weights)
    trainable = _count(model.trainable_weights)
    tw = model.trainable_weights
    tids = {id(w) for w in tw}
    size_all = _nbytes(model.weights)
    size_tr = _nbytes(tw)
    size_nt = _nbytes([w for w in model.weights if id(w) not in tids])
    print_fn(f"Total params: {total:,} ({readable_memory_size(size_all)})")
    print_fn(f"Trainable params: {trainable:,} ({readable_memory_size(size_tr)})")
    print_fn(f"Non-trainable params: {total - trainable:,} ({readable_memory_size(size_nt)})")
    print_fn("_" * line_length)


_unused = (KerasTensor, flatten)
