"""`nabi.strings`: TensorFlow's string ops, elementwise over string tensors of any shape.

    lowercase = tf.strings.lower(input_data)
    stripped_html = tf.strings.regex_replace(lowercase, "<br />", " ")
    tf.strings.regex_replace(stripped_html, "[%s]" % re.escape(string.punctuation), "")

Inputs are string Tensors, Python str / bytes, nested lists of them or NumPy str / bytes /
object arrays. String results are string Tensors holding `bytes` (UTF-8), as TF's `.numpy()`
shows them; numeric results (`length`, `to_number`, `regex_full_match`) are placed on the
current device like any new tensor. Strings themselves live on the host only, whatever the
default device.

Regular expressions are RE2's as TF reads them, run by Python's `re` over the UTF-8 text:
`\\d \\w \\s \\b` are ASCII-only (re.ASCII, as in RE2), `$` without `(?m)` matches only at the
end of the text, `\\z` and the POSIX classes `[[:alpha:]]` are translated, and `\\pN` Unicode
classes raise an error (Python's `re` has none). Patterns RE2 rejects but `re` accepts
(look-arounds, back-references) are not rejected. In a rewrite, `\\0` is the whole match and
`\\1`..`\\9` the groups, as in RE2.

`split`, `bytes_split` and `unicode_split` return a 1-D string Tensor for a scalar input and a
`RaggedTensor` otherwise (defined in `nabi.ragged`); for an N-D input (N >= 2) its inner
dimensions are ragged partitions of uniform lengths (TF's static shape [2, 2, None] reads
[2, None, None] on nabi; row_splits, value_rowids and the values are TF's). RaggedTensor
inputs are taken as in TF: the elementwise ops (lower, upper, strip, length, substr,
regex_*, to_number, as_string, join, the hash buckets) keep the row partition, the splitting
ops add one ragged dimension (ragged of ragged), and reduce_join joins along one axis (rows
aligned by index for axis 0) or all.

`to_hash_bucket_fast` (FarmHash Fingerprint64), `to_hash_bucket_strong` (SipHash-2-4) and the
legacy `to_hash_bucket` give TF's bucket numbers bit for bit (`nabi.ops.farmhash`); `ngrams`
follows TF's padding rules.
"""
import codecs
import re

import numpy as np

from . import dtypes as _dt
from .framework.device import DeviceArray
from .framework.tensor import Tensor, _utf8_storage, _wrap, convert_to_tensor
from .ragged import RaggedTensor, _nest_outer

__all__ = ["lower", "upper", "regex_replace", "regex_full_match", "strip", "length", "join",
           "reduce_join", "split", "substr", "to_number", "as_string", "format", "bytes_split",
           "unicode_split", "unicode_decode", "RaggedTensor", "to_hash_bucket_fast", "to_hash_bucket",
           "to_hash_bucket_strong", "ngrams", "unicode_encode", "unicode_decode_with_offsets",
           "unicode_split_with_offsets", "unsorted_segment_join", "unicode_transcode",
           "unicode_script"]


# ------------------------------------------------------------------------------- conversion


def _strings(x, op, what="input"):
    """An object ndarray of bytes for any string-like input; a clear TypeError otherwise."""
    if isinstance(x, RaggedTensor):
        raise TypeError(f"[strings.{op}] {what} is a RaggedTensor; pass its flat_values or "
                        "to_tensor()")
    if isinstance(x, Tensor):
        a = x._data
        if type(a) is DeviceArray:
            a = a.get()
    elif isinstance(x, (str, bytes)):
        a = np.array(x.encode("utf-8") if isinstance(x, str) else x, dtype=object)
        return a
    else:
        u = _unnest(x)
        try:
            a = np.asarray(u)
        except UnicodeDecodeError:      # str next to non-ASCII bytes in one list (TF takes it)
            a = np.array(u, dtype=object)
        if a.dtype.kind in "US":        # fixed-width arrays drop trailing NULs; TF keeps them
            obj = np.array(u, dtype=object)
            a = obj if obj.shape == a.shape else a
    if a.dtype.kind in "USO":
        a = _utf8_storage(a)
        bad = [v for v in a.reshape(-1).tolist() if not isinstance(v, bytes)]
        if not bad:
            return a
        raise TypeError(f"[strings.{op}] {what} must hold strings, found "
                        f"{type(bad[0]).__name__} {bad[0]!r} (shape {a.shape})")
    raise TypeError(f"[strings.{op}] {what} must be a string tensor, got dtype "
                    f"{_dtype_name(a)} and shape {a.shape}")


def _dtype_name(a):
    try:
        return _dt.as_dtype(a.dtype).name
    except TypeError:
        return str(a.dtype)


def _unnest(x):
    if isinstance(x, Tensor):
        return x.numpy()
    if isinstance(x, (list, tuple)):
        return [_unnest(v) for v in x]
    return x


def _string_scalar(x, op, what):
    a = _strings(x, op, what)
    if a.ndim != 0:
        raise ValueError(f"[strings.{op}] {what} must be a scalar string, got shape {a.shape}")
    return a.item()


def _map(fn, a):
    """fn over every element of an object array of bytes, as a string Tensor."""
    out = np.empty(a.size, dtype=object)
    out[:] = [fn(v) for v in a.reshape(-1).tolist()]
    return _wrap(out.reshape(a.shape))


def _numeric(values, shape, np_dtype):
    with np.errstate(over="ignore"):    # to_number('1e39', float32) is inf, as in TF
        return convert_to_tensor(np.array(values, dtype=np_dtype).reshape(shape))


def _decode(b):
    # invalid UTF-8 survives a decode/encode round trip unchanged
    return b.decode("utf-8", "surrogateescape")


def _encode(s):
    return s.encode("utf-8", "surrogateescape")


# ------------------------------------------------------------------------------- case, strip


def _check_encoding(op, encoding):
    if encoding not in ("", None, "utf-8", "UTF-8", "utf8"):
        raise ValueError(f"[strings.{op}] encoding must be '' (ASCII) or 'utf-8', got "
                         f"{encoding!r}")
    return bool(encoding)


def lower(input, encoding="", name=None):  # noqa: A002  (TF's argument name)
    """Lower-cases ASCII letters (every letter with encoding='utf-8'), as tf.strings.lower."""
    utf8 = _check_encoding("lower", encoding)
    a = _strings(input, "lower")
    return _map((lambda b: _utf8_case(b, str.lower)) if utf8 else bytes.lower, a)


def upper(input, encoding="", name=None):  # noqa: A002
    """Upper-cases ASCII letters (every letter with encoding='utf-8'), as tf.strings.upper."""
    utf8 = _check_encoding("upper", encoding)
    a = _strings(input, "upper")
    return _map((lambda b: _utf8_case(b, str.upper)) if utf8 else bytes.upper, a)


def _utf8_case(b, fn):
    # TF's case mapping with encoding='utf-8' turns invalid UTF-8 bytes into U+FFFD
    return fn(b.decode("utf-8", "replace")).encode("utf-8")


def strip(input, name=None):  # noqa: A002
    """Removes leading and trailing ASCII whitespace (space, \\t \\n \\v \\f \\r)."""
    return _map(bytes.strip, _strings(input, "strip"))


def length(input, unit="BYTE", name=None):  # noqa: A002
    """int32 lengths in bytes (unit='BYTE') or in UTF-8 characters (unit='UTF8_CHAR': the
    bytes that do not continue a character, so invalid UTF-8 is still counted as TF does)."""
    if unit not in ("BYTE", "UTF8_CHAR"):
        raise ValueError(f"[strings.length] unit must be 'BYTE' or 'UTF8_CHAR', got {unit!r}")
    a = _strings(input, "length")
    flat = a.reshape(-1).tolist()
    if unit == "BYTE":
        vals = [len(b) for b in flat]
    else:
        vals = [sum(1 for c in b if c & 0xC0 != 0x80) for b in flat]
    return _numeric(vals, a.shape, np.int32)


