"""`tf.logging` (TF1), on Python's logging."""
import logging as _logging

_log = _logging.getLogger("nabi.compat.v1")
DEBUG, INFO, WARN, ERROR, FATAL = (_logging.DEBUG, _logging.INFO, _logging.WARNING,
                                   _logging.ERROR, _logging.CRITICAL)
WARNING = WARN


def set_verbosity(v):
    _log.setLevel(v)


def get_verbosity():
    return _log.level


def debug(msg, *a):
    _log.debug(msg, *a)


def info(msg, *a):
    _log.info(msg, *a)


def warning(msg, *a):
    _log.warning(msg, *a)


warn = warning


def error(msg, *a):
    _log.error(msg, *a)


def fatal(msg, *a):
    _log.critical(msg, *a)
