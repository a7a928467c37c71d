"""Shared pieces of the keras.applications tests: an offline environment (no downloads,
empty caches), each big model built once per test module, and parameter counts."""
import numpy as np


def offline(monkeypatch, tmp_path):
    """No network, and empty caches: every lookup sees only what a test puts there."""
    from nabi.keras.applications import imagenet_utils
    from nabi.keras.datasets import _fetch

    def no_network(url, dest, timeout=60):
        raise OSError(f"network disabled in tests ({url})")

    monkeypatch.setattr(_fetch, "_download", no_network)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    monkeypatch.setenv("NABI_HOME", str(tmp_path / "nabi_home"))
    monkeypatch.delenv("NABI_DATASETS", raising=False)
    monkeypatch.setattr(imagenet_utils, "_CLASS_INDEX", None)


CACHE = {}


def built(fn, shape, include_top=True, **kw):
    """Each big model built once per test module (weights=None); the module clears CACHE."""
    key = (fn.__name__, shape, include_top, tuple(sorted(kw.items())))
    if key not in CACHE:
        CACHE[key] = fn(weights=None, input_shape=shape, include_top=include_top, **kw)
    return CACHE[key]


def counts(model):
    """(total, non-trainable) parameter counts."""
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    frozen = sum(int(np.prod(w.shape)) for w in model.non_trainable_weights)
    return trainable + frozen, frozen
