"""Bad-input fuzz of every CPU entry point of nabi._C: each bad call must raise a Python
exception (ValueError / TypeError / IndexError / RuntimeError) whose message names the op,
never crash, read or write out of bounds, or return garbage. A few valid edge calls (zero-size
batches, 1x1) are checked against NumPy.

Cases are generated: every entry point has one valid call (SPECS); each float array argument is
mutated (wrong dtype, float64 beside float32, non-contiguous, misaligned, wrong rank, a
mismatched axis) as its spec allows, and hand-written tables add the bad scalars (strides,
padding, dilations, labels, list lengths, read-only outputs).

Normal build: `PYTHONPATH=python python3 -m pytest -q -p no:randomly tests/test_bindings_fuzz.py`.
Under AddressSanitizer + UBSan (a manual check, see tools/asan-build.sh for the command):
`NABI_TEST_PACKAGE_DIR=build/asan/pkg` with the sanitizer runtime preloaded.
"""
import numpy as np
import pytest

from nabi import _C

ERRORS = (ValueError, TypeError, IndexError, RuntimeError)


def _arr(*shape, dtype=np.float32, seed=0):
    rng = np.random.default_rng(seed + 7 * len(shape) + sum(shape))
    return rng.standard_normal(shape).astype(dtype)


def A(*shape):
    return _arr(*shape)


def _noncontig(a):
    """a's values in an array of the same shape that is not C-contiguous (None if numpy would
    call every such view contiguous, e.g. for one element)."""
    if a.ndim == 0 or a.size <= 1:
        return None
    big = np.repeat(a, 2, axis=a.ndim - 1)[..., ::2]
    if big.flags.c_contiguous:
        big = np.repeat(a, 2, axis=0)[::2]
    return None if big.flags.c_contiguous else big


def _misaligned(a):
    """a's values in a C-contiguous array whose data pointer is not aligned to its itemsize."""
    buf = bytearray(a.nbytes + 1)
    m = np.frombuffer(buf, dtype=a.dtype, offset=1, count=a.size).reshape(a.shape)
    m[...] = a
    return m


def _readonly(a):
    a = a.copy()
    a.flags.writeable = False
    return a


def _grow(a, axis):
    shape = list(a.shape)
    shape[axis] += 1
    return _arr(*shape, dtype=a.dtype)


# A mutation turns one float array argument into a bad one. Its letter in a spec says where it
# applies: d int32 dtype, f float64 beside float32 arrays, c non-contiguous, a misaligned,
# r wrong rank (flattened to 1-D and two leading axes added), s last axis + 1, S first axis + 1.
MUTATIONS = {
    "d": [("int32", lambda a: a.astype(np.int32)), ("int64", lambda a: a.astype(np.int64))],
    "f": [("float64", lambda a: a.astype(np.float64))],
    "c": [("noncontig", _noncontig)],
    "a": [("misaligned", _misaligned)],
    "r": [("flat", lambda a: None if a.ndim <= 1 else a.reshape(-1)),
          ("rank+2", lambda a: a[None, None])],
    "s": [("last+1", lambda a: None if a.ndim == 0 else _grow(a, a.ndim - 1))],
    "S": [("first+1", lambda a: None if a.ndim < 2 else _grow(a, 0))],
}

# name -> (op tag in messages, builder of the valid positional args, {arg index: letters}).
_X = (1, 4, 4, 2)
SPECS = {
    "activation_forward": ("activation", lambda: ["relu", A(2, 3)], {1: "dca"}),
    "activation_backward": ("activation", lambda: ["elu", A(2, 3), A(2, 3), A(2, 3)],
                            {1: "dcafrsS", 2: "dcafrsS", 3: "dcafrsS"}),
    "box_muller": ("box_muller", lambda: [A(2, 3), A(2, 3)], {0: "dcafrsS", 1: "dcafrsS"}),
    "bias_add_forward": ("bias_add", lambda: [A(2, 3), A(3)], {0: "dcafs", 1: "dcafrs"}),
    "bias_add_backward": ("bias_add", lambda: [A(2, 3)], {0: "dca"}),
    "softmax_forward": ("softmax", lambda: [A(2, 3)], {0: "dca"}),
    "softmax_backward": ("softmax", lambda: [A(2, 3), A(2, 3)], {0: "dcafrsS", 1: "dcafrsS"}),
    "log_softmax_forward": ("log_softmax", lambda: [A(2, 3)], {0: "dca"}),
    "log_softmax_backward": ("log_softmax", lambda: [A(2, 3), A(2, 3)],
                             {0: "dcafrsS", 1: "dcafrsS"}),
    "matmul": ("matmul", lambda: [A(2, 3), A(3, 4)], {0: "dcafrs", 1: "dcafrS"}),
    "gemm_into": ("gemm_into", lambda: [A(2, 3), A(3, 4), A(2, 4)],
                  {0: "dcafrs", 1: "dcafrS", 2: "dcafrsS"}),
    "dense_forward": ("dense", lambda: [A(2, 3), A(3, 4), A(4), "relu"],
                      {0: "dcafrs", 1: "dcafrS", 2: "dcafrs"}),
    "dense_backward": ("dense", lambda: [A(2, 4), A(2, 3), A(3, 4), A(2, 4), None, "relu", 0.0,
                                         True, True],
                       {0: "dcafrsS", 1: "dcafrs", 2: "dcafrS", 3: "dcafrsS"}),
    "conv2d_forward": ("conv2d", lambda: [A(*_X), A(2, 2, 2, 3), A(3), [1, 1], [1, 1],
                                          [0, 0, 0, 0]],
                       {0: "dcafrs", 1: "dcafrs", 2: "dcafrs"}),
    "conv2d_backward": ("conv2d", lambda: [A(1, 3, 3, 3), A(*_X), A(2, 2, 2, 3), None, [1, 1],
                                           [1, 1], [0, 0, 0, 0], True, True, True],
                        {0: "dcafrsS", 1: "dcafrs", 2: "dcafrs"}),
    "conv2d_backward_data": ("conv2d", lambda: [A(1, 3, 3, 3), A(2, 2, 2, 3), A(2), list(_X),
                                                [1, 1], [1, 1], [0, 0, 0, 0]],
                             {0: "dcafrsS", 1: "dcafrs", 2: "dcafrs"}),
    "depthwise_conv2d_forward": ("depthwise_conv2d", lambda: [A(*_X), A(2, 2, 2, 2), [1, 1],
                                                              [1, 1], [0, 0, 0, 0]],
                                 {0: "dcafrs", 1: "dcafr"}),
    "depthwise_conv2d_backward_data": ("depthwise_conv2d",
                                       lambda: [A(1, 3, 3, 4), A(2, 2, 2, 2), list(_X), [1, 1],
                                                [1, 1], [0, 0, 0, 0]],
                                       {0: "dcafrsS", 1: "dcafrs"}),
    "depthwise_conv2d_backward_filter": ("depthwise_conv2d",
                                         lambda: [A(1, 3, 3, 4), A(*_X), [2, 2, 2, 2], [1, 1],
                                                  [1, 1], [0, 0, 0, 0]],
                                         {0: "dcafrsS", 1: "dcafrs"}),
    "max_pool2d_forward": ("max_pool2d", lambda: [A(*_X), [2, 2], [2, 2], [0, 0, 0, 0]],
                           {0: "dcar"}),
    "max_pool2d_backward": ("max_pool2d",
                            lambda: [A(1, 2, 2, 2), np.zeros((1, 2, 2, 2), np.int32), list(_X),
                                     [2, 2], [2, 2], [0, 0, 0, 0]],
                            {0: "dcarsS"}),
    "avg_pool2d_forward": ("avg_pool2d", lambda: [A(*_X), [2, 2], [2, 2], [0, 0, 0, 0]],
                           {0: "dcar"}),
    "avg_pool2d_backward": ("avg_pool2d", lambda: [A(1, 2, 2, 2), list(_X), [2, 2], [2, 2],
                                                   [0, 0, 0, 0]],
                            {0: "dcarsS"}),
    "batch_norm_forward_train": ("batch_norm", lambda: [A(4, 3), A(3), A(3), 1e-3],
                                 {0: "dcas", 1: "dcafrs", 2: "dcafrs"}),
    "batch_norm_forward_infer": ("batch_norm", lambda: [A(4, 3), A(3), A(3), A(3),
                                                        np.abs(A(3)), 1e-3],
                                 {0: "dcas", 1: "dcafrs", 2: "dcafrs", 3: "dcafrs",
                                  4: "dcafrs"}),
    "batch_norm_backward": ("batch_norm", lambda: [A(4, 3), A(4, 3), A(3), A(3), np.abs(A(3)),
                                                   True],
                            {0: "dcafrsS", 1: "dcafs", 2: "dcafrs", 3: "dcafrs", 4: "dcafrs"}),
    "softmax_xent_forward": ("softmax_cross_entropy_with_logits", lambda: [A(2, 3), A(2, 3)],
                             {0: "dcafrsS", 1: "dcafrsS"}),
    "sparse_softmax_xent_forward": ("sparse_softmax_cross_entropy_with_logits",
                                    lambda: [np.array([0, 2], np.int32), A(2, 3)],
                                    {1: "dcarS"}),
    "sigmoid_xent_forward": ("sigmoid_cross_entropy_with_logits", lambda: [A(2, 3), A(2, 3)],
                             {0: "dcafrsS", 1: "dcafrsS"}),
    "lstm_forward": ("lstm", lambda: [A(2, 3, 4), A(2, 5), A(2, 5), A(4, 20), A(5, 20), A(20)],
                     {i: "dcafrsS" for i in range(6)}),
    "lstm_backward": ("lstm", lambda: [A(2, 3, 5), A(2, 5), A(2, 5), A(2, 3, 4), A(2, 5),
                                       A(2, 5), A(4, 20), A(5, 20), A(2, 3, 5), A(2, 3, 20),
                                       A(2, 3, 5), A(2, 3, 5), "tanh", "sigmoid", False, True,
                                       True],
                      {i: "dcafrsS" for i in range(12)}),
    "gru_forward": ("gru", lambda: [A(2, 3, 4), A(2, 5), A(4, 15), A(5, 15), A(2, 15)],
                    {i: "dcafrsS" for i in range(5)}),
    "gru_backward": ("gru", lambda: [A(2, 3, 5), A(2, 5), A(2, 3, 4), A(2, 5), A(4, 15),
                                     A(5, 15), A(2, 3, 5), A(2, 3, 15), A(2, 3, 5), "tanh",
                                     "sigmoid", False, True, True, True],
                     {i: "dcafrsS" for i in range(9)}),
    "simple_rnn_forward": ("simple_rnn", lambda: [A(2, 3, 4), A(2, 5), A(4, 5), A(5, 5), A(5)],
                           {i: "dcafrsS" for i in range(5)}),
    "simple_rnn_backward": ("simple_rnn", lambda: [A(2, 3, 5), A(2, 5), A(2, 3, 4), A(2, 5),
                                                   A(4, 5), A(5, 5), A(2, 3, 5), "tanh", False,
                                                   True, True],
                            {i: "dcafrsS" for i in range(7)}),
}


def _optimizer_specs():
    """Optimizers: each list argument is a list of two arrays (shapes (3,) and (2, 2))."""
    def lists(n):
        return [[A(3), A(2, 2)] for _ in range(n)]
    return {
        "sgd_update": ("sgd", lambda: lists(3) + [0.1, 0.9, False], 3),
        "adam_update": ("adam", lambda: lists(5) + [0.1, 0.9, 0.999, 1e-7, 1], 5),
        "adamw_update": ("adamw", lambda: lists(5) + [0.1, 0.9, 0.999, 1e-7, 1, 0.01], 5),
        "rmsprop_update": ("rmsprop", lambda: lists(5) + [0.1, 0.9, 0.5, 1e-7, True], 5),
        "adagrad_update": ("adagrad", lambda: lists(3) + [0.1, 1e-7], 3),
        "adadelta_update": ("adadelta", lambda: lists(4) + [0.1, 0.95, 1e-7], 4),
        "adamax_update": ("adamax", lambda: lists(4) + [0.1, 0.9, 0.999, 1e-7, 1], 4),
        "nadam_update": ("nadam", lambda: lists(4) + [0.1, 0.9, 0.999, 1e-7, 1, 1.0], 4),
        "global_norm": ("global_norm", lambda: lists(1), 1),
        "clip_by_global_norm_scale": ("clip_by_global_norm", lambda: lists(1) + [1.0], 1),
    }


