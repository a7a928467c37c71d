"""TF1 variables: `Variable`, `get_variable`, `variable_scope`, initializers.

A graph Variable is a symbolic tensor whose value lives in each Session (an eager
`nabi.Variable` created by its `initializer`).
"""
import contextlib
import math

import numpy as np

from ... import dtypes as _dt
from ...framework.tensor import Tensor as EagerTensor, TensorShape, Variable as EagerVariable
from ...keras.initializers import compute_fans
from .graph import GraphKeys, Operation, Tensor, apply_op, get_default_graph

__all__ = ["Variable", "get_variable", "variable_scope", "get_variable_scope", "VariableScope",
           "AUTO_REUSE", "global_variables", "trainable_variables", "local_variables",
           "all_variables", "model_variables", "global_variables_initializer",
           "initialize_all_variables", "variables_initializer", "local_variables_initializer",
           "initialize_variables", "assign", "assign_add", "assign_sub",
           "scatter_nd_update", "scatter_nd_add", "scatter_nd_sub",
           "report_uninitialized_variables", "is_variable_initialized"]


class _AutoReuse:
    def __repr__(self):
        return "tf.AUTO_REUSE"


AUTO_REUSE = _AutoReuse()


class Variable(Tensor):
    """`tf.Variable(initial_value, trainable=True, collections=None, name=None, dtype=None)`."""

    def __init__(self, initial_value=None, trainable=True, collections=None, validate_shape=True,
                 caching_device=None, name=None, variable_def=None, dtype=None,
                 expected_shape=None, import_scope=None, constraint=None, use_resource=None,
                 synchronization=None, aggregation=None, shape=None, _absolute_name=None):
        from . import ops as _ops
        if initial_value is None:
            raise ValueError("[Variable] initial_value must be specified")
        if isinstance(initial_value, EagerTensor) and not isinstance(initial_value, Tensor):
            raise TypeError("[Variable] cannot mix an eager tensor into graph 'Graph': pass "
                            "`t.numpy()` as the initial value")
        g = initial_value.graph if isinstance(initial_value, Tensor) else get_default_graph()
        if _absolute_name is not None:
            vname = _absolute_name
            if vname.lower() in g._used_names:
                vname = _unique_abs(g, vname)
        else:
            vname = g.unique_name(name or "Variable")
        with g.as_default():
            with g.name_scope(vname + "/"):
                if callable(initial_value) and not isinstance(initial_value, Tensor):
                    initial_value = initial_value()
                if not isinstance(initial_value, Tensor):
                    initial_value = _ops.constant(initial_value, dtype=dtype, name="initial_value")
                elif dtype is not None and initial_value.dtype != _dt.as_dtype(dtype):
                    initial_value = _ops.cast(initial_value, dtype)
            op = Operation(g, "VariableV2", vname, [], None, kind="variable", exact_name=True)
            probes = initial_value._probes[:1] if initial_value._probes is not None else None
            shp = initial_value.shape if validate_shape else None
            if shape is not None:
                shp = TensorShape(shape)
            super().__init__(op, 0, shp, initial_value.dtype, probes)
            op.outputs = [self]
            self._initial_value = initial_value
            self.trainable = bool(trainable)
            self._constraint = constraint
            var_op = op
            tr = self.trainable

            def init_fn(sess, vals):
                sess._set_var(var_op, vals[0], tr, vname)
                # (re)initialising a variable also resets its optimizer slots in this session
                for k in [k for k in sess._state if isinstance(k, tuple) and len(k) == 3
                          and k[1] is var_op]:
                    del sess._state[k]
            with g.control_dependencies(None):
                self._initializer = Operation(g, "Assign", vname + "/Assign", [initial_value],
                                              init_fn, kind="stateful", exact_name=True)
        if collections is None:
            collections = [GraphKeys.GLOBAL_VARIABLES]
            if self.trainable:
                collections.append(GraphKeys.TRAINABLE_VARIABLES)
        elif self.trainable and GraphKeys.TRAINABLE_VARIABLES not in collections:
            collections = list(collections) + [GraphKeys.TRAINABLE_VARIABLES]
        for c in collections:
            g.add_to_collection(c, self)

    @property
    def initializer(self):
        return self._initializer

    @property
    def initial_value(self):
        return self._initial_value

    def initialized_value(self):
        return self._initial_value

    @property
    def constraint(self):
        return self._constraint

    def value(self):
        from . import ops
        return ops.identity(self, name=self.op.name + "/read")

    read_value = value

    def assign(self, value, use_locking=None, name=None, read_value=True):
        return assign(self, value, name=name)

    def assign_add(self, delta, use_locking=None, name=None, read_value=True):
        return assign_add(self, delta, name=name)

    def assign_sub(self, delta, use_locking=None, name=None, read_value=True):
        return assign_sub(self, delta, name=name)

    def load(self, value, session=None):
        from .session import _session_for
        s = _session_for(session, self.graph, "Variable.load")
        s._get_var(self.op).assign(np.asarray(value, self.dtype._np))

    def eval(self, session=None, feed_dict=None):
        return super().eval(feed_dict, session)

    def __repr__(self):
        from .graph import _fmt_shape
        return f"<tf.Variable '{self.name}' shape={_fmt_shape(self.shape)} dtype={self.dtype.name}_ref>"

    __str__ = __repr__
    __hash__ = Tensor.__hash__


