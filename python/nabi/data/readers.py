"""File sources of `tf.data`: TextLineDataset, Dataset.list_files, CsvDataset and
make_csv_dataset (the "Load CSV data" and "Load text" tutorials).

    ds = tf.data.TextLineDataset(["a.txt", "b.txt"])           # scalar bytes, one per line
    ds = tf.data.experimental.CsvDataset("x.csv", [tf.float32, [0], [""]], header=True)
    ds = tf.data.experimental.make_csv_dataset("train*.csv", batch_size=32, label_name="y")

Lines are split on b"\\n" and lose their terminator (b"\\r\\n" as well); a last line without one
still counts. Files are read one after the other, lazily; compression_type "GZIP" / "ZLIB"
decompresses as TFRecordDataset does.

CSV fields follow TF's CSV parser: a field that starts with a double quote (use_quote_delim)
runs to the closing quote, may hold the delimiter and newlines, and writes a quote as "";
blank lines are skipped. A field that is empty, or equal to na_value, takes the column's
default; a column whose record_default is a dtype (or an empty list) is required and a missing
value is an error. Numbers are parsed as int32 / int64 / float32 / float64 as the column's
dtype says, with TF's error wording ("Field 1 in record 3 is not a valid int32: abc").
"""
import collections
import glob as _glob
import os

import numpy as np

from .. import dtypes as _dt
from ..errors import InvalidArgumentError
from ..framework.tensor import Tensor
from .dataset import Dataset, TensorSpec, _UNKNOWN, _leaf_array
from .tfrecord import (_FileDataset, _compression, _filename_list, _iter_filenames,
                       _open_read, _path)

__all__ = ["TextLineDataset", "FixedLengthRecordDataset", "list_files", "CsvDataset",
           "make_csv_dataset"]


# ---------------------------------------------------------------------- lines
def _lines(path, compression, op):
    """The lines of a file as bytes, without b"\\n" or b"\\r\\n"."""
    f, raw = _open_read(path, compression, op)
    try:
        for line in f if compression == "" else _iter_lines(f):
            if line.endswith(b"\n"):
                line = line[:-1]
            if line.endswith(b"\r"):
                line = line[:-1]
            yield line
    finally:
        f.close()
        raw.close()


def _iter_lines(f):
    pending = b""
    while True:
        chunk = f.read(1 << 16)
        if not chunk:
            break
        pending += chunk
        parts = pending.split(b"\n")
        pending = parts.pop()
        for p in parts:
            yield p + b"\n"
    if pending:
        yield pending


class TextLineDataset(_FileDataset):
    """tf.data.TextLineDataset(filenames, compression_type=None): the lines of one or more
    text files, in order, as scalar string (bytes) tensors."""

    _op = "TextLineDataset"

    def __init__(self, filenames, compression_type=None, buffer_size=None,
                 num_parallel_reads=None, name=None):
        super().__init__(filenames, compression_type)
        self._parallel = num_parallel_reads   # > 1: files' lines interleaved, as in TF

    def _records(self, path):
        return _lines(path, self._compression, self._op)


# ---------------------------------------------------------------------- fixed-length records
def _nonneg(value, what):
    v = int(_leaf_array(value)) if value is not None else 0
    if v < 0:
        raise ValueError(f"[FixedLengthRecordDataset] {what} must be >= 0, got {v}")
    return v


class FixedLengthRecordDataset(_FileDataset):
    """tf.data.FixedLengthRecordDataset(filenames, record_bytes, header_bytes=None,
    footer_bytes=None, compression_type=None): each file's body (after header_bytes, before
    footer_bytes) cut into records of record_bytes bytes, as scalar strings (the CIFAR-10
    binary format: tf.io.decode_raw then reads them). A body that is not a whole number of
    records is an InvalidArgumentError naming the file."""

    _op = "FixedLengthRecordDataset"

    def __init__(self, filenames, record_bytes, header_bytes=None, footer_bytes=None,
                 buffer_size=None, compression_type=None, num_parallel_reads=None,
                 name=None):
        super().__init__(filenames, compression_type)
        self._parallel = num_parallel_reads
        self._record = _nonneg(record_bytes, "record_bytes")
        if self._record == 0:
            raise ValueError("[FixedLengthRecordDataset] record_bytes must be positive")
        self._header = _nonneg(header_bytes, "header_bytes")
        self._footer = _nonneg(footer_bytes, "footer_bytes")

    def _records(self, path):
        f, raw = _open_read(path, self._compression, self._op)
        try:
            data = f.read()
        finally:
            f.close()
            raw.close()
        body = len(data) - self._header - self._footer
        if body < 0 or body % self._record:
            raise InvalidArgumentError(
                f"[{self._op}] Excluding the header ({self._header} bytes) and footer "
                f"({self._footer} bytes), input file {path!r} has body length {body}, which "
                f"is not an exact multiple of the record length ({self._record} bytes).")
        end = len(data) - self._footer
        for at in range(self._header, end, self._record):
            yield data[at:at + self._record]


