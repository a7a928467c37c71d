"""Which public ops of nabi compute on the host for GPU tensors: an inventory.

    tools/sim-build.sh && PYTHONPATH=build/sim/pkg python3 tools/gpu_host_ops.py
        [--md bench/results/gpu_host_ops.md] [--json bench/results/gpu_host_ops.json]
    NABI_EMULATE_CUDA=1 PYTHONPATH=python python3 tools/gpu_host_ops.py   (fallback)

Every public function of nabi, nabi.math, nabi.linalg, nabi.nn, nabi.image, nabi.signal and
nabi.random (one probe per distinct function; aliases listed together) is called once on small
GPU-placed inputs, under `with nabi.device('/GPU:0')`. Around the call it counts:
  - on the CUDA host simulator (nabi._C.cuda_backend._sim_stats, exact, as bench/launch_count.py
    reads them): kernel launches, device-to-host copies and bytes, host-to-device copies;
  - on the emulator (no simulator in the build): calls into the device layer and
    DeviceArray.get reads (as bench/bench_gpu_calls.py counts them); bytes are the reads' sizes.
Verdict: "device" (no device-to-host copy), "device + read-back" (kernels ran, and it read
back fewer bytes than its largest input: a count, a shape or an index bound), "host
round-trip" (it launched nothing and read back its inputs: computed in NumPy and copied the
result back; or it launched kernels but also read back at least its largest input's bytes:
part of it runs on the host), or "not probed" (no argument recipe worked; the errors are
given). The byte rule is a heuristic on tiny inputs: check an op's code before acting on it.

Arguments: each required parameter gets a small GPU tensor chosen by its name (RECIPES: a few
hand-written argument sets for ops whose arguments are structured; then by-name defaults;
float32 first, int32 if the float call fails). Ops whose name appears in examples/ or in the
Keras layers, losses, metrics and optimizers' code are marked "used by Keras/examples".
"""
import argparse
import inspect
import json
import os
import re
import signal
import sys

import numpy as np

import nabi
from nabi.framework import device as dev

NAMESPACES = ["", "math", "linalg", "nn", "image", "signal", "random"]
SKIP = {  # not tensor ops, or need callables / Python structures only
    "device", "function", "GradientTape", "name_scope", "control_dependencies", "print",
    "py_function", "numpy_function", "while_loop", "cond", "case", "switch_case", "map_fn",
    "scan", "foldl", "foldr", "vectorized_map", "custom_gradient", "recompute_grad",
    "init_scope", "get_logger", "executing_eagerly", "config", "debugging", "io", "summary",
    "autograph", "set_random_seed", "get_static_value", "ensure_shape",
    "register_tensor_conversion_function",
    "no_gradient", "is_tensor", "inside_function", "enable_eager_execution", "as_dtype",
    "is_symbolic_tensor", "group", "tuple", "Assert", "assert_equal", "make_tensor_proto",
    "make_ndarray", "load_library", "load_op_library", "experimental_functions_run_eagerly",
    "run_functions_eagerly", "functions_run_eagerly", "Module", "Variable", "constant",
    "convert_to_tensor", "identity_n", "stop_gradient", "print_v2", "timestamp", "to_device",
}
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _g(a):
    """A GPU tensor of the NumPy array a."""
    with nabi.device("/GPU:0"):
        return nabi.constant(a)


F = np.float32


def _f(*shape, lo=0.1, hi=0.9):
    n = int(np.prod(shape)) if shape else 1
    return _g((np.linspace(lo, hi, n, dtype=F)).reshape(shape))


def _i(vals):
    return _g(np.asarray(vals, np.int32))


def _spd():
    return _g(np.array([[2.0, 0.5], [0.5, 1.0]], F))


