"""Turns what users pass to fit/evaluate/predict into batches of NumPy arrays.

Accepted: NumPy arrays / Tensors / nested lists, lists of arrays (several inputs), dicts keyed by
input (or output) name, Python generators and iterators yielding `x`, `(x, y)` or
`(x, y, sample_weight)`, `keras.utils.Sequence` and ImageDataGenerator-style iterators (anything
with `__len__` and `__getitem__` returning batches), `nabi.data.Dataset`s (read as NumPy batches,
a fresh pass each epoch, steps from their cardinality) and other re-iterable dataset objects.

Arrays are converted once per call (float -> float32, C-contiguous); batches are views when not
shuffling, and a single batch is not shuffled (a permutation of one batch cannot change a mean).
"""
import math

import numpy as np

from ...framework.tensor import Tensor

__all__ = ["DataHandler", "unpack_batch", "train_validation_split", "unpack_validation_data"]


def _to_array(a, float_dtype=np.float32, cast_ints=False):
    if isinstance(a, Tensor):
        a = a._data
    elif not isinstance(a, np.ndarray):
        a = np.asarray(a)
    k = a.dtype.kind
    if k == "f":
        if a.dtype != float_dtype:
            a = a.astype(float_dtype)
    elif cast_ints and k in "iub":
        a = a.astype(float_dtype)
    elif k == "O" and not (a.size and isinstance(a.flat[0], (str, bytes))):
        a = a.astype(float_dtype)   # strings (tf.string batches) stay as they are
    if not a.flags.c_contiguous:
        a = np.ascontiguousarray(a)
    return a


def _input_cast_ints(model):
    """Whether integer inputs should become float32 once (the first layers are float layers)."""
    dts = getattr(model, "_input_np_dtypes", None)
    if dts:
        return all(d.kind == "f" for d in dts)
    il = getattr(model, "_input_layer", None)
    seq = getattr(model, "_seq_layers", None)
    if seq and getattr(seq[0], "_keeps_int_ids", False):
        return False  # an Embedding first: integer ids stay integers (their range known on the
        # host when uploaded, so the GPU id check reads nothing back); it casts floats itself
    if il is not None:
        return il._np_dtype.kind == "f"
    if seq:
        f = getattr(seq[0], "_casts_int_inputs", None)
        return bool(f()) if f is not None else True
    return False


def standardize_x(model, x):
    """x -> list of arrays in the model's input order."""
    cast_ints = _input_cast_ints(model)
    graph = getattr(model, "_is_graph_network", False) or getattr(model, "_seq_layers", None)
    if not graph:  # a subclassed model's call gets a dict back (Model._forward)
        model.__dict__.pop("_dict_input_keys", None)
    if isinstance(x, dict):
        names = model.input_names
        if names and all(n in x for n in names):
            return [_to_array(x[n], cast_ints=cast_ints) for n in names]
        if not names and not graph:
            model.__dict__["_dict_input_keys"] = list(x)
            return [_to_array(v, cast_ints=cast_ints) for v in x.values()]
        if len(x) == 1:
            return [_to_array(next(iter(x.values())), cast_ints=cast_ints)]
        raise ValueError(f"[{model.name}] input dict keys {sorted(x)} do not match the model's "
                         f"input names {names}")
    if isinstance(x, (list, tuple)):
        n_in = len(getattr(model, "_flat_input_kts", [None])) if \
            getattr(model, "_is_graph_network", False) else None
        if x and all(isinstance(v, (np.ndarray, Tensor)) for v in x) and \
                (n_in is None or n_in == len(x)) and (n_in is not None and n_in > 1 or
                                                       _looks_multi(x)):
            return [_to_array(v, cast_ints=cast_ints) for v in x]
        if len(x) == 1 and isinstance(x[0], (np.ndarray, Tensor)) and n_in in (None, 1) and \
                _one_input_in_list(model, x[0]):
            return [_to_array(x[0], cast_ints=cast_ints)]  # Keras: fit([x], y), one input
        return [_to_array(x, cast_ints=cast_ints)]
    return [_to_array(x, cast_ints=cast_ints)]


