"""`tf.Module`: a named container whose Variables (and those of the Modules, Keras layers,
lists, tuples and dicts it holds) are found by walking its attributes, as TF does:

    class Linear(tf.Module):
        def __init__(self, n_in, n_out):
            super().__init__()
            self.w = tf.Variable(tf.random.normal((n_in, n_out)))
            self.b = tf.Variable(tf.zeros(n_out))
        def __call__(self, x):
            return x @ self.w + self.b

    opt.apply_gradients(zip(tape.gradient(loss, m.trainable_variables), m.trainable_variables))

Attributes are walked in name order (TF's order); each Variable appears once."""
import re

from .tensor import Variable

_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-/]*$")


def _is_layer(v):
    from ..keras.layers.base import Layer
    return isinstance(v, Layer)


class Module:
    def __init__(self, name=None):
        if name is None:
            name = re.sub(r"(?<!^)(?=[A-Z])", "_", type(self).__name__).lower()
        elif not _NAME_RE.match(str(name)):
            raise ValueError(f"[Module] {name!r} is not a valid module name (letters, digits, "
                             "'_', '.', '-', '/'; not starting with a digit)")
        self._name = str(name)

    def __setattr__(self, name, value):
        object.__setattr__(self, name, value)
        if isinstance(value, Variable) and "_checkpoint_deferred" in self.__dict__:
            from ..train.checkpoint import restore_deferred_attribute   # a restore waits for it
            restore_deferred_attribute(self, name, value)

    @property
    def name(self):
        return self._name

    @property
    def name_scope(self):
        """tf.name_scope(module name): variables made inside are named 'name/...:0'."""
        from ..control_flow import name_scope
        return name_scope(self._name)

    @classmethod
    def with_name_scope(cls, method):
        return method

    # -- walking -----------------------------------------------------------------------------
    def _flatten(self, predicate, recurse=True):
        """TF's walk: a module's own attributes (sorted by name; dicts by key, lists in
        order) first, then each submodule found there, recursively; each object once."""
        seen, out = {id(self)}, []

        def leaves(v):
            if isinstance(v, dict):
                for k in sorted(v, key=str):
                    yield from leaves(v[k])
            elif isinstance(v, (list, tuple)):
                for x in v:
                    yield from leaves(x)
            else:
                yield v

        def walk(module):
            attrs = module.weights if _is_layer(module) and not isinstance(module, Module) \
                else [vars(module)[k] for k in sorted(vars(module))]
            subs = []
            for leaf in leaves(attrs):
                if not isinstance(leaf, (Variable, Module)) and not _is_layer(leaf):
                    continue
                if id(leaf) in seen:
                    continue
                seen.add(id(leaf))
                if predicate(leaf):
                    out.append(leaf)
                if not isinstance(leaf, Variable):
                    subs.append(leaf)
            if recurse:
                for m in subs:
                    walk(m)
        walk(self)
        return out

    @property
    def variables(self):
        return tuple(self._flatten(lambda v: isinstance(v, Variable)))

    @property
    def trainable_variables(self):
        return tuple(self._flatten(lambda v: isinstance(v, Variable) and v.trainable))

    @property
    def non_trainable_variables(self):
        return tuple(self._flatten(lambda v: isinstance(v, Variable) and not v.trainable))

    @property
    def submodules(self):
        return tuple(self._flatten(lambda v: isinstance(v, Module) or _is_layer(v)))

    def __repr__(self):
        return f"<{type(self).__name__} name={self._name!r}>"
