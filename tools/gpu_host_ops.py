"""Which public ops of nabi compute on the host for GPU tensors: an inventory.

    tools/sim-build.sh && PYTHONPATH=build/sim/pkg python3 tools/gpu_host_ops.py
        [--md bench/results/gpu_host_ops.md] [--json bench/results/gpu_host_ops.json]
        [--no-layers] [--only name,...] [--layers-only Dense,...|all]
    NABI_EMULATE_CUDA=1 PYTHONPATH=python python3 tools/gpu_host_ops.py   (fallback)

Pass 1, ops. Every public function of nabi, nabi.math, nabi.linalg, nabi.nn, nabi.image,
nabi.signal, nabi.random and nabi.bitwise (one probe per distinct function; aliases listed
together; pass 1b does the same for keras.ops, its own table) is
called once on small GPU-placed inputs, under `with nabi.device('/GPU:0')`. Around the call
it counts:
  - on the CUDA host simulator (nabi._C.cuda_backend._sim_stats, exact, as bench/launch_count.py
    reads them): kernel launches, device-to-host copies and bytes, host-to-device copies;
  - on the emulator (no simulator in the build): calls into the device layer and
    DeviceArray.get reads (as bench/bench_gpu_calls.py counts them); bytes are the reads' sizes.
Each read is traced to the nabi source line that made it (a profile hook on the simulator);
the table gives the line of the largest single read ("read at").
Verdict: "device" (no device-to-host copy); "device + read-back" (kernels ran, and no single
read was as large as its largest input: a count, a shape, an index bound); "host round-trip"
(it launched nothing and read back, i.e. computed in NumPy and copied the result back; or one
read was at least its largest input's bytes: part of it runs on the host); "host by design"
(a round-trip or read-back in an op that TF also runs on the host: codecs, candidate
samplers, CTC decoders, seed and shape arithmetic; HOST_BY_DESIGN); "read-back by design"
(an assertion or a branch predicate read as a scalar: READ_BY_DESIGN); "not a tensor op"
(scopes, config, Python-level queries, printing: NOT_TENSOR, not called); "not probed" (no
argument set worked; the errors are given). The byte rule is a heuristic on tiny inputs
(inputs are kept above the 16 bytes of an index-bound read): check the op's code (the
"read at" line) before acting on it.

Arguments: each required parameter gets a small GPU tensor chosen by its name (RECIPES:
hand-written argument sets, keyed 'namespace.name' or name; then by-name defaults: float32
first, then int32, image, square, complex and scalar guesses). Between probes the global
random state is restored (a failing set_seed call must not leak into the next probe).

"Used by Keras/examples": where each function is referenced in examples/, python/nabi/examples
or the Keras package (keras.layers, keras.losses, keras.ops, ...). References are resolved as
Python resolves them (imports of nabi modules and functions, relative ones too, then `a.b.c`
chains through modules) and matched by object identity, so np.linalg.svd, Python's
random.shuffle, docstrings and comments do not count.

Pass 2, Keras layers: each class of keras.layers is built on small GPU inputs (a first call,
uncounted), then one forward call (training=True, under a GradientTape) and the backward pass
(to the float inputs and the trainable weights) are counted, with the same verdict rule
(_layer_recipes; LAYER_SKIP for classes with no GPU computation).

Pass 3, Keras training pieces: each keras.losses class (value under a tape, gradient to y_pred),
keras.metrics class (update_state after a warm-up call, result) and keras.optimizers class
(apply_gradients after a warm-up step) on (4, 3) GPU tensors, counted the same way.

A last table ranks the source lines that read back by how many probes reach them.

Pass 4, Model.fit: small Sequential models (Dense, Conv2D, Embedding + LSTM, BatchNormalization
+ Dropout) fitted on the GPU; fit, evaluate and predict counted with every read's source line.
The five tables go to the .md, the five lists to the .json ("ops", "keras_ops", "layers",
"training", "fit").
"""
import argparse
import inspect
import json
import os
import signal
import sys

import numpy as np

import nabi
from nabi.framework import device as dev
from nabi.ops import random_ops

NAMESPACES = ["", "math", "linalg", "nn", "image", "signal", "random", "bitwise"]
# Not tensor ops: listed with the verdict "not a tensor op" and this reason, not called.
NOT_TENSOR = {}
for _reason, _names in {
    "scope / tracing helper": "device function name_scope control_dependencies init_scope "
                              "custom_gradient recompute_grad no_gradient group tuple",
    "global state / config": "set_random_seed set_seed set_global_generator "
                             "experimental_functions_run_eagerly run_functions_eagerly "
                             "functions_run_eagerly enable_eager_execution executing_eagerly "
                             "inside_function get_logger load_library load_op_library "
                             "register_tensor_conversion_function",
    "Python-level query on types / static shapes": "is_tensor is_symbolic_tensor as_dtype "
                                                   "get_static_value broadcast_static_shape",
    "host-side value (NumPy / proto / clock)": "make_tensor_proto make_ndarray timestamp "
                                               "create_rng_state",
    "runs Python code on host values by definition": "py_function numpy_function",
    "builds a tensor from host data (an upload)": "constant convert_to_tensor",
    "printing: host by definition": "print print_v2",
    "internal helper imported into the namespace": "to_device bitwise.binary_operands "
                                                   "bitwise.broadcast_shape",
}.items():
    NOT_TENSOR.update(dict.fromkeys(_names.split(), _reason))
# Ops that TF itself runs on the host (CPU-only kernels, string tensors): probed, and a host
# round-trip or read-back is reported as "host by design" with this reason.
HOST_BY_DESIGN = {}
for _reason, _names in {
    "image codec (string tensors; TF: CPU only)": "decode_bmp decode_gif decode_image "
        "decode_jpeg decode_png encode_jpeg encode_png is_jpeg adjust_jpeg_quality "
        "random_jpeg_quality stateless_random_jpeg_quality",
    "candidate sampler (TF: CPU only)": "log_uniform_candidate_sampler "
                                        "uniform_candidate_sampler",
    "CTC decoder (TF: CPU only)": "ctc_beam_search_decoder ctc_greedy_decoder",
    "box sampling on the image shape (TF: CPU only)": "sample_distorted_bounding_box "
                                                      "stateless_sample_distorted_bounding_box",
    "fingerprint hash (TF: CPU only)": "fingerprint",
    "shape arithmetic (TF: shape tensors live in host memory)": "broadcast_dynamic_shape",
    "returns a NumPy array by definition": "keras.ops.convert_to_numpy",
    "seed arithmetic (TF: stateless seeds live in host memory)": "random.split random.fold_in",
}.items():
    HOST_BY_DESIGN.update(dict.fromkeys(_names.split(), _reason))
# Ops that must read a scalar back (a predicate, an assertion's outcome): reads of at most 8
# bytes each are "read-back by design"; a larger read (the whole inputs) keeps its verdict.
READ_BY_DESIGN = {}
for _reason, _names in {
    "assertion: its outcome is read to raise (TF eager too)": "assert_greater assert_less "
                                                              "assert_equal Assert",
    "predicate read to pick a branch (TF eager too)": "cond case switch_case while_loop "
                                                      "keras.ops.switch keras.ops.fori_loop",
}.items():
    READ_BY_DESIGN.update(dict.fromkeys(_names.split(), _reason))
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


# a 4 x 4 SPD matrix (64 bytes: more than the 16-byte index-bound reads of gathers, so that
# the byte rule below can tell a bound check from a copy of the matrix)
SPD = (np.eye(4) * 2.0 + 0.25).astype(F)


