"""Recurrent layers: `LSTM`, `GRU`, `SimpleRNN` (fused C++ sequence kernels via
`nabi.ops.rnn_ops`), their cells `LSTMCell`/`GRUCell`/`SimpleRNNCell`, the generic `RNN(cell)`
layer (runs any cell step by step in Python), `Bidirectional` and `TimeDistributed`.

Keras semantics and weight layout: kernel (input_dim, G*units), recurrent_kernel
(units, G*units), bias (G*units,) (GRU reset_after: (2, 3*units)); LSTM gates i, f, c, o; GRU
z, r, h. get_weights() order: kernel, recurrent_kernel, bias.

Stateful layers keep their states across calls (and `fit` calls) until `reset_states()`; the
batch size is fixed by `batch_input_shape` / `batch_size` (or the first batch seen) and a batch
of another size raises an error naming the layer. `initial_state=` works eagerly and in the
functional API. The fused kernels run when there is no recurrent dropout and no mask; otherwise
the cell runs step by step (still differentiable).

The generic `RNN(cell)` also takes nested inputs, states and outputs (Keras's "RNNs with
list/dict inputs, or nested inputs"): `RNN(cell)((x1, x2))` steps every sequence of a
tuple/dict together (all (batch, time, ...), ranks may differ), builds the cell with the
matching structure of per-step shapes, hands `call` the states in the structure of
`cell.state_size` (a TensorShape entry is one state of that shape) and returns outputs in the
structure the cell returns. A list input stays Keras 2's [x, *initial_states] when its tail
matches the cell's states.
"""
import numpy as np

from ...framework.device import asarray as _asarray, place, to_device

from ... import nn as _nn
from ...framework.tensor import Tensor, TensorShape, _wrap
from ...ops import array_ops as _array_ops
from ...ops import math_ops as _math_ops
from ...ops import rnn_ops
from .base import KerasTensor, Layer, InputSpec, _serialize_obj, flatten, pack_like
from .core import get_activation

__all__ = ["RNN", "LSTM", "GRU", "SimpleRNN", "LSTMCell", "GRUCell", "SimpleRNNCell",
           "StackedRNNCells", "Bidirectional", "TimeDistributed", "LSTMV1", "GRUV1"]


# ----------------------------------------------------------------------------- helpers


def _glorot_uniform(shape, dtype=None):
    fan_in, fan_out = (shape[0], shape[-1]) if len(shape) >= 2 else (shape[0], shape[0])
    rf = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
    limit = np.sqrt(6.0 / max(1, (fan_in + fan_out) * rf))
    return np.random.uniform(-limit, limit, size=shape)


def _orthogonal(shape, dtype=None, gain=1.0):
    rows = int(np.prod(shape[:-1])) if len(shape) > 1 else 1
    cols = shape[-1]
    a = np.random.normal(0.0, 1.0, size=(max(rows, cols), min(rows, cols)))
    q, r = np.linalg.qr(a)
    q = q * np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    return gain * q.reshape(shape)


_LOCAL_INITS = {
    "glorot_uniform": _glorot_uniform, "orthogonal": _orthogonal,
    "zeros": lambda s, dtype=None: np.zeros(s), "ones": lambda s, dtype=None: np.ones(s),
    "uniform": lambda s, dtype=None: np.random.uniform(-0.05, 0.05, size=s),
    "random_uniform": lambda s, dtype=None: np.random.uniform(-0.05, 0.05, size=s),
}


def _initializer(identifier):
    """A callable (shape, dtype=None) -> array for a Keras initializer identifier."""
    if identifier is None:
        return None
    if callable(identifier) and not isinstance(identifier, (str, dict)):
        return identifier
    try:
        from .. import initializers
        return initializers.get(identifier)
    except ImportError:
        pass
    name = identifier if isinstance(identifier, str) else identifier.get("class_name", "")
    key = {"GlorotUniform": "glorot_uniform", "Orthogonal": "orthogonal", "Zeros": "zeros",
           "Ones": "ones", "RandomUniform": "uniform"}.get(name, name)
    if key not in _LOCAL_INITS:
        raise ValueError(f"[initializers] unknown initializer {identifier!r}")
    return _LOCAL_INITS[key]


def _init_value(init, shape, dtype):
    try:
        v = init(shape, dtype=dtype)
    except TypeError:
        v = init(shape)
    return _asarray(v._data if isinstance(v, Tensor) else v)


def _act(identifier):
    fn, fused, ser = get_activation(identifier)
    return fn, ser


def _act_kernel_name(ser, fn):
    """The fused-kernel activation name for a serialised activation, or None if unsupported."""
    name = ser if isinstance(ser, str) else getattr(fn, "__name__", None)
    if name in ("tanh", "sigmoid", "relu", "linear", "hard_sigmoid"):
        return name
    if name is None and fn is not None:
        return None
    return None


def _dropout_mask(shape, rate, dtype, like):
    """A scaled keep-mask on the device of the array `like`, drawn from nabi's seeded stream
    (nabi.random.set_seed / keras.utils.set_random_seed make it repeat)."""
    from ...ops.random_ops import _generator
    keep = _generator(None).random(shape) >= rate
    m = keep.astype(dtype) * dtype.type(1.0 / (1.0 - rate))
    return _wrap(m if type(like) is np.ndarray else to_device(m, "cuda"))


def _is_training(training):
    return bool(training) and not isinstance(training, KerasTensor)


def _t(x):
    return x if isinstance(x, Tensor) else _wrap(_asarray(x))


def _is_nest(x):
    return isinstance(x, (list, tuple, dict)) and not isinstance(x, TensorShape)


