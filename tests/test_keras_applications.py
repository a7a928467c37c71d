"""keras.applications: architectures (parameter counts published by Keras, landmark layer
names), forwards against NumPy references built from the models' own weights, loading weight
files written by hand in Keras 2's HDF5 layout, preprocess_input / decode_predictions, the
argument checks, and fine-tuning a frozen base. No test touches the network."""
import json
import os

import numpy as np
import pytest
import reference_applications as ra
from reference_applications import np_bn, np_conv, np_depthwise, outputs_of, randomize_bn
import reference_conv as rc

import nabi as tf
from nabi import keras
from nabi.keras.applications import imagenet_utils

A = keras.applications
RNG = np.random.default_rng(0)


@pytest.fixture(autouse=True)
def _offline(monkeypatch, tmp_path):
    ra.offline(monkeypatch, tmp_path)


counts = ra.counts


# ------------------------------------------------------------------------------------------
# Architectures: Keras's published parameter counts (model.summary() of Keras 2.15)

@pytest.mark.parametrize("fn,total,frozen,name,landmarks", [
    (A.MobileNetV2, 3_538_984, 34_112, "mobilenetv2_1.00_224",
     ["Conv1", "expanded_conv_project_BN", "block_16_project_BN", "out_relu", "predictions"]),
    (A.MobileNet, 4_253_864, 21_888, "mobilenet_1.00_224",
     ["conv1", "conv_dw_1", "conv_pw_13_relu", "conv_preds", "reshape_2", "predictions"]),
    (A.ResNet50, 25_636_712, 53_120, "resnet50",
     ["conv1_conv", "conv2_block1_0_conv", "conv4_block6_out", "conv5_block3_out", "avg_pool"]),
    (A.DenseNet121, 8_062_504, 83_648, "densenet121",
     ["conv1/conv", "conv2_block6_concat", "pool4_pool", "conv5_block16_concat", "relu"]),
])
def test_parameter_counts_and_layer_names(fn, total, frozen, name, landmarks):
    m = fn(weights=None)
    assert counts(m) == (total, frozen)
    assert m.count_params() == total
    assert m.name == name
    names = [layer.name for layer in m.layers]
    for n in landmarks:
        assert n in names
    assert tuple(m.output_shape) == (None, 1000)
    assert m.get_layer("predictions") is m.layers[-1]


def test_vgg_parameter_counts():
    m = A.VGG16(weights=None)
    assert counts(m) == (138_357_544, 0)
    assert [layer.name for layer in m.layers][-6:] == ["block5_conv3", "block5_pool", "flatten",
                                                         "fc1", "fc2", "predictions"]
    del m
    m = A.VGG19(weights=None, include_top=False)
    # Keras: VGG19 with the top has 143,667,240 parameters, of which the three Dense layers
    # hold 25088*4096+4096 + 4096*4096+4096 + 4096*1000+1000.
    head = 25088 * 4096 + 4096 + 4096 * 4096 + 4096 + 4096 * 1000 + 1000
    assert counts(m) == (143_667_240 - head, 0)
    assert m.get_layer("block5_conv4").kernel.shape == (3, 3, 512, 512)


def test_deeper_resnets_and_alphas():
    assert A.ResNet101(weights=None, include_top=False).count_params() == 44_707_176 - 2_049_000
    m = A.MobileNetV2(weights=None, alpha=0.35, input_shape=(96, 96, 3), include_top=False)
    assert m.name == "mobilenetv2_0.35_96"
    assert m.get_layer("Conv1").kernel.shape == (3, 3, 3, 16)
    assert m.get_layer("block_16_project").kernel.shape == (1, 1, 336, 112)
    assert m.get_layer("Conv_1").kernel.shape == (1, 1, 112, 1280)
    m = A.MobileNetV2(weights=None, alpha=1.4, include_top=False)
    assert m.get_layer("Conv_1").kernel.shape == (1, 1, 448, 1792)
    m = A.MobileNet(weights=None, alpha=0.5, depth_multiplier=2, include_top=False,
                    input_shape=(128, 128, 3))
    assert m.name == "mobilenet_0.50_128"
    assert m.get_layer("conv_dw_13").depthwise_kernel.shape == (3, 3, 512, 2)
    assert m.get_layer("conv_pw_13").kernel.shape == (1, 1, 1024, 512)


