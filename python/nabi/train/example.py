"""`tf.train.Example` and its parts, and `tf.io.parse_single_example` / `parse_example`.

    ex = tf.train.Example(features=tf.train.Features(feature={
        "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[3])),
        "image": tf.train.Feature(bytes_list=tf.train.BytesList(value=[png_bytes]))}))
    data = ex.SerializeToString()
    parsed = tf.io.parse_single_example(data, {"label": tf.io.FixedLenFeature([], tf.int64)})

The classes are small Python objects that write and read the protobuf wire format of TF's
example.proto by hand (no protobuf dependency), so their bytes are the bytes TensorFlow writes
and reads:

    Example   { Features features = 1; }
    Features  { map<string, Feature> feature = 1; }   # entries: key = 1, value = 2
    Feature   { oneof kind { BytesList bytes_list = 1; FloatList float_list = 2;
                             Int64List int64_list = 3; } }
    BytesList { repeated bytes value = 1; }
    FloatList { repeated float value = 1 [packed = true]; }
    Int64List { repeated int64 value = 1 [packed = true]; }

    SequenceExample { Features context = 1; FeatureLists feature_lists = 2; }
    FeatureLists { map<string, FeatureList> feature_list = 1; }
    FeatureList  { repeated Feature feature = 1; }

Lists are written packed, as TF does, and read packed or not. Map entries are written in the
dict's order (sorted with SerializeToString(deterministic=True)). Unknown fields are skipped
when parsing. Malformed bytes raise DecodeError.

parse_single_example / parse_example return a dict of Tensors: FixedLenFeature and
FixedLenSequenceFeature give dense tensors; VarLenFeature gives a tf.SparseTensor
(nabi.sparse.SparseTensor: .indices, .values, .dense_shape; tf.sparse.to_dense makes it dense).
"""
import math
import struct

import numpy as np

from .. import dtypes as _dt
from ..errors import InvalidArgumentError
from ..framework.tensor import Tensor, _wrap

__all__ = ["BytesList", "FloatList", "Int64List", "Feature", "Features", "Example",
           "FeatureList", "FeatureLists", "SequenceExample",
           "DecodeError", "FixedLenFeature", "FixedLenSequenceFeature", "VarLenFeature",
           "parse_single_example", "parse_example", "parse_single_sequence_example",
           "serialize_tensor", "serialize_sparse", "parse_tensor"]


class DecodeError(ValueError):
    """google.protobuf.message.DecodeError: the bytes are not a valid message."""


