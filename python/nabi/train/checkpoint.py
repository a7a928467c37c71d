"""`tf.train.Checkpoint`: object-based checkpoints of Keras models and layers, Keras optimizers
(iteration counter, learning rate, slots), Variables and nested Checkpoints.

The object graph is TF2's: a Checkpoint's children are its keyword arguments and the trackable
attributes assigned later (`ckpt.step = nabi.Variable(1)`), plus `save_counter`; a layer's
children are its weights (by their `add_weight` name) and its sub-layers (by attribute name;
Sequential and functional models also by position, `layer_with_weights-K` and `layer-N`); an
optimizer's are `iter`, `learning_rate` and its slots, which hang off the variable they belong
to. A value's key is the shortest path to it, escaped and suffixed as in TF
(`generator/layer_with_weights-0/kernel/.ATTRIBUTES/VARIABLE_VALUE`,
`generator/layer_with_weights-0/kernel/.OPTIMIZER_SLOT/generator_optimizer/momentum/...`), so
keys never contain the auto-generated layer names (`dense_3`) and are the same in every process.

Files use TF's names, `<prefix>.index` and `<prefix>.data-00000-of-00001`, but nabi's own
content: the index is JSON (the object graph, the keys, shapes and dtypes) and the data file a
NumPy .npz archive (no pickle). TensorFlow cannot read them, and nabi cannot read TensorFlow's.

Restoring matches the saved object graph to the live one. Values whose variables do not exist
yet are deferred, as in TF: a layer that is not built gets its weights when `add_weight` creates
them, and a fresh optimizer gets its slots when restore creates them with `optimizer.build` (at
restore time, or when the deferred variable appears), so the next `apply_gradients` continues
exactly where the saved optimizer stopped.
"""
import json
import os

import numpy as np

from ..framework.device import host_scope
from ..framework.module import Module as _Module
from ..framework.tensor import Tensor, Variable

__all__ = ["Checkpoint", "CheckpointOptions", "CheckpointReader", "CheckpointLoadStatus",
           "InitializationOnlyStatus", "load_checkpoint", "list_variables", "load_variable"]

_FORMAT = "nabi.train.Checkpoint"
_FORMAT_VERSION = 1
_DATA_SUFFIX = ".data-00000-of-00001"
_VALUE_SUFFIX = "/.ATTRIBUTES/VARIABLE_VALUE"
_SLOT_SEP = "/.OPTIMIZER_SLOT/"
# Layer attributes that hold nabi's own bookkeeping, never checkpoint dependencies.
_LAYER_INTERNALS = frozenset((
    "_layers", "_trainable_weights", "_non_trainable_weights", "_inbound_nodes", "_regularized",
    "_eager_losses", "_seq_layers", "_layer_outputs", "_input_layer", "_train_vars", "_steps",
    "_nodes", "_flat_input_kts", "_flat_output_kts", "_initial_weights", "_init_weights",
    "_checkpoint_deferred", "_tree_cache"))


def _not_found(message):
    from ..errors import NotFoundError
    return NotFoundError(message)


# ----------------------------------------------------------------------------- trackables
_KERAS = []


def _keras_classes():
    """(Layer, Optimizer, Metric) once nabi.keras is loaded; objects of those types cannot exist
    before it is, so a program that never uses Keras does not import it here."""
    if _KERAS:
        return _KERAS[0]
    import sys
    if "nabi.keras" not in sys.modules:
        return ()
    from ..keras.layers.base import Layer
    from ..keras.metrics import Metric
    from ..keras.optimizers.base import Optimizer
    _KERAS.append((Layer, Optimizer, Metric))
    return _KERAS[0]


def _kind(obj):
    """'variable', 'checkpoint', 'layer', 'optimizer', 'metric', 'module', 'list', 'dict' or
    None."""
    if isinstance(obj, Variable):
        return "variable"
    if isinstance(obj, Checkpoint):
        return "checkpoint"
    k = _keras_classes()
    if k:
        if isinstance(obj, k[0]):
            return "layer"
        if isinstance(obj, k[1]):
            return "optimizer"
        if isinstance(obj, k[2]):
            return "metric"
    if isinstance(obj, _Module):
        return "module"
    if hasattr(obj, "_checkpoint_position"):   # a tf.data iterator
        return "iterator"
    if isinstance(obj, (list, tuple)) and any(_kind(v) for v in obj):
        return "list"
    if isinstance(obj, dict) and any(isinstance(n, str) and _kind(v) for n, v in obj.items()):
        return "dict"
    return None