def _one_input_in_list(model, v):
    """[array] for a one-input model is that input (Keras flattens the list), unless the
    model's input rank says the list is a batch of one sample (rank = array's rank + 1)."""
    ins = model.__dict__.get("inputs") or []
    if len(ins) == 1 and getattr(ins[0], "shape", None) is not None:
        return len(ins[0].shape) != np.ndim(v) + 1
    return np.ndim(v) >= 2


def _looks_multi(x):
    """A list of arrays of different trailing shapes is several inputs, not one batch."""
    if len(x) < 2:
        return False
    shapes = {tuple(np.shape(v)) for v in x}
    if len(shapes) > 1:
        return True
    # Same shapes: several inputs when each is at least 2-D (a list of 1-D rows is a batch).
    return len(np.shape(x[0])) >= 2


def standardize_y(model, y):
    if y is None:
        return None
    if isinstance(y, dict):
        names = model.output_names
        if all(n in y for n in names):
            return [_to_array(y[n]) for n in names]
        if len(y) == 1:
            return [_to_array(next(iter(y.values())))]
        raise ValueError(f"[{model.name}] target dict keys {sorted(y)} do not match the model's "
                         f"output names {names}")
    if isinstance(y, (list, tuple)):
        if getattr(model, "_is_graph_network", False):
            n_out = len(getattr(model, "_flat_output_kts", [None]))
        else:
            n_out = _subclassed_n_out(model, y)
        if n_out > 1 and len(y) == n_out:   # None: an output without a target (no loss)
            return [None if v is None else _to_array(v) for v in y]
        return [_to_array(y)]
    return [_to_array(y)]


def _subclassed_n_out(model, y):
    """Outputs of a subclassed model for a list/tuple target: the count its compile state
    resolved from a call, else (not called yet) Keras 2's reading of a tuple/list of whole
    arrays of one length as one target per output (the WideAndDeepModel of HOML ch. 10)."""
    cs = getattr(model, "_cstate", None)
    if cs is not None and getattr(cs, "resolved", False):
        return cs.n_out
    if len(y) > 1 and all(isinstance(v, (np.ndarray, Tensor)) and len(v.shape) >= 1
                            for v in y):
        lens = {len(v) for v in y}
        if len(lens) == 1 and len(y) != lens.pop():
            return len(y)
    return 1


def unpack_batch(data):
    if isinstance(data, (list, tuple)):
        if len(data) == 1:
            return data[0], None, None
        if len(data) == 2:
            return data[0], data[1], None
        if len(data) == 3:
            return data[0], data[1], data[2]
        raise ValueError(f"data must be x, (x,), (x, y) or (x, y, sample_weight); got a "
                         f"{type(data).__name__} of length {len(data)}")
    return data, None, None


def unpack_validation_data(val):
    # Keras's unpack_x_y_sample_weight: a list is read as a tuple, so [[xa, xb], y] is
    # (x, y) for a two-input model
    if isinstance(val, (tuple, list)) and len(val) in (2, 3):
        return unpack_batch(tuple(val))
    return val, None, None


def _slice_struct(a, sl):
    if a is None:
        return None
    if isinstance(a, dict):
        return {k: _slice_struct(v, sl) for k, v in a.items()}
    if isinstance(a, (list, tuple)) and a and isinstance(a[0], (np.ndarray, Tensor, list)) and \
            not _is_rowlist(a):
        return [_slice_struct(v, sl) for v in a]
    arr = a._data if isinstance(a, Tensor) else np.asarray(a)
    return arr[sl]


def _is_rowlist(a):
    return isinstance(a, (list, tuple)) and a and not isinstance(a[0], (np.ndarray, Tensor)) \
        and isinstance(a[0], (list, tuple))


def _first_len(a):
    if isinstance(a, dict):
        return _first_len(next(iter(a.values())))
    if isinstance(a, (list, tuple)) and a and isinstance(a[0], (np.ndarray, Tensor)):
        return len(a[0])
    return len(a)


