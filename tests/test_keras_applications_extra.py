"""keras.applications, second batch: EfficientNetB0..B7, ResNet50V2/101V2/152V2, InceptionV3,
Xception. Parameter counts against Keras 2.15's published figures (model.summary()), landmark
layer names, output shapes, forwards against NumPy references built from the models' own
weights (random BatchNormalization statistics), Dropout's noise_shape (EfficientNet's
drop-connect), weight files found locally, preprocess_input, argument errors, and fine-tuning
a frozen base. No test touches the network."""
import numpy as np
import pytest
import reference_applications as ra
from reference_applications import (np_bn, np_conv, np_depthwise, outputs_of, randomize_bn,
                                    sigmoid, swish)
import reference_conv as rc

import nabi as tf
from nabi import keras
from nabi.keras.applications import imagenet_utils

A = keras.applications
RNG = np.random.default_rng(7)


@pytest.fixture(autouse=True)
def _offline(monkeypatch, tmp_path):
    ra.offline(monkeypatch, tmp_path)


_CACHE = ra.CACHE
built = ra.built


@pytest.fixture(scope="module", autouse=True)
def _free_cache():
    yield
    _CACHE.clear()


counts = ra.counts


# ------------------------------------------------------------------------------------------
# Architectures: Keras 2.15's published parameter counts (with the top, 1000 classes).
# Counts do not depend on the input size, so the bigger networks are built at 32x32 (or their
# minimum size); EfficientNetB0 is built at its default 224x224.

@pytest.mark.parametrize("fn,shape,total,frozen,name,landmarks", [
    (A.EfficientNetB0, None, 5_330_571, 42_023, "efficientnetb0",
     ["stem_conv", "block1a_se_excite", "block2b_drop", "block6d_add", "block7a_project_bn",
      "top_activation", "top_dropout", "predictions"]),
    (A.EfficientNetB1, (32, 32, 3), 7_856_239, None, "efficientnetb1", ["block7b_add"]),
    (A.EfficientNetB2, (32, 32, 3), 9_177_569, None, "efficientnetb2", ["block7b_add"]),
    (A.EfficientNetB3, (32, 32, 3), 12_320_535, None, "efficientnetb3", ["block6f_add"]),
    (A.EfficientNetB4, (32, 32, 3), 19_466_823, None, "efficientnetb4", ["block6h_add"]),
    (A.EfficientNetB5, (32, 32, 3), 30_562_527, None, "efficientnetb5", ["block6i_add"]),
    (A.EfficientNetB6, (32, 32, 3), 43_265_143, None, "efficientnetb6", ["block6k_add"]),
    (A.EfficientNetB7, (32, 32, 3), 66_658_687, None, "efficientnetb7",
     ["block6m_add", "block7d_add"]),
    (A.ResNet50V2, (32, 32, 3), 25_613_800, 45_440, "resnet50v2",
     ["conv1_conv", "conv2_block1_preact_bn", "conv2_block1_0_conv", "conv4_block6_out",
      "post_bn", "post_relu", "avg_pool"]),
    (A.ResNet101V2, (32, 32, 3), 44_675_560, None, "resnet101v2", ["conv4_block23_out"]),
    (A.ResNet152V2, (32, 32, 3), 60_380_648, None, "resnet152v2",
     ["conv3_block8_out", "conv4_block36_out"]),
    (A.InceptionV3, (75, 75, 3), 23_851_784, 34_432, "inception_v3",
     ["mixed0", "mixed7", "mixed9_0", "mixed9_1", "mixed10", "avg_pool"]),
    (A.Xception, (71, 71, 3), 22_910_480, 54_528, "xception",
     ["block1_conv1", "block2_sepconv2_act", "block12_sepconv3_bn", "block13_pool",
      "block14_sepconv2_act", "avg_pool"]),
])
def test_parameter_counts_and_layer_names(fn, shape, total, frozen, name, landmarks,
                                         monkeypatch):
    if fn.__name__ != "EfficientNetB0":
        # counts do not depend on the values: skip the slow truncated-normal draws
        monkeypatch.setattr(A.efficientnet, "_conv_init", lambda: "zeros")
    m = built(fn, shape)
    got_total, got_frozen = counts(m)
    assert got_total == total
    if frozen is not None:
        assert got_frozen == frozen
    assert m.count_params() == total
    assert m.name == name
    names = [layer.name for layer in m.layers]
    assert len(set(names)) == len(names)
    for n in landmarks:
        assert n in names
    assert tuple(m.output_shape) == (None, 1000)
    assert m.layers[-1].name == "predictions"


