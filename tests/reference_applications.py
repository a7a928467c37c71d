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


# ------------------------------------------------------------------------------------------
# NumPy forwards of the applications' building blocks (float64), from a model's own weights

def np_conv(x, w, b=None, stride=1, padding="same"):
    """Keras Conv2D: x (N, H, W, C), w (KH, KW, C, F); "same" pads as TF does."""
    import reference_conv as rc
    if padding == "same":
        pads = rc.same_pads(x.shape[1], w.shape[0], stride) + \
            rc.same_pads(x.shape[2], w.shape[1], stride)
    else:
        pads = (0, 0, 0, 0)
    y = rc.conv2d(x.astype(np.float64), w.astype(np.float64), (stride, stride), pads=pads)
    return y if b is None else y + b


def np_depthwise(x, w, stride=1, padding="same"):
    """Keras DepthwiseConv2D: x (N, H, W, C), w (KH, KW, C, 1), each channel its own filter."""
    import reference_conv as rc
    KH, KW = w.shape[:2]
    if padding == "same":
        (t, bt) = rc.same_pads(x.shape[1], KH, stride)
        (l, r) = rc.same_pads(x.shape[2], KW, stride)
    else:
        t = bt = l = r = 0
    xp = np.pad(x.astype(np.float64), ((0, 0), (t, bt), (l, r), (0, 0)))
    OH = (xp.shape[1] - KH) // stride + 1
    OW = (xp.shape[2] - KW) // stride + 1
    y = np.zeros((x.shape[0], OH, OW, x.shape[3]))
    for i in range(KH):
        for j in range(KW):
            y += xp[:, i:i + (OH - 1) * stride + 1:stride, j:j + (OW - 1) * stride + 1:stride,
                    :] * w[i, j, :, 0]
    return y


def np_bn(x, layer):
    """BatchNormalization in inference mode, from the layer's weights (scale=False too)."""
    w = layer.get_weights()
    if layer.scale:
        g, b, mean, var = w
    else:
        (b, mean, var), g = w, 1.0
    return (x - mean) / np.sqrt(var + layer.epsilon) * g + b


def sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


def swish(v):
    return v * sigmoid(v)


def hard_sigmoid(v):
    return np.clip(v + 3.0, 0.0, 6.0) / 6.0


def hard_swish(v):
    return v * hard_sigmoid(v)


def randomize_bn(model, rng):
    """Non-trivial BatchNormalization statistics, so that the forward checks see them."""
    from nabi import keras
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            c = layer.get_weights()[-1].shape[0]
            new = [rng.normal(0, 0.2, c), rng.normal(0, 0.2, c), rng.uniform(0.5, 2.0, c)]
            if layer.scale:
                new = [rng.uniform(0.5, 1.5, c)] + new
            layer.set_weights(new)


def outputs_of(model, names, x):
    """The outputs of the named layers of a functional model for input x, as a list."""
    from nabi import keras
    sub = keras.Model(model.inputs, [model.get_layer(n).output for n in names])
    out = sub.predict(x, verbose=0)
    return out if isinstance(out, list) else [out]
