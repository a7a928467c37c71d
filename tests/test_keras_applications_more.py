"""keras.applications, third batch: MobileNetV3Small/Large, EfficientNetV2B0..B3/S/M/L and
NASNetMobile (NASNetLarge is only built by hand: 11 s). Parameter counts against Keras 2.15's
published figures (model.summary() and the keras.io table), landmark layer names and weight
shapes, output shapes, forwards against NumPy references built from the models' own weights
(random BatchNormalization statistics): MobileNetV3Small's stem (Rescaling, conv, BN,
hard_swish) and two squeeze-excite blocks, EfficientNetV2B0's stem and fused-MBConv blocks,
NASNet's stem and factorised reduction; weight files found locally, the offline error,
preprocess_input, argument errors. No test touches the network."""
import numpy as np
import pytest
import reference_applications as ra
from reference_applications import (hard_sigmoid, hard_swish, np_bn, np_conv, np_depthwise,
                                    outputs_of, randomize_bn, swish)

import nabi as tf
from nabi import keras
from nabi.keras.applications import imagenet_utils

A = keras.applications
RNG = np.random.default_rng(11)


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
# Architectures: Keras 2.15's published parameter counts (with the top, 1000 classes). Counts
# do not depend on the input size: the EfficientNetV2s are built at 32x32 with zero
# initialisers (the truncated-normal draws are slow).

@pytest.mark.parametrize("fn,shape,total,frozen,name,landmarks", [
    (A.MobileNetV3Small, (224, 224, 3), 2_554_968, 12_112, "MobilenetV3small",
     ["Conv", "Conv/BatchNorm", "expanded_conv/depthwise/pad", "expanded_conv/depthwise",
      "expanded_conv/squeeze_excite/AvgPool", "expanded_conv/squeeze_excite/Conv",
      "expanded_conv/squeeze_excite/Relu", "expanded_conv/squeeze_excite/Conv_1",
      "expanded_conv/squeeze_excite/Mul", "expanded_conv/project/BatchNorm",
      "expanded_conv_1/expand/BatchNorm", "expanded_conv_2/Add", "expanded_conv_5/Add",
      "expanded_conv_10/Add", "Conv_1", "Conv_1/BatchNorm", "Conv_2", "Logits",
      "Predictions"]),
    (A.MobileNetV3Large, (224, 224, 3), 5_507_432, 24_400, "MobilenetV3large",
     ["expanded_conv/Add", "expanded_conv_3/squeeze_excite/Mul", "expanded_conv_14/Add",
      "Conv_1/BatchNorm", "Conv_2", "Logits", "Predictions"]),
    (A.EfficientNetV2B0, (32, 32, 3), 7_200_312, 60_608, "efficientnetv2-b0",
     ["stem_conv", "stem_bn", "block1a_project_activation", "block2a_expand_activation",
      "block2b_drop", "block2b_add", "block4a_se_excite", "block4a_dwconv2", "block6h_add",
      "top_conv", "top_activation", "avg_pool", "top_dropout", "predictions"]),
    (A.EfficientNetV2B1, (32, 32, 3), 8_212_124, None, "efficientnetv2-b1",
     ["block1b_add", "block6i_add"]),
    (A.EfficientNetV2B2, (32, 32, 3), 10_178_374, None, "efficientnetv2-b2",
     ["block6j_add"]),
    (A.EfficientNetV2B3, (32, 32, 3), 14_467_622, None, "efficientnetv2-b3",
     ["block2c_add", "block6l_add"]),
    (A.EfficientNetV2S, (32, 32, 3), 21_612_360, 153_872, "efficientnetv2-s",
     ["block1b_add", "block6o_add"]),
    (A.NASNetMobile, (32, 32, 3), 5_326_716, 36_738, "NASNet",
     ["stem_conv1", "stem_bn1", "reduction_conv_1_stem_1", "reduction_pad_1_stem_1",
      "separable_conv_1_pad_reduction_left1_stem_1", "separable_conv_2_bn_reduction_left1_stem_1",
      "reduction_left4_stem_1", "separable_conv_1_reduction_left4_stem_1",
      "reduction_add4_stem_1", "reduction_concat_stem_1", "adjust_relu_1_stem_2",
      "adjust_avg_pool_2_stem_2", "adjust_conv_2_stem_2", "adjust_bn_stem_2",
      "adjust_conv_1_0", "adjust_conv_projection_1", "normal_left3_0", "normal_add_5_0",
      "normal_concat_3", "reduction_concat_reduce_4", "normal_concat_8",
      "reduction_concat_reduce_8", "normal_concat_12", "predictions"]),
])
def test_parameter_counts_and_layer_names(fn, shape, total, frozen, name, landmarks,
                                         monkeypatch):
    monkeypatch.setattr(A.efficientnet_v2, "_conv_init", lambda: "zeros")
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


