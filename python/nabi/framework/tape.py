"""Eager autograd: `GradientTape` with TensorFlow 2 semantics.

Every op calls `record(inputs, outputs, backward, backward_t=None, op=None)` after computing
its result. While a tape is recording and one of `inputs` is tracked by it (watched, a
trainable Variable it reads, or the output of an op it recorded), the tape keeps a node.
`gradient()` walks the nodes in reverse order of execution (a valid topological order), so a
tensor used twice (`b = a + a`) accumulates both contributions.

Two backward rules per op:
  backward(grad, needs) -> sequence of input gradients, on raw arrays (the fast path):
    grad:  the gradient of the (single) output, or a list of them for multi-output ops,
           as arrays (never None: missing output gradients are filled with zeros);
    needs: a tuple of booleans, True where an input is tracked (so it may need a gradient;
           rules skip the work for the others and return None there).
  backward_t(grad, needs) -> the same, written with nabi ops on Tensors (optional).

Gradients of gradients. When `gradient()` runs while another tape records (nested tapes:
WGAN-GP's gradient penalty, Hessians, PINN second derivatives), or inside its own context
when persistent, it walks the nodes with their `backward_t` rules: the ops computing the
gradient record on the recording tapes like any other op, so the gradient is itself
differentiable. A node without a Tensor rule still gives its (raw) gradient, recorded as the
output of a node whose backward raises NotImplementedError naming the op: a loss built from
it computes, and differentiating it says which op lacks a second-order rule (never a silent
wrong answer). With no other tape recording, the raw path runs, unchanged.
"""
import numpy as np

from .device import DeviceArray

__all__ = ["GradientTape", "record", "stop_gradient", "is_recording"]

_tapes = []  # recording tapes, innermost last


def is_recording():
    return bool(_tapes)


class _Node:
    __slots__ = ("inputs", "outputs", "backward", "multi", "backward_t", "op")

    def __init__(self, inputs, outputs, backward, multi, backward_t=None, op=None):
        self.inputs = inputs
        self.outputs = outputs
        self.backward = backward
        self.multi = multi
        self.backward_t = backward_t
        self.op = op


def record(inputs, outputs, backward, backward_t=None, op=None):
    """Records an op on every recording tape that tracks one of its inputs. `backward_t`, the
    rule on Tensors, makes the op twice differentiable; `op` names it in errors."""
    if not _tapes:
        return
    multi = isinstance(outputs, (list, tuple))
    outs = tuple(outputs) if multi else (outputs,)
    for tape in _tapes:
        if tape._paused:
            continue
        tracked = tape._tracked
        hit = False
        for x in inputs:
            if id(x) in tracked:
                hit = True
            elif tape._watch_vars and getattr(x, "trainable", False) and x._is_variable:
                tape._watch_one(x)
                hit = True
        if hit:
            tape._nodes.append(_Node(tuple(inputs), outs, backward, multi, backward_t, op))
            for o in outs:
                tracked[id(o)] = o


