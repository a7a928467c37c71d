"""`keras.optimizers.experimental` (Keras 2.9-2.10): the same optimizers as
`keras.optimizers`."""
from . import (SGD, Adadelta, Adagrad, Adam, Adamax, AdamW, Nadam, Optimizer,  # noqa: F401
               RMSprop)