# ---------------------------------------------------------------------- wire format
def _varint(n):
    n &= (1 << 64) - 1  # negative int64s are written as ten bytes (two's complement)
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _field(number, payload):
    """A length-delimited field (wire type 2)."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _read_varint(buf, pos, what):
    result, shift = 0, 0
    while True:
        if pos >= len(buf):
            raise DecodeError(f"Error parsing message {what}: truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            raise DecodeError(f"Error parsing message {what}: varint too long")


def _fields(buf, what):
    """(field number, wire type, value) for each field; value is an int for varints and
    fixed-width fields, bytes for length-delimited ones."""
    pos, n = 0, len(buf)
    while pos < n:
        key, pos = _read_varint(buf, pos, what)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise DecodeError(f"Error parsing message {what}: field number 0")
        if wire == 0:
            value, pos = _read_varint(buf, pos, what)
        elif wire == 1:
            if pos + 8 > n:
                raise DecodeError(f"Error parsing message {what}: truncated 64-bit field")
            value, pos = buf[pos:pos + 8], pos + 8
        elif wire == 2:
            length, pos = _read_varint(buf, pos, what)
            if pos + length > n:
                raise DecodeError(f"Error parsing message {what}: a field of {length} bytes "
                                  f"runs past the end ({n - pos} left)")
            value, pos = bytes(buf[pos:pos + length]), pos + length
        elif wire == 5:
            if pos + 4 > n:
                raise DecodeError(f"Error parsing message {what}: truncated 32-bit field")
            value, pos = buf[pos:pos + 4], pos + 4
        else:
            raise DecodeError(f"Error parsing message {what}: unsupported wire type {wire}")
        yield number, wire, value


def _as_bytes(data, what):
    if isinstance(data, Tensor):
        data = data.numpy()
    if isinstance(data, np.ndarray) and data.ndim == 0:
        data = data.item()
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"[{what}] expects bytes, got {type(data).__name__}")
    return bytes(data)


def _int64(v):
    return v - (1 << 64) if v >= 1 << 63 else v


# ---------------------------------------------------------------------- messages
class _Message:
    """What the generated protobuf classes offer and notebooks use."""

    def SerializeToString(self, deterministic=False):  # noqa: N802 (protobuf's name)
        return self._encode(deterministic)

    def ParseFromString(self, data):  # noqa: N802
        data = _as_bytes(data, f"{type(self).__name__}.ParseFromString")
        self.Clear()
        self._merge(data)
        return len(data)

    def MergeFromString(self, data):  # noqa: N802
        data = _as_bytes(data, f"{type(self).__name__}.MergeFromString")
        self._merge(data)
        return len(data)

    @classmethod
    def FromString(cls, data):  # noqa: N802
        m = cls()
        m._merge(_as_bytes(data, f"{cls.__name__}.FromString"))
        return m

    def ByteSize(self):  # noqa: N802
        return len(self._encode(False))

    def CopyFrom(self, other):  # noqa: N802
        if type(other) is not type(self):
            raise TypeError(f"[{type(self).__name__}.CopyFrom] expects a {type(self).__name__}, "
                            f"got {type(other).__name__}")
        self.ParseFromString(other.SerializeToString())

    def __eq__(self, other):
        return type(other) is type(self) and \
            self.SerializeToString(True) == other.SerializeToString(True)

    __hash__ = None

    def __str__(self):
        return "\n".join(self._text(0)) + ("\n" if self._text(0) else "")

    def __repr__(self):
        return self.__str__()


def _check_items(values, check, cls):
    if values is None:
        return []
    if isinstance(values, Tensor):
        values = values.numpy()
    if isinstance(values, (str, bytes)) or np.ndim(values) == 0:
        raise TypeError(f"[{cls}] value must be a list (a repeated field), got "
                        f"{type(values).__name__} {values!r}")
    if isinstance(values, np.ndarray):
        values = values.reshape(-1).tolist() if values.ndim > 1 else values.tolist()
    return [check(v) for v in values]


def _check_bytes(v):
    if isinstance(v, np.ndarray) and v.ndim == 0:
        v = v.item()
    if isinstance(v, (bytes, bytearray)):
        return bytes(v)
    raise TypeError(f"[BytesList] {v!r} has type {type(v).__name__}, but expected one of: "
                    "bytes")


def _check_float(v):
    if isinstance(v, (bool, np.bool_)) or isinstance(v, (str, bytes)):
        raise TypeError(f"[FloatList] {v!r} has type {type(v).__name__}, but expected one of: "
                        "int, float")
    try:
        return float(np.float32(float(v)))
    except (TypeError, ValueError):
        raise TypeError(f"[FloatList] {v!r} has type {type(v).__name__}, but expected one of: "
                        "int, float") from None


def _check_int64(v):
    if isinstance(v, (float, np.floating)) or isinstance(v, (str, bytes)):
        raise TypeError(f"[Int64List] {v!r} has type {type(v).__name__}, but expected one of: "
                        "int")
    try:
        i = int(v.__index__())
    except (AttributeError, TypeError):
        raise TypeError(f"[Int64List] {v!r} has type {type(v).__name__}, but expected one of: "
                        "int") from None
    if not -2 ** 63 <= i < 2 ** 63:
        raise ValueError(f"[Int64List] Value out of range: {i}")
    return i


class _RepeatedList(_Message):
    _check = None
    _kind = ""

    def __init__(self, value=None):
        self.value = _check_items(value, type(self)._check, type(self).__name__)

    @property
    def value(self):
        return self._value

    @value.setter
    def value(self, values):
        self._value = _check_items(values, type(self)._check, type(self).__name__)

    def Clear(self):  # noqa: N802
        self._value = []

    def _text(self, indent):
        pad = "  " * indent
        return [f"{pad}value: {self._fmt(v)}" for v in self._value]


class BytesList(_RepeatedList):
    """tf.train.BytesList(value=[b"...", ...])."""

    _check = staticmethod(_check_bytes)

    def _encode(self, deterministic):
        return b"".join(_field(1, v) for v in self._value)

    def _merge(self, data):
        for number, wire, value in _fields(data, "BytesList"):
            if number == 1:
                if wire != 2:
                    raise DecodeError("Error parsing message BytesList: value has wire type "
                                      f"{wire}, expected 2")
                self._value.append(value)

    @staticmethod
    def _fmt(v):
        return '"' + "".join(chr(b) if 32 <= b < 127 and b not in (34, 92) else
                             f"\\{b:03o}" for b in v) + '"'


class FloatList(_RepeatedList):
    """tf.train.FloatList(value=[1.0, ...]); values are float32."""

    _check = staticmethod(_check_float)

    def _encode(self, deterministic):
        if not self._value:
            return b""
        return _field(1, np.asarray(self._value, dtype="<f4").tobytes())

    def _merge(self, data):
        for number, wire, value in _fields(data, "FloatList"):
            if number != 1:
                continue
            if wire == 2:
                if len(value) % 4:
                    raise DecodeError("Error parsing message FloatList: packed floats of "
                                      f"{len(value)} bytes")
                self._value.extend(np.frombuffer(value, dtype="<f4").astype(float).tolist())
            elif wire == 5:
                self._value.append(struct.unpack("<f", value)[0])
            else:
                raise DecodeError(f"Error parsing message FloatList: value has wire type {wire}")

    @staticmethod
    def _fmt(v):
        if math.isnan(v) or math.isinf(v):
            return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")
        return str(np.float32(v))


class Int64List(_RepeatedList):
    """tf.train.Int64List(value=[1, ...])."""

    _check = staticmethod(_check_int64)

    def _encode(self, deterministic):
        if not self._value:
            return b""
        return _field(1, b"".join(_varint(v) for v in self._value))

    def _merge(self, data):
        for number, wire, value in _fields(data, "Int64List"):
            if number != 1:
                continue
            if wire == 2:
                pos = 0
                while pos < len(value):
                    v, pos = _read_varint(value, pos, "Int64List")
                    self._value.append(_int64(v & ((1 << 64) - 1)))
            elif wire == 0:
                self._value.append(_int64(value & ((1 << 64) - 1)))
            else:
                raise DecodeError(f"Error parsing message Int64List: value has wire type {wire}")

    _fmt = staticmethod(str)


_KINDS = (("bytes_list", BytesList, 1), ("float_list", FloatList, 2),
          ("int64_list", Int64List, 3))


class Feature(_Message):
    """tf.train.Feature(bytes_list=... | float_list=... | int64_list=...): one of the three."""

    def __init__(self, bytes_list=None, float_list=None, int64_list=None):
        self.Clear()
        given = [(name, v) for name, v in (("bytes_list", bytes_list),
                                            ("float_list", float_list),
                                            ("int64_list", int64_list)) if v is not None]
        if len(given) > 1:
            raise ValueError("[Feature] bytes_list, float_list and int64_list are one of a "
                             f"kind: give one, got {[n for n, _ in given]}")
        for name, v in given:
            cls = dict((k, c) for k, c, _ in _KINDS)[name]
            if isinstance(v, dict):
                v = cls(**v)
            if not isinstance(v, cls):
                raise TypeError(f"[Feature] {name} must be a {cls.__name__}, got "
                                f"{type(v).__name__}")
            self._kind, self._list = name, v

    def Clear(self):  # noqa: N802
        self._kind, self._list = None, None

    def WhichOneof(self, group):  # noqa: N802
        if group != "kind":
            raise ValueError(f"[Feature.WhichOneof] Feature has no oneof {group!r}; it has "
                             "'kind'")
        return self._kind

    def HasField(self, name):  # noqa: N802
        return self._kind == name

    def _get(self, name):
        if self._kind == name:
            return self._list
        cls = dict((k, c) for k, c, _ in _KINDS)[name]
        return cls()  # protobuf reads an unset sub-message as its default

    bytes_list = property(lambda self: self._get("bytes_list"))
    float_list = property(lambda self: self._get("float_list"))
    int64_list = property(lambda self: self._get("int64_list"))

    def _encode(self, deterministic):
        if self._kind is None:
            return b""
        number = {k: n for k, _, n in _KINDS}[self._kind]
        return _field(number, self._list._encode(deterministic))

    def _merge(self, data):
        for number, wire, value in _fields(data, "Feature"):
            for name, cls, n in _KINDS:
                if number == n:
                    if wire != 2:
                        raise DecodeError(f"Error parsing message Feature: {name} has wire "
                                          f"type {wire}")
                    if self._kind != name:
                        self._kind, self._list = name, cls()
                    self._list._merge(value)

    def _text(self, indent):
        if self._kind is None:
            return []
        pad = "  " * indent
        return [f"{pad}{self._kind} {{"] + self._list._text(indent + 1) + [f"{pad}}}"]


class _FeatureMap(dict):
    """Features.feature: a dict of str -> Feature that checks what goes in."""

    def __setitem__(self, key, value):
        dict.__setitem__(self, _key(key), _feature(value))

    def __missing__(self, key):
        f = Feature()  # protobuf maps create an entry on read
        dict.__setitem__(self, _key(key), f)
        return f

    def update(self, *args, **kwargs):
        for k, v in dict(*args, **kwargs).items():
            self[k] = v


def _key(key):
    if isinstance(key, bytes):
        key = key.decode("utf-8")
    if not isinstance(key, str):
        raise TypeError(f"[Features] feature names must be str, got {type(key).__name__}")
    return key


def _feature(value):
    if isinstance(value, dict):
        value = Feature(**value)
    if not isinstance(value, Feature):
        raise TypeError(f"[Features] a feature must be a tf.train.Feature, got "
                        f"{type(value).__name__}")
    return value


class _NamedMessages(_Message):
    """A protobuf map<string, message> field (number 1) as a dict-like attribute: Features'
    `feature` (name -> Feature) and FeatureLists' `feature_list` (name -> FeatureList)."""

    _attr = _value_cls = _map_cls = None   # set by each subclass

    def __init__(self, mapping=None):
        self.Clear()
        if mapping is not None:
            self._map.update(mapping)

    def Clear(self):  # noqa: N802
        self._map = self._map_cls()

    def _encode(self, deterministic):
        keys = sorted(self._map) if deterministic else list(self._map)
        return b"".join(_field(1, _field(1, k.encode("utf-8")) +
                               _field(2, self._map[k]._encode(deterministic)))
                        for k in keys)

    def _merge(self, data):
        msg = type(self).__name__
        for number, wire, value in _fields(data, msg):
            if number != 1:
                continue
            if wire != 2:
                raise DecodeError(f"Error parsing message {msg}: {self._attr} has wire type "
                                  f"{wire}")
            key, item = b"", self._value_cls()
            for n, w, v in _fields(value, f"{msg}.Entry"):
                if n == 1 and w == 2:
                    key = v
                elif n == 2 and w == 2:
                    item = self._value_cls()
                    item._merge(v)
            try:
                name = key.decode("utf-8")
            except UnicodeDecodeError:
                raise DecodeError(f"Error parsing message {msg}: a {self._attr} name is not "
                                  "valid UTF-8") from None
            dict.__setitem__(self._map, name, item)

    def _text(self, indent):
        pad = "  " * indent
        out = []
        for k in sorted(self._map):
            out += [f"{pad}{self._attr} {{", f'{pad}  key: "{k}"', f"{pad}  value {{"]
            out += self._map[k]._text(indent + 2)
            out += [f"{pad}  }}", f"{pad}}}"]
        return out


