"""`nabi.lookup` (tf.lookup): host-side key -> value tables.

    init = tf.lookup.KeyValueTensorInitializer(tf.constant(["a", "b", "c"]),
                                               tf.constant([7, 8, 9]))
    table = tf.lookup.StaticHashTable(init, default_value=-1)
    table.lookup(tf.constant(["a", "f"]))          # [7, -1]
    tf.lookup.StaticVocabularyTable(init64, num_oov_buckets=5)   # OOV keys hash to buckets

A table is a Python dict from keys (bytes for strings, ints, floats) to values, held on the
host like tf.data's tables. `lookup` takes a Tensor (any shape), a RaggedTensor or a
SparseTensor (their values are looked up; the structure is kept) and returns the same kind.
Out-of-vocabulary buckets use FarmHash Fingerprint64 of the key's bytes (integer keys as their
decimal strings), as TF's StaticVocabularyTable does. Key dtypes must match the table's, as
TF's "Signature mismatch" check demands.
"""
import types

import numpy as np

from . import dtypes as _dt
from .errors import FailedPreconditionError, InvalidArgumentError, NotFoundError
from .framework.device import DeviceArray
from .framework.tensor import Tensor, _utf8_storage, _wrap, convert_to_tensor

__all__ = ["KeyValueTensorInitializer", "TextFileInitializer", "TextFileIndex",
           "StaticHashTable", "StaticVocabularyTable", "MutableHashTable", "DenseHashTable",
           "experimental"]


def _host(v, dtype=None):
    """A NumPy array for a key/value argument; lists convert to `dtype` when given."""
    if isinstance(v, Tensor):
        a = v._data
        return a.get() if type(a) is DeviceArray else a
    if dtype is not None and dtype != _dt.string:
        return np.asarray(v, dtype=dtype._np)
    a = np.asarray(v)
    if a.dtype.kind in "USO":
        a = _utf8_storage(a.astype(object) if a.dtype.kind == "U" else a)
    return a


def _dtype_of(a):
    return _dt.string if a.dtype.kind in "OSU" else _dt.as_dtype(a.dtype)


def _key(v):
    """The dict key for one element: str becomes UTF-8 bytes, NumPy scalars Python ones."""
    if isinstance(v, str):
        return v.encode("utf-8")
    if isinstance(v, np.generic):
        return v.item()
    return v


def _out(a):
    a = np.asarray(a)
    return _wrap(a) if a.dtype.kind == "O" else convert_to_tensor(a)


def _check_supported(op, dtype, what):
    if dtype != _dt.string and dtype._np.kind not in "iufb":
        raise TypeError(f"[{op}] {what} dtype {dtype.name} is not supported (string, integer, "
                        "float or bool)")


# ----------------------------------------------------------------------------- initializers


class TextFileIndex:
    """Which part of a line a TextFileInitializer uses: the whole line or its number."""
    WHOLE_LINE = -2
    LINE_NUMBER = -1


class _Initializer:
    key_dtype = None
    value_dtype = None

    def _pairs(self, op):
        """(keys array, values array) for a table."""
        raise NotImplementedError


class KeyValueTensorInitializer(_Initializer):
    """Table contents from two 1-D tensors of the same length."""

    def __init__(self, keys, values, key_dtype=None, value_dtype=None, name=None):
        op = "KeyValueTensorInitializer"
        kd = None if key_dtype is None else _dt.as_dtype(key_dtype)
        vd = None if value_dtype is None else _dt.as_dtype(value_dtype)
        k, v = _host(keys, kd), _host(values, vd)
        if k.ndim != 1 or v.ndim != 1 or len(k) != len(v):
            raise ValueError(f"[{op}] keys and values must be 1-D of the same length, got "
                             f"shapes {k.shape} and {v.shape}")
        self._keys, self._values = k, v
        self.key_dtype = kd or _dtype_of(k)
        self.value_dtype = vd or _dtype_of(v)
        if isinstance(keys, Tensor) and kd is not None and _dtype_of(k) != kd:
            raise TypeError(f"[{op}] keys have dtype {_dtype_of(k).name}, key_dtype is "
                            f"{kd.name}")
        _check_supported(op, self.key_dtype, "key")
        _check_supported(op, self.value_dtype, "value")

    def _pairs(self, op):
        return self._keys, self._values


