"""Functional models: `Model(inputs, outputs)` over any DAG of layer calls recorded as Nodes."""
import numpy as np

from ...framework.tensor import Tensor, _wrap
from ..layers.base import KerasTensor, Layer, _LayerList, _bump_tree, flatten, pack_like
from .model import Model

__all__ = ["Functional", "AddLoss", "AddMetric"]


class AddLoss(Layer):
    """Keras 2's AddLoss: what `model.add_loss(<symbolic tensor>)` inserts into a functional
    model; each forward pass adds the tensor's value (computed from the graph) to the losses."""

    _autocast = False

    def __init__(self, unconditional=False, **kwargs):
        super().__init__(**kwargs)
        self.unconditional = unconditional

    def call(self, inputs):
        self.add_loss(inputs)
        return inputs

    def get_config(self):
        config = super().get_config()
        config["unconditional"] = self.unconditional
        return config


class AddMetric(Layer):
    """Keras 2's AddMetric: what `model.add_metric(<symbolic tensor>, name=...)` inserts; each
    forward pass updates the Mean metric `metric_name` with the tensor's value."""

    _autocast = False

    def __init__(self, aggregation=None, metric_name=None, **kwargs):
        super().__init__(**kwargs)
        self.aggregation = aggregation
        self.metric_name = metric_name

    def call(self, inputs):
        self.add_metric(inputs, name=self.metric_name, aggregation=self.aggregation)
        return inputs

    def get_config(self):
        config = super().get_config()
        config.update({"aggregation": self.aggregation, "metric_name": self.metric_name})
        return config


def graph_add_loss(model, value):
    """Keras 2 `Functional._graph_network_add_loss`: an AddLoss layer called on the symbolic
    loss, inserted with the layers that compute it from the model's tensors."""
    for v in flatten(value):
        if v is None:
            continue
        _check_symbolic(model, v, "add_loss")
        layer = AddLoss(dtype=v.dtype)
        insert_subgraph(model, [layer(v)], "add_loss")


def graph_add_metric(model, value, name, aggregation):
    """Keras 2 `Functional._graph_network_add_metric`."""
    _check_symbolic(model, value, "add_metric")
    if name is None:
        raise ValueError(f"[{model.name}.add_metric] please provide a name for your metric "
                         "(model.add_metric(tensor, name='...'))")
    if aggregation not in (None, "mean"):
        raise ValueError(f"[{model.name}.add_metric] aggregation must be None or 'mean', "
                         f"got {aggregation!r}")
    layer = AddMetric(aggregation, name, dtype=value.dtype)
    insert_subgraph(model, [layer(value)], "add_metric")


def _check_symbolic(model, v, what):
    if not isinstance(v, KerasTensor):
        raise ValueError(f"[{model.name}.{what}] a functional model's symbolic {what} takes "
                         f"KerasTensors (or plain values), got a mix including {v!r}")


def new_nodes(tensors, known, have, who, inputs_text):
    """The layer calls (nodes) that compute `tensors` from the tensors whose ids are in
    `known`, skipping the nodes whose ids are in `have`, in an order that runs (inputs
    first). A tensor that needs some other Input is a graph-disconnected error."""
    from ..layers.core import InputLayer
    new, seen = [], set()

    def visit(t):
        if id(t) in known or t._keras_history is None:
            return
        node = t.node
        if id(node) in have or id(node) in seen:
            return
        if isinstance(node.layer, InputLayer):
            raise ValueError(f"[{who}] Graph disconnected: the tensor depends on input {t!r}, "
                             f"which is not {inputs_text}")
        seen.add(id(node))
        for it in node.input_tensors:
            visit(it)
        new.append(node)
    for t in tensors:
        visit(t)
    return new