# ------------------------------------------------------------------------------- regexes

_POSIX_CLASSES = {"alnum": "0-9A-Za-z", "alpha": "A-Za-z", "ascii": "\\x00-\\x7f",
                  "blank": "\\t ", "cntrl": "\\x00-\\x1f\\x7f", "digit": "0-9",
                  "graph": "!-~", "lower": "a-z", "print": " -~",
                  "punct": "!-/:-@\\[-`{-~", "space": "\\t\\n\\v\\f\\r ",
                  "upper": "A-Z", "word": "0-9A-Za-z_", "xdigit": "0-9A-Fa-f"}
_RE_CACHE = {}


def _translate_re2(pattern, op):
    """Python `re` source for an RE2 pattern (see the module docstring)."""
    m = re.match(r"\(\?([imsU]+)\)", pattern)
    multiline = bool(m and "m" in m.group(1))
    if m and "U" in m.group(1):
        raise ValueError(f"[strings.{op}] the RE2 flag U (ungreedy) is not supported: "
                         f"{pattern!r}")
    out, i, n, in_class = [], 0, len(pattern), False
    while i < n:
        c = pattern[i]
        if c == "\\":
            if i + 1 >= n:
                raise ValueError(f"[strings.{op}] invalid pattern {pattern!r}: trailing "
                                 "backslash")
            e = pattern[i + 1]
            if e in "pP":
                raise ValueError(f"[strings.{op}] Unicode classes (\\{e}...) are not supported "
                                 f"by nabi's regular expressions: {pattern!r}")
            if e == "z":
                out.append("\\Z")
            elif e == "Q":           # \Q...\E: a literal run
                end = pattern.find("\\E", i + 2)
                end = n if end < 0 else end
                out.append(re.escape(pattern[i + 2:end]))
                i = end + 2
                continue
            elif e == "C":
                out.append(".")
            else:
                out.append(pattern[i:i + 2])
            i += 2
            continue
        if in_class:
            if pattern.startswith("[:", i):
                end = pattern.find(":]", i + 2)
                name = pattern[i + 2:end] if end > 0 else ""
                neg = name.startswith("^")
                if neg or name not in _POSIX_CLASSES:
                    raise ValueError(f"[strings.{op}] unsupported character class "
                                     f"[:{name}:] in {pattern!r}")
                out.append(_POSIX_CLASSES[name])
                i = end + 2
                continue
            if c == "[":
                out.append("\\[")    # a literal '[' in a class (Python warns about nesting)
            else:
                out.append(c)
                if c == "]":
                    in_class = False
            i += 1
            continue
        if c == "[":
            in_class = True
            out.append(c)
            i += 1
            # a ']' first in the class (after an optional '^') is a literal
            if i < n and pattern[i] == "^":
                out.append("^")
                i += 1
            if i < n and pattern[i] == "]":
                out.append("\\]")
                i += 1
            continue
        out.append("\\Z" if c == "$" and not multiline else c)
        i += 1
    return "".join(out)


def _compile(pattern, op):
    if isinstance(pattern, (Tensor, np.ndarray)) or not isinstance(pattern, (str, bytes)):
        pattern = _string_scalar(pattern, op, "pattern")
    if isinstance(pattern, bytes):
        pattern = _decode(pattern)
    key = (pattern, op)
    rx = _RE_CACHE.get(key)
    if rx is None:
        try:
            rx = re.compile(_translate_re2(pattern, op), re.ASCII)
        except re.error as e:
            raise ValueError(f"[strings.{op}] invalid regular expression {pattern!r}: {e}") \
                from None
        if len(_RE_CACHE) > 256:
            _RE_CACHE.clear()
        _RE_CACHE[key] = rx
    return rx


def _rewrite_fn(rewrite, rx, op):
    """A re.sub replacement function for an RE2 rewrite string (\\0-\\9 groups, \\\\)."""
    if not isinstance(rewrite, (str, bytes)):
        rewrite = _string_scalar(rewrite, op, "rewrite")
    if isinstance(rewrite, bytes):
        rewrite = _decode(rewrite)
    parts, i, n = [], 0, len(rewrite)   # str literals and int group numbers
    lit = []
    while i < n:
        c = rewrite[i]
        if c == "\\":
            e = rewrite[i + 1] if i + 1 < n else ""
            if e.isdigit():
                g = int(e)
                if g > rx.groups:
                    raise ValueError(f"[strings.{op}] rewrite {rewrite!r} refers to group "
                                     f"\\{g}, but the pattern has {rx.groups} group(s)")
                parts.append("".join(lit))
                lit = []
                parts.append(g)
            elif e == "\\":
                lit.append("\\")
            else:
                raise ValueError(f"[strings.{op}] invalid rewrite {rewrite!r}: a backslash "
                                 "must be followed by a digit or another backslash")
            i += 2
            continue
        lit.append(c)
        i += 1
    parts.append("".join(lit))
    if len(parts) == 1:
        text = parts[0]
        return lambda m: text
    return lambda m: "".join(p if isinstance(p, str) else (m.group(p) or "") for p in parts)


def regex_replace(input, pattern, rewrite, replace_global=True, name=None):  # noqa: A002
    """Replaces the matches of `pattern` (RE2 syntax) with `rewrite` (\\0 the match, \\1.. the
    groups): every match, or only the first with replace_global=False."""
    a = _strings(input, "regex_replace")
    rx = _compile(pattern, "regex_replace")
    repl = _rewrite_fn(rewrite, rx, "regex_replace")
    if not replace_global:
        return _map(lambda b: _encode(rx.sub(repl, _decode(b), count=1)), a)
    return _map(lambda b: _encode(_global_sub(rx, repl, _decode(b))), a)


def _global_sub(rx, repl, text):
    """RE2's GlobalReplace: like re.sub, except that an empty match where the previous match
    ended is skipped (RE2 copies one character and searches on), so 'a|' -> 'Z' turns 'ab'
    into 'ZbZ' where re.sub gives 'ZZbZ'."""
    out, p, last_end, n = [], 0, -1, len(text)
    while p <= n:
        m = rx.search(text, p)
        if m is None:
            break
        start, end = m.span()
        if start == end == last_end:
            out.append(text[p:p + 1])
            p += 1
            continue
        out.append(text[p:start])
        out.append(repl(m))
        p = last_end = end
    out.append(text[p:])
    return "".join(out)


def regex_full_match(input, pattern, name=None):  # noqa: A002
    """bool: whether each whole string matches `pattern` (RE2 syntax)."""
    a = _strings(input, "regex_full_match")
    rx = _compile(pattern, "regex_full_match")
    return _numeric([rx.fullmatch(_decode(b)) is not None for b in a.reshape(-1).tolist()],
                    a.shape, np.bool_)


# ------------------------------------------------------------------------------- joining


def _separator(separator, op):
    if isinstance(separator, str):
        return separator.encode("utf-8")
    if isinstance(separator, bytes):
        return separator
    return _string_scalar(separator, op, "separator")