@pytest.mark.parametrize("fn,kw,shape,pooling,expect", [
    (A.MobileNetV2, {"alpha": 0.35}, (96, 96, 3), None, (None, 3, 3, 1280)),
    (A.MobileNetV2, {"alpha": 0.35}, (97, 130, 3), None, (None, 4, 5, 1280)),
    (A.MobileNetV2, {"alpha": 0.35}, None, None, (None, None, None, 1280)),
    (A.MobileNetV2, {"alpha": 0.35}, (64, 64, 3), "avg", (None, 1280)),
    (A.MobileNet, {"alpha": 0.25}, (40, 72, 3), None, (None, 1, 2, 256)),
    (A.MobileNet, {"alpha": 0.25}, (32, 32, 3), "max", (None, 256)),
    (A.ResNet50, {}, (33, 33, 3), "max", (None, 2048)),
    (A.VGG16, {}, (48, 64, 3), None, (None, 1, 2, 512)),
])
def test_output_shapes(fn, kw, shape, pooling, expect):
    m = fn(weights=None, include_top=False, input_shape=shape, pooling=pooling, **kw)
    assert tuple(m.output_shape) == expect
    if shape is None:
        # unknown sizes: Keras's correct_pad pads ((0, 1), (0, 1)) before each stride 2
        shape = (64, 48, 3)
        expect = (None, 2, 1, 1280)
    y = m.predict(RNG.uniform(-1, 1, (2,) + shape).astype("float32"), verbose=0)
    assert y.shape == (2,) + tuple(d for d in expect[1:])
    if pooling == "max" and fn is A.ResNet50:
        assert m.layers[-1].name == "max_pool"


def test_include_top_custom_classes_and_input_tensor():
    inp = keras.Input((64, 64, 3))
    m = A.MobileNetV2(weights=None, alpha=0.35, input_tensor=inp, classes=7,
                      classifier_activation=None, include_top=True, input_shape=(64, 64, 3))
    assert m.inputs[0] is inp
    assert tuple(m.output_shape) == (None, 7)
    y = m.predict(RNG.uniform(-1, 1, (3, 64, 64, 3)).astype("float32"), verbose=0)
    assert y.shape == (3, 7) and not np.allclose(y.sum(1), 1.0)  # logits, no softmax
    # an input_tensor computed from an Input: the model's input is that Input (Keras's
    # get_source_inputs)
    scaled = keras.layers.Rescaling(1 / 127.5, offset=-1)(inp)
    m = A.MobileNetV2(weights=None, alpha=0.35, input_tensor=scaled, include_top=False)
    assert m.inputs[0] is inp and tuple(m.output_shape) == (None, 2, 2, 1280)
    m = A.MobileNet(weights=None, alpha=0.25, input_shape=(32, 32, 3), classes=5)
    p = m.predict(RNG.uniform(-1, 1, (2, 32, 32, 3)).astype("float32"), verbose=0)
    np.testing.assert_allclose(p.sum(1), 1.0, rtol=1e-5)


# ------------------------------------------------------------------------------------------
# Forwards against NumPy, from the models' own weights

def test_vgg16_block1_matches_numpy():
    m = A.VGG16(weights=None, include_top=False, input_shape=(34, 36, 3))
    x = RNG.uniform(-50, 150, (2, 34, 36, 3)).astype("float32")
    w1, b1 = m.get_layer("block1_conv1").get_weights()
    w2, b2 = m.get_layer("block1_conv2").get_weights()
    h = np.maximum(np_conv(x, w1, b1), 0)
    h = np.maximum(np_conv(h, w2, b2), 0)
    ref, _ = rc.max_pool(h, (2, 2), (2, 2))
    got = outputs_of(m, ["block1_pool"], x)[0]
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-3 * np.abs(ref).max())
    assert m.predict(x, verbose=0).shape == (2, 1, 1, 512)


