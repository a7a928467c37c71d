"""`tf.queue`: eager queues of tensor tuples (HOML ch. 12's FIFOQueue example).

    q = tf.queue.FIFOQueue(3, [tf.int32, tf.string], shapes=[[], []])
    q.enqueue([10, b"windy"]); q.enqueue([15, b"sunny"])
    q.size()            # 2
    q.dequeue()         # [10, b"windy"]
    q.enqueue_many([[13, 16], [b"cloudy", b"rainy"]])
    q.dequeue_many(3)   # [[15, 13, 16], [b"sunny", b"cloudy", b"rainy"]]

nabi runs eagerly with no other thread to wait for, so an operation that would block in TF
(enqueue on a full queue, dequeue on an empty one) raises instead of hanging: OutOfRangeError
once the queue is closed (as TF), else a ValueError saying it would block forever."""
import collections

import numpy as np

from . import dtypes as _dt
from .errors import OutOfRangeError
from .framework.device import DeviceArray
from .framework.tensor import Tensor, convert_to_tensor

__all__ = ["QueueBase", "FIFOQueue", "PaddingFIFOQueue", "RandomShuffleQueue"]


def _host(x, dtype):
    t = x if isinstance(x, Tensor) else convert_to_tensor(x, dtype=dtype)
    if t.dtype != dtype:
        raise TypeError(f"expected {dtype.name}, got {t.dtype.name} {tuple(t.shape)}")
    a = t._data
    return a.get() if type(a) is DeviceArray else np.array(a, copy=True)


class QueueBase:
    _kind = "QueueBase"

    def __init__(self, capacity, dtypes, shapes=None, names=None, shared_name=None,
                 name=None):
        if isinstance(dtypes, (list, tuple)):
            self._dtypes = [_dt.as_dtype(d) for d in dtypes]
            self._single = False
        else:
            self._dtypes = [_dt.as_dtype(dtypes)]
            self._single = True
        if shapes is not None:
            if self._single and not (isinstance(shapes, (list, tuple)) and shapes and
                                     (shapes[0] is None or hasattr(shapes[0], "__len__"))):
                shapes = [shapes]   # one dtype: shapes=[2] or shapes=[[2]], as TF accepts
            shapes = list(shapes)
            if len(shapes) != len(self._dtypes):
                raise ValueError(f"[{self._kind}] {len(shapes)} shapes for "
                                 f"{len(self._dtypes)} dtypes")
            shapes = [None if s is None else tuple(None if d is None else int(d) for d in s)
                      for s in shapes]
        self._shapes = shapes
        self._names = list(names) if names is not None else None
        self._capacity = int(capacity)
        self._items = collections.deque()
        self._closed = False
        self.name = name or self._kind.lower()

    @property
    def dtypes(self):
        return list(self._dtypes)

    @property
    def shapes(self):
        return self._shapes

    @property
    def names(self):
        return self._names

    def _components(self, vals, op):
        if self._names is not None and isinstance(vals, dict):
            vals = [vals[n] for n in self._names]
        if self._single and not (isinstance(vals, (list, tuple)) and len(vals) == 1):
            vals = [vals]
        if len(vals) != len(self._dtypes):
            raise ValueError(f"[{self._kind}.{op}] expected {len(self._dtypes)} components, got "
                             f"{len(vals)}")
        return [_host(v, d) for v, d in zip(vals, self._dtypes)]

    def _check_shape(self, comps, op, batched):
        if self._shapes is None:
            return
        for i, (c, s) in enumerate(zip(comps, self._shapes)):
            if s is None:
                continue
            got = c.shape[1:] if batched else c.shape
            if len(got) != len(s) or any(d is not None and d != g for d, g in zip(s, got)):
                raise ValueError(f"[{self._kind}.{op}] component {i} has shape "
                                 f"{tuple(got)}, expected {s}")

    def _put(self, item, op):
        if self._closed:
            raise OutOfRangeError(f"[{self._kind}.{op}] the queue is closed")
        if len(self._items) >= self._capacity:
            raise ValueError(f"[{self._kind}.{op}] the queue is full (capacity "
                             f"{self._capacity}): enqueueing would block forever in eager mode")
        self._items.append(item)

    def enqueue(self, vals, name=None):
        comps = self._components(vals, "enqueue")
        self._check_shape(comps, "enqueue", False)
        self._put(comps, "enqueue")

    def enqueue_many(self, vals, name=None):
        comps = self._components(vals, "enqueue_many")
        n = {c.shape[0] if c.ndim else None for c in comps}
        if None in n or len(n) != 1:
            raise ValueError(f"[{self._kind}.enqueue_many] every component needs the same "
                             f"leading (batch) dimension, got shapes {[c.shape for c in comps]}")
        self._check_shape(comps, "enqueue_many", True)
        n = n.pop()
        if self._closed:
            raise OutOfRangeError(f"[{self._kind}.enqueue_many] the queue is closed")
        if len(self._items) + n > self._capacity:
            raise ValueError(f"[{self._kind}.enqueue_many] {n} elements do not fit: "
                             f"{len(self._items)} of {self._capacity} used (would block "
                             "forever in eager mode)")
        for i in range(n):
            self._items.append([c[i] for c in comps])

    def _take(self):
        return self._items.popleft()

    def _out(self, comps):
        ts = [convert_to_tensor(c) if c.dtype != object else
              convert_to_tensor(c, dtype=_dt.string) for c in comps]
        if self._names is not None:
            return dict(zip(self._names, ts))
        return ts[0] if self._single else ts

    def _need(self, n, op):
        if len(self._items) < n:
            if self._closed:
                raise OutOfRangeError(f"[{self._kind}.{op}] the queue is closed and has "
                                      f"{len(self._items)} elements, {n} needed")
            raise ValueError(f"[{self._kind}.{op}] {n} elements needed but the queue holds "
                             f"{len(self._items)}: dequeueing would block forever in eager mode")

    def dequeue(self, name=None):
        self._need(1, "dequeue")
        return self._out([np.asarray(c) for c in self._take()])

    def _stack(self, items):
        return [np.stack([it[i] for it in items]) for i in range(len(self._dtypes))]

    def dequeue_many(self, n, name=None):
        n = int(n)
        self._need(n, "dequeue_many")
        return self._out(self._stack([self._take() for _ in range(n)]))

    def dequeue_up_to(self, n, name=None):
        n = min(int(n), len(self._items))
        if n == 0:
            self._need(1, "dequeue_up_to")
        return self._out(self._stack([self._take() for _ in range(n)]))

    def size(self, name=None):
        return convert_to_tensor(np.int32(len(self._items)))

    def close(self, cancel_pending_enqueues=False, name=None):
        self._closed = True

    def is_closed(self, name=None):
        return convert_to_tensor(np.bool_(self._closed))


