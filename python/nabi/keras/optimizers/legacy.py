"""`keras.optimizers.legacy`: the TF 2.x legacy names, served by the same Keras 3 optimizers
(the legacy `lr=` and `decay=` arguments are accepted by all of them)."""
from .adadelta import Adadelta  # noqa: F401
from .adagrad import Adagrad  # noqa: F401
from .adam import Adam  # noqa: F401
from .adamax import Adamax  # noqa: F401
from .base import Optimizer  # noqa: F401
from .ftrl import Ftrl  # noqa: F401
from .nadam import Nadam  # noqa: F401
from .rmsprop import RMSprop  # noqa: F401
from .sgd import SGD  # noqa: F401