@pytest.mark.parametrize("fn,millions,last", [
    (A.EfficientNetV2M, 54.4, "block7e_add"), (A.EfficientNetV2L, 119.0, "block7g_add")])
def test_efficientnet_v2_m_l_counts(fn, millions, last, monkeypatch):
    """keras.io's applications table gives M and L in millions: 54.4M and 119.0M (we build
    54,431,388 and 119,027,848)."""
    monkeypatch.setattr(A.efficientnet_v2, "_conv_init", lambda: "zeros")
    m = fn(weights=None, input_shape=(32, 32, 3))
    assert round(m.count_params() / 1e6, 1) == millions
    assert last in [layer.name for layer in m.layers]


def test_mobilenet_v3_layout():
    m = built(A.MobileNetV3Small, (224, 224, 3))
    kinds = [type(layer).__name__ for layer in m.layers[:8]]
    # Rescaling in the model; hard_swish = Multiply([x, ReLU(6)(x + 3) * (1/6)]) as Keras
    assert kinds == ["InputLayer", "Rescaling", "Conv2D", "BatchNormalization", "TFOpLambda",
                     "ReLU", "TFOpLambda", "Multiply"]
    assert m.layers[1].scale == pytest.approx(1 / 127.5) and m.layers[1].offset == -1.0
    assert m.layers[4].name.startswith("tf.__operators__.add")
    assert m.layers[5].max_value == 6.0
    L = m.get_layer
    assert L("Conv").kernel.shape == (3, 3, 3, 16) and not L("Conv").use_bias
    assert L("Conv/BatchNorm").epsilon == pytest.approx(1e-3)
    assert L("Conv/BatchNorm").momentum == pytest.approx(0.999)
    # block 0: no expansion; squeeze-excite 16 -> _depth(4) = 8 -> 16, with biases
    assert L("expanded_conv/squeeze_excite/Conv").kernel.shape == (1, 1, 16, 8)
    assert L("expanded_conv/squeeze_excite/Conv").bias.shape == (8,)
    assert L("expanded_conv/squeeze_excite/Conv_1").kernel.shape == (1, 1, 8, 16)
    assert L("expanded_conv/squeeze_excite/AvgPool").keepdims
    # expansions 72/16 and 88/24 give 72 and 88 channels
    assert L("expanded_conv_1/expand").kernel.shape == (1, 1, 16, 72)
    assert L("expanded_conv_2/expand").kernel.shape == (1, 1, 24, 88)
    assert L("expanded_conv_3/depthwise").depthwise_kernel.shape == (5, 5, 96, 1)
    # SE in block 3: _depth(96 / 4) = 24
    assert L("expanded_conv_3/squeeze_excite/Conv").kernel.shape == (1, 1, 96, 24)
    assert L("Conv_1").kernel.shape == (1, 1, 96, 576)
    assert L("Conv_2").kernel.shape == (1, 1, 576, 1024) and L("Conv_2").use_bias
    assert L("Logits").kernel.shape == (1, 1, 1024, 1000)
    assert L("Predictions").activation is keras.activations.get("softmax")
    names = [layer.name for layer in m.layers]
    assert "expanded_conv/expand" not in names and "expanded_conv/Add" not in names
    assert "expanded_conv_1/squeeze_excite/Conv" not in names  # blocks 1, 2: no SE

    big = built(A.MobileNetV3Large, (224, 224, 3))
    Lb = big.get_layer
    assert Lb("expanded_conv_3/squeeze_excite/Conv").kernel.shape == (1, 1, 72, 24)
    assert Lb("expanded_conv_8/expand").kernel.shape == (1, 1, 80, 184)  # _depth(80 * 2.3)
    assert Lb("Conv_1").kernel.shape == (1, 1, 160, 960)
    assert Lb("Conv_2").kernel.shape == (1, 1, 960, 1280)

    # minimalistic: ReLU everywhere, 3x3 kernels, no squeeze-excite; alpha scales widths
    mini = A.MobileNetV3Small(weights=None, minimalistic=True, alpha=0.75,
                              include_top=False, input_shape=(32, 32, 3),
                              include_preprocessing=False)
    names = [layer.name for layer in mini.layers]
    assert not any("squeeze_excite" in n for n in names)
    assert not any(isinstance(layer, keras.layers.Multiply) for layer in mini.layers)
    assert type(mini.layers[1]).__name__ == "Conv2D"  # no Rescaling
    assert mini.get_layer("expanded_conv_3/depthwise").depthwise_kernel.shape[:2] == (3, 3)
    assert mini.get_layer("expanded_conv/project").kernel.shape == (1, 1, 16, 16)  # _depth(12)
    assert mini.get_layer("expanded_conv_10/project").kernel.shape == (1, 1, 432, 72)