def _map_nest(fn, x):
    if isinstance(x, (list, tuple)):
        return type(x)(_map_nest(fn, v) for v in x)
    if isinstance(x, dict):
        return {k: _map_nest(fn, v) for k, v in x.items()}
    return fn(x)


def _pack_nest(structure, flat):
    return pack_like(structure, flat)


def _flat_out(o):
    return flatten(o) if _is_nest(o) else [o]


def _is_size_nest(size):
    """Whether a state_size/output_size is a structure of sizes (not one size): a TensorShape
    is one (multi-dimensional) size, a plain list/tuple/dict is a structure."""
    return isinstance(size, (list, tuple, dict)) and not isinstance(size, TensorShape)


def _flatten_sizes(size):
    if isinstance(size, dict):
        return [leaf for k in sorted(size) for leaf in _flatten_sizes(size[k])]
    if _is_size_nest(size):
        return [leaf for v in size for leaf in _flatten_sizes(v)]
    return [size]


def _pack_sizes(size, flat):
    it = iter(flat)

    def pack(s):
        if isinstance(s, dict):
            vals = {k: pack(s[k]) for k in sorted(s)}
            return {k: vals[k] for k in s}
        if _is_size_nest(s):
            return type(s)(pack(v) for v in s)
        return next(it)
    return pack(size)


def _size_shape(size):
    """One state's shape without the batch axis: an int n -> (n,); a TensorShape -> its dims."""
    if hasattr(size, "as_list"):
        size = size.as_list()
    if isinstance(size, (list, tuple)):
        return tuple(int(d) for d in size)
    return (int(size),)


def _shape_of(x):
    return tuple(x._data.shape) if isinstance(x, Tensor) else tuple(np.shape(x)) \
        if not hasattr(x, "shape") else tuple(x.shape)


def _masked(new, old, mt):
    """new where the step's mask mt (batch,) is set, else old; broadcast over the trailing
    axes of a state or output of any rank."""
    m = _wrap(mt.reshape((-1,) + (1,) * (new._data.ndim - 1)))
    return new * m + old * (1.0 - m)


# ----------------------------------------------------------------------------- cells


