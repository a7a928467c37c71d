"""`tf.summary` (TF1): `FileWriter`, `scalar`, `histogram`, `merge`, `merge_all`.

Event files are written with the `tensorboardX` package; without it these raise an ImportError
that names it (`pip install tensorboardX`). Summary ops evaluate to serialized `Summary`
protocol buffers (bytes), as in TF1.
"""
import numpy as np

from ...framework.tensor import convert_to_tensor
from .graph import GraphKeys, apply_op, get_default_graph


def _tbx():
    try:
        import tensorboardX  # noqa: F401
        from tensorboardX import summary as s
        return s
    except ImportError:
        raise ImportError("nabi.compat.v1.summary needs the `tensorboardX` package to write "
                          "TensorBoard event files: pip install tensorboardX") from None


def _bytes_tensor(b):
    return convert_to_tensor(np.array(b, dtype=object))


def scalar(name, tensor, collections=None, family=None):
    s = _tbx()
    op = apply_op("ScalarSummary",
                  lambda v: _bytes_tensor(s.scalar(name, float(v.numpy())).SerializeToString()),
                  (tensor,), name=name)
    for c in (collections or [GraphKeys.SUMMARIES]):
        get_default_graph().add_to_collection(c, op)
    return op


_TF_BINS = None


def _tf_bins():
    """TensorFlow's default histogram bucket edges (+-1e-12 * 1.1**k up to 1e20, and 0)."""
    global _TF_BINS
    if _TF_BINS is None:
        v, pos = 1e-12, []
        while v < 1e20:
            pos.append(v)
            v *= 1.1
        _TF_BINS = [-b for b in reversed(pos)] + [0.0] + pos
    return _TF_BINS


def histogram(name, values, collections=None, family=None):
    s = _tbx()
    op = apply_op("HistogramSummary",
                  lambda v: _bytes_tensor(s.histogram(name, np.asarray(v.numpy(), np.float64),
                                                      _tf_bins()).SerializeToString()),
                  (values,), name=name)
    for c in (collections or [GraphKeys.SUMMARIES]):
        get_default_graph().add_to_collection(c, op)
    return op


def merge(inputs, collections=None, name=None):
    _tbx()
    # concatenated serialized Summary messages parse as one Summary (repeated `value` field)
    return apply_op("MergeSummary",
                    lambda *vs: _bytes_tensor(b"".join(bytes(v._data[()]) for v in vs)),
                    tuple(inputs), name=name or "Merge/MergeSummary")


def merge_all(key=GraphKeys.SUMMARIES, scope=None, name=None):
    items = get_default_graph().get_collection(key, scope)
    if not items:
        return None
    return merge(items, name=name)


class FileWriter:
    def __init__(self, logdir, graph=None, max_queue=10, flush_secs=120, filename_suffix=None,
                 session=None):
        _tbx()
        from tensorboardX import SummaryWriter
        self._w = SummaryWriter(logdir, max_queue=max_queue, flush_secs=flush_secs,
                                filename_suffix=filename_suffix or "")
        self.logdir = logdir

    def get_logdir(self):
        return self.logdir

    def add_summary(self, summary, global_step=None):
        from tensorboardX.proto.summary_pb2 import Summary
        if isinstance(summary, (bytes, np.bytes_)):
            summary = Summary.FromString(bytes(summary))
        self._w.file_writer.add_summary(summary, global_step)

    def add_graph(self, graph, global_step=None):
        pass

    def flush(self):
        self._w.flush()

    def close(self):
        self._w.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


FileWriterCache = None