def test_efficientnet_v2_layout(monkeypatch):
    monkeypatch.setattr(A.efficientnet_v2, "_conv_init", lambda: "zeros")
    m = built(A.EfficientNetV2B0, (32, 32, 3))
    kinds = [type(layer).__name__ for layer in m.layers[:4]]
    assert kinds == ["InputLayer", "Rescaling", "Normalization", "Conv2D"]
    assert m.layers[1].scale == pytest.approx(1 / 255)
    np.testing.assert_allclose(np.ravel(m.layers[2].mean.numpy()), [0.485, 0.456, 0.406],
                               rtol=1e-6)
    np.testing.assert_allclose(np.ravel(m.layers[2].variance.numpy()),
                               np.array([0.229, 0.224, 0.225]) ** 2, rtol=1e-6)
    assert m.layers[2].weights == []  # mean/variance given: no weights
    L = m.get_layer
    assert L("stem_conv").kernel.shape == (3, 3, 3, 32)
    assert L("stem_bn").momentum == pytest.approx(0.9)
    assert L("stem_bn").epsilon == pytest.approx(1e-3)
    names = [layer.name for layer in m.layers]
    # fused, expansion 1: a single 3x3 convolution and its activation
    assert "block1a_expand_conv" not in names
    assert L("block1a_project_conv").kernel.shape == (3, 3, 32, 16)
    # fused with expansion: 3x3 stride-2 expansion, then a 1x1 projection
    assert L("block2a_expand_conv").kernel.shape == (3, 3, 16, 64)
    assert L("block2a_expand_conv").strides == (2, 2)
    assert L("block2a_project_conv").kernel.shape == (1, 1, 64, 32)
    # MBConv: 1x1 expansion, depthwise, SE int(48 * 0.25) = 12
    assert L("block4a_expand_conv").kernel.shape == (1, 1, 48, 192)
    assert L("block4a_dwconv2").depthwise_kernel.shape == (3, 3, 192, 1)
    assert L("block4a_se_reduce").kernel.shape == (1, 1, 192, 12)
    assert L("block4a_se_expand").kernel.shape == (1, 1, 12, 192)
    assert L("top_conv").kernel.shape == (1, 1, 192, 1280)
    # drop-connect: 0.2 * b / 21 (blocks counted before depth scaling); none at block 0
    assert "block1a_drop" not in names
    assert L("block2b_drop").rate == pytest.approx(0.2 * 2 / 21)
    assert L("block6h_drop").rate == pytest.approx(0.2 * 20 / 21)
    assert tuple(L("block2b_drop").noise_shape) == (None, 1, 1, 1)
    b3 = built(A.EfficientNetV2B3, (32, 32, 3))
    # width 1.2: 32 -> 40 (38.4 rounded), 192 -> 232, 1280 -> 1536; no 10% rule
    assert b3.get_layer("stem_conv").kernel.shape == (3, 3, 3, 40)
    assert b3.get_layer("top_conv").kernel.shape == (1, 1, 232, 1536)
    # B3 has 32 blocks but the rate divides by the 21 of B0's table
    assert b3.get_layer("block6l_drop").rate == pytest.approx(0.2 * 31 / 21)
    s = built(A.EfficientNetV2S, (32, 32, 3))
    kinds = [type(layer).__name__ for layer in s.layers[:3]]
    assert kinds == ["InputLayer", "Rescaling", "Conv2D"]  # S/M/L: x / 128 - 1
    assert s.layers[1].scale == pytest.approx(1 / 128) and s.layers[1].offset == -1.0
    assert s.get_layer("stem_conv").kernel.shape == (3, 3, 3, 24)
    # the B variants keep ImageNet normalisation only for RGB input
    g = A.EfficientNetV2B0(weights=None, include_top=False, input_shape=(32, 32, 1))
    assert [type(layer).__name__ for layer in g.layers[:3]] == ["InputLayer", "Rescaling",
                                                                 "Conv2D"]
    assert g.layers[1].scale == pytest.approx(1 / 128)
    n = A.EfficientNetV2B0(weights=None, include_top=False, input_shape=(32, 32, 3),
                           include_preprocessing=False)
    assert n.layers[1].name == "stem_conv"


