"""Finding a dataset's files locally, or downloading them: the lookup every loader shares.

Search order for a dataset `<name>` (`mnist`, `cifar10`, `imdb`, ...), unless a loader is given
an explicit location:

1. `$NABI_DATASETS/<name>/`, then (for the Keras-format sets) `$NABI_DATASETS/` itself;
2. (Keras-format sets) the Keras cache `~/.keras/datasets/` (`$KERAS_HOME/datasets/`), so that
   files Keras downloaded before are reused;
3. nabi's cache `~/.nabi/datasets/<name>/` (`$NABI_HOME/datasets/<name>/`);
4. a download from the dataset's public URLs into nabi's cache, checked against the published
   digest before it is kept.

Every download goes through the module-level `_download(url, dest)`, so that tests can replace
it (tests never touch the network). When nothing is local and the download fails (offline),
`DatasetNotFoundError` names the dataset, the paths searched and the environment variable.
"""
import gzip
import hashlib
import os
import tempfile

__all__ = ["DatasetNotFoundError", "nabi_home", "cache_dir", "keras_cache_dir", "search_dirs",
           "find_or_fetch", "locate", "locate_file", "file_digest", "read_maybe_gzipped"]

ENV_VAR = "NABI_DATASETS"


class DatasetNotFoundError(FileNotFoundError):
    """A dataset's files are neither local nor downloadable (for example when offline)."""


def nabi_home():
    return os.environ.get("NABI_HOME") or os.path.join(os.path.expanduser("~"), ".nabi")


def cache_dir(name):
    return os.path.join(nabi_home(), "datasets", name)


def keras_cache_dir():
    """Where Keras's `get_file` keeps datasets: `$KERAS_HOME/datasets` or `~/.keras/datasets`."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return os.path.join(home, "datasets")


def search_dirs(name, keras_layout=True):
    """The directories searched for `name`'s files, in order (see the module docstring)."""
    root = os.environ.get(ENV_VAR)
    dirs = []
    if root:
        dirs.append(os.path.join(root, name))
        if keras_layout:
            dirs.append(root)
    if keras_layout:
        dirs.append(keras_cache_dir())
    dirs.append(cache_dir(name))
    return dirs


def _download(url, dest, timeout=60):
    """Downloads `url` to the file `dest` (replaced in tests; never called by them)."""
    import urllib.request
    with urllib.request.urlopen(url, timeout=timeout) as r, open(dest, "wb") as f:  # noqa: S310
        while True:
            chunk = r.read(1 << 20)
            if not chunk:
                break
            f.write(chunk)


def read_maybe_gzipped(path):
    """The file's bytes, gunzipped when they start with gzip's magic number."""
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    return raw


def file_digest(path, algorithm="sha256"):
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _check_digest(path, fname, sha256=None, md5=None, sha256_uncompressed=None):
    """Raises OSError when a digest differs. `sha256`/`md5`: of the file as downloaded;
    `sha256_uncompressed`: of its gunzipped bytes (mirrors recompress, the content is fixed)."""
    if sha256_uncompressed is not None:
        got = hashlib.sha256(read_maybe_gzipped(path)).hexdigest()
        if got != sha256_uncompressed:
            raise OSError(f"sha256 of the uncompressed {fname} is {got}, expected "
                          f"{sha256_uncompressed}")
    for algo, want in (("sha256", sha256), ("md5", md5)):
        if want is not None:
            got = file_digest(path, algo)
            if got != want:
                raise OSError(f"{algo} of {fname} is {got}, expected {want}")


def fetch(fname, dest_dir, urls, check=None, **digests):
    """Downloads `fname` into `dest_dir` from the first of `urls` that works, atomically (a
    temporary file, checked with `_check_digest(**digests)` and `check(path)`, then renamed)."""
    os.makedirs(dest_dir, exist_ok=True)
    errors = []
    for url in urls:
        fd, tmp = tempfile.mkstemp(prefix=f".{fname}.", suffix=".part", dir=dest_dir)
        os.close(fd)
        try:
            _download(url, tmp)
            _check_digest(tmp, fname, **digests)
            if check is not None:
                check(tmp)
            final = os.path.join(dest_dir, fname)
            os.replace(tmp, final)
            return final
        except Exception as e:  # noqa: BLE001 - try the next URL, report all at the end
            errors.append(f"{url}: {type(e).__name__}: {e}")
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
    raise OSError("; ".join(errors) if errors else "no URL to download from")


