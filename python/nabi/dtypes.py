"""Data types, spelled as in TensorFlow (`nabi.float32`, `nabi.int64`, ...)."""
import builtins

import numpy as np

__all__ = ["DType", "as_dtype", "float16", "float32", "float64", "int8", "int16", "int32",
           "int64", "uint8", "uint16", "uint32", "uint64", "bool", "string", "complex64",
           "complex128"]


class DType:
    """A tensor element type; compares equal to its name, its NumPy dtype and itself."""

    __slots__ = ("name", "_np")

    def __init__(self, name, np_dtype):
        self.name = name
        self._np = np.dtype(np_dtype)

    @property
    def as_numpy_dtype(self):
        return self._np.type

    @property
    def is_floating(self):
        return self._np.kind == "f"

    @property
    def is_integer(self):
        return self._np.kind in "iu"

    @property
    def is_unsigned(self):
        """True for the unsigned integer types (uint8 ... uint64); as in TF, bool, string and
        the other non-numeric types are not unsigned."""
        return self._np.kind == "u"

    @property
    def is_complex(self):
        return self._np.kind == "c"

    @property
    def real_dtype(self):
        """The dtype of a complex type's parts (complex64 -> float32); others: itself."""
        if self._np.kind == "c":
            return _BY_NP[np.dtype(np.float32 if self._np.itemsize == 8 else np.float64)]
        return self

    @property
    def is_bool(self):
        return self._np.kind == "b"

    @property
    def base_dtype(self):
        return self

    @property
    def size(self):
        return self._np.itemsize

    @property
    def min(self):
        self._check_range("min")
        return np.finfo(self._np).min if self.is_floating else np.iinfo(self._np).min

    @property
    def max(self):
        self._check_range("max")
        return np.finfo(self._np).max if self.is_floating else np.iinfo(self._np).max

    def _check_range(self, what):
        if self._np.kind in "cbO":
            raise TypeError(f"[DType.{what}] {self.name} has no {what}imum value")

    def __eq__(self, other):
        if isinstance(other, DType):
            return self._np == other._np
        try:
            return self._np == as_dtype(other)._np
        except (TypeError, ValueError):
            return False

    def __ne__(self, other):
        return not self.__eq__(other)

    def __hash__(self):
        return hash(self.name)

    def __repr__(self):
        return f"nabi.{self.name}"

    def __reduce__(self):
        return (as_dtype, (self.name,))


float16 = DType("float16", np.float16)
float32 = DType("float32", np.float32)
float64 = DType("float64", np.float64)
int8 = DType("int8", np.int8)
int16 = DType("int16", np.int16)
int32 = DType("int32", np.int32)
int64 = DType("int64", np.int64)
uint8 = DType("uint8", np.uint8)
# The unsigned types live on the host; placed on the GPU they are widened to int64 with a
# one-time warning, as uint8 is (framework/device.py).
uint16 = DType("uint16", np.uint16)
uint32 = DType("uint32", np.uint32)
uint64 = DType("uint64", np.uint64)
bool = DType("bool", np.bool_)  # noqa: A001  (TF's spelling)
string = DType("string", np.object_)
# Complex tensors live on the host only (the GPU backend has no complex type).
complex64 = DType("complex64", np.complex64)
complex128 = DType("complex128", np.complex128)

_ALL = [float16, float32, float64, int8, int16, int32, int64, uint8, uint16, uint32, uint64, bool,
        string, complex64, complex128]
_BY_NAME = {d.name: d for d in _ALL}
_BY_NAME.update({"float": float32, "double": float64, "half": float16, "int": int32,
                 "long": int64, "bool_": bool, "str": string,
                 "object": string})  # NumPy's name of string tensors' storage (Keras configs)
_BY_NP = {d._np: d for d in _ALL}


def as_dtype(x):
    """Converts a DType, a name ('float32', 'float'), a NumPy dtype or a Python type."""
    if isinstance(x, DType):
        return x
    if isinstance(x, str):
        try:
            return _BY_NAME[x]
        except KeyError:
            raise TypeError(f"Unknown dtype name {x!r}") from None
    if x is float:
        return float32
    if x is int:
        return int32
    if x is builtins.bool:
        return bool
    if x is complex:
        return complex128
    try:
        nd = np.dtype(x)
    except TypeError:
        raise TypeError(f"Cannot convert {x!r} to a nabi dtype") from None
    if nd.kind in "SU":
        return string
    try:
        return _BY_NP[nd]
    except KeyError:
        raise TypeError(f"Unsupported dtype {nd}") from None