class GradientTape:
    """Records operations for automatic differentiation (TF2 `tf.GradientTape`)."""

    def __init__(self, persistent=False, watch_accessed_variables=True):
        self._persistent = persistent
        self._watch_vars = watch_accessed_variables
        self._tracked = {}
        self._watched = []
        self._nodes = []
        self._paused = False
        self._used = False
        self._entered = False

    def __enter__(self):
        if self in _tapes:
            raise ValueError("[GradientTape] the tape is still recording: a tape cannot be "
                             "re-entered while active")
        self._entered = True
        _tapes.append(self)
        return self

    def __exit__(self, *exc):
        if self in _tapes:
            _tapes.remove(self)
        return False

    def _watch_one(self, t):
        if id(t) not in self._tracked:
            self._tracked[id(t)] = t
            self._watched.append(t)

    def watch(self, tensor):
        """Makes the tape track `tensor` (a Tensor, Variable or a nest of them)."""
        from .tensor import Tensor
        for t in _flatten(tensor):
            if not isinstance(t, Tensor):
                raise TypeError(f"[GradientTape.watch] expected a Tensor or Variable, got {type(t).__name__}")
            if t._data.dtype.kind not in "fc":
                # TF logs this warning too; the gradient with respect to t will be None
                import warnings
                warnings.warn(f"[GradientTape.watch] the dtype of the watched tensor must be "
                              f"floating (e.g. float32), got {t.dtype.name}: its gradient "
                              f"is None", stacklevel=2)
            self._watch_one(t)

    def watched_variables(self):
        """The watched variables in order of creation (as TF)."""
        return tuple(sorted((t for t in self._watched if getattr(t, "_is_variable", False)),
                            key=lambda v: getattr(v, "_uid", 0)))

    def reset(self):
        self._tracked.clear()
        self._watched.clear()
        self._nodes.clear()

    class _StopRecording:
        def __init__(self, tape):
            self.tape = tape

        def __enter__(self):
            if self.tape not in _tapes:
                raise RuntimeError("[GradientTape.stop_recording] the tape is not recording "
                                   "(use it inside the tape's `with` block)")
            self.prev = self.tape._paused
            self.tape._paused = True

        def __exit__(self, *exc):
            self.tape._paused = self.prev
            return False

    def stop_recording(self):
        return GradientTape._StopRecording(self)

    def gradient(self, target, sources, output_gradients=None, unconnected_gradients="none"):
        """d(sum of targets)/d(sources), in the structure of `sources`."""
        Tensor = _tensor_module().Tensor
        if self._used and not self._persistent:
            raise RuntimeError("A non-persistent GradientTape can only be used to compute one set "
                               "of gradients (or jacobians); pass persistent=True for more")
        if self in _tapes and not self._persistent:
            pass  # TF allows gradient() inside the context; recording continues.
        if unconnected_gradients != "none":
            unconnected_gradients = _unconnected(unconnected_gradients)
        self._used = True
        targets = _flatten(target)
        if output_gradients is None:
            ograds = [None] * len(targets)
        else:
            ograds = _flatten(output_gradients)
            if len(ograds) != len(targets):
                raise ValueError("[GradientTape.gradient] output_gradients must match target")
        higher = _tapes_gradients(self)
        grads = {}
        for t, og in zip(targets, ograds):
            if not isinstance(t, Tensor):
                raise TypeError(f"[GradientTape.gradient] target must be a Tensor, got {type(t).__name__}")
            if higher:
                g = _seed_t(t, og)
                prev = grads.get(id(t))
                grads[id(t)] = g if prev is None else prev + g
                continue
            g = _const_like(t._data, 1) if og is None else _like_target(
                og._data if isinstance(og, Tensor) else og, t._data)
            prev = grads.get(id(t))
            grads[id(t)] = g if prev is None else prev + g
        if higher:
            self._backprop_t(grads)
        else:
            self._backprop(grads)
        if not self._persistent:
            self._nodes = []
        if higher:
            return self._source_grads_t(grads, sources, unconnected_gradients)
        return self._source_grads(grads, sources, unconnected_gradients)

    def _backprop_t(self, grads):
        """`_backprop` with the Tensor rules: grads maps id -> Tensor, and the ops computing
        the gradients record on the recording tapes (gradients of gradients). A node without
        a Tensor rule gives its raw gradient through `_untaped_grads`."""
        tracked = self._tracked
        for node in reversed(list(self._nodes)):  # a snapshot: this tape may record too
            outs = node.outputs
            if node.multi:
                gs = [grads.get(id(o)) for o in outs]
                if all(g is None for g in gs):
                    continue
                g_arg = [_zeros_t(o) if g is None else g for o, g in zip(outs, gs)]
            else:
                g_arg = grads.get(id(outs[0]))
                if g_arg is None:
                    continue
            needs = tuple(id(x) in tracked for x in node.inputs)
            if node.backward_t is not None:
                in_grads = node.backward_t(g_arg, needs)
            else:
                in_grads = _untaped_grads(node, g_arg, needs)
            for x, g, need in zip(node.inputs, in_grads, needs):
                if g is None or not need:
                    continue
                k = id(x)
                prev = grads.get(k)
                grads[k] = g if prev is None else prev + g

    def _source_grads_t(self, grads, sources, unconnected_gradients):
        from .tensor import _wrap
        from ..ops import array_ops, math_ops
        out = []
        for s in _flatten(sources):
            g = grads.get(id(s))
            if g is None:
                if unconnected_gradients in ("zero", "ZERO") or \
                        getattr(unconnected_gradients, "value", None) == "zero":
                    out.append(_wrap(_full_like(s._data, 0)))
                else:
                    out.append(None)
                continue
            if id(g._data) in _CONST_VALUE:  # the shared seed itself (source is target)
                g = _wrap(_full_like(g._data, _CONST_VALUE[id(g._data)]))
            if g._data.dtype != s._data.dtype:
                g = math_ops.cast(g, s._data.dtype)
            if g._data.shape != s._data.shape:
                g = array_ops.broadcast_to(g, s._data.shape)
            out.append(g)
        return _pack_like(sources, out)

    def _backprop(self, grads):
        """Walks the recorded nodes backwards from the seeds in `grads` (id -> array),
        accumulating every tracked tensor's gradient into `grads`; keeps the nodes."""
        tracked = self._tracked
        for node in reversed(self._nodes):
            outs = node.outputs
            if node.multi:
                gs = [grads.get(id(o)) for o in outs]
                if all(g is None for g in gs):
                    continue
                g_arg = [_const_like(o._data, 0) if g is None else g
                         for o, g in zip(outs, gs)]
            else:
                g_arg = grads.get(id(outs[0]))
                if g_arg is None:
                    continue
            needs = tuple([id(x) in tracked for x in node.inputs])
            in_grads = node.backward(g_arg, needs)
            for x, g, need in zip(node.inputs, in_grads, needs):
                if g is None or not need:
                    continue
                k = id(x)
                prev = grads.get(k)
                grads[k] = g if prev is None else prev + g

    def _source_grads(self, grads, sources, unconnected_gradients):
        _wrap = _tensor_module()._wrap
        flat_sources = _flatten(sources)
        out = []
        for s in flat_sources:
            g = grads.get(id(s))
            if g is None:
                if unconnected_gradients in ("zero", "ZERO") or getattr(unconnected_gradients, "value", None) == "zero":
                    g = _full_like(s._data, 0)
                else:
                    out.append(None)
                    continue
            c = _CONST_VALUE.get(id(g))
            if c is not None:  # a shared constant itself (the source is the target): a copy
                g = _full_like(g, c)
            g = _like_target(g, s._data)
            if g.shape != s._data.shape:
                g = np.broadcast_to(g, s._data.shape).copy()
            if g.dtype != s._data.dtype:
                g = g.astype(s._data.dtype)
            out.append(_wrap(g))
        if type(sources) is list and len(flat_sources) == len(sources) and \
                all(f is s for f, s in zip(flat_sources, sources)):
            return out  # a flat list of sources (a train step's variables): no repacking
        return _pack_like(sources, out)

    def _rows(self, op, target, seeds, sources, unconnected_gradients):
        """One backward pass per seed array (same shape as target): the gradients of every
        flat source, per pass. Nodes are kept until the last pass."""
        from .tensor import Tensor
        if self._used and not self._persistent:
            raise RuntimeError("A non-persistent GradientTape can only be used to compute one "
                               "set of gradients (or jacobians); pass persistent=True for more")
        if not isinstance(target, Tensor):
            raise TypeError(f"[GradientTape.{op}] target must be a Tensor, got "
                            f"{type(target).__name__}")
        unconnected_gradients = _unconnected(unconnected_gradients)
        self._used = True
        rows = []
        higher = _tapes_gradients(self)
        for seed in seeds:
            if higher:  # a jacobian of something a recording tape differentiates again
                from .tensor import _wrap
                grads = {id(target): _wrap(_like_target(seed, target._data))}
                self._backprop_t(grads)
                rows.append(_flatten(self._source_grads_t(grads, sources,
                                                          unconnected_gradients)))
                continue
            grads = {id(target): seed}
            self._backprop(grads)
            rows.append(_flatten(self._source_grads(grads, sources, unconnected_gradients)))
        if not self._persistent:
            self._nodes = []
        return rows

    def jacobian(self, target, sources, unconnected_gradients="none", parallel_iterations=None,
                 experimental_use_pfor=True):
        """d target[i...] / d source[j...] for every pair: a tensor of shape target.shape +
        source.shape per source (None for an unconnected source), in the structure of
        `sources`. One backward pass per element of the target (so it suits small targets:
        Hessian-free tutorials, sensitivity maps)."""
        from .tensor import _wrap
        t = target
        n = int(np.prod(t._data.shape)) if hasattr(t, "_data") else 0
        host = type(getattr(t, "_data", None)) is np.ndarray

        def seed(i):
            e = np.zeros(t._data.shape, t._data.dtype)
            e.reshape(-1)[i] = 1
            return e if host else _like_target(e, t._data)
        flat_sources = _flatten(sources)
        rows = self._rows("jacobian", target, (seed(i) for i in range(n)), sources,
                          unconnected_gradients)
        out = []
        for k, s in enumerate(flat_sources):
            col = [r[k] for r in rows]
            if n and col[0] is None:
                out.append(None)
                continue
            shape = tuple(t._data.shape) + tuple(s._data.shape)
            if n == 0:
                out.append(_wrap(np.zeros(shape, s._data.dtype)))
                continue
            if any(_tape_tracks(c) for c in col):  # keep the rows differentiable
                from ..ops import array_ops
                out.append(array_ops.reshape(array_ops.stack(col), shape))
                continue
            arrs = [c._data for c in col]
            stacked = np.stack(arrs)          # NumPy or the device arrays' np.stack
            out.append(_wrap(stacked.reshape(shape)))
        return _pack_like(sources, out)

    def batch_jacobian(self, target, source, unconnected_gradients="none",
                       parallel_iterations=None, experimental_use_pfor=True):
        """For a target (B, ...) whose example b depends only on source[b] (B, ...): the
        per-example jacobians, shape (B,) + target.shape[1:] + source.shape[1:]. One backward
        pass per element of an example's target (all examples at once)."""
        from .tensor import _wrap
        t = target
        if t._data.ndim < 1 or source._data.ndim < 1 or \
                t._data.shape[0] != source._data.shape[0]:
            raise ValueError(f"[GradientTape.batch_jacobian] target {tuple(t._data.shape)} and "
                             f"source {tuple(source._data.shape)} must share the first (batch) "
                             "axis")
        B = int(t._data.shape[0])
        inner = int(np.prod(t._data.shape[1:]))
        host = type(t._data) is np.ndarray

        def seed(j):
            e = np.zeros((B, inner), t._data.dtype)
            e[:, j] = 1
            e = e.reshape(t._data.shape)
            return e if host else _like_target(e, t._data)
        rows = self._rows("batch_jacobian", target, (seed(j) for j in range(inner)), source,
                          unconnected_gradients)
        if inner and rows[0][0] is None:
            return None
        shape = tuple(t._data.shape) + tuple(source._data.shape[1:])
        if rows and any(_tape_tracks(r[0]) for r in rows):  # keep the rows differentiable
            from ..ops import array_ops
            cat = array_ops.concat([array_ops.reshape(r[0], (B, 1, -1)) for r in rows], 1)
            return array_ops.reshape(cat, shape)
        arrs = [r[0]._data.reshape((B, 1, -1)) for r in rows]
        if not arrs:
            return _wrap(np.zeros(shape, source._data.dtype))
        cat = np.concatenate(arrs, axis=1)
        return _wrap(cat.reshape(shape))