def insert_subgraph(model, tensors, what):
    """Keras 2 `Functional._insert_layers`: the layer calls that compute `tensors` from the
    model's own tensors join the model (run on every forward pass after the existing ones,
    listed in model.layers, saved in its config). A tensor that needs some other Input is a
    graph-disconnected error."""
    d = model.__dict__
    new = new_nodes(tensors, set(d["_input_ids"]), {id(n) for n in d["_nodes"]},
                    f"{model.name}.{what}",
                    f"an input of the model (its inputs are {model.input_names})")
    for node in new:
        d["_steps"].append((node.layer, node, isinstance(node.call_inputs, KerasTensor),
                            [id(t) for t in node.output_tensors]))
        d["_nodes"].append(node)
        if not any(l is node.layer for l in d["_layers"]):
            d["_layers"].append(node.layer)
    d["_train_vars"] = None


class Functional(Model):
    """A Model defined by symbolic inputs and outputs (`keras.Model(inputs, outputs)`)."""

    def call(self, inputs, training=None, mask=None):
        flat = self._flatten_call_inputs(inputs)
        outs = self._run_graph(flat)
        return self._pack_model_outputs(outs)

    def _forward(self, xs, training):
        if len(xs) != len(self._flat_input_kts):
            raise ValueError(f"[{self.name}] the model expects {len(self._flat_input_kts)} "
                             f"input(s) {self.input_names}, got {len(xs)}")
        return self._run_graph(xs)

    def get_config(self):
        return get_network_config(self)

    @property
    def input_shape(self):
        """The input's shape (batch axis None), a list of them for several inputs."""
        return _shapes(self._flat_input_kts)

    @property
    def output_shape(self):
        """The output's shape (batch axis None), a list of them for several outputs."""
        return _shapes(self._flat_output_kts)


def _shapes(kts):
    shapes = [tuple(t.shape) for t in kts]
    return shapes[0] if len(shapes) == 1 else shapes


_FUNCTIONAL_SUBCLASSES = {}


def functional_subclass(cls):
    """The class an instance of `cls` (a Model subclass) built from (inputs, outputs) takes,
    so that it runs its graph: as Keras does, Functional is injected into cls's bases in
    place of Model (the user's overrides -- train_step, ... -- still come first). Should a
    base refuse the new bases, a subclass of (cls, Functional) is used instead."""
    if issubclass(cls, Functional):
        return cls
    try:
        return _inject_functional(cls)
    except TypeError:
        pass
    sub = _FUNCTIONAL_SUBCLASSES.get(cls)
    if sub is None:
        sub = type(cls.__name__, (cls, Functional),
                   {"__module__": cls.__module__, "__qualname__": cls.__qualname__,
                    "__doc__": cls.__doc__, "_nabi_user_class": cls})
        _FUNCTIONAL_SUBCLASSES[cls] = sub
    return sub


def _inject_functional(cls):
    if cls is Model:
        return Functional
    if cls is object or not issubclass(cls, Model) or issubclass(cls, Functional):
        return cls
    cls.__bases__ = tuple(_inject_functional(b) for b in cls.__bases__)
    return cls