def _spd():
    return _g(SPD)


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
    "cholesky_solve": lambda: ((_g(np.linalg.cholesky(SPD).astype(F)), _f(4, 2)), {}),
    "solve": lambda: ((_spd(), _f(4, 2)), {}),
    "triangular_solve": lambda: ((_spd(), _f(4, 2)), {}),
    "lstsq": lambda: ((_spd(), _f(4, 2)), {}),
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
    "dynamic_partition": lambda: ((_f(4, 3), _i([0, 1, 0, 1]), 2), {}),
    "dynamic_stitch": lambda: (([_i([0, 2]), _i([1, 3])], [_f(2, 3), _f(2, 3)]), {}),
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
    "pool": lambda: ((_f(1, 4, 4, 2), [2, 2], "MAX"), {"strides": [2, 2], "padding": "VALID"}),
    "nce_loss": lambda: ((_f(5, 3), _f(5), _g(np.array([[1], [3]], np.int64)), _f(2, 3), 2, 5),
                         {}),
    "sampled_softmax_loss": lambda: ((_f(5, 3), _f(5), _g(np.array([[1], [3]], np.int64)),
                                      _f(2, 3), 2, 5), {}),
    # the second batch of recipes: ops that the by-name defaults could not call
    "assert_greater": lambda: ((_f(4, 8, lo=1.0, hi=2.0), _f(4, 8)), {}),
    "assert_less": lambda: ((_f(4, 8), _f(4, 8, lo=1.0, hi=2.0)), {}),
    "assert_equal": lambda: ((_f(4, 8), _f(4, 8)), {}),
    "Assert": lambda: ((_g(np.array(True)), [_f(2, 3)]), {}),
    "broadcast_dynamic_shape": lambda: ((_i([2, 1]), _i([1, 3])), {}),
    "repeat": lambda: ((_f(4, 3), _i([1, 2, 0, 1])), {"axis": 0}),
    "reverse": lambda: ((_f(4, 3), [1]), {}),
    "roll": lambda: ((_f(4, 3), 1, 0), {}),
    "space_to_batch": lambda: ((_f(1, 4, 4, 2), [2, 2], [[0, 0], [0, 0]]), {}),
    "invert_permutation": lambda: ((_i([2, 0, 3, 1]),), {}),
    "global_norm": lambda: (([_f(2, 3), _f(3)],), {}),
    "logm": lambda: ((nabi.cast(_spd(), nabi.complex64),), {}),
    "lu_solve": lambda: (_lu() + (_f(4, 2),), {}),
    "lu_matrix_inverse": lambda: (_lu(), {}),
    "lu_reconstruct": lambda: (_lu(), {}),
    "set_diag": lambda: ((_f(3, 3), _f(3)), {}),
    "tridiagonal_matmul": lambda: ((_f(3, 4), _f(4, 2)), {}),
    "tridiagonal_solve": lambda: ((_tridiag(), _f(4, 2)), {}),
    "atrous_conv2d_transpose": lambda: ((_f(1, 5, 5, 4), _f(3, 3, 2, 4), [1, 5, 5, 2], 2,
                                         "SAME"), {}),
    "batch_norm_channels_last": lambda: ((_f(2, 3), _f(3), _f(3), 1e-3, True), {}),
    "conv2d_backprop_filter": lambda: ((_f(1, 5, 5, 2), [3, 3, 2, 4], _f(1, 5, 5, 4),
                                        [1, 1, 1, 1], "SAME"), {}),
    "conv2d_backprop_input": lambda: (([1, 5, 5, 2],), {"filters": _f(3, 3, 2, 4),
                                                        "out_backprop": _f(1, 5, 5, 4),
                                                        "strides": [1, 1, 1, 1],
                                                        "padding": "SAME"}),
    "conv2d_bias_activation": lambda: ((_f(1, 5, 5, 2), _f(3, 3, 2, 4), _f(4)),
                                       {"padding": "SAME", "activation": "relu"}),
    "conv_transpose": lambda: ((_f(1, 3, 3, 4), _f(3, 3, 2, 4), [1, 3, 3, 2], 1, "SAME"), {}),
    "ctc_beam_search_decoder": lambda: ((_f(4, 1, 3), _i([4])), {"beam_width": 2}),
    "ctc_greedy_decoder": lambda: ((_f(4, 1, 3), _i([4])), {}),
    "dense": lambda: ((_f(2, 3), _f(3, 4), _f(4)), {}),
    "dilation2d": lambda: ((_f(1, 4, 4, 2), _f(2, 2, 2), [1, 1, 1, 1], "SAME", "NHWC",
                            [1, 1, 1, 1]), {}),
    "erosion2d": lambda: ((_f(1, 4, 4, 2), _f(2, 2, 2), [1, 1, 1, 1], "SAME", "NHWC",
                           [1, 1, 1, 1]), {}),
    "log_uniform_candidate_sampler": lambda: ((_g(np.array([[1], [3]], np.int64)), 1, 2, True,
                                               5), {}),
    "uniform_candidate_sampler": lambda: ((_g(np.array([[1], [3]], np.int64)), 1, 2, True, 5),
                                          {}),
    "stateless_dropout": lambda: ((_f(2, 3), 0.5, [1, 2]), {}),
    "sufficient_statistics": lambda: ((_f(2, 3), [0]), {}),
    "adjust_contrast": lambda: ((_f(1, 4, 4, 3), 0.5), {}),
    "adjust_hue": lambda: ((_f(1, 4, 4, 3), 0.1), {}),
    "adjust_saturation": lambda: ((_f(1, 4, 4, 3), 0.5), {}),
    "adjust_jpeg_quality": lambda: ((_f(4, 4, 3), 80), {}),
    "central_crop": lambda: ((_f(1, 4, 4, 3), 0.5), {}),
    "combined_non_max_suppression": lambda: ((_boxes()[None, :, None, :], _f(1, 3, 2), 2, 3),
                                             {}),
    "crop_to_bounding_box": lambda: ((_f(1, 4, 4, 3), 1, 1, 2, 2), {}),
    "pad_to_bounding_box": lambda: ((_f(1, 4, 4, 3), 1, 1, 6, 6), {}),
    "resize_with_crop_or_pad": lambda: ((_f(1, 4, 4, 3), 3, 5), {}),
    "resize_with_pad": lambda: ((_f(1, 4, 4, 3), 6, 5), {}),
    "draw_bounding_boxes": lambda: ((_f(1, 4, 4, 3), _boxes()[None]), {}),
    "extract_glimpse": lambda: ((_f(1, 4, 4, 3), [2, 2], _g(np.zeros((1, 2), F))), {}),
    "grayscale_to_rgb": lambda: ((_f(1, 4, 4, 1),), {}),
    "non_max_suppression_overlaps": lambda: ((_f(3, 3), _f(3), 2), {}),
    "non_max_suppression_padded": lambda: ((_boxes(), _f(3), 2), {}),
    "non_max_suppression_with_scores": lambda: ((_boxes(), _f(3), 2), {}),
    "psnr": lambda: ((_f(1, 4, 4, 3), _f(1, 4, 4, 3, lo=0.2), 1.0), {}),
    "ssim": lambda: ((_f(1, 8, 8, 1), _f(1, 8, 8, 1, lo=0.2), 1.0), {"filter_size": 3}),
    "ssim_multiscale": lambda: ((_f(1, 8, 8, 1), _f(1, 8, 8, 1, lo=0.2), 1.0),
                                {"power_factors": (0.5, 0.5), "filter_size": 3}),
    "random_contrast": lambda: ((_f(1, 4, 4, 3), 0.5, 1.5), {}),
    "random_hue": lambda: ((_f(1, 4, 4, 3), 0.1), {}),
    "random_saturation": lambda: ((_f(1, 4, 4, 3), 0.5, 1.5), {}),
    "random_jpeg_quality": lambda: ((_f(4, 4, 3), 50, 90), {}),
    "stateless_random_brightness": lambda: ((_f(1, 4, 4, 3), 0.2, [1, 2]), {}),
    "stateless_random_contrast": lambda: ((_f(1, 4, 4, 3), 0.5, 1.5, [1, 2]), {}),
    "stateless_random_hue": lambda: ((_f(1, 4, 4, 3), 0.1, [1, 2]), {}),
    "stateless_random_saturation": lambda: ((_f(1, 4, 4, 3), 0.5, 1.5, [1, 2]), {}),
    "stateless_random_jpeg_quality": lambda: ((_f(4, 4, 3), 50, 90, [1, 2]), {}),
    "sample_distorted_bounding_box": lambda: ((_i([4, 4, 3]), _boxes()[None, :1]), {}),
    "stateless_sample_distorted_bounding_box": lambda: ((_i([4, 4, 3]), _boxes()[None, :1],
                                                         [1, 2]), {}),
    "encode_png": lambda: ((_u8(4, 4, 3),), {}),
    "encode_jpeg": lambda: ((_u8(4, 4, 3),), {}),
    "decode_png": lambda: ((_encoded("png"),), {}),
    "decode_bmp": lambda: ((_encoded("bmp"),), {}),
    "decode_gif": lambda: ((_encoded("gif"),), {}),
    "decode_jpeg": lambda: ((_encoded("jpeg"),), {}),
    "decode_image": lambda: ((_encoded("png"),), {}),
    "is_jpeg": lambda: ((_encoded("jpeg"),), {}),
    "fft3d": lambda: ((nabi.cast(_f(2, 2, 4), nabi.complex64),), {}),
    "ifft3d": lambda: ((nabi.cast(_f(2, 2, 4), nabi.complex64),), {}),
    "rfft3d": lambda: ((_f(2, 2, 4),), {}),
    "irfft3d": lambda: ((nabi.cast(_f(2, 2, 3), nabi.complex64),), {"fft_length": [2, 2, 4]}),
    "hamming_window": lambda: ((8,), {}),
    "hann_window": lambda: ((8,), {}),
    "kaiser_window": lambda: ((8,), {}),
    "kaiser_bessel_derived_window": lambda: ((8,), {}),
    "vorbis_window": lambda: ((8,), {}),
    "inverse_stft": lambda: ((nabi.cast(_f(3, 5), nabi.complex64), 8, 4), {}),
    "fold_in": lambda: ((_g(np.array([1, 2], np.int64)), 3), {}),
    "stateless_binomial": lambda: (([2, 3], [1, 2], _f(2, 3, lo=2.0, hi=9.0), _f(2, 3)), {}),
    "stateless_gamma": lambda: (([2, 3], [1, 2], _f(2, 3, lo=0.5, hi=2.0)), {}),
    "stateless_poisson": lambda: (([2, 3], [1, 2], _f(2, 3, lo=0.5, hi=2.0)), {}),
    "random.split": lambda: ((_g(np.array([1, 2], np.int64)),), {}),
    "image.transpose": lambda: ((_f(1, 4, 4, 3),), {}),
    # keras.ops (Keras 3's backend-neutral ops): those the by-name defaults cannot call
    "keras.ops.adaptive_average_pool": lambda: ((_f(2, 6, 6, 3), 2), {}),
    "keras.ops.adaptive_max_pool": lambda: ((_f(2, 6, 6, 3), 2), {}),
    "keras.ops.average_pool": lambda: ((_f(2, 6, 6, 3), 2), {}),
    "keras.ops.max_pool": lambda: ((_f(2, 6, 6, 3), 2), {}),
    "keras.ops.argpartition": lambda: ((_f(4, 8), 2), {}),
    "keras.ops.associative_scan": lambda: ((lambda a, b: a + b, _f(4, 3)), {}),
    "keras.ops.batch_normalization": lambda: ((_f(2, 3), _f(3), _f(3, lo=0.5, hi=1.0), -1), {}),
    "keras.ops.conv": lambda: ((_f(1, 5, 5, 2), _f(3, 3, 2, 4)), {}),
    "keras.ops.conv_transpose": lambda: ((_f(1, 3, 3, 4), _f(3, 3, 2, 4), 1), {}),
    "keras.ops.depthwise_conv": lambda: ((_f(1, 5, 5, 2), _f(3, 3, 2, 1)), {}),
    "keras.ops.separable_conv": lambda: ((_f(1, 5, 5, 2), _f(3, 3, 2, 1), _f(1, 1, 2, 4)), {}),
    "keras.ops.correlate": lambda: ((_f(8), _f(3)), {}),
    "keras.ops.ctc_decode": lambda: ((_f(1, 4, 3), _i([4])), {}),
    "keras.ops.ctc_loss": lambda: ((_i([[1, 2]]), _f(1, 4, 3), _i([2]), _i([4])), {}),
    "keras.ops.digitize": lambda: ((_f(4, 8), _f(3, lo=0.2, hi=0.8)), {}),
    "keras.ops.dot_product_attention": lambda: ((_f(1, 4, 2, 3), _f(1, 4, 2, 3),
                                                 _f(1, 4, 2, 3)), {}),
    "keras.ops.extract_sequences": lambda: ((_f(16), 4, 2), {}),
    # keras.ops' FFTs take (real, imag) float pairs, which can live on the GPU
    "keras.ops.fft": lambda: (((_f(2, 4), _f(2, 4, lo=0.3)),), {}),
    "keras.ops.fft2": lambda: (((_f(2, 4, 4), _f(2, 4, 4, lo=0.3)),), {}),
    "keras.ops.ifft2": lambda: (((_f(2, 4, 4), _f(2, 4, 4, lo=0.3)),), {}),
    "keras.ops.rfft": lambda: ((_f(2, 8),), {}),
    "keras.ops.irfft": lambda: (((_f(2, 5), _f(2, 5, lo=0.3)),), {}),
    "keras.ops.stft": lambda: ((_f(16), 8, 4, 8), {}),
    "keras.ops.istft": lambda: (((_f(3, 5), _f(3, 5, lo=0.3)), 8, 4, 8), {}),
    "keras.ops.histogram": lambda: ((_f(32),), {}),
    "keras.ops.map": lambda: ((lambda x: x * 2.0, _f(4, 3)), {}),
    "keras.ops.moveaxis": lambda: ((_f(2, 3, 4), 0, 2), {}),
    "keras.ops.swapaxes": lambda: ((_f(2, 3, 4), 0, 2), {}),
    "keras.ops.multi_hot": lambda: ((_i([[0, 2], [1, 1]]),), {"num_classes": 3}),
    "keras.ops.scan": lambda: ((lambda c, x: (c + x, c), _f(3)), {"xs": _f(4, 3)}),
    "keras.ops.scatter": lambda: ((_i([[0], [2]]), _f(2, 3), (4, 3)), {}),
    "keras.ops.scatter_update": lambda: ((_f(4, 3), _i([[0], [2]]), _f(2, 3)), {}),
    "keras.ops.searchsorted": lambda: ((_f(8), _f(4, lo=0.0, hi=1.0)), {}),
    "keras.ops.select": lambda: (([_g(np.arange(32).reshape(4, 8) % 3 == 0),
                                   _g(np.arange(32).reshape(4, 8) % 3 == 1)],
                                  [_f(4, 8), _f(4, 8, lo=1.0)]), {}),
    "keras.ops.slice_update": lambda: ((_f(4, 3), [1, 0], _f(2, 3)), {}),
    "keras.ops.sparse_categorical_crossentropy": lambda: ((_i([0, 2, 1, 1]), _probs()), {}),
    "keras.ops.switch": lambda: ((_i(1), [lambda x: x * 2.0, lambda x: x], _f(2, 3)), {}),
    "keras.ops.take_along_axis": lambda: ((_f(4, 3), _i([[0], [2], [1], [1]]), 1), {}),
    "keras.ops.take": lambda: ((_f(4, 3), _i([0, 2])), {"axis": 0}),
    # control flow and element-wise maps over GPU tensors (the callables are device ops)
    "identity_n": lambda: (([_f(2, 3), _f(3)],), {}),
    "stop_gradient": lambda: ((_f(2, 3),), {}),
    "ensure_shape": lambda: ((_f(2, 3), [2, 3]), {}),
    "map_fn": lambda: ((lambda x: x * 2.0, _f(4, 3)), {}),
    "vectorized_map": lambda: ((lambda x: x * 2.0, _f(4, 3)), {}),
    "scan": lambda: ((lambda a, x: a + x, _f(4, 3)), {}),
    "foldl": lambda: ((lambda a, x: a + x, _f(4, 3)), {}),
    "foldr": lambda: ((lambda a, x: a + x, _f(4, 3)), {}),
    "cond": lambda: ((_g(np.array(True)), lambda: _f(2, 3) * 2.0, lambda: _f(2, 3)), {}),
    "case": lambda: (([(_g(np.array(True)), lambda: _f(2, 3))],), {"default": lambda: _f(2, 3)}),
    "switch_case": lambda: ((_i(1), [lambda: _f(2, 3), lambda: _f(2, 3) * 2.0]), {}),
    "while_loop": lambda: ((lambda i: i < 3, lambda i: (i + 1,), (_i(0),)), {}),
}


