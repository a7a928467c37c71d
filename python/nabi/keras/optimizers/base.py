"""`Optimizer`: the Keras 3 optimizer base class over nabi's fused C++ update kernels.

The base class owns the learning rate (a float kept in a non-trainable Variable, a
`LearningRateSchedule`, or any callable), `iterations`, gradient clipping (`clipnorm`,
`clipvalue`, `global_clipnorm`), decoupled weight decay (Keras 3: `p -= p * wd * lr` before the
update), variable constraints (applied after it), state slots and their saving, and the
exponential moving average of the weights (`use_ema`, `ema_momentum`,
`ema_overwrite_frequency`, `finalize_variable_values`), Keras 3's rule: the first update copies
the variables into the averages, later ones follow `a = m a + (1 - m) p` (every built variable),
and the averages are saved with the slots (after iteration/learning_rate, before the gradient
accumulators and the subclass's slots, as Keras creates them).

A subclass declares its hyperparameters and its slots (`_slot_names`, `_slot_groups`,
`_uses_slot`, `_slot_initial`: `build` creates them) and implements
`_update(params, grads, slots, lr, t)`, which
makes ONE fused kernel call for all parameters: `params`/`grads` are lists of C-contiguous
arrays, `slots` a tuple with one list of state arrays per slot name (in `_slot_names` order;
None for a slot the configuration does not use), `lr` a float, `t` the 1-based step.

`apply_gradients` is the hot path of every training step: the per-variable lists of parameter
and slot arrays are cached under the tuple of variable ids, so a step costs a dictionary
lookup, one dtype/contiguity check per gradient, and the kernel call.
"""
import inspect
import math
import re

import numpy as np

from ...framework.device import DeviceArray, host_scope, to_device, asarray as _asarray

from ...framework.tensor import Tensor, Variable, _wrap
from ...framework.tape import GradientTape
from . import _kernels

__all__ = ["Optimizer"]

# the base-class constructor arguments every optimizer's own signature repeats (Keras API)
_BASE_ARGS = ("learning_rate", "weight_decay", "clipnorm", "clipvalue", "global_clipnorm",
              "use_ema", "ema_momentum", "ema_overwrite_frequency", "loss_scale_factor",
              "gradient_accumulation_steps", "name")


def _base_args(args):
    """The keyword arguments for `Optimizer.__init__` out of a subclass constructor's `locals()`:
    the common Keras arguments and the subclass's own `**kwargs`."""
    out = {k: args[k] for k in _BASE_ARGS}
    out.update(args.get("kwargs", ()))
    return out


def _np_float(v):
    if isinstance(v, Tensor):
        return float(v._data)
    return float(v)