# --------------------------------------------------------------------------------------------
# MNIST-style sets: several files, each gzipped or not, in one directory

def _find_gz_or_plain(directory, fname):
    if not directory:
        return None
    base = fname[:-3] if fname.endswith(".gz") else fname
    for p in (os.path.join(directory, base + ".gz"), os.path.join(directory, base)):
        if os.path.isfile(p):
            return p
    return None


def find_or_fetch(name, files, mirrors, path=None, sha256=None, md5=None, check=None,
                  download=True):
    """Returns {fname: local path} for each of `files` (names ending in .gz), each found
    gzipped or not in `path` (a directory), else `$NABI_DATASETS/<name>/`, else the cache; the
    missing ones are downloaded from `mirrors` (base URLs) into `path` or the cache.

    `sha256`: {fname: digest of the uncompressed bytes}; `md5`: {fname: digest of the
    downloaded (compressed) file}; both are checked on downloads. `check(path)` validates a
    download further (for example its IDX header).
    """
    sha256 = sha256 or {}
    md5 = md5 or {}
    if path is not None:
        search = [os.fspath(path)]
        target = os.fspath(path)
    else:
        search = search_dirs(name, keras_layout=False)
        target = cache_dir(name)
    found, missing = {}, []
    for fname in files:
        p = next((q for q in (_find_gz_or_plain(d, fname) for d in search) if q), None)
        if p:
            found[fname] = p
        else:
            missing.append(fname)
    errors = []
    if missing and download:
        for fname in list(missing):
            try:
                urls = [base.rstrip("/") + "/" + fname for base in mirrors]
                found[fname] = fetch(fname, target, urls, check,
                                     sha256_uncompressed=sha256.get(fname), md5=md5.get(fname))
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
                    f"environment variable {ENV_VAR}=<DIR>, or pass path=<directory>")
        msg += f" (mirrors: {', '.join(mirrors)})."
        raise DatasetNotFoundError(msg)
    return found


# --------------------------------------------------------------------------------------------
# Keras-format sets: one file (or an extracted directory) that may go by several names

def _digest_kwargs(file_hash):
    if file_hash is None:
        return {}
    return {"md5": file_hash} if len(file_hash) == 32 else {"sha256": file_hash}


def locate(name, candidates, url, fname, file_hash=None, path=None, check=None):
    """Returns the local path of `name`'s data: the first of `candidates` (file or directory
    names, in order of preference) found in `search_dirs(name)`; otherwise downloads `url` into
    nabi's cache as `fname`, checks `file_hash` (Keras's: sha256, or md5 when 32 hex digits)
    and returns that path.

    `path`: a file the caller named explicitly (Keras's `path=` with a directory part); it is
    read when it exists and the download lands there otherwise.
    """
    if path is not None:
        path = os.path.expanduser(os.fspath(path))
        if os.path.exists(path):
            return path
        search, tried = [], [path]
        target_dir, target_name = os.path.dirname(os.path.abspath(path)), os.path.basename(path)
    else:
        search = search_dirs(name)
        tried = []
        for d in search:
            for c in candidates:
                p = os.path.join(d, c)
                if os.path.exists(p):
                    return p
                tried.append(p)
        target_dir, target_name = cache_dir(name), fname
    try:
        return fetch(target_name, target_dir, [url], check, **_digest_kwargs(file_hash))
    except OSError as e:
        error = str(e)
    where = "\n".join(f"  {p}" for p in tried)
    msg = (f"[datasets.{name}] the dataset is not available locally and downloading it failed "
           f"(offline?). Looked for:\n{where}\nDownloading {url} failed: {error}\n")
    if path is not None:
        msg += f"Put the file at {path}, or call without `path`."
    else:
        msg += (f"Put {' or '.join(candidates)} in a directory <DIR>/{name}/ (or <DIR>/) and set "
                f"the environment variable {ENV_VAR}=<DIR>, or put it in {target_dir}.")
    raise DatasetNotFoundError(msg)


def locate_file(name, path, default, url, file_hash=None):
    """Keras's `path=` argument of the npz/json loaders: a bare file name (the default,
    `imdb.npz`) is looked for in `search_dirs(name)` and downloaded into nabi's cache when
    absent; a path with a directory part names the file itself."""
    path = os.fspath(path) if path is not None else default
    if os.path.dirname(path):
        return locate(name, [], url, default, file_hash, path=path)
    candidates = [path] + ([default] if path != default else [])
    return locate(name, candidates, url, path, file_hash)