class Features(_NamedMessages):
    """tf.train.Features(feature={name: Feature, ...})."""

    _attr, _value_cls, _map_cls = "feature", Feature, _FeatureMap

    def __init__(self, feature=None):
        super().__init__(feature)

    @property
    def feature(self):
        return self._map


class Example(_Message):
    """tf.train.Example(features=tf.train.Features(...))."""

    def __init__(self, features=None):
        self.Clear()
        if features is not None:
            self._has = True
            if isinstance(features, dict):
                features = Features(**features)
            if not isinstance(features, Features):
                raise TypeError(f"[Example] features must be a tf.train.Features, got "
                                f"{type(features).__name__}")
            self._features = features

    def Clear(self):  # noqa: N802
        self._features = Features()
        self._has = False

    @property
    def features(self):
        return self._features

    def _encode(self, deterministic):
        inner = self._features._encode(deterministic)
        return _field(1, inner) if inner or self._has else b""

    def _merge(self, data):
        for number, wire, value in _fields(data, "Example"):
            if number == 1:
                if wire != 2:
                    raise DecodeError(f"Error parsing message Example: features has wire type "
                                      f"{wire}")
                self._features._merge(value)
                self._has = True

    def _text(self, indent):
        if not self._features.feature:
            return []
        return ["features {"] + self._features._text(1) + ["}"]