@pytest.mark.parametrize("fn,shape,pooling,expect", [
    (A.MobileNetV3Small, (64, 64, 3), None, (None, 2, 2, 576)),
    (A.MobileNetV3Small, None, "max", (None, 576)),
    (A.MobileNetV3Large, (96, 80, 3), "avg", (None, 960)),
    (A.EfficientNetV2B0, (64, 64, 3), None, (None, 2, 2, 1280)),
    (A.EfficientNetV2S, None, "avg", (None, 1280)),
    (A.NASNetMobile, (64, 64, 3), None, (None, 2, 2, 1056)),
    (A.NASNetMobile, (33, 32, 3), "max", (None, 1056)),
])
def test_output_shapes(fn, shape, pooling, expect):
    m = fn(weights=None, include_top=False, input_shape=shape, pooling=pooling)
    assert tuple(m.output_shape) == expect
    if shape is None:
        shape = (40, 48, 3)
    y = m.predict(RNG.uniform(0, 255, (2,) + shape).astype("float32"), verbose=0)
    assert y.shape == (2,) + tuple(expect[1:])
    assert np.all(np.isfinite(y))


def test_mobilenet_v3_top_on_any_size():
    """With the top, Keras's MobileNetV3 still accepts input_shape=None (the head pools
    first); dropout_rate=0 leaves out the Dropout, classes and the activation are honoured."""
    m = A.MobileNetV3Small(weights=None, classes=7, dropout_rate=0.0,
                           classifier_activation=None)
    assert tuple(m.input_shape) == (None, None, None, 3)
    assert tuple(m.output_shape) == (None, 7)
    assert not any(isinstance(layer, keras.layers.Dropout) for layer in m.layers)
    y = m.predict(RNG.uniform(0, 255, (2, 40, 56, 3)).astype("float32"), verbose=0)
    assert y.shape == (2, 7) and np.all(np.isfinite(y))
    assert not np.allclose(y.sum(1), 1.0)  # logits, no softmax
    d = built(A.MobileNetV3Small, (224, 224, 3))
    drops = [layer for layer in d.layers if isinstance(layer, keras.layers.Dropout)]
    assert len(drops) == 1 and drops[0].rate == pytest.approx(0.2)


# ------------------------------------------------------------------------------------------
# Forwards against NumPy, from the models' own weights

def correct_pad_np(h, k):
    """Keras's correct_pad: k // 2 on each side, one fewer before for an even size."""
    k2 = k // 2
    (t, b), (l, r) = [(k2 - (1 - n % 2), k2) for n in h.shape[1:3]]
    return np.pad(h, ((0, 0), (t, b), (l, r), (0, 0)))


def np_v3_block(x, model, prefix, kernel, stride, act, skip=False):
    """One MobileNetV3 inverted residual block with squeeze-and-excite, in NumPy."""
    L = model.get_layer
    names = {layer.name for layer in model.layers}
    h = x
    if prefix + "expand" in names:
        h = act(np_bn(np_conv(h, L(prefix + "expand").get_weights()[0]),
                      L(prefix + "expand/BatchNorm")))
    if stride == 2:
        h = np_depthwise(correct_pad_np(h, kernel), L(prefix + "depthwise").get_weights()[0],
                         2, "valid")
    else:
        h = np_depthwise(h, L(prefix + "depthwise").get_weights()[0])
    h = act(np_bn(h, L(prefix + "depthwise/BatchNorm")))
    s = h.mean(axis=(1, 2), keepdims=True)
    w1, b1 = L(prefix + "squeeze_excite/Conv").get_weights()
    w2, b2 = L(prefix + "squeeze_excite/Conv_1").get_weights()
    s = np.maximum(np.einsum("nhwc,co->nhwo", s, w1[0, 0]) + b1, 0.0)
    s = hard_sigmoid(np.einsum("nhwc,co->nhwo", s, w2[0, 0]) + b2)
    se = h * s
    h = np_bn(np_conv(se, L(prefix + "project").get_weights()[0]),
              L(prefix + "project/BatchNorm"))
    return se, (h + x if skip else h)


