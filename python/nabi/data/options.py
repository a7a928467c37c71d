"""`tf.data.Options`: the options a pipeline carries (`dataset.with_options(options)`).

    options = tf.data.Options()
    options.deterministic = False
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
    ds = ds.with_options(options)
    ds.options().deterministic          # False

The fields are TF 2.15's, with its defaults, its type checks and its merging: a field that
one Options sets wins over a field the other leaves unset, and when both set it the later one
(the argument of `merge`, the outer `with_options`) wins. Setting a field that TF does not have
raises AttributeError, as TF does.

What nabi does with them: the pipeline runs in the calling thread and produces each element
on demand, so the results never depend on them. `deterministic=False` is accepted (nabi's
map and interleave produce elements in order anyway, which TF allows), the optimization,
threading, autotune and slack fields are accepted and kept, and `auto_shard_policy` is read by
nothing in nabi (there is no multi-worker input sharding)."""
import copy
import enum

__all__ = ["Options", "AutoShardPolicy", "ExternalStatePolicy", "AutotuneOptions",
           "DistributeOptions", "OptimizationOptions", "ThreadingOptions", "AutotuneAlgorithm"]


class AutoShardPolicy(enum.IntEnum):
    """How tf.distribute would shard a multi-worker input pipeline (kept, not used by nabi)."""
    OFF = -1
    AUTO = 0
    FILE = 1
    DATA = 2
    HINT = 3


class ExternalStatePolicy(enum.Enum):
    """What to do when a pipeline with external state is checkpointed."""
    WARN = 0
    IGNORE = 1
    FAIL = 2


class AutotuneAlgorithm(enum.Enum):
    DEFAULT = 0
    HILL_CLIMB = 1
    GRADIENT_DESCENT = 2
    MAX_PARALLELISM = 3
    STAGE_BASED = 4


class _Field:
    """One option: its type (or a factory for a nested options object), default and doc."""

    def __init__(self, ty, default=None, doc="", nested=False):
        self.ty, self.default, self.doc, self.nested = ty, default, doc, nested


class _OptionsBase:
    """Attributes are the class's _FIELDS only; a value must have the field's type (or be
    None, meaning "not set": the default applies). Nested options objects merge field by
    field."""

    _FIELDS = {}
    _ALIASES = {}

    def __init__(self):
        object.__setattr__(self, "_values", {})
        object.__setattr__(self, "_mutable", True)
        for name, f in self._FIELDS.items():
            if f.nested:
                self._values[name] = f.ty()

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        name = self._ALIASES.get(name, name)
        fields = type(self)._FIELDS
        if name not in fields:
            raise AttributeError(f"'{type(self).__name__}' object has no attribute {name!r}")
        return self._values.get(name, fields[name].default)

    def __setattr__(self, name, value):
        name = self._ALIASES.get(name, name)
        fields = type(self)._FIELDS
        if name not in fields:
            raise AttributeError(f"Cannot set the property {name} on {type(self).__name__}.")
        if not self._mutable:
            raise ValueError(f"[{type(self).__name__}] these options belong to a dataset and "
                             "cannot be changed; set the field on a new tf.data.Options and "
                             "call with_options again")
        f = fields[name]
        if f.nested:
            if not isinstance(value, f.ty):
                raise TypeError(f"Property \"{name}\" must be of type {f.ty.__name__}, got "
                                f"{type(value).__name__}")
            value = copy.deepcopy(value)
        elif value is not None:
            ok = isinstance(value, f.ty) and not (f.ty is int and isinstance(value, bool))
            if f.ty is bool and not isinstance(value, bool):
                ok = False
            if not ok:
                tname = f.ty.__name__ if isinstance(f.ty, type) else str(f.ty)
                raise TypeError(f"Property \"{name}\" must be of type {tname}, got "
                                f"{type(value).__name__} ({value!r})")
        if value is None:
            self._values.pop(name, None)
        else:
            self._values[name] = value

    def _is_set(self, name):
        f = self._FIELDS[name]
        if f.nested:
            return self._values[name]._any_set()
        return name in self._values

    def _any_set(self):
        return any(self._is_set(n) for n in self._FIELDS)

    def _merged(self, other):
        """A new object: self's values, overridden by those `other` sets."""
        out = type(self)()
        for name, f in self._FIELDS.items():
            if f.nested:
                out._values[name] = self._values[name]._merged(other._values[name])
            elif name in other._values:
                out._values[name] = other._values[name]
            elif name in self._values:
                out._values[name] = self._values[name]
        return out

    def _freeze(self):
        object.__setattr__(self, "_mutable", False)
        for name, f in self._FIELDS.items():
            if f.nested:
                self._values[name]._freeze()
        return self

    def __deepcopy__(self, memo):
        out = type(self)()
        for name, f in self._FIELDS.items():
            if f.nested:
                out._values[name] = copy.deepcopy(self._values[name], memo)
            elif name in self._values:
                out._values[name] = self._values[name]
        return out

    def __eq__(self, other):
        if type(other) is not type(self):
            return NotImplemented
        return all(getattr(self, n) == getattr(other, n) for n in self._FIELDS)

    def __ne__(self, other):
        eq = self.__eq__(other)
        return eq if eq is NotImplemented else not eq

    __hash__ = None

    def __dir__(self):
        return sorted(set(object.__dir__(self)) | set(self._FIELDS) | set(self._ALIASES))

    def __repr__(self):
        parts = [f"{n}={getattr(self, n)!r}" for n in self._FIELDS]
        return f"{type(self).__name__}({', '.join(parts)})"


