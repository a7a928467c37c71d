"""Keras callbacks: Callback, CallbackList, History, ProgbarLogger, EarlyStopping,
ModelCheckpoint, CSVLogger, TensorBoard, LearningRateScheduler, ReduceLROnPlateau,
TerminateOnNaN, LambdaCallback, BackupAndRestore, RemoteMonitor.
"""
import collections
import csv
import json
import math
import os
import time
import warnings

import numpy as np

__all__ = ["Callback", "CallbackList", "History", "ProgbarLogger", "EarlyStopping",
           "ModelCheckpoint", "CSVLogger", "TensorBoard", "LearningRateScheduler",
           "ReduceLROnPlateau", "TerminateOnNaN", "LambdaCallback", "BackupAndRestore",
           "BaseLogger", "RemoteMonitor"]


def _print_msg(msg):
    """A callback's message: stdout, or the `nabi.keras` logger after
    keras.utils.disable_interactive_logging() (Keras's io_utils.print_msg)."""
    from .utils import progbar
    if progbar.is_interactive_logging_enabled():
        print(msg)
        return
    msg = msg.strip("\n")
    if msg:
        import logging
        logging.getLogger("nabi.keras").info(msg)


class Callback:
    """Base class of callbacks: override any of the `on_*` hooks."""

    def __init__(self):
        self.validation_data = None
        self.model = None
        self.params = {}

    def set_params(self, params):
        self.params = params

    def set_model(self, model):
        self.model = model

    # Keras 1 style aliases: on_batch_* are the training batch hooks.
    def on_batch_begin(self, batch, logs=None):
        """Called at the beginning of a training batch (alias of on_train_batch_begin)."""

    def on_batch_end(self, batch, logs=None):
        """Called at the end of a training batch (alias of on_train_batch_end)."""

    def on_epoch_begin(self, epoch, logs=None):
        """Called at the start of an epoch."""

    def on_epoch_end(self, epoch, logs=None):
        """Called at the end of an epoch; `logs` has the epoch's metrics and val_ entries."""

    def on_train_batch_begin(self, batch, logs=None):
        self.on_batch_begin(batch, logs=logs)

    def on_train_batch_end(self, batch, logs=None):
        self.on_batch_end(batch, logs=logs)

    def on_test_batch_begin(self, batch, logs=None):
        pass

    def on_test_batch_end(self, batch, logs=None):
        pass

    def on_predict_batch_begin(self, batch, logs=None):
        pass

    def on_predict_batch_end(self, batch, logs=None):
        pass

    def on_train_begin(self, logs=None):
        pass

    def on_train_end(self, logs=None):
        pass

    def on_test_begin(self, logs=None):
        pass

    def on_test_end(self, logs=None):
        pass

    def on_predict_begin(self, logs=None):
        pass

    def on_predict_end(self, logs=None):
        pass

    def _implements(self, hook):
        """Whether this callback overrides `hook` (or, for train batches, the on_batch alias)."""
        cls = type(self)
        own = getattr(cls, hook, None)
        if own is not getattr(Callback, hook, None):
            return True
        if hook == "on_train_batch_begin":
            return cls.on_batch_begin is not Callback.on_batch_begin
        if hook == "on_train_batch_end":
            return cls.on_batch_end is not Callback.on_batch_end
        return False


_BATCH_HOOKS = ("on_train_batch_begin", "on_train_batch_end", "on_test_batch_begin",
                "on_test_batch_end", "on_predict_batch_begin", "on_predict_batch_end")


