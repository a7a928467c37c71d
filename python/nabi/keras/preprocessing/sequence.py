"""`keras.preprocessing.sequence`: `pad_sequences` and `TimeseriesGenerator`."""
import numpy as np

__all__ = ["pad_sequences", "TimeseriesGenerator", "skipgrams", "make_sampling_table"]


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


def _sequence_base():
    from ..utils.data_utils import Sequence
    return Sequence


class TimeseriesGenerator(_sequence_base()):
    """Batches of windows of a time series for `fit` (Keras 2's `TimeseriesGenerator`).

    The sample ending before row r is data[r - length : r : sampling_rate] and its target is
    targets[r], for r from start_index + length to end_index (default len(data) - 1) every
    `stride` rows; batches hold batch_size such rows in order (with shuffle=True, batch_size
    rows drawn at random with replacement from that range, as Keras does). reverse=True flips
    each window in time.
    """

    def __init__(self, data, targets, length, sampling_rate=1, stride=1, start_index=0,
                 end_index=None, shuffle=False, reverse=False, batch_size=128):
        super().__init__()
        if len(data) != len(targets):
            raise ValueError("[TimeseriesGenerator] Data and targets have to be of same length. "
                             f"Data length is {len(data)} while target length is "
                             f"{len(targets)}")
        for name, v, lo in (("length", length, 1), ("sampling_rate", sampling_rate, 1),
                            ("stride", stride, 1), ("batch_size", batch_size, 1),
                            ("start_index", start_index, 0)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
                raise ValueError(f"[TimeseriesGenerator] `{name}` must be an integer >= {lo}. "
                                 f"Received: {name}={v!r}")
        self.data = data
        self.targets = targets
        self.length = int(length)
        self.sampling_rate = int(sampling_rate)
        self.stride = int(stride)
        self.start_index = int(start_index) + self.length
        self.end_index = len(data) - 1 if end_index is None else int(end_index)
        self.shuffle = bool(shuffle)
        self.reverse = bool(reverse)
        self.batch_size = int(batch_size)
        if self.start_index > self.end_index:
            raise ValueError(f"[TimeseriesGenerator] `start_index+length={self.start_index} > "
                             f"end_index={self.end_index}` is disallowed, as no part of the "
                             "sequence would be left to be used as current step.")

    def __len__(self):
        span = self.batch_size * self.stride
        return (self.end_index - self.start_index + span) // span

    def __getitem__(self, index):
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"[TimeseriesGenerator] batch index {index} out of range for "
                             f"{len(self)} batches")
        if self.shuffle:
            rows = np.random.randint(self.start_index, self.end_index + 1, size=self.batch_size)
        else:
            i = self.start_index + self.batch_size * self.stride * index
            rows = np.arange(i, min(i + self.batch_size * self.stride, self.end_index + 1),
                             self.stride)
        samples = np.array([self.data[r - self.length:r:self.sampling_rate] for r in rows])
        targets = np.array([self.targets[r] for r in rows])
        if self.reverse:
            return samples[:, ::-1, ...], targets
        return samples, targets

    def get_config(self):
        return {"length": self.length, "sampling_rate": self.sampling_rate,
                "stride": self.stride, "start_index": self.start_index - self.length,
                "end_index": self.end_index, "shuffle": self.shuffle, "reverse": self.reverse,
                "batch_size": self.batch_size}


def make_sampling_table(size, sampling_factor=1e-5):
    """Keras's word-rank sampling table: entry i is the probability of keeping the i-th most
    frequent word, min(1, sqrt(sampling_factor / f(i))) with f(i) the Zipf frequency estimate
    1 / (i * (log(i) + gamma) + 1/2 - 1/(12 i)) (Mikolov et al.; index 0 uses rank 1)."""
    gamma = 0.577
    rank = np.arange(size)
    rank[0] = 1
    inv_fq = rank * (np.log(rank) + gamma) + 0.5 - 1.0 / (12.0 * rank)
    f = sampling_factor * inv_fq
    return np.minimum(1.0, f / np.sqrt(f))


def skipgrams(sequence, vocabulary_size, window_size=4, negative_samples=1.0, shuffle=True,
              categorical=False, sampling_table=None, seed=None):
    """Keras's skip-gram pairs of a sequence of word indices (0 is skipped as padding):
    positive (word, context) pairs within `window_size`, label 1 ([0, 1] if categorical), then
    int(n_positive * negative_samples) negative pairs (a shuffled positive word with a random
    index in [1, vocabulary_size)), label 0; `sampling_table[w]` is the probability of keeping
    w as a target. Uses Python's `random`, as Keras, so values differ from TF for one seed."""
    import random
    couples, labels = [], []
    for i, wi in enumerate(sequence):
        if not wi:
            continue
        if sampling_table is not None and sampling_table[wi] < random.random():
            continue
        for j in range(max(0, i - window_size), min(len(sequence), i + window_size + 1)):
            if j != i and sequence[j]:
                couples.append([wi, sequence[j]])
                labels.append([0, 1] if categorical else 1)
    if negative_samples > 0 and couples:
        num_negative = int(len(labels) * negative_samples)
        words = [c[0] for c in couples]
        random.shuffle(words)
        couples += [[words[i % len(words)], random.randint(1, vocabulary_size - 1)]
                    for i in range(num_negative)]
        labels += [[1, 0] if categorical else 0] * num_negative
    if shuffle:
        if seed is None:
            seed = random.randint(0, int(10e6))
        random.seed(seed)
        random.shuffle(couples)
        random.seed(seed)
        random.shuffle(labels)
    return couples, labels