def _u8(*shape):
    return _g((np.arange(int(np.prod(shape))) * 37 % 256).astype(np.uint8).reshape(shape))


def _boxes():
    return _g(np.array([[0, 0, 1, 1], [0, 0, .9, .9], [.5, .5, 1, 1]], F))


def _lu():
    """LU factors of the SPD test matrix (computed on the CPU, then placed on the GPU)."""
    with nabi.device("/CPU:0"):
        lu, perm = nabi.linalg.lu(nabi.constant(SPD))
    return _g(lu.numpy()), _g(perm.numpy())


def _tridiag():
    """Compact diagonals (super, main, sub) of a diagonally dominant 4 x 4 matrix."""
    return _g(np.array([[.1, .2, .3, 0], [2, 2, 2, 2], [0, .1, .2, .3]], F))


def _encoded(fmt):
    """A small image encoded on the CPU (a scalar string tensor: host memory by nature)."""
    with nabi.device("/CPU:0"):
        img = nabi.constant((np.arange(48) * 37 % 256).astype(np.uint8).reshape(4, 4, 3))
        if fmt == "jpeg":
            return nabi.io.encode_jpeg(img)
        if fmt == "png":
            return nabi.io.encode_png(img)
    import io as _io
    from PIL import Image
    buf = _io.BytesIO()
    Image.fromarray(img.numpy()).save(buf, format=fmt.upper())
    return nabi.constant(buf.getvalue())
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


def _key(table, qual):
    """The entry of table for 'namespace.name' if any, else for the bare name."""
    return qual if qual in table else qual.rsplit(".", 1)[-1]


def _candidates(qual, fn):
    """Argument sets to try, in order: the recipe (by 'namespace.name', else by name), then
    by-name defaults (float, then int, ...)."""
    name = _key(RECIPES, qual)
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


class _Guard:
    """`with _Guard(seconds) as g:` runs one probe under signal.alarm(seconds); the timeout or
    an exception is kept as g.error (a short message) instead of propagating, and the alarm and
    the read-site profile hook are cleared either way."""

    def __init__(self, seconds, width=200):
        self.seconds, self.width, self.error = seconds, width, None

    def __enter__(self):
        signal.alarm(self.seconds)
        return self

    def __exit__(self, et, e, tb):
        signal.alarm(0)
        sys.setprofile(None)
        if et is None or not issubclass(et, Exception):
            return False
        self.error = ("timed out" if issubclass(et, _Timeout)
                      else f"{et.__name__}: {str(e)[:self.width]}")
        return True


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


def _site(frame):
    """'file.py:line function' of the innermost nabi frame outside the device layer."""
    while frame is not None:
        fn = frame.f_code.co_filename.replace(os.sep, "/")
        if "/nabi/" in fn and "/nabi/framework/" not in fn:
            return f"{fn.rsplit('/nabi/', 1)[1]}:{frame.f_lineno} {frame.f_code.co_name}"
        frame = frame.f_back
    return ""