class CallbackList:
    """A container of callbacks that forwards each hook to all of them."""

    def __init__(self, callbacks=None, add_history=False, add_progbar=False, model=None,
                 **params):
        if isinstance(callbacks, Callback):
            callbacks = [callbacks]   # Keras flattens: fit(callbacks=EarlyStopping(...)) works
        self.callbacks = list(callbacks) if callbacks else []
        for cb in self.callbacks:
            if not isinstance(cb, Callback) and not all(
                    hasattr(cb, h) for h in ("on_epoch_begin", "on_epoch_end")):
                raise TypeError(f"[callbacks] {cb!r} is not a keras Callback")
        self._history = None
        self._progbar = None
        if add_progbar and not any(isinstance(cb, ProgbarLogger) for cb in self.callbacks):
            self._progbar = ProgbarLogger(count_mode="steps")
            self.callbacks.insert(0, self._progbar)
        if add_history:
            existing = [cb for cb in self.callbacks if isinstance(cb, History)]
            if existing:
                self._history = existing[0]
            else:
                self._history = History()
                self.callbacks.append(self._history)
        self.model = None
        self.params = {}
        if model is not None:
            self.set_model(model)
        if params:
            self.set_params(params)
        self._refresh_hooks()

    def _refresh_hooks(self):
        self._hooks = {h: [cb for cb in self.callbacks if
                           (cb._implements(h) if isinstance(cb, Callback) else hasattr(cb, h))]
                       for h in _BATCH_HOOKS}

    def append(self, callback):
        self.callbacks.append(callback)
        if self.model is not None:
            callback.set_model(self.model)
        callback.set_params(self.params)
        self._refresh_hooks()

    def set_params(self, params):
        self.params = params
        for cb in self.callbacks:
            cb.set_params(params)

    def set_model(self, model):
        self.model = model
        if self._history is not None:
            model.history = self._history
        for cb in self.callbacks:
            cb.set_model(model)

    def has_batch_hook(self, hook):
        return bool(self._hooks[hook])

    def wants_batch_logs(self, hook, batch):
        """Whether a callback with this batch hook will read the logs of this batch. Only a
        callback that says otherwise (a `wants_batch_logs(hook, batch)` method returning False,
        as the progress bar between redraws) gets None instead, so fit need not read the loss
        and metrics back from the GPU (a synchronisation) after every step."""
        for cb in self._hooks[hook]:
            wants = getattr(cb, "wants_batch_logs", None)
            if wants is None or wants(hook, batch):
                return True
        return False

    def _call_batch(self, hook, batch, logs):
        for cb in self._hooks[hook]:
            getattr(cb, hook)(batch, logs)

    def on_batch_begin(self, batch, logs=None):
        self._call_batch("on_train_batch_begin", batch, {} if logs is None else logs)

    def on_batch_end(self, batch, logs=None):
        self._call_batch("on_train_batch_end", batch, logs)

    def on_train_batch_begin(self, batch, logs=None):
        self._call_batch("on_train_batch_begin", batch, {} if logs is None else logs)

    def on_train_batch_end(self, batch, logs=None):
        self._call_batch("on_train_batch_end", batch, logs)

    def on_test_batch_begin(self, batch, logs=None):
        self._call_batch("on_test_batch_begin", batch, {} if logs is None else logs)

    def on_test_batch_end(self, batch, logs=None):
        self._call_batch("on_test_batch_end", batch, logs)

    def on_predict_batch_begin(self, batch, logs=None):
        self._call_batch("on_predict_batch_begin", batch, {} if logs is None else logs)

    def on_predict_batch_end(self, batch, logs=None):
        self._call_batch("on_predict_batch_end", batch, logs)

    def on_epoch_begin(self, epoch, logs=None):
        logs = {} if logs is None else logs   # Keras hands callbacks a dict, never None
        for cb in self.callbacks:
            cb.on_epoch_begin(epoch, logs)

    def on_epoch_end(self, epoch, logs=None):
        logs = {} if logs is None else logs   # Keras hands callbacks a dict, never None
        for cb in self.callbacks:
            cb.on_epoch_end(epoch, logs)

    def on_train_begin(self, logs=None):
        logs = {} if logs is None else logs
        for cb in self.callbacks:
            cb.on_train_begin(logs)

    def on_train_end(self, logs=None):
        logs = {} if logs is None else logs
        for cb in self.callbacks:
            cb.on_train_end(logs)

    def on_test_begin(self, logs=None):
        logs = {} if logs is None else logs
        for cb in self.callbacks:
            cb.on_test_begin(logs)

    def on_test_end(self, logs=None):
        logs = {} if logs is None else logs
        for cb in self.callbacks:
            cb.on_test_end(logs)

    def on_predict_begin(self, logs=None):
        logs = {} if logs is None else logs
        for cb in self.callbacks:
            cb.on_predict_begin(logs)

    def on_predict_end(self, logs=None):
        logs = {} if logs is None else logs
        for cb in self.callbacks:
            cb.on_predict_end(logs)

    def __iter__(self):
        return iter(self.callbacks)


class BaseLogger(Callback):
    """Kept for Keras 2 compatibility; metrics are already averaged by the engine."""


class History(Callback):
    """Records the epoch logs: `history.history["loss"]`, `history.epoch`, `history.params`."""

    def __init__(self):
        super().__init__()
        self.history = {}
        self.epoch = []

    def on_train_begin(self, logs=None):
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(v)

    def set_model(self, model):
        super().set_model(model)
        model.history = self


