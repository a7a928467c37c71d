"""keras.datasets cifar10, cifar100, imdb, reuters, boston_housing on tiny synthetic files in the
real on-disk formats (pickled CIFAR batches in a tar.gz or a directory, npz files of object
arrays, word-index JSON). Expected values are worked out in the tests with NumPy or by hand.
No test reaches the network: the downloader and urlopen are replaced by ones that fail."""
import hashlib
import io
import json
import os
import pickle
import tarfile
import urllib.request

import numpy as np
import pytest

from nabi.keras import backend
from nabi.keras.datasets import (_fetch, boston_housing, cifar10, cifar100, imdb, reuters,
                                 DatasetNotFoundError)


@pytest.fixture(autouse=True)
def offline_and_empty_caches(monkeypatch, tmp_path):
    """Downloads fail as if offline; HOME (so ~/.keras), NABI_HOME and NABI_DATASETS point at
    empty temporary directories."""
    def offline(url, dest, timeout=60):
        raise OSError(f"network disabled in tests ({url})")

    def no_urlopen(*args, **kwargs):
        raise OSError("urlopen disabled in tests")
    monkeypatch.setattr(_fetch, "_download", offline)
    monkeypatch.setattr(urllib.request, "urlopen", no_urlopen)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("KERAS_HOME", raising=False)
    monkeypatch.setenv("NABI_HOME", str(tmp_path / "nabi_home"))
    monkeypatch.setenv("NABI_DATASETS", str(tmp_path / "root"))


def _root(tmp_path, *parts):
    d = tmp_path.joinpath("root", *parts)
    d.mkdir(parents=True, exist_ok=True)
    return d


# --------------------------------------------------------------------------------------------
# CIFAR: pickled batches (protocol 2, bytes keys) as the Toronto archives hold them

def _batch(rng, n, label_keys, n_classes=10):
    data = rng.integers(0, 256, (n, 3072)).astype(np.uint8)
    d = {b"batch_label": b"synthetic", b"data": data,
         b"filenames": [b"img%d.png" % i for i in range(n)]}
    labels = {}
    for key, k in label_keys:
        labels[key] = [int(v) for v in rng.integers(0, k, n)]
        d[key.encode()] = labels[key]
    return pickle.dumps(d, protocol=2), data, labels


def _cifar10_files(seed=0, train_sizes=(2, 1, 3, 1, 2), n_test=3):
    rng = np.random.default_rng(seed)
    files, datas, labels = {}, [], []
    for i, n in enumerate(train_sizes, 1):
        raw, data, lab = _batch(rng, n, [("labels", 10)])
        files[f"data_batch_{i}"] = raw
        datas.append(data)
        labels += lab["labels"]
    raw, test_data, test_lab = _batch(rng, n_test, [("labels", 10)])
    files["test_batch"] = raw
    files["batches.meta"] = pickle.dumps({b"label_names": [b"airplane"]}, protocol=2)
    return files, (np.concatenate(datas), labels), (test_data, test_lab["labels"])


def _write_tar(path, top, files):
    with tarfile.open(path, "w:gz") as tar:
        for name, raw in files.items():
            info = tarfile.TarInfo(f"{top}/{name}")
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))


def _write_dir(d, files):
    d.mkdir(parents=True, exist_ok=True)
    for name, raw in files.items():
        (d / name).write_bytes(raw)


def _hwc(data):
    """Row n of `data` holds 1024 red, 1024 green, 1024 blue values, each row-major 32x32:
    pixel (h, w) channel c sits at c*1024 + h*32 + w."""
    n = np.arange(data.shape[0])[:, None, None, None]
    h = np.arange(32)[None, :, None, None]
    w = np.arange(32)[None, None, :, None]
    c = np.arange(3)[None, None, None, :]
    return data[n, c * 1024 + h * 32 + w]


def _check_cifar10(got, train, test):
    (x, y), (xt, yt) = got
    assert x.shape == (len(train[1]), 32, 32, 3) and x.dtype == np.uint8
    assert y.shape == (len(train[1]), 1) and y.dtype == np.uint8
    assert xt.shape == (len(test[1]), 32, 32, 3) and xt.dtype == np.uint8
    assert yt.shape == (len(test[1]), 1) and yt.dtype == np.uint8
    np.testing.assert_array_equal(x, _hwc(train[0]))
    np.testing.assert_array_equal(xt, _hwc(test[0]))
    np.testing.assert_array_equal(y[:, 0], train[1])
    np.testing.assert_array_equal(yt[:, 0], test[1])