class Counter:
    """Exact counts on the simulator; backend-call and read counts on the emulator.

    Each device-to-host copy is also traced to the nabi source line that made it: on the
    simulator a profile hook compares the copy count after every C call; on the emulator the
    counted DeviceArray.get looks at its caller. `largest` is the largest single read (one C
    call's bytes) and `site` where it happened."""

    def __init__(self):
        dev.backend()
        self.sim = hasattr(getattr(getattr(nabi, "_C", None), "cuda_backend", None),
                           "_sim_stats")
        self.largest, self.site, self.sites = [0], [""], {}
        if self.sim:
            self.cuda = nabi._C.cuda_backend
            self._seen = [0, 0]   # d2h count and bytes at the last C call's return
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
            nb = int(getattr(r, "nbytes", 0))
            me.rbytes[0] += nb
            me._note(nb, sys._getframe(1))
            return r
        dev.DeviceArray.get = counted_get

    def _note(self, nbytes, frame):
        site = _site(frame)
        self.sites[site] = self.sites.get(site, 0) + 1
        if nbytes >= self.largest[0]:
            self.largest[0], self.site[0] = nbytes, site

    def _profile(self, frame, event, arg):
        if event != "c_return" or arg is self.cuda._sim_stats:
            return
        s = self.cuda._sim_stats(False)
        if s["d2h"] != self._seen[0]:
            self._note(s["d2h_bytes"] - self._seen[1], frame)
            self._seen[:] = [s["d2h"], s["d2h_bytes"]]

    def reset(self):
        self.largest[0], self.site[0] = 0, ""
        self.sites.clear()
        if self.sim:
            self.cuda._sim_stats(True)
            self._seen[:] = [0, 0]
            sys.setprofile(self._profile)
        else:
            self.calls[0] = self.reads[0] = self.rbytes[0] = 0

    def read(self):
        if self.sim:
            sys.setprofile(None)
            s = self.cuda._sim_stats(True)
            c = {"launches": sum(s["launches"].values()), "d2h": s["d2h"],
                 "d2h_bytes": s["d2h_bytes"], "h2d": s["h2d"], "kernels": sorted(s["launches"])}
        else:
            c = {"launches": self.calls[0], "d2h": self.reads[0], "d2h_bytes": self.rbytes[0],
                 "h2d": None, "kernels": []}
        c.update(largest_read=self.largest[0], read_site=self.site[0],
                 read_sites=dict(self.sites))
        return c


def _on_gpu(r):
    leaves = r if isinstance(r, (list, tuple)) else [r]
    return all(type(getattr(x, "_data", None)).__name__ == "DeviceArray" for x in leaves
               if hasattr(x, "_data"))


def probe(counter, qual, fn):
    """Call fn (qual: 'namespace.name', or the name of a top-level function) on GPU inputs."""
    errors = []
    for kind, make in _candidates(qual, fn):
        try:
            args, kw = make()
        except Exception as e:  # noqa: BLE001
            errors.append(f"{kind}: building args: {type(e).__name__}: {e}")
            continue
        counter.reset()
        with _Guard(20, 160) as g, nabi.device("/GPU:0"):
            r = fn(*args, **kw)
            c = counter.read()
        if g.error:
            errors.append(f"{kind}: {g.error}")
            continue
        biggest = _bytes(args, kw)
        if c["d2h"] == 0:
            verdict = "device"
        elif c["launches"] == 0 or c["largest_read"] >= biggest > 0:
            verdict = "host round-trip"
        else:
            verdict = "device + read-back"
        hkey, rkey = _key(HOST_BY_DESIGN, qual), _key(READ_BY_DESIGN, qual)
        if verdict != "device" and hkey in HOST_BY_DESIGN:
            c["reason"] = f"{HOST_BY_DESIGN[hkey]}; measured: {verdict}"
            verdict = "host by design"
        elif verdict != "device" and rkey in READ_BY_DESIGN:
            if c["largest_read"] <= 8:
                c["reason"] = f"{READ_BY_DESIGN[rkey]}; measured: {verdict}"
                verdict = "read-back by design"
            else:
                c["reason"] = (f"{READ_BY_DESIGN[rkey]}, but it reads {c['largest_read']} "
                               "bytes at once: the inputs, not just the outcome")
        on_gpu = _on_gpu(r)
        ins = [w for v in list(args) + list(kw.values())
               for w in (v if isinstance(v, (list, tuple)) else [v]) if hasattr(w, "_data")]
        if verdict == "device" and not on_gpu and ins and not any(
                type(w._data).__name__ == "DeviceArray" for w in ins):
            # nothing was on the GPU: complex and string tensors cannot live there
            verdict = "host by design"
            c["reason"] = ("its inputs cannot live on the GPU (complex / string tensors are "
                           "host-only in nabi)")
        elif not on_gpu and any(getattr(getattr(x, "dtype", None), "is_complex", False)
                                for x in (r if isinstance(r, (list, tuple)) else [r])):
            c["reason"] = ("complex result: complex tensors are host-only in nabi; " +
                           c.get("reason", "")).rstrip("; ")
        c.update(verdict=verdict, args=kind, input_bytes=biggest, result_on_gpu=on_gpu)
        return c
    return {"verdict": "not probed",
            "reason": "; ".join(errors[:2]) if errors else "no argument recipe"}


def _public_functions(namespaces=None):
    """{name ('tf.math.x' / 'keras.ops.x'), qual (the RECIPES key: 'math.x', 'keras.ops.x'),
    short, fn, aliases} per distinct function of the namespaces (default: NAMESPACES)."""
    seen = {}
    for ns in (NAMESPACES if namespaces is None else namespaces):
        mod = nabi
        for part in ns.split(".") if ns else []:
            mod = getattr(mod, part)
        for n in sorted(dir(mod)):
            if n.startswith("_"):
                continue
            f = getattr(mod, n)
            if not callable(f) or isinstance(f, type) or inspect.ismodule(f):
                continue  # classes (Variable, GradientTape, Module, ...) and modules
            qual = f"{ns + '.' if ns else ''}{n}"
            name = qual if ns.startswith("keras") else "tf." + qual
            key = id(f)
            if key in seen:
                seen[key]["aliases"].append(name)
            else:
                seen[key] = {"name": name, "qual": qual, "short": n, "fn": f, "aliases": []}
    return list(seen.values())


USAGE_ROOTS = [("examples", "examples"), ("python/nabi/examples", "examples"),
               ("python/nabi/keras", "keras")]


PRIVATE_OF = {"_losses_second_order": "losses"}  # private helper modules: their owner


def _usage(funcs):
    """Where each probed function is referenced: {id(fn): sorted labels}, a label being
    'keras.<subpackage>' (layers, losses, metrics, optimizers, callbacks, ops, ...) or
    'examples'. A reference is resolved by name, as Python would: each file's imports of nabi
    modules and functions (absolute or relative) give its names, and every `a.b.c` chain is
    followed through modules to an object, which counts if it *is* a probed function (not a
    like-named one: np.linalg.svd or Python's random.shuffle do not count)."""
    import ast
    import importlib
    # a public function is often a dispatch wrapper (functools.wraps) of the ops-level one
    # that Keras calls (tf.nn.dropout wraps nabi.ops.nn_ops.dropout): both count as it
    want = {}
    for f in funcs:
        g = f["fn"]
        while g is not None and id(g) not in want:
            want[id(g)] = id(f["fn"])
            g = getattr(g, "__wrapped__", None)
    out = {}

    def mod(name):
        try:
            return importlib.import_module(name)
        except Exception:  # noqa: BLE001
            return None

    for root, label in USAGE_ROOTS:
        for d, _, files in os.walk(os.path.join(REPO, root)):
            for fname in files:
                if not fname.endswith(".py"):
                    continue
                path = os.path.join(d, fname)
                rel = os.path.relpath(path, os.path.join(REPO, "python"))
                pkg = (os.path.dirname(rel).replace(os.sep, ".") if label == "keras"
                       or root.startswith("python") else None)
                where = label
                if label == "keras":
                    parts = rel.split(os.sep)
                    sub = parts[2][:-3] if parts[2].endswith(".py") else parts[2]
                    where = "keras." + PRIVATE_OF.get(sub, sub)
                with open(path, encoding="utf-8") as fh:
                    try:
                        tree = ast.parse(fh.read())
                    except SyntaxError:
                        continue
                names = {}
                for node in ast.walk(tree):
                    if isinstance(node, ast.Import):
                        for al in node.names:
                            if al.name.split(".")[0] == "nabi":
                                names[al.asname or "nabi"] = (mod(al.name) if al.asname
                                                              else nabi)
                    elif isinstance(node, ast.ImportFrom):
                        base = node.module or ""
                        if node.level:
                            if pkg is None:
                                continue
                            up = pkg.split(".")[:len(pkg.split(".")) - node.level + 1]
                            base = ".".join(up + ([base] if base else []))
                        if base.split(".")[0] != "nabi":
                            continue
                        m = mod(base)
                        for al in node.names:
                            obj = getattr(m, al.name, None) if m is not None else None
                            if obj is None:
                                obj = mod(base + "." + al.name)
                            if obj is not None:
                                names[al.asname or al.name] = obj
                                if id(obj) in want:
                                    out.setdefault(want[id(obj)], set()).add(where)

                def resolve(n):
                    if isinstance(n, ast.Name):
                        return names.get(n.id)
                    if isinstance(n, ast.Attribute):
                        v = resolve(n.value)
                        if v is not None and inspect.ismodule(v):
                            return getattr(v, n.attr, None)
                    return None
                for node in ast.walk(tree):
                    if isinstance(node, (ast.Attribute, ast.Name)):
                        obj = resolve(node)
                        if obj is not None and id(obj) in want:
                            out.setdefault(want[id(obj)], set()).add(where)
    return {k: sorted(v) for k, v in out.items()}