class ProgbarLogger(Callback):
    """Prints metrics to stdout through `Progbar` (added by fit/evaluate/predict when verbose)."""

    def __init__(self, count_mode="steps", stateful_metrics=None):
        super().__init__()
        if count_mode == "samples":
            warnings.warn("count_mode='samples' is deprecated in Keras; counting steps",
                          stacklevel=2)
        self.seen = 0
        self.progbar = None
        self.target = None
        self.verbose = 1
        self.epochs = 1
        self._called_in_fit = False

    def set_params(self, params):
        verbose = params.get("verbose", 1)
        if verbose == "auto":
            verbose = 1
        self.verbose = verbose
        self.epochs = params.get("epochs", 1)
        self.target = params.get("steps")

    def on_train_begin(self, logs=None):
        self._called_in_fit = True

    def on_test_begin(self, logs=None):
        if not self._called_in_fit:
            self._reset_progbar()

    def on_predict_begin(self, logs=None):
        self._reset_progbar()

    def on_epoch_begin(self, epoch, logs=None):
        self._reset_progbar()
        if self.verbose and self.epochs > 1:
            _print_msg(f"Epoch {epoch + 1}/{self.epochs}")

    def on_train_batch_end(self, batch, logs=None):
        self._batch_update_progbar(batch, logs)

    def on_test_batch_end(self, batch, logs=None):
        if not self._called_in_fit:
            self._batch_update_progbar(batch, logs)

    def on_predict_batch_end(self, batch, logs=None):
        self._batch_update_progbar(batch, None)

    def on_epoch_end(self, epoch, logs=None):
        self._finalize_progbar(logs)

    def on_test_end(self, logs=None):
        if not self._called_in_fit:
            self._finalize_progbar(logs)

    def on_predict_end(self, logs=None):
        self._finalize_progbar(logs)

    def on_train_end(self, logs=None):
        self._called_in_fit = False

    def _reset_progbar(self):
        self.seen = 0
        self.progbar = None

    def _maybe_init_progbar(self):
        if self.progbar is None:
            from .utils.progbar import Progbar
            self.progbar = Progbar(target=self.target, verbose=self.verbose,
                                   stateful_metrics=None, unit_name="step")
            self.progbar._stateful_all = True

    def wants_batch_logs(self, hook, batch):
        """Whether this batch's logs would be shown: only when the bar redraws (verbose=1, at
        most every `interval` seconds, not the last step, which the epoch's end shows);
        verbose=2 shows epoch logs only. The bar shows the latest values, so skipped batches
        lose nothing."""
        if hook == "on_predict_batch_end" or (hook == "on_test_batch_end" and
                                              self._called_in_fit):
            return False
        self._maybe_init_progbar()
        return self.verbose == 1 and (self.target is None or batch + 1 < self.target) and \
            self.progbar.due()

    def _batch_update_progbar(self, batch, logs=None):
        self._maybe_init_progbar()
        self.seen = batch + 1
        if self.verbose == 1 and (self.target is None or self.seen < self.target):
            items = list((logs or {}).items())
            self.progbar.stateful_metrics.update(k for k, _ in items)
            self.progbar.update(self.seen, items, finalize=False)

    def _finalize_progbar(self, logs):
        self._maybe_init_progbar()
        if self.target is None:
            self.target = self.seen or 1
            self.progbar.target = self.target
        items = list((logs or {}).items())
        self.progbar.stateful_metrics.update(k for k, _ in items)
        self.progbar.update(self.target, items, finalize=True)


# ----------------------------------------------------------------------------- monitors


def _monitor_op(mode, monitor, cls_name):
    if mode not in ("auto", "min", "max"):
        warnings.warn(f"{cls_name} mode {mode!r} is unknown, fallback to auto mode.",
                      stacklevel=3)
        mode = "auto"
    if mode == "min":
        return np.less
    if mode == "max":
        return np.greater
    m = monitor.removeprefix("val_") if hasattr(monitor, "removeprefix") else monitor
    if m == "loss" or m.endswith("loss") or "error" in m:
        return np.less
    if any(k in m for k in ("acc", "auc", "precision", "recall", "fmeasure", "f1")):
        return np.greater
    # Keras 3 reads the metric's direction: these grow as the model improves too
    if m in ("iou", "r2_score", "cosine_similarity", "fbeta_score", "pearson_correlation",
             "concordance_correlation") or m.endswith("_iou"):
        return np.greater
    return np.less