def join(inputs, separator="", name=None):
    """Joins a list of string tensors elementwise (they broadcast against each other)."""
    if isinstance(inputs, (str, bytes, Tensor, np.ndarray)) or not hasattr(inputs, "__iter__"):
        raise TypeError(f"[strings.join] inputs must be a list of string tensors, got "
                        f"{type(inputs).__name__}")
    sep = _separator(separator, "join")
    arrays = [_strings(x, "join", f"inputs[{k}]") for k, x in enumerate(inputs)]
    if not arrays:
        return _wrap(np.array(b"", dtype=object))
    try:
        arrays = np.broadcast_arrays(*arrays)
    except ValueError:
        raise ValueError(f"[strings.join] inputs must have broadcastable shapes, got "
                         f"{[a.shape for a in arrays]}") from None
    shape = arrays[0].shape
    flats = [a.reshape(-1).tolist() for a in arrays]
    out = np.empty(len(flats[0]), dtype=object)
    out[:] = [sep.join(parts) for parts in zip(*flats)]
    return _wrap(out.reshape(shape))


def reduce_join(inputs, axis=None, keepdims=False, separator="", name=None):
    """Joins strings along `axis` (an int, a list of ints, or None for every axis), in order.
    A RaggedTensor joins along one axis as TF's ragged reductions do: a ragged axis (one
    string per row, b'' for an empty one), axis 0 of a 2-D one (each column) or None (all)."""
    if isinstance(inputs, RaggedTensor):
        return _reduce_join_ragged(inputs, axis, keepdims, _separator(separator, "reduce_join"))
    a = _strings(inputs, "reduce_join", "inputs")
    sep = _separator(separator, "reduce_join")
    if axis is None:
        axes = tuple(range(a.ndim))
    else:
        if isinstance(axis, Tensor):
            axis = axis.numpy().tolist()
        axes = tuple(np.atleast_1d(np.asarray(axis, dtype=np.int64)).tolist())
        for ax in axes:
            if not -a.ndim <= ax < max(a.ndim, 1) or a.ndim == 0:
                raise ValueError(f"[strings.reduce_join] axis {ax} is out of range for an "
                                 f"input of shape {a.shape}")
        axes = tuple(ax % a.ndim for ax in axes)
        if _builtin_len(set(axes)) != _builtin_len(axes):
            raise ValueError(f"[strings.reduce_join] duplicate axes in axis={axis} for an "
                             f"input of shape {a.shape}")
        # TF joins with the first listed axis varying fastest (as if reducing the axes one
        # after another in the order given): axis=[0, 1] of [[a, b], [c, d]] is 'acbd'.
        axes = axes[::-1]
    keep = [d for d in range(a.ndim) if d not in axes]
    moved = np.transpose(a, keep + list(axes))
    out_shape = tuple(a.shape[d] for d in keep)
    rows = moved.reshape(int(np.prod(out_shape, dtype=np.int64)),
                         int(np.prod([a.shape[d] for d in axes], dtype=np.int64)))
    out = np.empty(rows.shape[0], dtype=object)
    out[:] = [sep.join(r) for r in rows.tolist()]
    out = out.reshape(out_shape)
    if keepdims:
        out = out.reshape(tuple(1 if d in axes else a.shape[d] for d in range(a.ndim)))
    return _wrap(out)


def _reduce_join_ragged(rt, axis, keepdims, sep):
    from . import ragged as _rg
    if rt.dtype != _dt.string:
        raise TypeError(f"[strings.reduce_join] inputs must be a string RaggedTensor, got "
                        f"dtype {rt.dtype.name} (shape {rt.shape})")

    def join_along(a, axis=0):
        a = np.moveaxis(np.asarray(a, dtype=object), axis, -1)
        out = np.empty(a.shape[:-1], dtype=object)
        for idx in np.ndindex(out.shape):
            out[idx] = sep.join(a[idx].tolist())
        return out
    if isinstance(axis, Tensor):
        axis = axis.numpy().tolist()
    if isinstance(axis, (list, tuple)):
        if _builtin_len(axis) != 1:
            raise ValueError(f"[strings.reduce_join] a RaggedTensor joins over one axis or all, "
                             f"got axis={axis}")
        axis = axis[0]
    nd = rt.ndim
    if axis is None:
        out = np.array(sep.join(rt._flat().reshape(-1).tolist()), dtype=object)
        return _wrap(out.reshape((1,) * nd) if keepdims else out)
    axis = int(axis)
    if not -nd <= axis < nd:
        raise ValueError(f"[strings.reduce_join] axis {axis} is out of range for a "
                         f"RaggedTensor of rank {nd} (shape {rt.shape})")
    out = _rg._reduce_axis("reduce_join", join_along, rt, axis % nd, np.dtype(object),
                           keepdims)
    if isinstance(out, RaggedTensor):
        return out._rebuild(_unboxed(out._flat()))
    return _wrap(_unboxed(out))


def _unboxed(a):
    """An object array whose 0-d array elements (what assigning a reduced row into an object
    array stores) are replaced by their bytes."""
    a = np.asarray(a, dtype=object)
    out = np.empty(a.size, dtype=object)
    out[:] = [v.item() if isinstance(v, np.ndarray) else v for v in a.reshape(-1).tolist()]
    return out.reshape(a.shape)


# ------------------------------------------------------------------------------- ragged results


def _ragged_or_vector(a, fn):
    """fn(bytes) -> list of bytes per element: a 1-D Tensor for a scalar input, else ragged."""
    if a.ndim == 0:
        vals = fn(a.item())
        out = np.empty(len(vals), dtype=object)
        out[:] = vals
        return _wrap(out)
    rows = []
    for b in a.reshape(-1).tolist():
        vals = fn(b)
        r = np.empty(len(vals), dtype=object)
        r[:] = vals
        rows.append(r)
    return _nest_outer(RaggedTensor(rows, a.shape, _dt.string))


def split(input, sep=None, maxsplit=-1, name=None):  # noqa: A002
    """Splits each string on `sep` (runs of ASCII whitespace when sep is None or '', empty
    tokens dropped; otherwise on every occurrence, empty tokens kept), at most `maxsplit`
    times. A scalar gives a 1-D string Tensor; a tensor of rank r gives a RaggedTensor with
    r dense dimensions and a ragged last one."""
    a = _strings(input, "split")
    if sep is not None and not isinstance(sep, (str, bytes)):
        sep = _string_scalar(sep, "split", "sep")
    if isinstance(sep, str):
        sep = sep.encode("utf-8")
    if sep == b"":
        sep = None
    if isinstance(maxsplit, Tensor):
        maxsplit = int(maxsplit.numpy())
    maxsplit = int(maxsplit)
    if sep is None and maxsplit >= 0:
        return _ragged_or_vector(a, lambda b: _split_whitespace(b, maxsplit))
    return _ragged_or_vector(a, lambda b: b.split(sep, maxsplit))


_ASCII_SPACE = frozenset(b" \t\n\r\x0b\x0c")


def _split_whitespace(b, maxsplit):
    """TF's whitespace split with a limit, which is not Python's: maxsplit=0 keeps the string
    whole (b'' too, leading blanks too), and once `maxsplit` tokens are taken the rest after
    its leading blanks is one more token, even when empty: split(b'a b', maxsplit=2) is
    [b'a', b'b', b'']."""
    if maxsplit == 0:
        return [b]
    toks, n, i = [], len(b), 0
    while i < n and b[i] in _ASCII_SPACE:
        i += 1
    while i < n:
        j = i
        while j < n and b[j] not in _ASCII_SPACE:
            j += 1
        toks.append(b[i:j])
        while j < n and b[j] in _ASCII_SPACE:
            j += 1
        i = j
        if len(toks) == maxsplit:
            toks.append(b[i:])
            break
    return toks


def bytes_split(input, name=None):  # noqa: A002
    """Each string's bytes, one token each (1-D for a scalar, else a RaggedTensor)."""
    a = _strings(input, "bytes_split")
    return _ragged_or_vector(a, lambda b: [b[i:i + 1] for i in range(len(b))])


