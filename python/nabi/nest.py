"""`tf.nest`: flatten, rebuild and map nested structures of lists, tuples, namedtuples and
dicts (dicts in sorted key order, as TF). `None` is a leaf, as in TF 2. With
expand_composites=True a SparseTensor, RaggedTensor or IndexedSlices is a node whose children
are its component tensors, in TF's order: (indices, values, dense_shape), (flat_values,
*nested_row_splits), (values, indices[, dense_shape])."""
import collections.abc as _abc

__all__ = ["flatten", "pack_sequence_as", "map_structure", "is_nested", "assert_same_structure",
           "flatten_with_joined_string_paths"]


def _is_namedtuple(x):
    return isinstance(x, tuple) and hasattr(type(x), "_fields")


def is_nested(seq):
    """True for lists, tuples (namedtuples included) and mappings; tensors are leaves."""
    return isinstance(seq, (list, tuple, _abc.Mapping))


def _components(x):
    """A composite tensor's component tensors (TF's order), or None for anything else."""
    kind = type(x).__name__
    if getattr(type(x), "_is_ragged_tensor", False):
        return [x.flat_values] + list(x.nested_row_splits)
    if kind == "SparseTensor" and hasattr(x, "dense_shape"):
        return [x.indices, x.values, x.dense_shape]
    if kind == "IndexedSlices":
        return [x.values, x.indices] + ([] if x.dense_shape is None else [x.dense_shape])
    return None


def _from_components(like, comps):
    if getattr(type(like), "_is_ragged_tensor", False):
        return type(like).from_nested_row_splits(comps[0], comps[1:])
    if type(like).__name__ == "SparseTensor":
        return type(like)(comps[0], comps[1], comps[2])
    return type(like)(comps[0], comps[1], comps[2] if len(comps) > 2 else None)


def _nested(x, expand):
    return is_nested(x) or (expand and _components(x) is not None)


def _children(x, expand=False):
    if isinstance(x, _abc.Mapping):
        return [x[k] for k in sorted(x)]
    if expand and not is_nested(x):
        return _components(x)
    return list(x)


def flatten(structure, expand_composites=False):
    if not _nested(structure, expand_composites):
        return [structure]
    out = []
    for c in _children(structure, expand_composites):
        out.extend(flatten(c, expand_composites))
    return out


def _rebuild(s, children):
    if not is_nested(s):                  # an expanded composite
        return _from_components(s, children)
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


def _pack(s, it, expand=False):
    if not _nested(s, expand):
        return next(it)
    return _rebuild(s, [_pack(c, it, expand) for c in _children(s, expand)])


def pack_sequence_as(structure, flat_sequence, expand_composites=False):
    flat = list(flat_sequence) if is_nested(flat_sequence) else [flat_sequence]
    n = len(flatten(structure, expand_composites))
    if n != len(flat):
        raise ValueError(f"[nest.pack_sequence_as] the structure has {n} leaves but "
                         f"flat_sequence has {len(flat)} elements")
    return _pack(structure, iter(flat), expand_composites)


def _kind(x, expand=False):
    if isinstance(x, _abc.Mapping):
        return ("dict", tuple(sorted(x)))
    if _is_namedtuple(x):
        return (type(x).__name__, len(x))
    if expand and not is_nested(x):
        return (type(x).__name__, len(_components(x)))
    return ("seq", len(x))


def assert_same_structure(nest1, nest2, check_types=True, expand_composites=False):
    ex = expand_composites

    def walk(a, b, path):
        na, nb = _nested(a, ex), _nested(b, ex)
        if na != nb:
            raise ValueError(f"[nest.assert_same_structure] the structures differ at {path or 'the top'}: "
                             f"{type(a).__name__} vs {type(b).__name__}")
        if not na:
            return
        if check_types and type(a) is not type(b) and not (
                isinstance(a, _abc.Mapping) and isinstance(b, _abc.Mapping)):
            raise TypeError(f"[nest.assert_same_structure] the structures differ at "
                            f"{path or 'the top'}: {type(a).__name__} vs {type(b).__name__}")
        ka, kb = _kind(a, ex), _kind(b, ex)
        if (ka != kb) if not (is_nested(a) and is_nested(b)) else \
                (ka[1:] != kb[1:] or len(a) != len(b)):   # a composite: same type and parts
            raise ValueError(f"[nest.assert_same_structure] the structures differ at "
                             f"{path or 'the top'}: {_kind(a, ex)} vs {_kind(b, ex)}")
        for i, (x, y) in enumerate(zip(_children(a, ex), _children(b, ex))):
            walk(x, y, f"{path}[{i}]")
    walk(nest1, nest2, "")


def map_structure(func, *structure, **kwargs):
    """func applied leaf by leaf to structures of the same shape; the result has the first's."""
    if not structure:
        raise ValueError("[nest.map_structure] needs at least one structure")
    check_types = kwargs.pop("check_types", True)
    ex = kwargs.pop("expand_composites", False)
    if kwargs:
        raise ValueError(f"[nest.map_structure] unknown keyword arguments {sorted(kwargs)}")
    for s in structure[1:]:
        assert_same_structure(structure[0], s, check_types=check_types, expand_composites=ex)
    flats = [flatten(s, ex) for s in structure]
    return pack_sequence_as(structure[0], [func(*xs) for xs in zip(*flats)], ex)


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
