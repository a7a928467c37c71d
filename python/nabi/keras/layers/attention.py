"""Attention layers (Keras 2.11+ semantics): `EinsumDense`, `MultiHeadAttention`, `Attention`
(Luong, dot or concat scores) and `AdditiveAttention` (Bahdanau).

Each is a few existing nabi ops (einsum, matmul, softmax, elementwise math), so gradients come
from the tape and the layers run on whichever device holds their inputs.

Masks are 0/1 float tensors of the scores' dtype: a masked score gets -1e9 added before the
softmax (Keras 2's `_large_compatible_negative`), so a fully masked row is uniform, as in Keras 2.
"""
import math
import re
import string

import numpy as np

from ...framework.tensor import Tensor, TensorShape
from ...ops import array_ops as _a
from ...ops import linalg_ops as _la
from ...ops import math_ops as _m
from ...ops import nn_ops as _nn
from ...ops._common import operand_like
from ..initializers import VarianceScaling
from .base import (Layer, _is_symbolic, _pop_inert_options, _resolve, _serialize_obj,
                   get_mask)
from .core import Dropout, get_activation

__all__ = ["EinsumDense", "MultiHeadAttention", "Attention", "AdditiveAttention"]

_LARGE_NEGATIVE = 1e9
_CHR_IDX = string.ascii_lowercase


def _dims(shape):
    """A shape (TensorShape, tuple, list) as a tuple of ints / None."""
    return tuple(None if d is None else int(d) for d in tuple(shape))


def _is_shape_list(s):
    """True for a list of shapes ([q_shape, v_shape, ...]), False for one shape."""
    return isinstance(s, (list, tuple)) and len(s) > 0 and \
        isinstance(s[0], (list, tuple, TensorShape))


def _float_mask(mask, like):
    """A Keras mask (bool/0-1 Tensor, NumPy array or list) as a 0/1 tensor of `like`'s dtype on
    `like`'s device."""
    if isinstance(mask, Tensor):
        return _m.cast(mask, like.dtype)
    return operand_like(np.asarray(mask).astype(like._data.dtype), like)


# ----------------------------------------------------------------------------- EinsumDense


def _analyze_einsum_string(name, equation, bias_axes, input_shape, output_shape):
    """(kernel shape, bias shape or None, full output shape) for `equation` (Keras's rules:
    'ab,bc->ac', '...b,bc->...c' or 'ab...,bc->ac...')."""
    dot_replaced = re.sub(r"\.\.\.", "0", equation.replace(" ", ""))
    m = re.fullmatch("([a-zA-Z]+),([a-zA-Z]+)->([a-zA-Z]+)", dot_replaced)
    if m:
        return _analyze_split_string(name, m, bias_axes, input_shape, output_shape)
    m = re.fullmatch("0([a-zA-Z]+),([a-zA-Z]+)->0([a-zA-Z]+)", dot_replaced)
    if m:
        return _analyze_split_string(name, m, bias_axes, input_shape, output_shape,
                                     left_elided=True)
    m = re.fullmatch("([a-zA-Z]{2,})0,([a-zA-Z]+)->([a-zA-Z]+)0", dot_replaced)
    if m:
        return _analyze_split_string(name, m, bias_axes, input_shape, output_shape)
    raise ValueError(f"[{name}] invalid einsum equation {equation!r}: equations must be of the "
                     "form [X],[Y]->[Z], ...[X],[Y]->...[Z] or [X]...,[Y]->[Z]...")


