"""`Session`: evaluates the subgraph that the fetches need, eagerly, with per-session variables.

Devices: a run happens on the current device (the GPU when one is available, as TF places ops):
fed values (host data) are placed there, an op output that an op left on the host (a constant,
zeros, a random draw) is moved there, and variables live there. Fetched values come back as
NumPy arrays (copied from the device), as TF's Session.run returns them.
An op created under `tf.device(...)` runs on that device instead (inside a nabi.device scope),
and an op that changes a variable runs where the variable lives (TF colocates them). Where an
op's input lives on the other device, the input is copied (TF's implicit copies between
devices; gradients flow back through the copy). A GPU that is not available is an error at run
time, or the CPU with ConfigProto(allow_soft_placement=True).

Scheduling: the needed ops run in a topological order in which pure ops come before stateful
ones (assignments, optimizer updates, initialisers) whenever dependencies allow. So a fetch such
as `[train_op, loss]` sees the loss from before the update (as in TF), and every gradient of a
run is computed (from one GradientTape that recorded the run) before any variable changes.
"""
import contextlib
import heapq

import numpy as np

from ... import dtypes as _dt
from ...framework.device import (DeviceArray, current_device, gpu_available, pop_device,
                                 push_device, require_gpu, to_device)
from ...framework.tape import GradientTape, record
from ...framework.tensor import (Tensor as EagerTensor, Variable as EagerVariable, _wrap,
                                 convert_to_tensor)
from . import errors
from .graph import (DEVICE_KINDS, Operation, Tensor, UnknownShape, _fmt_shape, get_default_graph,
                    graph_label)

__all__ = ["Session", "InteractiveSession", "get_default_session"]

_default_session_stack = []


def get_default_session():
    return _default_session_stack[-1] if _default_session_stack else None


def _session_for(session, graph, what):
    s = session if session is not None else get_default_session()
    if s is None:
        raise ValueError(f"[{what}] no default session is registered: use `with tf.Session():`, "
                         "tf.InteractiveSession(), or pass session=")
    if s.graph is not graph:
        raise ValueError(f"[{what}] the session's graph ({graph_label(s.graph)}) is not the "
                         f"graph of the tensor/op ({graph_label(graph)})")
    return s


def _flatten_fetches(fetches, out):
    """Flattens a nest of lists/tuples/namedtuples/dicts; returns a rebuild function."""
    if isinstance(fetches, dict):
        keys = list(fetches)
        subs = [_flatten_fetches(fetches[k], out) for k in keys]
        typ = type(fetches)

        def rebuild(it):
            d = {k: s(it) for k, s in zip(keys, subs)}
            try:
                return typ(d)
            except Exception:  # noqa: BLE001
                return d
        return rebuild
    if isinstance(fetches, (list, tuple)):
        subs = [_flatten_fetches(v, out) for v in fetches]
        if isinstance(fetches, tuple) and hasattr(fetches, "_fields"):
            return lambda it: type(fetches)(*[s(it) for s in subs])
        if isinstance(fetches, tuple):
            return lambda it: tuple(s(it) for s in subs)
        return lambda it: [s(it) for s in subs]
    out.append(fetches)
    return lambda it: next(it)


@contextlib.contextmanager
def _on(kind):
    push_device(kind)
    try:
        yield
    finally:
        pop_device()


_HERE = contextlib.nullcontext()


def _moved(v, kind, keep_variables):
    """v on device `kind`: itself when it is there, else a copy recorded on the tapes (so that
    gradients flow back to v's device). A stateful op gets variables as they are (references)."""
    a = v._data
    src = "cuda" if type(a) is DeviceArray else "cpu"
    if src == kind or a.dtype.kind not in "biuf" or keep_variables and isinstance(v, EagerVariable):
        return v
    out = _wrap(to_device(a, kind))
    record((v,), out, lambda g, needs: (to_device(g, src),))
    return out