# hand-written argument sets: name -> (args, kwargs) factory
RECIPES = {
    "gather": lambda: ((_f(4, 3), _i([0, 2])), {}),
    "gather_nd": lambda: ((_f(4, 3), _i([[0, 1], [2, 2]])), {}),
    "scatter_nd": lambda: ((_i([[0], [2]]), _f(2, 3), [4, 3]), {}),
    "tensor_scatter_nd_update": lambda: ((_f(4, 3), _i([[0], [2]]), _f(2, 3)), {}),
    "tensor_scatter_nd_add": lambda: ((_f(4, 3), _i([[0], [2]]), _f(2, 3)), {}),
    "tensor_scatter_nd_sub": lambda: ((_f(4, 3), _i([[0], [2]]), _f(2, 3)), {}),
    "tensor_scatter_nd_max": lambda: ((_f(4, 3), _i([[0], [2]]), _f(2, 3)), {}),
    "tensor_scatter_nd_min": lambda: ((_f(4, 3), _i([[0], [2]]), _f(2, 3)), {}),
    "one_hot": lambda: ((_i([0, 2, 1]), 3), {}),
    "bincount": lambda: ((_i([0, 1, 1, 3, 2, 1]),), {}),
    "unique": lambda: ((_i([3, 1, 3, 2, 1]),), {}),
    "unique_with_counts": lambda: ((_i([3, 1, 3, 2, 1]),), {}),
    "searchsorted": lambda: ((_f(2, 4), _f(2, 3, lo=0.0, hi=1.0)), {}),
    "histogram_fixed_width": lambda: ((_f(8, lo=0.0, hi=5.0), [0.0, 5.0]), {"nbins": 5}),
    "histogram_fixed_width_bins": lambda: ((_f(8, lo=0.0, hi=5.0), [0.0, 5.0]), {"nbins": 5}),
    "segment_sum": lambda: ((_f(4, 3), _i([0, 0, 1, 1])), {}),
    "segment_mean": lambda: ((_f(4, 3), _i([0, 0, 1, 1])), {}),
    "segment_max": lambda: ((_f(4, 3), _i([0, 0, 1, 1])), {}),
    "segment_min": lambda: ((_f(4, 3), _i([0, 0, 1, 1])), {}),
    "segment_prod": lambda: ((_f(4, 3), _i([0, 0, 1, 1])), {}),
    "unsorted_segment_sum": lambda: ((_f(4, 3), _i([1, 0, 1, 0]), 2), {}),
    "unsorted_segment_mean": lambda: ((_f(4, 3), _i([1, 0, 1, 0]), 2), {}),
    "unsorted_segment_max": lambda: ((_f(4, 3), _i([1, 0, 1, 0]), 2), {}),
    "unsorted_segment_min": lambda: ((_f(4, 3), _i([1, 0, 1, 0]), 2), {}),
    "unsorted_segment_prod": lambda: ((_f(4, 3), _i([1, 0, 1, 0]), 2), {}),
    "unsorted_segment_sqrt_n": lambda: ((_f(4, 3), _i([1, 0, 1, 0]), 2), {}),
    "sparse_segment_sum": lambda: ((_f(4, 3), _i([0, 2]), _i([0, 1])), {}),
    "sparse_segment_mean": lambda: ((_f(4, 3), _i([0, 2]), _i([0, 1])), {}),
    "sparse_segment_sqrt_n": lambda: ((_f(4, 3), _i([0, 2]), _i([0, 1])), {}),
    "conv2d": lambda: ((_f(1, 5, 5, 2), _f(3, 3, 2, 4), 1, "SAME"), {}),
    "convolution": lambda: ((_f(1, 5, 5, 2), _f(3, 3, 2, 4)), {"padding": "SAME"}),
    "conv1d": lambda: ((_f(1, 6, 2), _f(3, 2, 4), 1, "SAME"), {}),
    "conv3d": lambda: ((_f(1, 4, 4, 4, 2), _f(2, 2, 2, 2, 3), [1, 1, 1, 1, 1], "SAME"), {}),
    "conv2d_transpose": lambda: ((_f(1, 3, 3, 4), _f(3, 3, 2, 4), [1, 3, 3, 2], 1, "SAME"), {}),
    "conv1d_transpose": lambda: ((_f(1, 3, 4), _f(3, 2, 4), [1, 3, 2], 1, "SAME"), {}),
    "conv3d_transpose": lambda: ((_f(1, 2, 2, 2, 4), _f(2, 2, 2, 2, 4), [1, 2, 2, 2, 2],
                                  [1, 1, 1, 1, 1], "SAME"), {}),
    "depthwise_conv2d": lambda: ((_f(1, 5, 5, 2), _f(3, 3, 2, 1), [1, 1, 1, 1], "SAME"), {}),
    "separable_conv2d": lambda: ((_f(1, 5, 5, 2), _f(3, 3, 2, 1), _f(1, 1, 2, 4),
                                  [1, 1, 1, 1], "SAME"), {}),
    "atrous_conv2d": lambda: ((_f(1, 5, 5, 2), _f(3, 3, 2, 4), 2, "SAME"), {}),
    "max_pool2d": lambda: ((_f(1, 4, 4, 2), 2, 2, "VALID"), {}),
    "avg_pool2d": lambda: ((_f(1, 4, 4, 2), 2, 2, "VALID"), {}),
    "max_pool": lambda: ((_f(1, 4, 4, 2), 2, 2, "VALID"), {}),
    "avg_pool": lambda: ((_f(1, 4, 4, 2), 2, 2, "VALID"), {}),
    "pool": lambda: ((_f(1, 4, 4, 2), [2, 2], "MAX", "VALID"), {"strides": [2, 2]}),
    "max_pool1d": lambda: ((_f(1, 4, 2), 2, 2, "VALID"), {}),
    "avg_pool1d": lambda: ((_f(1, 4, 2), 2, 2, "VALID"), {}),
    "max_pool3d": lambda: ((_f(1, 4, 4, 4, 2), 2, 2, "VALID"), {}),
    "avg_pool3d": lambda: ((_f(1, 4, 4, 4, 2), 2, 2, "VALID"), {}),
    "max_pool_with_argmax": lambda: ((_f(1, 4, 4, 2), 2, 2, "VALID"), {}),
    "batch_normalization": lambda: ((_f(2, 3), _f(3), _f(3), _f(3), _f(3), 1e-3), {}),
    "fused_batch_norm": lambda: ((_f(1, 2, 2, 3), _f(3), _f(3)), {}),
    "moments": lambda: ((_f(2, 3), [0]), {}),
    "weighted_moments": lambda: ((_f(2, 3), [0], _f(2, 3)), {}),
    "sparse_softmax_cross_entropy_with_logits": lambda: ((), {"labels": _i([0, 2]),
                                                              "logits": _f(2, 3)}),
    "softmax_cross_entropy_with_logits": lambda: ((), {"labels": _f(2, 3), "logits": _f(2, 3)}),
    "sigmoid_cross_entropy_with_logits": lambda: ((), {"labels": _f(2, 3), "logits": _f(2, 3)}),
    "weighted_cross_entropy_with_logits": lambda: ((), {"labels": _f(2, 3), "logits": _f(2, 3),
                                                        "pos_weight": 2.0}),
    "embedding_lookup": lambda: ((_f(4, 3), _i([0, 2])), {}),
    "in_top_k": lambda: ((_i([0, 2]), _f(2, 3), 1), {}),
    "top_k": lambda: ((_f(2, 4),), {"k": 2}),
    "matmul": lambda: ((_f(2, 3), _f(3, 2)), {}),
    "tensordot": lambda: ((_f(2, 3), _f(3, 2), 1), {}),
    "einsum": lambda: (("ij,jk->ik", _f(2, 3), _f(3, 2)), {}),
    "cholesky": lambda: ((_spd(),), {}),
    "cholesky_solve": lambda: ((_g(np.linalg.cholesky([[2.0, 0.5], [0.5, 1.0]]).astype(F)),
                                _f(2, 1)), {}),
    "solve": lambda: ((_spd(), _f(2, 1)), {}),
    "triangular_solve": lambda: ((_spd(), _f(2, 1)), {}),
    "lstsq": lambda: ((_spd(), _f(2, 1)), {}),
    "cross": lambda: ((_f(2, 3), _f(2, 3, lo=0.3)), {}),
    "resize": lambda: ((_f(1, 4, 4, 3), [2, 2]), {}),
    "crop_and_resize": lambda: ((_f(1, 4, 4, 3), _g(np.array([[0, 0, 1, 1]], F)), _i([0]),
                                 [2, 2]), {}),
    "non_max_suppression": lambda: ((_g(np.array([[0, 0, 1, 1], [0, 0, .9, .9]], F)),
                                     _f(2), 2), {}),
    "pad": lambda: ((_f(2, 3), [[1, 1], [0, 1]]), {}),
    "reshape": lambda: ((_f(2, 3), [3, 2]), {}),
    "tile": lambda: ((_f(2, 3), [2, 1]), {}),
    "broadcast_to": lambda: ((_f(1, 3), [2, 3]), {}),
    "slice": lambda: ((_f(4, 3), [1, 0], [2, 2]), {}),
    "strided_slice": lambda: ((_f(4, 3), [0, 0], [4, 3], [2, 1]), {}),
    "split": lambda: ((_f(4, 3), 2), {}),
    "concat": lambda: (([_f(2, 3), _f(2, 3)], 0), {}),
    "stack": lambda: (([_f(2, 3), _f(2, 3)],), {}),
    "add_n": lambda: (([_f(2, 3), _f(2, 3)],), {}),
    "accumulate_n": lambda: (([_f(2, 3), _f(2, 3)],), {}),
    "meshgrid": lambda: ((_f(3), _f(2)), {}),
    "transpose": lambda: ((_f(2, 3),), {}),
    "boolean_mask": lambda: ((_f(3, 2), _g(np.array([True, False, True]))), {}),
    "where": lambda: ((_g(np.array([True, False, True])), _f(3), _f(3, lo=1.0)), {}),
    "sequence_mask": lambda: ((_i([1, 3]),), {}),
    "reverse_sequence": lambda: ((_f(2, 3), _i([2, 3])), {"seq_axis": 1, "batch_axis": 0}),
    "dynamic_partition": lambda: ((_f(4), _i([0, 1, 0, 1]), 2), {}),
    "dynamic_stitch": lambda: (([_i([0, 2]), _i([1, 3])], [_f(2), _f(2)]), {}),
    "range": lambda: ((5,), {}),
    "fill": lambda: (([2, 3], 1.5), {}),
    "zeros": lambda: (([2, 3],), {}),
    "ones": lambda: (([2, 3],), {}),
    "eye": lambda: ((3,), {}),
    "linspace": lambda: ((0.0, 1.0, 5), {}),
    "normal": lambda: (([2, 3],), {}),
    "uniform": lambda: (([2, 3],), {}),
    "truncated_normal": lambda: (([2, 3],), {}),
    "gamma": lambda: (([2, 3], 1.5), {}),
    "poisson": lambda: (([2, 3], 1.5), {}),
    "categorical": lambda: ((_f(2, 3), 4), {}),
    "shuffle": lambda: ((_f(4, 3),), {}),
    "stateless_normal": lambda: (([2, 3], [1, 2]), {}),
    "stateless_uniform": lambda: (([2, 3], [1, 2]), {}),
    "stateless_truncated_normal": lambda: (([2, 3], [1, 2]), {}),
    "dropout": lambda: ((_f(2, 3), 0.5), {}),
    "clip_by_value": lambda: ((_f(2, 3), 0.2, 0.6), {}),
    "clip_by_norm": lambda: ((_f(2, 3), 0.5), {}),
    "clip_by_global_norm": lambda: (([_f(2, 3)], 0.5), {}),
    "l2_normalize": lambda: ((_f(2, 3),), {}),
    "confusion_matrix": lambda: ((_i([0, 1, 2, 1]), _i([0, 2, 2, 1])), {}),
    "bias_add": lambda: ((_f(2, 3), _f(3)), {}),
    "frame": lambda: ((_f(8), 4, 2), {}),
    "stft": lambda: ((_f(16), 8, 4), {}),
    "rfft": lambda: ((_f(8),), {}),
    "ctc_loss": lambda: ((_i([[1, 2]]), _f(4, 1, 3), _i([2]), _i([4])),
                         {"logits_time_major": True}),
    "extract_patches": lambda: ((_f(1, 4, 4, 2), [1, 2, 2, 1], [1, 2, 2, 1], [1, 1, 1, 1],
                                 "VALID"), {}),
    "space_to_depth": lambda: ((_f(1, 4, 4, 2), 2), {}),
    "depth_to_space": lambda: ((_f(1, 2, 2, 4), 2), {}),
    "space_to_batch_nd": lambda: ((_f(1, 4, 4, 2), [2, 2], [[0, 0], [0, 0]]), {}),
    "batch_to_space": lambda: ((_f(4, 2, 2, 2), [2, 2], [[0, 0], [0, 0]]), {}),
    "local_response_normalization": lambda: ((_f(1, 2, 2, 4),), {}),
    "polyval": lambda: (([_f(3), _f(3)], _f(3)), {}),
    "nce_loss": None, "sampled_softmax_loss": None,
}
BAD_NAMES = {  # parameters that get an int tensor by default
    "indices", "segment_ids", "ids", "labels", "sequence_length", "lengths", "num_segments",
    "k", "depth", "num_lower", "num_upper", "n", "nbins", "axis", "seed",
}
SCALAR_INTS = {"num_segments": 2, "k": 1, "depth": 3, "num_lower": 1, "num_upper": 0,
               "n": 2, "nbins": 4, "num_rows": 3, "num_samples": 2, "frame_length": 4,
               "frame_step": 2, "fft_length": 8, "block_size": 2, "num_columns": 3}