# ---------------------------------------------------------------------- list_files
def _patterns(file_pattern):
    if isinstance(file_pattern, Tensor):
        file_pattern = file_pattern.numpy()
    if isinstance(file_pattern, np.ndarray):
        file_pattern = file_pattern.reshape(-1).tolist()
    if isinstance(file_pattern, (str, bytes, os.PathLike)):
        file_pattern = [file_pattern]
    if not isinstance(file_pattern, (list, tuple)):
        raise TypeError(f"[list_files] file_pattern must be a string or a list of strings, got "
                        f"{type(file_pattern).__name__}")
    return [_path(p, "list_files") for p in file_pattern]


def _glob_files(file_pattern, op):
    """The files matching any of the patterns, sorted, without duplicates."""
    pats = _patterns(file_pattern)
    names = sorted({f for p in pats for f in _glob.glob(p)})
    if not names:
        raise InvalidArgumentError(f"[{op}] No files matched pattern: {', '.join(pats)}")
    return names


def list_files(file_pattern, shuffle=None, seed=None, name=None):
    """Dataset.list_files: the file names matching a glob pattern (or a list of patterns) as
    scalar strings; sorted when shuffle=False, shuffled (each pass) by default."""
    names = _glob_files(file_pattern, "list_files")
    ds = Dataset.from_tensor_slices(np.array([n.encode("utf-8") for n in names], dtype=object))
    if shuffle is None or shuffle:
        ds = ds.shuffle(len(names), seed=seed)
    return ds


# ---------------------------------------------------------------------- CSV parsing
def _split_record(lines, delim, quote):
    """One record's fields (bytes) from the line iterator, or None at the end. Quoted fields
    may continue on the next lines."""
    for line in lines:
        if not line:
            continue  # blank lines are skipped
        if not quote or b'"' not in line:
            return line.split(delim)
        return _split_quoted(line, lines, delim)
    return None


def _split_quoted(line, lines, delim):
    fields, i, n = [], 0, len(line)
    d = delim[0]
    while True:
        if i < n and line[i] == 0x22:  # a quoted field
            buf = bytearray()
            i += 1
            while True:
                j = line.find(b'"', i)
                if j < 0:  # the field goes on on the next line
                    buf += line[i:] + b"\n"
                    line = next(lines, None)
                    if line is None:
                        raise InvalidArgumentError("Quoted field has to end with quote "
                                                   "followed by delim or end")
                    i, n = 0, len(line)
                    continue
                buf += line[i:j]
                if j + 1 < n and line[j + 1] == 0x22:
                    buf += b'"'
                    i = j + 2
                    continue
                i = j + 1
                break
            fields.append(bytes(buf))
            if i == n:
                return fields
            if line[i] != d:
                raise InvalidArgumentError("Quote inside a string has to be escaped by another "
                                           "quote")
            i += 1
            if i == n:
                fields.append(b"")
                return fields
        else:
            j = line.find(delim, i)
            end = n if j < 0 else j
            field = line[i:end]
            if b'"' in field:
                raise InvalidArgumentError("Unquoted fields cannot have quotes inside")
            fields.append(field)
            if j < 0:
                return fields
            i = j + 1
            if i == n:
                fields.append(b"")
                return fields