def _escape(name):
    # TF's escaping of a dependency name inside a key: "." -> "..", "/" -> ".S"
    return name.replace(".", "..").replace("/", ".S")


def _dedup(pairs):
    seen = {}
    out = []
    for name, obj in pairs:
        n = seen.get(name, 0)
        seen[name] = n + 1
        out.append((name if n == 0 else f"{name}_{n}", obj))
    return out


def _weight_base_name(layer, var):
    name = getattr(var, "_keras_name", None)
    if name:
        return name
    for attr, value in vars(layer).items():
        if value is var:
            return attr
    return var._name.split(":")[0].rsplit("/", 1)[-1]


def _own_weights(layer):
    """The layer's own variables with their dependency names (the add_weight name, else the
    attribute name; a repeated name gets `_1`, `_2`)."""
    d = vars(layer)
    ws = list(d.get("_trainable_weights", ())) + list(d.get("_non_trainable_weights", ()))
    return _dedup([(_weight_base_name(layer, w), w) for w in ws])


def _is_graph_network(layer):
    d = vars(layer)
    return "_seq_layers" in d or bool(d.get("_is_graph_network"))


def _layer_children(layer):
    out = _own_weights(layer)
    reached = {id(w) for _, w in out}
    if _is_graph_network(layer):
        k = 0
        for n, sub in enumerate(layer.layers):
            if sub.weights:
                out.append((f"layer_with_weights-{k}", sub))
                k += 1
            out.append((f"layer-{n}", sub))
            reached.add(id(sub))
    for attr, value in vars(layer).items():
        if attr.startswith("__") or attr in _LAYER_INTERNALS or id(value) in reached:
            continue
        if _kind(value):
            out.append((attr, value))
            reached.add(id(value))
            if isinstance(value, (list, tuple, dict)):
                reached.update(map(id, value.values() if isinstance(value, dict) else value))
    if not _is_graph_network(layer):
        # sub-layers held in no attribute (appended to _layers directly): by position
        for n, sub in enumerate(vars(layer).get("_layers", ())):
            if id(sub) not in reached:
                out.append((f"layer-{n}", sub))
    return out


def _optimizer_children(opt):
    out = [("iter", opt._iterations)]
    if opt._lr_var is not None and opt._lr_kind == 0:
        out.append(("learning_rate", opt._lr_var))
    out.extend((f"variable-{i}", v) for i, v in enumerate(opt._extra_vars))
    return out


def _optimizer_slots(opt):
    """(variable, slot name, slot variable) for every slot the optimizer holds."""
    out = []
    for i, v in enumerate(opt._trainable_variables):
        for n in opt._slot_names:
            slots = opt._slots.get(n)
            if slots:
                out.append((v, n, slots[i]))
        emas = getattr(opt, "_ema_vars", None)   # use_ema: the variable's moving average
        if emas:
            out.append((v, "average", emas[i]))
        accs = getattr(opt, "_acc_vars", None)   # gradient_accumulation_steps: the sums
        if accs:
            out.append((v, "gradient_accumulator", accs[i]))
    return out


def _children(obj):
    """The named dependencies of a trackable object, in a fixed order."""
    kind = _kind(obj)
    if kind == "checkpoint":
        return obj._checkpoint_children()
    if kind == "layer":
        return _layer_children(obj)
    if kind == "optimizer":
        return _optimizer_children(obj)
    if kind == "metric":
        return _dedup([(v._name.split(":")[0].rsplit("/", 1)[-1], v) for v in obj.variables])
    if kind == "module":
        # a tf.Module's dependencies are its trackable attributes, named by attribute (TF's
        # AutoTrackable), in name order
        return [(n, v) for n, v in sorted(vars(obj).items())
                if not n.startswith("__") and n != "_checkpoint_deferred" and _kind(v)]
    if kind == "iterator":
        return [("_iterator_position", obj._checkpoint_position())]
    if kind == "list":
        return [(str(i), v) for i, v in enumerate(obj) if _kind(v)]
    if kind == "dict":
        return [(n, v) for n, v in obj.items() if isinstance(n, str) and _kind(v)]
    return []


