"""`tf.function` on an eager framework: the Python function runs eagerly on every call (nabi
builds no graphs), with TF's input_signature checks, its retracing bookkeeping
(`experimental_get_tracing_count`) and concrete functions (`get_concrete_function`).

Differences from TF, by design: Python side effects (print, appending to a list, ...) run on
every call, not only while tracing; a ConcreteFunction has no `.graph`; its `inputs`/`outputs`
are TensorSpecs (shape and dtype), not symbolic placeholders."""
import builtins
import functools
import inspect
import weakref

import numpy as np

from .. import config, nest
from .. import dtypes as _dt
from . import tape as _tape
from . import tensor as _tensor
from .tensor import Tensor, TensorShape, Variable, convert_to_tensor

__all__ = ["function", "Function", "ConcreteFunction"]


def _spec_cls():
    from ..data import TensorSpec
    return TensorSpec


# ----------------------------------------------------------------------------- trace types
# A call's "trace type" follows TF's retracing rules: a Tensor (or Variable) contributes its
# dtype and shape, a Python scalar or string its type and value, lists/tuples/dicts their
# structure, a TensorSpec its dtype and shape (None dims match any size), other objects their
# identity. Two calls with equal trace types share one trace.
def _trace_type(x):
    if isinstance(x, Tensor):
        return ("T", x.dtype.name, tuple(x._data.shape))
    if isinstance(x, _spec_cls()):
        return ("T", x.dtype.name, None if x.shape is None else tuple(x.shape))
    if isinstance(x, (builtins.bool, int, float, complex, str, bytes, type(None))):
        return ("V", type(x).__name__, x)
    if isinstance(x, np.ndarray):        # TF converts arrays to Tensors when tracing
        return ("T", str(x.dtype), tuple(x.shape))
    if isinstance(x, np.generic):
        return ("V", type(x).__name__, x.item())
    if isinstance(x, (list, tuple)):
        return (type(x).__name__,) + tuple(_trace_type(v) for v in x)
    if isinstance(x, dict):
        return ("dict",) + tuple((k, _trace_type(x[k])) for k in sorted(x, key=repr))
    return ("O", type(x).__name__, id(x))


def _matches(trace, call):
    """Whether a call's trace type fits a recorded (possibly generalised) one."""
    if type(trace) is not tuple or type(call) is not tuple:
        return trace == call
    if trace[:1] == ("T",) and call[:1] == ("T",):
        if trace[1] != call[1]:
            return False
        if trace[2] is None:
            return True
        return call[2] is not None and len(trace[2]) == len(call[2]) and all(
            a is None or a == b for a, b in zip(trace[2], call[2]))
    return len(trace) == len(call) and all(_matches(a, b) for a, b in zip(trace, call))


def _generalise(a, b):
    """The relaxed trace type covering both (reduce_retracing): differing dims -> None; None
    when the two differ beyond shapes."""
    if type(a) is not tuple or type(b) is not tuple:
        return a if a == b else None
    if a[:1] == ("T",) and b[:1] == ("T",):
        if a[1] != b[1]:
            return None
        if a[2] is None or b[2] is None or len(a[2]) != len(b[2]):
            return ("T", a[1], None)
        return ("T", a[1], tuple(x if x == y else None for x, y in zip(a[2], b[2])))
    if len(a) != len(b):
        return None
    out = tuple(_generalise(x, y) for x, y in zip(a, b))
    return None if any(o is None and x is not None for o, x in zip(out, a)) else out


