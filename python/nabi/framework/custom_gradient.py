"""`tf.custom_gradient`: a function that defines its own gradient.

    @tf.custom_gradient
    def clip_grad(x):
        def grad(upstream):
            return tf.clip_by_value(upstream, -1.0, 1.0)
        return tf.identity(x), grad

The decorated function runs with the recording tapes paused (its inner ops leave no nodes);
one node is recorded instead, from its tensor arguments (and the trainable variables it
read) to fresh output tensors, whose backward rule calls `grad_fn` on the output gradients
(as Tensors) and takes its results as the inputs' gradients. When the function reads
trainable variables, `grad_fn` must accept `variables=` and return
(input gradients, variable gradients), as in TF. Gradients of gradients: when the gradient
is itself differentiated (nested tapes), `grad_fn` runs with the tapes recording, so its ops
are differentiated as TF does; values it captured from inside `f` (which ran with the tapes
paused) are constants there, as in TF.
"""
import functools
import inspect

from . import tape as _tape

__all__ = ["custom_gradient"]


def _accepts_variables(fn):
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return True
    return any(p.name == "variables" or p.kind is p.VAR_KEYWORD for p in params)


def _grad_array(op, g, like, what):
    """A returned gradient as an array of `like`'s shape and device (None stays None)."""
    from .tensor import Tensor, convert_to_tensor
    if g is None:
        return None
    t = g if isinstance(g, Tensor) else convert_to_tensor(g, dtype=like.dtype)
    a = t._data
    if tuple(a.shape) != tuple(like.shape):
        raise ValueError(f"[custom_gradient] {op}'s gradient function returned a gradient of "
                         f"shape {tuple(a.shape)} for {what} of shape {tuple(like.shape)}")
    if a.dtype != like.dtype:
        a = a.astype(like.dtype)
    return a


def _grad_tensor(op, g, like, what):
    """A returned gradient as a Tensor of `like`'s shape, dtype and device (None stays None)."""
    from .tensor import Tensor, _wrap
    if g is None:
        return None
    if not isinstance(g, Tensor):
        return _wrap(_grad_array(op, g, like._data, what))
    if type(g._data) is not type(like._data):
        g = _wrap(_tape._like_target(g._data, like._data))
    if tuple(g._data.shape) != tuple(like._data.shape):
        raise ValueError(f"[custom_gradient] {op}'s gradient function returned a gradient of "
                         f"shape {tuple(g._data.shape)} for {what} of shape "
                         f"{tuple(like._data.shape)}")
    if g._data.dtype != like._data.dtype:
        from ..ops.math_ops import cast
        g = cast(g, like._data.dtype)
    return g


def custom_gradient(f=None):
    """Decorator: `f(*args)` returns `(y, grad_fn)`; see the module docstring."""
    if f is None:
        return custom_gradient
    name = getattr(f, "__name__", "function")

    @functools.wraps(f)
    def wrapped(*args, **kwargs):
        from .tensor import Tensor, _wrap, convert_to_tensor
        args = [a if isinstance(a, Tensor) else convert_to_tensor(a) for a in args]
        outer = list(_tape._tapes)
        paused = [t._paused for t in outer]
        probe = _tape.GradientTape()        # only notes the trainable variables f reads
        for t in outer:
            t._paused = True
        try:
            with probe:
                result = f(*args, **kwargs)
        finally:
            for t, p in zip(outer, paused):
                t._paused = p
        if not (isinstance(result, (tuple, list)) and len(result) == 2 and callable(result[1])):
            raise TypeError(f"[custom_gradient] {name} must return a pair (outputs, grad_fn), "
                            f"got {type(result).__name__}")
        y, grad_fn = result
        ids = {id(a) for a in args}
        variables = [v for v in probe.watched_variables() if id(v) not in ids]
        if variables and not _accepts_variables(grad_fn):
            raise TypeError(f"[custom_gradient] {name} reads trainable variables "
                            f"{[v.name for v in variables]}, so its gradient function must "
                            "accept a keyword argument `variables` and return (input "
                            "gradients, variable gradients)")
        flat_y = _tape._flatten(y)
        for o in flat_y:
            if not isinstance(o, Tensor):
                raise TypeError(f"[custom_gradient] {name}'s outputs must be Tensors, got "
                                f"{type(o).__name__}")
        outs = [_wrap(o._data) for o in flat_y]
        multi = len(outs) > 1
        if not _tape._tapes:
            return _tape._pack_like(y, outs)

        def call_grad(upstream):
            if variables:
                res = grad_fn(*upstream, variables=variables)
                if not (isinstance(res, (tuple, list)) and len(res) == 2):
                    raise TypeError(f"[custom_gradient] {name}'s gradient function must "
                                    "return (input gradients, variable gradients) when "
                                    "the function reads variables")
                gin, gvar = res
                gvar = list(gvar) if isinstance(gvar, (tuple, list)) else [gvar]
            else:
                gin, gvar = grad_fn(*upstream), []
            gin = list(gin) if isinstance(gin, (tuple, list)) else [gin]
            if len(gin) != len(args):
                raise ValueError(f"[custom_gradient] {name} has {len(args)} tensor "
                                 f"argument(s) but its gradient function returned "
                                 f"{len(gin)} gradient(s)")
            if len(gvar) != len(variables):
                raise ValueError(f"[custom_gradient] {name} read {len(variables)} variable(s) "
                                 f"but its gradient function returned {len(gvar)} variable "
                                 "gradient(s)")
            return gin, gvar

        def backward(g, needs):
            gs = list(g) if multi else [g]
            saved = [t._paused for t in _tape._tapes]
            for t in _tape._tapes:
                t._paused = True
            try:
                gin, gvar = call_grad([_wrap(a) for a in gs])
            finally:
                for t, p in zip(_tape._tapes, saved):
                    t._paused = p
            res = [_grad_array(name, gi, a._data, f"argument {i}")
                   for i, (gi, a) in enumerate(zip(gin, args))]
            res += [_grad_array(name, gv, v._data, f"variable {v.name}")
                    for gv, v in zip(gvar, variables)]
            return res

        def backward_t(g, needs):  # grad_fn's ops record: its result is differentiable
            gin, gvar = call_grad(list(g) if multi else [g])
            res = [_grad_tensor(name, gi, a, f"argument {i}")
                   for i, (gi, a) in enumerate(zip(gin, args))]
            res += [_grad_tensor(name, gv, v, f"variable {v.name}")
                    for gv, v in zip(gvar, variables)]
            return res

        _tape.record(list(args) + variables, outs if multi else outs[0], backward, backward_t,
                     name)
        return _tape._pack_like(y, outs)

    return wrapped
