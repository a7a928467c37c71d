"""`tf.experimental.Optional` (also tf.data.experimental.Optional): a value or nothing, what
`iterator.get_next_as_optional()` returns.

    opt = iterator.get_next_as_optional()
    if opt.has_value():
        x = opt.get_value()
"""
from ..errors import InvalidArgumentError

__all__ = ["Optional", "OptionalSpec"]


class OptionalSpec:
    """The type of an Optional: the element_spec of the value it may hold."""

    def __init__(self, element_spec):
        self.element_spec = element_spec

    def __eq__(self, other):
        return isinstance(other, OptionalSpec) and other.element_spec == self.element_spec

    def __hash__(self):
        return hash(repr(self.element_spec))

    def __repr__(self):
        return f"OptionalSpec({self.element_spec!r})"


class Optional:
    """Optional.from_value(value) holds value; Optional.empty(element_spec) holds nothing."""

    def __init__(self, value, has_value, element_spec):
        self._value, self._has, self._spec = value, has_value, element_spec

    @staticmethod
    def from_value(value):
        from .dataset import _leaf_array, _map, _spec_of, _to_tensors
        element = _map(_leaf_array, value)
        return Optional(_to_tensors(element), True, _spec_of(element))

    @staticmethod
    def empty(element_spec):
        return Optional(None, False, element_spec)

    def has_value(self, name=None):
        """A scalar bool Tensor."""
        from ..framework.tensor import constant
        return constant(self._has)

    def get_value(self, name=None):
        """The value (a structure of Tensors); InvalidArgumentError when empty."""
        if not self._has:
            raise InvalidArgumentError("[Optional.get_value] The optional does not have a "
                                       "value")
        return self._value

    @property
    def element_spec(self):
        return self._spec

    def __repr__(self):
        return f"<Optional has_value={self._has} element_spec={self._spec}>"