def _describe(obj):
    if isinstance(obj, Variable):
        return f"Variable {obj._name!r} shape={tuple(obj._data.shape)}"
    name = getattr(obj, "name", None)
    return f"{type(obj).__name__}" + (f" {name!r}" if isinstance(name, str) else "")


# ----------------------------------------------------------------------------- the graph
class _Graph:
    """The object graph reachable from a root, breadth first (the order that makes every
    object's path its shortest one, as TF's keys are)."""

    def __init__(self, root):
        self.objects = [root]
        self.paths = [()]
        self.children = [[]]
        self.slots = {}       # optimizer node -> [(variable node, slot name, slot node)]
        self.keys = {}        # variable node -> key
        index = {id(root): 0}
        i = 0
        while i < len(self.objects):
            for name, child in _children(self.objects[i]):
                j = index.get(id(child))
                if j is None:
                    j = index[id(child)] = len(self.objects)
                    self.objects.append(child)
                    self.paths.append(self.paths[i] + (_escape(name),))
                    self.children.append([])
                self.children[i].append((name, j))
            i += 1
        for n, obj in enumerate(list(self.objects)):
            if isinstance(obj, Variable) and n:
                self.keys[n] = "/".join(self.paths[n]) + _VALUE_SUFFIX
        for n, obj in enumerate(list(self.objects)):
            if _kind(obj) != "optimizer" or not n:
                continue
            opt_path = "/".join(self.paths[n])
            entries = []
            for var, slot_name, slot in _optimizer_slots(obj):
                vn = index.get(id(var))
                if vn is None or id(slot) in index:
                    continue   # TF saves slots only for variables the checkpoint holds
                sn = index[id(slot)] = len(self.objects)
                self.objects.append(slot)
                self.paths.append(None)
                self.children.append([])
                self.keys[sn] = ("/".join(self.paths[vn]) + _SLOT_SEP + opt_path + "/" +
                                 _escape(slot_name) + _VALUE_SUFFIX)
                entries.append((vn, slot_name, sn))
            if entries:
                self.slots[n] = entries

    def variables(self):
        """The variables in the graph, slots included: [(node, variable)]."""
        return [(n, self.objects[n]) for n in self.keys]


def _check_value(key, var, arr, save_path):
    """The saved array as the variable's dtype, or a clear error naming key and shapes."""
    shape = tuple(var._data.shape)
    if tuple(arr.shape) != shape:
        raise ValueError(f"[Checkpoint.restore] {key} in checkpoint {save_path!r} has shape "
                         f"{tuple(arr.shape)}, but the variable it restores ({var._name!r}) has "
                         f"shape {shape}")
    dt = np.dtype(var._data.dtype)
    if arr.dtype != dt:
        if not np.can_cast(arr.dtype, dt, "same_kind"):
            raise TypeError(f"[Checkpoint.restore] {key} in checkpoint {save_path!r} has dtype "
                            f"{arr.dtype}, but the variable it restores ({var._name!r}) has "
                            f"dtype {dt}")
        arr = arr.astype(dt)
    return arr


# ----------------------------------------------------------------------------- files
def _split_path(save_path):
    save_path = os.fspath(save_path)
    if save_path.endswith(".index"):
        save_path = save_path[:-len(".index")]
    return save_path


def _read_index(save_path):
    save_path = _split_path(save_path)
    index_file = save_path + ".index"
    if not os.path.exists(index_file):
        hint = ""
        if os.path.isdir(save_path):
            hint = (" (it is a directory: pass a checkpoint prefix such as "
                    "nabi.train.latest_checkpoint(directory))")
        elif os.path.exists(save_path + ".npz"):
            hint = " (a nabi.compat.v1.train.Saver checkpoint: restore it with Saver.restore)"
        raise _not_found(f"Failed to find any matching files for {save_path}: no checkpoint "
                         f"index {index_file}{hint}")
    try:
        with open(index_file, "r", encoding="utf-8") as fh:
            index = json.load(fh)
    except (UnicodeDecodeError, json.JSONDecodeError):
        index = None
    if not isinstance(index, dict) or index.get("format") != _FORMAT:
        raise ValueError(f"[Checkpoint] {index_file} is not a nabi checkpoint index (TensorFlow's "
                         "own checkpoints cannot be read by nabi)")
    if index.get("version", 0) > _FORMAT_VERSION:
        raise ValueError(f"[Checkpoint] {index_file} was written by a newer nabi (format version "
                         f"{index['version']}; this one reads {_FORMAT_VERSION})")
    return save_path, index