def _used_label(where):
    """'keras.layers, keras.ops, examples' -> the md column (Keras parts first)."""
    return ", ".join(sorted(where, key=lambda w: (w == "examples", w)))


def to_markdown(rows, mode, what=""):
    cnt = {}
    for r in rows:
        cnt[r["verdict"]] = cnt.get(r["verdict"], 0) + 1
    title = (f"### gpu_host_ops ({mode}): where each public op computes for GPU tensors"
             if not what else f"\n### {what} on GPU tensors ({mode})")
    lines = [title, "",
             "Generated by `tools/gpu_host_ops.py`: each op called once on small GPU tensors; "
             "launches and device-to-host copies counted around the call." if not what else
             f"Pass 1b of `tools/gpu_host_ops.py`: each {what} function (Keras 3's backend-"
             "neutral ops, all wrappers of their own) probed as the tf ops above.", "",
             "Summary: " + ", ".join(f"{k}: {v}" for k, v in sorted(cnt.items())) +
             f" (of {len(rows)} distinct functions).", ""]
    hot = [r for r in rows if r["verdict"] == "host round-trip" and r["used"]]
    lines += ["Host round-trips used by Keras code or examples: " +
              (", ".join(f"`{r['name']}`" for r in hot) or "none"), "",
              "| op | launches | D2H (bytes) | largest read | verdict | used by Keras/examples | "
              "read at (the largest read) | note |",
              "|---|---|---|---|---|---|---|---|"]
    order = {"host round-trip": 0, "device + read-back": 1, "not probed": 2, "device": 3,
             "read-back by design": 4, "host by design": 5, "not a tensor op": 6}
    for r in sorted(rows, key=lambda r: (order[r["verdict"]], not r["used"], r["name"])):
        note = r.get("reason", "")
        if r.get("result_on_gpu") is False:
            note = ("result on the host; " + note).rstrip("; ")
        if r["aliases"]:
            note = ("aliases: " + ", ".join(r["aliases"]) + "; " + note).rstrip("; ")
        note = note.replace("|", "/").replace("\n", " ")
        d2h = f"{r['d2h']} ({r['d2h_bytes']})" if "d2h" in r else ""
        site = f"`{r['read_site']}`" if r.get("read_site") else ""
        lines.append(f"| `{r['name']}` | {r.get('launches', '')} | {d2h} | "
                     f"{r.get('largest_read', '')} | {r['verdict']} | {r['used']} | {site} | "
                     f"{note} |")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ second pass: Keras layers
# Each layer class of keras.layers: constructor and inputs (a GPU tensor or a list of them).
# Shapes: X2 (2, 6), X3 (2, 5, 3) sequences, X4 (2, 6, 6, 3) images, X5 (1, 4, 4, 4, 2).
def _X2():
    return _f(2, 6)


def _X3():
    return _f(2, 5, 3)


def _X4():
    return _f(2, 6, 6, 3)


def _X5():
    return _f(1, 4, 4, 4, 2)


def _pair(make):
    return lambda: [make(), make() * 0.5]


def _layer_recipes(L):
    rnn3 = L.SimpleRNNCell
    R = {
        "Activation": (lambda: L.Activation("relu"), _X2),
        "ActivityRegularization": (lambda: L.ActivityRegularization(l1=0.01), _X2),
        "AdaptiveAveragePooling1D": (lambda: L.AdaptiveAveragePooling1D(2), _X3),
        "AdaptiveAveragePooling2D": (lambda: L.AdaptiveAveragePooling2D(2), _X4),
        "AdaptiveAveragePooling3D": (lambda: L.AdaptiveAveragePooling3D(2), _X5),
        "AdaptiveMaxPooling1D": (lambda: L.AdaptiveMaxPooling1D(2), _X3),
        "AdaptiveMaxPooling2D": (lambda: L.AdaptiveMaxPooling2D(2), _X4),
        "AdaptiveMaxPooling3D": (lambda: L.AdaptiveMaxPooling3D(2), _X5),
        "Add": (L.Add, _pair(_X2)),
        "AdditiveAttention": (L.AdditiveAttention, lambda: [_f(2, 4, 3), _f(2, 5, 3)]),
        "Attention": (L.Attention, lambda: [_f(2, 4, 3), _f(2, 5, 3)]),
        "AlphaDropout": (lambda: L.AlphaDropout(0.5), _X2),
        "Average": (L.Average, _pair(_X2)),
        "AveragePooling1D": (L.AveragePooling1D, _X3),
        "AveragePooling2D": (L.AveragePooling2D, _X4),
        "AveragePooling3D": (L.AveragePooling3D, _X5),
        "BatchNormalization": (L.BatchNormalization, _X4),
        "Bidirectional": (lambda: L.Bidirectional(L.LSTM(3)), _X3),
        "CategoryEncoding": (lambda: L.CategoryEncoding(num_tokens=4, output_mode="one_hot"),
                             lambda: _i([0, 2, 1, 3])),
        "CenterCrop": (lambda: L.CenterCrop(4, 4), _X4),
        "Concatenate": (L.Concatenate, _pair(_X2)),
        "Conv1D": (lambda: L.Conv1D(3, 2), _X3),
        "Conv1DTranspose": (lambda: L.Conv1DTranspose(3, 2), _X3),
        "Conv2D": (lambda: L.Conv2D(3, 2), _X4),
        "Conv2DTranspose": (lambda: L.Conv2DTranspose(3, 2), _X4),
        "Conv3D": (lambda: L.Conv3D(3, 2), _X5),
        "Conv3DTranspose": (lambda: L.Conv3DTranspose(3, 2), _X5),
        "ConvLSTM1D": (lambda: L.ConvLSTM1D(2, 2), lambda: _f(2, 3, 5, 2)),
        "ConvLSTM2D": (lambda: L.ConvLSTM2D(2, 2), lambda: _f(1, 3, 4, 4, 2)),
        "ConvLSTM3D": (lambda: L.ConvLSTM3D(2, 2), lambda: _f(1, 2, 3, 3, 3, 2)),
        "Cropping1D": (lambda: L.Cropping1D(1), _X3),
        "Cropping2D": (lambda: L.Cropping2D(1), _X4),
        "Cropping3D": (lambda: L.Cropping3D(1), _X5),
        "Dense": (lambda: L.Dense(4), _X2),
        "DepthwiseConv1D": (lambda: L.DepthwiseConv1D(2), _X3),
        "DepthwiseConv2D": (lambda: L.DepthwiseConv2D(2), _X4),
        "Discretization": (lambda: L.Discretization(bin_boundaries=[0.3, 0.6]), _X2),
        "Dot": (lambda: L.Dot(axes=1), _pair(_X2)),
        "Dropout": (lambda: L.Dropout(0.5), _X2),
        "ELU": (L.ELU, _X2),
        "EinsumDense": (lambda: L.EinsumDense("ab,bc->ac", output_shape=4), _X2),
        "Embedding": (lambda: L.Embedding(10, 4), lambda: _i([[1, 2, 3], [4, 5, 6]])),
        "Flatten": (L.Flatten, _X4),
        "GRU": (lambda: L.GRU(3), _X3),
        "GRUCell": (lambda: L.RNN(L.GRUCell(3)), _X3),
        "GaussianDropout": (lambda: L.GaussianDropout(0.5), _X2),
        "GaussianNoise": (lambda: L.GaussianNoise(0.1), _X2),
        "GlobalAveragePooling1D": (L.GlobalAveragePooling1D, _X3),
        "GlobalAveragePooling2D": (L.GlobalAveragePooling2D, _X4),
        "GlobalAveragePooling3D": (L.GlobalAveragePooling3D, _X5),
        "GlobalMaxPool1D": (L.GlobalMaxPool1D, _X3),
        "GlobalMaxPool2D": (L.GlobalMaxPool2D, _X4),
        "GlobalMaxPool3D": (L.GlobalMaxPool3D, _X5),
        "GroupNormalization": (lambda: L.GroupNormalization(groups=3), _X4),
        "HashedCrossing": (lambda: L.HashedCrossing(num_bins=4),
                           lambda: [_i([1, 2, 3]), _i([4, 5, 6])]),
        "Hashing": (lambda: L.Hashing(num_bins=4), lambda: _i([[1, 2], [3, 4]])),
        "Identity": (L.Identity, _X2),
        "IntegerLookup": (lambda: L.IntegerLookup(vocabulary=[1, 2, 3]),
                          lambda: _i([[1, 2], [3, 4]])),
        "LSTM": (lambda: L.LSTM(3), _X3),
        "LSTMCell": (lambda: L.RNN(L.LSTMCell(3)), _X3),
        "Lambda": (lambda: L.Lambda(lambda x: x * 2.0), _X2),
        "LayerNormalization": (L.LayerNormalization, _X2),
        "LeakyReLU": (L.LeakyReLU, _X2),
        "Masking": (L.Masking, _X3),
        "MaxPool1D": (L.MaxPool1D, _X3),
        "MaxPool2D": (L.MaxPool2D, _X4),
        "MaxPool3D": (L.MaxPool3D, _X5),
        "Maximum": (L.Maximum, _pair(_X2)),
        "Minimum": (L.Minimum, _pair(_X2)),
        "Multiply": (L.Multiply, _pair(_X2)),
        "Subtract": (L.Subtract, _pair(_X2)),
        "MultiHeadAttention": (lambda: L.MultiHeadAttention(2, 2), _pair(_X3),
                               lambda layer, x, **k: layer(x[0], x[1], **k)),
        "Normalization": (lambda: L.Normalization(mean=0.5, variance=0.1), _X2),
        "PReLU": (L.PReLU, _X2),
        "Permute": (lambda: L.Permute((2, 1)), _X3),
        "RMSNormalization": (L.RMSNormalization, _X2),
        "RNN": (lambda: L.RNN(rnn3(3)), _X3),
        "RandomBrightness": (lambda: L.RandomBrightness(0.2), _X4),
        "RandomContrast": (lambda: L.RandomContrast(0.2), _X4),
        "RandomCrop": (lambda: L.RandomCrop(4, 4), _X4),
        "RandomFlip": (L.RandomFlip, _X4),
        "RandomHeight": (lambda: L.RandomHeight(0.2), _X4),
        "RandomRotation": (lambda: L.RandomRotation(0.1), _X4),
        "RandomTranslation": (lambda: L.RandomTranslation(0.1, 0.1), _X4),
        "RandomWidth": (lambda: L.RandomWidth(0.2), _X4),
        "RandomZoom": (lambda: L.RandomZoom(0.1), _X4),
        "ReLU": (L.ReLU, _X2),
        "RepeatVector": (lambda: L.RepeatVector(3), _X2),
        "Rescaling": (lambda: L.Rescaling(0.5), _X2),
        "Reshape": (lambda: L.Reshape((3, 2)), _X2),
        "Resizing": (lambda: L.Resizing(3, 3), _X4),
        "SeparableConv1D": (lambda: L.SeparableConv1D(3, 2), _X3),
        "SeparableConv2D": (lambda: L.SeparableConv2D(3, 2), _X4),
        "SimpleRNN": (lambda: L.SimpleRNN(3), _X3),
        "SimpleRNNCell": (lambda: L.RNN(rnn3(3)), _X3),
        "Softmax": (L.Softmax, _X2),
        "SpatialDropout1D": (lambda: L.SpatialDropout1D(0.5), _X3),
        "SpatialDropout2D": (lambda: L.SpatialDropout2D(0.5), _X4),
        "SpatialDropout3D": (lambda: L.SpatialDropout3D(0.5), _X5),
        "StackedRNNCells": (lambda: L.RNN(L.StackedRNNCells([rnn3(3), rnn3(3)])), _X3),
        "ThresholdedReLU": (L.ThresholdedReLU, _X2),
        "TimeDistributed": (lambda: L.TimeDistributed(L.Dense(3)), _X3),
        "UnitNormalization": (L.UnitNormalization, _X2),
        "UpSampling1D": (L.UpSampling1D, _X3),
        "UpSampling2D": (L.UpSampling2D, _X4),
        "UpSampling3D": (L.UpSampling3D, _X5),
        "ZeroPadding1D": (L.ZeroPadding1D, _X3),
        "ZeroPadding2D": (L.ZeroPadding2D, _X4),
        "ZeroPadding3D": (L.ZeroPadding3D, _X5),
    }
    return R