class EarlyStopping(Callback):
    """Stops training when a monitored quantity has stopped improving."""

    def __init__(self, monitor="val_loss", min_delta=0, patience=0, verbose=0, mode="auto",
                 baseline=None, restore_best_weights=False, start_from_epoch=0):
        super().__init__()
        self.monitor = monitor
        self.patience = patience
        self.verbose = verbose
        self.baseline = baseline
        self.min_delta = abs(min_delta)
        self.wait = 0
        self.stopped_epoch = 0
        self.restore_best_weights = restore_best_weights
        self.best_weights = None
        self.start_from_epoch = start_from_epoch
        self.mode = mode
        self.monitor_op = _monitor_op(mode, monitor, "EarlyStopping")
        if self.monitor_op == np.less:
            self.min_delta *= -1
        self.best = None
        self.best_epoch = 0

    def on_train_begin(self, logs=None):
        self.wait = 0
        self.stopped_epoch = 0
        self.best = np.inf if self.monitor_op == np.less else -np.inf
        self.best_weights = None
        self.best_epoch = 0

    def on_epoch_end(self, epoch, logs=None):
        current = self.get_monitor_value(logs)
        if current is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = self.model.get_weights()
            self.best_epoch = epoch
        self.wait += 1
        if self._is_improvement(current, self.best):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            _print_msg(f"Epoch {self.stopped_epoch + 1}: early stopping")
        # Keras 3 restores the best weights at the end of training whether or not it stopped
        # early (Keras 2 only on an early stop)
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                _print_msg("Restoring model weights from the end of the best epoch: "
                      f"{self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)

    def get_monitor_value(self, logs):
        logs = logs or {}
        v = logs.get(self.monitor)
        if v is None:
            warnings.warn(f"Early stopping conditioned on metric `{self.monitor}` which is not "
                          f"available. Available metrics are: {','.join(logs)}", stacklevel=3)
        return v

    def _is_improvement(self, monitor_value, reference_value):
        return bool(self.monitor_op(monitor_value - self.min_delta, reference_value))


class ModelCheckpoint(Callback):
    """Saves the model (or its weights) after every epoch, or only when it improves."""

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False,
                 save_weights_only=False, mode="auto", save_freq="epoch", options=None,
                 initial_value_threshold=None, period=None, **kwargs):
        super().__init__()
        self.filepath = os.fspath(filepath)
        self.monitor = monitor
        self.verbose = verbose
        self.save_best_only = save_best_only
        self.save_weights_only = save_weights_only
        self.save_freq = save_freq
        self.period = period or 1
        self.monitor_op = _monitor_op(mode, monitor, "ModelCheckpoint")
        if initial_value_threshold is not None:
            self.best = initial_value_threshold
        else:
            self.best = np.inf if self.monitor_op == np.less else -np.inf
        self._batches_seen = 0
        self._current_epoch = 0
        if save_freq != "epoch" and not isinstance(save_freq, int):
            raise ValueError(f"Unrecognized save_freq: {save_freq!r}; expected 'epoch' or an "
                             "integer number of batches")

    def wants_batch_logs(self, hook, batch):
        """Only a batch that saves reads its logs (the file name and `monitor` may use them)."""
        return hook != "on_train_batch_end" or (
            isinstance(self.save_freq, int) and (self._batches_seen + 1) % self.save_freq == 0)

    def on_train_batch_end(self, batch, logs=None):
        if isinstance(self.save_freq, int):
            self._batches_seen += 1
            if self._batches_seen % self.save_freq == 0:
                self._save_model(self._current_epoch, batch, logs)

    def _implements(self, hook):
        if hook == "on_train_batch_end":
            return isinstance(self.save_freq, int)
        return super()._implements(hook)

    def on_epoch_begin(self, epoch, logs=None):
        self._current_epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch" and (epoch + 1) % self.period == 0:
            self._save_model(epoch, None, logs)

    def _get_file_path(self, epoch, batch, logs):
        logs = dict(logs or {})
        try:
            if batch is None or "batch" not in self.filepath:
                return self.filepath.format(epoch=epoch + 1, **logs)
            return self.filepath.format(epoch=epoch + 1, batch=batch + 1, **logs)
        except KeyError as e:
            raise KeyError(f"Failed to format this callback filepath: \"{self.filepath}\". "
                           f"Reason: {e}") from None

    def _save_model(self, epoch, batch, logs):
        logs = logs or {}
        filepath = self._get_file_path(epoch, batch, logs)
        d = os.path.dirname(filepath)
        if d:
            os.makedirs(d, exist_ok=True)
        if self.save_best_only:
            current = logs.get(self.monitor)
            if current is None:
                # Keras 3 saves when the monitored value is missing (an epoch without
                # validation, say) instead of skipping the epoch as Keras 2 did
                warnings.warn(f"Can save best model only with {self.monitor} available.",
                              stacklevel=3)
                self._do_save(filepath)
                return
            if isinstance(current, np.ndarray) or np.isscalar(current):
                current = float(current)
            if self.monitor_op(current, self.best):
                if self.verbose > 0:
                    _print_msg(f"\nEpoch {epoch + 1}: {self.monitor} improved from {self.best:.5f} "
                          f"to {current:.5f}, saving model to {filepath}")
                self.best = current
                self._do_save(filepath)
            elif self.verbose > 0:
                _print_msg(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from "
                      f"{self.best:.5f}")
        else:
            if self.verbose > 0:
                _print_msg(f"\nEpoch {epoch + 1}: saving model to {filepath}")
            self._do_save(filepath)

    def _do_save(self, filepath):
        if self.save_weights_only:
            self.model.save_weights(filepath, overwrite=True)
        else:
            self.model.save(filepath, overwrite=True)