def close(got, ref):
    assert got.shape == ref.shape
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4 * np.abs(ref).max())


def test_mobilenet_v3_small_stem_and_se_blocks_match_numpy():
    m = A.MobileNetV3Small(weights=None, include_top=False, input_shape=(35, 34, 3))
    randomize_bn(m, RNG)
    for layer in m.layers:  # non-zero SE biases
        if layer.name.endswith(("squeeze_excite/Conv", "squeeze_excite/Conv_1")):
            w, b = layer.get_weights()
            layer.set_weights([w, RNG.normal(0, 0.5, b.shape)])
    stem_out = m.layers[7].name  # the Multiply of the stem's hard_swish
    x = RNG.uniform(0, 255, (2, 35, 34, 3)).astype("float32")
    stem, se0, b0, b3, se4, b4 = outputs_of(
        m, [stem_out, "expanded_conv/squeeze_excite/Mul", "expanded_conv/project/BatchNorm",
            "expanded_conv_3/project/BatchNorm", "expanded_conv_4/squeeze_excite/Mul",
            "expanded_conv_4/Add"], x)
    L = m.get_layer
    # Rescaling x / 127.5 - 1, 3x3 stride 2 'same' (35 -> 18, 34 -> 17), BN, hard_swish
    h = x.astype(np.float64) / 127.5 - 1.0
    h = hard_swish(np_bn(np_conv(h, L("Conv").get_weights()[0], stride=2), L("Conv/BatchNorm")))
    assert h.shape == (2, 18, 17, 16)
    close(stem, h)
    # block 0: pad + 3x3 depthwise stride 2, BN, ReLU, SE (ReLU, hard_sigmoid), projection
    se_ref, ref = np_v3_block(stem.astype(np.float64), m, "expanded_conv/", 3, 2,
                              lambda v: np.maximum(v, 0.0))
    close(se0, se_ref)
    close(b0, ref)
    # block 4: 1x1 expansion to 240, 5x5 depthwise, hard_swish, SE 240 -> 64 -> 240, skip
    se_ref, ref = np_v3_block(b3.astype(np.float64), m, "expanded_conv_4/", 5, 1, hard_swish,
                              skip=True)
    assert se_ref.shape[-1] == 240 and L("expanded_conv_4/squeeze_excite/Conv").filters == 64
    close(se4, se_ref)
    close(b4, ref)


def test_efficientnet_v2_b0_stem_and_fused_blocks_match_numpy():
    m = A.EfficientNetV2B0(weights=None, include_top=False, input_shape=(33, 34, 3))
    randomize_bn(m, RNG)
    L = m.get_layer
    x = RNG.uniform(0, 255, (2, 33, 34, 3)).astype("float32")
    stem, b1a, b2a, b2b, b4a = outputs_of(
        m, ["stem_activation", "block1a_project_activation", "block2a_project_bn",
            "block2b_add", "block4a_se_excite"], x)
    mean = np.array([0.485, 0.456, 0.406])
    std = np.array([0.229, 0.224, 0.225])
    h = (x.astype(np.float64) / 255.0 - mean) / std
    h = swish(np_bn(np_conv(h, L("stem_conv").get_weights()[0], stride=2), L("stem_bn")))
    assert h.shape == (2, 17, 17, 32)
    close(stem, h)
    # block1a: fused, no expansion: 3x3 conv, BN, swish; 32 -> 16, no skip
    ref = swish(np_bn(np_conv(stem, L("block1a_project_conv").get_weights()[0]),
                      L("block1a_project_bn")))
    close(b1a, ref)
    # block2a: fused 3x3 stride-2 expansion to 64, swish, 1x1 projection to 32, no activation
    h = swish(np_bn(np_conv(b1a, L("block2a_expand_conv").get_weights()[0], stride=2),
                    L("block2a_expand_bn")))
    ref = np_bn(np_conv(h, L("block2a_project_conv").get_weights()[0]), L("block2a_project_bn"))
    assert ref.shape == (2, 9, 9, 32)
    close(b2a, ref)
    # block2b: the same at stride 1 plus the identity (drop-connect off at inference)
    h = swish(np_bn(np_conv(b2a, L("block2b_expand_conv").get_weights()[0]),
                    L("block2b_expand_bn")))
    ref = np_bn(np_conv(h, L("block2b_project_conv").get_weights()[0]),
                L("block2b_project_bn")) + b2a
    close(b2b, ref)
    # block4a (MBConv) squeeze-excite from the block's own depthwise output
    (dw,) = outputs_of(m, ["block4a_activation"], x)
    s = dw.astype(np.float64).mean(axis=(1, 2), keepdims=True)
    w1, c1 = L("block4a_se_reduce").get_weights()
    w2, c2 = L("block4a_se_expand").get_weights()
    s = swish(np.einsum("nhwc,co->nhwo", s, w1[0, 0]) + c1)
    s = 1.0 / (1.0 + np.exp(-(np.einsum("nhwc,co->nhwo", s, w2[0, 0]) + c2)))
    close(b4a, dw * s)