def test_efficientnet_layout():
    m = built(A.EfficientNetB0, (32, 32, 3), include_top=False)
    # Keras 2.15: Rescaling(1/255) and Normalization sit in the model, before the stem
    kinds = [type(layer).__name__ for layer in m.layers[:5]]
    assert kinds == ["InputLayer", "Rescaling", "Normalization", "ZeroPadding2D", "Conv2D"]
    assert m.layers[1].scale == pytest.approx(1 / 255)
    assert [tuple(w.shape) for w in m.layers[2].weights] == [(3,), (3,), ()]
    L = m.get_layer
    assert L("stem_conv").kernel.shape == (3, 3, 3, 32)
    names = [layer.name for layer in m.layers]
    assert "block1a_expand_conv" not in names  # expansion 1: no expansion conv
    assert L("block1a_se_reduce").kernel.shape == (1, 1, 32, 8)
    assert L("block1a_se_expand").kernel.shape == (1, 1, 8, 32)
    assert L("block2a_expand_conv").kernel.shape == (1, 1, 16, 96)
    assert L("block2a_dwconv").depthwise_kernel.shape == (3, 3, 96, 1)
    assert L("block3a_dwconv").depthwise_kernel.shape == (5, 5, 144, 1)
    assert L("block7a_project_conv").kernel.shape == (1, 1, 1152, 320)
    assert L("top_conv").kernel.shape == (1, 1, 320, 1280)
    # drop-connect: rate 0.2 * (block index) / 16 blocks, one draw per sample
    assert L("block2b_drop").rate == pytest.approx(0.2 * 2 / 16)
    assert L("block6d_drop").rate == pytest.approx(0.2 * 14 / 16)
    assert tuple(L("block2b_drop").noise_shape) == (None, 1, 1, 1)
    assert L("block1a_project_bn").epsilon == pytest.approx(1e-3)
    # B7 is B0 scaled: width x2, depth x3.1
    m7 = built(A.EfficientNetB7, (32, 32, 3))
    assert m7.get_layer("stem_conv").kernel.shape == (3, 3, 3, 64)
    assert m7.get_layer("top_conv").kernel.shape == (1, 1, 640, 2560)
    names7 = [layer.name for layer in m7.layers]
    assert "block1d_project_bn" in names7 and "block1e_project_bn" not in names7
    assert "block2g_add" in names7 and "block2h_add" not in names7


def test_resnet_v2_inception_xception_layout():
    m = built(A.ResNet50V2, (32, 32, 3))
    L = m.get_layer
    assert L("conv1_conv").use_bias and L("conv1_conv").kernel.shape == (7, 7, 3, 64)
    names = [layer.name for layer in m.layers]
    assert "conv1_bn" not in names  # pre-activation: no BN right after the stem conv
    # the stride sits on the last block of a stage (its 3x3 conv), the shortcut pools 1x1
    assert L("conv2_block3_2_conv").strides == (2, 2)
    assert L("conv2_block1_2_conv").strides == (1, 1)
    assert L("conv5_block3_2_conv").strides == (1, 1)
    assert L("conv2_block1_0_conv").kernel.shape == (1, 1, 64, 256)
    assert L("conv2_block1_3_conv").use_bias and not L("conv2_block1_1_conv").use_bias
    assert names[-4:] == ["post_bn", "post_relu", "avg_pool", "predictions"]
    inc = built(A.InceptionV3, (75, 75, 3))
    bn = inc.layers[2]
    assert isinstance(bn, keras.layers.BatchNormalization) and not bn.scale
    assert [tuple(w.shape) for w in bn.weights] == [(32,), (32,), (32,)]
    assert inc.get_layer("mixed10").output_shape == (None, 1, 1, 2048)
    assert inc.get_layer("mixed9_1").output_shape == (None, 1, 1, 768)
    xc = built(A.Xception, (71, 71, 3))
    sep = xc.get_layer("block14_sepconv2")
    assert sep.depthwise_kernel.shape == (3, 3, 1536, 1)
    assert sep.pointwise_kernel.shape == (1, 1, 1536, 2048)
    assert not sep.use_bias
    assert xc.get_layer("block1_conv1").padding == "valid"