class Optimizer:
    """Base class of the Keras optimizers (Keras 3 semantics)."""

    _slot_names = ()          # state slots, in the order `_update` receives them
    _hyper_names = ()         # constructor arguments that get_config reports
    _slot_keras_names = {}    # slot -> the name Keras gives its variables, where they differ
    _slot_groups = None       # creation (Keras) order: groups of slot names, each interleaved
    #                           per variable, one group after another; None: all in one group

    def __init__(self, learning_rate=0.001, weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, use_ema=False, ema_momentum=0.99,
                 ema_overwrite_frequency=None, loss_scale_factor=None,
                 gradient_accumulation_steps=None, name=None, **kwargs):
        if "lr" in kwargs:                       # Keras 1/2 alias
            learning_rate = kwargs.pop("lr")
        decay = kwargs.pop("decay", 0.0) or 0.0  # Keras 2 legacy: lr / (1 + decay * step)
        for legacy in ("jit_compile", "is_legacy_optimizer", "mesh"):
            kwargs.pop(legacy, None)
        if kwargs:
            raise TypeError(f"[{type(self).__name__}] unexpected keyword argument(s): "
                            f"{', '.join(sorted(kwargs))}")
        n_clip = sum(c is not None for c in (clipnorm, clipvalue, global_clipnorm))
        if n_clip > 1:
            raise ValueError(f"[{type(self).__name__}] only one of clipnorm, clipvalue and "
                             f"global_clipnorm can be set; got clipnorm={clipnorm}, "
                             f"clipvalue={clipvalue}, global_clipnorm={global_clipnorm}")
        for nm, val in (("clipnorm", clipnorm), ("clipvalue", clipvalue),
                        ("global_clipnorm", global_clipnorm)):
            if val is not None and not float(val) > 0:
                raise ValueError(f"[{type(self).__name__}] {nm} must be > 0, got {val}")
        self.name = name or getattr(type(self), "_default_name", type(self).__name__.lower())
        self.weight_decay = None if weight_decay is None else float(weight_decay)
        self.clipnorm = None if clipnorm is None else float(clipnorm)
        self.clipvalue = None if clipvalue is None else float(clipvalue)
        self.global_clipnorm = None if global_clipnorm is None else float(global_clipnorm)
        self.use_ema = bool(use_ema)
        if self.use_ema:        # Keras checks these only when EMA is on
            m = _np_float(ema_momentum)
            if not 0.0 <= m <= 1.0:
                raise ValueError(f"[{type(self).__name__}] `ema_momentum` must be in the range "
                                 f"[0, 1]. Received: ema_momentum={ema_momentum}")
            if ema_overwrite_frequency and (
                    isinstance(ema_overwrite_frequency, bool) or
                    not isinstance(ema_overwrite_frequency, (int, np.integer)) or
                    ema_overwrite_frequency < 1):
                raise ValueError(f"[{type(self).__name__}] `ema_overwrite_frequency` must be an "
                                 "integer >= 1 or None. Received: "
                                 f"ema_overwrite_frequency={ema_overwrite_frequency}")
        self.ema_momentum = ema_momentum
        self.ema_overwrite_frequency = ema_overwrite_frequency
        self.loss_scale_factor = loss_scale_factor
        if gradient_accumulation_steps and not gradient_accumulation_steps >= 2:
            raise ValueError(f"[{type(self).__name__}] `gradient_accumulation_steps` must be an "
                             "integer >= 2. Received: gradient_accumulation_steps="
                             f"{gradient_accumulation_steps}")
        self.gradient_accumulation_steps = gradient_accumulation_steps
        self.decay = float(decay)
        self.built = False
        # The step counter and the learning rate are host scalars on every device: each step
        # reads them in Python (the fused update kernels take them as arguments), and a GPU
        # copy would cost a device sync per step.
        with host_scope():
            self._iterations = Variable(np.int64(0), trainable=False, name="iteration",
                                        dtype="int64")
        self._iter_arr = self._iterations._data
        self._lr_var = None
        self._lr_kind = 0        # 0 variable, 1 nabi schedule, 2 other LearningRateSchedule, 3 callable(step), 4 callable()
        self._learning_rate = None
        self._set_lr(learning_rate)
        self._trainable_variables = []
        self._var_index = {}
        self._slots = {n: [] for n in self._slot_names}
        self._slot_vars = []     # every slot Variable, in creation (Keras) order
        self._ema_vars = []      # use_ema: the moving average of each trainable variable
        self._acc_vars = []      # gradient_accumulation_steps: each variable's gradient sum
        self._extra_vars = []    # optimizer-level state created after the slots (Nadam u_product)
        self._cache = {}
        self._wd_exclude_ids = set()
        self._wd_exclude_names = ()

    # ------------------------------------------------------------ learning rate
    def _set_lr(self, value):
        from . import schedules
        if isinstance(value, schedules.LearningRateSchedule):
            self._learning_rate = value
            self._lr_kind = 1 if hasattr(value, "_value") else 2
            return
        if callable(value) and not isinstance(value, Tensor):
            self._learning_rate = value
            try:
                params = [p for p in inspect.signature(value).parameters.values()
                          if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD,
                                        p.VAR_POSITIONAL) and p.default is p.empty]
                self._lr_kind = 3 if params else 4
            except (TypeError, ValueError):
                self._lr_kind = 4
            return
        lr = _np_float(value)
        if self._lr_var is None:
            with host_scope():
                self._lr_var = Variable(np.float32(lr), trainable=False, name="learning_rate",
                                        dtype="float32")
        else:
            self._lr_var._data[()] = lr
        self._learning_rate = self._lr_var
        self._lr_kind = 0

    def _current_lr(self, step):
        kind = self._lr_kind
        if kind == 0:
            lr = float(self._lr_var._data)
        elif kind == 1:
            lr = self._learning_rate._value(step)
        elif kind == 2:
            lr = _np_float(self._learning_rate(_wrap(np.asarray(step, np.int64))))
        elif kind == 3:
            lr = _np_float(self._learning_rate(step))
        else:
            lr = _np_float(self._learning_rate())
        if self.decay:
            lr = lr / (1.0 + self.decay * step)
        return lr

    @property
    def learning_rate(self):
        """The learning rate: a float32 Variable, or the schedule's value at the current step."""
        if self._lr_kind == 0:
            return self._lr_var
        return _wrap(np.asarray(self._current_lr(int(self._iter_arr)), np.float32))

    @learning_rate.setter
    def learning_rate(self, value):
        self._set_lr(value)

    lr = learning_rate

    @property
    def iterations(self):
        """The number of updates applied; with `gradient_accumulation_steps` Keras 3 counts
        real updates, `apply` calls // steps (the schedules still see every call)."""
        if self.gradient_accumulation_steps:
            return _wrap(np.asarray(int(self._iter_arr) // int(self.gradient_accumulation_steps),
                                    np.int64))
        return self._iterations

    @iterations.setter
    def iterations(self, value):
        self._iter_arr[()] = int(_np_float(value))

    # ------------------------------------------------------------ building and slots
    def build(self, var_list):
        """Registers `var_list` and creates the declared slots the configuration uses for the new
        variables, which it returns."""
        new = []
        for v in var_list:
            if id(v) not in self._var_index:
                self._var_index[id(v)] = len(self._trainable_variables)
                self._trainable_variables.append(v)
                new.append(v)
        self.built = True
        if self.use_ema:
            # each variable's moving average, created before the subclass's slots as Keras does;
            # it starts as a copy (Keras 3 starts at zero, but the first update overwrites it)
            for v in new:
                base = v._name.split(":")[0].replace("/", "_")
                a = Variable(np.zeros(v._data.shape, v._data.dtype), trainable=False,
                             name=f"{base}_average")
                _follow_device(a, v)
                np.copyto(a._data, v._data)         # on the variable's device, no read-back
                self._ema_vars.append(a)
                self._slot_vars.append(a)
        if self.gradient_accumulation_steps:
            # Keras 3: one zero accumulator per variable, after the averages, before the slots
            for v in new:
                base = v._name.split(":")[0].replace("/", "_")
                a = Variable(np.zeros(v._data.shape, v._data.dtype), trainable=False,
                             name=f"{base}_gradient_accumulator")
                _follow_device(a, v)
                self._acc_vars.append(a)
                self._slot_vars.append(a)
        for group in self._slot_groups or (self._slot_names,):
            names = tuple(n for n in group if self._uses_slot(n))
            if names:
                self._add_slots(new, names, self._slot_initial(names[0]))
        return new

    def _uses_slot(self, name):
        """Whether this configuration needs slot `name` (an unused slot reaches `_update` as
        None)."""
        return True

    def _slot_initial(self, name):
        return 0.0

    def _add_slots(self, new_vars, names, initial=0.0):
        """Creates zero (or `initial`) slots named like Keras, interleaved per variable."""
        for v in new_vars:
            base = v._name.split(":")[0].replace("/", "_")
            for n in names:
                s = Variable(np.full(v._data.shape, initial, v._data.dtype), trainable=False,
                             name=f"{base}_{self._slot_keras_names.get(n, n)}")
                _follow_device(s, v)
                self._slots[n].append(s)
                self._slot_vars.append(s)

    def add_variable_from_reference(self, reference_variable, name=None, initializer="zeros"):
        """Keras API: a zero Variable shaped like `reference_variable` (custom optimizers)."""
        base = reference_variable._name.split(":")[0].replace("/", "_")
        init = 0.0 if initializer in ("zeros", None) else (1.0 if initializer == "ones" else initializer)
        s = Variable(np.full(reference_variable._data.shape, init, reference_variable._data.dtype),
                     trainable=False, name=f"{base}_{name}")
        _follow_device(s, reference_variable)
        self._extra_vars.append(s)
        return s

    def add_variable(self, shape, initializer="zeros", dtype=None, name=None):
        init = 0.0 if initializer in ("zeros", None) else (1.0 if initializer == "ones" else initializer)
        s = Variable(np.full(tuple(shape), init, np.dtype(dtype or "float32")), trainable=False,
                     name=name or "variable")
        self._extra_vars.append(s)
        return s

    @property
    def variables(self):
        """Keras 3 order: iteration, learning_rate (when a float), the slots, then the rest."""
        out = [self._iterations]
        if self._lr_var is not None and self._lr_kind == 0:
            out.append(self._lr_var)
        return out + self._slot_vars + self._extra_vars

    def get_weights(self):
        return [v._data.copy() for v in self.variables]

    def set_weights(self, weights):
        """Restores state saved by `get_weights` (build the optimizer first). A list without the
        learning rate (Keras 2 layout: iterations, then slots) is accepted too."""
        weights = list(weights)
        vs = self.variables
        if len(weights) != len(vs) and self._lr_var is not None and self._lr_kind == 0 and \
                len(weights) == len(vs) - 1:
            vs = [vs[0]] + vs[2:]
        if len(weights) != len(vs):
            raise ValueError(f"[{type(self).__name__}.set_weights] expected {len(vs)} arrays "
                             f"(optimizer built for {len(self._trainable_variables)} variables), "
                             f"got {len(weights)}")
        for v, w in zip(vs, weights):
            w = _asarray(w._data if isinstance(w, Tensor) else w)
            if w.shape != v._data.shape:
                raise ValueError(f"[{type(self).__name__}.set_weights] {v._name}: shape "
                                 f"{w.shape} does not match {v._data.shape}")
            np.copyto(v._data, w, casting="unsafe")

    def save_own_variables(self, store):
        for i, v in enumerate(self.variables):
            store[str(i)] = v._data.copy()

    def load_own_variables(self, store):
        self.set_weights([store[str(i)] for i in range(len(store))])

    def exclude_from_weight_decay(self, var_list=None, var_names=None):
        """Keras 3: each call replaces the exclusions; `var_names` are regular expressions
        searched for in the variables' names (`re.search`, as Keras)."""
        self._wd_exclude_ids = set(id(v) for v in (var_list or ()))
        self._wd_exclude_names = tuple(var_names or ())
        self._cache.clear()

    # ------------------------------------------------------------ applying gradients
    def _entry(self, key, vs):
        entry = self._cache.get(key)
        if entry is not None:
            return entry
        unknown = [v for v in vs if id(v) not in self._var_index]
        if unknown:
            if self.built and self._trainable_variables and len(set(map(id, vs))) != len(vs):
                raise ValueError("[Optimizer] the same variable appears twice in apply_gradients")
            self.build(unknown if self.built else list(vs))
        for v in vs:
            if not isinstance(v, Variable):
                raise TypeError(f"[{type(self).__name__}] can only update Variables, got "
                                f"{type(v).__name__}")
        idx = [self._var_index[id(v)] for v in vs]
        params = [v._data for v in vs]
        for p, v in zip(params, vs):
            if not p.flags.c_contiguous or p.dtype not in (np.float32, np.float64):
                raise TypeError(f"[{type(self).__name__}] variable {v._name} must be a "
                                f"C-contiguous float32/float64 array, got {p.dtype}")
        slots = tuple((None if not self._slots[n] else [self._slots[n][i]._data for i in idx])
                      for n in self._slot_names)
        dts = [p.dtype for p in params]
        constrained = [v for v in vs if getattr(v, "_constraint", None) is not None]
        wd = None
        if self.weight_decay:
            wd = [p for p, v in zip(params, vs) if id(v) not in self._wd_exclude_ids and
                  not any(re.search(n, v._name) for n in self._wd_exclude_names)]
        emas = None   # (kept in the entry's layout) the EMA runs over every built variable
        accs = [self._acc_vars[i]._data for i in idx] if self.gradient_accumulation_steps \
            else None
        entry = (list(vs), params, slots, dts, constrained, wd, emas, accs)
        self._cache[key] = entry
        return entry

    def apply_gradients(self, grads_and_vars, name=None, skip_gradients_aggregation=False,
                        **kwargs):
        """Applies one update for every (gradient, variable) pair; None gradients are skipped."""
        gs = []
        vs = []
        skipped = []
        for g, v in grads_and_vars:
            if g is not None:
                gs.append(g)
                vs.append(v)
            else:
                skipped.append(v)
        if skipped and not vs:
            self._no_gradients(skipped)
        return self._apply(gs, vs)

    def _no_gradients(self, vs):
        """Keras: every gradient None is an error (the loss does not depend on the variables:
        a tape that watched nothing, a loss computed outside it), not a silent no-op."""
        names = [getattr(v, "name", "?") for v in vs]
        raise ValueError(f"[{type(self).__name__}] No gradients provided for any variable "
                         f"({len(names)} variables: {names[:5]}{' ...' if len(names) > 5 else ''})"
                         "; was the loss computed inside the GradientTape from these "
                         "variables?")

    def apply(self, grads, trainable_variables=None):
        """Keras 3 `apply(grads, trainable_variables)`; variables default to the built ones."""
        if trainable_variables is None:
            if not self.built:
                raise ValueError(f"[{type(self).__name__}.apply] give trainable_variables or "
                                 "build the optimizer first")
            trainable_variables = self._trainable_variables
        gs = []
        vs = []
        skipped = []
        for g, v in zip(grads, trainable_variables):
            if g is not None:
                gs.append(g)
                vs.append(v)
            else:
                skipped.append(v)
        if skipped and not vs:
            self._no_gradients(skipped)
        return self._apply(gs, vs)

    def _apply(self, gs, vs):
        if not vs:
            return self._iterations
        key = tuple(map(id, vs))
        entry = self._cache.get(key)
        if entry is None:
            entry = self._entry(key, vs)
        _, params, slots, dts, constrained, wd, emas, accs = entry
        grads = []
        for g, dt, v in zip(gs, dts, vs):
            a = g._data if isinstance(g, Tensor) else g
            if type(a) is DeviceArray:
                if a.dtype != dt:
                    a = a.astype(dt)
            elif type(a) is not np.ndarray or a.dtype is not dt or not a.flags.c_contiguous:
                a = np.ascontiguousarray(a, dtype=dt)
            if type(a) is not type(v._data):
                # A host gradient (apply_gradients with NumPy arrays) goes to its variable's
                # device, as TF converts it; a GPU gradient for a host variable is an error.
                if type(a) is DeviceArray:
                    raise ValueError(f"[{self.name}] the gradient for {v.name} is on cuda:0 but "
                                     "the variable is on the CPU; move one of them")
                a = to_device(a, "cuda")
            grads.append(a)
        if self.loss_scale_factor is not None:
            # Keras 3: the gradients of a loss scaled by `scale_loss` are unscaled here
            inv = 1.0 / float(self.loss_scale_factor)
            grads = [g * g.dtype.type(inv) for g in grads]
        step = int(self._iter_arr)
        t = step + 1               # the 1-based number of this update
        if accs is not None:
            # Keras 3 gradient accumulation: calls add their gradients to the accumulators;
            # every `steps`-th call updates with the mean (g + acc) / steps (then clipped and
            # decayed), as update number step // steps + 1, and zeroes every accumulator.
            # Schedules (and the legacy decay) see the raw call count.
            n = int(self.gradient_accumulation_steps)
            if t % n:
                for a, g in zip(accs, grads):
                    a += g
                grads = None
            else:
                grads = [(g + a) / g.dtype.type(n) for g, a in zip(grads, accs)]
                for a in self._acc_vars:
                    a._data[...] = 0
            t = step // n + 1
        if grads is not None:
            if self.clipnorm is not None or self.clipvalue is not None or \
                    self.global_clipnorm is not None:
                grads = self._clip(grads)
            lr = self._current_lr(step) if self._lr_kind else float(self._lr_var._data)
            if self.decay and not self._lr_kind:
                lr = lr / (1.0 + self.decay * step)
            if wd:
                f = self.weight_decay * lr
                for p in wd:
                    p -= p * f
            self._updating_vars = entry[0]
            self._update(params, grads, slots, lr, t)
        if self.use_ema:
            self._ema_update(t)
        self._iter_arr[()] = step + 1
        for v in constrained:
            c = v._constraint(v)
            np.copyto(v._data, c._data if isinstance(c, Tensor) else _asarray(c),
                      casting="unsafe")
        return self._iterations

    def _ema_update(self, t):
        """Keras 3 EMA, after update number `t` (1-based; `iterations + 1`) and before the
        constraints, over every variable the optimizer is built on (a variable without a
        gradient this call too): average = m * average + (1 - m) * variable, with m = 0 while
        t == 1 (the first update copies the variables in); when t is a multiple of
        `ema_overwrite_frequency` the variables are overwritten with their averages."""
        m = 0.0 if t == 1 else _np_float(self.ema_momentum)
        pairs = [(v._data, a._data) for v, a in zip(self._trainable_variables, self._ema_vars)]
        for p, a in pairs:
            if m == 0.0:
                np.copyto(a, p)
                continue
            dt = p.dtype.type
            a *= dt(m)
            a += p * dt(1.0 - m)
        freq = self.ema_overwrite_frequency
        if freq and t % int(freq) == 0:
            for p, a in pairs:
                np.copyto(p, a)

    def finalize_variable_values(self, var_list):
        """Keras 2.11+/3: with `use_ema`, overwrites each variable of `var_list` with its moving
        average (`Model.fit` calls it at the end of training); otherwise does nothing."""
        if not self.use_ema:
            return
        var_list = list(var_list)
        for v in var_list:
            i = self._var_index.get(id(v))
            if i is None:
                raise ValueError(f"[{type(self).__name__}.finalize_variable_values] the optimizer "
                                 f"holds no moving average for variable "
                                 f"{getattr(v, 'name', v)!r}: it has not been built on it (it "
                                 f"tracks {len(self._trainable_variables)} variables)")
        for v in var_list:
            np.copyto(v._data, self._ema_vars[self._var_index[id(v)]]._data)

    def _clip(self, grads):
        if self.clipnorm is not None:
            c = self.clipnorm
            out = []
            for g in grads:
                n = _kernels.global_norm([g])
                out.append(g * g.dtype.type(c / n) if n > c else g)
            return out
        if self.global_clipnorm is not None:
            c = self.global_clipnorm
            n = _kernels.global_norm(grads)
            if n > c:
                return [g * g.dtype.type(c / n) for g in grads]
            return grads
        v = self.clipvalue
        return [np.clip(g, -v, v) for g in grads]

    def _update(self, params, grads, slots, lr, t):
        """A subclass written against the Keras API (`build(var_list)` +
        `update_step(gradient, variable, learning_rate)`, Keras 3; or Keras 2.11's
        `update_step(gradient, variable)`) updates one variable at a time, with Tensors; the
        base class has already clipped, decayed and scheduled (`learning_rate` is this step's
        rate as a scalar Tensor)."""
        if type(self).update_step is Optimizer.update_step:
            raise NotImplementedError(f"{type(self).__name__} must implement update_step "
                                      "(or nabi's _update)")
        try:
            takes_lr = len(inspect.signature(self.update_step).parameters) >= 3
        except (TypeError, ValueError):
            takes_lr = True
        for g, v in zip(grads, self._updating_vars):
            if takes_lr:
                rate = np.asarray(lr, v._data.dtype)
                rate = _wrap(to_device(rate, "cuda") if type(v._data) is DeviceArray else rate)
                self.update_step(_wrap(g), v, rate)
            else:
                self.update_step(_wrap(g), v)

    def update_step(self, gradient, variable, learning_rate):
        """Keras 3: one variable's update (custom optimizers override it)."""
        raise NotImplementedError(f"{type(self).__name__} must implement update_step")

    def _get_variable_index(self, variable):
        """The index of `variable` in the built variable list (for per-variable slots)."""
        return self._var_index[id(variable)]

    def assign(self, variable, value):
        variable.assign(value)

    def assign_add(self, variable, value):
        variable.assign_add(value)

    def assign_sub(self, variable, value):
        variable.assign_sub(value)

    def scale_loss(self, loss):
        """Keras 3: the loss times `loss_scale_factor` (when set), for a train step to take
        gradients of; `apply` divides the gradients by the factor again."""
        if self.loss_scale_factor is not None:
            return loss * self.loss_scale_factor
        return loss

    def minimize(self, loss, var_list, tape=None):
        """Computes gradients of `loss` (a callable, or a Tensor recorded on `tape`) with respect
        to `var_list` (a list or a callable returning one) and applies them."""
        if callable(loss) and not isinstance(loss, Tensor):
            with GradientTape() as tape:
                if callable(var_list):
                    loss_value = loss()
                else:
                    tape.watch(list(var_list))
                    loss_value = loss()
        else:
            if tape is None:
                raise ValueError(f"[{type(self).__name__}.minimize] `tape` is required when the "
                                 "loss is a Tensor")
            loss_value = loss
        if callable(var_list):
            var_list = var_list()
        var_list = list(var_list)
        grads = tape.gradient(loss_value, var_list)
        if self.loss_scale_factor is not None:   # apply unscales: these are not scaled
            grads = [None if g is None else g * self.loss_scale_factor for g in grads]
        return self.apply_gradients(zip(grads, var_list))

    # ------------------------------------------------------------ config
    def get_config(self):
        from . import schedules
        if self._lr_kind == 0:
            lr = float(self._lr_var._data)
        elif isinstance(self._learning_rate, schedules.LearningRateSchedule):
            lr = schedules.serialize(self._learning_rate)
        else:
            lr = self._learning_rate
        cfg = {"name": self.name, "learning_rate": lr, "weight_decay": self.weight_decay,
               "clipnorm": self.clipnorm, "global_clipnorm": self.global_clipnorm,
               "clipvalue": self.clipvalue, "use_ema": self.use_ema,
               "ema_momentum": self.ema_momentum,
               "ema_overwrite_frequency": self.ema_overwrite_frequency,
               "loss_scale_factor": self.loss_scale_factor,
               "gradient_accumulation_steps": self.gradient_accumulation_steps}
        for h in self._hyper_names:
            cfg[h] = getattr(self, h)
        if self.decay:                  # Keras 2 legacy lr / (1 + decay * step): keep it
            cfg["decay"] = self.decay
        return cfg

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from . import schedules
        config = dict(config)
        lr = config.get("learning_rate")
        if isinstance(lr, dict):
            config["learning_rate"] = schedules.deserialize(lr, custom_objects=custom_objects)
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__module__.replace('nabi.keras', 'keras')}.{type(self).__name__} " \
               f"name={self.name!r}>"


def _check_unit(cls, name, value, lo=0.0, hi=1.0):
    v = float(value)
    if not (lo <= v <= hi) or math.isnan(v):
        raise ValueError(f"[{cls}] {name} must be in [{lo}, {hi}], got {value}")
    return v


def _follow_device(slot, ref):
    """Puts an optimizer slot on its variable's device (the state lives with the weights)."""
    if type(slot._data) is not type(ref._data):
        slot._data = to_device(slot._data, "cuda" if type(ref._data) is DeviceArray else "cpu")
