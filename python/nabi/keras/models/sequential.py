"""`Sequential`: a linear stack of layers."""
from ..layers.base import KerasTensor, Layer, _is_symbolic, _shape_tuple, flatten
from ..layers.core import InputLayer
from .functional import _conform_to_input
from .model import Model

__all__ = ["Sequential"]


def _first_input_shape_and_dtype(layer):
    """The batch input shape a first layer fixes; a nested Sequential or functional model
    passes on the one of its own first layer (as Keras 2's get_input_shape_and_dtype)."""
    while type(layer).__name__ == "Sequential" or getattr(layer, "_is_graph_network", False):
        inp = getattr(layer, "_input_layer", None)
        if inp is not None:
            return tuple(inp._batch_input_shape), inp.dtype
        if getattr(layer, "_is_graph_network", False) and layer.inputs and \
                len(layer.inputs) == 1:
            return tuple(layer.inputs[0].shape), layer.inputs[0].dtype
        if not layer.layers:
            return None, None
        layer = layer.layers[0]
    if layer._batch_input_shape is not None:
        return tuple(layer._batch_input_shape), layer.dtype
    loaded = layer.__dict__.get("_loaded_input_shape")   # see Sequential.from_config
    if loaded is not None:
        return loaded, layer.dtype
    return None, None