def _convert_field(text, dtype, op, where):
    if dtype == _dt.string:
        return text.encode("utf-8")
    try:
        if dtype._np.kind in "iu":
            return int(text)
        if dtype._np.kind == "f":
            return float(text)
    except ValueError:
        raise InvalidArgumentError(f"[{op}] field {text!r} at {where} is not a valid "
                                   f"{dtype.name}") from None
    raise TypeError(f"[{op}] dtype {dtype.name} is not supported for a text file column")


class TextFileInitializer(_Initializer):
    """Table contents from a text file, one entry per line: the key and the value are the
    whole line (TextFileIndex.WHOLE_LINE, a string), the line number
    (TextFileIndex.LINE_NUMBER, int64, counting from 0) or a column of the line split at
    `delimiter`. `vocab_size` reads only that many lines (the file must have them)."""

    def __init__(self, filename, key_dtype, key_index, value_dtype, value_index,
                 vocab_size=None, delimiter="\t", name=None, value_index_offset=0):
        op = "TextFileInitializer"
        if isinstance(filename, Tensor):
            filename = filename.numpy()
        if isinstance(filename, bytes):
            filename = filename.decode()
        self._filename = str(filename)
        self.key_dtype = _dt.as_dtype(key_dtype)
        self.value_dtype = _dt.as_dtype(value_dtype)
        for idx, dt, what in ((key_index, self.key_dtype, "key"),
                              (value_index, self.value_dtype, "value")):
            if idx == TextFileIndex.WHOLE_LINE and dt != _dt.string:
                raise ValueError(f"[{op}] the {what} of the whole line must be a string, got "
                                 f"{what}_dtype {dt.name}")
            if idx == TextFileIndex.LINE_NUMBER and dt._np.kind not in "iu":
                raise ValueError(f"[{op}] the {what} of the line number must be an integer, "
                                 f"got {what}_dtype {dt.name}")
            if idx < -2:
                raise ValueError(f"[{op}] invalid {what}_index {idx}")
        self._key_index, self._value_index = int(key_index), int(value_index)
        self._vocab_size = None if vocab_size is None else int(vocab_size)
        self._delimiter = delimiter
        self._offset = int(value_index_offset)

    def _pairs(self, op):
        try:
            with open(self._filename, "rb") as fh:
                text = fh.read().decode("utf-8")
        except OSError as e:
            raise NotFoundError(f"[{op}] cannot read the table file {self._filename!r}: "
                                f"{e}") from None
        lines = text.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        lines = [ln[:-1] if ln.endswith("\r") else ln for ln in lines]
        if self._vocab_size is not None:
            if len(lines) < self._vocab_size:
                raise InvalidArgumentError(f"[{op}] Invalid vocab_size in "
                                           f"{self._filename}: expected {self._vocab_size} "
                                           f"lines, the file has {len(lines)}")
            lines = lines[:self._vocab_size]
        keys, values = [], []
        for n, line in enumerate(lines):
            cols = None
            out = []
            for idx, dt in ((self._key_index, self.key_dtype),
                            (self._value_index, self.value_dtype)):
                if idx == TextFileIndex.WHOLE_LINE:
                    out.append(line.encode("utf-8"))
                elif idx == TextFileIndex.LINE_NUMBER:
                    out.append(n + (self._offset if dt is self.value_dtype else 0))
                else:
                    if cols is None:
                        cols = line.split(self._delimiter)
                    if idx >= len(cols):
                        raise InvalidArgumentError(
                            f"[{op}] Invalid number of columns in {self._filename} line {n} "
                            f"({line!r}): expected more than {idx}, got {len(cols)}")
                    out.append(_convert_field(cols[idx], dt, op, f"line {n}"))
            keys.append(out[0])
            values.append(out[1])
        return _array(keys, self.key_dtype), _array(values, self.value_dtype)