def test_nasnet_stem_and_factorised_reduction_match_numpy():
    """NASNet's stem (3x3 stride-2 'valid' conv, BN) and the adjustment of the previous path
    at stem_2: ReLU, then two 1x1 convolutions (11 + 11 filters) on the stride-2 samples of
    the grid and of the grid shifted by one pixel (zero pad + crop), concatenated, BN."""
    m = built(A.NASNetMobile, (33, 32, 3), include_top=False)
    randomize_bn(m, RNG)
    L = m.get_layer
    x = RNG.uniform(-1, 1, (2, 33, 32, 3)).astype("float32")
    stem, adj = outputs_of(m, ["stem_bn1", "adjust_bn_stem_2"], x)
    ref = np_bn(np_conv(x, L("stem_conv1").get_weights()[0], stride=2, padding="valid"),
                L("stem_bn1"))
    assert ref.shape == (2, 16, 15, 32)
    close(stem, ref)
    r = np.maximum(stem.astype(np.float64), 0.0)
    p1 = np_conv(r[:, ::2, ::2], L("adjust_conv_1_stem_2").get_weights()[0])
    shifted = np.pad(r, ((0, 0), (0, 1), (0, 1), (0, 0)))[:, 1:, 1:]
    p2 = np_conv(shifted[:, ::2, ::2], L("adjust_conv_2_stem_2").get_weights()[0])
    ref = np_bn(np.concatenate([p1, p2], axis=-1), L("adjust_bn_stem_2"))
    assert ref.shape == (2, 8, 8, 22)
    close(adj, ref)


# ------------------------------------------------------------------------------------------
# Weight files

def write_keras_h5(model, path):
    """A Keras-2 HDF5 weights file as Keras lays it out, written here with h5py: a group per
    layer under its name (a '/' in a name makes nested groups, as in Keras's own MobileNetV3
    files) holding `weight_names` and the arrays."""
    h5py = pytest.importorskip("h5py")
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = np.array([layer.name.encode() for layer in model.layers])
        f.attrs["backend"] = b"tensorflow"
        f.attrs["keras_version"] = b"2.15.0"
        for layer in model.layers:
            g = f.require_group(layer.name)
            ws = layer.get_weights()
            names = [f"{layer.name}/w{i}:0" for i in range(len(ws))]
            g.attrs["weight_names"] = np.array([n.encode() for n in names], dtype="S")
            for n, w in zip(names, ws):
                g.create_dataset(n, data=w)


def test_mobilenet_v3_imagenet_file_found_locally(tmp_path):
    """weights='imagenet' takes Keras's `_no_top_v2` file from ~/.keras/models; layer names
    with '/' (nested HDF5 groups) load by name."""
    src = A.MobileNetV3Small(weights=None, include_top=False, input_shape=(32, 32, 3))
    randomize_bn(src, RNG)
    models_dir = tmp_path / "keras_home" / "models"
    models_dir.mkdir(parents=True)
    write_keras_h5(src, str(models_dir / "weights_mobilenet_v3_small_224_1.0_float_no_top_v2.h5"))
    m = A.MobileNetV3Small(weights="imagenet", include_top=False, input_shape=(32, 32, 3))
    assert len(m.get_weights()) == len(src.get_weights()) > 0
    for a, b in zip(src.get_weights(), m.get_weights()):
        np.testing.assert_array_equal(a, b)
    # a file for another architecture is refused with the layers it lacks
    other = tmp_path / "large.h5"
    write_keras_h5(A.MobileNetV3Large(weights=None, include_top=False,
                                      input_shape=(32, 32, 3)), str(other))
    with pytest.raises(ValueError, match="does not fit"):
        A.MobileNetV3Small(weights=str(other), include_top=False, input_shape=(32, 32, 3))