def _read_arrays(save_path, index, keys=None):
    data_file = save_path + _DATA_SUFFIX
    if not os.path.exists(data_file):
        raise _not_found(f"Failed to find the data file {data_file} of checkpoint {save_path}")
    entries = index["variables"]
    keys = list(entries) if keys is None else keys
    out = {}
    with np.load(data_file, allow_pickle=False) as z:
        for k in keys:
            out[k] = z[f"v{entries[k]['index']}"]
    return out


def _write_files(file_prefix, graph):
    """Writes `<prefix>.data-00000-of-00001`, then `<prefix>.index` (a checkpoint exists once
    its index does), each through a temporary file and a rename."""
    file_prefix = os.fspath(file_prefix)
    d = os.path.dirname(file_prefix)
    if d:
        os.makedirs(d, exist_ok=True)
    arrays = {}
    variables = {}
    for i, (n, var) in enumerate(sorted(graph.variables(), key=lambda p: graph.keys[p[0]])):
        a = np.asarray(var.numpy(), order="C")   # (ascontiguousarray would make scalars 1-D)
        arrays[f"v{i}"] = a
        variables[graph.keys[n]] = {"index": i, "shape": list(a.shape), "dtype": a.dtype.name}
    nodes = []
    for n, obj in enumerate(graph.objects):
        node = {"kind": _kind(obj), "children": [[name, c] for name, c in graph.children[n]]}
        if n in graph.keys:
            node["key"] = graph.keys[n]
        if n in graph.slots:
            node["slots"] = [[v, name, s] for v, name, s in graph.slots[n]]
        nodes.append(node)
    index = {"format": _FORMAT, "version": _FORMAT_VERSION,
             "note": "nabi checkpoint: JSON index + NumPy .npz data; not TensorFlow's format",
             "variables": variables, "nodes": nodes}
    data_file = file_prefix + _DATA_SUFFIX
    tmp = data_file + ".tmp"
    with open(tmp, "wb") as fh:
        np.savez(fh, **arrays)
    os.replace(tmp, data_file)
    tmp = file_prefix + ".index.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(index, fh, indent=1)
    os.replace(tmp, file_prefix + ".index")
    return file_prefix


