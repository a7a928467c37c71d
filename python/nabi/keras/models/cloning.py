"""`clone_model`: a new model with the same architecture and freshly initialised weights."""
from ..layers.base import KerasTensor, flatten
from .functional import Functional
from .model import Model
from .sequential import Sequential

__all__ = ["clone_model"]


def _default_clone(layer):
    return type(layer).from_config(layer.get_config())


def clone_model(model, input_tensors=None, clone_function=None, call_function=None,
                recursive=False, **kwargs):
    """Clones a Sequential or functional model (new layers, new weights; same configs)."""
    clone_function = clone_function or _default_clone
    if isinstance(model, Sequential):
        new_layers = [clone_function(l) for l in model.layers]
        for old, cl in zip(model.layers, new_layers):   # a loaded model's first-layer shape
            shape = old.__dict__.get("_loaded_input_shape")   # (Sequential.from_config)
            if shape is not None and isinstance(cl, type(old)) and \
                    cl._batch_input_shape is None:
                cl.__dict__["_loaded_input_shape"] = shape
        new = Sequential(name=model.name if "name" not in kwargs else kwargs["name"])
        if input_tensors is not None:
            new.add(flatten(input_tensors)[0]._keras_history[0])
        elif model._input_layer is not None:
            from ..layers.core import InputLayer
            il = model._input_layer
            new.add(InputLayer(batch_input_shape=il._batch_input_shape, dtype=il.dtype,
                               name=il.name))
        for l in new_layers:
            new.add(l)
        return new
    if getattr(model, "_is_graph_network", False):
        from ..layers.core import Input, InputLayer
        mapping = {}
        if input_tensors is not None:
            its = flatten(input_tensors)
            for old, new in zip(model._flat_input_kts, its):
                if not isinstance(new, KerasTensor):
                    new = Input(tensor=new)
                mapping[id(old)] = new
        else:
            for old in model._flat_input_kts:
                il = old._keras_history[0]
                mapping[id(old)] = Input(batch_shape=tuple(old.shape), dtype=old.dtype.name,
                                         name=il.name)
        new_layers = {}
        for layer, node, simple, out_ids in model._steps:
            if id(layer) not in new_layers:
                new_layers[id(layer)] = layer if isinstance(layer, InputLayer) else \
                    clone_function(layer)
            nl = new_layers[id(layer)]

            def sub(s):
                if isinstance(s, KerasTensor):
                    return mapping[id(s)]
                if isinstance(s, list):
                    return [sub(v) for v in s]
                if isinstance(s, tuple):
                    return tuple(sub(v) for v in s)
                if isinstance(s, dict):
                    return {k: sub(v) for k, v in s.items()}
                return s
            out = nl(sub(node.call_inputs), *node.call_args, **node.call_kwargs)
            for old, new in zip(node.output_tensors, flatten(out)):
                mapping[id(old)] = new
        if model._dict_inputs:
            ins = {k: mapping[id(t)] for k, t in zip(model._input_names, model._flat_input_kts)}
        else:
            ins = [mapping[id(t)] for t in model._flat_input_kts]
            ins = ins[0] if len(ins) == 1 else ins
        if model._dict_outputs:
            outs = {k: mapping[id(t)] for k, t in zip(model._output_names,
                                                        model._flat_output_kts)}
        else:
            outs = [mapping[id(t)] for t in model._flat_output_kts]
            outs = outs if model._outputs_are_list else outs[0]
        new_model = Model(inputs=ins, outputs=outs, name=kwargs.get("name", model.name))
        # Keras 2 `_insert_ancillary_layers`: the clones of layers the outputs do not depend
        # on (add_loss / add_metric and the ops feeding them) join the new model too.
        in_new = {id(l) for l in new_model._layers}
        extra = [mapping[id(t)] for layer, node, _, _ in model._steps
                 if id(new_layers[id(layer)]) not in in_new for t in node.output_tensors]
        if extra:
            from .functional import insert_subgraph
            insert_subgraph(new_model, extra, "clone_model")
        return new_model
    # Subclassed: rebuild from config.
    try:
        return type(model).from_config(model.get_config())
    except Exception as e:  # noqa: BLE001
        raise ValueError(f"[clone_model] cannot clone subclassed model {model.name!r}: it must "
                         f"implement get_config/from_config ({e})") from None


_unused = (Functional,)
