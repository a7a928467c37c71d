"""TFRecord files: `tf.io.TFRecordWriter`, `tf.io.TFRecordOptions` and `tf.data.TFRecordDataset`.

    with tf.io.TFRecordWriter("data.tfrecord") as w:
        w.write(example.SerializeToString())
    ds = tf.data.TFRecordDataset("data.tfrecord").map(parse_fn)

A TFRecord file is a sequence of records, each framed as TensorFlow frames it:

    uint64 length            (little-endian)
    uint32 masked_crc32c(length bytes)
    byte   data[length]
    uint32 masked_crc32c(data)

masked_crc(x) = ((crc >> 15) | (crc << 17)) + 0xa282ead8 (mod 2**32), crc being CRC-32C
(Castagnoli, reflected polynomial 0x82F63B78), computed by nabi._C (csrc/cpu/crc32c.cpp:
SSE4.2's crc32 instruction, or slicing-by-8 tables where the CPU lacks it); a pure-Python
table version remains as the fallback for an extension built without it. With
compression_type "GZIP" or "ZLIB" the whole framed stream is compressed, so files are
readable by TensorFlow and the other way round.

A record whose length or data checksum does not match raises DataLossError ("corrupted
record at <offset>"), as TF does; a file that ends inside a record raises DataLossError too
(TF reports it as "truncated record").
"""
import gzip
import os
import struct
import zlib

import numpy as np

from ..errors import DataLossError
from .dataset import Dataset, TensorSpec, _UNKNOWN, _leaf_array
from .. import dtypes as _dt

__all__ = ["TFRecordDataset", "TFRecordWriter", "TFRecordOptions", "DataLossError", "crc32c",
           "masked_crc32c", "tf_record_iterator"]


# ---------------------------------------------------------------------- CRC-32C
def _crc_table():
    poly = 0x82F63B78
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ poly if c & 1 else c >> 1
        table.append(c)
    return table


_CRC_TABLE = _crc_table()
_MASK_DELTA = 0xA282EAD8