class _CellBase(Layer):
    def __init__(self, units, activation="tanh", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, kernel_constraint=None, recurrent_constraint=None,
                 bias_constraint=None, dropout=0.0, recurrent_dropout=0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        if int(units) <= 0:
            raise ValueError(f"[{type(self).__name__}] units must be a positive integer, got {units!r}")
        self.units = int(units)
        self.activation, self._act_ser = _act(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = kernel_initializer
        self.recurrent_initializer = recurrent_initializer
        self.bias_initializer = bias_initializer
        self.kernel_regularizer = kernel_regularizer
        self.recurrent_regularizer = recurrent_regularizer
        self.bias_regularizer = bias_regularizer
        self.kernel_constraint = kernel_constraint
        self.recurrent_constraint = recurrent_constraint
        self.bias_constraint = bias_constraint
        self.dropout = min(1.0, max(0.0, float(dropout)))
        self.recurrent_dropout = min(1.0, max(0.0, float(recurrent_dropout)))
        self.seed = seed
        self._dp_mask = None
        self._rdp_mask = None

    _gates = 1

    @property
    def state_size(self):
        return self.units

    @property
    def output_size(self):
        return self.units

    def _bias_shape(self):
        return (self._gates * self.units,)

    def _bias_init(self):
        return _initializer(self.bias_initializer)

    def build(self, input_shape):
        if isinstance(input_shape, list) and input_shape and not isinstance(input_shape[0], (int, type(None))):
            input_shape = input_shape[0]
        input_dim = int(input_shape[-1])
        G = self._gates * self.units
        self.kernel = self.add_weight("kernel", (input_dim, G),
                                      initializer=_initializer(self.kernel_initializer),
                                      regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint)
        self.recurrent_kernel = self.add_weight(
            "recurrent_kernel", (self.units, G), initializer=_initializer(self.recurrent_initializer),
            regularizer=self.recurrent_regularizer, constraint=self.recurrent_constraint)
        if self.use_bias:
            self.bias = self.add_weight("bias", self._bias_shape(), initializer=self._bias_init(),
                                        regularizer=self.bias_regularizer,
                                        constraint=self.bias_constraint)
        else:
            self.bias = None
        self.built = True

    def reset_dropout_mask(self):
        self._dp_mask = None

    def reset_recurrent_dropout_mask(self):
        self._rdp_mask = None

    def _masks(self, x, h, training):
        """Per-sequence dropout masks (the same for every timestep), Keras 3 style."""
        dp = rdp = None
        if _is_training(training):
            if self.dropout > 0:
                if self._dp_mask is None or self._dp_mask._data.shape != x._data.shape:
                    self._dp_mask = _dropout_mask(x._data.shape, self.dropout, x._data.dtype,
                                                  x._data)
                dp = self._dp_mask
            if self.recurrent_dropout > 0:
                if self._rdp_mask is None or self._rdp_mask._data.shape != h._data.shape:
                    self._rdp_mask = _dropout_mask(h._data.shape, self.recurrent_dropout,
                                                   h._data.dtype, h._data)
                rdp = self._rdp_mask
        return dp, rdp

    def get_initial_state(self, batch_size=None, dtype=None):
        dt = np.dtype(dtype) if dtype is not None else self._np_dtype
        sizes = self.state_size if isinstance(self.state_size, (list, tuple)) else [self.state_size]
        return [_wrap(place(np.zeros((batch_size, s), dt))) for s in sizes]

    def get_config(self):
        cfg = super().get_config()
        cfg.update({
            "units": self.units, "activation": self._act_ser, "use_bias": self.use_bias,
            "kernel_initializer": _serialize_obj(self.kernel_initializer, "initializers"),
            "recurrent_initializer": _serialize_obj(self.recurrent_initializer, "initializers"),
            "bias_initializer": _serialize_obj(self.bias_initializer, "initializers"),
            "kernel_regularizer": _serialize_obj(self.kernel_regularizer, "regularizers"),
            "recurrent_regularizer": _serialize_obj(self.recurrent_regularizer, "regularizers"),
            "bias_regularizer": _serialize_obj(self.bias_regularizer, "regularizers"),
            "kernel_constraint": _serialize_obj(self.kernel_constraint, "constraints"),
            "recurrent_constraint": _serialize_obj(self.recurrent_constraint, "constraints"),
            "bias_constraint": _serialize_obj(self.bias_constraint, "constraints"),
            "dropout": self.dropout, "recurrent_dropout": self.recurrent_dropout,
            "seed": self.seed})
        return cfg


class SimpleRNNCell(_CellBase):
    """h = activation(x @ kernel + h @ recurrent_kernel + bias)."""
    _gates = 1

    def call(self, inputs, states, training=None):
        h = states[0] if isinstance(states, (list, tuple)) else states
        x = inputs
        dp, rdp = self._masks(x, h, training)
        if dp is not None:
            x = x * dp
        hh = h * rdp if rdp is not None else h
        z = _math_ops.matmul(x, self.kernel) + _math_ops.matmul(hh, self.recurrent_kernel)
        if self.use_bias:
            z = z + self.bias
        out = self.activation(z)
        return out, [out]


class LSTMCell(_CellBase):
    """Keras LSTMCell: gates i, f, c, o; states [h, c]."""
    _gates = 4

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid",
                 unit_forget_bias=True, **kwargs):
        super().__init__(units, activation=activation, **kwargs)
        self.recurrent_activation, self._rec_ser = _act(recurrent_activation)
        self.unit_forget_bias = bool(unit_forget_bias)

    @property
    def state_size(self):
        return [self.units, self.units]

    def _bias_init(self):
        base = _initializer(self.bias_initializer)
        if not self.unit_forget_bias:
            return base
        U = self.units

        def init(shape, dtype=None):
            return np.concatenate([_init_value(base, (U,), dtype), np.ones(U),
                                   _init_value(base, (2 * U,), dtype)])
        return init

    def call(self, inputs, states, training=None):
        h, c = states[0], states[1]
        x = inputs
        dp, rdp = self._masks(x, h, training)
        if dp is not None:
            x = x * dp
        hh = h * rdp if rdp is not None else h
        z = _math_ops.matmul(x, self.kernel) + _math_ops.matmul(hh, self.recurrent_kernel)
        if self.use_bias:
            z = z + self.bias
        zi, zf, zc, zo = _array_ops.split(z, 4, axis=-1)
        i = self.recurrent_activation(zi)
        f = self.recurrent_activation(zf)
        c = f * c + i * self.activation(zc)
        o = self.recurrent_activation(zo)
        h = o * self.activation(c)
        return h, [h, c]

    def get_config(self):
        cfg = super().get_config()
        cfg.update({"recurrent_activation": self._rec_ser,
                    "unit_forget_bias": self.unit_forget_bias})
        return cfg


class GRUCell(_CellBase):
    """Keras GRUCell: gates z, r, h; reset_after=True (bias (2, 3U)) or False (bias (3U,))."""
    _gates = 3

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid",
                 reset_after=True, **kwargs):
        super().__init__(units, activation=activation, **kwargs)
        self.recurrent_activation, self._rec_ser = _act(recurrent_activation)
        self.reset_after = bool(reset_after)

    def _bias_shape(self):
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)

    def call(self, inputs, states, training=None):
        h = states[0] if isinstance(states, (list, tuple)) else states
        U = self.units
        x = inputs
        dp, rdp = self._masks(x, h, training)
        if dp is not None:
            x = x * dp
        hh = h * rdp if rdp is not None else h
        xw = _math_ops.matmul(x, self.kernel)
        if self.use_bias:
            b_in = self.bias[0] if self.reset_after else self.bias
            xw = xw + b_in
        xz, xr, xh = _array_ops.split(xw, 3, axis=-1)
        R = self.recurrent_kernel
        if self.reset_after:
            hr = _math_ops.matmul(hh, R)
            if self.use_bias:
                hr = hr + self.bias[1]
            rz, rr, rh = _array_ops.split(hr, 3, axis=-1)
            z = self.recurrent_activation(xz + rz)
            r = self.recurrent_activation(xr + rr)
            n = self.activation(xh + r * rh)
        else:
            Rz, Rr, Rh = _array_ops.split(R, 3, axis=-1)
            z = self.recurrent_activation(xz + _math_ops.matmul(hh, Rz))
            r = self.recurrent_activation(xr + _math_ops.matmul(hh, Rr))
            n = self.activation(xh + _math_ops.matmul(r * hh, Rh))
        out = z * h + (1.0 - z) * n
        del U
        return out, [out]

    def get_config(self):
        cfg = super().get_config()
        cfg.update({"recurrent_activation": self._rec_ser, "reset_after": self.reset_after})
        return cfg


def _cell_output_size(cell):
    """Keras: a cell's `output_size`, else the first entry of its `state_size` (the RNN
    guide's MinimalRNNCell sets only state_size)."""
    size = getattr(cell, "output_size", None)
    if size is None:
        size = cell.state_size
        if isinstance(size, (list, tuple)):
            size = size[0]
    if hasattr(size, "as_list"):
        size = size.as_list()[-1]
    return int(size)


