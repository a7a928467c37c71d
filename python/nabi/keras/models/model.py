"""`Model`: the Keras training API (compile / fit / evaluate / predict / *_on_batch / summary /
configs / weights / saving) shared by Sequential, functional and subclassed models.

The training step is deliberately lean: inputs are converted to contiguous float32 arrays once
per `fit`, each step runs the forward pass under one GradientTape, one `tape.gradient`, and one
fused optimizer call for all parameters; batch-level callback hooks run only when a callback
overrides them, and built-in metrics are computed on NumPy arrays.
"""
import functools
import inspect
import math
import time
import warnings

import numpy as np

from ...framework.tape import GradientTape
from ...framework import device as _dev
from ...framework.tensor import Tensor, _wrap
from ..layers.base import Layer, _CTX, _bump_tree, _tree_cache, flatten, _no_tape
from . import _compile_utils as cu

__all__ = ["Model"]


def _opt_module():
    from .. import optimizers
    return optimizers


_PREDICT_GROUP_BYTES = 64 << 20


def _flush_to_host(group, chunks):
    """Moves each output's pending device batches to the host as one array (concatenated on
    the device, then one copy) and empties the group."""
    for g, c in zip(group, chunks):
        if g:
            a = g[0] if len(g) == 1 else np.concatenate(g, axis=0)
            c.append(_dev.to_device(a, "cpu") if type(a) is _dev.DeviceArray else np.asarray(a))
            g.clear()


class _LossSum:
    """The sum over an epoch's steps of (batch loss) x (batch size), kept where the losses are
    (a GPU step returns a device scalar, so nothing waits for the GPU until value()). Steps of
    the epoch's usual batch size add their loss as it is -- one device add per step, no
    multiply -- and the total is scaled once when read; other sizes (the last, partial batch)
    add loss x size."""

    def __init__(self):
        self._n = None       # the usual batch size (the first step's)
        self._same = None    # sum of the losses of steps with that size
        self._other = None   # sum of loss x size of the other steps

    def add(self, loss, n):
        if self._n is None:
            self._n = n
        if n == self._n:
            self._same = loss if self._same is None else self._same + loss
        else:
            v = loss * n
            self._other = v if self._other is None else self._other + v

    def value(self):
        """The sum as a float (on the GPU: one read back)."""
        tot = None if self._same is None else self._same * self._n
        if self._other is not None:
            tot = self._other if tot is None else tot + self._other
        return 0.0 if tot is None else float(tot)


def _is_loss_callable(v):
    """A zero-argument loss function (not a tensor or symbolic tensor; those are callable
    only as layers are)."""
    from ..layers.base import KerasTensor
    return callable(v) and not isinstance(v, (Tensor, KerasTensor, Layer))


class _CompiledTrainableState:
    """Keras 2's RespectCompiledTrainableState: fit and train_on_batch run with each layer's
    `trainable` as it was when the model was compiled (then put back), so the GAN recipe
    works: discriminator.compile(); discriminator.trainable = False; gan.compile() -- the
    discriminator still trains in its own train_on_batch, and is frozen in gan's."""

    def __init__(self, model):
        self.model = model
        self.saved = None

    def __enter__(self):
        state = self.model.__dict__.get("_compiled_trainable_state")
        if state:
            self.saved = [(la, la._trainable) for la, _ in state]
            for la, v in state:
                la._trainable = v
        return self

    def __exit__(self, *exc):
        if self.saved:
            for la, v in self.saved:
                la._trainable = v
        return False


def _respect_compiled_trainable(method):
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        with _CompiledTrainableState(self):
            return method(self, *args, **kwargs)
    return wrapper