def _unconnected(u):
    """'none' or 'zero' from a string or tf.UnconnectedGradients; anything else raises."""
    v = getattr(u, "value", u)
    if isinstance(v, str) and v.lower() in ("none", "zero"):
        return v.lower()
    raise ValueError(f"[GradientTape] unknown value for unconnected_gradients: {u!r} (use "
                     "tf.UnconnectedGradients.NONE / ZERO or 'none' / 'zero')")


def _tapes_gradients(tape):
    """Whether tape.gradient() must record its own computation: another tape records, or
    this one does (inside its context) and is persistent, so it may differentiate again."""
    for t in _tapes:
        if not t._paused and (t is not tape or tape._persistent):
            return True
    return False


def _tape_tracks(t):
    return any(id(t) in tape._tracked for tape in _tapes)


def _seed_t(t, og):
    """The seed of a Tensor backward pass: ones, or the given output gradient (a Tensor
    stays one, so the result is differentiable with respect to it too)."""
    from .tensor import Tensor, _wrap
    if og is None:
        return _wrap(_const_like(t._data, 1))
    if isinstance(og, Tensor):
        if og._data.shape != t._data.shape or og._data.dtype != t._data.dtype or \
                type(og._data) is not type(t._data):
            from ..ops import array_ops, math_ops
            if type(og._data) is not type(t._data):
                og = _wrap(_like_target(og._data, t._data))
            if og._data.dtype != t._data.dtype:
                og = math_ops.cast(og, t._data.dtype)
            if og._data.shape != t._data.shape:
                og = array_ops.broadcast_to(og, t._data.shape)
        return og
    return _wrap(_like_target(og, t._data))