class AutotuneOptions(_OptionsBase):
    """options.autotune: enabled (default True), cpu_budget, ram_budget (ints, bytes for
    RAM), autotune_algorithm."""
    _FIELDS = {
        "enabled": _Field(bool, None, "Whether to autotune (default True)."),
        "cpu_budget": _Field(int, None, "CPU cores autotuning may use (default: all)."),
        "ram_budget": _Field(int, None, "RAM in bytes autotuning may use."),
        "autotune_algorithm": _Field(AutotuneAlgorithm, None, "The autotuning algorithm."),
    }


class DistributeOptions(_OptionsBase):
    """options.experimental_distribute: auto_shard_policy (AutoShardPolicy.AUTO), num_devices."""
    _FIELDS = {
        "auto_shard_policy": _Field(AutoShardPolicy, AutoShardPolicy.AUTO,
                                    "How tf.distribute shards the input."),
        "num_devices": _Field(int, None, "The number of devices attached to this input."),
    }


_OPT_NAMES = ("apply_default_optimizations", "filter_fusion", "filter_parallelization",
              "inject_prefetch", "map_and_batch_fusion", "map_and_filter_fusion", "map_fusion",
              "map_parallelization", "noop_elimination", "parallel_batch",
              "shuffle_and_repeat_fusion", "seq_interleave_prefetch", "warm_start")


class OptimizationOptions(_OptionsBase):
    """options.experimental_optimization: TF's graph rewrites, each a bool (None: TF's
    default). nabi has no graph to rewrite; the values are kept."""
    _FIELDS = {n: _Field(bool, None, f"Whether to apply the {n} optimization.")
               for n in _OPT_NAMES}


class ThreadingOptions(_OptionsBase):
    """options.threading: private_threadpool_size, max_intra_op_parallelism (ints)."""
    _FIELDS = {
        "max_intra_op_parallelism": _Field(int, None, "Intra-op parallelism per element."),
        "private_threadpool_size": _Field(int, None, "Threads of a private threadpool."),
    }


class Options(_OptionsBase):
    """tf.data.Options: set fields, then `dataset.with_options(options)`. See the module doc
    for what nabi does with each."""
    _FIELDS = {
        "autotune": _Field(AutotuneOptions, nested=True),
        "deterministic": _Field(bool, None, "Whether elements come in a fixed order."),
        "experimental_distribute": _Field(DistributeOptions, nested=True),
        "experimental_external_state_policy": _Field(ExternalStatePolicy, None,
                                                      "Checkpointing with external state."),
        "experimental_optimization": _Field(OptimizationOptions, nested=True),
        "experimental_slack": _Field(bool, False, "Whether to introduce slack."),
        "experimental_symbolic_checkpoint": _Field(bool, False, "Symbolic checkpointing."),
        "experimental_warm_start": _Field(bool, False, "Start background threads early."),
        "framework_type": _Field(list, None, "The frameworks that use this dataset."),
        "threading": _Field(ThreadingOptions, nested=True),
    }
    _ALIASES = {"experimental_deterministic": "deterministic",
                "experimental_threading": "threading"}

    def merge(self, options):
        """A new Options: this one's fields, overridden by those `options` sets (TF's merge)."""
        if not isinstance(options, Options):
            raise TypeError(f"[Options.merge] expects a tf.data.Options, got "
                            f"{type(options).__name__}")
        return self._merged(options)