def _records(path, compression, delim, quote, header, op):
    lines = _lines(path, compression, op)
    if header:
        try:
            _split_record(lines, delim, quote)
        except InvalidArgumentError as e:
            raise InvalidArgumentError(f"[{op}] {path}: header: {e}") from None
    while True:
        try:
            fields = _split_record(lines, delim, quote)
        except InvalidArgumentError as e:
            raise InvalidArgumentError(f"[{op}] {path}: {e}") from None
        if fields is None:
            return
        yield fields


_CSV_TYPES = (_dt.float32, _dt.float64, _dt.int32, _dt.int64, _dt.string)
_INT_RANGE = {"int32": (-2 ** 31, 2 ** 31 - 1), "int64": (-2 ** 63, 2 ** 63 - 1)}


def _delim(field_delim, op):
    if isinstance(field_delim, str):
        field_delim = field_delim.encode("utf-8")
    if not isinstance(field_delim, bytes) or len(field_delim) != 1:
        raise ValueError(f"[{op}] field_delim must be a single character, got {field_delim!r}")
    return field_delim


def _na(na_value):
    if isinstance(na_value, str):
        return na_value.encode("utf-8")
    return bytes(na_value)


def _record_default(value, i, op):
    """(dtype, default or None when required) for one column's record_default."""
    if isinstance(value, (_dt.DType, type)) or (isinstance(value, str) and
                                               value in ("float32", "float64", "int32",
                                                         "int64", "string")):
        dt = _dt.as_dtype(value)
        if dt not in _CSV_TYPES:
            raise TypeError(f"[{op}] record_defaults[{i}]: unsupported dtype {dt.name}; use "
                            "float32, float64, int32, int64 or string")
        return dt, None
    a = _leaf_array(value)
    if isinstance(a, bytes):  # str() -> a scalar string tensor, whose numpy() is bytes
        a = np.array(a, dtype=object)
    dt = _dt.string if a.dtype.kind in "OSU" else _dt.as_dtype(a.dtype)
    if dt not in _CSV_TYPES:
        raise TypeError(f"[{op}] record_defaults[{i}] has dtype {dt.name}; a CSV column must "
                        "be float32, float64, int32, int64 or string")
    if a.size == 0:
        return dt, None
    if a.size != 1:
        raise ValueError(f"[{op}] record_defaults[{i}] must hold one default value (or none, "
                         f"for a required column), got shape {a.shape}")
    v = a.reshape(-1)[0]
    if dt == _dt.string:
        v = v.encode("utf-8") if isinstance(v, str) else bytes(v)
        return dt, np.array(v, dtype=object)
    return dt, np.array(v, dtype=dt._np)


def _convert(field, dt, default, col, rec, na):
    if field == b"" or field == na:
        if default is None:
            raise InvalidArgumentError(f"Field {col} is required but missing in record {rec}!")
        return default
    if dt == _dt.string:
        return np.array(field, dtype=object)
    text = field.decode("utf-8", "replace").strip()
    try:
        if dt.name in _INT_RANGE:
            if "_" in text:
                raise ValueError
            v = int(text)
            lo, hi = _INT_RANGE[dt.name]
            if not lo <= v <= hi:
                raise ValueError
            return np.array(v, dtype=dt._np)
        if "_" in text:
            raise ValueError
        return np.array(float(text), dtype=dt._np)
    except ValueError:
        raise InvalidArgumentError(f"Field {col} in record {rec} is not a valid {dt.name}: "
                                   f"{field.decode('utf-8', 'replace')}") from None


