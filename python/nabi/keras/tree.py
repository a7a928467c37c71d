"""`keras.tree` (Keras 3): nested-structure utilities on top of `nabi.nest`.

Lists, tuples, namedtuples and mappings are nodes (mappings in sorted key order); everything
else, None included, is a leaf -- Keras 3's rules, which are `tf.nest`'s."""
import collections.abc as _abc

from .. import nest as _nest

__all__ = ["MAP_TO_NONE", "assert_same_paths", "assert_same_structure", "flatten",
           "flatten_with_path", "is_nested", "lists_to_tuples", "map_shape_structure",
           "map_structure", "map_structure_up_to", "pack_sequence_as", "traverse"]


class MAP_TO_NONE:
    """Returned by a `traverse` function to put None in place of the subtree (returning None
    itself means "keep going")."""


is_nested = _nest.is_nested


def flatten(structure):
    """The leaves, depth first (mapping values in sorted key order)."""
    return _nest.flatten(structure)


def pack_sequence_as(structure, flat_sequence, sequence_fn=None):
    """The leaves of `flat_sequence` packed into `structure`'s nesting."""
    return _nest.pack_sequence_as(structure, flat_sequence)


def assert_same_structure(a, b, check_types=None):
    """Raises ValueError unless a and b nest the same way (same node types and sizes; a dict
    and another mapping count as the same type)."""
    try:
        _nest.assert_same_structure(a, b, check_types=True)
    except TypeError as e:   # Keras 3 reports a type mismatch as a ValueError too
        raise ValueError(str(e)) from None


def map_structure(func, *structures, none_is_leaf=True):
    """func applied leaf by leaf to structures of the same nesting; the result has it too.
    none_is_leaf=False: a None in the first structure stays None and func does not see it."""
    if not structures:
        raise ValueError("[keras.tree.map_structure] must provide at least one structure")
    for s in structures[1:]:
        assert_same_structure(structures[0], s)
    if not none_is_leaf:
        f = func

        def func(*xs):
            return None if xs[0] is None else f(*xs)
    return _nest.map_structure(func, *structures)


def _children_with_keys(x):
    if isinstance(x, _abc.Mapping):
        keys = sorted(x)
        return keys, [x[k] for k in keys]
    return list(range(len(x))), list(x)


def _rebuild(node, children):
    return _nest._rebuild(node, children)


def flatten_with_path(structure):
    """[(path, leaf)]: a path is the tuple of indices and keys that leads to the leaf."""
    out = []

    def walk(x, path):
        if not is_nested(x):
            out.append((path, x))
            return
        keys, kids = _children_with_keys(x)
        for k, c in zip(keys, kids):
            walk(c, path + (k,))
    walk(structure, ())
    return out


def assert_same_paths(a, b):
    """Raises ValueError unless a and b have the same leaf paths (node types are ignored)."""
    pa = {p for p, _ in flatten_with_path(a)}
    pb = {p for p, _ in flatten_with_path(b)}
    if pa != pb:
        raise ValueError(f"[keras.tree.assert_same_paths] the structures differ: paths only in "
                         f"the first: {sorted(pa - pb, key=str)}; only in the second: "
                         f"{sorted(pb - pa, key=str)}")


def map_structure_up_to(shallow_structure, func, *structures):
    """func applied to the subtrees of `structures` found where `shallow_structure` has its
    leaves."""
    def walk(shallow, xs):
        if not is_nested(shallow):
            return func(*xs)
        for x in xs:
            if not is_nested(x) or len(x) != len(shallow):
                raise ValueError(f"[keras.tree.map_structure_up_to] the structure {x!r} does "
                                 f"not have the nesting of the shallow structure {shallow!r}")
        keys, sh_kids = _children_with_keys(shallow)
        kids = [[x[k] for k in keys] if isinstance(x, _abc.Mapping)
                else list(x) for x in xs]
        return _rebuild(shallow, [walk(s, [k[i] for k in kids]) for i, s in enumerate(sh_kids)])
    return walk(shallow_structure, list(structures))


def lists_to_tuples(structure):
    """The structure with every list turned into a tuple."""
    def walk(x):
        if not is_nested(x):
            return x
        _, kids = _children_with_keys(x)
        new = _rebuild(x, [walk(c) for c in kids])
        return tuple(new) if isinstance(new, list) else new
    return walk(structure)


def _is_shape_tuple(x):
    return isinstance(x, (list, tuple)) and all(
        isinstance(e, (int, type(None))) and not isinstance(e, bool) for e in x)


def map_shape_structure(func, structure):
    """map_structure where tuples (and lists) of ints and Nones are leaves: func gets shapes."""
    def walk(x):
        if _is_shape_tuple(x) or not is_nested(x):
            return func(x)
        _, kids = _children_with_keys(x)
        return _rebuild(x, [walk(c) for c in kids])
    return walk(structure)


def traverse(func, structure, top_down=True):
    """Applies func to every subtree and leaf.

    top_down: func sees a subtree before its children; None means "descend into it", any other
    value replaces it (MAP_TO_NONE: None). Bottom-up: the children are traversed first and func
    sees the rebuilt subtree; None keeps it, another value replaces it."""
    def fix(v):
        return None if v is MAP_TO_NONE or isinstance(v, MAP_TO_NONE) else v

    def down(x):
        r = func(x)
        if r is not None:
            return fix(r)
        if not is_nested(x):
            return x
        _, kids = _children_with_keys(x)
        return _rebuild(x, [down(c) for c in kids])

    def up(x):
        if is_nested(x):
            _, kids = _children_with_keys(x)
            x = _rebuild(x, [up(c) for c in kids])
        r = func(x)
        return x if r is None else fix(r)
    return down(structure) if top_down else up(structure)