class StackedRNNCells(Layer):
    """Several cells run as one (states concatenated in order)."""

    def __init__(self, cells, **kwargs):
        super().__init__(**kwargs)
        self.cells = list(cells)

    @property
    def state_size(self):
        out = []
        for c in self.cells:
            s = c.state_size
            out.extend(s if isinstance(s, (list, tuple)) else [s])
        return out

    @property
    def output_size(self):
        return _cell_output_size(self.cells[-1])

    def build(self, input_shape):
        shape = tuple(input_shape)
        for c in self.cells:
            if not c.built:
                c._maybe_build(_wrap(place(np.zeros((1,) + tuple(shape[1:]), c._np_dtype))))
            shape = shape[:-1] + (_cell_output_size(c),)
        self.built = True

    def call(self, inputs, states, training=None):
        new_states = []
        i = 0
        x = inputs
        for c in self.cells:
            n = len(c.state_size) if isinstance(c.state_size, (list, tuple)) else 1
            if c._call_accepts_training:
                x, ns = c.call(x, list(states[i:i + n]), training=training)
            else:  # a user cell whose call(inputs, states) takes no `training`
                x, ns = c.call(x, list(states[i:i + n]))
            new_states.extend(ns if isinstance(ns, (list, tuple)) else [ns])
            i += n
        return x, new_states


# ----------------------------------------------------------------------------- RNN layer