class CSVLogger(Callback):
    """Streams epoch results to a CSV file (`epoch` column, then the sorted log keys)."""

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        self.sep = separator
        self.filename = os.fspath(filename)
        self.append = append
        self.writer = None
        self.keys = None
        self.append_header = True
        self.csv_file = None

    def on_train_begin(self, logs=None):
        if self.append:
            if os.path.exists(self.filename):
                with open(self.filename) as f:
                    self.append_header = not bool(len(f.readline()))
            mode = "a"
        else:
            mode = "w"
        self.csv_file = open(self.filename, mode, newline="")
        self.writer = None
        self.keys = None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}

        def handle_value(k):
            is_zero_dim = isinstance(k, np.ndarray) and k.ndim == 0
            if isinstance(k, str):
                return k
            if isinstance(k, collections.abc.Iterable) and not is_zero_dim:
                return f'"[{", ".join(map(str, k))}]"'
            return k

        if self.keys is None:
            self.keys = sorted(logs.keys())
            val_keys_found = any(k.startswith("val_") for k in self.keys)
            if not val_keys_found and self.model is not None and \
                    getattr(self.model, "_val_expected", False):
                self.keys.extend("val_" + k for k in list(self.keys))
        if self.writer is None:
            fieldnames = ["epoch"] + self.keys
            self.writer = csv.DictWriter(self.csv_file, fieldnames=fieldnames,
                                         delimiter=self.sep)
            if self.append_header:
                self.writer.writeheader()
        row = {"epoch": epoch}
        row.update((k, handle_value(logs.get(k, "NA"))) for k in self.keys)
        self.writer.writerow(row)
        self.csv_file.flush()

    def on_train_end(self, logs=None):
        if self.csv_file is not None:
            self.csv_file.close()
            self.csv_file = None
        self.writer = None