def _analyze_split_string(name, split, bias_axes, input_shape, output_shape, left_elided=False):
    input_spec, weight_spec, output_spec = split.group(1), split.group(2), split.group(3)
    input_shape = list(input_shape)
    elided = len(input_shape) - len(input_spec)
    if elided < 0 or (elided > 0 and "0" not in re.sub(r"\.\.\.", "0", split.string)):
        raise ValueError(f"[{name}] the equation's input term {input_spec!r} has "
                         f"{len(input_spec)} axes but the input has shape {tuple(input_shape)}")
    output_shape = [output_shape] if isinstance(output_shape, int) else list(output_shape)
    output_shape.insert(0, input_shape[0])
    if elided > 0 and left_elided:
        for i in range(1, elided):
            output_shape.insert(1, input_shape[i])
    elif elided > 0:
        for i in range(len(input_shape) - elided, len(input_shape)):
            output_shape.append(input_shape[i])
    if left_elided:
        input_dim_map = {d: (i + elided) - len(input_shape) for i, d in enumerate(input_spec)}
        output_dim_map = {d: i + elided for i, d in enumerate(output_spec)}
    else:
        input_dim_map = {d: i for i, d in enumerate(input_spec)}
        output_dim_map = {d: i for i, d in enumerate(output_spec)}
    if len(output_shape) != len(output_spec) + max(elided, 0):
        raise ValueError(f"[{name}] output_shape {tuple(output_shape[1:])} does not match the "
                         f"equation's output term {output_spec!r} (input shape "
                         f"{tuple(input_shape)})")
    for d in input_spec:
        in_d = input_shape[input_dim_map[d]]
        if d in output_dim_map:
            out_d = output_shape[output_dim_map[d]]
            if out_d is not None and in_d is not None and out_d != in_d:
                raise ValueError(f"[{name}] input shape {tuple(input_shape)} and output shape "
                                 f"{tuple(output_shape)} disagree on dimension {d!r}: "
                                 f"{in_d} != {out_d}")
    for d in output_spec:
        if d not in input_spec and d not in weight_spec:
            raise ValueError(f"[{name}] output dimension {d!r} is in neither the input "
                             f"{input_spec!r} nor the weight {weight_spec!r}")
    weight_shape = []
    for d in weight_spec:
        if d in input_dim_map:
            weight_shape.append(input_shape[input_dim_map[d]])
        elif d in output_dim_map:
            weight_shape.append(output_shape[output_dim_map[d]])
        else:
            raise ValueError(f"[{name}] weight dimension {d!r} is in neither the input "
                             f"{input_spec!r} nor the output {output_spec!r}")
    if any(d is None for d in weight_shape):
        raise ValueError(f"[{name}] the kernel dimensions {weight_spec!r} must be known, got input "
                         f"shape {tuple(input_shape)} and output shape {tuple(output_shape)}")
    bias_shape = None
    if bias_axes is not None:
        for c in bias_axes:
            if c not in output_spec:
                raise ValueError(f"[{name}] bias axis {c!r} is not in the output term "
                                 f"{output_spec!r}")
        idx_map = {c: output_shape[output_dim_map[c]] for c in output_spec}
        first = min(output_spec.find(c) for c in bias_axes)
        bias_shape = [idx_map[c] if c in bias_axes else 1 for c in output_spec[first:]]
        if not left_elided:
            bias_shape.extend([1] * elided)
    kernel_axes = [input_dim_map[d] for d in weight_spec if d in input_dim_map]
    return weight_shape, bias_shape, output_shape, kernel_axes


