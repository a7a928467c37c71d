"""`keras.optimizers.experimental` (Keras 2.9-2.15): the same optimizers as
`keras.optimizers` (Keras 2.15 lists Adafactor and Ftrl here too, not Lion)."""
from . import (SGD, Adadelta, Adafactor, Adagrad, Adam, Adamax, AdamW, Ftrl,  # noqa: F401
               Nadam, Optimizer, RMSprop)
