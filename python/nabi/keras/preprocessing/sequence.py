"""`keras.preprocessing.sequence`: `pad_sequences`."""
import numpy as np

__all__ = ["pad_sequences"]


def pad_sequences(sequences, maxlen=None, dtype="int32", padding="pre", truncating="pre",
                  value=0.0):
    """Pads (or truncates) a list of sequences to a 2-D array of `maxlen` columns, as Keras:
    `padding`/`truncating` 'pre' (default) or 'post'; `maxlen` defaults to the longest."""
    if not hasattr(sequences, "__len__"):
        raise ValueError("[pad_sequences] `sequences` must be iterable")
    if padding not in ("pre", "post"):
        raise ValueError(f'[pad_sequences] padding type "{padding}" not understood')
    if truncating not in ("pre", "post"):
        raise ValueError(f'[pad_sequences] truncating type "{truncating}" not understood')
    num_samples = len(sequences)
    lengths = []
    sample_shape = ()
    flag = True
    for x in sequences:
        try:
            lengths.append(len(x))
            if flag and len(x):
                sample_shape = np.asarray(x).shape[1:]
                flag = False
        except TypeError as e:
            raise ValueError("[pad_sequences] `sequences` must be a list of iterables. Found "
                             f"non-iterable: {x!r}") from e
    if maxlen is None:
        maxlen = max(lengths) if lengths else 0
    is_str = np.issubdtype(np.dtype(dtype), np.str_) or np.dtype(dtype) == object
    if isinstance(value, str) and not is_str:
        raise ValueError(f"[pad_sequences] `dtype` {dtype} is not compatible with `value`'s "
                         f"type {type(value)}; use dtype=object for variable-length strings")
    x = np.full((num_samples, maxlen) + tuple(sample_shape), value, dtype=dtype)
    for idx, s in enumerate(sequences):
        if not len(s) or maxlen == 0:
            continue
        trunc = s[-maxlen:] if truncating == "pre" else s[:maxlen]
        trunc = np.asarray(trunc, dtype=dtype)
        if trunc.shape[1:] != tuple(sample_shape):
            raise ValueError(f"[pad_sequences] shape of sample {trunc.shape[1:]} of sequence at "
                             f"position {idx} differs from the expected {sample_shape}")
        if padding == "post":
            x[idx, :len(trunc)] = trunc
        else:
            x[idx, -len(trunc):] = trunc
    return x