class RNN(Layer):
    """Runs `cell` over the time axis (batch, time, features). Subclasses with a fused kernel
    (LSTM, GRU, SimpleRNN) override `_fused`."""

    def __init__(self, cell, return_sequences=False, return_state=False, go_backwards=False,
                 stateful=False, unroll=False, time_major=False, zero_output_for_mask=None,
                 **kwargs):
        super().__init__(**kwargs)
        if isinstance(cell, (list, tuple)):
            cell = StackedRNNCells(cell)
        self.cell = cell
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.stateful = bool(stateful)
        self.unroll = bool(unroll)  # accepted, ignored (the loop always runs in C++ or Python)
        self.time_major = bool(time_major)
        if self.time_major:
            raise ValueError(f"[{self.name}] time_major=True is not supported")
        # Keras: False by default (masked steps repeat the previous output); Bidirectional
        # forces it to return_sequences on its two layers.
        self.zero_output_for_mask = bool(zero_output_for_mask)
        self.supports_masking = True
        self.input_spec = InputSpec(min_ndim=3)
        self.states = None
        self._symbolic_depth = 0

    # -- Keras properties forwarded to the cell --------------------------------------------
    def __getattr__(self, name):
        # Only reached when normal lookup fails: units, kernel, activation, ... of the cell.
        if name.startswith("_") or name in ("cell",):
            raise AttributeError(name)
        cell = self.__dict__.get("cell")
        if cell is not None and hasattr(cell, name):
            return getattr(cell, name)
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def _state_shapes(self):
        """The shape (without batch) of each state, flattened from `cell.state_size`: an int
        is a vector state, a TensorShape (or anything with as_list) a state of that shape, and
        lists/tuples/dicts nest (the Keras guide's NestedCell:
        [TensorShape([u1]), TensorShape([u2, u3])])."""
        return [_size_shape(s) for s in _flatten_sizes(self.cell.state_size)]

    def _state_sizes(self):
        # the last dimension of each state (the only one for the built-in cells)
        return [s[-1] if s else 1 for s in self._state_shapes()]

    def _pack_states(self, flat):
        """Flat state tensors in the structure of `cell.state_size`, as the cell's call takes
        them (a list of one for a single int state, as Keras passes it)."""
        size = self.cell.state_size
        if not _is_size_nest(size):
            return list(flat)
        return _pack_sizes(size, list(flat))

    @property
    def _fixed_batch(self):
        b = self._batch_input_shape
        return b[0] if b is not None else None

    def build(self, input_shape):
        if self.cell.built:
            self.built = True
            return
        if isinstance(input_shape, list) and input_shape and not isinstance(input_shape[0], (int, type(None))):
            input_shape = input_shape[0]
        input_shape = tuple(input_shape)
        self._build_cell_from_shape(tuple(input_shape[:1]) + tuple(input_shape[2:]))
        self.built = True

    def _build_cell_from_shape(self, step_shape):
        if not self.cell.built:
            self.cell.build(step_shape)
            self.cell._build_input_shape = step_shape
            self.cell.built = True

    def _maybe_build(self, inputs):
        # The cell is built from the per-step shapes of the sequence structure (a nested
        # input's cell gets a matching structure of shapes); the base class only sees a flat
        # list of shapes and cannot tell a nested input from [x, *initial_states].
        if not self.built and not self.cell.built:
            x, _ = self._split_inputs(inputs, check=False)
            if _is_nest(x):
                self._build_cell_from_shape(_map_nest(
                    lambda t: TensorShape((t.shape[0],) + tuple(t.shape[2:])), x))
        super()._maybe_build(inputs)

    # -- states --------------------------------------------------------------------------
    def reset_states(self, states=None):
        """Zeroes the stored states of a stateful layer (or sets them to `states`); harmless
        on a stateless layer."""
        if not self.stateful:
            self.states = None
            return
        B = self._fixed_batch
        shapes = self._state_shapes()
        if states is None:
            if B is None:
                self.states = None
                return
            self.states = [place(np.zeros((B,) + s, self._np_dtype)) for s in shapes]
            return
        states = flatten(states) if isinstance(states, (list, tuple, dict)) else [states]
        if len(states) != len(shapes):
            raise ValueError(f"[{self.name}] reset_states expected {len(shapes)} "
                             f"state arrays, got {len(states)}")
        self.states = [place(np.array(s.numpy() if isinstance(s, Tensor) else s,
                                      dtype=self._np_dtype)) for s in states]

    reset_state = reset_states

    def get_initial_state(self, inputs):
        leaf = flatten(inputs)[0] if _is_nest(inputs) else inputs
        B = leaf.shape[0]
        return [_wrap(place(np.zeros((B,) + s, self._np_dtype))) for s in self._state_shapes()]

    # -- call ----------------------------------------------------------------------------
    def __call__(self, inputs=None, *args, **kwargs):
        initial_state = kwargs.pop("initial_state", None)
        constants = kwargs.pop("constants", None)
        if constants is not None:
            raise ValueError(f"[{self.name}] constants are not supported")
        if initial_state is not None:
            init = flatten(initial_state) if isinstance(initial_state, (list, tuple, dict)) \
                else [initial_state]
            x = inputs[0] if isinstance(inputs, list) else inputs
            inputs = [x] + init
        elif isinstance(inputs, (list, tuple)) and len(inputs) == 1:
            inputs = inputs[0]
        return super().__call__(inputs, *args, **kwargs)

    def _symbolic_call(self, inputs, args, kwargs):
        self._symbolic_depth += 1
        try:
            return super()._symbolic_call(inputs, args, kwargs)
        finally:
            self._symbolic_depth -= 1

    def _split_inputs(self, inputs, check=True):
        """(sequences, initial states or None). A tuple or dict is one nested input (Keras's
        rule: RNN(cell)((x1, x2))); a list is [x, *initial_states] when its tail matches the
        cell's states, else a nested input whose items are all sequences of one length."""
        if isinstance(inputs, (tuple, dict)):
            return inputs, None
        if not isinstance(inputs, list):
            return inputs, None
        x, init = inputs[0], list(inputs[1:])
        shapes = self._state_shapes()
        if len(init) == len(shapes) and all(
                tuple(_shape_of(s))[1:] == shp for s, shp in zip(init, shapes)):
            return x, [_t(s) for s in init]
        if len(inputs) > 1 and all(len(_shape_of(v)) >= 3 for v in flatten(inputs)):
            bt = {tuple(_shape_of(v))[:2] for v in flatten(inputs)}
            if len(bt) == 1:
                return inputs, None
        if not check:
            return x, init
        if len(init) != len(shapes):
            raise ValueError(f"[{self.name}] expected {len(shapes)} initial state tensor(s), "
                             f"got {len(init)}")
        got = [tuple(_shape_of(s)) for s in init]
        raise ValueError(f"[{self.name}] the initial states must have shapes "
                         f"{[(None,) + s for s in shapes]} (batch first), got {got}")

    def _initial_states(self, x, init):
        B = x._data.shape[0]
        shapes = self._state_shapes()
        if init is not None:
            for s, shp in zip(init, shapes):
                if tuple(s._data.shape) != (B,) + shp:
                    raise ValueError(
                        f"[{self.name}] initial state of shape {tuple(s._data.shape)} does not "
                        f"match the batch {B} and the cell's state shape {shp}: expected "
                        f"{[(B,) + s for s in shapes]}")
        if self.stateful and self._symbolic_depth > 0:
            # Shape inference on a dummy batch: never check or touch the stored states.
            return init if init is not None else \
                [_wrap(place(np.zeros((B,) + s, x._data.dtype))) for s in shapes]
        if self.stateful:
            fixed = self._fixed_batch
            if fixed is not None and B != fixed:
                raise ValueError(
                    f"[{self.name}] this stateful layer was built for batch size {fixed} "
                    f"(batch_input_shape / batch_size), but received a batch of {B} samples. "
                    f"Pass batch_size={fixed} to fit/predict/evaluate and make the number of "
                    "samples a multiple of it")
            if fixed is None:
                self._batch_input_shape = (B,) + tuple(x._data.shape[1:])
            if init is not None:
                return init
            if self.states is None or self.states[0].shape[0] != B:
                self.reset_states()
                if self.states is None:
                    self.states = [place(np.zeros((B,) + s, self._np_dtype)) for s in shapes]
            return [_wrap(s.astype(x._data.dtype, copy=False)) for s in self.states]
        if init is not None:
            return init
        return [_wrap(z) for z in self._zero_states(B, x._data)]

    def _zero_states(self, B, like):
        """The zero initial states of a stateless call, on the input's device, made once per
        (batch size, dtype, device) and reused: kernels only read them, so every training step
        does not allocate, fill or upload fresh zeros (on a GPU that was one host-to-device copy
        per state per step)."""
        cache = self.__dict__.setdefault("_zero_state_cache", {})
        key = (B, like.dtype, type(like), type(getattr(like, "buf", None)))
        zs = cache.get(key)
        if zs is None:
            if len(cache) >= 4:  # a few batch sizes (the last, partial batch): bounded
                cache.clear()
            zs = cache[key] = [np.zeros_like(like, shape=(B,) + s) for s in self._state_shapes()]
        return zs

    def _store_states(self, final):
        if self.stateful and self._symbolic_depth == 0:
            self.states = [s._data.copy() for s in final]

    def call(self, inputs, mask=None, training=None):
        x, init = self._split_inputs(inputs)
        nested = _is_nest(x)
        xs = [_t(v) for v in (flatten(x) if nested else [x])]
        if self._autocast:
            xs = [_math_ops.cast(v, self._dtype_name)
                  if v._data.dtype != self._np_dtype and v._data.dtype.kind in "fiub" else v
                  for v in xs]
        if init is not None:
            init = [_math_ops.cast(s, self._dtype_name) if s._data.dtype != self._np_dtype
                    else s for s in init]
        fused = type(self)._fused is not RNN._fused
        for v in xs:
            if v._data.ndim != 3 and (fused or v._data.ndim < 3):
                raise ValueError(f"[{self.name}] expected input of shape (batch, time, features"
                                 f"{'' if fused else ', ...'}), got {tuple(v._data.shape)}")
        if nested and len({tuple(v._data.shape[:2]) for v in xs}) > 1:
            raise ValueError(f"[{self.name}] the nested inputs must share batch and time "
                             f"(axes 0 and 1), got shapes {[tuple(v._data.shape) for v in xs]}")
        x0 = xs[0]
        if x0._data.shape[1] == 0:
            raise ValueError(f"[{self.name}] the input has no timesteps: shape "
                             f"{tuple(x0._data.shape)}")
        states = self._initial_states(x0, init)
        if isinstance(mask, (list, tuple, dict)):
            mask = next((m for m in flatten(mask) if m is not None), None)
        if mask is not None:
            m = _asarray(mask._data if isinstance(mask, Tensor) else mask).astype(bool)
            if type(m) is not type(x0._data):  # a NumPy mask given with GPU inputs
                m = to_device(m, "cpu" if type(x0._data) is np.ndarray else "cuda")
            if tuple(m.shape) != tuple(x0._data.shape[:2]):
                raise ValueError(f"[{self.name}] the mask must have shape (batch, time) = "
                                 f"{tuple(x0._data.shape[:2])}, got {tuple(m.shape)}")
            mask = None if m.all() else m
        out = None
        if mask is None and not nested:
            out = self._fused(x0, states, training)
        if out is None:
            xin = _pack_nest(x, xs) if nested else x0
            out = self._loop(xin, states, training, mask)
        seq, last, final = out
        self._store_states(final)
        output = seq if self.return_sequences else last
        # for compute_mask: each output of a nested tuple/list output gets the sequence mask
        self._n_outputs = len(output) if isinstance(output, (list, tuple)) else 0
        if self.return_state:
            return [output] + list(final)
        return output

    def compute_mask(self, inputs, mask=None):
        if isinstance(mask, (list, tuple, dict)):
            mask = next((m for m in flatten(mask) if m is not None), None)
        out = mask if self.return_sequences else None
        if self.return_state:
            return [out] + [None] * len(self._state_shapes())
        n = self.__dict__.get("_n_outputs", 0)
        return [out] * n if n and out is not None else out

    def _fused(self, x, states, training):
        return None

    def _loop(self, x, states, training, mask):
        """Generic step-by-step loop in Python (any cell, nested inputs/states/outputs; masks;
        recurrent dropout). `x` is a Tensor or a nest of Tensors (batch, time, ...)."""
        nested = _is_nest(x)
        xs = flatten(x) if nested else [x]
        T = xs[0]._data.shape[1]
        cell = self.cell
        if hasattr(cell, "reset_dropout_mask"):
            cell.reset_dropout_mask()
            cell.reset_recurrent_dropout_mask()
        order = range(T - 1, -1, -1) if self.go_backwards else range(T)
        kw = {"training": training} if getattr(cell, "_call_accepts_training", False) else {}
        outs = None        # one list of step outputs per output leaf
        out_struct = None
        prev = None
        states = list(states)
        dtype = xs[0]._data.dtype
        for t in order:
            xt = _pack_nest(x, [v[:, t] for v in xs]) if nested else x[:, t]
            o, new = cell.call(xt, self._pack_states(states), **kw)
            if out_struct is None:
                out_struct = o
                outs = [[] for _ in _flat_out(o)]
            o_flat = [_t(v) for v in _flat_out(o)]
            new = [_t(v) for v in (flatten(new) if isinstance(new, (list, tuple, dict))
                                   else [new])]
            if len(new) != len(states):
                raise ValueError(f"[{self.name}] the cell returned {len(new)} state(s), but its "
                                 f"state_size describes {len(states)}")
            if mask is not None:
                mt = mask[:, t].astype(dtype)
                new = [_masked(n, s, mt) for n, s in zip(new, states)]
                if prev is None:
                    prev = [_wrap(place(np.zeros(v._data.shape, v._data.dtype))) for v in o_flat]
                if self.zero_output_for_mask:
                    base = [_wrap(place(np.zeros(v._data.shape, v._data.dtype))) for v in o_flat]
                else:
                    base = prev
                o_flat = [_masked(v, b, mt) for v, b in zip(o_flat, base)]
            for lst, v in zip(outs, o_flat):
                lst.append(v)
            prev = o_flat
            states = new
        last = [lst[-1] for lst in outs]
        seq = [_array_ops.stack(lst, axis=1) for lst in outs] if self.return_sequences else None
        if _is_nest(out_struct):
            last = _pack_nest(out_struct, last)
            seq = _pack_nest(out_struct, seq) if seq is not None else None
        else:
            last = last[0]
            seq = seq[0] if seq is not None else None
        return seq, last, states

    def get_config(self):
        cfg = super().get_config()
        cfg.update({"return_sequences": self.return_sequences, "return_state": self.return_state,
                    "go_backwards": self.go_backwards, "stateful": self.stateful,
                    "unroll": self.unroll, "zero_output_for_mask": self.zero_output_for_mask})
        if type(self) is RNN:
            cfg["cell"] = {"class_name": type(self.cell).__name__,
                           "config": self.cell.get_config()}
        return cfg

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        if cls is RNN:
            from . import deserialize
            config["cell"] = deserialize(config["cell"], custom_objects=custom_objects)
        return super().from_config(config)