def unicode_split(input, input_encoding="UTF-8", errors="replace",  # noqa: A002
                  replacement_char=0xFFFD, name=None):
    """Each string's UTF-8 characters (invalid bytes become U+FFFD with errors='replace', as
    TF does; errors='strict' raises)."""
    if input_encoding.upper().replace("-", "") != "UTF8":
        raise ValueError(f"[strings.unicode_split] only input_encoding='UTF-8' is supported, "
                         f"got {input_encoding!r}")
    if errors not in ("replace", "strict", "ignore"):
        raise ValueError(f"[strings.unicode_split] errors must be 'replace', 'strict' or "
                         f"'ignore', got {errors!r}")
    a = _strings(input, "unicode_split")
    return _ragged_or_vector(a, lambda b: [ch.encode("utf-8") for ch in _utf8_chars(
        b, errors, replacement_char, "strings.unicode_split")])


def _utf8_chars(b, errors, replacement_char, op):
    """The characters of UTF-8 bytes `b` as a str, invalid bytes handled by `errors`."""
    try:
        s = b.decode("utf-8", "strict" if errors == "strict" else "replace")
    except UnicodeDecodeError as e:
        raise ValueError(f"[{op}] invalid UTF-8 in {b!r}: {e}") from None
    if errors == "ignore":
        s = s.replace("\ufffd", "")
    elif replacement_char != 0xFFFD:
        s = s.replace("\ufffd", chr(replacement_char))
    return s


def _check_decode_args(op, input_encoding, errors):
    if input_encoding.upper().replace("-", "") != "UTF8":
        raise ValueError(f"[{op}] only input_encoding='UTF-8' is supported, got "
                         f"{input_encoding!r}")
    if errors not in ("replace", "strict", "ignore"):
        raise ValueError(f"[{op}] errors must be 'replace', 'strict' or 'ignore', got "
                         f"{errors!r}")


def unicode_decode(input, input_encoding="UTF-8", errors="replace",  # noqa: A002
                   replacement_char=0xFFFD, replace_control_characters=False, name=None):
    """Each string's Unicode code points as int32: a 1-D Tensor for a scalar, else a
    RaggedTensor (invalid UTF-8 becomes `replacement_char` with errors='replace', as TF)."""
    op = "strings.unicode_decode"
    _check_decode_args(op, input_encoding, errors)
    a = _strings(input, "unicode_decode")

    def codes(b):
        s = _utf8_chars(b, errors, replacement_char, op)
        cs = [ord(ch) for ch in s]
        if replace_control_characters:     # the C0 controls U+0000..U+001F, as TF
            cs = [c for c in cs if c >= 32] if errors == "ignore" else \
                [replacement_char if c < 32 else c for c in cs]
        return np.array(cs, np.int32)
    if a.ndim == 0:
        return convert_to_tensor(codes(a.item()))
    return _nest_outer(RaggedTensor([codes(b) for b in a.reshape(-1).tolist()], a.shape,
                                    _dt.int32))


_OFFSET_SPANS = []      # the invalid byte spans the decode below met, in order


def _record_span(err):
    _OFFSET_SPANS.append((err.start, err.end))
    return "\ufffd", err.end


codecs.register_error("nabi_strings_offsets", _record_span)


def _utf8_chars_with_offsets(b, errors, replacement_char, op):
    """(code points, byte offsets of their starts) as unicode_decode_with_offsets gives them:
    an invalid sequence is one replacement character starting where it starts (or dropped
    with errors='ignore')."""
    if errors == "strict":
        try:
            b.decode("utf-8")
        except UnicodeDecodeError as e:
            raise ValueError(f"[{op}] invalid UTF-8 in {b!r}: {e}") from None
    del _OFFSET_SPANS[:]
    text = b.decode("utf-8", "nabi_strings_offsets")
    spans = list(_OFFSET_SPANS)
    codes, offsets, pos, k = [], [], 0, 0
    for ch in text:
        if k < len(spans) and spans[k][0] == pos and ch == "\ufffd":
            if errors != "ignore":
                codes.append(replacement_char)
                offsets.append(pos)
            pos = spans[k][1]
            k += 1
            continue
        codes.append(ord(ch))
        offsets.append(pos)
        pos += len(ch.encode("utf-8"))
    return codes, offsets


def unicode_decode_with_offsets(input, input_encoding="UTF-8", errors="replace",  # noqa: A002
                                replacement_char=0xFFFD, replace_control_characters=False,
                                name=None):
    """(unicode_decode's code points, the int64 byte offset where each one starts)."""
    op = "strings.unicode_decode_with_offsets"
    if isinstance(input, RaggedTensor):
        codes, offs = unicode_decode_with_offsets(input.flat_values, input_encoding, errors,
                                                  replacement_char, replace_control_characters)
        splits = list(input.nested_row_splits)
        return (RaggedTensor.from_nested_row_splits(codes.flat_values,
                                                    splits + list(codes.nested_row_splits)),
                RaggedTensor.from_nested_row_splits(offs.flat_values,
                                                    splits + list(offs.nested_row_splits)))
    _check_decode_args(op, input_encoding, errors)
    a = _strings(input, "unicode_decode_with_offsets")

    def both(b):
        cs, off = _utf8_chars_with_offsets(b, errors, replacement_char, op)
        if replace_control_characters:
            keep = [c >= 32 or errors != "ignore" for c in cs]
            cs = [replacement_char if c < 32 else c for c, k in zip(cs, keep) if k]
            off = [o for o, k in zip(off, keep) if k]
        return np.array(cs, np.int32), np.array(off, np.int64)
    if a.ndim == 0:
        cs, off = both(a.item())
        return convert_to_tensor(cs), convert_to_tensor(off)
    pairs = [both(b) for b in a.reshape(-1).tolist()]
    return (_nest_outer(RaggedTensor([p[0] for p in pairs], a.shape, _dt.int32)),
            _nest_outer(RaggedTensor([p[1] for p in pairs], a.shape, _dt.int64)))


def unicode_split_with_offsets(input, input_encoding="UTF-8", errors="replace",  # noqa: A002
                               replacement_char=0xFFFD, name=None):
    """(unicode_split's characters, the int64 byte offset where each one starts)."""
    codes, offsets = unicode_decode_with_offsets(input, input_encoding, errors,
                                                 replacement_char)
    if isinstance(codes, RaggedTensor):
        chars = np.empty(codes.flat_values.shape[0], dtype=object)
        chars[:] = [chr(c).encode("utf-8", "surrogatepass") for c in
                    codes.flat_values.numpy().tolist()]
        return codes.with_flat_values(_wrap(chars)), offsets
    chars = np.empty(codes.shape[0], dtype=object)
    chars[:] = [chr(c).encode("utf-8", "surrogatepass") for c in codes.numpy().tolist()]
    return _wrap(chars), offsets