class CsvDataset(Dataset):
    """tf.data.experimental.CsvDataset: one tuple of scalars per CSV record.

    record_defaults has one entry per selected column: a dtype (float32, float64, int32, int64
    or string; the column is required), or a value / one-element list whose dtype is the
    column's and whose value fills missing fields ([0.0] float32, [0] int32, [""] string)."""

    _op = "CsvDataset"

    def __init__(self, filenames, record_defaults, compression_type=None, buffer_size=None,
                 header=False, field_delim=",", use_quote_delim=True, na_value="",
                 select_cols=None, exclude_cols=None, name=None):
        op = self._op
        self._files = _filename_list(filenames, op)
        self._compression = _compression(compression_type, op)
        if not isinstance(record_defaults, (list, tuple)) or not record_defaults:
            raise ValueError(f"[{op}] record_defaults must be a non-empty list (one entry per "
                             f"column), got {record_defaults!r}")
        self._cols = [_record_default(v, i, op) for i, v in enumerate(record_defaults)]
        self._delim = _delim(field_delim, op)
        self._quote = bool(use_quote_delim)
        self._na = _na(na_value)
        self._header = bool(header)
        if select_cols is not None and exclude_cols is not None:
            raise ValueError(f"[{op}] select_cols and exclude_cols cannot both be given")
        self._select = self._exclude = None
        if select_cols is not None:
            sel = [int(c) for c in select_cols]
            if any(c < 0 for c in sel) or any(a >= b for a, b in zip(sel, sel[1:])):
                raise ValueError(f"[{op}] select_cols must be non-negative and strictly "
                                 f"increasing, got {sel}")
            if len(sel) != len(self._cols):
                raise ValueError(f"[{op}] select_cols has {len(sel)} columns but "
                                 f"record_defaults has {len(self._cols)}")
            self._select = sel
        if exclude_cols is not None:
            self._exclude = sorted({int(c) for c in exclude_cols})
        self._ignore_errors = False

    def _columns(self, fields, rec):
        n = len(fields)
        if self._select is not None:
            if self._select[-1] >= n:
                raise InvalidArgumentError(f"Expect {self._select[-1] + 1} fields but have {n} "
                                           f"in record {rec}")
            return [fields[c] for c in self._select]
        if self._exclude is not None:
            ex = set(self._exclude)
            fields = [f for c, f in enumerate(fields) if c not in ex]
        if len(fields) != len(self._cols):
            raise InvalidArgumentError(f"Expect {len(self._cols)} fields but have "
                                       f"{len(fields)} in record {rec}")
        return fields

    def _elements(self):
        op = self._op
        for path in _iter_filenames(self._files, op):
            rec = 0
            for fields in _records(path, self._compression, self._delim, self._quote,
                                   self._header, op):
                try:
                    cols = self._columns(fields, rec)
                    out = tuple(_convert(f, dt, d, c, rec, self._na)
                                for c, (f, (dt, d)) in enumerate(zip(cols, self._cols)))
                except InvalidArgumentError as e:
                    if self._ignore_errors:
                        rec += 1
                        continue
                    raise InvalidArgumentError(f"[{op}] {path}: {e}") from None
                rec += 1
                yield out

    def _card(self):
        return _UNKNOWN

    def _spec(self):
        return tuple(TensorSpec((), dt) for dt, _ in self._cols)


# ---------------------------------------------------------------------- make_csv_dataset
def _first_records(path, compression, delim, quote, header, count):
    """Up to `count` records (the header row first, when header) of one file."""
    lines = _lines(path, compression, "make_csv_dataset")
    out = []
    try:
        while count is None or len(out) < count + (1 if header else 0):
            fields = _split_record(lines, delim, quote)
            if fields is None:
                break
            out.append(fields)
    finally:
        lines.close()
    return out


def _is_int(text, bits):
    try:
        if "_" in text:
            return False
        v = int(text)
    except ValueError:
        return False
    return -2 ** (bits - 1) <= v < 2 ** (bits - 1)


def _is_float(text, dtype):
    try:
        if "_" in text:
            return False
        v = float(text)
    except ValueError:
        return False
    return not np.isfinite(v) or abs(v) <= np.finfo(dtype).max


_TYPE_ORDER = [_dt.int32, _dt.int64, _dt.float32, _dt.float64, _dt.string]
_TYPE_CHECKS = [lambda t: _is_int(t, 32), lambda t: _is_int(t, 64),
                lambda t: _is_float(t, np.float32), lambda t: _is_float(t, np.float64),
                lambda t: True]


def _infer_type(field, na, prev):
    """TF's make_csv_dataset inference: the first of int32, int64, float32, float64, string
    that holds the value and is no narrower than the type so far."""
    if field == b"" or field == na:
        return prev
    text = field.decode("utf-8", "replace").strip()
    start = 0 if prev is None else _TYPE_ORDER.index(prev)
    for k in range(start, len(_TYPE_ORDER)):
        if _TYPE_CHECKS[k](text):
            return _TYPE_ORDER[k]
    return _dt.string