@pytest.mark.parametrize("fn,kw,fname,url", [
    (A.MobileNetV3Large, {"alpha": 0.75}, "weights_mobilenet_v3_large_224_0.75_float.h5",
     "storage.googleapis.com/tensorflow/keras-applications/mobilenet_v3/"),
    (A.MobileNetV3Small, {"minimalistic": True, "include_top": False},
     "weights_mobilenet_v3_small_minimalistic_224_1.0_float_no_top_v2.h5",
     "storage.googleapis.com/tensorflow/keras-applications/mobilenet_v3/"),
    (A.EfficientNetV2B0, {"include_top": False}, "efficientnetv2-b0_notop.h5",
     "storage.googleapis.com/tensorflow/keras-applications/efficientnet_v2/"),
    (A.EfficientNetV2S, {"include_top": False}, "efficientnetv2-s_notop.h5",
     "storage.googleapis.com/tensorflow/keras-applications/efficientnet_v2/"),
    (A.NASNetMobile, {"include_top": False}, "nasnet_mobile_no_top.h5",
     "storage.googleapis.com/tensorflow/keras-applications/nasnet/NASNet-mobile-no-top.h5"),
])
def test_imagenet_weights_offline_error(fn, kw, fname, url, monkeypatch):
    monkeypatch.setattr(A.efficientnet_v2, "_conv_init", lambda: "zeros")
    with pytest.raises(FileNotFoundError) as e:
        fn(weights="imagenet", input_shape=(224, 224, 3) if kw.get("include_top", True)
           else (64, 64, 3), **kw)
    assert fname in str(e.value)
    assert (url if url.endswith(".h5") else url + fname) in str(e.value)


# ------------------------------------------------------------------------------------------
# preprocess_input and argument checks

def test_preprocess_input_is_a_pass_through():
    x = RNG.uniform(0, 255, (2, 5, 4, 3)).astype("float32")
    keep = x.copy()
    t = tf.constant(x)
    for mod in (A.mobilenet_v3, A.efficientnet_v2):
        assert mod.preprocess_input(x) is x
        assert mod.preprocess_input(t) is t
        assert mod.preprocess_input(x, data_format="channels_last") is x
        assert mod.decode_predictions is imagenet_utils.decode_predictions
    np.testing.assert_allclose(A.nasnet.preprocess_input(x), x / 127.5 - 1, rtol=1e-6,
                               atol=1e-6)
    np.testing.assert_allclose(A.nasnet.preprocess_input(t).numpy(), x / 127.5 - 1,
                               atol=1e-6)
    assert A.nasnet.decode_predictions is imagenet_utils.decode_predictions
    np.testing.assert_array_equal(x, keep)
    with pytest.raises(ValueError, match=r"\(samples, 1000\)"):
        A.mobilenet_v3.decode_predictions(np.zeros((2, 10)))


