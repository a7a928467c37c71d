"""The `checkpoint` state file of a checkpoint directory (TF's text format), `latest_checkpoint`,
`get_checkpoint_state` and `CheckpointManager` (numbering, keeping the last `max_to_keep`).

    model_checkpoint_path: "ckpt-3"
    all_model_checkpoint_paths: "ckpt-2"
    all_model_checkpoint_paths: "ckpt-3"
    all_model_checkpoint_timestamps: 1700000000.5
    all_model_checkpoint_timestamps: 1700000060.25
    last_preserved_timestamp: 1699999990.0

Paths are written relative to the directory and read back joined to it, as TF does.
"""
import glob
import os
import time
import warnings

from ..framework.tensor import Tensor

__all__ = ["CheckpointState", "CheckpointManager", "get_checkpoint_state", "latest_checkpoint",
           "update_checkpoint_state", "checkpoint_exists"]


class CheckpointState:
    """The parsed state file (TF's `CheckpointState` proto, as plain attributes)."""

    def __init__(self, model_checkpoint_path="", all_model_checkpoint_paths=(),
                 all_model_checkpoint_timestamps=(), last_preserved_timestamp=0.0):
        self.model_checkpoint_path = model_checkpoint_path
        self.all_model_checkpoint_paths = list(all_model_checkpoint_paths)
        self.all_model_checkpoint_timestamps = list(all_model_checkpoint_timestamps)
        self.last_preserved_timestamp = float(last_preserved_timestamp)

    def to_text(self):
        lines = [f"model_checkpoint_path: {_quote(self.model_checkpoint_path)}"]
        lines += [f"all_model_checkpoint_paths: {_quote(p)}"
                  for p in self.all_model_checkpoint_paths]
        lines += [f"all_model_checkpoint_timestamps: {float(t)!r}"
                  for t in self.all_model_checkpoint_timestamps]
        if self.last_preserved_timestamp:
            lines.append(f"last_preserved_timestamp: {float(self.last_preserved_timestamp)!r}")
        return "\n".join(lines) + "\n"

    __str__ = to_text

    def __repr__(self):
        return f"CheckpointState({self.to_text().strip()!r})"