class EinsumDense(Layer):
    """A dense layer of any rank: `activation(einsum(equation, inputs, kernel) + bias)`, e.g.
    `EinsumDense("abc,cde->abde", output_shape=(None, 4, 8), bias_axes="de")`."""

    def __init__(self, equation, output_shape, activation=None, bias_axes=None,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        _pop_inert_options("EinsumDense", kwargs, quantization_config=None)
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        if not isinstance(equation, str) or "->" not in equation:
            raise ValueError(f"[{self.name}] equation must be a string like 'ab,bc->ac', got "
                             f"{equation!r}")
        self.equation = equation
        if isinstance(output_shape, (int, np.integer)):
            self.partial_output_shape = [int(output_shape)]
        else:
            self.partial_output_shape = [None if d is None else int(d) for d in output_shape]
        self.bias_axes = bias_axes
        self.activation, _, self._activation_name = get_activation(activation)
        self.kernel_initializer = kernel_initializer
        self.bias_initializer = bias_initializer
        self.kernel_regularizer = kernel_regularizer
        self.bias_regularizer = bias_regularizer
        self.kernel_constraint = kernel_constraint
        self.bias_constraint = bias_constraint

    def build(self, input_shape):
        shape = _dims(input_shape)
        kshape, bshape, full, kaxes = _analyze_einsum_string(
            self.name, self.equation, self.bias_axes, shape, self.partial_output_shape)
        self.full_output_shape = tuple(full)
        self._in_shape = shape
        self._kernel_axes = kaxes
        self.kernel = self.add_weight("kernel", tuple(kshape),
                                      initializer=self._fan_aware_initializer(kshape),
                                      regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint)
        self.bias = None
        if bshape is not None:
            self.bias = self.add_weight("bias", tuple(bshape), initializer=self.bias_initializer,
                                        regularizer=self.bias_regularizer,
                                        constraint=self.bias_constraint)
        self.built = True

    def _fan_aware_initializer(self, kshape):
        """Keras 3: a VarianceScaling kernel initializer (glorot, he, lecun) counts fan_out over
        the kernel axes that reach the output and fan_in over the contracted ones, not the
        conv-kernel rule; drawing a (fan_in, fan_out) matrix gives that variance."""
        init = self.kernel_initializer
        if isinstance(init, (str, dict)):
            init = _resolve("initializers", init)
        if not isinstance(init, VarianceScaling) or (init.input_axes is not None and
                                                     init.output_axes is not None):
            return init
        lhs, out_spec = self.equation.replace(" ", "").split("->")
        weight_spec = lhs.split(",")[1]
        fan_out = int(np.prod([n for d, n in zip(weight_spec, kshape) if d in out_spec]))
        fan_in = int(np.prod(kshape)) // max(fan_out, 1)

        def draw(shape, dtype=None):
            return _a.reshape(init((fan_in, fan_out), dtype=dtype), tuple(shape))
        return draw

    def call(self, inputs):
        shp = tuple(inputs._data.shape)
        want = self._in_shape
        if len(shp) != len(want) or any(shp[a] != want[a] for a in self._kernel_axes):
            raise ValueError(f"[{self.name}] EinsumDense was built for inputs of shape {want}, "
                             f"got shape {shp}")
        y = _la.einsum(self.equation, inputs, self.kernel)
        if self.bias is not None:
            y = _m.add(y, self.bias)
        if self._activation_name not in (None, "linear"):
            y = self.activation(y)
        return y

    def compute_output_shape(self, input_shape):
        full = _analyze_einsum_string(self.name, self.equation, self.bias_axes,
                                      _dims(input_shape), self.partial_output_shape)[2]
        return tuple(full)

    def _maybe_build_shape(self, shape):
        """Builds the layer (creating its weights) for inputs of `shape`, once."""
        if not self.built:
            self.build(TensorShape(shape))
            self._build_input_shape = tuple(shape)
            self.built = True

    def get_config(self):
        from .core import _activation_name
        s = _serialize_obj
        config = super().get_config()
        config.update({
            "output_shape": list(self.partial_output_shape), "equation": self.equation,
            "activation": self._activation_name if isinstance(self._activation_name, str)
            else _activation_name(self.activation),
            "bias_axes": self.bias_axes,
            "kernel_initializer": s(self.kernel_initializer, "initializers"),
            "bias_initializer": s(self.bias_initializer, "initializers"),
            "kernel_regularizer": s(self.kernel_regularizer, "regularizers"),
            "bias_regularizer": s(self.bias_regularizer, "regularizers"),
            "activity_regularizer": s(self.activity_regularizer, "regularizers"),
            "kernel_constraint": s(self.kernel_constraint, "constraints"),
            "bias_constraint": s(self.bias_constraint, "constraints"),
        })
        return config


# ----------------------------------------------------------------------------- MultiHeadAttention


def _build_proj_equation(free_dims, bound_dims, output_dims):
    """Keras's projection einsum: free axes kept, bound axes contracted, output axes added."""
    input_str = kernel_str = output_str = bias_axes = ""
    offset = 0
    for i in range(free_dims):
        c = _CHR_IDX[i + offset]
        input_str += c
        output_str += c
    offset += free_dims
    for i in range(bound_dims):
        c = _CHR_IDX[i + offset]
        input_str += c
        kernel_str += c
    offset += bound_dims
    for i in range(output_dims):
        c = _CHR_IDX[i + offset]
        kernel_str += c
        output_str += c
        bias_axes += c
    return f"{input_str},{kernel_str}->{output_str}", bias_axes, len(output_str)


def _get_output_shape(output_rank, known_last_dims):
    return [None] * (output_rank - len(known_last_dims)) + list(known_last_dims)


def _build_attention_equation(rank, attn_axes):
    """(key.query -> scores equation, scores.value -> output equation, scores rank)."""
    target = _CHR_IDX[:rank]
    batch_dims = tuple(np.delete(range(rank), attn_axes + (rank - 1,)))
    offset = rank
    source = ""
    for i in range(rank):
        if i in batch_dims or i == rank - 1:
            source += target[i]
        else:
            source += _CHR_IDX[offset]
            offset += 1
    product = "".join([target[i] for i in batch_dims] + [target[i] for i in attn_axes] +
                      [source[i] for i in attn_axes])
    return f"{source},{target}->{product}", f"{product},{source}->{target}", len(product)


class MultiHeadAttention(Layer):
    """Multi-head attention ("Attention is all you need"), Keras 2 layout: query/key/value
    projections are EinsumDense layers with kernels (dim, num_heads, key_dim) and biases
    (num_heads, key_dim); `attention_output` maps (num_heads, value_dim) back to the query's
    last dimension (or `output_shape`). Called as `mha(query, value, key=None,
    attention_mask=None, return_attention_scores=False, training=None, use_causal_mask=False)`.
    """

    def __init__(self, num_heads, key_dim, value_dim=None, dropout=0.0, use_bias=True,
                 output_shape=None, attention_axes=None, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None,
                 **kwargs):
        query_shape = kwargs.pop("query_shape", None)
        key_shape = kwargs.pop("key_shape", None)
        value_shape = kwargs.pop("value_shape", None)
        self._seed = kwargs.pop("seed", None)          # Keras 3 configs
        _pop_inert_options("MultiHeadAttention", kwargs, use_gate=False, sliding_window=None)
        kwargs.pop("flash_attention", None)
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        for what, v in (("num_heads", num_heads), ("key_dim", key_dim)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v <= 0:
                raise ValueError(f"[{self.name}] MultiHeadAttention {what} must be a positive "
                                 f"integer, got {what}={v!r}")
        if value_dim is not None and (isinstance(value_dim, bool) or
                                      not isinstance(value_dim, (int, np.integer)) or
                                      value_dim <= 0):
            raise ValueError(f"[{self.name}] MultiHeadAttention value_dim must be a positive "
                             f"integer or None, got value_dim={value_dim!r}")
        dropout = float(dropout)
        if not 0.0 <= dropout <= 1.0:
            raise ValueError(f"[{self.name}] MultiHeadAttention dropout must be in [0, 1], got "
                             f"dropout={dropout}")
        self.supports_masking = True
        self._num_heads = int(num_heads)
        self._key_dim = int(key_dim)
        self._value_dim = int(value_dim) if value_dim else int(key_dim)
        self._dropout = dropout
        self._use_bias = bool(use_bias)
        if output_shape is not None and not isinstance(output_shape, (int, np.integer)):
            output_shape = [int(d) for d in output_shape]
        elif output_shape is not None:
            output_shape = int(output_shape)
        self._output_shape = output_shape
        if isinstance(attention_axes, (int, np.integer)):
            attention_axes = (int(attention_axes),)
        elif attention_axes is not None:
            attention_axes = tuple(int(a) for a in attention_axes)
        self._attention_axes = attention_axes
        self._config_attention_axes = attention_axes
        self._kernel_initializer = kernel_initializer
        self._bias_initializer = bias_initializer
        self._kernel_regularizer = kernel_regularizer
        self._bias_regularizer = bias_regularizer
        self._kernel_constraint = kernel_constraint
        self._bias_constraint = bias_constraint
        self._query_shape = self._key_shape = self._value_shape = None
        self._built_from_signature = False
        if query_shape is not None and value_shape is not None:
            self._build_from_signature(query_shape, value_shape, key_shape)

    # -- properties (Keras 2 names) -------------------------------------------------------
    num_heads = property(lambda self: self._num_heads)
    key_dim = property(lambda self: self._key_dim)
    value_dim = property(lambda self: self._value_dim)
    dropout = property(lambda self: self._dropout)
    use_bias = property(lambda self: self._use_bias)
    attention_axes = property(lambda self: self._attention_axes)
    query_dense = property(lambda self: self._query_dense)
    key_dense = property(lambda self: self._key_dense)
    value_dense = property(lambda self: self._value_dense)
    output_dense = property(lambda self: self._output_dense)

    def _sublayer_kwargs(self):
        """Each projection gets its own clone of an initializer instance (as Keras does): a
        seeded or Keras-seeded initializer is a stateless draw, so one shared instance would
        give the query, key and value projections the same kernel."""
        def fresh(init):
            return init.clone() if hasattr(init, "clone") and hasattr(init, "get_config") \
                else init
        return dict(kernel_initializer=fresh(self._kernel_initializer),
                    bias_initializer=fresh(self._bias_initializer),
                    kernel_regularizer=self._kernel_regularizer,
                    bias_regularizer=self._bias_regularizer,
                    kernel_constraint=self._kernel_constraint,
                    bias_constraint=self._bias_constraint, dtype=self._dtype_name)

    def _build_from_signature(self, query, value, key=None):
        """Creates the four projections (and their weights) for these input shapes."""
        def shape_of(x):
            return _dims(x._data.shape if isinstance(x, Tensor) else x)
        q, v = shape_of(query), shape_of(value)
        k = v if key is None else shape_of(key)
        self._check_shapes(q, v, k)
        q, v, k = ((None,) + s[1:] for s in (q, v, k))   # any batch size
        self._built_from_signature = True
        self._query_shape, self._value_shape, self._key_shape = q, v, k
        bias = self._use_bias
        eq, bias_axes, rank = _build_proj_equation(len(q) - 1, bound_dims=1, output_dims=2)
        self._query_dense = EinsumDense(
            eq, output_shape=_get_output_shape(rank - 1, [self._num_heads, self._key_dim]),
            bias_axes=bias_axes if bias else None, name="query", **self._sublayer_kwargs())
        eq, bias_axes, rank = _build_proj_equation(len(k) - 1, bound_dims=1, output_dims=2)
        self._key_dense = EinsumDense(
            eq, output_shape=_get_output_shape(rank - 1, [self._num_heads, self._key_dim]),
            bias_axes=bias_axes if bias else None, name="key", **self._sublayer_kwargs())
        eq, bias_axes, rank = _build_proj_equation(len(v) - 1, bound_dims=1, output_dims=2)
        self._value_dense = EinsumDense(
            eq, output_shape=_get_output_shape(rank - 1, [self._num_heads, self._value_dim]),
            bias_axes=bias_axes if bias else None, name="value", **self._sublayer_kwargs())
        self._build_attention(rank)
        if self._output_shape:
            out_shape = [self._output_shape] if isinstance(self._output_shape, int) \
                else list(self._output_shape)
        else:
            out_shape = [q[-1]]
        eq, bias_axes, rank = _build_proj_equation(len(q) - 1, bound_dims=2,
                                                   output_dims=len(out_shape))
        self._output_dense = EinsumDense(
            eq, output_shape=_get_output_shape(rank - 1, out_shape),
            bias_axes=bias_axes if bias else None, name="attention_output",
            **self._sublayer_kwargs())
        # Weights now (Keras order: query, key, value, attention_output), so a freshly built
        # layer can load saved weights before its first call.
        self._query_dense._maybe_build_shape(q)
        self._key_dense._maybe_build_shape(k)
        self._value_dense._maybe_build_shape(v)
        self._output_dense._maybe_build_shape(q[:-1] + (self._num_heads, self._value_dim))
        for sub in (self._query_dense, self._key_dense, self._value_dense, self._output_dense):
            for w in sub.weights:   # Keras 2 names: multi_head_attention/query/kernel:0
                w._name = f"{self.name}/{w._name}"
                w.path = f"{self.name}/{w.path}"
        self._dropout_layer = Dropout(rate=self._dropout, seed=self._seed,
                                      dtype=self._dtype_name)
        self._build_input_shape = [q, v, k]
        self.built = True

    def _build_attention(self, rank):
        if self._config_attention_axes is None:
            axes = tuple(range(1, rank - 2))
        else:
            axes = tuple(a % (rank - 1) if a < 0 else a for a in self._config_attention_axes)
            bad = [a for a in axes if not 1 <= a < rank - 2]
            if bad or len(set(axes)) != len(axes):
                raise ValueError(f"[{self.name}] MultiHeadAttention attention_axes="
                                 f"{self._config_attention_axes} must be distinct axes of the "
                                 f"query other than the batch and feature axes (1 .. {rank - 3}"
                                 f" for a query of shape {self._query_shape})")
        self._attention_axes = axes
        self._dot_product_equation, self._combine_equation, scores_rank = \
            _build_attention_equation(rank, attn_axes=axes)
        self._norm_axes = tuple(range(scores_rank - len(axes), scores_rank))

    def _check_shapes(self, q, v, k):
        name = self.name
        if len(q) < 3:
            raise ValueError(f"[{name}] MultiHeadAttention query must have rank >= 3 (batch, "
                             f"..., features), got query shape {q}")
        if len(v) != len(q) or len(k) != len(q):
            raise ValueError(f"[{name}] MultiHeadAttention query, value and key must have the "
                             f"same rank, got query shape {q}, value shape {v}, key shape {k}")
        if k[:-1] != v[:-1] and all(d is not None for d in k[:-1] + v[:-1]):
            raise ValueError(f"[{name}] MultiHeadAttention key and value must have the same "
                             f"shape except the last axis, got key shape {k} and value shape {v}")
        if q[0] is not None and v[0] is not None and q[0] != v[0]:
            raise ValueError(f"[{name}] MultiHeadAttention query and value must have the same "
                             f"batch size, got query shape {q} and value shape {v}")
        if any(d is None for d in (q[-1], v[-1], k[-1])):
            raise ValueError(f"[{name}] MultiHeadAttention needs the last axis of query, value "
                             f"and key defined, got query shape {q}, value shape {v}, key shape "
                             f"{k}")

    def build(self, query_shape, value_shape=None, key_shape=None):
        if value_shape is None and _is_shape_list(query_shape):
            shapes = list(query_shape)
            query_shape, value_shape = shapes[0], shapes[1]
            key_shape = shapes[2] if len(shapes) > 2 else None
        if value_shape is None:
            value_shape = query_shape
        if not self._built_from_signature:
            self._build_from_signature(query_shape, value_shape, key_shape)
        self.built = True

    # -- calling -----------------------------------------------------------------------
    def __call__(self, query=None, value=None, key=None, attention_mask=None,
                 return_attention_scores=False, training=None, use_causal_mask=False,
                 query_mask=None, value_mask=None, key_mask=None, **kwargs):
        # The tensors travel as one list [query, value, key(, attention_mask)], so functional
        # models record (and configs save) them as the layer's inputs; a replayed node
        # passes that list back as `query`.
        # Keras 3's value_mask / key_mask (B, S) take the place of those tensors' Keras masks;
        # query_mask is accepted but, as in Keras 3, the query's own Keras mask is used.
        del query_mask
        if value_mask is not None or key_mask is not None:
            if _is_symbolic(query):
                raise NotImplementedError(f"[{self.name}] MultiHeadAttention value_mask/key_mask "
                                          "are supported in eager calls; in a functional model "
                                          "give value/key a Keras mask (Masking, Embedding)")
            k = value if key is None else key
            kwargs["mask"] = [get_mask(query) if isinstance(query, Tensor) else None,
                              value_mask if value_mask is not None else
                              (get_mask(value) if isinstance(value, Tensor) else None),
                              key_mask if key_mask is not None else
                              (get_mask(k) if isinstance(k, Tensor) else None)]
        if value is None and isinstance(query, (list, tuple)) and 3 <= len(query) <= 4:
            packed = list(query)
        else:
            if query is None or value is None:
                raise TypeError(f"[{self.name}] MultiHeadAttention is called as mha(query, value, "
                                "key=None, attention_mask=None, ...): `query` and `value` are "
                                "required")
            packed = [query, value, value if key is None else key]
            if attention_mask is not None:
                packed.append(attention_mask)
        if return_attention_scores:
            kwargs["return_attention_scores"] = True
        if use_causal_mask:
            kwargs["use_causal_mask"] = True
        if training is not None:
            kwargs["training"] = training
        return super().__call__(packed, **kwargs)

    def _maybe_build(self, inputs):
        if not self._built_from_signature:
            self._build_from_signature(inputs[0], inputs[1], inputs[2])
        self.built = True
        if self._initial_weights is not None:
            w, self._initial_weights = self._initial_weights, None
            self.set_weights(w)

    def _compute_attention_mask(self, query, value, masks, attention_mask, use_causal_mask, like):
        qm, vm, km = masks
        auto = None
        if qm is not None:
            auto = _a.expand_dims(_float_mask(qm, like), -1)            # (B, T, 1)
        for m in (vm, km):
            if m is not None:
                m = _a.expand_dims(_float_mask(m, like), 1)            # (B, 1, S)
                auto = m if auto is None else _m.multiply(auto, m)
        if use_causal_mask:
            T, S = query._data.shape[1], value._data.shape[1]
            causal = operand_like(np.tril(np.ones((1, T, S), like._data.dtype)), like)
            auto = causal if auto is None else _m.multiply(auto, causal)
        if attention_mask is not None:
            am = _float_mask(attention_mask, like)
            attention_mask = am if auto is None else _m.multiply(am, auto)
        else:
            attention_mask = auto
        return attention_mask

    def _masked_softmax(self, scores, mask, zero_masked=False):
        if mask is not None:
            ss, ms = tuple(scores._data.shape), tuple(mask._data.shape)
            axis = -len(self._attention_axes) * 2 - 1
            for _ in range(len(ss) - len(ms)):
                mask = _a.expand_dims(mask, axis)
            try:
                ok = np.broadcast_shapes(tuple(mask._data.shape), ss) == ss
            except ValueError:
                ok = False
            if not ok or len(ms) > len(ss):
                raise ValueError(f"[{self.name}] MultiHeadAttention attention_mask of shape {ms} "
                                 f"does not broadcast to the attention scores of shape {ss} "
                                 "(batch, heads, query positions, key positions); give a mask "
                                 "of shape (batch, query positions, key positions)")
            # Keras 3 replaces masked scores by -1e9 (where), not adds it: a fully masked row
            # is then exactly uniform in float64 too
            scores = _m.subtract(_m.multiply(scores, mask),
                                 _m.multiply(_m.subtract(1.0, mask), _LARGE_NEGATIVE))
        axes = self._norm_axes
        if len(axes) == 1:
            probs = _nn.softmax(scores, axis=axes[0])
        else:
            probs = _m.exp(_m.subtract(scores, _m.reduce_logsumexp(scores, axis=list(axes),
                                                                   keepdims=True)))
        if mask is not None and zero_masked:
            probs = _m.multiply(probs, mask)   # a fully masked row: zeros, not uniform
        return probs

    def call(self, inputs, mask=None, training=None, return_attention_scores=False,
             use_causal_mask=False):
        query, value, key = inputs[0], inputs[1], inputs[2]
        attention_mask = inputs[3] if len(inputs) > 3 else None
        for nm, t in (("query", query), ("value", value), ("key", key)):
            if not isinstance(t, Tensor) or t._data.dtype.kind != "f":
                got = tuple(t._data.shape) if isinstance(t, Tensor) else type(t).__name__
                raise TypeError(f"[{self.name}] MultiHeadAttention {nm} must be a float tensor, "
                                f"got {getattr(getattr(t, '_data', None), 'dtype', '')} {got}")
        q, v, k = (_dims(t._data.shape) for t in (query, value, key))
        self._check_shapes(q, v, k)
        for nm, got, want in (("query", q, self._query_shape), ("value", v, self._value_shape),
                              ("key", k, self._key_shape)):
            if len(got) != len(want) or got[-1] != want[-1]:
                raise ValueError(f"[{self.name}] MultiHeadAttention was built for {nm} shape "
                                 f"{want}, got {nm} shape {got}")
        masks = list(mask) if isinstance(mask, (list, tuple)) else [mask]
        masks = (masks + [None] * 3)[:3]
        q_p = self._query_dense(query)     # (B, T, N, key_dim)
        k_p = self._key_dense(key)         # (B, S, N, key_dim)
        v_p = self._value_dense(value)     # (B, S, N, value_dim)
        am = self._compute_attention_mask(query, value, masks, attention_mask, use_causal_mask,
                                          q_p)
        q_p = _m.multiply(q_p, 1.0 / math.sqrt(float(self._key_dim)))
        scores = _la.einsum(self._dot_product_equation, k_p, q_p)   # (B, N, T, S)
        # Keras 3 takes its Softmax layer (masked positions zeroed after the softmax, so a fully
        # masked query row attends to nothing) when there is dropout, when the scores are
        # returned or when the query has rank > 3; else its fused dot_product_attention, where
        # such a row attends uniformly.
        zero_masked = self._dropout > 0 or return_attention_scores or len(q) != 3
        scores = self._masked_softmax(scores, am, zero_masked)
        dropped = self._dropout_layer(scores, training=training)
        out = _la.einsum(self._combine_equation, dropped, v_p)     # (B, T, N, value_dim)
        out = self._output_dense(out)
        if return_attention_scores:
            return out, scores
        return out

    def compute_mask(self, inputs, mask=None):
        if isinstance(mask, (list, tuple)):
            return mask[0] if mask else None
        return mask

    def get_config(self):
        s = _serialize_obj
        config = super().get_config()
        config.update({
            "num_heads": self._num_heads, "key_dim": self._key_dim,
            "value_dim": self._value_dim, "dropout": self._dropout, "use_bias": self._use_bias,
            "output_shape": self._output_shape,
            "attention_axes": list(self._config_attention_axes)
            if self._config_attention_axes is not None else None,
            "kernel_initializer": s(self._kernel_initializer, "initializers"),
            "bias_initializer": s(self._bias_initializer, "initializers"),
            "kernel_regularizer": s(self._kernel_regularizer, "regularizers"),
            "bias_regularizer": s(self._bias_regularizer, "regularizers"),
            "activity_regularizer": s(self.activity_regularizer, "regularizers"),
            "kernel_constraint": s(self._kernel_constraint, "constraints"),
            "bias_constraint": s(self._bias_constraint, "constraints"),
        })
        return config

    def get_build_config(self):
        """Keras 3's layout: the shapes go in build_config (Keras 3 refuses them in the config;
        Keras 2 configs that carry them still load: __init__ takes them)."""
        if not self._query_shape:
            return None
        d = {"query_shape": list(self._query_shape), "value_shape": list(self._value_shape)}
        if self._key_shape and list(self._key_shape) != list(self._value_shape):
            d["key_shape"] = list(self._key_shape)
        return {"shapes_dict": d}

    def build_from_config(self, config):
        d = (config or {}).get("shapes_dict", config or {})
        if d.get("query_shape") is not None and not self.built:
            self.build(d["query_shape"], d.get("value_shape"), d.get("key_shape"))


# ----------------------------------------------------------------------------- dense attention


class _BaseDenseAttention(Layer):
    """Shared by Attention and AdditiveAttention: called on [query, value] or
    [query, value, key] with optional mask=[query_mask, value_mask]; softmax over the value
    axis of the scores, masked value positions (and future ones with use_causal_mask) get
    -1e9, dropout on the weights while training, masked query rows of the output are zeroed."""

    def __init__(self, dropout=0.0, **kwargs):
        causal = kwargs.pop("causal", False)   # deprecated Keras argument
        seed = kwargs.pop("seed", None)         # Keras 3 configs
        super().__init__(**kwargs)
        self._rng = np.random.default_rng(seed) if seed is not None else None
        dropout = float(dropout)
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"[{self.name}] {type(self).__name__} dropout must be in [0, 1), got "
                             f"dropout={dropout}")
        self.causal = bool(causal)
        self.dropout = dropout
        self.supports_masking = True

    def _validate_call_args(self, inputs, mask):
        cls = type(self).__name__
        if not isinstance(inputs, (list, tuple)):
            got = tuple(inputs.shape) if hasattr(inputs, "shape") else type(inputs).__name__
            raise ValueError(f"[{self.name}] {cls} layer must be called on a list of inputs, "
                             f"namely [query, value] or [query, value, key], got a single input "
                             f"of shape {got}")
        if not 2 <= len(inputs) <= 3:
            raise ValueError(f"[{self.name}] {cls} layer accepts inputs list of length 2 or 3, "
                             f"namely [query, value] or [query, value, key], got a list of "
                             f"length {len(inputs)}")
        if mask is not None and not (isinstance(mask, (list, tuple)) and
                                     all(m is None for m in mask)):
            if not isinstance(mask, (list, tuple)):
                raise ValueError(f"[{self.name}] {cls} layer mask must be a list, namely "
                                 f"[query_mask, value_mask], got {type(mask).__name__}")
            if not 2 <= len(mask) <= len(inputs):
                raise ValueError(f"[{self.name}] {cls} layer mask must be a list of length 2, "
                                 f"namely [query_mask, value_mask], got a list of length "
                                 f"{len(mask)}")

    def _check_shapes(self, q, v, k):
        cls = type(self).__name__
        if len(q) < 3 or len(v) != len(q) or len(k) != len(q):
            raise ValueError(f"[{self.name}] {cls} expects query, value and key of one rank >= 3 "
                             f"(batch, Tq, dim), (batch, Tv, dim), got query shape {q}, value "
                             f"shape {v}, key shape {k}")
        if k[:-1] != v[:-1]:
            raise ValueError(f"[{self.name}] {cls} key and value must have the same shape except "
                             f"the last axis, got key shape {k} and value shape {v}")
        if q[:-2] != k[:-2]:
            raise ValueError(f"[{self.name}] {cls} query and key must have the same batch "
                             f"dimensions, got query shape {q} and key shape {k}")
        if q[-1] != k[-1]:
            raise ValueError(f"[{self.name}] {cls} query and key must have the same last "
                             f"dimension, got query shape {q} and key shape {k}")

    def _calculate_scores(self, query, key):
        raise NotImplementedError

    def call(self, inputs, mask=None, training=None, return_attention_scores=False,
             use_causal_mask=False):
        self._validate_call_args(inputs, mask)
        q, v = inputs[0], inputs[1]
        k = inputs[2] if len(inputs) > 2 else v
        self._check_shapes(*(_dims(t._data.shape) for t in (q, v, k)))
        q_mask = mask[0] if mask else None
        v_mask = mask[1] if mask else None
        scores = self._calculate_scores(q, k)                       # (B, Tq, Tv)
        keep = None
        if v_mask is not None:
            keep = _a.expand_dims(_float_mask(v_mask, scores), -2)   # (B, 1, Tv)
        if self.causal or use_causal_mask:
            Tq, Tv = scores._data.shape[-2:]
            causal = operand_like(np.tril(np.ones((Tq, Tv), scores._data.dtype)), scores)
            keep = causal if keep is None else _m.multiply(keep, causal)
        if keep is not None:
            scores = _m.subtract(scores, _m.multiply(_m.subtract(1.0, keep), _LARGE_NEGATIVE))
        weights = _nn.softmax(scores)
        if training and self.dropout > 0:
            if self._rng is not None:
                keep = self._rng.random(tuple(weights._data.shape)) >= self.dropout
                weights = _m.multiply(weights, (keep / (1.0 - self.dropout)).astype(
                    weights._data.dtype))
            else:
                weights = _nn.dropout(weights, rate=self.dropout)
        result = _m.matmul(weights, v)
        if q_mask is not None:
            result = _m.multiply(result, _a.expand_dims(_float_mask(q_mask, result), -1))
        if return_attention_scores:
            return result, weights
        return result

    def compute_mask(self, inputs, mask=None):
        if mask:
            q_mask = mask[0]
            if q_mask is None:
                return None
            return q_mask
        return None

    def get_config(self):
        config = super().get_config()
        config["dropout"] = self.dropout
        return config


class Attention(_BaseDenseAttention):
    """Dot-product (Luong) attention: scores = query . key^T (times a learned `scale` with
    use_scale=True), or score_mode='concat': concat_score_weight * sum(tanh(scale * (q + k)))."""

    def __init__(self, use_scale=False, score_mode="dot", **kwargs):
        super().__init__(**kwargs)
        if score_mode not in ("dot", "concat"):
            raise ValueError(f"[{self.name}] Attention score_mode must be 'dot' or 'concat', got "
                             f"score_mode={score_mode!r}")
        self.use_scale = bool(use_scale)
        self.score_mode = score_mode

    def build(self, input_shape):
        self.scale = self.add_weight("scale", (), initializer="ones") if self.use_scale else None
        self.concat_score_weight = self.add_weight("concat_score_weight", (), initializer="ones") \
            if self.score_mode == "concat" else None
        self.built = True

    def _calculate_scores(self, query, key):
        if self.score_mode == "dot":
            scores = _m.matmul(query, key, transpose_b=True)
            if self.scale is not None:
                scores = _m.multiply(scores, self.scale)
            return scores
        s = _m.add(_a.expand_dims(query, -2), _a.expand_dims(key, -3))    # (B, Tq, Tv, dim)
        if self.scale is not None:
            s = _m.multiply(self.scale, s)
        return _m.multiply(self.concat_score_weight, _m.reduce_sum(_nn.tanh(s), axis=-1))

    def get_config(self):
        config = super().get_config()
        config.update({"use_scale": self.use_scale, "score_mode": self.score_mode})
        return config


class AdditiveAttention(_BaseDenseAttention):
    """Additive (Bahdanau) attention: scores = sum(scale * tanh(query + key), axis=-1) with a
    learned `scale` of shape (dim,) (use_scale=True) or 1."""

    def __init__(self, use_scale=True, **kwargs):
        super().__init__(**kwargs)
        self.use_scale = bool(use_scale)

    def build(self, input_shape):
        shapes = input_shape if _is_shape_list(input_shape) else None
        if shapes is None or len(shapes) < 2:
            raise ValueError(f"[{self.name}] AdditiveAttention layer must be called on a list of "
                             f"inputs, namely [query, value] or [query, value, key], got input "
                             f"shape {input_shape}")
        dim = _dims(shapes[1])[-1]
        if dim is None:
            raise ValueError(f"[{self.name}] AdditiveAttention needs the last axis of value "
                             f"defined, got value shape {_dims(shapes[1])}")
        self.scale = self.add_weight("scale", (dim,), initializer="glorot_uniform") \
            if self.use_scale else None
        self.built = True

    def _calculate_scores(self, query, key):
        s = _nn.tanh(_m.add(_a.expand_dims(query, -2), _a.expand_dims(key, -3)))
        if self.scale is not None:
            s = _m.multiply(self.scale, s)
        return _m.reduce_sum(s, axis=-1)

    def get_config(self):
        config = super().get_config()
        config["use_scale"] = self.use_scale
        return config
