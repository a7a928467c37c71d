"""What the ImageNet applications share: input-shape checks, `preprocess_input` (the 'caffe',
'tf' and 'torch' modes), `decode_predictions`, and finding Keras's files (weights, the class
index) locally or downloading them.

File lookup for a Keras file `<fname>` (a weights file such as
`mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5`, or
`imagenet_class_index.json`), in order:

1. `$NABI_DATASETS/models/`, then `$NABI_DATASETS/`;
2. Keras's caches `~/.keras/models/` and `~/.keras/datasets/` (`$KERAS_HOME/...`), so files
   that Keras downloaded before are reused;
3. nabi's cache `~/.nabi/models/` (`$NABI_HOME/models/`);
4. a download from Keras's storage URL into nabi's cache (checked against Keras's md5 where
   Keras publishes one). Offline, `FileNotFoundError` names the file, the paths searched and how
   to provide it.
"""
import json
import os
import warnings

import numpy as np

from ..datasets import _fetch

__all__ = ["preprocess_input", "decode_predictions", "obtain_input_shape", "correct_pad",
           "validate_activation", "PREPROCESS_INPUT_DOC"]

CLASS_INDEX_URL = ("https://storage.googleapis.com/download.tensorflow.org/data/"
                   "imagenet_class_index.json")
CLASS_INDEX_MD5 = "c2c37ea517e94d9795004a39431a14cb"
_CLASS_INDEX = None  # {"0": ["n01440764", "tench"], ...}, read once

PREPROCESS_INPUT_DOC = """Preprocesses a batch of images for {model} (mode '{mode}').

    Args:
      x: a float or uint8 NumPy array, a nabi Tensor or a symbolic KerasTensor of 3 or 4
        dimensions, RGB channels last, values in [0, 255].
      data_format: only 'channels_last' (or None).

    Returns:
      The preprocessed input, same type ({ret}). NumPy input is not modified in place (Keras
      writes over a float NumPy input).
"""
_RET = {"caffe": "channels reversed to BGR and the ImageNet mean pixel subtracted, no scaling",
        "tf": "scaled to [-1, 1]", "torch": "scaled to [0, 1] and normalised with ImageNet's "
        "per-channel mean and standard deviation"}


# --------------------------------------------------------------------------------------------
# Files

def _keras_home():
    return os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")


def search_dirs():
    """The directories searched for Keras's application files, in order."""
    dirs = []
    root = os.environ.get(_fetch.ENV_VAR)
    if root:
        dirs += [os.path.join(root, "models"), root]
    dirs += [os.path.join(_keras_home(), "models"), os.path.join(_keras_home(), "datasets"),
             os.path.join(_fetch.nabi_home(), "models")]
    return dirs


def get_keras_file(fname, url, file_hash=None, who="applications", what="file"):
    """The local path of Keras's file `fname`: found in `search_dirs()`, else downloaded from
    `url` into nabi's cache; offline, a FileNotFoundError naming the file and the paths."""
    tried = []
    for d in search_dirs():
        p = os.path.join(d, fname)
        if os.path.isfile(p):
            return p
        tried.append(p)
    target = os.path.join(_fetch.nabi_home(), "models")
    try:
        return _fetch.fetch(fname, target, [url], None, **_fetch._digest_kwargs(file_hash))
    except OSError as e:
        error = str(e)
    where = "\n".join(f"  {p}" for p in tried)
    raise FileNotFoundError(
        f"[{who}] the {what} {fname!r} is not available locally and downloading it failed "
        f"(offline?). Looked for:\n{where}\nDownloading {url} failed: {error}\n"
        f"Download it on a machine that is online (from {url}) and put it in "
        f"{os.path.join(_keras_home(), 'models')} (or in <DIR>/models/ with "
        f"{_fetch.ENV_VAR}=<DIR>), or pass weights=<path of the file>.")


