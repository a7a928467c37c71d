"""`Embedding`: integer ids (batch, ...) -> vectors (batch, ..., output_dim) via `nabi.gather`.

Weight: embeddings (input_dim, output_dim), initialised uniform(-0.05, 0.05) as Keras does.
With mask_zero=True, id 0 is padding: `compute_mask(inputs)` gives `inputs != 0` and
input_dim must leave room for it (ids 1..input_dim-1).
"""
import numpy as np

from ...framework.device import asarray as _asarray

from ...framework.tensor import Tensor, _wrap
from ...ops import array_ops as _array_ops
from .base import Layer, _pop_inert_options, _serialize_obj

__all__ = ["Embedding"]


class Embedding(Layer):
    _keeps_int_ids = True  # a first Embedding gets a fit's integer x uncast (data_adapter)

    def __init__(self, input_dim, output_dim, embeddings_initializer="uniform",
                 embeddings_regularizer=None, activity_regularizer=None,
                 embeddings_constraint=None, mask_zero=False, input_length=None, weights=None,
                 lora_rank=None, **kwargs):
        if "input_shape" not in kwargs and "batch_input_shape" not in kwargs:
            # Keras 2 gives every Embedding an input shape, (None,) without input_length, so a
            # Sequential that starts with one is built at once (model.summary() works).
            if input_length is None:
                kwargs["input_shape"] = (None,)
            else:
                kwargs["input_shape"] = (input_length,) if not isinstance(
                    input_length, (list, tuple)) else tuple(input_length)
        if activity_regularizer is not None:
            kwargs["activity_regularizer"] = activity_regularizer
        kwargs.pop("dtype", None) if kwargs.get("dtype") in ("int32", "int64") else None
        _pop_inert_options("Embedding", kwargs, quantization_config=None)
        super().__init__(**kwargs)
        if int(input_dim) <= 0 or int(output_dim) <= 0:
            raise ValueError(f"[{self.name}] input_dim and output_dim must be positive, got "
                             f"input_dim={input_dim}, output_dim={output_dim}")
        self.input_dim = int(input_dim)
        self.output_dim = int(output_dim)
        self.embeddings_initializer = embeddings_initializer
        self.embeddings_regularizer = embeddings_regularizer
        self.embeddings_constraint = embeddings_constraint
        self.mask_zero = bool(mask_zero)
        self.supports_masking = self.mask_zero
        self.input_length = input_length
        self._autocast = False
        if weights is not None:
            self._initial_weights = weights

    def build(self, input_shape=None):
        from .recurrent import _initializer
        self.embeddings = self.add_weight(
            "embeddings", (self.input_dim, self.output_dim),
            initializer=_initializer(self.embeddings_initializer),
            regularizer=self.embeddings_regularizer, constraint=self.embeddings_constraint)
        self.built = True

    def call(self, inputs):
        ids = inputs._data if isinstance(inputs, Tensor) else _asarray(inputs)
        if ids.dtype.kind == "f":
            ids = ids.astype(np.int64)
        elif ids.dtype.kind not in "iu":
            raise TypeError(f"[{self.name}] expects integer ids, got {ids.dtype}")
        # No read back for GPU ids whose range the host knows (a fit's uploaded batch), else
        # one (min and max together); the gather then checks nothing again.
        _array_ops.check_ids(ids, self.input_dim, lambda lo, hi: ValueError(
            f"[{self.name}] ids of shape {tuple(ids.shape)} must be in [0, {self.input_dim}) "
            f"(input_dim), got range [{lo}, {hi}]"))
        return _array_ops.gather_checked(self.embeddings, ids, 0)

    def compute_mask(self, inputs, mask=None):
        if not self.mask_zero:
            return None
        ids = inputs._data if isinstance(inputs, Tensor) else _asarray(inputs)
        return _wrap(ids != 0)

    def get_config(self):
        cfg = super().get_config()
        cfg.update({"input_dim": self.input_dim, "output_dim": self.output_dim,
                    "embeddings_initializer": _serialize_obj(self.embeddings_initializer,
                                                             "initializers"),
                    "embeddings_regularizer": _serialize_obj(self.embeddings_regularizer,
                                                             "regularizers"),
                    "embeddings_constraint": _serialize_obj(self.embeddings_constraint,
                                                            "constraints"),
                    "mask_zero": self.mask_zero})
        if self.input_length is not None:
            cfg["input_length"] = self.input_length
        return cfg