class TensorBoard(Callback):
    """Writes TensorBoard event files (`<log_dir>/train`, `<log_dir>/validation`): per-epoch
    scalars `epoch_<metric>` and, every `histogram_freq` epochs, weight histograms.

    Uses the `tensorboardX` package (pip install tensorboardX).
    """

    def __init__(self, log_dir="logs", histogram_freq=0, write_graph=True, write_images=False,
                 write_steps_per_second=False, update_freq="epoch", profile_batch=0,
                 embeddings_freq=0, embeddings_metadata=None, **kwargs):
        super().__init__()
        try:
            import tensorboardX  # noqa: F401
        except ImportError:
            raise ImportError("keras.callbacks.TensorBoard needs the `tensorboardX` package to "
                              "write event files: pip install tensorboardX (or install nabi "
                              "with its tensorboard extra)") from None
        self.log_dir = os.fspath(log_dir)
        self.histogram_freq = int(histogram_freq)
        self.update_freq = update_freq
        self.write_steps_per_second = write_steps_per_second
        self._writers = {}
        self._train_step = 0
        self._epoch_start = None

    def _writer(self, which):
        w = self._writers.get(which)
        if w is None:
            from tensorboardX import SummaryWriter
            w = SummaryWriter(logdir=os.path.join(self.log_dir, which))
            self._writers[which] = w
        return w

    def _implements(self, hook):
        if hook == "on_train_batch_end":
            return isinstance(self.update_freq, int) or self.update_freq == "batch"
        return super()._implements(hook)

    def on_train_begin(self, logs=None):
        self._train_step = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = time.time()

    def wants_batch_logs(self, hook, batch):
        """Only the batches whose scalars are written read their logs (see CallbackList)."""
        freq = 1 if self.update_freq == "batch" else self.update_freq
        return hook != "on_train_batch_end" or (
            isinstance(freq, int) and (self._train_step + 1) % freq == 0)

    def on_train_batch_end(self, batch, logs=None):
        self._train_step += 1
        freq = 1 if self.update_freq == "batch" else self.update_freq
        if isinstance(freq, int) and self._train_step % freq == 0:
            w = self._writer("train")
            for k, v in (logs or {}).items():
                w.add_scalar(f"batch_{k}", float(v), self._train_step)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        train = self._writer("train")
        val = None
        for k, v in logs.items():
            try:
                v = float(v)
            except (TypeError, ValueError):
                continue
            if k.startswith("val_"):
                val = val or self._writer("validation")
                val.add_scalar(f"epoch_{k[4:]}", v, epoch)
            else:
                train.add_scalar(f"epoch_{k}", v, epoch)
        if self.write_steps_per_second and self._epoch_start is not None:
            steps = self.params.get("steps") or 0
            dt = time.time() - self._epoch_start
            if dt > 0 and steps:
                train.add_scalar("epoch_steps_per_second", steps / dt, epoch)
        if self.histogram_freq and (epoch + 1) % self.histogram_freq == 0 and \
                self.model is not None:
            for w in self.model.weights:
                name = getattr(w, "path", None) or w.name.split(":")[0]
                train.add_histogram(name, np.asarray(w.numpy()), epoch)
        for wr in self._writers.values():
            wr.flush()

    def on_train_end(self, logs=None):
        for w in self._writers.values():
            w.close()
        self._writers = {}


def _get_lr(opt):
    lr = opt.learning_rate
    if callable(lr) and not hasattr(lr, "numpy"):
        raise ValueError("the optimizer's learning rate is a schedule; it cannot also be set "
                         "by a callback")
    return float(np.asarray(lr.numpy() if hasattr(lr, "numpy") else lr))


def _set_lr(opt, value):
    if not hasattr(opt, "learning_rate"):
        raise ValueError('Optimizer must have a "learning_rate" attribute.')
    opt.learning_rate = float(value)


def _log_lr(logs, opt):
    """The epoch's learning rate under Keras 2's key "lr" (notebooks plot
    history.history["lr"]) and Keras 3's "learning_rate"."""
    lr = _get_lr(opt)
    logs["lr"] = lr
    logs["learning_rate"] = lr


class LearningRateScheduler(Callback):
    """Sets the learning rate at the start of each epoch to `schedule(epoch, lr)`."""

    def __init__(self, schedule, verbose=0):
        super().__init__()
        self.schedule = schedule
        self.verbose = verbose

    def on_epoch_begin(self, epoch, logs=None):
        opt = self.model.optimizer
        try:
            lr = _get_lr(opt)
            lr = self.schedule(epoch, lr)
        except TypeError:  # Support for old API for backward compatibility
            lr = self.schedule(epoch)
        if hasattr(lr, "numpy"):
            lr = lr.numpy()
        if not isinstance(lr, (float, int, np.floating, np.integer)) and \
                not (isinstance(lr, np.ndarray) and lr.ndim == 0):
            raise ValueError(f'The output of the "schedule" function should be a float. Got: '
                             f"{lr}")
        _set_lr(opt, float(lr))
        if self.verbose > 0:
            _print_msg(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to "
                  f"{float(lr)}.")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            _log_lr(logs, self.model.optimizer)