def load_model_weights(model, path, who):
    """Loads a Keras weights file into an application model by layer name (so that a file
    written by Keras loads whatever the order of layers), after checking that every layer with
    weights has its counterpart in the file."""
    from ..saving import _common as C
    from ..saving import saving_api
    if C.file_kind(path) == "hdf5":
        h5py = C.h5py()
        with h5py.File(path, "r") as f:
            g = f["model_weights"] if "model_weights" in f else f
            names = g.attrs.get("layer_names")
            if names is not None:
                have = {n.decode("utf8") if isinstance(n, bytes) else str(n) for n in names}
                missing = [layer.name for layer in model.layers
                           if C.layer_weights(layer) and layer.name not in have]
                if missing:
                    raise ValueError(
                        f"[{who}] the weights file {path} does not fit the model "
                        f"'{model.name}': it has no weights for the layers "
                        f"{missing[:5]}{' ...' if len(missing) > 5 else ''} "
                        f"({len(missing)} layers). Was it saved for another architecture, "
                        "alpha, or include_top?")
                saving_api.load_weights(model, path, by_name=True)
                return
    model.load_weights(path)


def pool_features(x, pooling, named=True):
    """Keras's `pooling` argument of a base without its top: global 'avg' or 'max' pooling of
    the last feature map, or the feature map itself (None). Keras names the pooling layers
    avg_pool/max_pool in some applications and leaves them unnamed in others (`named`)."""
    from .. import layers
    if pooling == "avg":
        return layers.GlobalAveragePooling2D(name="avg_pool" if named else None)(x)
    if pooling == "max":
        return layers.GlobalMaxPooling2D(name="max_pool" if named else None)(x)
    return x


def load_weights(model, weights, imagenet_file, who, by_name=True):
    """The `weights` argument of every application: 'imagenet' loads Keras's file, given as
    `imagenet_file()` -> (file name, url, md5 or None) and found in the local caches or else
    downloaded; a path loads that file; None keeps the fresh initialisation. Files load by
    layer name (`load_model_weights`), or in layer order where some of Keras's layers carry
    no fixed names (by_name=False)."""
    if weights is None:
        return model
    path = weights
    if weights == "imagenet":
        fname, url, file_hash = imagenet_file()
        path = get_keras_file(fname, url, file_hash, who=who, what="weights file")
    if by_name:
        load_model_weights(model, path, who)
    else:
        model.load_weights(path)
    return model


def check_weights_arg(weights, include_top, classes, who):
    """Keras's checks of `weights` and `classes`, shared by every application."""
    if not (weights in {"imagenet", None} or
            (isinstance(weights, (str, os.PathLike)) and os.path.exists(weights))):
        raise ValueError("The `weights` argument should be either `None` (random "
                         "initialization), `imagenet` (pre-training on ImageNet), or the path "
                         f"to the weights file to be loaded. [{who}] Received: "
                         f"weights={weights!r}")
    if weights == "imagenet" and include_top and classes != 1000:
        raise ValueError('If using `weights="imagenet"` with `include_top=True`, `classes` '
                         f"should be 1000. [{who}] Received: classes={classes}")


def check_pooling(pooling, who):
    if pooling not in (None, "avg", "max"):
        raise ValueError(f"[{who}] `pooling` should be None, 'avg' or 'max'. Received: "
                         f"pooling={pooling!r}")


# --------------------------------------------------------------------------------------------
# Shapes