class Model(Layer):
    """Groups layers into an object with training and inference features."""

    _autocast = False

    def __new__(cls, *args, **kwargs):
        if cls is Model and (len(args) >= 2 or "inputs" in kwargs or "outputs" in kwargs or
                             (len(args) == 1 and "outputs" in kwargs)):
            from .functional import Functional
            return object.__new__(Functional)
        obj = object.__new__(cls)
        if cls is not Model:  # a subclassed model saves without get_config from its arguments
            from ..saving.subclassed import record_init_args
            record_init_args(obj, args, kwargs)
        return obj

    def __init__(self, *args, **kwargs):
        inputs = kwargs.pop("inputs", args[0] if len(args) > 0 else None)
        outputs = kwargs.pop("outputs", args[1] if len(args) > 1 else None)
        name = kwargs.pop("name", None)
        trainable = kwargs.pop("trainable", True)
        dtype = kwargs.pop("dtype", None)
        if name is None:
            from .. import backend
            from ..layers.base import to_snake_case
            cls = type(self)
            base = "model" if cls.__name__ in ("Model", "Functional") else \
                to_snake_case(cls.__name__)
            name = backend.unique_object_name(base)
        super().__init__(name=name, trainable=trainable, dtype=dtype,
                         **{k: v for k, v in kwargs.items()
                            if k in ("input_shape", "batch_input_shape", "input_dim")})
        self._init_model_state()
        if inputs is not None and outputs is not None:
            from .functional import Functional, _init_graph, functional_subclass
            if not isinstance(self, Functional):
                # class MyModel(keras.Model) built as MyModel(inputs, outputs) runs its graph,
                # as in Keras (which injects Functional into such a class's bases)
                self.__class__ = functional_subclass(type(self))
            _init_graph(self, inputs, outputs)

    def _init_model_state(self):
        d = self.__dict__
        d["optimizer"] = None
        d["compiled"] = False
        d["_compile_config"] = None
        d["_cstate"] = None
        d["history"] = None
        d["stop_training"] = False
        d["_train_vars"] = None
        d["_is_graph_network"] = False
        d["_run_eagerly"] = None
        d["_predict_counter"] = 0

    # ------------------------------------------------------------------ structure
    @property
    def layers(self):
        return list(self._layers)

    def get_layer(self, name=None, index=None):
        if index is not None:
            if len(self.layers) <= index:
                raise ValueError(f"[{self.name}] was asked to retrieve layer at index {index} but "
                                 f"the model only has {len(self.layers)} layers")
            return self.layers[index]
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise ValueError(f"[{self.name}] no such layer: {name}. Existing layers are: "
                         f"{[l.name for l in self.layers]}")

    def _graph_endpoint(self, nested_key, flat_key, what):
        """Keras's Functional.input / .output: the tensors the graph was built from, as given
        (a one-element list unwrapped, a dict kept). A model without a graph (subclassed, or
        a Sequential not built yet) falls back to the Layer rule (its first call)."""
        d = self.__dict__
        flat = d.get(flat_key)
        if flat:
            nested = d.get(nested_key)
            if nested is None:
                nested = list(flat)
            if isinstance(nested, (list, tuple)) and len(nested) == 1:
                return nested[0]
            return nested
        return getattr(Layer, what).fget(self)

    @property
    def input(self):
        return self._graph_endpoint("_nested_inputs", "inputs", "input")

    @property
    def output(self):
        return self._graph_endpoint("_nested_outputs", "outputs", "output")

    @property
    def input_names(self):
        return list(getattr(self, "_input_names", []) or [])

    @property
    def output_names(self):
        names = getattr(self, "_output_names", None)
        if names:
            return list(names)
        return ["output_1"] if self._cstate is None else list(self._cstate.output_names)

    @property
    def run_eagerly(self):
        """Keras 2's report: dynamic, set (compile / the setter), else the global
        tf.config.functions_run_eagerly(). Only reported: nabi's fit always runs eagerly."""
        from ... import config
        return bool(getattr(self, "dynamic", False) or self._run_eagerly
                    or (config.functions_run_eagerly() and self._run_eagerly is None))

    @run_eagerly.setter
    def run_eagerly(self, value):
        self.__dict__["_run_eagerly"] = value

    def _forward(self, xs, training):
        """Runs the model on a list of input Tensors; returns a list of output Tensors."""
        keys = self.__dict__.get("_dict_input_keys")
        x = dict(zip(keys, xs)) if keys and len(keys) == len(xs) else \
            xs[0] if len(xs) == 1 else list(xs)
        out = self(x, training=training)
        return flatten(out) if isinstance(out, (list, tuple, dict)) else [out]

    def _maybe_build(self, inputs):
        if self.built:
            return
        from ..layers.base import _shape_of, _as_tensor_shapes
        shapes = _shape_of(inputs)
        b = type(self).build
        if b is not Model.build and getattr(b, "__qualname__", "").split(".")[0] not in (
                "Sequential", "Functional"):
            self.build(_as_tensor_shapes(shapes))
        self._build_input_shape = shapes
        self.built = True

    def build(self, input_shape=None):
        if self._is_graph_network:
            self.built = True
            return
        if input_shape is None:
            raise ValueError(f"[{self.name}] build() needs an input_shape")
        from ..layers.base import KerasTensor, _dummy_for, _shape_tuple
        shapes = input_shape
        if isinstance(shapes, (list, tuple)) and shapes and isinstance(shapes[0], (list, tuple)):
            kts = [KerasTensor(_shape_tuple(s)) for s in shapes]
            dummy = [_dummy_for(k, 2, 1) for k in kts]
        else:
            kts = KerasTensor(_shape_tuple(shapes))
            dummy = _dummy_for(kts, 2 if kts.shape[0] is None else kts.shape[0], 1)
        self.__dict__["built"] = True
        with _no_tape():
            self(dummy, training=False)
        self._build_input_shape = input_shape
        self.built = True

    # ------------------------------------------------------------------ compile
    def compile(self, optimizer="rmsprop", loss=None, metrics=None, loss_weights=None,
                weighted_metrics=None, run_eagerly=None, steps_per_execution=None,
                jit_compile=None, auto_scale_loss=None, **kwargs):
        kwargs.pop("experimental_run_tf_function", None)
        kwargs.pop("sample_weight_mode", None)
        kwargs.pop("target_tensors", None)
        kwargs.pop("distribute", None)
        if kwargs:
            raise TypeError(f"[{self.name}.compile] invalid keyword arguments: {sorted(kwargs)}")
        opt = optimizer
        if opt is not None and not hasattr(opt, "apply_gradients"):
            opt = _opt_module().get(optimizer)
        self.optimizer = opt
        self.loss = loss
        self.run_eagerly = run_eagerly
        self._cstate = cu.CompileState(self, loss, metrics, loss_weights, weighted_metrics)
        self.compiled_loss = cu.LossesContainer(self._cstate)
        self.compiled_metrics = cu.MetricsContainer(self._cstate)
        self._compile_config = {
            "optimizer": cu.serialize_optimizer(opt),
            "loss": cu.serialize_loss(loss),
            "metrics": cu.serialize_metrics(metrics),
            "loss_weights": loss_weights,
            "weighted_metrics": cu.serialize_metrics(weighted_metrics),
            "run_eagerly": run_eagerly,
            "steps_per_execution": steps_per_execution,
            "jit_compile": jit_compile,
        }
        self.compiled = True
        self._train_vars = None
        self.__dict__["_compiled_trainable_state"] = [(la, la._trainable)
                                                      for la in self._flatten_layers()]
        self.stop_training = False

    @property
    def compile_config(self):
        return self._compile_config

    @property
    def is_compiled(self):
        return self.compiled

    def _assert_compiled(self, what):
        if not self.compiled or self._cstate is None:
            raise RuntimeError(f"[{self.name}] you must compile your model before {what}. "
                               "Call `model.compile(optimizer, loss)`.")

    @property
    def metrics(self):
        """As in Keras: the "loss" Mean (once a step has computed a loss) and, for several
        outputs, the "<output>_loss" Means, the compiled metrics, then the Metric objects set
        as attributes of the model or its layers."""
        out = []
        cs = self._cstate
        if cs is not None:
            self._keras3_step_metrics(cs)
            t = cs.loss_tracker_for_metrics()
            if t is not None:
                out.append(t)
                out.extend(cs.output_loss_trackers())
            out.extend(cs.all_trackers())
        for m in self._attribute_metrics():
            if not any(m is o for o in out):
                out.append(m)
        return out

    def _keras3_step_metrics(self, cs):
        """Keras 3 lists the "loss" Mean and the compiled metrics from compile() on; a user's
        train_step/test_step may loop over self.metrics before any compiled loss or metric
        was computed (`metric.update_state(loss)` / `(y, y_pred)`). Read there, the compiled
        metrics are resolved from the step's batch and the "loss" Mean is made."""
        batch = self.__dict__.get("_hook_step_batch")
        if batch is None or cs._loss_tracker is not None or cs._noted is not None or (
                cs.loss_arg is None and not cs.metrics_arg and not cs.weighted_metrics_arg):
            return
        xs, ys = batch
        if not cs.resolved and ys is not None:
            with _no_tape():
                cs.resolve_from(self._predict_step([x[:2] for x in xs]), ys, fuse=False)
        cs.loss_tracker()

    def _attribute_metrics(self):
        return list(_tree_cache(self, "metrics", self._walk_metrics))

    def add_loss(self, losses, inputs=None):
        """Keras 2: on a functional model, a loss built from its symbolic tensors (the VAE's
        KL term) becomes part of the graph and is evaluated on every batch. A zero-argument
        callable (`lambda: tf.reduce_mean(layer.kernel)`) given outside a call is kept and
        called whenever the losses are read: on every batch of fit/evaluate, from the current
        weights, inside the gradient tape (Keras 2 `_callable_losses`)."""
        from ..layers.base import _CTX, _is_symbolic
        items = list(losses) if isinstance(losses, (list, tuple)) else [losses]
        if _CTX.depth == 0 and any(_is_loss_callable(l) for l in items):
            self.__dict__.setdefault("_callable_losses", []).extend(
                l for l in items if _is_loss_callable(l))
            _bump_tree()  # _has_callable_losses is cached
            losses = [l for l in items if not _is_loss_callable(l)]
            if not losses:
                return
        if _is_symbolic(losses):
            if not self._is_graph_network:
                raise ValueError(f"[{self.name}.add_loss] a symbolic KerasTensor loss needs a "
                                 "functional model (keras.Model(inputs, outputs)); in a "
                                 "subclassed model call add_loss inside call()")
            from .functional import graph_add_loss
            graph_add_loss(self, losses)
            return
        super().add_loss(losses, inputs)

    def add_metric(self, value, name=None, aggregation=None, **kwargs):
        """Keras 2: on a functional model, a metric of its symbolic tensors becomes part of the
        graph (a Mean named `name`, updated on every batch and reported by fit/evaluate)."""
        from ..layers.base import _is_symbolic
        if _is_symbolic(value) and self._is_graph_network:
            from .functional import graph_add_metric
            graph_add_metric(self, value, name, aggregation)
            return
        super().add_metric(value, name=name, aggregation=aggregation, **kwargs)

    def _callable_loss_values(self):
        """The values of the callable losses of this model and the models inside it (Keras 2
        `_tag_callable`: None results are skipped, numbers become float32 tensors)."""
        out = []
        for layer in self._flatten_layers():
            for fn in layer.__dict__.get("_callable_losses", ()):
                v = fn()
                if v is None:
                    continue
                if not isinstance(v, Tensor):
                    v = _wrap(_dev.place(np.asarray(v, np.float32)))
                out.append(v)
        return out

    @property
    def losses(self):
        """The layers' losses, regularization losses and (Keras 2) the callable losses, called
        now."""
        out = super().losses
        if self._has_callable_losses():
            out.extend(self._callable_loss_values())
        return out

    def _has_callable_losses(self):
        return _tree_cache(self, "callable_losses", lambda: any(
            layer.__dict__.get("_callable_losses") for layer in self._flatten_layers()))

    def _added_metric_objects(self):
        """The Metric objects that layers' add_metric calls (Keras 2) created."""
        return list(_tree_cache(self, "added_metrics", self._walk_added_metrics))

    def _walk_added_metrics(self):
        out = []
        for layer in self._flatten_layers():
            for m in layer.__dict__.get("_added_metrics", {}).values():
                if m is not None and not any(m is o for o in out):
                    out.append(m)
        return out

    @property
    def metrics_names(self):
        cs = self._cstate
        if cs is None or type(self).metrics is not Model.metrics:
            return [m.name for m in self.metrics]
        # Keras 2: [] until fit/evaluate (or a custom step) has run (the containers unbuilt)
        names = cs.names() if cs.resolved or cs.loss_tracker_for_metrics() is not None else []
        return names + [m.name for m in self._attribute_metrics() if m.name not in names]

    def reset_metrics(self):
        cs = self._cstate
        ms = None
        if cs is not None:
            cs.reset()
            if type(self).metrics is Model.metrics and \
                    self.__dict__.get("_hook_step_batch") is None:
                # model.metrics is then cs's trackers, just reset, and the attribute metrics
                ms = self._attribute_metrics()
        for m in self.metrics if ms is None else ms:
            reset = getattr(m, "reset_state", None) or getattr(m, "reset_states", None)
            if reset is not None:
                reset()

    def get_metrics_result(self):
        """{name: result} of model.metrics, as Python numbers (Keras 2.11+)."""
        return _python_logs({m.name: m.result() for m in self.metrics}, self.name)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """The compiled loss of y_pred against y plus the model's losses, for a train_step
        override. It adds the loss to the "loss" Mean (model.metrics[0]), as Keras 2.11's does;
        a Keras 3 train_step that then calls `metric.update_state(loss)` on that Mean with the
        returned loss replaces this step's addition instead of counting it twice."""
        self._assert_compiled("computing its loss")
        total = self.compiled_loss(y, y_pred, sample_weight, regularization_losses=self.losses)
        lead = flatten(y_pred)[0] if y_pred is not None else None
        nd = getattr(lead, "ndim", None) if lead is not None else None
        n = int(lead.shape[0]) if nd else 1
        _note_keras3_loss(self._cstate.loss_tracker(), total, n)
        return total

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        """Updates the compiled metrics; returns get_metrics_result() (Keras 2.11+)."""
        self._assert_compiled("computing its metrics")
        self.compiled_metrics.update_state(y, y_pred, sample_weight)
        return self.get_metrics_result()

    # ------------------------------------------------------------------ steps
    def _ensure_built_for(self, xs):
        if not self.built or (not self._is_graph_network and type(self).__name__ != "Sequential"
                              and not self._has_weights_or_called()):
            xs_t = [_wrap(_dev.place(x)) for x in xs]
            with _no_tape():
                self._forward([x[:2] for x in xs_t], False)

    def _has_weights_or_called(self):
        return self.built

    def _collect_train_vars(self):
        tv = self.trainable_weights
        self._train_vars = tv
        return tv

    def _train_step(self, xs, ys, sw):
        """One optimisation step on NumPy batch arrays; returns the loss (a float, or on the GPU
        a device scalar, so that the step does not wait for the GPU)."""
        if self._on_gpu():  # the batch goes to the GPU once; integer x and y with their
            # (min, max) taken on the host (known_range: ids and labels are checked without a
            # read back)
            xs, ys, sw = _dev.to_gpu_all(xs, True), _dev.to_gpu_all(ys, True), _dev.to_gpu_all(sw)
        cs = self._cstate
        tv = self._train_vars
        if tv is None:
            tv = self._collect_train_vars()
        ctx = _CTX
        prev_training, prev_sink = ctx.training, ctx.loss_sink
        sink = []
        ctx.training = True
        ctx.loss_sink = sink
        ctx.call_id += 1
        ctx.depth += 1
        fused = cs.fused_layer
        if fused is not None:
            fused.__dict__["_emit_logits"] = True
        try:
            with GradientTape() as tape:
                preds = self._forward([_wrap(x) for x in xs], True)
                total = cs.compute_loss(ys, preds, sw, sink)
                # Keras 3: gradients of optimizer.scale_loss(loss); the optimizer unscales them
                scaled = self.optimizer.scale_loss(total) if _scales_loss(self.optimizer) \
                    else total
        finally:
            ctx.depth -= 1
            ctx.training, ctx.loss_sink = prev_training, prev_sink
            if fused is not None:
                fused.__dict__["_emit_logits"] = False
        grads = tape.gradient(scaled, tv)
        self.optimizer.apply_gradients(list(zip(grads, tv)))
        if cs.has_metrics:
            cs.update_metrics(ys, preds, sw)
        d = total._data
        return float(d) if type(d) is np.ndarray else d

    def _on_gpu(self):
        """Whether the model's weights (so its batches) live on the GPU; before the model has
        weights, the current device decides."""
        vs = self._train_vars if self._train_vars else self.weights
        if vs:
            return type(vs[0]._data) is not np.ndarray
        return _dev.current_device() == "cuda"

    def _test_step(self, xs, ys, sw):
        if self._on_gpu():
            xs, ys, sw = _dev.to_gpu_all(xs, True), _dev.to_gpu_all(ys, True), _dev.to_gpu_all(sw)
        cs = self._cstate
        ctx = _CTX
        prev_training, prev_sink = ctx.training, ctx.loss_sink
        sink = []
        ctx.training = False
        ctx.loss_sink = sink
        ctx.call_id += 1
        ctx.depth += 1
        fused = cs.fused_layer
        if fused is not None:
            fused.__dict__["_emit_logits"] = True
        try:
            with _no_tape():
                preds = self._forward([_wrap(x) for x in xs], False)
                total = cs.compute_loss(ys, preds, sw, sink)
        finally:
            ctx.depth -= 1
            ctx.training, ctx.loss_sink = prev_training, prev_sink
            if fused is not None:
                fused.__dict__["_emit_logits"] = False
        if cs.has_metrics:
            cs.update_metrics(ys, preds, sw)
        d = total._data
        return float(d) if type(d) is np.ndarray else d

    def _predict_step(self, xs, to_host=True):
        """The model's outputs for one batch: NumPy arrays, or with to_host=False the arrays
        where they were computed (GPU outputs stay on the GPU: nothing waits for it)."""
        if self._on_gpu():
            xs = _dev.to_gpu_all(xs, True)
        ctx = _CTX
        prev = ctx.training
        ctx.training = False
        ctx.call_id += 1
        ctx.depth += 1
        try:
            with _no_tape():
                outs = self._forward([_wrap(x) for x in xs], False)
        finally:
            ctx.depth -= 1
            ctx.training = prev
        if not to_host:
            return [o._data if isinstance(o, Tensor) else np.asarray(o) for o in outs]
        return [o.numpy() if isinstance(o, Tensor) else np.asarray(o) for o in outs]

    # ------------------------------------------------------------------ Keras step hooks
    # fit/evaluate/predict call these when a subclass overrides them (Keras's "customizing
    # what happens in fit"); otherwise they run the private steps above directly. The
    # defaults below are what such an override reaches through super().

    def train_step(self, data):
        """One optimisation step on a batch `x`, `(x, y)` or `(x, y, sample_weight)`;
        returns the logs: the running loss and metrics since they were last reset."""
        xs, ys, sw = self._hook_batch(data)
        loss = self._train_step(xs, ys, sw)
        return self._cstate.step_logs(loss, len(xs[0]))

    def test_step(self, data):
        """One evaluation step on a batch; returns the running loss and metrics."""
        xs, ys, sw = self._hook_batch(data)
        loss = self._test_step(xs, ys, sw)
        return self._cstate.step_logs(loss, len(xs[0]))

    def predict_step(self, data):
        """The model's outputs for a batch `x` (or `(x,)`, `(x, y)`, ...)."""
        from ..engine.data_adapter import unpack_batch
        x, _, _ = unpack_batch(data)
        return self(x, training=False)

    def _hook_batch(self, data):
        from ..engine import data_adapter as da
        self._assert_compiled("training or evaluating it")
        x, y, sw = da.unpack_batch(data)
        xs, ys, sw = self._adapter_batch(x, y, sw)
        da.build_from_arrays(self, xs)
        self._cstate.ensure_resolved_arrays(xs, ys)
        return xs, ys, sw

    def _overrides(self, hook):
        """Whether the model's class overrides Model.<hook> (train_step, ...); a model that
        overrides compute_loss or compute_metrics runs its train_step/test_step through them
        (Keras 2.11+ and Keras 3's default steps call both)."""
        if getattr(type(self), hook) is not getattr(Model, hook):
            return True
        return hook in ("train_step", "test_step") and any(
            getattr(type(self), h) is not getattr(Model, h)
            for h in ("compute_loss", "compute_metrics"))

    def _hook_fn(self, hook):
        """The step function fit/evaluate run for a hook: the user's, or the default step
        written with compute_loss/compute_metrics when only those are overridden."""
        if getattr(type(self), hook) is not getattr(Model, hook):
            return getattr(self, hook)
        return {"train_step": self._default_train_step_via_compute_loss,
                "test_step": self._default_test_step_via_compute_loss}.get(
                    hook, getattr(self, hook))

    def _call_compute_loss(self, x, y, y_pred, sample_weight, training):
        """self.compute_loss, passing `training` only to an override that takes it (Keras 3's
        _compute_loss)."""
        fn = self.compute_loss
        try:
            params = inspect.signature(fn).parameters
            takes_training = "training" in params or any(
                p.kind == p.VAR_KEYWORD for p in params.values())
        except (TypeError, ValueError):
            takes_training = False
        kw = {"x": x, "y": y, "y_pred": y_pred, "sample_weight": sample_weight}
        if takes_training:
            kw["training"] = training
        return fn(**kw)

    def _step_via_compute_loss(self, data, training):
        from ..engine.data_adapter import unpack_batch
        x, y, sw = unpack_batch(data)
        tracker = self._cstate.loss_tracker()
        tracker.__dict__["_keras3_pending"] = None
        if training:
            tv = self.trainable_variables
            with GradientTape() as tape:
                y_pred = self(x, training=True)
                loss = self._call_compute_loss(x, y, y_pred, sw, True)
                scaled = self.optimizer.scale_loss(loss) if _scales_loss(self.optimizer) \
                    else loss
            self.optimizer.apply(tape.gradient(scaled, tv), tv)
        else:
            y_pred = self(x, training=False)
            loss = self._call_compute_loss(x, y, y_pred, sw, False)
        lead = flatten(x)[0]
        _track_step_loss(tracker, loss, int(lead.shape[0]) if getattr(lead, "ndim", 0) else 1)
        return self.compute_metrics(x, y, y_pred, sample_weight=sw)

    def _default_train_step_via_compute_loss(self, data):
        """Keras 3's train_step: forward, self.compute_loss, optimizer.apply, the "loss" Mean
        (batch-size weighted), then self.compute_metrics's dict."""
        return self._step_via_compute_loss(data, True)

    def _default_test_step_via_compute_loss(self, data):
        return self._step_via_compute_loss(data, False)

    def _hook_data(self, xs, ys, sw):
        """A handler batch as Keras hands it to train_step/test_step/predict_step: x alone
        ((x,) when x is a list), (x, y) or (x, y, sample_weight), as Tensors on the model's
        device (the batch goes there once)."""
        gpu = self._on_gpu()

        def t(a):
            return _wrap(_dev.to_gpu_all(a, True) if gpu else a)
        x = [t(a) for a in xs]
        x = x[0] if len(x) == 1 else x
        if ys is None and sw is None:
            return (x,) if isinstance(x, list) else x
        y = None
        if ys is not None:
            y = [t(a) for a in ys]
            y = y[0] if len(y) == 1 else y
        if isinstance(sw, list):      # one per output
            return x, y, [None if w is None else t(w) for w in sw]
        return (x, y) if sw is None else (x, y, t(sw))

    def _run_hook_steps(self, hook, handler, cblist, prefix, begin, end, stop):
        """An epoch of a user's train_step/test_step: returns (steps run, the last step's
        logs as Python numbers). Batch callbacks get the step's logs when they read them."""
        fn = self._hook_fn(hook)
        raw, step = None, -1
        for step, (xs, ys, sw, _) in handler.enumerate_epoch():
            if begin:
                getattr(cblist, prefix + "_begin")(step)
            self.__dict__["_hook_step_batch"] = (xs, ys)
            try:
                raw = fn(self._hook_data(xs, ys, sw))
            finally:
                self.__dict__["_hook_step_batch"] = None
            if raw is not None and not isinstance(raw, dict):
                raise TypeError(f"[{self.name}.{hook}] must return a dict of logs (metric name "
                                f"-> value), got {type(raw).__name__}")
            if end:
                name = prefix + "_end"
                getattr(cblist, name)(step, _python_logs(raw, self.name)
                                      if cblist.wants_batch_logs(name, step) else None)
            if stop and self.stop_training:
                break
        return step + 1, _python_logs(raw, self.name)

    def _adapter_batch(self, x, y, sw):
        from ..engine import data_adapter as da
        xs = da.standardize_x(self, x)
        ys = da.standardize_y(self, y)
        if ys is not None:
            ys = self._cstate.prepare_targets(ys)
        return xs, ys, da.standardize_sample_weight(self, sw)

    # ------------------------------------------------------------------ fit
    @_respect_compiled_trainable
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, class_weight=None,
            sample_weight=None, initial_epoch=0, steps_per_epoch=None, validation_steps=None,
            validation_batch_size=None, validation_freq=1, max_queue_size=10, workers=1,
            use_multiprocessing=False, **kwargs):
        from ..engine import data_adapter as da
        from .. import callbacks as cbm
        self._assert_compiled("training it")
        if kwargs.pop("nb_epoch", None) is not None:
            epochs = kwargs.pop("nb_epoch")
        # Keras 3 notebooks pass steps_per_execution here too; nabi runs one step per call
        kwargs.pop("steps_per_execution", None)
        if kwargs:
            raise TypeError(f"[{self.name}.fit] invalid keyword arguments: {sorted(kwargs)}")
        verbose = _resolve_verbose(verbose)
        val_data = validation_data
        if validation_split and validation_data is None:
            (x, y, sample_weight), val_data = da.train_validation_split(
                (x, y, sample_weight), validation_split)
        handler = da.DataHandler(self, x, y, sample_weight=sample_weight, batch_size=batch_size,
                                 steps_per_epoch=steps_per_epoch, shuffle=shuffle,
                                 class_weight=class_weight, training=True)
        val_handler = None
        if val_data is not None:
            vx, vy, vsw = da.unpack_validation_data(val_data)
            val_handler = da.DataHandler(self, vx, vy, sample_weight=vsw,
                                         batch_size=validation_batch_size or batch_size,
                                         steps_per_epoch=validation_steps, shuffle=False,
                                         training=False)
        cs = self._cstate
        hook = self._overrides("train_step")
        if not hook:  # a user's train_step builds and resolves what it uses itself
            handler.ensure_model_built()
            cs.ensure_resolved(handler)
            if self._train_vars is None:
                self._collect_train_vars()

        cblist = cbm.CallbackList(callbacks, add_history=True, add_progbar=verbose != 0,
                                  model=self, verbose=verbose, epochs=epochs,
                                  steps=handler.steps)
        self.stop_training = False
        train_step = self._train_step
        batch_begin = cblist.has_batch_hook("on_train_batch_begin")
        batch_end = cblist.has_batch_hook("on_train_batch_end")
        cblist.on_train_begin()
        resume = self.__dict__.pop("_initial_epoch", None)  # set by BackupAndRestore
        if resume is not None:
            initial_epoch = resume
        logs = {}
        for epoch in range(initial_epoch, epochs):
            self.reset_metrics()
            cblist.on_epoch_begin(epoch)
            if hook:
                ran, logs = self._run_hook_steps("train_step", handler, cblist,
                                                 "on_train_batch", batch_begin, batch_end, True)
            else:
                logs = self._fit_epoch(handler, cblist, train_step, batch_begin, batch_end)
                ran = logs is not None
            if not ran or handler.ran_out:
                # As Keras: one warning; an epoch that ran out part-way still ends (its
                # callbacks and validation run); an epoch with no data at all stops at once.
                steps = handler.steps
                need = f" (in this case, {steps * epochs} batches)" if steps else ""
                warnings.warn(f"[{self.name}.fit] your input ran out of data; interrupting "
                              "training. Make sure that your dataset or generator can generate "
                              f"at least `steps_per_epoch * epochs` batches{need}. You may "
                              "need to use the repeat() function when building your dataset.",
                              stacklevel=2)
                self.stop_training = True
                if not ran:
                    break
            if val_handler is not None and _should_validate(epoch, validation_freq):
                # Keras fires the test hooks (on_test_begin/end, on_test_batch_*) here too.
                cblist.on_test_begin()
                val_logs = self._evaluate_handler(val_handler, cblist=cblist)
                cblist.on_test_end(val_logs)
                for k, v in val_logs.items():
                    logs["val_" + k] = v
            cblist.on_epoch_end(epoch, logs)
            if self.stop_training:
                break
        if epochs > 0:
            self._finalize_optimizer()
        cblist.on_train_end(logs)
        return self.history

    def _finalize_optimizer(self):
        """Keras's `fit` ends with `optimizer.finalize_variable_values(trainable_variables)`:
        an optimizer with `use_ema` overwrites the weights with their moving averages (before
        `on_train_end`, so EarlyStopping's restore still wins). Variables the optimizer never
        updated (no gradient) hold no average and keep their values, as their Keras averages
        would equal them."""
        opt = self.optimizer
        if not getattr(opt, "use_ema", False):
            return
        fin = getattr(opt, "finalize_variable_values", None)
        if fin is None:
            return
        tv = self.trainable_weights
        known = getattr(opt, "_var_index", None)
        if known is not None:
            tv = [v for v in tv if id(v) in known]
        fin(tv)

    def _fit_epoch(self, handler, cblist, train_step, batch_begin, batch_end):
        """An epoch of the built-in steps; its logs, or None when the input ran out."""
        cs = self._cstate
        tot = _LossSum()
        cnt = 0
        step = -1
        for step, (xs, ys, sw, n) in handler.enumerate_epoch():
            if batch_begin:
                cblist.on_train_batch_begin(step)
            lv = train_step(xs, ys, sw)
            tot.add(lv, n)
            cnt += n
            if batch_end:
                # Reading the running loss and metrics waits for the GPU, so they are read
                # only for a step whose logs some callback will look at (a progress bar
                # reads them only when it redraws, at most every 0.05 s).
                cblist.on_train_batch_end(
                    step, cs.logs(tot.value() / cnt)
                    if cblist.wants_batch_logs("on_train_batch_end", step) else None)
            if self.stop_training:
                break
        if step < 0:
            return None  # fit warns and stops
        loss = tot.value() / cnt if cnt else float("nan")
        cs.note_epoch_loss(loss, cnt)
        return cs.logs(loss)

    # ------------------------------------------------------------------ evaluate
    def _evaluate_handler(self, handler, cblist=None):
        cs = self._cstate
        if self._overrides("test_step"):
            self.reset_metrics()
            hooks = cblist is not None
            begin = hooks and cblist.has_batch_hook("on_test_batch_begin")
            end = hooks and cblist.has_batch_hook("on_test_batch_end")
            return self._run_hook_steps("test_step", handler, cblist, "on_test_batch", begin,
                                        end, False)[1]
        handler.ensure_model_built()
        cs.ensure_resolved(handler)
        cs.reset()
        test_step = self._test_step
        tot = _LossSum()
        cnt = 0
        hooks = cblist is not None and (cblist.has_batch_hook("on_test_batch_begin") or
                                        cblist.has_batch_hook("on_test_batch_end"))
        for step, (xs, ys, sw, n) in handler.enumerate_epoch():
            if hooks:
                cblist.on_test_batch_begin(step)
            lv = test_step(xs, ys, sw)
            tot.add(lv, n)
            cnt += n
            if hooks:
                cblist.on_test_batch_end(step, cs.logs(tot.value() / cnt)
                                         if cblist.wants_batch_logs("on_test_batch_end", step)
                                         else None)
        if not cnt:   # Keras 2 raises too ("Unexpected result of test_function (Empty logs)")
            raise ValueError(f"[{self.name}.evaluate] no data to evaluate on (empty input)")
        loss = tot.value() / cnt
        cs.note_epoch_loss(loss, cnt)
        return cs.logs(loss)

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None,
                 steps=None, callbacks=None, max_queue_size=10, workers=1,
                 use_multiprocessing=False, return_dict=False, **kwargs):
        from ..engine import data_adapter as da
        from .. import callbacks as cbm
        self._assert_compiled("evaluating it")
        verbose = _resolve_verbose(verbose)
        handler = da.DataHandler(self, x, y, sample_weight=sample_weight, batch_size=batch_size,
                                 steps_per_epoch=steps, shuffle=False, training=False)
        cblist = cbm.CallbackList(callbacks, add_history=False, add_progbar=verbose != 0,
                                  model=self, verbose=verbose, epochs=1, steps=handler.steps)
        cblist.on_test_begin()
        logs = self._evaluate_handler(handler, cblist)
        self._warn_ran_out(handler, "evaluate")
        cblist.on_test_end(logs)
        if return_dict:
            return dict(logs)
        return self._logs_in_order(logs)

    def _logs_in_order(self, logs):
        """Keras's flatten_metrics_in_order: metrics_names first, then the other keys sorted;
        a single value alone."""
        names = self.metrics_names
        vals = [logs[k] for k in names if k in logs]
        vals += [logs[k] for k in sorted(logs) if k not in names]
        return vals[0] if len(vals) == 1 else vals

    # ------------------------------------------------------------------ predict
    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None,
                max_queue_size=10, workers=1, use_multiprocessing=False):
        from ..engine import data_adapter as da
        from .. import callbacks as cbm
        verbose = _resolve_verbose(verbose)
        handler = da.DataHandler(self, x, None, batch_size=batch_size, steps_per_epoch=steps,
                                 shuffle=False, training=False)
        cblist = cbm.CallbackList(callbacks, add_history=False, add_progbar=verbose != 0,
                                  model=self, verbose=verbose, epochs=1, steps=handler.steps)
        hooks = cblist.has_batch_hook("on_predict_batch_begin") or \
            cblist.has_batch_hook("on_predict_batch_end")
        if self._overrides("predict_step"):
            out = self._predict_hook(handler, cblist, hooks)
            self._warn_ran_out(handler, "predict")
            return out
        handler.ensure_model_built()
        cblist.on_predict_begin()
        chunks = None
        step_fn = self._predict_step
        # On the GPU without batch callbacks, outputs stay on the device and are copied back
        # in groups of up to _PREDICT_GROUP_BYTES (one read, so one wait for the GPU, per
        # group instead of per batch).
        keep = self._on_gpu() and not hooks
        group, group_bytes = None, 0
        for step, (xs, _, _, n) in handler.enumerate_epoch():
            if hooks:
                cblist.on_predict_batch_begin(step)
            outs = step_fn(xs, to_host=not keep)
            if chunks is None:
                chunks = [[] for _ in outs]
                group = [[] for _ in outs]
            if keep:
                for g, o in zip(group, outs):
                    g.append(o)
                group_bytes += sum(o.size * o.dtype.itemsize for o in outs)
                if group_bytes >= _PREDICT_GROUP_BYTES:
                    _flush_to_host(group, chunks)
                    group_bytes = 0
                continue
            for c, o in zip(chunks, outs):
                c.append(o)
            if hooks:
                cblist.on_predict_batch_end(step, {"outputs": outs if len(outs) > 1 else outs[0]})
        if keep and chunks is not None:
            _flush_to_host(group, chunks)
        cblist.on_predict_end()
        if chunks is None:
            raise ValueError(f"[{self.name}.predict] no data to predict on (empty input)")
        results = [c[0] if len(c) == 1 else np.concatenate(c, axis=0) for c in chunks]
        self._warn_ran_out(handler, "predict")
        return self._pack_outputs(results)

    def _warn_ran_out(self, handler, method):
        if handler.ran_out:
            warnings.warn(f"[{self.name}.{method}] your input ran out of data before "
                          f"`steps`={handler.steps} batches", stacklevel=3)

    def _predict_hook(self, handler, cblist, hooks):
        """predict through a user's predict_step: its outputs (a Tensor or a list, tuple or
        dict of them) per batch, to NumPy, concatenated along the batch axis."""
        cblist.on_predict_begin()
        chunks, struct = None, None
        for step, (xs, _, _, _) in handler.enumerate_epoch():
            if hooks:
                cblist.on_predict_batch_begin(step)
            out = self.predict_step(self._hook_data(xs, None, None))
            keys = list(out) if isinstance(out, dict) else None
            leaves = [out[k] for k in keys] if keys is not None else \
                list(out) if isinstance(out, (list, tuple)) else [out]
            leaves = [o.numpy() if isinstance(o, Tensor) else _dev.asarray(o) for o in leaves]
            if chunks is None:
                chunks = [[] for _ in leaves]
                struct = (type(out), keys)
            elif len(leaves) != len(chunks):
                raise ValueError(f"[{self.name}.predict_step] returned {len(leaves)} outputs "
                                 f"for batch {step} but {len(chunks)} before")
            for c, o in zip(chunks, leaves):
                c.append(o)
            if hooks:
                cblist.on_predict_batch_end(step, {"outputs": out})
        cblist.on_predict_end()
        if chunks is None:
            raise ValueError(f"[{self.name}.predict] no data to predict on (empty input)")
        res = [c[0] if len(c) == 1 else np.concatenate(c, axis=0) for c in chunks]
        kind, keys = struct
        if keys is not None:
            return dict(zip(keys, res))
        if issubclass(kind, (list, tuple)):
            return list(res) if issubclass(kind, list) else tuple(res)
        return res[0]

    def _pack_outputs(self, results):
        if getattr(self, "_dict_outputs", False) and \
                len(results) == len(self._output_names):
            return dict(zip(self._output_names, results))  # Keras: outputs={...} predicts a dict
        if len(results) == 1 and not getattr(self, "_outputs_are_list", False):
            return results[0]
        return results

    def predict_on_batch(self, x):
        from ..engine import data_adapter as da
        if self._overrides("predict_step"):
            out = self.predict_step(x)
            if isinstance(out, dict):
                return {k: v.numpy() if isinstance(v, Tensor) else v for k, v in out.items()}
            if isinstance(out, (list, tuple)):
                return type(out)(v.numpy() if isinstance(v, Tensor) else v for v in out)
            return out.numpy() if isinstance(out, Tensor) else out
        xs = da.standardize_x(self, x)
        da.build_from_arrays(self, xs)
        return self._pack_outputs(self._predict_step(xs))

    @_respect_compiled_trainable
    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None,
                       reset_metrics=True, return_dict=False):
        from ..engine import data_adapter as da
        self._assert_compiled("training it")
        xs, ys, sw = self._adapter_batch(x, y, sample_weight)
        if class_weight is not None:
            sw = da.apply_class_weight(ys, sw, class_weight)
        if self._overrides("train_step"):
            return self._hook_on_batch("train_step", xs, ys, sw, reset_metrics, return_dict)
        da.build_from_arrays(self, xs)
        self._cstate.ensure_resolved_arrays(xs, ys)
        if reset_metrics:
            self._cstate.reset()
        loss = self._train_step(xs, ys, sw)
        return self._format_batch_result(loss, len(xs[0]), return_dict)

    def test_on_batch(self, x, y=None, sample_weight=None, reset_metrics=True,
                      return_dict=False):
        from ..engine import data_adapter as da
        self._assert_compiled("evaluating it")
        xs, ys, sw = self._adapter_batch(x, y, sample_weight)
        if self._overrides("test_step"):
            return self._hook_on_batch("test_step", xs, ys, sw, reset_metrics, return_dict)
        da.build_from_arrays(self, xs)
        self._cstate.ensure_resolved_arrays(xs, ys)
        if reset_metrics:
            self._cstate.reset()
        loss = self._test_step(xs, ys, sw)
        return self._format_batch_result(loss, len(xs[0]), return_dict)

    def _hook_on_batch(self, hook, xs, ys, sw, reset_metrics, return_dict):
        if reset_metrics:
            self.reset_metrics()
        raw = self._hook_fn(hook)(self._hook_data(xs, ys, sw))
        if raw is not None and not isinstance(raw, dict):
            raise TypeError(f"[{self.name}.{hook}] must return a dict of logs (metric name "
                            f"-> value), got {type(raw).__name__}")
        logs = _python_logs(raw, self.name)
        return logs if return_dict else self._logs_in_order(logs)

    def _format_batch_result(self, loss, n, return_dict):
        # Keras: the running "loss" Mean since the metrics were last reset (model.metrics and
        # get_metrics_result() then hold it too)
        logs = self._cstate.logs(self._cstate.note_batch_loss(float(loss), n))
        if return_dict:
            return logs
        vals = [logs[k] for k in self._cstate.names()]
        return vals[0] if len(vals) == 1 else vals

    # Keras 1/2 generator aliases
    def fit_generator(self, generator, steps_per_epoch=None, epochs=1, verbose=1, callbacks=None,
                      validation_data=None, validation_steps=None, validation_freq=1,
                      class_weight=None, max_queue_size=10, workers=1,
                      use_multiprocessing=False, shuffle=True, initial_epoch=0):
        return self.fit(generator, steps_per_epoch=steps_per_epoch, epochs=epochs,
                        verbose=verbose, callbacks=callbacks, validation_data=validation_data,
                        validation_steps=validation_steps, validation_freq=validation_freq,
                        class_weight=class_weight, shuffle=shuffle, initial_epoch=initial_epoch)

    def evaluate_generator(self, generator, steps=None, verbose=0, **kwargs):
        return self.evaluate(generator, steps=steps, verbose=verbose)

    def predict_generator(self, generator, steps=None, verbose=0, **kwargs):
        return self.predict(generator, steps=steps, verbose=verbose)

    # ------------------------------------------------------------------ states
    def reset_states(self):
        """Resets the state of every stateful layer (harmless on stateless ones)."""
        for layer in self._flatten_layers(include_self=False):
            if isinstance(layer, Model):
                continue  # nested models are reached through their own layers
            fn = getattr(layer, "reset_states", None)
            if callable(fn):
                fn()

    reset_state = reset_states

    # ------------------------------------------------------------------ summary
    def summary(self, line_length=None, positions=None, print_fn=None, expand_nested=False,
                show_trainable=False, layer_range=None):
        from . import _summary
        _summary.print_summary(self, line_length=line_length, positions=positions,
                               print_fn=print_fn, expand_nested=expand_nested,
                               show_trainable=show_trainable)

    # ------------------------------------------------------------------ config / saving
    def get_config(self):
        if self._is_graph_network:
            from .functional import get_network_config
            return get_network_config(self)
        config = {"name": self.name, "trainable": self.trainable}
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        if "layers" in config and ("input_layers" in config or "output_layers" in config):
            from .functional import functional_from_config
            return functional_from_config(cls, config, custom_objects)
        try:
            return cls(**config)
        except TypeError as e:
            raise TypeError(f"[{cls.__name__}.from_config] subclassed models must implement "
                            f"get_config/from_config to be rebuilt from a config: {e}") from None

    def to_json(self, **kwargs):
        import json
        from ... import __version__
        return json.dumps({"class_name": type(self).__name__ if type(self).__name__ != "Model"
                           else "Functional", "config": self.get_config(),
                           "keras_version": "2.15.0", "backend": "nabi",
                           "nabi_version": __version__}, default=_json_default, **kwargs)

    def to_yaml(self, **kwargs):
        raise RuntimeError("Method `model.to_yaml()` has been removed (as in Keras) for security; "
                           "use `model.to_json()` instead.")

    def save(self, filepath, overwrite=True, save_format=None, **kwargs):
        from .. import saving
        return saving.save_model(self, filepath, overwrite=overwrite, save_format=save_format,
                                 **kwargs)

    def export(self, filepath, format="tf_saved_model", verbose=None, input_signature=None,
               **kwargs):
        """Keras 3: an inference artifact in the directory `filepath`; `tf.saved_model.load`
        gives back an object whose `serve(inputs)` runs the model in inference mode (nabi
        writes the model itself into the directory: it has no TensorFlow graphs)."""
        from ... import saved_model
        if format != "tf_saved_model":
            raise ValueError(f"[{self.name}.export] unsupported format {format!r}; nabi "
                             "exports format='tf_saved_model' only")
        saved_model.save(self, filepath)
        saved_model._mark_export(filepath)
        if verbose:
            print(f"Saved artifact at '{filepath}'. Endpoint: serve (the model's call in "
                  "inference mode)")

    def save_weights(self, filepath, overwrite=True, save_format=None, **kwargs):
        from .. import saving
        return saving.save_weights(self, filepath, overwrite=overwrite, save_format=save_format,
                                   **kwargs)

    def load_weights(self, filepath, skip_mismatch=False, by_name=False, **kwargs):
        from .. import saving
        return saving.load_weights(self, filepath, skip_mismatch=skip_mismatch, by_name=by_name,
                                   **kwargs)

    def __reduce__(self):
        raise TypeError("nabi models cannot be pickled; use model.save(...) instead")


