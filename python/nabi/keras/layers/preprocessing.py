"""Keras preprocessing layers (Keras 2.15 semantics): Normalization, Discretization,
CategoryEncoding, Hashing, HashedCrossing, IntegerLookup, StringLookup, and the image layers
Resizing, CenterCrop, RandomCrop, RandomFlip, RandomRotation, RandomZoom, RandomTranslation,
RandomContrast, RandomBrightness.

    normalizer = keras.layers.Normalization(axis=-1)
    normalizer.adapt(np.array(train_features))          # mean / variance / count weights
    augment = keras.Sequential([keras.layers.RandomFlip("horizontal"),
                                keras.layers.RandomRotation(0.1)])

Where the work happens:
- Normalization runs nabi ops on the input's device (it is differentiable); its statistics
  are non-trainable weights (`mean`, `variance`, `count`), so they are saved with the model.
- The lookup, hashing, encoding and discretization layers compute on the input's device:
  numeric GPU inputs on the GPU (the bincount / searchsorted kernels and
  csrc/cuda/preprocess_lookup.cu: see "GPU paths" below), host and string inputs on the host
  with NumPy (strings live on the host; the integer results of a string lookup go to the current
  device). The image layers compute on the host for host inputs and on the device for GPU
  inputs (float32 / float64 layers; `_gpu_batch`): RandomFlip / RandomContrast /
  RandomBrightness by device ops, the affine layers by the CUDA kernel of
  csrc/cuda/image_transform.cu (the host path's pixels, bit for bit), Resizing / RandomHeight /
  RandomWidth by resize matrices (einsum; nearest exact, the blends to float rounding).
  float16 images still take the host path. They are differentiable with respect to float
  images on every device, as in TF: the device paths through their ops' own gradients (the
  affine kernel's by its adjoint, csrc/cuda/image_transform_grad.cu), the host paths by the
  NumPy adjoint of their forward map (`_attach_grad`: flips, clip masks, the transpose of the
  resize matrices, the scatter of the resampling weights); integer images have none.
- The Random* layers augment when `training` is true and are the identity when it is false
  (`predict`, `evaluate`); a direct call outside fit/predict (`training=None`) augments, as
  Keras's `call(inputs, training=True)` default does. Each layer owns a NumPy generator seeded
  once, at construction, from nabi's generator (`nabi.random.set_seed` / the layer's `seed`),
  so runs repeat; the random streams are not TensorFlow's.
- The affine image layers (rotation, zoom, translation) build TF's projective transforms
  (`get_rotation_matrix`, ...) and resample as TF's ImageProjectiveTransformV3 (`_transform`).

Adapted state that is not a weight (a lookup layer's vocabulary and idf weights,
Discretization's bin boundaries) is written into the layer config, so it survives .keras and
.h5 saving.
"""
import numbers
import os

import numpy as np

from ...framework.device import DeviceArray, place, to_device
from ...framework.device import backend as _device_backend
from ...framework.tape import is_recording, record
from ...framework.tensor import Tensor, _utf8_storage, _wrap
from ...ops import array_ops as _ao
from ...ops import math_ops as _m
from .. import backend
from .base import KerasTensor, Layer, _pop_inert_options

__all__ = ["Normalization", "Discretization", "CategoryEncoding", "Hashing", "HashedCrossing",
           "IntegerLookup", "StringLookup", "Resizing", "CenterCrop", "RandomCrop", "RandomFlip",
           "RandomRotation", "RandomZoom", "RandomTranslation", "RandomContrast",
           "RandomBrightness", "RandomHeight", "RandomWidth"]

INT, ONE_HOT, MULTI_HOT, COUNT, TF_IDF = "int", "one_hot", "multi_hot", "count", "tf_idf"


# ----------------------------------------------------------------------------- helpers


def _host(x):
    """A host NumPy array for a Tensor / DeviceArray / array-like."""
    if isinstance(x, Tensor):
        x = x._data
    if type(x) is DeviceArray:
        return x.get()
    return np.asarray(x)


def _result(arr, src):
    """`arr` (host) as a Tensor on the device of `src` (the input's storage): a GPU input gives
    a GPU result, a numeric host input a host result; for string inputs, which only live on
    the host, the result goes to the current device."""
    arr = np.asarray(arr)
    if not arr.flags.c_contiguous:     # (np.ascontiguousarray would make a scalar 1-D)
        arr = np.ascontiguousarray(arr)
    if type(src) is DeviceArray:
        return _wrap(to_device(arr, "cuda"))
    if getattr(src, "dtype", None) is not None and src.dtype.kind in "biuf":
        return _wrap(arr)
    return _wrap(place(arr))


def _as_tensor(inputs):
    """The layer input as one Tensor (Layer.__call__ hands nested lists over as lists)."""
    if isinstance(inputs, Tensor):
        return inputs

    def unnest(v):
        if isinstance(v, Tensor):
            return _host(v)
        if isinstance(v, (list, tuple)):
            return [unnest(e) for e in v]
        return v
    a = np.asarray(unnest(inputs))
    if a.dtype == np.float64:
        a = a.astype(np.float32)
    return _wrap(place(a))


def _listify(x):
    """Arrays and tensors -> lists (for configs)."""
    if isinstance(x, Tensor):
        x = x.numpy()
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, np.generic):
        return x.item()
    return x


def _check_mode(layer, mode, allowed):
    if mode not in allowed:
        raise ValueError(f"[{layer.name}] Unknown value for `output_mode`. Allowed values are "
                         f"{list(allowed)}. Received: output_mode={mode!r}")


def _adapt_batches(layer, data, batch_size, steps):
    """The batches `adapt` reads: a Dataset's elements, or an array (NumPy, Tensor, list)
    cut into batches of `batch_size` (32 by default, as Keras's data handler), at most `steps`
    of them."""
    from ...data import Dataset
    if steps is not None and int(steps) < 1:
        raise ValueError(f"[{layer.name}] adapt: `steps` must be a positive integer, got "
                         f"steps={steps}")
    if isinstance(data, Dataset):
        if batch_size is not None:
            raise ValueError(f"[{layer.name}] adapt: `batch_size` must not be given for a "
                             f"Dataset (batch the dataset instead); got batch_size={batch_size}")
        for i, element in enumerate(data.as_numpy_iterator()):
            if steps is not None and i >= int(steps):
                return
            if isinstance(element, (tuple, list, dict)):
                raise TypeError(f"[{layer.name}] adapt expects a dataset of feature tensors, "
                                f"got elements of type {type(element).__name__} (for "
                                "(features, labels) pairs use `ds.map(lambda x, y: x)`)")
            yield np.asarray(element)
        return
    arr = _host(data) if isinstance(data, (Tensor, DeviceArray)) else np.asarray(data)
    if arr.ndim == 0:
        yield arr
        return
    bs = 32 if batch_size is None else int(batch_size)
    if bs < 1:
        raise ValueError(f"[{layer.name}] adapt: `batch_size` must be a positive integer, got "
                         f"batch_size={batch_size}")
    for k, i in enumerate(range(0, arr.shape[0], bs)):
        if steps is not None and k >= int(steps):
            return
        yield arr[i:i + bs]



