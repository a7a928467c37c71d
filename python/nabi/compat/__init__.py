"""`nabi.compat`: `nabi.compat.v1` runs TensorFlow-1 graph programs (`import nabi.compat.v1 as
tf`); `nabi.compat.v2` is nabi itself."""
import nabi as v2  # noqa: F401
from . import v1  # noqa: F401


def as_bytes(bytes_or_text, encoding="utf-8"):
    """`tf.compat.as_bytes`: str encoded with `encoding`; bytes/bytearray as bytes."""
    if isinstance(bytes_or_text, bytearray):
        return bytes(bytes_or_text)
    if isinstance(bytes_or_text, str):
        return bytes_or_text.encode(encoding)
    if isinstance(bytes_or_text, bytes):
        return bytes_or_text
    raise TypeError(f"Expected binary or unicode string, got {bytes_or_text!r}")


def as_text(bytes_or_text, encoding="utf-8"):
    """`tf.compat.as_text` (also `as_str`): bytes decoded with `encoding`; str as is."""
    if isinstance(bytes_or_text, str):
        return bytes_or_text
    if isinstance(bytes_or_text, (bytes, bytearray)):
        return bytes(bytes_or_text).decode(encoding)
    raise TypeError(f"Expected binary or unicode string, got {bytes_or_text!r}")


as_str = as_text


def as_str_any(value, encoding="utf-8"):
    """`tf.compat.as_str_any`: bytes decoded, anything else through str()."""
    if isinstance(value, bytes):
        return as_str(value, encoding=encoding)
    return str(value)


def path_to_str(path):
    """`tf.compat.path_to_str`: an os.PathLike as its str path; other values unchanged."""
    import os
    return os.fspath(path) if isinstance(path, os.PathLike) else path