class FeatureList(_Message):
    """tf.train.FeatureList(feature=[Feature, ...]): one Feature per time step."""

    def __init__(self, feature=None):
        self.Clear()
        for f in feature or []:
            self._feature.append(_feature(f))

    def Clear(self):  # noqa: N802
        self._feature = []

    @property
    def feature(self):
        return self._feature

    def _encode(self, deterministic):
        return b"".join(_field(1, f._encode(deterministic)) for f in self._feature)

    def _merge(self, data):
        for number, wire, value in _fields(data, "FeatureList"):
            if number != 1:
                continue
            if wire != 2:
                raise DecodeError(f"Error parsing message FeatureList: feature has wire type "
                                  f"{wire}")
            f = Feature()
            f._merge(value)
            self._feature.append(f)

    def _text(self, indent):
        pad = "  " * indent
        out = []
        for f in self._feature:
            out += [f"{pad}feature {{"] + f._text(indent + 1) + [f"{pad}}}"]
        return out


class _FeatureListMap(dict):
    """FeatureLists.feature_list: a dict of str -> FeatureList that checks what goes in."""

    def __setitem__(self, key, value):
        if not isinstance(value, FeatureList):
            raise TypeError(f"[FeatureLists] a feature list must be a tf.train.FeatureList, "
                            f"got {type(value).__name__}")
        dict.__setitem__(self, _key(key), value)

    def __missing__(self, key):
        f = FeatureList()
        dict.__setitem__(self, _key(key), f)
        return f

    def update(self, *args, **kwargs):
        for k, v in dict(*args, **kwargs).items():
            self[k] = v


class FeatureLists(_NamedMessages):
    """tf.train.FeatureLists(feature_list={name: FeatureList, ...})."""

    _attr, _value_cls, _map_cls = "feature_list", FeatureList, _FeatureListMap

    def __init__(self, feature_list=None):
        super().__init__(feature_list)

    @property
    def feature_list(self):
        return self._map