OPT_SPECS = _optimizer_specs()


# The CUDA entries (nabi._C.cuda_backend, same names, arguments and messages, on DeviceBuffers)
# run too where they can: with a GPU, or in the CUDA host simulator's build
# (NABI_TEST_PACKAGE_DIR=build/sim/pkg, tools/sim-build.sh). Contiguity and alignment do not
# apply to them (DeviceBuffer.from_numpy makes a contiguous copy).
CB = _C.cuda_backend
HAVE_CUDA = bool(_C.built_with_cuda) and CB.is_available()
BACKENDS = ["cpu"] + (["cuda"] if HAVE_CUDA else [])
HOST_ONLY = {"noncontig", "misaligned"}


def _has(backend, name):
    return backend == "cpu" or name in CB.KERNEL_ENTRIES


def _to_dev(v):
    if isinstance(v, np.ndarray):
        return CB.DeviceBuffer.from_numpy(v)
    if isinstance(v, list) and any(isinstance(t, np.ndarray) for t in v):
        return [_to_dev(t) for t in v]
    return v


def _call(name, args, backend="cpu"):
    if backend == "cpu":
        return getattr(_C, name)(*args)
    return getattr(CB, name)(*[_to_dev(a) for a in args])


def _spec_cases():
    cases = []
    for backend in BACKENDS:
        for name, (op, build, muts) in SPECS.items():
            if not _has(backend, name):
                continue
            for i, letters in muts.items():
                for letter in letters:
                    for tag, fn in MUTATIONS[letter]:
                        if backend == "cuda" and tag in HOST_ONLY or fn(build()[i]) is None:
                            continue  # (None: the mutation does not apply to this shape)
                        cases.append(pytest.param(backend, name, op, build, i, fn,
                                                  id=f"{backend}-{name}-arg{i}-{tag}"))
    return cases


def _expect_error(op, name, fn, *args, **kwargs):
    with pytest.raises(ERRORS) as info:
        fn(*args, **kwargs)
    msg = str(info.value)
    assert f"[{op}" in msg or name in msg, f"message does not name the op {op!r}: {msg}"
    return msg


@pytest.mark.parametrize("backend,name", [(b, n) for b in BACKENDS
                                          for n in list(SPECS) + list(OPT_SPECS) if _has(b, n)])
def test_valid_call_runs(backend, name):
    """The base call of every spec is valid (so each mutation's error is the mutation's)."""
    build = SPECS[name][1] if name in SPECS else OPT_SPECS[name][1]
    _call(name, build(), backend)


@pytest.mark.parametrize("backend,name,op,build,index,mutate", _spec_cases())
def test_mutated_array_argument_raises(backend, name, op, build, index, mutate):
    args = build()
    args[index] = mutate(args[index])
    _expect_error(op, name, _call, name, args, backend)


def _opt_cases():
    cases = []
    for backend in BACKENDS:
        for name, (op, build, nlists) in OPT_SPECS.items():
            if not _has(backend, name):
                continue
            for s in range(nlists):
                for item in range(2):
                    for letter in "dcafrs":
                        if letter == "f" and nlists == 1:
                            continue  # float64 alone is fine
                        if letter in "rs" and nlists == 1:
                            continue  # any shape is fine for a lone list
                        for tag, fn in MUTATIONS[letter]:
                            if (backend == "cuda" and tag in HOST_ONLY
                                    or fn(build()[s][item]) is None):
                                continue
                            cases.append(pytest.param(
                                backend, name, op, build, s, item, fn,
                                id=f"{backend}-{name}-list{s}[{item}]-{tag}"))
    return cases


def _values(v):
    return v if isinstance(v, np.ndarray) else v.numpy()


@pytest.mark.parametrize("backend,name,op,build,slot,item,mutate", _opt_cases())
def test_mutated_optimizer_tensor_raises(backend, name, op, build, slot, item, mutate):
    args = build()
    args[slot][item] = mutate(args[slot][item])
    if backend == "cuda":
        args = [_to_dev(a) for a in args]
    before = [[_values(t).copy() for t in lst] for lst in args if isinstance(lst, list)]
    _expect_error(op, name, getattr(_C if backend == "cpu" else CB, name), *args)
    after = [lst for lst in args if isinstance(lst, list)]
    for b, a in zip(before, after):  # validation happens before any tensor is updated
        for tb, ta in zip(b, a):
            np.testing.assert_array_equal(tb, _values(ta))


def _opt_list_cases():
    cases = []
    for backend in BACKENDS:
        for name, (op, build, nlists) in OPT_SPECS.items():
            if not _has(backend, name):
                continue
            hows = ["notlist", "notarray"] + (["short", "long"] if nlists > 1 else [])
            for s in range(nlists):
                for how in hows + (["readonly"] if backend == "cpu" and nlists > 1 and s != 1
                                   else []):
                    cases.append(pytest.param(backend, name, op, build, s, how,
                                              id=f"{backend}-{name}-list{s}-{how}"))
    return cases


@pytest.mark.parametrize("backend,name,op,build,slot,how", _opt_list_cases())
def test_bad_optimizer_list_raises(backend, name, op, build, slot, how):
    args = build()
    lst = args[slot]
    if how == "short":
        args[slot] = lst[:1]
    elif how == "long":
        args[slot] = lst + [A(3)]
    elif how == "notlist":
        args[slot] = lst[0]
    elif how == "notarray":
        args[slot] = [lst[0], "x"]
    elif how == "readonly":
        args[slot] = [lst[0], _readonly(lst[1])]
    _expect_error(op, name, _call, name, args, backend)


# ---- hand-written tables: the scalar and list arguments ------------------------------------

def _conv(strides=(1, 1), dil=(1, 1), pad=(0, 0, 0, 0), x=_X, w=(2, 2, 2, 3)):
    return lambda: _C.conv2d_forward(A(*x), A(*w), None, list(strides), list(dil), list(pad))


def _conv_bd(input_shape, strides=(1, 1), dil=(1, 1), pad=(0, 0, 0, 0), g=(1, 3, 3, 3)):
    return lambda: _C.conv2d_backward_data(A(*g), A(2, 2, 2, 3), None, list(input_shape),
                                           list(strides), list(dil), list(pad))


def _dw(strides=(1, 1), dil=(1, 1), pad=(0, 0, 0, 0), x=_X, w=(2, 2, 2, 2)):
    return lambda: _C.depthwise_conv2d_forward(A(*x), A(*w), list(strides), list(dil), list(pad))


def _dw_bf(filter_shape, g=(1, 3, 3, 4)):
    return lambda: _C.depthwise_conv2d_backward_filter(A(*g), A(*_X), list(filter_shape), [1, 1],
                                                       [1, 1], [0, 0, 0, 0])


def _dw_bd(input_shape, g=(1, 3, 3, 4)):
    return lambda: _C.depthwise_conv2d_backward_data(A(*g), A(2, 2, 2, 2), list(input_shape),
                                                     [1, 1], [1, 1], [0, 0, 0, 0])


def _pool(kind, k=(2, 2), s=(2, 2), p=(0, 0, 0, 0), x=_X):
    f = _C.max_pool2d_forward if kind == "max" else _C.avg_pool2d_forward
    return lambda: f(A(*x), list(k), list(s), list(p))


def _avg_bwd(input_shape, k=(2, 2), s=(2, 2), p=(0, 0, 0, 0), g=(1, 2, 2, 2)):
    return lambda: _C.avg_pool2d_backward(A(*g), list(input_shape), list(k), list(s), list(p))


def _max_bwd(argmax, input_shape=_X, g=(1, 2, 2, 2), window=True, **kw):
    if window:
        kw = dict(dict(ksize=[2, 2], strides=[2, 2], padding=[0, 0, 0, 0]), **kw)
    return lambda: _C.max_pool2d_backward(A(*g), argmax, list(input_shape), **kw)


BIG = 2 ** 62
CAP = 2 ** 31 - 1  # the largest accepted stride, padding, dilation, window or dim
I32 = np.zeros((1, 2, 2, 2), np.int32)