class Sequential(Model):
    """`Sequential([Dense(256, activation="relu", input_shape=(784,)), Dense(10)])`."""

    def __init__(self, layers=None, name=None, trainable=True, **kwargs):
        if name is None:
            from .. import backend
            name = backend.unique_object_name("sequential")
        super().__init__(name=name, trainable=trainable, **kwargs)
        d = self.__dict__
        d["_seq_layers"] = []
        d["_input_layer"] = None
        d["_layer_outputs"] = []
        d["_output_names"] = None
        d["_ancillary"] = []        # (layer, node): add_loss/add_metric subgraph, run per call
        if layers:
            if not isinstance(layers, (list, tuple)):
                layers = [layers]
            for layer in layers:
                self.add(layer)

    @property
    def layers(self):
        return list(self._seq_layers)

    def add(self, layer):
        if isinstance(layer, KerasTensor):  # Sequential.add(keras.Input(...))
            layer = layer._keras_history[0]
        if not isinstance(layer, Layer):
            raise TypeError(f"[{self.name}] the added layer must be an instance of class Layer; "
                            f"received {layer!r} of type {type(layer).__name__}")
        if isinstance(layer, InputLayer):
            if self._seq_layers or self._input_layer is not None:
                raise ValueError(f"[{self.name}] an InputLayer can only be added first")
            self.__dict__["_input_layer"] = layer
            self.built = False
            return
        # Keras 2 lets the same layer instance be added again (a shared block applied several
        # times, HOML ch. 12's `block1, block1, block1, block1`); only another layer with the
        # same name is refused
        names = {l.name for l in self._seq_layers if l is not layer}
        if layer.name in names:
            raise ValueError(f"[{self.name}] all layers added to a Sequential model should have "
                             f"unique names. Name {layer.name!r} is already the name of a layer "
                             "in this model. Update the `name` argument to pass a unique name.")
        if not self._seq_layers and self._input_layer is None:
            shape, dtype = _first_input_shape_and_dtype(layer)
            if shape is not None:
                self.__dict__["_input_layer"] = InputLayer(
                    batch_input_shape=shape, dtype=dtype, name=f"{layer.name}_input")
        self._seq_layers.append(layer)
        self._layers.append(layer)
        self.__dict__["_train_vars"] = None
        if self._input_layer is not None:
            if len(self._layer_outputs) == len(self._seq_layers) - 1:
                x = self._layer_outputs[-1] if self._layer_outputs else \
                    self._input_layer._output_tensor
                self._layer_outputs.append(layer(x))
                self._finish_graph()
            else:
                self._build_graph()

    def pop(self):
        if not self._seq_layers:
            raise TypeError(f"[{self.name}] there are no layers in the model")
        layer = self._seq_layers.pop()
        self._layers[:] = [l for l in self._layers if l is not layer]
        if self._layer_outputs:
            self._layer_outputs.pop()
        self.__dict__["_train_vars"] = None
        self._finish_graph()
        return layer

    def _finish_graph(self):
        d = self.__dict__
        if self._input_layer is not None and len(self._layer_outputs) == len(self._seq_layers):
            d["inputs"] = [self._input_layer._output_tensor]
            d["outputs"] = [self._layer_outputs[-1]] if self._layer_outputs else d["inputs"]
            d["_input_names"] = [self._input_layer.name]
            d["_output_names"] = [self._seq_layers[-1].name] if self._seq_layers else None
            d["built"] = bool(self._seq_layers)
            d["_build_input_shape"] = tuple(self._input_layer._batch_input_shape)

    def _build_graph(self):
        x = self._input_layer._output_tensor
        outs = []
        for layer in self._seq_layers:
            x = layer(x)
            outs.append(x)
        self.__dict__["_layer_outputs"] = outs
        self._finish_graph()

    def build(self, input_shape=None):
        if input_shape is None:
            if self._input_layer is None:
                raise ValueError(f"[{self.name}] you must provide an `input_shape` argument")
        else:
            shape = _shape_tuple(input_shape)
            if self._input_layer is None or \
                    tuple(self._input_layer._batch_input_shape) != tuple(shape):
                self.__dict__["_input_layer"] = InputLayer(batch_input_shape=shape,
                                                           name=(self._seq_layers[0].name + "_input"
                                                                 if self._seq_layers else None))
        self._build_graph()
        self.built = True

    def _build_from_input(self, x):
        """Deferred build on the first batch: an InputLayer with the data's shape (batch None)."""
        if self._input_layer is None:
            shape = (None,) + tuple(x.shape[1:])
            kind = getattr(x.dtype, "kind", "f")
            if kind in "OSU":  # text: a StringLookup/TextVectorization/Hashing first layer
                dtype = "string"
            elif kind in "iu" and not self._seq_layers[0]._casts_int_inputs():
                dtype = x.dtype
            else:
                dtype = "float32"
            self.__dict__["_input_layer"] = InputLayer(
                batch_input_shape=shape, dtype=dtype,
                name=(self._seq_layers[0].name + "_input") if self._seq_layers else None)
            self._build_graph()

    def __call__(self, inputs=None, *args, **kwargs):
        if self._input_layer is None and self._seq_layers and isinstance(inputs, KerasTensor):
            self._build_from_keras_tensor(inputs)
        return super().__call__(inputs, *args, **kwargs)

    def _build_from_keras_tensor(self, kt):
        """Keras 2 `_build_graph_network_for_inferred_shape`: a Sequential with no Input called
        on a symbolic tensor builds its graph on an Input of that tensor's shape and dtype, so
        its layers get their output shapes (summary, layer.output_shape). Should a layer
        refuse the symbolic input, the model stays deferred (built on its first data), as in
        Keras."""
        d = self.__dict__
        d["_input_layer"] = InputLayer(batch_input_shape=tuple(kt.shape), dtype=kt.dtype,
                                       name=self._seq_layers[0].name + "_input")
        try:
            self._build_graph()
        except Exception:
            d["_input_layer"] = None
            d["_layer_outputs"] = []

    def call(self, inputs, training=None, mask=None):
        if not self._seq_layers:
            raise ValueError(f"[{self.name}] the model has no layers")
        if not self.built and self._input_layer is None:
            import numpy as np
            arr = inputs._data if hasattr(inputs, "_data") else np.asarray(inputs)
            if hasattr(arr, "shape") and len(arr.shape) >= 1:
                from ..layers.base import _no_tape
                with _no_tape():
                    self._build_from_input(arr)
        return self._forward([inputs], training)[0]

    def _forward(self, xs, training):
        x = xs[0]
        kt = getattr(self._input_layer, "_output_tensor", None)
        if kt is not None:  # Keras 2: a (batch, steps) series fed to Input(shape=(None, 1))
            x = _conform_to_input(x, kt)
        if self._ancillary:
            return [self._forward_with_ancillary(x)]
        for layer in self._seq_layers:
            x = layer(x)
        return [x]

    # -- symbolic add_loss / add_metric (Keras 2: a Sequential with an Input is a graph network)
    def _graph_ready(self):
        return self._input_layer is not None and \
            len(self._layer_outputs) == len(self._seq_layers) > 0

    def add_loss(self, losses, inputs=None):
        """Keras 2: with an Input, a loss of the model's symbolic tensors (model.output, a
        layer's output) joins the model as an AddLoss layer, evaluated on every batch."""
        if _is_symbolic(losses):
            from .functional import AddLoss, _check_symbolic
            self._check_graph("add_loss")
            for v in flatten(losses):
                if v is not None:
                    _check_symbolic(self, v, "add_loss")
                    self._insert_ancillary(AddLoss(dtype=v.dtype)(v), "add_loss")
            return
        super().add_loss(losses, inputs)

    def add_metric(self, value, name=None, aggregation=None, **kwargs):
        """Keras 2: with an Input, a metric of the model's symbolic tensors (a Mean named
        `name`) joins the model as an AddMetric layer, updated on every batch."""
        if _is_symbolic(value):
            from .functional import AddMetric
            self._check_graph("add_metric")
            if name is None:
                raise ValueError(f"[{self.name}.add_metric] please provide a name for your "
                                 "metric (model.add_metric(tensor, name='...'))")
            if aggregation not in (None, "mean"):
                raise ValueError(f"[{self.name}.add_metric] aggregation must be None or "
                                 f"'mean', got {aggregation!r}")
            self._insert_ancillary(AddMetric(aggregation, name, dtype=value.dtype)(value),
                                   "add_metric")
            return
        super().add_metric(value, name=name, aggregation=aggregation, **kwargs)

    def _check_graph(self, what):
        if not self._graph_ready():
            raise ValueError(f"[{self.name}.{what}] a symbolic KerasTensor {what[4:]} needs a "
                             "functional model or a Sequential with an Input (keras.Sequential("
                             "[keras.Input(shape), ...])) to join its graph")

    def _insert_ancillary(self, tensor, what):
        """Keras 2 `Functional._insert_layers` for a Sequential: the layer calls computing
        `tensor` from the model's input and layer outputs run after the stack on every call
        (their weights are the model's; model.layers stays the stack)."""
        from .functional import new_nodes
        known = {id(self._input_layer._output_tensor)} | {id(t) for t in self._layer_outputs}
        new = new_nodes([tensor], known, {id(n) for _, n in self._ancillary},
                        f"{self.name}.{what}",
                        f"the model's input {self._input_layer._output_tensor!r}")
        for node in new:
            self._ancillary.append((node.layer, node))
            if not any(l is node.layer for l in self._layers):
                self._layers.append(node.layer)
        self.__dict__["_train_vars"] = None

    def _forward_with_ancillary(self, x):
        from .functional import _substitute
        vals = {id(self._input_layer._output_tensor): x}
        for layer, kt in zip(self._seq_layers, self._layer_outputs):
            x = layer(x)
            vals[id(kt)] = x
        for layer, node in self._ancillary:
            out = layer(_substitute(node.call_inputs, vals),
                        *_substitute(tuple(node.call_args), vals),
                        **_substitute(dict(node.call_kwargs), vals))
            for kt, o in zip(node.output_tensors, flatten(out)):
                vals[id(kt)] = o
        return x

    def get_config(self):
        from ..layers import serialize as ser_layer
        layers = []
        if self._input_layer is not None:
            layers.append(ser_layer(self._input_layer))
        layers.extend(ser_layer(l) for l in self._seq_layers)
        return {"name": self.name, "layers": layers}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from ..layers import deserialize as deser_layer
        if isinstance(config, list):  # very old Keras: a bare list of layers
            config = {"layers": config}
        model = cls(name=config.get("name"))
        shape = None
        for lc in config.get("layers", []):
            layer = deser_layer(lc, custom_objects=custom_objects)
            if isinstance(layer, InputLayer):
                shape = tuple(layer._batch_input_shape)
            elif shape is not None:
                # Keras 3 files carry the shape on the InputLayer only; the first layer keeps
                # it too, as a Keras 2 file's batch_input_shape does, so that
                # Sequential(loaded.layers[:-1]) is built at once (HOML's transfer learning)
                if layer._batch_input_shape is None:    # (not in its config: Keras 3's)
                    layer.__dict__["_loaded_input_shape"] = shape
                shape = None
            model.add(layer)
        if not model.built and config.get("build_input_shape"):
            model.build(config["build_input_shape"])
        return model

    @property
    def input_shape(self):
        if self._input_layer is not None:
            return tuple(self._input_layer._batch_input_shape)
        raise AttributeError(f"[{self.name}] the model has no defined input shape yet")

    @property
    def output_shape(self):
        if self._layer_outputs:
            return tuple(self._layer_outputs[-1].shape)
        raise AttributeError(f"[{self.name}] the model has no defined output shape yet")