class SequenceExample(_Message):
    """tf.train.SequenceExample(context=tf.train.Features(...),
    feature_lists=tf.train.FeatureLists(...))."""

    def __init__(self, context=None, feature_lists=None):
        self.Clear()
        if context is not None:
            if isinstance(context, dict):
                context = Features(**context)
            if not isinstance(context, Features):
                raise TypeError(f"[SequenceExample] context must be a tf.train.Features, got "
                                f"{type(context).__name__}")
            self._context, self._has_context = context, True
        if feature_lists is not None:
            if isinstance(feature_lists, dict):
                feature_lists = FeatureLists(**feature_lists)
            if not isinstance(feature_lists, FeatureLists):
                raise TypeError(f"[SequenceExample] feature_lists must be a "
                                f"tf.train.FeatureLists, got {type(feature_lists).__name__}")
            self._feature_lists, self._has_lists = feature_lists, True

    def Clear(self):  # noqa: N802
        self._context, self._has_context = Features(), False
        self._feature_lists, self._has_lists = FeatureLists(), False

    @property
    def context(self):
        return self._context

    @property
    def feature_lists(self):
        return self._feature_lists

    def _encode(self, deterministic):
        out = b""
        inner = self._context._encode(deterministic)
        if inner or self._has_context:
            out += _field(1, inner)
        inner = self._feature_lists._encode(deterministic)
        if inner or self._has_lists:
            out += _field(2, inner)
        return out

    def _merge(self, data):
        for number, wire, value in _fields(data, "SequenceExample"):
            if number in (1, 2) and wire != 2:
                raise DecodeError(f"Error parsing message SequenceExample: field {number} has "
                                  f"wire type {wire}")
            if number == 1:
                self._context._merge(value)
                self._has_context = True
            elif number == 2:
                self._feature_lists._merge(value)
                self._has_lists = True

    def _text(self, indent):
        out = []
        if self._context.feature:
            out += ["context {"] + self._context._text(1) + ["}"]
        if self._feature_lists.feature_list:
            out += ["feature_lists {"] + self._feature_lists._text(1) + ["}"]
        return out


# ---------------------------------------------------------------------- parsing specs
_PARSE_DTYPES = {"float32": "float_list", "int64": "int64_list", "string": "bytes_list"}


def _parse_dtype(dtype, what):
    dt = _dt.as_dtype(dtype)
    if dt.name not in _PARSE_DTYPES:
        raise ValueError(f"[{what}] dtype must be float32, int64 or string (the types an "
                         f"Example holds), got {dt.name}")
    return dt


class FixedLenFeature:
    """tf.io.FixedLenFeature(shape, dtype, default_value=None): a dense feature with exactly
    prod(shape) values; missing ones take default_value (required when None)."""

    def __init__(self, shape, dtype, default_value=None):
        self.shape = tuple(int(d) for d in ([shape] if np.ndim(shape) == 0 and
                                             not isinstance(shape, (list, tuple)) else shape))
        self.dtype = _parse_dtype(dtype, "FixedLenFeature")
        self.default_value = default_value

    def __repr__(self):
        return (f"FixedLenFeature(shape={list(self.shape)}, dtype=nabi.{self.dtype.name}, "
                f"default_value={self.default_value!r})")


class FixedLenSequenceFeature:
    """tf.io.FixedLenSequenceFeature(shape, dtype, allow_missing=False, default_value=None):
    any number of values of `shape`, stacked on a new first axis (padded with default_value,
    or 0 / b"", in parse_example)."""

    def __init__(self, shape, dtype, allow_missing=False, default_value=None):
        self.shape = tuple(int(d) for d in shape)
        self.dtype = _parse_dtype(dtype, "FixedLenSequenceFeature")
        self.allow_missing = bool(allow_missing)
        self.default_value = default_value


class VarLenFeature:
    """tf.io.VarLenFeature(dtype): any number of values, returned as a SparseTensor."""

    def __init__(self, dtype):
        self.dtype = _parse_dtype(dtype, "VarLenFeature")

    def __repr__(self):
        return f"VarLenFeature(dtype=nabi.{self.dtype.name})"


def _sparse(indices, values, dense_shape):
    """VarLenFeature results are nabi.sparse.SparseTensor (tf.SparseTensor); imported late:
    nabi.train loads before nabi.sparse."""
    from ..sparse import SparseTensor
    return SparseTensor(indices, values, dense_shape)


# ---------------------------------------------------------------------- parsing
def _values(feature, name, dt, index):
    """The feature's values as a 1-D array of dt (None when the feature is absent)."""
    if feature is None or feature._kind is None:
        return None
    want = _PARSE_DTYPES[dt.name]
    if feature._kind != want:
        got = {"float_list": "float", "int64_list": "int64", "bytes_list": "string"}
        raise InvalidArgumentError(
            f"Name: <unknown>, Key: {name}, Index: {index}.  Data types don't match. Data "
            f"type: {got[feature._kind]} but expected type: {got[want]}")
    vals = feature._list._value
    if dt == _dt.string:
        a = np.empty(len(vals), dtype=object)
        a[:] = vals
        return a
    return np.array(vals, dtype=dt._np)


