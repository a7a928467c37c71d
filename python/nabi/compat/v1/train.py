"""`tf.train`: TF1 optimizers (exact TF1 update rules), `Saver` (NumPy .npz), global step.

`minimize` = `compute_gradients` (a graph `Gradients` op: at run time the session evaluates the
loss under an eager GradientTape, so gradients use the eager ops' backward rules) +
`apply_gradients` (a stateful op updating the session's variables in place with the fused C++
kernels of nabi.keras.optimizers where the TF1 rule matches them exactly; one call per device
when tf.device puts variables on both). Optimizer slots are kept per session, on their
variable's device.
"""
import math
import os

import numpy as np

from ... import dtypes as _dt
from ...framework.device import DeviceArray, asarray as _asarray, to_device
from ...keras.optimizers import _kernels as K
from .graph import GraphKeys, Operation, Tensor, get_default_graph
from .variables import Variable, get_variable, trainable_variables, global_variables
from . import ops as _ops

__all__ = ["Optimizer", "GradientDescentOptimizer", "MomentumOptimizer", "AdamOptimizer",
           "RMSPropOptimizer", "AdagradOptimizer", "Saver", "get_or_create_global_step",
           "get_global_step", "create_global_step", "exponential_decay", "latest_checkpoint"]


class Optimizer:
    GATE_NONE, GATE_OP, GATE_GRAPH = 0, 1, 2

    def __init__(self, use_locking=False, name="Optimizer"):
        self._name = name
        self._use_locking = use_locking

    def get_name(self):
        return self._name

    def compute_gradients(self, loss, var_list=None, gate_gradients=1, aggregation_method=None,
                          colocate_gradients_with_ops=False, grad_loss=None):
        if not isinstance(loss, Tensor):
            raise TypeError(f"[{self._name}.compute_gradients] loss must be a graph Tensor, got "
                            f"{type(loss).__name__}")
        if var_list is None:
            var_list = loss.graph.get_collection(GraphKeys.TRAINABLE_VARIABLES)
        var_list = list(var_list)
        if not var_list:
            raise ValueError("No variables to optimize.")
        for v in var_list:
            if not isinstance(v, Variable):
                raise TypeError(f"[{self._name}] var_list must hold tf.Variables, got {v!r}")
        with loss.graph.as_default():
            grads = _ops.gradients(loss, var_list, grad_ys=grad_loss,
                                   name=f"{self._name}/gradients")
        return list(zip(grads, var_list))

    def apply_gradients(self, grads_and_vars, global_step=None, name=None):
        pairs = [(g, v) for g, v in grads_and_vars if g is not None]
        if not pairs:
            raise ValueError("No gradients provided for any variable, check your graph for ops "
                             "that do not support gradients, between variables "
                             f"{[v.name for _, v in grads_and_vars]} and loss.")
        graph = pairs[0][1].graph
        lr_inputs = [t for t in self._hyper_tensors() if isinstance(t, Tensor)]
        n = len(pairs)
        var_ops = [v.op for _, v in pairs]
        inputs = [g for g, _ in pairs] + [v for _, v in pairs] + lr_inputs
        if global_step is not None:
            inputs.append(global_step)
        opt = self

        def fn(sess, vals):
            grads = [vals[i]._data for i in range(n)]
            evars = vals[n:2 * n]
            hyper = {t: float(vals[2 * n + i]._data) for i, t in enumerate(lr_inputs)}
            groups = {}   # the fused kernels update the variables of one device per call
            for i, v in enumerate(evars):
                groups.setdefault(type(v._data) is DeviceArray, []).append(i)
            for idx in groups.values():
                opt._apply(sess, [var_ops[i] for i in idx], [evars[i] for i in idx],
                           [grads[i] for i in idx], hyper)
            if global_step is not None:
                gs = vals[-1]
                gs._data[...] = gs._data + 1
            return None
        op = Operation(graph, "ApplyGradients", name or self._name, inputs, fn, kind="stateful")
        return op

    def minimize(self, loss, global_step=None, var_list=None, gate_gradients=1,
                 aggregation_method=None, colocate_gradients_with_ops=False, name=None,
                 grad_loss=None):
        gv = self.compute_gradients(loss, var_list=var_list, grad_loss=grad_loss)
        return self.apply_gradients(gv, global_step=global_step, name=name)

    # -- helpers -----------------------------------------------------------------------------
    def _hyper_tensors(self):
        return [self._lr]

    def _val(self, h, hyper):
        return hyper[h] if isinstance(h, Tensor) else float(h)

    def _slot(self, sess, var_op, key, like, init=0.0):
        k = (id(self), var_op, key)
        s = sess._state.get(k)
        if s is None or s.shape != like.shape or type(s) is not type(like):
            s = DeviceArray.full(like.shape, init, like.dtype) if type(like) is DeviceArray \
                else np.full(like.shape, init, like.dtype)
            sess._state[k] = s
        return s

    def _step(self, sess):
        k = (id(self), "t")
        t = sess._state.get(k, 0) + 1
        sess._state[k] = t
        return t

    def get_slot_names(self):
        return []

    def variables(self):
        return []

    @staticmethod
    def _prep(evars, grads):
        ps = [v._data for v in evars]
        gs = [_asarray(to_device(g, "cuda" if type(p) is DeviceArray else "cpu"), dtype=p.dtype,
                       order="C").reshape(p.shape) for g, p in zip(grads, ps)]
        return ps, gs