HAND = [
    # conv2d geometry
    ("conv2d", "stride0", _conv(strides=(0, 1))),
    ("conv2d", "stride-neg", _conv(strides=(1, -2))),
    ("conv2d", "dilation0", _conv(dil=(0, 1))),
    ("conv2d", "dilation-neg", _conv(dil=(1, -1))),
    ("conv2d", "padding-neg", _conv(pad=(0, 0, -1, 0))),
    ("conv2d", "strides-len3", _conv(strides=(1, 1, 1))),
    ("conv2d", "padding-len2", _conv(pad=(0, 0))),
    ("conv2d", "kernel>input", _conv(w=(5, 5, 2, 3))),
    ("conv2d", "dilated-kernel>input", _conv(dil=(4, 4))),
    ("conv2d", "kernel0", _conv(w=(0, 2, 2, 3))),
    ("conv2d", "padding-huge", _conv(pad=(BIG, BIG, 0, 0))),
    ("conv2d", "dilation-huge", _conv(dil=(BIG, 1), w=(3, 3, 2, 3))),
    ("conv2d", "stride-huge-padding-huge", _conv(strides=(BIG, BIG), pad=(BIG, 0, BIG, 0))),
    ("conv2d", "stride-cap-padding-cap", _conv(strides=(CAP, CAP), pad=(CAP, 0, CAP, 0))),
    ("conv2d", "padded-input-2^40", _conv(pad=(2 ** 20, 2 ** 20, 2 ** 20, 2 ** 20))),
    ("conv2d", "bd-input_shape-cap", _conv_bd((1, CAP, CAP, 2))),
    ("conv2d", "input3d", lambda: _C.conv2d_forward(A(4, 4, 2), A(2, 2, 2, 3), None, [1, 1],
                                                    [1, 1], [0, 0, 0, 0])),
    ("conv2d", "bias-not-array", lambda: _C.conv2d_forward(A(*_X), A(2, 2, 2, 3), [1., 2, 3],
                                                           [1, 1], [1, 1], [0, 0, 0, 0])),
    ("conv2d", "bwd-y-wrong-shape",
     lambda: _C.conv2d_backward(A(1, 3, 3, 3), A(*_X), A(2, 2, 2, 3), A(1, 3, 3, 2), [1, 1],
                                [1, 1], [0, 0, 0, 0], True, True, True)),
    ("conv2d", "bd-input_shape-len3", _conv_bd((1, 4, 4))),
    ("conv2d", "bd-input_shape-neg", _conv_bd((1, -4, 4, 2))),
    ("conv2d", "bd-input_shape-huge", _conv_bd((1, BIG, 4, 2))),
    ("conv2d", "bd-input_shape-huge-all", _conv_bd((BIG, BIG, BIG, 2), g=(1, 1, 1, 3))),
    ("conv2d", "bd-channels", _conv_bd((1, 4, 4, 3))),
    ("conv2d", "bd-grad-mismatch", _conv_bd((1, 5, 5, 2))),
    # depthwise_conv2d geometry
    ("depthwise_conv2d", "stride0", _dw(strides=(0, 1))),
    ("depthwise_conv2d", "dilation-neg", _dw(dil=(-1, 1))),
    ("depthwise_conv2d", "padding-neg", _dw(pad=(-1, 0, 0, 0))),
    ("depthwise_conv2d", "dilations-len1", _dw(dil=(1,))),
    ("depthwise_conv2d", "kernel>input", _dw(w=(5, 5, 2, 2))),
    ("depthwise_conv2d", "channels", _dw(w=(2, 2, 3, 2))),
    ("depthwise_conv2d", "filter-zero-dim", _dw(w=(2, 2, 2, 0))),
    ("depthwise_conv2d", "padding-huge", _dw(pad=(0, 0, BIG, BIG))),
    ("depthwise_conv2d", "dilation-huge", _dw(dil=(1, BIG), w=(3, 3, 2, 2))),
    ("depthwise_conv2d", "bf-filter_shape-len3", _dw_bf((2, 2, 2))),
    ("depthwise_conv2d", "bf-filter_shape-zero", _dw_bf((2, 0, 2, 2))),
    ("depthwise_conv2d", "bf-filter_shape-neg", _dw_bf((2, 2, 2, -2))),
    ("depthwise_conv2d", "bf-filter_shape-huge-M", _dw_bf((2, 2, 2, BIG))),
    ("depthwise_conv2d", "bd-input_shape-neg", _dw_bd((1, 4, -4, 2))),
    ("depthwise_conv2d", "bd-input_shape-huge", _dw_bd((BIG, 4, 4, 2))),
    ("depthwise_conv2d", "bd-input_shape-len5", _dw_bd((1, 4, 4, 2, 1))),
    # pooling geometry
    ("max_pool2d", "ksize0", _pool("max", k=(0, 2))),
    ("max_pool2d", "ksize-neg", _pool("max", k=(2, -2))),
    ("max_pool2d", "stride0", _pool("max", s=(2, 0))),
    ("max_pool2d", "padding-neg", _pool("max", p=(0, -1, 0, 0))),
    ("max_pool2d", "window>input", _pool("max", k=(5, 5))),
    ("max_pool2d", "ksize-len1", _pool("max", k=(2,))),
    ("max_pool2d", "padding-huge", _pool("max", p=(BIG, BIG, 0, 0))),
    ("max_pool2d", "input3d", _pool("max", x=(4, 4, 2))),
    ("max_pool2d", "index_dtype", lambda: _C.max_pool2d_forward(A(*_X), [2, 2], [2, 2],
                                                                [0, 0, 0, 0], True, "int16")),
    ("avg_pool2d", "ksize0", _pool("avg", k=(0, 2))),
    ("avg_pool2d", "stride-neg", _pool("avg", s=(-1, 1))),
    ("avg_pool2d", "window>input", _pool("avg", k=(2, 9))),
    ("avg_pool2d", "padding-huge", _pool("avg", p=(0, 0, BIG, BIG))),
    ("avg_pool2d", "bwd-input_shape-neg", _avg_bwd((1, -4, 4, 2), p=(8, 0, 0, 0))),
    ("avg_pool2d", "bwd-input_shape-len3", _avg_bwd((1, 4, 4))),
    ("avg_pool2d", "bwd-input_shape-huge", _avg_bwd((1, BIG, BIG, 2))),
    ("avg_pool2d", "bwd-grad-mismatch", _avg_bwd((1, 6, 6, 2))),
    ("max_pool2d", "bwd-argmax-float", _max_bwd(np.zeros((1, 2, 2, 2), np.float32))),
    ("max_pool2d", "bwd-argmax-uint8", _max_bwd(np.zeros((1, 2, 2, 2), np.uint8))),
    ("max_pool2d", "bwd-argmax-noncontig", _max_bwd(_noncontig(I32))),
    ("max_pool2d", "bwd-argmax-misaligned", _max_bwd(_misaligned(I32))),
    ("max_pool2d", "bwd-argmax-shape", _max_bwd(np.zeros((1, 2, 2, 3), np.int32))),
    ("max_pool2d", "bwd-input_shape-neg", _max_bwd(I32, input_shape=(1, -4, 4, 2))),
    ("max_pool2d", "bwd-input_shape-len3", _max_bwd(I32, input_shape=(1, 4, 4))),
    ("max_pool2d", "bwd-input_shape-channels", _max_bwd(I32, input_shape=(1, 4, 4, 3))),
    ("max_pool2d", "bwd-input_shape-huge", _max_bwd(I32, input_shape=(1, BIG, BIG, 2),
                                                    window=False)),
    ("max_pool2d", "bwd-input_shape-cap-elements", _max_bwd(I32, input_shape=(1, CAP, CAP, 2),
                                                            window=False)),
    ("max_pool2d", "padding-cap-output", _pool("max", p=(CAP, CAP, CAP, CAP))),
    ("avg_pool2d", "padding-cap-output", _pool("avg", p=(CAP, CAP, CAP, CAP))),
    ("avg_pool2d", "bwd-input_shape-cap-elements", _avg_bwd((1, CAP, CAP, 2), k=(CAP, CAP))),
    ("depthwise_conv2d", "bd-input_shape-cap-elements", _dw_bd((1, CAP, CAP, 2))),
    ("depthwise_conv2d", "padding-cap-output", _dw(pad=(CAP, CAP, CAP, CAP))),
    ("depthwise_conv2d", "bf-filter_shape-cap-elements", _dw_bf((CAP, CAP, 2, 2))),
    ("max_pool2d", "bwd-partial-window", _max_bwd(I32, window=False, ksize=[2, 2])),
    ("max_pool2d", "bwd-window-mismatch", _max_bwd(I32, ksize=[3, 3], strides=[2, 2])),
    # scalar (rank-0) arrays where a rank >= 1 is needed
    ("bias_add", "x-scalar", lambda: _C.bias_add_forward(np.float32(1) * np.ones((), np.float32),
                                                         A(1))),
    ("bias_add", "grad-scalar", lambda: _C.bias_add_backward(np.ones((), np.float32))),
    ("softmax", "scalar", lambda: _C.softmax_forward(np.ones((), np.float32))),
    ("log_softmax", "bwd-scalar", lambda: _C.log_softmax_backward(np.ones((), np.float32),
                                                                  np.ones((), np.float32))),
    ("batch_norm", "scalar", lambda: _C.batch_norm_forward_train(np.ones((), np.float32), None,
                                                                 None, 1e-3)),
    ("softmax_cross_entropy_with_logits", "scalar",
     lambda: _C.softmax_xent_forward(np.ones((), np.float32), np.ones((), np.float32))),
    ("sparse_softmax_cross_entropy_with_logits", "scalar",
     lambda: _C.sparse_softmax_xent_forward(np.zeros((), np.int32), np.ones((), np.float32))),
    # labels
    ("sparse_softmax_cross_entropy_with_logits", "label=classes",
     lambda: _C.sparse_softmax_xent_forward(np.array([0, 3], np.int32), A(2, 3))),
    ("sparse_softmax_cross_entropy_with_logits", "label-neg",
     lambda: _C.sparse_softmax_xent_forward(np.array([-1, 0], np.int64), A(2, 3))),
    ("sparse_softmax_cross_entropy_with_logits", "label-huge",
     lambda: _C.sparse_softmax_xent_forward(np.array([2 ** 40, 0], np.int64), A(2, 3))),
    ("sparse_softmax_cross_entropy_with_logits", "label-int32-min",
     lambda: _C.sparse_softmax_xent_forward(np.array([-2 ** 31, 0], np.int32), A(2, 3))),
    ("sparse_softmax_cross_entropy_with_logits", "zero-classes",
     lambda: _C.sparse_softmax_xent_forward(np.array([0, 0], np.int32), A(2, 0))),
    ("sparse_softmax_cross_entropy_with_logits", "labels-float",
     lambda: _C.sparse_softmax_xent_forward(np.array([0., 1.], np.float32), A(2, 3))),
    ("sparse_softmax_cross_entropy_with_logits", "labels-uint8",
     lambda: _C.sparse_softmax_xent_forward(np.array([0, 1], np.uint8), A(2, 3))),
    ("sparse_softmax_cross_entropy_with_logits", "labels-noncontig",
     lambda: _C.sparse_softmax_xent_forward(np.array([0, 9, 1, 9], np.int32)[::2], A(2, 3))),
    ("sparse_softmax_cross_entropy_with_logits", "labels-misaligned",
     lambda: _C.sparse_softmax_xent_forward(_misaligned(np.array([0, 1], np.int64)), A(2, 3))),
    ("sparse_softmax_cross_entropy_with_logits", "labels-shape",
     lambda: _C.sparse_softmax_xent_forward(np.array([0, 1, 2], np.int32), A(2, 3))),
    ("sparse_softmax_cross_entropy_with_logits", "labels-rank",
     lambda: _C.sparse_softmax_xent_forward(np.zeros((2, 1), np.int32), A(2, 3))),
    # names of activations
    ("activation", "unknown-kind", lambda: _C.activation_forward("bogus", A(2))),
    ("activation", "unknown-kind-bwd", lambda: _C.activation_backward("", A(2), A(2), A(2))),
    ("activation", "uses_y-unknown", lambda: _C.activation_backward_uses_y("nope")),
    ("dense", "unknown-activation", lambda: _C.dense_forward(A(2, 3), A(3, 4), None, "bogus")),
    ("dense", "keeps_z-unknown", lambda: _C.dense_keeps_z("bogus")),
    ("dense", "bias-not-array", lambda: _C.dense_forward(A(2, 3), A(3, 4), 1.0, "linear")),
    ("dense", "bwd-needs-y", lambda: _C.dense_backward(A(2, 4), A(2, 3), A(3, 4), None, None,
                                                       "sigmoid", 0.0, True, True)),
    ("dense", "bwd-needs-z", lambda: _C.dense_backward(A(2, 4), A(2, 3), A(3, 4), A(2, 4), None,
                                                       "gelu", 0.0, True, True)),
    ("dense", "bwd-z-wrong", lambda: _C.dense_backward(A(2, 4), A(2, 3), A(3, 4), None, A(4, 2),
                                                       "gelu", 0.0, True, True)),
    ("dense", "bwd-y-not-array", lambda: _C.dense_backward(A(2, 4), A(2, 3), A(3, 4), "y", None,
                                                           "relu", 0.0, True, True)),
    ("lstm", "unknown-activation",
     lambda: _C.lstm_forward(A(2, 3, 4), A(2, 5), A(2, 5), A(4, 20), A(5, 20), None, "softmax")),
    ("gru", "unknown-recurrent-activation",
     lambda: _C.gru_forward(A(2, 3, 4), A(2, 5), A(4, 15), A(5, 15), None, "tanh", "bogus")),
    ("simple_rnn", "unknown-activation",
     lambda: _C.simple_rnn_forward(A(2, 3, 4), A(2, 5), A(4, 5), A(5, 5), None, "gelu")),
    # recurrent shapes
    ("simple_rnn", "T0", lambda: _C.simple_rnn_forward(A(2, 0, 4), A(2, 5), A(4, 5), A(5, 5),
                                                       None)),
    ("lstm", "T0", lambda: _C.lstm_forward(A(2, 0, 4), A(2, 5), A(2, 5), A(4, 20), A(5, 20),
                                           None)),
    ("gru", "T0", lambda: _C.gru_forward(A(2, 0, 4), A(2, 5), A(4, 15), A(5, 15), None)),
    ("gru", "bias-reset_after-false", lambda: _C.gru_forward(A(2, 3, 4), A(2, 5), A(4, 15),
                                                             A(5, 15), A(2, 15), "tanh",
                                                             "sigmoid", False, False)),
    ("lstm", "bwd-gates-None",
     lambda: _C.lstm_backward(A(2, 3, 5), A(2, 5), A(2, 5), A(2, 3, 4), A(2, 5), A(2, 5),
                              A(4, 20), A(5, 20), A(2, 3, 5), None, A(2, 3, 5), A(2, 3, 5),
                              "tanh", "sigmoid", False, True, True)),
    ("gru", "bwd-rh-None",
     lambda: _C.gru_backward(A(2, 3, 5), A(2, 5), A(2, 3, 4), A(2, 5), A(4, 15), A(5, 15),
                             A(2, 3, 5), A(2, 3, 15), None, "tanh", "sigmoid", False, True, True,
                             True)),
    ("lstm", "bias-not-array",
     lambda: _C.lstm_forward(A(2, 3, 4), A(2, 5), A(2, 5), A(4, 20), A(5, 20), "b")),
    # matmul / gemm_into
    ("matmul", "batch-mismatch", lambda: _C.matmul(A(2, 2, 3), A(3, 3, 4))),
    ("matmul", "transpose-inner", lambda: _C.matmul(A(2, 3), A(2, 4), True, True)),
    ("matmul", "rank4", lambda: _C.matmul(A(1, 1, 2, 3), A(3, 4))),
    ("matmul", "zero-batch-vs-3", lambda: _C.matmul(A(0, 2, 3), A(3, 3, 4))),
    ("gemm_into", "out-readonly", lambda: _C.gemm_into(A(2, 3), A(3, 4), _readonly(A(2, 4)))),
    ("gemm_into", "out-aliases-a", lambda: (lambda a: _C.gemm_into(a[:, :2], A(2, 2), a[:, 2:]))(
        A(2, 4))),
    ("gemm_into", "out-is-a", lambda: (lambda a: _C.gemm_into(a, A(2, 2), a))(A(2, 2))),
    ("gemm_into", "out-batched-shape", lambda: _C.gemm_into(A(2, 2, 3), A(3, 4), A(2, 4))),
    # optimizers: scalars and Nones
    ("sgd", "momentum-without-momentums",
     lambda: _C.sgd_update([A(3)], [A(3)], None, 0.1, 0.9, False)),
    ("sgd", "params-None", lambda: _C.sgd_update(None, [A(3)], None, 0.1, 0.0, False)),
    ("adam", "t0", lambda: _C.adam_update([A(3)], [A(3)], [A(3)], [A(3)], None, 0.1, 0.9, 0.999,
                                          1e-7, 0)),
    ("adam", "t-neg", lambda: _C.adam_update([A(3)], [A(3)], [A(3)], [A(3)], None, 0.1, 0.9,
                                             0.999, 1e-7, -5)),
    ("adam", "ms-None", lambda: _C.adam_update([A(3)], [A(3)], None, [A(3)], None, 0.1, 0.9,
                                               0.999, 1e-7, 1)),
    ("adamax", "t0", lambda: _C.adamax_update([A(3)], [A(3)], [A(3)], [A(3)], 0.1, 0.9, 0.999,
                                              1e-7, 0)),
    ("nadam", "t0", lambda: _C.nadam_update([A(3)], [A(3)], [A(3)], [A(3)], 0.1, 0.9, 0.999,
                                            1e-7, 0, 1.0)),
    ("rmsprop", "centered-without-averages",
     lambda: _C.rmsprop_update([A(3)], [A(3)], [A(3)], None, None, 0.1, 0.9, 0.0, 1e-7, True)),
    ("rmsprop", "momentum-without-momentums",
     lambda: _C.rmsprop_update([A(3)], [A(3)], [A(3)], None, None, 0.1, 0.9, 0.5, 1e-7, False)),
    ("clip_by_global_norm", "clipnorm0", lambda: _C.clip_by_global_norm_scale([A(3)], 0.0)),
    ("clip_by_global_norm", "clipnorm-neg", lambda: _C.clip_by_global_norm_scale([A(3)], -1.0)),
    ("clip_by_global_norm", "clipnorm-nan",
     lambda: _C.clip_by_global_norm_scale([A(3)], float("nan"))),
    ("global_norm", "not-a-list", lambda: _C.global_norm(A(3))),
    # crc32c
    ("crc32c", "str", lambda: _C.crc32c("abc")),
    ("crc32c", "int", lambda: _C.crc32c(5)),
    ("crc32c", "crc-neg", lambda: _C.crc32c(b"abc", -1)),
    ("crc32c", "crc-2**32", lambda: _C.crc32c(b"abc", 2 ** 32)),
    ("crc32c", "crc-huge", lambda: _C.crc32c(b"abc", 2 ** 100)),
    ("crc32c", "crc-bool", lambda: _C.crc32c(b"abc", True)),
    ("crc32c", "crc-float", lambda: _C.crc32c(b"abc", 1.0)),
    ("crc32c", "impl", lambda: _C.crc32c(b"abc", 0, "avx9000")),
    ("crc32c", "noncontig", lambda: _C.crc32c(np.arange(10, dtype=np.uint8)[::2])),
    ("crc32c", "noncontig-memoryview",
     lambda: _C.crc32c(memoryview(np.arange(10, dtype=np.uint8))[::2])),
    ("masked_crc32c", "str", lambda: _C.masked_crc32c("abc")),
    ("masked_crc32c", "None", lambda: _C.masked_crc32c(None)),
]