def _quote(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _unquote(s):
    s = s.strip()
    if len(s) >= 2 and s[0] == s[-1] and s[0] in "\"'":
        s = s[1:-1]
        out, i = [], 0
        while i < len(s):
            if s[i] == "\\" and i + 1 < len(s):
                out.append(s[i + 1])
                i += 2
            else:
                out.append(s[i])
                i += 1
        return "".join(out)
    return s


def _state_file(save_dir, latest_filename=None):
    return os.path.join(save_dir or ".", latest_filename or "checkpoint")


def _parse_state(text, where):
    st = CheckpointState()
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        field, sep, value = line.partition(":")
        if not sep:
            raise ValueError(f"[get_checkpoint_state] {where}: cannot parse line {line!r}")
        field = field.strip()
        if field == "model_checkpoint_path":
            st.model_checkpoint_path = _unquote(value)
        elif field == "all_model_checkpoint_paths":
            st.all_model_checkpoint_paths.append(_unquote(value))
        elif field == "all_model_checkpoint_timestamps":
            st.all_model_checkpoint_timestamps.append(float(value))
        elif field == "last_preserved_timestamp":
            st.last_preserved_timestamp = float(value)
    return st


def get_checkpoint_state(checkpoint_dir, latest_filename=None):
    """The directory's `checkpoint` state file as a `CheckpointState` (relative paths joined to
    `checkpoint_dir`), or None when there is none."""
    checkpoint_dir = os.fspath(checkpoint_dir)
    path = _state_file(checkpoint_dir, latest_filename)
    if not os.path.isfile(path):
        return None
    with open(path, "r", encoding="utf-8") as fh:
        st = _parse_state(fh.read(), path)
    if not st.model_checkpoint_path:
        raise ValueError(f"Invalid checkpoint state loaded from {checkpoint_dir}")
    if not os.path.isabs(st.model_checkpoint_path):
        st.model_checkpoint_path = os.path.join(checkpoint_dir, st.model_checkpoint_path)
    st.all_model_checkpoint_paths = [p if os.path.isabs(p) else os.path.join(checkpoint_dir, p)
                                     for p in st.all_model_checkpoint_paths]
    return st


def checkpoint_exists(checkpoint_prefix):
    """Whether a checkpoint with this prefix exists: its index file does (or the .npz of a
    nabi.compat.v1.train.Saver checkpoint, which shares the state file's format)."""
    p = os.fspath(checkpoint_prefix)
    return os.path.isfile(p + ".index") or os.path.isfile(p + ".npz")


def latest_checkpoint(checkpoint_dir, latest_filename=None):
    """The prefix of the directory's latest checkpoint (from its `checkpoint` state file), or
    None when there is no state file or the checkpoint it names is gone."""
    st = get_checkpoint_state(checkpoint_dir, latest_filename)
    if st is None or not st.model_checkpoint_path:
        return None
    if checkpoint_exists(st.model_checkpoint_path):
        return st.model_checkpoint_path
    warnings.warn(f"[latest_checkpoint] the state file of {os.fspath(checkpoint_dir)!r} names "
                  f"{st.model_checkpoint_path!r}, which does not exist", stacklevel=2)
    return None


def update_checkpoint_state_internal(save_dir, model_checkpoint_path,
                                     all_model_checkpoint_paths=None, latest_filename=None,
                                     save_relative_paths=True, all_model_checkpoint_timestamps=None,
                                     last_preserved_timestamp=None):
    """Writes the state file atomically (a temporary file, then a rename)."""
    save_dir = save_dir or "."
    paths = list(all_model_checkpoint_paths or [])
    if not paths or paths[-1] != model_checkpoint_path:
        paths.append(model_checkpoint_path)
    if save_relative_paths:
        def rel(p):
            return os.path.relpath(p, save_dir) if os.path.isabs(p) == os.path.isabs(save_dir) \
                else p
        model_checkpoint_path = rel(model_checkpoint_path)
        paths = [rel(p) for p in paths]
    st = CheckpointState(model_checkpoint_path, paths, all_model_checkpoint_timestamps or (),
                         last_preserved_timestamp or 0.0)
    os.makedirs(save_dir, exist_ok=True)
    path = _state_file(save_dir, latest_filename)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(st.to_text())
    os.replace(tmp, path)


def update_checkpoint_state(save_dir, model_checkpoint_path, all_model_checkpoint_paths=None,
                            latest_filename=None, all_model_checkpoint_timestamps=None,
                            last_preserved_timestamp=None):
    """`tf.train.update_checkpoint_state` (TF1 API, kept in TF2's compat layer)."""
    update_checkpoint_state_internal(save_dir, model_checkpoint_path, all_model_checkpoint_paths,
                                     latest_filename, True, all_model_checkpoint_timestamps,
                                     last_preserved_timestamp)


def _delete_files(prefix):
    for f in [prefix + ".index"] + glob.glob(glob.escape(prefix) + ".data-*"):
        try:
            os.remove(f)
        except FileNotFoundError:
            pass


class CheckpointManager:
    """`tf.train.CheckpointManager(checkpoint, directory, max_to_keep, ...)`: saves numbered
    checkpoints `<directory>/<checkpoint_name>-<N>`, keeps the newest `max_to_keep` (None
    keeps all; `keep_checkpoint_every_n_hours` also keeps one per that many hours) and the
    directory's state file in step. A manager opened on an existing directory takes over its
    checkpoints."""

    def __init__(self, checkpoint, directory, max_to_keep, keep_checkpoint_every_n_hours=None,
                 checkpoint_name="ckpt", step_counter=None, checkpoint_interval=None,
                 init_fn=None):
        from .checkpoint import Checkpoint
        if not isinstance(checkpoint, Checkpoint):
            raise TypeError(f"[CheckpointManager] checkpoint must be a nabi.train.Checkpoint, got "
                            f"{type(checkpoint).__name__}")
        if directory is None:
            raise ValueError("[CheckpointManager] directory must be given")
        if max_to_keep is not None and int(max_to_keep) <= 0:
            raise ValueError(f"Expected a positive integer or `None` for `max_to_keep`, got "
                             f"{max_to_keep}.")
        if checkpoint_interval is not None and step_counter is None:
            raise ValueError("`step_counter` should be passed if `checkpoint_interval` is not "
                             "None.")
        self._checkpoint = checkpoint
        self._directory = os.fspath(directory)
        self._max_to_keep = None if max_to_keep is None else int(max_to_keep)
        self._keep_every_s = None if keep_checkpoint_every_n_hours is None else \
            float(keep_checkpoint_every_n_hours) * 3600.0
        self._checkpoint_prefix = os.path.join(self._directory, checkpoint_name)
        self._step_counter = step_counter
        self._checkpoint_interval = checkpoint_interval
        self._last_checkpoint_step = None
        self._init_fn = init_fn
        self._maybe_delete = {}     # path -> timestamp, oldest first
        now = time.time()
        st = get_checkpoint_state(self._directory)
        if st is None:
            self._latest_checkpoint = None
            self._last_preserved_timestamp = now - 1
        else:
            self._latest_checkpoint = st.model_checkpoint_path
            self._last_preserved_timestamp = min(st.last_preserved_timestamp, now)
            stamps = st.all_model_checkpoint_timestamps or \
                [self._last_preserved_timestamp] * len(st.all_model_checkpoint_paths)
            for path, t in zip(st.all_model_checkpoint_paths, stamps):
                t = min(t, now)
                if t > self._last_preserved_timestamp:
                    self._maybe_delete[path] = t

    @property
    def directory(self):
        return self._directory

    @property
    def checkpoint(self):
        return self._checkpoint

    @property
    def latest_checkpoint(self):
        """The prefix of the newest checkpoint, or None."""
        return self._latest_checkpoint

    @property
    def checkpoints(self):
        """The managed checkpoint prefixes, oldest first."""
        return list(self._maybe_delete)

    @property
    def checkpoint_interval(self):
        return self._checkpoint_interval

    def _sweep(self):
        if self._max_to_keep is None:
            return
        while len(self._maybe_delete) > self._max_to_keep:
            path = next(iter(self._maybe_delete))
            t = self._maybe_delete.pop(path)
            if self._keep_every_s is not None and \
                    t - self._keep_every_s >= self._last_preserved_timestamp:
                self._last_preserved_timestamp = t
                continue
            _delete_files(path)

    def _record_state(self):
        update_checkpoint_state_internal(
            self._directory, self._latest_checkpoint, list(self._maybe_delete),
            save_relative_paths=True,
            all_model_checkpoint_timestamps=list(self._maybe_delete.values()),
            last_preserved_timestamp=self._last_preserved_timestamp)

    def save(self, checkpoint_number=None, check_interval=True, options=None):
        """Saves `<directory>/<checkpoint_name>-<N>` (N: `checkpoint_number`, else the
        checkpoint's `save_counter` after incrementing it), deletes the checkpoints beyond
        `max_to_keep`, updates the state file and returns the path (None when
        `checkpoint_interval` says it is not time yet)."""
        if self._checkpoint_interval is not None:
            step = int(_value(self._step_counter))
            if check_interval and self._last_checkpoint_step is not None and \
                    step < self._last_checkpoint_step + self._checkpoint_interval:
                return None
            if checkpoint_number is None:
                checkpoint_number = step
            self._last_checkpoint_step = step
        counter = self._checkpoint.save_counter
        counter.assign_add(1)
        if checkpoint_number is None:
            checkpoint_number = counter
        number = int(_value(checkpoint_number))
        path = self._checkpoint.write(f"{self._checkpoint_prefix}-{number}")
        self._maybe_delete.pop(path, None)   # overwritten: it moves to the end of the queue
        self._maybe_delete[path] = time.time()
        self._latest_checkpoint = path
        self._sweep()
        self._record_state()
        return path

    def restore_or_initialize(self):
        """Restores the latest checkpoint and returns its path, or calls `init_fn` (if given)
        and returns None."""
        if self._latest_checkpoint is not None:
            self._checkpoint.restore(self._latest_checkpoint)
            if self._checkpoint_interval is not None:
                self._last_checkpoint_step = int(_value(self._step_counter))
            return self._latest_checkpoint
        if self._init_fn is not None:
            self._init_fn()
        return None

    def sync(self):
        """Saving is synchronous in nabi."""


def _value(x):
    if isinstance(x, Tensor):
        return x.numpy()
    return x