def test_cifar10_from_archive(tmp_path):
    files, train, test = _cifar10_files()
    _write_tar(_root(tmp_path, "cifar10") / "cifar-10-python.tar.gz", "cifar-10-batches-py",
               files)
    got = cifar10.load_data()
    _check_cifar10(got, train, test)
    assert got[0][0].flags.c_contiguous
    # one pixel worked by hand: image 4 (the first of data_batch_3), row 2, column 5, blue
    assert got[0][0][3, 2, 5, 2] == train[0][3, 2 * 1024 + 2 * 32 + 5]


def test_cifar10_extracted_dirs_and_keras_cache(tmp_path, monkeypatch):
    files, train, test = _cifar10_files(seed=1)
    _write_dir(_root(tmp_path) / "cifar-10-batches-py", files)        # directly in $NABI_DATASETS
    _check_cifar10(cifar10.load_data(), train, test)
    # Keras's own cache, ~/.keras/datasets/cifar-10-batches-py, when NABI_DATASETS has nothing
    files2, train2, test2 = _cifar10_files(seed=2, train_sizes=(1, 1, 1, 1, 1), n_test=1)
    _write_dir(tmp_path / "home" / ".keras" / "datasets" / "cifar-10-batches-py", files2)
    monkeypatch.setenv("NABI_DATASETS", str(tmp_path / "empty"))
    _check_cifar10(cifar10.load_data(), train2, test2)
    # `path=` names an archive or a directory explicitly
    _write_tar(tmp_path / "c.tar.gz", "cifar-10-batches-py", files)
    _check_cifar10(cifar10.load_data(path=str(tmp_path / "c.tar.gz")), train, test)
    with pytest.raises(DatasetNotFoundError, match="cifar10.*nope"):
        cifar10.load_data(path=str(tmp_path / "nope"))


def test_cifar10_channels_first(tmp_path):
    files, train, test = _cifar10_files(seed=3)
    _write_dir(_root(tmp_path, "cifar10") / "cifar-10-batches-py", files)
    old = backend.image_data_format()
    backend.set_image_data_format("channels_first")
    try:
        (x, _), (xt, _) = cifar10.load_data()
    finally:
        backend.set_image_data_format(old)
    assert x.shape == (len(train[1]), 3, 32, 32)
    np.testing.assert_array_equal(x, train[0].reshape(-1, 3, 32, 32))
    np.testing.assert_array_equal(xt[1, 1, 31, 0], test[0][1, 1024 + 31 * 32])


def test_cifar_bad_files(tmp_path):
    files, _, _ = _cifar10_files(seed=4)
    d = _root(tmp_path, "cifar10") / "cifar-10-batches-py"
    _write_dir(d, files)
    good = files["data_batch_4"]
    os.remove(d / "data_batch_4")
    with pytest.raises(ValueError, match=r"cifar10.*data_batch_4"):
        cifar10.load_data()
    files["data_batch_4"] = pickle.dumps({b"data": np.zeros((2, 100), np.uint8),
                                          b"labels": [0, 1]}, protocol=2)
    _write_dir(d, files)
    with pytest.raises(ValueError, match=r"data_batch_4.*\(N, 3072\) uint8.*\(2, 100\)"):
        cifar10.load_data()
    files["data_batch_4"] = pickle.dumps({b"data": np.zeros((2, 3072), np.uint8),
                                          b"labels": [0]}, protocol=2)
    _write_dir(d, files)
    with pytest.raises(ValueError, match=r"data_batch_4: 2 images but 1 labels"):
        cifar10.load_data()
    (d / "data_batch_4").write_bytes(good)
    (d / "test_batch").write_bytes(b"not a pickle")
    with pytest.raises(ValueError, match=r"test_batch is not a CIFAR python batch"):
        cifar10.load_data()


def _cifar100_files(seed=0, n_train=4, n_test=3):
    rng = np.random.default_rng(seed)
    keys = [("fine_labels", 100), ("coarse_labels", 20)]
    raw_tr, data_tr, lab_tr = _batch(rng, n_train, keys)
    raw_te, data_te, lab_te = _batch(rng, n_test, keys)
    files = {"train": raw_tr, "test": raw_te, "meta": pickle.dumps({b"fine_label_names": []})}
    return files, (data_tr, lab_tr), (data_te, lab_te)