def _unique_abs(g, name):
    i = 1
    new = name
    while new.lower() in g._used_names:
        new = f"{name}_{i}"
        i += 1
    return new


def _check_var(v, what):
    if not isinstance(v, Variable):
        raise TypeError(f"[{what}] expected a tf.Variable, got {type(v).__name__}")


def assign(ref, value, validate_shape=None, use_locking=None, name=None):
    _check_var(ref, "assign")
    return apply_op("Assign", lambda v, x: v.assign(x), (ref, value), name=name or "Assign",
                    kind="stateful", probe_fn=lambda v, x: v)


def assign_add(ref, value, use_locking=None, name=None):
    _check_var(ref, "assign_add")
    return apply_op("AssignAdd", lambda v, x: v.assign_add(x), (ref, value),
                    name=name or "AssignAdd", kind="stateful", probe_fn=lambda v, x: v)


def assign_sub(ref, value, use_locking=None, name=None):
    _check_var(ref, "assign_sub")
    return apply_op("AssignSub", lambda v, x: v.assign_sub(x), (ref, value),
                    name=name or "AssignSub", kind="stateful", probe_fn=lambda v, x: v)


def _scatter_nd(op_type, method, ref, indices, updates, name):
    """tf.compat.v1.scatter_nd_*: `ref` (a graph Variable, or an eager nabi.Variable as TF 2's
    tf.compat.v1 takes) updated in place at `indices` (index the leading axes, as
    tf.scatter_nd); returns the updated ref. Duplicate indices add up for _add / _sub (for
    _update TF leaves their order undefined); use_locking is ignored."""
    if isinstance(ref, EagerVariable):
        return getattr(ref, method)(indices, updates)
    _check_var(ref, method)
    return apply_op(op_type, lambda v, i, u: getattr(v, method)(i, u), (ref, indices, updates),
                    name=name or op_type, kind="stateful", probe_fn=lambda v, i, u: v)


def scatter_nd_update(ref, indices, updates, use_locking=True, name=None):
    return _scatter_nd("ScatterNdUpdate", "scatter_nd_update", ref, indices, updates, name)


def scatter_nd_add(ref, indices, updates, use_locking=False, name=None):
    return _scatter_nd("ScatterNdAdd", "scatter_nd_add", ref, indices, updates, name)


def scatter_nd_sub(ref, indices, updates, use_locking=False, name=None):
    return _scatter_nd("ScatterNdSub", "scatter_nd_sub", ref, indices, updates, name)


# -- collections of variables ------------------------------------------------------------------
def global_variables(scope=None):
    return get_default_graph().get_collection(GraphKeys.GLOBAL_VARIABLES, scope)


