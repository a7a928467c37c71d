"""`tf.autodiff.ForwardAccumulator`: Jacobian-vector products (forward mode).

nabi has no forward-mode rules; a JVP is computed from the reverse-mode ones by the "double
backward" trick: with u a dummy cotangent of the output y, g(u) = J^T u is linear in u, so
d/du <g(u), v> = J v. The accumulator records the ops run in its block on a persistent
GradientTape watching the primals; `jvp(y)` then differentiates J^T u (recorded on a second
tape) with respect to u. This needs the ops' second-order rules (`backward_t`), which most
ops have; one without raises naming the op. Ops computing the JVP record on the tapes around,
so `tape.gradient(acc.jvp(loss), x)` gives Hessian-vector products, as in TF.
"""
from . import tape as _tape

__all__ = ["ForwardAccumulator"]


class ForwardAccumulator:
    """Computes J v for the ops run inside its block, v the `tangents` of the `primals`."""

    def __init__(self, primals, tangents):
        from .tensor import Tensor, convert_to_tensor
        self._primals = _tape._flatten(primals)
        flat_t = _tape._flatten(tangents)
        if len(flat_t) != len(self._primals):
            raise ValueError(f"[ForwardAccumulator] {len(self._primals)} primal(s) but "
                             f"{len(flat_t)} tangent(s)")
        self._tangents = []
        for p, t in zip(self._primals, flat_t):
            if not isinstance(p, Tensor):
                raise TypeError(f"[ForwardAccumulator] primals must be Tensors or Variables, "
                                f"got {type(p).__name__}")
            t = convert_to_tensor(t, dtype=p.dtype)
            if tuple(t.shape) != tuple(p._data.shape):
                raise ValueError(f"[ForwardAccumulator] a tangent of shape {tuple(t.shape)} "
                                 f"for a primal of shape {tuple(p._data.shape)}")
            self._tangents.append(t)
        self._tape = _tape.GradientTape(persistent=True, watch_accessed_variables=False)

    def __enter__(self):
        self._tape.__enter__()
        self._tape.watch(self._primals)
        return self

    def __exit__(self, *exc):
        return self._tape.__exit__(*exc)

    def jvp(self, primal_output, unconnected_gradients="none"):
        """J v for each tensor of `primal_output` (its structure); None for an output that
        does not depend on the primals (zeros with unconnected_gradients='zero')."""
        zero = _tape._unconnected(unconnected_gradients) == "zero"
        outs = _tape._flatten(primal_output)
        res = [self._one(y, zero) for y in outs]
        return _tape._pack_like(primal_output, res)

    def _one(self, y, zero):
        from ..ops.array_ops import zeros_like
        from ..ops.math_ops import reduce_sum
        if y._data.dtype.kind not in "fc":   # an integer output has no tangent
            return zeros_like(y) if zero else None
        u = zeros_like(y)
        with _tape.GradientTape() as outer:
            outer.watch(u)
            self._tape._used = False          # persistent: may be asked again
            gs = self._tape.gradient(y, self._primals, output_gradients=u)
            terms = [reduce_sum(g * v) for g, v in zip(gs, self._tangents) if g is not None]
            if not terms:
                return zeros_like(y) if zero else None
            s = terms[0]
            for t in terms[1:]:
                s = s + t
        out = outer.gradient(s, u)
        return zeros_like(y) if out is None else out