def unsorted_segment_join(inputs, segment_ids, num_segments, separator="", name=None):
    """Joins the strings of each segment in the order they appear (row-major over
    segment_ids, whose shape is a prefix of the inputs'); an empty segment is b''. The
    result has shape [num_segments] + inputs.shape[segment_ids.ndim:]."""
    op = "strings.unsorted_segment_join"
    a = _strings(inputs, "unsorted_segment_join", "inputs")
    ids = segment_ids.numpy() if isinstance(segment_ids, Tensor) else np.asarray(segment_ids)
    if ids.dtype.kind not in "iu" and ids.size:
        raise TypeError(f"[{op}] segment_ids must be integers, got {ids.dtype}")
    ids = ids.astype(np.int64)
    if a.shape[:ids.ndim] != ids.shape:
        raise ValueError(f"[{op}] segment_ids shape {ids.shape} must be a prefix of the inputs "
                         f"shape {a.shape}")
    n = int(num_segments.numpy() if isinstance(num_segments, Tensor) else num_segments)
    if ids.size and (ids.max() >= n or ids.min() < 0):
        raise ValueError(f"[{op}] segment_ids {ids.reshape(-1).tolist()} must be in "
                         f"[0, num_segments={n})")
    sep = _separator(separator, "unsorted_segment_join")
    inner = a.shape[ids.ndim:]
    rows = a.reshape((ids.size,) + inner)
    out = np.empty((n,) + inner, dtype=object)
    for idx in np.ndindex(*inner) if inner else [()]:
        parts = [[] for _ in range(n)]
        for k, sid in enumerate(ids.reshape(-1).tolist()):
            parts[sid].append(rows[(k,) + idx])
        for sid in range(n):
            out[(sid,) + idx] = sep.join(parts[sid])
    return _wrap(out)


def unicode_encode(input, output_encoding, errors="replace",  # noqa: A002
                   replacement_char=65533, name=None):
    """Code points (int32) -> UTF-8 strings, the inverse of unicode_decode: a 1-D Tensor gives
    a scalar string, an (N, k) Tensor or a RaggedTensor of N rows a 1-D Tensor of N strings.
    Invalid code points become `replacement_char` (errors='replace'), are dropped ('ignore')
    or raise ('strict')."""
    op = "strings.unicode_encode"
    if str(output_encoding).upper().replace("-", "") != "UTF8":
        raise ValueError(f"[{op}] only output_encoding='UTF-8' is supported, got "
                         f"{output_encoding!r}")
    if errors not in ("replace", "strict", "ignore"):
        raise ValueError(f"[{op}] errors must be 'replace', 'strict' or 'ignore', got "
                         f"{errors!r}")

    def encode(codes):
        out = []
        for c in codes:
            c = int(c)
            if not (0 <= c <= 0x10FFFF) or 0xD800 <= c <= 0xDFFF:
                if errors == "strict":
                    raise ValueError(f"[{op}] invalid code point {c}")
                if errors == "ignore":
                    continue
                c = replacement_char
            out.append(chr(c))
        return "".join(out).encode("utf-8")

    if isinstance(input, RaggedTensor):
        if input.ragged_rank > 1 or input.flat_values.shape.rank > 1:
            # encodes the innermost rows, keeps the outer partition
            return input.with_values(unicode_encode(input.values, output_encoding, errors,
                                                    replacement_char))
        rows = input.to_list()
        return convert_to_tensor(np.array([encode(r) for r in rows], dtype=object))
    a = input._data if isinstance(input, Tensor) else np.asarray(input)
    if type(a) is DeviceArray:
        a = a.get()
    a = np.asarray(a)
    if a.dtype.kind not in "iu":
        raise TypeError(f"[{op}] input must be integer code points, got {a.dtype.name} "
                        f"{tuple(a.shape)}")
    if a.ndim == 0:
        raise ValueError(f"[{op}] input must have rank >= 1, got a scalar")
    if a.ndim == 1:
        return convert_to_tensor(np.array(encode(a.tolist()), dtype=object))
    flat = a.reshape(-1, a.shape[-1])
    out = np.array([encode(r) for r in flat.tolist()], dtype=object)
    return convert_to_tensor(out.reshape(a.shape[:-1]))


# ------------------------------------------------------------------------------- transcode

_BAD = "\ud800"     # marks an ill-formed sequence in decoded text (no valid input decodes to it)


def _mark_bad(err):
    return _BAD, err.end


codecs.register_error("nabi_strings_transcode", _mark_bad)


def _decode_units(b, width):
    """UTF-16-BE (width 2) or UTF-32-BE (width 4) bytes -> text, each ill-formed unit (a lone
    surrogate, a value above U+10FFFF, a trailing partial unit) as one _BAD, as ICU reads them."""
    n = len(b) // width
    units = np.frombuffer(b[:n * width], ">u2" if width == 2 else ">u4").tolist()
    out, i = [], 0
    while i < n:
        u = units[i]
        i += 1
        if width == 2 and 0xD800 <= u < 0xDC00 and i < n and 0xDC00 <= units[i] < 0xE000:
            out.append(chr(0x10000 + ((u - 0xD800) << 10) + units[i] - 0xDC00))
            i += 1
        elif 0xD800 <= u < 0xE000 or u > 0x10FFFF:
            out.append(_BAD)
        else:
            out.append(chr(u))
    # a trailing partial unit is one more error, unless it follows a high surrogate that ends
    # the complete units: ICU reads the two as one truncated pair
    if len(b) % width and not (width == 2 and n and 0xD800 <= units[-1] < 0xDC00):
        out.append(_BAD)
    return "".join(out)


_TRANSCODE_IN = {"UTF8": lambda b: b.decode("utf-8", "nabi_strings_transcode"),
                 "UTF16BE": lambda b: _decode_units(b, 2),
                 "UTF32BE": lambda b: _decode_units(b, 4)}
_TRANSCODE_OUT = {"UTF-8": "utf-8", "UTF-16-BE": "utf-16-be", "UTF-32-BE": "utf-32-be"}


def unicode_transcode(input, input_encoding, output_encoding, errors="replace",  # noqa: A002
                      replacement_char=65533, replace_control_characters=False, name=None):
    """Each string re-encoded from `input_encoding` (UTF-8, UTF-16-BE or UTF-32-BE, any
    spelling ICU accepts: 'utf8', 'UTF16BE') to `output_encoding` ('UTF-8', 'UTF-16-BE' or
    'UTF-32-BE' exactly, as TF). An ill-formed sequence (a maximal invalid UTF-8 subpart, a
    lone UTF-16 surrogate, a UTF-32 value out of range, a trailing partial unit) becomes
    `replacement_char` with errors='replace' (in UTF-8 output a surrogate one is U+FFFD), is
    dropped with 'ignore', raises InvalidArgumentError with 'strict'.
    replace_control_characters treats the C0 controls U+0000..U+001F the same way. Same shape
    out; a RaggedTensor keeps its rows."""
    from .errors import InvalidArgumentError
    op = "strings.unicode_transcode"
    if isinstance(input, RaggedTensor):
        return input.with_flat_values(unicode_transcode(
            input.flat_values, input_encoding, output_encoding, errors, replacement_char,
            replace_control_characters))
    decode = _TRANSCODE_IN.get(str(input_encoding).upper().replace("-", "").replace("_", ""))
    if decode is None:
        raise ValueError(f"[{op}] input_encoding must be UTF-8, UTF-16-BE or UTF-32-BE, got "
                         f"{input_encoding!r}")
    if output_encoding not in _TRANSCODE_OUT:
        raise ValueError(f"[{op}] output_encoding must be one of 'UTF-8', 'UTF-16-BE', "
                         f"'UTF-32-BE', got {output_encoding!r}")
    if errors not in ("replace", "strict", "ignore"):
        raise ValueError(f"[{op}] errors must be 'replace', 'strict' or 'ignore', got "
                         f"{errors!r}")
    rc = int(replacement_char)
    if not 0 <= rc <= 0x10FFFF:
        raise ValueError(f"[{op}] replacement_char {rc} is out of the Unicode code point range")
    out_codec = _TRANSCODE_OUT[output_encoding]
    # a surrogate replacement_char is written as it is in UTF-16/32, as U+FFFD in UTF-8 (TF)
    rep = "" if errors == "ignore" else "\ufffd" if 0xD800 <= rc < 0xE000 and \
        out_codec == "utf-8" else chr(rc)
    a = _strings(input, "unicode_transcode")

    def one(b):
        text = decode(b)
        if errors == "strict" and _BAD in text:
            raise InvalidArgumentError(f"[{op}] invalid {input_encoding} in {b!r} (shape "
                                       f"{a.shape})")
        text = text.replace(_BAD, rep)
        if replace_control_characters:
            text = re.sub("[\x00-\x1f]", rep, text)
        return text.encode(out_codec, "surrogatepass")
    return _map(one, a)