class GradientDescentOptimizer(Optimizer):
    """var -= lr * g"""

    def __init__(self, learning_rate, use_locking=False, name="GradientDescent"):
        super().__init__(use_locking, name)
        self._lr = learning_rate

    def _apply(self, sess, var_ops, evars, grads, hyper):
        ps, gs = self._prep(evars, grads)
        K.sgd_update(ps, gs, None, self._val(self._lr, hyper), 0.0, False)


class MomentumOptimizer(Optimizer):
    """TF1: accum = momentum * accum + g; var -= lr * accum
    (use_nesterov: var -= lr * (g + momentum * accum))."""

    def __init__(self, learning_rate, momentum, use_locking=False, name="Momentum",
                 use_nesterov=False):
        super().__init__(use_locking, name)
        self._lr = learning_rate
        self._momentum = momentum
        self._nesterov = bool(use_nesterov)

    def _hyper_tensors(self):
        return [self._lr, self._momentum]

    def _apply(self, sess, var_ops, evars, grads, hyper):
        lr = self._val(self._lr, hyper)
        mu = self._val(self._momentum, hyper)
        ps, gs = self._prep(evars, grads)
        for op, p, g in zip(var_ops, ps, gs):
            a = self._slot(sess, op, "momentum", p)
            a *= mu
            a += g
            if self._nesterov:
                p -= lr * (g + mu * a)
            else:
                p -= lr * a

    def get_slot_names(self):
        return ["momentum"]


class AdamOptimizer(Optimizer):
    """TF1 Adam: lr_t = lr * sqrt(1 - b2^t) / (1 - b1^t); m = b1 m + (1 - b1) g;
    v = b2 v + (1 - b2) g^2; var -= lr_t * m / (sqrt(v) + epsilon)."""

    def __init__(self, learning_rate=0.001, beta1=0.9, beta2=0.999, epsilon=1e-08,
                 use_locking=False, name="Adam"):
        super().__init__(use_locking, name)
        self._lr, self._beta1, self._beta2, self._epsilon = learning_rate, beta1, beta2, epsilon

    def _apply(self, sess, var_ops, evars, grads, hyper):
        lr = self._val(self._lr, hyper)
        ps, gs = self._prep(evars, grads)
        groups = {}
        for op, p, g in zip(var_ops, ps, gs):
            # the step count (TF1's beta1_power/beta2_power) is kept per variable and session
            t = self._slot(sess, op, "t", np.zeros((1,)), 0.0)
            t += 1
            groups.setdefault(int(t[0]), []).append((op, p, g))
        for t, items in groups.items():
            ms = [self._slot(sess, op, "m", p) for op, p, _ in items]
            vs = [self._slot(sess, op, "v", p) for op, p, _ in items]
            K.adam_update([p for _, p, _ in items], [g for _, _, g in items], ms, vs, None, lr,
                          float(self._beta1), float(self._beta2), float(self._epsilon), t)

    def get_slot_names(self):
        return ["m", "v"]