all_variables = global_variables


def trainable_variables(scope=None):
    return get_default_graph().get_collection(GraphKeys.TRAINABLE_VARIABLES, scope)


def local_variables(scope=None):
    return get_default_graph().get_collection(GraphKeys.LOCAL_VARIABLES, scope)


def model_variables(scope=None):
    return get_default_graph().get_collection(GraphKeys.MODEL_VARIABLES, scope)


def variables_initializer(var_list, name="init"):
    g = var_list[0].graph if var_list else get_default_graph()
    op = Operation(g, "NoOp", name, [], lambda vals: None)
    for v in var_list:
        _check_var(v, "variables_initializer")
        op._add_control_input(v.initializer)
    return op


initialize_variables = variables_initializer


def global_variables_initializer():
    return variables_initializer(global_variables(), name="init")


initialize_all_variables = global_variables_initializer


def local_variables_initializer():
    return variables_initializer(local_variables(), name="init_1")


def is_variable_initialized(variable):
    _check_var(variable, "is_variable_initialized")
    return _IsInit(variable.op)


def _IsInit(var_op):
    from ...framework.tensor import convert_to_tensor
    g = var_op.graph

    def fn(sess, vals):
        return convert_to_tensor(np.bool_(var_op in sess._vars))
    op = Operation(g, "IsVariableInitialized", "IsVariableInitialized", [], fn, kind="stateful")
    t = Tensor(op, 0, (), _dt.bool, (convert_to_tensor(np.bool_(False)),))
    op.outputs = [t]
    return t


def report_uninitialized_variables(var_list=None, name="report_uninitialized_variables"):
    from ...framework.tensor import convert_to_tensor
    var_list = global_variables() if var_list is None else var_list
    g = get_default_graph()
    ops_ = [v.op for v in var_list]

    def fn(sess, vals):
        return convert_to_tensor(np.array([o.name for o in ops_ if o not in sess._vars],
                                          dtype=object))
    op = Operation(g, "ReportUninitializedVariables", name, [], fn, kind="stateful")
    t = Tensor(op, 0, (None,), _dt.string, None)
    op.outputs = [t]
    return t


# -- variable scopes -------------------------------------------------------------------------
class VariableScope:
    def __init__(self, name="", reuse=None, initializer=None, regularizer=None, dtype=None,
                 name_scope=""):
        self.name = name
        self.reuse = reuse
        self.initializer = initializer
        self.regularizer = regularizer
        self.dtype = dtype or _dt.float32
        self.original_name_scope = name_scope

    def reuse_variables(self):
        self.reuse = True

    def set_initializer(self, initializer):
        self.initializer = initializer

    def set_regularizer(self, regularizer):
        self.regularizer = regularizer

    def __repr__(self):
        return f"<VariableScope {self.name!r} reuse={self.reuse}>"


def get_variable_scope():
    g = get_default_graph()
    return g._var_scope_stack[-1] if g._var_scope_stack else _root_scope(g)


def _root_scope(g):
    s = getattr(g, "_root_var_scope", None)
    if s is None:
        s = g._root_var_scope = VariableScope("")
    return s