class FIFOQueue(QueueBase):
    """First in, first out."""
    _kind = "FIFOQueue"


class PaddingFIFOQueue(QueueBase):
    """A FIFOQueue whose dequeue_many pads each component (with zeros / empty strings) to the
    largest shape in the batch; shapes may have None dimensions."""
    _kind = "PaddingFIFOQueue"

    def __init__(self, capacity, dtypes, shapes, names=None, shared_name=None, name=None):
        super().__init__(capacity, dtypes, shapes, names, shared_name, name)

    def _stack(self, items):
        out = []
        for i in range(len(self._dtypes)):
            parts = [np.asarray(it[i]) for it in items]
            shape = tuple(np.max([p.shape for p in parts], axis=0)) if parts[0].ndim else ()
            fill = b"" if parts[0].dtype == object else 0
            buf = np.full((len(parts),) + shape, fill, dtype=parts[0].dtype)
            for j, p in enumerate(parts):
                buf[(j,) + tuple(slice(0, d) for d in p.shape)] = p
            out.append(buf)
        return out


class RandomShuffleQueue(QueueBase):
    """Dequeues a random element; refuses to go below min_after_dequeue unless closed."""
    _kind = "RandomShuffleQueue"

    def __init__(self, capacity, min_after_dequeue, dtypes, shapes=None, names=None, seed=None,
                 shared_name=None, name=None):
        super().__init__(capacity, dtypes, shapes, names, shared_name, name)
        self._min_after = int(min_after_dequeue)
        self._rng = np.random.default_rng(seed)

    def _need(self, n, op):
        extra = 0 if self._closed else self._min_after
        if len(self._items) < n + extra:
            if self._closed:
                super()._need(n, op)
            raise ValueError(f"[{self._kind}.{op}] {n} elements plus min_after_dequeue="
                             f"{self._min_after} needed but the queue holds "
                             f"{len(self._items)}: dequeueing would block forever in eager mode")

    def _take(self):
        i = int(self._rng.integers(len(self._items)))
        self._items.rotate(-i)
        item = self._items.popleft()
        self._items.rotate(i)
        return item