@pytest.mark.parametrize("op,fn", [pytest.param(op, fn, id=f"{op}-{tag}")
                                   for op, tag, fn in HAND])
def test_bad_arguments_raise(op, fn):
    _expect_error(op, op, fn)


def _dev(*shape, dtype=np.float32):
    return CB.DeviceBuffer.from_numpy(_arr(*shape, dtype=dtype) if shape else
                                      np.ones((), dtype))


def _idx(*values, dtype=np.int64):
    return CB.DeviceBuffer.from_numpy(np.array(values, dtype))


def _cx(*shape, dtype=np.complex64):
    a = _arr(*shape, dtype=np.float64) + 1j * _arr(*shape, dtype=np.float64, seed=1)
    return CB.DeviceBuffer.from_numpy(a.astype(dtype))


def _cuda_hand():
    """CUDA-only entries and DeviceBuffer itself (built lazily: they need a device)."""
    D, cb = CB.DeviceBuffer, CB
    x = _dev(2, 3)
    b = _dev(2, 3, dtype=np.bool_)
    xi, wc = _dev(*_X), _dev(3, 3, 2, 3)
    sq, p2 = _dev(2, 2), _idx(0, 1, dtype=np.int32)
    lg, lab = _dev(4, 2, 3), _idx(1, 2, 1, 1).view([2, 2])   # CTC: (T, B, C), labels (B, L)
    ll, tl = _idx(2, 2), _idx(4, 4)
    im, tr = _dev(1, 3, 3, 2), _dev(1, 8)
    return [
        ("DeviceBuffer", "empty-2^62x4", lambda: D.empty([2 ** 62, 4])),
        ("DeviceBuffer", "zeros-overflow", lambda: D.zeros([2 ** 31, 2 ** 31, 2], "float64")),
        ("DeviceBuffer", "empty-neg", lambda: D.empty([3, -1])),
        ("DeviceBuffer", "empty-dtype", lambda: D.empty([3], "float16")),
        ("DeviceBuffer", "from_numpy-f16", lambda: D.from_numpy(np.ones(2, np.float16))),
        ("DeviceBuffer", "from_numpy-object", lambda: D.from_numpy(np.array([None]))),
        ("DeviceBuffer.view", "too-big", lambda: x.view([7])),
        ("DeviceBuffer.view", "wrapping-shape", lambda: x.view([2 ** 62, 4])),
        ("DeviceBuffer.view", "offset-neg", lambda: x.view([1], -1)),
        ("DeviceBuffer.view", "offset-past-end", lambda: x.view([1], 6)),
        ("DeviceBuffer.view", "offset-wraps", lambda: x.view([2], 2 ** 63 - 1)),
        ("DeviceBuffer.view", "offset-wraps-2^62", lambda: x.view([1], 2 ** 62)),
        # Byte counts past 2^62 (they wrapped around: fill of 2^61 float64 wrote past a 0-byte
        # buffer) are refused by the entry point, naming it and the shape, before DeviceBuffer.
        ("random_uniform", "2^62x4", lambda: cb.random_uniform([2 ** 62, 4], 0)),
        ("random_uniform", "dtype", lambda: cb.random_uniform([2], 0, 0, "int32")),
        ("random_normal", "shape-neg", lambda: cb.random_normal([-4], 0)),
        ("random_normal", "2^61-float64", lambda: cb.random_normal([2 ** 61], 0, 0, "float64")),
        ("fill", "2^61-float64", lambda: cb.fill([2 ** 61], 0.0, "float64")),
        ("fill", "shape-neg", lambda: cb.fill([2, -2], 0.0)),
        ("fill", "9-d", lambda: cb.fill([1] * 9, 0.0)),
        ("arange", "n-neg", lambda: cb.arange(0.0, 1.0, -1)),
        ("arange", "2^62-float64", lambda: cb.arange(0.0, 1.0, 2 ** 62, "float64")),
        ("one_hot", "depth-neg", lambda: cb.one_hot(_idx(0, 1), -3)),
        ("one_hot", "depth-2^62", lambda: cb.one_hot(_idx(0, 1), 2 ** 62)),
        ("one_hot", "float-indices", lambda: cb.one_hot(x, 3)),
        ("take", "index-past-end", lambda: cb.take(x, _idx(5), 0)),
        ("take", "index-neg", lambda: cb.take(x, _idx(-3), 0)),
        ("take", "axis", lambda: cb.take(x, _idx(0), 2)),
        ("take", "float-indices", lambda: cb.take(x, x, 0)),
        ("scatter_add", "index-past-size", lambda: cb.scatter_add(x, _idx(5, 0), 0, 2)),
        ("scatter_add", "size-neg", lambda: cb.scatter_add(x, _idx(0, 0), 0, -2)),
        ("scatter_add", "indices-shape", lambda: cb.scatter_add(x, _idx(0, 0, 0), 0, 2)),
        ("scatter_add", "size-2^62", lambda: cb.scatter_add(x, _idx(0, 0), 0, 2 ** 62)),
        ("strided_copy", "reaches-past-end", lambda: cb.strided_copy(x, [4], [2], 0)),
        ("strided_copy", "stride-neg", lambda: cb.strided_copy(x, [3], [-1], 1)),
        ("strided_copy", "offset-neg", lambda: cb.strided_copy(x, [1], [1], -1)),
        ("strided_copy", "lengths", lambda: cb.strided_copy(x, [2, 3], [3], 0)),
        ("strided_copy", "broadcast-2^61-float64",
         lambda: cb.strided_copy(_dev(1, dtype=np.float64), [2 ** 61], [0], 0)),
        ("strided_assign", "reaches-past-end", lambda: cb.strided_assign(x, [4], [2], 0, _dev(4))),
        ("strided_assign", "src-shape", lambda: cb.strided_assign(x, [3], [1], 0, _dev(4))),
        ("strided_assign", "dtypes", lambda: cb.strided_assign(x, [3], [1], 0,
                                                               _dev(3, dtype=np.float64))),
        ("reduce", "unknown-op", lambda: cb.reduce("median", x, [0])),
        ("reduce", "axis", lambda: cb.reduce("sum", x, [2])),
        ("reduce", "bool-sum", lambda: cb.reduce("sum", b, [0])),
        ("arg_reduce", "axis", lambda: cb.arg_reduce("argmax", x, 9)),
        ("arg_reduce", "unknown-op", lambda: cb.arg_reduce("argmid", x, 0)),
        ("reduce_sum", "axis", lambda: cb.reduce_sum(x, 5)),
        ("unary", "unknown-op", lambda: cb.unary("frobnicate", x)),
        ("unary", "bool-exp", lambda: cb.unary("exp", b)),
        ("unary", "9-d", lambda: cb.unary("neg", _dev(*[1] * 9))),
        ("binary", "unknown-op", lambda: cb.binary("frob", x, x)),
        ("binary", "not-broadcastable", lambda: cb.binary("add", x, _dev(4))),
        ("binary", "dtypes", lambda: cb.binary("add", x, _dev(2, 3, dtype=np.float64))),
        ("where", "cond-float", lambda: cb.where(x, x, x)),
        ("where", "not-broadcastable", lambda: cb.where(b, x, _dev(4))),
        ("cast", "dtype", lambda: cb.cast(x, "float16")),
        ("special", "unknown-op", lambda: cb.special("zeta", x)),
        ("sort", "k-too-big", lambda: cb.sort(x, False, 10)),
        ("sort", "k-neg", lambda: cb.sort(x, False, -2)),
        ("sort", "index_dtype", lambda: cb.sort(x, False, -1, "int8")),
        ("dropout", "rate-1.5", lambda: cb.dropout(x, 1.5, 0)),
        ("dropout", "rate-neg", lambda: cb.dropout(x, -0.1, 0)),
        ("dropout", "int", lambda: cb.dropout(_dev(2, dtype=np.int32), 0.5, 0)),
        ("dropout", "bwd-rate", lambda: cb.dropout_backward(x, 1.0, 0)),
        ("argmax_match_count", "total-dtype",
         lambda: cb.argmax_match_count(x, _idx(0, 1, dtype=np.int32), True,
                                       D.zeros([1], "int64"))),
        ("argmax_match_count", "labels-shape",
         lambda: cb.argmax_match_count(x, _idx(0, 1, 2, dtype=np.int32), True,
                                       D.zeros([1], "float64"))),
        ("sparse_softmax_cross_entropy_with_logits", "label-out-of-range",
         lambda: cb.sparse_softmax_xent_forward(_idx(0, 3, dtype=np.int32), x)),
        ("sparse_softmax_cross_entropy_with_logits", "label-neg",
         lambda: cb.sparse_softmax_xent_forward(_idx(-1, 0), x)),
        ("matmul", "None", lambda: cb.matmul(None, x)),
        # geometry (the same caps as the CPU bindings)
        ("conv2d", "padding-huge", lambda: cb.conv2d_forward(xi, wc, None, [1, 1], [1, 1],
                                                             [BIG, BIG, 0, 0])),
        ("conv2d", "dilation-huge", lambda: cb.conv2d_forward(xi, wc, None, [1, 1], [BIG, 1],
                                                              [0, 0, 0, 0])),
        ("conv2d", "stride-huge-padding-huge",
         lambda: cb.conv2d_forward(xi, wc, None, [BIG, BIG], [1, 1], [BIG, 0, BIG, 0])),
        ("conv2d", "bd-input_shape-cap-elements",
         lambda: cb.conv2d_backward_data(_dev(1, 1, 1, 3), wc, None, [1, CAP, CAP, 2],
                                         [CAP, CAP], [1, 1], [0, 0, 0, 0])),
        ("max_pool2d", "padding-huge", lambda: cb.max_pool2d_forward(xi, [2, 2], [2, 2],
                                                                     [BIG, BIG, 0, 0])),
        ("max_pool2d", "padding-cap-output",
         lambda: cb.max_pool2d_forward(xi, [2, 2], [1, 1], [CAP, CAP, CAP, CAP])),
        ("max_pool2d", "bwd-input_shape-cap-elements",
         lambda: cb.max_pool2d_backward(_dev(1, 2, 2, 2), _idx(*[0] * 8).view([1, 2, 2, 2]),
                                        [1, CAP, CAP, 2])),
        ("avg_pool2d", "bwd-input_shape-neg",
         lambda: cb.avg_pool2d_backward(_dev(1, 2, 2, 2), [1, -4, 4, 2], [1, 1], [1, 2],
                                        [6, 0, 0, 0])),
        ("depthwise_conv2d", "padding-cap-output",
         lambda: cb.depthwise_conv2d_forward(xi, _dev(2, 2, 2, 2), [1, 1], [1, 1],
                                             [CAP, CAP, CAP, CAP])),
        ("reduce_max", "axis", lambda: cb.reduce_max(x, 2)),
        ("reduce_mean", "axis-neg", lambda: cb.reduce_mean(x, -3)),
        # counting and searching (csrc/bindings/bind_cuda_count.cpp)
        ("bincount", "float-x", lambda: cb.bincount(x, 3)),
        ("bincount", "length-neg", lambda: cb.bincount(_idx(0, 1), -1)),
        ("bincount", "length-2^62-float64",
         lambda: cb.bincount(_idx(0, 1), 2 ** 62, None, False, False, "float64")),
        ("bincount", "weights-shape", lambda: cb.bincount(_idx(0, 1), 3, _dev(3))),
        ("bincount", "per_row-1d", lambda: cb.bincount(_idx(0, 1), 3, None, True)),
        ("bincount", "dtype", lambda: cb.bincount(_idx(0, 1), 3, None, False, False, "int8")),
        ("searchsorted", "dtypes", lambda: cb.searchsorted(x, _idx(0, 1))),
        ("searchsorted", "leading-axes", lambda: cb.searchsorted(x, _dev(3, 2))),
        ("searchsorted", "scalar", lambda: cb.searchsorted(_dev(), _dev())),
        ("searchsorted", "out_dtype", lambda: cb.searchsorted(x, _dev(2, 2), False, "float32")),
        # Keras preprocessing kernels (bind_cuda_preprocess.cpp)
        ("hash_ints", "float-x", lambda: cb.hash_ints(x, 3)),
        ("hash_ints", "bins-0", lambda: cb.hash_ints(_idx(1, 2), 0)),
        ("hash_ints", "offset-2", lambda: cb.hash_ints(_idx(1, 2), 3, None, None, 2)),
        ("cross_hash", "int32", lambda: cb.cross_hash(_idx(0, 1, dtype=np.int32).view([1, 2]), 3)),
        ("cross_hash", "1-d", lambda: cb.cross_hash(_idx(1, 2), 3)),
        ("cross_hash", "bins-0", lambda: cb.cross_hash(_idx(1, 2).view([1, 2]), 0)),
        ("vocab_lookup", "keys-float", lambda: cb.vocab_lookup(x, _idx(1), _idx(1))),
        ("vocab_lookup", "shapes", lambda: cb.vocab_lookup(_idx(1, 2), _idx(1), _idx(1))),
        ("vocab_lookup", "keys-2d",
         lambda: cb.vocab_lookup(_idx(1, 2).view([1, 2]), _idx(1, 2).view([1, 2]), _idx(1))),
        ("vocab_lookup", "x-float", lambda: cb.vocab_lookup(_idx(1), _idx(1), x)),
        ("unique", "2-d", lambda: cb.unique(x)),
        ("unique", "bool", lambda: cb.unique(_dev(3, dtype=np.bool_))),
        ("unique", "index_dtype", lambda: cb.unique(_dev(3), "int16")),
        # sampling (csrc/bindings/bind_cuda_random_samplers.cpp)
        ("categorical_sample", "int-logits",
         lambda: cb.categorical_sample(_idx(1, 2).view([1, 2]), _dev(1, 3, dtype=np.float64))),
        ("categorical_sample", "float32-u", lambda: cb.categorical_sample(x, _dev(2, 4))),
        ("categorical_sample", "rows",
         lambda: cb.categorical_sample(x, _dev(3, 4, dtype=np.float64))),
        ("categorical_sample", "no-classes",
         lambda: cb.categorical_sample(_dev(2, 0), _dev(2, 4, dtype=np.float64))),
        ("categorical_sample", "dtype",
         lambda: cb.categorical_sample(x, _dev(2, 4, dtype=np.float64), "float32")),
        ("gamma_sample", "float32-alpha", lambda: cb.gamma_sample(x, 0, 0, 0)),
        ("gamma_sample", "not-a-buffer", lambda: cb.gamma_sample(np.ones(2), 0, 0, 0)),
        ("poisson_sample", "float32-lam", lambda: cb.poisson_sample(x, 0, 0, 0)),
        ("binomial_sample", "float32", lambda: cb.binomial_sample(x, x, 0, 0, 0)),
        ("binomial_sample", "shapes", lambda: cb.binomial_sample(
            _dev(2, dtype=np.float64), _dev(3, dtype=np.float64), 0, 0, 0)),
        ("gamma_sample", "state-float",
         lambda: cb.gamma_sample(_dev(2, dtype=np.float64), 0, 0, 0, state=_dev(3))),
        ("binomial_sample", "state-shape", lambda: cb.binomial_sample(
            _dev(2, dtype=np.float64), _dev(2, dtype=np.float64), 0, 0, 0, state=_idx(1, 2))),
        ("philox_state_advance", "shape", lambda: cb.philox_state_advance(_idx(1, 2), 1)),
        ("philox_state_advance", "n-neg", lambda: cb.philox_state_advance(_idx(1, 2, 3), -1)),
        ("philox_state_advance", "None", lambda: cb.philox_state_advance(None, 1)),
        ("segment_minmax", "ids-float", lambda: cb.segment_minmax(x, _dev(2), 2, True)),
        ("segment_minmax", "ids-rows", lambda: cb.segment_minmax(x, _idx(0, 1, 2), 2, True)),
        ("segment_minmax", "num-neg", lambda: cb.segment_minmax(x, _idx(0, 1), -1, True)),
        ("segment_minmax", "num-2^62", lambda: cb.segment_minmax(x, _idx(0, 1), 2 ** 62, True)),
        # two- and three-argument special functions (csrc/bindings/bind_cuda_special_incomplete.cpp)
        ("special_incomplete", "unknown-op", lambda: cb.special_incomplete("gamma", x, x)),
        ("igamma", "third-argument", lambda: cb.special_incomplete("igamma", x, x, x)),
        ("betainc", "two-arguments", lambda: cb.special_incomplete("betainc", x, x)),
        ("zeta", "shapes", lambda: cb.special_incomplete("zeta", x, _dev(3))),
        ("polygamma", "int", lambda: cb.special_incomplete("polygamma", _idx(0, 1), _dev(2))),
        ("betainc_dx", "dtypes",
         lambda: cb.special_incomplete("betainc_dx", x, x, _dev(2, 3, dtype=np.float64))),
        ("igammac", "None", lambda: cb.special_incomplete("igammac", None, x)),
        # linear algebra (bind_cuda_linalg.cpp, bind_cuda_linalg_eig.cpp)
        ("cholesky", "not-square", lambda: cb.cholesky(x)),
        ("cholesky", "int", lambda: cb.cholesky(_idx(1, 2, 3, 4).view([2, 2]))),
        ("cholesky", "1-d", lambda: cb.cholesky(_dev(3))),
        ("lu_factor", "not-square", lambda: cb.lu_factor(x)),
        ("lu_factor", "perm_dtype", lambda: cb.lu_factor(sq, "int8")),
        ("lu_solve", "rhs-rows", lambda: cb.lu_solve(sq, p2, _dev(3, 1))),
        ("lu_solve", "perm-float", lambda: cb.lu_solve(sq, _dev(2), _dev(2, 1))),
        ("lu_solve", "perm-length", lambda: cb.lu_solve(sq, _idx(0, 1, 2, dtype=np.int32),
                                                        _dev(2, 1))),
        ("lu_solve", "dtypes", lambda: cb.lu_solve(sq, p2, _dev(2, 1, dtype=np.float64))),
        ("triangular_solve", "rhs-rows", lambda: cb.triangular_solve(sq, _dev(3, 1))),
        ("triangular_solve", "not-square", lambda: cb.triangular_solve(x, _dev(2, 1))),
        ("triangular_solve", "batch", lambda: cb.triangular_solve(_dev(3, 2, 2), _dev(2, 2, 1))),
        ("lu_det", "sign-shape", lambda: cb.lu_det(sq, _dev(3))),
        ("lu_det", "not-square", lambda: cb.lu_det(x, _dev())),
        ("lu_slogdet", "not-square", lambda: cb.lu_slogdet(x, _dev())),
        ("lu_adjugate_t", "perm-length", lambda: cb.lu_adjugate_t(sq, _idx(0, dtype=np.int32),
                                                                  _dev())),
        ("perm_inverse", "float", lambda: cb.perm_inverse(_dev(3))),
        ("perm_inverse", "0-d", lambda: cb.perm_inverse(_idx(0, dtype=np.int32).view([]))),
        ("permute_rows", "perm-length", lambda: cb.permute_rows(sq, _idx(0, dtype=np.int32))),
        ("permute_rows", "perm-float", lambda: cb.permute_rows(sq, _dev(2))),
        ("qr", "1-d", lambda: cb.linalg_qr(_dev(3))),
        ("qr", "int", lambda: cb.linalg_qr(_idx(1, 2, 3, 4).view([2, 2]))),
        ("eigh", "not-square", lambda: cb.linalg_eigh(x)),
        ("eigh", "too-big", lambda: cb.linalg_eigh(D.zeros([4096, 4096]))),
        ("svd", "1-d", lambda: cb.linalg_svd(_dev(3))),
        ("svd", "bool", lambda: cb.linalg_svd(_dev(2, 2, dtype=np.bool_))),
        ("linalg_solve_upper", "rows", lambda: cb.linalg_solve_upper(sq, _dev(3, 3))),
        ("linalg_solve_upper", "dtypes",
         lambda: cb.linalg_solve_upper(sq, _dev(2, 2, dtype=np.float64))),
        # CTC (bind_cuda_ctc.cpp): logits (T, B, C) time-major
        ("ctc_loss", "logits-2d", lambda: cb.ctc_loss(x, lab, ll, tl, 0)),
        ("ctc_loss", "blank", lambda: cb.ctc_loss(lg, lab, ll, tl, 7)),
        ("ctc_loss", "labels-float", lambda: cb.ctc_loss(lg, _dev(2, 2), ll, tl, 0)),
        ("ctc_loss", "labels-batch", lambda: cb.ctc_loss(lg, _idx(1, 2, 1), ll, tl, 0)),
        ("ctc_loss", "lengths-batch", lambda: cb.ctc_loss(lg, lab, _idx(1), tl, 0)),
        ("ctc_loss", "logit_length-float", lambda: cb.ctc_loss(lg, lab, ll, _dev(2), 0)),
        ("ctc_greedy", "2-d", lambda: cb.ctc_greedy(x, tl, 0)),
        ("ctc_greedy", "seq_len-batch", lambda: cb.ctc_greedy(lg, _idx(4, 4, 4), 0)),
        ("ctc_greedy", "blank", lambda: cb.ctc_greedy(lg, tl, 9)),
        ("ctc_pack", "total-neg", lambda: cb.ctc_pack(_idx(1, 2, 3, 4).view([2, 2]),
                                                      _idx(0, 2), -1)),
        ("ctc_pack", "offsets-batch", lambda: cb.ctc_pack(_idx(1, 2, 3, 4).view([2, 2]),
                                                          _idx(0), 2)),
        # index extras (bind_cuda_index_extra.cpp)
        ("segment_prod", "ids-float", lambda: cb.segment_prod(x, _dev(2), 2)),
        ("segment_prod", "ids-rows", lambda: cb.segment_prod(x, _idx(0, 1, 2), 2)),
        ("segment_prod", "num-neg", lambda: cb.segment_prod(x, _idx(0, 1), -1)),
        ("segment_prod", "num-2^62", lambda: cb.segment_prod(x, _idx(0, 1), 2 ** 62)),
        ("logcumsumexp", "axis", lambda: cb.logcumsumexp(x, 2)),
        ("logcumsumexp", "int", lambda: cb.logcumsumexp(_idx(1, 2), 0)),
        ("binary_extra", "unknown-op", lambda: cb.binary_extra("frob", x, x)),
        ("binary_extra", "shapes", lambda: cb.binary_extra("nextafter", x, _dev(4))),
        ("binary_extra", "dtypes",
         lambda: cb.binary_extra("nextafter", x, _dev(2, 3, dtype=np.float64))),
        ("overlap_add", "frame_step-0", lambda: cb.overlap_add(x, 0)),
        ("overlap_add", "1-d", lambda: cb.overlap_add(_dev(3), 1)),
        # complex and FFT (bind_cuda_complex.cpp): complex64 / complex128 buffers
        ("complex_unary", "unknown-op", lambda: cb.complex_unary("arcsinh", _cx(2))),
        ("complex_unary", "exp-float", lambda: cb.complex_unary("exp", x)),
        ("complex_unary", "tanh-int", lambda: cb.complex_unary("tanh", _idx(2))),
        ("complex_unary", "float", lambda: cb.complex_unary("real", x)),
        ("complex_unary", "None", lambda: cb.complex_unary("abs", None)),
        ("complex_prod", "float", lambda: cb.complex_prod(x, 0)),
        ("complex_prod", "axis", lambda: cb.complex_prod(_cx(2, 3), 2)),
        ("complex_prod", "axis-neg", lambda: cb.complex_prod(_cx(2, 3), -3)),
        ("complex_prod", "None", lambda: cb.complex_prod(None, 0)),
        ("complex_binary", "unknown-op", lambda: cb.complex_binary("atan2", _cx(2), _cx(2))),
        ("complex_binary", "pow-float", lambda: cb.complex_binary("pow", x, x)),
        ("complex_binary", "pow-dtypes", lambda: cb.complex_binary(
            "pow", _cx(2), _cx(2, dtype=np.complex128))),
        ("complex_binary", "pow-shapes", lambda: cb.complex_binary("pow", _cx(2), _cx(3))),
        ("complex_binary", "shapes", lambda: cb.complex_binary("add", _cx(2), _cx(3))),
        ("complex_binary", "dtypes", lambda: cb.complex_binary(
            "mul", _cx(2), _cx(2, dtype=np.complex128))),
        ("complex_binary", "make-complex", lambda: cb.complex_binary("make", _cx(2), _cx(2))),
        ("complex_binary", "add-float", lambda: cb.complex_binary("add", x, x)),
        ("complex_binary", "make-int", lambda: cb.complex_binary("make", _idx(1), _idx(1))),
        ("fft_c2c", "float", lambda: cb.fft_c2c(x)),
        ("fft_c2c", "0-d", lambda: cb.fft_c2c(_cx(1).view([]))),
        ("fft_c2c", "None", lambda: cb.fft_c2c(None)),
        ("fft_hermitian", "float", lambda: cb.fft_hermitian(x, 4)),
        ("fft_hermitian", "n-neg", lambda: cb.fft_hermitian(_cx(3), -1)),
        ("fft_hermitian", "0-d", lambda: cb.fft_hermitian(_cx(1).view([]), 2)),
        # image transform (bind_cuda_image_transform.cpp): images NHWC, transforms (N, 8)
        ("affine_transform", "images-3d", lambda: cb.affine_transform(_dev(2, 2, 2), tr)),
        ("affine_transform", "transforms-rows", lambda: cb.affine_transform(im, _dev(2, 8))),
        ("affine_transform", "transforms-cols", lambda: cb.affine_transform(im, _dev(1, 7))),
        ("affine_transform", "fill_mode", lambda: cb.affine_transform(im, tr, "mirror")),
        ("affine_transform", "interpolation",
         lambda: cb.affine_transform(im, tr, "reflect", "bicubic")),
        ("affine_transform", "dtypes",
         lambda: cb.affine_transform(im, _dev(1, 8, dtype=np.float64))),
        ("affine_transform_grad", "grads-3d",
         lambda: cb.affine_transform_grad(_dev(2, 2, 2), tr)),
        ("affine_transform_grad", "transforms-rows",
         lambda: cb.affine_transform_grad(im, _dev(2, 8))),
        ("affine_transform_grad", "fill_mode",
         lambda: cb.affine_transform_grad(im, tr, "mirror")),
        ("affine_transform_grad", "interpolation",
         lambda: cb.affine_transform_grad(im, tr, "reflect", "bicubic")),
        ("affine_transform_grad", "dtypes",
         lambda: cb.affine_transform_grad(im, _dev(1, 8, dtype=np.float64))),
        # morphology (bind_cuda_morphology.cpp): x (B, H, W, C), filter (KH, KW, C)
        ("dilation2d", "x-3d", lambda: cb.dilation2d(_dev(2, 2, 2), _dev(1, 1, 2), (1, 1),
                                                     (1, 1), (0, 0), (2, 2))),
        ("dilation2d", "depth", lambda: cb.dilation2d(_dev(1, 2, 2, 2), _dev(1, 1, 3), (1, 1),
                                                      (1, 1), (0, 0), (2, 2))),
        ("dilation2d", "strides-0", lambda: cb.dilation2d(_dev(1, 2, 2, 2), _dev(1, 1, 2),
                                                          (0, 1), (1, 1), (0, 0), (2, 2))),
        ("dilation2d", "pads-neg", lambda: cb.dilation2d(_dev(1, 2, 2, 2), _dev(1, 1, 2),
                                                         (1, 1), (1, 1), (-1, 0), (2, 2))),
        ("dilation2d", "dtypes", lambda: cb.dilation2d(
            _dev(1, 2, 2, 2), _dev(1, 1, 2, dtype=np.float64), (1, 1), (1, 1), (0, 0), (2, 2))),
        ("dilation2d", "int", lambda: cb.dilation2d(_idx(1).view([1, 1, 1, 1]),
                                                    _idx(1).view([1, 1, 1]), (1, 1), (1, 1),
                                                    (0, 0), (1, 1))),
        ("dilation2d_grad", "gy-depth", lambda: cb.dilation2d_grad(
            _dev(1, 2, 2, 2), _dev(1, 1, 2), _dev(1, 2, 2, 3), (1, 1), (1, 1), (0, 0))),
        ("dilation2d_grad", "gy-3d", lambda: cb.dilation2d_grad(
            _dev(1, 2, 2, 2), _dev(1, 1, 2), _dev(2, 2, 2), (1, 1), (1, 1), (0, 0))),
        ("dilation2d_grad", "gy-dtype", lambda: cb.dilation2d_grad(
            _dev(1, 2, 2, 2), _dev(1, 1, 2), _dev(1, 2, 2, 2, dtype=np.float64), (1, 1),
            (1, 1), (0, 0))),
        # NMS (bind_cuda_nms.cpp): boxes (G, n, 4) / overlaps (n, n), scores float32
        ("nms", "boxes-cols", lambda: cb.nms(_dev(1, 3, 5), _dev(1, 3), 2, 0.5, 0.0)),
        ("nms", "scores-shape", lambda: cb.nms(_dev(1, 3, 4), _dev(1, 2), 2, 0.5, 0.0)),
        ("nms", "max_output-neg", lambda: cb.nms(_dev(1, 3, 4), _dev(1, 3), -1, 0.5, 0.0)),
        ("nms", "float64", lambda: cb.nms(_dev(1, 3, 4, dtype=np.float64), _dev(1, 3), 2, 0.5,
                                          0.0)),
        ("nms_overlaps", "not-square",
         lambda: cb.nms_overlaps(_dev(2, 3), _dev(2), 1, 0.5, 0.0)),
        ("nms_overlaps", "scores-shape",
         lambda: cb.nms_overlaps(_dev(3, 3), _dev(2), 1, 0.5, 0.0)),
        ("nms_overlaps", "max_output-2^31",
         lambda: cb.nms_overlaps(_dev(3, 3), _dev(3), 2 ** 31, 0.5, 0.0)),
        ("combined_nms", "boxes-3d",
         lambda: cb.combined_nms(_dev(1, 3, 4), _dev(1, 3, 2), 2, 2, 0.5, 0.0, True)),
        ("combined_nms", "q", lambda: cb.combined_nms(_dev(1, 3, 3, 4), _dev(1, 3, 2), 2, 2,
                                                      0.5, 0.0, True)),
        ("combined_nms", "scores-shape", lambda: cb.combined_nms(_dev(1, 3, 1, 4), _dev(2, 3, 2),
                                                                 2, 2, 0.5, 0.0, True)),
        ("combined_nms", "size-neg", lambda: cb.combined_nms(_dev(1, 3, 1, 4), _dev(1, 3, 2), 2,
                                                             -1, 0.5, 0.0, True)),
        ("soft_nms", "boxes-cols",
         lambda: cb.soft_nms(_dev(1, 3, 5), _dev(1, 3), 2, 0.0, -1.0)),
        ("soft_nms", "scores-shape",
         lambda: cb.soft_nms(_dev(1, 3, 4), _dev(1, 2), 2, 0.0, -1.0)),
        ("soft_nms", "scale-positive",
         lambda: cb.soft_nms(_dev(1, 3, 4), _dev(1, 3), 2, 0.0, 1.0)),
        ("soft_nms", "max_output-neg",
         lambda: cb.soft_nms(_dev(1, 3, 4), _dev(1, 3), -1, 0.0, -1.0)),
        ("draw_boxes", "images-3d",
         lambda: cb.draw_boxes(_dev(2, 2, 3), _dev(1, 1, 4), _dev(1, 3))),
        ("draw_boxes", "boxes-batch",
         lambda: cb.draw_boxes(_dev(1, 2, 2, 3), _dev(2, 1, 4), _dev(1, 3))),
        ("draw_boxes", "colors-depth",
         lambda: cb.draw_boxes(_dev(1, 2, 2, 3), _dev(1, 1, 4), _dev(1, 4))),
        ("draw_boxes", "colors-empty",
         lambda: cb.draw_boxes(_dev(1, 2, 2, 3), _dev(1, 1, 4), _dev(0, 3))),
        ("draw_boxes", "colors-dtype", lambda: cb.draw_boxes(
            _dev(1, 2, 2, 3), _dev(1, 1, 4), _dev(1, 3, dtype=np.float64))),
        # bit-level ops (bind_cuda_bitwise.cpp): int32/int64 of one dtype, broadcastable
        ("bitwise", "op", lambda: cb.bitwise("nand", _idx(1, 2), _idx(1, 2))),
        ("bitwise", "float", lambda: cb.bitwise("and", x, x)),
        ("bitwise", "dtypes", lambda: cb.bitwise("or", p2, _idx(1, 2))),
        ("bitwise", "shapes", lambda: cb.bitwise("xor", _idx(1, 2), _idx(1, 2, 3))),
        ("bitwise", "9-d", lambda: cb.bitwise("left_shift", _idx(1).view([1] * 9), _idx(1))),
        ("bitwise_not", "float", lambda: cb.bitwise_not(x)),
        ("signbit", "bool", lambda: cb.signbit(b)),
        ("philox", "ctr-3-words", lambda: cb._philox4x32_10([1, 2, 3], [1, 2])),
        ("philox", "key-3-words", lambda: cb._philox4x32_10([1, 2, 3, 4], [1, 2, 3])),
        ("device_name", "index", lambda: cb.device_name(99)),
        ("device_name", "index-neg", lambda: cb.device_name(-1)),
    ]


