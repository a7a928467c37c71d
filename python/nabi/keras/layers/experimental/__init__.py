"""`keras.layers.experimental`: where TF 2.3-2.5 tutorials import the preprocessing layers from
(`from tensorflow.keras.layers.experimental import preprocessing`); TF 2.15 still has it."""
from . import preprocessing  # noqa: F401

try:  # keras.layers.experimental.EinsumDense (TF 2.4-2.8 name of keras.layers.EinsumDense)
    from ..attention import EinsumDense  # noqa: F401
except ImportError:
    pass