def test_resnet50_stem_and_first_block_match_numpy():
    m = A.ResNet50(weights=None, include_top=False, input_shape=(40, 38, 3))
    randomize_bn(m, RNG)
    x = RNG.uniform(-100, 100, (1, 40, 38, 3)).astype("float32")
    L = m.get_layer
    h = np.pad(x, ((0, 0), (3, 3), (3, 3), (0, 0)))
    h = np_conv(h, *L("conv1_conv").get_weights(), stride=2, padding="valid")
    h = np.maximum(np_bn(h, L("conv1_bn")), 0)
    h = np.pad(h, ((0, 0), (1, 1), (1, 1), (0, 0)))
    h, _ = rc.max_pool(h, (3, 3), (2, 2))
    np.testing.assert_allclose(outputs_of(m, ["pool1_pool"], x)[0], h, rtol=1e-4,
                               atol=1e-4 * np.abs(h).max())
    p = "conv2_block1_"
    s = np_bn(np_conv(h, *L(p + "0_conv").get_weights()), L(p + "0_bn"))
    y = np.maximum(np_bn(np_conv(h, *L(p + "1_conv").get_weights()), L(p + "1_bn")), 0)
    y = np.maximum(np_bn(np_conv(y, *L(p + "2_conv").get_weights()), L(p + "2_bn")), 0)
    y = np_bn(np_conv(y, *L(p + "3_conv").get_weights()), L(p + "3_bn"))
    ref = np.maximum(s + y, 0)
    got = outputs_of(m, [p + "out"], x)[0]
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4 * np.abs(ref).max())


def test_mobilenet_v2_first_blocks_match_numpy():
    m = A.MobileNetV2(weights=None, alpha=0.5, include_top=False, input_shape=(33, 34, 3))
    randomize_bn(m, RNG)
    L = m.get_layer
    x = RNG.uniform(-1, 1, (2, 33, 34, 3)).astype("float32")

    def relu6(v):
        return np.clip(v, 0, 6)

    h = relu6(np_bn(np_conv(x, L("Conv1").get_weights()[0], stride=2), L("bn_Conv1")))
    h = relu6(np_bn(np_depthwise(h, L("expanded_conv_depthwise").get_weights()[0]),
                    L("expanded_conv_depthwise_BN")))
    h = np_bn(np_conv(h, L("expanded_conv_project").get_weights()[0]),
              L("expanded_conv_project_BN"))
    np.testing.assert_allclose(outputs_of(m, ["expanded_conv_project_BN"], x)[0], h,
                               rtol=1e-4, atol=1e-4)
    # block 1: stride 2 on a 17x17 map: correct_pad gives ((1, 1), (1, 1)), then 'valid'
    e = relu6(np_bn(np_conv(h, L("block_1_expand").get_weights()[0]), L("block_1_expand_BN")))
    e = np.pad(e, ((0, 0), (1, 1), (1, 1), (0, 0)))
    e = relu6(np_bn(np_depthwise(e, L("block_1_depthwise").get_weights()[0], 2, "valid"),
                    L("block_1_depthwise_BN")))
    b1 = np_bn(np_conv(e, L("block_1_project").get_weights()[0]), L("block_1_project_BN"))
    assert b1.shape == (2, 9, 9, 16)
    np.testing.assert_allclose(outputs_of(m, ["block_1_project_BN"], x)[0], b1, rtol=1e-4,
                               atol=1e-4)
    # block 2 adds its input (same channels, stride 1)
    assert L("block_2_add") is not None


def test_mobilenet_v1_head_matches_numpy():
    m = A.MobileNet(weights=None, alpha=0.25, input_shape=(32, 32, 3), classes=10)
    randomize_bn(m, RNG)
    x = RNG.uniform(-1, 1, (2, 32, 32, 3)).astype("float32")
    feat = outputs_of(m, ["conv_pw_13_relu"], x)[0]
    assert feat.shape == (2, 1, 1, 256)
    w, b = m.get_layer("conv_preds").get_weights()
    logits = feat.mean(axis=(1, 2)) @ w[0, 0] + b
    ref = np.exp(logits - logits.max(1, keepdims=True))
    ref /= ref.sum(1, keepdims=True)
    np.testing.assert_allclose(m.predict(x, verbose=0), ref, rtol=1e-4, atol=1e-6)
    # the first strided depthwise block pads bottom/right only
    L = m.get_layer
    h = np.clip(np_bn(np_conv(x, L("conv1").get_weights()[0], stride=2), L("conv1_bn")), 0, 6)
    h = np.clip(np_bn(np_depthwise(h, L("conv_dw_1").get_weights()[0]), L("conv_dw_1_bn")), 0, 6)
    h = np.clip(np_bn(np_conv(h, L("conv_pw_1").get_weights()[0]), L("conv_pw_1_bn")), 0, 6)
    h = np.pad(h, ((0, 0), (0, 1), (0, 1), (0, 0)))
    h = np_depthwise(h, L("conv_dw_2").get_weights()[0], 2, "valid")
    np.testing.assert_allclose(outputs_of(m, ["conv_dw_2"], x)[0], h, rtol=1e-4, atol=1e-4)