@pytest.mark.skipif(not HAVE_CUDA, reason="no CUDA device or simulator build")
def test_cuda_bad_arguments_raise():
    failures = []
    for op, tag, fn in _cuda_hand():
        try:
            _expect_error(op, op, fn)
        except AttributeError:
            continue  # an entry this (older) build does not have
        except (AssertionError, pytest.fail.Exception) as e:
            failures.append(f"{op}-{tag}: {e}")
    assert not failures, "\n".join(failures)


def test_set_num_threads_refuses_what_libgomp_cannot_start():
    """100000 threads made the next parallel region abort the process (libgomp could not create
    them); the binding refuses more than 1024, and n < 1 means 1."""
    before = _C.get_num_threads()
    try:
        _expect_error("set_num_threads", "set_num_threads", _C.set_num_threads, 100000)
        assert _C.get_num_threads() == before
        _C.set_num_threads(-3)
        assert _C.get_num_threads() == 1
    finally:
        _C.set_num_threads(before)


def test_entry_points_are_all_covered():
    """Every array-taking function of nabi._C has a spec (so a new binding gets fuzzed)."""
    infra = {"set_num_threads", "get_num_threads", "cpu_has", "cuda_device_count", "gemm_isa",
             "_gemm_force_isa", "crc32c", "masked_crc32c", "crc32c_isa", "crc32c_cpu_has_sse42",
             "activation_backward_uses_y", "dense_keeps_z", "built_with_cuda", "cuda_backend"}
    names = {n for n in dir(_C) if not n.startswith("__")}
    missing = names - infra - set(SPECS) - set(OPT_SPECS)
    assert not missing, f"entry points without a fuzz spec: {sorted(missing)}"