def train_validation_split(arrays, validation_split):
    x, y, sw = arrays
    if not _is_array_like(x):
        raise ValueError("validation_split is only supported for NumPy arrays or Tensors, not "
                         f"for {type(x).__name__}; pass validation_data instead")
    if not 0.0 < float(validation_split) < 1.0:
        raise ValueError(f"validation_split must be in (0, 1), got {validation_split}")
    n = _first_len(x)
    split_at = int(math.floor(n * (1.0 - validation_split)))
    if split_at == 0 or split_at == n:
        raise ValueError(f"training data has {n} samples, not enough for validation_split="
                         f"{validation_split}")
    tr = slice(0, split_at)
    va = slice(split_at, None)
    return ((_slice_struct(x, tr), _slice_struct(y, tr), _slice_struct(sw, tr)),
            (_slice_struct(x, va), _slice_struct(y, va), _slice_struct(sw, va)))


def _is_array_like(x):
    if isinstance(x, (np.ndarray, Tensor)):
        return True
    if isinstance(x, dict):
        return all(_is_array_like(v) for v in x.values())
    if isinstance(x, (list, tuple)):
        return True
    return False


def _sample_weight_array(sw):
    """float32 sample weights: one per sample (shape (n,), also from (n, 1)), or per
    timestep / pixel (e.g. (n, H, W, 1) for a segmentation mask), which the loss broadcasts."""
    sw = _to_array(sw).astype(np.float32)
    if sw.ndim >= 2 and sw.size != sw.shape[0]:
        return sw
    return sw.reshape(-1)


def standardize_sample_weight(model, sw):
    """Sample weights as one float32 array for every output, or (given a list/tuple with one
    array per output, or a dict by output name, as Keras takes for a multi-output model) a
    list with one array (None: unweighted) per output."""
    if sw is None:
        return None
    names = model.output_names
    if isinstance(sw, dict):
        unknown = sorted(set(sw) - set(names))
        if unknown:
            raise ValueError(f"[{model.name}] sample_weight keys {unknown} are not output names "
                             f"of the model ({names})")
        per = [sw.get(n) for n in names]
    elif isinstance(sw, (list, tuple)) and len(names) > 1 and len(sw) == len(names) and \
            all(w is None or isinstance(w, (np.ndarray, Tensor)) for w in sw):
        per = list(sw)
    else:
        return _sample_weight_array(sw)
    per = [None if w is None else _sample_weight_array(w) for w in per]
    return per[0] if len(per) == 1 else per


def _map_targets(fn, ys):
    """fn over the target arrays (None: an output without a target stays None)."""
    return None if ys is None else [None if y is None else fn(y) for y in ys]


def map_sample_weight(fn, sw):
    """fn over the sample weights: the array, or each array of a per-output list."""
    if isinstance(sw, list):
        return [None if w is None else fn(w) for w in sw]
    return None if sw is None else fn(sw)


def apply_class_weight(ys, sw, class_weight):
    if class_weight is None or ys is None:
        return sw
    if len(ys) > 1:
        raise ValueError("class_weight is not supported for models with several outputs; use "
                         "sample_weight instead")
    y = ys[0]
    if y.ndim >= 2 and y.shape[-1] > 1:
        cls = np.argmax(y, axis=-1)
    else:
        cls = np.rint(y.reshape(len(y), -1)[:, 0]).astype(np.int64) if y.dtype.kind == "f" \
            else y.reshape(len(y), -1)[:, 0].astype(np.int64)
    cls = cls.reshape(len(y), -1)[:, 0] if cls.ndim > 1 else cls
    keys = np.array(sorted(int(k) for k in class_weight), dtype=np.int64)
    table_size = max(int(keys.max()) + 1, int(cls.max()) + 1 if cls.size else 1)
    table = np.ones(table_size, np.float32)
    for k, v in class_weight.items():
        table[int(k)] = float(v)
    cw = table[cls]
    return cw if sw is None else (sw * cw).astype(np.float32)


def build_from_arrays(model, xs):
    """Builds a model that has not seen data yet from the first rows of the batch."""
    seq = getattr(model, "_seq_layers", None)
    if seq is not None and not model.built and model._input_layer is None:
        from ..layers.base import _no_tape
        with _no_tape():
            model._build_from_input(xs[0])
    elif not model.built or (seq is None and not getattr(model, "_is_graph_network", False)
                             and not model.weights and not model.__dict__.get("_probed")):
        model.__dict__["_probed"] = True
        model._predict_step([x[:2] for x in xs])
        model.built = True


