"""The logits behind a `sigmoid`/`softmax` output, for the probability cross-entropies.

TF-Keras (2.15, and Keras 3 on TensorFlow) caches the pre-activation on the output of
`activations.sigmoid` / `activations.softmax` (`output._keras_logits`; in graph mode it also
reads a `Sigmoid`/`Softmax` op's input), and `binary_crossentropy`, `categorical_crossentropy`,
`sparse_categorical_crossentropy` and the binary focal loss given such an output with
`from_logits=False` compute from the logits instead. The values then differ from the clipped
probability formula once a prediction saturates (|logit| > ~16): the loss is not capped at
-log(1e-7) and the gradient does not vanish.

nabi Tensors have __slots__, so the link lives in this side table keyed by the output's id
(with a weak reference, like the Keras masks). `src` is the logits Tensor or a zero-argument
callable computing it (a fused Dense computes its logits only when a loss asks for them).
"""
import weakref

from ..framework.tensor import Tensor

_LOGITS = {}


def tag(out, kind, src):
    """Records that `out` is `kind` ('sigmoid' or 'softmax' over the last axis) of `src`."""
    if type(out) is not Tensor:
        return out
    k = id(out)

    def drop(ref, k=k):
        e = _LOGITS.get(k)
        if e is not None and e[0] is ref:
            del _LOGITS[k]
    _LOGITS[k] = (weakref.ref(out, drop), kind, src)
    return out


def logits_of(t, kind):
    """The logits Tensor behind `t` if it is a tagged `kind` output, else None."""
    if not _LOGITS or type(t) is not Tensor:
        return None
    e = _LOGITS.get(id(t))
    if e is None or e[0]() is not t or e[1] != kind:
        return None
    src = e[2]
    return src() if callable(src) else src