def test_cuda_entry_points_are_all_covered():
    """Every function of nabi._C.cuda_backend is fuzzed: by a spec of the same name (run on
    DeviceBuffers) or by rows of the CUDA hand table, so a new CUDA binding gets bad-argument
    rows too. (Runs on any build: a CPU-only build defines the same entries.)"""
    import inspect
    infra = {"DeviceBuffer", "dense_keeps_z", "device_count", "empty_cache", "is_available",
             "memory_allocated", "memory_reserved", "set_tf32_enabled", "synchronize",
             "tf32_enabled", "unavailable_reason", "device_name"}
    hand = inspect.getsource(_cuda_hand)
    names = {n for n in dir(CB) if not n.startswith("_") and callable(getattr(CB, n))}
    missing = sorted(n for n in names - infra - set(SPECS) - set(OPT_SPECS)
                     if f"cb.{n}(" not in hand)
    assert not missing, f"CUDA entry points without a fuzz row in _cuda_hand: {missing}"


def test_cuda_entries_without_cuda_raise_naming_the_op():
    """A build without CUDA still defines the CUDA entries; each raises naming itself."""
    cb = _C.cuda_backend
    if _C.built_with_cuda:
        pytest.skip("built with CUDA (or its simulator)")
    names = [n for n in cb.KERNEL_ENTRIES] if hasattr(cb, "KERNEL_ENTRIES") else []
    assert names
    for n in names:
        _expect_error(n, n, getattr(cb, n), A(2))


