"""Datasets: MNIST from $NABI_DATASETS, synthetic IDX files, errors, Iris, TF1 read_data_sets.
These tests never touch the network: the downloader is replaced where a download could start."""
import gzip
import hashlib
import os

import numpy as np
import pytest

from nabi.keras.datasets import _fetch, _idx, fashion_mnist, iris, mnist
from nabi.examples.tutorials.mnist import input_data

MNIST_DIR = os.path.join(os.environ.get("NABI_DATASETS", ""), "mnist")
HAVE_MNIST = bool(os.environ.get("NABI_DATASETS")) and all(
    os.path.exists(os.path.join(MNIST_DIR, f)) for f in mnist.SHA256)
needs_mnist = pytest.mark.skipif(
    not HAVE_MNIST, reason="MNIST is not available locally: set NABI_DATASETS to a directory with "
                           "mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz")


@pytest.fixture(autouse=True)
def no_network(monkeypatch, tmp_path):
    """Any download attempt fails as if offline; the cache is an empty temporary directory."""
    def offline(url, dest, timeout=60):
        raise OSError(f"network disabled in tests ({url})")
    monkeypatch.setattr(_fetch, "_download", offline)
    monkeypatch.setenv("NABI_HOME", str(tmp_path / "nabi_home"))


# --------------------------------------------------------------------------------------------
# Synthetic IDX files

def _idx_bytes(arr, magic=None):
    arr = np.asarray(arr, dtype=np.uint8)
    if magic is None:
        magic = 0x0800 | arr.ndim
    header = magic.to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    return header + arr.tobytes()