def _zeros_t(o):
    from .tensor import _wrap
    return _wrap(_const_like(o._data, 0))


def _op_name(node):
    if node.op:
        return node.op
    q = getattr(node.backward, "__qualname__", "") or "?"
    return q.split(".<locals>")[0].lstrip("_") or q


def _untaped_grads(node, g_arg, needs):
    """A node without a Tensor rule, met by a backward pass that records: its gradients from
    the raw rule, recorded as the outputs of a node whose own backward raises (naming the op),
    so differentiating them again fails loudly instead of missing their contribution."""
    from .tensor import _wrap
    raw = [g._data for g in g_arg] if node.multi else g_arg._data
    res = node.backward(raw, needs)
    out = [None if (g is None or not need) else _wrap(g) for g, need in zip(res, needs)]
    made = [g for g in out if g is not None]
    if made:
        name = _op_name(node)

        def backward(g, n):
            raise NotImplementedError(
                f"[GradientTape.gradient] the op '{name}' has no second-order gradient rule: "
                f"a gradient that flowed through '{name}' (computed by a GradientTape while "
                "another tape recorded) cannot be differentiated again")
        ups = list(g_arg) if node.multi else [g_arg]
        record(tuple(node.inputs) + tuple(ups), made, backward, backward, name)
    return out


