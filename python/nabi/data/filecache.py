"""Dataset.cache(filename) and Dataset.snapshot(path): elements kept in files.

The format is nabi's own (TensorFlow cannot read it, nor nabi TF's): at a prefix P,
  P.data       the elements of one complete pass, one pickle after the other (host NumPy
               arrays, RaggedTensor/SparseTensor containers), gzip-compressed for a GZIP
               snapshot;
  P.index      written last, by an atomic rename, once the pass is complete: a pickle of
               {"format", "count", "element_spec", "compression"}; its presence is what makes
               the cache complete;
  P.lockfile   exists while an iterator writes P.data (created with O_EXCL, so a second
               writer sees it and stops with AlreadyExistsError, as TF's does).
A pass that stops early (an iterator dropped or closed, an error in the input) removes
P.data and P.lockfile, so nothing is read later as a complete cache. A program killed while
writing leaves P.lockfile behind: as in TF, delete it by hand. The files hold pickles: read
only caches you wrote.
"""
import gzip
import hashlib
import os
import pickle
import time

from ..errors import AlreadyExistsError, DataLossError, NotFoundError
from .dataset import _UnaryDataset, _is_peeking, _map, _spec_of

_FORMAT = "nabi-cache-1"


def _host(element):
    from ..framework.device import to_device
    return _map(lambda a: to_device(a, "cpu"), element)


def _read_index(prefix):
    try:
        with open(prefix + ".index", "rb") as f:
            index = pickle.load(f)
    except FileNotFoundError:
        return None
    if not isinstance(index, dict) or index.get("format") != _FORMAT:
        raise DataLossError(f"[cache] {prefix}.index is not a nabi cache index")
    return index


def _open(path, mode, compression):
    if compression == "GZIP":
        return gzip.open(path, mode)
    return open(path, mode)


def _read(prefix, index, op):
    try:
        f = _open(prefix + ".data", "rb", index.get("compression"))
    except FileNotFoundError:
        raise NotFoundError(f"[{op}] {prefix}.index exists but {prefix}.data does not") \
            from None
    with f:
        for i in range(index["count"]):
            try:
                yield pickle.load(f)
            except (EOFError, pickle.UnpicklingError) as e:
                raise DataLossError(f"[{op}] {prefix}.data ends after {i} of "
                                    f"{index['count']} elements ({e})") from None


def _lock(prefix, op):
    """Creates P.lockfile; None when another writer holds it."""
    try:
        fd = os.open(prefix + ".lockfile", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return None
    except FileNotFoundError:
        raise NotFoundError(f"[{op}] cannot write the cache at {prefix!r}: the directory "
                            f"{os.path.dirname(prefix) or '.'!r} does not exist") from None
    with os.fdopen(fd, "w") as f:
        f.write(f"Created at: {int(time.time())}\npid: {os.getpid()}\n")
    return prefix + ".lockfile"


def _lock_error(prefix):
    try:
        with open(prefix + ".lockfile") as f:
            contents = f.read().strip()
    except OSError:
        contents = ""
    return AlreadyExistsError(
        f"[cache] There appears to be a concurrent caching iterator running: the cache "
        f"lockfile {prefix}.lockfile already exists. If no other iterator or program is "
        f"writing this cache, delete the lockfile and start a new iterator. Lockfile "
        f"contents: {contents}")


def _write_through(input_dataset, prefix, lockfile, spec_of, compression):
    """The input's elements, written to P.data as they pass; P.index at the end."""
    complete = False
    count = 0
    first_spec = None
    try:
        with _open(prefix + ".data", "wb", compression) as f:
            for element in input_dataset._np_iter():
                pickle.dump(_host(element), f, protocol=pickle.HIGHEST_PROTOCOL)
                if count == 0:
                    first_spec = _spec_of(element)
                count += 1
                yield element
        # The input's spec when it is known already, else the first element's (what an
        # untraced map's spec is): working it out anew would run the input's map functions
        # once more, and a py_function's side effects with them, which a cached pass must not.
        spec = spec_of()
        index = {"format": _FORMAT, "count": count,
                 "element_spec": spec if spec is not None else first_spec,
                 "compression": compression}
        tmp = prefix + ".index.tmp"
        with open(tmp, "wb") as f:
            pickle.dump(index, f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, prefix + ".index")
        complete = True
    finally:
        if not complete:
            for p in (prefix + ".data", prefix + ".index.tmp"):
                try:
                    os.remove(p)
                except FileNotFoundError:
                    pass
        os.remove(lockfile)


class _FileCacheDataset(_UnaryDataset):
    """cache(filename): the first complete pass writes the files, later passes read them."""

    _op = "cache"

    def __init__(self, input_dataset, prefix):
        super().__init__(input_dataset)
        self._prefix = prefix

    def _plan(self):
        return None

    def _elements(self):
        prefix = self._prefix
        index = _read_index(prefix)
        if index is not None:
            yield from _read(prefix, index, self._op)
            return
        if _is_peeking():
            yield from self._input._np_iter()
            return
        # The lock is taken at the first element, inside this generator, so that closing or
        # dropping the iterator always runs _write_through's cleanup.
        lockfile = _lock(prefix, self._op)
        if lockfile is None:
            yield from self._busy()
            return
        yield from _write_through(self._input, prefix, lockfile,
                                  lambda: self._input.__dict__.get("_element_spec_cache"),
                                  self._compression())

    def _compression(self):
        return None

    def _busy(self):
        raise _lock_error(self._prefix)

    def _spec(self):
        index = _read_index(self._prefix)
        if index is not None and index["element_spec"] is not None:
            return index["element_spec"]
        return self._input.element_spec


def _snapshot_compression(value):
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode()
    value = str(value).upper()
    if value in ("", "AUTO", "NONE", "SNAPPY"):
        return None
    if value == "GZIP":
        return "GZIP"
    raise ValueError(f"[snapshot] compression must be 'AUTO', 'GZIP', 'SNAPPY' or None, got "
                     f"{value!r}")


class _SnapshotDataset(_FileCacheDataset):
    """snapshot(path): a file cache in the directory `path`, named after the input's
    element_spec and cardinality; an iterator that finds another one writing reads the
    input instead of waiting."""

    _op = "snapshot"

    def __init__(self, input_dataset, path, compression):
        path = os.fspath(path.decode() if isinstance(path, bytes) else path)
        super().__init__(input_dataset, None)
        self._dir = path
        self._comp = _snapshot_compression(compression)

    @property
    def _prefix(self):
        key = repr((str(self._input.element_spec), self._input._card(), _FORMAT))
        digest = hashlib.sha256(key.encode()).hexdigest()[:16]
        os.makedirs(self._dir, exist_ok=True)
        return os.path.join(self._dir, f"snapshot_{digest}")

    @_prefix.setter
    def _prefix(self, value):
        pass

    def _compression(self):
        return self._comp

    def _busy(self):
        return self._input._np_iter()