def _default_array(spec, name, op):
    d = spec.default_value
    dt = spec.dtype
    if isinstance(d, Tensor):
        d = d.numpy()
    if dt == _dt.string:
        a = np.asarray(d, dtype=object)
        a = np.vectorize(lambda s: s.encode("utf-8") if isinstance(s, str) else s,
                         otypes=[object])(a) if a.size else a
    else:
        a = np.asarray(d, dtype=dt._np)
    n = int(np.prod(spec.shape))
    if a.size == 1 and n != 1:
        return np.full(spec.shape, a.reshape(-1)[0], dtype=a.dtype)
    if a.size != n:
        raise ValueError(f"[{op}] the default_value of feature {name!r} has {a.size} values; "
                         f"the feature's shape {list(spec.shape)} needs {n}")
    return a.reshape(spec.shape)


def _example(serialized, op):
    data = _as_bytes(serialized, op)
    try:
        return Example.FromString(data)
    except DecodeError as e:
        raise InvalidArgumentError(f"[{op}] Could not parse example input, value: "
                                   f"{data[:40]!r}: {e}") from None


def _check_specs(features, op):
    if not isinstance(features, dict) or not features:
        raise ValueError(f"[{op}] features must be a non-empty dict of name -> "
                         "FixedLenFeature / VarLenFeature / FixedLenSequenceFeature")
    for k, spec in features.items():
        if not isinstance(spec, (FixedLenFeature, VarLenFeature, FixedLenSequenceFeature)):
            raise TypeError(f"[{op}] features[{k!r}] must be a FixedLenFeature, VarLenFeature "
                            f"or FixedLenSequenceFeature, got {type(spec).__name__}")


def _parse_all(examples, features, op):
    """Per feature, the list of per-example arrays (already checked)."""
    out = {}
    for name, spec in features.items():
        rows = []
        for i, ex in enumerate(examples):
            feat = ex._features.feature.get(name)
            vals = _values(feat, name, spec.dtype, i)
            if isinstance(spec, FixedLenFeature):
                n = int(np.prod(spec.shape))
                if vals is None:
                    if spec.default_value is None:
                        raise InvalidArgumentError(
                            f"[{op}] Feature: {name} (data type: {spec.dtype.name}) is "
                            "required but could not be found.")
                    rows.append(_default_array(spec, name, op))
                    continue
                if vals.size != n:
                    raise InvalidArgumentError(
                        f"[{op}] Name: <unknown>, Key: {name}, Index: {i}.  Number of "
                        f"{spec.dtype.name} values != expected.  Values size: {vals.size} but "
                        f"output shape: {list(spec.shape)}")
                rows.append(vals.reshape(spec.shape))
            elif isinstance(spec, FixedLenSequenceFeature):
                if vals is None:
                    if not spec.allow_missing:
                        raise InvalidArgumentError(
                            f"[{op}] Name: <unknown>, Key: {name}, Index: {i}.  Feature is "
                            "missing (set allow_missing=True to read it as empty)")
                    vals = np.zeros(0, dtype=object if spec.dtype == _dt.string
                                    else spec.dtype._np)
                per = int(np.prod(spec.shape))
                if per == 0 or vals.size % per:
                    raise InvalidArgumentError(
                        f"[{op}] Name: <unknown>, Key: {name}, Index: {i}.  Number of values "
                        f"{vals.size} is not a multiple of the shape {list(spec.shape)}")
                rows.append(vals.reshape((-1,) + spec.shape))
            else:
                if vals is None:
                    vals = np.zeros(0, dtype=object if spec.dtype == _dt.string
                                    else spec.dtype._np)
                rows.append(vals)
        out[name] = rows
    return out


def parse_single_example(serialized, features, name=None, example_names=None):
    """tf.io.parse_single_example: a dict of Tensors (SparseTensors for VarLenFeature) from
    one serialized Example."""
    op = "parse_single_example"
    _check_specs(features, op)
    parsed = _parse_all([_example(serialized, op)], features, op)
    out = {}
    for name, spec in features.items():
        (a,) = parsed[name]
        if isinstance(spec, VarLenFeature):
            n = len(a)
            out[name] = _sparse(np.arange(n, dtype=np.int64).reshape(n, 1), a, [n])
        else:
            out[name] = _wrap(a)
    return out