def _sorted_col_indices(select_columns, column_names):
    names = list(column_names)
    out = []
    for c in select_columns:
        if isinstance(c, (int, np.integer)):
            if not 0 <= int(c) < len(names):
                raise ValueError(f"[make_csv_dataset] column index {c} is out of range "
                                 f"(there are {len(names)} columns)")
            out.append(int(c))
        else:
            c = c.decode("utf-8") if isinstance(c, bytes) else c
            if c not in names:
                raise ValueError(f"[make_csv_dataset] Column {c!r} is not in column_names "
                                 f"{names}")
            out.append(names.index(c))
    if len(set(out)) != len(out):
        raise ValueError(f"[make_csv_dataset] select_columns has duplicates: "
                         f"{list(select_columns)}")
    return sorted(out)


def make_csv_dataset(file_pattern, batch_size, column_names=None, column_defaults=None,
                     label_name=None, select_columns=None, field_delim=",",
                     use_quote_delim=True, na_value="", header=True, num_epochs=None,
                     shuffle=True, shuffle_buffer_size=10000, shuffle_seed=None,
                     prefetch_buffer_size=None, num_parallel_reads=None, sloppy=False,
                     num_rows_for_inference=100, compression_type=None, ignore_errors=False,
                     encoding="utf-8"):
    """tf.data.experimental.make_csv_dataset: batches of (OrderedDict of column tensors[,
    label tensor]) read from CSV files.

    Column names come from the first file's header unless given; column dtypes are inferred
    from the first num_rows_for_inference rows (int32, then int64, float32, float64, string,
    with 0 / "" filling missing values) unless column_defaults is given. The data repeats
    num_epochs times (forever when None, and then the last short batch is dropped), shuffled
    with a buffer of shuffle_buffer_size records when shuffle."""
    op = "make_csv_dataset"
    filenames = _glob_files(file_pattern, op)
    comp = _compression(compression_type, op)
    delim = _delim(field_delim, op)
    na = _na(na_value)
    quote = bool(use_quote_delim)
    batch_size = int(_leaf_array(batch_size))
    if batch_size <= 0:
        raise ValueError(f"[{op}] batch_size must be greater than zero, got {batch_size}")
    if num_epochs is not None and int(num_epochs) < 0:
        raise ValueError(f"[{op}] num_epochs must be None or non-negative, got {num_epochs}")

    if column_names is None:
        if not header:
            raise ValueError(f"[{op}] Cannot infer column names without a header line "
                             "(pass column_names, or header=True).")
        heads = []
        for f in filenames:
            rows = _first_records(f, comp, delim, quote, False, 1)
            heads.append([h.decode(encoding) for h in rows[0]] if rows else None)
        if heads[0] is None:
            raise ValueError(f"[{op}] {filenames[0]} is empty: no header to read the column "
                             "names from")
        if any(h != heads[0] for h in heads):
            raise ValueError(f"[{op}] Files have different column names in the header row.")
        column_names = heads[0]
    column_names = [c.decode(encoding) if isinstance(c, bytes) else str(c)
                    for c in column_names]
    if len(set(column_names)) != len(column_names):
        raise ValueError(f"[{op}] Cannot have duplicate column names: {column_names}")

    select = None
    if select_columns is not None:
        select = _sorted_col_indices(select_columns, column_names)
    n_cols = len(select) if select is not None else len(column_names)

    if column_defaults is not None:
        column_defaults = list(column_defaults)
        if len(column_defaults) != n_cols:
            if select is not None:
                raise ValueError(f"[{op}] If specified, column_defaults and select_columns "
                                 f"must have same length (got {len(column_defaults)} and "
                                 f"{len(select)}).")
            raise ValueError(f"[{op}] column_defaults has {len(column_defaults)} entries but "
                             f"there are {len(column_names)} columns")
    else:
        types = [None] * n_cols
        rows = _first_records(filenames[0], comp, delim, quote, header, num_rows_for_inference)
        for row in rows[1:] if header else rows:
            for j in range(n_cols):
                c = select[j] if select is not None else j
                if c < len(row):
                    types[j] = _infer_type(row[c], na, types[j])
        column_defaults = [np.array([""], dtype=object) if (t or _dt.string) == _dt.string
                           else np.array([0], dtype=t._np) for t in types]
    if select is not None and len(column_names) > len(select):
        column_names = [column_names[i] for i in select]
    if label_name is not None and label_name not in column_names:
        raise ValueError(f"[{op}] `label_name` provided must be one of the columns: "
                         f"{column_names}, got {label_name!r}")

    def file_dataset(filename):
        ds = CsvDataset(_path(filename, op), column_defaults, compression_type=comp,
                        header=header, field_delim=delim, use_quote_delim=quote,
                        na_value=na, select_cols=select)
        ds._ignore_errors = bool(ignore_errors)
        return ds

    files = Dataset.from_tensor_slices(np.array([f.encode("utf-8") for f in filenames],
                                                dtype=object))
    if shuffle:
        files = files.shuffle(len(filenames), seed=shuffle_seed)
    cycle = 1 if num_parallel_reads is None else int(num_parallel_reads)
    ds = files.interleave(file_dataset, cycle_length=max(cycle, 1), block_length=1)
    if num_epochs != 1 and shuffle:
        ds = ds.shuffle(shuffle_buffer_size, seed=shuffle_seed).repeat(num_epochs)
    elif num_epochs != 1:
        ds = ds.repeat(num_epochs)
    elif shuffle:
        ds = ds.shuffle(shuffle_buffer_size, seed=shuffle_seed)
    ds = ds.batch(batch_size, drop_remainder=num_epochs is None)
    names = list(column_names)

    def to_dict(*columns):
        features = collections.OrderedDict(zip(names, columns))
        if label_name is not None:
            label = features.pop(label_name)
            return features, label
        return features
    return ds.map(to_dict)