def _init_graph(model, inputs, outputs):
    d = model.__dict__
    if isinstance(inputs, dict):
        input_names = list(inputs.keys())
        flat_in = [inputs[k] for k in input_names]
    else:
        flat_in = flatten(inputs)
        input_names = None
    if isinstance(outputs, dict):
        output_names = list(outputs.keys())
        flat_out = [outputs[k] for k in output_names]
    else:
        flat_out = flatten(outputs)
        output_names = None
    for t in flat_in + flat_out:
        if not isinstance(t, KerasTensor):
            raise ValueError(f"[{model.name}] functional model inputs and outputs must be "
                             f"KerasTensors (from keras.Input and layer calls), got {t!r}")
    # An input may be an intermediate tensor (Keras 3 allows it: `keras.Model(inputs=
    # feature_space.get_encoded_features(), ...)`); the graph is cut there.
    from ..layers.core import InputLayer
    # Nodes reachable from the outputs, in a topological order.
    order = []
    seen = set()
    input_ids = {id(t) for t in flat_in}
    stack_guard = set()
    first_seen = {}   # id(layer) -> pre-order index from the outputs (Keras's layer_indices)
    parents = {}      # id(node) -> the nodes producing its inputs

    def visit(t):
        node = t.node
        if id(node) in seen:
            return
        if id(t) in input_ids and not isinstance(node.layer, InputLayer):
            seen.add(id(node))      # an intermediate tensor as an input: its producer is cut
            return
        if id(node) in stack_guard:
            raise ValueError(f"[{model.name}] the layer graph has a cycle at {node.layer.name}")
        first_seen.setdefault(id(node.layer), len(first_seen))
        stack_guard.add(id(node))
        parents[id(node)] = [] if id(t) in input_ids else [it.node for it in node.input_tensors]
        if id(t) not in input_ids:
            if isinstance(node.layer, InputLayer):
                raise ValueError(f"[{model.name}] Graph disconnected: cannot obtain value for "
                                 f"tensor {t!r} at layer {node.layer.name!r}. The following "
                                 "previous layers were accessed without issue: "
                                 f"{[n.layer.name for n in order]}")
            for it in node.input_tensors:
                visit(it)
        stack_guard.discard(id(node))
        seen.add(id(node))
        order.append(node)
    # Keras (tf.nest in Keras 2, optree in Keras 3) walks dict outputs in sorted key order:
    # model.layers, and so the layer paths in Keras 3 weight files, follow it
    for t in ([outputs[k] for k in sorted(output_names)] if output_names is not None
              else flat_out):
        visit(t)
    from ..layers.core import InputLayer
    steps = []
    for node in order:
        if isinstance(node.layer, InputLayer):
            continue
        ci = node.call_inputs
        simple = isinstance(ci, KerasTensor)
        out_ids = [id(t) for t in node.output_tensors]
        steps.append((node.layer, node, simple, out_ids))
    d["_steps"] = steps
    d["_nodes"] = order
    d["_flat_input_kts"] = flat_in
    d["_flat_output_kts"] = flat_out
    d["_input_ids"] = [id(t) for t in flat_in]
    d["_output_ids"] = [id(t) for t in flat_out]
    d["_nested_inputs"] = inputs
    d["_nested_outputs"] = outputs
    d["_outputs_are_list"] = isinstance(outputs, (list, tuple)) and len(flat_out) >= 1 and \
        not (len(flat_out) == 1 and isinstance(outputs, KerasTensor))
    if isinstance(outputs, (list, tuple)) and len(outputs) == 1:
        d["_outputs_are_list"] = False  # Keras returns the bare array for one output
    d["_input_names"] = input_names or [t._keras_history[0].name for t in flat_in]
    d["_dict_inputs"] = input_names is not None
    d["_output_names"] = output_names or _unique([t._keras_history[0].name for t in flat_out])
    d["_dict_outputs"] = output_names is not None
    d["_input_np_dtypes"] = [t._np_dtype for t in flat_in]
    d["_layers"] = _LayerList(_keras_layer_order(flat_in, order, parents, first_seen))
    _bump_tree()
    d["_is_graph_network"] = True
    d["inputs"] = flat_in
    d["outputs"] = flat_out
    d["built"] = True
    d["_build_input_shape"] = [tuple(t.shape) for t in flat_in] if len(flat_in) > 1 \
        else tuple(flat_in[0].shape)


def _keras_layer_order(flat_in, order, parents, first_seen):
    """model.layers in Keras 2's order (functional._map_graph_network): each node's depth is
    its longest distance from an output (an output node has depth 0, a parent gets at least
    its child's depth + 1; a layer takes its deepest node's), layers sorted by decreasing
    depth, and layers of equal depth by their pre-order index in the walk from the outputs.
    So the inputs come first and, for example, a ResNet's shortcut convolution comes where
    Keras lists it (which slicing `model.layers[:n]` and weight order rely on)."""
    node_depth, layer_depth, layer_of = {}, {}, {}
    for node in reversed(order):
        depth = node_depth.setdefault(id(node), 0)
        depth = max(depth, layer_depth.get(id(node.layer), 0))
        layer_depth[id(node.layer)] = depth
        layer_of[id(node.layer)] = node.layer
        node_depth[id(node)] = depth
        for p in parents.get(id(node), ()):
            node_depth[id(p)] = max(depth + 1, node_depth.get(id(p), 0))
    ids = sorted(layer_of, key=lambda k: (-layer_depth[k], first_seen.get(k, 0)))
    layers = [layer_of[k] for k in ids]
    seen = set(ids)
    from ..layers.core import InputLayer
    for t in reversed(flat_in):        # an input no output depends on: first, as before
        l = t._keras_history[0]
        if id(l) not in seen and isinstance(l, InputLayer):
            seen.add(id(l))
            layers.insert(0, l)
    return layers