def _write_set(d, n_train=7, n_test=3, gz=True, rows=4, cols=5, seed=0):
    rng = np.random.default_rng(seed)
    d.mkdir(parents=True, exist_ok=True)
    data = {"train-images-idx3-ubyte": rng.integers(0, 256, (n_train, rows, cols)),
            "train-labels-idx1-ubyte": rng.integers(0, 10, n_train),
            "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, rows, cols)),
            "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test)}
    for name, arr in data.items():
        raw = _idx_bytes(arr)
        if gz:
            (d / (name + ".gz")).write_bytes(gzip.compress(raw))
        else:
            (d / name).write_bytes(raw)
    return {k: v.astype(np.uint8) for k, v in data.items()}


@pytest.mark.parametrize("gz", [True, False])
def test_synthetic_idx_via_path(tmp_path, gz):
    ref = _write_set(tmp_path / "set", gz=gz)
    (x, y), (xt, yt) = mnist.load_data(path=str(tmp_path / "set"))
    assert x.dtype == np.uint8 and y.dtype == np.uint8
    assert x.shape == (7, 4, 5) and y.shape == (7,) and xt.shape == (3, 4, 5) and yt.shape == (3,)
    np.testing.assert_array_equal(x, ref["train-images-idx3-ubyte"])
    np.testing.assert_array_equal(y, ref["train-labels-idx1-ubyte"])
    np.testing.assert_array_equal(xt, ref["t10k-images-idx3-ubyte"])
    np.testing.assert_array_equal(yt, ref["t10k-labels-idx1-ubyte"])
    (fx, _), _ = fashion_mnist.load_data(path=tmp_path / "set")
    np.testing.assert_array_equal(fx, x)


def test_keras_npz_path(tmp_path):
    ref = _write_set(tmp_path / "set", seed=5)
    np.savez(tmp_path / "mnist.npz", x_train=ref["train-images-idx3-ubyte"],
             y_train=ref["train-labels-idx1-ubyte"], x_test=ref["t10k-images-idx3-ubyte"],
             y_test=ref["t10k-labels-idx1-ubyte"])
    (x, y), (xt, yt) = mnist.load_data(path=str(tmp_path / "mnist.npz"))
    np.testing.assert_array_equal(x, ref["train-images-idx3-ubyte"])
    np.testing.assert_array_equal(yt, ref["t10k-labels-idx1-ubyte"])


def test_env_var_and_cache_lookup(tmp_path, monkeypatch):
    ref = _write_set(tmp_path / "root" / "fashion_mnist", gz=False, seed=3)
    monkeypatch.setenv("NABI_DATASETS", str(tmp_path / "root"))
    (x, y), _ = fashion_mnist.load_data()
    np.testing.assert_array_equal(x, ref["train-images-idx3-ubyte"])
    # the cache under $NABI_HOME/datasets/<name> is used when the env var has nothing
    monkeypatch.setenv("NABI_DATASETS", str(tmp_path / "empty"))
    ref2 = _write_set(tmp_path / "nabi_home" / "datasets" / "fashion_mnist", seed=4)
    (x2, _), _ = fashion_mnist.load_data()
    np.testing.assert_array_equal(x2, ref2["train-images-idx3-ubyte"])


def test_bad_magic_number(tmp_path):
    _write_set(tmp_path / "set", gz=True)
    p = tmp_path / "set" / "train-labels-idx1-ubyte.gz"
    raw = gzip.decompress(p.read_bytes())
    p.write_bytes(gzip.compress(b"\x00\x00\x08\x03" + raw[4:]))   # images magic on a labels file
    with pytest.raises(_idx.IDXFormatError, match=r"bad IDX magic number 2051.*expected 2049"):
        mnist.load_data(path=str(tmp_path / "set"))
    p.write_bytes(b"\x12\x34\x56\x78" + raw[4:])
    with pytest.raises(ValueError, match="bad IDX magic number"):
        mnist.load_data(path=str(tmp_path / "set"))


def test_truncated_file(tmp_path):
    _write_set(tmp_path / "set", gz=False)
    p = tmp_path / "set" / "t10k-images-idx3-ubyte"
    p.write_bytes(p.read_bytes()[:-5])
    with pytest.raises(_idx.IDXFormatError, match="truncated"):
        mnist.load_data(path=str(tmp_path / "set"))


def test_offline_error_says_where_to_put_files(tmp_path, monkeypatch):
    monkeypatch.setenv("NABI_DATASETS", str(tmp_path / "nothing"))
    with pytest.raises(OSError) as ei:
        mnist.load_data()
    assert isinstance(ei.value, _idx.DatasetNotFoundError)
    msg = str(ei.value)
    for f in mnist.SHA256:
        assert f in msg
    assert "NABI_DATASETS" in msg
    assert os.path.join(str(tmp_path / "nabi_home"), "datasets", "mnist") in msg
    assert "network disabled in tests" in msg
    # with path=, the message names that directory; partial sets name only the missing files
    _write_set(tmp_path / "part", gz=True)
    os.remove(tmp_path / "part" / "t10k-labels-idx1-ubyte.gz")
    with pytest.raises(_idx.DatasetNotFoundError, match="t10k-labels-idx1-ubyte.gz") as ei:
        mnist.load_data(path=str(tmp_path / "part"))
    assert str(tmp_path / "part") in str(ei.value)
    assert "train-images" not in str(ei.value).split("Looked in")[0]


def test_download_is_verified_and_cached(tmp_path, monkeypatch):
    """The injectable downloader: a good file lands in the cache, a corrupt one is rejected."""
    ref = _write_set(tmp_path / "src", gz=True, seed=7)
    digests = {f + ".gz": hashlib.sha256(_idx_bytes(ref[f])).hexdigest() for f in ref}
    calls = []

    def fake_download(url, dest, timeout=60):
        calls.append(url)
        name = url.rsplit("/", 1)[1]
        with open(tmp_path / "src" / name, "rb") as s, open(dest, "wb") as d:
            d.write(s.read())
    monkeypatch.setattr(_fetch, "_download", fake_download)
    monkeypatch.setattr(mnist, "SHA256", digests)
    monkeypatch.delenv("NABI_DATASETS", raising=False)
    (x, _), _ = mnist.load_data()
    np.testing.assert_array_equal(x, ref["train-images-idx3-ubyte"])
    assert len(calls) == 4 and calls[0].startswith(mnist.MIRRORS[0])
    assert sorted(os.listdir(tmp_path / "nabi_home" / "datasets" / "mnist")) == sorted(digests)
    mnist.load_data()        # now from the cache: no new download
    assert len(calls) == 4
    # a file whose checksum is wrong is never kept; every mirror is tried
    bad = dict(digests)
    bad["train-labels-idx1-ubyte.gz"] = "0" * 64
    monkeypatch.setattr(mnist, "SHA256", bad)
    monkeypatch.setenv("NABI_HOME", str(tmp_path / "other_home"))
    calls.clear()
    with pytest.raises(_idx.DatasetNotFoundError, match="sha256"):
        mnist.load_data()
    assert sum("train-labels" in c for c in calls) == len(mnist.MIRRORS)
    left = os.listdir(tmp_path / "other_home" / "datasets" / "mnist")
    assert "train-labels-idx1-ubyte.gz" not in left and not any(f.endswith(".part") for f in left)


# --------------------------------------------------------------------------------------------
# The real MNIST

@needs_mnist
def test_mnist_from_env():
    (x, y), (xt, yt) = mnist.load_data()
    assert x.shape == (60000, 28, 28) and y.shape == (60000,)
    assert xt.shape == (10000, 28, 28) and yt.shape == (10000,)
    assert x.dtype == y.dtype == xt.dtype == yt.dtype == np.uint8
    np.testing.assert_array_equal(y[:5], [5, 0, 4, 1, 9])
    np.testing.assert_array_equal(yt[:5], [7, 2, 1, 0, 4])
    assert x.max() == 255 and x.min() == 0
    assert int(x[0].astype(np.int64).sum()) == 27525
    np.testing.assert_array_equal(np.bincount(y, minlength=10),
                                  [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949])
    # the arrays are the files' exact content: header + data hash to the published digests
    for arr, fname, magic in ((x, "train-images-idx3-ubyte.gz", 2051),
                              (y, "train-labels-idx1-ubyte.gz", 2049),
                              (xt, "t10k-images-idx3-ubyte.gz", 2051),
                              (yt, "t10k-labels-idx1-ubyte.gz", 2049)):
        assert hashlib.sha256(_idx_bytes(arr, magic)).hexdigest() == mnist.SHA256[fname]
        assert _idx.sha256_uncompressed(os.path.join(MNIST_DIR, fname)) == mnist.SHA256[fname]


# --------------------------------------------------------------------------------------------
# Iris

def test_iris():
    (x, y), (xt, yt) = iris.load_data()
    assert x.shape == (120, 4) and y.shape == (120,) and xt.shape == (30, 4) and yt.shape == (30,)
    assert x.dtype == np.float32 and xt.dtype == np.float32
    assert np.issubdtype(y.dtype, np.integer)
    assert set(np.unique(y)) == {0, 1, 2} and set(np.unique(yt)) <= {0, 1, 2}
    np.testing.assert_allclose(xt[0], [5.9, 3.0, 4.2, 1.5], rtol=1e-6)
    assert yt[0] == 1
    assert 4.0 < x[:, 0].min() and x[:, 0].max() < 8.0
    # setosa has the shortest petals
    assert x[y == 0, 2].max() < x[y != 0, 2].min()


def test_iris_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="iris_training.csv"):
        iris.load_data(path=str(tmp_path))
    (tmp_path / "iris_training.csv").write_text("2,4,a,b,c\n1,2,3,4,0\n5,6,7,8,2\n")
    (tmp_path / "iris_test.csv").write_text("1,4,a,b,c\n1.5,2,3,4,1\n")
    (x, y), (xt, yt) = iris.load_data(path=str(tmp_path))
    np.testing.assert_array_equal(y, [0, 2])
    np.testing.assert_allclose(xt, [[1.5, 2, 3, 4]])