# ---- valid edge calls vs NumPy -------------------------------------------------------------

def test_matmul_edges():
    for a, b in [(A(0, 3), A(3, 4)), (A(2, 0), A(0, 4)), (A(1, 1), A(1, 1)), (A(3, 2, 0),
                 A(0, 5)), (A(0, 2, 3), A(3, 4)), (A(2, 1, 1), A(1, 1, 1))]:
        np.testing.assert_allclose(_C.matmul(a, b), a @ b, rtol=1e-6, atol=1e-6)
    out = np.full((2, 4), np.nan, np.float32)  # K = 0, beta = 0: zeros, whatever out held
    _C.gemm_into(A(2, 0), A(0, 4), out)
    np.testing.assert_array_equal(out, np.zeros((2, 4), np.float32))


def test_pointwise_and_row_edges():
    for x in [A(0, 3), A(1, 1), A(3, 0), A(0)]:
        np.testing.assert_array_equal(_C.activation_forward("relu", x), np.maximum(x, 0))
        np.testing.assert_allclose(_C.bias_add_forward(x, A(x.shape[-1])),
                                   x + A(x.shape[-1]), rtol=1e-6)
        rows = x.reshape(int(np.prod(x.shape[:-1])), x.shape[-1])
        np.testing.assert_allclose(_C.bias_add_backward(x), rows.sum(0), atol=1e-6)
        if x.shape[-1]:
            e = np.exp(x - x.max(-1, keepdims=True)) if x.size else x
            ref = e / e.sum(-1, keepdims=True) if x.size else x
            np.testing.assert_allclose(_C.softmax_forward(x), ref, rtol=1e-6)
    np.testing.assert_array_equal(_C.bias_add_backward(A(0, 3)), np.zeros(3, np.float32))
    np.testing.assert_array_equal(_C.softmax_forward(A(1, 1)), [[1.0]])
    loss, grad = _C.softmax_xent_forward(np.ones((1, 1), np.float32), A(1, 1))
    np.testing.assert_allclose(loss, [0.0], atol=1e-7)
    np.testing.assert_allclose(grad, [[0.0]], atol=1e-7)
    loss, grad = _C.sparse_softmax_xent_forward(np.zeros((0,), np.int32), A(0, 3))
    assert loss.shape == (0,) and grad.shape == (0, 3)


def test_dense_edges():
    y, _ = _C.dense_forward(A(0, 3), A(3, 4), A(4), "linear")
    assert y.shape == (0, 4)
    x, w, b = A(1, 1), A(1, 1), A(1)
    y, _ = _C.dense_forward(x, w, b, "relu")
    np.testing.assert_allclose(y, np.maximum(x @ w + b, 0), rtol=1e-6)
    dx, dw, db = _C.dense_backward(A(0, 4), A(0, 3), A(3, 4), None, None, "linear", 0.0, True,
                                   True)
    assert dx.shape == (0, 3)
    np.testing.assert_array_equal(dw, np.zeros((3, 4), np.float32))
    np.testing.assert_array_equal(db, np.zeros(4, np.float32))


def test_conv_and_pool_edges():
    y = _C.conv2d_forward(A(0, 4, 4, 2), A(2, 2, 2, 3), A(3), [1, 1], [1, 1], [0, 0, 0, 0])
    assert y.shape == (0, 3, 3, 3)
    x, w = A(1, 1, 1, 1), A(1, 1, 1, 1)
    y = _C.conv2d_forward(x, w, None, [1, 1], [1, 1], [0, 0, 0, 0])
    np.testing.assert_allclose(y, x * w[0, 0], rtol=1e-6)
    dx, dw, db = _C.conv2d_backward(A(0, 3, 3, 3), A(0, 4, 4, 2), A(2, 2, 2, 3), None, [1, 1],
                                    [1, 1], [0, 0, 0, 0], True, True, True)
    assert dx.shape == (0, 4, 4, 2)
    np.testing.assert_array_equal(dw, np.zeros((2, 2, 2, 3), np.float32))
    np.testing.assert_array_equal(db, np.zeros(3, np.float32))
    dw = _C.depthwise_conv2d_backward_filter(A(0, 3, 3, 4), A(0, 4, 4, 2), [2, 2, 2, 2], [1, 1],
                                             [1, 1], [0, 0, 0, 0])
    np.testing.assert_array_equal(dw, np.zeros((2, 2, 2, 2), np.float32))
    y = _C.depthwise_conv2d_forward(x, w, [1, 1], [1, 1], [0, 0, 0, 0])
    np.testing.assert_allclose(y, x * w[0, 0, 0, 0], rtol=1e-6)
    y, idx = _C.max_pool2d_forward(A(0, 4, 4, 2), [2, 2], [2, 2], [0, 0, 0, 0])
    assert y.shape == idx.shape == (0, 2, 2, 2)
    y, idx = _C.max_pool2d_forward(x, [1, 1], [1, 1], [0, 0, 0, 0])
    np.testing.assert_array_equal(y, x)
    np.testing.assert_array_equal(idx, [[[[0]]]])
    np.testing.assert_array_equal(_C.avg_pool2d_forward(x, [1, 1], [1, 1], [0, 0, 0, 0]), x)
    # An out-of-range argmax never writes outside dx.
    dx = _C.max_pool2d_backward(np.ones((1, 1, 1, 1), np.float32),
                                np.array([[[[99]]]], np.int32), [1, 1, 1, 1])
    np.testing.assert_array_equal(dx, [[[[0.0]]]])