@pytest.mark.parametrize("fn,shape,pooling,expect", [
    (A.EfficientNetB0, (64, 64, 3), None, (None, 2, 2, 1280)),
    # five stride-2 stages with Keras's correct_pad: ceil(n / 2) each time
    (A.EfficientNetB0, (33, 65, 3), None, (None, 2, 3, 1280)),
    (A.EfficientNetB0, None, "avg", (None, 1280)),
    (A.EfficientNetB1, (33, 40, 3), "max", (None, 1280)),
    (A.ResNet50V2, (64, 64, 3), None, (None, 2, 2, 2048)),
    (A.ResNet50V2, (33, 33, 3), "max", (None, 2048)),
    (A.InceptionV3, (75, 75, 3), None, (None, 1, 1, 2048)),
    (A.InceptionV3, (139, 139, 3), "avg", (None, 2048)),
    (A.Xception, (71, 71, 3), None, (None, 3, 3, 2048)),
    (A.Xception, None, "avg", (None, 2048)),
])
def test_output_shapes(fn, shape, pooling, expect):
    m = fn(weights=None, include_top=False, input_shape=shape, pooling=pooling)
    assert tuple(m.output_shape) == expect
    if shape is None:
        shape = (40, 48, 3)
    y = m.predict(RNG.uniform(0, 255, (2,) + shape).astype("float32"), verbose=0)
    assert y.shape == (2,) + tuple(expect[1:])
    assert np.all(np.isfinite(y))


# ------------------------------------------------------------------------------------------
# Forwards against NumPy, from the models' own weights

def np_mbconv(x, model, prefix, stride=1, kernel=3, skip=False):
    """EfficientNet's MBConv block in NumPy from the model's weights (inference)."""
    L = model.get_layer
    names = {layer.name for layer in model.layers}
    h = x
    if prefix + "expand_conv" in names:
        h = swish(np_bn(np_conv(h, L(prefix + "expand_conv").get_weights()[0]),
                        L(prefix + "expand_bn")))
    if stride == 2:
        # Keras's correct_pad: k // 2 on each side, one fewer before for an even size
        k2 = kernel // 2
        (t, b), (l, r) = [(k2 - (1 - n % 2), k2) for n in h.shape[1:3]]
        h = np.pad(h, ((0, 0), (t, b), (l, r), (0, 0)))
        h = np_depthwise(h, L(prefix + "dwconv").get_weights()[0], 2, "valid")
    else:
        h = np_depthwise(h, L(prefix + "dwconv").get_weights()[0])
    h = swish(np_bn(h, L(prefix + "bn")))
    # squeeze and excitation
    s = h.mean(axis=(1, 2), keepdims=True)
    w1, b1 = L(prefix + "se_reduce").get_weights()
    w2, b2 = L(prefix + "se_expand").get_weights()
    s = swish(np.einsum("nhwc,co->nhwo", s, w1[0, 0]) + b1)
    s = sigmoid(np.einsum("nhwc,co->nhwo", s, w2[0, 0]) + b2)
    h = h * s
    h = np_bn(np_conv(h, L(prefix + "project_conv").get_weights()[0]), L(prefix + "project_bn"))
    return h + x if skip else h


