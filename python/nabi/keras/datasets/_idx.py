"""IDX files (the MNIST family's format): a reader, and the local-directory / cache / download
lookup that `mnist`, `fashion_mnist` and `read_data_sets` share.

Lookup order for a dataset `<name>` (`mnist`, `fashion_mnist`):

1. `path=` (a directory) when given: files are read from there, and missing ones are
   downloaded into it;
2. `$NABI_DATASETS/<name>/`;
3. the cache `~/.nabi/datasets/<name>/` (`$NABI_HOME/datasets/<name>/` when `NABI_HOME` is set);
4. a download from the dataset's public mirrors into the cache, verified by checksum.

Each file may be gzipped (`train-images-idx3-ubyte.gz`) or not (`train-images-idx3-ubyte`);
gzip is recognised by its magic bytes, not by the name. Downloads go through the module-level
`_download(url, dest)` so that tests can replace it (tests never touch the network).
"""
import gzip
import hashlib
import os
import tempfile

import numpy as np

__all__ = ["IDXFormatError", "DatasetNotFoundError", "read_idx", "find_or_fetch", "cache_dir",
           "IMAGES_MAGIC", "LABELS_MAGIC"]

IMAGES_MAGIC = 2051   # 0x00000803: uint8, 3 dimensions
LABELS_MAGIC = 2049   # 0x00000801: uint8, 1 dimension

_IDX_TYPES = {0x08: np.dtype(">u1"), 0x09: np.dtype(">i1"), 0x0B: np.dtype(">i2"),
              0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


class IDXFormatError(ValueError):
    """A file is not a valid IDX file (bad magic number, truncated, wrong sizes)."""


class DatasetNotFoundError(FileNotFoundError):
    """A dataset's files are neither local nor downloadable (for example when offline)."""


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


# --------------------------------------------------------------------------------------------
# Finding and downloading

def nabi_home():
    return os.environ.get("NABI_HOME") or os.path.join(os.path.expanduser("~"), ".nabi")


def cache_dir(name):
    return os.path.join(nabi_home(), "datasets", name)


def _download(url, dest, timeout=60):
    """Downloads `url` to the file `dest` (replaced in tests; never called by them)."""
    import urllib.request
    with urllib.request.urlopen(url, timeout=timeout) as r, open(dest, "wb") as f:  # noqa: S310
        while True:
            chunk = r.read(1 << 20)
            if not chunk:
                break
            f.write(chunk)


def _local_candidates(directory, fname):
    base = fname[:-3] if fname.endswith(".gz") else fname
    return [os.path.join(directory, base + ".gz"), os.path.join(directory, base)]


def _find_local(directory, fname):
    if not directory:
        return None
    for p in _local_candidates(directory, fname):
        if os.path.isfile(p):
            return p
    return None


def _check_digest(path, fname, sha256=None, md5=None):
    """Raises IOError when the file's digest differs. `sha256` is of the uncompressed bytes,
    `md5` of the file as downloaded."""
    if sha256 is not None:
        got = sha256_uncompressed(path)
        if got != sha256:
            raise OSError(f"sha256 of the uncompressed {fname} is {got}, expected {sha256}")
    if md5 is not None:
        with open(path, "rb") as f:
            got = hashlib.md5(f.read()).hexdigest()  # noqa: S324 (a published file digest)
        if got != md5:
            raise OSError(f"md5 of {fname} is {got}, expected {md5}")


def _fetch_one(fname, dest_dir, mirrors, sha256=None, md5=None, check=None):
    """Downloads `fname` from the first mirror that works into `dest_dir`, atomically."""
    os.makedirs(dest_dir, exist_ok=True)
    errors = []
    for base in mirrors:
        url = base.rstrip("/") + "/" + fname
        fd, tmp = tempfile.mkstemp(prefix=f".{fname}.", suffix=".part", dir=dest_dir)
        os.close(fd)
        try:
            _download(url, tmp)
            _check_digest(tmp, fname, sha256, md5)
            if check is not None:
                check(tmp)
            final = os.path.join(dest_dir, fname)
            os.replace(tmp, final)
            return final
        except Exception as e:  # noqa: BLE001 - try the next mirror, report all at the end
            errors.append(f"{url}: {type(e).__name__}: {e}")
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
    raise OSError("; ".join(errors) if errors else "no mirror to download from")


def find_or_fetch(name, files, mirrors, path=None, sha256=None, md5=None, check=None,
                  download=True):
    """Returns {fname: local path} for each of `files` (names ending in .gz).

    `sha256`: {fname: digest of the uncompressed bytes}; `md5`: {fname: digest of the
    downloaded (compressed) file}; both are checked on downloads. `check(path)` validates a
    download further (for example its IDX header).
    """
    sha256 = sha256 or {}
    md5 = md5 or {}
    env_root = os.environ.get("NABI_DATASETS")
    if path is not None:
        search = [os.fspath(path)]
        target = os.fspath(path)
    else:
        search = ([os.path.join(env_root, name)] if env_root else []) + [cache_dir(name)]
        target = cache_dir(name)
    found, missing = {}, []
    for fname in files:
        p = None
        for d in search:
            p = _find_local(d, fname)
            if p:
                break
        if p:
            found[fname] = p
        else:
            missing.append(fname)
    errors = []
    if missing and download:
        for fname in list(missing):
            try:
                found[fname] = _fetch_one(fname, target, mirrors, sha256.get(fname),
                                          md5.get(fname), check)
                missing.remove(fname)
            except OSError as e:
                errors.append(f"  {fname}: {e}")
    if missing:
        where = "\n".join(f"  {d}" for d in search)
        msg = (f"[datasets.{name}] the dataset's files are missing: {', '.join(missing)} "
               f"(gzipped or not). Looked in:\n{where}\n")
        if errors:
            msg += "and downloading them failed (offline?):\n" + "\n".join(errors) + "\n"
        if path is not None:
            msg += f"Put the files in {path}, or call load_data() without `path`"
        else:
            msg += (f"Put the files in {target}, or in a directory <DIR>/{name}/ and set the "
                    f"environment variable NABI_DATASETS=<DIR>, or pass path=<directory>")
        msg += f" (mirrors: {', '.join(mirrors)})."
        raise DatasetNotFoundError(msg)
    return found


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
