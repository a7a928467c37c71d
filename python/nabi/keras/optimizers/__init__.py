"""`keras.optimizers`: Keras 3 optimizers whose update rules run in fused C++ kernels.

    opt = nabi.keras.optimizers.get("adam")            # or Adam(learning_rate=1e-3)
    opt.apply_gradients(zip(grads, model.trainable_variables))
"""
from . import schedules  # noqa: F401
from .adadelta import Adadelta
from .adafactor import Adafactor
from .adagrad import Adagrad
from .adam import Adam
from .adamax import Adamax
from .adamw import AdamW
from .base import Optimizer
from .ftrl import Ftrl
from .lion import Lion
from .nadam import Nadam
from .rmsprop import RMSprop
from .sgd import SGD
from . import legacy  # noqa: F401
from . import experimental  # noqa: F401,E402

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "Adamax",
           "Nadam", "Ftrl", "Lion", "Adafactor", "schedules", "legacy", "experimental", "get",
           "serialize", "deserialize"]

_ALL = {c.__name__.lower(): c for c in (SGD, Adam, AdamW, RMSprop, Adagrad, Adadelta, Adamax,
                                        Nadam, Ftrl, Lion, Adafactor)}


def serialize(optimizer):
    """{'module', 'class_name', 'config', 'registered_name'} as Keras 3 writes it."""
    return {"module": "keras.optimizers", "class_name": type(optimizer).__name__,
            "config": optimizer.get_config(), "registered_name": None}


def deserialize(config, custom_objects=None, use_legacy_optimizer=False, **kwargs):
    if isinstance(config, str):
        return get(config)
    name = config.get("class_name")
    if name is None:
        raise ValueError(f"[optimizers.deserialize] not an optimizer config: {config!r}")
    cls = (custom_objects or {}).get(name)
    if cls is None and name == "LossScaleOptimizer":
        from ..mixed_precision import LossScaleOptimizer as cls
    if cls is None:
        cls = _ALL.get(name.lower())
    if cls is None:
        raise ValueError(f"[optimizers.deserialize] unknown optimizer {name!r}; known: "
                         f"{', '.join(sorted(c.__name__ for c in _ALL.values()))}")
    return cls.from_config(config.get("config", {}), custom_objects=custom_objects) \
        if issubclass(cls, Optimizer) or cls.__name__ == "LossScaleOptimizer" \
        else cls(**config.get("config", {}))


def get(identifier, **kwargs):
    """An optimizer from a name ('adam', 'sgd', ...), a serialized dict, or an instance."""
    if isinstance(identifier, Optimizer) or type(identifier).__name__ == "LossScaleOptimizer":
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        cls = _ALL.get(identifier.lower())
        if cls is None:
            raise ValueError(f"[optimizers.get] unknown optimizer {identifier!r}; known: "
                             f"{', '.join(sorted(_ALL))}")
        return cls()
    if identifier is None:
        raise ValueError("[optimizers.get] could not interpret optimizer identifier None")
    raise ValueError(f"[optimizers.get] could not interpret optimizer identifier: {identifier!r}")


def __getattr__(name):
    if name == "LossScaleOptimizer":  # Keras 3 keeps it here (mixed_precision imports us)
        from ..mixed_precision import LossScaleOptimizer
        return LossScaleOptimizer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