@contextlib.contextmanager
def variable_scope(name_or_scope=None, default_name=None, values=None, initializer=None,
                   regularizer=None, caching_device=None, partitioner=None, custom_getter=None,
                   reuse=None, dtype=None, use_resource=None, constraint=None,
                   auxiliary_name_scope=True):
    g = get_default_graph()
    parent = get_variable_scope()
    counts = g.__dict__.setdefault("_var_scope_counts", {})
    if isinstance(name_or_scope, VariableScope):
        full = name_or_scope.name
        ns = name_or_scope.original_name_scope
        base_reuse = name_or_scope.reuse
        base_init = name_or_scope.initializer
        base_reg = name_or_scope.regularizer
    else:
        if name_or_scope is None:
            if default_name is None:
                raise TypeError("[variable_scope] give name_or_scope or default_name")
            prefix = parent.name + "/" if parent.name else ""
            key = prefix + default_name
            n = counts.get(key, 0)
            counts[key] = n + 1
            local = default_name if n == 0 else f"{default_name}_{n}"
        else:
            local = str(name_or_scope)
        full = (parent.name + "/" + local) if parent.name else local
        ns = None
        base_reuse = parent.reuse
        base_init = parent.initializer
        base_reg = parent.regularizer
        if name_or_scope is not None:
            prefix = parent.name + "/" if parent.name else ""
            counts[prefix + local] = counts.get(prefix + local, 0) + 1
    new_reuse = reuse if (reuse is True or reuse is AUTO_REUSE) else base_reuse
    if parent.reuse is True and new_reuse is not True and not isinstance(name_or_scope, VariableScope):
        new_reuse = True
    scope = VariableScope(full, new_reuse, initializer if initializer is not None else base_init,
                          regularizer if regularizer is not None else base_reg,
                          dtype if dtype is not None else parent.dtype)
    cm = g.name_scope(ns) if ns else (g.name_scope(full.rsplit("/", 1)[-1])
                                       if auxiliary_name_scope else contextlib.nullcontext(""))
    with cm as ns_now:
        scope.original_name_scope = ns_now or ns or ""
        g._var_scope_stack.append(scope)
        try:
            yield scope
        finally:
            g._var_scope_stack.pop()


def get_variable(name, shape=None, dtype=None, initializer=None, regularizer=None, trainable=None,
                 collections=None, caching_device=None, partitioner=None, validate_shape=True,
                 use_resource=None, custom_getter=None, constraint=None, synchronization=None,
                 aggregation=None):
    from . import ops as _ops
    g = get_default_graph()
    scope = get_variable_scope()
    full = f"{scope.name}/{name}" if scope.name else name
    store = g._var_store
    if shape is not None:
        shape = TensorShape(shape)
    if full in store:
        if not (scope.reuse is True or scope.reuse is AUTO_REUSE):
            raise ValueError(f"Variable {full} already exists, disallowed. Did you mean to set "
                             "reuse=True or reuse=tf.AUTO_REUSE in VarScope?")
        v = store[full]
        if shape is not None and tuple(shape) != tuple(v.shape):
            raise ValueError(f"Trying to share variable {full}, but specified shape "
                             f"{list(shape)} and found shape {list(v.shape)}.")
        return v
    if scope.reuse is True:
        raise ValueError(f"Variable {full} does not exist, or was not created with "
                         "tf.get_variable(). Did you mean to set reuse=tf.AUTO_REUSE in VarScope?")
    dt = _dt.as_dtype(dtype) if dtype is not None else scope.dtype
    init = initializer if initializer is not None else scope.initializer
    if isinstance(init, Tensor):
        if shape is not None and validate_shape and tuple(init.shape) != tuple(shape):
            raise ValueError(f"[get_variable] initializer shape {list(init.shape)} does not match "
                             f"shape {list(shape)} for {full}")
        initial = init
    elif init is None or callable(init):
        if shape is None:
            raise ValueError(f"Shape of a new variable ({full}) must be fully defined, but "
                             "instead was None.")
        if init is None:
            init = glorot_uniform_initializer() if dt.is_floating else zeros_initializer()
        fn = init

        def initial():
            return fn(list(shape), dtype=dt)
    else:
        initial = np.asarray(init, dtype=dt._np)
        if shape is not None:
            initial = np.broadcast_to(initial, tuple(shape)).copy()
    trainable = True if trainable is None else trainable
    with g.name_scope(None):
        v = Variable(initial, trainable=trainable, collections=collections, dtype=dt,
                     validate_shape=validate_shape, constraint=constraint, _absolute_name=full)
    store[full] = v
    reg = regularizer if regularizer is not None else scope.regularizer
    if reg is not None:
        with g.name_scope(full + "/Regularizer/"):
            loss = reg(v)
        if loss is not None:
            g.add_to_collection(GraphKeys.REGULARIZATION_LOSSES, loss)
    _ = _ops
    return v