LAYER_SKIP = {  # layer classes not probed: the reason
    "Layer": "the base class", "InputLayer": "a placeholder: no computation",
    "TFOpLambda": "internal wrapper of a TF op in a functional model",
    "StringLookup": "string input: host by design (strings cannot live on the GPU)",
    "TextVectorization": "string input: host by design (strings cannot live on the GPU)",
}


def _leaves(x):
    if isinstance(x, (list, tuple)):
        return [y for v in x for y in _leaves(v)]
    if isinstance(x, dict):
        return [y for v in x.values() for y in _leaves(v)]
    return [x] if hasattr(x, "_data") else []


def _pass_verdict(c, biggest):
    if c["d2h"] == 0:
        return "device"
    if c["launches"] == 0 or c["largest_read"] >= biggest > 0:
        return "host round-trip"
    return "device + read-back"


def _call(layer, x, **k):
    return layer(x, **k)


def probe_layer(counter, name, ctor, make, call=_call):
    """Build the layer on GPU inputs (a first, uncounted call), then count a forward call
    (training=True, under a GradientTape) and the tape's backward pass to the float inputs
    and the trainable weights."""
    with _Guard(60) as g, nabi.device("/GPU:0"):
        layer = ctor()
        x = make()
        call(layer, x, training=True)      # build (weights) and warm up
        xs = [t for t in _leaves(x) if t.dtype.is_floating]
        ws = list(layer.trainable_variables)
        biggest = max([int(t._data.nbytes) for t in _leaves(x)] +
                      [int(v.value()._data.nbytes) for v in ws] + [0])
        with nabi.GradientTape() as tape:
            for t in xs:
                tape.watch(t)
            counter.reset()
            y = call(layer, x, training=True)
            fwd = counter.read()
            fwd["result_on_gpu"] = _on_gpu(_leaves(y))
            ys = [t for t in _leaves(y) if t.dtype.is_floating]
            loss = nabi.add_n([nabi.reduce_sum(t) for t in ys]) if ys else None
        row = {"forward": dict(fwd, verdict=_pass_verdict(fwd, biggest)),
               "input_bytes": biggest}
        if loss is None or not (xs or ws):
            row["backward"] = {"verdict": "no gradient"}
        else:
            counter.reset()
            grads = tape.gradient(loss, xs + ws)
            bwd = counter.read()
            bwd["result_on_gpu"] = _on_gpu([g for g in grads if g is not None])
            if all(g is None for g in grads):
                row["gradient_disconnected"] = True
            row["backward"] = dict(bwd, verdict=_pass_verdict(bwd, biggest))
            if row.get("gradient_disconnected"):
                row["backward"]["verdict"] = "no gradient (disconnected)"
        return row
    return {"error": g.error}


def _layer_classes():
    L = nabi.keras.layers
    seen = {}
    for n in sorted(dir(L)):
        c = getattr(L, n)
        if n.startswith("_") or not isinstance(c, type) or not issubclass(c, L.Layer):
            continue
        if id(c) in seen:
            seen[id(c)]["aliases"].append(n)
        else:
            seen[id(c)] = {"name": n, "aliases": []}
    return list(seen.values())


def layer_pass(counter, only=""):
    L = nabi.keras.layers
    recipes = _layer_recipes(L)
    rows = []
    for e in _layer_classes():
        names = [e["name"]] + e["aliases"]
        if only and not set(names) & set(only.split(",")):
            continue
        key = next((n for n in names if n in recipes or n in LAYER_SKIP), None)
        np.random.seed(0)
        if key in LAYER_SKIP:
            r = {"skip": LAYER_SKIP[key]}
        elif key is None:
            r = {"error": "no recipe"}
        else:
            r = probe_layer(counter, key, *recipes[key])
        r.update(name=e["name"], aliases=e["aliases"])
        rows.append(r)
        f, b = r.get("forward", {}), r.get("backward", {})
        print(f"layers.{e['name']:40s} {f.get('verdict', r.get('error', r.get('skip', ''))):20s}"
              f" {f.get('d2h', '')} {b.get('verdict', '')} {b.get('d2h', '')}", file=sys.stderr)
    return rows