# ----------------------------------------------------------------------------- restoring
class _Restore:
    """One restore: matches the saved graph to the live objects, assigns what exists, and keeps
    what does not (yet) for deferred restoration."""

    def __init__(self, checkpoint, save_path, index):
        self.checkpoint = checkpoint
        self.save_path = save_path
        self.nodes = index["nodes"]
        self.key_of = {n: node["key"] for n, node in enumerate(self.nodes) if "key" in node}
        self.arrays = _read_arrays(save_path, index)
        self.matched = {0: checkpoint}
        self.restored = set()          # saved nodes whose value was assigned
        self.restored_vars = {}        # id(live variable) -> the variable
        self.slot_waiting = {}         # variable node -> [(optimizer, slot name, slot node)]
        self.deferred = {}             # node -> the object it waits on

    def run(self):
        pending_children = []
        queue = [0]
        while queue:
            n = queue.pop(0)
            live = self.matched[n]
            if isinstance(live, Checkpoint) and \
                    any(name == "save_counter" for name, _ in self.nodes[n]["children"]):
                live._create_save_counter()   # restored, so that numbering continues from it
            live_children = dict(_children(live))
            for name, c in self.nodes[n]["children"]:
                lc = live_children.get(name)
                if lc is None:
                    pending_children.append((n, name, c))
                    continue
                if c in self.matched:
                    continue
                saved_kind = self.nodes[c]["kind"]
                if (saved_kind == "variable") != isinstance(lc, Variable):
                    raise ValueError(f"[Checkpoint.restore] {self._where(n, name)}: the "
                                     f"checkpoint holds a {saved_kind} there, but the object "
                                     f"is a {_describe(lc)}")
                self.matched[c] = lc
                queue.append(c)
        # Check every shape before changing anything (a mismatch leaves the objects as they
        # were), then build the optimizers' missing slots, then assign.
        checked = [self._checked(c, self.matched[c]) for c in self.key_of if c in self.matched]
        # Optimizer slots: their variables must exist; fresh optimizers build them now.
        builds = {}
        for n, node in enumerate(self.nodes):
            opt = self.matched.get(n)
            if "slots" not in node or _kind(opt) != "optimizer":
                continue
            for vn, slot_name, sn in node["slots"]:
                var = self.matched.get(vn)
                if var is not None and id(var) not in opt._var_index:
                    builds.setdefault(id(opt), (opt, []))[1].append(var)
        for opt, vs in builds.values():
            opt.build(vs)
        for n, node in enumerate(self.nodes):
            opt = self.matched.get(n)
            if "slots" not in node or _kind(opt) != "optimizer":
                continue
            for vn, slot_name, sn in node["slots"]:
                var = self.matched.get(vn)
                if var is not None:
                    slot = _slot_of(opt, var, slot_name)
                    if slot is not None:
                        self.matched[sn] = slot
                        checked.append(self._checked(sn, slot))
                else:
                    self.slot_waiting.setdefault(vn, []).append((opt, slot_name, sn))
        # Children missing before: optimizer variables made by build, layers not built yet.
        for n, name, c in pending_children:
            if c in self.matched:
                continue
            live = self.matched[n]
            lc = dict(_children(live)).get(name)
            if lc is not None and isinstance(lc, Variable) and c in self.key_of:
                self.matched[c] = lc
                checked.append(self._checked(c, lc))
            elif c in self.key_of and _defers(live):
                entries = vars(live).setdefault("_checkpoint_deferred", {})
                entries[name] = (self, c)
                self.deferred[c] = live
        for n in self.slot_waiting:
            if n not in self.deferred:
                self.slot_waiting[n] = []   # the variable will never come: values stay unused
        for c, var, arr in checked:
            self._assign(c, var, arr)

    def _checked(self, node, var):
        key = self.key_of[node]
        return node, var, _check_value(key, var, self.arrays[key], self.save_path)

    def _where(self, n, name):
        """A readable saved path for error messages (first parents back to the root)."""
        parents = {}
        for p, saved in enumerate(self.nodes):
            for nm, c in saved["children"]:
                parents.setdefault(c, (p, nm))
        parts = [name]
        while n in parents and n != 0:
            n, nm = parents[n]
            parts.append(nm)
        return "/".join(reversed(parts))

    def _assign(self, node, var, arr):
        var.assign(arr)
        self.arrays.pop(self.key_of[node], None)   # restored: the status need not keep it
        self.restored.add(node)
        self.restored_vars[id(var)] = var
        self.deferred.pop(node, None)

    def restore_deferred(self, node, var):
        """The deferred variable of `node` now exists: restore it and its waiting slots."""
        self.matched[node] = var
        self._assign(*self._checked(node, var))
        for opt, slot_name, sn in self.slot_waiting.pop(node, ()):
            if id(var) not in opt._var_index:
                opt.build([var])
            slot = _slot_of(opt, var, slot_name)
            if slot is not None:
                self.matched[sn] = slot
                self._assign(*self._checked(sn, slot))
            self._restore_optimizer_variables(opt)

    def _restore_optimizer_variables(self, opt):
        """Optimizer variables created by a deferred build (Nadam's u_product)."""
        pending = vars(opt).get("_checkpoint_deferred")
        if not pending:
            return
        live = dict(_optimizer_children(opt))
        for name, (restore, node) in list(pending.items()):
            var = live.get(name)
            if var is not None and restore is self:
                del pending[name]
                self.matched[node] = var
                self._assign(*self._checked(node, var))

    # -- for the status object
    def unresolved_keys(self):
        return sorted(self.key_of[n] for n in self.key_of if n not in self.restored)

    def unmatched_live(self):
        """Variables reachable from the checkpoint now that no checkpointed value restored."""
        graph = _Graph(self.checkpoint)
        counters = {id(o._save_counter) for o in graph.objects if isinstance(o, Checkpoint)}
        out = []
        for n, var in graph.variables():
            if id(var) not in self.restored_vars and id(var) not in counters:
                out.append(graph.keys[n])
        return sorted(out)


