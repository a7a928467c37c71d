"""The CIFAR python-pickle batches that `cifar10` and `cifar100` read (Keras's
`keras.datasets.cifar`), from an extracted directory or straight from the `.tar.gz` archive.

Each batch is a pickled dict with bytes keys: `b'data'`, a (N, 3072) uint8 array whose rows are
one image in row-major CHW order (1024 red, 1024 green, 1024 blue values), and the labels
(`b'labels'` for CIFAR-10, `b'fine_labels'` / `b'coarse_labels'` for CIFAR-100) as a list.
"""
import os
import pickle
import tarfile

import numpy as np

from . import _fetch

__all__ = ["load_batch"]


def _parse_batch(raw, source, label_key, name="cifar"):
    try:
        d = pickle.loads(raw, encoding="bytes")  # noqa: S301 - the published format is a pickle
    except Exception as e:  # noqa: BLE001
        raise ValueError(f"[datasets.{name}] {source} is not a CIFAR python batch (unpickling "
                         f"failed: {type(e).__name__}: {e})") from None
    if not isinstance(d, dict):
        raise ValueError(f"[datasets.{name}] {source} is not a CIFAR python batch: it holds a "
                         f"{type(d).__name__}, expected a dict")
    d = {k.decode("utf8") if isinstance(k, bytes) else k: v for k, v in d.items()}
    for key in ("data", label_key):
        if key not in d:
            raise ValueError(f"[datasets.{name}] {source} has no {key!r} entry (keys: "
                             f"{sorted(d)})")
    data = np.asarray(d["data"])
    labels = d[label_key]
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or data.dtype != np.uint8:
        raise ValueError(f"[datasets.{name}] {source}: 'data' must be a (N, 3072) uint8 array, "
                         f"got shape {data.shape} and dtype {data.dtype}")
    if len(labels) != data.shape[0]:
        raise ValueError(f"[datasets.{name}] {source}: {data.shape[0]} images but "
                         f"{len(labels)} {label_key}")
    return data.reshape(data.shape[0], 3, 32, 32), labels


def load_batch(fpath, label_key="labels"):
    """Reads one batch file: `(data, labels)`, data uint8 of shape (N, 3, 32, 32), labels the
    file's list."""
    with open(fpath, "rb") as f:
        return _parse_batch(f.read(), fpath, label_key)


def read_members(name, source, members):
    """{member: bytes} for the batch files `members`, read from the directory `source` or from
    the archive `source` (members matched by base name, wherever the archive puts them)."""
    out = {}
    if os.path.isdir(source):
        for m in members:
            p = os.path.join(source, m)
            if os.path.isfile(p):
                with open(p, "rb") as f:
                    out[m] = f.read()
    else:
        try:
            with tarfile.open(source, "r:*") as tar:
                for info in tar:
                    base = os.path.basename(info.name)
                    if info.isfile() and base in members and base not in out:
                        out[base] = tar.extractfile(info).read()
        except (tarfile.TarError, OSError, EOFError) as e:
            raise ValueError(f"[datasets.{name}] {source} is not a readable tar archive "
                             f"({type(e).__name__}: {e})") from None
    missing = [m for m in members if m not in out]
    if missing:
        raise ValueError(f"[datasets.{name}] {source} lacks the batch file(s) "
                         f"{', '.join(missing)}")
    return out


def load_split(name, source, members, label_key):
    """Images (N, 3, 32, 32) uint8 and labels (a list) of the batches `members`, in order."""
    raw = read_members(name, source, members)
    parts = [_parse_batch(raw[m], os.path.join(source, m), label_key, name) for m in members]
    x = np.concatenate([p[0] for p in parts]) if len(parts) > 1 else parts[0][0]
    labels = [v for p in parts for v in p[1]]
    return x, labels


def to_data_format(x):
    """(N, 3, 32, 32) as Keras returns it: NHWC unless image_data_format() is channels_first."""
    from ..backend import image_data_format
    if image_data_format() == "channels_last":
        x = x.transpose(0, 2, 3, 1)
    return np.ascontiguousarray(x)


def find(name, path, candidates, url, file_hash):
    """The extracted directory or archive of a CIFAR set: `path` when given (either form), else
    the first of `candidates` in the search directories, else a download."""
    if path is not None:
        path = os.fspath(path)
        if os.path.exists(path):
            return path
        raise _fetch.DatasetNotFoundError(
            f"[datasets.{name}] {path} does not exist: `path` must be an extracted "
            f"{candidates[0]}/ directory or the {candidates[1]} archive")
    return _fetch.locate(name, candidates, url, os.path.basename(url), file_hash)
