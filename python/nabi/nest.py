"""`tf.nest`: flatten, rebuild and map nested structures of lists, tuples, namedtuples and
dicts (dicts in sorted key order, as TF). `None` is a leaf, as in TF 2."""
import collections.abc as _abc

__all__ = ["flatten", "pack_sequence_as", "map_structure", "is_nested", "assert_same_structure",
           "flatten_with_joined_string_paths"]


def _is_namedtuple(x):
    return isinstance(x, tuple) and hasattr(type(x), "_fields")


def is_nested(seq):
    """True for lists, tuples (namedtuples included) and mappings; tensors are leaves."""
    return isinstance(seq, (list, tuple, _abc.Mapping))


def _children(x):
    if isinstance(x, _abc.Mapping):
        return [x[k] for k in sorted(x)]
    return list(x)


def flatten(structure, expand_composites=False):
    if not is_nested(structure):
        return [structure]
    out = []
    for c in _children(structure):
        out.extend(flatten(c))
    return out


def _rebuild(s, children):
    if isinstance(s, _abc.Mapping):
        keys = sorted(s)
        d = dict(zip(keys, children))
        try:
            return type(s)((k, d[k]) for k in s)
        except TypeError:
            return {k: d[k] for k in s}
    if _is_namedtuple(s):
        return type(s)(*children)
    if isinstance(s, tuple):
        return tuple(children)
    return list(children)


def _pack(s, it):
    if not is_nested(s):
        return next(it)
    return _rebuild(s, [_pack(c, it) for c in _children(s)])


def pack_sequence_as(structure, flat_sequence, expand_composites=False):
    flat = list(flat_sequence) if is_nested(flat_sequence) else [flat_sequence]
    n = len(flatten(structure))
    if n != len(flat):
        raise ValueError(f"[nest.pack_sequence_as] the structure has {n} leaves but "
                         f"flat_sequence has {len(flat)} elements")
    return _pack(structure, iter(flat))


def _kind(x):
    if isinstance(x, _abc.Mapping):
        return ("dict", tuple(sorted(x)))
    if _is_namedtuple(x):
        return (type(x).__name__, len(x))
    return ("seq", len(x))


def assert_same_structure(nest1, nest2, check_types=True, expand_composites=False):
    def walk(a, b, path):
        na, nb = is_nested(a), is_nested(b)
        if na != nb:
            raise ValueError(f"[nest.assert_same_structure] the structures differ at {path or 'the top'}: "
                             f"{type(a).__name__} vs {type(b).__name__}")
        if not na:
            return
        if check_types and type(a) is not type(b) and not (
                isinstance(a, _abc.Mapping) and isinstance(b, _abc.Mapping)):
            raise TypeError(f"[nest.assert_same_structure] the structures differ at "
                            f"{path or 'the top'}: {type(a).__name__} vs {type(b).__name__}")
        if _kind(a)[1:] != _kind(b)[1:] or len(a) != len(b):
            raise ValueError(f"[nest.assert_same_structure] the structures differ at "
                             f"{path or 'the top'}: {_kind(a)} vs {_kind(b)}")
        for i, (x, y) in enumerate(zip(_children(a), _children(b))):
            walk(x, y, f"{path}[{i}]")
    walk(nest1, nest2, "")


def map_structure(func, *structure, **kwargs):
    """func applied leaf by leaf to structures of the same shape; the result has the first's."""
    if not structure:
        raise ValueError("[nest.map_structure] needs at least one structure")
    check_types = kwargs.pop("check_types", True)
    kwargs.pop("expand_composites", None)
    if kwargs:
        raise ValueError(f"[nest.map_structure] unknown keyword arguments {sorted(kwargs)}")
    for s in structure[1:]:
        assert_same_structure(structure[0], s, check_types=check_types)
    flats = [flatten(s) for s in structure]
    return pack_sequence_as(structure[0], [func(*xs) for xs in zip(*flats)])


def flatten_with_joined_string_paths(structure, separator="/", expand_composites=False):
    out = []

    def walk(x, path):
        if not is_nested(x):
            out.append((separator.join(path), x))
            return
        keys = sorted(x) if isinstance(x, _abc.Mapping) else range(len(x))
        for k in keys:
            walk(x[k], path + [str(k)])
    walk(structure, [])
    return out