@pytest.mark.parametrize("archive", [True, False])
def test_cifar100_fine_and_coarse(tmp_path, archive):
    files, (dtr, ltr), (dte, lte) = _cifar100_files(seed=5)
    if archive:
        _write_tar(_root(tmp_path, "cifar100") / "cifar-100-python.tar.gz", "cifar-100-python",
                   files)
    else:
        _write_dir(_root(tmp_path, "cifar100") / "cifar-100-python", files)
    for mode in ("fine", "coarse"):
        (x, y), (xt, yt) = cifar100.load_data(label_mode=mode)
        assert x.shape == (4, 32, 32, 3) and x.dtype == np.uint8 and xt.shape == (3, 32, 32, 3)
        # Keras returns the int64 array np.reshape makes of the pickled label list
        assert y.shape == (4, 1) and y.dtype == np.int64 and yt.shape == (3, 1)
        np.testing.assert_array_equal(x, _hwc(dtr))
        np.testing.assert_array_equal(xt, _hwc(dte))
        np.testing.assert_array_equal(y[:, 0], ltr[mode + "_labels"])
        np.testing.assert_array_equal(yt[:, 0], lte[mode + "_labels"])
    with pytest.raises(ValueError, match=r"cifar100.*label_mode.*'medium'"):
        cifar100.load_data(label_mode="medium")


# --------------------------------------------------------------------------------------------
# IMDB

def _object_array(seqs):
    out = np.empty(len(seqs), dtype=object)
    out[:] = [list(s) for s in seqs]
    return out


IMDB_TRAIN = [[1, 2, 3], [4, 5], [6, 1, 1, 2], [7]]
IMDB_TRAIN_Y = [0, 1, 1, 0]
IMDB_TEST = [[2, 2], [3, 8, 1]]
IMDB_TEST_Y = [1, 0]


def _write_imdb(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, x_train=_object_array(IMDB_TRAIN), y_train=np.array(IMDB_TRAIN_Y, np.int64),
             x_test=_object_array(IMDB_TEST), y_test=np.array(IMDB_TEST_Y, np.int64))


def _perm(n, rng):
    p = np.arange(n)
    rng.shuffle(p)
    return p


def _expect(processed, labels, perm):
    """`processed[i]`: sequence i after the transformation (None if dropped), in file order."""
    keep = [i for i in perm if processed[i] is not None]
    return [processed[i] for i in keep], [labels[i] for i in keep]


def _check_seqs(x, y, seqs, labels):
    assert isinstance(x, np.ndarray) and x.dtype == object and x.shape == (len(seqs),)
    assert [list(s) for s in x] == seqs
    assert all(type(w) is int for s in x for w in s)
    assert y.dtype == np.int64 and y.shape == (len(labels),)
    np.testing.assert_array_equal(y, labels)


def test_imdb_defaults(tmp_path):
    _write_imdb(_root(tmp_path, "imdb") / "imdb.npz")
    (x, y), (xt, yt) = imdb.load_data()
    # the train and test splits are shuffled by successive draws of one RandomState(113)
    rng = np.random.RandomState(113)
    p_train, p_test = _perm(4, rng), _perm(2, rng)
    # start_char 1, indices + 3; num_words=None means the largest index (11), which Keras's
    # `w < num_words` then turns into the OOV mark 2
    train = [[1, 4, 5, 6], [1, 7, 8], [1, 9, 4, 4, 5], [1, 10]]
    test = [[1, 5, 5], [1, 6, 2, 4]]
    _check_seqs(x, y, *_expect(train, IMDB_TRAIN_Y, p_train))
    _check_seqs(xt, yt, *_expect(test, IMDB_TEST_Y, p_test))


def test_imdb_num_words_skip_top_maxlen(tmp_path):
    _write_imdb(_root(tmp_path) / "imdb.npz")                      # directly in $NABI_DATASETS
    (x, y), (xt, yt) = imdb.load_data(num_words=9, skip_top=2, maxlen=4, seed=7)
    rng = np.random.RandomState(7)
    p_train, p_test = _perm(4, rng), _perm(2, rng)
    # shifted: [1,4,5,6] (length 4, not < maxlen: dropped), [1,7,8], [1,9,4,4,5] (dropped),
    # [1,10]; kept indices in [2, 9), the rest -> 2
    train = [None, [2, 7, 8], None, [2, 2]]
    test = [[2, 5, 5], None]                                      # [1,6,11,4] dropped
    _check_seqs(x, y, *_expect(train, IMDB_TRAIN_Y, p_train))
    _check_seqs(xt, yt, *_expect(test, IMDB_TEST_Y, p_test))
    # oov_char=None drops the words instead; no start mark and index_from=0 keep raw indices
    (x, _), (xt, _) = imdb.load_data(num_words=5, skip_top=2, oov_char=None, start_char=None,
                                     index_from=0, seed=7)
    rng = np.random.RandomState(7)
    p_train, p_test = _perm(4, rng), _perm(2, rng)
    train = [[2, 3], [4], [2], []]
    test = [[2, 2], [3]]
    assert [list(s) for s in x] == [train[i] for i in p_train]
    assert [list(s) for s in xt] == [test[i] for i in p_test]