_SCRIPT_STARTS = _SCRIPT_CODES = None


def unicode_script(input, name=None):  # noqa: A002
    """The ICU script code (UScriptCode, int32) of each code point: 25 Latin, 0 Common, 17 Han,
    18 Hangul, 8 Cyrillic, ...; 103 for unassigned code points and -1 for values outside
    0..U+10FFFF, as TF. The table (nabi/_unicode_scripts.py) covers every code point, at
    Unicode 13.0 as TF 2.21's ICU. A RaggedTensor keeps its rows."""
    global _SCRIPT_STARTS, _SCRIPT_CODES
    op = "strings.unicode_script"
    if isinstance(input, RaggedTensor):
        return input.with_flat_values(unicode_script(input.flat_values))
    if _SCRIPT_STARTS is None:
        from ._unicode_scripts import _RUNS
        _SCRIPT_STARTS = np.array(_RUNS[0::2], np.int64)
        _SCRIPT_CODES = np.array(_RUNS[1::2], np.int32)
    if isinstance(input, Tensor):
        if input.dtype != _dt.int32:
            raise TypeError(f"[{op}] input must be int32 code points, got {input.dtype.name} "
                            f"(shape {tuple(input.shape.as_list())})")
        c = np.asarray(input.numpy(), np.int64)
    else:   # Python / NumPy numbers are converted to int32, as TF converts them
        c = np.asarray(_unnest(input))
        if c.dtype.kind not in "biuf":
            raise TypeError(f"[{op}] input must be int32 code points, got {c.dtype} (shape "
                            f"{c.shape})")
        c = c.astype(np.int64)
    codes = _SCRIPT_CODES[np.searchsorted(_SCRIPT_STARTS, np.clip(c, 0, 0x10FFFF),
                                          side="right") - 1]
    return convert_to_tensor(np.where((c < 0) | (c > 0x10FFFF), np.int32(-1), codes))


# ------------------------------------------------------------------------------- substr


def substr(input, pos, len, unit="BYTE", name=None):  # noqa: A002
    """The substring of `len` units from `pos` (negative counts from the end) of each string;
    pos and len broadcast against the input. A pos beyond the string is an error, as in TF;
    a len that runs past the end stops at it."""
    import builtins
    if unit not in ("BYTE", "UTF8_CHAR"):
        raise ValueError(f"[strings.substr] unit must be 'BYTE' or 'UTF8_CHAR', got {unit!r}")
    a = _strings(input, "substr")
    p = np.asarray(pos.numpy() if isinstance(pos, Tensor) else pos)
    n = np.asarray(len.numpy() if isinstance(len, Tensor) else len)
    if p.dtype.kind not in "iu" or n.dtype.kind not in "iu":
        raise TypeError(f"[strings.substr] pos and len must be integers, got {p.dtype} and "
                        f"{n.dtype}")
    try:
        a_b, p_b, n_b = np.broadcast_arrays(a, p, n)
    except ValueError:
        raise ValueError(f"[strings.substr] pos (shape {p.shape}) and len (shape {n.shape}) "
                         f"must broadcast against the input's shape {a.shape}") from None
    out = np.empty(a_b.size, dtype=object)
    for k, (b, i, m) in enumerate(zip(a_b.reshape(-1).tolist(), p_b.reshape(-1).tolist(),
                                      n_b.reshape(-1).tolist())):
        s = _decode(b) if unit == "UTF8_CHAR" else b
        size = builtins.len(s)
        if not -size <= i <= size:
            raise ValueError(f"[strings.substr] pos {i} is out of range for the string {b!r} "
                             f"of length {size} ({unit})")
        if m < 0:
            raise ValueError(f"[strings.substr] len must be non-negative, got {m}")
        i = i + size if i < 0 else i
        piece = s[i:i + m]
        out[k] = _encode(piece) if unit == "UTF8_CHAR" else piece
    return _wrap(out.reshape(a_b.shape))


# ------------------------------------------------------------------------------- numbers


_INT_RE = re.compile(rb"\s*[+-]?[0-9]+\s*")
_FLOAT_RE = re.compile(rb"\s*[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|"
                       rb"inf|infinity|nan)\s*", re.IGNORECASE)
# C's strtod forms TF also reads: hexadecimal floats ('0x1.8p3') and 'nan(chars)'
_HEX_FLOAT_RE = re.compile(rb"\s*[+-]?0x(?:[0-9a-f]+\.?[0-9a-f]*|\.[0-9a-f]+)(?:p[+-]?[0-9]+)?\s*",
                           re.IGNORECASE)
_NAN_CHARS_RE = re.compile(rb"\s*([+-]?)nan\([0-9a-z_]*\)\s*", re.IGNORECASE)


def _parse_float(b):
    """The float in b (Python float) or None, for the strings TF's to_number accepts."""
    if _FLOAT_RE.fullmatch(b):
        return float(b)
    if _HEX_FLOAT_RE.fullmatch(b):
        return float.fromhex(b.decode("ascii"))
    m = _NAN_CHARS_RE.fullmatch(b)
    return float(m.group(1) + b"nan") if m else None


def to_number(string_tensor, out_type=_dt.float32, name=None):
    """Parses each string as a number of `out_type` (float32, float64, int32 or int64); a
    string that is not one raises ValueError naming it, as TF's op fails."""
    dt = _dt.as_dtype(out_type)
    if dt not in (_dt.float32, _dt.float64, _dt.int32, _dt.int64):
        raise TypeError(f"[strings.to_number] out_type must be float32, float64, int32 or "
                        f"int64, got {dt.name}")
    a = _strings(string_tensor, "to_number", "string_tensor")
    vals = []
    for b in a.reshape(-1).tolist():
        if dt.is_integer:
            ok = _INT_RE.fullmatch(b) is not None
            if ok:
                v = int(b)
                info = np.iinfo(dt._np)
                ok = info.min <= v <= info.max
        else:
            v = _parse_float(b)
            ok = v is not None
        if not ok:
            raise ValueError(f"[strings.to_number] StringToNumberOp could not correctly "
                             f"convert string: {b!r} to {dt.name}")
        vals.append(v)
    return _numeric(vals, a.shape, dt._np)


def _numbers(x, op):
    if isinstance(x, Tensor):
        return x.numpy()
    a = np.asarray(x)
    if a.dtype == np.float64 and not isinstance(x, np.ndarray):
        a = a.astype(np.float32)   # Python floats are float32 tensors in TF
    return a