def _scales_loss(opt):
    """Whether a train step takes gradients of `opt.scale_loss(loss)` (Keras 3: a
    LossScaleOptimizer, or an optimizer with loss_scale_factor; `apply` unscales them)."""
    return type(opt).__name__ == "LossScaleOptimizer" or \
        getattr(opt, "loss_scale_factor", None) is not None


def _track_step_loss(tracker, loss, n):
    """The default step's "loss" Mean update (the step's loss weighted by the batch size); an
    addition that Model.compute_loss made during the step is taken back first."""
    from ..metrics import _acc
    d = tracker.__dict__
    pending = d.get("_keras3_pending")
    if pending is not None:
        d["_keras3_pending"] = None
        dv = pending[0]._data
        _acc(tracker.total, -(dv * np.float32(pending[1])) if pending[1] != 1 else -dv)
        tracker.count._data -= pending[1]
    dl = (loss if isinstance(loss, Tensor) else _wrap(np.asarray(loss, np.float32)))._data
    _acc(tracker.total, dl * np.float32(n) if n != 1 else dl)
    tracker.count._data += n


def _note_keras3_loss(tracker, total, n):
    """Remembers compute_loss's addition (total * n, count n) to the "loss" Mean; if the
    train_step then updates that Mean with the same loss tensor (Keras 3's loop over
    self.metrics), the addition is taken back first, so the Mean holds Keras 3's value."""
    d = tracker.__dict__
    if "_keras3_pending" not in d:
        plain_update = type(tracker).update_state

        def update_state(values, sample_weight=None):
            pending, d["_keras3_pending"] = d["_keras3_pending"], None
            if pending is not None and values is pending[0]:
                from ..metrics import _acc
                dv = pending[0]._data
                _acc(tracker.total, -(dv * np.float32(pending[1])) if pending[1] != 1 else -dv)
                tracker.count._data -= pending[1]
            return plain_update(tracker, values, sample_weight)
        d["update_state"] = update_state
    d["_keras3_pending"] = (total, n)


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, tuple):
        return list(o)
    raise TypeError(f"Object of type {type(o).__name__} is not JSON serializable")


def _python_logs(logs, who):
    """A step's logs as Keras hands them to callbacks: scalars as Python numbers, arrays as
    NumPy; nested dicts (a metric whose result is a dict) are flattened."""
    out = {}
    for k, v in (logs or {}).items():
        if isinstance(v, dict):
            out.update(_python_logs(v, who))
            continue
        if isinstance(v, Tensor):
            v = v.numpy()
        elif type(v) is _dev.DeviceArray:
            v = _dev.to_device(v, "cpu")
        if isinstance(v, (np.ndarray, np.generic)):
            v = v.item() if v.ndim == 0 else v
        out[k] = v
    return out


def _resolve_verbose(verbose):
    if verbose == "auto":
        return 1
    return int(verbose)


def _should_validate(epoch, freq):
    if isinstance(freq, int):
        return (epoch + 1) % freq == 0
    return (epoch + 1) in freq


_unused = (math, time)