# -- initializers ------------------------------------------------------------------------------
class Initializer:
    def __init__(self, dtype=None):
        self.dtype = dtype

    def _dt(self, dtype):
        return _dt.as_dtype(dtype if dtype is not None else (self.dtype or _dt.float32))

    def get_config(self):
        return {}


class zeros_initializer(Initializer):
    def __call__(self, shape, dtype=None, partition_info=None):
        from . import ops
        return ops.zeros(shape, self._dt(dtype))


class ones_initializer(Initializer):
    def __call__(self, shape, dtype=None, partition_info=None):
        from . import ops
        return ops.ones(shape, self._dt(dtype))


class constant_initializer(Initializer):
    def __init__(self, value=0, dtype=None, verify_shape=False):
        super().__init__(dtype)
        self.value = value

    def __call__(self, shape, dtype=None, partition_info=None):
        from . import ops
        dt = self._dt(dtype)
        v = np.asarray(self.value, dt._np)
        if v.size == 1:
            v = np.full(shape, v.reshape(()), dt._np)
        else:
            v = v.reshape(shape)
        return ops.constant(v, dtype=dt)


class random_normal_initializer(Initializer):
    def __init__(self, mean=0.0, stddev=1.0, seed=None, dtype=None):
        super().__init__(dtype)
        self.mean, self.stddev, self.seed = mean, stddev, seed

    def __call__(self, shape, dtype=None, partition_info=None):
        from . import ops
        return ops.random_normal(shape, self.mean, self.stddev, self._dt(dtype), self.seed)


class truncated_normal_initializer(random_normal_initializer):
    def __call__(self, shape, dtype=None, partition_info=None):
        from . import ops
        return ops.truncated_normal(shape, self.mean, self.stddev, self._dt(dtype), self.seed)


class random_uniform_initializer(Initializer):
    def __init__(self, minval=-0.05, maxval=0.05, seed=None, dtype=None):
        super().__init__(dtype)
        self.minval, self.maxval, self.seed = minval, maxval, seed

    def __call__(self, shape, dtype=None, partition_info=None):
        from . import ops
        return ops.random_uniform(shape, self.minval, self.maxval, self._dt(dtype), self.seed)


class variance_scaling_initializer(Initializer):
    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None,
                 dtype=None):
        super().__init__(dtype)
        if scale <= 0:
            raise ValueError("[variance_scaling_initializer] scale must be positive")
        self.scale, self.mode, self.distribution, self.seed = scale, mode, distribution, seed

    def __call__(self, shape, dtype=None, partition_info=None):
        from . import ops
        fan_in, fan_out = compute_fans(shape)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[self.mode]
        s = self.scale / max(1.0, n)
        dt = self._dt(dtype)
        if self.distribution in ("normal", "truncated_normal"):
            return ops.truncated_normal(shape, 0.0, math.sqrt(s) / .87962566103423978, dt,
                                        self.seed)
        if self.distribution == "untruncated_normal":
            return ops.random_normal(shape, 0.0, math.sqrt(s), dt, self.seed)
        lim = math.sqrt(3.0 * s)
        return ops.random_uniform(shape, -lim, lim, dt, self.seed)


class glorot_uniform_initializer(variance_scaling_initializer):
    def __init__(self, seed=None, dtype=None):
        super().__init__(1.0, "fan_avg", "uniform", seed, dtype)


class glorot_normal_initializer(variance_scaling_initializer):
    def __init__(self, seed=None, dtype=None):
        super().__init__(1.0, "fan_avg", "truncated_normal", seed, dtype)


def he_normal(seed=None):
    return variance_scaling_initializer(2.0, "fan_in", "truncated_normal", seed)


def he_uniform(seed=None):
    return variance_scaling_initializer(2.0, "fan_in", "uniform", seed)


def xavier_initializer(uniform=True, seed=None, dtype=_dt.float32):
    return variance_scaling_initializer(1.0, "fan_avg", "uniform" if uniform else
                                        "truncated_normal", seed, dtype)