def _defers(live):
    """Whether a missing variable of `live` will appear later (a layer not built yet, or an
    optimizer not built yet)."""
    kind = _kind(live)
    if kind == "layer":
        return not live.built
    if kind == "module":
        return True   # a tf.Module may create its variables later (on its first call)
    return kind == "optimizer" and not live.built


def _slot_of(opt, var, slot_name):
    i = opt._var_index.get(id(var))
    slots = opt._slots.get(slot_name)
    if slot_name == "average" and slot_name not in opt._slots:
        slots = getattr(opt, "_ema_vars", None)
    if slot_name == "gradient_accumulator" and slot_name not in opt._slots:
        slots = getattr(opt, "_acc_vars", None)
    if i is None or not slots:
        return None
    return slots[i]


def restore_deferred_weight(layer, var, attr_name=None):
    """Called by `Layer.add_weight` (and attribute assignment of a Variable) when a restore left
    values waiting on this layer: gives `var` its checkpointed value."""
    pending = vars(layer).get("_checkpoint_deferred")
    if not pending:
        return
    base = getattr(var, "_keras_name", None) or attr_name or \
        var._name.split(":")[0].rsplit("/", 1)[-1]
    d = vars(layer)
    earlier = [w for w in list(d.get("_trainable_weights", ())) +
               list(d.get("_non_trainable_weights", ())) if w is not var and
               _weight_base_name(layer, w) == base]
    name = base if not earlier else f"{base}_{len(earlier)}"
    entry = pending.pop(name, None)
    if not pending:
        del d["_checkpoint_deferred"]
    if entry is not None:
        restore, node = entry
        restore.restore_deferred(node, var)


def restore_deferred_attribute(obj, name, var):
    """Called by `tf.Module.__setattr__` when a restore left a value waiting on `obj` under the
    attribute `name` (a module that creates its variables on its first call, as TF defers)."""
    d = vars(obj)
    pending = d.get("_checkpoint_deferred")
    entry = pending.pop(name, None) if pending else None
    if pending is not None and not pending:
        del d["_checkpoint_deferred"]
    if entry is not None:
        restore, node = entry
        restore.restore_deferred(node, var)


# ----------------------------------------------------------------------------- status
class CheckpointLoadStatus:
    """What `Checkpoint.restore` returns. The assertions look at the objects as they are when
    called, so values deferred until a model is built count once it is."""

    def __init__(self, restore):
        self._restore = restore

    def assert_consumed(self):
        """Every value in the checkpoint was restored and every variable reachable from the
        checkpoint got one; raises AssertionError otherwise."""
        r = self._restore
        keys = r.unresolved_keys()
        if keys:
            waiting = [k for k in keys if any(r.key_of[n] == k for n in r.deferred)]
            note = f" ({len(waiting)} wait for variables not created yet: a layer or optimizer " \
                "that is not built)" if waiting else ""
            raise AssertionError(f"[Checkpoint.restore] {len(keys)} value(s) in checkpoint "
                                 f"{r.save_path!r} were not restored{note}: {_short(keys)}")
        self.assert_existing_objects_matched()
        return self

    def assert_existing_objects_matched(self):
        """Every variable reachable from the checkpoint now got a checkpointed value (values
        the program does not use are allowed); raises AssertionError otherwise."""
        r = self._restore
        missing = r.unmatched_live()
        if missing:
            raise AssertionError(f"[Checkpoint.restore] {len(missing)} variable(s) were not found "
                                 f"in checkpoint {r.save_path!r}: {_short(missing)}")
        return self

    def assert_nontrivial_match(self):
        """At least one value besides the save counter was restored."""
        r = self._restore
        if not any(r.key_of[n] != "save_counter" + _VALUE_SUFFIX for n in r.restored):
            raise AssertionError(f"[Checkpoint.restore] nothing in checkpoint {r.save_path!r} "
                                 "matched the objects being restored (only the root and the "
                                 "save counter)")
        return self

    def expect_partial(self):
        """Silences nothing here (nabi does not warn about unused values); kept for TF code."""
        return self

    def run_restore_ops(self, session=None):
        """Eager restoration already ran."""

    def initialize_or_restore(self, session=None):
        """Eager restoration already ran."""