def _unique(names):
    out, counts = [], {}
    for n in names:
        if n in counts:
            counts[n] += 1
            out.append(f"{n}_{counts[n]}")
        else:
            counts[n] = 0
            out.append(n)
    return out


def _flatten_call_inputs(self, inputs):
    kts = self._flat_input_kts
    if isinstance(inputs, dict):
        try:
            flat = [inputs[n] for n in self._input_names]
        except KeyError as e:
            raise ValueError(f"[{self.name}] missing input {e.args[0]!r}; the model's inputs are "
                             f"{self._input_names}") from None
    elif isinstance(inputs, (list, tuple)):
        flat = list(inputs)
        if len(kts) == 1 and len(flat) != 1:
            flat = [inputs]
        elif self._dict_inputs and len(flat) == len(kts):
            # a list for dict inputs follows tf.nest.flatten of the dict (sorted keys), as
            # Keras 2 (and the inbound nodes of a saved model that calls this one)
            by_name = dict(zip(sorted(self._input_names), flat))
            flat = [by_name[n] for n in self._input_names]
    else:
        flat = [inputs]
    if len(flat) != len(kts):
        raise ValueError(f"[{self.name}] the model expects {len(kts)} input(s) "
                         f"{self._input_names}, got {len(flat)}")
    out = []
    for x, kt in zip(flat, kts):
        if not isinstance(x, Tensor):
            a = np.asarray(x)
            if a.dtype != kt._np_dtype and a.dtype.kind in "fiub":
                a = a.astype(kt._np_dtype)
            x = _wrap(a)
        elif x._data.dtype != kt._np_dtype and x._data.dtype.kind in "iub" and \
                kt._np_dtype.kind == "f":
            from ...ops.math_ops import cast
            x = cast(x, kt.dtype)
        out.append(x)
    return out


def _conform_to_input(x, kt):
    """Keras 2's _conform_to_reference_input: a size-1 last axis is added or dropped when the
    rank is one off the Input's (a (n,) column fed to Input(shape=(1,)))."""
    if type(x) is Tensor:  # its shape without building a TensorShape (once per batch)
        shape, ref = x._data.shape, kt.shape
        if ref is None:
            return x
    elif not isinstance(x, (Tensor, KerasTensor)) or kt.shape is None or x.shape is None:
        return x
    else:
        shape, ref = x.shape, kt.shape
    if len(ref) == 0 or len(shape) == 0:
        return x
    if len(shape) == len(ref) - 1 and ref[-1] == 1:
        from ...ops.array_ops import expand_dims
        return expand_dims(x, -1)
    if len(shape) == len(ref) + 1 and shape[-1] == 1:
        from ...ops.array_ops import squeeze
        return squeeze(x, -1)
    return x


def _run_graph(self, flat_inputs):
    vals = {}
    for k, v, kt in zip(self._input_ids, flat_inputs, self._flat_input_kts):
        vals[k] = _conform_to_input(v, kt)
    for layer, node, simple, out_ids in self._steps:
        if simple:
            x = vals[id(node.call_inputs)]
        else:
            x = _substitute(node.call_inputs, vals)
        if getattr(node, "symbolic_args", False):
            out = layer(x, *_substitute(tuple(node.call_args), vals),
                        **_substitute(dict(node.call_kwargs), vals))
        elif node.call_kwargs or node.call_args:
            out = layer(x, *node.call_args, **node.call_kwargs)
        else:
            out = layer(x)
        if len(out_ids) == 1:
            vals[out_ids[0]] = out if not isinstance(out, (list, tuple, dict)) else flatten(out)[0]
        else:
            for k, o in zip(out_ids, flatten(out)):
                vals[k] = o
    return [vals[k] for k in self._output_ids]