def layers_markdown(rows, mode):
    def cell(p):
        if not p or "d2h" not in p:
            return ["", "", p.get("verdict", "") if p else ""]
        return [str(p["launches"]), f"{p['d2h']} ({p['d2h_bytes']}; largest {p['largest_read']})",
                p["verdict"]]

    def bad(p):
        return p.get("verdict") in ("host round-trip", "device + read-back")
    hot = [r for r in rows if bad(r.get("forward", {})) or bad(r.get("backward", {}))]
    rt = [r for r in rows if "host round-trip" in (r.get("forward", {}).get("verdict"),
                                                   r.get("backward", {}).get("verdict"))]
    cnt = {}
    for r in rows:
        k = ("not probed" if "error" in r else "skipped" if "skip" in r else
             "round-trip" if r in rt else "read-back" if r in hot else "device")
        cnt[k] = cnt.get(k, 0) + 1
    lines = ["", f"### Keras layers on GPU inputs ({mode}): forward and backward", "",
             "Second pass of `tools/gpu_host_ops.py`: each keras.layers class built on small GPU "
             "tensors (a first call builds and warms it, uncounted), then one forward call "
             "(training=True, under a GradientTape) and the tape's backward pass (to the float "
             "inputs and the trainable weights; loss = sum of the float outputs) counted. The "
             "verdicts use the op table's rule with the largest input or weight as the yardstick.",
             "", "Summary: " + ", ".join(f"{k}: {v}" for k, v in sorted(cnt.items())) +
             f" (of {len(rows)} layer classes).", "",
             "Layers whose forward or backward has a host round-trip: " +
             (", ".join(f"`{r['name']}`" for r in rt) or "none"), "",
             "Layers whose forward or backward reads back (round-trips included): " +
             (", ".join(f"`{r['name']}`" for r in hot) or "none"), "",
             "Layers with a float output but no gradient to their inputs or weights (all None: "
             "the output is not connected on the tape): " +
             (", ".join(f"`{r['name']}`" for r in rows if r.get("gradient_disconnected"))
              or "none"), "",
             "| layer | fwd launches | fwd D2H (bytes) | fwd verdict | bwd launches | "
             "bwd D2H (bytes) | bwd verdict | read at (largest read: fwd / bwd) | note |",
             "|---|---|---|---|---|---|---|---|---|"]

    def rank(r):
        return (0 if r in rt else 1 if r in hot else 3 if "skip" in r else
                2 if "error" in r else 4, r["name"])
    for r in sorted(rows, key=rank):
        f, b = r.get("forward"), r.get("backward")
        sites = " / ".join(f"`{p['read_site']}`" if p and p.get("read_site") else "-"
                           for p in (f, b)) if f else ""
        note = r.get("error") or r.get("skip") or ""
        for what, p in (("output", f), ("gradients", b)):
            if p and p.get("result_on_gpu") is False:
                note = f"{what} on the host; {note}".rstrip("; ")
        if r["aliases"]:
            note = ("aliases: " + ", ".join(r["aliases"]) + "; " + note).rstrip("; ")
        note = note.replace("|", "/").replace("\n", " ")
        lines.append("| " + " | ".join([f"`{r['name']}`"] + cell(f) + cell(b) + [sites, note])
                     + " |")
    return "\n".join(lines) + "\n"


# ----------------------------------------------- third pass: Keras losses, metrics, optimizers
def _probs():
    """(4, 3) rows of probabilities (a softmax-like y_pred) on the GPU."""
    p = np.array([[.7, .2, .1], [.1, .8, .1], [.3, .3, .4], [.2, .5, .3]], F)
    return _g(p)


def _onehot():
    return _g(np.eye(3, dtype=F)[[0, 1, 2, 1]])


def _count(counter, fn):
    """Counts around fn() (launches, D2H, the largest read and its line)."""
    counter.reset()
    try:
        r = fn()
        return r, counter.read()
    finally:
        sys.setprofile(None)


def _metric_ctor(M, n):
    special = {"IoU": lambda: M.IoU(3, [0, 1]), "MeanIoU": lambda: M.MeanIoU(3),
               "OneHotIoU": lambda: M.OneHotIoU(3, [0, 1]),
               "OneHotMeanIoU": lambda: M.OneHotMeanIoU(3),
               "MeanRelativeError": lambda: M.MeanRelativeError(_f(4, 3, lo=1.0, hi=2.0)),
               "PrecisionAtRecall": lambda: M.PrecisionAtRecall(0.5),
               "RecallAtPrecision": lambda: M.RecallAtPrecision(0.5),
               "SensitivityAtSpecificity": lambda: M.SensitivityAtSpecificity(0.5),
               "SpecificityAtSensitivity": lambda: M.SpecificityAtSensitivity(0.5),
               "Reduce": None, "SensitivitySpecificityBase": None, "MeanMetricWrapper": None,
               "Metric": None}
    return special[n] if n in special else getattr(M, n)


def _metric_args(n):
    if n in ("Mean", "Sum", "MeanTensor"):
        return (_f(4, 3),)
    if n in ("IoU", "MeanIoU"):
        return (_i([0, 1, 2, 1]), _i([0, 1, 1, 1]))
    if n.startswith("Sparse"):
        return (_i([0, 1, 2, 1]), _probs())
    return (_onehot(), _probs())


def _classes(mod, base):
    seen, out = set(), []
    for n in sorted(dir(mod)):
        c = getattr(mod, n)
        if (not n.startswith("_") and isinstance(c, type) and issubclass(c, base)
                and c is not base and id(c) not in seen):
            seen.add(id(c))
            out.append(n)
    return out


def train_pass(counter):
    """Each Keras loss (value and gradient to y_pred), metric (update_state, result) and
    optimizer (one apply_gradients step after a warm-up step) on GPU tensors."""
    K = nabi.keras
    rows = []

    def run(kind, name, steps):
        np.random.seed(0)
        row = {"kind": kind, "name": name, "steps": {}}
        with _Guard(60) as g, nabi.device("/GPU:0"):
            for step, fn in steps():
                _, c = _count(counter, fn)
                row["steps"][step] = c
        if g.error:
            row["error"] = g.error
        for c in row["steps"].values():
            c["verdict"] = _pass_verdict(c, 48)   # the (4, 3) float32 inputs
        rows.append(row)
        print(f"{kind}.{name:40s} " + " ".join(f"{k}:{v['verdict']}:{v['d2h']}"
                                              for k, v in row["steps"].items())
              + (" " + row["error"] if "error" in row else ""), file=sys.stderr)

    for n in _classes(K.losses, K.losses.Loss):
        if n in ("LossFunctionWrapper",):
            continue

        def steps(n=n):
            loss = getattr(K.losses, n)()
            yt = _i([0, 1, 2, 1]) if n.startswith("Sparse") else _onehot()
            yp = _probs()
            loss(yt, yp)                                       # warm-up
            state = {}

            def fwd():
                with nabi.GradientTape() as tape:
                    tape.watch(yp)
                    state["l"] = loss(yt, yp)
                state["tape"] = tape
            yield "value", fwd
            yield "gradient", lambda: state["tape"].gradient(state["l"], yp)
        run("losses", n, steps)

    for n in _classes(K.metrics, K.metrics.Metric):
        ctor = _metric_ctor(K.metrics, n)
        if ctor is None:
            continue

        def steps(ctor=ctor, n=n):
            m = ctor()
            args = _metric_args(n)
            m.update_state(*args)                              # warm-up (variables)
            yield "update_state", lambda: m.update_state(*args)
            yield "result", lambda: m.result()
        run("metrics", n, steps)

    for n in _classes(K.optimizers, K.optimizers.Optimizer):
        def steps(n=n):
            opt = getattr(K.optimizers, n)()
            v = nabi.Variable(_f(4, 3))
            g = _f(4, 3, lo=-0.5, hi=0.5)
            opt.apply_gradients([(g, v)])                      # warm-up (slots)
            yield "apply_gradients", lambda: opt.apply_gradients([(g, v)])
        run("optimizers", n, steps)
    return rows


def train_markdown(rows, mode):
    bad = [r for r in rows if any(c["verdict"] != "device" for c in r["steps"].values())]
    lines = ["", f"### Keras losses, metrics and optimizers on GPU tensors ({mode})", "",
             "Third pass of `tools/gpu_host_ops.py`: each loss (its value under a GradientTape, "
             "then the gradient to y_pred), metric (update_state after a warm-up call, then "
             "result) and optimizer (apply_gradients after a warm-up step that makes its slots) "
             "on (4, 3) float32 GPU tensors (int labels for the sparse ones); the verdict rule "
             "of the op table with 48 bytes (one input) as the yardstick.", "",
             "Pieces that read back or round-trip: " +
             (", ".join(f"`{r['kind']}.{r['name']}`" for r in bad) or "none"), "",
             "| piece | step | launches | D2H (bytes) | largest read | verdict | read at | note |",
             "|---|---|---|---|---|---|---|---|"]
    for r in sorted(rows, key=lambda r: (r not in bad, r["kind"], r["name"])):
        steps = list(r["steps"].items()) or [("", None)]
        for i, (step, c) in enumerate(steps):
            note = r.get("error", "") if i == 0 else ""
            note = note.replace("|", "/").replace("\n", " ")
            if c is None:
                lines.append(f"| `{r['kind']}.{r['name']}` |  |  |  |  | not probed |  | "
                             f"{note} |")
                continue
            site = f"`{c['read_site']}`" if c.get("read_site") else ""
            lines.append(f"| `{r['kind']}.{r['name']}` | {step} | {c['launches']} | "
                         f"{c['d2h']} ({c['d2h_bytes']}) | {c['largest_read']} | "
                         f"{c['verdict']} | {site} | {note} |")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------- fourth pass: Model.fit / evaluate