def parse_single_sequence_example(serialized, context_features=None,
                                  sequence_features=None, example_name=None, name=None):
    """tf.io.parse_single_sequence_example: (context, feature_lists), two dicts of Tensors
    from one serialized SequenceExample. Context features parse as in parse_single_example.
    A sequence feature is a FixedLenSequenceFeature (a dense tensor of shape
    (steps,) + shape) or a VarLenFeature (a SparseTensor of dense_shape [steps, longest step],
    indices (step, position))."""
    op = "parse_single_sequence_example"
    data = _as_bytes(serialized, op)
    try:
        seq = SequenceExample.FromString(data)
    except DecodeError as e:
        raise InvalidArgumentError(f"[{op}] Could not parse sequence example input, value: "
                                   f"{data[:40]!r}: {e}") from None
    context = {}
    if context_features:
        _check_specs(context_features, op)
        parsed = _parse_all([Example(features=seq.context)], context_features, op)
        for key, spec in context_features.items():
            (a,) = parsed[key]
            if isinstance(spec, VarLenFeature):
                n = len(a)
                context[key] = _sparse(np.arange(n, dtype=np.int64).reshape(n, 1), a, [n])
            else:
                context[key] = _wrap(a)
    lists = {}
    for key, spec in (sequence_features or {}).items():
        if not isinstance(spec, (FixedLenSequenceFeature, VarLenFeature)):
            raise TypeError(f"[{op}] sequence_features[{key!r}] must be a "
                            f"FixedLenSequenceFeature or a VarLenFeature, got "
                            f"{type(spec).__name__}")
        empty = object if spec.dtype == _dt.string else spec.dtype._np
        fl = seq.feature_lists.feature_list.get(key)
        if fl is None and isinstance(spec, FixedLenSequenceFeature) and not spec.allow_missing:
            raise InvalidArgumentError(f"[{op}] Name: <unknown>, Feature list '{key}' is "
                                       "required but could not be found.  Did you mean to "
                                       "include it in feature_list_dense_missing_assumed_"
                                       "empty or feature_list_dense_defaults?")
        steps = []
        for t, feat in enumerate(fl.feature if fl is not None else []):
            vals = _values(feat, key, spec.dtype, t)
            steps.append(np.zeros(0, dtype=empty) if vals is None else vals)
        if isinstance(spec, VarLenFeature):
            idx = [(t, j) for t, v in enumerate(steps) for j in range(len(v))]
            vals = np.concatenate(steps) if steps else np.zeros(0, dtype=empty)
            lists[key] = _sparse(np.array(idx, dtype=np.int64).reshape(-1, 2), vals,
                                 [len(steps), max((len(v) for v in steps), default=0)])
        else:
            per = int(np.prod(spec.shape))
            for t, v in enumerate(steps):
                if v.size != per:
                    raise InvalidArgumentError(
                        f"[{op}] Name: <unknown>, Key: {key}, Index: {t}.  Number of "
                        f"{spec.dtype.name} values != expected.  values size: {v.size} but "
                        f"output shape: {list(spec.shape)}")
            arr = np.stack([v.reshape(spec.shape) for v in steps]) if steps else \
                np.zeros((0,) + spec.shape, dtype=empty)
            lists[key] = _wrap(arr)
    return context, lists


def _serialized_list(serialized, op):
    if isinstance(serialized, Tensor):
        serialized = serialized.numpy()
    if isinstance(serialized, np.ndarray):
        if serialized.ndim != 1:
            raise ValueError(f"[{op}] serialized must be a vector of strings, got shape "
                             f"{serialized.shape}")
        return serialized.tolist()
    if isinstance(serialized, (bytes, str)):
        raise ValueError(f"[{op}] serialized must be a vector of strings; use "
                         "parse_single_example for one")
    return list(serialized)


def parse_example(serialized, features, example_names=None, name=None):
    """tf.io.parse_example: a batch of serialized Examples (a vector) -> a dict of Tensors with
    a leading batch dimension (SparseTensors of dense_shape [batch, max count] for
    VarLenFeature)."""
    op = "parse_example"
    _check_specs(features, op)
    examples = [_example(s, op) for s in _serialized_list(serialized, op)]
    parsed = _parse_all(examples, features, op)
    out = {}
    b = len(examples)
    for name, spec in features.items():
        rows = parsed[name]
        empty = object if spec.dtype == _dt.string else spec.dtype._np
        if isinstance(spec, VarLenFeature):
            counts = [len(r) for r in rows]
            idx = [(i, j) for i, c in enumerate(counts) for j in range(c)]
            vals = np.concatenate(rows) if rows else np.zeros(0, dtype=empty)
            out[name] = _sparse(np.array(idx, dtype=np.int64).reshape(-1, 2), vals,
                                     [b, max(counts, default=0)])
        elif isinstance(spec, FixedLenSequenceFeature):
            longest = max((len(r) for r in rows), default=0)
            pad = spec.default_value
            if pad is None:
                pad = b"" if spec.dtype == _dt.string else 0
            arr = np.full((b, longest) + spec.shape, pad, dtype=empty)
            for i, r in enumerate(rows):
                arr[i, :len(r)] = r
            out[name] = _wrap(arr)
        else:
            arr = np.stack(rows) if rows else np.zeros((0,) + spec.shape, dtype=empty)
            out[name] = _wrap(arr)
    return out