def test_iris_csvs_are_package_data():
    d = os.path.join(os.path.dirname(iris.__file__), "data")
    assert sorted(f for f in os.listdir(d) if f.endswith(".csv")) == ["iris_test.csv",
                                                                       "iris_training.csv"]


# --------------------------------------------------------------------------------------------
# TF1 read_data_sets

def test_read_data_sets_synthetic(tmp_path):
    ref = _write_set(tmp_path / "d", n_train=50, n_test=8, rows=2, cols=3, seed=11)
    ds = input_data.read_data_sets(str(tmp_path / "d"), validation_size=10, seed=5)
    assert ds.train.num_examples == 40 and ds.validation.num_examples == 10
    assert ds.test.num_examples == 8
    assert ds.train.images.shape == (40, 6) and ds.train.images.dtype == np.float32
    # as in TF: validation is the first `validation_size` training images, train the rest
    np.testing.assert_allclose(ds.validation.images,
                               ref["train-images-idx3-ubyte"][:10].reshape(10, 6) / 255.0,
                               rtol=1e-6)
    np.testing.assert_array_equal(ds.train.labels, ref["train-labels-idx1-ubyte"][10:])
    oh = input_data.read_data_sets(str(tmp_path / "d"), one_hot=True, validation_size=10,
                                   dtype=np.uint8, reshape=False)
    assert oh.train.labels.shape == (40, 10)
    np.testing.assert_array_equal(oh.train.labels.argmax(1), ref["train-labels-idx1-ubyte"][10:])
    assert oh.train.images.dtype == np.uint8 and oh.train.images.shape == (40, 2, 3, 1)
    with pytest.raises(ValueError, match="Validation size"):
        input_data.read_data_sets(str(tmp_path / "d"), validation_size=51)


