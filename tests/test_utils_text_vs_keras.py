"""Differential findings of nabi's Keras utilities against TF 2.21 / Keras 3.15 (text,
sequence, keras.utils, image and directory datasets). References are NumPy or plain Python
written from Keras's documented behaviour; each test says what nabi did before its fix."""
import numpy as np
import pytest

from nabi.keras import utils

PIL = pytest.importorskip("PIL.Image")


def _pil_bilinear_1d(row, out_size, box0, box1):
    """PIL's bilinear resample of one row onto out_size pixels from the source interval
    [box0, box1) (upscaling: a triangle of support 1 around each output centre, weights
    renormalised over the source pixels that exist, so pixels just outside the box count)."""
    scale = (box1 - box0) / out_size
    out = np.zeros(out_size)
    for i in range(out_size):
        centre = box0 + (i + 0.5) * scale
        j = np.arange(len(row))
        w = np.clip(1.0 - np.abs(j + 0.5 - centre), 0.0, None)
        out[i] = (w * row).sum() / w.sum()
    return out


def test_load_img_keep_aspect_ratio_resizes_from_the_box(tmp_path):
    # Keras resizes with PIL's resize(box=centred box): the filter reads the pixels just
    # outside the box. nabi cropped first, then resized the crop, so the edge columns lost
    # their neighbours (0 where Keras gives ~42 here).
    img = np.zeros((4, 8), np.uint8)
    img[:, :2] = 255          # outside the centred 4x4 box, columns 2..5
    img[:, 6:] = 255
    path = tmp_path / "edge.png"
    PIL.fromarray(img).save(path)
    got = utils.img_to_array(utils.load_img(path, color_mode="grayscale", target_size=(6, 6),
                                            interpolation="bilinear", keep_aspect_ratio=True))
    ref = _pil_bilinear_1d(img[0].astype(np.float64), 6, 2, 6)   # rows are constant
    assert got.shape == (6, 6, 1)
    np.testing.assert_allclose(got[..., 0], np.tile(ref, (6, 1)), atol=1.0)
    assert got[0, 0, 0] > 30      # the neighbour column outside the box blends in