class InitializationOnlyStatus:
    """What `restore(None)` returns: nothing was restored, so every assertion fails."""

    def _fail(self):
        raise AssertionError("No checkpoint specified (save_path=None); nothing is being "
                             "restored.")

    def assert_consumed(self):
        self._fail()

    def assert_existing_objects_matched(self):
        self._fail()

    def assert_nontrivial_match(self):
        self._fail()

    def expect_partial(self):
        return self

    def run_restore_ops(self, session=None):
        """Nothing to restore."""

    def initialize_or_restore(self, session=None):
        """Nothing to restore; variables are initialized when created."""


def _short(keys, n=8):
    s = ", ".join(keys[:n])
    return s + (f", ... ({len(keys) - n} more)" if len(keys) > n else "")


# ----------------------------------------------------------------------------- Checkpoint
class CheckpointOptions:
    """`tf.train.CheckpointOptions`: accepted for compatibility; nabi has no option to set."""

    def __init__(self, experimental_io_device=None, experimental_enable_async_checkpoint=False,
                 experimental_write_callbacks=None, enable_async=False,
                 experimental_skip_slot_variables=False, experimental_sharding_callback=None):
        self.experimental_io_device = experimental_io_device
        self.enable_async = bool(enable_async or experimental_enable_async_checkpoint)


class Checkpoint:
    """`tf.train.Checkpoint(root=None, **kwargs)`: saves and restores the trackable objects
    given as keyword arguments (Keras models, layers and optimizers, Variables, Checkpoints, and
    lists/dicts of them) and those assigned as attributes later.

        ckpt = nabi.train.Checkpoint(model=model, optimizer=optimizer)
        path = ckpt.save("ckpts/ckpt")            # "ckpts/ckpt-1"
        ckpt.restore(nabi.train.latest_checkpoint("ckpts"))

    The files are named as TF names them (`ckpt-1.index`, `ckpt-1.data-00000-of-00001`, and
    the directory's `checkpoint` state file) but hold nabi's own format (JSON index, NumPy .npz
    data): TensorFlow cannot read them, nor nabi TensorFlow's.
    """

    def __init__(self, root=None, **kwargs):
        d = self.__dict__
        d["_attached"] = {}
        d["_root"] = root
        d["_save_counter"] = None
        if root is not None:
            if not _kind(root):
                raise ValueError(f"`Checkpoint` was expecting root to be a trackable object (a "
                                 f"Keras model, layer or optimizer, a tf.Module, a Variable, or a "
                                 f"Checkpoint), got {root!r}")
            d["root"] = root
        for k, v in sorted(kwargs.items()):
            if not _kind(v):
                raise ValueError(f"`Checkpoint` was expecting {k} to be a trackable object (a "
                                 f"Keras model, layer or optimizer, a tf.Module, a Variable, a "
                                 f"tf.data iterator, or a Checkpoint), got {v!r}")
            setattr(self, k, v)

    def __setattr__(self, name, value):
        if not name.startswith("_") and name != "root":
            if _kind(value):
                self._attached[name] = value
            else:
                self._attached.pop(name, None)
        object.__setattr__(self, name, value)

    def __delattr__(self, name):
        self._attached.pop(name, None)
        object.__delattr__(self, name)

    def _checkpoint_children(self):
        out = _children(self._root) if self._root is not None else []
        have = {n for n, _ in out}
        out += [(n, v) for n, v in self._attached.items() if n not in have]
        if self._save_counter is not None and "save_counter" not in have:
            out.append(("save_counter", self._save_counter))
        return out

    def _create_save_counter(self):
        if self._save_counter is None:
            with host_scope():
                self.__dict__["_save_counter"] = Variable(np.int64(0), trainable=False,
                                                          name="save_counter", dtype="int64")
        return self._save_counter

    @property
    def save_counter(self):
        """An int64 Variable counting `save` calls (created on first use); numbers the files."""
        return self._create_save_counter()

    # -- writing
    def write(self, file_prefix, options=None):
        """Writes `<file_prefix>.index` and `<file_prefix>.data-00000-of-00001` and returns
        `file_prefix`; no counter, no state file (see `save`)."""
        if isinstance(file_prefix, Tensor):
            file_prefix = str(file_prefix.numpy())
        return _write_files(file_prefix, _Graph(self))

    def save(self, file_prefix, options=None):
        """Increments `save_counter`, writes `<file_prefix>-<save_counter>` and records it in the
        directory's `checkpoint` state file; returns the path."""
        from .checkpoint_management import update_checkpoint_state_internal
        if isinstance(file_prefix, Tensor):
            file_prefix = str(file_prefix.numpy())
        file_prefix = os.fspath(file_prefix)
        counter = self.save_counter
        counter.assign_add(np.int64(1))
        path = self.write(f"{file_prefix}-{int(counter.numpy())}")
        update_checkpoint_state_internal(os.path.dirname(file_prefix), path, [path],
                                         save_relative_paths=True)
        return path

    # -- reading
    def read(self, save_path, options=None):
        """Restores the checkpoint `save_path` (a prefix such as "ckpts/ckpt-3"); returns a
        status object (`assert_consumed()`, `expect_partial()`, ...)."""
        if save_path is None:
            return InitializationOnlyStatus()
        if isinstance(save_path, Tensor):
            save_path = str(save_path.numpy())
        save_path, index = _read_index(save_path)
        restore = _Restore(self, save_path, index)
        restore.run()
        return CheckpointLoadStatus(restore)

    def restore(self, save_path, options=None):
        """Restores `save_path` (from `save`, `write` or `latest_checkpoint`); None restores
        nothing. Variables that do not exist yet (a model not built, a fresh optimizer's slots)
        get their values when they are created. Returns a status object."""
        return self.read(save_path, options)

    def sync(self):
        """Saving is synchronous in nabi."""

    def __repr__(self):
        names = ", ".join(self._attached)
        return f"<nabi.train.Checkpoint({names})>"