# --------------------------------------------------------------------------------- Function
class Function:
    """What `tf.function` returns: the Python function, run eagerly on every call (nabi builds
    no graphs, so Python side effects such as print run on every call, where TF runs them only
    while tracing). As TF: an `input_signature` is enforced (a TypeError for an argument it
    does not fit, lists and numbers converted to its dtypes), Python numbers and NumPy arrays
    returned become Tensors, the function binds as a method, `get_concrete_function` gives a
    ConcreteFunction, and `experimental_get_tracing_count()` counts the traces TF would have
    made (one per distinct input signature: Tensor shapes and dtypes, Python values; a single
    one with an input_signature; shapes relaxed to None on a retrace with
    reduce_retracing=True)."""

    def __init__(self, func, input_signature=None, reduce_retracing=False, **kwargs):
        functools.update_wrapper(self, func)
        self._func = func
        self.input_signature = None if input_signature is None else list(input_signature)
        self._reduce_retracing = builtins.bool(
            reduce_retracing or kwargs.get("experimental_relax_shapes", False))
        self._kwargs = kwargs
        self._traces = []           # trace types seen (one per trace TF would make)
        self._calls = 0             # calls so far, and the one that created variables
        self._created_on = None
        self._bound = None          # per-instance Functions of a method

    @property
    def python_function(self):
        return self._func

    @property
    def function_spec(self):
        return inspect.signature(self._func)

    def __get__(self, obj, objtype=None):
        if obj is None:
            return self
        if self._bound is None:
            self._bound = weakref.WeakKeyDictionary()
        try:
            return self._bound[obj]          # one Function (and trace count) per instance
        except (KeyError, TypeError):
            pass
        try:
            self._bound[obj] = bound = Function(_weak_method(self._func, obj),
                                                self.input_signature, self._reduce_retracing,
                                                **self._kwargs)
        except TypeError:                    # an unhashable / un-weakrefable instance
            bound = Function(functools.partial(self._func, obj), self.input_signature,
                             self._reduce_retracing, **self._kwargs)
        bound.__name__ = getattr(self._func, "__name__", "function")
        return bound

    @property
    def _name(self):
        return getattr(self._func, "__name__", "function")

    def _bind(self, args, kwargs):
        sig = self.input_signature
        name = self._name
        if kwargs or len(args) < len(sig):
            try:
                bound = inspect.signature(self._func).bind(*args, **kwargs)
            except TypeError as e:
                raise TypeError(f"[function] {name}: {e}") from None
            bound.apply_defaults()  # defaults fill the signature's last arguments, as TF
            args, kwargs = bound.args, bound.kwargs
        if len(args) != len(sig) or kwargs:
            raise TypeError(f"[function] {name} takes {len(sig)} argument(s) by its "
                            f"input_signature, got {len(args) + len(kwargs)}")
        return tuple(_fit_spec(name, k, a, sp) for k, (a, sp) in enumerate(zip(args, sig)))

    def _call_type(self, args, kwargs):
        """The trace type of a call, its arguments bound to the parameters by name (so
        f(1, y=2) and f(1, 2) share a trace, as in TF)."""
        try:
            b = inspect.signature(self._func).bind(*args, **kwargs)
            b.apply_defaults()
            items = tuple(b.arguments.items())
        except (TypeError, ValueError):
            items = (("*", tuple(args)), ("**", tuple(sorted(kwargs.items(), key=repr))))
        return tuple((k, _trace_type(v)) for k, v in items)

    def _note_trace(self, args, kwargs):
        """Records the call's trace type unless a recorded one covers it."""
        if self.input_signature is not None:
            if not self._traces:
                self._traces.append(("signature",))
            return
        t = self._call_type(args, kwargs)
        for old in self._traces:
            if _matches(old, t):
                return
        if self._reduce_retracing:
            for i, old in enumerate(self._traces):
                g = _generalise(old, t)
                if g is not None:
                    self._traces.append(g)
                    return
        self._traces.append(t)

    def pretty_printed_concrete_signatures(self, verbose=True):
        """One block per trace, TF's "Input Parameters:" layout (nabi records no output
        types, so the blocks list the inputs only)."""
        if self.input_signature is not None and self._traces:
            params = list(inspect.signature(self._func).parameters)
            traces = [tuple((n, ("T", sp.dtype.name, None if sp.shape is None else
                                 tuple(sp.shape)))
                            for n, sp in zip(params, self.input_signature))]
        else:
            traces = self._traces

        def show(t):
            if type(t) is tuple and t[:1] == ("T",):
                shape = "<unknown>" if t[2] is None else \
                    "(" + ", ".join(map(str, t[2])) + ("," if len(t[2]) == 1 else "") + ")"
                return f"TensorSpec(shape={shape}, dtype=tf.{t[1]}, name=None)"
            if type(t) is tuple and t[:1] == ("V",):
                return f"Literal[{t[2]!r}]"
            return repr(t)
        return "\n\n".join("Input Parameters:\n" + "\n".join(
            f"  {n} (POSITIONAL_OR_KEYWORD): {show(t)}" for n, t in trace)
            for trace in traces)

    def experimental_get_tracing_count(self):
        """The number of traces TF would have made so far (see the class docstring)."""
        return len(self._traces)

    def __call__(self, *args, **kwargs):
        if self.input_signature is not None:
            args, kwargs = self._bind(args, kwargs), {}
        self._note_trace(args, kwargs)
        if config._state.get("run_eagerly"):
            return self._func(*args, **kwargs)
        self._calls += 1
        _tensor._variable_watchers.append(self)
        try:
            out = self._func(*args, **kwargs)
        finally:
            _tensor._variable_watchers.pop()
        return nest.map_structure(_output_tensor, out)

    def variable_created(self):
        """TF lets a tf.function create variables on its first call only (it traces that
        call twice, and the second trace must create none); a later call that creates one
        raises, as TF's does, instead of quietly making a new variable on every call. (TF
        also raises on a first call that would create variables on every call; nabi, which
        runs the call once, sees that only on the second.)"""
        if self._created_on is None:
            self._created_on = self._calls
        elif self._created_on != self._calls:
            raise ValueError(f"[function] {self._name}: tf.function only supports singleton "
                             "tf.Variables created on the first call. Make sure the "
                             "tf.Variable is only created once or created outside tf.function.")

    def get_concrete_function(self, *args, **kwargs):
        """A ConcreteFunction for these arguments: TensorSpecs (None for any size), Tensors
        (their shape and dtype), Python values (fixed, as TF bakes them in). With an
        input_signature and no arguments, its specs. Counts as a trace (once per signature)."""
        if not args and not kwargs:
            if self.input_signature is None:
                try:
                    params = [p for p in inspect.signature(self._func).parameters.values()
                              if p.default is inspect.Parameter.empty and
                              p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
                except (TypeError, ValueError):
                    params = []
                if params:
                    raise TypeError(f"[function.get_concrete_function] {self._name} takes "
                                    f"{len(params)} argument(s) and has no input_signature: "
                                    "pass TensorSpecs or values for them")
            else:
                args = tuple(self.input_signature)
        elif self.input_signature is not None:
            spec = self._check_against_signature(args, kwargs)
            args, kwargs = spec, {}
        self._note_trace(args, kwargs)
        # one ConcreteFunction per trace type, as TF: asking again gives the same object
        try:
            key = ("signature",) if self.input_signature is not None else \
                self._call_type(args, kwargs)
            hash(key)
        except TypeError:
            return ConcreteFunction(self, args, kwargs)
        cache = self.__dict__.setdefault("_concrete", {})
        if key not in cache:
            cache[key] = ConcreteFunction(self, args, kwargs)
        return cache[key]

    def _check_against_signature(self, args, kwargs):
        sig = self.input_signature
        if kwargs:
            try:
                args = inspect.signature(self._func).bind(*args, **kwargs).args
            except TypeError as e:
                raise TypeError(f"[function.get_concrete_function] {self._name}: {e}") from None
        if len(args) != len(sig):
            raise TypeError(f"[function.get_concrete_function] {self._name} takes {len(sig)} "
                            f"argument(s) by its input_signature, got {len(args)}")
        TensorSpec = _spec_cls()
        for k, (a, s) in enumerate(zip(nest.flatten(args), nest.flatten(sig))):
            sa = a if isinstance(a, TensorSpec) else TensorSpec.from_tensor(convert_to_tensor(a))
            if not (s.dtype == sa.dtype and (s.shape is None or (
                    sa.shape is not None and len(s.shape) == len(sa.shape) and all(
                        x is None or x == y for x, y in zip(s.shape, sa.shape))))):
                raise TypeError(f"[function.get_concrete_function] {self._name}: argument {k} "
                                f"{sa!r} does not fit its input_signature {s!r}")
        return tuple(sig)

    def __repr__(self):
        return f"<nabi.function {self._name}>"


def _weak_method(func, obj):
    """func bound to obj through a weak reference (the per-instance cache must not keep obj
    alive), with func's signature less its first parameter."""
    ref = weakref.ref(obj)

    def method(*args, **kwargs):
        return func(ref(), *args, **kwargs)
    functools.update_wrapper(method, func)
    try:
        sig = inspect.signature(func)
        method.__signature__ = sig.replace(parameters=list(sig.parameters.values())[1:])
    except (TypeError, ValueError):
        pass
    return method


# --------------------------------------------------------------------------- ConcreteFunction
class ConcreteFunction:
    """`get_concrete_function`'s result: callable with Tensors fitting its signature (the
    fixed Python arguments may be left out or repeated). `structured_input_signature` is
    TF's `(args, kwargs)` of TensorSpecs (named after the parameters) and fixed Python
    values. `structured_outputs`, `outputs`, `output_shapes` and `output_dtypes` come from
    trial calls of the function on zero tensors (a None dimension tried as 1 and as 2; a size
    that changes with it is None), made on first use with tapes paused and Variable
    assignments undone; a function that cannot run on zeros raises there."""

    def __init__(self, function, args, kwargs):
        self._function = function
        self._args, self._kwargs = tuple(args), dict(kwargs)
        self._outputs = None
        try:
            names = list(inspect.signature(function._func).parameters)
        except (TypeError, ValueError):
            names = []
        TensorSpec = _spec_cls()

        def spec_of(v, name):
            if isinstance(v, TensorSpec):
                return TensorSpec(v.shape, v.dtype, v.name or name)
            if isinstance(v, (Tensor, np.ndarray)):
                t = convert_to_tensor(v) if not isinstance(v, Tensor) else v
                return TensorSpec(t.shape, t.dtype, name)
            return v
        self._in_args = tuple(
            nest.map_structure(lambda v, n=(names[i] if i < len(names) else f"arg{i}"):
                               spec_of(v, n), a) for i, a in enumerate(self._args))
        self._in_kwargs = {k: nest.map_structure(lambda v, n=k: spec_of(v, n), v)
                           for k, v in self._kwargs.items()}

    @property
    def name(self):
        return self._function._name

    @property
    def structured_input_signature(self):
        return self._in_args, dict(self._in_kwargs)

    def _specs(self):
        TensorSpec = _spec_cls()
        flat = nest.flatten((self._in_args, self._in_kwargs))
        return [s for s in flat if isinstance(s, TensorSpec)]

    @property
    def inputs(self):
        """The tensor inputs' TensorSpecs, flat, in argument order."""
        return self._specs()

    # -- calling ------------------------------------------------------------------------
    def __call__(self, *args, **kwargs):
        TensorSpec = _spec_cls()
        name = self.name
        specs = self._specs()
        flat_in = nest.flatten((self._in_args, self._in_kwargs))
        n_fixed = len(flat_in) - len(specs)
        given = nest.flatten((args, kwargs))
        if len(given) == len(specs) and (n_fixed or not kwargs):
            # only the tensors: the fixed Python values are filled in
            it = iter(given)
            flat = [next(it) if isinstance(s, TensorSpec) else s for s in flat_in]
        elif len(given) == len(flat_in):
            flat = given
            for g, s in zip(given, flat_in):
                if not isinstance(s, TensorSpec) and not (g is s or g == s):
                    raise TypeError(f"[ConcreteFunction] {name}: argument {g!r} differs from "
                                    f"the value {s!r} this concrete function was made for")
        else:
            raise TypeError(f"[ConcreteFunction] {name} takes {len(specs)} tensor argument(s) "
                            f"{specs}, got {len(given)}")
        out = []
        k = 0
        for v, s in zip(flat, flat_in):
            if isinstance(s, TensorSpec):
                out.append(_fit_spec(name, k, v, s, op="ConcreteFunction"))
                k += 1
            else:
                out.append(v)
        a, kw = nest.pack_sequence_as((self._in_args, self._in_kwargs), out)
        res = self._function._func(*a, **kw)
        if config._state.get("run_eagerly"):
            return res
        return nest.map_structure(_output_tensor, res)

    # -- outputs (trial runs) ----------------------------------------------------------
    def _trial(self, fill):
        TensorSpec = _spec_cls()

        def make(s):
            if not isinstance(s, TensorSpec):
                return s
            if s.shape is None:
                raise TypeError(f"[ConcreteFunction] {self.name}: cannot infer outputs for an "
                                "input of unknown rank")
            shape = tuple(fill if d is None else d for d in s.shape)
            if s.dtype == _dt.string:
                return convert_to_tensor(np.full(shape, b"", dtype=object))
            return convert_to_tensor(np.zeros(shape, s.dtype._np))
        a, kw = nest.map_structure(make, (self._in_args, self._in_kwargs))
        return self._function._func(*a, **kw)

    def _infer_outputs(self):
        if self._outputs is not None:
            return self._outputs
        TensorSpec = _spec_cls()
        has_none = any(s.shape is not None and None in tuple(s.shape) for s in self._specs())
        saved_tapes = list(_tape._tapes)
        _tape._tapes.clear()
        undo = _VariableUndo()
        try:
            with undo:
                r1 = self._trial(1)
                r2 = self._trial(2) if has_none else r1
        except Exception as e:
            msg = (f"[ConcreteFunction] {self.name}: its outputs come from a trial call on "
                   f"zero inputs, which failed: {e}")
            try:
                err = type(e)(msg)
            except Exception:
                err = ValueError(msg)
            raise err from e
        finally:
            _tape._tapes.extend(saved_tapes)

        def spec(x, y):
            if isinstance(x, Tensor) or isinstance(x, (np.ndarray, np.generic, builtins.bool,
                                                       int, float)):
                tx, ty = convert_to_tensor(x), convert_to_tensor(y)
                shape = tuple(a if a == b else None
                              for a, b in zip(tx._data.shape, ty._data.shape))
                return TensorSpec(shape, tx.dtype)
            return x
        self._outputs = nest.map_structure(spec, r1, r2)
        return self._outputs

    @property
    def structured_outputs(self):
        """The outputs' structure with a TensorSpec for each tensor."""
        return self._infer_outputs()

    @property
    def outputs(self):
        TensorSpec = _spec_cls()
        return [s for s in nest.flatten(self._infer_outputs()) if isinstance(s, TensorSpec)]

    @property
    def output_shapes(self):
        TensorSpec = _spec_cls()
        return nest.map_structure(lambda s: TensorShape(s.shape) if isinstance(s, TensorSpec)
                                  else None, self._infer_outputs())

    @property
    def output_dtypes(self):
        TensorSpec = _spec_cls()
        return nest.map_structure(lambda s: s.dtype if isinstance(s, TensorSpec) else None,
                                  self._infer_outputs())

    @property
    def graph(self):
        raise AttributeError("[ConcreteFunction] nabi runs functions eagerly and builds no "
                             "graph: a ConcreteFunction has no .graph")

    def pretty_printed_signature(self, verbose=True):
        ins = ", ".join(repr(s) for s in nest.flatten(self._in_args))
        return f"{self.name}({ins})"

    def __repr__(self):
        return f"<nabi.ConcreteFunction {self.pretty_printed_signature()}>"


class _VariableUndo:
    """Restores every Variable assigned (assign / assign_add / assign_sub) inside the block:
    a trial call must not change the program's state (TF's tracing changes none)."""

    def __enter__(self):
        self._saved = {}
        self._orig = {m: getattr(Variable, m) for m in ("assign", "assign_add", "assign_sub")}
        saved = self._saved

        def wrap(orig):
            def method(var, *a, **k):
                if id(var) not in saved:
                    saved[id(var)] = (var, var._data.copy())
                return orig(var, *a, **k)
            return method
        for m, orig in self._orig.items():
            setattr(Variable, m, wrap(orig))
        return self

    def __exit__(self, *exc):
        for m, orig in self._orig.items():
            setattr(Variable, m, orig)
        for var, data in self._saved.values():
            if type(var._data) is np.ndarray and var._data.shape == data.shape:
                np.copyto(var._data, data)
            else:
                var._data = data
        return False


# ---------------------------------------------------------------------------------- helpers
def _fit_spec(name, k, value, spec, op="function"):
    """An argument checked against (and converted to) its input_signature entry."""
    TensorSpec = _spec_cls()
    if not isinstance(spec, TensorSpec):
        # the value is split as far as the signature goes: a TensorSpec takes a whole
        # sub-structure (a list of numbers for a TensorSpec([None]))
        if isinstance(spec, dict) and isinstance(value, dict) and \
                sorted(spec, key=repr) == sorted(value, key=repr):
            return type(value)((key, _fit_spec(name, k, value[key], spec[key], op))
                               for key in value)
        if isinstance(spec, (list, tuple)) and isinstance(value, (list, tuple)) and \
                len(spec) == len(value):
            vals = [_fit_spec(name, k, v, s, op) for v, s in zip(value, spec)]
            return type(value)(*vals) if hasattr(type(value), "_fields") else type(value)(vals)
        flat_v, flat_s = nest.flatten(value), nest.flatten(spec)
        if len(flat_v) != len(flat_s):
            raise TypeError(f"[{op}] {name}: argument {k} has {len(flat_v)} component(s), "
                            f"its input_signature {spec!r} {len(flat_s)}")
        return nest.pack_sequence_as(value, [_fit_spec(name, k, v, s, op)
                                             for v, s in zip(flat_v, flat_s)])
    t = value
    if not isinstance(t, Tensor):
        try:
            t = convert_to_tensor(value, dtype=spec.dtype)
        except (TypeError, ValueError) as e:
            raise TypeError(f"[{op}] {name}: argument {k} {value!r} cannot be converted to "
                            f"its input_signature {spec!r}: {e}") from None
    if not spec.is_compatible_with(t):
        raise TypeError(f"[{op}] {name}: argument {k} of shape {tuple(t.shape)} and dtype "
                        f"{t.dtype.name} does not fit its input_signature {spec!r}")
    return t


def _output_tensor(x):
    if isinstance(x, (builtins.bool, int, float, complex, np.generic, np.ndarray)):
        return convert_to_tensor(x)
    if isinstance(x, Variable):   # TF returns the value read, not the variable
        return x.read_value()
    return x


def function(func=None, input_signature=None, autograph=True, jit_compile=None,
             reduce_retracing=False, experimental_relax_shapes=None, **kwargs):
    """`tf.function`: runs the function eagerly (see `Function`)."""
    kw = dict(kwargs, autograph=autograph, jit_compile=jit_compile,
              experimental_relax_shapes=experimental_relax_shapes)
    if func is None:
        return lambda f: Function(f, input_signature, reduce_retracing, **kw)
    return Function(func, input_signature, reduce_retracing, **kw)


# ---------------------------------------------------------------------------- tf.autograph
def to_code(entity, recursive=True, experimental_optional_features=None):
    """`tf.autograph.to_code`: TF returns the converted (graph) code; nabi converts nothing,
    so this is the function's own Python source (inspect.getsource)."""
    f = entity.python_function if isinstance(entity, Function) else entity
    while isinstance(f, functools.partial):
        f = f.func
    try:
        return inspect.getsource(inspect.unwrap(f))
    except (OSError, TypeError) as e:
        raise ValueError(f"[autograph.to_code] no Python source for {entity!r}: {e}") from None


def to_graph(entity, recursive=True, experimental_optional_features=None):
    """`tf.autograph.to_graph`: nabi converts nothing; the function itself."""
    return entity.python_function if isinstance(entity, Function) else entity


def do_not_convert(func=None):
    """`tf.autograph.experimental.do_not_convert`: nabi never converts; returns `func`."""
    if func is None:
        return lambda f: f
    return func