def _substitute(struct, vals):
    if isinstance(struct, KerasTensor):
        return vals[id(struct)]
    if isinstance(struct, list):
        return [_substitute(s, vals) for s in struct]
    if isinstance(struct, tuple):
        return tuple(_substitute(s, vals) for s in struct)
    if isinstance(struct, dict):
        return {k: _substitute(v, vals) for k, v in struct.items()}
    return struct


def _pack_model_outputs(self, outs):
    if self._dict_outputs:
        return dict(zip(self._output_names, outs))
    nested = self._nested_outputs
    if isinstance(nested, KerasTensor):
        return outs[0]
    if isinstance(nested, list) and len(nested) == 1 and isinstance(nested[0], KerasTensor):
        return outs[0]  # Keras 2 unwraps outputs=[x] (_init_graph_network): model(x) is a tensor
    return pack_like(nested, outs)


Model._flatten_call_inputs = _flatten_call_inputs
Model._run_graph = _run_graph
Model._pack_model_outputs = _pack_model_outputs


# ----------------------------------------------------------------------------- config


def _node_key_maps(model):
    """For each layer: its nodes that belong to this model, in creation order -> index."""
    in_model = {id(n) for n in model._nodes}
    index = {}
    for layer in model._layers:
        k = 0
        for n in layer._inbound_nodes:
            if id(n) in in_model:
                index[id(n)] = k
                k += 1
    return index


def _tensor_ref(t, node_index):
    layer, _, ti = t._keras_history
    return [layer.name, node_index[id(t.node)], ti]


def get_network_config(model):
    from ..layers import serialize as ser_layer
    from ..layers.core import InputLayer
    for t in model._flat_input_kts:
        if not isinstance(t._keras_history[0], InputLayer):
            raise NotImplementedError(
                f"[{model.name}.get_config] input {t!r} is an intermediate tensor (made by "
                f"layer {t._keras_history[0].name!r}), not a keras.Input; such a model runs "
                "and trains but cannot be serialised (save its weights, or build it on a "
                "keras.Input)")
    node_index = _node_key_maps(model)
    layer_configs = []
    for layer in model._layers:
        entry = ser_layer(layer)
        entry["name"] = layer.name
        nodes = []
        for n in layer._inbound_nodes:
            if id(n) not in node_index or not n.input_tensors:
                continue
            kwargs = dict(n.call_kwargs)
            ci = n.call_inputs
            if isinstance(ci, KerasTensor):
                refs = [_tensor_ref(ci, node_index) + [kwargs]]
            else:
                refs = [_tensor_ref(t, node_index) + [kwargs] for t in flatten(ci)
                        if isinstance(t, KerasTensor)]
            nodes.append(refs)
        entry["inbound_nodes"] = nodes
        layer_configs.append(entry)

    def refs(struct):
        if model._dict_inputs and struct is model._nested_inputs:
            return {k: _tensor_ref(v, node_index) for k, v in struct.items()}
        return [_tensor_ref(t, node_index) for t in flatten(struct)]
    cfg = {"name": model.name, "trainable": model.trainable, "layers": layer_configs,
           "input_layers": refs(model._nested_inputs),
           "output_layers": [_tensor_ref(t, node_index) for t in model._flat_output_kts]}
    if model._dict_outputs:
        cfg["output_layers"] = {k: _tensor_ref(t, node_index)
                                for k, t in zip(model._output_names, model._flat_output_kts)}
    return cfg