class ReduceLROnPlateau(Callback):
    """Reduces the learning rate by `factor` when `monitor` stops improving."""

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto",
                 min_delta=1e-4, cooldown=0, min_lr=0.0, **kwargs):
        super().__init__()
        self.monitor = monitor
        if factor >= 1.0:
            raise ValueError(f"ReduceLROnPlateau does not support a factor >= 1.0. Got {factor}")
        if "epsilon" in kwargs:
            min_delta = kwargs.pop("epsilon")
        self.factor = factor
        self.min_lr = min_lr
        self.min_delta = min_delta
        self.patience = patience
        self.verbose = verbose
        self.cooldown = cooldown
        self.cooldown_counter = 0
        self.wait = 0
        self.best = 0
        self.mode = mode
        self._reset()

    def _reset(self):
        op = _monitor_op(self.mode, self.monitor, "ReduceLROnPlateau")
        if op == np.less:
            self.monitor_op = lambda a, b: np.less(a, b - self.min_delta)
            self.best = np.inf
        else:
            self.monitor_op = lambda a, b: np.greater(a, b + self.min_delta)
            self.best = -np.inf
        self.cooldown_counter = 0
        self.wait = 0

    def on_train_begin(self, logs=None):
        self._reset()

    def in_cooldown(self):
        return self.cooldown_counter > 0

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        _log_lr(logs, self.model.optimizer)
        current = logs.get(self.monitor)
        if current is None:
            warnings.warn(f"Learning rate reduction is conditioned on metric `{self.monitor}` "
                          f"which is not available. Available metrics are: {','.join(logs)}.",
                          stacklevel=2)
            return
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0
        if self.monitor_op(current, self.best):
            self.best = current
            self.wait = 0
        elif not self.in_cooldown():
            self.wait += 1
            if self.wait >= self.patience:
                old_lr = _get_lr(self.model.optimizer)
                if old_lr > np.float32(self.min_lr):
                    new_lr = max(old_lr * self.factor, self.min_lr)
                    _set_lr(self.model.optimizer, new_lr)
                    if self.verbose > 0:
                        _print_msg(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate "
                              f"to {new_lr}.")
                    self.cooldown_counter = self.cooldown
                    self.wait = 0


class TerminateOnNaN(Callback):
    """Stops training as soon as a batch loss is NaN or infinite (Keras 3.12+ `raise_error`:
    raise a RuntimeError instead, skipping the other callbacks' on_train_end)."""

    def __init__(self, raise_error=False):
        super().__init__()
        self.raise_error = raise_error

    def on_batch_end(self, batch, logs=None):
        logs = logs or {}
        loss = logs.get("loss")
        if loss is not None:
            loss = float(np.asarray(loss))
            if math.isnan(loss) or math.isinf(loss):
                if self.raise_error:
                    raise RuntimeError(f"NaN or Inf loss encountered at batch {batch}. Loss "
                                       f"value: {loss}. Terminating training immediately.")
                _print_msg(f"Batch {batch}: Invalid loss, terminating training")
                self.model.stop_training = True


class LambdaCallback(Callback):
    """A callback built from plain functions (`on_epoch_end=lambda epoch, logs: ...`)."""

    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_batch_begin=None,
                 on_batch_end=None, on_train_begin=None, on_train_end=None, **kwargs):
        super().__init__()
        self.__dict__.update(kwargs)
        if on_epoch_begin is not None:
            self.on_epoch_begin = on_epoch_begin
        if on_epoch_end is not None:
            self.on_epoch_end = on_epoch_end
        if on_batch_begin is not None:
            self.on_batch_begin = on_batch_begin
            self.on_train_batch_begin = on_batch_begin
        if on_batch_end is not None:
            self.on_batch_end = on_batch_end
            self.on_train_batch_end = on_batch_end
        if on_train_begin is not None:
            self.on_train_begin = on_train_begin
        if on_train_end is not None:
            self.on_train_end = on_train_end

    def _implements(self, hook):
        if hook in self.__dict__:
            return True
        return False