def read_vocabulary_file(layer_name, path):
    """A Keras vocabulary file's tokens, one a line (a final empty line is not a token)."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ValueError(f"[{layer_name}] Vocabulary file {path} does not exist.")
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    return lines[:-1] if lines and lines[-1] == "" else lines

class PreprocessingLayer(Layer):
    """Base of the layers with state computed from data by `adapt` (Keras's
    `PreprocessingLayer`): `adapt` resets the state, feeds every batch to `update_state`
    (building the layer from the first batch's shape if needed), then `finalize_state`."""

    _autocast = False

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._is_adapted = False

    @property
    def is_adapted(self):
        return self._is_adapted

    def update_state(self, data):
        raise NotImplementedError(f"[{self.name}] {type(self).__name__} cannot be adapted")

    def reset_state(self):
        pass

    def finalize_state(self):
        pass

    def _adapt_build(self, batch):
        if not self.built:
            self.build(tuple(batch.shape))
            self.built = True
            self._build_input_shape = tuple(batch.shape)

    def adapt(self, data, batch_size=None, steps=None):
        """Computes the layer's state from `data`: a NumPy array, a Tensor, a list, or a
        `nabi.data.Dataset` of feature batches."""
        if self.built:
            self.reset_state()
        seen = False
        for batch in _adapt_batches(self, data, batch_size, steps):
            if not self.built:
                self._adapt_build(batch)
                self.reset_state()
            self.update_state(batch)
            seen = True
        if not seen:
            raise ValueError(f"[{self.name}] adapt received no data")
        self.finalize_state()
        self._is_adapted = True

    def compile(self, *args, **kwargs):  # Keras API; nothing to compile
        pass


# ----------------------------------------------------------------------------- Normalization


class Normalization(PreprocessingLayer):
    """Feature-wise normalisation: `(x - mean) / max(sqrt(variance), epsilon)` with the mean and
    variance over every axis not in `axis` (Keras's epsilon, `backend.epsilon()`), or its
    inverse with `invert=True`. The statistics come from `mean`/`variance` or from `adapt`,
    which combines batches exactly (count-weighted means and the lack-of-fit sum of squares)
    in float64 and stores them in the non-trainable weights `mean`, `variance` (float) and
    `count` (int64). `axis=None` keeps no axis: one scalar mean and variance."""

    _autocast = True

    def __init__(self, axis=-1, mean=None, variance=None, invert=False, **kwargs):
        super().__init__(**kwargs)
        if axis is None:
            axis = ()
        elif isinstance(axis, (int, np.integer)):
            axis = (int(axis),)
        else:
            axis = tuple(axis)
            if any(not isinstance(a, (int, np.integer)) for a in axis):
                raise ValueError(f"[{self.name}] `axis` must be an integer, a tuple of integers "
                                 f"or None. Received: axis={axis}")
            axis = tuple(int(a) for a in axis)
        self.axis = axis
        if isinstance(mean, Tensor) and mean._is_variable:
            raise ValueError(f"[{self.name}] Normalization does not support passing a Variable "
                             "for the `mean` init arg.")
        if isinstance(variance, Tensor) and variance._is_variable:
            raise ValueError(f"[{self.name}] Normalization does not support passing a Variable "
                             "for the `variance` init arg.")
        if (mean is not None) != (variance is not None):
            raise ValueError(f"[{self.name}] When setting values directly, both `mean` and "
                             f"`variance` must be set. Received: mean={mean} and "
                             f"variance={variance}")
        self.input_mean = None if mean is None else np.asarray(_host(mean), np.float64)
        self.input_variance = None if variance is None else \
            np.asarray(_host(variance), np.float64)
        self.invert = bool(invert)
        self._const = None       # (mean, variance) host arrays when given, else None
        self._const_dev = {}     # the same on each device, made on first use there
        self._acc = None         # float64 (count, mean, variance) while adapting

    # -- shapes ---------------------------------------------------------------------------
    def build(self, input_shape):
        shape = tuple(None if d is None else int(d) for d in input_shape)
        ndim = len(shape)
        if any(a < -ndim or a >= ndim for a in self.axis):
            raise ValueError(f"[{self.name}] All `axis` values must be in the range [-ndim, "
                             f"ndim). Received inputs with ndim={ndim}, while axis={self.axis}")
        keep = sorted(a % ndim for a in self.axis)
        for d in keep:
            if shape[d] is None:
                raise ValueError(f"[{self.name}] All `axis` values to be kept must have a known "
                                 f"shape. Received axis={self.axis}, inputs.shape={shape}, with "
                                 f"unknown axis at index {d}")
        self._keep = keep
        self._reduce = [d for d in range(ndim) if d not in keep]
        self._bshape = tuple(shape[d] if d in keep else 1 for d in range(ndim))
        stat_shape = tuple(shape[d] for d in keep)
        self._stat_shape = stat_shape
        if self.input_mean is None:
            self.adapt_mean = self.add_weight("mean", stat_shape, initializer="zeros",
                                              trainable=False)
            self.adapt_variance = self.add_weight("variance", stat_shape, initializer="ones",
                                                  trainable=False)
            self.count = self.add_weight("count", (), dtype="int64", initializer="zeros",
                                         trainable=False)
        else:
            try:
                m = np.broadcast_to(self.input_mean, stat_shape)
                v = np.broadcast_to(self.input_variance, stat_shape)
            except ValueError:
                raise ValueError(f"[{self.name}] `mean` of shape {self.input_mean.shape} and "
                                 f"`variance` of shape {self.input_variance.shape} do not "
                                 f"broadcast to the kept axes' shape {stat_shape} (inputs of "
                                 f"shape {shape}, axis={self.axis})") from None
            self._const = (np.ascontiguousarray(m.reshape(self._bshape), self._np_dtype),
                           np.ascontiguousarray(v.reshape(self._bshape), self._np_dtype))
            self._const_dev = {}
        self.built = True

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def _built_shape(self):
        """The build shape with the batch dimension as None (for error messages)."""
        s = tuple(self._build_input_shape or ())
        keep0 = 0 in getattr(self, "_keep", ())
        return s if not s or keep0 else (None,) + s[1:]

    # -- statistics -------------------------------------------------------------------------
    @property
    def mean(self):
        """The mean, broadcastable to the input (Keras's `layer.mean`)."""
        m = self._stats(None)[0]
        return _wrap(m)

    @property
    def variance(self):
        return _wrap(self._stats(None)[1])

    def _stats(self, like):
        """(mean, variance) in the broadcast shape, on the device of the array `like`."""
        if not self.built:
            raise ValueError(f"[{self.name}] the layer has no statistics yet: call adapt() or "
                             "pass `mean` and `variance`")
        gpu = type(like) is DeviceArray
        if self._const is not None:
            if not gpu:
                return self._const
            if "cuda" not in self._const_dev:
                self._const_dev["cuda"] = tuple(to_device(a, "cuda") for a in self._const)
            return self._const_dev["cuda"]
        m = self.adapt_mean._data.reshape(self._bshape)
        v = self.adapt_variance._data.reshape(self._bshape)
        if like is not None and gpu != (type(m) is DeviceArray):
            kind = "cuda" if gpu else "cpu"
            m, v = to_device(m, kind), to_device(v, kind)
        return m, v

    # -- adapt ------------------------------------------------------------------------------
    def reset_state(self):
        self._acc = None
        if self.input_mean is not None or not self.built:
            return
        self.adapt_mean.assign(np.zeros(self._stat_shape, self.adapt_mean._data.dtype))
        self.adapt_variance.assign(np.ones(self._stat_shape, self.adapt_variance._data.dtype))
        self.count.assign(np.zeros((), np.int64))

    def update_state(self, data):
        if self.input_mean is not None:
            raise ValueError(f"[{self.name}] Cannot `adapt` a Normalization layer that is "
                             "initialized with static `mean` and `variance`, you passed mean "
                             f"{self.input_mean} and variance {self.input_variance}.")
        if not self.built:
            raise RuntimeError(f"[{self.name}] `build` must be called before `update_state`.")
        try:
            x = np.asarray(_host(data), np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"[{self.name}] adapt needs numeric data, got an array of dtype "
                             f"{np.asarray(_host(data)).dtype}") from None
        ndim = len(self._bshape)
        if x.ndim != ndim or any(x.shape[d] != self._bshape[d] for d in self._keep):
            raise ValueError(f"[{self.name}] adapt data of shape {x.shape} does not match the "
                             f"layer, built for inputs of shape {self._built_shape()} "
                             f"(axis={self.axis}: the kept axes need sizes {self._stat_shape})")
        red = tuple(self._reduce)
        n = int(np.prod([x.shape[d] for d in red])) if red else 1
        if n == 0:
            return
        bm = x.mean(axis=red) if red else x
        bv = x.var(axis=red) if red else np.zeros_like(x)
        if self._acc is None:
            self._acc = (int(_host(self.count._data)),
                         np.asarray(_host(self.adapt_mean._data), np.float64),
                         np.asarray(_host(self.adapt_variance._data), np.float64))
        c0, m0, v0 = self._acc
        total = c0 + n
        wb = n / total
        wo = 1.0 - wb
        tm = m0 * wo + bm * wb
        tv = (v0 + (m0 - tm) ** 2) * wo + (bv + (bm - tm) ** 2) * wb
        self._acc = (total, tm, tv)

    def finalize_state(self):
        if self.input_mean is not None or not self.built or self._acc is None:
            return
        c, mu, var = self._acc
        self.adapt_mean.assign(np.asarray(mu, self.adapt_mean._data.dtype).reshape(
            self._stat_shape))
        self.adapt_variance.assign(np.asarray(var, self.adapt_variance._data.dtype).reshape(
            self._stat_shape))
        self.count.assign(np.asarray(c, np.int64))
        self._acc = None

    # -- call -------------------------------------------------------------------------------
    def call(self, inputs):
        inputs = _as_tensor(inputs)
        x = inputs
        d = x._data
        if d.dtype.kind not in "f":   # e.g. an object array of numbers (pandas booleans)
            try:
                x = _result(np.asarray(_host(d), self._np_dtype), d)
            except (TypeError, ValueError):
                raise ValueError(f"[{self.name}] Normalization needs numeric inputs, got dtype "
                                 f"{d.dtype}") from None
            d = x._data
        mean, var = self._stats(d)
        try:   # the statistics must broadcast to the input without growing it
            ok = np.broadcast_shapes(tuple(d.shape), tuple(mean.shape)) == tuple(d.shape)
        except ValueError:
            ok = False
        if not ok:
            raise ValueError(f"[{self.name}] Normalization was built for inputs of shape "
                             f"{self._built_shape()} (axis={self.axis}, "
                             f"statistics of shape {tuple(mean.shape)}), which do not broadcast "
                             f"to the input of shape {tuple(d.shape)}")
        if mean.dtype != d.dtype:
            mean, var = mean.astype(d.dtype), var.astype(d.dtype)
        denom = np.maximum(np.sqrt(var), d.dtype.type(backend.epsilon()))
        if self.invert:
            return _m.add(_wrap(mean), _m.multiply(x, _wrap(denom)))
        return _m.divide(_m.subtract(x, _wrap(mean)), _wrap(denom))

    def get_config(self):
        config = super().get_config()
        config.update({"axis": list(self.axis), "invert": self.invert,
                       "mean": _listify(self.input_mean),
                       "variance": _listify(self.input_variance)})
        return config


# ----------------------------------------------------------------------------- Discretization


def _summarize(values, epsilon):
    """Keras 3's quantile summary of one batch: with step = max(len * epsilon, 1), every
    int(step)-th sorted value from index int(step - 1), each weighing step (float32)."""
    values = np.sort(np.asarray(values, np.float32).reshape(-1))
    step = max(values.size / (1.0 / epsilon), 1)
    boundaries = values[int(step - 1)::int(step)]
    weights = np.ones_like(boundaries) * step
    return np.stack([boundaries, weights])


def _compress_summary(summary, epsilon):
    if summary.shape[1] * epsilon < 1:
        return summary
    percents = epsilon + np.arange(0.0, 1.0, epsilon)
    cum_weights = summary[1].cumsum()
    cum_weight_percents = cum_weights / cum_weights[-1]
    new_bins = np.interp(percents, cum_weight_percents, summary[0])
    cum_weights = np.interp(percents, cum_weight_percents, cum_weights)
    new_weights = cum_weights - np.concatenate((np.array([0]), cum_weights[:-1]))
    return np.stack((new_bins, new_weights)).astype(np.float32)


def _merge_summaries(prev, nxt, epsilon):
    merged = np.concatenate((prev, nxt), axis=1)
    merged = merged[:, np.argsort(merged[0], kind="stable")]
    return _compress_summary(merged, epsilon)


def _encode_categorical(layer, idx, mode, depth, dtype, count_weights=None):
    """Keras's `encode_categorical_inputs` on host arrays: 'int' passes through; 'one_hot' drops
    a trailing axis of 1 (rank > 1) and adds a last axis; 'multi_hot'/'count' encode the last
    axis (a 1-D input is one sample; output rank at most 2); indices outside [0, depth) are
    dropped."""
    if mode == INT:
        return np.asarray(idx).astype(dtype)
    x = np.asarray(idx)
    orig = x.shape
    if x.ndim == 0:
        x = x[None]
    if mode == ONE_HOT:
        # Keras 3: a trailing axis of 1 is dropped when the rank is above 1, then a one-hot
        # axis is added (a scalar or a (1,) input gives (1, depth); any rank is allowed)
        if x.ndim > 1 and x.shape[-1] == 1:
            x = x[..., 0]
        x = np.asarray(x)
        out = np.zeros(x.shape + (int(depth),), dtype)
        valid = (x >= 0) & (x < depth)
        pos = np.nonzero(valid)
        out[pos + (x[valid].astype(np.int64),)] = 1
        return out
    if x.ndim > 2:
        raise ValueError(f"[{layer.name}] When output_mode is not 'int', maximum supported "
                         f"output rank is 2. Received output_mode={mode!r} and input shape "
                         f"{orig}, which would result in output rank {x.ndim}.")
    x2 = x if x.ndim == 2 else x[None]
    out = np.zeros((x2.shape[0], int(depth)), dtype)
    valid = (x2 >= 0) & (x2 < depth)
    rows = np.broadcast_to(np.arange(x2.shape[0])[:, None], x2.shape)[valid]
    cols = x2[valid].astype(np.int64)
    if mode == COUNT:
        if count_weights is None:
            w = np.ones(cols.shape, dtype)
        else:
            cw = np.asarray(_host(count_weights), dtype)
            try:
                cw = np.broadcast_to(cw.reshape(x.shape) if cw.size == x.size else cw, x.shape)
            except ValueError:
                raise ValueError(f"[{layer.name}] `count_weights` of shape {cw.shape} does not "
                                 f"match the inputs of shape {orig}") from None
            w = (cw if cw.ndim == 2 else cw[None])[valid]
        np.add.at(out, (rows, cols), w)
    else:
        out[rows, cols] = 1
    return out if x.ndim == 2 else out[0]


def _encoded_shape(shape, mode, depth):
    shape = list(shape)
    if mode == INT:
        return tuple(shape)
    if mode == ONE_HOT:
        if len(shape) > 1 and shape[-1] == 1:
            shape = shape[:-1]
        return tuple((shape or [1]) + [depth])
    if not shape:
        return (depth,)
    return tuple(shape[:-1] + [depth])


def _int_dtype_kwargs(kwargs, output_mode):
    """Keras's default: int64 output for output_mode='int', floatx otherwise."""
    if kwargs.get("dtype") is None:
        kwargs["dtype"] = "int64" if output_mode == INT else backend.floatx()
    elif output_mode == INT and np.dtype(_np_name(kwargs["dtype"])).kind not in "iu":
        kwargs["dtype"] = "int64"
    return kwargs


def _np_name(dtype):
    if isinstance(dtype, dict):
        dtype = dtype.get("config", {}).get("name", None)
    name = getattr(dtype, "name", dtype)
    return "float32" if name in ("mixed_float16", "mixed_bfloat16") else name


# ----------------------------------------------------------------------------- GPU paths
# Numeric GPU inputs of Discretization, CategoryEncoding, Hashing, HashedCrossing and
# IntegerLookup stay on the device: the encodings are the bincount kernel
# (csrc/cuda/bincount.cu; one_hot is one row per value), Discretization a searchsorted
# (csrc/cuda/searchsorted.cu), Hashing / HashedCrossing / IntegerLookup the kernels of
# csrc/cuda/preprocess_lookup.cu (the host path's bins and indices, bit for bit). Only the
# clear-error checks read back (CategoryEncoding's range: none when the range is known on the
# host, device.known_range; IntegerLookup with num_oov_indices=0: one flag). Results of other
# dtypes than these four (float16, ...) take the host path.
_GPU_OUT = ("float32", "float64", "int32", "int64")


def _gpu_ok(d, dtype):
    """Whether `d` (an input's storage) is a numeric GPU array and `dtype` a result dtype the
    device kernels produce."""
    return type(d) is DeviceArray and d.dtype.kind in "biuf" and \
        np.dtype(dtype).name in _GPU_OUT


def _encode_gpu(layer, idx, mode, depth, dtype, count_weights=None):
    """_encode_categorical of the GPU integer array `idx` on the device (same shapes, same
    errors; indices outside [0, depth) are dropped)."""
    dtype = np.dtype(dtype).name
    if mode == INT:
        out = idx.astype(dtype)
        if out.dtype.kind in "iu":   # ids in [0, depth) by construction: a following
            out.value_range = (0, int(depth) - 1)   # Embedding / gather reads no check back
        return out
    be, depth = _device_backend(), int(depth)
    x = idx if idx.dtype in (np.int32, np.int64) else idx.astype(np.int64)
    orig = x.shape
    if x.ndim == 0:
        x = x.reshape(1)
    if mode == ONE_HOT:
        if x.ndim > 1 and x.shape[-1] == 1:
            x = x.reshape(x.shape[:-1])
        y = be.bincount(x.reshape(x.size, 1).buf, depth, None, True, True, dtype)
        return DeviceArray(y).reshape(x.shape + (depth,))
    if x.ndim > 2:
        raise ValueError(f"[{layer.name}] When output_mode is not 'int', maximum supported "
                         f"output rank is 2. Received output_mode={mode!r} and input shape "
                         f"{orig}, which would result in output rank {x.ndim}.")
    x2 = x if x.ndim == 2 else x.reshape(1, x.shape[0])
    w = None
    if mode == COUNT and count_weights is not None:
        cw = count_weights._data if isinstance(count_weights, Tensor) else count_weights
        cw = to_device(np.asarray(cw, dtype) if type(cw) is not DeviceArray else cw, "cuda")
        cw = cw.astype(dtype, copy=False)
        try:
            cw = np.broadcast_to(cw.reshape(x.shape) if cw.size == x.size else cw, x.shape)
        except ValueError:
            raise ValueError(f"[{layer.name}] `count_weights` of shape {tuple(cw.shape)} does "
                             f"not match the inputs of shape {orig}") from None
        w = cw.reshape(x2.shape).buf
    y = DeviceArray(be.bincount(x2.buf, depth, w, True, mode != COUNT, dtype))
    return y if x.ndim == 2 else y.reshape(depth)


def _int_mask(value):
    """The int64 whose decimal string is str(value) (Hashing compares strings), else None."""
    s = str(value)
    try:
        m = int(s)
    except ValueError:
        return None
    return m if str(m) == s and -2 ** 63 <= m < 2 ** 63 else None


def _dev_arr(arr):
    """A host array as a (contiguous) GPU array."""
    return DeviceArray.from_numpy(np.ascontiguousarray(arr))


class Discretization(PreprocessingLayer):
    """Buckets numbers by ranges: with `bin_boundaries=[0., 1., 2.]` the bins are
    (-inf, 0), [0, 1), [1, 2), [2, inf) and the output is the bin index (int32, as in Keras 3,
    whatever `dtype` is), or its
    one-hot / multi-hot / count encoding. `adapt` learns `num_bins - 1` boundaries with
    Keras's approximate quantile summary (`epsilon`): a NumPy array or Tensor in one batch, as
    Keras 3.15 does, a Dataset (or an explicit `batch_size`) batch by batch (as in Keras,
    merging many small batches drifts the boundaries). As in
    Keras 3, the adapted `bin_boundaries` are part of the config (so `num_bins` and
    `bin_boundaries` may both be given when `len(bin_boundaries) == num_bins - 1`)."""

    def __init__(self, bin_boundaries=None, num_bins=None, epsilon=0.01, output_mode="int",
                 sparse=False, **kwargs):
        if "bins" in kwargs:   # deprecated Keras name
            bins = kwargs.pop("bins")
            if isinstance(bins, int) and num_bins is None:
                num_bins = bins
            elif bin_boundaries is None:
                bin_boundaries = bins
        super().__init__(**kwargs)
        _check_mode(self, output_mode, (INT, ONE_HOT, MULTI_HOT, COUNT))
        if sparse:
            raise ValueError(f"[{self.name}] sparse outputs are not supported by nabi "
                             f"(received sparse={sparse})")
        if num_bins is not None and num_bins < 0:
            raise ValueError(f"[{self.name}] `num_bins` must be greater than or equal to 0. "
                             f"Received: `num_bins={num_bins}`")
        bin_boundaries = _listify(bin_boundaries)
        if num_bins is not None and bin_boundaries is not None and \
                len(bin_boundaries) != num_bins - 1:
            raise ValueError(f"[{self.name}] Both `num_bins` and `bin_boundaries` should not be "
                             f"set. Received: `num_bins={num_bins}` and "
                             f"`bin_boundaries={bin_boundaries}`")
        if bin_boundaries is not None:
            b = np.asarray(bin_boundaries, np.float64).reshape(-1)
            if np.any(np.diff(b) < 0):
                raise ValueError(f"[{self.name}] `bin_boundaries` must be sorted in increasing "
                                 f"order. Received: bin_boundaries={bin_boundaries}")
            bin_boundaries = b.tolist()
        self.input_bin_boundaries = bin_boundaries if num_bins is None else None
        self.bin_boundaries = bin_boundaries
        self.num_bins = num_bins
        self.epsilon = float(epsilon)
        self.output_mode = output_mode
        self.sparse = sparse
        self._summary = None

    def build(self, input_shape):
        self.built = True

    def adapt(self, data, batch_size=None, steps=None):
        from ...data import Dataset
        if batch_size is None and steps is None and isinstance(data, (np.ndarray, Tensor)) \
                and not isinstance(data, Dataset):
            # Keras 3.15 summarizes a whole array or Tensor at once (one update_state)
            data = _host(data) if isinstance(data, Tensor) else data
            batch_size = max(1, len(data)) if np.ndim(data) else None
        super().adapt(data, batch_size=batch_size, steps=steps)

    def reset_state(self):
        if self.input_bin_boundaries is not None:
            return
        self._summary = np.zeros((2, 0), np.float32)

    def update_state(self, data):
        if self.input_bin_boundaries is not None:
            raise ValueError(f"[{self.name}] Cannot adapt a Discretization layer that has been "
                             "initialized with `bin_boundaries`, use `num_bins` instead. You "
                             f"passed `bin_boundaries={self.input_bin_boundaries}`.")
        if self.num_bins is None:
            raise ValueError(f"[{self.name}] adapt needs `num_bins` to be set")
        try:
            x = np.asarray(_host(data), np.float32)
        except (TypeError, ValueError):
            raise ValueError(f"[{self.name}] adapt needs numeric data") from None
        if self._summary is None:
            self.reset_state()
        self._summary = _merge_summaries(_summarize(x, self.epsilon), self._summary,
                                         self.epsilon)

    def finalize_state(self):
        if self.input_bin_boundaries is not None or self._summary is None:
            return
        b = _compress_summary(self._summary, 1.0 / self.num_bins)[0, :-1]
        self.bin_boundaries = [float(v) for v in b]

    def compute_output_shape(self, input_shape):
        depth = None if self.bin_boundaries is None else len(self.bin_boundaries) + 1
        if depth is None and self.num_bins is not None:
            depth = self.num_bins
        return _encoded_shape(input_shape, self.output_mode, depth)

    def call(self, inputs):
        inputs = _as_tensor(inputs)
        if self.bin_boundaries is None:
            raise ValueError(f"[{self.name}] You need to either pass the `bin_boundaries` "
                             "argument at construction time or call `adapt(dataset)` before "
                             "you can start using the `Discretization` layer.")
        d = inputs._data
        dtype = np.int32 if self.output_mode == INT else self._np_dtype
        if _gpu_ok(d, dtype):
            return _wrap(self._call_gpu(d, dtype))
        x = _host(d)
        if x.dtype.kind not in "biuf":
            raise ValueError(f"[{self.name}] Discretization expects numeric inputs, got dtype "
                             f"{x.dtype}")
        idx = np.digitize(x, np.asarray(self.bin_boundaries, np.float64)).astype(np.int64)
        # Keras 3: bin indices are always int32; `dtype` only sets the encoded modes' dtype.
        dtype = np.int32 if self.output_mode == INT else self._np_dtype
        out = _encode_categorical(self, idx, self.output_mode, len(self.bin_boundaries) + 1,
                                  dtype)
        return _result(out, d)

    def _call_gpu(self, d, dtype):
        """np.digitize on the device: the bin of x is searchsorted(boundaries, x, 'right') in
        float64 (the host path's arithmetic; NaN goes past the last boundary, as there)."""
        key = tuple(self.bin_boundaries)
        if getattr(self, "_gpu_bins", (None,))[0] != key:
            self._gpu_bins = (key, _dev_arr(np.asarray(key, np.float64).reshape(1, len(key))))
        x = d.astype(np.float64).reshape(1, d.size)
        idx = DeviceArray(_device_backend().searchsorted(self._gpu_bins[1].buf, x.buf, True,
                                                         "int64")).reshape(d.shape)
        return _encode_gpu(self, idx, self.output_mode, len(key) + 1, dtype)

    def get_config(self):
        config = super().get_config()
        config.update({"bin_boundaries": _listify(self.bin_boundaries),
                       "num_bins": self.num_bins, "epsilon": self.epsilon,
                       "output_mode": self.output_mode, "sparse": self.sparse})
        return config


# ----------------------------------------------------------------------------- CategoryEncoding


class CategoryEncoding(Layer):
    """Integer indices in [0, num_tokens) -> 'one_hot', 'multi_hot' (the last axis is a
    sample's set of tokens) or 'count' (optionally weighted by `count_weights`) float vectors
    of length `num_tokens`. Values outside the range raise a ValueError."""

    _autocast = False

    def __init__(self, num_tokens=None, output_mode="multi_hot", sparse=False, **kwargs):
        if "max_tokens" in kwargs:   # deprecated Keras name
            num_tokens = kwargs.pop("max_tokens")
        if kwargs.get("dtype") is None:
            kwargs["dtype"] = backend.floatx()
        super().__init__(**kwargs)
        if output_mode == "binary":
            output_mode = MULTI_HOT
        _check_mode(self, output_mode, (COUNT, ONE_HOT, MULTI_HOT))
        if num_tokens is None:
            raise ValueError(f"[{self.name}] num_tokens must be set to use this layer. If the "
                             "number of tokens is not known beforehand, use the IntegerLookup "
                             "layer instead.")
        if num_tokens < 1:
            raise ValueError(f"[{self.name}] `num_tokens` must be >= 1. Received: "
                             f"num_tokens={num_tokens}.")
        if sparse:
            raise ValueError(f"[{self.name}] sparse outputs are not supported by nabi "
                             f"(received sparse={sparse})")
        self.num_tokens = int(num_tokens)
        self.output_mode = output_mode
        self.sparse = sparse

    def compute_output_shape(self, input_shape):
        return _encoded_shape(input_shape, self.output_mode, self.num_tokens)

    def call(self, inputs, count_weights=None):
        inputs = _as_tensor(inputs)
        if count_weights is not None and self.output_mode != COUNT:
            raise ValueError(f"[{self.name}] `count_weights` is not used when `output_mode` is "
                             f"not `'count'`. Received `count_weights={count_weights}`.")
        d = inputs._data
        if _gpu_ok(d, self._np_dtype):
            return _wrap(self._call_gpu(d, count_weights))
        x = _host(d)
        if x.dtype.kind == "f":
            if x.size and not np.all(np.floor(x) == x):
                raise ValueError(f"[{self.name}] CategoryEncoding expects integer inputs, got "
                                 f"non-integer values of dtype {x.dtype}")
            x = x.astype(np.int64)
        elif x.dtype.kind not in "biu":
            raise ValueError(f"[{self.name}] CategoryEncoding expects integer inputs, got dtype "
                             f"{x.dtype}")
        if x.size and (x.min() < 0 or x.max() >= self.num_tokens):
            raise ValueError(f"[{self.name}] Input values must be in the range 0 <= values < "
                             f"num_tokens with num_tokens={self.num_tokens}; received values "
                             f"in [{x.min()}, {x.max()}] (input shape {x.shape})")
        out = _encode_categorical(self, x, self.output_mode, self.num_tokens, self._np_dtype,
                                  count_weights)
        return _result(out, d)

    def _call_gpu(self, d, count_weights):
        """The encoding on the device. The checks read back one flag (whether some value is
        out of range or, for float inputs, not an integer), none for integers whose range is
        known on the host (device.known_range); only a failing check reads more (the values'
        range, for the message)."""
        from ...framework.device import in_range
        x = d if d.dtype.kind in "iu" else d.astype(np.int64)
        if d.size and not in_range(d, self.num_tokens):
            v = d if d.dtype.kind == "f" else x
            bad = (v < 0) | (v >= self.num_tokens)
            if d.dtype.kind == "f":
                bad = bad | (np.floor(d) != d)
            if bool(bad.any()):
                if d.dtype.kind == "f" and bool((np.floor(d) != d).any()):
                    raise ValueError(f"[{self.name}] CategoryEncoding expects integer inputs, "
                                     f"got non-integer values of dtype {d.dtype}")
                lo, hi = (int(a) for a in np.stack([x.min(), x.max()]).get())
                raise ValueError(f"[{self.name}] Input values must be in the range 0 <= "
                                 f"values < num_tokens with num_tokens={self.num_tokens}; "
                                 f"received values in [{lo}, {hi}] (input shape "
                                 f"{tuple(d.shape)})")
        return _encode_gpu(self, x, self.output_mode, self.num_tokens, self._np_dtype,
                           count_weights)

    def get_config(self):
        config = super().get_config()
        config.update({"num_tokens": self.num_tokens, "output_mode": self.output_mode,
                       "sparse": self.sparse})
        return config


# ----------------------------------------------------------------------------- Hashing


def _as_str_array(layer, x, encoding="utf-8"):
    """Strings (str) for a host array of str / bytes / objects."""
    if x.dtype.kind == "U":
        return x
    if x.dtype.kind == "S":
        return np.char.decode(x, encoding)
    if x.dtype.kind == "O":
        flat = [v.decode(encoding) if isinstance(v, bytes) else str(v) for v in x.reshape(-1)]
        return np.array(flat, dtype=str).reshape(x.shape) if flat else x.astype(str)
    raise ValueError(f"[{layer.name}] expected string inputs, got dtype {x.dtype}")


def _stable_hash(strings, num_buckets, key=None):
    """TF's bucket of each string: FarmHash Fingerprint64 (tf.strings.to_hash_bucket_fast), or
    SipHash-2-4 under the two key words `key` (to_hash_bucket_strong), mod num_buckets."""
    from ...ops.farmhash import fingerprint64, siphash24
    uniq, inv = np.unique(strings.reshape(-1), return_inverse=True)
    h = np.empty(len(uniq), np.uint64)
    for i, s in enumerate(uniq):
        b = s if isinstance(s, bytes) else str(s).encode("utf-8")
        h[i] = fingerprint64(b) if key is None else siphash24(b, key[0], key[1])
    return (h % np.uint64(num_buckets)).astype(np.int64)[inv].reshape(strings.shape)


class Hashing(Layer):
    """Hashes strings or integers (integers hash as their decimal strings, as Keras does) into
    `num_bins` bins; with `mask_value`, bin 0 is that value's and the others hash into
    [1, num_bins). The bins are TensorFlow's, bit for bit: FarmHash Fingerprint64 without a
    salt, SipHash-2-4 keyed by the salt (an int s means [s, s]) with one."""

    _autocast = False

    def __init__(self, num_bins, mask_value=None, salt=None, output_mode="int", sparse=False,
                 **kwargs):
        if num_bins is None or num_bins <= 0:
            raise ValueError(f"[Hashing] The `num_bins` for `Hashing` cannot be `None` or "
                             f"non-positive values. Received: num_bins={num_bins}.")
        _int_dtype_kwargs(kwargs, output_mode)
        super().__init__(**kwargs)
        if output_mode == INT and self._np_dtype.kind not in "iu":
            raise ValueError(f"[{self.name}] When `output_mode=\"int\"`, `dtype` should be an "
                             f"integer type. Received: dtype={self._dtype_name}")
        _check_mode(self, output_mode, (INT, ONE_HOT, MULTI_HOT, COUNT))
        if sparse:
            raise ValueError(f"[{self.name}] sparse outputs are not supported by nabi "
                             f"(received sparse={sparse})")
        self.num_bins = int(num_bins)
        self.mask_value = mask_value
        self.output_mode = output_mode
        self.sparse = sparse
        self.salt = None
        if salt is not None:
            if isinstance(salt, (tuple, list)) and len(salt) == 2:
                self.salt = [int(s) for s in salt]
            elif isinstance(salt, (int, np.integer)):
                self.salt = [int(salt), int(salt)]
            else:
                raise ValueError(f"[{self.name}] The `salt` argument for `Hashing` can only be "
                                 "a tuple of size 2 integers, or a single integer. Received: "
                                 f"salt={salt}.")

    def _key(self):
        if self.salt is None:
            return None
        return tuple(int(s) & (2 ** 64 - 1) for s in self.salt)

    def compute_output_shape(self, input_shape):
        return _encoded_shape(input_shape, self.output_mode, self.num_bins)

    def call(self, inputs):
        inputs = _as_tensor(inputs)
        d = inputs._data
        if _gpu_ok(d, self._np_dtype):
            return _wrap(self._call_gpu(d))
        x = _host(d)
        if x.dtype.kind in "iub":
            strings = x.astype(np.int64).astype(str)
        elif x.dtype.kind in "USO":
            strings = _as_str_array(self, x)
        else:
            raise ValueError(f"[{self.name}] Hashing expects string or integer inputs, got "
                             f"dtype {x.dtype} (input shape {x.shape})")
        bins = self.num_bins
        mask = None
        if self.mask_value is not None and bins > 1:
            bins -= 1
            mask = strings == str(self.mask_value)
        out = _stable_hash(strings, bins, self._key()) if strings.size else \
            np.zeros(strings.shape, np.int64)
        if mask is not None:
            out = np.where(mask, 0, out + 1)
        out = _encode_categorical(self, out, self.output_mode, self.num_bins, self._np_dtype)
        return _result(out, d)

    def _call_gpu(self, d):
        """Integer inputs hash on the device (csrc/cuda/preprocess_lookup.cu: the decimal
        string's Fingerprint64 / SipHash-2-4, the host path's bins); reads nothing back."""
        if d.dtype.kind == "f":
            raise ValueError(f"[{self.name}] Hashing expects string or integer inputs, got "
                             f"dtype {d.dtype} (input shape {tuple(d.shape)})")
        x = d if d.dtype.kind in "iu" else d.astype(np.int64)
        bins, offset, mask = self.num_bins, 0, None
        if self.mask_value is not None and bins > 1:
            bins, offset, mask = bins - 1, 1, _int_mask(self.mask_value)
        out = DeviceArray(_device_backend().hash_ints(x.buf, bins, self._key(), mask, offset))
        return _encode_gpu(self, out, self.output_mode, self.num_bins, self._np_dtype)

    def get_config(self):
        config = super().get_config()
        config.update({"num_bins": self.num_bins, "salt": self.salt,
                       "mask_value": self.mask_value, "output_mode": self.output_mode,
                       "sparse": self.sparse})
        return config


# ----------------------------------------------------------------------------- HashedCrossing

# tf.sparse.cross_hashed (which Keras's HashedCrossing calls) hashes a cross without building a
# string: it starts from the default hash key 0xDECAFCAFFE and folds in each feature with
# FingerprintCat64, a string feature as its Fingerprint64, an integer as its int64 bits.
_CROSS_HASH_KEY = 0xDECAFCAFFE
_CAT_MUL = np.uint64(0xc6a4a7935bd1e995)


def _shift_mix(v):
    return v ^ (v >> np.uint64(47))


def _fingerprint_cat64(fp1, fp2):
    """TF's FingerprintCat64 on uint64 arrays (products wrap mod 2**64, as in C++)."""
    with np.errstate(over="ignore"):
        r = fp1 ^ _CAT_MUL
        r = r ^ (_shift_mix(fp2 * _CAT_MUL) * _CAT_MUL)
        r = r * _CAT_MUL
        r = _shift_mix(r) * _CAT_MUL
        return _shift_mix(r)


def _feature_fingerprints(x):
    """uint64 per value of a flat host array: Fingerprint64 of a string's UTF-8 bytes, the
    two's-complement bits of an integer."""
    from ...ops.farmhash import fingerprint64
    if x.dtype.kind in "iu":
        return x.astype(np.int64).view(np.uint64)
    uniq, inv = np.unique(x, return_inverse=True)
    h = np.array([fingerprint64(s if isinstance(s, bytes) else str(s).encode("utf-8"))
                  for s in uniq.tolist()], np.uint64)
    return h[inv.reshape(-1)]


class HashedCrossing(Layer):
    """Crosses two or more categorical features (strings or integers) by hashing each tuple of
    values into `num_bins` bins, bit for bit as Keras (tf.sparse.cross_hashed). Inputs: a list
    or tuple of equal shapes `()`, `(batch,)` or `(batch, 1)`; output_mode 'int' gives bins of
    that shape (int64), 'one_hot' float vectors of length `num_bins`."""

    _autocast = False

    def __init__(self, num_bins, output_mode="int", sparse=False, **kwargs):
        if num_bins is None or int(num_bins) < 1:
            raise ValueError(f"[HashedCrossing] `num_bins` must be a positive integer. "
                             f"Received: num_bins={num_bins}")
        _int_dtype_kwargs(kwargs, output_mode)
        super().__init__(**kwargs)
        _check_mode(self, output_mode, (INT, ONE_HOT))
        if sparse:
            raise ValueError(f"[{self.name}] sparse outputs are not supported by nabi "
                             f"(received sparse={sparse})")
        self.num_bins = int(num_bins)
        self.output_mode = output_mode
        self.sparse = sparse

    def __call__(self, inputs=None, *args, **kwargs):
        # Each element is its own tensor: ([1, 2], [3, 4]) must not become one (2, 2) tensor.
        if isinstance(inputs, (list, tuple)) and not any(
                isinstance(v, KerasTensor) for v in inputs):
            inputs = [_as_tensor(v) for v in inputs]
        return super().__call__(inputs, *args, **kwargs)

    def _check_inputs(self, shapes, dtypes):
        desc = ", ".join(f"{s} {d}" for s, d in zip(shapes, dtypes))
        if len(shapes) < 2:
            raise ValueError(f"[{self.name}] HashedCrossing should be called on a list or "
                             f"tuple of at least two inputs. Received: {desc or 'none'}")
        first = tuple(shapes[0])
        if len(first) > 2 or (len(first) == 2 and first[-1] != 1):
            raise ValueError(f"[{self.name}] All HashedCrossing inputs should have shape (), "
                             f"(batch_size,) or (batch_size, 1). Received: {desc}")
        if any(tuple(s) != first for s in shapes[1:]):
            raise ValueError(f"[{self.name}] All HashedCrossing inputs should have equal "
                             f"shape. Received: {desc}")

    def compute_output_shape(self, input_shape):
        shapes = [tuple(s) for s in input_shape]
        self._check_inputs(shapes, ["?"] * len(shapes))
        return _encoded_shape(shapes[0], self.output_mode, self.num_bins)

    def call(self, inputs):
        if not isinstance(inputs, (list, tuple)):
            shape = tuple(getattr(inputs, "shape", ()))
            raise ValueError(f"[{self.name}] HashedCrossing should be called on a list or tuple "
                             f"of inputs. Received: one input of shape {shape}")
        datas = [_as_tensor(v)._data for v in inputs]
        if any(type(d) is DeviceArray for d in datas) and \
                all(getattr(d, "dtype", np.dtype("O")).kind in "biuf" for d in datas) and \
                np.dtype(self._np_dtype).name in _GPU_OUT:
            return _wrap(self._call_gpu(datas))
        hosts = [_host(d) for d in datas]
        self._check_inputs([h.shape for h in hosts], [h.dtype.name for h in hosts])
        bad = [(h.shape, h.dtype.name) for h in hosts if h.dtype.kind not in "iuUSO"]
        if bad:
            raise ValueError(f"[{self.name}] All HashedCrossing inputs should have an integer "
                             f"or string dtype. Received (shape, dtype): "
                             f"{[(h.shape, h.dtype.name) for h in hosts]}")
        h = np.full(hosts[0].size, _CROSS_HASH_KEY, np.uint64)
        for x in hosts:
            h = _fingerprint_cat64(h, _feature_fingerprints(x.reshape(-1)))
        bins = (h % np.uint64(self.num_bins)).astype(np.int64).reshape(hosts[0].shape)
        out = _encode_categorical(self, bins, self.output_mode, self.num_bins, self._np_dtype)
        src = next((d for d in datas if type(d) is DeviceArray), datas[0])
        return _result(out, src)

    def _call_gpu(self, datas):
        """Numeric inputs, one of them on the GPU: the cross hashes on the device
        (csrc/cuda/preprocess_lookup.cu: FingerprintCat64 over the int64 bits, the host path's
        bins); reads nothing back."""
        self._check_inputs([tuple(d.shape) for d in datas], [d.dtype.name for d in datas])
        if any(d.dtype.kind not in "iu" for d in datas):
            raise ValueError(f"[{self.name}] All HashedCrossing inputs should have an integer "
                             f"or string dtype. Received (shape, dtype): "
                             f"{[(tuple(d.shape), d.dtype.name) for d in datas]}")
        shape = tuple(datas[0].shape)
        xs = np.stack([to_device(d, "cuda").astype(np.int64).reshape(d.size) for d in datas])
        bins = DeviceArray(_device_backend().cross_hash(xs.buf, self.num_bins)).reshape(shape)
        return _encode_gpu(self, bins, self.output_mode, self.num_bins, self._np_dtype)

    def get_config(self):
        config = super().get_config()
        config.update({"num_bins": self.num_bins, "output_mode": self.output_mode,
                       "sparse": self.sparse})
        return config


# ----------------------------------------------------------------------------- lookups


class _IndexLookup(PreprocessingLayer):
    """Keras's IndexLookup: index layout [mask (output_mode 'int' only)] + [OOV x
    num_oov_indices] + vocabulary. Out-of-vocabulary values go to the OOV index (hashed over
    several when num_oov_indices > 1: integers by floormod, strings by Fingerprint64, as
    TF's to_hash_bucket_fast); with num_oov_indices=0 they raise. `invert=True` maps indices
    back to tokens. `adapt` orders the vocabulary by decreasing frequency, ties by decreasing
    token, as Keras does.

    output_mode='tf_idf' gives each index's count in a row times its idf weight: weights given
    with the vocabulary (`idf_weights`), or learned by `adapt` as
    log(1 + documents / (1 + documents containing the token)), where each row of a batch is a
    document and a 0-D or 1-D batch is one document, except that a 1-D array, list or Tensor
    given to `adapt` has one document per element (Keras 3.15). Without weights of their own the OOV indices weigh the mean of the others."""

    _is_string = False

    def __init__(self, max_tokens, num_oov_indices, mask_token, oov_token, vocabulary_dtype,
                 vocabulary=None, idf_weights=None, invert=False, output_mode="int",
                 sparse=False, pad_to_max_tokens=False, **kwargs):
        kwargs.pop("vocabulary_size", None)
        kwargs.pop("has_static_table", None)
        has_input_vocabulary = kwargs.pop("has_input_vocabulary", vocabulary is not None)
        if output_mode == "binary":
            output_mode = MULTI_HOT
        if output_mode == "tf-idf":
            output_mode = TF_IDF
        _int_dtype_kwargs(kwargs, output_mode)
        super().__init__(**kwargs)
        if max_tokens is not None and max_tokens <= 1:
            raise ValueError(f"[{self.name}] If set, `max_tokens` must be greater than 1. "
                             f"Received: max_tokens={max_tokens}")
        if pad_to_max_tokens and max_tokens is None:
            raise ValueError(f"[{self.name}] If pad_to_max_tokens is True, must set "
                             f"`max_tokens`. Received: max_tokens={max_tokens}")
        if num_oov_indices < 0:
            raise ValueError(f"[{self.name}] `num_oov_indices` must be greater than or equal to "
                             f"0. Received: num_oov_indices={num_oov_indices}")
        _check_mode(self, output_mode, (INT, ONE_HOT, MULTI_HOT, COUNT, TF_IDF))
        if invert and output_mode != INT:
            raise ValueError(f"[{self.name}] `output_mode` must be `'int'` when `invert` is "
                             f"true. Received: output_mode={output_mode}")
        if sparse:
            raise ValueError(f"[{self.name}] sparse outputs are not supported by nabi "
                             f"(received sparse={sparse})")
        if idf_weights is not None and output_mode != TF_IDF:
            raise ValueError(f"[{self.name}] `idf_weights` should only be set if `output_mode` "
                             f"is `'tf_idf'`. Received: idf_weights={idf_weights} and "
                             f"output_mode={output_mode}")
        if idf_weights is not None and vocabulary is None:
            raise ValueError(f"[{self.name}] `idf_weights` needs a `vocabulary` of the same "
                             f"length. Received: idf_weights of length {len(idf_weights)}, "
                             "vocabulary=None")
        if output_mode == INT and not invert and self._np_dtype.kind not in "iu":
            raise ValueError(f"[{self.name}] When `output_mode='int'`, `dtype` should be an "
                             f"integer type. Received: dtype={self._dtype_name}")
        self.invert = bool(invert)
        self.max_tokens = max_tokens
        self.num_oov_indices = int(num_oov_indices)
        self.mask_token = mask_token
        self.oov_token = oov_token
        self.output_mode = output_mode
        self.sparse = sparse
        self.pad_to_max_tokens = bool(pad_to_max_tokens)
        self.vocabulary_dtype = vocabulary_dtype
        self.input_vocabulary = vocabulary
        self._has_input_vocabulary = bool(has_input_vocabulary)
        self._tokens = None        # the learned/set tokens (no special tokens), host array
        self._sorted = None        # (sorted tokens, their indices) for lookups
        self._counts = {}
        self._idf = None           # tf_idf: float32 weight of each index (special ones first)
        self._doc_counts = {}      # tf_idf adapt: documents containing each token
        self._num_docs = 0
        if vocabulary is not None:
            self.set_vocabulary(vocabulary, idf_weights)

    # -- vocabulary ---------------------------------------------------------------------
    def _oov_start_index(self):
        return 1 if self.mask_token is not None and self.output_mode == INT else 0

    def _token_start_index(self):
        return self._oov_start_index() + self.num_oov_indices

    def _tokens_of(self, values):
        """Host array of this layer's token type."""
        a = _host(values) if isinstance(values, (Tensor, DeviceArray)) else \
            np.asarray(values if not isinstance(values, (list, tuple)) else list(values))
        if self._is_string:
            return _as_str_array(self, a, getattr(self, "encoding", "utf-8"))
        if a.dtype.kind == "f":
            a = a.astype(np.int64)
        elif a.dtype.kind == "O":
            a = a.astype(np.int64)
        elif a.dtype.kind not in "biu":
            raise ValueError(f"[{self.name}] {type(self).__name__} expects integer inputs, got "
                             f"dtype {a.dtype}")
        return a.astype(np.dtype(self.vocabulary_dtype))

    def vocabulary_size(self):
        """The size of the vocabulary, mask and OOV indices included."""
        n = 0 if self._tokens is None else len(self._tokens)
        return n + self._token_start_index()

    vocab_size = vocabulary_size

    def get_vocabulary(self, include_special_tokens=True):
        tokens = [] if self._tokens is None else [t.item() if hasattr(t, "item") else t
                                                  for t in self._tokens]
        if self._is_string:
            tokens = [str(t) for t in tokens]
        if not include_special_tokens:
            return tokens
        special = [self.mask_token] * self._oov_start_index() + \
            [self.oov_token] * self.num_oov_indices
        return special + tokens

    def set_vocabulary(self, vocabulary, idf_weights=None):
        """Sets the vocabulary (a list/array, or a file with one token a line), with or without
        the special tokens at its start; with output_mode='tf_idf' also `idf_weights`, one per
        entry of `vocabulary` (without the special tokens given, the OOV indices get the mean
        weight, as Keras does)."""
        if self.output_mode == TF_IDF and idf_weights is None:
            raise ValueError(f"[{self.name}] `idf_weights` must be set if output_mode is "
                             "'tf_idf'")
        if self.output_mode != TF_IDF and idf_weights is not None:
            raise ValueError(f"[{self.name}] `idf_weights` should only be set if output_mode is "
                             f"`'tf_idf'`. Received: output_mode={self.output_mode} and "
                             f"idf_weights={idf_weights}")
        if isinstance(vocabulary, (str, os.PathLike)):   # a file, one token a line (Keras)
            if self.output_mode == TF_IDF:
                raise ValueError(f"[{self.name}] output_mode 'tf_idf' does not support loading "
                                 "a vocabulary from file.")
            lines = read_vocabulary_file(self.name, vocabulary)
            vocabulary = lines if self._is_string else [int(v) for v in lines]
        vocab = self._tokens_of(vocabulary).reshape(-1)
        if vocab.size == 0:
            raise ValueError(f"[{self.name}] Cannot set an empty vocabulary, you passed "
                             f"{vocabulary}.")
        token_start = self._token_start_index()
        special = [self.mask_token] * self._oov_start_index() + \
            [self.oov_token] * self.num_oov_indices
        head = [v.item() if hasattr(v, "item") else v for v in vocab[:token_start]]
        if self._is_string:
            head = [str(v) for v in head]
        found_special = len(head) == len(special) and head == special
        tokens = vocab[token_start:] if found_special else vocab
        uniq, counts = np.unique(tokens, return_counts=True)
        if np.any(counts > 1):
            raise ValueError(f"[{self.name}] The passed vocabulary has at least one repeated "
                             "term. Please uniquify your dataset. The repeated terms are "
                             f"{uniq[counts > 1].tolist()}")
        if self.mask_token is not None and np.any(tokens == self._mask_key()):
            raise ValueError(f"[{self.name}] Found reserved mask token at unexpected location "
                             "in `vocabulary`. Note that passed `vocabulary` does not need to "
                             "include the OOV and mask tokens. Either remove all mask and OOV "
                             "tokens, or include them only at the start of the vocabulary in "
                             f"precisely this order: {special}. Received: "
                             f"mask_token={self.mask_token}")
        if self.oov_token is not None and self.invert and np.any(tokens == self._oov_key()):
            raise ValueError(f"[{self.name}] Found reserved OOV token at unexpected location in "
                             "`vocabulary`. Either remove all mask and OOV tokens, or include "
                             f"them only at the start of the vocabulary in precisely this "
                             f"order: {special}. Received: oov_token={self.oov_token}")
        new_size = token_start + len(tokens)
        if self.max_tokens is not None and new_size > self.max_tokens:
            raise ValueError(f"[{self.name}] Attempted to set a vocabulary larger than the "
                             f"maximum vocab size. Passed vocab size is {new_size}, max vocab "
                             f"size is {self.max_tokens}.")
        idf = None
        if self.output_mode == TF_IDF:
            w = np.asarray(_host(idf_weights) if isinstance(idf_weights, (Tensor, DeviceArray))
                           else idf_weights, np.float64)
            if w.ndim != 1:
                raise ValueError(f"[{self.name}] `idf_weights` must be a 1-D array. Received: "
                                 f"shape {w.shape}")
            if len(w) != vocab.size:
                raise ValueError(f"[{self.name}] `idf_weights` must be the same length as "
                                 f"vocabulary. len(idf_weights) is {len(w)}, len(vocabulary) "
                                 f"is {vocab.size}")
            if not found_special:
                w = np.concatenate([np.full(token_start, np.mean(w) if w.size else 0.0), w])
            idf = w
        self._set_tokens(tokens)
        self._idf = None if idf is None else idf.astype(np.float32)

    def _mask_key(self):
        return str(self.mask_token) if self._is_string else self.mask_token

    def _oov_key(self):
        return str(self.oov_token) if self._is_string else self.oov_token

    def _set_tokens(self, tokens):
        tokens = np.asarray(tokens)
        self._tokens = tokens
        order = np.argsort(tokens, kind="stable")
        self._sorted = (tokens[order], order.astype(np.int64) + self._token_start_index())

    # -- adapt --------------------------------------------------------------------------
    def reset_state(self):
        self._counts = {}
        self._doc_counts = {}
        self._num_docs = 0

    def update_state(self, data):
        if self._has_input_vocabulary:
            raise ValueError(f"[{self.name}] Cannot adapt {type(self).__name__} layer after "
                             "setting a static vocabulary via init argument or "
                             "`set_vocabulary`.")
        tokens = self._tokens_of(data).reshape(-1)
        uniq, counts = np.unique(tokens, return_counts=True)
        c = self._counts
        for t, n in zip(uniq.tolist(), counts.tolist()):
            c[t] = c.get(t, 0) + n
        if self.output_mode == TF_IDF:
            # Keras: each row of a batch is a document; a 0-D or 1-D batch is one document
            docs = self._tokens_of(data)
            docs = docs.reshape(docs.shape[0] if docs.ndim > 1 else 1, -1)
            dc = self._doc_counts
            for row in docs:
                for t in np.unique(row).tolist():
                    dc[t] = dc.get(t, 0) + 1
            self._num_docs += docs.shape[0]

    def adapt(self, data, batch_size=None, steps=None):
        from ...data import Dataset
        if self.output_mode == TF_IDF and not isinstance(data, Dataset):
            # Keras 3: a 1-D array, list or Tensor adapts as a column, one document per element
            arr = _host(data) if isinstance(data, (Tensor, DeviceArray)) else np.asarray(data)
            if arr.ndim == 1:
                data = arr[:, None]
        super().adapt(data, batch_size=batch_size, steps=steps)

    def finalize_state(self):
        if self._has_input_vocabulary or not self._counts:
            return
        c = dict(self._counts)
        dc, num_docs = self._doc_counts, self._num_docs
        if self.mask_token is not None:
            c.pop(self._mask_key(), None)
        if self.oov_token is not None:
            c.pop(self._oov_key(), None)
        if not c:
            self._counts = {}
            return
        tokens = np.array(list(c.keys()),
                          dtype=str if self._is_string else np.dtype(self.vocabulary_dtype))
        counts = np.array(list(c.values()), np.int64)
        order = np.lexsort((tokens, counts))[::-1]
        if self.max_tokens:
            order = order[:self.max_tokens - self._token_start_index()]
        self._set_tokens(tokens[order])
        if self.output_mode == TF_IDF:
            df = np.array([dc.get(t, 0) for t in self._tokens.tolist()], np.float64)
            w = np.log(1.0 + num_docs / (1.0 + df)).astype(np.float32)
            self._idf = np.concatenate([np.full(self._token_start_index(), np.mean(w), np.float32),
                                        w])
        self.reset_state()

    def build(self, input_shape):
        self.built = True

    # -- call ---------------------------------------------------------------------------
    def _depth(self):
        return self.max_tokens if self.pad_to_max_tokens else self.vocabulary_size()

    def compute_output_shape(self, input_shape):
        if self.output_mode == INT:
            return tuple(input_shape)
        return (tuple(input_shape)[0] if len(input_shape) else None, self._depth())

    def _lookup(self, keys):
        """Indices of `keys` in the vocabulary; -1 where absent."""
        out = np.full(keys.shape, -1, np.int64)
        if self._sorted is None or not keys.size:
            return out
        st, si = self._sorted
        pos = np.searchsorted(st, keys)
        pos_c = np.minimum(pos, len(st) - 1)
        hit = (pos < len(st)) & (st[pos_c] == keys)
        out[hit] = si[pos_c[hit]]
        return out

    def __call__(self, inputs, *args, **kwargs):
        from ...ragged import RaggedTensor
        if isinstance(inputs, RaggedTensor) and self.output_mode == INT:
            # Element-wise lookup: the same row partition over the looked-up flat values, as
            # Keras does for a ragged input (the text-generation tutorial's unicode_split).
            return inputs.with_flat_values(
                super().__call__(inputs.flat_values, *args, **kwargs))
        return super().__call__(inputs, *args, **kwargs)

    def call(self, inputs):
        inputs = _as_tensor(inputs)
        if self.output_mode != INT and not self.pad_to_max_tokens and self._tokens is None:
            raise RuntimeError(f"[{self.name}] When using `output_mode={self.output_mode}` and "
                               "`pad_to_max_tokens=False`, you must set the layer's vocabulary "
                               "before calling it. Either pass a `vocabulary` argument to the "
                               "layer, or call `adapt` with some sample data.")
        d = inputs._data
        if not self._is_string and _gpu_ok(d, self._np_dtype) and \
                not (self.invert and self.oov_token is None):
            return _wrap(self._call_invert_gpu(d) if self.invert else self._call_gpu(d))
        if self.invert:
            return self._call_invert(d)
        keys = self._tokens_of(d)
        idx = self._lookup(keys)
        masked = (keys == self._mask_key()) if self.mask_token is not None else None
        oov = idx < 0 if masked is None else (idx < 0) & ~masked
        if self.num_oov_indices == 0:
            from .base import _CTX
            if np.any(oov) and _CTX.symbolic:
                idx[oov] = 0   # the trial zeros of a call on a keras.Input: only shapes count
            elif np.any(oov):
                bad = np.unique(keys[oov])[:10].tolist()
                raise ValueError(f"[{self.name}] When `num_oov_indices=0` all inputs should be "
                                 f"in vocabulary, found OOV values {bad}, consider setting "
                                 "`num_oov_indices=1`.")
        elif self.num_oov_indices == 1:
            idx[oov] = self._oov_start_index()
        elif np.any(oov):
            if self._is_string:
                h = _stable_hash(keys[oov], self.num_oov_indices)
            else:
                h = np.mod(keys[oov].astype(np.int64), self.num_oov_indices)
            idx[oov] = h + self._oov_start_index()
        if masked is not None:
            idx[masked] = 0 if self.output_mode == INT else -1   # dropped by the encoding
        if self.output_mode != TF_IDF:
            out = _encode_categorical(self, idx, self.output_mode, self._depth(), self._np_dtype)
            return _result(out, d)
        depth = self._depth()
        out = _encode_categorical(self, idx, COUNT, depth, self._np_dtype)
        w = np.zeros(depth, np.float32)          # indices past the vocabulary weigh 0 (Keras)
        if self._idf is not None:
            k = min(depth, len(self._idf))
            w[:k] = self._idf[:k]
        return _result((out * w).astype(self._np_dtype, copy=False), d)

    def _gpu_table(self):
        """The sorted vocabulary (int64 keys, their indices) on the GPU, made once per
        vocabulary (set_vocabulary / adapt sort it on the host: _set_tokens)."""
        cached = getattr(self, "_gpu_sorted", None)
        if cached is None or cached[0] is not self._sorted:
            st, si = self._sorted
            cached = (self._sorted, _dev_arr(st.astype(np.int64)), _dev_arr(si.astype(np.int64)))
            self._gpu_sorted = cached
        return cached[1], cached[2]

    def _call_gpu(self, d):
        """The lookup of GPU integer keys on the device (csrc/cuda/preprocess_lookup.cu's
        binary search; OOV, mask and the encodings by device ops): nothing is read back, except
        one flag with num_oov_indices=0 (whether some key is out of the vocabulary)."""
        if d.dtype.kind == "f":
            d = d.astype(np.int64)
        keys = d.astype(np.dtype(self.vocabulary_dtype))
        if self._sorted is None or not keys.size:
            idx = np.full(keys.shape, -1, np.int64)
            idx = to_device(idx, "cuda")
        else:
            st, si = self._gpu_table()
            idx = DeviceArray(_device_backend().vocab_lookup(st.buf, si.buf, keys.buf))
        masked = (keys == self._mask_key()) if self.mask_token is not None else None
        oov = idx < 0 if masked is None else (idx < 0) & ~masked
        start = self._oov_start_index()
        if self.num_oov_indices == 0:
            from .base import _CTX
            if _CTX.symbolic:
                idx = np.where(oov, 0, idx)
            elif keys.size and bool(oov.any()):   # the one read: the clear error below
                bad = np.unique(_host(keys)[_host(oov)])[:10].tolist()
                raise ValueError(f"[{self.name}] When `num_oov_indices=0` all inputs should be "
                                 f"in vocabulary, found OOV values {bad}, consider setting "
                                 "`num_oov_indices=1`.")
        elif self.num_oov_indices == 1:
            idx = np.where(oov, start, idx)
        else:
            h = np.mod(keys.astype(np.int64), self.num_oov_indices) + start
            idx = np.where(oov, h, idx)
        if masked is not None:
            idx = np.where(masked, 0 if self.output_mode == INT else -1, idx)
        idx = idx.astype(np.int64)
        if self.output_mode != TF_IDF:
            return _encode_gpu(self, idx, self.output_mode, self._depth(), self._np_dtype)
        depth = self._depth()
        out = _encode_gpu(self, idx, COUNT, depth, self._np_dtype)
        w = np.zeros(depth, np.float32)          # indices past the vocabulary weigh 0 (Keras)
        if self._idf is not None:
            k = min(depth, len(self._idf))
            w[:k] = self._idf[:k]
        return (out * _dev_arr(w)).astype(self._np_dtype)

    def _call_invert_gpu(self, d):
        """invert=True on GPU indices: a take from the vocabulary table on the device (indices
        outside it give the OOV token, index 0 the mask token); reads nothing back."""
        if d.dtype.kind == "f":
            raise ValueError(f"[{self.name}] with invert=True the inputs are indices (integers), "
                             f"got dtype {d.dtype}")
        from ...framework.device import take
        vocab = self.get_vocabulary(include_special_tokens=True)
        table = np.array([self.oov_token if v is None else v for v in vocab], np.int64)
        vd = np.dtype(self.vocabulary_dtype)
        x = d.astype(np.int64)
        if not len(table):
            out = np.full(x.shape, self.oov_token, np.int64)
            out = to_device(out, "cuda")
        else:
            valid = (x >= 0) & (x < len(table))
            ii = np.where(valid, x, 0)
            out = np.where(valid, take(_dev_arr(table), ii, 0, checked=True), self.oov_token)
        if self.mask_token is not None:
            out = np.where(x == 0, self._mask_key(), out)
        return out.astype(vd)

    def _call_invert(self, d):
        x = _host(d)
        if x.dtype.kind not in "biu":
            raise ValueError(f"[{self.name}] with invert=True the inputs are indices (integers), "
                             f"got dtype {x.dtype}")
        x = x.astype(np.int64)
        vocab = self.get_vocabulary(include_special_tokens=True)
        if self._is_string:
            table = np.array([str(v) if v is not None else "" for v in vocab], dtype=object)
            oov = str(self.oov_token)
        else:
            table = np.array([self.oov_token if v is None else v for v in vocab], np.int64)
            oov = self.oov_token
        valid = (x >= 0) & (x < len(table))
        out = np.empty(x.shape, table.dtype)
        out[...] = oov
        out[valid] = table[x[valid]]
        if self.mask_token is not None:
            out[x == 0] = self._mask_key()
        if self._is_string:   # bytes, as TF's string tensors show them in .numpy()
            return _wrap(_utf8_storage(out.astype(str)))
        return _result(out.astype(np.dtype(self.vocabulary_dtype)), d)

    def get_config(self):
        config = super().get_config()
        vocab = self.get_vocabulary(include_special_tokens=False) if self._tokens is not None \
            else None
        idf = None
        if vocab is not None and self.output_mode == TF_IDF and self._idf is not None:
            vocab = self.get_vocabulary(include_special_tokens=True)  # keeps the OOV weights
            idf = [float(v) for v in self._idf]
        config.update({"invert": self.invert, "max_tokens": self.max_tokens,
                       "num_oov_indices": self.num_oov_indices, "oov_token": self.oov_token,
                       "mask_token": self.mask_token, "output_mode": self.output_mode,
                       "sparse": self.sparse, "pad_to_max_tokens": self.pad_to_max_tokens,
                       "vocabulary_dtype": self.vocabulary_dtype, "idf_weights": idf,
                       "vocabulary": vocab,
                       "vocabulary_size": self.vocabulary_size()})
        if vocab is not None and not self._has_input_vocabulary:
            config["has_input_vocabulary"] = False   # adapted: may be adapted again
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        # Keras 3.15 configs: nabi hashes OOV values as oov_method="floormod", without salt
        _pop_inert_options(cls.__name__, config, oov_method="floormod", salt=None)
        return super().from_config(config)


class IntegerLookup(_IndexLookup):
    """Maps integers to indices of a vocabulary (given, or learned by `adapt`): see
    `_IndexLookup` for the index layout. Defaults as Keras: one OOV index, oov_token=-1,
    no mask token."""

    def __init__(self, max_tokens=None, num_oov_indices=1, mask_token=None, oov_token=-1,
                 vocabulary=None, vocabulary_dtype="int64", idf_weights=None, invert=False,
                 output_mode="int", sparse=False, pad_to_max_tokens=False, **kwargs):
        if vocabulary_dtype not in ("int64", "int32"):
            raise ValueError(f"[IntegerLookup] `vocabulary_dtype` must be 'int64' or 'int32'. "
                             f"Received: vocabulary_dtype={vocabulary_dtype}")
        if max_tokens is not None and max_tokens <= 0:
            raise ValueError(f"[IntegerLookup] If `max_tokens` is set, it must be greater than "
                             f"0. Received: max_tokens={max_tokens}")
        if num_oov_indices < 0:
            raise ValueError(f"[IntegerLookup] The value of `num_oov_indices` argument for "
                             f"`IntegerLookup` must >= 0. Received: num_oov_indices="
                             f"{num_oov_indices}")
        if mask_token is not None:
            mask_token = int(mask_token)
        if oov_token is not None:
            oov_token = int(oov_token)
        super().__init__(max_tokens=max_tokens, num_oov_indices=num_oov_indices,
                         mask_token=mask_token, oov_token=oov_token,
                         vocabulary_dtype=vocabulary_dtype, vocabulary=vocabulary,
                         idf_weights=idf_weights, invert=invert, output_mode=output_mode,
                         sparse=sparse, pad_to_max_tokens=pad_to_max_tokens, **kwargs)


class StringLookup(_IndexLookup):
    """Maps strings to indices of a vocabulary (given, or learned by `adapt`): see
    `_IndexLookup` for the index layout. Defaults as Keras: one OOV index, oov_token='[UNK]',
    no mask token. Inputs may be str or bytes (decoded with `encoding`); `invert=True`
    returns string tokens (bytes in `.numpy()`, as TF)."""

    _is_string = True

    def __init__(self, max_tokens=None, num_oov_indices=1, mask_token=None, oov_token="[UNK]",
                 vocabulary=None, idf_weights=None, encoding="utf-8", invert=False,
                 output_mode="int", sparse=False, pad_to_max_tokens=False, **kwargs):
        kwargs.pop("vocabulary_dtype", None)
        self.encoding = encoding or "utf-8"
        super().__init__(max_tokens=max_tokens, num_oov_indices=num_oov_indices,
                         mask_token=mask_token, oov_token=oov_token, vocabulary_dtype="string",
                         vocabulary=vocabulary, idf_weights=idf_weights, invert=invert,
                         output_mode=output_mode, sparse=sparse,
                         pad_to_max_tokens=pad_to_max_tokens, **kwargs)

    def get_config(self):
        config = super().get_config()
        config.pop("vocabulary_dtype", None)
        config["encoding"] = self.encoding
        return config


# ----------------------------------------------------------------------------- image helpers

H_AXIS, W_AXIS = -3, -2


def _check_image(layer, d):
    if d.ndim not in (3, 4):
        raise ValueError(f"[{layer.name}] {type(layer).__name__} expects images of shape "
                         f"(height, width, channels) or (batch, height, width, channels), got "
                         f"shape {tuple(d.shape)}")


def _image_batch(layer, inputs):
    """(host float batch (B, H, W, C), was_unbatched, source storage) for an image input."""
    d = inputs._data
    _check_image(layer, d)
    x = _host(d)
    if x.dtype.kind != "f":
        x = x.astype(layer._np_dtype)
    return (x[None] if d.ndim == 3 else x), d.ndim == 3, d


def _image_out(layer, x, unbatched, src):
    x = np.asarray(x, layer._np_dtype if layer._np_dtype.kind == "f" else np.float32)
    return _result(x[0] if unbatched else x, src)


def _attach_grad(layer, inputs, out, adjoint, linear):
    """Records `out` = f(`inputs`) computed on the host (the NumPy paths) on the gradient tape.
    `adjoint` maps the output's gradient, a float64 batch (B, h, w, C), to the input's
    (B, H, W, C): the transpose of f's Jacobian J; `linear` applies J itself (B, H, W, C) ->
    (B, h, w, C) (f without its constant part: fill values, offsets; clip masks fixed), the
    adjoint's own derivative, so the gradient is differentiable again (nested tapes).
    Integer images record nothing (no gradient, as in TF). A GPU input on the host path
    (float16 images) copies the gradient over and back."""
    d = inputs._data
    if d.dtype.kind != "f" or not is_recording():
        return out
    unb, op = d.ndim == 3, type(layer).__name__

    def run(fn, a, dtype):
        dev = type(a) is DeviceArray
        a = np.asarray(a.get() if dev else a, np.float64)
        r = fn(a[None] if unb else a)
        r = np.ascontiguousarray(r[0] if unb else r, dtype)
        return to_device(r, "cuda") if dev else r

    def node(t, fn, back, dtype, back_dtype):
        """A Tensor op applying fn to t, recorded with back (and fn again) as its gradient."""
        r = _wrap(run(fn, t._data, dtype))
        record((t,), r, lambda g, needs: (run(back, g, back_dtype),),
               lambda g, needs: (node(g, back, fn, back_dtype, dtype),), op)
        return r
    o_dtype = out._data.dtype
    record((inputs,), out, lambda g, needs: (run(adjoint, g, d.dtype),),
           lambda g, needs: (node(g, adjoint, linear, d.dtype, o_dtype),), op)
    return out


def _image_output_shape(input_shape, height, width):
    s = list(input_shape)
    if len(s) < 3:
        return tuple(s)
    s[H_AXIS] = height
    s[W_AXIS] = width
    return tuple(s)


# GPU inputs: the image layers below compute on the device (no host round trip); the random
# parameters are drawn on the host as for host inputs, so a seed gives the same images.
_GPU_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def _gpu_batch(layer, inputs, ints=True):
    """For an image on the GPU: (float batch (B, H, W, C) on the device, connected to the tape
    through the reshape / cast, was_unbatched, the result's dtype); None when the host path
    handles it (float16 images, a layer dtype other than float32/float64, integer images when
    not `ints`)."""
    d = inputs._data
    if type(d) is not DeviceArray:
        return None
    _check_image(layer, d)
    out = layer._np_dtype if layer._np_dtype.kind == "f" else np.dtype(np.float32)
    work = d.dtype if d.dtype.kind == "f" else layer._np_dtype
    if (out not in _GPU_FLOATS or work not in _GPU_FLOATS or d.dtype.kind not in "iuf"
            or (not ints and d.dtype.kind != "f")):
        return None
    x = inputs
    if d.dtype != work:
        x = _m.cast(x, work.name)
    if d.ndim == 3:
        x = _ao.reshape(x, (1,) + tuple(d.shape))
    return x, d.ndim == 3, out


def _gpu_out(y, unbatched, out):
    if unbatched:
        y = _ao.reshape(y, tuple(y._data.shape[1:]))
    return y if y._data.dtype == out else _m.cast(y, out.name)


def _device_const(arr):
    return _wrap(to_device(np.ascontiguousarray(arr), "cuda"))


def _resize_matrices(n_in, n_out, interpolation, dtype):
    """(n_out, n_in) matrix of _resize along one axis: one-hot rows for nearest (exact), the
    two lerp weights for bilinear, tf.image.resize's matrices for the other methods."""
    if interpolation == "nearest":
        i = np.clip(np.floor((np.arange(n_out) + 0.5) * (n_in / n_out)).astype(np.int64), 0,
                    n_in - 1)
        m = np.zeros((n_out, n_in), dtype)
        m[np.arange(n_out), i] = 1
        return m
    if interpolation == "bilinear":
        lo, hi, frac = _resize_weights(n_in, n_out)
        frac = frac.astype(dtype)
        m = np.zeros((n_out, n_in), dtype)
        np.add.at(m, (np.arange(n_out), lo), 1 - frac)
        np.add.at(m, (np.arange(n_out), hi), frac)
        return m
    from ... import image as _image
    return _image._resize_matrix(interpolation, n_in, n_out, False).astype(dtype)


def _resize_gpu(x, height, width, interpolation):
    """_resize on the device: rows, then columns, by resize matrices (einsum). Nearest is
    exact; the blends round differently from the host's lerp (float rounding only)."""
    from ...ops.linalg_ops import einsum
    B, H, W, C = x._data.shape
    dt = x._data.dtype
    if H != height or interpolation != "nearest":
        x = einsum("oh,bhwc->bowc", _device_const(_resize_matrices(H, height, interpolation, dt)),
                   x)
    if W != width or interpolation != "nearest":
        x = einsum("pw,bowc->bopc", _device_const(_resize_matrices(W, width, interpolation, dt)),
                   x)
    return x


def _resize_weights(in_size, out_size):
    """TF's half-pixel-centre bilinear source rows: lower/upper index and the lerp weight."""
    scale = in_size / out_size
    src = (np.arange(out_size, dtype=np.float64) + 0.5) * scale - 0.5
    f = np.floor(src)
    lo = np.maximum(f, 0).astype(np.int64)
    hi = np.minimum(np.ceil(src), in_size - 1).astype(np.int64)
    return lo, hi, (src - f)


def _resize(x, height, width, interpolation):
    """tf.image.resize (antialias=False, half-pixel centres) of a (B, H, W, C) float batch:
    separable gathers, in TF's order (lerp along x on the two source rows, then along y)."""
    B, H, W, C = x.shape
    if interpolation == "nearest":
        def idx(n_in, n_out):
            i = np.floor((np.arange(n_out) + 0.5) * (n_in / n_out)).astype(np.int64)
            return np.clip(i, 0, n_in - 1)
        return np.take(np.take(x, idx(H, height), axis=1), idx(W, width), axis=2)
    if interpolation != "bilinear":
        # bicubic, area, lanczos3/5, gaussian, mitchellcubic: tf.image.resize's separable
        # weight matrices (nabi.image, checked against TF there), rows then columns
        from ... import image as _image
        my = _image._resize_matrix(interpolation, H, height, False).astype(x.dtype)
        mx = _image._resize_matrix(interpolation, W, width, False).astype(x.dtype)
        return np.einsum("pw,bowc->bopc", mx, np.einsum("oh,bhwc->bowc", my, x))
    ylo, yhi, yl = _resize_weights(H, height)
    xlo, xhi, xl = _resize_weights(W, width)
    left = np.take(x, xlo, axis=2)
    cols = left + (np.take(x, xhi, axis=2) - left) * xl.astype(x.dtype)[None, None, :, None]
    top = np.take(cols, ylo, axis=1)
    return top + (np.take(cols, yhi, axis=1) - top) * yl.astype(x.dtype)[None, :, None, None]


def _resize_adjoint(g, H, W, interpolation):
    """The transpose of _resize from (B, H, W, C) to g's (B, h, w, C): the resize matrices'
    transposes (one-hot rows for nearest, bilinear's two lerp weights, tf.image.resize's
    weights for the other methods), which are exactly _resize's Jacobian."""
    my = _resize_matrices(H, g.shape[1], interpolation, np.float64)
    mx = _resize_matrices(W, g.shape[2], interpolation, np.float64)
    return np.einsum("oh,bowc->bhwc", my, np.einsum("pw,bopc->bowc", mx, g))


def _smart_window(H, W, height, width):
    """Keras's smart_resize crop: (row, column, height, width) of the largest centred window
    of an H x W image with the target aspect ratio."""
    crop_h = min(H, int(np.float32(W * height) / np.float32(width)))
    crop_w = min(W, int(np.float32(H * width) / np.float32(height)))
    return int(np.float32(H - crop_h) / 2), int(np.float32(W - crop_w) / 2), crop_h, crop_w


def _smart_resize(x, height, width, interpolation="bilinear"):
    """Keras's smart_resize: the largest centred crop with the target aspect ratio, resized."""
    h0, w0, crop_h, crop_w = _smart_window(x.shape[1], x.shape[2], height, width)
    return _resize(x[:, h0:h0 + crop_h, w0:w0 + crop_w], height, width, interpolation)


def _smart_resize_adjoint(g, H, W, interpolation="bilinear"):
    """The transpose of _smart_resize: the crop window's resize adjoint, zero outside."""
    h0, w0, crop_h, crop_w = _smart_window(H, W, g.shape[1], g.shape[2])
    gx = np.zeros((g.shape[0], H, W, g.shape[3]), g.dtype)
    gx[:, h0:h0 + crop_h, w0:w0 + crop_w] = _resize_adjoint(g, crop_h, crop_w, interpolation)
    return gx


def _smart_resize_layer(layer, inputs, height, width):
    """CenterCrop / RandomCrop on an image smaller than the target (RandomCrop at inference
    too): _smart_resize, on the device for GPU images (a slice and the resize matrices), with
    its gradient on both."""
    g = _gpu_batch(layer, inputs)
    if g is not None:
        x, unb, out = g
        h0, w0, crop_h, crop_w = _smart_window(x._data.shape[1], x._data.shape[2], height, width)
        x = x[:, h0:h0 + crop_h, w0:w0 + crop_w, :]
        return _gpu_out(_resize_gpu(x, height, width, "bilinear"), unb, out)
    x, unb, src = _image_batch(layer, inputs)
    H, W = x.shape[1:3]
    out = _image_out(layer, _smart_resize(x, height, width), unb, src)
    return _attach_grad(layer, inputs, out, lambda g: _smart_resize_adjoint(g, H, W),
                        lambda h: _smart_resize(h, height, width))


_INTERPOLATIONS = ("bilinear", "nearest", "bicubic", "area", "lanczos3", "lanczos5", "gaussian",
                   "mitchellcubic")


def _check_size(layer, height, width):
    for what, v in (("height", height), ("width", width)):
        if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
            raise ValueError(f"[{layer.name}] `{what}` must be a positive integer. Received: "
                             f"{what}={v!r}")


# ----------------------------------------------------------------------------- Resizing / crops


class Resizing(Layer):
    """Resizes images to (height, width) like tf.image.resize (half-pixel centres, no
    antialiasing): 'bilinear', 'nearest', 'bicubic', 'area', 'lanczos3', 'lanczos5', 'gaussian'
    or 'mitchellcubic'. With crop_to_aspect_ratio=True the largest centred
    window with the target aspect ratio is cropped first (Keras's smart_resize); with
    pad_to_aspect_ratio=True the image is padded with fill_value toward it. Float images
    give the layer's float dtype; integer images (uint8...) keep theirs, rounded and saturated,
    as in Keras 3."""

    _autocast_ints = False

    def __init__(self, height, width, interpolation="bilinear", crop_to_aspect_ratio=False,
                 pad_to_aspect_ratio=False, fill_mode="constant", fill_value=0.0, **kwargs):
        super().__init__(**kwargs)
        _check_size(self, height, width)
        if interpolation not in _INTERPOLATIONS:
            raise NotImplementedError(f"[{self.name}] interpolation {interpolation!r} is not "
                                      f"supported by nabi; use one of {list(_INTERPOLATIONS)}")
        if fill_mode != "constant":
            raise ValueError(f"[{self.name}] Only fill_mode='constant' is supported. Received: "
                             f"fill_mode={fill_mode!r}")
        if crop_to_aspect_ratio and pad_to_aspect_ratio:
            raise ValueError(f"[{self.name}] Only one of `crop_to_aspect_ratio` and "
                             "`pad_to_aspect_ratio` can be True.")
        self.height = int(height)
        self.width = int(width)
        self.interpolation = interpolation
        self.crop_to_aspect_ratio = bool(crop_to_aspect_ratio)
        self.pad_to_aspect_ratio = bool(pad_to_aspect_ratio)
        self.fill_mode = fill_mode
        self.fill_value = float(fill_value)

    def _pad_amounts(self, H, W):
        """Keras 3's pad_to_aspect_ratio: int((target - size) / 2) rows (columns) of
        fill_value on both sides, toward the target aspect ratio."""
        ph = max(H, int(np.float32(W * self.height) / np.float32(self.width)))
        pw = max(W, int(np.float32(H * self.width) / np.float32(self.height)))
        return int(np.float32(ph - H) / 2), int(np.float32(pw - W) / 2)

    def _pad(self, x):
        h0, w0 = self._pad_amounts(x.shape[1], x.shape[2])
        return np.pad(x, ((0, 0), (h0, h0), (w0, w0), (0, 0)), constant_values=self.fill_value)

    def _adjoint(self, g, H, W):
        """The transpose of the float path's map (B, H, W, C) -> g's (B, h, w, C)."""
        if self.crop_to_aspect_ratio:
            return _smart_resize_adjoint(g, H, W, self.interpolation)
        if self.pad_to_aspect_ratio:
            h0, w0 = self._pad_amounts(H, W)
            gp = _resize_adjoint(g, H + 2 * h0, W + 2 * w0, self.interpolation)
            return gp[:, h0:h0 + H, w0:w0 + W]
        return _resize_adjoint(g, H, W, self.interpolation)

    def _linear(self, h):
        """The float path's map without its constant part (the pad's fill value)."""
        if self.crop_to_aspect_ratio:
            return _smart_resize(h, self.height, self.width, self.interpolation)
        if self.pad_to_aspect_ratio:
            h0, w0 = self._pad_amounts(h.shape[1], h.shape[2])
            h = np.pad(h, ((0, 0), (h0, h0), (w0, w0), (0, 0)))
        return _resize(h, self.height, self.width, self.interpolation)

    def call(self, inputs):
        inputs = _as_tensor(inputs)
        g = _gpu_batch(self, inputs)
        if g is not None:
            return self._call_gpu(*g, inputs._data.dtype)
        x, unb, src = _image_batch(self, inputs)
        if self.crop_to_aspect_ratio:
            y = _smart_resize(x, self.height, self.width, self.interpolation)
        elif self.pad_to_aspect_ratio:
            y = _resize(self._pad(x), self.height, self.width, self.interpolation)
        else:
            y = _resize(x, self.height, self.width, self.interpolation)
        in_dtype = inputs._data.dtype
        if in_dtype.kind in "iu":
            # Keras 3: integer images keep their dtype, rounded (half to even) and saturated
            info = np.iinfo(in_dtype)
            y = np.clip(np.round(y), info.min, info.max).astype(in_dtype)
            return _result(y[0] if unb else y, src)
        H, W = x.shape[1:3]
        return _attach_grad(self, inputs, _image_out(self, y, unb, src),
                            lambda g: self._adjoint(g, H, W), self._linear)

    def _call_gpu(self, x, unb, out, in_dtype):
        B, H, W, C = x._data.shape
        if self.crop_to_aspect_ratio:
            h0, w0, crop_h, crop_w = _smart_window(H, W, self.height, self.width)
            x = x[:, h0:h0 + crop_h, w0:w0 + crop_w, :]
        elif self.pad_to_aspect_ratio:
            h0, w0 = self._pad_amounts(H, W)
            x = _ao.pad(x, [[0, 0], [h0, h0], [w0, w0], [0, 0]],
                        constant_values=self.fill_value)
        y = _resize_gpu(x, self.height, self.width, self.interpolation)
        if in_dtype.kind in "iu":   # as the host path: rounded (half to even), saturated
            info = np.iinfo(in_dtype)
            y = _m.clip_by_value(_m.round(y), float(info.min), float(info.max))
            return _gpu_out(y, unb, in_dtype)
        return _gpu_out(y, unb, out)

    def compute_output_shape(self, input_shape):
        return _image_output_shape(input_shape, self.height, self.width)

    def get_config(self):
        config = super().get_config()
        config.update({"height": self.height, "width": self.width,
                       "interpolation": self.interpolation,
                       "crop_to_aspect_ratio": self.crop_to_aspect_ratio,
                       "pad_to_aspect_ratio": self.pad_to_aspect_ratio,
                       "fill_mode": self.fill_mode, "fill_value": self.fill_value})
        return config


def _crop(inputs, h0, w0, height, width):
    """A tensor slice (on the input's device, recorded on the tape)."""
    if inputs._data.ndim == 4:
        return inputs[:, h0:h0 + height, w0:w0 + width, :]
    return inputs[h0:h0 + height, w0:w0 + width, :]


class CenterCrop(Layer):
    """Crops the centre (height, width) window (start at floor(diff / 2)); an image smaller
    than the target is smart-resized instead, as Keras does."""

    def __init__(self, height, width, **kwargs):
        super().__init__(**kwargs)
        _check_size(self, height, width)
        self.height = int(height)
        self.width = int(width)

    def call(self, inputs):
        inputs = _as_tensor(inputs)
        d = inputs._data
        _check_image(self, d)
        h_diff = d.shape[H_AXIS] - self.height
        w_diff = d.shape[W_AXIS] - self.width
        if h_diff >= 0 and w_diff >= 0:
            if d.dtype.kind != "f":
                inputs = _m.cast(inputs, self._dtype_name)
            return _crop(inputs, h_diff // 2, w_diff // 2, self.height, self.width)
        return _smart_resize_layer(self, inputs, self.height, self.width)

    def compute_output_shape(self, input_shape):
        return _image_output_shape(input_shape, self.height, self.width)

    def get_config(self):
        config = super().get_config()
        config.update({"height": self.height, "width": self.width})
        return config


# ----------------------------------------------------------------------------- random layers


class _RandomLayer(Layer):
    """A layer with its own NumPy generator, seeded at construction from nabi's generator."""

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        from ...ops.random_ops import _generator
        self.seed = seed
        base = int(_generator(None if seed is None else int(seed)).integers(2 ** 63))
        self._rng = np.random.default_rng(base)

    @staticmethod
    def _active(training):
        return True if training is None else bool(training)


def _factor_pair(layer, name, factor):
    if isinstance(factor, (tuple, list)):
        if len(factor) != 2:
            raise ValueError(f"[{layer.name}] `{name}` must be a number or a pair of numbers. "
                             f"Received: {name}={factor}")
        return float(factor[0]), float(factor[1])
    if not isinstance(factor, numbers.Real):
        raise ValueError(f"[{layer.name}] `{name}` must be a number or a pair of numbers. "
                         f"Received: {name}={factor!r}")
    return -float(factor), float(factor)


def _check_fill(layer, fill_mode, interpolation):
    if fill_mode not in ("reflect", "wrap", "constant", "nearest"):
        raise NotImplementedError(f"[{layer.name}] Unknown `fill_mode` {fill_mode}. Only "
                                  "`reflect`, `wrap`, `constant` and `nearest` are supported.")
    if interpolation not in ("bilinear", "nearest"):   # TF's ImageProjectiveTransform's two
        raise NotImplementedError(f"[{layer.name}] Unknown `interpolation` {interpolation}. "
                                  "Only `nearest` and `bilinear` are supported.")


def _tf_map_coords(v, n, fill_mode):
    """TF's MapCoordinate on continuous source coordinates v along an axis of length n:
    reflect [dcba|abcd|dcba], wrap (TF's period: a step of n per n - 1), nearest clamps,
    constant leaves them (out-of-range reads give the fill value)."""
    if fill_mode == "constant":
        return v
    if n <= 1:
        return np.zeros_like(v)
    if fill_mode == "reflect":
        sz2 = np.float32(2 * n)
        lo = v + sz2 * np.trunc(-v / sz2)
        lo = np.where(lo < -n, lo + sz2, -lo - 1)
        hi = v - sz2 * np.trunc(v / sz2)
        hi = np.where(hi >= n, sz2 - hi - 1, hi)
        v = np.where(v < 0, lo, np.where(v > n - 1, hi, v))
    elif fill_mode == "wrap":
        sz = np.float32(n - 1)
        v = np.where(v < 0, v + n * (np.trunc(-v / sz) + 1),
                     np.where(v > n - 1, v - n * np.trunc(v / sz), v))
    return np.clip(v, 0, n - 1).astype(np.float32)


def _transform_coords(transforms, H, W, fill_mode):
    """The source points (sx, sy), (B, H * W) float32, of _transform's output pixels."""
    # float32 coordinates, as TF computes them (a rotation by 90 degrees lands exactly on
    # the wrap seams, where float64 would pick the other side)
    t = np.asarray(transforms, np.float32)
    rr, cc = np.meshgrid(np.arange(H, dtype=np.float32), np.arange(W, dtype=np.float32),
                         indexing="ij")
    cc, rr = cc.ravel()[None], rr.ravel()[None]
    sx = _tf_map_coords(t[:, 0:1] * cc + t[:, 1:2] * rr + t[:, 2:3], W, fill_mode)   # (B, HW)
    sy = _tf_map_coords(t[:, 3:4] * cc + t[:, 4:5] * rr + t[:, 5:6], H, fill_mode)
    return sx, sy


def _transform(x, transforms, fill_mode, fill_value, interpolation):
    """TF's ImageProjectiveTransformV3 for affine transforms: transforms (B, 8) rows
    [a0, a1, a2, b0, b1, b2, 0, 0] map output (x=col, y=row) to input
    (a0 x + a1 y + a2, b0 x + b1 y + b2); the coordinates are mapped by fill_mode first, then
    read nearest (std::round: half away from zero) or bilinearly, out-of-range reads giving
    fill_value. x: (B, H, W, C) float."""
    B, H, W, C = x.shape
    sx, sy = _transform_coords(transforms, H, W, fill_mode)
    flat = x.reshape(B, H * W, C)
    fill = np.asarray(fill_value, x.dtype)

    def read(yi, xi):
        ok = (yi >= 0) & (yi < H) & (xi >= 0) & (xi < W)
        idx = np.where(ok, yi * W + xi, 0).astype(np.int64)
        vals = np.take_along_axis(flat, idx[..., None], axis=1)
        return np.where(ok[..., None], vals, fill)

    if interpolation == "nearest":
        def rnd(v):
            return (np.sign(v) * np.floor(np.abs(v) + 0.5)).astype(np.int64)
        out = read(rnd(sy), rnd(sx))
    else:
        y0, x0 = np.floor(sy), np.floor(sx)
        wy, wx = (sy - y0)[..., None], (sx - x0)[..., None]
        y0, x0 = y0.astype(np.int64), x0.astype(np.int64)
        top = (1 - wx) * read(y0, x0) + wx * read(y0, x0 + 1)
        bot = (1 - wx) * read(y0 + 1, x0) + wx * read(y0 + 1, x0 + 1)
        out = (1 - wy) * top + wy * bot
    return out.reshape(B, H, W, C).astype(x.dtype, copy=False)


def _transform_adjoint(g, transforms, fill_mode, interpolation):
    """The transpose of _transform as a linear map of the images (the fill value is a
    constant): each output pixel's gradient times its interpolation weights, added into the
    source pixels it read (reads outside the image take nothing). g: (B, H, W, C)."""
    B, H, W, C = g.shape
    sx, sy = _transform_coords(transforms, H, W, fill_mode)
    flat = g.reshape(B, H * W, C)
    dx = np.zeros_like(flat)
    b = np.broadcast_to(np.arange(B)[:, None], sx.shape)

    def scatter(yi, xi, w):
        ok = (yi >= 0) & (yi < H) & (xi >= 0) & (xi < W)
        np.add.at(dx, (b[ok], (yi * W + xi)[ok]), (w * flat)[ok])

    if interpolation == "nearest":
        def rnd(v):
            return (np.sign(v) * np.floor(np.abs(v) + 0.5)).astype(np.int64)
        scatter(rnd(sy), rnd(sx), 1)
    else:
        y0, x0 = np.floor(sy), np.floor(sx)
        wy, wx = (sy - y0)[..., None], (sx - x0)[..., None]   # the forward's float32 weights,
        wy0, wx0 = (1 - wy).astype(g.dtype), (1 - wx).astype(g.dtype)   # multiplied in g's
        wy, wx = wy.astype(g.dtype), wx.astype(g.dtype)
        y0, x0 = y0.astype(np.int64), x0.astype(np.int64)
        scatter(y0, x0, wy0 * wx0)
        scatter(y0, x0 + 1, wy0 * wx)
        scatter(y0 + 1, x0, wy * wx0)
        scatter(y0 + 1, x0 + 1, wy * wx)
    return dx.reshape(B, H, W, C)


def _affine_gpu(x, t, fill_mode, interpolation, fill_value):
    """affine_transform (csrc/cuda/image_transform.cu) of the device batch x (a Tensor) by the
    device transforms t, recorded with its adjoint (image_transform_grad.cu) as the gradient;
    the adjoint's own gradient is the forward with fill 0, so it is twice differentiable."""
    y = _wrap(DeviceArray(_device_backend().affine_transform(
        x._data.buf, t.buf, fill_mode, interpolation, fill_value)))

    def backward(g, needs):
        return (DeviceArray(_device_backend().affine_transform_grad(g.buf, t.buf, fill_mode,
                                                                    interpolation)),)
    record((x,), y, backward,
           lambda g, needs: (_affine_grad_gpu(g, t, fill_mode, interpolation),),
           "affine_transform")
    return y


def _affine_grad_gpu(g, t, fill_mode, interpolation):
    dx = _wrap(DeviceArray(_device_backend().affine_transform_grad(g._data.buf, t.buf,
                                                                   fill_mode, interpolation)))

    def backward(h, needs):
        return (DeviceArray(_device_backend().affine_transform(h.buf, t.buf, fill_mode,
                                                               interpolation, 0.0)),)
    record((g,), dx, backward,
           lambda h, needs: (_affine_gpu(h, t, fill_mode, interpolation, 0.0),),
           "affine_transform_grad")
    return dx


class RandomCrop(_RandomLayer):
    """While training, crops one random (height, width) window, the same for the whole batch
    (Keras 2.15). At inference, or when the image is smaller than the target, the image is
    smart-resized (largest centred window with the target aspect ratio, resized)."""

    def __init__(self, height, width, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        _check_size(self, height, width)
        self.height = int(height)
        self.width = int(width)

    def call(self, inputs, training=None):
        inputs = _as_tensor(inputs)
        d = inputs._data
        _check_image(self, d)
        h_diff = d.shape[H_AXIS] - self.height
        w_diff = d.shape[W_AXIS] - self.width
        if self._active(training) and h_diff >= 0 and w_diff >= 0:
            r = self._rng.integers(0, 2 ** 31 - 1, 2)
            if d.dtype.kind != "f":
                inputs = _m.cast(inputs, self._dtype_name)
            return _crop(inputs, int(r[0] % (h_diff + 1)), int(r[1] % (w_diff + 1)),
                         self.height, self.width)
        return _smart_resize_layer(self, inputs, self.height, self.width)

    def compute_output_shape(self, input_shape):
        return _image_output_shape(input_shape, self.height, self.width)

    def get_config(self):
        config = super().get_config()
        config.update({"height": self.height, "width": self.width, "seed": self.seed})
        return config


HORIZONTAL, VERTICAL = "horizontal", "vertical"
HORIZONTAL_AND_VERTICAL = "horizontal_and_vertical"


class RandomFlip(_RandomLayer):
    """While training, flips each image left-right ('horizontal') and/or top-bottom
    ('vertical'), each with probability 1/2, independently per image."""

    def __init__(self, mode=HORIZONTAL_AND_VERTICAL, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        if mode not in (HORIZONTAL, VERTICAL, HORIZONTAL_AND_VERTICAL):
            raise ValueError(f"[{self.name}] RandomFlip layer {self.name} received an unknown "
                             f"mode argument {mode}")
        self.mode = mode
        self.horizontal = mode in (HORIZONTAL, HORIZONTAL_AND_VERTICAL)
        self.vertical = mode in (VERTICAL, HORIZONTAL_AND_VERTICAL)

    def call(self, inputs, training=None):
        inputs = _as_tensor(inputs)
        _check_image(self, inputs._data)
        if not self._active(training):
            return inputs
        g = _gpu_batch(self, inputs)
        if g is not None:
            x, unb, out = g
            B = x._data.shape[0]
            for on, axis in ((self.horizontal, 2), (self.vertical, 1)):
                if on:
                    f = _device_const((self._rng.random(B) < 0.5)[:, None, None, None])
                    x = _ao.where(f, _ao.reverse(x, [axis]), x)
            return _gpu_out(x, unb, out)
        x, unb, src = _image_batch(self, inputs)
        B = x.shape[0]
        flips = []   # (mask, axis) in the order applied
        if self.horizontal:
            flips.append(((self._rng.random(B) < 0.5)[:, None, None, None], 2))
        if self.vertical:
            flips.append(((self._rng.random(B) < 0.5)[:, None, None, None], 1))

        def apply(x, order):
            for f, axis in order:
                x = np.where(f, np.flip(x, axis), x)
            return x
        # each flip is its own transpose: the adjoint undoes them in reverse order
        return _attach_grad(self, inputs, _image_out(self, apply(x, flips), unb, src),
                            lambda g: apply(g, flips[::-1]), lambda h: apply(h, flips))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update({"mode": self.mode, "seed": self.seed})
        return config


class _AffineLayer(_RandomLayer):
    """Shared pieces of RandomRotation / RandomZoom / RandomTranslation."""

    def _affine_init(self, fill_mode, interpolation, fill_value):
        _check_fill(self, fill_mode, interpolation)
        self.fill_mode = fill_mode
        self.interpolation = interpolation
        self.fill_value = float(fill_value)

    def _transforms(self, B, H, W):
        raise NotImplementedError

    def call(self, inputs, training=None):
        inputs = _as_tensor(inputs)
        _check_image(self, inputs._data)
        if not self._active(training):
            return inputs
        g = _gpu_batch(self, inputs)
        if g is not None:   # csrc/cuda/image_transform.cu: the host path's pixels
            x, unb, out = g
            B, H, W, _ = x._data.shape
            t = to_device(np.asarray(self._transforms(B, float(H), float(W)), np.float32),
                          "cuda")
            y = _affine_gpu(x, t, self.fill_mode, self.interpolation, self.fill_value)
            return _gpu_out(y, unb, out)
        x, unb, src = _image_batch(self, inputs)
        B, H, W, _ = x.shape
        t = self._transforms(B, float(H), float(W))
        y = _transform(x, t, self.fill_mode, self.fill_value, self.interpolation)
        return _attach_grad(self, inputs, _image_out(self, y, unb, src),
                            lambda g: _transform_adjoint(g, t, self.fill_mode,
                                                         self.interpolation),
                            lambda h: _transform(h, t, self.fill_mode, 0.0,
                                                 self.interpolation))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)


def _rotation_transforms(angles, h, w):
    """Keras's get_rotation_matrix (counter-clockwise about the centre), (B, 8)."""
    c, s = np.cos(angles), np.sin(angles)
    x_off = ((w - 1) - (c * (w - 1) - s * (h - 1))) / 2.0
    y_off = ((h - 1) - (s * (w - 1) + c * (h - 1))) / 2.0
    z = np.zeros_like(angles)
    return np.stack([c, -s, x_off, s, c, y_off, z, z], 1)


class RandomRotation(_AffineLayer):
    """While training, rotates each image by a random angle in [lower, upper] x 2pi
    (factor=0.1: up to +-36 degrees; positive is counter-clockwise), filling per `fill_mode`
    ('reflect', 'wrap', 'constant' with `fill_value`, 'nearest')."""

    def __init__(self, factor, fill_mode="reflect", interpolation="bilinear", seed=None,
                 fill_value=0.0, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.factor = factor
        self.lower, self.upper = _factor_pair(self, "factor", factor)
        if self.upper < self.lower:
            raise ValueError(f"[{self.name}] `factor` argument cannot have a negative value. "
                             f"Received: factor={factor}")
        self._affine_init(fill_mode, interpolation, fill_value)

    def _transforms(self, B, H, W):
        angles = self._rng.uniform(self.lower * 2.0 * np.pi, self.upper * 2.0 * np.pi, B)
        return _rotation_transforms(angles, H, W)

    def get_config(self):
        config = super().get_config()
        config.update({"factor": self.factor, "fill_mode": self.fill_mode,
                       "fill_value": self.fill_value, "interpolation": self.interpolation,
                       "seed": self.seed})
        return config


class RandomZoom(_AffineLayer):
    """While training, zooms each image by 1 + a random value in the height (and width)
    factor range: a positive factor zooms out, a negative one zooms in; without
    `width_factor` both axes use the same zoom."""

    def __init__(self, height_factor, width_factor=None, fill_mode="reflect",
                 interpolation="bilinear", seed=None, fill_value=0.0, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.height_factor = height_factor
        self.height_lower, self.height_upper = _factor_pair(self, "height_factor",
                                                            height_factor)
        if abs(self.height_lower) > 1.0 or abs(self.height_upper) > 1.0:
            raise ValueError(f"[{self.name}] `height_factor` argument must have values between "
                             f"[-1, 1]. Received: height_factor={height_factor}")
        self.width_factor = width_factor
        if width_factor is not None:
            self.width_lower, self.width_upper = _factor_pair(self, "width_factor",
                                                              width_factor)
            if self.width_lower < -1.0 or self.width_upper < -1.0:
                raise ValueError(f"[{self.name}] `width_factor` argument must have values "
                                 f"larger than -1. Received: width_factor={width_factor}")
        self._affine_init(fill_mode, interpolation, fill_value)

    def _transforms(self, B, H, W):
        zy = self._rng.uniform(1.0 + self.height_lower, 1.0 + self.height_upper, B)
        if self.width_factor is not None:
            zx = self._rng.uniform(1.0 + self.width_lower, 1.0 + self.width_upper, B)
        else:
            zx = zy
        x_off = ((W - 1.0) / 2.0) * (1.0 - zx)
        y_off = ((H - 1.0) / 2.0) * (1.0 - zy)
        z = np.zeros(B)
        return np.stack([zx, z, x_off, z, zy, y_off, z, z], 1)

    def get_config(self):
        config = super().get_config()
        config.update({"height_factor": self.height_factor, "width_factor": self.width_factor,
                       "fill_mode": self.fill_mode, "fill_value": self.fill_value,
                       "interpolation": self.interpolation, "seed": self.seed})
        return config


class RandomTranslation(_AffineLayer):
    """While training, shifts each image by a random fraction of its height and width (a
    positive height factor shifts down, a positive width factor right)."""

    def __init__(self, height_factor, width_factor, fill_mode="reflect",
                 interpolation="bilinear", seed=None, fill_value=0.0, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.height_factor = height_factor
        self.width_factor = width_factor
        for name, f in (("height", height_factor), ("width", width_factor)):
            lo, hi = _factor_pair(self, f"{name}_factor", f)
            if hi < lo:
                raise ValueError(f"[{self.name}] `{name}_factor` cannot have upper bound less "
                                 f"than lower bound, got {f}")
            if abs(lo) > 1.0 or abs(hi) > 1.0:
                raise ValueError(f"[{self.name}] `{name}_factor` argument must have values "
                                 f"between [-1, 1]. Received: {name}_factor={f}")
            setattr(self, f"{name}_lower", lo)
            setattr(self, f"{name}_upper", hi)
        self._affine_init(fill_mode, interpolation, fill_value)

    def _transforms(self, B, H, W):
        dy = self._rng.uniform(self.height_lower, self.height_upper, B) * H
        dx = self._rng.uniform(self.width_lower, self.width_upper, B) * W
        one, z = np.ones(B), np.zeros(B)
        return np.stack([one, z, -dx, z, one, -dy, z, z], 1)

    def get_config(self):
        config = super().get_config()
        config.update({"height_factor": self.height_factor, "width_factor": self.width_factor,
                       "fill_mode": self.fill_mode, "fill_value": self.fill_value,
                       "interpolation": self.interpolation, "seed": self.seed})
        return config


class RandomContrast(_RandomLayer):
    """While training, adjusts contrast by one random factor in [1 - lower, 1 + upper] for the
    batch (tf.image.random_contrast): (x - mean) * factor + mean with the mean of each image
    and channel, then clipped to [0, 255]."""

    _autocast_ints = False   # at inference an integer image passes through unchanged

    def __init__(self, factor, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.factor = factor
        if isinstance(factor, (tuple, list)):
            if len(factor) != 2:
                raise ValueError(f"[{self.name}] `factor` must be a number or a pair of numbers. "
                                 f"Received: factor={factor}")
            self.lower, self.upper = float(factor[0]), float(factor[1])
        else:
            self.lower = self.upper = float(factor)
        if self.lower < 0.0 or self.upper < 0.0 or self.lower > 1.0:
            raise ValueError(f"[{self.name}] `factor` argument cannot have negative values or "
                             f"values greater than 1. Received: factor={factor}")

    def call(self, inputs, training=None):
        inputs = _as_tensor(inputs)
        _check_image(self, inputs._data)
        if not self._active(training):
            return inputs
        g = _gpu_batch(self, inputs)
        if g is not None:   # the host path's float64 arithmetic, on the device
            x, unb, out = g
            f = self._rng.uniform(1.0 - self.lower, 1.0 + self.upper)
            x = _m.cast(x, "float64")
            mean = _m.reduce_mean(x, axis=(1, 2), keepdims=True)
            return _gpu_out(_m.clip_by_value((x - mean) * f + mean, 0.0, 255.0), unb, out)
        x, unb, src = _image_batch(self, inputs)
        f = self._rng.uniform(1.0 - self.lower, 1.0 + self.upper)
        mean = x.mean(axis=(1, 2), keepdims=True, dtype=np.float64)
        z = (x - mean) * f + mean
        y = np.clip(z, 0, 255)
        keep = (z >= 0) & (z <= 255)   # where the clip passes (clip_by_value's rule)

        def centre(g):   # z's Jacobian f I + (1 - f) (mean over the image), symmetric
            return f * g + (1 - f) * g.mean(axis=(1, 2), keepdims=True)
        return _attach_grad(self, inputs, _image_out(self, y, unb, src),
                            lambda g: centre(g * keep), lambda h: centre(h) * keep)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update({"factor": self.factor, "seed": self.seed})
        return config


class RandomBrightness(_RandomLayer):
    """While training, adds to each image one random delta in factor x (value range width),
    then clips to `value_range` (default [0, 255])."""

    _autocast_ints = False   # at inference an integer image passes through unchanged
    _FACTOR_ERROR = ("The `factor` argument should be a number (or a list of two numbers) in "
                     "the range [-1.0, 1.0]. ")
    _RANGE_ERROR = "The `value_range` argument should be a list of two numbers. "

    def __init__(self, factor, value_range=(0, 255), seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        if isinstance(factor, (tuple, list)):
            if len(factor) != 2:
                raise ValueError(f"[{self.name}] {self._FACTOR_ERROR}Got {factor}")
            for v in factor:
                self._check_factor(v)
            self._factor = sorted(float(v) for v in factor)
        elif isinstance(factor, numbers.Real):
            self._check_factor(factor)
            self._factor = [-abs(float(factor)), abs(float(factor))]
        else:
            raise ValueError(f"[{self.name}] {self._FACTOR_ERROR}Got {factor}")
        if not isinstance(value_range, (tuple, list)) or len(value_range) != 2:
            raise ValueError(f"[{self.name}] {self._RANGE_ERROR}Got {value_range}")
        self._value_range = sorted(float(v) for v in value_range)

    def _check_factor(self, v):
        if not isinstance(v, numbers.Real) or v > 1.0 or v < -1.0:
            raise ValueError(f"[{self.name}] {self._FACTOR_ERROR}Got {v}")

    def call(self, inputs, training=None):
        inputs = _as_tensor(inputs)
        _check_image(self, inputs._data)
        if not self._active(training):
            return inputs
        g = _gpu_batch(self, inputs)
        if g is not None:
            x, unb, out = g
            lo, hi = self._value_range
            delta = self._rng.uniform(self._factor[0], self._factor[1],
                                      (x._data.shape[0], 1, 1, 1))
            d = _device_const((delta * (hi - lo)).astype(x._data.dtype))
            return _gpu_out(_m.clip_by_value(x + d, lo, hi), unb, out)
        x, unb, src = _image_batch(self, inputs)
        lo, hi = self._value_range
        delta = self._rng.uniform(self._factor[0], self._factor[1], (x.shape[0], 1, 1, 1))
        z = x + (delta * (hi - lo)).astype(x.dtype)
        y = np.clip(z, lo, hi)
        keep = (z >= lo) & (z <= hi)
        return _attach_grad(self, inputs, _image_out(self, y, unb, src),
                            lambda g: g * keep, lambda h: h * keep)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update({"factor": list(self._factor), "value_range": list(self._value_range),
                       "seed": self.seed})
        return config


class _RandomSize(_RandomLayer):
    """RandomHeight / RandomWidth: while training, resizes the batch along one axis by one
    random factor in [1 + lower, 1 + upper] (new size int(factor * size), as Keras), the other
    axis unchanged; at inference the input passes through. Float output while training."""
    _autocast_ints = False   # at inference an integer image passes through unchanged
    _axis = H_AXIS
    _what = "height"

    def __init__(self, factor, interpolation="bilinear", seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.factor = factor
        lo, hi = _factor_pair(self, "factor", factor)
        if hi < lo:
            raise ValueError(f"[{self.name}] `factor` argument cannot have an upper bound less "
                             f"than the lower bound. Received: factor={factor}")
        if lo < -1.0 or hi < -1.0:
            raise ValueError(f"[{self.name}] `factor` argument must have values larger than "
                             f"-1. Received: factor={factor}")
        self.lower, self.upper = lo, hi
        if interpolation not in _INTERPOLATIONS:
            raise NotImplementedError(f"[{self.name}] interpolation {interpolation!r} is not "
                                      f"supported by nabi; use one of {list(_INTERPOLATIONS)}")
        self.interpolation = interpolation

    def call(self, inputs, training=None):
        inputs = _as_tensor(inputs)
        if not self._active(training):
            return inputs
        g = _gpu_batch(self, inputs)
        if g is not None:
            x, unb, out = g
            src = None
        else:
            x, unb, src = _image_batch(self, inputs)
        f = self._rng.uniform(1.0 + self.lower, 1.0 + self.upper)
        H, W = (x if g is None else x._data).shape[1:3]
        if self._axis == H_AXIS:
            H = max(1, int(np.float32(f) * np.float32(H)))
        else:
            W = max(1, int(np.float32(f) * np.float32(W)))
        if g is not None:
            return _gpu_out(_resize_gpu(x, H, W, self.interpolation), unb, out)
        H0, W0 = x.shape[1:3]
        return _attach_grad(self, inputs,
                            _image_out(self, _resize(x, H, W, self.interpolation), unb, src),
                            lambda g: _resize_adjoint(g, H0, W0, self.interpolation),
                            lambda h: _resize(h, H, W, self.interpolation))

    def compute_output_shape(self, input_shape):
        s = list(input_shape)
        if len(s) >= 3:
            s[self._axis] = None
        return tuple(s)

    def get_config(self):
        config = super().get_config()
        config.update({"factor": self.factor, "interpolation": self.interpolation,
                       "seed": self.seed})
        return config


class RandomHeight(_RandomSize):
    """While training, resizes the images' height by a random factor (the same for the
    batch); the width is kept."""
    _axis = H_AXIS


class RandomWidth(_RandomSize):
    """While training, resizes the images' width by a random factor (the same for the
    batch); the height is kept."""
    _axis = W_AXIS