def functional_from_config(cls, config, custom_objects=None):
    from ..layers import deserialize as deser_layer
    created = {}
    order = []
    for lc in config["layers"]:
        lc = _keras3_op_entry(lc)
        layer = deser_layer(lc, custom_objects=custom_objects)
        name = lc.get("name", layer.name)
        created[name] = layer
        order.append((name, layer, lc.get("inbound_nodes", [])))
    outputs_of = {}  # (layer name, node index) -> list of output KerasTensors
    from ..layers.core import InputLayer
    for name, layer, _ in order:
        if isinstance(layer, InputLayer):
            outputs_of[(name, 0)] = [layer._output_tensor]
    pending = {name: list(enumerate(nodes)) for name, _, nodes in order}
    progress = True
    while progress:
        progress = False
        for name, layer, _ in order:
            queue = pending[name]
            while queue:
                ni, node_data = queue[0]
                if isinstance(node_data, dict) and not isinstance(layer, InputLayer):
                    try:   # Keras 3: the call's own args and kwargs, tensors in place
                        args, kwargs = _keras3_call(node_data, outputs_of)
                    except KeyError:
                        break
                    _store_outputs(outputs_of, name, layer, ni, layer(*args, **kwargs), True)
                    queue.pop(0)
                    progress = True
                    continue
                node_data = _normalize_node(node_data)
                try:
                    args = [outputs_of[(r[0], r[1])][r[2]] for r in node_data]
                except KeyError:
                    break
                kwargs = node_data[0][3] if node_data and len(node_data[0]) > 3 else {}
                x = args[0] if len(args) == 1 else args
                out = layer(x, **(kwargs or {}))
                k = 0 if isinstance(layer, InputLayer) else ni
                _store_outputs(outputs_of, name, layer, k, out)
                queue.pop(0)
                progress = True
    left = [n for n, q in pending.items() if q]
    if left:
        raise ValueError(f"[Model.from_config] could not rebuild the graph: layers {left} have "
                         "inputs that never became available")

    def get(ref):
        return outputs_of[(ref[0], ref[1])][ref[2]]
    il, ol = config["input_layers"], config["output_layers"]
    inputs = {k: get(v) for k, v in il.items()} if isinstance(il, dict) else \
        [get(r) for r in _refs_list(il)]
    outputs = {k: get(v) for k, v in ol.items()} if isinstance(ol, dict) else \
        [get(r) for r in _refs_list(ol)]
    if isinstance(inputs, list) and len(inputs) == 1:
        inputs = inputs[0]
    if isinstance(outputs, list) and len(outputs) == 1:
        outputs = outputs[0]
    target = cls if cls is not Model else Functional
    if target is Functional or issubclass(target, Functional):
        m = object.__new__(target)
        Model.__init__(m, inputs=inputs, outputs=outputs, name=config.get("name"),
                       trainable=config.get("trainable", True))
    else:
        m = target(inputs=inputs, outputs=outputs, name=config.get("name"))
    # Keras 2 `connect_ancillary_layers`: layers the outputs do not depend on (add_loss /
    # add_metric and the ops feeding them) join the rebuilt model again.
    if getattr(m, "_is_graph_network", False):
        in_model = {id(l) for l in m._layers}
        extra = [t for name, layer, _ in order
                 if id(layer) not in in_model and not isinstance(layer, InputLayer)
                 for (n, _k), ts in outputs_of.items() if n == name for t in ts]
        if extra:
            insert_subgraph(m, extra, "from_config")
    return m


def _store_outputs(outputs_of, name, layer, ni, out, keras3=False):
    """Keras numbers a nested Functional model's calls from 1 (its node 0 links its own
    inputs to its outputs; Keras 2 did so for Sequential too), nabi from 0. A nested model's
    outputs are filed under Keras's number, and under nabi's where that is free (so nabi's
    older files load; only a second call of a shared nested model is ambiguous there)."""
    out = flatten(out)
    nested = hasattr(layer, "layers") and hasattr(layer, "fit")
    if nested and keras3:   # Keras 3 numbers a nested Sequential from 0
        nested = not any(c.__name__ == "Sequential" for c in type(layer).__mro__)
    if not nested:
        outputs_of[(name, ni)] = out
        return
    outputs_of[(name, ni + 1)] = out
    outputs_of.setdefault((name, ni), out)