class Session:
    """`tf.Session(target='', graph=None, config=None)`. Variable values live in the session."""

    def __init__(self, target="", graph=None, config=None):
        self.graph = graph if graph is not None else get_default_graph()
        self._vars = {}        # variable op -> eager nabi.Variable
        self._state = {}       # optimizer slots etc., keyed by (owner id, key)
        self._uploads = {}     # Const op -> (its host value, that value on the run device)
        self._soft_placement = bool(getattr(config, "allow_soft_placement", False))
        self._closed = False
        self._ctx = None

    @property
    def sess_str(self):
        return ""

    # -- context ---------------------------------------------------------------------------
    def __enter__(self):
        self._ctx = self.graph.as_default()
        self._ctx.__enter__()
        _default_session_stack.append(self)
        return self

    def __exit__(self, *exc):
        if self in _default_session_stack:
            _default_session_stack.remove(self)
        if self._ctx is not None:
            self._ctx.__exit__(*exc)
            self._ctx = None
        self.close()
        return False

    @contextlib.contextmanager
    def as_default(self):
        _default_session_stack.append(self)
        try:
            with self.graph.as_default():
                yield self
        finally:
            if self in _default_session_stack:
                _default_session_stack.remove(self)

    def close(self):
        self._closed = True
        self._vars.clear()
        self._state.clear()
        self._uploads.clear()

    def list_devices(self):
        return []

    # -- run -------------------------------------------------------------------------------
    def _element(self, f, what):
        if isinstance(f, EagerTensor):
            raise TypeError(f"[Session.{what}] got an eager nabi.Tensor; a session runs graph "
                            "tensors and ops (nabi.compat.v1)")
        if isinstance(f, str):
            f = self.graph.as_graph_element(f)
        if not isinstance(f, (Tensor, Operation)):
            raise TypeError(f"[Session.{what}] fetch argument {f!r} has invalid type "
                            f"{type(f).__name__}; must be a graph Tensor, an Operation or a "
                            "tensor name")
        if f.graph is not self.graph:
            raise ValueError(f"[Session.{what}] {type(f).__name__} {f.name!r} is not an element of "
                             f"this session's graph ({graph_label(self.graph)}; it belongs to "
                             f"{graph_label(f.graph)})")
        return f

    def _convert_feed(self, t, v):
        if isinstance(v, (Tensor, Operation)):
            raise TypeError(f"The value of a feed cannot be a tf.Tensor object ({t.name}); feed "
                            "NumPy arrays, Python numbers or lists")
        if isinstance(v, EagerTensor):
            v = v.numpy()
        dt = t.dtype
        if dt == _dt.string:
            arr = np.asarray(v, dtype=object)
        else:
            try:
                arr = np.asarray(v)
                if arr.dtype != dt._np:
                    arr = arr.astype(dt._np)
            except (TypeError, ValueError) as e:
                raise TypeError(f"Cannot feed value {v!r} for Tensor {t.name!r} of dtype "
                                f"{dt.name}: {e}") from None
        shp = t.shape
        if not isinstance(shp, UnknownShape):
            if arr.ndim != len(shp) or any(d is not None and d != a for d, a in zip(shp, arr.shape)):
                raise ValueError(f"Cannot feed value of shape {tuple(arr.shape)} for Tensor "
                                 f"{t.name!r}, which has shape '{_fmt_shape(shp)}'")
        return convert_to_tensor(np.asarray(arr, order="C") if arr.dtype != object else arr)

    def run(self, fetches, feed_dict=None, options=None, run_metadata=None):
        if self._closed:
            raise RuntimeError("Attempted to use a closed Session.")
        flat = []
        rebuild = _flatten_fetches(fetches, flat)
        flat = [self._element(f, "run") for f in flat]
        feeds = {}
        dev = current_device()
        for k, v in (feed_dict or {}).items():
            if isinstance(k, EagerTensor):
                raise TypeError("[Session.run] feed_dict keys must be graph tensors (or names), "
                                "got an eager nabi.Tensor")
            k = self._element(k, "run feed_dict")
            if isinstance(k, Operation):
                raise TypeError(f"[Session.run] cannot feed an Operation ({k.name})")
            kind = self._placement(k.op, dev)
            with _on(kind) if kind != dev else _HERE:
                feeds[k] = self._convert_feed(k, v)
        values = self._execute(flat, feeds)
        out = []
        live = None
        for f in flat:
            if isinstance(f, Operation):
                out.append(None)
                continue
            a = values[f]._data
            if type(a) is DeviceArray:
                a = a.get()            # the fetch boundary: a host copy
            else:
                if live is None:
                    live = [b for b in (v._data for v in self._vars.values())
                            if type(b) is np.ndarray]
                if any(np.may_share_memory(a, b) for b in live):
                    a = a.copy()
            if a.dtype == object:
                a = np.vectorize(lambda s: s.encode() if isinstance(s, str) else s,
                                 otypes=[object])(a) if a.size else a
            out.append(a[()] if a.ndim == 0 else a)
        return rebuild(iter(out))

    def _execute(self, fetch_list, feeds):
        # 1. the needed ops
        needed = {}
        stack = []
        for f in fetch_list:
            if isinstance(f, Operation):
                stack.append(f)
            elif f not in feeds:
                stack.append(f.op)
        while stack:
            op = stack.pop()
            if op._index in needed:
                continue
            needed[op._index] = op
            for t in op.inputs:
                if t not in feeds and t.op._index not in needed:
                    stack.append(t.op)
            for c in op.control_inputs:
                if c._index not in needed:
                    stack.append(c)
        # 2. schedule: Kahn's algorithm, pure ops first, then creation order
        deps = {}
        users = {}
        for i, op in needed.items():
            ds = set()
            for t in op.inputs:
                if t not in feeds:
                    ds.add(t.op._index)
            for c in op.control_inputs:
                ds.add(c._index)
            ds.discard(i)
            deps[i] = len(ds)
            for d in ds:
                users.setdefault(d, []).append(i)
        heap = [(op.kind == "stateful", i) for i, op in needed.items() if deps[i] == 0]
        heapq.heapify(heap)
        order = []
        while heap:
            _, i = heapq.heappop(heap)
            order.append(needed[i])
            for u in users.get(i, ()):
                deps[u] -= 1
                if deps[u] == 0:
                    heapq.heappush(heap, (needed[u].kind == "stateful", u))
        # 3. run
        values = dict(feeds)
        grad_ops = [op for op in order if op.kind == "gradients"]
        watch = set()
        for op in grad_ops:
            watch.update(op._sources)
        tape = GradientTape(persistent=True, watch_accessed_variables=False) if grad_ops else None
        dev = current_device()
        places = [self._placement(op, dev) for op in order]
        mixed = any(p != dev for p in places + [self._placement(t.op, dev) for t in feeds])
        if tape is not None:
            for t in watch:
                if t in values:
                    tape._watch_one(values[t])   # (no dtype warning: TF1 says nothing)
        ctx = tape if tape is not None else contextlib.nullcontext()
        with ctx:
            for op, place in zip(order, places):
                kind = op.kind
                if kind == "placeholder":
                    t = op.outputs[0]
                    raise errors.InvalidArgumentError(
                        f"You must feed a value for placeholder tensor '{op.name}' with dtype "
                        f"{t.dtype.name} and shape {_fmt_shape(t.shape)}", op)
                if kind == "variable":
                    v = self._vars.get(op)
                    if v is None:
                        raise errors.FailedPreconditionError(
                            f"Attempting to use uninitialized value {op.name} (run "
                            "tf.global_variables_initializer() or its .initializer first)", op)
                    res = [v]
                else:
                    vals = [values[t] for t in op.inputs]
                    if mixed:
                        vals = [_moved(v, place, kind == "stateful") for v in vals]
                    with _on(place) if place != dev else _HERE:
                        if kind == "stateful":
                            r = op._fn(self, vals)
                        elif kind == "gradients":
                            r = op._fn(self, vals, tape, values)
                        else:
                            r = op._fn(vals)
                    if not op.outputs:
                        continue
                    if isinstance(r, (list, tuple)):
                        res = list(r)
                    else:
                        res = [r]
                for t, v in zip(op.outputs, res):
                    if t in feeds:
                        continue
                    if not isinstance(v, EagerTensor):
                        v = convert_to_tensor(v)
                    elif place == "cuda" and kind != "gradients" and type(v._data) is np.ndarray \
                            and v._data.dtype.kind in "biuf" and not isinstance(v, EagerVariable):
                        v = self._to_run_device(op, v, place)
                    values[t] = v
                    if tape is not None and t in watch:
                        tape._watch_one(v)
        return values

    def _placement(self, op, default):
        """Where `op` runs ('cpu' or 'cuda'): where its variable lives for an op that changes a
        variable, else its tf.device, else `default` (the current device)."""
        if op.kind == "stateful":
            for t in op.inputs:
                if t.op.kind == "variable":
                    return self._placement(t.op, default)
        kind = DEVICE_KINDS.get(op._device, default)
        if kind == "cuda" and kind != default and not gpu_available():
            if self._soft_placement:
                return "cpu"
            try:
                require_gpu(op.name, op.device)
            except RuntimeError as e:
                raise errors.InvalidArgumentError(
                    f"Cannot assign a device for operation '{op.name}': {e}. Pass "
                    "config=tf.ConfigProto(allow_soft_placement=True) to the Session to run it "
                    "on the CPU instead", op) from None
        return kind

    def _to_run_device(self, op, v, dev):
        """A host result (a constant, zeros, a random draw) moved to the run device; a constant
        is uploaded once per session."""
        if op.type != "Const":
            return v.to(dev)
        up = self._uploads.get(op)
        if up is None or up[0] is not v:
            up = self._uploads[op] = (v, v.to(dev))
        return up[1]

    def partial_run_setup(self, *a, **k):
        raise NotImplementedError("Session.partial_run is not supported by nabi.compat.v1")

    # -- variable storage used by variable ops --------------------------------------------
    def _set_var(self, var_op, value, trainable, name):
        """Initialises (or restores) a variable: a copy of `value` on the variable's device (its
        tf.device, else the current device)."""
        v = self._vars.get(var_op)
        arr = value._data if isinstance(value, EagerTensor) else np.asarray(value)
        if v is None or v._data.shape != arr.shape or v._data.dtype != arr.dtype:
            kind = self._placement(var_op, current_device())
            with _on(kind):   # EagerVariable places host data on the current device
                v = EagerVariable(_wrap(to_device(arr, kind) if type(arr) is DeviceArray else arr),
                                  trainable=trainable, name=name)
            self._vars[var_op] = v
        else:
            d = v._data
            np.copyto(d, to_device(arr, "cuda" if type(d) is DeviceArray else "cpu"))
        return v

    def _get_var(self, var_op):
        v = self._vars.get(var_op)
        if v is None:
            raise errors.FailedPreconditionError(
                f"Attempting to use uninitialized value {var_op.name}", var_op)
        return v


class InteractiveSession(Session):
    """A Session that installs itself as the default session (for `.eval()` / `.run()`)."""

    def __init__(self, target="", graph=None, config=None):
        super().__init__(target, graph, config)
        _default_session_stack.append(self)

    def close(self):
        if self in _default_session_stack:
            _default_session_stack.remove(self)
        super().close()
