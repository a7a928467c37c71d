"""`keras.ops`: Keras 3's backend-agnostic op namespace on nabi (`from nabi import keras;
keras.ops.mean(x, axis=-1)`).

Ops take NumPy arrays, Python numbers, nabi Tensors and Keras symbolic tensors. Called on
symbolic tensors (a functional model being built) they make a TFOpLambda layer through
nabi/framework/symbolic.py, named `tf.keras.ops.<name>` and saved by name, so the model
saves and loads in safe mode. Sub-namespaces as in Keras 3: `ops.numpy`, `ops.nn`,
`ops.math`, `ops.linalg`, `ops.core`, `ops.image`.
"""
import types as _types

from nabi.framework import symbolic as _symbolic

from . import core, image, linalg, math, nn, numpy  # noqa: A004

# Functions taking Python callables, or answering questions about a tensor, run as they are.
_UNWRAPPED = {"shape", "dtype", "ndim", "is_tensor", "convert_to_numpy", "cond", "switch",
              "while_loop", "fori_loop", "scan", "map", "associative_scan", "vectorized_map",
              "custom_gradient"}


def _install():
    wrapped = {}        # raw function -> wrapper, so an alias shares its op's wrapper
    top = globals()
    for mod, sub in ((numpy, None), (math, None), (nn, None), (linalg, None), (core, None),
                     (image, "image.")):
        for name in sorted(vars(mod)):
            fn = vars(mod)[name]
            if name.startswith("_") or not isinstance(fn, _types.FunctionType) \
                    or fn.__module__ != mod.__name__:
                continue
            if name in _UNWRAPPED:
                w = fn
            else:
                w = wrapped.get(fn)
                if w is None:
                    w = _symbolic._wrap(fn, "keras.ops." + (sub or "") + name)
                    wrapped[fn] = w
            setattr(mod, name, w)
            if sub is None:
                top[name] = w


_install()