_CELL_KEYS = ("units", "activation", "use_bias", "kernel_initializer", "recurrent_initializer",
              "bias_initializer", "kernel_regularizer", "recurrent_regularizer",
              "bias_regularizer", "kernel_constraint", "recurrent_constraint", "bias_constraint",
              "dropout", "recurrent_dropout", "seed")


class _FusedRNN(RNN):
    _cell_cls = None
    _extra_cell_keys = ()

    def __init__(self, units, return_sequences=False, return_state=False, go_backwards=False,
                 stateful=False, unroll=False, **kwargs):
        cell_kw = {k: kwargs.pop(k) for k in _CELL_KEYS + self._extra_cell_keys if k in kwargs}
        kwargs.pop("implementation", None)
        if kwargs.pop("time_major", False):
            raise ValueError(f"[{type(self).__name__}] time_major=True is not supported: pass "
                             "batch-major inputs (batch, time, features)")
        kwargs.pop("use_cudnn", None)
        zo = kwargs.pop("zero_output_for_mask", None)
        cell_dtype = kwargs.get("dtype")
        cell = self._cell_cls(units, dtype=cell_dtype, name="cell",
                              trainable=kwargs.get("trainable", True), **cell_kw)
        super().__init__(cell, return_sequences=return_sequences, return_state=return_state,
                         go_backwards=go_backwards, stateful=stateful, unroll=unroll,
                         zero_output_for_mask=zo, **kwargs)
        # Weight names as Keras shows them: <layer>/<kernel|recurrent_kernel|bias>.
        cell.name = self.name + "_cell"

    def _fused_ok(self, training):
        c = self.cell
        if _is_training(training) and c.recurrent_dropout > 0:
            return False
        names = [_act_kernel_name(c._act_ser, c.activation)]
        if hasattr(c, "_rec_ser"):
            names.append(_act_kernel_name(c._rec_ser, c.recurrent_activation))
        return all(n is not None for n in names)

    def _fused_input(self, x, training):
        c = self.cell
        if _is_training(training) and c.dropout > 0:
            B, T, D = x._data.shape
            mask = _dropout_mask((B, 1, D), c.dropout, x._data.dtype, x._data)
            x = x * mask
        return x

    def get_config(self):
        cfg = super().get_config()
        cell_cfg = self.cell.get_config()
        for k in _CELL_KEYS + self._extra_cell_keys:
            if k in cell_cfg:
                cfg[k] = cell_cfg[k]
        return cfg