def test_imdb_errors_and_paths(tmp_path):
    _write_imdb(tmp_path / "elsewhere" / "mine.npz")
    (x, _), _ = imdb.load_data(path=str(tmp_path / "elsewhere" / "mine.npz"), seed=1)
    assert len(x) == 4
    _write_imdb(_root(tmp_path, "imdb") / "imdb_v2.npz")             # a bare name is searched
    (x2, _), _ = imdb.load_data(path="imdb_v2.npz", seed=1)
    assert [list(s) for s in x2] == [list(s) for s in x]
    with pytest.raises(ValueError, match=r"imdb.*maxlen=2.*no sequence was kept"):
        imdb.load_data(path="imdb_v2.npz", maxlen=2)
    with pytest.raises(TypeError, match=r"imdb.*unrecognized keyword arguments.*num_word"):
        imdb.load_data(path="imdb_v2.npz", num_word=10)
    with pytest.warns(UserWarning, match="nb_words"):
        (x3, _), _ = imdb.load_data(path="imdb_v2.npz", nb_words=6, seed=1)
    assert max(max(s) for s in x3) <= 5


def test_word_indices(tmp_path):
    (_root(tmp_path, "imdb") / "imdb_word_index.json").write_text(
        json.dumps({"the": 1, "and": 2, "film": 3}))
    assert imdb.get_word_index() == {"the": 1, "and": 2, "film": 3}
    (_root(tmp_path) / "reuters_word_index.json").write_text(json.dumps({"said": 1, "mln": 2}))
    assert reuters.get_word_index() == {"said": 1, "mln": 2}
    names = reuters.get_label_names()
    assert isinstance(names, tuple) and len(names) == 46 and len(set(names)) == 46
    assert names[:5] == ("cocoa", "grain", "veg-oil", "earn", "acq") and names[-1] == "lead"


# --------------------------------------------------------------------------------------------
# Reuters

REUTERS_X = [[1, 2], [3], [4, 5, 6], [2, 2, 2, 2], [7, 1], [5], [6, 6, 1]]
REUTERS_Y = [3, 4, 3, 19, 1, 3, 45]


def test_reuters(tmp_path):
    np.savez(_root(tmp_path, "reuters") / "reuters.npz", x=_object_array(REUTERS_X),
             y=np.array(REUTERS_Y, np.int64))
    (x, y), (xt, yt) = reuters.load_data(test_split=0.3)
    # one shuffle of all 7 newswires, then the first int(7 * 0.7) = 4 for training
    perm = _perm(7, np.random.RandomState(113))
    shifted = [[1, 4, 5], [1, 6], [1, 7, 8, 9], [1, 5, 5, 5, 5], [1, 2, 4], [1, 8],
               [1, 9, 9, 4]]                       # the max index, 7 + 3, became the OOV mark 2
    seqs, labels = _expect(shifted, REUTERS_Y, perm)
    _check_seqs(x, y, seqs[:4], labels[:4])
    _check_seqs(xt, yt, seqs[4:], labels[4:])
    # maxlen filters before the split: int(len(kept) * 0.8) of the kept ones train
    (x, y), (xt, yt) = reuters.load_data(maxlen=4, num_words=8, skip_top=4, seed=5)
    perm = _perm(7, np.random.RandomState(5))
    processed = [[2, 4, 5], [2, 6], None, None, [2, 2, 4], [2, 2], None]
    seqs, labels = _expect(processed, REUTERS_Y, perm)
    n = int(len(seqs) * 0.8)
    _check_seqs(x, y, seqs[:n], labels[:n])
    _check_seqs(xt, yt, seqs[n:], labels[n:])


# --------------------------------------------------------------------------------------------
# Boston housing