def _fit_models(K):
    """(name, model builder, x, y, compile kwargs): small models of the common layer kinds."""
    L = K.layers
    xs = np.linspace(0, 1, 8 * 6, dtype=F).reshape(8, 6)
    ys = np.array([0, 1, 2, 1, 0, 2, 1, 0])
    sparse = dict(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return [
        ("Dense MLP (adam, sparse CE, accuracy)",
         lambda: K.Sequential([L.Dense(5, activation="relu"), L.Dense(3, activation="softmax")]),
         xs, ys, sparse),
        ("Conv2D + MaxPool + Dense (adam, sparse CE, accuracy)",
         lambda: K.Sequential([L.Conv2D(2, 3, activation="relu"), L.MaxPool2D(),
                               L.Flatten(), L.Dense(3, activation="softmax")]),
         np.linspace(0, 1, 8 * 36, dtype=F).reshape(8, 6, 6, 1), ys, sparse),
        ("Embedding + LSTM + Dense (rmsprop, sparse CE, accuracy)",
         lambda: K.Sequential([L.Embedding(10, 4), L.LSTM(3), L.Dense(3, activation="softmax")]),
         (np.arange(40).reshape(8, 5) % 10).astype(np.int32), ys,
         dict(sparse, optimizer="rmsprop")),
        ("Dense + BatchNorm + Dropout (sgd, categorical CE, AUC)",
         lambda: K.Sequential([L.Dense(5), L.BatchNormalization(), L.Dropout(0.5),
                               L.Dense(3, activation="softmax")]),
         xs, np.eye(3, dtype=F)[ys],
         dict(optimizer="sgd", loss="categorical_crossentropy", metrics=["AUC"])),
    ]


def fit_pass(counter):
    """Each model: a warm-up fit, then fit (2 steps, verbose=0), evaluate and predict counted;
    the data are NumPy arrays as in a notebook (their upload is H2D, not counted as reads)."""
    K = nabi.keras
    rows = []
    for name, build, x, y, comp in _fit_models(K):
        np.random.seed(0)
        row = {"name": name, "calls": {}}
        with _Guard(120) as g, nabi.device("/GPU:0"):
            m = build()
            m.compile(**comp)
            m.fit(x, y, batch_size=4, epochs=1, verbose=0)
            for call, fn in (("fit (2 steps)", lambda: m.fit(x, y, batch_size=4, epochs=1,
                                                               verbose=0)),
                             ("evaluate (2 steps)", lambda: m.evaluate(x, y, batch_size=4,
                                                                        verbose=0)),
                             ("predict (2 steps)", lambda: m.predict(x, batch_size=4,
                                                                      verbose=0))):
                _, row["calls"][call] = _count(counter, fn)
        if g.error:
            row["error"] = g.error
        rows.append(row)
        print(f"fit {name:50s} " + " ".join(f"{k}:{v['d2h']}" for k, v in row["calls"].items())
              + (" " + row["error"] if "error" in row else ""), file=sys.stderr)
    return rows


def fit_markdown(rows, mode):
    lines = ["", f"### Model.fit / evaluate / predict on the GPU ({mode})", "",
             "Fourth pass of `tools/gpu_host_ops.py`: small Sequential models compiled and fitted "
             "once under `tf.device('/GPU:0')` (warm-up), then fit (2 steps of 4, verbose=0), "
             "evaluate and predict counted. Every read with its source line: a step that reads "
             "nothing back runs without a host synchronisation (the epoch-end logs are read by "
             "design, as Keras does).", "",
             "| model | call | launches | D2H (bytes) | reads (source line: count) | note |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        calls = list(r["calls"].items()) or [("", None)]
        for i, (call, c) in enumerate(calls):
            note = (r.get("error", "") if i == 0 else "").replace("|", "/")
            if c is None:
                lines.append(f"| {r['name']} |  |  |  |  | {note} |")
                continue
            sites = ", ".join(f"`{k}`: {v}" for k, v in sorted(c["read_sites"].items()))
            lines.append(f"| {r['name']} | {call} | {c['launches']} | {c['d2h']} "
                         f"({c['d2h_bytes']}) | {sites} | {note} |")
    return "\n".join(lines) + "\n"


def op_pass(counter, funcs):
    """Pass 1 (and 1b, keras.ops): probe each function, with its usage."""
    used = _usage(funcs)
    rows = []
    rnd = random_ops
    saved = (dict(rnd._state), list(rnd._global_generator))
    for f in funcs:
        np.random.seed(0)
        nkey = _key(NOT_TENSOR, f["qual"])
        if nkey in NOT_TENSOR:
            r = {"verdict": "not a tensor op", "reason": NOT_TENSOR[nkey]}
        else:
            r = probe(counter, f["qual"], f["fn"])
        # an op may change the global random state (set_seed with a bad argument half-sets
        # it): every probe starts from the state of the first
        rnd._state.clear()
        rnd._state.update(saved[0])
        rnd._global_generator[:] = saved[1]
        r.update(name=f["name"], aliases=f["aliases"],
                 used=_used_label(used.get(id(f["fn"]), [])))
        rows.append(r)
        print(f"{f['name']:50s} {r['verdict']:20s} {r.get('launches', '')} {r.get('d2h', '')}",
              file=sys.stderr)
    return rows


def sites_markdown(groups):
    """Which source lines read back, over every pass: a line with many users is the place
    to fix first. groups: (label, rows) with rows as the passes store them."""
    users = {}

    def add(site, n, who):
        u = users.setdefault(site, [0, []])
        u[0] += n
        if who not in u[1]:
            u[1].append(who)
    for label, rows in groups:
        for r in rows:
            counts = [r] if "read_sites" in r else []
            counts += [c for k in ("forward", "backward") if isinstance(r.get(k), dict)
                       for c in [r[k]] if "read_sites" in c]
            counts += list(r.get("steps", {}).values()) + list(r.get("calls", {}).values())
            for c in counts:
                if r.get("verdict") in ("host by design", "read-back by design"):
                    continue
                for site, n in c.get("read_sites", {}).items():
                    kind = f"{r['kind']}." if r.get("kind") else ""
                    add(site or "(outside nabi)", n, f"{label}{kind}{r['name']}")
    lines = ["", "### Where the reads happen", "",
             "Every device-to-host read above (the 'by design' ops left out), by the nabi source "
             "line that made it: reads over all probes, and the ops, layers and pieces that "
             "reach it. Lines near the top are the ones to fix first.", "",
             "| source line | reads | reached by |", "|---|---|---|"]
    for site, (n, who) in sorted(users.items(), key=lambda kv: (-len(kv[1][1]), kv[0])):
        shown = ", ".join(f"`{w}`" for w in who[:12]) + (f" and {len(who) - 12} more"
                                                         if len(who) > 12 else "")
        lines.append(f"| `{site}` | {n} | {len(who)}: {shown} |")
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--md", default=os.path.join(REPO, "bench/results/gpu_host_ops.md"))
    ap.add_argument("--json", default=os.path.join(REPO, "bench/results/gpu_host_ops.json"))
    ap.add_argument("--only", default="",
                    help="comma-separated short names, no Keras passes (debugging)")
    ap.add_argument("--layers-only", default="",
                    help="comma-separated keras.layers class names, or 'all': the layer pass "
                         "alone, printed (debugging)")
    ap.add_argument("--label", default="", help="what was measured (e.g. 'commit abc1234'), "
                    "written under the first heading")
    ap.add_argument("--no-layers", action="store_true",
                    help="skip the Keras passes (layers; losses, metrics, optimizers)")
    ap.add_argument("--train-only", action="store_true",
                    help="the losses / metrics / optimizers and fit passes alone, printed")
    a = ap.parse_args()
    signal.signal(signal.SIGALRM, _alarm)
    counter = Counter()
    mode = "CUDA host simulator" if counter.sim else "emulator"
    if a.train_only:
        print(train_markdown(train_pass(counter), mode))
        print(fit_markdown(fit_pass(counter), mode))
        return
    if a.layers_only:
        lrows = layer_pass(counter, "" if a.layers_only == "all" else a.layers_only)
        print(layers_markdown(lrows, mode))
        return
    funcs = _public_functions()
    kfuncs = _public_functions(["keras.ops"])
    if a.only:
        funcs = [f for f in funcs if f["short"] in a.only.split(",")]
        kfuncs = [f for f in kfuncs if f["short"] in a.only.split(",")]
    rows = op_pass(counter, funcs)
    krows = op_pass(counter, kfuncs)
    keras_passes = not (a.no_layers or a.only)
    lrows = layer_pass(counter) if keras_passes else []
    trows = train_pass(counter) if keras_passes else []
    frows = fit_pass(counter) if keras_passes else []
    with open(a.json, "w") as fh:
        # one row a line: a rerun's diff shows which ops changed
        head = json.dumps({"mode": mode, "label": a.label})[:-1]
        fh.write(head + "".join(
            f',\n "{k}": [\n' + ",\n".join("  " + json.dumps(r) for r in v) + "\n ]"
            for k, v in (("ops", rows), ("keras_ops", krows), ("layers", lrows),
                         ("training", trows), ("fit", frows))) + "\n}\n")
    md = to_markdown(rows, mode)
    if a.label:
        md = md.replace("\n\n", f"\n\nMeasured on {a.label}.\n\n", 1)
    md += to_markdown(krows, mode, "keras.ops") if krows else ""
    md = (md + (layers_markdown(lrows, mode) if lrows else "") +
          (train_markdown(trows, mode) if trows else "") +
          (fit_markdown(frows, mode) if frows else "") +
          sites_markdown([("", rows), ("", krows), ("layers.", lrows), ("", trows),
                          ("fit: ", frows)]))
    with open(a.md, "w") as fh:
        fh.write(md)
    print(to_markdown(rows, mode).split("\n| op")[0])
    if lrows:
        print(layers_markdown(lrows, mode).split("\n| layer")[0])


if __name__ == "__main__":
    main()