_TENSOR_MODULE = []


def _tensor_module():
    """framework.tensor (which imports this module), imported once."""
    if not _TENSOR_MODULE:
        from . import tensor
        _TENSOR_MODULE.append(tensor)
    return _TENSOR_MODULE[0]


def _flatten(x):
    if isinstance(x, (list, tuple)):
        out = []
        for v in x:
            if isinstance(v, (list, tuple, dict)):
                out.extend(_flatten(v))
            else:
                out.append(v)  # a leaf (a variable list's usual item): no call
        return out
    if isinstance(x, dict):
        out = []
        for k in sorted(x):
            out.extend(_flatten(x[k]))
        return out
    return [x]


def _pack_like(structure, flat):
    return _pack(structure, iter(flat))


def _pack(s, it):
    # Module-level recursion, not a nested closure: a self-referencing closure would form a
    # reference cycle that keeps every returned gradient alive until the cyclic GC runs.
    if isinstance(s, (list, tuple)):
        vals = [_pack(v, it) for v in s]
        if hasattr(type(s), "_fields"):      # a namedtuple of sources: the same namedtuple
            return type(s)(*vals)
        return vals if isinstance(s, list) else tuple(vals)
    if isinstance(s, dict):
        return {k: _pack(s[k], it) for k in sorted(s)}
    return next(it)


def stop_gradient(x, name=None):
    """Returns `x` as a new tensor that no tape looks through."""
    from .tensor import convert_to_tensor, _wrap
    x = convert_to_tensor(x)
    return _wrap(x._data)


_CONSTS = {}       # (array type, buffer type, dtype, shape, value) -> a read-only array
_CONST_VALUE = {}  # id of each array in _CONSTS -> its value (the cache keeps them alive)


def _const_like(a, value):
    """An array of a's shape, dtype and device filled with value, shared by every gradient()
    call: the seed d(target)/d(target) = 1 and the zero gradients of a multi-output op's unused
    outputs are made once, not filled (a kernel launch on the GPU) at every training step.
    Backward rules never write into their incoming gradients, and a NumPy one is read-only."""
    # the buffer's type tells the backends apart (the CUDA one, the emulator's)
    key = (type(a), type(getattr(a, "buf", None)), a.dtype, a.shape, value)
    c = _CONSTS.get(key)
    if c is None:
        if len(_CONSTS) >= 64:
            _CONSTS.clear()
            _CONST_VALUE.clear()
        c = _full_like(a, value)
        if type(c) is np.ndarray:
            c.flags.writeable = False
        _CONSTS[key] = c
        _CONST_VALUE[id(c)] = value
    return c


def is_unit_seed(g):
    """Whether g is the shared seed of ones (a backward rule may then skip multiplying by it)."""
    return _CONST_VALUE.get(id(g)) == 1


def _full_like(a, value):
    """An array of a's shape and dtype filled with value, on a's device."""
    if type(a) is DeviceArray:
        return DeviceArray.full(a.shape, value, a.dtype)
    return np.full(a.shape, value, a.dtype)


def _like_target(g, a):
    """g as an array of a's dtype on a's device."""
    if type(a) is DeviceArray:
        if type(g) is not DeviceArray:
            g = DeviceArray.from_numpy(np.asarray(g, dtype=a.dtype))
        return g if g.dtype == a.dtype else g.astype(a.dtype)
    if type(g) is DeviceArray:
        raise ValueError(f"[GradientTape.gradient] a gradient of shape {g.shape} on cuda:0 for a "
                         "tensor on the CPU")
    return np.asarray(g, dtype=a.dtype)
