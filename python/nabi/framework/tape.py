"""Eager autograd: `GradientTape` with TensorFlow 2 semantics.

Every op calls `record(inputs, outputs, backward)` after computing its result. While a
tape is recording and one of `inputs` is tracked by it (watched, a trainable Variable it
reads, or the output of an op it recorded), the tape keeps a node. `gradient()` walks the
nodes in reverse order of execution (a valid topological order), so a tensor used twice
(`b = a + a`) accumulates both contributions.

Backward rules work on raw arrays:  backward(grad, needs) -> sequence of input gradients
  grad:  the gradient of the (single) output, or a list of them for multi-output ops,
         as NumPy arrays (never None: missing output gradients are filled with zeros);
  needs: a tuple of booleans, True where an input is tracked (so it may need a gradient;
         rules skip the work for the others and return None there).
"""
import numpy as np

from .device import DeviceArray

__all__ = ["GradientTape", "record", "stop_gradient", "is_recording"]

_tapes = []  # recording tapes, innermost last


def is_recording():
    return bool(_tapes)


class _Node:
    __slots__ = ("inputs", "outputs", "backward", "multi")

    def __init__(self, inputs, outputs, backward, multi):
        self.inputs = inputs
        self.outputs = outputs
        self.backward = backward
        self.multi = multi


def record(inputs, outputs, backward):
    """Records an op on every recording tape that tracks one of its inputs."""
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
            tape._nodes.append(_Node(tuple(inputs), outs, backward, multi))
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
        return tuple(t for t in self._watched if getattr(t, "_is_variable", False))

    def reset(self):
        self._tracked.clear()
        self._watched.clear()
        self._nodes.clear()

    class _StopRecording:
        def __init__(self, tape):
            self.tape = tape

        def __enter__(self):
            self.prev = self.tape._paused
            self.tape._paused = True

        def __exit__(self, *exc):
            self.tape._paused = self.prev
            return False

    def stop_recording(self):
        return GradientTape._StopRecording(self)

    def gradient(self, target, sources, output_gradients=None, unconnected_gradients="none"):
        """d(sum of targets)/d(sources), in the structure of `sources`."""
        from .tensor import Tensor
        if self._used and not self._persistent:
            raise RuntimeError("A non-persistent GradientTape can only be used to compute one set "
                               "of gradients (or jacobians); pass persistent=True for more")
        if self in _tapes and not self._persistent:
            pass  # TF allows gradient() inside the context; recording continues.
        self._used = True
        targets = _flatten(target)
        if output_gradients is None:
            ograds = [None] * len(targets)
        else:
            ograds = _flatten(output_gradients)
            if len(ograds) != len(targets):
                raise ValueError("[GradientTape.gradient] output_gradients must match target")
        grads = {}
        for t, og in zip(targets, ograds):
            if not isinstance(t, Tensor):
                raise TypeError(f"[GradientTape.gradient] target must be a Tensor, got {type(t).__name__}")
            g = _const_like(t._data, 1) if og is None else _like_target(
                og._data if isinstance(og, Tensor) else og, t._data)
            prev = grads.get(id(t))
            grads[id(t)] = g if prev is None else prev + g
        self._backprop(grads)
        if not self._persistent:
            self._nodes = []
        result = self._source_grads(grads, sources, unconnected_gradients)
        self._guard_second_order(targets, sources, result)
        return result

    def _guard_second_order(self, targets, sources, result):
        """nabi's backward rules run on raw arrays, so a gradient is not itself differentiable
        (no gradient of a gradient: WGAN-GP's penalty, Hessians by nested tapes). So that this
        is never a silent wrong answer, the gradients computed while another tape records are
        recorded on that tape as the outputs of a node whose backward rule raises: a loss
        built from them still computes, and differentiating it says why it cannot."""
        outer = [t for t in _tapes if t is not self and not t._paused]
        if not outer:
            return
        outs = [g for g in _flatten(result) if g is not None]
        if not outs:
            return
        ins = tuple(_flatten(sources)) + tuple(targets)

        def backward(g, needs):
            raise NotImplementedError(
                "[GradientTape.gradient] nabi does not compute gradients of gradients: this "
                "target depends on a gradient computed by an inner GradientTape (second-order "
                "derivatives, e.g. a WGAN-GP gradient penalty or a Hessian by nested tapes, "
                "are not supported yet; GradientTape.jacobian gives first-order jacobians)")
        node = _Node(ins, tuple(outs), backward, True)
        for tape in outer:
            if any(id(x) in tape._tracked for x in ins):
                tape._nodes.append(node)
                for o in outs:
                    tape._tracked[id(o)] = o

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
            needs = tuple(id(x) in tracked for x in node.inputs)
            in_grads = node.backward(g_arg, needs)
            for x, g, need in zip(node.inputs, in_grads, needs):
                if g is None or not need:
                    continue
                k = id(x)
                prev = grads.get(k)
                grads[k] = g if prev is None else prev + g

    def _source_grads(self, grads, sources, unconnected_gradients):
        from .tensor import _wrap
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
        self._used = True
        rows = []
        for seed in seeds:
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
        arrs = [r[0]._data.reshape((B, 1, -1)) for r in rows]
        shape = tuple(t._data.shape) + tuple(source._data.shape[1:])
        if not arrs:
            return _wrap(np.zeros(shape, source._data.dtype))
        cat = np.concatenate(arrs, axis=1)
        return _wrap(cat.reshape(shape))


def _flatten(x):
    if isinstance(x, (list, tuple)):
        out = []
        for v in x:
            out.extend(_flatten(v))
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