class RMSPropOptimizer(Optimizer):
    """TF1 RMSProp (ms starts at ones): ms = decay ms + (1 - decay) g^2;
    mom = momentum mom + lr g / sqrt(ms + eps); var -= mom. centered subtracts mg^2."""

    def __init__(self, learning_rate, decay=0.9, momentum=0.0, epsilon=1e-10, use_locking=False,
                 centered=False, name="RMSProp"):
        super().__init__(use_locking, name)
        self._lr, self._decay, self._momentum = learning_rate, decay, momentum
        self._epsilon, self._centered = epsilon, bool(centered)

    def _apply(self, sess, var_ops, evars, grads, hyper):
        lr = self._val(self._lr, hyper)
        ps, gs = self._prep(evars, grads)
        ms = [self._slot(sess, op, "rms", p, 1.0) for op, p in zip(var_ops, ps)]
        moms = [self._slot(sess, op, "momentum", p) for op, p in zip(var_ops, ps)]
        mgs = [self._slot(sess, op, "mg", p) for op, p in zip(var_ops, ps)] \
            if self._centered else None
        mom = float(self._momentum)
        if mom > 0:
            K.rmsprop_update(ps, gs, ms, moms, mgs, lr, float(self._decay), mom,
                             float(self._epsilon), self._centered)
        else:
            # TF1 keeps the momentum slot even at momentum 0: mom = lr g / sqrt(...); var -= mom
            K.rmsprop_update(ps, gs, ms, None, mgs, lr, float(self._decay), 0.0,
                             float(self._epsilon), self._centered)

    def get_slot_names(self):
        return ["rms", "momentum"] + (["mg"] if self._centered else [])


class AdagradOptimizer(Optimizer):
    """TF1 Adagrad: accum += g^2 (accum starts at initial_accumulator_value);
    var -= lr g / sqrt(accum)."""

    def __init__(self, learning_rate, initial_accumulator_value=0.1, use_locking=False,
                 name="Adagrad"):
        super().__init__(use_locking, name)
        if initial_accumulator_value <= 0.0:
            raise ValueError(f"initial_accumulator_value must be positive: "
                             f"{initial_accumulator_value}")
        self._lr = learning_rate
        self._init = float(initial_accumulator_value)

    def _apply(self, sess, var_ops, evars, grads, hyper):
        lr = self._val(self._lr, hyper)
        ps, gs = self._prep(evars, grads)
        accs = [self._slot(sess, op, "accumulator", p, self._init) for op, p in zip(var_ops, ps)]
        K.adagrad_update(ps, gs, accs, lr, 0.0)

    def get_slot_names(self):
        return ["accumulator"]


# -- global step and schedules --------------------------------------------------------------
def get_global_step(graph=None):
    g = graph or get_default_graph()
    c = g.get_collection(GraphKeys.GLOBAL_STEP)
    return c[0] if c else None


def create_global_step(graph=None):
    g = graph or get_default_graph()
    if get_global_step(g) is not None:
        raise ValueError('"global_step" already exists.')
    with g.as_default(), g.name_scope(None):
        v = Variable(np.int64(0), trainable=False, name="global_step",
                     collections=[GraphKeys.GLOBAL_VARIABLES, GraphKeys.GLOBAL_STEP],
                     dtype=_dt.int64)
    return v


def get_or_create_global_step(graph=None):
    return get_global_step(graph) or create_global_step(graph)