def test_efficientnet_b0_stem_and_blocks_match_numpy():
    m = A.EfficientNetB0(weights=None, include_top=False, input_shape=(33, 34, 3))
    randomize_bn(m, RNG)
    norm = m.layers[2]
    mean, var = RNG.uniform(0.3, 0.6, 3), RNG.uniform(0.04, 0.09, 3)
    norm.set_weights([mean, var, np.array(10, "int64")])
    L = m.get_layer
    x = RNG.uniform(0, 255, (2, 33, 34, 3)).astype("float32")
    stem, b1a, b2a, b2b = outputs_of(
        m, ["stem_activation", "block1a_project_bn", "block2a_project_bn", "block2b_add"], x)
    # stem: x / 255, (x - mean) / sqrt(var), correct_pad (odd 33: 1 and 1; even 34: 0 and
    # 1), 3x3 stride 2 'valid'
    h = (x / 255.0 - mean) / np.sqrt(var)
    h = np.pad(h, ((0, 0), (1, 1), (0, 1), (0, 0)))
    h = swish(np_bn(np_conv(h, L("stem_conv").get_weights()[0], stride=2, padding="valid"),
                    L("stem_bn")))
    assert stem.shape == h.shape == (2, 17, 17, 32)
    np.testing.assert_allclose(stem, h, rtol=1e-4, atol=1e-4 * np.abs(h).max())
    # block1a: depthwise 3x3, squeeze-excite (32 -> 8 -> 32), projection to 16, no skip
    ref = np_mbconv(stem.astype(np.float64), m, "block1a_")
    np.testing.assert_allclose(b1a, ref, rtol=1e-4, atol=1e-4 * np.abs(ref).max())
    # block2a: expansion x6, stride 2 on an odd 17x17 map (correct_pad ((1, 1), (1, 1)))
    ref = np_mbconv(b1a.astype(np.float64), m, "block2a_", stride=2)
    assert ref.shape == (2, 9, 9, 24)
    np.testing.assert_allclose(b2a, ref, rtol=1e-4, atol=1e-4 * np.abs(ref).max())
    # block2b: the identity skip (drop-connect is off at inference)
    ref = np_mbconv(b2a.astype(np.float64), m, "block2b_", skip=True)
    np.testing.assert_allclose(b2b, ref, rtol=1e-4, atol=1e-4 * np.abs(ref).max())


def test_inception_v3_first_conv_bn_and_resnet_v2_stem_match_numpy():
    m = A.InceptionV3(weights=None, include_top=False, input_shape=(77, 76, 3))
    randomize_bn(m, RNG)
    conv, bn, act = m.layers[1:4]
    assert isinstance(conv, keras.layers.Conv2D) and isinstance(act, keras.layers.Activation)
    x = RNG.uniform(-1, 1, (2, 77, 76, 3)).astype("float32")
    ref = np.maximum(np_bn(np_conv(x, conv.get_weights()[0], stride=2, padding="valid"), bn), 0)
    (got,) = outputs_of(m, [act.name], x)
    assert got.shape == ref.shape == (2, 38, 37, 32)
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4 * np.abs(ref).max())

    r = A.ResNet50V2(weights=None, include_top=False, input_shape=(36, 34, 3))
    randomize_bn(r, RNG)
    L = r.get_layer
    x = RNG.uniform(-1, 1, (1, 36, 34, 3)).astype("float32")
    pool, out1 = outputs_of(r, ["pool1_pool", "conv2_block1_out"], x)
    h = np.pad(x, ((0, 0), (3, 3), (3, 3), (0, 0)))
    h = np_conv(h, *L("conv1_conv").get_weights(), stride=2, padding="valid")
    h = np.pad(h, ((0, 0), (1, 1), (1, 1), (0, 0)))
    h, _ = rc.max_pool(h, (3, 3), (2, 2))
    np.testing.assert_allclose(pool, h, rtol=1e-4, atol=1e-4 * np.abs(h).max())
    p = "conv2_block1_"
    pre = np.maximum(np_bn(h, L(p + "preact_bn")), 0)
    s = np_conv(pre, *L(p + "0_conv").get_weights())
    y = np.maximum(np_bn(np_conv(pre, L(p + "1_conv").get_weights()[0]), L(p + "1_bn")), 0)
    y = np.maximum(np_bn(np_conv(y, L(p + "2_conv").get_weights()[0]), L(p + "2_bn")), 0)
    ref = s + np_conv(y, *L(p + "3_conv").get_weights())
    np.testing.assert_allclose(out1, ref, rtol=1e-4, atol=1e-4 * np.abs(ref).max())


# ------------------------------------------------------------------------------------------
# Dropout with noise_shape (EfficientNet's drop-connect)

