"""`tf.distribute` on one device: the strategies notebooks open with.

    strategy = tf.distribute.MirroredStrategy()
    print("replicas:", strategy.num_replicas_in_sync)    # 1
    with strategy.scope():
        model = make_model(); model.compile(...)
    model.fit(...)

nabi trains on one device (the GPU when one is available, else the CPU), so every strategy
here has exactly one replica: `scope()` places what is created inside it on the strategy's
device, `run(fn, args)` calls `fn(*args)` there, `reduce` of a single replica's value is the
value itself (reduced over `axis` when one is given, as TF does), and distributing a dataset
returns it unchanged. Asking for several devices, or a TPU, raises a clear error instead of
silently training on one. Kaggle's TPU probe (`TPUClusterResolver()` inside
`try/except ValueError`) falls back to the default strategy, as on a machine without a TPU.
"""
import contextlib
import enum

__all__ = ["Strategy", "MirroredStrategy", "OneDeviceStrategy", "get_strategy",
           "has_strategy", "in_cross_replica_context", "get_replica_context", "ReduceOp",
           "InputContext", "TPUStrategy", "MultiWorkerMirroredStrategy",
           "experimental_set_strategy", "cluster_resolver", "experimental"]


class ReduceOp(enum.Enum):
    SUM = "SUM"
    MEAN = "MEAN"


class InputContext:
    """What `distribute_datasets_from_function`'s function is told: one pipeline, one replica."""
    num_input_pipelines = 1
    input_pipeline_id = 0
    num_replicas_in_sync = 1

    def get_per_replica_batch_size(self, global_batch_size):
        return int(global_batch_size)


class ReplicaContext:
    def __init__(self, strategy):
        self.strategy = strategy
        self.num_replicas_in_sync = 1
        self.replica_id_in_sync_group = 0

    def all_reduce(self, reduce_op, value):
        return value

    def merge_call(self, merge_fn, args=(), kwargs=None):
        return merge_fn(self.strategy, *args, **(kwargs or {}))


_stack = []


class Strategy:
    """One replica on one device (`device` None: the GPU when available, else the CPU)."""

    def __init__(self, device=None):
        from .framework import device as _dev
        self._kind = _dev.parse_device(device) if device is not None else None
        if self._kind == "cuda":
            _dev.require_gpu(type(self).__name__, device)
        self.extended = self
        self.cluster_resolver = None

    @property
    def num_replicas_in_sync(self):
        return 1

    @property
    def worker_devices(self):
        from .framework import device as _dev
        kind = self._kind or _dev.current_device()
        return ("/job:localhost/replica:0/task:0/device:" + ("GPU:0" if kind == "cuda"
                                                              else "CPU:0"),)

    @contextlib.contextmanager
    def scope(self):
        from .framework import device as _dev
        _stack.append(self)
        if self._kind is not None:
            _dev.push_device(self._kind)
        try:
            yield self
        finally:
            if self._kind is not None:
                _dev.pop_device()
            _stack.pop()

    def run(self, fn, args=(), kwargs=None, options=None):
        with self.scope():
            return fn(*args, **(kwargs or {}))

    def reduce(self, reduce_op, value, axis=None):
        op = reduce_op.value if isinstance(reduce_op, ReduceOp) else str(reduce_op).upper()
        if op not in ("SUM", "MEAN"):
            raise ValueError(f"[{type(self).__name__}.reduce] reduce_op must be SUM or MEAN, "
                             f"got {reduce_op!r}")
        if axis is None:
            return value
        from .ops import math_ops
        fn = math_ops.reduce_sum if op == "SUM" else math_ops.reduce_mean
        return fn(value, axis=axis)

    def experimental_distribute_dataset(self, dataset, options=None):
        return dataset

    def distribute_datasets_from_function(self, dataset_fn, options=None):
        return dataset_fn(InputContext())

    experimental_distribute_datasets_from_function = distribute_datasets_from_function

    def experimental_local_results(self, value):
        return (value,)

    def gather(self, value, axis):
        return value

    def __repr__(self):
        return f"<nabi.distribute.{type(self).__name__}: {self.worker_devices[0]}>"


def _single_device(cls_name, devices):
    if devices is None:
        return None
    devs = [devices] if isinstance(devices, str) else list(devices)
    if len(devs) > 1:
        raise ValueError(f"[{cls_name}] nabi trains on one device; got devices {devs}. "
                         "Pass one device, or none to use the GPU when available.")
    return devs[0] if devs else None


class MirroredStrategy(Strategy):
    """Data parallelism over the local GPUs; nabi uses one device (the GPU if available)."""

    def __init__(self, devices=None, cross_device_ops=None):
        super().__init__(_single_device("MirroredStrategy", devices))


class OneDeviceStrategy(Strategy):
    def __init__(self, device):
        super().__init__(device)


class _Unsupported(Strategy):
    def __init__(self, *args, **kwargs):
        raise NotImplementedError(f"[{type(self).__name__}] nabi trains on one device; use "
                                  "tf.distribute.get_strategy() or MirroredStrategy()")


class TPUStrategy(_Unsupported):
    pass


class MultiWorkerMirroredStrategy(_Unsupported):
    pass


class ParameterServerStrategy(_Unsupported):
    pass


_default = Strategy()


def get_strategy():
    """The strategy of the innermost `scope()`, else the default one-device strategy."""
    return _stack[-1] if _stack else _default


def has_strategy():
    return bool(_stack)


def in_cross_replica_context():
    return True


def get_replica_context():
    return ReplicaContext(get_strategy())


def experimental_set_strategy(strategy):
    _stack.clear()
    if strategy is not None:
        _stack.append(strategy)


class cluster_resolver:  # noqa: N801  (TF's namespace)
    class TPUClusterResolver:
        def __init__(self, tpu=None, *args, **kwargs):
            raise ValueError("Please provide a TPU Name to connect to. (nabi: there is no TPU; "
                             "use tf.distribute.get_strategy())")


class experimental:  # noqa: N801
    TPUStrategy = TPUStrategy
    MultiWorkerMirroredStrategy = MultiWorkerMirroredStrategy
    ParameterServerStrategy = ParameterServerStrategy
    CentralStorageStrategy = MirroredStrategy