class BackupAndRestore(Callback):
    """Keras 3 `BackupAndRestore`: backs up the model weights, the optimizer state and the
    training position into `backup_dir` (`latest.weights.h5`, the nabi.keras.saving weights
    layout plus its `optimizer/vars` group, and `training_metadata.json`) at the end of every
    epoch (`save_freq="epoch"`) or every `save_freq` batches. When `fit` starts and a backup
    exists, it restores weights and optimizer state and training resumes at the epoch after the
    last completed one (the epoch of the backup when it was taken mid-epoch). The backup is
    deleted when training finishes normally (`delete_checkpoint=True`), and kept when it is
    interrupted by an exception."""

    def __init__(self, backup_dir, save_freq="epoch", delete_checkpoint=True,
                 save_before_preemption=False, double_checkpoint=False):
        super().__init__()
        if not backup_dir:
            raise ValueError("[BackupAndRestore] backup_dir must be given")
        if save_freq != "epoch" and save_freq is not False and \
                (not isinstance(save_freq, int) or save_freq <= 0):
            raise ValueError(f"[BackupAndRestore] invalid save_freq {save_freq!r}: expected "
                             "'epoch', False or a positive integer number of batches")
        self.backup_dir = os.fspath(backup_dir)
        self.delete_checkpoint = delete_checkpoint
        self.save_freq = save_freq
        self._weights_path = os.path.join(self.backup_dir, "latest.weights.h5")
        self._training_metadata_path = os.path.join(self.backup_dir, "training_metadata.json")
        self._current_epoch = 0
        self._batches_seen = 0
        self._last_batch_seen = 0

    def _implements(self, hook):
        if hook == "on_train_batch_end":
            return isinstance(self.save_freq, int) and not isinstance(self.save_freq, bool)
        return super()._implements(hook)

    def on_train_begin(self, logs=None):
        model = self.model
        if os.path.exists(self._weights_path):
            from .saving import saving_api, saving_lib
            from .saving import _common
            saving_api.load_weights(model, self._weights_path)
            h5py = _common.h5py()
            with h5py.File(self._weights_path, "r") as f:
                arrays = saving_lib.read_optimizer_arrays(f)
            if arrays:
                _common.restore_optimizer(model, arrays, self._weights_path)
        if os.path.exists(self._training_metadata_path):
            with open(self._training_metadata_path) as f:
                meta = json.load(f)
            epoch = int(meta.get("epoch", 0))
            self._current_epoch = epoch
            model.__dict__["_initial_epoch"] = epoch

    def on_epoch_begin(self, epoch, logs=None):
        self._current_epoch = epoch
        self._last_batch_seen = 0

    def wants_batch_logs(self, hook, batch):
        return False  # a backup saves weights and position, never the logs

    def on_train_batch_end(self, batch, logs=None):
        self._last_batch_seen = batch + 1
        self._batches_seen += 1
        if self._batches_seen % self.save_freq == 0:
            self._save()

    def on_epoch_end(self, epoch, logs=None):
        self._current_epoch = epoch + 1
        self._last_batch_seen = 0
        if self.save_freq == "epoch":
            self._save()
        elif self._implements("on_train_batch_end") and self._batches_seen and \
                self._batches_seen % self.save_freq == 0:
            # The backup was taken at this epoch's last batch: it is a completed epoch.
            self._write_metadata()

    def _write_metadata(self):
        tmpm = self._training_metadata_path + ".tmp"
        with open(tmpm, "w") as f:
            json.dump({"epoch": self._current_epoch, "batch": self._last_batch_seen}, f)
        os.replace(tmpm, self._training_metadata_path)

    def _save(self):
        from .saving import saving_lib
        from .saving import _common
        os.makedirs(self.backup_dir, exist_ok=True)
        h5py = _common.h5py()
        with _common.atomic_path(self._weights_path, True) as tmp:
            with h5py.File(tmp, "w", track_order=True) as f:
                saving_lib.write_weights_store(f, self.model, include_optimizer=True)
        self._write_metadata()

    def on_train_end(self, logs=None):
        if self.delete_checkpoint:
            for p in (self._weights_path, self._training_metadata_path):
                if os.path.exists(p):
                    os.remove(p)
            try:
                os.rmdir(self.backup_dir)
            except OSError:
                pass


class RemoteMonitor(Callback):
    """Posts each epoch's logs to a server: `root + path`, as the form field `field` holding
    a JSON string, or as a JSON body (`send_as_json=True`). A server that cannot be reached
    only warns; training goes on (Keras behaviour). Uses the standard library, not requests."""

    def __init__(self, root="http://localhost:9000", path="/publish/epoch/end/", field="data",
                 headers=None, send_as_json=False, timeout=5.0):
        super().__init__()
        self.root = root
        self.path = path
        self.field = field
        self.headers = headers
        self.send_as_json = send_as_json
        self.timeout = timeout

    def _payload(self, epoch, logs):
        send = {"epoch": epoch}
        for k, v in (logs or {}).items():
            if hasattr(v, "numpy"):
                v = v.numpy()
            if isinstance(v, (np.ndarray, np.generic)):
                v = v.item() if np.ndim(v) == 0 else v.tolist()
            send[k] = v
        return send

    def on_epoch_end(self, epoch, logs=None):
        import urllib.error
        import urllib.parse
        import urllib.request
        send = self._payload(epoch, logs)
        headers = dict(self.headers or {})
        if self.send_as_json:
            body = json.dumps(send).encode("utf-8")
            headers.setdefault("Content-Type", "application/json")
        else:
            body = urllib.parse.urlencode({self.field: json.dumps(send)}).encode("utf-8")
            headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
        req = urllib.request.Request(self.root + self.path, data=body, headers=headers,
                                     method="POST")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                resp.read()
        except (urllib.error.URLError, OSError, ValueError) as e:
            warnings.warn(f"[RemoteMonitor] could not reach RemoteMonitor root server at "
                          f"{self.root} ({e})", stacklevel=2)