def _array(items, dtype):
    if dtype == _dt.string:
        a = np.empty(len(items), object)
        a[:] = items
        return a
    return np.array(items, dtype=dtype._np).reshape(-1)


# ----------------------------------------------------------------------------- tables


class _Table:
    """The shared lookup: keys of any structure, values from the dict or the default."""

    _name = "table"

    def _keys_array(self, keys, op):
        """(the keys as a NumPy array, a function that rebuilds keys' structure)."""
        kind = type(keys).__name__
        if kind == "RaggedTensor":
            flat = keys._flat()
            self._check_key_dtype(_dtype_of(flat), op)
            return flat, lambda vals: keys._rebuild(vals)
        if kind == "SparseTensor":
            vals = keys.values
            flat = _host(vals)
            self._check_key_dtype(_dtype_of(flat), op)
            return flat, lambda v: keys.with_values(_out(v))
        if isinstance(keys, Tensor):
            a = _host(keys)
            self._check_key_dtype(_dtype_of(a), op)
        else:
            a = _host(keys, self.key_dtype)
            if self.key_dtype == _dt.string and a.dtype.kind != "O":
                raise TypeError(f"[{op}] Signature mismatch. Keys must be dtype string, got "
                                f"{_dtype_of(a).name}")
        return a, _out

    def _check_key_dtype(self, got, op):
        if got != self.key_dtype:
            raise TypeError(f"[{op}] Signature mismatch. Keys must be dtype "
                            f"{self.key_dtype.name}, got {got.name}")

    def _lookup_values(self, flat, op):
        raise NotImplementedError

    def lookup(self, keys, name=None):
        """The value of every key (the default value, or a bucket, for missing ones), in the
        keys' shape; a RaggedTensor or SparseTensor of keys gives the same kind back."""
        op = f"{self._name}.lookup"
        flat, rebuild = self._keys_array(keys, op)
        return rebuild(self._lookup_values(flat, op))

    def __getitem__(self, keys):
        return self.lookup(keys)

    @property
    def resource_handle(self):
        return self


class _DictTable(_Table):
    def _lookup_values(self, flat, op):
        d, default = self._table, self._default
        out = np.empty(flat.shape + self._value_shape,
                       object if self.value_dtype == _dt.string else self.value_dtype._np)
        view = out.reshape((-1,) + self._value_shape)
        for i, k in enumerate(flat.reshape(-1).tolist()):
            view[i] = d.get(_key(k), default)
        return out

    def size(self, name=None):
        return _wrap(np.array(len(self._table), np.int64))

    def export(self, name=None):
        """(keys, values) of every entry, in insertion order."""
        keys = _array(list(self._table), self.key_dtype)
        vals = list(self._table.values())
        if self.value_dtype == _dt.string:
            v = np.empty((len(vals),) + self._value_shape, object)
            for i, x in enumerate(vals):
                v[i] = x
        else:
            v = np.array(vals, self.value_dtype._np).reshape((len(vals),) + self._value_shape)
        return _out(keys), _out(v)


def _default_array(default_value, value_dtype, op):
    d = _host(default_value, value_dtype)
    if value_dtype == _dt.string:
        d = np.asarray(_utf8_storage(np.asarray(d, dtype=object)) if d.dtype.kind != "O" else d)
        if d.ndim == 0:
            v = d.item()
            return (v.encode("utf-8") if isinstance(v, str) else v), ()
        return d, d.shape
    if d.ndim == 0:
        return d.item(), ()
    return d.astype(value_dtype._np), d.shape