def decode_csv(records, record_defaults, field_delim=",", use_quote_delim=True, na_value="",
               select_cols=None, name=None):
    """tf.io.decode_csv: parses each string of `records` (any shape) as one CSV record; a list
    with one Tensor of records' shape per column, typed and defaulted by record_defaults as
    in CsvDataset."""
    from ..framework.tensor import _wrap
    op = "decode_csv"
    a = _leaf_array(records)
    if isinstance(a, (bytes, str)):  # one Python string: a scalar record
        a = np.array(a, dtype=object)
    if a.dtype.kind not in "OSU":
        raise TypeError(f"[{op}] records must be strings, got dtype {a.dtype}")
    if not isinstance(record_defaults, (list, tuple)) or not record_defaults:
        raise ValueError(f"[{op}] record_defaults must be a non-empty list (one entry per "
                         f"column), got {record_defaults!r}")
    cols = [_record_default(v, i, op) for i, v in enumerate(record_defaults)]
    delim, na = _delim(field_delim, op), _na(na_value)
    sel = None if select_cols is None else [int(c) for c in select_cols]
    if sel is not None and len(sel) != len(cols):
        raise ValueError(f"[{op}] select_cols has {len(sel)} columns but record_defaults has "
                         f"{len(cols)}")
    flat = a.reshape(-1)
    out = [np.empty(flat.shape, object if dt == _dt.string else dt._np) for dt, _ in cols]
    for rec, r in enumerate(flat):
        line = r.encode("utf-8") if isinstance(r, str) else bytes(r)
        lines = iter([line])
        fields = _split_quoted(line, lines, delim) if use_quote_delim and b'"' in line \
            else line.split(delim)
        if sel is not None:
            if sel[-1] >= len(fields):
                raise InvalidArgumentError(f"[{op}] Expect {sel[-1] + 1} fields but have "
                                           f"{len(fields)} in record {rec}")
            fields = [fields[c] for c in sel]
        if len(fields) != len(cols):
            raise InvalidArgumentError(f"[{op}] Expect {len(cols)} fields but have "
                                       f"{len(fields)} in record {rec}")
        for c, (f, (dt, d)) in enumerate(zip(fields, cols)):
            try:
                out[c][rec] = _convert(f, dt, d, c, rec, na).item()
            except InvalidArgumentError as e:
                raise InvalidArgumentError(f"[{op}] {e}") from None
    return [_wrap(o.reshape(a.shape)) for o in out]
