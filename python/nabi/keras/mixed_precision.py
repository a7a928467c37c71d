"""`keras.mixed_precision`: dtype policies.

nabi's kernels compute in float32 (and float64); it has no float16 kernels. The mixed
policies ('mixed_float16', 'mixed_bfloat16') are accepted so that notebooks which set them run
unchanged, and compute in float32 -- the numbers a float32 Keras model gives, not those of a
float16 one -- with a warning saying so. 'float32' and 'float64' set the layers' dtype (as
`keras.backend.set_floatx` does)."""
import warnings

from . import backend

_MIXED = ("mixed_float16", "mixed_bfloat16")
_PLAIN = ("float32", "float64")
_state = {"policy": None}


class Policy:
    def __init__(self, name):
        name = getattr(name, "name", name)
        if name not in _MIXED + _PLAIN:
            raise ValueError(f"[mixed_precision.Policy] unsupported policy {name!r}; nabi "
                             f"supports {', '.join(_PLAIN + _MIXED)}")
        self._name = name

    @property
    def name(self):
        return self._name

    @property
    def compute_dtype(self):
        """What nabi computes in: float32 for the mixed policies (see the module doc)."""
        return "float32" if self._name in _MIXED else self._name

    @property
    def variable_dtype(self):
        return "float32" if self._name in _MIXED else self._name

    def get_config(self):
        return {"name": self._name}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        return cls(**config)

    def __eq__(self, other):
        return isinstance(other, Policy) and other._name == self._name

    def __hash__(self):
        return hash(self._name)

    def __repr__(self):
        return f'<Policy "{self._name}">'


DTypePolicy = Policy


def set_global_policy(policy):
    if policy is None:
        policy = backend.floatx() if backend.floatx() in _PLAIN else "float32"
    p = policy if isinstance(policy, Policy) else Policy(policy)
    if p.name in _MIXED:
        warnings.warn(f"[mixed_precision] nabi has no float16 kernels: the {p.name!r} policy "
                      "computes in float32 (the results of a float32 model)", stacklevel=2)
    else:
        backend.set_floatx(p.name)
    _state["policy"] = p


def global_policy():
    if _state["policy"] is not None:
        return _state["policy"]
    fx = backend.floatx()
    return Policy(fx if fx in _PLAIN else "float32")