# ------------------------------------------------------------------------------------------
# Weight files in Keras 2's weights-only HDF5 layout, written by hand with h5py

def _keras_weight_names(layer):
    """What Keras 2 calls a layer's weights in an h5 file (`<layer>/<weight>:0`)."""
    if isinstance(layer, keras.layers.BatchNormalization):
        kinds = ["gamma", "beta", "moving_mean", "moving_variance"]
    elif isinstance(layer, keras.layers.DepthwiseConv2D):
        kinds = ["depthwise_kernel"] + (["bias"] if layer.use_bias else [])
    else:
        kinds = ["kernel"] + (["bias"] if getattr(layer, "use_bias", False) else [])
    return [f"{layer.name}/{k}:0" for k in kinds]


def write_keras_h5(path, model, rng, shuffle=True):
    """A file as Keras 2's `save_weights('x.h5')` writes it: root attrs layer_names,
    backend, keras_version; one group per layer with attr weight_names (empty for layers
    without weights) and the arrays under their names. Returns {weight name: array}."""
    import h5py
    names = [layer.name for layer in model.layers]
    order = list(rng.permutation(len(names))) if shuffle else list(range(len(names)))
    arrays = {}
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = np.array([names[i].encode() for i in order], dtype="S")
        f.attrs["backend"] = b"tensorflow"
        f.attrs["keras_version"] = b"2.15.0"
        for i in order:
            layer = model.layers[i]
            g = f.create_group(layer.name)
            shapes = [tuple(w.shape) for w in layer.weights]
            wnames = _keras_weight_names(layer) if shapes else []
            g.attrs["weight_names"] = np.array([n.encode() for n in wnames], dtype="S")
            for n, shp in zip(wnames, shapes):
                a = rng.normal(0, 0.1, shp).astype("float32")
                if "variance" in n:
                    a = np.abs(a) + 0.5
                g.create_dataset(n, data=a)
                arrays[n] = a
    return arrays


def _check_loaded(model, arrays):
    for layer in model.layers:
        for n, w in zip(_keras_weight_names(layer), layer.get_weights()):
            np.testing.assert_array_equal(w, arrays[n])


def test_weights_path_loads_a_keras2_h5(tmp_path):
    pytest.importorskip("h5py")
    ref = A.MobileNet(weights=None, alpha=0.25, include_top=False, input_shape=(32, 32, 3))
    path = str(tmp_path / "mobilenet_weights.h5")
    arrays = write_keras_h5(path, ref, np.random.default_rng(1))
    m = A.MobileNet(weights=path, alpha=0.25, include_top=False, input_shape=(32, 32, 3))
    _check_loaded(m, arrays)
    # and the forward uses them: first conv against NumPy
    x = RNG.uniform(-1, 1, (1, 32, 32, 3)).astype("float32")
    k = arrays["conv1/kernel:0"]
    np.testing.assert_allclose(outputs_of(m, ["conv1"], x)[0], np_conv(x, k, stride=2),
                               rtol=1e-4, atol=1e-5)


def test_resnet_shortcut_weights_load_by_name(tmp_path):
    """conv2_block1_0_conv and conv2_block1_3_conv have the same shape: they must be matched
    by name, not by position."""
    pytest.importorskip("h5py")
    ref = A.ResNet50(weights=None, include_top=False, input_shape=(32, 32, 3))
    path = str(tmp_path / "r.h5")
    arrays = write_keras_h5(path, ref, np.random.default_rng(2))
    del ref
    m = A.ResNet50(weights=path, include_top=False, input_shape=(32, 32, 3))
    _check_loaded(m, arrays)


def test_imagenet_weights_found_in_keras_cache(tmp_path):
    pytest.importorskip("h5py")
    ref = A.MobileNetV2(weights=None, alpha=0.35, include_top=False, input_shape=(96, 96, 3))
    models_dir = tmp_path / "keras_home" / "models"
    models_dir.mkdir(parents=True)
    fname = "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_96_no_top.h5"
    arrays = write_keras_h5(str(models_dir / fname), ref, np.random.default_rng(3))
    m = A.MobileNetV2(weights="imagenet", alpha=0.35, include_top=False,
                      input_shape=(96, 96, 3))
    _check_loaded(m, arrays)


