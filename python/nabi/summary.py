"""`nabi.summary`: TF2's summary writers for custom training loops (TensorBoard event files,
written through the `tensorboardX` package: `pip install "nabi[tensorboard]"`).

    writer = tf.summary.create_file_writer("logs/train")
    with writer.as_default():
        tf.summary.scalar("loss", loss, step=epoch)
        tf.summary.histogram("weights", w, step=epoch)
        tf.summary.image("samples", images, step=epoch, max_outputs=4)   # (k, h, w, c)

The summary functions return True when a default writer is set (and write), False otherwise,
as in TF."""
import contextlib

import numpy as np

_state = {"writer": None, "step": None}


def _host(x):
    if hasattr(x, "numpy"):
        return np.asarray(x.numpy())
    return np.asarray(x)


class SummaryWriter:
    """A writer for one log directory (`create_file_writer`)."""

    def __init__(self, logdir, max_queue=None, flush_millis=None, filename_suffix=None):
        try:
            from tensorboardX import SummaryWriter as _Writer
        except ImportError:
            raise ImportError("nabi.summary needs the `tensorboardX` package to write event "
                              "files: pip install tensorboardX (or install nabi with its "
                              "tensorboard extra)") from None
        kw = {}
        if max_queue is not None:
            kw["max_queue"] = int(max_queue)
        if flush_millis is not None:
            kw["flush_secs"] = max(1, int(flush_millis) // 1000)
        if filename_suffix is not None:
            kw["filename_suffix"] = str(filename_suffix)
        self._w = _Writer(logdir=str(logdir), **kw)
        self.logdir = str(logdir)

    @contextlib.contextmanager
    def as_default(self, step=None):
        prev, prev_step = _state["writer"], _state["step"]
        _state["writer"] = self
        if step is not None:
            _state["step"] = int(step)
        try:
            yield self
        finally:
            _state["writer"] = prev
            _state["step"] = prev_step
            self.flush()

    def set_as_default(self, step=None):
        _state["writer"] = self
        if step is not None:
            _state["step"] = int(step)

    def flush(self):
        """Writes every pending event to disk, as TF's flush does. tensorboardX queues events
        for a background thread and its flush() does not wait for that queue, so a file read
        right after flush() could lack the last events; the queue is drained first by stopping
        the thread (its stop signal queues behind every pending event) and starting a new one."""
        for fw in list(getattr(self._w, "all_writers", {}).values()):
            ev = getattr(fw, "event_writer", None)
            worker = getattr(ev, "_worker", None)
            if worker is None or getattr(ev, "_closed", True) or not hasattr(worker, "stop"):
                continue
            try:
                worker.stop()
                new = type(worker)(ev._event_queue, ev._ev_writer, ev._flush_secs)
            except (AttributeError, TypeError):   # another tensorboardX layout: plain flush
                continue
            new.start()
            ev._worker = new
        self._w.flush()

    def close(self):
        self._w.close()
        if _state["writer"] is self:
            _state["writer"] = None


class _NoopWriter:
    @contextlib.contextmanager
    def as_default(self, step=None):
        prev = _state["writer"]
        _state["writer"] = None
        try:
            yield self
        finally:
            _state["writer"] = prev

    def set_as_default(self, step=None):
        _state["writer"] = None

    def flush(self):
        pass

    def close(self):
        pass


def create_file_writer(logdir, max_queue=None, flush_millis=None, filename_suffix=None,
                       name=None, experimental_trackable=False):
    return SummaryWriter(logdir, max_queue, flush_millis, filename_suffix)


def create_noop_writer():
    return _NoopWriter()


def flush(writer=None, name=None):
    w = writer if writer is not None else _state["writer"]
    if w is not None:
        w.flush()


def _step(op, step):
    if step is None:
        step = _state["step"]
    if step is None:
        raise ValueError(f"[summary.{op}] no step given: pass step=..., or set one with "
                         "tf.summary.experimental.set_step(step)")
    return int(_host(step))


def _writer():
    return _state["writer"]


def scalar(name, data, step=None, description=None):
    w = _writer()
    if w is None:
        return False
    a = _host(data)
    if a.size != 1:
        raise ValueError(f"[summary.scalar] {name!r}: data must be a scalar, got shape "
                         f"{tuple(a.shape)}")
    w._w.add_scalar(str(name), float(a.reshape(())), _step("scalar", step))
    return True


def histogram(name, data, step=None, buckets=None, description=None):
    w = _writer()
    if w is None:
        return False
    a = _host(data).astype(np.float64).reshape(-1)
    w._w.add_histogram(str(name), a, _step("histogram", step),
                       bins=int(buckets) if buckets else "tensorflow")
    return True


def image(name, data, step=None, max_outputs=3, description=None):
    """`data`: (k, h, w, c) with c in 1, 3, 4; floats in [0, 1] or uint8."""
    w = _writer()
    if w is None:
        return False
    a = _host(data)
    if a.ndim != 4 or a.shape[-1] not in (1, 3, 4):
        raise ValueError(f"[summary.image] {name!r}: data must be (k, h, w, c) with c in "
                         f"1, 3, 4, got shape {tuple(a.shape)}")
    a = a[:int(max_outputs)]
    if a.dtype != np.uint8:
        a = np.clip(a.astype(np.float64), 0.0, 1.0)
    w._w.add_images(str(name), a, _step("image", step), dataformats="NHWC")
    return True


def text(name, data, step=None, description=None):
    w = _writer()
    if w is None:
        return False
    a = _host(data)
    s = a.reshape(-1)[0] if a.size else ""
    w._w.add_text(str(name), s.decode() if isinstance(s, bytes) else str(s), _step("text", step))
    return True


def audio(name, data, sample_rate, step=None, max_outputs=3, encoding=None, description=None):
    """`data`: (k, t, c) floats in [-1, 1] (k clips of t frames, c channels); each clip is
    written as a 16-bit PCM WAV (TF's only encoding). Tags as TF1's audio summary:
    "name/audio" for one clip, "name/audio/0", "name/audio/1"... for several."""
    import io
    import wave
    w = _writer()
    if w is None:
        return False
    if encoding not in (None, "wav"):
        raise ValueError(f"[summary.audio] {name!r}: encoding must be 'wav', got {encoding!r}")
    a = _host(data)
    if a.ndim != 3 or a.shape[-1] < 1:
        raise ValueError(f"[summary.audio] {name!r}: data must be (k, t, c) floats in [-1, 1], "
                         f"got shape {tuple(a.shape)}")
    rate = int(_host(sample_rate).reshape(()))
    if rate <= 0:
        raise ValueError(f"[summary.audio] {name!r}: sample_rate must be positive, got {rate}")
    from tensorboardX.proto.summary_pb2 import Summary
    clips = a[:int(max_outputs)].astype(np.float64)
    values = []
    for i, clip in enumerate(clips):
        pcm = np.round(np.clip(clip, -1.0, 1.0) * 32767.0).astype("<i2")
        with io.BytesIO() as buf:
            with wave.open(buf, "wb") as f:
                f.setnchannels(clip.shape[1])
                f.setsampwidth(2)
                f.setframerate(rate)
                f.writeframes(pcm.tobytes())
            wav = buf.getvalue()
        tag = f"{name}/audio" if len(clips) == 1 else f"{name}/audio/{i}"
        values.append(Summary.Value(tag=tag, audio=Summary.Audio(
            sample_rate=float(rate), num_channels=clip.shape[1], length_frames=clip.shape[0],
            encoded_audio_string=wav, content_type="audio/wav")))
    w._w._get_file_writer().add_summary(Summary(value=values), _step("audio", step))
    return True


class experimental:  # noqa: N801  (TF's namespace `tf.summary.experimental`)
    @staticmethod
    def set_step(step):
        _state["step"] = None if step is None else int(_host(step))

    @staticmethod
    def get_step():
        return _state["step"]


# -- tracing: nabi runs eagerly and builds no graph, so there is nothing to trace -----------
_trace = {"on": None, "warned": False}
_NO_GRAPH = ("nabi runs every function eagerly and builds no graph: there is no graph (and "
             "no profiler trace) to export")


def _warn_no_graph(op):
    if _trace["warned"]:
        return
    _trace["warned"] = True
    import warnings
    warnings.warn(f"[summary.{op}] {_NO_GRAPH}; trace_export writes a text summary saying so "
                  "instead of a graph", stacklevel=3)


def trace_on(graph=True, profiler=False, profiler_outdir=None):
    """`tf.summary.trace_on`: starts a (nabi: empty) trace. TF records the graphs of the
    tf.functions run until `trace_export`; nabi has none, so this only warns once."""
    _warn_no_graph("trace_on")
    _trace["on"] = (bool(graph), bool(profiler))


def trace_off():
    """`tf.summary.trace_off`: stops the trace without exporting it."""
    _trace["on"] = None


def trace_export(name, step=None, profiler_outdir=None):
    """`tf.summary.trace_export`: TF writes the traced graph to the default writer and stops
    the trace. nabi writes, under the tag `name`, a text summary noting that there is no
    graph (nothing without a default writer), then stops the trace. As in TF, exporting
    without `trace_on` first is a ValueError."""
    if _trace["on"] is None:
        raise ValueError("[summary.trace_export] Must enable trace before export through "
                         "tf.summary.trace_on")
    _warn_no_graph("trace_export")
    try:
        if _writer() is not None:
            text(name, _NO_GRAPH + ".", step=_step("trace_export", step))
    finally:
        trace_off()