class SimpleRNN(_FusedRNN):
    """Fully-connected RNN whose output is fed back: h = act(x W + h R + b)."""
    _cell_cls = SimpleRNNCell

    def __init__(self, units, activation="tanh", **kwargs):
        super().__init__(units, activation=activation, **kwargs)

    def _fused(self, x, states, training):
        if not self._fused_ok(training):
            return None
        c = self.cell
        x = self._fused_input(x, training)
        seq, h = rnn_ops.simple_rnn(x, states[0], c.kernel, c.recurrent_kernel,
                                    c.bias if c.use_bias else None, self.go_backwards,
                                    _act_kernel_name(c._act_ser, c.activation))
        return seq, h, [h]


class LSTM(_FusedRNN):
    """Long Short-Term Memory (Hochreiter 1997), Keras layout, fused C++ sequence kernel."""
    _cell_cls = LSTMCell
    _extra_cell_keys = ("recurrent_activation", "unit_forget_bias")

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid",
                 unit_forget_bias=True, **kwargs):
        super().__init__(units, activation=activation, recurrent_activation=recurrent_activation,
                         unit_forget_bias=unit_forget_bias, **kwargs)

    def _fused(self, x, states, training):
        if not self._fused_ok(training):
            return None
        c = self.cell
        x = self._fused_input(x, training)
        seq, h, cc = rnn_ops.lstm(x, states[0], states[1], c.kernel, c.recurrent_kernel,
                                  c.bias if c.use_bias else None, self.go_backwards,
                                  _act_kernel_name(c._act_ser, c.activation),
                                  _act_kernel_name(c._rec_ser, c.recurrent_activation))
        return seq, h, [h, cc]


class GRU(_FusedRNN):
    """Gated Recurrent Unit (Cho 2014), Keras layout (reset_after=True default)."""
    _cell_cls = GRUCell
    _extra_cell_keys = ("recurrent_activation", "reset_after")

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid",
                 reset_after=True, **kwargs):
        super().__init__(units, activation=activation, recurrent_activation=recurrent_activation,
                         reset_after=reset_after, **kwargs)

    def _fused(self, x, states, training):
        if not self._fused_ok(training):
            return None
        c = self.cell
        x = self._fused_input(x, training)
        seq, h = rnn_ops.gru(x, states[0], c.kernel, c.recurrent_kernel,
                             c.bias if c.use_bias else None, self.go_backwards,
                             _act_kernel_name(c._act_ser, c.activation),
                             _act_kernel_name(c._rec_ser, c.recurrent_activation),
                             c.reset_after)
        return seq, h, [h]


LSTMV1 = LSTM
GRUV1 = GRU


# ----------------------------------------------------------------------------- wrappers