class StaticHashTable(_DictTable):
    """An immutable table filled once by its initializer; missing keys give default_value."""

    _name = "StaticHashTable"

    def __init__(self, initializer, default_value, name=None, experimental_is_anonymous=False):
        op = self._name
        if not isinstance(initializer, _Initializer):
            raise TypeError(f"[{op}] initializer must be a KeyValueTensorInitializer or "
                            f"TextFileInitializer, got {type(initializer).__name__}")
        self.key_dtype = initializer.key_dtype
        self.value_dtype = initializer.value_dtype
        dflt = _host(default_value)
        if isinstance(default_value, Tensor) and _dtype_of(dflt) != self.value_dtype:
            raise TypeError(f"[{op}] default_value has dtype {_dtype_of(dflt).name}, the "
                            f"table's values {self.value_dtype.name}")
        if dflt.ndim != 0:
            raise ValueError(f"[{op}] default_value must be a scalar, got shape {dflt.shape}")
        self._default, self._value_shape = _default_array(default_value, self.value_dtype, op)
        if self.value_dtype == _dt.string and not isinstance(self._default, bytes):
            raise TypeError(f"[{op}] default_value {default_value!r} is not a string, the "
                            "table's values are strings")
        self._initializer = initializer
        self._table = {}
        keys, values = initializer._pairs(op)
        for k, v in zip(keys.tolist(), values.tolist()):
            k = _key(k)
            if k in self._table and self._table[k] != v:
                raise FailedPreconditionError(
                    f"[{op}] HashTable has different value for same key. Key {k!r} has "
                    f"{self._table[k]!r} and trying to add value {v!r}")
            self._table[k] = v

    @property
    def default_value(self):
        return _out(np.asarray(self._default, object if self.value_dtype == _dt.string
                               else self.value_dtype._np))

    @property
    def initializer(self):
        return self._initializer


class StaticVocabularyTable(_Table):
    """String (or integer) keys to int64 ids: the initializer's ids for known keys,
    `Fingerprint64(key) % num_oov_buckets + vocab_size` for the others (integer keys are
    hashed as their decimal strings, as TF does)."""

    _name = "StaticVocabularyTable"

    def __init__(self, initializer, num_oov_buckets, lookup_key_dtype=None, name=None,
                 experimental_is_anonymous=False):
        op = self._name
        if int(num_oov_buckets) <= 0:
            raise ValueError(f"[{op}] num_oov_buckets must be > 0, got {num_oov_buckets}")
        self._buckets = int(num_oov_buckets)
        self._table = {}
        if initializer is None:
            self.key_dtype = _dt.as_dtype(lookup_key_dtype or _dt.string)
        else:
            if not isinstance(initializer, _Initializer):
                raise TypeError(f"[{op}] initializer must be a table initializer, got "
                                f"{type(initializer).__name__}")
            if initializer.value_dtype != _dt.int64:
                raise TypeError(f"[{op}] Invalid value dtype, expected int64 but got "
                                f"{initializer.value_dtype.name}")
            self.key_dtype = _dt.as_dtype(lookup_key_dtype or initializer.key_dtype)
            keys, values = initializer._pairs(op)
            for k, v in zip(keys.tolist(), values.tolist()):
                self._table[_key(k)] = int(v)
        if self.key_dtype != _dt.string and self.key_dtype._np.kind not in "iu":
            raise TypeError(f"[{op}] keys must be strings or integers, got "
                            f"{self.key_dtype.name}")
        self.value_dtype = _dt.int64
        self._value_shape = ()
        self._initializer = initializer

    def _lookup_values(self, flat, op):
        from .ops.farmhash import fingerprint64
        d, vocab, nb = self._table, len(self._table), self._buckets
        out = np.empty(flat.shape, np.int64)
        view = out.reshape(-1)
        for i, k in enumerate(flat.reshape(-1).tolist()):
            k = _key(k)
            v = d.get(k)
            if v is None:
                b = k if isinstance(k, bytes) else str(k).encode("utf-8")
                v = fingerprint64(b) % nb + vocab
            view[i] = v
        return out

    def size(self, name=None):
        return _wrap(np.array(len(self._table) + self._buckets, np.int64))

    @property
    def initializer(self):
        return self._initializer