def test_geometry_at_the_cap_has_no_overflow():
    """Strides and padding of 2^31 - 1 (the largest accepted; conv2d: 1000, its padded copy is
    bounded): one output row and column see the input, the others only padding."""
    big = 2 ** 31 - 1
    x, w = A(1, 4, 4, 2), A(2, 2, 2, 3)
    y = _C.conv2d_forward(x, w, None, [1000, 1000], [1, 1], [1000, 0, 1000, 0])
    want = np.zeros((1, 2, 2, 3), np.float32)
    want[0, 1, 1] = np.einsum("hwc,hwco->o", x[0, :2, :2], w)
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-6)
    y = _C.avg_pool2d_forward(x, [2, 2], [big, big], [big, 0, big, 0])
    assert y.shape == (1, 2, 2, 2)
    np.testing.assert_allclose(y[0, 1, 1], x[0, :2, :2].mean((0, 1)), rtol=1e-6)
    y, idx = _C.max_pool2d_forward(x, [2, 2], [big, big], [big, 0, big, 0])
    np.testing.assert_allclose(y[0, 1, 1], x[0, :2, :2].max((0, 1)))
    y = _C.depthwise_conv2d_forward(x, A(2, 2, 2, 1), [big, big], [1, 1], [big, 0, big, 0])
    assert y.shape == (1, 2, 2, 2)
    np.testing.assert_array_equal(y[0, 0], 0.0)


def test_zero_size_inner_dims():
    """Zero channels, inner sizes or units: results are exact zeros / biases, never garbage
    (dx of a conv2d with 0 output channels comes from a recycled buffer)."""
    for _ in range(2):  # the second round reuses recycled outputs
        x = A(2, 16, 16, 64)  # large enough for the recycler
        dx, dw, db = _C.conv2d_backward(A(2, 15, 15, 0), x, A(2, 2, 64, 0), None, [1, 1],
                                        [1, 1], [0, 0, 0, 0], True, True, True)
        np.testing.assert_array_equal(dx, np.zeros_like(x))
        assert dw.shape == (2, 2, 64, 0) and db.shape == (0,)
        y = _C.conv2d_forward(A(2, 16, 16, 0), A(2, 2, 0, 64), A(64), [1, 1], [1, 1],
                              [0, 0, 0, 0])
        np.testing.assert_array_equal(y, np.broadcast_to(A(64), y.shape))
        dx = _C.conv2d_backward_data(A(2, 15, 15, 64), A(2, 2, 64, 64) * 0, None,
                                     [2, 16, 16, 64], [1, 1], [1, 1], [0, 0, 0, 0])
        np.testing.assert_array_equal(dx, 0.0)
    b = A(3)
    y, _ = _C.dense_forward(A(2, 0), A(0, 3), b, "relu")
    np.testing.assert_allclose(y, np.broadcast_to(np.maximum(b, 0), (2, 3)))
    g = A(2, 3)
    dx, dw, db = _C.dense_backward(g, A(2, 0), A(0, 3), None, None, "linear", 0.0, True, True)
    assert dx.shape == (2, 0) and dw.shape == (0, 3)
    np.testing.assert_allclose(db, g.sum(0), rtol=1e-6)
    h0, r = A(2, 4) * 0.1, A(4, 4) * 0.1
    out, h = _C.simple_rnn_forward(A(2, 3, 0), h0, A(0, 4), r, None, "linear")
    want = h0
    for _ in range(3):
        want = want @ r
    np.testing.assert_allclose(h, want, rtol=1e-5, atol=1e-8)
    y, idx = _C.max_pool2d_forward(A(1, 0, 4, 1), [1, 2], [1, 2], [1, 0, 0, 0])
    np.testing.assert_array_equal(y, np.zeros((1, 1, 2, 1)))  # windows of padding only
    np.testing.assert_array_equal(idx, -1)


def test_norm_rnn_optimizer_edges():
    x = A(1, 3)
    y, mean, var, inv = _C.batch_norm_forward_train(x, None, None, 1e-3)
    np.testing.assert_allclose(mean, x[0], rtol=1e-6)
    np.testing.assert_allclose(var, 0.0, atol=1e-7)
    np.testing.assert_allclose(y, 0.0, atol=1e-6)
    out, h = _C.simple_rnn_forward(A(0, 2, 4), A(0, 5), A(4, 5), A(5, 5), None)
    assert out.shape == (0, 2, 5) and h.shape == (0, 5)
    x, h0, w, r = A(1, 1, 1), A(1, 1), A(1, 1), A(1, 1)
    out, h = _C.simple_rnn_forward(x, h0, w, r, None, "linear")
    np.testing.assert_allclose(h, x[:, 0] @ w + h0 @ r, rtol=1e-6)
    p, g = A(1), A(1)
    want = p - 0.1 * g
    _C.sgd_update([p], [g], None, 0.1, 0.0, False)
    np.testing.assert_allclose(p, want, rtol=1e-6)
    _C.sgd_update([], [], None, 0.1, 0.0, False)
    _C.adam_update([A(0)], [A(0)], [A(0)], [A(0)], None, 0.1, 0.9, 0.999, 1e-7, 1)
    assert _C.global_norm([]) == 0.0
    assert _C.global_norm([A(0, 3)]) == 0.0


# ---- random geometry sweep: odd but valid (or cleanly refused) windows vs NumPy ------------

def _geometries(seed, count):
    rng = np.random.default_rng(seed)
    for _ in range(count):
        yield dict(N=int(rng.integers(0, 3)), H=int(rng.integers(1, 8)), W=int(rng.integers(1, 8)),
                   C=int(rng.integers(1, 4)), KH=int(rng.integers(1, 5)),
                   KW=int(rng.integers(1, 5)), CO=int(rng.integers(1, 3)),
                   s=[int(v) for v in rng.choice([1, 2, 3, 5], 2)],
                   d=[int(v) for v in rng.choice([1, 2, 3], 2)],
                   p=[int(v) for v in rng.choice([0, 0, 1, 2, 3, 6], 4)])


def _fits(g, dilated=True):
    d = g["d"] if dilated else [1, 1]
    return ((g["KH"] - 1) * d[0] + 1 <= g["H"] + g["p"][0] + g["p"][1]
            and (g["KW"] - 1) * d[1] + 1 <= g["W"] + g["p"][2] + g["p"][3])


def test_conv2d_geometry_sweep():
    import reference_conv as ref
    for g in _geometries(11, 120):
        x, w = A(g["N"], g["H"], g["W"], g["C"]), A(g["KH"], g["KW"], g["C"], g["CO"])
        args = (g["s"], g["d"], g["p"])
        if not _fits(g):
            _expect_error("conv2d", "conv2d", _C.conv2d_forward, x, w, None, *args)
            continue
        y = _C.conv2d_forward(x, w, None, *args)
        np.testing.assert_allclose(y, ref.conv2d(x, w, *args), rtol=1e-4, atol=1e-4, err_msg=g)
        dy = _arr(*y.shape, seed=1)
        dx, dw, db = _C.conv2d_backward(dy, x, w, None, *args, True, True, True)
        np.testing.assert_allclose(dx, ref.conv2d_backward_data(dy, x.shape, w, *args),
                                   rtol=1e-4, atol=1e-4, err_msg=g)
        np.testing.assert_allclose(dw, ref.conv2d_backward_filter(x, dy, w.shape, *args),
                                   rtol=1e-4, atol=1e-4, err_msg=g)
        np.testing.assert_allclose(db, dy.reshape(-1, g["CO"]).sum(0), rtol=1e-4, atol=1e-4)
        dx2 = _C.conv2d_backward_data(dy, w, None, list(x.shape), *args)
        np.testing.assert_allclose(dx2, dx, rtol=1e-4, atol=1e-4, err_msg=g)
        b = A(g["CO"])  # fused bias + ReLU, and the gradient masked by y > 0
        yr = _C.conv2d_forward(x, w, b, *args, True)
        z = ref.conv2d(x, w, *args) + b
        np.testing.assert_allclose(yr, np.maximum(z, 0), rtol=1e-4, atol=1e-4, err_msg=g)
        dx, dw, db = _C.conv2d_backward(dy, x, w, yr, *args, True, True, True)
        dym = dy * (yr > 0)
        np.testing.assert_allclose(dx, ref.conv2d_backward_data(dym, x.shape, w, *args),
                                   rtol=1e-4, atol=1e-4, err_msg=g)
        np.testing.assert_allclose(db, dym.reshape(-1, g["CO"]).sum(0), rtol=1e-4, atol=1e-4)


def test_depthwise_geometry_sweep():
    import reference_conv as ref
    for g in _geometries(12, 100):
        M = g["CO"]
        x, w = A(g["N"], g["H"], g["W"], g["C"]), A(g["KH"], g["KW"], g["C"], M)
        args = (g["s"], g["d"], g["p"])
        if not _fits(g):
            _expect_error("depthwise_conv2d", "depthwise", _C.depthwise_conv2d_forward, x, w,
                          *args)
            continue
        y = _C.depthwise_conv2d_forward(x, w, *args)
        want = np.concatenate([ref.conv2d(x[..., c:c + 1], w[:, :, c:c + 1, :], *args)
                               for c in range(g["C"])], axis=-1)
        np.testing.assert_allclose(y, want, rtol=1e-4, atol=1e-4, err_msg=g)
        dy = _arr(*y.shape, seed=2)
        dx = _C.depthwise_conv2d_backward_data(dy, w, list(x.shape), *args)
        want = np.concatenate([ref.conv2d_backward_data(dy[..., c * M:(c + 1) * M],
                                                        x[..., :1].shape, w[:, :, c:c + 1, :],
                                                        *args) for c in range(g["C"])], -1)
        np.testing.assert_allclose(dx, want, rtol=1e-4, atol=1e-4, err_msg=g)
        dw = _C.depthwise_conv2d_backward_filter(dy, x, list(w.shape), *args)
        want = np.concatenate([ref.conv2d_backward_filter(x[..., c:c + 1],
                                                          dy[..., c * M:(c + 1) * M],
                                                          (g["KH"], g["KW"], 1, M), *args)
                               for c in range(g["C"])], axis=2)
        np.testing.assert_allclose(dw, want, rtol=1e-4, atol=1e-4, err_msg=g)


def test_pool_geometry_sweep():
    import reference_conv as ref
    for g in _geometries(13, 150):
        x = A(g["N"], g["H"], g["W"], g["C"])
        k, s, p = [g["KH"], g["KW"]], g["s"], g["p"]
        if not _fits(g, dilated=False):
            _expect_error("max_pool2d", "max_pool2d", _C.max_pool2d_forward, x, k, s, p)
            _expect_error("avg_pool2d", "avg_pool2d", _C.avg_pool2d_forward, x, k, s, p)
            continue
        y, idx = _C.max_pool2d_forward(x, k, s, p)
        ya = _C.avg_pool2d_forward(x, k, s, p)
        dy = _arr(*y.shape, seed=3)
        dx = _C.max_pool2d_backward(dy, idx, list(x.shape), k, s, p)
        dx_any = _C.max_pool2d_backward(dy, idx, list(x.shape))
        dxa = _C.avg_pool2d_backward(dy, list(x.shape), k, s, p)
        assert y.shape == idx.shape == ya.shape and dx.shape == dxa.shape == x.shape
        if p[0] >= k[0] or p[1] >= k[0] or p[2] >= k[1] or p[3] >= k[1] or not x.size:
            continue  # some window sees only padding: the kernels must only not crash
        ry, ridx = ref.max_pool(x, k, s, p)
        np.testing.assert_array_equal(y, ry, err_msg=g)
        np.testing.assert_array_equal(idx, ridx, err_msg=g)
        np.testing.assert_allclose(ya, ref.avg_pool(x, k, s, p), rtol=1e-5, atol=1e-6)
        want = ref.max_pool_backward(dy, ridx, x.shape)
        np.testing.assert_allclose(dx, want, rtol=1e-5, atol=1e-6, err_msg=g)
        np.testing.assert_allclose(dx_any, want, rtol=1e-5, atol=1e-6, err_msg=g)
        np.testing.assert_allclose(dxa, ref.avg_pool_backward(dy, x.shape, k, s, p),
                                   rtol=1e-5, atol=1e-5, err_msg=g)
