"""`Progbar`: the Keras progress bar.

verbose=1 redraws one line in place (`\\r`) when stdout is a terminal (throttled to `interval`
seconds) and prints plain lines otherwise; verbose=2 prints one line when the target is reached.
"""
import os
import sys
import time

import numpy as np

__all__ = ["Progbar", "enable_interactive_logging", "disable_interactive_logging",
           "is_interactive_logging_enabled"]

_INTERACTIVE = {"enabled": True}


def enable_interactive_logging():
    """Progress output goes to stdout (the default)."""
    _INTERACTIVE["enabled"] = True


def disable_interactive_logging():
    """Progress output goes to the `nabi.keras` logger (INFO) instead of stdout, as Keras
    sends it to absl logging."""
    _INTERACTIVE["enabled"] = False


def is_interactive_logging_enabled():
    return _INTERACTIVE["enabled"]


def _is_dynamic():
    out = sys.stdout
    try:
        isatty = out.isatty()
    except (AttributeError, ValueError):
        isatty = False
    return isatty or "ipykernel" in sys.modules or "posix" in os.environ.get("NABI_PROGBAR", "")


def _fmt_value(v):
    if isinstance(v, (list, tuple, np.ndarray)):
        v = float(np.mean(v))
    try:
        v = float(v)
    except (TypeError, ValueError):
        return f" {v}"
    if abs(v) > 1e-3 or v == 0.0:
        return f" {v:.4f}"
    return f" {v:.4e}"


def _fmt_time_per_unit(t, unit_name="step"):
    if t >= 1 or t == 0:
        return f" {t:.0f}s/{unit_name}"
    if t >= 1e-3:
        return f" {t * 1e3:.0f}ms/{unit_name}"
    return f" {t * 1e6:.0f}us/{unit_name}"


class Progbar:
    """Displays a progress bar.

    Args:
        target: total number of steps expected, None if unknown.
        width: progress bar width on screen.
        verbose: 0 (silent), 1 (bar), 2 (one line at the end).
        stateful_metrics: names of metrics shown as given (not averaged over steps).
        interval: minimum visual progress update interval (seconds).
        unit_name: display name for step counts ("step", "sample").
    """

    def __init__(self, target, width=30, verbose=1, interval=0.05, stateful_metrics=None,
                 unit_name="step"):
        self.target = target
        self.width = width
        self.verbose = verbose
        self.interval = interval
        self.unit_name = unit_name
        self.stateful_metrics = set(stateful_metrics) if stateful_metrics else set()
        self._dynamic_display = _is_dynamic()
        self._total_width = 0
        self._seen_so_far = 0
        self._values = {}
        self._values_order = []
        self._start = time.time()
        self._last_update = 0.0
        self._time_at_epoch_start = self._start
        self._time_after_first_step = None

    def _write(self, s):
        if not _INTERACTIVE["enabled"]:
            msg = s.replace("\b", "").strip("\r\n")
            if msg.strip():
                import logging
                logging.getLogger("nabi.keras").info(msg)
            return
        sys.stdout.write(s)
        sys.stdout.flush()

    def due(self):
        """Whether an update now, before the target, would redraw (verbose=1 redraws at most
        every `interval` seconds; verbose=2 only at the target)."""
        return self.verbose == 1 and time.time() - self._last_update >= self.interval

    def update(self, current, values=None, finalize=None):
        if finalize is None:
            finalize = self.target is not None and current >= self.target
        values = values or []
        for k, v in values:
            if k not in self._values_order:
                self._values_order.append(k)
            if k not in self.stateful_metrics:
                value_base = max(current - self._seen_so_far, 1)
                if k not in self._values:
                    self._values[k] = [v * value_base, value_base]
                else:
                    self._values[k][0] += v * value_base
                    self._values[k][1] += value_base
            else:
                self._values[k] = [v, 1]
        self._seen_so_far = current

        now = time.time()
        info = f" - {now - self._start:.0f}s"
        if current == 1:
            self._time_after_first_step = now
        if self.verbose == 1:
            if now - self._last_update < self.interval and not finalize:
                return
            prev_total_width = self._total_width
            if self._dynamic_display:
                bar = "\b" * prev_total_width + "\r"
            else:
                bar = "\n" if self._last_update and prev_total_width else ""
            if self.target is not None:
                numdigits = int(np.log10(self.target)) + 1 if self.target > 0 else 1
                bar += ("%" + str(numdigits) + "d/%d [") % (current, self.target)
                prog = float(current) / self.target if self.target else 1.0
                prog_width = int(self.width * prog)
                if prog_width > 0:
                    bar += "=" * (prog_width - 1)
                    bar += ">" if current < self.target else "="
                bar += "." * (self.width - prog_width)
                bar += "]"
            else:
                bar += f"{current:7d}/Unknown"
            self._total_width = len(bar)
            time_per_unit = self._estimate_step_duration(current, now)
            if self.target is None or finalize:
                info += _fmt_time_per_unit(time_per_unit, self.unit_name)
            else:
                eta = time_per_unit * (self.target - current)
                if eta > 3600:
                    eta_format = f"{eta // 3600:.0f}:{(eta % 3600) // 60:02.0f}:{eta % 60:02.0f}"
                elif eta > 60:
                    eta_format = f"{eta // 60:.0f}:{eta % 60:02.0f}"
                else:
                    eta_format = f"{eta:.0f}s"
                info = f" - ETA: {eta_format}"
            for k in self._values_order:
                info += f" - {k}:"
                avg = self._values[k][0] / max(1, self._values[k][1])
                info += _fmt_value(avg)
            self._total_width += len(info)
            if prev_total_width > self._total_width and self._dynamic_display:
                info += " " * (prev_total_width - self._total_width)
            if finalize:
                info += "\n"
            self._write(bar + info)
        elif self.verbose == 2:
            if finalize:
                numdigits = int(np.log10(self.target)) + 1 if self.target else 1
                count = ("%" + str(numdigits) + "d/%d") % (current, self.target) \
                    if self.target is not None else f"{current}"
                info = count + info
                for k in self._values_order:
                    info += f" - {k}:"
                    avg = self._values[k][0] / max(1, self._values[k][1])
                    info += _fmt_value(avg)
                time_per_unit = self._estimate_step_duration(current, now)
                info += f" - {now - self._start:.0f}s/epoch -" + \
                    _fmt_time_per_unit(time_per_unit, self.unit_name)
                info += "\n"
                self._write(info)
        self._last_update = now

    def add(self, n, values=None):
        self.update(self._seen_so_far + n, values)

    def _estimate_step_duration(self, current, now):
        if current:
            if self._time_after_first_step is not None and current > 1:
                return (now - self._time_after_first_step) / (current - 1)
            return (now - self._start) / current
        return 0.0