def obtain_input_shape(input_shape, default_size, min_size, data_format, require_flatten,
                       weights=None):
    """Keras's `obtain_input_shape`: checks `input_shape` (H, W, C) against the model's
    minimum size and the needs of ImageNet weights; returns the shape to build with."""
    if data_format not in (None, "channels_last"):
        raise ValueError("nabi's applications support data_format='channels_last' only. "
                         f"Received: data_format={data_format!r}")
    if input_shape is not None:
        input_shape = tuple(None if d is None else int(d) for d in input_shape)
    if weights != "imagenet" and input_shape and len(input_shape) == 3:
        if input_shape[-1] not in {1, 3}:
            warnings.warn("This model usually expects 1 or 3 input channels. However, it was "
                          f"passed an input_shape with {input_shape[-1]} input channels.",
                          stacklevel=3)
        default_shape = (default_size, default_size, input_shape[-1])
    else:
        default_shape = (default_size, default_size, 3)
    if weights == "imagenet" and require_flatten:
        if input_shape is not None and input_shape != default_shape:
            raise ValueError("When setting `include_top=True` and loading `imagenet` weights, "
                             f"`input_shape` should be {default_shape}. Received: "
                             f"input_shape={input_shape}")
        return default_shape
    if input_shape:
        if len(input_shape) != 3:
            raise ValueError("`input_shape` must be a tuple of three integers. Received: "
                             f"input_shape={input_shape}")
        if input_shape[-1] != 3 and weights == "imagenet":
            raise ValueError(f"The input must have 3 channels; Received `input_shape="
                             f"{input_shape}`")
        if ((input_shape[0] is not None and input_shape[0] < min_size) or
                (input_shape[1] is not None and input_shape[1] < min_size)):
            raise ValueError(f"Input size must be at least {min_size}x{min_size}; Received: "
                             f"input_shape={input_shape}")
    else:
        input_shape = default_shape if require_flatten else (None, None, 3)
    if require_flatten and None in input_shape:
        raise ValueError("If `include_top` is True, you should specify a static `input_shape`. "
                         f"Received: input_shape={input_shape}")
    return input_shape


def image_input(input_tensor, input_shape):
    """The model's input: a new `Input(shape=input_shape)`, or `input_tensor` when it is a
    KerasTensor (a value tensor is wrapped by `Input(tensor=...)`)."""
    from .. import backend, layers
    if input_tensor is None:
        return layers.Input(shape=input_shape)
    if backend.is_keras_tensor(input_tensor):
        return input_tensor
    return layers.Input(tensor=input_tensor, shape=input_shape)


def source_inputs(input_tensor, img_input):
    """The model's inputs: the Input layers that `input_tensor` derives from, else `img_input`."""
    if input_tensor is None:
        return img_input
    from .. import backend
    if not backend.is_keras_tensor(input_tensor):
        return img_input
    out, seen, stack = [], set(), [input_tensor]
    while stack:
        t = stack.pop()
        hist = getattr(t, "_keras_history", None)
        if hist is None:
            continue
        layer, index, _ = hist
        node = layer._inbound_nodes[index]
        if not node.input_tensors:  # an InputLayer
            if id(t) not in seen:
                seen.add(id(t))
                out.append(t)
            continue
        stack.extend(reversed(node.input_tensors))
    return out[0] if len(out) == 1 else out