def as_string(input, precision=-1, scientific=False, shortest=False, width=-1,  # noqa: A002
              fill="", name=None):
    """Formats numbers (and bools) as strings like TF's printf-based op: floats '%f' (6
    decimals) unless precision / scientific ('%e') / shortest ('%g') say otherwise, integers
    '%d', complex numbers '(re,im)' with the float format for each part; width pads on the
    left with spaces, `fill` is one printf flag (' ', '0', '-', '+' or '#'; '0' leaves inf and
    nan space-padded as printf does). Bools ('true'/'false') ignore width; strings pass
    through, padded to width with spaces."""
    a = _numbers(input, "as_string")
    kind = a.dtype.kind
    if kind in "SUO":
        a = _strings(input, "as_string")
    elif kind not in "biufc":
        raise TypeError(f"[strings.as_string] input must be numbers, bools or strings, got "
                        f"dtype {_dtype_name(a)} and shape {a.shape}")
    if scientific and shortest:
        raise ValueError("[strings.as_string] cannot select both scientific and shortest")
    if fill and (_builtin_len(fill) > 1 or fill not in " 0-+#"):
        raise ValueError(f"[strings.as_string] fill must be one of ' ', '0', '-', '+', '#' "
                         f"(a printf flag) or '', got {fill!r}")
    if kind not in "fc" and (precision > -1 or scientific or shortest):
        raise ValueError("[strings.as_string] precision, scientific and shortest apply only "
                         f"to floats, got dtype {_dtype_name(a)}")
    w = str(width) if width > -1 else ""
    flat = a.reshape(-1).tolist()
    if kind in "fc":
        tail = w + (f".{precision}" if precision > -1 else "") + \
            ("e" if scientific else "g" if shortest else "f")
        spec, nonfinite = "%" + (fill or "") + tail, "%" + (fill or "").replace("0", "") + tail

        def fmt(v):
            return (spec if np.isfinite(v) else nonfinite) % v
        if kind == "c":
            vals = ["(%s,%s)" % (fmt(v.real), fmt(v.imag)) for v in flat]
        else:
            vals = [fmt(v) for v in flat]
        vals = [v.encode("ascii") for v in vals]
    elif kind in "iu":
        vals = [(("%" + (fill or "") + w + "d") % v).encode("ascii") for v in flat]
    elif kind == "b":
        vals = [b"true" if v else b"false" for v in flat]
    else:
        vals = [(b"%" + w.encode() + b"s") % v for v in flat]
    out = np.empty(a.size, dtype=object)
    out[:] = vals
    return _wrap(out.reshape(a.shape))


def _builtin_len(x):
    import builtins
    return builtins.len(x)


def _format_element(v, kind, np_dtype):
    if kind == "O":
        s = v.decode("utf-8", "backslashreplace") if isinstance(v, bytes) else str(v)
        return '"' + s + '"'
    if kind == "b":
        return "1" if v else "0"        # TF's summary prints bools as 1 / 0
    if kind == "c":
        return "?"                      # and complex numbers as '?'
    if kind == "f":
        digits = (6, 9) if np_dtype == np.float32 else (15, 17) if np_dtype == np.float64 \
            else (3, 5)
        s = "%.*g" % (digits[0], v)
        if np.isfinite(v) and np_dtype.type(float(s)) != np_dtype.type(v):
            s = "%.*g" % (digits[1], v)
        return {"inf": "inf", "-inf": "-inf", "nan": "nan"}.get(s, s)
    return str(v)


def _format_tensor(a, summarize):
    """TF's print_v2 summary of a tensor: '[1 2 3]', blocks of rank r separated by r - 1
    newlines and indented, '...' past `summarize` entries at each end of a dimension
    (summarize=-1 shows every entry)."""
    kind, dtype, nd = a.dtype.kind, a.dtype, a.ndim
    if nd == 0:
        return _format_element(a.item(), kind, dtype)

    def dim(sub, depth):
        n = sub.shape[0]
        idx = list(range(n))
        if 0 <= summarize and n > 2 * summarize:
            idx = list(range(summarize)) + [None] + list(range(n - summarize, n))
        sep = " " if depth == nd - 1 else "\n" * (nd - depth - 1) + " " * (depth + 1)
        parts = ["..." if i is None else
                 _format_element(sub[i], kind, dtype) if depth == nd - 1 else
                 dim(sub[i], depth + 1) for i in idx]
        return "[" + sep.join(parts) + "]"
    return dim(a, 0)


def format(template, inputs, placeholder="{}", summarize=3, name=None):  # noqa: A001
    """Fills each `placeholder` in `template` with the next input, printed as tf.print does
    (strings quoted, floats in their shortest round-trip form, at most `summarize` entries
    at each end of a dimension)."""
    if not isinstance(template, str):
        template = _decode(_string_scalar(template, "format", "template"))
    if not isinstance(inputs, (list, tuple)):
        inputs = [inputs]
    pieces = template.split(placeholder)
    if _builtin_len(pieces) - 1 != _builtin_len(inputs):
        raise ValueError(f"[strings.format] the template has {_builtin_len(pieces) - 1} "
                         f"placeholder(s) {placeholder!r} but {_builtin_len(inputs)} input(s) "
                         "were given")
    out = [pieces[0]]
    for x, rest in zip(inputs, pieces[1:]):
        if isinstance(x, Tensor) and x.dtype == _dt.string:
            a = _strings(x, "format")
        elif isinstance(x, (str, bytes)):
            a = _strings(x, "format")
        else:
            a = _numbers(x, "format")
            if a.dtype.kind in "US":
                a = _strings(a, "format")
        out.append(_format_tensor(a, int(summarize)))
        out.append(rest)
    return _wrap(np.array("".join(out).encode("utf-8"), dtype=object))


# ------------------------------------------------------------------------------- hashing


def _num_buckets(op, num_buckets):
    if isinstance(num_buckets, Tensor):
        num_buckets = num_buckets.numpy().item()
    if isinstance(num_buckets, bool) or not isinstance(num_buckets, (int, np.integer)) or \
            num_buckets < 1:
        raise ValueError(f"[strings.{op}] num_buckets must be an integer >= 1, got "
                         f"{num_buckets!r}")
    return int(num_buckets)


def _hash_buckets(op, input, num_buckets, hash_fn):  # noqa: A002
    n = _num_buckets(op, num_buckets)
    a = _strings(input, op)
    cache = {}
    out = np.empty(a.size, np.int64)
    for i, b in enumerate(a.reshape(-1).tolist()):
        h = cache.get(b)
        if h is None:
            h = cache[b] = hash_fn(b) % n
        out[i] = h
    return _numeric(out, a.shape, np.int64)


def to_hash_bucket_fast(input, num_buckets, name=None):  # noqa: A002
    """FarmHash Fingerprint64 of each string mod num_buckets (int64), bit for bit as TF:
    `to_hash_bucket_fast(["Hello", "TensorFlow", "2.x"], 3)` is [0, 2, 2]."""
    from .ops.farmhash import fingerprint64
    return _hash_buckets("to_hash_bucket_fast", input, num_buckets, fingerprint64)


def to_hash_bucket(input, num_buckets, name=None):  # noqa: A002
    """TF's legacy bucketing (its MurmurHash64A-style `Hash64`, seed 0xDECAFCAFFE) mod
    num_buckets, as TF computes it: `to_hash_bucket(["Hello", "TensorFlow", "2.x"], 3)` is
    [2, 0, 1]. TF recommends to_hash_bucket_fast or to_hash_bucket_strong instead."""
    from .ops.farmhash import tf_hash64
    return _hash_buckets("to_hash_bucket", input, num_buckets, tf_hash64)


def to_hash_bucket_strong(input, num_buckets, key, name=None):  # noqa: A002
    """SipHash-2-4 keyed by `key` (two uint64 words) of each string mod num_buckets, as TF:
    `to_hash_bucket_strong(["Hello", "TF"], 3, [1, 2])` is [2, 0]."""
    from .ops.farmhash import siphash24
    if isinstance(key, Tensor):
        key = key.numpy().tolist()
    if not isinstance(key, (list, tuple, np.ndarray)) or len(key) != 2 or \
            not all(isinstance(k, (int, np.integer)) for k in key):
        raise ValueError(f"[strings.to_hash_bucket_strong] key must be a list of 2 integers, "
                         f"got {key!r}")
    k0, k1 = (int(k) for k in key)
    return _hash_buckets("to_hash_bucket_strong", input, num_buckets,
                         lambda b: siphash24(b, k0, k1))