class MutableHashTable(_DictTable):
    """A table to insert into, look up and remove from (tf.lookup.experimental.
    MutableHashTable); values may be vectors (default_value gives their shape)."""

    _name = "MutableHashTable"

    def __init__(self, key_dtype, value_dtype, default_value, name="MutableHashTable",
                 checkpoint=True, experimental_is_anonymous=False):
        op = self._name
        self.key_dtype = _dt.as_dtype(key_dtype)
        self.value_dtype = _dt.as_dtype(value_dtype)
        _check_supported(op, self.key_dtype, "key")
        _check_supported(op, self.value_dtype, "value")
        self._default, self._value_shape = _default_array(default_value, self.value_dtype, op)
        self._table = {}

    @property
    def default_value(self):
        return _out(np.asarray(self._default, object if self.value_dtype == _dt.string
                               else self.value_dtype._np))

    def _values_for(self, values, n, op):
        if isinstance(values, Tensor):
            v = _host(values)
            if _dtype_of(v) != self.value_dtype:
                raise TypeError(f"[{op}] Signature mismatch. Values must be dtype "
                                f"{self.value_dtype.name}, got {_dtype_of(v).name}")
        else:
            v = _host(values, self.value_dtype)
        if v.shape != (n,) + self._value_shape:
            raise InvalidArgumentError(f"[{op}] Expected shape {[n] + list(self._value_shape)} "
                                       f"for value, got {list(v.shape)}")
        return v

    def insert(self, keys, values, name=None):
        """Sets the value of each key (later keys win)."""
        op = f"{self._name}.insert"
        k, _ = self._keys_array(keys, op)
        k = k.reshape(-1)
        v = self._values_for(values, len(k), op)
        for key, val in zip(k.tolist(), list(v)):
            self._check_reserved(_key(key), op)
            self._table[_key(key)] = val.item() if isinstance(val, np.generic) or (
                isinstance(val, np.ndarray) and val.ndim == 0) else val

    def remove(self, keys, name=None):
        """Removes the keys (missing ones are ignored)."""
        op = f"{self._name}.remove"
        k, _ = self._keys_array(keys, op)
        for key in k.reshape(-1).tolist():
            self._check_reserved(_key(key), op)
            self._table.pop(_key(key), None)

    def _check_reserved(self, key, op):
        pass


class DenseHashTable(MutableHashTable):
    """tf.lookup.experimental.DenseHashTable: a MutableHashTable whose `empty_key` and
    `deleted_key` are reserved (they may not be inserted, looked up or removed). nabi keeps a
    dict, so export() gives the entries, not TF's bucket arrays."""

    _name = "DenseHashTable"

    def __init__(self, key_dtype, value_dtype, default_value, empty_key, deleted_key,
                 initial_num_buckets=None, name="MutableDenseHashTable", checkpoint=True,
                 experimental_is_anonymous=False):
        super().__init__(key_dtype, value_dtype, default_value)
        op = self._name
        self._empty = _key(np.asarray(_host(empty_key, self.key_dtype)).reshape(-1)[0])
        self._deleted = _key(np.asarray(_host(deleted_key, self.key_dtype)).reshape(-1)[0])
        if self._empty == self._deleted:
            raise InvalidArgumentError(f"[{op}] Empty and deleted keys must have different "
                                       f"values, both are {self._empty!r}")

    def _check_reserved(self, key, op):
        if key == self._empty:
            raise InvalidArgumentError(f"[{op}] Using the empty_key as a table key is not "
                                       f"allowed: {key!r}")
        if key == self._deleted:
            raise InvalidArgumentError(f"[{op}] Using the deleted_key as a table key is not "
                                       f"allowed: {key!r}")

    def _lookup_values(self, flat, op):
        for k in flat.reshape(-1).tolist():
            self._check_reserved(_key(k), op)
        return super()._lookup_values(flat, op)

    def erase(self, keys, name=None):
        return self.remove(keys)


experimental = types.SimpleNamespace(MutableHashTable=MutableHashTable,
                                     DenseHashTable=DenseHashTable)
