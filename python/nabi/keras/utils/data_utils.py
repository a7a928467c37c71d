"""`keras.utils.Sequence` and `get_file`."""
import hashlib
import os
import tarfile
import tempfile
import zipfile

__all__ = ["Sequence", "PyDataset", "get_file", "validate_file"]


class Sequence:
    """A dataset of batches for `fit`/`evaluate`/`predict`: implement `__len__` (batches per
    epoch) and `__getitem__(index)` (a batch: `x`, `(x, y)` or `(x, y, sample_weight)`);
    `on_epoch_end` runs after each epoch (shuffle there)."""

    def __init__(self, workers=1, use_multiprocessing=False, max_queue_size=10):
        self.workers = workers
        self.use_multiprocessing = use_multiprocessing
        self.max_queue_size = max_queue_size

    def __getitem__(self, index):
        raise NotImplementedError

    def __len__(self):
        raise NotImplementedError

    @property
    def num_batches(self):
        return len(self)

    def on_epoch_begin(self):
        pass

    def on_epoch_end(self):
        pass

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]


PyDataset = Sequence


def _hash_file(path, algorithm="sha256", chunk_size=1 << 20):
    h = hashlib.sha256() if algorithm == "sha256" else hashlib.md5()  # noqa: S324
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(chunk_size), b""):
            h.update(chunk)
    return h.hexdigest()


def validate_file(fpath, file_hash, algorithm="auto"):
    """True when the file's sha256 (64 hex digits) or md5 (32) equals `file_hash`."""
    if algorithm == "auto":
        algorithm = "sha256" if len(file_hash) == 64 else "md5"
    return _hash_file(fpath, algorithm) == str(file_hash).lower()


def _safe_extract(archive, dest, archive_format="auto"):
    fmts = ["tar", "zip"] if archive_format == "auto" else \
        [archive_format] if isinstance(archive_format, str) else list(archive_format)
    dest_real = os.path.realpath(dest)
    if "tar" in fmts and tarfile.is_tarfile(archive):
        with tarfile.open(archive) as t:
            for m in t.getmembers():
                target = os.path.realpath(os.path.join(dest, m.name))
                if not target.startswith(dest_real + os.sep) and target != dest_real:
                    raise OSError(f"[get_file] refusing to extract {m.name!r} outside {dest}")
                if m.issym() or m.islnk():
                    raise OSError(f"[get_file] refusing to extract the link {m.name!r}")
            t.extractall(dest)  # noqa: S202 - members checked above
        return True
    if "zip" in fmts and zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as z:
            for n in z.namelist():
                target = os.path.realpath(os.path.join(dest, n))
                if not target.startswith(dest_real + os.sep) and target != dest_real:
                    raise OSError(f"[get_file] refusing to extract {n!r} outside {dest}")
            z.extractall(dest)  # noqa: S202
        return True
    return False


def get_file(fname=None, origin=None, untar=False, md5_hash=None, file_hash=None,
             cache_subdir="datasets", hash_algorithm="auto", extract=False,
             archive_format="auto", cache_dir=None, force_download=False):
    """Returns the path of `fname` in the cache (`~/.nabi/<cache_subdir>/` unless `cache_dir`),
    downloading it from `origin` when it is absent (or its hash does not match).

    `file_hash`: the sha256 or md5 of the file. `extract`/`untar`: unpack a tar/zip archive
    next to it. Downloads go through `nabi.keras.datasets._fetch._download`.
    """
    from ..datasets import _fetch
    if fname is None:
        if origin is None:
            raise ValueError("[get_file] give `fname` or `origin`")
        fname = os.path.basename(origin.split("?")[0])
    if cache_dir is None:
        cache_dir = _fetch.nabi_home()
    if md5_hash is not None and file_hash is None:
        file_hash, hash_algorithm = md5_hash, "md5"
    datadir = os.path.join(os.path.expanduser(cache_dir), cache_subdir)
    try:
        os.makedirs(datadir, exist_ok=True)
    except OSError:
        datadir = os.path.join(tempfile.gettempdir(), ".nabi", cache_subdir)
        os.makedirs(datadir, exist_ok=True)
    if untar:
        untar_fpath = os.path.join(datadir, fname[:-7] if fname.endswith(".tar.gz") else fname)
        fpath = untar_fpath + ".tar.gz"
    else:
        fpath = os.path.join(datadir, fname)
    download = force_download or not os.path.exists(fpath)
    if not download and file_hash is not None and not validate_file(fpath, file_hash,
                                                                     hash_algorithm):
        download = True
    if download:
        if origin is None:
            raise FileNotFoundError(f"[get_file] {fpath} is not in the cache and no `origin` was "
                                    "given to download it from")
        fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(fpath) + ".", suffix=".part",
                                   dir=datadir)
        os.close(fd)
        try:
            try:
                _fetch._download(origin, tmp)
            except Exception as e:
                raise OSError(f"[get_file] downloading {origin} failed ({type(e).__name__}: {e}); "
                              f"put the file at {fpath} by hand when offline") from e
            if file_hash is not None and not validate_file(tmp, file_hash, hash_algorithm):
                # ValueError as Keras 2.15 and 3 ("Incomplete or corrupted file detected")
                raise ValueError(f"[get_file] {origin}: incomplete or corrupted file detected; "
                                 f"its hash does not match {file_hash}")
            os.replace(tmp, fpath)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
    if untar:
        if not os.path.exists(untar_fpath):
            _safe_extract(fpath, datadir, archive_format="tar")
        return untar_fpath
    if extract:
        _safe_extract(fpath, datadir, archive_format)
    return fpath
