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


def _print_row(fields, positions, print_fn):
    left = [str(x) for x in fields]
    while any(left):
        line = ""
        for col in range(len(left)):
            start = positions[col - 1] if col > 0 else 0
            end = positions[col]
            space = 2 if col != len(positions) - 1 else 0
            cutoff = end - start - space
            fit = left[col][:cutoff]
            cands = [fit.find(x) + len(x) for x in ("),", "},", "],", "',") if fit.find(x) >= 0]
            if cands:
                cutoff = min(cands)
                fit = fit[:cutoff]
            if col == 0:
                line += " "
            line += fit
            line += " " * space
            left[col] = left[col][cutoff:]
            line += " " * (positions[col] - len(line))
        print_fn(line)


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
    print_fn(f'Model: "{model.name}"')
    print_fn("_" * line_length)
    _print_row(to_display, positions, print_fn)
    print_fn("=" * line_length)
    for i, layer in enumerate(layers):
        from ..layers.core import InputLayer
        if isinstance(layer, InputLayer):
            out_shape = [tuple(layer._batch_input_shape)]
        elif is_seq:
            out_shape = _layer_out_shape(model, layer, i)
        elif graph:
            out_shape = _layer_out_shape(model, layer, i)
        else:
            out_shape = None
        try:
            params = layer.count_params() if layer.built else 0
        except ValueError:
            params = 0
        fields = [f"{layer.name} ({type(layer).__name__})", _fmt_shape(out_shape), params]
        if not sequential_like:
            conns = []
            for n in layer._inbound_nodes:
                if id(n) not in model._node_ids:
                    continue
                for t in n.input_tensors:
                    l2, ni, ti = t._keras_history
                    conns.append(f"{l2.name}[{ni}][{ti}]")
            fields.append(repr(conns) if conns else "[]")
        _print_row(fields, positions, print_fn)
        print_fn(" " * line_length)
    print_fn("=" * line_length)
    total = _count(model.weights)
    trainable = _count(model.trainable_weights)
    print_fn(f"Total params: {total:,}")
    print_fn(f"Trainable params: {trainable:,}")
    print_fn(f"Non-trainable params: {total - trainable:,}")
    print_fn("_" * line_length)


_unused = (KerasTensor, flatten)