# ------------------------------------------------------------------------------- ngrams


def _ngrams_of_row(tokens, widths, sep, lpad, rpad, pad_width, preserve_short):
    """TF's StringNGrams on one row of tokens (bytes). pad_width < 0: width - 1 per width."""
    out = []

    def make(width, pw):
        pw = min(pw, width - 1)
        n = max(0, len(tokens) + 2 * pw - width + 1)
        grams = []
        for k in range(n):
            left = max(0, pw - k)
            right = max(0, pw - (n - 1 - k))
            start = 0 if left else k - pw
            parts = [lpad] * left + tokens[start:start + width - left - right] + [rpad] * right
            grams.append(sep.join(parts))
        return grams

    for w in widths:
        out.extend(make(w, w - 1 if pad_width < 0 else pad_width))
    if preserve_short and not out and tokens:
        # too short for every width: the whole (padded) sequence is the one ngram
        pw = max(pad_width, 0)
        out.append(sep.join([lpad] * pw + tokens + [rpad] * pw))
    return out


def ngrams(data, ngram_width, separator=" ", pad_values=None, padding_width=None,
           preserve_short_sequences=False, name=None):
    """The ngrams of each row of string tokens (the last axis), joined with `separator`, for
    every width in `ngram_width` (an int or a list), as TF's tf.strings.ngrams:

    * pad_values None: no padding; a string, or a (left, right) pair: each row is padded with
      `padding_width` pads on each side (default ngram_width - 1; never more than
      width - 1);
    * preserve_short_sequences: a row too short for any ngram gives one ngram of its
      (padded) tokens instead of none.

    A 1-D input gives a 1-D Tensor; a dense N-D input a dense tensor of shape
    data.shape[:-1] + [num_ngrams]; a RaggedTensor a RaggedTensor with the same rows.
    """
    op = "strings.ngrams"
    if pad_values is None:
        lpad = rpad = b""
    elif isinstance(pad_values, (list, tuple)):
        if len(pad_values) != 2 or not all(isinstance(p, (str, bytes)) for p in pad_values):
            raise TypeError(f"[{op}] pad_values must be a string, tuple of strings, or None; "
                            f"got {pad_values!r}")
        lpad, rpad = pad_values
    elif isinstance(pad_values, (str, bytes)):
        lpad = rpad = pad_values
    else:
        raise TypeError(f"[{op}] pad_values must be a string, tuple of strings, or None; got "
                        f"{pad_values!r}")
    lpad = lpad.encode("utf-8") if isinstance(lpad, str) else lpad
    rpad = rpad.encode("utf-8") if isinstance(rpad, str) else rpad
    if padding_width is not None and padding_width < 1:
        raise ValueError(f"[{op}] padding_width must be greater than 0, got {padding_width}")
    if padding_width is not None and pad_values is None:
        raise ValueError(f"[{op}] pad_values must be provided if padding_width is set "
                         f"(padding_width={padding_width})")
    widths = list(ngram_width) if isinstance(ngram_width, (list, tuple)) else [ngram_width]
    for w in widths:
        if isinstance(w, bool) or not isinstance(w, (int, np.integer)) or w < 1:
            raise ValueError(f"[{op}] All ngram_widths must be greater than 0. Got "
                             f"{ngram_width!r}")
    widths = [int(w) for w in widths]
    sep = separator.encode("utf-8") if isinstance(separator, str) else \
        _string_scalar(separator, "ngrams", "separator")
    pw = 0 if pad_values is None else (-1 if padding_width is None else int(padding_width))

    def run(row):
        return _ngrams_of_row(list(row), widths, sep, lpad, rpad, pw, preserve_short_sequences)

    def obj(vals):
        r = np.empty(len(vals), dtype=object)
        r[:] = vals
        return r

    if isinstance(data, RaggedTensor):
        if data.dtype != _dt.string:
            raise TypeError(f"[{op}] data must hold strings, got a RaggedTensor of "
                            f"{data.dtype.name}")
        if data.ragged_rank > 1:         # ngrams of the innermost rows
            return data.with_values(ngrams(data.values, ngram_width, separator, pad_values,
                                           padding_width, preserve_short_sequences))
        rows = [obj(run(r.tolist())) for r in data._rows]
        return RaggedTensor(rows, data._outer_shape, _dt.string)
    if isinstance(data, (list, tuple)) and len(data) == 0:
        data = np.zeros(0, object)                       # [] is an empty row of strings
    a = _strings(data, "ngrams", "data")
    if a.ndim == 0:
        raise ValueError(f"[{op}] data must have rank > 0, got a scalar {a.item()!r}")
    if a.ndim == 1:
        return _wrap(obj(run(a.tolist())))
    lead = int(np.prod(a.shape[:-1], dtype=np.int64))
    rows = [run(r) for r in a.reshape(lead, a.shape[-1]).tolist()]
    width = len(rows[0]) if rows else 0
    out = np.empty((len(rows), width), dtype=object)
    for i, r in enumerate(rows):
        out[i, :] = r
    return _wrap(out.reshape(a.shape[:-1] + (width,)))


# ---------------------------------------------------------------------------- RaggedTensor inputs
# TF dispatches the string ops on RaggedTensors: elementwise ops run on the flat values and
# keep the row partition; the splitting ops add one ragged dimension under it.


def _ragged_args(name, args, kwargs):
    rts = [a for a in list(args) + list(kwargs.values()) if isinstance(a, RaggedTensor)]
    for r in rts[1:]:
        if not r._same_partition(rts[0]):
            raise ValueError(f"[strings.{name}] the RaggedTensor arguments have different row "
                             f"lengths: {rts[0].to_list()!r} vs {r.to_list()!r}")
    return rts


def _ragged_elementwise(fn):
    import functools
    from .ragged import map_flat_values

    @functools.wraps(fn)
    def op(*args, **kwargs):
        if not _ragged_args(fn.__name__, args, kwargs):
            return fn(*args, **kwargs)
        return map_flat_values(fn, *args, **kwargs)
    return op


def _ragged_splitting(fn):
    import functools

    @functools.wraps(fn)
    def op(input, *args, **kwargs):  # noqa: A002
        if not isinstance(input, RaggedTensor):
            return fn(input, *args, **kwargs)
        sub = fn(input.flat_values, *args, **kwargs)
        return RaggedTensor.from_nested_row_splits(
            sub.flat_values, list(input.nested_row_splits) + list(sub.nested_row_splits))
    return op


def _join_ragged(fn):
    import functools
    from .ragged import map_flat_values

    @functools.wraps(fn)
    def op(inputs, separator="", name=None):
        items = list(inputs) if isinstance(inputs, (list, tuple)) else inputs
        if not isinstance(items, list) or not _ragged_args("join", items, {}):
            return fn(inputs, separator, name)
        return map_flat_values(lambda *xs: fn(list(xs), separator), *items)
    return op


for _name in ("lower", "upper", "strip", "length", "regex_replace", "regex_full_match",
              "substr", "to_number", "as_string", "to_hash_bucket_fast", "to_hash_bucket",
              "to_hash_bucket_strong"):
    globals()[_name] = _ragged_elementwise(globals()[_name])
for _name in ("split", "bytes_split", "unicode_split", "unicode_decode"):
    globals()[_name] = _ragged_splitting(globals()[_name])
join = _join_ragged(join)
del _name