class DataHandler:
    """Iterates epochs of batches `(xs, ys, sample_weight, batch_size)` of NumPy arrays."""

    def __init__(self, model, x, y=None, sample_weight=None, batch_size=None,
                 steps_per_epoch=None, shuffle=False, class_weight=None, training=False):
        self.model = model
        self.training = training
        self.shuffle = bool(shuffle) and shuffle != "batch" or shuffle == "batch"
        self._class_weight = class_weight
        self._pending = None
        self.ran_out = False  # a dataset/iterator ended before `steps` batches
        if x is None:
            raise ValueError(f"[{model.name}] no input data (x) was given")
        raw_steps = steps_per_epoch
        if steps_per_epoch is not None:
            # Keras 2 steps while step < steps: a fraction (steps_per_epoch=len(x) / 32, as
            # course notebooks pass) runs ceil(steps) batches
            steps_per_epoch = math.ceil(steps_per_epoch)
        if _is_dataset(x):
            self._init_dataset(x, y, sample_weight, steps_per_epoch)
        elif _is_sequence(x):
            self.kind = "sequence"
            self.seq = x
            n = len(x)
            self.steps = n if steps_per_epoch is None else min(int(steps_per_epoch), n) \
                if n else int(steps_per_epoch)
            if y is not None:
                raise ValueError(f"[{model.name}] `y` must not be given when x is a "
                                 "keras.utils.Sequence (it yields (x, y) batches)")
        elif _is_iterator(x):
            self.kind = "iterator"
            self.it_src = x
            self._it = None
            self.steps = None if steps_per_epoch is None else int(steps_per_epoch)
            if y is not None:
                raise ValueError(f"[{model.name}] `y` must not be given when x is a generator "
                                 "or iterator (it yields (x, y) batches)")
        else:
            self.kind = "array"
            self.xs = standardize_x(model, x)
            ys = standardize_y(model, y)
            n = len(self.xs[0])
            for a in self.xs + [v for v in ys or [] if v is not None]:
                if len(a) != n:
                    raise ValueError(
                        f"[{model.name}] data cardinality is ambiguous: x sizes "
                        f"{[len(v) for v in self.xs]}, y sizes "
                        f"{[None if v is None else len(v) for v in ys] if ys else None}. "
                        "Make sure all arrays contain the same number of samples.")
            if ys is not None and model._cstate is not None:
                ys = model._cstate.prepare_targets(ys)
            self.ys = ys
            sw = None
            if sample_weight is not None:
                sw = standardize_sample_weight(model, sample_weight)
                for w in (sw if isinstance(sw, list) else [sw]):
                    if w is not None and len(w) != n:
                        raise ValueError(f"[{model.name}] sample_weight has {len(w)} entries "
                                         f"but there are {n} samples")
            if class_weight is not None:
                sw = apply_class_weight(ys, sw, class_weight)
            self.sw = sw
            self.n = n
            if batch_size is None:   # Keras: the steps cover the data once, else 32
                batch_size = max(1, math.ceil(n / raw_steps)) if steps_per_epoch else 32
            self.batch_size = int(batch_size)
            if self.batch_size <= 0:
                raise ValueError(f"batch_size must be positive, got {batch_size}")
            full = max(1, int(math.ceil(n / self.batch_size))) if n else 0
            self.steps = full if steps_per_epoch is None else int(steps_per_epoch)
            self._full_steps = full
            self._fixed = None
            if not (self.shuffle and full > 1):
                self._fixed = self._make_fixed_batches()
            self._pos = 0

    # ------------------------------------------------------------------ nabi.data
    def _init_dataset(self, ds, y, sample_weight, steps_per_epoch):
        name = self.model.name
        if y is not None:
            raise ValueError(f"[{name}] `y` must not be given when x is a nabi.data.Dataset "
                             "(it yields (x, y) batches)")
        if sample_weight is not None:
            raise ValueError(f"[{name}] `sample_weight` must not be given when x is a "
                             "nabi.data.Dataset (it yields (x, y, sample_weight) batches)")
        self.kind = "dataset"
        self.ds = ds
        card = ds._card()
        if steps_per_epoch is None:
            if card == -1:
                raise ValueError(
                    f"[{name}] the dataset is infinite (cardinality -1): give the number of "
                    "steps to run (steps_per_epoch, validation_steps or steps), or do not "
                    "call repeat() on it")
            self.steps = card if card >= 0 else None
        else:
            self.steps = int(steps_per_epoch)
        # Each epoch is a fresh pass, unless fit's steps differ from the dataset's length: then
        # one pass continues across epochs (as Keras does with tf.data). Evaluation (and each
        # validation run) always starts at the beginning.
        self._recreate = not self.training or steps_per_epoch is None or \
            int(steps_per_epoch) == card
        self._it = None
        self._it_used = False

    def _dataset_iter(self):
        if self._it is None or (self._recreate and self._it_used):
            self._it = self.ds._np_iter()
            self._it_used = False
        return self._it

    def _dataset_epoch(self):
        it = self._dataset_iter()
        self._it_used = True
        step = 0
        if self._pending is not None:
            batch, self._pending = self._pending, None
            yield step, batch
            step += 1
        while self.steps is None or step < self.steps:
            try:
                data = next(it)
            except StopIteration:
                if self.steps is not None:
                    self.ran_out = True  # the caller warns (once) and stops, as Keras does
                    self._it = iter(())  # later epochs get no data (Keras stops training)
                break
            yield step, self._convert_batch(data)
            step += 1

    # ------------------------------------------------------------------ arrays
    def _make_fixed_batches(self):
        bs, n = self.batch_size, self.n
        xs, ys, sw = self.xs, self.ys, self.sw
        out = []
        for i in range(self._full_steps):
            a, b = i * bs, min(n, (i + 1) * bs)
            if a == 0 and b == n:
                out.append((xs, ys, sw, n))
            else:
                out.append(([x[a:b] for x in xs], _map_targets(lambda y: y[a:b], ys),
                            map_sample_weight(lambda w: w[a:b], sw), b - a))
        return out

    def _array_epoch(self):
        if self._fixed is not None:
            batches = self._fixed
        else:
            from ...ops.random_ops import _generator
            perm = _generator(None).permutation(self.n)
            if self.steps == self._full_steps:
                return enumerate(self._gathered(perm, reuse=self.model._on_gpu()))
            bs = self.batch_size
            xs, ys, sw = self.xs, self.ys, self.sw
            batches = []
            for i in range(self._full_steps):
                idx = perm[i * bs:(i + 1) * bs]
                batches.append(([x.take(idx, axis=0) for x in xs],
                                _map_targets(lambda y: y.take(idx, axis=0), ys),
                                map_sample_weight(lambda w: w.take(idx, axis=0), sw),
                                len(idx)))
        if self.steps == self._full_steps:
            return enumerate(batches)
        if not self.training:
            # evaluate / predict / each validation run: one pass from the first batch, cut
            # to `steps` (Keras 2 iterates the data once per call; more steps run out of data)
            if self.steps > len(batches):
                self.ran_out = True
            return enumerate(batches[:self.steps])
        # steps_per_epoch differs from the data size: continue through the data across epochs.
        return enumerate(self._cycle(batches))

    def _gathered(self, perm, reuse):
        """The epoch's shuffled batches, gathered one step at a time (not a shuffled copy of
        the whole data set up front, whose fresh pages cost more than the copy). reuse (a model
        on the GPU): into two host buffers per input and batch shape, used in turn -- each batch
        is copied to the device at the start of its step, before the next one is gathered."""
        bs = self.batch_size
        rings = {}

        def take(a, idx, key, step):
            shape = (len(idx),) + a.shape[1:]
            if not reuse or a.dtype.kind not in "biuf" or not a.flags.c_contiguous:
                return a.take(idx, axis=0)
            ring = rings.get((key, shape))
            if ring is None:
                ring = rings[(key, shape)] = [np.empty(shape, a.dtype) for _ in range(2)]
            # mode="clip": no bounds check (idx is a permutation's slice), no buffered copy
            return np.take(a, idx, axis=0, out=ring[step % 2], mode="clip")

        xs, ys, sw = self.xs, self.ys, self.sw
        for i in range(self._full_steps):
            idx = perm[i * bs:(i + 1) * bs]
            yield ([take(x, idx, ("x", k), i) for k, x in enumerate(xs)],
                   None if ys is None else [None if y is None else take(y, idx, ("y", k), i)
                                            for k, y in enumerate(ys)],
                   None if sw is None else take(sw, idx, ("sw", 0), i)
                   if not isinstance(sw, list) else
                   [None if w is None else take(w, idx, ("sw", k), i) for k, w in enumerate(sw)],
                   len(idx))

    def _cycle(self, batches):
        for _ in range(self.steps):
            if self._pos >= len(batches):
                self._pos = 0
            yield batches[self._pos]
            self._pos += 1

    # ------------------------------------------------------------------ generic batches
    def _convert_batch(self, data):
        x, y, sw = unpack_batch(data)
        model = self.model
        xs = standardize_x(model, x)
        ys = standardize_y(model, y)
        if ys is not None and model._cstate is not None:
            ys = model._cstate.prepare_targets(ys)
        sw = standardize_sample_weight(model, sw)
        if self._class_weight is not None:
            sw = apply_class_weight(ys, sw, self._class_weight)
        return xs, ys, sw, len(xs[0])

    def _sequence_epoch(self):
        seq = self.seq
        order = list(range(len(seq)))
        if self.shuffle and self.training:
            from ...ops.random_ops import _generator
            order = list(_generator(None).permutation(len(seq)))
        steps = self.steps
        for step, i in enumerate(order[:steps]):
            if self._pending is not None and step == 0:
                batch, self._pending = self._pending, None
                if i == 0:
                    yield step, batch
                    continue
            yield step, self._convert_batch(seq[int(i)])
        if hasattr(seq, "on_epoch_end"):
            seq.on_epoch_end()

    def _iter(self):
        src = self.it_src
        if self._it is None:
            self._it = iter(src)
        return self._it

    def _iterator_epoch(self):
        step = 0
        if self._pending is not None:
            batch, self._pending = self._pending, None
            yield step, batch
            step += 1
        it = self._iter()
        while self.steps is None or step < self.steps:
            try:
                data = next(it)
            except StopIteration:
                if iter(self.it_src) is not self.it_src:  # re-iterable: restart next epoch
                    self._it = None
                elif self.steps is not None and step < self.steps:
                    self.ran_out = True  # the caller warns (once) and stops, as Keras does
                break
            yield step, self._convert_batch(data)
            step += 1

    def enumerate_epoch(self):
        if self.kind == "array":
            return self._array_epoch()
        if self.kind == "sequence":
            return self._sequence_epoch()
        if self.kind == "dataset":
            return self._dataset_epoch()
        return self._iterator_epoch()

    def peek(self):
        """The first batch's (xs, ys), without consuming it."""
        if self.kind == "array":
            k = min(self.n, max(self.batch_size, 1))
            return [x[:k] for x in self.xs], _map_targets(lambda y: y[:k], self.ys)
        if self._pending is None:
            if self.kind == "sequence":
                self._pending = self._convert_batch(self.seq[0])
            elif self.kind == "dataset":
                try:
                    self._pending = self._convert_batch(next(self._dataset_iter()))
                except StopIteration:
                    raise ValueError(f"[{self.model.name}] the dataset produced no data") \
                        from None
            else:
                try:
                    self._pending = self._convert_batch(next(self._iter()))
                except StopIteration:
                    raise ValueError(f"[{self.model.name}] the generator/iterator produced no "
                                     "data") from None
        xs, ys, _, _ = self._pending
        return xs, ys

    def ensure_model_built(self):
        xs, ys = self.peek()
        if ys is not None and self.model._cstate is not None and self.kind != "array":
            pass
        build_from_arrays(self.model, xs)


def _is_dataset(x):
    from ...data import Dataset
    return isinstance(x, Dataset)


def _is_sequence(x):
    if isinstance(x, (np.ndarray, Tensor, list, tuple, dict, str, bytes)):
        return False
    return hasattr(x, "__getitem__") and hasattr(x, "__len__")


def _is_iterator(x):
    if isinstance(x, (np.ndarray, Tensor, list, tuple, dict, str, bytes)):
        return False
    return hasattr(x, "__next__") or hasattr(x, "__iter__")