def test_next_batch_wraparound_and_reshuffle(tmp_path):
    images = np.arange(10, dtype=np.uint8).reshape(10, 1, 1, 1)
    labels = np.arange(10, dtype=np.uint8)
    ds = input_data.DataSet(images, labels, dtype=np.uint8, seed=3)
    seen = []
    for _ in range(3):
        x, y = ds.next_batch(3)
        np.testing.assert_array_equal(x.ravel(), y)
        seen.extend(y.tolist())
    assert ds.epochs_completed == 0 and len(set(seen)) == 9
    first_perm = seen
    x, y = ds.next_batch(3)          # 1 left from epoch 1, 2 from the reshuffled epoch 2
    assert ds.epochs_completed == 1 and len(y) == 3
    assert y[0] not in seen                   # the one example epoch 1 had not shown yet
    assert set(first_perm) | {int(y[0])} == set(range(10))
    epoch2 = y[1:].tolist()
    for _ in range(2):
        epoch2 += ds.next_batch(3)[1].tolist()
    assert len(epoch2) == 8 and len(set(epoch2)) == 8
    # determinism: the same seed gives the same sequence of batches; TF's algorithm exactly
    ds2 = input_data.DataSet(images, labels, dtype=np.uint8, seed=3)
    got = np.concatenate([ds2.next_batch(3)[1] for _ in range(6)])
    np.random.seed(3)
    p0 = np.arange(10)
    np.random.shuffle(p0)
    p1 = np.arange(10)
    np.random.shuffle(p1)
    expect = np.concatenate([p0[:9], p0[9:], labels[p0][p1][:2], labels[p0][p1][2:8]])
    np.testing.assert_array_equal(got, expect)
    # shuffle=False walks in order and wraps
    ds3 = input_data.DataSet(images, labels, dtype=np.uint8)
    np.testing.assert_array_equal(ds3.next_batch(4, shuffle=False)[1], [0, 1, 2, 3])
    ds3.next_batch(4, shuffle=False)
    np.testing.assert_array_equal(ds3.next_batch(4, shuffle=False)[1], [8, 9, 0, 1])
    fi, fl = input_data.DataSet([], [], fake_data=True, one_hot=True).next_batch(2, fake_data=True)
    assert len(fi) == 2 and len(fi[0]) == 784 and fl[0] == [1] + [0] * 9


def test_read_data_sets_offline(tmp_path):
    with pytest.raises(OSError, match="train-images-idx3-ubyte.gz"):
        input_data.read_data_sets(str(tmp_path / "MNIST_data"))


@needs_mnist
def test_read_data_sets_real():
    ds = input_data.read_data_sets(MNIST_DIR, one_hot=True, seed=1)
    assert ds.train.num_examples == 55000 and ds.validation.num_examples == 5000
    assert ds.test.num_examples == 10000
    assert ds.train.images.shape == (55000, 784) and ds.train.labels.shape == (55000, 10)
    assert ds.train.images.dtype == np.float32
    assert 0.0 == ds.train.images.min() and ds.train.images.max() == 1.0
    np.testing.assert_array_equal(ds.validation.labels[:5].argmax(1), [5, 0, 4, 1, 9])
    x, y = ds.train.next_batch(100)
    assert x.shape == (100, 784) and y.shape == (100, 10)