def test_imagenet_weights_offline_error_names_file_and_paths(tmp_path):
    with pytest.raises(FileNotFoundError) as e:
        A.MobileNetV2(weights="imagenet", alpha=0.35, include_top=False,
                      input_shape=(160, 160, 3))
    msg = str(e.value)
    assert "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_160_no_top.h5" in msg
    assert str(tmp_path / "keras_home" / "models") in msg
    assert "storage.googleapis.com/tensorflow/keras-applications/mobilenet_v2/" in msg
    assert "weights=" in msg
    with pytest.raises(FileNotFoundError, match="resnet50_weights_tf_dim_ordering_tf_kernels"
                                                "_notop.h5"):
        A.ResNet50(weights="imagenet", include_top=False, input_shape=(32, 32, 3))


def test_wrong_weights_file_is_reported(tmp_path):
    pytest.importorskip("h5py")
    other = A.MobileNet(weights=None, alpha=0.25, include_top=False, input_shape=(32, 32, 3))
    path = str(tmp_path / "w.h5")
    write_keras_h5(path, other, np.random.default_rng(4))
    with pytest.raises(ValueError, match="MobileNetV2.*conv1|no weights for the layers"):
        A.MobileNetV2(weights=path, alpha=0.35, include_top=False, input_shape=(32, 32, 3))


def test_nabi_saved_weights_round_trip(tmp_path):
    pytest.importorskip("h5py")
    m = A.DenseNet121(weights=None, include_top=False, input_shape=(32, 32, 3))
    randomize_bn(m, RNG)
    path = str(tmp_path / "d.h5")
    m.save_weights(path)
    m2 = A.DenseNet121(weights=path, include_top=False, input_shape=(32, 32, 3))
    x = RNG.uniform(-1, 1, (1, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(m2.predict(x, verbose=0), m.predict(x, verbose=0), rtol=1e-5,
                               atol=1e-6)


# ------------------------------------------------------------------------------------------
# preprocess_input / decode_predictions

def test_preprocess_input_numpy_formulas():
    x = RNG.uniform(0, 255, (2, 5, 4, 3)).astype("float32")
    keep = x.copy()
    caffe = x[..., ::-1] - np.array([103.939, 116.779, 123.68], "float32")
    for mod in (A.vgg16, A.vgg19, A.resnet, A.resnet50):
        np.testing.assert_allclose(mod.preprocess_input(x), caffe, rtol=1e-6, atol=1e-4)
    for mod in (A.mobilenet, A.mobilenet_v2):
        np.testing.assert_allclose(mod.preprocess_input(x), x / 127.5 - 1, rtol=1e-6,
                                   atol=1e-6)
    torch = (x / 255 - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])
    np.testing.assert_allclose(A.densenet.preprocess_input(x), torch, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(x, keep)
    u8 = RNG.integers(0, 256, (4, 4, 3)).astype("uint8")
    out = A.mobilenet_v2.preprocess_input(u8)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, u8 / 127.5 - 1, atol=1e-6)
    with pytest.raises(ValueError, match="mode"):
        imagenet_utils.preprocess_input(x, mode="bgr")


def test_preprocess_input_tensors_and_keras_tensors():
    x = RNG.uniform(0, 255, (2, 6, 6, 3)).astype("float32")
    caffe = x[..., ::-1] - np.array([103.939, 116.779, 123.68], "float32")
    got = A.resnet50.preprocess_input(tf.constant(x))
    assert isinstance(got, tf.Tensor)
    np.testing.assert_allclose(got.numpy(), caffe, rtol=1e-6, atol=1e-4)
    inp = keras.Input((6, 6, 3))
    model = keras.Model(inp, A.mobilenet_v2.preprocess_input(inp))
    np.testing.assert_allclose(model.predict(x, verbose=0), x / 127.5 - 1, atol=1e-6)


def _fake_class_index(directory):
    index = {str(i): [f"n{i:08d}", f"class_{i}"] for i in range(1000)}
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "imagenet_class_index.json"), "w") as f:
        json.dump(index, f)