def _value_for(pname, kind):
    if kind == "image" and pname in ("image", "images", "input", "x", "img1", "img2", "value"):
        return _f(1, 4, 4, 3)
    if kind == "square" and pname in ("input", "matrix", "x", "a", "tensor", "chol", "lower_upper"):
        return _spd()
    if kind == "complex":
        return nabi.cast(_f(2, 4), nabi.complex64)
    if kind == "scalar":
        return SCALAR_INTS.get(pname, 0.5)
    if pname in SCALAR_INTS:
        return SCALAR_INTS[pname]
    if pname in ("shape", "size", "dims", "output_shape", "multiples"):
        return [2, 3]
    if pname in ("dtype", "out_type", "output_type"):
        return nabi.float32
    if pname in ("perm",):
        return [1, 0]
    # 4 x 8 (128 bytes): a read-back of a count or an index bound stays well below it
    if pname in ("condition", "mask"):
        return _g(np.arange(32).reshape(4, 8) % 3 == 0)
    if pname in ("indices", "segment_ids", "ids", "labels") or kind == "int":
        return _i(np.arange(32).reshape(4, 8) * 7 % 3)
    if pname in ("seed",):
        return [1, 2]
    return _f(4, 8)


def _candidates(name, fn):
    """Argument sets to try, in order: the recipe, then by-name defaults (float, then int)."""
    if name in RECIPES:
        if RECIPES[name] is None:
            return
        yield "recipe", RECIPES[name]
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return
    req = [p for p in sig.parameters.values()
           if p.default is inspect.Parameter.empty
           and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    for kind in ("float", "int", "image", "square", "complex", "scalar"):
        yield kind, (lambda kind=kind: (tuple(_value_for(p.name, kind) for p in req), {}))


class _Timeout(Exception):
    pass


def _alarm(*_):
    raise _Timeout()


def _bytes(args, kw):
    out = []
    for v in list(args) + list(kw.values()):
        for w in (v if isinstance(v, (list, tuple)) else [v]):
            d = getattr(w, "_data", None)
            if d is not None and hasattr(d, "nbytes"):
                out.append(int(d.nbytes))
    return max(out) if out else 0


class Counter:
    """Exact counts on the simulator; backend-call and read counts on the emulator."""

    def __init__(self):
        dev.backend()
        self.sim = hasattr(getattr(getattr(nabi, "_C", None), "cuda_backend", None),
                           "_sim_stats")
        if self.sim:
            self.cuda = nabi._C.cuda_backend
            return
        self.calls, self.reads, self.rbytes = [0], [0], [0]
        inner, get, me = dev._BACKEND[0], dev.DeviceArray.get, self

        class Wrap:
            def __getattr__(self, n):
                f = getattr(inner, n)
                if not callable(f) or isinstance(f, type):
                    return f

                def call(*a, **k):
                    me.calls[0] += 1
                    return f(*a, **k)
                return call
        dev._BACKEND[0] = Wrap()

        def counted_get(arr):
            me.reads[0] += 1
            r = get(arr)
            me.rbytes[0] += int(getattr(r, "nbytes", 0))
            return r
        dev.DeviceArray.get = counted_get

    def reset(self):
        if self.sim:
            self.cuda._sim_stats(True)
        else:
            self.calls[0] = self.reads[0] = self.rbytes[0] = 0

    def read(self):
        if self.sim:
            s = self.cuda._sim_stats(True)
            return {"launches": sum(s["launches"].values()), "d2h": s["d2h"],
                    "d2h_bytes": s["d2h_bytes"], "h2d": s["h2d"],
                    "kernels": sorted(s["launches"])}
        return {"launches": self.calls[0], "d2h": self.reads[0], "d2h_bytes": self.rbytes[0],
                "h2d": None, "kernels": []}


def _on_gpu(r):
    leaves = r if isinstance(r, (list, tuple)) else [r]
    return all(type(getattr(x, "_data", None)).__name__ == "DeviceArray" for x in leaves
               if hasattr(x, "_data"))


def probe(counter, name, fn):
    errors = []
    for kind, make in _candidates(name, fn):
        try:
            args, kw = make()
        except Exception as e:  # noqa: BLE001
            errors.append(f"{kind}: building args: {type(e).__name__}: {e}")
            continue
        counter.reset()
        signal.alarm(20)
        try:
            with nabi.device("/GPU:0"):
                r = fn(*args, **kw)
            c = counter.read()
        except _Timeout:
            errors.append(f"{kind}: timed out")
            continue
        except Exception as e:  # noqa: BLE001
            errors.append(f"{kind}: {type(e).__name__}: {str(e)[:160]}")
            continue
        finally:
            signal.alarm(0)
        biggest = _bytes(args, kw)
        if c["d2h"] == 0:
            verdict = "device"
        elif c["launches"] == 0 or c["d2h_bytes"] >= biggest > 0:
            verdict = "host round-trip"
        else:
            verdict = "device + read-back"
        c.update(verdict=verdict, args=kind, input_bytes=biggest, result_on_gpu=_on_gpu(r))
        return c
    return {"verdict": "not probed",
            "reason": "; ".join(errors[:2]) if errors else "no argument recipe"}


def _public_functions():
    seen = {}
    for ns in NAMESPACES:
        mod = getattr(nabi, ns) if ns else nabi
        for n in sorted(dir(mod)):
            if n.startswith("_") or n in SKIP:
                continue
            f = getattr(mod, n)
            if not callable(f) or isinstance(f, type) or inspect.ismodule(f):
                continue
            qual = f"tf.{ns + '.' if ns else ''}{n}"
            key = id(f)
            if key in seen:
                seen[key]["aliases"].append(qual)
            else:
                seen[key] = {"name": qual, "short": n, "fn": f, "aliases": []}
    return list(seen.values())


def _usage(shorts):
    """Short names used in examples/ or the Keras package (layers, losses, metrics, ...)."""
    text = []
    for root in ("examples", "python/nabi/keras"):
        for d, _, files in os.walk(os.path.join(REPO, root)):
            for f in files:
                if f.endswith(".py"):
                    with open(os.path.join(d, f), encoding="utf-8") as fh:
                        text.append(fh.read())
    blob = "\n".join(text)
    pre = r"(?:\b(?:tf|nabi|ops|\w+_ops|math|nn|linalg|image|signal|random)\.)"
    return {s for s in shorts
            if re.search(pre + re.escape(s) + r"\b(?!\.)", blob)  # called or passed
            or re.search(r"\bimport [^\n]*\b" + re.escape(s) + r"\b", blob)}


def to_markdown(rows, mode):
    cnt = {}
    for r in rows:
        cnt[r["verdict"]] = cnt.get(r["verdict"], 0) + 1
    lines = [f"### gpu_host_ops ({mode}): where each public op computes for GPU tensors", "",
             "Generated by `tools/gpu_host_ops.py`: each op called once on small GPU tensors; "
             "launches and device-to-host copies counted around the call.", "",
             "Summary: " + ", ".join(f"{k}: {v}" for k, v in sorted(cnt.items())) +
             f" (of {len(rows)} distinct functions).", ""]
    hot = [r for r in rows if r["verdict"] == "host round-trip" and r["used"]]
    lines += ["Host round-trips used by Keras code or examples: " +
              (", ".join(f"`{r['name']}`" for r in hot) or "none"), "",
              "| op | launches | D2H (bytes) | verdict | used by Keras/examples | note |",
              "|---|---|---|---|---|---|"]
    order = {"host round-trip": 0, "device + read-back": 1, "not probed": 2, "device": 3}
    for r in sorted(rows, key=lambda r: (order[r["verdict"]], not r["used"], r["name"])):
        note = r.get("reason", "")
        if r["aliases"]:
            note = ("aliases: " + ", ".join(r["aliases"]) + "; " + note).rstrip("; ")
        note = note.replace("|", "/").replace("\n", " ")
        d2h = f"{r['d2h']} ({r['d2h_bytes']})" if "d2h" in r else ""
        lines.append(f"| `{r['name']}` | {r.get('launches', '')} | {d2h} | {r['verdict']} | "
                     f"{'yes' if r['used'] else ''} | {note} |")
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--md", default=os.path.join(REPO, "bench/results/gpu_host_ops.md"))
    ap.add_argument("--json", default=os.path.join(REPO, "bench/results/gpu_host_ops.json"))
    ap.add_argument("--only", default="", help="comma-separated short names (debugging)")
    a = ap.parse_args()
    signal.signal(signal.SIGALRM, _alarm)
    counter = Counter()
    mode = "CUDA host simulator" if counter.sim else "emulator"
    funcs = _public_functions()
    if a.only:
        funcs = [f for f in funcs if f["short"] in a.only.split(",")]
    used = _usage({f["short"] for f in funcs})
    rows = []
    for f in funcs:
        np.random.seed(0)
        r = probe(counter, f["short"], f["fn"])
        r.update(name=f["name"], aliases=f["aliases"], used=f["short"] in used)
        rows.append(r)
        print(f"{f['name']:50s} {r['verdict']:20s} {r.get('launches', '')} {r.get('d2h', '')}",
              file=sys.stderr)
    with open(a.json, "w") as fh:
        json.dump({"mode": mode, "ops": rows}, fh, indent=1)
    with open(a.md, "w") as fh:
        fh.write(to_markdown(rows, mode))
    print(to_markdown(rows, mode).split("\n| op")[0])


if __name__ == "__main__":
    main()