def test_dropout_noise_shape_drops_whole_samples():
    layer = keras.layers.Dropout(0.5, noise_shape=(None, 1, 1, 1), seed=3)
    x = np.ones((64, 3, 4, 5), "float32")
    y = layer(tf.constant(x), training=True).numpy()
    per_sample = y.reshape(64, -1)
    # each sample is all zeros or all 1 / (1 - rate)
    assert np.all((per_sample == 0).all(1) | (per_sample == 2.0).all(1))
    kept = (per_sample == 2.0).all(1).sum()
    assert 10 < kept < 54
    np.testing.assert_array_equal(layer(tf.constant(x), training=False).numpy(), x)
    # channel-shared noise: the mask varies over (N, C) only
    layer = keras.layers.Dropout(0.5, noise_shape=(None, 1, 1, 5), seed=4)
    y = layer(tf.constant(x), training=True).numpy()
    assert np.all(y == y[:, :1, :1, :])
    assert layer.get_config()["noise_shape"] in ((None, 1, 1, 5), [None, 1, 1, 5])
    with pytest.raises(ValueError, match=r"noise_shape=\(None, 2, 1, 1\).*\(64, 3, 4, 5\)"):
        keras.layers.Dropout(0.5, noise_shape=(None, 2, 1, 1))(tf.constant(x), training=True)
    with pytest.raises(ValueError, match="noise_shape"):
        keras.layers.Dropout(0.5, noise_shape=(None, 1, 1))(tf.constant(x), training=True)


def test_efficientnet_drop_connect_in_training():
    m = built(A.EfficientNetB0, (32, 32, 3), include_top=False)
    drop = m.get_layer("block6d_drop")
    x = RNG.normal(0, 1, (200, 1, 1, 192)).astype("float32")
    y = drop(tf.constant(x), training=True).numpy()
    dropped = (y == 0).all(axis=(1, 2, 3))
    np.testing.assert_allclose(y[~dropped], x[~dropped] / (1 - 0.175), rtol=1e-6)
    assert 10 < dropped.sum() < 70  # about 35 of 200


# ------------------------------------------------------------------------------------------
# Weight files

def test_efficientnet_imagenet_file_found_locally(tmp_path):
    """weights='imagenet' takes Keras's file from ~/.keras/models and adds the extra
    Rescaling(1 / sqrt(stddev)) that Keras puts after Normalization for those weights."""
    pytest.importorskip("h5py")
    src = built(A.EfficientNetB0, (32, 32, 3), include_top=False)
    randomize_bn(src, RNG)
    src.layers[2].set_weights([np.array([0.485, 0.456, 0.406]),
                               np.array([0.229, 0.224, 0.225]) ** 2, np.array(5, "int64")])
    models_dir = tmp_path / "keras_home" / "models"
    models_dir.mkdir(parents=True)
    src.save_weights(str(models_dir / "efficientnetb0_notop.h5"))
    m = A.EfficientNetB0(weights="imagenet", include_top=False, input_shape=(32, 32, 3))
    kinds = [type(layer).__name__ for layer in m.layers[:4]]
    assert kinds == ["InputLayer", "Rescaling", "Normalization", "Rescaling"]
    np.testing.assert_allclose(m.layers[3].scale, 1 / np.sqrt([0.229, 0.224, 0.225]),
                               rtol=1e-6)
    for a, b in zip(src.get_weights(), m.get_weights()):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(FileNotFoundError, match="efficientnetb1_notop.h5") as e:
        A.EfficientNetB1(weights="imagenet", include_top=False, input_shape=(32, 32, 3))
    assert "storage.googleapis.com/keras-applications/efficientnetb1_notop.h5" in str(e.value)


def test_unnamed_layers_load_in_order(tmp_path):
    """InceptionV3's layers carry automatic names that differ between two builds: a saved
    file loads in layer order, as Keras loads its InceptionV3 weights."""
    pytest.importorskip("h5py")
    a = built(A.InceptionV3, (75, 75, 3), include_top=False)
    randomize_bn(a, RNG)
    path = str(tmp_path / "inc.h5")
    a.save_weights(path)
    b = A.InceptionV3(weights=path, include_top=False, input_shape=(75, 75, 3))
    assert a.layers[1].name != b.layers[1].name
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)


@pytest.mark.parametrize("fn,fname,url", [
    (A.InceptionV3, "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5",
     "storage.googleapis.com/tensorflow/keras-applications/inception_v3/"),
    (A.Xception, "xception_weights_tf_dim_ordering_tf_kernels_notop.h5",
     "storage.googleapis.com/tensorflow/keras-applications/xception/"),
    (A.ResNet50V2, "resnet50v2_weights_tf_dim_ordering_tf_kernels_notop.h5",
     "storage.googleapis.com/tensorflow/keras-applications/resnet/"),
])
def test_imagenet_weights_offline_error(fn, fname, url):
    with pytest.raises(FileNotFoundError) as e:
        fn(weights="imagenet", include_top=False, input_shape=(96, 96, 3))
    assert fname in str(e.value) and url + fname in str(e.value)