def _keras3_call(node_data, outputs_of):
    """(args, kwargs) of a Keras 3 node, each `__keras_tensor__` replaced by the tensor (a
    KeyError while one is not made yet); masks and other tensor kwargs are kept."""
    def fill(a):
        if isinstance(a, dict) and a.get("class_name") == "__keras_tensor__":
            h = a["config"]["keras_history"]
            return outputs_of[(h[0], h[1])][h[2]]
        if isinstance(a, list):
            return [fill(b) for b in a]
        if isinstance(a, dict):
            return {k: fill(v) for k, v in a.items()}
        return a
    return fill(node_data.get("args", [])), fill(node_data.get("kwargs", {}))


def _keras3_op_entry(lc):
    """A Keras 3 op in a functional config (`x + y`, the mask's `not_equal`: module
    keras.src.ops.*, class Add / NotEqual) becomes nabi's op layer calling keras.ops.add /
    keras.ops.not_equal with the node's arguments."""
    nodes = lc.get("inbound_nodes") or []
    if not str(lc.get("module") or "").startswith("keras.src.ops"):
        # Keras 3's legacy .h5 config has no module: an op's config is its name and
        # constructor arguments, a layer's always has `trainable` (ops.Add and layers.Add
        # share the class name)
        if "module" in lc or not nodes or not isinstance(nodes[0], dict) or \
                "trainable" in (lc.get("config") or {}):
            return lc
    import re
    from ..layers.core import TFOpLambda
    from ..layers.core import _to_json
    fn = re.sub("([a-z0-9])([A-Z])", r"\1_\2",
                re.sub("(.)([A-Z][a-z]+)", r"\1_\2", lc["class_name"])).lower()
    if len(nodes) != 1 or not isinstance(nodes[0], dict):
        raise ValueError(f"[Model.from_config] Keras op {lc['class_name']!r} "
                         f"({lc.get('name')!r}) must be applied once")
    refs = []

    def mark(a):
        if isinstance(a, dict) and a.get("class_name") == "__keras_tensor__":
            refs.append(list(a["config"]["keras_history"][:3]) + [{}])
            return {"__keras_tensor__": len(refs) - 1}
        if isinstance(a, dict) and a.get("class_name") == "__slice__":
            c = a.get("config", {})
            return _to_json(slice(c.get("start"), c.get("stop"), c.get("step")))
        if isinstance(a, list):
            return [mark(b) for b in a]
        if isinstance(a, dict):
            return {k: mark(v) for k, v in a.items()}
        return _to_json(a)
    args, kwargs = mark(nodes[0].get("args", [])), mark(nodes[0].get("kwargs", {}))
    cfg = dict(lc.get("config") or {})
    # the op's constructor arguments (ops.Mean(axis, keepdims)) are the function's keywords
    kwargs = {**{k: _to_json(v) for k, v in cfg.items() if k != "name"}, **kwargs}
    symbol = f"keras.ops.{fn}"
    if fn == "get_item":   # x[key]: the key, a list in the config, is a tuple
        symbol = "__operators__.getitem"
        if len(args) == 2 and isinstance(args[1], list):
            args[1] = {"__tuple__": args[1]}
    cfg = {"name": cfg.get("name", fn), "symbol": symbol, "op_args": args,
           "op_kwargs": kwargs}
    cfg["name"] = TFOpLambda(None, symbol=cfg["symbol"], op_args=[], op_kwargs={}).name \
        if not str(cfg.get("name", "")).startswith("tf.") else cfg["name"]
    return {"class_name": "TFOpLambda", "config": cfg, "name": lc.get("name"),
            "inbound_nodes": [refs]}


def _refs_list(refs):
    if refs and isinstance(refs[0], str):
        return [refs]
    return refs


def _normalize_node(node_data):
    """Keras 2 node: [[name, node_index, tensor_index, kwargs], ...]; Keras 3 dicts accepted."""
    if isinstance(node_data, dict):  # Keras 3 {"args": [...], "kwargs": {...}}
        out = []
        for a in flatten(node_data.get("args", [])):
            if isinstance(a, dict) and a.get("class_name") == "__keras_tensor__":
                h = a["config"]["keras_history"]
                out.append([h[0], h[1], h[2], node_data.get("kwargs", {})])
        return out
    if node_data and isinstance(node_data[0], str):
        return [node_data]
    return node_data