# ----------------------------------------------------------------------------- reading files
class CheckpointReader:
    """`tf.train.load_checkpoint(path)`: reads the values of a checkpoint by key."""

    def __init__(self, save_path):
        self._path, self._index = _read_index(save_path)
        self._vars = self._index["variables"]

    def _key(self, name):
        name = name[:-2] if name.endswith(":0") else name
        if name in self._vars:
            return name
        if name + _VALUE_SUFFIX in self._vars:
            return name + _VALUE_SUFFIX
        raise _not_found(f"Key {name} not found in checkpoint {self._path}")

    def has_tensor(self, name):
        try:
            self._key(name)
        except Exception:
            return False
        return True

    def get_tensor(self, name):
        key = self._key(name)
        return _read_arrays(self._path, self._index, [key])[key]

    def get_variable_to_shape_map(self):
        return {k: list(v["shape"]) for k, v in self._vars.items()}

    def get_variable_to_dtype_map(self):
        from ..dtypes import as_dtype
        return {k: as_dtype(v["dtype"]) for k, v in self._vars.items()}


def _resolve(ckpt_dir_or_file):
    p = os.fspath(ckpt_dir_or_file)
    if os.path.isdir(p):
        from .checkpoint_management import latest_checkpoint
        latest = latest_checkpoint(p)
        if latest is None:
            raise ValueError(f"Couldn't find 'checkpoint' file or checkpoints in given directory "
                             f"{p}")
        return latest
    return p


def load_checkpoint(ckpt_dir_or_file):
    """A `CheckpointReader` for a checkpoint prefix, or the latest checkpoint of a directory."""
    return CheckpointReader(_resolve(ckpt_dir_or_file))


def list_variables(ckpt_dir_or_file):
    """[(key, shape)] of every value in the checkpoint, sorted by key."""
    reader = load_checkpoint(ckpt_dir_or_file)
    return sorted(reader.get_variable_to_shape_map().items())


def load_variable(ckpt_dir_or_file, name):
    """The NumPy value saved under `name` (the full key, or without its
    `/.ATTRIBUTES/VARIABLE_VALUE` suffix)."""
    return load_checkpoint(ckpt_dir_or_file).get_tensor(name)
