"""`RepeatVector(n)`: (batch, features) -> (batch, n, features)."""
from ...framework.tensor import Tensor, _wrap
from ...ops import array_ops as _array_ops
from .base import InputSpec, Layer

__all__ = ["RepeatVector"]


class RepeatVector(Layer):
    def __init__(self, n, **kwargs):
        super().__init__(**kwargs)
        if int(n) <= 0:
            raise ValueError(f"[{self.name}] n must be a positive integer, got {n!r}")
        self.n = int(n)
        self.input_spec = InputSpec(ndim=2)

    def call(self, inputs):
        x = inputs if isinstance(inputs, Tensor) else _wrap(inputs)
        if x._data.ndim != 2:
            raise ValueError(f"[{self.name}] expected input of shape (batch, features), got "
                             f"{tuple(x._data.shape)}")
        return _array_ops.tile(_array_ops.expand_dims(x, 1), [1, self.n, 1])

    def get_config(self):
        cfg = super().get_config()
        cfg["n"] = self.n
        return cfg