def _crc32c_py(data, crc=0):
    """Pure-Python CRC-32C (about 5 MB/s): the fallback when nabi._C lacks crc32c."""
    table = _CRC_TABLE
    c = crc ^ 0xFFFFFFFF
    for b in bytes(data):
        c = table[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def _masked_crc32c_py(data):
    c = _crc32c_py(data)
    return ((((c >> 15) | (c << 17)) & 0xFFFFFFFF) + _MASK_DELTA) & 0xFFFFFFFF


try:
    from .._C import crc32c as _crc32c_native, masked_crc32c as _masked_native
except ImportError:  # an older extension: keep working, slowly
    _crc32c_native = _masked_native = None


def crc32c(data, crc=0):
    """CRC-32C (Castagnoli) of `data` (a bytes-like object), continuing from `crc` (0 to
    start)."""
    if _crc32c_native is None:
        return _crc32c_py(data, crc)
    return _crc32c_native(data, crc)


def masked_crc32c(data):
    """The checksum TFRecord stores: CRC-32C rotated right by 15 bits plus 0xa282ead8."""
    if _masked_native is None:
        return _masked_crc32c_py(data)
    return _masked_native(data)


# ---------------------------------------------------------------------- options
_COMPRESSIONS = {None: "", "": "", "NONE": "", "GZIP": "GZIP", "ZLIB": "ZLIB"}


def _compression(value, op):
    if isinstance(value, TFRecordOptions):
        return value.compression_type
    if isinstance(value, bytes):
        value = value.decode("utf-8")
    if hasattr(value, "numpy"):
        value = value.numpy()
        value = value.decode("utf-8") if isinstance(value, bytes) else value
    key = value.upper() if isinstance(value, str) else value
    if key not in _COMPRESSIONS:
        raise ValueError(f"[{op}] compression_type must be None, '', 'GZIP' or 'ZLIB', got "
                         f"{value!r}")
    return _COMPRESSIONS[key]


class TFRecordOptions:
    """tf.io.TFRecordOptions: how a TFRecord file is compressed ('', 'GZIP' or 'ZLIB')."""

    compression_type_map = {"": "", "GZIP": "GZIP", "ZLIB": "ZLIB"}

    def __init__(self, compression_type=None, flush_mode=None, input_buffer_size=None,
                 output_buffer_size=None, window_bits=None, compression_level=None,
                 compression_method=None, mem_level=None, compression_strategy=None):
        self.compression_type = _compression(compression_type, "TFRecordOptions")
        self.compression_level = compression_level

    @classmethod
    def get_compression_type_string(cls, options):
        if options is None:
            return ""
        return _compression(options, "TFRecordOptions")


def _path(filename, op):
    if hasattr(filename, "numpy"):
        filename = filename.numpy()
    if isinstance(filename, np.ndarray) and filename.ndim == 0:
        filename = filename.item()
    if isinstance(filename, bytes):
        filename = filename.decode("utf-8")
    if not isinstance(filename, (str, os.PathLike)):
        raise TypeError(f"[{op}] a filename must be a string, got {type(filename).__name__}")
    return os.fspath(filename)


class _ZlibReader:
    """A readable file object over a zlib-compressed stream."""

    def __init__(self, raw):
        self._raw, self._z, self._buf = raw, zlib.decompressobj(), b""

    def read(self, n):
        while len(self._buf) < n and self._z is not None:
            chunk = self._raw.read(65536)
            if not chunk:
                self._buf += self._z.flush()
                self._z = None
                break
            self._buf += self._z.decompress(chunk)
        out, self._buf = self._buf[:n], self._buf[n:]
        return out

    def close(self):
        self._raw.close()


def _open_read(path, compression, op):
    try:
        raw = open(path, "rb")
    except FileNotFoundError:
        raise FileNotFoundError(f"[{op}] {path}: No such file or directory") from None
    if compression == "GZIP":
        return gzip.GzipFile(fileobj=raw, mode="rb"), raw
    if compression == "ZLIB":
        return _ZlibReader(raw), raw
    return raw, raw


# ---------------------------------------------------------------------- writing
def _frame(record):
    header = struct.pack("<Q", len(record))
    return b"".join((header, struct.pack("<I", masked_crc32c(header)), record,
                     struct.pack("<I", masked_crc32c(record))))


class TFRecordWriter:
    """tf.io.TFRecordWriter(path, options=None): writes records (bytes) to a TFRecord file.
    A context manager; `close()` finishes the file (and its compression)."""

    def __init__(self, path, options=None):
        self._path = _path(path, "TFRecordWriter")
        self._compression = "" if options is None else _compression(options,
                                                                      "TFRecordWriter")
        level = getattr(options, "compression_level", None)
        level = -1 if level is None else int(level)
        self._raw = open(self._path, "wb")
        self._gz = self._z = None
        if self._compression == "GZIP":
            self._gz = gzip.GzipFile(fileobj=self._raw, mode="wb",
                                     compresslevel=6 if level < 0 else level, mtime=0)
        elif self._compression == "ZLIB":
            self._z = zlib.compressobj(level)

    def _out(self, data):
        if self._raw is None:
            raise ValueError(f"[TFRecordWriter] {self._path} is already closed")
        if self._gz is not None:
            self._gz.write(data)
        elif self._z is not None:
            self._raw.write(self._z.compress(data))
        else:
            self._raw.write(data)

    def write(self, record):
        """Appends one record (bytes, a str, or a scalar string tensor)."""
        if hasattr(record, "numpy"):
            record = record.numpy()
        if isinstance(record, np.ndarray) and record.ndim == 0:
            record = record.item()
        if isinstance(record, str):
            record = record.encode("utf-8")
        if not isinstance(record, (bytes, bytearray, memoryview)):
            raise TypeError(f"[TFRecordWriter.write] record must be bytes, got "
                            f"{type(record).__name__}")
        self._out(_frame(bytes(record)))

    def flush(self):
        if self._raw is None:
            return
        if self._gz is not None:
            self._gz.flush()
        elif self._z is not None:
            self._raw.write(self._z.flush(zlib.Z_SYNC_FLUSH))
        self._raw.flush()

    def close(self):
        if self._raw is None:
            return
        if self._gz is not None:
            self._gz.close()
        elif self._z is not None:
            self._raw.write(self._z.flush())
        self._raw.close()
        self._raw = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# ---------------------------------------------------------------------- reading
def _read_records(path, compression, op="TFRecordDataset"):
    """The records of one file, checking each frame's checksums."""
    f, raw = _open_read(path, compression, op)
    offset = 0
    try:
        while True:
            header = f.read(12)
            if not header:
                return
            if len(header) < 12:
                raise DataLossError(f"[{op}] truncated record at {offset} in {path}")
            length_bytes, crc = header[:8], struct.unpack("<I", header[8:])[0]
            if masked_crc32c(length_bytes) != crc:
                raise DataLossError(f"[{op}] corrupted record at {offset} in {path}: the "
                                    "length's checksum does not match")
            (length,) = struct.unpack("<Q", length_bytes)
            body = f.read(length + 4)
            if len(body) < length + 4:
                raise DataLossError(f"[{op}] truncated record at {offset} in {path}: the "
                                    f"record says {length} bytes, the file ends first")
            data = body[:length]
            if masked_crc32c(data) != struct.unpack("<I", body[length:])[0]:
                raise DataLossError(f"[{op}] corrupted record at {offset} in {path}: the "
                                    "data's checksum does not match")
            offset += 16 + length
            yield data
    except (OSError, EOFError, zlib.error) as e:
        if isinstance(e, FileNotFoundError):
            raise
        raise DataLossError(f"[{op}] cannot decompress {path} as {compression}: {e}") from None
    finally:
        f.close()
        raw.close()


def tf_record_iterator(path, options=None):
    """tf.compat.v1.io.tf_record_iterator: the records of one file, as bytes."""
    comp = "" if options is None else _compression(options, "tf_record_iterator")
    return _read_records(_path(path, "tf_record_iterator"), comp, "tf_record_iterator")


def _filename_list(filenames, op):
    """A list of paths, or a Dataset of them (read lazily), from a str, a list, a string
    Tensor (scalar or 1-D) or a Dataset of scalar strings."""
    if isinstance(filenames, Dataset):
        return filenames
    if hasattr(filenames, "numpy"):
        filenames = filenames.numpy()
    if isinstance(filenames, np.ndarray):
        if filenames.ndim > 1:
            raise ValueError(f"[{op}] filenames must be a scalar or a vector of strings, got "
                             f"shape {filenames.shape}")
        filenames = filenames.reshape(-1).tolist()
    if isinstance(filenames, (str, bytes, os.PathLike)):
        filenames = [filenames]
    if not isinstance(filenames, (list, tuple)):
        raise TypeError(f"[{op}] filenames must be a string, a list of strings, a string "
                        f"tensor or a Dataset of strings, got {type(filenames).__name__}")
    return [_path(f, op) for f in filenames]


def _iter_filenames(files, op):
    if isinstance(files, Dataset):
        for element in files._np_iter():
            if not isinstance(element, np.ndarray) or element.ndim != 0:
                raise TypeError(f"[{op}] the filenames dataset must hold scalar strings, got "
                                f"{element!r}")
            yield _path(element, op)
    else:
        yield from files


def _cycle_length(num_parallel_reads):
    if num_parallel_reads is None:
        return 1
    n = int(_leaf_array(num_parallel_reads))
    if n == -1:   # tf.data.AUTOTUNE: one file per core, as TF resolves it
        return os.cpu_count() or 1
    if n < 1:
        raise ValueError(f"num_parallel_reads must be positive or tf.data.AUTOTUNE, got {n}")
    return n


class _FileDataset(Dataset):
    """A source of scalar byte strings read file after file."""

    _op = "FileDataset"

    def __init__(self, filenames, compression_type):
        self._files = _filename_list(filenames, self._op)
        self._compression = _compression(compression_type, self._op)

    def _records(self, path):
        raise NotImplementedError

    def _elements(self):
        cycle = _cycle_length(getattr(self, "_parallel", None))
        records = self._interleaved(cycle) if cycle > 1 else (
            rec for path in _iter_filenames(self._files, self._op)
            for rec in self._records(path))
        for rec in records:
            yield np.array(rec, dtype=object)

    def _interleaved(self, cycle):
        """num_parallel_reads > 1: TF reads that many files at once and outputs their records
        interleaved one at a time (a deterministic interleave, block_length 1): a file that
        ends frees its slot, which the next file takes when the cycle comes back to it."""
        paths = iter(_iter_filenames(self._files, self._op))
        slots, live, at, end = [None] * cycle, 0, 0, False
        while not end or live:
            it = slots[at]
            if it is None:
                if not end:
                    try:
                        slots[at] = iter(self._records(next(paths)))
                        live += 1
                    except StopIteration:
                        end = True
                    continue
                at = (at + 1) % cycle
                continue
            try:
                rec = next(it)
            except StopIteration:
                slots[at], live, at = None, live - 1, (at + 1) % cycle
                continue
            at = (at + 1) % cycle
            yield rec

    def _card(self):
        return _UNKNOWN

    def _spec(self):
        return TensorSpec((), _dt.string)


class TFRecordDataset(_FileDataset):
    """tf.data.TFRecordDataset(filenames, compression_type=None): the records of one or more
    TFRecord files, in order, as scalar string tensors."""

    _op = "TFRecordDataset"

    def __init__(self, filenames, compression_type=None, buffer_size=None,
                 num_parallel_reads=None, name=None):
        super().__init__(filenames, compression_type)
        self._parallel = num_parallel_reads

    def _records(self, path):
        return _read_records(path, self._compression, self._op)