# ---------------------------------------------------------------------- TensorProto
# DataType enum values of TF's types.proto
_DT_ENUM = {"float32": 1, "float64": 2, "int32": 3, "uint8": 4, "int16": 5, "int8": 6,
            "string": 7, "int64": 9, "bool": 10, "float16": 19}
_ENUM_DT = {v: k for k, v in _DT_ENUM.items()}


def serialize_tensor(tensor, name=None):
    """tf.io.serialize_tensor: a TensorProto (dtype, shape, tensor_content or string_val), as a
    scalar string tensor."""
    a = tensor.numpy() if isinstance(tensor, Tensor) else np.asarray(tensor)
    if a.dtype.kind in "USO":
        a = np.vectorize(lambda s: s.encode("utf-8") if isinstance(s, str) else s,
                         otypes=[object])(a) if a.size else a.astype(object)
        dname = "string"
    else:
        dname = _dt.as_dtype(a.dtype).name
    if dname not in _DT_ENUM:
        raise TypeError(f"[serialize_tensor] unsupported dtype {dname}")
    shape = b"".join(_field(2, _varint(1 << 3 | 0) + _varint(int(d))) for d in a.shape)
    out = _varint(1 << 3 | 0) + _varint(_DT_ENUM[dname]) + _field(2, shape)
    if dname == "string":
        out += b"".join(_field(8, bytes(s)) for s in a.reshape(-1).tolist())
    elif a.size:
        out += _field(4, np.ascontiguousarray(a).astype(a.dtype.newbyteorder("<")).tobytes())
    return _wrap(np.array(out, dtype=object))


def serialize_sparse(sp_input, out_type=None, name=None):
    """tf.io.serialize_sparse: a string vector of 3 serialized tensors (indices, values,
    dense_shape), each as serialize_tensor writes it."""
    for attr in ("indices", "values", "dense_shape"):
        if not hasattr(sp_input, attr):
            raise TypeError(f"[serialize_sparse] expects a SparseTensor, got "
                            f"{type(sp_input).__name__}")
    if out_type is not None and _dt.as_dtype(out_type) != _dt.string:
        raise ValueError("[serialize_sparse] only out_type=tf.string is supported")
    parts = [serialize_tensor(sp_input.indices), serialize_tensor(sp_input.values),
             serialize_tensor(sp_input.dense_shape)]
    a = np.empty(3, dtype=object)
    a[:] = [p.numpy() for p in parts]
    return _wrap(a)


def parse_tensor(serialized, out_type, name=None):
    """tf.io.parse_tensor: the tensor a serialize_tensor TensorProto holds; out_type must be
    its dtype."""
    op = "parse_tensor"
    data = _as_bytes(serialized, op)
    want = _dt.as_dtype(out_type).name
    dtype, dims, content, strings = None, [], None, []
    try:
        for number, wire, value in _fields(data, "TensorProto"):
            if number == 1 and wire == 0:
                dtype = _ENUM_DT.get(value, f"enum {value}")
            elif number == 2 and wire == 2:
                for n, w, v in _fields(value, "TensorShapeProto"):
                    if n == 2 and w == 2:
                        size = 0
                        for n2, w2, v2 in _fields(v, "TensorShapeProto.Dim"):
                            if n2 == 1 and w2 == 0:
                                size = _int64(v2)
                        dims.append(size)
            elif number == 4 and wire == 2:
                content = value
            elif number == 8 and wire == 2:
                strings.append(value)
    except DecodeError as e:
        raise InvalidArgumentError(f"[{op}] Could not parse `serialized` as TensorProto: "
                                   f"{e}") from None
    if dtype != want:
        raise InvalidArgumentError(f"[{op}] Type mismatch between parsed tensor ({dtype}) and "
                                   f"dtype ({want})")
    n = int(np.prod(dims)) if dims else 1
    if want == "string":
        if len(strings) != n:
            raise InvalidArgumentError(f"[{op}] the TensorProto has {len(strings)} strings for "
                                       f"shape {dims}")
        a = np.empty(n, dtype=object)
        a[:] = strings
        return _wrap(a.reshape(dims))
    np_dt = np.dtype(_dt.as_dtype(want)._np).newbyteorder("<")
    content = content or b""
    if len(content) != n * np_dt.itemsize:
        raise InvalidArgumentError(f"[{op}] the TensorProto's tensor_content has "
                                   f"{len(content)} bytes; shape {dims} of {want} needs "
                                   f"{n * np_dt.itemsize} (only tensor_content protos, as "
                                   "serialize_tensor writes them, are read)")
    return _wrap(np.frombuffer(content, dtype=np_dt).astype(np_dt.newbyteorder("=")).
                 reshape(dims))