def correct_pad(inputs, kernel_size):
    """The ((top, bottom), (left, right)) zero padding before a stride-2 'valid' convolution
    that gives 'same'-like output (Keras's `correct_pad`, channels last)."""
    from .. import backend
    size = backend.int_shape(inputs)[1:3]
    if isinstance(kernel_size, int):
        kernel_size = (kernel_size, kernel_size)
    adjust = (1, 1) if size[0] is None else (1 - size[0] % 2, 1 - size[1] % 2)
    correct = (kernel_size[0] // 2, kernel_size[1] // 2)
    return ((correct[0] - adjust[0], correct[0]), (correct[1] - adjust[1], correct[1]))


def validate_activation(classifier_activation, weights):
    """Pretrained heads allow only softmax or no activation (Keras's rule)."""
    if weights is None:
        return
    from .. import activations
    act = activations.get(classifier_activation)
    if act not in {activations.get("softmax"), activations.get(None)}:
        raise ValueError("Only `None` and `softmax` activations are allowed for the "
                         "`classifier_activation` argument when using pretrained weights, with "
                         f"`include_top=True`; Received: "
                         f"classifier_activation={classifier_activation!r}")


# --------------------------------------------------------------------------------------------
# preprocess_input / decode_predictions

_CAFFE_MEAN = (103.939, 116.779, 123.68)  # BGR
_TORCH_MEAN = (0.485, 0.456, 0.406)
_TORCH_STD = (0.229, 0.224, 0.225)


def _preprocess_numpy(x, mode):
    if np.issubdtype(x.dtype, np.floating):
        x = x.copy()
    else:
        x = x.astype("float32")
    if mode == "tf":
        x /= 127.5
        x -= 1.0
        return x
    if mode == "torch":
        x /= 255.0
        return (x - np.asarray(_TORCH_MEAN, x.dtype)) / np.asarray(_TORCH_STD, x.dtype)
    x = x[..., ::-1]
    return x - np.asarray(_CAFFE_MEAN, x.dtype)


def _preprocess_tensor(x, mode):
    import nabi
    if mode == "tf":
        return x / 127.5 - 1.0
    if mode == "torch":
        return (x / 255.0 - nabi.constant(np.asarray(_TORCH_MEAN, "float32"))) / \
            nabi.constant(np.asarray(_TORCH_STD, "float32"))
    return x[..., ::-1] - nabi.constant(np.asarray(_CAFFE_MEAN, "float32"))


def preprocess_input(x, data_format=None, mode="caffe"):
    """ImageNet preprocessing. mode 'caffe': RGB -> BGR, minus the mean pixel (VGG, ResNet);
    'tf': scale to [-1, 1] (MobileNet, MobileNetV2); 'torch': scale to [0, 1], then
    per-channel standardisation (DenseNet)."""
    if mode not in {"caffe", "tf", "torch"}:
        raise ValueError("Expected mode to be one of `caffe`, `tf` or `torch`. "
                         f"Received: mode={mode!r}")
    if data_format not in (None, "channels_last"):
        raise ValueError("[preprocess_input] only data_format='channels_last' is supported. "
                         f"Received: data_format={data_format!r}")
    from .. import backend
    from ...framework.tensor import Tensor
    if backend.is_keras_tensor(x):
        return x._op(lambda t: _preprocess_tensor(t, mode), None, "preprocess_input")
    if isinstance(x, Tensor):
        import nabi
        if not x.dtype.is_floating:
            x = nabi.cast(x, "float32")
        return _preprocess_tensor(x, mode)
    x = np.asarray(x)
    if x.ndim < 1 or x.shape[-1] != 3:
        if mode != "tf":
            raise ValueError("[preprocess_input] expects RGB images with 3 channels last; "
                             f"Received: input of shape {x.shape}")
    return _preprocess_numpy(x, mode)


def _class_index():
    global _CLASS_INDEX
    if _CLASS_INDEX is None:
        path = get_keras_file("imagenet_class_index.json", CLASS_INDEX_URL, CLASS_INDEX_MD5,
                              who="decode_predictions", what="ImageNet class index")
        with open(path, encoding="utf8") as f:
            _CLASS_INDEX = json.load(f)
    return _CLASS_INDEX


def decode_predictions(preds, top=5):
    """The `top` ImageNet classes of each row of `preds` (samples, 1000), as lists of
    (class_name, class_description, score), best first."""
    from ...framework.tensor import Tensor
    if isinstance(preds, Tensor):
        preds = preds.numpy()
    preds = np.asarray(preds)
    if preds.ndim != 2 or preds.shape[1] != 1000:
        raise ValueError("`decode_predictions` expects a batch of predictions (i.e. a 2D array "
                         f"of shape (samples, 1000)). Received array with shape: {preds.shape}")
    index = _class_index()
    results = []
    for pred in preds:
        top_indices = np.argsort(pred, kind="stable")[-top:][::-1]
        result = [tuple(index[str(int(i))]) + (pred[i],) for i in top_indices]
        result.sort(key=lambda r: r[2], reverse=True)
        results.append(result)
    return results
