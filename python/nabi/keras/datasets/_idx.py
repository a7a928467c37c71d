"""IDX files (the MNIST family's format): a reader, and the loader that `mnist`, `fashion_mnist`
and `read_data_sets` share.

Lookup order for a dataset `<name>` (`mnist`, `fashion_mnist`):

1. `path=` (a directory) when given: files are read from there, and missing ones are
   downloaded into it;
2. `$NABI_DATASETS/<name>/`;
3. the cache `~/.nabi/datasets/<name>/` (`$NABI_HOME/datasets/<name>/` when `NABI_HOME` is set);
4. a download from the dataset's public mirrors into the cache, verified by checksum.

Each file may be gzipped (`train-images-idx3-ubyte.gz`) or not (`train-images-idx3-ubyte`);
gzip is recognised by its magic bytes, not by the name. The lookup and downloads live in
`_fetch` (downloads go through `_fetch._download`, which tests replace).
"""
import gzip
import hashlib
import os

import numpy as np

from ._fetch import DatasetNotFoundError, cache_dir, find_or_fetch, nabi_home  # noqa: F401

__all__ = ["IDXFormatError", "DatasetNotFoundError", "read_idx", "find_or_fetch", "cache_dir",
           "IMAGES_MAGIC", "LABELS_MAGIC"]

IMAGES_MAGIC = 2051   # 0x00000803: uint8, 3 dimensions
LABELS_MAGIC = 2049   # 0x00000801: uint8, 1 dimension

_IDX_TYPES = {0x08: np.dtype(">u1"), 0x09: np.dtype(">i1"), 0x0B: np.dtype(">i2"),
              0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


class IDXFormatError(ValueError):
    """A file is not a valid IDX file (bad magic number, truncated, wrong sizes)."""


# --------------------------------------------------------------------------------------------
# Reading

def _open_bytes(path):
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as e:
            raise IDXFormatError(f"{path}: corrupt gzip data ({e})") from None
    return raw


def parse_idx(raw, source="<bytes>", expected_magic=None):
    """Parses the (uncompressed) bytes of an IDX file into a NumPy array in native byte order."""
    if len(raw) < 4:
        raise IDXFormatError(f"{source}: too short to be an IDX file ({len(raw)} bytes)")
    magic = int.from_bytes(raw[:4], "big")
    if expected_magic is not None and magic != expected_magic:
        raise IDXFormatError(
            f"{source}: bad IDX magic number {magic} (0x{magic:08x}), expected {expected_magic} "
            f"(0x{expected_magic:08x}: {_describe_magic(expected_magic)}); is this the right file, "
            "and is it an uncompressed or gzipped IDX file?")
    if raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES or raw[3] == 0:
        raise IDXFormatError(f"{source}: bad IDX magic number {magic} (0x{magic:08x}): the first "
                             "two bytes must be zero, the third a type code (0x08 uint8, 0x09 "
                             "int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64) and the "
                             "fourth the number of dimensions")
    dtype = _IDX_TYPES[raw[2]]
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise IDXFormatError(f"{source}: truncated IDX header ({len(raw)} bytes, {ndim} "
                             f"dimensions need {header})")
    dims = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    count = int(np.prod(dims, dtype=np.int64))
    need = header + count * dtype.itemsize
    if len(raw) != need:
        raise IDXFormatError(f"{source}: IDX header promises shape {dims} ({need} bytes in all) "
                             f"but the file holds {len(raw)} bytes"
                             + (" (truncated)" if len(raw) < need else " (trailing data)"))
    arr = np.frombuffer(raw, dtype=dtype, count=count, offset=header).reshape(dims)
    return arr.astype(dtype.newbyteorder("="), copy=True)


def read_idx(path, expected_magic=None):
    """Reads an IDX file (gzipped or not) into a NumPy array; checks magic number and size."""
    return parse_idx(_open_bytes(path), str(path), expected_magic)


def _describe_magic(m):
    return {IMAGES_MAGIC: "uint8 images, 3 dimensions",
            LABELS_MAGIC: "uint8 labels, 1 dimension"}.get(m, "IDX")


def sha256_uncompressed(path):
    return hashlib.sha256(_open_bytes(path)).hexdigest()


def load_idx_dataset(name, mirrors, path=None, sha256=None, md5=None):
    """The four files of an MNIST-like set as Keras returns them:
    ((x_train, y_train), (x_test, y_test)), uint8, x of shape (n, rows, cols)."""
    files = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
             "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
    if path is not None and os.fspath(path).endswith(".npz"):
        # Keras's `path` names a cache file (`mnist.npz`): read it when it exists (arrays only,
        # no pickle), otherwise use the default lookup.
        if os.path.isfile(path):
            with np.load(path, allow_pickle=False) as f:
                return (f["x_train"], f["y_train"]), (f["x_test"], f["y_test"])
        path = None

    def check(p):
        read_idx(p, IMAGES_MAGIC if "images" in os.path.basename(p) else LABELS_MAGIC)

    found = find_or_fetch(name, files, mirrors, path=path, sha256=sha256, md5=md5, check=check)
    x_train = read_idx(found[files[0]], IMAGES_MAGIC)
    y_train = read_idx(found[files[1]], LABELS_MAGIC)
    x_test = read_idx(found[files[2]], IMAGES_MAGIC)
    y_test = read_idx(found[files[3]], LABELS_MAGIC)
    for x, y, split in ((x_train, y_train, "train"), (x_test, y_test, "t10k")):
        if x.shape[0] != y.shape[0]:
            raise IDXFormatError(f"[datasets.{name}] {split} images ({x.shape[0]}) and labels "
                                 f"({y.shape[0]}) have different counts")
    return (x_train, y_train), (x_test, y_test)