def test_decode_predictions_with_local_class_index(tmp_path, monkeypatch):
    _fake_class_index(tmp_path / "data" / "models")
    monkeypatch.setenv("NABI_DATASETS", str(tmp_path / "data"))
    preds = RNG.uniform(0, 1, (2, 1000)).astype("float32")
    preds[0, 17] = 5.0
    preds[1, 999] = 4.0
    preds[1, 3] = 3.0
    out = A.mobilenet_v2.decode_predictions(preds, top=3)
    assert len(out) == 2 and all(len(r) == 3 for r in out)
    assert out[0][0][:2] == ("n00000017", "class_17")
    assert out[1][0][:2] == ("n00000999", "class_999")
    assert out[1][1][:2] == ("n00000003", "class_3")
    for row, p in zip(out, preds):
        best = np.sort(p)[::-1][:3]
        np.testing.assert_allclose([r[2] for r in row], best)
    with pytest.raises(ValueError, match=r"\(samples, 1000\).*\(2, 10\)"):
        A.vgg16.decode_predictions(np.zeros((2, 10)))


def test_decode_predictions_offline_error(tmp_path):
    with pytest.raises(FileNotFoundError) as e:
        A.resnet50.decode_predictions(np.zeros((1, 1000), "float32"))
    msg = str(e.value)
    assert "imagenet_class_index.json" in msg and "decode_predictions" in msg
    assert str(tmp_path / "keras_home" / "models") in msg


# ------------------------------------------------------------------------------------------
# Argument checks (Keras's wording)

def test_argument_errors(tmp_path):
    with pytest.raises(ValueError, match="`weights` argument should be either"):
        A.MobileNetV2(weights="imagenet21k", include_top=False)
    with pytest.raises(ValueError, match="`weights` argument should be either"):
        A.VGG16(weights=str(tmp_path / "missing.h5"))
    with pytest.raises(ValueError, match="`classes` should be 1000.*classes=10"):
        A.ResNet50(weights="imagenet", classes=10)
    with pytest.raises(ValueError, match=r"`input_shape` should be \(224, 224, 3\)"):
        A.VGG16(weights="imagenet", input_shape=(160, 160, 3))
    with pytest.raises(ValueError, match=r"at least 32x32.*\(31, 64, 3\)"):
        A.MobileNetV2(weights=None, include_top=False, input_shape=(31, 64, 3))
    with pytest.raises(ValueError, match="static `input_shape`"):
        A.MobileNet(weights=None, include_top=True, input_shape=(None, None, 3))
    with pytest.raises(ValueError, match="3 channels"):
        A.ResNet50(weights="imagenet", include_top=False, input_shape=(64, 64, 1))
    with pytest.raises(ValueError, match="three integers"):
        A.VGG19(weights=None, include_top=False, input_shape=(64, 64))
    with pytest.raises(ValueError, match="alpha must be one of"):
        A.MobileNetV2(weights="imagenet", alpha=0.6, include_top=False)
    with pytest.raises(ValueError, match="depth multiplier must be 1"):
        A.MobileNet(weights="imagenet", depth_multiplier=2, include_top=False)
    with pytest.raises(ValueError, match="classifier_activation"):
        A.MobileNetV2(weights="imagenet", classifier_activation="relu")
    with pytest.raises(ValueError, match="pooling"):
        A.MobileNetV2(weights=None, include_top=False, pooling="mean")


# ------------------------------------------------------------------------------------------
# Transfer learning: a frozen base with a new head

def test_frozen_base_fits_a_new_head():
    base = A.MobileNetV2(input_shape=(32, 32, 3), alpha=0.35, include_top=False, weights=None)
    base.trainable = False
    assert base.trainable_weights == []
    before = [w.copy() for w in base.get_weights()]
    inputs = keras.Input((32, 32, 3))
    x = A.mobilenet_v2.preprocess_input(inputs)
    x = base(x, training=False)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(1)(x)
    model = keras.Model(inputs, outputs)
    assert counts(model)[0] - counts(model)[1] == 1281  # only the head trains
    head_before = [w.copy() for w in model.layers[-1].get_weights()]
    model.compile(optimizer=keras.optimizers.Adam(1e-2),
                  loss=keras.losses.BinaryCrossentropy(from_logits=True))
    data = RNG.uniform(0, 255, (8, 32, 32, 3)).astype("float32")
    labels = RNG.integers(0, 2, (8, 1)).astype("float32")
    hist = model.fit(data, labels, epochs=1, batch_size=8, verbose=0)
    assert np.isfinite(hist.history["loss"][0])
    for a, b in zip(before, base.get_weights()):
        np.testing.assert_array_equal(a, b)
    # (an untrained base's features are tiny; the bias shows the step: Adam moves it by ~lr)
    bias = model.layers[-1].get_weights()[1]
    np.testing.assert_allclose(np.abs(bias - head_before[1]), 1e-2, rtol=1e-3)