def test_argument_errors(tmp_path):
    with pytest.raises(ValueError, match="at least 32x32"):
        A.MobileNetV3Small(weights=None, input_shape=(31, 64, 3))
    with pytest.raises(ValueError, match="at least 32x32"):
        A.EfficientNetV2S(weights=None, include_top=False, input_shape=(64, 20, 3))
    with pytest.raises(ValueError, match=r"alpha can be one of .*alpha=0\.5"):
        A.MobileNetV3Large(weights="imagenet", alpha=0.5)
    with pytest.raises(ValueError, match=r"minimalistic.*alpha=0\.75"):
        A.MobileNetV3Small(weights="imagenet", alpha=0.75, minimalistic=True)
    with pytest.raises(ValueError, match=r"MobileNetV3Small.*classes=10"):
        A.MobileNetV3Small(weights="imagenet", classes=10)
    with pytest.raises(ValueError, match=r"EfficientNetV2B2.*classes=10"):
        A.EfficientNetV2B2(weights="imagenet", classes=10)
    with pytest.raises(ValueError, match=r"MobileNetV3Large.*pooling='mean'"):
        A.MobileNetV3Large(weights=None, include_top=False, pooling="mean")
    with pytest.raises(ValueError, match=r"EfficientNetV2M.*pooling='sum'"):
        A.EfficientNetV2M(weights=None, include_top=False, pooling="sum")
    with pytest.raises(ValueError, match=r"EfficientNetV2B0.*alpha"):
        A.EfficientNetV2B0(weights=None, alpha=1.0)
    with pytest.raises(ValueError, match=r"MobileNetV3Small.*depth_multiplier"):
        A.MobileNetV3Small(weights=None, depth_multiplier=1)
    with pytest.raises(ValueError, match=r"MobileNetV3Small.*weights='no_such_file.h5'"):
        A.MobileNetV3Small(weights="no_such_file.h5")
    with pytest.raises(ValueError, match=r"dropout_rate=1\.5"):
        A.MobileNetV3Small(weights=None, dropout_rate=1.5)
    with pytest.raises(ValueError, match="should be"):  # include_top needs a static shape
        A.EfficientNetV2B0(weights="imagenet", input_shape=(64, 64, 3))
    with pytest.raises(ValueError, match="must be static"):
        A.NASNetMobile(weights="imagenet", include_top=False, input_shape=(None, None, 3))
    with pytest.raises(ValueError, match=r"multiple of 24.*1000"):
        A.nasnet.NASNet(penultimate_filters=1000, weights=None)
    with pytest.raises(ValueError, match=r"NASNetLarge or NASNetMobile.*default_size=300"):
        A.nasnet.NASNet(default_size=300, weights="imagenet")
    with pytest.raises(ValueError, match=r"\(224, 224, 3\)"):
        A.NASNetMobile(weights="imagenet", input_shape=(64, 64, 3))
    inp = keras.Input((64, 64, 3))
    with pytest.raises(ValueError, match=r"input_shape\[1\] must equal"):
        A.MobileNetV3Small(weights=None, input_tensor=inp, input_shape=(64, 48, 3))
    some_file = tmp_path / "w.h5"
    some_file.write_bytes(b"")
    with pytest.raises(ValueError, match="classifier_activation"):
        A.MobileNetV3Small(weights=str(some_file), input_shape=(32, 32, 3),
                           classifier_activation="relu")


def test_mobilenet_v3_on_an_input_tensor():
    """An input tensor's own predecessors become the model's inputs (Keras's
    get_source_inputs); the shape is read from the tensor."""
    inp = keras.Input((48, 40, 3))
    x = keras.layers.Rescaling(2.0)(inp)
    m = A.MobileNetV3Small(weights=None, include_top=False, input_tensor=x, pooling="avg")
    assert m.inputs[0] is inp
    assert tuple(m.output_shape) == (None, 576)
    y = m.predict(RNG.uniform(0, 100, (1, 48, 40, 3)).astype("float32"), verbose=0)
    assert y.shape == (1, 576) and np.all(np.isfinite(y))


def test_mobilenet_v3_h5_round_trip(tmp_path):
    # Layer names with '/' ("expanded_conv/depthwise/pad" before "expanded_conv/depthwise")
    # must not collide in the legacy .h5 writer.
    m = keras.applications.MobileNetV3Small(input_shape=(32, 32, 3), include_top=False,
                                            weights=None, alpha=0.75)
    rng = np.random.default_rng(0)
    m.set_weights([rng.standard_normal(w.shape).astype(np.float32) * 0.1
                   for w in m.get_weights()])
    p = str(tmp_path / "v3.weights.h5")
    legacy = str(tmp_path / "v3.h5")
    m.save_weights(legacy)
    m.save_weights(p)
    x = rng.random((2, 32, 32, 3)).astype(np.float32) * 255
    ref = m.predict(x, verbose=0)
    for path in (legacy, p):
        r = keras.applications.MobileNetV3Small(input_shape=(32, 32, 3), include_top=False,
                                                weights=None, alpha=0.75)
        r.load_weights(path)
        np.testing.assert_allclose(r.predict(x, verbose=0), ref, rtol=1e-5, atol=1e-5)