class Bidirectional(Layer):
    """Runs `layer` forwards and a copy backwards; merges with concat/sum/mul/ave/None."""

    def __init__(self, layer, merge_mode="concat", weights=None, backward_layer=None, **kwargs):
        super().__init__(**kwargs)
        if merge_mode not in ("concat", "sum", "mul", "ave", None):
            raise ValueError(f"[{self.name}] invalid merge_mode {merge_mode!r}: expected "
                             "'concat', 'sum', 'mul', 'ave' or None")
        if isinstance(layer, dict):
            from . import deserialize
            layer = deserialize(layer)
        self.forward_layer = layer
        if backward_layer is None:
            cfg = layer.get_config()
            cfg["go_backwards"] = not cfg.get("go_backwards", False)
            cfg["name"] = "backward_" + layer.name
            cfg.pop("batch_input_shape", None)
            backward_layer = type(layer).from_config(cfg)
        elif isinstance(backward_layer, dict):
            from . import deserialize
            backward_layer = deserialize(backward_layer)
        self.backward_layer = backward_layer
        if not layer.name.startswith("forward_"):
            layer.name = "forward_" + layer.name
        for l in (self.forward_layer, self.backward_layer):
            if getattr(l, "zero_output_for_mask", None) is not None:
                l.zero_output_for_mask = l.return_sequences
        self.merge_mode = merge_mode
        self.return_sequences = getattr(layer, "return_sequences", False)
        self.return_state = getattr(layer, "return_state", False)
        self.stateful = getattr(layer, "stateful", False)
        self._init_weights = weights
        self.supports_masking = True

    def build(self, input_shape):
        self.built = True

    def reset_states(self, states=None):
        self.forward_layer.reset_states()
        self.backward_layer.reset_states()

    reset_state = reset_states

    def __call__(self, inputs=None, *args, **kwargs):
        initial_state = kwargs.pop("initial_state", None)
        if initial_state is not None:
            init = list(initial_state)
            x = inputs[0] if isinstance(inputs, (list, tuple)) else inputs
            inputs = [x] + init
        return super().__call__(inputs, *args, **kwargs)

    def call(self, inputs, training=None, mask=None):
        if isinstance(inputs, (list, tuple)):
            x, init = inputs[0], list(inputs[1:])
            half = len(init) // 2
            fw_init, bw_init = init[:half], init[half:]
        else:
            x, fw_init, bw_init = inputs, None, None
        kw = {"training": training}
        if mask is not None:
            kw["mask"] = mask
        fw = self.forward_layer(x, initial_state=fw_init, **kw) if fw_init else \
            self.forward_layer(x, **kw)
        bw = self.backward_layer(x, initial_state=bw_init, **kw) if bw_init else \
            self.backward_layer(x, **kw)
        if self.return_state:
            fw, fw_states = fw[0], fw[1:]
            bw, bw_states = bw[0], bw[1:]
        if self.return_sequences:
            bw = _array_ops.reverse(bw, [1])
        if self.merge_mode == "concat":
            out = _array_ops.concat([fw, bw], axis=-1)
        elif self.merge_mode == "sum":
            out = fw + bw
        elif self.merge_mode == "mul":
            out = fw * bw
        elif self.merge_mode == "ave":
            out = (fw + bw) * 0.5
        else:
            out = [fw, bw]
        if self.return_state:
            states = list(fw_states) + list(bw_states)
            return (out if isinstance(out, list) else [out]) + states
        return out

    def compute_mask(self, inputs, mask=None):
        if isinstance(mask, (list, tuple)):
            mask = mask[0] if mask else None
        out = mask if self.return_sequences else None
        outs = [out, out] if self.merge_mode is None else [out]
        if self.return_state:
            n = len(self.forward_layer._state_sizes()) * 2 if hasattr(
                self.forward_layer, "_state_sizes") else 0
            return outs + [None] * n
        return outs if self.merge_mode is None else out

    def get_config(self):
        cfg = super().get_config()
        cfg["layer"] = {"class_name": type(self.forward_layer).__name__,
                        "config": self.forward_layer.get_config()}
        cfg["merge_mode"] = self.merge_mode
        cfg["backward_layer"] = {"class_name": type(self.backward_layer).__name__,
                                 "config": self.backward_layer.get_config()}
        return cfg


class TimeDistributed(Layer):
    """Applies `layer` to every timestep: (batch, time, ...) -> (batch, time, ...)."""

    def __init__(self, layer, **kwargs):
        super().__init__(**kwargs)
        if isinstance(layer, dict):
            from . import deserialize
            layer = deserialize(layer)
        if not isinstance(layer, Layer):
            raise ValueError(f"[{self.name}] expected a Layer instance, got {layer!r}")
        self.layer = layer
        self.supports_masking = True

    def build(self, input_shape):
        self.built = True

    def call(self, inputs, training=None, mask=None):
        x = _t(inputs)
        shp = x._data.shape
        if len(shp) < 3:
            raise ValueError(f"[{self.name}] TimeDistributed needs an input of rank >= 3 "
                             f"(batch, time, ...), got shape {tuple(shp)}")
        B, T = shp[0], shp[1]
        flat = _array_ops.reshape(x, (B * T,) + tuple(shp[2:]))
        kw = {"training": training} if getattr(self.layer, "_call_accepts_training", False) else {}
        if mask is not None and getattr(self.layer, "_call_accepts_mask", False):
            m = _asarray(mask._data if isinstance(mask, Tensor) else mask)
            kw["mask"] = _wrap(m.reshape((B * T,) + m.shape[2:]))
        y = self.layer(flat, **kw)
        return _array_ops.reshape(y, (B, T) + tuple(y._data.shape[1:]))

    def get_config(self):
        cfg = super().get_config()
        cfg["layer"] = {"class_name": type(self.layer).__name__, "config": self.layer.get_config()}
        return cfg