# ------------------------------------------------------------------------------------------
# preprocess_input and argument checks

def test_preprocess_input_modes():
    x = RNG.uniform(0, 255, (2, 5, 4, 3)).astype("float32")
    keep = x.copy()
    for mod in (A.resnet_v2, A.inception_v3, A.xception):
        np.testing.assert_allclose(mod.preprocess_input(x), x / 127.5 - 1, rtol=1e-6,
                                   atol=1e-6)
        assert mod.decode_predictions is imagenet_utils.decode_predictions
    assert A.efficientnet.preprocess_input(x) is x  # pass-through, as Keras
    t = tf.constant(x)
    assert A.efficientnet.preprocess_input(t) is t
    np.testing.assert_allclose(A.xception.preprocess_input(t).numpy(), x / 127.5 - 1,
                               atol=1e-6)
    np.testing.assert_array_equal(x, keep)
    assert A.efficientnet.decode_predictions is imagenet_utils.decode_predictions


def test_argument_errors(tmp_path):
    with pytest.raises(ValueError, match="at least 75x75"):
        A.InceptionV3(weights=None, include_top=False, input_shape=(74, 80, 3))
    with pytest.raises(ValueError, match="at least 71x71"):
        A.Xception(weights=None, include_top=False, input_shape=(70, 80, 3))
    with pytest.raises(ValueError, match="at least 32x32"):
        A.EfficientNetB0(weights=None, include_top=False, input_shape=(31, 80, 3))
    with pytest.raises(ValueError, match=r"EfficientNetB3.*classes=10"):
        A.EfficientNetB3(weights="imagenet", classes=10)
    with pytest.raises(ValueError, match=r"ResNet101V2.*pooling='mean'"):
        A.ResNet101V2(weights=None, include_top=False, pooling="mean")
    with pytest.raises(ValueError, match=r"EfficientNetB0.*alpha"):
        A.EfficientNetB0(weights=None, alpha=1.0)
    with pytest.raises(ValueError, match="weights"):
        A.Xception(weights="no_such_file.h5")
    some_file = tmp_path / "w.h5"
    some_file.write_bytes(b"")
    with pytest.raises(ValueError, match="classifier_activation"):
        A.ResNet50V2(weights=str(some_file), input_shape=(32, 32, 3),
                     classifier_activation="relu")


# ------------------------------------------------------------------------------------------
# Transfer learning: a frozen EfficientNet base with a new head

def test_frozen_efficientnet_base_fits_a_new_head():
    base = A.EfficientNetB0(input_shape=(32, 32, 3), include_top=False, weights=None)
    base.trainable = False
    assert base.trainable_weights == []
    before = [w.copy() for w in base.get_weights()]
    inputs = keras.Input((32, 32, 3))
    x = base(inputs, training=False)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(3)(x)
    model = keras.Model(inputs, outputs)
    assert counts(model)[0] - counts(model)[1] == 1280 * 3 + 3  # only the head trains
    head_before = [w.copy() for w in model.layers[-1].get_weights()]
    model.compile(optimizer=keras.optimizers.SGD(0.1),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    data = RNG.uniform(0, 255, (4, 32, 32, 3)).astype("float32")
    labels = np.array([0, 1, 2, 1])
    feats = keras.Model(inputs, x).predict(data, verbose=0).astype(np.float64)
    hist = model.fit(data, labels, epochs=1, batch_size=4, verbose=0)
    assert np.isfinite(hist.history["loss"][0])
    for a, b in zip(before, base.get_weights()):
        np.testing.assert_array_equal(a, b)
    # one SGD step on the head, in NumPy: dL/dlogits = (softmax - onehot) / batch
    w0, b0 = head_before
    logits = feats @ w0 + b0
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    g = (p - np.eye(3)[labels]) / 4
    w1, b1 = model.layers[-1].get_weights()
    np.testing.assert_allclose(b1, b0 - 0.1 * g.sum(0), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(w1, w0 - 0.1 * feats.T @ g, rtol=1e-3, atol=1e-5)