def exponential_decay(learning_rate, global_step, decay_steps, decay_rate, staircase=False,
                      name=None):
    def fn(gs):
        p = float(gs._data) / decay_steps
        if staircase:
            p = math.floor(p)
        from ...framework.tensor import convert_to_tensor
        return convert_to_tensor(np.float32(learning_rate * decay_rate ** p))
    from .graph import apply_op
    return apply_op("ExponentialDecay", fn, (global_step,), name=name or "ExponentialDecay")


# -- Saver ------------------------------------------------------------------------------------
class Saver:
    """Saves/restores variable values of a session to `<save_path>.npz` (NumPy, no pickle).
    Keys are the variable names without ':0'. Optimizer slots are not saved."""

    def __init__(self, var_list=None, reshape=False, sharded=False, max_to_keep=5,
                 keep_checkpoint_every_n_hours=10000.0, name=None, restore_sequentially=False,
                 saver_def=None, builder=None, defer_build=False, allow_empty=False,
                 write_version=2, pad_step_number=False, save_relative_paths=False,
                 filename=None):
        if var_list is None:
            var_list = global_variables()
        if isinstance(var_list, dict):
            items = list(var_list.items())
        else:
            items = [(v.op.name, v) for v in var_list]
        for k, v in items:
            if not isinstance(v, Variable):
                raise TypeError(f"[Saver] {k!r} is not a tf.Variable")
        if not items and not allow_empty:
            raise ValueError("No variables to save")
        self._items = items
        self._max_to_keep = max_to_keep
        self._last = []

    @staticmethod
    def _file(path):
        return path if path.endswith(".npz") else path + ".npz"

    def save(self, sess, save_path, global_step=None, latest_filename=None,
             meta_graph_suffix="meta", write_meta_graph=True, write_state=True, strip_default_attrs=False):
        if global_step is not None:
            step = int(sess.run(global_step) if isinstance(global_step, Tensor) else global_step)
            save_path = f"{save_path}-{step}"
        arrays = {}
        for k, v in self._items:
            arrays[k] = to_device(sess._get_var(v.op)._data, "cpu")
        d = os.path.dirname(save_path)
        if d:
            os.makedirs(d, exist_ok=True)
        f = self._file(save_path)
        tmp = f + ".tmp.npz"
        np.savez(tmp, **arrays)
        os.replace(tmp, f)
        if write_state:
            with open(os.path.join(d or ".", latest_filename or "checkpoint"), "w") as fh:
                fh.write(f'model_checkpoint_path: "{os.path.basename(save_path)}"\n')
        self._last.append(save_path)
        if self._max_to_keep and len(self._last) > self._max_to_keep:
            old = self._last.pop(0)
            if old not in self._last and os.path.exists(self._file(old)):
                os.remove(self._file(old))
        return save_path

    def restore(self, sess, save_path):
        f = self._file(save_path)
        if not os.path.exists(f):
            from .errors import NotFoundError
            raise NotFoundError(f"Failed to find any matching files for {save_path} ({f})")
        with np.load(f, allow_pickle=False) as data:
            for k, v in self._items:
                if k not in data:
                    from .errors import NotFoundError
                    raise NotFoundError(f"Key {k} not found in checkpoint {f}")
                arr = data[k]
                if tuple(arr.shape) != tuple(v.shape) and v.shape.is_fully_defined():
                    raise ValueError(f"[Saver.restore] {k}: checkpoint shape {arr.shape} differs "
                                     f"from the variable's {tuple(v.shape)}")
                sess._set_var(v.op, arr.astype(v.dtype._np), v.trainable, v.op.name)

    @property
    def last_checkpoints(self):
        return list(self._last)


def latest_checkpoint(checkpoint_dir, latest_filename=None):
    p = os.path.join(checkpoint_dir, latest_filename or "checkpoint")
    if not os.path.exists(p):
        return None
    with open(p) as fh:
        for line in fh:
            if line.startswith("model_checkpoint_path:"):
                name = line.split(":", 1)[1].strip().strip('"')
                return os.path.join(checkpoint_dir, name)
    return None


_ = get_variable, trainable_variables
