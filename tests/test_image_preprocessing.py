"""ImageDataGenerator: the vectorised affine resample against scipy.ndimage (Keras's backend
for the same transform), parameter semantics, standardisation, flow() as a Sequence."""
import numpy as np
import pytest

from nabi.keras.preprocessing import image as I

rng = np.random.default_rng(3)


def _scipy_affine(x, m, mode, cval):
    nd = pytest.importorskip("scipy.ndimage")
    mode = {"constant": "grid-constant", "wrap": "grid-wrap"}.get(mode, mode)
    return np.stack([nd.affine_transform(x[..., c].astype(np.float64), m[:2, :2], m[:2, 2],
                                         order=1, mode=mode, cval=cval)
                     for c in range(x.shape[-1])], -1)


@pytest.mark.parametrize("mode", ["nearest", "reflect", "wrap", "constant"])
def test_affine_resample_matches_scipy(mode):
    x = rng.random((3, 9, 11, 2))
    theta = np.deg2rad(rng.uniform(-30, 30, 3))
    m = I._transform_matrices(theta, rng.uniform(-2, 2, 3), rng.uniform(-2, 2, 3),
                              np.deg2rad(rng.uniform(-10, 10, 3)), rng.uniform(0.8, 1.2, 3),
                              rng.uniform(0.8, 1.2, 3), 9, 11)
    out = I.affine_resample(x, m, mode, cval=0.5)
    for b in range(3):
        np.testing.assert_allclose(out[b], _scipy_affine(x[b], m[b], mode, 0.5), atol=1e-9)


def test_identity_shift_and_flips():
    x = rng.random((4, 6, 5, 1)).astype(np.float32)
    g = I.ImageDataGenerator()
    np.testing.assert_array_equal(g.random_transform_batch(x), x)
    # an integer shift of one column: Keras builds its matrix in (x, y) = (column, row) order
    # and swaps it (M' = PMP), so tx shifts along the width (checked against Keras's code)
    hwc = dict(row_axis=0, col_axis=1, channel_axis=2)
    out = I.apply_affine_transform(x[0], tx=1, fill_mode="constant", cval=-1, **hwc)
    np.testing.assert_allclose(out[:, :-1], x[0][:, 1:], atol=1e-6)
    assert np.all(out[:, -1] == -1)
    out = I.apply_affine_transform(x[0], ty=1, fill_mode="constant", cval=-1, **hwc)
    np.testing.assert_allclose(out[:-1], x[0][1:], atol=1e-6)
    assert np.all(out[-1] == -1)
    g = I.ImageDataGenerator(horizontal_flip=True, vertical_flip=True)
    out = g.random_transform_batch(x, np.random.default_rng(0))
    for b in range(4):
        assert any(np.array_equal(out[b], v) for v in
                   (x[b], x[b, :, ::-1], x[b, ::-1], x[b, ::-1, ::-1]))


def test_rotation_90_exact():
    x = rng.random((5, 5, 1))
    out = I.apply_affine_transform(x, theta=90, fill_mode="nearest", row_axis=0, col_axis=1,
                                   channel_axis=2)
    # Keras's swapped (x, y) matrix turns the image counter-clockwise for theta = 90
    np.testing.assert_allclose(out[..., 0], np.rot90(x[..., 0], 1), atol=1e-9)


def test_standardize_and_fit():
    x = (rng.random((20, 4, 4, 3)) * 255).astype(np.float32)
    g = I.ImageDataGenerator(featurewise_center=True, featurewise_std_normalization=True,
                             rescale=1 / 255.)
    g.fit(x)
    s = g.standardize(x.copy())
    np.testing.assert_allclose(s.mean(axis=(0, 1, 2)), 0, atol=1e-5)
    np.testing.assert_allclose(s.std(axis=(0, 1, 2)), 1, atol=1e-3)
    g2 = I.ImageDataGenerator(samplewise_center=True, samplewise_std_normalization=True)
    s2 = g2.standardize(x)
    np.testing.assert_allclose(s2.mean(axis=(1, 2, 3)), 0, atol=1e-4)
    with pytest.raises(ValueError, match="fit"):
        I.ImageDataGenerator(featurewise_center=True).standardize(x)
    # channels_first
    g3 = I.ImageDataGenerator(featurewise_center=True, data_format="channels_first")
    xc = np.moveaxis(x, -1, 1)
    g3.fit(xc)
    assert g3.mean.shape == (3, 1, 1)
    np.testing.assert_allclose(g3.standardize(xc).mean(axis=(0, 2, 3)), 0, atol=1e-3)


def test_flow_sequence_semantics():
    x = rng.random((10, 8, 8, 1)).astype(np.float32)
    y = np.arange(10)
    g = I.ImageDataGenerator(rotation_range=20, zoom_range=0.1, width_shift_range=0.1,
                             height_shift_range=0.1, shear_range=5, fill_mode="constant")
    it = g.flow(x, y, batch_size=4, shuffle=True, seed=1)
    assert len(it) == 3
    seen = []
    for i in range(len(it)):
        xb, yb = it[i]
        assert xb.shape[1:] == (8, 8, 1) and xb.dtype == np.float32
        seen.extend(yb.tolist())
    assert sorted(seen) == list(range(10))
    xb, yb = next(it)
    assert len(yb) == 4
    it.on_epoch_end()
    with pytest.raises(IndexError):
        it[3]
    # without augmentation the batches are exactly the (shuffled) inputs
    it2 = I.ImageDataGenerator().flow(x, y, batch_size=3, shuffle=False)
    xb, yb = it2[1]
    np.testing.assert_array_equal(xb, x[3:6])
    np.testing.assert_array_equal(yb, y[3:6])
    assert I.ImageDataGenerator().flow(x, batch_size=5)[0].shape == (5, 8, 8, 1)
    with pytest.raises(ValueError, match="different lengths"):
        g.flow(x, y[:3])
    with pytest.raises(ValueError, match="fill_mode"):
        I.ImageDataGenerator(fill_mode="mirror")


def test_batch_of_100_mnist_sized():
    x = rng.random((100, 28, 28, 1)).astype(np.float32)
    g = I.ImageDataGenerator(rotation_range=10, zoom_range=0.1, width_shift_range=0.1,
                             height_shift_range=0.1)
    out = g.random_transform_batch(x)
    assert out.shape == x.shape and np.isfinite(out).all() and not np.array_equal(out, x)