def test_boston_housing(tmp_path):
    rng = np.random.default_rng(9)
    xs = rng.normal(size=(9, 13))
    ys = rng.uniform(5, 50, 9)
    np.savez(_root(tmp_path, "boston_housing") / "boston_housing.npz", x=xs, y=ys)
    (x, y), (xt, yt) = boston_housing.load_data()
    perm = _perm(9, np.random.RandomState(113))
    assert x.shape == (7, 13) and xt.shape == (2, 13) and y.shape == (7,) and yt.shape == (2,)
    assert x.dtype == y.dtype == np.float64
    np.testing.assert_array_equal(x, xs[perm[:7]])
    np.testing.assert_array_equal(y, ys[perm[:7]])
    np.testing.assert_array_equal(xt, xs[perm[7:]])
    np.testing.assert_array_equal(yt, ys[perm[7:]])
    (x, _), (xt, _) = boston_housing.load_data(test_split=0.0, seed=2)
    np.testing.assert_array_equal(x, xs[_perm(9, np.random.RandomState(2))])
    assert xt.shape == (0, 13)
    with pytest.raises(ValueError, match=r"boston_housing.*test_split.*1"):
        boston_housing.load_data(test_split=1)


# --------------------------------------------------------------------------------------------
# Nothing local and offline; downloads

LOADERS = [
    ("cifar10", cifar10.load_data, "cifar-10-python.tar.gz"),
    ("cifar100", cifar100.load_data, "cifar-100-python.tar.gz"),
    ("imdb", imdb.load_data, "imdb.npz"),
    ("imdb", imdb.get_word_index, "imdb_word_index.json"),
    ("reuters", reuters.load_data, "reuters.npz"),
    ("reuters", reuters.get_word_index, "reuters_word_index.json"),
    ("boston_housing", boston_housing.load_data, "boston_housing.npz"),
]


@pytest.mark.parametrize("name,load,fname", LOADERS, ids=[f"{n}-{f}" for n, _, f in LOADERS])
def test_offline_error_names_dataset_env_var_and_paths(tmp_path, name, load, fname):
    with pytest.raises(DatasetNotFoundError) as ei:
        load()
    msg = str(ei.value)
    assert isinstance(ei.value, OSError)
    assert f"[datasets.{name}]" in msg and "NABI_DATASETS" in msg and fname in msg
    for d in (str(tmp_path / "root" / name), str(tmp_path / "root"),
              str(tmp_path / "home" / ".keras" / "datasets"),
              str(tmp_path / "nabi_home" / "datasets" / name)):
        assert os.path.join(d, fname) in msg
    assert "network disabled in tests" in msg
    assert "https://" in msg and fname in msg.split("Downloading ")[1]
    assert not os.path.exists(tmp_path / "nabi_home" / "datasets" / name / fname)


def test_download_checked_and_cached(tmp_path, monkeypatch):
    src = tmp_path / "server" / "boston_housing.npz"
    src.parent.mkdir()
    np.savez(src, x=np.arange(26.0).reshape(2, 13), y=np.array([1.0, 2.0]))
    calls = []

    def fake(url, dest, timeout=60):
        calls.append(url)
        with open(src, "rb") as s, open(dest, "wb") as d:
            d.write(s.read())
    monkeypatch.setattr(_fetch, "_download", fake)
    # the published digest does not match the synthetic file: rejected, nothing kept
    with pytest.raises(DatasetNotFoundError, match="sha256 of boston_housing.npz"):
        boston_housing.load_data()
    assert calls == [boston_housing.URL]
    cache = tmp_path / "nabi_home" / "datasets" / "boston_housing"
    assert os.listdir(cache) == []
    monkeypatch.setattr(boston_housing, "SHA256", hashlib.sha256(src.read_bytes()).hexdigest())
    (x, y), (xt, yt) = boston_housing.load_data(test_split=0.5)
    assert os.listdir(cache) == ["boston_housing.npz"] and len(calls) == 2
    assert x.shape == (1, 13) and xt.shape == (1, 13)
    boston_housing.load_data()                             # from the cache now
    assert len(calls) == 2


def test_cifar10_download_read_from_archive(tmp_path, monkeypatch):
    files, train, test = _cifar10_files(seed=8, train_sizes=(1, 1, 1, 1, 1), n_test=1)
    src = tmp_path / "server.tar.gz"
    _write_tar(src, "cifar-10-batches-py", files)

    def fake(url, dest, timeout=60):
        assert url == "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
        with open(src, "rb") as s, open(dest, "wb") as d:
            d.write(s.read())
    monkeypatch.setattr(_fetch, "_download", fake)
    monkeypatch.setattr(cifar10, "SHA256", hashlib.sha256(src.read_bytes()).hexdigest())
    _check_cifar10(cifar10.load_data(), train, test)
    assert os.path.isfile(tmp_path / "nabi_home" / "datasets" / "cifar10" /
                          "cifar-10-python.tar.gz")
